//! How many client connections the proxy holds at once, so that a flood of
//! them (idle sockets from a hostile local process) cannot exhaust its
//! open files and take it offline.
//!
//! Each connection holds a [`Slot`] from the [`Limiter`] until it closes
//! (an upgraded one until its tunnel ends). At the limit, the oldest
//! connection that has not sent a request yet is closed to make room: an
//! idle flood then only ever pushes out its own sockets, and a real client,
//! whose request follows its connection at once, gets through. When every
//! slot is busy with a request, new connections are closed at once. Idle
//! connections do not last anyway: hyper closes one that has not sent its
//! request headers within [`HEADER_TIMEOUT`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::task::AbortHandle;

/// How long a client has to send a request's headers, on a new connection
/// and between requests on a kept-alive one. Real clients send them at
/// once; browsers reopen a closed idle connection without fuss.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The most connections held at once, when open files allow it. A
/// developer's browser needs a few dozen.
pub const MAX_CONNECTIONS: usize = 4096;

/// Open files kept for everything but client connections: the store, the
/// log, the lock, the runtime, idle backend connections in the pool.
const RESERVED_FILES: u64 = 256;

/// Raises the soft open-file limit to the hard one (the default soft limit
/// is often 1024) and returns how many connections fit: each may need a
/// backend connection too, so half of what is left, at most
/// [`MAX_CONNECTIONS`].
pub fn connection_budget() -> (usize, u64) {
    let files = raise_open_files();
    let fit = files.saturating_sub(RESERVED_FILES) / 2;
    let max = usize::try_from(fit).unwrap_or(MAX_CONNECTIONS);
    (max.clamp(16, MAX_CONNECTIONS), files)
}

fn raise_open_files() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and reads nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = lim.rlim_max;
        }
    }
    // RLIM_INFINITY is u64::MAX; the clamp above deals with it.
    lim.rlim_cur
}

/// The connections the proxy holds, oldest first.
#[derive(Debug)]
pub struct Limiter {
    max: usize,
    /// The open-file limit `max` was derived from (for the log).
    open_files: u64,
    slots: Mutex<Slots>,
}

#[derive(Debug, Default)]
struct Slots {
    next: u64,
    /// By age: ids only grow.
    open: BTreeMap<u64, Held>,
    /// Since the limit was reached, if it is.
    pressure: Option<Pressure>,
}

#[derive(Debug)]
struct Held {
    /// Has sent a request (from then on it is never closed to make room).
    requested: bool,
    /// Ends the connection's task, closing its socket.
    abort: Option<AbortHandle>,
}

#[derive(Debug)]
struct Pressure {
    since: Instant,
    evicted: u64,
    refused: u64,
}

impl Limiter {
    pub fn new(max: usize, open_files: u64) -> Arc<Limiter> {
        Arc::new(Limiter {
            max,
            open_files,
            slots: Mutex::default(),
        })
    }

    /// The open-file limit the budget came from.
    pub fn open_files(&self) -> u64 {
        self.open_files
    }

    fn slots(&self) -> MutexGuard<'_, Slots> {
        // Entries are only inserted and removed whole; a poisoned lock
        // still holds a consistent map.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The most connections held at once.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Connections held now.
    pub fn open(&self) -> usize {
        self.slots().open.len()
    }

    /// A slot for a new connection, closing the oldest connection that has
    /// sent nothing yet if the proxy is full. `None`: every connection is
    /// busy; close the new one.
    pub fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut evict = None;
        let mut first_pressure = false;
        let id = {
            let mut s = self.slots();
            if s.open.len() >= self.max {
                if s.pressure.is_none() {
                    first_pressure = true;
                    s.pressure = Some(Pressure {
                        since: Instant::now(),
                        evicted: 0,
                        refused: 0,
                    });
                }
                let victim = s
                    .open
                    .iter()
                    .find(|(_, h)| !h.requested && h.abort.is_some())
                    .map(|(id, _)| *id);
                match victim.and_then(|id| s.open.remove(&id)) {
                    Some(held) => {
                        evict = held.abort;
                        if let Some(p) = &mut s.pressure {
                            p.evicted += 1;
                        }
                    }
                    None => {
                        if let Some(p) = &mut s.pressure {
                            p.refused += 1;
                        }
                        drop(s);
                        if first_pressure {
                            self.log_full();
                        }
                        return None;
                    }
                }
            }
            let id = s.next;
            s.next += 1;
            s.open.insert(
                id,
                Held {
                    requested: false,
                    abort: None,
                },
            );
            id
        };
        if first_pressure {
            self.log_full();
        }
        // Outside the lock: the aborted task's slot comes back through it.
        if let Some(abort) = evict {
            abort.abort();
        }
        Some(Slot {
            limiter: Arc::clone(self),
            id,
        })
    }

    fn log_full(&self) {
        tracing::warn!(
            "{} client connections are open, the most the proxy holds: closing the oldest ones that have sent no request to make room, and refusing new ones while every connection is busy",
            self.max
        );
    }

    fn release(&self, id: u64) {
        let relieved = {
            let mut s = self.slots();
            s.open.remove(&id);
            // Say it is over once there is real room again, not at every
            // connection that comes and goes at the edge.
            if s.open.len() < self.max - self.max / 10 {
                s.pressure.take().map(|p| (p, s.open.len()))
            } else {
                None
            }
        };
        if let Some((p, open)) = relieved {
            tracing::info!(
                "below the connection limit again ({open} open) after {:.1} s: closed {} connections that sent nothing, refused {} new ones",
                p.since.elapsed().as_secs_f64(),
                p.evicted,
                p.refused
            );
        }
    }
}

/// One connection's place; given back when dropped.
#[derive(Debug)]
pub struct Slot {
    limiter: Arc<Limiter>,
    id: u64,
}

impl Slot {
    /// Records the task serving the connection, so it can be closed to
    /// make room.
    pub fn attach(&self, abort: AbortHandle) {
        if let Some(held) = self.limiter.slots().open.get_mut(&self.id) {
            held.abort = Some(abort);
        }
    }

    /// The connection has sent a request: it is never closed to make room.
    pub fn requested(&self) {
        if let Some(held) = self.limiter.slots().open.get_mut(&self.id) {
            held.requested = true;
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.limiter.release(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_closes_the_oldest_idle_then_refuses() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let limiter = Limiter::new(3, 1024);
            let mut tasks = Vec::new();
            let mut slots = Vec::new();
            for _ in 0..3 {
                let slot = limiter.admit().unwrap();
                let task = tokio::spawn(std::future::pending::<()>());
                slot.attach(task.abort_handle());
                tasks.push(task);
                slots.push(slot);
            }
            assert_eq!(limiter.open(), 3);
            // The middle one is busy: the oldest idle one (0) goes first.
            slots[1].requested();
            let fourth = limiter.admit().unwrap();
            assert!(tasks.remove(0).await.unwrap_err().is_cancelled());
            slots.remove(0);
            fourth.requested();
            slots.push(fourth);
            // Then the other idle one (2).
            let fifth = limiter.admit().unwrap();
            fifth.requested();
            assert!(tasks.remove(1).await.unwrap_err().is_cancelled());
            slots.remove(1);
            slots.push(fifth);
            // All busy: refused.
            assert!(limiter.admit().is_none());
            assert_eq!(limiter.open(), 3);
            drop(slots.pop());
            assert_eq!(limiter.open(), 2);
            assert!(limiter.admit().is_some());
        });
    }

    #[test]
    fn budget_is_bounded() {
        let (max, files) = connection_budget();
        assert!((16..=MAX_CONNECTIONS).contains(&max), "{max}");
        assert!(files >= 16, "{files}");
    }
}
