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
//!
//! The files: this one holds the loop (the [`Stack`] impl), the session
//! pool (alloc, free, close, abort), pending tx/reads and snapshots;
//! `input.rs` TCP and UDP packet input; `accept.rs` a listener's new
//! peers becoming sessions; `connect.rs` an app's connects (cut-through
//! included); `delivery.rs` events to builtin apps' callbacks.

use foldhash::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use net::control::rpc::RpcSender;
use net::control::worker::{now_ns, Tables, WorkerState};
use net::l3::counters::Counter;
use net::l3::{Ip4Delivery, Ip6Delivery, LargeDelivery};
use net::seam::{Seam, Stack};
use net::tables::NetTables;
use shm::types::{SessionHandle, TransportProto};
use wire::ipv4::Protocol;

use crate::app_worker::AppWorkerShared;
use crate::builtin::BuiltinApp;
use crate::control::ControlTables;
use crate::cut_through::CutThrough;
use crate::error::SessionError;
use crate::main_thread::MainCtx;
use crate::pool::Pool;
use crate::segment::fifo_pair_footprint;
use crate::session::{Session, SessionFifos, SessionState};
use crate::snapshot::{AppWorkerSnapshot, FifoUsage, SessionSnapshot};
use crate::tcp_transport::{TcpInputCounters, TcpTransport, TcpTransportConfig};
use crate::transport::{EventKind, SessionEvent, Transport, TransportCx};
use crate::udp::{UdpConfig, UdpCounters, UdpTransport};

mod accept;
mod connect;
mod delivery;
mod external_messages;
mod input;
mod quic;

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
        ExternalBadFamily => ("app queue request with a bad address family", true),
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
    /// TLS's counters (the TCP transport's, which runs TLS).
    pub tls: Arc<crate::tls::TlsCounters>,
    /// QUIC's counters (the QUIC transport's own block).
    pub quic: Arc<crate::quic::QuicCounters>,
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
    quic: crate::quic::QuicTransport,
    ct: CutThrough,
    apps: HashMap<u32, WorkerApp<S>>,
    /// The keys of `apps` that are builtin, and those that are external:
    /// the loop polls them from these lists instead of walking the map
    /// (and collecting its keys) twice per iteration.
    builtin_apps: Vec<u32>,
    external_apps: Vec<u32>,
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
        Self::new_at(index, workers, to_main, udp, tcp, now_ns())
    }

    /// Like [`Self::new`] with the seam's clock at `now_ns` (the start of
    /// TCP's timer wheel): a simulated node's virtual time.
    pub fn new_at(
        index: u32,
        workers: u32,
        to_main: Option<RpcSender<MainCtx<S>>>,
        udp: UdpConfig,
        tcp: TcpTransportConfig,
        now_ns: u64,
    ) -> Self {
        let udp = UdpTransport::new(udp, index, workers);
        let tcp = TcpTransport::new(tcp, index, workers, now_ns);
        let quic = crate::quic::QuicTransport::new(index, workers, now_ns);
        let stats = Arc::new(SessionStats {
            udp: udp.counters.clone(),
            tcp_input: tcp.input_counters.clone(),
            tls: tcp.tls_counters.clone(),
            quic: quic.counters.clone(),
            ..SessionStats::default()
        });
        SessionWorker {
            index,
            workers,
            sessions: Pool::new("sessions"),
            udp,
            tcp,
            quic,
            ct: CutThrough::new(),
            apps: HashMap::default(),
            builtin_apps: Vec::new(),
            external_apps: Vec::new(),
            events: Vec::with_capacity(1024),
            delivering: Vec::with_capacity(1024),
            pending_tx: Vec::with_capacity(1024),
            pending_read: Vec::with_capacity(256),
            deferred: Vec::new(),
            rotors: HashMap::default(),
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
        let k = shared.wrk_index;
        self.builtin_apps.retain(|&a| a != k);
        self.external_apps.retain(|&a| a != k);
        match link {
            AppLink::Builtin(_) => self.builtin_apps.push(k),
            AppLink::External(_) => self.external_apps.push(k),
        }
        self.apps.insert(k, WorkerApp { shared, link });
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
        self.builtin_apps.retain(|&a| a != wrk_index);
        self.external_apps.retain(|&a| a != wrk_index);
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
            // TLS runs inside the TCP transport (see crate::tls).
            TransportProto::Tcp | TransportProto::Tls => &mut self.tcp,
            TransportProto::Quic => &mut self.quic,
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
        local: SocketAddr,
        remote: SocketAddr,
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
        if s.proto.is_cut_through()
            || matches!(s.proto, TransportProto::Tcp | TransportProto::Tls | TransportProto::Quic)
        {
            self.pending_read.push((index, s.generation));
        }
    }

    /// `show tcp stats` for this worker: counters and connections by state.
    pub fn tcp_stats(&mut self) -> (tcp::Counters, Vec<(String, usize)>) {
        (self.tcp.counters(), self.tcp.states())
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
            let (sent, retry) =
                self.with_transport(io, net, proto, |t, cx| (t.push_tx(cx, index), t.retry_tx_while_fifo_has_data()));
            work += sent;
            // Anything left (batch limit, no buffers) goes round again.
            if let Some(s) = self.sessions.get(index) {
                if retry && s.tx().max_dequeue() > 0 && s.tx().set_event() {
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

    /// Every session on this worker, for `show session [verbose]`.
    pub fn sessions_snapshot(&self) -> Vec<SessionSnapshot> {
        self.sessions
            .iter_indexed()
            .map(|(i, s)| {
                // Fifos are gone only mid-teardown; a snapshot shows them empty then.
                let usage = |f: Option<(usize, usize)>| {
                    let (used, capacity) = f.unwrap_or((0, 0));
                    FifoUsage { used, capacity }
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
                    rx_fifo: usage(fifos.map(|f| (f.rx.max_dequeue(), f.rx.capacity()))),
                    tx_fifo: usage(fifos.map(|f| (f.tx.max_dequeue(), f.tx.capacity()))),
                    rx_bytes: s.rx_bytes,
                    tx_bytes: s.tx_bytes,
                    rx_dropped: s.rx_dropped,
                    listener: s.listener,
                    conn: match s.proto {
                        TransportProto::Udp => Transport::<S>::conn_snapshot(&self.udp, s.conn),
                        TransportProto::Tcp | TransportProto::Tls => self.tcp.conn_snapshot(s.conn),
                        TransportProto::Quic => Transport::<S>::conn_snapshot(&self.quic, s.conn),
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

    /// A scratch buffer for apps and transports (64 KiB).
    pub fn scratch(&mut self) -> &mut Vec<u8> {
        &mut self.scratch
    }
}

impl<S: Seam> SessionWorker<S> {
    /// One IPv4 UDP/TCP packet to its transport.
    #[inline]
    fn ip4_one(&mut self, io: &mut S, net: &NetTables, shared: &SessionShared, d: Ip4Delivery<S::Buf>) {
        match d.protocol {
            Protocol::Udp => self.udp_input(io, net, shared, d),
            Protocol::Tcp => self.tcp_input(io, net, shared, d),
            _ => io.counters().inc(Counter::Ip4UnknownProtocol),
        }
    }
}

impl<S: Seam> Stack<S> for SessionWorker<S> {
    type Shared = SessionShared;

    fn ip4_input(&mut self, io: &mut S, net: &NetTables, shared: &SessionShared, d: Ip4Delivery<S::Buf>) {
        self.ip4_one(io, net, shared, d)
    }

    fn ip4_input_burst(
        &mut self,
        io: &mut S,
        net: &NetTables,
        shared: &SessionShared,
        ds: impl Iterator<Item = Ip4Delivery<S::Buf>>,
    ) {
        self.ip4_burst(io, net, shared, ds)
    }

    fn ip6_input(&mut self, io: &mut S, net: &NetTables, shared: &SessionShared, d: Ip6Delivery<S::Buf>) {
        match d.protocol {
            Protocol::Udp => self.udp_input6(io, net, shared, d),
            Protocol::Tcp => self.tcp_input6(io, net, shared, d),
            _ => io.counters().inc(Counter::Ip6TransportNotYet),
        }
    }

    fn large_input(&mut self, io: &mut S, net: &NetTables, shared: &SessionShared, d: &LargeDelivery) {
        self.udp_input_large(io, net, shared, d)
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
        work += self.with_transport(io, net, TransportProto::Quic, |t, cx| t.poll(cx));
        work += self.quic_new_streams(io, net);
        work += self.run_pending_tx(io, net);
        self.run_pending_reads(io, net);
        work += self.deliver_events(io, net, shared);
        work += self.poll_builtins(io, net, shared);
        work += self.run_pending_tx(io, net);
        work += self.flush_external();
        work
    }
}
