//! Docker Compose files of a devcontainer.json (`dockerComposeFile`): the
//! host access a compose file asks for ([`host_access`]), checked with
//! `file:line:col` when the devcontainer.json is read ([`check_files`]) and
//! again by the environment layer on the merged configuration the compose
//! CLI prints (where `${VAR}`s are filled in and several files are one);
//! and YAML text as JSON ([`yaml_to_json`]), the form warren edits.
//!
//! What counts as host access (docs/SECURITY.md: applied only when the trusted
//! config's `host_access:` grants it, like devcontainer.json's own settings):
//! `privileged`, the host's network, pid, ipc or uts namespace, devices, a bind
//! of a host path outside the project's checkout (a bind inside it becomes the
//! same path in the environment's own tree), the engine's socket. Never
//! granted: the host's user namespace and another container's namespaces
//! (`network_mode: container:…`), which no grant names. Host `ports` are
//! not refused but dropped, with a warning: ten environments cannot share
//! host port 5432, and warren publishes `forwardPorts` on 127.0.0.1 itself.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use crate::diagnostic::{Diagnostic, Source};
use crate::node::{Node, Span, Value};

/// One thing a compose file asks of the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAccess {
    /// Where, as keys from the document's root (`services`, `db`, `volumes`, `0`).
    pub path: Vec<String>,
    pub message: String,
    pub hint: String,
    /// Refused (else only warned about: host `ports`, which warren drops).
    pub refused: bool,
    /// What the policy calls it, when `host_access:` can grant it.
    pub need: Option<crate::host_access::HostAccess>,
}

/// Host access of every service of `doc` (one compose file, or the merged
/// configuration). Relative bind sources are relative to `base`; a bind
/// inside `project` (the main checkout) is fine.
pub fn host_access(doc: &serde_json::Value, base: &Path, project: &Path) -> Vec<HostAccess> {
    let mut out = Vec::new();
    let Some(services) = doc.get("services").and_then(|s| s.as_object()) else {
        return out;
    };
    for (svc, def) in services {
        let at = |keys: &[&str]| -> Vec<String> {
            ["services", svc.as_str()]
                .iter()
                .chain(keys)
                .map(|k| k.to_string())
                .collect()
        };
        let mut refuse = |path: Vec<String>,
                          message: String,
                          hint: &str,
                          need: Option<crate::host_access::HostAccess>| {
            out.push(HostAccess {
                path,
                message,
                hint: hint.to_string(),
                refused: true,
                need,
            });
        };
        if def.get("privileged").and_then(|p| p.as_bool()) == Some(true) {
            refuse(
                at(&["privileged"]),
                format!(
                    "service `{svc}` is `privileged`: it would hold every capability and every device of the host"
                ),
                "remove `privileged: true`; add only the capabilities it needs with `cap_add`",
                Some(crate::host_access::HostAccess::Privileged),
            );
        }
        for key in ["network_mode", "pid", "ipc", "uts", "userns_mode"] {
            let Some(v) = def.get(key).and_then(|v| v.as_str()) else {
                continue;
            };
            if v == "host" || v.starts_with("container:") {
                let ns = match key {
                    "network_mode" => Some(crate::host_access::Namespace::Network),
                    "pid" => Some(crate::host_access::Namespace::Pid),
                    "ipc" => Some(crate::host_access::Namespace::Ipc),
                    "uts" => Some(crate::host_access::Namespace::Uts),
                    _ => None,
                };
                let need = ns
                    .filter(|_| v == "host")
                    .map(crate::host_access::HostAccess::Namespace);
                refuse(
                    at(&[key]),
                    format!(
                        "service `{svc}` sets `{key}: {v}`: it would share the namespace of the host or of a container outside its project"
                    ),
                    "remove it; a service reaches the others of its project by name",
                    need,
                );
            }
        }
        if let Some(devices) = def.get("devices").filter(|d| !is_empty(d)) {
            let list: Vec<String> = devices
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d.as_str())
                .map(|d| d.split(':').next().unwrap_or(d).to_string())
                .collect();
            for (i, device) in list.iter().enumerate() {
                refuse(
                    at(&["devices", &i.to_string()]),
                    format!("service `{svc}` maps the host device `{device}` into its container"),
                    "remove it from `devices`",
                    Some(crate::host_access::HostAccess::Device(device.clone())),
                );
            }
            if list.is_empty() {
                refuse(
                    at(&["devices"]),
                    format!("service `{svc}` maps host `devices` into its container"),
                    "remove `devices`",
                    None,
                );
            }
        }
        for (i, v) in def
            .get("volumes")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .enumerate()
        {
            let Some(source) = bind_source(v) else {
                continue;
            };
            let idx = i.to_string();
            let abs = absolute(base, &source);
            if abs
                .file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with(".sock"))
                || abs.starts_with("/var/run/docker")
                || abs.starts_with("/run/docker")
            {
                refuse(
                    at(&["volumes", &idx]),
                    format!(
                        "service `{svc}` mounts the socket `{}`: whoever holds the engine's socket is root on the host",
                        abs.display()
                    ),
                    "remove the mount",
                    Some(crate::host_access::HostAccess::EngineSocket(host_path(
                        &source, &abs,
                    ))),
                );
            } else if !abs.starts_with(project) {
                refuse(
                    at(&["volumes", &idx]),
                    format!(
                        "service `{svc}` mounts the host path `{}`, outside the project",
                        abs.display()
                    ),
                    "mount paths inside the project (warren mounts the environment's own copy of them), or use a named volume",
                    Some(crate::host_access::HostAccess::HostPath(host_path(
                        &source, &abs,
                    ))),
                );
            }
        }
        if def
            .get("ports")
            .and_then(|p| p.as_array())
            .is_some_and(|p| !p.is_empty())
        {
            out.push(HostAccess {
                path: at(&["ports"]),
                message: format!("service `{svc}` publishes `ports` on the host; warren does not publish them (every environment would want the same host port)"),
                hint: "list the main service's ports in devcontainer.json `forwardPorts`: warren publishes them on 127.0.0.1 and routes `<service>.<env>.localhost` to them; other services are reached by name from the main one".into(),
                refused: false,
                need: None,
            });
        }
    }
    out
}

/// The host path a bind names, as a grant would: `~/…` in the user's home.
fn host_path(source: &str, abs: &Path) -> String {
    match (source.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest).display().to_string(),
        _ => abs.display().to_string(),
    }
}

/// The checkout a devcontainer.json folder belongs to: the nearest folder
/// above it with a `.git` (else the folder holding `.devcontainer`).
pub fn project_root(folder: &Path) -> PathBuf {
    folder
        .ancestors()
        .find(|a| a.join(".git").exists())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| {
            folder
                .ancestors()
                .find(|a| a.file_name().is_some_and(|n| n == ".devcontainer"))
                .and_then(Path::parent)
                .unwrap_or(folder)
                .to_path_buf()
        })
}

fn is_empty(v: &serde_json::Value) -> bool {
    v.as_array().is_some_and(|a| a.is_empty()) || v.is_null()
}

/// The host path of a bind entry of a service's `volumes` (short form
/// `SRC:DST[:MODE]` whose SRC is a path, or long form with `type: bind`).
pub fn bind_source(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => {
            let (src, _) = s.split_once(':')?;
            let is_path = src.starts_with('/') || src.starts_with('.') || src.starts_with('~');
            is_path.then(|| src.to_string())
        }
        serde_json::Value::Object(m) => (m.get("type").and_then(|t| t.as_str()) == Some("bind"))
            .then(|| m.get("source").and_then(|s| s.as_str()).map(str::to_string))
            .flatten(),
        _ => None,
    }
}

/// `source` made absolute against `base`, `.` and `..` folded (a bind of a
/// path that does not exist yet must still be judged).
pub fn absolute(base: &Path, source: &str) -> PathBuf {
    let joined = if let Some(rest) = source.strip_prefix("~/") {
        // The user's home: never inside a project checkout.
        PathBuf::from("/~").join(rest)
    } else {
        base.join(source)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Checks each compose file (`files`, in order) for host access, with
/// `file:line:col`; `project` is the main checkout. A file that cannot be
/// read or parsed is an error here too. Host access the policy can grant is
/// returned as uses, for `resolve` to hold against `host_access:`.
pub(crate) fn check_files(
    files: &[PathBuf],
    project: &Path,
) -> (Vec<Diagnostic>, Vec<crate::host_access::HostAccessUse>) {
    let mut out = Vec::new();
    let mut uses = Vec::new();
    for file in files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                out.push(
                    Diagnostic::file_error(file, format!("cannot read the compose file: {e}"))
                        .with_hint("`dockerComposeFile` paths are relative to the devcontainer.json's folder"),
                );
                continue;
            }
        };
        let src = Source::new(file, &text);
        let (node, diags) = crate::yaml::parse(&src);
        if diags.iter().any(Diagnostic::is_error) {
            out.extend(diags);
            continue;
        }
        let Some(node) = node else { continue };
        let mut spans = HashMap::new();
        let json = to_json(&node, &mut Vec::new(), &mut spans);
        let base = file.parent().unwrap_or(Path::new("/"));
        for h in host_access(&json, base, project) {
            let span = spans.get(&h.path).copied().unwrap_or(node.span);
            match (h.refused, h.need) {
                (true, Some(need)) => uses.push(crate::host_access::HostAccessUse {
                    diagnostic: src.error(
                        span,
                        format!(
                            "{}: host access; warren applies it only when your own config grants it",
                            h.message
                        ),
                    ),
                    need,
                }),
                (true, None) => out.push(
                    src.error(
                        span,
                        format!("{} (host access no grant can give)", h.message),
                    )
                    .with_hint(h.hint),
                ),
                (false, _) => out.push(src.warning(span, h.message).with_hint(h.hint)),
            }
        }
    }
    (out, uses)
}

/// YAML text as JSON (maps keep their order of appearance only as far as
/// `serde_json` does; compose does not care).
pub fn yaml_to_json(path: &Path, text: &str) -> Result<serde_json::Value, String> {
    let src = Source::new(path, text);
    let (node, diags) = crate::yaml::parse(&src);
    if let Some(e) = diags.iter().find(|d| d.is_error()) {
        return Err(e.render(false));
    }
    Ok(node
        .map(|n| to_json(&n, &mut Vec::new(), &mut HashMap::new()))
        .unwrap_or(serde_json::Value::Null))
}

/// The JSON value of `node`, recording the span of every path into `spans`.
fn to_json(
    node: &Node,
    path: &mut Vec<String>,
    spans: &mut HashMap<Vec<String>, Span>,
) -> serde_json::Value {
    spans.insert(path.clone(), node.span);
    match &node.value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        Value::Str(s) => serde_json::Value::String(s.clone()),
        Value::Seq(items) => serde_json::Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    path.push(i.to_string());
                    let v = to_json(n, path, spans);
                    path.pop();
                    v
                })
                .collect(),
        ),
        Value::Map(entries) => {
            let mut m = serde_json::Map::new();
            for (k, n) in entries {
                path.push(k.text.clone());
                let v = to_json(n, path, spans);
                path.pop();
                m.insert(k.text.clone(), v);
            }
            serde_json::Value::Object(m)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings(yaml: &str) -> Vec<(String, bool)> {
        let doc = yaml_to_json(Path::new("c.yml"), yaml).unwrap();
        host_access(&doc, Path::new("/p/.devcontainer"), Path::new("/p"))
            .into_iter()
            .map(|h| (h.path.join("."), h.refused))
            .collect()
    }

    #[test]
    fn binds_inside_the_project_and_volumes_are_fine() {
        let f = findings(
            "services:\n  app:\n    volumes:\n      - ..:/workspace:cached\n      - data:/data\n      - /anon\n      - {type: bind, source: ./init, target: /init}\n",
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn host_access_is_found_where_it_is() {
        let f = findings(
            "services:\n  app:\n    privileged: true\n    network_mode: host\n    ports: ['3000:3000']\n    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n      - ../..:/up\n      - ~/.ssh:/root/.ssh\n  db:\n    pid: host\n    devices: ['/dev/kvm']\n    network_mode: service:app\n",
        );
        assert_eq!(
            f,
            vec![
                ("services.app.privileged".into(), true),
                ("services.app.network_mode".into(), true),
                ("services.app.volumes.0".into(), true),
                ("services.app.volumes.1".into(), true),
                ("services.app.volumes.2".into(), true),
                ("services.app.ports".into(), false),
                ("services.db.pid".into(), true),
                ("services.db.devices.0".into(), true),
            ]
        );
    }

    #[test]
    fn checks_give_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("docker-compose.yml");
        std::fs::write(
            &file,
            "services:\n  app:\n    image: x\n    volumes:\n      - /etc:/host-etc\n",
        )
        .unwrap();
        let (d, uses) = check_files(&[file], dir.path());
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(uses.len(), 1);
        let u = &uses[0];
        assert_eq!(
            u.need,
            crate::host_access::HostAccess::HostPath("/etc".into())
        );
        assert!(u.diagnostic.is_error());
        let at = u.diagnostic.location();
        assert!(at.ends_with(":5:9"), "{at}");
    }
}
