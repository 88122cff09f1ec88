//! The `lifecycle_runs` table: which once-per-container lifecycle steps
//! (onCreate, updateContent, postCreate) have run, and with which command
//! hash, so a changed command runs again.

use rusqlite::{OptionalExtension, params};

use crate::{Result, Store, StoreError, now_unix};

/// A recorded run of a lifecycle step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleRun {
    pub step: String,
    pub hash: String,
    pub ran_at: i64,
}

impl Store {
    /// The last successful run of `step` in `env`.
    pub fn lifecycle_run(&self, env: &str, step: &str) -> Result<Option<LifecycleRun>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT step, hash, ran_at FROM lifecycle_runs WHERE env = ?1 AND step = ?2",
                [env, step],
                |r| {
                    Ok(LifecycleRun {
                        step: r.get(0)?,
                        hash: r.get(1)?,
                        ran_at: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    /// Records a successful run of `step` with command hash `hash`.
    pub fn record_lifecycle_run(&self, env: &str, step: &str, hash: &str) -> Result<()> {
        self.write(|conn| {
            conn.execute(
                "INSERT INTO lifecycle_runs(env, step, hash, ran_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(env, step) DO UPDATE SET hash = excluded.hash, ran_at = excluded.ran_at",
                params![env, step, hash, now_unix()],
            )?;
            Ok::<_, StoreError>(())
        })
    }

    /// Forgets every recorded run of `env` (the container was recreated).
    pub fn clear_lifecycle_runs(&self, env: &str) -> Result<()> {
        self.write(|conn| {
            conn.execute("DELETE FROM lifecycle_runs WHERE env = ?1", [env])?;
            Ok::<_, StoreError>(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_and_replace() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(store.lifecycle_run("a", "postCreate").unwrap().is_none());
        store.record_lifecycle_run("a", "postCreate", "h1").unwrap();
        store.record_lifecycle_run("a", "postCreate", "h2").unwrap();
        assert_eq!(
            store
                .lifecycle_run("a", "postCreate")
                .unwrap()
                .unwrap()
                .hash,
            "h2"
        );
        store.clear_lifecycle_runs("a").unwrap();
        assert!(store.lifecycle_run("a", "postCreate").unwrap().is_none());
    }
}
