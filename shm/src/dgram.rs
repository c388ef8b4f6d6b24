//! Datagram framing in a fifo: every datagram of a datagram session (UDP,
//! cut-through UDP) travels as a [`DgramHeader`] followed by its payload,
//! written together so the consumer never sees half a datagram.
//!
//! The node and external applications both read and write this framing, so
//! it lives here with the fifo rather than in the session layer.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

use crate::fifo::{FifoConsumer, FifoProducer};

/// The header in front of every datagram in a datagram session's fifos.
///
/// Layout (16 bytes, little endian, as the app's client library reads it):
/// payload length (u32), remote IPv4 (4 bytes, network order), remote port
/// (u16), local port (u16), local IPv4 (4 bytes, network order).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct DgramHeader {
    /// Payload bytes that follow.
    pub len: u32,
    /// Remote endpoint (source for rx, destination for tx).
    pub remote: SocketAddrV4,
    /// Local endpoint.
    pub local: SocketAddrV4,
}

impl DgramHeader {
    /// Encoded size.
    pub const SIZE: usize = 16;

    /// The header for a datagram of `len` bytes between these endpoints.
    /// The framing carries IPv4 addresses only: for an IPv6 session the
    /// address fields are `0.0.0.0` (the ports are kept). The node sends
    /// a datagram to its session's peer whatever the header says, so only
    /// an app reading the addresses out of the framing misses them; the
    /// session's endpoints name them.
    pub fn new(len: u32, remote: SocketAddr, local: SocketAddr) -> DgramHeader {
        let v4 = |a: SocketAddr| match a.ip() {
            IpAddr::V4(ip) => SocketAddrV4::new(ip, a.port()),
            IpAddr::V6(_) => SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, a.port()),
        };
        DgramHeader { len, remote: v4(remote), local: v4(local) }
    }

    /// Encodes into 16 bytes.
    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..4].copy_from_slice(&self.len.to_le_bytes());
        b[4..8].copy_from_slice(&self.remote.ip().octets());
        b[8..10].copy_from_slice(&self.remote.port().to_le_bytes());
        b[10..12].copy_from_slice(&self.local.port().to_le_bytes());
        b[12..16].copy_from_slice(&self.local.ip().octets());
        b
    }

    /// Decodes 16 bytes.
    pub fn decode(b: &[u8; Self::SIZE]) -> DgramHeader {
        let ip = |o: usize| Ipv4Addr::new(b[o], b[o + 1], b[o + 2], b[o + 3]);
        let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
        DgramHeader {
            len: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            remote: SocketAddrV4::new(ip(4), u16_at(8)),
            local: SocketAddrV4::new(ip(12), u16_at(10)),
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
        assert_eq!(&b[4..8], &[198, 18, 0, 1]);
        assert_eq!(DgramHeader::decode(&b), h);
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
