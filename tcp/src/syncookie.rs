//! Stateless SYN cookies: when a listener's half-open backlog is full, the
//! worker answers a SYN with a SYN-ACK whose ISN encodes what the handshake
//! needs, keeps no state, and rebuilds the connection from the peer's ACK.
//!
//! Cookie layout (our ISN, 32 bits):
//! `| t mod 4 (2) | MSS index (4) | MAC (26) |`, where `t` counts
//! [`COOKIE_PERIOD_NS`] periods and the MAC is SipHash-2-4 over the 4-tuple,
//! the peer's ISN, the full `t`, the MSS index and the option bits, under
//! the node's secret. A cookie is valid for [`COOKIE_MAX_AGE`] periods after
//! the one it was made in (two bits of `t` tell those three periods apart;
//! an older cookie names a `t` whose MAC does not match). The MSS index
//! picks the peer's MSS from [`MSS_TABLE`], sixteen values that lose less
//! than 10% anywhere from 536 to 1460 bytes (Linux's four lose up to 41%:
//! a peer MSS of 1000 came back as 536); the SYN-ACK itself advertises our
//! own MSS, as a normal one does. When the peer offered timestamps, the low 5
//! bits of our TSval carry its window scale (4 bits, 15 = none) and whether
//! it offered SACK; the ACK echoes them in TSecr (as Linux does). Without
//! timestamps those options are lost, so the connection runs without window
//! scaling and SACK. The MAC covers the option bits, so a forged TSecr fails.

use std::net::SocketAddr;

use wire::tcp::{Flags, Repr as TcpRepr, SeqNumber, Timestamp};

use super::isn::{siphash24, tuple_bytes};
use super::options::{our_window_scale, ts_clock, ts_offset, DEFAULT_MSS};

/// Length of one cookie time period (as Linux: 64 s).
pub const COOKIE_PERIOD_NS: u64 = 64_000_000_000;
/// Periods after the one a cookie was made in during which it is accepted.
pub const COOKIE_MAX_AGE: u32 = 2;
/// The MSS values a cookie can carry; the largest not above the peer's is
/// chosen (the first when the peer's is smaller still). About 10% apart
/// from 536 to 1460, with the usual tunnel and PPPoE sizes (1300, 1380,
/// 1440), Ethernet's 1460 and a 9000-byte jumbo frame's 8960.
pub const MSS_TABLE: [u16; 16] = [64, 256, 536, 590, 650, 720, 800, 880, 960, 1060, 1170, 1300, 1380, 1440, 1460, 8960];

/// Bits of our ISN: the period, the MSS index, the MAC.
const T_SHIFT: u32 = 30;
const MSS_SHIFT: u32 = 26;
const MSS_MASK: u32 = 0xf;
const MAC_MASK: u32 = (1 << MSS_SHIFT) - 1;
const T_MASK: u32 = 0x3;

/// Option bits when the peer sent no timestamps (outside the 5-bit TSval range).
const NO_TS: u8 = 0x40;
const WS_NONE: u8 = 15;
const SACK_BIT: u8 = 0x10;

/// What a valid cookie ACK tells about the handshake it completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieInfo {
    /// Our ISN (the cookie).
    pub iss: u32,
    /// The peer's ISN.
    pub irs: u32,
    /// The MSS to send with (from the table).
    pub mss: u16,
    /// The peer's window scale, if it offered one (needs timestamps to survive).
    pub peer_window_scale: Option<u8>,
    /// Whether the peer offered SACK (needs timestamps to survive).
    pub sack: bool,
    /// Whether timestamps are in use.
    pub timestamps: bool,
}

/// SYN cookie generation and validation, keyed by the node's secret.
#[derive(Clone)]
pub struct SynCookies {
    k0: u64,
    k1: u64,
}

impl core::fmt::Debug for SynCookies {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SynCookies { .. }")
    }
}

impl SynCookies {
    /// A cookie jar keyed by `secret` (random, chosen once at node start).
    pub fn new(secret: [u8; 16]) -> Self {
        let (a, b) = secret.split_at(8);
        SynCookies {
            k0: u64::from_le_bytes(a.try_into().expect("8 bytes")),
            k1: u64::from_le_bytes(b.try_into().expect("8 bytes")),
        }
    }

    fn mac(&self, local: SocketAddr, remote: SocketAddr, irs: u32, t: u32, mss_idx: u8, opt_bits: u8) -> u32 {
        let mut input = [0u8; 46];
        let (b, n) = tuple_bytes(local, remote);
        input[..n].copy_from_slice(&b[..n]);
        input[n..n + 4].copy_from_slice(&irs.to_le_bytes());
        input[n + 4..n + 8].copy_from_slice(&t.to_le_bytes());
        input[n + 8] = mss_idx;
        input[n + 9] = opt_bits;
        siphash24(self.k0, self.k1, &input[..n + 10]) as u32 & MAC_MASK
    }

    /// The SYN-ACK that answers `syn` (received on `local` from `remote`)
    /// with a cookie. `rx_fifo_size` is the receive fifo size the
    /// connection will get, `our_mss` the MSS we advertise (the listener's
    /// [`super::config::mss_cap`]), `enable` says which options we do at all.
    #[allow(clippy::too_many_arguments)]
    pub fn syn_ack(
        &self,
        now: u64,
        local: SocketAddr,
        remote: SocketAddr,
        syn: &TcpRepr,
        rx_fifo_size: u32,
        our_mss: u16,
        enable: CookieOptions,
    ) -> TcpRepr {
        // The peer's MSS, not ours: the connection caps it by its own when it is rebuilt.
        let peer_mss = syn.max_seg_size.unwrap_or(DEFAULT_MSS);
        let mss_idx = MSS_TABLE.iter().rposition(|&m| m <= peer_mss).unwrap_or(0) as u8;
        let ts = syn.timestamp.filter(|_| enable.timestamps);
        let ws = syn.window_scale.filter(|_| enable.window_scale && ts.is_some());
        let sack = syn.sack_permitted && enable.sack && ts.is_some();
        let opt_bits =
            if ts.is_some() { ws.map_or(WS_NONE, |w| w.min(14)) | if sack { SACK_BIT } else { 0 } } else { NO_TS };
        let t = (now / COOKIE_PERIOD_NS) as u32;
        let irs = syn.seq_number.0;
        let mac = self.mac(local, remote, irs, t, mss_idx, opt_bits);
        let iss = ((t & T_MASK) << T_SHIFT) | (u32::from(mss_idx) << MSS_SHIFT) | mac;
        let timestamp = ts.map(|peer| {
            // Why minus 64: the real connection's TSval must not be below
            // this one, or the peer's PAWS would drop our next segments.
            let clock = ts_clock(now, ts_offset(iss)).wrapping_sub(64);
            Timestamp { tsval: (clock & !0x3f) | u32::from(opt_bits), tsecr: peer.tsval }
        });
        TcpRepr {
            src_port: local.port(),
            dst_port: remote.port(),
            seq_number: SeqNumber(iss),
            ack_number: syn.seq_number + 1,
            flags: Flags::SYN | Flags::ACK,
            window_len: rx_fifo_size.min(u32::from(u16::MAX)) as u16,
            max_seg_size: Some(our_mss),
            window_scale: ws.map(|_| our_window_scale(rx_fifo_size)),
            sack_permitted: sack,
            sack_blocks: Default::default(),
            timestamp,
            payload_len: 0,
        }
    }

    /// Checks the ACK that completes a cookie handshake; `None` if it is not
    /// a plain ACK, the cookie is too old, or the MAC does not match.
    pub fn validate(&self, now: u64, local: SocketAddr, remote: SocketAddr, ack: &TcpRepr) -> Option<CookieInfo> {
        if !ack.flags.ack() || ack.flags.syn() || ack.flags.rst() {
            return None;
        }
        let iss = (ack.ack_number - 1).0;
        let irs = (ack.seq_number - 1).0;
        let t_now = (now / COOKIE_PERIOD_NS) as u32;
        let age = t_now.wrapping_sub(iss >> T_SHIFT) & T_MASK;
        if age > COOKIE_MAX_AGE {
            return None;
        }
        let t = t_now.wrapping_sub(age);
        let mss_idx = ((iss >> MSS_SHIFT) & MSS_MASK) as u8;
        let opt_bits = ack.timestamp.map_or(NO_TS, |ts| (ts.tsecr & 0x1f) as u8);
        if self.mac(local, remote, irs, t, mss_idx, opt_bits) != iss & MAC_MASK {
            return None;
        }
        let timestamps = opt_bits != NO_TS;
        let ws = opt_bits & 0x0f;
        Some(CookieInfo {
            iss,
            irs,
            mss: MSS_TABLE[usize::from(mss_idx)],
            peer_window_scale: (timestamps && ws != WS_NONE).then_some(ws),
            sack: timestamps && opt_bits & SACK_BIT != 0,
            timestamps,
        })
    }
}

/// Which options a cookie SYN-ACK may agree to (the listener's configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieOptions {
    /// Timestamps allowed.
    pub timestamps: bool,
    /// Window scaling allowed.
    pub window_scale: bool,
    /// SACK allowed.
    pub sack: bool,
}

#[cfg(test)]
mod test {
    use super::*;

    const SEC: u64 = 1_000_000_000;
    const ALL: CookieOptions = CookieOptions { timestamps: true, window_scale: true, sack: true };

    fn addrs() -> (SocketAddr, SocketAddr) {
        ("198.18.0.2:80".parse().unwrap(), "198.18.0.1:40000".parse().unwrap())
    }

    fn syn(ts: bool) -> TcpRepr {
        TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq_number: SeqNumber(1000),
            flags: Flags::SYN,
            window_len: 64240,
            max_seg_size: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamp: ts.then_some(Timestamp { tsval: 555, tsecr: 0 }),
            ..TcpRepr::default()
        }
    }

    /// The peer's ACK completing the handshake of `syn_ack`.
    fn ack_for(syn_ack: &TcpRepr) -> TcpRepr {
        TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq_number: SeqNumber(1001),
            ack_number: syn_ack.seq_number + 1,
            flags: Flags::ACK,
            window_len: 502,
            timestamp: syn_ack.timestamp.map(|t| Timestamp { tsval: 556, tsecr: t.tsval }),
            ..TcpRepr::default()
        }
    }

    #[test]
    fn round_trip_with_timestamps_keeps_options() {
        let jar = SynCookies::new(*b"cookie-secret-16");
        let (l, r) = addrs();
        let now = 1000 * SEC;
        let sa = jar.syn_ack(now, l, r, &syn(true), 1 << 20, 1460, ALL);
        assert_eq!(sa.flags, Flags::SYN | Flags::ACK);
        assert_eq!(sa.ack_number, SeqNumber(1001));
        assert_eq!(sa.max_seg_size, Some(1460));
        assert!(sa.sack_permitted && sa.window_scale.is_some());
        let info = jar.validate(now + SEC, l, r, &ack_for(&sa)).unwrap();
        assert_eq!(
            info,
            CookieInfo {
                iss: sa.seq_number.0,
                irs: 1000,
                mss: 1460,
                peer_window_scale: Some(7),
                sack: true,
                timestamps: true
            }
        );
        // The cookie TSval is not ahead of the connection's clock.
        let tsval = sa.timestamp.unwrap().tsval;
        assert!(SeqNumber(tsval) <= SeqNumber(ts_clock(now, ts_offset(info.iss))));
    }

    #[test]
    fn without_timestamps_only_mss_survives() {
        let jar = SynCookies::new(*b"cookie-secret-16");
        let (l, r) = addrs();
        let mut s = syn(false);
        s.max_seg_size = Some(1400);
        let sa = jar.syn_ack(0, l, r, &s, 1 << 20, 1460, ALL);
        // The SYN-ACK advertises our MSS; the cookie carries the peer's (from the table).
        assert_eq!(sa.max_seg_size, Some(1460));
        assert!(!sa.sack_permitted && sa.window_scale.is_none() && sa.timestamp.is_none());
        let info = jar.validate(0, l, r, &ack_for(&sa)).unwrap();
        assert_eq!((info.mss, info.peer_window_scale, info.sack, info.timestamps), (1380, None, false, false));
    }

    #[test]
    fn expires_after_max_age() {
        let jar = SynCookies::new(*b"cookie-secret-16");
        let (l, r) = addrs();
        let made = 10 * COOKIE_PERIOD_NS + 5 * SEC;
        let ack = ack_for(&jar.syn_ack(made, l, r, &syn(true), 65536, 1460, ALL));
        let end_of_valid = (11 + u64::from(COOKIE_MAX_AGE)) * COOKIE_PERIOD_NS - 1;
        assert!(jar.validate(end_of_valid, l, r, &ack).is_some());
        assert!(jar.validate(end_of_valid + 1, l, r, &ack).is_none());
    }

    #[test]
    fn forged_or_mismatched_acks_fail() {
        let jar = SynCookies::new(*b"cookie-secret-16");
        let (l, r) = addrs();
        let sa = jar.syn_ack(0, l, r, &syn(true), 65536, 1460, ALL);
        let good = ack_for(&sa);
        assert!(jar.validate(0, l, r, &good).is_some());
        // Another key, another tuple, another peer ISN, a flipped MSS index or option bits.
        assert!(SynCookies::new(*b"other-secret-16!").validate(0, l, r, &good).is_none());
        assert!(jar.validate(0, l, "198.18.0.1:40001".parse().unwrap(), &good).is_none());
        let mut a = good;
        a.seq_number += 1;
        assert!(jar.validate(0, l, r, &a).is_none());
        let mut a = good;
        a.ack_number = SeqNumber(a.ack_number.0 ^ (1 << MSS_SHIFT));
        assert!(jar.validate(0, l, r, &a).is_none());
        let mut a = good;
        a.timestamp.as_mut().unwrap().tsecr ^= u32::from(SACK_BIT);
        assert!(jar.validate(0, l, r, &a).is_none());
        let mut a = good;
        a.flags = Flags::ACK | Flags::RST;
        assert!(jar.validate(0, l, r, &a).is_none());
        // Random guesses essentially never pass (26-bit MAC).
        let mut passed = 0;
        for k in 0..20_000u32 {
            let mut a = good;
            a.ack_number = SeqNumber(k.wrapping_mul(0x9e37_79b9));
            passed += usize::from(jar.validate(0, l, r, &a).is_some());
        }
        assert_eq!(passed, 0);
    }

    #[test]
    fn mss_table_loses_under_ten_percent_from_536_to_1460() {
        // Issue 9 item 9: a peer MSS of 1000 came back from the cookie as 536.
        let jar = SynCookies::new(*b"cookie-secret-16");
        let (l, r) = addrs();
        let mut s = syn(true);
        let mut cookie_mss = |peer: Option<u16>| {
            s.max_seg_size = peer;
            let sa = jar.syn_ack(0, l, r, &s, 65536, 1460, ALL);
            assert_eq!(sa.max_seg_size, Some(1460), "we advertise our own MSS");
            jar.validate(0, l, r, &ack_for(&sa)).unwrap().mss
        };
        assert!(cookie_mss(Some(1000)) >= 960, "{}", cookie_mss(Some(1000)));
        for peer in 536..=1460u16 {
            let got = cookie_mss(Some(peer));
            assert!(got <= peer && u32::from(got) * 10 >= u32::from(peer) * 9, "peer {peer}: cookie {got}");
        }
        // Never above the peer's, whatever it is; no MSS option means 536.
        for peer in [0, 1, 63, 64, 100, 300, 535, 1461, 4000, 8960, 9000, u16::MAX] {
            let got = cookie_mss(Some(peer));
            assert!(got <= peer.max(MSS_TABLE[0]), "peer {peer}: cookie {got}");
        }
        assert_eq!(cookie_mss(None), 536);
        assert_eq!(cookie_mss(Some(9000)), 8960);
    }
}
