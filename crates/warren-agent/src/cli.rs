//! `warren agent …` and `warren task …`: parse, call the library, print.

use std::path::PathBuf;
use std::process::ExitCode;

/// `warren agent serve …`.
#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    #[command(subcommand)]
    pub command: AgentCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum AgentCommand {
    /// Serve the task API for one agent.
    Serve {
        /// Environment the tool runs in.
        #[arg(long, conflicts_with = "runtime")]
        env: Option<String>,
        /// `host`: run the tool on the host in a per-session directory.
        #[arg(long)]
        runtime: Option<String>,
        /// The AI tool (claude, codex, gemini, aider, opencode, custom).
        #[arg(long)]
        tool: Option<String>,
        /// Port to listen on (127.0.0.1).
        #[arg(long)]
        port: Option<u16>,
    },
}

/// `warren task "PROMPT" …`.
#[derive(Debug, clap::Args)]
pub struct TaskArgs {
    /// The prompt.
    pub prompt: String,
}

/// What the CLI hands to agent commands.
#[derive(Debug, Clone)]
pub struct Context {
    /// The warren root (`~/.warren` or `WARREN_ROOT`).
    pub root: PathBuf,
}

/// Runs `warren agent …`.
pub fn run_agent(_args: AgentArgs, _ctx: &Context) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`warren agent` is not built yet")
}

/// Runs `warren task …`.
pub fn run_task(_args: TaskArgs, _ctx: &Context) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`warren task` is not built yet")
}
