//! The project file `.warren.yaml` (or `.warren.yml`) at the repository
//! root: its model and decoder. Every key is optional; unknown keys are
//! errors. The keys an environment type takes ([`EnvSettings`]) are accepted
//! at the top level too, as the project's defaults.
//!
//! ```yaml
//! name: myapp
//! runtime: auto
//! port_range: 9000-9100
//! default_session_name_template: "{project}-{session_name}-{issue_id}"
//! commands: {test: cargo test}
//! land: {test: true}               # `warren land` runs `commands.test` first
//! checkpoint: on_idle             # a checkpoint each time a session turns idle
//! services: {web: 3000}            # declaration order kept: `web` is the default service
//! sessions:
//!   serve: {command: "npm run dev -- --port {{ port }}", ports: ["{{ port }}"]}
//! roles:
//!   developer: {tool: claude, model: opus, dangerous: true}
//! types:                           # `containers:` is accepted as an alias
//!   _base: {image: myapp-dev:latest, post_start: [{run: make deps}]}
//!   issue: {extends: _base, roles: [developer], sessions: [serve]}
//! # environment settings, here as defaults for every type:
//! image: node:22
//! build: {dockerfile: Dockerfile, context: ., args: {V: 1}, target: dev, cache_from: [x]}
//! env: {RUST_LOG: debug}
//! mounts: ["~/.cache/x:/cache/x:ro"]
//! credentials: [git, ssh, gh, gpg, npm, aws]
//! tool: claude
//! workspace_folder: /workspace
//! user: node
//! allow_dangerous: true
//! interactive: false
//! sandbox: {network: host, read_only_paths: [], read_write_paths: []}
//! resources: {memory: 4g, cpus: 2, pids: 4096, tmp_size: 1g}
//! pre_start: [{run: ./setup.sh}]   # also post_start, pre_stop, post_stop
//! devcontainer: .devcontainer/ci/devcontainer.json
//! ```

use std::path::{Path, PathBuf};

use warren_core::tools::{CREDENTIALS, tool, tool_names};

use crate::decode::{Decoder, Fields, suggestion};
use crate::diagnostic::{ConfigError, Diagnostic, Loaded, Severity, Source};
use crate::files::read_optional;
use crate::global::{port_range, runtime};
use crate::node::{Node, Span, Value};
use crate::template::{TEMPLATE_VARIABLES, unknown_variables};
use crate::values::{BuildSpec, Hook, Mount, OrderedMap, PortRange, RuntimeChoice, Spanned};

/// Project file names, in the order they are looked for.
pub const PROJECT_FILES: [&str; 2] = [".warren.yaml", ".warren.yml"];

/// A decoded `.warren.yaml`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectConfig {
    /// The file it was read from.
    pub file: PathBuf,
    /// The repository root (relative paths in the file are relative to it).
    pub repo_root: PathBuf,
    /// `name:` (already checked to be a valid name).
    pub name: Option<String>,
    pub port_range: Option<PortRange>,
    pub default_session_name_template: Option<String>,
    /// `checkpoint: on_idle`: record a checkpoint of an environment's tree each
    /// time one of its sessions turns `idle`.
    pub checkpoint_on_idle: bool,
    /// `commands:` for `warren cmd NAME`, in declaration order.
    pub commands: OrderedMap<String>,
    /// `land: {test: true}`: `warren land` runs `commands.test` inside the
    /// environment before it moves the target branch.
    pub land_test: Option<bool>,
    /// `services:` name → container port, in declaration order (the first is
    /// the default service).
    pub services: OrderedMap<u16>,
    pub sessions: OrderedMap<SessionConfig>,
    pub roles: OrderedMap<RoleConfig>,
    /// `types:` (or `containers:`), in declaration order.
    pub types: OrderedMap<TypeConfig>,
    /// The environment settings given at the top level: the base every type
    /// extends implicitly.
    pub defaults: EnvSettings,
    /// `host_access:` (top level only): the host access the user grants the
    /// project's environments (docs/SECURITY.md). Read from the main
    /// checkout's file only, never from an environment's tree.
    pub host_access: crate::host_access::HostAccessOptIn,
    /// `shared_volumes:`: named volumes every environment of the project
    /// shares; any other named volume is the environment's own.
    pub shared_volumes: Vec<String>,
    pub(crate) source: Source,
}

/// The settings an environment type takes (also accepted at the top level).
/// `None`/empty means "not set here" (inherited through `extends`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EnvSettings {
    pub runtime: Option<RuntimeChoice>,
    pub image: Option<String>,
    pub build: Option<BuildSpec>,
    pub env: OrderedMap<String>,
    pub mounts: Vec<Mount>,
    /// Credential sets to mount (names from `warren_core::tools::CREDENTIALS`).
    pub credentials: Vec<String>,
    /// The AI tool (a name from `warren_core::tools::TOOLS`).
    pub tool: Option<String>,
    pub workspace_folder: Option<String>,
    pub user: Option<String>,
    pub allow_dangerous: Option<bool>,
    pub interactive: Option<bool>,
    pub sandbox: SandboxSettings,
    /// `network:` mode (replaced by a child type).
    pub network: Option<warren_core::NetworkMode>,
    /// `egress: {allow}` (accumulates through `extends`).
    pub egress_allow: Vec<String>,
    /// `grants:` (accumulate through `extends`, by name).
    pub grants: Vec<crate::network::GrantSpec>,
    /// `resources:` (limits), merged key by key through `extends`.
    pub resources: crate::resources::ResourceSettings,
    pub hooks: Hooks,
    /// Path (relative to the repo root) of the devcontainer.json to use.
    pub devcontainer: Option<String>,
}

/// `sandbox:` settings for the native sandbox runtime.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct SandboxSettings {
    pub network: Option<SandboxNetwork>,
    pub read_only_paths: Vec<String>,
    pub read_write_paths: Vec<String>,
}

/// Network access inside the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxNetwork {
    /// Share the host's network namespace (default).
    #[default]
    Host,
    /// No network at all.
    None,
}

/// `.warren.yaml` hooks; `None` = not set at this level.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hooks {
    /// On the host before the environment is created.
    pub pre_start: Option<Vec<Hook>>,
    /// Inside, after the lifecycle commands.
    pub post_start: Option<Vec<Hook>>,
    /// Inside, before stopping.
    pub pre_stop: Option<Vec<Hook>>,
    /// On the host after stopping.
    pub post_stop: Option<Vec<Hook>>,
}

/// A command session (`sessions.serve`).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct SessionConfig {
    /// The command (a template) run in the session's tmux window.
    pub command: String,
    /// Ports (templates, e.g. `"{{ port }}"`) the session listens on.
    pub ports: Vec<String>,
    pub env: OrderedMap<String>,
    pub pre_start: Vec<Hook>,
    pub post_start: Vec<Hook>,
    pub pre_stop: Vec<Hook>,
    pub post_stop: Vec<Hook>,
    /// Start it again when it exits with a failure (`restart: on-failure`).
    pub restart_on_failure: bool,
}

/// A role: a named use of a tool.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct RoleConfig {
    pub tool: Option<String>,
    pub model: Option<String>,
    /// Skip permission prompts (default true; effective only when the
    /// environment's `allow_dangerous` is true as well).
    pub dangerous: Option<bool>,
    /// A skill file given to the tool.
    pub skill: Option<String>,
    /// A prompt (or system prompt addition) for the role.
    pub prompt: Option<String>,
}

/// One entry of `types:`, as written (see [`crate::resolve_type`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TypeConfig {
    /// Where the type's name is declared.
    pub span: Span,
    pub extends: Option<Spanned<String>>,
    pub settings: EnvSettings,
    /// Role sessions to start (replaces the parent's list when set).
    pub roles: Option<Vec<Spanned<String>>>,
    /// Command sessions to start (replaces the parent's list when set).
    pub sessions: Option<Vec<Spanned<String>>>,
}

impl TypeConfig {
    /// Abstract types (name starting with `_`) only serve as parents.
    pub fn is_abstract(name: &str) -> bool {
        name.starts_with('_')
    }
}

/// The project file in `repo_root`, if any (`.warren.yaml` before `.warren.yml`).
pub fn find_project_file(repo_root: &Path) -> Option<PathBuf> {
    PROJECT_FILES
        .iter()
        .map(|f| repo_root.join(f))
        .find(|p| p.is_file())
}

/// Loads `.warren.yaml` (or `.warren.yml`) from `repo_root`. `None` when
/// the project has no such file. Errors include type problems (unknown
/// parents, cycles, unknown roles or sessions).
pub fn load_project(repo_root: &Path) -> Result<Loaded<Option<ProjectConfig>>, ConfigError> {
    let Some(path) = find_project_file(repo_root) else {
        return Ok(Loaded {
            value: None,
            warnings: Vec::new(),
            path: None,
        });
    };
    let text = read_optional(&path)
        .map_err(ConfigError::one)?
        .unwrap_or_default();
    let mut loaded = parse_project(&path, &text, repo_root)?;
    let other = repo_root.join(PROJECT_FILES[1]);
    if path != other && other.is_file() {
        loaded.warnings.push(
            Diagnostic::new(
                Severity::Warning,
                crate::Origin::File(other),
                "both .warren.yaml and .warren.yml exist; .warren.yml is ignored",
            )
            .with_hint("merge them into .warren.yaml and delete .warren.yml"),
        );
    }
    Ok(loaded.map(Some))
}

/// Parses project file text as if read from `path` in `repo_root`.
pub fn parse_project(
    path: &Path,
    text: &str,
    repo_root: &Path,
) -> Result<Loaded<ProjectConfig>, ConfigError> {
    let src = Source::new(path, text);
    let (config, mut diags) = decode_project_source(&src, repo_root);
    diags.extend(crate::types::check_types(&config));
    if diags.iter().any(Diagnostic::is_error) {
        return Err(ConfigError::new(diags));
    }
    crate::diagnostic::sort_diagnostics(&mut diags);
    Ok(Loaded {
        value: config,
        warnings: diags,
        path: Some(path.to_path_buf()),
    })
}

/// Parses and decodes without the type checks.
pub(crate) fn decode_project_source(
    src: &Source,
    repo_root: &Path,
) -> (ProjectConfig, Vec<Diagnostic>) {
    let (node, mut diags) = crate::yaml::parse(src);
    let mut config = ProjectConfig {
        file: src.path.clone(),
        repo_root: repo_root.to_path_buf(),
        name: None,
        port_range: None,
        default_session_name_template: None,
        checkpoint_on_idle: false,
        commands: OrderedMap::new(),
        land_test: None,
        services: OrderedMap::new(),
        sessions: OrderedMap::new(),
        roles: OrderedMap::new(),
        types: OrderedMap::new(),
        defaults: EnvSettings::default(),
        host_access: Default::default(),
        shared_volumes: Vec::new(),
        source: src.clone(),
    };
    if let Some(node) = &node {
        let mut d = Decoder::new(src);
        decode(&mut d, node, &mut config);
        diags.append(&mut d.diags);
    }
    (config, diags)
}

fn decode(d: &mut Decoder<'_>, node: &Node, c: &mut ProjectConfig) {
    let file_name = d.src.name();
    let Some(mut f) = d.fields(node, &file_name) else {
        return;
    };
    if let Some(n) = f.take("name")
        && let Some(name) = d.string(n, "name")
    {
        match warren_core::validate_name(&name) {
            Ok(()) => c.name = Some(name),
            Err(e) => d.error(
                n.span,
                format!("invalid project `name`: {e}"),
                name_hint(&name),
            ),
        }
    }
    c.port_range = f
        .take("port_range")
        .and_then(|n| port_range(d, n, "port_range"));
    if let Some(n) = f.take("default_session_name_template") {
        c.default_session_name_template = template_string(d, n, "default_session_name_template");
    }
    if let Some(n) = f.take("checkpoint") {
        match d.string(n, "checkpoint").as_deref() {
            Some("on_idle") => c.checkpoint_on_idle = true,
            Some("never") => c.checkpoint_on_idle = false,
            Some(other) => d.error(
                n.span,
                format!("unknown checkpoint policy `{other}`"),
                Some("use `checkpoint: on_idle` (a checkpoint each time a session turns idle) or `checkpoint: never` (the default)".into()),
            ),
            None => {}
        }
    }
    if let Some(n) = f.take("commands") {
        for (k, v) in d.entries(n, "commands").unwrap_or_default() {
            check_ident(d, k.span, &k.text, "command");
            if let Some(cmd) = template_string(d, v, &format!("commands.{}", k.text)) {
                c.commands.insert(k.text.clone(), cmd);
            }
        }
    }
    if let Some(n) = f.take("land")
        && let Some(mut lf) = d.fields(n, "land")
    {
        c.land_test = lf.take("test").and_then(|n| d.bool(n, "land.test"));
        lf.finish(d, Severity::Error);
    }
    if let Some(n) = f.take("services") {
        c.services = decode_services(d, n);
    }
    if let Some(n) = f.take("host_access") {
        c.host_access = crate::host_access::decode_opt_in(d, n);
    }
    if let Some(n) = f.take("shared_volumes") {
        c.shared_volumes = d
            .string_list(n, "shared_volumes", false)
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.value)
            .collect();
    }
    if let Some(n) = f.take("sessions") {
        for (k, v) in d.entries(n, "sessions").unwrap_or_default() {
            check_ident(d, k.span, &k.text, "session");
            if let Some(s) = decode_session(d, v, &format!("sessions.{}", k.text)) {
                c.sessions.insert(k.text.clone(), s);
            }
        }
    }
    if let Some(n) = f.take("roles") {
        for (k, v) in d.entries(n, "roles").unwrap_or_default() {
            check_ident(d, k.span, &k.text, "role");
            if let Some(r) = decode_role(d, v, &format!("roles.{}", k.text)) {
                c.roles.insert(k.text.clone(), r);
            }
        }
    }
    let types = f.take_entry("types");
    let containers = f.take_entry("containers");
    if let (Some(_), Some((k, _))) = (types, containers) {
        d.error(
            k.span,
            "both `types` and `containers` are set; they are the same thing",
            Some("move every entry under `types:` and remove `containers:`".into()),
        );
    }
    if let Some((_, n)) = types.or(containers) {
        for (k, v) in d.entries(n, "types").unwrap_or_default() {
            check_ident(d, k.span, &k.text, "type");
            let what = format!("types.{}", k.text);
            let mut t = TypeConfig {
                span: k.span,
                ..TypeConfig::default()
            };
            if v.value != Value::Null {
                let Some(mut tf) = d.fields(v, &what) else {
                    continue;
                };
                if let Some(e) = tf.take("extends") {
                    t.extends = d
                        .string(e, &format!("{what}.extends"))
                        .map(|s| Spanned::new(s, e.span));
                }
                t.roles = tf
                    .take("roles")
                    .and_then(|n| d.string_list(n, &format!("{what}.roles"), false));
                t.sessions = tf
                    .take("sessions")
                    .and_then(|n| d.string_list(n, &format!("{what}.sessions"), false));
                t.settings = decode_settings(d, &mut tf, &what, &c.repo_root);
                tf.finish(d, Severity::Error);
            }
            c.types.insert(k.text.clone(), t);
        }
    }
    c.defaults = decode_settings(d, &mut f, "", &c.repo_root);
    f.finish(d, Severity::Error);
}

fn name_hint(name: &str) -> Option<String> {
    let s = warren_core::names::slug(name);
    if s.is_empty() {
        Some("use lowercase letters, digits and `-`, starting with a letter".into())
    } else {
        Some(format!("try `name: {s}`"))
    }
}

/// Names of sessions, roles, types and commands: letters, digits, `-`, `_`.
fn check_ident(d: &mut Decoder<'_>, span: Span, name: &str, kind: &str) {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        d.error(
            span,
            format!("invalid {kind} name `{name}`"),
            Some("use letters, digits, `-` and `_` only".into()),
        );
    }
}

/// A string that may contain templates: its syntax is checked here.
fn template_string(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<String> {
    let s = d.scalar_string(node, what)?;
    match unknown_variables(&s) {
        Err(e) => {
            d.error(node.span, format!("`{what}`: {}", e.message), e.hint);
            return None;
        }
        Ok(unknown) => {
            if let Some(v) = unknown.first() {
                let hint = suggestion(v, &TEMPLATE_VARIABLES)
                    .map(|h| h.replace("expected one of", "template variables are"));
                d.error(
                    node.span,
                    format!("`{what}` uses unknown template variable `{v}`"),
                    hint,
                );
                return None;
            }
        }
    }
    Some(s)
}

fn decode_services(d: &mut Decoder<'_>, node: &Node) -> OrderedMap<u16> {
    let mut out = OrderedMap::new();
    for (k, v) in d.entries(node, "services").unwrap_or_default() {
        let valid = !k.text.is_empty()
            && !k.text.starts_with('-')
            && !k.text.ends_with('-')
            && k.text.len() <= 63
            && k.text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid {
            let slug = warren_core::names::slug(&k.text);
            d.error(
                k.span,
                format!(
                    "invalid service name `{}`: it becomes part of a host name (`{}.NAME.localhost`)",
                    k.text, k.text
                ),
                Some(if slug.is_empty() {
                    "use lowercase letters, digits and `-`".into()
                } else {
                    format!("try `{slug}`")
                }),
            );
            continue;
        }
        if let Some(port) = d.port(v, &format!("services.{}", k.text)) {
            out.insert(k.text.clone(), port);
        }
    }
    out
}

fn decode_session(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<SessionConfig> {
    if let Value::Str(_) = node.value {
        let command = template_string(d, node, &format!("{what}.command"))?;
        return Some(SessionConfig {
            command,
            ..SessionConfig::default()
        });
    }
    let mut f = d.fields(node, what)?;
    let mut s = SessionConfig::default();
    match f.take("command") {
        Some(n) => s.command = template_string(d, n, &format!("{what}.command")).unwrap_or_default(),
        None => d.error(
            node.span,
            format!("session `{}` has no `command`", what.trim_start_matches("sessions.")),
            Some("add `command: \"npm run dev -- --port {{ port }}\"` (the process the session runs)".into()),
        ),
    }
    if let Some(n) = f.take("ports") {
        match &n.value {
            Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(p) = template_string(d, item, &format!("{what}.ports[{i}]")) {
                        s.ports.push(p);
                    }
                }
            }
            _ => d.type_error(
                n,
                &format!("{what}.ports"),
                "a list",
                Some("e.g. `ports: [\"{{ port }}\"]`".into()),
            ),
        }
    }
    if let Some(n) = f.take("env") {
        s.env = env_map(d, n, &format!("{what}.env"));
    }
    s.pre_start = f
        .take("pre_start")
        .and_then(|n| hooks(d, n, &format!("{what}.pre_start")))
        .unwrap_or_default();
    s.post_start = f
        .take("post_start")
        .and_then(|n| hooks(d, n, &format!("{what}.post_start")))
        .unwrap_or_default();
    s.pre_stop = f
        .take("pre_stop")
        .and_then(|n| hooks(d, n, &format!("{what}.pre_stop")))
        .unwrap_or_default();
    s.post_stop = f
        .take("post_stop")
        .and_then(|n| hooks(d, n, &format!("{what}.post_stop")))
        .unwrap_or_default();
    if let Some(n) = f.take("restart") {
        match d.string(n, &format!("{what}.restart")).as_deref() {
            Some("never") => s.restart_on_failure = false,
            Some("on-failure") => s.restart_on_failure = true,
            Some(other) => d.error(
                n.span,
                format!("unknown restart policy `{other}`"),
                Some("use `restart: never` (the default) or `restart: on-failure`".into()),
            ),
            None => {}
        }
    }
    f.finish(d, Severity::Error);
    Some(s)
}

fn decode_role(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<RoleConfig> {
    let mut f = d.fields(node, what)?;
    let r = RoleConfig {
        tool: f
            .take("tool")
            .and_then(|n| tool_name(d, n, &format!("{what}.tool"))),
        model: f
            .take("model")
            .and_then(|n| d.scalar_string(n, &format!("{what}.model"))),
        dangerous: f
            .take("dangerous")
            .and_then(|n| d.bool(n, &format!("{what}.dangerous"))),
        skill: f
            .take("skill")
            .and_then(|n| d.string(n, &format!("{what}.skill"))),
        prompt: f
            .take("prompt")
            .and_then(|n| template_string(d, n, &format!("{what}.prompt"))),
    };
    f.finish(d, Severity::Error);
    Some(r)
}

fn tool_name(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<String> {
    let name = d.string(node, what)?;
    if tool(&name).is_some() {
        return Some(name);
    }
    let names: Vec<&str> = tool_names().collect();
    d.error(
        node.span,
        format!("unknown tool `{name}` in `{what}`"),
        suggestion(&name, &names),
    );
    None
}

fn env_map(d: &mut Decoder<'_>, node: &Node, what: &str) -> OrderedMap<String> {
    let mut out = OrderedMap::new();
    for (k, v) in d.entries(node, what).unwrap_or_default() {
        let valid = k
            .text
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && k.text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            d.error(
                k.span,
                format!("invalid environment variable name `{}`", k.text),
                Some("use letters, digits and `_`, not starting with a digit".into()),
            );
            continue;
        }
        if let Some(s) = d.scalar_string(v, &format!("{what}.{}", k.text)) {
            out.insert(k.text.clone(), s);
        }
    }
    out
}

/// Hooks: a list of `{run: "..."}` (a bare string is accepted as `run`).
fn hooks(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<Vec<Hook>> {
    let Value::Seq(items) = &node.value else {
        d.type_error(
            node,
            what,
            "a list",
            Some(format!(
                "write `{}: [{{run: \"make deps\"}}]`",
                last_segment(what)
            )),
        );
        return None;
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let item_what = format!("{what}[{i}]");
        let run = match &item.value {
            Value::Str(_) => template_string(d, item, &item_what),
            Value::Map(_) => {
                let Some(mut f) = d.fields(item, &item_what) else {
                    continue;
                };
                let run = match f.take("run") {
                    Some(n) => template_string(d, n, &format!("{item_what}.run")),
                    None => {
                        d.error(
                            item.span,
                            format!("hook `{item_what}` has no `run`"),
                            Some("write `{run: \"make deps\"}`".into()),
                        );
                        None
                    }
                };
                f.finish(d, Severity::Error);
                run
            }
            _ => {
                d.type_error(item, &item_what, "`{run: \"...\"}`", None);
                None
            }
        };
        if let Some(run) = run {
            out.push(Hook {
                run,
                span: item.span,
            });
        }
    }
    Some(out)
}

fn last_segment(what: &str) -> &str {
    what.rsplit('.').next().unwrap_or(what)
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Decodes the environment keys of a type (or of the top level, `prefix` "").
fn decode_settings(
    d: &mut Decoder<'_>,
    f: &mut Fields<'_>,
    prefix: &str,
    repo_root: &Path,
) -> EnvSettings {
    let w = |k: &str| join(prefix, k);
    let mut s = EnvSettings {
        runtime: f.take("runtime").and_then(|n| runtime(d, n, &w("runtime"))),
        image: f.take("image").and_then(|n| d.string(n, &w("image"))),
        ..EnvSettings::default()
    };
    if let Some(n) = f.take("build") {
        s.build = decode_build(d, n, &w("build"), repo_root);
        if let (Some(_), Some(_)) = (&s.image, &s.build) {
            d.error(
                n.span,
                format!("both `{}` and `{}` are set", w("image"), w("build")),
                Some("keep `image` to use an existing image, or `build` to build one".into()),
            );
        }
    }
    if let Some(n) = f.take("env") {
        s.env = env_map(d, n, &w("env"));
    }
    if let Some(n) = f.take("mounts") {
        for item in d.string_list(n, &w("mounts"), false).unwrap_or_default() {
            match Mount::parse_short(&item.value) {
                Ok(m) => {
                    if let Some((message, hint)) = m.engine_socket_warning() {
                        d.warning(item.span, message, Some(hint));
                    }
                    s.mounts.push(m);
                }
                Err(msg) => d.error(
                    item.span,
                    msg,
                    Some("write mounts as `SOURCE:TARGET` or `SOURCE:TARGET:ro`, e.g. `~/.ssh:/home/agent/.ssh:ro`".into()),
                ),
            }
        }
    }
    if let Some(n) = f.take("credentials") {
        let names: Vec<&str> = CREDENTIALS.iter().map(|c| c.name).collect();
        for item in d
            .string_list(n, &w("credentials"), false)
            .unwrap_or_default()
        {
            if !names.contains(&item.value.as_str()) {
                d.error(
                    item.span,
                    format!("unknown credential set `{}`", item.value),
                    suggestion(&item.value, &names),
                );
            } else if !s.credentials.contains(&item.value) {
                s.credentials.push(item.value);
            }
        }
    }
    s.tool = f.take("tool").and_then(|n| tool_name(d, n, &w("tool")));
    if let Some(n) = f.take("workspace_folder")
        && let Some(folder) = d.string(n, &w("workspace_folder"))
    {
        if folder.starts_with('/') {
            s.workspace_folder = Some(folder);
        } else {
            d.error(
                n.span,
                format!(
                    "`{}` must be an absolute path, found `{folder}`",
                    w("workspace_folder")
                ),
                Some("e.g. `workspace_folder: /workspace`".into()),
            );
        }
    }
    s.user = f.take("user").and_then(|n| d.scalar_string(n, &w("user")));
    s.allow_dangerous = f
        .take("allow_dangerous")
        .and_then(|n| d.bool(n, &w("allow_dangerous")));
    s.interactive = f
        .take("interactive")
        .and_then(|n| d.bool(n, &w("interactive")));
    if let Some(n) = f.take("sandbox")
        && let Some(mut sf) = d.fields(n, &w("sandbox"))
    {
        if let Some(net) = sf.take("network") {
            s.sandbox.network = match d.string(net, &w("sandbox.network")).as_deref() {
                Some("host") => Some(SandboxNetwork::Host),
                Some("none") => Some(SandboxNetwork::None),
                Some(other) => {
                    d.error(
                        net.span,
                        format!("unknown sandbox network `{other}`"),
                        suggestion(other, &["host", "none"]),
                    );
                    None
                }
                None => None,
            };
        }
        for (key, list) in [
            ("read_only_paths", &mut s.sandbox.read_only_paths),
            ("read_write_paths", &mut s.sandbox.read_write_paths),
        ] {
            if let Some(n) = sf.take(key) {
                *list = d
                    .string_list(n, &w(&format!("sandbox.{key}")), false)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|s| s.value)
                    .collect();
            }
        }
        sf.finish(d, Severity::Error);
    }
    if let Some(n) = f.take("resources") {
        s.resources = crate::resources::decode(d, n, &w("resources"));
    }
    if let Some(n) = f.take("network") {
        s.network = crate::network::decode_mode(d, n, &w("network"));
    }
    if let Some(n) = f.take("egress") {
        s.egress_allow = crate::network::decode_egress(d, n, &w("egress"));
    }
    if let Some(n) = f.take("grants") {
        s.grants = crate::network::decode_grants(d, n, &w("grants"));
    }
    s.hooks.pre_start = f
        .take("pre_start")
        .and_then(|n| hooks(d, n, &w("pre_start")));
    s.hooks.post_start = f
        .take("post_start")
        .and_then(|n| hooks(d, n, &w("post_start")));
    s.hooks.pre_stop = f.take("pre_stop").and_then(|n| hooks(d, n, &w("pre_stop")));
    s.hooks.post_stop = f
        .take("post_stop")
        .and_then(|n| hooks(d, n, &w("post_stop")));
    s.devcontainer = f
        .take("devcontainer")
        .and_then(|n| d.string(n, &w("devcontainer")));
    s
}

fn decode_build(
    d: &mut Decoder<'_>,
    node: &Node,
    what: &str,
    repo_root: &Path,
) -> Option<BuildSpec> {
    let mut b = BuildSpec {
        base: repo_root.to_path_buf(),
        ..BuildSpec::default()
    };
    // `build: ./docker` is short for `build: {context: ./docker}` (as in compose).
    if let Value::Str(s) = &node.value {
        b.context = Some(s.clone());
        return Some(b);
    }
    let mut f = d.fields(node, what)?;
    b.dockerfile = f
        .take("dockerfile")
        .and_then(|n| d.string(n, &format!("{what}.dockerfile")));
    b.context = f
        .take("context")
        .and_then(|n| d.string(n, &format!("{what}.context")));
    if let Some(n) = f.take("args") {
        b.args = d.string_map(n, &format!("{what}.args")).unwrap_or_default();
    }
    b.target = f
        .take("target")
        .and_then(|n| d.string(n, &format!("{what}.target")));
    if let Some(n) = f.take("cache_from") {
        b.cache_from = d
            .string_list(n, &format!("{what}.cache_from"), true)
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.value)
            .collect();
    }
    f.finish(d, Severity::Error);
    Some(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn parse(text: &str) -> Result<Loaded<ProjectConfig>, ConfigError> {
        parse_project(Path::new("/repo/.warren.yaml"), text, Path::new("/repo"))
    }

    fn errors(text: &str) -> Vec<(u32, u32, String, Option<String>)> {
        parse(text)
            .unwrap_err()
            .diagnostics
            .into_iter()
            .map(|d| (d.line, d.col, d.message, d.hint))
            .collect()
    }

    const DESIGN_EXAMPLE: &str = r#"
name: myapp                        # project name (default: repo dir name)
runtime: auto                      # auto = docker if an engine answers, else sandbox
port_range: 9000-9100
default_session_name_template: "{project}-{session_name}-{issue_id}"
commands:                          # `warren cmd test`
  test: cargo test
  serve: "npm run dev -- --port $PORT"
services:                          # exposed ports -> routes web.<env>.localhost
  web: 3000
  api: 4000
sessions:
  serve:
    command: "npm run dev -- --port {{ port }}"
    ports: ["{{ port }}"]
    pre_start: [{run: "npm install"}]
    post_stop: [{run: "./scripts/cleanup.sh"}]
roles:
  developer: {tool: claude, model: opus, dangerous: true}
  reviewer:  {tool: claude, model: sonnet, skill: review.md}
  manager:   {tool: codex}
types:                             # environment types (`containers:` accepted as an alias)
  _base: {image: myapp-dev:latest, post_start: [{run: "make deps"}]}
  _with_credentials: {extends: _base, mounts: ["~/.ssh:/home/agent/.ssh:ro"]}
  issue:   {extends: _base, roles: [developer, reviewer], sessions: [serve]}
  manager: {extends: _with_credentials, roles: [manager]}
  sandbox: {extends: _with_credentials, interactive: true, sessions: [serve]}
"#;

    #[test]
    fn design_example_parses() {
        let loaded = parse(DESIGN_EXAMPLE).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let p = loaded.value;
        assert_eq!(p.name.as_deref(), Some("myapp"));
        assert_eq!(p.defaults.runtime, Some(RuntimeChoice::Auto));
        assert_eq!(
            p.port_range,
            Some(PortRange {
                start: 9000,
                end: 9100
            })
        );
        assert_eq!(
            p.default_session_name_template.as_deref(),
            Some("{project}-{session_name}-{issue_id}")
        );
        assert_eq!(p.commands.keys().collect::<Vec<_>>(), ["test", "serve"]);
        assert_eq!(
            p.services.iter().collect::<Vec<_>>(),
            [("web", &3000), ("api", &4000)]
        );
        let serve = p.sessions.get("serve").unwrap();
        assert_eq!(serve.command, "npm run dev -- --port {{ port }}");
        assert_eq!(serve.ports, ["{{ port }}"]);
        assert_eq!(serve.pre_start[0].run, "npm install");
        assert_eq!(serve.post_stop[0].run, "./scripts/cleanup.sh");
        let dev = p.roles.get("developer").unwrap();
        assert_eq!(
            (dev.tool.as_deref(), dev.model.as_deref(), dev.dangerous),
            (Some("claude"), Some("opus"), Some(true))
        );
        assert_eq!(
            p.roles.get("reviewer").unwrap().skill.as_deref(),
            Some("review.md")
        );
        assert_eq!(
            p.types.keys().collect::<Vec<_>>(),
            ["_base", "_with_credentials", "issue", "manager", "sandbox"]
        );
        let issue = p.types.get("issue").unwrap();
        assert_eq!(issue.extends.as_ref().unwrap().value, "_base");
        assert_eq!(issue.roles.as_ref().unwrap().len(), 2);
        assert_eq!(issue.span.line, 25);
    }

    #[test]
    fn network_egress_and_grants() {
        let p = parse(
            "network: open\negress: {allow: [registry.npmjs.org, \"*.PyPI.org\"]}\ngrants: [anthropic, {name: internal, hosts: [api.internal.example], header: Authorization, format: \"Bearer {}\", env: INTERNAL_TOKEN}]\n",
        )
        .unwrap()
        .value;
        let s = &p.defaults;
        assert_eq!(s.network, Some(warren_core::NetworkMode::Open));
        assert_eq!(s.egress_allow, ["registry.npmjs.org", "*.pypi.org"]);
        assert_eq!(s.grants.len(), 2);
        assert_eq!(s.grants[0].name, "anthropic");
        assert_eq!(s.grants[1].header.as_deref(), Some("authorization"));
        assert_eq!(s.grants[1].env.as_deref(), Some("INTERNAL_TOKEN"));
    }

    #[test]
    fn bad_network_settings_point_at_the_value() {
        let got = errors(
            "network: bridge\negress: {allow: [\"https://x.example/\"], deny: []}\ngrants: [anthropik, {name: x, hosts: [h.example], header: a, format: nope, env: V}, {name: y}]\n",
        );
        let msgs: Vec<_> = got
            .iter()
            .map(|(l, c, m, h)| format!("{l}:{c} {m} | {}", h.clone().unwrap_or_default()))
            .collect();
        let want = [
            "1:10 unknown network mode `bridge`",
            "2:18 `https://x.example/` is not a domain or `*.domain` pattern",
            "2:41 unknown key `deny` in egress",
            "3:10 unknown grant `anthropik` | did you mean `anthropic`?",
            "3:70 the format has no `{}` for the credential",
            "3:85 a custom grant needs `name`, `hosts`, `header` and `env`",
        ];
        for w in want {
            assert!(
                msgs.iter().any(|m| m.starts_with(w)),
                "missing {w} in {msgs:#?}"
            );
        }
    }

    #[test]
    fn services_keep_declaration_order() {
        let p = parse("services: {zeta: 1, alpha: 2, mid: 3}\n")
            .unwrap()
            .value;
        assert_eq!(
            p.services.keys().collect::<Vec<_>>(),
            ["zeta", "alpha", "mid"]
        );
    }

    #[test]
    fn all_env_settings_at_top_level() {
        let p = parse(
            r#"
runtime: sandbox
build: {dockerfile: docker/Dockerfile, context: docker, args: {V: 1}, target: dev, cache_from: cache:latest}
env: {A: "1", B: 2}
mounts: ["~/.cache:/c:ro", "vol:/v"]
credentials: [git, ssh, gh, gpg, npm, aws, git]
tool: codex
workspace_folder: /src
user: node
allow_dangerous: false
interactive: true
sandbox: {network: none, read_only_paths: [/opt], read_write_paths: [/tmp/x]}
pre_start: [{run: a}]
post_start: [b]
pre_stop: [{run: c}]
post_stop: []
devcontainer: .devcontainer/ci/devcontainer.json
"#,
        )
        .unwrap()
        .value;
        let s = &p.defaults;
        assert_eq!(s.runtime, Some(RuntimeChoice::Sandbox));
        let b = s.build.as_ref().unwrap();
        assert_eq!(b.base, PathBuf::from("/repo"));
        assert_eq!(b.dockerfile.as_deref(), Some("docker/Dockerfile"));
        assert_eq!(b.context.as_deref(), Some("docker"));
        assert_eq!(b.args.get("V").map(String::as_str), Some("1"));
        assert_eq!(b.target.as_deref(), Some("dev"));
        assert_eq!(b.cache_from, ["cache:latest"]);
        assert_eq!(
            s.env.iter().collect::<Vec<_>>(),
            [("A", &"1".to_string()), ("B", &"2".to_string())]
        );
        assert_eq!(s.mounts.len(), 2);
        assert!(s.mounts[0].read_only);
        assert_eq!(s.credentials, ["git", "ssh", "gh", "gpg", "npm", "aws"]);
        assert_eq!(s.tool.as_deref(), Some("codex"));
        assert_eq!(s.workspace_folder.as_deref(), Some("/src"));
        assert_eq!(s.user.as_deref(), Some("node"));
        assert_eq!(s.allow_dangerous, Some(false));
        assert_eq!(s.interactive, Some(true));
        assert_eq!(s.sandbox.network, Some(SandboxNetwork::None));
        assert_eq!(s.sandbox.read_only_paths, ["/opt"]);
        assert_eq!(s.sandbox.read_write_paths, ["/tmp/x"]);
        assert_eq!(s.hooks.pre_start.as_ref().unwrap()[0].run, "a");
        assert_eq!(s.hooks.post_start.as_ref().unwrap()[0].run, "b");
        assert_eq!(s.hooks.pre_stop.as_ref().unwrap()[0].run, "c");
        assert_eq!(s.hooks.post_stop.as_deref(), Some(&[][..]));
        assert_eq!(
            s.devcontainer.as_deref(),
            Some(".devcontainer/ci/devcontainer.json")
        );
    }

    #[test]
    fn containers_alias_and_empty_file() {
        let p = parse("containers:\n  dev: {image: x}\n").unwrap().value;
        assert_eq!(
            p.types.get("dev").unwrap().settings.image.as_deref(),
            Some("x")
        );
        let p = parse("").unwrap().value;
        assert!(p.types.is_empty() && p.name.is_none());
        assert_eq!(
            errors("types: {}\ncontainers: {}\n")[0].2,
            "both `types` and `containers` are set; they are the same thing"
        );
    }

    #[test]
    fn unknown_keys_everywhere_with_hints() {
        let got = errors(
            "imgae: x\ntypes:\n  dev: {imgae: y, extend: _b}\nroles:\n  r: {tol: claude}\nsessions:\n  s: {command: x, prots: []}\nsandbox: {netwrk: none}\n",
        );
        let got: Vec<_> = got
            .iter()
            .map(|(l, c, m, h)| (*l, *c, m.as_str(), h.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    1,
                    1,
                    "unknown key `imgae` in .warren.yaml",
                    Some("did you mean `image`?")
                ),
                (
                    3,
                    9,
                    "unknown key `imgae` in types.dev",
                    Some("did you mean `image`?")
                ),
                (
                    3,
                    19,
                    "unknown key `extend` in types.dev",
                    Some("did you mean `extends`?")
                ),
                (
                    5,
                    7,
                    "unknown key `tol` in roles.r",
                    Some("did you mean `tool`?")
                ),
                (
                    7,
                    19,
                    "unknown key `prots` in sessions.s",
                    Some("did you mean `ports`?")
                ),
                (
                    8,
                    11,
                    "unknown key `netwrk` in sandbox",
                    Some("did you mean `network`?")
                ),
            ]
        );
    }

    #[test]
    fn bad_values_each_say_what_and_how() {
        let got = errors(
            r#"name: My App
port_range: 9100-9000
services: {Web: 3000, api: 70000, db: x}
credentials: [ssh, sshh]
tool: claud
mounts: ["relative:dir"]
workspace_folder: workspace
env: {1BAD: x}
sandbox: {network: bridge}
sessions:
  serve: {ports: ["{{ port "]}
pre_start: [{runn: x}]
image: a
build: {context: .}
"#,
        );
        let msgs: Vec<_> = got
            .iter()
            .map(|(l, c, m, h)| format!("{l}:{c} {m} | {}", h.clone().unwrap_or_default()))
            .collect();
        let expected = [
            "1:7 invalid project `name`: environment name `My App` must start with a lowercase letter | try `name: my-app`",
            "2:13 port range `9100-9000` starts after it ends (9100 > 9000) | write `port_range: 9000-9100` (first and last port, inclusive)",
            "3:12 invalid service name `Web`: it becomes part of a host name (`Web.NAME.localhost`) | try `web`",
            "3:28 `services.api` is 70000, which is not a valid port | use a port number from 1 to 65535",
            "3:39 `services.db` must be a port number, found a string | use a port number from 1 to 65535",
            "4:20 unknown credential set `sshh` | did you mean `ssh`?",
            "5:7 unknown tool `claud` in `tool` | did you mean `claude`?",
            "6:10 mount `relative:dir`: target `dir` must be an absolute path in the environment | write mounts as `SOURCE:TARGET` or `SOURCE:TARGET:ro`, e.g. `~/.ssh:/home/agent/.ssh:ro`",
            "7:19 `workspace_folder` must be an absolute path, found `workspace` | e.g. `workspace_folder: /workspace`",
            "8:7 invalid environment variable name `1BAD` | use letters, digits and `_`, not starting with a digit",
            "9:20 unknown sandbox network `bridge` | expected one of: `host`, `none`",
            "11:10 session `serve` has no `command` | add `command: \"npm run dev -- --port {{ port }}\"` (the process the session runs)",
        ];
        for (i, e) in expected.iter().enumerate() {
            assert_eq!(&msgs[i], e, "all: {msgs:#?}");
        }
        assert!(
            msgs[12].starts_with("11:19 `sessions.serve.ports[0]`: invalid template: "),
            "{msgs:#?}"
        );
        assert_eq!(
            msgs[13],
            "12:13 hook `pre_start[0]` has no `run` | write `{run: \"make deps\"}`"
        );
        assert_eq!(
            msgs[14],
            "12:14 unknown key `runn` in pre_start[0] | did you mean `run`?"
        );
        assert_eq!(
            msgs[15],
            "14:8 both `image` and `build` are set | keep `image` to use an existing image, or `build` to build one"
        );
        assert_eq!(msgs.len(), 16);
    }

    #[test]
    fn land_test() {
        let p = parse("land: {test: true}\n").unwrap().value;
        assert_eq!(p.land_test, Some(true));
        assert_eq!(parse("name: x\n").unwrap().value.land_test, None);
        let e = errors("land: {tests: true}\n");
        assert!(e[0].2.contains("unknown key `tests`"), "{e:?}");
    }

    #[test]
    fn session_string_shorthand_and_hook_strings() {
        let p = parse("sessions:\n  serve: npm start\n").unwrap().value;
        assert_eq!(p.sessions.get("serve").unwrap().command, "npm start");
    }

    #[test]
    fn loads_yml_and_warns_about_both() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load_project(dir.path()).unwrap().value, None);
        std::fs::write(dir.path().join(".warren.yml"), "name: b\n").unwrap();
        let p = load_project(dir.path()).unwrap();
        assert_eq!(p.value.unwrap().name.as_deref(), Some("b"));
        std::fs::write(dir.path().join(".warren.yaml"), "name: a\n").unwrap();
        let p = load_project(dir.path()).unwrap();
        assert_eq!(p.value.as_ref().unwrap().name.as_deref(), Some("a"));
        assert_eq!(p.path, Some(dir.path().join(".warren.yaml")));
        assert_eq!(
            p.warnings[0].message,
            "both .warren.yaml and .warren.yml exist; .warren.yml is ignored"
        );
    }
}
