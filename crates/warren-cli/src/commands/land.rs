//! `warren land NAME… [--into BRANCH] [--squash|--merge|--rebase] [-m MSG]
//! [--test] [--continue]`: see `warren_env::review::land`.

use std::process::ExitCode;

use warren_core::Hint;
use warren_env::review::land::{LandOptions, Landed, Strategy};

use crate::cli::LandArgs;
use crate::commands::{Ctx, UserError};
use crate::output::printer;

pub fn land(ctx: &Ctx, args: LandArgs) -> anyhow::Result<ExitCode> {
    let warren = ctx.warren()?;
    let opts = LandOptions {
        into: args.into.clone(),
        strategy: if args.squash {
            Strategy::Squash
        } else if args.merge {
            Strategy::Merge
        } else {
            Strategy::Rebase
        },
        message: args.message.clone(),
        test: if args.test {
            Some(true)
        } else if args.no_test {
            Some(false)
        } else {
            None
        },
        resume: args.resume,
    };
    let report = ctx.block_on(warren.land_queue(&args.names, &opts))?;
    let p = printer();
    if args.json {
        p.json(&serde_json::json!({
            "landed": report.landed,
            "failed": report.failed.as_ref().map(|(n, e)| serde_json::json!({
                "name": n,
                "error": e.to_string(),
            })),
            "not_tried": report.not_tried,
        }))?;
    } else {
        for l in &report.landed {
            say(l);
        }
    }
    let Some((name, err)) = report.failed else {
        return Ok(ExitCode::SUCCESS);
    };
    if args.names.len() == 1 {
        return Err(UserError::msg(err.to_string(), err.hint()));
    }
    let landed: Vec<String> = report
        .landed
        .iter()
        .map(|l| format!("`{}`", l.name))
        .collect();
    let not_tried: Vec<String> = report.not_tried.iter().map(|n| format!("`{n}`")).collect();
    let mut msg = format!("the queue stopped at `{name}`: {err}");
    msg.push_str(&format!(
        "\n  landed: {}",
        if landed.is_empty() {
            "none".into()
        } else {
            landed.join(", ")
        }
    ));
    msg.push_str(&format!(
        "\n  not tried: {}",
        if not_tried.is_empty() {
            "none".into()
        } else {
            not_tried.join(", ")
        }
    ));
    let rest: Vec<&str> = std::iter::once(name.as_str())
        .chain(report.not_tried.iter().map(String::as_str))
        .collect();
    let hint = match err.hint() {
        Some(h) => format!("{h}; then land the rest: `warren land {}`", rest.join(" ")),
        None => format!("then land the rest: `warren land {}`", rest.join(" ")),
    };
    Err(UserError::msg(msg, Some(hint)))
}

fn say(l: &Landed) {
    let p = printer();
    if l.commits == 0 {
        p.status(
            "Nothing",
            &format!("to land: `{}` has no commits beyond `{}`", l.name, l.into),
        );
        return;
    }
    let short = |s: &str| s.chars().take(10).collect::<String>();
    p.status(
        "Landed",
        &format!(
            "`{}` on `{}`: {} -> {} ({}, {} commit{}{}{})",
            l.name,
            l.into,
            short(&l.from),
            short(&l.to),
            match l.strategy {
                Strategy::Rebase => "rebased",
                Strategy::Merge => "merged",
                Strategy::Squash => "squashed",
            },
            l.commits,
            if l.commits == 1 { "" } else { "s" },
            if l.committed_work {
                ", uncommitted work committed"
            } else {
                ""
            },
            if l.tested { ", tested" } else { "" },
        ),
    );
}
