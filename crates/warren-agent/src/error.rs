//! The library's error type: what failed, with which input, and (through
//! [`AgentError::hint`]) what the user can do about it.

use std::path::PathBuf;

/// Errors from adapters, the agent server and the director.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("unknown tool `{name}`")]
    UnknownTool { name: String },
    #[error("`--tool custom` needs a command template")]
    MissingTemplate,
    #[error("invalid command template `{template}`: {reason}")]
    BadTemplate { template: String, reason: String },
    #[error("`warren agent serve` needs an environment to run the tool in, or `--runtime host`")]
    NoRuntime,
    #[error("unsupported runtime `{0}` for an agent server")]
    BadRuntime(String),
    #[error("an agent named `{name}` is already running (pid {pid}, {url})")]
    NameTaken { name: String, pid: u32, url: String },
    #[error("cannot read the state database")]
    Store(#[from] warren_store::StoreError),
    #[error("cannot use the API token file `{}`", .path.display())]
    Token {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot generate an API token")]
    Random(String),
    #[error("cannot create `{}`", .path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen on 127.0.0.1 port {port}")]
    Bind {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error("the agent server failed")]
    Serve(#[source] std::io::Error),
    #[error("the agent's tool cannot run: {reason}")]
    ToolUnavailable {
        tool: String,
        env: Option<String>,
        reason: String,
    },
    #[error("{what} is {len} bytes: too long for one command-line argument (at most {limit})")]
    ArgumentTooLong {
        what: String,
        len: usize,
        limit: usize,
        hint: String,
    },
    #[error("no agent server is running")]
    NoAgent,
    #[error("{} agent servers are running ({}); say which one", .names.len(), .names.join(", "))]
    AmbiguousAgent { names: Vec<String> },
    #[error("no running agent named `{name}`")]
    UnknownAgent { name: String, known: Vec<String> },
    #[error("cannot reach the agent at {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("the agent answered {status} {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
        details: serde_json::Value,
    },
    #[error("unexpected answer from the agent at {url}: {message}")]
    BadResponse { url: String, message: String },
}

impl warren_core::Hint for AgentError {
    /// What the user can do next, where there is something to say.
    fn hint(&self) -> Option<String> {
        match self {
            AgentError::UnknownTool { .. } => Some(format!(
                "use one of: {}",
                crate::adapters::TOOL_NAMES.join(", ")
            )),
            AgentError::MissingTemplate => Some(
                "pass `--command 'mytool --print {{ prompt }}'` with `--tool custom`".into(),
            ),
            AgentError::BadTemplate { .. } => {
                Some("quote words as in a shell and include `{{ prompt }}`".into())
            }
            AgentError::NoRuntime => Some(
                "run the tool in an environment (`warren agent serve NAME`), or on the host without isolation (`warren agent serve --runtime host`)".into(),
            ),
            AgentError::BadRuntime(_) => Some(
                "`--runtime host` is the only runtime chosen here; name the environment instead (`warren agent serve NAME`) for docker and sandbox".into(),
            ),
            AgentError::NameTaken { name, .. } => Some(format!(
                "stop it first, or pick another name: `warren agent serve --name {name}-2 …`"
            )),
            AgentError::Bind { .. } => {
                Some("pick a free port with `--port`, or leave it out to get one".into())
            }
            AgentError::ToolUnavailable { tool, env: Some(env), .. } => Some(format!(
                "install `{tool}` in the image of `{env}` (or point `tools.{tool}.bin` in config.yaml at it), or serve a tool that is there with `--tool`"
            )),
            AgentError::ToolUnavailable { tool, env: None, .. } => Some(format!(
                "install `{tool}` on this machine, or point `WARREN_TOOL_{}_BIN` (or `tools.{tool}.bin` in config.yaml) at it",
                warren_core::vars::env_suffix(tool)
            )),
            AgentError::Api { code, details, .. } if code == "agent_starting" => {
                Some(match details.get("waiting_for").and_then(|v| v.as_str()) {
                    Some(why) => format!(
                        "the agent's tool has not answered yet ({why}); see the output of its `warren agent serve`"
                    ),
                    None => "the agent's tool has not answered yet; try again in a moment, or see the output of its `warren agent serve`".into(),
                })
            }
            AgentError::ArgumentTooLong { hint, .. } => Some(hint.clone()),
            AgentError::NoAgent => Some(
                "start one: `warren agent serve NAME` (or `--runtime host`)".into(),
            ),
            AgentError::AmbiguousAgent { names } => Some(format!(
                "`warren task --agent {} \"…\"`",
                names.first().map(String::as_str).unwrap_or("NAME")
            )),
            AgentError::UnknownAgent { known, .. } if !known.is_empty() => {
                Some(format!("running agents: {}", known.join(", ")))
            }
            AgentError::UnknownAgent { .. } => Some(
                "start one: `warren agent serve NAME`, or pass its URL with `--agent http://127.0.0.1:PORT`".into(),
            ),
            AgentError::Unreachable { .. } => {
                Some("is the agent server still running? `warren agent serve …`".into())
            }
            AgentError::Api { code, details, .. } if code == "agent_busy" => {
                let current = details
                    .get("current_task")
                    .and_then(|v| v.as_str())
                    .unwrap_or("?");
                Some(format!(
                    "wait for task {current} to finish, or cancel it: `curl -X POST …/task/{current}/cancel`"
                ))
            }
            AgentError::Api { code, .. } if code == "unauthorized" => Some(
                "the token is read from `credentials/agent-api.token` under the warren root (`~/.warren`, or `WARREN_ROOT`)".into(),
            ),
            _ => None,
        }
    }
}
