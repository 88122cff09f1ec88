//! devcontainer.json lifecycle commands (`onCreateCommand` …) in their three
//! forms, and the stable hash that tells whether a once-per-container step
//! changed since it last ran.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::decode::Decoder;
use crate::node::{Node, Value};

/// One lifecycle command, in the form the spec gives it. The same type
/// carries `.warren.yaml` hooks (always the string form) from the
/// configuration into the stored environment spec.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(
    rename_all = "lowercase",
    tag = "form",
    content = "command",
    from = "StoredCommand"
)]
pub enum LifecycleCommand {
    /// A string: run by `/bin/sh -c`.
    Shell(String),
    /// An array: executed directly, no shell.
    Exec(Vec<String>),
    /// An object: named commands (each `Shell` or `Exec`) run in parallel;
    /// all must succeed. Declaration order is kept for output.
    Parallel(Vec<(String, LifecycleCommand)>),
    /// One step's commands from several sources (the image's
    /// `devcontainer.metadata` entries, then devcontainer.json), run one
    /// after another as the spec merges them; the first failure stops it.
    Sequence(Vec<LifecycleCommand>),
}

/// How a stored spec spells a command: today's form, or the one warren
/// 0.1 wrote (`script`/`argv`/`entries` instead of `command`), so that
/// environments created by it still start.
#[derive(Deserialize)]
#[serde(rename_all = "lowercase", tag = "form")]
enum StoredCommand {
    Shell {
        #[serde(alias = "script")]
        command: String,
    },
    Exec {
        #[serde(alias = "argv")]
        command: Vec<String>,
    },
    Parallel {
        #[serde(alias = "entries")]
        command: Vec<(String, LifecycleCommand)>,
    },
    Sequence {
        command: Vec<LifecycleCommand>,
    },
}

impl From<StoredCommand> for LifecycleCommand {
    fn from(s: StoredCommand) -> Self {
        match s {
            StoredCommand::Shell { command } => LifecycleCommand::Shell(command),
            StoredCommand::Exec { command } => LifecycleCommand::Exec(command),
            StoredCommand::Parallel { command } => LifecycleCommand::Parallel(command),
            StoredCommand::Sequence { command } => LifecycleCommand::Sequence(command),
        }
    }
}

impl LifecycleCommand {
    /// `cmds` (empty ones dropped) as one step: `None` when nothing is left,
    /// the command itself when one is, else a [`LifecycleCommand::Sequence`].
    /// One command stays as it was, so its stored hash does not change.
    pub fn sequence(cmds: impl IntoIterator<Item = LifecycleCommand>) -> Option<LifecycleCommand> {
        let mut cmds: Vec<LifecycleCommand> = cmds.into_iter().filter(|c| !c.is_empty()).collect();
        match cmds.len() {
            0 => None,
            1 => cmds.pop(),
            _ => Some(LifecycleCommand::Sequence(cmds)),
        }
    }

    /// The argv to execute: `/bin/sh -c STRING` for the string form, the
    /// array as is; `None` for the object and sequence forms (run their
    /// entries instead).
    pub fn argv(&self) -> Option<Vec<String>> {
        match self {
            LifecycleCommand::Shell(script) => {
                Some(vec!["/bin/sh".into(), "-c".into(), script.clone()])
            }
            LifecycleCommand::Exec(argv) => Some(argv.clone()),
            LifecycleCommand::Parallel(_) | LifecycleCommand::Sequence(_) => None,
        }
    }

    /// The hash warren 0.1 recorded for a once-per-container step (the first
    /// 16 bytes of the SHA-256 of its JSON form). Compared besides
    /// [`LifecycleCommand::hash`] so that an upgrade does not re-run
    /// `postCreateCommand` in existing environments.
    pub fn legacy_hash(&self) -> String {
        fn json(c: &LifecycleCommand) -> String {
            fn q(s: &str) -> String {
                serde_json::Value::String(s.to_string()).to_string()
            }
            match c {
                LifecycleCommand::Shell(s) => format!(r#"{{"form":"shell","script":{}}}"#, q(s)),
                LifecycleCommand::Exec(a) => format!(
                    r#"{{"form":"exec","argv":[{}]}}"#,
                    a.iter().map(|s| q(s)).collect::<Vec<_>>().join(",")
                ),
                LifecycleCommand::Parallel(items) => format!(
                    r#"{{"form":"parallel","entries":[{}]}}"#,
                    items
                        .iter()
                        .map(|(n, c)| format!("[{},{}]", q(n), json(c)))
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                // No warren 0.1 spec holds one; any text that cannot collide.
                LifecycleCommand::Sequence(items) => format!(
                    r#"{{"form":"sequence","commands":[{}]}}"#,
                    items.iter().map(json).collect::<Vec<_>>().join(",")
                ),
            }
        }
        hex(&Sha256::digest(json(self).as_bytes())[..16])
    }

    /// Hex SHA-256 of a canonical encoding (form tag, then each string
    /// length-prefixed), stable across warren versions and platforms: the
    /// store keeps it to re-run once-per-container steps when they change.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        self.feed(&mut h);
        hex(&h.finalize())
    }

    fn feed(&self, h: &mut Sha256) {
        fn s(h: &mut Sha256, text: &str) {
            h.update((text.len() as u64).to_le_bytes());
            h.update(text.as_bytes());
        }
        match self {
            LifecycleCommand::Shell(cmd) => {
                h.update(b"S");
                s(h, cmd);
            }
            LifecycleCommand::Exec(args) => {
                h.update(b"E");
                h.update((args.len() as u64).to_le_bytes());
                args.iter().for_each(|a| s(h, a));
            }
            LifecycleCommand::Parallel(items) => {
                h.update(b"P");
                h.update((items.len() as u64).to_le_bytes());
                for (name, cmd) in items {
                    s(h, name);
                    cmd.feed(h);
                }
            }
            LifecycleCommand::Sequence(items) => {
                h.update(b"Q");
                h.update((items.len() as u64).to_le_bytes());
                items.iter().for_each(|c| c.feed(h));
            }
        }
    }

    /// The command with `${containerEnv:…}` resolved in every string (call
    /// once the container runs; see [`crate::substitute_container_env`]).
    pub fn with_container_env(&self, lookup: &dyn Fn(&str) -> Option<String>) -> LifecycleCommand {
        let sub = |s: &str| crate::variables::substitute_container_env(s, lookup);
        match self {
            LifecycleCommand::Shell(cmd) => LifecycleCommand::Shell(sub(cmd)),
            LifecycleCommand::Exec(args) => {
                LifecycleCommand::Exec(args.iter().map(|a| sub(a)).collect())
            }
            LifecycleCommand::Parallel(items) => LifecycleCommand::Parallel(
                items
                    .iter()
                    .map(|(name, cmd)| (name.clone(), cmd.with_container_env(lookup)))
                    .collect(),
            ),
            LifecycleCommand::Sequence(items) => LifecycleCommand::Sequence(
                items.iter().map(|c| c.with_container_env(lookup)).collect(),
            ),
        }
    }

    /// Whether some string of it reads the container's env
    /// (`${containerEnv:…}`), to resolve with [`LifecycleCommand::with_container_env`].
    pub fn uses_container_env(&self) -> bool {
        match self {
            LifecycleCommand::Shell(cmd) => cmd.contains("${containerEnv:"),
            LifecycleCommand::Exec(args) => args.iter().any(|a| a.contains("${containerEnv:")),
            LifecycleCommand::Parallel(items) => items.iter().any(|(_, c)| c.uses_container_env()),
            LifecycleCommand::Sequence(items) => {
                items.iter().any(LifecycleCommand::uses_container_env)
            }
        }
    }

    /// True for an empty string, empty array or empty object (nothing to run).
    pub fn is_empty(&self) -> bool {
        match self {
            LifecycleCommand::Shell(s) => s.trim().is_empty(),
            LifecycleCommand::Exec(a) => a.is_empty(),
            LifecycleCommand::Parallel(items) => items.is_empty(),
            LifecycleCommand::Sequence(items) => items.iter().all(LifecycleCommand::is_empty),
        }
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decodes a lifecycle command: string, array of strings, or object whose
/// values are strings or arrays.
pub(crate) fn decode_command(
    d: &mut Decoder<'_>,
    node: &Node,
    what: &str,
) -> Option<LifecycleCommand> {
    let hint = || {
        Some(
            "use a string (`\"npm install\"`, run by /bin/sh -c), an array (`[\"npm\", \"install\"]`, no shell) or an object of named commands"
                .to_string(),
        )
    };
    match &node.value {
        Value::Str(s) => Some(LifecycleCommand::Shell(s.clone())),
        Value::Seq(_) => decode_exec(d, node, what),
        Value::Map(entries) => {
            let mut items = Vec::new();
            for (k, v) in entries {
                let item_what = format!("{what}.{}", k.text);
                let cmd = match &v.value {
                    Value::Str(s) => Some(LifecycleCommand::Shell(s.clone())),
                    Value::Seq(_) => decode_exec(d, v, &item_what),
                    _ => {
                        d.type_error(
                            v,
                            &item_what,
                            "a string or an array of strings",
                            Some(
                                "each named command of an object form is a string or an array"
                                    .into(),
                            ),
                        );
                        None
                    }
                };
                if let Some(cmd) = cmd {
                    items.push((k.text.clone(), cmd));
                }
            }
            Some(LifecycleCommand::Parallel(items))
        }
        _ => {
            d.type_error(node, what, "a string, an array or an object", hint());
            None
        }
    }
}

fn decode_exec(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<LifecycleCommand> {
    let args = d.string_list(node, what, false)?;
    Some(LifecycleCommand::Exec(
        args.into_iter().map(|a| a.value).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Source;
    use std::path::Path;

    fn decode(text: &str) -> (Option<LifecycleCommand>, Vec<String>) {
        let src = Source::new(Path::new("devcontainer.json"), text);
        let (node, diags) = crate::jsonc::parse(&src);
        assert!(diags.is_empty());
        let mut d = Decoder::new(&src);
        let cmd = decode_command(&mut d, &node.unwrap(), "postCreateCommand");
        (cmd, d.diags.into_iter().map(|d| d.message).collect())
    }

    #[test]
    fn forms() {
        assert_eq!(
            decode(r#""npm install""#).0,
            Some(LifecycleCommand::Shell("npm install".into()))
        );
        assert_eq!(
            decode(r#"["npm", "install"]"#).0,
            Some(LifecycleCommand::Exec(vec!["npm".into(), "install".into()]))
        );
        assert_eq!(
            decode(r#"{"b": "make", "a": ["x", "y"]}"#).0,
            Some(LifecycleCommand::Parallel(vec![
                ("b".into(), LifecycleCommand::Shell("make".into())),
                (
                    "a".into(),
                    LifecycleCommand::Exec(vec!["x".into(), "y".into()])
                ),
            ]))
        );
    }

    #[test]
    fn stored_forms_round_trip_and_old_specs_still_read() {
        let cmd = LifecycleCommand::Parallel(vec![(
            "a".into(),
            LifecycleCommand::Exec(vec!["ls".into(), "-l".into()]),
        )]);
        let json = serde_json::to_string(&cmd).unwrap();
        assert_eq!(
            json,
            r#"{"form":"parallel","command":[["a",{"form":"exec","command":["ls","-l"]}]]}"#
        );
        assert_eq!(
            serde_json::from_str::<LifecycleCommand>(&json).unwrap(),
            cmd
        );
        let old = r#"{"form":"parallel","entries":[["a",{"form":"exec","argv":["ls","-l"]}]]}"#;
        assert_eq!(serde_json::from_str::<LifecycleCommand>(old).unwrap(), cmd);
        assert_eq!(
            serde_json::from_str::<LifecycleCommand>(r#"{"form":"shell","script":"make"}"#)
                .unwrap(),
            LifecycleCommand::Shell("make".into())
        );
    }

    #[test]
    fn legacy_hash_is_what_warren_0_1_recorded() {
        // Values computed by warren 0.1's `StepCommand::hash`.
        assert_eq!(
            LifecycleCommand::Shell("make \"all\"".into()).legacy_hash(),
            "2aba42ec3958e077a17e43bdde72b6f6"
        );
        assert_eq!(
            LifecycleCommand::Parallel(vec![(
                "a".into(),
                LifecycleCommand::Exec(vec!["ls".into(), "-l".into()])
            )])
            .legacy_hash(),
            "9f3fb98ff021c3fcb36c9ec870a1be77"
        );
    }

    #[test]
    fn bad_forms() {
        assert_eq!(
            decode("42").1,
            ["`postCreateCommand` must be a string, an array or an object, found a number"]
        );
        assert_eq!(
            decode(r#"{"a": {"b": "c"}}"#).1,
            ["`postCreateCommand.a` must be a string or an array of strings, found a map"]
        );
        assert_eq!(
            decode(r#"["a", ["b"]]"#).1,
            ["`postCreateCommand[1]` must be a string, found a list"]
        );
    }

    #[test]
    fn container_env_in_every_form() {
        let lookup = |k: &str| (k == "HOME").then(|| "/root".to_string());
        let cmd = LifecycleCommand::Parallel(vec![
            (
                "a".into(),
                LifecycleCommand::Shell("ls ${containerEnv:HOME}".into()),
            ),
            (
                "b".into(),
                LifecycleCommand::Exec(vec!["ls".into(), "${containerEnv:X:/d}".into()]),
            ),
        ]);
        assert_eq!(
            cmd.with_container_env(&lookup),
            LifecycleCommand::Parallel(vec![
                ("a".into(), LifecycleCommand::Shell("ls /root".into())),
                (
                    "b".into(),
                    LifecycleCommand::Exec(vec!["ls".into(), "/d".into()])
                ),
            ])
        );
    }

    #[test]
    fn hash_is_stable_and_changes_with_the_command() {
        let a = LifecycleCommand::Shell("npm install".into());
        // Pinned: a change here re-runs every once-per-container step.
        assert_eq!(
            a.hash(),
            LifecycleCommand::Shell("npm install".into()).hash()
        );
        assert_eq!(a.hash().len(), 64);
        assert_eq!(
            a.hash(),
            "c5639fd30c465a1edddaa4fbab511ce816ab0b504043e56948cec424b7daa654"
        );
        assert_ne!(a.hash(), LifecycleCommand::Shell("npm ci".into()).hash());
        // Same words, different form: different hash.
        assert_ne!(
            LifecycleCommand::Shell("npm install".into()).hash(),
            LifecycleCommand::Exec(vec!["npm install".into()]).hash()
        );
        // Length prefixes keep ["ab","c"] and ["a","bc"] apart.
        assert_ne!(
            LifecycleCommand::Exec(vec!["ab".into(), "c".into()]).hash(),
            LifecycleCommand::Exec(vec!["a".into(), "bc".into()]).hash()
        );
        let p1 = LifecycleCommand::Parallel(vec![("x".into(), a.clone())]);
        let p2 = LifecycleCommand::Parallel(vec![("y".into(), a.clone())]);
        assert_ne!(p1.hash(), p2.hash());
    }

    #[test]
    fn sequence_keeps_one_command_as_is_and_round_trips() {
        let a = LifecycleCommand::Shell("a".into());
        let b = LifecycleCommand::Exec(vec!["b".into()]);
        let empty = LifecycleCommand::Shell(" ".into());
        assert_eq!(LifecycleCommand::sequence([]), None);
        assert_eq!(LifecycleCommand::sequence([empty.clone()]), None);
        assert_eq!(
            LifecycleCommand::sequence([empty, a.clone()]),
            Some(a.clone()),
            "one command keeps its hash"
        );
        let seq = LifecycleCommand::sequence([a.clone(), b.clone()]).unwrap();
        assert_eq!(seq, LifecycleCommand::Sequence(vec![a.clone(), b.clone()]));
        assert_ne!(seq.hash(), a.hash());
        assert_ne!(
            seq.hash(),
            LifecycleCommand::Sequence(vec![b.clone(), a.clone()]).hash(),
            "order counts"
        );
        assert_eq!(seq.argv(), None);
        let json = serde_json::to_string(&seq).unwrap();
        assert_eq!(
            serde_json::from_str::<LifecycleCommand>(&json).unwrap(),
            seq
        );
        let sub = seq.with_container_env(&|_| None);
        assert_eq!(sub, seq);
    }
}
