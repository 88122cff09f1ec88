//! Aider: `aider --message-file FILE --yes-always --no-stream [--model M]`.
//!
//! Aider has no structured output and exits 0 even after model errors, so
//! the result is judged from its output. It has no session ids either: a
//! session is its working directory's chat history, restored on continue.

use super::{
    Adapter, ErrorClass, ExitInfo, HeadlessRequest, InteractiveOptions, Invocation, Outcome,
    OutputParser, PROMPT_FILE, Progress, PromptInput, argv, classify, failure_from_exit,
    prompt_with_instructions, push_opt,
};
use crate::error::AgentError;

/// The Aider adapter.
#[derive(Debug, Clone, Copy)]
pub struct Aider;

/// Lines aider prints when the model call failed (it still exits 0).
const ERROR_MARKERS: &[&str] = &[
    "litellm.",
    "apierror",
    "authenticationerror",
    "ratelimiterror",
    "api key",
    "error:",
    "the api provider is not able",
];

impl Adapter for Aider {
    fn name(&self) -> &str {
        "aider"
    }

    fn interactive(&self, bin: &str, o: &InteractiveOptions) -> Invocation {
        let mut a = argv(bin, &[]);
        push_opt(&mut a, "--model", o.model.as_deref());
        if o.skip_permissions {
            a.push("--yes-always".into());
        }
        if o.resume.is_some() {
            a.push("--restore-chat-history".into());
        }
        Invocation::new(a, Vec::new())
    }

    fn headless(&self, bin: &str, r: &HeadlessRequest) -> Result<Invocation, AgentError> {
        // Aider reads a message only from argv or a file (it never reads
        // stdin in `--message` mode): a file, so the prompt can be any size.
        let mut a = argv(
            bin,
            &["--message-file", PROMPT_FILE, "--yes-always", "--no-stream"],
        );
        push_opt(&mut a, "--model", r.model.as_deref());
        if r.resume.is_some() {
            a.push("--restore-chat-history".into());
        }
        Ok(Invocation {
            argv: a,
            env: Vec::new(),
            input: PromptInput::File(prompt_with_instructions(r)),
        })
    }

    fn assigns_session_id(&self) -> bool {
        true
    }

    fn parser(&self) -> Box<dyn OutputParser> {
        Box::new(AiderParser::default())
    }
}

#[derive(Debug, Default)]
struct AiderParser {
    error_lines: Vec<String>,
}

impl OutputParser for AiderParser {
    fn stdout_line(&mut self, line: &str) -> Vec<Progress> {
        let l = line.to_lowercase();
        if ERROR_MARKERS.iter().any(|m| l.contains(m)) || classify::is_rate_limit(line) {
            self.error_lines.push(line.trim().to_string());
            return vec![Progress::new("error", line.trim())];
        }
        if line.trim().is_empty() {
            Vec::new()
        } else {
            vec![Progress::new("text", line)]
        }
    }

    fn stderr_line(&mut self, line: &str) -> Vec<Progress> {
        self.stdout_line(line)
    }

    fn session_id(&self) -> Option<String> {
        None
    }

    fn finish(&mut self, exit: ExitInfo, stdout: &str, stderr: &str) -> Outcome {
        let mut o = Outcome {
            result: Some(stdout.trim().to_string()).filter(|s| !s.is_empty()),
            ..Outcome::default()
        };
        if !exit.success() {
            o.failure = Some(failure_from_exit(exit, stdout, stderr));
        } else if !self.error_lines.is_empty() {
            let mut f = classify::classify(&self.error_lines.join("\n"));
            if f.class == ErrorClass::Fatal && f.reason == "api_error" {
                f.reason = "model_error".into();
            }
            o.failure = Some(f);
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::parse;
    use super::*;

    #[test]
    fn exit_zero_with_model_error_is_a_failure() {
        let out =
            "Aider v0.86.0\nlitellm.RateLimitError: AnthropicException - rate limit exceeded\n";
        let (_, o) = parse(&Aider, out, "", 0);
        assert_eq!(o.failure.unwrap().class, ErrorClass::RateLimit);
        let (_, o) = parse(&Aider, "Aider v0.86.0\nApplied edit to main.py\n", "", 0);
        assert!(o.failure.is_none());
        let inv = Aider
            .headless(
                "aider",
                &HeadlessRequest {
                    prompt: "fix".into(),
                    model: Some("sonnet".into()),
                    resume: Some("s".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(
            inv.display_argv().join(" "),
            "aider --message-file {{ prompt_file }} --yes-always --no-stream --model sonnet --restore-chat-history"
        );
        assert_eq!(inv.input, PromptInput::File("fix".into()));
    }
}
