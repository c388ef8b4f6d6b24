//! The transport interface: what UDP, TCP and cut-through implement so the
//! session layer can treat them as peers (VPP's `transport_proto_vft_t`).
//!
//! A transport owns per-worker connection state. The session layer calls it
//! when an application connects, has written data, has read data, closes or
//! aborts, and once per loop so it can run its timers; the transport answers
//! by creating, feeding and closing sessions and by pushing
//! [`SessionEvent`]s, which the session layer then delivers to the
//! applications (after the transport has returned, so an application's
//! callback never re-enters a transport). Packet input is not part of the
//! trait: each transport parses its own protocol and is called with the
//! packet by the worker's IPv4 dispatch.

use std::net::{IpAddr, SocketAddr};

use net::seam::Seam;
use net::tables::NetTables;
use shm::types::{Endpoint, ErrorCode, SessionHandle, TransportOptions, TransportProto};
use wire::ipv4::Protocol;
use wire::rss::ActiveOpen;

use crate::error::SessionError;
use crate::pool::Pool;
use crate::session::Session;

/// What an application asks for when it connects.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ConnectRequest {
    /// Where to.
    pub remote: Endpoint,
    /// Parent session, for transports that multiplex streams in one connection.
    pub parent: Option<SessionHandle>,
    /// Transport options.
    pub options: TransportOptions,
    /// Value handed back with the connected event.
    pub opaque: u64,
}

impl ConnectRequest {
    /// A plain connect to `remote`.
    pub fn new(remote: Endpoint) -> Self {
        ConnectRequest { remote, parent: None, options: TransportOptions::default(), opaque: 0 }
    }
}

/// What happened to a session, for its application.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A listener created the session; the app must accept it.
    Accepted,
    /// A connect completed.
    Connected,
    /// A connect failed; the session is gone by the time this is delivered.
    ConnectFailed(ConnectError),
    /// New data in the rx fifo.
    Rx,
    /// The transport took data from the tx fifo and the app asked to hear about room.
    TxSpace,
    /// The peer closed its side.
    Disconnected,
    /// The peer reset the connection.
    Reset,
    /// The transport is done with the session; it is freed after delivery.
    TransportClosed,
}

/// Why a connect failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ConnectError {
    /// No route to the destination.
    NoRoute,
    /// The peer refused (RST or ICMP unreachable).
    Refused,
    /// No answer.
    Timeout,
    /// No free local port.
    NoPort,
    /// No fifo memory for the session.
    NoMemory,
    /// The TLS handshake failed (the reason is counted in `show tls`).
    Tls,
    /// The QUIC handshake failed (the reason is counted in `show quic`).
    Quic,
}

impl From<ConnectError> for ErrorCode {
    /// The code a failed connect reports to an external app.
    fn from(e: ConnectError) -> Self {
        match e {
            ConnectError::NoRoute => ErrorCode::NoRoute,
            ConnectError::Refused => ErrorCode::Refused,
            ConnectError::Timeout => ErrorCode::Timeout,
            ConnectError::NoPort => ErrorCode::NoPort,
            ConnectError::NoMemory => ErrorCode::NoMemory,
            ConnectError::Tls | ConnectError::Quic => ErrorCode::Refused,
        }
    }
}

impl ConnectError {
    /// Text for logs and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectError::NoRoute => "no route",
            ConnectError::Refused => "connection refused",
            ConnectError::Timeout => "timed out",
            ConnectError::NoPort => "no free local port",
            ConnectError::NoMemory => "no fifo memory",
            ConnectError::Tls => "tls handshake failed",
            ConnectError::Quic => "quic handshake failed",
        }
    }
}

/// An event for session `session` of this worker.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SessionEvent {
    /// Session pool index.
    pub session: u32,
    /// Generation of the session slot when the event was raised (stale events are dropped).
    pub generation: u32,
    /// What happened.
    pub kind: EventKind,
}

/// What a transport may touch while the session layer calls it.
pub struct TransportCx<'a, S: Seam> {
    /// The worker's L2/L3 (packet buffers, output, counters, time).
    pub io: &'a mut S,
    /// Interfaces and routes.
    pub net: &'a NetTables,
    /// The worker's sessions.
    pub sessions: &'a mut Pool<Session>,
    /// Events raised for applications.
    pub events: &'a mut Vec<SessionEvent>,
    /// This worker's index.
    pub worker: u32,
}

impl<S: Seam> TransportCx<'_, S> {
    /// Raises `kind` for session `index`.
    pub fn event(&mut self, index: u32, kind: EventKind) {
        if let Some(s) = self.sessions.get(index) {
            self.events.push(SessionEvent { session: index, generation: s.generation, kind });
        }
    }
}

/// The transport interface, over seam `S`.
pub trait Transport<S: Seam> {
    /// Which transport this is.
    fn proto(&self) -> TransportProto;

    /// Opens a connection for session `session` (already created, in state
    /// Connecting, with fifos) to `req.remote` from `local`; returns the
    /// connection index. The transport raises Connected or ConnectFailed.
    fn connect(
        &mut self,
        cx: &mut TransportCx<'_, S>,
        session: u32,
        local: SocketAddr,
        req: &ConnectRequest,
    ) -> Result<u32, SessionError>;

    /// The app wrote into the tx fifo of `session`: send what can be sent.
    fn push_tx(&mut self, cx: &mut TransportCx<'_, S>, session: u32) -> usize;

    /// Whether data still in a session's tx fifo after [`Transport::push_tx`]
    /// is data the transport could not send yet, so the worker calls
    /// `push_tx` again on its next loop (true by default). A transport that
    /// keeps sent but unacknowledged data in the fifo, and drives itself when
    /// it can send more (on acknowledgements, timers, buffers, ring space),
    /// says false: retrying would spin the worker until the peer's ACK.
    fn retry_tx_while_fifo_has_data(&self) -> bool {
        true
    }

    /// The app read from the rx fifo of `session` (window updates).
    fn app_rx(&mut self, _cx: &mut TransportCx<'_, S>, _session: u32) {}

    /// The app closed `session`: finish gracefully. The transport raises
    /// TransportClosed when the session can be freed.
    fn close(&mut self, cx: &mut TransportCx<'_, S>, session: u32);

    /// Abort `session` at once (the app worker is going away): reset the
    /// peer if the protocol has a way, forget the connection, raise nothing.
    fn abort(&mut self, cx: &mut TransportCx<'_, S>, session: u32);

    /// The app will write no more to `session` but goes on reading (half-close):
    /// tell the peer once what is in the tx fifo has gone. Nothing by default
    /// (datagrams have no end of stream).
    fn shutdown_write(&mut self, _cx: &mut TransportCx<'_, S>, _session: u32) {}

    /// Timers and deferred work; returns how much was done.
    fn poll(&mut self, _cx: &mut TransportCx<'_, S>) -> usize {
        0
    }

    /// Connection `conn` as `show session verbose` shows it.
    fn conn_snapshot(&self, conn: u32) -> crate::snapshot::ConnSnapshot;

    /// Open connections.
    fn connections(&self) -> usize;
}

/// First ephemeral port (IANA dynamic range).
pub const EPHEMERAL_FIRST: u16 = 49152;

/// Ephemeral ports for one worker's active opens. The workers share the
/// range by turns (`(port - EPHEMERAL_FIRST) % workers == worker`), so two
/// workers never pick the same port; where the port's RSS key and table are
/// known, a port is taken only if the peer's replies hash to this worker's
/// queue ([`Seam::pick_local_port`]). The search starts after the last port
/// picked, so ports are used round the range.
#[derive(Debug, Clone)]
pub struct PortPicker {
    worker: u16,
    workers: u16,
    next: u16,
}

impl PortPicker {
    /// The picker of worker `worker` of `workers`.
    pub fn new(worker: u32, workers: u32) -> Self {
        let workers = workers.clamp(1, u32::from(u16::MAX)) as u16;
        let worker = (worker % u32::from(workers)) as u16;
        PortPicker { worker, workers, next: EPHEMERAL_FIRST + worker }
    }

    /// Whether `port` is in this worker's share of the range.
    pub fn mine(&self, port: u16) -> bool {
        port >= EPHEMERAL_FIRST && (port - EPHEMERAL_FIRST) % self.workers == self.worker
    }

    /// Where the next search starts after picking `port`: the next port of
    /// our share, back at the start of the range past the end.
    fn advance_past(&mut self, port: u16) {
        self.next = port.checked_add(self.workers).unwrap_or(EPHEMERAL_FIRST + self.worker);
    }

    /// A port for an active open of `l4` from `local_ip` to `remote` for
    /// which `free` holds (the transport's own check: no connection, or one
    /// it may take over).
    pub fn pick<S: Seam>(
        &mut self,
        io: &S,
        net: &NetTables,
        l4: Protocol,
        local_ip: IpAddr,
        remote: SocketAddr,
        mut free: impl FnMut(u16) -> bool,
    ) -> Option<u16> {
        let open = ActiveOpen { l4, local: local_ip, remote: remote.ip(), remote_port: remote.port() };
        let span = u32::from(u16::MAX - EPHEMERAL_FIRST) + 1;
        let me = self.clone();
        let p =
            io.pick_local_port(net, open, EPHEMERAL_FIRST..=u16::MAX, self.next, span, |p| me.mine(p) && free(p))?;
        self.advance_past(p);
        Some(p)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn workers_share_the_range_by_turns() {
        let pickers: Vec<PortPicker> = (0..3).map(|w| PortPicker::new(w, 3)).collect();
        for p in EPHEMERAL_FIRST..=u16::MAX {
            assert_eq!(pickers.iter().filter(|k| k.mine(p)).count(), 1, "port {p}");
        }
        assert!(!pickers[0].mine(EPHEMERAL_FIRST - 3), "below the range is nobody's");
        let one = PortPicker::new(0, 1);
        assert!((EPHEMERAL_FIRST..=u16::MAX).all(|p| one.mine(p)));
    }

    #[test]
    fn the_search_moves_on_and_wraps() {
        let mut k = PortPicker::new(1, 2);
        assert_eq!(k.next, EPHEMERAL_FIRST + 1);
        k.advance_past(EPHEMERAL_FIRST + 7);
        assert_eq!(k.next, EPHEMERAL_FIRST + 9);
        k.advance_past(u16::MAX);
        assert_eq!(k.next, EPHEMERAL_FIRST + 1, "past the end: back to the first port of our share");
        assert!(k.mine(k.next));
    }

    #[test]
    fn transport_options_refuse_an_mss_outside_the_shared_range() {
        for m in [0u16, 1, 87, 9001] {
            let o = TransportOptions { mss: Some(m), ..TransportOptions::default() };
            let e = SessionError::from(o.validate().unwrap_err());
            assert_eq!(e.to_string(), format!("invalid value for mss: {m} is outside 88..=9000"));
        }
        assert!(TransportOptions::default().validate().is_ok());
        assert!(TransportOptions { mss: Some(536), ..TransportOptions::default() }.validate().is_ok());
    }
}
