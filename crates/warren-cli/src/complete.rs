//! Shell completion: the static parts come from clap; environment names,
//! types, tools and agents are read when the shell asks (`COMPLETE=bash
//! warren -- …`, see `warren completions`). A failure completes nothing: a
//! completion never prints an error.

use clap_complete::CompletionCandidate;
use warren_env::HostEnv;

/// The settings of this process, if they load.
fn settings() -> Option<warren_config::Settings> {
    let host = HostEnv::current();
    let cwd = std::env::current_dir().ok()?;
    let lookup = |k: &str| host.get(k).map(str::to_string);
    warren_config::Settings::load(&lookup, host.home().as_deref(), &cwd).ok()
}

fn candidates(names: impl IntoIterator<Item = String>) -> Vec<CompletionCandidate> {
    names.into_iter().map(CompletionCandidate::new).collect()
}

/// Names of the environments of this warren root.
pub fn environments() -> Vec<CompletionCandidate> {
    let Some(s) = settings() else {
        return Vec::new();
    };
    let names = warren_store::Store::open(&s.root)
        .and_then(|store| store.environment_names())
        .unwrap_or_default();
    candidates(names)
}

/// Names of the running agents.
pub fn agents() -> Vec<CompletionCandidate> {
    let Some(s) = settings() else {
        return Vec::new();
    };
    let names = warren_agent::director::live_agents(&s.root)
        .map(|a| a.into_iter().map(|a| a.name).collect::<Vec<_>>())
        .unwrap_or_default();
    candidates(names)
}

/// Concrete types of the project in the current directory.
pub fn types() -> Vec<CompletionCandidate> {
    let Ok(cwd) = std::env::current_dir() else {
        return Vec::new();
    };
    let Ok(repo) = warren_env::git::Repo::discover(&cwd) else {
        return Vec::new();
    };
    match warren_config::load_project(&repo.root) {
        Ok(loaded) => candidates(loaded.value.iter().flat_map(|p| {
            warren_config::concrete_types(p)
                .into_iter()
                .map(str::to_string)
        })),
        Err(_) => Vec::new(),
    }
}

/// The AI tools warren knows.
pub fn tools() -> Vec<CompletionCandidate> {
    candidates(
        warren_agent::adapters::TOOL_NAMES
            .iter()
            .map(|t| t.to_string()),
    )
}

/// The runtimes.
pub fn runtimes() -> Vec<CompletionCandidate> {
    candidates(["docker", "sandbox", "host"].map(String::from))
}
