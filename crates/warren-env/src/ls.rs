//! `warren ls`: environments from the store, reconciled with the runtimes so
//! that state never lies for long (a container deleted behind warren's back
//! shows as `gone`; one started by hand shows as `running` again).

use std::collections::HashMap;

use serde::Serialize;
use warren_core::{EnvState, RuntimeKind};
use warren_runtime::{ContainerInfo, ContainerState};
use warren_store::{EnvRecord, Route};

use crate::error::EnvError;
use crate::manager::Warren;

/// One environment as `ls` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct EnvView {
    pub name: String,
    pub project: String,
    #[serde(rename = "type")]
    pub env_type: Option<String>,
    pub runtime: RuntimeKind,
    /// How it reaches the network (`host` = no network isolation).
    pub network: warren_core::NetworkMode,
    /// The host access it was granted (`host_access:`): the isolation it
    /// gave up, in a few words each.
    pub host_access: Vec<String>,
    pub state: EnvState,
    pub services: Vec<ServiceView>,
    /// Its sessions in tmux, with their state.
    pub sessions: Vec<SessionView>,
    /// What it changed since it was created (none when its tree cannot be read).
    pub changes: Option<crate::review::ChangeSummary>,
    /// The environments of its project it would conflict with if both landed
    /// (only pairs that changed a common file are merged; see `warren conflicts`).
    pub clashes: Vec<String>,
    /// The target branch (the main checkout's) it would conflict with, if any.
    pub target_clash: Option<String>,
    pub created_at: i64,
    pub worktree: String,
    pub branch: String,
    pub container: Option<String>,
}

/// A session of an environment, as tmux and the state engine see it now.
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    pub name: String,
    /// The tmux session (`warren attach NAME --session S` attaches to it).
    pub tmux: String,
    pub role: Option<String>,
    pub tool: Option<String>,
    /// `starting`, `working`, `waiting`, `idle`, `exited`, `unknown`, or `stopped`
    /// (no tmux session).
    pub state: String,
    /// Why that state was chosen.
    pub reason: String,
    /// The exit code, when `exited`.
    pub exit_code: Option<i32>,
}

/// A service of an environment.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceView {
    pub name: String,
    /// Its proxy URL (`http://web.NAME.localhost:8080`); it answers while
    /// `routed`.
    pub url: String,
    /// Whether the proxy routes it now (the environment runs).
    pub routed: bool,
    /// Port inside the environment.
    pub port: u16,
    /// Direct address on the host while routed.
    pub host_port: Option<u16>,
}

/// A container labelled as warren's (this root) that the store does not know.
#[derive(Debug, Clone, Serialize)]
pub struct Orphan {
    pub container: String,
    pub id: String,
    pub name: String,
}

/// The result of `ls`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Listing {
    pub environments: Vec<EnvView>,
    pub orphans: Vec<Orphan>,
    #[serde(skip)]
    pub warnings: Vec<String>,
}

impl Warren {
    /// Lists environments, reconciling the store with the engine.
    pub async fn ls(&self) -> Result<Listing, EnvError> {
        let records = self.store.environments()?;
        let mut listing = Listing::default();
        let has_docker = records.iter().any(|r| r.runtime == RuntimeKind::Docker);
        let containers = if has_docker || self.docker_replaced() || docker_socket_present() {
            match self.runtime(RuntimeKind::Docker).await {
                Ok(d) => {
                    let root = self.root_id();
                    match d
                        .list(&[("warren.managed", "true"), ("warren.root", &root)])
                        .await
                    {
                        Ok(c) => Some(c),
                        Err(e) => {
                            listing
                                .warnings
                                .push(format!("cannot list containers ({e}); states may be stale"));
                            None
                        }
                    }
                }
                Err(e) => {
                    if has_docker {
                        listing.warnings.push(format!(
                            "cannot reach the Docker engine ({e}); states may be stale"
                        ));
                    }
                    None
                }
            }
        } else {
            None
        };
        let by_id: HashMap<&str, &ContainerInfo> = containers
            .iter()
            .flatten()
            .map(|c| (c.id.as_str(), c))
            .collect();

        let mut routes: HashMap<String, Vec<Route>> = HashMap::new();
        for r in self.store.routes()? {
            routes.entry(r.env.clone()).or_default().push(r);
        }

        for rec in &records {
            let state = match (rec.runtime, &containers) {
                (RuntimeKind::Docker, Some(_)) => {
                    self.reconcile_docker(rec, &by_id, &mut routes)?
                }
                (RuntimeKind::Sandbox, _) => self.reconcile_sandbox(rec, &mut routes).await?,
                _ => self.reconcile_creating(rec)?,
            };
            listing
                .environments
                .push(self.view(rec, state, routes.get(&rec.name)));
        }

        self.fill_changes(&records, &mut listing.environments);
        if let Some(containers) = &containers {
            for c in containers {
                let known = records
                    .iter()
                    .any(|r| r.container_id.as_deref() == Some(c.id.as_str()));
                if !known {
                    listing.orphans.push(Orphan {
                        container: c.name.clone(),
                        id: c.id.chars().take(12).collect(),
                        name: c.labels.get("warren.name").cloned().unwrap_or_default(),
                    });
                }
            }
        }
        Ok(listing)
    }

    /// The CHANGES of every environment whose tree is there, a few at a time (each
    /// is mostly a `stat` of every file of its tree), and its clashes: only pairs
    /// that changed a common file (and environments that changed a file the
    /// target changed since) are merged, in one `git merge-tree` per project.
    fn fill_changes(&self, records: &[EnvRecord], views: &mut [EnvView]) {
        let todo: Vec<(usize, &EnvRecord)> = views
            .iter()
            .enumerate()
            .filter(|(_, v)| v.state != EnvState::Creating)
            .filter_map(|(i, v)| records.iter().find(|r| r.name == v.name).map(|r| (i, r)))
            .filter(|(_, r)| r.worktree.is_dir())
            .collect();
        let recs: Vec<&EnvRecord> = todo.iter().map(|(_, r)| *r).collect();
        let captured = crate::review::conflicts::capture_all(
            &self.root,
            &recs,
            true,
            self.feed(&recs).as_ref(),
        );
        let mut entries = Vec::new();
        for ((i, rec), r) in todo.iter().zip(captured) {
            if let Ok((c, files)) = r {
                views[*i].changes = Some(crate::review::ChangeSummary::of(&files));
                entries.push((rec.name.clone(), c, files));
            }
        }
        let clashes = crate::review::conflicts::clashes(&entries);
        for v in views.iter_mut() {
            if let Some((envs, target)) = clashes.get(&v.name) {
                v.clashes = envs.clone();
                v.target_clash = target.clone();
            }
        }
    }

    fn reconcile_creating(&self, rec: &EnvRecord) -> Result<EnvState, EnvError> {
        if rec.state == EnvState::Creating {
            let abandoned = rec
                .creator_pid
                .is_some_and(|p| !warren_core::process::pid_alive(p));
            if abandoned {
                self.store.set_state(&rec.name, EnvState::Failed)?;
                return Ok(EnvState::Failed);
            }
        }
        Ok(rec.state)
    }

    /// A sandbox environment the store says runs, whose keeper is gone (the machine
    /// restarted, or it was killed), is stopped: nothing of it runs any more.
    async fn reconcile_sandbox(
        &self,
        rec: &EnvRecord,
        routes: &mut HashMap<String, Vec<Route>>,
    ) -> Result<EnvState, EnvError> {
        if rec.state != EnvState::Running {
            return self.reconcile_creating(rec);
        }
        if self.actually_running(rec).await {
            return Ok(rec.state);
        }
        self.store.set_state(&rec.name, EnvState::Stopped)?;
        if routes.remove(&rec.name).is_some() {
            self.store.remove_routes(&rec.name)?;
        }
        self.log_event(
            &rec.name,
            "state running -> stopped (its sandbox is gone: the machine restarted, or it was killed)",
        );
        self.env_event(
            warren_store::EventKind::EnvStopped,
            &rec.name,
            EnvState::Stopped,
        );
        Ok(EnvState::Stopped)
    }

    /// Whether the runtime runs `rec` now (a store that says so may be stale).
    pub(crate) async fn actually_running(&self, rec: &EnvRecord) -> bool {
        let Some(id) = rec.container_id.as_deref() else {
            return false;
        };
        let Ok(runtime) = self.runtime(rec.runtime).await else {
            // Unknown: the store's word stands.
            return rec.state == EnvState::Running;
        };
        match runtime.inspect(id).await {
            Ok(Some(c)) => c.state.is_running(),
            Ok(None) => false,
            Err(_) => rec.state == EnvState::Running,
        }
    }

    fn reconcile_docker(
        &self,
        rec: &EnvRecord,
        by_id: &HashMap<&str, &ContainerInfo>,
        routes: &mut HashMap<String, Vec<Route>>,
    ) -> Result<EnvState, EnvError> {
        if rec.state == EnvState::Creating || rec.state == EnvState::Failed {
            return self.reconcile_creating(rec);
        }
        let Some(id) = rec.container_id.as_deref() else {
            return Ok(rec.state);
        };
        let actual = match by_id.get(id) {
            None => EnvState::Gone,
            Some(c) if c.state.is_running() => EnvState::Running,
            Some(c) if c.state == ContainerState::Removing || c.state == ContainerState::Dead => {
                EnvState::Gone
            }
            Some(_) => EnvState::Stopped,
        };
        if actual != rec.state {
            self.store.set_state(&rec.name, actual)?;
            self.log_event(
                &rec.name,
                &format!("state {} -> {actual} (seen on the engine)", rec.state),
            );
        }
        if actual != EnvState::Running {
            if routes.remove(&rec.name).is_some() {
                self.store.remove_routes(&rec.name)?;
            }
        } else if !routes.contains_key(&rec.name) {
            // Started behind warren's back: re-register from the summary's ports.
            if let (Some(c), Ok(spec)) = (by_id.get(id), Self::spec_of(rec)) {
                let new = crate::ops::routes_for(&rec.name, &spec, &c.ports);
                if !new.is_empty() {
                    self.store.set_routes(&rec.name, &new)?;
                    routes.insert(rec.name.clone(), new);
                }
            }
        }
        Ok(actual)
    }

    /// Environment `name` as it is now in the store.
    pub fn view_of(&self, name: &str) -> Result<EnvView, EnvError> {
        let rec = self.record(name)?;
        self.view_now(&rec)
    }

    /// One environment as it is now in the store (no runtime round trip).
    pub(crate) fn view_now(&self, rec: &EnvRecord) -> Result<EnvView, EnvError> {
        self.view_now_with(rec, true)
    }

    /// [`Warren::view_of`] without judging its sessions (no tmux round trip): their
    /// names only, state `-`. What `start` and `new` print.
    pub fn brief_view_of(&self, name: &str) -> Result<EnvView, EnvError> {
        let rec = self.record(name)?;
        self.view_now_with(&rec, false)
    }

    fn view_now_with(&self, rec: &EnvRecord, judge: bool) -> Result<EnvView, EnvError> {
        let rec = self.record(&rec.name)?;
        let routes: Vec<Route> = self
            .store
            .routes()?
            .into_iter()
            .filter(|r| r.env == rec.name)
            .collect();
        let mut view = self.view_with(&rec, rec.state, Some(&routes), judge);
        view.state = rec.state;
        Ok(view)
    }

    fn view(&self, rec: &EnvRecord, state: EnvState, routes: Option<&Vec<Route>>) -> EnvView {
        self.view_with(rec, state, routes, true)
    }

    fn view_with(
        &self,
        rec: &EnvRecord,
        state: EnvState,
        routes: Option<&Vec<Route>>,
        judge: bool,
    ) -> EnvView {
        let spec = Self::spec_of(rec).ok();
        let proxy_port = spec.as_ref().map(|s| s.proxy_port).unwrap_or(8080);
        let services = match &spec {
            Some(spec) => spec
                .services
                .iter()
                .map(|s| {
                    let route = routes.and_then(|rs| rs.iter().find(|r| r.service == s.name));
                    ServiceView {
                        name: s.name.clone(),
                        url: warren_core::routes::route_url(Some(&s.name), &rec.name, proxy_port),
                        routed: route.is_some(),
                        port: s.port,
                        // A route into the environment's own namespace has no host port.
                        host_port: route
                            .filter(|r| r.target_host != warren_store::NETNS_TARGET)
                            .map(|r| r.target_port),
                    }
                })
                .collect(),
            None => Vec::new(),
        };
        EnvView {
            name: rec.name.clone(),
            project: rec.project.clone(),
            env_type: rec.env_type.clone(),
            runtime: rec.runtime,
            network: spec
                .as_ref()
                .map(|s| s.network)
                .unwrap_or(warren_core::NetworkMode::Host),
            host_access: spec
                .as_ref()
                .and_then(|s| s.create.as_ref())
                .map(|c| c.host.given_up.clone())
                .unwrap_or_default(),
            sessions: spec
                .as_ref()
                .map(|s| {
                    if !judge {
                        return s
                            .sessions
                            .iter()
                            .map(|x| SessionView {
                                name: x.name.clone(),
                                tmux: x.tmux.clone(),
                                role: x.role.clone(),
                                tool: x.tool.clone(),
                                state: "-".into(),
                                reason: String::new(),
                                exit_code: None,
                            })
                            .collect();
                    }
                    let mut views = self.session_views(&s.sessions);
                    if state != EnvState::Running {
                        for v in views.iter_mut().filter(|v| v.state == "stopped") {
                            v.reason = format!("the environment is {state}");
                        }
                    }
                    views
                })
                .unwrap_or_default(),
            state,
            services,
            changes: None,
            clashes: Vec::new(),
            target_clash: None,
            created_at: rec.created_at,
            worktree: rec.worktree.to_string_lossy().into_owned(),
            branch: rec.branch.clone(),
            // Docker ids are shown short, as `docker ps` does; the local
            // runtimes' ids are names, which a cut would garble.
            container: rec.container_id.as_ref().map(|c| match rec.runtime {
                RuntimeKind::Docker => c.chars().take(12).collect(),
                _ => c.clone(),
            }),
        }
    }
}

/// Whether a local Docker socket exists (so `ls` can look for orphans
/// without paying for a connection attempt on machines without an engine).
fn docker_socket_present() -> bool {
    let host = warren_runtime::docker::engine_host();
    match host.strip_prefix("unix://") {
        Some(path) => std::path::Path::new(path).exists(),
        None => true,
    }
}
