//! `warren land NAME… [--into BRANCH] [--squash|--merge|--rebase]`: an
//! environment's work onto a branch of the main repository.
//!
//! The trust boundary (docs/SECURITY.md) decides who does what:
//!
//! - **inside the environment**, git does everything that works on its tree:
//!   committing what is uncommitted, bringing the branch up to date with the
//!   target (`git rebase TARGET`, or merging TARGET in; the target's commits
//!   are visible inside through the object alternates), resuming after the
//!   user resolved a conflict (`--continue`), and the project's
//!   `commands.test`. What the host reads of it (conflicted paths, the new
//!   tip, the test's output) is data: checked to be an object name, or shown
//!   with its control characters removed;
//! - **on the host**, the branch comes back as a bundle fetched with every
//!   object checked ([`Warren::bring_back`]), into `refs/heads/warren/NAME`;
//!   the host checks that the target's tip is an ancestor of the commit
//!   landed, makes the squash commit (`commit-tree`), and moves the target:
//!   `git merge --ff-only` in the main checkout when it has the target
//!   checked out (the user's git, with the user's hooks: it is the user's
//!   repository), else a compare-and-swap `update-ref`.
//!
//! Anything that fails leaves the target, the main checkout and every ref of
//! the main repository as they were.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Serialize;
use warren_core::EnvState;
use warren_store::EnvRecord;

use super::user_git;
use crate::error::EnvError;
use crate::git::Repo;
use crate::manager::Warren;
use crate::repo::{self, host_git, is_object_name};

/// How the environment's branch is brought up to date with the target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Its commits are rebased onto the target (the default).
    #[default]
    Rebase,
    /// The target is merged into it.
    Merge,
    /// The target is merged into it, then one commit of its tree lands.
    Squash,
}

impl Strategy {
    fn word(self) -> &'static str {
        match self {
            Strategy::Rebase => "rebase",
            Strategy::Merge => "merge",
            Strategy::Squash => "squash",
        }
    }
}

/// What `warren land` was asked.
#[derive(Debug, Clone, Default)]
pub struct LandOptions {
    /// The branch to land on (default: the main checkout's branch).
    pub into: Option<String>,
    pub strategy: Strategy,
    /// The message of the commit of uncommitted work and of a squash commit.
    pub message: Option<String>,
    /// Run `commands.test` first: `Some(true)` `--test`, `Some(false)`
    /// `--no-test`, `None` as `.warren.yaml` `land: {test}` says.
    pub test: Option<bool>,
    /// `--continue`: finish a rebase or merge a previous landing stopped in.
    pub resume: bool,
}

/// One environment landed.
#[derive(Debug, Clone, Serialize)]
pub struct Landed {
    pub name: String,
    /// The target branch.
    pub into: String,
    pub strategy: Strategy,
    /// The target's tip before and after.
    pub from: String,
    pub to: String,
    /// The commits that came onto the target (0: nothing to land).
    pub commits: usize,
    /// Whether uncommitted work was committed inside first.
    pub committed_work: bool,
    /// Whether `commands.test` ran (and passed).
    pub tested: bool,
    /// How the target moved: `merge --ff-only` in the checkout, or `update-ref`.
    pub moved_by: &'static str,
}

/// The result of a queue (`warren land A B C`).
#[derive(Debug)]
pub struct QueueReport {
    pub landed: Vec<Landed>,
    /// The environment that stopped the queue, and why.
    pub failed: Option<(String, LandError)>,
    /// The environments after it, not tried.
    pub not_tried: Vec<String>,
}

/// Why a landing stopped. Every one leaves the target and the main checkout
/// as they were.
#[derive(Debug, thiserror::Error)]
pub enum LandError {
    #[error(
        "landing `{name}` stopped: {} has conflicts in {}:{}",
        if *.op == "rebase" { format!("its rebase onto `{into}`") } else { format!("merging `{into}` into it") },
        plural(.files.len(), "file"),
        list(.files)
    )]
    Conflict {
        name: String,
        into: String,
        op: &'static str,
        files: Vec<String>,
    },
    #[error(
        "`{name}` still has unresolved conflicts in {}:{}",
        plural(.files.len(), "file"),
        list(.files)
    )]
    StillConflicted { name: String, files: Vec<String> },
    #[error("a {op} is in progress in `{name}` (a landing stopped there)")]
    InProgress { name: String, op: String },
    #[error("the test of `{name}` failed (exit code {code}); `{into}` was not moved{}", tail(.output))]
    TestFailed {
        name: String,
        into: String,
        code: i64,
        output: String,
    },
    #[error("`.warren.yaml` has no `commands.test` for `warren land --test`")]
    NoTestCommand,
    #[error("the main checkout `{}` has uncommitted changes to tracked files:{}", .path.display(), list(.files))]
    CheckoutDirty { path: PathBuf, files: Vec<String> },
    #[error("the main checkout `{}` is in the middle of a {what}", .path.display())]
    CheckoutBusy { path: PathBuf, what: &'static str },
    #[error(
        "landing would overwrite untracked files in the main checkout `{}`:{}",
        .path.display(),
        list(.files)
    )]
    Untracked { path: PathBuf, files: Vec<String> },
    #[error("`{into}` is checked out in the worktree `{}`", .path.display())]
    CheckedOutElsewhere { into: String, path: PathBuf },
    #[error("`{into}` moved while `{name}` was landing, {tries} times")]
    TargetMoved {
        name: String,
        into: String,
        tries: usize,
    },
    #[error("cannot land `{name}`: {reason}")]
    Refused { name: String, reason: String },
    #[error("`{name}`: {reason}")]
    Inside { name: String, reason: String },
    #[error("moving `{into}` failed: {reason}")]
    Move { into: String, reason: String },
    #[error(transparent)]
    Env(#[from] EnvError),
}

impl warren_core::Hint for LandError {
    fn hint(&self) -> Option<String> {
        match self {
            LandError::Conflict { name, .. } | LandError::StillConflicted { name, .. } => {
                Some(format!(
                    "resolve them in the environment (ask its agent with `warren send {name} …`, or \
                     `warren exec {name} -- sh`), then run `warren land {name} --continue`"
                ))
            }
            LandError::InProgress { name, .. } => Some(format!(
                "resolve the conflicts (`warren exec {name} -- git status`), then run \
                 `warren land {name} --continue`; or abort it with `warren exec {name} -- git rebase --abort` \
                 (`git merge --abort`)"
            )),
            LandError::TestFailed { name, .. } => Some(format!(
                "fix it in the environment (`warren send {name} …`, `warren exec {name} -- sh`) and land again"
            )),
            LandError::NoTestCommand => {
                Some("add one: `commands: {test: cargo test}`, or land without `--test`".into())
            }
            LandError::CheckoutDirty { .. } => Some(
                "commit or stash them (`git stash`), or land into a branch that is not checked out (`--into`)"
                    .into(),
            ),
            LandError::CheckoutBusy { what, .. } => Some(format!(
                "finish the {what} (or abort it: `git {} --abort`) and land again",
                match *what {
                    "cherry-pick" => "cherry-pick",
                    "revert" => "revert",
                    "merge" => "merge",
                    _ => "rebase",
                }
            )),
            LandError::Untracked { .. } => {
                Some("move or remove them, then land again".into())
            }
            LandError::CheckedOutElsewhere { .. } => Some(
                "land from that worktree's branch after switching it, or land into another branch with `--into`"
                    .into(),
            ),
            LandError::TargetMoved { name, .. } => Some(format!("run `warren land {name}` again")),
            LandError::Env(e) => e.hint(),
            _ => None,
        }
    }
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

fn list(files: &[String]) -> String {
    let mut s: String = files
        .iter()
        .take(20)
        .map(|f| format!("\n    {f}"))
        .collect();
    if files.len() > 20 {
        s.push_str(&format!("\n    … and {} more", files.len() - 20));
    }
    s
}

fn tail(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    if lines.is_empty() {
        return String::new();
    }
    let start = lines.len().saturating_sub(20);
    let mut s = String::from("; its last lines:");
    for l in &lines[start..] {
        s.push_str("\n    ");
        s.push_str(l);
    }
    s
}

/// Text from inside an environment, without control characters.
fn clean(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| {
            if c == '\n' || c == '\t' || !c.is_control() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// The script git runs inside the environment: resume what a previous
/// landing left (`$7` = 1), commit what is uncommitted, bring the branch up to
/// date with the target. Its stdout is a protocol (`C path` conflicted, `R
/// path` still conflicted, `B state` busy, `O ref` on another branch, `W`
/// work committed, `H sha` the tip); git's own words go to stderr.
const INSIDE: &str = r#"
branch=$1 target=$2 mode=$3 msg=$4 uname=$5 uemail=$6 resume=$7 mergemsg=$8
export GIT_EDITOR=true GIT_SEQUENCE_EDITOR=true GIT_MERGE_AUTOEDIT=no
g() { git -c user.name="$uname" -c user.email="$uemail" -c core.fsmonitor=false "$@"; }
unmerged() { git diff --name-only --diff-filter=U; }
conflicts() { u=$(unmerged); [ -n "$u" ] || exit 11; printf '%s\n' "$u" | sed 's/^/C /'; exit 10; }
gd=$(git rev-parse --absolute-git-dir) || exit 11
op=
if [ -d "$gd/rebase-merge" ] || [ -d "$gd/rebase-apply" ]; then op=rebase; fi
if [ -f "$gd/MERGE_HEAD" ]; then op=merge; fi
if [ -n "$op" ]; then
  [ "$resume" = 1 ] || { echo "B $op"; exit 3; }
  unmerged | while IFS= read -r f; do
    if [ ! -f "$f" ] || ! grep -qE '^(<<<<<<<|>>>>>>>)( |$)' -- "$f"; then g add -A -- "$f" >&2; fi
  done
  left=$(unmerged)
  if [ -n "$left" ]; then printf '%s\n' "$left" | sed 's/^/R /'; exit 12; fi
  if [ "$op" = rebase ]; then
    g rebase --continue >&2 || conflicts
  else
    g commit --no-edit -q >&2 || exit 11
  fi
fi
head=$(git symbolic-ref -q HEAD)
[ "$head" = "refs/heads/$branch" ] || { echo "O ${head:-a detached HEAD}"; exit 4; }
g add -A >&2 || exit 11
if ! git diff --cached --quiet; then g commit -q -m "$msg" >&2 || exit 13; echo W; fi
if ! git merge-base --is-ancestor "$target" HEAD; then
  case $mode in
  rebase) g rebase "$target" >&2 || conflicts ;;
  *) g merge --no-ff --no-edit -m "$mergemsg" "$target" >&2 || conflicts ;;
  esac
fi
echo "H $(git rev-parse HEAD)"
"#;

/// What the script inside said.
#[derive(Debug, Default)]
struct Inside {
    code: i64,
    conflicts: Vec<String>,
    still: Vec<String>,
    busy: Option<String>,
    other_branch: Option<String>,
    committed_work: bool,
    head: Option<String>,
    stderr: String,
}

fn parse_inside(code: i64, stdout: &[u8], stderr: &[u8]) -> Inside {
    let mut r = Inside {
        code,
        stderr: clean(stderr),
        ..Inside::default()
    };
    for line in clean(stdout).lines() {
        let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
        match tag {
            "C" => r.conflicts.push(rest.to_string()),
            "R" => r.still.push(rest.to_string()),
            "B" => r.busy = Some(rest.to_string()),
            "O" => r.other_branch = Some(rest.to_string()),
            "W" => r.committed_work = true,
            "H" if is_object_name(rest) => r.head = Some(rest.to_string()),
            _ => {}
        }
    }
    r
}

/// The last lines of `text` (git's complaint).
fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n    ")
}

/// Who commits: the user's `user.name`/`user.email` in the main repository,
/// else warren.
fn identity(main: &Repo) -> (String, String) {
    let get = |key: &str| {
        user_git(&main.root)
            .args(["config", "--get", key])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    (
        get("user.name").unwrap_or_else(|| "warren".into()),
        get("user.email").unwrap_or_else(|| "warren@localhost".into()),
    )
}

/// The host's git on the main repository's git dir (no hook).
fn main_git(main: &Repo) -> Command {
    let mut c = host_git();
    c.arg("--git-dir").arg(&main.git_dir);
    c
}

fn out_of(mut c: Command) -> Option<String> {
    let o = c.output().ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

fn is_ancestor(main: &Repo, a: &str, b: &str) -> bool {
    let mut c = main_git(main);
    c.args(["merge-base", "--is-ancestor", a, b]);
    c.output().is_ok_and(|o| o.status.success())
}

fn count_commits(main: &Repo, from: &str, to: &str) -> usize {
    let mut c = main_git(main);
    c.args(["rev-list", "--count", &format!("{from}..{to}")]);
    out_of(c).and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

/// Where the target branch is checked out: the main checkout (its root and
/// git dir), a linked worktree, or nowhere.
enum CheckedOut {
    Main,
    Linked(PathBuf),
    Nowhere,
}

fn checked_out(main: &Repo, branch: &str) -> CheckedOut {
    let want = format!("ref: refs/heads/{branch}");
    let head_is = |p: &Path| std::fs::read_to_string(p).is_ok_and(|h| h.trim() == want);
    if head_is(&main.git_dir.join("HEAD")) {
        return CheckedOut::Main;
    }
    for e in std::fs::read_dir(main.git_dir.join("worktrees"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if head_is(&e.path().join("HEAD")) {
            let path = std::fs::read_to_string(e.path().join("gitdir"))
                .ok()
                .map(|g| {
                    let g = PathBuf::from(g.trim());
                    g.parent().map(Path::to_path_buf).unwrap_or(g)
                })
                .unwrap_or_else(|| e.path());
            return CheckedOut::Linked(path);
        }
    }
    CheckedOut::Nowhere
}

/// Refuses a main checkout that has `into` checked out and is not clean or
/// is in the middle of something.
fn check_checkout(main: &Repo, into: &str) -> Result<CheckedOut, LandError> {
    let at = checked_out(main, into);
    match &at {
        CheckedOut::Nowhere => {}
        CheckedOut::Linked(path) => {
            return Err(LandError::CheckedOutElsewhere {
                into: into.to_string(),
                path: path.clone(),
            });
        }
        CheckedOut::Main => {
            let busy = [
                ("MERGE_HEAD", "merge"),
                ("rebase-merge", "rebase"),
                ("rebase-apply", "rebase"),
                ("CHERRY_PICK_HEAD", "cherry-pick"),
                ("REVERT_HEAD", "revert"),
            ];
            for (file, what) in busy {
                if main.git_dir.join(file).exists() {
                    return Err(LandError::CheckoutBusy {
                        path: main.root.clone(),
                        what,
                    });
                }
            }
            let mut st = user_git(&main.root);
            st.args(["status", "--porcelain", "--untracked-files=no"]);
            let out = st.output().map_err(|e| LandError::Move {
                into: into.to_string(),
                reason: format!("cannot run git status: {e}"),
            })?;
            if !out.status.success() {
                return Err(LandError::Move {
                    into: into.to_string(),
                    reason: format!(
                        "git status failed: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    ),
                });
            }
            let files: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect();
            if !files.is_empty() {
                return Err(LandError::CheckoutDirty {
                    path: main.root.clone(),
                    files,
                });
            }
        }
    }
    Ok(at)
}

/// Moves `into` from `old` to `new` (a descendant of `old`, in the main
/// repository).
fn move_target(
    main: &Repo,
    into: &str,
    old: &str,
    new: &str,
    name: &str,
) -> Result<&'static str, LandError> {
    let failed = |reason: String| LandError::Move {
        into: into.to_string(),
        reason,
    };
    match check_checkout(main, into)? {
        CheckedOut::Main => {
            // Files the update adds that exist, untracked, in the checkout.
            let mut added = main_git(main);
            added.args([
                "diff",
                "--name-only",
                "-z",
                "--no-renames",
                "--diff-filter=A",
                old,
                new,
            ]);
            let added = out_of(added).ok_or_else(|| failed("git diff failed".into()))?;
            let clobbered: Vec<String> = added
                .split('\0')
                .filter(|p| !p.is_empty())
                .filter(|p| std::fs::symlink_metadata(main.root.join(p)).is_ok())
                .map(str::to_string)
                .collect();
            if !clobbered.is_empty() {
                return Err(LandError::Untracked {
                    path: main.root.clone(),
                    files: clobbered,
                });
            }
            if main.head_commit().as_deref() != Some(old) {
                return Err(failed(format!(
                    "the main checkout is no longer at {}",
                    short(old)
                )));
            }
            let mut m = user_git(&main.root);
            // The user's git with the user's hooks: what they print is shown (on
            // stderr: stdout is for warren's data).
            m.env("GIT_REFLOG_ACTION", format!("warren land {name}"))
                .args(["merge", "--ff-only", "--quiet", new])
                .stdout(Stdio::from(std::io::stderr()))
                .stderr(Stdio::inherit());
            let status = m
                .status()
                .map_err(|e| failed(format!("cannot run git: {e}")))?;
            if !status.success() {
                return Err(failed(format!(
                    "`git merge --ff-only` in `{}` failed (see above)",
                    main.root.display()
                )));
            }
            Ok("merge --ff-only")
        }
        CheckedOut::Linked(_) => unreachable!("refused by check_checkout"),
        CheckedOut::Nowhere => {
            let mut u = main_git(main);
            u.args([
                "update-ref",
                "-m",
                &format!("warren land {name}"),
                &format!("refs/heads/{into}"),
                new,
                old,
            ]);
            let out = u
                .output()
                .map_err(|e| failed(format!("cannot run git: {e}")))?;
            if !out.status.success() {
                return Err(failed(
                    String::from_utf8_lossy(&out.stderr).trim().to_string(),
                ));
            }
            Ok("update-ref")
        }
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(10)]
}

/// Sets `refs/heads/<branch>` of the main repository back to `old` (deleted
/// when it did not exist).
fn restore_ref(main: &Repo, branch: &str, old: Option<&str>) {
    let mut c = main_git(main);
    let name = format!("refs/heads/{branch}");
    match old {
        Some(old) => c.args(["update-ref", &name, old]),
        None => c.args(["update-ref", "-d", &name]),
    };
    let _ = c.output();
}

impl Warren {
    /// Lands each of `names` in order, each onto the result of the one
    /// before; the first failure stops the queue.
    pub async fn land_queue(&self, names: &[String], opts: &LandOptions) -> QueueReport {
        let mut report = QueueReport {
            landed: Vec::new(),
            failed: None,
            not_tried: Vec::new(),
        };
        let mut it = names.iter();
        for name in it.by_ref() {
            match self.land(name, opts).await {
                Ok(l) => report.landed.push(l),
                Err(e) => {
                    report.failed = Some((name.clone(), e));
                    break;
                }
            }
        }
        report.not_tried = it.cloned().collect();
        report
    }

    /// Lands environment `name` (see the module doc).
    pub async fn land(&self, name: &str, opts: &LandOptions) -> Result<Landed, LandError> {
        let refused = |reason: String| LandError::Refused {
            name: name.to_string(),
            reason,
        };
        let mut rec = self.record(name)?;
        if Self::on_main_checkout(&rec) {
            return Err(refused(
                "it works on the main checkout: its commits are already there".into(),
            ));
        }
        let main = Repo::at_checkout(&rec.project_path);
        let into = match &opts.into {
            Some(b) => b.clone(),
            None => main.head_branch().ok_or_else(|| {
                refused(
                    "the main checkout has no branch checked out; name one with `--into`".into(),
                )
            })?,
        };
        if into == rec.branch {
            return Err(refused("it cannot land on its own branch".into()));
        }
        if main.branch_tip(&into).is_none() {
            return Err(refused(format!(
                "the main repository has no branch `{into}`"
            )));
        }
        if !rec.worktree.is_dir() {
            return Err(refused(format!(
                "its tree `{}` is gone (removed outside warren); remove it with `warren rm --force {name}`",
                rec.worktree.display()
            )));
        }
        if repo::tip(&rec.worktree, &rec.branch).is_none() {
            return Err(refused(format!(
                "its branch `{}` cannot be read in its repository (deleted outside warren?); \
                 look with `warren exec {name} -- git status`",
                rec.branch
            )));
        }
        // The test command, from the main checkout's `.warren.yaml`.
        let project = warren_config::load_project(&rec.project_path)
            .map_err(EnvError::from)?
            .value;
        let test = match opts.test {
            Some(t) => t,
            None => project.as_ref().and_then(|p| p.land_test).unwrap_or(false),
        };
        let test_cmd = if test {
            Some(
                project
                    .as_ref()
                    .and_then(|p| p.commands.get("test").cloned())
                    .ok_or(LandError::NoTestCommand)?,
            )
        } else {
            None
        };
        // Before anything changes inside: would the target be movable?
        check_checkout(&main, &into)?;
        match rec.state {
            EnvState::Running => {}
            EnvState::Gone => return Err(EnvError::Gone(name.to_string()).into()),
            _ => {
                self.reporter
                    .info(&format!("`{name}` is {}; starting it", rec.state));
                self.start(name).await?;
                rec = self.record(name)?;
            }
        }
        let (uname, uemail) = identity(&main);
        let message = opts
            .message
            .clone()
            .unwrap_or_else(|| self.work_message(name));
        let before_branch = main.branch_tip(&rec.branch);
        const TRIES: usize = 3;
        let mut resume = opts.resume;
        let mut committed_work = false;
        for _ in 0..TRIES {
            let old = main
                .branch_tip(&into)
                .ok_or_else(|| refused(format!("the main repository has no branch `{into}`")))?;
            self.reporter.step(&format!(
                "{} `{}` onto {into} ({}) inside `{name}`",
                match opts.strategy {
                    Strategy::Rebase => "rebasing",
                    _ => "merging",
                },
                rec.branch,
                short(&old)
            ));
            let argv: Vec<String> = [
                "/bin/sh",
                "-c",
                INSIDE,
                "warren-land",
                &rec.branch,
                &old,
                opts.strategy.word(),
                &message,
                &uname,
                &uemail,
                if resume { "1" } else { "0" },
                &format!("Merge {into} into {}", rec.branch),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            resume = false;
            let ran = self.run_inside(&rec, argv).await?;
            let inside = parse_inside(ran.code, &ran.stdout, &ran.stderr);
            let (head, work) = self.inside_result(name, &into, opts.strategy, inside)?;
            committed_work |= work;
            if let Some(cmd) = &test_cmd {
                self.reporter.step(&format!("testing `{name}`: {cmd}"));
                let ran = self
                    .run_inside(&rec, vec!["/bin/sh".into(), "-c".into(), cmd.clone()])
                    .await?;
                if ran.code != 0 {
                    let mut output = clean(&ran.stdout);
                    output.push_str(&clean(&ran.stderr));
                    return Err(LandError::TestFailed {
                        name: name.to_string(),
                        into: into.clone(),
                        code: ran.code,
                        output,
                    });
                }
            }
            // The host takes it back as data, and only that commit lands.
            self.reporter
                .step(&format!("bringing `{}` back", rec.branch));
            let result = async {
                self.bring_back(&rec).await?;
                if !repo::has_commit(&main, &head) {
                    return Err(refused(format!(
                        "its branch moved away from {} while it was landing",
                        short(&head)
                    )));
                }
                Ok(())
            }
            .await;
            if let Err(e) = result {
                restore_ref(&main, &rec.branch, before_branch.as_deref());
                return Err(e);
            }
            let now = main.branch_tip(&into);
            if now.as_deref() != Some(old.as_str()) || !is_ancestor(&main, &old, &head) {
                restore_ref(&main, &rec.branch, before_branch.as_deref());
                self.reporter
                    .info(&format!("`{into}` moved while `{name}` was landing; again"));
                continue;
            }
            let landed = self
                .finish_land(&main, &rec, &into, (&old, &head), opts, (&uname, &uemail))
                .map(|mut l| {
                    l.committed_work = committed_work;
                    l.tested = test_cmd.is_some();
                    l
                });
            if landed.is_err() {
                restore_ref(&main, &rec.branch, before_branch.as_deref());
            }
            return landed;
        }
        Err(LandError::TargetMoved {
            name: name.to_string(),
            into,
            tries: TRIES,
        })
    }

    /// What the script inside said, as the commit to land or an error.
    fn inside_result(
        &self,
        name: &str,
        into: &str,
        strategy: Strategy,
        r: Inside,
    ) -> Result<(String, bool), LandError> {
        let inside = |reason: String| LandError::Inside {
            name: name.to_string(),
            reason,
        };
        match r.code {
            0 => {
                if r.committed_work {
                    self.reporter
                        .info(&format!("committed the uncommitted work of `{name}`"));
                }
                r.head
                    .map(|h| (h, r.committed_work))
                    .ok_or_else(|| inside("git inside did not name its new tip".into()))
            }
            10 => Err(LandError::Conflict {
                name: name.to_string(),
                into: into.to_string(),
                op: if strategy == Strategy::Rebase {
                    "rebase"
                } else {
                    "merge"
                },
                files: r.conflicts,
            }),
            12 => Err(LandError::StillConflicted {
                name: name.to_string(),
                files: r.still,
            }),
            3 => Err(LandError::InProgress {
                name: name.to_string(),
                op: r.busy.unwrap_or_else(|| "rebase".into()),
            }),
            4 => Err(inside(format!(
                "it is on {} instead of its branch; switch back with `warren exec {name} -- git switch warren/{name}`",
                r.other_branch.unwrap_or_default()
            ))),
            13 => Err(inside(format!(
                "committing its uncommitted work failed:\n    {}",
                last_lines(&r.stderr, 10)
            ))),
            code => Err(inside(format!(
                "git inside failed (exit code {code}):\n    {}",
                last_lines(&r.stderr, 10)
            ))),
        }
    }

    /// The squash commit, and the target moved.
    fn finish_land(
        &self,
        main: &Repo,
        rec: &EnvRecord,
        into: &str,
        (old, head): (&str, &str),
        opts: &LandOptions,
        (uname, uemail): (&str, &str),
    ) -> Result<Landed, LandError> {
        let name = rec.name.as_str();
        let commits = count_commits(main, old, head);
        let mut landed = Landed {
            name: name.to_string(),
            into: into.to_string(),
            strategy: opts.strategy,
            from: old.to_string(),
            to: old.to_string(),
            commits,
            committed_work: false,
            tested: false,
            moved_by: "nothing",
        };
        let same_tree = || {
            let tree = |c: &str| {
                let mut g = main_git(main);
                g.args(["rev-parse", &format!("{c}^{{tree}}")]);
                out_of(g).map(|s| s.trim().to_string())
            };
            matches!((tree(old), tree(head)), (Some(a), Some(b)) if a == b)
        };
        // A squash of a tree the target already has (landed before) lands nothing.
        if commits == 0 || (opts.strategy == Strategy::Squash && same_tree()) {
            landed.commits = 0;
            return Ok(landed);
        }
        let new = if opts.strategy == Strategy::Squash {
            let mut subjects = main_git(main);
            subjects.args([
                "log",
                "--no-merges",
                "--reverse",
                "--format=%s",
                &format!("{old}..{head}"),
            ]);
            let subjects = out_of(subjects).unwrap_or_default();
            let message = opts.message.clone().unwrap_or_else(|| {
                let lines: Vec<&str> = subjects.lines().filter(|l| !l.is_empty()).collect();
                match lines.as_slice() {
                    [one] => one.to_string(),
                    _ => format!(
                        "Land {} ({})\n\n{}",
                        rec.branch,
                        plural(lines.len(), "commit"),
                        lines.iter().map(|l| format!("* {l}\n")).collect::<String>()
                    ),
                }
            });
            let mut c = main_git(main);
            c.envs([
                ("GIT_AUTHOR_NAME", uname),
                ("GIT_AUTHOR_EMAIL", uemail),
                ("GIT_COMMITTER_NAME", uname),
                ("GIT_COMMITTER_EMAIL", uemail),
            ])
            .args([
                "commit-tree",
                &format!("{head}^{{tree}}"),
                "-p",
                old,
                "-m",
                &message,
            ]);
            let sha = out_of(c).map(|s| s.trim().to_string()).unwrap_or_default();
            if !is_object_name(&sha) {
                return Err(LandError::Move {
                    into: into.to_string(),
                    reason: "git commit-tree failed".into(),
                });
            }
            sha
        } else {
            head.to_string()
        };
        landed.moved_by = move_target(main, into, old, &new, name)?;
        landed.to = new;
        self.log_event(
            name,
            &format!(
                "landed on {into}: {} -> {} ({})",
                short(old),
                short(&landed.to),
                opts.strategy.word()
            ),
        );
        Ok(landed)
    }

    /// The message of the commit of an environment's uncommitted work: its
    /// name and its last task.
    fn work_message(&self, name: &str) -> String {
        let task = self
            .store
            .recent_tasks(Some(name), 1)
            .ok()
            .and_then(|t| t.into_iter().next())
            .map(|t| {
                let first = t
                    .prompt
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                let mut s: String = first.chars().take(60).collect();
                if first.chars().count() > 60 {
                    s.push('…');
                }
                s
            })
            .filter(|s| !s.is_empty());
        match task {
            Some(t) => format!("Work of {name}: {t}"),
            None => format!("Work of {name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_protocol_as_data() {
        let r = parse_inside(
            10,
            b"C src/a.rs\nC \"we\\033ird\"\nC \x1b]52;c;x\x07b\nH nothex\n",
            b"",
        );
        assert_eq!(r.conflicts[0], "src/a.rs");
        assert!(
            r.conflicts
                .iter()
                .all(|c| !c.contains('\x1b') && !c.contains('\x07'))
        );
        assert_eq!(r.head, None);
        let r = parse_inside(0, format!("W\nH {}\n", "a".repeat(40)).as_bytes(), b"");
        assert!(r.committed_work);
        assert_eq!(r.head, Some("a".repeat(40)));
    }
}
