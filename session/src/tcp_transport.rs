//! The TCP transport on a worker: the glue between the sans-IO
//! [`Connection`]s, mbufs, the session fifos and a timer wheel (VPP's
//! `tcp_input.c` / `tcp_output.c` node halves, without the state machine,
//! which lives in the `tcp` crate).
//!
//! Per worker there is a pool of connections, a 4-tuple table, a timer
//! wheel with one entry per connection, one listen backlog per listener, an
//! ISN generator and a SYN-cookie jar (their secrets are the node's, shared
//! by the workers). After anything happens to a connection (a segment, an
//! app call, a timer) it is *driven*: every segment it wants to send is
//! built straight into an mbuf (payload copied from the tx fifo by the
//! connection, headers emitted around it, checksums left to
//! `ip4_output_l4`, i.e. the NIC when it can), its events become session
//! events, and its timer entry is moved if its deadline changed.
//!
//! A connection has a session (and so fifos) only while the app can use
//! it. A passive open gets its session when the ACK that completes the
//! handshake arrives, not at the SYN, so half-open connections (a SYN
//! flood) cost a connection struct and no fifo memory. A connection that
//! reaches TIME-WAIT no longer needs its session: the session is closed then
//! (its fifos go back to the app's segment) and the connection lingers for
//! 2*MSL. Without a session, a connection is driven with two small heap
//! fifos of the transport's own.

use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::sync::Arc;

use dataplane::device::PortL3;
use dataplane::mbuf::Mbuf;
use net::l3::counters::Counter as NodeCounter;
use net::l3::Ip4Delivery;
use net::seam::Seam;
use net::tables::NetTables;
use wire::ipv4::{self, Protocol};
use wire::offload::CsumStatus;
use wire::tcp::{self as wire_tcp, Repr as TcpRepr};
use wire::Error as WireError;

use shm::types::{TransportOptions, TransportProto};

use crate::error::SessionError;
use crate::fifo::HeapFifo;
use crate::pool::Pool;
use crate::snapshot::ConnSnapshot;
use crate::transport::{ConnectError, ConnectRequest, EventKind, PortPicker, Transport, TransportCx};
use crate::udp::{Tuple, TupleMap};
use tcp::backlog::{ListenBacklog, SynCookieMode, SynDecision};

use tcp::config::{mss_cap, ConnOptions, Keepalive, TcpConfig};
use tcp::connection::{Connection, Event, State};
use tcp::isn::{random_secret, IsnGenerator};
use tcp::listen::{listen_action, ListenAction};
use tcp::rst::reset_for;
use tcp::stats::{Counter, Counters};
use tcp::syncookie::{CookieOptions, SynCookies};
use tcp::timer_wheel::{TimerHandle, TimerWheel};

counters::counters! {
    /// What TCP input counts on a worker before a segment reaches a
    /// connection (`show errors`; the connections' own are [`Counter`]s).
    pub enum TcpInputCounter {
        Malformed => ("tcp malformed", true),
        BadChecksum => ("tcp bad checksum", true),
        NoListener => ("tcp no listener (reset)", true),
        SynDropped => ("tcp syn dropped (backlog full, cookies off)", true),
    }
}

/// One worker's [`TcpInputCounter`]s.
pub type TcpInputCounters = counters::AtomicCounters<TcpInputCounter, { TcpInputCounter::COUNT }>;

/// Node-wide TCP settings plus the transport's own.
#[derive(Debug, Clone)]
pub struct TcpTransportConfig {
    /// The connections' settings.
    pub tcp: TcpConfig,
    /// Half-open connections per listener per worker before SYN cookies (or drops).
    pub max_half_open: u32,
    /// When to answer SYNs with cookies.
    pub syn_cookies: SynCookieMode,
    /// Secret for ISNs (RFC 6528) and SYN cookies; the same on every worker.
    pub secret: [u8; 16],
}

impl Default for TcpTransportConfig {
    fn default() -> Self {
        TcpTransportConfig {
            tcp: TcpConfig::default(),
            max_half_open: 1024,
            syn_cookies: SynCookieMode::WhenFull,
            secret: random_secret(),
        }
    }
}

/// No session: a half-open passive connection, or one in TIME-WAIT; it runs on the transport's own fifos.
const DETACHED: u32 = u32::MAX;
/// Timer wheel granularity.
const TICK_NS: u64 = 1_000_000;
/// Bytes reserved in front of the payload: IPv4 header + the largest TCP header.
const HEADROOM: usize = ipv4::HEADER_LEN + wire_tcp::MAX_HEADER_LEN;

/// One connection and what ties it to the session layer.
struct TcpConn {
    conn: Connection,
    /// Session index, or [`DETACHED`].
    session: u32,
    /// The listener that accepted it (passive opens), for the backlog.
    listener: Option<u32>,
    /// Counted as half-open in its listener's backlog.
    half_open: bool,
    /// A passive open still waiting for its session (given before the handshake's last ACK).
    awaiting_session: bool,
    /// When it entered TIME-WAIT (for reuse by a new active open).
    time_wait_since: Option<u64>,
    timer: Option<TimerHandle>,
    deadline: Option<u64>,
    tuple: Tuple,
}

/// What the worker does with a segment for a listener that matches no connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenVerdict {
    /// A SYN: ask [`TcpTransport::syn_decision`].
    Syn,
    /// The last ACK of a cookie handshake (validated): make a session, then [`TcpTransport::accept_cookie`].
    Cookie,
    /// Answer with [`TcpTransport::send_reset`].
    Reset,
    /// Nothing (counted).
    Drop,
}

/// A received segment, parsed.
pub struct TcpInput {
    /// The header.
    pub repr: TcpRepr,
    /// Addresses from the node's side.
    pub tuple: Tuple,
    /// Where the payload starts in the mbuf.
    pub payload_offset: usize,
}

/// A worker's TCP connections.
pub struct TcpTransport {
    cfg: TcpTransportConfig,
    conns: Pool<TcpConn>,
    by_tuple: TupleMap<Tuple, u32>,
    wheel: TimerWheel<(u32, u32)>,
    isn: IsnGenerator,
    cookies: SynCookies,
    backlogs: HashMap<u32, ListenBacklog>,
    counters: Counters,
    /// This worker's TCP input counters (the CLI reads them through [`crate::worker::SessionStats`]).
    pub input_counters: Arc<TcpInputCounters>,
    ports: PortPicker,
    idle_rx: HeapFifo,
    idle_tx: HeapFifo,
    spare: Option<dataplane::mbuf::Mbuf>,
    /// Connections whose output stopped at a full tx ring, to drive again next loop.
    blocked: Vec<(u32, u32)>,
}

impl TcpTransport {
    /// The transport for worker `worker` of `workers`.
    pub fn new(cfg: TcpTransportConfig, worker: u32, workers: u32, now: u64) -> Self {
        let workers = workers.max(1);
        TcpTransport {
            isn: IsnGenerator::new(cfg.secret),
            cookies: SynCookies::new(cfg.secret),
            cfg,
            conns: Pool::new("tcp connections"),
            by_tuple: TupleMap::default(),
            wheel: TimerWheel::new(TICK_NS, now),
            backlogs: HashMap::new(),
            counters: Counters::default(),
            input_counters: Arc::default(),
            ports: PortPicker::new(worker, workers),
            idle_rx: HeapFifo::new(4096).expect("valid size"),
            idle_tx: HeapFifo::new(4096).expect("valid size"),
            spare: None,
            blocked: Vec::new(),
        }
    }

    /// Checks a received segment (length, checksum, options); counts and returns `None` when it is bad.
    pub fn parse(&mut self, io: &PortL3, d: &Ip4Delivery<Mbuf>) -> Option<TcpInput> {
        let verify = match io.l4_csum_status(d) {
            CsumStatus::Good | CsumStatus::Verified => false,
            CsumStatus::Bad => {
                self.input_counters.inc(TcpInputCounter::BadChecksum);
                self.counters.incr(Counter::BadChecksum);
                return None;
            }
            CsumStatus::Unknown => true,
        };
        let data = d.buf.data();
        let parsed = wire_tcp::Packet::new_checked(&data[d.l4_offset..])
            .and_then(|p| TcpRepr::parse(&p, d.src, d.dst, verify).map(|r| (r, p.header_len() as usize)));
        match parsed {
            Ok((repr, hl)) => Some(TcpInput {
                tuple: Tuple {
                    local: SocketAddrV4::new(d.dst, repr.dst_port),
                    remote: SocketAddrV4::new(d.src, repr.src_port),
                },
                payload_offset: d.l4_offset + hl,
                repr,
            }),
            Err(WireError::BadChecksum) => {
                self.input_counters.inc(TcpInputCounter::BadChecksum);
                self.counters.incr(Counter::BadChecksum);
                None
            }
            Err(_) => {
                self.input_counters.inc(TcpInputCounter::Malformed);
                None
            }
        }
    }

    /// The connection for `tuple`, if any.
    #[inline]
    pub fn lookup(&self, tuple: &Tuple) -> Option<u32> {
        self.by_tuple.get(tuple).copied()
    }

    /// Feeds a segment to connection `c` and drives it.
    pub fn input(&mut self, cx: &mut TransportCx<'_>, c: u32, seg: &TcpInput, payload: &[u8]) {
        let now = cx.io.now_ns;
        let Some(tc) = self.conns.get_mut(c) else { return };
        match tc.session {
            DETACHED => {
                self.idle_rx.reset();
                let (rx, tx) = (self.idle_rx.view(), self.idle_tx.view());
                tc.conn.input(now, &seg.repr, payload, &rx, &tx);
            }
            s => {
                let Some(f) = cx.sessions.get(s).and_then(|s| s.fifos.as_ref()) else { return };
                tc.conn.input(now, &seg.repr, payload, &*f.rx, &*f.tx);
            }
        }
        self.drive(cx, c);
    }

    /// What a SYN for `listener` gets: a half-open slot, a cookie, or nothing.
    pub fn syn_decision(&mut self, listener: u32) -> SynDecision {
        let (max, mode) = (self.cfg.max_half_open, self.cfg.syn_cookies);
        self.backlogs.entry(listener).or_insert_with(|| ListenBacklog::new(max, mode)).on_syn()
    }

    /// Gives back a half-open slot taken by [`Self::syn_decision`] that was not used.
    pub fn syn_undo(&mut self, listener: u32) {
        if let Some(b) = self.backlogs.get_mut(&listener) {
            b.on_half_open_done();
        }
    }

    /// Passive open: a half-open connection for a SYN on `listener`,
    /// whose app's sessions get rx fifos of `rx_fifo_size` bytes; it gets
    /// its session later ([`Self::awaiting_session`]).
    pub fn accept(
        &mut self,
        cx: &mut TransportCx<'_>,
        listener: u32,
        seg: &TcpInput,
        rx_fifo_size: u32,
        options: &TransportOptions,
    ) {
        let now = cx.io.now_ns;
        let opts = conn_options(rx_fifo_size, options);
        let iss = self.isn.generate(seg.tuple.local, seg.tuple.remote, now);
        let conn = Connection::accept(&self.cfg.tcp, &seg.repr, seg.tuple.local, seg.tuple.remote, iss, opts, now);
        if let Some(c) = self.insert(cx, conn, DETACHED, Some(listener), true, seg.tuple) {
            if let Some(tc) = self.conns.get_mut(c) {
                tc.awaiting_session = true;
            }
            self.drive(cx, c);
        }
    }

    /// The listener of connection `c` if it is a half-open passive open and
    /// `seg` (with `payload_len` bytes of data) completes its handshake: the
    /// caller gives it a session ([`Self::give_session`]) before feeding the
    /// segment. Any other segment (a bad or old ACK, a RST, a retransmitted
    /// SYN) is fed without one, so a half-open connection never holds fifos.
    pub fn awaiting_session(&self, now: u64, c: u32, seg: &TcpInput, payload_len: usize) -> Option<u32> {
        let tc = self.conns.get(c)?;
        (tc.awaiting_session && tc.conn.completes_handshake(now, &seg.repr, payload_len))
            .then_some(tc.listener)
            .flatten()
    }

    /// What listener `listener` does with `seg`, which matches no
    /// connection ([`listen_action`]): an ACK is a cookie handshake's last
    /// ACK only if the cookie is good, else it is reset. Drops and resets
    /// are counted here.
    pub fn listen_verdict(&mut self, now: u64, listener: u32, seg: &TcpInput) -> ListenVerdict {
        match listen_action(seg.repr.flags) {
            ListenAction::Syn => ListenVerdict::Syn,
            ListenAction::Ack if self.cookie_possible(listener) && self.cookie_valid(now, seg) => ListenVerdict::Cookie,
            ListenAction::Ack => {
                self.counters.incr(Counter::ListenerAckReset);
                ListenVerdict::Reset
            }
            ListenAction::Drop => {
                self.counters.incr(Counter::ListenerDropped);
                ListenVerdict::Drop
            }
        }
    }

    /// Attaches session `session` (with fifos) to connection `c`.
    pub fn give_session(&mut self, cx: &mut TransportCx<'_>, c: u32, session: u32) {
        if let Some(tc) = self.conns.get_mut(c) {
            tc.session = session;
            tc.awaiting_session = false;
            if let Some(s) = cx.sessions.get_mut(session) {
                s.conn = c;
            }
        }
    }

    /// Answers a SYN with a cookie SYN-ACK (no state kept), advertising
    /// the MSS a connection of this listener (`options`) would.
    pub fn send_cookie(
        &mut self,
        io: &mut PortL3,
        net: &NetTables,
        seg: &TcpInput,
        rx_fifo_size: u32,
        options: &TransportOptions,
    ) {
        let t = &self.cfg.tcp;
        let enable = CookieOptions { timestamps: t.timestamps, window_scale: t.window_scale, sack: t.sack };
        let our_mss = mss_cap(t, &conn_options(rx_fifo_size, options));
        let (local, remote) = (seg.tuple.local, seg.tuple.remote);
        let repr = self.cookies.syn_ack(io.now_ns, local, remote, &seg.repr, rx_fifo_size, our_mss, enable);
        self.counters.incr(Counter::CookiesSent);
        send_bare(io, net, &repr, seg.tuple);
    }

    /// An ACK that matches no connection, for a listener that may have sent
    /// cookies: a connection if the cookie is good, with the listener's
    /// `options` (MSS cap, congestion control, Nagle, keepalive) as a
    /// half-open connection would have had. The caller made the session.
    pub fn accept_cookie(
        &mut self,
        cx: &mut TransportCx<'_>,
        session: u32,
        listener: u32,
        seg: &TcpInput,
        payload: &[u8],
        options: &TransportOptions,
    ) -> bool {
        let now = cx.io.now_ns;
        let Some(s) = cx.sessions.get(session) else { return false };
        let opts = conn_options(s.rx().capacity() as u32, options);
        let t = &self.cfg.tcp;
        let Some(conn) =
            Connection::from_cookie(t, &self.cookies, &seg.repr, seg.tuple.local, seg.tuple.remote, opts, now)
        else {
            self.counters.incr(Counter::CookiesFailed);
            return false;
        };
        match self.insert(cx, conn, session, Some(listener), false, seg.tuple) {
            Some(c) => {
                // The handshake's last ACK may carry data.
                self.input(cx, c, seg, payload);
                true
            }
            None => false,
        }
    }

    /// Whether an unmatched ACK could be a cookie answer for `listener`.
    pub fn cookie_possible(&self, listener: u32) -> bool {
        self.cfg.syn_cookies != SynCookieMode::Never
            && self.backlogs.get(&listener).is_none_or(|b| b.cookies_possible())
    }

    /// Validates a cookie ACK without making anything (so no session is allocated for forged ones).
    pub fn cookie_valid(&self, now: u64, seg: &TcpInput) -> bool {
        self.cookies.validate(now, seg.tuple.local, seg.tuple.remote, &seg.repr).is_some()
    }

    /// Answers a segment that belongs to nothing with a RST (RFC 9293 3.10.7.1).
    pub fn send_reset(&mut self, io: &mut PortL3, net: &NetTables, seg: &TcpInput) {
        if let Some(rst) = reset_for(&seg.repr) {
            self.counters.incr(Counter::ResetsSent);
            send_bare(io, net, &rst, seg.tuple);
        }
    }

    fn insert(
        &mut self,
        cx: &mut TransportCx<'_>,
        conn: Connection,
        session: u32,
        listener: Option<u32>,
        half_open: bool,
        tuple: Tuple,
    ) -> Option<u32> {
        if self.by_tuple.contains_key(&tuple) {
            return None;
        }
        let tc = TcpConn {
            conn,
            session,
            listener,
            half_open,
            awaiting_session: false,
            time_wait_since: None,
            timer: None,
            deadline: None,
            tuple,
        };
        let h = self.conns.insert_with(|_| Ok(tc)).ok()?;
        self.by_tuple.insert(tuple, h.index);
        if let Some(s) = cx.sessions.get_mut(session) {
            s.conn = h.index;
        }
        Some(h.index)
    }

    fn remove(&mut self, c: u32) -> Option<TcpConn> {
        let mut tc = self.conns.remove(c)?;
        self.by_tuple.remove(&tc.tuple);
        if let Some(t) = tc.timer.take() {
            self.wheel.cancel(t);
        }
        if tc.half_open {
            if let Some(b) = tc.listener.and_then(|l| self.backlogs.get_mut(&l)) {
                b.on_half_open_done();
            }
        }
        tc.conn.flush_counters(&mut self.counters);
        Some(tc)
    }

    /// Sends what connection `c` wants to send, turns its events into
    /// session events, and re-arms its timer.
    fn drive(&mut self, cx: &mut TransportCx<'_>, c: u32) {
        let now = cx.io.now_ns;
        self.transmit(cx, c);
        let Some(tc) = self.conns.get_mut(c) else { return };
        let session = tc.session;
        let mut closed = false;
        while let Some(ev) = tc.conn.poll_event() {
            let kind = match ev {
                Event::Established => {
                    if tc.half_open {
                        tc.half_open = false;
                        if let Some(b) = tc.listener.and_then(|l| self.backlogs.get_mut(&l)) {
                            b.on_half_open_done();
                        }
                    }
                    Some(if tc.listener.is_some() { EventKind::Accepted } else { EventKind::Connected })
                }
                Event::RxData => {
                    let s = cx.sessions.get(session);
                    s.filter(|s| s.rx().set_event()).map(|_| EventKind::Rx)
                }
                Event::TxSpace => cx.sessions.get(session).filter(|s| s.want_tx_event).map(|_| EventKind::TxSpace),
                Event::PeerClosed => Some(EventKind::Disconnected),
                Event::Reset | Event::TimedOut => Some(EventKind::Reset),
                Event::ConnectFailed(e) => Some(EventKind::ConnectFailed(match e {
                    tcp::connection::ConnectError::Refused => ConnectError::Refused,
                    tcp::connection::ConnectError::Timeout => ConnectError::Timeout,
                })),
                Event::Closed => {
                    closed = true;
                    None
                }
            };
            if let (Some(k), true) = (kind, session != DETACHED) {
                cx.event(session, k);
            }
        }
        if closed {
            // A last RST may be pending.
            self.transmit(cx, c);
            if let Some(tc) = self.remove(c) {
                if tc.session != DETACHED {
                    // The session layer frees it (silently if the app never saw it).
                    cx.event(tc.session, EventKind::TransportClosed);
                }
            }
            return;
        }
        let Some(tc) = self.conns.get_mut(c) else { return };
        if tc.conn.state() == State::TimeWait && tc.time_wait_since.is_none() {
            tc.time_wait_since = Some(now);
            if tc.session != DETACHED {
                // Nothing more for the app: free its session, keep the 2*MSL wait here.
                let s = std::mem::replace(&mut tc.session, DETACHED);
                cx.event(s, EventKind::TransportClosed);
            }
        }
        let deadline = tc.conn.poll_timeout();
        if deadline != tc.deadline {
            if let Some(t) = tc.timer.take() {
                self.wheel.cancel(t);
            }
            tc.deadline = deadline;
            if let Some(d) = deadline {
                let g = self.conns.handle(c).map_or(0, |h| h.generation);
                let h = self.wheel.insert(d.max(now), (c, g));
                if let Some(tc) = self.conns.get_mut(c) {
                    tc.timer = Some(h);
                }
            }
        }
    }

    /// Builds and sends every segment connection `c` has ready.
    fn transmit(&mut self, cx: &mut TransportCx<'_>, c: u32) {
        let now = cx.io.now_ns;
        loop {
            let Some(tc) = self.conns.get_mut(c) else { return };
            if !cx.io.tx_ready(cx.net, *tc.tuple.remote.ip()) {
                // The ring is full: the data waits in the tx fifo and the
                // connection is driven again on the next loop.
                let g = self.conns.handle(c).map_or(0, |h| h.generation);
                if !self.blocked.contains(&(c, g)) {
                    self.blocked.push((c, g));
                }
                return;
            }
            let Some(mut m) = self.spare.take().or_else(|| cx.io.alloc_tx()) else { return };
            let mss = tc.conn.mss();
            m.reset();
            let Some(buf) = m.append(HEADROOM + mss) else {
                cx.io.counters().inc(NodeCounter::MbufAllocFailed);
                return;
            };
            let t = if tc.session == DETACHED {
                let tx = self.idle_tx.view();
                tc.conn.poll_transmit(now, &tx, &mut buf[HEADROOM..])
            } else {
                let Some(f) = cx.sessions.get(tc.session).and_then(|s| s.fifos.as_ref()) else {
                    self.spare = Some(m);
                    return;
                };
                tc.conn.poll_transmit(now, &*f.tx, &mut buf[HEADROOM..])
            };
            let Some(t) = t else {
                self.spare = Some(m);
                return;
            };
            let hl = t.repr.header_len();
            let l4_at = HEADROOM - hl;
            t.repr.emit(&mut wire_tcp::Packet::new_unchecked(&mut buf[l4_at..]));
            // Drop the unused room and tail: the buffer starts at the TCP
            // header; the seam adds the IPv4 header in front.
            m.adj(l4_at);
            m.trim(mss - t.payload_len);
            if let Some(s) = cx.sessions.get_mut(tc.session) {
                s.tx_bytes += t.payload_len as u64;
            }
            cx.io.ip4_output_l4(cx.net, m, *tc.tuple.local.ip(), *tc.tuple.remote.ip(), Protocol::Tcp);
        }
    }

    fn session_of(&self, cx: &TransportCx<'_>, session: u32) -> Option<u32> {
        let c = cx.sessions.get(session)?.conn;
        self.conns.get(c).filter(|tc| tc.session == session).map(|_| c)
    }
}

/// How long a connection must have been in TIME-WAIT before an active open may take over its tuple.
const TIME_WAIT_REUSE_AFTER_NS: u64 = 1_000_000_000;

/// Whether a new active open may take over this connection's tuple: it has
/// been in TIME-WAIT (with no session) for a second, and used timestamps,
/// so PAWS tells the old incarnation's segments from the new one's.
fn tc_reusable(tc: &TcpConn, now: u64) -> bool {
    tc.session == DETACHED
        && tc.conn.negotiated().timestamps
        && tc.time_wait_since.is_some_and(|t| now.saturating_sub(t) >= TIME_WAIT_REUSE_AFTER_NS)
}

/// A connection's options from the app's transport options.
fn conn_options(rx_fifo_size: u32, o: &TransportOptions) -> ConnOptions {
    ConnOptions {
        rx_fifo_size,
        mss: o.mss,
        cc: o.cc,
        nagle: o.no_delay.then_some(false),
        keepalive: o.keepalive.then(Keepalive::default),
    }
}

impl TcpTransport {
    /// Worker-wide counters (connections' included).
    pub fn counters(&mut self) -> Counters {
        let idx = self.conns.indices();
        for c in idx {
            if let Some(tc) = self.conns.get_mut(c) {
                tc.conn.flush_counters(&mut self.counters);
            }
        }
        self.counters.clone()
    }

    /// Connections by state, for `show tcp stats`.
    pub fn states(&self) -> Vec<(String, usize)> {
        let mut m: std::collections::BTreeMap<String, usize> = Default::default();
        for tc in self.conns.iter() {
            *m.entry(tc.conn.state().to_string()).or_default() += 1;
        }
        m.into_iter().collect()
    }
}

/// Sends a segment that belongs to no connection (RST, cookie SYN-ACK).
fn send_bare(io: &mut PortL3, net: &NetTables, repr: &TcpRepr, tuple: Tuple) {
    let Some(mut m) = io.alloc_tx() else { return };
    let Some(buf) = m.append(repr.header_len()) else {
        return io.counters().inc(NodeCounter::MbufAllocFailed);
    };
    repr.emit(&mut wire_tcp::Packet::new_unchecked(buf));
    io.ip4_output_l4(net, m, *tuple.local.ip(), *tuple.remote.ip(), Protocol::Tcp);
}

impl Transport for TcpTransport {
    fn proto(&self) -> TransportProto {
        TransportProto::Tcp
    }

    fn connect(
        &mut self,
        cx: &mut TransportCx<'_>,
        session: u32,
        local: SocketAddrV4,
        req: &ConnectRequest,
    ) -> Result<u32, SessionError> {
        let now = cx.io.now_ns;
        let remote = SocketAddrV4::new(req.remote.ip, req.remote.port);
        let port = match local.port() {
            0 => {
                let (by_tuple, conns, now, ip) = (&self.by_tuple, &self.conns, now, *local.ip());
                // Free, or a TIME-WAIT connection a new one may take over.
                let free = |p| {
                    by_tuple
                        .get(&Tuple { local: SocketAddrV4::new(ip, p), remote })
                        .is_none_or(|&c| conns.get(c).is_some_and(|tc| tc_reusable(tc, now)))
                };
                self.ports
                    .pick(cx.io, cx.net, Protocol::Tcp, ip, remote, free)
                    .ok_or(SessionError::TooMany("tcp local ports"))?
            }
            p => p,
        };
        let local = SocketAddrV4::new(*local.ip(), port);
        let rx_size = cx.sessions.get(session).map_or(65536, |s| s.rx().capacity() as u32);
        let opts = conn_options(rx_size, &req.options);
        let iss = self.isn.generate(local, remote, now);
        let conn = Connection::connect(&self.cfg.tcp, local, remote, iss, opts, now);
        let tuple = Tuple { local, remote };
        if let Some(old) = self.by_tuple.get(&tuple).copied() {
            if self.conns.get(old).is_some_and(|tc| tc_reusable(tc, now)) {
                // TIME-WAIT reuse (like Linux's tcp_tw_reuse): the old
                // incarnation is forgotten; timestamps keep its strays out.
                self.remove(old);
                self.counters.incr(Counter::TimeWaitReused);
            }
        }
        let c = self
            .insert(cx, conn, session, None, false, tuple)
            .ok_or_else(|| SessionError::AddressInUse(format!("tcp {local} -> {remote}")))?;
        if let Some(s) = cx.sessions.get_mut(session) {
            s.local = local;
        }
        self.drive(cx, c);
        Ok(c)
    }

    fn push_tx(&mut self, cx: &mut TransportCx<'_>, session: u32) -> usize {
        let Some(c) = self.session_of(cx, session) else { return 0 };
        let now = cx.io.now_ns;
        if let Some(tc) = self.conns.get_mut(c) {
            tc.conn.app_tx(now);
        }
        self.drive(cx, c);
        1
    }

    fn app_rx(&mut self, cx: &mut TransportCx<'_>, session: u32) {
        let Some(c) = self.session_of(cx, session) else { return };
        let now = cx.io.now_ns;
        let Some(f) = cx.sessions.get(session).and_then(|s| s.fifos.as_ref()) else { return };
        if let Some(tc) = self.conns.get_mut(c) {
            tc.conn.app_rx(now, &*f.rx);
        }
        self.drive(cx, c);
    }

    fn close(&mut self, cx: &mut TransportCx<'_>, session: u32) {
        let Some(c) = self.session_of(cx, session) else {
            // Already gone (e.g. the connection finished on its own).
            cx.event(session, EventKind::TransportClosed);
            return;
        };
        let now = cx.io.now_ns;
        let Some(f) = cx.sessions.get(session).and_then(|s| s.fifos.as_ref()) else { return };
        if let Some(tc) = self.conns.get_mut(c) {
            tc.conn.close(now, &*f.rx);
        }
        self.drive(cx, c);
    }

    fn shutdown_write(&mut self, cx: &mut TransportCx<'_>, session: u32) {
        let Some(c) = self.session_of(cx, session) else { return };
        let now = cx.io.now_ns;
        if let Some(tc) = self.conns.get_mut(c) {
            // The FIN follows what is queued in the tx fifo.
            tc.conn.shutdown_write(now);
        }
        self.drive(cx, c);
    }

    fn abort(&mut self, cx: &mut TransportCx<'_>, session: u32) {
        let Some(c) = self.session_of(cx, session) else { return };
        if let Some(tc) = self.conns.get_mut(c) {
            tc.conn.abort();
        }
        // Send the RST, then forget the connection without raising anything.
        self.transmit(cx, c);
        self.remove(c);
    }

    fn poll(&mut self, cx: &mut TransportCx<'_>) -> usize {
        let now = cx.io.now_ns;
        let mut n = 0;
        if !self.blocked.is_empty() {
            let blocked = std::mem::take(&mut self.blocked);
            for &(c, g) in &blocked {
                if self.conns.handle(c).is_some_and(|h| h.generation == g) {
                    self.drive(cx, c);
                    n += 1;
                }
            }
        }
        if self.wheel.advance(now) == 0 {
            return n;
        }
        while let Some((c, g)) = self.wheel.pop_expired() {
            if self.conns.handle(c).is_none_or(|h| h.generation != g) {
                continue;
            }
            let Some(tc) = self.conns.get_mut(c) else { continue };
            tc.timer = None;
            tc.deadline = None;
            tc.conn.on_timeout(now);
            self.drive(cx, c);
            n += 1;
        }
        n
    }

    fn conn_snapshot(&self, conn: u32) -> ConnSnapshot {
        match self.conns.get(conn) {
            Some(tc) => ConnSnapshot::Tcp { local: tc.tuple.local, remote: tc.tuple.remote, stats: tc.conn.stats() },
            None => ConnSnapshot::Closed { proto: TransportProto::Tcp },
        }
    }

    fn connections(&self) -> usize {
        self.conns.len()
    }
}
