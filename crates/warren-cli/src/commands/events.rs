//! `warren events [-f] [--json] [--env NAME] [--notify]`: the event stream
//! from the store. Following polls the store every 200 ms (a `PRAGMA
//! data_version` read when nothing changed), which costs no daemon and sees
//! events from every warren process. Event text can come from inside an
//! environment: shown sanitized, on one line.

use std::process::ExitCode;
use std::time::Duration;

use warren_env::notify;
use warren_store::{Event, Store};

use crate::cli::EventsArgs;
use crate::commands::Ctx;
use crate::output::{Stream, Style, printer, sanitize};

/// How often `-f` looks for new events.
const POLL: Duration = Duration::from_millis(200);

pub fn events(ctx: &Ctx, args: EventsArgs) -> anyhow::Result<ExitCode> {
    let settings = ctx.settings()?;
    let config = settings.global.notify.clone();
    let store = Store::open(&settings.root)?;
    let p = printer();
    // Read before anything else: a commit after this point changes it, so an event
    // written while the past ones print is seen by the loop below (reading it after
    // printing missed such an event until the next write).
    let mut version = store.data_version()?;
    if args.notify {
        if config.command.is_none() && config.webhook.is_none() {
            p.warning("`--notify` has nothing to deliver: `notify:` in `config.yaml` sets no `command` or `webhook`");
        }
        // Places this consumer's cursor at the end on first use.
        notify::pump(&store, &config)?;
    }
    let past = store.recent_events(args.env.as_deref(), args.tail.max(0))?;
    let mut cursor = past.last().map(|e| e.id).unwrap_or(0);
    if !args.follow || past.is_empty() {
        cursor = cursor.max(store.last_event_id()?);
    }
    for e in &past {
        print(&args, e)?;
    }
    if !args.follow {
        if past.is_empty() && !args.json {
            p.message("no events yet");
        }
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        std::thread::sleep(POLL);
        let v = store.data_version()?;
        if v == version {
            continue;
        }
        version = v;
        loop {
            let batch = match &args.env {
                Some(env) => store.events_of(env, cursor, 500)?,
                None => store.events_after(cursor, 500)?,
            };
            for e in &batch {
                print(&args, e)?;
                if config.bell && notify::wants(e, &config) {
                    p.bell();
                }
            }
            match batch.last() {
                Some(last) => cursor = last.id,
                None => break,
            }
            if batch.len() < 500 {
                break;
            }
        }
        if args.notify {
            notify::pump(&store, &config)?;
        }
    }
}

fn print(args: &EventsArgs, e: &Event) -> anyhow::Result<()> {
    let p = printer();
    if args.json {
        // JSON escapes every control character: nothing reaches the
        // terminal raw.
        p.out(&format!("{}\n", serde_json::to_string(e)?));
        return Ok(());
    }
    p.out(&format!("{}\n", line(e)));
    Ok(())
}

/// `TIME  KIND  ENV[/SESSION]  FROM → TO  REASON: MESSAGE`.
fn line(e: &Event) -> String {
    let p = printer();
    let time = warren_core::time::rfc3339(e.time_ms.div_euclid(1000));
    let who = match &e.session {
        Some(s) => format!("{}/{}", one_line(&e.env), one_line(s)),
        None => one_line(&e.env),
    };
    let change = match (&e.from, &e.to) {
        (Some(f), Some(t)) => format!("{} → {}", one_line(f), one_line(t)),
        (None, Some(t)) => one_line(t),
        _ => String::new(),
    };
    let style = match e.to.as_deref() {
        Some("waiting") => Style::Yellow,
        Some("exited" | "gone" | "failed") => Style::Red,
        Some("running" | "working") => Style::Green,
        _ => Style::Dim,
    };
    let why: Vec<String> = [&e.reason, &e.message]
        .into_iter()
        .flatten()
        .map(|t| one_line(t))
        .filter(|t| !t.is_empty())
        .collect();
    let pad = |s: String, w: usize| {
        let n = s.chars().count();
        format!("{s}{}", " ".repeat(w.saturating_sub(n)))
    };
    let mut l = format!(
        "{}  {}  {}  {}",
        p.paint(Stream::Out, Style::Dim, &time),
        pad(one_line(&e.kind), 15),
        p.paint(Stream::Out, Style::Cyan, &pad(who, 20)),
        p.paint(Stream::Out, style, &pad(change, 19)),
    );
    if !why.is_empty() {
        l.push_str("  ");
        l.push_str(&why.join(": "));
    }
    l.trim_end().to_string()
}

/// Untrusted text as one line, without control sequences or colours.
fn one_line(text: &str) -> String {
    notify::plain(&sanitize(text))
}
