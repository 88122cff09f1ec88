//! `warren logs NAME [-f] [--tail N]`.

use std::process::ExitCode;

use crate::cli::LogsArgs;
use crate::commands::Ctx;

pub fn logs(ctx: &Ctx, args: LogsArgs) -> anyhow::Result<ExitCode> {
    let warren = ctx.warren(true)?;
    ctx.block_on(warren.logs(&args.name, args.follow, args.tail))??;
    Ok(ExitCode::SUCCESS)
}
