//! Combines the signals into one verdict; the order is explained in the crate doc.

use std::time::{Duration, SystemTime};

use crate::hooks::{HookEvent, HookKind};
use crate::rules::{GENERIC, Match, QuestionMode, Rule, RuleState, Rules, Target, Version};
use crate::state::{Observation, State, Verdict};

/// At most this many lines of a prompt box become the question.
const MAX_QUESTION_LINES: usize = 20;
const MAX_QUESTION_CHARS: usize = 2000;

/// Judges one observation. Pure: the same observation always gives the same verdict.
pub fn judge(obs: &Observation, rules: &Rules) -> Verdict {
    let mut ev = Vec::new();
    let timing = rules.timing;
    for problem in rules.problems() {
        ev.push(format!("rule problem: {problem}"));
    }

    // 1. Pane death.
    if let Some(code) = obs.dead {
        ev.push(format!("pane dead, exit status {code}"));
        return verdict(
            State::Exited(code),
            format!("exited with status {code}"),
            None,
            ev,
        );
    }
    ev.push("pane alive".to_owned());

    let tool = obs.tool.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let (file, tool_rules) = rules.for_tool(tool);
    let version = obs.tool_version.as_deref().and_then(Version::find);
    ev.push(format!(
        "tool {}, version {}, rules {file}.toml",
        tool.unwrap_or("(none)"),
        obs.tool_version
            .as_deref()
            .map(str::trim)
            .unwrap_or("unknown (every rule applies)")
    ));

    let quiet = obs
        .last_output
        .map(|t| obs.now.duration_since(t).unwrap_or(Duration::ZERO));
    match quiet {
        Some(q) => ev.push(format!("screen last changed {} ago", secs(q))),
        None => ev.push("screen never changed since the watcher started".to_owned()),
    }

    let screen = normalise(&obs.screen);
    let title = obs.title.trim();
    ev.push(format!("title {title:?}"));

    // Every rule is tried, so that the evidence shows all that matched.
    let mut waiting: Option<(&Rule, Match)> = None;
    let mut working: Option<(&Rule, Match)> = None;
    let mut idle: Option<(&Rule, Match)> = None;
    for rule in tool_rules {
        if !rule.applies_to(version.as_ref()) {
            continue;
        }
        let text = match rule.target {
            Target::Screen => screen.as_str(),
            Target::Title => title,
        };
        let Some(m) = rule.matches(text) else {
            continue;
        };
        ev.push(format!(
            "rule {file}/{} ({}{}) matched {}: {}",
            rule.name,
            rule_state_name(rule.state),
            rule.versions()
                .map(|v| format!(", versions {v}"))
                .unwrap_or_default(),
            target_name(rule.target),
            m.what
        ));
        let slot = match rule.state {
            RuleState::Waiting => &mut waiting,
            RuleState::Working => &mut working,
            RuleState::Idle => &mut idle,
        };
        slot.get_or_insert((rule, m));
    }

    // Hooks from before this run (the relay file outlives restarts) do not count.
    let hooks: Vec<&HookEvent> = obs.hooks.iter().filter(|h| h.time >= obs.started).collect();
    if hooks.len() != obs.hooks.len() {
        ev.push(format!(
            "{} hook event(s) from before this start ignored",
            obs.hooks.len() - hooks.len()
        ));
    }
    let last_turn = hooks.iter().rev().find(|h| is_turn_hook(h)).copied();
    if let Some(h) = hooks.last() {
        ev.push(format!(
            "{} hook event(s); last: {} {} ago{}",
            hooks.len(),
            h.kind.name(),
            secs(obs.now.duration_since(h.time).unwrap_or(Duration::ZERO)),
            h.message
                .as_deref()
                .map(|m| format!(" ({m:?})"))
                .unwrap_or_default()
        ));
    } else {
        ev.push("no hook events".to_owned());
    }
    let output_after = |t: SystemTime| obs.last_output.is_some_and(|o| o > t + timing.debounce);

    // 2. A waiting screen: the prompt the human will see.
    if let Some((rule, m)) = waiting {
        let text = if rule.target == Target::Title {
            title
        } else {
            screen.as_str()
        };
        let mut question = match rule.question {
            QuestionMode::Block => block(text, m.line, false),
            QuestionMode::Rest => block(text, m.line, true),
            QuestionMode::None => None,
        };
        // The summary is looked for in the prompt box first, so that an earlier
        // line of the conversation cannot stand in for the question.
        let summary = question
            .as_deref()
            .and_then(|q| rule.summary(q))
            .or_else(|| rule.summary(text));
        if question.is_none() {
            question = summary
                .clone()
                .or_else(|| notification(last_turn).and_then(|h| h.message.clone()));
        }
        let detail = summary.or_else(|| {
            question
                .as_deref()
                .and_then(|q| q.lines().next())
                .map(str::to_owned)
        });
        let reason = match detail {
            Some(d) => format!("{}: {d} (rule {file}/{})", rule.reason, rule.name),
            None => format!("{} (rule {file}/{})", rule.reason, rule.name),
        };
        return verdict(State::Waiting, reason, question, ev);
    }

    // 3. A pending notification hook.
    if let Some(h) = notification(last_turn) {
        let message = h.message.clone();
        if is_idle_notification(h) {
            ev.push("notification is claude's idle prompt: the turn is over".to_owned());
            return verdict(
                State::Idle,
                format!("turn done: {}", message.unwrap_or_default()),
                None,
                ev,
            );
        }
        match &working {
            Some((rule, _)) if output_after(h.time) => {
                ev.push(format!(
                    "working signal and output after the notification: answered (rule {file}/{})",
                    rule.name
                ));
            }
            _ => {
                let what = message.as_deref().unwrap_or("a human is needed");
                let reason = match &h.notification_type {
                    Some(t) => format!("{what} (Notification hook, {t})"),
                    None => format!("{what} (Notification hook)"),
                };
                return verdict(State::Waiting, reason, message, ev);
            }
        }
    }

    // 4. A working title or screen.
    if let Some((rule, m)) = working {
        let reason = format!("{}: {} (rule {file}/{})", rule.reason, m.what, rule.name);
        return verdict(State::Working, reason, None, ev);
    }

    // 5. The last turn hook.
    if let Some(h) = last_turn {
        match h.kind {
            HookKind::Stop | HookKind::SessionStart => {
                if output_after(h.time) {
                    let reason = format!(
                        "output after the {} hook (more than {} later): still working",
                        h.kind.name(),
                        secs(timing.debounce)
                    );
                    return verdict(State::Working, reason, None, ev);
                }
                let reason = if h.kind == HookKind::Stop {
                    "turn done (Stop hook), no output since".to_owned()
                } else {
                    "session started (SessionStart hook), no prompt yet".to_owned()
                };
                return verdict(State::Idle, reason, None, ev);
            }
            HookKind::UserPromptSubmit | HookKind::PreToolUse | HookKind::PostToolUse => {
                // A failed turn (API error, "Not logged in") fires no Stop: a title
                // that says no turn runs beats a turn hook older than the debounce.
                let title_idle = idle
                    .as_ref()
                    .is_some_and(|(r, _)| r.target == Target::Title);
                let stale =
                    obs.now.duration_since(h.time).unwrap_or(Duration::ZERO) > timing.debounce;
                let still = quiet.is_none_or(|q| q > timing.debounce);
                if title_idle && stale && still {
                    ev.push(format!(
                        "{} hook, but the title says no turn runs and the screen is still",
                        h.kind.name()
                    ));
                } else {
                    let reason = format!("turn in progress ({} hook)", h.kind.name());
                    return verdict(State::Working, reason, None, ev);
                }
            }
            _ => {}
        }
    }

    // 6. An idle screen, once it has been still long enough.
    if let Some((rule, m)) = idle {
        match quiet {
            Some(q) if q < rule.quiet => {
                ev.push(format!(
                    "idle rule needs {} of quiet, screen changed {} ago",
                    secs(rule.quiet),
                    secs(q)
                ));
            }
            _ => {
                let reason = format!("{}: {} (rule {file}/{})", rule.reason, m.what, rule.name);
                return verdict(State::Idle, reason, None, ev);
            }
        }
    }

    // 7. Young and unrecognised.
    let age = obs
        .now
        .duration_since(obs.started)
        .unwrap_or(Duration::ZERO);
    if age < timing.startup_grace {
        let reason = format!("started {} ago, nothing recognised yet", secs(age));
        return verdict(State::Starting, reason, None, ev);
    }

    // 8. Output flowing.
    if let Some(q) = quiet
        && q < timing.recent_output
    {
        return verdict(State::Working, format!("output {} ago", secs(q)), None, ev);
    }

    // 9. Nothing decides: say so rather than guess idle from silence.
    if file != GENERIC {
        ev.push(format!("no {file} rule matched; silence alone is not idle"));
    }
    let reason = match quiet {
        Some(q) => format!("no rule matched; quiet for {}", secs(q)),
        None => "no rule matched and no output seen".to_owned(),
    };
    verdict(State::Unknown, reason, None, ev)
}

fn verdict(
    state: State,
    reason: String,
    question: Option<String>,
    mut evidence: Vec<String>,
) -> Verdict {
    evidence.push(format!("verdict: {state}: {reason}"));
    Verdict {
        state,
        reason,
        question,
        evidence,
    }
}

/// Hooks that mark a turn boundary or progress (SessionEnd and unknown events do not).
fn is_turn_hook(h: &HookEvent) -> bool {
    matches!(
        h.kind,
        HookKind::SessionStart
            | HookKind::UserPromptSubmit
            | HookKind::PreToolUse
            | HookKind::PostToolUse
            | HookKind::Notification
            | HookKind::Stop
    ) && !is_informational_notification(h)
}

/// The last turn hook, if it is a notification.
fn notification(last_turn: Option<&HookEvent>) -> Option<&HookEvent> {
    last_turn.filter(|h| h.kind == HookKind::Notification)
}

/// Claude's "Claude is waiting for your input" after a finished turn.
fn is_idle_notification(h: &HookEvent) -> bool {
    match h.notification_type.as_deref() {
        Some(t) => t == "idle_prompt",
        None => h
            .message
            .as_deref()
            .is_some_and(|m| m.contains("waiting for your input")),
    }
}

/// Notifications that ask nothing (`auth_success`, an elicitation's completion).
fn is_informational_notification(h: &HookEvent) -> bool {
    h.kind == HookKind::Notification
        && matches!(
            h.notification_type.as_deref(),
            Some("auth_success" | "elicitation_complete" | "elicitation_response")
        )
}

/// Trailing blanks and trailing empty lines removed, so rules see the text, not the padding.
fn normalise(screen: &str) -> String {
    let mut lines: Vec<&str> = screen.lines().map(str::trim_end).collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}

/// The bordered block around line `at`: from the nearest top border above
/// (`╭`, `┌`, or a `───` rule; line `at` itself when `from_match`) to the
/// nearest bottom border below, border glyphs and blank lines dropped.
fn block(text: &str, at: usize, from_match: bool) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let at = at.min(lines.len().checked_sub(1)?);
    let is_top = |l: &str| {
        let t = l.trim_start();
        t.starts_with('╭') || t.starts_with('┌') || is_rule_line(t)
    };
    let is_bottom = |l: &str| {
        let t = l.trim_start();
        t.starts_with('╰') || t.starts_with('└') || is_rule_line(t)
    };
    let start = if from_match {
        at
    } else {
        (0..at)
            .rev()
            .find(|&i| is_top(lines[i]))
            .map_or(0, |i| i + 1)
    };
    let end = (at + 1..lines.len())
        .find(|&i| is_bottom(lines[i]))
        .unwrap_or(lines.len());
    let mut out = Vec::new();
    let mut chars = 0;
    for line in &lines[start.min(end)..end] {
        let l = line
            .trim()
            .trim_start_matches(['│', '┃', '|'])
            .trim_end_matches(['│', '┃', '|'])
            .trim();
        if l.is_empty() {
            continue;
        }
        if out.len() == MAX_QUESTION_LINES || chars + l.len() > MAX_QUESTION_CHARS {
            break;
        }
        chars += l.len();
        out.push(l.to_owned());
    }
    (!out.is_empty()).then(|| out.join("\n"))
}

/// A horizontal rule: at least 10 characters, all box-drawing horizontals.
fn is_rule_line(t: &str) -> bool {
    let t = t.trim_end();
    t.chars().count() >= 10 && t.chars().all(|c| matches!(c, '─' | '━' | '═' | '-'))
}

fn rule_state_name(s: RuleState) -> &'static str {
    match s {
        RuleState::Waiting => "waiting",
        RuleState::Working => "working",
        RuleState::Idle => "idle",
    }
}

fn target_name(t: Target) -> &'static str {
    match t {
        Target::Screen => "screen",
        Target::Title => "title",
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn block_cuts_the_box() {
        let s = "intro\n╭──────────╮\n│ Q?       │\n│ 1. Yes   │\n╰──────────╯\nafter";
        assert_eq!(block(s, 2, false).unwrap(), "Q?\n1. Yes");
        assert_eq!(block(s, 3, true).unwrap(), "1. Yes");
        let s = "x\n────────────────\n Do it?\n ❯ 1. Yes\n";
        assert_eq!(block(s, 2, false).unwrap(), "Do it?\n❯ 1. Yes");
    }

    #[test]
    fn normalise_trims() {
        assert_eq!(normalise("a  \nb \n\n  \n"), "a\nb");
    }
}
