//! The one place that decides what goes where: data to stdout, messages and
//! progress to stderr; colour only on a terminal and never with `NO_COLOR`.
//! Colours keep one meaning each: green ok, yellow warning, red error, cyan
//! hints, names and paths.

use std::io::{IsTerminal, Write};

/// Terminal styles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Green,
    Yellow,
    Red,
    Cyan,
    Bold,
    Dim,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::Green => "32",
            Style::Yellow => "33",
            Style::Red => "31",
            Style::Cyan => "36",
            Style::Bold => "1",
            Style::Dim => "2",
        }
    }
}

/// Whether stderr gets colour.
pub fn stderr_color() -> bool {
    std::env::var_os(warren_core::vars::NO_COLOR).is_none_or(|v| v.is_empty())
        && std::io::stderr().is_terminal()
}

/// Whether stdout gets colour.
pub fn stdout_color() -> bool {
    std::env::var_os(warren_core::vars::NO_COLOR).is_none_or(|v| v.is_empty())
        && std::io::stdout().is_terminal()
}

/// `text` in `style` when `color`.
pub fn paint(color: bool, style: Style, text: &str) -> String {
    if color {
        format!("\x1b[{}m{text}\x1b[0m", style.code())
    } else {
        text.to_string()
    }
}

/// Prints a message line to stderr.
pub fn message(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// `warning: …` to stderr.
pub fn warning(text: &str) {
    let c = stderr_color();
    message(&format!("{}: {text}", paint(c, Style::Yellow, "warning")));
}

/// `hint: …` to stderr.
pub fn hint(text: &str) {
    let c = stderr_color();
    message(&format!("{}: {text}", paint(c, Style::Cyan, "hint")));
}

/// Writes data to stdout. A closed pipe (`warren ls | head`) ends the
/// process quietly with success instead of a panic.
pub fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush())
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

/// A left-aligned text table; the last column is not padded.
pub fn table(headers: &[&str], rows: &[Vec<String>], color: bool) -> String {
    let cols = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, cell) in r.iter().enumerate().take(cols) {
            widths[i] = widths[i].max(visible_len(cell));
        }
    }
    let mut s = String::new();
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    let head_line = line(&header, &widths);
    s.push_str(&paint(color, Style::Bold, &head_line));
    s.push('\n');
    for r in rows {
        s.push_str(&line(r, &widths));
        s.push('\n');
    }
    s
}

fn line(cells: &[String], widths: &[usize]) -> String {
    let mut l = String::new();
    for (i, cell) in cells.iter().enumerate() {
        l.push_str(cell);
        if i + 1 < cells.len() {
            let pad = widths[i].saturating_sub(visible_len(cell)) + 2;
            l.push_str(&" ".repeat(pad));
        }
    }
    l.trim_end().to_string()
}

/// Length without ANSI escapes.
fn visible_len(s: &str) -> usize {
    let mut n = 0;
    let mut in_esc = false;
    for c in s.chars() {
        if in_esc {
            if c == 'm' {
                in_esc = false;
            }
        } else if c == '\x1b' {
            in_esc = true;
        } else {
            n += 1;
        }
    }
    n
}

/// `3s`, `5m`, `2h`, `4d`.
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// `~/…` for paths under the home directory.
pub fn tilde(path: &str) -> String {
    match std::env::var("HOME") {
        Ok(home) if !home.is_empty() && path.starts_with(&home) => {
            format!("~{}", &path[home.len()..])
        }
        _ => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_ignoring_colour() {
        let rows = vec![
            vec![
                "a".to_string(),
                paint(true, Style::Green, "running"),
                "x".into(),
            ],
            vec!["long-name".to_string(), "gone".into(), "".into()],
        ];
        let t = table(&["NAME", "STATE", "SERVICES"], &rows, false);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "NAME       STATE    SERVICES");
        assert_eq!(lines[2], "long-name  gone");
        assert!(lines[1].starts_with("a          \x1b[32mrunning\x1b[0m  x"));
    }

    #[test]
    fn ages() {
        assert_eq!(age(5), "5s");
        assert_eq!(age(125), "2m");
        assert_eq!(age(7200), "2h");
        assert_eq!(age(90_000), "1d");
    }
}
