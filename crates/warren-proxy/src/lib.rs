//! The hostname reverse proxy (DESIGN.md section 6). Work in progress.

pub mod cli;
