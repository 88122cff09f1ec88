//! Claude Code: `claude -p --output-format stream-json --verbose …` with the
//! prompt on stdin.
//!
//! The stream: `system/init` carries the session id, `assistant` events are
//! progress, the final `result` event carries the answer, usage and cost. A
//! "Not logged in" or API failure arrives as a `result` with `is_error: true`,
//! after a synthetic `assistant` event that repeats its text and names the
//! error's kind in a top-level `error`. While the API fails, claude retries by
//! itself (10 times, about 3 minutes) and reports each retry as a
//! `system/api_retry` event.

use serde_json::Value;

use super::{
    Adapter, ErrorClass, ExitInfo, HeadlessRequest, InteractiveOptions, Invocation, Outcome,
    OutputParser, Progress, PromptInput, ToolFailure, Usage, argv, classify, failure_from_exit,
    push_opt,
};
use crate::error::AgentError;

/// The Claude Code adapter.
#[derive(Debug, Clone, Copy)]
pub struct Claude;

/// Claude refuses permission bypass as root unless this is set.
fn sandbox_env(skip: bool) -> Vec<(String, String)> {
    if skip {
        vec![(warren_core::vars::IS_SANDBOX.into(), "1".into())]
    } else {
        Vec::new()
    }
}

impl Adapter for Claude {
    fn name(&self) -> &str {
        "claude"
    }

    fn interactive(&self, bin: &str, o: &InteractiveOptions) -> Invocation {
        let mut a = argv(bin, &[]);
        push_opt(&mut a, "--model", o.model.as_deref());
        push_opt(&mut a, "--resume", o.resume.as_deref());
        if o.skip_permissions {
            a.push("--dangerously-skip-permissions".into());
        }
        push_opt(
            &mut a,
            "--append-system-prompt",
            o.append_system_prompt.as_deref(),
        );
        Invocation::new(a, sandbox_env(o.skip_permissions))
    }

    fn headless(&self, bin: &str, r: &HeadlessRequest) -> Result<Invocation, AgentError> {
        let mut a = argv(bin, &["-p", "--output-format", "stream-json", "--verbose"]);
        push_opt(&mut a, "--model", r.model.as_deref());
        let turns = r.max_turns.map(|n| n.to_string());
        push_opt(&mut a, "--max-turns", turns.as_deref());
        match (&r.resume, &r.new_session_id) {
            (Some(s), _) => push_opt(&mut a, "--resume", Some(s)),
            (None, Some(id)) => push_opt(&mut a, "--session-id", Some(id)),
            (None, None) => {}
        }
        if r.skip_permissions {
            a.push("--dangerously-skip-permissions".into());
        }
        push_opt(
            &mut a,
            "--append-system-prompt",
            r.append_system_prompt.as_deref(),
        );
        // The instructions stay an argument (claude has no stdin for them):
        // they must fit.
        super::check_arg_lengths(
            &a,
            "the appended system prompt (`--append-system-prompt` and the task's `project.prompt`)",
            "shorten the project prompt, or put long instructions into the repository (CLAUDE.md)",
        )?;
        // `-p` with no positional prompt reads it from stdin: any size, and
        // out of `ps` (a positional one is in every local user's view of
        // /proc/PID/cmdline). Stdin always, so there is one path to test.
        Ok(Invocation {
            argv: a,
            env: sandbox_env(r.skip_permissions),
            input: PromptInput::Stdin(r.prompt.clone()),
        })
    }

    fn assigns_session_id(&self) -> bool {
        true
    }

    fn parser(&self) -> Box<dyn OutputParser> {
        Box::new(ClaudeParser::default())
    }
}

#[derive(Debug, Default)]
struct ClaudeParser {
    session_id: Option<String>,
    result: Option<Value>,
    last_text: Option<String>,
    /// The `error` of claude's synthetic assistant event: `authentication_failed`,
    /// `rate_limit`, `overloaded`, `server_error`, `unknown`, …
    api_error: Option<String>,
    /// How many `api_retry` events were seen, and the last one's `error`.
    retries: u32,
    last_retry_error: Option<String>,
}

/// A readable line for a `system/api_retry` event, e.g.
/// `API error (overloaded, HTTP 529); retry 3/10 in 4.2 s`.
fn retry_text(v: &Value) -> String {
    let kind = v.get("error").and_then(Value::as_str).unwrap_or("unknown");
    let status = v.get("error_status").and_then(Value::as_u64);
    let what = match (kind, status) {
        // No HTTP status: the request never got an answer.
        ("unknown", None) => "no connection".to_string(),
        (k, None) => k.replace('_', " "),
        ("unknown", Some(s)) => format!("HTTP {s}"),
        ("rate_limit", Some(s)) => format!("rate limited, HTTP {s}"),
        (k, Some(s)) => format!("{}, HTTP {s}", k.replace('_', " ")),
    };
    let n = |k: &str| v.get(k).and_then(Value::as_u64);
    let of = match (n("attempt"), n("max_retries")) {
        (Some(a), Some(m)) => format!(" {a}/{m}"),
        (Some(a), None) => format!(" {a}"),
        _ => String::new(),
    };
    let delay = v
        .get("retry_delay_ms")
        .and_then(Value::as_f64)
        .map(|ms| format!(" in {:.1} s", ms / 1000.0))
        .unwrap_or_default();
    format!("API error ({what}); retry{of}{delay}")
}

/// The failure class and reason for claude's own error kind, where it says
/// more than the text.
fn class_of_api_error(kind: &str) -> Option<(ErrorClass, &'static str)> {
    Some(match kind {
        "authentication_failed" | "oauth_org_not_allowed" => (ErrorClass::Fatal, "not_logged_in"),
        // HTTP 429 and 529 ("overloaded"): a rate limit, retried later, not a failure.
        "rate_limit" | "overloaded" => (ErrorClass::RateLimit, "rate_limited"),
        "billing_error" => (ErrorClass::Fatal, "billing"),
        "model_not_found" => (ErrorClass::Fatal, "model_not_found"),
        "server_error" | "unknown" => (ErrorClass::Retryable, "network"),
        _ => return None,
    })
}

impl OutputParser for ClaudeParser {
    fn stdout_line(&mut self, line: &str) -> Vec<Progress> {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            return if line.trim().is_empty() {
                Vec::new()
            } else {
                vec![Progress::new("status", line.trim())]
            };
        };
        if let Some(s) = v.get("session_id").and_then(Value::as_str) {
            self.session_id = Some(s.to_string());
        }
        let ty = v.get("type").and_then(Value::as_str).unwrap_or("");
        let mut out = Vec::new();
        match ty {
            "system" if v.get("subtype").and_then(Value::as_str) == Some("api_retry") => {
                self.retries += 1;
                self.last_retry_error = v.get("error").and_then(Value::as_str).map(str::to_string);
                out.push(Progress::new("retry", retry_text(&v)));
            }
            // A synthetic message standing for an error: its text is the
            // `result`'s (printed once, as the failure), its `error` the kind.
            "assistant"
                if v.get("error").is_some_and(|e| !e.is_null())
                    || v.pointer("/message/model").and_then(Value::as_str)
                        == Some("<synthetic>") =>
            {
                self.api_error = v.get("error").and_then(Value::as_str).map(str::to_string);
            }
            "system" if v.get("subtype").and_then(Value::as_str) == Some("init") => {
                let model = v.get("model").and_then(Value::as_str).unwrap_or("?");
                out.push(Progress::new(
                    "init",
                    format!(
                        "session {} (model {model})",
                        self.session_id.as_deref().unwrap_or("?")
                    ),
                ));
            }
            "assistant" => {
                let content = v
                    .pointer("/message/content")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for c in content {
                    match c.get("type").and_then(Value::as_str) {
                        Some("text") => {
                            let t = c.get("text").and_then(Value::as_str).unwrap_or("");
                            self.last_text = Some(t.to_string());
                            out.push(Progress::new("text", t));
                        }
                        Some("tool_use") => {
                            let name = c.get("name").and_then(Value::as_str).unwrap_or("tool");
                            let input = c.get("input").map(|i| i.to_string()).unwrap_or_default();
                            out.push(Progress::new("tool", format!("{name} {input}")));
                        }
                        _ => {}
                    }
                }
            }
            "result" => {
                self.result = Some(v.clone());
            }
            _ => {}
        }
        out
    }

    fn session_id(&self) -> Option<String> {
        self.session_id.clone()
    }

    fn finish(&mut self, exit: ExitInfo, stdout: &str, stderr: &str) -> Outcome {
        let mut o = Outcome {
            session_id: self.session_id.clone(),
            ..Outcome::default()
        };
        let Some(r) = &self.result else {
            let mut f = failure_from_exit(exit, stdout, stderr);
            if stderr.contains("No conversation found with session ID") {
                f.reason = "resume_failed".into();
            }
            o.failure = Some(f);
            o.result = self.last_text.clone();
            return o;
        };
        let text = r.get("result").and_then(Value::as_str).map(str::to_string);
        o.usage = r
            .get("usage")
            .and_then(|u| serde_json::from_value::<Usage>(u.clone()).ok());
        o.cost_usd = r.get("total_cost_usd").and_then(Value::as_f64);
        o.num_turns = r.get("num_turns").and_then(Value::as_u64).map(|n| n as u32);
        let is_error = r.get("is_error").and_then(Value::as_bool).unwrap_or(false);
        let subtype = r
            .get("subtype")
            .and_then(Value::as_str)
            .unwrap_or("success");
        if is_error || subtype != "success" || !exit.success() {
            let stderr_tail = super::tail_lines(stderr, 3);
            let msg = match (&text, subtype) {
                (Some(t), _) if !t.is_empty() => t.clone(),
                // e.g. `error_during_execution` with the cause on stderr.
                _ if !stderr_tail.is_empty() => stderr_tail,
                (_, "error_max_turns") => "the tool reached its maximum number of turns".into(),
                (_, s) => format!("the tool failed ({s})"),
            };
            let mut f: ToolFailure = classify::classify(&msg);
            if let Some(status) = r.get("api_error_status").and_then(Value::as_u64) {
                if status == 429 || status == 529 {
                    f.class = ErrorClass::RateLimit;
                    f.reason = "rate_limited".into();
                } else if status >= 500 {
                    f.class = ErrorClass::Retryable;
                    f.reason = "network".into();
                }
            }
            // The synthetic message's kind is precise about logins and
            // limits but says `server_error` for every exhausted retry (a 529
            // too): there the last retry's kind tells more.
            let kind = match self.api_error.as_deref() {
                Some("server_error" | "unknown") | None => self.last_retry_error.as_deref(),
                k => k,
            };
            if let Some((class, reason)) = kind.and_then(class_of_api_error) {
                f.class = class;
                f.reason = reason.into();
                if class != ErrorClass::RateLimit {
                    f.resets = None;
                }
            }
            if f.class == ErrorClass::Retryable && self.retries > 0 {
                // Claude has retried for minutes already (its `api_retry`
                // events): another attempt would only repeat that.
                f.class = ErrorClass::Fatal;
            }
            if subtype == "error_max_turns" {
                f.reason = "max_turns".into();
            }
            if stderr.contains("No conversation found with session ID") {
                f.reason = "resume_failed".into();
            }
            o.failure = Some(f);
        }
        o.result = text;
        o
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{fixture, fixture_exit, parse};
    use super::super::{ErrorClass, HeadlessRequest};
    use super::*;

    #[test]
    fn headless_flags() {
        let inv = Claude
            .headless(
                "claude",
                &HeadlessRequest {
                    prompt: "-fix it".into(),
                    model: Some("opus".into()),
                    new_session_id: Some("u-1".into()),
                    skip_permissions: true,
                    max_turns: Some(3),
                    append_system_prompt: Some("be brief".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(
            inv.argv.join(" "),
            "claude -p --output-format stream-json --verbose --model opus --max-turns 3 \
             --session-id u-1 --dangerously-skip-permissions --append-system-prompt be brief"
        );
        assert_eq!(inv.input, PromptInput::Stdin("-fix it".into()));
        assert_eq!(inv.env, [("IS_SANDBOX".to_string(), "1".to_string())]);
        let inv = Claude
            .headless(
                "claude",
                &HeadlessRequest {
                    prompt: "more".into(),
                    resume: Some("s-9".into()),
                    new_session_id: Some("ignored".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(inv.argv.windows(2).any(|w| w == ["--resume", "s-9"]));
        assert!(!inv.argv.contains(&"--session-id".to_string()));
        assert!(inv.env.is_empty());
    }

    #[test]
    fn recorded_not_logged_in_is_a_failure() {
        let n = "claude-print-stream-json";
        let (events, o) = parse(
            &Claude,
            &fixture(&format!("{n}.stdout")),
            &fixture(&format!("{n}.stderr")),
            fixture_exit(n),
        );
        assert_eq!(
            o.session_id.as_deref(),
            Some("63268b64-85da-4789-b003-720ace8c9010")
        );
        assert_eq!(events[0].kind, "init");
        // The synthetic assistant event repeats the result: not progress.
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(
            o.result.as_deref(),
            Some("Not logged in · Please run /login")
        );
        let f = o.failure.unwrap();
        assert_eq!(
            (f.class, f.reason.as_str()),
            (ErrorClass::Fatal, "not_logged_in")
        );
        assert_eq!(o.cost_usd, Some(0.0));
        assert_eq!(o.usage.unwrap().output_tokens, 0);
    }

    /// The recorded API retries: (fixture, retries, first retry line,
    /// class, reason, message start).
    #[test]
    fn recorded_api_retries_are_progress_and_the_failure_is_said_once() {
        let cases = [
            (
                "claude-api-retry",
                10,
                "API error (server error, HTTP 500); retry 1/10 in 0.6 s",
                ErrorClass::Fatal,
                "network",
                "API Error: 500 Internal server error.",
            ),
            (
                "claude-api-overloaded",
                2,
                "API error (overloaded, HTTP 529); retry 1/10 in 0.5 s",
                ErrorClass::RateLimit,
                "rate_limited",
                "API Error: Repeated 529 Overloaded errors.",
            ),
            (
                "claude-api-overloaded-sandbox",
                10,
                "API error (overloaded, HTTP 529); retry 1/10 in 0.6 s",
                ErrorClass::RateLimit,
                "rate_limited",
                "API Error: 529 Overloaded.",
            ),
            (
                "claude-api-refused",
                10,
                "API error (no connection); retry 1/10 in 0.6 s",
                ErrorClass::Fatal,
                "network",
                "API Error: Unable to connect to API (ConnectionRefused)",
            ),
        ];
        for (n, retries, first, class, reason, message) in cases {
            let (events, o) = parse(
                &Claude,
                &fixture(&format!("{n}.stdout")),
                &fixture(&format!("{n}.stderr")),
                fixture_exit(n),
            );
            let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
            eprintln!("{n}: {kinds:?}");
            let retry: Vec<&str> = events
                .iter()
                .filter(|e| e.kind == "retry")
                .map(|e| e.text.as_str())
                .collect();
            assert_eq!(retry.len(), retries, "{n}");
            assert_eq!(retry[0], first, "{n}");
            // Init and the retries; the error's text is not progress.
            assert_eq!(events.len(), retries + 1, "{n}: {events:?}");
            let f = o.failure.unwrap();
            assert_eq!((f.class, f.reason.as_str()), (class, reason), "{n}");
            assert!(f.message.starts_with(message), "{n}: {}", f.message);
            assert_eq!(
                f.resets, None,
                "{n}: \"try again in a moment\" is no reset time"
            );
        }
        let (events, _) = parse(&Claude, &fixture("claude-api-retry.stdout"), "", 1);
        assert_eq!(
            events.last().unwrap().text,
            "API error (server error, HTTP 500); retry 10/10 in 39.3 s"
        );
    }

    #[test]
    fn recorded_resume_missing() {
        let n = "claude-resume-missing";
        let (_, o) = parse(
            &Claude,
            &fixture(&format!("{n}.stdout")),
            &fixture(&format!("{n}.stderr")),
            fixture_exit(n),
        );
        assert_eq!(o.failure.unwrap().reason, "resume_failed");
    }

    #[test]
    fn recorded_unknown_flag_is_a_usage_error() {
        let n = "claude-unknown-flag";
        let (_, o) = parse(
            &Claude,
            &fixture(&format!("{n}.stdout")),
            &fixture(&format!("{n}.stderr")),
            fixture_exit(n),
        );
        assert_eq!(o.failure.unwrap().reason, "usage_error");
    }

    #[test]
    fn success_result() {
        let out = r#"{"type":"system","subtype":"init","session_id":"s1","model":"opus"}
{"type":"assistant","message":{"content":[{"type":"tool_use","name":"Bash","input":{"command":"ls"}}]},"session_id":"s1"}
{"type":"result","subtype":"success","is_error":false,"result":"done","session_id":"s1","num_turns":2,"total_cost_usd":0.0123,"usage":{"input_tokens":10,"output_tokens":5,"cache_read_input_tokens":1,"cache_creation_input_tokens":2}}"#;
        let (events, o) = parse(&Claude, out, "", 0);
        assert_eq!(events[1].text, r#"Bash {"command":"ls"}"#);
        assert!(o.failure.is_none());
        assert_eq!(o.result.as_deref(), Some("done"));
        assert_eq!(o.num_turns, Some(2));
        assert_eq!(o.usage.unwrap().input_tokens, 10);
    }
}
