//! `warren stop NAME…`.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::NamesArgs;
use crate::commands::{Ctx, each_name};
use crate::output::printer;

pub fn stop(ctx: &Ctx, args: NamesArgs) -> anyhow::Result<ExitCode> {
    let warren = ctx.warren()?;
    each_name(&args.names, |name| {
        ctx.block_on(warren.stop(name))?
            .with_context(|| format!("cannot stop `{name}`"))?;
        ctx.reporter().clear();
        printer().status("Stopped", name);
        Ok(())
    })
}
