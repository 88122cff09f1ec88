//! Review and land (docs/review.md): what each environment changed, where
//! environments clash, and bringing their work back — all on data the host
//! reads through a [`shadow::Shadow`] or fetched into refs of its own.

pub mod apply;
pub mod checkpoint;
pub mod conflicts;
pub mod diff;
pub mod feed;
pub mod land;
pub mod shadow;
mod unchanged;

pub use diff::{Captured, ChangeSummary, DiffFormat, FileChange};
pub use shadow::Shadow;

use std::path::Path;
use std::process::{Command, Stdio};

use warren_runtime::{ExecIo, Stream};
use warren_store::EnvRecord;

use crate::error::EnvError;
use crate::manager::Warren;

/// The user's own git in the main checkout (their config and hooks: it is
/// their repository).
pub(crate) fn user_git(root: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(root)
        .stdin(Stdio::null())
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_OBJECT_DIRECTORY")
        .env_remove("GIT_ALTERNATE_OBJECT_DIRECTORIES")
        .env_remove("GIT_COMMON_DIR");
    c
}

/// Captured output of a command run inside.
pub(crate) struct Ran {
    pub code: i64,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

const MAX_OUT: usize = 1 << 20;

impl Warren {
    /// Runs `argv` inside `rec` (which runs) and captures what it prints
    /// (the first MiB of stdout, the last of stderr).
    pub(crate) async fn run_inside(
        &self,
        rec: &EnvRecord,
        argv: Vec<String>,
    ) -> Result<Ran, EnvError> {
        let mut exec = self.exec_base(&Self::spec_of(rec)?);
        exec.cmd = argv;
        let mut stdout = Vec::new();
        let mut stderr: Vec<u8> = Vec::new();
        let status = {
            let mut sink = |s: Stream, b: &[u8]| match s {
                Stream::Stdout => {
                    let room = MAX_OUT.saturating_sub(stdout.len());
                    stdout.extend_from_slice(&b[..b.len().min(room)]);
                }
                Stream::Stderr => {
                    stderr.extend_from_slice(b);
                    if stderr.len() > 2 * MAX_OUT {
                        stderr.drain(..stderr.len() - MAX_OUT);
                    }
                }
            };
            self.exec_with(rec, &exec, ExecIo::Capture(&mut sink))
                .await?
        };
        Ok(Ran {
            code: status.code,
            stdout,
            stderr,
        })
    }
}
