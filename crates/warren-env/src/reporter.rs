//! How the environment layer tells its caller what it is doing. The CLI
//! implements [`Reporter`] to print (progress bars on a terminal, plain lines
//! otherwise); tests and servers collect events instead.

use warren_runtime::{Progress, Stream};

/// Receives progress of long operations.
pub trait Reporter: Send + Sync {
    /// A new step begins (`creating worktree`, `postCreateCommand`).
    fn step(&self, step: &str);
    /// Pull or build progress.
    fn progress(&self, progress: &Progress);
    /// One line of a command's output during `step`.
    fn output(&self, step: &str, stream: Stream, line: &str);
    /// Something the user should know but that does not stop the work.
    fn warn(&self, message: &str);
    /// A finished step or result worth one line.
    fn info(&self, message: &str);
    /// A configuration warning, located in its file.
    fn diagnostic(&self, diagnostic: &warren_config::Diagnostic) {
        self.warn(&diagnostic.message);
    }
    /// An environment is up; its services answer at their URLs.
    fn created(&self, _env: &crate::EnvView) {}
}

/// A reporter that drops everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Reporter for Silent {
    fn step(&self, _: &str) {}
    fn progress(&self, _: &Progress) {}
    fn output(&self, _: &str, _: Stream, _: &str) {}
    fn warn(&self, _: &str) {}
    fn info(&self, _: &str) {}
}

/// Splits a byte stream into lines for [`Reporter::output`], keeping a
/// partial last line until more arrives.
#[derive(Debug, Default)]
pub struct LineSplitter {
    buf: Vec<u8>,
}

impl LineSplitter {
    /// Feeds bytes, calling `emit` for each complete line (without `\n`).
    pub fn feed(&mut self, bytes: &[u8], mut emit: impl FnMut(&str)) {
        self.buf.extend_from_slice(bytes);
        while let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=pos).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]);
            emit(text.trim_end_matches('\r'));
        }
    }

    /// Emits what is left.
    pub fn finish(&mut self, mut emit: impl FnMut(&str)) {
        if !self.buf.is_empty() {
            let text = String::from_utf8_lossy(&self.buf).into_owned();
            self.buf.clear();
            emit(text.trim_end_matches('\r'));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_across_chunks() {
        let mut s = LineSplitter::default();
        let mut lines = Vec::new();
        s.feed(b"a\nb", |l| lines.push(l.to_string()));
        s.feed(b"c\r\nd", |l| lines.push(l.to_string()));
        s.finish(|l| lines.push(l.to_string()));
        assert_eq!(lines, ["a", "bc", "d"]);
    }
}
