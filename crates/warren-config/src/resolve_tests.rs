//! Precedence tests for [`super::resolve`], field by field.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::*;
use crate::variables::SubstitutionContext;

fn no_env(_: &str) -> Option<String> {
    None
}

fn project(text: &str) -> ProjectConfig {
    crate::parse_project(
        Path::new("/repo/my-app/.warren.yaml"),
        text,
        Path::new("/repo/my-app"),
    )
    .unwrap()
    .value
}

fn devcontainer(text: &str) -> DevContainer {
    let ctx = SubstitutionContext {
        local_env: &no_env,
        local_workspace_folder: Path::new("/repo/my-app"),
        container_workspace_folder: None,
        devcontainer_id: "id",
    };
    crate::parse_devcontainer(
        Path::new("/repo/my-app/.devcontainer/devcontainer.json"),
        text,
        &ctx,
    )
    .unwrap()
    .value
}

/// Builder for one resolution.
struct Case {
    global: GlobalConfig,
    project: Option<ProjectConfig>,
    dc: Option<DevContainer>,
    type_name: Option<&'static str>,
    cli: CliOverrides,
    env: HashMap<String, String>,
}

impl Case {
    fn new() -> Case {
        Case {
            global: GlobalConfig::default(),
            project: None,
            dc: None,
            type_name: None,
            cli: CliOverrides::default(),
            env: HashMap::new(),
        }
    }
    fn project(mut self, text: &str) -> Case {
        self.project = Some(project(text));
        self
    }
    fn dc(mut self, text: &str) -> Case {
        self.dc = Some(devcontainer(text));
        self
    }
    fn ty(mut self, t: &'static str) -> Case {
        self.type_name = Some(t);
        self
    }
    fn try_resolve(&self) -> Result<Effective, ConfigError> {
        let env = |k: &str| self.env.get(k).cloned();
        resolve(ResolveInputs {
            repo_root: Path::new("/repo/my-app"),
            global: &self.global,
            project: self.project.as_ref(),
            devcontainer: self.dc.as_ref(),
            type_name: self.type_name,
            cli: &self.cli,
            env: &env,
            home: Some(Path::new("/home/me")),
        })
    }
    fn run(&self) -> Effective {
        self.try_resolve().unwrap()
    }
}

const DC_IMAGE: &str = r#"{"image": "dc:1"}"#;

#[test]
fn defaults_without_any_file() {
    let e = Case::new().run();
    assert_eq!(e.project, "my-app");
    assert_eq!(e.runtime, RuntimeChoice::Auto);
    assert_eq!(e.image, None);
    assert!(e.services.is_empty());
    assert_eq!(e.workspace_folder, "/workspace");
    assert!(e.override_command);
    assert!(!e.init && !e.privileged && !e.interactive);
    assert!(e.allow_dangerous);
    assert_eq!(e.port_range, PortRange::default());
    assert_eq!(e.session_name_template, DEFAULT_SESSION_NAME_TEMPLATE);
    assert_eq!(e.wait_for, WaitFor::UpdateContentCommand);
    assert_eq!(e.sandbox.network, SandboxNetwork::Host);
    assert_eq!(e.tool, None);
    assert!(e.tools.is_empty());
}

#[test]
fn project_name() {
    assert_eq!(
        Case::new().project("name: custom\n").run().project,
        "custom"
    );
    assert_eq!(Case::new().project("image: x\n").run().project, "my-app");
}

#[test]
fn runtime_precedence() {
    let mut c = Case::new();
    c.global.runtime = RuntimeChoice::Sandbox;
    assert_eq!(
        c.run().runtime,
        RuntimeChoice::Sandbox,
        "global beats default"
    );
    let c = Case {
        global: c.global.clone(),
        ..Case::new().project("runtime: docker\ntypes: {t: {runtime: host}, u: {}}\n")
    };
    assert_eq!(
        c.run().runtime,
        RuntimeChoice::Docker,
        ".warren.yaml top beats global"
    );
    let c = c.ty("u");
    assert_eq!(c.run().runtime, RuntimeChoice::Docker, "type inherits top");
    let mut c = c;
    c.type_name = Some("t");
    assert_eq!(c.run().runtime, RuntimeChoice::Host, "type beats top");
    c.global.env.runtime = Some(RuntimeChoice::Sandbox);
    assert_eq!(
        c.run().runtime,
        RuntimeChoice::Sandbox,
        "env beats .warren.yaml"
    );
    c.cli.runtime = Some(RuntimeChoice::Docker);
    assert_eq!(c.run().runtime, RuntimeChoice::Docker, "CLI beats env");
}

#[test]
fn port_range_precedence() {
    let mut c = Case::new();
    c.global.port_range = PortRange {
        start: 1000,
        end: 1010,
    };
    assert_eq!(c.run().port_range.start, 1000);
    let c = Case {
        global: c.global.clone(),
        ..Case::new().project("port_range: 2000-2010\n")
    };
    assert_eq!(c.run().port_range.start, 2000);
    let mut c = c;
    c.global.env.port_range = Some(PortRange {
        start: 3000,
        end: 3010,
    });
    assert_eq!(
        c.run().port_range,
        PortRange {
            start: 3000,
            end: 3010
        }
    );
}

#[test]
fn image_precedence_and_build_paths() {
    let c = Case::new().dc(DC_IMAGE);
    assert_eq!(
        c.run().image,
        Some(ImageSource::Image {
            name: "dc:1".into()
        })
    );
    let c = c.project("image: top:1\ntypes: {b: {build: {context: docker, dockerfile: docker/Dev.Dockerfile, args: {A: 1}, target: dev, cache_from: [c]}}, i: {}}\n");
    assert_eq!(
        c.run().image,
        Some(ImageSource::Image {
            name: "top:1".into()
        }),
        ".warren.yaml beats devcontainer"
    );
    let c = c.ty("b");
    assert_eq!(
        c.run().image,
        Some(ImageSource::Build {
            context: "/repo/my-app/docker".into(),
            dockerfile: "/repo/my-app/docker/Dev.Dockerfile".into(),
            args: [("A".to_string(), "1".to_string())].into_iter().collect(),
            target: Some("dev".into()),
            cache_from: vec!["c".into()],
        }),
        "type build replaces the top-level image"
    );
    // devcontainer build: paths relative to the devcontainer.json folder.
    let e = Case::new()
        .dc(r#"{"build": {"dockerfile": "Dockerfile", "context": ".."}}"#)
        .run();
    assert_eq!(
        e.image,
        Some(ImageSource::Build {
            context: "/repo/my-app".into(),
            dockerfile: "/repo/my-app/.devcontainer/Dockerfile".into(),
            args: OrderedMap::new(),
            target: None,
            cache_from: vec![],
        })
    );
    // .warren.yaml build without dockerfile: Dockerfile in the context.
    let e = Case::new().project("build: sub\n").run();
    let Some(ImageSource::Build { dockerfile, .. }) = e.image else {
        panic!()
    };
    assert_eq!(dockerfile, PathBuf::from("/repo/my-app/sub/Dockerfile"));
}

#[test]
fn services_order_override_and_labels() {
    let mut c = Case::new()
        .project("services: {web: 3000, api: 4000}\n")
        .dc(
            r#"{"image": "x", "forwardPorts": [3000, 5173, "8080:9229", 6006],
               "appPort": [7000, 5173],
               "portsAttributes": {"5173": {"label": "Vite Dev"}, "6006": {"label": "!!!"}}}"#,
        );
    c.cli.services = vec![("api".into(), 4100), ("docs".into(), 8000)];
    let e = c.run();
    let got: Vec<_> = e
        .services
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.port,
                s.label.as_deref(),
                s.host_port,
                s.origin,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("web", 3000, None, None, ServiceOrigin::Project),
            ("api", 4100, None, None, ServiceOrigin::Cli),
            ("docs", 8000, None, None, ServiceOrigin::Cli),
            (
                "vite-dev",
                5173,
                Some("Vite Dev"),
                None,
                ServiceOrigin::ForwardPorts
            ),
            ("9229", 9229, None, Some(8080), ServiceOrigin::ForwardPorts),
            ("6006", 6006, Some("!!!"), None, ServiceOrigin::ForwardPorts),
            ("7000", 7000, None, None, ServiceOrigin::AppPort),
        ]
    );
    assert_eq!(e.default_service().map(|s| s.name.as_str()), Some("web"));
}

#[test]
fn container_env_layers() {
    let mut c = Case::new()
        .project("env: {A: top, B: top, C: top}\ntypes: {t: {env: {B: type}}}\n")
        .dc(r#"{"image": "x", "containerEnv": {"A": "dc", "D": "dc", "E": "dc"}, "runArgs": ["-e", "E=runargs", "-e", "F=runargs"]}"#)
        .ty("t");
    c.cli.env = vec![("C".into(), "cli".into()), ("G".into(), "cli".into())];
    let e = c.run();
    let env: Vec<_> = e
        .container_env
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    assert_eq!(
        env,
        [
            "A=top",
            "D=dc",
            "E=runargs",
            "F=runargs",
            "B=type",
            "C=cli",
            "G=cli"
        ]
    );
    assert!(e.run_args.env.is_empty(), "folded into container_env");
}

#[test]
fn remote_env_from_devcontainer() {
    let e = Case::new()
        .dc(r#"{"image": "x", "remoteEnv": {"PATH": "${containerEnv:PATH}:/x", "U": null}}"#)
        .run();
    assert_eq!(
        e.remote_env.get("PATH"),
        Some(&Some("${containerEnv:PATH}:/x".to_string()))
    );
    assert_eq!(e.remote_env.get("U"), Some(&None));
}

#[test]
fn mounts_accumulate_and_resolve() {
    let e = Case::new()
        .project("mounts: [\"~/.ssh:/home/agent/.ssh:ro\", \"./data:/data\", \"cache:/cache\"]\ntypes: {t: {mounts: [\"/opt/x:/dc\"]}}\nhost_access: {mounts: [/host/dc]}\n")
        .dc(r#"{"image": "x", "mounts": ["type=bind,source=/host/dc,target=/dc", "type=volume,source=v,target=/v"],
               "workspaceMount": "type=bind,source=${localWorkspaceFolder},target=/src"}"#)
        .ty("t")
        .run();
    let got: Vec<_> = e
        .mounts
        .iter()
        .map(|m| {
            (
                m.source.as_deref().unwrap_or(""),
                m.target.as_str(),
                m.read_only,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("/opt/x", "/dc", false),
            ("v", "/v", false),
            ("/home/me/.ssh", "/home/agent/.ssh", true),
            ("/repo/my-app/data", "/data", false),
            ("cache", "/cache", false),
        ]
    );
    assert_eq!(
        e.workspace_mount.unwrap().source.as_deref(),
        Some("/repo/my-app")
    );
    // Without `workspaceFolder`, the environment works where its tree is mounted.
    assert_eq!(e.workspace_folder, "/src");
}

#[test]
fn workspace_folder_and_users() {
    let e = Case::new()
        .dc(r#"{"image": "x", "workspaceFolder": "/src", "containerUser": "root"}"#)
        .run();
    assert_eq!(e.workspace_folder, "/src");
    assert_eq!(e.container_user.as_deref(), Some("root"));
    assert_eq!(
        e.remote_user.as_deref(),
        Some("root"),
        "remoteUser defaults to containerUser"
    );
    let e = Case::new()
        .dc(r#"{"image": "x", "workspaceFolder": "/src", "remoteUser": "node", "runArgs": ["-u", "1000"]}"#)
        .run();
    assert_eq!(e.remote_user.as_deref(), Some("node"));
    assert_eq!(
        e.container_user.as_deref(),
        Some("1000"),
        "runArgs -u when no containerUser"
    );
    assert_eq!(e.run_args.user, None);
    let e = Case::new()
        .project("workspace_folder: /w\nuser: dev\n")
        .dc(r#"{"image": "x", "workspaceFolder": "/src", "remoteUser": "node"}"#)
        .run();
    assert_eq!(e.workspace_folder, "/w", ".warren.yaml beats devcontainer");
    assert_eq!(e.remote_user.as_deref(), Some("dev"));
}

#[test]
fn container_flags() {
    let e = Case::new()
        .project("host_access: {privileged: true, capabilities: [SYS_PTRACE, NET_ADMIN], security_opt: [seccomp=unconfined, apparmor=unconfined]}\n")
        .dc(r#"{"image": "x", "overrideCommand": false, "init": true, "privileged": true,
               "capAdd": ["SYS_PTRACE"], "securityOpt": ["seccomp=unconfined"],
               "runArgs": ["--cap-add=SYS_PTRACE", "--cap-add=NET_ADMIN", "--security-opt=apparmor=unconfined", "--shm-size=1g"],
               "waitFor": "postStartCommand", "shutdownAction": "stopContainer"}"#)
        .run();
    assert!(!e.override_command && e.init && e.privileged);
    assert_eq!(e.cap_add, ["SYS_PTRACE", "NET_ADMIN"]);
    assert_eq!(
        e.security_opt,
        ["seccomp=unconfined", "apparmor=unconfined"]
    );
    assert_eq!(e.run_args.shm_size.as_deref(), Some("1g"));
    assert!(e.run_args.cap_add.is_empty() && e.run_args.security_opt.is_empty());
    assert_eq!(e.wait_for, WaitFor::PostStartCommand);
    assert_eq!(e.shutdown_action, Some(ShutdownAction::StopContainer));
    let e = Case::new()
        .project("host_access: {privileged: true}\n")
        .dc(r#"{"image": "x", "runArgs": ["--init", "--privileged"]}"#)
        .run();
    assert!(e.init && e.privileged, "runArgs flags count too");
    assert_eq!(e.host_access, [crate::HostAccess::Privileged]);
}

#[test]
fn host_access_needs_the_trusted_configs_grant() {
    let dc = r#"{"image": "x",
  "runArgs": ["--ipc=host", "--gpus", "all", "-v", "keda-gomodcache:/go/pkg",
              "--volume=/home/me:/home/me", "--name", "x"],
  "mounts": ["source=/var/run/docker.sock,target=/var/run/docker.sock,type=bind"],
  "capAdd": ["CHOWN"]
}"#;
    // Nothing granted: one error each, at its place, with the line to add.
    let err = Case::new().dc(dc).try_resolve().unwrap_err();
    let got: Vec<String> = err
        .diagnostics
        .iter()
        .map(|d| format!("{}:{} {}", d.line, d.col, d.hint.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        got,
        [
            "2:15 to grant it, add to .warren.yaml:  host_access: {ipc: host}",
            "2:29 to grant it, add to .warren.yaml:  host_access: {gpus: all}",
            "3:15 to grant it, add to .warren.yaml:  host_access: {mounts: [\"/home/me\"]}",
            "4:14 to grant it, add to .warren.yaml:  host_access: {docker_socket: true}",
        ],
        "{err:?}"
    );
    // Granted by the project and the global config together.
    let mut case = Case::new()
        .project("host_access: {ipc: host, mounts: [\"~\"]}\nshared_volumes: [keda-gomodcache]\n")
        .dc(dc);
    case.global.host_access.gpus = Some("all".into());
    case.global.host_access.docker_socket = true;
    let e = case.run();
    assert_eq!(e.run_args.ipc.as_deref(), Some("host"));
    assert_eq!(e.run_args.gpus.as_deref(), Some("all"));
    assert_eq!(e.shared_volumes, ["keda-gomodcache"]);
    let shorts: Vec<String> = e.host_access.iter().map(|h| h.short()).collect();
    assert_eq!(
        shorts,
        [
            "engine socket /var/run/docker.sock",
            "ipc host",
            "gpus all",
            "host path /home/me"
        ]
    );
    let targets: Vec<&str> = e.mounts.iter().map(|m| m.target.as_str()).collect();
    assert_eq!(targets, ["/var/run/docker.sock", "/go/pkg", "/home/me"]);
    // A grant of one thing is not a grant of another.
    let err = Case::new()
        .project("host_access: {pid: host}\n")
        .dc(r#"{"image": "x", "runArgs": ["--ipc", "host"]}"#)
        .try_resolve()
        .unwrap_err();
    assert_eq!(err.diagnostics.len(), 1);
    assert!(err.diagnostics[0].message.starts_with(
        "runArgs `--ipc host` is host access: it shares one of the host's namespaces"
    ));
}

#[test]
fn optional_gpu_is_used_only_when_granted() {
    let dc = r#"{"image": "x", "hostRequirements": {"gpu": "optional"}}"#;
    assert_eq!(Case::new().dc(dc).run().run_args.gpus, None);
    let e = Case::new()
        .project("host_access: {gpus: all}\n")
        .dc(dc)
        .run();
    assert_eq!(e.run_args.gpus.as_deref(), Some("all"));
    let err = Case::new()
        .dc(r#"{"image": "x", "hostRequirements": {"gpu": true}}"#)
        .try_resolve()
        .unwrap_err();
    assert!(
        err.diagnostics[0]
            .message
            .starts_with("hostRequirements.gpu is host access")
    );
}

#[test]
fn lifecycle_and_hooks() {
    let e = Case::new()
        .project("post_start: [{run: top}]\npre_stop: [{run: stop}]\ntypes: {t: {post_start: [{run: type}]}}\n")
        .dc(r#"{"image": "x", "postCreateCommand": "make", "postStartCommand": ["a", "b"]}"#)
        .ty("t")
        .run();
    assert_eq!(
        e.lifecycle.post_create,
        Some(crate::LifecycleCommand::Shell("make".into()))
    );
    assert_eq!(
        e.hooks
            .post_start
            .iter()
            .map(|h| h.run.as_str())
            .collect::<Vec<_>>(),
        ["type"]
    );
    assert_eq!(e.hooks.pre_stop[0].run, "stop");
    assert!(e.hooks.pre_start.is_empty());
}

#[test]
fn tools_roles_and_sessions() {
    let text = "tool: codex\nallow_dangerous: true\nroles:\n  dev: {tool: claude, model: opus}\n  rev: {dangerous: false}\n  plain: {}\nsessions:\n  serve: {command: npm start}\ntypes:\n  t: {roles: [dev, rev], sessions: [serve]}\n  g: {tool: gemini, roles: [plain], allow_dangerous: false}\n";
    let e = Case::new().project(text).ty("t").run();
    assert_eq!(e.tool.as_deref(), Some("codex"));
    let roles: Vec<_> = e
        .roles
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                r.tool.as_str(),
                r.model.as_deref(),
                r.dangerous,
            )
        })
        .collect();
    assert_eq!(
        roles,
        [
            ("dev", "claude", Some("opus"), true),
            ("rev", "codex", None, false)
        ]
    );
    assert_eq!(e.tools, ["codex", "claude"]);
    assert_eq!(e.sessions[0].name, "serve");
    assert_eq!(e.sessions[0].config.command, "npm start");
    let e = Case::new().project(text).ty("g").run();
    assert_eq!(e.tool.as_deref(), Some("gemini"), "type beats top");
    assert!(!e.allow_dangerous);
    assert!(
        !e.roles[0].dangerous,
        "container allow_dangerous false wins"
    );
    let mut c = Case::new().project(text).ty("g");
    c.cli.tool = Some("aider".into());
    let e = c.run();
    assert_eq!(e.tool.as_deref(), Some("aider"), "CLI beats type");
    assert_eq!(
        e.roles[0].tool, "aider",
        "a role without tool uses the effective tool"
    );
}

#[test]
fn sandbox_interactive_credentials_commands() {
    let e = Case::new()
        .project("credentials: [git]\ninteractive: true\nsandbox: {network: none, read_write_paths: [/tmp/a]}\ncommands: {test: cargo test}\ndefault_session_name_template: \"{project}-{session_name}-{issue_id}\"\ntypes: {t: {credentials: [gh]}}\n")
        .ty("t")
        .run();
    assert_eq!(e.credentials, ["git", "gh"]);
    assert!(e.interactive);
    assert_eq!(e.sandbox.network, SandboxNetwork::None);
    assert_eq!(e.sandbox.read_write_paths, ["/tmp/a"]);
    assert_eq!(
        e.commands.get("test").map(String::as_str),
        Some("cargo test")
    );
    assert_eq!(
        e.session_name_template,
        "{project}-{session_name}-{issue_id}"
    );
    assert_eq!(e.type_chain, ["t"]);
    assert_eq!(
        e.project_file.as_deref(),
        Some(Path::new("/repo/my-app/.warren.yaml"))
    );
}

#[test]
fn errors_are_all_reported() {
    let mut c = Case::new()
        .project("roles: {r: {}}\ntypes: {t: {roles: [r]}}\n")
        .ty("t");
    c.cli.tool = Some("claud".into());
    c.cli.services = vec![("Web UI".into(), 3000)];
    c.cli.env = vec![("1X".into(), "y".into())];
    let err = c.try_resolve().unwrap_err();
    let got: Vec<_> = err
        .diagnostics
        .iter()
        .map(|d| (d.location(), d.message.as_str(), d.hint.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "/repo/my-app/.warren.yaml".to_string(),
                "role `r` does not name a tool",
                Some("add `tool: claude` (or another tool) to `roles.r`")
            ),
            (
                "--tool".to_string(),
                "unknown tool `claud`",
                Some("did you mean `claude`?")
            ),
            (
                "-e".to_string(),
                "invalid environment variable name `1X` in `-e 1X=…`",
                Some("use letters, digits and `_`, not starting with a digit")
            ),
            (
                "-p".to_string(),
                "invalid service name `Web UI` in `-p Web UI=3000`",
                Some("try `-p web-ui=3000`")
            ),
        ]
    );
    let err = Case::new().ty("issue").try_resolve().unwrap_err();
    assert_eq!(
        err.diagnostics[0].message,
        "unknown environment type `issue`"
    );
}

#[test]
fn config_hash_tracks_container_shape_only() {
    let base = Case::new()
        .project("env: {A: '1'}\nservices: {web: 3000}\n")
        .dc(r#"{"image": "x", "postCreateCommand": "make"}"#);
    let h = base.run().config_hash();
    assert_eq!(h.len(), 64);
    assert_eq!(h, base.run().config_hash(), "stable");
    // Things that need a new container change it.
    let changed = Case::new()
        .project("env: {A: '2'}\nservices: {web: 3000}\n")
        .dc(r#"{"image": "x", "postCreateCommand": "make"}"#);
    assert_ne!(h, changed.run().config_hash());
    let changed = Case::new()
        .project("env: {A: '1'}\nservices: {web: 3001}\n")
        .dc(r#"{"image": "x", "postCreateCommand": "make"}"#);
    assert_ne!(h, changed.run().config_hash());
    let changed = Case::new()
        .project("env: {A: '1'}\nservices: {web: 3000}\n")
        .dc(r#"{"image": "y", "postCreateCommand": "make"}"#);
    assert_ne!(h, changed.run().config_hash());
    // Lifecycle commands, hooks and comments/positions do not.
    let same = Case::new()
        .project("# moved\n\nenv: {A: '1'}\nservices: {web: 3000}\npost_start: [{run: x}]\n")
        .dc(r#"{"image": "x", "postCreateCommand": "make other"}"#);
    assert_eq!(h, same.run().config_hash());
}

#[test]
fn load_effective_reads_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("Repo Dir");
    let root = dir.path().join("warren-root");
    std::fs::create_dir_all(repo.join(".devcontainer/ci")).unwrap();
    std::fs::create_dir_all(repo.join(".devcontainer/other")).unwrap();
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("config.yaml"), "runtime: sandbox\n").unwrap();
    std::fs::write(
        repo.join(".warren.yaml"),
        "services: {web: 3000}\ntypes:\n  ci: {devcontainer: .devcontainer/ci/devcontainer.json}\n",
    )
    .unwrap();
    std::fs::write(
        repo.join(".devcontainer/ci/devcontainer.json"),
        r#"{"image": "ci:1", "customizations": {}, "containerEnv": {"WS": "${localWorkspaceFolderBasename}", "ID": "${devcontainerId}", "H": "${localEnv:HOME}"}}"#,
    )
    .unwrap();
    std::fs::write(
        repo.join(".devcontainer/other/devcontainer.json"),
        r#"{"image": "other:1"}"#,
    )
    .unwrap();
    let env = |k: &str| (k == "HOME").then(|| "/home/me".to_string());
    let cli = CliOverrides::default();
    let global = crate::load_global(&root, &env).unwrap().value;
    let req = LoadRequest {
        repo_root: &repo,
        global: &global,
        type_name: Some("ci"),
        cli: &cli,
        env: &env,
        home: Some(Path::new("/home/me")),
        local_workspace_folder: Some(Path::new("/wt/fluffy-otter")),
        devcontainer_id: Some("the-id"),
    };
    let loaded = load_effective(&req).unwrap();
    let e = &loaded.value;
    assert_eq!(e.project, "repo-dir");
    assert_eq!(e.runtime, RuntimeChoice::Sandbox);
    assert_eq!(
        e.image,
        Some(ImageSource::Image {
            name: "ci:1".into()
        })
    );
    let env: Vec<_> = e
        .container_env
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    assert_eq!(env, ["WS=fluffy-otter", "ID=the-id", "H=/home/me"]);
    assert_eq!(loaded.warnings.len(), 1);
    assert_eq!(
        loaded.warnings[0].message,
        "`customizations` is not supported by warren and is ignored"
    );
    // No type: two named devcontainers and no `devcontainer:` → the listing error.
    let req2 = LoadRequest {
        type_name: None,
        ..req
    };
    let err = load_effective(&req2).unwrap_err();
    assert!(
        err.diagnostics[0]
            .message
            .starts_with("2 devcontainer configurations found"),
        "{err:?}"
    );
    // --config picks one.
    let cli = CliOverrides {
        devcontainer_config: Some(".devcontainer/other/devcontainer.json".into()),
        ..CliOverrides::default()
    };
    let req3 = LoadRequest {
        type_name: None,
        cli: &cli,
        ..req
    };
    let e = load_effective(&req3).unwrap().value;
    assert_eq!(
        e.image,
        Some(ImageSource::Image {
            name: "other:1".into()
        })
    );
    // Errors of several files come back together.
    std::fs::write(repo.join(".warren.yaml"), "imgae: x\n").unwrap();
    std::fs::write(
        repo.join(".devcontainer/other/devcontainer.json"),
        r#"{"image": 5}"#,
    )
    .unwrap();
    let err = load_effective(&req3).unwrap_err();
    let msgs: Vec<_> = err
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(msgs.contains(&"unknown key `imgae` in .warren.yaml"));
    assert!(
        msgs.iter()
            .any(|m| m.starts_with("`image` must be a string")),
        "{msgs:?}"
    );
}

#[test]
fn resources_type_over_top_over_run_args_over_defaults() {
    let host = warren_core::resources::host_memory();
    let e = Case::new().run();
    assert_eq!(e.resources, warren_core::Resources::defaults_for(host));
    let e = Case::new()
        .dc(r#"{"image": "dc:1", "runArgs": ["--memory=2g", "--cpus=1.5", "--shm-size=256m"]}"#)
        .project("resources: {pids: 100, cpus: 3}\ntypes:\n  _b: {resources: {tmp_size: 64m}}\n  t: {extends: _b, resources: {pids: 50, enforce: false}}\n")
        .ty("t")
        .run();
    let r = e.resources;
    assert_eq!(r.memory, Some(2 << 30), "runArgs --memory");
    assert_eq!(r.millicpus, Some(3000), ".warren.yaml beats --cpus");
    assert_eq!(r.pids, Some(50), "the type beats the top level");
    assert_eq!(
        r.tmp_size,
        Some(64 << 20),
        "the parent type beats --shm-size"
    );
    assert!(!r.enforce);
    let before = Case::new().run().config_hash();
    let after = Case::new()
        .project("resources: {pids: 1}\n")
        .run()
        .config_hash();
    assert_ne!(before, after, "limits shape the container");
}

#[test]
fn what_a_runtime_without_an_engine_ignores_is_named() {
    let e = Case::new()
        .project("host_access: {capabilities: [SYS_PTRACE]}\n")
        .dc(r#"{"image": "x", "features": {"ghcr.io/x/features/y:1": {}}, "containerUser": "dev", "capAdd": ["SYS_PTRACE"],
               "workspaceFolder": "/src", "runArgs": ["--cap-drop=ALL", "--memory=1g", "-w", "/w"]}"#)
        .run();
    assert_eq!(
        e.ignored_without_engine(),
        [
            "image",
            "features",
            "containerUser",
            "capAdd",
            "workspaceFolder",
            "runArgs (--cap-drop, --workdir)"
        ]
    );
    assert_eq!(
        e.ignored_without_engine_warning("sandbox").unwrap(),
        "the sandbox runtime does not apply `image`, `features`, `containerUser`, `capAdd`, `workspaceFolder`, `runArgs` (--cap-drop, --workdir): they are container settings (use the docker runtime for them)"
    );
    let plain = Case::new().project("runtime: sandbox\n").run();
    assert!(plain.ignored_without_engine().is_empty());
    assert_eq!(plain.ignored_without_engine_warning("sandbox"), None);
}

#[test]
fn configured_remote_user_and_override_command_are_told_apart_from_defaults() {
    let e = Case::new()
        .dc(r#"{"image": "x", "containerUser": "dev"}"#)
        .run();
    assert_eq!(e.remote_user.as_deref(), Some("dev"), "falls back");
    assert!(!e.remote_user_set && !e.override_command_set);
    let e = Case::new()
        .dc(r#"{"image": "x", "remoteUser": "dev", "overrideCommand": true}"#)
        .run();
    assert!(e.remote_user_set && e.override_command_set);
    assert!(Case::new().project("user: me\n").run().remote_user_set);
}

#[test]
fn a_compose_config_is_its_service_on_the_project_network() {
    let mut dc = devcontainer(DC_IMAGE);
    dc.image = None;
    dc.compose = Some(crate::ComposeConfig {
        files: vec!["/repo/my-app/.devcontainer/c.yml".into()],
        service: "app".into(),
        run_services: vec!["db".into()],
    });
    let mut case = Case::new();
    case.dc = Some(dc);
    let e = case.run();
    assert_eq!(e.compose.as_ref().map(|c| c.service.as_str()), Some("app"));
    assert_eq!(e.network, warren_core::NetworkMode::Compose);
    assert!(!e.override_command, "the service's own command runs");
    assert_eq!(e.shutdown_action, Some(ShutdownAction::StopCompose));
    let plain = Case::new().dc(DC_IMAGE).run();
    assert!(plain.compose.is_none() && plain.override_command);
    assert_ne!(e.config_hash(), plain.config_hash());
}
