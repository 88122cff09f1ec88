//! Operations on existing environments: start, stop, rm, exec, logs.

use std::time::Duration;

use warren_core::EnvState;
use warren_runtime::{ExecIo, ExecSpec, ExitStatus, Runtime};
use warren_store::{EnvRecord, Route};

use crate::error::EnvError;
use crate::git::Repo;
use crate::manager::Warren;
use crate::spec::{EnvSpec, LifecycleCommand};
use crate::steps::{InsideRunner, run_on_host};

/// A redactor for the secret-looking values in `env`.
fn redactor_for(env: &[(String, String)]) -> warren_core::Redactor {
    let mut r = warren_core::Redactor::new();
    r.add_env(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    r
}

/// Whether `remoteEnv` or a lifecycle command run after start reads the
/// container's env (`${containerEnv:…}`).
fn uses_container_env(spec: &EnvSpec) -> bool {
    let l = &spec.lifecycle;
    spec.remote_env_raw
        .iter()
        .any(|(_, v)| v.contains("${containerEnv:"))
        || [
            &l.on_create,
            &l.update_content,
            &l.post_create,
            &l.post_start,
        ]
        .into_iter()
        .flatten()
        .any(LifecycleCommand::uses_container_env)
}

/// The lifecycle commands run after start, to resolve in place.
fn lifecycle_slots(l: &mut crate::spec::Lifecycle) -> [&mut Option<LifecycleCommand>; 4] {
    [
        &mut l.on_create,
        &mut l.update_content,
        &mut l.post_create,
        &mut l.post_start,
    ]
}

/// How long `stop` waits for the container before killing it.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Options of [`Warren::rm`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RmOptions {
    /// Remove even with uncommitted changes (they are lost).
    pub force: bool,
    /// Also delete the `warren/NAME` branch.
    pub delete_branch: bool,
}

/// What `rm` did.
#[derive(Debug, Clone, Default)]
pub struct RmOutcome {
    pub name: String,
    pub branch: String,
    pub branch_deleted: bool,
    /// It worked on the main checkout (which stays as it was).
    pub main_checkout: bool,
}

/// What a runtime calls an environment's isolation unit, for progress
/// messages: a container, a sandbox, or (without isolation) a process group.
pub(crate) fn container_word(runtime: warren_core::RuntimeKind) -> &'static str {
    match runtime {
        warren_core::RuntimeKind::Docker => "container",
        warren_core::RuntimeKind::Sandbox => "sandbox",
        warren_core::RuntimeKind::Host => "host environment",
    }
}

impl Warren {
    pub(crate) fn container_id(rec: &EnvRecord) -> Result<&str, EnvError> {
        rec.container_id.as_deref().ok_or_else(|| {
            EnvError::Other(format!(
                "environment `{}` has no container (creation did not finish)",
                rec.name
            ))
        })
    }

    /// The exec settings every command in this environment gets. Its `cmd`
    /// is a prefix to put before the command ([`EnvSpec::command_prefix`]).
    pub fn exec_base(&self, spec: &EnvSpec) -> ExecSpec {
        let mut env = spec.remote_env.clone();
        env.extend(self.credential_values(&spec.passthrough_env));
        ExecSpec {
            cmd: spec.command_prefix(),
            env,
            user: spec.remote_user.clone(),
            workdir: Some(spec.workspace_folder.clone()),
        }
    }

    /// The environment of the container's main process (what
    /// `${containerEnv:…}` means): read inside, since the engine's config
    /// lacks what the engine adds at start (`HOSTNAME`, `PATH` defaults).
    async fn container_env(
        &self,
        runtime: &dyn warren_runtime::Runtime,
        id: &str,
        rec: &EnvRecord,
    ) -> Result<Vec<(String, String)>, EnvError> {
        let mut out = Vec::new();
        let mut sink = |stream: warren_runtime::Stream, chunk: &[u8]| {
            if stream == warren_runtime::Stream::Stdout {
                out.extend_from_slice(chunk);
            }
        };
        let spec = ExecSpec {
            cmd: vec!["/bin/sh".into(), "-c".into(), "cat /proc/1/environ".into()],
            env: Vec::new(),
            user: None,
            workdir: None,
        };
        let read = runtime
            .exec(id, &spec, warren_runtime::ExecIo::Capture(&mut sink))
            .await;
        if matches!(read, Ok(st) if st.code == 0) && !out.is_empty() {
            return Ok(out
                .split(|b| *b == 0)
                .filter_map(|kv| {
                    let kv = String::from_utf8_lossy(kv);
                    kv.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                })
                .collect());
        }
        let info = runtime
            .inspect(id)
            .await?
            .ok_or_else(|| EnvError::Gone(rec.name.clone()))?;
        Ok(info.env)
    }

    /// Runs the lifecycle commands due after a (re)start, registers routes
    /// and marks the environment running. `fresh` is true right after create
    /// (and after a re-create); `new` only after the first create, when no
    /// session of it can be running.
    pub(crate) async fn after_start(
        &self,
        rec: &EnvRecord,
        fresh: bool,
        new: bool,
    ) -> Result<(), EnvError> {
        let runtime = self.runtime(rec.runtime).await?;
        let id = Self::container_id(rec)?;
        let mut spec = Self::spec_of(rec)?;

        // A container's network namespace has nothing but loopback until its daemon
        // holds the sockets that cross (the sandbox's helper forks its own).
        if rec.runtime == warren_core::RuntimeKind::Docker && spec.network.own_namespace() {
            let pid = runtime
                .inspect(id)
                .await?
                .and_then(|i| i.pid)
                .ok_or_else(|| {
                    EnvError::Other(format!("the container of `{}` does not run", rec.name))
                })?;
            let (root, name) = (self.root.clone(), rec.name.clone());
            tokio::task::spawn_blocking(move || {
                crate::network::start_docker_daemon(&root, &name, pid)
            })
            .await
            .map_err(|e| EnvError::Other(e.to_string()))?
            .map_err(EnvError::at("starting the network daemon"))?;
        }

        // remoteEnv and the lifecycle commands may read the container's own
        // env (`${containerEnv:…}`): resolve them now that it runs. The
        // stored lifecycle commands stay as configured (their hashes too).
        let mut lifecycle = spec.lifecycle.clone();
        if uses_container_env(&spec) {
            let container_env = self.container_env(runtime, id, rec).await?;
            let lookup = |k: &str| {
                container_env
                    .iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.clone())
            };
            spec.remote_env = spec
                .remote_env_raw
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        warren_config::substitute_container_env(v, &lookup),
                    )
                })
                .collect();
            self.store
                .set_spec(&rec.name, &spec.to_json(), &rec.config_hash)?;
            for cmd in lifecycle_slots(&mut lifecycle).into_iter().flatten() {
                *cmd = cmd.with_container_env(&lookup);
            }
        }

        let base = self.exec_base(&spec);
        let mut redactor = redactor_for(&base.env);
        for (_, v) in self.credential_values(&spec.passthrough_env) {
            redactor.add(v);
        }
        let tee = crate::envlog::Tee {
            inner: &*self.reporter,
            root: &self.root,
            name: &rec.name,
            redactor: &redactor,
        };
        let runner = InsideRunner {
            runtime,
            id,
            base,
            reporter: &tee,
        };
        // (step, as configured: its hash says whether it ran, as run)
        type Once<'a> = (
            &'a str,
            &'a Option<LifecycleCommand>,
            &'a Option<LifecycleCommand>,
        );
        let once: [Once<'_>; 3] = [
            (
                "onCreateCommand",
                &spec.lifecycle.on_create,
                &lifecycle.on_create,
            ),
            (
                "updateContentCommand",
                &spec.lifecycle.update_content,
                &lifecycle.update_content,
            ),
            (
                "postCreateCommand",
                &spec.lifecycle.post_create,
                &lifecycle.post_create,
            ),
        ];
        for (step, cmd, resolved) in once {
            let Some(cmd) = cmd else { continue };
            let hash = cmd.hash();
            let done = self
                .store
                .lifecycle_run(&rec.name, step)?
                .is_some_and(|r| r.hash == hash || r.hash == cmd.legacy_hash());
            if done {
                continue;
            }
            if !fresh {
                self.reporter.info(&format!(
                    "{step} changed since it last ran; running it again"
                ));
            }
            self.log_event(&rec.name, &format!("running {step}"));
            runner.run(step, resolved.as_ref().unwrap_or(cmd)).await?;
            self.store.record_lifecycle_run(&rec.name, step, &hash)?;
        }
        if let Some(cmd) = &lifecycle.post_start {
            self.log_event(&rec.name, "running postStartCommand");
            runner.run("postStartCommand", cmd).await?;
        }
        for hook in &spec.hooks.post_start {
            runner.run_shell("post_start", hook).await?;
        }

        self.register_routes(rec, &spec, runtime).await?;
        self.store.set_state(&rec.name, EnvState::Running)?;
        // Sessions last: their windows run `warren exec`, which needs it running.
        self.start_sessions(rec, &spec, new).await?;
        if !spec.services.is_empty() {
            self.serve_routes(&rec.name).await;
        }
        Ok(())
    }

    /// Records the environment's services as routes (service -> host port).
    async fn register_routes(
        &self,
        rec: &EnvRecord,
        spec: &EnvSpec,
        runtime: &dyn Runtime,
    ) -> Result<(), EnvError> {
        if spec.services.is_empty() {
            return Ok(());
        }
        let bindings = runtime.port_bindings(Self::container_id(rec)?).await?;
        self.store
            .set_routes(&rec.name, &routes_for(&rec.name, spec, &bindings))?;
        Ok(())
    }

    /// Starts a stopped environment: container, postStart, routes. One
    /// whose container is gone (removed behind warren's back) is created
    /// again from its stored settings, on the same worktree.
    pub async fn start(&self, name: &str) -> Result<crate::EnvView, EnvError> {
        let rec = self.record(name)?;
        if rec.state == EnvState::Running {
            if self.actually_running(&rec).await {
                // Running: only what went missing comes back (its sessions, after
                // the tmux server was killed); its lifecycle commands do not run twice.
                let spec = Self::spec_of(&rec)?;
                self.start_sessions(&rec, &spec, false).await?;
                return self.brief_view_of(&rec.name);
            }
            // The store was stale (the machine restarted): a normal start.
            self.store.set_state(name, EnvState::Stopped)?;
            let _ = self.store.remove_routes(name);
        }
        let spec = self.refreshed_spec(&rec, Self::spec_of(&rec)?)?;
        self.store
            .set_spec(name, &spec.to_json(), &rec.config_hash)?;
        let rec = self.record(name)?;
        let runtime = self.runtime(rec.runtime).await?;
        // pre_start hooks, then initializeCommand, on the host, as at create
        // (a failure stops here). The spec runs initializeCommand on every
        // start; like the hooks it runs in the main checkout, its text read
        // from the main checkout's configuration.
        for hook in &spec.hooks.pre_start {
            self.host_hook(&rec, &spec, "pre_start", hook)
                .await
                .map_err(|e| EnvError::at("a pre_start hook")(e.into()))?;
        }
        if let Some(cmd) = &spec.initialize {
            self.host_command(&rec, &spec, "initializeCommand", cmd)
                .await
                .map_err(|e| EnvError::at("initializeCommand")(e.into()))?;
        }
        let exists = match &rec.container_id {
            Some(id) => runtime.inspect(id).await?.is_some(),
            None => false,
        };
        let (rec, fresh) = if exists {
            let id = Self::container_id(&rec)?;
            match runtime.start(id).await {
                Ok(()) => {}
                Err(warren_runtime::RuntimeError::NotFound(_)) => {
                    self.store.set_state(name, EnvState::Gone)?;
                    return Err(EnvError::Gone(name.to_string()));
                }
                Err(e) => return Err(e.into()),
            }
            (rec, false)
        } else {
            (self.recreate(&rec, &spec, runtime).await?, true)
        };
        let id = Self::container_id(&rec)?;
        self.log_event(name, "started");
        self.env_event(warren_store::EventKind::EnvStarted, name, EnvState::Running);
        if let Err(e) = self.after_start(&rec, fresh, false).await {
            // A failed postStart leaves it stopped, not half-running.
            let _ = runtime.stop(id, STOP_TIMEOUT).await;
            let _ = self.store.remove_routes(name);
            self.store.set_state(name, EnvState::Stopped)?;
            return Err(e);
        }
        self.brief_view_of(&rec.name)
    }

    /// Creates and starts the container of a `gone` environment again from
    /// the settings stored at create; its once-per-container lifecycle
    /// commands run again.
    async fn recreate(
        &self,
        rec: &EnvRecord,
        spec: &EnvSpec,
        runtime: &dyn Runtime,
    ) -> Result<EnvRecord, EnvError> {
        let name = rec.name.as_str();
        let unrecoverable = |reason: &str| EnvError::Unrecoverable {
            name: name.to_string(),
            reason: reason.to_string(),
        };
        let Some(create) = &spec.create else {
            return Err(unrecoverable(
                "an older warren created it and did not store its settings",
            ));
        };
        if !rec.worktree.exists() {
            return Err(unrecoverable(&format!(
                "its worktree `{}` is gone too",
                rec.worktree.display()
            )));
        }
        self.reporter.info(&format!(
            "the {} of `{name}` is gone; creating it again",
            container_word(rec.runtime)
        ));
        if !create.image.is_empty() {
            self.reporter.step("preparing image");
            let reporter = self.reporter.clone();
            let sink = move |p: warren_runtime::Progress| reporter.progress(&p);
            runtime
                .ensure_image(
                    &warren_runtime::ImageSource::Image(create.image.clone()),
                    &sink,
                )
                .await
                .map_err(|e| EnvError::at("preparing the image")(e.into()))?;
        }
        self.reporter
            .step(&format!("creating {}", container_word(rec.runtime)));
        let id = runtime
            .create(create)
            .await
            .map_err(|e| EnvError::at("creating the container")(e.into()))?;
        let image = (!create.image.is_empty()).then_some(create.image.as_str());
        self.store.set_container(name, &id, image)?;
        self.store.clear_lifecycle_runs(name)?;
        self.reporter
            .step(&format!("starting {}", container_word(rec.runtime)));
        runtime
            .start(&id)
            .await
            .map_err(|e| EnvError::at("starting the container")(e.into()))?;
        self.log_event(name, "created again (its container was gone)");
        self.record(name)
    }

    /// Stops an environment: `pre_stop` inside, the container, its routes,
    /// then `post_stop` on the host.
    pub async fn stop(&self, name: &str) -> Result<(), EnvError> {
        let rec = self.record(name)?;
        let spec = Self::spec_of(&rec)?;
        let runtime = self.runtime(rec.runtime).await?;
        let id = Self::container_id(&rec)?;
        let running = runtime
            .inspect(id)
            .await?
            .is_some_and(|i| i.state.is_running());
        if running {
            let runner = InsideRunner {
                runtime,
                id,
                base: self.exec_base(&spec),
                reporter: &*self.reporter,
            };
            for hook in &spec.hooks.pre_stop {
                if let Err(e) = runner.run_shell("pre_stop", hook).await {
                    self.reporter.warn(&format!("{e}; stopping anyway"));
                }
            }
            self.stop_sessions(&rec, &spec).await;
            // Its commits come back while it can still make a bundle (one on the
            // main checkout commits there itself).
            if !Self::on_main_checkout(&rec)
                && let Err(e) = self.bring_back(&rec).await
            {
                self.reporter.warn(&e.to_string());
            }
            // Routes go first: the proxy stops sending traffic while the
            // services shut down, instead of answering 502.
            self.store.remove_routes(name)?;
            match runtime.stop(id, STOP_TIMEOUT).await {
                Ok(()) | Err(warren_runtime::RuntimeError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.store.remove_routes(name)?;
        let state = if runtime.inspect(id).await?.is_some() {
            EnvState::Stopped
        } else {
            EnvState::Gone
        };
        self.store.set_state(name, state)?;
        self.log_event(name, "stopped");
        self.env_event(warren_store::EventKind::EnvStopped, name, state);
        for hook in &spec.hooks.post_stop {
            if let Err(e) = self.host_hook(&rec, &spec, "post_stop", hook).await {
                self.reporter.warn(&e.to_string());
            }
        }
        Ok(())
    }

    /// Runs a `.warren.yaml` host hook of an existing environment in the
    /// main checkout, with the host's env plus the environment's `WARREN_*`
    /// and `WARREN_WORKTREE`.
    /// [`Self::host_hook`] for other modules of the crate.
    pub(crate) async fn host_hook_of(
        &self,
        rec: &EnvRecord,
        spec: &EnvSpec,
        step: &str,
        script: &str,
    ) -> Result<(), crate::steps::StepError> {
        self.host_hook(rec, spec, step, script).await
    }

    async fn host_hook(
        &self,
        rec: &EnvRecord,
        spec: &EnvSpec,
        step: &str,
        script: &str,
    ) -> Result<(), crate::steps::StepError> {
        let cmd = LifecycleCommand::Shell(script.to_string());
        self.host_command(rec, spec, step, &cmd).await
    }

    /// Runs `cmd` on the host for an existing environment, like
    /// [`Self::host_hook`] (any lifecycle command form).
    async fn host_command(
        &self,
        rec: &EnvRecord,
        spec: &EnvSpec,
        step: &str,
        cmd: &LifecycleCommand,
    ) -> Result<(), crate::steps::StepError> {
        let mut env: Vec<(String, String)> = self
            .host
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        env.extend(crate::inject::warren_vars(&crate::inject::InjectContext {
            name: &rec.name,
            project: &rec.project,
            env_type: rec.env_type.as_deref(),
            runtime: rec.runtime,
            role: None,
            issue_id: None,
            services: &spec.services,
            proxy_port: spec.proxy_port,
        }));
        // In the main checkout, never in the environment's tree: a
        // `run: ./setup.sh` must run the project's script, not one the
        // agent rewrote.
        env.push((
            warren_core::vars::WARREN_WORKTREE.into(),
            rec.worktree.to_string_lossy().into_owned(),
        ));
        let dir = rec.project_path.clone();
        run_on_host(step, cmd, &dir, &env, &*self.reporter).await
    }

    /// Removes an environment: container, routes, tree and state; the
    /// branch stays unless asked. Without `force`, its commits are brought
    /// back first and it refuses a tree it cannot prove clean.
    pub async fn rm(&self, name: &str, opts: RmOptions) -> Result<RmOutcome, EnvError> {
        self.rm_checked(name, opts, None).await
    }

    /// [`Warren::rm`] with the tree's uncommitted changes already known
    /// (`run --rm` proves an untouched tree clean without git).
    pub async fn rm_checked(
        &self,
        name: &str,
        opts: RmOptions,
        changes: Option<Vec<String>>,
    ) -> Result<RmOutcome, EnvError> {
        let rec = self.record(name)?;
        // The project's own checkout: no commits to bring back, no tree to prove
        // clean or remove, no branch to delete.
        let main_checkout = Self::on_main_checkout(&rec);
        if rec.worktree.exists() && !main_checkout {
            match self.bring_back(&rec).await {
                Ok(tip) if !opts.force => {
                    let changes = match changes {
                        Some(c) => c,
                        None => self.tree_changes(&rec, &tip).await?,
                    };
                    if !changes.is_empty() {
                        return Err(EnvError::Dirty {
                            name: name.to_string(),
                            worktree: rec.worktree.clone(),
                            count: changes.len(),
                            sample: changes.into_iter().take(5).collect(),
                        });
                    }
                }
                Ok(_) => {}
                Err(e) if !opts.force => return Err(e),
                Err(e) => self
                    .reporter
                    .warn(&format!("{e}; removing anyway (--force)")),
            }
        }
        // A running environment with stop hooks goes through the stop flow
        // first (pre_stop inside, post_stop on the host).
        if rec.state == EnvState::Running {
            let hooks = Self::spec_of(&rec).map(|s| s.hooks).unwrap_or_default();
            if (!hooks.pre_stop.is_empty() || !hooks.post_stop.is_empty())
                && let Err(e) = self.stop(name).await
            {
                self.reporter
                    .warn(&format!("stopping `{name}` before removal: {e}"));
            }
        }
        self.store.remove_routes(name)?;
        // Its sessions end with it (also when it was not stopped first).
        if let Ok(spec) = Self::spec_of(&rec) {
            let tmux = self.tmux();
            for s in &spec.sessions {
                tmux.kill(&s.tmux);
            }
        }
        // The container first: while it may still run, its tree stays.
        if let Some(id) = &rec.container_id {
            let removed = match self.runtime(rec.runtime).await {
                Ok(rt) => rt.remove(id).await.map_err(EnvError::from),
                Err(e) => Err(e),
            };
            // A compose project whose main container went behind warren's back
            // still goes as a whole.
            let removed = match (removed, Self::spec_of(&rec).ok().and_then(|s| s.create)) {
                (Ok(()), Some(create)) => match &create.compose {
                    Some(p) => crate::compose::down_leftovers(self, rec.runtime, p).await,
                    None => Ok(()),
                },
                (r, _) => r,
            };
            match removed {
                Ok(()) => {}
                Err(e) if opts.force => self
                    .reporter
                    .warn(&format!("{e}; removing warren's record anyway (--force)")),
                Err(e) => {
                    // Nothing else is removed: `ls` shows it failed, and
                    // `rm` can finish once the runtime answers again.
                    self.store.set_state(name, EnvState::Failed)?;
                    self.log_event(name, &format!("removal failed: {e}"));
                    return Err(EnvError::Unfinished {
                        name: name.to_string(),
                        reason: e.to_string(),
                    });
                }
            }
        }
        let main = Repo::at_checkout(&rec.project_path);
        let (tree, trash, branch) = (rec.worktree.clone(), self.trash(), rec.branch.clone());
        let delete_branch = opts.delete_branch && rec.project_path.exists();
        let files = move || -> Result<bool, EnvError> {
            if main_checkout {
                return Ok(false);
            }
            // The per-project directory stays for the project's next
            // environment (one directory less made and freed per life).
            crate::repo::discard(&tree, &trash)
                .map_err(|e| EnvError::Io(format!("cannot remove `{}`", tree.display()), e))?;
            if delete_branch {
                match main.delete_branch(&branch) {
                    Ok(()) => return Ok(true),
                    Err(e) if main.branch_exists(&branch) => return Err(e.into()),
                    Err(_) => {}
                }
            }
            Ok(false)
        };
        let branch_deleted = tokio::task::spawn_blocking(files)
            .await
            .map_err(|e| EnvError::Other(e.to_string()))??;
        crate::tools::remove_private_config(&self.root, name);
        let _ = std::fs::remove_dir_all(crate::create::relay_dir(&self.root, name));
        crate::network::remove(&self.root, name);
        crate::compose::remove(&self.root, name);
        let _ = self.store.remove_net_log(name);
        self.store.delete_environment(name)?;
        crate::envlog::remove(&self.root, name);
        if let Ok(shadow) = crate::review::Shadow::open(
            &self.root,
            &crate::git::Repo::at_checkout(&rec.project_path),
        ) {
            shadow.forget(name);
        }
        self.env_event(warren_store::EventKind::EnvRemoved, name, EnvState::Gone);
        // The filler empties the trash (and readies the next repository).
        if rec.project_path.exists() && !main_checkout {
            crate::pool::fill_in_background(
                &self.settings.warren_exe(),
                &self.root,
                &rec.project_path,
            );
        }
        Ok(RmOutcome {
            name: name.to_string(),
            branch: rec.branch,
            branch_deleted,
            main_checkout,
        })
    }

    /// Runs `argv` inside a running environment.
    /// What `exec` would run: the record (checked to be running) and the
    /// command with the environment's `remoteEnv`, user and workspace.
    pub fn exec_spec(
        &self,
        name: &str,
        argv: Vec<String>,
    ) -> Result<(EnvRecord, ExecSpec), EnvError> {
        let rec = self.record(name)?;
        match rec.state {
            EnvState::Running => {}
            EnvState::Gone => return Err(EnvError::Gone(name.to_string())),
            _ => return Err(EnvError::NotRunning(name.to_string())),
        }
        let spec = Self::spec_of(&rec)?;
        let mut exec = self.exec_base(&spec);
        exec.cmd.extend(argv);
        Ok((rec, exec))
    }

    pub async fn exec(
        &self,
        name: &str,
        argv: Vec<String>,
        io: ExecIo<'_>,
    ) -> Result<ExitStatus, EnvError> {
        let (rec, exec) = self.exec_spec(name, argv)?;
        self.exec_with(&rec, &exec, io).await
    }

    /// Runs a prepared [`ExecSpec`] (from [`Warren::exec_spec`]) in `rec`.
    pub async fn exec_with(
        &self,
        rec: &EnvRecord,
        exec: &ExecSpec,
        io: ExecIo<'_>,
    ) -> Result<ExitStatus, EnvError> {
        let name = rec.name.as_str();
        let runtime = self.runtime(rec.runtime).await?;
        match runtime.exec(Self::container_id(rec)?, exec, io).await {
            Ok(s) => Ok(s),
            Err(warren_runtime::RuntimeError::NotFound(_)) => {
                self.store.set_state(name, EnvState::Gone)?;
                self.store.remove_routes(name)?;
                Err(EnvError::Gone(name.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Runs `postAttachCommand` (before an interactive attach).
    pub async fn post_attach(&self, name: &str) -> Result<(), EnvError> {
        let rec = self.record(name)?;
        let spec = Self::spec_of(&rec)?;
        if let Some(cmd) = &spec.lifecycle.post_attach {
            let runtime = self.runtime(rec.runtime).await?;
            let id = Self::container_id(&rec)?;
            let cmd = if cmd.uses_container_env() {
                let container_env = self.container_env(runtime, id, &rec).await?;
                cmd.with_container_env(&|k: &str| {
                    container_env
                        .iter()
                        .find(|(n, _)| n == k)
                        .map(|(_, v)| v.clone())
                })
            } else {
                cmd.clone()
            };
            let runner = InsideRunner {
                runtime,
                id,
                base: self.exec_base(&spec),
                reporter: &*self.reporter,
            };
            runner.run("postAttachCommand", &cmd).await?;
        }
        Ok(())
    }

    /// Hands warren's log of the environment, then the container's output,
    /// to `sink`; with `follow`, both as they grow, until the environment
    /// is removed or Ctrl-C.
    pub async fn logs(
        &self,
        name: &str,
        follow: bool,
        tail: Option<usize>,
        sink: warren_runtime::LogSink<'_>,
    ) -> Result<(), EnvError> {
        let rec = self.record(name)?;
        let log_path = crate::envlog::path(&self.root, name);
        let sink = std::sync::Mutex::new(sink);
        let emit = |stream: warren_runtime::Stream, bytes: &[u8]| {
            if let Ok(mut s) = sink.lock() {
                (*s)(stream, bytes);
            }
        };
        let mut offset = 0u64;
        if let Ok(text) = std::fs::read_to_string(&log_path) {
            offset = text.len() as u64;
            let lines: Vec<&str> = text.lines().collect();
            let start = tail.map(|t| lines.len().saturating_sub(t)).unwrap_or(0);
            for l in &lines[start..] {
                emit(warren_runtime::Stream::Stdout, format!("{l}\n").as_bytes());
            }
        }
        let container = async {
            if let Some(id) = &rec.container_id {
                let runtime = self.runtime(rec.runtime).await?;
                let mut to_sink = |s: warren_runtime::Stream, b: &[u8]| emit(s, b);
                match runtime.logs(id, follow, tail, &mut to_sink).await {
                    Ok(()) => {}
                    Err(warren_runtime::RuntimeError::NotFound(_)) => {
                        return Err(EnvError::Gone(name.to_string()));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            if follow {
                // Keep following warren's own log after the container's ends.
                std::future::pending::<()>().await;
            }
            Ok(())
        };
        if !follow {
            return container.await;
        }
        let follow_log = async {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let gone = self.store.environment(name).ok().flatten().is_none();
                let bytes = std::fs::read(&log_path).unwrap_or_default();
                if gone && bytes.len() as u64 <= offset {
                    return Ok::<(), EnvError>(());
                }
                if (bytes.len() as u64) > offset {
                    emit(warren_runtime::Stream::Stdout, &bytes[offset as usize..]);
                    offset = bytes.len() as u64;
                }
            }
        };
        tokio::select! {
            r = container => r,
            r = follow_log => r,
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    }

    /// Whether the environment's branch has commits beyond where it
    /// started (the agent's work, to be kept).
    pub fn has_new_commits(&self, rec: &EnvRecord) -> bool {
        let base = Self::spec_of(rec).ok().and_then(|s| s.base_commit);
        let tip = crate::repo::tip(&rec.worktree, &rec.branch)
            .or_else(|| Repo::at_checkout(&rec.project_path).branch_tip(&rec.branch));
        match (base, tip) {
            (Some(base), Some(tip)) => base != tip,
            // Unknown: keep the branch.
            _ => true,
        }
    }

    /// Runs a one-shot environment's command (its container's own process,
    /// see [`crate::Plan::oneshot`]) to its end.
    pub async fn run_oneshot(&self, name: &str, io: ExecIo<'_>) -> Result<ExitStatus, EnvError> {
        let rec = self.record(name)?;
        let runtime = self.runtime(rec.runtime).await?;
        let status = runtime.run_attached(Self::container_id(&rec)?, io).await?;
        self.store.set_state(name, EnvState::Stopped)?;
        self.log_event(name, &format!("command exited with code {}", status.code));
        Ok(status)
    }
}

/// The routes of an environment's services: each to the host port its
/// container port is published on (services without one get none).
pub(crate) fn routes_for(
    name: &str,
    spec: &EnvSpec,
    bindings: &[warren_runtime::PortBinding],
) -> Vec<Route> {
    if spec.network.own_namespace() {
        // Reached through the network daemon's socket into the environment's own
        // loopback: no host port at all (see `warren_net::dial`).
        return spec
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| Route {
                env: name.to_string(),
                service: s.name.clone(),
                ord: i as i64,
                target_host: warren_store::NETNS_TARGET.into(),
                target_port: s.port,
                inner_port: Some(s.port),
                label: s.label.clone(),
            })
            .collect();
    }
    spec.services
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let b = bindings.iter().find(|b| b.container_port == s.port)?;
            Some(Route {
                env: name.to_string(),
                service: s.name.clone(),
                ord: i as i64,
                target_host: "127.0.0.1".into(),
                target_port: b.host_port?,
                inner_port: Some(s.port),
                label: s.label.clone(),
            })
        })
        .collect()
}
