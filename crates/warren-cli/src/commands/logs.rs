//! `warren logs NAME [-f] [--tail N]`.

use std::process::ExitCode;

use warren_runtime::Stream as Output;

use crate::cli::LogsArgs;
use crate::commands::Ctx;
use crate::output::{printer, sanitize};

pub fn logs(ctx: &Ctx, args: LogsArgs) -> anyhow::Result<ExitCode> {
    let warren = ctx.warren()?;
    // What a log holds came from inside the environment: no control
    // sequences reach the terminal.
    let mut sink = |stream: Output, chunk: &[u8]| {
        let text = sanitize(&String::from_utf8_lossy(chunk));
        match stream {
            Output::Stdout => printer().out(&text),
            Output::Stderr => printer().err_line(text.trim_end_matches('\n')),
        }
    };
    ctx.block_on(warren.logs(&args.name, args.follow, args.tail, &mut sink))??;
    Ok(ExitCode::SUCCESS)
}
