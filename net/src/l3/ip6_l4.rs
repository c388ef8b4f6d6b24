//! IPv6 under the transports: UDP/TCP delivery up to the session layer
//! and L4 output down from it, next to the IPv4 ones in [`super`].
//!
//! Kept apart from [`super::ip6`] (addresses, NDP, ICMPv6) so the two grow
//! independently. Scope today: link-local addresses. A packet to our
//! link-local arrives as an [`Ip6Delivery`]; output from one of our
//! link-locals leaves through the interface that owns it, on-link (the
//! neighbour cache resolves the peer). Checksums over the IPv6 pseudo
//! header are left to the NIC where the port offers UDP/TCP tx checksum
//! offload (as for IPv4), else computed here; the NIC's receive verdict
//! is used as for IPv4.

use std::net::Ipv6Addr;

use super::counters::Counter;
use super::L3;
use crate::device::{Device, PacketBuf};
use crate::tables::NetTables;
use wire::ipv4::Protocol;
use wire::ipv6::{self, next_header};
use wire::offload::{self, CsumSet, CsumStatus};

/// A UDP or TCP packet for one of our IPv6 addresses, handed to the
/// transport (the IPv6 twin of [`super::Ip4Delivery`]).
pub struct Ip6Delivery<B> {
    /// The frame (Ethernet header included; trimmed to the IPv6 payload length).
    pub buf: B,
    /// Interface it arrived on.
    pub iface: usize,
    /// Offset of the L4 header in the buffer (after any extension headers).
    pub l4_offset: usize,
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Protocol (UDP or TCP).
    pub protocol: Protocol,
}

impl<D: Device> L3<D> {
    /// Keep a UDP/TCP packet for the transports (called from IPv6 input;
    /// [`L3::take_ip6_delivery`] hands it on).
    pub(super) fn ip6_deliver(
        &mut self,
        iface: usize,
        m: D::Buf,
        l4_offset: usize,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        upper: u8,
    ) {
        let protocol = if upper == next_header::TCP { Protocol::Tcp } else { Protocol::Udp };
        self.counters.inc(Counter::Ip6LocalDelivered);
        self.ip6_pending = Some(Ip6Delivery { buf: m, iface, l4_offset, src, dst, protocol });
    }

    /// The IPv6 UDP/TCP packet the last [`L3::input`] produced, if any.
    #[inline]
    pub fn take_ip6_delivery(&mut self) -> Option<Ip6Delivery<D::Buf>> {
        self.ip6_pending.take()
    }

    /// Our source address for `dst`: for a link-local destination, the
    /// link-local of the first interface (endpoints carry no zone yet);
    /// otherwise the preferred configured address of the interface the
    /// IPv6 route table sends `dst` out of (see [`L3::source_for6`]).
    pub fn ip6_source_for(&self, net: &NetTables, dst: Ipv6Addr) -> Option<Ipv6Addr> {
        if dst.is_unicast_link_local() {
            return net.interfaces.first().map(|i| ipv6::link_local_from_mac(i.mac));
        }
        let (iface, _) = self.ip6_route(net, dst, None)?;
        super::ip6::global_source(net, iface, dst)
    }

    /// The interface whose link-local address is `src`.
    pub(super) fn ip6_iface_of(&mut self, net: &NetTables, src: Ipv6Addr) -> Option<usize> {
        (0..net.interfaces.len()).find(|&i| self.ip6_link_local(net, i) == src)
    }

    /// The interface a segment from `src` to `dst` leaves by, and its
    /// next hop: the interface that owns `src` when that is a link-local
    /// address (on-link), else the IPv6 route table's choice. `Err`: the
    /// counter saying why there is none.
    pub(super) fn ip6_l4_path(
        &mut self,
        net: &NetTables,
        src: Ipv6Addr,
        dst: Ipv6Addr,
    ) -> Result<(usize, Ipv6Addr), Counter> {
        if src.is_unicast_link_local() {
            return self.ip6_iface_of(net, src).map(|i| (i, dst)).ok_or(Counter::Ip6OutputNoInterface);
        }
        if net.local_interface6(src).is_none() {
            return Err(Counter::Ip6OutputNoInterface);
        }
        self.ip6_route(net, dst, None).ok_or(Counter::Ip6NoRoute)
    }

    /// Send a UDP or TCP segment (`m` starts at its L4 header; ports and
    /// lengths set, checksum field anything) from `src` to `dst`: add the
    /// IPv6 header, leave the checksum over the IPv6 pseudo header to the
    /// output interface's NIC where it offers that (else compute it), and
    /// send it out of the interface that owns `src` when that is a
    /// link-local address (on-link), else routed.
    pub fn ip6_output_l4(&mut self, net: &NetTables, m: D::Buf, src: Ipv6Addr, dst: Ipv6Addr, protocol: Protocol) {
        match self.ip6_l4_path(net, src, dst) {
            Ok((iface, next_hop)) => self.ip6_output_l4_via(net, m, src, dst, protocol, iface, next_hop),
            Err(c) => self.counters.inc(c),
        }
    }

    /// [`L3::ip6_output_l4`] out of `iface` to `next_hop`, chosen already.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn ip6_output_l4_via(
        &mut self,
        net: &NetTables,
        mut m: D::Buf,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        protocol: Protocol,
        iface: usize,
        next_hop: Ipv6Addr,
    ) {
        let len = m.len();
        let (nh, min) = match protocol {
            Protocol::Tcp => (next_header::TCP, 20),
            Protocol::Udp => (next_header::UDP, 8),
            _ => return self.counters.inc(Counter::Ip6OutputMalformed),
        };
        if len < min || len > usize::from(u16::MAX) {
            return self.counters.inc(Counter::Ip6OutputMalformed);
        }
        let ip = ipv6::Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: nh,
            payload_len: len,
            hop_limit: super::ip6::DEFAULT_HOP_LIMIT,
            traffic_class: 0,
            flow_label: 0,
        };
        let Some(hdr) = m.prepend(ipv6::HEADER_LEN) else {
            return self.counters.inc(Counter::MbufAllocFailed);
        };
        ip.emit(&mut ipv6::Packet::new_unchecked(hdr));
        // A datagram to be fragmented gets its checksum here: the NIC
        // would see only the pieces.
        let tx = if m.len() > self.ip_mtu(iface) { CsumSet::NONE } else { self.tx_csum_offload(iface) };
        match offload::tx_csum_prepare6(m.data_mut(), tx) {
            Ok(req) => m.request_tx_csum(super::ETH as u16, req),
            Err(_) => return self.counters.inc(Counter::Ip6OutputMalformed),
        }
        self.ip6_output(net, iface, m, next_hop)
    }

    /// [`L3::tx_ready`] for IPv6: whether the interface a segment from
    /// `src` to `dst` leaves by can take another frame now (true when
    /// there is no such interface: output counts that).
    #[inline]
    pub fn tx_ready6(&mut self, net: &NetTables, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        match self.ip6_l4_path(net, src, dst) {
            Ok((iface, _)) => self.tx_ready_iface(iface),
            Err(_) => true,
        }
    }

    /// The NIC's verdict on a delivered IPv6 packet's UDP/TCP checksum, as
    /// [`L3::l4_csum_status`] for IPv4.
    #[inline]
    pub fn l4_csum_status6(&self, d: &Ip6Delivery<D::Buf>) -> CsumStatus {
        self.l4_rx_verdict(d.iface, d.protocol, &d.buf)
    }

    /// The RSS hash of a delivered IPv6 packet whose ports are
    /// `sport`/`dport` (the NIC's, else Toeplitz over the IPv6 tuple with
    /// the port's key); `None` without predictable RSS.
    pub fn rx_flow_hash6(&self, d: &Ip6Delivery<D::Buf>, sport: u16, dport: u16) -> Option<u32> {
        let table = self.rss_table(d.iface)?;
        let l4 = if d.protocol == Protocol::Tcp { Protocol::Tcp } else { Protocol::Udp };
        Some(d.buf.nic_rss_hash().unwrap_or_else(|| table.flow_hash_v6(l4, &d.src, &d.dst, sport, dport)))
    }
}
