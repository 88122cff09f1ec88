//! `warren rm [--force] [--delete-branch] NAME…`, `warren rm --all [--project P]`.

use std::process::ExitCode;

use warren_env::RmOptions;

use crate::cli::RmArgs;
use crate::commands::{Ctx, each_name};
use crate::output::printer;

pub fn rm(ctx: &Ctx, args: RmArgs) -> anyhow::Result<ExitCode> {
    let warren = ctx.warren()?;
    let opts = RmOptions {
        force: args.force,
        delete_branch: args.delete_branch,
    };
    let names = if args.all {
        warren
            .store()
            .environments()?
            .into_iter()
            .filter(|r| args.project.as_deref().is_none_or(|p| r.project == p))
            .map(|r| r.name)
            .collect()
    } else {
        args.names
    };
    if names.is_empty() {
        printer().message("No environment to remove.");
        return Ok(ExitCode::SUCCESS);
    }
    each_name(&names, |name| {
        match ctx.block_on(warren.rm(name, opts))? {
            Ok(outcome) => {
                ctx.reporter().clear();
                let verb = if outcome.branch_deleted {
                    "deleted"
                } else {
                    "kept"
                };
                let what = if outcome.main_checkout {
                    "the main checkout is untouched".to_string()
                } else {
                    format!("branch {} {verb}", outcome.branch)
                };
                printer().status("Removed", &format!("{name} ({what})"));
                Ok(())
            }
            Err(e) => Err(anyhow::Error::new(e).context(format!("cannot remove `{name}`"))),
        }
    })
}
