//! Conformance against the reference implementation's own fixtures (issue 15):
//! every devcontainer.json under `fixtures/devcontainers-cli/` (vendored from
//! devcontainers/cli `src/test/configs/`, see its README.md) goes through
//! `warren validate` and `warren run --rm -- true` on Docker, and the outcomes
//! are compared with [`EXPECTED`].
//!
//! There is no registry on the test machines, so each fixture is copied into a
//! fresh repository and its images are swapped for the local busybox test
//! image there (the vendored files stay as they are): `"image"` values in
//! devcontainer.json, `image:` lines of compose files, and the image of every
//! Dockerfile `FROM` line (stage names and `--platform` kept). A few Debian-only commands in Dockerfiles are
//! translated to their busybox spelling (see [`DOCKERFILE_TRANSLATIONS`]) so a
//! build tests warren and not the test image.
//!
//! The test fails when an outcome is worse than expected (a regression) and
//! also when it is better, with a message to update the table, so the table
//! (printed as the test goes, and copied in docs/configuration.md) stays true.

use std::path::{Path, PathBuf};

use crate::harness::*;

/// Where the vendored fixtures live.
fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures/devcontainers-cli")
}

/// One line per devcontainer.json: `config | validate | run | why anything is
/// not ok`. `config` is the fixture folder, then `:` and the file's path in it
/// when the file is not the one discovery finds. Outcomes, best first: `ok`,
/// `warns`, `refused` (warren declines with a clear "not supported" error),
/// `fails`; `-` for a run the test does not attempt (no image or build).
const EXPECTED: &str = "\
compose-Dockerfile-alpine                                             | warns   | warns   | keys of an older spec (`settings`, `extensions`, `devPort`) warned
compose-Dockerfile-with-features                                      | warns   | fails   | Features are not installed in a Compose config (a warning); remoteUser `node` is a user of the reference's image, the test image has none
compose-Dockerfile-with-target                                        | warns   | fails   | Features are not installed in a Compose config (a warning); remoteUser `node` is a user of the reference's image, the test image has none
compose-Dockerfile-without-features                                   | warns   | fails   | keys of an older spec warned; remoteUser `node` is a user of the reference's image, the test image has none
compose-image-with-features                                           | warns   | fails   | Features are not installed in a Compose config (a warning); remoteUser `node` is a user of the reference's image, the test image has none
compose-image-with-mounts                                             | ok      | ok      |
compose-image-without-features                                        | warns   | fails   | keys of an older spec warned; remoteUser `node` is a user of the reference's image, the test image has none
compose-image-without-features-minimal                                | ok      | ok      |
compose-with-name                                                     | ok      | fails   | a top-level `name:` needs Compose v2; these machines have Debian's docker-compose 1.29
compose-with-name-and-custom-yaml                                     | ok      | fails   | a top-level `name:` needs Compose v2; these machines have Debian's docker-compose 1.29 (and `!reset`)
compose-with-name-using-env-var                                       | ok      | fails   | a top-level `name:` needs Compose v2; these machines have Debian's docker-compose 1.29
compose-without-name                                                  | ok      | ok      |
disallowed-features:.devcontainer/allowed/devcontainer.json           | ok      | fails   | the reference's ghcr.io Features cannot be fetched offline: a clear error naming the Feature
disallowed-features:.devcontainer/disallowed/devcontainer.json        | fails   | fails   | refused as the reference refuses it: the Feature is on the reference's disallowed list (an error at file:line:col)
dockerfile-with-features                                              | ok      | fails   | the reference's ghcr.io Features cannot be fetched offline: a clear error naming the Feature
dockerfile-with-parallel-commands                                     | ok      | ok      |
dockerfile-with-syntax                                                | warns   | fails   | a GitHub-release Feature (`owner/repo/feature`, deprecated) is skipped with a warning; its ghcr.io Feature cannot be fetched offline
dockerfile-with-target                                                | warns   | fails   | a GitHub-release Feature (`owner/repo/feature`, deprecated) is skipped with a warning; its ghcr.io Feature cannot be fetched offline
dockerfile-without-features                                           | ok      | ok      |
dockerfile-without-features:.devcontainer/subfolder/devcontainer.json | ok      | ok      |
example                                                               | ok      | fails   | the reference's ghcr.io Features cannot be fetched offline: a clear error naming the Feature
image                                                                 | ok      | ok      |
image-containerEnv-issue                                              | fails   | fails   | its compose file binds `../..`, the folder above the project: host access, refused without a `host_access:` grant
image-metadata                                                        | ok      | fails   | its local Features install; their lifecycle commands (`one`, `three`…) are placeholders the reference only reads from the label, so running them fails (exit 127)
image-metadata-containerEnv                                           | ok      | fails   | the reference's ghcr.io Features cannot be fetched offline: a clear error naming the Feature
image-with-features                                                   | ok      | fails   | the reference's ghcr.io Features cannot be fetched offline: a clear error naming the Feature
image-with-git-feature                                                | ok      | fails   | the reference's ghcr.io Features cannot be fetched offline: a clear error naming the Feature
image-with-local-feature                                              | refused | refused | refused as the reference refuses it: a legacy id `myfeature`, with the hint to write `./myfeature`
image-with-mounts                                                     | ok      | ok      |
image-with-parallel-initialize-command                                | ok      | ok      |
poetry-example                                                        | ok      | fails   | the reference's ghcr.io Features cannot be fetched offline; postStartCommand needs the reference image's bash, python3 and poetry
set-up-with-config:devcontainer.json                                  | warns   | -       | no image or build (warned): a config for the reference's `set-up` of a running container
set-up-with-metadata                                                  | -       | -       | no devcontainer.json: an image label for the reference's `set-up` of a running container
updateUID                                                             | ok      | ok      |
updateUIDOnly                                                         | ok      | ok      |
updateUIDamd64                                                        | ok      | ok      |
updateUIDamd64-platform-option                                        | warns   | warns   | runArgs `--platform` is ignored (warned)
updateUIDarm64                                                        | ok      | ok      |
updateUIDarm64-platform-option                                        | warns   | warns   | runArgs `--platform` is ignored (warned)
updateUIDarm64v8                                                      | ok      | ok      |
updateUIDarm64v8-platform-option                                      | warns   | warns   | runArgs `--platform` is ignored (warned)
";

/// The rows of [`EXPECTED`]: (config, validate, run, reason).
fn expected() -> Vec<(&'static str, &'static str, &'static str, &'static str)> {
    EXPECTED
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.splitn(4, '|').map(str::trim).collect();
            assert_eq!(f.len(), 4, "EXPECTED line `{l}` needs 4 fields");
            (f[0], f[1], f[2], f[3])
        })
        .collect()
}

/// Commands of the fixtures' Dockerfiles that the busybox test image lacks
/// (`groupadd`, `useradd`, `adduser`, `sudo`, a `/var`, `/etc/os-release`),
/// each written the busybox way with the same effect.
const DOCKERFILE_TRANSLATIONS: &[(&str, &str)] = &[
    (
        "useradd -m -u 1234 -g 4321 foo",
        "echo foo:x:1234:4321::/home/foo:/bin/sh >> /etc/passwd && mkdir -p /home/foo && chown 1234:4321 /home/foo",
    ),
    ("groupadd -g 4321 foo", "echo foo:x:4321: >> /etc/group"),
    (
        "groupadd -g $LOCAL_GID bar || true",
        "echo bar:x:$LOCAL_GID: >> /etc/group || true",
    ),
    (
        "adduser foo --disabled-password",
        "echo foo:x:1001:1001::/home/foo:/bin/sh >> /etc/passwd && mkdir -p /home/foo && chown 1001 /home/foo",
    ),
    (
        "adduser bar --disabled-password",
        "echo bar:x:1002:1002::/home/bar:/bin/sh >> /etc/passwd && mkdir -p /home/bar && chown 1002 /home/bar",
    ),
    (". /etc/os-release", "true"),
    (
        "echo \"||test-content||\" | sudo tee /var/test-marker",
        "mkdir -p /var && echo \"||test-content||\" | tee /var/test-marker",
    ),
];

/// The same for commands in devcontainer.json: the test image runs as root
/// and has no `sudo`.
const JSON_TRANSLATIONS: &[(&str, &str)] = &[("| sudo tee", "| tee")];

/// Whether the docker CLI has the compose plugin (v2): rows that need it may
/// then do better than the table says.
fn compose_v2() -> bool {
    std::process::Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Rank of an outcome, higher is better.
fn rank(outcome: &str) -> u8 {
    match outcome {
        "ok" => 3,
        "warns" => 2,
        "refused" => 1,
        _ => 0,
    }
}

/// The outcome of one `warren` invocation, and its first error line.
fn outcome(run: &Run) -> (&'static str, String) {
    let text = format!("{}{}", run.stdout, run.stderr);
    // What went wrong, in one line: warren's `error:` line, else the last
    // line the command printed (a failed command's own message, on stdout).
    let lines: Vec<&str> = run.stderr.lines().collect();
    let error_at = lines.iter().position(|l| l.starts_with("error:"));
    // The error with its first cause.
    let error = error_at.map(|i| {
        let cause = lines.get(i + 1).filter(|l| l.contains("Caused by"));
        match cause {
            Some(c) => format!("{} ({})", lines[i], c.trim()),
            None => lines[i].to_string(),
        }
    });
    let first_error = error
        .as_deref()
        .or_else(|| run.stdout.lines().rev().find(|l| !l.trim().is_empty()))
        .or_else(|| run.stderr.lines().rev().find(|l| !l.trim().is_empty()))
        .unwrap_or("")
        .chars()
        .take(200)
        .collect::<String>();
    if run.code == 0 {
        let warns = text.lines().any(|l| l.starts_with("warning"));
        (if warns { "warns" } else { "ok" }, String::new())
    } else if run.code == 1
        && first_error.starts_with("error:")
        && first_error.contains("not supported")
    {
        ("refused", first_error)
    } else {
        ("fails", format!("exit {}: {first_error}", run.code))
    }
}

/// Every devcontainer.json of a fixture folder, relative to it.
fn configs(folder: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for rel in [".devcontainer.json", "devcontainer.json"] {
        if folder.join(rel).is_file() {
            out.push(rel.to_string());
        }
    }
    let dc = folder.join(".devcontainer");
    if dc.join("devcontainer.json").is_file() {
        out.push(".devcontainer/devcontainer.json".to_string());
    }
    let mut subs = dir_names(&dc);
    subs.sort();
    for sub in subs {
        if dc.join(&sub).join("devcontainer.json").is_file() {
            out.push(format!(".devcontainer/{sub}/devcontainer.json"));
        }
    }
    out
}

/// Copies `from` into `to`, swapping images in devcontainer.json and Dockerfiles.
fn copy_swapped(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
            copy_swapped(&src, &dst);
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&src).unwrap();
        let text = if name == "Dockerfile" {
            swap_from_lines(&text)
        } else if name.ends_with(".yml") || name.ends_with(".yaml") {
            swap_compose_images(&text)
        } else if name.ends_with("devcontainer.json") && !name.contains("feature") {
            let mut text = swap_image(&text);
            for (from, to) in JSON_TRANSLATIONS {
                text = text.replace(from, to);
            }
            text
        } else {
            text
        };
        std::fs::write(&dst, text).unwrap();
    }
}

/// Dockerfile: the image of every `FROM` becomes the test image.
fn swap_from_lines(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut line = line.to_string();
        let words: Vec<&str> = line.split_whitespace().collect();
        if words
            .first()
            .is_some_and(|w| w.eq_ignore_ascii_case("FROM"))
        {
            let mut kept = vec!["FROM".to_string()];
            let mut rest = words[1..].iter();
            for w in rest.by_ref() {
                if w.starts_with("--") {
                    kept.push(w.to_string());
                } else {
                    kept.push(BUSYBOX.to_string());
                    break;
                }
            }
            kept.extend(rest.map(|w| w.to_string()));
            line = kept.join(" ");
        }
        for (from, to) in DOCKERFILE_TRANSLATIONS {
            line = line.replace(from, to);
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// A compose file (by text): every service's `image:` becomes the test image;
/// a service that ran its image's own server (the fixtures' `mongo`) sleeps
/// instead, as the test image has no such server.
fn swap_compose_images(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        match trimmed.strip_prefix("image:") {
            Some(image) => {
                let indent = &line[..line.len() - trimmed.len()];
                out.push_str(&format!("{indent}image: {BUSYBOX}\n"));
                if image.trim().starts_with("mongo") {
                    out.push_str(&format!("{indent}command: sleep infinity\n"));
                }
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// devcontainer.json (JSONC, so by text): every `"image": "…"` value becomes
/// the test image.
fn swap_image(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("\"image\"") {
        let after = &rest[i + "\"image\"".len()..];
        let trimmed = after.trim_start();
        let Some(value) = trimmed.strip_prefix(':').map(str::trim_start) else {
            out.push_str(&rest[..i + 7]);
            rest = after;
            continue;
        };
        let Some(body) = value.strip_prefix('"') else {
            out.push_str(&rest[..i + 7]);
            rest = after;
            continue;
        };
        let end = body.find('"').expect("a closed string");
        out.push_str(&rest[..i]);
        out.push_str(&format!("\"image\": \"{BUSYBOX}\""));
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    out
}

/// What one config did: (validate, run, first error of the worse one).
fn check(folder: &Path, config: &str, discovered: bool, runs: bool) -> (String, String, String) {
    let ctx = TestContext::new();
    copy_swapped(folder, &ctx.repo);
    ctx.commit("fixture");
    let mut validate_args = vec!["validate"];
    if !discovered {
        validate_args.push(config);
    }
    let (v, v_err) = outcome(&ctx.warren(&validate_args));
    if !runs {
        return (v.to_string(), "-".to_string(), v_err);
    }
    let mut run_args = vec!["run", "--rm", "--runtime", "docker", "--name", "conf"];
    if !discovered {
        run_args.extend(["--config", config]);
    }
    run_args.extend(["--", "true"]);
    let run = ctx.warren(&run_args);
    let (r, r_err) = outcome(&run);
    // The image warren built for a `build` config (`· building TAG`); without
    // `-f`, so not while another test's container uses it.
    for line in run.stderr.lines() {
        if let Some(tag) = line.strip_prefix("· building ") {
            let _ = std::process::Command::new("docker")
                .args(["rmi", tag.trim()])
                .output();
        }
    }
    let left = ctx.containers();
    assert!(
        left.is_empty(),
        "{config}: `run --rm` left containers {left:?}"
    );
    // Images compose built for the environment's project go with it.
    let built = std::process::Command::new("docker")
        .args(["images", "-q", "--filter"])
        .arg(format!("reference=warren-{}-*", ctx.root_id()))
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    assert!(
        built.is_empty(),
        "{config}: `run --rm` left compose-built images {built:?}"
    );
    let envs = ctx.ls();
    assert!(
        envs.is_empty(),
        "{config}: `run --rm` left environments {envs:?}"
    );
    let err = if r_err.is_empty() { v_err } else { r_err };
    (v.to_string(), r.to_string(), err)
    // ctx drops here: anything left on the engine is removed, also on a panic.
}

#[test]
fn the_reference_fixtures_validate_and_run_as_the_table_says() {
    if !require_docker() {
        return;
    }
    let root = fixtures();
    let mut folders = dir_names(&root);
    folders.retain(|f| root.join(f).is_dir());
    folders.sort();

    let expected = expected();
    let mut seen = Vec::new();
    let mut worse = Vec::new();
    let mut better = Vec::new();
    let mut table = vec![
        "| fixture | validate | run | expected (validate, run) | reason |".to_string(),
        "| --- | --- | --- | --- | --- |".to_string(),
    ];
    for folder in &folders {
        let dir = root.join(folder);
        let mut all = configs(&dir);
        if all.is_empty() {
            // A folder with no devcontainer.json still gets its line.
            all.push(String::new());
        }
        for config in &all {
            // The files discovery finds are checked as discovery finds them;
            // any other (a subfolder, a second config) through `--config`.
            let discovered = matches!(
                config.as_str(),
                "" | ".devcontainer.json" | ".devcontainer/devcontainer.json"
            );
            let id = if discovered {
                folder.clone()
            } else {
                format!("{folder}:{config}")
            };
            let text = std::fs::read_to_string(dir.join(config)).unwrap_or_default();
            let runs = text.contains("\"image\"")
                || text.contains("\"build\"")
                || text.contains("\"dockerFile\"")
                || text.contains("\"dockerComposeFile\"");
            let (v, r, err) = if config.is_empty() {
                ("-".to_string(), "-".to_string(), String::new())
            } else {
                check(&dir, config, discovered, runs)
            };
            let Some(&(_, ev, er, why)) = expected.iter().find(|e| e.0 == id) else {
                panic!(
                    "fixture `{id}` (validate {v}, run {r}: {err}) has no line in EXPECTED; add one"
                );
            };
            seen.push(id.clone());
            // The error itself only where something failed; a refusal's
            // reason is the table's.
            let note = if err.is_empty() || (v != "fails" && r != "fails") {
                why.to_string()
            } else {
                format!("{why} [{err}]")
            };
            let row = format!("| {id} | {v} | {r} | {ev}, {er} | {note} |");
            progress!("{row}");
            table.push(row);
            for (got, want, what) in [(&v, ev, "validate"), (&r, er, "run")] {
                if want == "-" || got == "-" {
                    if got != want {
                        worse.push(format!("{id}: {what} is `{got}`, expected `{want}`"));
                    }
                } else if rank(got) < rank(want) {
                    worse.push(format!(
                        "{id}: {what} is `{got}`, expected `{want}` ({err})"
                    ));
                } else if rank(got) > rank(want)
                    && !(why.contains("needs Compose v2") && compose_v2())
                {
                    better.push(format!("{id}: {what} is `{got}`, the table says `{want}`"));
                }
            }
        }
    }
    let table = table.join("\n");
    println!("{table}");
    progress!("conformance with devcontainers/cli fixtures:\n{table}");

    let stale: Vec<_> = expected
        .iter()
        .filter(|e| !seen.iter().any(|s| s == e.0))
        .map(|e| e.0)
        .collect();
    assert!(
        stale.is_empty(),
        "EXPECTED names fixtures that are not there: {stale:?}"
    );
    assert!(
        worse.is_empty(),
        "regressions against the reference fixtures:\n{}",
        worse.join("\n")
    );
    assert!(
        better.is_empty(),
        "better than the table says; update EXPECTED in conformance.rs (and the table in docs/configuration.md):\n{}",
        better.join("\n")
    );
}

/// docs/configuration.md copies [`EXPECTED`]; the two must not drift apart.
#[test]
fn the_docs_show_the_conformance_table_the_test_checks() {
    let docs = std::fs::read_to_string(workspace().join("docs/configuration.md")).unwrap();
    let missing: Vec<String> = expected()
        .iter()
        .map(|(id, v, r, why)| format!("| `{id}` | {v} | {r} | {why} |"))
        .filter(|row| !docs.contains(row.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/configuration.md (Conformance with the reference's fixtures) lacks these rows of EXPECTED:\n{}",
        missing.join("\n")
    );
}
