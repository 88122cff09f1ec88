//! Dev Container Features (https://containers.dev/implementors/features/):
//! the parts that need no I/O. What a `features` key names ([`FeatureRef`]),
//! a Feature's own `devcontainer-feature.json` ([`FeatureManifest`]), how
//! options become environment variables for its `install.sh`, the install
//! order (`installsAfter`, `dependsOn`, `overrideFeatureInstallOrder`), and
//! the `devcontainer-lock.json` model. Fetching and building are the
//! environment layer's (warren-env `features`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One entry of devcontainer.json `features`, as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeatureRequest {
    /// The key as written (`ghcr.io/devcontainers/features/node:1`, `./local`).
    pub id: String,
    /// What it names.
    pub reference: FeatureRef,
    /// Options given for it, each a string (booleans and numbers as text).
    pub options: BTreeMap<String, String>,
}

/// Where a Feature comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum FeatureRef {
    /// A folder under `.devcontainer/` (absolute path, checked at decode).
    Local(PathBuf),
    /// An OCI artifact.
    Oci(OciRef),
}

/// `registry/repository[:tag|@sha256:…]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct OciRef {
    /// `ghcr.io`, `localhost:5000`.
    pub registry: String,
    /// `devcontainers/features/node`.
    pub repository: String,
    /// A tag (`1`, `latest`) or a digest (`sha256:…`).
    pub reference: String,
}

impl OciRef {
    /// `registry/repository`: the Feature's id without its version, as
    /// `installsAfter`, `dependsOn` and `overrideFeatureInstallOrder` name it.
    pub fn resource(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// Whether [`OciRef::reference`] is a digest.
    pub fn is_digest(&self) -> bool {
        self.reference.starts_with("sha256:")
    }

    /// Whether the registry is this machine (plain HTTP is allowed only there).
    pub fn is_loopback(&self) -> bool {
        let host = match self.registry.rsplit_once(':') {
            Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
            _ => self.registry.as_str(),
        };
        matches!(host, "localhost" | "127.0.0.1" | "[::1]")
    }
}

impl std::fmt::Display for OciRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sep = if self.is_digest() { '@' } else { ':' };
        write!(f, "{}{sep}{}", self.resource(), self.reference)
    }
}

/// Feature ids that the reference's control manifest (containers.dev)
/// reports as problematic: refused, as the reference refuses them. A key
/// matches when it is the prefix or continues it with `/`, `:` or `@`.
pub const DISALLOWED_FEATURES: &[&str] = &["ghcr.io/devcontainers/features/disallowed-feature"];

/// The disallowed prefix `id` matches, if any.
pub fn disallowed_feature(id: &str) -> Option<&'static str> {
    DISALLOWED_FEATURES.iter().copied().find(|p| {
        id.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', ':', '@']))
    })
}

/// Short names of the retired vscode-dev-containers Features that the
/// reference maps to `ghcr.io/devcontainers/features/<name>:1` (with a
/// warning); `golang` and `common` were renamed on the way.
const MIGRATED: &[&str] = &[
    "aws-cli",
    "azure-cli",
    "desktop-lite",
    "docker-in-docker",
    "docker-from-docker",
    "dotnet",
    "git",
    "git-lfs",
    "github-cli",
    "java",
    "kubectl-helm-minikube",
    "node",
    "powershell",
    "python",
    "ruby",
    "rust",
    "sshd",
    "terraform",
];

/// A problem with a `features` key: the message and a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefError {
    pub message: String,
    pub hint: String,
    /// A deprecated form the spec still lists (GitHub-release Features):
    /// the Feature is skipped with a warning, not refused.
    pub deprecated: bool,
}

/// What `id` (a `features` key) names. `config_dir` is the devcontainer.json's
/// folder and `devcontainer_dir` the project's `.devcontainer/`: a local
/// Feature must be inside the latter (the spec's rule). `Ok((ref, Some(new)))`
/// when a retired short name was mapped to `new`.
pub fn parse_feature_ref(
    id: &str,
    config_dir: &Path,
    devcontainer_dir: &Path,
) -> Result<(FeatureRef, Option<String>), RefError> {
    if id.starts_with("https://") || id.starts_with("http://") {
        return Err(RefError {
            message: format!("Feature `{id}`: tarball URLs are not supported by warren"),
            hint: "publish the Feature to an OCI registry, or copy it into `.devcontainer/` and reference it as `./name`".into(),
            deprecated: false,
        });
    }
    if id.starts_with('/') {
        return Err(RefError {
            message: format!("Feature `{id}`: an absolute path is not allowed"),
            hint: "put the Feature in a folder under `.devcontainer/` and reference it as `./name`"
                .into(),
            deprecated: false,
        });
    }
    if id.starts_with("./") || id.starts_with("../") {
        let path = normalize(&config_dir.join(id));
        if !path.starts_with(normalize(devcontainer_dir)) {
            return Err(RefError {
                message: format!(
                    "Feature `{id}`: a local Feature must be a folder inside `.devcontainer/` (it resolves to `{}`)",
                    path.display()
                ),
                hint: "move the Feature's folder under `.devcontainer/`".into(),
                deprecated: false,
            });
        }
        return Ok((FeatureRef::Local(path), None));
    }
    if !id.contains('/') {
        let mapped = match id {
            "golang" => Some("go"),
            "common" => Some("common-utils"),
            other if MIGRATED.contains(&other) => Some(other),
            _ => None,
        };
        return match mapped {
            Some(name) => {
                let full = format!("ghcr.io/devcontainers/features/{name}:1");
                let (r, _) = parse_feature_ref(&full, config_dir, devcontainer_dir)?;
                Ok((r, Some(full)))
            }
            None => Err(RefError {
                message: format!("legacy Feature `{id}` is not supported"),
                hint: format!(
                    "for a local Feature, prepend its name with `./` (`\"./{id}\"`, a folder under `.devcontainer/`); otherwise use a registry reference such as `ghcr.io/devcontainers/features/<name>:1`"
                ),
                deprecated: false,
            }),
        };
    }
    let first = id.split('/').next().unwrap_or_default();
    if !(first.contains('.') || first.contains(':') || first == "localhost") {
        return Err(RefError {
            message: format!(
                "Feature `{id}` names no registry: GitHub-release Features (`owner/repo/feature`) are deprecated and not supported by warren; it is not installed"
            ),
            hint: "use the Feature's OCI reference (`ghcr.io/owner/repo/feature:1`)".into(),
            deprecated: true,
        });
    }
    parse_oci_ref(id).map(|r| (FeatureRef::Oci(r), None))
}

/// Parses `registry/path/name[:tag|@sha256:hex]`.
pub fn parse_oci_ref(id: &str) -> Result<OciRef, RefError> {
    let bad = |why: &str| {
        RefError {
        message: format!("Feature `{id}` is not a valid registry reference: {why}"),
        hint: "write it as `REGISTRY/NAMESPACE/NAME:VERSION`, e.g. `ghcr.io/devcontainers/features/node:1`".into(),
        deprecated: false,
    }
    };
    let (name, reference) = if let Some((n, d)) = id.split_once('@') {
        let hex = d
            .strip_prefix("sha256:")
            .ok_or_else(|| bad("only sha256 digests are supported"))?;
        if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad("the digest must be `sha256:` and 64 hex digits"));
        }
        (n, d.to_ascii_lowercase())
    } else {
        // A `:` after the last `/` is the tag (one before it is the registry's port).
        match id.rfind(':') {
            Some(i) if !id[i..].contains('/') => (&id[..i], id[i + 1..].to_string()),
            _ => (id, "latest".to_string()),
        }
    };
    let Some((registry, repository)) = name.split_once('/') else {
        return Err(bad("it names no registry"));
    };
    if !(registry.contains('.') || registry.contains(':') || registry == "localhost") {
        return Err(bad(
            "its first part must be a registry host (`ghcr.io`, `localhost:5000`)",
        ));
    }
    let ok_path = |s: &str| {
        !s.is_empty()
            && s.split('/').all(|c| {
                !c.is_empty()
                    && c.chars().all(|ch| {
                        ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch)
                    })
            })
    };
    if !ok_path(repository) {
        return Err(bad(
            "the path must be lowercase letters, digits, `.`, `_`, `-` and `/`",
        ));
    }
    if reference.is_empty()
        || !reference
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-:".contains(c))
    {
        return Err(bad(
            "the version is empty or has characters a tag cannot have",
        ));
    }
    Ok(OciRef {
        registry: registry.to_string(),
        repository: repository.to_string(),
        reference,
    })
}

/// `a/./b/../c` → `a/c`, without touching the filesystem.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The environment variable an option named `name` is passed to `install.sh`
/// as (the spec: non-word characters become `_`, leading digits and
/// underscores one `_`, upper case).
pub fn option_env_name(name: &str) -> String {
    let word: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = word.trim_start_matches(|c: char| c.is_ascii_digit() || c == '_');
    let lead = if trimmed.len() < word.len() { "_" } else { "" };
    format!("{lead}{trimmed}").to_ascii_uppercase()
}

/// The fields of `devcontainer-feature.json` that a Feature contributes to
/// the container, as the spec lists them: they go, with the Feature's `id`,
/// into the image's `devcontainer.metadata` label.
const CONTRIBUTED: &[&str] = &[
    "containerEnv",
    "mounts",
    "init",
    "privileged",
    "capAdd",
    "securityOpt",
    "entrypoint",
    "customizations",
    "onCreateCommand",
    "updateContentCommand",
    "postCreateCommand",
    "postStartCommand",
    "postAttachCommand",
];

/// A Feature's `devcontainer-feature.json`, the parts warren acts on.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FeatureManifest {
    pub id: String,
    pub version: Option<String>,
    pub name: Option<String>,
    /// Option name → default (as text; `None`: no default).
    pub options: BTreeMap<String, Option<String>>,
    /// Ids (without version) this Feature installs after when present.
    pub installs_after: Vec<String>,
    /// Ids (with version) this Feature needs, installed before it, with
    /// the options to install them with.
    pub depends_on: Vec<(String, BTreeMap<String, String>)>,
    /// `containerEnv`, in order (set as `ENV` in the image).
    pub container_env: Vec<(String, String)>,
    /// The contributed fields with `id`: one `devcontainer.metadata` entry.
    pub metadata: serde_json::Map<String, Value>,
}

/// Parses the text of a `devcontainer-feature.json`; `Err` says what is wrong.
pub fn parse_feature_manifest(text: &str) -> Result<FeatureManifest, String> {
    let value: Value =
        serde_json::from_str(&strip_jsonc(text)).map_err(|e| format!("it is not JSON ({e})"))?;
    let Value::Object(obj) = value else {
        return Err("it is not a JSON object".into());
    };
    let string = |k: &str| -> Result<Option<String>, String> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("`{k}` must be a string")),
        }
    };
    let id = string("id")?.ok_or("it has no `id`")?;
    let mut m = FeatureManifest {
        version: string("version")?,
        name: string("name")?,
        id,
        ..FeatureManifest::default()
    };
    if let Some(opts) = obj.get("options") {
        let Value::Object(opts) = opts else {
            return Err("`options` must be an object".into());
        };
        for (name, spec) in opts {
            let default = spec.get("default").and_then(scalar_text);
            m.options.insert(name.clone(), default);
        }
    }
    let list = |k: &str| -> Result<Vec<String>, String> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format!("`{k}` must be a list of strings")),
            Some(_) => Err(format!("`{k}` must be a list of strings")),
        }
    };
    m.installs_after = list("installsAfter")?;
    m.depends_on = match obj.get("dependsOn") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(deps)) => deps
            .iter()
            .map(|(k, v)| {
                let opts = match v {
                    Value::Object(o) => o
                        .iter()
                        .filter_map(|(n, v)| scalar_text(v).map(|t| (n.clone(), t)))
                        .collect(),
                    Value::String(s) => BTreeMap::from([("version".to_string(), s.clone())]),
                    _ => BTreeMap::new(),
                };
                (k.clone(), opts)
            })
            .collect(),
        Some(_) => return Err("`dependsOn` must be an object".into()),
    };
    if let Some(env) = obj.get("containerEnv") {
        let Value::Object(env) = env else {
            return Err("`containerEnv` must be an object of strings".into());
        };
        for (k, v) in env {
            let v = scalar_text(v).ok_or("`containerEnv` must be an object of strings")?;
            m.container_env.push((k.clone(), v));
        }
    }
    m.metadata.insert("id".into(), Value::String(m.id.clone()));
    for key in CONTRIBUTED {
        if let Some(v) = obj.get(*key) {
            m.metadata.insert((*key).to_string(), v.clone());
        }
    }
    Ok(m)
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Removes `//` and `/* */` comments and trailing commas outside strings,
/// so a hand-written `devcontainer-feature.json` (JSONC, like
/// devcontainer.json) reads with serde_json.
fn strip_jsonc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_str = false;
    while let Some(c) = chars.next() {
        if in_str {
            out.push(c);
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '/' if chars.peek() == Some(&'/') => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = ' ';
                for n in chars.by_ref() {
                    if prev == '*' && n == '/' {
                        break;
                    }
                    prev = n;
                }
            }
            ',' => {
                // A trailing comma: the next significant character closes.
                let rest: String = chars.clone().collect();
                let next = rest.trim_start().chars().next();
                if !matches!(next, Some('}') | Some(']')) {
                    out.push(c);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// One Feature to order: its id without version, what it must follow.
#[derive(Debug, Clone)]
pub struct OrderItem {
    /// The id without version (`ghcr.io/x/y/node`, `./local`).
    pub resource: String,
    /// The key as written, for messages and the tie-break.
    pub key: String,
    /// Soft: only those present count.
    pub installs_after: Vec<String>,
    /// Hard: each must be present (warren does not add missing ones).
    pub depends_on: Vec<String>,
}

/// A Feature id without its version: `x/y/name:1` or `x/y/name@sha256:…` →
/// `x/y/name` (how `installsAfter`, `dependsOn` and
/// `overrideFeatureInstallOrder` entries are compared).
pub fn feature_resource(id: &str) -> String {
    let s = id.split('@').next().unwrap_or(id);
    match s.rfind(':') {
        Some(i) if !s[i..].contains('/') => s[..i].to_string(),
        _ => s.to_string(),
    }
}

/// The install order (indices into `items`), by the spec's rounds: each round
/// installs every Feature whose `dependsOn` and present `installsAfter` are
/// installed; of those, only the ones `overrideFeatureInstallOrder` puts
/// highest (when it names any), ties by key. A cycle, or a `dependsOn` not
/// among the Features, is an error.
pub fn install_order(items: &[OrderItem], overrides: &[String]) -> Result<Vec<usize>, String> {
    let strip = feature_resource;
    let find = |id: &str| items.iter().position(|it| it.resource == strip(id));
    let mut after: Vec<Vec<usize>> = Vec::with_capacity(items.len());
    for it in items {
        let mut deps = Vec::new();
        for d in &it.depends_on {
            match find(d) {
                Some(j) => deps.push(j),
                None => {
                    return Err(format!(
                        "Feature `{}` depends on `{d}`, which is not among the Features to install",
                        it.key
                    ));
                }
            }
        }
        deps.extend(it.installs_after.iter().filter_map(|a| find(a)));
        after.push(deps);
    }
    let priority = |i: usize| -> usize {
        overrides
            .iter()
            .position(|o| strip(o) == items[i].resource)
            .map_or(0, |p| overrides.len() - p)
    };
    let mut done = vec![false; items.len()];
    let mut order = Vec::with_capacity(items.len());
    while order.len() < items.len() {
        let ready: Vec<usize> = (0..items.len())
            .filter(|&i| !done[i] && after[i].iter().all(|&j| done[j] || j == i))
            .collect();
        if ready.is_empty() {
            let left: Vec<String> = (0..items.len())
                .filter(|&i| !done[i])
                .map(|i| format!("`{}`", items[i].key))
                .collect();
            return Err(format!(
                "the Features {} wait for each other (`installsAfter`/`dependsOn` form a cycle)",
                left.join(", ")
            ));
        }
        let top = ready.iter().map(|&i| priority(i)).max().unwrap_or(0);
        let mut round: Vec<usize> = ready.into_iter().filter(|&i| priority(i) == top).collect();
        round.sort_by(|&a, &b| items[a].key.cmp(&items[b].key));
        for i in round {
            done[i] = true;
            order.push(i);
        }
    }
    Ok(order)
}

/// `devcontainer-lock.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lockfile {
    pub features: BTreeMap<String, LockedFeature>,
}

/// One Feature pinned in the lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedFeature {
    pub version: String,
    /// `registry/repository@sha256:…` (the manifest's digest).
    pub resolved: String,
    /// `sha256:…` of the Feature's layer (its tarball).
    pub integrity: String,
}

/// Where the lock file of `config` (a devcontainer.json) lives: next to it,
/// `devcontainer-lock.json`, or `.devcontainer-lock.json` for a
/// `.devcontainer.json`.
pub fn lockfile_path(config: &Path) -> PathBuf {
    let name = if config
        .file_name()
        .is_some_and(|n| n == ".devcontainer.json")
    {
        ".devcontainer-lock.json"
    } else {
        "devcontainer-lock.json"
    };
    config.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_names_become_variables() {
        assert_eq!(option_env_name("version"), "VERSION");
        assert_eq!(option_env_name("node-gyp.deps"), "NODE_GYP_DEPS");
        assert_eq!(option_env_name("1abc"), "_ABC");
        assert_eq!(option_env_name("_x"), "_X");
    }

    #[test]
    fn references_parse() {
        let r = parse_oci_ref("ghcr.io/devcontainers/features/node:1").unwrap();
        assert_eq!(r.registry, "ghcr.io");
        assert_eq!(r.repository, "devcontainers/features/node");
        assert_eq!(r.reference, "1");
        let r = parse_oci_ref("localhost:5000/features/hello").unwrap();
        assert_eq!(r.reference, "latest");
        assert!(r.is_loopback());
        let d = format!("localhost:5000/f/h@sha256:{}", "a".repeat(64));
        assert!(parse_oci_ref(&d).unwrap().is_digest());
        assert!(parse_oci_ref("devcontainers/features/node:1").is_err());
        let dir = Path::new("/p/.devcontainer");
        assert!(parse_feature_ref("myfeature", Path::new("/p"), dir).is_err());
        assert!(parse_feature_ref("./x", Path::new("/p"), dir).is_err());
        assert!(parse_feature_ref("./x", dir, dir).is_ok());
        assert!(parse_feature_ref("../x", dir, dir).is_err());
        let (_, mapped) = parse_feature_ref("node", dir, dir).unwrap();
        assert_eq!(
            mapped.as_deref(),
            Some("ghcr.io/devcontainers/features/node:1")
        );
    }

    #[test]
    fn disallowed_prefixes_match_whole_ids() {
        assert!(
            disallowed_feature("ghcr.io/devcontainers/features/disallowed-feature:latest")
                .is_some()
        );
        assert!(disallowed_feature("ghcr.io/devcontainers/features/disallowed-feature").is_some());
        assert!(disallowed_feature("ghcr.io/devcontainers/features/disallowed-featurex").is_none());
    }

    fn item(r: &str, after: &[&str]) -> OrderItem {
        OrderItem {
            resource: r.into(),
            key: r.into(),
            installs_after: after.iter().map(|s| s.to_string()).collect(),
            depends_on: Vec::new(),
        }
    }

    #[test]
    fn order_follows_rounds_and_overrides() {
        let items = [
            item("r/c", &["r/a"]),
            item("r/b", &[]),
            item("r/a", &["r/zz"]),
        ];
        let names = |o: Vec<usize>| {
            o.into_iter()
                .map(|i| items[i].key.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(install_order(&items, &[]).unwrap()),
            ["r/a", "r/b", "r/c"]
        );
        assert_eq!(
            names(install_order(&items, &["r/b:1".into()]).unwrap()),
            ["r/b", "r/a", "r/c"]
        );
        let cyc = [item("r/a", &["r/b"]), item("r/b", &["r/a"])];
        assert!(install_order(&cyc, &[]).unwrap_err().contains("cycle"));
    }

    #[test]
    fn manifests_parse_with_comments() {
        let m = parse_feature_manifest(
            r#"{ // a comment
  "id": "hello", "version": "1.0.0",
  "options": {"greeting": {"type": "string", "default": "hey"}, "loud": {"type": "boolean", "default": false}},
  "containerEnv": {"HELLO": "1"},
  "postCreateCommand": "echo hi",
  "installsAfter": ["ghcr.io/x/y/common"],
}"#,
        )
        .unwrap();
        assert_eq!(m.options["greeting"].as_deref(), Some("hey"));
        assert_eq!(m.options["loud"].as_deref(), Some("false"));
        assert_eq!(m.container_env, [("HELLO".to_string(), "1".to_string())]);
        assert!(m.metadata.contains_key("postCreateCommand"));
        assert_eq!(m.installs_after, ["ghcr.io/x/y/common"]);
    }

    #[test]
    fn lockfile_sits_next_to_the_config() {
        assert_eq!(
            lockfile_path(Path::new("/p/.devcontainer/devcontainer.json")),
            Path::new("/p/.devcontainer/devcontainer-lock.json")
        );
        assert_eq!(
            lockfile_path(Path::new("/p/.devcontainer.json")),
            Path::new("/p/.devcontainer-lock.json")
        );
    }
}
