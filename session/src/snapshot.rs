//! Snapshots of the session layer's state for the operator: plain data that
//! the workers and the main thread copy out of their tables, which the
//! binary's CLI formats as text (and can print as JSON: every snapshot is
//! `serde::Serialize`). Nothing here formats; the text lives in `src/`.

use std::fmt::Display;
use std::net::SocketAddrV4;

use serde::{Serialize, Serializer};

use crate::session::SessionState;
use shm::types::{Endpoint, SessionHandle, TransportProto};

/// Serialises a value by its `Display` text (handles, enums named by word).
pub(crate) fn display<T: Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn proto_name<S: Serializer>(p: &TransportProto, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(p.as_str())
}

fn state_name<S: Serializer>(st: &SessionState, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(st.as_str())
}

/// How full a fifo is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FifoUsage {
    /// Bytes waiting to be read.
    pub used: usize,
    /// Data capacity in bytes.
    pub capacity: usize,
}

/// One session, as `show session [verbose]` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct SessionSnapshot {
    /// Its handle (`worker:index`).
    #[serde(serialize_with = "display")]
    pub handle: SessionHandle,
    /// Transport under it.
    #[serde(serialize_with = "proto_name")]
    pub proto: TransportProto,
    /// Local endpoint.
    pub local: SocketAddrV4,
    /// Remote endpoint.
    pub remote: SocketAddrV4,
    /// Life-cycle state.
    #[serde(serialize_with = "state_name")]
    pub state: SessionState,
    /// Name of the application it belongs to.
    pub app: String,
    /// The app worker (index in the control tables) that gets its events.
    pub app_worker: u32,
    /// It came from a connect (not from an accept).
    pub client: bool,
    /// The rx fifo (node to app).
    pub rx_fifo: FifoUsage,
    /// The tx fifo (app to node).
    pub tx_fifo: FifoUsage,
    /// Bytes enqueued towards the app.
    pub rx_bytes: u64,
    /// Bytes the transport took from the app.
    pub tx_bytes: u64,
    /// Datagrams or segments dropped because the rx fifo was full.
    pub rx_dropped: u64,
    /// App listener (index) it was accepted from, if any.
    pub listener: Option<u32>,
    /// The transport connection under it.
    pub conn: ConnSnapshot,
}

/// A transport connection under a session.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ConnSnapshot {
    /// A UDP connection.
    Udp {
        /// Local endpoint.
        local: SocketAddrV4,
        /// Remote endpoint.
        remote: SocketAddrV4,
        /// Datagrams received.
        rx_dgrams: u64,
        /// Datagrams sent.
        tx_dgrams: u64,
        /// Made by a first datagram from the peer (not by a connect).
        accepted: bool,
    },
    /// A TCP connection.
    Tcp {
        /// Local endpoint.
        local: SocketAddrV4,
        /// Remote endpoint.
        remote: SocketAddrV4,
        /// The connection's state and counters.
        stats: tcp::ConnStats,
    },
    /// A cut-through connection between two local sessions.
    CutThrough {
        /// Datagram (rather than stream) sessions.
        dgram: bool,
        /// The client session's index on the worker.
        client: u32,
        /// The server session's index on the worker.
        server: u32,
        /// The client side closed.
        client_closed: bool,
        /// The server side closed.
        server_closed: bool,
    },
    /// The connection is gone (the session is being torn down).
    Closed {
        /// Which transport it was.
        #[serde(serialize_with = "proto_name")]
        proto: TransportProto,
    },
}

/// An app worker's part on one data-plane worker, for `show app INDEX verbose`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum AppWorkerSnapshot {
    /// A builtin app (`None`: it has nothing to say, or is not started on this worker).
    Builtin {
        /// What the app reports.
        app: Option<BuiltinAppSnapshot>,
    },
    /// An external app worker's queues with this worker.
    External(ExternalEndpointSnapshot),
}

/// What a builtin app reports about itself.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "app", rename_all = "kebab-case")]
pub enum BuiltinAppSnapshot {
    /// The echo server.
    EchoServer {
        /// Sessions accepted.
        accepted: u64,
        /// Datagrams or reads echoed.
        units: u64,
        /// Bytes echoed.
        bytes: u64,
    },
    /// An echo client run.
    EchoClient {
        /// What it measures.
        #[serde(serialize_with = "display")]
        mode: echo::EchoMode,
        /// The server.
        #[serde(serialize_with = "display")]
        remote: Endpoint,
        /// Sessions done.
        done: usize,
        /// Sessions in all.
        sessions: usize,
        /// Bytes that came back.
        bytes_back: u64,
        /// Connections made (`cps` mode only).
        connections: Option<u64>,
    },
    /// The HTTP server.
    HttpServer {
        /// Requests answered.
        requests: u64,
        /// Bad requests.
        bad_requests: u64,
        /// Connections open.
        open: usize,
    },
}

/// How full a message queue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QueueUsage {
    /// Messages waiting.
    pub len: usize,
    /// Slots.
    pub capacity: usize,
}

/// One external app worker's queues with one data-plane worker.
#[derive(Debug, Clone, Serialize)]
pub struct ExternalEndpointSnapshot {
    /// Events to the app.
    pub event_queue: QueueUsage,
    /// Requests from the app.
    pub request_queue: QueueUsage,
    /// Events waiting for room in the event queue.
    pub backlog: usize,
    /// Most the backlog has held.
    pub backlog_max: usize,
    /// When the backlog overflows (the app is detached).
    pub backlog_limit: usize,
    /// Events sent.
    pub events: u64,
    /// Requests handled.
    pub requests: u64,
    /// Eventfd wake-ups sent.
    pub wakeups: u64,
    /// Times the event queue was full.
    pub queue_full: u64,
    /// Requests refused as malformed.
    pub bad_requests: u64,
    /// Requests naming sessions that are not this app's (or are gone).
    pub bad_sessions: u64,
    /// Why a worker asked for the app to be detached, if one did.
    pub detaching: Option<String>,
}
