//! A worker's L2/L3: Ethernet input, ARP, IPv4 input and output, ICMP;
//! IPv6 link-local, NDP and ICMPv6 echo in [`ip6`].
//!
//! [`L3`] is the per-worker half (a [`Device`] with its queues and tx
//! batches, ARP caches, counters); [`NetTables`] is the shared half
//! (interfaces, routes, ping waiters) that the main thread changes only
//! under the barrier. Input parses with the [`wire`] views, answers ARP and
//! ICMP echo in place (the received buffer becomes the reply), and hands
//! UDP/TCP for local addresses up as an [`Ip4Delivery`]. Output routes,
//! resolves the next hop (queueing while ARP is pending) and batches frames
//! per interface. Every drop bumps a named counter ([`counters`]).
//!
//! `L3` also carries what the worker knows about each interface's NIC
//! ([`PortCaps`]: checksum offloads, RSS table) for the transports. It is
//! generic over the device (the DPDK ports, [`crate::sim`]'s in-memory
//! links, either wrapped in [`crate::fault::FaultInjector`]), monomorphised.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

pub mod counters;
mod frag;
pub mod ip6;
pub mod ip6_l4;
mod large;

pub use frag::{LargeDelivery, SESSION_FRAGMENT_MAX, UDP_MAX_PAYLOAD4, UDP_MAX_PAYLOAD6};
pub use ip6::PmtuReport;
pub use ip6_l4::Ip6Delivery;

use crate::arp_cache::{ArpCache, ArpConfig, Enqueue};
use crate::capture::Direction;
use crate::dad::DadConfig;
use crate::device::{Burst, Device, PacketBuf};
use crate::reassembly::{ReasmConfig, ReasmCounter, Reassembler};
use crate::tables::{MartianSource, NetTables, PingReply};
use crate::token_bucket::TokenBucket;
use counters::{Counter, Counters};
use smallvec::SmallVec;
use wire::ethernet::{self, Address as MacAddress, EtherType};
use wire::ipv4::{self, Protocol};
use wire::offload::{self, CsumSet, CsumStatus, Offloads};
use wire::rss::{self, ActiveOpen, RssTable};
use wire::{arp, icmp, Error as WireError};

/// Default TTL of packets the node originates.
pub const DEFAULT_TTL: u8 = 64;

/// The counter for a datagram dropped because its source is `m`.
pub const fn martian_counter(m: MartianSource) -> Counter {
    match m {
        MartianSource::Class(ipv4::Martian::ThisNetwork) => Counter::Ip4MartianSrcThisNetwork,
        MartianSource::Class(ipv4::Martian::Loopback) => Counter::Ip4MartianSrcLoopback,
        MartianSource::Class(ipv4::Martian::Multicast) => Counter::Ip4MartianSrcMulticast,
        MartianSource::Class(ipv4::Martian::Broadcast) | MartianSource::SubnetBroadcast => {
            Counter::Ip4MartianSrcBroadcast
        }
        MartianSource::Class(ipv4::Martian::Reserved) => Counter::Ip4MartianSrcReserved,
        MartianSource::Ours => Counter::Ip4MartianSrcOurs,
    }
}

/// A UDP or TCP packet for one of our addresses, handed to the transport.
pub struct Ip4Delivery<B> {
    /// The frame (Ethernet header included; trimmed to the IP total length).
    pub buf: B,
    /// Interface it arrived on.
    pub iface: usize,
    /// Offset of the L4 header in the mbuf.
    pub l4_offset: usize,
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Protocol (UDP or TCP).
    pub protocol: Protocol,
}

/// The way a transport's segments leave the node, from [`L3::tx_path`]:
/// routed once, then used for each segment of a run ([`L3::tx_ready_path`],
/// [`L3::output_l4`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxPath {
    /// IPv4 from `src` to `dst`, out of `iface` to `next_hop`.
    V4 {
        /// Source address.
        src: Ipv4Addr,
        /// Destination address.
        dst: Ipv4Addr,
        /// Output interface.
        iface: usize,
        /// The neighbour the frame goes to.
        next_hop: Ipv4Addr,
    },
    /// IPv6 from `src` to `dst`, out of `iface` to `next_hop`.
    V6 {
        /// Source address.
        src: Ipv6Addr,
        /// Destination address.
        dst: Ipv6Addr,
        /// Output interface.
        iface: usize,
        /// The neighbour the frame goes to.
        next_hop: Ipv6Addr,
    },
    /// No way out: output drops the segment, counting why (nothing for a
    /// tuple of mixed families, which transports never make).
    Unroutable(Option<Counter>),
}

const ETH: usize = ethernet::HEADER_LEN;
/// Most segments a chained packet may have (received or sent): the
/// transports' limit for the pieces of one payload.
pub const MAX_CHAIN_SEGMENTS: usize = 16;
const ARP_LEN: usize = 28;
const TIMESTAMP_LEN: usize = 8;

/// What workers need to know about an interface's NIC: checksum offloads
/// and, when RSS spreads flows predictably, the hash key and table.
#[derive(Debug, Clone, Default)]
pub struct PortCaps {
    /// Enabled checksum offloads.
    pub offloads: Offloads,
    /// The NIC's RSS key and table (`None`: one queue, RSS off, or
    /// unpredictable; any local port is as good as another).
    pub rss: Option<Arc<RssTable>>,
    /// The port's MTU (IP datagram bytes): input drops longer frames.
    pub mtu: u16,
    /// The NIC cuts large TCP segments itself (TSO is on).
    pub tso: bool,
    /// Large TCP segments are cut in software before the tx batch (GSO;
    /// only when `tso` is off).
    pub gso: bool,
    /// Most payload bytes TCP may put in one large segment on this port
    /// (with `tso` or `gso`); 0: no large segments.
    pub large_max: u32,
    /// Longest frame the NIC's TSO makes of one piece, headers (Ethernet
    /// included) and payload; 0: the MTU plus the Ethernet header (net_tap
    /// counts the Ethernet header inside the MTU, so it says its MTU).
    pub tso_frame_max: u16,
}

/// Control work shipped to a worker by RPC that needs the shared tables;
/// the loop runs it right after the RPCs.
#[derive(Debug, Clone, Copy)]
enum Deferred {
    Ping { dst: Ipv4Addr, ident: u16, seq: u16, size: usize },
    Garp { iface: usize },
    StaticNeighbour { iface: usize, ip: Ipv4Addr },
    StaticNeighbour6 { iface: usize, ip: std::net::Ipv6Addr },
    Ip6Up { iface: usize },
    Ping6 { dst: std::net::Ipv6Addr, scope: usize, ident: u16, seq: u16, size: usize },
}

/// The per-worker L2/L3 state over device `D`.
pub struct L3<D: Device> {
    /// Worker index.
    pub worker: usize,
    /// This worker's L2/L3 counters.
    pub counters: Arc<Counters>,
    /// Time of the current loop iteration (ns since node start).
    pub now_ns: u64,
    dev: D,
    arp: Vec<ArpCache<D::Buf>>,
    deferred: Vec<Deferred>,
    icmp_tokens: TokenBucket,
    caps: Vec<PortCaps>,
    /// Some interface takes large TCP segments (TSO or GSO).
    any_large: bool,
    /// Longest frame accepted per interface (Ethernet header + MTU).
    max_frame: Vec<usize>,
    /// IPv6 per interface (made on first use: see [`ip6`]).
    ip6: Vec<ip6::Ip6Iface<D::Buf>>,
    /// The IPv6 UDP/TCP packet the current input produced (see [`ip6_l4`]).
    ip6_pending: Option<Ip6Delivery<D::Buf>>,
    /// DAD parameters for the interfaces' configured addresses.
    dad_config: DadConfig,
    /// IPv4 and IPv6 reassembly (see [`frag`]).
    reasm: Reassembler,
    /// The reassembler's counts already copied into `counters`.
    reasm_seen: [u64; ReasmCounter::COUNT],
    /// The last reassembled datagram (heap, grown once to the largest).
    reasm_out: Vec<u8>,
    /// A datagram being fragmented on output.
    frag_in: Vec<u8>,
    /// One fragment being written.
    frag_scratch: Vec<u8>,
    /// The fragments of a session's datagram, until all are built.
    frag_bufs: Vec<D::Buf>,
    /// A reassembled UDP datagram too large for one buffer, for the
    /// transports (see [`L3::take_large_delivery`]).
    large_pending: Option<LargeDelivery>,
    /// State of the IPv6 fragment identification generator.
    frag_ident: u64,
    /// Path MTU reports (IPv4 and IPv6) for the transports.
    pmtu6: Vec<ip6::PmtuReport>,
}

/// ICMP errors a worker may send per second, and how many it may save up.
const ICMP_ERRORS_PER_S: u64 = 1000;
const ICMP_ERROR_BURST: u64 = 100;

impl<D: Device> L3<D> {
    /// Per-worker L2/L3 over `dev` (its interfaces in the order of the
    /// interface table); `counters` are the ones `dev` counts in too.
    pub fn new(worker: usize, dev: D, counters: Arc<Counters>, arp: ArpConfig) -> L3<D> {
        let n = dev.interfaces();
        L3 {
            worker,
            counters,
            now_ns: 0,
            dev,
            arp: (0..n).map(|_| ArpCache::new(arp.clone())).collect(),
            deferred: Vec::new(),
            icmp_tokens: TokenBucket::new(ICMP_ERRORS_PER_S, ICMP_ERROR_BURST),
            caps: vec![PortCaps::default(); n],
            any_large: false,
            max_frame: vec![usize::MAX; n],
            ip6: Vec::new(),
            ip6_pending: None,
            dad_config: DadConfig::default(),
            reasm: Reassembler::new(ReasmConfig::default()),
            reasm_seen: [0; ReasmCounter::COUNT],
            reasm_out: Vec::new(),
            frag_in: Vec::new(),
            frag_scratch: Vec::new(),
            frag_bufs: Vec::new(),
            large_pending: None,
            frag_ident: 0x9e37_79b9_7f4a_7c15 ^ ((worker as u64 + 1) << 40),
            pmtu6: Vec::with_capacity(ip6::PMTU_QUEUE),
        }
    }

    /// Change the DAD parameters (before the interfaces are used: tests
    /// shorten the delays).
    pub fn set_dad_config(&mut self, cfg: DadConfig) {
        self.dad_config = cfg;
        self.ip6_reset_dad();
    }

    /// The device.
    pub fn device(&self) -> &D {
        &self.dev
    }

    /// The device, writable (e.g. to change its fault injection).
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.dev
    }

    /// Record what interface `iface`'s NIC can do; call before the worker
    /// starts.
    pub fn set_port_caps(&mut self, iface: usize, caps: PortCaps) {
        // An MTU of 0 is unknown: no length check then.
        self.max_frame[iface] = if caps.mtu == 0 { usize::MAX } else { ETH + usize::from(caps.mtu) };
        self.caps[iface] = caps;
        self.any_large = self.caps.iter().any(|c| (c.tso || c.gso) && c.large_max > 0);
    }

    /// The checksum offloads of interface `iface`.
    #[inline]
    pub fn offloads(&self, iface: usize) -> Offloads {
        self.caps[iface].offloads
    }

    /// The checksums interface `iface`'s NIC computes on transmit.
    #[inline]
    pub fn tx_csum_offload(&self, iface: usize) -> CsumSet {
        self.caps[iface].offloads.tx
    }

    /// The RSS key and table of interface `iface`, when the queue of a flow
    /// is predictable.
    #[inline]
    pub fn rss_table(&self, iface: usize) -> Option<&RssTable> {
        self.caps[iface].rss.as_deref()
    }

    /// The rx queue this worker polls on interface `iface`.
    #[inline]
    pub fn queue_index(&self, iface: usize) -> u16 {
        self.dev.queue(iface)
    }

    /// Choose a local port for an active open so the peer's replies reach
    /// this worker: the interface that routes to `open.remote` decides the
    /// RSS table, this worker's queue on it the target (see
    /// [`rss::pick_local_port`] for `range`, `start`, `attempts`, `usable`
    /// and the single-queue fallback). With no route, no affinity is sought.
    pub fn pick_local_port(
        &self,
        net: &NetTables,
        open: ActiveOpen,
        range: std::ops::RangeInclusive<u16>,
        start: u16,
        attempts: u32,
        usable: impl FnMut(u16) -> bool,
    ) -> Option<u16> {
        // IPv6 (link-local only so far): the first interface, as
        // [`L3::ip6_source_for`] chooses.
        let port = match open.remote {
            std::net::IpAddr::V4(r) => net.routes.lookup(r).map(|r| r.port as usize),
            std::net::IpAddr::V6(_) => (!net.interfaces.is_empty()).then_some(0),
        };
        let (table, queue) = match port {
            Some(p) => (self.rss_table(p), self.queue_index(p)),
            None => (None, 0),
        };
        rss::pick_local_port(table, queue, open, range, start, attempts, usable)
    }

    /// The RSS hash of a delivered packet whose ports are `sport`/`dport`:
    /// the NIC's when it gave one, else computed with the port's key. `None`
    /// when the port has no predictable RSS (one queue, RSS off, or a NIC
    /// that does not report its table).
    pub fn rx_flow_hash(&self, d: &Ip4Delivery<D::Buf>, sport: u16, dport: u16) -> Option<u32> {
        let table = self.rss_table(d.iface)?;
        let l4 = if d.protocol == Protocol::Tcp { Protocol::Tcp } else { Protocol::Udp };
        Some(d.buf.nic_rss_hash().unwrap_or_else(|| table.flow_hash(l4, d.src, d.dst, sport, dport)))
    }

    /// The NIC's verdict on a delivered packet's UDP/TCP checksum;
    /// [`CsumStatus::Unknown`] (verify in software) unless the port checks
    /// that protocol's checksums on receive.
    #[inline]
    pub fn l4_csum_status(&self, d: &Ip4Delivery<D::Buf>) -> CsumStatus {
        self.l4_rx_verdict(d.iface, d.protocol, &d.buf)
    }

    /// The NIC's verdict on the UDP/TCP checksum of `buf`, received on
    /// `iface`, if the port checks `protocol`'s checksums on receive (either
    /// IP family); else [`CsumStatus::Unknown`].
    #[inline]
    fn l4_rx_verdict(&self, iface: usize, protocol: Protocol, buf: &D::Buf) -> CsumStatus {
        let rx = self.caps[iface].offloads.rx;
        let checked = match protocol {
            Protocol::Tcp => rx.tcp,
            Protocol::Udp => rx.udp,
            _ => false,
        };
        if checked {
            buf.rx_csum().l4
        } else {
            CsumStatus::Unknown
        }
    }

    /// Ask this worker to send an echo request (from an RPC).
    pub fn defer_ping(&mut self, dst: Ipv4Addr, ident: u16, seq: u16, size: usize) {
        self.deferred.push(Deferred::Ping { dst, ident, seq, size });
    }

    /// Ask this worker to send an ICMPv6 echo request (from an RPC);
    /// `scope` is the interface for a link-local `dst`.
    pub fn defer_ping6(&mut self, dst: std::net::Ipv6Addr, scope: usize, ident: u16, seq: u16, size: usize) {
        self.deferred.push(Deferred::Ping6 { dst, scope, ident, seq, size });
    }

    /// Ask this worker to send a gratuitous ARP on `iface` (from an RPC).
    pub fn defer_garp(&mut self, iface: usize) {
        self.deferred.push(Deferred::Garp { iface });
    }

    /// A static entry for `ip` on `iface` was just set (from an RPC, after
    /// the barrier published it): drop the dynamic entry it shadows, so
    /// deleting the static one later means asking again, and send what was
    /// waiting for `ip` to the static MAC.
    pub fn defer_static_neighbour(&mut self, iface: usize, ip: Ipv4Addr) {
        self.deferred.push(Deferred::StaticNeighbour { iface, ip });
    }

    /// [`L3::defer_static_neighbour`] for an IPv6 entry: the ND cache's
    /// entry for `ip` goes and what waited for it leaves to the static MAC.
    pub fn defer_static_neighbour6(&mut self, iface: usize, ip: std::net::Ipv6Addr) {
        self.deferred.push(Deferred::StaticNeighbour6 { iface, ip });
    }

    /// Interface `iface`'s link changed (from an RPC): forget its
    /// neighbours (the peer may come back with another MAC, as Linux
    /// flushes on carrier loss) and free the packets waiting for them, so
    /// the next packet asks again at once instead of after a request that
    /// was lost while the link was down waits out its retry interval.
    pub fn flush_neighbours(&mut self, iface: usize) {
        let Some(cache) = self.arp.get_mut(iface) else { return };
        let ips: Vec<Ipv4Addr> =
            cache.iter().map(|(ip, _, _)| ip).chain(cache.iter_pending().map(|(ip, _, _)| ip)).collect();
        for ip in ips {
            cache.remove(ip);
        }
        if let Some(s) = self.ip6.get_mut(iface) {
            let ips: Vec<_> = s.nd.iter(self.now_ns).map(|e| e.ip).collect();
            for ip in ips {
                s.nd.remove(ip);
            }
        }
    }

    /// Run deferred control work; returns how many items ran.
    #[inline]
    pub fn run_deferred(&mut self, net: &NetTables) -> usize {
        if self.deferred.is_empty() {
            return 0;
        }
        let work = std::mem::take(&mut self.deferred);
        for d in &work {
            match *d {
                Deferred::Ping { dst, ident, seq, size } => {
                    self.ping_send(net, dst, ident, seq, size);
                }
                Deferred::Garp { iface } => {
                    if let Some(ip) = net.interfaces.get(iface).and_then(|i| i.ip4) {
                        self.arp_request(net, iface, ip.address());
                    }
                }
                Deferred::StaticNeighbour { iface, ip } => {
                    let (Some(cache), Some(mac)) = (self.arp.get_mut(iface), net.neighbors.lookup(iface, ip)) else {
                        continue;
                    };
                    for p in cache.take(ip) {
                        self.eth_output(net, iface, p, mac, EtherType::Ipv4);
                    }
                }
                Deferred::StaticNeighbour6 { iface, ip } => self.ip6_static_neighbour_set(net, iface, ip),
                Deferred::Ip6Up { iface } => self.ip6_port_up(net, iface),
                Deferred::Ping6 { dst, scope, ident, seq, size } => {
                    self.ping6_send(net, scope, dst, ident, seq, size);
                }
            }
        }
        let n = work.len();
        self.deferred = work;
        self.deferred.clear();
        n
    }

    /// Number of interfaces.
    pub fn interfaces(&self) -> usize {
        self.dev.interfaces()
    }

    /// A fresh buffer, for transports that build packets.
    #[inline]
    pub fn alloc(&mut self) -> Option<D::Buf> {
        self.dev.alloc()
    }

    /// Receive a burst from interface `iface` into `b`; returns the packets
    /// in `b`.
    #[inline]
    pub fn rx(&mut self, iface: usize, b: &mut D::Burst) -> usize {
        self.dev.rx(iface, b, <D::Burst as Burst<D::Buf>>::CAPACITY, self.now_ns)
    }

    #[inline]
    fn drop(&mut self, c: Counter, iface: usize, m: &D::Buf) -> Option<Ip4Delivery<D::Buf>> {
        self.count_drop(c, iface, m);
        None
    }

    /// Count a drop of frame `m` (received on `iface`) and show it to the capture.
    #[inline]
    fn count_drop(&mut self, c: Counter, iface: usize, m: &D::Buf) {
        self.counters.inc(c);
        self.capture_drop(c.name(), iface, m);
    }

    /// Give frame `m`, received on `iface` and dropped for `reason` (its
    /// counter's name), to the packet capture when that takes drops.
    #[inline]
    pub fn capture_drop(&mut self, reason: &'static str, iface: usize, m: &D::Buf) {
        if m.segments() == 1 {
            return self.capture_drop_bytes(reason, iface, m.data());
        }
        let now = self.now_ns;
        let cap = self.dev.capture();
        if cap.drop_on() {
            let mut parts: [&[u8]; MAX_CHAIN_SEGMENTS] = [&[]; MAX_CHAIN_SEGMENTS];
            let mut n = 0;
            for s in std::iter::once(m.data()).chain(m.tail_segments()).take(MAX_CHAIN_SEGMENTS) {
                parts[n] = s;
                n += 1;
            }
            cap.take_parts(now, iface, Direction::Drop, &parts[..n], reason);
        }
    }

    /// [`L3::capture_drop`] of a frame's bytes.
    #[inline]
    pub fn capture_drop_bytes(&mut self, reason: &'static str, iface: usize, frame: &[u8]) {
        let now = self.now_ns;
        let cap = self.dev.capture();
        if cap.drop_on() {
            cap.take(now, iface, Direction::Drop, frame, reason);
        }
    }

    /// Ethernet input: consume the frame, or return it as a delivery for the
    /// transport layer. An IPv6 UDP/TCP packet is kept for
    /// [`L3::take_ip6_delivery`] instead (so the IPv4 path is unchanged).
    #[inline]
    pub fn input(&mut self, net: &NetTables, iface: usize, m: D::Buf) -> Option<Ip4Delivery<D::Buf>> {
        if m.segments() != 1 {
            return self.input_chained(net, iface, m);
        }
        let (dst, ethertype) = match ethernet::Frame::new_checked(m.data()) {
            Ok(f) => (f.dst_addr(), f.ethertype()),
            Err(_) => return self.drop(Counter::EthTruncated, iface, &m),
        };
        let ifc = &net.interfaces[iface];
        let ip6_group = ethertype == EtherType::Ipv6 && dst.is_multicast() && self.ip6_accepts_mac(net, iface, dst);
        if dst != ifc.mac && !dst.is_broadcast() && !ip6_group {
            return self.drop(Counter::EthNotForUs, iface, &m);
        }
        // A PMD may hand up frames longer than the MTU (net_tap does): a
        // host must not answer what it could not have received.
        if m.len() > self.max_frame[iface] {
            return self.drop(Counter::EthTooLong, iface, &m);
        }
        match ethertype {
            EtherType::Arp => {
                self.arp_input(net, iface, m);
                None
            }
            EtherType::Ipv4 => self.ip4_input(net, iface, m),
            EtherType::Ipv6 => {
                self.ip6_input(net, iface, m);
                None
            }
            EtherType::Vlan | EtherType::QinQ => self.drop(Counter::EthVlanTagged, iface, &m),
            EtherType::Unknown(_) => self.drop(Counter::EthUnknownType, iface, &m),
        }
    }

    /// [`L3::input`] of a chained frame (longer than one buffer): IPv4 TCP
    /// with its headers in the first segment goes on (TCP copies the payload
    /// out segment by segment); anything else is dropped and counted.
    #[cold]
    #[inline(never)]
    fn input_chained(&mut self, net: &NetTables, iface: usize, m: D::Buf) -> Option<Ip4Delivery<D::Buf>> {
        self.counters.inc(Counter::RxChained);
        if usize::from(m.segments()) > MAX_CHAIN_SEGMENTS {
            return self.drop(Counter::EthMultiSegment, iface, &m);
        }
        let (dst, ethertype) = match ethernet::Frame::new_checked(m.data()) {
            Ok(f) => (f.dst_addr(), f.ethertype()),
            Err(_) => return self.drop(Counter::EthTruncated, iface, &m),
        };
        if dst != net.interfaces[iface].mac && !dst.is_broadcast() {
            return self.drop(Counter::EthNotForUs, iface, &m);
        }
        if m.pkt_len() > self.max_frame[iface] {
            return self.drop(Counter::EthTooLong, iface, &m);
        }
        if ethertype != EtherType::Ipv4 {
            return self.drop(Counter::EthMultiSegment, iface, &m);
        }
        self.ip4_input(net, iface, m)
    }

    fn arp_input(&mut self, net: &NetTables, iface: usize, mut m: D::Buf) {
        let repr = match arp::Packet::new_checked(&m.data()[ETH..]).and_then(|p| arp::Repr::parse(&p)) {
            Ok(r) => r,
            Err(WireError::Unsupported) => return self.count_drop(Counter::ArpUnsupported, iface, &m),
            Err(_) => return self.count_drop(Counter::ArpMalformed, iface, &m),
        };
        let ifc = &net.interfaces[iface];
        let Some(ours) = ifc.ip4.map(|c| c.address()) else {
            return self.count_drop(Counter::ArpNotForUs, iface, &m);
        };
        let for_us = repr.target_protocol_addr == ours;
        match repr.operation {
            arp::Operation::Request => self.counters.inc(Counter::ArpRequestsIn),
            arp::Operation::Reply => self.counters.inc(Counter::ArpRepliesIn),
            arp::Operation::Unknown(_) => return self.count_drop(Counter::ArpUnsupported, iface, &m),
        }
        let sender = repr.source_protocol_addr;
        // An address probe (RFC 5227: sender 0.0.0.0) is answered but never
        // learnt; any other sender no host can have, or one claiming our
        // own address, is neither learnt nor answered.
        let probe = sender.is_unspecified();
        if !probe && net.martian_source(sender).is_some() {
            return self.count_drop(Counter::ArpMartian, iface, &m);
        }
        // RFC 826: learn the sender if we already know it or it talks to us;
        // never over a static entry (the operator's word wins).
        if !probe
            && (for_us || self.arp[iface].lookup(sender, self.now_ns).is_some())
            && net.neighbors.lookup(iface, sender).is_none()
        {
            let pending = self.arp[iface].insert(sender, repr.source_hardware_addr, self.now_ns);
            for p in pending {
                self.eth_output(net, iface, p, repr.source_hardware_addr, EtherType::Ipv4);
            }
        }
        if !for_us {
            return self.count_drop(Counter::ArpNotForUs, iface, &m);
        }
        if repr.operation != arp::Operation::Request {
            return;
        }
        // Turn the request into the reply, in place.
        let reply = arp::Repr {
            operation: arp::Operation::Reply,
            source_hardware_addr: ifc.mac,
            source_protocol_addr: ours,
            target_hardware_addr: repr.source_hardware_addr,
            target_protocol_addr: sender,
        };
        if !m.set_len(ETH + ARP_LEN) {
            return self.count_drop(Counter::ArpMalformed, iface, &m);
        }
        let data = m.data_mut();
        write_eth(data, repr.source_hardware_addr, ifc.mac, EtherType::Arp);
        reply.emit(&mut arp::Packet::new_unchecked(&mut data[ETH..]));
        self.counters.inc(Counter::ArpRepliesOut);
        self.tx_push(iface, m);
    }

    fn ip4_input(&mut self, net: &NetTables, iface: usize, mut m: D::Buf) -> Option<Ip4Delivery<D::Buf>> {
        let chained = m.segments() != 1;
        let (src, dst, protocol, header_len, total_len, fragment) = {
            let p = if chained {
                ipv4::Packet::new_checked_head(&m.data()[ETH..], m.pkt_len() - ETH)
            } else {
                ipv4::Packet::new_checked(&m.data()[ETH..])
            };
            let p = match p {
                Ok(p) => p,
                Err(WireError::Truncated) if chained => return self.drop(Counter::EthMultiSegment, iface, &m),
                Err(WireError::Truncated) => return self.drop(Counter::Ip4Truncated, iface, &m),
                Err(WireError::BadVersion) => return self.drop(Counter::Ip4BadVersion, iface, &m),
                Err(_) => return self.drop(Counter::Ip4Malformed, iface, &m),
            };
            // The NIC's verdict when it checks IPv4 headers, else ours.
            let hw = if self.caps[iface].offloads.rx.ip4 { m.rx_csum().ip } else { CsumStatus::Unknown };
            let good = match hw {
                CsumStatus::Good | CsumStatus::Verified => true,
                CsumStatus::Bad => false,
                CsumStatus::Unknown => p.verify_checksum(),
            };
            if !good {
                return self.drop(Counter::Ip4BadChecksum, iface, &m);
            }
            // RFC 1122 3.2.1.3, RFC 1812 5.3.7: no session, reply or ARP
            // for a source no host can have, nor for a destination that
            // cannot be on a wire.
            if let Some(ms) = net.martian_source(p.src_addr()) {
                return self.drop(martian_counter(ms), iface, &m);
            }
            if ipv4::martian_destination(p.dst_addr()).is_some() {
                return self.drop(Counter::Ip4MartianDst, iface, &m);
            }
            if p.header_len() as usize > ipv4::HEADER_LEN {
                match ipv4::check_options(p.options()) {
                    Ok(()) => {}
                    Err(ipv4::OptionsError::SourceRoute) => return self.drop(Counter::Ip4SourceRoute, iface, &m),
                    Err(ipv4::OptionsError::Malformed) => return self.drop(Counter::Ip4BadOptions, iface, &m),
                }
            }
            (
                p.src_addr(),
                p.dst_addr(),
                p.next_header(),
                p.header_len() as usize,
                p.total_len() as usize,
                p.more_frags() || p.frag_offset() != 0,
            )
        };
        if net.local_interface(dst).is_none() {
            return self.drop(Counter::Ip4NotLocal, iface, &m);
        }
        if chained && (fragment || protocol != Protocol::Tcp) {
            // Reassembly, ICMP and UDP take one-segment packets only.
            return self.drop(Counter::EthMultiSegment, iface, &m);
        }
        if fragment {
            return self.ip4_fragment_input(net, iface, m);
        }
        // Drop Ethernet padding so L4 sees exactly the IP payload.
        let want = ETH + total_len;
        if chained {
            if m.pkt_len() > want {
                m.truncate(want);
            }
        } else if m.len() > want {
            m.trim(m.len() - want);
        }
        let l4_offset = ETH + header_len;
        match protocol {
            Protocol::Icmp => {
                self.icmp_input(net, iface, m, l4_offset);
                None
            }
            Protocol::Udp | Protocol::Tcp => {
                self.counters.inc(Counter::Ip4LocalDelivered);
                Some(Ip4Delivery { buf: m, iface, l4_offset, src, dst, protocol })
            }
            Protocol::Unknown(_) => self.drop(Counter::Ip4UnknownProtocol, iface, &m),
        }
    }

    fn icmp_input(&mut self, net: &NetTables, iface: usize, mut m: D::Buf, l4: usize) {
        let repr = match icmp::Packet::new_checked(&m.data()[l4..]).and_then(|p| icmp::Repr::parse(&p)) {
            Ok(r) => r,
            Err(WireError::BadChecksum) => return self.count_drop(Counter::IcmpBadChecksum, iface, &m),
            Err(_) => return self.count_drop(Counter::IcmpMalformed, iface, &m),
        };
        match repr {
            icmp::Repr::EchoRequest { .. } => {
                self.counters.inc(Counter::IcmpEchoRequests);
                let ifc = &net.interfaces[iface];
                let data = m.data_mut();
                // Ethernet: back to the sender.
                let (src_mac, _) = {
                    let f = ethernet::Frame::new_unchecked(&data[..]);
                    (f.src_addr(), f.dst_addr())
                };
                write_eth(data, src_mac, ifc.mac, EtherType::Ipv4);
                {
                    let mut ip = ipv4::Packet::new_unchecked(&mut data[ETH..]);
                    let (s, d) = (ip.src_addr(), ip.dst_addr());
                    ip.set_src_addr(d);
                    ip.set_dst_addr(s);
                    ip.set_hop_limit(DEFAULT_TTL);
                    ip.fill_checksum();
                }
                let mut ic = icmp::Packet::new_unchecked(&mut data[l4..]);
                ic.set_msg_type(icmp::ECHO_REPLY);
                ic.fill_checksum();
                self.counters.inc(Counter::IcmpEchoReplies);
                self.tx_push(iface, m);
            }
            icmp::Repr::EchoReply { ident, seq_no, data_len } => {
                let Some(w) = net.pings.iter().find(|w| w.ident == ident) else {
                    return self.counters.inc(Counter::IcmpUnhandledType);
                };
                self.counters.inc(Counter::IcmpPingReplies);
                let data = m.data();
                let ip = ipv4::Packet::new_unchecked(&data[ETH..]);
                let ic = icmp::Packet::new_unchecked(&data[l4..]);
                let mut ts = [0u8; TIMESTAMP_LEN];
                let payload = ic.data();
                let rtt_ns = if payload.len() >= TIMESTAMP_LEN {
                    ts.copy_from_slice(&payload[..TIMESTAMP_LEN]);
                    self.now_ns.saturating_sub(u64::from_be_bytes(ts))
                } else {
                    0
                };
                let _ = w.tx.send(PingReply {
                    seq: seq_no,
                    from: ip.src_addr().into(),
                    ttl: ip.hop_limit(),
                    bytes: data_len,
                    rtt_ns,
                });
            }
            icmp::Repr::DstUnreachable { code: icmp::FRAG_NEEDED } => {
                self.counters.inc(Counter::IcmpFragNeededIn);
                self.icmp_frag_needed(net, &m.data()[l4..]);
            }
            _ => self.counters.inc(Counter::IcmpUnhandledType),
        }
    }

    /// A "fragmentation needed" (`msg` from its ICMP header on): queued for
    /// the transports when it quotes a packet from one of our addresses
    /// (RFC 5927 4.1). A next-hop MTU of 0 (a router older than RFC 1191)
    /// or under 68 is taken as 576; the transports clamp further.
    fn icmp_frag_needed(&mut self, net: &NetTables, msg: &[u8]) {
        let mtu = msg.get(6..8).map_or(0, |b| u32::from(u16::from_be_bytes([b[0], b[1]])));
        let mtu = if mtu < 68 { 576 } else { mtu };
        // The quote is cut short of its total length: its header is all that is read.
        let quoted = &msg[icmp::HEADER_LEN.min(msg.len())..];
        let hl = usize::from(quoted.first().map_or(0, |b| b & 0x0f)) * 4;
        if quoted.len() < ipv4::HEADER_LEN || quoted[0] >> 4 != 4 || hl < ipv4::HEADER_LEN || quoted.len() < hl {
            return self.counters.inc(Counter::IcmpFragNeededBogus);
        }
        let inner = ipv4::Packet::new_unchecked(quoted);
        if net.local_interface(inner.src_addr()).is_none() {
            return self.counters.inc(Counter::IcmpFragNeededBogus);
        }
        let l4 = &quoted[hl.min(quoted.len())..];
        let protocol = quoted[9];
        let report = ip6::PmtuReport::new(inner.src_addr().into(), inner.dst_addr().into(), protocol, l4, mtu);
        self.pmtu_push(report);
    }

    /// Queue a path MTU report for the transports (bounded: counted when full).
    fn pmtu_push(&mut self, r: ip6::PmtuReport) {
        if self.pmtu6.len() >= ip6::PMTU_QUEUE {
            return self.counters.inc(Counter::Icmp6PmtuQueueFull);
        }
        self.pmtu6.push(r);
    }

    /// Send an ICMP echo request (the node's own `ping`). The payload starts
    /// with the send time so the reply carries its own round-trip time.
    pub fn ping_send(&mut self, net: &NetTables, dst: Ipv4Addr, ident: u16, seq: u16, size: usize) -> bool {
        let Some(src) = self.source_for(net, dst) else {
            self.counters.inc(Counter::Ip4NoRoute);
            return false;
        };
        let Some(mut m) = self.dev.alloc() else {
            self.counters.inc(Counter::MbufAllocFailed);
            return false;
        };
        let size = size.max(TIMESTAMP_LEN);
        let ip_repr = ipv4::Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: Protocol::Icmp,
            payload_len: 8 + size,
            hop_limit: DEFAULT_TTL,
        };
        let total = 20 + 8 + size;
        let Some(buf) = m.append(total) else {
            self.counters.inc(Counter::MbufAllocFailed);
            return false;
        };
        ip_repr.emit(&mut ipv4::Packet::new_unchecked(&mut buf[..20]));
        let icmp_repr = icmp::Repr::EchoRequest { ident, seq_no: seq, data_len: size };
        let mut ic = icmp::Packet::new_unchecked(&mut buf[20..]);
        icmp_repr.emit(&mut ic);
        let d = ic.data_mut();
        d[..TIMESTAMP_LEN].copy_from_slice(&self.now_ns.to_be_bytes());
        for (i, b) in d[TIMESTAMP_LEN..].iter_mut().enumerate() {
            *b = i as u8;
        }
        ic.fill_checksum();
        self.ip4_output(net, m, dst);
        true
    }

    /// Answer a packet for a closed port (or an unknown protocol) with ICMP
    /// destination unreachable, quoting its IP header and first 8 payload
    /// bytes (RFC 1122 3.2.2). Rate limited per worker, as hosts must be
    /// (RFC 1812 4.3.2.8), so a port scan cannot turn the node into a
    /// packet source.
    pub fn icmp_unreachable(&mut self, net: &NetTables, d: &Ip4Delivery<D::Buf>, code: u8) {
        if !self.icmp_tokens.take(self.now_ns) {
            return self.counters.inc(Counter::IcmpRateLimited);
        }
        let data = d.buf.data();
        let quote = (d.l4_offset - ETH + icmp::ERROR_QUOTE_LEN).min(data.len() - ETH);
        let Some(mut m) = self.dev.alloc() else {
            return self.counters.inc(Counter::MbufAllocFailed);
        };
        let total = ipv4::HEADER_LEN + icmp::HEADER_LEN + quote;
        let Some(buf) = m.append(total) else {
            return self.counters.inc(Counter::MbufAllocFailed);
        };
        let l4 = ipv4::HEADER_LEN;
        buf[l4 + icmp::HEADER_LEN..].copy_from_slice(&data[ETH..ETH + quote]);
        icmp::Repr::DstUnreachable { code }.emit(&mut icmp::Packet::new_unchecked(&mut buf[l4..]));
        let ip = ipv4::Repr {
            src_addr: d.dst,
            dst_addr: d.src,
            next_header: Protocol::Icmp,
            payload_len: icmp::HEADER_LEN + quote,
            hop_limit: DEFAULT_TTL,
        };
        ip.emit(&mut ipv4::Packet::new_unchecked(&mut buf[..l4]));
        self.counters.inc(Counter::IcmpUnreachSent);
        self.ip4_output(net, m, d.src);
    }

    /// The IP MTU of the interface packets to `dst` leave by (`None`: no
    /// route, or the port's MTU is unknown). Transports size their
    /// segments by it (TCP's MSS).
    pub fn path_mtu(&self, net: &NetTables, dst: std::net::IpAddr) -> Option<u16> {
        let iface = match dst {
            std::net::IpAddr::V4(d) => net.routes.lookup(d)?.port as usize,
            std::net::IpAddr::V6(d) => self.ip6_route(net, d, None)?.0,
        };
        self.caps.get(iface).map(|c| c.mtu).filter(|&m| m != 0)
    }

    /// Our address on the interface that routes to `dst`.
    pub fn source_for(&self, net: &NetTables, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        let r = net.routes.lookup(dst)?;
        net.interfaces.get(r.port as usize)?.ip4.map(|c| c.address())
    }

    /// Send an IPv4 packet (the mbuf starts at its IP header, checksum
    /// filled): route, resolve the next hop, add Ethernet, batch for tx.
    pub fn ip4_output(&mut self, net: &NetTables, m: D::Buf, dst: Ipv4Addr) {
        let Some(route) = net.routes.lookup(dst) else {
            return self.counters.inc(Counter::Ip4NoRoute);
        };
        self.ip4_output_via(net, m, route.port as usize, route.next_hop.unwrap_or(dst));
    }

    /// Send a UDP or TCP segment (`m` starts at its L4 header; ports and
    /// lengths set, checksum field anything) from `src` to `dst`: add the
    /// IPv4 header, then like [`L3::ip4_output`], with the checksums done by
    /// the output interface's NIC where it offers that, and in software
    /// otherwise.
    pub fn ip4_output_l4(&mut self, net: &NetTables, m: D::Buf, src: Ipv4Addr, dst: Ipv4Addr, protocol: Protocol) {
        let Some(route) = net.routes.lookup(dst) else {
            return self.counters.inc(Counter::Ip4NoRoute);
        };
        let (iface, next_hop) = (route.port as usize, route.next_hop.unwrap_or(dst));
        self.ip4_output_l4_via(net, m, src, dst, protocol, iface, next_hop);
    }

    /// [`L3::ip4_output_l4`] out of `iface` to `next_hop`, routed already.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn ip4_output_l4_via(
        &mut self,
        net: &NetTables,
        mut m: D::Buf,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: Protocol,
        iface: usize,
        next_hop: Ipv4Addr,
    ) {
        let ip = ipv4::Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: protocol,
            payload_len: m.pkt_len(),
            hop_limit: DEFAULT_TTL,
        };
        let Some(hdr) = m.prepend(ipv4::HEADER_LEN) else {
            return self.counters.inc(Counter::MbufAllocFailed);
        };
        ip.emit(&mut ipv4::Packet::new_unchecked(hdr));
        if m.segments() != 1 {
            return self.ip4_output_chained(net, m, iface, next_hop);
        }
        // A datagram to be fragmented gets its checksums here: the NIC
        // would see only the pieces.
        let fragment = m.len() > self.ip_mtu(iface);
        let tx = if fragment { CsumSet::default() } else { self.caps[iface].offloads.tx };
        match offload::tx_csum_prepare(m.data_mut(), tx) {
            Ok(req) => m.request_tx_csum(ETH as u16, req),
            Err(_) => return self.counters.inc(Counter::Ip4OutputMalformed),
        }
        if fragment {
            return self.ip4_fragment_output(net, m, iface, next_hop);
        }
        self.ip4_output_resolve(net, m, iface, next_hop);
    }

    /// The rest of [`L3::ip4_output_l4`] for a chain (a segment longer than
    /// one buffer): checksums over every segment (in software unless the
    /// port offloads them), never fragmented (TCP sizes it to the MTU).
    #[cold]
    #[inline(never)]
    fn ip4_output_chained(&mut self, net: &NetTables, mut m: D::Buf, iface: usize, next_hop: Ipv4Addr) {
        if m.pkt_len() > self.ip_mtu(iface) || usize::from(m.segments()) > MAX_CHAIN_SEGMENTS {
            return self.counters.inc(Counter::Ip4OutputMalformed);
        }
        let tx = self.caps[iface].offloads.tx;
        let req = {
            let mut segs = m.segments_mut();
            let Some(first) = segs.next() else { return };
            let mut tail: [&[u8]; MAX_CHAIN_SEGMENTS] = [&[]; MAX_CHAIN_SEGMENTS];
            let mut n = 0;
            for s in segs.take(MAX_CHAIN_SEGMENTS) {
                tail[n] = s;
                n += 1;
            }
            offload::tx_csum_prepare_parts(first, &tail[..n], tx)
        };
        match req {
            Ok(req) => m.request_tx_csum(ETH as u16, req),
            Err(_) => return self.counters.inc(Counter::Ip4OutputMalformed),
        }
        self.counters.inc(Counter::TxChained);
        self.ip4_output_via(net, m, iface, next_hop);
    }

    fn ip4_output_via(&mut self, net: &NetTables, m: D::Buf, iface: usize, next_hop: Ipv4Addr) {
        if m.len() > self.ip_mtu(iface) {
            return self.ip4_fragment_output(net, m, iface, next_hop);
        }
        self.ip4_output_resolve(net, m, iface, next_hop);
    }

    /// The last step of IPv4 output for a datagram that fits the MTU:
    /// resolve `next_hop` (static entry, ARP cache, else queue and ask) and
    /// batch the frame.
    #[inline]
    fn ip4_output_resolve(&mut self, net: &NetTables, m: D::Buf, iface: usize, next_hop: Ipv4Addr) {
        // Static entries first (one branch when there are none), then ours.
        let mac = net.neighbors.lookup(iface, next_hop).or_else(|| self.arp[iface].lookup(next_hop, self.now_ns));
        if let Some(mac) = mac {
            return self.eth_output(net, iface, m, mac, EtherType::Ipv4);
        }
        // Never resolve a broadcast, multicast or reserved address, or
        // ourselves: nothing the node sends may go there (the cache never
        // holds such an entry, so this costs nothing on the common path).
        if net.martian_source(next_hop).is_some() {
            drop(m);
            return self.counters.inc(Counter::Ip4OutputMartian);
        }
        match self.arp[iface].enqueue(next_hop, m, self.now_ns) {
            Enqueue::SendRequest => self.arp_request(net, iface, next_hop),
            Enqueue::Queued => {}
            Enqueue::Dropped(p) => {
                drop(p);
                self.counters.inc(Counter::ArpQueueFull);
            }
        }
    }

    /// The way out for a transport's segments from `src` to `dst` (route
    /// and next hop: IPv4 routed, IPv6 as [`L3::ip6_output_l4`] chooses),
    /// looked up once for a run of segments: [`L3::tx_ready_path`] before
    /// each, [`L3::output_l4`] to send it. The tables cannot change in
    /// between (the main thread changes them only under the barrier).
    #[inline]
    pub fn tx_path(&mut self, net: &NetTables, src: IpAddr, dst: IpAddr) -> TxPath {
        match (src, dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => match net.routes.lookup(dst) {
                Some(r) => TxPath::V4 { src, dst, iface: r.port as usize, next_hop: r.next_hop.unwrap_or(dst) },
                None => TxPath::Unroutable(Some(Counter::Ip4NoRoute)),
            },
            (IpAddr::V6(src), IpAddr::V6(dst)) => match self.ip6_l4_path(net, src, dst) {
                Ok((iface, next_hop)) => TxPath::V6 { src, dst, iface, next_hop },
                Err(c) => TxPath::Unroutable(Some(c)),
            },
            // A transport's tuple is of one family.
            _ => TxPath::Unroutable(None),
        }
    }

    /// [`L3::tx_ready_iface`] for the interface of `path` (true when it
    /// has none: output counts that).
    #[inline]
    pub fn tx_ready_path(&mut self, path: &TxPath) -> bool {
        match *path {
            TxPath::V4 { iface, .. } | TxPath::V6 { iface, .. } => self.tx_ready_iface(iface),
            TxPath::Unroutable(_) => true,
        }
    }

    /// Send a UDP or TCP segment (as for [`L3::ip4_output_l4`] and
    /// [`L3::ip6_output_l4`]) the way `path` says ([`L3::tx_path`]).
    #[inline]
    pub fn output_l4(&mut self, net: &NetTables, m: D::Buf, path: &TxPath, protocol: Protocol) {
        match *path {
            TxPath::V4 { src, dst, iface, next_hop } => {
                self.ip4_output_l4_via(net, m, src, dst, protocol, iface, next_hop)
            }
            TxPath::V6 { src, dst, iface, next_hop } => {
                self.ip6_output_l4_via(net, m, src, dst, protocol, iface, next_hop)
            }
            TxPath::Unroutable(c) => {
                drop(m);
                if let Some(c) = c {
                    self.counters.inc(c);
                }
            }
        }
    }

    fn eth_output(&mut self, net: &NetTables, iface: usize, mut m: D::Buf, dst: MacAddress, ty: EtherType) {
        let src = net.interfaces[iface].mac;
        let Some(hdr) = m.prepend(ETH) else {
            return self.counters.inc(Counter::MbufAllocFailed);
        };
        write_eth(hdr, dst, src, ty);
        self.tx_push(iface, m);
    }

    /// Send an ARP request for `target` out of `iface` (gratuitous when the
    /// target is our own address).
    pub fn arp_request(&mut self, net: &NetTables, iface: usize, target: Ipv4Addr) {
        let ifc = &net.interfaces[iface];
        let Some(ours) = ifc.ip4.map(|c| c.address()) else { return };
        let Some(mut m) = self.dev.alloc() else {
            return self.counters.inc(Counter::MbufAllocFailed);
        };
        let Some(buf) = m.append(ETH + ARP_LEN) else {
            return self.counters.inc(Counter::MbufAllocFailed);
        };
        write_eth(buf, MacAddress::BROADCAST, ifc.mac, EtherType::Arp);
        let req = arp::Repr {
            operation: arp::Operation::Request,
            source_hardware_addr: ifc.mac,
            source_protocol_addr: ours,
            target_hardware_addr: MacAddress([0; 6]),
            target_protocol_addr: target,
        };
        req.emit(&mut arp::Packet::new_unchecked(&mut buf[ETH..]));
        self.counters.inc(Counter::ArpRequestsOut);
        self.tx_push(iface, m);
    }

    /// Periodic work: ARP retries, failures and expiry.
    pub fn timers(&mut self, net: &NetTables) {
        for iface in 0..self.arp.len() {
            let mut retry: SmallVec<[Ipv4Addr; 8]> = SmallVec::new();
            let mut failed = 0u64;
            self.arp[iface].poll(self.now_ns, &mut |ip| retry.push(ip), &mut |p: D::Buf| {
                drop(p);
                failed += 1;
            });
            self.counters.add(Counter::ArpResolutionFailed, failed);
            for ip in retry {
                self.arp_request(net, iface, ip);
            }
        }
        self.ip6_timers(net);
        self.reasm_timers(net);
    }

    /// The ARP entries of `iface`: (address, MAC, expiry time in ns).
    pub fn arp_entries(&self, iface: usize) -> Vec<(Ipv4Addr, MacAddress, u64)> {
        self.arp.get(iface).map(|c| c.iter().collect()).unwrap_or_default()
    }

    /// Queue a finished frame for transmission on `iface`.
    #[inline]
    pub fn tx_push(&mut self, iface: usize, m: D::Buf) {
        self.dev.tx_push(iface, m, self.now_ns);
    }

    /// Whether the interface that routes to `dst` can take another frame
    /// now ([`L3::tx_ready_iface`]; true without a route: output counts that).
    #[inline]
    pub fn tx_ready(&mut self, net: &NetTables, dst: Ipv4Addr) -> bool {
        match net.routes.lookup(dst) {
            Some(r) => self.tx_ready_iface(r.port as usize),
            None => true,
        }
    }

    /// Whether interface `iface` can take another frame now: its tx batch
    /// has room, or the NIC took some of it when asked. Transports that
    /// can wait (TCP keeps unsent data in its fifo) check this before
    /// building a packet, so a full ring pushes back instead of dropping.
    /// True for an interface this worker has no queue on.
    #[inline]
    pub fn tx_ready_iface(&mut self, iface: usize) -> bool {
        if iface >= self.dev.interfaces() {
            return true;
        }
        if !self.dev.tx_ready(iface) {
            self.counters.inc(Counter::TxBackpressure);
            return false;
        }
        true
    }

    /// Transmit everything batched; what the NIC refuses stays batched for
    /// the next call.
    #[inline]
    pub fn flush(&mut self) {
        self.dev.flush(self.now_ns);
    }
}

#[inline]
fn write_eth(buf: &mut [u8], dst: MacAddress, src: MacAddress, ty: EtherType) {
    let mut f = ethernet::Frame::new_unchecked(buf);
    f.set_dst_addr(dst);
    f.set_src_addr(src);
    f.set_ethertype(ty);
}
