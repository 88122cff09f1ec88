//! opencode: `opencode run --format json [-m provider/model] [-s SESSION]`
//! with the prompt on stdin.
//!
//! JSON lines with a `type` (`step_start`, `text`, `tool_use`, `step_finish`,
//! `error`) and a `sessionID`; `step_finish` parts carry tokens and cost.

use serde_json::Value;

use super::{
    Adapter, ExitInfo, HeadlessRequest, InteractiveOptions, Invocation, Outcome, OutputParser,
    Progress, PromptInput, Usage, argv, classify, failure_from_exit, prompt_with_instructions,
    push_opt,
};
use crate::error::AgentError;

/// The opencode adapter.
#[derive(Debug, Clone, Copy)]
pub struct OpenCode;

impl Adapter for OpenCode {
    fn name(&self) -> &str {
        "opencode"
    }

    fn interactive(&self, bin: &str, o: &InteractiveOptions) -> Invocation {
        let mut a = argv(bin, &[]);
        push_opt(&mut a, "-m", o.model.as_deref());
        push_opt(&mut a, "-s", o.resume.as_deref());
        Invocation::new(a, Vec::new())
    }

    fn headless(&self, bin: &str, r: &HeadlessRequest) -> Result<Invocation, AgentError> {
        let mut a = argv(bin, &["run", "--format", "json"]);
        push_opt(&mut a, "-m", r.model.as_deref());
        push_opt(&mut a, "-s", r.resume.as_deref());
        // No message argument: `run` reads it from stdin when stdin is not
        // a terminal. (`-f FILE` is no alternative: it attaches the file as
        // a tool result and cuts lines at 2000 characters.)
        Ok(Invocation {
            argv: a,
            env: Vec::new(),
            input: PromptInput::Stdin(prompt_with_instructions(r)),
        })
    }

    fn parser(&self) -> Box<dyn OutputParser> {
        Box::new(OpenCodeParser::default())
    }
}

#[derive(Debug, Default)]
struct OpenCodeParser {
    session_id: Option<String>,
    text: String,
    usage: Option<Usage>,
    cost: f64,
    steps: u32,
    error: Option<String>,
}

impl OutputParser for OpenCodeParser {
    fn stdout_line(&mut self, line: &str) -> Vec<Progress> {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            return Vec::new();
        };
        if let Some(s) = v.get("sessionID").and_then(Value::as_str) {
            self.session_id = Some(s.to_string());
        }
        let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
        match v.get("type").and_then(Value::as_str).unwrap_or("") {
            "text" => {
                let t = s("/part/text").unwrap_or_default();
                self.text = t.clone();
                vec![Progress::new("text", t)]
            }
            "tool_use" => vec![Progress::new(
                "tool",
                s("/part/tool").unwrap_or_else(|| "tool".into()),
            )],
            "step_finish" => {
                self.steps += 1;
                let n = |p: &str| v.pointer(p).and_then(Value::as_u64).unwrap_or(0);
                let u = self.usage.get_or_insert_with(Usage::default);
                u.input_tokens += n("/part/tokens/input");
                u.output_tokens += n("/part/tokens/output");
                u.cache_read_input_tokens += n("/part/tokens/cache/read");
                u.cache_creation_input_tokens += n("/part/tokens/cache/write");
                self.cost += v
                    .pointer("/part/cost")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0);
                Vec::new()
            }
            "error" => {
                let m = s("/error/data/message")
                    .or_else(|| s("/error/message"))
                    .or_else(|| s("/error/name"))
                    .unwrap_or_else(|| v.to_string());
                self.error = Some(m.clone());
                vec![Progress::new("error", m)]
            }
            _ => Vec::new(),
        }
    }

    fn session_id(&self) -> Option<String> {
        self.session_id.clone()
    }

    fn finish(&mut self, exit: ExitInfo, stdout: &str, stderr: &str) -> Outcome {
        let mut o = Outcome {
            session_id: self.session_id.clone(),
            result: (!self.text.is_empty()).then(|| self.text.clone()),
            usage: self.usage.clone(),
            cost_usd: self.usage.as_ref().map(|_| self.cost),
            num_turns: (self.steps > 0).then_some(self.steps),
            failure: None,
        };
        if let Some(e) = &self.error {
            o.failure = Some(classify::classify(e));
        } else if !exit.success() {
            o.failure = Some(failure_from_exit(exit, stdout, stderr));
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::parse;
    use super::*;

    #[test]
    fn parses_steps() {
        let out = r#"{"type":"step_start","sessionID":"ses_1","part":{}}
{"type":"text","sessionID":"ses_1","part":{"type":"text","text":"ok"}}
{"type":"step_finish","sessionID":"ses_1","part":{"tokens":{"input":5,"output":2,"cache":{"read":1,"write":0}},"cost":0.5}}"#;
        let (_, o) = parse(&OpenCode, out, "", 0);
        assert!(o.failure.is_none());
        assert_eq!(o.session_id.as_deref(), Some("ses_1"));
        assert_eq!(o.cost_usd, Some(0.5));
        let inv = OpenCode
            .headless(
                "opencode",
                &HeadlessRequest {
                    prompt: "p".into(),
                    model: Some("anthropic/claude-sonnet-4".into()),
                    resume: Some("ses_1".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(
            inv.argv.join(" "),
            "opencode run --format json -m anthropic/claude-sonnet-4 -s ses_1"
        );
        assert_eq!(inv.input, PromptInput::Stdin("p".into()));
    }
}
