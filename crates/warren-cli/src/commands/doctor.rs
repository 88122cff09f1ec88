//! `warren doctor`: what runtimes, tools and credentials are usable here,
//! and why not. Probes run with a throw-away `$HOME`, so that a tool's
//! `--version` cannot write into the user's home (gemini creates `~/.gemini`
//! on any run) and fool the credential check.

use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;
use warren_core::tools::{CREDENTIALS, TOOLS};

use crate::cli::DoctorArgs;
use crate::commands::Ctx;
use crate::output::{Stream, Style, printer};

/// How a line of the report reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Level {
    Ok,
    /// Works, but the user should know (the host runtime, `*.localhost`).
    Warn,
    Missing,
}

/// One line of the report.
#[derive(Debug, Serialize)]
struct Check {
    section: &'static str,
    name: String,
    ok: bool,
    level: Level,
    detail: String,
}

fn check(
    section: &'static str,
    name: impl Into<String>,
    level: Level,
    detail: impl Into<String>,
) -> Check {
    Check {
        section,
        name: name.into(),
        ok: level != Level::Missing,
        level,
        detail: detail.into(),
    }
}

/// First line of `program ARGS` output, with a timeout, in `home`.
async fn version_of(
    program: &str,
    args: &[&str],
    home: &std::path::Path,
) -> Result<String, String> {
    let child = tokio::process::Command::new(program)
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(Duration::from_secs(10), child).await {
        Err(_) => Err("did not answer within 10 s".into()),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Err("not found on PATH".into()),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(o)) => {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            let line = String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            if o.status.success() {
                Ok(line)
            } else {
                let code = o
                    .status
                    .code()
                    .map_or_else(|| "a signal".to_string(), |c| format!("code {c}"));
                Err(format!("exited with {code}: {line}"))
            }
        }
    }
}

pub fn doctor(ctx: &Ctx, args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let checks = ctx.block_on(collect(ctx))?;
    let p = printer();
    if args.json {
        p.json(&checks)?;
    } else {
        let mut s = String::new();
        let mut section = "";
        for ch in &checks {
            if ch.section != section {
                section = ch.section;
                s.push_str(&format!("{}\n", p.paint(Stream::Out, Style::Bold, section)));
            }
            let (mark, style) = match ch.level {
                Level::Ok => ("✓", Style::Green),
                Level::Warn => ("!", Style::Yellow),
                Level::Missing => ("✗", Style::Red),
            };
            let detail = if ch.name == "host" {
                p.paint(Stream::Out, Style::Red, &ch.detail)
            } else {
                ch.detail.clone()
            };
            s.push_str(&format!(
                "  {} {:<14} {detail}\n",
                p.paint(Stream::Out, style, mark),
                ch.name
            ));
        }
        p.out(&s);
    }
    let usable = checks
        .iter()
        .any(|c| (c.name == "docker" || c.name == "sandbox") && c.ok);
    Ok(if usable {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn collect(ctx: &Ctx) -> Vec<Check> {
    let mut checks = Vec::new();

    // Configuration.
    match ctx.settings() {
        Ok(s) => checks.push(check(
            "configuration",
            "config.yaml",
            Level::Ok,
            match &s.config_file {
                Some(f) => format!("{} (valid)", f.display()),
                None => format!("none in {} (defaults)", s.root.display()),
            },
        )),
        Err(e) => checks.push(check(
            "configuration",
            "config.yaml",
            Level::Missing,
            format!("{e} (see `warren validate`)"),
        )),
    }

    // Runtimes.
    let host = warren_runtime::docker::engine_host();
    match warren_runtime::docker::DockerRuntime::connect().await {
        Ok(d) => {
            let (v, api) = d.version().await.unwrap_or_default();
            checks.push(check(
                "runtimes",
                "docker",
                Level::Ok,
                format!("engine {v}, API {api} at {host}"),
            ));
        }
        Err(e) => {
            let cause = std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_default();
            checks.push(check(
                "runtimes",
                "docker",
                Level::Missing,
                format!("{e}: {cause} (start dockerd, or set DOCKER_HOST for Podman)"),
            ));
        }
    }
    for l in warren_sandbox::probe() {
        let level = if l.available {
            Level::Ok
        } else {
            Level::Missing
        };
        checks.push(check(
            "runtimes",
            format!("sandbox: {}", l.layer),
            level,
            l.detail,
        ));
    }
    checks.push(check(
        "runtimes",
        "host",
        Level::Warn,
        "only with `--runtime host`: NO isolation: the agent runs as you, reads your keys and home, changes every repository (the main .git too), reaches every local service and outlives warren (docs/SECURITY.md)",
    ));

    // Network isolation (docs/SECURITY.md, "Network").
    checks.extend(network_checks(settings_root(ctx).as_deref()));
    checks.extend(host_access_checks(ctx));

    // Programs and name resolution.
    let scratch = tempfile::tempdir().ok();
    let probe_home = scratch
        .as_ref()
        .map(|d| d.path().to_path_buf())
        .unwrap_or_else(std::env::temp_dir);
    for (name, args) in [("git", &["--version"][..]), ("tmux", &["-V"][..])] {
        match version_of(name, args, &probe_home).await {
            Ok(v) => checks.push(check("programs", name, Level::Ok, v)),
            Err(e) => checks.push(check("programs", name, Level::Missing, e)),
        }
    }
    checks.push(localhost_check());

    // AI tools.
    let settings = ctx.settings().ok();
    for tool in TOOLS {
        let bin = settings
            .map(|s| s.tool_bin(tool.name))
            .unwrap_or_else(|| tool.binary.to_string());
        match version_of(&bin, &["--version"], &probe_home).await {
            Ok(v) => checks.push(check("tools", tool.name, Level::Ok, format!("{v} ({bin})"))),
            Err(e) => checks.push(check(
                "tools",
                tool.name,
                Level::Missing,
                format!("{bin}: {e}"),
            )),
        }
    }

    // Credentials: names only, never values.
    let home = ctx.host.home();
    let root = settings.map(|s| s.root.clone());
    for tool in TOOLS {
        let found = warren_core::tools::credential_sources(
            tool,
            &|k| ctx.host.get(k).is_some(),
            home.as_deref(),
            root.as_deref(),
        );
        let level = if found.is_empty() {
            Level::Missing
        } else {
            Level::Ok
        };
        let detail = if found.is_empty() {
            warren_core::tools::how_to_log_in(tool)
        } else {
            found.join("; ")
        };
        checks.push(check("credentials", tool.name, level, detail));
    }
    for cred in CREDENTIALS {
        let present: Vec<&str> = cred
            .paths
            .iter()
            .copied()
            .filter(|p| home.as_ref().is_some_and(|h| h.join(p).exists()))
            .collect();
        let (level, detail) = if present.is_empty() {
            (Level::Missing, format!("~/{} not found", cred.paths[0]))
        } else {
            (
                Level::Ok,
                format!(
                    "~/{} (mounted read-only when `credentials: [{}]`)",
                    present.join(", ~/"),
                    cred.name
                ),
            )
        };
        checks.push(check("credentials", cred.name, level, detail));
    }
    checks
}

/// The host access granted by `host_access:` (global config, and the
/// project of the current directory): the isolation its environments may
/// give up (docs/SECURITY.md, "Host access").
fn host_access_checks(ctx: &Ctx) -> Vec<Check> {
    let mut out = Vec::new();
    let describe = |g: &warren_config::HostAccessOptIn| -> String {
        serde_json::to_value(g)
            .ok()
            .and_then(|v| {
                v.as_object().map(|o| {
                    o.iter()
                        .filter(|(_, v)| {
                            !(v.is_null()
                                || **v == serde_json::Value::Bool(false)
                                || v.as_array().is_some_and(|a| a.is_empty()))
                        })
                        .map(|(k, v)| format!("{k}: {v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
            })
            .unwrap_or_default()
    };
    if let Ok(s) = ctx.settings()
        && !s.global.host_access.is_empty()
    {
        out.push(check(
            "host access",
            "global config.yaml",
            Level::Warn,
            format!(
                "every project's environments may give up: {}",
                describe(&s.global.host_access)
            ),
        ));
    }
    let project = std::env::current_dir()
        .ok()
        .and_then(|cwd| warren_env::git::Repo::discover(&cwd).ok())
        .and_then(|repo| warren_config::load_project(&repo.root).ok())
        .and_then(|l| l.value);
    if let Some(p) = project
        && !p.host_access.is_empty()
    {
        out.push(check(
            "host access",
            p.file.display().to_string(),
            Level::Warn,
            format!(
                "this project's environments may give up: {}",
                describe(&p.host_access)
            ),
        ));
    }
    out
}

fn settings_root(ctx: &Ctx) -> Option<std::path::PathBuf> {
    ctx.settings().ok().map(|s| s.root.clone())
}

/// What network modes this host can enforce. `isolated`/`open`/`none` need a network
/// namespace per environment: the sandbox makes its own (a user namespace suffices);
/// for a container warren enters the engine's namespace to hold its sockets, which
/// takes CAP_SYS_ADMIN over it (root here, with a rootful engine). No iptables needed.
fn network_checks(root: Option<&std::path::Path>) -> Vec<Check> {
    let mut out = Vec::new();
    let netns = warren_sandbox::probe()
        .into_iter()
        .find(|l| l.layer == warren_sandbox::Layer::NetNamespace);
    match netns {
        Some(l) if l.available => out.push(check(
            "network",
            "sandbox",
            Level::Ok,
            "isolated, open, none: a network namespace per environment (loopback only; out through warren's egress proxy)",
        )),
        Some(l) => out.push(check(
            "network",
            "sandbox",
            Level::Missing,
            format!("no network namespaces ({}): only `network: host` would run, and warren refuses the other modes rather than run them unisolated", l.detail),
        )),
        None => {}
    }
    let root_user = rustix::process::geteuid().is_root();
    out.push(if root_user {
        check(
            "network",
            "docker",
            Level::Ok,
            "isolated, open, none: containers run with `--network none`; warren enters their namespace to serve the egress proxy and the routes (no iptables needed)",
        )
    } else {
        check(
            "network",
            "docker",
            Level::Missing,
            "isolated/open/none need warren to enter a container's network namespace (root); such environments fail to start with sandbox_error: use the sandbox, or `network: host` on purpose",
        )
    });
    out.push(check(
        "network",
        "host",
        Level::Warn,
        "only with `network: host`: the environment shares the host's network (other environments, local services, metadata addresses)",
    ));
    if let Some(root) = root {
        let key = root.join("tls/egress-ca.key");
        let detail = match std::fs::metadata(&key) {
            Ok(m) => {
                use std::os::unix::fs::PermissionsExt;
                let mode = m.permissions().mode() & 0o777;
                format!(
                    "{} (key mode {mode:o}{})",
                    root.join("tls/egress-ca.pem").display(),
                    if mode == 0o600 { "" } else { ": must be 600" }
                )
            }
            Err(_) => "made at the first grant (`grants:` in .warren.yaml)".into(),
        };
        out.push(check("network", "egress CA", Level::Ok, detail));
    }
    out
}

/// Whether the system resolver (what Python, Node and most programs use)
/// finds `*.localhost`. Browsers and curl resolve it themselves.
fn localhost_check() -> Check {
    use std::net::ToSocketAddrs;
    let resolved = ("warren-doctor.localhost", 80)
        .to_socket_addrs()
        .map(|mut a| a.all(|a| a.ip().is_loopback()))
        .unwrap_or(false);
    if resolved {
        check(
            "programs",
            "*.localhost",
            Level::Ok,
            "resolved to loopback by the system resolver",
        )
    } else {
        check(
            "programs",
            "*.localhost",
            Level::Warn,
            "not resolved by the system resolver: browsers and curl open the printed URLs, \
             Python, Node and most other programs cannot. Fix: install `libnss-myhostname` \
             and add `myhostname` to the `hosts:` line of /etc/nsswitch.conf",
        )
    }
}
