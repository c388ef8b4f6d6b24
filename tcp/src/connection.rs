//! The TCP connection: its control block, RFC 9293 state, the calls the
//! worker makes, timers and events. Segment arrival lives in
//! [`super::input`], segment production in [`super::output`] (split by
//! direction as VPP's `tcp_input.c` / `tcp_output.c`).
//!
//! Sans-IO: time is a `u64` of nanoseconds passed in; data lives in the
//! session's fifos, passed in by reference. The rx fifo's free space is the
//! receive window; the tx fifo's head is `snd_una`'s first data byte, so
//! unacknowledged data is peeked for (re)transmission and dropped from the
//! fifo only when acknowledged.
//!
//! Deviations from the worker's sketch, and why:
//! - `connect` and `accept` take a [`ConnOptions`] with the rx fifo size:
//!   the SYN's window and our window scale depend on it, and a half-open
//!   connection may not have its fifos yet. The advertised window is then
//!   kept current by `input` and `app_rx` (both see the rx fifo), so
//!   `poll_transmit` needs only the tx fifo.
//! - `from_cookie` takes the cookie jar and validates the ACK itself.
//! - After `Closed` (and `Reset`/`ConnectFailed`/`TimedOut`, which are
//!   always followed by `Closed`), call `poll_transmit` until `None` once
//!   more: a final RST may be pending.

use std::collections::VecDeque;
use std::net::SocketAddrV4;

use shm::types::Cc;
use wire::tcp::{Repr as TcpRepr, SackBlocks, SeqNumber};

use super::cc::{CongestionControl, Controller};
use super::config::{mss_cap, ConnOptions, Keepalive, TcpConfig};
use super::options::{our_window_scale, send_mss, ts_offset, Negotiated, DEFAULT_MSS, MAX_WINDOW_SCALE};
use super::rst::ChallengeAckLimiter;
use super::rtt::RttEstimator;
use super::sack::Scoreboard;
use super::stats::{ConnStats, Counter, Counters};
use super::syncookie::SynCookies;
use crate::buffer::RecvBuffer;

/// RFC 9293 connection states (LISTEN is the worker's listener, not a connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// No connection (initial for nothing; final for everything).
    Closed,
    /// Our SYN sent, waiting for the peer's.
    SynSent,
    /// SYN received and SYN-ACK sent (or simultaneous open).
    SynReceived,
    /// Data flows both ways.
    Established,
    /// We closed; our FIN not yet acknowledged.
    FinWait1,
    /// Our FIN acknowledged; waiting for the peer's.
    FinWait2,
    /// The peer closed; we may still send.
    CloseWait,
    /// Both closed at once; our FIN not yet acknowledged.
    Closing,
    /// The peer closed first, then we did; waiting for our FIN's ACK.
    LastAck,
    /// Both FINs done; waiting 2 * MSL for stray segments.
    TimeWait,
}

impl State {
    /// Whether the handshake completed (ESTABLISHED or a later state).
    pub fn is_synchronized(self) -> bool {
        !matches!(self, State::Closed | State::SynSent | State::SynReceived)
    }
}

impl core::fmt::Display for State {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            State::Closed => "CLOSED",
            State::SynSent => "SYN-SENT",
            State::SynReceived => "SYN-RECEIVED",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN-WAIT-1",
            State::FinWait2 => "FIN-WAIT-2",
            State::CloseWait => "CLOSE-WAIT",
            State::Closing => "CLOSING",
            State::LastAck => "LAST-ACK",
            State::TimeWait => "TIME-WAIT",
        })
    }
}

/// Why an active open failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectError {
    /// The peer answered with a RST.
    Refused,
    /// No SYN-ACK after all SYN retransmissions.
    Timeout,
}

/// What the worker must tell the session layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The handshake completed.
    Established,
    /// New in-order data is in the rx fifo.
    RxData,
    /// Acknowledged data was dropped from the tx fifo: the app may write more.
    TxSpace,
    /// The peer sent FIN: no more data will arrive.
    PeerClosed,
    /// The peer reset the connection.
    Reset,
    /// An active open failed.
    ConnectFailed(ConnectError),
    /// Retransmissions or keepalive probes went unanswered.
    TimedOut,
    /// The connection is finished: free it (after a last `poll_transmit`).
    Closed,
}

/// One segment to send: the header (options included) and how many
/// payload bytes were copied into the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// The header; `repr.payload_len == payload_len`.
    pub repr: TcpRepr,
    /// Payload bytes at the start of `payload_out`.
    pub payload_len: usize,
}

/// The shortest delay any timer is armed with: one tick of the worker's
/// timer wheel. Why a floor: a zero delay (a zero RTO, keepalive interval
/// or TIME-WAIT from the config) would re-arm a timer at the instant it
/// fired and spin; with it every timer moves time forward.
pub const MIN_TIMER_NS: u64 = 1_000_000;

/// The deadline `delay` after `now`: at least [`MIN_TIMER_NS`] later, and
/// saturating instead of wrapping for delays near `u64::MAX`.
pub(super) fn after(now: u64, delay: u64) -> u64 {
    now.saturating_add(delay.max(MIN_TIMER_NS))
}

/// `value << shift`, saturating at `u64::MAX` instead of losing the high
/// bits (`checked_shl` only refuses shifts of 64 or more).
pub(super) fn saturating_shl(value: u64, shift: u32) -> u64 {
    if value == 0 {
        0
    } else if shift >= value.leading_zeros() {
        u64::MAX
    } else {
        value << shift
    }
}

/// How soon an ACK must go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum AckNeed {
    None,
    Delayed,
    Now,
}

/// Loss recovery in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Recovery {
    /// RFC 6582 `recover` / RFC 6675 `RecoveryPoint`: snd_max at entry.
    pub(super) point: SeqNumber,
}

/// A TCP connection's state machine.
#[derive(Debug)]
pub struct Connection {
    pub(super) local: SocketAddrV4,
    pub(super) remote: SocketAddrV4,
    pub(super) state: State,

    // Settings, resolved from config and options.
    /// The MSS we advertise, and the cap on the send MSS ([`mss_cap`]).
    pub(super) mss_cap: u16,
    /// The initial window in segments of the send MSS (RFC 6928).
    pub(super) initial_cwnd_segments: u32,
    pub(super) nagle: bool,
    pub(super) keepalive: Option<Keepalive>,
    pub(super) delayed_ack: u64,
    pub(super) time_wait: u64,
    pub(super) fin_wait_2: u64,
    pub(super) syn_retries: u32,
    pub(super) synack_retries: u32,
    pub(super) max_retransmits: u32,
    pub(super) rx_capacity: u32,
    /// What we offer on our SYN or SYN-ACK.
    pub(super) offer: Offer,

    // Send sequence space.
    pub(super) iss: SeqNumber,
    pub(super) snd_una: SeqNumber,
    pub(super) snd_nxt: SeqNumber,
    pub(super) snd_max: SeqNumber,
    pub(super) snd_wnd: u32,
    pub(super) max_snd_wnd: u32,
    pub(super) snd_wl1: SeqNumber,
    pub(super) snd_wl2: SeqNumber,
    /// Sequence number of the tx fifo's head byte.
    pub(super) tx_base: SeqNumber,
    /// The app closed its sending side: a FIN follows the queued data.
    pub(super) fin_queued: bool,
    /// Where our FIN sits, once the data before it is known.
    pub(super) fin_seq: Option<SeqNumber>,
    /// The app closed fully (not a half-close): data arriving now is reset.
    pub(super) app_closed: bool,

    // Receive sequence space.
    pub(super) irs: SeqNumber,
    pub(super) rcv_nxt: SeqNumber,
    /// Right edge of the window we last advertised.
    pub(super) rcv_adv: SeqNumber,
    /// The rx fifo's free space as last seen by `input` or `app_rx`.
    pub(super) rx_free: u32,
    /// The peer's FIN, if seen beyond a hole.
    pub(super) rx_fin: Option<SeqNumber>,
    /// SACK blocks for our next ACK, computed when the rx fifo was last written.
    pub(super) rx_sack: SackBlocks,
    pub(super) rx_ooo_runs: usize,

    // Options.
    pub(super) neg: Negotiated,
    pub(super) ts_offset: u32,
    pub(super) ts_recent: u32,
    pub(super) ts_recent_at: u64,
    pub(super) last_ack_sent: SeqNumber,

    // Timers (absolute deadlines, ns).
    pub(super) t_rto: Option<u64>,
    pub(super) t_delack: Option<u64>,
    pub(super) t_persist: Option<u64>,
    pub(super) t_keepalive: Option<u64>,
    /// TIME-WAIT or FIN-WAIT-2 expiry.
    pub(super) t_close: Option<u64>,

    // Retransmission.
    pub(super) rtt: RttEstimator,
    /// Karn: the segment being timed and when it was sent (no timestamps).
    pub(super) rtt_seq: Option<(SeqNumber, u64)>,
    /// With timestamps: our TSval at the last retransmission and snd_max
    /// then; ACKs up to there echoing an older TSval give no RTT sample.
    pub(super) rexmit_mark: Option<(u32, SeqNumber)>,
    /// Consecutive timeouts (SYN, data, persist) without progress.
    pub(super) retries: u32,
    pub(super) persist_backoff: u32,
    pub(super) keepalive_sent: u32,

    // Congestion control and recovery.
    pub(super) cc: Controller,
    pub(super) dupacks: u32,
    pub(super) recovery: Option<Recovery>,
    pub(super) scoreboard: Scoreboard,
    /// RFC 6675 `HighRxt`: highest sequence retransmitted in this recovery.
    pub(super) high_rxt: SeqNumber,
    /// NewReno: retransmit the first unacknowledged segment next.
    pub(super) rexmit_head: bool,

    // Pending output.
    pub(super) ack_need: AckNeed,
    pub(super) segs_unacked: u32,
    pub(super) syn_pending: bool,
    pub(super) rst_pending: Option<TcpRepr>,
    pub(super) probe_pending: bool,
    /// The persist timer fired with an open but small window: send what fits (SWS override).
    pub(super) sws_override: bool,
    pub(super) challenge: ChallengeAckLimiter,

    pub(super) events: VecDeque<Event>,
    pub(super) counters: Counters,
    pub(super) totals: Totals,
}

/// What our SYN or SYN-ACK offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Offer {
    pub(super) window_scale: Option<u8>,
    pub(super) sack: bool,
    pub(super) timestamps: bool,
}

/// Lifetime totals for [`ConnStats`].
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Totals {
    pub(super) retransmits: u64,
    pub(super) timeouts: u64,
    pub(super) dupacks: u64,
    pub(super) segs_in: u64,
    pub(super) segs_out: u64,
}

impl Connection {
    fn new(
        cfg: &TcpConfig,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: u32,
        opts: ConnOptions,
        state: State,
        now: u64,
    ) -> Self {
        let mss_cap = mss_cap(cfg, &opts);
        let iss = SeqNumber(iss);
        // Before the peer's SYN the send MSS is the default's (RFC 9293 §3.7.1).
        let neg = Negotiated { snd_mss: send_mss(Some(DEFAULT_MSS), mss_cap), ..Negotiated::NONE };
        let cc = match opts.cc {
            Cc::Default => cfg.cc,
            cc => cc,
        };
        let mut c = Connection {
            local,
            remote,
            state,
            mss_cap,
            initial_cwnd_segments: cfg.initial_cwnd_segments,
            nagle: opts.nagle.unwrap_or(cfg.nagle),
            keepalive: opts.keepalive.or(cfg.keepalive),
            delayed_ack: cfg.delayed_ack,
            time_wait: cfg.time_wait,
            fin_wait_2: cfg.fin_wait_2,
            syn_retries: cfg.syn_retries,
            synack_retries: cfg.synack_retries,
            max_retransmits: cfg.max_retransmits,
            rx_capacity: opts.rx_fifo_size,
            offer: Offer {
                window_scale: cfg.window_scale.then(|| our_window_scale(opts.rx_fifo_size)),
                sack: cfg.sack,
                timestamps: cfg.timestamps,
            },
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: SeqNumber(0),
            snd_wl2: iss,
            tx_base: iss + 1,
            fin_queued: false,
            fin_seq: None,
            app_closed: false,
            irs: SeqNumber(0),
            rcv_nxt: SeqNumber(0),
            rcv_adv: SeqNumber(0),
            rx_free: opts.rx_fifo_size,
            rx_fin: None,
            rx_sack: SackBlocks::EMPTY,
            rx_ooo_runs: 0,
            neg,
            ts_offset: ts_offset(iss.0),
            ts_recent: 0,
            ts_recent_at: now,
            last_ack_sent: SeqNumber(0),
            t_rto: None,
            t_delack: None,
            t_persist: None,
            t_keepalive: None,
            t_close: None,
            rtt: RttEstimator::new(cfg.initial_rto, cfg.min_rto, cfg.max_rto),
            rtt_seq: None,
            rexmit_mark: None,
            retries: 0,
            persist_backoff: 0,
            keepalive_sent: 0,
            cc: Controller::new(cc, 1, 1),
            dupacks: 0,
            recovery: None,
            scoreboard: Scoreboard::default(),
            high_rxt: iss,
            rexmit_head: false,
            ack_need: AckNeed::None,
            segs_unacked: 0,
            syn_pending: false,
            rst_pending: None,
            probe_pending: false,
            sws_override: false,
            challenge: ChallengeAckLimiter::new(cfg.challenge_ack_limit),
            events: VecDeque::with_capacity(8),
            counters: Counters::default(),
            totals: Totals::default(),
        };
        c.set_negotiated(neg);
        c
    }

    /// Adopts what the SYNs agreed and sizes everything by its send MSS:
    /// the congestion controller starts afresh with [`Self::initial_cwnd_segments`]
    /// segments of it. The only place `neg` is set, so that the controller
    /// and the segments it counts can never disagree on the MSS.
    pub(super) fn set_negotiated(&mut self, neg: Negotiated) {
        let neg = Negotiated {
            snd_wscale: neg.snd_wscale.min(MAX_WINDOW_SCALE),
            rcv_wscale: neg.rcv_wscale.min(MAX_WINDOW_SCALE),
            ..neg
        };
        self.neg = neg;
        let smss = u32::from(neg.snd_mss);
        let iw = self.initial_cwnd_segments.max(1).saturating_mul(smss);
        self.cc = Controller::new(self.cc.algorithm(), smss, iw);
    }

    /// Active open: a connection in SYN-SENT with its SYN pending.
    pub fn connect(
        cfg: &TcpConfig,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: u32,
        opts: ConnOptions,
        now: u64,
    ) -> Self {
        let mut c = Self::new(cfg, local, remote, iss, opts, State::SynSent, now);
        c.syn_pending = true;
        c
    }

    /// Passive open from a listener's SYN: SYN-RECEIVED with the SYN-ACK pending.
    pub fn accept(
        cfg: &TcpConfig,
        syn: &TcpRepr,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: u32,
        opts: ConnOptions,
        now: u64,
    ) -> Self {
        let mut c = Self::new(cfg, local, remote, iss, opts, State::SynReceived, now);
        c.take_peer_syn(syn, now);
        // Offer only what the peer offered (RFC 7323 §2.2, §3.2; RFC 2018 §2).
        c.offer.window_scale = c.offer.window_scale.filter(|_| syn.window_scale.is_some());
        c.offer.sack &= syn.sack_permitted;
        c.offer.timestamps &= syn.timestamp.is_some();
        c.snd_wnd = u32::from(syn.window_len);
        c.snd_wl1 = syn.seq_number;
        c.syn_pending = true;
        c
    }

    /// A connection rebuilt from a SYN cookie: `ack` completes a handshake
    /// whose SYN-ACK came from `cookies`; `None` if the cookie is invalid or
    /// stale. The result is ESTABLISHED; then pass `ack` to [`input`](Self::input)
    /// too, so that data it carries is received.
    #[allow(clippy::too_many_arguments)]
    pub fn from_cookie(
        cfg: &TcpConfig,
        cookies: &SynCookies,
        ack: &TcpRepr,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        opts: ConnOptions,
        now: u64,
    ) -> Option<Self> {
        let info = cookies.validate(now, local, remote, ack)?;
        let mut c = Self::new(cfg, local, remote, info.iss, opts, State::Established, now);
        c.irs = SeqNumber(info.irs);
        c.rcv_nxt = c.irs + 1;
        c.rcv_adv = c.rcv_nxt;
        c.last_ack_sent = c.rcv_nxt;
        let ws = cfg.window_scale && info.peer_window_scale.is_some();
        c.set_negotiated(Negotiated {
            snd_mss: send_mss(Some(info.mss), c.mss_cap),
            snd_wscale: if ws { info.peer_window_scale.unwrap_or(0) } else { 0 },
            rcv_wscale: if ws { our_window_scale(opts.rx_fifo_size) } else { 0 },
            sack: cfg.sack && info.sack,
            timestamps: cfg.timestamps && info.timestamps,
        });
        c.snd_una = c.iss + 1;
        c.snd_nxt = c.snd_una;
        c.snd_max = c.snd_una;
        c.snd_wnd = u32::from(ack.window_len) << c.neg.snd_wscale;
        c.max_snd_wnd = c.snd_wnd;
        c.snd_wl1 = ack.seq_number;
        c.snd_wl2 = ack.ack_number;
        if let Some(ts) = ack.timestamp.filter(|_| c.neg.timestamps) {
            c.ts_recent = ts.tsval;
            c.ts_recent_at = now;
        }
        c.counters.incr(Counter::CookiesValidated);
        c.on_established(now);
        Some(c)
    }

    /// Records the peer's SYN: its ISN and the options agreed.
    pub(super) fn take_peer_syn(&mut self, syn: &TcpRepr, now: u64) {
        self.irs = syn.seq_number;
        self.rcv_nxt = syn.seq_number + 1;
        self.rcv_adv = self.rcv_nxt;
        self.last_ack_sent = self.rcv_nxt;
        let ours = self.offer_repr();
        self.set_negotiated(Negotiated::from_syns(&ours, syn, self.mss_cap));
        if let Some(ts) = syn.timestamp.filter(|_| self.neg.timestamps) {
            self.ts_recent = ts.tsval;
            self.ts_recent_at = now;
        }
    }

    /// A repr holding just our offered options (for negotiation).
    pub(super) fn offer_repr(&self) -> TcpRepr {
        TcpRepr {
            max_seg_size: Some(self.mss_cap),
            window_scale: self.offer.window_scale,
            sack_permitted: self.offer.sack,
            timestamp: self.offer.timestamps.then_some(Default::default()),
            ..TcpRepr::default()
        }
    }

    /// Entering ESTABLISHED (from either SYN state or a cookie).
    pub(super) fn on_established(&mut self, now: u64) {
        self.state = State::Established;
        self.t_rto = None;
        self.retries = 0;
        self.rtt.reset_backoff();
        self.counters.incr(Counter::Established);
        self.push_event(Event::Established);
        self.arm_keepalive(now);
        if self.fin_queued {
            // The app closed before the handshake finished.
            self.state = State::FinWait1;
        }
    }

    // ----- app calls -----

    /// The app wrote into the tx fifo. Nothing is sent here; the next
    /// `poll_transmit` picks the data up.
    pub fn app_tx(&mut self, _now: u64) {}

    /// The app read from the rx fifo: refresh the window and, when it grew
    /// enough to matter (RFC 1122 §4.2.3.3 receiver SWS avoidance: by
    /// min(fifo/2, MSS)), send a window update.
    pub fn app_rx(&mut self, _now: u64, rx: &impl RecvBuffer) {
        self.rx_free = rx.free() as u32;
        if !self.state.is_synchronized() || self.peer_fin_seen() {
            return;
        }
        let advertised = self.rcv_adv.since(self.rcv_nxt);
        let threshold = (self.rx_capacity / 2).min(u32::from(self.mss_cap)).max(1);
        if self.window_to_advertise().saturating_sub(advertised) >= threshold {
            self.ack_need = AckNeed::Now;
        }
    }

    /// The app closes the connection. With unread data in `rx` the
    /// connection is reset (RFC 9293 §3.10.4, RFC 2525 §2.17); otherwise a
    /// FIN follows the queued data.
    pub fn close(&mut self, now: u64, rx: &impl RecvBuffer) {
        if rx.queued() > 0 && self.state != State::SynSent {
            self.abort();
            return;
        }
        self.app_closed = true;
        self.queue_fin(now);
    }

    /// Half-close: no more data from the app, but keep receiving.
    pub fn shutdown_write(&mut self, now: u64) {
        self.queue_fin(now);
    }

    fn queue_fin(&mut self, now: u64) {
        match self.state {
            State::SynSent => self.enter_closed(),
            State::SynReceived => self.fin_queued = true,
            State::Established => {
                self.fin_queued = true;
                self.state = State::FinWait1;
            }
            State::CloseWait => {
                self.fin_queued = true;
                self.state = State::LastAck;
            }
            State::FinWait2 if self.app_closed => {
                // A half-closed connection now closed fully: bound FIN-WAIT-2.
                self.t_close = Some(after(now, self.fin_wait_2));
            }
            _ => {}
        }
    }

    /// Resets the connection: a RST goes out (unless nothing was sent yet)
    /// and the connection closes.
    pub fn abort(&mut self) {
        if matches!(self.state, State::Closed | State::TimeWait) {
            self.enter_closed();
            return;
        }
        if self.state != State::SynSent {
            self.rst_pending = Some(self.rst_repr());
        }
        self.enter_closed();
    }

    /// A RST from our current send position.
    pub(super) fn rst_repr(&self) -> TcpRepr {
        let mut r = self.base_repr(self.snd_nxt.max(self.snd_max));
        r.flags = wire::tcp::Flags::RST;
        r
    }

    /// Moves to CLOSED and tells the worker.
    pub(super) fn enter_closed(&mut self) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.t_rto = None;
        self.t_delack = None;
        self.t_persist = None;
        self.t_keepalive = None;
        self.t_close = None;
        self.ack_need = AckNeed::None;
        self.syn_pending = false;
        self.probe_pending = false;
        self.push_event(Event::Closed);
    }

    pub(super) fn push_event(&mut self, e: Event) {
        // Why coalesce: the app only needs to know that there is data or room, not how many times.
        if matches!(e, Event::RxData | Event::TxSpace) && self.events.contains(&e) {
            return;
        }
        self.events.push_back(e);
    }

    // ----- worker calls -----

    /// The next event for the session layer.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest deadline at which [`on_timeout`](Self::on_timeout) must be called.
    pub fn poll_timeout(&self) -> Option<u64> {
        [self.t_rto, self.t_delack, self.t_persist, self.t_keepalive, self.t_close].into_iter().flatten().min()
    }

    /// Handles every timer due at `now`.
    pub fn on_timeout(&mut self, now: u64) {
        let due = |t: Option<u64>| t.is_some_and(|t| t <= now);
        if due(self.t_close) {
            self.t_close = None;
            // TIME-WAIT expiry, or FIN-WAIT-2 with an app that is gone.
            self.enter_closed();
            return;
        }
        if due(self.t_rto) {
            self.t_rto = None;
            self.on_rto(now);
        }
        if due(self.t_persist) {
            self.t_persist = None;
            self.on_persist(now);
        }
        if due(self.t_delack) {
            self.t_delack = None;
            self.ack_need = AckNeed::Now;
        }
        if due(self.t_keepalive) {
            self.t_keepalive = None;
            self.on_keepalive(now);
        }
    }

    fn on_rto(&mut self, now: u64) {
        self.retries += 1;
        self.counters.incr(Counter::RtoTimeouts);
        self.totals.timeouts += 1;
        match self.state {
            State::SynSent | State::SynReceived => {
                let limit = if self.state == State::SynSent { self.syn_retries } else { self.synack_retries };
                if self.retries > limit {
                    if self.state == State::SynSent {
                        self.push_event(Event::ConnectFailed(ConnectError::Timeout));
                    } else {
                        self.push_event(Event::TimedOut);
                    }
                    self.enter_closed();
                    return;
                }
                self.counters.incr(Counter::SynRetransmits);
                self.rtt.back_off();
                self.rtt_seq = None;
                self.syn_pending = true;
            }
            State::Closed | State::TimeWait => {}
            _ => {
                if self.snd_una == self.snd_max {
                    return; // nothing outstanding (stale timer)
                }
                if self.retries > self.max_retransmits {
                    self.counters.incr(Counter::TimedOut);
                    self.push_event(Event::TimedOut);
                    self.abort();
                    return;
                }
                let flight = self.snd_max.since(self.snd_una);
                self.cc.on_rto(now, flight);
                self.rtt.back_off();
                self.rtt_seq = None; // Karn
                self.recovery = None;
                self.rexmit_head = false;
                self.dupacks = 0;
                // Go back N: resend from snd_una (skipping what the peer SACKed).
                self.snd_nxt = self.snd_una;
                self.high_rxt = self.snd_una;
            }
        }
        self.t_rto = Some(after(now, self.rtt.rto()));
    }

    fn on_persist(&mut self, now: u64) {
        if !self.state.is_synchronized() {
            return;
        }
        if self.snd_wnd > 0 {
            // The window is open but too small for Nagle/SWS to send: override once.
            self.sws_override = true;
            self.persist_backoff = 0;
            return;
        }
        self.probe_pending = true;
        self.counters.incr(Counter::ZeroWindowProbes);
        // Stop doubling at the cap: a larger shift would overflow the interval.
        if self.persist_interval() < self.rtt.max_rto() {
            self.persist_backoff += 1;
        }
        self.t_persist = Some(after(now, self.persist_interval()));
    }

    /// The persist interval: the RTO backed off per unanswered probe, within [RTO, max RTO].
    pub(super) fn persist_interval(&self) -> u64 {
        saturating_shl(self.rtt.rto(), self.persist_backoff).min(self.rtt.max_rto())
    }

    fn on_keepalive(&mut self, now: u64) {
        let Some(ka) = self.keepalive else { return };
        if !matches!(self.state, State::Established | State::CloseWait) {
            return;
        }
        if self.snd_una != self.snd_max {
            // Data in flight: the retransmission timer watches the peer.
            self.t_keepalive = Some(after(now, ka.idle));
            return;
        }
        if self.keepalive_sent >= ka.probes {
            self.counters.incr(Counter::TimedOut);
            self.push_event(Event::TimedOut);
            self.abort();
            return;
        }
        self.keepalive_sent += 1;
        self.probe_pending = true;
        self.counters.incr(Counter::KeepaliveProbes);
        self.t_keepalive = Some(after(now, ka.interval));
    }

    /// Restarts the keepalive idle timer (on every segment received).
    pub(super) fn arm_keepalive(&mut self, now: u64) {
        if let Some(ka) = self.keepalive {
            if matches!(self.state, State::Established | State::CloseWait) {
                self.t_keepalive = Some(after(now, ka.idle));
                self.keepalive_sent = 0;
            }
        }
    }

    // ----- queries -----

    /// The RFC 9293 state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Our address and port.
    pub fn local(&self) -> SocketAddrV4 {
        self.local
    }

    /// The peer's address and port.
    pub fn remote(&self) -> SocketAddrV4 {
        self.remote
    }

    /// The options agreed on the SYNs.
    pub fn negotiated(&self) -> Negotiated {
        self.neg
    }

    /// The payload size to reserve per segment: the send MSS (payloads
    /// are never larger; options come out of it).
    pub fn mss(&self) -> usize {
        usize::from(self.neg.snd_mss)
    }

    /// Whether the peer's FIN was received.
    pub fn peer_fin_seen(&self) -> bool {
        matches!(self.state, State::CloseWait | State::LastAck | State::Closing | State::TimeWait)
    }

    /// Adds this connection's counter increments since the last call into `into`.
    pub fn flush_counters(&mut self, into: &mut Counters) {
        into.drain_from(&mut self.counters);
    }

    /// A snapshot for the CLI.
    pub fn stats(&self) -> ConnStats {
        ConnStats {
            state: self.state,
            snd_una: self.snd_una.0,
            snd_nxt: self.snd_nxt.0,
            snd_max: self.snd_max.0,
            snd_wnd: self.snd_wnd,
            rcv_nxt: self.rcv_nxt.0,
            rcv_wnd: self.rcv_adv.since(self.rcv_nxt),
            mss: self.neg.snd_mss,
            wscale: (self.neg.snd_wscale, self.neg.rcv_wscale),
            sack: self.neg.sack,
            timestamps: self.neg.timestamps,
            srtt_us: self.rtt.srtt() / 1000,
            rttvar_us: self.rtt.rttvar() / 1000,
            rto_us: self.rtt.rto() / 1000,
            cc: self.cc.algorithm(),
            cwnd: self.cc.cwnd(),
            ssthresh: self.cc.ssthresh(),
            flight: self.flight(),
            in_recovery: self.recovery.is_some(),
            retransmits: self.totals.retransmits,
            timeouts: self.totals.timeouts,
            dupacks: self.totals.dupacks,
            sack_blocks: self.scoreboard.len(),
            sacked_bytes: self.scoreboard.sacked_bytes(),
            rx_ooo_runs: self.rx_ooo_runs,
            segs_out: self.totals.segs_out,
            segs_in: self.totals.segs_in,
        }
    }

    /// Bytes believed in the network (RFC 6675 pipe with SACK, else snd_nxt - snd_una).
    pub(super) fn flight(&self) -> u32 {
        if self.neg.sack && self.recovery.is_some() {
            self.scoreboard.pipe(self.snd_una, self.snd_max, self.high_rxt, u32::from(self.neg.snd_mss))
        } else {
            self.snd_nxt.since(self.snd_una)
        }
    }

    /// The congestion window (for tests and the CLI).
    pub fn cwnd(&self) -> u32 {
        self.cc.cwnd()
    }

    /// The current retransmission timeout (ns).
    pub fn rto(&self) -> u64 {
        self.rtt.rto()
    }

    /// The smoothed RTT (ns).
    pub fn srtt(&self) -> u64 {
        self.rtt.srtt()
    }
}
