//! Output of large TCP segments (TSO/GSO, see [`crate::gso`]): one route
//! and neighbour lookup for the whole segment, then either the NIC cuts
//! it (TSO) or L3 does, writing MTU-sized frames straight into the tx
//! batch (GSO).

use std::net::Ipv4Addr;

use super::counters::Counter;
use super::{ETH, L3};
use crate::device::{Device, PacketBuf};
use crate::gso::{self, LargeSegment};
use crate::tables::NetTables;
use wire::ethernet::EtherType;
use wire::ipv4::{self, Protocol};
use wire::offload;

impl<D: Device> L3<D> {
    /// Most payload bytes TCP may put in one segment to `dst` (0: the
    /// interface that routes there takes no large segments, so one MSS).
    #[inline]
    pub fn tcp_large_max(&self, net: &NetTables, dst: Ipv4Addr) -> u32 {
        if !self.any_large {
            return 0;
        }
        let Some(r) = net.routes.lookup(dst) else { return 0 };
        let c = &self.caps[r.port as usize];
        if c.tso || c.gso {
            c.large_max
        } else {
            0
        }
    }

    /// A tx buffer from the large pool (for a large segment); `None` when
    /// there is none (the caller falls back to a normal buffer).
    #[inline]
    pub fn alloc_large(&mut self) -> Option<D::Buf> {
        self.dev.alloc_large()
    }

    /// Send TCP segment `m` (from its TCP header on, checksum anything)
    /// from `src` to `dst`, whose payload may be many segments of
    /// `seg_size` bytes: the NIC cuts it where the port has TSO, L3 cuts it
    /// here otherwise; a segment that fits one MSS goes the usual way.
    pub fn ip4_output_large(&mut self, net: &NetTables, mut m: D::Buf, src: Ipv4Addr, dst: Ipv4Addr, seg_size: u16) {
        let ip = ipv4::Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: Protocol::Tcp,
            payload_len: m.len(),
            hop_limit: super::DEFAULT_TTL,
        };
        if ip.buffer_len() > usize::from(u16::MAX) {
            return self.counters.inc(Counter::LargeMalformed);
        }
        let Some(hdr) = m.prepend(ipv4::HEADER_LEN) else {
            return self.counters.inc(Counter::MbufAllocFailed);
        };
        ip.emit(&mut ipv4::Packet::new_unchecked(hdr));
        let Some(route) = net.routes.lookup(dst) else {
            return self.counters.inc(Counter::Ip4NoRoute);
        };
        let iface = route.port as usize;
        let next_hop = route.next_hop.unwrap_or(dst);
        let s = match LargeSegment::parse(m.data()) {
            Ok(s) => s,
            Err(_) => return self.counters.inc(Counter::LargeMalformed),
        };
        let caps = &self.caps[iface];
        let seg = usize::from(seg_size).min(self.ip_mtu(iface).saturating_sub(s.headers()));
        if seg == 0 {
            return self.counters.inc(Counter::LargeMalformed);
        }
        let mac = net.neighbors.lookup(iface, next_hop).or_else(|| self.arp[iface].lookup(next_hop, self.now_ns));
        if s.payload <= seg || !(caps.tso || caps.gso) || mac.is_none() {
            // One piece, a port that takes no large segments (its caps
            // changed), or a neighbour still to resolve: the usual path
            // with the pieces (which waits for ARP).
            return self.large_cut(net, m, &s, seg, iface, |l3, net, p| l3.ip4_output_via(net, p, iface, next_hop));
        }
        let mac = mac.expect("checked above");
        if caps.tso {
            let frame_max =
                if caps.tso_frame_max == 0 { ETH + self.ip_mtu(iface) } else { usize::from(caps.tso_frame_max) };
            let seg = seg.min(frame_max.saturating_sub(ETH + s.headers()));
            if seg > 0 && s.payload > seg {
                if gso::tso_prepare(m.data_mut()).is_err() {
                    return self.counters.inc(Counter::LargeMalformed);
                }
                m.request_tso(ETH as u16, s.ip_len as u16, s.tcp_len as u16, seg as u16);
                self.counters.inc(Counter::TsoSegmentsOut);
                return self.eth_output(net, iface, m, mac, EtherType::Ipv4);
            }
        }
        self.counters.inc(Counter::GsoSegmentsCut);
        self.large_cut(net, m, &s, seg, iface, |l3, net, p| l3.eth_output(net, iface, p, mac, EtherType::Ipv4));
    }

    /// Cut large segment `m` into pieces of `seg` payload bytes, each in a
    /// fresh buffer with its checksums done or asked of the NIC, and hand
    /// each to `out`.
    fn large_cut(
        &mut self,
        net: &NetTables,
        m: D::Buf,
        s: &LargeSegment,
        seg: usize,
        iface: usize,
        mut out: impl FnMut(&mut Self, &NetTables, D::Buf),
    ) {
        let tx = self.caps[iface].offloads.tx;
        let h = s.headers();
        // Pieces go in one buffer each: where a buffer holds less than an
        // MSS (a jumbo MTU on chained 2 KB mbufs) they are cut smaller.
        let mut next = self.dev.alloc();
        let seg = match &next {
            Some(p) => seg.min(p.tailroom().saturating_sub(h)).max(1),
            None => seg,
        };
        let mut off = 0;
        while off < s.payload || (off == 0 && s.payload == 0) {
            let len = seg.min(s.payload - off);
            let Some(mut p) = next.take().or_else(|| self.dev.alloc()) else {
                // The rest is lost; TCP retransmits it.
                return self.counters.add(Counter::GsoNoBuffer, s.pieces(seg).saturating_sub(off / seg) as u64);
            };
            let Some(buf) = p.append(h + len) else {
                return self.counters.inc(Counter::MbufAllocFailed);
            };
            s.write_piece(m.data(), off, len, buf);
            match offload::tx_csum_prepare(buf, tx) {
                Ok(req) => p.request_tx_csum(ETH as u16, req),
                Err(_) => return self.counters.inc(Counter::LargeMalformed),
            }
            self.counters.inc(Counter::GsoFramesOut);
            out(self, net, p);
            off += len;
            if len == 0 {
                break;
            }
        }
    }
}
