//! clap definitions of the command line; no behaviour here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Run AI coding agents side by side, each in its own isolated environment.
#[derive(Debug, Parser)]
#[command(
    name = "warren",
    version,
    about,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Show debug output (tracing) on stderr.
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and start an environment on a new worktree, then run CMD or open a shell.
    Run(RunArgs),
    /// List environments.
    #[command(visible_alias = "ps")]
    Ls(LsArgs),
    /// Run a command inside an environment.
    Exec(ExecArgs),
    /// Stop environments (their worktrees and state stay).
    Stop(NamesArgs),
    /// Start stopped environments.
    Start(NamesArgs),
    /// Stop and start an environment.
    Restart(NameArg),
    /// Remove environments: container, routes, worktree and state (the branch stays).
    Rm(RmArgs),
    /// Show an environment's log: lifecycle commands, state changes, container output.
    Logs(LogsArgs),
    /// Check which runtimes, tools and credentials are usable here, and why not.
    Doctor(DoctorArgs),
    /// Validate configuration files; print every error with file:line:col.
    Validate(ValidateArgs),
    /// The hostname proxy: `warren proxy [serve|status|stop]`.
    Proxy(warren_proxy::cli::ProxyArgs),
    /// The task API server for one agent: `warren agent serve`.
    Agent(warren_agent::cli::AgentArgs),
    /// Hand an agent a prompt, stream its progress, print the result.
    Task(warren_agent::cli::TaskArgs),
    /// Print shell completions.
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The project (a directory in a git repository); default: the current directory.
    pub path: Option<PathBuf>,
    /// Environment name (default: a generated `adjective-animal`).
    #[arg(long, short = 'n')]
    pub name: Option<String>,
    /// Environment type from `.warren.yaml` `types:`.
    #[arg(long = "type", short = 't')]
    pub env_type: Option<String>,
    /// AI tool to mount config for and launch (claude, codex, gemini, aider, opencode).
    #[arg(long)]
    pub tool: Option<String>,
    /// Isolation: docker, sandbox or host (default: `runtime` from config, else auto).
    #[arg(long)]
    pub runtime: Option<String>,
    /// Expose a service: `-p web=3000`.
    #[arg(long = "publish", short = 'p', value_name = "SVC=PORT")]
    pub publish: Vec<String>,
    /// Set an environment variable: `-e KEY=VALUE`.
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// devcontainer.json to use (for `.devcontainer/<name>/devcontainer.json` layouts).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Remove the environment when CMD (or the shell) exits.
    #[arg(long)]
    pub rm: bool,
    /// Print the result as JSON (with CMD: after it ran).
    #[arg(long)]
    pub json: bool,
    /// Command to run inside; its exit code becomes warren's.
    #[arg(last = true)]
    pub cmd: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Print only names.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Environment name.
    pub name: String,
    /// Keep stdin attached (automatic when stdin is a terminal).
    #[arg(long, short = 'i')]
    pub interactive: bool,
    /// Allocate a TTY (automatic when stdin and stdout are terminals).
    #[arg(long, short = 't', conflicts_with = "no_tty")]
    pub tty: bool,
    /// Never allocate a TTY.
    #[arg(long, short = 'T')]
    pub no_tty: bool,
    /// Set a variable for the command: `-e KEY=VALUE`, or `-e KEY` to pass
    /// this process's value (keeps secrets out of the command line).
    #[arg(long = "env", short = 'e', value_name = "KEY[=VALUE]")]
    pub env: Vec<String>,
    /// Command and arguments.
    #[arg(last = true, required = true)]
    pub cmd: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NamesArgs {
    /// Environment names.
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NameArg {
    /// Environment name.
    pub name: String,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Environment names.
    #[arg(required = true)]
    pub names: Vec<String>,
    /// Remove even if the worktree has uncommitted changes (they are lost).
    #[arg(long, short = 'f')]
    pub force: bool,
    /// Also delete the `warren/NAME` branch.
    #[arg(long)]
    pub delete_branch: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Environment name.
    pub name: String,
    /// Keep printing new output.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Only the last N lines of each log.
    #[arg(long)]
    pub tail: Option<usize>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Files to validate (default: the project's `.warren.yaml`, devcontainer.json and the global config).
    pub files: Vec<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell to generate completions for.
    pub shell: clap_complete::Shell,
}
