//! TLS as a transport layered on TCP (VPP's TLS app transport), with rustls
//! (the `ring` provider) as the engine.
//!
//! A TLS session is one session the app sees, with plaintext in its fifos;
//! under it is a TCP connection of the worker's TCP transport whose
//! ciphertext runs through two heap fifos of its own ([`TlsConn`]). The
//! layering is inside the TCP transport: a connection may carry a
//! [`TlsConn`], and the transport then feeds segments into the ciphertext
//! fifos, pumps the engine on each event of either side, and raises the
//! session's events from what the engine did (accepted or connected only
//! once the handshake has finished, rx when plaintext arrived, disconnected
//! after close_notify or FIN). Sessions of this kind have
//! [`TransportProto::Tls`](shm::types::TransportProto::Tls); the worker
//! sends their calls to the TCP transport. So records are encrypted and
//! decrypted on the worker that owns the TCP connection, in its loop, with
//! no thread and no copy beyond the engine's own.
//!
//! `config.rs` loads certificates, keys and trust anchors (errors name the
//! file); `conn.rs` is the per-connection pump.

mod config;
mod conn;

pub use config::{check_alpn, TlsClient, TlsClientOptions, TlsServer, TlsServerOptions};
pub use conn::{failure_reason, Pumped, TlsConn, MAX_RECORD};

counters::counters! {
    /// What TLS counts on a worker (`show tls`).
    pub enum TlsCounter {
        HandshakeServer => ("tls handshakes completed as server", false),
        HandshakeClient => ("tls handshakes completed as client", false),
        ResumedServer => ("tls handshakes resumed as server", false),
        ResumedClient => ("tls handshakes resumed as client", false),
        FailWrongName => ("tls handshake failed: certificate not valid for the server name", true),
        FailUntrusted => ("tls handshake failed: certificate not trusted", true),
        FailExpired => ("tls handshake failed: certificate expired or not yet valid", true),
        FailAlert => ("tls handshake failed: alert from the peer", true),
        FailAlpn => ("tls handshake failed: no common alpn protocol", true),
        FailIncompatible => ("tls handshake failed: no common version or cipher suite", true),
        FailProtocol => ("tls failed: bad message or record", true),
        FailPeerClosed => ("tls handshake failed: peer closed or reset the connection", true),
        FailTimeout => ("tls handshake failed: not finished within the handshake timeout", true),
        FailNoMemory => ("tls connection refused: no memory for its state", true),
        PlainRxBytes => ("tls plaintext bytes received", false),
        PlainTxBytes => ("tls plaintext bytes sent", false),
        CipherRxBytes => ("tls record bytes received", false),
        CipherTxBytes => ("tls record bytes sent", false),
    }
}

/// One worker's [`TlsCounter`]s.
pub type TlsCounters = counters::AtomicCounters<TlsCounter, { TlsCounter::COUNT }>;
