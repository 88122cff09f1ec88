//! Environments: a runtime + a git worktree + services + env vars, from the
//! moment a name is reserved until `rm` (docs/ARCHITECTURE.md). [`Warren`]
//! is the service: `run` (one call for `warren run`), `create`, `start`,
//! `stop`, `rm`, `exec`, `ls`, `logs`.

mod commits;
pub mod compose;
mod create;
pub mod envlog;
mod error;
pub mod events;
#[cfg(test)]
mod fake;
pub mod features;
pub mod git;
pub mod gitfs;
pub mod inject;
mod ls;
mod manager;
pub mod metadata;
pub mod mounts;
pub mod network;
pub mod notify;
mod ops;
pub mod plan;
pub mod pool;
pub mod repo;
pub mod reporter;
pub mod resolve;
pub mod review;
mod run;
mod serve;
#[cfg(test)]
mod service_tests;
mod session_ops;
pub mod sessions;
pub mod snapshot;
pub mod spec;
pub mod steps;
mod tmux_control;
pub mod tools;

pub use error::EnvError;
pub use ls::{EnvView, Listing, Orphan, ServiceView, SessionView};
pub use manager::{FeedMode, HostEnv, Warren};
pub use ops::{RmOptions, RmOutcome, STOP_TIMEOUT};
pub use plan::{ContainerPlan, Plan};
pub use resolve::RunRequest;
pub use run::{RunOutcome, RunSpec, Teardown, interactive_command};
pub use session_ops::{WATCH_SESSION, WATCHER_STARTED_VAR, WatchState};
