//! The native sandbox (DESIGN.md section 8). Work in progress.

/// Entry point of the hidden `warren __sandbox` helper; returns the exit code.
pub fn helper_main(_args: Vec<std::ffi::OsString>) -> i32 {
    eprintln!("warren: sandbox helper is not implemented yet");
    125
}
