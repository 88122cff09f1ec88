//! Codex CLI: `codex exec --json --skip-git-repo-check [-m M] [sandbox flags]
//! [resume ID] -` with the prompt on stdin.
//!
//! Events: `thread.started{thread_id}` (the session), `item.*` (progress;
//! `agent_message` items carry the answer), `turn.completed{usage}`,
//! `turn.failed{error}`, `error{message}`. (`-p` is `--profile` here.)

use serde_json::Value;

use super::{
    Adapter, ExitInfo, HeadlessRequest, InteractiveOptions, Invocation, Outcome, OutputParser,
    Progress, PromptInput, Usage, argv, classify, failure_from_exit, prompt_with_instructions,
    push_opt,
};
use crate::error::AgentError;

/// The Codex CLI adapter.
#[derive(Debug, Clone, Copy)]
pub struct Codex;

impl Adapter for Codex {
    fn name(&self) -> &str {
        "codex"
    }

    fn interactive(&self, bin: &str, o: &InteractiveOptions) -> Invocation {
        let mut a = argv(bin, &[]);
        if let Some(s) = &o.resume {
            a.push("resume".into());
            a.push(s.clone());
        }
        push_opt(&mut a, "-m", o.model.as_deref());
        if o.skip_permissions {
            a.push("--dangerously-bypass-approvals-and-sandbox".into());
        }
        Invocation::new(a, Vec::new())
    }

    fn headless(&self, bin: &str, r: &HeadlessRequest) -> Result<Invocation, AgentError> {
        let mut a = argv(bin, &["exec", "--json", "--skip-git-repo-check"]);
        push_opt(&mut a, "-m", r.model.as_deref());
        if r.skip_permissions {
            a.push("--dangerously-bypass-approvals-and-sandbox".into());
        } else {
            a.extend(["-s".into(), "workspace-write".into()]);
        }
        if let Some(s) = &r.resume {
            a.push("resume".into());
            a.push(s.clone());
        }
        // `-`: the instructions come from stdin (any size, not in `ps`).
        // Never a positional prompt with stdin open: codex would wait for
        // the pipe's end and append it as a `<stdin>` block.
        a.push("-".into());
        Ok(Invocation {
            argv: a,
            env: Vec::new(),
            input: PromptInput::Stdin(prompt_with_instructions(r)),
        })
    }

    fn parser(&self) -> Box<dyn OutputParser> {
        Box::new(CodexParser::default())
    }
}

#[derive(Debug, Default)]
struct CodexParser {
    thread_id: Option<String>,
    last_message: Option<String>,
    usage: Option<Usage>,
    completed: bool,
    failed: Option<String>,
    last_error: Option<String>,
    turns: u32,
}

impl OutputParser for CodexParser {
    fn stdout_line(&mut self, line: &str) -> Vec<Progress> {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            return Vec::new();
        };
        let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
        match v.get("type").and_then(Value::as_str).unwrap_or("") {
            "thread.started" => {
                self.thread_id = s("/thread_id");
                vec![Progress::new(
                    "init",
                    format!("session {}", self.thread_id.as_deref().unwrap_or("?")),
                )]
            }
            "turn.started" => {
                self.turns += 1;
                Vec::new()
            }
            "turn.completed" => {
                self.completed = true;
                self.usage = v.get("usage").map(|u| Usage {
                    input_tokens: u.get("input_tokens").and_then(Value::as_u64).unwrap_or(0),
                    output_tokens: u.get("output_tokens").and_then(Value::as_u64).unwrap_or(0),
                    cache_read_input_tokens: u
                        .get("cached_input_tokens")
                        .and_then(Value::as_u64)
                        .unwrap_or(0),
                    cache_creation_input_tokens: 0,
                });
                Vec::new()
            }
            "turn.failed" => {
                self.failed = s("/error/message").or(Some("the turn failed".into()));
                vec![Progress::new(
                    "error",
                    self.failed.clone().unwrap_or_default(),
                )]
            }
            "error" => {
                let m = s("/message").unwrap_or_default();
                self.last_error = Some(m.clone());
                vec![Progress::new("error", m)]
            }
            "item.started" | "item.updated" | "item.completed" => {
                let done = v.get("type").and_then(Value::as_str) == Some("item.completed");
                let item_type = s("/item/type").unwrap_or_default();
                match item_type.as_str() {
                    "agent_message" if done => {
                        let t = s("/item/text").unwrap_or_default();
                        self.last_message = Some(t.clone());
                        vec![Progress::new("text", t)]
                    }
                    "reasoning" if done => {
                        vec![Progress::new("status", s("/item/text").unwrap_or_default())]
                    }
                    "command_execution" => vec![Progress::new(
                        "tool",
                        s("/item/command").unwrap_or_default(),
                    )],
                    "file_change" if done => vec![Progress::new("tool", "file change")],
                    "error" => vec![Progress::new(
                        "error",
                        s("/item/message").unwrap_or_default(),
                    )],
                    _ => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    fn session_id(&self) -> Option<String> {
        self.thread_id.clone()
    }

    fn finish(&mut self, exit: ExitInfo, stdout: &str, stderr: &str) -> Outcome {
        let mut o = Outcome {
            session_id: self.thread_id.clone(),
            result: self.last_message.clone(),
            usage: self.usage.clone(),
            num_turns: (self.turns > 0).then_some(self.turns),
            ..Outcome::default()
        };
        if self.completed && self.failed.is_none() && exit.success() {
            return o;
        }
        o.failure = Some(match (&self.failed, &self.last_error) {
            (Some(m), _) | (None, Some(m)) if exit.signal.is_none() => classify::classify(m),
            _ => {
                let mut f = failure_from_exit(exit, stdout, stderr);
                if stderr.contains("no rollout found") {
                    f.reason = "resume_failed".into();
                }
                f
            }
        });
        o
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{fixture, parse};
    use super::super::{ErrorClass, HeadlessRequest};
    use super::*;

    #[test]
    fn headless_flags() {
        let inv = Codex
            .headless(
                "codex",
                &HeadlessRequest {
                    prompt: "hi".into(),
                    model: Some("gpt-5".into()),
                    resume: Some("t-1".into()),
                    skip_permissions: true,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(
            inv.argv.join(" "),
            "codex exec --json --skip-git-repo-check -m gpt-5 \
             --dangerously-bypass-approvals-and-sandbox resume t-1 -"
        );
        assert_eq!(inv.input, PromptInput::Stdin("hi".into()));
        let inv = Codex
            .headless(
                "codex",
                &HeadlessRequest {
                    prompt: "hi".into(),
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(inv.argv.windows(2).any(|w| w == ["-s", "workspace-write"]));
    }

    #[test]
    fn recorded_network_failure_killed_by_timeout() {
        // The recording was killed by `timeout` (exit 124) while reconnecting.
        let (events, o) = parse(
            &Codex,
            &fixture("codex-exec-json.stdout"),
            &fixture("codex-exec-json.stderr"),
            124,
        );
        assert_eq!(
            o.session_id.as_deref(),
            Some("01a202ac-b8da-7c32-b5cf-124af96ac5d4")
        );
        assert!(events.iter().any(|e| e.kind == "error"));
        let f = o.failure.unwrap();
        assert_eq!(f.class, ErrorClass::Retryable, "{f:?}");
    }

    #[test]
    fn success_and_turn_failed() {
        let ok = r#"{"type":"thread.started","thread_id":"th"}
{"type":"turn.started"}
{"type":"item.completed","item":{"id":"item_1","type":"agent_message","text":"all done"}}
{"type":"turn.completed","usage":{"input_tokens":100,"cached_input_tokens":20,"output_tokens":7}}"#;
        let (_, o) = parse(&Codex, ok, "", 0);
        assert!(o.failure.is_none());
        assert_eq!(o.result.as_deref(), Some("all done"));
        assert_eq!(o.usage.unwrap().cache_read_input_tokens, 20);
        let bad = r#"{"type":"thread.started","thread_id":"th"}
{"type":"turn.failed","error":{"message":"You've hit your usage limit. Try again in 2 hours."}}"#;
        let (_, o) = parse(&Codex, bad, "", 1);
        let f = o.failure.unwrap();
        assert_eq!(f.class, ErrorClass::RateLimit);
        assert_eq!(f.resets.as_deref(), Some("2 hours"));
    }
}
