//! Conversions between warren's runtime types and the Engine API's models.

use std::collections::{BTreeMap, HashMap};

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum, ContainerSummary,
    ContainerSummaryStateEnum, DeviceMapping, DeviceRequest, HostConfig, Mount as ApiMount,
    MountType, PortBinding as ApiPortBinding, PortMap, ResourcesUlimits,
};

use crate::{ContainerInfo, ContainerState, CreateSpec, MountKind, PortBinding};

/// Keeps a container alive when its own command is overridden
/// (devcontainer `overrideCommand`). Exits promptly on `docker stop`.
pub const KEEP_ALIVE: &str = "trap 'exit 0' TERM INT; while :; do sleep 86400 & wait $!; done";

/// `--gpus` as the engine's device request: `all` → count -1, a number →
/// that count, `device=ID[,ID]` → those ids; capabilities `[["gpu"]]`
/// (what `docker run --gpus` sends).
pub fn gpu_request(gpus: &str) -> DeviceRequest {
    let g = gpus.trim().trim_matches('"');
    let (count, ids) = if g == "all" {
        (Some(-1), None)
    } else if let Ok(n) = g.parse::<i64>() {
        (Some(n), None)
    } else if let Some(ids) = g.strip_prefix("device=") {
        (None, Some(ids.split(',').map(str::to_string).collect()))
    } else {
        (Some(-1), None)
    };
    DeviceRequest {
        driver: Some(String::new()),
        count,
        device_ids: ids,
        capabilities: Some(vec![vec!["gpu".to_string()]]),
        options: None,
    }
}

/// GPUs, devices and host namespaces the user granted.
fn apply_host_access(host: &mut HostConfig, h: &crate::HostAccessSpec) {
    if let Some(g) = &h.gpus {
        host.device_requests = Some(vec![gpu_request(g)]);
    }
    if !h.devices.is_empty() {
        host.devices = Some(
            h.devices
                .iter()
                .map(|d| {
                    let mut parts = d.splitn(3, ':');
                    let on_host = parts.next().unwrap_or_default().to_string();
                    let inside = parts
                        .next()
                        .filter(|p| !p.is_empty())
                        .map(str::to_string)
                        .unwrap_or_else(|| on_host.clone());
                    DeviceMapping {
                        path_on_host: Some(on_host),
                        path_in_container: Some(inside),
                        cgroup_permissions: Some(parts.next().unwrap_or("rwm").to_string()),
                    }
                })
                .collect(),
        );
    }
    host.ipc_mode = h.ipc.clone();
    host.pid_mode = h.pid.clone();
    host.uts_mode = h.uts.clone();
}

pub fn create_body(spec: &CreateSpec) -> ContainerCreateBody {
    let mut port_bindings: PortMap = HashMap::new();
    let mut exposed = Vec::new();
    for p in &spec.publish {
        let key = format!("{}/tcp", p.container_port);
        exposed.push(key.clone());
        port_bindings.insert(
            key,
            Some(vec![ApiPortBinding {
                host_ip: Some(
                    p.host_ip
                        .map(|ip| ip.to_string())
                        .unwrap_or_else(|| "127.0.0.1".to_string()),
                ),
                host_port: Some(p.host_port.map(|h| h.to_string()).unwrap_or_default()),
            }]),
        );
    }
    let mounts = spec
        .mounts
        .iter()
        .map(|m| ApiMount {
            target: Some(m.target.clone()),
            source: (m.kind != MountKind::Tmpfs).then(|| m.source.clone()),
            typ: Some(match m.kind {
                MountKind::Bind => MountType::BIND,
                MountKind::Volume => MountType::VOLUME,
                MountKind::Tmpfs => MountType::TMPFS,
            }),
            read_only: Some(m.read_only),
            ..Default::default()
        })
        .collect();
    let ulimits = spec
        .ulimits
        .iter()
        .filter_map(|u| {
            let (name, limits) = u.split_once('=')?;
            let (soft, hard) = match limits.split_once(':') {
                Some((s, h)) => (s.parse().ok()?, h.parse().ok()?),
                None => {
                    let v: i64 = limits.parse().ok()?;
                    (v, v)
                }
            };
            Some(ResourcesUlimits {
                name: Some(name.to_string()),
                soft: Some(soft),
                hard: Some(hard),
            })
        })
        .collect::<Vec<_>>();
    let mut host_config = HostConfig {
        mounts: Some(mounts),
        port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
        init: spec.init.then_some(true),
        privileged: spec.privileged.then_some(true),
        cap_add: (!spec.cap_add.is_empty()).then(|| spec.cap_add.clone()),
        security_opt: (!spec.security_opt.is_empty()).then(|| spec.security_opt.clone()),
        network_mode: spec.network.clone(),
        extra_hosts: (!spec.extra_hosts.is_empty()).then(|| spec.extra_hosts.clone()),
        ulimits: (!ulimits.is_empty()).then_some(ulimits),
        ..Default::default()
    };
    super::limits::apply(&mut host_config, spec);
    apply_host_access(&mut host_config, &spec.host);
    let (entrypoint, cmd) = if let Some(job) = &spec.oneshot {
        (Some(Vec::new()), Some(job.clone()))
    } else if spec.override_command {
        // The spec's way: each entrypoint on a line of its own (a Feature's
        // script ends in `exec "$@"`, a no-op without arguments), then the
        // keep-alive.
        let mut script = String::new();
        for e in &spec.entrypoints {
            script.push_str(e);
            script.push('\n');
        }
        script.push_str(KEEP_ALIVE);
        (
            Some(vec!["/bin/sh".to_string(), "-c".to_string(), script]),
            Some(Vec::new()),
        )
    } else {
        (None, None)
    };
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        hostname: spec.hostname.clone(),
        env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(
            spec.labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        working_dir: spec.workdir.clone(),
        user: spec.user.clone(),
        entrypoint,
        cmd,
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        host_config: Some(host_config),
        ..Default::default()
    }
}

fn ports_from_map(map: Option<PortMap>) -> Vec<PortBinding> {
    let mut out: Vec<PortBinding> = Vec::new();
    for (key, bindings) in map.unwrap_or_default() {
        let Some(port) = key.split('/').next().and_then(|p| p.parse::<u16>().ok()) else {
            continue;
        };
        if !key.ends_with("/tcp") {
            continue;
        }
        let bindings = bindings.unwrap_or_default();
        // Prefer the IPv4 loopback binding: that is what routes point at.
        let best = bindings
            .iter()
            .filter_map(|b| {
                let hp = b.host_port.as_deref()?.parse::<u16>().ok()?;
                let ip = b.host_ip.as_deref().and_then(|i| i.parse().ok());
                Some((hp, ip))
            })
            .min_by_key(|(_, ip): &(u16, Option<std::net::IpAddr>)| {
                !matches!(ip, Some(std::net::IpAddr::V4(_)))
            });
        out.push(PortBinding {
            container_port: port,
            host_port: best.map(|b| b.0),
            host_ip: best.and_then(|b| b.1),
        });
    }
    out.sort_by_key(|p| p.container_port);
    out
}

pub fn from_inspect(r: ContainerInspectResponse) -> ContainerInfo {
    let config = r.config.unwrap_or_default();
    let pid = r
        .state
        .as_ref()
        .and_then(|s| s.pid)
        .filter(|p| *p > 0)
        .map(|p| p as u32);
    let state = match r.state.and_then(|s| s.status) {
        Some(ContainerStateStatusEnum::CREATED) => ContainerState::Created,
        Some(ContainerStateStatusEnum::RUNNING) => ContainerState::Running,
        Some(ContainerStateStatusEnum::PAUSED) => ContainerState::Paused,
        Some(ContainerStateStatusEnum::RESTARTING) => ContainerState::Restarting,
        Some(ContainerStateStatusEnum::EXITED) => ContainerState::Exited,
        Some(ContainerStateStatusEnum::DEAD) => ContainerState::Dead,
        Some(ContainerStateStatusEnum::REMOVING) => ContainerState::Removing,
        _ => ContainerState::Unknown,
    };
    ContainerInfo {
        id: r.id.unwrap_or_default(),
        name: r
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        image: config.image.unwrap_or_default(),
        state,
        labels: config
            .labels
            .unwrap_or_default()
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        ports: ports_from_map(r.network_settings.and_then(|n| n.ports)),
        env: config
            .env
            .unwrap_or_default()
            .into_iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (kv, String::new()),
            })
            .collect(),
        pid,
    }
}

pub fn from_summary(s: ContainerSummary) -> ContainerInfo {
    let state = match s.state {
        Some(ContainerSummaryStateEnum::CREATED) => ContainerState::Created,
        Some(ContainerSummaryStateEnum::RUNNING) => ContainerState::Running,
        Some(ContainerSummaryStateEnum::PAUSED) => ContainerState::Paused,
        Some(ContainerSummaryStateEnum::RESTARTING) => ContainerState::Restarting,
        Some(ContainerSummaryStateEnum::EXITED) => ContainerState::Exited,
        Some(ContainerSummaryStateEnum::DEAD) => ContainerState::Dead,
        Some(ContainerSummaryStateEnum::REMOVING) => ContainerState::Removing,
        _ => ContainerState::Unknown,
    };
    let mut ports: Vec<PortBinding> = Vec::new();
    for p in s.ports.unwrap_or_default() {
        let ip = p.ip.as_deref().and_then(|i| i.parse().ok());
        if ports
            .iter()
            .any(|e| e.container_port == p.private_port && e.host_port.is_some())
            && !matches!(ip, Some(std::net::IpAddr::V4(_)))
        {
            continue;
        }
        ports.retain(|e| e.container_port != p.private_port);
        ports.push(PortBinding {
            container_port: p.private_port,
            host_port: p.public_port,
            host_ip: ip,
        });
    }
    ports.sort_by_key(|p| p.container_port);
    ContainerInfo {
        id: s.id.unwrap_or_default(),
        name: s
            .names
            .and_then(|n| n.into_iter().next())
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        image: s.image.unwrap_or_default(),
        state,
        labels: s.labels.unwrap_or_default().into_iter().collect(),
        ports,
        env: Vec::new(),
        pid: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Mount, PublishPort};

    #[test]
    fn granted_host_access_reaches_the_host_config() {
        let spec = CreateSpec {
            container_name: "c".into(),
            image: "img".into(),
            host: crate::HostAccessSpec {
                gpus: Some("all".into()),
                devices: vec!["/dev/kvm".into(), "/dev/fuse:/dev/f:rw".into()],
                ipc: Some("host".into()),
                pid: Some("host".into()),
                uts: None,
                given_up: vec![],
            },
            ..Default::default()
        };
        let hc = create_body(&spec).host_config.unwrap();
        // What `docker run --gpus all` sends.
        assert_eq!(
            hc.device_requests.unwrap(),
            [DeviceRequest {
                driver: Some(String::new()),
                count: Some(-1),
                device_ids: None,
                capabilities: Some(vec![vec!["gpu".into()]]),
                options: None,
            }]
        );
        let devs = hc.devices.unwrap();
        assert_eq!(devs[0].path_in_container.as_deref(), Some("/dev/kvm"));
        assert_eq!(devs[0].cgroup_permissions.as_deref(), Some("rwm"));
        assert_eq!(devs[1].path_in_container.as_deref(), Some("/dev/f"));
        assert_eq!(hc.ipc_mode.as_deref(), Some("host"));
        assert_eq!(hc.pid_mode.as_deref(), Some("host"));
        assert_eq!(hc.uts_mode, None);
        assert_eq!(gpu_request("2").count, Some(2));
        assert_eq!(gpu_request("device=0,1").device_ids.unwrap(), ["0", "1"]);
        // Nothing granted: nothing of it in the HostConfig.
        let plain = create_body(&CreateSpec::default()).host_config.unwrap();
        assert!(
            plain.device_requests.is_none() && plain.devices.is_none() && plain.ipc_mode.is_none()
        );
    }

    #[test]
    fn create_body_publishes_on_loopback_with_engine_ports() {
        let spec = CreateSpec {
            container_name: "c".into(),
            image: "img".into(),
            publish: vec![PublishPort {
                container_port: 3000,
                host_port: None,
                host_ip: None,
            }],
            mounts: vec![Mount {
                kind: MountKind::Bind,
                source: "/src".into(),
                target: "/workspace".into(),
                read_only: false,
            }],
            override_command: true,
            ulimits: vec!["nofile=1024:2048".into(), "bad".into()],
            ..Default::default()
        };
        let body = create_body(&spec);
        let hc = body.host_config.unwrap();
        let b = &hc.port_bindings.unwrap()["3000/tcp"];
        let b = &b.as_ref().unwrap()[0];
        assert_eq!(b.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(b.host_port.as_deref(), Some(""));
        assert_eq!(body.exposed_ports.unwrap(), ["3000/tcp"]);
        assert_eq!(body.entrypoint.unwrap()[2], KEEP_ALIVE);
        let with_ep = CreateSpec {
            entrypoints: vec!["/usr/local/share/docker-init.sh".into()],
            ..spec.clone()
        };
        let body = create_body(&with_ep);
        assert_eq!(
            body.entrypoint.unwrap()[2],
            format!("/usr/local/share/docker-init.sh\n{KEEP_ALIVE}"),
            "a Feature's entrypoint runs first, on a line of its own"
        );
        assert_eq!(hc.ulimits.unwrap().len(), 1);
        assert_eq!(hc.mounts.unwrap()[0].typ, Some(MountType::BIND));
    }

    #[test]
    fn port_map_prefers_ipv4() {
        let mut map: PortMap = HashMap::new();
        map.insert(
            "80/tcp".into(),
            Some(vec![
                ApiPortBinding {
                    host_ip: Some("::1".into()),
                    host_port: Some("4001".into()),
                },
                ApiPortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some("4000".into()),
                },
            ]),
        );
        map.insert("53/udp".into(), None);
        let ports = ports_from_map(Some(map));
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0].host_port, Some(4000));
    }
}
