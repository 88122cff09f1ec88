//! The in-memory route table the proxy answers from. Built from the store's
//! rows whenever they change and swapped in whole, so a request never
//! touches SQLite and never sees half an update.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use http::uri::Authority;
use warren_store::Route;

/// One service's backend, ready to forward to.
#[derive(Debug, Clone)]
pub struct Backend {
    pub service: String,
    /// Human label (devcontainer `portsAttributes`), for the landing page.
    pub label: Option<String>,
    /// `host:port` as a URI authority (cloning it is a reference-count bump).
    pub authority: Authority,
}

/// The services of one environment, in declaration order (first = default).
#[derive(Debug, Clone, Default)]
pub struct EnvRoutes {
    /// Lowercase environment name.
    pub name: String,
    pub services: Vec<Backend>,
}

impl EnvRoutes {
    /// Service names in declaration order.
    pub fn service_names(&self) -> Vec<&str> {
        self.services.iter().map(|b| b.service.as_str()).collect()
    }
}

/// Result of a lookup.
#[derive(Debug)]
pub enum Lookup<'t> {
    Found {
        env: &'t EnvRoutes,
        backend: &'t Backend,
    },
    UnknownEnv,
    UnknownService(&'t EnvRoutes),
}

/// Every route, indexed by lowercase environment name.
#[derive(Debug, Default)]
pub struct RouteTable {
    envs: HashMap<String, EnvRoutes>,
    names: Vec<String>,
    routes: Vec<Route>,
    /// Routes whose target could not be used, with why (shown on the landing page).
    skipped: Vec<(Route, String)>,
}

impl RouteTable {
    /// Builds the table from store rows (any order; `ord` decides the default).
    pub fn new(mut routes: Vec<Route>) -> RouteTable {
        routes.sort_by(|a, b| (&a.env, a.ord, &a.service).cmp(&(&b.env, b.ord, &b.service)));
        let mut envs: HashMap<String, EnvRoutes> = HashMap::new();
        let mut skipped = Vec::new();
        for r in &routes {
            match authority(r) {
                Ok(authority) => {
                    let name = r.env.to_ascii_lowercase();
                    envs.entry(name.clone())
                        .or_insert_with(|| EnvRoutes {
                            name,
                            services: Vec::new(),
                        })
                        .services
                        .push(Backend {
                            service: r.service.to_ascii_lowercase(),
                            label: r.label.clone(),
                            authority,
                        });
                }
                Err(why) => skipped.push((r.clone(), why)),
            }
        }
        let mut names: Vec<String> = envs.keys().cloned().collect();
        names.sort();
        RouteTable {
            envs,
            names,
            routes,
            skipped,
        }
    }

    /// The backend for `[service.]env`; names compare case-insensitively.
    pub fn lookup(&self, env: &str, service: Option<&str>) -> Lookup<'_> {
        let found = match self.envs.get(env) {
            Some(e) => Some(e),
            // Hosts are nearly always lowercase already; only allocate when not.
            None if env.bytes().any(|b| b.is_ascii_uppercase()) => {
                self.envs.get(&env.to_ascii_lowercase())
            }
            None => None,
        };
        let Some(routes) = found else {
            return Lookup::UnknownEnv;
        };
        let backend = match service {
            None => routes.services.first(),
            Some(s) => routes
                .services
                .iter()
                .find(|b| b.service.eq_ignore_ascii_case(s)),
        };
        match backend {
            Some(backend) => Lookup::Found {
                env: routes,
                backend,
            },
            None => Lookup::UnknownService(routes),
        }
    }

    /// The routes of environment `name` (lowercase).
    pub fn env(&self, name: &str) -> Option<&EnvRoutes> {
        self.envs.get(name)
    }

    /// Environment names with at least one route, sorted.
    pub fn env_names(&self) -> &[String] {
        &self.names
    }

    /// Every route, by environment then declaration order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Routes left out because their target is not a usable address.
    pub fn skipped(&self) -> &[(Route, String)] {
        &self.skipped
    }

    /// No routes at all (the proxy's idle clock runs).
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

fn authority(r: &Route) -> Result<Authority, String> {
    let host = r.target_host.trim();
    // An IPv6 literal needs brackets inside an authority.
    let text = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{}", r.target_port)
    } else {
        format!("{host}:{}", r.target_port)
    };
    if r.target_port == 0 {
        return Err(format!("target `{text}` has port 0"));
    }
    Authority::try_from(text.as_str()).map_err(|e| format!("target `{text}`: {e}"))
}

/// The current table, shared between the reloader (writer) and every
/// connection (readers). Readers take a cheap snapshot; the writer swaps.
#[derive(Debug, Clone, Default)]
pub struct SharedTable(Arc<RwLock<Arc<RouteTable>>>);

impl SharedTable {
    /// A snapshot of the current table.
    pub fn load(&self) -> Arc<RouteTable> {
        match self.0.read() {
            Ok(t) => Arc::clone(&t),
            // A panicking writer cannot leave a half-built table behind (the
            // swap is one pointer store), so a poisoned lock is still valid.
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Replaces the table.
    pub fn store(&self, table: RouteTable) {
        let table = Arc::new(table);
        match self.0.write() {
            Ok(mut t) => *t = table,
            Err(poisoned) => *poisoned.into_inner() = table,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(env: &str, svc: &str, ord: i64, host: &str, port: u16) -> Route {
        Route {
            env: env.into(),
            service: svc.into(),
            ord,
            target_host: host.into(),
            target_port: port,
            inner_port: None,
            label: None,
        }
    }

    #[test]
    fn default_is_lowest_ord_and_lookups_ignore_case() {
        let t = RouteTable::new(vec![
            route("otter", "api", 1, "127.0.0.1", 2),
            route("otter", "web", 0, "127.0.0.1", 1),
            route("Badger", "web", 0, "::1", 3),
        ]);
        let found = |env, svc| match t.lookup(env, svc) {
            Lookup::Found { backend, .. } => backend.authority.to_string(),
            other => format!("{other:?}"),
        };
        assert_eq!(found("otter", None), "127.0.0.1:1");
        assert_eq!(found("otter", Some("API")), "127.0.0.1:2");
        assert_eq!(found("OTTER", Some("web")), "127.0.0.1:1");
        assert_eq!(found("badger", None), "[::1]:3");
        assert!(matches!(t.lookup("nope", None), Lookup::UnknownEnv));
        match t.lookup("otter", Some("db")) {
            Lookup::UnknownService(e) => assert_eq!(e.service_names(), ["web", "api"]),
            other => panic!("{other:?}"),
        }
        assert_eq!(t.env_names(), ["badger", "otter"]);
    }

    #[test]
    fn unusable_targets_are_skipped() {
        let t = RouteTable::new(vec![
            route("a", "web", 0, "bad host", 1),
            route("a", "x", 1, "h", 0),
        ]);
        assert_eq!(t.skipped().len(), 2);
        assert!(matches!(t.lookup("a", None), Lookup::UnknownEnv));
        assert!(!t.is_empty());
    }
}
