//! The Linux implementation: namespaces, mounts, Landlock, seccomp, capabilities.

pub(crate) mod caps;
pub(crate) mod cgroup;
pub(crate) mod init;
pub(crate) mod join;
pub(crate) mod keeper;
pub(crate) mod landlock;
pub(crate) mod mounts;
pub(crate) mod namespaces;
pub(crate) mod netns;
pub(crate) mod overlay;
pub(crate) mod plan;
pub(crate) mod probe;
pub(crate) mod pty;
pub(crate) mod run;
pub(crate) mod seccomp;
pub(crate) mod spawn;
pub(crate) mod sys;
