//! Docker Compose environments (devcontainer `dockerComposeFile`): the
//! environment is the configured `service` of a compose project of its own,
//! so ten environments get ten databases.
//!
//! The project's file is written under the warren root (never in a tree):
//! the configured compose files merged by the compose CLI (`config`), then
//! made the environment's own. Every bind of a path in the main checkout
//! becomes the same path in the environment's tree; host access is refused
//! (see `warren_config::compose`); host `ports` and fixed `container_name`s
//! are dropped (they would collide between environments). The main service
//! gets what warren gives any container: its labels, env, mounts (the tree
//! at the workspace folder), user, the keep-alive command when
//! `overrideCommand` is true, the reduced capability set with
//! `no-new-privileges`, and its forwarded ports on 127.0.0.1 (on the service
//! whose network it shares, for `network_mode: service:…`). Memory, CPU and
//! pids limits are set on its container by the runtime.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use warren_runtime::docker::compose::{ComposeCli, ComposeProject, Shutdown};
use warren_runtime::{CreateSpec, MountKind};
use warren_store::EnvRecord;

use crate::error::EnvError;
use crate::manager::Warren;
use crate::plan::Plan;

/// The compose part of a [`Plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposePlan {
    pub config: warren_config::ComposeConfig,
    pub shutdown: Shutdown,
    /// The main checkout (binds inside it become the environment's tree).
    pub project_dir: PathBuf,
}

impl ComposePlan {
    pub fn new(
        config: &warren_config::ComposeConfig,
        shutdown: Option<warren_config::ShutdownAction>,
        project_dir: &Path,
    ) -> ComposePlan {
        ComposePlan {
            config: config.clone(),
            shutdown: match shutdown {
                Some(warren_config::ShutdownAction::None) => Shutdown::None,
                Some(warren_config::ShutdownAction::StopContainer) => Shutdown::StopContainer,
                _ => Shutdown::StopCompose,
            },
            project_dir: project_dir.to_path_buf(),
        }
    }

    /// The folder of the first compose file: the project directory compose
    /// reads `.env` from.
    fn directory(&self) -> PathBuf {
        self.config
            .files
            .first()
            .and_then(|f| f.parent())
            .unwrap_or(&self.project_dir)
            .to_path_buf()
    }

    /// Where the environment's tree goes in the main service: where its
    /// compose file binds the project's checkout (`..:/workspace`), else the
    /// workspace folder (`/workspace` when that is `/`).
    pub fn tree_target(&self, workspace_folder: &str) -> String {
        let mut found = None;
        for file in &self.config.files {
            let Ok(text) = std::fs::read_to_string(file) else {
                continue;
            };
            let Ok(doc) = warren_config::compose::yaml_to_json(file, &text) else {
                continue;
            };
            let base = file.parent().unwrap_or(Path::new("/"));
            for v in volumes(&doc, &self.config.service) {
                if let Some(source) = warren_config::compose::bind_source(v)
                    && warren_config::compose::absolute(base, &source) == self.project_dir
                    && let Some(target) = volume_target(v)
                {
                    found = Some(target);
                }
            }
        }
        found.unwrap_or_else(|| match workspace_folder {
            "/" => warren_config::DEFAULT_WORKSPACE_FOLDER.to_string(),
            other => other.to_string(),
        })
    }
}

fn volumes<'a>(doc: &'a Value, service: &str) -> impl Iterator<Item = &'a Value> {
    doc.get("services")
        .and_then(|s| s.get(service))
        .and_then(|s| s.get("volumes"))
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
}

/// The container path of a `volumes` entry.
fn volume_target(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            match parts.as_slice() {
                [target] => Some(target.to_string()),
                [_, target] | [_, target, _] => Some(target.to_string()),
                _ => None,
            }
        }
        Value::Object(m) => m.get("target").and_then(|t| t.as_str()).map(str::to_string),
        _ => None,
    }
}

/// Takes `p` down when containers of it are left (its main container may
/// have gone behind warren's back, so `remove` could not find the project).
pub(crate) async fn down_leftovers(
    w: &Warren,
    runtime: warren_core::RuntimeKind,
    p: &ComposeProject,
) -> Result<(), EnvError> {
    let rt = w.runtime(runtime).await?;
    let left = rt
        .list(&[(warren_runtime::docker::compose::PROJECT_LABEL, &p.project)])
        .await?;
    if left.is_empty() || !p.file.is_file() {
        return Ok(());
    }
    let cli = ComposeCli::detect().map_err(|e| EnvError::Other(e.to_string()))?;
    cli.down(p)
        .await
        .map_err(|e| EnvError::at("taking the compose project down")(e.into()))
}

/// Where an environment's compose project file lives.
pub(crate) fn dir(root: &Path, name: &str) -> PathBuf {
    root.join("compose").join(name)
}

/// Forgets the project file of `name`.
pub(crate) fn remove(root: &Path, name: &str) {
    let _ = std::fs::remove_dir_all(dir(root, name));
}

/// `-p` of environment `name`: unique per warren root, as compose spells
/// project names (lowercase letters, digits, `-` and `_`).
pub(crate) fn project_name(root_id: &str, name: &str) -> String {
    format!("warren-{root_id}-{name}")
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

impl Warren {
    /// Writes the project file of `rec` and points `create` (and the stored
    /// `stored`) at it.
    pub(crate) async fn prepare_compose(
        &self,
        c: &ComposePlan,
        plan: &Plan,
        rec: &EnvRecord,
        create: &mut CreateSpec,
    ) -> Result<(), EnvError> {
        let cli = ComposeCli::detect().map_err(|e| EnvError::Refused {
            message: e.to_string(),
            hint: "install Docker Compose (`apt-get install docker-compose`, or the docker CLI's compose plugin)".into(),
        })?;
        self.reporter.step(&format!(
            "reading the compose configuration ({})",
            cli.name()
        ));
        let project = project_name(&self.root_id(), &rec.name);
        let directory = c.directory();
        let text = cli
            .config(&project, &directory, &c.config.files)
            .await
            .map_err(|e| EnvError::at("reading the compose files")(e.into()))?;
        let first = c.config.files.first().cloned().unwrap_or_default();
        let doc = warren_config::compose::yaml_to_json(&first, &text).map_err(|e| {
            EnvError::Other(format!(
                "cannot read what `{} config` printed: {e}",
                cli.name()
            ))
        })?;
        // Checked again on what compose will run (variables filled in, the
        // files merged): granted host access is applied and named, the rest
        // refused before anything is created.
        let home = self.host.home();
        let mut refused = Vec::new();
        let mut hints = Vec::new();
        for h in warren_config::compose::host_access(&doc, &directory, &c.project_dir) {
            match (h.refused, &h.need) {
                (true, Some(need)) if plan.container.grants.allows(need, home.as_deref()) => {
                    let short = need.short();
                    if !create.host.given_up.contains(&short) {
                        create.host.given_up.push(short);
                    }
                }
                (true, need) => {
                    hints.push(match need {
                        Some(n) => format!("add to .warren.yaml:  {}", n.opt_in_line()),
                        None => h.hint.clone(),
                    });
                    refused.push(h.message);
                }
                (false, _) => self.reporter.warn(&h.message),
            }
        }
        if !refused.is_empty() {
            hints.dedup();
            return Err(EnvError::Refused {
                message: format!(
                    "the compose configuration asks for host access: {}; warren applies it only when your own config grants it",
                    refused.join("; ")
                ),
                hint: format!("`warren validate` shows where; {}", hints.join("; ")),
            });
        }
        let p = ComposeProject {
            project,
            file: dir(&self.root, &rec.name).join("compose.yml"),
            directory,
            service: c.config.service.clone(),
            run_services: c.config.run_services.clone(),
            shutdown: c.shutdown,
        };
        create.labels.extend(p.labels());
        let read_only_tree = plan.on_main_checkout();
        let (doc, warnings) = project_file(
            doc,
            create,
            &p,
            &c.project_dir,
            &rec.worktree,
            read_only_tree,
            &self.root_id(),
            &rec.name,
        )?;
        for w in warnings {
            self.reporter.warn(&w);
        }
        write_private(&p.file, &doc)?;
        create.compose = Some(p);
        Ok(())
    }
}

/// Writes `doc` as the project's file (JSON is YAML), private to the user.
fn write_private(file: &Path, doc: &Value) -> Result<(), EnvError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let io = |e| EnvError::Io(format!("cannot write `{}`", file.display()), e);
    if let Some(parent) = file.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(io)?;
    }
    let text = serde_json::to_string_pretty(doc)
        .map_err(|e| EnvError::Other(format!("cannot write the compose file: {e}")))?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(file)
        .map_err(io)?;
    std::io::Write::write_all(&mut f, text.as_bytes()).map_err(io)
}

/// Compose interpolates `$`: text warren adds is escaped.
fn escape(s: &str) -> String {
    s.replace('$', "$$")
}

/// A `labels`/`environment` value as a map (compose takes a list of
/// `K=V` too).
fn as_map(v: Option<Value>) -> Map<String, Value> {
    match v {
        Some(Value::Object(m)) => m,
        Some(Value::Array(items)) => items
            .into_iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_string(), Value::String(v.to_string())),
                None => (kv, Value::Null),
            })
            .collect(),
        _ => Map::new(),
    }
}

/// The environment's own project file: `doc` (the merged configuration) with
/// binds moved into the tree, host ports dropped and the main service made a
/// warren container. Returns it with warnings to print.
#[allow(clippy::too_many_arguments)]
fn project_file(
    mut doc: Value,
    create: &CreateSpec,
    p: &ComposeProject,
    project_dir: &Path,
    worktree: &Path,
    read_only_tree: bool,
    root_id: &str,
    name: &str,
) -> Result<(Value, Vec<String>), EnvError> {
    let mut warnings = Vec::new();
    let Some(services) = doc.get_mut("services").and_then(|s| s.as_object_mut()) else {
        return Err(EnvError::Other(
            "the compose configuration has no `services`".into(),
        ));
    };
    let known: Vec<String> = services.keys().cloned().collect();
    for s in std::iter::once(&p.service).chain(&p.run_services) {
        if !services.contains_key(s) {
            return Err(EnvError::Refused {
                message: format!(
                    "the compose files have no service `{s}` (they have {})",
                    known.join(", ")
                ),
                hint: "set `service` (and `runServices`) in devcontainer.json to services of the compose files".into(),
            });
        }
    }
    for (svc, def) in services.iter_mut() {
        let Some(def) = def.as_object_mut() else {
            continue;
        };
        // Host ports were warned about; a fixed name would collide.
        def.remove("ports");
        if def.remove("container_name").is_some() {
            warnings.push(format!(
                "service `{svc}`: `container_name` is dropped (each environment has its own project; compose names its containers)"
            ));
        }
        if let Some(Value::Array(vols)) = def.get_mut("volumes") {
            for v in vols.iter_mut() {
                into_tree(v, project_dir, worktree, read_only_tree);
            }
        }
        let mut labels = as_map(def.remove("labels"));
        if *svc == p.service {
            for (k, v) in &create.labels {
                labels.insert(k.clone(), Value::String(escape(v)));
            }
        } else {
            labels.insert("warren.root".into(), json!(root_id));
            labels.insert("warren.compose.member".into(), json!(name));
        }
        def.insert("labels".into(), Value::Object(labels));
    }
    let main = services
        .get_mut(&p.service)
        .and_then(|s| s.as_object_mut())
        .ok_or_else(|| EnvError::Other(format!("service `{}` is not a map", p.service)))?;
    main_service(main, create);
    // Ports go where the main service's network is.
    let mut owner = p.service.clone();
    for _ in 0..8 {
        let next = services
            .get(&owner)
            .and_then(|s| s.get("network_mode"))
            .and_then(|m| m.as_str())
            .and_then(|m| m.strip_prefix("service:"))
            .map(str::to_string);
        match next {
            Some(n) if services.contains_key(&n) => owner = n,
            _ => break,
        }
    }
    if !create.publish.is_empty()
        && let Some(def) = services.get_mut(&owner).and_then(|s| s.as_object_mut())
    {
        let ports: Vec<Value> = create
            .publish
            .iter()
            .map(|pp| {
                let ip = pp
                    .host_ip
                    .map(|i| i.to_string())
                    .unwrap_or_else(|| "127.0.0.1".into());
                let host = pp.host_port.map(|h| h.to_string()).unwrap_or_default();
                json!(format!("{ip}:{host}:{}", pp.container_port))
            })
            .collect();
        def.insert("ports".into(), Value::Array(ports));
    }
    // Named volumes warren mounts are the project's own.
    let named: Vec<String> = create
        .mounts
        .iter()
        .filter(|m| m.kind == MountKind::Volume && !m.source.is_empty())
        .map(|m| m.source.clone())
        .collect();
    if !named.is_empty() {
        let top = doc
            .as_object_mut()
            .map(|d| d.entry("volumes").or_insert_with(|| json!({})));
        if let Some(Value::Object(top)) = top {
            for n in named {
                top.entry(n).or_insert_with(|| json!({}));
            }
        }
    }
    Ok((doc, warnings))
}

/// A bind of a path in the main checkout becomes the same path in the tree.
fn into_tree(v: &mut Value, project_dir: &Path, worktree: &Path, read_only: bool) {
    let Some(source) = warren_config::compose::bind_source(v) else {
        return;
    };
    let Ok(rel) = Path::new(&source).strip_prefix(project_dir) else {
        return;
    };
    let moved = worktree.join(rel).to_string_lossy().into_owned();
    match v {
        Value::String(s) => {
            let rest = &s[source.len()..];
            let mut out = format!("{moved}{rest}");
            if read_only && !rest.contains(":ro") {
                out.push_str(if rest.matches(':').count() > 1 {
                    ",ro"
                } else {
                    ":ro"
                });
            }
            *s = out;
        }
        Value::Object(m) => {
            m.insert("source".into(), json!(moved));
            if read_only {
                m.insert("read_only".into(), json!(true));
            }
        }
        _ => {}
    }
}

/// What warren sets on the main service.
fn main_service(def: &mut Map<String, Value>, create: &CreateSpec) {
    let mut env = as_map(def.remove("environment"));
    for (k, v) in &create.env {
        env.insert(k.clone(), Value::String(escape(v)));
    }
    def.insert("environment".into(), Value::Object(env));

    // warren's mounts win over the file's on the same target.
    let ours: Vec<&warren_runtime::Mount> = create
        .mounts
        .iter()
        .filter(|m| m.kind != MountKind::Tmpfs)
        .collect();
    let mut vols: Vec<Value> = match def.remove("volumes") {
        Some(Value::Array(v)) => v,
        _ => Vec::new(),
    };
    vols.retain(|v| volume_target(v).is_none_or(|t| !ours.iter().any(|m| m.target == t)));
    for m in &ours {
        let ro = if m.read_only { ":ro" } else { "" };
        vols.push(match (m.kind, m.source.is_empty()) {
            (MountKind::Volume, true) => json!(m.target),
            _ => json!(format!("{}:{}{ro}", m.source, m.target)),
        });
    }
    def.insert("volumes".into(), Value::Array(vols));
    let tmpfs: Vec<Value> = create
        .mounts
        .iter()
        .filter(|m| m.kind == MountKind::Tmpfs)
        .map(|m| json!(m.target))
        .collect();
    if !tmpfs.is_empty() {
        let mut list = match def.remove("tmpfs") {
            Some(Value::Array(v)) => v,
            Some(Value::String(s)) => vec![json!(s)],
            _ => Vec::new(),
        };
        list.extend(tmpfs);
        def.insert("tmpfs".into(), Value::Array(list));
    }

    if let Some(user) = &create.user {
        def.insert("user".into(), json!(user));
    }
    if create.override_command {
        def.insert(
            "entrypoint".into(),
            json!(["/bin/sh", "-c", escape(warren_runtime::docker::KEEP_ALIVE)]),
        );
        def.insert("command".into(), json!([]));
    }
    if create.init {
        def.insert("init".into(), json!(true));
    }
    let (mut cap_add, cap_drop, mut security_opt) = warren_runtime::docker::privileges(create);
    // What the file itself adds stays (it is the project's trusted config).
    for key in ["cap_add", "security_opt"] {
        let list = if key == "cap_add" {
            &mut cap_add
        } else {
            &mut security_opt
        };
        if let Some(Value::Array(own)) = def.get(key) {
            for c in own.iter().filter_map(|c| c.as_str()) {
                if !list.iter().any(|x| x == c) {
                    list.push(c.to_string());
                }
            }
        }
    }
    def.insert("cap_add".into(), json!(cap_add));
    def.insert("cap_drop".into(), json!(cap_drop));
    def.insert("security_opt".into(), json!(security_opt));
    if !create.extra_hosts.is_empty() {
        def.insert("extra_hosts".into(), json!(create.extra_hosts));
    }
}

/// Env the CLI shows: `labels`, sorted (for tests).
#[cfg(test)]
fn labels_of(doc: &Value, svc: &str) -> std::collections::BTreeMap<String, String> {
    as_map(doc["services"][svc].get("labels").cloned())
        .into_iter()
        .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged() -> Value {
        json!({
            "version": "3.8",
            "services": {
                "app": {
                    "image": "app",
                    "volumes": ["/repo:/workspace:cached", "data:/data", "/repo/src:/src"],
                    "network_mode": "service:db",
                    "environment": {"FOO": "a$$b", "BAR": null},
                    "cap_add": ["SYS_PTRACE"],
                },
                "db": {
                    "image": "db",
                    "container_name": "db",
                    "ports": [{"published": 5432, "target": 5432}],
                    "volumes": [{"type": "bind", "source": "/repo/init", "target": "/init"}],
                },
            },
            "volumes": {"data": {}},
        })
    }

    fn spec() -> CreateSpec {
        CreateSpec {
            labels: std::collections::BTreeMap::from([("warren.name".into(), "otter".into())]),
            env: vec![
                ("WARREN_NAME".into(), "otter".into()),
                ("X".into(), "$HOME".into()),
            ],
            mounts: vec![warren_runtime::Mount {
                kind: MountKind::Bind,
                source: "/root/worktrees/p/otter".into(),
                target: "/workspace".into(),
                read_only: false,
            }],
            publish: vec![warren_runtime::PublishPort {
                container_port: 3000,
                host_port: None,
                host_ip: None,
            }],
            override_command: true,
            ..Default::default()
        }
    }

    fn project() -> ComposeProject {
        ComposeProject {
            project: "warren-abc-otter".into(),
            file: "/root/compose/otter/compose.yml".into(),
            directory: "/repo/.devcontainer".into(),
            service: "app".into(),
            run_services: Vec::new(),
            shutdown: Shutdown::StopCompose,
        }
    }

    #[test]
    fn the_project_file_is_the_environments_own() {
        let (doc, warnings) = project_file(
            merged(),
            &spec(),
            &project(),
            Path::new("/repo"),
            Path::new("/root/worktrees/p/otter"),
            false,
            "abc",
            "otter",
        )
        .unwrap();
        let app = &doc["services"]["app"];
        assert_eq!(
            app["volumes"],
            json!([
                "data:/data",
                "/root/worktrees/p/otter/src:/src",
                "/root/worktrees/p/otter:/workspace"
            ])
        );
        assert_eq!(app["environment"]["X"], "$$HOME");
        assert_eq!(app["environment"]["FOO"], "a$$b");
        assert_eq!(
            app["entrypoint"][2],
            escape(warren_runtime::docker::KEEP_ALIVE)
        );
        assert_eq!(app["cap_drop"], json!(["ALL"]));
        assert!(
            app["cap_add"]
                .as_array()
                .unwrap()
                .contains(&json!("SYS_PTRACE"))
        );
        assert!(
            app["security_opt"]
                .as_array()
                .unwrap()
                .contains(&json!("no-new-privileges"))
        );
        assert_eq!(labels_of(&doc, "app")["warren.name"], "otter");
        let db = &doc["services"]["db"];
        assert_eq!(
            db["ports"],
            json!(["127.0.0.1::3000"]),
            "on the network's owner"
        );
        assert!(db.get("container_name").is_none());
        assert_eq!(db["volumes"][0]["source"], "/root/worktrees/p/otter/init");
        assert_eq!(labels_of(&doc, "db")["warren.compose.member"], "otter");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
    }

    #[test]
    fn a_missing_service_is_named() {
        let mut p = project();
        p.run_services = vec!["cache".into()];
        let err = project_file(
            merged(),
            &spec(),
            &p,
            Path::new("/repo"),
            Path::new("/t"),
            false,
            "a",
            "n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("no service `cache`"), "{err}");
    }

    #[test]
    fn project_names_are_per_root_and_environment() {
        assert_eq!(
            project_name("abc123", "Fluffy.Otter"),
            "warren-abc123-fluffy-otter"
        );
    }
}
