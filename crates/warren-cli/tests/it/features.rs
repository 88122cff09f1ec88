//! devcontainer Features (issue 15): a local Feature and one pushed to a
//! real local registry (Debian's `docker-registry`), installed by a real
//! `docker build`, with options, contributions, ordering, the lock file and
//! the image cache.

use std::path::Path;
use std::process::{Command, Stdio};

use sha2::Digest;

use crate::harness::*;

const LAYER: &str = "application/vnd.devcontainers.layer.v1+tar";

fn inspect(what: &str, format: &str) -> String {
    let out = Command::new("docker")
        .args(["inspect", "--format", format, what])
        .output()
        .expect("docker inspect");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The image of environment `name`'s container: (id, name).
fn image_of(ctx: &TestContext, name: &str) -> (String, String) {
    let short = ctx.env_json(name)["container"]
        .as_str()
        .expect("a container")
        .to_string();
    (
        inspect(&short, "{{.Image}}"),
        inspect(&short, "{{.Config.Image}}"),
    )
}

/// The images a run says it built (`building warren-features:…`).
fn built(run: &Run) -> Vec<String> {
    run.stderr
        .split_whitespace()
        .filter(|w| w.starts_with("warren-features:"))
        .map(|w| {
            w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                .to_string()
        })
        .collect()
}

/// Removes the images the test built, when it ends (also on failure).
struct Rmi(Vec<String>);
impl Drop for Rmi {
    fn drop(&mut self) {
        for i in &self.0 {
            let _ = Command::new("docker")
                .args(["rmi", "-f", i])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

const HELLO_JSON: &str = r#"{
  // JSONC, as authors write it
  "id": "hello",
  "version": "1.2.3",
  "name": "Hello",
  "options": {
    "greeting": {"type": "string", "default": "hey"},
    "loud-voice": {"type": "boolean", "default": false}
  },
  "containerEnv": {"HELLO_HOME": "/opt/hello"},
  "capAdd": ["SYS_PTRACE"],
  "mounts": [{"type": "volume", "source": "warren-it-hello-${devcontainerId}", "target": "/hello-vol"}],
  "postCreateCommand": "echo feature-postCreate >> /tmp/order",
  "entrypoint": "/opt/hello/entrypoint.sh",
}"#;

const HELLO_SH: &str = r#"#!/bin/sh
set -e
mkdir -p /opt/hello
echo "greeting=$GREETING loud=$LOUD_VOICE remote=$_REMOTE_USER home=$_REMOTE_USER_HOME container=$_CONTAINER_USER uid=$(id -u)" > /opt/hello/env
echo hello >> /opt/installed
printf '#!/bin/sh\necho "entrypoint ran as $(id -u)" > /tmp/entrypoint-ran\nexec "$@"\n' > /opt/hello/entrypoint.sh
chmod +x /opt/hello/entrypoint.sh
"#;

#[test]
fn a_local_feature_installs_with_its_options_and_contributions_and_is_built_once() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    ctx.write(
        ".devcontainer/devcontainer.json",
        &format!(
            r#"{{"image": "{BUSYBOX}",
  "features": {{"./hello": {{"greeting": "howdy"}}}},
  "postCreateCommand": "echo config-postCreate >> /tmp/order"}}"#
        ),
    );
    ctx.write(".devcontainer/hello/devcontainer-feature.json", HELLO_JSON);
    ctx.write(".devcontainer/hello/install.sh", HELLO_SH);
    ctx.commit("a local feature");
    let mut rmi = Rmi(Vec::new());

    progress!("host access a Feature asks for needs the user's grant");
    let refused = ctx
        .warren(&["run", "--name", "feat-refused", "--", "true"])
        .fails(1);
    progress!("{}", refused.stderr);
    for want in [
        "asks for host access (cap SYS_PTRACE)",
        "host_access: {capabilities: [SYS_PTRACE]}",
    ] {
        assert!(refused.stderr.contains(want), "{want}: {}", refused.stderr);
    }
    rmi.0.extend(built(&refused));
    let ls = ctx.warren(&["ls"]).ok().stdout;
    assert!(!ls.contains("feat-refused"), "nothing is left: {ls}");
    ctx.write(
        ".warren.yaml",
        "host_access: {capabilities: [SYS_PTRACE]}\n",
    );
    ctx.commit("grant the feature's host access");

    let run = ctx
        .warren(&[
            "run",
            "--name",
            "feat-one",
            "--",
            "sh",
            "-c",
            "cat /opt/hello/env; echo HELLO_HOME=$HELLO_HOME; grep -o ' /hello-vol ' /proc/mounts; cat /tmp/order; \
             for i in $(seq 50); do test -f /tmp/entrypoint-ran && break; sleep 0.1; done; cat /tmp/entrypoint-ran",
        ])
        .ok();
    progress!("{}", run.stdout);
    assert!(
        run.stdout
            .contains("greeting=howdy loud=false remote=root home=/root container=root uid=0"),
        "options, defaults and the spec's variables reach install.sh: {}",
        run.stdout
    );
    assert!(
        run.stdout.contains("HELLO_HOME=/opt/hello"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(" /hello-vol "),
        "a Feature's volume, its `${{devcontainerId}}` substituted: {}",
        run.stdout
    );
    assert!(
        run.stdout.contains("entrypoint ran as 0"),
        "a Feature's entrypoint runs as the container starts: {}",
        run.stdout
    );
    assert!(
        run.stdout.contains("feature-postCreate\nconfig-postCreate"),
        "a Feature's lifecycle command runs before the configuration's: {}",
        run.stdout
    );
    // Granted in the user's own file, a Feature's host access is applied,
    // and said.
    let short = ctx.env_json("feat-one")["container"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(inspect(&short, "{{.HostConfig.CapAdd}}").contains("SYS_PTRACE"));
    let ls = ctx.warren(&["ls"]).ok().stdout;
    assert!(ls.contains("host access: cap SYS_PTRACE"), "{ls}");
    let (id1, tag) = image_of(&ctx, "feat-one");
    rmi.0.push(tag.clone());
    assert!(tag.starts_with("warren-features:"), "{tag}");
    let label = inspect(&tag, "{{index .Config.Labels \"devcontainer.metadata\"}}");
    assert!(label.contains("\"id\":\"hello\""), "{label}");

    // Nothing changed: no build, the same image.
    let again = ctx
        .warren(&["run", "--name", "feat-two", "--", "cat", "/opt/hello/env"])
        .ok();
    assert!(
        !again.stderr.contains("building"),
        "a second run builds nothing: {}",
        again.stderr
    );
    let (id2, _) = image_of(&ctx, "feat-two");
    assert_eq!(id1, id2, "the same image is used");

    // An option changed: a new image.
    ctx.write(
        ".devcontainer/devcontainer.json",
        &format!(r#"{{"image": "{BUSYBOX}", "features": {{"./hello": {{"greeting": "hi", "loud-voice": true}}}}}}"#),
    );
    ctx.commit("another option");
    let changed = ctx
        .warren(&["run", "--name", "feat-three", "--", "cat", "/opt/hello/env"])
        .ok();
    assert!(
        changed.stdout.contains("greeting=hi loud=true"),
        "{}",
        changed.stdout
    );
    let (id3, tag3) = image_of(&ctx, "feat-three");
    rmi.0.push(tag3);
    assert_ne!(id1, id3, "another option, another image");
    let volumes: Vec<String> = ["feat-one", "feat-two", "feat-three"]
        .iter()
        .map(|n| {
            let c = ctx.env_json(n)["container"].as_str().unwrap().to_string();
            inspect(
                &c,
                "{{range .Mounts}}{{if eq .Destination \"/hello-vol\"}}{{.Name}}{{end}}{{end}}",
            )
        })
        .collect();
    ctx.warren(&["rm", "feat-one", "feat-two", "feat-three"])
        .ok();
    for v in volumes.iter().filter(|v| !v.is_empty()) {
        let _ = Command::new("docker").args(["volume", "rm", v]).output();
    }
}

#[test]
fn feature_errors_are_located_in_the_file() {
    let ctx = TestContext::new();
    ctx.write(
        ".devcontainer/devcontainer.json",
        r#"{"image": "x",
  "features": {
    "ghcr.io/devcontainers/features/disallowed-feature:latest": "latest",
    "myfeature": {},
    "./../../outside": {}
  }
}"#,
    );
    let v = ctx.warren(&["validate"]).fails(1);
    for needle in [
        "devcontainer.json:3:5",
        "reported to be problematic",
        "devcontainer.json:4:5",
        "prepend its name with `./`",
        "devcontainer.json:5:5",
        "inside `.devcontainer/`",
    ] {
        assert!(v.stderr.contains(needle), "`{needle}` in:\n{}", v.stderr);
    }
}

// ---- a local registry (the conformance test uses it too) ----

pub(crate) struct Registry {
    child: std::process::Child,
    pub(crate) port: u16,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn start_registry(dir: &Path) -> Option<Registry> {
    let port = free_port();
    let cfg = dir.join("registry.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("registry").display()
        ),
    )
    .unwrap();
    let child = match Command::new("docker-registry")
        .arg("serve")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(_) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: docker-registry not installed");
            return None;
        }
        Err(e) => panic!("docker-registry is not installed (scripts/install-deps.sh): {e}"),
    };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Some(Registry { child, port })
}

fn digest(b: &[u8]) -> String {
    let h = sha2::Sha256::digest(b);
    format!(
        "sha256:{}",
        h.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// A Feature's layer: a plain tar of its files (as `devcontainer features
/// package` makes it).
pub(crate) fn feature_tar(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, text) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(text.len() as u64);
        h.set_mode(0o755);
        h.set_cksum();
        b.append_data(&mut h, format!("./{name}"), text.as_bytes())
            .unwrap();
    }
    b.into_inner().unwrap()
}

/// Pushes `layer` as Feature `name:tag` (blob upload + manifest, the OCI
/// distribution API); returns the manifest's digest.
pub(crate) fn push(port: u16, name: &str, tag: &str, layer: &[u8]) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let base = format!("http://127.0.0.1:{port}/v2/{name}");
    let upload = |data: &[u8]| -> String {
        let d = digest(data);
        let resp = agent
            .post(&format!("{base}/blobs/uploads/"))
            .send_empty()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 202, "starting an upload");
        let loc = resp.headers()["location"].to_str().unwrap().to_string();
        let loc = if loc.starts_with("http") {
            loc
        } else {
            format!("http://127.0.0.1:{port}{loc}")
        };
        let sep = if loc.contains('?') { '&' } else { '?' };
        let resp = agent
            .put(&format!("{loc}{sep}digest={d}"))
            .header("Content-Type", "application/octet-stream")
            .send(data)
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201, "uploading {d}");
        d
    };
    let config = b"{}";
    let config_digest = upload(config);
    let layer_digest = upload(layer);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.devcontainers", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": LAYER, "digest": layer_digest, "size": layer.len(),
                    "annotations": {"org.opencontainers.image.title": "devcontainer-feature-hello.tgz"}}],
    })
    .to_string();
    let resp = agent
        .put(&format!("{base}/manifests/{tag}"))
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .send(manifest.as_bytes())
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        201,
        "pushing the manifest: {:?}",
        resp.into_body().read_to_string()
    );
    digest(manifest.as_bytes())
}

/// Feature `greeter`, which installs after `./hello` and depends on `base`.
fn registry_feature(port: u16, version: &str, marker: &str) -> Vec<u8> {
    feature_tar(&[
        (
            "devcontainer-feature.json",
            &format!(
                r#"{{"id": "greeter", "version": "{version}", "options": {{"who": {{"type": "string", "default": "world"}}}},
                    "installsAfter": ["./hello"], "containerEnv": {{"GREETER": "{marker}"}},
                    "dependsOn": {{"localhost:{port}/features/base:1": {{"flavour": "salty"}}}}}}"#
            ),
        ),
        (
            "install.sh",
            &format!("#!/bin/sh\nset -e\necho \"greeter {marker} $WHO\" >> /opt/installed\n"),
        ),
    ])
}

/// Feature `base`, which no configuration lists: `greeter` brings it.
fn base_feature() -> Vec<u8> {
    feature_tar(&[
        (
            "devcontainer-feature.json",
            r#"{"id": "base", "version": "1.0.0", "options": {"flavour": {"type": "string", "default": "plain"}}}"#,
        ),
        (
            "install.sh",
            "#!/bin/sh\nset -e\nmkdir -p /opt\necho \"base $FLAVOUR\" >> /opt/installed\n",
        ),
    ])
}

#[test]
fn a_registry_feature_is_pulled_verified_ordered_locked_and_cached() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    let Some(registry) = start_registry(ctx.dir.path()) else {
        return;
    };
    let port = registry.port;
    push(port, "features/base", "1", &base_feature());
    let m1 = push(
        port,
        "features/greeter",
        "1",
        &registry_feature(port, "1.0.0", "v1"),
    );
    progress!("pushed features/greeter:1 as {m1}");
    let feature = format!("localhost:{port}/features/greeter:1");
    // `greeter` installs after `./hello` by its own `installsAfter`;
    // overrideFeatureInstallOrder puts it first anyway.
    ctx.write(
        ".devcontainer/devcontainer.json",
        &format!(
            r#"{{"image": "{BUSYBOX}",
  "features": {{"{feature}": {{"who": "warren"}}, "./hello": {{}}}}}}"#
        ),
    );
    ctx.write(".devcontainer/hello/devcontainer-feature.json", HELLO_JSON);
    ctx.write(".devcontainer/hello/install.sh", HELLO_SH);
    ctx.write(
        ".warren.yaml",
        "host_access: {capabilities: [SYS_PTRACE]}\n",
    );
    ctx.commit("a registry feature");
    let mut rmi = Rmi(Vec::new());

    let run = ctx
        .warren(&[
            "run",
            "--name",
            "reg-one",
            "--",
            "sh",
            "-c",
            "cat /opt/installed; echo GREETER=$GREETER",
        ])
        .ok();
    assert_eq!(
        run.stdout.trim(),
        "hello\nbase salty\ngreeter v1 warren\nGREETER=v1",
        "dependsOn brings base (with its options), installsAfter puts greeter after hello: {}",
        run.stderr
    );
    rmi.0.push(image_of(&ctx, "reg-one").1);
    let lock_path = ctx.repo.join(".devcontainer/devcontainer-lock.json");
    let lock: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&lock_path).expect("the lock file is written"),
    )
    .unwrap();
    progress!("lock: {lock}");
    let entry = &lock["features"][&feature];
    assert_eq!(entry["version"], "1.0.0");
    assert_eq!(
        entry["resolved"],
        format!("localhost:{port}/features/greeter@{m1}")
    );
    assert_eq!(
        entry["integrity"],
        digest(&registry_feature(port, "1.0.0", "v1"))
    );
    assert_eq!(
        lock["features"][format!("localhost:{port}/features/base:1")]["integrity"],
        digest(&base_feature()),
        "a dependency is locked too"
    );
    ctx.warren(&["rm", "reg-one"]).ok();

    // overrideFeatureInstallOrder puts `./second` first; `installsAfter`
    // (a graph edge, as in the reference) still keeps greeter after hello.
    ctx.write(
        ".devcontainer/second/devcontainer-feature.json",
        r#"{"id": "second", "version": "1.0.0"}"#,
    );
    ctx.write(
        ".devcontainer/second/install.sh",
        "#!/bin/sh\nmkdir -p /opt && echo second >> /opt/installed\n",
    );
    ctx.write(
        ".devcontainer/devcontainer.json",
        &format!(
            r#"{{"image": "{BUSYBOX}",
  "features": {{"{feature}": {{"who": "warren"}}, "./hello": {{}}, "./second": {{}}}},
  "overrideFeatureInstallOrder": ["./second", "localhost:{port}/features/greeter"]}}"#
        ),
    );
    ctx.commit("override the order");
    let run = ctx
        .warren(&["run", "--rm", "--", "cat", "/opt/installed"])
        .ok();
    rmi.0.extend(built(&run));
    assert_eq!(
        run.stdout.trim(),
        "second\nhello\nbase salty\ngreeter v1 warren"
    );

    // A new version under the same tag: the lock file keeps the pinned one.
    let m2 = push(
        port,
        "features/greeter",
        "1",
        &registry_feature(port, "1.0.1", "v2"),
    );
    assert_ne!(m1, m2);
    let pinned = ctx
        .warren(&["run", "--rm", "--", "sh", "-c", "echo GREETER=$GREETER"])
        .ok();
    assert_eq!(pinned.stdout.trim(), "GREETER=v1", "{}", pinned.stderr);

    // The registry gone: the pinned layer comes from the cache (no network).
    drop(registry);
    let offline = ctx
        .warren(&["run", "--rm", "--", "sh", "-c", "echo GREETER=$GREETER"])
        .ok();
    assert_eq!(offline.stdout.trim(), "GREETER=v1", "{}", offline.stderr);

    // A lock file whose integrity does not match is refused.
    let registry = start_registry(ctx.dir.path()).expect("registry again");
    // The registry's storage is on disk; the new one listens on a new port,
    // so point the configuration there.
    let port2 = registry.port;
    let feature2 = format!("localhost:{port2}/features/greeter:1");
    let mut bad2 = serde_json::json!({"features": {}});
    bad2["features"][&feature2] = serde_json::json!({
        "version": "1.0.0",
        "resolved": format!("localhost:{port2}/features/greeter@{m1}"),
        "integrity": format!("sha256:{}", "0".repeat(64)),
    });
    std::fs::write(&lock_path, bad2.to_string()).unwrap();
    ctx.write(
        ".devcontainer/devcontainer.json",
        &format!(r#"{{"image": "{BUSYBOX}", "features": {{"{feature2}": {{}}}}}}"#),
    );
    let refused = ctx.warren(&["run", "--rm", "--", "true"]).fails(1);
    assert!(
        refused
            .stderr
            .contains("does not match the lock file's integrity"),
        "{}",
        refused.stderr
    );
    assert!(ctx.containers().is_empty(), "nothing is left behind");
}

#[test]
fn a_feature_installs_on_an_image_the_configuration_builds() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    ctx.write(
        ".devcontainer/Dockerfile",
        &format!(
            "FROM {BUSYBOX}\nRUN mkdir -p /opt && echo built > /opt/installed\n\
             LABEL devcontainer.metadata='[{{\"warren.feature\": true, \"capAdd\": [\"NET_ADMIN\"]}}]'\n"
        ),
    );
    ctx.write(
        ".devcontainer/devcontainer.json",
        r#"{"build": {"dockerfile": "Dockerfile"}, "features": {"./hello": {}}}"#,
    );
    ctx.write(".devcontainer/hello/devcontainer-feature.json", HELLO_JSON);
    ctx.write(".devcontainer/hello/install.sh", HELLO_SH);
    // The Feature asks for a capability beyond Docker's default set; the
    // base image's label asks for another and claims to be a Feature's entry.
    ctx.write(
        ".warren.yaml",
        "host_access: {capabilities: [SYS_PTRACE, NET_ADMIN]}\n",
    );
    ctx.commit("a build with a feature");
    let mut rmi = Rmi(Vec::new());
    let run = ctx
        .warren(&["run", "--name", "built-feat", "--", "cat", "/opt/installed"])
        .ok();
    // The Feature's image first: removed before the base it is built on.
    rmi.0.push(image_of(&ctx, "built-feat").1);
    rmi.0.extend(
        run.stderr
            .lines()
            .filter_map(|l| l.strip_prefix("· building "))
            .filter(|t| !t.starts_with("warren-features:"))
            .map(|t| t.trim().to_string()),
    );
    assert_eq!(
        run.stdout.trim(),
        "built\nhello",
        "the Feature installs on the built image: {}",
        run.stderr
    );
    let caps = inspect(
        ctx.env_json("built-feat")["container"].as_str().unwrap(),
        "{{.HostConfig.CapAdd}}",
    );
    assert!(caps.contains("SYS_PTRACE"), "the Feature's grant: {caps}");
    assert!(
        !caps.contains("NET_ADMIN"),
        "an image label posing as a Feature's entry gets nothing: {caps}"
    );
    assert!(
        run.stderr.contains("`capAdd` (NET_ADMIN)"),
        "and is named: {}",
        run.stderr
    );
    let volume = inspect(
        ctx.env_json("built-feat")["container"].as_str().unwrap(),
        "{{range .Mounts}}{{if eq .Destination \"/hello-vol\"}}{{.Name}}{{end}}{{end}}",
    );
    ctx.warren(&["rm", "built-feat"]).ok();
    if !volume.is_empty() {
        let _ = Command::new("docker")
            .args(["volume", "rm", &volume])
            .output();
    }
}
