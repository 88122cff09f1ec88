//! `warren proxy …` subcommands: parse, call the library, print.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::daemon::{self, ProxyStatus};
use crate::settings::ProxySettings;

/// `warren proxy [serve|status|stop]`.
#[derive(Debug, clap::Args)]
pub struct ProxyArgs {
    #[command(subcommand)]
    pub command: Option<ProxyCommand>,
}

#[derive(Debug, clap::Subcommand)]
pub enum ProxyCommand {
    /// Run the proxy in the foreground (environments start it in the background by themselves).
    Serve,
    /// Show whether the proxy runs, where, and its routes (the default).
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop the running proxy.
    Stop {
        /// Seconds to wait for it to exit.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
    },
}

/// What the CLI hands to proxy commands.
#[derive(Debug, Clone)]
pub struct Context {
    pub root: PathBuf,
    pub json: bool,
}

/// Runs a `warren proxy` subcommand. Library failures come back as
/// [`crate::ProxyError`] inside the `anyhow::Error` (it has a `hint()`).
pub fn run(args: ProxyArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    let settings = ProxySettings::from_env()?;
    match args.command.unwrap_or(ProxyCommand::Status { json: false }) {
        ProxyCommand::Serve => {
            crate::serve(&ctx.root, &settings)?;
        }
        ProxyCommand::Status { json } => {
            let status = daemon::status(&ctx.root, &settings)?;
            if json || ctx.json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print_status(&status);
            }
        }
        ProxyCommand::Stop { timeout } => {
            match daemon::stop(&ctx.root, Duration::from_secs(timeout))? {
                Some(info) => eprintln!("stopped the proxy (pid {}, port {})", info.pid, info.port),
                None => eprintln!("no proxy is running"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_status(s: &ProxyStatus) {
    match (&s.running, s.starting) {
        (Some(info), _) => println!(
            "proxy: running, pid {}, http://{}, up {}",
            info.pid,
            std::net::SocketAddr::new(info.bind, info.port),
            uptime(info.uptime_seconds())
        ),
        (None, true) => println!("proxy: starting"),
        (None, false) => match &s.stale {
            Some(stale) => println!(
                "proxy: not running (pid {} died without cleaning up; the next start replaces its lock)",
                stale.pid
            ),
            None => println!("proxy: not running"),
        },
    }
    if s.routes.is_empty() {
        println!("routes: none");
        return;
    }
    println!("routes:");
    let width = s.routes.iter().map(|r| r.url.len()).max().unwrap_or(0);
    for r in &s.routes {
        println!("  {:width$}  -> {}", r.url, r.target);
        if let Some(default) = &r.default_url {
            println!("  {default:width$}  (default service of {})", r.env);
        }
    }
}

fn uptime(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}
