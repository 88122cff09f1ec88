//! The `events` table: one stream of what happened to environments and their
//! sessions (created, started, stopped, removed; a session started, exited or
//! changed state), written by whichever process saw it and read by `warren
//! events`, `wait` and the notifier. Ids only grow, so a reader follows the
//! stream with an id cursor; the table keeps the newest [`KEEP`] rows.
//!
//! Text in an event (a reason, a session's question) may come from inside an
//! environment: readers must treat it as untrusted.

use rusqlite::{OptionalExtension, params};

use crate::{Result, Store, StoreError};

/// Rows kept in total (older ones are dropped as new ones arrive).
pub const KEEP: i64 = 100_000;

/// What an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    EnvCreated,
    EnvStarted,
    EnvStopped,
    EnvRemoved,
    SessionStarted,
    SessionExited,
    /// A session's state changed (`from` → `to`, with a reason).
    SessionState,
}

impl EventKind {
    pub const ALL: [EventKind; 7] = [
        EventKind::EnvCreated,
        EventKind::EnvStarted,
        EventKind::EnvStopped,
        EventKind::EnvRemoved,
        EventKind::SessionStarted,
        EventKind::SessionExited,
        EventKind::SessionState,
    ];

    /// `env.created`, `session.state`, ….
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::EnvCreated => "env.created",
            EventKind::EnvStarted => "env.started",
            EventKind::EnvStopped => "env.stopped",
            EventKind::EnvRemoved => "env.removed",
            EventKind::SessionStarted => "session.started",
            EventKind::SessionExited => "session.exited",
            EventKind::SessionState => "session.state",
        }
    }

    /// The kind named `s`, if this warren knows it.
    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub kind: EventKind,
    /// The environment.
    pub env: String,
    /// The session, for `session.*` events.
    pub session: Option<String>,
    /// The state before (a session's or the environment's).
    pub from: Option<String>,
    /// The state after.
    pub to: Option<String>,
    /// Why, in a few words (`permission prompt`, `exit 1`, `--force`).
    pub reason: Option<String>,
    /// Longer text: what the agent asks or waits for.
    pub message: Option<String>,
    /// Anything else, as JSON (an exit code, a hook's name).
    pub data: Option<serde_json::Value>,
}

impl NewEvent {
    /// An event of `kind` about `env`, every other field empty.
    pub fn new(kind: EventKind, env: &str) -> NewEvent {
        NewEvent {
            kind,
            env: env.to_string(),
            session: None,
            from: None,
            to: None,
            reason: None,
            message: None,
            data: None,
        }
    }
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Event {
    /// Increasing; the cursor for following.
    pub id: i64,
    /// Unix time in milliseconds.
    pub time_ms: i64,
    /// `env.created`, …, `session.state`; kept as text so rows written by a
    /// newer warren still read.
    pub kind: String,
    pub env: String,
    pub session: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub data: Option<serde_json::Value>,
}

impl Event {
    /// The kind, if this warren knows it.
    pub fn kind(&self) -> Option<EventKind> {
        EventKind::parse(&self.kind)
    }
}

const COLUMNS: &str =
    "id, time_ms, kind, env, session, from_state, to_state, reason, message, data";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Event> {
    let data: Option<String> = r.get(9)?;
    Ok(Event {
        id: r.get(0)?,
        time_ms: r.get(1)?,
        kind: r.get(2)?,
        env: r.get(3)?,
        session: r.get(4)?,
        from: r.get(5)?,
        to: r.get(6)?,
        reason: r.get(7)?,
        message: r.get(8)?,
        // Written by `add_event` from a `Value`, so it parses; a hand-edited
        // row reads as a string rather than failing the whole stream.
        data: data.map(|d| serde_json::from_str(&d).unwrap_or(serde_json::Value::String(d))),
    })
}

impl Store {
    /// Records an event (stamped now) and returns its id; drops rows beyond
    /// the newest [`KEEP`].
    pub fn add_event(&self, e: &NewEvent) -> Result<i64> {
        self.add_event_at(e, warren_core::time::now_ms())
    }

    /// [`Store::add_event`] with an explicit time (tests, imports).
    pub fn add_event_at(&self, e: &NewEvent, time_ms: i64) -> Result<i64> {
        let data = match &e.data {
            Some(v) => {
                Some(serde_json::to_string(v).map_err(|err| StoreError::Corrupt(err.to_string()))?)
            }
            None => None,
        };
        self.write(|conn| {
            conn.execute(
                "INSERT INTO events (time_ms, kind, env, session, from_state, to_state, reason, message, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    time_ms,
                    e.kind.as_str(),
                    e.env,
                    e.session,
                    e.from,
                    e.to,
                    e.reason,
                    e.message,
                    data
                ],
            )?;
            let id = conn.last_insert_rowid();
            // One indexed range delete on the primary key: cheap enough to
            // run on every insert, and no separate janitor is needed.
            conn.execute("DELETE FROM events WHERE id <= ?1", [id - KEEP])?;
            Ok::<_, StoreError>(id)
        })
    }

    /// Events with an id above `after`, oldest first, at most `limit`.
    pub fn events_after(&self, after: i64, limit: i64) -> Result<Vec<Event>> {
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {COLUMNS} FROM events WHERE id > ?1 ORDER BY id LIMIT ?2"
        ))?;
        let rows = stmt
            .query_map(params![after, limit], from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Events of `env` with an id above `after`, oldest first, at most `limit`.
    pub fn events_of(&self, env: &str, after: i64, limit: i64) -> Result<Vec<Event>> {
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {COLUMNS} FROM events WHERE env = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
        ))?;
        let rows = stmt
            .query_map(params![env, after, limit], from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// The newest `limit` events (of `env`, if given), oldest first: what
    /// `warren events` shows before it follows.
    pub fn recent_events(&self, env: Option<&str>, limit: i64) -> Result<Vec<Event>> {
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {COLUMNS} FROM events WHERE ?1 IS NULL OR env = ?1 ORDER BY id DESC LIMIT ?2"
        ))?;
        let mut rows = stmt
            .query_map(params![env, limit], from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.reverse();
        Ok(rows)
    }

    /// The newest event id (0 when there is none).
    pub fn last_event_id(&self) -> Result<i64> {
        Ok(self
            .conn()
            .query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))?)
    }

    /// Hands `consumer` the events it has not seen yet (at most `limit`) and
    /// moves its cursor past them, in one transaction: several processes
    /// consuming under the same name (two `warren notify`s, the session
    /// watcher) each get every event exactly once between them. A new
    /// consumer starts at the current end: it never replays history.
    pub fn claim_events(&self, consumer: &str, limit: i64) -> Result<Vec<Event>> {
        self.write(|conn| {
            let cursor: Option<i64> = conn
                .query_row(
                    "SELECT last_id FROM event_cursors WHERE consumer = ?1",
                    [consumer],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(cursor) = cursor else {
                conn.execute(
                    "INSERT INTO event_cursors (consumer, last_id)
                     VALUES (?1, (SELECT COALESCE(MAX(id), 0) FROM events))",
                    [consumer],
                )?;
                return Ok(Vec::new());
            };
            let events = {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM events WHERE id > ?1 ORDER BY id LIMIT ?2"
                ))?;
                stmt.query_map(params![cursor, limit], from_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?
            };
            if let Some(last) = events.last() {
                conn.execute(
                    "UPDATE event_cursors SET last_id = ?2 WHERE consumer = ?1",
                    params![consumer, last.id],
                )?;
            }
            Ok::<_, StoreError>(events)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn state(env: &str, to: &str) -> NewEvent {
        NewEvent {
            session: Some("claude".into()),
            from: Some("working".into()),
            to: Some(to.into()),
            reason: Some("question".into()),
            message: Some("Proceed? $(rm -rf ~)\n\x1b]52;c;aGk=\x07".into()),
            data: Some(serde_json::json!({"hook": "Notification"})),
            ..NewEvent::new(EventKind::SessionState, env)
        }
    }

    #[test]
    fn events_round_trip_and_filter() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = store
            .add_event_at(&NewEvent::new(EventKind::EnvCreated, "a"), 5)
            .unwrap();
        let b = store.add_event(&state("b", "waiting")).unwrap();
        assert!(b > a);
        let all = store.events_after(0, 10).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!((all[0].kind.as_str(), all[0].time_ms), ("env.created", 5));
        assert_eq!(all[1].kind(), Some(EventKind::SessionState));
        assert_eq!(
            all[1].message,
            state("b", "waiting").message,
            "text is kept verbatim"
        );
        assert_eq!(
            all[1].data,
            Some(serde_json::json!({"hook": "Notification"}))
        );
        assert_eq!(store.events_of("a", 0, 10).unwrap().len(), 1);
        assert_eq!(store.events_after(a, 10).unwrap()[0].id, b);
        assert_eq!(store.recent_events(None, 1).unwrap()[0].id, b);
        assert_eq!(store.recent_events(Some("a"), 5).unwrap().len(), 1);
        assert_eq!(store.last_event_id().unwrap(), b);
    }

    #[test]
    fn consumers_claim_each_event_once_and_start_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let other = Store::open(dir.path()).unwrap();
        store.add_event(&state("a", "idle")).unwrap();
        assert!(
            store.claim_events("notify", 10).unwrap().is_empty(),
            "no replay"
        );
        store.add_event(&state("a", "waiting")).unwrap();
        store.add_event(&state("a", "working")).unwrap();
        let first = store.claim_events("notify", 1).unwrap();
        let rest = other.claim_events("notify", 10).unwrap();
        assert_eq!(first.len() + rest.len(), 2);
        assert_eq!(first[0].to.as_deref(), Some("waiting"));
        assert!(other.claim_events("notify", 10).unwrap().is_empty());
    }

    #[test]
    fn old_rows_are_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // Fake the ids of 100k rows instead of writing them: the oldest
        // row (id 1) falls out when id KEEP + 1 arrives.
        for id in [1, KEEP] {
            store
                .conn()
                .execute(
                    "INSERT INTO events (id, time_ms, kind, env) VALUES (?1, 0, 'env.created', 'old')",
                    [id],
                )
                .unwrap();
        }
        store
            .add_event(&NewEvent::new(EventKind::EnvStarted, "a"))
            .unwrap();
        let left: Vec<i64> = store
            .events_after(0, 10)
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(left, [KEEP, KEEP + 1]);
    }
}
