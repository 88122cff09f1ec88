//! `warren task ls [--agent A]` and `warren task show ID`: the task history,
//! read from the store rather than the agent's API, so it works with the
//! agent stopped and needs no token. Prompts, outputs and error messages
//! came from a tool inside an environment: shown sanitized.

use std::process::ExitCode;

use serde::Serialize;
use warren_agent::history::{TaskSummary, TaskView};
use warren_core::TaskState;
use warren_store::{Store, TaskRecord};

use crate::cli::{TaskCommand, TaskLsArgs, TaskShowArgs};
use crate::commands::{Ctx, UserError};
use crate::output::{Stream, Style, age, printer, sanitize};

pub fn task_history(ctx: &Ctx, cmd: TaskCommand) -> anyhow::Result<ExitCode> {
    let root = ctx.root()?;
    let store = Store::open(&root)?;
    match cmd {
        TaskCommand::Ls(args) => ls(&store, args),
        TaskCommand::Show(args) => show(&store, args),
    }
}

/// A row of `task ls --json`: the API's history row, plus who ran it.
#[derive(Serialize)]
struct Row {
    agent: String,
    tool: String,
    #[serde(flatten)]
    summary: TaskSummary,
    token_usage: Option<warren_agent::adapters::Usage>,
}

fn ls(store: &Store, args: TaskLsArgs) -> anyhow::Result<ExitCode> {
    let p = printer();
    let tasks = store.recent_tasks(args.agent.as_deref(), args.limit)?;
    let now_ms = warren_core::time::now_ms();
    if args.json {
        let rows: Vec<Row> = tasks
            .iter()
            .map(|t| {
                let view = TaskView::from_record(t, now_ms);
                Row {
                    agent: t.agent.clone(),
                    tool: t.tool.clone(),
                    summary: TaskSummary::from_record(t, now_ms),
                    token_usage: view.token_usage,
                }
            })
            .collect();
        p.json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    if p.quiet() {
        p.out(
            &tasks
                .iter()
                .map(|t| format!("{}\n", t.id))
                .collect::<String>(),
        );
        return Ok(ExitCode::SUCCESS);
    }
    if tasks.is_empty() {
        let known = store.agents()?;
        let msg = match &args.agent {
            Some(a) if !known.iter().any(|k| &k.name == a) => {
                let names: Vec<_> = known.iter().map(|k| k.name.as_str()).collect();
                if names.is_empty() {
                    format!("no tasks of agent `{a}`")
                } else {
                    format!("no tasks of agent `{a}` (agents: {})", names.join(", "))
                }
            }
            Some(a) => format!("no tasks of agent `{a}` yet"),
            None => "no tasks yet; hand an agent one with `warren task \"PROMPT\"`".into(),
        };
        p.message(&msg);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            let view = TaskView::from_record(t, now_ms);
            vec![
                p.paint(Stream::Out, Style::Cyan, &t.id),
                t.agent.clone(),
                p.paint(Stream::Out, state_style(t.state), t.state.as_str()),
                excerpt(&t.prompt, 48),
                cost(t.cost_usd),
                tokens(view.token_usage.as_ref()),
                age((now_ms - t.created_at_ms) / 1000),
            ]
        })
        .collect();
    p.out(&p.table(
        Stream::Out,
        &["ID", "AGENT", "STATE", "PROMPT", "COST", "TOKENS", "AGE"],
        &rows,
    ));
    Ok(ExitCode::SUCCESS)
}

fn show(store: &Store, args: TaskShowArgs) -> anyhow::Result<ExitCode> {
    let p = printer();
    let task = find(store, &args.id)?;
    let now_ms = warren_core::time::now_ms();
    let view = TaskView::from_record(&task, now_ms);
    if args.json {
        p.json(&view)?;
        return Ok(ExitCode::SUCCESS);
    }
    let label = |l: &str| p.paint(Stream::Out, Style::Bold, &format!("{l:<10}"));
    let mut s = String::new();
    let mut field = |l: &str, v: String| s.push_str(&format!("{} {v}\n", label(l)));
    field("task", p.paint(Stream::Out, Style::Cyan, &task.id));
    field("agent", format!("{} ({})", task.agent, task.tool));
    field(
        "state",
        p.paint(Stream::Out, state_style(task.state), task.state.as_str()),
    );
    if let Some(code) = task.exit_code {
        field("exit code", code.to_string());
    }
    if let Some(m) = &task.model {
        field("model", sanitize_line(m));
    }
    if let Some(sid) = &task.session_id {
        let ended = if task.session_ended { " (ended)" } else { "" };
        field("session", format!("{}{ended}", sanitize_line(sid)));
    }
    if let Some(parent) = &task.parent_id {
        field("continues", parent.clone());
    }
    field("created", view.created_at.clone());
    if let Some(t) = &view.started_at {
        field("started", t.clone());
    }
    if let Some(t) = &view.completed_at {
        field("completed", t.clone());
    }
    if let Some(d) = view.duration_seconds {
        field("duration", format!("{d:.1}s"));
    }
    if task.cost_usd.is_some() {
        field("cost", cost(task.cost_usd));
    }
    if let Some(u) = &view.token_usage {
        field(
            "tokens",
            format!(
                "{} in, {} out, {} cache read, {} cache write",
                u.input_tokens,
                u.output_tokens,
                u.cache_read_input_tokens,
                u.cache_creation_input_tokens
            ),
        );
    }
    if let Some(n) = task.num_turns {
        field("turns", n.to_string());
    }
    if task.attempts > 1 {
        field("attempts", task.attempts.to_string());
    }
    if let Some(e) = &view.error {
        field(
            "error",
            format!(
                "{}: {}",
                p.paint(Stream::Out, Style::Red, &sanitize_line(&e.kind)),
                sanitize(e.message.trim())
            ),
        );
    }
    s.push_str(&format!(
        "\n{}\n{}\n",
        p.paint(Stream::Out, Style::Bold, "prompt:"),
        sanitize(task.prompt.trim_end())
    ));
    if !task.output.trim().is_empty() {
        s.push_str(&format!(
            "\n{}\n{}\n",
            p.paint(Stream::Out, Style::Bold, "output:"),
            sanitize(task.output.trim_end())
        ));
    }
    p.out(&s);
    Ok(ExitCode::SUCCESS)
}

/// The task `id` names: exactly, or as the unique start of one id.
fn find(store: &Store, id: &str) -> anyhow::Result<TaskRecord> {
    if let Some(t) = store.task(id)? {
        return Ok(t);
    }
    let matches = if id.len() >= 4 {
        store.task_ids_with_prefix(id, 5)?
    } else {
        Vec::new()
    };
    match matches.as_slice() {
        [one] => Ok(store.task(one)?.ok_or_else(|| no_task(id))?),
        [] => Err(no_task(id)),
        many => Err(UserError::msg(
            format!("`{id}` names several tasks: {}", many.join(", ")),
            Some("give more of the id".into()),
        )),
    }
}

fn no_task(id: &str) -> anyhow::Error {
    UserError::msg(
        format!("no task `{id}` in the history"),
        Some("list them with `warren task ls` (each agent keeps its last 100)".into()),
    )
}

fn state_style(state: TaskState) -> Style {
    match state {
        TaskState::Completed => Style::Green,
        TaskState::Running => Style::Yellow,
        _ => Style::Red,
    }
}

/// One sanitized line of at most `max` characters.
fn excerpt(text: &str, max: usize) -> String {
    let line = sanitize_line(text);
    if line.chars().count() <= max {
        line
    } else {
        format!("{}…", line.chars().take(max - 1).collect::<String>())
    }
}

/// Tool text as one line without control sequences (colours dropped too:
/// they would break the table's alignment).
fn sanitize_line(text: &str) -> String {
    let clean = sanitize(text);
    // `sanitize` leaves only SGR sequences (`ESC [ digits ; m`) behind.
    let mut plain = String::with_capacity(clean.len());
    let mut chars = clean.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for n in chars.by_ref() {
                if n == 'm' {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn cost(c: Option<f64>) -> String {
    match c {
        Some(c) => format!("${c:.4}"),
        None => "-".into(),
    }
}

fn tokens(u: Option<&warren_agent::adapters::Usage>) -> String {
    match u {
        Some(u) => format!("{}/{}", u.input_tokens, u.output_tokens),
        None => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_one_plain_line() {
        assert_eq!(
            excerpt("fix\nthe \x1b[31mbug\x1b[0m\x1b]0;t\x07", 40),
            "fix the bug"
        );
        assert_eq!(excerpt("abcdef", 4), "abc…");
    }
}
