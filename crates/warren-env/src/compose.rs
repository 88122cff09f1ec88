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
//! pids limits are set on its container by the runtime. The configuration's
//! Features are installed on the main service's image, which the project
//! file then names (see [`Warren::compose_features_image`]). Compose v1
//! reads a private copy of each compose file that uses a Compose v2
//! spelling it rejects (see `for_compose_v1`).

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

/// A Compose configuration as compose will run it ([`Warren::read_compose`]).
pub(crate) struct MergedCompose {
    /// The environment's compose project name.
    project: String,
    /// The compose project directory.
    directory: PathBuf,
    /// The merged files, as `config` printed them.
    doc: Value,
    /// The host access granted and used (short names, for `ls`).
    given_up: Vec<String>,
}

impl Warren {
    /// The compose files of `c` merged by the compose CLI (`config`), with
    /// the environment's project name and the compose project directory.
    async fn merged_compose(
        &self,
        c: &ComposePlan,
        rec: &EnvRecord,
    ) -> Result<(String, PathBuf, Value), EnvError> {
        let cli = ComposeCli::detect().map_err(|e| EnvError::Refused {
            message: e.to_string(),
            hint: "install Docker Compose (`apt-get install docker-compose`, or the docker CLI's compose plugin)".into(),
        })?;
        self.reporter.step(&format!(
            "reading the compose configuration ({})",
            cli.name()
        ));
        let project = project_name(&self.root_id(), &rec.name);
        // Compose resolves relative paths and reads `.env` from here; warren
        // names it always, so a translated copy elsewhere reads the same.
        let directory = c.directory();
        let files = if cli.is_v1() {
            for_compose_v1(&c.config.files, &dir(&self.root, &rec.name).join("v1"))?
        } else {
            c.config.files.clone()
        };
        let text = cli
            .config(&project, &directory, &files)
            .await
            .map_err(|e| {
                // Compose names the copy it read (gone once the failed
                // environment is cleaned up); the user edits the original,
                // whose lines the copy keeps.
                let copied: Vec<(&PathBuf, &PathBuf)> = files
                    .iter()
                    .zip(&c.config.files)
                    .filter(|(read, original)| read != original)
                    .collect();
                let e = if copied.is_empty() {
                    e.into()
                } else {
                    let mut text = e.to_string();
                    for (copy, original) in &copied {
                        text = text.replace(
                            copy.to_string_lossy().as_ref(),
                            original.to_string_lossy().as_ref(),
                        );
                    }
                    let names: Vec<String> = copied
                        .iter()
                        .map(|(_, o)| format!("`{}`", o.display()))
                        .collect();
                    EnvError::Other(format!(
                        "{text}\n(Compose v1 read warren's copy of {}: the same text, line for line, without a top-level `name:` and the first file's `!reset`/`!override` tags)",
                        names.join(", ")
                    ))
                };
                EnvError::at("reading the compose files")(e)
            })?;
        let first = c.config.files.first().cloned().unwrap_or_default();
        let doc = warren_config::compose::yaml_to_json(&first, &text).map_err(|e| {
            EnvError::Other(format!(
                "cannot read what `{} config` printed: {e}",
                cli.name()
            ))
        })?;
        Ok((project, directory, doc))
    }

    /// The image of the main service with the configuration's Features
    /// installed, as the reference makes it: the service's image (pulled,
    /// or built from its `build:` here, as compose would build it), then the
    /// Features image on top. The project file then names this image for the
    /// service (see [`main_service`]); its `devcontainer.metadata` label
    /// brings the Features' contributions, merged like any image's.
    pub(crate) async fn compose_features_image(
        &self,
        runtime: &dyn warren_runtime::Runtime,
        c: &ComposePlan,
        merged: &MergedCompose,
        plan: &Plan,
        features: &crate::features::FeaturesPlan,
    ) -> Result<String, EnvError> {
        let source = service_image(
            &merged.doc,
            &c.config.service,
            &merged.directory,
            &plan.project,
            &plan.config_hash,
        )?;
        self.reporter.step("preparing image");
        let reporter = self.reporter.clone();
        let sink = move |p: warren_runtime::Progress| reporter.progress(&p);
        let base = runtime
            .ensure_image(&source, &sink)
            .await
            .map_err(|e| EnvError::at("preparing the compose service's image")(e.into()))?;
        self.features_image(runtime, plan, features, base, &sink)
            .await
            .map_err(EnvError::at("installing the devcontainer Features"))
    }

    /// The compose files of `c` merged once for the whole create (its
    /// Features image and its project file both use it), checked on what
    /// compose will run (variables filled in, the files merged): granted host
    /// access is named, the rest refused before any image is built.
    pub(crate) async fn read_compose(
        &self,
        c: &ComposePlan,
        plan: &Plan,
        rec: &EnvRecord,
    ) -> Result<MergedCompose, EnvError> {
        let (project, directory, doc) = self.merged_compose(c, rec).await?;
        let home = self.host.home();
        let mut given_up: Vec<String> = Vec::new();
        let mut refused = Vec::new();
        let mut hints = Vec::new();
        for h in warren_config::compose::host_access(&doc, &directory, &c.project_dir) {
            match (h.refused, &h.need) {
                (true, Some(need)) if plan.container.grants.allows(need, home.as_deref()) => {
                    let short = need.short();
                    if !given_up.contains(&short) {
                        given_up.push(short);
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
        Ok(MergedCompose {
            project,
            directory,
            doc,
            given_up,
        })
    }

    /// Writes the project file of `rec` from `merged` and points `create`
    /// (and the stored `stored`) at it.
    pub(crate) fn prepare_compose(
        &self,
        c: &ComposePlan,
        merged: MergedCompose,
        plan: &Plan,
        rec: &EnvRecord,
        create: &mut CreateSpec,
    ) -> Result<(), EnvError> {
        let MergedCompose {
            project,
            directory,
            doc,
            given_up,
        } = merged;
        for short in given_up {
            if !create.host.given_up.contains(&short) {
                create.host.given_up.push(short);
            }
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

/// What makes the image of `service` in the merged configuration `doc`:
/// its `build:` (a build warren runs, tagged like a Dockerfile config's
/// image, so an unchanged build is not run again), else its `image:`.
fn service_image(
    doc: &Value,
    service: &str,
    directory: &Path,
    project: &str,
    config_hash: &str,
) -> Result<warren_runtime::ImageSource, EnvError> {
    let def = doc
        .get("services")
        .and_then(|s| s.get(service))
        .ok_or_else(|| EnvError::Refused {
            message: format!("the compose files have no service `{service}`"),
            hint: "set `service` in devcontainer.json to a service of the compose files".into(),
        })?;
    let build = match def.get("build") {
        None | Some(Value::Null) => None,
        Some(Value::String(context)) => Some((context.clone(), None, Map::new(), None)),
        Some(Value::Object(b)) => Some((
            b.get("context")
                .and_then(|c| c.as_str())
                .unwrap_or(".")
                .to_string(),
            b.get("dockerfile")
                .and_then(|d| d.as_str())
                .map(str::to_string),
            as_map(b.get("args").cloned()),
            b.get("target").and_then(|t| t.as_str()).map(str::to_string),
        )),
        Some(other) => {
            return Err(EnvError::Other(format!(
                "service `{service}`: `build` is neither a path nor a map ({other})"
            )));
        }
    };
    let Some((context, dockerfile, args, target)) = build else {
        return match def.get("image").and_then(|i| i.as_str()) {
            Some(image) => Ok(warren_runtime::ImageSource::Image(image.to_string())),
            None => Err(EnvError::Refused {
                message: format!(
                    "service `{service}` has neither `image` nor `build`: there is no image to install the Features on"
                ),
                hint: format!("give `{service}` an `image:` or a `build:` in the compose file"),
            }),
        };
    };
    let context = warren_config::compose::absolute(directory, &context);
    let dockerfile = context.join(dockerfile.as_deref().unwrap_or("Dockerfile"));
    let args = args
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s,
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (k, v)
        })
        .collect::<std::collections::BTreeMap<String, String>>()
        .into_iter()
        .collect();
    let mut salt = context.to_string_lossy().into_owned().into_bytes();
    salt.push(0);
    crate::resolve::StableBuild {
        project,
        config_hash,
        salt: &salt,
        what: format!(" of service `{service}`"),
        tag_prefix: format!("{}-", warren_core::names::slug(service)),
    }
    .spec(context, dockerfile, args, target, Vec::new())
    .map(warren_runtime::ImageSource::Build)
}

/// Writes `doc` as the project's file (JSON is YAML), private to the user.
fn write_private(file: &Path, doc: &Value) -> Result<(), EnvError> {
    let text = serde_json::to_string_pretty(doc)
        .map_err(|e| EnvError::Other(format!("cannot write the compose file: {e}")))?;
    write_private_text(file, &text)
}

/// Writes `text` to `file`, readable by its owner only (in a directory
/// only its owner can enter).
fn write_private_text(file: &Path, text: &str) -> Result<(), EnvError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let io = |e| EnvError::Io(format!("cannot write `{}`", file.display()), e);
    if let Some(parent) = file.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(io)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(file)
        .map_err(io)?;
    std::io::Write::write_all(&mut f, text.as_bytes()).map_err(io)
}

/// The compose files as Compose v1 is to read them: for each that uses a
/// Compose v2 spelling v1 rejects (a top-level `name:`, `!reset`,
/// `!override`), a translated copy under `dir` (see
/// `warren_config::compose_v1`), named like the original for v1's messages;
/// the others as they are. A file warren cannot read is left to compose,
/// which says what is wrong with it.
fn for_compose_v1(files: &[PathBuf], dir: &Path) -> Result<Vec<PathBuf>, EnvError> {
    // Copies of an earlier run that are no longer needed must not linger.
    let _ = std::fs::remove_dir_all(dir);
    let mut out = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let Ok(text) = std::fs::read_to_string(file) else {
            out.push(file.clone());
            continue;
        };
        let copy = warren_config::compose_v1::for_compose_v1(file, &text, i == 0).map_err(|d| {
            EnvError::Refused {
                message: d.to_string(),
                hint: d.hint.clone().unwrap_or_default(),
            }
        })?;
        match copy {
            Some(copy) => {
                let name = file
                    .file_name()
                    .unwrap_or(std::ffi::OsStr::new("compose.yml"));
                let path = dir.join(i.to_string()).join(name);
                write_private_text(&path, &copy)?;
                tracing::debug!(from = %file.display(), to = %path.display(), "compose file copied for Compose v1");
                out.push(path);
            }
            None => out.push(file.clone()),
        }
    }
    Ok(out)
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

    // Set only when warren built the service's image (with its Features):
    // that image replaces the file's `image`/`build`.
    if !create.image.is_empty() {
        def.insert("image".into(), json!(create.image));
        def.remove("build");
    }
    if let Some(user) = &create.user {
        def.insert("user".into(), json!(user));
    }
    if create.override_command {
        // As for any container (see warren-runtime's convert.rs): each
        // Feature's entrypoint on a line of its own, then the keep-alive.
        let mut script = String::new();
        for e in &create.entrypoints {
            script.push_str(e);
            script.push('\n');
        }
        script.push_str(warren_runtime::docker::KEEP_ALIVE);
        def.insert(
            "entrypoint".into(),
            json!(["/bin/sh", "-c", escape(&script)]),
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
    fn a_services_build_is_what_its_features_install_on() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("App.Dockerfile"), "FROM x\n").unwrap();
        let doc = json!({"services": {
            "app": {"build": {"context": ".", "dockerfile": "App.Dockerfile",
                              "args": {"V": "18", "N": 1}, "target": "dev"}},
            "db": {"image": "postgres:16"},
            "none": {"command": "true"},
        }});
        let Ok(warren_runtime::ImageSource::Build(b)) =
            service_image(&doc, "app", dir.path(), "My Repo", "h")
        else {
            panic!("a build");
        };
        assert_eq!(b.dockerfile, dir.path().join("App.Dockerfile"));
        assert_eq!(b.args["V"], "18");
        assert_eq!(b.args["N"], "1");
        assert_eq!(b.target.as_deref(), Some("dev"));
        assert!(b.tag.starts_with("warren-my-repo:app-"), "{}", b.tag);
        let again = service_image(&doc, "app", dir.path(), "My Repo", "h").unwrap();
        assert_eq!(
            again,
            warren_runtime::ImageSource::Build(b),
            "the same inputs, the same tag"
        );
        assert_eq!(
            service_image(&doc, "db", dir.path(), "p", "h").unwrap(),
            warren_runtime::ImageSource::Image("postgres:16".into())
        );
        let err = service_image(&doc, "none", dir.path(), "p", "h").unwrap_err();
        assert!(
            err.to_string().contains("neither `image` nor `build`"),
            "{err}"
        );
    }

    #[test]
    fn a_features_image_replaces_the_services_build_and_its_entrypoints_run() {
        let mut s = spec();
        s.image = "warren-features:abc".into();
        s.entrypoints = vec!["/usr/local/share/docker-init.sh".into()];
        let mut doc = merged();
        doc["services"]["app"]["build"] = json!({"context": "/repo/.devcontainer"});
        let (doc, _) = project_file(
            doc,
            &s,
            &project(),
            Path::new("/repo"),
            Path::new("/t"),
            false,
            "a",
            "n",
        )
        .unwrap();
        let app = &doc["services"]["app"];
        assert_eq!(app["image"], "warren-features:abc");
        assert!(app.get("build").is_none(), "{app}");
        let script = app["entrypoint"][2].as_str().unwrap();
        assert!(
            script.starts_with("/usr/local/share/docker-init.sh\n"),
            "{script}"
        );
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
    fn compose_v1_reads_private_copies_of_the_files_that_need_one() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let dc = dir.path().join("repo/.devcontainer");
        std::fs::create_dir_all(&dc).unwrap();
        let first = dc.join("docker-compose.yml");
        std::fs::write(
            &first,
            "name: ${CUSTOM_NAME}\nservices:\n  app:\n    image: x\n    ports: !reset []\n",
        )
        .unwrap();
        let second = dc.join("extra.yml");
        std::fs::write(&second, "services:\n  db:\n    image: y\n").unwrap();
        let private = dir.path().join("root/compose/otter/v1");
        let files = for_compose_v1(&[first.clone(), second.clone()], &private).unwrap();
        assert_eq!(
            files,
            vec![private.join("0/docker-compose.yml"), second.clone()]
        );
        assert_eq!(
            std::fs::read_to_string(&files[0]).unwrap(),
            "\nservices:\n  app:\n    image: x\n    \n"
        );
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&files[0]), 0o600);
        assert_eq!(mode(&private), 0o700);
        assert_eq!(mode(&private.join("0")), 0o700);

        // What v2 replaces in a later file, v1 would merge: refused there.
        std::fs::write(&second, "services:\n  app:\n    ports: !reset []\n").unwrap();
        let err = for_compose_v1(&[first, second.clone()], &private).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("{}:3:12", second.display())) && text.contains("Compose v2"),
            "{text}"
        );
    }

    #[test]
    fn project_names_are_per_root_and_environment() {
        assert_eq!(
            project_name("abc123", "Fluffy.Otter"),
            "warren-abc123-fluffy-otter"
        );
    }
}
