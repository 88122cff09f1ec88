//! macOS: renders a [`Policy`] as a seatbelt profile for `sandbox-exec -p PROFILE`.
//! Compiled everywhere so its text is tested on every platform.
//!
//! Seatbelt evaluates rules in order and the last matching rule wins, so the profile is
//! laid out as: deny by default → allow process basics → allow reads of the system →
//! allow reads and writes of the writable set → deny writes to the always-read-only
//! paths (after the allows, so they win) → network.

use std::fmt::Write;
use std::path::Path;

use crate::policy::{Network, Policy};

/// System locations every macOS program needs to read.
const SYSTEM_READ: &[&str] = &[
    "/usr",
    "/bin",
    "/sbin",
    "/System",
    "/Library",
    "/Applications/Xcode.app",
    "/opt/homebrew",
    "/private/etc",
    "/private/var/db/timezone",
    "/dev",
];

/// Escapes a path for a seatbelt string literal.
fn quote(path: &Path) -> String {
    let s = path.to_string_lossy();
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The profile text for `policy`. On macOS `$HOME` and `/tmp` cannot be remapped, so the
/// private dirs are allowed at their own paths and the caller sets `HOME`/`TMPDIR` to them.
pub fn profile(policy: &Policy) -> String {
    let mut p = String::new();
    let _ = writeln!(p, "(version 1)");
    let _ = writeln!(p, "(deny default)");
    let _ = writeln!(p, "; process basics");
    let _ = writeln!(p, "(allow process-exec process-fork)");
    let _ = writeln!(p, "(allow signal (target same-sandbox))");
    let _ = writeln!(p, "(allow sysctl-read)");
    let _ = writeln!(p, "(allow mach-lookup)");
    let _ = writeln!(p, "(allow ipc-posix-shm)");
    let _ = writeln!(p, "(allow file-read-metadata)");
    let _ = writeln!(
        p,
        "(allow file-ioctl (literal \"/dev/null\") (literal \"/dev/tty\"))"
    );
    let _ = writeln!(
        p,
        "(allow file-write-data (literal \"/dev/null\") (literal \"/dev/zero\") (literal \"/dev/tty\") (regex #\"^/dev/ttys[0-9]+$\"))"
    );

    let _ = writeln!(p, "; read-only: system and granted paths");
    let _ = write!(p, "(allow file-read*");
    for s in SYSTEM_READ {
        let _ = write!(p, "\n  (subpath {})", quote(Path::new(s)));
    }
    for path in &policy.read_only {
        let _ = write!(p, "\n  (subpath {})", quote(path));
    }
    if policy.worktree_read_only {
        let _ = write!(p, "\n  (subpath {})", quote(&policy.worktree));
    }
    let _ = writeln!(p, ")");

    let _ = writeln!(
        p,
        "; read-write: worktree, private tmp and home, granted paths"
    );
    let mut writable: Vec<&Path> = vec![&policy.tmp_dir, &policy.home_dir];
    if !policy.worktree_read_only {
        writable.push(&policy.worktree);
    }
    writable.extend(policy.read_write.iter().map(|p| p.as_path()));
    let _ = write!(p, "(allow file-read* file-write*");
    for path in &writable {
        let _ = write!(p, "\n  (subpath {})", quote(path));
    }
    let _ = writeln!(p, ")");

    let _ = writeln!(
        p,
        "; always read-only, even where they do not exist yet (last rule wins)"
    );
    let _ = write!(p, "(deny file-write*");
    for prot in policy.protected_paths() {
        // `subpath` matches the path itself and everything beneath it, so it covers
        // files and directories alike, existing or not.
        let _ = write!(p, "\n  (subpath {})", quote(&prot));
    }
    let _ = writeln!(p, ")");

    if !policy.sockets.is_empty() {
        let _ = writeln!(p, "; granted host sockets");
        let _ = write!(p, "(allow network-outbound");
        for s in &policy.sockets {
            let _ = write!(p, "\n  (remote unix-socket (path-literal {}))", quote(s));
        }
        let _ = writeln!(p, ")");
    }
    match policy.network {
        Network::Host => {
            let _ = writeln!(p, "; network: host");
            let _ = writeln!(p, "(allow network-outbound (remote ip))");
            let _ = writeln!(p, "(allow network-inbound (local ip))");
            let _ = writeln!(p, "(allow network-bind (local ip))");
            let _ = writeln!(p, "(allow system-socket)");
        }
        Network::None => {
            let _ = writeln!(p, "; network: none");
            let _ = writeln!(p, "(deny network*)");
        }
        Network::Isolated => {
            // macOS has no network namespaces: only loopback, where warren's egress
            // proxy listens.
            let _ = writeln!(p, "; network: isolated (loopback only)");
            let _ = writeln!(p, "(allow network-outbound (remote ip \"localhost:*\"))");
            let _ = writeln!(p, "(allow network-inbound (local ip \"localhost:*\"))");
            let _ = writeln!(p, "(allow network-bind (local ip \"localhost:*\"))");
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn policy(network: Network) -> Policy {
        let mut p = Policy::new(
            "otter",
            Path::new("/Users/me/wt"),
            Path::new("/Users/me/.warren/env"),
            Path::new("/Users/me"),
        );
        p.read_only
            .push(PathBuf::from("/Users/me/repo/.git/objects"));
        p.read_only.push(PathBuf::from("/Users/me/.claude"));
        p.network = network;
        p
    }

    #[test]
    fn denies_by_default_and_reads_system() {
        let text = profile(&policy(Network::Host));
        assert!(text.starts_with("(version 1)\n(deny default)\n"));
        assert!(text.contains("(subpath \"/usr\")"));
        assert!(text.contains("(subpath \"/Users/me/.claude\")"));
    }

    #[test]
    fn a_read_only_worktree_is_only_readable() {
        let mut p = policy(Network::Host);
        p.worktree_read_only = true;
        let text = profile(&p);
        let (read, rest) = text.split_once("(allow file-read* file-write*").unwrap();
        let writable = rest.split_once("\n;").map_or(rest, |(w, _)| w);
        let wt = "(subpath \"/Users/me/wt\")";
        assert!(read.contains(wt), "{text}");
        assert!(!writable.contains(wt), "{text}");
    }

    #[test]
    fn writes_only_to_the_writable_set() {
        let text = profile(&policy(Network::Host));
        let rw = text
            .split("(allow file-read* file-write*")
            .nth(1)
            .unwrap()
            .split(')')
            .collect::<Vec<_>>()
            .join(")");
        assert!(rw.contains("(subpath \"/Users/me/wt\")"));
        assert!(rw.contains("(subpath \"/Users/me/.warren/env/tmp\")"));
        assert!(
            !rw.contains("/Users/me/repo/.git"),
            "the main .git is never writable"
        );
        assert_eq!(
            text.matches("file-write*").count(),
            2,
            "one allow, one deny"
        );
    }

    #[test]
    fn protected_paths_are_denied_after_the_allows() {
        let text = profile(&policy(Network::Host));
        let allow = text.find("(allow file-read* file-write*").unwrap();
        let deny = text.find("(deny file-write*").unwrap();
        assert!(deny > allow, "the deny must come last to win");
        for p in [
            "/Users/me/wt/.mcp.json",
            "/Users/me/wt/.claude/settings.json",
            "/Users/me/wt/.github/workflows",
            "/Users/me/wt/.claude/commands",
            "/Users/me/wt/.bashrc",
        ] {
            assert!(text[deny..].contains(&format!("(subpath \"{p}\")")), "{p}");
        }
    }

    #[test]
    fn network_none_denies_network() {
        let text = profile(&policy(Network::None));
        assert!(text.contains("(deny network*)"));
        assert!(!text.contains("(allow network-outbound (remote ip))"));
        let host = profile(&policy(Network::Host));
        assert!(host.contains("(allow network-outbound (remote ip))"));
    }

    #[test]
    fn quotes_paths() {
        assert_eq!(quote(Path::new("/a \"b\"\\c")), "\"/a \\\"b\\\"\\\\c\"");
    }
}
