//! Environment-level state on the host: the private `/tmp` and `$HOME` dirs and the
//! state dir (instance registry, the worktree overlay's skeletons and work dirs), and
//! their removal when the environment is removed. Nothing here writes to the worktree:
//! always-read-only paths that do not exist are shown by the overlay, not created.
//!
//! Environments made by an older warren have empty placeholder directories in their
//! worktree, listed in `placeholders.json` in the state dir; they are taken out the next
//! time nothing of the environment runs (they are mount points in a running sandbox).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Layer, SandboxError};
use crate::policy::Policy;

/// File (in the state dir) in which an older warren listed the placeholders it created.
const PLACEHOLDERS_FILE: &str = "placeholders.json";

/// Creates the policy's private dirs and its state dir (0700), and removes an older
/// warren's placeholders when nothing of the environment runs. Call at environment
/// create; [`crate::spawn`] and [`crate::exec_in_place`] call it too. Idempotent.
pub fn prepare_env(policy: &Policy) -> Result<(), SandboxError> {
    policy.validate()?;
    if !policy.scratch {
        for dir in [&policy.tmp_dir, &policy.home_dir] {
            create_private_dir(dir)?;
        }
    }
    if let Some(state) = &policy.state_dir {
        create_private_dir(state)?;
        if state.join(PLACEHOLDERS_FILE).exists() && !crate::registry::is_running(state) {
            remove_placeholders_where(policy, |_| true)?;
        }
    }
    Ok(())
}

/// Removes an older warren's placeholders (only empty ones, deepest first), the private
/// dirs and the state dir. Call at environment removal only, once nothing of the
/// environment runs.
pub fn remove_env(policy: &Policy) -> Result<(), SandboxError> {
    remove_placeholders_where(policy, |_| true)?;
    remove_private_dirs(policy)
}

/// [`remove_env`] for an environment whose worktree goes with it (deleted, or kept
/// whole for another environment): an older warren's placeholders inside the worktree
/// stay there, the others and the private dirs are removed.
pub fn remove_env_except_worktree(policy: &Policy) -> Result<(), SandboxError> {
    remove_placeholders_where(policy, |p| {
        !p.starts_with(&policy.worktree)
            && fs::canonicalize(&policy.worktree).map_or(true, |w| !p.starts_with(w))
    })?;
    remove_private_dirs(policy)
}

fn remove_private_dirs(policy: &Policy) -> Result<(), SandboxError> {
    // The cgroup first: its record is in the state dir.
    #[cfg(target_os = "linux")]
    if let Some(state) = &policy.state_dir {
        crate::linux::cgroup::remove(state, std::time::Duration::from_secs(2));
    }
    for dir in [&policy.tmp_dir, &policy.home_dir] {
        remove_tree(dir)?;
    }
    if let Some(state) = &policy.state_dir {
        remove_tree(state)?;
    }
    Ok(())
}

/// Removes the legacy placeholders `wanted` selects (only empty ones, deepest first) and
/// the list of them. Refused while a sandbox of the environment runs (the placeholders
/// are its mount points: removing one would detach that read-only mount there).
fn remove_placeholders_where(
    policy: &Policy,
    wanted: impl Fn(&Path) -> bool,
) -> Result<(), SandboxError> {
    let Some(state) = &policy.state_dir else {
        return Ok(());
    };
    let manifest = state.join(PLACEHOLDERS_FILE);
    let Ok(bytes) = fs::read(&manifest) else {
        return Ok(());
    };
    if crate::registry::is_running(state) {
        let msg = format!(
            "environment `{}` still has running sandboxed processes",
            policy.name
        );
        return Err(SandboxError::layer(Layer::State, msg).with_hint("stop it first (`stop_all`)"));
    }
    let mut created: Vec<PathBuf> = serde_json::from_slice(&bytes).unwrap_or_default();
    created.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for path in created.into_iter().filter(|p| wanted(p)) {
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => {
                let _ = fs::remove_dir(&path);
            }
            Ok(meta) if meta.is_file() && meta.len() == 0 => {
                let _ = fs::remove_file(&path);
            }
            _ => {}
        }
    }
    match fs::remove_file(&manifest) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(state_err(format!("removing `{}`", manifest.display()), e)),
    }
}

/// Removes `dir` and everything beneath it. The overlay leaves its `work/work` dir with
/// mode 000, which an unprivileged owner cannot list, so a refused removal makes every
/// directory beneath owner-accessible and tries once more.
fn remove_tree(dir: &Path) -> Result<(), SandboxError> {
    let first = match fs::remove_dir_all(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => e,
    };
    if first.kind() != io::ErrorKind::PermissionDenied {
        return Err(state_err(format!("removing `{}`", dir.display()), first));
    }
    open_up(dir);
    fs::remove_dir_all(dir).map_err(|e| state_err(format!("removing `{}`", dir.display()), e))
}

/// Gives the owner rwx on every directory under `dir` (never following a symlink).
fn open_up(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            open_up(&entry.path());
        }
    }
}

fn create_private_dir(dir: &Path) -> Result<(), SandboxError> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| state_err(format!("creating `{}`", dir.display()), e))
}

fn state_err(what: impl std::fmt::Display, e: impl std::fmt::Display) -> SandboxError {
    SandboxError::sys(Layer::State, what, e)
}
