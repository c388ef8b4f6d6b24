//! Large TCP segments: preparing one for the NIC (TSO) and cutting one in
//! software (GSO).
//!
//! TCP output may hand L3 one IPv4/TCP segment carrying many MSS of
//! payload (a "large segment", in a buffer from [`crate::device::Device::alloc_large`]).
//! On a port with TCP segmentation offload, [`tso_prepare`] sets its
//! headers up the way DPDK's TSO contract wants (IPv4 checksum 0, TCP
//! checksum = the pseudo-header sum without a length) and the NIC cuts it.
//! On a port without, L3 cuts it itself right before the frames join the
//! tx batch: [`LargeSegment::parse`] reads the headers once and
//! [`LargeSegment::write_piece`] writes each MTU-sized piece (headers
//! copied and patched: sequence number, IPv4 total length, FIN/PSH only on
//! the last piece, CWR only on the first), whose checksums then go the
//! usual way (offloaded where the port can, else computed).
//!
//! IPv4 only: the node's large segments are IPv4/TCP (IPv6 TCP stays at
//! one MSS per segment).

use wire::checksum;
use wire::tcp::Flags;

/// Why a frame cannot be treated as a large segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GsoError {
    /// Not an IPv4 packet with a whole TCP header.
    #[error("not an IPv4/TCP packet")]
    NotTcp4,
    /// The lengths in the headers disagree with the buffer.
    #[error("inconsistent lengths")]
    BadLength,
}

const IP_TOTAL_LEN: usize = 2;
const IP_PROTOCOL: usize = 9;
const IP_CHECKSUM: usize = 10;
const TCP_SEQ: usize = 4;
const TCP_FLAGS: usize = 12;
const TCP_CHECKSUM: usize = 16;
const PROTO_TCP: u8 = 6;

/// The headers of a large IPv4/TCP segment, read once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LargeSegment {
    /// IPv4 header length.
    pub ip_len: usize,
    /// TCP header length (options included).
    pub tcp_len: usize,
    /// Payload bytes after the headers.
    pub payload: usize,
    seq: u32,
    flags: u16,
}

impl LargeSegment {
    /// Read the headers of `ip` (an IPv4 packet from its header on).
    pub fn parse(ip: &[u8]) -> Result<LargeSegment, GsoError> {
        if ip.len() < 20 || ip[0] >> 4 != 4 || ip[IP_PROTOCOL] != PROTO_TCP {
            return Err(GsoError::NotTcp4);
        }
        let ip_len = usize::from(ip[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([ip[IP_TOTAL_LEN], ip[IP_TOTAL_LEN + 1]]));
        if ip_len < 20 || total != ip.len() || total < ip_len + 20 {
            return Err(GsoError::BadLength);
        }
        let tcp = &ip[ip_len..];
        let tcp_len = usize::from(tcp[TCP_FLAGS] >> 4) * 4;
        if tcp_len < 20 || tcp_len > tcp.len() {
            return Err(GsoError::BadLength);
        }
        let seq = u32::from_be_bytes([tcp[TCP_SEQ], tcp[TCP_SEQ + 1], tcp[TCP_SEQ + 2], tcp[TCP_SEQ + 3]]);
        let flags = u16::from_be_bytes([tcp[TCP_FLAGS], tcp[TCP_FLAGS + 1]]) & 0x1ff;
        Ok(LargeSegment { ip_len, tcp_len, payload: tcp.len() - tcp_len, seq, flags })
    }

    /// IPv4 + TCP header bytes.
    #[inline]
    pub fn headers(&self) -> usize {
        self.ip_len + self.tcp_len
    }

    /// How many pieces of `seg_size` payload bytes the payload makes.
    #[inline]
    pub fn pieces(&self, seg_size: usize) -> usize {
        self.payload.div_ceil(seg_size.max(1))
    }

    /// Write the piece with payload bytes `off..off + len` of `ip` (the
    /// whole large segment) into `out`, which must be exactly
    /// [`LargeSegment::headers`] + `len` bytes: headers copied and patched
    /// (total length, sequence number, flags), both checksums left 0 for
    /// [`wire::offload::tx_csum_prepare`].
    pub fn write_piece(&self, ip: &[u8], off: usize, len: usize, out: &mut [u8]) {
        let h = self.headers();
        debug_assert_eq!(out.len(), h + len);
        out[..h].copy_from_slice(&ip[..h]);
        out[h..].copy_from_slice(&ip[h + off..h + off + len]);
        out[IP_TOTAL_LEN..IP_TOTAL_LEN + 2].copy_from_slice(&((h + len) as u16).to_be_bytes());
        out[IP_CHECKSUM..IP_CHECKSUM + 2].copy_from_slice(&[0, 0]);
        let tcp = &mut out[self.ip_len..];
        tcp[TCP_SEQ..TCP_SEQ + 4].copy_from_slice(&self.seq.wrapping_add(off as u32).to_be_bytes());
        let mut flags = self.flags;
        if off + len < self.payload {
            flags &= !(Flags::FIN.0 | Flags::PSH.0);
        }
        if off > 0 {
            flags &= !Flags::CWR.0;
        }
        let word = (u16::from(tcp[TCP_FLAGS] & 0xf0) << 8) | flags;
        tcp[TCP_FLAGS..TCP_FLAGS + 2].copy_from_slice(&word.to_be_bytes());
        tcp[TCP_CHECKSUM..TCP_CHECKSUM + 2].copy_from_slice(&[0, 0]);
    }
}

/// Set a large segment's headers up for the NIC's TSO (DPDK's contract:
/// IPv4 checksum 0, asked of the NIC; TCP checksum field = the folded,
/// uncomplemented pseudo-header sum over addresses and protocol, without a
/// length, which the NIC adds per piece). Returns the parsed headers.
pub fn tso_prepare(ip: &mut [u8]) -> Result<LargeSegment, GsoError> {
    let s = LargeSegment::parse(ip)?;
    let src = std::net::Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = std::net::Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    ip[IP_CHECKSUM..IP_CHECKSUM + 2].copy_from_slice(&[0, 0]);
    let pseudo = !checksum::fold(checksum::pseudo_header_ipv4(src, dst, PROTO_TCP, 0));
    let at = s.ip_len + TCP_CHECKSUM;
    ip[at..at + 2].copy_from_slice(&pseudo.to_be_bytes());
    Ok(s)
}

#[cfg(test)]
mod test {
    use super::*;
    use std::net::Ipv4Addr;
    use wire::ipv4;
    use wire::offload::{tx_csum_prepare, CsumSet};
    use wire::tcp::{Repr as TcpRepr, SeqNumber, Timestamp};

    /// A large segment of `n` payload bytes (i as u8 at offset i) with
    /// timestamps and the flags `flags`.
    fn large(n: usize, flags: Flags) -> Vec<u8> {
        let repr = TcpRepr {
            src_port: 7,
            dst_port: 40000,
            seq_number: SeqNumber(0xffff_f000),
            ack_number: SeqNumber(99),
            flags,
            window_len: 1000,
            timestamp: Some(Timestamp { tsval: 1, tsecr: 2 }),
            payload_len: n,
            ..TcpRepr::default()
        };
        let th = repr.header_len();
        let mut b = vec![0u8; 20 + th + n];
        let ip = ipv4::Repr {
            src_addr: Ipv4Addr::new(198, 18, 0, 2),
            dst_addr: Ipv4Addr::new(198, 18, 0, 1),
            next_header: ipv4::Protocol::Tcp,
            payload_len: th + n,
            hop_limit: 64,
        };
        ip.emit(&mut ipv4::Packet::new_unchecked(&mut b[..]));
        repr.emit(&mut wire::tcp::Packet::new_unchecked(&mut b[20..]));
        for (i, x) in b[20 + th..].iter_mut().enumerate() {
            *x = i as u8;
        }
        b
    }

    #[test]
    fn pieces_carry_the_payload_in_order_with_patched_headers_and_valid_checksums() {
        let mss = 1448;
        let n = 10 * mss + 123;
        let big = large(n, Flags::ACK | Flags::PSH | Flags::FIN | Flags::CWR);
        let s = LargeSegment::parse(&big).unwrap();
        assert_eq!((s.ip_len, s.tcp_len, s.payload), (20, 32, n));
        assert_eq!(s.pieces(mss), 11);
        let mut got = Vec::new();
        for i in 0..s.pieces(mss) {
            let off = i * mss;
            let len = mss.min(n - off);
            let mut out = vec![0u8; s.headers() + len];
            s.write_piece(&big, off, len, &mut out);
            let req = tx_csum_prepare(&mut out, CsumSet::NONE).unwrap();
            assert!(req.is_empty());
            let ip = ipv4::Packet::new_checked(&out[..]).unwrap();
            assert!(ip.verify_checksum());
            let r = ipv4::Repr::parse(&ip, true).unwrap();
            assert_eq!(usize::from(ip.total_len()), out.len());
            let tcp = wire::tcp::Packet::new_checked(ip.payload()).unwrap();
            assert!(wire::offload::l4_csum_ok(wire::offload::L4Csum::Tcp, r.src_addr, r.dst_addr, ip.payload()));
            assert_eq!(tcp.seq_number(), SeqNumber(0xffff_f000u32.wrapping_add(off as u32)));
            let last = i + 1 == s.pieces(mss);
            assert_eq!(tcp.flags().fin(), last, "piece {i}");
            assert_eq!(tcp.flags().contains(Flags::PSH), last, "piece {i}");
            assert_eq!(tcp.flags().contains(Flags::CWR), i == 0, "piece {i}");
            assert!(tcp.flags().ack());
            got.extend_from_slice(&out[s.headers()..]);
        }
        assert_eq!(got, big[s.headers()..]);
    }

    #[test]
    fn tso_prepare_leaves_the_pseudo_header_sum_without_length() {
        let mut big = large(5000, Flags::ACK);
        let s = tso_prepare(&mut big).unwrap();
        assert_eq!(&big[10..12], &[0, 0]);
        let want = !checksum::fold(checksum::pseudo_header_ipv4(
            Ipv4Addr::new(198, 18, 0, 2),
            Ipv4Addr::new(198, 18, 0, 1),
            6,
            0,
        ));
        assert_eq!(&big[20 + 16..20 + 18], &want.to_be_bytes());
        assert_eq!(s.payload, 5000);
    }

    #[test]
    fn malformed_input_is_refused_not_a_panic() {
        assert_eq!(LargeSegment::parse(&[]), Err(GsoError::NotTcp4));
        let mut b = large(100, Flags::ACK);
        b[2] = 0xff; // total length longer than the buffer
        assert_eq!(LargeSegment::parse(&b), Err(GsoError::BadLength));
        let mut b = large(100, Flags::ACK);
        b[20 + 12] = 0xf0; // TCP header of 60 bytes, past the end of a short packet
        b.truncate(20 + 40);
        b[2..4].copy_from_slice(&60u16.to_be_bytes());
        assert_eq!(LargeSegment::parse(&b), Err(GsoError::BadLength));
        let mut b = large(10, Flags::ACK);
        b[9] = 17;
        assert_eq!(LargeSegment::parse(&b), Err(GsoError::NotTcp4));
    }
}
