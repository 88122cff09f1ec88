//! `warren proxy …` subcommands.

use std::path::PathBuf;
use std::process::ExitCode;

/// `warren proxy [serve|status|stop]`.
#[derive(Debug, clap::Args)]
pub struct ProxyArgs {
    #[command(subcommand)]
    pub command: Option<ProxyCommand>,
}

#[derive(Debug, clap::Subcommand)]
pub enum ProxyCommand {
    /// Run the proxy in the foreground.
    Serve,
    /// Show whether the proxy runs, where, and its routes.
    Status,
    /// Stop the running proxy.
    Stop,
}

/// What the CLI hands to proxy commands.
#[derive(Debug, Clone)]
pub struct Context {
    pub root: PathBuf,
    pub json: bool,
}

/// Runs a `warren proxy` subcommand.
pub fn run(_args: ProxyArgs, _ctx: &Context) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`warren proxy` is not implemented yet")
}
