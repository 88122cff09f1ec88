//! `warren diff` and the CHANGES column of `warren ls`: everything an
//! environment changed since the commit it was created from — its commits,
//! uncommitted and untracked (not ignored) files — compared by the host's git
//! as two trees in the project's [`Shadow`].

use serde::Serialize;
use warren_store::EnvRecord;

use super::shadow::Shadow;
use crate::error::EnvError;
use crate::git::Repo;
use crate::manager::Warren;

/// What `warren diff` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffFormat {
    /// The patch, as `git diff` prints it.
    Patch,
    /// `--stat`.
    Stat,
    /// `--name-only`.
    NameOnly,
}

/// One changed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileChange {
    pub path: String,
    /// The path before a rename or copy.
    pub old_path: Option<String>,
    /// `A`dded, `M`odified, `D`eleted, `R`enamed, `C`opied, `T`ype changed.
    pub status: String,
    /// Lines added and deleted (none for a binary file).
    pub added: Option<u64>,
    pub deleted: Option<u64>,
    pub binary: bool,
}

/// `+120 −8, 5 files`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ChangeSummary {
    pub files: usize,
    pub added: u64,
    pub deleted: u64,
}

impl ChangeSummary {
    /// The summary of `files`.
    pub fn of(files: &[FileChange]) -> ChangeSummary {
        ChangeSummary {
            files: files.len(),
            added: files.iter().filter_map(|f| f.added).sum(),
            deleted: files.iter().filter_map(|f| f.deleted).sum(),
        }
    }
}

impl std::fmt::Display for ChangeSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.files == 0 {
            return write!(f, "-");
        }
        write!(
            f,
            "+{} −{}, {} file{}",
            self.added,
            self.deleted,
            self.files,
            if self.files == 1 { "" } else { "s" }
        )
    }
}

/// An environment's tree, captured: the shadow holding it, the commit it was
/// created from, and the tree object of everything in it now.
#[derive(Debug, Clone)]
pub struct Captured {
    pub shadow: Shadow,
    pub base: String,
    pub tree: String,
}

impl Warren {
    /// Captures `rec`'s whole tree as it is now (see [`Shadow::tree_of`]).
    pub fn capture(&self, rec: &EnvRecord) -> Result<Captured, EnvError> {
        capture(&self.root, rec)
    }
}

/// [`Warren::capture`] for the root `root` (callable from any thread).
pub fn capture(root: &std::path::Path, rec: &EnvRecord) -> Result<Captured, EnvError> {
    capture_fed(root, rec, None)
}

/// [`capture`], told by `feed` whether the tree changed (advisory views only).
pub fn capture_fed(
    root: &std::path::Path,
    rec: &EnvRecord,
    feed: Option<&super::feed::Feed>,
) -> Result<Captured, EnvError> {
    if Warren::on_main_checkout(rec) {
        return Err(EnvError::Other(format!(
            "`{}` works on the main checkout: it has no changes of its own (run `git diff` in `{}`)",
            rec.name,
            rec.project_path.display()
        )));
    }
    let spec = Warren::spec_of(rec)?;
    let base = spec.base_commit.ok_or_else(|| {
        EnvError::Other(format!(
            "`{}` does not know the commit it was created from (an older warren created it)",
            rec.name
        ))
    })?;
    if !rec.worktree.is_dir() {
        return Err(EnvError::Other(format!(
            "the tree of `{}` (`{}`) is gone: nothing to compare",
            rec.name,
            rec.worktree.display()
        )));
    }
    let main = Repo::at_checkout(&rec.project_path);
    let shadow = Shadow::open(root, &main).map_err(review_err(&rec.name))?;
    let tree = shadow
        .tree_of_fed(&rec.name, &rec.worktree, &base, feed)
        .map_err(review_err(&rec.name))?;
    Ok(Captured { shadow, base, tree })
}

impl Warren {
    /// `warren diff NAME`: git's output (coloured when `color`), for the
    /// caller to print (it is the environment's text: print it sanitised).
    pub fn diff(
        &self,
        name: &str,
        format: DiffFormat,
        color: bool,
        paths: &[String],
    ) -> Result<Vec<u8>, EnvError> {
        let rec = self.record(name)?;
        let c = self.capture(&rec)?;
        let mut args = vec![
            "diff",
            "-M",
            "--no-ext-diff",
            "--no-textconv",
            if color {
                "--color=always"
            } else {
                "--color=never"
            },
        ];
        match format {
            DiffFormat::Patch => {}
            DiffFormat::Stat => args.push("--stat"),
            DiffFormat::NameOnly => args.push("--name-only"),
        }
        args.extend([c.base.as_str(), c.tree.as_str(), "--"]);
        args.extend(paths.iter().map(String::as_str));
        c.shadow
            .remembered(&args, "diff")
            .map_err(|e| EnvError::Other(format!("git diff failed: {e}")))
    }

    /// The files `name` changed (for `--json` and `ls`).
    pub fn diff_files(&self, name: &str, paths: &[String]) -> Result<Vec<FileChange>, EnvError> {
        let rec = self.record(name)?;
        let c = self.capture(&rec)?;
        changed_files(&c.shadow, &c.base, &c.tree, paths).map_err(review_err(name))
    }
}

/// The files that differ between two trees (or commits) of `shadow`, with their
/// line counts.
pub fn changed_files(
    shadow: &Shadow,
    from: &str,
    to: &str,
    paths: &[String],
) -> Result<Vec<FileChange>, crate::git::GitError> {
    let counts = parse_numstat(&remembered(shadow, "--numstat", from, to, paths)?);
    Ok(merge(&name_status(shadow, from, to, paths)?, &counts))
}

/// [`changed_files`] without line counts (one git process fewer).
pub fn changed_names(
    shadow: &Shadow,
    from: &str,
    to: &str,
    paths: &[String],
) -> Result<Vec<FileChange>, crate::git::GitError> {
    Ok(merge(&name_status(shadow, from, to, paths)?, &[]))
}

fn name_status(
    shadow: &Shadow,
    from: &str,
    to: &str,
    paths: &[String],
) -> Result<Vec<(String, Option<String>, String)>, crate::git::GitError> {
    Ok(parse_name_status(&remembered(
        shadow,
        "--name-status",
        from,
        to,
        paths,
    )?))
}

/// `git diff WHAT FROM TO -- PATHS` on the shadow, as text (remembered).
fn remembered(
    shadow: &Shadow,
    what: &str,
    from: &str,
    to: &str,
    paths: &[String],
) -> Result<String, crate::git::GitError> {
    let mut args = diff_args(what, from, to).to_vec();
    args.extend(paths.iter().map(String::as_str));
    let out = shadow.remembered(&args, what)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn diff_args<'a>(what: &'a str, from: &'a str, to: &'a str) -> [&'a str; 9] {
    [
        "diff",
        "-M",
        "-z",
        "--no-ext-diff",
        "--no-textconv",
        what,
        from,
        to,
        "--",
    ]
}

/// `--name-status -z`: `M\0path\0`, `R100\0old\0new\0`.
pub(crate) fn parse_name_status(text: &str) -> Vec<(String, Option<String>, String)> {
    let mut out = Vec::new();
    let mut f = text.split('\0').filter(|s| !s.is_empty());
    while let Some(status) = f.next() {
        let kind = status.chars().next().unwrap_or('M').to_string();
        if kind == "R" || kind == "C" {
            let (Some(old), Some(new)) = (f.next(), f.next()) else {
                break;
            };
            out.push((kind, Some(old.to_string()), new.to_string()));
        } else {
            let Some(path) = f.next() else { break };
            out.push((kind, None, path.to_string()));
        }
    }
    out
}

/// `--numstat -z`: `A\tD\tpath\0`, or `A\tD\t\0old\0new\0` for a rename;
/// `-\t-\t` for a binary file. Keyed by the new path.
fn parse_numstat(text: &str) -> Vec<(String, Option<u64>, Option<u64>)> {
    let mut out = Vec::new();
    let mut f = text.split('\0');
    while let Some(head) = f.next() {
        if head.is_empty() {
            continue;
        }
        let mut parts = head.splitn(3, '\t');
        let (Some(a), Some(d), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let path = if path.is_empty() {
            let _old = f.next();
            f.next().unwrap_or_default().to_string()
        } else {
            path.to_string()
        };
        out.push((path, a.parse().ok(), d.parse().ok()));
    }
    out
}

fn merge(
    statuses: &[(String, Option<String>, String)],
    counts: &[(String, Option<u64>, Option<u64>)],
) -> Vec<FileChange> {
    statuses
        .iter()
        .map(|(status, old, path)| {
            let n = counts.iter().find(|(p, _, _)| p == path);
            let (added, deleted) = n.map(|(_, a, d)| (*a, *d)).unwrap_or((None, None));
            FileChange {
                path: path.clone(),
                old_path: old.clone(),
                status: status.clone(),
                binary: n.is_some() && added.is_none(),
                added,
                deleted,
            }
        })
        .collect()
}

fn review_err(name: &str) -> impl Fn(crate::git::GitError) -> EnvError + '_ {
    move |e| EnvError::Other(format!("cannot read the tree of `{name}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_renames_and_binaries() {
        let ns = parse_name_status("M\0a.txt\0R087\0old.rs\0new.rs\0A\0img.png\0");
        let mut num = parse_numstat("3\t1\ta.txt\0");
        num.extend(parse_numstat("2\t0\t\0old.rs\0new.rs\0-\t-\timg.png\0"));
        let files = merge(&ns, &num);
        assert_eq!(files.len(), 3);
        assert_eq!(files[0].added, Some(3));
        assert_eq!(files[1].old_path.as_deref(), Some("old.rs"));
        assert_eq!((files[1].status.as_str(), files[1].added), ("R", Some(2)));
        assert!(files[2].binary && files[2].added.is_none());
        assert_eq!(ChangeSummary::of(&files).to_string(), "+5 −1, 3 files");
    }
}
