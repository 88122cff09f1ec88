//! Environment names: validation and generated `adjective-animal` names.
//!
//! Names end up in host names (`web.NAME.localhost`), branch names
//! (`warren/NAME`), container names and directory names, so they are restricted
//! to one DNS label: lowercase ASCII letters, digits and `-`, starting with a
//! letter. All-digit names are refused because `warren start 42` means issue 42.

use crate::secret::random_u64;

/// Longest accepted name (one DNS label).
pub const MAX_NAME_LEN: usize = 63;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("environment name is empty")]
    Empty,
    #[error("environment name `{0}` is longer than {MAX_NAME_LEN} characters")]
    TooLong(String),
    #[error("environment name `{0}` must start with a lowercase letter")]
    BadStart(String),
    #[error("environment name `{0}` contains `{1}`; use lowercase letters, digits and `-`")]
    BadChar(String, char),
    #[error("environment name `{0}` ends with `-`")]
    TrailingDash(String),
}

impl crate::Hint for NameError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            NameError::BadChar(name, _)
            | NameError::BadStart(name)
            | NameError::TrailingDash(name) => {
                let fixed = slug(name);
                if fixed.is_empty() {
                    "pick a name like `fix-login` (lowercase letters, digits and `-`)".into()
                } else {
                    format!("try `--name {fixed}`")
                }
            }
            _ => "pick a name like `fix-login` (lowercase letters, digits and `-`)".into(),
        })
    }
}

/// Checks that `name` can be used as an environment name.
pub fn validate_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong(name.to_string()));
    }
    let first = name.chars().next().unwrap_or('-');
    if !first.is_ascii_lowercase() {
        return Err(NameError::BadStart(name.to_string()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(NameError::BadChar(name.to_string(), c));
    }
    if name.ends_with('-') {
        return Err(NameError::TrailingDash(name.to_string()));
    }
    Ok(())
}

/// Turns arbitrary text into a valid name fragment (`My App!` -> `my-app`).
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    let trimmed = out.trim_start_matches(|c: char| c.is_ascii_digit() || c == '-');
    trimmed
        .chars()
        .take(MAX_NAME_LEN)
        .collect::<String>()
        .trim_end_matches('-')
        .to_string()
}

const ADJECTIVES: &[&str] = &[
    "agile", "amber", "ample", "azure", "bold", "brave", "brisk", "bright", "calm", "clever",
    "cosmic", "cozy", "crisp", "curious", "daring", "dapper", "eager", "early", "electric",
    "fancy", "fearless", "fluffy", "fond", "frosty", "gentle", "giddy", "glad", "golden",
    "graceful", "happy", "hardy", "hazy", "honest", "humble", "icy", "jolly", "jovial", "keen",
    "kind", "lively", "lucky", "lunar", "merry", "mighty", "misty", "modest", "nimble", "noble",
    "odd", "patient", "peppy", "perky", "plucky", "polite", "proud", "quick", "quiet", "rapid",
    "rosy", "rustic", "shiny", "shy", "silent", "silly", "sleepy", "smooth", "snappy", "snowy",
    "solar", "spry", "steady", "stormy", "sturdy", "sunny", "swift", "tidy", "tiny", "trusty",
    "velvet", "vivid", "warm", "wild", "wise", "witty", "zany", "zesty",
];

const ANIMALS: &[&str] = &[
    "alpaca", "badger", "beaver", "bison", "bobcat", "camel", "caribou", "cheetah", "chipmunk",
    "cougar", "coyote", "crane", "dingo", "dolphin", "donkey", "eagle", "falcon", "ferret",
    "finch", "fox", "gazelle", "gecko", "gerbil", "gopher", "hamster", "hare", "hedgehog", "heron",
    "ibex", "iguana", "jackal", "jaguar", "kestrel", "koala", "lemur", "leopard", "llama", "lynx",
    "magpie", "marmot", "marten", "meerkat", "mink", "mole", "moose", "narwhal", "newt", "ocelot",
    "octopus", "orca", "osprey", "otter", "owl", "panda", "panther", "parrot", "pelican",
    "penguin", "pika", "puffin", "quail", "rabbit", "raccoon", "raven", "robin", "salmon", "seal",
    "shrew", "skunk", "sloth", "sparrow", "squid", "stoat", "swan", "tapir", "tiger", "toucan",
    "turtle", "vole", "walrus", "weasel", "wombat", "wren", "yak", "zebra",
];

/// Number of distinct generated names.
pub fn generated_name_space() -> usize {
    ADJECTIVES.len() * ANIMALS.len()
}

/// Generates an `adjective-animal` name for which `taken` returns false.
///
/// After many collisions (a crowded name space) a numeric suffix is added, so
/// this always terminates with a fresh name.
pub fn generate_name(mut taken: impl FnMut(&str) -> bool) -> String {
    for attempt in 0u32.. {
        let r = random_u64();
        let adj = ADJECTIVES[(r % ADJECTIVES.len() as u64) as usize];
        let animal = ANIMALS[((r >> 32) % ANIMALS.len() as u64) as usize];
        let name = if attempt < 64 {
            format!("{adj}-{animal}")
        } else {
            format!("{adj}-{animal}-{}", (r >> 16) % 10_000)
        };
        if !taken(&name) {
            return name;
        }
    }
    unreachable!("the loop above only ends by returning")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn valid_names() {
        for n in ["a", "fix-login", "fluffy-otter", "issue-42", "x1"] {
            validate_name(n).unwrap();
        }
    }

    #[test]
    fn invalid_names() {
        assert_eq!(validate_name(""), Err(NameError::Empty));
        assert!(matches!(validate_name("42"), Err(NameError::BadStart(_))));
        assert!(matches!(validate_name("Foo"), Err(NameError::BadStart(_))));
        assert!(matches!(
            validate_name("a_b"),
            Err(NameError::BadChar(_, '_'))
        ));
        assert!(matches!(
            validate_name("a.b"),
            Err(NameError::BadChar(_, '.'))
        ));
        assert!(matches!(
            validate_name("ab-"),
            Err(NameError::TrailingDash(_))
        ));
        assert!(matches!(
            validate_name(&"a".repeat(64)),
            Err(NameError::TooLong(_))
        ));
    }

    #[test]
    fn hint_suggests_a_valid_name() {
        let err = validate_name("My_Env").unwrap_err();
        assert_eq!(
            crate::Hint::hint(&err).as_deref(),
            Some("try `--name my-env`")
        );
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("My App!"), "my-app");
        assert_eq!(slug("42 things"), "things");
        assert_eq!(slug("Web Server"), "web-server");
        assert_eq!(slug("---"), "");
    }

    #[test]
    fn generated_names_are_valid_and_avoid_taken() {
        let mut seen = HashSet::new();
        for _ in 0..500 {
            let n = generate_name(|n| seen.contains(n));
            validate_name(&n).unwrap();
            assert!(seen.insert(n));
        }
    }

    #[test]
    fn generation_terminates_when_space_is_full() {
        let n = generate_name(|n| n.matches('-').count() < 2);
        assert_eq!(n.matches('-').count(), 2);
        validate_name(&n).unwrap();
    }

    #[test]
    fn word_lists_are_clean() {
        for w in ADJECTIVES.iter().chain(ANIMALS) {
            assert!(w.chars().all(|c| c.is_ascii_lowercase()), "{w}");
        }
        assert!(generated_name_space() > 5000);
    }
}
