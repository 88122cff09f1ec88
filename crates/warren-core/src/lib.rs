//! Shared vocabulary of warren: environment names, runtime kinds, states, the
//! table of supported AI tools, secret redaction, route names, time formatting
//! and the one list of every environment variable warren reads or sets. No
//! I/O beyond the OS random source, the clock, a process liveness check,
//! the machine's memory size ([`resources`]) and reading an inherited pipe
//! of variables ([`envpipe`]).

pub mod envpipe;
pub mod hint;
pub mod names;
pub mod network;
pub mod process;
pub mod redact;
pub mod resources;
pub mod routes;
pub mod secret;
pub mod time;
pub mod tools;
pub mod types;
pub mod vars;

pub use hint::Hint;
pub use names::{NameError, generate_name, validate_name};
pub use network::NetworkMode;
pub use redact::Redactor;
pub use resources::Resources;
pub use types::{EnvState, RuntimeKind, TaskState};
