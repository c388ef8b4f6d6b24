//! One worker's QUIC: engine endpoints, connections and streams, driven
//! from the worker's UDP input, its app calls and its timer wheel.
//!
//! Driving a connection ([`QuicTransport::drive`]) hands the engine's
//! endpoint events to its endpoint, turns the engine's events into session
//! events, moves stream bytes between the engine and the stream sessions'
//! fifos (reading only what the rx fifo has room for), opens the streams
//! the app asked for as stream credit allows, sends what the engine has to
//! send and re-arms the connection's one timer. Datagram input only feeds
//! the engine and marks the connection; marked connections are driven once
//! in the transport's poll, so one rx burst is answered in one go.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use net::device::PacketBuf;
use net::l3::counters::Counter;
use net::seam::Seam;
use quinn_proto::{
    ConnectionError, ConnectionHandle, DatagramEvent, Dir, Endpoint, EndpointConfig, Event, ReadError, ServerConfig,
    StreamEvent, StreamId, TransportErrorCode, VarInt,
};
use shm::types::TransportProto;
use tcp::timer_wheel::{TimerHandle, TimerWheel};
use wire::ipv4::Protocol;
use wire::udp;

use crate::error::SessionError;
use crate::pool::Pool;
use crate::snapshot::ConnSnapshot;
use crate::transport::{ConnectError, ConnectRequest, EventKind, PortPicker, Transport, TransportCx};
use crate::udp::{Tuple, TupleMap};

use super::{QuicClient, QuicCounter, QuicCounters, QuicServer};

/// Set in a stream session's `conn`: the rest is the stream's index, not a connection's.
pub const STREAM_BIT: u32 = 1 << 31;
/// No session (yet, or any more).
const NONE: u32 = u32::MAX;
/// The timer wheel's tick.
const TICK_NS: u64 = 1_000_000;
/// Datagrams one drive sends before the connection waits for the next poll.
const TX_PER_DRIVE: usize = 256;
/// Application error code of a stream reset or stop when its session is aborted.
const ABORTED: u32 = 1;

struct QuicConn {
    conn: quinn_proto::Connection,
    ep: usize,
    ch: ConnectionHandle,
    /// The connection session; [`NONE`] before a listener's session is made or after its app closed.
    session: u32,
    tuple: Tuple,
    streams: Vec<u32>,
    /// Streams the app opened that wait for stream credit.
    pending: VecDeque<u32>,
    timer: Option<(u64, TimerHandle)>,
    generation: u32,
    dirty: bool,
    established: bool,
    lost: bool,
    server: bool,
}

struct QuicStream {
    conn: u32,
    /// `None` while it waits for stream credit.
    id: Option<StreamId>,
    session: u32,
    app_closed: bool,
    fin_sent: bool,
    peer_fin: bool,
}

struct Ep {
    endpoint: Endpoint,
    /// The listener (and configuration) whose new peers it takes; `None`: the client endpoint.
    listener: Option<(u32, Arc<ServerConfig>)>,
}

/// What [`QuicTransport::input`] did with a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuicInput {
    /// An existing connection took it.
    Conn,
    /// It made connection `0` (server side): it needs a session.
    New(u32),
    /// Not for any connection (counted).
    Dropped,
}

/// A worker's QUIC endpoints, connections and streams.
pub struct QuicTransport {
    eps: Vec<Ep>,
    base: Instant,
    conns: Pool<QuicConn>,
    by_handle: TupleMap<(usize, usize), u32>,
    by_tuple: TupleMap<Tuple, u32>,
    streams: Pool<QuicStream>,
    wheel: TimerWheel<(u32, u32)>,
    dirty: Vec<u32>,
    /// Streams the peer opened that need a session (the worker makes them after [`Transport::poll`]).
    pub(crate) new_streams: Vec<u32>,
    ports: PortPicker,
    buf: Vec<u8>,
    scratch: Vec<u8>,
    /// This worker's QUIC counters (the CLI reads them through [`crate::worker::SessionStats`]).
    pub counters: Arc<QuicCounters>,
}

fn new_endpoint(server: Option<Arc<ServerConfig>>) -> Endpoint {
    Endpoint::new(Arc::new(EndpointConfig::default()), server, false, None)
}

/// Sends one UDP datagram from `src` to `dst` through the node's IP output.
fn send_datagram<S: Seam>(
    cx: &mut TransportCx<'_, S>,
    counters: &QuicCounters,
    src: SocketAddr,
    dst: SocketAddr,
    data: &[u8],
) -> bool {
    let Some(mut m) = cx.io.alloc_tx() else { return false };
    let hl = udp::HEADER_LEN;
    let Some(buf) = m.append(hl + data.len()) else {
        cx.io.counters().inc(Counter::MbufAllocFailed);
        return false;
    };
    buf[hl..].copy_from_slice(data);
    let u = udp::Repr { src_port: src.port(), dst_port: dst.port(), payload_len: data.len() };
    // The IP header and the checksum are the seam's (offloaded when the NIC can).
    u.emit(&mut udp::Packet::new_unchecked(&mut buf[..]));
    counters.inc(QuicCounter::TxDatagrams);
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => cx.io.ip4_output_l4(cx.net, m, s, d, Protocol::Udp),
        (IpAddr::V6(s), IpAddr::V6(d)) => cx.io.ip6_output_l4(cx.net, m, s, d, Protocol::Udp),
        _ => drop(m),
    }
    true
}

/// The counter for a connection that was lost for `reason`.
fn loss_reason(reason: &ConnectionError) -> QuicCounter {
    let by_code = |code: TransportErrorCode| {
        let v = u64::from(code);
        if code == TransportErrorCode::STREAM_LIMIT_ERROR {
            QuicCounter::FailStreamLimit
        } else if (0x100..0x200).contains(&v) {
            QuicCounter::FailTls
        } else if code == TransportErrorCode::NO_ERROR {
            QuicCounter::ClosedByPeer
        } else {
            QuicCounter::FailProtocol
        }
    };
    match reason {
        ConnectionError::TransportError(e) => by_code(e.code),
        ConnectionError::ConnectionClosed(c) => by_code(c.error_code),
        ConnectionError::ApplicationClosed(_) => QuicCounter::ClosedByPeer,
        ConnectionError::Reset => QuicCounter::ResetByPeer,
        ConnectionError::TimedOut => QuicCounter::FailTimeout,
        ConnectionError::LocallyClosed => QuicCounter::ClosedLocally,
        ConnectionError::VersionMismatch => QuicCounter::FailVersion,
        ConnectionError::CidsExhausted => QuicCounter::ConnRefused,
    }
}

impl QuicTransport {
    /// The transport of worker `worker` of `workers`, its clock starting at `now_ns`.
    pub fn new(worker: u32, workers: u32, now_ns: u64) -> Self {
        QuicTransport {
            eps: vec![Ep { endpoint: new_endpoint(None), listener: None }],
            base: Instant::now(),
            conns: Pool::new("quic connections"),
            by_handle: TupleMap::default(),
            by_tuple: TupleMap::default(),
            streams: Pool::new("quic streams"),
            wheel: TimerWheel::new(TICK_NS, now_ns),
            dirty: Vec::with_capacity(64),
            new_streams: Vec::with_capacity(16),
            ports: PortPicker::new(worker, workers),
            buf: Vec::with_capacity(64 << 10),
            scratch: vec![0; 64 << 10],
            counters: Arc::default(),
        }
    }

    fn at(&self, ns: u64) -> Instant {
        self.base + Duration::from_nanos(ns)
    }

    /// Whether `tuple` is one of our connections' (its datagrams are ours, not a UDP session's).
    #[inline]
    pub fn claims(&self, tuple: &Tuple) -> bool {
        !self.by_tuple.is_empty() && self.by_tuple.contains_key(tuple)
    }

    /// Whether any UDP connect may use `tuple` (no QUIC connection has it).
    pub fn tuple_free(&self, tuple: &Tuple) -> bool {
        !self.by_tuple.contains_key(tuple)
    }

    fn listener_ep(&mut self, listener: u32, server: &QuicServer) -> usize {
        let found = self
            .eps
            .iter()
            .position(|e| e.listener.as_ref().is_some_and(|(l, c)| *l == listener && Arc::ptr_eq(c, &server.0)));
        if let Some(i) = found {
            return i;
        }
        // A new listener (or one whose configuration changed) gets an endpoint
        // of its own; endpoints stay (connections name theirs by position).
        self.eps
            .push(Ep { endpoint: new_endpoint(Some(server.0.clone())), listener: Some((listener, server.0.clone())) });
        self.eps.len() - 1
    }

    fn mark(&mut self, c: u32) {
        if let Some(q) = self.conns.get_mut(c) {
            if !q.dirty {
                q.dirty = true;
                self.dirty.push(c);
            }
        }
    }

    /// A datagram for `tuple`: to its connection (by tuple, then the engine's
    /// connection IDs), or, from a new peer of a `quic://` listener
    /// (`listener`), perhaps a new connection. What the engine answers by
    /// itself (version negotiation, stateless reset, refusal) is sent.
    pub fn input<S: Seam>(
        &mut self,
        cx: &mut TransportCx<'_, S>,
        tuple: &Tuple,
        payload: &[u8],
        listener: Option<(u32, &QuicServer)>,
    ) -> QuicInput {
        self.counters.inc(QuicCounter::RxDatagrams);
        let now = self.at(cx.io.now_ns());
        let ep = match self.by_tuple.get(tuple) {
            Some(&c) => self.conns.get(c).map_or(0, |q| q.ep),
            None => match listener {
                Some((l, srv)) => self.listener_ep(l, srv),
                None => {
                    self.counters.inc(QuicCounter::RxDropped);
                    return QuicInput::Dropped;
                }
            },
        };
        // The engine keeps stream data as slices of the datagram: it takes a buffer of its own.
        let data = BytesMut::from(payload);
        self.buf.clear();
        let ev = self.eps[ep].endpoint.handle(now, tuple.remote, Some(tuple.local.ip()), None, data, &mut self.buf);
        match ev {
            None => {
                self.counters.inc(QuicCounter::RxDropped);
                QuicInput::Dropped
            }
            Some(DatagramEvent::Response(t)) => {
                self.counters.inc(QuicCounter::RxDropped);
                self.counters.inc(QuicCounter::StatelessSent);
                send_datagram(cx, &self.counters, tuple.local, t.destination, &self.buf[..t.size]);
                QuicInput::Dropped
            }
            Some(DatagramEvent::ConnectionEvent(ch, ce)) => match self.by_handle.get(&(ep, ch.0)).copied() {
                Some(c) => {
                    if let Some(q) = self.conns.get_mut(c) {
                        q.conn.handle_event(ce);
                    }
                    self.mark(c);
                    QuicInput::Conn
                }
                None => {
                    self.counters.inc(QuicCounter::RxDropped);
                    QuicInput::Dropped
                }
            },
            Some(DatagramEvent::NewConnection(incoming)) => {
                if listener.is_none() || self.by_tuple.contains_key(tuple) {
                    // A new connection on a tuple that has one: the old one must go first.
                    self.eps[ep].endpoint.ignore(incoming);
                    self.counters.inc(QuicCounter::RxDropped);
                    return QuicInput::Dropped;
                }
                match self.eps[ep].endpoint.accept(incoming, now, &mut self.buf, None) {
                    Ok((ch, conn)) => match self.add_conn(ep, ch, conn, NONE, *tuple, true) {
                        Ok(c) => {
                            self.mark(c);
                            QuicInput::New(c)
                        }
                        Err(_) => {
                            self.counters.inc(QuicCounter::ConnNoMemory);
                            QuicInput::Dropped
                        }
                    },
                    Err(e) => {
                        self.counters.inc(QuicCounter::ConnRefused);
                        if let Some(t) = e.response {
                            self.counters.inc(QuicCounter::StatelessSent);
                            send_datagram(cx, &self.counters, tuple.local, t.destination, &self.buf[..t.size]);
                        }
                        QuicInput::Dropped
                    }
                }
            }
        }
    }

    fn add_conn(
        &mut self,
        ep: usize,
        ch: ConnectionHandle,
        conn: quinn_proto::Connection,
        session: u32,
        tuple: Tuple,
        server: bool,
    ) -> Result<u32, SessionError> {
        let q = QuicConn {
            conn,
            ep,
            ch,
            session,
            tuple,
            streams: Vec::new(),
            pending: VecDeque::new(),
            timer: None,
            generation: 0,
            dirty: false,
            established: false,
            lost: false,
            server,
        };
        let h = self.conns.insert_with(|_| Ok(q))?;
        if let Some(q) = self.conns.get_mut(h.index) {
            q.generation = h.generation;
        }
        self.by_handle.insert((ep, ch.0), h.index);
        self.by_tuple.insert(tuple, h.index);
        Ok(h.index)
    }

    /// Gives new connection `c` (from [`QuicInput::New`]) its session `session`.
    pub fn bind_conn(&mut self, cx: &mut TransportCx<'_, impl Seam>, c: u32, session: u32) {
        if let Some(q) = self.conns.get_mut(c) {
            q.session = session;
        }
        if let Some(s) = cx.sessions.get_mut(session) {
            s.conn = c;
        }
    }

    /// New connection `c` gets no session (no memory): it is closed.
    pub fn refuse_conn<S: Seam>(&mut self, cx: &mut TransportCx<'_, S>, c: u32) {
        self.counters.inc(QuicCounter::ConnNoMemory);
        let now = self.at(cx.io.now_ns());
        if let Some(q) = self.conns.get_mut(c) {
            q.conn.close(now, VarInt::from_u32(0x2), Bytes::from_static(b"no memory"));
        }
        self.drive(cx, c);
    }

    /// Opens a connection to `remote` from `local_ip` for session `session`
    /// (a connect without a parent); `udp_free` tells whether the UDP
    /// transport leaves a tuple free. The session hears Connected when the
    /// handshake is done.
    pub fn connect<S: Seam>(
        &mut self,
        cx: &mut TransportCx<'_, S>,
        session: u32,
        local_ip: IpAddr,
        remote: SocketAddr,
        client: &QuicClient,
        udp_free: impl Fn(&Tuple) -> bool,
    ) -> Result<u32, SessionError> {
        if local_ip.is_ipv4() != remote.is_ipv4() {
            return Err(SessionError::invalid("uri", "local and remote addresses of different families"));
        }
        let by_tuple = &self.by_tuple;
        let free = |p| {
            let t = Tuple { local: SocketAddr::new(local_ip, p), remote };
            !by_tuple.contains_key(&t) && udp_free(&t)
        };
        let port = self
            .ports
            .pick(cx.io, cx.net, Protocol::Udp, local_ip, remote, free)
            .ok_or(SessionError::TooMany("udp local ports"))?;
        let tuple = Tuple { local: SocketAddr::new(local_ip, port), remote };
        let now = self.at(cx.io.now_ns());
        let (ch, conn) = self.eps[0]
            .endpoint
            .connect(now, client.config.clone(), remote, &client.server_name)
            .map_err(|e| SessionError::invalid("uri", format!("quic: {e}")))?;
        let c = self.add_conn(0, ch, conn, session, tuple, false)?;
        if let Some(s) = cx.sessions.get_mut(session) {
            s.local = tuple.local;
            s.conn = c;
        }
        self.drive(cx, c);
        Ok(c)
    }

    /// The connection of connection session `session`, if it is one and still open.
    pub fn conn_of_session(&self, session: u32, conn: u32) -> Option<u32> {
        if conn & STREAM_BIT != 0 {
            return None;
        }
        self.conns.get(conn).filter(|q| q.session == session && !q.lost).map(|_| conn)
    }

    /// Opens a bidirectional stream on connection `c` for stream session
    /// `session` (a connect with the connection as parent): at once if the
    /// peer's stream limit allows, else when it does; the session hears
    /// Connected then.
    pub fn open_stream<S: Seam>(
        &mut self,
        cx: &mut TransportCx<'_, S>,
        c: u32,
        session: u32,
    ) -> Result<u32, SessionError> {
        if self.conns.get(c).is_none_or(|q| q.lost) {
            return Err(SessionError::invalid("parent", "the quic connection is closed"));
        }
        let st = QuicStream { conn: c, id: None, session, app_closed: false, fin_sent: false, peer_fin: false };
        let st = self.streams.insert_with(|_| Ok(st))?.index;
        if let Some(q) = self.conns.get_mut(c) {
            q.streams.push(st);
            q.pending.push_back(st);
        }
        if let Some(s) = cx.sessions.get_mut(session) {
            s.conn = STREAM_BIT | st;
        }
        self.drive(cx, c);
        Ok(st)
    }

    /// The connection session, its connection index and whether it is the server's, of peer-opened stream `st`.
    pub fn stream_parent(&self, st: u32) -> Option<(u32, u32)> {
        let x = self.streams.get(st)?;
        let q = self.conns.get(x.conn)?;
        (q.session != NONE && x.session == NONE).then_some((q.session, x.conn))
    }

    /// Gives peer-opened stream `st` its session; data it already has is read at the next drive.
    pub fn bind_stream(&mut self, cx: &mut TransportCx<'_, impl Seam>, st: u32, session: u32) {
        let Some(x) = self.streams.get_mut(st) else { return };
        x.session = session;
        let c = x.conn;
        if let Some(s) = cx.sessions.get_mut(session) {
            s.conn = STREAM_BIT | st;
        }
        self.counters.inc(QuicCounter::StreamsAccepted);
        self.mark(c);
    }

    /// Peer-opened stream `st` gets no session: it is stopped and reset.
    pub fn refuse_stream(&mut self, st: u32) {
        self.counters.inc(QuicCounter::StreamsNoMemory);
        let Some(x) = self.streams.get(st) else { return };
        let (c, id) = (x.conn, x.id);
        if let (Some(q), Some(id)) = (self.conns.get_mut(c), id) {
            let _ = q.conn.recv_stream(id).stop(VarInt::from_u32(ABORTED));
            let _ = q.conn.send_stream(id).reset(VarInt::from_u32(ABORTED));
        }
        self.remove_stream(st);
        self.mark(c);
    }

    fn remove_stream(&mut self, st: u32) {
        if let Some(x) = self.streams.remove(st) {
            if let Some(q) = self.conns.get_mut(x.conn) {
                q.streams.retain(|&s| s != st);
                q.pending.retain(|&s| s != st);
            }
        }
    }

    /// The stream of stream session `session` (its `conn` is `conn`).
    fn stream_of(&self, session: u32, conn: u32) -> Option<u32> {
        let st = conn.checked_sub(STREAM_BIT)?;
        self.streams.get(st).filter(|x| x.session == session).map(|_| st)
    }

    /// Drives connection `c`; see the module doc. Returns how much it did.
    fn drive<S: Seam>(&mut self, cx: &mut TransportCx<'_, S>, c: u32) -> usize {
        let now_ns = cx.io.now_ns();
        let now = self.at(now_ns);
        let mut work = 0;
        for round in 0..2 {
            self.endpoint_events(c);
            while let Some(ev) = self.conns.get_mut(c).and_then(|q| q.conn.poll()) {
                self.on_event(cx, c, ev);
                work += 1;
            }
            if round == 0 {
                self.open_pending(cx, c);
                let streams = self.conns.get(c).map(|q| q.streams.clone()).unwrap_or_default();
                for st in streams {
                    work += self.stream_io(cx, c, st);
                }
                work += self.transmit(cx, c, now);
            }
        }
        self.arm(c);
        if self.conns.get(c).is_some_and(|q| q.conn.is_drained()) {
            self.forget(c);
        }
        work
    }

    fn endpoint_events(&mut self, c: u32) {
        let Some(q) = self.conns.get_mut(c) else { return };
        let ep = &mut self.eps[q.ep].endpoint;
        while let Some(ev) = q.conn.poll_endpoint_events() {
            if let Some(ce) = ep.handle_event(q.ch, ev) {
                q.conn.handle_event(ce);
            }
        }
    }

    fn forget(&mut self, c: u32) {
        let Some(q) = self.conns.remove(c) else { return };
        if let Some((_, h)) = q.timer {
            self.wheel.cancel(h);
        }
        self.by_handle.remove(&(q.ep, q.ch.0));
        if self.by_tuple.get(&q.tuple) == Some(&c) {
            self.by_tuple.remove(&q.tuple);
        }
        for st in q.streams {
            self.streams.remove(st);
        }
    }

    fn arm(&mut self, c: u32) {
        let base = self.base;
        let Some(q) = self.conns.get_mut(c) else { return };
        let d = q
            .conn
            .poll_timeout()
            .map(|t| u64::try_from(t.saturating_duration_since(base).as_nanos()).unwrap_or(u64::MAX));
        if q.timer.map(|(d, _)| d) == d {
            return;
        }
        if let Some((_, h)) = q.timer.take() {
            self.wheel.cancel(h);
        }
        if let Some(d) = d {
            q.timer = Some((d, self.wheel.insert(d, (c, q.generation))));
        }
    }

    fn transmit<S: Seam>(&mut self, cx: &mut TransportCx<'_, S>, c: u32, now: Instant) -> usize {
        let mut n = 0;
        loop {
            if n >= TX_PER_DRIVE {
                self.mark(c);
                break;
            }
            let Some(q) = self.conns.get_mut(c) else { break };
            self.buf.clear();
            let Some(t) = q.conn.poll_transmit(now, 1, &mut self.buf) else { break };
            let src = match t.src_ip {
                Some(ip) => SocketAddr::new(ip, q.tuple.local.port()),
                None => q.tuple.local,
            };
            if !send_datagram(cx, &self.counters, src, t.destination, &self.buf[..t.size]) {
                // No buffer: the engine's loss recovery resends; try the rest next poll.
                self.mark(c);
                break;
            }
            n += 1;
        }
        n
    }

    fn open_pending<S: Seam>(&mut self, cx: &mut TransportCx<'_, S>, c: u32) {
        loop {
            let Some(q) = self.conns.get_mut(c) else { return };
            let Some(&st) = q.pending.front() else { return };
            let Some(id) = q.conn.streams().open(Dir::Bi) else { return };
            q.pending.pop_front();
            self.counters.inc(QuicCounter::StreamsOpened);
            if let Some(x) = self.streams.get_mut(st) {
                x.id = Some(id);
                cx.event(x.session, EventKind::Connected);
            }
        }
    }

    fn on_event<S: Seam>(&mut self, cx: &mut TransportCx<'_, S>, c: u32, ev: Event) {
        let Some(q) = self.conns.get_mut(c) else { return };
        match ev {
            Event::HandshakeDataReady | Event::DatagramReceived | Event::DatagramsUnblocked => {}
            Event::Connected => {
                q.established = true;
                self.counters.inc(if q.server { QuicCounter::HandshakeServer } else { QuicCounter::HandshakeClient });
                if q.session != NONE {
                    cx.event(q.session, if q.server { EventKind::Accepted } else { EventKind::Connected });
                }
            }
            Event::ConnectionLost { reason } => self.lost(cx, c, &reason),
            Event::Stream(StreamEvent::Opened { dir: Dir::Bi }) => {
                while let Some(q) = self.conns.get_mut(c) {
                    let Some(id) = q.conn.streams().accept(Dir::Bi) else { break };
                    let st = QuicStream {
                        conn: c,
                        id: Some(id),
                        session: NONE,
                        app_closed: false,
                        fin_sent: false,
                        peer_fin: false,
                    };
                    match self.streams.insert_with(|_| Ok(st)) {
                        Ok(h) => {
                            if let Some(q) = self.conns.get_mut(c) {
                                q.streams.push(h.index);
                            }
                            self.new_streams.push(h.index);
                        }
                        Err(_) => {
                            self.counters.inc(QuicCounter::StreamsNoMemory);
                            if let Some(q) = self.conns.get_mut(c) {
                                let _ = q.conn.recv_stream(id).stop(VarInt::from_u32(ABORTED));
                                let _ = q.conn.send_stream(id).reset(VarInt::from_u32(ABORTED));
                            }
                        }
                    }
                }
            }
            Event::Stream(StreamEvent::Opened { dir: Dir::Uni }) => {
                while let Some(id) = q.conn.streams().accept(Dir::Uni) {
                    self.counters.inc(QuicCounter::StreamsUni);
                    let _ = q.conn.recv_stream(id).stop(VarInt::from_u32(ABORTED));
                }
            }
            Event::Stream(
                StreamEvent::Readable { .. } | StreamEvent::Writable { .. } | StreamEvent::Available { .. },
            ) => {
                // Every stream of the connection is served on each drive.
            }
            Event::Stream(StreamEvent::Finished { id }) => {
                let st = q.streams.iter().copied().find(|&s| self.streams.get(s).is_some_and(|x| x.id == Some(id)));
                if let Some(st) = st {
                    let x = self.streams.get(st).expect("found");
                    if x.app_closed {
                        if x.session != NONE {
                            cx.event(x.session, EventKind::TransportClosed);
                        }
                        self.remove_stream(st);
                    }
                }
            }
            Event::Stream(StreamEvent::Stopped { id, .. }) => {
                let st = q.streams.iter().copied().find(|&s| self.streams.get(s).is_some_and(|x| x.id == Some(id)));
                if let Some(st) = st {
                    self.counters.inc(QuicCounter::StreamsReset);
                    let x = self.streams.get(st).expect("found");
                    if x.session != NONE {
                        cx.event(x.session, if x.app_closed { EventKind::TransportClosed } else { EventKind::Reset });
                    }
                    if let Some(q) = self.conns.get_mut(c) {
                        // The engine frees a stopped send stream once it is reset.
                        let _ = q.conn.send_stream(id).reset(VarInt::from_u32(0));
                        let _ = q.conn.recv_stream(id).stop(VarInt::from_u32(ABORTED));
                    }
                    self.remove_stream(st);
                }
            }
        }
    }

    /// Connection `c` is gone (`reason`): its streams are reset, its session told.
    fn lost<S: Seam>(&mut self, cx: &mut TransportCx<'_, S>, c: u32, reason: &ConnectionError) {
        let why = loss_reason(reason);
        self.counters.inc(why);
        tracing::debug!("quic: connection lost: {reason}");
        let Some(q) = self.conns.get_mut(c) else { return };
        q.lost = true;
        q.pending.clear();
        let streams = std::mem::take(&mut q.streams);
        let (session, established, server) = (q.session, q.established, q.server);
        for st in streams {
            if let Some(x) = self.streams.remove(st) {
                if x.session != NONE {
                    cx.event(x.session, if x.app_closed { EventKind::TransportClosed } else { EventKind::Reset });
                }
            }
        }
        if session == NONE {
            return;
        }
        if !established {
            if let Some(q) = self.conns.get_mut(c) {
                q.session = NONE;
            }
            let e = if why == QuicCounter::FailTimeout { ConnectError::Timeout } else { ConnectError::Quic };
            cx.event(session, if server { EventKind::Reset } else { EventKind::ConnectFailed(e) });
        } else if why != QuicCounter::ClosedLocally {
            cx.event(session, EventKind::Disconnected);
        }
    }

    /// Moves bytes of stream `st` of connection `c` both ways; returns the bytes moved.
    fn stream_io<S: Seam>(&mut self, cx: &mut TransportCx<'_, S>, c: u32, st: u32) -> usize {
        let Some(x) = self.streams.get_mut(st) else { return 0 };
        let (Some(id), session) = (x.id, x.session) else { return 0 };
        if session == NONE {
            return 0;
        }
        let Some(q) = self.conns.get_mut(c) else { return 0 };
        let Some(s) = cx.sessions.get_mut(session) else { return 0 };
        let Some(f) = s.fifos.as_ref() else { return 0 };
        let (mut got, mut fin, mut reset) = (0, false, false);
        if !x.peer_fin && !x.app_closed && f.rx.max_enqueue() > 0 {
            if let Ok(mut chunks) = q.conn.recv_stream(id).read(true) {
                loop {
                    let room = f.rx.max_enqueue();
                    if room == 0 {
                        break;
                    }
                    match chunks.next(room) {
                        Ok(Some(ch)) => got += f.rx.enqueue(&ch.bytes),
                        Ok(None) => {
                            fin = true;
                            break;
                        }
                        Err(ReadError::Blocked) => break,
                        Err(ReadError::Reset(_)) => {
                            reset = true;
                            break;
                        }
                    }
                }
                let _ = chunks.finalize();
            }
        }
        let mut sent = 0;
        if !x.fin_sent && !reset {
            let tx = &f.tx;
            loop {
                let n = tx.max_dequeue().min(self.scratch.len());
                if n == 0 {
                    break;
                }
                tx.peek(0, &mut self.scratch[..n]);
                match q.conn.send_stream(id).write(&self.scratch[..n]) {
                    Ok(k) => {
                        tx.dequeue_drop(k);
                        sent += k;
                        if k < n {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
            if x.app_closed && tx.max_dequeue() == 0 {
                let _ = q.conn.send_stream(id).finish();
                x.fin_sent = true;
                if !x.peer_fin {
                    // The app reads no more: the peer should stop sending.
                    let _ = q.conn.recv_stream(id).stop(VarInt::from_u32(0));
                }
            }
        }
        s.rx_bytes += got as u64;
        s.tx_bytes += sent as u64;
        let rx_event = got > 0 && f.rx.set_event();
        let tx_event = sent > 0 && s.want_tx_event;
        let told_fin = fin && !x.peer_fin;
        x.peer_fin |= fin;
        self.counters.add(QuicCounter::StreamRxBytes, got as u64);
        self.counters.add(QuicCounter::StreamTxBytes, sent as u64);
        if rx_event {
            cx.event(session, EventKind::Rx);
        }
        if tx_event {
            cx.event(session, EventKind::TxSpace);
        }
        if reset {
            self.counters.inc(QuicCounter::StreamsReset);
            if let Some(q) = self.conns.get_mut(c) {
                let _ = q.conn.send_stream(id).reset(VarInt::from_u32(0));
            }
            cx.event(session, EventKind::Reset);
            self.remove_stream(st);
        } else if told_fin {
            cx.event(session, EventKind::Disconnected);
        }
        got + sent
    }
}

impl<S: Seam> Transport<S> for QuicTransport {
    fn proto(&self) -> TransportProto {
        TransportProto::Quic
    }

    fn connect(
        &mut self,
        _cx: &mut TransportCx<'_, S>,
        _session: u32,
        _local: SocketAddr,
        _req: &ConnectRequest,
    ) -> Result<u32, SessionError> {
        // Connections need their TLS client and streams their parent: the worker calls
        // [`QuicTransport::connect`] and [`QuicTransport::open_stream`].
        Err(SessionError::UnsupportedConfig("quic connects go through the worker's quic connect".into()))
    }

    fn push_tx(&mut self, cx: &mut TransportCx<'_, S>, session: u32) -> usize {
        let Some(conn) = cx.sessions.get(session).map(|s| s.conn) else { return 0 };
        let Some(st) = self.stream_of(session, conn) else {
            // A connection session's fifos carry nothing: what the app wrote is dropped.
            if let Some(f) = cx.sessions.get(session).and_then(|s| s.fifos.as_ref()) {
                f.tx.dequeue_drop(f.tx.max_dequeue());
            }
            return 0;
        };
        let c = self.streams.get(st).map_or(NONE, |x| x.conn);
        let before = self.counters.get(QuicCounter::StreamTxBytes);
        let work = self.drive(cx, c);
        let sent = self.counters.get(QuicCounter::StreamTxBytes) - before;
        usize::try_from(sent).unwrap_or(usize::MAX).max(usize::from(work > 0))
    }

    fn retry_tx_while_fifo_has_data(&self) -> bool {
        // Blocked streams are served again when the engine frees room (acks, timers).
        false
    }

    fn app_rx(&mut self, cx: &mut TransportCx<'_, S>, session: u32) {
        let Some(conn) = cx.sessions.get(session).map(|s| s.conn) else { return };
        if let Some(st) = self.stream_of(session, conn) {
            let c = self.streams.get(st).map_or(NONE, |x| x.conn);
            self.drive(cx, c);
        }
    }

    fn close(&mut self, cx: &mut TransportCx<'_, S>, session: u32) {
        let Some(conn) = cx.sessions.get(session).map(|s| s.conn) else { return };
        if conn & STREAM_BIT != 0 {
            let Some(st) = self.stream_of(session, conn) else {
                return cx.event(session, EventKind::TransportClosed);
            };
            let x = self.streams.get_mut(st).expect("checked");
            x.app_closed = true;
            let c = x.conn;
            if x.id.is_none() {
                // Never opened: nothing to finish.
                self.remove_stream(st);
                return cx.event(session, EventKind::TransportClosed);
            }
            self.drive(cx, c);
            return;
        }
        if let Some(c) = self.conns.get(conn).filter(|q| q.session == session).map(|_| conn) {
            let now = self.at(cx.io.now_ns());
            let q = self.conns.get_mut(c).expect("checked");
            // Closing the connection closes every stream of it.
            for st in std::mem::take(&mut q.streams) {
                if let Some(x) = self.streams.remove(st) {
                    if x.session != NONE {
                        cx.event(x.session, if x.app_closed { EventKind::TransportClosed } else { EventKind::Reset });
                    }
                }
            }
            let q = self.conns.get_mut(c).expect("checked");
            q.pending.clear();
            q.session = NONE;
            if !q.lost {
                q.conn.close(now, VarInt::from_u32(0), Bytes::from_static(b""));
            }
            self.drive(cx, c);
        }
        cx.event(session, EventKind::TransportClosed);
    }

    fn abort(&mut self, cx: &mut TransportCx<'_, S>, session: u32) {
        let Some(conn) = cx.sessions.get(session).map(|s| s.conn) else { return };
        if conn & STREAM_BIT != 0 {
            let Some(st) = self.stream_of(session, conn) else { return };
            let x = self.streams.get(st).expect("checked");
            let (c, id) = (x.conn, x.id);
            if let (Some(q), Some(id)) = (self.conns.get_mut(c), id) {
                let _ = q.conn.send_stream(id).reset(VarInt::from_u32(ABORTED));
                let _ = q.conn.recv_stream(id).stop(VarInt::from_u32(ABORTED));
            }
            self.remove_stream(st);
            self.drive(cx, c);
            return;
        }
        let Some(c) = self.conns.get(conn).filter(|q| q.session == session).map(|_| conn) else { return };
        let now = self.at(cx.io.now_ns());
        let q = self.conns.get_mut(c).expect("checked");
        for st in std::mem::take(&mut q.streams) {
            if let Some(x) = self.streams.remove(st) {
                if x.session != NONE {
                    cx.event(x.session, EventKind::Reset);
                }
            }
        }
        let q = self.conns.get_mut(c).expect("checked");
        q.pending.clear();
        q.session = NONE;
        if !q.lost {
            q.conn.close(now, VarInt::from_u32(ABORTED), Bytes::from_static(b"aborted"));
        }
        self.drive(cx, c);
    }

    fn poll(&mut self, cx: &mut TransportCx<'_, S>) -> usize {
        let now_ns = cx.io.now_ns();
        let mut work = self.new_streams.len();
        if self.wheel.advance(now_ns) > 0 {
            let now = self.at(now_ns);
            while let Some((c, g)) = self.wheel.pop_expired() {
                let Some(q) = self.conns.get_mut(c).filter(|q| q.generation == g) else { continue };
                q.timer = None;
                q.conn.handle_timeout(now);
                self.mark(c);
            }
        }
        if !self.dirty.is_empty() {
            let dirty = std::mem::take(&mut self.dirty);
            for &c in &dirty {
                let Some(q) = self.conns.get_mut(c) else { continue };
                q.dirty = false;
                work += 1 + self.drive(cx, c);
            }
            let mut dirty = dirty;
            dirty.clear();
            if self.dirty.is_empty() {
                self.dirty = dirty;
            }
        }
        work
    }

    fn conn_snapshot(&self, conn: u32) -> ConnSnapshot {
        let (c, stream) = match conn.checked_sub(STREAM_BIT) {
            Some(st) => match self.streams.get(st) {
                Some(x) => (x.conn, Some(x.id.map_or(u64::MAX, u64::from))),
                None => return ConnSnapshot::Closed { proto: TransportProto::Quic },
            },
            None => (conn, None),
        };
        match self.conns.get(c) {
            Some(q) => ConnSnapshot::Quic {
                local: q.tuple.local,
                remote: q.tuple.remote,
                stream,
                streams: q.streams.len(),
                established: q.established,
                server: q.server,
                rtt_us: u64::try_from(q.conn.rtt().as_micros()).unwrap_or(u64::MAX),
            },
            None => ConnSnapshot::Closed { proto: TransportProto::Quic },
        }
    }

    fn connections(&self) -> usize {
        self.conns.len()
    }
}
