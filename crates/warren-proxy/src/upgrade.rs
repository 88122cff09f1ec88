//! `Upgrade` (WebSocket, HMR sockets, anything after a `101`): once both
//! sides have switched, bytes are copied both ways until either closes.

use std::sync::Arc;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use crate::limit::Slot;

/// Joins the client's and the backend's upgraded connections and copies
/// between them. Runs as its own task: the client's side only upgrades
/// after the `101` response has been sent.
/// `slot` is the client connection's, held until the tunnel closes.
pub async fn tunnel(client: OnUpgrade, backend: OnUpgrade, slot: Arc<Slot>) {
    let _slot = slot;
    let (client, backend) = match tokio::try_join!(client, backend) {
        Ok(pair) => pair,
        Err(e) => {
            tracing::info!(
                "an upgraded connection (WebSocket or the like) could not be joined to its backend: {e}"
            );
            return;
        }
    };
    let mut client = TokioIo::new(client);
    let mut backend = TokioIo::new(backend);
    // Either side closing ends the tunnel; errors here are ordinary
    // disconnects, not worth a log line each.
    let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
}
