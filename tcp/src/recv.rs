//! The receive side of a connection (RFC 9293 §3.3.1 receive sequence
//! space): what arrived in order, the window we advertise (the rx
//! buffer's free space, scaled by our window scale), what the rx buffer's
//! out-of-order runs say for our SACK blocks, the peer's FIN beyond a hole,
//! and how soon an ACK is owed (immediate or delayed). Segment checks are
//! [`super::input`]'s; the delayed-ACK deadline is a [`super::timer::Timer`].
//!
//! Invariants kept here: the right edge we advertised (`adv`) never moves
//! back (RFC 9293 §3.8.6.2.2), and it, `last_ack_sent` and the pending-ACK
//! state change together whenever an ACK goes out ([`RecvSide::on_ack_sent`]).

use wire::tcp::{SackBlocks, SeqNumber};

use crate::buffer::RecvBuffer;
use crate::sack::receiver_blocks;

/// How soon an ACK must go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum AckNeed {
    None,
    Delayed,
    Now,
}

/// Sequence space, window and pending ACK of what we receive.
#[derive(Debug, Clone)]
pub(crate) struct RecvSide {
    /// The peer's initial sequence number.
    pub(crate) irs: SeqNumber,
    /// Next sequence number expected.
    pub(crate) nxt: SeqNumber,
    /// Right edge of the window we last advertised.
    pub(crate) adv: SeqNumber,
    /// The rx buffer's free space as last seen.
    pub(crate) free: u32,
    /// The rx buffer's size.
    pub(crate) capacity: u32,
    /// The peer's FIN, if seen beyond a hole.
    pub(crate) fin: Option<SeqNumber>,
    /// SACK blocks for our next ACK, computed when the rx buffer was last written.
    pub(crate) sack: SackBlocks,
    /// Out-of-order runs in the rx buffer.
    pub(crate) ooo_runs: usize,
    /// Our window scale (RFC 7323), 0 without the option.
    pub(crate) wscale: u8,
    /// The ACK number we last sent.
    pub(crate) last_ack_sent: SeqNumber,
    /// How soon an ACK must go out.
    pub(crate) ack_need: AckNeed,
    /// In-order bytes received since our last ACK.
    pub(crate) bytes_unacked: u32,
    /// The largest segment payload received so far: what the peer's
    /// full-sized segments hold (Linux's `rcv_mss`), for the every-second-
    /// full-segment ACK rule.
    pub(crate) rcv_mss: u32,
}

impl RecvSide {
    /// Nothing received yet, into a buffer of `capacity` bytes.
    pub(crate) fn new(capacity: u32) -> Self {
        RecvSide {
            irs: SeqNumber(0),
            nxt: SeqNumber(0),
            adv: SeqNumber(0),
            free: capacity,
            capacity,
            fin: None,
            sack: SackBlocks::EMPTY,
            ooo_runs: 0,
            wscale: 0,
            last_ack_sent: SeqNumber(0),
            ack_need: AckNeed::None,
            bytes_unacked: 0,
            rcv_mss: 0,
        }
    }

    /// The peer's SYN had sequence number `irs`: expect `irs + 1` next.
    pub(crate) fn synchronize(&mut self, irs: SeqNumber) {
        self.irs = irs;
        self.nxt = irs + 1;
        self.adv = self.nxt;
        self.last_ack_sent = self.nxt;
    }

    /// What is left of the window we advertised.
    pub(crate) fn advertised(&self) -> u32 {
        self.adv.since(self.nxt)
    }

    /// The receive window to advertise, in bytes: the rx buffer's free
    /// space, never moving the right edge back (RFC 9293 §3.8.6.2.2).
    pub(crate) fn window(&self) -> u32 {
        let max = u32::from(u16::MAX) << self.wscale;
        self.free.max(self.advertised()).min(max)
    }

    /// [`Self::window`] as the (scaled) window field of a segment.
    pub(crate) fn window_field(&self) -> u16 {
        (self.window() >> self.wscale) as u16
    }

    /// The window of our SYN-ACK (never scaled, RFC 7323 §2.2).
    pub(crate) fn syn_window_field(&self) -> u16 {
        self.free.min(u32::from(u16::MAX)) as u16
    }

    /// An ACK with window field `window_len` went out: it acknowledged
    /// everything up to `nxt`, so no ACK is owed any more.
    pub(crate) fn on_ack_sent(&mut self, window_len: u16) {
        self.last_ack_sent = self.nxt;
        let right = self.nxt + (u32::from(window_len) << self.wscale);
        self.adv = self.adv.max(right);
        self.ack_need = AckNeed::None;
        self.bytes_unacked = 0;
    }

    /// Our SYN-ACK with window field `window_len` (unscaled) went out.
    pub(crate) fn on_syn_ack_sent(&mut self, window_len: u16) {
        self.last_ack_sent = self.nxt;
        self.adv = self.nxt + u32::from(window_len);
        self.ack_need = AckNeed::None;
    }

    /// `bytes` of in-order data arrived in segments of at most `largest`
    /// bytes: whether that makes two full-sized segments unacknowledged
    /// (RFC 5681 §4.2: ACK at least every second full-sized segment). A
    /// train of segments counts once, so it is acknowledged once.
    pub(crate) fn received_in_order(&mut self, bytes: u32, largest: u32) -> bool {
        self.rcv_mss = self.rcv_mss.max(largest);
        self.bytes_unacked = self.bytes_unacked.saturating_add(bytes);
        self.bytes_unacked >= self.rcv_mss.saturating_mul(2)
    }

    /// An ACK must go out at once.
    pub(crate) fn ack_now(&mut self) {
        self.ack_need = AckNeed::Now;
    }

    /// An ACK may wait; returns true if it was not owed before (so the
    /// caller arms the delayed-ACK timer).
    pub(crate) fn ack_later(&mut self) -> bool {
        if self.ack_need < AckNeed::Delayed {
            self.ack_need = AckNeed::Delayed;
            true
        } else {
            false
        }
    }

    /// Whether an ACK must go out now.
    pub(crate) fn ack_due(&self) -> bool {
        self.ack_need == AckNeed::Now
    }

    /// Nothing more is owed (the connection closed).
    pub(crate) fn forget_ack(&mut self) {
        self.ack_need = AckNeed::None;
    }

    /// Takes the rx buffer's free space.
    pub(crate) fn see_free(&mut self, rx: &impl RecvBuffer) {
        self.free = rx.free() as u32;
    }

    /// Refreshes what the rx buffer tells us: free space, out-of-order runs
    /// and (with SACK) the blocks of our next ACK; `recent` is where the
    /// latest out-of-order segment started.
    pub(crate) fn refresh(&mut self, rx: &impl RecvBuffer, recent: Option<SeqNumber>, sack: bool) {
        self.free = rx.free() as u32;
        self.ooo_runs = rx.ooo_segments().count();
        self.sack = if sack && self.ooo_runs > 0 {
            receiver_blocks(self.nxt, rx.ooo_segments(), recent, &self.sack)
        } else {
            Default::default()
        };
    }

    /// RFC 1122 §4.2.3.3 receiver SWS avoidance: whether the window grew
    /// enough since we last advertised it (by min(buffer/2, `mss`)) for a
    /// window update to be worth sending.
    pub(crate) fn window_update_due(&self, mss: u16) -> bool {
        let threshold = (self.capacity / 2).min(u32::from(mss)).max(1);
        self.window().saturating_sub(self.advertised()) >= threshold
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn the_advertised_right_edge_never_moves_back() {
        let mut r = RecvSide::new(1 << 19);
        r.wscale = 4;
        r.synchronize(SeqNumber(999));
        assert_eq!(r.nxt, SeqNumber(1000));
        assert_eq!(r.window(), 1 << 19);
        r.on_ack_sent(r.window_field());
        assert_eq!(r.advertised(), 1 << 19);
        // The buffer fills: the window we offer stays where we said it ends.
        r.free = 100;
        assert_eq!(r.window(), 1 << 19);
        r.nxt += 1000;
        assert_eq!(r.window(), (1 << 19) - 1000);
        // Never above what the window field can say.
        r.wscale = 0;
        r.free = 1 << 19;
        assert_eq!(r.window(), 65535);
    }

    #[test]
    fn pending_ack_only_escalates_until_sent() {
        let mut r = RecvSide::new(4096);
        assert!(r.ack_later());
        assert!(!r.ack_later(), "already delayed");
        r.ack_now();
        assert!(!r.ack_later() && r.ack_due());
        assert!(!r.received_in_order(1000, 1000));
        assert!(r.received_in_order(1000, 1000), "the second full segment");
        r.on_ack_sent(10);
        assert!(!r.ack_due() && r.bytes_unacked == 0);
        // Small segments count by their bytes against the full size seen.
        assert!(!r.received_in_order(300, 300));
        assert!(!r.received_in_order(1600, 1000));
        assert!(r.received_in_order(100, 100));
    }

    #[test]
    fn window_update_threshold() {
        let mut r = RecvSide::new(4000);
        r.synchronize(SeqNumber(0));
        r.free = 0;
        r.on_ack_sent(0);
        r.free = 999;
        assert!(!r.window_update_due(1000));
        r.free = 1000;
        assert!(r.window_update_due(1000));
        // A small buffer: half of it is enough.
        let mut r = RecvSide::new(600);
        r.free = 300;
        assert!(r.window_update_due(1000));
    }
}
