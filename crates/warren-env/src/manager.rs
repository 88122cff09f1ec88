//! [`Warren`]: the environment service the CLI (and servers) call. It owns a
//! store connection and the command's [`Settings`], knows every runtime
//! (docker connected lazily; the sandbox and host runtimes registered at
//! open) and reports through a [`Reporter`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use warren_config::Settings;
use warren_core::RuntimeKind;
use warren_runtime::Runtime;
use warren_runtime::docker::DockerRuntime;
use warren_runtime::local::LocalRuntime;
use warren_store::{EnvRecord, Store};

use crate::error::EnvError;
use crate::reporter::Reporter;
use crate::spec::EnvSpec;

/// A snapshot of the host process environment, passed in so the library
/// never reads (or tests mutate) the process's own environment.
#[derive(Debug, Clone, Default)]
pub struct HostEnv {
    pub vars: HashMap<String, String>,
}

impl HostEnv {
    /// The current process's environment.
    pub fn current() -> HostEnv {
        HostEnv {
            vars: std::env::vars().collect(),
        }
    }

    /// A variable's value; set-but-empty counts as unset (for settings
    /// such as `HOME` or credentials, where empty means nothing).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.get_even_empty(key).filter(|v| !v.is_empty())
    }

    /// A variable's value, empty if it is set to "": what `${localEnv:…}`
    /// sees (the reference gives "" for a set-but-empty variable, not the
    /// default).
    pub fn get_even_empty(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str)
    }

    pub fn home(&self) -> Option<PathBuf> {
        self.get("HOME").map(PathBuf::from)
    }
}

/// The environment service.
pub struct Warren {
    pub(crate) root: PathBuf,
    pub(crate) settings: Settings,
    pub(crate) store: Store,
    pub(crate) reporter: Arc<dyn Reporter>,
    pub(crate) host: HostEnv,
    docker: tokio::sync::OnceCell<DockerRuntime>,
    /// The sandbox runtime as itself: `exec` becomes its helper in place.
    pub(crate) sandbox: LocalRuntime,
    runtimes: Vec<(RuntimeKind, Arc<dyn Runtime>)>,
    /// Whether `conflicts` and `ls` ask the change feed ([`crate::review::feed`]).
    feed: FeedMode,
}

/// Whether the advisory views (`conflicts`, `ls`) ask the change feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FeedMode {
    /// Never (libraries and servers: no process is started behind their back).
    #[default]
    Off,
    /// When its watcher runs.
    Use,
    /// When its watcher runs; otherwise it is started for the next command.
    Start,
}

impl Warren {
    /// Opens the store under the settings' root and registers the sandbox
    /// and host runtimes (docker connects on first use).
    pub fn open(
        settings: Settings,
        host: HostEnv,
        reporter: Arc<dyn Reporter>,
    ) -> Result<Warren, EnvError> {
        let root = settings.root.clone();
        let home = host.home().unwrap_or_else(|| root.clone());
        let sandbox = LocalRuntime::sandbox(&root, &home);
        let runtimes: Vec<(RuntimeKind, Arc<dyn Runtime>)> = vec![
            (RuntimeKind::Sandbox, Arc::new(sandbox.clone())),
            (
                RuntimeKind::Host,
                Arc::new(LocalRuntime::host(&root, &home)),
            ),
        ];
        Ok(Warren {
            store: Store::open(&root)?,
            root,
            settings,
            reporter,
            host,
            docker: tokio::sync::OnceCell::new(),
            sandbox,
            runtimes,
            feed: FeedMode::Off,
        })
    }

    /// Sets whether `conflicts` and `ls` ask the change feed (the CLI does).
    pub fn with_feed(mut self, mode: FeedMode) -> Warren {
        self.feed = mode;
        self
    }

    /// The change feed for capturing `recs`, as [`FeedMode`] says.
    pub(crate) fn feed(&self, recs: &[&EnvRecord]) -> Option<crate::review::feed::Feed> {
        use crate::review::feed::Feed;
        match self.feed {
            FeedMode::Off => None,
            FeedMode::Use => Feed::open(&self.root),
            FeedMode::Start => {
                let trees: Vec<&Path> = recs.iter().map(|r| r.worktree.as_path()).collect();
                Feed::open_or_start(&self.root, &self.settings.warren_exe(), &trees)
            }
        }
    }

    /// Replaces the implementation of a runtime (tests use a fake one;
    /// docker too, which is otherwise connected on first use).
    pub fn with_runtime(mut self, kind: RuntimeKind, runtime: Arc<dyn Runtime>) -> Warren {
        self.runtimes.retain(|(k, _)| *k != kind);
        self.runtimes.push((kind, runtime));
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The command's settings (global config and `WARREN_*`).
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn host(&self) -> &HostEnv {
        &self.host
    }

    pub fn reporter(&self) -> &dyn Reporter {
        &*self.reporter
    }

    /// The Docker runtime, connected on first use.
    pub async fn docker(&self) -> Result<&DockerRuntime, EnvError> {
        Ok(self.docker.get_or_try_init(DockerRuntime::connect).await?)
    }

    /// The runtime implementing `kind`.
    pub async fn runtime(&self, kind: RuntimeKind) -> Result<&dyn Runtime, EnvError> {
        if let Some((_, r)) = self.runtimes.iter().find(|(k, _)| *k == kind) {
            return Ok(&**r);
        }
        match kind {
            RuntimeKind::Docker => Ok(self.docker().await?),
            _ => Err(EnvError::RuntimeUnavailable(
                kind.to_string(),
                format!("this build of warren has no `{kind}` runtime; use `--runtime docker`"),
            )),
        }
    }

    /// Whether a docker runtime is registered in place of the engine (tests).
    pub(crate) fn docker_replaced(&self) -> bool {
        self.runtimes.iter().any(|(k, _)| *k == RuntimeKind::Docker)
    }

    /// Whether `root` is the default `~/.warren` (container names then carry
    /// no suffix).
    fn is_default_root(&self) -> bool {
        self.host
            .home()
            .is_some_and(|h| h.join(".warren") == self.root)
    }

    /// Name of an environment's container on the engine. Environments of
    /// another warren root (tests, a second user setup) get a suffix so the
    /// two never collide on one engine.
    pub fn container_name(&self, name: &str) -> String {
        if self.is_default_root() {
            format!("warren-{name}")
        } else {
            format!("warren-{name}-{}", self.root_id())
        }
    }

    /// Short stable id of this warren root (label `warren.root`).
    pub fn root_id(&self) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(self.root.to_string_lossy().as_bytes());
        warren_core::secret::hex(&digest[..3])
    }

    /// Where environments of `project` keep their worktrees.
    pub fn worktree_path(&self, project: &str, name: &str) -> PathBuf {
        self.root.join("worktrees").join(project).join(name)
    }

    /// Where discarded trees wait to be deleted (by the pool filler).
    pub fn trash(&self) -> PathBuf {
        self.root.join("trash")
    }

    /// The record of `name`, or [`EnvError::NotFound`] naming the known ones.
    pub fn record(&self, name: &str) -> Result<EnvRecord, EnvError> {
        match self.store.environment(name)? {
            Some(r) => Ok(r),
            None => Err(EnvError::NotFound {
                name: name.to_string(),
                known: self.store.environment_names()?,
            }),
        }
    }

    /// The stored spec of a record.
    pub fn spec_of(rec: &EnvRecord) -> Result<EnvSpec, EnvError> {
        EnvSpec::from_json(&rec.spec).map_err(|e| {
            EnvError::Other(format!(
                "the stored spec of `{}` is unreadable: {e}",
                rec.name
            ))
        })
    }

    /// Values of the credential env vars named by `names`: from the host
    /// environment, else from `ROOT/credentials/NAME` (a 0600 file).
    pub fn credential_values(&self, names: &[String]) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for n in names {
            if let Some(v) = self.host.get(n) {
                out.push((n.clone(), v.to_string()));
            } else if let Ok(v) = std::fs::read_to_string(self.root.join("credentials").join(n)) {
                let v = v.trim();
                if !v.is_empty() {
                    out.push((n.clone(), v.to_string()));
                }
            }
        }
        out
    }

    /// Appends a line to the environment's log (`ROOT/logs/NAME.log`).
    pub fn log_event(&self, name: &str, line: &str) {
        crate::envlog::append(&self.root, name, line);
    }
}
