//! `warren conflicts` and the clash marker of `warren ls`: which environments
//! touch the same files, and which of them — or which against the branch they
//! will land on — would conflict, down to the files and hunks.
//!
//! Each environment's whole tree is captured in the project's [`Shadow`]
//! ([`capture`]); the files it changed are compared with the others' (cheap, in
//! memory), and only pairs that share a changed file are merged, by the host's
//! git on the shadow, as data: `git merge-tree --stdin`, one process for all of
//! them, each merge a three-way merge of two trees on their merge base. The
//! target (the main checkout's branch, as it moves on) is read from the main
//! repository, whose objects the shadow borrows. Every argument git sees is an
//! object name, or a path after `--` read literally; file names and contents
//! are the environments' and are returned as data for the caller to print
//! inert.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write as _;
use std::path::Path;
use std::process::Stdio;

use serde::Serialize;
use warren_store::EnvRecord;

use super::diff::{Captured, FileChange, changed_files};
use super::shadow::Shadow;
use crate::error::EnvError;
use crate::git::{GitError, Repo};
use crate::manager::Warren;
use crate::repo::is_object_name;

/// Hunks shown per conflicted file.
pub const MAX_HUNKS: usize = 3;
/// Lines shown per hunk.
pub const MAX_HUNK_LINES: usize = 20;
/// Characters shown per line.
const MAX_LINE_CHARS: usize = 240;
/// Files larger than this are not searched for hunks.
const MAX_BLOB: u64 = 4 << 20;

/// The branch environments land on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// The branch (none when the main checkout's HEAD is detached).
    pub branch: Option<String>,
    pub commit: String,
}

impl Target {
    /// How reports name it: the branch, else the short commit.
    pub fn label(&self) -> String {
        match &self.branch {
            Some(b) => b.clone(),
            None => self.commit.chars().take(12).collect(),
        }
    }
}

/// One environment in a report.
#[derive(Debug, Clone, Serialize)]
pub struct EnvChanges {
    pub name: String,
    /// The commit it was created from.
    pub base: Option<String>,
    /// The files it changed (both paths of a rename).
    pub files: Vec<String>,
    /// Why its tree could not be read (it is left out).
    pub error: Option<String>,
}

/// Two environments that changed some of the same files — or an environment
/// and the target (`b` is then the target's label and `target` is true).
#[derive(Debug, Clone, Serialize)]
pub struct Pair {
    pub a: String,
    pub b: String,
    pub target: bool,
    /// The files both changed (a file one changed where the other changed a
    /// directory counts).
    pub files: Vec<String>,
    /// The files that would conflict, if any.
    pub conflicts: Vec<ConflictFile>,
}

/// A file that would conflict.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConflictFile {
    pub path: String,
    /// git's kinds of conflict: `contents`, `binary`, `modify/delete`,
    /// `rename/delete`, `add/add`, `file/directory`, …
    pub kinds: Vec<String>,
    /// git's messages about it (commit names replaced by who made them).
    pub messages: Vec<String>,
    /// The first conflict regions of the merged file, markers included.
    pub hunks: Vec<Hunk>,
    /// Conflict regions not shown.
    pub more_hunks: usize,
}

/// A conflict region, `<<<<<<<` to `>>>>>>>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hunk {
    pub lines: Vec<String>,
    /// Lines not shown.
    pub more_lines: usize,
}

/// The result of `warren conflicts`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub project: String,
    pub target: Option<Target>,
    pub environments: Vec<EnvChanges>,
    /// Pairs of environments touching common files (with their conflicts).
    pub pairs: Vec<Pair>,
    /// Environments touching files the target changed since their base.
    pub against_target: Vec<Pair>,
}

impl Report {
    /// Whether anything would conflict.
    pub fn has_conflicts(&self) -> bool {
        self.pairs
            .iter()
            .chain(&self.against_target)
            .any(|p| !p.conflicts.is_empty())
    }
}

/// An environment's captured tree and the paths it changed: one side of the
/// merges.
#[derive(Debug, Clone)]
pub struct Side {
    pub name: String,
    pub base: String,
    pub tree: String,
    pub paths: Vec<String>,
}

impl Side {
    /// The side of a captured environment whose changes are `files`.
    pub fn of(name: &str, c: &Captured, files: &[FileChange]) -> Side {
        Side {
            name: name.to_string(),
            base: c.base.clone(),
            tree: c.tree.clone(),
            paths: paths_of(files),
        }
    }
}

/// Every path `files` touch: both sides of a rename.
pub fn paths_of(files: &[FileChange]) -> Vec<String> {
    let mut set = BTreeSet::new();
    for f in files {
        set.insert(f.path.clone());
        if let Some(old) = &f.old_path {
            set.insert(old.clone());
        }
    }
    set.into_iter().collect()
}

/// Captures each of `recs` (a few at a time) with the files it changed (with
/// their line counts when `counts`; else only names and statuses, one git
/// process fewer per environment).
pub fn capture_all(
    root: &Path,
    recs: &[&EnvRecord],
    counts: bool,
    feed: Option<&super::feed::Feed>,
) -> Vec<Result<(Captured, Vec<FileChange>), EnvError>> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 8);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..workers.min(recs.len()) {
            scope.spawn(|| {
                loop {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(rec) = recs.get(k) else { break };
                    let r = super::diff::capture_fed(root, rec, feed).and_then(|c| {
                        let files = if counts {
                            changed_files(&c.shadow, &c.base, &c.tree, &[])
                        } else {
                            super::diff::changed_names(&c.shadow, &c.base, &c.tree, &[])
                        };
                        files.map(|f| (c, f)).map_err(|e| {
                            EnvError::Other(format!(
                                "cannot compare the tree of `{}`: {e}",
                                rec.name
                            ))
                        })
                    });
                    if let Ok(mut all) = results.lock() {
                        all.push((k, r));
                    }
                }
            });
        }
    });
    let mut all = results.into_inner().unwrap_or_default();
    all.sort_by_key(|(k, _)| *k);
    all.into_iter().map(|(_, r)| r).collect()
}

/// The branch environments of `main` land on: `into`, or the branch the main
/// checkout has checked out (its HEAD when detached; none without commits).
pub fn target_of(main: &Repo, into: Option<&str>) -> Result<Option<Target>, EnvError> {
    if let Some(branch) = into {
        let valid = !branch.is_empty()
            && !branch.starts_with('-')
            && !branch.contains("..")
            && !branch
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(c));
        if !valid {
            return Err(EnvError::Other(format!("`{branch}` is not a branch name")));
        }
        let commit = main
            .branch_tip(branch)
            .filter(|c| is_object_name(c))
            .ok_or_else(|| {
                EnvError::Other(format!("no branch `{branch}` in `{}`", main.root.display()))
            })?;
        return Ok(Some(Target {
            branch: Some(branch.to_string()),
            commit,
        }));
    }
    let branch = main.head_branch();
    let commit = match &branch {
        Some(b) => main.branch_tip(b),
        None => main.head_commit(),
    };
    Ok(commit
        .filter(|c| is_object_name(c))
        .map(|commit| Target { branch, commit }))
}

impl Warren {
    /// `warren conflicts [NAMES] [--into BRANCH]`: `names`, or every
    /// environment of the project `dir` is in.
    pub fn conflicts(
        &self,
        dir: &Path,
        names: &[String],
        into: Option<&str>,
    ) -> Result<Report, EnvError> {
        let recs: Vec<EnvRecord> = if names.is_empty() {
            let main = self.project_of(dir)?;
            let root = std::fs::canonicalize(&main.root).unwrap_or(main.root.clone());
            self.store
                .environments()?
                .into_iter()
                .filter(|r| {
                    std::fs::canonicalize(&r.project_path).unwrap_or(r.project_path.clone()) == root
                })
                .collect()
        } else {
            let mut recs = Vec::new();
            for n in names {
                if !recs.iter().any(|r: &EnvRecord| &r.name == n) {
                    recs.push(self.record(n)?);
                }
            }
            if let Some(first) = recs.first()
                && let Some(other) = recs.iter().find(|r| r.project_path != first.project_path)
            {
                return Err(EnvError::Other(format!(
                    "`{}` and `{}` are environments of different projects: compare one project at a time",
                    first.name, other.name
                )));
            }
            recs
        };
        let main = match recs.first() {
            Some(r) => Repo::at_checkout(&r.project_path),
            None => self.project_of(dir)?,
        };
        let project = recs.first().map(|r| r.project.clone()).unwrap_or_else(|| {
            main.root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        let target = target_of(&main, into)?;
        let refs: Vec<&EnvRecord> = recs.iter().collect();
        let mut environments = Vec::new();
        let mut sides = Vec::new();
        let mut shadow = None;
        for (rec, r) in recs.iter().zip(capture_all(
            &self.root,
            &refs,
            false,
            self.feed(&refs).as_ref(),
        )) {
            match r {
                Ok((c, files)) => {
                    let side = Side::of(&rec.name, &c, &files);
                    environments.push(EnvChanges {
                        name: rec.name.clone(),
                        base: Some(c.base.clone()),
                        files: side.paths.clone(),
                        error: None,
                    });
                    sides.push(side);
                    shadow.get_or_insert(c.shadow);
                }
                Err(e) => environments.push(EnvChanges {
                    name: rec.name.clone(),
                    base: None,
                    files: Vec::new(),
                    error: Some(e.to_string()),
                }),
            }
        }
        let (pairs, against_target) = match &shadow {
            Some(shadow) => analyse(shadow, &sides, target.as_ref(), true)
                .map_err(|e| EnvError::Other(format!("cannot merge the environments: {e}")))?,
            None => (Vec::new(), Vec::new()),
        };
        Ok(Report {
            project,
            target,
            environments,
            pairs,
            against_target,
        })
    }
}

/// Who a merge is between.
enum Other {
    Side(usize),
    Target,
}

/// One merge to run.
struct Merge {
    a: usize,
    b: Other,
    files: Vec<String>,
    /// The merge base; none when the two have no common history (then it is
    /// not merged).
    base: Option<String>,
}

/// Which of `sides` (and which against `target`) touch the same files, and of
/// those which would conflict (with hunks when `hunks`). Pairs come in the
/// order of `sides`.
pub fn analyse(
    shadow: &Shadow,
    sides: &[Side],
    target: Option<&Target>,
    hunks: bool,
) -> Result<(Vec<Pair>, Vec<Pair>), GitError> {
    let mut bases = MergeBases::new(shadow);
    let mut merges = Vec::new();
    for ((i, j), files) in overlaps(sides) {
        let base = bases.of(&sides[i].base, &sides[j].base)?;
        merges.push(Merge {
            a: i,
            b: Other::Side(j),
            files,
            base,
        });
    }
    if let Some(t) = target {
        let mut moved: HashMap<String, BTreeSet<String>> = HashMap::new();
        for (i, s) in sides.iter().enumerate() {
            if s.paths.is_empty() || s.base == t.commit {
                continue;
            }
            if !moved.contains_key(&s.base) {
                let files = super::diff::changed_names(shadow, &s.base, &t.commit, &[])?;
                moved.insert(s.base.clone(), paths_of(&files).into_iter().collect());
            }
            let theirs = &moved[&s.base];
            if theirs.is_empty() {
                continue;
            }
            let mine: BTreeSet<String> = s.paths.iter().cloned().collect();
            let files = touching(&mine, theirs);
            if files.is_empty() {
                continue;
            }
            let base = bases.of(&s.base, &t.commit)?;
            merges.push(Merge {
                a: i,
                b: Other::Target,
                files,
                base,
            });
        }
    }

    // Commit names in git's messages and markers, by who made them.
    let mut labels: HashMap<String, String> = HashMap::new();
    for s in sides {
        labels.entry(s.tree.clone()).or_insert(s.name.clone());
    }
    if let Some(t) = target {
        labels.insert(t.commit.clone(), t.label());
    }
    for m in &merges {
        if let Some(b) = &m.base {
            labels.entry(b.clone()).or_insert("base".into());
        }
    }

    let todo: Vec<&Merge> = merges.iter().filter(|m| m.base.is_some()).collect();
    let mut lines = String::new();
    for m in &todo {
        let theirs = match m.b {
            Other::Side(j) => sides[j].tree.as_str(),
            Other::Target => target.map(|t| t.commit.as_str()).unwrap_or_default(),
        };
        lines.push_str(&format!(
            "{} -- {} {}\n",
            m.base.as_deref().unwrap_or_default(),
            sides[m.a].tree,
            theirs
        ));
    }
    let results = if todo.is_empty() {
        Vec::new()
    } else {
        merge_tree(shadow, &lines)?
    };
    let mut conflicts: Vec<Vec<ConflictFile>> = results.iter().map(|r| r.files(&labels)).collect();
    if hunks {
        fill_hunks(shadow, &results, &mut conflicts, &labels)?;
    }

    let mut pairs = Vec::new();
    let mut against = Vec::new();
    let mut done = todo.iter().zip(conflicts);
    for m in &merges {
        let conflicts = if m.base.is_some() {
            done.next().map(|(_, c)| c).unwrap_or_default()
        } else {
            Vec::new()
        };
        let (b, is_target) = match m.b {
            Other::Side(j) => (sides[j].name.clone(), false),
            Other::Target => (target.map(Target::label).unwrap_or_default(), true),
        };
        let pair = Pair {
            a: sides[m.a].name.clone(),
            b,
            target: is_target,
            files: m.files.clone(),
            conflicts,
        };
        if is_target {
            against.push(pair);
        } else {
            pairs.push(pair);
        }
    }
    Ok((pairs, against))
}

/// The pairs of `sides` (`i < j`) that changed common files, with those files.
fn overlaps(sides: &[Side]) -> BTreeMap<(usize, usize), Vec<String>> {
    let mut owners: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut under: HashMap<&str, BTreeSet<usize>> = HashMap::new();
    for (i, s) in sides.iter().enumerate() {
        for p in &s.paths {
            owners.entry(p.as_str()).or_default().push(i);
            for d in ancestors(p) {
                under.entry(d).or_default().insert(i);
            }
        }
    }
    let mut shared: BTreeMap<(usize, usize), BTreeSet<String>> = BTreeMap::new();
    for (p, who) in &owners {
        for (k, &i) in who.iter().enumerate() {
            for &j in &who[k + 1..] {
                if i != j {
                    shared
                        .entry((i.min(j), i.max(j)))
                        .or_default()
                        .insert(p.to_string());
                }
            }
        }
        // A file where another changed files under a directory of that name.
        if let Some(below) = under.get(p) {
            for &i in who {
                for &j in below.iter().filter(|&&j| j != i) {
                    shared
                        .entry((i.min(j), i.max(j)))
                        .or_default()
                        .insert(p.to_string());
                }
            }
        }
    }
    shared
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().collect()))
        .collect()
}

/// The paths both sets touch (a file of one where the other has files below a
/// directory of that name included).
fn touching(a: &BTreeSet<String>, b: &BTreeSet<String>) -> Vec<String> {
    let mut out = BTreeSet::new();
    for (x, y) in [(a, b), (b, a)] {
        for p in x {
            if y.contains(p) {
                out.insert(p.clone());
            }
            for d in ancestors(p) {
                if y.contains(d) {
                    out.insert(d.to_string());
                }
            }
        }
    }
    out.into_iter().collect()
}

/// `a/b/c` → `a/b`, `a`.
fn ancestors(p: &str) -> impl Iterator<Item = &str> {
    p.char_indices()
        .filter(|(_, c)| *c == '/')
        .map(move |(k, _)| &p[..k])
        .filter(|d| !d.is_empty())
}

/// Merge bases, asked of git once per pair of commits.
struct MergeBases<'a> {
    shadow: &'a Shadow,
    known: HashMap<(String, String), Option<String>>,
}

impl<'a> MergeBases<'a> {
    fn new(shadow: &'a Shadow) -> Self {
        MergeBases {
            shadow,
            known: HashMap::new(),
        }
    }

    fn of(&mut self, a: &str, b: &str) -> Result<Option<String>, GitError> {
        if a == b {
            return Ok(Some(a.to_string()));
        }
        if !is_object_name(a) || !is_object_name(b) {
            return Ok(None);
        }
        let key = (a.min(b).to_string(), a.max(b).to_string());
        if let Some(k) = self.known.get(&key) {
            return Ok(k.clone());
        }
        let out = self
            .shadow
            .git()
            .args(["merge-base", a, b])
            .output()
            .map_err(GitError::Spawn)?;
        // Exit 1: no common history.
        let base = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let base = (out.status.success() && is_object_name(&base)).then_some(base);
        if !out.status.success() && out.status.code() != Some(1) {
            return Err(GitError::Failed {
                args: "merge-base".into(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        self.known.insert(key, base.clone());
        Ok(base)
    }
}

/// One merge's result, as `git merge-tree --stdin -z --name-only --messages`
/// prints it.
#[derive(Debug, Default, PartialEq, Eq)]
struct MergeResult {
    clean: bool,
    tree: String,
    conflicted: Vec<String>,
    /// `(paths, kind, message)`.
    messages: Vec<(Vec<String>, String, String)>,
}

impl MergeResult {
    /// The conflicted files with their kinds and messages.
    fn files(&self, labels: &HashMap<String, String>) -> Vec<ConflictFile> {
        if self.clean {
            return Vec::new();
        }
        let mut files: Vec<ConflictFile> = self
            .conflicted
            .iter()
            .map(|p| ConflictFile {
                path: p.clone(),
                ..ConflictFile::default()
            })
            .collect();
        for (paths, kind, message) in &self.messages {
            let Some(kind) = kind
                .strip_prefix("CONFLICT (")
                .and_then(|k| k.strip_suffix(')'))
            else {
                continue;
            };
            let mut at: Vec<usize> = paths
                .iter()
                .filter_map(|p| files.iter().position(|f| &f.path == p))
                .collect();
            if at.is_empty() {
                let Some(first) = paths.first() else { continue };
                files.push(ConflictFile {
                    path: first.clone(),
                    ..ConflictFile::default()
                });
                at.push(files.len() - 1);
            }
            at.dedup();
            for k in at {
                let f = &mut files[k];
                if !f.kinds.iter().any(|x| x == kind) {
                    f.kinds.push(kind.to_string());
                }
                f.messages.push(relabel(message.trim_end(), labels));
            }
        }
        files
    }
}

/// Runs the merges of `lines` (`BASE -- A B` each) in one `git merge-tree`.
fn merge_tree(shadow: &Shadow, lines: &str) -> Result<Vec<MergeResult>, GitError> {
    let mut c = shadow.git();
    c.args([
        "-c",
        "merge.conflictStyle=merge",
        "merge-tree",
        "--stdin",
        "-z",
        "--write-tree",
        "--name-only",
        "--messages",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let out = feed(c, lines.as_bytes())?;
    if !out.status.success() {
        return Err(GitError::Failed {
            args: "merge-tree --stdin".into(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(parse_merges(&text))
}

/// `git cat-file MODE` on the shadow with `input` (one object name per line):
/// what it prints.
fn cat_file(shadow: &Shadow, mode: &str, input: &[u8]) -> Result<Vec<u8>, GitError> {
    let mut c = shadow.git();
    c.args(["cat-file", mode])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Ok(feed(c, input)?.stdout)
}

/// Runs `c`, writing `input` to its stdin while reading its output.
fn feed(mut c: std::process::Command, input: &[u8]) -> Result<std::process::Output, GitError> {
    let mut child = c.spawn().map_err(GitError::Spawn)?;
    let mut stdin = child.stdin.take();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        if let Some(s) = stdin.as_mut() {
            let _ = s.write_all(&input);
        }
        drop(stdin);
    });
    let out = child.wait_with_output().map_err(GitError::Spawn)?;
    let _ = writer.join();
    Ok(out)
}

/// `STATUS\0TREE\0[PATH\0]*\0[N\0PATH{N}\0KIND\0MESSAGE\0]*\0` per merge
/// (status 1: clean, 0: conflicted).
fn parse_merges(text: &str) -> Vec<MergeResult> {
    let mut out = Vec::new();
    let mut f = text.split('\0');
    while let Some(status) = f.next() {
        if status.is_empty() {
            break;
        }
        let mut r = MergeResult {
            clean: status == "1",
            tree: f.next().unwrap_or_default().to_string(),
            ..MergeResult::default()
        };
        for p in f.by_ref() {
            if p.is_empty() {
                break;
            }
            r.conflicted.push(p.to_string());
        }
        while let Some(n) = f.next() {
            let Ok(n) = n.parse::<usize>() else { break };
            let paths: Vec<String> = f.by_ref().take(n).map(str::to_string).collect();
            let kind = f.next().unwrap_or_default().to_string();
            let message = f.next().unwrap_or_default().to_string();
            r.messages.push((paths, kind, message));
        }
        out.push(r);
    }
    out
}

/// `text` with the commit and tree names it holds replaced by their labels.
fn relabel(text: &str, labels: &HashMap<String, String>) -> String {
    let mut s = text.to_string();
    for (sha, label) in labels {
        if s.contains(sha.as_str()) {
            s = s.replace(sha.as_str(), label);
        }
    }
    s
}

/// Reads the merged files with content conflicts and keeps their first
/// conflict regions.
fn fill_hunks(
    shadow: &Shadow,
    results: &[MergeResult],
    conflicts: &mut [Vec<ConflictFile>],
    labels: &HashMap<String, String>,
) -> Result<(), GitError> {
    // Each merged file with a content conflict, as `TREE:PATH` (one object
    // name per line: a name with a newline in it shows no hunks, nor one with
    // a carriage return, which git strips from the end of a line and would
    // then name another file).
    let mut asked: Vec<(usize, usize)> = Vec::new();
    let mut names = String::new();
    for (m, r) in results.iter().enumerate() {
        if !is_object_name(&r.tree) {
            continue;
        }
        for (k, f) in conflicts[m].iter().enumerate() {
            let text = f.kinds.iter().any(|k| k == "contents" || k == "add/add")
                && !f.kinds.iter().any(|k| k == "binary");
            if text && !f.path.contains(['\n', '\r']) {
                asked.push((m, k));
                names.push_str(&format!("{}:{}\n", r.tree, f.path));
            }
        }
    }
    if asked.is_empty() {
        return Ok(());
    }
    // One `--batch-check` for all of them: `OID TYPE SIZE`, or `NAME missing`.
    let out = cat_file(shadow, "--batch-check", names.as_bytes())?;
    let listing = String::from_utf8_lossy(&out);
    // (merge, file) of each blob to read.
    let mut wanted: Vec<(usize, usize, String)> = Vec::new();
    for ((m, k), line) in asked.into_iter().zip(listing.lines()) {
        let mut f = line.split(' ');
        let (Some(oid), Some(kind), Some(size), None) = (f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        let small = size.parse::<u64>().is_ok_and(|s| s <= MAX_BLOB);
        if kind == "blob" && small && is_object_name(oid) {
            wanted.push((m, k, oid.to_string()));
        }
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let input: String = wanted
        .iter()
        .map(|(_, _, oid)| format!("{oid}\n"))
        .collect();
    let bytes = cat_file(shadow, "--batch", input.as_bytes())?;
    let mut rest = bytes.as_slice();
    for (m, k, _) in &wanted {
        // `OID blob SIZE\n` CONTENT `\n`, or `OID missing\n`.
        let Some(eol) = rest.iter().position(|b| *b == b'\n') else {
            break;
        };
        let header = String::from_utf8_lossy(&rest[..eol]).to_string();
        rest = &rest[eol + 1..];
        let Some(size) = header
            .split(' ')
            .nth(2)
            .and_then(|s| s.parse::<usize>().ok())
        else {
            continue;
        };
        let end = size.min(rest.len());
        let content = String::from_utf8_lossy(&rest[..end]);
        let (hunks, more) = hunks_of(&content, labels);
        conflicts[*m][*k].hunks = hunks;
        conflicts[*m][*k].more_hunks = more;
        rest = &rest[(end + 1).min(rest.len())..];
    }
    Ok(())
}

/// The first [`MAX_HUNKS`] conflict regions of `text`, and how many more.
fn hunks_of(text: &str, labels: &HashMap<String, String>) -> (Vec<Hunk>, usize) {
    let mut hunks = Vec::new();
    let mut more = 0;
    let mut current: Option<Hunk> = None;
    for line in text.lines() {
        let opens = is_marker(line, '<');
        if opens && current.is_none() {
            current = Some(Hunk {
                lines: Vec::new(),
                more_lines: 0,
            });
        }
        let Some(h) = current.as_mut() else { continue };
        if h.lines.len() < MAX_HUNK_LINES {
            let marker = opens || is_marker(line, '|') || is_marker(line, '>');
            let shown: String = line.chars().take(MAX_LINE_CHARS).collect();
            h.lines.push(if marker {
                relabel(&shown, labels)
            } else {
                shown
            });
        } else {
            h.more_lines += 1;
        }
        if is_marker(line, '>')
            && let Some(h) = current.take()
        {
            if hunks.len() < MAX_HUNKS {
                hunks.push(h);
            } else {
                more += 1;
            }
        }
    }
    (hunks, more)
}

/// A conflict marker line: seven `c`, then the end or a space.
fn is_marker(line: &str, c: char) -> bool {
    let mut chars = line.chars();
    (0..7).all(|_| chars.next() == Some(c)) && matches!(chars.next(), None | Some(' '))
}

/// The clashes of each environment: whom it would conflict with (other
/// environments of its project), and whether with its project's target.
pub fn clashes(
    entries: &[(String, Captured, Vec<FileChange>)],
) -> HashMap<String, (Vec<String>, Option<String>)> {
    let mut out: HashMap<String, (Vec<String>, Option<String>)> = HashMap::new();
    let mut projects: BTreeMap<&Path, Vec<usize>> = BTreeMap::new();
    for (k, (_, c, _)) in entries.iter().enumerate() {
        projects.entry(c.shadow.dir()).or_default().push(k);
    }
    for members in projects.values() {
        let shadow = &entries[members[0]].1.shadow;
        let sides: Vec<Side> = members
            .iter()
            .map(|&k| Side::of(&entries[k].0, &entries[k].1, &entries[k].2))
            .filter(|s| !s.paths.is_empty())
            .collect();
        if sides.is_empty() {
            continue;
        }
        let target = target_of(shadow.main(), None).ok().flatten();
        let Ok((pairs, against)) = analyse(shadow, &sides, target.as_ref(), false) else {
            continue;
        };
        for p in pairs.iter().filter(|p| !p.conflicts.is_empty()) {
            out.entry(p.a.clone()).or_default().0.push(p.b.clone());
            out.entry(p.b.clone()).or_default().0.push(p.a.clone());
        }
        for p in against.iter().filter(|p| !p.conflicts.is_empty()) {
            out.entry(p.a.clone()).or_default().1 = Some(p.b.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(name: &str, paths: &[&str]) -> Side {
        Side {
            name: name.into(),
            base: "b".into(),
            tree: format!("t{name}"),
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn overlaps_only_pairs_sharing_files_or_a_file_and_its_directory() {
        let sides = [
            side("a", &["src/x.rs", "README"]),
            side("b", &["src/y.rs"]),
            side("c", &["README", "src/y.rs"]),
            side("d", &["src"]),
        ];
        let o = overlaps(&sides);
        let keys: Vec<_> = o.keys().copied().collect();
        assert_eq!(keys, [(0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]);
        assert_eq!(o[&(0, 2)], ["README"]);
        assert_eq!(o[&(0, 3)], ["src"]);
        let a: BTreeSet<String> = ["x/y".to_string()].into();
        let b: BTreeSet<String> = ["x".to_string(), "z".to_string()].into();
        assert_eq!(touching(&a, &b), ["x"]);
        assert!(touching(&a, &["q".to_string()].into()).is_empty());
    }

    #[test]
    fn parses_merge_tree_stdin_output() {
        let text = "0\0tree1\0f\0g\0\0\
            1\0f\0Auto-merging\0Auto-merging f\n\0\
            1\0f\0CONFLICT (contents)\0CONFLICT (content): Merge conflict in f\n\0\
            1\0g\0CONFLICT (modify/delete)\0CONFLICT (modify/delete): g deleted in T1 and modified in T2.\n\0\0\
            1\0tree2\0\0\0";
        let r = parse_merges(text);
        assert_eq!(r.len(), 2);
        assert!(!r[0].clean && r[1].clean);
        assert_eq!(r[0].conflicted, ["f", "g"]);
        assert_eq!(r[1].tree, "tree2");
        let labels: HashMap<String, String> = [
            ("T1".to_string(), "a".to_string()),
            ("T2".to_string(), "b".to_string()),
        ]
        .into();
        let files = r[0].files(&labels);
        assert_eq!(files[0].kinds, ["contents"]);
        assert_eq!(files[1].kinds, ["modify/delete"]);
        assert_eq!(
            files[1].messages,
            ["CONFLICT (modify/delete): g deleted in a and modified in b."]
        );
        assert!(r[1].files(&labels).is_empty());
    }

    #[test]
    fn keeps_the_first_hunks_capped() {
        let labels: HashMap<String, String> = [("T1".to_string(), "a".to_string())].into();
        let mut text = String::from("x\n<<<<<<< T1\nmine\n=======\ntheirs\n>>>>>>> T2\ny\n");
        text.push_str("<<<<<<<< not a marker\n");
        text.push_str("<<<<<<< T1\n");
        for k in 0..30 {
            text.push_str(&format!("{k}\n"));
        }
        text.push_str(">>>>>>> T2\n");
        for _ in 0..3 {
            text.push_str("<<<<<<< T1\n=======\n>>>>>>> T2\n");
        }
        let (hunks, more) = hunks_of(&text, &labels);
        assert_eq!(hunks.len(), MAX_HUNKS);
        assert_eq!(more, 2);
        assert_eq!(
            hunks[0].lines,
            ["<<<<<<< a", "mine", "=======", "theirs", ">>>>>>> T2"]
        );
        assert_eq!(hunks[1].lines.len(), MAX_HUNK_LINES);
        assert_eq!(hunks[1].more_lines, 12);
    }
}
