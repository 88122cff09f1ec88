//! `warren checkpoint`, `warren checkpoints`, `warren rewind`, `warren fork`.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::{CheckpointArgs, CheckpointsArgs, ForkArgs, RewindArgs};
use crate::commands::Ctx;
use crate::output::{Stream, Style, printer, sanitize};

fn short(commit: &str) -> &str {
    &commit[..12.min(commit.len())]
}

pub fn checkpoint(ctx: &Ctx, args: CheckpointArgs) -> anyhow::Result<ExitCode> {
    let warren = ctx.warren()?;
    let done = warren
        .checkpoint(&args.name, &args.message)
        .with_context(|| format!("cannot record a checkpoint of `{}`", args.name))?;
    let p = printer();
    if args.json {
        p.json(&done)?;
    } else if done.new {
        p.status(
            "Recorded",
            &format!(
                "checkpoint {} of `{}` ({})",
                done.checkpoint.id,
                args.name,
                short(&done.checkpoint.commit)
            ),
        );
    } else {
        p.message(&format!(
            "`{}` has not changed since checkpoint {}",
            args.name, done.checkpoint.id
        ));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn checkpoints(ctx: &Ctx, args: CheckpointsArgs) -> anyhow::Result<ExitCode> {
    let warren = ctx.warren()?;
    let list = warren.checkpoints(&args.name)?;
    let p = printer();
    if args.json {
        p.json(&list)?;
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        p.message(&format!(
            "`{}` has no checkpoints yet (`warren checkpoint {}`)",
            args.name, args.name
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let now = warren_core::time::now_unix();
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|c| {
            vec![
                p.paint(Stream::Out, Style::Cyan, &c.id.to_string()),
                short(&c.commit).to_string(),
                crate::output::age(now - c.time),
                sanitize(&c.message),
            ]
        })
        .collect();
    p.out(&p.table(Stream::Out, &["ID", "COMMIT", "AGE", "MESSAGE"], &rows));
    Ok(ExitCode::SUCCESS)
}

pub fn rewind(ctx: &Ctx, args: RewindArgs) -> anyhow::Result<ExitCode> {
    let warren = ctx.warren()?;
    let done = ctx
        .block_on(warren.rewind(&args.name, args.checkpoint))?
        .with_context(|| format!("cannot rewind `{}`", args.name))?;
    ctx.reporter().clear();
    printer().status(
        "Rewound",
        &format!(
            "`{}` to checkpoint {} (the tree before is checkpoint {})",
            args.name, done.restored.id, done.before.id
        ),
    );
    Ok(ExitCode::SUCCESS)
}

pub fn fork(ctx: &Ctx, args: ForkArgs) -> anyhow::Result<ExitCode> {
    let warren = ctx.warren()?;
    let cp = ctx
        .block_on(warren.fork(&args.name, &args.new, args.at))?
        .with_context(|| format!("cannot fork `{}`", args.name))?;
    ctx.reporter().clear();
    printer().status(
        "Forked",
        &format!(
            "`{}` from `{}` at checkpoint {} (branch warren/{})",
            args.new, args.name, cp.id, args.new
        ),
    );
    Ok(ExitCode::SUCCESS)
}
