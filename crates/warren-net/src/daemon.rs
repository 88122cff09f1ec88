//! The daemon's main loop: the egress proxy on the environment's listener, the unix
//! socket for the router, and (Docker) watching the container's init so the daemon
//! ends with it.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use warren_core::NetworkMode;
use warren_core::network::NetConfig;
use warren_egress::{Ca, EgressConfig, Grant, Mode};

use crate::factory::Factory;
use crate::log::{StoreLog, note};

/// Serves the namespace a sandbox helper handed over (it dies with the helper).
pub fn serve_fds(net_dir: &Path, netns: OwnedFd, listener: Option<TcpListener>) -> i32 {
    report(serve(net_dir, netns, listener, None))
}

/// Serves the network namespace of process `pid` (a container's init), until it ends.
pub fn serve_pid(pid: i32, net_dir: &Path) -> i32 {
    let opened = (|| {
        let pidfd = rustix::process::pidfd_open(
            rustix::process::Pid::from_raw(pid).ok_or("bad pid")?,
            rustix::process::PidfdFlags::empty(),
        )
        .map_err(|e| format!("cannot watch process {pid}: {e}"))?;
        let netns = rustix::fs::open(
            format!("/proc/{pid}/ns/net"),
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| format!("cannot open the network namespace of process {pid}: {e}"))?;
        Ok::<_, String>((pidfd, netns))
    })();
    match opened {
        Ok((pidfd, netns)) => report(serve(net_dir, netns, None, Some(pidfd))),
        Err(e) => report(Err(e)),
    }
}

fn report(r: Result<(), String>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => {
            note(&e);
            1
        }
    }
}

fn read_config(net_dir: &Path) -> Result<NetConfig, String> {
    let path = net_dir.join(crate::CONFIG);
    let text = std::fs::read(&path).map_err(|e| format!("reading `{}`: {e}", path.display()))?;
    serde_json::from_slice(&text).map_err(|e| format!("`{}` is unreadable: {e}", path.display()))
}

fn serve(
    net_dir: &Path,
    netns: OwnedFd,
    listener: Option<TcpListener>,
    watch: Option<OwnedFd>,
) -> Result<(), String> {
    let config = read_config(net_dir)?;
    let factory = Factory::start(netns)
        .map_err(|e| format!("cannot enter the environment's network namespace: {e}"))?;
    let listener = match listener {
        Some(l) => Some(l),
        None if config.mode.has_egress() => Some(
            factory
                .listen(warren_core::network::EGRESS_PORT)
                .map_err(|e| format!("cannot listen in the environment: {e}"))?,
        ),
        None => None,
    };
    serve_socket(net_dir, factory)?;
    let _ = std::fs::write(
        net_dir.join(crate::PID_FILE),
        std::process::id().to_string(),
    );
    // No signal driver: forked from a process that may have set tokio's signal
    // handling up, whose descriptors were closed above, the daemon must not touch it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    rt.block_on(async move {
        let egress = async {
            match listener {
                Some(l) => egress(&config, l).await,
                None => std::future::pending().await,
            }
        };
        let ended = async {
            match watch {
                Some(fd) => wait_readable(fd).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = egress => r,
            () = ended => Ok(()),
        }
    })
}

/// Until the pidfd `fd` says its process ended.
async fn wait_readable(fd: OwnedFd) {
    let _ = tokio::task::spawn_blocking(move || {
        let mut fds = [rustix::event::PollFd::new(
            &fd,
            rustix::event::PollFlags::IN,
        )];
        while rustix::event::poll(&mut fds, None).is_err() {}
    })
    .await;
}

/// The router's door: a 0600 unix socket in the 0700 dir; a thread per request.
fn serve_socket(net_dir: &Path, factory: Factory) -> Result<(), String> {
    let path = net_dir.join(crate::SOCKET);
    let _ = std::fs::remove_file(&path);
    let listener =
        UnixListener::bind(&path).map_err(|e| format!("binding `{}`: {e}", path.display()))?;
    let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    std::thread::Builder::new()
        .name("dial".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                let f = factory.clone();
                let _ = std::thread::Builder::new()
                    .name("dial-one".into())
                    .spawn(move || crate::dial::answer(conn, |port| f.connect(port)));
            }
        })
        .map_err(|e| format!("starting the socket thread: {e}"))?;
    Ok(())
}

/// The egress proxy's configuration from the daemon's.
pub(crate) fn egress_config(config: &NetConfig) -> Result<EgressConfig, String> {
    let mode = match config.mode {
        NetworkMode::Open => Mode::Open,
        _ => Mode::Allow(config.allow.clone()),
    };
    let mut out = EgressConfig::new(config.env.clone(), mode);
    out.grants = config
        .grants
        .iter()
        .map(|g| Grant {
            name: g.name.clone(),
            hosts: g.hosts.clone(),
            header: g.header.clone(),
            value: g.value.clone(),
            secret: g.secret.clone(),
            placeholder: g.placeholder.clone(),
        })
        .collect();
    let mut overrides: HashMap<String, SocketAddr> = HashMap::new();
    for (host, addr) in &config.test_resolve {
        let addr: SocketAddr = addr
            .parse()
            .map_err(|e| format!("test override `{host}={addr}`: {e}"))?;
        overrides.insert(host.clone(), addr);
    }
    out.overrides = overrides;
    for path in &config.test_upstream_ca {
        out.upstream_roots.extend(read_pem_certs(path)?);
    }
    Ok(out)
}

fn read_pem_certs(path: &PathBuf) -> Result<Vec<warren_egress::CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    warren_egress::CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("reading `{}`: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("reading `{}`: {e}", path.display()))
}

async fn egress(config: &NetConfig, listener: TcpListener) -> Result<(), String> {
    let egress = egress_config(config)?;
    let ca = if config.grants.is_empty() {
        None
    } else {
        Some(Arc::new(
            Ca::load_or_create(&config.root.join("tls")).map_err(|e| e.to_string())?,
        ))
    };
    let log = Arc::new(StoreLog::start(&config.root, &config.env)?);
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("listener: {e}"))?;
    let listener =
        tokio::net::TcpListener::from_std(listener).map_err(|e| format!("listener: {e}"))?;
    warren_egress::serve(listener, Arc::new(egress), ca, log)
        .await
        .map_err(|e| format!("the egress proxy stopped: {e}"))
}
