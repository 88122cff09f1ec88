//! Integration tests of the proxy with real clients (curl, WebSocket
//! clients in Rust and Python), real backends (hyper servers, python's
//! http.server, busybox httpd, a container) and the real `warren` binary.

// Test helpers fail loudly by design: a broken fixture is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Tests print their progress as they go.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod harness;

mod concurrency;
mod daemon;
mod docker;
mod hardening;
mod limits;
mod log;
mod pages;
mod routing;
mod states;
mod streaming;
mod websocket;
