//! `warren validate [FILE…]`: every error and warning of the given config
//! files (default: the project's and the global one) with file:line:col.

use std::process::ExitCode;

use warren_config::{Diagnostic, validate_global, validate_paths, validate_project};

use crate::cli::ValidateArgs;
use crate::commands::{Ctx, UserError};
use crate::output::{Stream, Style, plural, printer};

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
        // The root only: the global config is what is being checked, so a
        // broken one must not stop the check.
        let root = warren_config::Settings::load(
            &|k: &str| {
                (k == warren_core::vars::WARREN_ROOT)
                    .then(|| lookup(k))
                    .flatten()
            },
            ctx.host.home().as_deref(),
            &cwd,
        )?
        .root;
        d.extend(validate_global(&root, &lookup));
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
    let p = printer();
    if args.json {
        p.json(&serde_json::json!({
            "ok": errors == 0,
            "errors": errors,
            "warnings": warnings,
            "diagnostics": diags,
        }))?;
    } else {
        let c = p.color(Stream::Err);
        for d in &diags {
            p.err_line(&d.render(c));
        }
        if errors == 0 {
            let extra = if warnings > 0 {
                format!(" ({})", plural(warnings, "warning", "warnings"))
            } else {
                String::new()
            };
            p.message(&format!(
                "{} configuration is valid{extra}",
                p.paint(Stream::Err, Style::Green, "ok:")
            ));
        } else {
            p.err_line(&format!(
                "{}: {}, {}",
                p.paint(Stream::Err, Style::Red, "error"),
                plural(errors, "error", "errors"),
                plural(warnings, "warning", "warnings")
            ));
        }
    }
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
