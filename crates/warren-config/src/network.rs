//! `network:`, `egress:` and `grants:` (top level and per type): how an environment
//! reaches the network, which domains its egress proxy lets through, and which
//! credentials the proxy adds for it (docs/configuration.md, "Network").
//!
//! ```yaml
//! network: isolated                 # isolated (default) | open | none | host
//! egress: {allow: ["registry.npmjs.org", "*.pythonhosted.org"]}
//! grants: [anthropic, github, {name: internal, hosts: [api.internal.example], header: authorization, format: "Bearer {}", env: INTERNAL_TOKEN}]
//! ```

use warren_core::NetworkMode;
use warren_core::network::{BUILTIN_GRANTS, valid_host_pattern};

use crate::decode::Decoder;
use crate::decode::suggestion;
use crate::diagnostic::Severity;
use crate::node::{Node, Value};

/// One entry of `grants:`: a built-in name, or a custom grant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GrantSpec {
    pub name: String,
    /// Custom grants only (built-ins know theirs).
    pub hosts: Vec<String>,
    pub header: Option<String>,
    /// The header's value, `{}` standing for the credential (default `{}`).
    pub format: Option<String>,
    /// The host variable holding the credential.
    pub env: Option<String>,
}

/// Decodes `network: MODE`.
pub(crate) fn decode_mode(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<NetworkMode> {
    let value = d.string(node, what)?;
    match NetworkMode::parse(&value) {
        Some(m) => Some(m),
        None => {
            let hint = suggestion(&value, NetworkMode::NAMES).or_else(|| {
                Some(format!(
                    "use one of {}",
                    NetworkMode::NAMES
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            });
            d.error(node.span, format!("unknown network mode `{value}`"), hint);
            None
        }
    }
}

/// Decodes `egress: {allow: [...]}`; returns the allow-list.
pub(crate) fn decode_egress(d: &mut Decoder<'_>, node: &Node, what: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Some(mut f) = d.fields(node, what) else {
        return out;
    };
    if let Some(n) = f.take("allow") {
        for item in d
            .string_list(n, &format!("{what}.allow"), false)
            .unwrap_or_default()
        {
            let host = item.value.to_ascii_lowercase();
            if valid_host_pattern(&host) {
                if !out.contains(&host) {
                    out.push(host);
                }
            } else {
                d.error(
                    item.span,
                    format!("`{}` is not a domain or `*.domain` pattern", item.value),
                    Some("write a host name (`registry.npmjs.org`) or `*.` and a domain for its subdomains (`*.npmjs.org`); no scheme, port or path".into()),
                );
            }
        }
    }
    f.finish(d, Severity::Error);
    out
}

/// Decodes `grants: [...]`.
pub(crate) fn decode_grants(d: &mut Decoder<'_>, node: &Node, what: &str) -> Vec<GrantSpec> {
    let mut out: Vec<GrantSpec> = Vec::new();
    let Value::Seq(items) = &node.value else {
        d.error(
            node.span,
            format!("`{what}` must be a list"),
            Some("e.g. `grants: [anthropic, github]`".into()),
        );
        return out;
    };
    let names: Vec<&str> = BUILTIN_GRANTS.to_vec();
    for item in items {
        let spec = match &item.value {
            Value::Str(name) => {
                if !BUILTIN_GRANTS.contains(&name.as_str()) {
                    let hint = suggestion(name, &names).or_else(|| {
                        Some(format!(
                            "built-in grants are {}; a custom one is a map: `{{name: N, hosts: [H], header: authorization, format: \"Bearer {{}}\", env: VAR}}`",
                            names.join(", ")
                        ))
                    });
                    d.error(item.span, format!("unknown grant `{name}`"), hint);
                    continue;
                }
                GrantSpec {
                    name: name.clone(),
                    hosts: Vec::new(),
                    header: None,
                    format: None,
                    env: None,
                }
            }
            _ => match custom(d, item, what) {
                Some(g) => g,
                None => continue,
            },
        };
        if !out.iter().any(|g| g.name == spec.name) {
            out.push(spec);
        }
    }
    out
}

fn custom(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<GrantSpec> {
    let mut f = d.fields(node, what)?;
    let key = |k: &str| format!("{what}[].{k}");
    let name = f.take("name").and_then(|n| d.string(n, &key("name")));
    let hosts: Vec<String> = f
        .take("hosts")
        .and_then(|n| d.string_list(n, &key("hosts"), false))
        .unwrap_or_default()
        .into_iter()
        .filter_map(|h| {
            let host = h.value.to_ascii_lowercase();
            if valid_host_pattern(&host) && !host.starts_with("*.") {
                Some(host)
            } else {
                d.error(
                    h.span,
                    format!("`{}` is not a host name", h.value),
                    Some("a grant names exact hosts, e.g. `api.example.com`".into()),
                );
                None
            }
        })
        .collect();
    let header = f.take("header").and_then(|n| d.string(n, &key("header")));
    let format = f.take("format").and_then(|n| {
        let v = d.string(n, &key("format"))?;
        if v.contains("{}") {
            Some(v)
        } else {
            d.error(
                n.span,
                "the format has no `{}` for the credential".to_string(),
                Some("e.g. `format: \"Bearer {}\"`".into()),
            );
            None
        }
    });
    let env = f.take("env").and_then(|n| d.string(n, &key("env")));
    f.finish(d, Severity::Error);
    let (Some(name), Some(header), Some(env)) = (name, header, env) else {
        d.error(
            node.span,
            "a custom grant needs `name`, `hosts`, `header` and `env`".to_string(),
            Some("e.g. `{name: internal, hosts: [api.internal.example], header: authorization, format: \"Bearer {}\", env: INTERNAL_TOKEN}`".into()),
        );
        return None;
    };
    if hosts.is_empty() {
        d.error(
            node.span,
            format!("grant `{name}` names no hosts"),
            Some("add `hosts: [api.example.com]`".into()),
        );
        return None;
    }
    Some(GrantSpec {
        name,
        hosts,
        header: Some(header.to_ascii_lowercase()),
        format,
        env: Some(env),
    })
}
