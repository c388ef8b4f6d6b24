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
use super::connection::{Connection, State, Transmit};
use super::stats::Counter;
use super::timer::Timer;
use crate::buffer::{PayloadMut, PayloadOut, SendBuffer};

impl Connection {
    /// The next segment to send, if any. Payload (at most [`Connection::mss`]
    /// bytes and at most what `payload_out` has room for: a buffer, or the
    /// segments of a chain) is copied to its start. Call repeatedly until `None`.
    pub fn poll_transmit(&mut self, now: u64, tx: &impl SendBuffer, payload_out: &mut [u8]) -> Option<Transmit> {
        self.poll_transmit_into(now, tx, payload_out)
    }

    /// [`Connection::poll_transmit`] into the segments of a chained packet
    /// (filled piece by piece from the send buffer).
    pub fn poll_transmit_parts(
        &mut self,
        now: u64,
        tx: &impl SendBuffer,
        payload_out: &mut PayloadMut<'_>,
    ) -> Option<Transmit> {
        self.poll_transmit_into(now, tx, payload_out)
    }

    #[inline]
    fn poll_transmit_into<P: PayloadOut + ?Sized>(
        &mut self,
        now: u64,
        tx: &impl SendBuffer,
        payload_out: &mut P,
    ) -> Option<Transmit> {
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
            let repr = self.base_repr(self.snd.una - 1);
            return Some(self.finish(now, repr));
        }
        if self.rcv.ack_due() {
            // Why snd_max and not snd_nxt: after a timeout snd_nxt is rewound
            // for go-back-N, and an ACK numbered below the peer's rcv_nxt would
            // be unacceptable there and its acknowledgment lost.
            let repr = self.base_repr(self.snd.max);
            return Some(self.finish(now, repr));
        }
        None
    }

    fn count_out(&mut self) {
        self.counters.incr(Counter::SegmentsOut);
        self.totals.segs_out += 1;
    }

    /// A header from us to the peer with `seq`, our ACK and window; no options yet.
    pub(super) fn base_repr(&self, seq: SeqNumber) -> TcpRepr {
        TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq_number: seq,
            ack_number: self.rcv.nxt,
            flags: Flags::ACK,
            window_len: self.rcv.window_field(),
            ..TcpRepr::default()
        }
    }

    /// Adds timestamps and SACK blocks, records what the ACK told the
    /// peer, and counts the segment.
    fn finish(&mut self, now: u64, mut repr: TcpRepr) -> Transmit {
        self.decorate(now, &mut repr);
        if repr.flags.ack() {
            self.rcv.on_ack_sent(repr.window_len);
            self.timers.cancel(Timer::DelayedAck);
        }
        self.count_out();
        Transmit { repr, payload_len: repr.payload_len }
    }

    fn decorate(&self, now: u64, repr: &mut TcpRepr) {
        if self.ts.enabled {
            repr.timestamp = Some(Timestamp { tsval: self.ts.clock(now), tsecr: self.ts.recent });
        }
        if self.sack {
            // As many blocks as fit beside the timestamps (RFC 2018 §3: three
            // with them, four without), so the repr says what goes on the wire.
            let fit = if self.ts.enabled { 3 } else { 4 };
            repr.sack_blocks = SackBlocks::EMPTY;
            for &b in self.rcv.sack.as_slice().iter().take(fit) {
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
            seq_number: self.snd.iss,
            ack_number: self.rcv.nxt,
            flags: if syn_ack { Flags::SYN | Flags::ACK } else { Flags::SYN },
            // The window of a SYN is never scaled (RFC 7323 §2.2).
            window_len: self.rcv.syn_window_field(),
            max_seg_size: Some(self.mss_cap),
            window_scale: self.offer.window_scale,
            sack_permitted: self.offer.sack,
            timestamp: self
                .offer
                .timestamps
                .then(|| Timestamp { tsval: self.ts.clock(now), tsecr: if syn_ack { self.ts.recent } else { 0 } }),
            ..TcpRepr::default()
        };
        self.snd.on_syn_sent();
        if self.rec.retries == 0 {
            // Karn: only the first transmission is timed.
            self.rec.rtt_seq = Some((self.snd.iss, now));
        }
        self.timers.arm_if_idle(Timer::Rto, now, self.rec.rtt.rto());
        if syn_ack {
            self.rcv.on_syn_ack_sent(repr.window_len);
        }
        self.count_out();
        Transmit { repr, payload_len: 0 }
    }

    /// Largest payload that fits in one segment with our options.
    pub(super) fn payload_room(&self, buf_len: usize) -> u32 {
        self.snd.mss().saturating_sub(self.data_options_len()).max(1).min(buf_len as u32)
    }

    /// The option bytes [`Connection::decorate`] gives a data segment,
    /// without building one: timestamps (12 with their padding) and the
    /// SACK blocks that fit beside them (two NOPs, kind and length, and 8
    /// bytes each).
    #[inline]
    fn data_options_len(&self) -> u32 {
        let (ts, fit) = if self.ts.enabled { (12, 3) } else { (0, 4) };
        let blocks = if self.sack { self.rcv.sack.len().min(fit) as u32 } else { 0 };
        ts + if blocks > 0 { 4 + 8 * blocks } else { 0 }
    }

    fn send_data<P: PayloadOut + ?Sized>(&mut self, now: u64, tx: &impl SendBuffer, buf: &mut P) -> Option<Transmit> {
        let data_end = self.snd.data_end(tx);
        let mss = self.payload_room(buf.room());

        // Fast retransmit of the first unacknowledged segment (entering
        // recovery, or a NewReno partial ACK).
        if self.rec.rexmit_head {
            self.rec.rexmit_head = false;
            let start = self.snd.una;
            let len = mss.min(data_end.since(start)).min(self.snd.max.since(start));
            let fin = self.snd.fin_fits_at(start + len, data_end) && start + len < self.snd.max;
            if len > 0 || fin {
                if self.sack {
                    self.rec.high_rxt = self.rec.high_rxt.max(start + len + u32::from(fin));
                }
                return Some(self.emit(now, start, len, fin, data_end, tx, buf, true));
            }
        }

        let cwnd = self.rec.cc.cwnd();
        if self.sack && self.rec.in_recovery() {
            // RFC 6675 §5: send while the pipe leaves room for a segment.
            let pipe = self.rec.pipe(&self.snd);
            if pipe.saturating_add(mss) > cwnd.max(mss) {
                return None;
            }
            let from = self.rec.high_rxt.max(self.snd.una);
            if let Some((s, e)) = self.rec.scoreboard.next_lost_hole(from, self.snd.mss()) {
                let len = e.since(s).min(mss).min(data_end.since(s));
                let fin = self.snd.fin_fits_at(s + len, data_end) && s + len < self.snd.max;
                if len > 0 || fin {
                    self.rec.high_rxt = s + len + u32::from(fin);
                    return Some(self.emit(now, s, len, fin, data_end, tx, buf, true));
                }
            }
        }

        // In order from snd_nxt: new data, or go-back-N after a timeout.
        let mut start = self.snd.nxt;
        if start < self.snd.max && self.sack {
            start = self.rec.scoreboard.skip_sacked(start);
            self.snd.nxt = start;
        }
        let retransmit = start < self.snd.max;
        let in_flight = if self.sack && self.rec.in_recovery() {
            self.rec.pipe(&self.snd)
        } else {
            // After a timeout, SACKed data skipped over is not in flight.
            start.since(self.snd.una) - self.rec.scoreboard.sacked_in(self.snd.una, start)
        };
        let cwnd_room = cwnd.saturating_sub(in_flight);
        let wnd_room = self.snd.window_room(start);
        let avail = data_end.since(start);
        // New data may go as one large segment of whole MSS multiples (the
        // layer below cuts it); the pieces obey the same windows.
        let seg_max = if !retransmit && self.large_max > mss {
            let room = self.large_max.min(buf.room() as u32);
            (room / mss * mss).max(mss)
        } else {
            mss
        };
        let mut len = avail.min(seg_max).min(cwnd_room).min(wnd_room);
        if len > mss && len < avail {
            len = len / mss * mss;
        }
        if retransmit {
            if let Some(next) = self.rec.scoreboard.next_sacked_after(start).filter(|_| self.sack) {
                len = len.min(next.since(start));
            }
        }
        let fin =
            self.snd.fin_fits_at(start + len, data_end) && (self.snd.fin_seq.is_some() || start + len >= self.snd.max);
        if len == 0 && !fin {
            if avail > 0 && wnd_room == 0 && !self.snd.outstanding() && !self.timers.is_armed(Timer::Persist) {
                // Zero window with data waiting: probe until it opens (RFC 9293 §3.8.6.1).
                self.timers.arm(Timer::Persist, now, self.rec.persist_interval());
            }
            return None;
        }
        if !retransmit && len < mss && !fin && !self.sws_override {
            // Sender silly window avoidance (RFC 9293 §3.8.6.2.1) and Nagle
            // (RFC 896): a short segment goes only if it empties the queue
            // and, with Nagle, nothing is unacknowledged; or if it is at
            // least half the largest window the peer ever offered.
            let empties_queue = len == avail;
            let nothing_unacked = !self.snd.outstanding();
            let half_window = self.snd.max_wnd > 0 && len >= self.snd.max_wnd / 2;
            if !((empties_queue && (!self.snd.nagle || nothing_unacked)) || half_window) {
                if len < avail && nothing_unacked && !self.timers.is_armed(Timer::Persist) {
                    // Window-limited with nothing in flight: the override timer.
                    self.timers.arm(Timer::Persist, now, self.rec.persist_interval());
                }
                return None;
            }
        }
        self.sws_override = false;
        Some(self.emit(now, start, len, fin, data_end, tx, buf, retransmit))
    }

    /// Builds a data/FIN segment for `[start, start + len)`.
    #[allow(clippy::too_many_arguments)]
    fn emit<P: PayloadOut + ?Sized>(
        &mut self,
        now: u64,
        start: SeqNumber,
        len: u32,
        fin: bool,
        data_end: SeqNumber,
        tx: &impl SendBuffer,
        buf: &mut P,
        retransmit: bool,
    ) -> Transmit {
        let copied = buf.fill(tx, self.snd.buffer_offset(start), len as usize);
        debug_assert_eq!(copied, len as usize, "tx fifo shorter than the data being sent");
        let mut repr = self.base_repr(start);
        repr.payload_len = copied;
        if copied > 0 && start + len == data_end {
            repr.flags |= Flags::PSH;
        }
        if fin {
            repr.flags |= Flags::FIN;
            self.snd.fin_seq = Some(start + len);
        }
        let end = start + len + u32::from(fin);
        // Retransmitting a hole (SACK recovery, NewReno head) leaves snd_nxt where it is.
        self.snd.on_sent(start, end);
        if retransmit {
            if self.ts.enabled {
                self.rec.rexmit_mark = Some((self.ts.clock(now), self.snd.max));
            }
            self.counters.incr(Counter::Retransmits);
            self.totals.retransmits += 1;
        }
        // Karn.
        self.rec.on_sent(now, start, end, retransmit, !self.ts.enabled && len > 0);
        if len > 0 {
            self.timers.cancel(Timer::Persist);
        }
        self.timers.arm_if_idle(Timer::Rto, now, self.rec.rtt.rto());
        self.finish(now, repr)
    }
}

#[cfg(test)]
mod tests {
    use wire::tcp::{SackBlock, SeqNumber};

    use crate::config::ConnOptions;
    use crate::connection::Connection;
    use crate::tests::{cfg, local, remote, ISS, T0};

    /// The option length [`Connection::payload_room`] reserves is what
    /// [`Connection::decorate`] puts on a data segment, for every mix of
    /// timestamps and SACK blocks (none to more than fit).
    #[test]
    fn data_options_len_matches_the_decorated_header() {
        let mut c = Connection::connect(&cfg(), local(), remote(), ISS, ConnOptions::new(65536), T0);
        for ts in [false, true] {
            for sack in [false, true] {
                for n in 0..=4u32 {
                    c.ts.enabled = ts;
                    c.sack = sack;
                    c.rcv.sack = wire::tcp::SackBlocks::EMPTY;
                    for i in 0..n {
                        let left = SeqNumber(100 + 10 * i);
                        c.rcv.sack.push(SackBlock { left, right: left + 5 });
                    }
                    let mut probe = c.base_repr(c.snd.nxt);
                    c.decorate(T0, &mut probe);
                    let want = (probe.header_len() - wire::tcp::HEADER_LEN) as u32;
                    assert_eq!(c.data_options_len(), want, "timestamps {ts}, sack {sack}, {n} blocks");
                }
            }
        }
    }
}
