//! Sockets made inside the environment's network namespace. A socket belongs to the
//! namespace of the thread that created it, for its whole life; so one thread of the
//! daemon enters the namespace once (`setns`, which only moves that thread) and makes
//! every socket the daemon needs there, while the rest of the daemon stays in the
//! host's namespace and talks to the world.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::sync::mpsc;
use std::time::Duration;

enum Request {
    Connect(u16, mpsc::Sender<io::Result<TcpStream>>),
    Listen(u16, mpsc::Sender<io::Result<TcpListener>>),
}

/// A handle to the thread inside the namespace.
#[derive(Clone)]
pub(crate) struct Factory {
    tx: mpsc::Sender<Request>,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Factory {
    /// Starts the thread; fails if it cannot enter `netns`.
    pub(crate) fn start(netns: OwnedFd) -> io::Result<Factory> {
        let (tx, rx) = mpsc::channel::<Request>();
        let (ready_tx, ready_rx) = mpsc::channel::<io::Result<()>>();
        std::thread::Builder::new()
            .name("netns".into())
            .spawn(move || {
                let entered = rustix::thread::move_into_link_name_space(
                    std::os::fd::AsFd::as_fd(&netns),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .map_err(io::Error::from);
                let ok = entered.is_ok();
                let _ = ready_tx.send(entered);
                if !ok {
                    return;
                }
                drop(netns);
                for req in rx {
                    match req {
                        Request::Connect(port, reply) => {
                            let addr = SocketAddr::from(([127, 0, 0, 1], port));
                            let _ = reply.send(TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT));
                        }
                        Request::Listen(port, reply) => {
                            let _ = reply.send(TcpListener::bind(("127.0.0.1", port)));
                        }
                    }
                }
            })?;
        ready_rx
            .recv()
            .map_err(|_| io::Error::other("the namespace thread ended"))??;
        Ok(Factory { tx })
    }

    fn ask<T>(&self, make: impl FnOnce(mpsc::Sender<io::Result<T>>) -> Request) -> io::Result<T> {
        let (tx, rx) = mpsc::channel();
        self.tx
            .send(make(tx))
            .map_err(|_| io::Error::other("the namespace thread ended"))?;
        rx.recv()
            .map_err(|_| io::Error::other("the namespace thread ended"))?
    }

    /// A connection to `127.0.0.1:port` of the environment.
    pub(crate) fn connect(&self, port: u16) -> io::Result<TcpStream> {
        self.ask(|tx| Request::Connect(port, tx))
    }

    /// A listener on `127.0.0.1:port` of the environment.
    pub(crate) fn listen(&self, port: u16) -> io::Result<TcpListener> {
        self.ask(|tx| Request::Listen(port, tx))
    }
}
