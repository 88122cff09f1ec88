//! Environment types: `extends` resolution and the checks on types
//! (unknown parents, cycles, abstract types, unknown roles and sessions).
//!
//! Merge rules, parent first, child last (the project's top-level settings
//! act as the implicit root of every chain):
//! - scalars (`image`/`build` as one image source, `runtime`, `tool`,
//!   `workspace_folder`, `user`, `allow_dangerous`, `interactive`,
//!   `devcontainer`, `sandbox.network`, each key of `resources`), hooks,
//!   `roles` and `sessions`: the child's value replaces the parent's when set;
//! - `mounts` accumulate, parent first (a child mount on the same target
//!   replaces the parent's in place); `credentials` and the sandbox path
//!   lists accumulate too (they are grants, like mounts);
//! - `env` is a map merge, the child winning.

use crate::decode::suggestion;
use crate::diagnostic::{ConfigError, Diagnostic};
use crate::project::{EnvSettings, ProjectConfig, TypeConfig};

/// A type with its `extends` chain merged in.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResolvedType {
    /// The type's name (`None`: no type, the project's top-level settings).
    pub name: Option<String>,
    /// The types merged, root-most parent first, the type itself last.
    pub chain: Vec<String>,
    /// Top-level settings, then each type of the chain, merged.
    pub settings: EnvSettings,
    /// Role sessions to start.
    pub roles: Vec<String>,
    /// Command sessions to start.
    pub sessions: Vec<String>,
}

/// The project's top-level settings, as used when no type is chosen.
pub fn project_defaults(project: &ProjectConfig) -> ResolvedType {
    ResolvedType {
        settings: project.defaults.clone(),
        ..ResolvedType::default()
    }
}

/// Names of the types that can be instantiated (not starting with `_`), in
/// declaration order.
pub fn concrete_types(project: &ProjectConfig) -> Vec<&str> {
    project
        .types
        .keys()
        .filter(|n| !TypeConfig::is_abstract(n))
        .collect()
}

/// Resolves type `name` through its `extends` chain.
///
/// Errors: unknown type (with "did you mean"), abstract type, unknown parent
/// or cycle (located in `.warren.yaml`).
pub fn resolve_type(project: &ProjectConfig, name: &str) -> Result<ResolvedType, ConfigError> {
    if !project.types.contains_key(name) {
        let concrete = concrete_types(project);
        let hint = match crate::decode::did_you_mean(name, concrete.iter().copied()) {
            Some(c) => format!("did you mean `{c}`?"),
            None if concrete.is_empty() => format!(
                "{} defines no types; add one under `types:`",
                project.file.display()
            ),
            None => format!(
                "types defined in {}: {}",
                project.file.display(),
                concrete.join(", ")
            ),
        };
        return Err(ConfigError::one(
            Diagnostic::arg_error("type", format!("unknown environment type `{name}`"))
                .with_hint(hint),
        ));
    }
    if TypeConfig::is_abstract(name) {
        let children: Vec<&str> = concrete_types(project)
            .into_iter()
            .filter(|t| chain(project, t).is_ok_and(|c| c.contains(&name)))
            .collect();
        let hint = match children.first() {
            Some(c) => format!(
                "use a type that extends it, such as `{c}`, or rename it without the leading `_`"
            ),
            None => "rename it without the leading `_` to make it usable".to_string(),
        };
        return Err(ConfigError::one(
            Diagnostic::arg_error(
                "type",
                format!("type `{name}` is abstract (its name starts with `_`) and cannot be used directly"),
            )
            .with_hint(hint),
        ));
    }
    let chain = chain(project, name).map_err(ConfigError::one)?;
    let mut out = project_defaults(project);
    out.name = Some(name.to_string());
    for t in &chain {
        let Some(config) = project.types.get(t) else {
            continue;
        };
        merge_settings(&mut out.settings, &config.settings);
        if let Some(roles) = &config.roles {
            out.roles = roles.iter().map(|r| r.value.clone()).collect();
        }
        if let Some(sessions) = &config.sessions {
            out.sessions = sessions.iter().map(|s| s.value.clone()).collect();
        }
    }
    out.chain = chain.into_iter().map(str::to_string).collect();
    Ok(out)
}

/// The `extends` chain of `name`, root-most first.
fn chain<'p>(project: &'p ProjectConfig, name: &'p str) -> Result<Vec<&'p str>, Diagnostic> {
    let mut chain: Vec<&str> = vec![name];
    let mut current = name;
    while let Some(parent) = project.types.get(current).and_then(|t| t.extends.as_ref()) {
        let p = parent.value.as_str();
        if !project.types.contains_key(p) {
            let names: Vec<&str> = project.types.keys().filter(|n| *n != current).collect();
            let hint = suggestion(p, &names).unwrap_or_else(|| "define it under `types:`".into());
            return Err(project
                .source
                .error(
                    parent.span,
                    format!("type `{current}` extends `{p}`, which is not defined"),
                )
                .with_hint(hint));
        }
        if let Some(i) = chain.iter().position(|t| *t == p) {
            return Err(cycle_error(project, &chain[i..]));
        }
        chain.push(p);
        current = p;
    }
    chain.reverse();
    Ok(chain)
}

/// The error for types that extend each other in a loop (`members[k]`
/// extends `members[k + 1]`, the last extends the first). The cycle is shown
/// from its first-declared type, so it reads the same from any entry point.
fn cycle_error(project: &ProjectConfig, members: &[&str]) -> Diagnostic {
    let order = |t: &str| {
        project
            .types
            .keys()
            .position(|k| k == t)
            .unwrap_or(usize::MAX)
    };
    let start = (0..members.len())
        .min_by_key(|&i| order(members[i]))
        .unwrap_or(0);
    let mut cycle: Vec<&str> = members[start..]
        .iter()
        .chain(&members[..start])
        .copied()
        .collect();
    let last = cycle.last().copied().unwrap_or_default();
    let first = cycle.first().copied().unwrap_or_default();
    cycle.push(first);
    let shown = cycle
        .iter()
        .map(|t| format!("`{t}`"))
        .collect::<Vec<_>>()
        .join(" → ");
    let span = project
        .types
        .get(last)
        .and_then(|t| t.extends.as_ref())
        .map(|e| e.span)
        .unwrap_or_default();
    project
        .source
        .error(span, format!("types extend each other in a cycle: {shown}"))
        .with_hint(format!(
            "remove `extends: {first}` from `{last}` or from another type in the cycle"
        ))
}

/// Merges `child` over `base` by the rules in the module docs.
pub fn merge_settings(base: &mut EnvSettings, child: &EnvSettings) {
    if child.image.is_some() || child.build.is_some() {
        base.image.clone_from(&child.image);
        base.build.clone_from(&child.build);
    }
    fn replace<T: Clone>(base: &mut Option<T>, child: &Option<T>) {
        if child.is_some() {
            base.clone_from(child);
        }
    }
    replace(&mut base.runtime, &child.runtime);
    replace(&mut base.tool, &child.tool);
    replace(&mut base.workspace_folder, &child.workspace_folder);
    replace(&mut base.user, &child.user);
    replace(&mut base.allow_dangerous, &child.allow_dangerous);
    replace(&mut base.interactive, &child.interactive);
    replace(&mut base.devcontainer, &child.devcontainer);
    replace(&mut base.sandbox.network, &child.sandbox.network);
    replace(&mut base.network, &child.network);
    for a in &child.egress_allow {
        if !base.egress_allow.contains(a) {
            base.egress_allow.push(a.clone());
        }
    }
    for g in &child.grants {
        match base.grants.iter_mut().find(|b| b.name == g.name) {
            Some(existing) => *existing = g.clone(),
            None => base.grants.push(g.clone()),
        }
    }
    crate::resources::merge(&mut base.resources, &child.resources);
    replace(&mut base.hooks.pre_start, &child.hooks.pre_start);
    replace(&mut base.hooks.post_start, &child.hooks.post_start);
    replace(&mut base.hooks.pre_stop, &child.hooks.pre_stop);
    replace(&mut base.hooks.post_stop, &child.hooks.post_stop);
    base.env.merge(&child.env);
    for m in &child.mounts {
        match base.mounts.iter_mut().find(|b| b.target == m.target) {
            Some(existing) => *existing = m.clone(),
            None => base.mounts.push(m.clone()),
        }
    }
    for (list, add) in [
        (&mut base.credentials, &child.credentials),
        (
            &mut base.sandbox.read_only_paths,
            &child.sandbox.read_only_paths,
        ),
        (
            &mut base.sandbox.read_write_paths,
            &child.sandbox.read_write_paths,
        ),
    ] {
        for item in add {
            if !list.contains(item) {
                list.push(item.clone());
            }
        }
    }
}

/// Every problem with the project's types: unknown parents, cycles (each
/// reported once), and roles or sessions that are not defined.
pub(crate) fn check_types(project: &ProjectConfig) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = Vec::new();
    for name in project.types.keys() {
        if let Err(d) = chain(project, name)
            && !out.contains(&d)
        {
            out.push(d);
        }
    }
    for (name, t) in project.types.iter() {
        let refs = [
            (
                "role",
                "roles",
                &t.roles,
                project.roles.keys().collect::<Vec<_>>(),
            ),
            (
                "session",
                "sessions",
                &t.sessions,
                project.sessions.keys().collect::<Vec<_>>(),
            ),
        ];
        for (kind, section, list, defined) in refs {
            for r in list.iter().flatten() {
                if defined.contains(&r.value.as_str()) {
                    continue;
                }
                let hint = match crate::decode::did_you_mean(&r.value, defined.iter().copied()) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => format!("define `{}` under `{section}:`", r.value),
                };
                out.push(
                    project
                        .source
                        .error(
                            r.span,
                            format!(
                                "type `{name}` uses {kind} `{}`, which is not defined",
                                r.value
                            ),
                        )
                        .with_hint(hint),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Origin;
    use crate::values::{Mount, RuntimeChoice};
    use std::path::Path;

    fn project(text: &str) -> ProjectConfig {
        crate::parse_project(Path::new("/repo/.warren.yaml"), text, Path::new("/repo"))
            .unwrap()
            .value
    }

    fn check(text: &str) -> Vec<(u32, u32, String, Option<String>)> {
        crate::parse_project(Path::new("/repo/.warren.yaml"), text, Path::new("/repo"))
            .unwrap_err()
            .diagnostics
            .into_iter()
            .map(|d| (d.line, d.col, d.message, d.hint))
            .collect()
    }

    const TYPES: &str = r#"
image: top:1
env: {A: top, B: top}
mounts: ["/top:/top"]
credentials: [git]
sessions:
  serve: {command: x}
  watch: {command: y}
roles:
  developer: {tool: claude}
  reviewer: {tool: codex}
types:
  _base:
    image: base:1
    tool: claude
    env: {B: base, C: base}
    mounts: ["/base:/base", "/shared:/shared"]
    credentials: [ssh]
    post_start: [{run: make deps}]
    roles: [developer]
    sessions: [serve]
  _mid:
    extends: _base
    runtime: sandbox
    env: {C: mid}
    mounts: ["/mid:/mid", "/other:/shared:ro"]
    sandbox: {network: none, read_only_paths: [/a]}
  issue:
    extends: _mid
    build: {context: .}
    env: {D: issue}
    credentials: [ssh, gh]
    post_start: []
    roles: [developer, reviewer]
    sandbox: {read_only_paths: [/b]}
  plain: {}
"#;

    #[test]
    fn extends_replace_accumulate_merge() {
        let p = project(TYPES);
        let r = resolve_type(&p, "issue").unwrap();
        assert_eq!(r.name.as_deref(), Some("issue"));
        assert_eq!(r.chain, ["_base", "_mid", "issue"]);
        let s = &r.settings;
        // Scalars: replaced by the child (build replaces the parent's image).
        assert_eq!(s.image, None);
        assert_eq!(s.build.as_ref().unwrap().context.as_deref(), Some("."));
        assert_eq!(s.runtime, Some(RuntimeChoice::Sandbox));
        assert_eq!(s.tool.as_deref(), Some("claude"));
        // env: map merge, child wins, parent order kept.
        let env: Vec<_> = s.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(env, ["A=top", "B=base", "C=mid", "D=issue"]);
        // mounts: accumulate parent first; same target replaced in place.
        let targets: Vec<_> = s
            .mounts
            .iter()
            .map(|m: &Mount| (m.target.as_str(), m.read_only))
            .collect();
        assert_eq!(
            targets,
            [
                ("/top", false),
                ("/base", false),
                ("/shared", true),
                ("/mid", false)
            ]
        );
        assert_eq!(s.mounts[2].source.as_deref(), Some("/other"));
        // credentials and sandbox paths accumulate.
        assert_eq!(s.credentials, ["git", "ssh", "gh"]);
        assert_eq!(s.sandbox.read_only_paths, ["/a", "/b"]);
        assert_eq!(
            s.sandbox.network,
            Some(crate::project::SandboxNetwork::None)
        );
        // hooks replaced (here by an empty list), roles replaced, sessions inherited.
        assert_eq!(s.hooks.post_start.as_deref(), Some(&[][..]));
        assert_eq!(r.roles, ["developer", "reviewer"]);
        assert_eq!(r.sessions, ["serve"]);
    }

    #[test]
    fn type_without_extends_gets_top_level_defaults() {
        let p = project(TYPES);
        let r = resolve_type(&p, "plain").unwrap();
        assert_eq!(r.chain, ["plain"]);
        assert_eq!(r.settings.image.as_deref(), Some("top:1"));
        assert!(r.roles.is_empty());
        assert_eq!(project_defaults(&p).settings, p.defaults);
        assert_eq!(concrete_types(&p), ["issue", "plain"]);
    }

    #[test]
    fn abstract_and_unknown_types() {
        let p = project(TYPES);
        let err = resolve_type(&p, "_base").unwrap_err();
        let d = &err.diagnostics[0];
        assert_eq!(d.origin, Origin::Arg("type".into()));
        assert_eq!(
            d.message,
            "type `_base` is abstract (its name starts with `_`) and cannot be used directly"
        );
        assert_eq!(
            d.hint.as_deref(),
            Some(
                "use a type that extends it, such as `issue`, or rename it without the leading `_`"
            )
        );
        let err = resolve_type(&p, "isue").unwrap_err();
        assert_eq!(
            err.diagnostics[0].message,
            "unknown environment type `isue`"
        );
        assert_eq!(
            err.diagnostics[0].hint.as_deref(),
            Some("did you mean `issue`?")
        );
        let err = resolve_type(&p, "zzz").unwrap_err();
        assert_eq!(
            err.diagnostics[0].hint.as_deref(),
            Some("types defined in /repo/.warren.yaml: issue, plain")
        );
    }

    #[test]
    fn unknown_parent_is_located() {
        let got = check("types:\n  _base: {}\n  issue: {extends: _bsae}\n");
        assert_eq!(
            got,
            [(
                3,
                20,
                "type `issue` extends `_bsae`, which is not defined".to_string(),
                Some("did you mean `_base`?".to_string())
            )]
        );
    }

    #[test]
    fn cycles_are_reported_once() {
        let got = check(
            "types:\n  a: {extends: b}\n  b: {extends: c}\n  c: {extends: a}\n  d: {extends: a}\n",
        );
        assert_eq!(got.len(), 1, "{got:#?}");
        assert_eq!(got[0].0, 4);
        assert_eq!(got[0].1, 16);
        assert_eq!(
            got[0].2,
            "types extend each other in a cycle: `a` → `b` → `c` → `a`"
        );
        assert_eq!(
            got[0].3.as_deref(),
            Some("remove `extends: a` from `c` or from another type in the cycle")
        );
        let got = check("types:\n  a: {extends: a}\n");
        assert_eq!(got[0].2, "types extend each other in a cycle: `a` → `a`");
    }

    #[test]
    fn unknown_roles_and_sessions() {
        let got = check(
            "roles: {developer: {tool: claude}}\nsessions: {serve: {command: x}}\ntypes:\n  issue: {roles: [develper, manager], sessions: [srve]}\n",
        );
        let got: Vec<_> = got
            .iter()
            .map(|(l, c, m, h)| (*l, *c, m.as_str(), h.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    4,
                    19,
                    "type `issue` uses role `develper`, which is not defined",
                    Some("did you mean `developer`?")
                ),
                (
                    4,
                    29,
                    "type `issue` uses role `manager`, which is not defined",
                    Some("define `manager` under `roles:`")
                ),
                (
                    4,
                    50,
                    "type `issue` uses session `srve`, which is not defined",
                    Some("did you mean `serve`?")
                ),
            ]
        );
    }
}
