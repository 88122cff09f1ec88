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
    #[error(transparent)]
    Sandbox(warren_sandbox::SandboxError),
    #[error("terminal error")]
    Terminal(#[source] std::io::Error),
    #[error("{0}")]
    Other(String),
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
