//! `warren agent serve` and `warren agent ls`.

use std::process::ExitCode;
use std::time::Duration;

use warren_agent::server::{self, ServerConfig};
use warren_agent::{AgentError, director};

use crate::cli::{AgentArgs, AgentCommand, ServeArgs};
use crate::commands::Ctx;
use crate::output::{Stream, Style, printer};

pub fn agent(ctx: &Ctx, args: AgentArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        AgentCommand::Serve(a) => serve(ctx, *a),
        AgentCommand::Ls { json } => ls(ctx, json),
    }
}

fn ls(ctx: &Ctx, json: bool) -> anyhow::Result<ExitCode> {
    let agents = director::live_agents(&ctx.root()?)?;
    let p = printer();
    if json {
        let v: Vec<serde_json::Value> = agents
            .iter()
            .map(|a| {
                serde_json::json!({
                    "name": a.name, "tool": a.tool, "env": a.env, "runtime": a.runtime,
                    "url": a.url, "pid": a.pid, "started_at": a.started_at,
                })
            })
            .collect();
        p.json(&v)?;
    } else if agents.is_empty() {
        p.message("no agent server is running; start one with `warren agent serve ENVIRONMENT`");
    } else {
        let rows: Vec<Vec<String>> = agents
            .into_iter()
            .map(|a| {
                let rt = a.env.map(|e| format!("env {e}")).unwrap_or(a.runtime);
                vec![
                    p.paint(Stream::Out, Style::Cyan, &a.name),
                    a.tool,
                    rt,
                    a.url,
                ]
            })
            .collect();
        p.out(&p.table(Stream::Out, &["NAME", "TOOL", "RUNTIME", "URL"], &rows));
    }
    Ok(ExitCode::SUCCESS)
}

fn serve(ctx: &Ctx, a: ServeArgs) -> anyhow::Result<ExitCode> {
    let p = printer();
    if a.env_flag.is_some() {
        p.warning("`--env NAME` is now `warren agent serve NAME`; `--env` will go away");
    }
    let env = a.environment.or(a.env_flag);
    match a.runtime.as_deref() {
        None if env.is_none() => return Err(AgentError::NoRuntime.into()),
        None | Some("host") => {}
        Some(other) => return Err(AgentError::BadRuntime(other.to_string()).into()),
    }
    let settings = ctx.settings()?;
    // The environment must exist and run before the server says it serves
    // it: otherwise every task would fail the same way.
    if let Some(name) = &env {
        let warren = ctx.warren()?;
        warren.exec_spec(name, Vec::new())?;
    }
    let name = a
        .name
        .clone()
        .or_else(|| env.clone())
        .unwrap_or_else(|| "host".into());
    let mut cfg = ServerConfig::new(settings.root.clone(), &name, &a.tool);
    if a.tool != "custom" {
        cfg.tool_bin = Some(settings.tool_bin(&a.tool));
    }
    cfg.warren_bin = settings.warren_exe();
    cfg.home = ctx.host.home();
    cfg.template = a.command;
    cfg.env = env.clone();
    // A host agent works where it was started, like the tool itself would.
    cfg.workdir = match (&env, a.workdir) {
        (None, Some(dir)) => Some(dir),
        (None, None) => Some(std::env::current_dir()?),
        (Some(_), _) => None,
    };
    cfg.port = a.port.unwrap_or(0);
    cfg.skip_permissions = a.skip_permissions.unwrap_or(env.is_some());
    cfg.max_turns = a.max_turns;
    cfg.append_system_prompt = a.append_system_prompt;
    cfg.default_timeout = Duration::from_secs(a.timeout.max(1));
    cfg.kill_grace = Duration::from_secs(a.kill_grace);
    cfg.retries = a.retries;
    cfg.retry_base = Duration::from_millis(a.retry_base_ms);
    ctx.init_server_log()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(AgentError::Runtime)?;
    let token_path = server::security::token_path(&settings.root);
    rt.block_on(async move {
        let handle = server::start(cfg).await?;
        p.out(&format!("{}\n", handle.url()));
        p.message(&format!(
            "warren agent {name}: listening on {} (token in `{}`)",
            handle.url(),
            token_path.display()
        ));
        let shared = handle.shared.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                return;
            };
            let mut first = true;
            loop {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                // First signal drains; a second one cancels the running task.
                shared.request_shutdown(None, !first);
                first = false;
            }
        });
        let failure = handle.wait().await;
        match failure {
            Some(e) => Err(anyhow::Error::new(e)),
            None => Ok(()),
        }
    })?;
    Ok(ExitCode::SUCCESS)
}
