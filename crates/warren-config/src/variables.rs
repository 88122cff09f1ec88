//! devcontainer.json variables, substituted as the reference CLI does:
//! `${localEnv:VAR[:default]}` (alias `${env:…}`), `${localWorkspaceFolder}`,
//! `${localWorkspaceFolderBasename}`, `${containerWorkspaceFolder}`,
//! `${containerWorkspaceFolderBasename}` and `${devcontainerId}` when the file
//! is read; `${containerEnv:VAR[:default]}` once the container runs. Only the
//! third `:`-separated segment is a default (`${localEnv:A:b:c}` → `b`); a
//! missing variable without default is empty, a set-but-empty one is empty
//! (not the default); `${localEnv}` and `${containerEnv}` without a name are
//! errors, as in the reference CLI; unknown `${…}` forms are left untouched.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::EnvLookup;

/// Default folder the workspace is mounted at inside an environment.
pub const DEFAULT_WORKSPACE_FOLDER: &str = "/workspace";

/// Values for load-time substitution.
#[derive(Clone, Copy)]
pub struct SubstitutionContext<'a> {
    /// Host environment (`${localEnv:…}`).
    pub local_env: EnvLookup<'a>,
    /// The host folder opened (the worktree, or the repo for validation).
    pub local_workspace_folder: &'a Path,
    /// Where the workspace is inside the environment. `None`: the file's own
    /// `workspaceFolder` (itself substituted first), else
    /// [`DEFAULT_WORKSPACE_FOLDER`].
    pub container_workspace_folder: Option<&'a str>,
    /// `${devcontainerId}`: stable per environment (see [`devcontainer_id`]).
    pub devcontainer_id: &'a str,
}

impl std::fmt::Debug for SubstitutionContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubstitutionContext")
            .field("local_workspace_folder", &self.local_workspace_folder)
            .field(
                "container_workspace_folder",
                &self.container_workspace_folder,
            )
            .field("devcontainer_id", &self.devcontainer_id)
            .finish_non_exhaustive()
    }
}

/// A stable `${devcontainerId}` from an environment's identifying labels
/// (for warren: its worktree, project and name), computed the way the
/// reference CLI does from its labels: SHA-256 of the labels as JSON with
/// sorted keys, written as a base-32 number (`0-9a-v`) padded to 52
/// characters.
pub fn devcontainer_id(labels: &[(&str, &str)]) -> String {
    let map: std::collections::BTreeMap<&str, &str> = labels.iter().copied().collect();
    // A map of strings always serializes.
    let json = serde_json::to_string(&map).unwrap_or_default();
    base32hex_number(&Sha256::digest(json.as_bytes()))
}

/// `bytes` as one big-endian number in base 32 (digits `0-9a-v`), padded
/// with leading zeros to the digits 256 bits need (52): what JavaScript's
/// `BigInt(hex).toString(32).padStart(52, "0")` gives.
fn base32hex_number(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    let total_bits = bytes.len() * 8;
    let digits = total_bits.div_ceil(5);
    // Leading zero bits so the groups of 5 end at the last bit.
    let pad = digits * 5 - total_bits;
    let bit = |i: usize| -> u8 {
        if i < pad {
            return 0;
        }
        let i = i - pad;
        (bytes[i / 8] >> (7 - i % 8)) & 1
    };
    (0..digits)
        .map(|d| {
            let v = (0..5).fold(0u8, |acc, b| (acc << 1) | bit(d * 5 + b));
            DIGITS[usize::from(v)] as char
        })
        .collect()
}

/// A variable that cannot be resolved (the reference CLI's error cases).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableError {
    /// The variable as written, e.g. `${localEnv}`.
    pub variable: String,
    pub message: String,
    pub hint: String,
}

/// What to do with one `${…}`.
enum Resolution {
    Value(String),
    /// Not ours (yet): left as written.
    Leave,
    Error(VariableError),
}

/// Replaces every `${…}` in `s` that `f` resolves; leaves the others as
/// written. Like the reference CLI, a variable ends at the first `}`. The
/// first error stops it.
fn replace_vars(s: &str, f: &dyn Fn(&str) -> Resolution) -> Result<String, VariableError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let inner = &after[..end];
                match f(inner) {
                    Resolution::Value(v) => out.push_str(&v),
                    Resolution::Leave => {
                        out.push_str("${");
                        out.push_str(inner);
                        out.push('}');
                    }
                    Resolution::Error(e) => return Err(e),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// `${prefix:VAR[:default[:ignored…]]}`: the value (set-but-empty stays
/// empty), else the default, else "". Without any `:` segment (`${localEnv}`)
/// it is an error, as in the reference; `${localEnv:}` names the empty
/// variable, which is never set, so it is "".
fn lookup_with_default(
    prefix: &str,
    args: &[&str],
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Resolution {
    let Some(name) = args.first() else {
        return Resolution::Error(VariableError {
            variable: format!("${{{prefix}}}"),
            message: format!("`${{{prefix}}}` cannot be resolved: it names no variable"),
            hint: format!("write `${{{prefix}:NAME}}` or `${{{prefix}:NAME:default}}`"),
        });
    };
    let value = if name.is_empty() { None } else { lookup(name) };
    Resolution::Value(value.unwrap_or_else(|| args.get(1).copied().unwrap_or("").to_string()))
}

fn basename(p: &str) -> String {
    Path::new(p)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Substitutes the load-time variables in `s`; `container_workspace_folder`
/// is the resolved folder inside the environment. `${containerEnv:…}` is
/// left for [`substitute_container_env`] (but `${containerEnv}` without a
/// name is reported now, while there is a file position to show).
pub(crate) fn substitute_local(
    s: &str,
    ctx: &SubstitutionContext<'_>,
    container_workspace_folder: &str,
) -> Result<String, VariableError> {
    let local = ctx.local_workspace_folder.to_string_lossy().into_owned();
    let env = |k: &str| (ctx.local_env)(k);
    replace_vars(s, &|inner| {
        let args: Vec<&str> = inner.split(':').collect();
        match args[0] {
            "env" | "localEnv" => lookup_with_default(args[0], &args[1..], &env),
            "localWorkspaceFolder" => Resolution::Value(local.clone()),
            "localWorkspaceFolderBasename" => Resolution::Value(basename(&local)),
            "containerWorkspaceFolder" => Resolution::Value(container_workspace_folder.to_string()),
            "containerWorkspaceFolderBasename" => {
                Resolution::Value(basename(container_workspace_folder))
            }
            "devcontainerId" => Resolution::Value(ctx.devcontainer_id.to_string()),
            "containerEnv" if args.len() == 1 => {
                lookup_with_default("containerEnv", &[], &|_| None)
            }
            _ => Resolution::Leave,
        }
    })
}

/// Resolves `${containerEnv:VAR}` and `${containerEnv:VAR:default}` with the
/// running container's environment; everything else is left as is. Call it
/// on values from [`crate::Effective`] (remoteEnv, lifecycle commands…) once
/// the container exists. (`${containerEnv}` without a name was reported
/// when the file was read; here it stays as written.)
pub fn substitute_container_env(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let replaced = replace_vars(s, &|inner| {
        let args: Vec<&str> = inner.split(':').collect();
        match args[0] {
            "containerEnv" if args.len() > 1 => lookup_with_default(args[0], &args[1..], lookup),
            _ => Resolution::Leave,
        }
    });
    replaced.unwrap_or_else(|_| s.to_string())
}

/// The container workspace folder used for substitution: the context's,
/// else the file's `workspaceFolder` (substituted), else the default.
pub(crate) fn container_folder(ctx: &SubstitutionContext<'_>, from_file: Option<&str>) -> PathBuf {
    match (ctx.container_workspace_folder, from_file) {
        (Some(c), _) => PathBuf::from(c),
        (None, Some(f)) => PathBuf::from(
            // An error here is reported when the field itself is substituted.
            substitute_local(f, ctx, DEFAULT_WORKSPACE_FOLDER).unwrap_or_else(|_| f.to_string()),
        ),
        (None, None) => PathBuf::from(DEFAULT_WORKSPACE_FOLDER),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/me".into()),
            "EMPTY" => Some(String::new()),
            "WITH_COLON" => Some("a:b".into()),
            _ => None,
        }
    }

    fn ctx() -> SubstitutionContext<'static> {
        SubstitutionContext {
            local_env: &env,
            local_workspace_folder: Path::new("/src/my-app"),
            container_workspace_folder: Some("/workspaces/app"),
            devcontainer_id: "abc123",
        }
    }

    fn sub(s: &str) -> String {
        substitute_local(s, &ctx(), "/workspaces/app").unwrap()
    }

    fn sub_err(s: &str) -> VariableError {
        substitute_local(s, &ctx(), "/workspaces/app").unwrap_err()
    }

    #[test]
    fn local_env_forms() {
        assert_eq!(sub("${localEnv:HOME}/x"), "/home/me/x");
        assert_eq!(sub("${env:HOME}"), "/home/me");
        assert_eq!(sub("${localEnv:NOPE}"), "");
        assert_eq!(sub("${localEnv:NOPE:fallback}"), "fallback");
        // Only the third segment is the default.
        assert_eq!(sub("${localEnv:NOPE:a:b}"), "a");
        assert_eq!(sub("${localEnv:NOPE:}"), "");
        // A set-but-empty variable is empty, not the default.
        assert_eq!(sub("${localEnv:EMPTY:d}"), "");
        assert_eq!(sub("${localEnv:WITH_COLON}"), "a:b");
        // An empty name is a variable that is never set (the reference's "").
        assert_eq!(sub("a${localEnv:}b"), "ab");
        assert_eq!(sub("${env::d}"), "d");
    }

    #[test]
    fn a_variable_without_a_name_is_an_error() {
        for (text, var) in [
            ("x ${localEnv} y", "${localEnv}"),
            ("${env}", "${env}"),
            ("${containerEnv}", "${containerEnv}"),
        ] {
            let e = sub_err(text);
            assert_eq!(e.variable, var, "{text}");
            assert!(e.message.contains("names no variable"), "{e:?}");
            assert!(e.hint.contains(":NAME}"), "{e:?}");
        }
        // At run time a nameless one stays as written (it was reported at load).
        let none = |_: &str| None;
        assert_eq!(
            substitute_container_env("${containerEnv}", &none),
            "${containerEnv}"
        );
        assert_eq!(substitute_container_env("a${containerEnv:}b", &none), "ab");
    }

    #[test]
    fn folders_and_id() {
        assert_eq!(sub("${localWorkspaceFolder}"), "/src/my-app");
        assert_eq!(sub("${localWorkspaceFolderBasename}"), "my-app");
        assert_eq!(sub("${containerWorkspaceFolder}/x"), "/workspaces/app/x");
        assert_eq!(sub("${containerWorkspaceFolderBasename}"), "app");
        assert_eq!(sub("vol-${devcontainerId}"), "vol-abc123");
    }

    #[test]
    fn unknown_and_container_forms_are_left() {
        assert_eq!(sub("${containerEnv:PATH}:/x"), "${containerEnv:PATH}:/x");
        assert_eq!(
            sub("${unknown} ${ unterminated"),
            "${unknown} ${ unterminated"
        );
        assert_eq!(sub("$HOME ${HOME}"), "$HOME ${HOME}");
        assert_eq!(
            sub("a ${localEnv:HOME} b ${localEnv:HOME}"),
            "a /home/me b /home/me"
        );
    }

    #[test]
    fn container_env() {
        let lookup = |k: &str| (k == "PATH").then(|| "/usr/bin".to_string());
        assert_eq!(
            substitute_container_env("${containerEnv:PATH}:/x", &lookup),
            "/usr/bin:/x"
        );
        assert_eq!(
            substitute_container_env("${containerEnv:NOPE}", &lookup),
            ""
        );
        assert_eq!(
            substitute_container_env("${containerEnv:NOPE:/d:e}", &lookup),
            "/d"
        );
        assert_eq!(
            substitute_container_env("${localEnv:HOME}", &lookup),
            "${localEnv:HOME}"
        );
    }

    #[test]
    fn container_folder_choice() {
        let mut c = ctx();
        assert_eq!(
            container_folder(&c, Some("/w")),
            PathBuf::from("/workspaces/app")
        );
        c.container_workspace_folder = None;
        assert_eq!(
            container_folder(&c, Some("/w/${localWorkspaceFolderBasename}")),
            PathBuf::from("/w/my-app")
        );
        assert_eq!(container_folder(&c, None), PathBuf::from("/workspace"));
    }

    #[test]
    fn ids_are_stable_and_spec_shaped() {
        let a = devcontainer_id(&[("warren.project", "myapp"), ("warren.name", "fluffy-otter")]);
        assert_eq!(a.len(), 52);
        // Label order does not matter (sorted, as the reference does).
        assert_eq!(
            a,
            devcontainer_id(&[("warren.name", "fluffy-otter"), ("warren.project", "myapp")])
        );
        assert_ne!(
            a,
            devcontainer_id(&[("warren.project", "myapp"), ("warren.name", "other")])
        );
        assert!(
            a.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='v').contains(&c)),
            "{a}"
        );
    }

    #[test]
    fn id_matches_the_reference_for_the_same_labels() {
        // devcontainers/cli `devcontainerIdForLabels` for these labels
        // (computed with node from its code).
        let id = devcontainer_id(&[
            ("devcontainer.local_folder", "/w"),
            (
                "devcontainer.config_file",
                "/w/.devcontainer/devcontainer.json",
            ),
        ]);
        assert_eq!(id, "0gn1u8u55qadm6uv071vp3trcdti1b3nvgm3pmh0k3hqn6pk3vhi");
    }
}
