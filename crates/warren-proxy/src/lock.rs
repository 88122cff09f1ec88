//! `ROOT/proxy.lock`: who the running proxy is (pid, port, start time).
//!
//! The serving proxy holds an exclusive `flock` on the file for its whole
//! life, so the kernel itself says whether the lock is live: a proxy that
//! was killed (even with `kill -9`) drops the lock, and the next starter
//! takes the file over. The contents are replaced atomically (write a
//! locked temp file, rename it over the old one); a starter that locked the
//! old inode notices the swap (its inode is no longer at the path) and
//! retries, so two starters can never both own the lock.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use warren_core::process::pid_alive;

use crate::error::ProxyError;

/// File name of the lock inside the warren root.
pub const LOCK_FILE: &str = "proxy.lock";

/// A running (or formerly running) proxy, as its lock file records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyInfo {
    /// Process id of `warren proxy serve`.
    pub pid: u32,
    /// The port it listens on (the real one, also when asked for port 0).
    pub port: u16,
    /// Address it is bound to.
    pub bind: IpAddr,
    /// When it started, in Unix seconds.
    pub started_at: i64,
    /// warren version of the proxy process.
    pub version: String,
}

impl ProxyInfo {
    /// Seconds since the proxy started.
    pub fn uptime_seconds(&self) -> i64 {
        (warren_store::now_unix() - self.started_at).max(0)
    }

    /// Address to connect to for talking to the proxy from this machine.
    pub fn connect_addr(&self) -> std::net::SocketAddr {
        let ip = match self.bind {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        std::net::SocketAddr::new(ip, self.port)
    }
}

/// What the lock file says about the proxy right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A proxy holds the lock and has published where it listens.
    Running(ProxyInfo),
    /// A proxy holds the lock but is still starting (or taking over a stale lock).
    Starting,
    /// No proxy holds the lock; `stale` is what a dead one left behind.
    Stopped { stale: Option<ProxyInfo> },
}

/// Looks at the lock without disturbing a proxy that holds it.
pub fn probe(root: &Path) -> Result<Probe, ProxyError> {
    let path = root.join(LOCK_FILE);
    let err = |source| ProxyError::Lock {
        path: path.clone(),
        source,
    };
    let mut file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Probe::Stopped { stale: None }),
        Err(e) => return Err(err(e)),
    };
    let info = read_info(&mut file);
    // A shared lock succeeds only when no proxy holds the exclusive one; it
    // is dropped with `file` right away.
    if try_flock(&file, libc::LOCK_SH).map_err(err)? {
        return Ok(Probe::Stopped { stale: info });
    }
    Ok(match info {
        Some(info) if pid_alive(info.pid) => Probe::Running(info),
        _ => Probe::Starting,
    })
}

/// The lock as held by the serving proxy. Dropping it releases the lock
/// but leaves the file; [`ProxyLock::release`] removes it too.
#[derive(Debug)]
pub struct ProxyLock {
    file: File,
    path: PathBuf,
    /// What a dead proxy had left in the file when this one took it over.
    pub replaced: Option<ProxyInfo>,
}

/// Outcome of [`ProxyLock::acquire`].
#[derive(Debug)]
pub enum Acquired {
    Owned(ProxyLock),
    /// Another live proxy holds it (its info, once it has published it).
    Held(Option<ProxyInfo>),
}

impl ProxyLock {
    /// Takes the lock if no live proxy holds it.
    pub fn acquire(root: &Path) -> Result<Acquired, ProxyError> {
        fs::create_dir_all(root).map_err(|source| ProxyError::Lock {
            path: root.to_path_buf(),
            source,
        })?;
        let path = root.join(LOCK_FILE);
        let err = |source| ProxyError::Lock {
            path: path.clone(),
            source,
        };
        // `probe` holds a shared lock for microseconds, and a new owner
        // publishes within milliseconds of locking: retry briefly before
        // concluding that someone else owns it.
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(err)?;
            if try_flock(&file, libc::LOCK_EX).map_err(err)? {
                if !same_inode(&file, &path) {
                    // Replaced or removed by the previous owner since we opened it.
                    continue;
                }
                let replaced = read_info(&mut file);
                return Ok(Acquired::Owned(ProxyLock {
                    file,
                    path,
                    replaced,
                }));
            }
            let info = read_info(&mut file);
            if let Some(info) = info.as_ref().filter(|i| pid_alive(i.pid)) {
                return Ok(Acquired::Held(Some(info.clone())));
            }
            if Instant::now() >= deadline {
                return Ok(Acquired::Held(info));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Records where this proxy listens, atomically (readers see the old or
    /// the new contents, never a mix).
    pub fn publish(&mut self, info: &ProxyInfo) -> Result<(), ProxyError> {
        let tmp = self
            .path
            .with_extension(format!("lock.{}.tmp", std::process::id()));
        let err = |source| ProxyError::Lock {
            path: tmp.clone(),
            source,
        };
        let mut file = File::create(&tmp).map_err(err)?;
        // Lock the new inode before it appears under the lock's name, so
        // there is no instant at which the named file is unlocked.
        if !try_flock(&file, libc::LOCK_EX).map_err(err)? {
            return Err(err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "fresh temp file is locked",
            )));
        }
        let json = serde_json::to_vec(info).map_err(|e| err(e.into()))?;
        file.write_all(&json).map_err(err)?;
        file.sync_all().map_err(err)?;
        fs::rename(&tmp, &self.path).map_err(|source| ProxyError::Lock {
            path: self.path.clone(),
            source,
        })?;
        // The old inode (and its lock) goes away with the old handle.
        self.file = file;
        Ok(())
    }

    /// Removes the lock file (if it is still ours) and releases the lock.
    pub fn release(self) {
        if same_inode(&self.file, &self.path) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn read_info(file: &mut File) -> Option<ProxyInfo> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

fn same_inode(file: &File, path: &Path) -> bool {
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}

/// Non-blocking `flock`; `Ok(false)` when another holder has it.
fn try_flock(file: &File, kind: libc::c_int) -> io::Result<bool> {
    loop {
        // SAFETY: flock on a descriptor we own; no memory is passed.
        let rc = unsafe { libc::flock(file.as_raw_fd(), kind | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EWOULDBLOCK) => return Ok(false),
            Some(libc::EINTR) => continue,
            _ => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(pid: u32) -> ProxyInfo {
        ProxyInfo {
            pid,
            port: 1234,
            bind: "127.0.0.1".parse().unwrap(),
            started_at: 1,
            version: "test".into(),
        }
    }

    #[test]
    fn owner_excludes_others_and_release_removes() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(probe(dir.path()).unwrap(), Probe::Stopped { stale: None });
        let Acquired::Owned(mut lock) = ProxyLock::acquire(dir.path()).unwrap() else {
            panic!("first acquire must own");
        };
        assert_eq!(probe(dir.path()).unwrap(), Probe::Starting);
        let me = info(std::process::id());
        lock.publish(&me).unwrap();
        assert_eq!(probe(dir.path()).unwrap(), Probe::Running(me.clone()));
        // flock is per open file description: a second open in this process
        // conflicts just like another process would.
        match ProxyLock::acquire(dir.path()).unwrap() {
            Acquired::Held(Some(i)) => assert_eq!(i, me),
            other => panic!("{other:?}"),
        }
        lock.release();
        assert!(!dir.path().join(LOCK_FILE).exists());
        assert_eq!(probe(dir.path()).unwrap(), Probe::Stopped { stale: None });
    }

    #[test]
    fn stale_lock_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let dead = info(u32::MAX - 1);
        fs::write(
            dir.path().join(LOCK_FILE),
            serde_json::to_vec(&dead).unwrap(),
        )
        .unwrap();
        assert_eq!(
            probe(dir.path()).unwrap(),
            Probe::Stopped {
                stale: Some(dead.clone())
            }
        );
        let Acquired::Owned(lock) = ProxyLock::acquire(dir.path()).unwrap() else {
            panic!("stale lock must be taken over");
        };
        assert_eq!(lock.replaced, Some(dead));
    }
}
