//! `warren task "PROMPT"`: the CLI director. Submits the prompt to an agent,
//! streams its progress, prints the result. What the agent prints came from
//! its environment: it is shown without terminal control sequences.

use std::process::ExitCode;

use serde_json::Value;
use warren_agent::director::{self, Client, Submission};
use warren_core::TaskState;

use crate::cli::TaskArgs;
use crate::commands::Ctx;
use crate::output::{Stream, Style, printer, sanitize};

/// Ctrl-C (or SIGTERM) while following a task cancels it on the agent (the
/// wait then ends with its partial output); a second one leaves at once.
fn cancel_on_interrupt(client: Client, task_id: String) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return;
            };
            tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
            printer().message(&format!(
                "cancelling task {task_id} (Ctrl-C again to leave it running)"
            ));
            let c = client.clone();
            let id = task_id.clone();
            let _ = tokio::task::spawn_blocking(move || {
                c.post(&format!("/task/{id}/cancel"), &serde_json::json!({}))
            })
            .await;
            tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
            std::process::exit(130);
        });
    });
}

/// One progress event as a line on stderr.
fn progress_line(data: &Value) -> Option<String> {
    let p = printer();
    let kind = data["kind"].as_str().unwrap_or("");
    let text = sanitize(data["text"].as_str().unwrap_or(""));
    Some(match kind {
        "text" => text,
        "tool" => format!("  → {text}"),
        "error" => format!("  {} {text}", p.paint(Stream::Err, Style::Red, "!")),
        "retry" => format!("  {} {text}", p.paint(Stream::Err, Style::Yellow, "↻")),
        "init" | "status" => format!(
            "  {}",
            p.paint(Stream::Err, Style::Dim, &format!("· {text}"))
        ),
        _ => format!("  · {text}"),
    })
}

pub fn task(ctx: &Ctx, args: TaskArgs) -> anyhow::Result<ExitCode> {
    let root = ctx.root()?;
    let p = printer();
    let target = director::find_agent(&root, args.agent.as_deref())?;
    let client = Client::new(&root, &target.url)?;
    let sub = Submission {
        // Required by clap unless a subcommand was given.
        prompt: args.prompt.clone().unwrap_or_default(),
        session_id: args.session.clone(),
        model: args.model.clone(),
        timeout_seconds: args.timeout,
    };
    let (task_id, _) = director::submit(&client, &sub)?;
    let who = target.name.clone().unwrap_or_else(|| target.url.clone());
    if args.detach {
        p.out(&format!("{task_id}\n"));
        p.message(&format!("task {task_id} started on {who}"));
        return Ok(ExitCode::SUCCESS);
    }
    p.message(&format!("task {task_id} on {who}"));
    cancel_on_interrupt(client.clone(), task_id.clone());
    let task = director::wait(&client, &task_id, |name, data| {
        if name == "progress"
            && !p.quiet()
            && let Some(line) = progress_line(data)
        {
            p.err_line(&line);
        }
    })?;
    if args.json {
        p.json(&task)?;
    }
    let error_message = task.error.as_ref().map(|e| e.message.trim());
    if !args.json && !task.output.is_empty() && Some(task.output.trim()) != error_message {
        p.out(&format!("{}\n", sanitize(&task.output)));
    }
    if let Some(e) = &task.error {
        p.err_line(&format!(
            "{}: task {} {}: {} ({})",
            p.paint(Stream::Err, Style::Red, "error"),
            task.task_id,
            task.state,
            sanitize(&e.message),
            e.kind
        ));
        let reason = e.details.get("reason").and_then(Value::as_str);
        if let Some(r) = e.details.get("resets").and_then(Value::as_str) {
            p.hint(&format!("the limit resets {}", sanitize(r)));
        } else if reason == Some("not_logged_in")
            && let Some(tool) = warren_core::tools::tool(&task.tool)
            && !e.message.contains(tool.login_hint)
        {
            p.hint(tool.login_hint);
        } else if reason == Some("not_installed") {
            p.hint(&format!(
                "the agent cannot find `{}` any more: install it again where it was, or point `{}` (or `tools.{}.bin`) at it and restart its `warren agent serve`",
                task.tool,
                warren_core::vars::tool_bin_var(&task.tool),
                task.tool
            ));
        }
    }
    if task.state == TaskState::Completed
        && let Some(s) = &task.session_id
    {
        let agent = target.name.as_deref().unwrap_or(&target.url);
        p.message(&format!("session: {s}"));
        p.message(&format!(
            "continue with: warren task --agent {agent} --session {s} \"…\""
        ));
    }
    Ok(if task.state == TaskState::Completed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
