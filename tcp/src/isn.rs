//! Initial sequence numbers (RFC 6528): `ISN = M + F(4-tuple, secret)`,
//! where `M` is a clock ticking every 4 µs and `F` a keyed hash, so ISNs of
//! one 4-tuple grow with time (old duplicates stay outside the new
//! connection's window) while different 4-tuples are unpredictable to an
//! off-path attacker. `F` is SipHash-2-4, also used by [`super::syncookie`].

use std::hash::Hasher;
use std::net::{IpAddr, SocketAddr};

use siphasher::sip::SipHasher24;

/// SipHash-2-4 of `data` under the 128-bit key `(k0, k1)` (the `siphasher` crate).
#[inline]
pub fn siphash24(k0: u64, k1: u64, data: &[u8]) -> u64 {
    let mut h = SipHasher24::new_with_keys(k0, k1);
    h.write(data);
    h.finish()
}

/// 16 random bytes from the operating system (ISN and cookie keys).
pub fn random_secret() -> [u8; 16] {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // No entropy source: fall back to the clock and the pid, which is
        // still unpredictable enough for off-path attackers of a test node.
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        b.copy_from_slice(&(t ^ (u128::from(std::process::id()) << 64)).to_le_bytes());
    }
    b
}

/// The bytes of a 4-tuple, in a fixed order, for hashing, and how many
/// there are: 12 for IPv4, 36 for IPv6 (addresses, then ports).
pub(crate) fn tuple_bytes(local: SocketAddr, remote: SocketAddr) -> ([u8; 36], usize) {
    let mut b = [0u8; 36];
    let n = match (local.ip(), remote.ip()) {
        (IpAddr::V4(l), IpAddr::V4(r)) => {
            b[0..4].copy_from_slice(&l.octets());
            b[4..8].copy_from_slice(&r.octets());
            8
        }
        (l, r) => {
            b[0..16].copy_from_slice(&ip6_octets(l));
            b[16..32].copy_from_slice(&ip6_octets(r));
            32
        }
    };
    b[n..n + 2].copy_from_slice(&local.port().to_be_bytes());
    b[n + 2..n + 4].copy_from_slice(&remote.port().to_be_bytes());
    (b, n + 4)
}

fn ip6_octets(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
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
    pub fn generate(&self, local: SocketAddr, remote: SocketAddr, now: u64) -> u32 {
        let (b, n) = tuple_bytes(local, remote);
        let f = siphash24(self.k0, self.k1, &b[..n]) as u32;
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

    fn addr(s: &str) -> SocketAddr {
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
            (0..256u16).map(|p| g.generate(l, SocketAddr::new([198, 18, 0, 1].into(), 40000 + p), 0)).collect();
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

    #[test]
    fn random_secrets_differ() {
        assert_ne!(random_secret(), random_secret());
    }
}
