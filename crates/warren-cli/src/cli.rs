//! clap definitions of the command line; no behaviour here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Run AI coding agents side by side, each in its own isolated environment.
#[derive(Debug, Parser)]
#[command(name = "warren", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Show debug output (tracing) on stderr.
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The hostname proxy: `warren proxy [serve|status|stop]`.
    Proxy(warren_proxy::cli::ProxyArgs),
    /// Print the warren root and the state database path.
    #[command(hide = true)]
    Paths,
}

/// Placeholder so `PathBuf` stays in use until commands land.
#[allow(dead_code)]
pub type RootPath = PathBuf;
