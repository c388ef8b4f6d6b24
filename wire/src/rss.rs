//! Receive-side scaling in software: the Toeplitz hash, the redirection
//! table, and flow-affine local port selection.
//!
//! A NIC with RSS hashes each received packet's addresses (and ports) with
//! the Toeplitz function under a 40-byte key, and the low bits of the hash
//! index a redirection table (RETA) that names the rx queue. The node
//! programs both (the DPDK layer's port set-up) and keeps a copy, in an
//! [`RssTable`], so software can predict where a flow lands. The transport
//! uses that for active opens: [`pick_local_port`] chooses an ephemeral
//! port whose *reply* hashes to the opening worker's queue, so a connection
//! is served by one worker for its whole life, without locks or handoffs.
//!
//! Which hash to use for a received packet: the NIC's, when the mbuf
//! carries one (the DPDK layer reads it from the mbuf) and the port has an
//! [`RssTable`] (so the NIC hashes with the key and fields recorded here);
//! otherwise software computes [`RssTable::flow_hash`]. Both give the same
//! value for the same packet; the NIC's is free.
//!
//! Toeplitz is linear over XOR: the hash of `a ^ b` is the hash of `a`
//! xor the hash of `b`. [`Toeplitz`] precomputes, per input byte position,
//! the contribution of each of the 256 byte values, so a hash is one table
//! load and one xor per input byte, and a port search re-hashes only the
//! two bytes that change.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::RangeInclusive;

use crate::ipv4::Protocol;

/// The 40-byte Toeplitz key the node programs (the well-known default key
/// used by many NIC drivers, so software hashes match published vectors).
pub const RSS_KEY: [u8; KEY_LEN] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b,
    0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac,
    0x01, 0xfa,
];

/// Key length in bytes (the size every NIC with a 40-byte key uses, and the
/// longest input it covers is `KEY_LEN - 4` bytes).
pub const KEY_LEN: usize = 40;

/// The longest input the 40-byte key can hash (an IPv6 4-tuple).
pub const MAX_INPUT: usize = KEY_LEN - 4;

/// Toeplitz hash of `input` under `key`, bit by bit as the specification
/// states it: for every set input bit (most significant first), xor in the
/// 32 key bits that start at that bit's position.
///
/// Panics if `input` is longer than [`MAX_INPUT`].
pub fn toeplitz(key: &[u8; KEY_LEN], input: &[u8]) -> u32 {
    assert!(input.len() <= MAX_INPUT, "toeplitz input of {} bytes exceeds {MAX_INPUT}", input.len());
    let mut hash = 0u32;
    // `window` holds key bits [8*i, 8*i + 64): the 32-bit windows for all
    // eight bits of input byte i start in its top 40 bits.
    for (i, &byte) in input.iter().enumerate() {
        let window = key_window(key, i);
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                hash ^= (window >> (32 - bit)) as u32;
            }
        }
    }
    hash
}

/// Key bits [8*i, 8*i + 64) as a big-endian u64 (bytes past the key are 0).
#[inline]
fn key_window(key: &[u8; KEY_LEN], i: usize) -> u64 {
    let mut b = [0u8; 8];
    for (j, v) in b.iter_mut().enumerate() {
        *v = key.get(i + j).copied().unwrap_or(0);
    }
    u64::from_be_bytes(b)
}

/// The Toeplitz hash of the IPv4 2-tuple (source, destination), as a NIC
/// hashes a non-TCP/UDP (or fragmented) IPv4 packet.
pub fn toeplitz_v4(key: &[u8; KEY_LEN], src: Ipv4Addr, dst: Ipv4Addr) -> u32 {
    toeplitz(key, &tuple_v4(src, dst))
}

/// The Toeplitz hash of the IPv4 4-tuple (source address, destination
/// address, source port, destination port), in network byte order, as a NIC
/// hashes TCP and UDP.
pub fn toeplitz_v4_ports(key: &[u8; KEY_LEN], src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16) -> u32 {
    toeplitz(key, &tuple_v4_ports(src, dst, sport, dport))
}

/// The Toeplitz hash of the IPv6 2-tuple (source, destination), as a NIC
/// hashes a non-TCP/UDP (or fragmented) IPv6 packet.
pub fn toeplitz_v6(key: &[u8; KEY_LEN], src: &Ipv6Addr, dst: &Ipv6Addr) -> u32 {
    toeplitz(key, &tuple_v6(src, dst))
}

/// The Toeplitz hash of the IPv6 4-tuple (addresses, then ports, in
/// network byte order), as a NIC hashes TCP and UDP over IPv6 without
/// extension headers.
pub fn toeplitz_v6_ports(key: &[u8; KEY_LEN], src: &Ipv6Addr, dst: &Ipv6Addr, sport: u16, dport: u16) -> u32 {
    toeplitz(key, &tuple_v6_ports(src, dst, sport, dport))
}

#[inline]
fn tuple_v6(src: &Ipv6Addr, dst: &Ipv6Addr) -> [u8; 32] {
    let mut t = [0u8; 32];
    t[..16].copy_from_slice(&src.octets());
    t[16..].copy_from_slice(&dst.octets());
    t
}

#[inline]
fn tuple_v6_ports(src: &Ipv6Addr, dst: &Ipv6Addr, sport: u16, dport: u16) -> [u8; MAX_INPUT] {
    let mut t = [0u8; MAX_INPUT];
    t[..32].copy_from_slice(&tuple_v6(src, dst));
    t[32..34].copy_from_slice(&sport.to_be_bytes());
    t[34..].copy_from_slice(&dport.to_be_bytes());
    t
}

#[inline]
fn tuple_v4(src: Ipv4Addr, dst: Ipv4Addr) -> [u8; 8] {
    let mut t = [0u8; 8];
    t[..4].copy_from_slice(&src.octets());
    t[4..].copy_from_slice(&dst.octets());
    t
}

#[inline]
fn tuple_v4_ports(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16) -> [u8; 12] {
    let mut t = [0u8; 12];
    t[..8].copy_from_slice(&tuple_v4(src, dst));
    t[8..10].copy_from_slice(&sport.to_be_bytes());
    t[10..].copy_from_slice(&dport.to_be_bytes());
    t
}

/// A Toeplitz hasher with per-byte tables precomputed from one key.
///
/// `table[i][v]` is the hash of an input that is zero except for byte `i`,
/// which is `v`; by linearity a hash is the xor of one entry per byte.
/// 36 KiB per key; an IPv4 4-tuple touches 12 of the 36 rows.
#[derive(Clone)]
pub struct Toeplitz {
    key: [u8; KEY_LEN],
    table: Box<[[u32; 256]; MAX_INPUT]>,
}

impl std::fmt::Debug for Toeplitz {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Toeplitz").field("key", &self.key).finish_non_exhaustive()
    }
}

impl Toeplitz {
    /// Precompute the tables for `key`.
    pub fn new(key: &[u8; KEY_LEN]) -> Toeplitz {
        let mut table = Box::new([[0u32; 256]; MAX_INPUT]);
        for (i, row) in table.iter_mut().enumerate() {
            let window = key_window(key, i);
            // Contribution of each single bit, then of every byte value as
            // the xor of its bits' contributions.
            let bit: [u32; 8] = std::array::from_fn(|b| (window >> (32 - b)) as u32);
            for (v, slot) in row.iter_mut().enumerate() {
                *slot = (0..8).filter(|b| v & (0x80 >> b) != 0).fold(0, |h, b| h ^ bit[b]);
            }
        }
        Toeplitz { key: *key, table }
    }

    /// The key the tables were built from.
    pub fn key(&self) -> &[u8; KEY_LEN] {
        &self.key
    }

    /// Hash `input` (at most [`MAX_INPUT`] bytes; panics beyond).
    #[inline]
    pub fn hash(&self, input: &[u8]) -> u32 {
        assert!(input.len() <= MAX_INPUT, "toeplitz input of {} bytes exceeds {MAX_INPUT}", input.len());
        input.iter().zip(self.table.iter()).fold(0, |h, (&b, row)| h ^ row[b as usize])
    }

    /// Hash of the IPv4 2-tuple.
    #[inline]
    pub fn hash_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u32 {
        self.hash(&tuple_v4(src, dst))
    }

    /// Hash of the IPv4 4-tuple (addresses and ports in network order).
    #[inline]
    pub fn hash_v4_ports(&self, src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16) -> u32 {
        self.hash(&tuple_v4_ports(src, dst, sport, dport))
    }

    /// Hash of the IPv6 2-tuple.
    #[inline]
    pub fn hash_v6(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> u32 {
        self.hash(&tuple_v6(src, dst))
    }

    /// Hash of the IPv6 4-tuple (addresses and ports in network order).
    #[inline]
    pub fn hash_v6_ports(&self, src: &Ipv6Addr, dst: &Ipv6Addr, sport: u16, dport: u16) -> u32 {
        self.hash(&tuple_v6_ports(src, dst, sport, dport))
    }

    /// The part of an IPv6 4-tuple hash contributed by the destination port
    /// alone (bytes 34 and 35), as [`dport_term`](Self::dport_term) is for IPv4.
    #[inline]
    pub fn dport_term_v6(&self, dport: u16) -> u32 {
        let [hi, lo] = dport.to_be_bytes();
        self.table[34][hi as usize] ^ self.table[35][lo as usize]
    }

    /// The part of an IPv4 4-tuple hash contributed by the destination port
    /// alone (bytes 10 and 11): `hash_v4_ports(s, d, sp, dp) ==
    /// hash_v4_ports(s, d, sp, 0) ^ dport_term(dp)`.
    #[inline]
    pub fn dport_term(&self, dport: u16) -> u32 {
        let [hi, lo] = dport.to_be_bytes();
        self.table[10][hi as usize] ^ self.table[11][lo as usize]
    }
}

/// A redirection table: hash (low bits) to rx queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reta {
    entries: Box<[u16]>,
}

impl Reta {
    /// `size` entries spreading `queues` queues round robin (entry `i` is
    /// queue `i % queues`), the layout the node programs.
    ///
    /// Panics if `size` or `queues` is 0.
    pub fn round_robin(size: usize, queues: u16) -> Reta {
        assert!(size > 0 && queues > 0, "a RETA needs entries and queues");
        Reta { entries: (0..size).map(|i| (i % queues as usize) as u16).collect() }
    }

    /// A table with the given entries (e.g. read back from the NIC).
    ///
    /// Panics if `entries` is empty.
    pub fn from_entries(entries: Vec<u16>) -> Reta {
        assert!(!entries.is_empty(), "a RETA needs entries");
        Reta { entries: entries.into_boxed_slice() }
    }

    /// Number of entries.
    pub fn size(&self) -> usize {
        self.entries.len()
    }

    /// The entries (queue per index).
    pub fn entries(&self) -> &[u16] {
        &self.entries
    }

    /// The queue that receives a packet with hash `hash`. NICs index the
    /// table with the hash's low bits, i.e. `hash % size` for the
    /// power-of-two sizes they use.
    #[inline]
    pub fn queue_for(&self, hash: u32) -> u16 {
        self.entries[hash as usize % self.entries.len()]
    }
}

/// What a port's NIC hashes with: key, fields and redirection table. Built
/// once at port start and then only read, by every worker.
#[derive(Debug, Clone)]
pub struct RssTable {
    hasher: Toeplitz,
    reta: Reta,
    queues: u16,
    tcp_ports: bool,
    udp_ports: bool,
}

impl RssTable {
    /// A table for `queues` queues: `key`, `reta`, and whether the NIC
    /// includes the ports in TCP and UDP hashes (`rss_hf` has the
    /// non-fragment TCP/UDP types).
    pub fn new(key: &[u8; KEY_LEN], reta: Reta, queues: u16, tcp_ports: bool, udp_ports: bool) -> RssTable {
        RssTable { hasher: Toeplitz::new(key), reta, queues, tcp_ports, udp_ports }
    }

    /// The Toeplitz key.
    pub fn key(&self) -> &[u8; KEY_LEN] {
        self.hasher.key()
    }

    /// The redirection table.
    pub fn reta(&self) -> &Reta {
        &self.reta
    }

    /// Queues the table spreads over.
    pub fn queues(&self) -> u16 {
        self.queues
    }

    /// Whether the NIC hashes ports for `l4` (only TCP's and UDP's can be).
    pub fn hashes_ports(&self, l4: Protocol) -> bool {
        match l4 {
            Protocol::Tcp => self.tcp_ports,
            Protocol::Udp => self.udp_ports,
            Protocol::Icmp | Protocol::Unknown(_) => false,
        }
    }

    /// The hash the NIC computes for a received (unfragmented) `l4` packet
    /// from `src:sport` to `dst:dport`.
    #[inline]
    pub fn flow_hash(&self, l4: Protocol, src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16) -> u32 {
        if self.hashes_ports(l4) {
            self.hasher.hash_v4_ports(src, dst, sport, dport)
        } else {
            self.hasher.hash_v4(src, dst)
        }
    }

    /// The hash the NIC computes for a received (unfragmented, no
    /// extension headers) `l4` packet over IPv6.
    #[inline]
    pub fn flow_hash_v6(&self, l4: Protocol, src: &Ipv6Addr, dst: &Ipv6Addr, sport: u16, dport: u16) -> u32 {
        if self.hashes_ports(l4) {
            self.hasher.hash_v6_ports(src, dst, sport, dport)
        } else {
            self.hasher.hash_v6(src, dst)
        }
    }

    /// The queue a received `l4` packet over IPv6 lands on.
    #[inline]
    pub fn queue_for_flow_v6(&self, l4: Protocol, src: &Ipv6Addr, dst: &Ipv6Addr, sport: u16, dport: u16) -> u16 {
        self.queue_for(self.flow_hash_v6(l4, src, dst, sport, dport))
    }

    /// The queue a hash lands on.
    #[inline]
    pub fn queue_for(&self, hash: u32) -> u16 {
        self.reta.queue_for(hash)
    }

    /// The queue a received `l4` packet from `src:sport` to `dst:dport`
    /// lands on.
    #[inline]
    pub fn queue_for_flow(&self, l4: Protocol, src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16) -> u16 {
        self.queue_for(self.flow_hash(l4, src, dst, sport, dport))
    }

    /// The hasher.
    pub fn hasher(&self) -> &Toeplitz {
        &self.hasher
    }
}

/// A connection's endpoints, for [`pick_local_port`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveOpen {
    /// Transport.
    pub l4: Protocol,
    /// Our address (the same family as `remote`; a mixed pair seeks no
    /// affinity).
    pub local: IpAddr,
    /// The peer's address.
    pub remote: IpAddr,
    /// The peer's port.
    pub remote_port: u16,
}

/// Choose a local port for an active open from the worker that owns rx
/// queue `queue`, such that the peer's replies (remote → local) hash to
/// that queue under `rss`.
///
/// Candidates are tried from `start` upwards through `range`, wrapping at
/// its end, at most `attempts` of them; a candidate is taken when `usable`
/// accepts it (the transport says it is free for this 4-tuple) and it maps
/// to `queue`. Returns `None` if no candidate qualifies within the bound.
///
/// Fallback: with no table (`rss` is `None`: a single queue, RSS off, or a
/// NIC whose table the node could neither program nor read) or a table
/// over one queue, every port lands on the only queue or on one the node
/// cannot predict, so the first usable candidate is returned.
///
/// Each candidate costs two table loads and one xor on top of one full
/// hash for the search; with `n` queues a fit takes `n` tries on average,
/// so `attempts` of a few times `n` (and at least the number of ports the
/// transport expects in use) is plenty.
pub fn pick_local_port(
    rss: Option<&RssTable>,
    queue: u16,
    open: ActiveOpen,
    range: RangeInclusive<u16>,
    start: u16,
    attempts: u32,
    mut usable: impl FnMut(u16) -> bool,
) -> Option<u16> {
    let (lo, hi) = (*range.start(), *range.end());
    if lo > hi {
        return None;
    }
    let span = u32::from(hi - lo) + 1;
    let first = if (lo..=hi).contains(&start) { start } else { lo };
    let affine = rss.filter(|t| t.queues() > 1);
    // The reply's hash, minus the local port's share; by linearity adding
    // the port back is two loads and an xor.
    // (hash, hashes ports, IPv6)
    let base = affine.and_then(|t| {
        let ports = t.hashes_ports(open.l4);
        let h = t.hasher();
        match (open.remote, open.local, ports) {
            (IpAddr::V4(r), IpAddr::V4(l), true) => Some((h.hash_v4_ports(r, l, open.remote_port, 0), true, false)),
            (IpAddr::V4(r), IpAddr::V4(l), false) => Some((h.hash_v4(r, l), false, false)),
            (IpAddr::V6(r), IpAddr::V6(l), true) => Some((h.hash_v6_ports(&r, &l, open.remote_port, 0), true, true)),
            (IpAddr::V6(r), IpAddr::V6(l), false) => Some((h.hash_v6(&r, &l), false, true)),
            _ => None,
        }
    });
    let mut port = first;
    for _ in 0..attempts.min(span) {
        let fits = match (affine, base) {
            (Some(t), Some((h, true, false))) => t.queue_for(h ^ t.hasher().dport_term(port)) == queue,
            (Some(t), Some((h, true, true))) => t.queue_for(h ^ t.hasher().dport_term_v6(port)) == queue,
            (Some(t), Some((h, false, _))) => t.queue_for(h) == queue,
            _ => true,
        };
        if fits && usable(port) {
            return Some(port);
        }
        port = if port == hi { lo } else { port + 1 };
    }
    None
}

#[cfg(test)]
mod test {
    use super::*;

    /// One row of the published RSS verification suite (Microsoft; also
    /// in the Intel 82599 datasheet) for the well-known key.
    struct Vector {
        dst: [u8; 4],
        dport: u16,
        src: [u8; 4],
        sport: u16,
        /// IPv4 only (2-tuple).
        ip: u32,
        /// IPv4 with TCP ports (4-tuple).
        ip_tcp: u32,
    }

    const fn v(dst: [u8; 4], dport: u16, src: [u8; 4], sport: u16, ip: u32, ip_tcp: u32) -> Vector {
        Vector { dst, dport, src, sport, ip, ip_tcp }
    }

    const VECTORS: &[Vector] = &[
        v([161, 142, 100, 80], 1766, [66, 9, 149, 187], 2794, 0x323e8fc2, 0x51ccc178),
        v([65, 69, 140, 83], 4739, [199, 92, 111, 2], 14230, 0xd718262a, 0xc626b0ea),
        v([12, 22, 207, 184], 38024, [24, 19, 198, 95], 12898, 0xd2d0a5de, 0x5c2b394a),
        v([209, 142, 163, 6], 2217, [38, 27, 205, 30], 48228, 0x82989176, 0xafc7327f),
        v([202, 188, 127, 2], 1303, [153, 39, 163, 191], 44251, 0x5d1809c5, 0x10e828a2),
    ];

    #[test]
    fn published_vectors_bitwise_and_table() {
        let t = Toeplitz::new(&RSS_KEY);
        for x in VECTORS {
            let (src, dst, sp, dp) = (Ipv4Addr::from(x.src), Ipv4Addr::from(x.dst), x.sport, x.dport);
            assert_eq!(toeplitz_v4(&RSS_KEY, src, dst), x.ip, "{src} -> {dst}");
            assert_eq!(toeplitz_v4_ports(&RSS_KEY, src, dst, sp, dp), x.ip_tcp, "{src}:{sp} -> {dst}:{dp}");
            assert_eq!(t.hash_v4(src, dst), x.ip);
            assert_eq!(t.hash_v4_ports(src, dst, sp, dp), x.ip_tcp);
        }
    }

    /// The IPv6 rows of the same suite: (dst, dport, src, sport, IPv6
    /// only, IPv6 with TCP ports).
    const VECTORS_V6: &[(&str, u16, &str, u16, u32, u32)] = &[
        ("3ffe:2501:200:3::1", 1766, "3ffe:2501:200:1fff::7", 2794, 0x2cc18cd5, 0x40207d3d),
        ("ff02::1", 4739, "3ffe:501:8::260:97ff:fe40:efab", 14230, 0x0f0c461c, 0xdde51bbf),
        ("fe80::200:f8ff:fe21:67cf", 38024, "3ffe:1900:4545:3:200:f8ff:fe21:67cf", 44251, 0x4b61e985, 0x02d1feef),
    ];

    #[test]
    fn published_vectors_v6() {
        let t = Toeplitz::new(&RSS_KEY);
        let table = RssTable::new(&RSS_KEY, Reta::round_robin(128, 4), 4, true, false);
        for &(dst, dp, src, sp, ip, ip_tcp) in VECTORS_V6 {
            let (src, dst): (Ipv6Addr, Ipv6Addr) = (src.parse().unwrap(), dst.parse().unwrap());
            assert_eq!(toeplitz_v6(&RSS_KEY, &src, &dst), ip, "{src} -> {dst}");
            assert_eq!(toeplitz_v6_ports(&RSS_KEY, &src, &dst, sp, dp), ip_tcp, "{src}.{sp} -> {dst}.{dp}");
            assert_eq!(t.hash_v6(&src, &dst), ip);
            assert_eq!(t.hash_v6_ports(&src, &dst, sp, dp), ip_tcp);
            assert_eq!(t.hash_v6_ports(&src, &dst, sp, 0) ^ t.dport_term_v6(dp), ip_tcp);
            assert_eq!(table.flow_hash_v6(Protocol::Tcp, &src, &dst, sp, dp), ip_tcp);
            assert_eq!(table.flow_hash_v6(Protocol::Udp, &src, &dst, sp, dp), ip);
            assert_eq!(table.queue_for_flow_v6(Protocol::Tcp, &src, &dst, sp, dp), table.queue_for(ip_tcp));
        }
    }

    #[test]
    fn table_matches_bitwise_on_every_length_and_is_linear() {
        let t = Toeplitz::new(&RSS_KEY);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..=MAX_INPUT {
            let input: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            assert_eq!(t.hash(&input), toeplitz(&RSS_KEY, &input), "len {len}");
        }
        let (s, d) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
        for p in [0u16, 1, 255, 256, 49152, 65535] {
            assert_eq!(t.hash_v4_ports(s, d, 80, p), t.hash_v4_ports(s, d, 80, 0) ^ t.dport_term(p));
        }
    }

    #[test]
    #[should_panic]
    fn overlong_input_panics() {
        toeplitz(&RSS_KEY, &[0; MAX_INPUT + 1]);
    }

    #[test]
    fn reta_round_robin_and_lookup() {
        let r = Reta::round_robin(128, 3);
        assert_eq!(r.size(), 128);
        assert_eq!(&r.entries()[..7], &[0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(r.queue_for(0), 0);
        assert_eq!(r.queue_for(130), r.entries()[2]);
        assert_eq!(r.queue_for(u32::MAX), r.entries()[127]);
        let r = Reta::from_entries(vec![3, 1]);
        assert_eq!((r.queue_for(4), r.queue_for(5)), (3, 1));
    }

    const LOCAL: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const REMOTE: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

    fn open() -> ActiveOpen {
        ActiveOpen { l4: Protocol::Tcp, local: IpAddr::V4(LOCAL), remote: IpAddr::V4(REMOTE), remote_port: 80 }
    }

    #[test]
    fn picked_ports_land_replies_on_the_requested_queue() {
        for queues in [2u16, 3, 4, 8] {
            let t = RssTable::new(&RSS_KEY, Reta::round_robin(128, queues), queues, true, true);
            let o = open();
            let mut per_queue = vec![0u32; queues as usize];
            for q in 0..queues {
                let mut start = 49152;
                for _ in 0..200 {
                    let p = pick_local_port(Some(&t), q, o, 49152..=65535, start, 64, |_| true).expect("a port");
                    // The reply: remote -> local, remote port -> our port.
                    let h = toeplitz_v4_ports(&RSS_KEY, REMOTE, LOCAL, o.remote_port, p);
                    assert_eq!(t.queue_for(h), q, "port {p} for queue {q} of {queues}");
                    per_queue[q as usize] += 1;
                    start = p + 1;
                }
            }
            assert!(per_queue.iter().all(|&n| n == 200), "{per_queue:?}");
        }
    }

    #[test]
    fn ports_spread_over_queues_and_searches_are_short() {
        let queues = 4u16;
        let t = RssTable::new(&RSS_KEY, Reta::round_robin(128, queues), queues, true, true);
        let o = open();
        // Which queue does each port of the ephemeral range map to?
        let mut hist = vec![0u32; queues as usize];
        for p in 49152..=65535u16 {
            hist[t.queue_for_flow(Protocol::Tcp, REMOTE, LOCAL, o.remote_port, p) as usize] += 1;
        }
        let even = 16384 / u32::from(queues);
        for &n in &hist {
            assert!(n > even * 9 / 10 && n < even * 11 / 10, "uneven spread {hist:?}");
        }
        // Searching from every start finds a fit within a handful of tries.
        let mut worst = 0u32;
        for start in (49152..=65535u16).step_by(97) {
            let mut tries = 0;
            let p = pick_local_port(Some(&t), 3, o, 49152..=65535, start, 64, |_| {
                tries += 1;
                true
            });
            assert!(p.is_some());
            let p = p.unwrap();
            let dist = if p >= start { u32::from(p - start) } else { u32::from(p) + 65536 - u32::from(start) };
            worst = worst.max(dist + 1);
            assert_eq!(tries, 1, "usable is asked only for ports that fit");
        }
        assert!(worst <= 32, "a fit took {worst} tries");
    }

    #[test]
    fn usable_filter_wraps_and_bounds() {
        let t = RssTable::new(&RSS_KEY, Reta::round_robin(128, 2), 2, true, true);
        let o = open();
        // Everything in use: bounded, no answer.
        let mut asked = 0;
        let r = pick_local_port(Some(&t), 1, o, 1000..=1099, 1050, 40, |_| {
            asked += 1;
            false
        });
        assert_eq!(r, None);
        assert!(asked <= 40);
        // Starting near the end wraps to the start of the range.
        let r = pick_local_port(Some(&t), 0, o, 1000..=1009, 1009, 10, |p| p < 1005).unwrap();
        assert!((1000..1005).contains(&r), "{r}");
        // A start outside the range begins at its low end.
        assert!(pick_local_port(None, 0, o, 2000..=2010, 5, 1, |_| true) == Some(2000));
        // An empty range has nothing.
        #[allow(clippy::reversed_empty_ranges)]
        let empty = 10..=9;
        assert_eq!(pick_local_port(None, 0, o, empty, 10, 5, |_| true), None);
    }

    #[test]
    fn single_queue_or_no_table_takes_the_first_usable_port() {
        let o = open();
        assert_eq!(pick_local_port(None, 0, o, 49152..=65535, 50000, 8, |_| true), Some(50000));
        assert_eq!(pick_local_port(None, 0, o, 49152..=65535, 50000, 8, |p| p > 50002), Some(50003));
        let one = RssTable::new(&RSS_KEY, Reta::round_robin(64, 1), 1, true, true);
        assert_eq!(pick_local_port(Some(&one), 0, o, 49152..=65535, 60000, 8, |_| true), Some(60000));
    }

    #[test]
    fn address_only_hash_ignores_ports() {
        // A NIC that hashes only addresses for UDP: every port of a flow
        // lands on one queue, so either the first usable port fits or none.
        let t = RssTable::new(&RSS_KEY, Reta::round_robin(128, 2), 2, true, false);
        let o = ActiveOpen { l4: Protocol::Udp, ..open() };
        let q = t.queue_for(toeplitz_v4(&RSS_KEY, REMOTE, LOCAL));
        assert_eq!(pick_local_port(Some(&t), q, o, 49152..=65535, 50000, 8, |_| true), Some(50000));
        assert_eq!(pick_local_port(Some(&t), 1 - q, o, 49152..=65535, 50000, 8, |_| true), None);
        assert_eq!(t.flow_hash(Protocol::Udp, REMOTE, LOCAL, 1, 2), t.flow_hash(Protocol::Udp, REMOTE, LOCAL, 3, 4));
        assert_ne!(t.flow_hash(Protocol::Tcp, REMOTE, LOCAL, 1, 2), t.flow_hash(Protocol::Tcp, REMOTE, LOCAL, 3, 4));
    }

    #[test]
    fn v6_picks_land_on_the_wanted_queue() {
        let t = RssTable::new(&RSS_KEY, Reta::round_robin(128, 4), 4, true, true);
        let (l, r): (Ipv6Addr, Ipv6Addr) = ("fe80::2".parse().unwrap(), "fe80::1".parse().unwrap());
        let o = ActiveOpen { l4: Protocol::Udp, local: IpAddr::V6(l), remote: IpAddr::V6(r), remote_port: 7 };
        for q in 0..4 {
            let p = pick_local_port(Some(&t), q, o, 49152..=65535, 49152, 64, |_| true).unwrap();
            assert_eq!(t.queue_for_flow_v6(Protocol::Udp, &r, &l, 7, p), q, "port {p}");
        }
        // A mixed pair seeks no affinity: the first usable port.
        let mixed = ActiveOpen { local: IpAddr::V4(LOCAL), ..o };
        assert_eq!(pick_local_port(Some(&t), 3, mixed, 49152..=65535, 50000, 8, |_| true), Some(50000));
    }
}
