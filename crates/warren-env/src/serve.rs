//! Getting an environment's services served: once its routes are in the
//! store, the hostname proxy must run and have loaded them before anyone is
//! shown a URL (a URL printed earlier answers 404 for up to one reload).

use std::time::Duration;

use warren_core::Hint;

use crate::manager::Warren;

/// How long to wait for a running proxy to pick up new routes.
const ROUTED_WITHIN: Duration = Duration::from_secs(3);

impl Warren {
    /// Starts the proxy if needed (`proxy.autostart`) and waits until it
    /// routes `name`. A failure is a warning: the environment itself is fine
    /// and its services answer on their published ports.
    pub(crate) async fn serve_routes(&self, name: &str) {
        let root = self.root.clone();
        let exe = self.settings.warren_exe();
        let config = self.settings.global.proxy.clone();
        let env = name.to_string();
        let waited = tokio::task::spawn_blocking(move || {
            let info = warren_proxy::ensure_running(&root, &exe, &config)?;
            Ok::<bool, warren_proxy::ProxyError>(warren_proxy::wait_until_routed(
                &info,
                &env,
                ROUTED_WITHIN,
            ))
        })
        .await;
        let msg = match waited {
            Ok(Ok(true)) => return,
            Ok(Ok(false)) => format!(
                "the proxy has not loaded the routes of `{name}` after {} s; see `warren proxy status`",
                ROUTED_WITHIN.as_secs()
            ),
            Ok(Err(e)) => match e.hint() {
                Some(h) => format!("service URLs will not answer: {e} ({h})"),
                None => format!("service URLs will not answer: {e}"),
            },
            Err(e) => format!("service URLs will not answer: {e}"),
        };
        self.reporter.warn(&msg);
    }
}
