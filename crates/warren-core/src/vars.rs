//! Every environment variable warren reads, and every one it sets inside
//! environments. Keep this the single list: grep for a name here first.

// ---- read by warren -------------------------------------------------------

/// The warren root directory (default `~/.warren`).
pub const WARREN_ROOT: &str = "WARREN_ROOT";
/// Proxy listen port (overrides `proxy.port`).
pub const WARREN_PROXY_PORT: &str = "WARREN_PROXY_PORT";
/// Proxy bind address (overrides `proxy.bind`).
pub const WARREN_PROXY_BIND: &str = "WARREN_PROXY_BIND";
/// Seconds the proxy stays up without routes before it exits.
pub const WARREN_PROXY_IDLE_SECONDS: &str = "WARREN_PROXY_IDLE_SECONDS";
/// `0` keeps environments from auto-starting the proxy.
pub const WARREN_PROXY_AUTOSTART: &str = "WARREN_PROXY_AUTOSTART";
/// `0` keeps `warren conflicts` and `ls` from asking (and starting) the change
/// feed: every tree is then checked by the stat data of its files.
pub const WARREN_CHANGE_FEED: &str = "WARREN_CHANGE_FEED";
/// Default runtime (`auto`, `docker`, `sandbox`, `host`; overrides `runtime`).
pub const WARREN_RUNTIME: &str = "WARREN_RUNTIME";
/// Port range for sandbox services and deterministic ports (`9000-9100`).
pub const WARREN_PORT_RANGE: &str = "WARREN_PORT_RANGE";
/// Dashboard port and bind address.
pub const WARREN_WEB_PORT: &str = "WARREN_WEB_PORT";
pub const WARREN_WEB_BIND: &str = "WARREN_WEB_BIND";
/// Tracing filter for `--verbose` output (e.g. `warren_runtime=debug`).
pub const WARREN_LOG: &str = "WARREN_LOG";
/// The `warren` binary that servers run as a subprocess (`warren exec`,
/// the proxy); default: the running executable. Tests and benchmarks set it.
pub const WARREN_BIN: &str = "WARREN_BIN";
/// Prefix of `WARREN_TOOL_<NAME>_BIN`: the binary used for a tool (tests point
/// these at scripts that replay recorded CLI output).
pub const WARREN_TOOL_PREFIX: &str = "WARREN_TOOL_";
/// Docker engine address, as the docker CLI reads it.
pub const DOCKER_HOST: &str = "DOCKER_HOST";
/// Disables colour in all output.
pub const NO_COLOR: &str = "NO_COLOR";
/// Test only: `host=ip:port,…` DNS answers the egress proxy of environments
/// created now uses instead of resolving (an overridden host skips the
/// public-address check). Never set it outside tests.
pub const WARREN_EGRESS_TEST_RESOLVE: &str = "WARREN_EGRESS_TEST_RESOLVE";
/// Test only: PEM files (comma-separated) of extra CAs the egress proxy
/// trusts upstream, for local HTTPS test servers.
pub const WARREN_EGRESS_TEST_UPSTREAM_CA: &str = "WARREN_EGRESS_TEST_UPSTREAM_CA";
/// Set by CI systems; integration tests fail instead of skipping under it.
pub const CI: &str = "CI";

/// `WARREN_TOOL_<NAME>_BIN` for a tool name (`claude` -> `WARREN_TOOL_CLAUDE_BIN`).
pub fn tool_bin_var(tool: &str) -> String {
    format!("{WARREN_TOOL_PREFIX}{}_BIN", env_suffix(tool))
}

// ---- set inside environments ----------------------------------------------

/// Always `1` inside an environment.
pub const WARREN: &str = "WARREN";
pub const WARREN_NAME: &str = "WARREN_NAME";
pub const WARREN_PROJECT: &str = "WARREN_PROJECT";
pub const WARREN_TYPE: &str = "WARREN_TYPE";
pub const WARREN_RUNTIME_SET: &str = "WARREN_RUNTIME";
pub const WARREN_ROLE: &str = "WARREN_ROLE";
pub const WARREN_ISSUE_ID: &str = "WARREN_ISSUE_ID";
/// Port of the environment's default service (the port to listen on).
pub const PORT: &str = "PORT";
/// `SVC.NAME.localhost:PROXYPORT` of the default service.
pub const WARREN_HOST: &str = "WARREN_HOST";
/// `http://` + [`WARREN_HOST`].
pub const WARREN_URL: &str = "WARREN_URL";
/// The environment's tree on the host, for host hooks (`pre_start`,
/// `post_stop`) and `initializeCommand`, which run in the main checkout.
pub const WARREN_WORKTREE: &str = "WARREN_WORKTREE";
/// Prefix of `WARREN_HOST_<SVC>`.
pub const WARREN_HOST_PREFIX: &str = "WARREN_HOST_";
/// Prefix of `WARREN_URL_<SVC>`.
pub const WARREN_URL_PREFIX: &str = "WARREN_URL_";
/// Prefix of `WARREN_PORT_<SVC>`: the port a service listens on inside.
pub const WARREN_PORT_PREFIX: &str = "WARREN_PORT_";
/// Claude Code refuses permission bypass as root unless this is set.
pub const IS_SANDBOX: &str = "IS_SANDBOX";

/// Turns a service or tool name into an env-var suffix (`web-ui` -> `WEB_UI`).
pub fn env_suffix(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes() {
        assert_eq!(env_suffix("web-ui"), "WEB_UI");
        assert_eq!(env_suffix("3000"), "3000");
        assert_eq!(tool_bin_var("claude"), "WARREN_TOOL_CLAUDE_BIN");
    }
}
