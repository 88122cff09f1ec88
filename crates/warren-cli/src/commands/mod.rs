//! One module per subcommand; `dispatch` wires parsed args to them.

mod doctor;
mod exec;
mod lifecycle;
mod logs;
mod ls;
mod rm;
mod run;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use warren_core::RuntimeKind;
use warren_env::{HostEnv, Warren};
use warren_runtime::local::LocalRuntime;

use crate::cli::{Cli, Command};
use crate::reporter::CliReporter;

/// An error for the user with an optional hint (for failures detected by
/// the CLI itself, e.g. bad flag values).
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

/// What every command gets.
pub struct Ctx {
    pub root: PathBuf,
    pub host: HostEnv,
}

impl Ctx {
    /// The environment service, reporting to stderr.
    pub fn warren(&self, quiet: bool) -> anyhow::Result<Warren> {
        let reporter = Arc::new(CliReporter::new(quiet));
        let home = self.host.home().unwrap_or_else(|| self.root.clone());
        Ok(Warren::open(&self.root, self.host.clone(), reporter)?
            .with_runtime(
                RuntimeKind::Sandbox,
                Arc::new(LocalRuntime::sandbox(&self.root, &home)),
            )
            .with_runtime(
                RuntimeKind::Host,
                Arc::new(LocalRuntime::host(&self.root, &home)),
            ))
    }

    /// A single-threaded async runtime: commands are short and sequential,
    /// and starting worker threads would only add latency.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> anyhow::Result<F::Output> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        Ok(rt.block_on(f))
    }
}

pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let host = HostEnv::current();
    let root = root(&host)?;
    if cli.global.verbose {
        init_tracing();
    }
    let ctx = Ctx { root, host };
    match cli.command {
        Command::Run(args) => run::run(&ctx, args),
        Command::Ls(args) => ls::ls(&ctx, args),
        Command::Exec(args) => exec::exec(&ctx, args),
        Command::Stop(args) => lifecycle::stop(&ctx, args),
        Command::Start(args) => lifecycle::start(&ctx, args),
        Command::Restart(args) => lifecycle::restart(&ctx, args),
        Command::Rm(args) => rm::rm(&ctx, args),
        Command::Logs(args) => logs::logs(&ctx, args),
        Command::Doctor(args) => doctor::doctor(&ctx, args),
        Command::Validate(args) => validate::validate(&ctx, args),
        Command::Proxy(args) => warren_proxy::cli::run(
            args,
            &warren_proxy::cli::Context {
                root: ctx.root.clone(),
                json: false,
            },
        ),
        Command::Agent(args) => warren_agent::cli::run_agent(
            args,
            &warren_agent::cli::Context {
                root: ctx.root.clone(),
            },
        ),
        Command::Task(args) => warren_agent::cli::run_task(
            args,
            &warren_agent::cli::Context {
                root: ctx.root.clone(),
            },
        ),
        Command::Completions(args) => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            clap_complete::generate(args.shell, &mut cmd, "warren", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The warren root: `$WARREN_ROOT`, else `~/.warren`.
pub fn root(host: &HostEnv) -> anyhow::Result<PathBuf> {
    if let Some(r) = host.get(warren_core::vars::WARREN_ROOT) {
        let p = PathBuf::from(r);
        return Ok(if p.is_absolute() {
            p
        } else {
            std::env::current_dir()
                .context("cannot read the current directory")?
                .join(p)
        });
    }
    let home = host.home().ok_or_else(|| {
        UserError::msg(
            "HOME is not set",
            Some("set `WARREN_ROOT` to choose where warren keeps its state".into()),
        )
    })?;
    Ok(home.join(".warren"))
}

fn init_tracing() {
    let filter = std::env::var(warren_core::vars::WARREN_LOG).unwrap_or_else(|_| "debug".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Exit code for a process exit code (clamped to 0..=255).
pub fn exit_code(code: i64) -> ExitCode {
    ExitCode::from(code.clamp(0, 255) as u8)
}

/// Proxy settings: the global config (with its `WARREN_PROXY_*` overrides),
/// plus `WARREN_PROXY_AUTOSTART`.
pub fn proxy_settings(ctx: &Ctx) -> warren_proxy::ProxySettings {
    let host = ctx.host.clone();
    let lookup = move |k: &str| host.get(k).map(str::to_string);
    let mut s = warren_proxy::ProxySettings::from_lookup(&lookup).unwrap_or_default();
    if let Ok(g) = warren_config::load_global(&ctx.root, &lookup) {
        s.port = g.value.proxy.port;
        s.bind = g.value.proxy.bind;
        s.idle = std::time::Duration::from_secs(g.value.proxy.idle_seconds);
    }
    s
}

/// Makes sure the hostname proxy runs so service URLs answer. A failure is a
/// warning: the environment itself is fine and its services answer on their
/// published ports.
pub fn ensure_proxy(ctx: &Ctx) {
    let settings = proxy_settings(ctx);
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            crate::printer::warning(&format!("cannot start the proxy: {e}"));
            return;
        }
    };
    if let Err(e) = warren_proxy::ensure_running(&ctx.root, &exe, &settings) {
        let msg = match e.hint() {
            Some(h) => format!("service URLs will not answer: {e} ({h})"),
            None => format!("service URLs will not answer: {e}"),
        };
        crate::printer::warning(&msg);
    }
}
