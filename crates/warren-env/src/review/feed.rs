//! The change feed: one `warren __watch-trees` process per warren root that hears,
//! through inotify, of every change in the environments' trees, so that the
//! advisory views (`warren conflicts`, the CHANGES and clash columns of `ls`) can
//! tell that a tree did not change since its last capture without a `stat` of each
//! of its files (a million of them for 50 environments of 20,000 files, half a
//! second of CPU that no cache makes cheaper).
//!
//! The protocol, on a Unix socket in a 0700 directory of the root: the client sends
//! a tree's absolute path and a NUL; the watcher first reads every event the kernel
//! has queued (a write that returned before the request was queued before it), then
//! answers `INSTANCE.GEN`, a token that is never handed out again once anything in
//! the tree changed, or `-` when it cannot vouch for the tree (not watched yet, too
//! many directories, out of watches). A capture keeps the token it was made under
//! (read before it looked at the tree); the next one with the same token is the
//! same tree.
//!
//! What the feed does not hear of, and why that is acceptable here: a write through
//! a shared memory map of a file already closed (inotify reports none; the file's
//! stat data does move, and `warren diff`, which the user reviews before landing,
//! still checks every file's stat data and never asks the feed); changes inside the
//! tree's own `.git` (a capture reads the working files only). Anything it is unsure
//! of (a lost event: the kernel's queue overflowed) makes every token new.
//!
//! The watcher only reads directories: each is opened below its parent with
//! `O_NOFOLLOW` and watched through its descriptor, so a symlink an agent swaps in
//! never makes it watch (or list) anything outside the tree. It caps its watches at a
//! quarter of the user's inotify limit, so no environment can use up the watches the
//! user's editor needs, and it ends when its socket is gone (the root removed) or
//! after [`IDLE`] without a question.

use std::collections::HashMap;
use std::ffi::{CStr, CString, OsStr};
use std::io::{Read as _, Write as _};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use rustix::fs::inotify::{self, ReadFlags, WatchFlags};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

/// The feed's directory under the root, and its socket and lock in it.
const DIR: &str = "feed";
const SOCK: &str = "sock";
const LOCK: &str = "lock";
/// The watcher ends after this long without a question.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// How often it checks that its socket is still its own.
const TICK: Duration = Duration::from_secs(1);
/// Past this many directories a tree is not watched (it is checked by `stat`).
const MAX_DIRS: usize = 20_000;
/// A tree that could not be watched is tried again after this long.
const RETRY: Duration = Duration::from_secs(120);
/// At most this many trees (a root with more is an error somewhere).
const MAX_TREES: usize = 4096;
/// How long a client waits for an answer.
const ANSWER: Duration = Duration::from_secs(2);
/// The events that mean a change; opening and reading a file are not.
const MASK: WatchFlags = WatchFlags::MODIFY
    .union(WatchFlags::ATTRIB)
    .union(WatchFlags::CLOSE_WRITE)
    .union(WatchFlags::CREATE)
    .union(WatchFlags::DELETE)
    .union(WatchFlags::DELETE_SELF)
    .union(WatchFlags::MOVE_SELF)
    .union(WatchFlags::MOVED_FROM)
    .union(WatchFlags::MOVED_TO)
    .union(WatchFlags::ONLYDIR)
    .union(WatchFlags::EXCL_UNLINK);

/// The socket of `root`'s watcher.
pub fn socket_of(root: &Path) -> PathBuf {
    root.join(DIR).join(SOCK)
}

/// A connection to a root's watcher.
#[derive(Debug, Clone)]
pub struct Feed {
    sock: PathBuf,
}

impl Feed {
    /// `root`'s feed when its watcher answers; otherwise starts one (detached, with
    /// `warren_exe __watch-trees TREES…` so that it watches `trees` at once) for the
    /// commands that follow, and this one goes without.
    pub fn open_or_start(root: &Path, warren_exe: &Path, trees: &[&Path]) -> Option<Feed> {
        let sock = socket_of(root);
        if UnixStream::connect(&sock).is_ok() {
            return Some(Feed { sock });
        }
        start(root, warren_exe, trees);
        None
    }

    /// `root`'s feed when its watcher answers (nothing is started).
    pub fn open(root: &Path) -> Option<Feed> {
        let sock = socket_of(root);
        UnixStream::connect(&sock).ok().map(|_| Feed { sock })
    }

    /// The token `tree` has now: the same as at an earlier call exactly when
    /// nothing in it changed since. `None` when the watcher cannot say.
    pub fn token(&self, tree: &Path) -> Option<String> {
        let mut s = UnixStream::connect(&self.sock).ok()?;
        s.set_read_timeout(Some(ANSWER)).ok()?;
        s.set_write_timeout(Some(ANSWER)).ok()?;
        let mut req = tree.as_os_str().as_bytes().to_vec();
        req.push(0);
        s.write_all(&req).ok()?;
        let mut out = String::new();
        s.take(128).read_to_string(&mut out).ok()?;
        let out = out.trim();
        let valid = !out.is_empty()
            && out.contains('.')
            && out.chars().all(|c| c.is_ascii_hexdigit() || c == '.');
        valid.then(|| out.to_string())
    }
}

/// Starts the watcher of `root` in the background. Best effort.
fn start(root: &Path, warren_exe: &Path, trees: &[&Path]) {
    let mut cmd = crate::pool::detached(warren_exe, root);
    cmd.arg("__watch-trees").args(trees);
    // Not waited for: it outlives this command (a zombie until this one exits).
    let _ = cmd.spawn();
}

/// What [`serve`] could not do.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("cannot set up the change feed in `{path}`: {source}")]
    Setup {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn setup_err(path: &Path) -> impl FnOnce(std::io::Error) -> FeedError + '_ {
    move |source| FeedError::Setup {
        path: path.to_path_buf(),
        source,
    }
}

/// Runs `root`'s watcher, watching `trees` at once and any tree a client asks
/// about. Returns when another watcher of `root` runs, when its socket is removed
/// or replaced, or after [`IDLE`] without a question.
pub fn serve(root: &Path, trees: &[PathBuf]) -> Result<(), FeedError> {
    let dir = root.join(DIR);
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(setup_err(&dir)(e)),
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .map_err(setup_err(&dir))?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK))
        .map_err(setup_err(&dir))?;
    if rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err() {
        // Another watcher of this root runs.
        return Ok(());
    }
    let sock = dir.join(SOCK);
    let _ = std::fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock).map_err(setup_err(&sock))?;
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600))
        .map_err(setup_err(&sock))?;
    listener.set_nonblocking(true).map_err(setup_err(&sock))?;
    let sock_ino = std::fs::symlink_metadata(&sock)
        .map_err(setup_err(&sock))?
        .ino();
    let ino = inotify::init(inotify::CreateFlags::NONBLOCK | inotify::CreateFlags::CLOEXEC)
        .map_err(|e| setup_err(&dir)(e.into()))?;
    let mut w = Watcher::new(ino);
    for t in trees {
        w.add(t.as_os_str().as_bytes());
    }
    let mut buf = vec![MaybeUninit::<u8>::uninit(); 64 * 1024];
    let mut last_question = Instant::now();
    let mut last_tick = Instant::now();
    loop {
        w.drain(&mut buf);
        w.walk_pending();
        let mut fds = [
            rustix::event::PollFd::new(&listener, rustix::event::PollFlags::IN),
            rustix::event::PollFd::new(&w.ino, rustix::event::PollFlags::IN),
        ];
        let timeout = rustix::event::Timespec {
            tv_sec: TICK.as_secs() as i64,
            tv_nsec: 0,
        };
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(_) => return Ok(()),
        }
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    last_question = Instant::now();
                    w.answer(stream, &mut buf);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        if last_tick.elapsed() >= TICK {
            last_tick = Instant::now();
            let ours = std::fs::symlink_metadata(&sock).is_ok_and(|m| m.ino() == sock_ino);
            if !ours || last_question.elapsed() >= IDLE {
                return Ok(());
            }
        }
    }
}

/// One watched tree.
#[derive(Debug)]
struct Tree {
    path: Vec<u8>,
    /// The token's generation: from one counter for all trees, so a number is
    /// never handed out twice.
    generation: u64,
    /// The watches of its directories; the first is the tree's root.
    wds: Vec<i32>,
    state: TreeState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TreeState {
    /// Watched, every directory.
    Watched,
    /// To be walked (again) before its next token: new, or a directory in it
    /// was made, moved or lost events.
    Walk,
    /// Could not be watched; tried again after this instant.
    Unwatchable(Instant),
}

struct Watcher {
    ino: OwnedFd,
    instance: String,
    counter: u64,
    trees: HashMap<Vec<u8>, Tree>,
    /// Watch descriptor → tree path.
    owner: HashMap<i32, Vec<u8>>,
    max_watches: usize,
}

impl Watcher {
    fn new(ino: OwnedFd) -> Watcher {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let user_limit = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(8192);
        Watcher {
            ino,
            instance: format!("{:x}{:x}", std::process::id(), nanos),
            counter: 0,
            trees: HashMap::new(),
            owner: HashMap::new(),
            max_watches: user_limit / 4,
        }
    }

    fn next_gen(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// Starts watching `path` (at the next [`Watcher::walk_pending`]).
    fn add(&mut self, path: &[u8]) {
        if self.trees.contains_key(path) || self.trees.len() >= MAX_TREES || !path.starts_with(b"/")
        {
            return;
        }
        let generation = self.next_gen();
        self.trees.insert(
            path.to_vec(),
            Tree {
                path: path.to_vec(),
                generation,
                wds: Vec::new(),
                state: TreeState::Walk,
            },
        );
    }

    /// Answers one client: its tree's token, after every queued event is read.
    fn answer(&mut self, mut stream: UnixStream, buf: &mut [MaybeUninit<u8>]) {
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
        let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
        let mut req = Vec::new();
        let mut chunk = [0u8; 512];
        while !req.contains(&0) && req.len() < 8192 {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => req.extend_from_slice(&chunk[..n]),
            }
        }
        let Some(end) = req.iter().position(|c| *c == 0) else {
            return;
        };
        let path = &req[..end];
        self.drain(buf);
        let reply = self.token(path).unwrap_or_else(|| "-".to_string());
        let _ = stream.write_all(format!("{reply}\n").as_bytes());
    }

    /// `path`'s token, walking it first when a change in its directories is
    /// pending; `None` (and watched from now on) when it is new.
    fn token(&mut self, path: &[u8]) -> Option<String> {
        let state = match self.trees.get(path) {
            Some(t) => t.state,
            None => {
                self.add(path);
                return None;
            }
        };
        match state {
            TreeState::Watched => {}
            TreeState::Walk => {
                self.walk(path);
            }
            TreeState::Unwatchable(retry) => {
                if Instant::now() < retry {
                    return None;
                }
                self.walk(path);
            }
        }
        let t = self.trees.get(path)?;
        (t.state == TreeState::Watched).then(|| format!("{}.{:x}", self.instance, t.generation))
    }

    /// Walks every tree waiting for it (new ones), between questions.
    fn walk_pending(&mut self) {
        let pending: Vec<Vec<u8>> = self
            .trees
            .values()
            .filter(|t| t.state == TreeState::Walk && t.wds.is_empty())
            .map(|t| t.path.clone())
            .collect();
        for p in pending {
            self.walk(&p);
        }
    }

    /// Forgets `path`'s watches.
    fn unwatch(&mut self, path: &[u8]) {
        let Some(t) = self.trees.get_mut(path) else {
            return;
        };
        for wd in std::mem::take(&mut t.wds) {
            self.owner.remove(&wd);
            let _ = inotify::remove_watch(&self.ino, wd);
        }
    }

    /// Watches every directory of the tree at `path` afresh (not its top `.git`),
    /// each watched before it is listed, so a directory made after its listing
    /// shows as an event.
    fn walk(&mut self, path: &[u8]) {
        self.unwatch(path);
        let result = self.walk_dirs(path);
        let generation = self.next_gen();
        let Some(t) = self.trees.get_mut(path) else {
            return;
        };
        t.generation = generation;
        match result {
            Ok(wds) => {
                for wd in &wds {
                    self.owner.insert(*wd, path.to_vec());
                }
                t.wds = wds;
                t.state = TreeState::Watched;
            }
            Err(Walk::Gone) => {
                self.trees.remove(path);
            }
            Err(Walk::Unwatchable(wds)) => {
                for wd in wds {
                    let _ = inotify::remove_watch(&self.ino, wd);
                }
                t.state = TreeState::Unwatchable(Instant::now() + RETRY);
            }
        }
    }

    fn walk_dirs(&self, path: &[u8]) -> Result<Vec<i32>, Walk> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let root = rustix::fs::open(OsStr::from_bytes(path), flags, Mode::empty())
            .map_err(|_| Walk::Gone)?;
        let in_use = self.owner.len();
        let mut wds = Vec::new();
        // Each directory is opened below its parent when its turn comes, so at
        // most one descriptor per level is open.
        let mut pending: Vec<(Option<Below>, bool)> = vec![(None, true)];
        let root = Rc::new(root);
        while let Some((at, top)) = pending.pop() {
            let fd = match at {
                None => Rc::clone(&root),
                Some((parent, name)) => {
                    match rustix::fs::openat(&*parent, &name, flags, Mode::empty()) {
                        Ok(fd) => Rc::new(fd),
                        // Gone or replaced since its listing: that was an event
                        // in its parent, and the tree is walked again before its
                        // next token.
                        Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => continue,
                        // Out of descriptors (a very deep tree), or unreadable:
                        // a directory not watched is a tree not vouched for.
                        Err(_) => return Err(Walk::Unwatchable(wds)),
                    }
                }
            };
            if wds.len() >= MAX_DIRS || in_use + wds.len() >= self.max_watches {
                return Err(Walk::Unwatchable(wds));
            }
            let proc_path = format!("/proc/self/fd/{}", fd.as_raw_fd());
            match inotify::add_watch(&self.ino, proc_path.as_str(), MASK) {
                Ok(wd) => wds.push(wd),
                Err(_) => return Err(Walk::Unwatchable(wds)),
            }
            let Ok(dir) = rustix::fs::Dir::read_from(fd.as_fd()) else {
                return Err(Walk::Unwatchable(wds));
            };
            for entry in dir {
                let Ok(entry) = entry else {
                    return Err(Walk::Unwatchable(wds));
                };
                let name: &CStr = entry.file_name();
                let bytes = name.to_bytes();
                if bytes == b"." || bytes == b".." || (top && bytes == b".git") {
                    continue;
                }
                let is_dir = match entry.file_type() {
                    FileType::Directory => true,
                    FileType::Unknown => rustix::fs::statat(&*fd, name, AtFlags::SYMLINK_NOFOLLOW)
                        .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory),
                    _ => false,
                };
                if is_dir {
                    pending.push((Some((Rc::clone(&fd), name.to_owned())), false));
                }
            }
        }
        Ok(wds)
    }

    /// Reads every queued event and moves the tokens of the trees they are in.
    fn drain(&mut self, buf: &mut [MaybeUninit<u8>]) {
        let mut events: Vec<(i32, ReadFlags)> = Vec::new();
        {
            let mut reader = inotify::Reader::new(&self.ino, buf);
            loop {
                match reader.next() {
                    Ok(e) => events.push((e.wd(), e.events())),
                    Err(Errno::INTR) => {}
                    Err(_) => break,
                }
            }
        }
        for (wd, flags) in events {
            self.event(wd, flags);
        }
    }

    fn event(&mut self, wd: i32, flags: ReadFlags) {
        if flags.contains(ReadFlags::QUEUE_OVERFLOW) {
            // Events were lost: no tree can be vouched for.
            let paths: Vec<Vec<u8>> = self.trees.keys().cloned().collect();
            for p in paths {
                let generation = self.next_gen();
                if let Some(t) = self.trees.get_mut(&p) {
                    t.generation = generation;
                    if t.state == TreeState::Watched {
                        t.state = TreeState::Walk;
                    }
                }
            }
            return;
        }
        let Some(path) = self.owner.get(&wd).cloned() else {
            return;
        };
        let generation = self.next_gen();
        let Some(t) = self.trees.get_mut(&path) else {
            return;
        };
        t.generation = generation;
        let is_root = t.wds.first() == Some(&wd);
        if flags.contains(ReadFlags::IGNORED) {
            self.owner.remove(&wd);
            t.wds.retain(|w| *w != wd);
            if is_root {
                self.unwatch(&path);
                self.trees.remove(&path);
            }
            return;
        }
        if is_root && flags.intersects(ReadFlags::DELETE_SELF | ReadFlags::MOVE_SELF) {
            self.unwatch(&path);
            self.trees.remove(&path);
            return;
        }
        let structural = ReadFlags::CREATE | ReadFlags::MOVED_FROM | ReadFlags::MOVED_TO;
        if flags.contains(ReadFlags::ISDIR)
            && flags.intersects(structural)
            && t.state == TreeState::Watched
        {
            t.state = TreeState::Walk;
        }
    }
}

/// A directory to open: its parent, open, and its name there.
type Below = (Rc<OwnedFd>, CString);

/// Why a walk stopped.
enum Walk {
    /// The tree is not there (or not a directory).
    Gone,
    /// Too many directories, out of watches, or unreadable; with the watches
    /// added so far.
    Unwatchable(Vec<i32>),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A watcher of its own root, on a thread; stops when dropped.
    struct Running {
        root: tempfile::TempDir,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl Running {
        fn start(trees: &[PathBuf]) -> Running {
            let root = tempfile::tempdir().unwrap();
            let r = root.path().to_path_buf();
            let trees = trees.to_vec();
            let thread = std::thread::spawn(move || serve(&r, &trees).unwrap());
            let sock = socket_of(root.path());
            for _ in 0..500 {
                if UnixStream::connect(&sock).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Running {
                root,
                thread: Some(thread),
            }
        }

        fn feed(&self) -> Feed {
            Feed::open(self.root.path()).expect("the watcher answers")
        }
    }

    impl Drop for Running {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(socket_of(self.root.path()));
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    /// The token once the watcher has walked the tree (the first question only
    /// starts the walk).
    fn settled(feed: &Feed, tree: &Path) -> String {
        for _ in 0..200 {
            if let Some(t) = feed.token(tree) {
                return t;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("no token for {}", tree.display());
    }

    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("src/deep")).unwrap();
        std::fs::create_dir_all(t.path().join(".git/objects")).unwrap();
        std::fs::write(t.path().join("src/deep/a.txt"), "a\n").unwrap();
        std::fs::write(t.path().join("top.txt"), "top\n").unwrap();
        t
    }

    #[test]
    fn the_token_stays_while_nothing_changes_and_moves_with_every_change() {
        let t = tree();
        let dir = t.path();
        let w = Running::start(&[dir.to_path_buf()]);
        let feed = w.feed();
        let mut now = settled(&feed, dir);
        assert_eq!(
            feed.token(dir).as_deref(),
            Some(now.as_str()),
            "nothing changed"
        );
        // Reading, listing and statting are not changes.
        let _ = std::fs::read(dir.join("src/deep/a.txt")).unwrap();
        let _ = std::fs::read_dir(dir.join("src")).unwrap().count();
        assert_eq!(feed.token(dir).as_deref(), Some(now.as_str()), "only read");
        // Writes in `.git` are not the tree's files.
        std::fs::write(dir.join(".git/objects/x"), "x").unwrap();
        assert_eq!(feed.token(dir).as_deref(), Some(now.as_str()), ".git");
        type Change = Box<dyn Fn(&Path)>;
        let changes: Vec<(&str, Change)> = vec![
            (
                "a write deep down",
                Box::new(|d: &Path| std::fs::write(d.join("src/deep/a.txt"), "b\n").unwrap()),
            ),
            (
                "a new file",
                Box::new(|d: &Path| std::fs::write(d.join("new.txt"), "n").unwrap()),
            ),
            (
                "a chmod",
                Box::new(|d: &Path| {
                    std::fs::set_permissions(
                        d.join("top.txt"),
                        std::fs::Permissions::from_mode(0o755),
                    )
                    .unwrap()
                }),
            ),
            (
                "a rename",
                Box::new(|d: &Path| {
                    std::fs::rename(d.join("new.txt"), d.join("src/moved.txt")).unwrap()
                }),
            ),
            (
                "a new directory",
                Box::new(|d: &Path| std::fs::create_dir(d.join("src/fresh")).unwrap()),
            ),
            (
                "a file in the new directory",
                Box::new(|d: &Path| std::fs::write(d.join("src/fresh/f.txt"), "f").unwrap()),
            ),
            (
                "a write in it again",
                Box::new(|d: &Path| std::fs::write(d.join("src/fresh/f.txt"), "g").unwrap()),
            ),
            (
                "a directory moved in from outside",
                Box::new(|d: &Path| {
                    let out = d
                        .parent()
                        .unwrap()
                        .join(format!("outside-{}", std::process::id()));
                    std::fs::create_dir_all(out.join("inner")).unwrap();
                    std::fs::rename(&out, d.join("src/came")).unwrap();
                }),
            ),
            (
                "a write in what moved in",
                Box::new(|d: &Path| std::fs::write(d.join("src/came/inner/x.txt"), "x").unwrap()),
            ),
            (
                "a delete",
                Box::new(|d: &Path| std::fs::remove_file(d.join("top.txt")).unwrap()),
            ),
            (
                "a directory removed",
                Box::new(|d: &Path| std::fs::remove_dir_all(d.join("src/came")).unwrap()),
            ),
        ];
        for (what, change) in changes {
            change(dir);
            let next = settled(&feed, dir);
            assert_ne!(next, now, "{what} moves the token");
            assert_eq!(
                feed.token(dir).as_deref(),
                Some(next.as_str()),
                "{what}: then it stays"
            );
            now = next;
        }
    }

    #[test]
    fn a_symlink_swapped_in_is_not_followed_and_a_removed_tree_has_no_token() {
        let t = tree();
        let dir = t.path();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        let w = Running::start(&[]);
        let feed = w.feed();
        assert_eq!(
            feed.token(dir),
            None,
            "a tree asked about first is walked after"
        );
        let now = settled(&feed, dir);
        std::os::unix::fs::symlink(outside.path(), dir.join("src/link")).unwrap();
        let after_link = settled(&feed, dir);
        assert_ne!(after_link, now);
        // A change outside, reachable through the link, is not the tree's.
        std::fs::write(outside.path().join("secret"), "changed").unwrap();
        assert_eq!(feed.token(dir).as_deref(), Some(after_link.as_str()));
        // A path that is a symlink itself is not watched.
        let link_tree = outside.path().join("tree-link");
        std::os::unix::fs::symlink(dir, &link_tree).unwrap();
        assert_eq!(feed.token(&link_tree), None);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(feed.token(&link_tree), None, "never");
        // Removed: no token, and a new tree at the same path has a new one.
        std::fs::remove_dir_all(dir).unwrap();
        assert_eq!(feed.token(dir), None);
        std::fs::create_dir(dir).unwrap();
        let again = settled(&feed, dir);
        assert_ne!(again, after_link);
        assert!(Feed::open(w.root.path()).is_some());
        // A relative path is not a tree.
        assert_eq!(feed.token(Path::new("relative")), None);
    }

    #[test]
    fn the_watcher_ends_when_its_socket_is_removed_and_a_second_one_does_not_start() {
        let w = Running::start(&[]);
        let second = serve(w.root.path(), &[]);
        assert!(second.is_ok(), "a second watcher returns at once");
        let mode = std::fs::metadata(w.root.path().join(DIR)).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let mode = std::fs::symlink_metadata(socket_of(w.root.path()))
            .unwrap()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        drop(w); // joins the thread: it ended
    }
}
