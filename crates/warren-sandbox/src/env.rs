//! Environment-level state on the host: the private `/tmp` and `$HOME` dirs, the
//! placeholders that stand in for always-read-only paths which do not exist yet, and
//! their removal when the environment is removed.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::error::{Layer, SandboxError};
use crate::policy::{Placeholder, Policy};

/// File (in the state dir) listing the placeholders warren created, so removal only
/// deletes what it made.
const PLACEHOLDERS_FILE: &str = "placeholders.json";

/// Creates the policy's private dirs (0700) and every missing placeholder. Call at
/// environment create; [`crate::spawn`] and [`crate::exec_in_place`] call it too, so a
/// placeholder removed on the host while nothing ran is recreated. Idempotent.
pub fn prepare_env(policy: &Policy) -> Result<(), SandboxError> {
    policy.validate()?;
    if !policy.scratch {
        for dir in [&policy.tmp_dir, &policy.home_dir] {
            create_private_dir(dir)?;
        }
    }
    if let Some(state) = &policy.state_dir {
        create_private_dir(state)?;
    }
    ensure_placeholders(policy)
}

/// Creates the placeholders of missing always-read-only paths, recording them in the
/// state dir. Never follows a symlink (an agent may have planted one in the worktree).
pub fn ensure_placeholders(policy: &Policy) -> Result<(), SandboxError> {
    let mut created = read_manifest(policy);
    let before = created.len();
    for p in policy.protected_paths() {
        if p.placeholder == Placeholder::None {
            continue;
        }
        match fs::symlink_metadata(&p.path) {
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(state_err(format!("checking `{}`", p.path.display()), e)),
        }
        let rel = p.path.strip_prefix(&p.root).unwrap_or(&p.path);
        let comps: Vec<_> = rel
            .components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .collect();
        let mut cur = p.root.clone();
        for (i, comp) in comps.iter().enumerate() {
            cur.push(comp);
            let last = i + 1 == comps.len();
            match fs::symlink_metadata(&cur) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(SandboxError::layer(
                        Layer::State,
                        format!(
                            "`{}` is a symlink; refusing to create a placeholder through it",
                            cur.display()
                        ),
                    )
                    .with_hint(format!("remove it on the host: `rm {}`", cur.display())));
                }
                Ok(meta) if !last && !meta.is_dir() => {
                    return Err(SandboxError::layer(
                        Layer::State,
                        format!("`{}` is not a directory", cur.display()),
                    ));
                }
                Ok(_) => {}
                Err(_) => {
                    let res = if last && p.placeholder == Placeholder::File {
                        fs::OpenOptions::new()
                            .write(true)
                            .create_new(true)
                            .open(&cur)
                            .map(drop)
                    } else {
                        fs::create_dir(&cur)
                    };
                    match res {
                        Ok(()) => created.push(cur.clone()),
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => {
                            return Err(state_err(
                                format!("creating placeholder `{}`", cur.display()),
                                e,
                            ));
                        }
                    }
                }
            }
        }
    }
    if created.len() != before {
        write_manifest(policy, &created)?;
    }
    Ok(())
}

/// Removes the placeholders warren created (only empty ones, deepest first) and the
/// private dirs. Call at environment removal only, once nothing of the environment
/// runs: removing a placeholder that is a mount point in a running sandbox would
/// detach that read-only mount there.
pub fn remove_env(policy: &Policy) -> Result<(), SandboxError> {
    remove_placeholders_where(policy, |_| true)?;
    remove_private_dirs(policy)
}

/// [`remove_env`] for an environment whose worktree goes with it (deleted, or kept
/// whole for another environment): placeholders inside the worktree stay there, the
/// others and the private dirs are removed. Saves a directory operation per
/// placeholder, which on a journalling file system is most of what removal costs.
pub fn remove_env_except_worktree(policy: &Policy) -> Result<(), SandboxError> {
    remove_placeholders_where(policy, |p| {
        !p.starts_with(&policy.worktree)
            && fs::canonicalize(&policy.worktree).map_or(true, |w| !p.starts_with(w))
    })?;
    remove_private_dirs(policy)
}

fn remove_private_dirs(policy: &Policy) -> Result<(), SandboxError> {
    for dir in [&policy.tmp_dir, &policy.home_dir] {
        remove_tree(dir)?;
    }
    if let Some(state) = &policy.state_dir {
        remove_tree(state)?;
    }
    Ok(())
}

/// Removes the placeholders `wanted` selects (only empty ones, deepest first).
/// Refused while a sandbox of the environment runs (the placeholders are its mount
/// points).
fn remove_placeholders_where(
    policy: &Policy,
    wanted: impl Fn(&Path) -> bool,
) -> Result<(), SandboxError> {
    if let Some(state) = &policy.state_dir
        && crate::registry::is_running(state)
    {
        let msg = format!(
            "environment `{}` still has running sandboxed processes",
            policy.name
        );
        return Err(SandboxError::layer(Layer::State, msg).with_hint("stop it first (`stop_all`)"));
    }
    let mut created = read_manifest(policy);
    if created.is_empty() {
        return Ok(());
    }
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
    Ok(())
}

fn remove_tree(dir: &Path) -> Result<(), SandboxError> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(state_err(format!("removing `{}`", dir.display()), e)),
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

fn manifest_path(policy: &Policy) -> Option<PathBuf> {
    policy.state_dir.as_ref().map(|s| s.join(PLACEHOLDERS_FILE))
}

fn read_manifest(policy: &Policy) -> Vec<PathBuf> {
    manifest_path(policy)
        .and_then(|p| fs::read(p).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

fn write_manifest(policy: &Policy, created: &[PathBuf]) -> Result<(), SandboxError> {
    let Some(path) = manifest_path(policy) else {
        return Ok(());
    };
    if let Some(parent) = path.parent() {
        create_private_dir(parent)?;
    }
    let json =
        serde_json::to_vec(created).map_err(|e| state_err("encoding placeholder list", e))?;
    fs::write(&path, json).map_err(|e| state_err(format!("writing `{}`", path.display()), e))
}

fn state_err(what: impl std::fmt::Display, e: impl std::fmt::Display) -> SandboxError {
    SandboxError::sys(Layer::State, what, e)
}
