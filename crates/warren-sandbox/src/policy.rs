//! `Policy`: what one sandboxed command may see and do. Plain data (serde), so the
//! caller can hand it to the `warren __sandbox` helper through a pipe.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Layer, SandboxError};

/// Network access of the sandbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// Share the host's network namespace (services answer on the host's loopback).
    #[default]
    Host,
    /// An empty network namespace, plus Landlock TCP bind/connect denial where the
    /// kernel supports it (ABI 4+).
    None,
    /// The environment's own network namespace with only its loopback (up): services
    /// listen there, and warren's network daemon (see [`Policy::net_dir`]) holds the
    /// sockets that connect it to the world — the egress proxy's listener and the
    /// router's connections to its services.
    Isolated,
}

impl Network {
    /// Whether the sandbox gets a network namespace of its own.
    pub fn own_namespace(self) -> bool {
        self != Network::Host
    }
}

/// Paths (relative to the worktree) that are always read-only, whether they exist or
/// not (docs/SECURITY.md, "The sandbox"): files the host side (git, editors, AI tools,
/// shells, CI) would later trust or run. None is ever created in the worktree on the
/// host: on Linux the ones that do not exist are shown as empty read-only directories by
/// the worktree's overlay (`linux/overlay.rs`); seatbelt denies writes to them by path.
/// Names that do not exist must be listed one by one (nothing can be mounted on a
/// pattern), hence both real `.claude/settings*.json` names.
pub const PROTECTED_WORKTREE_NAMES: &[&str] = &[
    ".gitmodules",
    ".mcp.json",
    ".vscode",
    ".idea",
    ".claude/commands",
    ".claude/agents",
    ".claude/settings.json",
    ".claude/settings.local.json",
    ".gemini/settings.json",
    ".codex/config.toml",
    ".cursor/mcp.json",
    ".envrc",
    ".husky",
    ".github/workflows",
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".profile",
    ".zshrc",
    ".zshenv",
    ".zprofile",
    ".zlogin",
];

/// Everything one sandboxed command may see and do.
///
/// Host paths appear inside at the same absolute path, except `tmp_dir` (appears at
/// `/tmp`) and `home_dir` (appears at `home`). Missing `read_only`/`read_write`/`sockets`
/// entries are skipped (tool dirs are optional); a missing worktree is an error. The
/// main repository's objects, which an environment's own repository borrows through
/// `objects/info/alternates`, are one of the `read_only` paths like any other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Environment name; the hostname inside.
    pub name: String,
    /// The worktree, read-write (unless `worktree_read_only`), at its host path.
    pub worktree: PathBuf,
    /// Show the worktree read-only: a plain recursive read-only bind, no overlay, no
    /// writable `.git` (an environment on the project's main checkout, `manager`).
    /// Nothing inside it is writable, protected paths included; `read_write` paths
    /// elsewhere stay writable.
    #[serde(default)]
    pub worktree_read_only: bool,
    /// Host dir shown at `/tmp` (per environment, shared by its commands).
    pub tmp_dir: PathBuf,
    /// Host dir shown at `home` (per environment, shared by its commands).
    pub home_dir: PathBuf,
    /// `$HOME` inside (usually the user's real home path, so tool paths match).
    pub home: PathBuf,
    /// An environment of one command (`warren run --rm -- CMD` with nothing to run
    /// before it): `/tmp` and `$HOME` are fresh tmpfs mounts that end with the command
    /// instead of `tmp_dir`/`home_dir`, which are then never created.
    #[serde(default)]
    pub scratch: bool,
    /// Extra read-only paths (tool config dirs, opted-in credentials).
    #[serde(default)]
    pub read_only: Vec<PathBuf>,
    /// Extra read-write paths.
    #[serde(default)]
    pub read_write: Vec<PathBuf>,
    /// Network access.
    #[serde(default)]
    pub network: Network,
    /// The command's exact environment (nothing is inherited).
    #[serde(default)]
    pub env: Vec<(String, String)>,
    /// Working directory inside.
    pub cwd: PathBuf,
    /// Granted host unix sockets (none by default), bound at their host paths.
    #[serde(default)]
    pub sockets: Vec<PathBuf>,
    /// Extra always-read-only paths inside the worktree, treated like
    /// [`PROTECTED_WORKTREE_NAMES`].
    #[serde(default)]
    pub protect: Vec<PathBuf>,
    /// Per-environment state dir, on the worktree's mount (required on Linux: the
    /// worktree's overlay keeps its skeleton and work dirs here). Running instances are
    /// registered in it (`run-<pid>.json`) so [`crate::stop_all`] can end every process of the
    /// environment.
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    /// Where the worktree's overlay keeps its layers when environments share them
    /// (`state_dir/overlay` when unset); on the worktree's mount. Skeletons are named
    /// after their content and never changed once made, and a work dir is claimed
    /// with a lock while an overlay uses it, so what one environment made serves the
    /// next without a directory created or removed.
    #[serde(default)]
    pub overlay_dir: Option<PathBuf>,
    /// The environment's network daemon dir (`ROOT/net/<name>`): when set and the
    /// network is not the host's, the sandbox that creates the environment's network
    /// namespace forks the daemon registered with [`crate::set_net_daemon`] and hands it
    /// the namespace (and, for [`Network::Isolated`], a listener on the namespace's
    /// loopback for the egress proxy).
    #[serde(default)]
    pub net_dir: Option<PathBuf>,
    /// Limits of the environment: memory, CPU and pids through a cgroup shared by all
    /// its commands (`linux/cgroup.rs`), the size of its tmpfs mounts. None by default
    /// (and in policies stored before limits existed).
    #[serde(default)]
    pub resources: warren_core::Resources,
    /// Give the command a terminal of its own: a new pseudo-terminal of the sandbox's
    /// `/dev/pts`, its controlling terminal, which the helper connects to the helper's
    /// own stdin and stdout (put in raw mode while the command runs) and whose window
    /// size follows theirs. The caller's terminal itself never reaches the command, so
    /// TIOCSTI (refused by seccomp anyway) could only ever type into the sandbox's pty.
    #[serde(default)]
    pub tty: bool,
    /// Test hook: make this layer fail as if the kernel refused it. It can only make a
    /// run fail, never weaken one, so honouring it in production is harmless.
    #[doc(hidden)]
    #[serde(default)]
    pub fail_layer: Option<Layer>,
    /// Accepted and ignored. Policies stored before each environment owned its
    /// repository (in `env.json`) name the main repository's `.git` here, which was then
    /// mounted read-write; they still load, and that directory is now shown only as far
    /// as `read_only`/`read_write` say.
    #[serde(default, rename = "git_dir", skip_serializing)]
    #[allow(dead_code)] // read by serde only
    legacy_git_dir: Option<PathBuf>,
}

impl Policy {
    /// A policy with the given name and worktree, private dirs under `env_dir`
    /// (`env_dir/tmp`, `env_dir/home`, state in `env_dir`), `$HOME` at `home`, cwd at
    /// the worktree, host network and an empty environment.
    pub fn new(name: &str, worktree: &Path, env_dir: &Path, home: &Path) -> Policy {
        Policy {
            name: name.to_string(),
            worktree: worktree.to_path_buf(),
            worktree_read_only: false,
            tmp_dir: env_dir.join("tmp"),
            home_dir: env_dir.join("home"),
            home: home.to_path_buf(),
            scratch: false,
            read_only: Vec::new(),
            read_write: Vec::new(),
            network: Network::Host,
            env: Vec::new(),
            cwd: worktree.to_path_buf(),
            sockets: Vec::new(),
            protect: Vec::new(),
            state_dir: Some(env_dir.to_path_buf()),
            overlay_dir: None,
            net_dir: None,
            resources: warren_core::Resources::default(),
            tty: false,
            fail_layer: None,
            legacy_git_dir: None,
        }
    }

    /// Checks what can be checked without touching the filesystem: absolute, normal
    /// paths, a usable hostname, env names without `=`/NUL.
    pub fn validate(&self) -> Result<(), SandboxError> {
        let bad = |what: String| Err(SandboxError::layer(Layer::Policy, what));
        if self.name.is_empty()
            || self.name.len() > 64
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            return bad(format!(
                "`{}` is not a valid hostname (1-64 of [A-Za-z0-9._-])",
                self.name
            ));
        }
        let mut paths: Vec<(&str, &Path)> = vec![
            ("worktree", &self.worktree),
            ("tmp_dir", &self.tmp_dir),
            ("home_dir", &self.home_dir),
            ("home", &self.home),
            ("cwd", &self.cwd),
        ];
        if let Some(state) = &self.state_dir {
            paths.push(("state_dir", state));
        }
        paths.extend(self.read_only.iter().map(|p| ("read_only", p.as_path())));
        paths.extend(self.read_write.iter().map(|p| ("read_write", p.as_path())));
        paths.extend(self.sockets.iter().map(|p| ("sockets", p.as_path())));
        paths.extend(self.protect.iter().map(|p| ("protect", p.as_path())));
        for (field, path) in paths {
            if !is_normal_absolute(path) {
                return bad(format!(
                    "{field} `{}` must be an absolute path without `.`/`..` components",
                    path.display()
                ));
            }
        }
        for system in [
            "/", "/usr", "/etc", "/proc", "/dev", "/tmp", "/bin", "/lib", "/sbin",
        ] {
            if self.worktree == Path::new(system)
                || self.read_write.iter().any(|p| p == Path::new(system))
            {
                return bad(format!("`{system}` cannot be made writable"));
            }
        }
        for (key, value) in &self.env {
            if key.is_empty() || key.contains('=') || key.contains('\0') || value.contains('\0') {
                return bad(format!(
                    "invalid environment variable name or value for `{key}`"
                ));
            }
        }
        for p in &self.protect {
            if p == &self.worktree || !p.starts_with(&self.worktree) {
                return bad(format!(
                    "protected path `{}` is not inside the worktree `{}`",
                    p.display(),
                    self.worktree.display()
                ));
            }
        }
        Ok(())
    }

    /// Every always-read-only path of this policy, inside the worktree: the names of
    /// [`PROTECTED_WORKTREE_NAMES`], then `protect`, without duplicates.
    pub fn protected_paths(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        let names = PROTECTED_WORKTREE_NAMES
            .iter()
            .map(|n| self.worktree.join(n));
        for p in names.chain(self.protect.iter().cloned()) {
            if !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }

    /// The value of an env var of the policy.
    pub fn env_var(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Directories strictly between `root` and `path` (outermost first). Each must be made
/// a mount point so that it cannot be renamed away and back (a rename moves the mounts
/// beneath it along, leaving a writable path where the protected one was).
pub fn ancestors_between(root: &Path, path: &Path) -> Vec<PathBuf> {
    let Ok(rel) = path.strip_prefix(root) else {
        return Vec::new();
    };
    let comps: Vec<_> = rel.components().collect();
    let mut out = Vec::new();
    let mut cur = root.to_path_buf();
    for c in comps.iter().take(comps.len().saturating_sub(1)) {
        cur.push(c);
        out.push(cur.clone());
    }
    out
}

fn is_normal_absolute(path: &Path) -> bool {
    path.is_absolute()
        && path
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        let mut p = Policy::new(
            "fluffy-otter",
            Path::new("/w/wt"),
            Path::new("/w/env"),
            Path::new("/root"),
        );
        p.read_only.push(PathBuf::from("/w/repo/.git/objects"));
        p
    }

    #[test]
    fn validates_paths_and_name() {
        assert!(policy().validate().is_ok());
        let mut p = policy();
        p.worktree = PathBuf::from("relative");
        assert!(p.validate().is_err());
        let mut p = policy();
        p.cwd = PathBuf::from("/w/wt/../x");
        assert!(p.validate().is_err());
        let mut p = policy();
        p.name = "a b".into();
        assert!(p.validate().is_err());
        let mut p = policy();
        p.read_write.push(PathBuf::from("/usr"));
        assert!(
            p.validate()
                .unwrap_err()
                .to_string()
                .contains("cannot be made writable")
        );
        let mut p = policy();
        p.protect.push(PathBuf::from("/elsewhere/x"));
        assert!(p.validate().is_err());
        let mut p = policy();
        p.protect.push(PathBuf::from("/w/wt"));
        assert!(
            p.validate().is_err(),
            "the worktree itself is not a protected path"
        );
        let mut p = policy();
        p.protect.push(PathBuf::from("/w/wt/Makefile"));
        assert!(p.validate().is_ok());
    }

    #[test]
    fn protected_paths_cover_design_list() {
        let mut p = policy();
        p.protect.push(PathBuf::from("/w/wt/.mcp.json"));
        p.protect.push(PathBuf::from("/w/wt/Makefile"));
        let paths = p.protected_paths();
        for want in [
            "/w/wt/.mcp.json",
            "/w/wt/.gitmodules",
            "/w/wt/.bashrc",
            "/w/wt/.claude/commands",
            "/w/wt/.claude/agents",
            "/w/wt/.claude/settings.json",
            "/w/wt/.claude/settings.local.json",
            "/w/wt/.gemini/settings.json",
            "/w/wt/.codex/config.toml",
            "/w/wt/.cursor/mcp.json",
            "/w/wt/.envrc",
            "/w/wt/.husky",
            "/w/wt/.github/workflows",
            "/w/wt/Makefile",
        ] {
            assert!(paths.contains(&PathBuf::from(want)), "{want}");
        }
        assert_eq!(
            paths.len(),
            PROTECTED_WORKTREE_NAMES.len() + 1,
            "no duplicates"
        );
        assert!(
            paths.iter().all(|p| !p.starts_with("/w/repo")),
            "nothing of the main repository is special any more"
        );
    }

    #[test]
    fn ancestors_are_strictly_between() {
        let a = ancestors_between(Path::new("/w/wt"), Path::new("/w/wt/.claude/commands"));
        assert_eq!(a, vec![PathBuf::from("/w/wt/.claude")]);
        assert!(ancestors_between(Path::new("/w/wt"), Path::new("/w/wt/.mcp.json")).is_empty());
    }

    #[test]
    fn a_stored_policy_with_a_git_dir_still_loads() {
        let mut json = serde_json::to_value(policy()).unwrap();
        assert!(json.get("git_dir").is_none(), "never written");
        json["git_dir"] = serde_json::json!("/w/repo/.git");
        let back: Policy = serde_json::from_value(json).unwrap();
        assert!(back.read_write.is_empty() && !back.read_only.contains(&"/w/repo/.git".into()));
        let mut typo = serde_json::to_value(policy()).unwrap();
        typo["read_olny"] = serde_json::json!([]);
        assert!(
            serde_json::from_value::<Policy>(typo).is_err(),
            "other unknown fields are errors"
        );
    }

    #[test]
    fn json_round_trip() {
        let mut p = policy();
        p.env.push(("A".into(), "b".into()));
        p.network = Network::None;
        let json = serde_json::to_string(&p).unwrap();
        let back: Policy = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
    }
}
