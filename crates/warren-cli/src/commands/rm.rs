//! `warren rm [--force] [--delete-branch] NAME…`.

use std::process::ExitCode;

use warren_env::{EnvError, RmOptions};

use crate::cli::RmArgs;
use crate::commands::Ctx;
use crate::printer::{Style, message, paint, stderr_color};

pub fn rm(ctx: &Ctx, args: RmArgs) -> anyhow::Result<ExitCode> {
    let warren = ctx.warren(true)?;
    let opts = RmOptions {
        force: args.force,
        delete_branch: args.delete_branch,
    };
    let color = stderr_color();
    let mut failed = false;
    for name in &args.names {
        match ctx.block_on(warren.rm(name, opts))? {
            Ok(outcome) => {
                let branch = if outcome.branch_deleted {
                    format!("branch {} deleted", outcome.branch)
                } else {
                    format!("branch {} kept", outcome.branch)
                };
                message(&format!(
                    "{} {name} ({branch})",
                    paint(color, Style::Green, "Removed")
                ));
            }
            Err(e) => {
                let detail = match &e {
                    EnvError::Dirty { sample, count, .. } => {
                        let mut s = sample
                            .iter()
                            .map(|l| format!("\n    {l}"))
                            .collect::<String>();
                        if *count > sample.len() {
                            s.push_str(&format!("\n    … and {} more", count - sample.len()));
                        }
                        s
                    }
                    _ => String::new(),
                };
                let err = anyhow::Error::new(e).context(format!("cannot remove `{name}`{detail}"));
                if args.names.len() == 1 {
                    return Err(err);
                }
                crate::report::print_error(&err);
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
