//! The session layer's per-worker half: sessions, transports and app
//! callbacks on one data-plane worker (VPP's `session_node.c` plus the
//! per-thread parts of `session.c`).
//!
//! [`SessionWorker`] is the [`Stack`] the data-plane poll loop drives. For
//! each UDP or TCP packet for one of our addresses it finds the connection
//! (5-tuple table) or the listener (shared, read-only lookup tables), and
//! feeds the transport, which enqueues data into session fifos. Once per
//! loop ([`Stack::poll`]) it runs control work shipped to it, the
//! transports' timers, the sessions whose apps wrote data (tx events), and
//! then delivers the events the transports raised to the applications.
//! Delivery happens after the transports return, so an app callback never
//! re-enters a transport half-way through a packet.
//!
//! The worker only reads the shared tables ([`SessionShared`]); listen,
//! unlisten, attach and detach happen on the main thread under the barrier,
//! and a builtin app that asks for one from a callback sends an RPC there.
//!
//! External apps (other processes) get the same events as messages on their
//! shared-memory queues instead of callbacks, and their requests are read
//! from their queues once per loop: `worker/external_messages.rs`.

use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use net::control::rpc::RpcSender;
use net::control::worker::{now_ns, Tables, WorkerState};
use net::device::PacketBuf;
use net::l3::counters::Counter;
use net::l3::Ip4Delivery;
use net::seam::{Seam, Stack};
use net::tables::NetTables;
use shm::types::{Endpoint, Proto, SessionHandle, TransportProto};
use wire::icmp;
use wire::ipv4::Protocol;

use crate::app_worker::{AppWorkerKind, AppWorkerShared};
use crate::builtin::{AppApi, BuiltinApp};
use crate::control::ControlTables;
use crate::cut_through::CutThrough;
use crate::error::SessionError;
use crate::main_thread::MainCtx;
use crate::pool::Pool;
use crate::segment::fifo_pair_footprint;
use crate::session::{dgram_enqueue, DgramHeader, Session, SessionFifos, SessionState};
use crate::snapshot::{AppWorkerSnapshot, FifoUsage, SessionSnapshot};
use crate::tcp_transport::{TcpInputCounters, TcpTransport, TcpTransportConfig};
use crate::transport::{ConnectError, ConnectRequest, EventKind, SessionEvent, Transport, TransportCx};
use crate::udp::{Tuple, UdpConfig, UdpCounter, UdpCounters, UdpTransport};
use tcp::endpoint::Action;

mod external_messages;

/// The tables the main thread changes under the barrier and workers read.
#[derive(Default)]
pub struct SessionShared {
    /// Applications, app workers (with their segments), listeners, namespaces, lookup tables.
    pub control: ControlTables<Arc<AppWorkerShared>>,
}

/// Everything behind the barrier: L2/L3 tables plus the session layer's.
pub type NodeTables = Tables<SessionShared>;
/// A worker's state as RPCs from the main thread see it.
pub type NodeWorker<S> = WorkerState<S, SessionWorker<S>>;

/// Control work to run with the shared tables at hand (shipped by RPC).
pub type Deferred<S> = Box<dyn FnOnce(&mut SessionWorker<S>, &mut S, &NetTables, &SessionShared) + Send>;

/// How an app worker is reached from this data-plane worker.
pub enum AppLink<S: Seam> {
    /// Builtin: its instance for this worker (taken out while a callback runs).
    Builtin(Option<Box<dyn BuiltinApp<S>>>),
    /// External: its message queues with this worker (see [`crate::external`]).
    External(Box<crate::external_app::ExternalLink>),
}

/// An app worker as this data-plane worker knows it.
pub struct WorkerApp<S: Seam> {
    /// Shared state (segments, counters).
    pub shared: Arc<AppWorkerShared>,
    /// How events reach it.
    pub link: AppLink<S>,
}

counters::counters! {
    /// What the session layer counts on a worker.
    pub enum SessionCounter {
        RxFifoFull => ("session rx fifo full, data dropped", true),
        FifoAllocFailed => ("session fifo allocation failed", true),
        AppNotReady => ("session app not registered on worker", true),
    }
}

/// One worker's [`SessionCounter`]s.
pub type SessionCounters = counters::AtomicCounters<SessionCounter, { SessionCounter::COUNT }>;

/// Counters the main thread reads for the CLI.
#[derive(Default, Debug)]
pub struct SessionStats {
    /// The session layer's counters.
    pub session: SessionCounters,
    /// UDP's counters (the UDP transport's own block).
    pub udp: Arc<UdpCounters>,
    /// TCP input's counters (the TCP transport's own block).
    pub tcp_input: Arc<TcpInputCounters>,
    /// Sessions in the pool now.
    pub sessions: AtomicU64,
    /// Sessions accepted from listeners, ever.
    pub accepted: AtomicU64,
    /// Sessions connected, ever.
    pub connected: AtomicU64,
    /// Sessions freed, ever.
    pub freed: AtomicU64,
}

/// Most events delivered per loop, so a storm of events cannot stall packet I/O.
const EVENTS_PER_POLL: usize = 4096;

/// The session layer on one worker.
pub struct SessionWorker<S: Seam> {
    /// This worker's index.
    pub index: u32,
    /// Number of workers.
    pub workers: u32,
    pub(crate) sessions: Pool<Session>,
    udp: UdpTransport,
    tcp: TcpTransport<S>,
    ct: CutThrough,
    apps: HashMap<u32, WorkerApp<S>>,
    events: Vec<SessionEvent>,
    delivering: Vec<SessionEvent>,
    pending_tx: Vec<(u32, u32)>,
    pending_read: Vec<(u32, u32)>,
    deferred: Vec<Deferred<S>>,
    rotors: HashMap<u32, u32>,
    udp_evicted: Vec<u32>,
    to_main: Option<RpcSender<MainCtx<S>>>,
    /// Counters for the CLI.
    pub stats: Arc<SessionStats>,
    scratch: Vec<u8>,
}

impl<S: Seam> SessionWorker<S> {
    /// The session layer for worker `index` of `workers`; `to_main` carries its RPCs to the main thread.
    pub fn new(
        index: u32,
        workers: u32,
        to_main: Option<RpcSender<MainCtx<S>>>,
        udp: UdpConfig,
        tcp: TcpTransportConfig,
    ) -> Self {
        let udp = UdpTransport::new(udp, index, workers);
        let tcp = TcpTransport::new(tcp, index, workers, now_ns());
        let stats = Arc::new(SessionStats {
            udp: udp.counters.clone(),
            tcp_input: tcp.input_counters.clone(),
            ..SessionStats::default()
        });
        SessionWorker {
            index,
            workers,
            sessions: Pool::new("sessions"),
            udp,
            tcp,
            ct: CutThrough::new(),
            apps: HashMap::new(),
            events: Vec::with_capacity(1024),
            delivering: Vec::with_capacity(1024),
            pending_tx: Vec::with_capacity(1024),
            pending_read: Vec::with_capacity(256),
            deferred: Vec::new(),
            rotors: HashMap::new(),
            udp_evicted: Vec::with_capacity(8),
            to_main,
            stats,
            scratch: vec![0; 64 * 1024],
        }
    }

    /// Queue control work that needs the shared tables (runs at the next poll).
    pub fn defer(&mut self, f: Deferred<S>) {
        self.deferred.push(f);
    }

    /// Registers an app worker here (builtin: with this worker's instance).
    pub fn app_add(&mut self, shared: Arc<AppWorkerShared>, link: AppLink<S>) {
        self.apps.insert(shared.wrk_index, WorkerApp { shared, link });
    }

    /// Removes an app worker: every session of it is aborted (peers reset) and freed.
    ///
    /// Returns how many sessions were torn down.
    pub fn app_del(&mut self, io: &mut S, net: &NetTables, shared: &SessionShared, wrk_index: u32) -> usize {
        // What it queued before it went is honoured first: a session it
        // closed just before detaching sends its FIN, not only the reset.
        if self.is_external(wrk_index) {
            self.drain_external(io, net, shared, wrk_index);
        }
        let mine: Vec<u32> =
            self.sessions.iter_indexed().filter(|(_, s)| s.app_wrk == wrk_index).map(|(i, _)| i).collect();
        for &i in &mine {
            self.session_abort(io, net, i);
        }
        self.apps.remove(&wrk_index);
        mine.len()
    }

    /// Sessions in the pool.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Handle of pool index `index`.
    fn handle(&self, index: u32) -> SessionHandle {
        SessionHandle::new(self.index, index)
    }

    fn cx<'a>(
        sessions: &'a mut Pool<Session>,
        events: &'a mut Vec<SessionEvent>,
        io: &'a mut S,
        net: &'a NetTables,
        worker: u32,
    ) -> TransportCx<'a, S> {
        TransportCx { io, net, sessions, events, worker }
    }

    /// Runs `f` with a transport and its context.
    fn with_transport<R>(
        &mut self,
        io: &mut S,
        net: &NetTables,
        proto: TransportProto,
        f: impl FnOnce(&mut dyn Transport<S>, &mut TransportCx<'_, S>) -> R,
    ) -> R {
        let worker = self.index;
        let (sessions, events) = (&mut self.sessions, &mut self.events);
        let mut cx = Self::cx(sessions, events, io, net, worker);
        let t: &mut dyn Transport<S> = match proto {
            TransportProto::Udp => &mut self.udp,
            TransportProto::Tcp => &mut self.tcp,
            TransportProto::CtUdp | TransportProto::CtTcp => &mut self.ct,
        };
        f(t, &mut cx)
    }

    fn raise(&mut self, index: u32, kind: EventKind) {
        if let Some(s) = self.sessions.get(index) {
            self.events.push(SessionEvent { session: index, generation: s.generation, kind });
        }
    }

    /// Creates a session with fresh fifos from `fifo_owner` (or `fifos` when given).
    #[allow(clippy::too_many_arguments)]
    fn session_alloc(
        &mut self,
        now_ns: u64,
        app: &Arc<AppWorkerShared>,
        fifos: SessionFifos,
        proto: TransportProto,
        state: SessionState,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        listener: Option<u32>,
        opaque: u64,
    ) -> Result<u32, SessionError> {
        let app_wrk = app.wrk_index;
        let mut fifos = Some(fifos);
        let h = self.sessions.insert_with(|index| {
            Ok(Session {
                index,
                generation: 0,
                state,
                proto,
                conn: u32::MAX,
                app_wrk,
                app: app.clone(),
                listener,
                opaque,
                local,
                remote,
                fifos: fifos.take(),
                want_tx_event: false,
                rx_bytes: 0,
                tx_bytes: 0,
                rx_dropped: 0,
                created_ns: now_ns,
                announced: false,
            })
        });
        match h {
            Ok(h) => {
                let s = self.sessions.get_mut(h.index).expect("just inserted");
                s.generation = h.generation;
                self.stats.sessions.store(self.sessions.len() as u64, Ordering::Relaxed);
                Ok(h.index)
            }
            Err(e) => {
                if let Some(f) = fifos {
                    f.free();
                }
                Err(e)
            }
        }
    }

    /// Frees a session and its fifos (a cut-through pair goes with its last side).
    fn session_free(&mut self, index: u32) {
        let Some(mut s) = self.sessions.remove(index) else { return };
        if s.proto == TransportProto::Udp && s.listener.is_some() {
            // Sessions from the network hold fifo memory admission counts.
            if let Some(f) = s.fifos.as_ref() {
                let bytes = fifo_pair_footprint(f.pair.rx.size, f.pair.tx.size).map_or(0, |b| b as u64);
                self.udp.fifo_release(bytes);
            }
        }
        if s.proto.is_cut_through() {
            let peer_alive = self.ct.peer_alive(s.conn, index);
            if let Some(f) = s.fifos.as_mut() {
                if peer_alive {
                    // The peer still uses the pair: it frees it when it goes.
                    let owns = f.frees;
                    f.frees = false;
                    if owns {
                        let peer = self.ct.conn(s.conn).map(|c| c.peer_of(index));
                        if let Some(p) = peer.and_then(|p| self.sessions.get_mut(p)) {
                            if let Some(pf) = p.fifos.as_mut() {
                                pf.frees = true;
                            }
                        }
                    }
                } else {
                    f.frees = true;
                }
            }
        }
        if let Some(f) = s.fifos.take() {
            f.free();
        }
        self.stats.freed.fetch_add(1, Ordering::Relaxed);
        self.stats.sessions.store(self.sessions.len() as u64, Ordering::Relaxed);
    }

    /// The app closes session `index`.
    pub(crate) fn session_close(&mut self, io: &mut S, net: &NetTables, index: u32) {
        let Some(s) = self.sessions.get_mut(index) else { return };
        match s.state {
            SessionState::Closing | SessionState::Closed => return,
            SessionState::Connecting => {
                // Nothing to close gracefully yet: abort.
                return self.session_abort(io, net, index);
            }
            _ => s.state = SessionState::Closing,
        }
        let proto = s.proto;
        self.with_transport(io, net, proto, |t, cx| t.close(cx, index));
    }

    /// The app will write no more to session `index` (half-close); it keeps reading.
    pub(crate) fn session_shutdown_write(&mut self, io: &mut S, net: &NetTables, index: u32) {
        let Some(s) = self.sessions.get(index) else { return };
        if !matches!(s.state, SessionState::Ready | SessionState::TransportClosing) {
            return;
        }
        let proto = s.proto;
        // Data the app wrote before goes first: push what is pending to the transport now.
        self.with_transport(io, net, proto, |t, cx| {
            t.push_tx(cx, index);
            t.shutdown_write(cx, index);
        });
    }

    /// Tears a session down now: the transport forgets it (resetting the peer if it can) and it is freed.
    fn session_abort(&mut self, io: &mut S, net: &NetTables, index: u32) {
        let Some(proto) = self.sessions.get(index).map(|s| s.proto) else { return };
        self.with_transport(io, net, proto, |t, cx| t.abort(cx, index));
        self.session_free(index);
    }

    /// The app wrote into session `index`'s tx fifo.
    pub(crate) fn app_wrote(&mut self, index: u32) {
        let Some(s) = self.sessions.get(index) else { return };
        if s.tx().set_event() {
            self.pending_tx.push((index, s.generation));
        }
    }

    /// The app read from session `index`'s rx fifo.
    pub(crate) fn app_read(&mut self, index: u32) {
        let Some(s) = self.sessions.get(index) else { return };
        if s.proto.is_cut_through() || s.proto == TransportProto::Tcp {
            self.pending_read.push((index, s.generation));
        }
    }

    /// Ships a listen for app worker `app_wrk` to the main thread; the answer comes back as a `bound` callback.
    pub(crate) fn rpc_listen(&mut self, app_wrk: u32, ep: Endpoint) {
        let worker = self.index as usize;
        let Some(tx) = self.to_main.as_mut() else {
            // No main thread (unit tests): nothing can change the tables.
            let err = Err(SessionError::UnsupportedConfig("no main thread to listen on".into()));
            self.defer(Box::new(move |w, io, net, shared| w.deliver_bound(io, net, shared, app_wrk, ep, err)));
            return;
        };
        let f = move |m: &mut MainCtx<S>| {
            let r = m.listen_from_worker(app_wrk, ep);
            m.rpc_worker(worker, move |nw| {
                nw.stack.defer(Box::new(move |w, io, net, shared| w.deliver_bound(io, net, shared, app_wrk, ep, r)))
            });
        };
        if let Err(e) = tx.send(f) {
            drop(e.into_rpc());
            let err = Err(SessionError::TooMany("pending requests to the main thread"));
            self.defer(Box::new(move |w, io, net, shared| w.deliver_bound(io, net, shared, app_wrk, ep, err)));
        }
    }

    fn deliver_bound(
        &mut self,
        io: &mut S,
        net: &NetTables,
        shared: &SessionShared,
        app_wrk: u32,
        ep: Endpoint,
        r: Result<SessionHandle, SessionError>,
    ) {
        self.with_builtin(io, net, shared, app_wrk, |app, api| app.bound(api, ep, r));
    }

    /// Runs `f` with app worker `app_wrk`'s builtin instance on this worker, if it has one.
    fn with_builtin<R>(
        &mut self,
        io: &mut S,
        net: &NetTables,
        shared: &SessionShared,
        app_wrk: u32,
        f: impl FnOnce(&mut dyn BuiltinApp<S>, &mut AppApi<'_, S>) -> R,
    ) -> Option<R> {
        let mut app = match self.apps.get_mut(&app_wrk)?.link {
            AppLink::Builtin(ref mut slot) => slot.take()?,
            AppLink::External(_) => return None,
        };
        let r = {
            let mut api = AppApi { w: self, io, net, shared, app_wrk };
            f(app.as_mut(), &mut api)
        };
        if let Some(WorkerApp { link: AppLink::Builtin(slot), .. }) = self.apps.get_mut(&app_wrk) {
            *slot = Some(app);
        }
        Some(r)
    }

    /// Picks the app worker a new session of listener `listener` goes to
    /// (the accept rotor) and its shared state; counts an app worker not yet
    /// registered here.
    fn accept_pick(&mut self, shared: &SessionShared, listener: u32) -> Option<Arc<AppWorkerShared>> {
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
    fn session_accept_alloc(
        &mut self,
        io: &mut S,
        shared: &SessionShared,
        listener: u32,
        proto: TransportProto,
        local: SocketAddrV4,
        remote: SocketAddrV4,
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
    fn session_accept_with(
        &mut self,
        io: &mut S,
        app: &Arc<AppWorkerShared>,
        fifos: SessionFifos,
        listener: u32,
        proto: TransportProto,
        local: SocketAddrV4,
        remote: SocketAddrV4,
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

    /// The rx fifo size sessions of listener `listener`'s app get.
    fn listener_rx_fifo_size(shared: &SessionShared, listener: u32) -> Option<u32> {
        let c = &shared.control;
        Some(c.app(c.listener(listener)?.app_index)?.opts.rx_fifo_size)
    }

    /// TCP input: the endpoint's policy ([`TcpTransport::demux`]) says
    /// where a segment goes: an existing connection (giving a half-open
    /// one its session when its handshake completes), else a listener
    /// (SYN: half-open or cookie; bare ACK: maybe a cookie), else a RST.
    fn tcp_input(&mut self, io: &mut S, net: &NetTables, shared: &SessionShared, d: Ip4Delivery<S::Buf>) {
        let Some(seg) = self.tcp.parse(io, &d) else { return };
        let end = (seg.payload_offset + seg.repr.payload_len).min(d.buf.len());
        let payload = &d.buf.data()[seg.payload_offset.min(end)..end];
        let worker = self.index;
        let (ip, port) = (*seg.tuple.local.ip(), seg.tuple.local.port());
        let action = self.tcp.demux(io.now_ns(), &seg, payload.len(), || {
            let l = shared.control.lookup_listener(0, 0, Proto::Tcp, ip, port, false)?;
            let options = shared.control.listener(l).map(|x| x.options).unwrap_or_default();
            Some((l, Self::listener_rx_fifo_size(shared, l).unwrap_or(65536), options))
        });
        match action {
            Action::Deliver { conn } => {
                let mut cx = Self::cx(&mut self.sessions, &mut self.events, io, net, worker);
                self.tcp.input(&mut cx, conn, &seg, payload);
            }
            Action::SessionThenDeliver { conn, listener } => {
                let Some(s) = self.session_accept_alloc(
                    io,
                    shared,
                    listener,
                    TransportProto::Tcp,
                    seg.tuple.local,
                    seg.tuple.remote,
                ) else {
                    // No app or no fifo memory: drop it; the peer retransmits.
                    return;
                };
                let mut cx = Self::cx(&mut self.sessions, &mut self.events, io, net, worker);
                self.tcp.give_session(&mut cx, conn, s);
                self.tcp.input(&mut cx, conn, &seg, payload);
            }
            Action::Accept { listener, iss, opts } => {
                let mut cx = Self::cx(&mut self.sessions, &mut self.events, io, net, worker);
                self.tcp.accept(&mut cx, listener, iss, &seg, opts);
            }
            Action::CookieAccept { listener, opts } => {
                let Some(s) = self.session_accept_alloc(
                    io,
                    shared,
                    listener,
                    TransportProto::Tcp,
                    seg.tuple.local,
                    seg.tuple.remote,
                ) else {
                    return;
                };
                let mut cx = Self::cx(&mut self.sessions, &mut self.events, io, net, worker);
                if !self.tcp.accept_cookie(&mut cx, s, listener, &seg, payload, opts) {
                    self.session_free(s);
                }
            }
            Action::SendCookie(repr) | Action::Reset(repr) => self.tcp.send_segment(io, net, &repr, &seg),
            Action::Drop(_) => {}
        }
    }

    /// `show tcp stats` for this worker: counters and connections by state.
    pub fn tcp_stats(&mut self) -> (tcp::Counters, Vec<(String, usize)>) {
        (self.tcp.counters(), self.tcp.states())
    }

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
        let control = &shared.control;
        let aw = control.app_worker(app_wrk).ok_or(SessionError::NoSuchAppWorker(app_wrk))?;
        let app = control.app(aw.app_index).ok_or(SessionError::NotAttached)?;
        req.options.validate()?;
        if let Some(parent) = req.parent {
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
        if app.scope.local {
            let ns = app.ns_index;
            if let Some(l) =
                control.listener_tables().lookup_local(ns, req.remote.proto, req.remote.ip, req.remote.port)
            {
                return self.ct_connect(io, shared, &me, l, req);
            }
        }
        let Some(local_ip) = io.source_for(net, req.remote.ip) else {
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
        let proto = TransportProto::for_proto(req.remote.proto);
        let remote = SocketAddrV4::new(req.remote.ip, req.remote.port);
        let local = SocketAddrV4::new(local_ip, 0);
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
    fn connect_failed(&mut self, app_wrk: u32, opaque: u64, e: ConnectError) {
        self.defer(Box::new(move |w, io, net, shared| {
            if w.is_external(app_wrk) {
                return w.external_connect_failed(app_wrk, opaque, e);
            }
            w.with_builtin(io, net, shared, app_wrk, |app, api| app.connected(api, opaque, Err(e)));
        }));
    }

    /// Cut-through connect to listener `l`: one fifo pair from the server's segments, two sessions here.
    fn ct_connect(
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
        let srv_ep = SocketAddrV4::new(req.remote.ip, req.remote.port);
        let cli_ep = SocketAddrV4::new(req.remote.ip, 0);
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

    /// UDP input: existing connection, else a listener (new session, if
    /// admitted), else ICMP port unreachable.
    fn udp_input(&mut self, io: &mut S, net: &NetTables, shared: &SessionShared, d: Ip4Delivery<S::Buf>) {
        let Some(u) = self.udp.parse(io, &d) else { return };
        self.udp.counters.inc(UdpCounter::RxDatagrams);
        let session = match self.udp.lookup(&u.tuple, io.now_ns()) {
            Some((s, promoted)) => {
                if promoted {
                    self.udp_grow(s);
                }
                s
            }
            None => {
                let Some(l) =
                    shared.control.lookup_listener(0, 0, Proto::Udp, *u.tuple.local.ip(), u.tuple.local.port(), false)
                else {
                    self.udp.counters.inc(UdpCounter::NoListener);
                    io.icmp_unreachable(net, &d, icmp::PORT_UNREACHABLE);
                    return;
                };
                let Some(s) = self.udp_accept(io, shared, l, u.tuple) else { return };
                s
            }
        };
        self.udp_enqueue(session, &u.tuple, &d.buf.data()[u.payload_offset..u.payload_offset + u.payload_len]);
    }

    /// A session for the first datagram of a new peer of UDP listener
    /// `listener`, if admission lets it in (see [`crate::udp::admission`]):
    /// a builtin app's session starts with small fifos, grown on its
    /// second datagram ([`Self::udp_grow`]); an external app maps its
    /// fifos and cannot be handed others, so its sessions get full-size
    /// ones from the start. Sessions evicted to make room are reset.
    fn udp_accept(&mut self, io: &mut S, shared: &SessionShared, listener: u32, tuple: Tuple) -> Option<u32> {
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
        let admitted = self.udp.admit(listener, *tuple.remote.ip(), bytes);
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
    fn udp_reset_evicted(&mut self) {
        let mut evicted = std::mem::take(&mut self.udp_evicted);
        self.udp.take_evicted(&mut evicted);
        for &s in &evicted {
            self.raise(s, EventKind::Reset);
        }
        evicted.clear();
        self.udp_evicted = evicted;
    }

    /// Session `index` received its second datagram: a builtin app's small
    /// fifos are swapped for the app's own sizes, contents and event flags
    /// carried over. Builtin apps touch fifos only from their callbacks on
    /// this thread, so no view of the old pair survives. Kept small (and
    /// counted) when fifo memory cannot take the difference.
    fn udp_grow(&mut self, index: u32) {
        let Some(s) = self.sessions.get(index) else { return };
        let Some(old) = s.fifos.as_ref() else { return };
        if s.app.kind != AppWorkerKind::Builtin {
            return;
        }
        let (rx, tx) = {
            let sm = old.owner.segments();
            let c = sm.config();
            (c.rx_fifo_size, c.tx_fifo_size)
        };
        let (old_rx, old_tx) = (old.pair.rx.size, old.pair.tx.size);
        if old_rx >= rx && old_tx >= tx {
            return;
        }
        let footprint = |a, b| fifo_pair_footprint(a, b).map_or(u64::MAX, |v| v as u64);
        let (before, after) = (footprint(old_rx, old_tx), footprint(rx, tx));
        if !self.udp.fifo_fits(after.saturating_sub(before)) {
            self.udp.counters.inc(UdpCounter::FifoGrowFailed);
            return;
        }
        let new = match SessionFifos::alloc(&old.owner) {
            Ok(f) => f,
            Err(_) => {
                self.udp.counters.inc(UdpCounter::FifoGrowFailed);
                return;
            }
        };
        let scratch = &mut self.scratch;
        for (from, to) in [(&old.rx, &new.rx), (&old.tx, &new.tx)] {
            let n = from.max_dequeue().min(scratch.len());
            from.peek(0, &mut scratch[..n]);
            to.enqueue(&scratch[..n]);
            if from.has_event() {
                to.set_event();
            }
        }
        let Some(s) = self.sessions.get_mut(index) else { return };
        if let Some(old) = s.fifos.replace(new) {
            old.free();
        }
        self.udp.fifo_release(before);
        self.udp.fifo_add(after);
        self.udp.counters.inc(UdpCounter::FifoGrown);
    }

    fn udp_enqueue(&mut self, index: u32, tuple: &Tuple, payload: &[u8]) {
        let Some(s) = self.sessions.get_mut(index) else { return };
        let hdr = DgramHeader { len: payload.len() as u32, remote: tuple.remote, local: tuple.local };
        let Some(f) = s.fifos.as_mut() else { return };
        if !f.rx.with_view_mut(|rx| dgram_enqueue(rx, &hdr, payload)) {
            s.rx_dropped += 1;
            self.stats.session.inc(SessionCounter::RxFifoFull);
            return;
        }
        s.rx_bytes += payload.len() as u64;
        if f.rx.set_event() {
            let g = s.generation;
            self.events.push(SessionEvent { session: index, generation: g, kind: EventKind::Rx });
        }
    }

    /// Sends what apps wrote since the last loop.
    fn run_pending_tx(&mut self, io: &mut S, net: &NetTables) -> usize {
        if self.pending_tx.is_empty() {
            return 0;
        }
        let pending = std::mem::take(&mut self.pending_tx);
        let mut work = 0;
        for &(index, generation) in &pending {
            let Some(s) = self.sessions.get(index).filter(|s| s.generation == generation) else { continue };
            if s.fifos.is_none() {
                continue;
            }
            s.tx().unset_event();
            let proto = s.proto;
            work += self.with_transport(io, net, proto, |t, cx| t.push_tx(cx, index));
            // Anything left (batch limit, no buffers) goes round again.
            if let Some(s) = self.sessions.get(index) {
                if s.tx().max_dequeue() > 0 && !proto.is_cut_through() && s.tx().set_event() {
                    self.pending_tx.push((index, generation));
                }
            }
        }
        let mut pending = pending;
        pending.clear();
        if self.pending_tx.is_empty() {
            self.pending_tx = pending;
        }
        work
    }

    fn run_pending_reads(&mut self, io: &mut S, net: &NetTables) {
        if self.pending_read.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending_read);
        for &(index, generation) in &pending {
            let Some(proto) = self.sessions.get(index).filter(|s| s.generation == generation).map(|s| s.proto) else {
                continue;
            };
            self.with_transport(io, net, proto, |t, cx| t.app_rx(cx, index));
        }
        let mut pending = pending;
        pending.clear();
        self.pending_read = pending;
    }

    /// Delivers raised events to the apps; returns how many.
    fn deliver_events(&mut self, io: &mut S, net: &NetTables, shared: &SessionShared) -> usize {
        let mut delivered = 0;
        while !self.events.is_empty() && delivered < EVENTS_PER_POLL {
            std::mem::swap(&mut self.events, &mut self.delivering);
            let mut batch = std::mem::take(&mut self.delivering);
            for ev in batch.drain(..) {
                delivered += 1;
                self.deliver(io, net, shared, ev);
            }
            self.delivering = batch;
            // Callbacks may have written data: send it before the next round.
            self.run_pending_tx(io, net);
            self.run_pending_reads(io, net);
        }
        delivered
    }

    fn deliver(&mut self, io: &mut S, net: &NetTables, shared: &SessionShared, ev: SessionEvent) {
        let Some(s) = self.sessions.get(ev.session).filter(|s| s.generation == ev.generation) else { return };
        let (app_wrk, opaque, state, announced) = (s.app_wrk, s.opaque, s.state, s.announced);
        let h = self.handle(ev.session);
        if !announced
            && matches!(ev.kind, EventKind::TransportClosed | EventKind::Reset | EventKind::Disconnected)
            && state != SessionState::Connecting
        {
            // The app never saw this session (a connection that died before
            // it was accepted): nobody to tell, just free it.
            self.session_abort(io, net, ev.session);
            return;
        }
        if self.is_external(app_wrk) {
            return self.deliver_external(io, net, ev);
        }
        match ev.kind {
            EventKind::Accepted => {
                if let Some(s) = self.sessions.get_mut(ev.session) {
                    s.announced = true;
                }
                let ok = self.with_builtin(io, net, shared, app_wrk, |app, api| app.accepted(api, h));
                match ok {
                    Some(true) => self.session_ready(ev.session),
                    _ => self.session_close(io, net, ev.session),
                }
            }
            EventKind::Connected => {
                if let Some(s) = self.sessions.get_mut(ev.session) {
                    s.state = SessionState::Ready;
                    s.announced = true;
                }
                self.stats.connected.fetch_add(1, Ordering::Relaxed);
                if self.with_builtin(io, net, shared, app_wrk, |app, api| app.connected(api, opaque, Ok(h))).is_none() {
                    self.session_abort(io, net, ev.session);
                }
            }
            EventKind::ConnectFailed(e) => {
                self.session_free(ev.session);
                self.with_builtin(io, net, shared, app_wrk, |app, api| app.connected(api, opaque, Err(e)));
            }
            EventKind::Rx => {
                if let Some(s) = self.sessions.get(ev.session) {
                    s.rx().unset_event();
                }
                if state == SessionState::Accepting || state == SessionState::Closing {
                    // Before the accept the app cannot read (it is told on
                    // accept, see `session_ready`); after its close nobody will.
                    return;
                }
                self.with_builtin(io, net, shared, app_wrk, |app, api| app.rx(api, h));
            }
            EventKind::TxSpace => {
                self.with_builtin(io, net, shared, app_wrk, |app, api| app.tx(api, h));
            }
            EventKind::Disconnected => {
                if state == SessionState::Closing {
                    return;
                }
                if let Some(s) = self.sessions.get_mut(ev.session) {
                    s.state = SessionState::TransportClosing;
                }
                self.with_builtin(io, net, shared, app_wrk, |app, api| app.disconnected(api, h));
            }
            EventKind::Reset => {
                self.with_builtin(io, net, shared, app_wrk, |app, api| app.reset(api, h));
                self.session_abort(io, net, ev.session);
            }
            EventKind::TransportClosed => {
                if let Some(s) = self.sessions.get_mut(ev.session) {
                    s.state = SessionState::Closed;
                }
                self.with_builtin(io, net, shared, app_wrk, |app, api| app.closed(api, h));
                self.session_free(ev.session);
            }
        }
    }

    /// The app accepted session `index`: it is ready, and data that came
    /// before the accept is announced now.
    pub(crate) fn session_ready(&mut self, index: u32) {
        let Some(s) = self.sessions.get_mut(index) else { return };
        if s.state != SessionState::Accepting {
            return;
        }
        s.state = SessionState::Ready;
        if s.rx().max_dequeue() > 0 && s.rx().set_event() {
            self.raise(index, EventKind::Rx);
        }
    }

    /// Every session on this worker, for `show session [verbose]`.
    pub fn sessions_snapshot(&self) -> Vec<SessionSnapshot> {
        self.sessions
            .iter_indexed()
            .map(|(i, s)| {
                // Fifos are gone only mid-teardown; a snapshot shows them empty then.
                let usage = |f: Option<&crate::fifo::Fifo<'_>>| {
                    f.map_or(FifoUsage { used: 0, capacity: 0 }, |f| FifoUsage {
                        used: f.max_dequeue(),
                        capacity: f.capacity(),
                    })
                };
                let fifos = s.fifos.as_ref();
                SessionSnapshot {
                    handle: self.handle(i),
                    proto: s.proto,
                    local: s.local,
                    remote: s.remote,
                    state: s.state,
                    app: s.app.app_name.to_string(),
                    app_worker: s.app_wrk,
                    client: s.is_client(),
                    rx_fifo: usage(fifos.map(|f| &*f.rx)),
                    tx_fifo: usage(fifos.map(|f| &*f.tx)),
                    rx_bytes: s.rx_bytes,
                    tx_bytes: s.tx_bytes,
                    rx_dropped: s.rx_dropped,
                    listener: s.listener,
                    conn: match s.proto {
                        TransportProto::Udp => Transport::<S>::conn_snapshot(&self.udp, s.conn),
                        TransportProto::Tcp => self.tcp.conn_snapshot(s.conn),
                        TransportProto::CtUdp | TransportProto::CtTcp => {
                            Transport::<S>::conn_snapshot(&self.ct, s.conn)
                        }
                    },
                }
            })
            .collect()
    }

    /// What the app workers on this worker report, by app worker index.
    pub fn app_snapshots(&self) -> Vec<(u32, AppWorkerSnapshot)> {
        self.apps
            .iter()
            .map(|(&i, a)| {
                let d = match &a.link {
                    AppLink::Builtin(b) => AppWorkerSnapshot::Builtin { app: b.as_ref().and_then(|b| b.snapshot()) },
                    AppLink::External(e) => AppWorkerSnapshot::External(e.snapshot()),
                };
                (i, d)
            })
            .collect()
    }

    fn poll_builtins(&mut self, io: &mut S, net: &NetTables, shared: &SessionShared) -> usize {
        if self.apps.is_empty() {
            return 0;
        }
        let mut work = 0;
        let keys: smallvec::SmallVec<[u32; 8]> = self.apps.keys().copied().collect();
        for k in keys {
            work += self.with_builtin(io, net, shared, k, |app, api| app.poll(api)).unwrap_or(0);
        }
        work
    }

    /// A scratch buffer for apps and transports (64 KiB).
    pub fn scratch(&mut self) -> &mut Vec<u8> {
        &mut self.scratch
    }
}

impl<S: Seam> Stack<S> for SessionWorker<S> {
    type Shared = SessionShared;

    fn ip4_input(&mut self, io: &mut S, net: &NetTables, shared: &SessionShared, d: Ip4Delivery<S::Buf>) {
        match d.protocol {
            Protocol::Udp => self.udp_input(io, net, shared, d),
            Protocol::Tcp => self.tcp_input(io, net, shared, d),
            _ => io.counters().inc(Counter::Ip4UnknownProtocol),
        }
    }

    fn poll(&mut self, io: &mut S, net: &NetTables, shared: &SessionShared) -> usize {
        let mut work = 0;
        if !self.deferred.is_empty() {
            let deferred = std::mem::take(&mut self.deferred);
            work += deferred.len();
            for f in deferred {
                f(self, io, net, shared);
            }
        }
        work += self.poll_external(io, net, shared);
        work += self.with_transport(io, net, TransportProto::Udp, |t, cx| t.poll(cx));
        work += self.with_transport(io, net, TransportProto::Tcp, |t, cx| t.poll(cx));
        work += self.run_pending_tx(io, net);
        self.run_pending_reads(io, net);
        work += self.deliver_events(io, net, shared);
        work += self.poll_builtins(io, net, shared);
        work += self.run_pending_tx(io, net);
        work += self.flush_external();
        work
    }
}
