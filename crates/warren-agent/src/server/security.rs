//! Request checks every route passes first: a loopback `Host` (DNS
//! rebinding), no cross-origin browser request (CSRF from a web page), and
//! the Bearer token (compared in constant time). The API token file lives under
//! `ROOT/credentials/` (dir 0700, file 0600), created on first run.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use axum::http::{HeaderMap, Uri};

use crate::error::AgentError;

/// File name of the agent API token under `ROOT/credentials/`.
pub const TOKEN_FILE: &str = "agent-api.token";

/// Path of the token file.
pub fn token_path(root: &Path) -> PathBuf {
    root.join("credentials").join(TOKEN_FILE)
}

/// Reads the token, creating it (and `credentials/`, 0700) on first use.
/// Two servers starting at once agree on one token: the file appears
/// atomically (written to a temp file, then hard-linked into place).
pub fn load_or_create_token(root: &Path) -> Result<String, AgentError> {
    let dir = root.join("credentials");
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| AgentError::Token { path, source }
    };
    std::fs::create_dir_all(&dir).map_err(err(&dir))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(err(&dir))?;
    let path = dir.join(TOKEN_FILE);
    if let Some(t) = read_token(&path)? {
        return Ok(t);
    }
    let token =
        warren_core::secret::generate_token().map_err(|e| AgentError::Random(e.to_string()))?;
    let tmp = dir.join(format!(".{TOKEN_FILE}.{}", std::process::id()));
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(err(&tmp))?;
        f.write_all(token.as_bytes()).map_err(err(&tmp))?;
        f.sync_all().map_err(err(&tmp))?;
    }
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(token),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read_token(&path)?.ok_or_else(|| AgentError::Token {
                path: path.clone(),
                source: std::io::Error::other("the token file is empty"),
            })
        }
        Err(e) => Err(AgentError::Token { path, source: e }),
    }
}

/// Reads an existing token file (`None` when it does not exist).
pub fn read_token(path: &Path) -> Result<Option<String>, AgentError> {
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(AgentError::Token {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Whether a host name (without port) is this machine's loopback.
pub fn is_local_hostname(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h == "localhost"
        || h.ends_with(".localhost")
        || h == "127.0.0.1"
        || h == "[::1]"
        || h == "::1"
        || h.parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Splits `host[:port]` (also `[v6]:port`) and returns the host part.
fn host_part(authority: &str) -> &str {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(i) => &authority[..=i],
            None => authority,
        };
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => authority,
    }
}

/// Why a request is refused before authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Host(String),
    Origin(String),
}

/// Checks `Host`, `Origin` and `Sec-Fetch-Site` of a request to the server
/// listening on 127.0.0.1:`port`. The only origin allowed is the server's
/// own (`http://127.0.0.1:PORT` or `http://localhost:PORT`): every other
/// page a browser shows may be hostile, and the likeliest are on this very
/// machine (agents' dev servers on `*.localhost`, other local ports).
pub fn check_request(headers: &HeaderMap, port: u16) -> Result<(), Refusal> {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !is_local_hostname(host_part(host)) {
        return Err(Refusal::Host(host.to_string()));
    }
    if let Some(origin) = headers.get(axum::http::header::ORIGIN) {
        let o = origin.to_str().unwrap_or("");
        let own = [
            format!("http://127.0.0.1:{port}"),
            format!("http://localhost:{port}"),
        ];
        // Browsers send origins in lower case, without a path.
        if !own.iter().any(|x| o.eq_ignore_ascii_case(x)) {
            return Err(Refusal::Origin(o.to_string()));
        }
    }
    // Where `Origin` is not sent (a GET a page triggers), fetch metadata
    // still says whether another page asked: only the server's own pages
    // (`same-origin`) and the user (`none`: typed, a bookmark) may.
    if let Some(site) = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.eq_ignore_ascii_case("same-origin") && !v.eq_ignore_ascii_case("none"))
    {
        return Err(Refusal::Origin(format!("{site} request")));
    }
    Ok(())
}

/// Whether the request carries `token` (Bearer header or `?token=`).
pub fn authorized(headers: &HeaderMap, uri: &Uri, token: &str) -> bool {
    let from_header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| {
            let (scheme, rest) = h.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        });
    if let Some(t) = from_header {
        return warren_core::secret::constant_time_eq(t.as_bytes(), token.as_bytes());
    }
    let from_query = uri.query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("token="))
            .map(str::to_string)
    });
    from_query
        .is_some_and(|t| warren_core::secret::constant_time_eq(t.as_bytes(), token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn hosts_and_origins() {
        let check = |pairs: &[(&'static str, &str)]| check_request(&headers(pairs), 4000);
        assert!(check(&[("host", "127.0.0.1:4000")]).is_ok());
        assert!(check(&[("host", "localhost")]).is_ok());
        assert!(check(&[("host", "[::1]:80")]).is_ok());
        assert!(check(&[("host", "otter.localhost:8080")]).is_ok());
        assert_eq!(
            check(&[("host", "evil.example:4000")]),
            Err(Refusal::Host("evil.example:4000".into()))
        );
        assert!(check(&[]).is_err(), "no Host");
        for own in ["http://127.0.0.1:4000", "http://localhost:4000"] {
            assert!(
                check(&[("host", "localhost"), ("origin", own)]).is_ok(),
                "{own}"
            );
        }
        for other in [
            "https://evil.example",
            "null",
            "",
            // Agents' dev servers behind warren's proxy, other local ports.
            "http://web.otter.localhost:4000",
            "http://otter.localhost",
            "http://localhost:3000",
            "http://127.0.0.1:3000",
            "https://127.0.0.1:4000",
            "http://127.0.0.1:4000/path",
            "http://127.0.0.1:40000",
        ] {
            assert_eq!(
                check(&[("host", "localhost"), ("origin", other)]),
                Err(Refusal::Origin(other.into())),
                "{other}"
            );
        }
        for site in ["cross-site", "same-site"] {
            assert!(check(&[("host", "localhost"), ("sec-fetch-site", site)]).is_err());
        }
        for site in ["same-origin", "none"] {
            assert!(check(&[("host", "localhost"), ("sec-fetch-site", site)]).is_ok());
        }
    }

    #[test]
    fn token_file_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let t1 = load_or_create_token(dir.path()).unwrap();
        let t2 = load_or_create_token(dir.path()).unwrap();
        assert_eq!(t1, t2);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&token_path(dir.path())), 0o600);
        assert_eq!(mode(&dir.path().join("credentials")), 0o700);
        let uri: Uri = "/x?token=abc".parse().unwrap();
        assert!(authorized(&HeaderMap::new(), &uri, "abc"));
        let h = headers(&[("authorization", "Bearer abc")]);
        assert!(authorized(&h, &"/x".parse().unwrap(), "abc"));
        assert!(!authorized(&h, &"/x".parse().unwrap(), "abd"));
    }
}
