//! `warren run` as one call: plan, create, run the command (or the
//! interactive program), then — with `--rm` — remove the environment, or keep
//! it stopped when its tree has uncommitted work. The caller only parses and
//! prints; everything it shows arrives through the [`crate::Reporter`] or
//! in the [`RunOutcome`].

use warren_core::{EnvState, RuntimeKind};
use warren_runtime::{ExecIo, ExitStatus};
use warren_store::EnvRecord;

use crate::error::EnvError;
use crate::manager::Warren;
use crate::ops::RmOptions;
use crate::resolve::RunRequest;
use crate::snapshot::TreeSnapshot;

/// What `warren run` asks for beyond the configuration.
#[derive(Debug, Clone, Default)]
pub struct RunSpec {
    pub request: RunRequest,
    /// The command; empty runs the interactive program (the tool, else a
    /// login shell).
    pub cmd: Vec<String>,
    /// Remove the environment when the command ends.
    pub rm: bool,
    /// Whether stdin and stdout are terminals (a TTY is allocated when both
    /// are; stdin is passed on when it is one).
    pub stdin_tty: bool,
    pub stdout_tty: bool,
}

/// What `--rm` did after the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Teardown {
    /// Removed. Its branch is kept when it has new commits (the agent's work).
    Removed { branch_kept: bool },
    /// Kept, stopped: its tree has this many uncommitted changes.
    KeptDirty { changes: usize },
    /// Kept, stopped: warren could not prove its work safe (the reason).
    Kept { reason: String },
}

/// The result of [`Warren::run`].
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The environment as created.
    pub record: EnvRecord,
    /// The command's exit code (128+N when killed by signal N; 127 when it
    /// was not found, 126 when it could not be executed).
    pub exit_code: i64,
    /// Why the command could not be started (`command not found: make`).
    pub cannot_exec: Option<String>,
    /// Set with `--rm`.
    pub teardown: Option<Teardown>,
}

/// The commit an environment started at.
fn spec_base(rec: &EnvRecord) -> Option<String> {
    Warren::spec_of(rec).ok().and_then(|s| s.base_commit)
}

/// The interactive program when no command is given: the tool, else a
/// login shell (bash where there is one).
pub fn interactive_command(tool: Option<&str>) -> Vec<String> {
    match tool {
        Some(t) => vec![
            warren_core::tools::tool(t)
                .map(|i| i.binary)
                .unwrap_or(t)
                .to_string(),
        ],
        None => vec![
            "/bin/sh".into(),
            "-c".into(),
            "if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi".into(),
        ],
    }
}

impl Warren {
    /// Creates an environment for `spec.request`, runs the command in it and,
    /// with `spec.rm`, tears it down. Configuration warnings, progress and
    /// the created environment go to the reporter.
    pub async fn run(&self, spec: &RunSpec) -> Result<RunOutcome, EnvError> {
        let mut plan = self.plan(&spec.request).await?;
        let has_cmd = !spec.cmd.is_empty();
        // `run --rm -- CMD` with nothing to do before CMD: CMD becomes the
        // container's own process, like `docker run --rm` (one engine round
        // trip fewer than start + exec).
        let oneshot = spec.rm && has_cmd && !spec.stdin_tty && plan.value.can_run_oneshot();
        if oneshot {
            plan.value.oneshot = Some(spec.cmd.clone());
        }
        // One command and gone: no private /tmp or $HOME on disk to create
        // and delete again (the sandbox mounts tmpfs instead).
        plan.value.scratch = spec.rm && has_cmd && plan.value.single_command();
        plan.value.ephemeral = spec.rm;
        for w in &plan.warnings {
            self.reporter.diagnostic(w);
        }
        let plan = plan.value;
        let rec = self.create(&plan).await?;
        let name = rec.name.clone();
        // A tree warren just made, with nothing run in it yet, is clean: if
        // it is the same after CMD, the teardown needs no `git status`.
        let snapshot =
            (plan.scratch && plan.initialize.is_none() && plan.hooks.pre_start.is_empty())
                .then(|| TreeSnapshot::take(&[&rec.worktree]))
                .flatten();
        self.reporter.created(&self.view_now(&rec)?);

        let tty = spec.stdin_tty && spec.stdout_tty;
        let ran = if oneshot {
            self.run_oneshot(
                &name,
                ExecIo::Inherit {
                    tty: false,
                    stdin: false,
                },
            )
            .await
        } else if !has_cmd {
            self.post_attach(&name).await?;
            let tool = Self::spec_of(&rec)?.tool;
            let cmd = interactive_command(tool.as_deref());
            self.exec(&name, cmd, ExecIo::Inherit { tty, stdin: true })
                .await
        } else {
            self.exec(
                &name,
                spec.cmd.clone(),
                ExecIo::Inherit {
                    tty,
                    stdin: spec.stdin_tty,
                },
            )
            .await
        };
        // A command that could not be started ends like one that failed:
        // the environment is torn down the same way.
        let (exit_code, cannot_exec) = match ran {
            Ok(status) => (status.code, None),
            Err(EnvError::Runtime(e @ warren_runtime::RuntimeError::CannotExec { code, .. })) => {
                (i64::from(code), Some(e.to_string()))
            }
            Err(e) => return Err(e),
        };
        let teardown = if spec.rm {
            Some(self.teardown(&name, snapshot).await?)
        } else {
            // The branch in the main repository shows what the command
            // committed (the environment keeps running).
            let rec = self.record(&name)?;
            if crate::repo::tip(&rec.worktree, &rec.branch).as_deref() != spec_base(&rec).as_deref()
                && let Err(e) = self.bring_back(&rec).await
            {
                self.reporter.warn(&e.to_string());
            }
            None
        };
        Ok(RunOutcome {
            record: rec,
            exit_code,
            cannot_exec,
            teardown,
        })
    }

    /// `--rm` after the command: the environment stops (bringing its
    /// commits back); a branch with new commits is kept (the agent's work),
    /// one without is deleted with the environment; a tree with uncommitted
    /// work, or one whose commits could not be brought back, keeps the whole
    /// environment, stopped.
    async fn teardown(
        &self,
        name: &str,
        snapshot: Option<TreeSnapshot>,
    ) -> Result<Teardown, EnvError> {
        let rec = self.record(name)?;
        // Nothing of the environment may run while the tree is looked at.
        if rec.state == EnvState::Running {
            self.stop(name).await?;
        }
        // A tree warren made, unchanged since (its `.git` included), is
        // clean and has no new commit: no git needed to know.
        let untouched = snapshot.is_some_and(|s| s.unchanged());
        let rec = self.record(name)?;
        let has_commits = !untouched && self.has_new_commits(&rec);
        let opts = RmOptions {
            force: false,
            delete_branch: !has_commits,
        };
        match self.rm_checked(name, opts, untouched.then(Vec::new)).await {
            Ok(_) => Ok(Teardown::Removed {
                branch_kept: has_commits,
            }),
            Err(EnvError::Dirty { count, .. }) => Ok(Teardown::KeptDirty { changes: count }),
            Err(e @ (EnvError::CommitsNotBroughtBack { .. } | EnvError::Unproven { .. })) => {
                Ok(Teardown::Kept {
                    reason: e.to_string(),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Runs `cmd` in environment `name` with `env` added, and returns its
    /// exit code. On the sandbox runtime this process itself becomes the
    /// sandbox helper (no async runtime, no threads, no re-exec: signals
    /// reach the command through the sandbox's init); call it before
    /// anything in the process starts a thread.
    pub fn exec_blocking(
        self,
        name: &str,
        cmd: Vec<String>,
        env: Vec<(String, String)>,
        tty: bool,
        stdin: bool,
    ) -> Result<i64, EnvError> {
        let (rec, mut exec) = self.exec_spec(name, cmd)?;
        for (k, v) in env {
            exec.env.retain(|(n, _)| *n != k);
            exec.env.push((k, v));
        }
        if rec.runtime == RuntimeKind::Sandbox {
            let id = Self::container_id(&rec)?.to_string();
            let sandbox = self.sandbox.clone();
            // The store connection closes before this process turns into
            // the command's helper.
            drop(self);
            return Ok(i64::from(sandbox.exec_in_place(&id, &exec, tty)?));
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| EnvError::Io("cannot start the async runtime".into(), e))?;
        let status: ExitStatus =
            rt.block_on(self.exec_with(&rec, &exec, ExecIo::Inherit { tty, stdin }))?;
        Ok(status.code)
    }
}
