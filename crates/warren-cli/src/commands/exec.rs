//! `warren exec NAME -- CMD…`.

use std::io::IsTerminal;
use std::process::ExitCode;

use warren_core::envpipe;

use crate::cli::ExecArgs;
use crate::commands::{Ctx, exit_code, parse_env};
use crate::output::printer;

pub fn exec(ctx: &Ctx, args: ExecArgs) -> anyhow::Result<ExitCode> {
    let mut env = args
        .env
        .iter()
        .map(|e| parse_env(e, &ctx.host))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if let Some(fd) = args.env_fd {
        let bytes = envpipe::read_fd(fd)?;
        env.extend(envpipe::decode(&bytes)?);
    }
    let stdin_tty = std::io::stdin().is_terminal();
    let tty = !args.no_tty && (args.tty || (stdin_tty && std::io::stdout().is_terminal()));
    let stdin = args.interactive || stdin_tty;
    let warren = ctx.warren()?;
    if tty && stdin && !args.no_post_attach {
        // An interactive terminal in the environment is an attach (the
        // spec's postAttachCommand), as `warren attach` and `warren run` are.
        ctx.block_on(warren.post_attach(&args.name))??;
    }
    match warren.exec_blocking(&args.name, args.cmd, env, tty, stdin) {
        Ok(code) => Ok(exit_code(code)),
        // As a shell says it, with its exit code (127 not found, 126 not
        // executable).
        Err(warren_env::EnvError::Runtime(
            e @ warren_runtime::RuntimeError::CannotExec { code, .. },
        )) => {
            printer().err_line(&format!("warren: {e}"));
            Ok(exit_code(i64::from(code)))
        }
        Err(e) => Err(e.into()),
    }
}
