//! The network log: entries queue in memory and a writer thread appends them to the
//! store in batches, so the proxy never waits for SQLite.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, UNIX_EPOCH};

use warren_egress::{NetLog, NetLogEntry};
use warren_store::{NetLogRow, Store};

/// Queues entries of one environment for the store.
pub(crate) struct StoreLog {
    env: String,
    tx: std::sync::Mutex<mpsc::Sender<NetLogRow>>,
}

impl StoreLog {
    /// Starts the writer thread on the store under `root`. The store is
    /// opened at the first entry, not before: an environment that never
    /// reaches out costs no database open (twenty starting at once would
    /// queue on its lock).
    pub(crate) fn start(root: &Path, env: &str) -> Result<StoreLog, String> {
        let root = root.to_path_buf();
        let (tx, rx) = mpsc::channel::<NetLogRow>();
        std::thread::Builder::new()
            .name("netlog".into())
            .spawn(move || {
                let mut store = None;
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    // Whatever else arrives in the next moment goes in the same
                    // transaction.
                    std::thread::sleep(Duration::from_millis(20));
                    batch.extend(rx.try_iter());
                    if store.is_none() {
                        match Store::open(&root) {
                            Ok(s) => store = Some(s),
                            Err(e) => note(&format!("opening the store: {e}")),
                        }
                    }
                    let Some(store) = &store else { continue };
                    if let Err(e) = store.add_net_log(&batch) {
                        note(&format!("cannot write the network log: {e}"));
                    }
                }
            })
            .map_err(|e| format!("starting the log writer: {e}"))?;
        Ok(StoreLog {
            env: env.to_string(),
            tx: std::sync::Mutex::new(tx),
        })
    }
}

/// The daemon's stderr is its log file (`netd.log`).
#[allow(clippy::print_stderr)]
pub(crate) fn note(msg: &str) {
    eprintln!("warren netd: {msg}");
}

impl NetLog for StoreLog {
    fn record(&self, e: NetLogEntry) {
        let row = NetLogRow {
            id: 0,
            env: self.env.clone(),
            time_ms: e
                .time
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0),
            method: e.method,
            host: e.host,
            port: e.port,
            path: e.path,
            status: e.status,
            bytes_up: e.bytes_up,
            bytes_down: e.bytes_down,
            allowed: e.allowed,
            reason: e.reason,
            grant: e.grant,
        };
        if let Ok(tx) = self.tx.lock() {
            let _ = tx.send(row);
        }
    }
}
