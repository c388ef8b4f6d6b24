//! IP fragments in a worker's L3: fragments for us go into the worker's
//! [`Reassembler`] (bounded: see [`crate::reassembly`]); a completed
//! datagram is copied out of it into a per-worker heap buffer (allocated
//! once, grown to the largest datagram seen) and from there into a fresh
//! buffer and through IP input again, as if it had arrived whole. The
//! device's buffers are single segments: a datagram that does not fit one
//! is answered from the heap buffer if it is an echo request (the reply
//! fragmented on the way out), and otherwise dropped and counted (the
//! transports take one buffer per datagram).
//!
//! On output, a datagram longer than the interface's MTU is copied to the
//! heap, cut with [`fragment_v4`]/[`fragment_v6`] and each fragment sent in
//! a buffer of its own. IPv6 fragment identifications come from a
//! per-worker xorshift (RFC 7739: not predictable from outside).
//!
//! A datagram that times out with its first fragment in gets an ICMPv6
//! time exceeded, code 1 (IPv6; RFC 8200 4.5).

use std::net::Ipv6Addr;

use super::counters::{reasm_counter, Counter};
use super::{Ip4Delivery, ETH, L3};
use crate::device::{Device, PacketBuf};
use crate::reassembly::{fragment_v4, fragment_v6, FragKey, Fragment, ReasmCounter, ReasmError};
use crate::tables::NetTables;
use smallvec::SmallVec;
use wire::ipv6::{self, next_header, Chain};
use wire::{icmp, icmpv6, ipv4};

/// Fragments of one datagram sent at once (64 KiB over a 1280-byte MTU
/// takes 52).
type Frags<B> = SmallVec<[B; 8]>;

/// A reassembled UDP datagram too large for one buffer, handed to the
/// transports from the worker's reassembly copy (heap, grown once to the
/// largest datagram, at most 64 KiB and its headers); see
/// [`L3::take_large_delivery`].
pub struct LargeDelivery {
    /// The IP datagram, from its IPv4 or IPv6 header on.
    pub data: Vec<u8>,
    /// Interface it arrived on.
    pub iface: usize,
    /// Offset of the UDP header in `data`.
    pub l4_offset: usize,
    /// Source address.
    pub src: std::net::IpAddr,
    /// Destination address (ours).
    pub dst: std::net::IpAddr,
}

impl<D: Device> L3<D> {
    /// The reassembled UDP datagram too large for one buffer that the last
    /// [`L3::input`] produced, if any; give it back with
    /// [`L3::large_delivery_done`] so its memory is reused.
    #[inline]
    pub fn take_large_delivery(&mut self) -> Option<LargeDelivery> {
        self.large_pending.take()
    }

    /// Return a [`LargeDelivery`]'s buffer for the next reassembly.
    pub fn large_delivery_done(&mut self, d: LargeDelivery) {
        self.reasm_out = d.data;
    }

    /// The IP MTU of `iface` (unknown: no limit).
    #[inline]
    pub(super) fn ip_mtu(&self, iface: usize) -> usize {
        match self.caps.get(iface).map(|c| c.mtu) {
            Some(0) | None => usize::MAX,
            Some(m) => usize::from(m),
        }
    }

    /// Copy the reassembler's new counts into the worker's counters.
    fn reasm_sync_counters(&mut self) {
        let c = self.reasm.counters();
        for &rc in ReasmCounter::ALL {
            let (cur, seen) = (c.get(rc), &mut self.reasm_seen[rc as usize]);
            if cur > *seen {
                self.counters.add(reasm_counter(rc), cur - *seen);
                *seen = cur;
            }
        }
    }

    /// Bytes the reassembler holds (never over its cap).
    pub fn reasm_memory(&self) -> usize {
        self.reasm.memory()
    }

    /// Datagrams being reassembled.
    pub fn reasm_in_progress(&self) -> usize {
        self.reasm.in_progress()
    }

    /// An IPv4 fragment for one of our addresses (header already checked).
    pub(super) fn ip4_fragment_input(
        &mut self,
        net: &NetTables,
        iface: usize,
        m: D::Buf,
    ) -> Option<Ip4Delivery<D::Buf>> {
        let done = {
            let data = m.data();
            let p = ipv4::Packet::new_unchecked(&data[ETH..]);
            let (hl, total) = (usize::from(p.header_len()), usize::from(p.total_len()));
            let frag = Fragment {
                key: FragKey::V4 { src: p.src_addr(), dst: p.dst_addr(), protocol: data[ETH + 9], ident: p.ident() },
                offset: usize::from(p.frag_offset()),
                more: p.more_frags(),
                header: &data[ETH..ETH + hl],
                v6_next_header: (0, 0),
                data: &data[ETH + hl..ETH + total],
            };
            match self.reasm.insert(&frag, self.now_ns) {
                Ok(Some(d)) => {
                    self.reasm_out.clear();
                    self.reasm_out.extend_from_slice(d);
                    true
                }
                Ok(None) | Err(_) => false,
            }
        };
        self.reasm_sync_counters();
        if !done {
            return None;
        }
        let mut eth = [0u8; ETH];
        eth.copy_from_slice(&m.data()[..ETH]);
        drop(m);
        match self.reassembled_buf(&eth) {
            Some(whole) => self.ip4_input(net, iface, whole),
            None => {
                self.ip4_big_echo(net, iface);
                None
            }
        }
    }

    /// The reassembled datagram in a fresh buffer behind `eth`, if one
    /// holds it.
    fn reassembled_buf(&mut self, eth: &[u8; ETH]) -> Option<D::Buf> {
        let len = self.reasm_out.len();
        let mut m = self.dev.alloc().or_else(|| {
            self.counters.inc(Counter::MbufAllocFailed);
            None
        })?;
        let buf = m.append(ETH + len)?;
        buf[..ETH].copy_from_slice(eth);
        buf[ETH..].copy_from_slice(&self.reasm_out);
        Some(m)
    }

    /// A reassembled IPv4 datagram too big for one buffer: answer it if it
    /// is an echo request (from the heap copy), else count it.
    fn ip4_big_echo(&mut self, net: &NetTables, iface: usize) {
        let mut data = std::mem::take(&mut self.reasm_out);
        if let Ok(p) = ipv4::Packet::new_checked(&data[..]) {
            if p.next_header() == ipv4::Protocol::Udp {
                let (src, dst, l4_offset) = (p.src_addr().into(), p.dst_addr().into(), usize::from(p.header_len()));
                self.counters.inc(Counter::ReasmLargeDelivered);
                self.large_pending = Some(LargeDelivery { data, iface, l4_offset, src, dst });
                return;
            }
        }
        let reply_to = (|| {
            let p = ipv4::Packet::new_checked(&data[..]).ok()?;
            let hl = usize::from(p.header_len());
            let (src, dst) = (p.src_addr(), p.dst_addr());
            if data[9] != 1 {
                return None;
            }
            let ic = icmp::Packet::new_checked(&data[hl..]).ok()?;
            if !matches!(icmp::Repr::parse(&ic), Ok(icmp::Repr::EchoRequest { .. })) {
                return None;
            }
            let mut ip = ipv4::Packet::new_unchecked(&mut data[..]);
            ip.set_src_addr(dst);
            ip.set_dst_addr(src);
            ip.set_hop_limit(super::DEFAULT_TTL);
            ip.fill_checksum();
            let mut ic = icmp::Packet::new_unchecked(&mut data[hl..]);
            ic.set_msg_type(icmp::ECHO_REPLY);
            ic.fill_checksum();
            Some(src)
        })();
        match reply_to {
            Some(to) => {
                self.counters.inc(Counter::IcmpEchoRequests);
                self.counters.inc(Counter::IcmpEchoReplies);
                match net.routes.lookup(to) {
                    Some(r) => {
                        let (iface, nh) = (r.port as usize, r.next_hop.unwrap_or(to));
                        self.ip4_send_fragments(net, &mut data, iface, nh);
                    }
                    None => self.counters.inc(Counter::Ip4NoRoute),
                }
            }
            None => self.counters.inc(Counter::ReasmTooBigForBuffer),
        }
        self.reasm_out = data;
    }

    /// Send `m` (an IPv4 datagram longer than `iface`'s MTU, ours) in
    /// fragments.
    pub(super) fn ip4_fragment_output(
        &mut self,
        net: &NetTables,
        m: D::Buf,
        iface: usize,
        next_hop: std::net::Ipv4Addr,
    ) {
        let mut data = std::mem::take(&mut self.frag_in);
        data.clear();
        data.extend_from_slice(m.data());
        drop(m);
        self.ip4_send_fragments(net, &mut data, iface, next_hop);
        self.frag_in = data;
    }

    /// Cut the IPv4 datagram in `data` (ours: DF is cleared) to `iface`'s
    /// MTU and send the pieces to `next_hop`.
    fn ip4_send_fragments(&mut self, net: &NetTables, data: &mut [u8], iface: usize, next_hop: std::net::Ipv4Addr) {
        if let Ok(mut p) = ipv4::Packet::new_checked(&mut data[..]) {
            p.set_dont_frag(false);
            p.fill_checksum();
        }
        let mtu = self.ip_mtu(iface).min(usize::from(u16::MAX));
        let mut scratch = std::mem::take(&mut self.frag_scratch);
        scratch.resize(mtu, 0);
        let mut out: Frags<D::Buf> = SmallVec::new();
        let dev = &mut self.dev;
        let mut short = false;
        let r = fragment_v4(data, mtu, &mut scratch, &mut |f: &[u8]| match dev.alloc() {
            Some(mut b) => match b.append(f.len()) {
                Some(buf) => {
                    buf.copy_from_slice(f);
                    out.push(b);
                }
                None => short = true,
            },
            None => short = true,
        });
        self.frag_scratch = scratch;
        if r.is_err() || short {
            return self.counters.inc(Counter::FragmentFailed);
        }
        self.counters.add(Counter::FragmentsOut, out.len() as u64);
        for f in out {
            self.ip4_output_via(net, f, iface, next_hop);
        }
    }

    /// An IPv6 fragment for us (`chain` its walked headers, `total` the
    /// datagram's bytes after the Ethernet header).
    pub(super) fn ip6_fragment_input(&mut self, net: &NetTables, iface: usize, m: D::Buf, chain: &Chain, total: usize) {
        let Some(fh) = chain.fragment else { return };
        let (src, dst);
        let res = {
            let data = &m.data()[ETH..ETH + total];
            let p = ipv6::Packet::new_unchecked(data);
            (src, dst) = (p.src_addr(), p.dst_addr());
            let frag = Fragment {
                key: FragKey::V6 { src, dst, ident: fh.ident },
                offset: usize::from(fh.offset),
                more: fh.more,
                header: &data[..chain.fragment_header_at],
                v6_next_header: (chain.fragment_named_at, fh.next_header),
                data: &data[chain.offset.min(total)..],
            };
            match self.reasm.insert(&frag, self.now_ns) {
                Ok(Some(d)) => {
                    self.reasm_out.clear();
                    self.reasm_out.extend_from_slice(d);
                    Ok(true)
                }
                Ok(None) => Ok(false),
                Err(e) => Err(e),
            }
        };
        self.reasm_sync_counters();
        match res {
            Ok(true) => {}
            Ok(false) => return,
            // RFC 8200 4.5: a parameter problem at the payload length, or
            // at the fragment offset.
            Err(e @ (ReasmError::BadLength | ReasmError::TooLarge)) => {
                let pointer = if e == ReasmError::BadLength { 4 } else { chain.fragment_header_at as u32 + 2 };
                let err = icmpv6::Repr::ParamProblem { code: icmpv6::param_problem::ERRONEOUS_FIELD, pointer };
                if !dst.is_multicast() {
                    let datagram = &m.data()[ETH..ETH + total];
                    self.icmp6_error(net, iface, datagram, src, dst, err);
                }
                return;
            }
            Err(_) => return,
        }
        let mut eth = [0u8; ETH];
        eth.copy_from_slice(&m.data()[..ETH]);
        drop(m);
        match self.reassembled_buf(&eth) {
            Some(whole) => self.ip6_input(net, iface, whole),
            None => self.ip6_big_echo(net, iface),
        }
    }

    /// A reassembled IPv6 datagram too big for one buffer: answer it if it
    /// is an echo request to a unicast address of ours, else count it.
    fn ip6_big_echo(&mut self, net: &NetTables, iface: usize) {
        let mut data = std::mem::take(&mut self.reasm_out);
        let udp = ipv6::Packet::new_checked(&data[..]).ok().and_then(|p| {
            let chain = ipv6::walk_chain(p.datagram()).ok()?;
            let ok = chain.upper == next_header::UDP && chain.fragment.is_none() && !p.dst_addr().is_multicast();
            ok.then(|| (p.src_addr().into(), p.dst_addr().into(), chain.offset))
        });
        if let Some((src, dst, l4_offset)) = udp {
            self.counters.inc(Counter::ReasmLargeDelivered);
            self.large_pending = Some(LargeDelivery { data, iface, l4_offset, src, dst });
            return;
        }
        let reply_to = (|| {
            let p = ipv6::Packet::new_checked(&data[..]).ok()?;
            let (src, dst) = (p.src_addr(), p.dst_addr());
            if dst.is_multicast() {
                return None;
            }
            let chain = ipv6::walk_chain(p.datagram()).ok()?;
            if chain.upper != next_header::ICMPV6 || chain.fragment.is_some() {
                return None;
            }
            let l4 = chain.offset;
            let ic = icmpv6::Packet::new_checked(&data[l4..]).ok()?;
            if !matches!(icmpv6::Repr::parse(&ic, &src, &dst), Ok(icmpv6::Repr::EchoRequest { .. })) {
                return None;
            }
            let mut ip = ipv6::Packet::new_unchecked(&mut data[..]);
            ip.set_src_addr(dst);
            ip.set_dst_addr(src);
            ip.set_hop_limit(super::ip6::DEFAULT_HOP_LIMIT);
            let mut ic = icmpv6::Packet::new_unchecked(&mut data[l4..]);
            ic.set_msg_type(icmpv6::ECHO_REPLY);
            ic.fill_checksum(&dst, &src);
            Some(src)
        })();
        match reply_to {
            Some(to) => {
                self.counters.inc(Counter::Icmp6EchoRequests);
                self.counters.inc(Counter::Icmp6EchoReplies);
                match self.ip6_route(net, to, Some(iface)) {
                    Some((out, nh)) => self.ip6_send_fragments(net, &data, out, nh),
                    None => self.counters.inc(Counter::Ip6NoRoute),
                }
            }
            None => self.counters.inc(Counter::ReasmTooBigForBuffer),
        }
        self.reasm_out = data;
    }

    /// Send `m` (an IPv6 packet longer than `iface`'s MTU, ours) in
    /// fragments.
    pub(super) fn ip6_fragment_output(&mut self, net: &NetTables, m: D::Buf, iface: usize, next_hop: Ipv6Addr) {
        let mut data = std::mem::take(&mut self.frag_in);
        data.clear();
        data.extend_from_slice(m.data());
        drop(m);
        self.ip6_send_fragments(net, &data, iface, next_hop);
        self.frag_in = data;
    }

    fn ip6_send_fragments(&mut self, net: &NetTables, data: &[u8], iface: usize, next_hop: Ipv6Addr) {
        let mtu = self.ip_mtu(iface).min(usize::from(u16::MAX));
        self.frag_ident ^= self.frag_ident << 13;
        self.frag_ident ^= self.frag_ident >> 7;
        self.frag_ident ^= self.frag_ident << 17;
        let ident = self.frag_ident as u32;
        let mut scratch = std::mem::take(&mut self.frag_scratch);
        scratch.resize(mtu, 0);
        let mut out: Frags<D::Buf> = SmallVec::new();
        let dev = &mut self.dev;
        let mut short = false;
        let r = fragment_v6(data, mtu, ident, &mut scratch, &mut |f: &[u8]| match dev.alloc() {
            Some(mut b) => match b.append(f.len()) {
                Some(buf) => {
                    buf.copy_from_slice(f);
                    out.push(b);
                }
                None => short = true,
            },
            None => short = true,
        });
        self.frag_scratch = scratch;
        if r.is_err() || short {
            return self.counters.inc(Counter::FragmentFailed);
        }
        self.counters.add(Counter::FragmentsOut, out.len() as u64);
        for f in out {
            self.ip6_output(net, iface, f, next_hop);
        }
    }

    /// Reassembly timeouts (from [`L3::timers`]): an IPv6 datagram whose
    /// first fragment had arrived gets a time exceeded (code 1).
    pub(super) fn reasm_timers(&mut self, net: &NetTables) {
        if self.reasm.poll_at().is_none_or(|t| t > self.now_ns) {
            return;
        }
        let mut expired: SmallVec<[(Ipv6Addr, Ipv6Addr, Vec<u8>); 2]> = SmallVec::new();
        self.reasm.poll(self.now_ns, &mut |e| {
            if let (FragKey::V6 { src, dst, .. }, Some(first)) = (e.key, e.first_fragment) {
                if expired.len() < expired.inline_size() {
                    expired.push((src, dst, first[..first.len().min(icmpv6::MAX_ERROR_QUOTE_LEN)].to_vec()));
                }
            }
        });
        self.reasm_sync_counters();
        for (src, dst, quote) in expired {
            let iface = net.local_interface6(dst).unwrap_or(0);
            let err = icmpv6::Repr::TimeExceeded { code: icmpv6::time_exceeded::REASSEMBLY };
            if self.icmp6_error(net, iface, &quote, src, dst, err) {
                self.counters.inc(Counter::Icmp6TimeExceededSent);
            }
        }
    }
}

/// Largest fragment built from a session's datagram (IP bytes): what one
/// default buffer holds behind its Ethernet header, whatever the MTU.
pub const SESSION_FRAGMENT_MAX: usize = 1500;

/// Largest UDP payload a session can send over IPv4 (65535 bytes of IPv4
/// datagram) and over IPv6 (65535 bytes of IPv6 payload; no jumbograms).
pub const UDP_MAX_PAYLOAD4: usize = u16::MAX as usize - ipv4::HEADER_LEN - wire::udp::HEADER_LEN;
/// See [`UDP_MAX_PAYLOAD4`].
pub const UDP_MAX_PAYLOAD6: usize = u16::MAX as usize - wire::udp::HEADER_LEN;

/// Where a session's fragmented datagram goes.
enum FragRoute {
    V4 { src: std::net::Ipv4Addr, dst: std::net::Ipv4Addr, iface: usize, next_hop: std::net::Ipv4Addr },
    V6 { src: Ipv6Addr, dst: Ipv6Addr, iface: usize, next_hop: Ipv6Addr },
}

impl<D: Device> L3<D> {
    /// Send a UDP datagram too large for one buffer from `src` to `dst`
    /// (one family) as IP fragments built straight into buffers: `header`
    /// is its UDP header (ports and length set, checksum anything) and
    /// `fill(offset, out)` writes its payload bytes `offset..offset +
    /// out.len()` (from the session's fifo: no copy in between). The UDP
    /// checksum is summed while the pieces are written and patched into
    /// the first. Fragments are at most the interface's MTU and
    /// [`SESSION_FRAGMENT_MAX`]. Returns false, with nothing sent, when
    /// buffers ran out (counted; the caller may retry); true when the
    /// datagram was sent or refused (counted).
    pub fn udp_output_fragmented(
        &mut self,
        net: &NetTables,
        src: std::net::IpAddr,
        dst: std::net::IpAddr,
        header: &[u8; wire::udp::HEADER_LEN],
        payload_len: usize,
        fill: &mut impl FnMut(usize, &mut [u8]),
    ) -> bool {
        use std::net::IpAddr;
        use wire::checksum;
        let l4_len = wire::udp::HEADER_LEN + payload_len;
        let route = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) if payload_len <= UDP_MAX_PAYLOAD4 => match net.routes.lookup(d) {
                Some(r) => FragRoute::V4 { src: s, dst: d, iface: r.port as usize, next_hop: r.next_hop.unwrap_or(d) },
                None => {
                    self.counters.inc(Counter::Ip4NoRoute);
                    return true;
                }
            },
            (IpAddr::V6(s), IpAddr::V6(d)) if payload_len <= UDP_MAX_PAYLOAD6 => {
                let path = if s.is_unicast_link_local() {
                    self.ip6_iface_of(net, s).map(|i| (i, d))
                } else if net.local_interface6(s).is_none() {
                    None
                } else {
                    self.ip6_route(net, d, None)
                };
                match path {
                    Some((iface, next_hop)) => FragRoute::V6 { src: s, dst: d, iface, next_hop },
                    None => {
                        self.counters.inc(Counter::Ip6OutputNoInterface);
                        return true;
                    }
                }
            }
            _ => {
                self.counters.inc(Counter::FragmentFailed);
                return true;
            }
        };
        let (iface, ip_hl, pseudo) = match route {
            FragRoute::V4 { src, dst, iface, .. } => {
                (iface, ipv4::HEADER_LEN, checksum::pseudo_header_ipv4(src, dst, 17, l4_len as u16))
            }
            FragRoute::V6 { src, dst, iface, .. } => (
                iface,
                ipv6::HEADER_LEN + ipv6::FRAGMENT_HEADER_LEN,
                checksum::pseudo_header_ipv6(&src, &dst, next_header::UDP, l4_len as u32),
            ),
        };
        let mtu = self.ip_mtu(iface).min(SESSION_FRAGMENT_MAX);
        let room = mtu.saturating_sub(ip_hl) / 8 * 8;
        if room < 8 {
            self.counters.inc(Counter::FragmentFailed);
            return true;
        }
        self.frag_ident ^= self.frag_ident << 13;
        self.frag_ident ^= self.frag_ident >> 7;
        self.frag_ident ^= self.frag_ident << 17;
        let ident = self.frag_ident as u32;
        let mut out = std::mem::take(&mut self.frag_bufs);
        out.clear();
        let mut sum = 0u32;
        let mut at = 0;
        while at < l4_len {
            let chunk = room.min(l4_len - at);
            let more = at + chunk < l4_len;
            let Some(mut b) = self.dev.alloc() else { break };
            let Some(buf) = b.append(ip_hl + chunk) else { break };
            let (ip, l4) = buf.split_at_mut(ip_hl);
            if at == 0 {
                l4[..8].copy_from_slice(header);
                l4[6..8].fill(0);
                fill(0, &mut l4[8..]);
            } else {
                fill(at - 8, l4);
            }
            // Every piece but the last is a multiple of 8 bytes: the sums chain.
            sum = checksum::sum(l4, sum);
            match route {
                FragRoute::V4 { src, dst, .. } => {
                    let r = ipv4::Repr {
                        src_addr: src,
                        dst_addr: dst,
                        next_header: ipv4::Protocol::Udp,
                        payload_len: chunk,
                        hop_limit: super::DEFAULT_TTL,
                    };
                    let mut p = ipv4::Packet::new_unchecked(&mut ip[..]);
                    r.emit(&mut p);
                    p.set_ident(ident as u16);
                    p.clear_flags();
                    p.set_more_frags(more);
                    p.set_frag_offset(at as u16);
                    p.fill_checksum();
                }
                FragRoute::V6 { src, dst, .. } => {
                    let r = ipv6::Repr {
                        src_addr: src,
                        dst_addr: dst,
                        next_header: next_header::FRAGMENT,
                        payload_len: ipv6::FRAGMENT_HEADER_LEN + chunk,
                        hop_limit: super::ip6::DEFAULT_HOP_LIMIT,
                        traffic_class: 0,
                        flow_label: 0,
                    };
                    r.emit(&mut ipv6::Packet::new_unchecked(&mut ip[..ipv6::HEADER_LEN]));
                    let fh = ipv6::FragmentHeader { next_header: next_header::UDP, offset: at as u16, more, ident };
                    fh.emit(&mut ip[ipv6::HEADER_LEN..]);
                }
            }
            out.push(b);
            at += chunk;
        }
        if at < l4_len {
            out.clear();
            self.frag_bufs = out;
            self.counters.inc(Counter::MbufAllocFailed);
            return false;
        }
        let mut c = checksum::fold(checksum::sum(&[], sum.wrapping_add(pseudo)));
        if c == 0 {
            // RFC 768 / RFC 8200 8.1: a computed zero goes as all ones.
            c = 0xffff;
        }
        out[0].data_mut()[ip_hl + 6..ip_hl + 8].copy_from_slice(&c.to_be_bytes());
        self.counters.add(Counter::FragmentsOut, out.len() as u64);
        for f in out.drain(..) {
            match route {
                FragRoute::V4 { iface, next_hop, .. } => self.ip4_output_via(net, f, iface, next_hop),
                FragRoute::V6 { iface, next_hop, .. } => self.ip6_output(net, iface, f, next_hop),
            }
        }
        self.frag_bufs = out;
        true
    }
}
