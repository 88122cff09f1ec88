//! Errors the way uv prints them: `error: …`, each cause on its own
//! `Caused by:` line, then the first `hint:` any error in the chain offers.
//! Configuration errors print their located diagnostics instead.

use warren_core::Hint;

use super::{Stream, Style, printer, wrap};

/// The first hint of the chain, asking each cause once.
fn find_hint(err: &anyhow::Error) -> Option<String> {
    /// Tries `cause` as each error type that can hint.
    macro_rules! ask {
        ($cause:expr, $($t:ty),+ $(,)?) => {
            $(if let Some(e) = $cause.downcast_ref::<$t>() {
                if let Some(h) = e.hint() {
                    return Some(h);
                }
                continue;
            })+
        };
    }
    for cause in err.chain() {
        ask!(
            cause,
            crate::commands::UserError,
            warren_env::EnvError,
            warren_env::git::GitError,
            warren_runtime::RuntimeError,
            warren_sandbox::SandboxError,
            warren_proxy::ProxyError,
            warren_agent::AgentError,
            warren_core::NameError,
            warren_core::envpipe::EnvPipeError,
        );
    }
    None
}

/// Prints an error with its causes and hint to stderr (`--quiet` too).
pub fn print_error(err: &anyhow::Error) {
    let p = printer();
    let c = p.color(Stream::Err);
    let config = err.chain().find_map(|e| {
        e.downcast_ref::<warren_config::ConfigError>().or_else(|| {
            match e.downcast_ref::<warren_env::EnvError>() {
                Some(warren_env::EnvError::Config(c)) => Some(c),
                _ => None,
            }
        })
    });
    if let Some(cfg) = config {
        for d in &cfg.diagnostics {
            p.err_line(&d.render(c));
        }
        let n = cfg.diagnostics.iter().filter(|d| d.is_error()).count();
        p.err_line(&format!(
            "{}: configuration has {}",
            p.paint(Stream::Err, Style::Red, "error"),
            super::plural(n, "error", "errors")
        ));
        return;
    }
    let width = if p.err_is_terminal() {
        wrap::terminal_width()
    } else {
        None
    };
    p.err_line(&format!(
        "{}: {}",
        p.paint(Stream::Err, Style::Red, "error"),
        wrap::wrap(&err.to_string(), 7, width)
    ));
    let mut last = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        // `#[error(transparent)]` wrappers repeat their source's message.
        if text == last {
            continue;
        }
        p.err_line(&format!(
            "  {} {}",
            p.paint(Stream::Err, Style::Dim, "Caused by:"),
            wrap::wrap(&text, 13, width)
        ));
        last = text;
    }
    if let Some(h) = find_hint(err) {
        p.hint(&h);
    }
}
