//! The container settings a runtime without an engine (sandbox, host) does
//! not apply, so `run`, `start` and `validate` can say so once, in one line,
//! instead of dropping them silently.

use crate::resolve::{Effective, ImageSource};
use crate::runargs::RunNetwork;
use crate::variables::DEFAULT_WORKSPACE_FOLDER;

impl Effective {
    /// The settings of this configuration that the sandbox (and host)
    /// runtime ignores, by their devcontainer.json names (`image`,
    /// `containerUser`, `capAdd`, `runArgs` with the flags, …). Empty when
    /// nothing is lost.
    pub fn ignored_without_engine(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        match &self.image {
            Some(ImageSource::Image { .. }) => out.push("image".into()),
            Some(ImageSource::Build { .. }) => out.push("build".into()),
            None => {}
        }
        // Features install into an image; these runtimes have none.
        if !self.features.is_empty() {
            out.push("features".into());
        }
        if self.container_user.is_some() {
            out.push("containerUser".into());
        }
        if self.remote_user.is_some() && self.remote_user != self.container_user {
            out.push("remoteUser".into());
        }
        if !self.cap_add.is_empty() {
            out.push("capAdd".into());
        }
        if !self.security_opt.is_empty() {
            out.push("securityOpt".into());
        }
        if self.init {
            out.push("init".into());
        }
        if self.privileged {
            out.push("privileged".into());
        }
        if !self.override_command {
            out.push("overrideCommand".into());
        }
        if self.workspace_folder != DEFAULT_WORKSPACE_FOLDER {
            out.push("workspaceFolder".into());
        }
        // What is left in `run_args` after resolving (env, capabilities,
        // security options, init, privileged and the user were folded into
        // the fields above; memory, cpus, shm size and hostname apply).
        let ra = &self.run_args;
        let mut flags: Vec<&str> = Vec::new();
        if !ra.cap_drop.is_empty() {
            flags.push("--cap-drop");
        }
        if !ra.labels.is_empty() {
            flags.push("--label");
        }
        if !ra.add_hosts.is_empty() {
            flags.push("--add-host");
        }
        if !ra.ulimits.is_empty() {
            flags.push("--ulimit");
        }
        if ra.workdir.is_some() {
            flags.push("--workdir");
        }
        if matches!(ra.network, Some(RunNetwork::Bridge)) {
            flags.push("--network bridge");
        }
        if !flags.is_empty() {
            out.push(format!("runArgs ({})", flags.join(", ")));
        }
        out
    }

    /// The granted host access the sandbox runtime cannot give (it honours
    /// host paths, mounted at their own path, and the host's network), each
    /// in a few words; the sandbox fails closed on them.
    pub fn host_access_the_sandbox_refuses(&self) -> Vec<String> {
        use crate::host_access::{HostAccess, Namespace};
        self.host_access
            .iter()
            .filter(|h| {
                !matches!(
                    h,
                    HostAccess::HostPath(_) | HostAccess::Namespace(Namespace::Network)
                )
            })
            .map(HostAccess::short)
            .collect()
    }

    /// The error for [`Effective::host_access_the_sandbox_refuses`], if any.
    pub fn sandbox_host_access_error(&self) -> Option<String> {
        let refused = self.host_access_the_sandbox_refuses();
        (!refused.is_empty()).then(|| {
            let list = refused
                .iter()
                .map(|r| format!("`{r}`"))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "the sandbox runtime cannot give this environment {list}: it honours host paths (mounted at their own path) and the host's network, nothing else of `host_access`; use `--runtime docker` for it, or remove the setting"
            )
        })
    }

    /// The one warning line for [`Effective::ignored_without_engine`] on
    /// `runtime` (`sandbox` or `host`), if anything is ignored.
    pub fn ignored_without_engine_warning(&self, runtime: &str) -> Option<String> {
        let fields = self.ignored_without_engine();
        (!fields.is_empty()).then(|| {
            let list = fields
                .iter()
                .map(|f| match f.split_once(' ') {
                    Some((name, rest)) => format!("`{name}` {rest}"),
                    None => format!("`{f}`"),
                })
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "the {runtime} runtime does not apply {list}: they are container settings (use the docker runtime for them)"
            )
        })
    }
}
