//! Connect: an app's connect becomes a session, through the transport or,
//! when the app has local scope and a local listener matches, cut-through
//! (a fifo pair shared by the two apps, no transport).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use net::seam::Seam;
use net::tables::NetTables;
use shm::types::{Proto, TransportProto};

use crate::app_worker::AppWorkerShared;
use crate::error::SessionError;
use crate::session::{SessionFifos, SessionState};
use crate::tls::TlsClient;
use crate::transport::{ConnectError, ConnectRequest, EventKind};

use super::{SessionCounter, SessionShared, SessionWorker};

impl<S: Seam> SessionWorker<S> {
    /// Connects for app worker `app_wrk`: cut-through to a local listener
    /// when the app has local scope and one matches, else through the transport.
    pub(crate) fn session_connect(
        &mut self,
        io: &mut S,
        net: &NetTables,
        shared: &SessionShared,
        app_wrk: u32,
        req: ConnectRequest,
    ) -> Result<(), SessionError> {
        self.session_connect_tls(io, net, shared, app_wrk, req, None)
    }

    /// Like [`Self::session_connect`], with TLS (client side, `tls`) over the
    /// TCP connection when given: the app hears connected once the handshake
    /// has finished. A TLS connect never goes cut-through.
    pub(crate) fn session_connect_tls(
        &mut self,
        io: &mut S,
        net: &NetTables,
        shared: &SessionShared,
        app_wrk: u32,
        req: ConnectRequest,
        tls: Option<TlsClient>,
    ) -> Result<(), SessionError> {
        let control = &shared.control;
        if tls.is_some() && req.remote.proto != Proto::Tcp {
            return Err(SessionError::invalid("uri", format!("tls runs over tcp, not {}", req.remote.proto)));
        }
        let aw = control.app_worker(app_wrk).ok_or(SessionError::NoSuchAppWorker(app_wrk))?;
        let app = control.app(aw.app_index).ok_or(SessionError::NotAttached)?;
        req.options.validate()?;
        if let Some(parent) = req.parent {
            if tls.is_none() {
                if let Some(r) = self.quic_connect_stream(io, net, app_wrk, &req, parent) {
                    return r;
                }
            }
            // Our transports carry one stream per connection; a parent only
            // makes sense for a multiplexing transport, which we do not have.
            let known = parent.worker() == self.index && self.sessions.get(parent.index()).is_some();
            return Err(if known {
                SessionError::UnsupportedConfig(format!("{} has no streams: parent {parent} refused", req.remote.proto))
            } else {
                SessionError::invalid("parent", format!("{parent} is not a session"))
            });
        }
        if req.remote.port == 0 || req.remote.ip.is_unspecified() {
            return Err(SessionError::invalid("uri", format!("cannot connect to {}", req.remote)));
        }
        let me = aw.resources.clone();
        if app.scope.local && tls.is_none() {
            let ns = app.ns_index;
            if let Some(l) =
                control.listener_tables().lookup_local(ns, req.remote.proto, req.remote.ip, req.remote.port)
            {
                return self.ct_connect(io, shared, &me, l, req);
            }
        }
        let local_ip = match req.remote.ip {
            IpAddr::V4(r) => io.source_for(net, r).map(IpAddr::V4),
            IpAddr::V6(r) => io.source_for6(net, r).map(IpAddr::V6),
        };
        let Some(local_ip) = local_ip else {
            self.connect_failed(app_wrk, req.opaque, ConnectError::NoRoute);
            return Ok(());
        };
        let fifos = match SessionFifos::alloc(&me) {
            Ok(f) => f,
            Err(_) => {
                self.stats.session.inc(SessionCounter::FifoAllocFailed);
                self.connect_failed(app_wrk, req.opaque, ConnectError::NoMemory);
                return Ok(());
            }
        };
        let proto = if tls.is_some() { TransportProto::Tls } else { TransportProto::for_proto(req.remote.proto) };
        let remote = SocketAddr::new(req.remote.ip, req.remote.port);
        let local = SocketAddr::new(local_ip, 0);
        let index = self.session_alloc(
            io.now_ns(),
            &me,
            fifos,
            proto,
            SessionState::Connecting,
            local,
            remote,
            None,
            req.opaque,
        )?;
        let r = self.with_transport(io, net, proto, |t, cx| t.connect(cx, index, local, &req));
        match r {
            Ok(conn) => {
                if let Some(s) = self.sessions.get_mut(index) {
                    s.conn = conn;
                }
                if let Some(t) = tls {
                    let engine = rustls::ClientConnection::new(t.config, t.server_name).ok();
                    match self.tls_conn(index, engine.map(rustls::Connection::Client)) {
                        Some(t) => self.tcp.set_tls(conn, t),
                        None => {
                            self.session_abort(io, net, index);
                            self.connect_failed(app_wrk, req.opaque, ConnectError::NoMemory);
                        }
                    }
                }
                Ok(())
            }
            Err(e) => {
                self.session_free(index);
                self.connect_failed(app_wrk, req.opaque, ConnectError::NoPort);
                drop(e);
                Ok(())
            }
        }
    }

    /// Tells app worker `app_wrk` its connect failed: on the next poll,
    /// never from inside the app's own connect call.
    pub(super) fn connect_failed(&mut self, app_wrk: u32, opaque: u64, e: ConnectError) {
        self.defer(Box::new(move |w, io, net, shared| {
            if w.is_external(app_wrk) {
                return w.external_connect_failed(app_wrk, opaque, e);
            }
            w.with_builtin(io, net, shared, app_wrk, |app, api| app.connected(api, opaque, Err(e)));
        }));
    }

    /// Cut-through connect to listener `l`: one fifo pair from the server's segments, two sessions here.
    pub(super) fn ct_connect(
        &mut self,
        io: &mut S,
        shared: &SessionShared,
        client: &Arc<AppWorkerShared>,
        listener: u32,
        req: ConnectRequest,
    ) -> Result<(), SessionError> {
        let control = &shared.control;
        let l = control.listener(listener).ok_or(SessionError::NoSuchListener(listener))?;
        let rotor = self.rotors.entry(listener).or_insert(0);
        let (map, next) = l.select_worker_from(*rotor).ok_or(SessionError::NoSuchListener(listener))?;
        *rotor = next;
        let srv_wrk = control.app(l.app_index).and_then(|a| a.worker(map)).ok_or(SessionError::NotAttached)?;
        let server = control.app_worker(srv_wrk).ok_or(SessionError::NoSuchAppWorker(srv_wrk))?.resources.clone();
        if !self.apps.contains_key(&srv_wrk) {
            self.stats.session.inc(SessionCounter::AppNotReady);
            return Err(SessionError::NoSuchAppWorker(srv_wrk));
        }
        // The pair lives in segments only these two app workers share.
        let owner = server.ct_owner(client).map_err(|_| {
            self.stats.session.inc(SessionCounter::FifoAllocFailed);
            SessionError::TooMany("fifo memory")
        })?;
        let srv_fifos = SessionFifos::alloc(&owner).map_err(|_| {
            self.stats.session.inc(SessionCounter::FifoAllocFailed);
            SessionError::TooMany("fifo memory")
        })?;
        let cli_fifos = match srv_fifos.mirror() {
            Ok(f) => f,
            Err(_) => {
                srv_fifos.free();
                return Err(SessionError::TooMany("fifo memory"));
            }
        };
        let proto = TransportProto::cut_through(req.remote.proto);
        // Cut-through endpoints: the server's listen address, and for the
        // client a port that only names the session (it never hits a wire).
        let srv_ep = SocketAddr::new(req.remote.ip, req.remote.port);
        let cli_ep = SocketAddr::new(req.remote.ip, 0);
        let now = io.now_ns();
        let s = self.session_alloc(
            now,
            &server,
            srv_fifos,
            proto,
            SessionState::Accepting,
            srv_ep,
            cli_ep,
            Some(listener),
            0,
        );
        let s = match s {
            Ok(s) => s,
            Err(e) => {
                cli_fifos.free();
                return Err(e);
            }
        };
        let c = match self.session_alloc(
            now,
            client,
            cli_fifos,
            proto,
            SessionState::Connecting,
            cli_ep,
            srv_ep,
            None,
            req.opaque,
        ) {
            Ok(c) => c,
            Err(e) => {
                self.session_free(s);
                return Err(e);
            }
        };
        let conn = self.ct.add(c, s, proto.is_dgram())?;
        for i in [c, s] {
            if let Some(x) = self.sessions.get_mut(i) {
                x.conn = conn;
            }
        }
        self.stats.accepted.fetch_add(1, Ordering::Relaxed);
        self.raise(s, EventKind::Accepted);
        self.raise(c, EventKind::Connected);
        Ok(())
    }
}
