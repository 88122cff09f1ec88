//! The hostname reverse proxy (docs/ARCHITECTURE.md): requests for
//! `[SERVICE.]ENV.localhost[:port]` go to that environment's service, with
//! keep-alive, streaming bodies and upgrades (WebSocket) passed through.
//!
//! - [`serve`] runs the proxy in the foreground (`warren proxy serve`);
//! - [`ensure_running`] finds or starts the background proxy (environments
//!   call it after registering routes); [`status`] and [`stop`] manage it;
//! - what it listens on and when it exits is `warren_config::ProxyConfig`.

mod daemon;
mod error;
mod forward;
mod headers;
mod host;
mod limit;
mod lock;
mod pages;
mod port_owner;
mod server;
mod table;
mod upgrade;
mod upstream;

pub use daemon::{
    LOG_FILE, ProxyStatus, RouteView, START_TIMEOUT, answers, ensure_running, log_path, status,
    stop, wait_until_routed,
};
pub use error::ProxyError;
pub use forward::STATUS_PATH;
pub use headers::{HOPS, MAX_HOPS};
pub use host::{HostTarget, classify};
pub use limit::{HEADER_TIMEOUT, MAX_CONNECTIONS};
pub use lock::{LOCK_FILE, Probe, ProxyInfo, probe};
pub use port_owner::{PortOwner, find_listener};
pub use server::serve;
