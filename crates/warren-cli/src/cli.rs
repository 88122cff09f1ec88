//! The command line as clap types; no behaviour here (completion candidates
//! excepted: they only read names).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::ArgValueCandidates;

use crate::complete;

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
    /// Show debug output (tracing) on stderr; `WARREN_LOG` sets the filter.
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,
    /// Print only data and errors: no progress, no messages (`ls`: names only).
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// When to use colours (`NO_COLOR` turns `auto` off).
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    pub color: ColorChoice,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set.
    Auto,
    Always,
    Never,
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
    Stop(StopArgs),
    /// Start stopped environments (a `gone` one is created again from its stored settings).
    Start(StartArgs),
    /// Create and start an environment of a configured type (its sessions start with it).
    New(NewArgs),
    /// Run an entry of `commands:` in the current environment (its worktree, or `WARREN_NAME`).
    Cmd(CmdArgs),
    /// Stop and start an environment.
    Restart(NameArg),
    /// Remove environments: container, routes, worktree and state (the branch stays).
    Rm(RmArgs),
    /// Show an environment's log: lifecycle commands, state changes, container output.
    Logs(LogsArgs),
    /// Check which runtimes, tools and credentials are usable here, and why not.
    Doctor(DoctorArgs),
    /// An environment's network: `warren net log NAME [-f] [--json]`.
    Net(NetArgs),
    /// Attach your terminal to a session of an environment (detach with C-b d; it keeps running).
    Attach(SessionArgs),
    /// Print a session's output (its terminal's history).
    Output(OutputArgs),
    /// Type TEXT into a session, then Enter (e.g. to answer an agent's question).
    Send(SendArgs),
    /// Block until a session reaches a state (`waiting`, `idle`, `exited`).
    Wait(WaitArgs),
    /// Why each session of an environment is in its state: the evidence.
    Explain(ExplainArgs),
    /// Keep session states, events and notifications current (warren starts one in
    /// its tmux server with the first session).
    Watch(WatchArgs),
    /// Validate configuration files; print every error with file:line:col.
    Validate(ValidateArgs),
    /// The hostname proxy: `warren proxy [serve|status|stop]`.
    Proxy(ProxyArgs),
    /// The task API server for one agent: `warren agent serve`, `warren agent ls`.
    Agent(AgentArgs),
    /// Hand an agent a prompt, stream its progress, print the result;
    /// `warren task ls` / `warren task show ID`: the task history.
    Task(TaskArgs),
    /// What an environment changed since it was created: commits, uncommitted and
    /// untracked files, as `git diff` prints them.
    Diff(DiffArgs),
    /// Land environments on a branch: commit their work, rebase (or merge) onto the
    /// branch inside each, optionally test, then move the branch; several names are
    /// a queue, landed in order.
    Land(LandArgs),
    /// Which environments touch the same files, and which would conflict (with
    /// each other, or with the branch they land on) if landed: files and hunks.
    #[command(
        after_help = "Exit status: 0 when nothing would conflict, 1 when something would \
        (or on an error)."
    )]
    Conflicts(ConflictsArgs),
    /// Put an environment's changes into the main checkout, uncommitted.
    Apply(NameArg),
    /// Push an environment's branch to the project's remote.
    Push(PushArgs),
    /// Record an environment's whole tree (uncommitted included) as a checkpoint,
    /// without touching its branch or index.
    Checkpoint(CheckpointArgs),
    /// List an environment's checkpoints.
    Checkpoints(CheckpointsArgs),
    /// Put an environment's files back as they were at a checkpoint (the tree as it
    /// is now is recorded first).
    Rewind(RewindArgs),
    /// Start a new environment from a checkpoint of another (to try a second
    /// approach without losing the first).
    Fork(ForkArgs),
    /// The event stream: environments created, started, stopped, removed;
    /// sessions started, exited, changing state.
    Events(EventsArgs),
    /// Print the shell code that completes warren's commands, environment names, types and tools.
    #[command(
        after_help = "Load it in your shell's startup file, e.g. for bash:\n  \
        echo 'source <(warren completions bash)' >> ~/.bashrc"
    )]
    Completions(CompletionsArgs),
    /// Readies a project's next environment repository and empties the
    /// trash (started in the background by warren itself).
    #[command(name = "__fill-pool", hide = true)]
    FillPool {
        /// The project's main checkout.
        path: PathBuf,
    },
    /// Hears of every change in the environments' trees, for `conflicts` and
    /// `ls` (started in the background by `warren conflicts`).
    #[command(name = "__watch-trees", hide = true)]
    WatchTrees {
        /// Trees to watch at once.
        trees: Vec<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The project (a directory in a git repository); default: the current directory.
    pub path: Option<PathBuf>,
    /// Environment name (default: a generated `adjective-animal`).
    #[arg(long, short = 'n')]
    pub name: Option<String>,
    /// Environment type from `.warren.yaml` `types:`.
    #[arg(long = "type", short = 't', add = ArgValueCandidates::new(complete::types))]
    pub env_type: Option<String>,
    /// AI tool to mount config for and launch (claude, codex, gemini, aider, opencode).
    #[arg(long, add = ArgValueCandidates::new(complete::tools))]
    pub tool: Option<String>,
    /// Isolation: docker, sandbox or host (default: `runtime` from config, else auto).
    #[arg(long, add = ArgValueCandidates::new(complete::runtimes))]
    pub runtime: Option<String>,
    /// Network: isolated (default: only loopback, out through warren's egress proxy to
    /// allowed domains), open (any public domain, through the proxy), none, or host.
    #[arg(long, value_name = "MODE")]
    pub network: Option<String>,
    /// Expose a service: `-p web=3000`.
    #[arg(long = "publish", short = 'p', value_name = "SVC=PORT")]
    pub publish: Vec<String>,
    /// Set an environment variable: `-e KEY=VALUE`, or `-e KEY` to pass this process's value.
    #[arg(long = "env", short = 'e', value_name = "KEY[=VALUE]")]
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
pub struct SessionArgs {
    /// The environment.
    #[arg(add = ArgValueCandidates::new(complete::environments))]
    pub name: String,
    /// The session (`serve`, a role's name); needed when there are several.
    #[arg(long, short = 's')]
    pub session: Option<String>,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    #[command(flatten)]
    pub target: SessionArgs,
    /// Only the last N lines.
    #[arg(short = 'n', long = "lines", value_name = "N")]
    pub lines: Option<usize>,
    /// Keep printing what the session prints.
    #[arg(long, short = 'f')]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub target: SessionArgs,
    /// What to type (Enter is pressed after it).
    pub text: String,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    #[command(flatten)]
    pub target: SessionArgs,
    /// The state to wait for: waiting, idle, exited (or working, starting).
    #[arg(long, value_name = "STATE")]
    pub until: String,
    /// Give up after this long (`30s`, `5m`, `1h`; default: never).
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Seconds between rounds (a round that finds nothing new costs almost nothing).
    #[arg(long, default_value_t = 0.25)]
    pub interval: f64,
    /// One round, then exit.
    #[arg(long)]
    pub once: bool,
    /// Exit once no session of a running environment is left (for 5 s).
    #[arg(long)]
    pub exit_when_idle: bool,
}

#[derive(Debug, Args)]
pub struct CheckpointArgs {
    /// The environment.
    #[arg(add = ArgValueCandidates::new(complete::environments))]
    pub name: String,
    /// What this checkpoint is.
    #[arg(short = 'm', long = "message", default_value = "")]
    pub message: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CheckpointsArgs {
    /// The environment.
    #[arg(add = ArgValueCandidates::new(complete::environments))]
    pub name: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RewindArgs {
    /// The environment.
    #[arg(add = ArgValueCandidates::new(complete::environments))]
    pub name: String,
    /// The checkpoint (its number, from `warren checkpoints NAME`).
    pub checkpoint: u32,
}

#[derive(Debug, Args)]
pub struct ForkArgs {
    /// The environment to fork.
    #[arg(add = ArgValueCandidates::new(complete::environments))]
    pub name: String,
    /// The new environment's name.
    pub new: String,
    /// The checkpoint to start from (default: the tree as it is now).
    #[arg(long = "at", value_name = "CHECKPOINT")]
    pub at: Option<u32>,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The environment.
    #[arg(add = ArgValueCandidates::new(complete::environments))]
    pub name: String,
    /// The remote (default: the main checkout's branch's remote, else `origin`).
    #[arg(long)]
    pub remote: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LandArgs {
    /// The environments, landed in this order (each onto the result of the one before).
    #[arg(required = true, add = ArgValueCandidates::new(complete::environments))]
    pub names: Vec<String>,
    /// The branch to land on (default: the main checkout's branch).
    #[arg(long, value_name = "BRANCH")]
    pub into: Option<String>,
    /// Land one commit of the environment's tree (merged with the branch first).
    #[arg(long, conflicts_with_all = ["merge", "rebase"])]
    pub squash: bool,
    /// Merge the branch into the environment's instead of rebasing.
    #[arg(long, conflicts_with = "rebase")]
    pub merge: bool,
    /// Rebase the environment's commits onto the branch (the default).
    #[arg(long)]
    pub rebase: bool,
    /// Message of the commit of uncommitted work, and of the squash commit.
    #[arg(long, short = 'm', value_name = "MSG")]
    pub message: Option<String>,
    /// Run `commands.test` inside first; a failure stops the landing
    /// (`land: {test: true}` in `.warren.yaml` makes it the default).
    #[arg(long)]
    pub test: bool,
    /// Do not run `commands.test`, whatever `.warren.yaml` says.
    #[arg(long, conflicts_with = "test")]
    pub no_test: bool,
    /// Finish a landing that stopped on a conflict, once it is resolved in the environment.
    #[arg(long = "continue")]
    pub resume: bool,
    /// Print what landed as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The environment.
    #[arg(add = ArgValueCandidates::new(complete::environments))]
    pub name: String,
    /// Per-file counts of changed lines (`git diff --stat`).
    #[arg(long, conflicts_with_all = ["name_only", "json"])]
    pub stat: bool,
    /// Only the names of changed files.
    #[arg(long, conflicts_with = "json")]
    pub name_only: bool,
    /// The changed files as JSON (status, counts, renames, binaries).
    #[arg(long)]
    pub json: bool,
    /// Only these paths.
    #[arg(last = true)]
    pub paths: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ConflictsArgs {
    /// The environments to compare (default: every environment of the current project).
    #[arg(add = ArgValueCandidates::new(complete::environments))]
    pub names: Vec<String>,
    /// The branch they land on (default: the main checkout's current branch).
    #[arg(long, value_name = "BRANCH")]
    pub into: Option<String>,
    /// The report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The environment.
    #[arg(add = ArgValueCandidates::new(complete::environments))]
    pub name: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct NetArgs {
    #[command(subcommand)]
    pub command: NetCommand,
}

#[derive(Debug, Subcommand)]
pub enum NetCommand {
    /// The environment's egress log: time, method, host, path (intercepted hosts),
    /// status, bytes, allowed or denied.
    Log(NetLogArgs),
}

#[derive(Debug, Args)]
pub struct NetLogArgs {
    /// The environment.
    #[arg(add = ArgValueCandidates::new(complete::environments))]
    pub name: String,
    /// Keep printing new entries.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Only environments of this project.
    #[arg(long)]
    pub project: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Environment name.
    #[arg(add = ArgValueCandidates::new(complete::environments))]
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
    /// Read more variables for the command from inherited descriptor FD:
    /// `KEY=VALUE` entries each ended by NUL. For programs that start `warren
    /// exec` (the agent server): the values stay out of argv and out of this
    /// process's own environment, where they would steer it.
    #[arg(long, value_name = "FD", hide = true)]
    pub env_fd: Option<i32>,
    /// Do not run `postAttachCommand` before an interactive command: for the
    /// windows of warren's own sessions, which start rather than attach
    /// (`warren attach` runs it when someone attaches to them).
    #[arg(long, hide = true)]
    pub no_post_attach: bool,
    /// Command and arguments.
    #[arg(last = true, required = true)]
    pub cmd: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NamesArgs {
    /// Environment names.
    #[arg(required = true, add = ArgValueCandidates::new(complete::environments))]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NameArg {
    /// Environment name.
    #[arg(add = ArgValueCandidates::new(complete::environments))]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Environment names.
    #[arg(required_unless_present = "all", add = ArgValueCandidates::new(complete::environments))]
    pub names: Vec<String>,
    /// Every running environment of this warren root.
    #[arg(long, conflicts_with = "names")]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Environments to start, or issue numbers (environments of type `issue`, created
    /// when missing). None: the project's fleet (its `manager` and every stopped
    /// environment of the project).
    #[arg(add = ArgValueCandidates::new(complete::environments))]
    pub names: Vec<String>,
    /// How many issues start at once (`warren start N M …`); default: two per core.
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: Option<u16>,
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The type (from `.warren.yaml` `types:`).
    #[arg(add = ArgValueCandidates::new(complete::types))]
    pub env_type: String,
    /// Its name (default: a generated `adjective-animal`).
    pub name: Option<String>,
    /// Isolation: docker, sandbox or host.
    #[arg(long)]
    pub runtime: Option<String>,
    /// Network: isolated (default), open, none or host.
    #[arg(long, value_name = "MODE")]
    pub network: Option<String>,
}

#[derive(Debug, Args)]
pub struct CmdArgs {
    /// The entry of `commands:` (`test`, `serve`, …).
    pub command: String,
    /// Extra arguments, appended to the command.
    #[arg(last = true)]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Environment names.
    #[arg(required_unless_present = "all", add = ArgValueCandidates::new(complete::environments))]
    pub names: Vec<String>,
    /// Every environment (of `--project` when given).
    #[arg(long, conflicts_with = "names")]
    pub all: bool,
    /// With `--all`: only this project's environments.
    #[arg(long, requires = "all")]
    pub project: Option<String>,
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
    #[arg(add = ArgValueCandidates::new(complete::environments))]
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
    /// Shell to complete in.
    pub shell: clap_complete::Shell,
}

/// `warren proxy [serve|status|stop]`.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    #[command(subcommand)]
    pub command: Option<ProxyCommand>,
}

#[derive(Debug, Subcommand)]
pub enum ProxyCommand {
    /// Run the proxy in the foreground (environments start it in the background by themselves).
    Serve,
    /// Show whether the proxy runs, where, and its routes (the default).
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop the running proxy.
    Stop {
        /// Seconds to wait for it to exit.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
    },
}

/// `warren agent …`.
#[derive(Debug, Args)]
pub struct AgentArgs {
    #[command(subcommand)]
    pub command: AgentCommand,
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Serve the task API for one agent (prints its URL on stdout).
    #[command(
        long_about = "Serve the task API for one agent (prints its URL on stdout).\n\n\
        Every request but `GET /status` needs the API token, sent as \
        `Authorization: Bearer TOKEN`. It is generated on the first start into \
        `credentials/agent-api.token` under the warren root (`~/.warren`, or `WARREN_ROOT`), \
        mode 0600: `curl -H \"Authorization: Bearer $(cat ~/.warren/credentials/agent-api.token)\" …`."
    )]
    Serve(Box<ServeArgs>),
    /// List the running agent servers.
    Ls {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `warren agent serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The environment the tool runs in (through `warren exec`).
    #[arg(
        value_name = "ENVIRONMENT",
        conflicts_with = "runtime",
        add = ArgValueCandidates::new(complete::environments)
    )]
    pub environment: Option<String>,
    /// Older spelling of ENVIRONMENT.
    #[arg(long = "env", hide = true, conflicts_with_all = ["runtime", "environment"])]
    pub env_flag: Option<String>,
    /// `host`: run the tool on the host, in the current directory (no isolation).
    #[arg(long)]
    pub runtime: Option<String>,
    /// The AI tool (claude, codex, gemini, aider, opencode, custom).
    #[arg(long, default_value = "claude", add = ArgValueCandidates::new(complete::tools))]
    pub tool: String,
    /// Command template for `--tool custom`, e.g. `'mytool --print {{ prompt }}'`;
    /// `{{ prompt_file }}` is the path of a file holding the prompt (needed
    /// for prompts over 100 KiB, which cannot be one argument).
    #[arg(long)]
    pub command: Option<String>,
    /// Port to listen on (127.0.0.1); a free one when left out.
    #[arg(long)]
    pub port: Option<u16>,
    /// Agent name (default: the environment's name, or `host`).
    #[arg(long)]
    pub name: Option<String>,
    /// Host runtime: the directory the tool works in (default: the current directory).
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

/// `warren task "PROMPT" …`, `warren task ls`, `warren task show ID`.
#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "A prompt that is exactly `ls` or `show` goes after `--`: warren task -- ls"
)]
pub struct TaskArgs {
    #[command(subcommand)]
    pub command: Option<TaskCommand>,
    /// The prompt.
    #[arg(required = true)]
    pub prompt: Option<String>,
    /// The agent: its name, its environment's name or its URL (default: the only one running).
    #[arg(long, add = ArgValueCandidates::new(complete::agents))]
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
}

/// `warren task ls|show`: the history, read from the store (the agent may
/// be stopped).
#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// An agent's tasks, newest first: ID, AGENT, STATE, PROMPT, COST, TOKENS, AGE.
    Ls(TaskLsArgs),
    /// One task: state, prompt, output, error, cost, tokens, session, timings.
    Show(TaskShowArgs),
}

#[derive(Debug, Args)]
pub struct TaskLsArgs {
    /// Only this agent's tasks (its name, as in `warren agent ls`).
    #[arg(long, add = ArgValueCandidates::new(complete::agents))]
    pub agent: Option<String>,
    /// How many tasks, newest first.
    #[arg(long, short = 'n', default_value_t = 20)]
    pub limit: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TaskShowArgs {
    /// The task id (as `warren task ls` prints it).
    pub id: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `warren events [-f] [--json] [--env NAME]`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Keep printing new events (and ring the bell when `notify.bell` is on).
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// Only this environment's events.
    #[arg(long = "env", value_name = "NAME", add = ArgValueCandidates::new(complete::environments))]
    pub env: Option<String>,
    /// How many past events to print first.
    #[arg(long, short = 'n', default_value_t = 50)]
    pub tail: i64,
    /// With `-f`: also deliver notifications (`notify.command`, `notify.webhook`),
    /// each event once across every notifying process.
    #[arg(long, requires = "follow")]
    pub notify: bool,
}
