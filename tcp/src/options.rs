//! Option negotiation: MSS, window scale and timestamps (RFC 7323), SACK
//! permitted (RFC 2018). Each is used only when both sides offered it on
//! the SYNs; this file holds the rules, the connection applies them.

use wire::tcp::{Repr as TcpRepr, SeqNumber};

/// The largest window scale shift (RFC 7323 §2.3).
pub const MAX_WINDOW_SCALE: u8 = 14;
/// MSS assumed when the peer sends none (RFC 9293 §3.7.1).
pub const DEFAULT_MSS: u16 = 536;
/// The smallest MSS we send with, whatever the peer asks for: a peer
/// announcing a tiny MSS (1 byte, say) would otherwise make us spend a
/// segment and its headers on every byte (the lesson of CVE-2019-11479;
/// Linux's floor, `tcp_min_snd_mss`, is 48).
pub const SND_MSS_FLOOR: u16 = 64;
/// Timestamps older than this are not used for PAWS (RFC 7323 §5.5: 24 days).
pub const PAWS_IDLE_NS: u64 = 24 * 24 * 3600 * 1_000_000_000;
/// Nanoseconds per tick of our timestamp clock (1 kHz, as Linux).
pub const TS_TICK_NS: u64 = 1_000_000;

/// The shift we offer so that a fifo of `rx_fifo_size` bytes can be advertised in 16 bits.
pub fn our_window_scale(rx_fifo_size: u32) -> u8 {
    let mut shift = 0;
    while shift < MAX_WINDOW_SCALE && (rx_fifo_size >> shift) > u32::from(u16::MAX) {
        shift += 1;
    }
    shift
}

/// Our TSval at `now`: a 1 kHz clock plus a per-connection offset.
pub fn ts_clock(now: u64, offset: u32) -> u32 {
    ((now / TS_TICK_NS) as u32).wrapping_add(offset)
}

/// The per-connection timestamp offset, derived from our ISN so that a
/// cookie SYN-ACK and the connection built from its ACK agree on it without
/// state. Why not zero: RFC 7323 §7.1 asks for offsets that differ per
/// connection, so that TSvals do not reveal a node-wide clock directly.
pub fn ts_offset(iss: u32) -> u32 {
    iss.wrapping_mul(0x9e37_79b1).rotate_left(13)
}

/// The effective send MSS (the SMSS of RFC 5681): the peer's MSS option
/// (536 without one), at most `mss_cap`, at least [`SND_MSS_FLOOR`]. The
/// single source of every segment-sized quantity of a connection: payload
/// size, congestion window, loss detection thresholds.
pub fn send_mss(peer: Option<u16>, mss_cap: u16) -> u16 {
    peer.unwrap_or(DEFAULT_MSS).min(mss_cap).max(SND_MSS_FLOOR)
}

/// What was agreed on the SYNs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// Largest payload we send per segment.
    pub snd_mss: u16,
    /// Shift applied to the peer's window field.
    pub snd_wscale: u8,
    /// Shift the peer applies to our window field.
    pub rcv_wscale: u8,
    /// SACK in use.
    pub sack: bool,
    /// Timestamps in use.
    pub timestamps: bool,
}

impl Negotiated {
    /// Nothing agreed yet (used before the peer's SYN).
    pub const NONE: Negotiated =
        Negotiated { snd_mss: DEFAULT_MSS, snd_wscale: 0, rcv_wscale: 0, sack: false, timestamps: false };

    /// The agreement given what we offered (`ours`: our SYN or SYN-ACK as
    /// built from config) and the peer's SYN or SYN-ACK. `mss_cap` bounds
    /// the send MSS by our own MTU and configuration.
    pub fn from_syns(ours: &TcpRepr, peer: &TcpRepr, mss_cap: u16) -> Negotiated {
        let ws = ours.window_scale.is_some() && peer.window_scale.is_some();
        Negotiated {
            snd_mss: send_mss(peer.max_seg_size, mss_cap),
            snd_wscale: if ws { peer.window_scale.unwrap_or(0).min(MAX_WINDOW_SCALE) } else { 0 },
            rcv_wscale: if ws { ours.window_scale.unwrap_or(0) } else { 0 },
            sack: ours.sack_permitted && peer.sack_permitted,
            timestamps: ours.timestamp.is_some() && peer.timestamp.is_some(),
        }
    }
}

/// PAWS (RFC 7323 §5.3): whether a segment carrying `tsval` must be
/// dropped as an old duplicate, given `ts_recent` recorded at `ts_recent_at`.
pub fn paws_reject(ts_recent: u32, ts_recent_at: u64, tsval: u32, now: u64) -> bool {
    SeqNumber(tsval) < SeqNumber(ts_recent) && now.saturating_sub(ts_recent_at) < PAWS_IDLE_NS
}

/// One connection's timestamps state (RFC 7323): whether the option is
/// in use, our clock's offset, and the peer's latest TSval (`TS.Recent`)
/// with when we took it (for PAWS and its 24-day idle rule).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TsState {
    /// Timestamps agreed on the SYNs.
    pub(crate) enabled: bool,
    offset: u32,
    /// The peer's TSval we echo (`TS.Recent`).
    pub(crate) recent: u32,
    recent_at: u64,
}

impl TsState {
    /// Not in use yet; our clock's offset comes from our ISN ([`ts_offset`]).
    pub(crate) fn new(iss: u32, now: u64) -> Self {
        TsState { enabled: false, offset: ts_offset(iss), recent: 0, recent_at: now }
    }

    /// Our TSval at `now`.
    pub(crate) fn clock(&self, now: u64) -> u32 {
        ts_clock(now, self.offset)
    }

    /// Takes `tsval` as `TS.Recent` at `now`.
    pub(crate) fn take(&mut self, tsval: u32, now: u64) {
        self.recent = tsval;
        self.recent_at = now;
    }

    /// Whether `tsval` is not older than `TS.Recent`.
    pub(crate) fn is_current(&self, tsval: u32) -> bool {
        SeqNumber(tsval) >= SeqNumber(self.recent)
    }

    /// PAWS (RFC 7323 §5.3) for a segment carrying `tsval`, when in use.
    pub(crate) fn rejects(&self, tsval: u32, now: u64) -> bool {
        self.enabled && paws_reject(self.recent, self.recent_at, tsval, now)
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use wire::tcp::{Flags, Timestamp};

    fn syn(ws: Option<u8>, sack: bool, ts: bool, mss: Option<u16>) -> TcpRepr {
        TcpRepr {
            flags: Flags::SYN,
            max_seg_size: mss,
            window_scale: ws,
            sack_permitted: sack,
            timestamp: ts.then_some(Timestamp { tsval: 1, tsecr: 0 }),
            ..TcpRepr::default()
        }
    }

    #[test]
    fn window_scale_for_fifo_sizes() {
        assert_eq!(our_window_scale(65535), 0);
        assert_eq!(our_window_scale(65536), 1);
        assert_eq!(our_window_scale(1 << 20), 5);
        assert_eq!(our_window_scale(1 << 31), 14);
    }

    #[test]
    fn each_option_needs_both_sides() {
        let ours = syn(Some(5), true, true, Some(1460));
        let all = Negotiated::from_syns(&ours, &syn(Some(7), true, true, Some(1400)), 1460);
        assert_eq!(all, Negotiated { snd_mss: 1400, snd_wscale: 7, rcv_wscale: 5, sack: true, timestamps: true });
        let no_ws = Negotiated::from_syns(&ours, &syn(None, true, true, None), 1460);
        assert_eq!((no_ws.snd_wscale, no_ws.rcv_wscale, no_ws.snd_mss), (0, 0, DEFAULT_MSS));
        assert!(!Negotiated::from_syns(&ours, &syn(Some(7), false, true, None), 1460).sack);
        assert!(!Negotiated::from_syns(&ours, &syn(Some(7), true, false, None), 1460).timestamps);
        // And when we did not offer, the peer's offer alone does nothing.
        let none = Negotiated::from_syns(&syn(None, false, false, None), &syn(Some(7), true, true, Some(9000)), 1460);
        assert_eq!(none, Negotiated { snd_mss: 1460, snd_wscale: 0, rcv_wscale: 0, sack: false, timestamps: false });
        // A shift above 14 is used as 14.
        assert_eq!(Negotiated::from_syns(&ours, &syn(Some(15), false, false, None), 1460).snd_wscale, 14);
    }

    #[test]
    fn paws() {
        assert!(paws_reject(100, 0, 99, 1));
        assert!(!paws_reject(100, 0, 100, 1));
        assert!(!paws_reject(100, 0, 101, 1));
        // Wrapping: 5 is after u32::MAX - 5.
        assert!(!paws_reject(u32::MAX - 5, 0, 5, 1));
        // An idle connection's ts_recent is too old to judge by.
        assert!(!paws_reject(100, 0, 99, PAWS_IDLE_NS));
    }
}
