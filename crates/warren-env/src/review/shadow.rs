//! The host's view of environments' trees, as data.
//!
//! Review (`diff`, `conflicts`, `checkpoint`, `apply`) needs each environment's
//! whole tree — commits, uncommitted and untracked files — as git objects the
//! host can compare. The host never runs git in an environment's repository
//! (see [`crate::repo`]): instead each project has a *shadow*, a bare git dir of
//! warren's own under the root (`ROOT/review/PROJECT-KEY`), borrowing the main
//! repository's objects. The host's git reads an environment's files through it
//! as data:
//!
//! - the work tree is the environment's tree, the index is the shadow's
//!   (`index-NAME`, kept between runs so only changed files are read again),
//!   the configuration is the shadow's and the user's, never the environment's;
//! - attributes come from the empty tree (`GIT_ATTR_SOURCE`), so a
//!   `.gitattributes` in the tree selects no filter or diff driver;
//! - no hook, no fsmonitor, no submodule recursion; `.git` entries are never
//!   read (git skips them), symlinks are recorded, not followed.
//!
//! New objects (the blobs of changed files, trees, warren's commits) land in the
//! shadow's own object directory.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::git::{GitError, Repo};
use crate::repo::{
    alternates_text, config_text, empty_tree, host_git, is_object_name, run, write_under,
};

/// A project's shadow git dir.
#[derive(Debug, Clone)]
pub struct Shadow {
    dir: PathBuf,
    main: Repo,
    /// The empty tree in the repository's object format.
    empty: &'static str,
}

/// Any 64-character name: [`empty_tree`] picks the SHA-256 empty tree for it.
const EMPTY_256_LEN: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who warren's own commits are by (checkpoints, snapshots).
const IDENTITY: [(&str, &str); 4] = [
    ("GIT_AUTHOR_NAME", "warren"),
    ("GIT_AUTHOR_EMAIL", "warren@localhost"),
    ("GIT_COMMITTER_NAME", "warren"),
    ("GIT_COMMITTER_EMAIL", "warren@localhost"),
];

impl Shadow {
    /// The shadow of `main` under `root`, made on first use.
    pub fn open(root: &Path, main: &Repo) -> Result<Shadow, GitError> {
        let git_dir = std::fs::canonicalize(&main.git_dir).unwrap_or(main.git_dir.clone());
        let name = main
            .root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "repo".into())
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(40)
            .collect::<String>();
        let dir = root.join("review").join(format!(
            "{name}-{:016x}",
            fnv(git_dir.as_os_str().as_encoded_bytes())
        ));
        let sha256 = config_text(main).contains("sha256");
        let shadow = Shadow {
            dir,
            main: main.clone(),
            empty: empty_tree(if sha256 { EMPTY_256_LEN } else { "" }),
        };
        if !shadow.dir.join("HEAD").exists() {
            shadow.make()?;
        }
        Ok(shadow)
    }

    /// Creates the git dir beside its final place and renames it there, so two
    /// processes never see half of one.
    fn make(&self) -> Result<(), GitError> {
        let parent = self.dir.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(parent).map_err(GitError::Spawn)?;
        let tmp = parent.join(format!(
            ".new-{}-{}",
            std::process::id(),
            warren_core::secret::random_u64() % 1_000_000
        ));
        let write = |rel: &str, text: &str| write_under(&tmp, rel, text);
        write(
            "config",
            &config_text(&self.main).replace("bare = false", "bare = true"),
        )?;
        write("objects/info/alternates", &alternates_text(&self.main))?;
        std::fs::create_dir_all(tmp.join("refs")).map_err(GitError::Spawn)?;
        // HEAD last: its presence means the rest is there.
        write("HEAD", "ref: refs/heads/none\n")?;
        set_private(&tmp);
        match std::fs::rename(&tmp, &self.dir) {
            Ok(()) => Ok(()),
            // Another process made it first.
            Err(_) if self.dir.join("HEAD").exists() => {
                let _ = std::fs::remove_dir_all(&tmp);
                Ok(())
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                Err(GitError::Spawn(e))
            }
        }
    }

    /// The shadow's git dir.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The main repository it borrows from.
    pub fn main(&self) -> &Repo {
        &self.main
    }

    /// The host's git on the shadow (no work tree): for `diff`, `merge-tree`,
    /// `cat-file` on objects it has.
    pub fn git(&self) -> Command {
        let mut c = host_git();
        c.env("GIT_ATTR_SOURCE", self.empty)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .arg("--git-dir")
            .arg(&self.dir)
            .args([
                "-c",
                "core.quotePath=true",
                "-c",
                "diff.ignoreSubmodules=all",
            ]);
        c
    }

    /// The host's git reading `tree` as the work tree, through the index of
    /// environment `name`.
    fn git_on(&self, name: &str, tree: &Path) -> Command {
        let mut c = self.git();
        c.env("GIT_INDEX_FILE", self.index(name))
            .arg("--work-tree")
            .arg(tree)
            .args([
                "-c",
                "core.untrackedCache=false",
                "-c",
                "submodule.recurse=false",
                "-c",
                "core.autocrlf=false",
                "-c",
                "core.safecrlf=false",
            ]);
        c
    }

    fn index(&self, name: &str) -> PathBuf {
        self.dir.join(format!("index-{name}"))
    }

    /// Environment `name`'s whole tree (`tree` on the host), as a tree object:
    /// every tracked and untracked, not ignored, file as it is now. `base` (a
    /// commit the main repository has) seeds the index the first time, so that
    /// unchanged files are not read again.
    pub fn tree_of(&self, name: &str, tree: &Path, base: &str) -> Result<String, GitError> {
        if !is_object_name(base) {
            return Err(failed("read-tree", format!("`{base}` is not a commit")));
        }
        let meta = std::fs::symlink_metadata(tree).map_err(GitError::Spawn)?;
        if !meta.is_dir() {
            return Err(failed(
                "add",
                format!("`{}` is not a directory", tree.display()),
            ));
        }
        let _lock = Lock::take(&self.dir.join(format!("index-{name}.flock")))?;
        if !self.index(name).exists() {
            let mut c = self.git_on(name, tree);
            c.args(["read-tree", base]);
            run(c, "read-tree")?;
        }
        let mut add = self.git_on(name, tree);
        // An unreadable file is left out (and shows as unchanged), not a failure.
        add.args(["add", "-A", "--ignore-errors", "--", "."]);
        let out = add.output().map_err(GitError::Spawn)?;
        if !out.status.success() && out.status.code() != Some(1) {
            return Err(failed(
                "add -A",
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ));
        }
        let mut w = self.git_on(name, tree);
        w.arg("write-tree");
        let sha = run(w, "write-tree")?.trim().to_string();
        if !is_object_name(&sha) {
            return Err(failed("write-tree", format!("printed `{sha}`")));
        }
        Ok(sha)
    }

    /// A commit of warren's own: `tree` with `parents` and `message`.
    pub fn commit(&self, tree: &str, parents: &[&str], message: &str) -> Result<String, GitError> {
        let mut c = self.git();
        c.envs(IDENTITY).args(["commit-tree", tree]);
        for p in parents {
            c.args(["-p", p]);
        }
        c.args(["-m", message]);
        let sha = run(c, "commit-tree")?.trim().to_string();
        if !is_object_name(&sha) {
            return Err(failed("commit-tree", format!("printed `{sha}`")));
        }
        Ok(sha)
    }

    /// Points the shadow's `refname` at `commit`.
    pub fn set_ref(&self, refname: &str, commit: &str) -> Result<(), GitError> {
        let mut c = self.git();
        c.args(["update-ref", refname, commit]);
        run(c, "update-ref").map(|_| ())
    }

    /// Copies `commit` (and what it needs) into the main repository as
    /// `refname` (under `refs/warren/`): the main repository's git fetches it
    /// from the shadow, which only warren writes.
    pub fn publish(&self, commit: &str, refname: &str) -> Result<(), GitError> {
        if !refname.starts_with("refs/warren/") {
            return Err(failed("fetch", format!("`{refname}` is not warren's")));
        }
        let staging = format!("refs/publish/{}", warren_core::secret::random_u64());
        self.set_ref(&staging, commit)?;
        let mut c = host_git();
        c.arg("--git-dir")
            .arg(&self.main.git_dir)
            .args([
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-write-fetch-head",
                "--no-recurse-submodules",
            ])
            .arg(&self.dir)
            .arg(format!("+{staging}:{refname}"));
        let r = run(c, "fetch <shadow>").map(|_| ());
        let mut d = self.git();
        d.args(["update-ref", "-d", &staging]);
        let _ = run(d, "update-ref -d");
        r
    }

    /// Forgets environment `name` (its index).
    pub fn forget(&self, name: &str) {
        let _ = std::fs::remove_file(self.index(name));
        let _ = std::fs::remove_file(self.dir.join(format!("index-{name}.flock")));
    }
}

fn failed(what: &str, stderr: String) -> GitError {
    GitError::Failed {
        args: what.to_string(),
        stderr,
    }
}

/// FNV-1a: a stable short key for a path (not a secret).
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    })
}

fn set_private(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
}

/// An exclusive `flock` held while it lives (one index user at a time).
struct Lock {
    _file: std::fs::File,
}

impl Lock {
    fn take(path: &Path) -> Result<Lock, GitError> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(GitError::Spawn)?;
        rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| GitError::Spawn(e.into()))?;
        let _ = f.flush();
        Ok(Lock { _file: f })
    }
}
