//! `warren exec NAME -- CMD…`.

use std::io::IsTerminal;
use std::process::ExitCode;

use warren_core::RuntimeKind;
use warren_runtime::ExecIo;
use warren_runtime::local::LocalRuntime;

use crate::cli::ExecArgs;
use crate::commands::{Ctx, exit_code};

pub fn exec(ctx: &Ctx, args: ExecArgs) -> anyhow::Result<ExitCode> {
    let warren = ctx.warren(true)?;
    let (rec, mut spec) = warren.exec_spec(&args.name, args.cmd.clone())?;
    for e in &args.env {
        let (k, v) = crate::commands::run::parse_env(e, &ctx.host)?;
        spec.env.retain(|(n, _)| *n != k);
        spec.env.push((k, v));
    }
    if rec.runtime == RuntimeKind::Sandbox {
        // Fast path: this process becomes the sandbox helper (no async
        // runtime, no threads, no re-exec); signals reach the command
        // through the sandbox's init, and its exit code is ours.
        let home = ctx.host.home().unwrap_or_else(|| ctx.root.clone());
        let local = LocalRuntime::sandbox(&ctx.root, &home);
        let id = rec
            .container_id
            .clone()
            .ok_or_else(|| anyhow::anyhow!("`{}` has no sandbox yet", rec.name))?;
        let policy = local.command_policy(&local.load(&id)?, &spec)?;
        drop(warren);
        let argv: Vec<std::ffi::OsString> = spec.cmd.iter().map(Into::into).collect();
        let code = warren_sandbox::exec_in_place(&policy, &argv)?;
        return Ok(exit_code(code.into()));
    }
    let stdin_tty = std::io::stdin().is_terminal();
    let tty = !args.no_tty && (args.tty || (stdin_tty && std::io::stdout().is_terminal()));
    let stdin = args.interactive || stdin_tty;
    let status = ctx.block_on(warren.exec_with(&rec, &spec, ExecIo::Inherit { tty, stdin }))??;
    Ok(exit_code(status.code))
}
