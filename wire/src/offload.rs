//! Checksum offload, the pure half: which checksums a NIC computes or
//! verifies ([`CsumSet`], [`Offloads`]), its verdicts on a received packet
//! ([`RxCsum`]), and how an outgoing UDP/TCP packet (IPv4: [`tx_csum_prepare`],
//! IPv6: [`tx_csum_prepare6`]) is prepared for it.
//!
//! Transmit: [`tx_csum_prepare`] takes a finished IPv4 packet (from its IP
//! header) and, per checksum, either leaves it to the NIC — the IPv4 header
//! checksum field zeroed, the UDP/TCP checksum field pre-set to the
//! pseudo-header sum, as DPDK's offload contract wants — or computes it in
//! software. The returned [`TxCsumRequest`] is what the DPDK layer puts on
//! the packet buffer for the NIC; [`tx_csum_finish`] does in software what
//! the NIC would, for tests.
//!
//! Receive: with rx checksum offload on, the NIC marks each packet's IP and
//! L4 checksums good, bad, not checked or "not in the data but verified"
//! ([`CsumStatus`]; the DPDK layer decodes the mbuf flags into an
//! [`RxCsum`]). Unknown means: verify in software ([`l4_csum_ok`]).

use std::fmt;
use std::net::Ipv4Addr;

use crate::checksum;
use crate::Error;

/// A set of checksums (IPv4 header, UDP, TCP), for one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CsumSet {
    /// IPv4 header checksum.
    pub ip4: bool,
    /// UDP checksum (over IPv4).
    pub udp: bool,
    /// TCP checksum (over IPv4).
    pub tcp: bool,
}

impl CsumSet {
    /// Every checksum.
    pub const ALL: CsumSet = CsumSet { ip4: true, udp: true, tcp: true };
    /// None.
    pub const NONE: CsumSet = CsumSet { ip4: false, udp: false, tcp: false };

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        !(self.ip4 || self.udp || self.tcp)
    }
}

impl fmt::Display for CsumSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let names = [(self.ip4, "ip4"), (self.udp, "udp"), (self.tcp, "tcp")];
        let mut first = true;
        for (_, n) in names.iter().filter(|(on, _)| *on) {
            if !first {
                f.write_str(",")?;
            }
            f.write_str(n)?;
            first = false;
        }
        Ok(())
    }
}

/// The checksum offloads a port has enabled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offloads {
    /// Computed by the NIC on transmit.
    pub tx: CsumSet,
    /// Verified by the NIC on receive (and reported in the mbuf flags).
    pub rx: CsumSet,
}

impl fmt::Display for Offloads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tx-csum {} rx-csum {}", self.tx, self.rx)
    }
}

/// The NIC's verdict on one checksum of a received packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsumStatus {
    /// Not checked: verify in software.
    Unknown,
    /// Checked and correct.
    Good,
    /// Checked and wrong: drop.
    Bad,
    /// The checksum in the data is not valid but the data's integrity was
    /// verified (e.g. the NIC changed the packet): treat as good.
    Verified,
}

impl CsumStatus {
    /// Whether the NIC vouches for the data (no software check needed).
    #[inline]
    pub fn is_ok(self) -> bool {
        matches!(self, CsumStatus::Good | CsumStatus::Verified)
    }

    /// Whether the NIC found the checksum wrong.
    #[inline]
    pub fn is_bad(self) -> bool {
        self == CsumStatus::Bad
    }
}

/// The NIC's verdicts on a received packet's IP and L4 checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxCsum {
    /// IPv4 header checksum.
    pub ip: CsumStatus,
    /// UDP/TCP checksum.
    pub l4: CsumStatus,
}

impl RxCsum {
    /// Nothing known (no rx offload): verify everything in software.
    pub const UNKNOWN: RxCsum = RxCsum { ip: CsumStatus::Unknown, l4: CsumStatus::Unknown };
}

/// Transport whose checksum the NIC is asked to fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4Csum {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// What to ask of the NIC for one outgoing packet (the DPDK layer puts it
/// on the mbuf).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxCsumRequest {
    /// The packet is IPv6 (DPDK's `RTE_MBUF_F_TX_IPV6`; no header checksum).
    pub ipv6: bool,
    /// IP header length (IPv4 with options; the 40-byte IPv6 header).
    pub l3_len: u16,
    /// The NIC fills the IPv4 header checksum.
    pub ip: bool,
    /// The NIC fills this transport's checksum.
    pub l4: Option<L4Csum>,
}

impl TxCsumRequest {
    /// Whether the NIC has anything to do.
    #[inline]
    pub fn is_empty(&self) -> bool {
        !self.ip && self.l4.is_none()
    }
}

mod field {
    /// IPv4 header checksum.
    pub const IP_CHECKSUM: usize = 10;
    /// Protocol.
    pub const IP_PROTOCOL: usize = 9;
    /// UDP checksum, from the UDP header.
    pub const UDP_CHECKSUM: usize = 6;
    /// TCP checksum, from the TCP header.
    pub const TCP_CHECKSUM: usize = 16;
    /// Minimum UDP header.
    pub const UDP_HEADER: usize = 8;
    /// Minimum TCP header.
    pub const TCP_HEADER: usize = 20;
}

const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;

/// Fill or delegate the checksums of an IPv4 packet that starts at `ip` (IP
/// header, then a UDP or TCP header and payload; lengths, addresses and
/// protocol set). For each checksum `tx` offers, the field is prepared for
/// the NIC (IPv4 checksum 0, L4 checksum = pseudo-header sum); every other
/// checksum is computed here. Packets of other protocols get their IPv4
/// checksum only. The returned request must go on the mbuf for the NIC to
/// act (an empty request means everything was done in software).
pub fn tx_csum_prepare(ip: &mut [u8], tx: CsumSet) -> Result<TxCsumRequest, Error> {
    tx_csum_prepare_parts(ip, &[], tx)
}

/// [`tx_csum_prepare`] for a packet in pieces (a chain: `ip` is the first
/// segment from the IPv4 header on, holding the IPv4 and L4 headers;
/// `tail` the later segments); a software L4 checksum covers them all.
pub fn tx_csum_prepare_parts(ip: &mut [u8], tail: &[&[u8]], tx: CsumSet) -> Result<TxCsumRequest, Error> {
    let tail_len: usize = tail.iter().map(|t| t.len()).sum();
    let (src, dst, header_len, total_len, protocol) = {
        let p = crate::ipv4::Packet::new_checked_head(&ip[..], ip.len() + tail_len)?;
        (p.src_addr(), p.dst_addr(), p.header_len() as usize, p.total_len() as usize, ip[field::IP_PROTOCOL])
    };
    let (l4, csum_at, min) = match protocol {
        PROTO_TCP => (Some(L4Csum::Tcp), field::TCP_CHECKSUM, field::TCP_HEADER),
        PROTO_UDP => (Some(L4Csum::Udp), field::UDP_CHECKSUM, field::UDP_HEADER),
        _ => (None, 0, 0),
    };
    let l4_len = total_len - header_len;
    // The L4 header must be in the first piece (it is where it is written).
    let head_end = total_len.min(ip.len());
    if l4.is_some() && (l4_len < min || head_end - header_len < min) {
        return Err(Error::Truncated);
    }
    let mut req = TxCsumRequest { ipv6: false, l3_len: header_len as u16, ip: false, l4: None };
    if let Some(kind) = l4 {
        let offload = match kind {
            L4Csum::Tcp => tx.tcp,
            L4Csum::Udp => tx.udp,
        };
        let pseudo = checksum::pseudo_header_ipv4(src, dst, protocol, l4_len as u16);
        let seg = &mut ip[header_len..head_end];
        if offload {
            // DPDK's contract: the field holds the folded, uncomplemented
            // pseudo-header sum; the NIC adds the segment and complements.
            let folded = !checksum::fold(pseudo);
            seg[csum_at..csum_at + 2].copy_from_slice(&folded.to_be_bytes());
            req.l4 = Some(kind);
        } else {
            seg[csum_at..csum_at + 2].copy_from_slice(&[0, 0]);
            let mut c = if tail.is_empty() {
                checksum::fold(checksum::sum(seg, pseudo))
            } else {
                let mut left = total_len - head_end;
                let rest = tail.iter().map(|t| {
                    let n = t.len().min(left);
                    left -= n;
                    &t[..n]
                });
                checksum::fold(checksum::sum_parts(std::iter::once(&seg[..]).chain(rest), pseudo))
            };
            if kind == L4Csum::Udp && c == 0 {
                // RFC 768: a computed zero is sent as all ones.
                c = 0xffff;
            }
            seg[csum_at..csum_at + 2].copy_from_slice(&c.to_be_bytes());
        }
    }
    let hdr = &mut ip[..header_len];
    hdr[field::IP_CHECKSUM..field::IP_CHECKSUM + 2].copy_from_slice(&[0, 0]);
    if tx.ip4 {
        req.ip = true;
    } else {
        let c = checksum::data(hdr);
        hdr[field::IP_CHECKSUM..field::IP_CHECKSUM + 2].copy_from_slice(&c.to_be_bytes());
    }
    Ok(req)
}

/// [`tx_csum_prepare`] for an IPv6 packet that starts at `ip` (the fixed
/// header, then directly a UDP or TCP header and payload: the node's own
/// output adds no extension headers; payload length, addresses and next
/// header set). An L4 checksum `tx` offers (`udp`, `tcp`: DPDK's TCP/UDP
/// offload flags cover both families) is left to the NIC with the
/// pseudo-header sum in its field; otherwise it is computed here. Other
/// next headers are left alone (an empty request).
pub fn tx_csum_prepare6(ip: &mut [u8], tx: CsumSet) -> Result<TxCsumRequest, Error> {
    let (src, dst, len, nh) = {
        let p = crate::ipv6::Packet::new_checked(&ip[..])?;
        (p.src_addr(), p.dst_addr(), p.payload_len() as usize, p.next_header())
    };
    let hl = crate::ipv6::HEADER_LEN;
    let (kind, csum_at, min, offload) = match nh {
        PROTO_TCP => (L4Csum::Tcp, field::TCP_CHECKSUM, field::TCP_HEADER, tx.tcp),
        PROTO_UDP => (L4Csum::Udp, field::UDP_CHECKSUM, field::UDP_HEADER, tx.udp),
        _ => return Ok(TxCsumRequest { ipv6: true, l3_len: hl as u16, ip: false, l4: None }),
    };
    if len < min {
        return Err(Error::Truncated);
    }
    let pseudo = checksum::pseudo_header_ipv6(&src, &dst, nh, len as u32);
    let seg = &mut ip[hl..hl + len];
    let l4 = if offload {
        let folded = !checksum::fold(pseudo);
        seg[csum_at..csum_at + 2].copy_from_slice(&folded.to_be_bytes());
        Some(kind)
    } else {
        seg[csum_at..csum_at + 2].copy_from_slice(&[0, 0]);
        let mut c = checksum::fold(checksum::sum(seg, pseudo));
        if kind == L4Csum::Udp && c == 0 {
            // RFC 8200 8.1: a computed zero goes as all ones.
            c = 0xffff;
        }
        seg[csum_at..csum_at + 2].copy_from_slice(&c.to_be_bytes());
        None
    };
    Ok(TxCsumRequest { ipv6: true, l3_len: hl as u16, ip: false, l4 })
}

/// What a NIC does with a [`TxCsumRequest`], in software: for tests (and
/// for checking a PMD), finish the checksums the request left to the NIC.
pub fn tx_csum_finish(ip: &mut [u8], req: TxCsumRequest) {
    let hl = req.l3_len as usize;
    if req.ip && !req.ipv6 {
        let c = checksum::data(&ip[..hl]);
        ip[field::IP_CHECKSUM..field::IP_CHECKSUM + 2].copy_from_slice(&c.to_be_bytes());
    }
    if let Some(kind) = req.l4 {
        let total = if req.ipv6 {
            hl + u16::from_be_bytes([ip[4], ip[5]]) as usize
        } else {
            u16::from_be_bytes([ip[2], ip[3]]) as usize
        };
        let at = hl + if kind == L4Csum::Tcp { field::TCP_CHECKSUM } else { field::UDP_CHECKSUM };
        // The field already holds the pseudo-header sum.
        let mut c = checksum::fold(checksum::sum(&ip[hl..total], 0));
        if kind == L4Csum::Udp && c == 0 {
            c = 0xffff;
        }
        ip[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
}

/// Verify a UDP or TCP checksum over IPv4 in software: `seg` is the whole
/// segment (header and payload). A UDP checksum of 0 means "none" and passes.
pub fn l4_csum_ok(l4: L4Csum, src: Ipv4Addr, dst: Ipv4Addr, seg: &[u8]) -> bool {
    let proto = match l4 {
        L4Csum::Tcp => PROTO_TCP,
        L4Csum::Udp => PROTO_UDP,
    };
    if l4 == L4Csum::Udp && seg.len() >= field::UDP_HEADER && seg[6] == 0 && seg[7] == 0 {
        return true;
    }
    checksum::fold(checksum::sum(seg, checksum::pseudo_header_ipv4(src, dst, proto, seg.len() as u16))) == 0
}

#[cfg(test)]
mod test {
    use super::*;

    /// IPv4 + UDP, 198.18.0.2:40000 -> 198.18.0.1:7777, payload "hello".
    fn udp_packet() -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 33, 0x12, 0x34, 0x40, 0, 64, 17, 0xde, 0xad, 198, 18, 0, 2, 198, 18, 0, 1];
        p.extend_from_slice(&[0x9c, 0x40, 0x1e, 0x61, 0, 13, 0xbe, 0xef]);
        p.extend_from_slice(b"hello");
        p
    }

    /// IPv4 + TCP SYN, 198.18.0.2:40000 -> 198.18.0.1:80, with one option.
    fn tcp_packet() -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 44, 0, 1, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 2, 198, 18, 0, 1];
        p.extend_from_slice(&[0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, 0x02, 0xff, 0xff, 0x12, 0x34, 0, 0]);
        p.extend_from_slice(&[2, 4, 0x05, 0xb4]);
        p
    }

    fn ip_ok(p: &[u8]) -> bool {
        checksum::data(&p[..20]) == 0
    }

    fn l4_ok(p: &[u8], l4: L4Csum) -> bool {
        l4_csum_ok(l4, Ipv4Addr::new(198, 18, 0, 2), Ipv4Addr::new(198, 18, 0, 1), &p[20..])
    }

    #[test]
    fn software_only_fills_everything() {
        for (mut p, l4) in [(udp_packet(), L4Csum::Udp), (tcp_packet(), L4Csum::Tcp)] {
            let req = tx_csum_prepare(&mut p, CsumSet::NONE).unwrap();
            assert!(req.is_empty());
            assert!(ip_ok(&p) && l4_ok(&p, l4));
        }
    }

    #[test]
    fn a_chain_gets_the_checksum_of_the_joined_packet_at_every_split_point() {
        // A UDP packet with a 31-byte payload: split anywhere past its headers.
        let mut whole = udp_packet();
        whole.truncate(28);
        whole.extend((0..31u8).map(|i| i.wrapping_mul(37)));
        let total = whole.len() as u16;
        whole[2..4].copy_from_slice(&total.to_be_bytes());
        whole[24..26].copy_from_slice(&(total - 20).to_be_bytes());
        let mut want = whole.clone();
        tx_csum_prepare(&mut want, CsumSet::NONE).unwrap();
        for a in 28..=whole.len() {
            for b in a..=whole.len() {
                let mut first = whole[..a].to_vec();
                let tail = [&whole[a..b], &whole[b..]];
                let req = tx_csum_prepare_parts(&mut first, &tail, CsumSet::NONE).unwrap();
                assert!(req.is_empty());
                assert_eq!(first, want[..a], "{a} {b}");
            }
        }
        // The L4 header must be in the first piece.
        let mut first = whole[..24].to_vec();
        assert_eq!(tx_csum_prepare_parts(&mut first, &[&whole[24..]], CsumSet::NONE), Err(Error::Truncated));
    }

    #[test]
    fn offloaded_fields_hold_what_dpdk_wants_and_the_nic_result_matches_software() {
        for (p, l4) in [(udp_packet(), L4Csum::Udp), (tcp_packet(), L4Csum::Tcp)] {
            let mut soft = p.clone();
            tx_csum_prepare(&mut soft, CsumSet::NONE).unwrap();
            let mut hw = p.clone();
            let req = tx_csum_prepare(&mut hw, CsumSet::ALL).unwrap();
            assert_eq!(req, TxCsumRequest { ipv6: false, l3_len: 20, ip: true, l4: Some(l4) });
            assert_eq!(&hw[10..12], &[0, 0], "IP checksum zeroed for the NIC");
            // The L4 field holds the pseudo-header sum (rte_ipv4_phdr_cksum).
            let at = 20 + if l4 == L4Csum::Tcp { 16 } else { 6 };
            let len = (p.len() - 20) as u32;
            let proto = if l4 == L4Csum::Tcp { 6 } else { 17 };
            let mut s: u32 = 0xc612 + 0x0002 + 0xc612 + 0x0001 + proto + len;
            while s > 0xffff {
                s = (s & 0xffff) + (s >> 16);
            }
            assert_eq!(u16::from_be_bytes([hw[at], hw[at + 1]]), s as u16);
            tx_csum_finish(&mut hw, req);
            assert_eq!(hw, soft, "NIC-finished bytes equal the software checksums");
        }
    }

    #[test]
    fn mixed_offloads_and_other_protocols() {
        let mut p = udp_packet();
        let req = tx_csum_prepare(&mut p, CsumSet { ip4: false, udp: true, tcp: false }).unwrap();
        assert_eq!(req, TxCsumRequest { ipv6: false, l3_len: 20, ip: false, l4: Some(L4Csum::Udp) });
        assert!(ip_ok(&p));
        let mut p = tcp_packet();
        let req = tx_csum_prepare(&mut p, CsumSet { ip4: true, udp: true, tcp: false }).unwrap();
        assert_eq!(req, TxCsumRequest { ipv6: false, l3_len: 20, ip: true, l4: None });
        assert!(l4_ok(&p, L4Csum::Tcp));
        // ICMP: only the IP header is ours to care about.
        let mut icmp = vec![0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
        icmp.extend_from_slice(&[8, 0, 0, 0, 0, 0, 0, 0]);
        let req = tx_csum_prepare(&mut icmp, CsumSet::NONE).unwrap();
        assert!(req.is_empty() && ip_ok(&icmp));
        let req = tx_csum_prepare(&mut icmp, CsumSet::ALL).unwrap();
        assert_eq!(req, TxCsumRequest { ipv6: false, l3_len: 20, ip: true, l4: None });
    }

    /// An IPv6 packet fd00::2 -> fd00::1 with a UDP or TCP segment.
    fn packet6(nh: u8) -> Vec<u8> {
        let l4_len = if nh == 6 { 20 + 11 } else { 8 + 11 };
        let mut p = vec![0x60, 0, 0, 0, 0, l4_len as u8, nh, 64];
        p.extend_from_slice(&"fd00::2".parse::<std::net::Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&"fd00::1".parse::<std::net::Ipv6Addr>().unwrap().octets());
        let mut l4 = vec![0u8; l4_len];
        l4[0..4].copy_from_slice(&[0x9c, 0x40, 0, 7]);
        if nh == 17 {
            l4[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
        } else {
            l4[12] = 5 << 4;
        }
        for (i, b) in l4.iter_mut().enumerate().skip(if nh == 6 { 20 } else { 8 }) {
            *b = i as u8 * 7;
        }
        p.extend_from_slice(&l4);
        p
    }

    #[test]
    fn ip6_offloaded_fields_hold_the_pseudo_header_sum_and_the_nic_result_matches_software() {
        for (nh, kind, at) in [(17u8, L4Csum::Udp, 6), (6, L4Csum::Tcp, 16)] {
            let mut soft = packet6(nh);
            let req = tx_csum_prepare6(&mut soft, CsumSet::NONE).unwrap();
            assert_eq!(req, TxCsumRequest { ipv6: true, l3_len: 40, ip: false, l4: None });
            // The software checksum verifies over the pseudo header.
            let len = soft.len() as u32 - 40;
            let src: std::net::Ipv6Addr = "fd00::2".parse().unwrap();
            let dst: std::net::Ipv6Addr = "fd00::1".parse().unwrap();
            assert_eq!(
                checksum::fold(checksum::sum(&soft[40..], checksum::pseudo_header_ipv6(&src, &dst, nh, len))),
                0
            );
            let mut hw = packet6(nh);
            let req = tx_csum_prepare6(&mut hw, CsumSet::ALL).unwrap();
            assert_eq!(req, TxCsumRequest { ipv6: true, l3_len: 40, ip: false, l4: Some(kind) });
            let pseudo = !checksum::fold(checksum::pseudo_header_ipv6(&src, &dst, nh, len));
            assert_eq!(u16::from_be_bytes([hw[40 + at], hw[41 + at]]), pseudo, "rte_ipv6_phdr_cksum in the field");
            tx_csum_finish(&mut hw, req);
            assert_eq!(hw, soft, "NIC-finished bytes equal the software checksum");
        }
        // Only the offered checksum is left to the NIC.
        let mut p = packet6(6);
        let req = tx_csum_prepare6(&mut p, CsumSet { ip4: true, udp: true, tcp: false }).unwrap();
        assert_eq!(req.l4, None);
        // Truncated: refused.
        let mut p = packet6(17);
        p[5] = 4;
        assert_eq!(tx_csum_prepare6(&mut p, CsumSet::ALL), Err(Error::Truncated));
        let mut p = packet6(17);
        p.truncate(30);
        assert!(tx_csum_prepare6(&mut p, CsumSet::ALL).is_err());
    }

    #[test]
    fn truncated_packets_are_refused() {
        let mut p = udp_packet();
        p.truncate(15);
        assert!(tx_csum_prepare(&mut p, CsumSet::ALL).is_err());
        // Total length claims 4 bytes of UDP.
        let mut p = udp_packet();
        p[3] = 24;
        assert_eq!(tx_csum_prepare(&mut p, CsumSet::ALL), Err(Error::Truncated));
    }

    #[test]
    fn udp_zero_checksum_is_sent_as_ones() {
        // Find a payload whose UDP checksum computes to zero: adjust two
        // payload bytes so the sum comes out at 0xffff.
        let mut p = udp_packet();
        tx_csum_prepare(&mut p, CsumSet::NONE).unwrap();
        let c = u16::from_be_bytes([p[26], p[27]]);
        // Adding `c` to a 16-bit word of the payload (ones' complement) makes
        // the complemented sum 0. Use the word at payload offset 0..2.
        let w = u16::from_be_bytes([p[28], p[29]]);
        let s = u32::from(w) + u32::from(c);
        let w2 = ((s & 0xffff) + (s >> 16)) as u16;
        p[28..30].copy_from_slice(&w2.to_be_bytes());
        tx_csum_prepare(&mut p, CsumSet::NONE).unwrap();
        assert_eq!(&p[26..28], &[0xff, 0xff]);
        assert!(l4_ok(&p, L4Csum::Udp));
    }

    #[test]
    fn display() {
        assert_eq!(Offloads::default().to_string(), "tx-csum none rx-csum none");
        let o = Offloads { tx: CsumSet::ALL, rx: CsumSet { ip4: true, udp: false, tcp: true } };
        assert_eq!(o.to_string(), "tx-csum ip4,udp,tcp rx-csum ip4,tcp");
    }
}
