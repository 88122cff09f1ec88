//! Bodies passed through frame by frame (an SSE stream or a large upload is
//! never buffered whole), counted on the way, and the log entry written when
//! both directions are done.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use hyper::body::{Body as HttpBody, Bytes, Frame, Incoming, SizeHint};

use crate::{NetLog, NetLogEntry};

/// One request's log entry, recorded when the last body holding it is
/// dropped: the response body once the client has it all (or gave up), the
/// request body once it was sent upstream.
pub(crate) struct Pending {
    log: Arc<dyn NetLog>,
    entry: Option<NetLogEntry>,
    status: AtomicU16,
    refused: AtomicBool,
    up: AtomicU64,
    down: AtomicU64,
    reason: OnceLock<String>,
}

impl Pending {
    /// `entry`'s status, byte counts and reason are filled in at the end;
    /// until a response arrives the status is 502.
    pub(crate) fn new(log: Arc<dyn NetLog>, entry: NetLogEntry) -> Arc<Pending> {
        Arc::new(Pending {
            log,
            entry: Some(entry),
            status: AtomicU16::new(502),
            refused: AtomicBool::new(false),
            up: AtomicU64::new(0),
            down: AtomicU64::new(0),
            reason: OnceLock::new(),
        })
    }

    pub(crate) fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::Relaxed);
    }

    /// The request turned out not to be allowed (its host resolved to a
    /// non-public address when the connection was made).
    pub(crate) fn set_refused(&self) {
        self.refused.store(true, Ordering::Relaxed);
    }

    pub(crate) fn set_reason(&self, reason: String) {
        let _ = self.reason.set(reason);
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(mut entry) = self.entry.take() {
            entry.status = *self.status.get_mut();
            entry.bytes_up = *self.up.get_mut();
            entry.bytes_down = *self.down.get_mut();
            if *self.refused.get_mut() {
                entry.allowed = false;
            }
            if entry.reason.is_none() {
                entry.reason = self.reason.take();
            }
            self.log.record(entry);
        }
    }
}

/// Which counter a [`Counted`] body adds to.
#[derive(Clone, Copy)]
pub(crate) enum Dir {
    Up,
    Down,
}

/// A body passed on unchanged while its data bytes are counted.
pub(crate) struct Counted {
    inner: Incoming,
    pending: Arc<Pending>,
    dir: Dir,
}

impl Counted {
    pub(crate) fn new(inner: Incoming, pending: Arc<Pending>, dir: Dir) -> Counted {
        Counted {
            inner,
            pending,
            dir,
        }
    }
}

impl HttpBody for Counted {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            let counter = match self.dir {
                Dir::Up => &self.pending.up,
                Dir::Down => &self.pending.down,
            };
            counter.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// What the proxy answers the environment with: an upstream's body or a
/// short text of its own.
pub(crate) enum Body {
    Upstream(Counted),
    Text(Option<Bytes>),
}

impl Body {
    pub(crate) fn text(s: impl Into<Bytes>) -> Body {
        Body::Text(Some(s.into()))
    }

    pub(crate) fn empty() -> Body {
        Body::Text(None)
    }
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            Body::Upstream(b) => Pin::new(b).poll_frame(cx),
            Body::Text(t) => Poll::Ready(t.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Upstream(b) => b.is_end_stream(),
            Body::Text(t) => t.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Upstream(b) => b.size_hint(),
            Body::Text(t) => SizeHint::with_exact(t.as_ref().map_or(0, |b| b.len() as u64)),
        }
    }
}
