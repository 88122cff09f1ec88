//! Credentials by grant (docs/SECURITY.md, "Grants"): the environment holds only a
//! placeholder; for the granted host the egress proxy terminates TLS with a leaf of
//! warren's CA, puts the real credential in, and forwards over verified TLS. The test
//! plays the upstream (a local HTTPS server with its own CA that answers only the real
//! credential, and serves a git repository over smart HTTP) and then the attacker:
//! nothing the environment can read — its variables, command lines, files, and the
//! memory of every process it can see — holds the credential.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

struct Upstream {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
    ca: std::path::PathBuf,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sh(dir: &Path, script: &str) {
    let st = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "{script}");
}

/// An HTTPS upstream for `granted.test` that wants `authorization: Bearer SECRET`.
fn upstream(dir: &Path, secret: &str) -> Upstream {
    sh(
        dir,
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -subj /CN=upstream-test-ca -days 2 \
           -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign && \
         openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=granted.test && \
         printf 'subjectAltName=DNS:granted.test\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext && \
         openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile ext",
    );
    // The repository the environment clones over HTTPS.
    sh(
        dir,
        "git init -q --bare git/repo.git && git init -q src && cd src && \
         echo granted > file && git add file && \
         git -c user.name=t -c user.email=t@example.invalid commit -qm granted && \
         git push -q ../git/repo.git HEAD:refs/heads/main && \
         git -C ../git/repo.git symbolic-ref HEAD refs/heads/main",
    );
    let portfile = dir.join("port");
    let log = dir.join("upstream.log");
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures/granted_upstream.py");
    let child = Command::new("python3")
        .arg(script)
        .args([
            dir.join("srv.pem"),
            dir.join("srv.key"),
            portfile.clone(),
            log.clone(),
        ])
        .arg("authorization")
        .arg(format!("Bearer {secret}"))
        .arg(dir.join("git"))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let port = loop {
        if let Ok(p) = std::fs::read_to_string(&portfile) {
            break p.trim().parse().unwrap();
        }
        assert!(Instant::now() < deadline, "the upstream did not start");
        std::thread::sleep(Duration::from_millis(20));
    };
    Upstream {
        child,
        port,
        log,
        ca: dir.join("ca.pem"),
    }
}

/// Looks, from inside, for anything shaped like the secret (`sk-real-` and 32 hex
/// digits) and prints the sha256 of each find: the secret itself never goes in.
const SCAN_PY: &str = r#"
import hashlib, os, re
pat = re.compile(rb"sk-real-[0-9a-f]{32}")
found = set()
def look(data):
    for m in pat.findall(data):
        found.add(hashlib.sha256(m).hexdigest())
for pid in [p for p in os.listdir('/proc') if p.isdigit()]:
    for part in ('environ', 'cmdline'):
        try: look(open(f'/proc/{pid}/{part}', 'rb').read())
        except OSError: pass
    try:
        mem = open(f'/proc/{pid}/mem', 'rb', 0)
        for line in open(f'/proc/{pid}/maps'):
            addr, perms = line.split()[:2]
            if 'r' not in perms: continue
            lo, hi = (int(x, 16) for x in addr.split('-'))
            try:
                mem.seek(lo); look(mem.read(hi - lo))
            except (OSError, OverflowError, ValueError): pass
    except OSError: pass
for top in (os.environ.get('HOME', '/'), '/tmp', os.getcwd(), '/etc'):
    for d, _, files in os.walk(top):
        for f in files:
            try: look(open(os.path.join(d, f), 'rb').read(1 << 24))
            except OSError: pass
print('scanned', len(found))
for h in sorted(found): print('FOUND', h)
"#;

/// The same with busybox (no memory: busybox cannot read another process's memory).
const SCAN_SH: &str = r#"
for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do tr '\0' '\n' < $f 2>/dev/null; done > /tmp/.scan
grep -rhoE 'sk-real-[0-9a-f]{32}' /tmp/.scan "$HOME" /etc "$PWD" 2>/dev/null | sort -u | while read s; do
  echo "FOUND $(printf %s "$s" | sha256sum | cut -d' ' -f1)"; done
rm -f /tmp/.scan; echo scanned
"#;

fn scenario(runtime: &str) {
    let sandbox = runtime == "sandbox";
    let mut t = TestContext::new();
    let secret = format!("sk-real-{:032x}", rand_u128());
    let hash = {
        use sha2::Digest;
        sha2::Sha256::digest(secret.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let up_dir = t.dir.path().join("upstream");
    std::fs::create_dir_all(&up_dir).unwrap();
    let up = upstream(&up_dir, &secret);
    let image = if sandbox {
        String::new()
    } else {
        "image: warren-test/git:latest\n".to_string()
    };
    t.write(
        ".warren.yaml",
        &format!(
            "{image}grants:\n  - {{name: upstream, hosts: [granted.test], header: authorization, format: \"Bearer {{}}\", env: TEST_API_KEY}}\n"
        ),
    );
    t.commit("grants");
    t.env("TEST_API_KEY", &secret);
    t.env(
        "WARREN_EGRESS_TEST_RESOLVE",
        &format!("granted.test=127.0.0.1:{}", up.port),
    );
    t.env("WARREN_EGRESS_TEST_UPSTREAM_CA", &up.ca.to_string_lossy());
    t.warren(&[
        "run",
        &format!("--runtime={runtime}"),
        "-n",
        "g1",
        "--",
        "true",
    ])
    .ok();

    // The environment holds the placeholder, never the key.
    let run = t
        .warren(&["exec", "g1", "--", "sh", "-c", "echo $TEST_API_KEY"])
        .ok();
    assert_eq!(run.stdout.trim(), "warren-grant-upstream-placeholder");

    // Requests to the granted host get the real credential: added when absent, put in
    // place of the placeholder when sent.
    if sandbox {
        let run = t
            .warren(&["exec", "g1", "--", "sh", "-c",
                "curl -sf -m 10 https://granted.test/added && \
                 curl -sf -m 10 -H \"authorization: Bearer $TEST_API_KEY\" https://granted.test/replaced && \
                 python3 -c \"import urllib.request as u; print(u.urlopen('https://granted.test/python').read().decode().strip())\""])
            .ok();
        assert_eq!(
            run.stdout.matches("granted-ok").count(),
            3,
            "{}",
            run.stdout
        );
    }
    // git over HTTPS with no token anywhere in the environment or its .git/config.
    let run = t
        .warren(&[
            "exec",
            "g1",
            "--",
            "sh",
            "-c",
            "cd /tmp && git clone -q https://granted.test/repo.git cloned && cat cloned/file && \
             ! grep -ri 'sk-real\\|authorization\\|extraheader' cloned/.git/config",
        ])
        .ok();
    assert_eq!(run.stdout.trim(), "granted", "{}", run.stderr);

    // The upstream saw the real credential (and nothing else got through to it).
    let seen = std::fs::read_to_string(&up.log).unwrap();
    progress!(
        "upstream saw:\n{}",
        seen.replace(&secret, "<the real credential>")
    );
    assert!(seen.lines().count() >= 2);
    assert!(
        seen.lines()
            .all(|l| l.ends_with(&format!("authorization=Bearer {secret}"))),
        "every request reached the upstream with the real credential"
    );

    // The attacker's scan: variables, command lines, files and memory.
    let (cmd, what) = if sandbox {
        (
            format!("python3 -c '{}'", SCAN_PY.replace('\'', "\"")),
            "environ, cmdline, files, memory",
        )
    } else {
        (SCAN_SH.to_string(), "environ, cmdline, files")
    };
    let run = t.warren(&["exec", "g1", "--", "sh", "-c", &cmd]).ok();
    progress!("scan ({what}): {}", run.stdout.trim());
    assert!(
        run.stdout.contains("scanned"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        !run.stdout.contains(&hash),
        "the real credential is readable inside the environment"
    );

    // The log names the grant and the path, never the credential.
    let log = t.warren(&["net", "log", "g1", "--json"]).ok();
    assert!(
        log.stdout.contains("\"grant\":\"upstream\""),
        "{}",
        log.stdout
    );
    assert!(!log.stdout.contains(&secret));
    if sandbox {
        assert!(log.stdout.contains("\"path\":\"/added\""), "{}", log.stdout);
    }
    // The CA key stays private.
    let key = t.root.join("tls/egress-ca.key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    t.warren(&["rm", "-f", "g1"]).ok();
}

fn rand_u128() -> u128 {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .unwrap();
    u128::from_le_bytes(b)
}

#[test]
fn sandbox_grants_keep_the_credential_out() {
    scenario("sandbox");
}

#[test]
fn docker_grants_keep_the_credential_out() {
    if !require_docker() {
        return;
    }
    scenario("docker");
}
