//! Agents: an AI CLI working in an environment, driven headlessly.
//!
//! - [`adapters`]: per tool, the interactive and headless command lines and
//!   a parser of its structured output (result, session, usage, cost, error class).
//! - [`executor`]: runs one tool process on the host or through `warren exec`,
//!   streaming output, with timeout and cancel (SIGTERM, grace, SIGKILL).
//! - [`server`]: the task API (axum) with token auth, Host/Origin checks,
//!   SSE progress, history in the store and an OpenAPI document.
//! - [`director`]: the `warren task` client.

pub mod adapters;
pub mod director;
mod error;
pub mod executor;
pub mod history;
pub mod server;
pub mod util;

pub use error::AgentError;
pub use server::{ServerConfig, ServerHandle};
