//! One module per subcommand; `dispatch` wires parsed args to them.

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let root = crate::commands::root()?;
    match cli.command {
        Command::Proxy(args) => {
            warren_proxy::cli::run(args, &warren_proxy::cli::Context { root, json: false })
        }
        Command::Paths => {
            println!("{}", root.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The warren root: `$WARREN_ROOT`, else `~/.warren`.
pub fn root() -> anyhow::Result<std::path::PathBuf> {
    if let Some(r) = std::env::var_os(warren_core::vars::WARREN_ROOT).filter(|r| !r.is_empty()) {
        return Ok(r.into());
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "HOME is not set; set `WARREN_ROOT` to choose where warren keeps its state"
            )
        })?;
    Ok(std::path::PathBuf::from(home).join(".warren"))
}
