//! `warren completions SHELL`: the shell code that asks warren for
//! completions as you type (commands, flags, and the names of environments,
//! types, tools and agents), the same as `COMPLETE=SHELL warren` prints.

use std::process::ExitCode;

use clap_complete::env::{Bash, Elvish, EnvCompleter, Fish, Powershell, Zsh};

use crate::cli::CompletionsArgs;
use crate::output::printer;

pub fn completions(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    let shell: &dyn EnvCompleter = match args.shell {
        clap_complete::Shell::Bash => &Bash,
        clap_complete::Shell::Elvish => &Elvish,
        clap_complete::Shell::Fish => &Fish,
        clap_complete::Shell::PowerShell => &Powershell,
        clap_complete::Shell::Zsh => &Zsh,
        other => anyhow::bail!("no completions for {other}"),
    };
    let exe = std::env::current_exe()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "warren".into());
    let mut buf = Vec::new();
    shell.write_registration("COMPLETE", "warren", "warren", &exe, &mut buf)?;
    printer().out(&String::from_utf8_lossy(&buf));
    Ok(ExitCode::SUCCESS)
}
