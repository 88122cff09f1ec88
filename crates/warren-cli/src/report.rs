//! Printing errors the way uv does: `error: …`, each cause on its own
//! `Caused by:` line, then `hint: …` where one is known.

use crate::printer::{Style, hint, message, paint, stderr_color};

/// The first hint any error in the chain offers.
fn find_hint(err: &anyhow::Error) -> Option<String> {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<warren_env::EnvError>()
            && let Some(h) = e.hint()
        {
            return Some(h);
        }
        if let Some(e) = cause.downcast_ref::<warren_runtime::RuntimeError>()
            && let Some(h) = e.hint()
        {
            return Some(h);
        }
        if let Some(e) = cause.downcast_ref::<warren_env::git::GitError>()
            && let Some(h) = e.hint()
        {
            return Some(h);
        }
        if let Some(e) = cause.downcast_ref::<warren_proxy::ProxyError>()
            && let Some(h) = e.hint()
        {
            return Some(h);
        }
        if let Some(e) = cause.downcast_ref::<warren_sandbox::SandboxError>()
            && let Some(h) = e.hint()
        {
            return Some(h.to_string());
        }
        if let Some(e) = cause.downcast_ref::<warren_agent::AgentError>()
            && let Some(h) = e.hint()
        {
            return Some(h.to_string());
        }
        if let Some(e) = cause.downcast_ref::<crate::commands::UserError>()
            && let Some(h) = &e.hint
        {
            return Some(h.clone());
        }
    }
    None
}

/// Prints an error with its causes and hint to stderr.
pub fn print_error(err: &anyhow::Error) {
    let c = stderr_color();
    // Config errors print their own located diagnostics.
    let config_error = err.chain().find_map(|e| {
        e.downcast_ref::<warren_config::ConfigError>().or_else(|| {
            match e.downcast_ref::<warren_env::EnvError>() {
                Some(warren_env::EnvError::Config(c)) => Some(c),
                _ => None,
            }
        })
    });
    if let Some(cfg) = config_error {
        for d in &cfg.diagnostics {
            message(&d.render(c));
        }
        let n = cfg.diagnostics.iter().filter(|d| d.is_error()).count();
        message(&format!(
            "{}: configuration has {n} error{}",
            paint(c, Style::Red, "error"),
            if n == 1 { "" } else { "s" }
        ));
        return;
    }
    message(&format!("{}: {err}", paint(c, Style::Red, "error")));
    let mut last = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        // `#[error(transparent)]` wrappers repeat their source's message.
        if text == last {
            continue;
        }
        message(&format!("  {} {text}", paint(c, Style::Dim, "Caused by:")));
        last = text;
    }
    if let Some(h) = find_hint(err) {
        hint(&h);
    }
}
