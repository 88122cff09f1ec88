//! Environments: a runtime + a git worktree + services + env vars, from the
//! moment a name is reserved until `rm` (DESIGN.md section 5).

mod create;
pub mod envlog;
mod error;
pub mod git;
pub mod gitfs;
pub mod inject;
mod ls;
mod manager;
pub mod mounts;
mod ops;
pub mod plan;
pub mod reporter;
pub mod resolve;
pub mod snapshot;
pub mod spare;
pub mod spec;
pub mod steps;

pub use error::EnvError;
pub use ls::{EnvView, Listing, Orphan, ServiceView};
pub use manager::{HostEnv, Warren};
pub use ops::{RmOptions, RmOutcome, STOP_TIMEOUT};
pub use plan::{ContainerPlan, Plan};
pub use resolve::RunRequest;
