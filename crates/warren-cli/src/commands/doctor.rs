//! `warren doctor`: what runtimes, tools and credentials are usable here,
//! and why not.

use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;
use warren_core::tools::{CREDENTIALS, TOOLS};

use crate::cli::DoctorArgs;
use crate::commands::Ctx;
use crate::printer::{Style, out, paint, stdout_color};

/// One line of the report.
#[derive(Debug, Serialize)]
struct Check {
    section: &'static str,
    name: String,
    ok: bool,
    detail: String,
    /// Shown in red even when `ok` (the host runtime).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    danger: bool,
}

fn check(
    section: &'static str,
    name: impl Into<String>,
    ok: bool,
    detail: impl Into<String>,
) -> Check {
    Check {
        section,
        name: name.into(),
        ok,
        detail: detail.into(),
        danger: false,
    }
}

/// First line of `program ARGS` output, with a timeout.
async fn version_of(program: &str, args: &[&str]) -> Result<String, String> {
    let child = tokio::process::Command::new(program)
        .args(args)
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
                Err(format!("exited with {}: {line}", o.status))
            }
        }
    }
}

pub fn doctor(ctx: &Ctx, args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let checks = ctx.block_on(collect(ctx))?;
    if args.json {
        out(&format!("{}\n", serde_json::to_string_pretty(&checks)?));
    } else {
        let c = stdout_color();
        let mut s = String::new();
        let mut section = "";
        for ch in &checks {
            if ch.section != section {
                section = ch.section;
                s.push_str(&format!("{}\n", paint(c, Style::Bold, section)));
            }
            let mark = if !ch.ok {
                paint(c, Style::Red, "✗")
            } else if ch.danger {
                paint(c, Style::Red, "!")
            } else {
                paint(c, Style::Green, "✓")
            };
            let detail = if ch.danger {
                paint(c, Style::Red, &ch.detail)
            } else {
                ch.detail.clone()
            };
            s.push_str(&format!("  {mark} {:<14} {detail}\n", ch.name));
        }
        out(&s);
    }
    let engine_ok = checks.iter().any(|c| c.name == "docker" && c.ok);
    let sandbox_ok = checks.iter().any(|c| c.name == "sandbox" && c.ok);
    Ok(if engine_ok || sandbox_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn collect(ctx: &Ctx) -> Vec<Check> {
    let mut checks = Vec::new();

    // Runtimes.
    let host = warren_runtime::docker::engine_host();
    match warren_runtime::docker::DockerRuntime::connect().await {
        Ok(d) => {
            let (v, api) = d.version().await.unwrap_or_default();
            checks.push(check(
                "runtimes",
                "docker",
                true,
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
                false,
                format!("{e}: {cause} (start dockerd, or set DOCKER_HOST for Podman)"),
            ));
        }
    }
    for line in crate::sandbox::doctor_lines() {
        checks.push(check("runtimes", &line.0, line.1, line.2));
    }
    let mut host_check = check(
        "runtimes",
        "host",
        true,
        "available only with `--runtime host`: NO isolation",
    );
    host_check.danger = true;
    checks.push(host_check);

    // Programs.
    for (name, args) in [("git", &["--version"][..]), ("tmux", &["-V"][..])] {
        match version_of(name, args).await {
            Ok(v) => checks.push(check("programs", name, true, v)),
            Err(e) => checks.push(check("programs", name, false, e)),
        }
    }

    // AI tools.
    for tool in TOOLS {
        let var = warren_core::vars::tool_bin_var(tool.name);
        let bin = ctx
            .host
            .get(&var)
            .map(str::to_string)
            .unwrap_or_else(|| tool.binary.to_string());
        match version_of(&bin, &["--version"]).await {
            Ok(v) => checks.push(check("tools", tool.name, true, format!("{v} ({bin})"))),
            Err(e) => checks.push(check("tools", tool.name, false, format!("{bin}: {e}"))),
        }
    }

    // Credentials: names only, never values.
    let home = ctx.host.home();
    for tool in TOOLS {
        let env: Vec<&str> = tool
            .credential_env
            .iter()
            .copied()
            .filter(|v| ctx.host.get(v).is_some())
            .collect();
        let files: Vec<&str> = tool
            .config_paths
            .iter()
            .copied()
            .filter(|p| home.as_ref().is_some_and(|h| h.join(p).exists()))
            .collect();
        let stored: Vec<&str> = tool
            .credential_env
            .iter()
            .copied()
            .filter(|v| ctx.root.join("credentials").join(v).is_file())
            .collect();
        let mut found = Vec::new();
        if !env.is_empty() {
            found.push(format!("env {}", env.join(", ")));
        }
        if !stored.is_empty() {
            found.push(format!("stored {}", stored.join(", ")));
        }
        if !files.is_empty() {
            found.push(format!("~/{}", files.join(", ~/")));
        }
        let ok = !found.is_empty();
        let detail = if ok {
            found.join("; ")
        } else {
            format!(
                "none (set {} or log in with `{}`)",
                tool.credential_env[0], tool.binary
            )
        };
        checks.push(check("credentials", tool.name, ok, detail));
    }
    for cred in CREDENTIALS {
        let present: Vec<&str> = cred
            .paths
            .iter()
            .copied()
            .filter(|p| home.as_ref().is_some_and(|h| h.join(p).exists()))
            .collect();
        let ok = !present.is_empty();
        let detail = if ok {
            format!(
                "~/{} (mounted read-only when `credentials: [{}]`)",
                present.join(", ~/"),
                cred.name
            )
        } else {
            format!("~/{} not found", cred.paths[0])
        };
        checks.push(check("credentials", cred.name, ok, detail));
    }
    checks
}
