//! Errors of the runtimes.

/// What went wrong talking to a runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot reach the container engine at `{host}`")]
    Unreachable {
        host: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("image `{image}` was not found locally and could not be pulled")]
    Pull {
        image: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("building image `{tag}` failed: {message}")]
    Build { tag: String, message: String },
    #[error("cannot read the build context `{path}`")]
    BuildContext {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("a container named `{0}` already exists on the engine")]
    NameConflict(String),
    #[error("no such container `{0}`")]
    NotFound(String),
    #[error("{action} failed")]
    Engine {
        action: String,
        #[source]
        source: bollard::errors::Error,
    },
    /// The environment runs, but the command could not be started: not
    /// found (code 127) or not executable (126), as a shell says it.
    #[error("{}", cannot_exec_text(.program, .reason, *.code))]
    CannotExec {
        program: String,
        reason: String,
        code: i32,
    },
    #[error(transparent)]
    Sandbox(warren_sandbox::SandboxError),
    #[error("terminal error")]
    Terminal(#[source] std::io::Error),
    #[error("{0}")]
    Other(String),
}

fn cannot_exec_text(program: &str, reason: &str, code: i32) -> String {
    if code == 127 {
        format!("command not found: {program}")
    } else {
        format!("cannot execute {program}: {reason}")
    }
}

impl RuntimeError {
    /// The error for a command that could not be started (sandbox or engine).
    pub fn cannot_exec(program: &str, reason: &str, code: i32) -> RuntimeError {
        RuntimeError::CannotExec {
            program: program.to_string(),
            reason: reason.to_string(),
            code,
        }
    }

    /// Reads the engine's text for a command it could not start (`exec:
    /// "make": executable file not found in $PATH`) as the exit code a shell
    /// would give: 127 not found, 126 not executable.
    pub fn engine_exec_failure(text: &str) -> Option<i32> {
        if !text.contains("OCI runtime") || !text.contains("exec") {
            return None;
        }
        if text.contains("executable file not found") || text.contains("no such file or directory")
        {
            Some(127)
        } else if text.contains("permission denied") || text.contains("is a directory") {
            Some(126)
        } else {
            None
        }
    }
}

impl warren_core::Hint for RuntimeError {
    /// A suggestion the CLI prints under the error.
    fn hint(&self) -> Option<String> {
        match self {
            RuntimeError::Unreachable { .. } => Some(
                "start the engine (`dockerd`, or `systemctl start docker`), set `DOCKER_HOST` for Podman, or use `--runtime sandbox`"
                    .into(),
            ),
            RuntimeError::Pull { image, .. } => Some(format!(
                "check the image name, or build it first (`docker build -t {image} .`) or use `build` in devcontainer.json"
            )),
            RuntimeError::NameConflict(name) => Some(format!(
                "remove the stale container with `docker rm -f {name}` or pick another `--name`"
            )),
            RuntimeError::Sandbox(e) => e.hint(),
            _ => None,
        }
    }
}
