//! Creating an environment from a [`Plan`]: reserve the name, add the
//! worktree, run host-side commands, get the image, create and start the
//! container, run the lifecycle commands, register routes. A failure at any
//! step undoes the earlier ones (in reverse) and says which step failed, so
//! nothing half-created is left behind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use warren_core::{EnvState, RuntimeKind};
use warren_runtime::{CreateSpec, PublishPort};
use warren_store::{EnvRecord, EventKind, NewEnvironment};

use crate::error::EnvError;
use crate::git::Repo;
use crate::inject::{InjectContext, warren_vars};
use crate::manager::Warren;
use crate::mounts::{MountContext, container_home, system_mounts};
use crate::plan::Plan;
use crate::spec::EnvSpec;
use crate::steps::run_on_host;

/// Undo actions recorded as creation proceeds.
enum Undo {
    Reservation(String),
    Tree {
        repo: Repo,
        path: PathBuf,
        branch: Option<String>,
    },
    Container {
        runtime: RuntimeKind,
        id: String,
    },
}

/// What making an environment's tree did.
struct NewTree {
    /// `warren/<name>` was created in the main repository (else it existed:
    /// a branch kept from an earlier environment of the name).
    created_branch: bool,
    /// The tree came from the project's pool.
    from_pool: bool,
    /// The environment starts at the project's HEAD (a pool entry helps the
    /// next one).
    base_is_head: bool,
}

/// Makes `tree`, a repository of its own on `branch`: at the tip of
/// `branch` in the main repository if it exists there (the environment
/// continues where the last one of its name stopped), else at HEAD, where
/// the project's pool may have one ready. The main repository gets the
/// branch too, at the same commit.
fn new_tree(root: &Path, main: &Repo, tree: &Path, branch: &str) -> Result<NewTree, EnvError> {
    let head = main
        .head_commit()
        .ok_or_else(|| EnvError::NoCommits(main.root.clone()))?;
    let kept = main.branch_tip(branch);
    let base = kept.clone().unwrap_or_else(|| head.clone());
    if let Some(parent) = tree.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| EnvError::Io(format!("cannot create `{}`", parent.display()), e))?;
    }
    let pool = crate::pool::Pool::of(root, main);
    let from_pool = kept.is_none() && pool.take(tree, branch, &base);
    if !from_pool {
        crate::repo::create(main, tree, branch, &base)?;
    }
    let created_branch = kept.is_none();
    if created_branch {
        let made = match main.create_branch_fs(branch, &base) {
            Some(r) => r.map_err(crate::git::GitError::Spawn),
            None => crate::git::git(&main.root, ["branch", "--quiet", branch, &base]).map(|_| ()),
        };
        if let Err(e) = made {
            let _ = crate::repo::discard(tree, &root.join("trash"));
            return Err(e.into());
        }
    }
    Ok(NewTree {
        created_branch,
        from_pool,
        base_is_head: base == head,
    })
}

/// Where a main-checkout environment's sessions relay their tools' hooks: a
/// directory of its own under warren's root (the checkout is read-only inside),
/// shown read-write at the same path inside.
pub(crate) fn relay_dir(root: &Path, name: &str) -> PathBuf {
    root.join("relay").join(name)
}

/// Makes [`relay_dir`], private to the user.
fn make_relay_dir(dir: &Path) -> Result<(), EnvError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| EnvError::Io(format!("cannot create `{}`", dir.display()), e))
}

/// Labels on every container warren creates.
pub fn labels(
    w: &Warren,
    plan: &Plan,
    name: &str,
    worktree: &std::path::Path,
) -> BTreeMap<String, String> {
    let mut l = plan.container.labels.clone();
    l.insert("warren.managed".into(), "true".into());
    l.insert("warren.name".into(), name.into());
    l.insert("warren.project".into(), plan.project.clone());
    l.insert(
        "warren.type".into(),
        plan.env_type.clone().unwrap_or_default(),
    );
    l.insert(
        "warren.worktree".into(),
        worktree.to_string_lossy().into_owned(),
    );
    l.insert("warren.config-hash".into(), plan.config_hash.clone());
    l.insert("warren.root".into(), w.root_id());
    if !plan.container.host.given_up.is_empty() {
        l.insert(
            "warren.host-access".into(),
            plan.container.host.given_up.join(", "),
        );
    }
    l
}

impl Warren {
    /// Creates and starts an environment. On Ctrl-C or any failure, undoes
    /// what was done and returns the error.
    pub async fn create(&self, plan: &Plan) -> Result<EnvRecord, EnvError> {
        if !plan.repo.has_commits() {
            return Err(EnvError::NoCommits(plan.repo.root.clone()));
        }
        if let Some(n) = &plan.name {
            warren_core::validate_name(n)?;
        }
        let mut undo: Vec<Undo> = Vec::new();
        let result = tokio::select! {
            r = self.create_steps(plan, &mut undo) => r,
            _ = tokio::signal::ctrl_c() => Err(EnvError::Interrupted),
        };
        match result {
            Ok(rec) => {
                if !plan.container.host.given_up.is_empty() {
                    // The banner: which isolation the user's `host_access` gave up.
                    self.reporter.warn(&format!(
                        "`{}` runs with host access ({}): granted by `host_access:` in your config; it gives up that much of its isolation",
                        rec.name,
                        plan.container.host.given_up.join(", ")
                    ));
                }
                Ok(rec)
            }
            Err(e) => {
                self.rollback(undo).await;
                Err(e)
            }
        }
    }

    async fn rollback(&self, undo: Vec<Undo>) {
        for u in undo.into_iter().rev() {
            match u {
                Undo::Container { runtime, id } => {
                    if let Ok(rt) = self.runtime(runtime).await
                        && let Err(e) = rt.remove(&id).await
                    {
                        self.reporter
                            .warn(&format!("cleanup: could not remove container {id}: {e}"));
                    }
                }
                Undo::Tree { repo, path, branch } => {
                    // Never the main checkout (a main-checkout environment records
                    // no tree to undo; this only makes sure).
                    if path == repo.root {
                        continue;
                    }
                    if let Err(e) = crate::repo::discard(&path, &self.trash()) {
                        self.reporter.warn(&format!(
                            "cleanup: could not remove {}: {e}",
                            path.display()
                        ));
                    }
                    if let Some(b) = branch {
                        let _ = repo.delete_branch(&b);
                    }
                    // Drop the empty per-project directory we may have made.
                    if let Some(parent) = path.parent() {
                        let _ = std::fs::remove_dir(parent);
                    }
                }
                Undo::Reservation(name) => {
                    let _ = std::fs::remove_dir_all(relay_dir(&self.root, &name));
                    crate::tools::remove_private_config(&self.root, &name);
                    crate::network::remove(&self.root, &name);
                    crate::compose::remove(&self.root, &name);
                    let _ = self.store.delete_environment(&name);
                    crate::envlog::remove(&self.root, &name);
                }
            }
        }
    }

    async fn create_steps(&self, plan: &Plan, undo: &mut Vec<Undo>) -> Result<EnvRecord, EnvError> {
        // 1. Reserve the name (unique among all environments of this root).
        self.reporter.step("reserving name");
        let new = NewEnvironment {
            name: plan.name.clone().unwrap_or_default(),
            project: plan.project.clone(),
            project_path: plan.repo.root.clone(),
            worktree: PathBuf::new(),
            branch: String::new(),
            env_type: plan.env_type.clone(),
            runtime: plan.runtime,
            config_hash: plan.config_hash.clone(),
            spec: "{}".into(),
        };
        let main_checkout = plan.on_main_checkout();
        let fill = |env: &mut NewEnvironment, name: &str| {
            if main_checkout {
                // The project's main checkout itself, on whatever it has checked out.
                env.worktree = plan.repo.root.clone();
                env.branch = plan.repo.head_branch().unwrap_or_else(|| "HEAD".into());
            } else {
                env.worktree = self.worktree_path(&plan.project, name);
                env.branch = format!("warren/{name}");
            }
        };
        let rec = match &plan.name {
            Some(_) => {
                let mut env = new.clone();
                fill(&mut env, &new.name);
                self.store.insert_environment(&env)?
            }
            None => self.store.insert_environment_generated(
                &new,
                |taken| {
                    warren_core::generate_name(|n| {
                        taken(n) || plan.repo.branch_exists(&format!("warren/{n}"))
                    })
                },
                fill,
            )?,
        };
        let name = rec.name.clone();
        undo.push(Undo::Reservation(name.clone()));
        self.log_event(&name, &format!("creating ({} runtime)", plan.runtime));

        // 2. The environment's own repository, on branch warren/<name>
        // (see crate::repo). Meanwhile, connect to the runtime and, when no
        // host command could change the build inputs, get the image: both
        // mostly wait on other processes.
        self.reporter.step("creating the repository");
        let early_image = plan.hooks.pre_start.is_empty() && plan.initialize.is_none();
        let tree = {
            let (repo, root) = (plan.repo.clone(), self.root.clone());
            let (path, branch) = (rec.worktree.clone(), rec.branch.clone());
            let relay = relay_dir(&self.root, &name);
            let make = move || {
                if main_checkout {
                    // No repository to make: the main checkout is shown read-only.
                    make_relay_dir(&relay)?;
                    return Ok(None);
                }
                new_tree(&root, &repo, &path, &branch).map(Some)
            };
            async move {
                if plan.runtime == RuntimeKind::Docker {
                    tokio::task::spawn_blocking(make)
                        .await
                        .map_err(|e| EnvError::Other(format!("creating the repository: {e}")))?
                } else {
                    // Nothing to overlap with, and a process that stays
                    // single-threaded can fork its sandbox helper.
                    make()
                }
            }
        };
        let prepare = async {
            let runtime = self
                .runtime(plan.runtime)
                .await
                .map_err(EnvError::at("connecting to the runtime"))?;
            let image = if early_image {
                self.image(runtime, plan).await?
            } else {
                None
            };
            Ok::<_, EnvError>((runtime, image))
        };
        let (tree, prepared) = tokio::join!(tree, prepare);
        if let Ok(Some(made)) = &tree {
            undo.push(Undo::Tree {
                repo: plan.repo.clone(),
                path: rec.worktree.clone(),
                branch: made.created_branch.then(|| rec.branch.clone()),
            });
        }
        let made = tree.map_err(EnvError::at("creating the repository"))?;
        if made.is_some_and(|m| m.from_pool || m.base_is_head) {
            // The next environment finds a ready repository.
            crate::pool::fill_in_background(
                &self.settings.warren_exe(),
                &self.root,
                &plan.repo.root,
            );
        }
        let (runtime, mut image) = prepared?;
        // The configuration again, now as this environment's own:
        // `${localWorkspaceFolder}` is its tree, `${devcontainerId}` its id.
        let own_plan = self.plan_for_environment(plan, &rec).map_err(EnvError::at(
            "reading the configuration for the environment",
        ))?;
        let plan = &own_plan;

        // 3. Host-side commands: pre_start hooks, then initializeCommand,
        // in the main checkout, never in the environment's tree (whose
        // files the agent writes); the tree is `WARREN_WORKTREE`.
        let host_env = self.host_command_env(&name, plan, &rec.worktree);
        for (i, hook) in plan.hooks.pre_start.iter().enumerate() {
            let step = if plan.hooks.pre_start.len() > 1 {
                format!("pre_start[{i}]")
            } else {
                "pre_start".into()
            };
            run_on_host(
                &step,
                &crate::spec::LifecycleCommand::Shell(hook.clone()),
                &plan.repo.root,
                &host_env,
                &*self.reporter,
            )
            .await
            .map_err(|e| EnvError::at("a pre_start hook")(e.into()))?;
        }
        if let Some(cmd) = &plan.initialize {
            run_on_host(
                "initializeCommand",
                cmd,
                &plan.repo.root,
                &host_env,
                &*self.reporter,
            )
            .await
            .map_err(|e| EnvError::at("initializeCommand")(e.into()))?;
        }

        // 4–6. Image, container, start.
        if !early_image {
            image = self.image(runtime, plan).await?;
        }
        // A Compose config is read (and its host access checked) once, here:
        // after initializeCommand, which may write what it reads, and before
        // any image is built for it.
        let mut merged = match &plan.compose {
            Some(c) => Some(
                self.read_compose(c, plan, &rec)
                    .await
                    .map_err(EnvError::at("preparing the compose project"))?,
            ),
            None => None,
        };
        // A Compose config's Features: its service's image with them
        // installed becomes the service's image (see compose.rs).
        if let (Some(c), Some(m), Some(features), RuntimeKind::Docker) =
            (&plan.compose, &merged, &plan.features, plan.runtime)
        {
            image = Some(
                self.compose_features_image(runtime, c, m, plan, features)
                    .await?,
            );
        }
        // The image's own devcontainer.json fragments, under the configuration.
        let with_metadata;
        let mut image_part = crate::metadata::ImageContribution::default();
        let plan = match (&image, plan.runtime) {
            (Some(img), RuntimeKind::Docker) => {
                let info = runtime
                    .image_info(img)
                    .await
                    .map_err(|e| EnvError::at("reading the image's metadata")(e.into()))?;
                let mut p = plan.clone();
                if let Some(info) = info {
                    if let Some(text) = info.labels.get(warren_config::METADATA_LABEL) {
                        let home = self.host.home();
                        let text = crate::metadata::substitute(
                            text,
                            &self.env_target(&rec).devcontainer_id,
                            &p.workspace_folder,
                        );
                        image_part = crate::metadata::apply(
                            &mut p,
                            img,
                            &text,
                            home.as_deref(),
                            &*self.reporter,
                        )?;
                        if p.oneshot.is_some() && image_part.lifecycle != Default::default() {
                            self.reporter.warn(&format!(
                                "image `{img}` declares lifecycle commands; a one-shot `run --rm -- CMD` does not run them (run without `--rm` to get them)"
                            ));
                        }
                    }
                    // A compose service's command is the compose file's.
                    if !p.container.override_command
                        && !info.has_command
                        && p.oneshot.is_none()
                        && p.compose.is_none()
                    {
                        // The engine would say only "No command specified".
                        return Err(EnvError::Refused {
                            message: format!(
                                "`overrideCommand` is false but image `{img}` has no command (no CMD or ENTRYPOINT): the container would have nothing to run"
                            ),
                            hint: "remove `\"overrideCommand\": false` so warren keeps the container running, or give the image a CMD".into(),
                        });
                    }
                }
                with_metadata = p;
                &with_metadata
            }
            _ => plan,
        };
        // Sessions, rendered for this name; their declared ports are services.
        let inside = match plan.runtime {
            RuntimeKind::Docker => plan.tree_inside().to_string(),
            _ => rec.worktree.to_string_lossy().into_owned(),
        };
        let relay = main_checkout.then(|| relay_dir(&self.root, &name));
        let (relay_host, relay_inside) =
            crate::sessions::relay_dirs(&rec.worktree, &inside, relay.as_deref());
        let (sessions, session_services) =
            crate::sessions::render(plan, &name, &relay_host, &relay_inside)?;
        let with_sessions;
        let plan = if session_services.is_empty() {
            plan
        } else {
            let mut p = plan.clone();
            for s in session_services {
                if !p.services.iter().any(|x| x.name == s.name) {
                    p.services.push(s);
                }
            }
            with_sessions = p;
            &with_sessions
        };
        let local_plan;
        let plan = if plan.runtime == RuntimeKind::Docker {
            plan
        } else {
            local_plan = self.local_plan(plan, &rec)?;
            &local_plan
        };
        if plan.network.own_namespace() {
            self.write_net_config(plan, &name)?;
        }
        let (mut create, mut spec) =
            self.container_spec(plan, &rec, image.clone().unwrap_or_default());
        if let (Some(c), Some(m)) = (&plan.compose, merged.take()) {
            self.prepare_compose(c, m, plan, &rec, &mut create)
                .map_err(EnvError::at("preparing the compose project"))?;
            if let Some(stored) = spec.create.as_mut() {
                stored.labels = create.labels.clone();
                stored.compose = create.compose.clone();
            }
        }
        spec.sessions = sessions;
        spec.image_metadata = image_part;
        self.reporter.step(&format!(
            "creating {}",
            crate::ops::container_word(plan.runtime)
        ));
        let id = runtime
            .create(&create)
            .await
            .map_err(|e| EnvError::at("creating the container")(e.into()))?;
        undo.push(Undo::Container {
            runtime: plan.runtime,
            id: id.clone(),
        });
        self.store.set_container(&name, &id, image.as_deref())?;
        self.store
            .set_spec(&name, &spec.to_json(), &plan.config_hash)?;
        if plan.oneshot.is_some() {
            // Started by `run_oneshot`, attached, so no output is lost.
            self.store.set_state(&name, EnvState::Running)?;
            self.log_event(&name, "running (one-shot)");
            self.env_event(EventKind::EnvCreated, &name, EnvState::Running);
            return Ok(self.store.require_environment(&name)?);
        }
        self.reporter.step(&format!(
            "starting {}",
            crate::ops::container_word(plan.runtime)
        ));
        runtime
            .start(&id)
            .await
            .map_err(|e| EnvError::at("starting the container")(e.into()))?;

        // 7–9. Lifecycle commands inside, routes, running.
        let rec = self.store.require_environment(&name)?;
        self.after_start(&rec, true, true).await?;
        self.log_event(&name, "running");
        self.env_event(EventKind::EnvCreated, &name, EnvState::Running);
        Ok(self.store.require_environment(&name)?)
    }

    /// Writes the network daemon's configuration (grants resolved from the host) and,
    /// for grants, makes sure warren's CA and the bundle exist.
    fn write_net_config(&self, plan: &Plan, name: &str) -> Result<(), EnvError> {
        let lookup = |k: &str| {
            self.credential_values(&[k.to_string()])
                .into_iter()
                .next()
                .map(|(_, v)| v)
        };
        let grants = crate::network::resolve_grants(plan, &lookup)?;
        if !grants.is_empty() && plan.network.has_egress() {
            crate::network::ensure_ca(&self.root)?;
        }
        let mut allow = plan.egress_allow.clone();
        for g in &grants {
            for h in &g.hosts {
                if !allow.contains(h) {
                    allow.push(h.clone());
                }
            }
        }
        let split = |v: &str| -> Vec<(String, String)> {
            v.split(',')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect()
        };
        let config = warren_core::network::NetConfig {
            env: name.to_string(),
            root: self.root.clone(),
            mode: plan.network,
            allow,
            grants,
            test_resolve: self
                .host
                .get(warren_core::vars::WARREN_EGRESS_TEST_RESOLVE)
                .map(split)
                .unwrap_or_default(),
            test_upstream_ca: self
                .host
                .get(warren_core::vars::WARREN_EGRESS_TEST_UPSTREAM_CA)
                .map(|v| v.split(',').map(PathBuf::from).collect())
                .unwrap_or_default(),
        };
        crate::network::write_config(&self.root, name, &config)?;
        Ok(())
    }

    /// The plan adjusted for a runtime without containers (sandbox, host):
    /// the worktree stays at its host path, `$HOME` is the user's, and each
    /// service gets a port of `port_range` that nothing else uses (its
    /// `PORT`), since there is no port mapping.
    fn local_plan(&self, plan: &Plan, rec: &EnvRecord) -> Result<Plan, EnvError> {
        let mut p = plan.clone();
        p.workspace_folder = rec.worktree.to_string_lossy().into_owned();
        let (start, end) = (plan.local.port_range.start, plan.local.port_range.end);
        let mut taken: std::collections::HashSet<u16> =
            self.store.routes()?.iter().map(|r| r.target_port).collect();
        // With a network namespace of its own, a service listens on its declared
        // port on the environment's own loopback: nothing on the host to share.
        let host_ports = !plan.network.own_namespace();
        for s in p.services.iter_mut().filter(|_| host_ports) {
            // A port already in the range (a session's deterministic one) stays if free.
            if (start..=end).contains(&s.port)
                && !taken.contains(&s.port)
                && std::net::TcpListener::bind(("127.0.0.1", s.port)).is_ok()
            {
                taken.insert(s.port);
                s.host_port = Some(s.port);
                continue;
            }
            let port = (start..=end)
                .find(|port| {
                    !taken.contains(port) && std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok()
                })
                .ok_or_else(|| {
                    EnvError::Other(format!(
                        "no free port in port_range {start}-{end} for service `{}`; widen `port_range` in .warren.yaml",
                        s.name
                    ))
                })?;
            taken.insert(port);
            s.port = port;
            s.host_port = Some(port);
        }
        p.container.network = Some(plan.network.as_str().into());
        // runArgs `-w` names a path in a container; here the tree stays at its
        // host path (the sandbox warns that runArgs do not apply).
        p.container.workdir = None;
        let paths = [
            (&plan.local.read_only_paths, true),
            (&plan.local.read_write_paths, false),
        ];
        for (paths, ro) in paths {
            for path in paths {
                let path = match (path.strip_prefix("~/"), self.host.home()) {
                    (Some(rest), Some(h)) => h.join(rest).to_string_lossy().into_owned(),
                    _ => path.to_string(),
                };
                p.container.mounts.push(warren_runtime::Mount {
                    kind: warren_runtime::MountKind::Bind,
                    source: path.clone(),
                    target: path,
                    read_only: ro,
                });
            }
        }
        Ok(p)
    }

    /// Pulls or builds the plan's image, if it has one.
    async fn image(
        &self,
        runtime: &dyn warren_runtime::Runtime,
        plan: &Plan,
    ) -> Result<Option<String>, EnvError> {
        let Some(src) = &plan.image else {
            return Ok(None);
        };
        self.reporter.step("preparing image");
        let reporter = self.reporter.clone();
        let sink = move |p: warren_runtime::Progress| reporter.progress(&p);
        let base = runtime
            .ensure_image(src, &sink)
            .await
            .map_err(|e| EnvError::at("preparing the image")(e.into()))?;
        match &plan.features {
            Some(features) => self
                .features_image(runtime, plan, features, base, &sink)
                .await
                .map(Some)
                .map_err(EnvError::at("installing the devcontainer Features")),
            None => Ok(Some(base)),
        }
    }

    /// Builds (unless it exists) the image with `features` installed on
    /// `base`, and returns its tag.
    pub(crate) async fn features_image(
        &self,
        runtime: &dyn warren_runtime::Runtime,
        plan: &Plan,
        features: &crate::features::FeaturesPlan,
        base: String,
        sink: warren_runtime::ProgressSink<'_>,
    ) -> Result<String, EnvError> {
        let info = runtime.image_info(&base).await?.ok_or_else(|| {
            EnvError::Other(format!("image `{base}` vanished after it was prepared"))
        })?;
        let root = self.root.clone();
        let fp = features.clone();
        let users = (plan.remote_user.clone(), plan.container.user.clone());
        let reporter = self.reporter.clone();
        let log = move |m: String| reporter.progress(&warren_runtime::Progress::Message(m));
        let base_name = base.clone();
        let prepared = tokio::task::spawn_blocking(move || {
            crate::features::prepare(
                &root,
                &fp,
                &base_name,
                &info,
                (users.0.as_deref(), users.1.as_deref()),
                &log,
            )
        })
        .await
        .map_err(|e| EnvError::Other(format!("preparing the Features stopped: {e}")))??;
        if let Some(lock) = &prepared.locked {
            self.reporter.info(&format!(
                "wrote the Features' digests to `{}`",
                lock.display()
            ));
        }
        let context = prepared.spec.context.clone();
        let built = runtime
            .ensure_image(&warren_runtime::ImageSource::Build(prepared.spec), sink)
            .await;
        // The context is only for this build; the cache keeps the layers.
        let _ = std::fs::remove_dir_all(&context);
        Ok(built?)
    }

    /// Env for commands warren runs on the host for an environment.
    fn host_command_env(&self, name: &str, plan: &Plan, tree: &Path) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self
            .host
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        env.extend(warren_vars(&InjectContext {
            name,
            project: &plan.project,
            env_type: plan.env_type.as_deref(),
            runtime: plan.runtime,
            role: plan.role.as_deref(),
            issue_id: plan.issue_id.as_deref(),
            services: &plan.services,
            proxy_port: plan.proxy_port,
        }));
        env.push((
            warren_core::vars::WARREN_WORKTREE.into(),
            tree.to_string_lossy().into_owned(),
        ));
        env
    }

    /// The container to create and the spec to remember.
    fn container_spec(&self, plan: &Plan, rec: &EnvRecord, image: String) -> (CreateSpec, EnvSpec) {
        let host_home = self.host.home();
        let home = match (plan.runtime, &host_home) {
            (RuntimeKind::Docker, _) | (_, None) => container_home(
                plan.remote_user
                    .as_deref()
                    .or(plan.container.user.as_deref()),
            ),
            (_, Some(h)) => h.to_string_lossy().into_owned(),
        };
        let tool_config = match &host_home {
            Some(h) if !plan.tools.is_empty() => {
                crate::tools::private_config(&self.root, &rec.name, h, &plan.tools).unwrap_or_else(
                    |e| {
                        self.reporter.warn(&format!(
                    "cannot copy the tools' configuration ({e}); the tools start unconfigured"
                ));
                        Vec::new()
                    },
                )
            }
            _ => Vec::new(),
        };
        let object_dirs = crate::repo::object_dirs(&plan.repo);
        let main_checkout = plan.on_main_checkout();
        let relay = main_checkout.then(|| relay_dir(&self.root, &rec.name));
        if plan.roles.iter().any(|r| r.tool == "gemini") && host_home.is_some() {
            let inside = match plan.runtime {
                RuntimeKind::Docker => plan.tree_inside().to_string(),
                _ => rec.worktree.to_string_lossy().into_owned(),
            };
            let (_, relay_inside) =
                crate::sessions::relay_dirs(&rec.worktree, &inside, relay.as_deref());
            let private = crate::tools::private_dir(&self.root, &rec.name);
            if let Err(e) = crate::sessions::gemini_hooks(&private, &relay_inside) {
                self.reporter.warn(&format!(
                    "cannot register gemini's hooks ({e}): its state comes from its screen only"
                ));
            }
        }
        let sys = system_mounts(&MountContext {
            worktree: &rec.worktree,
            workspace_folder: plan.tree_inside(),
            main_checkout: main_checkout || plan.tree_mount.as_ref().is_some_and(|m| m.read_only),
            relay: relay.as_deref(),
            object_dirs: &object_dirs,
            host_home: host_home.as_deref(),
            container_home: &home,
            tools: &plan.tools,
            tool_config: &tool_config,
            credentials: &plan.credentials,
        });
        for m in &sys.missing {
            self.reporter.warn(&format!(
                "credential path `{}` does not exist; not mounted",
                m.display()
            ));
        }
        let mut env = plan.container.env.clone();
        env.extend(warren_vars(&InjectContext {
            name: &rec.name,
            project: &plan.project,
            env_type: plan.env_type.as_deref(),
            runtime: plan.runtime,
            role: plan.role.as_deref(),
            issue_id: plan.issue_id.as_deref(),
            services: &plan.services,
            proxy_port: plan.proxy_port,
        }));
        // Git refuses repositories owned by another uid ("dubious
        // ownership"); the worktree is the user's, the process inside may
        // run as someone else. Commits inside are the user's (their
        // `user.name`/`user.email`), or else plainly an agent's: without an
        // identity `git commit` fails with "Author identity unknown".
        let (user, email) = crate::gitfs::user_identity(&plan.repo.git_dir, host_home.as_deref());
        let git_config = [
            ("safe.directory", "*".to_string()),
            (
                "user.name",
                user.unwrap_or_else(|| format!("warren agent {}", rec.name)),
            ),
            (
                "user.email",
                email.unwrap_or_else(|| format!("{}@agents.warren.localhost", rec.name)),
            ),
        ];
        env.push(("GIT_CONFIG_COUNT".into(), git_config.len().to_string()));
        for (i, (k, v)) in git_config.into_iter().enumerate() {
            env.push((format!("GIT_CONFIG_KEY_{i}"), k.into()));
            env.push((format!("GIT_CONFIG_VALUE_{i}"), v));
        }
        if plan.oneshot.is_some() {
            // What `exec` would add, since CMD is the container's process.
            env.extend(plan.remote_env.iter().cloned());
            env.extend(self.credential_values(&sys.passthrough_env));
        }
        let mut mounts = sys.mounts;
        let container_name = self.container_name(&rec.name);
        mounts.extend(plan.container.mounts.iter().cloned().map(|mut m| {
            // A named volume is the environment's own (removed with it)
            // unless `.warren.yaml shared_volumes` names it.
            if m.kind == warren_runtime::MountKind::Volume
                && !m.source.is_empty()
                && !plan.container.shared_volumes.contains(&m.source)
            {
                m.source = format!("{container_name}-{}", m.source);
            }
            // An environment on the main checkout sees it read-only, also
            // through a mount of it (`source=${localWorkspaceFolder}`).
            if main_checkout
                && m.kind == warren_runtime::MountKind::Bind
                && Path::new(&m.source).starts_with(&plan.repo.root)
            {
                m.read_only = true;
            }
            m
        }));
        // The network: the egress proxy's variables, the grants' placeholders (never
        // the credentials), and warren's CA for intercepted hosts.
        let ca = (!plan.grants.is_empty() && plan.network.has_egress())
            .then(|| crate::network::ca_inside(plan.runtime, &self.root));
        if ca.is_some() {
            let (host_ca, host_bundle) = crate::network::ca_paths(&self.root);
            let (in_ca, in_bundle) = crate::network::ca_inside(plan.runtime, &self.root);
            for (source, target) in [(host_ca, in_ca), (host_bundle, in_bundle)] {
                mounts.push(warren_runtime::Mount {
                    kind: warren_runtime::MountKind::Bind,
                    source: source.to_string_lossy().into_owned(),
                    target,
                    read_only: true,
                });
            }
        }
        let placeholders = crate::network::placeholder_vars(plan);
        let mut passthrough_env = sys.passthrough_env;
        passthrough_env.retain(|k| !placeholders.iter().any(|(p, _)| p == k));
        env.retain(|(k, _)| !placeholders.iter().any(|(p, _)| p == k));
        env.extend(crate::network::proxy_vars(
            plan.network,
            ca.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
        ));
        env.extend(placeholders);
        let own_ns = plan.network.own_namespace();
        let create = CreateSpec {
            container_name: self.container_name(&rec.name),
            hostname: plan
                .container
                .hostname
                .clone()
                .or_else(|| Some(rec.name.clone())),
            image,
            labels: labels(self, plan, &rec.name, &rec.worktree),
            env,
            mounts,
            publish: plan
                .services
                .iter()
                .filter(|_| !own_ns)
                .map(|s| PublishPort {
                    container_port: s.port,
                    host_port: s.host_port,
                    host_ip: None,
                })
                .collect(),
            workdir: plan
                .container
                .workdir
                .clone()
                .or_else(|| Some(plan.workspace_folder.clone())),
            user: match &plan.oneshot {
                Some(_) => plan
                    .remote_user
                    .clone()
                    .or_else(|| plan.container.user.clone()),
                None => plan.container.user.clone(),
            },
            override_command: plan.container.override_command,
            entrypoints: plan.container.entrypoints.clone(),
            init: plan.container.init,
            privileged: plan.container.privileged,
            cap_add: plan.container.cap_add.clone(),
            cap_drop: plan.container.cap_drop.clone(),
            security_opt: plan.container.security_opt.clone(),
            network: match plan.runtime {
                // No veth, no bridge: nothing but loopback; the network daemon holds
                // the only sockets that cross.
                RuntimeKind::Docker if own_ns => Some("none".into()),
                // `host`: the engine's own networking (its bridge, or runArgs
                // `--network`), as before network modes existed.
                _ => plan.container.network.clone(),
            },
            net_dir: own_ns.then(|| crate::network::net_dir(&self.root, &rec.name)),
            extra_hosts: plan.container.extra_hosts.clone(),
            resources: plan.container.resources,
            ulimits: plan.container.ulimits.clone(),
            oneshot: plan.oneshot.clone(),
            scratch: plan.scratch,
            ephemeral: plan.ephemeral,
            host: plan.container.host.clone(),
            // Set by `prepare_compose` once the project's file is written.
            compose: None,
        };
        let mut spec = EnvSpec {
            runtime: plan.runtime,
            container_name: create.container_name.clone(),
            workspace_folder: plan.workspace_folder.clone(),
            remote_user: plan.remote_user.clone(),
            remote_env: plan.remote_env.clone(),
            remote_env_raw: plan.remote_env.clone(),
            remote_env_unset: plan.remote_env_unset.clone(),
            devcontainer_config: plan.request.devcontainer.clone(),
            services: plan.services.clone(),
            lifecycle: plan.lifecycle.clone(),
            hooks: plan.hooks.clone(),
            tool: plan.tools.first().cloned(),
            passthrough_env,
            network: plan.network,
            proxy_port: plan.proxy_port,
            sessions: Vec::new(),
            checkpoint_on_idle: plan.checkpoint_on_idle,
            base_commit: match main_checkout {
                // The main checkout's commits are the user's, not the agent's.
                true => None,
                false => plan.repo.branch_tip(&rec.branch),
            },
            create: None,
            main_checkout,
            image_metadata: Default::default(),
            initialize: plan.initialize.clone(),
        };
        let mut stored = create.clone();
        stored.oneshot = None;
        stored
            .env
            .retain(|(k, _)| !spec.passthrough_env.contains(k));
        spec.create = Some(stored);
        if rec.state != EnvState::Creating {
            self.reporter
                .warn("environment changed state during creation");
        }
        (create, spec)
    }
}
