//! `warren validate [FILE…]`: every error and warning of the given config
//! files (default: the project's and the global one) with file:line:col.

use std::process::ExitCode;

use warren_config::{Diagnostic, validate_global, validate_paths, validate_project};

use crate::cli::ValidateArgs;
use crate::commands::{Ctx, UserError};
use crate::printer::{Style, message, out, paint, stderr_color};

pub fn validate(ctx: &Ctx, args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let host = ctx.host.clone();
    let lookup = move |k: &str| host.get(k).map(str::to_string);
    let diags: Vec<Diagnostic> = if args.files.is_empty() {
        let cwd = std::env::current_dir()?;
        let repo = warren_env::git::Repo::discover(&cwd).map_err(|e| {
            UserError::msg(
                format!("{e}"),
                Some("run `warren validate` inside a project, or name the files: `warren validate .warren.yaml`".into()),
            )
        })?;
        let mut d = validate_project(&repo.root, &lookup);
        d.extend(validate_global(&ctx.root, &lookup));
        d
    } else {
        for f in &args.files {
            if !f.is_file() {
                return Err(UserError::msg(
                    format!("`{}` does not exist", f.display()),
                    Some(
                        "give the path of a .warren.yaml, devcontainer.json or config.yaml".into(),
                    ),
                ));
            }
        }
        validate_paths(&args.files, &lookup)
    };
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    if args.json {
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&serde_json::json!({
                "ok": errors == 0,
                "errors": errors,
                "warnings": warnings,
                "diagnostics": diags,
            }))?
        ));
    } else {
        let c = stderr_color();
        for d in &diags {
            message(&d.render(c));
        }
        if errors == 0 {
            message(&format!(
                "{} configuration is valid{}",
                paint(c, Style::Green, "ok:"),
                if warnings > 0 {
                    format!(" ({warnings} warning(s))")
                } else {
                    String::new()
                }
            ));
        } else {
            message(&format!(
                "{}: {errors} error(s), {warnings} warning(s)",
                paint(c, Style::Red, "error")
            ));
        }
    }
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
