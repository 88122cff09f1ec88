//! `warren conflicts [NAME…] [--into BRANCH] [--json]`: exit 0 when nothing
//! would conflict, 1 when something would.

use std::fmt::Write as _;
use std::process::ExitCode;

use warren_env::review::conflicts::{ConflictFile, Pair, Report};

use crate::cli::ConflictsArgs;
use crate::commands::Ctx;
use crate::output::{Stream, Style, plural, printer, sanitize};

pub fn conflicts(ctx: &Ctx, args: ConflictsArgs) -> anyhow::Result<ExitCode> {
    let warren = ctx
        .warren()?
        .with_feed(super::feed_mode(warren_env::FeedMode::Start));
    let p = printer();
    let dir = std::env::current_dir()?;
    let report = warren.conflicts(&dir, &args.names, args.into.as_deref())?;
    let code = if report.has_conflicts() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    };
    if args.json {
        p.json(&report)?;
        return Ok(code);
    }
    for e in &report.environments {
        if let Some(err) = &e.error {
            p.warning(&format!("{} is left out: {}", inert(&e.name), inert(err)));
        }
    }
    p.out(&render(&report, &|style, text: &str| {
        p.paint(Stream::Out, style, text)
    }));
    Ok(code)
}

/// The report as text; every name and line from an environment made inert.
fn render(r: &Report, paint: &dyn Fn(Style, &str) -> String) -> String {
    let mut s = String::new();
    let checked = r.environments.iter().filter(|e| e.error.is_none()).count();
    let target = r
        .target
        .as_ref()
        .map(|t| {
            format!(
                "{} ({})",
                inert(&t.label()),
                t.commit.chars().take(12).collect::<String>()
            )
        })
        .unwrap_or_else(|| "none".into());
    let _ = writeln!(
        s,
        "{} of project {}; target {}",
        plural(checked, "environment", "environments"),
        inert(&r.project),
        target
    );
    if r.pairs.is_empty() && r.against_target.is_empty() {
        let _ = writeln!(
            s,
            "\nNo two environments changed the same file, and none changed a file the target changed."
        );
        return s;
    }
    let all: Vec<&Pair> = r.pairs.iter().chain(&r.against_target).collect();
    if !all.is_empty() {
        let _ = writeln!(s, "\nTouching the same files:");
        for pair in &all {
            let verdict = if pair.conflicts.is_empty() {
                paint(Style::Green, "merge cleanly")
            } else {
                paint(Style::Red, "conflict")
            };
            let shown: Vec<String> = pair.files.iter().take(5).map(|f| inert(f)).collect();
            let more = pair.files.len().saturating_sub(shown.len());
            let _ = writeln!(
                s,
                "  {}  {}: {}{}",
                who(pair),
                verdict,
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            );
        }
    }
    let conflicted: Vec<&&Pair> = all.iter().filter(|p| !p.conflicts.is_empty()).collect();
    for pair in &conflicted {
        let _ = writeln!(
            s,
            "\n{} {}: {} would conflict",
            paint(Style::Red, "✗"),
            who(pair),
            plural(pair.conflicts.len(), "file", "files")
        );
        for f in &pair.conflicts {
            file(&mut s, f, paint);
        }
    }
    let _ = writeln!(
        s,
        "\n{}",
        if conflicted.is_empty() {
            "Nothing would conflict.".to_string()
        } else {
            format!(
                "{} would conflict.",
                plural(conflicted.len(), "pair", "pairs")
            )
        }
    );
    s
}

/// `a ↔ b`, or `a ↔ main (target)`.
fn who(p: &Pair) -> String {
    format!(
        "{} ↔ {}{}",
        inert(&p.a),
        inert(&p.b),
        if p.target { " (target)" } else { "" }
    )
}

fn file(s: &mut String, f: &ConflictFile, paint: &dyn Fn(Style, &str) -> String) {
    let kinds = if f.kinds.is_empty() {
        String::new()
    } else {
        format!(" ({})", inert(&f.kinds.join(", ")))
    };
    let _ = writeln!(s, "  {}{kinds}", paint(Style::Bold, &inert(&f.path)));
    if f.hunks.is_empty() {
        for m in &f.messages {
            let _ = writeln!(s, "    {}", inert(m));
        }
    }
    for h in &f.hunks {
        for line in &h.lines {
            let _ = writeln!(s, "    {}", inert_line(line));
        }
        if h.more_lines > 0 {
            let _ = writeln!(
                s,
                "    {}",
                paint(
                    Style::Dim,
                    &format!("… {} more", plural(h.more_lines, "line", "lines"))
                )
            );
        }
    }
    if f.more_hunks > 0 {
        let _ = writeln!(
            s,
            "    {}",
            paint(
                Style::Dim,
                &format!(
                    "… {} more conflict {}",
                    f.more_hunks,
                    if f.more_hunks == 1 {
                        "region"
                    } else {
                        "regions"
                    }
                )
            )
        );
    }
}

/// A name or message from an environment, one inert line: control
/// characters (escape, newline, …) and bidirectional overrides shown as
/// escapes, never sent to the terminal.
fn inert(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x1b' => out.push_str("\\e"),
            c if c.is_control() || is_bidi(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    sanitize(&out)
}

/// A line of a file from an environment: tabs stay.
fn inert_line(line: &str) -> String {
    line.split('\t').map(inert).collect::<Vec<_>>().join("\t")
}

fn is_bidi(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_lines_are_inert() {
        assert_eq!(inert("a\nb\x1b]52;c;aGk=\x07"), "a\\nb\\e]52;c;aGk=\\u{7}");
        assert_eq!(inert("\x1b[31mred"), "\\e[31mred");
        assert_eq!(inert("--output=x"), "--output=x");
        assert_eq!(inert("rtl\u{202e}txt"), "rtl\\u{202e}txt");
        assert_eq!(inert_line("\tx\x1b[2J"), "\tx\\e[2J");
    }
}
