//! Snapshots of the session layer's state for the operator: plain data that
//! the workers and the main thread copy out of their tables, which the
//! binary's CLI formats as text (and can print as JSON: every snapshot is
//! `serde::Serialize`). Nothing here formats; the text lives in `src/`.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::net::SocketAddr;

use serde::{Serialize, Serializer};

use crate::session::SessionState;
use shm::types::{Endpoint, Proto, Scope, SessionHandle, TransportProto};

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
    pub local: SocketAddr,
    /// Remote endpoint.
    pub remote: SocketAddr,
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
        local: SocketAddr,
        /// Remote endpoint.
        remote: SocketAddr,
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
        local: SocketAddr,
        /// Remote endpoint.
        remote: SocketAddr,
        /// The connection's state and counters.
        stats: tcp::ConnStats,
    },
    /// A TLS connection over TCP.
    Tls {
        /// Local endpoint.
        local: SocketAddr,
        /// Remote endpoint.
        remote: SocketAddr,
        /// The TCP connection's state and counters.
        stats: tcp::ConnStats,
        /// Negotiated version (`TLSv1_3`; `-` while handshaking).
        version: String,
        /// Negotiated cipher suite.
        cipher: String,
        /// Negotiated ALPN protocol (`-`: none).
        alpn: String,
        /// Whether this side is the server.
        server: bool,
    },
    /// A QUIC connection, or (with `stream`) a stream on one.
    Quic {
        /// Local endpoint.
        local: SocketAddr,
        /// Remote endpoint.
        remote: SocketAddr,
        /// The stream's id (a stream session; `u64::MAX`: waiting for stream credit).
        stream: Option<u64>,
        /// Streams open on the connection.
        streams: usize,
        /// The handshake is done.
        established: bool,
        /// Whether this side is the server.
        server: bool,
        /// Smoothed round-trip time (µs).
        rtt_us: u64,
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

/// One application, as a row of `show app`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppSnapshot {
    /// Index in the application pool.
    pub index: u32,
    /// Its name.
    pub name: String,
    /// Id of the namespace it attached in.
    pub namespace: String,
    /// A builtin app (else external).
    pub builtin: bool,
}

/// One of a listener's app workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ListenerWorkerSnapshot {
    /// The app worker's map index within its application.
    pub map: u32,
    /// It gets sessions only when no active worker listens.
    pub passive: bool,
}

/// One app listener, as `show app server` and `show app INDEX verbose` print it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListenerSnapshot {
    /// Index in the listener pool.
    pub index: u32,
    /// What it listens on.
    #[serde(serialize_with = "display")]
    pub endpoint: Endpoint,
    /// Name of the application that listens.
    pub app: String,
    /// Its listening app workers, in the order accepts rotate over them.
    pub workers: Vec<ListenerWorkerSnapshot>,
    /// Which tables it is registered in.
    #[serde(serialize_with = "display")]
    pub scope: Scope,
    /// The app worker (map index) that owns its listen sessions.
    pub owner: u32,
}

/// What an app worker holds (segments, fifos, sessions), for `show app INDEX verbose`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppWorkerResourcesSnapshot {
    /// Size in bytes of each of its segments.
    pub segment_sizes: Vec<u64>,
    /// Fifo pairs allocated from them.
    pub fifo_pairs_in_use: usize,
    /// Rx fifo size of its sessions, bytes.
    pub rx_fifo_size: u64,
    /// Tx fifo size of its sessions, bytes.
    pub tx_fifo_size: u64,
    /// Sessions open now.
    pub sessions_open: u64,
    /// Fifo pairs it could not get.
    pub fifo_alloc_failures: u64,
    /// Cut-through clients it holds segments for.
    pub ct_clients: usize,
    /// Fifo pairs in those cut-through segments.
    pub ct_pairs: usize,
}

/// One worker of an application, for `show app INDEX`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppDetailWorkerSnapshot {
    /// Its map index within the application.
    pub map: u32,
    /// Its index in the app worker pool.
    pub app_worker: u32,
    /// What it holds (`None`: nothing to say).
    pub resources: Option<AppWorkerResourcesSnapshot>,
}

/// One application in detail, for `show app INDEX [verbose]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppDetailSnapshot {
    /// Index in the application pool.
    pub index: u32,
    /// Its name.
    pub name: String,
    /// Id of its namespace.
    pub namespace: String,
    /// Index of its namespace.
    pub ns_index: u32,
    /// Scope of its listeners.
    #[serde(serialize_with = "display")]
    pub scope: Scope,
    /// A builtin app (else external).
    pub builtin: bool,
    /// First segment's size, bytes.
    pub segment_size: u64,
    /// Size of each added segment, bytes (0: none are added).
    pub add_segment_size: u64,
    /// Fifo pairs allocated at attach.
    pub prealloc_fifo_pairs: u32,
    /// Rx fifo size, bytes.
    pub rx_fifo_size: u32,
    /// Tx fifo size, bytes.
    pub tx_fifo_size: u32,
    /// Event queue slots.
    pub event_queue_size: u32,
    /// The app is woken by eventfd.
    pub use_eventfd: bool,
    /// TLS engine slot.
    pub tls_engine: u8,
    /// Transports it proxies.
    #[serde(serialize_with = "protos")]
    pub proxy: Vec<Proto>,
    /// Its workers, by map index.
    pub workers: Vec<AppDetailWorkerSnapshot>,
    /// Its listeners, by index.
    pub listeners: Vec<ListenerSnapshot>,
}

fn protos<S: Serializer>(ps: &[Proto], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(ps.iter().map(ToString::to_string))
}

/// One app worker of an external app as the API server sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ApiWorkerSnapshot {
    /// Its index in the app worker pool.
    pub app_worker: u32,
    /// Segments the app has been given and not told to unmap.
    pub segments_mapped: usize,
}

/// An external application's API connection, for `show app INDEX`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiAppSnapshot {
    /// The connection's id.
    pub connection: u64,
    /// The peer's pid.
    pub pid: i32,
    /// The peer's uid.
    pub uid: u32,
    /// The app's workers attached through it.
    pub workers: Vec<ApiWorkerSnapshot>,
}

/// `show tcp stats`: the TCP counters and connections by state, summed over the workers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TcpStatsSnapshot {
    /// Connections by state name.
    pub states: BTreeMap<String, usize>,
    /// Every counter (by its CLI name, in display order) with its value.
    #[serde(serialize_with = "ordered_map")]
    pub counters: Vec<(&'static str, u64)>,
}

impl TcpStatsSnapshot {
    /// Sums what each worker's `SessionWorker::tcp_stats` gave.
    pub fn sum(per_worker: &[(tcp::Counters, Vec<(String, usize)>)]) -> Self {
        let mut states = BTreeMap::new();
        let mut counters: Vec<(&'static str, u64)> = tcp::Counter::ALL.iter().map(|k| (k.name(), 0)).collect();
        for (c, st) in per_worker {
            for (slot, &k) in counters.iter_mut().zip(tcp::Counter::ALL) {
                slot.1 += c.get(k);
            }
            for (name, n) in st {
                *states.entry(name.clone()).or_default() += n;
            }
        }
        TcpStatsSnapshot { states, counters }
    }
}

/// Serialises `(name, value)` pairs as a map that keeps their order.
pub(crate) fn ordered_map<S: Serializer>(pairs: &[(&'static str, u64)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(pairs.iter().map(|(k, v)| (*k, *v)))
}
