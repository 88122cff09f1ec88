//! `warren attach`, `warren output`, `warren send`: a session's terminal, through the
//! root's tmux server (docs/sessions.md).

use std::os::unix::process::CommandExt;
use std::process::ExitCode;
use std::time::Duration;

use crate::cli::{OutputArgs, SendArgs, SessionArgs};
use crate::commands::Ctx;
use crate::output::{printer, sanitize};

/// Attaches this terminal to the session (postAttachCommand runs first); detaching
/// leaves it running.
pub fn attach(ctx: &Ctx, args: SessionArgs) -> anyhow::Result<ExitCode> {
    let warren = ctx.warren()?;
    let s = warren.session(&args.name, args.session.as_deref())?;
    if !warren.tmux().has(&s.tmux) {
        anyhow::bail!(
            "session `{}` of `{}` is not running (`warren start {}` starts it)",
            s.name,
            args.name,
            args.name
        );
    }
    ctx.block_on(warren.post_attach(&args.name))??;
    let argv = warren.tmux().attach_argv(&s.tmux);
    let err = std::process::Command::new(&argv[0]).args(&argv[1..]).exec();
    Err(anyhow::anyhow!("cannot run tmux: {err}"))
}

/// Prints the session's history (`-n`: the last N lines; `-f`: then what follows).
pub fn output(ctx: &Ctx, args: OutputArgs) -> anyhow::Result<ExitCode> {
    let warren = ctx.warren()?;
    let s = warren.session(&args.target.name, args.target.session.as_deref())?;
    let tmux = warren.tmux();
    // What a session printed came from inside the environment.
    let text = tmux.capture(&s.tmux, args.lines)?;
    let p = printer();
    p.out(&sanitize(&text));
    if !args.follow {
        return Ok(ExitCode::SUCCESS);
    }
    let mut last: Vec<String> = text.lines().map(str::to_string).collect();
    while tmux.has(&s.tmux) {
        std::thread::sleep(Duration::from_millis(250));
        let Ok(now) = tmux.capture(&s.tmux, Some(2000)) else {
            break;
        };
        let now: Vec<String> = now.lines().map(str::to_string).collect();
        // New lines: whatever follows the longest suffix of what was printed that
        // starts the new capture's tail.
        let new = new_lines(&last, &now);
        for l in new {
            p.out(&format!("{}\n", sanitize(l)));
        }
        last = now;
    }
    Ok(ExitCode::SUCCESS)
}

/// The lines of `now` after the end of `before` (the overlap found by matching the
/// last lines of `before` in `now`); all of `now` when nothing overlaps.
fn new_lines<'a>(before: &[String], now: &'a [String]) -> &'a [String] {
    for take in (1..=before.len().min(now.len())).rev() {
        let tail = &before[before.len() - take..];
        if let Some(pos) = now.windows(take).rposition(|w| w == tail) {
            return &now[pos + take..];
        }
    }
    now
}

/// Types TEXT into the session and presses Enter.
pub fn send(ctx: &Ctx, args: SendArgs) -> anyhow::Result<ExitCode> {
    let warren = ctx.warren()?;
    let s = warren.session(&args.target.name, args.target.session.as_deref())?;
    warren.tmux().send(&s.tmux, &args.text)?;
    printer().status("Sent", &format!("to {} of {}", s.name, args.target.name));
    Ok(ExitCode::SUCCESS)
}

/// `30s`, `5m`, `1h`, `250ms`, or a number of seconds.
fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, ""), |i| (&s[..i], &s[i..]));
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    (secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// Blocks until the session is in the asked state (the root's watcher records the
/// changes as events). Exit 0 when reached, 1 on timeout (with the state then).
pub fn wait(ctx: &Ctx, args: crate::cli::WaitArgs) -> anyhow::Result<ExitCode> {
    const STATES: &[&str] = &[
        "starting", "working", "waiting", "idle", "exited", "unknown",
    ];
    if !STATES.contains(&args.until.as_str()) {
        return Err(crate::commands::UserError::msg(
            format!("unknown state `{}`", args.until),
            Some("use `--until waiting`, `idle` or `exited` (or `working`, `starting`)".into()),
        ));
    }
    let timeout = match &args.timeout {
        Some(t) => Some(parse_duration(t).ok_or_else(|| {
            crate::commands::UserError::msg(
                format!("`{t}` is not a duration"),
                Some("e.g. `--timeout 30s`, `5m`, `1h`".into()),
            )
        })?),
        None => None,
    };
    let warren = ctx.warren()?;
    let s = warren.session(&args.target.name, args.target.session.as_deref())?;
    let start = std::time::Instant::now();
    loop {
        let view = warren.view_of(&args.target.name)?;
        let Some(now) = view.sessions.into_iter().find(|v| v.name == s.name) else {
            anyhow::bail!("session `{}` is gone", s.name);
        };
        if now.state == args.until {
            printer().out(&format!(
                "{} {}: {}\n",
                s.name,
                now.state,
                sanitize(&now.reason)
            ));
            return Ok(ExitCode::SUCCESS);
        }
        if timeout.is_some_and(|t| start.elapsed() >= t) {
            printer().err_line(&format!(
                "timed out: session `{}` of `{}` is {} ({})",
                s.name,
                args.target.name,
                now.state,
                sanitize(&now.reason)
            ));
            return Ok(ExitCode::from(1));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Each session's state, reason and evidence.
pub fn explain(ctx: &Ctx, args: crate::cli::ExplainArgs) -> anyhow::Result<ExitCode> {
    let warren = ctx.warren()?;
    let list = warren.explain(&args.name)?;
    let p = printer();
    if args.json {
        p.json(&list)?;
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        p.message(&format!("`{}` has no sessions", args.name));
    }
    for e in &list {
        p.out(&format!(
            "{} ({}): {} — {}\n",
            e.session,
            e.tmux,
            e.state,
            sanitize(&e.reason)
        ));
        if let Some(q) = &e.question {
            p.out(&format!("  asks: {}\n", sanitize(q)));
        }
        for ev in &e.evidence {
            p.out(&format!("  - {}\n", sanitize(ev)));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The heartbeat: a watcher round every `--interval` seconds.
pub fn watch(ctx: &Ctx, args: crate::cli::WatchArgs) -> anyhow::Result<ExitCode> {
    let warren = ctx.warren()?;
    let mut st = warren_env::WatchState::default();
    let interval = Duration::from_secs_f64(args.interval.clamp(0.1, 3600.0));
    let mut idle_since: Option<std::time::Instant> = None;
    loop {
        let seen = warren.watch_round(&mut st)?;
        if args.once {
            return Ok(ExitCode::SUCCESS);
        }
        if args.exit_when_idle {
            if seen == 0 {
                let since = *idle_since.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() >= Duration::from_secs(5) {
                    return Ok(ExitCode::SUCCESS);
                }
            } else {
                idle_since = None;
            }
        }
        std::thread::sleep(interval);
    }
}

#[cfg(test)]
mod tests {
    use super::new_lines;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn only_new_lines_follow() {
        assert_eq!(new_lines(&v(&["a", "b"]), &v(&["a", "b", "c"])), v(&["c"]));
        assert_eq!(
            new_lines(&v(&["a", "b"]), &v(&["b", "c", "d"])),
            v(&["c", "d"])
        );
        assert_eq!(new_lines(&v(&["a"]), &v(&["x", "y"])), v(&["x", "y"]));
        assert!(new_lines(&v(&["a", "b"]), &v(&["a", "b"])).is_empty());
    }
}
