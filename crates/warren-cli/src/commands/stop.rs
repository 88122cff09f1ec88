//! `warren stop NAME…`, `warren stop --all`.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::StopArgs;
use crate::commands::{Ctx, each_name};
use crate::output::printer;

pub fn stop(ctx: &Ctx, args: StopArgs) -> anyhow::Result<ExitCode> {
    let warren = ctx.warren()?;
    let names = if args.all {
        warren
            .store()
            .environments()?
            .into_iter()
            .filter(|r| r.state == warren_core::EnvState::Running)
            .map(|r| r.name)
            .collect()
    } else {
        args.names
    };
    if names.is_empty() {
        printer().message("No environment is running.");
        return Ok(ExitCode::SUCCESS);
    }
    each_name(&names, |name| {
        ctx.block_on(warren.stop(name))?
            .with_context(|| format!("cannot stop `{name}`"))?;
        ctx.reporter().clear();
        printer().status("Stopped", name);
        Ok(())
    })
}
