//! The mounts warren adds to every container: the environment's tree (with
//! its own repository inside, see [`crate::repo`]), the main repository's
//! object directories read-only (what the environment's git borrows), the
//! environment's private copy of each tool's config (see [`crate::tools`]),
//! and the credential sets it opted into (read-only). Nothing else from the
//! main repository or the home directory is mounted.

use std::path::{Path, PathBuf};

use warren_core::tools;
use warren_runtime::{Mount, MountKind};

/// Inputs for [`system_mounts`].
#[derive(Debug, Clone)]
pub struct MountContext<'a> {
    /// The environment's tree on the host.
    pub worktree: &'a Path,
    pub workspace_folder: &'a str,
    /// The tree is the project's main checkout (`manager`): shown read-only.
    pub main_checkout: bool,
    /// A directory of the environment's own under warren's root, shown
    /// read-write at its host path: where a main-checkout environment's
    /// sessions relay their tools' hooks (the checkout's `.git` is read-only).
    pub relay: Option<&'a Path>,
    /// The main repository's object directories (shown read-only at their
    /// host paths, where the tree's `objects/info/alternates` points).
    pub object_dirs: &'a [PathBuf],
    /// The user's home on the host.
    pub host_home: Option<&'a Path>,
    /// Home of the user inside the environment.
    pub container_home: &'a str,
    pub tools: &'a [String],
    /// The private copies of the tools' config: `(source, path under $HOME)`.
    pub tool_config: &'a [(PathBuf, String)],
    pub credentials: &'a [String],
}

/// Mounts and the names of env vars to pass through from the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemMounts {
    pub mounts: Vec<Mount>,
    pub passthrough_env: Vec<String>,
    /// Host paths that were asked for but do not exist (reported, not fatal).
    pub missing: Vec<PathBuf>,
}

fn bind(source: &Path, target: &str, read_only: bool) -> Mount {
    Mount {
        kind: MountKind::Bind,
        source: source.to_string_lossy().into_owned(),
        target: target.to_string(),
        read_only,
    }
}

/// Home directory of `user` inside a container (root when unset).
pub fn container_home(user: Option<&str>) -> String {
    match user {
        None | Some("") | Some("root") | Some("0") => "/root".to_string(),
        Some(u) => format!("/home/{}", u.split(':').next().unwrap_or(u)),
    }
}

/// Computes the system mounts.
pub fn system_mounts(ctx: &MountContext<'_>) -> SystemMounts {
    let mut out = SystemMounts::default();
    out.mounts
        .push(bind(ctx.worktree, ctx.workspace_folder, ctx.main_checkout));
    if let Some(relay) = ctx.relay {
        out.mounts
            .push(bind(relay, &relay.to_string_lossy(), false));
    }
    for dir in ctx.object_dirs {
        out.mounts.push(bind(dir, &dir.to_string_lossy(), true));
    }
    for (source, rel) in ctx.tool_config {
        out.mounts.push(bind(
            source,
            &format!("{}/{rel}", ctx.container_home),
            false,
        ));
    }
    for tool in ctx.tools {
        if let Some(info) = tools::tool(tool) {
            push_unique(&mut out.passthrough_env, info.credential_env);
        }
    }
    let Some(home) = ctx.host_home else {
        return out;
    };
    for cred in ctx.credentials {
        let Some(info) = tools::credential(cred) else {
            continue;
        };
        let mut found = false;
        for rel in info.paths {
            let src = home.join(rel);
            if src.exists() {
                found = true;
                out.mounts
                    .push(bind(&src, &format!("{}/{rel}", ctx.container_home), true));
            }
        }
        if !found && info.env.is_empty() {
            out.missing.push(home.join(info.paths[0]));
        }
        push_unique(&mut out.passthrough_env, info.env);
    }
    out
}

fn push_unique(list: &mut Vec<String>, names: &[&str]) {
    for n in names {
        if !list.iter().any(|e| e == n) {
            list.push((*n).to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_objects_read_only_private_tool_config_and_opted_in_credentials() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        for d in [".ssh", ".aws"] {
            std::fs::create_dir_all(home.join(d)).unwrap();
        }
        let objects = tmp.path().join("repo/.git/objects");
        let private = tmp.path().join("root/configs/x/.claude");
        let m = system_mounts(&MountContext {
            worktree: &tmp.path().join("wt"),
            workspace_folder: "/workspace",
            main_checkout: false,
            relay: None,
            object_dirs: std::slice::from_ref(&objects),
            host_home: Some(&home),
            container_home: "/root",
            tools: &["claude".into()],
            tool_config: &[(private.clone(), ".claude".into())],
            credentials: &["ssh".into(), "gpg".into()],
        });
        let targets: Vec<(&str, bool)> = m
            .mounts
            .iter()
            .map(|m| (m.target.as_str(), m.read_only))
            .collect();
        let o = objects.to_string_lossy();
        assert_eq!(
            targets,
            vec![
                ("/workspace", false),
                (&*o, true),
                ("/root/.claude", false),
                ("/root/.ssh", true),
            ]
        );
        assert_eq!(m.mounts[2].source, private.to_string_lossy());
        assert!(m.passthrough_env.contains(&"ANTHROPIC_API_KEY".to_string()));
        assert!(!m.passthrough_env.contains(&"OPENAI_API_KEY".to_string()));
        assert_eq!(m.missing, vec![home.join(".gnupg")]);
    }

    #[test]
    fn the_main_checkout_read_only_and_its_relay_dir_read_write() {
        let m = system_mounts(&MountContext {
            worktree: Path::new("/src/app"),
            workspace_folder: "/workspace",
            main_checkout: true,
            relay: Some(Path::new("/root/.warren/relay/manager")),
            object_dirs: &[],
            host_home: None,
            container_home: "/root",
            tools: &[],
            tool_config: &[],
            credentials: &[],
        });
        let got: Vec<(&str, &str, bool)> = m
            .mounts
            .iter()
            .map(|m| (m.source.as_str(), m.target.as_str(), m.read_only))
            .collect();
        assert_eq!(
            got,
            vec![
                ("/src/app", "/workspace", true),
                (
                    "/root/.warren/relay/manager",
                    "/root/.warren/relay/manager",
                    false
                ),
            ]
        );
    }

    #[test]
    fn homes() {
        assert_eq!(container_home(None), "/root");
        assert_eq!(container_home(Some("node")), "/home/node");
        assert_eq!(container_home(Some("vscode:1000")), "/home/vscode");
    }
}
