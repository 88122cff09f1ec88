//! Integration tests of the `warren` binary against real git and a real
//! Docker engine. One test binary; topics in modules.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed setup step should panic the test
// Tests print their progress as they go.
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[macro_use]
mod harness;

mod attacker;
mod commands;
mod compose;
mod config;
mod conformance;
mod devcontainer_spec;
mod devcontainer_vars;
mod environments;
mod events;
mod fail_closed;
mod features;
mod grants;
mod host_access;
mod limits;
mod manager;
mod network;
mod review_apply;
mod review_checkpoint;
mod review_conflicts;
mod review_diff;
mod review_land;
mod rough_edges;
mod routing;
mod sandbox;
mod sessions;
mod settings;
mod snapshots;
mod terminal;
