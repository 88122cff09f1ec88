//! [`CliReporter`]: what the environment layer reports, for a person. On a
//! terminal the current step is one spinner line that the next step
//! replaces and that clears itself when the work is done (as uv's do), and
//! pulls show a bar; elsewhere (logs, CI) each step is one `· step` line.
//! `--quiet` shows neither.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use warren_env::EnvView;
use warren_env::reporter::Reporter;
use warren_runtime::{Progress, Stream as OutputStream};

use super::{Stream, Style, printer, sanitize, tilde};

/// Prints the environment layer's progress on stderr.
pub struct CliReporter {
    /// The user's home, shown as `~`.
    home: Option<std::path::PathBuf>,
    bar: Mutex<Option<ProgressBar>>,
    layers: Mutex<HashMap<String, (u64, u64)>>,
}

impl CliReporter {
    pub fn new(home: Option<std::path::PathBuf>) -> CliReporter {
        CliReporter {
            home,
            bar: Mutex::new(None),
            layers: Mutex::new(HashMap::new()),
        }
    }

    /// Whether progress is drawn (a terminal, not `--quiet`).
    fn live(&self) -> bool {
        let p = printer();
        p.err_is_terminal() && !p.quiet()
    }

    /// Clears the spinner (before a command prints its result).
    pub fn clear(&self) {
        if let Ok(mut bar) = self.bar.lock()
            && let Some(b) = bar.take()
        {
            b.finish_and_clear();
        }
    }

    /// A line above the spinner (or plain, without one).
    fn line(&self, line: &str) {
        match self.bar.lock().ok().and_then(|b| b.clone()) {
            Some(bar) => bar.suspend(|| printer().err_line(line)),
            None => printer().err_line(line),
        }
    }

    fn spinner(&self, msg: String) {
        let Ok(mut bar) = self.bar.lock() else { return };
        let b = bar.get_or_insert_with(|| {
            let b = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner:.cyan} {msg}") {
                b.set_style(style);
            }
            b.enable_steady_tick(Duration::from_millis(80));
            b
        });
        b.set_message(msg);
    }
}

impl Reporter for CliReporter {
    fn step(&self, step: &str) {
        tracing::debug!(step, "step");
        let p = printer();
        if p.quiet() {
            return;
        }
        if self.live() {
            self.spinner(step.to_string());
        } else {
            p.err_line(&p.paint(Stream::Err, Style::Dim, &format!("· {step}")));
        }
    }

    fn progress(&self, progress: &Progress) {
        let p = printer();
        if p.quiet() {
            return;
        }
        match progress {
            Progress::Message(m) => self.step(m),
            Progress::BuildLine(l) => self.line(&format!(
                "{} {}",
                p.paint(Stream::Err, Style::Cyan, "[build]"),
                sanitize(l)
            )),
            Progress::Pull {
                layer,
                status,
                current,
                total,
            } => {
                if !self.live() {
                    if status.starts_with("Pull complete") || status.starts_with("Status:") {
                        p.err_line(&format!("[pull] {layer} {status}"));
                    }
                    return;
                }
                let (Ok(mut layers), Ok(mut bar)) = (self.layers.lock(), self.bar.lock()) else {
                    return;
                };
                if let (Some(c), Some(t)) = (current, total) {
                    layers.insert(layer.clone(), (*c, *t));
                }
                let (done, all) = layers
                    .values()
                    .fold((0, 0), |(d, a), (c, t)| (d + c, a + t));
                if let Some(b) = bar.take() {
                    b.finish_and_clear();
                }
                let b = ProgressBar::new(all.max(1));
                if let Ok(style) = ProgressStyle::with_template(
                    "pulling {bar:30.cyan/dim} {bytes}/{total_bytes} {msg}",
                ) {
                    b.set_style(style);
                }
                b.set_position(done);
                b.set_message(status.clone());
                *bar = Some(b);
            }
        }
    }

    fn output(&self, step: &str, stream: OutputStream, line: &str) {
        // Command output stays, also under `--quiet`: it is what failed when
        // a step fails. It comes from inside the environment: no control
        // sequences reach the terminal.
        let p = printer();
        let tag = p.paint(Stream::Err, Style::Cyan, &format!("[{step}]"));
        let line = sanitize(line);
        let line = if stream == OutputStream::Stderr {
            p.paint(Stream::Err, Style::Dim, &line)
        } else {
            line
        };
        self.line(&format!("{tag} {line}"));
    }

    fn warn(&self, text: &str) {
        match self.bar.lock().ok().and_then(|b| b.clone()) {
            Some(bar) => bar.suspend(|| printer().warning(text)),
            None => printer().warning(text),
        }
    }

    fn info(&self, text: &str) {
        if !printer().quiet() {
            self.line(text);
        }
    }

    fn diagnostic(&self, d: &warren_config::Diagnostic) {
        let p = printer();
        self.line(&d.render(p.color(Stream::Err)));
    }

    fn created(&self, env: &EnvView) {
        self.clear();
        let p = printer();
        p.status(
            "Created",
            &format!(
                "{} ({}) on {} in {}",
                p.paint(Stream::Err, Style::Cyan, &env.name),
                env.runtime,
                env.branch,
                p.paint(
                    Stream::Err,
                    Style::Cyan,
                    &tilde(&env.worktree, self.home.as_deref())
                ),
            ),
        );
        for s in &env.services {
            p.message(&format!(
                "  {:<10} {}",
                s.name,
                p.paint(Stream::Err, Style::Cyan, &s.url)
            ));
        }
    }
}

impl Drop for CliReporter {
    fn drop(&mut self) {
        self.clear();
    }
}
