//! [`Hint`]: what the user can do about an error. Every error type of warren
//! implements it; the CLI walks an error's chain of causes once and prints
//! the first hint it finds as `hint: …`.

/// An error that can suggest a next step (a command to copy, a setting to
/// change).
pub trait Hint {
    /// The suggestion, if there is one for this error.
    fn hint(&self) -> Option<String>;
}
