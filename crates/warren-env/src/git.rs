//! Running git: the repository's top level, worktrees, branches, status.
//! warren drives the `git` CLI rather than a library so that what it does is
//! exactly what the user's own git would do (hooks, config, worktree format).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A failed git invocation.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run `git`; is it installed and on PATH?")]
    Spawn(#[source] std::io::Error),
    #[error("`git {args}` failed: {stderr}")]
    Failed { args: String, stderr: String },
    #[error("`{0}` is not inside a git repository")]
    NotARepo(PathBuf),
}

impl warren_core::Hint for GitError {
    fn hint(&self) -> Option<String> {
        match self {
            GitError::NotARepo(p) => Some(format!(
                "run warren inside a git repository, or create one with `git -C {} init && git -C {} commit --allow-empty -m init`",
                p.display(),
                p.display()
            )),
            GitError::Spawn(_) => Some("install git (`apt-get install git`)".into()),
            _ => None,
        }
    }
}

/// Runs `git -C dir ARGS` and returns trimmed stdout.
pub fn git<I, S>(dir: &Path, args: I) -> Result<String, GitError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args
        .into_iter()
        .map(|a| a.as_ref().to_os_string())
        .collect();
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .map_err(GitError::Spawn)?;
    if !out.status.success() {
        return Err(GitError::Failed {
            args: args
                .iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
}

/// What reading a ref without git found.
enum RefLookup {
    Found(String),
    Missing,
    Unknown,
}

/// A git repository as warren sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    /// Top level of the main checkout (not of a linked worktree).
    pub root: PathBuf,
    /// The main repository's `.git` directory (the common dir).
    pub git_dir: PathBuf,
}

impl Repo {
    /// The repository whose main checkout is `root` (its `.git` directory
    /// inside), without asking git: for environments, whose record holds it.
    pub fn at_checkout(root: &Path) -> Repo {
        Repo {
            root: root.to_path_buf(),
            git_dir: root.join(".git"),
        }
    }

    /// Finds the repository containing `path`. From inside a linked
    /// worktree this still returns the main checkout.
    pub fn discover(path: &Path) -> Result<Repo, GitError> {
        match crate::gitfs::discover(path) {
            Some(repo) => Ok(repo),
            None => Self::discover_with_git(path),
        }
    }

    /// [`Repo::discover`] by asking git.
    pub fn discover_with_git(path: &Path) -> Result<Repo, GitError> {
        let out = match git(
            path,
            [
                "rev-parse",
                "--path-format=absolute",
                "--git-common-dir",
                "--show-toplevel",
            ],
        ) {
            Ok(out) => out,
            Err(GitError::Failed { stderr, .. }) if stderr.contains("not a git repository") => {
                return Err(GitError::NotARepo(path.to_path_buf()));
            }
            Err(e) => return Err(e),
        };
        let mut lines = out.lines();
        let common = PathBuf::from(lines.next().unwrap_or_default());
        let toplevel = PathBuf::from(lines.next().unwrap_or_default());
        let git_dir = std::fs::canonicalize(&common).unwrap_or(common);
        // The main checkout is the common dir's parent (`repo/.git`); for a
        // bare-ish layout fall back to the current toplevel.
        let root = match git_dir.file_name() {
            Some(n) if n == ".git" => git_dir.parent().map(Path::to_path_buf).unwrap_or(toplevel),
            _ => toplevel,
        };
        Ok(Repo { root, git_dir })
    }

    /// Whether the repository has at least one commit (a worktree needs one).
    pub fn has_commits(&self) -> bool {
        self.head_commit().is_some()
    }

    /// The commit the main checkout's HEAD points at.
    pub fn head_commit(&self) -> Option<String> {
        let head = std::fs::read_to_string(self.git_dir.join("HEAD")).ok();
        let fast = match head.as_deref().map(str::trim) {
            Some(h) if h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
                RefLookup::Found(h.to_string())
            }
            Some(h) => match h.strip_prefix("ref: ") {
                Some(r) => self.lookup_ref(r),
                None => RefLookup::Unknown,
            },
            None => RefLookup::Unknown,
        };
        match fast {
            RefLookup::Found(sha) => Some(sha),
            RefLookup::Missing => None,
            RefLookup::Unknown => git(&self.root, ["rev-parse", "--verify", "--quiet", "HEAD"])
                .ok()
                .map(|s| s.trim().to_string()),
        }
    }

    /// The branch the main checkout has checked out (`None` when its HEAD is
    /// detached or unreadable).
    pub fn head_branch(&self) -> Option<String> {
        let head = std::fs::read_to_string(self.git_dir.join("HEAD")).ok()?;
        head.trim()
            .strip_prefix("ref: refs/heads/")
            .filter(|b| !b.is_empty())
            .map(str::to_string)
    }

    /// The commit `refs/heads/<branch>` points at.
    pub fn branch_tip(&self, branch: &str) -> Option<String> {
        let name = format!("refs/heads/{branch}");
        match self.lookup_ref(&name) {
            RefLookup::Found(sha) => Some(sha),
            RefLookup::Missing => None,
            RefLookup::Unknown => git(&self.root, ["rev-parse", "--verify", "--quiet", &name])
                .ok()
                .map(|s| s.trim().to_string()),
        }
    }

    pub fn branch_exists(&self, branch: &str) -> bool {
        self.branch_tip(branch).is_some()
    }

    /// Reads a ref from the files backend without starting git (a git
    /// process costs milliseconds, and `run` needs several): the loose ref,
    /// else `packed-refs`. Anything unusual (reftable, a symbolic ref)
    /// answers `Unknown` so the caller asks git.
    fn lookup_ref(&self, name: &str) -> RefLookup {
        if self.git_dir.join("reftable").exists() || name.contains("..") {
            return RefLookup::Unknown;
        }
        match std::fs::read_to_string(self.git_dir.join(name)) {
            Ok(v) => {
                let v = v.trim();
                return if v.len() == 40 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
                    RefLookup::Found(v.to_string())
                } else {
                    RefLookup::Unknown
                };
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => return RefLookup::Unknown,
        }
        match self.packed_ref(name) {
            Ok(Some(sha)) => RefLookup::Found(sha),
            Ok(None) => RefLookup::Missing,
            Err(_) => RefLookup::Unknown,
        }
    }

    /// `name`'s entry in `packed-refs` (none when the file does not exist).
    pub(crate) fn packed_ref(&self, name: &str) -> std::io::Result<Option<String>> {
        match std::fs::read_to_string(self.git_dir.join("packed-refs")) {
            Ok(packed) => Ok(packed
                .lines()
                .filter(|l| !l.starts_with('#') && !l.starts_with('^'))
                .find_map(|l| {
                    let (sha, r) = l.split_once(' ')?;
                    (r == name).then(|| sha.to_string())
                })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether `branch` is the checked-out branch of the main checkout or of
    /// any of its linked worktrees (git refuses to delete it then).
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

    /// Deletes a local branch (not checked out anywhere), like `git branch -D`.
    pub fn delete_branch(&self, branch: &str) -> Result<(), GitError> {
        if !self.branch_checked_out(branch)
            && let Some(Ok(())) = self.delete_branch_fs(branch)
        {
            return Ok(());
        }
        git(&self.root, ["branch", "-D", "--quiet", branch]).map(|_| ())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Commits what is staged in `dir` as a fixed test identity.
    pub fn commit(dir: &Path, message: &str) {
        git(
            dir,
            [
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "commit",
                "-qm",
                message,
            ],
        )
        .unwrap();
    }

    pub fn init_repo(dir: &Path) {
        for args in [
            vec!["init", "--quiet", "-b", "main"],
            vec![
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "commit",
                "--quiet",
                "--allow-empty",
                "-m",
                "init",
            ],
        ] {
            git(dir, args).unwrap();
        }
    }

    #[test]
    fn discover_from_a_subdirectory_and_delete_a_branch() {
        let tmp = tempfile::tempdir().unwrap();
        let repo_dir = tmp.path().join("repo");
        std::fs::create_dir(&repo_dir).unwrap();
        init_repo(&repo_dir);
        std::fs::create_dir(repo_dir.join("sub")).unwrap();
        let repo = Repo::discover(&repo_dir.join("sub")).unwrap();
        assert_eq!(repo.root, std::fs::canonicalize(&repo_dir).unwrap());
        assert!(repo.has_commits());
        let head = repo.head_commit().unwrap();
        repo.create_branch_fs("warren/one", &head).unwrap().unwrap();
        assert!(repo.branch_exists("warren/one"));
        repo.delete_branch("warren/one").unwrap();
        assert!(!repo.branch_exists("warren/one"));
    }

    #[test]
    fn refs_read_without_git_match_git() {
        let dir = tempfile::tempdir().unwrap();
        init_repo(dir.path());
        let repo = Repo::discover(dir.path()).unwrap();
        let head = git(dir.path(), ["rev-parse", "HEAD"]).unwrap();
        assert_eq!(repo.head_commit().as_deref(), Some(head.as_str()));
        assert!(repo.branch_exists("main"));
        assert!(!repo.branch_exists("warren/nope"));
        git(dir.path(), ["branch", "warren/packed"]).unwrap();
        git(dir.path(), ["pack-refs", "--all"]).unwrap();
        assert_eq!(
            repo.branch_tip("warren/packed").as_deref(),
            Some(head.as_str())
        );
        assert!(repo.has_commits());
        let empty = tempfile::tempdir().unwrap();
        git(empty.path(), ["init", "--quiet", "-b", "main"]).unwrap();
        assert!(!Repo::discover(empty.path()).unwrap().has_commits());
    }

    #[test]
    fn not_a_repo() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(matches!(
            Repo::discover(tmp.path()),
            Err(GitError::NotARepo(_))
        ));
    }
}
