//! Sessions (docs/sessions.md): long-running processes of an environment — a dev
//! server (`sessions:`) or an AI tool's terminal UI (`roles:`) — each in a tmux session
//! on the host. One tmux server per warren root, on the socket `ROOT/tmux.sock`, started
//! with no user configuration (`-f /dev/null`) so nothing of the user's tmux setup
//! changes what warren sees. A session's window runs `warren exec NAME -- CMD`, so the
//! command runs inside the environment and images need no tmux. Windows stay after
//! their command exits (`remain-on-exit`), so an exit code can be read.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::EnvError;

/// One session as stored with the environment (rendered at create).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSpec {
    /// `serve`, or the role's name.
    pub name: String,
    /// The tmux session's name (`default_session_name_template`).
    pub tmux: String,
    /// What runs inside the environment.
    pub argv: Vec<String>,
    /// Variables for it (`PORT`, `WARREN_SESSION`, `WARREN_ROLE`).
    pub env: Vec<(String, String)>,
    /// Ports it listens on (routed as services).
    pub ports: Vec<u16>,
    /// `restart: on-failure`.
    #[serde(default)]
    pub restart_on_failure: bool,
    /// The role, for a role session.
    #[serde(default)]
    pub role: Option<String>,
    /// The AI tool, for a role session.
    #[serde(default)]
    pub tool: Option<String>,
    /// Where its tool's hooks are relayed, as the host sees it (a file in the
    /// environment's own repository, `.git/warren/hooks-NAME.jsonl`, or under
    /// `ROOT/relay/ENV` for one on the main checkout; data only).
    #[serde(default)]
    pub relay: Option<std::path::PathBuf>,
    /// Host hooks around it.
    #[serde(default)]
    pub pre_start: Vec<String>,
    #[serde(default)]
    pub post_stop: Vec<String>,
}

/// What tmux says about one session's pane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pane {
    pub session: String,
    /// The pane's command has exited.
    pub dead: bool,
    /// Its exit status, when dead.
    pub status: Option<i32>,
    /// The pane's title (tools write their status there).
    pub title: String,
    /// Unix time of the pane's last output.
    pub activity: i64,
    /// Unix time the session was created.
    pub created: i64,
    /// Host pid of the pane's process.
    pub pid: Option<u32>,
    /// Cursor position, history size and height: what changes when a screen gets a
    /// new line or a redrawn layout (a prompt appearing), and not when a status line
    /// is rewritten in place (a spinner). The watcher reads a screen at once when it
    /// changes, and at most once a second while only its activity does.
    #[serde(skip)]
    pub layout: String,
}

/// What `list-panes -F` prints per pane: `|` between fields, the title (free text) last.
pub(crate) const PANE_FORMAT: &str = "#{session_name}|#{pane_dead}|#{pane_dead_status}|#{window_activity}|#{pane_pid}|#{session_created}|#{cursor_x},#{cursor_y},#{history_size},#{pane_height}|#{pane_title}";

/// One line of [`PANE_FORMAT`].
pub(crate) fn parse_pane(line: &str) -> Option<Pane> {
    let mut f = line.splitn(8, '|');
    let session = f.next()?.to_string();
    let dead = f.next()? == "1";
    let status = f.next().and_then(|s| s.parse().ok()).filter(|_| dead);
    let activity = f.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let pid = f.next().and_then(|s| s.parse().ok());
    let created = f.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let layout = f.next().unwrap_or("").to_string();
    let title = f.next().unwrap_or("").to_string();
    Some(Pane {
        session,
        dead,
        status,
        title,
        activity,
        created,
        pid,
        layout,
    })
}

/// Whether a pane is dead but tmux has not collected its exit status. tmux 3.3a
/// misses the SIGCHLD of many panes that exit while their output is being read (in
/// a loop of `sh -c 'sleep 0.3; exit 3'` more than half), and then keeps a zombie and
/// no status until another child exits.
pub(crate) fn needs_reaping(panes: &[Pane]) -> bool {
    panes.iter().any(|p| p.dead && p.status.is_none())
}

/// Sends the tmux server (`pid`, as its `#{pid}` format printed it) the SIGCHLD it
/// missed: it then reaps its children and records their exit status. Harmless when
/// there is nothing to reap. Waits briefly for the server to handle it.
pub(crate) fn nudge_server(pid: &str) {
    if let Ok(pid) = pid.trim().parse::<i32>()
        && pid > 1
    {
        if let Some(pid) = rustix::process::Pid::from_raw(pid) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::CHILD);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The tmux server of one warren root.
#[derive(Debug, Clone)]
pub struct Tmux {
    socket: PathBuf,
}

fn tmux_err(what: &str, out: &std::process::Output) -> EnvError {
    EnvError::Other(format!(
        "tmux {what} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

impl Tmux {
    /// The server of `root` (`ROOT/tmux.sock`).
    pub fn for_root(root: &Path) -> Tmux {
        Tmux {
            socket: root.join("tmux.sock"),
        }
    }

    /// The socket path (for `tmux -S`).
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// A `tmux` command on this server.
    pub fn command(&self) -> Command {
        let mut c = Command::new("tmux");
        // `-u`: UTF-8 whatever the caller's locale (tools draw their state in UTF-8,
        // and without it tmux replaces what it considers unprintable).
        c.arg("-u")
            .arg("-S")
            .arg(&self.socket)
            .arg("-f")
            .arg("/dev/null");
        c.stdin(Stdio::null());
        c
    }

    fn run(&self, what: &str, args: &[&str]) -> Result<String, EnvError> {
        let out = self.command().args(args).output().map_err(|e| {
            EnvError::Io("running tmux (is it installed? `warren doctor`)".into(), e)
        })?;
        if !out.status.success() {
            return Err(tmux_err(what, &out));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Whether tmux session `name` exists.
    pub fn has(&self, name: &str) -> bool {
        self.command()
            .args(["has-session", "-t", &format!("={name}")])
            .stderr(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts session `name` running `argv` in `cwd`, its window kept after exit.
    pub fn start(&self, name: &str, cwd: &Path, argv: &[String]) -> Result<(), EnvError> {
        self.start_many(&[NewSession { name, cwd, argv }])
    }

    /// Starts several sessions with one tmux command (one client, one round trip).
    /// tmux stops a command list at its first failure: on one, each session that
    /// did not start is started alone, so the error names the one that failed. A
    /// session that already exists is left as it is and counts as started.
    pub fn start_many(&self, sessions: &[NewSession<'_>]) -> Result<(), EnvError> {
        // Server options first, in the same invocation: a command that exits at once
        // must still leave its pane (and exit code) behind, and the history is what
        // `warren output` shows.
        let mut args: Vec<String> = [
            "start-server",
            ";",
            "set-option",
            "-g",
            "remain-on-exit",
            "on",
            ";",
            "set-option",
            "-g",
            "history-limit",
            "10000",
        ]
        .map(String::from)
        .to_vec();
        for s in sessions {
            args.push(";".into());
            args.extend(new_session_args(s));
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        match self.run("new-session", &refs) {
            Ok(_) => Ok(()),
            Err(e) if sessions.len() <= 1 => match sessions.first() {
                Some(s) if self.has(s.name) => Ok(()),
                _ => Err(e),
            },
            Err(_) => {
                for s in sessions {
                    if !self.has(s.name) {
                        self.start_many(std::slice::from_ref(s))?;
                    }
                }
                Ok(())
            }
        }
    }

    /// Whether session `name`'s window stays after its command exits.
    pub fn set_remain_on_exit(&self, name: &str, on: bool) {
        let _ = self.run(
            "set-option",
            &[
                "set-option",
                "-t",
                // remain-on-exit is a window option: the target is the window.
                &format!("={name}:"),
                "remain-on-exit",
                if on { "on" } else { "off" },
            ],
        );
    }

    /// Runs the session's command again in its (dead) pane.
    pub fn respawn(&self, name: &str) -> Result<(), EnvError> {
        self.run(
            "respawn-pane",
            &["respawn-pane", "-t", &format!("={name}:"), "-k"],
        )
        .map(|_| ())
    }

    /// Ends session `name` (nothing if it does not exist).
    pub fn kill(&self, name: &str) {
        let _ = self
            .command()
            .args(["kill-session", "-t", &format!("={name}")])
            .stderr(Stdio::null())
            .status();
    }

    /// The last `lines` lines of the pane (visible screen and history), as text.
    pub fn capture(&self, name: &str, lines: Option<usize>) -> Result<String, EnvError> {
        let start = match lines {
            Some(n) => format!("-{n}"),
            None => "-".to_string(),
        };
        let text = self.run(
            "capture-pane",
            &[
                "capture-pane",
                "-p",
                "-J",
                "-t",
                &format!("={name}:"),
                "-S",
                &start,
            ],
        )?;
        // Trailing blank lines of the screen are not output.
        Ok(format!("{}\n", text.trim_end_matches(['\n', ' '])))
    }

    /// The visible screen only (what state detection reads).
    pub fn screen(&self, name: &str) -> Result<String, EnvError> {
        self.run(
            "capture-pane",
            &["capture-pane", "-p", "-t", &format!("={name}:")],
        )
    }

    /// Types `text` into the session, then Enter.
    pub fn send(&self, name: &str, text: &str) -> Result<(), EnvError> {
        let target = format!("={name}:");
        self.run("send-keys", &["send-keys", "-t", &target, "-l", "--", text])?;
        self.run("send-keys", &["send-keys", "-t", &target, "Enter"])
            .map(|_| ())
    }

    /// Every session's pane on this server (none when the server is not running).
    pub fn panes(&self) -> Vec<Pane> {
        let list = || -> Vec<Pane> {
            let Ok(out) = self
                .command()
                .args(["list-panes", "-a", "-F", PANE_FORMAT])
                .stderr(Stdio::null())
                .output()
            else {
                return Vec::new();
            };
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(parse_pane)
                .collect()
        };
        let panes = list();
        if needs_reaping(&panes)
            && let Ok(pid) = self.run("display-message", &["display-message", "-p", "#{pid}"])
        {
            nudge_server(&pid);
            return list();
        }
        panes
    }

    /// argv that attaches the caller's terminal to session `name`.
    pub fn attach_argv(&self, name: &str) -> Vec<std::ffi::OsString> {
        vec![
            "tmux".into(),
            "-u".into(),
            "-S".into(),
            self.socket.clone().into_os_string(),
            "-f".into(),
            "/dev/null".into(),
            "attach-session".into(),
            "-t".into(),
            format!("={name}").into(),
        ]
    }
}

/// The tmux session name for `session` of environment `env` from the template
/// (`{name}`, `{project}`, `{session_name}`, `{issue_id}`; the default is
/// `{name}-{session_name}`). tmux does not allow `.` or `:` in names.
pub fn tmux_name(
    template: &str,
    env: &str,
    project: &str,
    session: &str,
    issue_id: Option<u64>,
) -> String {
    let ctx = warren_config::TemplateContext {
        name: Some(env.to_string()),
        project: Some(project.to_string()),
        session_name: Some(session.to_string()),
        issue_id,
        ..Default::default()
    };
    let rendered =
        warren_config::render(template, &ctx).unwrap_or_else(|_| format!("{env}-{session}"));
    let clean: String = rendered
        .chars()
        .map(|c| {
            if c == '.' || c == ':' || c.is_whitespace() {
                '-'
            } else {
                c
            }
        })
        .collect();
    let clean = clean.trim_matches('-').to_string();
    // A template without the environment's name would make two environments'
    // sessions clash: the name goes in front then.
    if clean.contains(env) {
        clean
    } else {
        format!("{env}-{clean}")
    }
}

/// One session for [`Tmux::start_many`].
#[derive(Debug, Clone, Copy)]
pub struct NewSession<'a> {
    pub name: &'a str,
    pub cwd: &'a Path,
    pub argv: &'a [String],
}

fn new_session_args(s: &NewSession<'_>) -> Vec<String> {
    let mut args: Vec<String> = [
        "new-session",
        "-d",
        "-s",
        s.name,
        "-x",
        "200",
        "-y",
        "50",
        "-c",
    ]
    .map(String::from)
    .to_vec();
    args.push(tmux_arg(&s.cwd.to_string_lossy()));
    args.push("--".into());
    args.extend(s.argv.iter().map(|a| tmux_arg(a)));
    args
}

/// An argument as tmux must be given it to pass it on unchanged. tmux reads an
/// argument that ends in `;` as the end of a command (dropping the `;`), even after
/// `--`, unless a `\` comes before that `;` (which it then drops): `make;` would
/// run as `make`, and a lone `;` would start a new tmux command.
pub(crate) fn tmux_arg(a: &str) -> String {
    match a.strip_suffix(';') {
        Some(head) => format!("{head}\\;"),
        None => a.to_string(),
    }
}

/// The interactive command of a role's tool with its real flags (DESIGN.md section 7):
/// the model, and permission skipping when the role's effective `dangerous` is true.
pub fn role_argv(tool: &str, model: Option<&str>, dangerous: bool) -> Vec<String> {
    let bin = warren_core::tools::tool(tool)
        .map(|t| t.binary)
        .unwrap_or(tool)
        .to_string();
    let mut argv = vec![bin];
    match tool {
        "claude" => {
            if let Some(m) = model {
                argv.extend(["--model".into(), m.into()]);
            }
            if dangerous {
                argv.push("--dangerously-skip-permissions".into());
            }
        }
        "codex" => {
            if let Some(m) = model {
                argv.extend(["-m".into(), m.into()]);
            }
            if dangerous {
                argv.push("--dangerously-bypass-approvals-and-sandbox".into());
            }
        }
        "gemini" => {
            if let Some(m) = model {
                argv.extend(["-m".into(), m.into()]);
            }
            if dangerous {
                argv.extend(["--approval-mode".into(), "yolo".into()]);
            }
        }
        "aider" => {
            if let Some(m) = model {
                argv.extend(["--model".into(), m.into()]);
            }
            if dangerous {
                argv.push("--yes-always".into());
            }
        }
        _ => {
            if let Some(m) = model {
                argv.extend(["-m".into(), m.into()]);
            }
        }
    }
    argv
}

/// The deterministic port of an environment (DESIGN.md section 4): the manager gets the
/// first port of the range, issue N gets `first + N mod size` (0 → the last), others
/// the first.
pub fn env_port(range: (u16, u16), issue_id: Option<u64>) -> u16 {
    // The first port is the manager's: issues take the other `size` ports, N mod
    // size of them, with 0 meaning the last.
    let (first, last) = range;
    let size = u64::from(last.saturating_sub(first));
    match issue_id {
        Some(_) if size == 0 => first,
        Some(n) => match n % size {
            0 => last,
            off => first + off as u16,
        },
        None => first,
    }
}

/// Registers warren's hooks in the environment's private gemini settings
/// (`ROOT/configs/NAME/.gemini/settings.json`, shown as `~/.gemini/settings.json`
/// inside; gemini only reads a system settings file owned by root), keeping what
/// else the user's copied settings hold. `relay_inside` is the relay directory
/// inside the environment.
pub(crate) fn gemini_hooks(private: &Path, relay_inside: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = private.join(".gemini/settings.json");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut settings = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| serde_json::json!({}));
    let ours = warren_state::gemini_settings_json_in(relay_inside);
    settings["hooks"] = ours["hooks"].clone();
    let text = serde_json::to_vec_pretty(&settings).map_err(std::io::Error::other)?;
    let _ = std::fs::remove_file(&path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    std::io::Write::write_all(&mut f, &text)
}

/// Where the role sessions of an environment relay their tools' hooks, on the host and
/// inside: `.git/warren` of the environment's own repository (`tree`, at `inside`), or,
/// for one on the main checkout (read-only inside), `relay` (a directory of its own
/// under warren's root, shown read-write at its host path).
pub(crate) fn relay_dirs(
    tree: &Path,
    inside: &str,
    relay: Option<&Path>,
) -> (std::path::PathBuf, String) {
    match relay {
        Some(dir) => (dir.to_path_buf(), dir.to_string_lossy().into_owned()),
        None => (
            tree.join(".git/warren"),
            format!("{}/.git/warren", inside.trim_end_matches('/')),
        ),
    }
}

/// The environment's sessions rendered for environment `name` (templates get `port`,
/// `name`, `project`, `issue_id`, `role`, `session_name`), and the services their
/// declared ports add (named after the session; `web-2` for a second port).
///
/// `relay_dir` is the directory a claude role's hooks (a codex role's turn ends) are
/// relayed to, `hooks-ROLE.jsonl` in it, as the host sees it, and `relay_inside` the
/// same directory inside ([`relay_dirs`]).
pub(crate) fn render(
    plan: &crate::plan::Plan,
    name: &str,
    relay_dir: &Path,
    relay_inside: &str,
) -> Result<(Vec<SessionSpec>, Vec<crate::spec::ServiceSpec>), EnvError> {
    let issue_id = plan.issue_id.as_deref().and_then(|i| i.parse::<u64>().ok());
    let range = (plan.local.port_range.start, plan.local.port_range.end);
    let port = env_port(range, issue_id);
    let bad = |what: String, e: warren_config::TemplateError| {
        EnvError::Other(format!(
            "{what}: {e}{}",
            e.hint
                .as_ref()
                .map(|h| format!(" ({h})"))
                .unwrap_or_default()
        ))
    };
    let ctx = |session: &str, role: Option<&str>| warren_config::TemplateContext {
        port: Some(port),
        issue_id,
        role: role.map(str::to_string),
        project: Some(plan.project.clone()),
        name: Some(name.to_string()),
        session_name: Some(session.to_string()),
        ..Default::default()
    };
    let tmux = |session: &str| {
        tmux_name(
            &plan.session_name_template,
            name,
            &plan.project,
            session,
            issue_id,
        )
    };
    let mut sessions = Vec::new();
    let mut services = Vec::new();
    for s in &plan.sessions {
        let c = ctx(&s.name, None);
        let command = warren_config::render(&s.config.command, &c)
            .map_err(|e| bad(format!("sessions.{}.command", s.name), e))?;
        let mut ports = Vec::new();
        for (i, p) in s.config.ports.iter().enumerate() {
            let text = warren_config::render(p, &c)
                .map_err(|e| bad(format!("sessions.{}.ports[{i}]", s.name), e))?;
            let port: u16 = text.trim().parse().map_err(|_| {
                EnvError::Other(format!(
                    "sessions.{}.ports[{i}] is `{text}`, not a port number",
                    s.name
                ))
            })?;
            ports.push(port);
            services.push(crate::spec::ServiceSpec {
                name: if i == 0 {
                    s.name.clone()
                } else {
                    format!("{}-{}", s.name, i + 1)
                },
                port,
                label: None,
                host_port: None,
            });
        }
        let mut env = vec![
            (
                "PORT".to_string(),
                ports.first().copied().unwrap_or(port).to_string(),
            ),
            ("WARREN_SESSION".to_string(), s.name.clone()),
        ];
        for (k, v) in s.config.env.iter() {
            env.push((k.to_string(), v.clone()));
        }
        let hooks = |h: &[warren_config::Hook]| -> Vec<String> {
            h.iter().map(|h| h.run.clone()).collect()
        };
        sessions.push(SessionSpec {
            name: s.name.clone(),
            tmux: tmux(&s.name),
            argv: vec!["/bin/sh".into(), "-c".into(), command],
            env,
            ports,
            restart_on_failure: s.config.restart_on_failure,
            role: None,
            tool: None,
            relay: None,
            pre_start: hooks(&s.config.pre_start),
            post_stop: hooks(&s.config.post_stop),
        });
    }
    for r in &plan.roles {
        let mut argv = role_argv(&r.tool, r.model.as_deref(), r.dangerous);
        let mut relay = None;
        if r.tool == "claude" {
            // Hooks set per session: each appends its event to a file in the
            // environment's own repository, which the host reads as data.
            let file = format!("hooks-{}.jsonl", r.name);
            let settings = warren_state::claude_settings_json(&format!(
                "{}/{file}",
                relay_inside.trim_end_matches('/')
            ));
            argv.extend(["--settings".into(), settings.to_string()]);
            let _ = std::fs::create_dir_all(relay_dir);
            relay = Some(relay_dir.join(file));
        } else if r.tool == "codex" {
            // Codex has no per-session hook settings, but runs its `notify` program
            // (set with `-c`) after each turn: the same relay, turn ends only.
            let file = format!("hooks-{}.jsonl", r.name);
            let notify = warren_state::codex_notify_config(&format!(
                "{}/{file}",
                relay_inside.trim_end_matches('/')
            ));
            argv.extend(["-c".into(), notify]);
            let _ = std::fs::create_dir_all(relay_dir);
            relay = Some(relay_dir.join(file));
        } else if r.tool == "gemini" {
            // Its hooks are in the environment's private `~/.gemini/settings.json`
            // (written at create, `gemini_hooks`), appending to this role's file.
            let _ = std::fs::create_dir_all(relay_dir);
            relay = Some(relay_dir.join(format!("hooks-{}.jsonl", r.name)));
        }
        sessions.push(SessionSpec {
            name: r.name.clone(),
            tmux: tmux(&r.name),
            argv,
            relay,
            env: vec![
                ("PORT".to_string(), port.to_string()),
                ("WARREN_SESSION".to_string(), r.name.clone()),
                ("WARREN_ROLE".to_string(), r.name.clone()),
            ],
            ports: Vec::new(),
            restart_on_failure: false,
            role: Some(r.name.clone()),
            tool: Some(r.tool.clone()),
            pre_start: Vec::new(),
            post_stop: Vec::new(),
        });
    }
    Ok((sessions, services))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_trailing_semicolon_reaches_the_command() {
        assert_eq!(tmux_arg("make;"), "make\\;");
        assert_eq!(tmux_arg(";"), "\\;");
        assert_eq!(tmux_arg("a\\;"), "a\\\\;");
        assert_eq!(tmux_arg("a;b"), "a;b");
    }

    #[test]
    fn ports_per_issue() {
        assert_eq!(env_port((9000, 9100), None), 9000);
        assert_eq!(env_port((9000, 9100), Some(1)), 9001);
        assert_eq!(env_port((9000, 9100), Some(42)), 9042);
        // DESIGN.md's example: 9000-9100, issue N gets 9000 + N % 100, 0 → 9100.
        assert_eq!(env_port((9000, 9100), Some(100)), 9100);
        assert_eq!(env_port((9000, 9100), Some(101)), 9001);
        assert_eq!(env_port((9000, 9099), Some(99)), 9099);
        assert_eq!(env_port((9000, 9099), Some(105)), 9006);
    }

    #[test]
    fn session_names() {
        assert_eq!(
            tmux_name("{name}-{session_name}", "otter", "app", "serve", None),
            "otter-serve"
        );
        assert_eq!(
            tmux_name(
                "{project}-{session_name}-{issue_id}",
                "issue-7",
                "app",
                "dev",
                Some(7)
            ),
            "issue-7-app-dev-7"
        );
        assert_eq!(
            tmux_name("{name}.{session_name}", "a", "p", "s", None),
            "a-s"
        );
    }

    #[test]
    fn role_flags() {
        assert_eq!(
            role_argv("claude", Some("opus"), true),
            [
                "claude",
                "--model",
                "opus",
                "--dangerously-skip-permissions"
            ]
        );
        assert_eq!(role_argv("codex", None, false), ["codex"]);
        assert_eq!(
            role_argv("gemini", Some("g"), true),
            ["gemini", "-m", "g", "--approval-mode", "yolo"]
        );
    }
}
