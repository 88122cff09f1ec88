//! Per-environment log files (`ROOT/logs/NAME.log`): lifecycle output,
//! hooks and state changes, shown by `warren logs`.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Path of an environment's log.
pub fn path(root: &Path, name: &str) -> PathBuf {
    root.join("logs").join(format!("{name}.log"))
}

/// Appends one timestamped line; logging never fails the operation.
pub fn append(root: &Path, name: &str, line: &str) {
    let p = path(root, name);
    if let Some(dir) = p.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&p)
    {
        let _ = writeln!(
            f,
            "{} {line}",
            warren_core::time::rfc3339(warren_core::time::now_unix())
        );
    }
}

/// Removes an environment's log.
pub fn remove(root: &Path, name: &str) {
    let _ = std::fs::remove_file(path(root, name));
}

/// A reporter that also writes steps and command output to the
/// environment's log, so `warren logs` shows what lifecycle commands printed.
pub struct Tee<'a> {
    pub inner: &'a dyn crate::reporter::Reporter,
    pub root: &'a Path,
    pub name: &'a str,
    /// Secret values to keep out of the log.
    pub redactor: &'a warren_core::Redactor,
}

impl crate::reporter::Reporter for Tee<'_> {
    fn step(&self, step: &str) {
        append(self.root, self.name, &format!("step {step}"));
        self.inner.step(step);
    }
    fn progress(&self, p: &warren_runtime::Progress) {
        self.inner.progress(p);
    }
    fn output(&self, step: &str, stream: warren_runtime::Stream, line: &str) {
        append(
            self.root,
            self.name,
            &format!("[{step}] {}", self.redactor.redact(line)),
        );
        self.inner.output(step, stream, line);
    }
    fn warn(&self, m: &str) {
        append(
            self.root,
            self.name,
            &format!("warning: {}", self.redactor.redact(m)),
        );
        self.inner.warn(m);
    }
    fn info(&self, m: &str) {
        append(self.root, self.name, &self.redactor.redact(m));
        self.inner.info(m);
    }
    fn diagnostic(&self, d: &warren_config::Diagnostic) {
        self.inner.diagnostic(d);
    }
    fn created(&self, env: &crate::EnvView) {
        self.inner.created(env);
    }
}
