//! Each environment's private copy of its tools' configuration
//! (docs/SECURITY.md): `ROOT/configs/NAME/`, seeded from an allow-list of
//! the host's files (`ToolInfo::seed_files`), writable by the environment,
//! never copied back. The host's own `~/.claude`, `~/.codex`… are never
//! shown to an environment: an agent could plant a hook or an MCP server
//! there that the user's next run of the tool would execute.

use std::path::{Path, PathBuf};

use warren_core::tools;

/// `ROOT/configs/NAME`.
pub fn private_dir(root: &Path, env: &str) -> PathBuf {
    root.join("configs").join(env)
}

/// Builds the private copy for `tools` and returns, for each of their
/// config paths, `(private source, path relative to $HOME)` to mount.
/// Directories are always made (the tool writes there); a config file is
/// mounted only when the host had one to copy.
pub fn private_config(
    root: &Path,
    env: &str,
    home: &Path,
    tool_names: &[String],
) -> std::io::Result<Vec<(PathBuf, String)>> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let dir = private_dir(root, env);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    let mut mounts = Vec::new();
    for name in tool_names {
        let Some(info) = tools::tool(name) else {
            continue;
        };
        for seed in info.seed_files {
            let src = home.join(seed);
            // Regular files only: a symlink in the user's home could point
            // anywhere, and is not what the allow-list names.
            if !std::fs::symlink_metadata(&src).is_ok_and(|m| m.is_file()) {
                continue;
            }
            let dst = dir.join(seed);
            if let Some(parent) = dst.parent() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)?;
            }
            std::fs::copy(&src, &dst)?;
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o600))?;
        }
        for rel in info.config_paths {
            let private = dir.join(rel);
            let is_file_path = info.seed_files.contains(rel);
            if is_file_path {
                if !private.is_file() {
                    continue;
                }
            } else {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&private)?;
            }
            if !mounts.iter().any(|(_, r): &(PathBuf, String)| r == rel) {
                mounts.push((private, (*rel).to_string()));
            }
        }
    }
    Ok(mounts)
}

/// Removes an environment's private copy.
pub fn remove_private_config(root: &Path, env: &str) {
    let _ = std::fs::remove_dir_all(private_dir(root, env));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_listed_files_are_copied_and_nothing_else() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        std::fs::create_dir_all(home.join(".claude/projects")).unwrap();
        std::fs::write(home.join(".claude/settings.json"), "{\"a\":1}").unwrap();
        std::fs::write(home.join(".claude/projects/history.jsonl"), "secret").unwrap();
        std::fs::write(home.join(".claude.json"), "{}").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", home.join(".claude/CLAUDE.md")).unwrap();
        let root = tmp.path().join("root");
        let mounts = private_config(&root, "otter", &home, &["claude".into()]).unwrap();
        let rels: Vec<&str> = mounts.iter().map(|(_, r)| r.as_str()).collect();
        assert_eq!(rels, [".claude", ".claude.json"]);
        let dir = private_dir(&root, "otter");
        assert_eq!(
            std::fs::read_to_string(dir.join(".claude/settings.json")).unwrap(),
            "{\"a\":1}"
        );
        assert!(
            !dir.join(".claude/projects").exists(),
            "not on the allow-list"
        );
        assert!(
            !dir.join(".claude/CLAUDE.md").exists(),
            "symlinks are not followed"
        );
        // Writes go to the copy, never back to the host.
        std::fs::write(dir.join(".claude/settings.json"), "{\"hooks\":1}").unwrap();
        assert_eq!(
            std::fs::read_to_string(home.join(".claude/settings.json")).unwrap(),
            "{\"a\":1}"
        );
        remove_private_config(&root, "otter");
        assert!(!dir.exists());
    }
}
