//! The `routes` table: `SERVICE.ENV.localhost` -> `host:port`. Written by
//! environments as they start and stop, read by the proxy (which notices
//! changes through [`Store::data_version`]).

use rusqlite::params;

use crate::{Result, Store, StoreError, now_unix};

/// `target_host` of a route into an environment's own network namespace: the proxy
/// asks the environment's network daemon for a connection to `target_port` there.
pub const NETNS_TARGET: &str = "netns";

/// One service of one environment, reachable on the host at
/// `target_host:target_port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub env: String,
    pub service: String,
    /// Declaration order; the lowest is the environment's default service.
    pub ord: i64,
    pub target_host: String,
    pub target_port: u16,
    /// The port the service listens on inside the environment, if different.
    pub inner_port: Option<u16>,
    /// Human label (devcontainer `portsAttributes`).
    pub label: Option<String>,
}

impl Route {
    /// `host:port` of the backend.
    pub fn target(&self) -> String {
        format!("{}:{}", self.target_host, self.target_port)
    }
}

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Route> {
    Ok(Route {
        env: r.get(0)?,
        service: r.get(1)?,
        ord: r.get(2)?,
        target_host: r.get(3)?,
        target_port: r.get::<_, i64>(4)? as u16,
        inner_port: r.get::<_, Option<i64>>(5)?.map(|p| p as u16),
        label: r.get(6)?,
    })
}

const COLUMNS: &str = "env, service, ord, target_host, target_port, inner_port, label";

impl Store {
    /// Replaces every route of `env` with `routes`, atomically.
    pub fn set_routes(&self, env: &str, routes: &[Route]) -> Result<()> {
        self.write(|conn| {
            conn.execute("DELETE FROM routes WHERE env = ?1", [env])?;
            let now = now_unix();
            for r in routes {
                conn.execute(
                    &format!("INSERT INTO routes ({COLUMNS}, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                    params![
                        env,
                        r.service,
                        r.ord,
                        r.target_host,
                        r.target_port as i64,
                        r.inner_port.map(|p| p as i64),
                        r.label,
                        now
                    ],
                )?;
            }
            Ok::<_, StoreError>(())
        })
    }

    /// Adds or replaces one route.
    pub fn add_route(&self, route: &Route) -> Result<()> {
        self.write(|conn| {
            conn.execute(
                &format!(
                    "INSERT INTO routes ({COLUMNS}, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT(env, service) DO UPDATE SET ord = excluded.ord,
                       target_host = excluded.target_host, target_port = excluded.target_port,
                       inner_port = excluded.inner_port, label = excluded.label"
                ),
                params![
                    route.env,
                    route.service,
                    route.ord,
                    route.target_host,
                    route.target_port as i64,
                    route.inner_port.map(|p| p as i64),
                    route.label,
                    now_unix()
                ],
            )?;
            Ok::<_, StoreError>(())
        })
    }

    /// Removes every route of `env`; returns how many there were.
    pub fn remove_routes(&self, env: &str) -> Result<usize> {
        self.write(|conn| Ok(conn.execute("DELETE FROM routes WHERE env = ?1", [env])?))
    }

    /// Removes one route.
    pub fn remove_route(&self, env: &str, service: &str) -> Result<bool> {
        self.write(|conn| {
            Ok(conn.execute(
                "DELETE FROM routes WHERE env = ?1 AND service = ?2",
                [env, service],
            )? > 0)
        })
    }

    /// Every route, grouped by environment, each environment's in declaration order.
    pub fn routes(&self) -> Result<Vec<Route>> {
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {COLUMNS} FROM routes ORDER BY env, ord, service"
        ))?;
        let rows = stmt.query_map([], from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Routes of one environment in declaration order.
    pub fn routes_of(&self, env: &str) -> Result<Vec<Route>> {
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {COLUMNS} FROM routes WHERE env = ?1 ORDER BY ord, service"
        ))?;
        let rows = stmt.query_map([env], from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(env: &str, svc: &str, ord: i64, port: u16) -> Route {
        Route {
            env: env.into(),
            service: svc.into(),
            ord,
            target_host: "127.0.0.1".into(),
            target_port: port,
            inner_port: Some(3000),
            label: None,
        }
    }

    #[test]
    fn set_list_remove() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .set_routes(
                "a",
                &[route("a", "web", 0, 1000), route("a", "api", 1, 1001)],
            )
            .unwrap();
        store.add_route(&route("b", "web", 0, 2000)).unwrap();
        let v0 = store.data_version().unwrap();
        let names: Vec<_> = store
            .routes()
            .unwrap()
            .into_iter()
            .map(|r| format!("{}.{}", r.service, r.env))
            .collect();
        assert_eq!(names, ["web.a", "api.a", "web.b"]);
        assert_eq!(store.routes_of("a").unwrap()[0].target(), "127.0.0.1:1000");
        let other = Store::open(dir.path()).unwrap();
        assert_eq!(other.remove_routes("a").unwrap(), 2);
        assert_ne!(
            store.data_version().unwrap(),
            v0,
            "data_version sees other connections' writes"
        );
        assert_eq!(store.routes().unwrap().len(), 1);
    }
}
