//! Builtin applications: Rust code inside the node, called back on the
//! data-plane workers where their sessions live.
//!
//! A builtin app has one [`BuiltinApp`] instance per data-plane worker (made
//! by the factory given at attach), so its callbacks never need locks: the
//! instance on worker 2 only ever sees worker 2's sessions. The callbacks
//! get an [`AppApi`], the same operations an external application performs
//! through its message queues: read and write the session fifos, connect,
//! close, listen. Reads and writes are transparent to the transport: on a
//! datagram session [`AppApi::recv`] returns one datagram and
//! [`AppApi::send`] sends one, on a stream session they move bytes, so an
//! app written against this API runs over UDP, TCP and cut-through alike.

use std::net::SocketAddr;

use net::seam::Seam;
use net::tables::NetTables;
use shm::types::{Endpoint, SessionHandle, TransportProto};

use crate::error::SessionError;
use crate::session::{dgram_dequeue, dgram_enqueue, DgramHeader, SessionState};
use crate::transport::{ConnectError, ConnectRequest};
use crate::worker::{SessionShared, SessionWorker};

/// What a builtin application does when things happen to its sessions.
///
/// Every method has a default, so an app implements only what it needs.
pub trait BuiltinApp<S: Seam>: Send {
    /// A listener made a session for us; return false to refuse it (it is closed).
    fn accepted(&mut self, _api: &mut AppApi<'_, S>, _s: SessionHandle) -> bool {
        true
    }

    /// A connect we made (with `opaque`) completed or failed.
    fn connected(&mut self, _api: &mut AppApi<'_, S>, _opaque: u64, _result: Result<SessionHandle, ConnectError>) {}

    /// The session has new data in its rx fifo.
    fn rx(&mut self, _api: &mut AppApi<'_, S>, _s: SessionHandle) {}

    /// Room freed up in the tx fifo (only after [`AppApi::want_tx`]).
    fn tx(&mut self, _api: &mut AppApi<'_, S>, _s: SessionHandle) {}

    /// The peer closed its side; by default we close ours.
    fn disconnected(&mut self, api: &mut AppApi<'_, S>, s: SessionHandle) {
        api.close(s);
    }

    /// The peer reset the session; it is gone after this returns.
    fn reset(&mut self, _api: &mut AppApi<'_, S>, _s: SessionHandle) {}

    /// The session is fully closed and about to be freed.
    fn closed(&mut self, _api: &mut AppApi<'_, S>, _s: SessionHandle) {}

    /// A listen asked with [`AppApi::listen`] finished.
    fn bound(&mut self, _api: &mut AppApi<'_, S>, _ep: Endpoint, _result: Result<SessionHandle, SessionError>) {}

    /// Called once per worker loop; do periodic work (e.g. a client's sends). Return how much was done.
    fn poll(&mut self, _api: &mut AppApi<'_, S>) -> usize {
        0
    }

    /// What this instance reports for `show app N verbose` (nothing by default).
    fn snapshot(&self) -> Option<crate::snapshot::BuiltinAppSnapshot> {
        None
    }
}

/// What a session looks like to its app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionInfo {
    /// Transport.
    pub proto: TransportProto,
    /// State.
    pub state: SessionState,
    /// Local endpoint.
    pub local: SocketAddr,
    /// Remote endpoint.
    pub remote: SocketAddr,
}

/// The operations a builtin app may perform from its callbacks.
pub struct AppApi<'a, S: Seam> {
    pub(crate) w: &'a mut SessionWorker<S>,
    pub(crate) io: &'a mut S,
    pub(crate) net: &'a NetTables,
    pub(crate) shared: &'a SessionShared,
    pub(crate) app_wrk: u32,
}

impl<S: Seam> AppApi<'_, S> {
    /// Index of the data-plane worker this instance runs on.
    pub fn worker(&self) -> u32 {
        self.w.index
    }

    /// Number of data-plane workers.
    pub fn workers(&self) -> u32 {
        self.w.workers
    }

    /// The loop's time (ns since the node started).
    pub fn now_ns(&self) -> u64 {
        self.io.now_ns()
    }

    /// Our sessions' index in the worker pool, if `s` is ours and alive.
    fn mine(&self, s: SessionHandle) -> Option<u32> {
        if s.worker() != self.w.index {
            return None;
        }
        let sess = self.w.sessions.get(s.index())?;
        (sess.app_wrk == self.app_wrk && sess.fifos.is_some()).then_some(s.index())
    }

    /// Facts about a session of ours.
    pub fn info(&self, s: SessionHandle) -> Option<SessionInfo> {
        let i = self.mine(s)?;
        let sess = self.w.sessions.get(i)?;
        Some(SessionInfo { proto: sess.proto, state: sess.state, local: sess.local, remote: sess.remote })
    }

    /// Bytes (stream) or the next datagram's payload length (dgram) ready to read.
    pub fn rx_ready(&self, s: SessionHandle) -> usize {
        let Some(sess) = self.mine(s).and_then(|i| self.w.sessions.get(i)) else { return 0 };
        if sess.is_dgram() {
            crate::session::dgram_peek_header(sess.app_rx()).map_or(0, |h| h.len as usize)
        } else {
            sess.app_rx().max_dequeue()
        }
    }

    /// Reads: up to `buf.len()` bytes of the stream, or one datagram (truncated to `buf`).
    pub fn recv(&mut self, s: SessionHandle, buf: &mut [u8]) -> usize {
        let Some(i) = self.mine(s) else { return 0 };
        let sess = self.w.sessions.get(i).expect("checked");
        let n = if sess.is_dgram() {
            dgram_dequeue(sess.app_rx(), buf).map_or(0, |(_, n)| n)
        } else {
            sess.app_rx().dequeue(buf)
        };
        if n > 0 {
            self.w.app_read(i);
        }
        n
    }

    /// Room for [`AppApi::send`]: bytes (stream) or the largest datagram that fits now.
    pub fn send_space(&self, s: SessionHandle) -> usize {
        let Some(sess) = self.mine(s).and_then(|i| self.w.sessions.get(i)) else { return 0 };
        let room = sess.app_tx().max_enqueue();
        if sess.is_dgram() {
            room.saturating_sub(DgramHeader::SIZE)
        } else {
            room
        }
    }

    /// Writes: as much of `data` as fits (stream), or all of it as one datagram or nothing.
    pub fn send(&mut self, s: SessionHandle, data: &[u8]) -> usize {
        let Some(i) = self.mine(s) else { return 0 };
        let sess = self.w.sessions.get_mut(i).expect("checked");
        if !matches!(sess.state, SessionState::Ready | SessionState::TransportClosing) {
            return 0;
        }
        let n = if sess.is_dgram() {
            let hdr = DgramHeader::new(data.len() as u32, sess.remote, sess.local);
            let tx = &mut sess.fifos.as_mut().expect("checked").app_tx;
            if tx.with_view_mut(|tx| dgram_enqueue(tx, &hdr, data)) {
                data.len()
            } else {
                0
            }
        } else {
            sess.app_tx().enqueue(data)
        };
        if n > 0 {
            self.w.app_wrote(i);
        }
        n
    }

    /// Ask for a [`BuiltinApp::tx`] call when the transport frees tx room.
    pub fn want_tx(&mut self, s: SessionHandle, on: bool) {
        if let Some(i) = self.mine(s) {
            if let Some(sess) = self.w.sessions.get_mut(i) {
                sess.want_tx_event = on;
            }
        }
    }

    /// Closes a session (gracefully: queued data is sent first).
    pub fn close(&mut self, s: SessionHandle) {
        if let Some(i) = self.mine(s) {
            self.w.session_close(self.io, self.net, i);
        }
    }

    /// Half-closes a session: what is queued goes, then the FIN (TLS:
    /// close_notify, then the FIN); the app keeps reading until the peer closes.
    pub fn shutdown_write(&mut self, s: SessionHandle) {
        if let Some(i) = self.mine(s) {
            self.w.session_shutdown_write(self.io, self.net, i);
        }
    }

    /// Opens a session to `req.remote`; the result arrives in [`BuiltinApp::connected`].
    ///
    /// Errors that are known at once (bad options) are returned here and not called back.
    pub fn connect(&mut self, req: ConnectRequest) -> Result<(), SessionError> {
        self.w.session_connect(self.io, self.net, self.shared, self.app_wrk, req)
    }

    /// Opens a TLS session to `req.remote` (a TCP endpoint) with `tls`; the
    /// result arrives in [`BuiltinApp::connected`] once the handshake is done
    /// (or failed: [`ConnectError::Tls`], the reason counted in `show tls`).
    pub fn connect_tls(&mut self, req: ConnectRequest, tls: crate::tls::TlsClient) -> Result<(), SessionError> {
        self.w.session_connect_tls(self.io, self.net, self.shared, self.app_wrk, req, Some(tls))
    }

    /// Opens a QUIC connection to `req.remote` (the UDP endpoint of a
    /// `quic://` uri) with `quic`; the connection session arrives in
    /// [`BuiltinApp::connected`] once the handshake is done. Its fifos carry
    /// nothing: open streams on it with [`AppApi::connect`] and the
    /// connection's handle as [`ConnectRequest::parent`].
    pub fn connect_quic(&mut self, req: ConnectRequest, quic: crate::quic::QuicClient) -> Result<(), SessionError> {
        self.w.session_connect_quic(self.io, self.net, self.shared, self.app_wrk, req, quic)
    }

    /// Listens on `ep` (runs on the main thread under the barrier); the result arrives in [`BuiltinApp::bound`].
    pub fn listen(&mut self, ep: Endpoint) {
        self.w.rpc_listen(self.app_wrk, ep);
    }
}
