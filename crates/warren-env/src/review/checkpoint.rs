//! Checkpoints: an environment's whole tree (uncommitted and untracked files
//! included) recorded as a commit on a ref of warren's own,
//! `refs/warren/checkpoints/NAME/N` in the main repository, without touching
//! the agent's branch, index or files. `rewind` puts a checkpoint's tree back
//! (inside the environment, by its own git); `fork` starts a new environment
//! from one.
//!
//! The commit is made by the host's git in the project's shadow from the tree
//! it read as data ([`super::Shadow::tree_of`]), then fetched into the main
//! repository (which an environment can read but not write), so that the
//! environment's git finds it through its object alternates when rewinding.

use serde::Serialize;
use warren_store::EnvRecord;

use super::Shadow;
use crate::error::EnvError;
use crate::git::Repo;
use crate::manager::Warren;
use crate::repo::{host_git, is_object_name, run};

/// One checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checkpoint {
    /// 1, 2, … per environment.
    pub id: u32,
    pub commit: String,
    /// Unix time it was recorded.
    pub time: i64,
    pub message: String,
}

/// What `checkpoint` did.
#[derive(Debug, Clone, Serialize)]
pub struct Recorded {
    pub checkpoint: Checkpoint,
    /// False when the tree had not changed since the last checkpoint (which is
    /// returned instead of a new one).
    pub new: bool,
}

fn prefix(name: &str) -> String {
    format!("refs/warren/checkpoints/{name}/")
}

/// The checkpoints of environment `name`, oldest first.
pub fn list(main: &Repo, name: &str) -> Result<Vec<Checkpoint>, EnvError> {
    let mut c = host_git();
    c.arg("--git-dir").arg(&main.git_dir).args([
        "for-each-ref",
        "--format=%(refname)%00%(objectname)%00%(creatordate:unix)%00%(contents:subject)",
        &prefix(name),
    ]);
    let out = run(c, "for-each-ref").map_err(|e| EnvError::Other(e.to_string()))?;
    let mut cps: Vec<Checkpoint> = out
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\0');
            let id = f.next()?.strip_prefix(&prefix(name))?.parse().ok()?;
            let commit = f.next()?.to_string();
            let time = f.next()?.parse().unwrap_or(0);
            let message = f.next().unwrap_or("").to_string();
            is_object_name(&commit).then_some(Checkpoint {
                id,
                commit,
                time,
                message,
            })
        })
        .collect();
    cps.sort_by_key(|c| c.id);
    Ok(cps)
}

/// Records a checkpoint of `rec`'s tree under `root` (callable from any thread:
/// the watcher records one at each `idle`).
pub fn record(
    root: &std::path::Path,
    rec: &EnvRecord,
    message: &str,
) -> Result<Recorded, EnvError> {
    let c = super::diff::capture(root, rec)?;
    let main = Repo::at_checkout(&rec.project_path);
    let cps = list(&main, &rec.name)?;
    let err = |e: crate::git::GitError| {
        EnvError::Other(format!("cannot record a checkpoint of `{}`: {e}", rec.name))
    };
    if let Some(last) = cps.last()
        && tree_of(&c.shadow, &last.commit).as_deref() == Some(c.tree.as_str())
    {
        return Ok(Recorded {
            checkpoint: last.clone(),
            new: false,
        });
    }
    let parent = cps
        .last()
        .map(|l| l.commit.clone())
        .unwrap_or(c.base.clone());
    let id = cps.last().map(|l| l.id + 1).unwrap_or(1);
    let message = if message.trim().is_empty() {
        format!("checkpoint {id} of {}", rec.name)
    } else {
        message.trim().to_string()
    };
    let commit = c
        .shadow
        .commit(&c.tree, &[&parent], &message)
        .map_err(err)?;
    c.shadow
        .publish(&commit, &format!("{}{id}", prefix(&rec.name)))
        .map_err(err)?;
    let time = warren_core::time::now_unix();
    Ok(Recorded {
        checkpoint: Checkpoint {
            id,
            commit,
            time,
            message,
        },
        new: true,
    })
}

/// The tree of `commit` (which the shadow can see).
fn tree_of(shadow: &Shadow, commit: &str) -> Option<String> {
    let mut c = shadow.git();
    c.args([
        "rev-parse",
        "--verify",
        "--quiet",
        &format!("{commit}^{{tree}}"),
    ]);
    run(c, "rev-parse").ok().map(|s| s.trim().to_string())
}

/// What `rewind` did.
#[derive(Debug, Clone, Serialize)]
pub struct Rewound {
    /// The checkpoint put back.
    pub restored: Checkpoint,
    /// The tree as it was just before, recorded first (nothing is lost).
    pub before: Checkpoint,
}

impl Warren {
    /// `warren checkpoint NAME [-m MSG]`.
    pub fn checkpoint(&self, name: &str, message: &str) -> Result<Recorded, EnvError> {
        let rec = self.record(name)?;
        let done = record(&self.root, &rec, message)?;
        if done.new {
            self.log_event(
                name,
                &format!(
                    "checkpoint {} recorded ({})",
                    done.checkpoint.id, done.checkpoint.commit
                ),
            );
        }
        Ok(done)
    }

    /// `warren checkpoints NAME`.
    pub fn checkpoints(&self, name: &str) -> Result<Vec<Checkpoint>, EnvError> {
        let rec = self.record(name)?;
        list(&Repo::at_checkout(&rec.project_path), name)
    }

    fn find_checkpoint(&self, rec: &EnvRecord, id: u32) -> Result<Checkpoint, EnvError> {
        let cps = list(&Repo::at_checkout(&rec.project_path), &rec.name)?;
        cps.into_iter().find(|c| c.id == id).ok_or_else(|| {
            EnvError::Other(format!(
                "`{}` has no checkpoint {id} (see `warren checkpoints {}`)",
                rec.name, rec.name
            ))
        })
    }

    /// `warren rewind NAME CHECKPOINT`: the environment's files become the
    /// checkpoint's (its branch, commits and index stay); the tree as it was is
    /// recorded as a checkpoint first. Runs the environment's own git inside it.
    pub async fn rewind(&self, name: &str, id: u32) -> Result<Rewound, EnvError> {
        let rec = self.record(name)?;
        if rec.state != warren_core::EnvState::Running {
            return Err(EnvError::Other(format!(
                "`{name}` is {}: start it first (`warren start {name}`); rewinding runs git inside it",
                rec.state
            )));
        }
        let target = self.find_checkpoint(&rec, id)?;
        let before = record(
            &self.root,
            &rec,
            &format!("before rewinding to checkpoint {id}"),
        )?
        .checkpoint;
        // Files there now that the checkpoint does not have: removed inside.
        let c = self.capture(&rec)?;
        let mut added = c.shadow.git();
        added.args([
            "diff",
            "--name-only",
            "--no-renames",
            "--diff-filter=A",
            "-z",
            &target.commit,
            &c.tree,
        ]);
        let extra = run(added, "diff --name-only").map_err(|e| EnvError::Other(e.to_string()))?;
        let extra: Vec<String> = extra
            .split('\0')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        let script = format!(
            "set -e; git -c core.hooksPath=/dev/null -c core.fsmonitor=false restore --source={} --worktree -- . ; if [ $# -gt 0 ]; then rm -f -- \"$@\"; fi",
            target.commit
        );
        let mut argv = vec!["sh".to_string(), "-c".into(), script, "sh".into()];
        argv.extend(extra);
        let ran = self.run_inside(&rec, argv).await?;
        let (code, err) = (ran.code, ran.stderr);
        if code != 0 {
            return Err(EnvError::Other(format!(
                "rewinding `{name}` to checkpoint {id} failed inside it (exit {code}): {}; its tree as it was is checkpoint {}",
                String::from_utf8_lossy(&err).trim(),
                before.id
            )));
        }
        self.log_event(
            name,
            &format!(
                "rewound to checkpoint {id} (the tree before is checkpoint {})",
                before.id
            ),
        );
        Ok(Rewound {
            restored: target,
            before,
        })
    }

    /// `warren fork NAME NEW [--at CHECKPOINT]`: a new environment of the same
    /// type, on branch `warren/NEW` at the checkpoint (a new one of the tree as
    /// it is now when none is named).
    pub async fn fork(
        &self,
        name: &str,
        new: &str,
        at: Option<u32>,
    ) -> Result<Checkpoint, EnvError> {
        let rec = self.record(name)?;
        warren_core::validate_name(new)
            .map_err(|e| EnvError::Other(format!("invalid name `{new}`: {e}")))?;
        if self.store.environment(new)?.is_some() {
            return Err(EnvError::Other(format!(
                "an environment named `{new}` exists already"
            )));
        }
        let cp = match at {
            Some(id) => self.find_checkpoint(&rec, id)?,
            None => record(&self.root, &rec, &format!("forked to {new}"))?.checkpoint,
        };
        let main = Repo::at_checkout(&rec.project_path);
        let branch = format!("warren/{new}");
        if main.branch_exists(&branch) {
            return Err(EnvError::Other(format!(
                "branch `{branch}` exists already in `{}`: pick another name, or delete it (`git branch -D {branch}`)",
                rec.project_path.display()
            )));
        }
        crate::repo::set_branch(&main, &branch, &cp.commit)
            .map_err(|e| EnvError::Other(e.to_string()))?;
        let req = crate::RunRequest {
            path: rec.project_path.clone(),
            name: Some(new.to_string()),
            env_type: rec.env_type.clone(),
            runtime: Some(match rec.runtime {
                warren_core::RuntimeKind::Docker => warren_config::RuntimeChoice::Docker,
                warren_core::RuntimeKind::Sandbox => warren_config::RuntimeChoice::Sandbox,
                warren_core::RuntimeKind::Host => warren_config::RuntimeChoice::Host,
            }),
            ..crate::RunRequest::default()
        };
        let made = async {
            let plan = self.plan(&req).await?;
            for w in &plan.warnings {
                self.reporter.diagnostic(w);
            }
            self.create(&plan.value).await
        }
        .await;
        if let Err(e) = made {
            // Nothing half-made: the branch goes with the failed environment.
            let mut d = host_git();
            d.arg("--git-dir").arg(&main.git_dir).args([
                "update-ref",
                "-d",
                &format!("refs/heads/{branch}"),
                &cp.commit,
            ]);
            let _ = run(d, "update-ref -d");
            return Err(e);
        }
        self.log_event(name, &format!("forked to {new} at checkpoint {}", cp.id));
        Ok(cp)
    }
}
