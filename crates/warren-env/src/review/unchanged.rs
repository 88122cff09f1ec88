//! Whether an environment's tree is still exactly as its last capture saw it,
//! answered without starting git: the same question `git status` asks of stat
//! data, asked in-process (`warren diff`, `ls` and `conflicts` ask it of every
//! environment, and most of them did not change since).
//!
//! What is compared, all of it stat data that nothing can set back (ctime and
//! inode included, never the mtime alone):
//!
//! - every file of the environment's index (the shadow's `envs/NAME/index`, which
//!   after a capture holds every tracked and untracked, not ignored, file) against
//!   the stat data git recorded there when it last read the file;
//! - every directory of the tree (outside `.git`), stamped by [`stamp_dirs`]
//!   *before* the capture's git ran: a file added, removed or renamed anywhere
//!   changes its directory's stat data after that stamp;
//! - the git configuration and ignore files the capture reads (the user's, the
//!   shadow's).
//!
//! Anything this cannot vouch for is "changed", and git answers as before: a
//! racily clean entry or directory (changed in the same clock tick as its stamp),
//! an index in another format, a nested repository, a submodule, more directories
//! than [`MAX_DIRS`].

use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The stamps of the tree's directories, next to the environment's index.
const DIRS: &str = "dirs";
const HEADER: &str = "warren-dirs 1";
/// The stamps of the ignore and config files outside the tree, as of the last capture.
const INPUTS: &str = "inputs";
/// Past this many directories (a tree holding `node_modules`, say) the stamps cost
/// more than they save: no fast answer for such a tree.
pub(crate) const MAX_DIRS: usize = if cfg!(test) { 50 } else { 20_000 };
/// Marks a tree of more than [`MAX_DIRS`] directories, with how many captures
/// are left before it is walked again (it may have shrunk).
const TOO_BIG: &str = "too-big";
const TOO_BIG_SKIPS: u32 = 32;
/// A directory changed this recently may change again within the same timestamp
/// tick without its stat data showing it.
const RACY: Duration = Duration::from_millis(100);

/// Stat data as compared: every field a change moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    mode: u32,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    const ABSENT: Stamp = Stamp {
        dev: 0,
        ino: 0,
        mode: 0,
        mtime: (0, 0),
        ctime: (0, 0),
    };

    fn of(m: &std::fs::Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            mode: m.mode(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }

    /// `path`'s stamp, [`Stamp::ABSENT`] when there is none; `None` on any other
    /// error.
    fn at(path: &Path) -> Option<Stamp> {
        match std::fs::symlink_metadata(path) {
            Ok(m) => Some(Stamp::of(&m)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(Stamp::ABSENT),
            Err(_) => None,
        }
    }

    fn changed_since(&self, t: (i64, i64)) -> bool {
        self.mtime >= t || self.ctime >= t
    }

    fn line(&self, key: &str) -> String {
        format!(
            "{} {} {} {} {} {} {} {key}\n",
            self.dev, self.ino, self.mode, self.mtime.0, self.mtime.1, self.ctime.0, self.ctime.1
        )
    }

    fn parse(line: &str) -> Option<(Stamp, &str)> {
        let mut f = line.splitn(8, ' ');
        let mut n = || f.next();
        let stamp = Stamp {
            dev: n()?.parse().ok()?,
            ino: n()?.parse().ok()?,
            mode: n()?.parse().ok()?,
            mtime: (n()?.parse().ok()?, n()?.parse().ok()?),
            ctime: (n()?.parse().ok()?, n()?.parse().ok()?),
        };
        Some((stamp, n()?))
    }
}

/// The files outside the tree whose content changes what a capture holds: the
/// user's git configuration, ignore and attributes files, and the shadow's.
pub(crate) fn inputs(shadow: &Path) -> Vec<PathBuf> {
    let mut out = vec![shadow.join("config"), shadow.join("info").join("exclude")];
    let home = std::env::var_os("HOME").map(PathBuf::from);
    match std::env::var_os("GIT_CONFIG_GLOBAL") {
        Some(p) => out.push(PathBuf::from(p)),
        None => out.extend(home.as_ref().map(|h| h.join(".gitconfig"))),
    }
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home.map(|h| h.join(".config")));
    if let Some(x) = xdg {
        for f in ["config", "ignore", "attributes"] {
            out.push(x.join("git").join(f));
        }
    }
    out
}

/// Stamps every directory of `tree` (not `.git`, not through a symlink) and each of
/// `inputs`, to be saved with the capture that follows ([`save`]) in `admin`.
/// `None` when the tree cannot get a fast answer: a nested repository, too many
/// directories (then the next captures do not try again), one changed too
/// recently, one that cannot be read.
pub(crate) fn stamp_dirs(admin: &Path, tree: &Path, inputs: &[PathBuf]) -> Option<String> {
    // A tree found too big is not walked again for the next few captures.
    let too_big = admin.join(TOO_BIG);
    if let Some(left) = std::fs::read_to_string(&too_big)
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())
    {
        if left > 0 {
            let _ = std::fs::write(&too_big, format!("{}\n", left - 1));
            return None;
        }
        let _ = std::fs::remove_file(&too_big);
    }
    let now = SystemTime::now()
        .checked_sub(RACY)?
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?;
    let racy = (now.as_secs() as i64, i64::from(now.subsec_nanos()));
    let mut text = String::new();
    for input in inputs {
        let stamp = Stamp::at(input)?;
        if stamp != Stamp::ABSENT && stamp.changed_since(racy) {
            return None;
        }
        text.push_str(&stamp.line(&input_key(input)));
    }
    let mut pending: Vec<Vec<u8>> = vec![Vec::new()];
    let mut count = 0usize;
    while let Some(rel) = pending.pop() {
        count += 1;
        if count > MAX_DIRS {
            let _ = std::fs::write(&too_big, format!("{TOO_BIG_SKIPS}\n"));
            return None;
        }
        let dir = join(tree, &rel);
        // The stamp first, then the listing: a change after the stamp shows later.
        let meta = std::fs::symlink_metadata(&dir).ok()?;
        if !meta.is_dir() {
            return None;
        }
        let stamp = Stamp::of(&meta);
        if stamp.changed_since(racy) {
            return None;
        }
        text.push_str(&stamp.line(&format!("d{}", hex(&rel))));
        for entry in std::fs::read_dir(&dir).ok()? {
            let entry = entry.ok()?;
            let name = entry.file_name();
            let name = name.as_encoded_bytes();
            if name == b".git" {
                if rel.is_empty() {
                    continue;
                }
                // A nested repository: git names it, not its files.
                return None;
            }
            if entry.file_type().ok()?.is_dir() {
                let mut child = rel.clone();
                if !child.is_empty() {
                    child.push(b'/');
                }
                child.extend_from_slice(name);
                pending.push(child);
            }
        }
    }
    Some(text)
}

/// The stamps of `inputs` alone, as text (to tell when ignore rules from outside
/// the tree changed).
pub(crate) fn stamp_inputs(inputs: &[PathBuf]) -> String {
    inputs
        .iter()
        .map(|p| Stamp::at(p).unwrap_or(Stamp::ABSENT).line(&input_key(p)))
        .collect()
}

/// Whether `stamps` (from [`stamp_inputs`]) differ from those the last capture
/// kept with [`keep_inputs`] (also when it kept none).
pub(crate) fn inputs_changed(admin: &Path, stamps: &str) -> bool {
    !std::fs::read_to_string(admin.join(INPUTS)).is_ok_and(|kept| kept == stamps)
}

/// Keeps `stamps` once a capture made with them is done.
pub(crate) fn keep_inputs(admin: &Path, stamps: &str) {
    let _ = std::fs::write(admin.join(INPUTS), stamps);
}

/// Keeps `stamps` as those of the capture `tree_sha`.
pub(crate) fn save(admin: &Path, tree_sha: &str, stamps: &str) {
    let tmp = admin.join(format!(".{DIRS}-{}", std::process::id()));
    let text = format!("{HEADER} {tree_sha}\n{stamps}");
    if std::fs::write(&tmp, text).is_ok() {
        let _ = std::fs::rename(&tmp, admin.join(DIRS));
    } else {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// Forgets the stamps (the next capture asks git).
pub(crate) fn forget(admin: &Path) {
    let _ = std::fs::remove_file(admin.join(DIRS));
}

/// Whether `tree` is exactly as the capture `tree_sha` saw it: its directories and
/// the inputs as stamped, and every file of the index (`admin/index`, object names
/// `oid_len` bytes long) as git recorded it.
pub(crate) fn unchanged(admin: &Path, tree: &Path, tree_sha: &str, oid_len: usize) -> bool {
    let Ok(text) = std::fs::read_to_string(admin.join(DIRS)) else {
        return false;
    };
    let mut lines = text.lines();
    if lines.next() != Some(&format!("{HEADER} {tree_sha}")) {
        return false;
    }
    for line in lines {
        let Some((stamp, key)) = Stamp::parse(line) else {
            return false;
        };
        let path = match key.split_at_checked(1) {
            Some(("d", rel)) => match unhex(rel) {
                Some(rel) => join(tree, &rel),
                None => return false,
            },
            Some(("/", abs)) => match unhex(abs) {
                Some(abs) => PathBuf::from(std::ffi::OsStr::from_bytes(&abs)),
                None => return false,
            },
            _ => return false,
        };
        if Stamp::at(&path) != Some(stamp) {
            return false;
        }
    }
    index_unchanged(&admin.join("index"), tree, oid_len)
}

/// Every entry of the index at `index` still has the stat data git recorded, and
/// none was racily clean when it was written.
fn index_unchanged(index: &Path, tree: &Path, oid_len: usize) -> bool {
    let Ok(file) = std::fs::File::open(index) else {
        return false;
    };
    let Ok(meta) = file.metadata() else {
        return false;
    };
    let written = (meta.mtime(), meta.mtime_nsec());
    let Ok(bytes) = std::fs::read(index) else {
        return false;
    };
    let Some(entries) = parse_index(&bytes, oid_len) else {
        return false;
    };
    let Ok(dir) = rustix::fs::open(
        tree,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    ) else {
        return false;
    };
    let check = |chunk: &[Entry<'_>]| {
        // Each file is looked up from its own directory (opened once for all of
        // its files: the index is sorted), not from the tree's root.
        let mut parent: Option<(&[u8], rustix::fd::OwnedFd)> = None;
        chunk.iter().all(|e| {
            if (i64::from(e.mtime.0), i64::from(e.mtime.1)) >= written {
                return false;
            }
            let (dir_part, name) = match e.path.iter().rposition(|c| *c == b'/') {
                Some(i) => (&e.path[..i], &e.path[i + 1..]),
                None => (&e.path[..0], e.path),
            };
            if dir_part.is_empty() {
                return rustix::fs::statat(&dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
                    .is_ok_and(|st| e.matches(&st));
            }
            if parent.as_ref().is_none_or(|(p, _)| *p != dir_part) {
                let Ok(fd) = rustix::fs::openat(
                    &dir,
                    dir_part,
                    rustix::fs::OFlags::PATH
                        | rustix::fs::OFlags::DIRECTORY
                        | rustix::fs::OFlags::NOFOLLOW
                        | rustix::fs::OFlags::CLOEXEC,
                    rustix::fs::Mode::empty(),
                ) else {
                    return false;
                };
                parent = Some((dir_part, fd));
            }
            let Some((_, fd)) = &parent else {
                return false;
            };
            rustix::fs::statat(fd, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
                .is_ok_and(|st| e.matches(&st))
        })
    };
    // Large indexes are checked on every core (a `diff` of one environment);
    // `conflicts` already checks several environments at once.
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4)
        .min(entries.len() / 4096 + 1);
    if threads <= 1 {
        return check(&entries);
    }
    let size = entries.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = entries
            .chunks(size)
            .map(|chunk| s.spawn(move || check(chunk)))
            .collect();
        handles.into_iter().all(|h| h.join().unwrap_or(false))
    })
}

/// One index entry's stat data, as git keeps it (32 bits of each field).
#[derive(Debug)]
struct Entry<'a> {
    ctime: (u32, u32),
    mtime: (u32, u32),
    dev: u32,
    ino: u32,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u32,
    path: &'a [u8],
}

impl Entry<'_> {
    fn matches(&self, st: &rustix::fs::Stat) -> bool {
        let file_mode = st.st_mode & 0o170000;
        let mode = match file_mode {
            0o100000 if st.st_mode & 0o100 != 0 => 0o100755,
            0o100000 => 0o100644,
            0o120000 => 0o120000,
            _ => return false,
        };
        self.mode == mode
            && self.ctime == (st.st_ctime as u32, st.st_ctime_nsec as u32)
            && self.mtime == (st.st_mtime as u32, st.st_mtime_nsec as u32)
            && self.dev == st.st_dev as u32
            && self.ino == st.st_ino as u32
            && self.uid == st.st_uid
            && self.gid == st.st_gid
            && self.size == st.st_size as u32
    }
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The entries of a version 2 or 3 index (`None` for anything else: version 4,
/// a conflict, a submodule, an entry git marked skip-worktree or intent-to-add,
/// a path that could leave the tree).
fn parse_index(b: &[u8], oid_len: usize) -> Option<Vec<Entry<'_>>> {
    if b.get(0..4)? != b"DIRC" {
        return None;
    }
    let version = be32(b, 4)?;
    if version != 2 && version != 3 {
        return None;
    }
    let count = be32(b, 8)? as usize;
    let mut entries = Vec::with_capacity(count.min(1 << 20));
    let mut at = 12;
    for _ in 0..count {
        let f = |i: usize| be32(b, at + 4 * i);
        let flags_at = at + 40 + oid_len;
        let flags = u16::from_be_bytes(b.get(flags_at..flags_at + 2)?.try_into().ok()?);
        let extended = flags & 0x4000 != 0;
        if flags & 0x3000 != 0 || (extended && version < 3) {
            return None;
        }
        let mut path_at = flags_at + 2;
        if extended {
            // Skip-worktree or intent-to-add: not a plain file of the tree.
            return None;
        }
        let rest = b.get(path_at..)?;
        let len = rest.iter().position(|c| *c == 0)?;
        let path = &rest[..len];
        if path.is_empty()
            || path.starts_with(b"/")
            || path
                .split(|c| *c == b'/')
                .any(|p| p.is_empty() || p == b"." || p == b"..")
        {
            return None;
        }
        let mode = f(6)?;
        if mode == 0o160000 {
            return None;
        }
        entries.push(Entry {
            ctime: (f(0)?, f(1)?),
            mtime: (f(2)?, f(3)?),
            dev: f(4)?,
            ino: f(5)?,
            mode,
            uid: f(7)?,
            gid: f(8)?,
            size: f(9)?,
            path,
        });
        path_at += len;
        // Entries are padded with 1–8 NULs to a multiple of 8 bytes.
        let size = (path_at - at + 8) & !7;
        at += size;
    }
    Some(entries)
}

/// How an input (an absolute path) is named in the stamps.
fn input_key(path: &Path) -> String {
    format!("/{}", hex(path.as_os_str().as_encoded_bytes()))
}

fn join(tree: &Path, rel: &[u8]) -> PathBuf {
    if rel.is_empty() {
        return tree.to_path_buf();
    }
    tree.join(std::ffi::OsStr::from_bytes(rel))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_of(version: &str, files: &[&str]) -> (tempfile::TempDir, Vec<u8>) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        crate::git::tests::init_repo(dir);
        for f in files {
            let p = dir.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, f.as_bytes()).unwrap();
        }
        crate::git::git(dir, ["add", "-A"]).unwrap();
        crate::git::git(dir, ["update-index", "--index-version", version]).unwrap();
        let bytes = std::fs::read(dir.join(".git/index")).unwrap();
        (tmp, bytes)
    }

    #[test]
    fn reads_the_entries_of_a_version_2_index_and_nothing_else() {
        let long = format!("d/{}.txt", "x".repeat(200));
        let files = ["a.txt", "d/b c.txt", long.as_str(), "z"];
        let (tmp, bytes) = index_of("2", &files);
        let entries = parse_index(&bytes, 20).unwrap();
        let paths: Vec<&[u8]> = entries.iter().map(|e| e.path).collect();
        let want: Vec<&[u8]> = files.iter().map(|f| f.as_bytes()).collect();
        assert_eq!(paths, want);
        let st = rustix::fs::lstat(tmp.path().join("d/b c.txt")).unwrap();
        assert!(entries[1].matches(&st));
        assert!(!entries[0].matches(&st));
        let (_tmp4, v4) = index_of("4", &files);
        assert!(parse_index(&v4, 20).is_none(), "version 4 is not read");
        assert!(
            parse_index(b"DIRC\0\0\0\x02\0\0\0\x05", 20).is_none(),
            "a truncated index"
        );
    }

    #[test]
    fn paths_that_leave_the_tree_are_refused() {
        let (_tmp, mut bytes) = index_of("2", &["ab/cd.txt"]);
        let at = bytes.windows(9).position(|w| w == b"ab/cd.txt").unwrap();
        bytes[at..at + 5].copy_from_slice(b"../cd");
        assert!(parse_index(&bytes, 20).is_none());
    }
}
