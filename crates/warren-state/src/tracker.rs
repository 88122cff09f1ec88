//! What the watcher keeps between polls of one session.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::SystemTime;

use crate::state::{State, Verdict};

/// Per-session memory for the watcher: when the screen last changed (the
/// judge's `last_output`) and since when the current state holds.
///
/// Only the screen counts as output, not the title: claude's title flips to
/// idle right after its `Stop` hook, which must not read as "output after Stop".
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    screen_hash: Option<u64>,
    last_output: Option<SystemTime>,
    current: Option<(State, SystemTime)>,
}

impl Tracker {
    pub fn new() -> Self {
        Tracker::default()
    }

    /// Records a capture taken at `now`; returns when the screen last changed
    /// (`None` until it has changed once after the first capture, which is
    /// only a baseline).
    pub fn screen(&mut self, screen: &str, now: SystemTime) -> Option<SystemTime> {
        let mut h = DefaultHasher::new();
        screen.hash(&mut h);
        let hash = h.finish();
        if self.screen_hash.is_some_and(|old| old != hash) {
            self.last_output = Some(now);
        }
        self.screen_hash = Some(hash);
        self.last_output
    }

    /// Records a verdict reached at `now`; returns since when its state holds
    /// and whether it changed (an event to store and maybe notify).
    pub fn state(&mut self, verdict: &Verdict, now: SystemTime) -> (SystemTime, bool) {
        match self.current {
            Some((state, since)) if state == verdict.state => (since, false),
            _ => {
                self.current = Some((verdict.state, now));
                (now, true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::time::Duration;

    use super::*;

    #[test]
    fn tracks_changes_and_since() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let s = |n| t + Duration::from_secs(n);
        let mut tr = Tracker::new();
        assert_eq!(tr.screen("a", s(0)), None);
        assert_eq!(tr.screen("a", s(1)), None);
        assert_eq!(tr.screen("b", s(2)), Some(s(2)));
        assert_eq!(tr.screen("b", s(3)), Some(s(2)));
        let v = |state| Verdict {
            state,
            reason: String::new(),
            question: None,
            evidence: Vec::new(),
        };
        assert_eq!(tr.state(&v(State::Working), s(2)), (s(2), true));
        assert_eq!(tr.state(&v(State::Working), s(3)), (s(2), false));
        assert_eq!(tr.state(&v(State::Idle), s(4)), (s(4), true));
    }
}
