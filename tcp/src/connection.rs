//! The TCP connection: its control block, RFC 9293 state, the calls the
//! worker makes, timers and events. Segment arrival lives in
//! [`super::input`], segment production in [`super::output`] (split by
//! direction as VPP's `tcp_input.c` / `tcp_output.c`).
//!
//! The control block is a few parts with their own invariants and
//! methods, plus the settings, state and pending output that tie them
//! together: `send` (send sequence space, the peer's window, send
//! MSS and window scale, the tx buffer's position), `recv`
//! (receive sequence space, advertised window, SACK blocks, pending ACK),
//! `recovery` (RTT and RTO backoff, dup ACKs, fast
//! retransmit/recovery, the SACK scoreboard, the congestion controller)
//! and [`super::timer`] (one table of deadlines by timer kind).
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
use std::net::SocketAddr;

use shm::types::Cc;
use wire::tcp::{Repr as TcpRepr, SeqNumber};

use super::cc::CongestionControl;
use super::config::{mss_cap, ConnOptions, Keepalive, TcpConfig};
use super::options::{our_window_scale, send_mss, Negotiated, TsState, DEFAULT_MSS, MAX_WINDOW_SCALE};
use super::recovery::Recovery;
use super::recv::RecvSide;
use super::rst::ChallengeAckLimiter;
use super::rtt::RttEstimator;
use super::send::SendSide;
use super::stats::{ConnStats, Counter, Counters};
use super::syncookie::SynCookies;
use super::timer::{Timer, TimerTable};
use crate::buffer::RecvBuffer;

pub use super::timer::MIN_TIMER_NS;

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

/// `value << shift`, saturating at `u64::MAX` instead of losing the high
/// bits (`checked_shl` only refuses shifts of 64 or more).
pub(crate) fn saturating_shl(value: u64, shift: u32) -> u64 {
    if value == 0 {
        0
    } else if shift >= value.leading_zeros() {
        u64::MAX
    } else {
        value << shift
    }
}

/// A TCP connection's state machine.
#[derive(Debug)]
pub struct Connection {
    pub(super) local: SocketAddr,
    pub(super) remote: SocketAddr,
    pub(super) state: State,

    // Settings, resolved from config and options.
    /// The MSS we advertise, and the cap on the send MSS ([`mss_cap`]).
    pub(super) mss_cap: u16,
    /// The initial window in segments of the send MSS (RFC 6928).
    pub(super) initial_cwnd_segments: u32,
    pub(super) keepalive: Option<Keepalive>,
    pub(super) delayed_ack: u64,
    pub(super) time_wait: u64,
    pub(super) fin_wait_2: u64,
    pub(super) syn_retries: u32,
    pub(super) synack_retries: u32,
    pub(super) max_retransmits: u32,
    /// What we offer on our SYN or SYN-ACK.
    pub(super) offer: Offer,
    /// SACK agreed on the SYNs.
    pub(super) sack: bool,
    /// Timestamps: agreed or not, our clock, the peer's latest TSval.
    pub(super) ts: TsState,

    /// What we send.
    pub(super) snd: SendSide,
    /// What we receive.
    pub(super) rcv: RecvSide,
    /// Loss detection, recovery and congestion control.
    pub(super) rec: Recovery,
    /// Every timer's deadline.
    pub(super) timers: TimerTable,

    /// The app closed fully (not a half-close): data arriving now is reset.
    pub(super) app_closed: bool,
    pub(super) keepalive_sent: u32,

    // Pending output.
    pub(super) syn_pending: bool,
    pub(super) rst_pending: Option<TcpRepr>,
    pub(super) probe_pending: bool,
    /// The persist timer fired with an open but small window: send what fits (SWS override).
    pub(super) sws_override: bool,
    /// Most payload bytes one new-data segment may carry when the layer
    /// below cuts large segments (TSO/GSO); 0: one MSS.
    pub(super) large_max: u32,
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
        local: SocketAddr,
        remote: SocketAddr,
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
            keepalive: opts.keepalive.or(cfg.keepalive),
            delayed_ack: cfg.delayed_ack,
            time_wait: cfg.time_wait,
            fin_wait_2: cfg.fin_wait_2,
            syn_retries: cfg.syn_retries,
            synack_retries: cfg.synack_retries,
            max_retransmits: cfg.max_retransmits,
            offer: Offer {
                window_scale: cfg.window_scale.then(|| our_window_scale(opts.rx_fifo_size)),
                sack: cfg.sack,
                timestamps: cfg.timestamps,
            },
            sack: false,
            ts: TsState::new(iss.0, now),
            snd: SendSide::new(iss, neg.snd_mss, opts.nagle.unwrap_or(cfg.nagle)),
            rcv: RecvSide::new(opts.rx_fifo_size),
            rec: Recovery::new(RttEstimator::new(cfg.initial_rto, cfg.min_rto, cfg.max_rto), cc, iss),
            timers: TimerTable::default(),
            app_closed: false,
            keepalive_sent: 0,
            syn_pending: false,
            rst_pending: None,
            probe_pending: false,
            sws_override: false,
            large_max: 0,
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
    /// segments of it. The only place the agreement is applied, so that the
    /// controller and the segments it counts can never disagree on the MSS.
    pub(super) fn set_negotiated(&mut self, neg: Negotiated) {
        self.snd.mss = neg.snd_mss;
        self.snd.wscale = neg.snd_wscale.min(MAX_WINDOW_SCALE);
        self.rcv.wscale = neg.rcv_wscale.min(MAX_WINDOW_SCALE);
        self.sack = neg.sack;
        self.ts.enabled = neg.timestamps;
        let smss = u32::from(neg.snd_mss);
        let iw = self.initial_cwnd_segments.max(1).saturating_mul(smss);
        self.rec.restart_cc(smss, iw);
    }

    /// Active open: a connection in SYN-SENT with its SYN pending.
    pub fn connect(
        cfg: &TcpConfig,
        local: SocketAddr,
        remote: SocketAddr,
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
        local: SocketAddr,
        remote: SocketAddr,
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
        c.snd.take_syn_window(syn.seq_number, syn.window_len);
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
        local: SocketAddr,
        remote: SocketAddr,
        opts: ConnOptions,
        now: u64,
    ) -> Option<Self> {
        let info = cookies.validate(now, local, remote, ack)?;
        let mut c = Self::new(cfg, local, remote, info.iss, opts, State::Established, now);
        c.rcv.synchronize(SeqNumber(info.irs));
        let ws = cfg.window_scale && info.peer_window_scale.is_some();
        c.set_negotiated(Negotiated {
            snd_mss: send_mss(Some(info.mss), c.mss_cap),
            snd_wscale: if ws { info.peer_window_scale.unwrap_or(0) } else { 0 },
            rcv_wscale: if ws { our_window_scale(opts.rx_fifo_size) } else { 0 },
            sack: cfg.sack && info.sack,
            timestamps: cfg.timestamps && info.timestamps,
        });
        // The cookie is our ISN: the ACK acknowledges exactly our SYN-ACK.
        let wnd = c.snd.scale(ack.window_len);
        c.snd.synchronize(ack.seq_number, c.snd.iss + 1, wnd);
        if let Some(ts) = ack.timestamp.filter(|_| c.ts.enabled) {
            c.ts.take(ts.tsval, now);
        }
        c.counters.incr(Counter::CookiesValidated);
        c.on_established(now);
        Some(c)
    }

    /// Records the peer's SYN: its ISN and the options agreed.
    pub(super) fn take_peer_syn(&mut self, syn: &TcpRepr, now: u64) {
        self.rcv.synchronize(syn.seq_number);
        let ours = self.offer_repr();
        self.set_negotiated(Negotiated::from_syns(&ours, syn, self.mss_cap));
        if let Some(ts) = syn.timestamp.filter(|_| self.ts.enabled) {
            self.ts.take(ts.tsval, now);
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
        self.timers.cancel(Timer::Rto);
        self.rec.on_established();
        self.counters.incr(Counter::Established);
        self.push_event(Event::Established);
        self.arm_keepalive(now);
        if self.snd.fin_queued {
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
        self.rcv.see_free(rx);
        if !self.state.is_synchronized() || self.peer_fin_seen() {
            return;
        }
        if self.rcv.window_update_due(self.mss_cap) {
            self.rcv.ack_now();
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
            State::SynReceived => self.snd.fin_queued = true,
            State::Established => {
                self.snd.fin_queued = true;
                self.state = State::FinWait1;
            }
            State::CloseWait => {
                self.snd.fin_queued = true;
                self.state = State::LastAck;
            }
            State::FinWait2 if self.app_closed => {
                // A half-closed connection now closed fully: bound FIN-WAIT-2.
                self.timers.arm(Timer::Close, now, self.fin_wait_2);
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
        let mut r = self.base_repr(self.snd.nxt.max(self.snd.max));
        r.flags = wire::tcp::Flags::RST;
        r
    }

    /// Moves to CLOSED and tells the worker.
    pub(super) fn enter_closed(&mut self) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.timers.cancel_all();
        self.rcv.forget_ack();
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
        self.timers.next()
    }

    /// Handles every timer due at `now`, in [`Timer::ALL`]'s order.
    pub fn on_timeout(&mut self, now: u64) {
        for timer in Timer::ALL {
            if !self.timers.expire(timer, now) {
                continue;
            }
            match timer {
                Timer::Close => {
                    // TIME-WAIT expiry, or FIN-WAIT-2 with an app that is gone.
                    self.enter_closed();
                    return;
                }
                Timer::Rto => self.on_rto(now),
                Timer::Persist => self.on_persist(now),
                Timer::DelayedAck => self.rcv.ack_now(),
                Timer::Keepalive => self.on_keepalive(now),
            }
        }
    }

    fn on_rto(&mut self, now: u64) {
        self.rec.retries += 1;
        self.counters.incr(Counter::RtoTimeouts);
        self.totals.timeouts += 1;
        match self.state {
            State::SynSent | State::SynReceived => {
                let limit = if self.state == State::SynSent { self.syn_retries } else { self.synack_retries };
                if self.rec.retries > limit {
                    if self.state == State::SynSent {
                        self.push_event(Event::ConnectFailed(ConnectError::Timeout));
                    } else {
                        self.push_event(Event::TimedOut);
                    }
                    self.enter_closed();
                    return;
                }
                self.counters.incr(Counter::SynRetransmits);
                self.rec.on_syn_timeout();
                self.syn_pending = true;
            }
            State::Closed | State::TimeWait => {}
            _ => {
                if !self.snd.outstanding() {
                    return; // nothing outstanding (stale timer)
                }
                if self.rec.retries > self.max_retransmits {
                    self.counters.incr(Counter::TimedOut);
                    self.push_event(Event::TimedOut);
                    self.abort();
                    return;
                }
                // Go back N: resend from snd_una (skipping what the peer SACKed).
                self.rec.on_rto(now, &mut self.snd);
            }
        }
        self.timers.arm(Timer::Rto, now, self.rec.rtt.rto());
    }

    fn on_persist(&mut self, now: u64) {
        if !self.state.is_synchronized() {
            return;
        }
        if self.snd.wnd > 0 {
            // The window is open but too small for Nagle/SWS to send: override once.
            self.sws_override = true;
            self.rec.persist_backoff = 0;
            return;
        }
        self.probe_pending = true;
        self.counters.incr(Counter::ZeroWindowProbes);
        self.rec.back_off_persist();
        self.timers.arm(Timer::Persist, now, self.rec.persist_interval());
    }

    fn on_keepalive(&mut self, now: u64) {
        let Some(ka) = self.keepalive else { return };
        if !matches!(self.state, State::Established | State::CloseWait) {
            return;
        }
        if self.snd.outstanding() {
            // Data in flight: the retransmission timer watches the peer.
            self.timers.arm(Timer::Keepalive, now, ka.idle);
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
        self.timers.arm(Timer::Keepalive, now, ka.interval);
    }

    /// Restarts the keepalive idle timer (on every segment received).
    pub(super) fn arm_keepalive(&mut self, now: u64) {
        if let Some(ka) = self.keepalive {
            if matches!(self.state, State::Established | State::CloseWait) {
                self.timers.arm(Timer::Keepalive, now, ka.idle);
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
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// The peer's address and port.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// The options agreed on the SYNs.
    pub fn negotiated(&self) -> Negotiated {
        Negotiated {
            snd_mss: self.snd.mss,
            snd_wscale: self.snd.wscale,
            rcv_wscale: self.rcv.wscale,
            sack: self.sack,
            timestamps: self.ts.enabled,
        }
    }

    /// The payload size to reserve per segment: the send MSS (payloads
    /// are never larger; options come out of it).
    pub fn mss(&self) -> usize {
        usize::from(self.snd.mss)
    }

    /// Let new data go in segments of up to `max` payload bytes (whole
    /// MSS multiples; the layer below cuts them, TSO or GSO), until set
    /// again; 0 (the default) keeps one MSS per segment. Retransmissions
    /// stay one MSS.
    #[inline]
    pub fn set_large_max(&mut self, max: u32) {
        self.large_max = max;
    }

    /// Payload bytes of one full segment with the options this connection
    /// sends (what a large segment is cut into).
    pub fn seg_payload(&self) -> u32 {
        self.payload_room(usize::MAX)
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
        let (snd, rcv, rec) = (&self.snd, &self.rcv, &self.rec);
        ConnStats {
            state: self.state,
            snd_una: snd.una.0,
            snd_nxt: snd.nxt.0,
            snd_max: snd.max.0,
            snd_wnd: snd.wnd,
            rcv_nxt: rcv.nxt.0,
            rcv_wnd: rcv.advertised(),
            mss: snd.mss,
            wscale: (snd.wscale, rcv.wscale),
            sack: self.sack,
            timestamps: self.ts.enabled,
            srtt_us: rec.rtt.srtt() / 1000,
            rttvar_us: rec.rtt.rttvar() / 1000,
            rto_us: rec.rtt.rto() / 1000,
            cc: rec.cc.algorithm(),
            cwnd: rec.cc.cwnd(),
            ssthresh: rec.cc.ssthresh(),
            flight: rec.flight(snd, self.sack),
            in_recovery: rec.in_recovery(),
            retransmits: self.totals.retransmits,
            timeouts: self.totals.timeouts,
            dupacks: self.totals.dupacks,
            sack_blocks: rec.scoreboard.len(),
            sacked_bytes: rec.scoreboard.sacked_bytes(),
            rx_ooo_runs: rcv.ooo_runs,
            segs_out: self.totals.segs_out,
            segs_in: self.totals.segs_in,
        }
    }

    /// The congestion window (for tests and the CLI).
    pub fn cwnd(&self) -> u32 {
        self.rec.cc.cwnd()
    }

    /// The current retransmission timeout (ns).
    pub fn rto(&self) -> u64 {
        self.rec.rtt.rto()
    }

    /// The smoothed RTT (ns).
    pub fn srtt(&self) -> u64 {
        self.rec.rtt.srtt()
    }
}
