//! Sessions as part of an environment's life (docs/sessions.md): started after its
//! lifecycle commands and routes, ended before it stops; and what the CLI does with
//! them (`attach`, `output`, `send`).

use crate::sessions::{Pane, SessionSpec, Tmux};
use crate::spec::EnvSpec;
use crate::{EnvError, Warren};

impl Warren {
    /// The tmux server of this warren root.
    pub fn tmux(&self) -> Tmux {
        Tmux::for_root(&self.root)
    }

    /// Starts every session of the environment that does not run yet: its host
    /// `pre_start` hooks (in the main checkout), then a tmux session whose window runs
    /// `warren exec NAME -- CMD`.
    pub(crate) async fn start_sessions(
        &self,
        rec: &warren_store::EnvRecord,
        spec: &EnvSpec,
    ) -> Result<(), EnvError> {
        if spec.sessions.is_empty() {
            return Ok(());
        }
        let tmux = self.tmux();
        for s in &spec.sessions {
            if tmux.has(&s.tmux) {
                continue;
            }
            for hook in &s.pre_start {
                self.host_hook_of(rec, spec, "session pre_start", hook)
                    .await
                    .map_err(|e| EnvError::at("a session pre_start hook")(e.into()))?;
            }
            self.reporter.step(&format!("starting session {}", s.name));
            let argv = self.session_argv(&rec.name, s);
            let (tmux2, name, cwd) = (tmux.clone(), s.tmux.clone(), rec.project_path.clone());
            tokio::task::spawn_blocking(move || tmux2.start(&name, &cwd, &argv))
                .await
                .map_err(|e| EnvError::Other(e.to_string()))??;
            self.log_event(
                &rec.name,
                &format!("session {} started ({})", s.name, s.tmux),
            );
            crate::events::session_started(&self.store, &rec.name, &s.name);
        }
        // The heartbeat keeps states, events and notifications current.
        self.ensure_watcher();
        Ok(())
    }

    /// What a session's tmux window runs: this warren, `exec` into the environment.
    /// A claude role whose hooks reported a conversation resumes it (`--resume ID`),
    /// so `start` after a stop continues where the agent was.
    fn session_argv(&self, env: &str, s: &SessionSpec) -> Vec<String> {
        let mut inner = s.argv.clone();
        if s.tool.as_deref() == Some("claude")
            && let Some(id) = self.last_tool_session(s)
            && !inner.iter().any(|a| a == "--resume")
        {
            inner.splice(1..1, ["--resume".to_string(), id]);
        }
        let mut argv = vec![
            self.settings.warren_exe().to_string_lossy().into_owned(),
            "exec".into(),
            env.into(),
        ];
        for (k, v) in &s.env {
            argv.push("-e".into());
            argv.push(format!("{k}={v}"));
        }
        argv.push("--".into());
        argv.extend(inner);
        argv
    }

    /// The tool's own session id, from the last hook event that named one. The relay is
    /// the environment's data: only an id shaped like one (a UUID) is used, and it only
    /// ever becomes an argument of the command run inside the environment.
    fn last_tool_session(&self, s: &SessionSpec) -> Option<String> {
        let shaped = |id: &str| {
            id.len() == 36
                && id.bytes().enumerate().all(|(i, b)| match i {
                    8 | 13 | 18 | 23 => b == b'-',
                    _ => b.is_ascii_hexdigit(),
                })
        };
        self.relayed_hooks(s)
            .iter()
            .rev()
            .find_map(|h| h.session_id.clone().filter(|id| shaped(id)))
    }

    /// Ends the environment's sessions, then runs their host `post_stop` hooks.
    pub(crate) async fn stop_sessions(&self, rec: &warren_store::EnvRecord, spec: &EnvSpec) {
        if spec.sessions.is_empty() {
            return;
        }
        let tmux = self.tmux();
        for s in &spec.sessions {
            if tmux.has(&s.tmux) {
                tmux.kill(&s.tmux);
                self.log_event(&rec.name, &format!("session {} ended", s.name));
            }
            for hook in &s.post_stop {
                if let Err(e) = self
                    .host_hook_of(rec, spec, "session post_stop", hook)
                    .await
                {
                    self.reporter.warn(&e.to_string());
                }
            }
        }
    }

    /// The session `session` of `name` (the only one when `None`).
    pub fn session(&self, name: &str, session: Option<&str>) -> Result<SessionSpec, EnvError> {
        let rec = self.record(name)?;
        let spec = Self::spec_of(&rec)?;
        let names = || {
            spec.sessions
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match session {
            Some(s) => spec
                .sessions
                .iter()
                .find(|x| x.name == s || x.tmux == s)
                .cloned()
                .ok_or_else(|| {
                    EnvError::Other(format!(
                        "`{name}` has no session `{s}`{}",
                        if spec.sessions.is_empty() {
                            " (it has none: add `sessions:` or `roles:` to its type in .warren.yaml)".to_string()
                        } else {
                            format!(" (it has: {})", names())
                        }
                    ))
                }),
            None => match spec.sessions.as_slice() {
                [one] => Ok(one.clone()),
                [] => Err(EnvError::Other(format!(
                    "`{name}` has no sessions (add `sessions:` or `roles:` to its type in .warren.yaml)"
                ))),
                _ => Err(EnvError::Other(format!(
                    "`{name}` has several sessions ({}); pick one with `--session`",
                    names()
                ))),
            },
        }
    }

    /// The panes of every session (tmux's view), for `ls` and the watchers.
    pub fn session_panes(&self) -> Vec<Pane> {
        self.tmux().panes()
    }

    /// Restarts sessions with `restart: on-failure` whose command failed; returns the
    /// ones restarted.
    pub fn restart_failed_sessions(&self, name: &str) -> Result<Vec<String>, EnvError> {
        let rec = self.record(name)?;
        if rec.state != warren_core::EnvState::Running {
            return Ok(Vec::new());
        }
        let spec = Self::spec_of(&rec)?;
        let panes = self.session_panes();
        let tmux = self.tmux();
        let mut out = Vec::new();
        for s in spec.sessions.iter().filter(|s| s.restart_on_failure) {
            let failed = panes
                .iter()
                .any(|p| p.session == s.tmux && p.dead && p.status.is_some_and(|c| c != 0));
            if failed && tmux.respawn(&s.tmux).is_ok() {
                self.log_event(name, &format!("session {} restarted (on-failure)", s.name));
                out.push(s.name.clone());
            }
        }
        Ok(out)
    }
}

/// What `warren start` with no argument did to one environment.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FleetEntry {
    pub name: String,
    /// `created`, `started`, `running` (already), or `failed`.
    pub action: String,
    pub error: Option<String>,
}

impl Warren {
    /// Creates (or starts, when it exists) the environment of issue `n`: type `issue`,
    /// named `issue-N`, `WARREN_ISSUE_ID=N`, its port `first + N mod size`. A port
    /// another issue of the project already has is an error naming both.
    pub async fn start_issue(&self, path: &std::path::Path, n: u64) -> Result<String, EnvError> {
        let name = format!("issue-{n}");
        if let Some(rec) = self.store.environment(&name)? {
            if rec.state != warren_core::EnvState::Running {
                self.start(&name).await?;
            }
            return Ok(name);
        }
        let req = crate::RunRequest {
            path: path.to_path_buf(),
            name: Some(name.clone()),
            env_type: Some("issue".into()),
            issue_id: Some(n),
            ..crate::RunRequest::default()
        };
        let plan = self.plan(&req).await?;
        for w in &plan.warnings {
            self.reporter.diagnostic(w);
        }
        let range = (
            plan.value.local.port_range.start,
            plan.value.local.port_range.end,
        );
        let port = crate::sessions::env_port(range, Some(n));
        for other in self.store.environments()? {
            let Some(m) = other
                .name
                .strip_prefix("issue-")
                .and_then(|m| m.parse::<u64>().ok())
            else {
                continue;
            };
            if other.project == plan.value.project
                && m != n
                && crate::sessions::env_port(range, Some(m)) == port
            {
                return Err(EnvError::Other(format!(
                    "issue {n} and issue {m} (`{}`) would both get port {port} of port_range {}-{}: widen `port_range` in .warren.yaml, or `warren rm {}`",
                    other.name, range.0, range.1, other.name
                )));
            }
        }
        self.create(&plan.value).await?;
        Ok(name)
    }

    /// `warren start` with no argument: the project's `manager` environment (created
    /// when the project has a `manager` type) and every stopped environment of the
    /// project, started.
    pub async fn start_fleet(&self, path: &std::path::Path) -> Result<Vec<FleetEntry>, EnvError> {
        let repo = self.project_of(path)?;
        let project_path = repo.root.clone();
        let mut out = Vec::new();
        let cfg = warren_config::load_project(&project_path).map_err(EnvError::Config)?;
        let has_manager = cfg
            .value
            .as_ref()
            .is_some_and(|p| p.types.contains_key("manager"));
        if has_manager && self.store.environment("manager")?.is_none() {
            let req = crate::RunRequest {
                path: project_path.clone(),
                name: Some("manager".into()),
                env_type: Some("manager".into()),
                ..crate::RunRequest::default()
            };
            let done = match self.plan(&req).await {
                Ok(plan) => self.create(&plan.value).await.map(|_| ()),
                Err(e) => Err(e),
            };
            out.push(FleetEntry {
                name: "manager".into(),
                action: if done.is_ok() { "created" } else { "failed" }.into(),
                error: done.err().map(|e| e.to_string()),
            });
        }
        for rec in self.store.environments()? {
            if rec.project_path != project_path || out.iter().any(|e| e.name == rec.name) {
                continue;
            }
            if rec.state == warren_core::EnvState::Running {
                out.push(FleetEntry {
                    name: rec.name.clone(),
                    action: "running".into(),
                    error: None,
                });
                continue;
            }
            let done = self.start(&rec.name).await;
            out.push(FleetEntry {
                name: rec.name.clone(),
                action: if done.is_ok() { "started" } else { "failed" }.into(),
                error: done.err().map(|e| e.to_string()),
            });
        }
        Ok(out)
    }

    /// The environment the caller is in: `WARREN_NAME`, or the one whose tree holds
    /// `cwd`.
    pub fn current_environment(&self, cwd: &std::path::Path) -> Result<Option<String>, EnvError> {
        if let Some(n) = self.host.get(warren_core::vars::WARREN_NAME) {
            return Ok(Some(n.to_string()));
        }
        let cwd = std::fs::canonicalize(cwd).unwrap_or_else(|_| cwd.to_path_buf());
        for rec in self.store.environments()? {
            let tree = std::fs::canonicalize(&rec.worktree).unwrap_or(rec.worktree.clone());
            if cwd.starts_with(&tree) {
                return Ok(Some(rec.name));
            }
        }
        Ok(None)
    }
}

impl Warren {
    /// The state of each of `sessions` now (one `tmux list-panes` for all).
    pub(crate) fn session_views(&self, sessions: &[SessionSpec]) -> Vec<crate::ls::SessionView> {
        if sessions.is_empty() {
            return Vec::new();
        }
        let panes = self.session_panes();
        sessions
            .iter()
            .map(|s| {
                let pane = panes.iter().find(|p| p.session == s.tmux);
                let (state, reason, exit_code) = match pane {
                    None => ("stopped".to_string(), "no tmux session".to_string(), None),
                    Some(p) if p.dead => (
                        "exited".to_string(),
                        format!("its command exited with code {}", p.status.unwrap_or(-1)),
                        p.status,
                    ),
                    Some(p) => self.judge_pane(s, p),
                };
                crate::ls::SessionView {
                    name: s.name.clone(),
                    tmux: s.tmux.clone(),
                    role: s.role.clone(),
                    tool: s.tool.clone(),
                    state,
                    reason,
                    exit_code,
                }
            })
            .collect()
    }

    /// A live pane's state, decided by the state engine (`warren-state`) from its
    /// screen, title, last output and the hooks its tool relayed.
    fn judge_pane(&self, s: &SessionSpec, p: &Pane) -> (String, String, Option<i32>) {
        let v = self.verdict(s, p);
        (state_word(&v.state), verdict_reason(&v), None)
    }

    /// The state engine's verdict on one live pane.
    pub(crate) fn verdict(&self, s: &SessionSpec, p: &Pane) -> warren_state::Verdict {
        use std::time::{Duration, UNIX_EPOCH};
        let now = std::time::SystemTime::now();
        let at = |secs: i64| UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64);
        let screen = self.tmux().screen(&s.tmux).unwrap_or_default();
        let mut obs = warren_state::Observation::new(s.tool.as_deref(), screen, now);
        obs.title = p.title.clone();
        obs.last_output = (p.activity > 0).then(|| at(p.activity));
        obs.started = at(p.created);
        obs.hooks = self.relayed_hooks(s);
        warren_state::judge(&obs, rules())
    }

    /// The hook events a role session's tool relayed (a file the environment writes in
    /// its own repository; read as data: no symlink followed, the last 256 KiB only).
    fn relayed_hooks(&self, s: &SessionSpec) -> Vec<warren_state::HookEvent> {
        let Some(path) = s.relay.as_ref() else {
            return Vec::new();
        };
        read_tail_nofollow(path, 256 * 1024)
            .map(|b| warren_state::parse_hook_relay(&b))
            .unwrap_or_default()
    }
}

/// The built-in rules, loaded once.
fn rules() -> &'static warren_state::Rules {
    static RULES: std::sync::OnceLock<warren_state::Rules> = std::sync::OnceLock::new();
    RULES.get_or_init(warren_state::Rules::builtin)
}

/// `waiting`, `exited`, … as `ls` shows it.
pub(crate) fn state_word(s: &warren_state::State) -> String {
    match s {
        warren_state::State::Exited(_) => "exited".into(),
        other => other.to_string(),
    }
}

fn verdict_reason(v: &warren_state::Verdict) -> String {
    match &v.question {
        Some(q) if !v.reason.contains(q.as_str()) => format!("{}: {q}", v.reason),
        _ => v.reason.clone(),
    }
}

/// The last `max` bytes of a regular file, opened without following any symlink on
/// the way (the environment controls the directories inside its tree).
fn read_tail_nofollow(path: &std::path::Path, max: u64) -> Option<Vec<u8>> {
    use rustix::fs::{Mode, OFlags, ResolveFlags, openat2};
    use std::io::{Read, Seek, SeekFrom};
    let fd = openat2(
        rustix::fs::CWD,
        path,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK,
        Mode::empty(),
        ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
    .ok()?;
    let mut f = std::fs::File::from(fd);
    let meta = f.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let len = meta.len();
    if len > max {
        f.seek(SeekFrom::Start(len - max)).ok()?;
    }
    let mut buf = Vec::new();
    f.take(max).read_to_end(&mut buf).ok()?;
    Some(buf)
}

/// One session's state with the evidence behind it (`warren explain`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionExplained {
    pub session: String,
    pub tmux: String,
    pub state: String,
    pub reason: String,
    pub question: Option<String>,
    pub evidence: Vec<String>,
}

impl Warren {
    /// Every session of `name` with its state and the evidence for it.
    pub fn explain(&self, name: &str) -> Result<Vec<SessionExplained>, EnvError> {
        let rec = self.record(name)?;
        let spec = Self::spec_of(&rec)?;
        let panes = self.session_panes();
        Ok(spec
            .sessions
            .iter()
            .map(|s| match panes.iter().find(|p| p.session == s.tmux) {
                None => SessionExplained {
                    session: s.name.clone(),
                    tmux: s.tmux.clone(),
                    state: "stopped".into(),
                    reason: "no tmux session".into(),
                    question: None,
                    evidence: vec![format!("tmux has no session `{}`", s.tmux)],
                },
                Some(p) if p.dead => SessionExplained {
                    session: s.name.clone(),
                    tmux: s.tmux.clone(),
                    state: "exited".into(),
                    reason: format!("exit code {}", p.status.unwrap_or(-1)),
                    question: None,
                    evidence: vec![format!("pane dead, status {}", p.status.unwrap_or(-1))],
                },
                Some(p) => {
                    let v = self.verdict(s, p);
                    SessionExplained {
                        session: s.name.clone(),
                        tmux: s.tmux.clone(),
                        state: state_word(&v.state),
                        reason: v.reason.clone(),
                        question: v.question.clone(),
                        evidence: v.evidence.clone(),
                    }
                }
            })
            .collect())
    }

    /// Records a session's observed state change as an event (and notifies), for
    /// watchers such as `warren wait`.
    pub fn record_session_state(
        &self,
        env: &str,
        session: &str,
        from: Option<&str>,
        to: &str,
        reason: &str,
        question: Option<&str>,
    ) {
        crate::events::session_state(
            &self.store,
            &self.settings.global.notify,
            env,
            session,
            crate::events::StateChange {
                from,
                to,
                reason: Some(reason),
                message: question,
            },
        );
    }
}

/// The tmux session of the root's session watcher (`warren watch`).
pub const WATCH_SESSION: &str = "warren-watch";

/// What the watcher remembers per session between rounds.
#[derive(Debug, Default)]
pub struct WatchState {
    last: std::collections::HashMap<(String, String), String>,
}

impl Warren {
    /// One round of the watcher (the heartbeat): records every session's state change
    /// as an event (which notifies), restarts `restart: on-failure` sessions whose
    /// command failed, and ends the tmux sessions of environments that are not running
    /// (removed, stopped or gone behind warren's back). Returns how many sessions of
    /// running environments it saw.
    pub fn watch_round(&self, st: &mut WatchState) -> Result<usize, EnvError> {
        let tmux = self.tmux();
        let panes = self.session_panes();
        let recs = self.store.environments()?;
        let mut seen = 0;
        let mut known: std::collections::HashSet<String> = std::collections::HashSet::new();
        for rec in &recs {
            let Ok(spec) = Self::spec_of(rec) else {
                continue;
            };
            for s in &spec.sessions {
                known.insert(s.tmux.clone());
            }
            if spec.sessions.is_empty() {
                continue;
            }
            if rec.state != warren_core::EnvState::Running {
                for s in &spec.sessions {
                    if panes.iter().any(|p| p.session == s.tmux) {
                        tmux.kill(&s.tmux);
                        self.log_event(
                            &rec.name,
                            &format!("session {} ended: the environment is {}", s.name, rec.state),
                        );
                    }
                }
                continue;
            }
            let _ = self.restart_failed_sessions(&rec.name);
            for v in self.session_views(&spec.sessions) {
                seen += 1;
                let key = (rec.name.clone(), v.name.clone());
                let before = st.last.get(&key).cloned();
                if before.as_deref() != Some(v.state.as_str()) {
                    if v.state == "exited" {
                        crate::events::session_exited(&self.store, &rec.name, &v.name, v.exit_code);
                    }
                    self.record_session_state(
                        &rec.name,
                        &v.name,
                        before.as_deref(),
                        &v.state,
                        &v.reason,
                        None,
                    );
                    st.last.insert(key, v.state.clone());
                }
            }
        }
        // Sessions of environments the store no longer has.
        for p in &panes {
            if p.session != WATCH_SESSION && !known.contains(&p.session) {
                tmux.kill(&p.session);
            }
        }
        st.last
            .retain(|(env, _), _| recs.iter().any(|r| &r.name == env));
        Ok(seen)
    }

    /// Starts the root's watcher in its tmux server unless it runs.
    pub(crate) fn ensure_watcher(&self) {
        let tmux = self.tmux();
        let alive = self
            .session_panes()
            .iter()
            .any(|p| p.session == WATCH_SESSION && !p.dead);
        if alive {
            return;
        }
        // A watcher that exited (idle) left its window: it goes, and a new one starts.
        tmux.kill(WATCH_SESSION);
        let argv = vec![
            self.settings.warren_exe().to_string_lossy().into_owned(),
            "watch".into(),
            "--exit-when-idle".into(),
        ];
        let cwd = self.root.clone();
        match tmux.start(WATCH_SESSION, &cwd, &argv) {
            // Its window goes when it exits: nothing to read there.
            Ok(()) => tmux.set_remain_on_exit(WATCH_SESSION, false),
            Err(e) => self
                .reporter
                .warn(&format!("cannot start the session watcher: {e}")),
        }
    }
}
