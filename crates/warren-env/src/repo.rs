//! Each environment owns its repository (docs/SECURITY.md).
//!
//! An environment's tree holds a repository of its own (`TREE/.git`, a plain
//! directory), on branch `warren/NAME`. Its objects fall back, through
//! `objects/info/alternates`, on the main repository's object directory,
//! which environments see read-only; everything an agent writes — objects,
//! refs, config, hooks, index — lands in the environment's own `.git`.
//! Nothing of the main repository is writable from an environment, and no
//! environment sees another's repository.
//!
//! The host never runs git *in* an environment's repository (git would read
//! its config: `core.fsmonitor`, hooks, `include.path`, filter drivers… all
//! written by the agent). What the host needs from it:
//!
//! - the branch tip: read as a file and checked to be a hash ([`tip`]);
//! - its commits: made into a bundle by git *inside* the environment, and
//!   fetched into the main repository's `refs/heads/warren/NAME` by the
//!   host's git with `transfer.fsckObjects` ([`fetch_bundle`]): a bundle is
//!   data, verified object by object, and that ref is the only one written;
//! - whether the tree has uncommitted changes: the host's git compares the
//!   tree with the tip using the *main* repository as git dir and a private
//!   index, with attributes taken from the empty tree, so no file of the
//!   environment is interpreted ([`status`]).
//!
//! Creating one is `read-tree -u` into a directory warren just made (git
//! reads only what warren wrote there), or taking a ready one from the
//! project's pool (see [`crate::pool`]).

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::git::{GitError, Repo};

/// The empty tree of SHA-1 repositories: attributes are read from it, so
/// `.gitattributes` in an environment's tree name no driver.
const EMPTY_TREE_SHA1: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
/// The empty tree of SHA-256 repositories.
const EMPTY_TREE_SHA256: &str = "6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321";

/// Whether `s` is an object name (SHA-1 or SHA-256, lower-case hex).
pub fn is_object_name(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64)
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A `git` command that reads no system or global configuration beyond
/// the user's own and runs no hook: the host's git for warren's own work.
pub(crate) fn host_git() -> Command {
    let mut c = Command::new("git");
    c.stdin(Stdio::null())
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_OBJECT_DIRECTORY")
        .env_remove("GIT_ALTERNATE_OBJECT_DIRECTORIES")
        .env_remove("GIT_COMMON_DIR")
        .args([
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "core.fsmonitor=false",
        ]);
    c
}

pub(crate) fn run(mut cmd: Command, what: &str) -> Result<String, GitError> {
    let out = cmd.output().map_err(GitError::Spawn)?;
    if !out.status.success() {
        return Err(GitError::Failed {
            args: what.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// [`run`], its output as bytes (a patch may not be UTF-8).
pub(crate) fn run_bytes(mut cmd: Command, what: &str) -> Result<Vec<u8>, GitError> {
    let out = cmd.output().map_err(GitError::Spawn)?;
    if !out.status.success() {
        return Err(GitError::Failed {
            args: what.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out.stdout)
}

/// The object directories an environment needs to see (read-only): the main
/// repository's, and those it borrows from itself through its own
/// alternates (the main repository is trusted).
pub fn object_dirs(main: &Repo) -> Vec<PathBuf> {
    let objects = main.git_dir.join("objects");
    let objects = std::fs::canonicalize(&objects).unwrap_or(objects);
    let mut dirs = vec![objects.clone()];
    if let Ok(text) = std::fs::read_to_string(objects.join("info/alternates")) {
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let p = objects.join(line);
            if let Ok(p) = std::fs::canonicalize(p) {
                dirs.push(p);
            }
        }
    }
    dirs
}

/// The `[core]`/`[extensions]` lines of a new repository in the object
/// format of `main`.
pub(crate) fn config_text(main: &Repo) -> String {
    let sha256 = std::fs::read_to_string(main.git_dir.join("config")).is_ok_and(|c| {
        c.lines()
            .map(|l| l.trim().to_ascii_lowercase().replace(' ', ""))
            .any(|l| l == "objectformat=sha256")
    });
    let mut s = format!(
        "[core]\n\trepositoryformatversion = {}\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = true\n",
        if sha256 { 1 } else { 0 }
    );
    if sha256 {
        s.push_str("[extensions]\n\tobjectformat = sha256\n");
    }
    s
}

/// Writes `text` to `dir/rel`, making the directories between.
pub(crate) fn write_under(dir: &Path, rel: &str, text: &str) -> Result<(), GitError> {
    let p = dir.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).map_err(GitError::Spawn)?;
    }
    std::fs::write(&p, text).map_err(GitError::Spawn)
}

/// `objects/info/alternates` of a repository borrowing `main`'s objects.
pub(crate) fn alternates_text(main: &Repo) -> String {
    object_dirs(main)
        .iter()
        .take(1)
        .map(|d| format!("{}\n", d.display()))
        .collect()
}

/// Makes `tree` (which must not exist) a checkout of `base` in a repository
/// of its own on `branch`, borrowing `main`'s objects.
pub fn create(main: &Repo, tree: &Path, branch: &str, base: &str) -> Result<(), GitError> {
    if !is_object_name(base) {
        return Err(GitError::Failed {
            args: "create".into(),
            stderr: format!("`{base}` is not a commit"),
        });
    }
    if let Some(parent) = tree.parent() {
        std::fs::create_dir_all(parent).map_err(GitError::Spawn)?;
    }
    std::fs::create_dir(tree).map_err(GitError::Spawn)?;
    let git_dir = tree.join(".git");
    let write = |rel: &str, text: &str| write_under(&git_dir, rel, text);
    let alternates = alternates_text(main);
    write("HEAD", &format!("ref: refs/heads/{branch}\n"))?;
    write("config", &config_text(main))?;
    write("objects/info/alternates", &alternates)?;
    write(&format!("refs/heads/{branch}"), &format!("{base}\n"))?;
    std::fs::create_dir_all(git_dir.join("refs/tags")).map_err(GitError::Spawn)?;
    let mut cmd = host_git();
    cmd.arg("--git-dir")
        .arg(&git_dir)
        .arg("--work-tree")
        .arg(tree)
        .args(["read-tree", "-u", "--reset", base]);
    run(cmd, "read-tree").map(|_| ())
}

/// Sets the branch of a repository `create`d for another name (a pool
/// entry, whose ref the caller checked is at `base`): `HEAD` and
/// `refs/heads/<branch>` at `base`, the old ref gone.
pub fn rename_branch(tree: &Path, from: &str, to: &str, base: &str) -> std::io::Result<()> {
    let git_dir = tree.join(".git");
    let new_ref = git_dir.join(format!("refs/heads/{to}"));
    if let Some(parent) = new_ref.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let old = git_dir.join(format!("refs/heads/{from}"));
    // The ref file moves rather than being written anew: an environment is
    // created on a hot path, and a file system without a journal (ext4)
    // makes every new inode skip the recently freed ones.
    if read_untrusted(&old).is_some_and(|t| t.trim() == base) {
        std::fs::rename(&old, &new_ref)?;
    } else {
        std::fs::write(&new_ref, format!("{base}\n"))?;
        std::fs::remove_file(&old)?;
    }
    std::fs::write(git_dir.join("HEAD"), format!("ref: refs/heads/{to}\n"))?;
    if let Some(dir) = old.parent()
        && dir != git_dir.join("refs/heads")
    {
        let _ = std::fs::remove_dir(dir);
    }
    Ok(())
}

/// Reads a small regular file that the agent could have written, without
/// following a symlink at its last component and refusing anything but a
/// regular file of at most 64 KiB.
fn read_untrusted(path: &Path) -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let meta = f.metadata().ok()?;
    if !meta.is_file() || meta.len() > 64 << 10 {
        return None;
    }
    let mut text = String::new();
    f.take(64 << 10).read_to_string(&mut text).ok()?;
    Some(text)
}

/// The commit `branch` points at in the environment's repository at
/// `tree`: read as data (loose ref, else `packed-refs`) and accepted only if
/// it is an object name. `None` when the agent made it unreadable.
pub fn tip(tree: &Path, branch: &str) -> Option<String> {
    let git_dir = tree.join(".git");
    let meta = std::fs::symlink_metadata(&git_dir).ok()?;
    if !meta.is_dir() {
        return None;
    }
    let name = format!("refs/heads/{branch}");
    if let Some(text) = read_untrusted(&git_dir.join(&name)) {
        let sha = text.trim();
        return is_object_name(sha).then(|| sha.to_string());
    }
    read_untrusted(&git_dir.join("packed-refs"))?
        .lines()
        .filter(|l| !l.starts_with(['#', '^']))
        .find_map(|l| {
            let (sha, r) = l.split_once(' ')?;
            (r.trim() == name && is_object_name(sha)).then(|| sha.to_string())
        })
}

/// Whether `commit` exists in the main repository.
pub fn has_commit(main: &Repo, commit: &str) -> bool {
    if !is_object_name(commit) {
        return false;
    }
    let mut cmd = host_git();
    cmd.arg("--git-dir").arg(&main.git_dir).args([
        "cat-file",
        "-e",
        &format!("{commit}^{{commit}}"),
    ]);
    run(cmd, "cat-file").is_ok()
}

/// Points the main repository's `refs/heads/<branch>` at `commit` (which
/// it has), whatever it pointed at before.
pub fn set_branch(main: &Repo, branch: &str, commit: &str) -> Result<(), GitError> {
    let mut cmd = host_git();
    cmd.arg("--git-dir").arg(&main.git_dir).args([
        "update-ref",
        &format!("refs/heads/{branch}"),
        commit,
    ]);
    run(cmd, "update-ref").map(|_| ())
}

/// Fetches `refs/heads/<branch>` of the bundle at `bundle` into the same
/// ref of the main repository, every object checked (`fsck`). Only that
/// ref is written; the bundle's other refs are ignored.
pub fn fetch_bundle(main: &Repo, bundle: &Path, branch: &str) -> Result<(), GitError> {
    let refspec = format!("+refs/heads/{branch}:refs/heads/{branch}");
    let mut cmd = host_git();
    cmd.arg("--git-dir")
        .arg(&main.git_dir)
        .args([
            "-c",
            "transfer.fsckObjects=true",
            "-c",
            "fetch.fsckObjects=true",
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--no-recurse-submodules",
        ])
        .arg(bundle)
        .arg(&refspec);
    run(cmd, "fetch <bundle>").map(|_| ())
}

/// The uncommitted changes of the environment's tree against `commit`
/// (which the main repository has), as `git status --porcelain` lines.
///
/// The host's git runs with a git dir of warren's own under `scratch`
/// (HEAD at `commit`, the main repository's objects borrowed, a fresh
/// index): it reads the tree's files as data. Attributes come from the
/// empty tree (so `.gitattributes` in the tree cannot select a filter
/// driver configured for the user), submodules are ignored (git would run
/// itself in them), and no fsmonitor or hook runs.
pub fn status(
    main: &Repo,
    tree: &Path,
    commit: &str,
    scratch: &Path,
) -> Result<Vec<String>, GitError> {
    let shadow = scratch.join(format!(
        "status-{}-{}",
        std::process::id(),
        warren_core::secret::random_u64() % 1_000_000
    ));
    let result = shadow_status(main, tree, commit, &shadow);
    let _ = std::fs::remove_dir_all(&shadow);
    result
}

fn shadow_status(
    main: &Repo,
    tree: &Path,
    commit: &str,
    shadow: &Path,
) -> Result<Vec<String>, GitError> {
    if !is_object_name(commit) {
        return Err(GitError::Failed {
            args: "status".into(),
            stderr: format!("`{commit}` is not a commit"),
        });
    }
    let write = |rel: &str, text: &str| write_under(shadow, rel, text);
    let objects = alternates_text(main);
    write("HEAD", &format!("{commit}\n"))?;
    write(
        "config",
        &config_text(main).replace("bare = false", "bare = true"),
    )?;
    write("objects/info/alternates", &objects)?;
    std::fs::create_dir_all(shadow.join("refs")).map_err(GitError::Spawn)?;
    let base = |c: &mut Command| {
        c.env("GIT_ATTR_SOURCE", empty_tree(commit))
            .arg("--git-dir")
            .arg(shadow)
            .arg("--work-tree")
            .arg(tree)
            .args([
                "-c",
                "core.untrackedCache=false",
                "-c",
                "core.quotePath=true",
                "-c",
                "status.showUntrackedFiles=normal",
                "-c",
                "submodule.recurse=false",
                "-c",
                "diff.ignoreSubmodules=all",
            ]);
    };
    let mut read = host_git();
    base(&mut read);
    read.args(["read-tree", commit]);
    run(read, "read-tree")?;
    let mut st = host_git();
    base(&mut st);
    st.args([
        "status",
        "--porcelain",
        "--ignore-submodules=all",
        "--no-renames",
    ]);
    Ok(run(st, "status")?
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

pub(crate) fn empty_tree(commit: &str) -> &'static str {
    if commit.len() == 64 {
        EMPTY_TREE_SHA256
    } else {
        EMPTY_TREE_SHA1
    }
}

/// Moves a tree out of the way at once (a rename into `trash`, emptied
/// later by the pool filler), else deletes it here.
pub fn discard(tree: &Path, trash: &Path) -> std::io::Result<()> {
    let meta = match std::fs::symlink_metadata(tree) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if meta.is_dir() && std::fs::create_dir_all(trash).is_ok() {
        let target = trash.join(format!(
            "{}-{}-{}",
            tree.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id(),
            warren_core::secret::random_u64() % 1_000_000
        ));
        // Same file system as the trash (both under the warren root).
        if std::fs::metadata(trash).is_ok_and(|t| t.dev() == meta.dev())
            && std::fs::rename(tree, &target).is_ok()
        {
            return Ok(());
        }
    }
    if meta.is_dir() {
        std::fs::remove_dir_all(tree)
    } else {
        std::fs::remove_file(tree)
    }
}

/// Empties `trash` (what [`discard`] moved there).
pub fn empty_trash(trash: &Path) {
    if let Ok(entries) = std::fs::read_dir(trash) {
        for e in entries.flatten() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Writes `bytes` to a new 0600 file.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.flush()
}

/// Arguments of the git command that makes the bundle, run inside the
/// environment: the branch, minus what the main repository already has.
pub fn bundle_argv(branch: &str, have: &str) -> Vec<String> {
    [
        "git",
        "-c",
        "core.fsmonitor=false",
        "bundle",
        "create",
        "--quiet",
        "-",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("refs/heads/{branch}"), format!("^{have}")])
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::git;

    fn main_repo(dir: &Path) -> (Repo, String) {
        crate::git::tests::init_repo(dir);
        std::fs::write(dir.join("a.txt"), "a\n").unwrap();
        git(dir, ["add", "a.txt"]).unwrap();
        crate::git::tests::commit(dir, "a");
        let head = git(dir, ["rev-parse", "HEAD"]).unwrap();
        (Repo::at_checkout(dir), head)
    }

    #[test]
    fn an_environment_repository_borrows_objects_and_owns_everything_else() {
        let tmp = tempfile::tempdir().unwrap();
        let main_dir = tmp.path().join("main");
        std::fs::create_dir_all(&main_dir).unwrap();
        let (main, head) = main_repo(&main_dir);
        let tree = tmp.path().join("env");
        create(&main, &tree, "warren/env", &head).unwrap();
        assert_eq!(std::fs::read_to_string(tree.join("a.txt")).unwrap(), "a\n");
        assert_eq!(tip(&tree, "warren/env").as_deref(), Some(head.as_str()));
        // git itself agrees: clean, on its own branch, no other refs.
        assert_eq!(git(&tree, ["status", "--porcelain"]).unwrap(), "");
        assert_eq!(
            git(&tree, ["for-each-ref", "--format=%(refname)"]).unwrap(),
            "refs/heads/warren/env"
        );
        // A commit inside lands in the environment's objects, not main's.
        std::fs::write(tree.join("b.txt"), "b\n").unwrap();
        git(&tree, ["add", "b.txt"]).unwrap();
        crate::git::tests::commit(&tree, "b");
        let new = tip(&tree, "warren/env").unwrap();
        assert!(!has_commit(&main, &new));
        // Brought back through a bundle, into warren/env only.
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(&tree)
            .args(&bundle_argv("warren/env", &head)[1..])
            .output()
            .unwrap();
        assert!(out.status.success());
        let bundle = tmp.path().join("b.bundle");
        write_private(&bundle, &out.stdout).unwrap();
        fetch_bundle(&main, &bundle, "warren/env").unwrap();
        assert_eq!(main.branch_tip("warren/env").as_deref(), Some(new.as_str()));
        assert_eq!(
            status(&main, &tree, &new, &tmp.path().join("s")).unwrap(),
            Vec::<String>::new()
        );
        std::fs::write(tree.join("a.txt"), "changed\n").unwrap();
        std::fs::write(tree.join("c.txt"), "new\n").unwrap();
        assert_eq!(
            status(&main, &tree, &new, &tmp.path().join("s")).unwrap(),
            [" M a.txt", "?? c.txt"]
        );
    }

    #[test]
    fn a_tip_is_data() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = tmp.path().join("t");
        std::fs::create_dir_all(tree.join(".git/refs/heads/warren")).unwrap();
        let r = tree.join(".git/refs/heads/warren/x");
        std::fs::write(&r, "not a sha\n").unwrap();
        assert_eq!(tip(&tree, "warren/x"), None);
        std::fs::remove_file(&r).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", &r).unwrap();
        assert_eq!(tip(&tree, "warren/x"), None, "no symlinks followed");
        std::fs::remove_file(&r).unwrap();
        std::fs::write(
            tree.join(".git/packed-refs"),
            format!("# pack-refs\n{} refs/heads/warren/x\n", "a".repeat(40)),
        )
        .unwrap();
        assert_eq!(tip(&tree, "warren/x"), Some("a".repeat(40)));
    }
}
