//! The Internet checksum (RFC 1071): the ones-complement sum of 16-bit
//! big-endian words, complemented. `sum` accumulates (so a pseudo header,
//! a header and a payload in separate buffers can be summed in turn),
//! `fold` finishes. `sum` is on the fast path (every IPv4 header, every
//! UDP/TCP segment), so it adds eight bytes at a time in native byte order
//! and swaps once at the end, which RFC 1071 §2(B) shows is equivalent.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Add `data`, as big-endian 16-bit words (an odd last byte is padded with
/// zero), to the partial sum `initial`. The result is a partial sum for
/// `sum` or `fold`, reduced to at most 16 bits so chaining cannot overflow.
/// When chaining, every buffer but the last must have an even length.
#[inline]
pub fn sum(data: &[u8], initial: u32) -> u32 {
    // Each 8-byte chunk adds at most 2 * (2^32 - 1) to `acc`, so a u64
    // cannot overflow below 2^31 chunks (16 GiB), far beyond any packet.
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        acc += (w >> 32) + (w & 0xffff_ffff);
    }
    let mut rest = chunks.remainder();
    if rest.len() >= 4 {
        acc += u64::from(u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]));
        rest = &rest[4..];
    }
    if rest.len() >= 2 {
        acc += u64::from(u16::from_ne_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
    }
    if let Some(&b) = rest.first() {
        // In memory the pad byte follows `b`, so the word is [b, 0].
        acc += u64::from(u16::from_ne_bytes([b, 0]));
    }
    // Reduce to 16 bits in native order, then convert to the big-endian
    // value of the word sum (a byte swap on little-endian machines).
    let native = reduce(acc);
    let be = u16::from_be(native as u16);
    reduce(u64::from(initial) + u64::from(be))
}

/// [`sum`] over data in pieces of any length (a chained packet's
/// segments): the same partial sum as over the pieces joined. A piece of
/// odd length lends its last byte to the next piece's first.
pub fn sum_parts<'a>(parts: impl IntoIterator<Item = &'a [u8]>, initial: u32) -> u32 {
    let mut acc = initial;
    let mut pending: Option<u8> = None;
    for mut p in parts {
        if let Some(b) = pending {
            let Some((&first, rest)) = p.split_first() else { continue };
            acc = sum(&[b, first], acc);
            pending = None;
            p = rest;
        }
        if p.len() % 2 == 1 {
            let (even, last) = p.split_at(p.len() - 1);
            acc = sum(even, acc);
            pending = Some(last[0]);
        } else {
            acc = sum(p, acc);
        }
    }
    if let Some(b) = pending {
        acc = sum(&[b], acc);
    }
    acc
}

/// Fold carries into 16 bits (end-around carry) without complementing.
#[inline]
fn reduce(mut acc: u64) -> u32 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u32
}

/// Finish a partial sum: fold the carries and complement. The result is
/// the value to store in a checksum field, or 0 when verifying a buffer
/// that includes a correct checksum.
#[inline]
pub fn fold(sum: u32) -> u16 {
    !(reduce(u64::from(sum)) as u16)
}

/// The checksum of `data` alone.
#[inline]
pub fn data(data: &[u8]) -> u16 {
    fold(sum(data, 0))
}

/// The partial sum of the IPv4 pseudo header used by UDP and TCP: source,
/// destination, zero, protocol, and the transport length.
#[inline]
pub fn pseudo_header_ipv4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u32 {
    let s = u32::from(src);
    let d = u32::from(dst);
    (s >> 16) + (s & 0xffff) + (d >> 16) + (d & 0xffff) + u32::from(protocol) + u32::from(length)
}

/// The partial sum of the IPv6 pseudo header (RFC 8200 8.1) used by UDP,
/// TCP and ICMPv6: source, destination, the upper-layer length as 32 bits,
/// three zero bytes and the next header.
#[inline]
pub fn pseudo_header_ipv6(src: &Ipv6Addr, dst: &Ipv6Addr, next_header: u8, length: u32) -> u32 {
    let words = |a: &Ipv6Addr| a.segments().iter().map(|&w| u32::from(w)).sum::<u32>();
    reduce(
        u64::from(words(src))
            + u64::from(words(dst))
            + u64::from(length >> 16)
            + u64::from(length & 0xffff)
            + u64::from(next_header),
    )
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;

    /// The obvious implementation, to compare the fast one against.
    fn naive(data: &[u8], initial: u32) -> u32 {
        let mut acc = u64::from(initial);
        for pair in data.chunks(2) {
            let hi = u64::from(pair[0]) << 8;
            let lo = pair.get(1).map_or(0, |&b| u64::from(b));
            acc += hi | lo;
        }
        reduce(acc)
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&bytes, 0), 0xddf2);
        assert_eq!(data(&bytes), !0xddf2);
    }

    // A real IPv4 header (ICMP echo, 198.18.0.1 -> 198.18.0.2).
    static IPV4_HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x54, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x01, 0x92, 0x3b, 0xc6, 0x12, 0x00, 0x01, 0xc6, 0x12,
        0x00, 0x02,
    ];

    #[test]
    fn verifies_real_header() {
        assert_eq!(data(&IPV4_HEADER), 0);
        let mut h = IPV4_HEADER;
        h[10] = 0;
        h[11] = 0;
        assert_eq!(data(&h), 0x923b);
    }

    #[test]
    fn odd_lengths_and_empty() {
        assert_eq!(sum(&[], 0), 0);
        assert_eq!(data(&[]), 0xffff);
        assert_eq!(sum(&[0xab], 0), 0xab00);
        assert_eq!(sum(&[0x12, 0x34, 0x56], 0), 0x1234 + 0x5600);
    }

    #[test]
    fn chaining_equals_one_pass_on_even_split() {
        let all: Vec<u8> = (0..=255u8).cycle().take(1501).collect();
        let one = sum(&all, 0);
        let two = sum(&all[600..], sum(&all[..600], 0));
        assert_eq!(fold(one), fold(two));
    }

    #[test]
    fn fold_handles_carries() {
        assert_eq!(fold(0xffff), 0);
        assert_eq!(fold(0x1_0000), !1);
        assert_eq!(fold(u32::MAX), 0);
    }

    #[test]
    fn pseudo_header() {
        let s = pseudo_header_ipv4(Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2), 17, 12);
        assert_eq!(s, 0xc612 + 0x0001 + 0xc612 + 0x0002 + 17 + 12);
    }

    #[test]
    fn pseudo_header_v6_matches_bytes() {
        let src: Ipv6Addr = "fd00:198:18::1".parse().unwrap();
        let dst: Ipv6Addr = "fe80::5054:ff:fe12:3456".parse().unwrap();
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&src.octets());
        bytes.extend_from_slice(&dst.octets());
        bytes.extend_from_slice(&70000u32.to_be_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 58]);
        assert_eq!(fold(pseudo_header_ipv6(&src, &dst, 58, 70000)), data(&bytes));
    }

    proptest! {
        #[test]
        fn fast_sum_matches_naive(data in proptest::collection::vec(any::<u8>(), 0..2000), init in 0u32..0x2_0000) {
            prop_assert_eq!(fold(sum(&data, init)), fold(naive(&data, init)));
        }

        #[test]
        fn unaligned_slices_match(data in proptest::collection::vec(any::<u8>(), 1..300), skip in 0usize..8) {
            let skip = skip.min(data.len());
            prop_assert_eq!(fold(sum(&data[skip..], 0)), fold(naive(&data[skip..], 0)));
        }
    }

    #[test]
    fn a_sum_in_pieces_equals_the_sum_at_every_split_point() {
        let data: Vec<u8> = (0..37u32).map(|i| (i * 89 + 13) as u8).collect();
        for a in 0..=data.len() {
            for b in a..=data.len() {
                let whole = sum(&data, 0x1234);
                let parts = sum_parts([&data[..a], &data[a..b], &[][..], &data[b..]], 0x1234);
                assert_eq!(fold(parts), fold(whole), "{a} {b}");
            }
        }
    }
}
