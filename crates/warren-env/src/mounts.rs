//! The mounts warren adds to every container: the worktree, the main
//! repository's `.git` (so git works inside a linked worktree), its hooks and
//! config read-only (a hook planted by an agent would otherwise run on the
//! host at the user's next commit), the config dirs of the tools the
//! environment uses, and the credential sets it opted into (read-only).
//! Nothing else from the home directory is mounted.

use std::path::{Path, PathBuf};

use warren_core::tools;
use warren_runtime::{Mount, MountKind};

/// Inputs for [`system_mounts`].
#[derive(Debug, Clone)]
pub struct MountContext<'a> {
    pub worktree: &'a Path,
    pub workspace_folder: &'a str,
    /// The main repository's `.git` directory.
    pub git_dir: &'a Path,
    /// The user's home on the host.
    pub host_home: Option<&'a Path>,
    /// Home of the user inside the environment.
    pub container_home: &'a str,
    pub tools: &'a [String],
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

/// Computes the system mounts. Creates `.git/hooks` if missing so it can be
/// mounted read-only.
pub fn system_mounts(ctx: &MountContext<'_>) -> SystemMounts {
    let mut out = SystemMounts::default();
    out.mounts
        .push(bind(ctx.worktree, ctx.workspace_folder, false));
    let git_dir = ctx.git_dir.to_string_lossy().into_owned();
    out.mounts.push(bind(ctx.git_dir, &git_dir, false));
    let hooks = ctx.git_dir.join("hooks");
    if !hooks.exists() {
        let _ = std::fs::create_dir_all(&hooks);
    }
    if hooks.is_dir() {
        out.mounts
            .push(bind(&hooks, &format!("{git_dir}/hooks"), true));
    }
    let config = ctx.git_dir.join("config");
    if config.is_file() {
        out.mounts
            .push(bind(&config, &format!("{git_dir}/config"), true));
    }

    let Some(home) = ctx.host_home else {
        return out;
    };
    for tool in ctx.tools {
        let Some(info) = tools::tool(tool) else {
            continue;
        };
        for rel in info.config_paths {
            let src = home.join(rel);
            if src.exists() {
                // Tools write session state and refreshed logins here, so
                // these are read-write (unlike credentials).
                out.mounts
                    .push(bind(&src, &format!("{}/{rel}", ctx.container_home), false));
            }
        }
        push_unique(&mut out.passthrough_env, info.credential_env);
    }
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
    fn only_requested_tools_and_credentials() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        for d in [".claude", ".codex", ".ssh", ".aws"] {
            std::fs::create_dir_all(home.join(d)).unwrap();
        }
        std::fs::write(home.join(".claude.json"), "{}").unwrap();
        let git_dir = tmp.path().join("repo/.git");
        std::fs::create_dir_all(&git_dir).unwrap();
        std::fs::write(git_dir.join("config"), "").unwrap();
        let m = system_mounts(&MountContext {
            worktree: &tmp.path().join("wt"),
            workspace_folder: "/workspace",
            git_dir: &git_dir,
            host_home: Some(&home),
            container_home: "/root",
            tools: &["claude".into()],
            credentials: &["ssh".into(), "gpg".into()],
        });
        let targets: Vec<(&str, bool)> = m
            .mounts
            .iter()
            .map(|m| (m.target.as_str(), m.read_only))
            .collect();
        let g = git_dir.to_string_lossy();
        assert_eq!(
            targets,
            vec![
                ("/workspace", false),
                (&*g, false),
                (&*format!("{g}/hooks"), true),
                (&*format!("{g}/config"), true),
                ("/root/.claude", false),
                ("/root/.claude.json", false),
                ("/root/.ssh", true),
            ]
        );
        assert!(
            git_dir.join("hooks").is_dir(),
            "hooks dir created so it can be mounted read-only"
        );
        assert!(m.passthrough_env.contains(&"ANTHROPIC_API_KEY".to_string()));
        assert!(!m.passthrough_env.contains(&"OPENAI_API_KEY".to_string()));
        assert_eq!(m.missing, vec![home.join(".gnupg")]);
    }

    #[test]
    fn homes() {
        assert_eq!(container_home(None), "/root");
        assert_eq!(container_home(Some("node")), "/home/node");
        assert_eq!(container_home(Some("vscode:1000")), "/home/vscode");
    }
}
