//! The I/O seam: what the session layer needs from the layer under it.
//!
//! Transports build L4 segments and datagrams; everything below L4 is the
//! seam's: the clock, tx buffers, the way out (routed once per run of
//! segments) and tx readiness (backpressure), IPv4 and IPv6 output of an
//! L4 payload (header writing, checksum-offload preparation, routing, ARP),
//! the NIC's checksum verdicts and flow hashes on receive, RSS-aware local
//! port choice, ICMP errors. [`L3`] implements it over any
//! [`Device`] — the DPDK ports in the node, [`crate::sim`]'s in-memory
//! links in tests — and [`Stack`] is what a worker drives above it. Both
//! are generic (monomorphised), never `dyn`, so the seam costs nothing per
//! packet.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::RangeInclusive;

use crate::device::{Device, PacketBuf};
use crate::l3::counters::{Counter, Counters};
use crate::l3::{Ip4Delivery, Ip6Delivery, LargeDelivery, PmtuReport, TxPath, L3};
use crate::tables::NetTables;
use wire::ipv4::Protocol;
use wire::offload::CsumStatus;
use wire::rss::ActiveOpen;

/// Bytes an L4 buffer from [`Seam::alloc_tx`] keeps free in front for the
/// headers the seam adds (IPv6, the larger IP header, and Ethernet), at least.
pub const L4_HEADROOM: usize = wire::ipv6::HEADER_LEN + wire::ethernet::HEADER_LEN;

/// The layer under the transports.
pub trait Seam: 'static {
    /// The packet buffer type.
    type Buf: PacketBuf;

    /// Time of the current loop iteration, ns.
    fn now_ns(&self) -> u64;

    /// The L2/L3 counters (transports count failed buffer allocations
    /// there, as the layer that owns the buffers).
    fn counters(&self) -> &Counters;

    /// An empty tx buffer with at least [`L4_HEADROOM`] bytes of headroom;
    /// `None` (counted) when the pool is empty.
    fn alloc_tx(&mut self) -> Option<Self::Buf>;

    /// An empty tx buffer from the large pool (about 64 KiB, for a large
    /// TCP segment), with the same headroom; `None` when there is none.
    fn alloc_tx_large(&mut self) -> Option<Self::Buf> {
        None
    }

    /// Most payload bytes one TCP segment to `dst` may carry because the
    /// interface that routes there cuts large segments (TSO in the NIC,
    /// GSO in software); 0: one MSS.
    fn tcp_large_max(&self, _net: &NetTables, _dst: Ipv4Addr) -> u32 {
        0
    }

    /// Send TCP segment `buf` (as for [`Seam::ip4_output_l4`]) whose
    /// payload may be larger than one MSS: it leaves as segments of
    /// `seg_size` payload bytes (cut by the NIC or in software). Only for a
    /// destination [`Seam::tcp_large_max`] allowed.
    fn ip4_output_large(&mut self, net: &NetTables, buf: Self::Buf, src: Ipv4Addr, dst: Ipv4Addr, seg_size: u16) {
        let _ = seg_size;
        self.ip4_output_l4(net, buf, src, dst, Protocol::Tcp)
    }

    /// The way out for segments from `src` to `dst` (route, next hop),
    /// looked up once for a run of segments; see [`L3::tx_path`].
    fn tx_path(&mut self, net: &NetTables, src: IpAddr, dst: IpAddr) -> TxPath;

    /// Whether the interface of `path` can take another frame now;
    /// transports that can wait check this before building a packet.
    fn tx_ready_path(&mut self, path: &TxPath) -> bool;

    /// Send the UDP or TCP segment in `buf` (as for [`Seam::ip4_output_l4`]
    /// and [`Seam::ip6_output_l4`]) the way `path` says.
    fn output_l4(&mut self, net: &NetTables, buf: Self::Buf, path: &TxPath, protocol: Protocol);

    /// Send the UDP or TCP segment in `buf` (it starts at the L4 header;
    /// ports and lengths set, checksum field anything) from `src` to `dst`:
    /// the seam adds the IPv4 header, has the checksums done by the NIC
    /// where it offers that and in software otherwise, routes and resolves.
    fn ip4_output_l4(&mut self, net: &NetTables, buf: Self::Buf, src: Ipv4Addr, dst: Ipv4Addr, protocol: Protocol);

    /// Send the UDP or TCP segment in `buf` (as for
    /// [`Seam::ip4_output_l4`]) from `src` to `dst` over IPv6: the seam
    /// fills the checksum over the IPv6 pseudo header, adds the IPv6
    /// header and sends it out of the interface that owns `src`.
    fn ip6_output_l4(&mut self, net: &NetTables, buf: Self::Buf, src: Ipv6Addr, dst: Ipv6Addr, protocol: Protocol);

    /// Send a UDP datagram larger than one buffer from `src` to `dst` in
    /// IP fragments, each built straight from `fill(offset, out)` (the
    /// payload's bytes `offset..offset + out.len()`) behind `header` (the
    /// UDP header, checksum anything); see [`L3::udp_output_fragmented`].
    /// False when buffers ran out and nothing was sent.
    fn udp_output_fragmented(
        &mut self,
        net: &NetTables,
        src: IpAddr,
        dst: IpAddr,
        header: &[u8; wire::udp::HEADER_LEN],
        payload_len: usize,
        fill: impl FnMut(usize, &mut [u8]),
    ) -> bool;

    /// Answer `datagram` (an IPv6 packet from its fixed header on, received
    /// on `iface`) with ICMPv6 destination unreachable `code` (rate
    /// limited; never to a group).
    fn icmp6_unreachable(&mut self, net: &NetTables, iface: usize, datagram: &[u8], code: u8);

    /// One path MTU report (ICMP "fragmentation needed", ICMPv6 "packet
    /// too big" quoting a packet of ours) received since the last call.
    fn pop_pmtu(&mut self) -> Option<PmtuReport>;

    /// The NIC's verdict on a delivered packet's UDP/TCP checksum
    /// ([`CsumStatus::Unknown`]: verify in software).
    fn l4_csum_status(&self, d: &Ip4Delivery<Self::Buf>) -> CsumStatus;

    /// [`Seam::l4_csum_status`] for an IPv6 delivery.
    fn l4_csum_status6(&self, d: &Ip6Delivery<Self::Buf>) -> CsumStatus;

    /// [`Seam::rx_flow_hash`] for an IPv6 delivery (Toeplitz over the IPv6 tuple).
    fn rx_flow_hash6(&self, d: &Ip6Delivery<Self::Buf>, sport: u16, dport: u16) -> Option<u32>;

    /// Our IPv6 source address for `dst` (for a link-local `dst`, the
    /// link-local of the interface it is reached on).
    fn source_for6(&self, net: &NetTables, dst: Ipv6Addr) -> Option<Ipv6Addr>;

    /// The RSS hash of a delivered packet whose ports are `sport`/`dport`
    /// (`None` when the interface has no predictable RSS).
    fn rx_flow_hash(&self, d: &Ip4Delivery<Self::Buf>, sport: u16, dport: u16) -> Option<u32>;

    /// A local port for an active open whose replies reach this worker
    /// (see [`wire::rss::pick_local_port`]).
    fn pick_local_port(
        &self,
        net: &NetTables,
        open: ActiveOpen,
        range: RangeInclusive<u16>,
        start: u16,
        attempts: u32,
        usable: impl FnMut(u16) -> bool,
    ) -> Option<u16>;

    /// Our address on the interface that routes to `dst`.
    fn source_for(&self, net: &NetTables, dst: Ipv4Addr) -> Option<Ipv4Addr>;

    /// The IP MTU of the interface that routes to `dst` (`None`: no route
    /// or unknown); TCP derives its MSS from it.
    fn path_mtu(&self, _net: &NetTables, _dst: IpAddr) -> Option<u16> {
        None
    }

    /// Answer a delivered packet with ICMP destination unreachable `code`
    /// (rate limited).
    fn icmp_unreachable(&mut self, net: &NetTables, d: &Ip4Delivery<Self::Buf>, code: u8);
    /// The transport drops delivered packet `d` for `reason` (the name of
    /// the counter it bumped): the packet capture takes it if it takes drops.
    fn capture_drop(&mut self, d: &Ip4Delivery<Self::Buf>, reason: &'static str);
    /// The transport refuses `frame` (a whole frame received on `iface`,
    /// IPv4 or IPv6) for `reason`: the packet capture takes it if it takes drops.
    fn capture_drop_frame(&mut self, iface: usize, frame: &[u8], reason: &'static str);
}

impl<D: Device + 'static> Seam for L3<D> {
    type Buf = D::Buf;

    #[inline]
    fn now_ns(&self) -> u64 {
        self.now_ns
    }

    #[inline]
    fn counters(&self) -> &Counters {
        &self.counters
    }

    #[inline]
    fn alloc_tx(&mut self) -> Option<D::Buf> {
        let b = self.alloc();
        if b.is_none() {
            self.counters.inc(Counter::MbufAllocFailed);
        }
        b
    }

    #[inline]
    fn alloc_tx_large(&mut self) -> Option<D::Buf> {
        self.alloc_large()
    }

    #[inline]
    fn tcp_large_max(&self, net: &NetTables, dst: Ipv4Addr) -> u32 {
        L3::tcp_large_max(self, net, dst)
    }

    #[inline]
    fn ip4_output_large(&mut self, net: &NetTables, buf: D::Buf, src: Ipv4Addr, dst: Ipv4Addr, seg_size: u16) {
        L3::ip4_output_large(self, net, buf, src, dst, seg_size)
    }

    #[inline]
    fn tx_path(&mut self, net: &NetTables, src: IpAddr, dst: IpAddr) -> TxPath {
        L3::tx_path(self, net, src, dst)
    }

    #[inline]
    fn tx_ready_path(&mut self, path: &TxPath) -> bool {
        L3::tx_ready_path(self, path)
    }

    #[inline]
    fn output_l4(&mut self, net: &NetTables, buf: D::Buf, path: &TxPath, protocol: Protocol) {
        L3::output_l4(self, net, buf, path, protocol)
    }

    #[inline]
    fn ip4_output_l4(&mut self, net: &NetTables, buf: D::Buf, src: Ipv4Addr, dst: Ipv4Addr, protocol: Protocol) {
        L3::ip4_output_l4(self, net, buf, src, dst, protocol)
    }

    #[inline]
    fn ip6_output_l4(&mut self, net: &NetTables, buf: D::Buf, src: Ipv6Addr, dst: Ipv6Addr, protocol: Protocol) {
        L3::ip6_output_l4(self, net, buf, src, dst, protocol)
    }

    fn udp_output_fragmented(
        &mut self,
        net: &NetTables,
        src: IpAddr,
        dst: IpAddr,
        header: &[u8; wire::udp::HEADER_LEN],
        payload_len: usize,
        mut fill: impl FnMut(usize, &mut [u8]),
    ) -> bool {
        L3::udp_output_fragmented(self, net, src, dst, header, payload_len, &mut fill)
    }

    fn icmp6_unreachable(&mut self, net: &NetTables, iface: usize, datagram: &[u8], code: u8) {
        L3::icmp6_unreachable(self, net, iface, datagram, code)
    }

    #[inline]
    fn pop_pmtu(&mut self) -> Option<PmtuReport> {
        L3::pop_pmtu(self)
    }

    #[inline]
    fn l4_csum_status(&self, d: &Ip4Delivery<D::Buf>) -> CsumStatus {
        L3::l4_csum_status(self, d)
    }

    #[inline]
    fn l4_csum_status6(&self, d: &Ip6Delivery<D::Buf>) -> CsumStatus {
        L3::l4_csum_status6(self, d)
    }

    #[inline]
    fn rx_flow_hash6(&self, d: &Ip6Delivery<D::Buf>, sport: u16, dport: u16) -> Option<u32> {
        L3::rx_flow_hash6(self, d, sport, dport)
    }

    #[inline]
    fn source_for6(&self, net: &NetTables, dst: Ipv6Addr) -> Option<Ipv6Addr> {
        L3::ip6_source_for(self, net, dst)
    }

    #[inline]
    fn rx_flow_hash(&self, d: &Ip4Delivery<D::Buf>, sport: u16, dport: u16) -> Option<u32> {
        L3::rx_flow_hash(self, d, sport, dport)
    }

    #[inline]
    fn pick_local_port(
        &self,
        net: &NetTables,
        open: ActiveOpen,
        range: RangeInclusive<u16>,
        start: u16,
        attempts: u32,
        usable: impl FnMut(u16) -> bool,
    ) -> Option<u16> {
        L3::pick_local_port(self, net, open, range, start, attempts, usable)
    }

    #[inline]
    fn source_for(&self, net: &NetTables, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        L3::source_for(self, net, dst)
    }

    #[inline]
    fn path_mtu(&self, net: &NetTables, dst: IpAddr) -> Option<u16> {
        L3::path_mtu(self, net, dst)
    }

    #[inline]
    fn icmp_unreachable(&mut self, net: &NetTables, d: &Ip4Delivery<D::Buf>, code: u8) {
        L3::icmp_unreachable(self, net, d, code)
    }
    #[inline]
    fn capture_drop(&mut self, d: &Ip4Delivery<D::Buf>, reason: &'static str) {
        L3::capture_drop(self, reason, d.iface, &d.buf)
    }
    #[inline]
    fn capture_drop_frame(&mut self, iface: usize, frame: &[u8], reason: &'static str) {
        L3::capture_drop_bytes(self, reason, iface, frame)
    }
}

/// The transport layer a worker drives above seam `S` (UDP/TCP sessions
/// live here).
pub trait Stack<S: Seam>: Send + 'static {
    /// Tables the main thread changes under the barrier (e.g. listeners).
    type Shared: Send + Sync + 'static;

    /// A UDP or TCP packet for one of our addresses.
    fn ip4_input(&mut self, io: &mut S, net: &NetTables, shared: &Self::Shared, d: Ip4Delivery<S::Buf>);

    /// The UDP and TCP packets of one rx burst for our addresses, in
    /// arrival order: a stack that coalesces them (TCP receive trains)
    /// overrides this; by default each goes to [`Stack::ip4_input`].
    fn ip4_input_burst(
        &mut self,
        io: &mut S,
        net: &NetTables,
        shared: &Self::Shared,
        ds: impl Iterator<Item = Ip4Delivery<S::Buf>>,
    ) {
        for d in ds {
            self.ip4_input(io, net, shared, d);
        }
    }

    /// A UDP or TCP packet for one of our IPv6 addresses; a stack without
    /// IPv6 transports counts and drops it.
    fn ip6_input(&mut self, io: &mut S, _net: &NetTables, _shared: &Self::Shared, _d: Ip6Delivery<S::Buf>) {
        io.counters().inc(Counter::Ip6TransportNotYet);
    }

    /// A reassembled UDP datagram too large for one buffer (from the
    /// worker's reassembly copy); a stack that cannot take it counts and
    /// drops it.
    fn large_input(&mut self, io: &mut S, _net: &NetTables, _shared: &Self::Shared, _d: &LargeDelivery) {
        io.counters().inc(Counter::ReasmTooBigForBuffer);
    }

    /// Periodic and application-driven work; returns how much was done
    /// (0 means idle).
    fn poll(&mut self, _io: &mut S, _net: &NetTables, _shared: &Self::Shared) -> usize {
        0
    }
}

/// Input of one received frame on `iface` through `l3` up to `stack`: what
/// L3 does not consume goes to [`Stack::ip4_input`] or [`Stack::ip6_input`].
/// The data plane's loop and [`crate::sim`] both call this.
#[inline]
pub fn input<D: Device + 'static, K: Stack<L3<D>>>(
    l3: &mut L3<D>,
    net: &NetTables,
    iface: usize,
    m: D::Buf,
    stack: &mut K,
    shared: &K::Shared,
) {
    if let Some(d) = l3.input(net, iface, m) {
        stack.ip4_input(l3, net, shared, d);
    } else if let Some(d) = l3.take_ip6_delivery() {
        stack.ip6_input(l3, net, shared, d);
    } else if let Some(d) = l3.take_large_delivery() {
        stack.large_input(l3, net, shared, &d);
        l3.large_delivery_done(d);
    }
}
