//! The CLI's [`Reporter`]: steps and command output as lines on stderr,
//! pulls and builds as a progress bar on a terminal.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};
use warren_env::reporter::Reporter;
use warren_runtime::{Progress, Stream};

use crate::printer::{Style, message, paint, stderr_color, warning};

/// Prints progress for a human on stderr.
pub struct CliReporter {
    color: bool,
    tty: bool,
    quiet: bool,
    bar: Mutex<Option<ProgressBar>>,
    layers: Mutex<HashMap<String, (u64, u64)>>,
}

impl CliReporter {
    pub fn new(quiet: bool) -> CliReporter {
        CliReporter {
            color: stderr_color(),
            tty: std::io::stderr().is_terminal(),
            quiet,
            bar: Mutex::new(None),
            layers: Mutex::new(HashMap::new()),
        }
    }

    fn finish_bar(&self) {
        if let Ok(mut bar) = self.bar.lock()
            && let Some(b) = bar.take()
        {
            b.finish_and_clear();
        }
    }

    fn println(&self, line: &str) {
        match self.bar.lock().ok().and_then(|b| b.clone()) {
            Some(bar) => bar.println(line),
            None => message(line),
        }
    }
}

impl Reporter for CliReporter {
    fn step(&self, step: &str) {
        tracing::debug!(step, "step");
        self.finish_bar();
        if !self.quiet {
            message(&paint(self.color, Style::Dim, &format!("· {step}")));
        }
    }

    fn progress(&self, progress: &Progress) {
        match progress {
            Progress::Message(m) => {
                if !self.quiet {
                    self.println(&paint(self.color, Style::Dim, &format!("· {m}")));
                }
            }
            Progress::BuildLine(l) => {
                if !self.quiet {
                    self.println(&format!(
                        "{} {l}",
                        paint(self.color, Style::Cyan, "[build]")
                    ));
                }
            }
            Progress::Pull {
                layer,
                status,
                current,
                total,
            } => {
                if !self.tty {
                    if status.starts_with("Pull complete") || status.starts_with("Status:") {
                        message(&format!("[pull] {layer} {status}"));
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
                let b = bar.get_or_insert_with(|| {
                    let b = ProgressBar::new(all.max(1));
                    if let Ok(style) = ProgressStyle::with_template(
                        "pulling {bar:30.cyan/dim} {bytes}/{total_bytes} {msg}",
                    ) {
                        b.set_style(style);
                    }
                    b
                });
                b.set_length(all.max(1));
                b.set_position(done);
                b.set_message(status.clone());
            }
        }
    }

    fn output(&self, step: &str, stream: Stream, line: &str) {
        let tag = paint(self.color, Style::Cyan, &format!("[{step}]"));
        let line = if stream == Stream::Stderr {
            paint(self.color, Style::Dim, line)
        } else {
            line.to_string()
        };
        self.println(&format!("{tag} {line}"));
    }

    fn warn(&self, text: &str) {
        self.finish_bar();
        warning(text);
    }

    fn info(&self, text: &str) {
        self.finish_bar();
        message(text);
    }
}

impl Drop for CliReporter {
    fn drop(&mut self) {
        self.finish_bar();
    }
}
