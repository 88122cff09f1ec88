//! Redaction of secret values (tokens, API keys, credential env values) from
//! anything warren logs or prints as JSON.

/// Replacement text for a redacted secret.
pub const REDACTED: &str = "[REDACTED]";

/// Environment variable names whose values are always treated as secret.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "API_KEY",
        "APIKEY",
        "PRIVATE_KEY",
        "CREDENTIAL",
        "AUTH",
    ]
    .iter()
    .any(|needle| upper.contains(needle))
}

/// Holds the secret values seen so far and removes them from text.
#[derive(Debug, Default, Clone)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Remembers a secret value. Very short values are ignored: redacting
    /// `1` or `yes` everywhere would destroy output without protecting anything.
    pub fn add(&mut self, secret: impl Into<String>) {
        let s = secret.into();
        if s.len() >= 6 && !self.secrets.contains(&s) {
            self.secrets.push(s);
            // Longest first so a secret containing another is replaced whole.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// Remembers the values of every secret-looking `NAME=VALUE` pair.
    pub fn add_env<'a>(&mut self, env: impl IntoIterator<Item = (&'a str, &'a str)>) {
        for (k, v) in env {
            if is_secret_name(k) {
                self.add(v);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Returns `text` with every known secret replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
        out
    }

    /// Redacts an env pair for display: the value is hidden when the name
    /// looks secret or the value is a known secret.
    pub fn redact_env_value(&self, name: &str, value: &str) -> String {
        if is_secret_name(name) {
            REDACTED.to_string()
        } else {
            self.redact(value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_known_values() {
        let mut r = Redactor::new();
        r.add("sk-ant-12345678");
        assert_eq!(r.redact("key=sk-ant-12345678 ok"), "key=[REDACTED] ok");
    }

    #[test]
    fn env_names() {
        let mut r = Redactor::new();
        r.add_env([
            ("ANTHROPIC_API_KEY", "abcdef123"),
            ("PATH", "/usr/bin:/bin"),
        ]);
        assert_eq!(
            r.redact("abcdef123 /usr/bin:/bin"),
            "[REDACTED] /usr/bin:/bin"
        );
        assert_eq!(r.redact_env_value("GH_TOKEN", "x"), REDACTED);
        assert_eq!(r.redact_env_value("HOME", "/root"), "/root");
    }

    #[test]
    fn short_values_are_ignored() {
        let mut r = Redactor::new();
        r.add("yes");
        assert!(r.is_empty());
    }
}
