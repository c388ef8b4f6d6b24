//! The TCP transport on a worker: the glue between the sans-IO
//! [`Connection`]s, mbufs, the session fifos and a timer wheel (VPP's
//! `tcp_input.c` / `tcp_output.c` node halves, without the state machine,
//! which lives in the `tcp` crate).
//!
//! Per worker there is a pool of connections, a 4-tuple table, a timer
//! wheel with one entry per connection, and a [`tcp::Endpoint`] that
//! decides what a segment gets (listener, backlog, SYN-cookie and reset
//! policy; its ISN and cookie secrets are the node's, shared by the
//! workers): the worker asks [`TcpTransport::demux`] and carries out the
//! [`Action`]. After anything happens to a connection (a segment, an
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

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use net::device::PacketBuf;
use net::l3::counters::Counter as NodeCounter;
use net::l3::{Ip4Delivery, Ip6Delivery, PmtuReport};
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
use crate::tls::{TlsConn, TlsCounter, TlsCounters};
use crate::transport::{ConnectError, ConnectRequest, EventKind, PortPicker, Transport, TransportCx};
use crate::udp::{Tuple, TupleMap};
use tcp::backlog::SynCookieMode;
use tcp::buffer::{PayloadIn, PayloadMut};
use tcp::config::{ConnOptions, Keepalive, TcpConfig};
use tcp::connection::{Connection, Event, State};
use tcp::endpoint::{Action, Demux, Endpoint};
use tcp::isn::random_secret;
use tcp::pmtu::{PmtuVerdict, MSS_FLOOR_V4, MSS_FLOOR_V6};
use tcp::stats::{Counter, Counters};
use tcp::timer_wheel::{TimerHandle, TimerWheel};

/// TCP input's counters, owned by the TCP endpoint (`show errors`).
pub use tcp::endpoint::{InputCounter as TcpInputCounter, InputCounters as TcpInputCounters};

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
    /// Time (ns) a TLS connection has, from its TCP handshake's end, to finish the TLS handshake (`[tls] handshake_timeout`).
    pub tls_handshake_timeout_ns: u64,
    /// Receive coalescing: the in-order segments of one connection in an
    /// rx burst go to it as one train ([`TcpTransport::input_train`]).
    pub gro: bool,
}

/// `[tls] handshake_timeout` unset: 10 s.
pub const TLS_HANDSHAKE_TIMEOUT_NS: u64 = 10_000_000_000;

impl Default for TcpTransportConfig {
    fn default() -> Self {
        TcpTransportConfig {
            tcp: TcpConfig::default(),
            max_half_open: 1024,
            syn_cookies: SynCookieMode::WhenFull,
            secret: random_secret(),
            tls_handshake_timeout_ns: TLS_HANDSHAKE_TIMEOUT_NS,
            gro: true,
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
    /// TLS over it: the connection runs on the ciphertext fifos of this (see [`crate::tls`]).
    tls: Option<Box<TlsConn>>,
}

/// A received segment, parsed.
pub struct TcpInput {
    /// The header.
    pub repr: TcpRepr,
    /// Addresses from the node's side.
    pub tuple: Tuple,
    /// Where the payload starts in the mbuf.
    pub payload_offset: usize,
    /// Whether the mbuf is a chain (the payload runs on past its first segment).
    pub chained: bool,
}

/// A worker's TCP connections.
pub struct TcpTransport<S: Seam> {
    endpoint: Endpoint,
    conns: Pool<TcpConn>,
    by_tuple: TupleMap<Tuple, u32>,
    wheel: TimerWheel<(u32, u32)>,
    counters: Counters,
    /// This worker's TCP input counters (the CLI reads them through [`crate::worker::SessionStats`]).
    pub input_counters: Arc<TcpInputCounters>,
    ports: PortPicker,
    idle_rx: HeapFifo,
    idle_tx: HeapFifo,
    spare: Option<S::Buf>,
    /// The same, from the large pool (TSO/GSO).
    spare_large: Option<S::Buf>,
    /// Bytes a fresh buffer of the small pool can take (0 until the first
    /// is seen): a segment longer than that is sent as a chain.
    buf_room: usize,
    /// Connections whose output stopped at a full tx ring, to drive again next loop.
    blocked: Vec<(u32, u32)>,
    /// This worker's TLS counters (`show tls`).
    pub tls_counters: Arc<TlsCounters>,
    tls_scratch: Vec<u8>,
    tls_handshake_timeout_ns: u64,
    gro: bool,
}

impl<S: Seam> TcpTransport<S> {
    /// The transport for worker `worker` of `workers`.
    pub fn new(cfg: TcpTransportConfig, worker: u32, workers: u32, now: u64) -> Self {
        let workers = workers.max(1);
        let input_counters = Arc::<TcpInputCounters>::default();
        TcpTransport {
            endpoint: Endpoint::new(cfg.tcp, cfg.max_half_open, cfg.syn_cookies, cfg.secret, input_counters.clone()),
            conns: Pool::new("tcp connections"),
            by_tuple: TupleMap::default(),
            wheel: TimerWheel::new(TICK_NS, now),
            counters: Counters::default(),
            input_counters,
            ports: PortPicker::new(worker, workers),
            idle_rx: HeapFifo::new(4096).expect("valid size"),
            idle_tx: HeapFifo::new(4096).expect("valid size"),
            spare: None,
            buf_room: 0,
            spare_large: None,
            blocked: Vec::new(),
            tls_counters: Arc::default(),
            tls_scratch: Vec::new(),
            tls_handshake_timeout_ns: cfg.tls_handshake_timeout_ns,
            gro: cfg.gro,
        }
    }

    /// Whether rx bursts are coalesced into trains (`[tcp] gro`).
    #[inline]
    pub fn gro(&self) -> bool {
        self.gro
    }

    /// The connection a train of segments with `tuple` goes to whole: one
    /// that has its session (or never needs one), so nothing but
    /// [`Self::input_train`] is owed for it; `None` sends the segments
    /// through [`Self::demux`] one by one.
    #[inline]
    pub fn train_conn(&self, tuple: &Tuple) -> Option<u32> {
        let &c = self.by_tuple.get(tuple)?;
        self.conns.get(c).filter(|tc| !tc.awaiting_session).map(|_| c)
    }

    /// Feeds a train of segments ([`tcp::gro`]) to connection `c` and
    /// drives it once: one ACK decision and one rx-fifo enqueue for all.
    pub fn input_train(&mut self, cx: &mut TransportCx<'_, S>, c: u32, segs: &[tcp::gro::Segment<'_>]) {
        let now = cx.io.now_ns();
        let Some(tc) = self.conns.get_mut(c) else { return };
        if let Some(t) = tc.tls.as_deref() {
            tc.conn.input_train(now, segs, &t.crx.producer(), &t.ctx.consumer());
            return self.drive(cx, c);
        }
        match tc.session {
            DETACHED => {
                self.idle_rx.reset();
                let (rx, tx) = (self.idle_rx.producer(), self.idle_tx.consumer());
                tc.conn.input_train(now, segs, &rx, &tx);
            }
            s => {
                let Some(f) = cx.sessions.get(s).and_then(|s| s.fifos.as_ref()) else { return };
                tc.conn.input_train(now, segs, &*f.rx, &*f.tx);
            }
        }
        self.drive(cx, c);
    }

    /// Checks a received segment (length, checksum, options); counts and returns the counter's name (the drop reason) when it is bad.
    pub fn parse(&mut self, io: &S, d: &Ip4Delivery<S::Buf>) -> Result<TcpInput, &'static str> {
        let verify = match io.l4_csum_status(d) {
            CsumStatus::Good | CsumStatus::Verified => false,
            CsumStatus::Bad => {
                self.input_counters.inc(TcpInputCounter::BadChecksum);
                self.counters.incr(Counter::BadChecksum);
                return Err(TcpInputCounter::BadChecksum.name());
            }
            CsumStatus::Unknown => true,
        };
        if d.buf.segments() != 1 {
            return self.parse_chained(d, verify);
        }
        let data = d.buf.data();
        let parsed = wire_tcp::Packet::new_checked(&data[d.l4_offset..])
            .and_then(|p| TcpRepr::parse(&p, d.src, d.dst, verify).map(|r| (r, p.header_len() as usize)));
        self.input_of(parsed, IpAddr::V4(d.src), IpAddr::V4(d.dst), d.l4_offset, false)
    }

    /// The outcome of parsing a segment from `src` to `dst` whose TCP
    /// header starts at `l4_offset`: the input, or the drop counted and
    /// named (bad checksum, malformed).
    #[inline]
    fn input_of(
        &mut self,
        parsed: Result<(TcpRepr, usize), WireError>,
        src: IpAddr,
        dst: IpAddr,
        l4_offset: usize,
        chained: bool,
    ) -> Result<TcpInput, &'static str> {
        match parsed {
            Ok((repr, hl)) => Ok(TcpInput {
                tuple: Tuple {
                    local: SocketAddr::new(dst, repr.dst_port),
                    remote: SocketAddr::new(src, repr.src_port),
                },
                payload_offset: l4_offset + hl,
                chained,
                repr,
            }),
            Err(WireError::BadChecksum) => {
                self.input_counters.inc(TcpInputCounter::BadChecksum);
                self.counters.incr(Counter::BadChecksum);
                Err(TcpInputCounter::BadChecksum.name())
            }
            Err(_) => {
                self.input_counters.inc(TcpInputCounter::Malformed);
                Err(TcpInputCounter::Malformed.name())
            }
        }
    }

    /// [`Self::parse`] of a chained segment (longer than one buffer): the
    /// header from the first segment, the checksum over every segment, the
    /// payload length from the whole packet.
    #[cold]
    #[inline(never)]
    fn parse_chained(&mut self, d: &Ip4Delivery<S::Buf>, verify: bool) -> Result<TcpInput, &'static str> {
        let data = d.buf.data();
        let l4_len = d.buf.pkt_len().saturating_sub(d.l4_offset);
        let head = data.get(d.l4_offset..).unwrap_or_default();
        let parsed = wire_tcp::Packet::new_checked(head).and_then(|p| {
            let hl = p.header_len() as usize;
            if verify {
                let pseudo = wire::checksum::pseudo_header_ipv4(d.src, d.dst, u8::from(Protocol::Tcp), l4_len as u16);
                let sum = wire::checksum::sum_parts(std::iter::once(head).chain(d.buf.tail_segments()), pseudo);
                if wire::checksum::fold(sum) != 0 {
                    return Err(WireError::BadChecksum);
                }
            }
            let mut r = TcpRepr::parse(&p, d.src, d.dst, false)?;
            r.payload_len = l4_len - hl;
            Ok((r, hl))
        });
        self.input_of(parsed, IpAddr::V4(d.src), IpAddr::V4(d.dst), d.l4_offset, true)
    }

    /// [`Self::parse`] for IPv6: the checksum over the IPv6 pseudo header.
    pub fn parse6(&mut self, io: &S, d: &Ip6Delivery<S::Buf>) -> Option<TcpInput> {
        let verify = match io.l4_csum_status6(d) {
            CsumStatus::Good | CsumStatus::Verified => false,
            CsumStatus::Bad => {
                self.input_counters.inc(TcpInputCounter::BadChecksum);
                self.counters.incr(Counter::BadChecksum);
                return None;
            }
            CsumStatus::Unknown => true,
        };
        let data = d.buf.data();
        let parsed = wire_tcp::Packet::new_checked(&data[d.l4_offset..]).and_then(|p| {
            if verify && !p.verify_checksum_v6(&d.src, &d.dst) {
                return Err(WireError::BadChecksum);
            }
            // Checked above: parse with a checksum check that cannot fail.
            let any = std::net::Ipv4Addr::UNSPECIFIED;
            TcpRepr::parse(&p, any, any, false).map(|r| (r, p.header_len() as usize))
        });
        self.input_of(parsed, IpAddr::V6(d.src), IpAddr::V6(d.dst), d.l4_offset, false).ok()
    }

    /// What `seg` (with `payload_len` bytes of data) gets, from the
    /// endpoint's policy ([`Endpoint::input`]): the connection with its
    /// 4-tuple, else the listener `listener` finds for its local address
    /// (asked only then; it gives the listener and the transport options
    /// and rx fifo size of its app), else nothing.
    pub fn demux(
        &mut self,
        now: u64,
        seg: &TcpInput,
        payload_len: usize,
        listener: impl FnOnce() -> Option<(u32, u32, TransportOptions, Option<u16>)>,
    ) -> Action {
        let to = match self.by_tuple.get(&seg.tuple) {
            Some(&c) => match self.conns.get(c) {
                Some(tc) => Demux::Connection {
                    index: c,
                    conn: &tc.conn,
                    awaiting_session: tc.listener.filter(|_| tc.awaiting_session),
                },
                None => return Action::Deliver { conn: c },
            },
            None => match listener() {
                Some((id, rx_fifo_size, options, path_mtu)) => {
                    let mut opts = conn_options(rx_fifo_size, &options);
                    opts.mss = path_mss(self.endpoint.config().mss, seg.tuple.remote, opts.mss, path_mtu);
                    Demux::Listener { id, opts }
                }
                None => Demux::Nothing,
            },
        };
        self.endpoint.input(now, &seg.repr, seg.tuple.local, seg.tuple.remote, payload_len, to)
    }

    /// Feeds a segment to connection `c` and drives it.
    pub fn input<P: PayloadIn + ?Sized>(&mut self, cx: &mut TransportCx<'_, S>, c: u32, seg: &TcpInput, payload: &P) {
        let now = cx.io.now_ns();
        let Some(tc) = self.conns.get_mut(c) else { return };
        if let Some(t) = tc.tls.as_deref() {
            tc.conn.input_parts(now, &seg.repr, payload, &t.crx.producer(), &t.ctx.consumer());
            return self.drive(cx, c);
        }
        match tc.session {
            DETACHED => {
                self.idle_rx.reset();
                let (rx, tx) = (self.idle_rx.producer(), self.idle_tx.consumer());
                tc.conn.input_parts(now, &seg.repr, payload, &rx, &tx);
            }
            s => {
                let Some(f) = cx.sessions.get(s).and_then(|s| s.fifos.as_ref()) else { return };
                tc.conn.input_parts(now, &seg.repr, payload, &*f.rx, &*f.tx);
            }
        }
        self.drive(cx, c);
    }

    /// Passive open ([`Action::Accept`]): a half-open connection for a SYN
    /// on `listener`, with ISN `iss`; it gets its session later
    /// ([`Action::SessionThenDeliver`]).
    pub fn accept(&mut self, cx: &mut TransportCx<'_, S>, listener: u32, iss: u32, seg: &TcpInput, opts: ConnOptions) {
        let now = cx.io.now_ns();
        let cfg = self.endpoint.config();
        let conn = Connection::accept(cfg, &seg.repr, seg.tuple.local, seg.tuple.remote, iss, opts, now);
        if let Some(c) = self.insert(cx, conn, DETACHED, Some(listener), true, seg.tuple) {
            if let Some(tc) = self.conns.get_mut(c) {
                tc.awaiting_session = true;
            }
            self.drive(cx, c);
        }
    }

    /// Attaches session `session` (with fifos) to connection `c`.
    pub fn give_session(&mut self, cx: &mut TransportCx<'_, S>, c: u32, session: u32) {
        if let Some(tc) = self.conns.get_mut(c) {
            tc.session = session;
            tc.awaiting_session = false;
            if let Some(s) = cx.sessions.get_mut(session) {
                s.conn = c;
            }
        }
    }

    /// Sends a segment that belongs to no connection ([`Action::Reset`], [`Action::SendCookie`]).
    pub fn send_segment(&mut self, io: &mut S, net: &NetTables, repr: &TcpRepr, seg: &TcpInput) {
        send_bare(io, net, repr, seg.tuple);
    }

    /// A good cookie ACK ([`Action::CookieAccept`]): the connection it
    /// stands for, with the listener's `opts` (MSS cap, congestion control,
    /// Nagle, keepalive) as a half-open connection would have had, on
    /// `session`, which the caller made, with `tls` over it if given. False if none was made.
    #[allow(clippy::too_many_arguments)]
    pub fn accept_cookie<P: PayloadIn + ?Sized>(
        &mut self,
        cx: &mut TransportCx<'_, S>,
        session: u32,
        listener: u32,
        seg: &TcpInput,
        payload: &P,
        opts: ConnOptions,
        tls: Option<TlsConn>,
    ) -> bool {
        let now = cx.io.now_ns();
        let Some(s) = cx.sessions.get(session) else { return false };
        let opts = ConnOptions { rx_fifo_size: s.rx().capacity() as u32, ..opts };
        let (local, remote) = (seg.tuple.local, seg.tuple.remote);
        let Some(conn) = self.endpoint.connection_from_cookie(now, &seg.repr, local, remote, opts) else {
            return false;
        };
        match self.insert(cx, conn, session, Some(listener), false, seg.tuple) {
            Some(c) => {
                if let Some(t) = tls {
                    self.set_tls(c, t);
                }
                // The handshake's last ACK may carry data.
                self.input(cx, c, seg, payload);
                true
            }
            None => false,
        }
    }

    fn insert(
        &mut self,
        cx: &mut TransportCx<'_, S>,
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
            tls: None,
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
            if let Some(l) = tc.listener {
                self.endpoint.half_open_done(l);
            }
        }
        tc.conn.flush_counters(&mut self.counters);
        Some(tc)
    }

    /// Sends what connection `c` wants to send, turns its events into
    /// session events, and re-arms its timer.
    fn drive(&mut self, cx: &mut TransportCx<'_, S>, c: u32) {
        let now = cx.io.now_ns();
        self.transmit(cx, c);
        let Some(tc) = self.conns.get_mut(c) else { return };
        let closed = if tc.tls.is_some() { self.tls_events(cx, c) } else { self.plain_events(cx, c) };
        self.drive_tail(cx, c, now, closed);
    }

    /// Connection `c`'s events as its session's (plain TCP); returns whether it closed.
    fn plain_events(&mut self, cx: &mut TransportCx<'_, S>, c: u32) -> bool {
        let Some(tc) = self.conns.get_mut(c) else { return false };
        let session = tc.session;
        let mut closed = false;
        while let Some(ev) = tc.conn.poll_event() {
            let kind = match ev {
                Event::Established => {
                    if tc.half_open {
                        tc.half_open = false;
                        if let Some(l) = tc.listener {
                            self.endpoint.half_open_done(l);
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
        closed
    }

    /// Layers TLS over connection `c` (just made by a connect, or given its
    /// session by an accept): from now on it runs on `tls`'s fifos.
    pub fn set_tls(&mut self, c: u32, tls: TlsConn) {
        if self.tls_scratch.is_empty() {
            self.tls_scratch = vec![0; crate::tls::MAX_RECORD];
        }
        if let Some(tc) = self.conns.get_mut(c) {
            tc.tls = Some(Box::new(tls));
        }
    }

    /// Runs connection `c`'s TLS engine between its ciphertext fifos and its
    /// session's fifos, and tells the TCP connection what moved.
    fn tls_pump(&mut self, cx: &mut TransportCx<'_, S>, c: u32) -> crate::tls::Pumped {
        let now = cx.io.now_ns();
        let Some(tc) = self.conns.get_mut(c) else { return Default::default() };
        let Some(tls) = tc.tls.as_deref_mut() else { return Default::default() };
        let p = match cx.sessions.get(tc.session).and_then(|s| s.fifos.as_ref()) {
            Some(f) if tc.session != DETACHED => tls.pump(&f.rx, &f.tx, &mut self.tls_scratch, &self.tls_counters),
            _ => {
                // No app any more: what the peer sends is dropped.
                tls.failed = true;
                let idle = self.idle_rx.producer();
                self.idle_rx.reset();
                tls.pump(&idle, &self.idle_tx.consumer(), &mut self.tls_scratch, &self.tls_counters)
            }
        };
        if p.cipher_in > 0 {
            tc.conn.app_rx(now, &tls.crx.producer());
        }
        if p.cipher_out > 0 {
            tc.conn.app_tx(now);
        }
        if let Some(s) = cx.sessions.get_mut(tc.session).filter(|_| tc.session != DETACHED) {
            s.rx_bytes += p.plain_in as u64;
        }
        p
    }

    /// Connection `c`'s events for a TLS connection: the TCP events drive
    /// the engine, and the session hears of what it did; returns whether
    /// the connection closed.
    fn tls_events(&mut self, cx: &mut TransportCx<'_, S>, c: u32) -> bool {
        let now = cx.io.now_ns();
        let Some(tc) = self.conns.get_mut(c) else { return false };
        let session = tc.session;
        let client = tc.listener.is_none();
        let (mut closed, mut peer_closed, mut reset, mut failed_connect) = (false, false, false, None);
        while let Some(ev) = tc.conn.poll_event() {
            match ev {
                Event::Established => {
                    if tc.half_open {
                        tc.half_open = false;
                        if let Some(l) = tc.listener {
                            self.endpoint.half_open_done(l);
                        }
                    }
                    // The TLS handshake's clock starts with the connection.
                    if let Some(t) = tc.tls.as_deref_mut() {
                        t.handshake_deadline.get_or_insert(now.saturating_add(self.tls_handshake_timeout_ns));
                    }
                }
                Event::RxData | Event::TxSpace => {}
                Event::PeerClosed => peer_closed = true,
                Event::Reset | Event::TimedOut => reset = true,
                Event::ConnectFailed(e) => {
                    failed_connect = Some(match e {
                        tcp::connection::ConnectError::Refused => ConnectError::Refused,
                        tcp::connection::ConnectError::Timeout => ConnectError::Timeout,
                    })
                }
                Event::Closed => closed = true,
            }
        }
        if let Some(e) = failed_connect {
            if session != DETACHED {
                cx.event(session, EventKind::ConnectFailed(e));
            }
            return closed;
        }
        if closed && session == DETACHED {
            return true;
        }
        let p = self.tls_pump(cx, c);
        let Some(tc) = self.conns.get_mut(c) else { return closed };
        let Some(tls) = tc.tls.as_deref_mut() else { return closed };
        if session != DETACHED {
            let dead = reset || closed || peer_closed;
            let late = !tls.established && tls.handshake_deadline.is_some_and(|d| now >= d);
            let why = p
                .failed
                .or_else(|| (!tls.established && dead).then_some(TlsCounter::FailPeerClosed))
                .or_else(|| late.then_some(TlsCounter::FailTimeout));
            if let Some(why) = why {
                if p.failed.is_none() {
                    self.tls_counters.inc(why);
                }
                // The handshake (or a record) failed: the alert goes out, then
                // the FIN; the session goes now (an app that never saw it is
                // not told; a client hears its connect failed).
                tls.failed = true;
                let crx = tls.crx.consumer();
                crx.dequeue_drop(crx.max_dequeue());
                if !reset && !closed {
                    tc.conn.close(now, &tls.crx.producer());
                }
                tc.session = DETACHED;
                cx.event(
                    session,
                    if client && !tls.established {
                        EventKind::ConnectFailed(ConnectError::Tls)
                    } else {
                        EventKind::TransportClosed
                    },
                );
                self.transmit(cx, c);
                return closed;
            }
            if p.handshake_done {
                cx.event(session, if client { EventKind::Connected } else { EventKind::Accepted });
            }
            if p.plain_in > 0 && cx.sessions.get(session).is_some_and(|s| s.rx().set_event()) {
                cx.event(session, EventKind::Rx);
            }
            if p.plain_out > 0 && cx.sessions.get(session).is_some_and(|s| s.want_tx_event) {
                cx.event(session, EventKind::TxSpace);
            }
            if reset {
                cx.event(session, EventKind::Reset);
            } else if (peer_closed || tls.peer_close_notify) && !tls.peer_closed_told {
                tls.peer_closed_told = true;
                cx.event(session, EventKind::Disconnected);
            }
        }
        let mut fin = false;
        if tls.close_sent && tls.app_closing && !tls.tcp_closed && !closed && !reset {
            // close_notify is queued after the app's last data: the FIN follows it.
            tls.tcp_closed = true;
            fin = true;
            let crx = tls.crx.consumer();
            crx.dequeue_drop(crx.max_dequeue());
            tc.conn.close(now, &tls.crx.producer());
        } else if tls.close_sent && !tls.app_closing && !tls.tcp_shut && !closed && !reset {
            // shutdown_write: the FIN follows close_notify; records are still read.
            tls.tcp_shut = true;
            fin = true;
            tc.conn.shutdown_write(now);
        }
        if p.cipher_out > 0 || fin {
            self.transmit(cx, c);
        }
        closed
    }

    /// After the events: a closed connection goes, one in TIME-WAIT lets its session go, the timer follows the deadline.
    fn drive_tail(&mut self, cx: &mut TransportCx<'_, S>, c: u32, now: u64, closed: bool) {
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
        let mut deadline = tc.conn.poll_timeout();
        // Only a deadline still ahead: one that passed has failed the handshake (in tls_events).
        let hs = tc.tls.as_deref().filter(|t| !t.established && !t.failed).and_then(|t| t.handshake_deadline);
        if let Some(d) = hs.filter(|&d| d > now) {
            deadline = Some(deadline.map_or(d, |x| x.min(d)));
        }
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

    /// A path MTU report: for a TCP packet of one of our connections, the
    /// connection checks the quoted sequence number and lowers its MSS
    /// ([`Connection::on_packet_too_big`]); what is in flight goes again in
    /// the new size. Reports for other protocols are not TCP's.
    fn on_pmtu(&mut self, cx: &mut TransportCx<'_, S>, r: &PmtuReport) {
        if r.protocol != 6 {
            return;
        }
        let b = &r.l4;
        let (sport, dport) = (u16::from_be_bytes([b[0], b[1]]), u16::from_be_bytes([b[2], b[3]]));
        let seq = wire_tcp::SeqNumber(u32::from_be_bytes([b[4], b[5], b[6], b[7]]));
        let tuple = Tuple { local: SocketAddr::new(r.src, sport), remote: SocketAddr::new(r.dst, dport) };
        let Some(&c) = self.by_tuple.get(&tuple) else {
            return self.counters.incr(Counter::PmtuRefused);
        };
        let Some(tc) = self.conns.get_mut(c) else { return };
        let (ip_header, floor) = match r.src {
            IpAddr::V4(_) => (ipv4::HEADER_LEN as u32, MSS_FLOOR_V4),
            IpAddr::V6(_) => (wire::ipv6::HEADER_LEN as u32, MSS_FLOOR_V6),
        };
        let verdict = tc.conn.on_packet_too_big(seq, r.mtu, ip_header, floor);
        tc.conn.flush_counters(&mut self.counters);
        if matches!(verdict, PmtuVerdict::Lowered(_)) {
            self.drive(cx, c);
        }
    }

    /// Builds and sends every segment connection `c` has ready.
    fn transmit(&mut self, cx: &mut TransportCx<'_, S>, c: u32) {
        let now = cx.io.now_ns();
        let Some(tc) = self.conns.get(c) else { return };
        // Routed once for all the segments sent here.
        let path = cx.io.tx_path(cx.net, tc.tuple.local.ip(), tc.tuple.remote.ip());
        // Large segments (TSO/GSO) where the route's interface cuts them;
        // TLS records are sized per MSS, so TLS stays at one MSS.
        let large_max = match (tc.tls.is_none(), tc.tuple.local.ip(), tc.tuple.remote.ip()) {
            (true, IpAddr::V4(_), IpAddr::V4(r)) => cx.io.tcp_large_max(cx.net, r),
            _ => 0,
        };
        loop {
            let Some(tc) = self.conns.get_mut(c) else { return };
            if !cx.io.tx_ready_path(&path) {
                // The ring is full: the data waits in the tx fifo and the
                // connection is driven again on the next loop.
                self.block(c);
                return;
            }
            let mss = tc.conn.mss();
            let want_large = large_max as usize > mss;
            let large = if want_large { self.spare_large.take().or_else(|| cx.io.alloc_tx_large()) } else { None };
            let is_large = large.is_some();
            let Some(mut m) = large.or_else(|| self.spare.take()).or_else(|| cx.io.alloc_tx()) else {
                // No buffers: the same, until the pool has some again.
                self.block(c);
                return;
            };
            let room = if is_large { large_max as usize } else { mss };
            tc.conn.set_large_max(if is_large { large_max } else { 0 });
            m.reset();
            let mut room = room;
            if !is_large {
                if self.buf_room == 0 {
                    // (Every fresh buffer of the small pool has the same room.)
                    self.buf_room = m.tailroom();
                }
                if self.buf_room < HEADROOM + mss {
                    if tc.tuple.remote.is_ipv4() {
                        // A segment longer than one buffer (jumbo MTU): a chain.
                        match self.transmit_chained(cx, c, m, mss, now) {
                            Some(()) => continue,
                            None => return,
                        }
                    }
                    // IPv6 output takes no chains: segments whose whole frame
                    // (Ethernet, IPv6, the longest TCP header) one buffer holds,
                    // here and at a peer with the same buffers (the connection
                    // sizes them to the room given).
                    const FRAME_HEADERS6: usize = 14 + wire::ipv6::HEADER_LEN + wire_tcp::MAX_HEADER_LEN;
                    room = self.buf_room.saturating_sub(HEADROOM).min(self.buf_room.saturating_sub(FRAME_HEADERS6));
                }
            }
            let Some(buf) = m.append(HEADROOM + room) else {
                cx.io.counters().inc(NodeCounter::MbufAllocFailed);
                self.block(c);
                return;
            };
            let t = if let Some(tls) = tc.tls.as_deref() {
                tc.conn.poll_transmit(now, &tls.ctx.consumer(), &mut buf[HEADROOM..])
            } else if tc.session == DETACHED {
                let tx = self.idle_tx.consumer();
                tc.conn.poll_transmit(now, &tx, &mut buf[HEADROOM..])
            } else {
                let Some(f) = cx.sessions.get(tc.session).and_then(|s| s.fifos.as_ref()) else {
                    self.keep_spare(m, is_large);
                    return;
                };
                tc.conn.poll_transmit(now, &*f.tx, &mut buf[HEADROOM..])
            };
            let Some(t) = t else {
                self.keep_spare(m, is_large);
                return;
            };
            let hl = t.repr.header_len();
            let l4_at = HEADROOM - hl;
            t.repr.emit(&mut wire_tcp::Packet::new_unchecked(&mut buf[l4_at..]));
            // Drop the unused room and tail: the buffer starts at the TCP
            // header; the seam adds the IPv4 header in front.
            m.adj(l4_at);
            m.trim(room - t.payload_len);
            if let Some(s) = cx.sessions.get_mut(tc.session) {
                s.tx_bytes += t.payload_len as u64;
            }
            if t.payload_len > mss {
                if let (IpAddr::V4(l), IpAddr::V4(r)) = (tc.tuple.local.ip(), tc.tuple.remote.ip()) {
                    let seg = tc.conn.seg_payload().min(u32::from(u16::MAX)) as u16;
                    cx.io.ip4_output_large(cx.net, m, l, r, seg);
                    continue;
                }
            }
            cx.io.output_l4(cx.net, m, &path, Protocol::Tcp);
        }
    }

    /// One segment of [`Self::transmit`] into a chain of buffers (`m` and
    /// as many more as `mss` needs): the payload is written from the fifo
    /// into each segment in turn. `None` when nothing more is to be sent
    /// now (no data, or no buffers: then the connection is blocked).
    #[cold]
    #[inline(never)]
    fn transmit_chained(
        &mut self,
        cx: &mut TransportCx<'_, S>,
        c: u32,
        mut m: S::Buf,
        mss: usize,
        now: u64,
    ) -> Option<()> {
        let tc = self.conns.get_mut(c)?;
        let first = m.tailroom();
        if first < HEADROOM {
            cx.io.counters().inc(NodeCounter::MbufAllocFailed);
            return None;
        }
        let mut need = (HEADROOM + mss).saturating_sub(first);
        m.append(first)?;
        while need > 0 {
            let chained = cx.io.alloc_tx().and_then(|mut seg| {
                seg.reset();
                let n = seg.tailroom().min(need);
                seg.append(n)?;
                need -= n;
                m.chain(seg).ok()
            });
            if chained.is_none() || usize::from(m.segments()) > net::l3::MAX_CHAIN_SEGMENTS {
                cx.io.counters().inc(NodeCounter::MbufAllocFailed);
                m.truncate(0);
                self.spare = Some(m);
                self.block(c);
                return None;
            }
        }
        let t = {
            let mut segs = m.segments_mut();
            let head = segs.next().map(|h| &mut h[HEADROOM..]);
            let mut out = PayloadMut::from_parts(head.into_iter().chain(segs))?;
            if let Some(tls) = tc.tls.as_deref() {
                tc.conn.poll_transmit_parts(now, &tls.ctx.consumer(), &mut out)
            } else if tc.session == DETACHED {
                let tx = self.idle_tx.consumer();
                tc.conn.poll_transmit_parts(now, &tx, &mut out)
            } else {
                let f = cx.sessions.get(tc.session).and_then(|s| s.fifos.as_ref());
                f.and_then(|f| tc.conn.poll_transmit_parts(now, &*f.tx, &mut out))
            }
        };
        let Some(t) = t else {
            m.truncate(0);
            self.spare = Some(m);
            return None;
        };
        let hl = t.repr.header_len();
        let l4_at = HEADROOM - hl;
        t.repr.emit(&mut wire_tcp::Packet::new_unchecked(&mut m.data_mut()[l4_at..]));
        m.adj(l4_at);
        m.truncate(hl + t.payload_len);
        if let Some(s) = cx.sessions.get_mut(tc.session) {
            s.tx_bytes += t.payload_len as u64;
        }
        l4_output(cx.io, cx.net, m, tc.tuple);
        Some(())
    }

    /// Keep an unused tx buffer for the next segment (large ones apart).
    #[inline]
    fn keep_spare(&mut self, m: S::Buf, large: bool) {
        if large {
            self.spare_large = Some(m);
        } else {
            self.spare = Some(m);
        }
    }

    /// Connection `c` has segments to send but no ring space or buffers:
    /// [`Transport::poll`] drives it again on the next loop.
    fn block(&mut self, c: u32) {
        let g = self.conns.handle(c).map_or(0, |h| h.generation);
        if !self.blocked.contains(&(c, g)) {
            self.blocked.push((c, g));
        }
    }

    fn session_of(&self, cx: &TransportCx<'_, S>, session: u32) -> Option<u32> {
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

/// The MTU a connection's MSS is derived from when its route's is unknown.
const FALLBACK_MTU: u16 = 1500;

/// The MSS cap of a connection to `remote` whose route leaves by an
/// interface of IP MTU `path_mtu`: MTU − 40 over IPv4, MTU − 60 over IPv6
/// (both ends do this, so each advertises what its own link carries), and
/// no more than the app's `mss`. Over IPv6 the configured MSS (an IPv4
/// figure) also loses the 20 bytes the longer header takes.
fn path_mss(cfg_mss: u16, remote: SocketAddr, mss: Option<u16>, path_mtu: Option<u16>) -> Option<u16> {
    let mtu = path_mtu.unwrap_or(FALLBACK_MTU);
    let cap = match remote {
        SocketAddr::V4(_) => mtu.saturating_sub(40),
        SocketAddr::V6(_) => mtu.saturating_sub(60).min(cfg_mss.saturating_sub(20)),
    };
    Some(mss.map_or(cap, |m| m.min(cap)))
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

impl<S: Seam> TcpTransport<S> {
    /// Worker-wide counters (connections' included).
    pub fn counters(&mut self) -> Counters {
        self.endpoint.flush_counters(&mut self.counters);
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
fn send_bare<S: Seam>(io: &mut S, net: &NetTables, repr: &TcpRepr, tuple: Tuple) {
    let Some(mut m) = io.alloc_tx() else { return };
    let Some(buf) = m.append(repr.header_len()) else {
        return io.counters().inc(NodeCounter::MbufAllocFailed);
    };
    repr.emit(&mut wire_tcp::Packet::new_unchecked(buf));
    l4_output(io, net, m, tuple);
}

/// A segment to the IP layer of its tuple's family.
#[inline]
fn l4_output<S: Seam>(io: &mut S, net: &NetTables, m: S::Buf, tuple: Tuple) {
    match (tuple.local.ip(), tuple.remote.ip()) {
        (IpAddr::V4(l), IpAddr::V4(r)) => io.ip4_output_l4(net, m, l, r, Protocol::Tcp),
        (IpAddr::V6(l), IpAddr::V6(r)) => io.ip6_output_l4(net, m, l, r, Protocol::Tcp),
        // A tuple is of one family (parse and connect see to it).
        _ => drop(m),
    }
}

impl<S: Seam> Transport<S> for TcpTransport<S> {
    fn proto(&self) -> TransportProto {
        TransportProto::Tcp
    }

    fn connect(
        &mut self,
        cx: &mut TransportCx<'_, S>,
        session: u32,
        local: SocketAddr,
        req: &ConnectRequest,
    ) -> Result<u32, SessionError> {
        let now = cx.io.now_ns();
        let remote = SocketAddr::new(req.remote.ip, req.remote.port);
        if local.is_ipv4() != remote.is_ipv4() {
            return Err(SessionError::invalid("uri", "local and remote addresses of different families"));
        }
        let port = match local.port() {
            0 => {
                let (by_tuple, conns, now, ip) = (&self.by_tuple, &self.conns, now, local.ip());
                // Free, or a TIME-WAIT connection a new one may take over.
                let free = |p| {
                    by_tuple
                        .get(&Tuple { local: SocketAddr::new(ip, p), remote })
                        .is_none_or(|&c| conns.get(c).is_some_and(|tc| tc_reusable(tc, now)))
                };
                self.ports
                    .pick(cx.io, cx.net, Protocol::Tcp, ip, remote, free)
                    .ok_or(SessionError::TooMany("tcp local ports"))?
            }
            p => p,
        };
        let local = SocketAddr::new(local.ip(), port);
        let rx_size = cx.sessions.get(session).map_or(65536, |s| s.rx().capacity() as u32);
        let mut opts = conn_options(rx_size, &req.options);
        opts.mss = path_mss(self.endpoint.config().mss, remote, opts.mss, cx.io.path_mtu(cx.net, remote.ip()));
        let iss = self.endpoint.iss(now, local, remote);
        let conn = Connection::connect(self.endpoint.config(), local, remote, iss, opts, now);
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

    fn push_tx(&mut self, cx: &mut TransportCx<'_, S>, session: u32) -> usize {
        let Some(c) = self.session_of(cx, session) else { return 0 };
        let now = cx.io.now_ns();
        if let Some(tc) = self.conns.get_mut(c).filter(|tc| tc.tls.is_none()) {
            tc.conn.app_tx(now);
        }
        self.drive(cx, c);
        1
    }

    /// The tx fifo holds what is sent but not yet acknowledged; the
    /// connection sends more on its own (ACKs, timers, and `blocked` for a
    /// full ring or an empty pool).
    fn retry_tx_while_fifo_has_data(&self) -> bool {
        false
    }

    fn app_rx(&mut self, cx: &mut TransportCx<'_, S>, session: u32) {
        let Some(c) = self.session_of(cx, session) else { return };
        let now = cx.io.now_ns();
        let Some(f) = cx.sessions.get(session).and_then(|s| s.fifos.as_ref()) else { return };
        if let Some(tc) = self.conns.get_mut(c).filter(|tc| tc.tls.is_none()) {
            tc.conn.app_rx(now, &*f.rx);
        }
        // TLS: the engine decrypts into the room the app made (in drive).
        self.drive(cx, c);
    }

    fn close(&mut self, cx: &mut TransportCx<'_, S>, session: u32) {
        let Some(c) = self.session_of(cx, session) else {
            // Already gone (e.g. the connection finished on its own).
            cx.event(session, EventKind::TransportClosed);
            return;
        };
        let now = cx.io.now_ns();
        let Some(f) = cx.sessions.get(session).and_then(|s| s.fifos.as_ref()) else { return };
        if let Some(tc) = self.conns.get_mut(c) {
            match tc.tls.as_deref_mut() {
                // close_notify follows the app's last data, then the FIN (in drive).
                Some(tls) => tls.app_closing = true,
                None => tc.conn.close(now, &*f.rx),
            }
        }
        self.drive(cx, c);
    }

    fn shutdown_write(&mut self, cx: &mut TransportCx<'_, S>, session: u32) {
        let Some(c) = self.session_of(cx, session) else { return };
        let now = cx.io.now_ns();
        if let Some(tc) = self.conns.get_mut(c) {
            match tc.tls.as_deref_mut() {
                // close_notify after the app's last data, then the FIN; reading goes on (in drive).
                Some(tls) => tls.app_shut = true,
                // The FIN follows what is queued in the tx fifo.
                None => tc.conn.shutdown_write(now),
            }
        }
        self.drive(cx, c);
    }

    fn abort(&mut self, cx: &mut TransportCx<'_, S>, session: u32) {
        let Some(c) = self.session_of(cx, session) else { return };
        if let Some(tc) = self.conns.get_mut(c) {
            tc.conn.abort();
        }
        // Send the RST, then forget the connection without raising anything.
        self.transmit(cx, c);
        self.remove(c);
    }

    fn poll(&mut self, cx: &mut TransportCx<'_, S>) -> usize {
        let now = cx.io.now_ns();
        let mut n = 0;
        while let Some(r) = cx.io.pop_pmtu() {
            self.on_pmtu(cx, &r);
            n += 1;
        }
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
            Some(tc) => match tc.tls.as_deref() {
                Some(t) => {
                    let (version, cipher, alpn) = t.describe();
                    ConnSnapshot::Tls {
                        local: tc.tuple.local,
                        remote: tc.tuple.remote,
                        stats: tc.conn.stats(),
                        version,
                        cipher,
                        alpn,
                        server: t.is_server(),
                    }
                }
                None => ConnSnapshot::Tcp { local: tc.tuple.local, remote: tc.tuple.remote, stats: tc.conn.stats() },
            },
            None => ConnSnapshot::Closed { proto: TransportProto::Tcp },
        }
    }

    fn connections(&self) -> usize {
        self.conns.len()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn the_mss_follows_the_route_mtu_and_the_family_within_the_caps() {
        let v4: SocketAddr = "198.18.1.2:7".parse().unwrap();
        let v6: SocketAddr = "[fd00::2]:7".parse().unwrap();
        // Jumbo: MTU - 40 / MTU - 60 (the node's config leaves the cap at MSS_MAX).
        assert_eq!(path_mss(tcp::MSS_MAX, v4, None, Some(9000)), Some(8960));
        assert_eq!(path_mss(tcp::MSS_MAX, v6, None, Some(9000)), Some(8940));
        // Ethernet, and an unknown MTU taken as Ethernet's.
        assert_eq!(path_mss(tcp::MSS_MAX, v4, None, Some(1500)), Some(1460));
        assert_eq!(path_mss(tcp::MSS_MAX, v4, None, None), Some(1460));
        assert_eq!(path_mss(1460, v6, None, None), Some(1440));
        // The app's MSS and a configured one lower it, never raise it.
        assert_eq!(path_mss(tcp::MSS_MAX, v4, Some(1200), Some(9000)), Some(1200));
        assert_eq!(path_mss(tcp::MSS_MAX, v4, Some(9000), Some(1500)), Some(1460));
        assert_eq!(path_mss(1400, v6, None, Some(9000)), Some(1380));
    }
}
