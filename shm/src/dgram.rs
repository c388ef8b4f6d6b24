//! Datagram framing in a fifo: every datagram of a datagram session (UDP,
//! cut-through UDP) travels as a [`DgramHeader`] followed by its payload,
//! written together so the consumer never sees half a datagram.
//!
//! The node and external applications both read and write this framing, so
//! it lives here with the fifo rather than in the session layer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::fifo::{FifoConsumer, FifoProducer};
use crate::wire::{encode_addr, family};

/// The header in front of every datagram in a datagram session's fifos.
///
/// Layout (44 bytes, little endian, as the app's client library reads it):
///
/// ```text
/// 0..4 payload length (u32) | 4..6 remote port | 6..8 local port
/// 8 remote family | 9 local family (4 IPv4, 6 IPv6) | 10..12 zero
/// 12..28 remote address | 28..44 local address
/// ```
///
/// Addresses are 16 bytes in network order, an IPv4 one in the first 4
/// (the rest zero), as in the queue messages ([`crate::wire::family`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct DgramHeader {
    /// Payload bytes that follow.
    pub len: u32,
    /// Remote endpoint (source for rx, destination for tx).
    pub remote: SocketAddr,
    /// Local endpoint.
    pub local: SocketAddr,
}

impl DgramHeader {
    /// Encoded size.
    pub const SIZE: usize = 44;

    /// The header for a datagram of `len` bytes between these endpoints.
    pub fn new(len: u32, remote: SocketAddr, local: SocketAddr) -> DgramHeader {
        DgramHeader { len, remote, local }
    }

    /// Encodes into [`Self::SIZE`] bytes.
    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        let (rf, ra) = encode_addr(self.remote.ip());
        let (lf, la) = encode_addr(self.local.ip());
        b[0..4].copy_from_slice(&self.len.to_le_bytes());
        b[4..6].copy_from_slice(&self.remote.port().to_le_bytes());
        b[6..8].copy_from_slice(&self.local.port().to_le_bytes());
        b[8] = rf;
        b[9] = lf;
        b[12..28].copy_from_slice(&ra);
        b[28..44].copy_from_slice(&la);
        b
    }

    /// Decodes [`Self::SIZE`] bytes. Never fails: a family byte other than
    /// IPv6's reads as IPv4 (the first 4 address bytes). The node reads only
    /// the length of what an app writes (it sends to its session's peer), so
    /// a wrong address in an app's header harms nobody but the app.
    pub fn decode(b: &[u8; Self::SIZE]) -> DgramHeader {
        let addr = |fam: u8, o: usize| -> IpAddr {
            let mut a = [0u8; 16];
            a.copy_from_slice(&b[o..o + 16]);
            if fam == family::IP6 {
                IpAddr::V6(Ipv6Addr::from(a))
            } else {
                IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))
            }
        };
        let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
        DgramHeader {
            len: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            remote: SocketAddr::new(addr(b[8], 12), u16_at(4)),
            local: SocketAddr::new(addr(b[9], 28), u16_at(6)),
        }
    }
}

/// Enqueues one datagram (header + payload) so the consumer sees all of it or none; false if it does not fit.
pub fn dgram_enqueue(fifo: &mut FifoProducer<'_>, hdr: &DgramHeader, payload: &[u8]) -> bool {
    let total = DgramHeader::SIZE + payload.len();
    if fifo.max_enqueue() < total {
        return false;
    }
    let h = hdr.encode();
    let (a, b) = fifo.writable_slices();
    // Header then payload across the (possibly split) free space, in at most
    // four memcpys, published together by the commit.
    copy_split(a, b, 0, &h);
    copy_split(a, b, DgramHeader::SIZE, payload);
    fifo.commit(total) == total
}

/// Writes `src` at logical position `at` of the space made of `a` followed by `b`.
fn copy_split(a: &mut [u8], b: &mut [u8], at: usize, src: &[u8]) {
    let in_a = a.len().saturating_sub(at).min(src.len());
    if in_a > 0 {
        a[at..at + in_a].copy_from_slice(&src[..in_a]);
    }
    let rest = &src[in_a..];
    if !rest.is_empty() {
        let from = at + in_a - a.len();
        b[from..from + rest.len()].copy_from_slice(rest);
    }
}

/// Reads the header of the first whole datagram in `fifo` without removing it.
pub fn dgram_peek_header(fifo: &FifoConsumer<'_>) -> Option<DgramHeader> {
    let mut h = [0u8; DgramHeader::SIZE];
    if fifo.peek(0, &mut h) < DgramHeader::SIZE {
        return None;
    }
    let hdr = DgramHeader::decode(&h);
    (fifo.max_dequeue() >= DgramHeader::SIZE + hdr.len as usize).then_some(hdr)
}

/// Removes the first datagram, copying up to `buf.len()` payload bytes; returns the header.
///
/// A payload longer than `buf` is truncated (the rest is dropped), as a
/// datagram socket does.
pub fn dgram_dequeue(fifo: &FifoConsumer<'_>, buf: &mut [u8]) -> Option<(DgramHeader, usize)> {
    let hdr = dgram_peek_header(fifo)?;
    let n = (hdr.len as usize).min(buf.len());
    fifo.peek(DgramHeader::SIZE, &mut buf[..n]);
    fifo.dequeue_drop(DgramHeader::SIZE + hdr.len as usize);
    Some((hdr, n))
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn split_copies_land_in_order() {
        let (mut a, mut b) = ([0u8; 5], [0u8; 7]);
        copy_split(&mut a, &mut b, 0, &[1, 2, 3]);
        copy_split(&mut a, &mut b, 3, &[4, 5, 6, 7]);
        copy_split(&mut a, &mut b, 7, &[8, 9, 10, 11, 12]);
        assert_eq!((a, b), ([1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11, 12]));
    }
    use crate::fifo::{Fifo, TestMem};

    #[test]
    fn dgram_header_round_trip() {
        let h = DgramHeader {
            len: 1234,
            remote: "198.18.0.1:5353".parse().unwrap(),
            local: "198.18.0.2:7".parse().unwrap(),
        };
        let b = h.encode();
        assert_eq!(&b[0..4], &1234u32.to_le_bytes());
        assert_eq!(&b[4..6], &5353u16.to_le_bytes());
        assert_eq!((b[8], b[9]), (family::IP4, family::IP4));
        assert_eq!(&b[12..16], &[198, 18, 0, 1]);
        assert_eq!(DgramHeader::decode(&b), h);
        let h6 =
            DgramHeader::new(9000, "[fd00:198:18::1]:5353".parse().unwrap(), "[fd00:198:18::2]:7".parse().unwrap());
        let b = h6.encode();
        assert_eq!((b[8], b[9]), (family::IP6, family::IP6));
        assert_eq!(&b[12..14], &[0xfd, 0x00]);
        assert_eq!(b[43], 2, "last byte of the local address");
        assert_eq!(DgramHeader::decode(&b), h6);
    }

    #[test]
    fn datagrams_are_whole_or_absent_and_wrap() {
        let size = 256u32;
        let mem = TestMem::new(Fifo::footprint(size));
        // SAFETY: fresh test memory, one producer and one consumer view on one thread.
        let (mut p, f) = unsafe {
            (
                Fifo::init(mem.ptr(), size).unwrap().into_producer(),
                Fifo::from_raw(mem.ptr(), size).unwrap().into_consumer(),
            )
        };
        let hdr = |len| DgramHeader { len, remote: "1.2.3.4:5".parse().unwrap(), local: "6.7.8.9:10".parse().unwrap() };
        let mut buf = [0u8; 300];
        for round in 0..50u32 {
            let len = 20 + (round * 13) % 100;
            let payload: Vec<u8> = (0..len).map(|i| (i + round) as u8).collect();
            assert!(dgram_enqueue(&mut p, &hdr(len), &payload));
            let (h, n) = dgram_dequeue(&f, &mut buf).unwrap();
            assert_eq!((h.len, n), (len, len as usize));
            assert_eq!(&buf[..n], &payload[..]);
        }
        // Too big for what is free: refused, nothing written.
        assert!(!dgram_enqueue(&mut p, &hdr(250), &[0; 250]));
        assert!(f.is_empty());
        // Truncation drops the rest of the datagram.
        assert!(dgram_enqueue(&mut p, &hdr(40), &[9; 40]));
        assert!(dgram_enqueue(&mut p, &hdr(3), &[1, 2, 3]));
        let (h, n) = dgram_dequeue(&f, &mut buf[..10]).unwrap();
        assert_eq!((h.len, n), (40, 10));
        let (h, n) = dgram_dequeue(&f, &mut buf).unwrap();
        assert_eq!((h.len, &buf[..n]), (3, &[1u8, 2, 3][..]));
        assert!(dgram_dequeue(&f, &mut buf).is_none());
    }
}
