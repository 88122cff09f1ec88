//! Reading config files: a missing file is `None`, any other I/O failure a
//! diagnostic naming the file.

use std::io::ErrorKind;
use std::path::Path;

use crate::diagnostic::Diagnostic;

/// Reads `path`; `Ok(None)` when it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>, Diagnostic> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) if e.kind() == ErrorKind::InvalidData => Err(Diagnostic::file_error(
            path,
            "cannot read config file: it is not valid UTF-8",
        )
        .with_hint("save the file as UTF-8")),
        Err(e) => Err(
            Diagnostic::file_error(path, format!("cannot read config file: {e}"))
                .with_hint("check that the file exists and is readable"),
        ),
    }
}

/// Reads `path`, which must exist.
pub(crate) fn read_required(path: &Path) -> Result<String, Diagnostic> {
    read_optional(path)?.ok_or_else(|| {
        Diagnostic::file_error(path, "config file not found")
            .with_hint("check the path; relative paths are relative to the current directory")
    })
}
