//! Signals for a foreground command: what warren does when it is told to stop (a
//! supervisor's SIGTERM, a closed terminal's SIGHUP, Ctrl-C without a TTY) while a
//! command of an environment runs. Each one goes on to the command; one that has not
//! ended [`GRACE`] after the first is killed, so `warren run --rm` always gets to its
//! teardown, also when the command ignores signals (a container's pid 1 has no default
//! handlers) or hangs.

use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};

/// How long a command may take to end after the first signal.
pub(crate) const GRACE: Duration = Duration::from_secs(3);

/// What to do with the command now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Pass this signal on (`"TERM"`, `"INT"`, `"HUP"`).
    Forward(&'static str),
    /// [`GRACE`] has passed since the first signal: kill the command.
    Kill,
}

/// SIGTERM, SIGINT and SIGHUP, caught for as long as this lives (and afterwards: tokio
/// keeps its handlers installed, so a late signal never kills warren mid-teardown).
pub(crate) struct Stops {
    term: Signal,
    int: Signal,
    hup: Signal,
    /// The first signal received.
    first: Option<i32>,
    deadline: Option<tokio::time::Instant>,
    killed: bool,
}

impl Stops {
    /// `None` when signals cannot be watched (then they keep their default action).
    pub(crate) fn new() -> Option<Stops> {
        Some(Stops {
            term: signal(SignalKind::terminate()).ok()?,
            int: signal(SignalKind::interrupt()).ok()?,
            hup: signal(SignalKind::hangup()).ok()?,
            first: None,
            deadline: None,
            killed: false,
        })
    }

    /// The next thing to do: forward a signal as it arrives, or kill once the grace
    /// period after the first is over. Poll it next to the command; drop it when the
    /// command has ended.
    pub(crate) async fn next(&mut self) -> Action {
        let kill_at = self.deadline.filter(|_| !self.killed);
        let sig = tokio::select! {
            _ = self.term.recv() => libc::SIGTERM,
            _ = self.int.recv() => libc::SIGINT,
            _ = self.hup.recv() => libc::SIGHUP,
            () = async {
                match kill_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => {
                self.killed = true;
                return Action::Kill;
            }
        };
        if self.deadline.is_none() {
            self.deadline = Some(tokio::time::Instant::now() + GRACE);
        }
        self.first.get_or_insert(sig);
        Action::Forward(match sig {
            libc::SIGINT => "INT",
            libc::SIGHUP => "HUP",
            _ => "TERM",
        })
    }

    /// The first signal received, if any.
    pub(crate) fn first(&self) -> Option<i32> {
        self.first
    }

    /// Whether the command had to be killed.
    pub(crate) fn killed(&self) -> bool {
        self.killed
    }
}

/// The exit code of a command that had to be killed: 128 + the signal warren was
/// sent (what the user asked for), not the SIGKILL it took.
pub(crate) fn killed_code(stops: Option<&Stops>) -> Option<i64> {
    let stops = stops.filter(|s| s.killed())?;
    stops.first().map(|sig| 128 + i64::from(sig))
}
