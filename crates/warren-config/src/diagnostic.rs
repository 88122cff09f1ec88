//! Diagnostics: what is wrong in which file at which line and column, with
//! a hint and the offending source line, rendered like rustc and uv. Also
//! [`ConfigError`] (a failed load) and [`Loaded`] (a value plus warnings).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::node::Span;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    /// `error` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// Where a diagnostic comes from: a file position, an environment variable
/// or a command-line argument.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "lowercase")]
pub enum Origin {
    /// A config file; [`Diagnostic::line`] and [`Diagnostic::col`] point into it.
    File(PathBuf),
    /// An environment variable such as `WARREN_PROXY_PORT`.
    Env(String),
    /// A command-line flag or argument such as `--type`.
    Arg(String),
}

/// One problem found in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The file, variable or argument at fault.
    pub origin: Origin,
    /// 1-based line in the file (0 when the origin is not a file or the
    /// problem concerns the whole file).
    pub line: u32,
    /// 1-based column (characters) in the file (0 as for `line`).
    pub col: u32,
    /// How many characters to underline (0: to the end of the line).
    pub width: u32,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when there is something specific to say.
    pub hint: Option<String>,
    /// The source line at `line`, for display.
    pub snippet: Option<String>,
}

impl Diagnostic {
    /// A diagnostic with no position.
    pub fn new(severity: Severity, origin: Origin, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity,
            origin,
            line: 0,
            col: 0,
            width: 0,
            message: message.into(),
            hint: None,
            snippet: None,
        }
    }

    /// An error about a whole file (no line).
    pub fn file_error(path: &Path, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Error, Origin::File(path.to_path_buf()), message)
    }

    /// An error about an environment variable.
    pub fn env_error(var: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Error, Origin::Env(var.to_string()), message)
    }

    /// An error about a command-line argument.
    pub fn arg_error(arg: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Error, Origin::Arg(arg.to_string()), message)
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a hint when there is one.
    pub fn with_opt_hint(mut self, hint: Option<String>) -> Diagnostic {
        self.hint = hint;
        self
    }

    /// Whether this is an error (not a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The file the diagnostic is about, if any.
    pub fn file(&self) -> Option<&Path> {
        match &self.origin {
            Origin::File(p) => Some(p),
            _ => None,
        }
    }

    /// `path:line:col`, `$VAR` or `--flag`: where to look.
    pub fn location(&self) -> String {
        match &self.origin {
            Origin::File(p) if self.line > 0 => {
                format!("{}:{}:{}", p.display(), self.line, self.col)
            }
            Origin::File(p) => p.display().to_string(),
            Origin::Env(var) => format!("${var}"),
            Origin::Arg(arg) => arg.clone(),
        }
    }

    /// Renders the diagnostic for a terminal, rustc/uv style:
    ///
    /// ```text
    /// error: unknown key `imgae` in .warren.yaml
    ///   --> /path/.warren.yaml:3:3
    ///    |
    ///  3 |   imgae: foo
    ///    |   ^^^^^
    ///    = hint: did you mean `image`?
    /// ```
    pub fn render(&self, color: bool) -> String {
        let paint = |code: &str, text: &str| {
            if color {
                format!("\x1b[{code}m{text}\x1b[0m")
            } else {
                text.to_string()
            }
        };
        let (sev_code, caret_code) = match self.severity {
            Severity::Error => ("1;31", "1;31"),
            Severity::Warning => ("1;33", "1;33"),
        };
        let mut out = String::new();
        out.push_str(&paint(sev_code, self.severity.as_str()));
        out.push_str(&paint("1", ":"));
        out.push(' ');
        out.push_str(&paint("1", &self.message));
        out.push('\n');

        let gutter = if self.line > 0 && self.snippet.is_some() {
            self.line.to_string().len() + 1
        } else {
            2
        };
        let pad = " ".repeat(gutter);
        let bar = paint("2", "|");
        let location = match &self.origin {
            Origin::Env(var) => format!("environment variable `{var}`"),
            Origin::Arg(arg) => format!("command-line argument `{arg}`"),
            Origin::File(_) => self.location(),
        };
        out.push_str(&format!(
            "{pad}{} {}\n",
            paint("2", "-->"),
            paint("36", &location)
        ));

        if let (Some(snippet), true) = (&self.snippet, self.line > 0) {
            let (text, caret_start) = expand_tabs(snippet, self.col.saturating_sub(1) as usize);
            let text = text.trim_end();
            let width = if self.width == 0 {
                text.chars().count().saturating_sub(caret_start).max(1)
            } else {
                self.width as usize
            };
            out.push_str(&format!("{pad} {bar}\n"));
            let number = format!("{:>gutter$}", self.line);
            out.push_str(&format!("{} {bar} {text}\n", paint("2", &number)));
            out.push_str(&format!(
                "{pad} {bar} {}{}\n",
                " ".repeat(caret_start),
                paint(caret_code, &"^".repeat(width))
            ));
        }
        if let Some(hint) = &self.hint {
            out.push_str(&format!("{pad} = {}{hint}\n", paint("36", "hint: ")));
        }
        out
    }
}

/// Expands tabs to 4 spaces and maps a character column to the expanded one.
fn expand_tabs(line: &str, col: usize) -> (String, usize) {
    let mut out = String::new();
    let mut mapped = None;
    for (i, c) in line.chars().enumerate() {
        if i == col {
            mapped = Some(out.chars().count());
        }
        if c == '\t' {
            out.push_str("    ");
        } else {
            out.push(c);
        }
    }
    let len = out.chars().count();
    (out, mapped.unwrap_or(len))
}

impl fmt::Display for Diagnostic {
    /// `path:line:col: message` (or `$VAR: message`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location(), self.message)
    }
}

/// Configuration could not be loaded: every problem found (errors, and the
/// warnings collected alongside them), in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub diagnostics: Vec<Diagnostic>,
}

impl ConfigError {
    /// Wraps diagnostics (which should contain at least one error).
    pub fn new(mut diagnostics: Vec<Diagnostic>) -> ConfigError {
        sort_diagnostics(&mut diagnostics);
        ConfigError { diagnostics }
    }

    /// A single diagnostic.
    pub fn one(diagnostic: Diagnostic) -> ConfigError {
        ConfigError {
            diagnostics: vec![diagnostic],
        }
    }

    /// Only the errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    /// Every diagnostic rendered (see [`Diagnostic::render`]), one blank line apart.
    pub fn render(&self, color: bool) -> String {
        self.diagnostics
            .iter()
            .map(|d| d.render(color))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut errors = self.errors();
        match errors.next() {
            None => f.write_str("invalid configuration"),
            Some(first) => {
                write!(f, "{first}")?;
                let more = errors.count();
                if more > 0 {
                    write!(
                        f,
                        " (and {more} more error{})",
                        if more == 1 { "" } else { "s" }
                    )?;
                }
                Ok(())
            }
        }
    }
}

/// Sorts diagnostics by origin, then line and column (stable otherwise).
pub(crate) fn sort_diagnostics(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| (&a.origin, a.line, a.col).cmp(&(&b.origin, b.line, b.col)));
}

/// A loaded value with the warnings found while loading it.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<T> {
    pub value: T,
    pub warnings: Vec<Diagnostic>,
    /// The file the value was read from (None: nothing was read, defaults).
    pub path: Option<PathBuf>,
}

impl<T> Loaded<T> {
    /// Transforms the value, keeping warnings and path.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Loaded<U> {
        Loaded {
            value: f(self.value),
            warnings: self.warnings,
            path: self.path,
        }
    }
}

/// The text of a config file, to point diagnostics into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Source {
    pub path: PathBuf,
    pub text: Arc<str>,
}

impl Source {
    pub fn new(path: &Path, text: &str) -> Source {
        Source {
            path: path.to_path_buf(),
            text: Arc::from(text),
        }
    }

    /// The file name for messages (`.warren.yaml`).
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path.display().to_string())
    }

    /// A diagnostic at `span` with the source line as snippet.
    pub fn diag(&self, severity: Severity, span: Span, message: impl Into<String>) -> Diagnostic {
        let snippet = (span.line > 0)
            .then(|| self.text.lines().nth(span.line as usize - 1))
            .flatten()
            .map(str::to_string);
        Diagnostic {
            severity,
            origin: Origin::File(self.path.clone()),
            line: span.line,
            col: span.col,
            width: span.width(),
            message: message.into(),
            hint: None,
            snippet,
        }
    }

    pub fn error(&self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.diag(Severity::Error, span, message)
    }

    pub fn warning(&self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.diag(Severity::Warning, span, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_rustc() {
        let src = Source::new(
            Path::new("/path/.warren.yaml"),
            "types:\n  x:\n  imgae: foo\n",
        );
        let d = src
            .error(Span::new(3, 3, 5), "unknown key `imgae` in .warren.yaml")
            .with_hint("did you mean `image`?");
        assert_eq!(
            d.render(false),
            "error: unknown key `imgae` in .warren.yaml
  --> /path/.warren.yaml:3:3
   |
 3 |   imgae: foo
   |   ^^^^^
   = hint: did you mean `image`?
"
        );
        assert_eq!(
            d.to_string(),
            "/path/.warren.yaml:3:3: unknown key `imgae` in .warren.yaml"
        );
        assert!(d.render(true).contains("\x1b[1;31merror\x1b[0m"));
    }

    #[test]
    fn wide_line_numbers_widen_the_gutter() {
        let text = "\n".repeat(11) + "\tkey: 1\n";
        let src = Source::new(Path::new("f.yaml"), &text);
        let d = src.warning(Span::new(12, 2, 3), "odd");
        assert_eq!(
            d.render(false),
            "warning: odd
   --> f.yaml:12:2
    |
 12 |     key: 1
    |     ^^^
"
        );
    }

    #[test]
    fn env_errors_name_the_variable() {
        let d = Diagnostic::env_error("WARREN_PROXY_PORT", "bad port `abc`")
            .with_hint("set it to a number");
        assert_eq!(d.to_string(), "$WARREN_PROXY_PORT: bad port `abc`");
        assert_eq!(
            d.render(false),
            "error: bad port `abc`
  --> environment variable `WARREN_PROXY_PORT`
   = hint: set it to a number
"
        );
    }

    #[test]
    fn config_error_display_counts() {
        let a = Diagnostic::file_error(Path::new("a"), "one");
        let b = Diagnostic::file_error(Path::new("b"), "two");
        let w = Diagnostic::new(Severity::Warning, Origin::Arg("--x".into()), "meh");
        let e = ConfigError::new(vec![b, w, a]);
        assert_eq!(e.to_string(), "a: one (and 1 more error)");
        assert_eq!(e.errors().count(), 2);
    }
}
