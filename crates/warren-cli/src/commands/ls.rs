//! `warren ls`.

use std::process::ExitCode;

use warren_core::EnvState;

use crate::cli::LsArgs;
use crate::commands::Ctx;
use crate::printer::{Style, age, out, paint, stdout_color, warning};

pub fn ls(ctx: &Ctx, args: LsArgs) -> anyhow::Result<ExitCode> {
    let warren = ctx.warren(true)?;
    let listing = ctx.block_on(warren.ls())??;
    for w in &listing.warnings {
        warning(w);
    }
    if args.json {
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&listing.environments)?
        ));
        return Ok(ExitCode::SUCCESS);
    }
    if args.quiet {
        let names: String = listing
            .environments
            .iter()
            .map(|e| format!("{}\n", e.name))
            .collect();
        out(&names);
        return Ok(ExitCode::SUCCESS);
    }
    let color = stdout_color();
    let now = warren_store::now_unix();
    let rows: Vec<Vec<String>> = listing
        .environments
        .iter()
        .map(|e| {
            let state_style = match e.state {
                EnvState::Running => Style::Green,
                EnvState::Gone | EnvState::Failed => Style::Red,
                _ => Style::Yellow,
            };
            let runtime = if e.runtime == warren_core::RuntimeKind::Host {
                paint(color, Style::Red, "host (no isolation)")
            } else {
                e.runtime.to_string()
            };
            let services = e
                .services
                .iter()
                .map(|s| {
                    s.url
                        .clone()
                        .unwrap_or_else(|| format!("{}:{}", s.name, s.port))
                })
                .collect::<Vec<_>>()
                .join(" ");
            vec![
                paint(color, Style::Cyan, &e.name),
                e.env_type.clone().unwrap_or_else(|| "-".into()),
                runtime,
                paint(color, state_style, e.state.as_str()),
                if services.is_empty() {
                    "-".into()
                } else {
                    services
                },
                age(now - e.created_at),
            ]
        })
        .collect();
    if rows.is_empty() && listing.orphans.is_empty() {
        crate::printer::message("no environments; create one with `warren run`");
        return Ok(ExitCode::SUCCESS);
    }
    out(&crate::printer::table(
        &["NAME", "TYPE", "RUNTIME", "STATE", "SERVICES", "AGE"],
        &rows,
        color,
    ));
    for o in &listing.orphans {
        warning(&format!(
            "container `{}` ({}) is labelled as warren's environment `{}` but warren has no record of it; remove it with `docker rm -f {}`",
            o.container, o.id, o.name, o.container
        ));
    }
    Ok(ExitCode::SUCCESS)
}
