//! Dev Container Features on the docker runtime: each Feature of the
//! configuration is fetched (a folder under `.devcontainer/`, or an OCI
//! artifact pulled from its registry, digests verified, cached under the
//! warren root by digest), ordered, and installed on top of the base image in
//! a Dockerfile warren writes: one `RUN` per Feature, as root, its options as
//! environment variables. The image's tag is a hash of the base image's id
//! and everything the Features put in, so an unchanged configuration builds
//! nothing the second time. The image carries the `devcontainer.metadata`
//! label (the base image's entries, then one per Feature), which
//! [`crate::metadata`] merges at create like any image's.
//!
//! Trust: the devcontainer.json and its lock file are the main checkout's
//! (the configuration is always read there, see `resolve.rs`), never an
//! environment's tree.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use warren_config::{
    FeatureManifest, FeatureRef, FeatureRequest, LockedFeature, Lockfile, OciRef, OrderItem,
};
use warren_runtime::{BuildSpec, ImageInfo};

use crate::error::EnvError;

/// The Features a plan installs, from the main checkout's devcontainer.json.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeaturesPlan {
    /// The devcontainer.json (its lock file sits next to it).
    pub config: PathBuf,
    pub requests: Vec<FeatureRequest>,
    /// `overrideFeatureInstallOrder`.
    pub order: Vec<String>,
}

/// The layer media type of a Feature artifact.
const LAYER_TYPE: &str = "application/vnd.devcontainers.layer.v1+tar";
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// At most this many Features, dependencies included.
const MAX_FEATURES: usize = 64;
/// Bumped when the generated Dockerfile changes, so images are rebuilt.
const FORMAT: &str = "warren-features-1";
/// Where a Feature's files are copied in the image while it installs.
const STAGE: &str = "/tmp/warren-features";

/// The build of the Features image, ready for `ensure_image`.
pub(crate) struct Prepared {
    pub spec: BuildSpec,
    /// Lock file entries were written (for a message).
    pub locked: Option<PathBuf>,
}

/// One Feature fetched into the build context.
struct Fetched {
    key: String,
    resource: String,
    /// Folder name in the build context.
    folder: String,
    manifest: FeatureManifest,
    /// sha256 of the content (the layer's digest, or of a local folder's files).
    digest: String,
    lock: Option<LockedFeature>,
}

/// Fetches the Features of `plan` into a new build context under `root`
/// and writes the Dockerfile that installs them on `base` (a local image,
/// `info` its inspection). Blocking (HTTP, files): run it off the runtime's
/// threads. Also writes the lock file when it had no entry for a Feature.
pub(crate) fn prepare(
    root: &Path,
    plan: &FeaturesPlan,
    base: &str,
    info: &ImageInfo,
    users: (Option<&str>, Option<&str>),
    log: &(dyn Fn(String) + Send + Sync),
) -> Result<Prepared, EnvError> {
    let lock_path = warren_config::lockfile_path(&plan.config);
    let lock = read_lock(&lock_path)?;
    let build_dir = root.join("features").join("build").join(format!(
        "{}-{}",
        std::process::id(),
        warren_core::time::now_ms()
    ));
    std::fs::create_dir_all(&build_dir).map_err(io(&build_dir))?;
    let prepared = prepare_in(root, plan, base, info, users, log, lock, &build_dir);
    if prepared.is_err() {
        let _ = std::fs::remove_dir_all(&build_dir);
    }
    prepared
}

/// [`prepare`] in the new, empty build context `build_dir`.
#[allow(clippy::too_many_arguments)]
fn prepare_in(
    root: &Path,
    plan: &FeaturesPlan,
    base: &str,
    info: &ImageInfo,
    users: (Option<&str>, Option<&str>),
    log: &(dyn Fn(String) + Send + Sync),
    lock: Option<Lockfile>,
    build_dir: &Path,
) -> Result<Prepared, EnvError> {
    let lock_path = warren_config::lockfile_path(&plan.config);
    let mut fetched: Vec<Fetched> = Vec::new();
    let mut client = Client::new();
    // The configuration's Features, then (as found) what they `dependsOn`
    // and the configuration does not list, with the options named there.
    let mut requests = plan.requests.clone();
    let mut i = 0;
    while i < requests.len() {
        if i >= MAX_FEATURES {
            return Err(EnvError::Refused {
                message: format!(
                    "more than {MAX_FEATURES} Features with their dependencies (`dependsOn`)"
                ),
                hint: "check the Features' `dependsOn` for a runaway chain".into(),
            });
        }
        let req = &requests[i].clone();
        let folder = format!("{i}-{}", safe(&req.id));
        let dest = build_dir.join(&folder);
        let f = match &req.reference {
            FeatureRef::Local(dir) => local(req, dir, &dest)?,
            FeatureRef::Oci(r) => {
                log(format!("fetching Feature {}", req.id));
                let pinned = lock.as_ref().and_then(|l| l.features.get(&req.id));
                oci(root, &mut client, req, r, pinned, &dest)?
            }
        };
        for (dep, options) in &f.manifest.depends_on {
            let resource = warren_config::feature_resource(dep);
            let listed = requests.iter().any(|r| match &r.reference {
                FeatureRef::Oci(o) => o.resource() == resource,
                FeatureRef::Local(_) => r.id == *dep,
            });
            if listed {
                continue;
            }
            let r = warren_config::parse_oci_ref(dep).map_err(|e| EnvError::Refused {
                message: format!("Feature `{}` depends on `{dep}`: {}", req.id, e.message),
                hint: e.hint,
            })?;
            log(format!("Feature {} depends on {dep}", req.id));
            requests.push(FeatureRequest {
                id: dep.clone(),
                reference: FeatureRef::Oci(r),
                options: options.clone(),
            });
        }
        fetched.push(Fetched { folder, ..f });
        i += 1;
    }
    let items: Vec<OrderItem> = fetched
        .iter()
        .map(|f| OrderItem {
            resource: f.resource.clone(),
            key: f.key.clone(),
            installs_after: f.manifest.installs_after.clone(),
            depends_on: f
                .manifest
                .depends_on
                .iter()
                .map(|(d, _)| d.clone())
                .collect(),
        })
        .collect();
    let order =
        warren_config::install_order(&items, &plan.order).map_err(|message| EnvError::Refused {
            message,
            hint: format!(
                "fix `installsAfter`/`dependsOn` or `overrideFeatureInstallOrder` in `{}`",
                plan.config.display()
            ),
        })?;

    // The users install.sh is told about (the spec's `_REMOTE_USER`…).
    let base_meta = info
        .labels
        .get(warren_config::METADATA_LABEL)
        .map(|t| warren_config::parse_image_metadata(t));
    let image_user = if info.user.is_empty() {
        "root".to_string()
    } else {
        info.user.clone()
    };
    let container_user = users
        .1
        .map(str::to_string)
        .or_else(|| base_meta.as_ref().and_then(|m| m.container_user.clone()))
        .unwrap_or_else(|| image_user.clone());
    let remote_user = users
        .0
        .map(str::to_string)
        .or_else(|| base_meta.as_ref().and_then(|m| m.remote_user.clone()))
        .unwrap_or_else(|| container_user.clone());

    let mut dockerfile = format!("FROM {base}\nUSER root\n");
    let mut hash = Sha256::new();
    hash.update(FORMAT.as_bytes());
    hash.update(info.id.as_bytes());
    hash.update(format!("\0{container_user}\0{remote_user}\0").as_bytes());
    let mut entries: Vec<Value> = match info.labels.get(warren_config::METADATA_LABEL) {
        Some(t) => match serde_json::from_str::<Value>(t) {
            Ok(Value::Array(a)) => a,
            Ok(obj @ Value::Object(_)) => vec![obj],
            _ => Vec::new(),
        },
        None => Vec::new(),
    };
    // The marker of warren's own Feature entries: never taken from the base
    // image, whose label anyone who publishes it writes.
    for e in &mut entries {
        if let Value::Object(o) = e {
            o.remove(warren_config::FEATURE_MARK);
        }
    }
    for &i in &order {
        let f = &fetched[i];
        let req = &requests[i];
        let dir = build_dir.join(&f.folder);
        // Options: the Feature's defaults, the configuration's values over them.
        let mut options: BTreeMap<String, String> = f
            .manifest
            .options
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect();
        options.extend(req.options.clone());
        let mut env = String::new();
        for (k, v) in &options {
            env.push_str(&format!(
                "{}={}\n",
                warren_config::option_env_name(k),
                sh_quote(v)
            ));
        }
        env.push_str(&format!(
            "_REMOTE_USER={}\n_CONTAINER_USER={}\n",
            sh_quote(&remote_user),
            sh_quote(&container_user)
        ));
        write(&dir.join("warren-feature.env"), env.as_bytes())?;
        write(
            &dir.join("warren-install.sh"),
            install_wrapper(req, &f.manifest).as_bytes(),
        )?;
        for (k, v) in &f.manifest.container_env {
            dockerfile.push_str(&format!("ENV {k}=\"{}\"\n", docker_quote(v)));
        }
        dockerfile.push_str(&format!(
            "COPY --chown=root:root {folder} {STAGE}/{folder}\nRUN cd {STAGE}/{folder} && chmod -R 0755 . && ./warren-install.sh && cd / && rm -rf {STAGE}/{folder}\n",
            folder = f.folder
        ));
        hash.update(format!("\0{}\0{}\0{env}", f.key, f.digest).as_bytes());
        for (k, v) in &f.manifest.container_env {
            hash.update(format!("{k}={v}\0").as_bytes());
        }
        let mut entry = f.manifest.metadata.clone();
        entry.insert(warren_config::FEATURE_MARK.into(), Value::Bool(true));
        entries.push(Value::Object(entry));
    }
    dockerfile.push_str(&format!("USER {image_user}\n"));
    write(&build_dir.join("Dockerfile"), dockerfile.as_bytes())?;
    let metadata = Value::Array(entries).to_string();
    hash.update(metadata.as_bytes());
    let tag = format!(
        "warren-features:{}",
        warren_core::secret::hex(&hash.finalize()[..8])
    );

    // The lock file: written when it lacks a registry Feature (never changed
    // for one it pins: a mismatch failed above).
    let mut locked = None;
    let mut lock_out = lock.clone().unwrap_or_default();
    let mut added = false;
    for f in &fetched {
        if let Some(l) = &f.lock
            && !lock_out.features.contains_key(&f.key)
        {
            lock_out.features.insert(f.key.clone(), l.clone());
            added = true;
        }
    }
    if added {
        let mut text = serde_json::to_string_pretty(&lock_out)
            .map_err(|e| EnvError::Other(format!("cannot write the lock file: {e}")))?;
        text.push('\n');
        write_atomic(&lock_path, text.as_bytes())?;
        locked = Some(lock_path);
    }
    Ok(Prepared {
        spec: BuildSpec {
            context: build_dir.to_path_buf(),
            dockerfile: build_dir.join("Dockerfile"),
            args: BTreeMap::new(),
            target: None,
            cache_from: Vec::new(),
            tag,
            labels: BTreeMap::from([(warren_config::METADATA_LABEL.to_string(), metadata)]),
        },
        locked,
    })
}

/// The script each Feature's `RUN` runs: the spec's variables, then install.sh.
fn install_wrapper(req: &FeatureRequest, m: &FeatureManifest) -> String {
    let name = m.name.as_deref().unwrap_or(&m.id);
    let version = m.version.as_deref().unwrap_or("");
    format!(
        r#"#!/bin/sh
set -e
# Written by warren: installs Feature {id}.
home_of() {{
    (getent passwd "$1" 2>/dev/null || grep "^$1:" /etc/passwd || true) | head -n 1 | cut -d: -f6
}}
set -a
. ./warren-feature.env
_REMOTE_USER_HOME="$(home_of "$_REMOTE_USER")"
_CONTAINER_USER_HOME="$(home_of "$_CONTAINER_USER")"
set +a
feature={id}
echo "Feature: "{name}" "{version}" ($feature)"
chmod +x ./install.sh
./install.sh || {{
    status=$?
    echo "ERROR: Feature $feature failed to install (install.sh exited with $status)"
    exit "$status"
}}
"#,
        id = sh_quote(&req.id),
        name = sh_quote(name),
        version = sh_quote(version),
    )
}

/// A local Feature: its folder copied into the build context.
fn local(req: &FeatureRequest, dir: &Path, dest: &Path) -> Result<Fetched, EnvError> {
    let refuse = |message: String| {
        EnvError::Refused {
        message,
        hint: "a local Feature is a folder under `.devcontainer/` with `devcontainer-feature.json` and `install.sh`".into(),
    }
    };
    let json = dir.join("devcontainer-feature.json");
    if !json.is_file() {
        return Err(refuse(format!(
            "Feature `{}`: `{}` not found",
            req.id,
            json.display()
        )));
    }
    if !dir.join("install.sh").is_file() {
        return Err(refuse(format!(
            "Feature `{}` has no `install.sh` in `{}`",
            req.id,
            dir.display()
        )));
    }
    let mut hash = Sha256::new();
    copy_tree(dir, dest, Path::new(""), &mut hash)?;
    let manifest = read_manifest(&req.id, &dest.join("devcontainer-feature.json"))?;
    Ok(Fetched {
        key: req.id.clone(),
        resource: req.id.clone(),
        folder: String::new(),
        manifest,
        digest: format!("sha256:{}", warren_core::secret::hex(&hash.finalize())),
        lock: None,
    })
}

/// Copies regular files and folders (symbolic links are refused: they could
/// name anything on the host), hashing names and contents in order.
fn copy_tree(src: &Path, dest: &Path, rel: &Path, hash: &mut Sha256) -> Result<(), EnvError> {
    std::fs::create_dir_all(dest.join(rel)).map_err(io(dest))?;
    let dir = src.join(rel);
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .map_err(io(&dir))?
        .collect::<Result<_, _>>()
        .map_err(io(&dir))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let r = rel.join(e.file_name());
        let ft = e.file_type().map_err(io(&e.path()))?;
        hash.update(r.to_string_lossy().as_bytes());
        hash.update([0]);
        if ft.is_dir() {
            copy_tree(src, dest, &r, hash)?;
        } else if ft.is_file() {
            let data = std::fs::read(e.path()).map_err(io(&e.path()))?;
            hash.update((data.len() as u64).to_le_bytes());
            hash.update(&data);
            write(&dest.join(&r), &data)?;
        } else {
            return Err(EnvError::Refused {
                message: format!(
                    "`{}` in a local Feature is not a regular file or folder",
                    e.path().display()
                ),
                hint: "replace the symbolic link with the file it points to".into(),
            });
        }
    }
    Ok(())
}

fn read_manifest(id: &str, path: &Path) -> Result<FeatureManifest, EnvError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    warren_config::parse_feature_manifest(&text).map_err(|why| EnvError::Refused {
        message: format!("Feature `{id}`: `{}`: {why}", path.display()),
        hint: "fix the Feature's devcontainer-feature.json (see https://containers.dev/implementors/features/)".into(),
    })
}

/// A registry Feature: manifest (by the lock file's digest when pinned),
/// then its layer from the cache or the registry, digests verified.
fn oci(
    root: &Path,
    client: &mut Client,
    req: &FeatureRequest,
    r: &OciRef,
    pinned: Option<&LockedFeature>,
    dest: &Path,
) -> Result<Fetched, EnvError> {
    let fail = |what: String| EnvError::Refused {
        message: format!("Feature `{}`: {what}", req.id),
        hint: if r.is_loopback() {
            "check that the registry is running and the Feature was pushed there".into()
        } else {
            format!(
                "check the network and that `{}` exists; warren pulls public Features anonymously",
                r
            )
        },
    };
    let pinned_digest = match pinned {
        Some(p) => Some(
            p.resolved
                .rsplit_once('@')
                .map(|(_, d)| d.to_string())
                .filter(|d| d.starts_with("sha256:"))
                .ok_or_else(|| EnvError::Refused {
                    message: format!(
                        "the lock file's entry for Feature `{}` has no digest in `resolved` (`{}`)",
                        req.id, p.resolved
                    ),
                    hint: "delete the entry (or the lock file) so warren writes it again".into(),
                })?,
        ),
        None => None,
    };
    let cache_of = |digest: &str| {
        root.join("features")
            .join("blobs")
            .join(digest.replace(':', "-"))
    };
    // Pinned and cached: nothing to ask the registry (works offline).
    if let (Some(p), Some(manifest_digest)) = (pinned, &pinned_digest)
        && let Ok(b) = std::fs::read(cache_of(&p.integrity))
        && sha256_of(&b) == p.integrity
    {
        return unpack(req, r, &b, dest, manifest_digest, &p.integrity, &fail);
    }
    let reference = pinned_digest.clone().unwrap_or_else(|| r.reference.clone());
    let manifest_bytes = client
        .get(r, &format!("manifests/{reference}"), MANIFEST_TYPE, 4 << 20)
        .map_err(|e| fail(format!("cannot fetch its manifest: {e}")))?;
    let manifest_digest = sha256_of(&manifest_bytes);
    if (r.is_digest() || pinned_digest.is_some()) && manifest_digest != reference {
        return Err(fail(format!(
            "the registry sent a manifest with digest `{manifest_digest}`, not the `{reference}` asked for"
        )));
    }
    let manifest: Value = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| fail(format!("its manifest is not JSON ({e})")))?;
    let layers = manifest
        .get("layers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let layer = layers
        .iter()
        .find(|l| l.get("mediaType").and_then(Value::as_str) == Some(LAYER_TYPE))
        .ok_or_else(|| {
            fail(format!(
                "its manifest has no `{LAYER_TYPE}` layer: it is not a Feature"
            ))
        })?;
    let digest = layer
        .get("digest")
        .and_then(Value::as_str)
        .filter(|d| {
            d.strip_prefix("sha256:")
                .is_some_and(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()))
        })
        .ok_or_else(|| fail("its layer has no sha256 digest".into()))?
        .to_string();
    if let Some(p) = pinned
        && p.integrity != digest
    {
        return Err(EnvError::Refused {
            message: format!(
                "Feature `{}`: its content `{digest}` does not match the lock file's integrity `{}`",
                req.id, p.integrity
            ),
            hint: "the published Feature changed under the pinned digest; if you trust the new one, delete its entry from devcontainer-lock.json".into(),
        });
    }
    let cache = cache_of(&digest);
    let blob = match std::fs::read(&cache) {
        Ok(b) if sha256_of(&b) == digest => b,
        _ => {
            let b = client
                .get(r, &format!("blobs/{digest}"), "*/*", 512 << 20)
                .map_err(|e| fail(format!("cannot fetch its layer: {e}")))?;
            let got = sha256_of(&b);
            if got != digest {
                return Err(fail(format!(
                    "its layer's digest is `{got}`, not the `{digest}` its manifest names"
                )));
            }
            write_atomic(&cache, &b)?;
            b
        }
    };
    unpack(req, r, &blob, dest, &manifest_digest, &digest, &fail)
}

/// Unpacks a Feature's verified layer into `dest`.
fn unpack(
    req: &FeatureRequest,
    r: &OciRef,
    blob: &[u8],
    dest: &Path,
    manifest_digest: &str,
    digest: &str,
    fail: &dyn Fn(String) -> EnvError,
) -> Result<Fetched, EnvError> {
    std::fs::create_dir_all(dest).map_err(io(dest))?;
    if blob.starts_with(&[0x1f, 0x8b]) {
        return Err(fail(
            "its layer is gzip-compressed; a Feature layer is a plain tar".into(),
        ));
    }
    // Files and folders only: a link could make warren read, or the build
    // copy, what the Feature's author points it at.
    let unpack_err = |e: std::io::Error| fail(format!("cannot unpack its layer ({e})"));
    let mut archive = tar::Archive::new(blob);
    for entry in archive.entries().map_err(unpack_err)? {
        let mut entry = entry.map_err(unpack_err)?;
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            let path = entry
                .path()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            return Err(fail(format!(
                "its layer holds `{path}`, which is not a regular file or folder (links are refused)"
            )));
        }
        entry.unpack_in(dest).map_err(unpack_err)?;
    }
    let manifest = read_manifest(&req.id, &dest.join("devcontainer-feature.json"))?;
    if !dest.join("install.sh").is_file() {
        return Err(fail("its layer has no `install.sh`".into()));
    }
    let version = manifest
        .version
        .clone()
        .unwrap_or_else(|| r.reference.clone());
    Ok(Fetched {
        key: req.id.clone(),
        resource: r.resource(),
        folder: String::new(),
        manifest,
        lock: Some(LockedFeature {
            version,
            resolved: format!("{}@{manifest_digest}", r.resource()),
            integrity: digest.to_string(),
        }),
        digest: digest.to_string(),
    })
}

/// A small OCI distribution client: anonymous, with the bearer-token
/// challenge registries such as ghcr.io answer with. Plain HTTP only for a
/// registry on this machine.
struct Client {
    agent: ureq::Agent,
    /// Token per `registry/repository`.
    tokens: BTreeMap<String, String>,
}

impl Client {
    fn new() -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(300)))
            .build()
            .into();
        Client {
            agent,
            tokens: BTreeMap::new(),
        }
    }

    fn get(&mut self, r: &OciRef, path: &str, accept: &str, limit: u64) -> Result<Vec<u8>, String> {
        let scheme = if r.is_loopback() { "http" } else { "https" };
        let url = format!("{scheme}://{}/v2/{}/{path}", r.registry, r.repository);
        for attempt in 0..2 {
            let mut req = self.agent.get(&url).header("Accept", accept);
            if let Some(t) = self.tokens.get(&r.resource()) {
                req = req.header("Authorization", &format!("Bearer {t}"));
            }
            let mut resp = req.call().map_err(|e| format!("GET {url}: {e}"))?;
            let status = resp.status().as_u16();
            if status == 401 && attempt == 0 {
                let challenge = resp
                    .headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let token = self.token(&challenge, r)?;
                self.tokens.insert(r.resource(), token);
                continue;
            }
            if status != 200 {
                return Err(format!("GET {url}: HTTP {status}"));
            }
            return resp
                .body_mut()
                .with_config()
                .limit(limit)
                .read_to_vec()
                .map_err(|e| format!("GET {url}: {e}"));
        }
        Err(format!(
            "GET {url}: still unauthorized with an anonymous token (a private Feature needs credentials, which warren does not send yet)"
        ))
    }

    /// The anonymous pull token a `Bearer realm=…,service=…` challenge offers.
    fn token(&self, challenge: &str, r: &OciRef) -> Result<String, String> {
        let Some(params) = challenge.strip_prefix("Bearer ") else {
            return Err(format!(
                "the registry `{}` wants authentication (`{challenge}`), which warren does not send yet",
                r.registry
            ));
        };
        let fields = challenge_fields(params);
        let realm = fields
            .get("realm")
            .ok_or("the registry's challenge names no realm")?;
        if !(realm.starts_with("https://") || (r.is_loopback() && realm.starts_with("http://"))) {
            return Err(format!("the registry's token realm `{realm}` is not HTTPS"));
        }
        let scope = fields
            .get("scope")
            .cloned()
            .unwrap_or_else(|| format!("repository:{}:pull", r.repository));
        let mut url = format!("{realm}?scope={}", encode(&scope));
        if let Some(s) = fields.get("service") {
            url.push_str(&format!("&service={}", encode(s)));
        }
        let mut resp = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| format!("GET {realm}: {e}"))?;
        if resp.status().as_u16() != 200 {
            return Err(format!(
                "GET {realm}: HTTP {} (is the Feature private?)",
                resp.status().as_u16()
            ));
        }
        let body: Value = resp
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_json()
            .map_err(|e| format!("GET {realm}: {e}"))?;
        body.get("token")
            .or_else(|| body.get("access_token"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("GET {realm}: no token in the answer"))
    }
}

/// The `key="value"` fields of a `WWW-Authenticate: Bearer …` challenge.
fn challenge_fields(params: &str) -> BTreeMap<String, String> {
    split_params(params)
        .into_iter()
        .filter_map(|part| {
            let (k, v) = part.split_once('=')?;
            Some((
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_string(),
            ))
        })
        .collect()
}

/// Splits `a="x,y",b=z` at the commas outside quotes.
fn split_params(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => {
                if c == '"' {
                    quoted = !quoted;
                }
                cur.push(c);
            }
        }
    }
    out.push(cur);
    out
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn read_lock(path: &Path) -> Result<Option<Lockfile>, EnvError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| EnvError::Refused {
                message: format!("the lock file `{}` does not parse: {e}", path.display()),
                hint: "fix it, or delete it so warren writes it again".into(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(EnvError::Io(format!("cannot read `{}`", path.display()), e)),
    }
}

fn sha256_of(b: &[u8]) -> String {
    format!("sha256:{}", warren_core::secret::hex(&Sha256::digest(b)))
}

/// `id` as a folder name.
fn safe(id: &str) -> String {
    let s: String = id
        .trim_start_matches("./")
        .rsplit('/')
        .next()
        .unwrap_or(id)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    s.chars().take(40).collect()
}

/// Single-quoted for sh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Escaped inside a Dockerfile's double quotes (`$` kept: `${PATH}` expands).
fn docker_quote(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> EnvError + '_ {
    move |e| EnvError::Io(format!("cannot access `{}`", path.display()), e)
}

fn write(path: &Path, data: &[u8]) -> Result<(), EnvError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    std::fs::write(path, data).map_err(io(path))
}

/// Writes through a temporary file and a rename, so a reader never sees half.
fn write_atomic(path: &Path, data: &[u8]) -> Result<(), EnvError> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    write(&tmp, data)?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_challenge_gives_realm_service_and_scope() {
        let f = challenge_fields(
            r#"realm="https://ghcr.io/token",service="ghcr.io",scope="repository:devcontainers/features/node:pull,push""#,
        );
        assert_eq!(f["realm"], "https://ghcr.io/token");
        assert_eq!(f["service"], "ghcr.io");
        assert_eq!(
            f["scope"],
            "repository:devcontainers/features/node:pull,push"
        );
        assert_eq!(encode("repository:a/b:pull"), "repository%3Aa%2Fb%3Apull");
    }

    #[test]
    fn a_layer_with_a_link_is_refused() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, "devcontainer-feature.json", "/etc/passwd")
            .unwrap();
        let blob = b.into_inner().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let r = warren_config::parse_oci_ref("localhost:1/f/x:1").unwrap();
        let req = FeatureRequest {
            id: "localhost:1/f/x:1".into(),
            reference: FeatureRef::Oci(r.clone()),
            options: BTreeMap::new(),
        };
        let fail = |m: String| EnvError::Other(m);
        let err = unpack(&req, &r, &blob, dir.path(), "sha256:m", "sha256:d", &fail)
            .err()
            .unwrap();
        assert!(err.to_string().contains("links are refused"), "{err}");
        assert!(!dir.path().join("devcontainer-feature.json").exists());
    }

    #[test]
    fn quoting_for_sh_and_dockerfiles() {
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(docker_quote("a\"b\\c${PATH}"), "a\\\"b\\\\c${PATH}");
        assert_eq!(safe("ghcr.io/devcontainers/features/node:1"), "node_1");
        assert_eq!(safe("./my.feature"), "my_feature");
    }
}
