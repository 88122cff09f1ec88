//! Sessions as part of an environment's life (docs/sessions.md): started after its
//! lifecycle commands and routes, ended before it stops; and what the CLI does with
//! them (`attach`, `output`, `send`).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::sessions::{
    PANE_FORMAT, Pane, SessionSpec, Tmux, needs_reaping, nudge_server, parse_pane,
};
use crate::spec::EnvSpec;
use crate::tmux_control::{TmuxControl, quote};
use crate::{EnvError, Warren};

impl Warren {
    /// The tmux server of this warren root.
    pub fn tmux(&self) -> Tmux {
        Tmux::for_root(&self.root)
    }

    /// Starts every session of the environment that does not run yet: its host
    /// `pre_start` hooks (in the main checkout), then a tmux session whose window runs
    /// `warren exec NAME -- CMD`.
    /// `new`: the environment was created just now, so none of its sessions
    /// runs yet.
    pub(crate) async fn start_sessions(
        &self,
        rec: &warren_store::EnvRecord,
        spec: &EnvSpec,
        new: bool,
    ) -> Result<(), EnvError> {
        if spec.sessions.is_empty() {
            return Ok(());
        }
        let tmux = self.tmux();
        let (watched, running) = if new {
            // Nothing to look up: a stale tmux session of an earlier
            // environment with this name is skipped by `start_many` as it
            // would be here. `warren start N M …` started the watcher itself.
            let watched = std::env::var_os(WATCHER_STARTED_VAR).is_some();
            (watched, HashSet::new())
        } else {
            // One look at what runs (not a `has-session` per session).
            let panes = tmux.panes();
            let watched = panes.iter().any(|p| p.session == WATCH_SESSION && !p.dead);
            let running: HashSet<String> = panes.into_iter().map(|p| p.session).collect();
            (watched, running)
        };
        // Sessions start together, one tmux client for all, except that a session's
        // `pre_start` hooks run after the sessions before it have started.
        let mut batch: Vec<(&SessionSpec, Vec<String>)> = Vec::new();
        for s in &spec.sessions {
            if running.contains(&s.tmux) {
                continue;
            }
            if !s.pre_start.is_empty() {
                self.start_batch(rec, &tmux, std::mem::take(&mut batch))
                    .await?;
                for hook in &s.pre_start {
                    self.host_hook_of(rec, spec, "session pre_start", hook)
                        .await
                        .map_err(|e| EnvError::at("a session pre_start hook")(e.into()))?;
                }
            }
            self.reporter.step(&format!("starting session {}", s.name));
            batch.push((s, self.session_argv(&rec.name, s)));
        }
        self.start_batch(rec, &tmux, batch).await?;
        // The heartbeat keeps states, events and notifications current.
        if !watched {
            self.ensure_watcher();
        }
        Ok(())
    }

    async fn start_batch(
        &self,
        rec: &warren_store::EnvRecord,
        tmux: &Tmux,
        batch: Vec<(&SessionSpec, Vec<String>)>,
    ) -> Result<(), EnvError> {
        if batch.is_empty() {
            return Ok(());
        }
        let (specs, owned): (Vec<&SessionSpec>, Vec<(String, Vec<String>)>) = batch
            .into_iter()
            .map(|(s, argv)| (s, (s.tmux.clone(), argv)))
            .unzip();
        let (tmux2, cwd) = (tmux.clone(), rec.project_path.clone());
        tokio::task::spawn_blocking(move || {
            let list: Vec<crate::sessions::NewSession<'_>> = owned
                .iter()
                .map(|(name, argv)| crate::sessions::NewSession {
                    name,
                    cwd: &cwd,
                    argv,
                })
                .collect();
            tmux2.start_many(&list)
        })
        .await
        .map_err(|e| EnvError::Other(e.to_string()))??;
        for s in specs {
            self.log_event(
                &rec.name,
                &format!("session {} started ({})", s.name, s.tmux),
            );
            crate::events::session_started(&self.store, &rec.name, &s.name);
        }
        Ok(())
    }

    /// What a session's tmux window runs: this warren, `exec` into the environment.
    /// A role whose tool relayed a conversation resumes it ([`resume_argv`]), so
    /// `start` after a stop continues where the agent was.
    fn session_argv(&self, env: &str, s: &SessionSpec) -> Vec<String> {
        let mut inner = s.argv.clone();
        if let Some(tool) = s.tool.as_deref()
            && let Some(id) = self.last_tool_session(s)
        {
            resume_argv(tool, &mut inner, id);
        }
        let mut argv = vec![
            self.settings.warren_exe().to_string_lossy().into_owned(),
            "exec".into(),
            "--no-post-attach".into(),
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
    ///
    /// Gemini refuses (exits) to resume a session with nothing in it, and fires
    /// `SessionStart` before any prompt: for it only an id from a turn's hook counts.
    /// (Codex relays turn ends only; claude's ids count from any hook.)
    fn last_tool_session(&self, s: &SessionSpec) -> Option<String> {
        use warren_state::HookKind;
        let shaped = |id: &str| {
            id.len() == 36
                && id.bytes().enumerate().all(|(i, b)| match i {
                    8 | 13 | 18 | 23 => b == b'-',
                    _ => b.is_ascii_hexdigit(),
                })
        };
        let gemini = s.tool.as_deref() == Some("gemini");
        self.relayed_hooks(s)
            .iter()
            .rev()
            .filter(|h| {
                !gemini
                    || matches!(
                        h.kind,
                        HookKind::UserPromptSubmit
                            | HookKind::PreToolUse
                            | HookKind::PostToolUse
                            | HookKind::Notification
                            | HookKind::Stop
                    )
            })
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

    /// The port each of `issues` gets (`first + N mod size`), from the project's
    /// `issue` type.
    pub async fn issue_ports(
        &self,
        path: &std::path::Path,
        issues: &[u64],
    ) -> Result<Vec<u16>, EnvError> {
        let req = crate::RunRequest {
            path: path.to_path_buf(),
            env_type: Some("issue".into()),
            issue_id: issues.first().copied(),
            ..crate::RunRequest::default()
        };
        let plan = self.plan(&req).await?;
        let range = (
            plan.value.local.port_range.start,
            plan.value.local.port_range.end,
        );
        Ok(issues
            .iter()
            .map(|n| crate::sessions::env_port(range, Some(*n)))
            .collect())
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
            if rec.state == warren_core::EnvState::Running && self.actually_running(&rec).await {
                // Its sessions come back if the tmux server lost them.
                let missing = Self::spec_of(&rec)
                    .map(|spec| {
                        let tmux = self.tmux();
                        spec.sessions.iter().filter(|s| !tmux.has(&s.tmux)).count()
                    })
                    .unwrap_or(0);
                let done = match missing {
                    0 => Ok(()),
                    _ => self.start(&rec.name).await.map(|_| ()),
                };
                out.push(FleetEntry {
                    name: rec.name.clone(),
                    action: match (missing, done.is_ok()) {
                        (0, _) => "running".into(),
                        (n, true) => format!("running; {n} session(s) started again"),
                        (_, false) => "failed".into(),
                    },
                    error: done.err().map(|e| e.to_string()),
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
                    None => (
                        "stopped".to_string(),
                        format!("its tmux session `{}` is gone (the tmux server ended?): `warren start` brings it back", s.tmux),
                        None,
                    ),
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
        let screen = self.tmux().screen(&s.tmux).unwrap_or_default();
        self.verdict_on(s, p, screen)
    }

    /// The verdict on a live pane whose visible screen is `screen`.
    fn verdict_on(&self, s: &SessionSpec, p: &Pane, screen: String) -> warren_state::Verdict {
        use std::time::UNIX_EPOCH;
        let now = std::time::SystemTime::now();
        let at = |secs: i64| UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64);
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

/// Makes a role's tool command `argv` resume its conversation `id` (a UUID, checked
/// by the caller): `claude --resume ID …`, `codex resume ID …` (a subcommand that
/// takes the same `-m`, `-c`, `--dangerously-bypass-approvals-and-sandbox`),
/// `gemini --resume ID …` (a UUID or an index). Other tools, or an argv that already
/// resumes, are left alone.
fn resume_argv(tool: &str, argv: &mut Vec<String>, id: String) {
    if argv.is_empty() {
        return;
    }
    match tool {
        "claude" | "gemini" if !argv.iter().any(|a| a == "--resume" || a == "-r") => {
            argv.splice(1..1, ["--resume".to_string(), id]);
        }
        "codex" if argv.get(1).is_none_or(|a| a != "resume") => {
            argv.splice(1..1, ["resume".to_string(), id]);
        }
        _ => {}
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

/// Set by `warren start N M …` for the `warren start N` it runs side by side,
/// once it has started the watcher: they need not look for it again.
pub const WATCHER_STARTED_VAR: &str = "WARREN_WATCHER_STARTED";

/// What the watcher remembers between rounds: the last state of each session, its
/// control connection to tmux, parsed specs, and what it saw of each pane when it
/// last judged it (so a round only reads the screens that changed).
#[derive(Default)]
pub struct WatchState {
    last: HashMap<(String, String), String>,
    ctl: Option<TmuxControl>,
    ctl_retry: Option<Instant>,
    specs: HashMap<String, (String, Option<EnvSpec>)>,
    seen: HashMap<String, Seen>,
    restarts: HashMap<String, Restarts>,
    /// Running environments with `checkpoint: on_idle`.
    on_idle: HashMap<String, warren_store::EnvRecord>,
}

impl std::fmt::Debug for WatchState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchState")
            .field("sessions", &self.last.len())
            .field("control", &self.ctl.is_some())
            .finish()
    }
}

/// A live pane as last judged.
struct Seen {
    activity: i64,
    title: String,
    relay: Option<(u64, std::time::SystemTime)>,
    /// Unix second of the judgement: output in that second or later is news.
    judged_at: i64,
    /// When it was judged.
    at: Instant,
    layout: String,
    /// Judge again at the latest then (a verdict can change with time alone).
    recheck: Instant,
    state: String,
    reason: String,
}

/// `restart: on-failure` bookkeeping of one session.
struct Restarts {
    count: u32,
    last: Instant,
}

/// The wait before restart `n + 1` of a failing session: 1 s, doubling, at most 60 s.
fn backoff(n: u32) -> Duration {
    Duration::from_secs(1u64 << n.min(6)).min(Duration::from_secs(60))
}

impl WatchState {
    /// Every pane, through the control connection when there is one.
    fn panes(&mut self, tmux: &Tmux) -> Vec<Pane> {
        if self.ctl.is_none() && self.ctl_retry.is_none_or(|t| Instant::now() >= t) {
            self.ctl = TmuxControl::attach(tmux, WATCH_SESSION);
            if self.ctl.is_none() {
                self.ctl_retry = Some(Instant::now() + Duration::from_secs(5));
            }
        }
        if let Some(ctl) = &mut self.ctl {
            let cmd = format!("list-panes -a -F '{PANE_FORMAT}'");
            match ctl.run(std::slice::from_ref(&cmd)) {
                Some(mut r) => match r.pop() {
                    Some(Ok(lines)) => {
                        let panes: Vec<Pane> = lines.iter().filter_map(|l| parse_pane(l)).collect();
                        if !needs_reaping(&panes) {
                            return panes;
                        }
                        let cmds = ["display-message -p '#{pid}'".to_string(), cmd];
                        if let Some(mut r) = ctl.run(&cmds[..1]) {
                            if let Some(Ok(pid)) = r.pop() {
                                nudge_server(&pid.join(""));
                            }
                            if let Some(Some(Ok(lines))) = ctl.run(&cmds[1..]).map(|mut r| r.pop())
                            {
                                return lines.iter().filter_map(|l| parse_pane(l)).collect();
                            }
                        }
                        self.ctl = None;
                        return panes;
                    }
                    // No server-side session list (the server is ending): nothing.
                    Some(Err(_)) => return Vec::new(),
                    None => self.ctl = None,
                },
                None => self.ctl = None,
            }
        }
        tmux.panes()
    }

    /// The visible screens of `sessions` (one batch over the control connection).
    fn screens(&mut self, tmux: &Tmux, sessions: &[&str]) -> Vec<String> {
        if let Some(ctl) = &mut self.ctl {
            let cmds: Option<Vec<String>> = sessions
                .iter()
                .map(|s| quote(&format!("={s}:")).map(|t| format!("capture-pane -p -t {t}")))
                .collect();
            if let Some(out) = cmds.and_then(|c| ctl.run(&c)) {
                return out
                    .into_iter()
                    .map(|r| r.map(|l| l.join("\n") + "\n").unwrap_or_default())
                    .collect();
            }
            self.ctl = None;
        }
        sessions
            .iter()
            .map(|s| tmux.screen(s).unwrap_or_default())
            .collect()
    }

    /// The stored spec of `rec`, parsed once per change.
    fn spec(&mut self, rec: &warren_store::EnvRecord) -> Option<EnvSpec> {
        match self.specs.get(&rec.name) {
            Some((json, spec)) if *json == rec.spec => spec.clone(),
            _ => {
                let spec = Warren::spec_of(rec).ok();
                self.specs
                    .insert(rec.name.clone(), (rec.spec.clone(), spec.clone()));
                spec
            }
        }
    }
}

/// Size and modification time of a relay file (whether its tool said something new).
fn relay_signature(path: Option<&std::path::Path>) -> Option<(u64, std::time::SystemTime)> {
    let m = std::fs::symlink_metadata(path?).ok()?;
    Some((m.len(), m.modified().ok()?))
}

impl Warren {
    /// One round of the watcher (the heartbeat): records every session's state change
    /// as an event (which notifies), restarts `restart: on-failure` sessions whose
    /// command failed (with backoff), and ends the tmux sessions of environments that
    /// are not running (removed, stopped or gone behind warren's back). Returns how
    /// many sessions of running environments it saw.
    ///
    /// It is cheap when nothing happens: one `list-panes` over the control
    /// connection, a store read and a `stat` per relay file; a screen is read only
    /// when its pane printed, its title or relayed hooks changed, or its verdict is
    /// due again.
    pub fn watch_round(&self, st: &mut WatchState) -> Result<usize, EnvError> {
        let tmux = self.tmux();
        let panes = st.panes(&tmux);
        let by_name: HashMap<&str, &Pane> = panes.iter().map(|p| (p.session.as_str(), p)).collect();
        let recs = self.store.environments()?;
        let now = Instant::now();
        let now_secs = warren_core::time::now_ms() / 1000;
        let mut seen = 0;
        let mut known: HashSet<String> = HashSet::new();
        // Sessions to judge this round: (env, spec, pane).
        let mut judge: Vec<(String, SessionSpec, Pane)> = Vec::new();
        for rec in &recs {
            let Some(spec) = st.spec(rec) else {
                continue;
            };
            for s in &spec.sessions {
                known.insert(s.tmux.clone());
            }
            if spec.sessions.is_empty() {
                continue;
            }
            if spec.checkpoint_on_idle && rec.state == warren_core::EnvState::Running {
                st.on_idle.insert(rec.name.clone(), rec.clone());
            } else {
                st.on_idle.remove(&rec.name);
            }
            if rec.state != warren_core::EnvState::Running {
                for s in &spec.sessions {
                    if by_name.contains_key(s.tmux.as_str()) {
                        tmux.kill(&s.tmux);
                        self.log_event(
                            &rec.name,
                            &format!("session {} ended: the environment is {}", s.name, rec.state),
                        );
                    }
                }
                continue;
            }
            for s in &spec.sessions {
                seen += 1;
                let (state, reason, exit_code) = match by_name.get(s.tmux.as_str()) {
                    None => ("stopped".to_string(), "no tmux session".to_string(), None),
                    Some(p) if p.dead => {
                        st.seen.remove(&s.tmux);
                        self.restart_on_failure(st, &rec.name, s, p, now);
                        (
                            "exited".to_string(),
                            format!("its command exited with code {}", p.status.unwrap_or(-1)),
                            p.status,
                        )
                    }
                    Some(p) => {
                        let relay = relay_signature(s.relay.as_deref());
                        // Judged again when its layout, title or relayed hooks
                        // changed, when it printed since the last look (at most once
                        // a second: activity is kept in seconds and a spinner prints
                        // all the time), or when its verdict is due.
                        let fresh = st.seen.get(&s.tmux).is_some_and(|m| {
                            let printed = p.activity != m.activity || p.activity >= m.judged_at;
                            m.layout == p.layout
                                && m.title == p.title
                                && m.relay == relay
                                && now < m.recheck
                                && !(printed && now >= m.at + Duration::from_secs(1))
                        });
                        if !fresh {
                            judge.push((rec.name.clone(), s.clone(), (*p).clone()));
                            continue;
                        }
                        match st.seen.get(&s.tmux) {
                            Some(m) => (m.state.clone(), m.reason.clone(), None),
                            None => continue,
                        }
                    }
                };
                self.note_state(st, &rec.name, &s.name, &state, &reason, exit_code);
            }
        }
        if !judge.is_empty() {
            let names: Vec<&str> = judge.iter().map(|(_, s, _)| s.tmux.as_str()).collect();
            let screens = st.screens(&tmux, &names);
            for ((env, s, p), screen) in judge.iter().zip(screens) {
                let v = self.verdict_on(s, p, screen);
                let state = state_word(&v.state);
                let reason = verdict_reason(&v);
                // A verdict can change with time alone (a debounce ends, a start
                // grace runs out): unsettled states are judged again sooner.
                let again = match v.state {
                    warren_state::State::Starting
                    | warren_state::State::Working
                    | warren_state::State::Unknown => Duration::from_secs(1),
                    _ => Duration::from_secs(5),
                };
                st.seen.insert(
                    s.tmux.clone(),
                    Seen {
                        activity: p.activity,
                        title: p.title.clone(),
                        relay: relay_signature(s.relay.as_deref()),
                        judged_at: now_secs,
                        at: now,
                        layout: p.layout.clone(),
                        recheck: now + again,
                        state: state.clone(),
                        reason: reason.clone(),
                    },
                );
                self.note_state(st, env, &s.name, &state, &reason, None);
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
        st.specs
            .retain(|env, _| recs.iter().any(|r| &r.name == env));
        st.seen.retain(|t, _| known.contains(t));
        st.restarts.retain(|t, _| known.contains(t));
        Ok(seen)
    }

    /// Records a session's state when it changed since the last round.
    fn note_state(
        &self,
        st: &mut WatchState,
        env: &str,
        session: &str,
        state: &str,
        reason: &str,
        exit_code: Option<i32>,
    ) {
        let key = (env.to_string(), session.to_string());
        let before = st.last.get(&key).cloned();
        if before.as_deref() == Some(state) {
            return;
        }
        if state == "exited" {
            crate::events::session_exited(&self.store, env, session, exit_code);
        }
        self.record_session_state(env, session, before.as_deref(), state, reason, None);
        st.last.insert(key, state.to_string());
        // `checkpoint: on_idle`: the tree at the end of each turn (a session seen
        // for the first time is not a turn ending).
        if state == "idle"
            && before.is_some()
            && let Some(rec) = st.on_idle.get(env)
        {
            let (root, rec, session) = (self.root.clone(), rec.clone(), session.to_string());
            // Reading a big tree takes a while; the round goes on meanwhile.
            std::thread::spawn(move || {
                let _ = crate::review::checkpoint::record(&root, &rec, &format!("{session} idle"));
            });
        }
    }

    /// Restarts a `restart: on-failure` session whose command failed, once its backoff
    /// (1 s, doubling to 60 s; reset after a minute without a restart) has passed.
    fn restart_on_failure(
        &self,
        st: &mut WatchState,
        env: &str,
        s: &SessionSpec,
        p: &Pane,
        now: Instant,
    ) {
        if !s.restart_on_failure || p.status.is_none_or(|c| c == 0) {
            return;
        }
        let r = st.restarts.entry(s.tmux.clone()).or_insert(Restarts {
            count: 0,
            last: now - Duration::from_secs(3600),
        });
        if now.duration_since(r.last) > Duration::from_secs(60) + backoff(r.count) {
            r.count = 0;
        }
        if r.count > 0 && now.duration_since(r.last) < backoff(r.count - 1) {
            return;
        }
        if self.tmux().respawn(&s.tmux).is_ok() {
            r.count += 1;
            r.last = now;
            self.log_event(
                env,
                &format!(
                    "session {} restarted (on-failure, exit code {}; restart {} in a row)",
                    s.name,
                    p.status.unwrap_or(-1),
                    r.count
                ),
            );
        }
    }

    /// Readies the next repository of the project at `path` (and empties the
    /// trash) in a detached, idle-priority process. Best effort.
    pub fn fill_pool_in_background(&self, path: &std::path::Path) {
        if let Ok(repo) = self.project_of(path) {
            crate::pool::fill_in_background(&self.settings.warren_exe(), &self.root, &repo.root);
        }
    }

    /// Starts the root's tmux server and its watcher unless they run. Callers that
    /// start environments from several processes at once call it first, so that
    /// only one of them starts the server.
    pub fn ensure_watcher(&self) {
        let tmux = self.tmux();
        let panes = self.session_panes();
        let mut watch = panes.iter().filter(|p| p.session == WATCH_SESSION);
        match watch.next() {
            Some(p) if !p.dead => return,
            // A watcher that exited (idle) before its window was set to go with it:
            // the window goes, and a new one starts. Only a dead one: killing a
            // watcher another warren has just started crashes tmux 3.3a when its
            // control client is attaching.
            Some(_) => tmux.kill(WATCH_SESSION),
            None => {}
        }
        let argv = vec![
            self.settings.warren_exe().to_string_lossy().into_owned(),
            "watch".into(),
            "--exit-when-idle".into(),
        ];
        let cwd = self.root.clone();
        // (Also when another warren started one at the same moment.)
        match tmux.start(WATCH_SESSION, &cwd, &argv) {
            // Its window goes when it exits: nothing to read there.
            Ok(()) => tmux.set_remain_on_exit(WATCH_SESSION, false),
            Err(e) => self
                .reporter
                .warn(&format!("cannot start the session watcher: {e}")),
        }
    }
}

#[cfg(test)]
mod resume_tests {
    use super::resume_argv;

    fn resumed(tool: &str, argv: &[&str]) -> Vec<String> {
        let mut argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
        resume_argv(
            tool,
            &mut argv,
            "0199a213-81c0-7800-8aa1-bbab2a035a53".into(),
        );
        argv
    }

    #[test]
    fn each_tool_resumes_its_way() {
        let id = "0199a213-81c0-7800-8aa1-bbab2a035a53";
        assert_eq!(
            resumed("claude", &["claude", "--model", "opus"]),
            ["claude", "--resume", id, "--model", "opus"]
        );
        assert_eq!(
            resumed("codex", &["codex", "-m", "o3", "-c", "notify=[]"]),
            ["codex", "resume", id, "-m", "o3", "-c", "notify=[]"]
        );
        assert_eq!(
            resumed("gemini", &["gemini", "--approval-mode", "yolo"]),
            ["gemini", "--resume", id, "--approval-mode", "yolo"]
        );
        // Already resuming, or a tool that cannot: unchanged.
        assert_eq!(
            resumed("codex", &["codex", "resume", "--last"]),
            ["codex", "resume", "--last"]
        );
        assert_eq!(
            resumed("gemini", &["gemini", "-r", "latest"]),
            ["gemini", "-r", "latest"]
        );
        assert_eq!(resumed("aider", &["aider"]), ["aider"]);
    }
}
