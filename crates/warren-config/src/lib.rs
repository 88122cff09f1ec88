//! warren's configuration (docs/configuration.md): the global `config.yaml`
//! and every `WARREN_*` variable ([`Settings`], read once per command), the
//! project's `.warren.yaml` and devcontainer.json (JSONC), parsed into typed
//! values with every problem located at file:line:col, then resolved into one
//! [`Effective`] configuration by precedence.
//!
//! Layers, bottom up:
//! - `node`, `yaml`, `jsonc`: text → a spanned value tree (maps in
//!   declaration order, duplicate keys are errors);
//! - `decode`: typed decoding that collects every error, with "did you mean";
//! - `diagnostic`: [`Diagnostic`] (rustc/uv-style rendering), [`ConfigError`], [`Loaded`];
//! - `settings` ([`Settings`]: the root, `config.yaml` and `WARREN_*`);
//! - `global`, `project` with `types`, `devcontainer` with `runargs`,
//!   `lifecycle` and `variables`: the three files, `extends`, runArgs,
//!   lifecycle commands, `${…}` variables;
//! - `template`: minijinja (strict) and `{name}` placeholders;
//! - `resolve`: precedence into [`Effective`]; `validate`: `warren validate`.
//!
//! Typical use by the environment layer:
//!
//! ```no_run
//! # use std::path::Path;
//! use warren_config::{CliOverrides, LoadRequest, Settings, load_effective};
//! let env = |k: &str| std::env::var(k).ok();
//! let home = Path::new("/home/me");
//! let settings = Settings::load(&env, Some(home), Path::new("/src/app")).unwrap();
//! let cli = CliOverrides::default();
//! let loaded = load_effective(&LoadRequest {
//!     repo_root: Path::new("/src/app"),
//!     global: &settings.global,
//!     type_name: None,
//!     cli: &cli,
//!     env: &env,
//!     home: Some(home),
//!     local_workspace_folder: None,
//!     devcontainer_id: None,
//! });
//! match loaded {
//!     Ok(l) => {
//!         for w in &l.warnings {
//!             eprint!("{}", w.render(false));
//!         }
//!         println!("{} {}", l.value.project, l.value.config_hash());
//!     }
//!     Err(e) => eprint!("{}", e.render(false)),
//! }
//! ```

pub mod compose;
pub mod compose_v1;
mod decode;
mod devcontainer;
mod diagnostic;
mod features;
mod files;
mod global;
mod host_access;
mod image_metadata;
mod jsonc;
mod lifecycle;
mod network;
mod node;
mod notify;
mod project;
mod resolve;
mod resources;
mod runargs;
mod settings;
mod template;
mod types;
mod unapplied;
mod validate;
mod values;
mod variables;
mod yaml;

pub use devcontainer::{
    ComposeConfig, DevContainer, Lifecycle, PortAttributes, PortSpec, ShutdownAction, WaitFor,
    find_devcontainer, load_devcontainer, named_devcontainers, parse_devcontainer,
};
pub use diagnostic::{ConfigError, Diagnostic, Loaded, Origin, Severity};
pub use features::{
    DISALLOWED_FEATURES, FeatureManifest, FeatureRef, FeatureRequest, LockedFeature, Lockfile,
    OciRef, OrderItem, disallowed_feature, feature_resource, install_order, lockfile_path,
    option_env_name, parse_feature_manifest, parse_oci_ref,
};
pub use global::{
    EnvOverrides, GLOBAL_CONFIG_FILE, GlobalConfig, ProxyConfig, TlsMode, ToolOverride, WebConfig,
    load_global, parse_global,
};
pub use host_access::{
    Class, DOCKER_DEFAULT_CAPABILITIES, HostAccess, HostAccessOptIn, HostAccessRequest,
    HostAccessUse, MountRequest, Namespace, check_uses, classify_capability, classify_device,
    classify_mount, classify_namespace, classify_security_opt, is_engine_socket,
    normalize_capability, warrens_own_flag,
};
pub use image_metadata::{
    FEATURE_MARK, ImageMetadata, METADATA_LABEL, parse_image_metadata, split_feature_entries,
};
pub use lifecycle::LifecycleCommand;
pub use network::GrantSpec;
pub use node::Span;
pub use notify::{NOTIFY_STATES, NotifyCommand, NotifyConfig};
pub use project::{
    EnvSettings, Hooks, PROJECT_FILES, ProjectConfig, RoleConfig, SandboxNetwork, SandboxSettings,
    SessionConfig, TypeConfig, find_project_file, load_project, parse_project,
};
pub use resolve::{
    CliOverrides, DEFAULT_SESSION_NAME_TEMPLATE, Effective, EffectiveHooks, EffectiveRole,
    EffectiveSandbox, EffectiveSession, ImageSource, LoadRequest, ResolveInputs, Service,
    ServiceOrigin, load_effective, resolve,
};
pub use resources::{Limit, ResourceSettings};
pub use runargs::{RunArgs, RunNetwork, SUPPORTED_RUN_ARGS};
pub use settings::Settings;
pub use template::{
    TEMPLATE_VARIABLES, TemplateContext, TemplateError, check_syntax, render, template_variables,
    unknown_variables,
};
pub use types::{ResolvedType, concrete_types, merge_settings, project_defaults, resolve_type};
pub use validate::{ConfigKind, config_kind, validate_global, validate_paths, validate_project};
pub use values::{
    BuildSpec, Hook, Mount, MountKind, OrderedMap, PortRange, RuntimeChoice, Spanned,
};
pub use variables::{
    DEFAULT_WORKSPACE_FOLDER, SubstitutionContext, devcontainer_id, substitute_container_env,
};

/// How the library reads environment variables: a lookup function, never the
/// process environment directly (tests pass their own).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_typo_renders_as_documented() {
        let err = parse_project(
            Path::new("/path/.warren.yaml"),
            "name: app\nimage: node:22\nimgae: foo\n",
            Path::new("/path"),
        )
        .unwrap_err();
        assert_eq!(
            err.render(false),
            "error: unknown key `imgae` in .warren.yaml
  --> /path/.warren.yaml:3:1
   |
 3 | imgae: foo
   | ^^^^^
   = hint: did you mean `image`?
"
        );
        assert_eq!(
            err.to_string(),
            "/path/.warren.yaml:3:1: unknown key `imgae` in .warren.yaml"
        );
    }
}
