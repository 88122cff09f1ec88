//! `warren exec NAME -- CMD…`.

use std::io::IsTerminal;
use std::process::ExitCode;

use warren_runtime::ExecIo;

use crate::cli::ExecArgs;
use crate::commands::{Ctx, exit_code};

pub fn exec(ctx: &Ctx, args: ExecArgs) -> anyhow::Result<ExitCode> {
    let warren = ctx.warren(true)?;
    let stdin_tty = std::io::stdin().is_terminal();
    let tty = !args.no_tty && (args.tty || (stdin_tty && std::io::stdout().is_terminal()));
    let stdin = args.interactive || stdin_tty;
    let status =
        ctx.block_on(warren.exec(&args.name, args.cmd, ExecIo::Inherit { tty, stdin }))??;
    Ok(exit_code(status.code))
}
