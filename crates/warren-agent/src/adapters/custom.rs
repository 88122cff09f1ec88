//! A custom tool: a command template such as `mytool --model {{ model }} {{ prompt }}`.
//! The template is split into words first (shell quoting rules, no shell),
//! then `{{ prompt }}`, `{{ prompt_file }}`, `{{ model }}` and
//! `{{ session_id }}` are substituted inside each word, so a prompt never
//! becomes shell syntax. `{{ prompt_file }}` is the path of a file holding
//! the prompt: the way to pass one longer than a command-line argument may
//! be. Its output is the result; a non-zero exit is a failure.

use super::{
    Adapter, ExitInfo, HeadlessRequest, InteractiveOptions, Invocation, MAX_ARG_BYTES, Outcome,
    OutputParser, PROMPT_FILE, Progress, PromptInput, check_arg_lengths, failure_from_exit,
    prompt_with_instructions,
};
use crate::error::AgentError;

/// A command-template tool.
#[derive(Debug, Clone)]
pub struct Custom {
    words: Vec<String>,
}

impl Custom {
    /// Parses a template; it must mention `{{ prompt }}` or `{{ prompt_file }}`.
    pub fn new(template: &str) -> Result<Custom, AgentError> {
        // `{{ prompt }}` has spaces: protect the variables from the split.
        let mut protected = template.to_string();
        for name in VARS {
            for f in var_forms(name) {
                protected = protected.replace(&f, &placeholder(name));
            }
        }
        let words = shlex::split(&protected).ok_or_else(|| AgentError::BadTemplate {
            template: template.to_string(),
            reason: "unbalanced quotes".into(),
        })?;
        let mentions = |name| words.iter().any(|w| has_var(w, name));
        if words.is_empty() || !(mentions("prompt") || mentions("prompt_file")) {
            return Err(AgentError::BadTemplate {
                template: template.to_string(),
                reason: "it must contain `{{ prompt }}` or `{{ prompt_file }}`".into(),
            });
        }
        Ok(Custom { words })
    }

    fn render(&self, bin: &str, vars: &[(&str, &str)]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (i, w) in self.words.iter().enumerate() {
            if i == 0 && !bin.is_empty() && bin != "custom" {
                out.push(bin.to_string());
                continue;
            }
            let mut w = w.clone();
            let mut dropped = false;
            for (name, value) in vars {
                if has_var(&w, name) {
                    if value.is_empty() && is_only_var(&w, name) {
                        dropped = true;
                    }
                    w = replace_var(&w, name, value);
                }
            }
            if !dropped {
                out.push(w);
            }
        }
        out
    }
}

const VARS: &[&str] = &["prompt", "prompt_file", "model", "session_id"];

fn placeholder(name: &str) -> String {
    format!("@@warren:{name}@@")
}

fn var_forms(name: &str) -> [String; 2] {
    [format!("{{{{ {name} }}}}"), format!("{{{{{name}}}}}")]
}

fn has_var(w: &str, name: &str) -> bool {
    w.contains(&placeholder(name))
}

fn is_only_var(w: &str, name: &str) -> bool {
    w == placeholder(name)
}

fn replace_var(w: &str, name: &str, value: &str) -> String {
    w.replace(&placeholder(name), value)
}

impl Adapter for Custom {
    fn name(&self) -> &str {
        "custom"
    }

    fn interactive(&self, bin: &str, _o: &InteractiveOptions) -> Invocation {
        let program = if bin.is_empty() || bin == "custom" {
            self.words[0].clone()
        } else {
            bin.to_string()
        };
        Invocation::new(vec![program], Vec::new())
    }

    fn headless(&self, bin: &str, r: &HeadlessRequest) -> Result<Invocation, AgentError> {
        let prompt = prompt_with_instructions(r);
        let session = r
            .resume
            .clone()
            .or_else(|| r.new_session_id.clone())
            .unwrap_or_default();
        let argv = self.render(
            bin,
            &[
                ("prompt", prompt.as_str()),
                ("prompt_file", PROMPT_FILE),
                ("model", r.model.as_deref().unwrap_or("")),
                ("session_id", session.as_str()),
            ],
        );
        check_arg_lengths(
            &argv,
            "the prompt in the custom command's `{{ prompt }}`",
            &format!(
                "a prompt over {} KiB cannot be a command-line argument: use `{{{{ prompt_file }}}}` in the command template (the path of a file holding the prompt)",
                MAX_ARG_BYTES / 1024
            ),
        )?;
        let uses_file = self.words.iter().any(|w| has_var(w, "prompt_file"));
        Ok(Invocation {
            argv,
            env: Vec::new(),
            input: if uses_file {
                PromptInput::File(prompt)
            } else {
                PromptInput::None
            },
        })
    }

    fn assigns_session_id(&self) -> bool {
        true
    }

    /// A custom command may have no `--version`: check that it resolves.
    fn probe(&self, bin: &str) -> Vec<String> {
        let program = if bin.is_empty() || bin == "custom" {
            self.words[0].clone()
        } else {
            bin.to_string()
        };
        ["sh", "-c", "command -v \"$1\"", "sh", program.as_str()]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn parser(&self) -> Box<dyn OutputParser> {
        Box::new(TextParser)
    }
}

/// Plain text output: every line is progress, all of it is the result.
#[derive(Debug)]
struct TextParser;

impl OutputParser for TextParser {
    fn stdout_line(&mut self, line: &str) -> Vec<Progress> {
        vec![Progress::new("text", line)]
    }

    fn session_id(&self) -> Option<String> {
        None
    }

    fn finish(&mut self, exit: ExitInfo, stdout: &str, stderr: &str) -> Outcome {
        Outcome {
            result: Some(stdout.trim_end().to_string()),
            failure: (!exit.success()).then(|| failure_from_exit(exit, stdout, stderr)),
            ..Outcome::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_is_split_before_substitution() {
        let c = Custom::new("my-tool --model {{ model }} --say={{prompt}}").unwrap();
        let inv = c
            .headless(
                "custom",
                &HeadlessRequest {
                    prompt: "a b; rm -rf /".into(),
                    model: Some("m1".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(
            inv.argv,
            ["my-tool", "--model", "m1", "--say=a b; rm -rf /"]
        );
        let inv = c
            .headless(
                "custom",
                &HeadlessRequest {
                    prompt: "x".into(),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(
            inv.argv,
            ["my-tool", "--model", "--say=x"],
            "empty var words drop"
        );
        assert_eq!(inv.input, PromptInput::None);
        assert!(Custom::new("tool --no-prompt").is_err());
        let f = Custom::new("my-tool --in={{ prompt_file }}").unwrap();
        let inv = f
            .headless(
                "custom",
                &HeadlessRequest {
                    prompt: "p".repeat(MAX_ARG_BYTES + 1),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(inv.display_argv(), ["my-tool", "--in={{ prompt_file }}"]);
        assert_eq!(inv.input, PromptInput::File("p".repeat(MAX_ARG_BYTES + 1)));
        let long = c.headless(
            "custom",
            &HeadlessRequest {
                prompt: "p".repeat(MAX_ARG_BYTES),
                ..Default::default()
            },
        );
        let err = long.unwrap_err();
        let hint = warren_core::Hint::hint(&err).unwrap();
        assert!(hint.contains("{{ prompt_file }}"), "{hint}");
        assert!(Custom::new("tool '{{ prompt }}").is_err());
    }
}
