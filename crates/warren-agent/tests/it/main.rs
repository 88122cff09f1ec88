//! Integration tests of warren-agent: real processes, real HTTP, real SQLite,
//! the real `warren` binary and (when npm reaches the registry) the real CLIs.

// Test helpers fail loudly by design: a broken fixture is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Tests print their progress as they go.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod api;
mod credentials;
mod director;
mod env_mode;
mod fuzz;
mod harness;
mod history;
mod prompts;
mod real_cli;
mod security;
