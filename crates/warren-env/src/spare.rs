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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::tests::init_repo;

    fn setup() -> (tempfile::TempDir, Repo, Spares) {
        let tmp = tempfile::tempdir().unwrap();
        let repo_dir = tmp.path().join("repo");
        std::fs::create_dir(&repo_dir).unwrap();
        init_repo(&repo_dir);
        let repo = Repo::discover(&repo_dir).unwrap();
        let spares = Spares {
            dir: tmp.path().join("wt/.spare"),
            home: Some(tmp.path().join("home")),
            clear: &[],
        };
        (tmp, repo, spares)
    }

    fn spare_count(s: &Spares) -> usize {
        spare_dirs(&s.dir).len()
    }

    #[test]
    fn park_then_adopt_is_a_worktree_git_agrees_with() {
        let (tmp, repo, spares) = setup();
        let one = tmp.path().join("wt/one");
        assert!(
            repo.add_worktree(&one, "warren/one", Some(&spares))
                .unwrap()
        );
        assert!(repo.retire_worktree(&one, &spares).unwrap(), "parked");
        repo.delete_branch("warren/one").unwrap();
        assert!(!one.exists());
        assert_eq!(spare_count(&spares), 1);

        let two = tmp.path().join("wt/two");
        assert!(
            repo.add_worktree(&two, "warren/two", Some(&spares))
                .unwrap()
        );
        assert_eq!(spare_count(&spares), 0, "the spare was taken");
        assert_eq!(
            git(&two, ["rev-parse", "--abbrev-ref", "HEAD"]).unwrap(),
            "warren/two"
        );
        assert_eq!(
            git(&two, ["rev-parse", "HEAD"]).unwrap(),
            repo.head_commit().unwrap()
        );
        assert_eq!(
            git(&two, ["status", "--porcelain", "--ignored"]).unwrap(),
            ""
        );
        let list = git(&repo.root, ["worktree", "list", "--porcelain"]).unwrap();
        assert!(
            list.contains(&format!("worktree {}", two.display())),
            "{list}"
        );
        assert_eq!(
            git(&repo.root, ["worktree", "prune", "--dry-run", "--verbose"]).unwrap(),
            ""
        );
        // git can still remove it the ordinary way.
        repo.remove_worktree(&two).unwrap();
        assert!(!two.exists());
    }

    #[test]
    fn a_kept_branch_is_checked_out_on_the_spare_at_its_tip() {
        let (tmp, repo, spares) = setup();
        let head = repo.head_commit().unwrap();
        git(&repo.root, ["branch", "warren/kept"]).unwrap();
        let one = tmp.path().join("wt/one");
        repo.add_worktree(&one, "warren/one", Some(&spares))
            .unwrap();
        assert!(repo.retire_worktree(&one, &spares).unwrap());
        let kept = tmp.path().join("wt/kept");
        assert!(
            !repo
                .add_worktree(&kept, "warren/kept", Some(&spares))
                .unwrap(),
            "the branch existed"
        );
        assert_eq!(git(&kept, ["rev-parse", "HEAD"]).unwrap(), head);
        assert_eq!(
            git(&kept, ["rev-parse", "--abbrev-ref", "HEAD"]).unwrap(),
            "warren/kept"
        );
        // Checked out there, it cannot be taken again (git would refuse too).
        assert!(
            repo.adopt_spare(&spares, &tmp.path().join("wt/x"), "warren/kept")
                .is_none()
        );
    }

    #[test]
    fn worktrees_that_could_hide_something_are_not_parked() {
        let (tmp, repo, spares) = setup();
        std::fs::write(repo.root.join("f"), "f").unwrap();
        git(&repo.root, ["add", "f"]).unwrap();
        git(
            &repo.root,
            [
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "commit",
                "-qm",
                "f",
            ],
        )
        .unwrap();

        // An entry marked assume-unchanged hides its changes from status.
        let a = tmp.path().join("wt/a");
        repo.add_worktree(&a, "warren/a", Some(&spares)).unwrap();
        git(&a, ["update-index", "--assume-unchanged", "f"]).unwrap();
        std::fs::write(a.join("f"), "changed").unwrap();
        assert!(!repo.retire_worktree(&a, &spares).unwrap());
        assert!(!a.exists(), "removed instead");

        // An operation in progress leaves state in the admin directory.
        let b = tmp.path().join("wt/b");
        repo.add_worktree(&b, "warren/b", Some(&spares)).unwrap();
        let admin = read_gitdir_file(&b.join(".git")).unwrap();
        std::fs::write(admin.join("MERGE_HEAD"), repo.head_commit().unwrap()).unwrap();
        assert!(!repo.retire_worktree(&b, &spares).unwrap());

        // A worktree ahead of HEAD is not where the next one starts.
        let c = tmp.path().join("wt/c");
        repo.add_worktree(&c, "warren/c", Some(&spares)).unwrap();
        git(
            &c,
            [
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                "c",
            ],
        )
        .unwrap();
        assert!(!repo.retire_worktree(&c, &spares).unwrap());
        assert_eq!(spare_count(&spares), 0);
    }

    #[test]
    fn hooks_and_config_that_act_on_checkout_keep_git_in_charge() {
        let (tmp, repo, spares) = setup();
        assert!(!repo.checkout_has_side_effects(spares.home.as_deref()));
        std::fs::write(repo.git_dir.join("hooks/post-checkout"), "#!/bin/sh\n").unwrap();
        assert!(repo.checkout_has_side_effects(spares.home.as_deref()));
        std::fs::remove_file(repo.git_dir.join("hooks/post-checkout")).unwrap();
        git(&repo.root, ["config", "core.hooksPath", ".githooks"]).unwrap();
        assert!(repo.checkout_has_side_effects(spares.home.as_deref()));
        git(&repo.root, ["config", "--unset", "core.hooksPath"]).unwrap();
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(home.join(".gitconfig"), "[include]\n\tpath = other\n").unwrap();
        assert!(repo.checkout_has_side_effects(spares.home.as_deref()));
    }

    #[test]
    fn at_most_one_spare_is_kept() {
        let (tmp, repo, spares) = setup();
        let a = tmp.path().join("wt/a");
        let b = tmp.path().join("wt/b");
        repo.add_worktree(&a, "warren/a", None).unwrap();
        repo.add_worktree(&b, "warren/b", None).unwrap();
        assert!(repo.retire_worktree(&a, &spares).unwrap());
        assert!(repo.retire_worktree(&b, &spares).unwrap());
        assert_eq!(spare_count(&spares), MAX_SPARES);
        assert_eq!(
            git(&repo.root, ["worktree", "prune", "--dry-run", "--verbose"]).unwrap(),
            "",
            "the evicted spare's record went with it"
        );
        let list = git(&repo.root, ["worktree", "list"]).unwrap();
        assert_eq!(list.lines().count(), 1 + MAX_SPARES, "{list}");
    }
}
