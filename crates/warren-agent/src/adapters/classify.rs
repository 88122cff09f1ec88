//! Classifies a tool's error text: rate limit (with the reset time when the
//! text gives one), not logged in, transient (retryable), or fatal.

use super::{ErrorClass, ToolFailure};

/// Texts seen from the real CLIs when a usage limit or rate limit hits.
const RATE_LIMIT: &[&str] = &[
    "usage limit",
    "you've hit your limit",
    "you have hit your limit",
    "exhausted your daily quota",
    "exhausted your capacity",
    "quota exceeded",
    "rate limit",
    "rate_limit",
    "ratelimit",
    "too many requests",
    "resource_exhausted",
    " 429",
    "(429",
    "\"429",
    " 529",
    "\"529",
    "status 429",
];

/// Authentication failures.
const NOT_LOGGED_IN: &[&str] = &[
    "not logged in",
    "please run /login",
    "invalid api key",
    "invalid x-api-key",
    "authentication_error",
    "authentication_failed",
    "please set an auth method",
    "unauthorized",
    "not authenticated",
    "login required",
];

/// Transient failures worth retrying.
const RETRYABLE: &[&str] = &[
    "stream disconnected",
    "econnreset",
    "etimedout",
    "econnrefused",
    "socket hang up",
    "fetch failed",
    "network error",
    "connection failed",
    "connection reset",
    "internal server error",
    "bad gateway",
    "service unavailable",
    "gateway timeout",
    "api_error_status\":5",
    "temporarily unavailable",
];

/// Texts of a rejected command line.
const USAGE: &[&str] = &[
    "unknown option",
    "unexpected argument",
    "unknown argument",
    "unrecognized arguments",
    "invalid value",
    "missing required argument",
    "usage:",
];

/// Whether `text` is a CLI rejecting its arguments.
pub fn is_usage_error(text: &str) -> bool {
    let l = text.to_lowercase();
    USAGE.iter().any(|n| l.contains(n))
}

/// Whether `text` reports a rate or usage limit.
pub fn is_rate_limit(text: &str) -> bool {
    let l = text.to_lowercase();
    RATE_LIMIT.iter().any(|n| l.contains(n))
}

/// Classifies an error text. An empty text gives an empty message (the
/// caller fills in what it knows from the exit status).
pub fn classify(text: &str) -> ToolFailure {
    let message = text.trim().to_string();
    let l = message.to_lowercase();
    let (class, reason) = if RATE_LIMIT.iter().any(|n| l.contains(n)) {
        (ErrorClass::RateLimit, "rate_limited")
    } else if NOT_LOGGED_IN.iter().any(|n| l.contains(n)) {
        (ErrorClass::Fatal, "not_logged_in")
    } else if RETRYABLE.iter().any(|n| l.contains(n)) {
        (ErrorClass::Retryable, "network")
    } else {
        (ErrorClass::Fatal, "api_error")
    };
    let resets = (class == ErrorClass::RateLimit)
        .then(|| reset_time(&message))
        .flatten();
    ToolFailure {
        class,
        reason: reason.into(),
        message,
        resets,
    }
}

/// Finds the reset time in a rate-limit message: "resets 3pm (Europe/Berlin)",
/// "reset at 2026-01-01T00:00:00Z", "try again in 5 minutes", or Claude's
/// "usage limit reached|1767225600" (Unix seconds).
pub fn reset_time(message: &str) -> Option<String> {
    if let Some((_, after)) = message.split_once('|') {
        let digits: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
        if digits.len() >= 9 {
            return Some(digits);
        }
    }
    let lower = message.to_lowercase();
    for key in [
        "resets at ",
        "reset at ",
        "resets ",
        "try again in ",
        "try again at ",
    ] {
        if let Some(i) = lower.find(key) {
            let start = i + key.len();
            let rest = &message[start..];
            let end = rest
                .find(['\n', '·', ';'])
                .or_else(|| rest.find(". "))
                .unwrap_or(rest.len());
            let t = rest[..end].trim().trim_end_matches('.').trim();
            // A reset time has a number ("5 minutes", "3pm"); "try again in
            // a moment" (claude's API errors) is none.
            if t.chars().any(|c| c.is_ascii_digit()) {
                return Some(t.to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let r = classify("Claude AI usage limit reached|1767225600");
        assert_eq!(r.class, ErrorClass::RateLimit);
        assert_eq!(r.resets.as_deref(), Some("1767225600"));
        let r = classify("You've hit your limit · resets 3pm (Europe/Berlin)");
        assert_eq!(r.class, ErrorClass::RateLimit);
        assert_eq!(r.resets.as_deref(), Some("3pm (Europe/Berlin)"));
        let r = classify(
            "You have exhausted your daily quota on this model. Please try again in 5 minutes.",
        );
        assert_eq!(r.class, ErrorClass::RateLimit);
        assert_eq!(r.resets.as_deref(), Some("5 minutes"));
        assert_eq!(
            classify("API Error: 529 {\"type\":\"overloaded_error\"}").class,
            ErrorClass::RateLimit
        );
        assert_eq!(
            classify("Not logged in · Please run /login").reason,
            "not_logged_in"
        );
        assert_eq!(
            classify("stream disconnected before completion").class,
            ErrorClass::Retryable
        );
        assert_eq!(classify("something odd").class, ErrorClass::Fatal);
        assert_eq!(
            reset_time(
                "API Error: 529 Overloaded. This is a server-side issue, usually temporary — try again in a moment. If it persists…"
            ),
            None
        );
        assert!(is_usage_error("error: unknown option '--prompt'"));
        assert!(!is_usage_error("Not logged in"));
    }
}
