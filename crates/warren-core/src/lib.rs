//! Shared vocabulary of warren: environment names, runtime kinds, states, the
//! table of supported AI tools, secret redaction and the one list of every
//! environment variable warren reads or sets. No I/O beyond the OS random source.

pub mod names;
pub mod redact;
pub mod secret;
pub mod tools;
pub mod types;
pub mod vars;

pub use names::{NameError, generate_name, validate_name};
pub use redact::Redactor;
pub use types::{EnvState, RuntimeKind};
