//! Spare worktrees: when an environment is removed with a clean worktree at
//! the project's HEAD, the worktree is not deleted but detached and moved to
//! `ROOT/worktrees/<project>/.spare/`, and the next environment of the
//! project takes it with a rename instead of `git worktree add` (three git
//! processes and a full checkout). `run --rm` on the sandbox is dominated by
//! exactly that work.
//!
//! What is moved is what git itself would have produced: a worktree whose
//! `git status` (ignored files included) was empty, whose index hides nothing
//! (no assume-unchanged or skip-worktree entries) and whose admin directory
//! holds only git's own files, at the commit the new environment starts
//! from (a spare at another commit is first `git reset --hard` to it). A
//! repository with a `post-checkout` hook, `core.hooksPath`, per-worktree
//! config, config includes or upstream set-up always gets `git worktree
//! add`, since a rename cannot imitate those. At most [`MAX_SPARES`] are
//! kept per project; older ones are deleted.
//!
//! The previous environment could write the repository's `.git` (refs,
//! objects) anyway, so a spare adds no path from one environment to the
//! next that `.git` does not already give.

use std::path::{Path, PathBuf};

use crate::git::{Repo, git};
use crate::gitfs::{index_is_plain, read_gitdir_file, write_locked};

/// Spare worktrees kept per project.
pub const MAX_SPARES: usize = 1;

/// Entries a worktree's admin directory (`.git/worktrees/<id>/`) may hold
/// for it to be reused: git's own bookkeeping, nothing an operation in
/// progress (merge, rebase, bisect) or a per-worktree setting would leave.
const ADMIN_ENTRIES: &[&str] = &["HEAD", "ORIG_HEAD", "commondir", "gitdir", "index", "logs"];

/// Where a project's spares live and whose git config decides whether they
/// may be used.
#[derive(Debug, Clone)]
pub struct Spares {
    pub dir: PathBuf,
    pub home: Option<PathBuf>,
    /// Empty directories to take out of an adopted spare: the sandbox's
    /// placeholders, which travel with a worktree it used, are noise to any
    /// other runtime.
    pub clear: &'static [&'static str],
}

/// A parked worktree.
struct Spare {
    dir: PathBuf,
    admin: PathBuf,
    commit: String,
}

impl Spare {
    fn read(dir: PathBuf, repo: &Repo) -> Option<Spare> {
        let admin = read_gitdir_file(&dir.join(".git"))?;
        if admin.parent()? != repo.git_dir.join("worktrees") {
            return None;
        }
        let gitdir = std::fs::read_to_string(admin.join("gitdir")).ok()?;
        if Path::new(gitdir.trim_end()) != dir.join(".git") {
            return None;
        }
        let commit = detached_commit(&admin)?;
        Some(Spare { dir, admin, commit })
    }

    /// Deletes the spare: its files and git's record of it.
    fn delete(dir: &Path, repo: &Repo) {
        if let Some(admin) = read_gitdir_file(&dir.join(".git"))
            && admin.parent() == Some(&repo.git_dir.join("worktrees"))
        {
            let _ = std::fs::remove_dir_all(&admin);
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn detached_commit(admin: &Path) -> Option<String> {
    let head = std::fs::read_to_string(admin.join("HEAD")).ok()?;
    let head = head.trim();
    (head.len() == 40 && head.bytes().all(|b| b.is_ascii_hexdigit())).then(|| head.to_string())
}

fn spare_dirs(spares: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(spares)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let modified = e.metadata().ok()?.modified().ok()?;
            Some((modified, e.path()))
        })
        .collect();
    dirs.sort();
    dirs.into_iter().map(|(_, p)| p).collect()
}

impl Repo {
    /// Whether `branch` is the checked-out branch of the main checkout or of
    /// any worktree (git refuses to check it out twice or to delete it).
    pub(crate) fn branch_checked_out(&self, branch: &str) -> bool {
        let want = format!("ref: refs/heads/{branch}");
        let heads = std::iter::once(self.git_dir.join("HEAD")).chain(
            std::fs::read_dir(self.git_dir.join("worktrees"))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path().join("HEAD")),
        );
        heads
            .filter_map(|h| std::fs::read_to_string(h).ok())
            .any(|h| h.trim() == want)
    }

    /// Moves a spare worktree to `path` on `branch` (created at HEAD unless
    /// it exists, as `git worktree add` would). `Some(created)` when a spare
    /// was used; `None` to fall back to git. Call with the worktree lock held.
    pub(crate) fn adopt_spare(&self, spares: &Spares, path: &Path, branch: &str) -> Option<bool> {
        let dirs = spare_dirs(&spares.dir);
        if dirs.is_empty() || self.checkout_has_side_effects(spares.home.as_deref()) {
            return None;
        }
        let (commit, create) = match self.branch_tip(branch) {
            Some(tip) => {
                if self.branch_checked_out(branch) {
                    return None;
                }
                (tip, false)
            }
            None => (self.head_commit()?, true),
        };
        let mut candidates: Vec<Spare> = dirs
            .into_iter()
            .rev()
            .filter_map(|d| Spare::read(d, self))
            .collect();
        candidates.sort_by_key(|s| s.commit != commit);
        let spare = candidates.into_iter().next()?;
        if spare.commit != commit {
            // Another commit: one git process moves it, still cheaper than
            // a new worktree (and only the differences are written).
            if git(&spare.dir, ["reset", "--hard", "--quiet", &commit]).is_err()
                || detached_commit(&spare.admin).as_deref() != Some(commit.as_str())
            {
                Spare::delete(&spare.dir, self);
                return None;
            }
        }
        if create {
            match self.create_branch_fs(branch, &commit) {
                Some(Ok(())) => {}
                Some(Err(_)) => return None,
                None => git(&self.root, ["branch", branch, &commit])
                    .ok()
                    .map(|_| ())?,
            }
        }
        let undo_branch = |repo: &Repo| {
            if create {
                let _ = repo.delete_branch(branch);
            }
        };
        if std::fs::rename(&spare.dir, path).is_err() {
            undo_branch(self);
            return None;
        }
        let moved = write_locked(
            &spare.admin.join("gitdir"),
            &format!("{}\n", path.join(".git").display()),
        )
        .and_then(|()| {
            write_locked(
                &spare.admin.join("HEAD"),
                &format!("ref: refs/heads/{branch}\n"),
            )
        });
        if moved.is_ok() {
            for name in spares.clear {
                // Only empty directories go (git never checks one out), and
                // their parents when that leaves them empty.
                let mut dir = path.join(name);
                while dir != path && std::fs::remove_dir(&dir).is_ok() {
                    dir.pop();
                }
            }
        }
        if moved.is_err() {
            let _ = write_locked(
                &spare.admin.join("gitdir"),
                &format!("{}\n", spare.dir.join(".git").display()),
            );
            let _ = std::fs::rename(path, &spare.dir);
            undo_branch(self);
            return None;
        }
        Some(create)
    }

    /// Parks the worktree at `path` as a spare instead of deleting it, when
    /// it can be reused (see the module docs). The caller has checked that
    /// `git status --ignored` is empty. Returns whether it was parked; if
    /// not, the worktree is untouched. Call with the worktree lock held.
    pub(crate) fn park_worktree(&self, path: &Path, spares: &Spares) -> bool {
        self.try_park(path, spares).is_some()
    }

    fn try_park(&self, path: &Path, spares: &Spares) -> Option<()> {
        if self.checkout_has_side_effects(spares.home.as_deref()) {
            return None;
        }
        let admin = read_gitdir_file(&path.join(".git"))?;
        if admin.parent()? != self.git_dir.join("worktrees") {
            return None;
        }
        for entry in std::fs::read_dir(&admin).ok()? {
            let name = entry.ok()?.file_name();
            // Per-worktree refs (bisect, `refs/worktree/*`) belong to the
            // old environment: only an empty `refs/` passes.
            let empty_refs =
                name == "refs" && std::fs::read_dir(admin.join("refs")).ok()?.next().is_none();
            if !empty_refs && !ADMIN_ENTRIES.iter().any(|a| name == *a) {
                return None;
            }
        }
        let head = std::fs::read_to_string(admin.join("HEAD")).ok()?;
        let commit = match head.trim().strip_prefix("ref: refs/heads/") {
            Some(branch) => self.branch_tip(branch)?,
            None => detached_commit(&admin)?,
        };
        if self.head_commit()? != commit || !index_is_plain(&admin.join("index")) {
            return None;
        }
        let existing = spare_dirs(&spares.dir);
        let excess = (existing.len() + 1).saturating_sub(MAX_SPARES);
        for old in existing.iter().take(excess) {
            Spare::delete(old, self);
        }
        std::fs::create_dir_all(&spares.dir).ok()?;
        let target = spares
            .dir
            .join(format!("{:016x}", warren_core::secret::random_u64()));
        write_locked(&admin.join("HEAD"), &format!("{commit}\n")).ok()?;
        let restore_head = || {
            let _ = write_locked(&admin.join("HEAD"), &head);
        };
        if std::fs::rename(path, &target).is_err() {
            restore_head();
            return None;
        }
        if write_locked(
            &admin.join("gitdir"),
            &format!("{}\n", target.join(".git").display()),
        )
        .is_err()
        {
            let _ = std::fs::rename(&target, path);
            restore_head();
            return None;
        }
        // Its age decides which spare goes first.
        let _ =
            std::fs::File::open(&target).and_then(|f| f.set_modified(std::time::SystemTime::now()));
        Some(())
    }
}
