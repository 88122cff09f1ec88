//! One module per subcommand; [`dispatch`] wires parsed arguments to them.
//! Commands parse, call one service and print; the work happens in the
//! library crates.

mod agent;
mod apply;
mod checkpoint;
mod cmd;
mod completions;
mod conflicts;
mod diff;
mod doctor;
mod events;
mod exec;
mod land;
mod logs;
mod ls;
mod net;
mod new;
mod proxy;
mod restart;
mod rm;
mod run;
mod session;
mod start;
mod stop;
mod task;
mod task_history;
mod validate;

use std::cell::OnceCell;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use warren_config::Settings;
use warren_env::{HostEnv, Warren};

use crate::cli::{Cli, Command};
use crate::output::CliReporter;

/// An error the CLI itself found (a bad flag value), with what to do.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct UserError {
    pub message: String,
    pub hint: Option<String>,
}

impl UserError {
    pub fn msg(message: impl Into<String>, hint: Option<String>) -> anyhow::Error {
        anyhow::Error::new(UserError {
            message: message.into(),
            hint,
        })
    }
}

impl warren_core::Hint for UserError {
    fn hint(&self) -> Option<String> {
        self.hint.clone()
    }
}

/// `--runtime` as given (docker, sandbox, host, …), with the error a user can act on.
pub fn runtime_flag(value: Option<&str>) -> anyhow::Result<Option<warren_config::RuntimeChoice>> {
    value
        .map(|r| {
            r.parse().map_err(|e: String| {
                UserError::msg(
                    e,
                    Some("use `--runtime docker`, `--runtime sandbox` or `--runtime host`".into()),
                )
            })
        })
        .transpose()
}

/// `--network` as given (isolated, open, none, host).
pub fn network_flag(value: Option<&str>) -> anyhow::Result<Option<warren_core::NetworkMode>> {
    value
        .map(|n| {
            warren_core::NetworkMode::parse(n).ok_or_else(|| {
                UserError::msg(
                    format!("unknown network mode `{n}`"),
                    Some("use `--network isolated`, `open`, `none` or `host`".into()),
                )
            })
        })
        .transpose()
}

/// What every command gets: this process's environment, and the settings
/// read from it (once, on first use).
pub struct Ctx {
    pub host: HostEnv,
    pub verbose: bool,
    settings: OnceCell<Settings>,
    reporter: OnceCell<Arc<CliReporter>>,
}

impl Ctx {
    /// `WARREN_*` and `config.yaml`, read once per command.
    pub fn settings(&self) -> anyhow::Result<&Settings> {
        if let Some(s) = self.settings.get() {
            return Ok(s);
        }
        let cwd = std::env::current_dir()
            .map_err(|e| anyhow::anyhow!("cannot read the current directory: {e}"))?;
        let lookup = |k: &str| self.host.get(k).map(str::to_string);
        let settings = Settings::load(&lookup, self.host.home().as_deref(), &cwd)?;
        for w in &settings.warnings {
            let p = crate::output::printer();
            p.err_line(&w.render(p.color(crate::output::Stream::Err)));
        }
        Ok(self.settings.get_or_init(|| settings))
    }

    /// The warren root.
    pub fn root(&self) -> anyhow::Result<PathBuf> {
        Ok(self.settings()?.root.clone())
    }

    /// The progress reporter of this command.
    pub fn reporter(&self) -> &Arc<CliReporter> {
        self.reporter
            .get_or_init(|| Arc::new(CliReporter::new(self.host.home())))
    }

    /// The environment service.
    pub fn warren(&self) -> anyhow::Result<Warren> {
        let reporter: Arc<dyn warren_env::reporter::Reporter> = self.reporter().clone();
        Ok(Warren::open(
            self.settings()?.clone(),
            self.host.clone(),
            reporter,
        )?)
    }

    /// A single-threaded async runtime: commands are short and sequential,
    /// and worker threads would only add latency.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> anyhow::Result<F::Output> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
        Ok(rt.block_on(f))
    }

    /// Logs of a long-running server (`proxy serve`, `agent serve`) to
    /// stderr, each line stamped with its RFC 3339 time.
    pub fn init_server_log(&self) -> anyhow::Result<()> {
        let default = if self.verbose { "debug" } else { "info" };
        let filter = self.settings()?.log_filter.clone();
        init_tracing(filter.as_deref().unwrap_or(default), true);
        Ok(())
    }
}

pub fn dispatch(cli: Cli, host: HostEnv) -> anyhow::Result<ExitCode> {
    let ctx = Ctx {
        host,
        verbose: cli.global.verbose,
        settings: OnceCell::new(),
        reporter: OnceCell::new(),
    };
    let serves = matches!(
        &cli.command,
        Command::Proxy(crate::cli::ProxyArgs {
            command: Some(crate::cli::ProxyCommand::Serve)
        }) | Command::Agent(crate::cli::AgentArgs {
            command: crate::cli::AgentCommand::Serve(_)
        })
    );
    if cli.global.verbose && !serves {
        let filter = ctx.settings().ok().and_then(|s| s.log_filter.clone());
        init_tracing(filter.as_deref().unwrap_or("debug"), false);
    }
    match cli.command {
        Command::Run(args) => run::run(&ctx, args),
        Command::Ls(args) => ls::ls(&ctx, args),
        Command::Exec(args) => exec::exec(&ctx, args),
        Command::Stop(args) => stop::stop(&ctx, args),
        Command::Start(args) => start::start(&ctx, args),
        Command::Restart(args) => restart::restart(&ctx, args),
        Command::Rm(args) => rm::rm(&ctx, args),
        Command::Logs(args) => logs::logs(&ctx, args),
        Command::Doctor(args) => doctor::doctor(&ctx, args),
        Command::Net(args) => net::net(&ctx, args),
        Command::New(args) => new::new(&ctx, args),
        Command::Cmd(args) => cmd::cmd(&ctx, args),
        Command::Attach(args) => session::attach(&ctx, args),
        Command::Output(args) => session::output(&ctx, args),
        Command::Send(args) => session::send(&ctx, args),
        Command::Wait(args) => session::wait(&ctx, args),
        Command::Explain(args) => session::explain(&ctx, args),
        Command::Watch(args) => session::watch(&ctx, args),
        Command::Validate(args) => validate::validate(&ctx, args),
        Command::Proxy(args) => proxy::proxy(&ctx, args),
        Command::Agent(args) => agent::agent(&ctx, args),
        Command::Task(args) => match args.command {
            Some(sub) => task_history::task_history(&ctx, sub),
            None => task::task(&ctx, args),
        },
        Command::Events(args) => events::events(&ctx, args),
        Command::Diff(args) => diff::diff(&ctx, args),
        Command::Land(args) => land::land(&ctx, args),
        Command::Conflicts(args) => conflicts::conflicts(&ctx, args),
        Command::Apply(args) => apply::apply(&ctx, args),
        Command::Push(args) => apply::push(&ctx, args),
        Command::Checkpoint(args) => checkpoint::checkpoint(&ctx, args),
        Command::Checkpoints(args) => checkpoint::checkpoints(&ctx, args),
        Command::Rewind(args) => checkpoint::rewind(&ctx, args),
        Command::Fork(args) => checkpoint::fork(&ctx, args),
        Command::Completions(args) => completions::completions(args),
        Command::FillPool { path } => {
            warren_env::pool::run_when_idle();
            let root = ctx.root()?;
            let main = warren_env::git::Repo::at_checkout(&path);
            if let Some(head) = main.head_commit() {
                let pool = warren_env::pool::Pool::of(&root, &main);
                pool.fill(&main, &head, &root.join("trash"))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::WatchTrees { trees } => {
            let root = ctx.root()?;
            warren_env::review::feed::serve(&root, &trees)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `wanted`, unless `WARREN_CHANGE_FEED` turns the change feed off.
pub fn feed_mode(wanted: warren_env::FeedMode) -> warren_env::FeedMode {
    let var = std::env::var(warren_core::vars::WARREN_CHANGE_FEED).unwrap_or_default();
    match var.trim().to_ascii_lowercase().as_str() {
        "0" | "false" | "no" | "off" => warren_env::FeedMode::Off,
        _ => wanted,
    }
}

fn init_tracing(filter: &str, with_time: bool) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(crate::output::printer().color(crate::output::Stream::Err));
    let _ = if with_time {
        builder.try_init()
    } else {
        builder.without_time().try_init()
    };
}

/// Exit code for a process exit code (clamped to 0..=255).
pub fn exit_code(code: i64) -> ExitCode {
    ExitCode::from(code.clamp(0, 255) as u8)
}

/// `KEY=VALUE`, or `KEY` to pass this process's value through.
pub fn parse_env(s: &str, host: &HostEnv) -> anyhow::Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        None if !s.is_empty() => Ok((s.to_string(), host.get(s).unwrap_or_default().to_string())),
        _ => Err(UserError::msg(
            format!("invalid `-e {s}`"),
            Some("use `-e KEY=VALUE` or `-e KEY`".into()),
        )),
    }
}

/// Runs `f` for each name; with several names, a failure is printed and the
/// rest still run (exit 1 at the end).
pub fn each_name(
    names: &[String],
    mut f: impl FnMut(&str) -> anyhow::Result<()>,
) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for name in names {
        if let Err(e) = f(name) {
            if names.len() == 1 {
                return Err(e);
            }
            crate::output::print_error(&e);
            failed = true;
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_forms() {
        let host = HostEnv {
            vars: [("TOKEN".to_string(), "v".to_string())].into(),
        };
        assert_eq!(
            parse_env("A=1=2", &host).unwrap(),
            ("A".into(), "1=2".into())
        );
        assert_eq!(
            parse_env("TOKEN", &host).unwrap(),
            ("TOKEN".into(), "v".into())
        );
        assert!(parse_env("=x", &host).is_err());
    }
}
