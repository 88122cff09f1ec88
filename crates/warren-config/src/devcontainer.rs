//! devcontainer.json: where it is found, its model, and its decoder.
//!
//! The file is JSONC. Variables (see [`crate::variables`]) are substituted in
//! every string value when it is read. Fields warren does not act on
//! (`features`, `customizations`, compose keys…) give one warning each; keys
//! that are not in the spec at all are warnings with a "did you mean" (it is
//! not warren's own file); wrong types and bad values of fields warren uses
//! are errors.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::decode::{Decoder, Fields, suggestion};
use crate::diagnostic::{ConfigError, Diagnostic, Loaded, Severity, Source};
use crate::features::{FeatureRequest, disallowed_feature, parse_feature_ref};
use crate::files::read_required;
use crate::host_access::{Class, HostAccess, HostAccessUse};
use crate::lifecycle::{LifecycleCommand, decode_command};
use crate::node::{Node, Value};
use crate::runargs::{RunArgs, parse_run_args};
use crate::values::{BuildSpec, Mount, MountKind, OrderedMap, Spanned, parse_kind};
use crate::variables::{SubstitutionContext, container_folder, substitute_local};

/// A decoded devcontainer.json.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DevContainer {
    /// The devcontainer.json this came from.
    pub file: PathBuf,
    pub name: Option<String>,
    pub image: Option<String>,
    /// `build` (or legacy `dockerFile`/`context`); `base` is the file's folder.
    pub build: Option<BuildSpec>,
    /// Set on the container itself.
    pub container_env: OrderedMap<String>,
    /// Set on processes warren starts inside (exec, sessions, lifecycle
    /// commands); `None` unsets the variable. May contain `${containerEnv:…}`.
    pub remote_env: OrderedMap<Option<String>>,
    pub forward_ports: Vec<PortSpec>,
    pub app_port: Vec<PortSpec>,
    /// `portsAttributes`: key (a port, or a range `3000-3010`) → attributes.
    pub ports_attributes: OrderedMap<PortAttributes>,
    pub mounts: Vec<Mount>,
    pub run_args: RunArgs,
    pub workspace_folder: Option<String>,
    pub workspace_mount: Option<Mount>,
    pub remote_user: Option<String>,
    pub container_user: Option<String>,
    pub override_command: Option<bool>,
    pub init: Option<bool>,
    pub privileged: Option<bool>,
    pub cap_add: Vec<String>,
    pub security_opt: Vec<String>,
    pub lifecycle: Lifecycle,
    pub wait_for: Option<WaitFor>,
    pub shutdown_action: Option<ShutdownAction>,
    /// `dockerComposeFile` is set: a Compose config.
    pub compose: Option<ComposeConfig>,
    /// `hostRequirements.gpu` (`true` or an object: required; `"optional"`:
    /// used only when `host_access` grants GPUs).
    pub gpu: Option<GpuRequirement>,
    /// Every setting of the file that is host access, with where it is:
    /// granted or refused by [`crate::resolve`] against `host_access:`.
    pub host_access: Vec<HostAccessUse>,
    /// `features`, in the order written (installed in [`crate::install_order`]'s).
    pub features: Vec<FeatureRequest>,
    /// `overrideFeatureInstallOrder`.
    pub override_feature_install_order: Vec<String>,
}

/// `hostRequirements.gpu`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GpuRequirement {
    Required,
    Optional,
}

/// A Docker Compose config: the environment is `service` of a compose project
/// of its own.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ComposeConfig {
    /// `dockerComposeFile`, in order, absolute (relative to the
    /// devcontainer.json's folder).
    pub files: Vec<PathBuf>,
    /// `service`: the one warren works in.
    pub service: String,
    /// `runServices`: the services to start (empty: all of them).
    pub run_services: Vec<String>,
}

impl DevContainer {
    /// The `portsAttributes` label of `port` (exact key first, then ranges).
    pub fn port_label(&self, port: u16) -> Option<&str> {
        let exact = self.ports_attributes.get(&port.to_string());
        let ranged = || {
            self.ports_attributes.iter().find_map(|(k, a)| {
                let (lo, hi) = k.split_once('-')?;
                let (lo, hi) = (
                    lo.trim().parse::<u16>().ok()?,
                    hi.trim().parse::<u16>().ok()?,
                );
                (lo..=hi).contains(&port).then_some(a)
            })
        };
        exact.or_else(ranged).and_then(|a| a.label.as_deref())
    }
}

/// One `forwardPorts`/`appPort` entry: `3000`, `"8080:3000"` or
/// `"127.0.0.1:8080:3000"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct PortSpec {
    pub host_ip: Option<IpAddr>,
    /// A requested host port (`None`: engine-assigned).
    pub host_port: Option<u16>,
    pub container_port: u16,
}

/// `portsAttributes` entry (only what warren uses).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct PortAttributes {
    pub label: Option<String>,
    pub protocol: Option<String>,
}

/// The lifecycle commands, each `None` when absent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Lifecycle {
    /// On the host, before the container is created.
    pub initialize: Option<LifecycleCommand>,
    /// Once per container.
    pub on_create: Option<LifecycleCommand>,
    /// Once per container (spec: also when content updates).
    pub update_content: Option<LifecycleCommand>,
    /// Once per container.
    pub post_create: Option<LifecycleCommand>,
    /// On every start.
    pub post_start: Option<LifecycleCommand>,
    /// On every attach.
    pub post_attach: Option<LifecycleCommand>,
}

/// `waitFor`: the step after which the environment counts as ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum WaitFor {
    InitializeCommand,
    OnCreateCommand,
    /// The spec's default.
    #[default]
    UpdateContentCommand,
    PostCreateCommand,
    PostStartCommand,
}

/// `shutdownAction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ShutdownAction {
    None,
    StopContainer,
    StopCompose,
}

/// devcontainer.json fields warren does not act on, with what to do instead.
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "customizations",
        "these are editor settings; warren does not use them",
    ),
    (
        "otherPortsAttributes",
        "only the `label` of `portsAttributes` entries is used",
    ),
    ("userEnvProbe", "set the variables you need in `remoteEnv`"),
    (
        "secrets",
        "pass secrets with `remoteEnv` and `${localEnv:VAR}`",
    ),
    ("gpuRequirements", "GPU access is not supported"),
];

/// Finds the devcontainer.json for `dir`.
///
/// With `config` (`--config`, relative to `dir` unless absolute) that file,
/// which must exist. Otherwise `.devcontainer/devcontainer.json`, then
/// `.devcontainer.json`, then `.devcontainer/<name>/devcontainer.json` when
/// exactly one such folder has one; several are an error listing them with a
/// hint to pass `--config`. `Ok(None)` when there is none.
pub fn find_devcontainer(
    dir: &Path,
    config: Option<&Path>,
) -> Result<Option<PathBuf>, ConfigError> {
    if let Some(config) = config {
        let path = dir.join(config);
        if path.is_file() {
            return Ok(Some(path));
        }
        return Err(ConfigError::one(
            Diagnostic::arg_error(
                "--config",
                format!("devcontainer config `{}` not found", path.display()),
            )
            .with_hint("pass the path of an existing devcontainer.json (relative to the project)"),
        ));
    }
    for candidate in [".devcontainer/devcontainer.json", ".devcontainer.json"] {
        let path = dir.join(candidate);
        if path.is_file() {
            return Ok(Some(path));
        }
    }
    let named = named_devcontainers(dir);
    match named.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        many => {
            let listed: Vec<String> = many
                .iter()
                .map(|p| p.strip_prefix(dir).unwrap_or(p).display().to_string())
                .collect();
            Err(ConfigError::one(
                Diagnostic::arg_error(
                    "--config",
                    format!(
                        "{} devcontainer configurations found: {}",
                        many.len(),
                        listed.join(", ")
                    ),
                )
                .with_hint(format!("choose one with `--config {}`", listed[0])),
            ))
        }
    }
}

/// Every `.devcontainer/<name>/devcontainer.json`, sorted.
pub fn named_devcontainers(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir.join(".devcontainer"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path().join("devcontainer.json"))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Reads and decodes a devcontainer.json, substituting load-time variables.
pub fn load_devcontainer(
    path: &Path,
    ctx: &SubstitutionContext<'_>,
) -> Result<Loaded<DevContainer>, ConfigError> {
    let text = read_required(path).map_err(ConfigError::one)?;
    parse_devcontainer(path, &text, ctx)
}

/// Decodes devcontainer.json text as if read from `path`.
pub fn parse_devcontainer(
    path: &Path,
    text: &str,
    ctx: &SubstitutionContext<'_>,
) -> Result<Loaded<DevContainer>, ConfigError> {
    let src = Source::new(path, text);
    let (value, mut diags) = decode_devcontainer_source(&src, ctx);
    if diags.iter().any(Diagnostic::is_error) {
        return Err(ConfigError::new(diags));
    }
    crate::diagnostic::sort_diagnostics(&mut diags);
    Ok(Loaded {
        value,
        warnings: diags,
        path: Some(path.to_path_buf()),
    })
}

pub(crate) fn decode_devcontainer_source(
    src: &Source,
    ctx: &SubstitutionContext<'_>,
) -> (DevContainer, Vec<Diagnostic>) {
    let (node, mut diags) = crate::jsonc::parse(src);
    let mut dc = DevContainer {
        file: src.path.clone(),
        ..DevContainer::default()
    };
    let Some(mut node) = node else {
        if diags.is_empty() {
            diags.push(
                Diagnostic::file_error(&src.path, "devcontainer.json is empty")
                    .with_hint("it needs at least `{\"image\": \"...\"}`"),
            );
        }
        return (dc, diags);
    };
    let folder_in_file = match node.get("workspaceFolder").map(|n| &n.value) {
        Some(Value::Str(s)) => Some(s.clone()),
        _ => None,
    };
    let container_folder = container_folder(ctx, folder_in_file.as_deref());
    let container_folder = container_folder.to_string_lossy().into_owned();
    // workspaceMount must name the tree as the variable: a literal path
    // could equal the project's folder when the file is validated and still
    // not be any environment's tree.
    let names_tree = matches!(
        node.get("workspaceMount").map(|n| &n.value),
        Some(Value::Str(s)) if s.contains("${localWorkspaceFolder}")
    );
    // Mounts that name the environment's own tree as the variable (what it
    // already has: not host access); a literal path never counts, as above.
    let tree_mounts: Vec<usize> = match node.get("mounts").map(|n| &n.value) {
        Some(Value::Seq(items)) => items
            .iter()
            .enumerate()
            .filter(|(_, m)| {
                let raw = match &m.value {
                    Value::Str(s) => Some(s.as_str()),
                    _ => m.get("source").and_then(|s| match &s.value {
                        Value::Str(s) => Some(s.as_str()),
                        _ => None,
                    }),
                };
                raw.is_some_and(|r| r.contains("${localWorkspaceFolder}"))
            })
            .map(|(i, _)| i)
            .collect(),
        _ => Vec::new(),
    };
    let mut d = Decoder::new(src);
    node.map_strings_at(
        &mut |s, span| match substitute_local(s, ctx, &container_folder) {
            Ok(v) => v,
            Err(e) => {
                d.error(span, e.message, Some(e.hint));
                s.to_string()
            }
        },
    );
    decode(
        &mut d,
        &node,
        &mut dc,
        ctx.local_env,
        names_tree.then_some(ctx.local_workspace_folder),
        (&tree_mounts, ctx.local_workspace_folder),
    );
    diags.append(&mut d.diags);
    (dc, diags)
}

fn decode(
    d: &mut Decoder<'_>,
    node: &Node,
    dc: &mut DevContainer,
    host_env: crate::EnvLookup<'_>,
    // The environment's tree, when `workspaceMount` names it as
    // `${localWorkspaceFolder}` (else nothing it mounts can be the tree).
    tree: Option<&Path>,
    // The `mounts` items naming `${localWorkspaceFolder}`, and the tree.
    (tree_mounts, own_tree): (&[usize], &Path),
) {
    let base = dc.file.parent().map(Path::to_path_buf).unwrap_or_default();
    let Some(mut f) = d.fields(node, "devcontainer.json") else {
        return;
    };
    f.ignore("$schema");
    dc.name = f.take("name").and_then(|n| d.string(n, "name"));
    dc.image = f.take("image").and_then(|n| d.string(n, "image"));
    let build_node = f.take("build");
    let legacy_file = f.take("dockerFile");
    let legacy_context = f.take("context");
    if let Some(n) = build_node {
        dc.build = decode_build(d, n, &base);
    }
    if let Some(n) = legacy_file
        && let Some(file) = d.string(n, "dockerFile")
    {
        let b = dc.build.get_or_insert_with(|| BuildSpec {
            base: base.clone(),
            ..BuildSpec::default()
        });
        if b.dockerfile.is_none() {
            b.dockerfile = Some(file);
        }
    }
    if let (Some(n), Some(b)) = (legacy_context, dc.build.as_mut())
        && b.context.is_none()
    {
        b.context = d.string(n, "context");
    }
    if let Some(b) = &dc.build {
        if b.dockerfile.is_none() {
            let span = build_node.map_or(node.span, |n| n.span);
            d.error(
                span,
                "`build` has no `dockerfile`",
                Some("add `\"dockerfile\": \"Dockerfile\"` (relative to the devcontainer.json folder)".into()),
            );
        }
        if dc.image.is_some() {
            let span = build_node.or(legacy_file).map_or(node.span, |n| n.span);
            d.warning(
                span,
                "both `image` and `build` are set; the image is built and `image` is ignored",
                Some("remove `image`, or remove `build` to use the image as is".into()),
            );
            dc.image = None;
        }
    }
    if let Some(n) = f.take("containerEnv") {
        dc.container_env = d.string_map(n, "containerEnv").unwrap_or_default();
    }
    if let Some(n) = f.take("remoteEnv") {
        for (k, v) in d.entries(n, "remoteEnv").unwrap_or_default() {
            match &v.value {
                Value::Null => dc.remote_env.insert(k.text.clone(), None),
                _ => {
                    if let Some(s) = d.scalar_string(v, &format!("remoteEnv.{}", k.text)) {
                        dc.remote_env.insert(k.text.clone(), Some(s));
                    }
                }
            }
        }
    }
    if let Some(n) = f.take("forwardPorts") {
        match &n.value {
            Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(p) = port_spec(d, item, &format!("forwardPorts[{i}]")) {
                        dc.forward_ports.push(p);
                    }
                }
            }
            _ => d.type_error(
                n,
                "forwardPorts",
                "a list",
                Some("e.g. `\"forwardPorts\": [3000, \"8080:80\"]`".into()),
            ),
        }
    }
    if let Some(n) = f.take("appPort") {
        let items: Vec<&Node> = match &n.value {
            Value::Seq(items) => items.iter().collect(),
            _ => vec![n],
        };
        for (i, item) in items.into_iter().enumerate() {
            let what = format!("appPort[{i}]");
            match port_range(d, item, &what) {
                Some(range) => dc.app_port.extend(range),
                None => dc.app_port.extend(port_spec(d, item, &what)),
            }
        }
    }
    if let Some(n) = f.take("portsAttributes") {
        for (k, v) in d.entries(n, "portsAttributes").unwrap_or_default() {
            let what = format!("portsAttributes.{}", k.text);
            let Some(mut pf) = d.fields(v, &what) else {
                continue;
            };
            let attrs = PortAttributes {
                label: pf
                    .take("label")
                    .and_then(|n| d.string(n, &format!("{what}.label"))),
                protocol: pf
                    .take("protocol")
                    .and_then(|n| d.string(n, &format!("{what}.protocol"))),
            };
            // Editor behaviour: known, silently ignored.
            for editor_only in ["onAutoForward", "requireLocalPort", "elevateIfNeeded"] {
                pf.ignore(editor_only);
            }
            pf.finish(d, Severity::Warning);
            dc.ports_attributes.insert(k.text.clone(), attrs);
        }
    }
    if let Some(n) = f.take("mounts") {
        match &n.value {
            Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(m) = mount(d, item, &format!("mounts[{i}]")) {
                        let own = tree_mounts.contains(&i)
                            && m.source.as_deref().is_some_and(|s| {
                                crate::host_access::normalize(Path::new(s)).starts_with(own_tree)
                            });
                        if own {
                            // The environment's own tree: warren maps it
                            // to the environment's repository at create.
                        } else if let Class::HostAccess(need) = crate::host_access::classify_mount(
                            &crate::host_access::MountRequest::from(&m),
                        ) {
                            host_use(
                                d,
                                &mut dc.host_access,
                                item.span,
                                &format!("mounts[{i}]"),
                                need,
                            );
                        }
                        dc.mounts.push(m);
                    }
                }
            }
            _ => d.type_error(n, "mounts", "a list", None),
        }
    }
    if let Some(n) = f.take("runArgs") {
        let items = d.string_list(n, "runArgs", false).unwrap_or_default();
        // `-e NAME` without a value takes NAME from the host, as docker does.
        let (args, errors, host) = parse_run_args(&items, host_env);
        dc.run_args = args;
        for h in host {
            let span = items.get(h.index).map_or(n.span, |s| s.span);
            host_use(
                d,
                &mut dc.host_access,
                span,
                &format!("runArgs `{}`", h.shown),
                h.need,
            );
        }
        for e in errors {
            let span = items.get(e.index).map_or(n.span, |s| s.span);
            if e.warning {
                d.warning(span, e.message, Some(e.hint));
            } else {
                d.error(span, e.message, Some(e.hint));
            }
        }
    }
    if let Some(n) = f.take("workspaceFolder")
        && let Some(folder) = d.string(n, "workspaceFolder")
    {
        if folder.starts_with('/') {
            dc.workspace_folder = Some(folder);
        } else {
            d.error(
                n.span,
                format!(
                    "`workspaceFolder` must be an absolute path in the container, found `{folder}`"
                ),
                Some("e.g. `\"workspaceFolder\": \"/workspace\"`".into()),
            );
        }
    }
    if let Some(n) = f.take("workspaceMount")
        && let Some(s) = d.string(n, "workspaceMount")
    {
        let example =
            "e.g. `\"source=${localWorkspaceFolder},target=/workspace,type=bind\"`".to_string();
        match Mount::parse_long(&s) {
            // The environment's tree is the only thing warren mounts there:
            // another host path would hand the container what it must not
            // see (the user's checkout, their home…); a volume would hide
            // the tree.
            Ok(m) if m.kind != MountKind::Bind => d.error(
                n.span,
                format!(
                    "`workspaceMount` must be a bind mount of the environment's tree, found a {} mount",
                    match m.kind {
                        MountKind::Volume => "volume",
                        _ => "tmpfs",
                    }
                ),
                Some(example),
            ),
            Ok(m) if tree.is_none() || m.source.as_deref().map(Path::new) != tree => d.error(
                n.span,
                format!(
                    "`workspaceMount` mounts `{}`; warren only mounts the environment's own tree (`${{localWorkspaceFolder}}`) there",
                    m.source.as_deref().unwrap_or_default(),
                ),
                Some("use `source=${localWorkspaceFolder}`, or put other host paths in `mounts`".into()),
            ),
            Ok(m) => dc.workspace_mount = Some(m),
            Err(msg) => d.error(n.span, format!("`workspaceMount`: {msg}"), Some(example)),
        }
        if dc.workspace_folder.is_none() {
            d.warning(
                n.span,
                "`workspaceMount` is set without `workspaceFolder`",
                Some("warren works in the mount's target; set `workspaceFolder` as the spec requires".into()),
            );
        }
    }
    dc.remote_user = f.take("remoteUser").and_then(|n| d.string(n, "remoteUser"));
    dc.container_user = f
        .take("containerUser")
        .and_then(|n| d.string(n, "containerUser"));
    dc.override_command = f
        .take("overrideCommand")
        .and_then(|n| d.bool(n, "overrideCommand"));
    dc.init = f.take("init").and_then(|n| d.bool(n, "init"));
    if let Some(n) = f.take("privileged") {
        dc.privileged = d.bool(n, "privileged");
        if dc.privileged == Some(true) {
            host_use(
                d,
                &mut dc.host_access,
                n.span,
                "privileged",
                HostAccess::Privileged,
            );
        }
    }
    if let Some(n) = f.take("capAdd") {
        dc.cap_add = classified_list(d, &mut dc.host_access, n, "capAdd", |c| {
            crate::host_access::classify_capability(c)
        });
    }
    if let Some(n) = f.take("securityOpt") {
        dc.security_opt = classified_list(d, &mut dc.host_access, n, "securityOpt", |o| {
            crate::host_access::classify_security_opt(o)
        });
    }
    if let Some((key, n)) = f.take_entry("hostRequirements")
        && let Some(mut hf) = d.fields(n, "hostRequirements")
    {
        if let Some(g) = hf.take("gpu") {
            dc.gpu = match &g.value {
                Value::Bool(true) | Value::Map(_) => Some(GpuRequirement::Required),
                Value::Bool(false) => None,
                Value::Str(s) if s == "optional" => Some(GpuRequirement::Optional),
                _ => {
                    d.type_error(
                        g,
                        "hostRequirements.gpu",
                        "true, false, \"optional\" or an object",
                        None,
                    );
                    None
                }
            };
            if dc.gpu == Some(GpuRequirement::Required) {
                host_use(
                    d,
                    &mut dc.host_access,
                    g.span,
                    "hostRequirements.gpu",
                    HostAccess::Gpus("all".into()),
                );
            }
        }
        // cpus, memory, storage: the reference only checks them; warren
        // sets its own limits (`resources:`).
        let mut checked = false;
        for k in ["cpus", "memory", "storage"] {
            checked |= hf.take(k).is_some();
        }
        if checked {
            d.warning(
                key.span,
                "`hostRequirements` (cpus, memory, storage) is not checked by warren and is ignored",
                Some("warren does not check host resources; set limits with `resources:` in .warren.yaml".into()),
            );
        }
        hf.finish(d, Severity::Warning);
    }
    let l = &mut dc.lifecycle;
    for (key, slot) in [
        ("initializeCommand", &mut l.initialize),
        ("onCreateCommand", &mut l.on_create),
        ("updateContentCommand", &mut l.update_content),
        ("postCreateCommand", &mut l.post_create),
        ("postStartCommand", &mut l.post_start),
        ("postAttachCommand", &mut l.post_attach),
    ] {
        if let Some(n) = f.take(key) {
            *slot = decode_command(d, n, key).filter(|c| !c.is_empty());
        }
    }
    if let Some(n) = f.take("waitFor") {
        let names = [
            "initializeCommand",
            "onCreateCommand",
            "updateContentCommand",
            "postCreateCommand",
            "postStartCommand",
        ];
        if let Some(s) = d.string(n, "waitFor") {
            dc.wait_for = match s.as_str() {
                "initializeCommand" => Some(WaitFor::InitializeCommand),
                "onCreateCommand" => Some(WaitFor::OnCreateCommand),
                "updateContentCommand" => Some(WaitFor::UpdateContentCommand),
                "postCreateCommand" => Some(WaitFor::PostCreateCommand),
                "postStartCommand" => Some(WaitFor::PostStartCommand),
                _ => {
                    d.error(
                        n.span,
                        format!("unknown `waitFor` value `{s}`"),
                        suggestion(&s, &names),
                    );
                    None
                }
            };
        }
    }
    if let Some(n) = f.take("shutdownAction") {
        let names = ["none", "stopContainer", "stopCompose"];
        if let Some(s) = d.string(n, "shutdownAction") {
            dc.shutdown_action = match s.as_str() {
                "none" => Some(ShutdownAction::None),
                "stopContainer" => Some(ShutdownAction::StopContainer),
                "stopCompose" => Some(ShutdownAction::StopCompose),
                _ => {
                    d.error(
                        n.span,
                        format!("unknown `shutdownAction` value `{s}`"),
                        suggestion(&s, &names),
                    );
                    None
                }
            };
        }
    }
    // `false` asks for what warren does (the user's UID is left as the
    // image has it); only `true` asks for something warren does not do.
    if let Some(n) = f.take("updateRemoteUserUID")
        && d.bool(n, "updateRemoteUserUID") == Some(true)
    {
        d.warning(
            n.span,
            "`updateRemoteUserUID: true` is not supported by warren: the container user's UID is left as the image has it",
            Some("remove it, or set it to `false` (what warren does)".into()),
        );
    }
    if let Some(n) = f.take("features") {
        dc.features = decode_features(d, n, &dc.file);
    }
    if let Some(n) = f.take("overrideFeatureInstallOrder") {
        dc.override_feature_install_order =
            strings(d.string_list(n, "overrideFeatureInstallOrder", false));
    }
    decode_compose(d, &mut f, node, dc, &base);
    warn_unsupported(d, &mut f);
    let declared = ["image", "build", "dockerFile", "dockerComposeFile"]
        .iter()
        .any(|k| node.get(k).is_some());
    if !declared {
        // Fine for the sandbox and host runtimes; the docker runtime says
        // so when it is chosen.
        d.warning(
            node.span,
            "devcontainer.json sets neither `image` nor `build`: only `runtime: sandbox` or `host` can use it",
            Some("add `\"image\": \"mcr.microsoft.com/devcontainers/base:debian\"` or a `build.dockerfile` for the docker runtime".into()),
        );
    }
    f.finish(d, Severity::Warning);
}

/// A list of strings (`capAdd`, `securityOpt`), each item that `classify`
/// calls host access recorded as a use at its place.
fn classified_list(
    d: &mut Decoder<'_>,
    into: &mut Vec<HostAccessUse>,
    n: &Node,
    key: &str,
    classify: impl Fn(&str) -> Class,
) -> Vec<String> {
    let list = d.string_list(n, key, false).unwrap_or_default();
    for item in &list {
        if let Class::HostAccess(need) = classify(&item.value) {
            host_use(d, into, item.span, &format!("{key} `{}`", item.value), need);
        }
    }
    strings(Some(list))
}

/// Records a host-access setting with the error that refuses it (reported
/// only when the trusted config does not grant it).
fn host_use(
    d: &mut Decoder<'_>,
    into: &mut Vec<HostAccessUse>,
    span: crate::node::Span,
    what: &str,
    need: HostAccess,
) {
    let message = format!(
        "{what} is host access: {}; warren applies it only when your own config grants it",
        need.why()
    );
    into.push(HostAccessUse {
        diagnostic: d.src.error(span, message),
        need,
    });
}

/// `features`: each key a Feature reference, each value its options (an
/// object), a string (the `version` option, the legacy form) or `true`/`{}`.
fn decode_features(d: &mut Decoder<'_>, n: &Node, file: &Path) -> Vec<FeatureRequest> {
    let config_dir = file.parent().unwrap_or(Path::new("/"));
    // The project's `.devcontainer/`: the config's own folder or an ancestor
    // of that name, else (a `.devcontainer.json`) one beside the file.
    let devcontainer_dir = config_dir
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == ".devcontainer"))
        .map_or_else(|| config_dir.join(".devcontainer"), Path::to_path_buf);
    let mut out = Vec::new();
    for (key, value) in d.entries(n, "features").unwrap_or_default() {
        let id = key.text.as_str();
        if let Some(prefix) = disallowed_feature(id) {
            d.error(
                key.span,
                format!("Feature `{id}` cannot be used: it was reported to be problematic (`{prefix}` is disallowed by the devcontainers control manifest)"),
                Some("remove it from `features` and rebuild any environment that uses it".into()),
            );
            continue;
        }
        let reference = match parse_feature_ref(id, config_dir, &devcontainer_dir) {
            Ok((r, mapped)) => {
                if let Some(new) = mapped {
                    d.warning(
                        key.span,
                        format!("Feature `{id}` is a retired short name; warren uses `{new}`"),
                        Some(format!("write `\"{new}\"` instead")),
                    );
                }
                r
            }
            Err(e) if e.deprecated => {
                d.warning(key.span, e.message, Some(e.hint));
                continue;
            }
            Err(e) => {
                d.error(key.span, e.message, Some(e.hint));
                continue;
            }
        };
        let mut options = std::collections::BTreeMap::new();
        let what = format!("features.{id}");
        match &value.value {
            Value::Str(s) => {
                options.insert("version".to_string(), s.clone());
            }
            Value::Bool(true) | Value::Null => {}
            Value::Map(_) => {
                for (k, v) in d.entries(value, &what).unwrap_or_default() {
                    let text = match &v.value {
                        Value::Str(s) => Some(s.clone()),
                        Value::Bool(b) => Some(b.to_string()),
                        Value::Int(i) => Some(i.to_string()),
                        Value::Float(f) => Some(f.to_string()),
                        _ => None,
                    };
                    match text {
                        Some(t) => {
                            options.insert(k.text.clone(), t);
                        }
                        None => d.type_error(
                            v,
                            &format!("{what}.{}", k.text),
                            "a string or a boolean",
                            None,
                        ),
                    }
                }
            }
            _ => {
                d.type_error(
                    value,
                    &what,
                    "an object of options",
                    Some(format!("e.g. `\"{id}\": {{}}`")),
                );
                continue;
            }
        }
        out.push(FeatureRequest {
            id: id.to_string(),
            reference,
            options,
        });
    }
    out
}

/// `dockerComposeFile`, `service`, `runServices`; the compose files are
/// checked for host access.
fn decode_compose(
    d: &mut Decoder<'_>,
    f: &mut Fields<'_>,
    node: &Node,
    dc: &mut DevContainer,
    base: &Path,
) {
    let file_node = f.take_entry("dockerComposeFile");
    let service = f.take("service");
    let run_services = f.take("runServices");
    let Some((key, files)) = file_node else {
        for (n, field) in [(service, "service"), (run_services, "runServices")] {
            if let Some(n) = n {
                d.warning(
                    n.span,
                    format!("`{field}` is ignored without `dockerComposeFile`"),
                    Some("name the compose file with `\"dockerComposeFile\": \"docker-compose.yml\"`".into()),
                );
            }
        }
        return;
    };
    let names: Vec<String> = match &files.value {
        Value::Str(s) => vec![s.clone()],
        _ => strings(d.string_list(files, "dockerComposeFile", false)),
    };
    if names.is_empty() {
        d.error(
            files.span,
            "`dockerComposeFile` names no file",
            Some("e.g. `\"dockerComposeFile\": \"docker-compose.yml\"`".into()),
        );
        return;
    }
    let Some(service) = service.and_then(|n| d.string(n, "service")) else {
        d.error(
            key.span,
            "`dockerComposeFile` is set without `service`",
            Some("name the compose service warren works in, e.g. `\"service\": \"app\"`".into()),
        );
        return;
    };
    let paths: Vec<PathBuf> = names
        .iter()
        .map(|n| crate::compose::absolute(base, n))
        .collect();
    for (name, path) in names.iter().zip(&paths) {
        if !path.is_file() {
            d.error(
                files.span,
                format!(
                    "compose file `{name}` not found (looked for `{}`)",
                    path.display()
                ),
                Some(
                    "`dockerComposeFile` paths are relative to the devcontainer.json's folder"
                        .into(),
                ),
            );
        }
    }
    for what in ["image", "build", "dockerFile"] {
        if let Some(n) = node.get(what) {
            d.warning(
                n.span,
                format!("`{what}` is ignored in a Compose config: the compose file says how `{service}` is made"),
                Some(format!("remove `{what}`, or set `image`/`build` on the service in the compose file")),
            );
        }
    }
    dc.image = None;
    dc.build = None;
    if let Some(n) = node.get("workspaceMount") {
        d.warning(
            n.span,
            "`workspaceMount` is ignored in a Compose config: warren mounts the environment's tree where the compose file mounts the project (else at `workspaceFolder`)",
            None,
        );
    }
    dc.workspace_mount = None;
    // `features` stay: they are installed on the image of `service` (see
    // warren-env's compose.rs), as the reference does.
    let project = crate::compose::project_root(base);
    if paths.iter().all(|p| p.is_file()) {
        let (diags, uses) = crate::compose::check_files(&paths, &project);
        d.diags.extend(diags);
        dc.host_access.extend(uses);
    }
    dc.compose = Some(ComposeConfig {
        files: paths,
        service,
        run_services: run_services
            .map(|n| strings(d.string_list(n, "runServices", false)))
            .unwrap_or_default(),
    });
}

/// One warning per unsupported field present, naming it.
fn warn_unsupported(d: &mut Decoder<'_>, f: &mut Fields<'_>) {
    for (field, instead) in UNSUPPORTED {
        if let Some((key, _)) = f.take_entry(field) {
            d.warning(
                key.span,
                format!("`{field}` is not supported by warren and is ignored"),
                Some((*instead).to_string()),
            );
        }
    }
}

fn strings(list: Option<Vec<Spanned<String>>>) -> Vec<String> {
    list.unwrap_or_default()
        .into_iter()
        .map(|s| s.value)
        .collect()
}

fn decode_build(d: &mut Decoder<'_>, node: &Node, base: &Path) -> Option<BuildSpec> {
    let mut f = d.fields(node, "build")?;
    let mut b = BuildSpec {
        base: base.to_path_buf(),
        ..BuildSpec::default()
    };
    b.dockerfile = f
        .take("dockerfile")
        .and_then(|n| d.string(n, "build.dockerfile"));
    b.context = f.take("context").and_then(|n| d.string(n, "build.context"));
    if let Some(n) = f.take("args") {
        b.args = d.string_map(n, "build.args").unwrap_or_default();
    }
    b.target = f.take("target").and_then(|n| d.string(n, "build.target"));
    if let Some(n) = f.take("cacheFrom") {
        b.cache_from = strings(d.string_list(n, "build.cacheFrom", true));
    }
    if let Some((key, _)) = f.take_entry("options") {
        d.warning(
            key.span,
            "`build.options` is not supported by warren and is ignored",
            Some("express what you need with `build.args` and `build.target`".into()),
        );
    }
    f.finish(d, Severity::Warning);
    Some(b)
}

/// The most ports one `appPort` range may publish (each becomes a route).
const MAX_PORT_RANGE: usize = 100;

/// An `appPort` range, as `docker run -p` takes it: `"5000-5005"` (those
/// container ports) or `"8000-8005:5000-5005"` (host ports to container
/// ports, pairwise). `None` when `node` is not a range (a single port is
/// decoded by [`port_spec`]); `Some(empty)` after an error.
fn port_range(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<Vec<PortSpec>> {
    let Value::Str(text) = &node.value else {
        return None;
    };
    if !text.contains('-') {
        return None;
    }
    let range = |r: &str| -> Option<Vec<u16>> {
        let (lo, hi) = r.split_once('-')?;
        let (lo, hi) = (port_number(lo)?, port_number(hi)?);
        (lo <= hi).then(|| (lo..=hi).collect())
    };
    let parsed = match text.split_once(':') {
        None => range(text).map(|c| c.into_iter().map(|c| (None, c)).collect::<Vec<_>>()),
        Some((h, c)) => match (range(h), range(c)) {
            (Some(h), Some(c)) if h.len() == c.len() => {
                Some(h.into_iter().map(Some).zip(c).collect())
            }
            _ => None,
        },
    };
    match parsed {
        Some(ports) if ports.len() <= MAX_PORT_RANGE => Some(
            ports
                .into_iter()
                .map(|(host_port, container_port)| PortSpec {
                    host_ip: None,
                    host_port,
                    container_port,
                })
                .collect(),
        ),
        Some(ports) => {
            d.error(
                node.span,
                format!(
                    "`{what}` is `{text}`, {} ports; warren publishes at most {MAX_PORT_RANGE} from one range (each becomes a route)",
                    ports.len()
                ),
                Some("publish the ports you use, or a smaller range".into()),
            );
            Some(Vec::new())
        }
        None => {
            d.error(
                node.span,
                format!("`{what}` is `{text}`, which is not a port range"),
                Some("write a range as `\"5000-5005\"` or `\"8000-8005:5000-5005\"` (as many host ports as container ports)".into()),
            );
            Some(Vec::new())
        }
    }
}

fn port_number(s: &str) -> Option<u16> {
    s.trim().parse::<u16>().ok().filter(|p| *p > 0)
}

/// `3000`, `"3000"`, `"8080:3000"`, `"127.0.0.1:8080:3000"`.
fn port_spec(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<PortSpec> {
    let hint = || {
        Some(
            "use a port number (`3000`), `\"HOST:CONTAINER\"` or `\"IP:HOST:CONTAINER\"`"
                .to_string(),
        )
    };
    let text = match &node.value {
        Value::Int(_) => {
            return d.port(node, what).map(|p| PortSpec {
                host_ip: None,
                host_port: None,
                container_port: p,
            });
        }
        Value::Str(s) => s.clone(),
        _ => {
            d.type_error(node, what, "a port number or a string", hint());
            return None;
        }
    };
    let parts: Vec<&str> = text.split(':').collect();
    let bad = |d: &mut Decoder<'_>| {
        d.error(
            node.span,
            format!("`{what}` is `{text}`, which is not a port"),
            hint(),
        );
        None
    };
    match parts.as_slice() {
        [c] => match port_number(c) {
            Some(p) => Some(PortSpec {
                host_ip: None,
                host_port: None,
                container_port: p,
            }),
            None => bad(d),
        },
        [h, c] => match (port_number(h), port_number(c)) {
            (Some(h), Some(c)) => Some(PortSpec {
                host_ip: None,
                host_port: Some(h),
                container_port: c,
            }),
            (None, Some(_)) if !h.is_empty() => {
                d.warning(
                    node.span,
                    format!("`{what}` forwards a port of another host (`{text}`); warren only publishes the environment's own ports, so it is ignored"),
                    None,
                );
                None
            }
            _ => bad(d),
        },
        [ip, h, c] => match (ip.parse::<IpAddr>(), port_number(h), port_number(c)) {
            (Ok(ip), Some(h), Some(c)) => Some(PortSpec {
                host_ip: Some(ip),
                host_port: Some(h),
                container_port: c,
            }),
            _ => bad(d),
        },
        _ => bad(d),
    }
}

/// A mount in string (`type=bind,source=…,target=…`) or object form.
fn mount(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<Mount> {
    match &node.value {
        Value::Str(s) => {
            match Mount::parse_long(s) {
                Ok(m) => Some(m),
                Err(msg) => {
                    d.error(
                    node.span,
                    msg,
                    Some("write mounts as `\"type=bind,source=/host/path,target=/container/path\"`".into()),
                );
                    None
                }
            }
        }
        Value::Map(_) => {
            let mut f = d.fields(node, what)?;
            let kind_node = f.take("type");
            let source = f
                .take("source")
                .and_then(|n| d.string(n, &format!("{what}.source")));
            let target = f
                .take("target")
                .and_then(|n| d.string(n, &format!("{what}.target")));
            let read_only = f
                .take("readonly")
                .and_then(|n| d.bool(n, &format!("{what}.readonly")))
                .unwrap_or(false);
            f.finish(d, Severity::Warning);
            let shown = what.to_string();
            let kind = match kind_node {
                Some(k) => match d
                    .string(k, &format!("{what}.type"))
                    .map(|t| parse_kind(&t, &shown))
                {
                    Some(Ok(kind)) => kind,
                    Some(Err(msg)) => {
                        d.error(
                            k.span,
                            msg,
                            Some("use `\"bind\"`, `\"volume\"` or `\"tmpfs\"`".into()),
                        );
                        return None;
                    }
                    None => return None,
                },
                None => {
                    d.error(
                        node.span,
                        format!("`{what}` has no `type`"),
                        Some("add `\"type\": \"bind\"` or `\"type\": \"volume\"`".into()),
                    );
                    return None;
                }
            };
            let Some(target) = target else {
                d.error(
                    node.span,
                    format!("`{what}` has no `target`"),
                    Some("add `\"target\": \"/path/in/container\"`".into()),
                );
                return None;
            };
            match Mount::checked(kind, source, target, read_only, &shown) {
                Ok(m) => Some(m),
                Err(msg) => {
                    d.error(
                        node.span,
                        msg,
                        Some("e.g. `{\"type\": \"bind\", \"source\": \"/host/path\", \"target\": \"/container/path\"}`".into()),
                    );
                    None
                }
            }
        }
        _ => {
            d.type_error(node, what, "a string or an object", None);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "USER" => Some("me".into()),
            "TOKEN" => Some("t0k".into()),
            _ => None,
        }
    }

    fn ctx() -> SubstitutionContext<'static> {
        SubstitutionContext {
            local_env: &env,
            local_workspace_folder: Path::new("/src/app"),
            container_workspace_folder: None,
            devcontainer_id: "dcid",
        }
    }

    fn parse(text: &str) -> Result<Loaded<DevContainer>, ConfigError> {
        parse_devcontainer(
            Path::new("/src/app/.devcontainer/devcontainer.json"),
            text,
            &ctx(),
        )
    }

    fn diags(text: &str) -> Vec<String> {
        let diags = match parse(text) {
            Ok(l) => l.warnings,
            Err(e) => e.diagnostics,
        };
        diags
            .into_iter()
            .map(|d| {
                format!(
                    "{} {}:{} {} | {}",
                    d.severity.as_str(),
                    d.line,
                    d.col,
                    d.message,
                    d.hint.unwrap_or_default()
                )
            })
            .collect()
    }

    const FULL: &str = r#"{
  // every supported field
  "name": "full",
  "build": {
    "dockerfile": "Dockerfile",
    "context": "..",
    "args": {"VARIANT": "22", "N": 1},
    "target": "dev",
    "cacheFrom": ["a:1", "b:2"],
  },
  "containerEnv": {"HOME_USER": "${localEnv:USER}", "P": "${containerEnv:PATH}"},
  "remoteEnv": {"PATH": "${containerEnv:PATH}:/x", "UNSET": null, "T": "${localEnv:TOKEN}"},
  "forwardPorts": [3000, "8080:80", "127.0.0.1:9229:9229", "db:5432"],
  "appPort": 4000,
  "portsAttributes": {"3000": {"label": "Web App", "onAutoForward": "notify"}, "9000-9010": {"label": "range", "protocol": "https"}},
  "mounts": [
    "type=bind,source=${localEnv:HOME:/home/x}/.cache,target=/cache,readonly",
    {"type": "volume", "source": "vol-${devcontainerId}", "target": "/vol"},
  ],
  "runArgs": ["--cap-add=SYS_PTRACE", "--memory", "2g"],
  "workspaceFolder": "/work/${localWorkspaceFolderBasename}",
  "workspaceMount": "type=bind,source=${localWorkspaceFolder},target=${containerWorkspaceFolder}",
  "remoteUser": "node",
  "containerUser": "root",
  "overrideCommand": false,
  "init": true,
  "privileged": false,
  "capAdd": ["NET_ADMIN"],
  "securityOpt": ["seccomp=unconfined"],
  "initializeCommand": "echo init ${localWorkspaceFolder}",
  "onCreateCommand": ["npm", "ci"],
  "updateContentCommand": "npm run build",
  "postCreateCommand": {"a": "echo a", "b": ["echo", "b"]},
  "postStartCommand": "echo start",
  "postAttachCommand": "echo attach",
  "waitFor": "postCreateCommand",
  "shutdownAction": "none",
}"#;

    #[test]
    fn every_supported_field() {
        let loaded = parse(FULL).unwrap();
        let dc = loaded.value;
        assert_eq!(dc.name.as_deref(), Some("full"));
        assert_eq!(dc.image, None);
        let b = dc.build.as_ref().unwrap();
        assert_eq!(b.base, PathBuf::from("/src/app/.devcontainer"));
        assert_eq!(b.dockerfile.as_deref(), Some("Dockerfile"));
        assert_eq!(b.context.as_deref(), Some(".."));
        assert_eq!(b.args.get("VARIANT").map(String::as_str), Some("22"));
        assert_eq!(b.args.get("N").map(String::as_str), Some("1"));
        assert_eq!(b.target.as_deref(), Some("dev"));
        assert_eq!(b.cache_from, ["a:1", "b:2"]);
        assert_eq!(
            dc.container_env.get("HOME_USER").map(String::as_str),
            Some("me")
        );
        // containerEnv variables stay for later.
        assert_eq!(
            dc.container_env.get("P").map(String::as_str),
            Some("${containerEnv:PATH}")
        );
        assert_eq!(
            dc.remote_env.get("PATH"),
            Some(&Some("${containerEnv:PATH}:/x".to_string()))
        );
        assert_eq!(dc.remote_env.get("UNSET"), Some(&None));
        assert_eq!(dc.remote_env.get("T"), Some(&Some("t0k".to_string())));
        assert_eq!(
            dc.forward_ports,
            [
                PortSpec {
                    host_ip: None,
                    host_port: None,
                    container_port: 3000
                },
                PortSpec {
                    host_ip: None,
                    host_port: Some(8080),
                    container_port: 80
                },
                PortSpec {
                    host_ip: Some(IpAddr::from([127, 0, 0, 1])),
                    host_port: Some(9229),
                    container_port: 9229
                },
            ]
        );
        assert_eq!(
            dc.app_port,
            [PortSpec {
                host_ip: None,
                host_port: None,
                container_port: 4000
            }]
        );
        assert_eq!(dc.port_label(3000), Some("Web App"));
        assert_eq!(dc.port_label(9005), Some("range"));
        assert_eq!(dc.port_label(80), None);
        assert_eq!(
            dc.ports_attributes
                .get("9000-9010")
                .unwrap()
                .protocol
                .as_deref(),
            Some("https")
        );
        assert_eq!(
            dc.mounts,
            [
                Mount {
                    kind: MountKind::Bind,
                    source: Some("/home/x/.cache".into()),
                    target: "/cache".into(),
                    read_only: true
                },
                Mount {
                    kind: MountKind::Volume,
                    source: Some("vol-dcid".into()),
                    target: "/vol".into(),
                    read_only: false
                },
            ]
        );
        assert_eq!(dc.run_args.cap_add, ["SYS_PTRACE"]);
        assert_eq!(dc.run_args.memory.as_deref(), Some("2g"));
        assert_eq!(dc.workspace_folder.as_deref(), Some("/work/app"));
        // ${containerWorkspaceFolder} follows the file's own workspaceFolder.
        let wm = dc.workspace_mount.as_ref().unwrap();
        assert_eq!(
            (wm.source.as_deref(), wm.target.as_str()),
            (Some("/src/app"), "/work/app")
        );
        assert_eq!(dc.remote_user.as_deref(), Some("node"));
        assert_eq!(dc.container_user.as_deref(), Some("root"));
        assert_eq!(dc.override_command, Some(false));
        assert_eq!(dc.init, Some(true));
        assert_eq!(dc.privileged, Some(false));
        assert_eq!(dc.cap_add, ["NET_ADMIN"]);
        assert_eq!(dc.security_opt, ["seccomp=unconfined"]);
        let l = &dc.lifecycle;
        assert_eq!(
            l.initialize,
            Some(LifecycleCommand::Shell("echo init /src/app".into()))
        );
        assert_eq!(
            l.on_create,
            Some(LifecycleCommand::Exec(vec!["npm".into(), "ci".into()]))
        );
        assert_eq!(
            l.update_content,
            Some(LifecycleCommand::Shell("npm run build".into()))
        );
        assert_eq!(
            l.post_create,
            Some(LifecycleCommand::Parallel(vec![
                ("a".into(), LifecycleCommand::Shell("echo a".into())),
                (
                    "b".into(),
                    LifecycleCommand::Exec(vec!["echo".into(), "b".into()])
                ),
            ]))
        );
        assert_eq!(
            l.post_start,
            Some(LifecycleCommand::Shell("echo start".into()))
        );
        assert_eq!(
            l.post_attach,
            Some(LifecycleCommand::Shell("echo attach".into()))
        );
        assert_eq!(dc.wait_for, Some(WaitFor::PostCreateCommand));
        assert_eq!(dc.shutdown_action, Some(ShutdownAction::None));
        // The only warning: the port of another host.
        let w: Vec<_> = loaded.warnings.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            w,
            [
                "`forwardPorts[3]` forwards a port of another host (`db:5432`); warren only publishes the environment's own ports, so it is ignored"
            ]
        );
    }

    #[test]
    fn legacy_dockerfile_and_context() {
        let dc = parse(r#"{"dockerFile": "../Dockerfile", "context": ".."}"#)
            .unwrap()
            .value;
        let b = dc.build.unwrap();
        assert_eq!(b.dockerfile.as_deref(), Some("../Dockerfile"));
        assert_eq!(b.context.as_deref(), Some(".."));
        assert_eq!(b.base, PathBuf::from("/src/app/.devcontainer"));
    }

    #[test]
    fn app_port_forms() {
        let dc = parse(r#"{"image": "x", "appPort": ["3000", 4000, "5000:5001"]}"#)
            .unwrap()
            .value;
        let ports: Vec<_> = dc
            .app_port
            .iter()
            .map(|p| (p.host_port, p.container_port))
            .collect();
        assert_eq!(ports, [(None, 3000), (None, 4000), (Some(5000), 5001)]);
        let dc = parse(r#"{"image": "x", "appPort": "8000"}"#).unwrap().value;
        assert_eq!(dc.app_port[0].container_port, 8000);
    }

    #[test]
    fn app_port_ranges() {
        let dc = parse(r#"{"image": "x", "appPort": ["5000-5002", "8000-8001:6000-6001"]}"#)
            .unwrap()
            .value;
        let ports: Vec<_> = dc
            .app_port
            .iter()
            .map(|p| (p.host_port, p.container_port))
            .collect();
        assert_eq!(
            ports,
            [
                (None, 5000),
                (None, 5001),
                (None, 5002),
                (Some(8000), 6000),
                (Some(8001), 6001)
            ]
        );
        let dc = parse(r#"{"image": "x", "appPort": "5000-5005"}"#)
            .unwrap()
            .value;
        assert_eq!(dc.app_port.len(), 6);
        let got = diags(r#"{"image": "x", "appPort": ["5005-5000", "1-2:3-5", "1-1000"]}"#);
        assert_eq!(got.len(), 3, "{got:#?}");
        assert!(got[0].contains("not a port range"), "{got:#?}");
        assert!(got[1].contains("not a port range"), "{got:#?}");
        assert!(got[2].contains("1000 ports"), "{got:#?}");
    }

    #[test]
    fn update_remote_user_uid_false_is_what_warren_does() {
        assert!(diags(r#"{"image": "x", "updateRemoteUserUID": false}"#).is_empty());
        let got = diags(r#"{"image": "x", "updateRemoteUserUID": true}"#);
        assert_eq!(got.len(), 1, "{got:#?}");
        assert!(got[0].starts_with("warning 1:39 "), "{got:#?}");
    }

    #[test]
    fn workspace_mount_must_be_the_environments_tree() {
        let ok = parse(r#"{"image": "x", "workspaceFolder": "/src", "workspaceMount": "source=${localWorkspaceFolder},target=/src,type=bind,consistency=cached"}"#)
            .unwrap()
            .value;
        let wm = ok.workspace_mount.unwrap();
        assert_eq!(
            (wm.source.as_deref(), wm.target.as_str()),
            (Some("/src/app"), "/src")
        );
        let got = diags(
            r#"{"image": "x", "workspaceFolder": "/w",
 "workspaceMount": "source=/home/me,target=/w,type=bind"}"#,
        );
        assert_eq!(
            got,
            [
                "error 2:20 `workspaceMount` mounts `/home/me`; warren only mounts the environment's own tree (`${localWorkspaceFolder}`) there | use `source=${localWorkspaceFolder}`, or put other host paths in `mounts`"
            ]
        );
        for text in [
            r#"{"image": "x", "workspaceFolder": "/w", "workspaceMount": "source=${localWorkspaceFolder}/..,target=/w,type=bind"}"#,
            r#"{"image": "x", "workspaceFolder": "/w", "workspaceMount": "source=vol,target=/w,type=volume"}"#,
            // The project's folder written out is not the environment's tree.
            r#"{"image": "x", "workspaceFolder": "/w", "workspaceMount": "source=/src/app,target=/w,type=bind"}"#,
        ] {
            let got = diags(text);
            assert_eq!(got.len(), 1, "{text}: {got:#?}");
            assert!(got[0].starts_with("error "), "{got:#?}");
        }
    }

    #[test]
    fn a_byte_order_mark_is_fine() {
        let dc = parse("\u{feff}{\"image\": \"x\"}").unwrap().value;
        assert_eq!(dc.image.as_deref(), Some("x"));
    }

    #[test]
    fn nameless_variables_are_errors_at_their_position() {
        let got = diags(
            "{\"image\": \"x\",\n \"containerEnv\": {\"A\": \"${localEnv}\", \"B\": \"${localEnv:}\"},\n \"postStartCommand\": \"echo ${containerEnv}\"}",
        );
        assert_eq!(
            got,
            [
                "error 2:24 `${localEnv}` cannot be resolved: it names no variable | write `${localEnv:NAME}` or `${localEnv:NAME:default}`",
                "error 3:22 `${containerEnv}` cannot be resolved: it names no variable | write `${containerEnv:NAME}` or `${containerEnv:NAME:default}`",
            ]
        );
        let dc = parse(r#"{"image": "x", "containerEnv": {"B": "${localEnv:}"}}"#)
            .unwrap()
            .value;
        assert_eq!(dc.container_env.get("B").map(String::as_str), Some(""));
    }

    #[test]
    fn a_compose_config_names_its_files_service_and_host_access() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".git")).unwrap();
        let dc_dir = dir.path().join(".devcontainer");
        std::fs::create_dir_all(&dc_dir).unwrap();
        std::fs::write(
            dc_dir.join("docker-compose.yml"),
            "services:\n  app:\n    image: x\n    volumes: ['..:/workspace']\n  db:\n    image: y\n    privileged: true\n",
        )
        .unwrap();
        let text = r#"{
  "dockerComposeFile": ["docker-compose.yml"],
  "service": "app",
  "runServices": ["db"],
  "image": "ignored"
}"#;
        let ctx = SubstitutionContext {
            local_env: &|_| None,
            local_workspace_folder: dir.path(),
            container_workspace_folder: None,
            devcontainer_id: "id",
        };
        // Host access in the compose file is a use for `resolve` to hold
        // against `host_access:`, with its place.
        let dc = parse_devcontainer(&dc_dir.join("devcontainer.json"), text, &ctx).unwrap();
        let rendered: Vec<String> = dc
            .value
            .host_access
            .iter()
            .map(|u| format!("{} {}", u.diagnostic.location(), u.diagnostic.message))
            .collect();
        assert!(
            rendered
                .iter()
                .any(|d| d.contains("docker-compose.yml:7:17") && d.contains("`privileged`")),
            "{rendered:?}"
        );
        std::fs::write(
            dc_dir.join("docker-compose.yml"),
            "services:\n  app:\n    image: x\n    volumes: ['..:/workspace']\n",
        )
        .unwrap();
        let dc = parse_devcontainer(&dc_dir.join("devcontainer.json"), text, &ctx).unwrap();
        let c = dc.value.compose.unwrap();
        assert_eq!(c.files, vec![dc_dir.join("docker-compose.yml")]);
        assert_eq!(
            (c.service.as_str(), c.run_services),
            ("app", vec!["db".to_string()])
        );
        assert!(dc.value.image.is_none());
        assert!(
            dc.warnings
                .iter()
                .any(|w| w.message.contains("`image` is ignored"))
        );
        let missing = r#"{"dockerComposeFile": "nope.yml", "service": "app"}"#;
        let err = parse_devcontainer(&dc_dir.join("devcontainer.json"), missing, &ctx).unwrap_err();
        assert!(err.diagnostics[0].message.contains("`nope.yml` not found"));
    }

    #[test]
    fn unsupported_fields_warn_once_each() {
        let got = diags(
            r#"{
  "image": "x",
  "features": {"ghcr.io/devcontainers/features/node:1": {}},
  "customizations": {"vscode": {"extensions": []}},
  "hostRequirements": {"cpus": 2},
  "otherPortsAttributes": {},
  "userEnvProbe": "loginShell",
  "updateRemoteUserUID": true,
  "imagee": "y",
  "$schema": "https://example.invalid/schema.json"
}"#,
        );
        assert_eq!(
            got,
            [
                "warning 4:3 `customizations` is not supported by warren and is ignored | these are editor settings; warren does not use them",
                "warning 5:3 `hostRequirements` (cpus, memory, storage) is not checked by warren and is ignored | warren does not check host resources; set limits with `resources:` in .warren.yaml",
                "warning 6:3 `otherPortsAttributes` is not supported by warren and is ignored | only the `label` of `portsAttributes` entries is used",
                "warning 7:3 `userEnvProbe` is not supported by warren and is ignored | set the variables you need in `remoteEnv`",
                "warning 8:26 `updateRemoteUserUID: true` is not supported by warren: the container user's UID is left as the image has it | remove it, or set it to `false` (what warren does)",
                "warning 9:3 unknown key `imagee` in devcontainer.json | did you mean `image`?",
            ]
        );
    }

    #[test]
    fn errors_in_used_fields() {
        let got = diags(
            r#"{
  "image": 5,
  "forwardPorts": [0, "abc", "1:2:3:4", true],
  "mounts": ["type=bind,target=/x", {"type": "bind", "target": "/y"}, {"source": "v", "target": "/z"}],
  "runArgs": ["--pid=container:x"],
  "workspaceFolder": "relative",
  "overrideCommand": "yes",
  "postCreateCommand": 1,
  "waitFor": "postCreate",
  "shutdownAction": "stopContainr",
  "containerEnv": {"A": ["x"]}
}"#,
        );
        let expected = [
            "error 2:12 `image` must be a string, found a number | e.g. `\"image\": \"text\"`",
            "error 3:20 `forwardPorts[0]` is 0, which is not a valid port | use a port number from 1 to 65535",
            "error 3:23 `forwardPorts[1]` is `abc`, which is not a port | use a port number (`3000`), `\"HOST:CONTAINER\"` or `\"IP:HOST:CONTAINER\"`",
            "error 3:30 `forwardPorts[2]` is `1:2:3:4`, which is not a port | use a port number (`3000`), `\"HOST:CONTAINER\"` or `\"IP:HOST:CONTAINER\"`",
            "error 3:41 `forwardPorts[3]` must be a port number or a string, found a boolean | use a port number (`3000`), `\"HOST:CONTAINER\"` or `\"IP:HOST:CONTAINER\"`",
            "error 4:14 bind mount `type=bind,target=/x` has no source | write mounts as `\"type=bind,source=/host/path,target=/container/path\"`",
            "error 4:37 bind mount `mounts[1]` has no source | e.g. `{\"type\": \"bind\", \"source\": \"/host/path\", \"target\": \"/container/path\"}`",
            "error 4:71 `mounts[2]` has no `type` | add `\"type\": \"bind\"` or `\"type\": \"volume\"`",
            "error 5:15 runArgs: `--pid container:x` is not supported: warren does not join other containers' namespaces | use `--pid=host` (with `host_access: {pid: host}`) or remove it",
            "error 6:22 `workspaceFolder` must be an absolute path in the container, found `relative` | e.g. `\"workspaceFolder\": \"/workspace\"`",
            "error 7:22 `overrideCommand` must be `true` or `false`, found a string | e.g. `\"overrideCommand\": true`",
            "error 8:24 `postCreateCommand` must be a string, an array or an object, found a number | use a string (`\"npm install\"`, run by /bin/sh -c), an array (`[\"npm\", \"install\"]`, no shell) or an object of named commands",
            "error 9:14 unknown `waitFor` value `postCreate` | did you mean `postCreateCommand`?",
            "error 10:21 unknown `shutdownAction` value `stopContainr` | did you mean `stopContainer`?",
            "error 11:25 `containerEnv.A` must be a string, found a list | e.g. `\"A\": \"text\"`",
        ];
        for (i, e) in expected.iter().enumerate() {
            assert_eq!(got.get(i).map(String::as_str), Some(*e), "all: {got:#?}");
        }
        assert_eq!(got.len(), expected.len(), "{got:#?}");
    }

    #[test]
    fn needs_image_or_build() {
        let got = diags("{\"name\": \"x\"}");
        assert_eq!(
            got,
            [
                "warning 1:1 devcontainer.json sets neither `image` nor `build`: only `runtime: sandbox` or `host` can use it | add `\"image\": \"mcr.microsoft.com/devcontainers/base:debian\"` or a `build.dockerfile` for the docker runtime"
            ]
        );
        let got = diags("{\"build\": {\"context\": \".\"}}");
        assert_eq!(
            got,
            [
                "error 1:11 `build` has no `dockerfile` | add `\"dockerfile\": \"Dockerfile\"` (relative to the devcontainer.json folder)"
            ]
        );
    }

    #[test]
    fn container_workspace_folder_from_context_wins() {
        let c = SubstitutionContext {
            container_workspace_folder: Some("/ws"),
            ..ctx()
        };
        let dc = parse_devcontainer(
            Path::new("/src/app/.devcontainer.json"),
            r#"{"image": "x", "containerEnv": {"W": "${containerWorkspaceFolder}", "B": "${containerWorkspaceFolderBasename}"}}"#,
            &c,
        )
        .unwrap()
        .value;
        assert_eq!(dc.container_env.get("W").map(String::as_str), Some("/ws"));
        assert_eq!(dc.container_env.get("B").map(String::as_str), Some("ws"));
        let dc = parse(r#"{"image": "x", "containerEnv": {"W": "${containerWorkspaceFolder}"}}"#)
            .unwrap()
            .value;
        assert_eq!(
            dc.container_env.get("W").map(String::as_str),
            Some("/workspace")
        );
    }

    #[test]
    fn finds_all_three_locations() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(find_devcontainer(root, None).unwrap(), None);
        // .devcontainer/<name>/devcontainer.json when it is the only one.
        std::fs::create_dir_all(root.join(".devcontainer/python")).unwrap();
        std::fs::write(root.join(".devcontainer/python/devcontainer.json"), "{}").unwrap();
        assert_eq!(
            find_devcontainer(root, None).unwrap(),
            Some(root.join(".devcontainer/python/devcontainer.json"))
        );
        // Several named ones: an error listing them, with a hint.
        std::fs::create_dir_all(root.join(".devcontainer/node")).unwrap();
        std::fs::write(root.join(".devcontainer/node/devcontainer.json"), "{}").unwrap();
        let err = find_devcontainer(root, None).unwrap_err();
        let d = &err.diagnostics[0];
        assert_eq!(
            d.message,
            "2 devcontainer configurations found: .devcontainer/node/devcontainer.json, .devcontainer/python/devcontainer.json"
        );
        assert_eq!(
            d.hint.as_deref(),
            Some("choose one with `--config .devcontainer/node/devcontainer.json`")
        );
        // --config picks one.
        assert_eq!(
            find_devcontainer(
                root,
                Some(Path::new(".devcontainer/python/devcontainer.json"))
            )
            .unwrap(),
            Some(root.join(".devcontainer/python/devcontainer.json"))
        );
        let err = find_devcontainer(root, Some(Path::new("nope.json"))).unwrap_err();
        assert_eq!(
            err.diagnostics[0].origin,
            crate::Origin::Arg("--config".into())
        );
        // .devcontainer.json beats named folders; .devcontainer/devcontainer.json beats both.
        std::fs::write(root.join(".devcontainer.json"), "{}").unwrap();
        assert_eq!(
            find_devcontainer(root, None).unwrap(),
            Some(root.join(".devcontainer.json"))
        );
        std::fs::write(root.join(".devcontainer/devcontainer.json"), "{}").unwrap();
        assert_eq!(
            find_devcontainer(root, None).unwrap(),
            Some(root.join(".devcontainer/devcontainer.json"))
        );
    }

    #[test]
    fn loads_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".devcontainer.json");
        std::fs::write(&path, "// c\n{\"image\": \"debian\",}\n").unwrap();
        let loaded = load_devcontainer(&path, &ctx()).unwrap();
        assert_eq!(loaded.value.image.as_deref(), Some("debian"));
        assert_eq!(loaded.path, Some(path));
        let err = load_devcontainer(&dir.path().join("missing.json"), &ctx()).unwrap_err();
        assert_eq!(err.diagnostics[0].message, "config file not found");
    }

    #[test]
    fn host_access_is_recorded_with_its_place_and_platform_only_warns() {
        let text = r#"{
  "image": "x",
  "mounts": ["source=/var/run/docker.sock,target=/var/run/docker.sock,type=bind",
             {"type": "volume", "source": "v", "target": "/v"}],
  "runArgs": ["--platform=linux/amd64", "--gpus", "all"],
  "privileged": true,
  "capAdd": ["CHOWN", "SYS_ADMIN"],
  "securityOpt": ["apparmor=unconfined"],
  "hostRequirements": {"gpu": true}
}"#;
        let got = diags(text);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].starts_with("warning 5:15 runArgs: `--platform linux/amd64` is ignored"),
            "{got:?}"
        );
        let src = Source::new(Path::new("/p/.devcontainer/devcontainer.json"), text);
        let (dc, _) = decode_devcontainer_source(&src, &ctx());
        let uses: Vec<String> = dc
            .host_access
            .iter()
            .map(|u| {
                format!(
                    "{}:{} {}",
                    u.diagnostic.line,
                    u.diagnostic.col,
                    u.need.opt_in_line()
                )
            })
            .collect();
        assert_eq!(
            uses,
            [
                "3:14 host_access: {docker_socket: true}",
                "5:41 host_access: {gpus: all}",
                "6:17 host_access: {privileged: true}",
                "7:23 host_access: {capabilities: [SYS_ADMIN]}",
                "8:19 host_access: {security_opt: [\"apparmor=unconfined\"]}",
                "9:31 host_access: {gpus: all}",
            ]
        );
        assert!(dc.host_access[0].diagnostic.message.starts_with(
            "mounts[0] is host access: it hands the environment the container engine"
        ));
        assert_eq!(dc.gpu, Some(GpuRequirement::Required));
    }
}
