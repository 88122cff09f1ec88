//! The `agents` table: one row per running agent server (`warren agent
//! serve`), so directors find an agent by name and learn its URL. A row
//! whose `pid` is gone is stale; the reader decides (it needs the OS).

use rusqlite::{OptionalExtension, params};

use crate::{Result, Store, StoreError};

/// A registered agent server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRecord {
    /// The agent's name: its environment's name, or the `--name` of a host agent.
    pub name: String,
    /// The tool it runs (`claude`, `codex`, …).
    pub tool: String,
    /// The environment the tool runs in (`None` on the host runtime).
    pub env: Option<String>,
    /// `host`, `docker`, `sandbox`, or `env` when the environment's runtime is not known.
    pub runtime: String,
    /// Base URL of the task API (`http://127.0.0.1:PORT`).
    pub url: String,
    pub port: u16,
    /// Process id of the server (to recognise stale rows).
    pub pid: u32,
    pub started_at: i64,
}

const COLUMNS: &str = "name, tool, env, runtime, url, port, pid, started_at";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AgentRecord> {
    Ok(AgentRecord {
        name: r.get(0)?,
        tool: r.get(1)?,
        env: r.get(2)?,
        runtime: r.get(3)?,
        url: r.get(4)?,
        port: r.get::<_, i64>(5)? as u16,
        pid: r.get::<_, i64>(6)? as u32,
        started_at: r.get(7)?,
    })
}

impl Store {
    /// Registers (or replaces) an agent server.
    pub fn register_agent(&self, agent: &AgentRecord) -> Result<()> {
        self.write(|conn| {
            conn.execute(
                &format!(
                    "INSERT INTO agents ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT(name) DO UPDATE SET tool = excluded.tool, env = excluded.env,
                       runtime = excluded.runtime, url = excluded.url, port = excluded.port,
                       pid = excluded.pid, started_at = excluded.started_at"
                ),
                params![
                    agent.name,
                    agent.tool,
                    agent.env,
                    agent.runtime,
                    agent.url,
                    agent.port as i64,
                    agent.pid as i64,
                    agent.started_at
                ],
            )?;
            Ok::<_, StoreError>(())
        })
    }

    /// Removes an agent's row if it still belongs to `pid` (a newer server
    /// under the same name keeps its row).
    pub fn unregister_agent(&self, name: &str, pid: u32) -> Result<bool> {
        self.write(|conn| {
            Ok(conn.execute(
                "DELETE FROM agents WHERE name = ?1 AND pid = ?2",
                params![name, pid as i64],
            )? > 0)
        })
    }

    /// One agent by name.
    pub fn agent(&self, name: &str) -> Result<Option<AgentRecord>> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM agents WHERE name = ?1"),
                [name],
                from_row,
            )
            .optional()?)
    }

    /// Every registered agent (live or stale), by name.
    pub fn agents(&self) -> Result<Vec<AgentRecord>> {
        let mut stmt = self
            .conn()
            .prepare_cached(&format!("SELECT {COLUMNS} FROM agents ORDER BY name"))?;
        let rows = stmt.query_map([], from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_replace_unregister() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut a = AgentRecord {
            name: "otter".into(),
            tool: "claude".into(),
            env: Some("otter".into()),
            runtime: "sandbox".into(),
            url: "http://127.0.0.1:4000".into(),
            port: 4000,
            pid: 10,
            started_at: 1,
        };
        store.register_agent(&a).unwrap();
        a.pid = 11;
        a.port = 4001;
        store.register_agent(&a).unwrap();
        assert_eq!(store.agents().unwrap(), vec![a.clone()]);
        assert!(
            !store.unregister_agent("otter", 10).unwrap(),
            "old pid keeps hands off"
        );
        assert!(store.unregister_agent("otter", 11).unwrap());
        assert!(store.agent("otter").unwrap().is_none());
    }
}
