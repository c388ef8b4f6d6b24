//! Segment arrival (RFC 9293 §3.10.7 "SEGMENT ARRIVES"), in the order the
//! RFC checks things: SYN-SENT apart, then PAWS, sequence acceptability,
//! RST (with RFC 5961 challenge ACKs), SYN, ACK (window, RTT, congestion
//! control, loss recovery, FIN acknowledged), data, FIN.
//!
//! Received data goes straight into the rx fifo: in order with `enqueue`,
//! beyond a hole with `enqueue_with_offset` (the fifo tracks the
//! out-of-order runs and merges them when the hole fills, so overlapping
//! and duplicate segments cost nothing extra).

use wire::tcp::{Repr as TcpRepr, SeqNumber};

use super::connection::{ConnectError, Connection, Event, State};
use super::gro::{self, Segment};
use super::options::TS_TICK_NS;
use super::sack::DUP_THRESH;
use super::stats::Counter;
use super::timer::Timer;
use crate::buffer::{PayloadIn, RecvBuffer, SendBuffer};

/// Most segments [`Connection::input_train`] takes whole (a longer train
/// goes one segment at a time): an rx burst's worth.
pub const TRAIN_MAX: usize = 64;

impl Connection {
    /// Processes one segment from the peer. `payload` is the segment's
    /// data (`seg.payload_len` bytes); `rx` and `tx` are the session's fifos.
    pub fn input(&mut self, now: u64, seg: &TcpRepr, payload: &[u8], rx: &impl RecvBuffer, tx: &impl SendBuffer) {
        self.input_parts(now, seg, payload, rx, tx)
    }

    /// [`Connection::input`] for a payload contiguous (`[u8]`) or in the
    /// pieces of a chained packet ([`crate::buffer::Payload`]), enqueued
    /// piece by piece (no linearising copy).
    #[inline]
    pub fn input_parts<P: PayloadIn + ?Sized>(
        &mut self,
        now: u64,
        seg: &TcpRepr,
        payload: &P,
        rx: &impl RecvBuffer,
        tx: &impl SendBuffer,
    ) {
        self.counters.incr(Counter::SegmentsIn);
        self.totals.segs_in += 1;
        self.rcv.see_free(rx);
        match self.state {
            State::Closed => {}
            State::SynSent => self.input_syn_sent(now, seg),
            _ => self.input_synchronized(now, seg, payload, &[], rx, tx),
        }
    }

    /// Processes a train of segments from the peer ([`crate::gro`]): the
    /// same outcome as [`input`](Self::input) of each in turn (bytes, ACK
    /// number, window, SACK blocks, state), but when the connection can
    /// take the train whole (ESTABLISHED, the first segment at `rcv.nxt`,
    /// no holes, room for all of it) it is checked once, as one segment,
    /// its payloads go into `rx` with one vectored enqueue, and one ACK
    /// decision covers it: a train of two or more full-sized segments is
    /// acknowledged once. Anything else is taken one segment at a time.
    pub fn input_train(&mut self, now: u64, segs: &[Segment<'_>], rx: &impl RecvBuffer, tx: &impl SendBuffer) {
        let Some((first, rest)) = segs.split_first() else { return };
        self.rcv.see_free(rx);
        if rest.is_empty() || !self.takes_train_whole(segs) {
            for s in segs {
                self.input(now, s.repr, s.payload, rx, tx);
            }
            return;
        }
        let n = segs.len() as u64;
        self.counters.add(Counter::SegmentsIn, n);
        self.counters.add(Counter::SegmentsMerged, n - 1);
        self.totals.segs_in += n;
        let mut train: [&[u8]; TRAIN_MAX] = [&[]; TRAIN_MAX];
        for (t, s) in train.iter_mut().zip(segs) {
            *t = s.payload;
        }
        let train = &train[..segs.len()];
        let merged = TcpRepr { payload_len: train.iter().map(|p| p.len()).sum(), ..*first.repr };
        self.input_synchronized(now, &merged, first.payload, train, rx, tx);
    }

    /// Whether a train ([`gro::mergeable`] throughout, payloads whole) can
    /// be taken as one segment: nothing in it could be trimmed, dropped or
    /// reordered, so what per-segment input would do to the later segments
    /// is exactly what it does to the first.
    fn takes_train_whole(&self, segs: &[Segment<'_>]) -> bool {
        let total = segs.iter().map(|s| s.payload.len()).sum::<usize>();
        self.state == State::Established
            && !self.app_closed
            && self.rcv.ooo_runs == 0
            && segs.len() <= TRAIN_MAX
            && segs[0].repr.seq_number == self.rcv.nxt
            && total <= self.rcv.free as usize
            && segs.iter().all(|s| s.payload.len() == s.repr.payload_len)
            && segs.windows(2).all(|w| gro::mergeable(w[0].repr, w[1].repr))
            && gro::candidate(segs[0].repr)
    }

    fn input_syn_sent(&mut self, now: u64, seg: &TcpRepr) {
        let flags = seg.flags;
        if flags.ack() && self.snd.ack_misses_syn(seg.ack_number) {
            // Not an answer to our SYN (RFC 9293: reset it unless it is a reset).
            if !flags.rst() {
                self.rst_pending = Some(self.rst_for_ack(seg));
            }
            return;
        }
        if flags.rst() {
            // Only a RST that acknowledges our SYN may abort the open (RFC 5961 §3.2 as applied in 9293).
            if flags.ack() {
                self.counters.incr(Counter::ResetsReceived);
                self.push_event(Event::ConnectFailed(ConnectError::Refused));
                self.enter_closed();
            }
            return;
        }
        if !flags.syn() {
            return;
        }
        self.take_peer_syn(seg, now);
        if flags.ack() {
            // Why ignore data on the SYN-ACK: it is rare, and unacknowledged it will be resent.
            // The window of a SYN-ACK is never scaled (RFC 7323 §2.2).
            self.snd.synchronize(seg.seq_number, seg.ack_number, u32::from(seg.window_len));
            self.sample_rtt_from_handshake(now, seg);
            self.on_established(now);
            self.rcv.ack_now();
        } else {
            // Simultaneous open: answer with a SYN-ACK from the same ISN.
            self.state = State::SynReceived;
            self.snd.take_syn_window(seg.seq_number, seg.window_len);
            self.syn_pending = true;
        }
    }

    fn sample_rtt_from_handshake(&mut self, now: u64, seg: &TcpRepr) {
        if let Some((_, sent)) = self.rec.rtt_seq.take() {
            self.rec.rtt.sample(now.saturating_sub(sent));
        } else if let Some(ts) = seg.timestamp.filter(|t| self.ts.enabled && t.tsecr != 0) {
            self.sample_ts(now, ts.tsecr);
        }
    }

    fn sample_ts(&mut self, now: u64, tsecr: u32) {
        let ticks = self.ts.clock(now).wrapping_sub(tsecr);
        // Why the bound: a wild TSecr (bad peer) must not poison the estimator.
        if ticks < 1 << 30 {
            self.rec.rtt.sample(u64::from(ticks) * TS_TICK_NS);
        }
    }

    /// The RST answering an unacceptable ACK: sequence number from its ACK field.
    fn rst_for_ack(&self, seg: &TcpRepr) -> TcpRepr {
        let mut r = self.base_repr(seg.ack_number);
        r.flags = wire::tcp::Flags::RST;
        r
    }

    /// `train`, when not empty, holds the payloads of a train taken whole
    /// ([`Self::input_train`]; `seg` is its first header with the train's
    /// length); `payload` is then the first's.
    fn input_synchronized<P: PayloadIn + ?Sized>(
        &mut self,
        now: u64,
        seg: &TcpRepr,
        payload: &P,
        train: &[&[u8]],
        rx: &impl RecvBuffer,
        tx: &impl SendBuffer,
    ) {
        let flags = seg.flags;
        let mut seq = seg.seq_number;
        let mut syn = flags.syn();

        // SYN-RECEIVED: a retransmitted SYN asks for our SYN-ACK again; in a
        // simultaneous open the peer's SYN-ACK repeats its SYN, which we
        // already have, so only its ACK matters.
        if self.state == State::SynReceived && syn && seq == self.rcv.irs {
            if !flags.ack() {
                if !flags.rst() {
                    self.syn_pending = true;
                }
                return;
            }
            seq += 1;
            syn = false;
        }

        // PAWS (RFC 7323 §5.3).
        if self.paws_rejects(now, seg) {
            self.counters.incr(Counter::PawsDrops);
            self.rcv.ack_now();
            return;
        }

        // Sequence acceptability (RFC 9293 §3.10.7.4, first check).
        let data_len = if train.is_empty() { payload.len().min(seg.payload_len) } else { seg.payload_len } as u32;
        let fin = flags.fin();
        if !self.acceptable(seq, syn, data_len, fin) {
            if self.state == State::TimeWait && fin {
                // A retransmitted FIN: our last ACK was lost. Re-ACK and restart 2*MSL.
                self.timers.arm(Timer::Close, now, self.time_wait);
            }
            if !flags.rst() {
                self.counters.incr(Counter::OutOfWindow);
                self.rcv.ack_now();
                // A retransmission of data we already acknowledged (our ACK
                // was lost) reaching our last ACK point: echo its TSval, as
                // Linux does, or the sender would time its retransmission
                // from the first transmission and inflate its RTO.
                let end = seq + data_len + u32::from(syn) + u32::from(fin);
                if let Some(ts) = seg.timestamp.filter(|_| self.ts.enabled) {
                    if self.ts.is_current(ts.tsval) && seq <= self.rcv.last_ack_sent && end >= self.rcv.last_ack_sent {
                        self.ts.take(ts.tsval, now);
                    }
                }
            }
            return;
        }
        self.arm_keepalive(now);

        // RST (RFC 5961 §3.2): exact match resets, anything else in the window is challenged.
        if flags.rst() {
            if seq == self.rcv.nxt {
                self.counters.incr(Counter::ResetsReceived);
                if self.state != State::TimeWait {
                    self.push_event(Event::Reset);
                }
                self.enter_closed();
            } else {
                self.challenge_ack(now);
            }
            return;
        }

        // SYN in a synchronized state (RFC 5961 §4): challenge, whatever its sequence number.
        if syn {
            self.challenge_ack(now);
            return;
        }

        if !flags.ack() {
            return;
        }

        // RFC 7323 §4.3: remember the peer's TSval from the segment that covers our last ACK.
        if let Some(ts) = seg.timestamp.filter(|_| self.ts.enabled) {
            if self.ts.is_current(ts.tsval) && seq <= self.rcv.last_ack_sent {
                self.ts.take(ts.tsval, now);
            }
        }

        if self.state == State::SynReceived {
            if !self.snd.acks_syn(seg.ack_number) {
                self.rst_pending = Some(self.rst_for_ack(seg));
                return;
            }
            let wnd = self.snd.scale(seg.window_len);
            self.snd.synchronize(seq, seg.ack_number, wnd);
            self.sample_rtt_from_handshake(now, seg);
            self.on_established(now);
        } else if !self.input_ack(now, seg, seq, data_len, tx) {
            return;
        }
        if self.state == State::Closed {
            return;
        }

        // Data.
        let mut fin_at = None;
        if matches!(self.state, State::Established | State::FinWait1 | State::FinWait2) {
            fin_at = if train.is_empty() {
                self.input_data(now, seq, payload, data_len as usize, fin, rx)
            } else {
                self.input_train_data(now, seq, train, rx);
                None
            };
            if self.state == State::Closed {
                return;
            }
        } else if fin && seq + data_len == self.rcv.nxt {
            fin_at = Some(self.rcv.nxt);
        }

        // FIN, once everything before it has arrived.
        if let Some(f) = fin_at {
            self.rcv.fin = Some(f);
        }
        if self.rcv.fin == Some(self.rcv.nxt) && !self.peer_fin_seen() {
            self.input_fin(now);
        }
    }

    /// Whether `seg` takes this half-open (SYN-RECEIVED) connection to
    /// ESTABLISHED when given to [`input`](Self::input) now; `data_len` is
    /// its payload length. A pure question, so that the worker gives a
    /// passive open its session (and fifos) for exactly the segment that
    /// completes the handshake, and for nothing else (a bad ACK, an old
    /// duplicate, a RST). It asks what `input` checks, in the same order,
    /// with the same helpers.
    pub fn completes_handshake(&self, now: u64, seg: &TcpRepr, data_len: usize) -> bool {
        if self.state != State::SynReceived {
            return false;
        }
        let flags = seg.flags;
        let (mut seq, mut syn) = (seg.seq_number, flags.syn());
        if syn && seq == self.rcv.irs {
            if !flags.ack() {
                return false; // a retransmitted SYN
            }
            seq += 1;
            syn = false;
        }
        let data_len = data_len.min(seg.payload_len) as u32;
        !self.paws_rejects(now, seg)
            && self.acceptable(seq, syn, data_len, flags.fin())
            && !flags.rst()
            && !syn
            && flags.ack()
            && self.snd.acks_syn(seg.ack_number)
    }

    /// PAWS (RFC 7323 §5.3): `seg` carries a timestamp older than the last one taken.
    fn paws_rejects(&self, now: u64, seg: &TcpRepr) -> bool {
        !seg.flags.rst() && seg.timestamp.is_some_and(|ts| self.ts.rejects(ts.tsval, now))
    }

    /// Whether a segment is acceptable (RFC 9293 §3.10.7.4 table), with
    /// one relaxation: a bare FIN at `rcv_nxt` is accepted into a zero
    /// window, as Linux does, so that a closed window cannot stall a close.
    fn acceptable(&self, seq: SeqNumber, syn: bool, data_len: u32, fin: bool) -> bool {
        let wnd = if matches!(self.state, State::TimeWait | State::CloseWait | State::Closing | State::LastAck) {
            // No more data is expected; only the exact next sequence number is in window.
            0
        } else if self.state == State::SynReceived {
            // Only the window our SYN-ACK offered: a half-open connection may
            // have no fifo yet, and the answer must not depend on which one
            // it is given (see `completes_handshake`).
            self.rcv.advertised()
        } else {
            self.rcv.free.max(self.rcv.advertised())
        };
        let len = data_len + u32::from(syn) + u32::from(fin);
        let nxt = self.rcv.nxt;
        let in_window = |s: SeqNumber| nxt <= s && s < nxt + wnd;
        match (len, wnd) {
            (0, 0) => seq == nxt,
            (0, _) => in_window(seq),
            (_, 0) => data_len == 0 && fin && seq == nxt,
            _ => in_window(seq) || in_window(seq + len - 1),
        }
    }

    fn challenge_ack(&mut self, now: u64) {
        if self.challenge.allow(now) {
            self.counters.incr(Counter::ChallengeAcks);
            self.rcv.ack_now();
        } else {
            self.counters.incr(Counter::ChallengeAcksLimited);
        }
    }

    /// The ACK field and window of a segment in a synchronized state;
    /// false if the segment must be dropped.
    fn input_ack(&mut self, now: u64, seg: &TcpRepr, seq: SeqNumber, data_len: u32, tx: &impl SendBuffer) -> bool {
        let ack = seg.ack_number;
        if self.snd.ack_out_of_range(ack) {
            self.rcv.ack_now();
            return false;
        }

        let wnd = self.snd.scale(seg.window_len);
        let window_changed = wnd != self.snd.wnd;
        if self.snd.update_window(seq, ack, wnd) && wnd > 0 {
            self.timers.cancel(Timer::Persist);
            self.rec.persist_backoff = 0;
        }

        let mss = self.snd.mss();
        if self.sack && !seg.sack_blocks.is_empty() {
            self.rec.scoreboard.update(&seg.sack_blocks, self.snd.una.max(ack), self.snd.max);
        }

        if ack > self.snd.una {
            self.on_new_ack(now, seg, ack, tx);
        } else if ack == self.snd.una && data_len == 0 && !seg.flags.fin() && !window_changed && self.snd.outstanding()
        {
            // A duplicate ACK (RFC 5681 §2).
            self.rec.dupacks += 1;
            self.counters.incr(Counter::DupAcks);
            self.totals.dupacks += 1;
            if !self.rec.in_recovery() {
                if self.rec.dupacks >= DUP_THRESH || (self.sack && self.rec.scoreboard.is_lost(self.snd.una, mss)) {
                    self.enter_recovery(now);
                }
            } else if !self.sack {
                // NewReno: each further dup ACK means a segment left the network.
                self.rec.inflate(mss);
            }
        }
        if !self.rec.in_recovery()
            && self.sack
            && self.rec.scoreboard.is_lost(self.snd.una, mss)
            && self.snd.outstanding()
        {
            self.enter_recovery(now);
        }
        true
    }

    fn enter_recovery(&mut self, now: u64) {
        self.counters.incr(Counter::FastRetransmits);
        self.rec.enter(now, &self.snd, self.sack);
    }

    fn on_new_ack(&mut self, now: u64, seg: &TcpRepr, ack: SeqNumber, tx: &impl SendBuffer) {
        // Drop acknowledged data from the tx fifo; the FIN takes a sequence number but no byte.
        let acked = self.snd.on_ack(ack, tx);
        if acked.bytes > 0 {
            self.push_event(Event::TxSpace);
        }

        // RTT: timestamps when in use, else the one timed segment (Karn).
        if let Some(ts) = seg.timestamp.filter(|t| self.ts.enabled && t.tsecr != 0) {
            // An echo older than our last retransmission of this data means
            // an earlier transmission arrived and its ACK was lost (Eifel,
            // RFC 3522): the time since then is not a path RTT, so skip it.
            let mark = self.rec.rexmit_mark;
            let stale = mark.is_some_and(|(tsval, high)| ack <= high && SeqNumber(ts.tsecr) < SeqNumber(tsval));
            if !stale {
                self.sample_ts(now, ts.tsecr);
            }
            if mark.is_some_and(|(_, high)| ack > high) {
                self.rec.rexmit_mark = None;
            }
        } else if let Some((timed, sent)) = self.rec.rtt_seq {
            if ack > timed {
                self.rec.rtt.sample(now.saturating_sub(sent));
                self.rec.rtt_seq = None;
            }
        }

        self.rec.on_new_ack(now, &self.snd, acked.seq, self.sack);

        // RFC 6298 §5.2/5.3: stop the timer when all is acknowledged, else restart it.
        if self.snd.outstanding() {
            self.timers.arm(Timer::Rto, now, self.rec.rtt.rto());
        } else {
            self.timers.cancel(Timer::Rto);
        }

        if acked.fin {
            match self.state {
                State::FinWait1 => {
                    self.state = State::FinWait2;
                    if self.app_closed {
                        self.timers.arm(Timer::Close, now, self.fin_wait_2);
                    }
                }
                State::Closing => self.enter_time_wait(now),
                State::LastAck => self.enter_closed(),
                _ => {}
            }
        }
    }

    /// Puts (trimmed) data into the rx fifo; returns where a FIN on this segment sits, if it survived trimming.
    fn input_data<P: PayloadIn + ?Sized>(
        &mut self,
        now: u64,
        seq: SeqNumber,
        data: &P,
        data_len: usize,
        fin: bool,
        rx: &impl RecvBuffer,
    ) -> Option<SeqNumber> {
        // Trim what we already have from the front.
        let skip = self.rcv.nxt.since(seq).min(data_len as u32) as usize;
        let mut len = data_len - skip;
        let seq = seq + skip as u32;
        let mut fin = fin;
        // Trim what lies beyond the window (the fifo's free space) from the back, and the FIN with it.
        let room = self.rcv.free.saturating_sub(seq.since(self.rcv.nxt)) as usize;
        if len > room {
            len = room;
            fin = false;
            // Tell the peer at once where the window really ends.
            self.rcv.ack_now();
        }
        if len == 0 {
            return fin.then_some(seq);
        }
        if self.app_closed {
            // Nobody will read this (RFC 9293 §3.10.7.4: reset on data after a full close).
            self.abort();
            return None;
        }
        if seq == self.rcv.nxt {
            let had_holes = self.rcv.ooo_runs > 0;
            let e = data.enqueue_range(rx, skip, len);
            self.rcv.nxt += e.advanced as u32;
            if e.advanced > 0 {
                self.push_event(Event::RxData);
            }
            let second_full = self.rcv.received_in_order(e.advanced as u32, data.len() as u32);
            if had_holes || second_full {
                // Hole filled (RFC 5681 §4.2: ACK at once) or every second full-sized segment.
                self.rcv.ack_now();
            } else if self.rcv.ack_later() {
                self.timers.arm_if_idle(Timer::DelayedAck, now, self.delayed_ack);
            }
            self.rcv.refresh(rx, None, self.sack);
        } else {
            if data.enqueue_range_at(rx, seq.since(self.rcv.nxt), skip, len) {
                self.counters.incr(Counter::OutOfOrder);
            } else {
                self.counters.incr(Counter::OutOfOrderDrops);
            }
            // An out-of-order segment is acknowledged at once (RFC 5681 §4.2) with SACK blocks.
            self.rcv.ack_now();
            self.rcv.refresh(rx, Some(seq), self.sack);
        }
        fin.then_some(seq + len as u32)
    }

    /// The data of a train taken whole: at `rcv.nxt`, no holes, room for
    /// all (checked by [`Self::takes_train_whole`] and not changed by the
    /// ACK processing in between), so it is one in-order enqueue.
    fn input_train_data(&mut self, now: u64, seq: SeqNumber, train: &[&[u8]], rx: &impl RecvBuffer) {
        debug_assert!(seq == self.rcv.nxt && self.rcv.ooo_runs == 0);
        let e = rx.enqueue_vectored(train);
        self.rcv.nxt += e.advanced as u32;
        if e.advanced > 0 {
            self.push_event(Event::RxData);
        }
        let largest = train.iter().map(|p| p.len()).max().unwrap_or(0) as u32;
        if self.rcv.received_in_order(e.advanced as u32, largest) {
            self.rcv.ack_now();
        } else if self.rcv.ack_later() {
            self.timers.arm_if_idle(Timer::DelayedAck, now, self.delayed_ack);
        }
        self.rcv.refresh(rx, None, self.sack);
    }

    fn input_fin(&mut self, now: u64) {
        self.rcv.nxt += 1;
        self.rcv.fin = None;
        self.rcv.ack_now();
        self.push_event(Event::PeerClosed);
        match self.state {
            State::SynReceived | State::Established => self.state = State::CloseWait,
            State::FinWait1 => {
                if self.snd.fin_seq.is_some_and(|f| self.snd.una > f) {
                    self.enter_time_wait(now);
                } else {
                    self.state = State::Closing;
                }
            }
            State::FinWait2 => self.enter_time_wait(now),
            _ => {}
        }
    }

    pub(super) fn enter_time_wait(&mut self, now: u64) {
        self.state = State::TimeWait;
        self.timers.cancel_all();
        self.timers.arm(Timer::Close, now, self.time_wait);
    }
}
