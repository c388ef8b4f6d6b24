//! Accept: a new peer of a listener becomes a session. The accept rotor
//! picks the listener's app worker, its fifos are allocated (for UDP within
//! admission's fifo-memory budget, evicting sessions when it says so) and
//! the transport raises Accepted when the connection is ready.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use net::seam::Seam;
use shm::types::TransportProto;

use crate::app_worker::{AppWorkerKind, AppWorkerShared};
use crate::segment::fifo_pair_footprint;
use crate::session::{SessionFifos, SessionState};
use crate::tls::{TlsConn, TlsCounter, TlsServer};
use crate::transport::EventKind;
use crate::udp::Tuple;

use super::{SessionCounter, SessionShared, SessionWorker};

impl<S: Seam> SessionWorker<S> {
    /// Picks the app worker a new session of listener `listener` goes to
    /// (the accept rotor) and its shared state; counts an app worker not yet
    /// registered here.
    pub(super) fn accept_pick(&mut self, shared: &SessionShared, listener: u32) -> Option<Arc<AppWorkerShared>> {
        let control = &shared.control;
        let l = control.listener(listener)?;
        let rotor = self.rotors.entry(listener).or_insert(0);
        let (map, next) = l.select_worker_from(*rotor)?;
        *rotor = next;
        let wrk_index = control.app(l.app_index)?.worker(map)?;
        let app = control.app_worker(wrk_index)?.resources.clone();
        if !self.apps.contains_key(&wrk_index) {
            // Attached, but the registration RPC has not reached us yet.
            self.stats.session.inc(SessionCounter::AppNotReady);
            return None;
        }
        Some(app)
    }

    /// Creates a session for a new peer of listener `listener`: picks the
    /// app worker (accept rotor) and allocates its fifos. The transport
    /// raises Accepted when the connection is ready (at once for UDP).
    pub(super) fn session_accept_alloc(
        &mut self,
        io: &mut S,
        shared: &SessionShared,
        listener: u32,
        proto: TransportProto,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Option<u32> {
        let app = self.accept_pick(shared, listener)?;
        let fifos = match SessionFifos::alloc(&app) {
            Ok(f) => f,
            Err(_) => {
                self.stats.session.inc(SessionCounter::FifoAllocFailed);
                return None;
            }
        };
        self.session_accept_with(io, &app, fifos, listener, proto, local, remote)
    }

    /// The session for a new peer, with `fifos` already allocated (freed on failure).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn session_accept_with(
        &mut self,
        io: &mut S,
        app: &Arc<AppWorkerShared>,
        fifos: SessionFifos,
        listener: u32,
        proto: TransportProto,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Option<u32> {
        let r = self.session_alloc(
            io.now_ns(),
            app,
            fifos,
            proto,
            SessionState::Accepting,
            local,
            remote,
            Some(listener),
            0,
        );
        let index = match r {
            Ok(i) => i,
            Err(_) => {
                self.stats.session.inc(SessionCounter::FifoAllocFailed);
                return None;
            }
        };
        self.stats.accepted.fetch_add(1, Ordering::Relaxed);
        Some(index)
    }

    /// The TLS configuration of listener `listener`, if it is a `tls://` one.
    pub(super) fn listener_tls(shared: &SessionShared, listener: u32) -> Option<TlsServer> {
        shared.control.listener(listener)?.tls.clone()
    }

    /// The TLS state for session `s` (server side), with ciphertext fifos as
    /// large as its own; `None` (counted) without memory for it.
    pub(super) fn tls_server_conn(&mut self, s: u32, tls: &TlsServer) -> Option<TlsConn> {
        let engine = rustls::ServerConnection::new(tls.0.clone()).ok().map(rustls::Connection::Server);
        self.tls_conn(s, engine)
    }

    /// A [`TlsConn`] around `engine` for session `s`, its ciphertext fifos
    /// the size of the session's (so the TCP window is what it would be).
    pub(super) fn tls_conn(&mut self, s: u32, engine: Option<rustls::Connection>) -> Option<TlsConn> {
        let size =
            self.sessions.get(s).and_then(|x| x.fifos.as_ref()).map_or(0, |f| f.rx.capacity().max(f.tx.capacity()));
        let size = u32::try_from(size).unwrap_or(u32::MAX).clamp(32 << 10, 16 << 20).next_power_of_two();
        let t = engine.and_then(|e| TlsConn::new(e, size));
        if t.is_none() {
            self.tcp.tls_counters.inc(TlsCounter::FailNoMemory);
        }
        t
    }

    /// The rx fifo size sessions of listener `listener`'s app get.
    pub(super) fn listener_rx_fifo_size(shared: &SessionShared, listener: u32) -> Option<u32> {
        let c = &shared.control;
        Some(c.app(c.listener(listener)?.app_index)?.opts.rx_fifo_size)
    }

    /// A session for the first datagram of a new peer of UDP listener
    /// `listener`, if admission lets it in (see [`crate::udp::admission`]):
    /// a builtin app's session starts with small fifos, grown on its
    /// second datagram ([`Self::udp_grow`]); an external app maps its
    /// fifos and cannot be handed others, so its sessions get full-size
    /// ones from the start. Sessions evicted to make room are reset.
    pub(super) fn udp_accept(
        &mut self,
        io: &mut S,
        shared: &SessionShared,
        listener: u32,
        tuple: Tuple,
    ) -> Option<u32> {
        let app = self.accept_pick(shared, listener)?;
        let (rx, tx) = {
            let sm = app.segments();
            let c = sm.config();
            (c.rx_fifo_size, c.tx_fifo_size)
        };
        let small = self.udp.config().initial_fifo_size;
        let sizes = if app.kind == AppWorkerKind::Builtin && (rx > small || tx > small) {
            (small.min(rx), small.min(tx))
        } else {
            (rx, tx)
        };
        let bytes = fifo_pair_footprint(sizes.0, sizes.1).map_or(u64::MAX, |b| b as u64);
        let admitted = self.udp.admit(listener, tuple.remote.ip(), bytes);
        self.udp_reset_evicted();
        admitted.ok()?;
        let fifos = match SessionFifos::alloc_sized(&app, sizes.0, sizes.1) {
            Ok(f) => f,
            Err(_) => {
                self.stats.session.inc(SessionCounter::FifoAllocFailed);
                return None;
            }
        };
        let s = self.session_accept_with(io, &app, fifos, listener, TransportProto::Udp, tuple.local, tuple.remote)?;
        self.udp.fifo_add(bytes);
        match self.udp.add_accepted(s, tuple, listener, io.now_ns()) {
            Ok(conn) => {
                if let Some(x) = self.sessions.get_mut(s) {
                    x.conn = conn;
                }
            }
            Err(_) => {
                self.session_free(s);
                return None;
            }
        }
        self.raise(s, EventKind::Accepted);
        Some(s)
    }

    /// Resets the sessions admission evicted (their connections are gone).
    pub(super) fn udp_reset_evicted(&mut self) {
        let mut evicted = std::mem::take(&mut self.udp_evicted);
        self.udp.take_evicted(&mut evicted);
        for &s in &evicted {
            self.raise(s, EventKind::Reset);
        }
        evicted.clear();
        self.udp_evicted = evicted;
    }
}
