//! Initial sequence numbers (RFC 6528): `ISN = M + F(4-tuple, secret)`,
//! where `M` is a clock ticking every 4 µs and `F` a keyed hash, so ISNs of
//! one 4-tuple grow with time (old duplicates stay outside the new
//! connection's window) while different 4-tuples are unpredictable to an
//! off-path attacker. `F` is SipHash-2-4, also used by [`super::syncookie`].

use std::net::SocketAddrV4;

/// SipHash-2-4 of `data` under the 128-bit key `(k0, k1)`.
pub fn siphash24(k0: u64, k1: u64, data: &[u8]) -> u64 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let m = u64::from_le_bytes(c.try_into().expect("8-byte chunk"));
        v[3] ^= m;
        round(&mut v);
        round(&mut v);
        v[0] ^= m;
    }
    let rest = chunks.remainder();
    let mut last = [0u8; 8];
    last[..rest.len()].copy_from_slice(rest);
    last[7] = data.len() as u8;
    let m = u64::from_le_bytes(last);
    v[3] ^= m;
    round(&mut v);
    round(&mut v);
    v[0] ^= m;
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// The 12 bytes of a 4-tuple, in a fixed order, for hashing.
pub(crate) fn tuple_bytes(local: SocketAddrV4, remote: SocketAddrV4) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[0..4].copy_from_slice(&local.ip().octets());
    b[4..8].copy_from_slice(&remote.ip().octets());
    b[8..10].copy_from_slice(&local.port().to_be_bytes());
    b[10..12].copy_from_slice(&remote.port().to_be_bytes());
    b
}

/// Nanoseconds per tick of RFC 6528's `M` clock.
const M_TICK_NS: u64 = 4_000;

/// Generates ISNs; one per worker, all sharing the node's secret.
#[derive(Clone)]
pub struct IsnGenerator {
    k0: u64,
    k1: u64,
}

impl core::fmt::Debug for IsnGenerator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Why: never print the secret (it would let a reader predict ISNs).
        f.write_str("IsnGenerator { .. }")
    }
}

impl IsnGenerator {
    /// A generator keyed by `secret` (random, chosen once at node start).
    pub fn new(secret: [u8; 16]) -> Self {
        let (a, b) = secret.split_at(8);
        IsnGenerator {
            k0: u64::from_le_bytes(a.try_into().expect("8 bytes")),
            k1: u64::from_le_bytes(b.try_into().expect("8 bytes")),
        }
    }

    /// The ISN for a connection from `local` to `remote` at `now` (ns).
    pub fn generate(&self, local: SocketAddrV4, remote: SocketAddrV4, now: u64) -> u32 {
        let f = siphash24(self.k0, self.k1, &tuple_bytes(local, remote)) as u32;
        f.wrapping_add((now / M_TICK_NS) as u32)
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use wire::tcp::SeqNumber;

    #[test]
    fn siphash_reference_vectors() {
        // The SipHash paper's test key 00..0f; the messages are 00, 01, .. (len - 1).
        let k0 = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
        let k1 = u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]);
        let msg: Vec<u8> = (0..64u8).collect();
        assert_eq!(siphash24(k0, k1, &msg[..0]), 0x726f_db47_dd0e_0e31);
        assert_eq!(siphash24(k0, k1, &msg[..1]), 0x74f8_39c5_93dc_67fd);
        assert_eq!(siphash24(k0, k1, &msg[..8]), 0x93f5_f579_9a93_2462);
        assert_eq!(siphash24(k0, k1, &msg[..15]), 0xa129_ca61_49be_45e5);
    }

    fn addr(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    #[test]
    fn monotonic_per_tuple_over_time() {
        let g = IsnGenerator::new(*b"0123456789abcdef");
        let (l, r) = (addr("198.18.0.2:80"), addr("198.18.0.1:40000"));
        let mut prev = SeqNumber(g.generate(l, r, 0));
        for k in 1..1000u64 {
            let now = k * 1_000_000; // every ms
            let isn = SeqNumber(g.generate(l, r, now));
            assert!(isn > prev);
            // M advances 250 per ms (4 µs ticks).
            assert_eq!(isn.diff(prev), 250);
            prev = isn;
        }
    }

    #[test]
    fn unpredictable_across_tuples_and_keys() {
        let g = IsnGenerator::new(*b"0123456789abcdef");
        let h = IsnGenerator::new(*b"0123456789abcdeF");
        let l = addr("198.18.0.2:80");
        let isns: Vec<u32> =
            (0..256u16).map(|p| g.generate(l, SocketAddrV4::new([198, 18, 0, 1].into(), 40000 + p), 0)).collect();
        let mut sorted = isns.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), isns.len(), "neighbouring ports must not collide");
        // Neighbouring ports differ in about half the bits (no linear pattern).
        let avg_bits: f64 = isns.windows(2).map(|w| f64::from((w[0] ^ w[1]).count_ones())).sum::<f64>() / 255.0;
        assert!((12.0..20.0).contains(&avg_bits), "avg differing bits {avg_bits}");
        // Another secret gives other ISNs.
        let r = addr("198.18.0.1:40000");
        assert_ne!(g.generate(l, r, 0), h.generate(l, r, 0));
        assert!(format!("{g:?}").contains(".."));
    }
}
