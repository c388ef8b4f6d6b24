//! Segment production: SYN / SYN-ACK, data and FIN within the congestion
//! and send windows (with Nagle and sender-side silly window avoidance),
//! retransmissions (go-back-N after an RTO skipping SACKed data, RFC 6675
//! `NextSeg` in SACK recovery, the NewReno head retransmission otherwise),
//! zero-window and keepalive probes, and pure ACKs (immediate or delayed,
//! with SACK blocks and window updates).
//!
//! The worker calls [`Connection::poll_transmit`] until it returns `None`;
//! each call copies at most one segment's payload into the caller's buffer
//! (an mbuf's data area) with `Fifo::peek`, so nothing is allocated.

use wire::tcp::{Flags, Repr as TcpRepr, SackBlocks, SeqNumber, Timestamp};

use super::cc::CongestionControl;
use super::connection::{after, AckNeed, Connection, State, Transmit};
use super::options::ts_clock;
use super::stats::Counter;
use crate::buffer::SendBuffer;

impl Connection {
    /// The next segment to send, if any. Payload (at most [`Connection::mss`]
    /// bytes and at most `payload_out.len()`) is copied to the start of
    /// `payload_out`. Call repeatedly until `None`.
    pub fn poll_transmit(&mut self, now: u64, tx: &impl SendBuffer, payload_out: &mut [u8]) -> Option<Transmit> {
        if let Some(rst) = self.rst_pending.take() {
            self.counters.incr(Counter::ResetsSent);
            self.count_out();
            return Some(Transmit { repr: rst, payload_len: 0 });
        }
        match self.state {
            State::Closed => return None,
            State::SynSent | State::SynReceived if self.syn_pending => return Some(self.send_syn(now)),
            State::SynSent => return None,
            State::SynReceived | State::FinWait2 | State::TimeWait => {}
            _ => {
                if let Some(t) = self.send_data(now, tx, payload_out) {
                    return Some(t);
                }
            }
        }
        if self.probe_pending {
            // Zero-window and keepalive probes: an old sequence number and
            // no data, which any live peer answers with an ACK carrying its
            // window (as Linux probes; it consumes no sequence space).
            self.probe_pending = false;
            let repr = self.base_repr(self.snd_una - 1);
            return Some(self.finish(now, repr));
        }
        if self.ack_need == AckNeed::Now {
            // Why snd_max and not snd_nxt: after a timeout snd_nxt is rewound
            // for go-back-N, and an ACK numbered below the peer's rcv_nxt would
            // be unacceptable there and its acknowledgment lost.
            let repr = self.base_repr(self.snd_max);
            return Some(self.finish(now, repr));
        }
        None
    }

    fn count_out(&mut self) {
        self.counters.incr(Counter::SegmentsOut);
        self.totals.segs_out += 1;
    }

    /// The receive window to advertise, in bytes: the rx fifo's free
    /// space, never moving the right edge back (RFC 9293 §3.8.6.2.2).
    pub(super) fn window_to_advertise(&self) -> u32 {
        let max = u32::from(u16::MAX) << self.neg.rcv_wscale;
        self.rx_free.max(self.rcv_adv.since(self.rcv_nxt)).min(max)
    }

    /// A header from us to the peer with `seq`, our ACK and window; no options yet.
    pub(super) fn base_repr(&self, seq: SeqNumber) -> TcpRepr {
        TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq_number: seq,
            ack_number: self.rcv_nxt,
            flags: Flags::ACK,
            window_len: (self.window_to_advertise() >> self.neg.rcv_wscale) as u16,
            ..TcpRepr::default()
        }
    }

    /// Adds timestamps and SACK blocks, records what the ACK told the
    /// peer, and counts the segment.
    fn finish(&mut self, now: u64, mut repr: TcpRepr) -> Transmit {
        self.decorate(now, &mut repr);
        if repr.flags.ack() {
            self.last_ack_sent = self.rcv_nxt;
            let right = self.rcv_nxt + (u32::from(repr.window_len) << self.neg.rcv_wscale);
            self.rcv_adv = self.rcv_adv.max(right);
            self.ack_need = AckNeed::None;
            self.t_delack = None;
            self.segs_unacked = 0;
        }
        self.count_out();
        Transmit { repr, payload_len: repr.payload_len }
    }

    fn decorate(&self, now: u64, repr: &mut TcpRepr) {
        if self.neg.timestamps {
            repr.timestamp = Some(Timestamp { tsval: ts_clock(now, self.ts_offset), tsecr: self.ts_recent });
        }
        if self.neg.sack {
            // As many blocks as fit beside the timestamps (RFC 2018 §3: three
            // with them, four without), so the repr says what goes on the wire.
            let fit = if self.neg.timestamps { 3 } else { 4 };
            repr.sack_blocks = SackBlocks::EMPTY;
            for &b in self.rx_sack.as_slice().iter().take(fit) {
                repr.sack_blocks.push(b);
            }
        }
    }

    fn send_syn(&mut self, now: u64) -> Transmit {
        self.syn_pending = false;
        let syn_ack = self.state == State::SynReceived;
        let repr = TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq_number: self.iss,
            ack_number: self.rcv_nxt,
            flags: if syn_ack { Flags::SYN | Flags::ACK } else { Flags::SYN },
            // The window of a SYN is never scaled (RFC 7323 §2.2).
            window_len: self.rx_free.min(u32::from(u16::MAX)) as u16,
            max_seg_size: Some(self.mss_cap),
            window_scale: self.offer.window_scale,
            sack_permitted: self.offer.sack,
            timestamp: self.offer.timestamps.then(|| Timestamp {
                tsval: ts_clock(now, self.ts_offset),
                tsecr: if syn_ack { self.ts_recent } else { 0 },
            }),
            ..TcpRepr::default()
        };
        self.snd_nxt = self.iss + 1;
        self.snd_max = self.snd_max.max(self.snd_nxt);
        if self.retries == 0 {
            // Karn: only the first transmission is timed.
            self.rtt_seq = Some((self.iss, now));
        }
        self.t_rto.get_or_insert(after(now, self.rtt.rto()));
        if syn_ack {
            self.last_ack_sent = self.rcv_nxt;
            self.rcv_adv = self.rcv_nxt + u32::from(repr.window_len);
            self.ack_need = AckNeed::None;
        }
        self.count_out();
        Transmit { repr, payload_len: 0 }
    }

    /// Largest payload that fits in one segment with our options.
    fn payload_room(&self, buf_len: usize) -> u32 {
        let mut probe = self.base_repr(self.snd_nxt);
        self.decorate(0, &mut probe);
        let options = (probe.header_len() - wire::tcp::HEADER_LEN) as u32;
        u32::from(self.neg.snd_mss).saturating_sub(options).max(1).min(buf_len as u32)
    }

    fn send_data(&mut self, now: u64, tx: &impl SendBuffer, buf: &mut [u8]) -> Option<Transmit> {
        let mut data_end = self.tx_base + tx.queued() as u32;
        if let Some(f) = self.fin_seq {
            data_end = data_end.min(f);
        }
        let mss = self.payload_room(buf.len());
        // Whether a FIN belongs right after `end`.
        let fin_at =
            |c: &Connection, end: SeqNumber| c.fin_queued && end == data_end && c.fin_seq.is_none_or(|f| f == end);

        // Fast retransmit of the first unacknowledged segment (entering
        // recovery, or a NewReno partial ACK).
        if self.rexmit_head {
            self.rexmit_head = false;
            let start = self.snd_una;
            let len = mss.min(data_end.since(start)).min(self.snd_max.since(start));
            let fin = fin_at(self, start + len) && start + len < self.snd_max;
            if len > 0 || fin {
                if self.neg.sack {
                    self.high_rxt = self.high_rxt.max(start + len + u32::from(fin));
                }
                return Some(self.emit(now, start, len, fin, data_end, tx, buf, true));
            }
        }

        let cwnd = self.cc.cwnd();
        if self.neg.sack && self.recovery.is_some() {
            // RFC 6675 §5: send while the pipe leaves room for a segment.
            let full_mss = u32::from(self.neg.snd_mss);
            let pipe = self.scoreboard.pipe(self.snd_una, self.snd_max, self.high_rxt, full_mss);
            if pipe.saturating_add(mss) > cwnd.max(mss) {
                return None;
            }
            if let Some((s, e)) = self.scoreboard.next_lost_hole(self.high_rxt.max(self.snd_una), full_mss) {
                let len = e.since(s).min(mss).min(data_end.since(s));
                let fin = fin_at(self, s + len) && s + len < self.snd_max;
                if len > 0 || fin {
                    self.high_rxt = s + len + u32::from(fin);
                    return Some(self.emit(now, s, len, fin, data_end, tx, buf, true));
                }
            }
        }

        // In order from snd_nxt: new data, or go-back-N after a timeout.
        let mut start = self.snd_nxt;
        if start < self.snd_max && self.neg.sack {
            start = self.scoreboard.skip_sacked(start);
            self.snd_nxt = start;
        }
        let retransmit = start < self.snd_max;
        let in_flight = if self.neg.sack && self.recovery.is_some() {
            self.scoreboard.pipe(self.snd_una, self.snd_max, self.high_rxt, u32::from(self.neg.snd_mss))
        } else {
            // After a timeout, SACKed data skipped over is not in flight.
            start.since(self.snd_una) - self.scoreboard.sacked_in(self.snd_una, start)
        };
        let cwnd_room = cwnd.saturating_sub(in_flight);
        let wnd_room = (self.snd_una + self.snd_wnd).since(start);
        let avail = data_end.since(start);
        let mut len = avail.min(mss).min(cwnd_room).min(wnd_room);
        if retransmit {
            if let Some(next) = self.scoreboard.next_sacked_after(start).filter(|_| self.neg.sack) {
                len = len.min(next.since(start));
            }
        }
        let fin = fin_at(self, start + len) && (self.fin_seq.is_some() || start + len >= self.snd_max);
        if len == 0 && !fin {
            if avail > 0 && wnd_room == 0 && self.snd_una == self.snd_max && self.t_persist.is_none() {
                // Zero window with data waiting: probe until it opens (RFC 9293 §3.8.6.1).
                self.t_persist = Some(after(now, self.persist_interval()));
            }
            return None;
        }
        if !retransmit && len < mss && !fin && !self.sws_override {
            // Sender silly window avoidance (RFC 9293 §3.8.6.2.1) and Nagle
            // (RFC 896): a short segment goes only if it empties the queue
            // and, with Nagle, nothing is unacknowledged; or if it is at
            // least half the largest window the peer ever offered.
            let empties_queue = len == avail;
            let nothing_unacked = self.snd_una == self.snd_max;
            let half_window = self.max_snd_wnd > 0 && len >= self.max_snd_wnd / 2;
            if !((empties_queue && (!self.nagle || nothing_unacked)) || half_window) {
                if len < avail && nothing_unacked && self.t_persist.is_none() {
                    // Window-limited with nothing in flight: the override timer.
                    self.t_persist = Some(after(now, self.persist_interval()));
                }
                return None;
            }
        }
        self.sws_override = false;
        Some(self.emit(now, start, len, fin, data_end, tx, buf, retransmit))
    }

    /// Builds a data/FIN segment for `[start, start + len)`.
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        now: u64,
        start: SeqNumber,
        len: u32,
        fin: bool,
        data_end: SeqNumber,
        tx: &impl SendBuffer,
        buf: &mut [u8],
        retransmit: bool,
    ) -> Transmit {
        let copied = tx.peek(start.since(self.tx_base) as usize, &mut buf[..len as usize]);
        debug_assert_eq!(copied, len as usize, "tx fifo shorter than the data being sent");
        let mut repr = self.base_repr(start);
        repr.payload_len = copied;
        if copied > 0 && start + len == data_end {
            repr.flags |= Flags::PSH;
        }
        if fin {
            repr.flags |= Flags::FIN;
            self.fin_seq = Some(start + len);
        }
        let end = start + len + u32::from(fin);
        // A hole retransmitted in SACK recovery leaves snd_nxt where it is.
        // Retransmitting a hole (SACK recovery, NewReno head) leaves snd_nxt where it is.
        if start == self.snd_nxt {
            self.snd_nxt = end;
        }
        if end > self.snd_max {
            self.snd_max = end;
        }
        if retransmit {
            if self.neg.timestamps {
                self.rexmit_mark = Some((ts_clock(now, self.ts_offset), self.snd_max));
            }
            self.counters.incr(Counter::Retransmits);
            self.totals.retransmits += 1;
            if self.rtt_seq.is_some_and(|(t, _)| start <= t && t < end) {
                self.rtt_seq = None; // Karn
            }
        } else if self.rtt_seq.is_none() && !self.neg.timestamps && len > 0 {
            self.rtt_seq = Some((start, now));
        }
        if len > 0 {
            self.t_persist = None;
        }
        self.t_rto.get_or_insert(after(now, self.rtt.rto()));
        self.finish(now, repr)
    }
}
