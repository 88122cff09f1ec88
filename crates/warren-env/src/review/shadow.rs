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
//!   (`envs/NAME/index`, kept between runs so only changed files are read again),
//!   the configuration is the shadow's and the user's, never the environment's;
//!   a capture hashes again only what `git status` (stat data, the untracked
//!   cache, ctime included) says changed since the last one;
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

use super::feed::Feed;
use super::unchanged;
use crate::git::{GitError, Repo};
use crate::repo::{
    alternates_text, config_text, empty_tree, host_git, is_object_name, run, run_bytes, write_under,
};

/// A project's shadow git dir.
#[derive(Debug, Clone)]
pub struct Shadow {
    dir: PathBuf,
    main: Repo,
    /// The empty tree in the repository's object format.
    empty: &'static str,
}

/// The feed token the last capture was made under, with the tree it made.
const FED: &str = "fed";
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

    /// The host's git reading `tree` as the work tree, in environment `name`'s
    /// own git dir `admin` (its index and `HEAD`; objects and refs are the
    /// shadow's).
    fn git_on(&self, admin: &Path, tree: &Path) -> Command {
        let mut c = host_git();
        c.env("GIT_ATTR_SOURCE", self.empty)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .arg("--git-dir")
            .arg(admin)
            .arg("--work-tree")
            .arg(tree)
            .args([
                "-c",
                "core.quotePath=true",
                "-c",
                "diff.ignoreSubmodules=all",
                // The untracked cache skips reading directories whose stat data
                // is unchanged. It is safe against a tree that lies: git checks
                // the ctime too (which no one can set), never only the mtime.
                "-c",
                "core.untrackedCache=true",
                "-c",
                "core.trustctime=true",
                // The untracked cache is made for the mode this setting names
                // (not `-uall`'s): without it, a cache made for the default
                // mode never answers `-uall` and every directory is read again.
                "-c",
                "status.showUntrackedFiles=all",
                "-c",
                "core.checkStat=default",
                // An index warren reads itself (`unchanged.rs`): entries in
                // the plain format, all in one file.
                "-c",
                "index.version=2",
                "-c",
                "core.splitIndex=false",
                "-c",
                "submodule.recurse=false",
                "-c",
                "core.autocrlf=false",
                "-c",
                "core.safecrlf=false",
            ]);
        c
    }

    /// Environment `name`'s git dir in the shadow: a linked-worktree style
    /// directory (`commondir` points at the shadow) holding its own index and
    /// a `HEAD` at `base`, so that `git status` compares against it.
    fn admin(&self, name: &str, base: &str) -> Result<PathBuf, GitError> {
        if name.is_empty() || name.contains(['/', '\\', '\0']) || name.starts_with('.') {
            return Err(failed(
                "status",
                format!("`{name}` is not an environment name"),
            ));
        }
        let admin = self.dir.join("envs").join(name);
        let head = format!("{base}\n");
        if std::fs::read_to_string(admin.join("HEAD")).ok().as_deref() == Some(head.as_str()) {
            return Ok(admin);
        }
        std::fs::create_dir_all(&admin).map_err(GitError::Spawn)?;
        write_under(&admin, "commondir", "../..\n")?;
        write_under(&admin, "HEAD", &head)?;
        Ok(admin)
    }

    /// Environment `name`'s whole tree (`tree` on the host), as a tree object:
    /// every tracked and untracked, not ignored, file as it is now. `base` (a
    /// commit the main repository has) seeds the index the first time, so that
    /// unchanged files are not read again.
    ///
    /// One `git status` finds what changed since the last capture (stat data
    /// and the untracked cache: no file is read unless it changed); only those
    /// paths are hashed again. When nothing changed, the last tree is the
    /// answer.
    pub fn tree_of(&self, name: &str, tree: &Path, base: &str) -> Result<String, GitError> {
        self.tree_of_fed(name, tree, base, None)
    }

    /// [`Shadow::tree_of`], told by `feed` (when there is one) whether the tree
    /// changed since its last capture, instead of by the stat data of each of its
    /// files. Only for advisory views: see [`super::feed`] for what the feed
    /// does not hear of.
    pub fn tree_of_fed(
        &self,
        name: &str,
        tree: &Path,
        base: &str,
        feed: Option<&Feed>,
    ) -> Result<String, GitError> {
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
        let admin = self.admin(name, base)?;
        let captured = admin.join("captured");
        let fed = admin.join(FED);
        // Asked before anything looks at the tree: a change after this moves it.
        let token = feed.and_then(|f| f.token(tree));
        let inputs = unchanged::inputs(&self.dir);
        if let Some(token) = &token
            && admin.join("index").exists()
            && let Ok(last) = std::fs::read_to_string(&captured)
            && is_object_name(last.trim())
            && std::fs::read_to_string(&fed)
                .is_ok_and(|f| f == format!("{token} {}\n", last.trim()))
            && !unchanged::inputs_changed(&admin, &unchanged::stamp_inputs(&inputs))
        {
            return Ok(last.trim().to_string());
        }
        if token.is_some() {
            let _ = std::fs::remove_file(&fed);
        }
        let remember_token = |sha: &str| {
            if let Some(token) = &token {
                let _ = std::fs::write(&fed, format!("{token} {sha}\n"));
            }
        };
        // Most trees did not change since their last capture: stat data says so
        // without starting git.
        if admin.join("index").exists()
            && let Ok(last) = std::fs::read_to_string(&captured)
            && is_object_name(last.trim())
            && unchanged::unchanged(&admin, tree, last.trim(), self.empty.len() / 2)
        {
            remember_token(last.trim());
            return Ok(last.trim().to_string());
        }
        // Stamped before git looks, so that whatever changes after shows next time.
        let stamps = unchanged::stamp_dirs(&admin, tree, &inputs);
        let input_stamps = unchanged::stamp_inputs(&inputs);
        let inputs_changed = unchanged::inputs_changed(&admin, &input_stamps);
        let keep = |sha: &str| {
            unchanged::keep_inputs(&admin, &input_stamps);
            match &stamps {
                Some(s) => unchanged::save(&admin, sha, s),
                None => unchanged::forget(&admin),
            }
            remember_token(sha);
        };
        if !admin.join("index").exists() {
            let _ = std::fs::remove_file(&captured);
            let mut c = self.git_on(&admin, tree);
            c.args(["read-tree", base]);
            run(c, "read-tree")?;
        }
        let mut st = self.git_on(&admin, tree);
        st.args([
            "status",
            "--porcelain=v2",
            "-z",
            "--untracked-files=all",
            "--no-renames",
            "--ignore-submodules=all",
        ]);
        let changed = match run_bytes(st, "status") {
            Ok(out) => changed_paths(&out),
            // Anything status cannot say (a nested repository, a path git
            // will not name): the whole tree is read again.
            Err(_) => None,
        };
        // New ignore rules: files an earlier capture took in may be ignored now.
        // (git keeps whatever its index holds; it never drops one by itself.)
        let rules_changed = inputs_changed
            || changed.as_ref().is_none_or(|paths| {
                paths
                    .iter()
                    .any(|p| p.rsplit(|c| *c == b'/').next() == Some(b".gitignore".as_slice()))
            });
        if !rules_changed && changed.as_ref().is_some_and(Vec::is_empty) {
            let last = std::fs::read_to_string(&captured).unwrap_or_default();
            let last = last.trim();
            if is_object_name(last) {
                keep(last);
                return Ok(last.to_string());
            }
        }
        let _ = std::fs::remove_file(&captured);
        let updated = match &changed {
            Some(paths) if !paths.is_empty() => self.update_paths(&admin, tree, paths),
            Some(_) => true,
            None => false,
        };
        if !updated {
            let mut add = self.git_on(&admin, tree);
            // An unreadable file is left out (and shows as unchanged), not a failure.
            add.args(["add", "-A", "--ignore-errors", "--", "."]);
            let out = add.output().map_err(GitError::Spawn)?;
            if !out.status.success() && out.status.code() != Some(1) {
                return Err(failed(
                    "add -A",
                    String::from_utf8_lossy(&out.stderr).trim().to_string(),
                ));
            }
        }
        if rules_changed {
            self.drop_ignored(&admin, tree, base)?;
        }
        let mut w = self.git_on(&admin, tree);
        w.arg("write-tree");
        let sha = run(w, "write-tree")?.trim().to_string();
        if !is_object_name(&sha) {
            return Err(failed("write-tree", format!("printed `{sha}`")));
        }
        let _ = std::fs::write(&captured, format!("{sha}\n"));
        keep(&sha);
        Ok(sha)
    }

    /// Removes from the index at `admin` the files an earlier capture took in
    /// that the ignore rules now exclude. Files of `base` stay: like git, a
    /// tracked file is kept even when a rule matches it.
    fn drop_ignored(&self, admin: &Path, tree: &Path, base: &str) -> Result<(), GitError> {
        let mut ls = self.git_on(admin, tree);
        ls.args([
            "ls-files",
            "-z",
            "--cached",
            "--ignored",
            "--exclude-standard",
        ]);
        let ignored = run_bytes(ls, "ls-files --ignored")?;
        if ignored.is_empty() {
            return Ok(());
        }
        let mut lt = self.git();
        lt.args(["ls-tree", "-r", "-z", "--name-only", base]);
        let in_base = run_bytes(lt, "ls-tree")?;
        let in_base: std::collections::HashSet<&[u8]> = in_base
            .split(|c| *c == 0)
            .filter(|p| !p.is_empty())
            .collect();
        let gone: Vec<&[u8]> = ignored
            .split(|c| *c == 0)
            .filter(|p| !p.is_empty() && !in_base.contains(p))
            .collect();
        if gone.is_empty() {
            return Ok(());
        }
        self.update_index(admin, tree, &["--force-remove"], &gone)
    }

    /// Hashes `paths` again into `name`'s index (added, changed or gone).
    /// False when git refused one (unreadable, a directory now…): the caller
    /// then reads the whole tree.
    fn update_paths(&self, admin: &Path, tree: &Path, paths: &[Vec<u8>]) -> bool {
        let paths: Vec<&[u8]> = paths.iter().map(Vec::as_slice).collect();
        self.update_index(admin, tree, &["--add", "--remove", "--replace"], &paths)
            .is_ok()
    }

    /// `git update-index ARGS -z --stdin` on `name`'s index, fed `paths`.
    fn update_index(
        &self,
        admin: &Path,
        tree: &Path,
        args: &[&str],
        paths: &[&[u8]],
    ) -> Result<(), GitError> {
        let mut c = self.git_on(admin, tree);
        c.arg("update-index")
            .args(args)
            .args(["-z", "--stdin"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            // Not read while the paths are written: a full pipe would block both.
            .stderr(std::process::Stdio::null());
        let mut child = c.spawn().map_err(GitError::Spawn)?;
        let mut input = Vec::new();
        for p in paths {
            input.extend_from_slice(p);
            input.push(0);
        }
        // Written before the wait; a git that exits early closes the pipe.
        let wrote = child.stdin.take().map(|mut stdin| stdin.write_all(&input));
        let status = child.wait().map_err(GitError::Spawn)?;
        if !status.success() {
            return Err(failed(
                &format!("update-index {}", args.join(" ")),
                format!("git {status}"),
            ));
        }
        match wrote {
            Some(Err(e)) => Err(GitError::Spawn(e)),
            _ => Ok(()),
        }
    }

    /// The output of `git ARGS` on the shadow, remembered: `args` name only
    /// objects (which never change), so the same question gets the same
    /// answer without running git again (`ls` and `conflicts` ask it often).
    /// Anything else (a ref, a path) is asked of git every time.
    pub fn remembered(&self, args: &[&str], what: &str) -> Result<Vec<u8>, GitError> {
        let only_objects = args
            .iter()
            .skip(1)
            .all(|a| a.starts_with('-') || is_object_name(a));
        if !only_objects {
            let mut c = self.git();
            c.args(args);
            return run_bytes(c, what);
        }
        let key = args.join("\0");
        let file = self
            .dir
            .join("memo")
            .join(format!("{:016x}", fnv(key.as_bytes())));
        if let Ok(bytes) = std::fs::read(&file)
            && let Some(rest) = bytes
                .strip_prefix(key.as_bytes())
                .and_then(|r| r.strip_prefix(b"\n"))
        {
            return Ok(rest.to_vec());
        }
        let mut c = self.git();
        c.args(args);
        let out = run_bytes(c, what)?;
        let _ = self.remember(&file, &key, &out);
        Ok(out)
    }

    fn remember(&self, file: &Path, key: &str, out: &[u8]) -> std::io::Result<()> {
        let dir = self.dir.join("memo");
        std::fs::create_dir_all(&dir)?;
        // Bounded: past 1,000 answers, the memo starts again.
        if std::fs::read_dir(&dir)?.take(1001).count() > 1000 {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir)?;
        }
        let tmp = dir.join(format!(
            ".{}-{}",
            std::process::id(),
            warren_core::secret::random_u64()
        ));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(key.as_bytes())?;
        f.write_all(b"\n")?;
        f.write_all(out)?;
        drop(f);
        std::fs::rename(&tmp, file)
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
        if !name.is_empty() && !name.contains('/') && !name.starts_with('.') {
            let _ = std::fs::remove_dir_all(self.dir.join("envs").join(name));
        }
        // Where an older warren kept the index.
        let _ = std::fs::remove_file(self.dir.join(format!("index-{name}")));
        let _ = std::fs::remove_file(self.dir.join(format!("index-{name}.flock")));
    }
}

/// The paths `git status --porcelain=v2 -z` says differ in the work tree from
/// the index (changed, gone, untracked). `None` when it names something that
/// cannot be updated path by path (a nested repository, an unmerged entry).
fn changed_paths(out: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut paths = Vec::new();
    for rec in out.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        match rec.first()? {
            b'1' => {
                // `1 XY sub mH mI mW hH hI path`
                let mut f = rec.splitn(9, |b| *b == b' ');
                let xy = f.nth(1)?;
                let path = f.nth(6)?;
                if xy.get(1).is_some_and(|y| *y != b'.') {
                    paths.push(path.to_vec());
                }
            }
            b'?' => {
                let path = rec.get(2..)?;
                if path.ends_with(b"/") {
                    return None;
                }
                paths.push(path.to_vec());
            }
            b'#' => {}
            // Renames (not asked for), unmerged entries, anything new.
            _ => return None,
        }
    }
    Some(paths)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_what_to_hash_again() {
        let out = b"1 .M N... 100644 100644 100644 aaa bbb a b.txt\0\
1 M. N... 100644 100644 100644 aaa bbb done.txt\0\
1 .D N... 100644 100644 000000 aaa bbb gone.txt\0\
? new dir/f.txt\0";
        let paths = changed_paths(out).unwrap();
        assert_eq!(
            paths,
            [
                b"a b.txt".to_vec(),
                b"gone.txt".to_vec(),
                b"new dir/f.txt".to_vec()
            ]
        );
        assert_eq!(changed_paths(b"").unwrap().len(), 0);
        assert!(changed_paths(b"? nested/\0").is_none());
        assert!(changed_paths(b"u UU N... 1 2 3 4 a b c x\0").is_none());
    }

    /// A main repository with `files` committed, its shadow, and an
    /// environment's tree holding the same files.
    fn project(files: &[(&str, &str)]) -> (tempfile::TempDir, Shadow, String, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let repo_dir = tmp.path().join("repo");
        let tree = tmp.path().join("tree");
        for dir in [&repo_dir, &tree] {
            for (path, text) in files {
                let p = dir.join(path);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, text).unwrap();
            }
        }
        crate::git::tests::init_repo(&repo_dir);
        crate::git::git(&repo_dir, ["add", "-A"]).unwrap();
        crate::git::tests::commit(&repo_dir, "files");
        let main = Repo::discover(&repo_dir).unwrap();
        let base = main.head_commit().unwrap();
        let shadow = Shadow::open(&tmp.path().join("root"), &main).unwrap();
        (tmp, shadow, base, tree)
    }

    fn files_of(shadow: &Shadow, tree: &str) -> String {
        let mut c = shadow.git();
        c.args(["ls-tree", "-r", "--format=%(objectmode) %(path)", tree]);
        run(c, "ls-tree").unwrap()
    }

    fn blob(shadow: &Shadow, tree: &str, path: &str) -> String {
        let mut c = shadow.git();
        c.args(["cat-file", "-p", &format!("{tree}:{path}")]);
        run(c, "cat-file").unwrap()
    }

    /// Once a capture is past the clock tick its files were written in, the next
    /// one of the unchanged tree is answered from stat data alone; every kind of
    /// change still shows, including one whose author set the mtime back.
    #[test]
    fn an_unchanged_tree_is_answered_from_stat_data_and_every_change_shows() {
        use std::os::unix::fs::PermissionsExt;
        let (_tmp, shadow, base, tree) = project(&[
            ("a/one.txt", "one\n"),
            ("a/two.txt", "two\n"),
            ("b/c/three.txt", "three\n"),
            (".gitignore", "*.log\nbuild/\n"),
        ]);
        std::fs::create_dir_all(tree.join("build")).unwrap();
        let admin = shadow.dir().join("envs").join("e");
        let settle = || std::thread::sleep(std::time::Duration::from_millis(150));
        let capture = || shadow.tree_of("e", &tree, &base).unwrap();
        let fast = |sha: &str| unchanged::unchanged(&admin, &tree, sha, 20);

        let first = capture();
        settle();
        let second = capture();
        assert_eq!(second, first);
        assert!(
            fast(&second),
            "the tree did not change: stat data must say so"
        );

        type Change = (&'static str, Box<dyn Fn(&Path)>, Box<dyn Fn(&Shadow, &str)>);
        let changes: Vec<Change> = vec![
            (
                "an edit of the same size, its mtime set back",
                Box::new(|t: &Path| {
                    let p = t.join("a/one.txt");
                    let mtime = std::fs::metadata(&p).unwrap().modified().unwrap();
                    std::fs::write(&p, "ONE\n").unwrap();
                    let f = std::fs::File::options().write(true).open(&p).unwrap();
                    f.set_modified(mtime).unwrap();
                }),
                Box::new(|s: &Shadow, sha: &str| assert_eq!(blob(s, sha, "a/one.txt"), "ONE\n")),
            ),
            (
                "a new file in a subdirectory",
                Box::new(|t: &Path| std::fs::write(t.join("b/c/new.txt"), "new\n").unwrap()),
                Box::new(|s: &Shadow, sha: &str| assert!(files_of(s, sha).contains("b/c/new.txt"))),
            ),
            (
                "a new directory with a file",
                Box::new(|t: &Path| {
                    std::fs::create_dir_all(t.join("d/e")).unwrap();
                    std::fs::write(t.join("d/e/f.txt"), "f\n").unwrap();
                }),
                Box::new(|s: &Shadow, sha: &str| assert!(files_of(s, sha).contains("d/e/f.txt"))),
            ),
            (
                "a removed file",
                Box::new(|t: &Path| std::fs::remove_file(t.join("a/two.txt")).unwrap()),
                Box::new(|s: &Shadow, sha: &str| assert!(!files_of(s, sha).contains("a/two.txt"))),
            ),
            (
                "an executable bit",
                Box::new(|t: &Path| {
                    std::fs::set_permissions(
                        t.join("a/one.txt"),
                        std::fs::Permissions::from_mode(0o755),
                    )
                    .unwrap()
                }),
                Box::new(|s: &Shadow, sha: &str| {
                    assert!(files_of(s, sha).contains("100755 a/one.txt"))
                }),
            ),
            (
                "a file replaced by a symlink",
                Box::new(|t: &Path| {
                    std::fs::remove_file(t.join("b/c/three.txt")).unwrap();
                    std::os::unix::fs::symlink("/etc/passwd", t.join("b/c/three.txt")).unwrap();
                }),
                Box::new(|s: &Shadow, sha: &str| {
                    assert!(files_of(s, sha).contains("120000 b/c/three.txt"))
                }),
            ),
            (
                "a new .gitignore rule",
                Box::new(|t: &Path| {
                    std::fs::write(t.join("b/c/.gitignore"), "*.tmp\nnew.txt\n").unwrap();
                    std::fs::write(t.join("b/c/x.tmp"), "x\n").unwrap();
                }),
                Box::new(|s: &Shadow, sha: &str| {
                    let files = files_of(s, sha);
                    assert!(files.contains("b/c/.gitignore"));
                    assert!(!files.contains("x.tmp"), "{files}");
                    // Taken in by an earlier capture, ignored now: gone.
                    assert!(!files.contains("b/c/new.txt"), "{files}");
                }),
            ),
        ];
        let mut last = second;
        for (what, change, check) in changes {
            change(&tree);
            assert!(!fast(&last), "{what}: stat data must show it");
            let now = capture();
            assert_ne!(now, last, "{what}: the capture must change");
            check(&shadow, &now);
            settle();
            assert_eq!(capture(), now, "{what}: a second capture");
            assert!(fast(&now), "{what}: unchanged again after it");
            last = now;
        }

        // Ignored files change nothing, in a directory that exists or a new one.
        std::fs::write(tree.join("build/out.o"), "x").unwrap();
        std::fs::write(tree.join("a/debug.log"), "x").unwrap();
        let now = capture();
        assert_eq!(now, last, "ignored files are not part of the tree");
    }

    /// A change made right after a capture, in the same clock tick as the files'
    /// last change, leaves the same stat data: it must still show.
    #[test]
    fn a_change_in_the_same_tick_as_the_capture_still_shows() {
        for round in 0..20 {
            let (_tmp, shadow, base, tree) = project(&[("f.txt", "aaaa\n")]);
            let first = shadow.tree_of("e", &tree, &base).unwrap();
            std::fs::write(tree.join("f.txt"), "bbbb\n").unwrap();
            let second = shadow.tree_of("e", &tree, &base).unwrap();
            assert_ne!(first, second, "round {round}");
            assert_eq!(blob(&shadow, &second, "f.txt"), "bbbb\n", "round {round}");
        }
    }

    /// A new ignore rule drops the untracked files it matches from the next
    /// capture, but not a file of the base commit (git keeps tracked files).
    #[test]
    fn a_new_ignore_rule_drops_untracked_files_but_keeps_tracked_ones() {
        let (_tmp, shadow, base, tree) = project(&[("keep.log", "tracked\n"), ("a.txt", "a\n")]);
        std::fs::write(tree.join("new.log"), "untracked\n").unwrap();
        let first = shadow.tree_of("e", &tree, &base).unwrap();
        assert!(files_of(&shadow, &first).contains("new.log"));
        std::fs::write(tree.join(".gitignore"), "*.log\n").unwrap();
        let second = shadow.tree_of("e", &tree, &base).unwrap();
        let files = files_of(&shadow, &second);
        assert!(!files.contains("new.log"), "{files}");
        assert!(files.contains("keep.log"), "{files}");
        assert!(files.contains(".gitignore"), "{files}");
    }

    /// A tree of more directories than stamps are worth is not walked at every
    /// capture: it is marked, and walked again only after a number of captures.
    #[test]
    fn a_tree_of_too_many_directories_is_not_walked_at_every_capture() {
        let (_tmp, shadow, base, tree) = project(&[("f.txt", "x\n")]);
        for i in 0..unchanged::MAX_DIRS + 5 {
            let d = tree.join(format!("d{i}"));
            std::fs::create_dir(&d).unwrap();
            std::fs::write(d.join("f.txt"), "f\n").unwrap();
        }
        let admin = shadow.dir().join("envs").join("e");
        let marker = || std::fs::read_to_string(admin.join("too-big")).unwrap();
        // Past the racy window, so the walk gets as far as counting.
        std::thread::sleep(std::time::Duration::from_millis(150));
        let first = shadow.tree_of("e", &tree, &base).unwrap();
        assert_eq!(marker().trim(), "32");
        std::fs::write(tree.join("d0/f.txt"), "changed\n").unwrap();
        let second = shadow.tree_of("e", &tree, &base).unwrap();
        assert_ne!(first, second, "git still answers");
        assert_eq!(marker().trim(), "31");
        assert!(!unchanged::unchanged(&admin, &tree, &second, 20));
    }

    /// A nested repository, or a submodule, is never answered from stat data.
    #[test]
    fn a_nested_repository_always_asks_git() {
        let (_tmp, shadow, base, tree) = project(&[("f.txt", "x\n")]);
        std::fs::create_dir_all(tree.join("sub")).unwrap();
        crate::git::tests::init_repo(&tree.join("sub"));
        let admin = shadow.dir().join("envs").join("e");
        let sha = shadow.tree_of("e", &tree, &base).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(150));
        assert_eq!(shadow.tree_of("e", &tree, &base).unwrap(), sha);
        assert!(!unchanged::unchanged(&admin, &tree, &sha, 20));
    }

    /// The second capture of an unchanged tree reads no directory: git's
    /// untracked cache answers (its trace says how many it opened).
    #[test]
    fn a_capture_of_an_unchanged_tree_reads_no_directory() {
        let (tmp, shadow, base, tree) =
            project(&[("a/f.txt", "x\n"), ("b/f.txt", "x\n"), ("c/d/f.txt", "x\n")]);
        for d in ["a", "b", "c/d", "new"] {
            std::fs::create_dir_all(tree.join(d)).unwrap();
            std::fs::write(tree.join(d).join("f.txt"), "y\n").unwrap();
        }
        let first = shadow.tree_of("e", &tree, &base).unwrap();
        // Past the second the files were written in, so none is racily clean.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(shadow.tree_of("e", &tree, &base).unwrap(), first);
        let trace = tmp.path().join("trace.json");
        let admin = shadow.dir().join("envs").join("e");
        let mut st = shadow.git_on(&admin, &tree);
        st.env("GIT_TRACE2_EVENT", &trace)
            .env("GIT_TRACE2_EVENT_NESTING", "10")
            .args(["status", "--porcelain=v2", "-z", "--untracked-files=all"]);
        run_bytes(st, "status").unwrap();
        let trace = std::fs::read_to_string(&trace).unwrap();
        let opened = trace
            .lines()
            .find(|l| l.contains("\"key\":\"opendir\""))
            .unwrap_or_else(|| {
                panic!(
                    "git used no untracked cache:\n{}",
                    trace
                        .lines()
                        .filter(|l| l.contains("\"data\""))
                        .collect::<Vec<_>>()
                        .join("\n")
                )
            });
        assert!(opened.contains("\"value\":\"0\""), "{opened}");
    }
}
