//! devcontainer.json variables, substituted as the reference CLI does:
//! `${localEnv:VAR[:default]}` (alias `${env:…}`), `${localWorkspaceFolder}`,
//! `${localWorkspaceFolderBasename}`, `${containerWorkspaceFolder}`,
//! `${containerWorkspaceFolderBasename}` and `${devcontainerId}` when the file
//! is read; `${containerEnv:VAR[:default]}` once the container runs. Only the
//! third `:`-separated segment is a default (`${localEnv:A:b:c}` → `b`); a
//! missing variable without default is empty; unknown `${…}` forms are left
//! untouched.

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

/// A stable `${devcontainerId}` from identifying parts (e.g. project and
/// environment name): 52 lowercase base-32 characters of their SHA-256, the
/// shape the spec gives.
pub fn devcontainer_id(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    base32(&h.finalize())
}

fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Replaces every `${…}` in `s` for which `f` returns a value; leaves the
/// others as written. Like the reference CLI, a variable ends at the first `}`.
fn replace_vars(s: &str, f: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let inner = &after[..end];
                match f(inner) {
                    Some(v) => out.push_str(&v),
                    None => {
                        out.push_str("${");
                        out.push_str(inner);
                        out.push('}');
                    }
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
    out
}

/// `VAR[:default[:ignored…]]` after the prefix → value, default or "".
fn lookup_with_default(args: &[&str], lookup: EnvLookup<'_>) -> Option<String> {
    let name = args.first().filter(|n| !n.is_empty())?;
    let default = args.get(1).copied().unwrap_or("");
    Some(lookup(name).unwrap_or_else(|| default.to_string()))
}

fn basename(p: &str) -> String {
    Path::new(p)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Substitutes the load-time variables in `s`; `container_workspace_folder`
/// is the resolved folder inside the environment.
pub(crate) fn substitute_local(
    s: &str,
    ctx: &SubstitutionContext<'_>,
    container_workspace_folder: &str,
) -> String {
    let local = ctx.local_workspace_folder.to_string_lossy().into_owned();
    replace_vars(s, &|inner| {
        let args: Vec<&str> = inner.split(':').collect();
        match args[0] {
            "env" | "localEnv" => lookup_with_default(&args[1..], ctx.local_env),
            "localWorkspaceFolder" => Some(local.clone()),
            "localWorkspaceFolderBasename" => Some(basename(&local)),
            "containerWorkspaceFolder" => Some(container_workspace_folder.to_string()),
            "containerWorkspaceFolderBasename" => Some(basename(container_workspace_folder)),
            "devcontainerId" => Some(ctx.devcontainer_id.to_string()),
            _ => None,
        }
    })
}

/// Resolves `${containerEnv:VAR}` and `${containerEnv:VAR:default}` with the
/// running container's environment; everything else is left as is. Call it
/// on values from [`crate::Effective`] (remoteEnv, lifecycle commands…) once
/// the container exists.
pub fn substitute_container_env(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    replace_vars(s, &|inner| {
        let args: Vec<&str> = inner.split(':').collect();
        match args[0] {
            "containerEnv" => lookup_with_default(&args[1..], lookup),
            _ => None,
        }
    })
}

/// The container workspace folder used for substitution: the context's,
/// else the file's `workspaceFolder` (substituted), else the default.
pub(crate) fn container_folder(ctx: &SubstitutionContext<'_>, from_file: Option<&str>) -> PathBuf {
    match (ctx.container_workspace_folder, from_file) {
        (Some(c), _) => PathBuf::from(c),
        (None, Some(f)) => PathBuf::from(substitute_local(f, ctx, DEFAULT_WORKSPACE_FOLDER)),
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
        substitute_local(s, &ctx(), "/workspaces/app")
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
        // No name: left as written.
        assert_eq!(sub("${localEnv}"), "${localEnv}");
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
        let a = devcontainer_id(&["myapp", "fluffy-otter"]);
        assert_eq!(a.len(), 52);
        assert_eq!(a, devcontainer_id(&["myapp", "fluffy-otter"]));
        assert_ne!(a, devcontainer_id(&["myapp", "other"]));
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || ('2'..='7').contains(&c))
        );
    }
}
