//! [`Settings`]: everything warren takes from its own environment — the
//! `WARREN_*` variables and the global `config.yaml` they override — read
//! once per command and handed to the services as typed values. This is
//! the one place that knows every such variable and key (the names live in
//! `warren_core::vars`); nothing else reads them.

use std::path::{Path, PathBuf};

use warren_core::vars;

use crate::EnvLookup;
use crate::diagnostic::{ConfigError, Diagnostic};
use crate::global::{GlobalConfig, load_global};

/// What a command knows about warren's own configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The warren root: `WARREN_ROOT` (relative to the working directory
    /// when relative), else `~/.warren`.
    pub root: PathBuf,
    /// `config.yaml` with its `WARREN_*` overrides applied.
    pub global: GlobalConfig,
    /// The `config.yaml` that was read, if one exists.
    pub config_file: Option<PathBuf>,
    /// Warnings about `config.yaml` (errors fail [`Settings::load`]).
    pub warnings: Vec<Diagnostic>,
    /// `WARREN_LOG`: the tracing filter for `--verbose`.
    pub log_filter: Option<String>,
    /// `WARREN_BIN`: the `warren` binary servers start as a subprocess
    /// (`warren exec`, `warren proxy serve`); default: the running one.
    pub warren_bin: Option<PathBuf>,
    /// `NO_COLOR` is set (to anything but the empty string).
    pub no_color: bool,
}

impl Settings {
    /// Reads the environment through `env` and the global config under the
    /// root. `cwd` anchors a relative `WARREN_ROOT`. Every problem with the
    /// file or a variable is reported at once.
    pub fn load(
        env: EnvLookup<'_>,
        home: Option<&Path>,
        cwd: &Path,
    ) -> Result<Settings, ConfigError> {
        let root = root(env, home, cwd)?;
        let loaded = load_global(&root, env)?;
        let set = |k: &str| env(k).filter(|v| !v.is_empty());
        Ok(Settings {
            root,
            global: loaded.value,
            config_file: loaded.path,
            warnings: loaded.warnings,
            log_filter: set(vars::WARREN_LOG),
            warren_bin: set(vars::WARREN_BIN).map(PathBuf::from),
            no_color: set(vars::NO_COLOR).is_some(),
        })
    }

    /// Defaults for a root, as if no variable and no `config.yaml` were set
    /// (tests and tools that build settings by hand).
    pub fn with_root(root: &Path) -> Settings {
        Settings {
            root: root.to_path_buf(),
            global: GlobalConfig::default(),
            config_file: None,
            warnings: Vec::new(),
            log_filter: None,
            warren_bin: None,
            no_color: false,
        }
    }

    /// The binary to run for `tool`: `WARREN_TOOL_<NAME>_BIN`, else
    /// `tools.<name>.bin` in `config.yaml`, else the tool's own name (looked
    /// up on PATH where it runs).
    pub fn tool_bin(&self, tool: &str) -> String {
        self.global
            .tools
            .get(tool)
            .and_then(|t| t.bin.clone())
            .unwrap_or_else(|| {
                warren_core::tools::tool(tool)
                    .map(|i| i.binary.to_string())
                    .unwrap_or_else(|| tool.to_string())
            })
    }

    /// The `warren` binary servers run: `WARREN_BIN`, else this executable.
    pub fn warren_exe(&self) -> PathBuf {
        self.warren_bin
            .clone()
            .or_else(|| std::env::current_exe().ok())
            .unwrap_or_else(|| PathBuf::from("warren"))
    }
}

/// `WARREN_ROOT` (absolute, or relative to `cwd`), else `HOME/.warren`.
fn root(env: EnvLookup<'_>, home: Option<&Path>, cwd: &Path) -> Result<PathBuf, ConfigError> {
    if let Some(r) = env(vars::WARREN_ROOT).filter(|v| !v.is_empty()) {
        let p = PathBuf::from(r);
        return Ok(if p.is_absolute() { p } else { cwd.join(p) });
    }
    match home {
        Some(h) => Ok(h.join(".warren")),
        None => Err(ConfigError::one(
            Diagnostic::env_error("HOME", "HOME is not set, so warren has no root directory")
                .with_hint("set `WARREN_ROOT` to choose where warren keeps its state"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::time::Duration;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn every_variable_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.yaml"),
            "proxy: {port: 9123, idle_seconds: 2.5}\ntools: {codex: {bin: /file/codex}}\n",
        )
        .unwrap();
        let env = env_of(&[
            ("WARREN_ROOT", "r"),
            ("WARREN_LOG", "warren=trace"),
            ("WARREN_BIN", "/x/warren"),
            ("NO_COLOR", "1"),
            ("WARREN_TOOL_GEMINI_BIN", "/env/gemini"),
        ]);
        let s = Settings::load(&env, None, dir.path()).unwrap();
        assert_eq!(s.root, dir.path().join("r"));
        // The root named by WARREN_ROOT has no config.yaml.
        assert_eq!(s.global.proxy.port, 8080);
        let s = Settings::load(
            &env_of(&[
                ("WARREN_ROOT", &dir.path().to_string_lossy()),
                ("WARREN_TOOL_GEMINI_BIN", "/env/gemini"),
            ]),
            None,
            Path::new("/"),
        )
        .unwrap();
        assert_eq!(s.global.proxy.port, 9123);
        assert_eq!(s.global.proxy.idle, Duration::from_millis(2500));
        assert_eq!(s.config_file, Some(dir.path().join("config.yaml")));
        assert_eq!(s.tool_bin("codex"), "/file/codex");
        assert_eq!(s.tool_bin("gemini"), "/env/gemini");
        assert_eq!(s.tool_bin("claude"), "claude");
        let s = Settings::load(&env, Some(Path::new("/h")), Path::new("/")).unwrap();
        assert_eq!(s.log_filter.as_deref(), Some("warren=trace"));
        assert_eq!(s.warren_bin, Some(PathBuf::from("/x/warren")));
        assert!(s.no_color);
    }

    #[test]
    fn root_from_home_and_no_home() {
        let none = |_: &str| None;
        let s =
            Settings::load(&none, Some(Path::new("/nonexistent-home")), Path::new("/")).unwrap();
        assert_eq!(s.root, Path::new("/nonexistent-home/.warren"));
        let err = Settings::load(&none, None, Path::new("/")).unwrap_err();
        assert_eq!(
            err.diagnostics[0].hint.as_deref(),
            Some("set `WARREN_ROOT` to choose where warren keeps its state")
        );
    }
}
