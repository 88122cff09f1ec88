//! warren's shared state: one SQLite database (`state.db` under the warren
//! root) in WAL mode, used by every `warren` process at once. Every write runs
//! in a `BEGIN IMMEDIATE` transaction, so concurrent processes serialise on
//! the write lock instead of failing or losing updates.
//!
//! Each component owns its tables and its migrations (see [`schema`]), so a
//! new component adds a module here without renumbering anyone else's.

mod agents;
mod environments;
pub mod events;
mod lifecycle_runs;
mod netlog;
mod routes;
pub mod schema;
pub mod tasks;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

pub use agents::AgentRecord;
pub use environments::{EnvRecord, NewEnvironment};
pub use events::{Event, EventKind, NewEvent};
pub use lifecycle_runs::LifecycleRun;
pub use netlog::NetLogRow;
pub use routes::{NETNS_TARGET, Route};
pub use tasks::{TaskFinish, TaskRecord};

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the warren root `{path}`")]
    CreateRoot {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the state database `{path}`")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "the state database `{path}` has schema version {found} for `{component}`, newer than this warren ({supported})"
    )]
    TooNew {
        path: PathBuf,
        component: &'static str,
        found: i64,
        supported: i64,
    },
    #[error(
        "an environment named `{name}` already exists (project `{project}`, worktree `{worktree}`)"
    )]
    NameTaken {
        name: String,
        project: String,
        worktree: String,
    },
    #[error("no environment named `{0}`")]
    NotFound(String),
    #[error("state database error")]
    Sqlite(#[from] rusqlite::Error),
    #[error("corrupt value in the state database: {0}")]
    Corrupt(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A connection to the state database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// File name of the database inside the warren root.
    pub const FILE: &'static str = "state.db";

    /// Opens (creating and migrating if needed) `ROOT/state.db`.
    pub fn open(root: &Path) -> Result<Store> {
        std::fs::create_dir_all(root).map_err(|source| StoreError::CreateRoot {
            path: root.to_path_buf(),
            source,
        })?;
        Self::open_file(&root.join(Self::FILE))
    }

    /// Opens a database at an explicit path.
    pub fn open_file(path: &Path) -> Result<Store> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(open_err)?;
        // WAL lets readers (ls, the proxy) run while a writer holds the lock.
        // Switching a fresh database to WAL can fail with SQLITE_BUSY
        // without consulting the busy handler while another process does
        // the same: retry for a while (the mode is persistent, so only the
        // first opens of a new database race).
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let mode: rusqlite::Result<String> =
                conn.query_row("PRAGMA journal_mode", [], |r| r.get(0));
            let res = match mode {
                Ok(m) if m.eq_ignore_ascii_case("wal") => Ok(()),
                _ => conn.pragma_update(None, "journal_mode", "WAL"),
            };
            match res {
                Ok(()) => break,
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(open_err(e)),
            }
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        // Most warren commands are one short process, and checkpointing the
        // WAL as the last connection closes costs two fsyncs each time.
        // Instead the WAL stays, checkpointed by whichever commit takes it
        // past 64 pages: small enough that the next process's WAL recovery
        // at open stays cheap.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )
        .map_err(open_err)?;
        conn.pragma_update(None, "wal_autocheckpoint", 64)
            .map_err(open_err)?;
        conn.pragma_update(None, "journal_size_limit", 512 * 1024)
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
        };
        schema::migrate(&store)?;
        Ok(store)
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The raw connection, for components that keep their queries in their
    /// own crate. Prefer [`Store::write`] for anything that writes.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Runs `f` inside a `BEGIN IMMEDIATE` transaction: the write lock is
    /// taken up front, so two processes never both read-then-write and lose
    /// one update. Commits when `f` succeeds, rolls back otherwise.
    pub fn write<T, E>(
        &self,
        f: impl FnOnce(&Connection) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E>
    where
        E: From<rusqlite::Error>,
    {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        match f(&self.conn) {
            Ok(v) => match self.conn.execute_batch("COMMIT") {
                Ok(()) => Ok(v),
                Err(e) => {
                    let _ = self.conn.execute_batch("ROLLBACK");
                    Err(e.into())
                }
            },
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// A number that changes whenever another connection commits a write;
    /// long-running readers (the proxy) poll it to know when to reload.
    pub fn data_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }
}

pub use warren_core::time::now_unix;
