//! The names under which the proxy serves an environment's services, built in
//! one place for the proxy, `ls`, `run` and the `WARREN_URL_*` variables.

/// `[service.]env.localhost[:port]` (the port left out when it is 80).
pub fn route_host(service: Option<&str>, env: &str, port: u16) -> String {
    let mut s = String::new();
    if let Some(svc) = service {
        s.push_str(svc);
        s.push('.');
    }
    s.push_str(env);
    s.push_str(".localhost");
    if port != 80 {
        s.push(':');
        s.push_str(&port.to_string());
    }
    s
}

/// `http://[service.]env.localhost[:port]`: the URL people open.
pub fn route_url(service: Option<&str>, env: &str, port: u16) -> String {
    format!("http://{}", route_host(service, env, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_urls() {
        assert_eq!(
            route_host(Some("web"), "otter", 8080),
            "web.otter.localhost:8080"
        );
        assert_eq!(route_url(None, "otter", 80), "http://otter.localhost");
    }
}
