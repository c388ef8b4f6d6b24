//! QUIC as a transport on UDP, with quinn-proto (sans-IO) as the engine and
//! rustls (the `ring` provider) for its TLS 1.3.
//!
//! Two kinds of session have [`TransportProto::Quic`](shm::types::TransportProto::Quic):
//! a **connection** session (made by a connect without a parent, or by a
//! `quic://` listener for a new peer; its fifos are small and carry no
//! data) and **stream** sessions, each a bidirectional QUIC stream with its
//! own fifos: opened by a connect whose [`ConnectRequest::parent`](crate::transport::ConnectRequest)
//! is the connection session's handle, or accepted when the peer opens one
//! (at the app worker that owns the connection). A session's `conn` names
//! the connection, or the stream with [`STREAM_BIT`] set.
//!
//! Each worker has its own engine endpoints (one for its client connections,
//! one per `quic://` listener it has seen a peer of) in [`QuicTransport`].
//! Datagrams come in through the worker's UDP input: a datagram whose
//! tuple is a QUIC connection's, or that is for a `quic://` listener's port
//! from a new peer, goes to the engine instead of a UDP session; what the
//! engine sends leaves through the node's UDP/IP output (checksums and
//! offloads as for UDP), transmitted at the end of each drive of a
//! connection, so a burst of input is answered once per poll. Each
//! connection has one timer on the transport's timer wheel, re-armed from
//! the engine's `poll_timeout`.
//!
//! Flow control follows the fifos: a stream's receive window is the app's
//! rx fifo size and the engine is read only as far as the rx fifo has room,
//! so a slow reader closes its stream's window at the peer.
//!
//! `config.rs` builds the engine's configurations; `transport.rs` the
//! endpoints, connections and streams.

mod config;
mod transport;

pub use config::{QuicClient, QuicLimits, QuicServer, DATAGRAM_SIZE, IDLE_TIMEOUT, MAX_STREAMS};
pub use transport::{QuicInput, QuicTransport, STREAM_BIT};

counters::counters! {
    /// What QUIC counts on a worker (`show quic`).
    pub enum QuicCounter {
        HandshakeServer => ("quic handshakes completed as server", false),
        HandshakeClient => ("quic handshakes completed as client", false),
        RxDatagrams => ("quic datagrams received", false),
        TxDatagrams => ("quic datagrams sent", false),
        RxDropped => ("quic datagram dropped: not quic, or for no connection", true),
        StatelessSent => ("quic stateless replies sent (version negotiation, reset, refusal)", false),
        ConnRefused => ("quic new connection refused by the engine", true),
        ConnNoMemory => ("quic new connection refused: no session or fifo memory", true),
        StreamsOpened => ("quic streams opened by the app", false),
        StreamsAccepted => ("quic streams opened by the peer", false),
        StreamsNoMemory => ("quic peer stream refused: no session or fifo memory (stream stopped)", true),
        StreamsUni => ("quic peer unidirectional stream refused (stopped)", true),
        StreamsReset => ("quic streams reset or stopped by the peer", false),
        FailTls => ("quic handshake failed: tls (certificate, name, alpn, alert)", true),
        FailStreamLimit => ("quic connection closed: stream limit exceeded", true),
        FailProtocol => ("quic connection closed: protocol violation", true),
        FailTimeout => ("quic connection timed out", true),
        FailVersion => ("quic connection failed: no common version", true),
        ClosedByPeer => ("quic connections closed by the peer", false),
        ResetByPeer => ("quic connections reset by the peer (stateless reset)", true),
        ClosedLocally => ("quic connections closed by the app", false),
        StreamRxBytes => ("quic stream bytes received", false),
        StreamTxBytes => ("quic stream bytes sent", false),
    }
}

/// One worker's [`QuicCounter`]s.
pub type QuicCounters = counters::AtomicCounters<QuicCounter, { QuicCounter::COUNT }>;
