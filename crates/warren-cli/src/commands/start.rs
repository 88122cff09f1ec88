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
    if let Some(code) = start_issues_in_parallel(ctx, &warren, &cwd, &args.names, args.jobs)? {
        return Ok(code);
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
        let view = warren.brief_view_of(&name)?;
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

/// `warren start N M …` (issues only, at least two, none clashing on a port): one
/// `warren start N` process per issue, as many at once as `--jobs` (default: two
/// per core); their
/// output is printed in the order given. `None` when it does not apply (the
/// caller starts them one by one, which also reports a port clash).
fn start_issues_in_parallel(
    ctx: &Ctx,
    warren: &warren_env::Warren,
    cwd: &std::path::Path,
    names: &[String],
    jobs: Option<u16>,
) -> anyhow::Result<Option<ExitCode>> {
    let issues: Vec<u64> = names.iter().filter_map(|n| n.parse().ok()).collect();
    if issues.len() < 2 || issues.len() != names.len() {
        return Ok(None);
    }
    let Ok(Ok(ports)) = ctx.block_on(warren.issue_ports(cwd, &issues)) else {
        return Ok(None);
    };
    let mut seen = std::collections::HashSet::new();
    if !ports.iter().all(|p| seen.insert(*p)) {
        return Ok(None);
    }
    let exe = std::env::current_exe().context("cannot find the warren binary")?;
    // One server and one watcher, started here before the children race for them.
    warren.ensure_watcher();
    // Mostly CPU (process starts, namespaces, tmux), with waits between
    // (a keeper to be ready, tmux to answer): two per core keep the cores
    // busy through the waits (measured: 20 issues on 2 cores start in
    // about 0.75 s with 4 at once, 0.8–1.2 s with 2).
    let workers = jobs.map(usize::from).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get() * 2)
            .unwrap_or(4)
            .clamp(2, 16)
    });
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new((0..issues.len()).map(|_| None).collect::<Vec<_>>());
    std::thread::scope(|scope| {
        for _ in 0..workers.min(issues.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(n) = issues.get(i) else { break };
                    let out = std::process::Command::new(&exe)
                        .arg("start")
                        .arg(n.to_string())
                        .env(warren_env::pool::DEFER_FILL_VAR, "1")
                        .env(warren_env::WATCHER_STARTED_VAR, "1")
                        .current_dir(cwd)
                        .stdin(std::process::Stdio::null())
                        .output();
                    if let Ok(mut r) = results.lock() {
                        r[i] = Some(out);
                    }
                }
            });
        }
    });
    warren.fill_pool_in_background(cwd);
    let mut failed = false;
    for (n, out) in issues.iter().zip(results.into_inner().unwrap_or_default()) {
        match out {
            Some(Ok(o)) => {
                use std::io::Write as _;
                let _ = std::io::stdout().write_all(&o.stdout);
                let _ = std::io::stderr().write_all(&o.stderr);
                failed |= !o.status.success();
            }
            Some(Err(e)) => {
                crate::output::print_error(
                    &anyhow::Error::new(e).context(format!("cannot start issue {n}")),
                );
                failed = true;
            }
            None => failed = true,
        }
    }
    Ok(Some(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }))
}
