//! `warren apply` (an environment's changes into the main checkout, uncommitted)
//! and `warren push` (its branch to the project's remote).
//!
//! Both end in the user's own repository with the user's own git (their config,
//! their hooks, their credentials), on data warren made: a patch the host's git
//! computed between two trees of the shadow, or commits fetched and checked into
//! `refs/heads/warren/NAME`.

use std::io::Write as _;
use std::process::Stdio;

use serde::Serialize;

use super::user_git;
use crate::error::EnvError;
use crate::manager::Warren;

/// What `apply` did.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    /// The files changed in the main checkout.
    pub files: Vec<String>,
}

/// What `push` did.
#[derive(Debug, Clone, Serialize)]
pub struct Pushed {
    pub remote: String,
    pub branch: String,
    pub commit: String,
    /// Changed files that are not committed in the environment (not pushed).
    pub uncommitted: usize,
}

impl Warren {
    /// Puts everything `name` changed since it was created into the main
    /// checkout as uncommitted changes. All or nothing: when a change does not
    /// apply (the file changed there too, or a file it creates already exists),
    /// nothing is written and the error names the files.
    pub fn apply(&self, name: &str) -> Result<Applied, EnvError> {
        let rec = self.record(name)?;
        let c = self.capture(&rec)?;
        let files = super::diff::changed_files(&c.shadow, &c.base, &c.tree, &[])
            .map_err(|e| EnvError::Other(format!("cannot read the changes of `{name}`: {e}")))?;
        if files.is_empty() {
            return Ok(Applied { files: Vec::new() });
        }
        let mut diff = c.shadow.git();
        diff.args([
            "diff",
            "--binary",
            "--full-index",
            "-M",
            "--no-ext-diff",
            "--no-textconv",
            "--color=never",
            &c.base,
            &c.tree,
        ]);
        let patch = crate::repo::run_bytes(diff, "diff --binary")
            .map_err(|e| EnvError::Other(format!("cannot make the patch of `{name}`: {e}")))?;
        let checkout = &rec.project_path;
        let apply = |check: bool| -> Result<(), EnvError> {
            let mut git = user_git(checkout);
            git.arg("apply");
            if check {
                git.arg("--check");
            }
            git.arg("-")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = git
                .spawn()
                .map_err(|e| EnvError::Io("running git apply".into(), e))?;
            if let Some(mut stdin) = child.stdin.take() {
                let _ = stdin.write_all(&patch);
            }
            let out = child
                .wait_with_output()
                .map_err(|e| EnvError::Io("running git apply".into(), e))?;
            if out.status.success() {
                return Ok(());
            }
            Err(EnvError::Other(format!(
                "the changes of `{name}` do not apply to the main checkout `{}`; nothing was changed:\n{}\nLand it instead (`warren land {name}`), or make the main checkout match the commit it started from",
                checkout.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        };
        apply(true)?;
        apply(false)?;
        self.log_event(
            name,
            &format!("applied {} file(s) to the main checkout", files.len()),
        );
        Ok(Applied {
            files: files.into_iter().map(|f| f.path).collect(),
        })
    }

    /// Pushes `name`'s branch (its commits, brought back first) to `remote` (by
    /// default the remote of the main checkout's branch, else `origin`).
    pub async fn push(&self, name: &str, remote: Option<&str>) -> Result<Pushed, EnvError> {
        let rec = self.record(name)?;
        let checkout = rec.project_path.clone();
        let remote = match remote {
            Some(r) => r.to_string(),
            None => default_remote(&checkout).ok_or_else(|| {
                EnvError::Other(format!(
                    "the repository `{}` has no remote to push to: add one (`git remote add origin URL`) or pass `--remote`",
                    checkout.display()
                ))
            })?,
        };
        if remote.is_empty() || remote.starts_with('-') {
            return Err(EnvError::Other(format!(
                "`{remote}` is not a remote name or URL"
            )));
        }
        let commit = self.bring_back(&rec).await?;
        let uncommitted = match self.capture(&rec) {
            Ok(c) => super::diff::changed_files(&c.shadow, &commit, &c.tree, &[])
                .map(|f| f.len())
                .unwrap_or(0),
            Err(_) => 0,
        };
        let refspec = format!("refs/heads/{0}:refs/heads/{0}", rec.branch);
        let out = user_git(&checkout)
            .args(["push", "--quiet", "--", &remote, &refspec])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| EnvError::Io("running git push".into(), e))?;
        if !out.status.success() {
            return Err(EnvError::Other(format!(
                "git push to `{remote}` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        self.log_event(
            name,
            &format!("pushed {} at {commit} to {remote}", rec.branch),
        );
        Ok(Pushed {
            remote,
            branch: rec.branch.clone(),
            commit,
            uncommitted,
        })
    }
}

/// The remote of the main checkout's current branch, else `origin` when it exists.
fn default_remote(checkout: &std::path::Path) -> Option<String> {
    let get = |args: &[&str]| -> Option<String> {
        let out = user_git(checkout).args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    if let Some(branch) = get(&["symbolic-ref", "--quiet", "--short", "HEAD"])
        && let Some(r) = get(&["config", &format!("branch.{branch}.remote")])
    {
        return Some(r);
    }
    get(&["remote"])?
        .lines()
        .find(|r| *r == "origin")
        .map(str::to_string)
}
