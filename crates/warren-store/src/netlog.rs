//! The `net_log` table: one row per egress request or tunnel of an environment
//! (written by its network daemon, read by `warren net log`). Entries of an
//! environment go with it (`remove_net_log`), and each environment keeps its last
//! [`KEEP_PER_ENV`] rows.

use rusqlite::params;

use crate::{Result, Store};

/// Rows kept per environment.
pub const KEEP_PER_ENV: i64 = 10_000;

/// One egress request or tunnel.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NetLogRow {
    /// Row id (increasing), for following.
    pub id: i64,
    pub env: String,
    /// Unix time in milliseconds.
    pub time_ms: i64,
    pub method: String,
    pub host: String,
    pub port: u16,
    /// Only for intercepted (granted) or plain-HTTP requests.
    pub path: Option<String>,
    pub status: u16,
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub allowed: bool,
    pub reason: Option<String>,
    pub grant: Option<String>,
}

const COLUMNS: &str = "id, env, time_ms, method, host, port, path, status, bytes_up, bytes_down, allowed, reason, grant_name";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<NetLogRow> {
    Ok(NetLogRow {
        id: r.get(0)?,
        env: r.get(1)?,
        time_ms: r.get(2)?,
        method: r.get(3)?,
        host: r.get(4)?,
        port: r.get::<_, i64>(5)? as u16,
        path: r.get(6)?,
        status: r.get::<_, i64>(7)? as u16,
        bytes_up: r.get::<_, i64>(8)? as u64,
        bytes_down: r.get::<_, i64>(9)? as u64,
        allowed: r.get::<_, i64>(10)? != 0,
        reason: r.get(11)?,
        grant: r.get(12)?,
    })
}

impl Store {
    /// Appends rows (their `id` is ignored) in one transaction, trimming each
    /// environment to its last [`KEEP_PER_ENV`].
    pub fn add_net_log(&self, rows: &[NetLogRow]) -> Result<()> {
        self.write(|conn| {
            for r in rows {
                conn.execute(
                    "INSERT INTO net_log (env, time_ms, method, host, port, path, status, bytes_up, bytes_down, allowed, reason, grant_name)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                    params![
                        r.env,
                        r.time_ms,
                        r.method,
                        r.host,
                        r.port as i64,
                        r.path,
                        r.status as i64,
                        r.bytes_up as i64,
                        r.bytes_down as i64,
                        r.allowed as i64,
                        r.reason,
                        r.grant,
                    ],
                )?;
            }
            if let Some(env) = rows.first().map(|r| &r.env) {
                conn.execute(
                    "DELETE FROM net_log WHERE env = ?1 AND id <= (SELECT MAX(id) FROM net_log WHERE env = ?1) - ?2",
                    params![env, KEEP_PER_ENV],
                )?;
            }
            Ok(())
        })
    }

    /// Rows of `env` with an id above `after`, oldest first, at most `limit`.
    pub fn net_log(&self, env: &str, after: i64, limit: i64) -> Result<Vec<NetLogRow>> {
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {COLUMNS} FROM net_log WHERE env = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
        ))?;
        let rows = stmt
            .query_map(params![env, after, limit], from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Forgets `env`'s rows (the environment was removed).
    pub fn remove_net_log(&self, env: &str) -> Result<usize> {
        Ok(self.write(|conn| conn.execute("DELETE FROM net_log WHERE env = ?1", [env]))?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn row(env: &str, host: &str, allowed: bool) -> NetLogRow {
        NetLogRow {
            id: 0,
            env: env.into(),
            time_ms: 1,
            method: "CONNECT".into(),
            host: host.into(),
            port: 443,
            path: None,
            status: if allowed { 200 } else { 403 },
            bytes_up: 10,
            bytes_down: 20,
            allowed,
            reason: None,
            grant: None,
        }
    }

    #[test]
    fn rows_are_kept_per_environment_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .add_net_log(&[row("a", "x.example", true), row("a", "y.example", false)])
            .unwrap();
        store.add_net_log(&[row("b", "z.example", true)]).unwrap();
        let a = store.net_log("a", 0, 100).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!((a[0].host.as_str(), a[1].allowed), ("x.example", false));
        assert_eq!(store.net_log("a", a[0].id, 100).unwrap().len(), 1);
        assert_eq!(store.remove_net_log("a").unwrap(), 2);
        assert_eq!(store.net_log("b", 0, 100).unwrap().len(), 1);
    }
}
