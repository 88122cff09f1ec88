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
    // Host access is the user's to give, in a file they wrote (docs/SECURITY.md),
    // never an image's: an image label's `privileged`, capabilities, security
    // options and bind mounts of host paths are named, not applied.
    let mut host_access: Vec<String> = Vec::new();
    if meta.privileged {
        host_access.push("`privileged`".into());
    }
    if !meta.cap_add.is_empty() {
        host_access.push(format!("`capAdd` ({})", meta.cap_add.join(", ")));
    }
    if !meta.security_opt.is_empty() {
        host_access.push(format!("`securityOpt` ({})", meta.security_opt.join(", ")));
    }
    c.init |= meta.init;
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
            host_access.push(format!(
                "a bind mount of `{}`",
                m.source.as_deref().unwrap_or("?")
            ));
            continue;
        }
        mounts.push(crate::resolve::convert_mount(m, home)?);
    }
    if !host_access.is_empty() {
        reporter.warn(&format!(
            "image `{image}`: its `{}` label asks for {}, which warren does not take from an image: they reach past the environment; set them in devcontainer.json if you want them",
            warren_config::METADATA_LABEL,
            host_access.join(", ")
        ));
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
