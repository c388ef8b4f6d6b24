//! The client library of dpnode's external applications (what VPP calls
//! VCL): attach to a running node over its API socket, then move data
//! through the same shared-memory fifos the node's workers use, with no
//! copy through the kernel and no system call per message.
//!
//! ```no_run
//! use dpnode_client::{App, AttachOptions, Endpoint, Event};
//! let (app, mut w) = App::attach("/run/dpnode/api.sock", "echo", &AttachOptions::default())?;
//! let l = w.listen(Endpoint::parse_uri("udp://0.0.0.0/7").unwrap())?;
//! let (mut events, mut buf) = (Vec::new(), vec![0u8; 65536]);
//! loop {
//!     events.clear();
//!     w.wait(&mut events, 64, None)?;
//!     for ev in &events {
//!         match *ev {
//!             Event::Accept(l) => while let Some(_s) = w.accept(l)? {},
//!             Event::Readable(s) => while let Ok(n) = w.read(s, &mut buf) {
//!                 let _ = w.write(s, &buf[..n]);
//!             },
//!             Event::PeerClosed(s) => w.close(s)?,
//!             _ => {}
//!         }
//!     }
//! }
//! # Ok::<(), dpnode_client::Error>(())
//! ```
//!
//! An [`App`] is one attached application and its API connection (shared by
//! its threads); a [`Worker`] is one app worker, owned by one thread, with
//! its own sessions and queues. More workers come from [`App::worker_add`].
//! When the process exits or dies, the node sees the socket close and
//! detaches the application: its sessions are reset and its memory freed.
//!
//! The library depends only on the `shm` crate (shared layouts and wire
//! formats) and `libc`; it does not need DPDK. C programs use it through
//! `include/dpnode_client.h` and the static library (see [`ffi`]).

#![warn(missing_docs)]

mod conn;
pub mod echo;
pub mod ffi;
mod worker;

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shm::api::{AttachRequest, Body, Kind};

pub use shm::types::ErrorCode as NodeError;
pub use shm::types::{AttachOptions, Cc, Endpoint, Proto, ProxySet, Scope, TransportOptions, TransportProto};
pub use worker::{Event, ListenerId, SessionId, SessionInfo, Worker, MAX_DEFERRED};

use conn::{Conn, Reply, SegmentMap};
use shm::types::ErrorCode;

/// How long attach, detach and worker add/delete wait for the node.
const REQUEST_WAIT: Duration = Duration::from_secs(20);

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The node refused: its [`NodeError`] code and explanation.
    #[error("{text} (error {code})")]
    Node {
        /// The node's error code ([`NodeError`] numbers).
        code: i32,
        /// What the node said.
        text: String,
    },
    /// A system call failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The node sent something this library does not understand.
    #[error("protocol: {0}")]
    Protocol(String),
    /// Nothing to read, or no room to write, now.
    #[error("would block")]
    WouldBlock,
    /// No such session on this worker.
    #[error("no such session")]
    BadSession,
    /// The session cannot do this now (e.g. read before accept).
    #[error("not allowed in the session's state")]
    BadState,
    /// The peer closed (datagram session), or the node closed the API connection.
    #[error("closed")]
    Closed,
    /// The node did not answer in time.
    #[error("timed out")]
    Timeout,
    /// A request queue is full and so is the library's backlog for it.
    #[error("request queue full")]
    QueueFull,
    /// An argument is unusable.
    #[error("invalid argument: {0}")]
    Invalid(String),
}

/// `-EAGAIN`: the C API's "would block".
pub const EAGAIN: i32 = -11;
/// `-EPIPE`: the C API's "closed".
pub const EPIPE: i32 = -32;
/// `-EINVAL`: the C API's "invalid argument".
pub const EINVAL: i32 = -22;
/// `-EIO`: the C API's "system call failed" (the detail is in `errno`-style text only in Rust).
pub const EIO: i32 = -5;
/// `-EPROTO`: the C API's "protocol error".
pub const EPROTO: i32 = -71;

impl Error {
    /// A negative number for C: a node error code (`-100..=-199`), or a negated errno.
    pub fn code(&self) -> i32 {
        match self {
            Error::Node { code, .. } => *code,
            Error::Io(_) => EIO,
            Error::Protocol(_) => EPROTO,
            Error::WouldBlock => EAGAIN,
            Error::BadSession => ErrorCode::BadSession as i32,
            Error::BadState => ErrorCode::BadState as i32,
            Error::Closed => EPIPE,
            Error::Timeout => ErrorCode::Timeout as i32,
            Error::QueueFull => ErrorCode::QueueFull as i32,
            Error::Invalid(_) => EINVAL,
        }
    }

    /// The node's error, if the node refused.
    pub fn node_error(&self) -> Option<NodeError> {
        match self {
            Error::Node { code, .. } => NodeError::from_i32(*code),
            _ => None,
        }
    }
}

/// What an application's workers share: the API connection and the mapped segments.
pub(crate) struct AppInner {
    pub(crate) conn: Mutex<Conn>,
    /// The socket's descriptor, to sleep on it without taking the lock.
    pub(crate) sock_fd: std::os::fd::RawFd,
    pub(crate) segs: SegmentMap,
    handle: u64,
    name: String,
}

/// An attached application.
#[derive(Clone)]
pub struct App {
    inner: Arc<AppInner>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("name", &self.inner.name).field("handle", &self.inner.handle).finish()
    }
}

fn check_name(what: &str, s: &str) -> Result<(), Error> {
    if s.len() > shm::api::MAX_NAME {
        return Err(Error::Invalid(format!("{what} {s:?} is longer than {} bytes", shm::api::MAX_NAME)));
    }
    Ok(())
}

impl App {
    /// Connects to the node's API socket and attaches application `name`; returns it and its first worker.
    pub fn attach(socket: impl AsRef<Path>, name: &str, opts: &AttachOptions) -> Result<(App, Worker), Error> {
        check_name("name", name)?;
        check_name("namespace", &opts.namespace)?;
        let conn = Conn::connect(socket.as_ref())?;
        let segs = SegmentMap::default();
        let sock_fd = conn.raw_fd();
        let mut inner = AppInner { conn: Mutex::new(conn), sock_fd, segs, handle: 0, name: name.to_string() };
        let req = AttachRequest { name, options: opts.clone() };
        let reply = {
            let conn = inner.conn.get_mut().unwrap_or_else(|p| p.into_inner());
            conn.request(&inner.segs, Kind::AttachRequest, Body::Attach(req), REQUEST_WAIT)?
        };
        let Reply::Worker(info, fds) = reply else {
            return Err(Error::Protocol("attach reply without a worker".into()));
        };
        inner.handle = info.app;
        let inner = Arc::new(inner);
        let w = Worker::new(inner.clone(), info, fds)?;
        Ok((App { inner }, w))
    }

    /// Joins application `app` (attached by another connection, e.g. in the parent
    /// of a forked process) as a new worker of it, on a connection of its own, with
    /// the application's share token ([`App::share_token`]); `name` is only for
    /// display. The new worker's sessions, and those of workers added through the
    /// returned `App`, go with this connection: when it closes (this process exits),
    /// they go, and the application stays as long as another connection holds a worker of it.
    pub fn join(
        socket: impl AsRef<Path>,
        name: &str,
        app: u64,
        token: u64,
        timeout: Duration,
    ) -> Result<(App, Worker), Error> {
        let conn = Conn::connect(socket.as_ref())?;
        let sock_fd = conn.raw_fd();
        let mut inner =
            AppInner { conn: Mutex::new(conn), sock_fd, segs: SegmentMap::default(), handle: app, name: name.into() };
        let reply = {
            let conn = inner.conn.get_mut().unwrap_or_else(|p| p.into_inner());
            conn.request(&inner.segs, Kind::WorkerJoinRequest, Body::WorkerJoin { app, token }, timeout)?
        };
        let Reply::Worker(info, fds) = reply else {
            return Err(Error::Protocol("worker join reply without a worker".into()));
        };
        if info.app != app {
            return Err(Error::Protocol(format!("joined application {:#x}, not {app:#x}", info.app)));
        }
        let inner = Arc::new(inner);
        let w = Worker::new(inner.clone(), info, fds)?;
        Ok((App { inner }, w))
    }

    /// The application's share token: whoever presents it with the application's
    /// handle may add workers to it ([`App::join`]). Hand it only to processes
    /// you trust as much as this one (a forked child). The same token serves the
    /// application's whole life.
    pub fn share_token(&self) -> Result<u64, Error> {
        match self.request(Kind::ShareRequest, Body::Share { app: self.inner.handle })? {
            Reply::Token(t) => Ok(t),
            _ => Err(Error::Protocol("share reply without a token".into())),
        }
    }

    /// Makes app worker `wrk` (any worker of the application, by handle) passive on
    /// listener `l`: it keeps listening, but sessions go to the listener's active
    /// workers while there are any. `passive: false` makes it active again, for good
    /// (another worker can no longer make it passive).
    pub fn listener_passive(&self, l: ListenerId, wrk: u64, passive: bool) -> Result<(), Error> {
        let body = Body::ListenerPassive { app: self.inner.handle, listener: l.0, wrk, passive };
        self.request(Kind::ListenerPassiveRequest, body).map(|_| ())
    }

    fn request(&self, kind: Kind, body: Body<'_>) -> Result<Reply, Error> {
        let mut conn = self.inner.conn.lock().unwrap_or_else(|p| p.into_inner());
        conn.request(&self.inner.segs, kind, body, REQUEST_WAIT)
    }

    /// The application's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The node's handle of the application.
    pub fn handle(&self) -> u64 {
        self.inner.handle
    }

    /// Adds a worker (for another thread).
    pub fn worker_add(&self) -> Result<Worker, Error> {
        match self.request(Kind::WorkerAddRequest, Body::WorkerAdd { app: self.inner.handle })? {
            Reply::Worker(info, fds) => Worker::new(self.inner.clone(), info, fds),
            _ => Err(Error::Protocol("worker add reply without a worker".into())),
        }
    }

    /// Deletes a worker: its sessions are reset. Deleting the last one detaches the application.
    pub fn worker_del(&self, w: Worker) -> Result<(), Error> {
        let wrk = w.handle();
        drop(w);
        self.request(Kind::WorkerDelRequest, Body::WorkerDel { app: self.inner.handle, wrk }).map(|_| ())
    }

    /// Detaches the application: the closes queued before it are carried out
    /// (their FINs go out), every other session of every worker is reset and
    /// its memory freed.
    pub fn detach(self) -> Result<(), Error> {
        self.request(Kind::DetachRequest, Body::Detach { app: self.inner.handle }).map(|_| ())
    }

    /// Stores a TLS certificate and key with the node for later use; returns its slot.
    pub fn add_cert_key(&self, cert: &[u8], key: &[u8]) -> Result<u32, Error> {
        if cert.len() + key.len() + 8 > shm::api::MAX_BODY {
            return Err(Error::Invalid("certificate and key are larger than a message".into()));
        }
        match self.request(Kind::CertKeyAddRequest, Body::CertKeyAdd { cert, key })? {
            Reply::Slot(s) => Ok(s),
            _ => Err(Error::Protocol("cert/key reply without a slot".into())),
        }
    }

    /// Forgets a certificate/key slot.
    pub fn del_cert_key(&self, slot: u32) -> Result<(), Error> {
        self.request(Kind::CertKeyDelRequest, Body::CertKeyDel { index: slot }).map(|_| ())
    }

    /// Sends raw bytes on the API socket (for protocol tests).
    pub fn send_raw(&self, bytes: &[u8]) -> Result<(), Error> {
        let mut conn = self.inner.conn.lock().unwrap_or_else(|p| p.into_inner());
        conn.send_raw(bytes, REQUEST_WAIT)
    }

    /// Segments the application has mapped.
    pub fn segment_count(&self) -> usize {
        conn::lock(&self.inner.segs).len()
    }
}
