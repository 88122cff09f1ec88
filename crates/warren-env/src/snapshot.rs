//! Proving that a worktree did not change while a command ran, without git.
//!
//! `run --rm -- CMD` must know afterwards whether the worktree is clean (a
//! dirty one keeps its environment) and free of ignored files (else it is not
//! passed on as a spare). When the worktree was clean when CMD started (warren
//! had just created it and nothing else ran), it is clean at the end if nothing
//! in it changed, which a second look at every entry's metadata can show in
//! a fraction of `git status`'s cost (a process and an index refresh).
//!
//! The comparison is conservative: every directory must list the same entries
//! (names, inode numbers, types) and every other entry must have the same
//! inode, size, mtime and ctime. ctime cannot be set by a process (only the
//! clock moves it), so a change after the first look shows, provided the
//! entry's ctime was already older than the clock's granularity when the first
//! look was taken; an entry touched just before it (within [`MARGIN`]) makes
//! the proof unavailable and the caller asks git. So do worktrees of more than
//! [`MAX_ENTRIES`] entries, where walking them would cost as much as git.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::fs::{DirEntryExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How much older than the first look an entry's ctime must be: well above
/// the kernel's timestamp granularity (one jiffy, at most 10 ms).
pub const MARGIN: Duration = Duration::from_millis(50);

/// Beyond this many entries, `git status` is as cheap as the walk.
pub const MAX_ENTRIES: usize = 5000;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Dir(Vec<(OsString, u64, u32)>),
    Other {
        ino: u64,
        mode: u32,
        size: u64,
        mtime: (i64, i64),
        ctime: (i64, i64),
    },
    /// A small file touched within [`MARGIN`] of the first look (git's own
    /// `HEAD` of a worktree warren just set up): its bytes are compared.
    Recent {
        ino: u64,
        mode: u32,
        content: Vec<u8>,
    },
}

/// Largest recent file whose content is kept for comparison.
const RECENT_MAX: u64 = 4096;

/// The metadata of every entry under some roots, as first seen.
#[derive(Debug, Clone)]
pub struct TreeSnapshot {
    roots: Vec<PathBuf>,
    entries: BTreeMap<PathBuf, Entry>,
}

impl TreeSnapshot {
    /// Looks at every entry under `roots` (a worktree and its admin dir in
    /// `.git/worktrees/`). `None` when the proof will not be possible: a
    /// large file touched within [`MARGIN`], too many entries, or an error.
    pub fn take(roots: &[&Path]) -> Option<TreeSnapshot> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
        let limit = now.checked_sub(MARGIN)?;
        let limit = (limit.as_secs() as i64, i64::from(limit.subsec_nanos()));
        let entries = walk(roots, Some(limit), None)?;
        Some(TreeSnapshot {
            roots: roots.iter().map(|r| r.to_path_buf()).collect(),
            entries,
        })
    }

    /// Whether every entry is as it was when the snapshot was taken.
    pub fn unchanged(&self) -> bool {
        let roots: Vec<&Path> = self.roots.iter().map(PathBuf::as_path).collect();
        walk(&roots, None, Some(&self.entries)).is_some_and(|now| now == self.entries)
    }
}

/// The entries under `roots`. With `ctime_before` (the first look), entries
/// changed since then are [`Entry::Recent`]; without it (the second look),
/// those of `reference` that were are read the same way.
fn walk(
    roots: &[&Path],
    ctime_before: Option<(i64, i64)>,
    reference: Option<&BTreeMap<PathBuf, Entry>>,
) -> Option<BTreeMap<PathBuf, Entry>> {
    let mut out = BTreeMap::new();
    let mut stack: Vec<PathBuf> = roots.iter().map(|r| r.to_path_buf()).collect();
    while let Some(path) = stack.pop() {
        if out.len() > MAX_ENTRIES {
            return None;
        }
        let meta = std::fs::symlink_metadata(&path).ok()?;
        let entry = if meta.is_dir() {
            let mut names = Vec::new();
            for e in std::fs::read_dir(&path).ok()? {
                let e = e.ok()?;
                let ty = e.file_type().ok()?;
                let kind = if ty.is_dir() {
                    0
                } else if ty.is_symlink() {
                    1
                } else {
                    2
                };
                names.push((e.file_name(), e.ino(), kind));
                stack.push(e.path());
            }
            names.sort();
            Entry::Dir(names)
        } else {
            let ctime = (meta.ctime(), meta.ctime_nsec());
            let recent = match (ctime_before, reference.and_then(|r| r.get(&path))) {
                (Some(limit), _) => ctime >= limit,
                (None, Some(Entry::Recent { .. })) => true,
                (None, _) => false,
            };
            if recent {
                if !meta.is_file() || meta.size() > RECENT_MAX {
                    return None;
                }
                Entry::Recent {
                    ino: meta.ino(),
                    mode: meta.mode(),
                    content: std::fs::read(&path).ok()?,
                }
            } else {
                Entry::Other {
                    ino: meta.ino(),
                    mode: meta.mode(),
                    size: meta.size(),
                    mtime: (meta.mtime(), meta.mtime_nsec()),
                    ctime,
                }
            }
        };
        out.insert(path, entry);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries must be older than the margin for a snapshot to be taken.
    fn aged() {
        std::thread::sleep(MARGIN + Duration::from_millis(20));
    }

    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("src/deep")).unwrap();
        std::fs::write(t.path().join("README"), "hello").unwrap();
        std::fs::write(t.path().join("src/deep/a.rs"), "fn a() {}").unwrap();
        std::os::unix::fs::symlink("README", t.path().join("link")).unwrap();
        aged();
        t
    }

    #[test]
    fn an_untouched_tree_is_unchanged() {
        let t = tree();
        let s = TreeSnapshot::take(&[t.path()]).unwrap();
        assert!(s.unchanged());
        // Reading is not changing.
        let _ = std::fs::read(t.path().join("src/deep/a.rs")).unwrap();
        assert!(s.unchanged());
    }

    #[test]
    fn every_kind_of_change_shows() {
        type Change = fn(&Path);
        let changes: &[(&str, Change)] = &[
            ("same-size rewrite", |p| {
                std::fs::write(p.join("README"), "HELLO").unwrap()
            }),
            ("new file deep down", |p| {
                std::fs::write(p.join("src/deep/new.log"), "").unwrap()
            }),
            ("new empty dir", |p| {
                std::fs::create_dir(p.join("src/x")).unwrap()
            }),
            ("removal", |p| {
                std::fs::remove_file(p.join("src/deep/a.rs")).unwrap()
            }),
            ("rename", |p| {
                std::fs::rename(p.join("README"), p.join("README2")).unwrap()
            }),
            ("chmod", |p| {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(p.join("README"), std::fs::Permissions::from_mode(0o600))
                    .unwrap()
            }),
            ("mtime set back", |p| {
                let f = std::fs::File::options()
                    .write(true)
                    .open(p.join("README"))
                    .unwrap();
                f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1))
                    .unwrap();
            }),
            ("delete and recreate", |p| {
                std::fs::remove_file(p.join("src/deep/a.rs")).unwrap();
                std::fs::write(p.join("src/deep/a.rs"), "fn a() {}").unwrap();
            }),
            ("symlink retargeted", |p| {
                std::fs::remove_file(p.join("link")).unwrap();
                std::os::unix::fs::symlink("src", p.join("link")).unwrap();
            }),
        ];
        for (what, change) in changes {
            let t = tree();
            let s = TreeSnapshot::take(&[t.path()]).unwrap();
            change(t.path());
            assert!(!s.unchanged(), "{what} went unnoticed");
        }
    }

    #[test]
    fn recently_touched_files_are_compared_by_content() {
        let t = tree();
        std::fs::write(t.path().join("README"), "just now").unwrap();
        let s = TreeSnapshot::take(&[t.path()]).unwrap();
        assert!(s.unchanged());
        // Within the same clock tick, metadata may not move: content does.
        std::fs::write(t.path().join("README"), "just wow").unwrap();
        assert!(!s.unchanged());
        std::fs::write(t.path().join("big"), vec![b'x'; 10_000]).unwrap();
        assert!(
            TreeSnapshot::take(&[t.path()]).is_none(),
            "too big to compare"
        );
    }
}
