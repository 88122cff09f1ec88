//! Schema migrations, kept per component.
//!
//! The table `schema_versions(component, version)` records how far each
//! component's list has been applied. To change a table, append SQL to that
//! component's list; never edit an entry that has shipped. A component added
//! by another crate registers its list in [`COMPONENTS`].

use crate::{Result, Store, StoreError};

/// One component's ordered migrations.
pub struct Component {
    pub name: &'static str,
    pub migrations: &'static [&'static str],
}

/// Every component's migrations, applied in this order.
pub const COMPONENTS: &[Component] = &[
    Component {
        name: "environments",
        migrations: &[r#"
            CREATE TABLE environments (
                name          TEXT PRIMARY KEY,
                project       TEXT NOT NULL,
                project_path  TEXT NOT NULL,
                worktree      TEXT NOT NULL,
                branch        TEXT NOT NULL,
                env_type      TEXT,
                runtime       TEXT NOT NULL,
                state         TEXT NOT NULL,
                container_id  TEXT,
                image         TEXT,
                config_hash   TEXT NOT NULL DEFAULT '',
                spec          TEXT NOT NULL DEFAULT '{}',
                created_at    INTEGER NOT NULL,
                updated_at    INTEGER NOT NULL,
                creator_pid   INTEGER
            );
            CREATE INDEX environments_project ON environments(project);
        "#],
    },
    Component {
        name: "routes",
        migrations: &[r#"
            CREATE TABLE routes (
                env          TEXT NOT NULL,
                service      TEXT NOT NULL,
                ord          INTEGER NOT NULL,
                target_host  TEXT NOT NULL,
                target_port  INTEGER NOT NULL,
                inner_port   INTEGER,
                label        TEXT,
                created_at   INTEGER NOT NULL,
                PRIMARY KEY (env, service)
            );
        "#],
    },
    Component {
        name: "lifecycle",
        migrations: &[r#"
            CREATE TABLE lifecycle_runs (
                env       TEXT NOT NULL,
                step      TEXT NOT NULL,
                hash      TEXT NOT NULL,
                ran_at    INTEGER NOT NULL,
                PRIMARY KEY (env, step)
            );
        "#],
    },
    Component {
        name: "agents",
        migrations: &[r#"
            CREATE TABLE agents (
                name        TEXT PRIMARY KEY,
                tool        TEXT NOT NULL,
                env         TEXT,
                runtime     TEXT NOT NULL,
                url         TEXT NOT NULL,
                port        INTEGER NOT NULL,
                pid         INTEGER NOT NULL,
                started_at  INTEGER NOT NULL
            );
        "#],
    },
    Component {
        name: "tasks",
        migrations: &[r#"
            CREATE TABLE tasks (
                seq              INTEGER PRIMARY KEY AUTOINCREMENT,
                id               TEXT NOT NULL UNIQUE,
                agent            TEXT NOT NULL,
                tool             TEXT NOT NULL,
                state            TEXT NOT NULL,
                prompt           TEXT NOT NULL,
                model            TEXT,
                session_id       TEXT,
                parent_id        TEXT,
                workdir          TEXT,
                timeout_seconds  INTEGER,
                owner_pid        INTEGER,
                created_at_ms    INTEGER NOT NULL,
                started_at_ms    INTEGER,
                completed_at_ms  INTEGER,
                exit_code        INTEGER,
                output           TEXT NOT NULL DEFAULT '',
                error_type       TEXT,
                error_message    TEXT,
                error_details    TEXT,
                usage            TEXT,
                cost_usd         REAL,
                num_turns        INTEGER,
                attempts         INTEGER NOT NULL DEFAULT 0,
                argv             TEXT NOT NULL DEFAULT '[]',
                raw_stdout       TEXT NOT NULL DEFAULT '',
                raw_stderr       TEXT NOT NULL DEFAULT '',
                session_ended    INTEGER NOT NULL DEFAULT 0
            );
            CREATE INDEX tasks_agent ON tasks(agent, seq);
            CREATE INDEX tasks_session ON tasks(agent, session_id);
        "#],
    },
    Component {
        name: "net_log",
        migrations: &[r#"
            CREATE TABLE net_log (
                id         INTEGER PRIMARY KEY AUTOINCREMENT,
                env        TEXT NOT NULL,
                time_ms    INTEGER NOT NULL,
                method     TEXT NOT NULL,
                host       TEXT NOT NULL,
                port       INTEGER NOT NULL,
                path       TEXT,
                status     INTEGER NOT NULL,
                bytes_up   INTEGER NOT NULL,
                bytes_down INTEGER NOT NULL,
                allowed    INTEGER NOT NULL,
                reason     TEXT,
                grant_name TEXT
            );
            CREATE INDEX net_log_env ON net_log(env, id);
        "#],
    },
    Component {
        name: "events",
        migrations: &[r#"
            CREATE TABLE events (
                id          INTEGER PRIMARY KEY AUTOINCREMENT,
                time_ms     INTEGER NOT NULL,
                kind        TEXT NOT NULL,
                env         TEXT NOT NULL,
                session     TEXT,
                from_state  TEXT,
                to_state    TEXT,
                reason      TEXT,
                message     TEXT,
                data        TEXT
            );
            CREATE INDEX events_env ON events(env, id);
            CREATE TABLE event_cursors (
                consumer  TEXT PRIMARY KEY,
                last_id   INTEGER NOT NULL
            );
        "#],
    },
];

pub(crate) fn migrate(store: &Store) -> Result<()> {
    let conn = store.conn();
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)",
    )?;
    // Fast path: every component current, no write lock needed.
    let mut pending = false;
    for c in COMPONENTS {
        let v = version(conn, c.name)?;
        if v > c.migrations.len() as i64 {
            return Err(StoreError::TooNew {
                path: store.path().to_path_buf(),
                component: c.name,
                found: v,
                supported: c.migrations.len() as i64,
            });
        }
        pending |= v < c.migrations.len() as i64;
    }
    if !pending {
        return Ok(());
    }
    store.write(|conn| {
        for c in COMPONENTS {
            // Re-read under the lock: another process may have migrated.
            let v = version(conn, c.name)?;
            for (i, sql) in c.migrations.iter().enumerate().skip(v as usize) {
                conn.execute_batch(sql)?;
                conn.execute(
                    "INSERT INTO schema_versions(component, version) VALUES (?1, ?2)
                     ON CONFLICT(component) DO UPDATE SET version = excluded.version",
                    rusqlite::params![c.name, i as i64 + 1],
                )?;
            }
        }
        Ok::<_, StoreError>(())
    })
}

fn version(conn: &rusqlite::Connection, component: &str) -> Result<i64> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .query_row(
            "SELECT version FROM schema_versions WHERE component = ?1",
            [component],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0))
}
