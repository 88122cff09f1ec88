//! Gemini CLI: `gemini -p "" -o stream-json [-m M] [--approval-mode yolo]
//! [-r SESSION | --session-id UUID]` with the prompt on stdin and
//! `GEMINI_CLI_TRUST_WORKSPACE=true`.
//!
//! Events: `init{session_id}`, `message{role, content, delta}`, `tool_use`,
//! `tool_result`, `error`, `result{status, error?, stats}`. Exit codes: 41
//! auth, 42 input, 44 sandbox, 52 config, 53 turns, 54 tool, 55 untrusted,
//! 130 cancelled; auth failures print their text on stderr.

use serde_json::Value;

use super::{
    Adapter, ErrorClass, ExitInfo, HeadlessRequest, InteractiveOptions, Invocation, Outcome,
    OutputParser, Progress, PromptInput, ToolFailure, Usage, argv, classify, failure_from_exit,
    prompt_with_instructions, push_opt, tail_lines,
};
use crate::error::AgentError;

/// The Gemini CLI adapter.
#[derive(Debug, Clone, Copy)]
pub struct Gemini;

fn trust_env() -> Vec<(String, String)> {
    vec![("GEMINI_CLI_TRUST_WORKSPACE".into(), "true".into())]
}

impl Adapter for Gemini {
    fn name(&self) -> &str {
        "gemini"
    }

    fn interactive(&self, bin: &str, o: &InteractiveOptions) -> Invocation {
        let mut a = argv(bin, &[]);
        push_opt(&mut a, "-m", o.model.as_deref());
        push_opt(&mut a, "-r", o.resume.as_deref());
        if o.skip_permissions {
            a.extend(["--approval-mode".into(), "yolo".into()]);
        }
        Invocation::new(a, trust_env())
    }

    fn headless(&self, bin: &str, r: &HeadlessRequest) -> Result<Invocation, AgentError> {
        // `-p ""`: headless, and the prompt is exactly stdin (gemini appends
        // `-p`'s text to stdin's, so any other value would add to it).
        let mut a = argv(bin, &["-p", "", "-o", "stream-json"]);
        push_opt(&mut a, "-m", r.model.as_deref());
        if r.skip_permissions {
            a.extend(["--approval-mode".into(), "yolo".into()]);
        }
        match (&r.resume, &r.new_session_id) {
            (Some(s), _) => push_opt(&mut a, "-r", Some(s)),
            (None, Some(id)) => push_opt(&mut a, "--session-id", Some(id)),
            (None, None) => {}
        }
        Ok(Invocation {
            argv: a,
            env: trust_env(),
            input: PromptInput::Stdin(prompt_with_instructions(r)),
        })
    }

    fn assigns_session_id(&self) -> bool {
        true
    }

    fn parser(&self) -> Box<dyn OutputParser> {
        Box::new(GeminiParser::default())
    }
}

#[derive(Debug, Default)]
struct GeminiParser {
    session_id: Option<String>,
    answer: String,
    result: Option<Value>,
    stderr_json: String,
}

impl OutputParser for GeminiParser {
    fn stdout_line(&mut self, line: &str) -> Vec<Progress> {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            return Vec::new();
        };
        let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
        match v.get("type").and_then(Value::as_str).unwrap_or("") {
            "init" => {
                self.session_id = s("/session_id");
                vec![Progress::new(
                    "init",
                    format!(
                        "session {} (model {})",
                        self.session_id.as_deref().unwrap_or("?"),
                        s("/model").unwrap_or_else(|| "?".into())
                    ),
                )]
            }
            "message" if s("/role").as_deref() == Some("assistant") => {
                let t = s("/content").unwrap_or_default();
                if v.get("delta").and_then(Value::as_bool) == Some(true) {
                    self.answer.push_str(&t);
                } else {
                    self.answer = t.clone();
                }
                vec![Progress::new("text", t)]
            }
            "tool_use" => vec![Progress::new(
                "tool",
                format!(
                    "{} {}",
                    s("/tool_name").unwrap_or_else(|| "tool".into()),
                    v.get("parameters")
                        .map(|p| p.to_string())
                        .unwrap_or_default()
                ),
            )],
            "tool_result" => vec![Progress::new(
                "tool_result",
                s("/status").unwrap_or_default(),
            )],
            "error" => vec![Progress::new(
                "error",
                s("/message").unwrap_or_else(|| v.to_string()),
            )],
            "result" => {
                self.result = Some(v.clone());
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn stderr_line(&mut self, line: &str) -> Vec<Progress> {
        // `-o json` prints its error object on stderr, pretty-printed.
        if !self.stderr_json.is_empty() || line.trim_start().starts_with('{') {
            self.stderr_json.push_str(line);
            self.stderr_json.push('\n');
        }
        Vec::new()
    }

    fn session_id(&self) -> Option<String> {
        self.session_id.clone()
    }

    fn finish(&mut self, exit: ExitInfo, stdout: &str, stderr: &str) -> Outcome {
        let err_obj: Option<Value> = serde_json::from_str(&self.stderr_json).ok();
        if self.session_id.is_none() {
            self.session_id = err_obj
                .as_ref()
                .and_then(|v| v.get("session_id"))
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        let mut o = Outcome {
            session_id: self.session_id.clone(),
            result: (!self.answer.is_empty()).then(|| self.answer.clone()),
            ..Outcome::default()
        };
        if let Some(stats) = self.result.as_ref().and_then(|r| r.get("stats")) {
            let n = |k: &str| stats.get(k).and_then(Value::as_u64).unwrap_or(0);
            o.usage = Some(Usage {
                input_tokens: n("input_tokens"),
                output_tokens: n("output_tokens"),
                cache_read_input_tokens: n("cached"),
                cache_creation_input_tokens: 0,
            });
        }
        let status = self
            .result
            .as_ref()
            .and_then(|r| r.get("status"))
            .and_then(Value::as_str);
        if status == Some("success") && exit.success() {
            return o;
        }
        let message = self
            .result
            .as_ref()
            .and_then(|r| r.pointer("/error/message"))
            .or_else(|| err_obj.as_ref().and_then(|v| v.pointer("/error/message")))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| {
                // Skip notices such as "YOLO mode is enabled…".
                let errors: Vec<&str> = stderr
                    .lines()
                    .filter(|l| !l.starts_with("YOLO mode") && !l.trim().is_empty())
                    .collect();
                tail_lines(&errors.join("\n"), 2)
            });
        let mut f = if message.is_empty() {
            failure_from_exit(exit, stdout, stderr)
        } else {
            classify::classify(&message)
        };
        if let Some(reason) = exit.code.and_then(exit_reason)
            && f.class != ErrorClass::RateLimit
        {
            f = ToolFailure {
                class: ErrorClass::Fatal,
                reason: reason.into(),
                ..f
            };
        }
        if stderr.contains("Error resuming session") {
            f.reason = "resume_failed".into();
        }
        o.failure = Some(f);
        o
    }
}

/// Gemini's documented exit codes.
fn exit_reason(code: i32) -> Option<&'static str> {
    Some(match code {
        41 => "not_logged_in",
        42 => "input_error",
        44 => "sandbox_error",
        52 => "config_error",
        53 => "max_turns",
        54 => "tool_error",
        55 => "untrusted_workspace",
        130 => "cancelled",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{fixture, fixture_exit, parse};
    use super::*;

    #[test]
    fn headless_flags() {
        let inv = Gemini
            .headless(
                "gemini",
                &HeadlessRequest {
                    prompt: "hi".into(),
                    model: Some("gemini-2.5-pro".into()),
                    new_session_id: Some("u".into()),
                    skip_permissions: true,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(
            inv.argv.join(" "),
            "gemini -p  -o stream-json -m gemini-2.5-pro --approval-mode yolo --session-id u"
        );
        assert_eq!(inv.argv[2], "", "`-p` with an empty value");
        assert_eq!(inv.input, PromptInput::Stdin("hi".into()));
        assert!(
            inv.env
                .contains(&("GEMINI_CLI_TRUST_WORKSPACE".into(), "true".into()))
        );
        let inv = Gemini
            .headless(
                "gemini",
                &HeadlessRequest {
                    prompt: "-x".into(),
                    resume: Some("s".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(inv.argv.join(" "), "gemini -p  -o stream-json -r s");
        assert_eq!(inv.input, PromptInput::Stdin("-x".into()));
    }

    #[test]
    fn recorded_auth_error() {
        let n = "gemini-print-json";
        let (_, o) = parse(
            &Gemini,
            &fixture(&format!("{n}.stdout")),
            &fixture(&format!("{n}.stderr")),
            fixture_exit(n),
        );
        assert_eq!(
            o.session_id.as_deref(),
            Some("2d1f5400-124a-4f6b-aff0-80dee318e6f3")
        );
        let f = o.failure.unwrap();
        assert_eq!(f.reason, "not_logged_in");
        assert!(f.message.contains("GEMINI_API_KEY"));
    }

    #[test]
    fn stream_success() {
        let out = r#"{"type":"init","timestamp":"t","session_id":"g1","model":"gemini-2.5-pro"}
{"type":"message","timestamp":"t","role":"user","content":"hi"}
{"type":"message","timestamp":"t","role":"assistant","content":"Hel","delta":true}
{"type":"message","timestamp":"t","role":"assistant","content":"lo","delta":true}
{"type":"result","timestamp":"t","status":"success","stats":{"total_tokens":30,"input_tokens":20,"output_tokens":10,"cached":0,"input":20,"duration_ms":5,"tool_calls":0}}"#;
        let (events, o) = parse(&Gemini, out, "", 0);
        assert_eq!(events.len(), 3);
        assert!(o.failure.is_none());
        assert_eq!(o.result.as_deref(), Some("Hello"));
        assert_eq!(o.usage.unwrap().output_tokens, 10);
    }
}
