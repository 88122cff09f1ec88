//! `warren restart NAME`.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::NameArg;
use crate::commands::Ctx;
use crate::output::printer;

pub fn restart(ctx: &Ctx, args: NameArg) -> anyhow::Result<ExitCode> {
    let warren = ctx.warren()?;
    ctx.block_on(async {
        warren.stop(&args.name).await?;
        warren.start(&args.name).await
    })?
    .with_context(|| format!("cannot restart `{}`", args.name))?;
    ctx.reporter().clear();
    printer().status("Restarted", &args.name);
    Ok(ExitCode::SUCCESS)
}
