//! `warren agent …` and `warren task …`: parse, call the library, print.
//! Data goes to stdout (the URL of a started server, a task's result),
//! progress and messages to stderr.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;

use crate::director::{self, Client, Submission};
use crate::error::AgentError;
use crate::server::{self, ServerConfig};

/// `warren agent serve …`.
#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    #[command(subcommand)]
    pub command: AgentCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum AgentCommand {
    /// Serve the task API for one agent (prints its URL on stdout).
    Serve(Box<ServeArgs>),
    /// List the running agent servers.
    Ls {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `warren agent serve` options.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Environment the tool runs in (through `warren exec`).
    #[arg(long, conflicts_with = "runtime")]
    pub env: Option<String>,
    /// `host`: run the tool on the host in a per-session directory (no isolation).
    #[arg(long)]
    pub runtime: Option<String>,
    /// The AI tool (claude, codex, gemini, aider, opencode, custom).
    #[arg(long, default_value = "claude")]
    pub tool: String,
    /// Command template for `--tool custom`, e.g. `'mytool --print {{ prompt }}'`.
    #[arg(long)]
    pub command: Option<String>,
    /// Port to listen on (127.0.0.1); a free one when left out.
    #[arg(long)]
    pub port: Option<u16>,
    /// Agent name (default: the environment's name, or `host`).
    #[arg(long)]
    pub name: Option<String>,
    /// Host runtime: run every session in this directory instead of one per session.
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// Skip the tool's permission prompts (default: yes in an environment, no on the host).
    #[arg(long)]
    pub skip_permissions: Option<bool>,
    /// Maximum agentic turns per task (tools that support it).
    #[arg(long)]
    pub max_turns: Option<u32>,
    /// Instructions appended to the tool's system prompt.
    #[arg(long)]
    pub append_system_prompt: Option<String>,
    /// Timeout of a task that sets none, in seconds.
    #[arg(long, default_value_t = 1800)]
    pub timeout: u64,
    /// Seconds between SIGTERM and SIGKILL when a task is cancelled or times out.
    #[arg(long, default_value_t = 10)]
    pub kill_grace: u64,
    /// Retries of a transient tool failure (exponential backoff).
    #[arg(long, default_value_t = 2)]
    pub retries: u32,
    /// First backoff in milliseconds (doubles per retry).
    #[arg(long, default_value_t = 2000)]
    pub retry_base_ms: u64,
}

/// `warren task "PROMPT" …`.
#[derive(Debug, clap::Args)]
pub struct TaskArgs {
    /// The prompt.
    pub prompt: String,
    /// The agent: its name, its environment's name or its URL (default: the only one running).
    #[arg(long)]
    pub agent: Option<String>,
    /// Continue this tool session.
    #[arg(long)]
    pub session: Option<String>,
    /// Model for this task.
    #[arg(long)]
    pub model: Option<String>,
    /// Timeout in seconds.
    #[arg(long)]
    pub timeout: Option<u64>,
    /// Print the finished task as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Submit and print the task id without waiting.
    #[arg(long, conflicts_with = "json")]
    pub detach: bool,
    /// Print no progress.
    #[arg(long, short)]
    pub quiet: bool,
}

/// What the CLI hands to agent commands.
#[derive(Debug, Clone)]
pub struct Context {
    /// The warren root (`~/.warren` or `WARREN_ROOT`).
    pub root: PathBuf,
}

/// Runs `warren agent …`.
pub fn run_agent(args: AgentArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    match args.command {
        AgentCommand::Serve(a) => serve(*a, ctx),
        AgentCommand::Ls { json } => {
            let agents = director::live_agents(&ctx.root)?;
            if json {
                let v: Vec<Value> = agents
                    .iter()
                    .map(|a| {
                        serde_json::json!({
                            "name": a.name, "tool": a.tool, "env": a.env, "runtime": a.runtime,
                            "url": a.url, "pid": a.pid, "started_at": a.started_at,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else if agents.is_empty() {
                eprintln!("no agent server is running");
            } else {
                println!("{:<24} {:<9} {:<16} URL", "NAME", "TOOL", "RUNTIME");
                for a in agents {
                    let rt = a.env.map(|e| format!("env {e}")).unwrap_or(a.runtime);
                    println!("{:<24} {:<9} {:<16} {}", a.name, a.tool, rt, a.url);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn serve(a: ServeArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    match a.runtime.as_deref() {
        None if a.env.is_none() => return Err(AgentError::NoRuntime.into()),
        None | Some("host") => {}
        Some(other) => return Err(AgentError::BadRuntime(other.to_string()).into()),
    }
    let name = a
        .name
        .clone()
        .or_else(|| a.env.clone())
        .unwrap_or_else(|| "host".into());
    let mut cfg = ServerConfig::new(ctx.root.clone(), &name, &a.tool);
    cfg.template = a.command;
    cfg.env = a.env.clone();
    cfg.workdir = a.workdir;
    cfg.port = a.port.unwrap_or(0);
    cfg.skip_permissions = a.skip_permissions.unwrap_or(a.env.is_some());
    cfg.max_turns = a.max_turns;
    cfg.append_system_prompt = a.append_system_prompt;
    cfg.default_timeout = Duration::from_secs(a.timeout.max(1));
    cfg.kill_grace = Duration::from_secs(a.kill_grace);
    cfg.retries = a.retries;
    cfg.retry_base = Duration::from_millis(a.retry_base_ms);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(AgentError::Runtime)?;
    rt.block_on(async move {
        let handle = server::start(cfg).await?;
        println!("{}", handle.url());
        let _ = std::io::stdout().flush();
        eprintln!(
            "warren agent {name}: listening on {} (token in `{}`)",
            handle.url(),
            server::security::token_path(&ctx.root).display()
        );
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
        handle.wait().await;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `warren task …`.
/// Ctrl-C (or SIGTERM) while following a task cancels it on the agent (the
/// wait then ends with its partial output); a second one leaves at once.
fn cancel_on_interrupt(client: Client, task_id: String) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return;
            };
            tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
            eprintln!("cancelling task {task_id} (Ctrl-C again to leave it running)");
            let c = client.clone();
            let id = task_id.clone();
            let _ = tokio::task::spawn_blocking(move || {
                c.post(&format!("/task/{id}/cancel"), &serde_json::json!({}))
            })
            .await;
            tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
            std::process::exit(130);
        });
    });
}

pub fn run_task(args: TaskArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    let target = director::find_agent(&ctx.root, args.agent.as_deref())?;
    let client = Client::new(&ctx.root, &target.url)?;
    let sub = Submission {
        prompt: args.prompt.clone(),
        session_id: args.session.clone(),
        model: args.model.clone(),
        timeout_seconds: args.timeout,
    };
    let (task_id, _) = director::submit(&client, &sub)?;
    let who = target.name.clone().unwrap_or_else(|| target.url.clone());
    if args.detach {
        println!("{task_id}");
        eprintln!("task {task_id} started on {who}");
        return Ok(ExitCode::SUCCESS);
    }
    if !args.quiet {
        eprintln!("task {task_id} on {who}");
    }
    cancel_on_interrupt(client.clone(), task_id.clone());
    let quiet = args.quiet;
    let task = director::wait(&client, &task_id, |name, data| {
        if quiet || name != "progress" {
            return;
        }
        let kind = data["kind"].as_str().unwrap_or("");
        let text = data["text"].as_str().unwrap_or("");
        match kind {
            "text" => eprintln!("{text}"),
            "tool" => eprintln!("  → {text}"),
            "error" => eprintln!("  ! {text}"),
            _ => eprintln!("  · {text}"),
        }
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&task)?);
    } else if !task.output.is_empty() {
        println!("{}", task.output);
    }
    if let Some(e) = &task.error {
        eprintln!(
            "error: task {} {}: {} ({})",
            task.task_id, task.state, e.message, e.kind
        );
        if let Some(r) = e.details.get("resets").and_then(Value::as_str) {
            eprintln!("hint: the limit resets {r}");
        }
    }
    if let Some(s) = &task.session_id {
        let agent = target.name.as_deref().unwrap_or(&target.url);
        eprintln!("session: {s}");
        eprintln!("continue with: warren task --agent {agent} --session {s} \"…\"");
    }
    Ok(if task.state == warren_core::TaskState::Completed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
