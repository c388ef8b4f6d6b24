//! An in-memory network: simulated nodes joined by simulated links, on a
//! virtual clock.
//!
//! [`SimBuf`] is a `Vec`-backed packet buffer with headroom, [`SimDevice`]
//! a [`Device`] whose interfaces are ends of [`Link`]s, and [`SimNode`] the
//! real L2/L3 ([`L3`]) over it with its own tables, polled like a worker's
//! loop with a [`Stack`] on top. Time is whatever the test passes in
//! (nanoseconds), so ARP, retransmission and hold timers run exactly and
//! fast. A link delays every frame by a fixed latency and, with a seed,
//! drops, duplicates and reorders them through the same decisions as the
//! node's fault injection ([`fault::apply`]): a given seed and traffic give
//! the same run, frame for frame.
//!
//! This is test machinery: it allocates per frame and locks per link, which
//! the node's data path never does.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use smallvec::SmallVec;

use crate::arp_cache::ArpConfig;
use crate::capture::{Capture, Direction};
use crate::device::{Burst, Device, PacketBuf};
use crate::fault::{self, FaultConfig, FaultCounters, Faults, Held};
use crate::l3::counters::{Counter, Counters};
use crate::l3::{Ip4Delivery, Ip6Delivery, L3};
use crate::route::Route;
use crate::seam::Stack;
use crate::tables::{Interface, NetTables};
use wire::ethernet::Address as MacAddress;
use wire::ipv4::Cidr;
use wire::offload::{RxCsum, TxCsumRequest};

/// Bytes a fresh [`SimBuf`] has in front of its data (as an mbuf's default).
pub const HEADROOM: usize = 128;
/// Bytes a [`SimBuf`] holds, headroom included (as a default mbuf).
pub const BUF_SIZE: usize = 2048 + HEADROOM;
/// Frames per [`SimBurst`].
pub const BURST: usize = 64;

/// A packet buffer in a `Vec`: data lives in `bytes[start..end]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimBuf {
    bytes: Vec<u8>,
    start: usize,
    end: usize,
    /// Checksums asked of the NIC (link header length, request), done at tx.
    tx_csum: Option<(u16, TxCsumRequest)>,
    /// TSO asked of the NIC (link header length, payload bytes per piece).
    tso: Option<(u16, u16)>,
}

impl Default for SimBuf {
    fn default() -> Self {
        SimBuf::with_size(BUF_SIZE)
    }
}

/// Bytes a large [`SimBuf`] holds (as a large mbuf's data room).
pub const LARGE_BUF_SIZE: usize = 65535;

impl SimBuf {
    fn with_size(n: usize) -> SimBuf {
        SimBuf { bytes: vec![0; n], start: HEADROOM, end: HEADROOM, tx_csum: None, tso: None }
    }
}

impl SimBuf {
    /// A buffer holding `data` after the default headroom.
    pub fn from_bytes(data: &[u8]) -> SimBuf {
        let mut b = SimBuf::default();
        if let Some(d) = b.append(data.len()) {
            d.copy_from_slice(data);
        }
        b
    }
}

impl PacketBuf for SimBuf {
    fn segments(&self) -> u16 {
        1
    }
    fn len(&self) -> usize {
        self.end - self.start
    }
    fn data(&self) -> &[u8] {
        &self.bytes[self.start..self.end]
    }
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.bytes[self.start..self.end]
    }
    fn tailroom(&self) -> usize {
        self.bytes.len() - self.end
    }
    fn append(&mut self, len: usize) -> Option<&mut [u8]> {
        let end = self.end.checked_add(len).filter(|&e| e <= self.bytes.len())?;
        let old = std::mem::replace(&mut self.end, end);
        Some(&mut self.bytes[old..end])
    }
    fn prepend(&mut self, len: usize) -> Option<&mut [u8]> {
        self.start = self.start.checked_sub(len)?;
        Some(&mut self.bytes[self.start..self.start + len])
    }
    fn adj(&mut self, len: usize) -> bool {
        if len > self.len() {
            return false;
        }
        self.start += len;
        true
    }
    fn trim(&mut self, len: usize) -> bool {
        if len > self.len() {
            return false;
        }
        self.end -= len;
        true
    }
    fn reset(&mut self) {
        (self.start, self.end) = (HEADROOM, HEADROOM);
        self.tx_csum = None;
        self.tso = None;
    }
    fn nic_rss_hash(&self) -> Option<u32> {
        None
    }
    fn rx_csum(&self) -> RxCsum {
        RxCsum::UNKNOWN
    }
    fn request_tx_csum(&mut self, l2_len: u16, req: TxCsumRequest) {
        // Asked only when a test gave the port offloads (`L3::set_port_caps`):
        // the device finishes the checksums as it sends.
        if !req.is_empty() {
            self.tx_csum = Some((l2_len, req));
        }
    }
    fn request_tso(&mut self, l2_len: u16, _l3_len: u16, _l4_len: u16, seg_size: u16) {
        self.tso = Some((l2_len, seg_size));
    }
}

/// What the simulated NIC's TSO does with a frame that asks for it: the
/// frames it puts on the wire (Ethernet header copied, the IPv4/TCP
/// segment cut as [`crate::gso`] cuts, checksums computed).
fn sim_tso_cut(b: &SimBuf, l2: usize, seg: usize) -> Vec<SimBuf> {
    let d = b.data();
    let Ok(s) = crate::gso::LargeSegment::parse(&d[l2..]) else { return Vec::new() };
    let mut out = Vec::new();
    let mut off = 0;
    while off < s.payload {
        let len = seg.min(s.payload - off);
        let mut p = SimBuf::default();
        if let Some(buf) = p.append(l2 + s.headers() + len) {
            buf[..l2].copy_from_slice(&d[..l2]);
            s.write_piece(&d[l2..], off, len, &mut buf[l2..]);
            let _ = wire::offload::tx_csum_prepare(&mut buf[l2..], wire::offload::CsumSet::NONE);
            out.push(p);
        }
        off += len;
    }
    out
}

/// A burst of [`SimBuf`]s.
#[derive(Debug, Default)]
pub struct SimBurst(Vec<SimBuf>);

impl Burst<SimBuf> for SimBurst {
    const CAPACITY: usize = BURST;
    fn len(&self) -> usize {
        self.0.len()
    }
    fn push(&mut self, b: SimBuf) -> Result<(), SimBuf> {
        if self.0.len() == BURST {
            return Err(b);
        }
        self.0.push(b);
        Ok(())
    }
    fn drain(&mut self) -> impl Iterator<Item = SimBuf> + '_ {
        self.0.drain(..)
    }
}

/// How a link treats frames (each direction on its own, same settings).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkConfig {
    /// One-way delay of every frame, ns.
    pub latency_ns: u64,
    /// Chance, in percent, that a frame is lost.
    pub loss_percent: f64,
    /// Chance, in percent, that a frame is duplicated.
    pub duplicate_percent: f64,
    /// Chance, in percent, that a frame is held back behind its successor.
    pub reorder_percent: f64,
    /// Longest a held frame waits for a successor, µs.
    pub reorder_hold_us: u32,
    /// Seed of the impairments (direction `b -> a` uses a stream of its own).
    pub seed: u64,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            latency_ns: 10_000,
            loss_percent: 0.0,
            duplicate_percent: 0.0,
            reorder_percent: 0.0,
            reorder_hold_us: fault::DEFAULT_HOLD_US,
            seed: 0,
        }
    }
}

/// One direction of a link: frames in flight, in order of arrival time.
struct Wire {
    latency_ns: u64,
    faults: Option<Faults>,
    held: Held<SimBuf>,
    in_flight: VecDeque<(u64, SimBuf)>,
    counters: Arc<FaultCounters>,
}

impl Wire {
    fn new(cfg: &LinkConfig, stream: usize) -> Wire {
        let fc = FaultConfig {
            drop_percent: cfg.loss_percent,
            duplicate_percent: cfg.duplicate_percent,
            reorder_percent: cfg.reorder_percent,
            direction: fault::Direction::Tx,
            seed: Some(cfg.seed),
            reorder_hold_us: cfg.reorder_hold_us,
        };
        Wire {
            latency_ns: cfg.latency_ns,
            faults: fc.is_active().then(|| Faults::new(&fc, stream)),
            held: Held::default(),
            in_flight: VecDeque::new(),
            counters: Arc::default(),
        }
    }

    fn send(&mut self, now: u64, b: SimBuf) {
        let at = now + self.latency_ns;
        let q = &mut self.in_flight;
        match &mut self.faults {
            Some(f) => {
                fault::apply(f, &mut self.held, now, b, |b| Some(b.clone()), &self.counters, |b| q.push_back((at, b)))
            }
            None => q.push_back((at, b)),
        }
    }

    fn recv(&mut self, now: u64, out: &mut SimBurst, max: usize) {
        if let Some(f) = &self.faults {
            if let Some(b) = self.held.expire(now, f.hold_ns()) {
                self.in_flight.push_back((now + self.latency_ns, b));
            }
        }
        while out.len() < max && self.in_flight.front().is_some_and(|&(at, _)| at <= now) {
            if let Some((_, b)) = self.in_flight.pop_front() {
                out.0.push(b);
            }
        }
    }
}

/// One end of a [`Link`]: what a [`SimDevice`] interface sends on and
/// receives from.
pub struct LinkEnd {
    tx: Arc<Mutex<Wire>>,
    rx: Arc<Mutex<Wire>>,
}

/// A point-to-point link between two simulated interfaces.
pub struct Link {
    ab: Arc<Mutex<Wire>>,
    ba: Arc<Mutex<Wire>>,
}

impl Link {
    /// A link with `cfg`'s latency and impairments.
    pub fn new(cfg: &LinkConfig) -> Link {
        Link { ab: Arc::new(Mutex::new(Wire::new(cfg, 0))), ba: Arc::new(Mutex::new(Wire::new(cfg, 1))) }
    }

    /// The end for side `a`.
    pub fn a(&self) -> LinkEnd {
        LinkEnd { tx: self.ab.clone(), rx: self.ba.clone() }
    }

    /// The end for side `b`.
    pub fn b(&self) -> LinkEnd {
        LinkEnd { tx: self.ba.clone(), rx: self.ab.clone() }
    }

    /// What the impairments did in direction `a -> b` and `b -> a`.
    pub fn fault_counters(&self) -> [Arc<FaultCounters>; 2] {
        [lock(&self.ab).counters.clone(), lock(&self.ba).counters.clone()]
    }

    /// Frames in flight (both directions).
    pub fn in_flight(&self) -> usize {
        lock(&self.ab).in_flight.len() + lock(&self.ba).in_flight.len()
    }
}

fn lock(w: &Mutex<Wire>) -> std::sync::MutexGuard<'_, Wire> {
    // A panic while holding it (in a test) leaves the queue usable.
    w.lock().unwrap_or_else(|e| e.into_inner())
}

/// A [`Device`] over link ends, one per interface, with a tx batch each.
pub struct SimDevice {
    ends: Vec<LinkEnd>,
    tx: Vec<SimBurst>,
    counters: Arc<Counters>,
    /// Buffers `alloc` may still hand out (`None`: unlimited).
    pub alloc_budget: Option<usize>,
    /// The NIC takes nothing while set (a full tx ring): a full batch stays
    /// and `tx_ready` says no, as a real port's does.
    pub tx_stalled: bool,
    /// Frames whose checksums this simulated NIC finished (asked through
    /// `request_tx_csum`, like a NIC's tx checksum offload).
    pub tx_csum_offloaded: u64,
    /// Large segments this simulated NIC cut (asked through `request_tso`).
    pub tso_frames: u64,
    /// `alloc_large` hands out large buffers (as a node with TSO or GSO on
    /// has a large pool).
    pub large_pool: bool,
    capture: Capture,
}

impl SimDevice {
    /// A device with `ends` as its interfaces, counting in `counters`.
    pub fn new(ends: Vec<LinkEnd>, counters: Arc<Counters>) -> SimDevice {
        let tx = ends.iter().map(|_| SimBurst::default()).collect();
        SimDevice {
            ends,
            tx,
            counters,
            alloc_budget: None,
            tx_stalled: false,
            tx_csum_offloaded: 0,
            tso_frames: 0,
            large_pool: false,
            capture: Capture::off(),
        }
    }

    fn flush_iface(&mut self, iface: usize, now: u64) {
        if self.tx_stalled {
            return;
        }
        if self.tx[iface].0.iter().any(|b| b.tso.is_some()) {
            let frames = std::mem::take(&mut self.tx[iface].0);
            for b in frames {
                match b.tso {
                    Some((l2, seg)) => {
                        self.tso_frames += 1;
                        self.tx[iface].0.extend(sim_tso_cut(&b, usize::from(l2), usize::from(seg).max(1)));
                    }
                    None => self.tx[iface].0.push(b),
                }
            }
        }
        for b in &mut self.tx[iface].0 {
            if let Some((l2, req)) = b.tx_csum.take() {
                wire::offload::tx_csum_finish(&mut b.data_mut()[usize::from(l2)..], req);
                self.tx_csum_offloaded += 1;
            }
        }
        let mut w = lock(&self.ends[iface].tx);
        let n = self.tx[iface].len();
        if self.capture.tx_on() {
            for b in &self.tx[iface].0 {
                self.capture.take(now, iface, Direction::Tx, b.data(), "");
            }
        }
        for b in self.tx[iface].drain() {
            w.send(now, b);
        }
        self.counters.add(Counter::TxPackets, n as u64);
    }
}

impl Device for SimDevice {
    type Buf = SimBuf;
    type Burst = SimBurst;

    fn interfaces(&self) -> usize {
        self.ends.len()
    }
    fn queue(&self, _iface: usize) -> u16 {
        0
    }
    fn alloc(&mut self) -> Option<SimBuf> {
        if let Some(n) = &mut self.alloc_budget {
            *n = n.checked_sub(1)?;
        }
        Some(SimBuf::default())
    }
    fn alloc_large(&mut self) -> Option<SimBuf> {
        if !self.large_pool {
            return None;
        }
        if let Some(n) = &mut self.alloc_budget {
            *n = n.checked_sub(1)?;
        }
        Some(SimBuf::with_size(LARGE_BUF_SIZE))
    }
    fn copy(&mut self, b: &SimBuf) -> Option<SimBuf> {
        Some(b.clone())
    }
    fn rx(&mut self, iface: usize, b: &mut SimBurst, max: usize, now: u64) -> usize {
        lock(&self.ends[iface].rx).recv(now, b, max.min(BURST));
        self.counters.add(Counter::RxPackets, b.len() as u64);
        if self.capture.rx_on() {
            for f in &b.0 {
                self.capture.take(now, iface, Direction::Rx, f.data(), "");
            }
        }
        b.len()
    }
    fn tx_push(&mut self, iface: usize, b: SimBuf, now: u64) {
        if self.tx[iface].is_full() {
            self.flush_iface(iface, now);
        }
        if self.tx[iface].push(b).is_err() {
            self.counters.inc(Counter::TxQueueFull);
        }
    }
    fn tx_ready(&mut self, iface: usize) -> bool {
        // The wire takes everything unless stalled: a full batch is flushed
        // on the next push.
        !(self.tx_stalled && self.tx[iface].is_full())
    }
    fn flush(&mut self, now: u64) {
        for iface in 0..self.tx.len() {
            if !self.tx[iface].is_empty() {
                self.flush_iface(iface, now);
            }
        }
    }
    fn capture(&mut self) -> &mut Capture {
        &mut self.capture
    }
}

/// One simulated interface: its link end and address.
pub struct SimIface {
    /// The link end it is plugged into.
    pub end: LinkEnd,
    /// Its MAC address.
    pub mac: MacAddress,
    /// Its address and prefix (a connected route is added for it).
    pub ip4: Cidr,
}

/// A simulated node: the real L2/L3 over a [`SimDevice`], with its own
/// tables, polled like a data-plane worker.
pub struct SimNode {
    /// The L2/L3 (and, through it, the device).
    pub l3: L3<SimDevice>,
    /// Interfaces and routes.
    pub net: NetTables,
    next_timer: u64,
}

/// How often the L2/L3 timers run (as on a worker).
const TIMER_PERIOD_NS: u64 = 10_000_000;

impl SimNode {
    /// A node with `ifaces` (interface `i` is port `i`).
    pub fn new(ifaces: Vec<SimIface>) -> SimNode {
        let mut net = NetTables::default();
        let mut ends = Vec::new();
        for (i, f) in ifaces.into_iter().enumerate() {
            net.interfaces.push(Interface {
                name: format!("sim{i}"),
                port_id: i as u16,
                mac: f.mac,
                ip4: Some(f.ip4),
                ip6: Vec::new(),
                accept_local: false,
            });
            let prefix = Cidr::new(f.ip4.network(), f.ip4.prefix_len()).unwrap_or(f.ip4);
            // A duplicate prefix on two interfaces keeps the first route.
            let _ = net.routes.add(Route { prefix, port: i as u16, next_hop: None });
            ends.push(f.end);
        }
        let counters = Arc::new(Counters::default());
        let dev = SimDevice::new(ends, counters.clone());
        SimNode { l3: L3::new(0, dev, counters, ArpConfig::default()), net, next_timer: 0 }
    }

    /// Our address on interface 0.
    pub fn ip(&self) -> Ipv4Addr {
        self.net.interfaces.first().and_then(|i| i.ip4).map_or(Ipv4Addr::UNSPECIFIED, |c| c.address())
    }

    /// One loop iteration at time `now`: deferred work, rx and input on
    /// every interface (deliveries to `stack`), the stack's own work, L2/L3
    /// timers, tx flush. Returns how much was done (0: idle).
    pub fn poll<S: Stack<L3<SimDevice>>>(&mut self, now: u64, stack: &mut S, shared: &S::Shared) -> usize {
        self.l3.now_ns = now;
        let mut work = self.l3.run_deferred(&self.net);
        let mut rx = SimBurst::default();
        // As a worker does: L2/L3 over the whole burst, then its UDP/TCP
        // packets to the stack as one burst (so TCP input coalesces them).
        let mut delivered: SmallVec<[Ip4Delivery<SimBuf>; BURST]> = SmallVec::new();
        let mut delivered6: SmallVec<[Ip6Delivery<SimBuf>; BURST]> = SmallVec::new();
        for iface in 0..self.l3.interfaces() {
            work += self.l3.rx(iface, &mut rx);
            for b in rx.drain() {
                if let Some(d) = self.l3.input(&self.net, iface, b) {
                    delivered.push(d);
                } else if let Some(d) = self.l3.take_ip6_delivery() {
                    delivered6.push(d);
                } else if let Some(d) = self.l3.take_large_delivery() {
                    stack.ip4_input_burst(&mut self.l3, &self.net, shared, delivered.drain(..));
                    for d in delivered6.drain(..) {
                        stack.ip6_input(&mut self.l3, &self.net, shared, d);
                    }
                    stack.large_input(&mut self.l3, &self.net, shared, &d);
                    self.l3.large_delivery_done(d);
                }
            }
            stack.ip4_input_burst(&mut self.l3, &self.net, shared, delivered.drain(..));
            for d in delivered6.drain(..) {
                stack.ip6_input(&mut self.l3, &self.net, shared, d);
            }
        }
        work += stack.poll(&mut self.l3, &self.net, shared);
        if now >= self.next_timer {
            self.l3.timers(&self.net);
            self.next_timer = now + TIMER_PERIOD_NS;
        }
        self.l3.flush();
        work
    }
}

/// A [`Stack`] with nothing above L3: deliveries are kept for the test.
#[derive(Default)]
pub struct Sink {
    /// UDP/TCP packets delivered to the node, oldest first.
    pub delivered: Vec<Ip4Delivery<SimBuf>>,
}

impl Stack<L3<SimDevice>> for Sink {
    type Shared = ();
    fn ip4_input(&mut self, _io: &mut L3<SimDevice>, _net: &NetTables, _shared: &(), d: Ip4Delivery<SimBuf>) {
        self.delivered.push(d);
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::fault::{FaultCounter, FaultInjector};
    use crate::seam::Seam;
    use crate::tables::PingWaiter;
    use wire::ipv4::Protocol;
    use wire::udp;

    const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

    fn pair(cfg: &LinkConfig) -> (Link, SimNode, SimNode) {
        let link = Link::new(cfg);
        let iface = |end, last: u8, ip| SimIface {
            end,
            mac: MacAddress([2, 0, 0, 0, 0, last]),
            ip4: Cidr::new(ip, 24).expect("prefix"),
        };
        let a = SimNode::new(vec![iface(link.a(), 1, A)]);
        let b = SimNode::new(vec![iface(link.b(), 2, B)]);
        (link, a, b)
    }

    /// Poll both nodes every 10 µs from `*now` for `ns` of virtual time.
    fn run(now: &mut u64, ns: u64, a: &mut SimNode, sa: &mut Sink, b: &mut SimNode, sb: &mut Sink) {
        let end = *now + ns;
        while *now < end {
            a.poll(*now, sa, &());
            b.poll(*now, sb, &());
            *now += 10_000;
        }
    }

    /// A UDP datagram from `a` to `b` carrying `seq`, sent through the seam.
    fn send_udp(a: &mut SimNode, seq: u32) {
        let mut m = a.l3.alloc_tx().expect("buffer");
        let buf = m.append(udp::HEADER_LEN + 4).expect("room");
        buf[udp::HEADER_LEN..].copy_from_slice(&seq.to_be_bytes());
        udp::Repr { src_port: 4000, dst_port: 5000, payload_len: 4 }
            .emit(&mut udp::Packet::new_unchecked(&mut buf[..]));
        let net = std::mem::take(&mut a.net);
        a.l3.ip4_output_l4(&net, m, A, B, Protocol::Udp);
        a.net = net;
    }

    fn payloads(s: &Sink) -> Vec<u32> {
        s.delivered
            .iter()
            .map(|d| {
                let p = &d.buf.data()[d.l4_offset + udp::HEADER_LEN..];
                u32::from_be_bytes([p[0], p[1], p[2], p[3]])
            })
            .collect()
    }

    #[test]
    fn ping_resolves_arp_and_measures_the_virtual_round_trip() {
        let (_link, mut a, mut b) = pair(&LinkConfig::default());
        let (tx, rx) = std::sync::mpsc::channel();
        a.net.pings.push(PingWaiter { ident: 7, tx });
        let (mut sa, mut sb) = (Sink::default(), Sink::default());
        let mut now = 1_000_000;
        a.l3.now_ns = now;
        assert!(a.l3.ping_send(&a.net, B, 7, 1, 56));
        run(&mut now, 1_000_000, &mut a, &mut sa, &mut b, &mut sb);
        let r = rx.try_recv().expect("a reply");
        assert_eq!((r.seq, r.from, r.ttl, r.bytes), (1, std::net::IpAddr::V4(B), 64, 56));
        // The timestamp is taken before ARP: ARP request and reply, echo
        // request and reply, 10 µs each way, each answered in the poll
        // that receives it.
        assert_eq!(r.rtt_ns, 40_000);
        let (ca, cb) = (&a.l3.counters, &b.l3.counters);
        assert_eq!(ca.get(Counter::ArpRequestsOut), 1);
        assert_eq!(cb.get(Counter::ArpRepliesOut), 1);
        assert_eq!(cb.get(Counter::IcmpEchoRequests), 1);
        assert_eq!(cb.get(Counter::IcmpEchoReplies), 1);
        assert_eq!(ca.get(Counter::IcmpPingReplies), 1);
        assert_eq!(ca.get(Counter::TxPackets), 2);
        assert_eq!(cb.get(Counter::RxPackets), 2);
    }

    #[test]
    fn the_seam_writes_the_ip_header_and_the_checksum() {
        let (_link, mut a, mut b) = pair(&LinkConfig::default());
        let (mut sa, mut sb) = (Sink::default(), Sink::default());
        let mut now = 0;
        send_udp(&mut a, 42);
        run(&mut now, 200_000, &mut a, &mut sa, &mut b, &mut sb);
        assert_eq!(payloads(&sb), [42]);
        let d = &sb.delivered[0];
        assert_eq!((d.src, d.dst, d.protocol), (A, B, Protocol::Udp));
        let ip = wire::ipv4::Packet::new_checked(&d.buf.data()[14..]).expect("ipv4");
        assert!(ip.verify_checksum());
        assert_eq!((ip.hop_limit(), ip.dont_frag(), ip.total_len()), (64, true, 32));
        let u = udp::Packet::new_checked(&d.buf.data()[d.l4_offset..]).expect("udp");
        assert!(u.verify_checksum(A, B));
        assert_eq!(b.l3.counters.get(Counter::Ip4LocalDelivered), 1);
    }

    #[test]
    fn capture_takes_rx_and_tx_frames_and_drops_with_their_reason() {
        use crate::capture::{Capture, CaptureSpec, Direction as Dir};
        let (_link, mut a, mut b) = pair(&LinkConfig::default());
        let spec = CaptureSpec { rx: true, tx: true, drop: true, iface: None, max: 64, snaplen: 2048 };
        *b.l3.device_mut().capture() = Capture::new(&spec);
        let (tx, _rx) = std::sync::mpsc::channel();
        a.net.pings.push(PingWaiter { ident: 7, tx });
        let (mut sa, mut sb) = (Sink::default(), Sink::default());
        let mut now = 1_000_000;
        a.l3.now_ns = now;
        assert!(a.l3.ping_send(&a.net, B, 7, 1, 56));
        run(&mut now, 1_000_000, &mut a, &mut sa, &mut b, &mut sb);
        let cap = std::mem::replace(b.l3.device_mut().capture(), Capture::off());
        let seen: Vec<(Dir, u16)> =
            cap.records().iter().map(|r| (r.dir, u16::from_be_bytes([cap.frame(r)[12], cap.frame(r)[13]]))).collect();
        // ARP request in, reply out, echo request in, reply out.
        assert_eq!(seen, [(Dir::Rx, 0x0806), (Dir::Tx, 0x0806), (Dir::Rx, 0x0800), (Dir::Tx, 0x0800)]);
        let request = cap.frame(&cap.records()[2]).to_vec();
        assert!(cap.records().iter().all(|r| r.time_ns > 1_000_000 && r.reason.is_empty()));

        // The echo request again with its IPv4 checksum broken: dropped, with the reason.
        *b.l3.device_mut().capture() = Capture::new(&CaptureSpec { rx: false, tx: false, ..spec });
        let mut bad = request.clone();
        bad[24] ^= 0xff;
        assert!(b.l3.input(&b.net, 0, SimBuf::from_bytes(&bad)).is_none());
        let cap = std::mem::replace(b.l3.device_mut().capture(), Capture::off());
        assert_eq!(cap.records().len(), 1);
        assert_eq!((cap.records()[0].dir, cap.records()[0].reason), (Dir::Drop, "ip4 bad header checksum"));
        assert_eq!(cap.frame(&cap.records()[0]), &bad[..]);
    }

    /// Send 2000 datagrams over a lossy link; what arrived, in order, and
    /// what the impairments did.
    fn lossy_run(seed: u64) -> (Vec<u32>, [u64; 6]) {
        let cfg = LinkConfig {
            loss_percent: 3.0,
            duplicate_percent: 2.0,
            reorder_percent: 3.0,
            reorder_hold_us: 50,
            seed,
            ..LinkConfig::default()
        };
        let (link, mut a, mut b) = pair(&cfg);
        let (mut sa, mut sb) = (Sink::default(), Sink::default());
        let mut now = 0;
        // Resolve first: ARP frames cross the same lossy link.
        send_udp(&mut a, 0);
        run(&mut now, 5_000_000_000, &mut a, &mut sa, &mut b, &mut sb);
        for seq in 1..2000 {
            send_udp(&mut a, seq);
            run(&mut now, 10_000, &mut a, &mut sa, &mut b, &mut sb);
        }
        run(&mut now, 1_000_000, &mut a, &mut sa, &mut b, &mut sb);
        let [ab, ba] = link.fault_counters();
        let f = |c: &FaultCounters| {
            [c.get(FaultCounter::Dropped), c.get(FaultCounter::Duplicated), c.get(FaultCounter::Reordered)]
        };
        let (x, y) = (f(&ab), f(&ba));
        (payloads(&sb), [x[0], x[1], x[2], y[0], y[1], y[2]])
    }

    #[test]
    fn a_seeded_lossy_link_repeats_exactly() {
        let (got, faults) = lossy_run(11);
        // Every impairment happened a few percent of the time...
        let [drops, dups, reorders, ..] = faults;
        assert!((20..=120).contains(&drops), "{faults:?}");
        assert!((10..=80).contains(&dups), "{faults:?}");
        assert!((20..=120).contains(&reorders), "{faults:?}");
        // ... and shows in what arrived: lost, doubled, out of order.
        let mut sorted = got.clone();
        sorted.sort_unstable();
        assert_ne!(got, sorted);
        sorted.dedup();
        assert!(sorted.len() < got.len());
        assert!(sorted.len() < 2000);
        // The same seed gives the same run, frame for frame; another seed
        // another one.
        assert_eq!(lossy_run(11), (got.clone(), faults));
        assert_ne!(lossy_run(12).0, got);
    }

    #[test]
    fn fault_injection_wraps_any_device() {
        let link = Link::new(&LinkConfig::default());
        let counters = Arc::new(Counters::default());
        let mut dev = FaultInjector::new(SimDevice::new(vec![link.a()], counters.clone()), 0);
        let cfg = FaultConfig {
            drop_percent: 100.0,
            direction: fault::Direction::Tx,
            seed: Some(1),
            ..FaultConfig::default()
        };
        dev.set_fault(&cfg);
        for i in 0..5u8 {
            dev.tx_push(0, SimBuf::from_bytes(&[i; 60]), 0);
        }
        dev.flush(0);
        assert_eq!(dev.counters().get(FaultCounter::Dropped), 5);
        assert_eq!(link.in_flight(), 0);
        dev.set_fault(&FaultConfig::default());
        dev.tx_push(0, SimBuf::from_bytes(&[9; 60]), 0);
        dev.flush(0);
        assert_eq!(link.in_flight(), 1);
        assert_eq!(counters.get(Counter::TxPackets), 1);
    }

    #[test]
    fn rx_faults_reorder_and_release_the_held_frame_once_off() {
        let link = Link::new(&LinkConfig { latency_ns: 0, ..LinkConfig::default() });
        let counters = Arc::new(Counters::default());
        let mut dev = FaultInjector::new(SimDevice::new(vec![link.a()], counters.clone()), 0);
        dev.set_fault(&FaultConfig { reorder_percent: 100.0, seed: Some(3), ..FaultConfig::default() });
        let mut peer = SimDevice::new(vec![link.b()], Arc::default());
        for i in 1..=3u8 {
            peer.tx_push(0, SimBuf::from_bytes(&[i; 60]), 0);
        }
        peer.flush(0);
        let mut b = SimBurst::default();
        dev.rx(0, &mut b, BURST, 0);
        // The first waits behind the second (which passes: one slot), the
        // third is held in its turn.
        let got: Vec<u8> = b.drain().map(|m| m.data()[0]).collect();
        assert_eq!(got, [2, 1]);
        assert_eq!(dev.counters().get(FaultCounter::Reordered), 2);
        assert_eq!(counters.get(Counter::RxPackets), 3);
        // Faults off: the held frame comes out on the next rx, nothing stays.
        dev.set_fault(&FaultConfig::default());
        dev.rx(0, &mut b, BURST, 1);
        let got: Vec<u8> = b.drain().map(|m| m.data()[0]).collect();
        assert_eq!(got, [3]);
        dev.rx(0, &mut b, BURST, 2);
        assert!(b.is_empty());
    }
}
