//! `warren ls [--project P] [--json]` (`-q`: names only).

use std::process::ExitCode;

use warren_core::{EnvState, RuntimeKind};

use crate::cli::LsArgs;
use crate::commands::Ctx;
use crate::output::{Stream, Style, age, printer};

pub fn ls(ctx: &Ctx, args: LsArgs) -> anyhow::Result<ExitCode> {
    let warren = ctx
        .warren()?
        .with_feed(super::feed_mode(warren_env::FeedMode::Use));
    let mut listing = ctx.block_on(warren.ls())??;
    let p = printer();
    for w in &listing.warnings {
        p.warning(w);
    }
    if let Some(project) = &args.project {
        listing.environments.retain(|e| &e.project == project);
    }
    if args.json {
        p.json(&listing.environments)?;
        return Ok(ExitCode::SUCCESS);
    }
    if p.quiet() {
        let names: String = listing
            .environments
            .iter()
            .map(|e| format!("{}\n", e.name))
            .collect();
        p.out(&names);
        return Ok(ExitCode::SUCCESS);
    }
    if listing.environments.is_empty() && listing.orphans.is_empty() {
        let hint = match &args.project {
            Some(project) => format!("no environments of project `{project}`"),
            None => "no environments; create one with `warren run`".into(),
        };
        p.message(&hint);
        return Ok(ExitCode::SUCCESS);
    }
    let now = warren_core::time::now_unix();
    let paint = |style, text: &str| p.paint(Stream::Out, style, text);
    // Attention first: environments with a session waiting for a human lead.
    let mut envs: Vec<&warren_env::EnvView> = listing.environments.iter().collect();
    envs.sort_by_key(|e| !e.sessions.iter().any(|s| s.state == "waiting"));
    let with_sessions = envs.iter().any(|e| !e.sessions.is_empty());
    let session_cell = |e: &warren_env::EnvView| -> String {
        let mut list: Vec<&warren_env::SessionView> = e.sessions.iter().collect();
        list.sort_by_key(|s| s.state != "waiting");
        let cells: Vec<String> = list
            .iter()
            .map(|s| {
                let style = match s.state.as_str() {
                    "waiting" => Style::Yellow,
                    "working" => Style::Green,
                    "exited" | "stopped" => Style::Red,
                    _ => Style::Dim,
                };
                format!("{} {}", s.name, paint(style, &s.state))
            })
            .collect();
        if cells.is_empty() {
            "-".into()
        } else {
            cells.join(", ")
        }
    };
    let rows: Vec<Vec<String>> = envs
        .iter()
        .map(|e| {
            let state_style = match e.state {
                EnvState::Running => Style::Green,
                EnvState::Gone | EnvState::Failed => Style::Red,
                _ => Style::Yellow,
            };
            let runtime = if e.runtime == RuntimeKind::Host {
                paint(Style::Red, "host (no isolation)")
            } else if e.network == warren_core::NetworkMode::Host {
                // Isolated files and processes, but the host's network.
                paint(Style::Red, &format!("{} (host network)", e.runtime))
            } else if e.network == warren_core::NetworkMode::Compose {
                // Its compose project's bridge: no egress proxy.
                paint(Style::Yellow, &format!("{} (compose network)", e.runtime))
            } else {
                e.runtime.to_string()
            };
            // Host access it was granted: the isolation it gave up.
            let runtime = if e.host_access.is_empty() {
                runtime
            } else {
                format!(
                    "{runtime} {}",
                    paint(
                        Style::Red,
                        &format!("(host access: {})", e.host_access.join(", "))
                    )
                )
            };
            // A stopped environment's URLs are shown greyed: they answer
            // again once it runs.
            let services = e
                .services
                .iter()
                .map(|s| {
                    if s.routed {
                        s.url.clone()
                    } else {
                        paint(Style::Dim, &s.url)
                    }
                })
                .collect::<Vec<_>>()
                .join(" ");
            let mut row = vec![
                paint(Style::Cyan, &e.name),
                e.project.clone(),
                e.env_type.clone().unwrap_or_else(|| "-".into()),
                runtime,
                paint(state_style, e.state.as_str()),
                changes_cell(e, &paint),
                if services.is_empty() {
                    "-".into()
                } else {
                    services
                },
                age(now - e.created_at),
            ];
            if with_sessions {
                row.insert(5, session_cell(e));
            }
            row
        })
        .collect();
    let mut header = vec![
        "NAME", "PROJECT", "TYPE", "RUNTIME", "STATE", "CHANGES", "SERVICES", "AGE",
    ];
    if with_sessions {
        header.insert(5, "SESSIONS");
    }
    p.out(&p.table(Stream::Out, &header, &rows));
    for o in &listing.orphans {
        p.warning(&format!(
            "container `{}` ({}) is labelled as warren's environment `{}` but warren has no record of it; remove it with `docker rm -f {}`",
            o.container, o.id, o.name, o.container
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// `+120 −8, 5 files`, with `⚠ clashes with b, main` when landing it would
/// conflict with other environments or the target branch.
fn changes_cell(e: &warren_env::EnvView, paint: &dyn Fn(Style, &str) -> String) -> String {
    let changes = e
        .changes
        .map(|c| c.to_string())
        .unwrap_or_else(|| "-".into());
    let mut with: Vec<String> = e.clashes.clone();
    if let Some(t) = &e.target_clash {
        with.push(t.clone());
    }
    if with.is_empty() {
        return changes;
    }
    // A branch name is the main repository's, env names are warren's: still, no
    // control character reaches the terminal.
    let with = crate::output::sanitize(&with.join(", ")).replace(['\n', '\t'], " ");
    format!(
        "{changes} {}",
        paint(Style::Yellow, &format!("⚠ clashes with {with}"))
    )
}
