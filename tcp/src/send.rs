//! The send side of a connection (RFC 9293 §3.3.1 send sequence space):
//! what we sent and what the peer acknowledged, the peer's window, the send
//! MSS and the peer's window scale, and where the tx buffer's head sits in
//! sequence space. Loss recovery and congestion control are
//! [`super::recovery`]'s; segment building is [`super::output`]'s.
//!
//! Invariants kept here: `iss <= una <= nxt <= max` (in sequence space);
//! `tx_base` is the sequence number of the tx buffer's first byte and only
//! moves with `una` (data is released from the buffer when acknowledged,
//! the FIN takes a sequence number but no byte); the window update rule
//! (`wl1`/`wl2`, RFC 9293 §3.10.7.4) lives in one method.

use wire::tcp::SeqNumber;

use crate::buffer::SendBuffer;

/// Sequence space, window and buffer position of what we send.
#[derive(Debug, Clone)]
pub(crate) struct SendSide {
    /// Our initial sequence number.
    pub(crate) iss: SeqNumber,
    /// Oldest unacknowledged sequence number.
    pub(crate) una: SeqNumber,
    /// Next sequence number to send (rewound to `una` for go-back-N).
    pub(crate) nxt: SeqNumber,
    /// Highest sequence number sent plus one.
    pub(crate) max: SeqNumber,
    /// The peer's window (scaled), from the segment that last updated it.
    pub(crate) wnd: u32,
    /// The largest window the peer ever offered.
    pub(crate) max_wnd: u32,
    wl1: SeqNumber,
    wl2: SeqNumber,
    /// Sequence number of the tx buffer's head byte.
    pub(crate) tx_base: SeqNumber,
    /// The app closed its sending side: a FIN follows the queued data.
    pub(crate) fin_queued: bool,
    /// Where our FIN sits, once the data before it is known.
    pub(crate) fin_seq: Option<SeqNumber>,
    /// The send MSS (agreed on the SYNs).
    pub(crate) mss: u16,
    /// The peer's window scale (RFC 7323), 0 without the option.
    pub(crate) wscale: u8,
    /// Nagle's algorithm (RFC 896) on.
    pub(crate) nagle: bool,
}

/// What a new acknowledgment did on the send side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Acked {
    /// Sequence space newly acknowledged.
    pub(crate) seq: u32,
    /// Bytes released from the tx buffer.
    pub(crate) bytes: u32,
    /// Our FIN is acknowledged.
    pub(crate) fin: bool,
}

impl SendSide {
    /// Nothing sent yet; `mss` is the send MSS until the SYNs agree on one.
    pub(crate) fn new(iss: SeqNumber, mss: u16, nagle: bool) -> Self {
        SendSide {
            iss,
            una: iss,
            nxt: iss,
            max: iss,
            wnd: 0,
            max_wnd: 0,
            wl1: SeqNumber(0),
            wl2: iss,
            tx_base: iss + 1,
            fin_queued: false,
            fin_seq: None,
            mss,
            wscale: 0,
            nagle,
        }
    }

    /// A window field from the peer, in bytes.
    pub(crate) fn scale(&self, window_len: u16) -> u32 {
        u32::from(window_len) << self.wscale
    }

    /// The send MSS in bytes.
    pub(crate) fn mss(&self) -> u32 {
        u32::from(self.mss)
    }

    /// Whether anything sent is unacknowledged.
    pub(crate) fn outstanding(&self) -> bool {
        self.una != self.max
    }

    /// `nxt - una`: data sent and not acknowledged, as far as `nxt` goes.
    pub(crate) fn in_flight(&self) -> u32 {
        self.nxt.since(self.una)
    }

    /// Sequence space sent and not acknowledged (`max - una`).
    pub(crate) fn unacked(&self) -> u32 {
        self.max.since(self.una)
    }

    /// The peer's window as seen in a SYN (never scaled, RFC 7323 §2.2)
    /// before the handshake completes: remembered, but not yet the
    /// reference for window updates (`wl2` is set at synchronization).
    pub(crate) fn take_syn_window(&mut self, seq: SeqNumber, window_len: u16) {
        self.wnd = u32::from(window_len);
        self.wl1 = seq;
    }

    /// The handshake completed with `ack` acknowledging our SYN, `wnd` the
    /// peer's window in bytes and `seq` the acknowledging segment's sequence
    /// number: the send window starts here.
    pub(crate) fn synchronize(&mut self, seq: SeqNumber, ack: SeqNumber, wnd: u32) {
        self.una = ack;
        self.nxt = self.nxt.max(ack);
        self.max = self.max.max(ack);
        self.tx_base = ack;
        self.wnd = wnd;
        self.max_wnd = wnd;
        self.wl1 = seq;
        self.wl2 = ack;
    }

    /// In SYN-RECEIVED: whether `ack` acknowledges our SYN (RFC 9293 §3.10.7.4, fifth check).
    pub(crate) fn acks_syn(&self, ack: SeqNumber) -> bool {
        self.una < ack && ack <= self.max
    }

    /// In SYN-SENT: whether `ack` is no answer to our SYN (RFC 9293 §3.10.7.3).
    pub(crate) fn ack_misses_syn(&self, ack: SeqNumber) -> bool {
        ack <= self.iss || ack > self.max
    }

    /// Whether an ACK field is out of range: acknowledging what we never
    /// sent (RFC 9293; RFC 5961 §5), or older than the largest window back.
    pub(crate) fn ack_out_of_range(&self, ack: SeqNumber) -> bool {
        ack > self.max || ack < self.una - self.max_wnd.max(1)
    }

    /// The window update rule (RFC 9293 §3.10.7.4): a segment newer than
    /// the one that last set the window sets it. Returns whether it did.
    pub(crate) fn update_window(&mut self, seq: SeqNumber, ack: SeqNumber, wnd: u32) -> bool {
        if self.wl1 < seq || (self.wl1 == seq && self.wl2 <= ack) {
            self.wnd = wnd;
            self.wl1 = seq;
            self.wl2 = ack;
            self.max_wnd = self.max_wnd.max(wnd);
            true
        } else {
            false
        }
    }

    /// A new acknowledgment up to `ack` (`una < ack <= max`): the
    /// acknowledged bytes are released from `tx`, and `una` (with `nxt`, if
    /// it was behind) moves up.
    pub(crate) fn on_ack(&mut self, ack: SeqNumber, tx: &impl SendBuffer) -> Acked {
        let seq = ack.since(self.una);
        let fin = self.fin_seq.is_some_and(|f| ack > f);
        let data_end = if fin { self.fin_seq.unwrap_or(ack) } else { ack };
        let bytes = data_end.since(self.tx_base);
        if bytes > 0 {
            tx.release(bytes as usize);
            self.tx_base += bytes;
        }
        self.una = ack;
        if self.nxt < self.una {
            self.nxt = self.una;
        }
        Acked { seq, bytes, fin }
    }

    /// Where the data the app queued ends: the tx buffer's end, or our FIN.
    pub(crate) fn data_end(&self, tx: &impl SendBuffer) -> SeqNumber {
        let end = self.tx_base + tx.queued() as u32;
        match self.fin_seq {
            Some(f) => end.min(f),
            None => end,
        }
    }

    /// Whether a FIN belongs right after `end`, given where the data ends.
    pub(crate) fn fin_fits_at(&self, end: SeqNumber, data_end: SeqNumber) -> bool {
        self.fin_queued && end == data_end && self.fin_seq.is_none_or(|f| f == end)
    }

    /// Offset in the tx buffer of sequence number `seq`.
    pub(crate) fn buffer_offset(&self, seq: SeqNumber) -> usize {
        seq.since(self.tx_base) as usize
    }

    /// Room the peer's window leaves from `start`.
    pub(crate) fn window_room(&self, start: SeqNumber) -> u32 {
        (self.una + self.wnd).since(start)
    }

    /// `[start, end)` went out: `nxt` moves when it was the next data
    /// (a retransmitted hole leaves it), `max` when it grew.
    pub(crate) fn on_sent(&mut self, start: SeqNumber, end: SeqNumber) {
        if start == self.nxt {
            self.nxt = end;
        }
        if end > self.max {
            self.max = end;
        }
    }

    /// Our SYN (sequence `iss`) went out.
    pub(crate) fn on_syn_sent(&mut self) {
        self.nxt = self.iss + 1;
        self.max = self.max.max(self.nxt);
    }

    /// Go back N after a timeout: resend from `una`.
    pub(crate) fn rewind(&mut self) {
        self.nxt = self.una;
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use shm::fifo::HeapFifo;

    #[test]
    fn window_update_rule_takes_only_newer_segments() {
        let mut s = SendSide::new(SeqNumber(100), 1000, true);
        s.synchronize(SeqNumber(500), SeqNumber(101), 4000);
        assert!(!s.update_window(SeqNumber(499), SeqNumber(101), 1), "older seq");
        assert!(s.update_window(SeqNumber(500), SeqNumber(101), 8000), "same seq and ack");
        assert_eq!((s.wnd, s.max_wnd), (8000, 8000));
        assert!(s.update_window(SeqNumber(501), SeqNumber(101), 10));
        assert_eq!((s.wnd, s.max_wnd), (10, 8000));
        assert!(!s.update_window(SeqNumber(501), SeqNumber(100), 20), "older ack");
    }

    #[test]
    fn acks_release_data_but_not_the_fin() {
        let tx = HeapFifo::new(4096).unwrap();
        let (app, v) = tx.ends();
        assert_eq!(crate::buffer::RecvBuffer::enqueue(&app, &[7; 300]).advanced, 300);
        let mut s = SendSide::new(SeqNumber(0), 1000, true);
        s.synchronize(SeqNumber(9), SeqNumber(1), 4000);
        s.on_sent(SeqNumber(1), SeqNumber(301));
        s.fin_queued = true;
        s.fin_seq = Some(SeqNumber(301));
        s.on_sent(SeqNumber(301), SeqNumber(302));
        assert_eq!(s.data_end(&v), SeqNumber(301));
        let a = s.on_ack(SeqNumber(101), &v);
        assert_eq!(a, Acked { seq: 100, bytes: 100, fin: false });
        assert_eq!(SendBuffer::queued(&v), 200);
        let a = s.on_ack(SeqNumber(302), &v);
        assert_eq!(a, Acked { seq: 201, bytes: 200, fin: true });
        assert_eq!((SendBuffer::queued(&v), s.tx_base, s.outstanding()), (0, SeqNumber(301), false));
    }

    #[test]
    fn ack_ranges() {
        let mut s = SendSide::new(SeqNumber(1000), 1000, true);
        assert!(s.ack_misses_syn(SeqNumber(1001)), "SYN not sent yet");
        s.on_syn_sent();
        assert!(!s.ack_misses_syn(SeqNumber(1001)));
        assert!(s.ack_misses_syn(SeqNumber(1000)));
        assert!(s.acks_syn(SeqNumber(1001)) && !s.acks_syn(SeqNumber(1002)));
        s.synchronize(SeqNumber(1), SeqNumber(1001), 500);
        s.on_sent(SeqNumber(1001), SeqNumber(1501));
        assert!(!s.ack_out_of_range(SeqNumber(1501)));
        assert!(s.ack_out_of_range(SeqNumber(1502)), "never sent");
        assert!(!s.ack_out_of_range(SeqNumber(501)));
        assert!(s.ack_out_of_range(SeqNumber(500)), "older than the largest window");
    }
}
