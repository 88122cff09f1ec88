//! The one place that decides what goes where: data to stdout; progress,
//! messages, warnings, errors and hints to stderr. Colour only where the
//! stream is a terminal (or `--color always`), never with `NO_COLOR` under
//! `--color auto`; `--quiet` keeps data, warnings and errors only. Colours keep
//! one meaning each: green ok, yellow warning, red error, cyan hints, names
//! and paths. Nothing else in warren prints (clippy's `print_stdout` and
//! `print_stderr` are denied outside this module).

mod progress;
mod report;
mod sanitize;
mod wrap;

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

pub use progress::CliReporter;
pub use report::print_error;
pub use sanitize::sanitize;

use crate::cli::ColorChoice;

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

/// Where a line goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
}

/// How this process prints.
#[derive(Debug)]
pub struct Printer {
    out_color: bool,
    err_color: bool,
    err_tty: bool,
    quiet: bool,
}

static PRINTER: OnceLock<Printer> = OnceLock::new();

/// Sets up the printer from the global flags; call once, first thing.
pub fn init(choice: ColorChoice, quiet: bool, no_color: bool) {
    let decide = |tty: bool| match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => tty && !no_color,
    };
    let err_tty = std::io::stderr().is_terminal();
    let _ = PRINTER.set(Printer {
        out_color: decide(std::io::stdout().is_terminal()),
        err_color: decide(err_tty),
        err_tty,
        quiet,
    });
}

/// The printer ([`init`]ed, or plain defaults before that).
pub fn printer() -> &'static Printer {
    PRINTER.get_or_init(|| Printer {
        out_color: false,
        err_color: false,
        err_tty: false,
        quiet: false,
    })
}

impl Printer {
    /// `--quiet`.
    pub fn quiet(&self) -> bool {
        self.quiet
    }

    /// Whether `stream` gets colour.
    pub fn color(&self, stream: Stream) -> bool {
        match stream {
            Stream::Out => self.out_color,
            Stream::Err => self.err_color,
        }
    }

    /// Whether stderr is a terminal (progress is drawn there, not logged).
    pub fn err_is_terminal(&self) -> bool {
        self.err_tty
    }

    /// `text` in `style` where `stream` gets colour.
    pub fn paint(&self, stream: Stream, style: Style, text: &str) -> String {
        if self.color(stream) {
            format!("\x1b[{}m{text}\x1b[0m", style.code())
        } else {
            text.to_string()
        }
    }

    /// Data to stdout. A closed pipe (`warren ls | head`) ends the process
    /// quietly with success, as ripgrep does.
    pub fn out(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        if let Err(e) = stdout
            .write_all(text.as_bytes())
            .and_then(|_| stdout.flush())
            && e.kind() == std::io::ErrorKind::BrokenPipe
        {
            std::process::exit(0);
        }
    }

    /// A value as pretty JSON on stdout.
    pub fn json(&self, value: &impl serde::Serialize) -> anyhow::Result<()> {
        self.out(&format!("{}\n", serde_json::to_string_pretty(value)?));
        Ok(())
    }

    /// A line to stderr, whatever `--quiet` says (diagnostics, errors).
    pub fn err_line(&self, line: &str) {
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }

    /// A message to stderr, unless `--quiet`.
    pub fn message(&self, line: &str) {
        if !self.quiet {
            self.err_line(line);
        }
    }

    /// `Verb rest`, the verb in green: what a command did.
    pub fn status(&self, verb: &str, rest: &str) {
        self.message(&format!(
            "{} {rest}",
            self.paint(Stream::Err, Style::Green, verb)
        ));
    }

    /// `label: text`, wrapped to the terminal, to stderr.
    fn labelled(&self, label: &str, style: Style, text: &str) {
        let width = if self.err_tty {
            wrap::terminal_width()
        } else {
            None
        };
        let body = wrap::wrap(text, label.len() + 2, width);
        self.err_line(&format!(
            "{}: {body}",
            self.paint(Stream::Err, style, label)
        ));
    }

    /// The terminal bell on stderr (a notification in `warren events -f`).
    pub fn bell(&self) {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(b"\x07").and_then(|_| err.flush());
    }

    /// `warning: …` (shown under `--quiet` too).
    pub fn warning(&self, text: &str) {
        self.labelled("warning", Style::Yellow, text);
    }

    /// `hint: …`.
    pub fn hint(&self, text: &str) {
        self.labelled("hint", Style::Cyan, text);
    }

    /// A left-aligned text table for `stream`; the last column is not padded.
    pub fn table(&self, stream: Stream, headers: &[&str], rows: &[Vec<String>]) -> String {
        let cols = headers.len();
        let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
        for r in rows {
            for (i, cell) in r.iter().enumerate().take(cols) {
                widths[i] = widths[i].max(visible_len(cell));
            }
        }
        let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
        let mut s = self.paint(stream, Style::Bold, &line(&header, &widths));
        s.push('\n');
        for r in rows {
            s.push_str(&line(r, &widths));
            s.push('\n');
        }
        s
    }
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

/// Length in characters, without colour escapes.
pub fn visible_len(s: &str) -> usize {
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

/// `~/…` for paths under `home`.
pub fn tilde(path: &str, home: Option<&std::path::Path>) -> String {
    match home.map(|h| h.to_string_lossy()) {
        Some(home) if !home.is_empty() && path.starts_with(&*home) => {
            format!("~{}", &path[home.len()..])
        }
        _ => path.to_string(),
    }
}

/// `1 file`, `3 files`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn colored() -> Printer {
        Printer {
            out_color: true,
            err_color: true,
            err_tty: false,
            quiet: false,
        }
    }

    #[test]
    fn tables_align_ignoring_colour() {
        let p = colored();
        let rows = vec![
            vec![
                "a".to_string(),
                p.paint(Stream::Out, Style::Green, "running"),
                "x".into(),
            ],
            vec!["long-name".to_string(), "gone".into(), "".into()],
        ];
        let plain = Printer {
            out_color: false,
            ..colored()
        };
        let t = plain.table(Stream::Out, &["NAME", "STATE", "SERVICES"], &rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "NAME       STATE    SERVICES");
        assert_eq!(lines[2], "long-name  gone");
        assert!(lines[1].starts_with("a          \x1b[32mrunning\x1b[0m  x"));
    }

    #[test]
    fn ages_plurals_and_home() {
        assert_eq!(age(5), "5s");
        assert_eq!(age(125), "2m");
        assert_eq!(age(7200), "2h");
        assert_eq!(age(90_000), "1d");
        assert_eq!(plural(1, "file", "files"), "1 file");
        assert_eq!(plural(2, "file", "files"), "2 files");
        assert_eq!(
            tilde("/home/u/x", Some(std::path::Path::new("/home/u"))),
            "~/x"
        );
    }
}
