//! A project's pool: one environment repository made ahead of time, so a
//! new environment takes it with a rename instead of a checkout.
//!
//! A pool entry is built by warren in a directory of its own and holds only
//! a tree no environment ever had (docs/SECURITY.md): an environment's tree
//! is never reused, it goes to the trash when the environment is removed.
//! The entry is made for one commit (the project's HEAD when it was built)
//! and taken only for that commit.
//!
//! Filling happens after an environment is created or removed, in a
//! detached `warren __fill-pool` process, so no command waits for it. The
//! filler also empties the trash.

use std::path::{Path, PathBuf};

use crate::git::{GitError, Repo};
use crate::repo;

/// The branch a pool entry is built on; renamed when it is taken.
const POOL_BRANCH: &str = "warren/pool";

/// The pool of one project (one main repository).
#[derive(Debug, Clone)]
pub struct Pool {
    /// `ROOT/pool/<key>`.
    pub dir: PathBuf,
}

impl Pool {
    /// The pool of `main` under `root`.
    pub fn of(root: &Path, main: &Repo) -> Pool {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(main.git_dir.to_string_lossy().as_bytes());
        let name = main
            .root
            .file_name()
            .map(|n| warren_core::names::slug(&n.to_string_lossy()))
            .unwrap_or_default();
        Pool {
            dir: root
                .join("pool")
                .join(format!("{name}-{}", warren_core::secret::hex(&digest[..4]))),
        }
    }

    fn ready(&self) -> PathBuf {
        self.dir.join("ready")
    }

    /// The commit the ready entry was built for.
    fn ready_base(&self) -> Option<String> {
        repo::tip(&self.ready(), POOL_BRANCH)
    }

    /// Moves the ready entry to `tree` on `branch`, if it was built for
    /// `base`. `tree`'s parent must exist and be on the same file system.
    pub fn take(&self, tree: &Path, branch: &str, base: &str) -> bool {
        if self.ready_base().as_deref() != Some(base) {
            return false;
        }
        if std::fs::rename(self.ready(), tree).is_err() {
            return false;
        }
        if repo::rename_branch(tree, POOL_BRANCH, branch, base).is_err() {
            // A half-renamed entry is nobody's: discard it.
            let _ = std::fs::remove_dir_all(tree);
            return false;
        }
        true
    }

    /// Builds a ready entry for `base` unless there is one, and empties the
    /// trash. Another filler at work means this one has nothing to do.
    pub fn fill(&self, main: &Repo, base: &str, trash: &Path) -> Result<(), GitError> {
        // Background work: the command that started it (an environment
        // being set up right now) comes first when they share a CPU. `git`
        // inherits the niceness.
        // SAFETY: setpriority on this process; no memory is involved.
        unsafe {
            libc::setpriority(libc::PRIO_PROCESS, 0, 19);
        }
        std::fs::create_dir_all(&self.dir).map_err(GitError::Spawn)?;
        let Some(_lock) = try_lock(&self.dir.join("fill.lock")) else {
            return Ok(());
        };
        if self.ready_base().as_deref() != Some(base) {
            let building = self.dir.join(format!("building-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&building);
            repo::create(main, &building, POOL_BRANCH, base)?;
            let _ = repo::discard(&self.ready(), trash);
            if let Err(e) = std::fs::rename(&building, self.ready()) {
                let _ = std::fs::remove_dir_all(&building);
                return Err(GitError::Spawn(e));
            }
        }
        repo::empty_trash(trash);
        Ok(())
    }
}

/// A non-blocking exclusive lock on `path`, held while the file is open.
fn try_lock(path: &Path) -> Option<std::fs::File> {
    use std::os::fd::AsRawFd;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .ok()?;
    // SAFETY: flock(2) on a descriptor we own; the lock goes with it.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    (rc == 0).then_some(file)
}

/// Set (by `warren start N M …` for the `warren start N` it runs side by side)
/// to leave filling to the caller, which starts one filler when all are done
/// instead of one per environment competing with the others for the CPU.
pub const DEFER_FILL_VAR: &str = "WARREN_DEFER_POOL_FILL";

/// Starts `warren __fill-pool REPO` detached (its own process group, no
/// output), so the command that asks does not wait for it. Best effort.
pub fn fill_in_background(warren_exe: &Path, root: &Path, main_checkout: &Path) {
    use std::sync::Mutex;
    if std::env::var_os(DEFER_FILL_VAR).is_some() {
        return;
    }
    // Fillers started earlier by this process, reaped here once they have
    // ended: a long-running caller (a server) collects no zombies, and no
    // thread waits for them (a thread would keep a single-threaded command
    // from forking its sandbox helper). A short-lived caller just exits.
    static STARTED: Mutex<Vec<std::process::Child>> = Mutex::new(Vec::new());
    let mut started = STARTED.lock().unwrap_or_else(|e| e.into_inner());
    started.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
    let mut cmd = detached(warren_exe, root);
    cmd.arg("__fill-pool").arg(main_checkout);
    if let Ok(child) = cmd.spawn() {
        started.push(child);
    }
}

/// `warren_exe` for `root`, to run in the background: no output, in the root,
/// out of the terminal's foreground group (so Ctrl-C on the command that starts
/// it does not stop it halfway); and no `pre_exec`, so the spawn takes the
/// `vfork` path instead of copying this process's page tables.
pub(crate) fn detached(warren_exe: &Path, root: &Path) -> std::process::Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(warren_exe);
    cmd.env(warren_core::vars::WARREN_ROOT, root)
        .current_dir(root)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0);
    cmd
}

/// Lowers this process (and what it starts) to the idle scheduling class: the
/// filler's checkout and trash removal use only CPU time nothing else wants, so
/// they never slow the commands the user is waiting for. Best effort.
pub fn run_when_idle() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler(2) on this process with a valid parameter.
    unsafe {
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::git;

    #[test]
    fn a_ready_entry_is_taken_once_and_only_for_its_commit() {
        let tmp = tempfile::tempdir().unwrap();
        let main_dir = tmp.path().join("main");
        std::fs::create_dir_all(&main_dir).unwrap();
        crate::git::tests::init_repo(&main_dir);
        let main = Repo::at_checkout(&main_dir);
        let head = main.head_commit().unwrap();
        let root = tmp.path().join("root");
        let pool = Pool::of(&root, &main);
        let trash = root.join("trash");
        pool.fill(&main, &head, &trash).unwrap();
        std::fs::create_dir_all(root.join("worktrees/p")).unwrap();
        let tree = root.join("worktrees/p/one");
        assert!(
            !pool.take(&tree, "warren/one", &"0".repeat(40)),
            "other commit"
        );
        assert!(pool.take(&tree, "warren/one", &head));
        assert!(
            !pool.take(&root.join("worktrees/p/two"), "warren/two", &head),
            "taken"
        );
        assert_eq!(git(&tree, ["status", "--porcelain"]).unwrap(), "");
        assert_eq!(
            git(&tree, ["for-each-ref", "--format=%(refname) %(objectname)"]).unwrap(),
            format!("refs/heads/warren/one {head}")
        );
        assert_eq!(
            git(&tree, ["symbolic-ref", "HEAD"]).unwrap(),
            "refs/heads/warren/one"
        );
        // The trash is emptied by the next fill.
        repo::discard(&tree, &trash).unwrap();
        assert!(!tree.exists());
        pool.fill(&main, &head, &trash).unwrap();
        assert_eq!(std::fs::read_dir(&trash).unwrap().count(), 0);
    }
}
