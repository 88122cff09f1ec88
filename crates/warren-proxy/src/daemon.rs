//! Starting, finding, inspecting and stopping the background proxy.
//!
//! Environments call [`ensure_running`] after registering routes; it finds a
//! running proxy through the lock file or starts `warren proxy serve`
//! detached (own session, output to `ROOT/logs/proxy.log`) and waits until
//! it answers. Concurrent callers are safe: at most one proxy wins the lock,
//! the others' children exit and every caller ends up with the winner.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;
use warren_core::vars;
use warren_store::Store;

use crate::error::ProxyError;
use crate::forward::STATUS_PATH;
use crate::lock::{self, Acquired, Probe, ProxyInfo, ProxyLock};
use crate::table::{self, RouteTable};
use warren_config::ProxyConfig;
use warren_core::routes::route_url;

/// How long [`ensure_running`] waits for a new proxy to answer.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// The proxy's log, relative to the warren root.
pub const LOG_FILE: &str = "logs/proxy.log";
/// The log is moved to `proxy.log.1` at start once it is this big.
const LOG_ROTATE_BYTES: u64 = 8 << 20;

/// Returns the running proxy of `root`, starting `warren_exe proxy serve`
/// in the background first if none runs. Blocks until the proxy answers (at
/// most [`START_TIMEOUT`]); call it from async code through
/// `spawn_blocking`. `settings` are passed to a new proxy through its
/// environment; a proxy that already runs keeps its own. With
/// `settings.autostart` off, only finds one ([`ProxyError::NotRunning`] if
/// there is none).
pub fn ensure_running(
    root: &Path,
    warren_exe: &Path,
    settings: &ProxyConfig,
) -> Result<ProxyInfo, ProxyError> {
    let deadline = Instant::now() + START_TIMEOUT;
    let log_path = root.join(LOG_FILE);
    let mut child: Option<(Child, u64)> = None;
    let mut child_failed: Option<String> = None;
    loop {
        if let Some((c, offset)) = child.as_mut()
            && child_failed.is_none()
            && let Ok(Some(status)) = c.try_wait()
        {
            let tail = log_since(&log_path, *offset);
            child_failed = Some(if tail.is_empty() {
                format!("`warren proxy serve` exited with {status}")
            } else {
                tail
            });
        }
        match lock::probe(root)? {
            Probe::Running(info) if answers(&info) => {
                if let Some((c, _)) = child.take() {
                    reap_later(c);
                }
                return Ok(info);
            }
            Probe::Running(_) | Probe::Starting => {}
            Probe::Stopped { .. } => {
                if let Some(reason) = child_failed {
                    return Err(ProxyError::StartFailed {
                        reason,
                        log: log_path,
                    });
                }
                if child.is_none() {
                    if !settings.autostart {
                        return Err(ProxyError::NotRunning);
                    }
                    child = Some(spawn(root, warren_exe, settings, &log_path)?);
                }
            }
        }
        if Instant::now() >= deadline {
            if let Some((c, _)) = child.take() {
                reap_later(c);
            }
            return Err(ProxyError::StartTimeout {
                seconds: START_TIMEOUT.as_secs(),
                log: log_path,
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn spawn(
    root: &Path,
    exe: &Path,
    settings: &ProxyConfig,
    log_path: &Path,
) -> Result<(Child, u64), ProxyError> {
    let log_err = |source| ProxyError::Log {
        path: log_path.to_path_buf(),
        source,
    };
    if let Some(dir) = log_path.parent() {
        fs::create_dir_all(dir).map_err(log_err)?;
    }
    if fs::metadata(log_path).is_ok_and(|m| m.len() > LOG_ROTATE_BYTES) {
        let _ = fs::rename(log_path, log_path.with_extension("log.1"));
    }
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .map_err(log_err)?;
    let offset = log.seek(SeekFrom::End(0)).map_err(log_err)?;
    let _ = writeln!(
        log,
        "{}  starting the proxy for {}",
        warren_core::time::rfc3339(warren_core::time::now_unix()),
        root.display()
    );
    let mut cmd = Command::new(exe);
    cmd.args(["proxy", "serve"])
        .env(vars::WARREN_ROOT, root)
        .envs(settings.to_env())
        // Not the caller's directory: that may be a worktree about to be removed.
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(log_err)?)
        .stderr(log);
    // SAFETY: setsid is async-signal-safe and touches no memory. A session
    // of its own keeps the proxy alive when the caller's terminal closes or
    // its process group is signalled (Ctrl-C in `warren run`).
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|source| ProxyError::Spawn {
        exe: exe.to_path_buf(),
        source,
    })?;
    Ok((child, offset))
}

/// Waits for the child in a thread so it does not linger as a zombie in a
/// long-running caller once it exits (idle, stop).
fn reap_later(mut child: Child) {
    let _ = std::thread::Builder::new()
        .name("proxy-reaper".into())
        .spawn(move || {
            let _ = child.wait();
        });
}

/// What the proxy wrote to its log since `offset` (its error, when it failed).
fn log_since(path: &Path, offset: u64) -> String {
    let mut text = String::new();
    if let Ok(mut f) = fs::File::open(path)
        && f.seek(SeekFrom::Start(offset)).is_ok()
    {
        let _ = f.take(16 << 10).read_to_string(&mut text);
    }
    // The first line is our own "starting" note.
    text.lines()
        .skip(1)
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The proxy's own status answer, if the process at `info`'s port is that
/// proxy (it answers its status path with its own pid).
fn own_status(info: &ProxyInfo) -> Option<serde_json::Value> {
    fn ask(info: &ProxyInfo) -> io::Result<Option<serde_json::Value>> {
        let timeout = Duration::from_secs(2);
        let mut s = TcpStream::connect_timeout(&info.connect_addr(), timeout)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        write!(
            s,
            "GET {STATUS_PATH} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )?;
        let mut resp = Vec::new();
        s.take(1 << 20).read_to_end(&mut resp)?;
        let text = String::from_utf8_lossy(&resp);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            return Ok(None);
        };
        if !head.starts_with("HTTP/1.1 200") {
            return Ok(None);
        }
        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        Ok((v["proxy"] == "warren" && v["pid"] == info.pid).then_some(v))
    }
    ask(info).ok().flatten()
}

/// Whether the process at `info`'s port is that proxy.
pub fn answers(info: &ProxyInfo) -> bool {
    own_status(info).is_some()
}

/// Waits (at most `timeout`) until the proxy routes environment `env`: it
/// reloads its table within ~100 ms of a change to the store, and a URL
/// printed before that would answer 404.
pub fn wait_until_routed(info: &ProxyInfo, env: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let routed = own_status(info).is_some_and(|v| {
            v["environments"]
                .as_array()
                .is_some_and(|a| a.iter().any(|e| e.as_str() == Some(env)))
        });
        if routed {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One route as `warren proxy status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteView {
    pub env: String,
    pub service: String,
    /// The service's own URL (`http://web.otter.localhost:8080`).
    pub url: String,
    /// The environment's URL if this is its default service.
    pub default_url: Option<String>,
    /// Backend address.
    pub target: String,
}

/// Whether a proxy runs for a root, and the routes it serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProxyStatus {
    /// The running proxy, if any.
    pub running: Option<ProxyInfo>,
    /// A proxy holds the lock but has not published its port yet.
    pub starting: bool,
    /// What a proxy that died without cleaning up left in the lock file.
    pub stale: Option<ProxyInfo>,
    /// Every route, with URLs on the running proxy's port (or the
    /// configured one when none runs).
    pub routes: Vec<RouteView>,
}

/// Reads the lock and the routes.
pub fn status(root: &Path, settings: &ProxyConfig) -> Result<ProxyStatus, ProxyError> {
    let (running, starting, stale) = match lock::probe(root)? {
        Probe::Running(info) => (Some(info), false, None),
        Probe::Starting => (None, true, None),
        Probe::Stopped { stale } => (None, false, stale),
    };
    let port = running.as_ref().map_or(settings.port, |i| i.port);
    let store = Store::open(root)?;
    // The routes the proxy serves: none of an environment that is stopped,
    // gone or failed, whatever the routes table still holds.
    let table = RouteTable::new(store.routes()?, &table::load_states(&store)?);
    let mut last_env = String::new();
    let routes = store
        .routes()?
        .into_iter()
        .filter(|r| table.routes_to(r))
        .map(|r| {
            let first = r.env != last_env;
            last_env.clone_from(&r.env);
            RouteView {
                url: route_url(Some(&r.service), &r.env, port),
                default_url: first.then(|| route_url(None, &r.env, port)),
                target: r.target(),
                env: r.env,
                service: r.service,
            }
        })
        .collect();
    Ok(ProxyStatus {
        running,
        starting,
        stale,
        routes,
    })
}

/// Stops the running proxy (SIGTERM, then waits up to `timeout` for it to
/// release its lock) and removes a stale lock. Returns the proxy that was
/// stopped, or `None` if none was running.
pub fn stop(root: &Path, timeout: Duration) -> Result<Option<ProxyInfo>, ProxyError> {
    let deadline = Instant::now() + timeout;
    loop {
        match lock::probe(root)? {
            Probe::Running(info) => {
                signal(info.pid, libc::SIGTERM)?;
                while Instant::now() < deadline {
                    // Done once the lock is released and the process is gone
                    // (it removes the lock just before it exits).
                    let released =
                        !matches!(lock::probe(root)?, Probe::Running(ref i) if i.pid == info.pid);
                    if released && !warren_core::process::pid_alive(info.pid) {
                        return Ok(Some(info));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                return Err(ProxyError::StopTimeout {
                    pid: info.pid,
                    seconds: timeout.as_secs(),
                });
            }
            Probe::Starting if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Probe::Starting => return Ok(None),
            Probe::Stopped { stale } => {
                if stale.is_some()
                    && let Acquired::Owned(lock) = ProxyLock::acquire(root)?
                {
                    lock.release();
                }
                return Ok(None);
            }
        }
    }
}

fn signal(pid: u32, sig: libc::c_int) -> Result<(), ProxyError> {
    let err = |source| ProxyError::Stop { pid, source };
    let raw = libc::pid_t::try_from(pid).map_err(|_| {
        err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "pid out of range",
        ))
    })?;
    // SAFETY: kill takes plain integers.
    if unsafe { libc::kill(raw, sig) } == -1 {
        let e = io::Error::last_os_error();
        // Already gone: that is what we wanted.
        if e.raw_os_error() != Some(libc::ESRCH) {
            return Err(err(e));
        }
    }
    Ok(())
}

/// `ROOT/logs/proxy.log`.
pub fn log_path(root: &Path) -> PathBuf {
    root.join(LOG_FILE)
}
