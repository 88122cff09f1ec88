//! What a Docker environment may use and do beyond its mounts: the resource
//! limits of its [`warren_core::Resources`] (memory without extra swap, CPUs,
//! pids, `/dev/shm` and tmpfs sizes) and a reduced capability set with
//! `no-new-privileges` (docs/SECURITY.md, "Resource limits").

use bollard::models::HostConfig;

use crate::CreateSpec;

/// The capabilities an environment keeps (everything else is dropped), each
/// with why development tools need it. Docker's default set also has
/// `NET_RAW` (raw sockets: spoofing, sniffing; only `ping` misses it),
/// `MKNOD` (device nodes), `SETFCAP`, `SETPCAP` and `SYS_CHROOT`, which
/// warren drops; devcontainer `capAdd` (or runArgs `--cap-add`) brings any
/// of them back.
pub const DEV_CAPABILITIES: &[(&str, &str)] = &[
    (
        "CHOWN",
        "package managers (dpkg, apk, npm and pip as root) and `chown` give unpacked files their owners",
    ),
    (
        "DAC_OVERRIDE",
        "root reads and writes files of other users: the worktree is owned by your uid, apt writes into `_apt`'s directories",
    ),
    (
        "FOWNER",
        "chmod and timestamps on files root does not own (tar and cp -p, npm, pip, git in a worktree owned by your uid)",
    ),
    (
        "FSETID",
        "setgid directories and files keep their bit when root writes or chmods them (dpkg)",
    ),
    (
        "KILL",
        "root signals processes of other users (stopping a database started as its own user)",
    ),
    (
        "SETGID",
        "`su`, `gosu` and services drop to another group (apt's `_apt` sandbox, postgres)",
    ),
    (
        "SETUID",
        "`su`, `gosu` and services drop to another user (apt's `_apt` sandbox, postgres)",
    ),
    (
        "NET_BIND_SERVICE",
        "servers listen on ports below 1024 (a dev server on 80 or 443)",
    ),
    (
        "AUDIT_WRITE",
        "`su`, `login` and sshd write their audit record through PAM and fail without it on some distributions",
    ),
];

/// The `security_opt` entry that stops setuid binaries and file capabilities
/// from granting privileges.
pub const NO_NEW_PRIVILEGES: &str = "no-new-privileges";

/// Sets the HostConfig's limits and privileges from `spec`.
pub fn apply(host: &mut HostConfig, spec: &CreateSpec) {
    let r = &spec.resources;
    let bytes = |v: Option<u64>| v.and_then(|b| i64::try_from(b).ok());
    host.memory = bytes(r.memory);
    // Memory + swap equal to memory: no swap beyond the limit.
    host.memory_swap = host.memory;
    host.nano_cpus = r
        .millicpus
        .and_then(|m| m.checked_mul(1_000_000))
        .and_then(|n| i64::try_from(n).ok());
    host.pids_limit = bytes(r.pids);
    host.shm_size = bytes(r.tmp_size);
    if let Some(size) = bytes(r.tmp_size) {
        for m in host.mounts.iter_mut().flatten() {
            if m.typ == Some(bollard::models::MountType::TMPFS) {
                let opts = m.tmpfs_options.get_or_insert_with(Default::default);
                opts.size_bytes.get_or_insert(size);
            }
        }
    }

    // `privileged` (the devcontainer asked for everything) gets every
    // capability from the engine, less what runArgs `--cap-drop` names.
    let norm = |c: &String| {
        let name = c.trim().to_ascii_uppercase();
        name.strip_prefix("CAP_").unwrap_or(&name).to_string()
    };
    let drop: Vec<String> = spec.cap_drop.iter().map(norm).collect();
    if spec.privileged {
        host.cap_drop = (!drop.is_empty()).then_some(drop);
    } else {
        // Docker's own rule: `--cap-drop` removes from the default set, then
        // `--cap-add` adds back. warren's default set is DEV_CAPABILITIES.
        host.cap_drop = Some(vec!["ALL".to_string()]);
        let drop_all = drop.iter().any(|c| c == "ALL");
        let mut add: Vec<String> = DEV_CAPABILITIES
            .iter()
            .map(|(c, _)| (*c).to_string())
            .filter(|c| !drop_all && !drop.contains(c))
            .collect();
        for name in spec.cap_add.iter().map(norm) {
            if !add.contains(&name) {
                add.push(name);
            }
        }
        host.cap_add = Some(add);
    }
    // The devcontainer's own `no-new-privileges[:true|false]` wins: `:false`
    // is how a project whose tools need `sudo` opts out.
    let mut opts = spec.security_opt.clone();
    if !opts
        .iter()
        .any(|o| o.split([':', '=']).next() == Some(NO_NEW_PRIVILEGES))
    {
        opts.push(NO_NEW_PRIVILEGES.to_string());
    }
    host.security_opt = Some(opts);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Mount, MountKind};
    use warren_core::Resources;

    fn spec() -> CreateSpec {
        CreateSpec {
            container_name: "c".into(),
            image: "img".into(),
            mounts: vec![Mount {
                kind: MountKind::Tmpfs,
                source: String::new(),
                target: "/tmp".into(),
                read_only: false,
            }],
            resources: Resources {
                memory: Some(512 << 20),
                millicpus: Some(1500),
                pids: Some(100),
                tmp_size: Some(64 << 20),
                enforce: true,
            },
            cap_add: vec!["cap_sys_ptrace".into(), "CHOWN".into()],
            security_opt: vec!["seccomp=unconfined".into()],
            ..Default::default()
        }
    }

    #[test]
    fn limits_capabilities_and_no_new_privileges() {
        let hc = crate::docker::convert::create_body(&spec())
            .host_config
            .unwrap();
        assert_eq!(hc.memory, Some(512 << 20));
        assert_eq!(hc.memory_swap, Some(512 << 20));
        assert_eq!(hc.nano_cpus, Some(1_500_000_000));
        assert_eq!(hc.pids_limit, Some(100));
        assert_eq!(hc.shm_size, Some(64 << 20));
        let tmpfs = &hc.mounts.unwrap()[0];
        assert_eq!(
            tmpfs.tmpfs_options.as_ref().unwrap().size_bytes,
            Some(64 << 20)
        );
        assert_eq!(hc.cap_drop.unwrap(), ["ALL"]);
        let add = hc.cap_add.unwrap();
        assert_eq!(add.len(), DEV_CAPABILITIES.len() + 1, "{add:?}");
        assert!(add.contains(&"SYS_PTRACE".to_string()));
        assert!(!add.iter().any(|c| c == "NET_RAW" || c == "MKNOD"));
        assert_eq!(
            hc.security_opt.unwrap(),
            ["seccomp=unconfined", "no-new-privileges"]
        );
    }

    #[test]
    fn every_capability_kept_is_documented() {
        let doc = include_str!("../../../../docs/SECURITY.md");
        let section = &doc[doc.find("## Resource limits").unwrap()..];
        for (cap, _) in DEV_CAPABILITIES {
            assert!(section.contains(&format!("`{cap}`")), "{cap}");
        }
    }

    #[test]
    fn no_limits_privileged_and_an_explicit_opt_out() {
        let mut s = spec();
        s.resources = Resources::default();
        s.privileged = true;
        s.security_opt = vec!["no-new-privileges:false".into()];
        let hc = crate::docker::convert::create_body(&s).host_config.unwrap();
        assert_eq!(
            (hc.memory, hc.memory_swap, hc.pids_limit, hc.shm_size),
            (None, None, None, None)
        );
        assert_eq!(hc.cap_drop, None);
        assert_eq!(hc.security_opt.unwrap(), ["no-new-privileges:false"]);
    }

    #[test]
    fn cap_drop_removes_from_the_default_set_before_cap_add() {
        let mut s = spec();
        s.cap_drop = vec!["ALL".into()];
        let hc = crate::docker::convert::create_body(&s).host_config.unwrap();
        assert_eq!(hc.cap_drop.unwrap(), ["ALL"]);
        assert_eq!(
            hc.cap_add.unwrap(),
            ["SYS_PTRACE", "CHOWN"],
            "only what capAdd names"
        );

        s.cap_drop = vec!["cap_kill".into(), "SETUID".into()];
        let add = crate::docker::convert::create_body(&s)
            .host_config
            .unwrap()
            .cap_add
            .unwrap();
        assert!(!add.iter().any(|c| c == "KILL" || c == "SETUID"), "{add:?}");
        assert!(add.iter().any(|c| c == "SETGID"), "{add:?}");

        s.privileged = true;
        let hc = crate::docker::convert::create_body(&s).host_config.unwrap();
        assert_eq!(
            hc.cap_drop.unwrap(),
            ["KILL", "SETUID"],
            "privileged: passed through"
        );
    }
}
