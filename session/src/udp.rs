//! The UDP transport.
//!
//! As in VPP's default ("connected") UDP, a listener does not receive
//! datagrams itself: the first datagram from a new peer 5-tuple creates a
//! session that the app accepts, and every later datagram of that 5-tuple
//! goes to that session. An app's connect creates such a session directly.
//! Datagrams travel through the fifos framed with a
//! [`DgramHeader`] that carries the addresses.
//!
//! Per worker, connections live in a pool and a hash table keyed by the
//! 5-tuple; the table is looked up once per received datagram (no
//! allocation). Accepted sessions that stay silent for the idle timeout are
//! closed, so a scan of many source ports cannot pin fifo memory forever,
//! and [`admission`] bounds them meanwhile: per listener, per source and in
//! fifo memory, evicting the oldest one-datagram sessions first. Under
//! pressure (a limit was reached since the last idle scan) the scan closes
//! sessions idle for a tenth of the timeout.
//! Checksums are verified on receive (a zero checksum means "none", RFC 768)
//! and computed on send. A datagram for a port nobody listens on gets ICMP
//! port unreachable.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use net::device::PacketBuf;
use net::l3::counters::Counter;
use net::l3::{Ip4Delivery, Ip6Delivery, LargeDelivery};
use net::seam::Seam;
use wire::ipv4::{self, Protocol};
use wire::offload::CsumStatus;
use wire::{udp, Error as WireError};

pub mod admission;

use admission::Admission;
pub use admission::{Eviction, Limits, Refusal};

use shm::types::TransportProto;

use crate::error::SessionError;
use crate::pool::Pool;
use crate::session::{dgram_peek_header, DgramHeader};
use crate::snapshot::ConnSnapshot;
use crate::transport::{ConnectRequest, EventKind, PortPicker, Transport, TransportCx};

counters::counters! {
    /// What UDP counts on a worker.
    pub enum UdpCounter {
        Malformed => ("udp malformed", true),
        BadChecksum => ("udp bad checksum", true),
        NoListener => ("udp no listener (port unreachable)", true),
        RxDatagrams => ("udp datagrams received", false),
        TxDatagrams => ("udp datagrams sent", false),
        TxTooBig => ("udp datagram larger than udp allows (65507 bytes v4, 65527 v6), not sent", true),
        TxFragmented => ("udp datagrams sent in ip fragments (larger than one buffer)", false),
        RxLarge => ("udp reassembled datagrams larger than one buffer received", false),
        IdleClosed => ("udp sessions closed after idle timeout", false),
        EvictedSource => ("udp session evicted for a new one (per-source limit)", true),
        EvictedListener => ("udp session evicted for a new one (per-listener limit)", true),
        EvictedMemory => ("udp session evicted early (fifo memory pressure)", true),
        EvictedIdle => ("udp session closed early (idle under pressure)", true),
        RefusedSource => ("udp new session refused (per-source limit)", true),
        RefusedListener => ("udp new session refused (per-listener limit)", true),
        RefusedMemory => ("udp new session refused (fifo memory limit)", true),
        FifoGrown => ("udp session fifos grown on use", false),
        FifoGrowFailed => ("udp session fifos not grown (memory), kept small", true),
        FifoBytes => ("udp fifo bytes held by sessions from the network (now)", false),
        FifoBytesPeak => ("udp fifo bytes held by sessions from the network (peak)", false),
    }
}

/// One worker's [`UdpCounter`]s.
pub type UdpCounters = counters::AtomicCounters<UdpCounter, { UdpCounter::COUNT }>;

/// Largest UDP payload sent in one buffer over IPv4 (one frame on a
/// 1500-byte MTU; L3 still fragments it for a smaller one); larger ones
/// are built as fragments from the fifo ([`Seam::udp_output_fragmented`]).
pub const MAX_PAYLOAD: usize = 1500 - ipv4::HEADER_LEN - udp::HEADER_LEN;
/// [`MAX_PAYLOAD`] over IPv6.
pub const MAX_PAYLOAD6: usize = 1500 - wire::ipv6::HEADER_LEN - udp::HEADER_LEN;
pub use net::l3::{UDP_MAX_PAYLOAD4, UDP_MAX_PAYLOAD6};
/// Datagrams sent per session per call, so one busy session cannot starve the rest of the loop.
const TX_BATCH: usize = 64;
pub use crate::transport::EPHEMERAL_FIRST;

/// A UDP 4-tuple as seen from the node (the protocol is implied).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Tuple {
    /// Our address and port.
    pub local: SocketAddr,
    /// The peer's.
    pub remote: SocketAddr,
}

impl std::hash::Hash for Tuple {
    /// Two words for an IPv4 tuple (as few hasher rounds as the
    /// IPv4-only tuple had, the per-packet cost), the addresses as 128-bit
    /// words for IPv6; equal tuples hash equal (flow label and scope, which
    /// equality also compares, are left out).
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let ports = u32::from(self.local.port()) << 16 | u32::from(self.remote.port());
        match (self.local.ip(), self.remote.ip()) {
            (IpAddr::V4(l), IpAddr::V4(r)) => state.write_u64(u64::from(l.to_bits()) << 32 | u64::from(r.to_bits())),
            (l, r) => {
                let w = |a: IpAddr| match a {
                    IpAddr::V4(a) => u128::from(a.to_bits()),
                    IpAddr::V6(a) => a.to_bits(),
                };
                state.write_u128(w(l));
                state.write_u128(w(r));
            }
        }
        state.write_u32(ports);
    }
}

/// A `HashMap` for the per-packet tables (keys from the network: tuples,
/// addresses): foldhash, a few instructions per fixed-size key where
/// SipHash takes over a hundred, seeded per table so keys that collide in
/// one process's table cannot be precomputed.
pub type TupleMap<K, V> = HashMap<K, V, foldhash::quality::RandomState>;

/// One UDP connection.
#[derive(Debug, Clone)]
pub struct UdpConn {
    /// Session it feeds.
    pub session: u32,
    /// Addresses.
    pub tuple: Tuple,
    /// Last datagram in or out (ns).
    pub last_ns: u64,
    /// Created by a listener (subject to the idle timeout).
    pub accepted: bool,
    /// Datagrams received.
    pub rx_dgrams: u64,
    /// Datagrams sent.
    pub tx_dgrams: u64,
}

/// UDP settings (node-wide; each worker takes its share of the limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpConfig {
    /// Accepted sessions idle this long are closed (0 = never).
    pub idle_timeout_ns: u64,
    /// Sessions one listener may have from the network.
    pub max_sessions_per_listener: u32,
    /// Sessions one source address may have.
    pub max_sessions_per_source: u32,
    /// Bytes of fifo memory the sessions made by the network may hold.
    pub memory_bytes: u64,
    /// Size of each fifo of a new session of a builtin app (grown to the
    /// app's fifo size with the session's second datagram).
    pub initial_fifo_size: u32,
}

impl Default for UdpConfig {
    fn default() -> Self {
        UdpConfig {
            idle_timeout_ns: 300_000_000_000,
            max_sessions_per_listener: 16384,
            max_sessions_per_source: 1024,
            memory_bytes: 256 << 20,
            initial_fifo_size: 4096,
        }
    }
}

impl UdpConfig {
    /// Worker `workers`' share of the limits: counts rounded up, at least 1.
    pub fn limits(&self, workers: u32) -> Limits {
        let w = workers.max(1);
        Limits {
            per_listener: self.max_sessions_per_listener.div_ceil(w).max(1),
            per_source: self.max_sessions_per_source.div_ceil(w).max(1),
            memory: (self.memory_bytes / u64::from(w)).max(1),
        }
    }
}

/// A worker's UDP connections.
pub struct UdpTransport {
    conns: Pool<UdpConn>,
    by_tuple: TupleMap<Tuple, u32>,
    cfg: UdpConfig,
    ports: PortPicker,
    next_idle_scan_ns: u64,
    scratch: Vec<u8>,
    admission: Admission,
    evicted: Vec<(u32, Eviction)>,
    evicted_sessions: Vec<u32>,
    /// This worker's UDP counters (the CLI reads them through [`crate::worker::SessionStats`]).
    pub counters: Arc<UdpCounters>,
}

/// What [`UdpTransport::parse`] found in a datagram for us.
#[derive(Debug, Clone, Copy)]
pub struct UdpInput {
    /// Addresses, from the node's point of view.
    pub tuple: Tuple,
    /// Offset of the payload in the mbuf.
    pub payload_offset: usize,
    /// Payload length.
    pub payload_len: usize,
}

impl UdpTransport {
    /// An empty table for worker `worker` of `workers`.
    pub fn new(cfg: UdpConfig, worker: u32, workers: u32) -> Self {
        let workers = workers.max(1);
        UdpTransport {
            conns: Pool::new("udp connections"),
            by_tuple: TupleMap::default(),
            cfg,
            ports: PortPicker::new(worker, workers),
            next_idle_scan_ns: 0,
            scratch: vec![0; MAX_PAYLOAD],
            admission: Admission::new(cfg.limits(workers)),
            evicted: Vec::with_capacity(8),
            evicted_sessions: Vec::with_capacity(8),
            counters: Arc::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &UdpConfig {
        &self.cfg
    }

    /// Makes room for a new session of `listener` from `source` whose fifos
    /// take `fifo_bytes`, evicting the oldest probationary sessions the
    /// limits demand (see [`admission`]); each eviction is counted, its
    /// connection forgotten, and its session left in
    /// [`UdpTransport::take_evicted`] for the caller to reset, also when the
    /// new session is refused after all.
    pub fn admit(&mut self, listener: u32, source: IpAddr, fifo_bytes: u64) -> Result<(), Refusal> {
        let r = self.admission.admit(listener, source, fifo_bytes, &mut self.evicted);
        for (conn, why) in std::mem::take(&mut self.evicted) {
            self.counters.inc(match why {
                Eviction::Source => UdpCounter::EvictedSource,
                Eviction::Listener => UdpCounter::EvictedListener,
                Eviction::Memory => UdpCounter::EvictedMemory,
            });
            if let Some(c) = self.conns.remove(conn) {
                self.by_tuple.remove(&c.tuple);
                self.evicted_sessions.push(c.session);
            }
        }
        if let Err(why) = r {
            self.counters.inc(match why {
                Refusal::Source => UdpCounter::RefusedSource,
                Refusal::Listener => UdpCounter::RefusedListener,
                Refusal::Memory => UdpCounter::RefusedMemory,
            });
        }
        r
    }

    /// Sessions whose connections [`UdpTransport::admit`] evicted since the
    /// last call (the caller resets them).
    pub fn take_evicted(&mut self, out: &mut Vec<u32>) {
        out.append(&mut self.evicted_sessions);
    }

    /// Adds the connection a listener's new session `session` (from the
    /// network, admitted) feeds; it starts probationary.
    pub fn add_accepted(
        &mut self,
        session: u32,
        tuple: Tuple,
        listener: u32,
        now_ns: u64,
    ) -> Result<u32, SessionError> {
        let conn = self.add(session, tuple, true, now_ns)?;
        self.admission.insert(conn, listener, tuple.remote.ip());
        Ok(conn)
    }

    /// Whether fifo memory for the network's sessions can take `bytes` more.
    pub fn fifo_fits(&self, bytes: u64) -> bool {
        self.admission.fifo_fits(bytes)
    }

    /// Account `bytes` of fifos allocated to a session from the network.
    pub fn fifo_add(&mut self, bytes: u64) {
        self.admission.fifo_add(bytes);
        self.publish_fifo_usage();
    }

    /// Account `bytes` of fifos of a session from the network freed (the
    /// counters follow at the next [`Transport::poll`]).
    pub fn fifo_release(&mut self, bytes: u64) {
        self.admission.fifo_release(bytes);
    }

    fn publish_fifo_usage(&self) {
        let (now, peak) = self.admission.fifo_usage();
        self.counters.set(UdpCounter::FifoBytes, now);
        self.counters.set(UdpCounter::FifoBytesPeak, peak);
    }

    /// Fifo bytes held by the network's sessions now, and the most ever.
    pub fn fifo_usage(&self) -> (u64, u64) {
        self.admission.fifo_usage()
    }

    /// The worker's share of the limits.
    pub fn limits(&self) -> Limits {
        self.admission.limits()
    }

    /// Checks a received datagram (length, checksum); counts and returns the counter's name (the drop reason) when it is bad.
    ///
    /// The checksum is verified in software unless the NIC already did.
    pub fn parse<S: Seam>(&self, io: &S, d: &Ip4Delivery<S::Buf>) -> Result<UdpInput, &'static str> {
        let counters = &self.counters;
        let verify = match io.l4_csum_status(d) {
            CsumStatus::Good | CsumStatus::Verified => false,
            CsumStatus::Bad => {
                counters.inc(UdpCounter::BadChecksum);
                return Err(UdpCounter::BadChecksum.name());
            }
            CsumStatus::Unknown => true,
        };
        let data = d.buf.data();
        let repr = match udp::Packet::new_checked(&data[d.l4_offset..])
            .and_then(|p| udp::Repr::parse(&p, d.src, d.dst, verify))
        {
            Ok(r) => r,
            Err(WireError::BadChecksum) => {
                counters.inc(UdpCounter::BadChecksum);
                return Err(UdpCounter::BadChecksum.name());
            }
            Err(_) => {
                counters.inc(UdpCounter::Malformed);
                return Err(UdpCounter::Malformed.name());
            }
        };
        Ok(UdpInput {
            tuple: Tuple {
                local: SocketAddr::new(IpAddr::V4(d.dst), repr.dst_port),
                remote: SocketAddr::new(IpAddr::V4(d.src), repr.src_port),
            },
            payload_offset: d.l4_offset + udp::HEADER_LEN,
            payload_len: repr.payload_len,
        })
    }

    /// [`Self::parse`] for IPv6: the checksum is mandatory (RFC 8200 8.1),
    /// so a zero one is refused as bad.
    pub fn parse6<S: Seam>(&self, io: &S, d: &Ip6Delivery<S::Buf>) -> Option<UdpInput> {
        let counters = &self.counters;
        let verify = match io.l4_csum_status6(d) {
            CsumStatus::Good | CsumStatus::Verified => false,
            CsumStatus::Bad => {
                counters.inc(UdpCounter::BadChecksum);
                return None;
            }
            CsumStatus::Unknown => true,
        };
        let p = match udp::Packet::new_checked(&d.buf.data()[d.l4_offset..]) {
            Ok(p) => p,
            Err(_) => {
                counters.inc(UdpCounter::Malformed);
                return None;
            }
        };
        if verify && !p.verify_checksum_v6(&d.src, &d.dst) {
            counters.inc(UdpCounter::BadChecksum);
            return None;
        }
        Some(UdpInput {
            tuple: Tuple {
                local: SocketAddr::new(IpAddr::V6(d.dst), p.dst_port()),
                remote: SocketAddr::new(IpAddr::V6(d.src), p.src_port()),
            },
            payload_offset: d.l4_offset + udp::HEADER_LEN,
            payload_len: usize::from(p.len()) - udp::HEADER_LEN,
        })
    }

    /// [`Self::parse`] for a reassembled datagram too large for one buffer
    /// (checksum always verified in software; offsets are into `d.data`).
    pub fn parse_large(&self, d: &LargeDelivery) -> Option<UdpInput> {
        let counters = &self.counters;
        let Ok(p) = udp::Packet::new_checked(&d.data[d.l4_offset.min(d.data.len())..]) else {
            counters.inc(UdpCounter::Malformed);
            return None;
        };
        let ok = match (d.src, d.dst) {
            (IpAddr::V4(s), IpAddr::V4(t)) => match udp::Repr::parse(&p, s, t, true) {
                Ok(_) => true,
                Err(WireError::BadChecksum) => false,
                Err(_) => {
                    counters.inc(UdpCounter::Malformed);
                    return None;
                }
            },
            (IpAddr::V6(s), IpAddr::V6(t)) => p.verify_checksum_v6(&s, &t),
            _ => {
                counters.inc(UdpCounter::Malformed);
                return None;
            }
        };
        if !ok {
            counters.inc(UdpCounter::BadChecksum);
            return None;
        }
        counters.inc(UdpCounter::RxLarge);
        Some(UdpInput {
            tuple: Tuple { local: SocketAddr::new(d.dst, p.dst_port()), remote: SocketAddr::new(d.src, p.src_port()) },
            payload_offset: d.l4_offset + udp::HEADER_LEN,
            payload_len: usize::from(p.len()) - udp::HEADER_LEN,
        })
    }

    /// The session of an existing connection for `tuple`, touching its
    /// idle timer, and whether this datagram ended its probation (its
    /// second one: the session is in use and keeps its place).
    #[inline]
    pub fn lookup(&mut self, tuple: &Tuple, now_ns: u64) -> Option<(u32, bool)> {
        let c = *self.by_tuple.get(tuple)?;
        let conn = self.conns.get_mut(c)?;
        conn.last_ns = now_ns;
        conn.rx_dgrams += 1;
        let promoted = conn.accepted && conn.rx_dgrams == 2 && self.admission.promote(c);
        Some((conn.session, promoted))
    }

    /// Adds a connection for `session`; returns its index.
    pub fn add(&mut self, session: u32, tuple: Tuple, accepted: bool, now_ns: u64) -> Result<u32, SessionError> {
        if self.by_tuple.contains_key(&tuple) {
            return Err(SessionError::AddressInUse(format!("udp {} -> {}", tuple.local, tuple.remote)));
        }
        // An accepted connection is made by its first datagram.
        let conn = UdpConn { session, tuple, last_ns: now_ns, accepted, rx_dgrams: u64::from(accepted), tx_dgrams: 0 };
        let h = self.conns.insert_with(|_| Ok(conn))?;
        self.by_tuple.insert(tuple, h.index);
        Ok(h.index)
    }

    fn remove(&mut self, conn: u32) -> Option<UdpConn> {
        let c = self.conns.remove(conn)?;
        self.by_tuple.remove(&c.tuple);
        self.admission.remove(conn);
        Some(c)
    }

    /// Removes `conn` if it still feeds `session` (an evicted or timed-out
    /// connection's slot may have been reused by another session's since).
    fn remove_of(&mut self, conn: u32, session: u32) -> Option<UdpConn> {
        if self.conns.get(conn)?.session != session {
            return None;
        }
        self.remove(conn)
    }

    /// Whether no connection has `tuple` (another transport on UDP may take it).
    pub fn tuple_free(&self, tuple: &Tuple) -> bool {
        !self.by_tuple.contains_key(tuple)
    }

    /// The connection at `conn`.
    pub fn conn(&self, conn: u32) -> Option<&UdpConn> {
        self.conns.get(conn)
    }

    /// Sends one datagram of session `index` from its tx fifo; false when there is none (or no buffer).
    fn send_one<S: Seam>(&mut self, cx: &mut TransportCx<'_, S>, index: u32) -> bool {
        let Some(s) = cx.sessions.get_mut(index) else { return false };
        let Some(c) = self.conns.get_mut(s.conn).filter(|c| c.session == index) else { return false };
        let Some(fifos) = s.fifos.as_ref() else { return false };
        let Some(hdr) = dgram_peek_header(&fifos.tx) else { return false };
        let len = hdr.len as usize;
        let v4 = c.tuple.remote.is_ipv4();
        if len > if v4 { MAX_PAYLOAD } else { MAX_PAYLOAD6 } {
            // Larger than one buffer: IP fragments, up to UDP's limit.
            if len > if v4 { UDP_MAX_PAYLOAD4 } else { UDP_MAX_PAYLOAD6 } {
                fifos.tx.dequeue_drop(DgramHeader::SIZE + len);
                self.counters.inc(UdpCounter::TxTooBig);
                return true;
            }
            let (src, dst) = (c.tuple.local, c.tuple.remote);
            let mut hdr = [0u8; udp::HEADER_LEN];
            let u = udp::Repr { src_port: src.port(), dst_port: dst.port(), payload_len: len };
            u.emit(&mut udp::Packet::new_unchecked(&mut hdr[..]));
            let tx = &fifos.tx;
            let fill = |off: usize, out: &mut [u8]| {
                tx.peek(DgramHeader::SIZE + off, out);
            };
            if !cx.io.udp_output_fragmented(cx.net, src.ip(), dst.ip(), &hdr, len, fill) {
                return false;
            }
            fifos.tx.dequeue_drop(DgramHeader::SIZE + len);
            c.last_ns = cx.io.now_ns();
            c.tx_dgrams += 1;
            s.tx_bytes += len as u64;
            self.counters.inc(UdpCounter::TxDatagrams);
            self.counters.inc(UdpCounter::TxFragmented);
            return true;
        }
        let Some(mut m) = cx.io.alloc_tx() else { return false };
        let hl = udp::HEADER_LEN;
        let Some(buf) = m.append(hl + len) else {
            cx.io.counters().inc(Counter::MbufAllocFailed);
            return false;
        };
        fifos.tx.peek(DgramHeader::SIZE, &mut buf[hl..]);
        fifos.tx.dequeue_drop(DgramHeader::SIZE + len);
        let (src, dst) = (c.tuple.local, c.tuple.remote);
        let u = udp::Repr { src_port: src.port(), dst_port: dst.port(), payload_len: len };
        // The IPv4 header and the checksum are the seam's: the NIC's checksum
        // when it offers, else software.
        u.emit(&mut udp::Packet::new_unchecked(&mut buf[..]));
        c.last_ns = cx.io.now_ns();
        c.tx_dgrams += 1;
        s.tx_bytes += len as u64;
        self.counters.inc(UdpCounter::TxDatagrams);
        match (src.ip(), dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => cx.io.ip4_output_l4(cx.net, m, s, d, Protocol::Udp),
            (IpAddr::V6(s), IpAddr::V6(d)) => cx.io.ip6_output_l4(cx.net, m, s, d, Protocol::Udp),
            // A tuple is made of one family (connect and accept see to it).
            _ => drop(m),
        }
        true
    }

    /// Payload scratch space (for callers that copy datagrams around).
    pub fn scratch(&mut self) -> &mut [u8] {
        &mut self.scratch
    }
}

impl<S: Seam> Transport<S> for UdpTransport {
    fn proto(&self) -> TransportProto {
        TransportProto::Udp
    }

    fn connect(
        &mut self,
        cx: &mut TransportCx<'_, S>,
        session: u32,
        local: SocketAddr,
        req: &ConnectRequest,
    ) -> Result<u32, SessionError> {
        let remote = SocketAddr::new(req.remote.ip, req.remote.port);
        if local.is_ipv4() != remote.is_ipv4() {
            return Err(SessionError::invalid("uri", "local and remote addresses of different families"));
        }
        let port = match local.port() {
            0 => {
                let by_tuple = &self.by_tuple;
                let ip = local.ip();
                let free = |p| !by_tuple.contains_key(&Tuple { local: SocketAddr::new(ip, p), remote });
                self.ports
                    .pick(cx.io, cx.net, Protocol::Udp, ip, remote, free)
                    .ok_or(SessionError::TooMany("udp local ports"))?
            }
            p => p,
        };
        let tuple = Tuple { local: SocketAddr::new(local.ip(), port), remote };
        let conn = self.add(session, tuple, false, cx.io.now_ns())?;
        if let Some(s) = cx.sessions.get_mut(session) {
            s.local = tuple.local;
            s.conn = conn;
        }
        // Nothing to wait for: a UDP connect is complete once it has a tuple.
        cx.event(session, EventKind::Connected);
        Ok(conn)
    }

    fn push_tx(&mut self, cx: &mut TransportCx<'_, S>, session: u32) -> usize {
        let mut sent = 0;
        while sent < TX_BATCH && self.send_one(cx, session) {
            sent += 1;
        }
        if sent > 0 && cx.sessions.get(session).is_some_and(|s| s.want_tx_event) {
            cx.event(session, EventKind::TxSpace);
        }
        sent
    }

    fn close(&mut self, cx: &mut TransportCx<'_, S>, session: u32) {
        // Send what the app queued before closing, then forget the tuple.
        while self.send_one(cx, session) {}
        if let Some(s) = cx.sessions.get(session) {
            self.remove_of(s.conn, session);
        }
        cx.event(session, EventKind::TransportClosed);
    }

    fn abort(&mut self, cx: &mut TransportCx<'_, S>, session: u32) {
        if let Some(s) = cx.sessions.get(session) {
            self.remove_of(s.conn, session);
        }
    }

    fn poll(&mut self, cx: &mut TransportCx<'_, S>) -> usize {
        self.publish_fifo_usage();
        let now = cx.io.now_ns();
        if self.cfg.idle_timeout_ns == 0 || now < self.next_idle_scan_ns {
            return 0;
        }
        self.next_idle_scan_ns = now + 1_000_000_000;
        // Under pressure, sessions idle for a tenth of the timeout go early.
        let pressure = self.admission.take_pressure();
        let idle = if pressure { self.cfg.idle_timeout_ns / 10 } else { self.cfg.idle_timeout_ns };
        let full = self.cfg.idle_timeout_ns;
        let expired: Vec<(u32, bool)> = self
            .conns
            .iter_indexed()
            .filter(|(_, c)| c.accepted && now.saturating_sub(c.last_ns) >= idle)
            .map(|(i, c)| (i, now.saturating_sub(c.last_ns) < full))
            .collect();
        for &(conn, early) in &expired {
            if let Some(c) = self.remove(conn) {
                self.counters.inc(if early { UdpCounter::EvictedIdle } else { UdpCounter::IdleClosed });
                // The app hears that the peer is gone and closes its side.
                cx.event(c.session, EventKind::Disconnected);
            }
        }
        expired.len()
    }

    fn conn_snapshot(&self, conn: u32) -> ConnSnapshot {
        match self.conns.get(conn) {
            Some(c) => ConnSnapshot::Udp {
                local: c.tuple.local,
                remote: c.tuple.remote,
                rx_dgrams: c.rx_dgrams,
                tx_dgrams: c.tx_dgrams,
                accepted: c.accepted,
            },
            None => ConnSnapshot::Closed { proto: TransportProto::Udp },
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
    fn tuple_hasher_spreads_ports() {
        use std::hash::BuildHasher;
        let b = foldhash::quality::RandomState::default();
        let mut seen = std::collections::HashSet::new();
        for p in 0..1000u16 {
            let t = Tuple {
                local: SocketAddr::from(([198, 18, 0, 2], 7)),
                remote: SocketAddr::from(([198, 18, 0, 1], 40000 + p)),
            };
            seen.insert(b.hash_one(t) >> 54);
        }
        // 1000 keys over 1024 top-bit buckets: a decent hash fills most of them.
        assert!(seen.len() > 500, "{}", seen.len());
    }

    #[test]
    fn tuples_are_unique_and_lookups_touch_the_idle_timer() {
        let remote = SocketAddr::from(([198, 18, 0, 1], 7));
        let ip = IpAddr::from([198, 18, 0, 2]);
        let mut u = UdpTransport::new(UdpConfig::default(), 0, 1);
        let t = Tuple { local: SocketAddr::new(ip, 50000), remote };
        u.add(0, t, false, 0).unwrap();
        assert!(matches!(u.add(1, t, false, 0), Err(SessionError::AddressInUse(_))));
        assert_eq!(u.lookup(&t, 5), Some((0, false)));
        assert_eq!(u.conn(0).unwrap().last_ns, 5);
    }
}
