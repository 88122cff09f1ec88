//! Conformance against the reference implementation's own fixtures (issue 15):
//! every devcontainer.json under `fixtures/devcontainers-cli/` (vendored from
//! devcontainers/cli `src/test/configs/`, see its README.md) goes through
//! `warren validate` and `warren run --rm -- true` on Docker, and the outcomes
//! are compared with [`EXPECTED`].
//!
//! There is no registry on the test machines, so each fixture is copied into a
//! fresh repository and its images are swapped for the local busybox test
//! images there (see [`stand_in`]; the vendored files stay as they are): `"image"` values in
//! devcontainer.json, `image:` lines of compose files, and the image of every
//! Dockerfile `FROM` line (stage names and `--platform` kept). A few Debian-only commands in Dockerfiles are
//! translated to their busybox spelling (see [`DOCKERFILE_TRANSLATIONS`]) so a
//! build tests warren and not the test image. The same way, the reference's
//! ghcr.io Features are swapped for stand-ins with the same ids and options,
//! published by the test to a local registry (see [`STAND_INS`]); a run then
//! shows that each was installed with the fixture's options.
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
compose-Dockerfile-with-features                                      | warns   | warns   | a GitHub-release Feature (`owner/repo/feature`, deprecated) is skipped with a warning, and `customizations` (editor settings) warned; its ghcr.io Feature was swapped for a local stand-in, as images are, and installed on the image built from the service's Dockerfile
compose-Dockerfile-with-target                                        | warns   | warns   | a GitHub-release Feature (`owner/repo/feature`, deprecated) is skipped with a warning, and `customizations` (editor settings) warned; its ghcr.io Feature was swapped for a local stand-in, as images are, and installed on the image built from the service's Dockerfile target
compose-Dockerfile-without-features                                   | warns   | warns   | keys of an older spec warned
compose-image-with-features                                           | warns   | warns   | a GitHub-release Feature (`owner/repo/feature`, deprecated) is skipped with a warning, and `customizations` (editor settings) warned; its ghcr.io Feature was swapped for a local stand-in, as images are, and installed on the service's image
compose-image-with-mounts                                             | ok      | ok      |
compose-image-without-features                                        | warns   | warns   | keys of an older spec warned
compose-image-without-features-minimal                                | ok      | ok      |
compose-with-name                                                     | ok      | ok      | Compose v1 here: warren gives it the file without `name:` (the project is named per environment anyway)
compose-with-name-and-custom-yaml                                     | ok      | ok      | Compose v1 here: warren gives it the file without `name:` (the project is named per environment anyway) and without the `!reset` entry (the first file: nothing to reset)
compose-with-name-using-env-var                                       | ok      | ok      | Compose v1 here: warren gives it the file without `name:` (the project is named per environment anyway)
compose-without-name                                                  | ok      | ok      |
disallowed-features:.devcontainer/allowed/devcontainer.json           | ok      | ok      | its ghcr.io Feature was swapped for a local stand-in, as images are
disallowed-features:.devcontainer/disallowed/devcontainer.json        | fails   | fails   | refused as the reference refuses it: the Feature is on the reference's disallowed list (an error at file:line:col)
dockerfile-with-features                                              | ok      | ok      | its ghcr.io Features were swapped for local stand-ins, as images are
dockerfile-with-parallel-commands                                     | ok      | ok      |
dockerfile-with-syntax                                                | warns   | warns   | a GitHub-release Feature (`owner/repo/feature`, deprecated) is skipped with a warning; its ghcr.io Feature was swapped for a local stand-in, as images are
dockerfile-with-target                                                | warns   | warns   | a GitHub-release Feature (`owner/repo/feature`, deprecated) is skipped with a warning; its ghcr.io Feature was swapped for a local stand-in, as images are
dockerfile-without-features                                           | ok      | ok      |
dockerfile-without-features:.devcontainer/subfolder/devcontainer.json | ok      | ok      |
example                                                               | ok      | ok      | its ghcr.io Feature was swapped for a local stand-in, as images are
image                                                                 | ok      | ok      |
image-containerEnv-issue                                              | fails   | fails   | its compose file binds `../..`, the folder above the project: host access, refused without a `host_access:` grant
image-metadata                                                        | ok      | fails   | its local Feature `localFeatureB` asks for `privileged`: host access, refused without a `host_access:` grant (its lifecycle commands `one`, `three`… are placeholders the reference only reads from the label)
image-metadata-containerEnv                                           | ok      | ok      | its ghcr.io Feature was swapped for a local stand-in, as images are
image-with-features                                                   | ok      | ok      | its ghcr.io Features were swapped for local stand-ins, as images are
image-with-git-feature                                                | ok      | ok      | its ghcr.io Feature was swapped for a local stand-in, as images are
image-with-local-feature                                              | refused | refused | refused as the reference refuses it: a legacy id `myfeature`, with the hint to write `./myfeature`
image-with-mounts                                                     | ok      | ok      |
image-with-parallel-initialize-command                                | ok      | ok      |
poetry-example                                                        | ok      | fails   | its ghcr.io Feature was swapped for a local stand-in, as images are (it installs); postStartCommand needs the reference image's bash, python3 and poetry
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

/// The same for commands in devcontainer.json: the test images have no
/// `sudo`, so a file the reference writes to `/` as its `remoteUser` (with
/// the reference image's password-less sudo) is written to `/tmp`, where any
/// user may write.
const JSON_TRANSLATIONS: &[(&str, &str)] = &[
    (
        "| sudo tee /postCreateCommand.txt",
        "| tee /tmp/postCreateCommand.txt",
    ),
    ("| sudo tee", "| tee"),
];

/// The test image standing in for a reference image: the reference's
/// `*-node` images (`typescript-node`, `javascript-node`) have the user `node`
/// (uid 1000) that their fixtures name as `remoteUser`, so they become the
/// busybox image with that user; every other image the plain busybox one.
fn stand_in(image: &str) -> &'static str {
    let name = image.split(':').next().unwrap_or(image);
    if name.ends_with("-node") {
        NODE_IMAGE
    } else {
        BUSYBOX
    }
}

/// Built by scripts/build-test-images.sh.
const NODE_IMAGE: &str = "warren-test/node:latest";

/// The reference's registry Features the fixtures name (path under
/// `ghcr.io`, options with their defaults), for which the test publishes
/// stand-ins to a local registry, under each tag the fixtures use: the same
/// id and options, an install.sh (busybox sh) that appends `ID OPTION=value…`
/// to [`STAND_IN_MARKER`]. `disallowed-feature` is not among them: the
/// reference refuses it by name before anything is fetched.
const STAND_INS: &[(&str, &[(&str, &str)])] = &[
    (
        "devcontainers/features/docker-in-docker",
        &[("version", "latest")],
    ),
    (
        "devcontainers/feature-starter/hello",
        &[("greeting", "hey")],
    ),
    (
        "devcontainers/features/python",
        &[("version", "os-provided")],
    ),
    ("devcontainers/features/java", &[("version", "latest")]),
    (
        "devcontainers/features/github-cli",
        &[("version", "latest")],
    ),
    ("devcontainers/features/git", &[("version", "os-provided")]),
];
const STAND_IN_TAGS: &[&str] = &["1", "2", "latest"];
const STAND_IN_MARKER: &str = "/usr/local/share/warren-stand-in-features";

/// What [`STAND_IN_MARKER`] holds after a run of these configs: each
/// Feature installed, with the option values the fixture gives.
const STAND_IN_MARKERS: &[(&str, &[&str])] = &[
    (
        "compose-Dockerfile-with-features",
        &["docker-in-docker version=latest"],
    ),
    (
        "compose-Dockerfile-with-target",
        &["docker-in-docker version=latest"],
    ),
    (
        "compose-image-with-features",
        &["docker-in-docker version=latest"],
    ),
    (
        "disallowed-features:.devcontainer/allowed/devcontainer.json",
        &["github-cli version=latest"],
    ),
    (
        "dockerfile-with-features",
        &["docker-in-docker version=latest", "hello greeting=howdy"],
    ),
    (
        "dockerfile-with-syntax",
        &["docker-in-docker version=latest"],
    ),
    (
        "dockerfile-with-target",
        &["docker-in-docker version=latest"],
    ),
    ("example", &["github-cli version=latest"]),
    ("image-metadata-containerEnv", &["java version=none"]),
    (
        "image-with-features",
        &["docker-in-docker version=latest", "hello greeting=howdy"],
    ),
    ("image-with-git-feature", &["git version=os-provided"]),
    ("poetry-example", &["python version=latest"]),
];

/// Publishes the [`STAND_INS`] to the registry on `port`.
fn publish_stand_ins(port: u16) {
    for (path, options) in STAND_INS {
        let id = path.rsplit('/').next().unwrap_or(path);
        let manifest = serde_json::json!({
            "id": id,
            "version": "1.0.0",
            "name": format!("warren's stand-in for ghcr.io/{path}"),
            "options": options
                .iter()
                .map(|(k, d)| (k.to_string(), serde_json::json!({"type": "string", "default": d})))
                .collect::<serde_json::Map<_, _>>(),
        })
        .to_string();
        let values: String = options
            .iter()
            .map(|(k, _)| format!(" {k}=${}", k.to_ascii_uppercase()))
            .collect();
        let install = format!(
            "#!/bin/sh\nset -e\nmkdir -p {dir}\necho \"{id}{values}\" >> {STAND_IN_MARKER}\n",
            dir = Path::new(STAND_IN_MARKER)
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        );
        let layer = crate::features::feature_tar(&[
            ("devcontainer-feature.json", &manifest),
            ("install.sh", &install),
        ]);
        for tag in STAND_IN_TAGS {
            crate::features::push(port, path, tag, &layer);
        }
    }
}

/// devcontainer.json (by text): each [`STAND_INS`] reference on ghcr.io
/// points at the local registry on `port`.
fn swap_features(text: &str, port: u16) -> String {
    let mut text = text.to_string();
    for (path, _) in STAND_INS {
        // Quote-delimited: `features/git` is a prefix of `features/github-cli`.
        for end in ["\"", ":"] {
            text = text.replace(
                &format!("\"ghcr.io/{path}{end}"),
                &format!("\"localhost:{port}/{path}{end}"),
            );
        }
    }
    text
}

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

/// Copies `from` into `to`, swapping images in devcontainer.json and
/// Dockerfiles, and registry Features for the stand-ins on `port`.
fn copy_swapped(from: &Path, to: &Path, port: u16) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
            copy_swapped(&src, &dst, port);
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&src).unwrap();
        let text = if name == "Dockerfile" {
            swap_from_lines(&text)
        } else if name.ends_with(".yml") || name.ends_with(".yaml") {
            swap_compose_images(&text)
        } else if name.ends_with("devcontainer.json") && !name.contains("feature") {
            let mut text = swap_features(&swap_image(&text), port);
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
                    kept.push(stand_in(w).to_string());
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
                out.push_str(&format!("{indent}image: {}\n", stand_in(image.trim())));
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
        out.push_str(&format!("\"image\": \"{}\"", stand_in(&body[..end])));
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    out
}

/// What one config did: (validate, run, first error of the worse one). With
/// `markers`, the run prints [`STAND_IN_MARKER`] and, when it succeeds, must
/// show each of them.
fn check(
    folder: &Path,
    config: &str,
    discovered: bool,
    runs: bool,
    port: u16,
    markers: &[&str],
) -> (String, String, String) {
    let ctx = TestContext::new();
    copy_swapped(folder, &ctx.repo, port);
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
    if markers.is_empty() {
        run_args.extend(["--", "true"]);
    } else {
        run_args.extend(["--", "cat", STAND_IN_MARKER]);
    }
    let run = ctx.warren(&run_args);
    let (r, r_err) = outcome(&run);
    if run.code == 0 && !markers.is_empty() {
        progress!(
            "{config}: the stand-in Features installed: {:?}",
            run.stdout
        );
        let lines: Vec<&str> = run.stdout.lines().map(str::trim).collect();
        for m in markers {
            assert!(
                lines.contains(m),
                "{config}: the stand-in Features' marker lacks `{m}`: {:?}",
                run.stdout
            );
        }
    }
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
    // The registry the stand-in Features are published to, for the whole
    // test (stopped when it ends, also on a panic).
    let registry_dir = tempfile::tempdir().expect("a temporary directory");
    let Some(registry) = crate::features::start_registry(registry_dir.path()) else {
        return;
    };
    publish_stand_ins(registry.port);
    progress!("stand-in Features published to localhost:{}", registry.port);
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
                let markers = STAND_IN_MARKERS
                    .iter()
                    .find(|(c, _)| *c == id)
                    .map(|(_, m)| *m)
                    .unwrap_or_default();
                check(&dir, config, discovered, runs, registry.port, markers)
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
