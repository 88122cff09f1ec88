//! `warren cmd COMMAND [-- ARGS]`: an entry of `.warren.yaml` `commands:`, run inside
//! the environment the caller is in (its worktree, or `WARREN_NAME`), with `PORT` and
//! the `WARREN_*` variables of that environment.

use std::process::ExitCode;

use crate::cli::CmdArgs;
use crate::commands::{Ctx, UserError};

pub fn cmd(ctx: &Ctx, args: CmdArgs) -> anyhow::Result<ExitCode> {
    let warren = ctx.warren()?;
    let cwd = std::env::current_dir()?;
    let Some(name) = warren.current_environment(&cwd)? else {
        return Err(UserError::msg(
            "not in an environment: no `WARREN_NAME`, and the current directory is in no environment's tree",
            Some("run it from an environment's worktree, or set `WARREN_NAME=NAME`".into()),
        ));
    };
    let rec = warren.record(&name)?;
    let cfg = warren_config::load_project(&rec.project_path)?;
    let commands = cfg.value.map(|p| p.commands).unwrap_or_default();
    let Some(command) = commands.get(&args.command).cloned() else {
        let known: Vec<String> = commands.keys().map(|k| format!("`{k}`")).collect();
        return Err(UserError::msg(
            format!("`.warren.yaml` has no command `{}`", args.command),
            Some(if known.is_empty() {
                "add it: `commands: {test: cargo test}`".into()
            } else {
                format!("known: {}", known.join(", "))
            }),
        ));
    };
    let mut script = command;
    for a in &args.args {
        script.push(' ');
        script.push_str(&shlex::try_quote(a).map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdin())
        && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let code = warren.exec_blocking(
        &name,
        vec!["/bin/sh".into(), "-c".into(), script],
        Vec::new(),
        tty,
        tty,
    )?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}
