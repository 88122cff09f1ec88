//! Integration tests of warren-agent: real processes, real HTTP, real SQLite.

mod api;
mod director;
mod fuzz;
mod harness;
mod history;
mod real_cli;
mod security;
