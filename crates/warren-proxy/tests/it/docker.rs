//! A real dev server in a real container: busybox httpd published on
//! 127.0.0.1 with an engine-assigned port, routed through the proxy.

use std::process::Command;
use std::time::Duration;

use crate::harness::*;

const IMAGE: &str = "warren-test/busybox:latest";

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker").args(args).output().unwrap()
}

/// Builds the busybox image (as scripts/build-test-images.sh does) when it
/// is missing.
fn ensure_image(t: &TestContext) -> Result<(), String> {
    if docker(&["image", "inspect", IMAGE]).status.success() {
        return Ok(());
    }
    let busybox =
        crate::routing::which("busybox").map_err(|_| "busybox not installed".to_string())?;
    let ctx = t.dir.path().join("image");
    std::fs::create_dir_all(ctx.join("rootfs/bin")).unwrap();
    std::fs::copy(busybox, ctx.join("rootfs/bin/busybox")).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY rootfs/ /\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
    )
    .unwrap();
    let out = docker(&["build", "-q", "-t", IMAGE, ctx.to_str().unwrap()]);
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.0]);
    }
}

#[test]
fn busybox_container_behind_the_proxy() {
    let mut t = TestContext::new("busybox_container_behind_the_proxy");
    if !docker(&["version"]).status.success() {
        crate::harness::skip("no Docker engine answers");
        return;
    }
    if let Err(e) = ensure_image(&t) {
        panic!("cannot build {IMAGE}: {e}");
    }
    let name = format!(
        "warren-proxy-it-{}-{}",
        std::process::id(),
        t.dir.path().file_name().unwrap().to_string_lossy()
    );
    let name = name
        .to_ascii_lowercase()
        .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "-");
    let container = Container(name.clone());
    let out = docker(&[
        "run",
        "-d",
        "--name",
        &container.0,
        "-p",
        "127.0.0.1::80",
        IMAGE,
        "sh",
        "-c",
        "mkdir -p /www && echo 'hello from a container' > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = docker(&["port", &container.0, "80/tcp"]);
    let mapping = String::from_utf8_lossy(&out.stdout);
    let host_port: u16 = mapping
        .lines()
        .find_map(|l| l.strip_prefix("127.0.0.1:"))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no 127.0.0.1 mapping in {mapping:?}"));
    t.step(&format!(
        "container {name} publishes 80 on 127.0.0.1:{host_port}"
    ));
    wait_until(Duration::from_secs(20), || {
        curl(&["-s", &format!("http://127.0.0.1:{host_port}/")]).contains("hello")
    });
    let p = t.proxy().port;
    t.route(
        "boxed",
        "web",
        0,
        format!("127.0.0.1:{host_port}").parse().unwrap(),
    );
    assert_eq!(
        get(&format!("http://web.boxed.localhost:{p}/"), &[]),
        (200, "hello from a container\n".into())
    );
    drop(container);
    t.step("container removed: 502");
    wait_until(Duration::from_secs(10), || {
        get(&format!("http://boxed.localhost:{p}/"), &[]).0 == 502
    });
}
