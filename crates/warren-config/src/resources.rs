//! `resources:` (top level and per type): the environment's limits, decoded
//! with their units checked, merged key by key through `extends`, and
//! resolved into a [`warren_core::Resources`] over devcontainer `runArgs`
//! (`--memory`, `--cpus`, `--shm-size`) and the built-in defaults.
//!
//! ```yaml
//! resources: {memory: 4g, cpus: 2, pids: 4096, tmp_size: 1g, enforce: true}
//! ```

use warren_core::Resources;
use warren_core::resources::{SIZE_FORMS, parse_cpus, parse_size};

use crate::decode::Decoder;
use crate::diagnostic::Severity;
use crate::node::{Node, Value};
use crate::runargs::RunArgs;

/// The smallest memory limit: Docker refuses less (and nothing useful runs in
/// less).
const MIN_MEMORY: u64 = 6 << 20;

/// One limit as written: `None` inside means `unlimited`.
pub type Limit = Option<u64>;

/// `resources:` as written at one level; `None` = not set here (inherited).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResourceSettings {
    pub memory: Option<Limit>,
    /// Thousandths of a CPU.
    pub cpus: Option<Limit>,
    pub pids: Option<Limit>,
    pub tmp_size: Option<Limit>,
    pub enforce: Option<bool>,
}

/// Decodes a `resources:` map at `what` (`resources` or `types.T.resources`).
pub(crate) fn decode(d: &mut Decoder<'_>, node: &Node, what: &str) -> ResourceSettings {
    let mut out = ResourceSettings::default();
    let Some(mut f) = d.fields(node, what) else {
        return out;
    };
    let key = |k: &str| format!("{what}.{k}");
    if let Some(n) = f.take("memory") {
        out.memory = size(d, n, &key("memory")).and_then(|m| match m {
            Some(bytes) if bytes < MIN_MEMORY => {
                d.error(
                    n.span,
                    format!("`{}` is below the minimum of 6m", key("memory")),
                    Some("give an environment at least `memory: 6m` (`512m` or more for most tools), or `unlimited`".into()),
                );
                None
            }
            m => Some(m),
        });
    }
    if let Some(n) = f.take("cpus") {
        out.cpus = cpus(d, n, &key("cpus"));
    }
    if let Some(n) = f.take("pids") {
        out.pids = pids(d, n, &key("pids"));
    }
    if let Some(n) = f.take("tmp_size") {
        out.tmp_size = size(d, n, &key("tmp_size"));
    }
    out.enforce = f.take("enforce").and_then(|n| d.bool(n, &key("enforce")));
    f.finish(d, Severity::Error);
    out
}

fn is_unlimited(node: &Node) -> bool {
    matches!(&node.value, Value::Str(s) if s == "unlimited")
}

/// A size: bytes as a number, or a string with a unit; or `unlimited`.
fn size(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<Limit> {
    let hint = || Some(format!("use {SIZE_FORMS}, or `unlimited`"));
    if is_unlimited(node) {
        return Some(None);
    }
    let parsed = match &node.value {
        Value::Int(i) if *i > 0 => Ok(*i as u64),
        Value::Int(i) => Err(format!("`{i}` is not a positive size")),
        Value::Str(s) => parse_size(s),
        _ => {
            d.type_error(node, what, "a size", hint());
            return None;
        }
    };
    match parsed {
        Ok(bytes) => Some(Some(bytes)),
        Err(why) => {
            d.error(node.span, format!("`{what}`: {why}"), hint());
            None
        }
    }
}

fn cpus(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<Limit> {
    let hint = || Some("use a number of CPUs such as `2` or `0.5`, or `unlimited`".to_string());
    if is_unlimited(node) {
        return Some(None);
    }
    let text = match &node.value {
        Value::Int(_) | Value::Float(_) | Value::Str(_) => node.scalar_text().unwrap_or_default(),
        _ => {
            d.type_error(node, what, "a number of CPUs", hint());
            return None;
        }
    };
    match parse_cpus(&text) {
        Ok(m) => Some(Some(m)),
        Err(why) => {
            d.error(node.span, format!("`{what}`: {why}"), hint());
            None
        }
    }
}

fn pids(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<Limit> {
    let hint =
        || Some("use a whole number of processes such as `4096`, or `unlimited`".to_string());
    if is_unlimited(node) {
        return Some(None);
    }
    match &node.value {
        Value::Int(i) if *i > 0 => Some(Some(*i as u64)),
        Value::Int(i) => {
            d.error(
                node.span,
                format!("`{what}`: `{i}` is not a positive number of processes"),
                hint(),
            );
            None
        }
        _ => {
            d.type_error(node, what, "a whole number", hint());
            None
        }
    }
}

/// Merges `child` over `base`, key by key (a child's `memory` replaces only
/// the parent's `memory`).
pub(crate) fn merge(base: &mut ResourceSettings, child: &ResourceSettings) {
    fn replace<T: Copy>(base: &mut Option<T>, child: Option<T>) {
        if child.is_some() {
            *base = child;
        }
    }
    replace(&mut base.memory, child.memory);
    replace(&mut base.cpus, child.cpus);
    replace(&mut base.pids, child.pids);
    replace(&mut base.tmp_size, child.tmp_size);
    replace(&mut base.enforce, child.enforce);
}

/// The effective limits: `.warren.yaml` > devcontainer `runArgs` (`--memory`,
/// `--cpus`, `--shm-size` for `tmp_size`) > [`Resources::defaults_for`] the
/// host's memory.
pub(crate) fn resolve(
    s: &ResourceSettings,
    run_args: &RunArgs,
    host_memory: Option<u64>,
) -> Resources {
    let defaults = Resources::defaults_for(host_memory);
    // runArgs were checked when the devcontainer.json was read.
    let arg = |v: &Option<String>, parse: fn(&str) -> Result<u64, String>| {
        v.as_deref().and_then(|v| parse(v).ok())
    };
    Resources {
        memory: s
            .memory
            .unwrap_or_else(|| arg(&run_args.memory, parse_size).or(defaults.memory)),
        millicpus: s
            .cpus
            .unwrap_or_else(|| arg(&run_args.cpus, parse_cpus).or(defaults.millicpus)),
        pids: s.pids.unwrap_or(defaults.pids),
        tmp_size: s
            .tmp_size
            .unwrap_or_else(|| arg(&run_args.shm_size, parse_size).or(defaults.tmp_size)),
        enforce: s.enforce.unwrap_or(defaults.enforce),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::diagnostic::{ConfigError, Loaded};
    use crate::project::ProjectConfig;

    fn parse(text: &str) -> Result<Loaded<ProjectConfig>, ConfigError> {
        crate::parse_project(Path::new("/repo/.warren.yaml"), text, Path::new("/repo"))
    }

    fn errors(text: &str) -> Vec<String> {
        parse(text)
            .unwrap_err()
            .diagnostics
            .into_iter()
            .map(|d| {
                format!(
                    "{}:{} {} | {}",
                    d.line,
                    d.col,
                    d.message,
                    d.hint.unwrap_or_default()
                )
            })
            .collect()
    }

    #[test]
    fn every_key_and_unit() {
        let p = parse(
            "resources: {memory: 4g, cpus: 0.5, pids: 100, tmp_size: 64m, enforce: false}\ntypes:\n  big: {resources: {memory: 1073741824, cpus: 2, tmp_size: unlimited}}\n  small: {resources: {memory: \"512M\", cpus: \"1.5\", pids: unlimited}}\n",
        )
        .unwrap()
        .value;
        assert_eq!(
            p.defaults.resources,
            ResourceSettings {
                memory: Some(Some(4 << 30)),
                cpus: Some(Some(500)),
                pids: Some(Some(100)),
                tmp_size: Some(Some(64 << 20)),
                enforce: Some(false),
            }
        );
        let big = p.types.get("big").unwrap().settings.resources;
        assert_eq!(big.memory, Some(Some(1 << 30)));
        assert_eq!(big.cpus, Some(Some(2000)));
        assert_eq!(big.tmp_size, Some(None));
        assert_eq!(big.pids, None);
        let small = p.types.get("small").unwrap().settings.resources;
        assert_eq!(small.memory, Some(Some(512 << 20)));
        assert_eq!(small.cpus, Some(Some(1500)));
        assert_eq!(small.pids, Some(None));
    }

    #[test]
    fn bad_values_name_the_place_and_the_accepted_forms() {
        let got = errors(
            "resources:\n  memory: 4x\n  cpus: two\n  pids: -1\n  tmp_size: [1g]\n  enforce: yes\n  memroy: 1g\ntypes:\n  t: {resources: {memory: 1k, pids: 1.5}}\n",
        );
        let forms = "use bytes (`1073741824`) or a number with k, m, g or t (`512m`, `4g`, `1.5g`), or `unlimited`";
        assert_eq!(
            got,
            [
                format!("2:11 `resources.memory`: `4x` is not a size | {forms}"),
                "3:9 `resources.cpus`: `two` is not a number of CPUs | use a number of CPUs such as `2` or `0.5`, or `unlimited`".to_string(),
                "4:9 `resources.pids`: `-1` is not a positive number of processes | use a whole number of processes such as `4096`, or `unlimited`".to_string(),
                format!("5:13 `resources.tmp_size` must be a size, found a list | {forms}"),
                "6:12 `resources.enforce` must be `true` or `false`, found a string | e.g. `enforce: true`".to_string(),
                "7:3 unknown key `memroy` in resources | did you mean `memory`?".to_string(),
                "9:27 `types.t.resources.memory` is below the minimum of 6m | give an environment at least `memory: 6m` (`512m` or more for most tools), or `unlimited`".to_string(),
                "9:37 `types.t.resources.pids` must be a whole number, found a number | use a whole number of processes such as `4096`, or `unlimited`".to_string(),
            ]
        );
    }

    #[test]
    fn a_bad_unit_renders_with_file_line_and_column() {
        let err = crate::parse_project(
            Path::new("/path/.warren.yaml"),
            "resources: {memory: 4gb2}\n",
            Path::new("/path"),
        )
        .unwrap_err();
        assert_eq!(
            err.render(false),
            "error: `resources.memory`: `4gb2` is not a size
  --> /path/.warren.yaml:1:21
   |
 1 | resources: {memory: 4gb2}
   |                     ^^^^
   = hint: use bytes (`1073741824`) or a number with k, m, g or t (`512m`, `4g`, `1.5g`), or `unlimited`
"
        );
    }

    #[test]
    fn precedence_yaml_over_run_args_over_defaults() {
        let run_args = RunArgs {
            memory: Some("2g".into()),
            cpus: Some("1.5".into()),
            shm_size: Some("256m".into()),
            ..RunArgs::default()
        };
        let host = Some(32 << 30);
        let none = resolve(&ResourceSettings::default(), &RunArgs::default(), host);
        assert_eq!(none, Resources::defaults_for(host));
        let from_args = resolve(&ResourceSettings::default(), &run_args, host);
        assert_eq!(
            (from_args.memory, from_args.millicpus, from_args.tmp_size),
            (Some(2 << 30), Some(1500), Some(256 << 20))
        );
        let yaml = ResourceSettings {
            memory: Some(None),
            cpus: Some(Some(500)),
            pids: Some(Some(10)),
            tmp_size: Some(Some(1 << 20)),
            enforce: Some(false),
        };
        let r = resolve(&yaml, &run_args, host);
        assert_eq!(
            r,
            Resources {
                memory: None,
                millicpus: Some(500),
                pids: Some(10),
                tmp_size: Some(1 << 20),
                enforce: false,
            }
        );
    }
}
