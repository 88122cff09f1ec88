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
        let _ = writeln!(f, "{} {line}", timestamp());
    }
}

/// Removes an environment's log.
pub fn remove(root: &Path, name: &str) {
    let _ = std::fs::remove_file(path(root, name));
}

/// UTC `YYYY-MM-DDTHH:MM:SSZ` without a date library.
pub fn timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    format_unix(secs)
}

/// Formats Unix seconds as UTC ISO-8601.
pub fn format_unix(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
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
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_dates() {
        assert_eq!(super::format_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::format_unix(1_795_435_200), "2026-11-23T12:00:00Z");
        assert_eq!(super::format_unix(951_782_400), "2000-02-29T00:00:00Z");
    }
}
