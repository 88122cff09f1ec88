//! Git operations done on the repository's files, without starting git.
//!
//! A git process costs 1.5–3 ms, and creating plus removing an environment
//! needs several; for `run --rm` on the sandbox that is most of the time.
//! These cover only the plain case (the files ref backend, loose refs, no
//! `GIT_*` overrides, a `.git` owned by this user) and answer `None` for
//! anything else, so the caller asks git and behaviour stays exactly git's.
//! Ref updates take git's own `<ref>.lock` files, so they interleave safely
//! with a git process working on the same repository.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::git::Repo;

/// Variables that change how git finds or reads a repository: with any of
/// them set, discovery is left to git.
const DISCOVERY_VARS: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_COMMON_DIR",
    "GIT_CEILING_DIRECTORIES",
    "GIT_DISCOVERY_ACROSS_FILESYSTEM",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
];

fn is_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn owned_by_us(meta: &std::fs::Metadata) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    meta.uid() == unsafe { libc::geteuid() }
}

/// Finds the repository containing `path` the way `git rev-parse
/// --git-common-dir --show-toplevel` would, for a plain layout: a main
/// checkout (`.git` directory) or a linked worktree (`.git` file pointing
/// into `<common>/worktrees/`). `None` means "ask git" (including when no
/// repository is found, so git's own error is reported).
pub fn discover(path: &Path) -> Option<Repo> {
    if DISCOVERY_VARS.iter().any(|v| std::env::var_os(v).is_some()) {
        return None;
    }
    let start = std::fs::canonicalize(path).ok()?;
    let dev = std::fs::metadata(&start).ok()?.dev();
    for dir in start.ancestors() {
        let meta = std::fs::metadata(dir).ok()?;
        // git stops at a file-system boundary; leave that case to it.
        if meta.dev() != dev {
            return None;
        }
        // A bare repository (or being inside a `.git`): git's business.
        if dir.join("HEAD").is_file() && dir.join("objects").is_dir() {
            return None;
        }
        let dotgit = dir.join(".git");
        let dmeta = match std::fs::symlink_metadata(&dotgit) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(_) => return None,
        };
        // git refuses repositories of other users ("dubious ownership").
        if !owned_by_us(&meta) || !owned_by_us(&dmeta) {
            return None;
        }
        if dmeta.is_dir() {
            if !dotgit.join("HEAD").is_file() || dotgit.join("commondir").exists() {
                return None;
            }
            return Some(Repo {
                root: dir.to_path_buf(),
                git_dir: dotgit,
            });
        }
        if !dmeta.is_file() {
            return None;
        }
        let admin = read_gitdir_file(&dotgit)?;
        let common = std::fs::read_to_string(admin.join("commondir")).ok()?;
        let common = std::fs::canonicalize(admin.join(common.trim())).ok()?;
        if common.file_name()? != ".git" || admin.parent()? != common.join("worktrees") {
            return None;
        }
        let root = common.parent()?.to_path_buf();
        return Some(Repo {
            root,
            git_dir: common,
        });
    }
    None
}

/// The admin directory a worktree's `.git` file points at (`gitdir: X`).
pub fn read_gitdir_file(dotgit: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(dotgit).ok()?;
    let target = text
        .strip_prefix("gitdir: ")?
        .trim_end_matches(['\n', '\r']);
    let target = Path::new(target);
    let admin = if target.is_absolute() {
        target.to_path_buf()
    } else {
        dotgit.parent()?.join(target)
    };
    std::fs::canonicalize(admin).ok()
}

/// Writes `contents` to `path` through `path.lock` (created exclusively, as
/// git does), then renames it into place.
pub fn write_locked(path: &Path, contents: &str) -> std::io::Result<()> {
    let lock = lock_path(path);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&lock)?;
    let written = f.write_all(contents.as_bytes()).and_then(|()| f.flush());
    drop(f);
    match written.and_then(|()| std::fs::rename(&lock, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&lock);
            Err(e)
        }
    }
}

fn lock_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".lock");
    PathBuf::from(s)
}

/// A branch name warren creates: `warren/<name>` with a validated name.
fn plain_branch(branch: &str) -> bool {
    !branch.is_empty()
        && branch.split('/').all(|c| {
            !c.is_empty()
                && !c.starts_with('.')
                && !c.ends_with(".lock")
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl Repo {
    /// Whether refs live in plain files (not reftable) and `name` is not in
    /// `packed-refs`: then a loose ref file is the whole truth about it.
    fn loose_only(&self, name: &str) -> Option<()> {
        if self.git_dir.join("reftable").exists() {
            return None;
        }
        matches!(self.packed_ref(name), Ok(None)).then_some(())
    }

    /// Creates `refs/heads/<branch>` at `sha` (it must not exist). `None`
    /// when this needs git; `Some(Err)` when the ref exists or is locked.
    pub fn create_branch_fs(&self, branch: &str, sha: &str) -> Option<std::io::Result<()>> {
        let name = format!("refs/heads/{branch}");
        if !plain_branch(branch) || !is_sha(sha) {
            return None;
        }
        self.loose_only(&name)?;
        let path = self.git_dir.join(&name);
        std::fs::create_dir_all(path.parent()?).ok()?;
        if path.exists() {
            return Some(Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("branch `{branch}` already exists"),
            )));
        }
        Some(write_locked(&path, &format!("{sha}\n")))
    }

    /// Deletes `refs/heads/<branch>` and its reflog, like `git branch -D`.
    /// `None` when this needs git: the ref is packed, the branch has config
    /// (`[branch "…"]`, which git removes too), or the layout is unusual.
    pub fn delete_branch_fs(&self, branch: &str) -> Option<std::io::Result<()>> {
        let name = format!("refs/heads/{branch}");
        if !plain_branch(branch) {
            return None;
        }
        self.loose_only(&name)?;
        let config = std::fs::read_to_string(self.git_dir.join("config")).ok()?;
        if config.contains(&format!("[branch \"{branch}\"]")) {
            return None;
        }
        let path = self.git_dir.join(&name);
        let lock = lock_path(&path);
        let guard = match OpenOptions::new().write(true).create_new(true).open(&lock) {
            Ok(f) => f,
            Err(e) => return Some(Err(e)),
        };
        let result = std::fs::remove_file(&path);
        drop(guard);
        let _ = std::fs::remove_file(&lock);
        if result.is_ok() {
            let _ = std::fs::remove_file(self.git_dir.join("logs").join(&name));
            // Empty directories below `refs/heads/warren/` go, as git
            // removes them; `refs/heads/warren/` itself stays for the next
            // environment (git reads an empty ref directory as no refs), so
            // an environment's life makes and frees no directory here.
            for base in [self.git_dir.clone(), self.git_dir.join("logs")] {
                let mut dir = base.join(&name);
                while dir.pop()
                    && dir != base.join("refs/heads")
                    && dir != base.join("refs/heads/warren")
                {
                    if std::fs::remove_dir(&dir).is_err() {
                        break;
                    }
                }
            }
        }
        Some(result)
    }
}

/// The user's git identity (`user.name`, `user.email`) as git would find
/// it for the repository at `git_dir`: system, XDG, global, then repository
/// config, the last one setting a key winning. Read without starting git
/// (environments are created on a hot path); `include`s are not followed.
pub fn user_identity(git_dir: &Path, home: Option<&Path>) -> (Option<String>, Option<String>) {
    let mut files = vec![PathBuf::from("/etc/gitconfig")];
    if let Some(h) = home {
        files.push(h.join(".config/git/config"));
        files.push(h.join(".gitconfig"));
    }
    files.push(git_dir.join("config"));
    let (mut name, mut email) = (None, None);
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        let mut in_user = false;
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                let section = line.trim_start_matches('[').split([']', ' ', '"']).next();
                in_user = section.is_some_and(|s| s.eq_ignore_ascii_case("user"));
                continue;
            }
            if !in_user || line.starts_with(['#', ';']) {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = config_value(value);
            if value.is_empty() {
                continue;
            }
            match key.trim().to_ascii_lowercase().as_str() {
                "name" => name = Some(value),
                "email" => email = Some(value),
                _ => {}
            }
        }
    }
    (name, email)
}

/// A config value: unquoted, without a trailing comment.
fn config_value(raw: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    let mut chars = raw.trim().chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' => {
                if let Some(n) = chars.next() {
                    out.push(match n {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                }
            }
            '#' | ';' if !quoted => break,
            c => out.push(c),
        }
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::git;
    use crate::git::tests::init_repo;

    #[test]
    fn identity_as_git_finds_it() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let repo = tmp.path().join("repo");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&repo).unwrap();
        init_repo(&repo);
        std::fs::write(
            home.join(".gitconfig"),
            "[core]\n\tname = not-this\n[user]\n\tname = \"Ada L\" # comment\n\temail = ada@example.org\n",
        )
        .unwrap();
        let git_dir = repo.join(".git");
        let (name, email) = user_identity(&git_dir, Some(&home));
        assert_eq!(name.as_deref(), Some("Ada L"));
        assert_eq!(email.as_deref(), Some("ada@example.org"));
        git(&repo, ["config", "user.email", "repo@example.org"]).unwrap();
        assert_eq!(
            user_identity(&git_dir, Some(&home)).1.as_deref(),
            Some("repo@example.org"),
            "repository config wins"
        );
        // What git itself says.
        let out = std::process::Command::new("git")
            .args(["-C", &repo.to_string_lossy(), "config", "user.name"])
            .env("HOME", &home)
            .env_remove("XDG_CONFIG_HOME")
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Ada L");
    }

    #[test]
    fn discovery_matches_git() {
        let tmp = tempfile::tempdir().unwrap();
        let repo_dir = tmp.path().join("repo");
        std::fs::create_dir_all(repo_dir.join("a/b")).unwrap();
        init_repo(&repo_dir);
        let by_git = Repo::discover_with_git(&repo_dir.join("a/b")).unwrap();
        assert_eq!(discover(&repo_dir.join("a/b")), Some(by_git.clone()));
        let wt = tmp.path().join("wt");
        git(
            &repo_dir,
            ["worktree", "add", "--quiet", wt.to_str().unwrap()],
        )
        .unwrap();
        std::fs::create_dir(wt.join("sub")).unwrap();
        assert_eq!(discover(&wt.join("sub")), Some(by_git));
        // Not a repository: left to git, which says so.
        let plain = tempfile::tempdir().unwrap();
        assert_eq!(discover(plain.path()), None);
    }

    #[test]
    fn branch_create_and_delete_match_git() {
        let tmp = tempfile::tempdir().unwrap();
        init_repo(tmp.path());
        let repo = Repo::discover(tmp.path()).unwrap();
        let head = repo.head_commit().unwrap();
        repo.create_branch_fs("warren/one", &head).unwrap().unwrap();
        assert_eq!(
            git(tmp.path(), ["rev-parse", "refs/heads/warren/one"]).unwrap(),
            head
        );
        assert!(repo.create_branch_fs("warren/one", &head).unwrap().is_err());
        repo.delete_branch_fs("warren/one").unwrap().unwrap();
        assert!(!repo.branch_exists("warren/one"));
        assert_eq!(
            git(tmp.path(), ["branch", "--list", "warren/*"]).unwrap(),
            ""
        );
        // The empty `refs/heads/warren/` left for the next environment is
        // no ref to git, and no obstacle to a branch named `warren`.
        git(tmp.path(), ["branch", "warren"]).unwrap();
        git(tmp.path(), ["branch", "-D", "warren"]).unwrap();
        // A packed ref or one with config is git's to delete.
        git(tmp.path(), ["branch", "warren/packed"]).unwrap();
        git(tmp.path(), ["pack-refs", "--all"]).unwrap();
        assert!(repo.delete_branch_fs("warren/packed").is_none());
        git(tmp.path(), ["branch", "warren/cfg"]).unwrap();
        git(tmp.path(), ["config", "branch.warren/cfg.remote", "origin"]).unwrap();
        assert!(repo.delete_branch_fs("warren/cfg").is_none());
    }
}
