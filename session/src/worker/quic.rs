//! QUIC on the worker (see [`crate::quic`]): datagrams for QUIC
//! connections and `quic://` listeners go to the QUIC transport; its new
//! connections and peer-opened streams become sessions here; an app's
//! connect opens a connection, or a stream when its parent is one.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;

use net::seam::Seam;
use net::tables::NetTables;
use shm::types::{Proto, SessionHandle, TransportProto};

use crate::error::SessionError;
use crate::quic::{QuicClient, QuicInput, QuicServer};
use crate::session::{SessionFifos, SessionState};
use crate::transport::{ConnectError, ConnectRequest, EventKind};
use crate::udp::Tuple;

use super::{SessionCounter, SessionShared, SessionWorker};

/// Size of each fifo of a connection session (they carry no data).
const CONN_FIFO: u32 = 4096;

impl<S: Seam> SessionWorker<S> {
    /// The QUIC configuration of listener `listener`, if it is a `quic://` one.
    pub(super) fn listener_quic(shared: &SessionShared, listener: u32) -> Option<QuicServer> {
        shared.control.listener(listener)?.quic.clone()
    }

    /// Whether a datagram for `tuple` is a QUIC connection's.
    #[inline]
    pub(super) fn quic_claims(&self, tuple: &Tuple) -> bool {
        self.quic.claims(tuple)
    }

    /// A datagram to QUIC: its connection's, or a new peer's of `listener`
    /// (whose new connection gets a session, or is refused without memory).
    pub(super) fn quic_input(
        &mut self,
        io: &mut S,
        net: &NetTables,
        shared: &SessionShared,
        tuple: &Tuple,
        payload: &[u8],
        listener: Option<(u32, QuicServer)>,
    ) {
        let worker = self.index;
        let mut cx = Self::cx(&mut self.sessions, &mut self.events, io, net, worker);
        let r = self.quic.input(&mut cx, tuple, payload, listener.as_ref().map(|(l, q)| (*l, q)));
        let (QuicInput::New(c), Some((l, _))) = (r, listener) else { return };
        let s = self.accept_pick(shared, l).and_then(|app| {
            let fifos = match SessionFifos::alloc_sized(&app, CONN_FIFO, CONN_FIFO) {
                Ok(f) => f,
                Err(_) => {
                    self.stats.session.inc(SessionCounter::FifoAllocFailed);
                    return None;
                }
            };
            self.session_accept_with(io, &app, fifos, l, TransportProto::Quic, tuple.local, tuple.remote)
        });
        let mut cx = Self::cx(&mut self.sessions, &mut self.events, io, net, worker);
        match s {
            // Accepted is raised when the handshake is done.
            Some(s) => self.quic.bind_conn(&mut cx, c, s),
            None => self.quic.refuse_conn(&mut cx, c),
        }
    }

    /// Streams the peers opened become sessions accepted by the app worker
    /// that owns their connection; returns how many.
    pub(super) fn quic_new_streams(&mut self, io: &mut S, net: &NetTables) -> usize {
        if self.quic.new_streams.is_empty() {
            return 0;
        }
        let mut new = std::mem::take(&mut self.quic.new_streams);
        let worker = self.index;
        for &st in &new {
            let Some((cs, _)) = self.quic.stream_parent(st) else { continue };
            let Some(p) = self.sessions.get(cs) else {
                self.quic.refuse_stream(st);
                continue;
            };
            let (app, local, remote, listener) = (p.app.clone(), p.local, p.remote, p.listener);
            let s = match SessionFifos::alloc(&app) {
                Ok(f) => self
                    .session_alloc(
                        io.now_ns(),
                        &app,
                        f,
                        TransportProto::Quic,
                        SessionState::Accepting,
                        local,
                        remote,
                        listener,
                        0,
                    )
                    .ok(),
                Err(_) => None,
            };
            let Some(s) = s else {
                self.stats.session.inc(SessionCounter::FifoAllocFailed);
                self.quic.refuse_stream(st);
                continue;
            };
            let mut cx = Self::cx(&mut self.sessions, &mut self.events, io, net, worker);
            self.quic.bind_stream(&mut cx, st, s);
            self.stats.accepted.fetch_add(1, Ordering::Relaxed);
            self.raise(s, EventKind::Accepted);
        }
        let n = new.len();
        new.clear();
        if self.quic.new_streams.is_empty() {
            self.quic.new_streams = new;
        }
        n
    }

    /// A connect with `parent`: a stream on it when it is one of our app
    /// worker's open QUIC connections; `None` when the parent is no QUIC
    /// session (the caller refuses it).
    pub(super) fn quic_connect_stream(
        &mut self,
        io: &mut S,
        net: &NetTables,
        app_wrk: u32,
        req: &ConnectRequest,
        parent: SessionHandle,
    ) -> Option<Result<(), SessionError>> {
        if parent.worker() != self.index {
            return None;
        }
        let p = self.sessions.get(parent.index())?;
        if p.proto != TransportProto::Quic {
            return None;
        }
        let bad = |why: String| Some(Err(SessionError::invalid("parent", why)));
        if p.app_wrk != app_wrk {
            return bad(format!("{parent} is another app worker's connection"));
        }
        let Some(c) = self.quic.conn_of_session(parent.index(), p.conn) else {
            return bad(format!("{parent} is a quic stream or a closed connection, not an open connection"));
        };
        let (app, local, remote) = (p.app.clone(), p.local, p.remote);
        let fifos = match SessionFifos::alloc(&app) {
            Ok(f) => f,
            Err(_) => {
                self.stats.session.inc(SessionCounter::FifoAllocFailed);
                self.connect_failed(app_wrk, req.opaque, ConnectError::NoMemory);
                return Some(Ok(()));
            }
        };
        let s = match self.session_alloc(
            io.now_ns(),
            &app,
            fifos,
            TransportProto::Quic,
            SessionState::Connecting,
            local,
            remote,
            None,
            req.opaque,
        ) {
            Ok(s) => s,
            Err(e) => return Some(Err(e)),
        };
        let worker = self.index;
        let mut cx = Self::cx(&mut self.sessions, &mut self.events, io, net, worker);
        if let Err(e) = self.quic.open_stream(&mut cx, c, s) {
            self.session_free(s);
            return Some(Err(e));
        }
        Some(Ok(()))
    }

    /// Opens a QUIC connection for app worker `app_wrk` to `req.remote` (a
    /// UDP endpoint, from a `quic://` uri) with `client`: a connection
    /// session, Connected once the handshake is done. Streams are opened on
    /// it with connects that name it as parent.
    pub(crate) fn session_connect_quic(
        &mut self,
        io: &mut S,
        net: &NetTables,
        shared: &SessionShared,
        app_wrk: u32,
        req: ConnectRequest,
        client: QuicClient,
    ) -> Result<(), SessionError> {
        if req.parent.is_some() {
            return Err(SessionError::invalid("parent", "a quic connection has no parent (streams do)"));
        }
        if req.remote.proto != Proto::Udp {
            return Err(SessionError::invalid("uri", format!("quic runs over udp, not {}", req.remote.proto)));
        }
        if req.remote.port == 0 || req.remote.ip.is_unspecified() {
            return Err(SessionError::invalid("uri", format!("cannot connect to {}", req.remote)));
        }
        let control = &shared.control;
        let aw = control.app_worker(app_wrk).ok_or(SessionError::NoSuchAppWorker(app_wrk))?;
        control.app(aw.app_index).ok_or(SessionError::NotAttached)?;
        let me = aw.resources.clone();
        let local_ip = match req.remote.ip {
            IpAddr::V4(r) => io.source_for(net, r).map(IpAddr::V4),
            IpAddr::V6(r) => io.source_for6(net, r).map(IpAddr::V6),
        };
        let Some(local_ip) = local_ip else {
            self.connect_failed(app_wrk, req.opaque, ConnectError::NoRoute);
            return Ok(());
        };
        let fifos = match SessionFifos::alloc_sized(&me, CONN_FIFO, CONN_FIFO) {
            Ok(f) => f,
            Err(_) => {
                self.stats.session.inc(SessionCounter::FifoAllocFailed);
                self.connect_failed(app_wrk, req.opaque, ConnectError::NoMemory);
                return Ok(());
            }
        };
        let remote = SocketAddr::new(req.remote.ip, req.remote.port);
        let index = self.session_alloc(
            io.now_ns(),
            &me,
            fifos,
            TransportProto::Quic,
            SessionState::Connecting,
            SocketAddr::new(local_ip, 0),
            remote,
            None,
            req.opaque,
        )?;
        let worker = self.index;
        let udp = &self.udp;
        let mut cx = Self::cx(&mut self.sessions, &mut self.events, io, net, worker);
        if let Err(e) = self.quic.connect(&mut cx, index, local_ip, remote, &client, |t| udp.tuple_free(t)) {
            self.session_free(index);
            let why = if matches!(e, SessionError::TooMany(_)) { ConnectError::NoPort } else { return Err(e) };
            self.connect_failed(app_wrk, req.opaque, why);
        }
        Ok(())
    }
}
