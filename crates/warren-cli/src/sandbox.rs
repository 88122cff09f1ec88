//! Glue between the CLI and the native sandbox.

/// `(name, ok, detail)` lines for `warren doctor`: one per isolation layer.
pub fn doctor_lines() -> Vec<(String, bool, String)> {
    warren_sandbox::probe()
        .into_iter()
        .map(|l| (format!("sandbox: {}", l.layer), l.available, l.detail))
        .collect()
}
