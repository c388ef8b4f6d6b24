//! QUIC configurations: the TLS 1.3 side comes from the TLS loaders
//! (`crate::tls`: certificate, key, CA, server name, ALPN, `insecure`), the
//! QUIC side (stream limits, windows, idle timeout) from [`QuicLimits`].

use std::sync::Arc;
use std::time::Duration;

use quinn_proto::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn_proto::{ClientConfig, IdleTimeout, ServerConfig, TransportConfig, VarInt};

use crate::error::SessionError;
use crate::tls::{TlsClient, TlsClientOptions, TlsServer, TlsServerOptions};

/// Most bidirectional streams a peer may have open on one connection at a time.
pub const MAX_STREAMS: u32 = 100;
/// A connection with no packet for this long is closed (idle timeout, both sides).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// UDP payload per datagram: fits a 1500-byte MTU over IPv6 too (no path MTU discovery).
pub const DATAGRAM_SIZE: u16 = 1452;

/// The per-connection limits a QUIC transport gives its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuicLimits {
    /// Streams the peer may have open at once ([`MAX_STREAMS`]).
    pub max_streams: u32,
    /// Idle timeout ([`IDLE_TIMEOUT`]).
    pub idle_timeout: Duration,
}

impl Default for QuicLimits {
    fn default() -> Self {
        QuicLimits { max_streams: MAX_STREAMS, idle_timeout: IDLE_TIMEOUT }
    }
}

impl QuicLimits {
    /// The engine's transport settings for a connection whose stream
    /// sessions get rx fifos of `rx_fifo` bytes: a stream's receive window
    /// is its fifo, so the peer never has more in flight on a stream than
    /// the app can take, and reads from the engine only what fits.
    pub fn transport(&self, rx_fifo: u32) -> Arc<TransportConfig> {
        let mut t = TransportConfig::default();
        let window = VarInt::from_u32(rx_fifo.max(4096));
        t.max_concurrent_bidi_streams(VarInt::from_u32(self.max_streams))
            .max_concurrent_uni_streams(VarInt::from_u32(0))
            .stream_receive_window(window)
            .receive_window(
                VarInt::from_u64(u64::from(rx_fifo.max(4096)) * u64::from(self.max_streams.max(1)))
                    .unwrap_or(VarInt::MAX),
            )
            .max_idle_timeout(IdleTimeout::try_from(self.idle_timeout).ok())
            .initial_mtu(DATAGRAM_SIZE)
            .min_mtu(1200)
            .mtu_discovery_config(None)
            .enable_segmentation_offload(false);
        Arc::new(t)
    }
}

/// A QUIC server's configuration (a `quic://` listener's): certificate and key as for TLS.
#[derive(Clone)]
pub struct QuicServer(pub Arc<ServerConfig>);

impl std::fmt::Debug for QuicServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QuicServer")
    }
}

impl PartialEq for QuicServer {
    /// The same loaded configuration.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for QuicServer {}

impl QuicServer {
    /// Loads the certificate and key (errors name the file, as for TLS) for
    /// connections whose stream sessions get `rx_fifo`-byte rx fifos.
    pub fn load(o: &TlsServerOptions, limits: &QuicLimits, rx_fifo: u32) -> Result<QuicServer, SessionError> {
        let tls = TlsServer::load(o)?;
        Self::from_tls(&tls, limits, rx_fifo)
    }

    /// The QUIC configuration over a loaded TLS one (TLS 1.3 is required).
    pub fn from_tls(tls: &TlsServer, limits: &QuicLimits, rx_fifo: u32) -> Result<QuicServer, SessionError> {
        let crypto = QuicServerConfig::try_from(tls.0.clone())
            .map_err(|e| SessionError::UnsupportedConfig(format!("quic: {e}")))?;
        let mut cfg = ServerConfig::with_crypto(Arc::new(crypto));
        cfg.transport_config(limits.transport(rx_fifo));
        // A connection stays on the tuple it came from (the worker's tables are by tuple).
        cfg.migration(false);
        Ok(QuicServer(Arc::new(cfg)))
    }
}

/// A QUIC client's configuration and the name it connects to.
#[derive(Clone)]
pub struct QuicClient {
    /// The engine's client configuration.
    pub config: ClientConfig,
    /// SNI and the name verified.
    pub server_name: String,
}

impl std::fmt::Debug for QuicClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QuicClient({:?})", self.server_name)
    }
}

impl QuicClient {
    /// Builds a client (CA file or web roots, or `insecure`; server name; ALPN) as for TLS.
    pub fn load(o: &TlsClientOptions, limits: &QuicLimits, rx_fifo: u32) -> Result<QuicClient, SessionError> {
        let tls = TlsClient::load(o)?;
        Self::from_tls(&tls, limits, rx_fifo)
    }

    /// The QUIC configuration over a loaded TLS one.
    pub fn from_tls(tls: &TlsClient, limits: &QuicLimits, rx_fifo: u32) -> Result<QuicClient, SessionError> {
        let crypto = QuicClientConfig::try_from(tls.config.clone())
            .map_err(|e| SessionError::UnsupportedConfig(format!("quic: {e}")))?;
        let mut config = ClientConfig::new(Arc::new(crypto));
        config.transport_config(limits.transport(rx_fifo));
        Ok(QuicClient { config, server_name: tls.server_name.to_str().into_owned() })
    }
}
