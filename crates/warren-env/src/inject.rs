//! The variables warren sets inside every environment (docs/configuration.md, "Set inside environments").

use warren_core::routes::route_host;
use warren_core::{RuntimeKind, vars};

use crate::spec::ServiceSpec;

/// Facts the injected variables are computed from.
#[derive(Debug, Clone)]
pub struct InjectContext<'a> {
    pub name: &'a str,
    pub project: &'a str,
    pub env_type: Option<&'a str>,
    pub runtime: RuntimeKind,
    pub role: Option<&'a str>,
    pub issue_id: Option<&'a str>,
    pub services: &'a [ServiceSpec],
    pub proxy_port: u16,
}

/// `WARREN=1`, `WARREN_NAME`, …, `PORT`, `WARREN_HOST[_SVC]`, `WARREN_URL[_SVC]`,
/// `WARREN_PORT_SVC`, `IS_SANDBOX=1`, in a stable order.
pub fn warren_vars(ctx: &InjectContext<'_>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![
        (vars::WARREN.into(), "1".into()),
        (vars::WARREN_NAME.into(), ctx.name.into()),
        (vars::WARREN_PROJECT.into(), ctx.project.into()),
        (vars::WARREN_RUNTIME_SET.into(), ctx.runtime.as_str().into()),
        // Claude Code refuses --dangerously-skip-permissions as root unless
        // it is told it runs in a sandbox; inside warren it does.
        (vars::IS_SANDBOX.into(), "1".into()),
    ];
    if let Some(t) = ctx.env_type {
        out.push((vars::WARREN_TYPE.into(), t.into()));
    }
    if let Some(r) = ctx.role {
        out.push((vars::WARREN_ROLE.into(), r.into()));
    }
    if let Some(i) = ctx.issue_id {
        out.push((vars::WARREN_ISSUE_ID.into(), i.into()));
    }
    if let Some(default) = ctx.services.first() {
        out.push((vars::PORT.into(), default.port.to_string()));
        let host = route_host(Some(&default.name), ctx.name, ctx.proxy_port);
        out.push((vars::WARREN_URL.into(), format!("http://{host}")));
        out.push((vars::WARREN_HOST.into(), host));
    }
    for svc in ctx.services {
        let suffix = vars::env_suffix(&svc.name);
        let host = route_host(Some(&svc.name), ctx.name, ctx.proxy_port);
        out.push((
            format!("{}{suffix}", vars::WARREN_PORT_PREFIX),
            svc.port.to_string(),
        ));
        out.push((
            format!("{}{suffix}", vars::WARREN_URL_PREFIX),
            format!("http://{host}"),
        ));
        out.push((format!("{}{suffix}", vars::WARREN_HOST_PREFIX), host));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vars_for_two_services() {
        let services = vec![
            ServiceSpec {
                name: "web".into(),
                port: 3000,
                label: None,
                host_port: None,
            },
            ServiceSpec {
                name: "api-v2".into(),
                port: 4000,
                label: None,
                host_port: None,
            },
        ];
        let v = warren_vars(&InjectContext {
            name: "fluffy-otter",
            project: "app",
            env_type: Some("issue"),
            runtime: RuntimeKind::Docker,
            role: None,
            issue_id: Some("42"),
            services: &services,
            proxy_port: 8080,
        });
        let get = |k: &str| v.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("WARREN"), Some("1"));
        assert_eq!(get("PORT"), Some("3000"));
        assert_eq!(get("WARREN_HOST"), Some("web.fluffy-otter.localhost:8080"));
        assert_eq!(
            get("WARREN_URL"),
            Some("http://web.fluffy-otter.localhost:8080")
        );
        assert_eq!(
            get("WARREN_URL_API_V2"),
            Some("http://api-v2.fluffy-otter.localhost:8080")
        );
        assert_eq!(get("WARREN_PORT_API_V2"), Some("4000"));
        assert_eq!(get("WARREN_ISSUE_ID"), Some("42"));
        assert_eq!(get("WARREN_TYPE"), Some("issue"));
        assert_eq!(get("IS_SANDBOX"), Some("1"));
    }
}
