//! `warren apply NAME` and `warren push NAME [--remote R]`.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::{NameArg, PushArgs};
use crate::commands::Ctx;
use crate::output::{printer, sanitize};

pub fn apply(ctx: &Ctx, args: NameArg) -> anyhow::Result<ExitCode> {
    let warren = ctx.warren()?;
    let done = warren
        .apply(&args.name)
        .with_context(|| format!("cannot apply `{}`", args.name))?;
    let p = printer();
    if done.files.is_empty() {
        p.message(&format!(
            "`{}` changed nothing: nothing to apply",
            args.name
        ));
        return Ok(ExitCode::SUCCESS);
    }
    p.status(
        "Applied",
        &format!(
            "{} file(s) of `{}` to the main checkout (uncommitted)",
            done.files.len(),
            args.name
        ),
    );
    for f in &done.files {
        p.out(&format!("  {}\n", sanitize(f)));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn push(ctx: &Ctx, args: PushArgs) -> anyhow::Result<ExitCode> {
    let warren = ctx.warren()?;
    let done = ctx
        .block_on(warren.push(&args.name, args.remote.as_deref()))?
        .with_context(|| format!("cannot push `{}`", args.name))?;
    ctx.reporter().clear();
    let p = printer();
    if args.json {
        p.json(&done)?;
        return Ok(ExitCode::SUCCESS);
    }
    p.status(
        "Pushed",
        &format!(
            "{} ({}) to {}",
            done.branch,
            &done.commit[..12.min(done.commit.len())],
            sanitize(&done.remote)
        ),
    );
    if done.uncommitted > 0 {
        p.warning(&format!(
            "{} changed file(s) are not committed in `{}` and were not pushed (`warren land` commits them)",
            done.uncommitted, args.name
        ));
    }
    Ok(ExitCode::SUCCESS)
}
