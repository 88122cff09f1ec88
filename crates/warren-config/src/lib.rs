//! warren's configuration (DESIGN.md section 4): the global `config.yaml`,
//! the project's `.warren.yaml` and devcontainer.json (JSONC), parsed into
//! typed values with every problem located at file:line:col, then resolved
//! into one [`Effective`] configuration by precedence.

mod decode;
mod devcontainer;
mod diagnostic;
mod files;
mod global;
mod jsonc;
mod lifecycle;
mod node;
mod project;
mod resolve;
mod runargs;
mod template;
mod types;
mod validate;
mod values;
mod variables;
mod yaml;

pub use devcontainer::{
    DevContainer, Lifecycle, PortAttributes, PortSpec, ShutdownAction, WaitFor, find_devcontainer,
    load_devcontainer, named_devcontainers, parse_devcontainer,
};
pub use diagnostic::{ConfigError, Diagnostic, Loaded, Origin, Severity};
pub use global::{
    GLOBAL_CONFIG_FILE, GlobalConfig, ProxyConfig, TlsMode, ToolOverride, WebConfig, load_global,
    parse_global, warren_root,
};
pub use lifecycle::LifecycleCommand;
pub use node::Span;
pub use project::{
    EnvSettings, Hooks, PROJECT_FILES, ProjectConfig, RoleConfig, SandboxNetwork, SandboxSettings,
    SessionConfig, TypeConfig, find_project_file, load_project, parse_project,
};
pub use resolve::{
    CliOverrides, DEFAULT_SESSION_NAME_TEMPLATE, Effective, EffectiveHooks, EffectiveRole,
    EffectiveSandbox, EffectiveSession, ImageSource, LoadRequest, ResolveInputs, Service,
    ServiceOrigin, load_effective, resolve,
};
pub use runargs::{RunArgs, RunNetwork, SUPPORTED_RUN_ARGS};
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
