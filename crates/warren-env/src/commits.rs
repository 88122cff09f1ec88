//! Bringing an environment's commits back into the main repository, and
//! proving its tree clean, without the host running git in the
//! environment's repository (see [`crate::repo`] and docs/SECURITY.md).

use warren_core::EnvState;
use warren_runtime::{ExecIo, Stream};
use warren_store::EnvRecord;

use crate::error::EnvError;
use crate::git::Repo;
use crate::manager::Warren;
use crate::repo;

/// Largest bundle taken from an environment (a bigger one is refused, not
/// written to the host's disk).
const MAX_BUNDLE: usize = 2 << 30;

impl Warren {
    /// Whether `rec` works on the project's main checkout (`manager`): it has no
    /// tree or branch of its own, and nothing warren does to an environment's
    /// tree or branch (remove, reset, bring commits back) may touch it. Also
    /// true whenever its tree is the project's checkout, whatever its spec says.
    pub fn on_main_checkout(rec: &EnvRecord) -> bool {
        let same = |a: &std::path::Path, b: &std::path::Path| {
            a == b
                || matches!(
                    (std::fs::canonicalize(a), std::fs::canonicalize(b)),
                    (Ok(a), Ok(b)) if a == b
                )
        };
        same(&rec.worktree, &rec.project_path) || Self::spec_of(rec).is_ok_and(|s| s.main_checkout)
    }

    /// Brings the commits on the environment's branch into the main
    /// repository's `refs/heads/warren/NAME` (only that ref). Returns the
    /// branch's tip. The bundle is made by git inside the environment (which
    /// must run for that), fetched as data with every object checked.
    pub async fn bring_back(&self, rec: &EnvRecord) -> Result<String, EnvError> {
        let main = Repo::at_checkout(&rec.project_path);
        let unproven = |reason: String| EnvError::CommitsNotBroughtBack {
            name: rec.name.clone(),
            reason,
        };
        if Self::on_main_checkout(rec) {
            return Err(unproven(
                "the manager works on the main checkout: it has no branch of its own".into(),
            ));
        }
        let tip = repo::tip(&rec.worktree, &rec.branch)
            .ok_or_else(|| unproven(format!("its branch `{}` cannot be read", rec.branch)))?;
        let have = main.branch_tip(&rec.branch);
        if have.as_deref() == Some(tip.as_str()) {
            return Ok(tip);
        }
        let main2 = main.clone();
        let t2 = tip.clone();
        let known = tokio::task::spawn_blocking(move || repo::has_commit(&main2, &t2))
            .await
            .unwrap_or(false);
        if known {
            repo::set_branch(&main, &rec.branch, &tip)?;
            return Ok(tip);
        }
        if rec.state != EnvState::Running {
            return Err(unproven(format!(
                "it has commits that are not in the main repository yet, and it is {}",
                rec.state
            )));
        }
        let have = have
            .or_else(|| Self::spec_of(rec).ok().and_then(|s| s.base_commit))
            .ok_or_else(|| unproven("the commit it started at is unknown".into()))?;
        let mut exec = self.exec_base(&Self::spec_of(rec)?);
        exec.cmd = repo::bundle_argv(&rec.branch, &have);
        let mut bundle: Vec<u8> = Vec::new();
        let mut stderr: Vec<u8> = Vec::new();
        let mut too_big = false;
        let status = {
            let mut sink = |s: Stream, b: &[u8]| match s {
                Stream::Stdout if bundle.len() + b.len() <= MAX_BUNDLE => {
                    bundle.extend_from_slice(b)
                }
                Stream::Stdout => too_big = true,
                Stream::Stderr if stderr.len() < 8192 => stderr.extend_from_slice(b),
                Stream::Stderr => {}
            };
            let runtime = self.runtime(rec.runtime).await?;
            runtime
                .exec(Self::container_id(rec)?, &exec, ExecIo::Capture(&mut sink))
                .await
        };
        let status = match status {
            Ok(s) => s,
            Err(e) => {
                return Err(unproven(format!("git could not run inside it ({e})")));
            }
        };
        if too_big {
            return Err(unproven(format!(
                "its commits make a bundle of more than {} GiB",
                MAX_BUNDLE >> 30
            )));
        }
        if !status.success() {
            let said = String::from_utf8_lossy(&stderr);
            return Err(unproven(format!(
                "`git bundle` inside it failed with code {}: {}",
                status.code,
                said.trim()
            )));
        }
        let path =
            self.root
                .join("tmp")
                .join(format!("{}-{}.bundle", rec.name, std::process::id()));
        repo::write_private(&path, &bundle)
            .map_err(|e| EnvError::Io(format!("cannot write `{}`", path.display()), e))?;
        let (main2, p2, branch) = (main.clone(), path.clone(), rec.branch.clone());
        let fetched =
            tokio::task::spawn_blocking(move || repo::fetch_bundle(&main2, &p2, &branch)).await;
        let _ = std::fs::remove_file(&path);
        match fetched {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(unproven(format!("its bundle was refused: {e}"))),
            Err(e) => return Err(unproven(e.to_string())),
        }
        if main.branch_tip(&rec.branch).as_deref() != Some(tip.as_str()) {
            return Err(unproven(
                "its bundle did not hold the commit its branch points at".into(),
            ));
        }
        self.log_event(&rec.name, &format!("brought back {} at {tip}", rec.branch));
        Ok(tip)
    }

    /// The uncommitted changes of the environment's tree against `commit`
    /// (in the main repository), read by the host's git as data.
    pub(crate) async fn tree_changes(
        &self,
        rec: &EnvRecord,
        commit: &str,
    ) -> Result<Vec<String>, EnvError> {
        let main = Repo::at_checkout(&rec.project_path);
        let (tree, commit, scratch) = (
            rec.worktree.clone(),
            commit.to_string(),
            self.root.join("tmp"),
        );
        tokio::task::spawn_blocking(move || repo::status(&main, &tree, &commit, &scratch))
            .await
            .map_err(|e| EnvError::Other(e.to_string()))?
            .map_err(|e| EnvError::Unproven {
                name: rec.name.clone(),
                reason: e.to_string(),
            })
    }
}
