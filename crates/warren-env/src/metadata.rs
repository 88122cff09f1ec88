//! The image's `devcontainer.metadata` label, put under the plan's own
//! values at create (see `warren_config::image_metadata` for the merge rules):
//! the configuration wins for single values and same-named variables and
//! mount targets; capabilities and security options are unioned; `init` and
//! `privileged` are on when either says so; each lifecycle step runs the
//! image's commands first, then the configuration's.

use std::path::Path;

use serde::{Deserialize, Serialize};
use warren_config::{ImageMetadata, LifecycleCommand};

use crate::error::EnvError;
use crate::plan::Plan;
use crate::reporter::Reporter;
use crate::spec::Lifecycle;

/// What the image contributed that a start merges again under the
/// configuration it re-reads (lifecycle commands, `remoteEnv`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageContribution {
    pub lifecycle: Lifecycle,
    pub remote_env: Vec<(String, String)>,
}

impl ImageContribution {
    /// The image's commands, then `file`'s, step by step.
    pub fn lifecycle_under(&self, file: Lifecycle) -> Lifecycle {
        let both = |image: &Option<LifecycleCommand>, file: Option<LifecycleCommand>| {
            LifecycleCommand::sequence(image.iter().cloned().chain(file))
        };
        let i = &self.lifecycle;
        Lifecycle {
            on_create: both(&i.on_create, file.on_create),
            update_content: both(&i.update_content, file.update_content),
            post_create: both(&i.post_create, file.post_create),
            post_start: both(&i.post_start, file.post_start),
            post_attach: both(&i.post_attach, file.post_attach),
        }
    }

    /// The image's `remoteEnv` with `file`'s on top.
    pub fn remote_env_under(&self, file: Vec<(String, String)>) -> Vec<(String, String)> {
        under(&self.remote_env, file)
    }
}

/// `image`'s variables not in `file`, then `file`'s.
fn under(image: &[(String, String)], file: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = image
        .iter()
        .filter(|(k, _)| !file.iter().any(|(f, _)| f == k))
        .cloned()
        .collect();
    out.extend(file);
    out
}

/// Adds to `into` each of `asked` that is safe, or host access a Feature
/// asked for (`feature`) and `decide` grants; returns the image's own host
/// access, to be named and not applied.
fn admit(
    asked: &[String],
    feature: &[String],
    classify: fn(&str) -> warren_config::Class,
    decide: &mut impl FnMut(warren_config::HostAccess) -> bool,
    into: &mut Vec<String>,
) -> Vec<String> {
    let mut not_taken = Vec::new();
    for item in asked {
        let take = match classify(item) {
            warren_config::Class::Safe => true,
            warren_config::Class::HostAccess(need) if feature.contains(item) => decide(need),
            _ => {
                not_taken.push(item.clone());
                false
            }
        };
        if take && !into.contains(item) {
            into.push(item.clone());
        }
    }
    not_taken
}

/// The label with the variables an image's entries (Features' above all:
/// `"source": "dind-var-lib-docker-${devcontainerId}"`) may use replaced:
/// `${devcontainerId}` and `${containerWorkspaceFolder}`(`Basename`). Host
/// values (`${localEnv:…}`, `${localWorkspaceFolder}`) are not an image's to
/// read and stay as written.
pub(crate) fn substitute(text: &str, devcontainer_id: &str, workspace_folder: &str) -> String {
    // Inside JSON strings: the values are escaped as JSON string content.
    let json = |v: &str| {
        let quoted = serde_json::Value::String(v.to_string()).to_string();
        quoted[1..quoted.len() - 1].to_string()
    };
    let basename = workspace_folder
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    text.replace("${devcontainerId}", &json(devcontainer_id))
        .replace("${containerWorkspaceFolderBasename}", &json(basename))
        .replace("${containerWorkspaceFolder}", &json(workspace_folder))
}

/// Merges the label `text` of image `image` under `plan`'s values and
/// returns what a start must merge again. Fields warren does not apply from
/// an image, and values that do not parse, are reported once as warnings.
pub(crate) fn apply(
    plan: &mut Plan,
    image: &str,
    text: &str,
    home: Option<&Path>,
    reporter: &dyn Reporter,
) -> Result<ImageContribution, EnvError> {
    let meta: ImageMetadata = warren_config::parse_image_metadata(text);
    for p in &meta.problems {
        reporter.warn(&format!("image `{image}`: {p}"));
    }
    if !meta.ignored.is_empty() {
        let list = meta
            .ignored
            .iter()
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(", ");
        reporter.warn(&format!(
            "image `{image}`: its `{}` label sets {list}, which warren does not apply from an image",
            warren_config::METADATA_LABEL
        ));
    }
    let c = &mut plan.container;
    c.env = under(&meta.container_env, std::mem::take(&mut c.env));
    if c.user.is_none() {
        c.user = meta.container_user.clone();
    }
    if !plan.remote_user_set {
        plan.remote_user = meta.remote_user.clone().or_else(|| c.user.clone());
    }
    // Host access is the user's to give, in a file they wrote (docs/SECURITY.md,
    // "Host access"), never an image's: what the label asks for goes through
    // the same classifier as devcontainer.json; the safe part applies (a
    // capability of Docker's default set, a confining security option), host
    // access is named, not applied, even when `host_access:` would grant it.
    // A Feature warren installed is the user's choice, named in their
    // devcontainer.json: what it asks for is granted by `host_access:` like
    // the file's own settings, and refused without it.
    // Only an image warren built for the plan's Features has such entries
    // (it strips the mark from the base image's): elsewhere a mark is just
    // what the image's publisher wrote.
    let feature_meta = match plan.features {
        Some(_) => warren_config::split_feature_entries(text)
            .0
            .map(|t| warren_config::parse_image_metadata(&t))
            .unwrap_or_default(),
        None => warren_config::ImageMetadata::default(),
    };
    let grants = c.grants.clone();
    let mut host_access: Vec<String> = Vec::new();
    let mut refused: Vec<warren_config::HostAccess> = Vec::new();
    let mut granted: Vec<warren_config::HostAccess> = Vec::new();
    let mut decide = |need: warren_config::HostAccess| -> bool {
        if grants.allows(&need, home) {
            granted.push(need);
            true
        } else {
            refused.push(need);
            false
        }
    };
    if meta.privileged {
        if feature_meta.privileged {
            if decide(warren_config::HostAccess::Privileged) {
                c.privileged = true;
            }
        } else {
            host_access.push("`privileged`".into());
        }
    }
    let host_caps = admit(
        &meta.cap_add,
        &feature_meta.cap_add,
        warren_config::classify_capability,
        &mut decide,
        &mut c.cap_add,
    );
    if !host_caps.is_empty() {
        host_access.push(format!("`capAdd` ({})", host_caps.join(", ")));
    }
    let host_opts = admit(
        &meta.security_opt,
        &feature_meta.security_opt,
        warren_config::classify_security_opt,
        &mut decide,
        &mut c.security_opt,
    );
    if !host_opts.is_empty() {
        host_access.push(format!("`securityOpt` ({})", host_opts.join(", ")));
    }
    c.init |= meta.init;
    for e in &meta.entrypoints {
        if !c.entrypoints.contains(e) {
            c.entrypoints.push(e.clone());
        }
    }
    if !c.override_command && !c.entrypoints.is_empty() {
        reporter.warn(&format!(
            "image `{image}`: its `entrypoint` ({}) is not run: with `overrideCommand: false` the image's own command starts as it is",
            c.entrypoints.join(", ")
        ));
    }
    if !plan.override_command_set
        && let Some(o) = meta.override_command
    {
        c.override_command = o;
    }
    let mut mounts = Vec::new();
    for m in &meta.mounts {
        if c.mounts.iter().any(|x| x.target == m.target) {
            continue; // the configuration's mount on that target wins
        }
        if matches!(m.kind, warren_config::MountKind::Bind) {
            if !feature_meta.mounts.contains(m) {
                host_access.push(format!(
                    "a bind mount of `{}`",
                    m.source.as_deref().unwrap_or("?")
                ));
                continue;
            }
            if let warren_config::Class::HostAccess(need) =
                warren_config::classify_mount(&warren_config::MountRequest::from(m))
                && !decide(need)
            {
                continue;
            }
        }
        mounts.push(crate::resolve::convert_mount(m, home)?);
    }
    if !host_access.is_empty() {
        reporter.warn(&format!(
            "image `{image}`: its `{}` label asks for {}, which warren does not take from an image: they reach past the environment; set them in devcontainer.json and grant them with `host_access:` in .warren.yaml if you want them",
            warren_config::METADATA_LABEL,
            host_access.join(", ")
        ));
    }
    if !refused.is_empty() {
        let what = refused
            .iter()
            .map(warren_config::HostAccess::short)
            .collect::<Vec<_>>()
            .join(", ");
        let lines = refused
            .iter()
            .map(warren_config::HostAccess::opt_in_line)
            .collect::<Vec<_>>()
            .join("\n  ");
        return Err(EnvError::Refused {
            message: format!(
                "a devcontainer Feature asks for host access ({what}): {}; warren applies it only when your own config grants it",
                refused[0].why()
            ),
            hint: format!("to grant it, add to .warren.yaml:  {lines}"),
        });
    }
    for need in granted {
        let short = need.short();
        if !c.host.given_up.contains(&short) {
            c.host.given_up.push(short);
        }
    }
    mounts.append(&mut c.mounts);
    c.mounts = mounts;

    let remote_env: Vec<(String, String)> = meta
        .remote_env
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
        .collect();
    plan.remote_env = under(&remote_env, std::mem::take(&mut plan.remote_env));
    let lifecycle = Lifecycle {
        on_create: LifecycleCommand::sequence(meta.on_create),
        update_content: LifecycleCommand::sequence(meta.update_content),
        post_create: LifecycleCommand::sequence(meta.post_create),
        post_start: LifecycleCommand::sequence(meta.post_start),
        post_attach: LifecycleCommand::sequence(meta.post_attach),
    };
    let contribution = ImageContribution {
        lifecycle,
        remote_env,
    };
    plan.lifecycle = contribution.lifecycle_under(std::mem::take(&mut plan.lifecycle));
    Ok(contribution)
}
