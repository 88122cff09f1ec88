//! The `devcontainer.metadata` label of an image: a JSON array (or one
//! object) of devcontainer.json fragments that the image's builder (the
//! reference CLI, a Feature, a base image) recorded. The spec merges them
//! under the devcontainer.json's own values: entries in order, the file
//! last, so the file wins; lifecycle commands of every entry run, the
//! image's first; capabilities and security options are unioned; `init` and
//! `privileged` are true when any entry says so.
//!
//! This module parses and merges the entries into one [`ImageMetadata`];
//! putting it under the file's values is the caller's (warren-env, at
//! create, once the engine has the image).

use serde_json::Value;

use crate::lifecycle::LifecycleCommand;
use crate::values::{Mount, MountKind, parse_kind};

/// The label the reference CLI and Features write.
pub const METADATA_LABEL: &str = "devcontainer.metadata";

/// The field warren adds to the label entries of the Features it installed
/// (and strips from a base image's): host access a Feature asks for is the
/// user's to grant with `host_access:`, where an image's never is.
pub const FEATURE_MARK: &str = "warren.feature";

/// The label `text` split in two: the entries of Features warren installed,
/// and the image's own. Either is `None` when it has no entry.
pub fn split_feature_entries(text: &str) -> (Option<String>, Option<String>) {
    let entries = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Array(a)) => a,
        Ok(other @ serde_json::Value::Object(_)) => vec![other],
        // Unparsable: all of it is the image's (and reported as such).
        _ => return (None, Some(text.to_string())),
    };
    let (features, image): (Vec<_>, Vec<_>) = entries
        .into_iter()
        .partition(|e| e.get(FEATURE_MARK) == Some(&serde_json::Value::Bool(true)));
    let text = |v: Vec<serde_json::Value>| {
        (!v.is_empty()).then(|| serde_json::Value::Array(v).to_string())
    };
    (text(features), text(image))
}

/// The image's contribution, its entries merged in order (a later entry wins
/// for single values, maps merge key by key, lists accumulate).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageMetadata {
    pub remote_user: Option<String>,
    pub container_user: Option<String>,
    pub container_env: Vec<(String, String)>,
    /// `None` values unset the variable (the spec's `null`).
    pub remote_env: Vec<(String, Option<String>)>,
    pub cap_add: Vec<String>,
    pub security_opt: Vec<String>,
    pub init: bool,
    pub privileged: bool,
    pub override_command: Option<bool>,
    /// `entrypoint`s (Features' above all: `/usr/local/share/docker-init.sh`),
    /// in order: run when the container starts, before its command.
    pub entrypoints: Vec<String>,
    pub mounts: Vec<Mount>,
    pub on_create: Vec<LifecycleCommand>,
    pub update_content: Vec<LifecycleCommand>,
    pub post_create: Vec<LifecycleCommand>,
    pub post_start: Vec<LifecycleCommand>,
    pub post_attach: Vec<LifecycleCommand>,
    /// Fields the entries set that warren does not apply from an image
    /// (`entrypoint`, `forwardPorts`, …), each named once, in order.
    pub ignored: Vec<String>,
    /// Entries or values that did not parse, each as one sentence.
    pub problems: Vec<String>,
}

impl ImageMetadata {
    /// Whether the label contributed nothing warren applies.
    pub fn is_empty(&self) -> bool {
        let mut bare = self.clone();
        bare.ignored.clear();
        bare.problems.clear();
        bare == ImageMetadata::default()
    }
}

/// Fields of an entry that are editor or build-time settings: known, silently
/// skipped (the reference does not apply them to a container either).
const SILENT: &[&str] = &[
    "id",
    FEATURE_MARK,
    "customizations",
    "hostRequirements",
    "userEnvProbe",
    "updateRemoteUserUID",
    "waitFor",
    "shutdownAction",
    "portsAttributes",
    "otherPortsAttributes",
    "onAutoForward",
];

/// Parses the label's JSON text. Never fails: what does not parse is listed
/// in [`ImageMetadata::problems`] and the rest still applies.
pub fn parse_image_metadata(text: &str) -> ImageMetadata {
    let mut out = ImageMetadata::default();
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            out.problems
                .push(format!("the `{METADATA_LABEL}` label is not JSON ({e})"));
            return out;
        }
    };
    let entries = match value {
        Value::Array(items) => items,
        obj @ Value::Object(_) => vec![obj],
        _ => {
            out.problems.push(format!(
                "the `{METADATA_LABEL}` label is neither a JSON array nor an object"
            ));
            return out;
        }
    };
    for (i, entry) in entries.iter().enumerate() {
        let Value::Object(fields) = entry else {
            out.problems
                .push(format!("entry {i} of `{METADATA_LABEL}` is not an object"));
            continue;
        };
        for (key, v) in fields {
            merge_field(&mut out, i, key, v);
        }
    }
    out
}

fn merge_field(out: &mut ImageMetadata, i: usize, key: &str, v: &Value) {
    let mut bad = |what: &str| {
        out.problems.push(format!(
            "entry {i} of `{METADATA_LABEL}`: `{key}` must be {what}; ignored"
        ))
    };
    match key {
        "remoteUser" | "containerUser" => match v {
            Value::String(s) => {
                let slot = if key == "remoteUser" {
                    &mut out.remote_user
                } else {
                    &mut out.container_user
                };
                *slot = Some(s.clone());
            }
            _ => bad("a string"),
        },
        "containerEnv" => match string_map(v) {
            Some(map) => {
                for (k, val) in map {
                    match val {
                        Some(val) => set(&mut out.container_env, k, val),
                        None => out.container_env.retain(|(n, _)| *n != k),
                    }
                }
            }
            None => bad("an object of strings"),
        },
        "remoteEnv" => match string_map(v) {
            Some(map) => {
                for (k, val) in map {
                    set(&mut out.remote_env, k, val);
                }
            }
            None => bad("an object of strings (or null)"),
        },
        "capAdd" | "securityOpt" => match string_list(v) {
            Some(list) => {
                let into = if key == "capAdd" {
                    &mut out.cap_add
                } else {
                    &mut out.security_opt
                };
                for s in list {
                    if !into.contains(&s) {
                        into.push(s);
                    }
                }
            }
            None => bad("an array of strings"),
        },
        "entrypoint" => match v {
            Value::String(e) if !e.trim().is_empty() => {
                if !out.entrypoints.contains(e) {
                    out.entrypoints.push(e.clone());
                }
            }
            Value::String(_) => {}
            _ => bad("a string"),
        },
        "init" | "privileged" => match v {
            Value::Bool(b) => {
                if key == "init" {
                    out.init |= *b;
                } else {
                    out.privileged |= *b;
                }
            }
            _ => bad("true or false"),
        },
        "overrideCommand" => match v {
            Value::Bool(b) => out.override_command = Some(*b),
            _ => bad("true or false"),
        },
        "mounts" => match v {
            Value::Array(items) => {
                for item in items {
                    match mount(item) {
                        Ok(m) => match out.mounts.iter_mut().find(|x| x.target == m.target) {
                            Some(existing) => *existing = m,
                            None => out.mounts.push(m),
                        },
                        Err(msg) => out
                            .problems
                            .push(format!("entry {i} of `{METADATA_LABEL}`: {msg}; ignored")),
                    }
                }
            }
            _ => bad("an array"),
        },
        "onCreateCommand"
        | "updateContentCommand"
        | "postCreateCommand"
        | "postStartCommand"
        | "postAttachCommand" => match command(v) {
            Some(cmd) => {
                let list = match key {
                    "onCreateCommand" => &mut out.on_create,
                    "updateContentCommand" => &mut out.update_content,
                    "postCreateCommand" => &mut out.post_create,
                    "postStartCommand" => &mut out.post_start,
                    _ => &mut out.post_attach,
                };
                if !cmd.is_empty() {
                    list.push(cmd);
                }
            }
            None => bad("a string, an array of strings or an object of them"),
        },
        k if SILENT.contains(&k) => {}
        other => {
            if !out.ignored.iter().any(|f| f == other) {
                out.ignored.push(other.to_string());
            }
        }
    }
}

fn set<V>(list: &mut Vec<(String, V)>, k: String, v: V) {
    match list.iter_mut().find(|(n, _)| *n == k) {
        Some(slot) => slot.1 = v,
        None => list.push((k, v)),
    }
}

fn string_map(v: &Value) -> Option<Vec<(String, Option<String>)>> {
    let Value::Object(m) = v else { return None };
    m.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Some((k.clone(), Some(s.clone()))),
            Value::Null => Some((k.clone(), None)),
            Value::Number(n) => Some((k.clone(), Some(n.to_string()))),
            Value::Bool(b) => Some((k.clone(), Some(b.to_string()))),
            _ => None,
        })
        .collect()
}

fn string_list(v: &Value) -> Option<Vec<String>> {
    let Value::Array(items) = v else { return None };
    items
        .iter()
        .map(|i| i.as_str().map(str::to_string))
        .collect()
}

fn command(v: &Value) -> Option<LifecycleCommand> {
    match v {
        Value::String(s) => Some(LifecycleCommand::Shell(s.clone())),
        Value::Array(_) => string_list(v).map(LifecycleCommand::Exec),
        Value::Object(m) => m
            .iter()
            .map(|(name, c)| match c {
                Value::String(s) => Some((name.clone(), LifecycleCommand::Shell(s.clone()))),
                Value::Array(_) => {
                    string_list(c).map(|a| (name.clone(), LifecycleCommand::Exec(a)))
                }
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(LifecycleCommand::Parallel),
        _ => None,
    }
}

fn mount(v: &Value) -> Result<Mount, String> {
    match v {
        Value::String(s) => Mount::parse_long(s),
        Value::Object(m) => {
            let text = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
            let shown = v.to_string();
            let kind = match text("type") {
                Some(t) => parse_kind(&t, &shown)?,
                None => MountKind::Volume,
            };
            let target =
                text("target").ok_or_else(|| format!("mount `{shown}` has no `target`"))?;
            let read_only = m.get("readonly").and_then(Value::as_bool).unwrap_or(false);
            Mount::checked(kind, text("source"), target, read_only, &shown)
        }
        _ => Err(format!("mount `{v}` is neither a string nor an object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_merge_in_order_later_wins_lists_accumulate() {
        let m = parse_image_metadata(
            r#"[
  {"id": "ghcr.io/x/features/a:1", "containerEnv": {"A": "1", "B": "1"}, "capAdd": ["SYS_PTRACE"],
   "postCreateCommand": "echo a", "mounts": ["type=volume,source=va,target=/v"], "entrypoint": "/x.sh"},
  {"remoteUser": "dev", "containerUser": "root", "containerEnv": {"B": "2"},
   "remoteEnv": {"R": "r", "GONE": null}, "capAdd": ["SYS_PTRACE", "NET_ADMIN"], "init": true,
   "postCreateCommand": ["echo", "b"], "postStartCommand": {"x": "echo x"},
   "mounts": [{"type": "volume", "source": "vb", "target": "/v"}], "customizations": {"vscode": {}}},
  {"remoteUser": "other", "privileged": false, "overrideCommand": false}
]"#,
        );
        assert!(m.problems.is_empty(), "{:?}", m.problems);
        assert_eq!(m.remote_user.as_deref(), Some("other"));
        assert_eq!(m.container_user.as_deref(), Some("root"));
        assert_eq!(
            m.container_env,
            [("A".into(), "1".into()), ("B".into(), "2".into())]
        );
        // serde_json's maps are sorted: keys come in name order.
        assert_eq!(
            m.remote_env,
            [("GONE".into(), None), ("R".into(), Some("r".into()))]
        );
        assert_eq!(m.cap_add, ["SYS_PTRACE", "NET_ADMIN"]);
        assert!(m.init && !m.privileged);
        assert_eq!(m.override_command, Some(false));
        assert_eq!(m.mounts.len(), 1, "same target: the later entry's");
        assert_eq!(m.mounts[0].source.as_deref(), Some("vb"));
        assert_eq!(
            m.post_create,
            [
                LifecycleCommand::Shell("echo a".into()),
                LifecycleCommand::Exec(vec!["echo".into(), "b".into()])
            ]
        );
        assert_eq!(m.post_start.len(), 1);
        assert!(m.ignored.is_empty(), "{:?}", m.ignored);
        assert_eq!(m.entrypoints, ["/x.sh"]);
        assert!(!m.is_empty());
    }

    #[test]
    fn one_object_bad_values_and_bad_json() {
        let m = parse_image_metadata(r#"{"remoteUser": 5, "capAdd": "X", "containerUser": "u"}"#);
        assert_eq!(m.container_user.as_deref(), Some("u"));
        assert_eq!(m.problems.len(), 2, "{:?}", m.problems);
        assert!(
            m.problems
                .iter()
                .any(|p| p.contains("`remoteUser` must be a string")),
            "{:?}",
            m.problems
        );

        let m = parse_image_metadata("not json");
        assert!(m.is_empty());
        assert_eq!(m.problems.len(), 1);
        assert!(parse_image_metadata(r#"[{"id": "x"}]"#).is_empty());
    }
}

#[cfg(test)]
mod feature_entries {
    use super::*;

    #[test]
    fn only_marked_entries_are_features() {
        let (f, i) = split_feature_entries(
            r#"[{"id": "base", "privileged": true}, {"id": "f", "warren.feature": true, "capAdd": ["X"]}, {"warren.feature": "yes"}]"#,
        );
        let f = f.unwrap();
        assert!(f.contains("\"f\"") && !f.contains("base"), "{f}");
        let i = i.unwrap();
        assert!(i.contains("base") && i.contains("\"yes\""), "{i}");
        assert_eq!(
            split_feature_entries("not json"),
            (None, Some("not json".into()))
        );
        let meta = parse_image_metadata(&f);
        assert!(
            meta.ignored.is_empty(),
            "the mark is not a field to warn about: {meta:?}"
        );
    }
}
