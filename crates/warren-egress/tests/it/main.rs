//! warren-egress integration tests: a real proxy on a loopback port, real
//! upstream servers (plain and TLS) and real clients, curl among them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod ca;
mod forward;
mod grant;
mod refuse;
mod support;
mod tunnel;
