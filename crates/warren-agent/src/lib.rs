//! Agents: tool adapters, the task executor, the task API server and the
//! `warren task` director.

pub mod cli;
