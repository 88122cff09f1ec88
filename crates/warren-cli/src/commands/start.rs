//! `warren start NAME…`, `warren start ISSUE…` (numbers: environments of type `issue`),
//! and `warren start` alone (the project's fleet).

use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::StartArgs;
use crate::commands::{Ctx, each_name};
use crate::output::{Stream, Style, printer};

pub fn start(ctx: &Ctx, args: StartArgs) -> anyhow::Result<ExitCode> {
    let warren = ctx.warren()?;
    let cwd = std::env::current_dir()?;
    if args.names.is_empty() {
        let fleet = ctx
            .block_on(warren.start_fleet(&cwd))?
            .context("cannot start the project's environments")?;
        ctx.reporter().clear();
        let p = printer();
        if fleet.is_empty() {
            p.message(
                "Nothing to start: the project has no stopped environment and no `manager` type.",
            );
            return Ok(ExitCode::SUCCESS);
        }
        let rows: Vec<Vec<String>> = fleet
            .iter()
            .map(|e| {
                vec![
                    p.paint(Stream::Out, Style::Cyan, &e.name),
                    e.action.clone(),
                    e.error.clone().unwrap_or_default(),
                ]
            })
            .collect();
        p.out(&p.table(Stream::Out, &["NAME", "DONE", "ERROR"], &rows));
        let failed = fleet.iter().any(|e| e.error.is_some());
        return Ok(if failed {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        });
    }
    each_name(&args.names, |name| {
        // Names may not be all digits, so a number is always an issue.
        let name = match name.parse::<u64>() {
            Ok(n) => ctx
                .block_on(warren.start_issue(&cwd, n))?
                .with_context(|| format!("cannot start issue {n}"))?,
            Err(_) => {
                ctx.block_on(warren.start(name))?
                    .with_context(|| format!("cannot start `{name}`"))?;
                name.to_string()
            }
        };
        let view = warren.view_of(&name)?;
        ctx.reporter().clear();
        let p = printer();
        p.status("Started", &name);
        for s in &view.services {
            p.message(&format!(
                "  {:<10} {}",
                s.name,
                p.paint(Stream::Err, Style::Cyan, &s.url)
            ));
        }
        Ok(())
    })
}
