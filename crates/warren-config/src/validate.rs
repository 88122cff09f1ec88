//! Entry points of `warren validate`: check config files and report every
//! problem (errors and warnings) with file:line:col, without stopping at the
//! first file or the first error.

use std::path::{Path, PathBuf};

use crate::EnvLookup;
use crate::devcontainer::{decode_devcontainer_source, named_devcontainers};
use crate::diagnostic::{Diagnostic, Severity, Source, sort_diagnostics};
use crate::files::read_required;
use crate::global::{GlobalConfig, apply_env, decode_global_source};
use crate::project::{PROJECT_FILES, ProjectConfig, decode_project_source, find_project_file};
use crate::resolve::{CliOverrides, ResolveInputs, resolve};
use crate::types::{check_types, concrete_types};
use crate::variables::{SubstitutionContext, devcontainer_id};

/// The kinds of config file warren reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigKind {
    /// `.warren.yaml` / `.warren.yml`.
    Project,
    /// `devcontainer.json` / `.devcontainer.json`.
    DevContainer,
    /// The global `config.yaml`.
    Global,
}

/// The kind of a config file, from its file name.
pub fn config_kind(path: &Path) -> Option<ConfigKind> {
    match path.file_name()?.to_str()? {
        ".warren.yaml" | ".warren.yml" => Some(ConfigKind::Project),
        "devcontainer.json" | ".devcontainer.json" => Some(ConfigKind::DevContainer),
        "config.yaml" | "config.yml" => Some(ConfigKind::Global),
        _ => None,
    }
}

/// Validates each file by its kind (see [`config_kind`]). Project files get
/// their types checked too; the global config also its `WARREN_*` overrides
/// from `env`; devcontainer.json files are substituted with `env` as the host
/// environment. An unknown file name or a missing file is an error.
pub fn validate_paths(paths: &[PathBuf], env: EnvLookup<'_>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for path in paths {
        match config_kind(path) {
            Some(ConfigKind::Project) => {
                let root = path.parent().unwrap_or(Path::new("."));
                out.extend(check_project_file(path, root, env).1);
            }
            Some(ConfigKind::DevContainer) => out.extend(check_devcontainer(path, env)),
            Some(ConfigKind::Global) => out.extend(check_global(path, env)),
            None => out.push(
                Diagnostic::file_error(path, "not a config file warren knows")
                    .with_hint("warren validates .warren.yaml, .warren.yml, devcontainer.json, .devcontainer.json and config.yaml"),
            ),
        }
    }
    dedup(out)
}

/// Validates every config of the project at `repo_root`: `.warren.yaml`
/// (with every concrete type resolved), every devcontainer.json in the
/// standard locations and those named by `devcontainer:` keys.
pub fn validate_project(repo_root: &Path, env: EnvLookup<'_>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut project = None;
    if let Some(path) = find_project_file(repo_root) {
        let (p, diags) = check_project_file(&path, repo_root, env);
        out.extend(diags);
        project = p;
        let other = repo_root.join(PROJECT_FILES[1]);
        if path != other && other.is_file() {
            out.push(
                Diagnostic::new(
                    Severity::Warning,
                    crate::Origin::File(other),
                    "both .warren.yaml and .warren.yml exist; .warren.yml is ignored",
                )
                .with_hint("merge them into .warren.yaml and delete .warren.yml"),
            );
        }
    }
    let mut devcontainers: Vec<PathBuf> = [".devcontainer/devcontainer.json", ".devcontainer.json"]
        .iter()
        .map(|p| repo_root.join(p))
        .filter(|p| p.is_file())
        .chain(named_devcontainers(repo_root))
        .collect();
    if let Some(p) = &project {
        let referenced = std::iter::once(&p.defaults)
            .chain(p.types.values().map(|t| &t.settings))
            .filter_map(|s| s.devcontainer.as_ref());
        for r in referenced {
            let path = repo_root.join(r);
            if !path.is_file() {
                out.push(
                    Diagnostic::file_error(&p.file, format!("`devcontainer: {r}` does not exist"))
                        .with_hint("the path is relative to the repository root"),
                );
            } else if !devcontainers.contains(&path) {
                devcontainers.push(path);
            }
        }
    }
    // Host access the files ask for, against the grants of this project's
    // `.warren.yaml` and of the global config (`WARREN_ROOT` or ~/.warren).
    let mut grants = global_host_access(env);
    if let Some(p) = &project {
        grants.merge(&p.host_access);
    }
    let trusted_file = project
        .as_ref()
        .map(|p| p.source.name())
        .unwrap_or_else(|| ".warren.yaml".to_string());
    let home = env("HOME").map(PathBuf::from);
    for path in &devcontainers {
        let (dc, diags) = decode_devcontainer(path, env);
        out.extend(diags);
        if let Some(dc) = dc {
            let (_, refused) = crate::host_access::check_uses(
                &dc.host_access,
                &grants,
                &|p| crate::resolve::resolve_source(p, repo_root, home.as_deref()),
                home.as_deref(),
                &trusted_file,
            );
            out.extend(refused);
        }
    }
    if let Some(p) = &project {
        out.extend(check_unapplied(p, repo_root, env));
    }
    dedup(out)
}

/// For the top level and each concrete type that runs on the sandbox (or
/// host) runtime: one warning naming the container settings it ignores.
fn check_unapplied(
    project: &ProjectConfig,
    repo_root: &Path,
    env: EnvLookup<'_>,
) -> Vec<Diagnostic> {
    let global = GlobalConfig {
        host_access: global_host_access(env),
        ..GlobalConfig::default()
    };
    let cli = CliOverrides::default();
    let names = std::iter::once(None).chain(concrete_types(project).into_iter().map(Some));
    let mut out = Vec::new();
    let mut top: Option<String> = None;
    for type_name in names {
        let req = crate::resolve::LoadRequest {
            repo_root,
            global: &global,
            type_name,
            cli: &cli,
            env,
            home: None,
            local_workspace_folder: None,
            devcontainer_id: None,
        };
        // A configuration that does not load is reported by the checks above.
        let Ok(loaded) = crate::resolve::load_effective(&req) else {
            continue;
        };
        let eff = loaded.value;
        // A finding about the effective configuration (of a type, when one is
        // named), on the file it comes from.
        let located = |severity: Severity, message: String| {
            let file = eff
                .devcontainer_file
                .clone()
                .unwrap_or_else(|| project.file.clone());
            let message = match type_name {
                Some(t) => format!("type `{t}`: {message}"),
                None => message,
            };
            Diagnostic::new(severity, crate::Origin::File(file), message)
        };
        if eff.runtime == crate::RuntimeChoice::Sandbox
            && let Some(message) = eff.sandbox_host_access_error()
        {
            out.push(located(Severity::Error, message));
        }
        let runtime = match eff.runtime {
            crate::RuntimeChoice::Sandbox => "sandbox",
            crate::RuntimeChoice::Host => "host",
            _ => continue,
        };
        if let Some(message) = eff.ignored_without_engine_warning(runtime) {
            // Said once: a type that ignores what the top level does adds nothing.
            if type_name.is_none() {
                top = Some(message.clone());
            } else if top.as_ref() == Some(&message) {
                continue;
            }
            out.push(located(Severity::Warning, message));
        }
    }
    out
}

/// Validates the global `ROOT/config.yaml` (if it exists) and the `WARREN_*`
/// overrides in `env`.
pub fn validate_global(root: &Path, env: EnvLookup<'_>) -> Vec<Diagnostic> {
    let path = root.join(crate::global::GLOBAL_CONFIG_FILE);
    if path.is_file() {
        dedup(check_global(&path, env))
    } else {
        apply_env(&mut GlobalConfig::default(), env)
    }
}

fn dedup(diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = Vec::new();
    for d in diags {
        if !out.contains(&d) {
            out.push(d);
        }
    }
    sort_diagnostics(&mut out);
    out
}

fn check_global(path: &Path, env: EnvLookup<'_>) -> Vec<Diagnostic> {
    let text = match read_required(path) {
        Ok(t) => t,
        Err(d) => return vec![d],
    };
    let (mut config, mut diags) = decode_global_source(&Source::new(path, &text));
    diags.extend(apply_env(&mut config, env));
    diags
}

/// Decodes a project file, checks its types and resolves every concrete type.
fn check_project_file(
    path: &Path,
    repo_root: &Path,
    env: EnvLookup<'_>,
) -> (Option<ProjectConfig>, Vec<Diagnostic>) {
    let text = match read_required(path) {
        Ok(t) => t,
        Err(d) => return (None, vec![d]),
    };
    let (project, mut diags) = decode_project_source(&Source::new(path, &text), repo_root);
    diags.extend(check_types(&project));
    if !diags.iter().any(Diagnostic::is_error) {
        // Resolving finds what only shows in combination (a role without a tool…).
        let global = GlobalConfig::default();
        let cli = CliOverrides::default();
        let names = std::iter::once(None).chain(concrete_types(&project).into_iter().map(Some));
        for type_name in names {
            let inputs = ResolveInputs {
                repo_root,
                global: &global,
                project: Some(&project),
                devcontainer: None,
                type_name,
                cli: &cli,
                env,
                home: None,
            };
            if let Err(e) = resolve(inputs) {
                diags.extend(e.diagnostics.into_iter().filter(|d| d.file().is_some()));
            }
        }
    }
    (Some(project), diags)
}

/// The `host_access:` of the global config (`WARREN_ROOT/config.yaml`, or
/// `~/.warren/config.yaml`); its errors are `validate_global`'s to report.
fn global_host_access(env: EnvLookup<'_>) -> crate::host_access::HostAccessOptIn {
    let root = env(warren_core::vars::WARREN_ROOT)
        .filter(|r| !r.is_empty())
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| Path::new(&h).join(".warren")));
    let Some(path) = root.map(|r| r.join(crate::global::GLOBAL_CONFIG_FILE)) else {
        return Default::default();
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            decode_global_source(&Source::new(&path, &text))
                .0
                .host_access
        }
        Err(_) => Default::default(),
    }
}

fn check_devcontainer(path: &Path, env: EnvLookup<'_>) -> Vec<Diagnostic> {
    let (dc, mut diags) = decode_devcontainer(path, env);
    // A file checked on its own: the grants of the project it sits in.
    if let Some(dc) = dc {
        let local = project_folder(path);
        let mut grants = global_host_access(env);
        let mut trusted_file = ".warren.yaml".to_string();
        if let Some(pf) = find_project_file(&local)
            && let Ok(text) = std::fs::read_to_string(&pf)
        {
            let (p, _) = decode_project_source(&Source::new(&pf, &text), &local);
            grants.merge(&p.host_access);
            trusted_file = p.source.name();
        }
        let home = env("HOME").map(PathBuf::from);
        let (_, refused) = crate::host_access::check_uses(
            &dc.host_access,
            &grants,
            &|p| crate::resolve::resolve_source(p, &local, home.as_deref()),
            home.as_deref(),
            &trusted_file,
        );
        diags.extend(refused);
    }
    diags
}

/// The project folder of a devcontainer.json: the parent of `.devcontainer/`
/// (or of `.devcontainer.json`).
fn project_folder(path: &Path) -> PathBuf {
    let parent = path.parent().unwrap_or(Path::new("."));
    parent
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == ".devcontainer"))
        .and_then(Path::parent)
        .unwrap_or(parent)
        .to_path_buf()
}

fn decode_devcontainer(
    path: &Path,
    env: EnvLookup<'_>,
) -> (Option<crate::devcontainer::DevContainer>, Vec<Diagnostic>) {
    let text = match read_required(path) {
        Ok(t) => t,
        Err(d) => return (None, vec![d]),
    };
    // The project folder: the parent of `.devcontainer/` (or of `.devcontainer.json`).
    let parent = path.parent().unwrap_or(Path::new("."));
    let local = parent
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == ".devcontainer"))
        .and_then(Path::parent)
        .unwrap_or(parent);
    let id = devcontainer_id(&[("devcontainer.local_folder", &local.to_string_lossy())]);
    let ctx = SubstitutionContext {
        local_env: env,
        local_workspace_folder: local,
        container_workspace_folder: None,
        devcontainer_id: &id,
    };
    let (dc, diags) = decode_devcontainer_source(&Source::new(path, &text), &ctx);
    (Some(dc), diags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn write(root: &Path, rel: &str, text: &str) -> PathBuf {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    fn summary(diags: &[Diagnostic], root: &Path) -> Vec<String> {
        diags
            .iter()
            .map(|d| {
                let loc = d.location().replace(&root.display().to_string(), "ROOT");
                format!("{} {loc}: {}", d.severity.as_str(), d.message)
            })
            .collect()
    }

    #[test]
    fn kinds_by_name() {
        assert_eq!(
            config_kind(Path::new("/a/.warren.yml")),
            Some(ConfigKind::Project)
        );
        assert_eq!(
            config_kind(Path::new("x/.devcontainer.json")),
            Some(ConfigKind::DevContainer)
        );
        assert_eq!(
            config_kind(Path::new(".devcontainer/py/devcontainer.json")),
            Some(ConfigKind::DevContainer)
        );
        assert_eq!(
            config_kind(Path::new("/r/config.yaml")),
            Some(ConfigKind::Global)
        );
        assert_eq!(config_kind(Path::new("foo.yaml")), None);
    }

    #[test]
    fn validate_paths_reports_every_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let project = write(
            root,
            ".warren.yaml",
            "imgae: x\nroles: {r: {}}\ntypes:\n  a: {extends: b}\n  b: {extends: a}\n  t: {roles: [r]}\n",
        );
        let dc = write(
            root,
            ".devcontainer/devcontainer.json",
            "{\"image\": \"x\", \"customizations\": {},}\n",
        );
        let global = write(root, "wroot/config.yaml", "proxy: {port: 0}\n");
        let other = write(root, "notes.txt", "");
        let missing = root.join("missing/.warren.yaml");
        let env = |k: &str| (k == "WARREN_WEB_PORT").then(|| "x".to_string());
        let diags = validate_paths(&[project, dc, global, other, missing], &env);
        assert_eq!(
            summary(&diags, root),
            [
                "warning ROOT/.devcontainer/devcontainer.json:1:16: `customizations` is not supported by warren and is ignored",
                "error ROOT/.warren.yaml:1:1: unknown key `imgae` in .warren.yaml",
                "error ROOT/.warren.yaml:5:16: types extend each other in a cycle: `a` → `b` → `a`",
                "error ROOT/missing/.warren.yaml: config file not found",
                "error ROOT/notes.txt: not a config file warren knows",
                "error ROOT/wroot/config.yaml:1:15: `proxy.port` is 0, which is not a valid port",
                "error $WARREN_WEB_PORT: WARREN_WEB_PORT=`x` is invalid: not a port number",
            ]
        );
    }

    #[test]
    fn validate_project_checks_all_files_and_types() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            ".warren.yaml",
            "roles: {r: {}}\ntypes:\n  t: {roles: [r], devcontainer: .devcontainer/custom.json}\n  u: {devcontainer: nope.json}\n",
        );
        write(root, ".warren.yml", "");
        write(root, ".devcontainer/a/devcontainer.json", "{\"image\": 1}");
        write(
            root,
            ".devcontainer/b/devcontainer.json",
            "{\"image\": \"ok\"}",
        );
        write(
            root,
            ".devcontainer/custom.json",
            "{\"image\": \"ok\", \"customizations\": {}}",
        );
        let diags = validate_project(root, &no_env);
        assert_eq!(
            summary(&diags, root),
            [
                "error ROOT/.devcontainer/a/devcontainer.json:1:11: `image` must be a string, found a number",
                "warning ROOT/.devcontainer/custom.json:1:17: `customizations` is not supported by warren and is ignored",
                "error ROOT/.warren.yaml: role `r` does not name a tool",
                "error ROOT/.warren.yaml: `devcontainer: nope.json` does not exist",
                "warning ROOT/.warren.yml: both .warren.yaml and .warren.yml exist; .warren.yml is ignored",
            ]
        );
    }

    #[test]
    fn a_clean_project_has_no_diagnostics() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            ".warren.yaml",
            "services: {web: 3000}\ntypes: {issue: {tool: claude}}\n",
        );
        write(
            root,
            ".devcontainer.json",
            "// ok\n{\"image\": \"debian\", \"forwardPorts\": [3000],}\n",
        );
        assert_eq!(validate_project(root, &no_env), []);
        assert_eq!(validate_global(&root.join("nowhere"), &no_env), []);
    }
}
