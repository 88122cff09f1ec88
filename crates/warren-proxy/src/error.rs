//! The library's error type: what failed, with which input, and (through
//! [`ProxyError::hint`]) what the user can do about it.

use std::net::IpAddr;
use std::path::PathBuf;

use crate::lock::ProxyInfo;
use crate::port_owner::PortOwner;

/// Errors from the proxy and its lifecycle.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("cannot read the routes from the state database")]
    Store(#[from] warren_store::StoreError),
    #[error("port {port} on {bind} is already in use{}", owner_suffix(.owner.as_ref()))]
    PortTaken {
        bind: IpAddr,
        port: u16,
        owner: Option<PortOwner>,
    },
    #[error("cannot listen on {bind} port {port}")]
    Bind {
        bind: IpAddr,
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("a warren proxy is already running{}", running_suffix(.0.as_ref()))]
    AlreadyRunning(Option<ProxyInfo>),
    #[error("cannot use the proxy lock file `{path}`")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the proxy log `{path}`")]
    Log {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start `{} proxy serve`", .exe.display())]
    Spawn {
        exe: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the proxy exited while starting: {reason}")]
    StartFailed { reason: String, log: PathBuf },
    #[error("the proxy did not answer within {seconds} s")]
    StartTimeout { seconds: u64, log: PathBuf },
    #[error("cannot stop the proxy (pid {pid})")]
    Stop {
        pid: u32,
        #[source]
        source: std::io::Error,
    },
    #[error("the proxy (pid {pid}) did not exit within {seconds} s")]
    StopTimeout { pid: u32, seconds: u64 },
    #[error("no warren proxy is running and `WARREN_PROXY_AUTOSTART` is off")]
    NotRunning,
    #[error("cannot start the proxy's async runtime")]
    Runtime(#[source] std::io::Error),
}

impl warren_core::Hint for ProxyError {
    /// What the user can do next, where there is something to say.
    fn hint(&self) -> Option<String> {
        match self {
            ProxyError::PortTaken { port, .. } => Some(format!(
                "stop that process, or run the proxy on another port: set `WARREN_PROXY_PORT={}` (or `proxy.port` in `config.yaml`)",
                port.saturating_add(1)
            )),
            ProxyError::AlreadyRunning(_) => {
                Some("see it with `warren proxy status`; stop it with `warren proxy stop`".into())
            }
            ProxyError::StartFailed { log, .. } | ProxyError::StartTimeout { log, .. } => {
                Some(format!("see `{}`", log.display()))
            }
            ProxyError::StopTimeout { pid, .. } => Some(format!("kill it with `kill -9 {pid}`")),
            ProxyError::NotRunning => {
                Some("start it with `warren proxy serve`, or unset `WARREN_PROXY_AUTOSTART`".into())
            }
            _ => None,
        }
    }
}

fn owner_suffix(owner: Option<&PortOwner>) -> String {
    match owner {
        Some(o) => format!(" by {o}"),
        None => String::new(),
    }
}

fn running_suffix(info: Option<&ProxyInfo>) -> String {
    match info {
        Some(i) => format!(" (pid {}, port {})", i.pid, i.port),
        None => String::new(),
    }
}
