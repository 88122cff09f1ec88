//! The `environments` table: one row per environment, from the moment its
//! name is reserved (state `creating`) until `rm`.

use std::path::PathBuf;

use rusqlite::{OptionalExtension, Row, params};
use warren_core::types::UnknownState;
use warren_core::{EnvState, RuntimeKind};

use crate::{Result, Store, StoreError, now_unix};

/// What is known about an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvRecord {
    pub name: String,
    pub project: String,
    /// Top level of the project's main checkout.
    pub project_path: PathBuf,
    pub worktree: PathBuf,
    pub branch: String,
    pub env_type: Option<String>,
    pub runtime: RuntimeKind,
    pub state: EnvState,
    /// Container id (docker) or runtime handle (sandbox).
    pub container_id: Option<String>,
    pub image: Option<String>,
    pub config_hash: String,
    /// The resolved environment spec as JSON; its shape belongs to `warren-env`.
    pub spec: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Process that reserved the name (to recognise abandoned `creating` rows).
    pub creator_pid: Option<u32>,
}

/// The fields needed to reserve a name.
#[derive(Debug, Clone)]
pub struct NewEnvironment {
    pub name: String,
    pub project: String,
    pub project_path: PathBuf,
    pub worktree: PathBuf,
    pub branch: String,
    pub env_type: Option<String>,
    pub runtime: RuntimeKind,
    pub config_hash: String,
    pub spec: String,
}

const COLUMNS: &str = "name, project, project_path, worktree, branch, env_type, runtime, state, \
     container_id, image, config_hash, spec, created_at, updated_at, creator_pid";

fn from_row(r: &Row<'_>) -> rusqlite::Result<std::result::Result<EnvRecord, StoreError>> {
    let runtime: String = r.get(6)?;
    let state: String = r.get(7)?;
    let rec = (|| {
        Ok(EnvRecord {
            name: r.get(0)?,
            project: r.get(1)?,
            project_path: PathBuf::from(r.get::<_, String>(2)?),
            worktree: PathBuf::from(r.get::<_, String>(3)?),
            branch: r.get(4)?,
            env_type: r.get(5)?,
            runtime: runtime
                .parse()
                .map_err(|e: warren_core::types::UnknownRuntime| {
                    StoreError::Corrupt(e.to_string())
                })?,
            state: state
                .parse()
                .map_err(|e: warren_core::types::UnknownState| {
                    StoreError::Corrupt(e.to_string())
                })?,
            container_id: r.get(8)?,
            image: r.get(9)?,
            config_hash: r.get(10)?,
            spec: r.get(11)?,
            created_at: r.get(12)?,
            updated_at: r.get(13)?,
            creator_pid: r.get::<_, Option<i64>>(14)?.map(|p| p as u32),
        })
    })();
    Ok(rec.map_err(|e: StoreError| e))
}

impl Store {
    /// Reserves `env.name` (state `creating`). Fails with
    /// [`StoreError::NameTaken`] if any environment already has the name.
    pub fn insert_environment(&self, env: &NewEnvironment) -> Result<EnvRecord> {
        self.write(|conn| {
            if let Some(existing) = get(conn, &env.name)? {
                return Err(StoreError::NameTaken {
                    name: existing.name,
                    project: existing.project,
                    worktree: existing.worktree.display().to_string(),
                });
            }
            insert(conn, env)
        })?;
        self.environment(&env.name)?
            .ok_or_else(|| StoreError::NotFound(env.name.clone()))
    }

    /// Reserves a generated name: calls `generate` (with a predicate telling
    /// whether a candidate is taken) and inserts the result, all under the
    /// write lock, so concurrent callers never get the same name.
    pub fn insert_environment_generated(
        &self,
        env: &NewEnvironment,
        generate: impl Fn(&dyn Fn(&str) -> bool) -> String,
        fill: impl Fn(&mut NewEnvironment, &str),
    ) -> Result<EnvRecord> {
        let name = self.write(|conn| {
            let taken = |n: &str| get(conn, n).ok().flatten().is_some();
            let name = generate(&taken);
            let mut env = env.clone();
            env.name = name.clone();
            fill(&mut env, &name);
            insert(conn, &env)?;
            Ok::<_, StoreError>(name)
        })?;
        self.environment(&name)?.ok_or(StoreError::NotFound(name))
    }

    /// The environment named `name`, if any.
    pub fn environment(&self, name: &str) -> Result<Option<EnvRecord>> {
        get(self.conn(), name)
    }

    /// Like [`Store::environment`] but an error when missing.
    pub fn require_environment(&self, name: &str) -> Result<EnvRecord> {
        self.environment(name)?
            .ok_or_else(|| StoreError::NotFound(name.to_string()))
    }

    /// Every environment, oldest first.
    pub fn environments(&self) -> Result<Vec<EnvRecord>> {
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {COLUMNS} FROM environments ORDER BY created_at, name"
        ))?;
        let rows = stmt.query_map([], from_row)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r??);
        }
        Ok(out)
    }

    /// Names of every environment.
    pub fn environment_names(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT name FROM environments ORDER BY name")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every environment's name and state, by name: what the proxy needs to
    /// answer for environments that are not running. A state this warren
    /// does not know (a newer one wrote it) comes back as the error, so one
    /// such row hides nothing else.
    pub fn environment_states(
        &self,
    ) -> Result<Vec<(String, std::result::Result<EnvState, UnknownState>)>> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT name, state FROM environments ORDER BY name")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (name, state) = row?;
            out.push((name, state.parse()));
        }
        Ok(out)
    }

    /// Sets the state (and bumps `updated_at`).
    pub fn set_state(&self, name: &str, state: EnvState) -> Result<()> {
        self.update(name, "state = ?2", params![name, state.as_str()])
    }

    /// Records the runtime handle and image once the container exists.
    pub fn set_container(&self, name: &str, container_id: &str, image: Option<&str>) -> Result<()> {
        self.update(
            name,
            "container_id = ?2, image = ?3",
            params![name, container_id, image],
        )
    }

    /// Replaces the resolved spec and its hash.
    pub fn set_spec(&self, name: &str, spec: &str, config_hash: &str) -> Result<()> {
        self.update(
            name,
            "spec = ?2, config_hash = ?3",
            params![name, spec, config_hash],
        )
    }

    fn update(&self, name: &str, set: &str, params: &[&dyn rusqlite::ToSql]) -> Result<()> {
        let sql = format!(
            "UPDATE environments SET {set}, updated_at = {} WHERE name = ?1",
            now_unix()
        );
        let n = self.write(|conn| conn.execute(&sql, params).map_err(StoreError::from))?;
        if n == 0 {
            return Err(StoreError::NotFound(name.to_string()));
        }
        Ok(())
    }

    /// Removes an environment and everything keyed by it (routes, lifecycle
    /// runs) in one transaction. Missing is not an error.
    pub fn delete_environment(&self, name: &str) -> Result<bool> {
        self.write(|conn| {
            conn.execute("DELETE FROM routes WHERE env = ?1", [name])?;
            conn.execute("DELETE FROM lifecycle_runs WHERE env = ?1", [name])?;
            let n = conn.execute("DELETE FROM environments WHERE name = ?1", [name])?;
            Ok(n > 0)
        })
    }
}

fn get(conn: &rusqlite::Connection, name: &str) -> Result<Option<EnvRecord>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM environments WHERE name = ?1"
    ))?;
    match stmt.query_row([name], from_row).optional()? {
        Some(r) => Ok(Some(r?)),
        None => Ok(None),
    }
}

fn insert(conn: &rusqlite::Connection, env: &NewEnvironment) -> Result<()> {
    let now = now_unix();
    conn.execute(
        &format!(
            "INSERT INTO environments ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, NULL, ?9, ?10, ?11, ?11, ?12)"
        ),
        params![
            env.name,
            env.project,
            env.project_path.to_string_lossy(),
            env.worktree.to_string_lossy(),
            env.branch,
            env.env_type,
            env.runtime.as_str(),
            EnvState::Creating.as_str(),
            env.config_hash,
            env.spec,
            now,
            std::process::id() as i64,
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn new_env(name: &str) -> NewEnvironment {
        NewEnvironment {
            name: name.into(),
            project: "proj".into(),
            project_path: "/src/proj".into(),
            worktree: format!("/w/proj/{name}").into(),
            branch: format!("warren/{name}"),
            env_type: None,
            runtime: RuntimeKind::Docker,
            config_hash: "h".into(),
            spec: "{}".into(),
        }
    }

    #[test]
    fn insert_get_update_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let rec = store.insert_environment(&new_env("a")).unwrap();
        assert_eq!(rec.state, EnvState::Creating);
        assert_eq!(rec.creator_pid, Some(std::process::id()));
        store.set_container("a", "cid", Some("img")).unwrap();
        store.set_state("a", EnvState::Running).unwrap();
        let rec = store.require_environment("a").unwrap();
        assert_eq!(rec.container_id.as_deref(), Some("cid"));
        assert_eq!(rec.state, EnvState::Running);
        assert!(store.delete_environment("a").unwrap());
        assert!(store.environment("a").unwrap().is_none());
        assert!(matches!(
            store.set_state("a", EnvState::Running),
            Err(StoreError::NotFound(_))
        ));
    }

    #[test]
    fn states_by_name_survive_an_unknown_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.insert_environment(&new_env("b")).unwrap();
        store.insert_environment(&new_env("a")).unwrap();
        store.insert_environment(&new_env("c")).unwrap();
        store.set_state("a", EnvState::Stopped).unwrap();
        // What a newer warren might write.
        store
            .conn()
            .execute(
                "UPDATE environments SET state = 'hibernating' WHERE name = 'c'",
                [],
            )
            .unwrap();
        let states = store.environment_states().unwrap();
        assert_eq!(states.len(), 3);
        assert_eq!(states[0].0, "a");
        assert_eq!(states[0].1.as_ref().ok(), Some(&EnvState::Stopped));
        assert_eq!(states[1].1.as_ref().ok(), Some(&EnvState::Creating));
        assert_eq!(
            states[2].1.as_ref().map_err(|e| e.0.as_str()),
            Err("hibernating")
        );
    }

    #[test]
    fn duplicate_name_names_the_owner() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.insert_environment(&new_env("a")).unwrap();
        let err = store.insert_environment(&new_env("a")).unwrap_err();
        assert!(err.to_string().contains("/w/proj/a"), "{err}");
    }

    #[test]
    fn generated_names_are_unique_across_threads() {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path()).unwrap();
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let root = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    let store = Store::open(&root).unwrap();
                    (0..10)
                        .map(|_| {
                            store
                                .insert_environment_generated(
                                    &new_env("x"),
                                    |taken| warren_core::generate_name(|n| taken(n)),
                                    |env, name| env.worktree = format!("/w/{name}").into(),
                                )
                                .unwrap()
                                .name
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<String> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 80);
        assert_eq!(
            Store::open(dir.path())
                .unwrap()
                .environments()
                .unwrap()
                .len(),
            80
        );
    }
}
