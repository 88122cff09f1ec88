//! Errors of the environment layer, each with a hint where one helps.

use std::path::PathBuf;

use crate::git::GitError;
use crate::steps::StepError;

/// What went wrong managing an environment.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error(transparent)]
    Store(#[from] warren_store::StoreError),
    #[error(transparent)]
    Runtime(#[from] warren_runtime::RuntimeError),
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Lifecycle(#[from] StepError),
    #[error(transparent)]
    Name(#[from] warren_core::NameError),
    #[error(transparent)]
    Config(#[from] warren_config::ConfigError),
    #[error("no environment named `{name}`")]
    NotFound { name: String, known: Vec<String> },
    #[error("environment `{0}` is not running")]
    NotRunning(String),
    #[error("environment `{0}` is gone: its container was removed outside warren")]
    Gone(String),
    #[error("environment `{name}` is gone and cannot be created again: {reason}")]
    Unrecoverable { name: String, reason: String },
    #[error(
        "the worktree of `{name}` has uncommitted changes ({count} {}):{}",
        if *.count == 1 { "file" } else { "files" },
        dirty_list(.sample, *.count)
    )]
    Dirty {
        name: String,
        worktree: PathBuf,
        count: usize,
        sample: Vec<String>,
    },
    #[error("the commits of `{name}` cannot be brought back: {reason}")]
    CommitsNotBroughtBack { name: String, reason: String },
    #[error("cannot tell whether the tree of `{name}` has uncommitted changes: {reason}")]
    Unproven { name: String, reason: String },
    #[error("removing `{name}` did not finish: {reason}")]
    Unfinished { name: String, reason: String },
    #[error("the repository at `{0}` has no commits yet; a worktree needs one")]
    NoCommits(PathBuf),
    #[error("{step} failed")]
    Step {
        step: &'static str,
        #[source]
        source: Box<EnvError>,
    },
    #[error("the {0} runtime is not available on this machine")]
    RuntimeUnavailable(String, String),
    #[error("interrupted")]
    Interrupted,
    #[error("{0}")]
    Io(String, #[source] std::io::Error),
    #[error("{0}")]
    Other(String),
    /// Refused before anything is made, with what to do instead.
    #[error("{message}")]
    Refused { message: String, hint: String },
}

impl EnvError {
    /// Wraps an error with the create/start step it happened in.
    pub fn at(step: &'static str) -> impl FnOnce(EnvError) -> EnvError {
        move |e| EnvError::Step {
            step,
            source: Box::new(e),
        }
    }
}

impl warren_core::Hint for EnvError {
    /// A suggestion the CLI prints as `hint:`.
    fn hint(&self) -> Option<String> {
        match self {
            EnvError::Runtime(e) => e.hint(),
            EnvError::Git(e) => e.hint(),
            EnvError::Name(e) => e.hint(),
            EnvError::Store(warren_store::StoreError::NameTaken { name, .. }) => Some(format!(
                "pick another name with `--name`, leave `--name` out for a generated one, or remove the existing one with `warren rm {name}`"
            )),
            EnvError::NotFound { known, .. } if known.is_empty() => {
                Some("there are no environments yet; create one with `warren run`".into())
            }
            EnvError::NotFound { known, name } => {
                let close = known
                    .iter()
                    .filter(|k| strsim_close(k, name))
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>();
                if close.is_empty() {
                    Some("see `warren ls` for the environments that exist".into())
                } else {
                    Some(format!("did you mean {}?", close.join(" or ")))
                }
            }
            EnvError::NotRunning(name) => Some(format!("start it with `warren start {name}`")),
            EnvError::Gone(name) => Some(format!(
                "create it again with `warren start {name}`, or remove what is left with `warren rm {name}`"
            )),
            EnvError::Unrecoverable { name, .. } => Some(format!(
                "remove what is left with `warren rm {name}` and create a new one with `warren run`"
            )),
            EnvError::Dirty { name, worktree, .. } => Some(format!(
                "commit or stash the changes in `{}`, or discard them with `warren rm --force {name}`",
                worktree.display()
            )),
            EnvError::CommitsNotBroughtBack { name, .. } => Some(format!(
                "start it (`warren start {name}`) so warren can take them, or drop them with `warren rm --force {name}`"
            )),
            EnvError::Unproven { name, .. } => Some(format!(
                "look at it with `warren exec {name} -- git status`; `warren rm --force {name}` removes it anyway"
            )),
            EnvError::Unfinished { name, .. } => Some(format!(
                "`warren ls` shows it as failed; run `warren rm {name}` again once the cause is fixed (or `--force`)"
            )),
            EnvError::NoCommits(p) => Some(format!(
                "make a first commit: `git -C {} commit --allow-empty -m init`",
                p.display()
            )),
            EnvError::Step { source, .. } => source.hint(),
            EnvError::RuntimeUnavailable(_, hint) => Some(hint.clone()),
            EnvError::Lifecycle(StepError::NoUser { user, .. }) => Some(format!(
                "the image has no user `{user}`: set `remoteUser` in devcontainer.json (or `user:` in .warren.yaml) to a user it has, remove it to use the image's own, or create `{user}` in your Dockerfile"
            )),
            EnvError::Refused { hint, .. } => Some(hint.clone()),
            EnvError::Lifecycle(_) => Some(
                "fix the command in your devcontainer.json or .warren.yaml and run again".into(),
            ),
            _ => None,
        }
    }
}

/// The first changed paths, one per line, and how many more there are.
fn dirty_list(sample: &[String], count: usize) -> String {
    let mut s: String = sample.iter().map(|l| format!("\n    {l}")).collect();
    if count > sample.len() {
        s.push_str(&format!("\n    … and {} more", count - sample.len()));
    }
    s
}

/// A cheap "looks like a typo" test: same length ±2 and a shared prefix, or
/// one contains the other.
fn strsim_close(a: &str, b: &str) -> bool {
    if a.contains(b) || b.contains(a) {
        return true;
    }
    let common = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    common >= 3 && a.len().abs_diff(b.len()) <= 2
}
