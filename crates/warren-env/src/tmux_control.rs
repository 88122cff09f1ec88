//! A tmux control-mode client (`tmux -C`): one long-lived connection to the root's
//! server over which the watcher sends its commands, instead of starting a `tmux`
//! process per command. A round of the heartbeat with 50 sessions would otherwise
//! fork a hundred clients; here it writes a few lines to a pipe.
//!
//! A control client must be attached to a session; the watcher attaches to its own
//! ([`crate::WATCH_SESSION`]), which lives as long as it does.
//!
//! Responses are framed by `%begin TIME NUMBER FLAGS` and `%end`/`%error` with the
//! same three fields. A captured screen is the environment's text, so a line of it
//! may look like a frame: a block only ends at the line that repeats its own
//! `%begin` fields exactly (the command number is the server's, which nothing in an
//! environment can see), and a response that does not parse ends the connection.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};

use crate::sessions::Tmux;

/// A connected control client.
pub struct TmuxControl {
    child: Child,
    stdin: ChildStdin,
    out: BufReader<ChildStdout>,
}

/// The most a single response may hold (a screen is a few KiB; the pane list grows
/// with sessions): a runaway response ends the connection.
const MAX_RESPONSE: usize = 4 << 20;

impl TmuxControl {
    /// Connects to `tmux`'s server, attached to `session`; `None` when the session or
    /// the server is not there.
    pub fn attach(tmux: &Tmux, session: &str) -> Option<TmuxControl> {
        let mut cmd = tmux.command();
        cmd.args(["-C", "attach-session", "-t", &format!("={session}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().ok()?;
        let stdin = child.stdin.take()?;
        let out = BufReader::new(child.stdout.take()?);
        let mut ctl = TmuxControl { child, stdin, out };
        // The attach itself answers with an empty block; a missing session answers
        // with an error (or nothing, when the client exits).
        match ctl.read_response() {
            Some(Ok(_)) => Some(ctl),
            _ => None,
        }
    }

    /// Runs `commands` (tmux command lines; arguments quoted for tmux's parser) in
    /// one write and returns each one's output lines, or its error text. `None` when
    /// the connection broke (the caller reconnects or falls back).
    pub fn run(&mut self, commands: &[String]) -> Option<Vec<Result<Vec<String>, String>>> {
        let mut batch = String::new();
        for c in commands {
            if c.contains(['\n', '\r']) {
                return None;
            }
            batch.push_str(c);
            batch.push('\n');
        }
        self.stdin.write_all(batch.as_bytes()).ok()?;
        self.stdin.flush().ok()?;
        let mut out = Vec::with_capacity(commands.len());
        for _ in commands {
            out.push(self.read_response()?);
        }
        Some(out)
    }

    /// The next response block; notifications between blocks are skipped.
    fn read_response(&mut self) -> Option<Result<Vec<String>, String>> {
        let mut line = Vec::new();
        let fields = loop {
            line.clear();
            if self.out.read_until(b'\n', &mut line).ok()? == 0 {
                return None;
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\n', '\r']);
            if let Some(rest) = text.strip_prefix("%begin ") {
                break rest.to_string();
            }
            if text.starts_with("%exit") {
                return None;
            }
        };
        let (end, error) = (format!("%end {fields}"), format!("%error {fields}"));
        let mut lines = Vec::new();
        let mut size = 0;
        loop {
            line.clear();
            if self.out.read_until(b'\n', &mut line).ok()? == 0 {
                return None;
            }
            size += line.len();
            if size > MAX_RESPONSE {
                return None;
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\n', '\r']);
            if text == end {
                return Some(Ok(lines));
            }
            if text == error {
                return Some(Err(lines.join(" ")));
            }
            lines.push(text.to_string());
        }
    }
}

impl Drop for TmuxControl {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `s` quoted for tmux's command parser (single quotes; a `'` cannot be inside).
pub fn quote(s: &str) -> Option<String> {
    (!s.contains(['\'', '\n', '\r'])).then(|| format!("'{s}'"))
}
