//! The in-memory route table the proxy answers from. Built from the store's
//! routes and environment states whenever they change and swapped in whole,
//! so a request never touches SQLite and never sees half an update.
//!
//! Routes are served only for environments that may be running: a stopped,
//! gone or failed environment's routes (if any are left in the table) point
//! at ports its runtime has given back, which another program may hold by
//! now, so the proxy answers for it instead of forwarding.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};

use http::uri::Authority;
use warren_core::EnvState;
use warren_store::Route;

/// One service's backend, ready to forward to.
#[derive(Debug)]
pub struct Backend {
    pub service: String,
    /// Human label (devcontainer `portsAttributes`), for the landing page.
    pub label: Option<String>,
    /// `host:port` as a URI authority (cloning it is a reference-count bump).
    pub authority: Authority,
    /// Did not answer the last request sent to it (so the log says once
    /// that it is down, and once that it is back).
    pub down: AtomicBool,
}

/// What the store says about an environment the proxy knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Routes without an `environments` row (written straight into the
    /// store, as tests and benchmarks do): served as they are.
    RoutesOnly,
    /// The state in the `environments` table.
    State(EnvState),
    /// A state this warren does not know (a newer one wrote it); its routes
    /// are served, since whoever wrote them meant them to be.
    Unknown(String),
}

impl Recorded {
    /// Whether routes of an environment in this state are forwarded to.
    /// `creating` counts: routes are registered just before the state
    /// becomes `running`.
    pub fn routable(&self) -> bool {
        !matches!(
            self,
            Recorded::State(EnvState::Stopped | EnvState::Gone | EnvState::Failed)
        )
    }
}

/// One environment: its state and the services it is routed to, in
/// declaration order (first = default).
#[derive(Debug)]
pub struct EnvRoutes {
    /// Lowercase environment name.
    pub name: String,
    pub recorded: Recorded,
    /// Empty unless the environment is routable and has usable routes.
    pub services: Vec<Backend>,
    /// Routes in the store that are not served because of the state.
    pub ignored: usize,
}

impl EnvRoutes {
    /// Service names in declaration order.
    pub fn service_names(&self) -> Vec<&str> {
        self.services.iter().map(|b| b.service.as_str()).collect()
    }

    /// Whether requests for it are forwarded.
    pub fn routed(&self) -> bool {
        !self.services.is_empty()
    }
}

/// Result of a lookup.
#[derive(Debug)]
pub enum Lookup<'t> {
    Found {
        env: &'t EnvRoutes,
        backend: &'t Backend,
    },
    /// Neither a route nor an environment of that name.
    UnknownEnv,
    /// Routed, but not to that service.
    UnknownService(&'t EnvRoutes),
    /// Known, but nothing of it is routed (stopped, gone, starting…).
    NotRouted(&'t EnvRoutes),
}

/// Every environment the proxy knows, indexed by lowercase name.
#[derive(Debug, Default)]
pub struct RouteTable {
    envs: HashMap<String, EnvRoutes>,
    /// Every known environment, sorted.
    known: Vec<String>,
    /// Environments with served routes, sorted.
    routed: Vec<String>,
    /// How many routes are served.
    served: usize,
    /// Routes whose target could not be used, with why.
    skipped: Vec<(Route, String)>,
}

/// An environment's state as read from the store (`Err`: a state this
/// warren does not know, as written).
pub type StateRow = (String, Result<EnvState, String>);

/// Every environment's state, read from the store.
pub fn load_states(store: &warren_store::Store) -> Result<Vec<StateRow>, warren_store::StoreError> {
    Ok(store
        .environment_states()?
        .into_iter()
        .map(|(name, state)| (name, state.map_err(|unknown| unknown.0)))
        .collect())
}

impl RouteTable {
    /// Builds the table from store rows (any order; `ord` decides the
    /// default service).
    pub fn new(mut routes: Vec<Route>, states: &[StateRow]) -> RouteTable {
        routes.sort_by(|a, b| (&a.env, a.ord, &a.service).cmp(&(&b.env, b.ord, &b.service)));
        let mut envs: HashMap<String, EnvRoutes> = HashMap::new();
        for (name, state) in states {
            let name = name.to_ascii_lowercase();
            let recorded = match state {
                Ok(s) => Recorded::State(*s),
                Err(unknown) => Recorded::Unknown(unknown.clone()),
            };
            envs.insert(
                name.clone(),
                EnvRoutes {
                    name,
                    recorded,
                    services: Vec::new(),
                    ignored: 0,
                },
            );
        }
        let mut skipped = Vec::new();
        let mut served = 0;
        for r in routes {
            let name = r.env.to_ascii_lowercase();
            let env = envs.entry(name.clone()).or_insert_with(|| EnvRoutes {
                name,
                recorded: Recorded::RoutesOnly,
                services: Vec::new(),
                ignored: 0,
            });
            if !env.recorded.routable() {
                env.ignored += 1;
                continue;
            }
            match authority(&r) {
                Ok(authority) => {
                    served += 1;
                    env.services.push(Backend {
                        service: r.service.to_ascii_lowercase(),
                        label: r.label.clone(),
                        authority,
                        down: AtomicBool::new(false),
                    });
                }
                Err(why) => skipped.push((r, why)),
            }
        }
        // An environment known only through routes that were all unusable
        // is not worth a listing of its own (the landing page shows them).
        envs.retain(|_, e| e.recorded != Recorded::RoutesOnly || e.routed());
        let mut known: Vec<String> = envs.keys().cloned().collect();
        known.sort();
        let routed = known
            .iter()
            .filter(|n| envs.get(*n).is_some_and(EnvRoutes::routed))
            .cloned()
            .collect();
        RouteTable {
            envs,
            known,
            routed,
            served,
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
            None if routes.routed() => Lookup::UnknownService(routes),
            None => Lookup::NotRouted(routes),
        }
    }

    /// Every environment the proxy knows of, sorted by name.
    pub fn known(&self) -> impl Iterator<Item = &EnvRoutes> {
        self.known.iter().filter_map(|n| self.envs.get(n))
    }

    /// Names of every environment the proxy knows of, sorted.
    pub fn known_names(&self) -> &[String] {
        &self.known
    }

    /// Whether `route` is one of those served.
    pub fn routes_to(&self, route: &Route) -> bool {
        match self.envs.get(&route.env.to_ascii_lowercase()) {
            Some(e) => e
                .services
                .iter()
                .any(|b| b.service.eq_ignore_ascii_case(&route.service)),
            None => false,
        }
    }

    /// Names of the environments with served routes, sorted.
    pub fn env_names(&self) -> &[String] {
        &self.routed
    }

    /// How many routes are served.
    pub fn served(&self) -> usize {
        self.served
    }

    /// Routes left out because their target is not a usable address.
    pub fn skipped(&self) -> &[(Route, String)] {
        &self.skipped
    }

    /// Nothing is served (the proxy's idle clock runs).
    pub fn is_empty(&self) -> bool {
        self.served == 0
    }
}

impl Recorded {
    /// The state in words (`stopped`, or `no environment record` for routes
    /// written without one).
    pub fn describe(&self) -> &str {
        match self {
            Recorded::RoutesOnly => "no environment record",
            Recorded::State(s) => s.as_str(),
            Recorded::Unknown(s) => s,
        }
    }
}

/// `1 environment`, `2 environments`.
pub fn count(n: usize, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

/// The most lines one reload writes to the log.
const MAX_CHANGE_LINES: usize = 20;

/// What changed from `old` to `new`, one sentence per environment, for the
/// proxy's log.
pub fn changes(old: &RouteTable, new: &RouteTable) -> Vec<String> {
    let mut names: Vec<&String> = old.known.iter().chain(&new.known).collect();
    names.sort();
    names.dedup();
    let mut lines = Vec::new();
    for name in names {
        let (before, after) = (old.envs.get(name), new.envs.get(name));
        let same = match (before, after) {
            (Some(b), Some(a)) => {
                b.recorded == a.recorded
                    && b.ignored == a.ignored
                    && b.services.len() == a.services.len()
                    && b.services
                        .iter()
                        .zip(&a.services)
                        .all(|(x, y)| x.service == y.service && x.authority == y.authority)
            }
            (None, None) => true,
            _ => false,
        };
        if same {
            continue;
        }
        let line = match after {
            None => format!("{name} was removed; nothing of it is routed"),
            Some(a) if a.routed() => {
                let targets: Vec<String> = a
                    .services
                    .iter()
                    .map(|b| format!("{} -> {}", b.service, b.authority))
                    .collect();
                format!("{name} is routed: {}", targets.join(", "))
            }
            Some(a) if a.ignored > 0 => format!(
                "{name} is {}: {} not served (its ports may belong to another program by now)",
                a.recorded.describe(),
                if a.ignored == 1 {
                    "its route is".to_string()
                } else {
                    format!("its {} routes are", a.ignored)
                }
            ),
            Some(a) if before.is_some_and(EnvRoutes::routed) => format!(
                "{name} is no longer routed: it is {}",
                a.recorded.describe()
            ),
            Some(a) => format!("{name} is {}, with nothing routed", a.recorded.describe()),
        };
        lines.push(line);
    }
    for (r, why) in &new.skipped {
        if !old.skipped.iter().any(|(o, _)| o == r) {
            lines.push(format!("{}.{} is not routed: {why}", r.service, r.env));
        }
    }
    if lines.len() > MAX_CHANGE_LINES {
        let more = lines.len() - MAX_CHANGE_LINES + 1;
        lines.truncate(MAX_CHANGE_LINES - 1);
        lines.push(format!("… and {more} more changes"));
    }
    lines
}

fn authority(r: &Route) -> Result<Authority, String> {
    let host = r.target_host.trim();
    if host == warren_store::NETNS_TARGET {
        // A service on the environment's own loopback: the authority names the
        // environment, so the connection cache keeps environments apart, and
        // `upstream::connect` dials through its network daemon.
        return Authority::try_from(
            format!(
                "{}{}:{}",
                r.env,
                crate::upstream::NETNS_SUFFIX,
                r.target_port
            )
            .as_str(),
        )
        .map_err(|e| format!("route of `{}` into its namespace: {e}", r.env));
    }
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
        let t = RouteTable::new(
            vec![
                route("otter", "api", 1, "127.0.0.1", 2),
                route("otter", "web", 0, "127.0.0.1", 1),
                route("Badger", "web", 0, "::1", 3),
            ],
            &[],
        );
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
        assert_eq!(t.served(), 3);
    }

    #[test]
    fn unusable_targets_are_skipped() {
        let t = RouteTable::new(
            vec![
                route("a", "web", 0, "bad host", 1),
                route("a", "x", 1, "h", 0),
            ],
            &[],
        );
        assert_eq!(t.skipped().len(), 2);
        assert!(matches!(t.lookup("a", None), Lookup::UnknownEnv));
        assert!(t.is_empty());
    }

    #[test]
    fn only_environments_that_may_run_are_routed() {
        let states: Vec<StateRow> = vec![
            ("run".into(), Ok(EnvState::Running)),
            ("new".into(), Ok(EnvState::Creating)),
            ("stop".into(), Ok(EnvState::Stopped)),
            ("gone".into(), Ok(EnvState::Gone)),
            ("fail".into(), Ok(EnvState::Failed)),
            ("idle".into(), Ok(EnvState::Running)),
            ("later".into(), Err("hibernating".into())),
        ];
        let routes = ["run", "new", "stop", "gone", "fail", "later", "bare"]
            .iter()
            .map(|e| route(e, "web", 0, "127.0.0.1", 1))
            .collect();
        let t = RouteTable::new(routes, &states);
        for routed in ["run", "new", "later", "bare"] {
            assert!(
                matches!(t.lookup(routed, None), Lookup::Found { .. }),
                "{routed}"
            );
        }
        for (name, state) in [
            ("stop", EnvState::Stopped),
            ("gone", EnvState::Gone),
            ("fail", EnvState::Failed),
            ("idle", EnvState::Running),
        ] {
            match t.lookup(name, Some("web")) {
                Lookup::NotRouted(e) => assert_eq!(e.recorded, Recorded::State(state)),
                other => panic!("{name}: {other:?}"),
            }
        }
        match t.lookup("gone", None) {
            Lookup::NotRouted(e) => assert_eq!(e.ignored, 1, "its route is left out"),
            other => panic!("{other:?}"),
        }
        assert_eq!(t.env_names(), ["bare", "later", "new", "run"]);
        assert_eq!(
            t.known_names(),
            [
                "bare", "fail", "gone", "idle", "later", "new", "run", "stop"
            ]
        );
        assert_eq!(t.served(), 4);
    }

    #[test]
    fn changes_in_words() {
        let old = RouteTable::new(
            vec![
                route("otter", "web", 0, "127.0.0.1", 1),
                route("hare", "web", 0, "127.0.0.1", 2),
                route("fox", "web", 0, "127.0.0.1", 3),
            ],
            &[
                ("otter".into(), Ok(EnvState::Running)),
                ("hare".into(), Ok(EnvState::Running)),
                ("fox".into(), Ok(EnvState::Running)),
                ("mole".into(), Ok(EnvState::Stopped)),
            ],
        );
        let new = RouteTable::new(
            vec![
                route("otter", "web", 0, "127.0.0.1", 1),
                route("otter", "api", 1, "127.0.0.1", 4),
                route("hare", "web", 0, "127.0.0.1", 2),
                route("mole", "web", 0, "bad host", 5),
            ],
            &[
                ("otter".into(), Ok(EnvState::Running)),
                ("hare".into(), Ok(EnvState::Gone)),
                ("fox".into(), Ok(EnvState::Stopped)),
                ("mole".into(), Ok(EnvState::Running)),
            ],
        );
        assert_eq!(
            changes(&old, &new),
            [
                "fox is no longer routed: it is stopped",
                "hare is gone: its route is not served (its ports may belong to another program by now)",
                "mole is running, with nothing routed",
                "otter is routed: web -> 127.0.0.1:1, api -> 127.0.0.1:4",
                "web.mole is not routed: target `bad host:5`: invalid uri character",
            ]
        );
        assert!(changes(&new, &new).is_empty());
        assert_eq!(
            changes(&new, &RouteTable::default())
                .last()
                .map(String::as_str),
            Some("otter was removed; nothing of it is routed")
        );
    }
}
