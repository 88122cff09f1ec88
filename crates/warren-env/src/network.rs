//! An environment's network from warren's side (docs/SECURITY.md, "Network"): the
//! daemon's dir and configuration (`ROOT/net/<name>/`), the variables that point the
//! environment's tools at the egress proxy, the grants' placeholders and the local CA,
//! and starting the daemon of a Docker environment.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use warren_core::NetworkMode;
use warren_core::network::{EGRESS_PORT, GrantConfig, NetConfig, placeholder};

use crate::EnvError;
use crate::plan::Plan;

/// `ROOT/net/<name>`: the daemon's dir (0700; no environment sees it).
pub fn net_dir(root: &Path, name: &str) -> PathBuf {
    root.join("net").join(name)
}

/// Where the egress CA's certificate and the bundle (system roots + it) live.
pub fn ca_paths(root: &Path) -> (PathBuf, PathBuf) {
    let tls = root.join("tls");
    (tls.join("egress-ca.pem"), tls.join("egress-bundle.pem"))
}

/// Where the CA certificate and bundle are shown inside a Docker environment.
const CA_IN_CONTAINER: &str = "/etc/warren/egress-ca.pem";
const BUNDLE_IN_CONTAINER: &str = "/etc/warren/egress-bundle.pem";

/// System CA bundles, first found wins (Debian, Fedora, Alpine, openSUSE).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
];

/// The grants of `plan` with their real credentials, read from the host (`lookup`:
/// its environment, then `ROOT/credentials/<VAR>`). A grant without a credential is an
/// error: the environment would hold a placeholder nobody replaces.
pub fn resolve_grants(
    plan: &Plan,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<GrantConfig>, EnvError> {
    let mut out = Vec::new();
    for g in &plan.grants {
        let builtin = warren_egress::builtin_grant(&g.name);
        let sources: Vec<String> = match &builtin {
            Some(b) => b.secret_env.iter().map(|s| s.to_string()).collect(),
            None => g.env.iter().cloned().collect(),
        };
        let secret = sources.iter().find_map(|s| lookup(s)).ok_or_else(|| {
            EnvError::Other(format!(
                "grant `{}` has no credential: set {} on the host (or put it in ~/.warren/credentials/{}), or remove `{}` from `grants:`",
                g.name,
                sources.join(" or "),
                sources.first().map(String::as_str).unwrap_or("NAME"),
                g.name
            ))
        })?;
        let ph = placeholder(&g.name);
        match builtin {
            Some(b) => out.extend(b.grants(&secret, &ph).into_iter().map(|r| GrantConfig {
                name: r.name,
                hosts: r.hosts,
                header: r.header,
                value: r.value,
                secret: r.secret,
                placeholder: r.placeholder,
            })),
            None => out.push(GrantConfig {
                name: g.name.clone(),
                hosts: g.hosts.clone(),
                header: g.header.clone().unwrap_or_else(|| "authorization".into()),
                value: g.format.as_deref().unwrap_or("{}").replace("{}", &secret),
                secret,
                placeholder: ph,
            }),
        }
    }
    Ok(out)
}

/// Variables that hold grant placeholders inside (`ANTHROPIC_API_KEY=warren-grant-…`).
pub fn placeholder_vars(plan: &Plan) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for g in &plan.grants {
        let vars: Vec<String> = match warren_egress::builtin_grant(&g.name) {
            Some(b) => b.placeholder_env.iter().map(|v| v.to_string()).collect(),
            None => g.env.iter().cloned().collect(),
        };
        for v in vars {
            out.push((v, placeholder(&g.name)));
        }
    }
    out
}

/// Writes the daemon's configuration (0600 in the 0700 dir). Returns the dir.
pub fn write_config(root: &Path, name: &str, config: &NetConfig) -> Result<PathBuf, EnvError> {
    let io = |what: String| move |e: std::io::Error| EnvError::Io(what, e);
    let net = root.join("net");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&net)
        .map_err(io(format!("creating `{}`", net.display())))?;
    let dir = net_dir(root, name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(io(format!("creating `{}`", dir.display())))?;
    let json = serde_json::to_vec_pretty(config)
        .map_err(|e| EnvError::Other(format!("encoding the network config: {e}")))?;
    let path = dir.join("net.json");
    std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| f.write_all(&json))
        .map_err(io(format!("writing `{}`", path.display())))?;
    Ok(dir)
}

/// Removes the daemon's dir (the environment is gone).
pub fn remove(root: &Path, name: &str) {
    let _ = std::fs::remove_dir_all(net_dir(root, name));
}

/// Makes sure warren's CA exists and writes the bundle the environment trusts
/// (the host's system roots plus the CA). Returns (CA, bundle) paths.
pub fn ensure_ca(root: &Path) -> Result<(PathBuf, PathBuf), EnvError> {
    let ca = warren_egress::Ca::load_or_create(&root.join("tls"))
        .map_err(|e| EnvError::Other(format!("warren's egress CA: {e}")))?;
    let (ca_path, bundle) = ca_paths(root);
    let mut text = SYSTEM_BUNDLES
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(ca.cert_pem());
    let current = std::fs::read_to_string(&bundle).unwrap_or_default();
    if current != text {
        let tmp = bundle.with_extension("tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &bundle))
            .map_err(|e| EnvError::Io(format!("writing `{}`", bundle.display()), e))?;
    }
    Ok((ca_path, bundle))
}

/// Variables that send the environment's tools through the egress proxy, and (with
/// grants) make them trust warren's CA at `ca`/`bundle` (paths as seen inside).
pub fn proxy_vars(mode: NetworkMode, ca: Option<(&str, &str)>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if mode.has_egress() {
        let url = format!("http://127.0.0.1:{EGRESS_PORT}");
        for k in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "http_proxy",
            "https_proxy",
            "ALL_PROXY",
            "all_proxy",
        ] {
            out.push((k.to_string(), url.clone()));
        }
        let no = "localhost,127.0.0.1,::1,.localhost".to_string();
        out.push(("NO_PROXY".into(), no.clone()));
        out.push(("no_proxy".into(), no));
    }
    if let Some((ca, bundle)) = ca {
        out.push(("NODE_EXTRA_CA_CERTS".into(), ca.to_string()));
        for k in [
            "SSL_CERT_FILE",
            "REQUESTS_CA_BUNDLE",
            "CURL_CA_BUNDLE",
            "GIT_SSL_CAINFO",
            "PIP_CERT",
        ] {
            out.push((k.to_string(), bundle.to_string()));
        }
    }
    out
}

/// The CA files as the environment sees them: their host paths in the sandbox, a
/// fixed path in a container.
pub fn ca_inside(runtime: warren_core::RuntimeKind, root: &Path) -> (String, String) {
    match runtime {
        warren_core::RuntimeKind::Docker => {
            (CA_IN_CONTAINER.to_string(), BUNDLE_IN_CONTAINER.to_string())
        }
        _ => {
            let (ca, bundle) = ca_paths(root);
            (
                ca.to_string_lossy().into_owned(),
                bundle.to_string_lossy().into_owned(),
            )
        }
    }
}

/// Starts the daemon of a Docker environment whose init is host pid `pid`, and waits
/// until it serves (its socket exists). It ends by itself when the container stops.
pub fn start_docker_daemon(root: &Path, name: &str, pid: u32) -> Result<(), EnvError> {
    let dir = net_dir(root, name);
    let sock = dir.join("sock");
    let _ = std::fs::remove_file(&sock);
    let exe =
        std::env::current_exe().map_err(|e| EnvError::Io("finding the warren binary".into(), e))?;
    let mut child = std::process::Command::new(exe)
        .arg("__netd")
        .arg("--pid")
        .arg(pid.to_string())
        .arg("--dir")
        .arg(&dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| EnvError::Io("starting the network daemon".into(), e))?;
    // `__netd` forks the daemon and exits at once: nobody but init has to reap it.
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sock.exists() {
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("netd.log")).unwrap_or_default();
            // Isolation that cannot be set up fails closed, as the sandbox does.
            return Err(EnvError::Other(format!(
                "sandbox_error: net_namespace: the environment's network daemon did not start{} (see `warren doctor`: entering a container's network namespace needs root; or set `network: host` on purpose)",
                match log.lines().last() {
                    Some(l) => format!(": {l}"),
                    None => String::new(),
                }
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}
