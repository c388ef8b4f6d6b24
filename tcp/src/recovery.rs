//! Loss detection and recovery of a connection: the RTT estimator and RTO
//! backoff (RFC 6298, Karn's rule, the Eifel check of RFC 3522 with
//! timestamps), consecutive-timeout and persist backoff counts, duplicate
//! ACKs, fast retransmit and fast recovery (RFC 6675 with SACK, RFC 6582
//! NewReno without), the SACK scoreboard, and the congestion controller
//! instance ([`super::cc`]). Triggers (segments, timers) are [`super::input`]'s
//! and [`super::connection`]'s; retransmissions are built by [`super::output`].
//!
//! Invariants kept here: `high_rxt >= snd_una` once set; entering and
//! leaving recovery (and the RTO's reset of it) each happen in one method,
//! so `point`, `rexmit_head`, `dupacks`, Karn's timed segment and the
//! controller change together.

use wire::tcp::SeqNumber;

use crate::cc::{CongestionControl, Controller};
use crate::connection::saturating_shl;
use crate::rtt::RttEstimator;
use crate::sack::Scoreboard;
use crate::send::SendSide;
use shm::types::Cc;

/// A connection's loss-recovery and congestion state.
#[derive(Debug, Clone)]
pub(crate) struct Recovery {
    pub(crate) rtt: RttEstimator,
    /// Karn: the segment being timed and when it was sent (no timestamps).
    pub(crate) rtt_seq: Option<(SeqNumber, u64)>,
    /// With timestamps: our TSval at the last retransmission and snd_max
    /// then; ACKs up to there echoing an older TSval give no RTT sample.
    pub(crate) rexmit_mark: Option<(u32, SeqNumber)>,
    /// Consecutive timeouts (SYN, data, persist) without progress.
    pub(crate) retries: u32,
    /// Unanswered zero-window probes (the persist interval's backoff).
    pub(crate) persist_backoff: u32,
    pub(crate) cc: Controller,
    pub(crate) dupacks: u32,
    /// In recovery: RFC 6582 `recover` / RFC 6675 `RecoveryPoint`, snd_max at entry.
    pub(crate) point: Option<SeqNumber>,
    pub(crate) scoreboard: Scoreboard,
    /// RFC 6675 `HighRxt`: highest sequence retransmitted in this recovery.
    pub(crate) high_rxt: SeqNumber,
    /// Retransmit the first unacknowledged segment next (fast retransmit, NewReno partial ACK).
    pub(crate) rexmit_head: bool,
}

impl Recovery {
    /// Fresh state: no samples, no loss; a placeholder controller until the
    /// send MSS is known ([`Self::restart_cc`]).
    pub(crate) fn new(rtt: RttEstimator, cc: Cc, iss: SeqNumber) -> Self {
        Recovery {
            rtt,
            rtt_seq: None,
            rexmit_mark: None,
            retries: 0,
            persist_backoff: 0,
            cc: Controller::new(cc, 1, 1),
            dupacks: 0,
            point: None,
            scoreboard: Scoreboard::default(),
            high_rxt: iss,
            rexmit_head: false,
        }
    }

    /// Starts the controller afresh for segments of `mss` bytes and an initial window of `iw` bytes.
    pub(crate) fn restart_cc(&mut self, mss: u32, iw: u32) {
        self.cc = Controller::new(self.cc.algorithm(), mss, iw);
    }

    /// Whether fast recovery is in progress.
    pub(crate) fn in_recovery(&self) -> bool {
        self.point.is_some()
    }

    /// RFC 6675 pipe: bytes believed in the network during SACK recovery.
    pub(crate) fn pipe(&self, snd: &SendSide) -> u32 {
        self.scoreboard.pipe(snd.una, snd.max, self.high_rxt, snd.mss())
    }

    /// Bytes believed in the network (RFC 6675 pipe with SACK in recovery, else `nxt - una`).
    pub(crate) fn flight(&self, snd: &SendSide, sack: bool) -> u32 {
        if sack && self.in_recovery() {
            self.pipe(snd)
        } else {
            snd.in_flight()
        }
    }

    /// The persist interval: the RTO backed off per unanswered probe, within [RTO, max RTO].
    pub(crate) fn persist_interval(&self) -> u64 {
        saturating_shl(self.rtt.rto(), self.persist_backoff).min(self.rtt.max_rto())
    }

    /// A zero-window probe went unanswered: back the interval off, up to the cap.
    pub(crate) fn back_off_persist(&mut self) {
        // Stop doubling at the cap: a larger shift would overflow the interval.
        if self.persist_interval() < self.rtt.max_rto() {
            self.persist_backoff += 1;
        }
    }

    /// Handshake done: timeouts so far no longer count.
    pub(crate) fn on_established(&mut self) {
        self.retries = 0;
        self.rtt.reset_backoff();
    }

    /// A SYN or SYN-ACK timed out (it is resent).
    pub(crate) fn on_syn_timeout(&mut self) {
        self.rtt.back_off();
        self.rtt_seq = None;
    }

    /// The retransmission timer expired with data outstanding: the
    /// controller collapses, recovery ends, and sending goes back to
    /// `snd.una` (skipping what the peer SACKed).
    pub(crate) fn on_rto(&mut self, now: u64, snd: &mut SendSide) {
        self.cc.on_rto(now, snd.unacked());
        self.rtt.back_off();
        self.rtt_seq = None; // Karn
        self.point = None;
        self.rexmit_head = false;
        self.dupacks = 0;
        snd.rewind();
        self.high_rxt = snd.una;
    }

    /// Loss detected (dup ACKs or SACK): enter fast recovery and
    /// retransmit the first unacknowledged segment at once, whatever the
    /// window (RFC 6675 §5 step 4.3; RFC 6582 §3.2 step 2).
    pub(crate) fn enter(&mut self, now: u64, snd: &SendSide, sack: bool) {
        self.point = Some(snd.max);
        self.cc.on_congestion(now, snd.unacked());
        self.rtt_seq = None; // Karn: the timed segment may be retransmitted
        self.rexmit_head = true;
        if sack {
            self.high_rxt = snd.una;
        } else {
            // RFC 6582 §3.2 step 3: inflate by the three segments that left the network.
            let cwnd = self.cc.ssthresh().saturating_add(3 * snd.mss());
            self.cc.set_cwnd(cwnd);
        }
    }

    /// NewReno: a further dup ACK in recovery means a segment left the network.
    pub(crate) fn inflate(&mut self, mss: u32) {
        let cwnd = self.cc.cwnd().saturating_add(mss);
        self.cc.set_cwnd(cwnd);
    }

    /// `acked` bytes of new data were acknowledged and `snd.una` moved up:
    /// progress clears the timeout and dup-ACK counts, then recovery ends
    /// (a full ACK), continues (a NewReno partial ACK retransmits the next
    /// hole) or the controller grows the window.
    pub(crate) fn on_new_ack(&mut self, now: u64, snd: &SendSide, acked: u32, sack: bool) {
        if self.high_rxt < snd.una {
            self.high_rxt = snd.una;
        }
        self.scoreboard.remove_below(snd.una);
        self.retries = 0;
        self.dupacks = 0;
        let mss = snd.mss();
        match self.point {
            Some(p) if snd.una >= p => {
                self.point = None;
                self.rexmit_head = false;
                self.cc.on_recovered(now);
            }
            Some(_) if !sack => {
                // RFC 6582 §3.2 step 5: partial ACK. Retransmit the next hole,
                // deflate by what was acknowledged, add back one segment.
                self.rexmit_head = true;
                let cwnd = self.cc.cwnd().saturating_sub(acked).saturating_add(if acked >= mss { mss } else { 0 });
                self.cc.set_cwnd(cwnd);
            }
            Some(_) => {}
            None => self.cc.on_ack(now, acked, self.rtt.srtt()),
        }
    }

    /// Karn's rule on a transmission of `[start, end)`: a retransmission
    /// stops timing a segment it covers; new data is timed when nothing
    /// is (and timestamps do not time every segment anyway).
    pub(crate) fn on_sent(&mut self, now: u64, start: SeqNumber, end: SeqNumber, retransmit: bool, timed: bool) {
        if retransmit {
            if self.rtt_seq.is_some_and(|(t, _)| start <= t && t < end) {
                self.rtt_seq = None;
            }
        } else if self.rtt_seq.is_none() && timed {
            self.rtt_seq = Some((start, now));
        }
    }
}
