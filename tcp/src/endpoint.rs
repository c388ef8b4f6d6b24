//! The sans-IO TCP endpoint: what a worker does with a segment before (or
//! instead of) a connection's [`input`](crate::Connection::input). The
//! caller looks the segment's 4-tuple up in its connection table and, when
//! no connection matches, its local address up in its listener table, and
//! hands both answers over ([`Demux`]); the endpoint applies the policy and
//! returns an [`Action`]: deliver to a connection (giving a passive open its
//! session first when this segment completes the handshake), open a
//! half-open connection, answer with a cookie SYN-ACK, rebuild a connection
//! from a cookie, reset, or drop. It counts what it decides.
//!
//! Policy, in one place:
//! - No connection, no listener: RST (RFC 9293 §3.10.7.1), never answering
//!   a RST ([`reset_for`]).
//! - A listener ([`listen_action`], RFC 9293 §3.10.7.2): a RST, a segment
//!   with neither SYN nor ACK, or SYN with FIN is dropped; an ACK is a
//!   cookie handshake's last ACK if cookies may have been sent and the
//!   cookie is good, else it is reset; a SYN goes to the listener's
//!   [`ListenBacklog`]: a half-open connection while there is room, then a
//!   SYN cookie ([`SynCookieMode::WhenFull`], Linux's default), or a drop
//!   (`Never`); `Always` answers every SYN with a cookie.
//! - A half-open passive connection gets its session (and fifos) only for
//!   the segment that completes its handshake
//!   ([`Connection::completes_handshake`]), so a SYN flood costs no fifo memory.
//!
//! The endpoint owns what the policy needs and nothing else: the ISN
//! generator and the cookie jar (keyed by the node's secret, the same on
//! every worker), one backlog per listener, and its counters.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use wire::tcp::Repr as TcpRepr;

use crate::backlog::{ListenBacklog, SynCookieMode, SynDecision};
use crate::config::{mss_cap, ConnOptions, TcpConfig};
use crate::connection::Connection;
use crate::isn::IsnGenerator;
use crate::listen::{listen_action, ListenAction};
use crate::rst::reset_for;
use crate::stats::{Counter, Counters};
use crate::syncookie::{CookieOptions, SynCookies};

counters::counters! {
    /// What TCP input counts on a worker before a segment reaches a
    /// connection (`show errors`; the connections' own are [`Counter`]s).
    pub enum InputCounter {
        Malformed => ("tcp malformed", true),
        BadChecksum => ("tcp bad checksum", true),
        NoListener => ("tcp no listener (reset)", true),
        SynDropped => ("tcp syn dropped (backlog full, cookies off)", true),
    }
}

/// One worker's [`InputCounter`]s, shared with whoever shows them.
pub type InputCounters = counters::AtomicCounters<InputCounter, { InputCounter::COUNT }>;

/// What the caller's tables hold for a segment.
#[derive(Debug, Clone, Copy)]
pub enum Demux<'a> {
    /// Connection `index` has the segment's 4-tuple.
    Connection {
        /// The caller's index of the connection.
        index: u32,
        /// The connection.
        conn: &'a Connection,
        /// For a passive open still without its session: the listener that accepted it.
        awaiting_session: Option<u32>,
    },
    /// No connection; listener `id` has the local address.
    Listener {
        /// The caller's id of the listener.
        id: u32,
        /// What a connection of this listener gets (its app's rx fifo size, MSS cap, ...).
        opts: ConnOptions,
    },
    /// Neither.
    Nothing,
}

/// What to do with a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Give it to connection `conn`.
    Deliver {
        /// The connection's index.
        conn: u32,
    },
    /// It completes passive open `conn`'s handshake: give the connection a
    /// session of `listener`'s app first (drop the segment if there is
    /// none; the peer retransmits), then deliver it.
    SessionThenDeliver {
        /// The connection's index.
        conn: u32,
        /// Its listener.
        listener: u32,
    },
    /// A SYN with room in the backlog: make a half-open connection
    /// ([`Connection::accept`]) with ISN `iss`. Its backlog slot is taken:
    /// call [`Endpoint::half_open_done`] when it leaves SYN-RECEIVED (or is not made).
    Accept {
        /// The listener.
        listener: u32,
        /// Our ISN (RFC 6528).
        iss: u32,
        /// The connection's options.
        opts: ConnOptions,
    },
    /// Send this SYN-ACK carrying a cookie; nothing is kept.
    SendCookie(TcpRepr),
    /// A good cookie ACK: make a session of `listener`'s app, then
    /// [`Endpoint::connection_from_cookie`] and deliver the segment to it.
    CookieAccept {
        /// The listener.
        listener: u32,
        /// The connection's options.
        opts: ConnOptions,
    },
    /// Send this RST.
    Reset(TcpRepr),
    /// Drop it (counted).
    Drop(DropReason),
}

/// Why a segment was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// A RST matching nothing: a reset is never answered.
    UnansweredReset,
    /// A listener drops a segment with neither SYN nor ACK, SYN with FIN, or a RST.
    ListenerIgnored,
    /// A SYN with the backlog full and cookies off.
    BacklogFull,
}

impl DropReason {
    /// What a packet capture says about the dropped segment (the counter's
    /// name where one counts it).
    pub const fn name(self) -> &'static str {
        match self {
            DropReason::UnansweredReset => "tcp reset matching nothing (not answered)",
            DropReason::ListenerIgnored => crate::stats::Counter::ListenerDropped.name(),
            DropReason::BacklogFull => InputCounter::SynDropped.name(),
        }
    }
}

/// A worker's TCP endpoint (see the module documentation).
#[derive(Debug)]
pub struct Endpoint {
    cfg: TcpConfig,
    max_half_open: u32,
    mode: SynCookieMode,
    isn: IsnGenerator,
    cookies: SynCookies,
    backlogs: HashMap<u32, ListenBacklog>,
    counters: Counters,
    input: Arc<InputCounters>,
}

impl Endpoint {
    /// An endpoint making connections with `cfg`, `max_half_open`
    /// half-open connections per listener before `mode` applies, keyed by
    /// `secret`, counting into `input`.
    pub fn new(
        cfg: TcpConfig,
        max_half_open: u32,
        mode: SynCookieMode,
        secret: [u8; 16],
        input: Arc<InputCounters>,
    ) -> Self {
        Endpoint {
            cfg,
            max_half_open,
            mode,
            isn: IsnGenerator::new(secret),
            cookies: SynCookies::new(secret),
            backlogs: HashMap::new(),
            counters: Counters::default(),
            input,
        }
    }

    /// The connections' settings.
    pub fn config(&self) -> &TcpConfig {
        &self.cfg
    }

    /// The input counters.
    pub fn input_counters(&self) -> &Arc<InputCounters> {
        &self.input
    }

    /// Counts one [`InputCounter`] (e.g. the caller's parse failures).
    pub fn count_input(&self, c: InputCounter) {
        self.input.inc(c);
    }

    /// An ISN (RFC 6528) for a new connection, e.g. an active open.
    pub fn iss(&self, now: u64, local: SocketAddr, remote: SocketAddr) -> u32 {
        self.isn.generate(local, remote, now)
    }

    /// Adds the endpoint's counter increments since the last call into `into`.
    pub fn flush_counters(&mut self, into: &mut Counters) {
        into.drain_from(&mut self.counters);
    }

    /// What to do with `seg`, from `remote` to `local` with `payload_len`
    /// bytes of data, given what the caller's tables hold for it.
    pub fn input(
        &mut self,
        now: u64,
        seg: &TcpRepr,
        local: SocketAddr,
        remote: SocketAddr,
        payload_len: usize,
        to: Demux<'_>,
    ) -> Action {
        match to {
            Demux::Connection { index, conn, awaiting_session: Some(listener) }
                if conn.completes_handshake(now, seg, payload_len) =>
            {
                Action::SessionThenDeliver { conn: index, listener }
            }
            Demux::Connection { index, .. } => Action::Deliver { conn: index },
            Demux::Listener { id, opts } => self.listener_input(now, seg, local, remote, id, opts),
            Demux::Nothing => {
                self.input.inc(InputCounter::NoListener);
                self.reset(seg)
            }
        }
    }

    fn listener_input(
        &mut self,
        now: u64,
        seg: &TcpRepr,
        local: SocketAddr,
        remote: SocketAddr,
        listener: u32,
        opts: ConnOptions,
    ) -> Action {
        match listen_action(seg.flags) {
            ListenAction::Syn => match self.backlog(listener).on_syn() {
                SynDecision::Accept => Action::Accept { listener, iss: self.isn.generate(local, remote, now), opts },
                SynDecision::Cookie => {
                    let t = &self.cfg;
                    let enable = CookieOptions { timestamps: t.timestamps, window_scale: t.window_scale, sack: t.sack };
                    let our_mss = mss_cap(t, &opts);
                    let repr = self.cookies.syn_ack(now, local, remote, seg, opts.rx_fifo_size, our_mss, enable);
                    self.counters.incr(Counter::CookiesSent);
                    Action::SendCookie(repr)
                }
                SynDecision::Drop => {
                    self.input.inc(InputCounter::SynDropped);
                    Action::Drop(DropReason::BacklogFull)
                }
            },
            ListenAction::Ack
                if self.cookies_possible(listener) && self.cookies.validate(now, local, remote, seg).is_some() =>
            {
                Action::CookieAccept { listener, opts }
            }
            ListenAction::Ack => {
                self.counters.incr(Counter::ListenerAckReset);
                self.reset(seg)
            }
            ListenAction::Drop => {
                self.counters.incr(Counter::ListenerDropped);
                Action::Drop(DropReason::ListenerIgnored)
            }
        }
    }

    /// The RST answering `seg` (RFC 9293 §3.10.7.1), or a drop if `seg` is a RST.
    fn reset(&mut self, seg: &TcpRepr) -> Action {
        match reset_for(seg) {
            Some(rst) => {
                self.counters.incr(Counter::ResetsSent);
                Action::Reset(rst)
            }
            None => Action::Drop(DropReason::UnansweredReset),
        }
    }

    fn backlog(&mut self, listener: u32) -> &mut ListenBacklog {
        let (max, mode) = (self.max_half_open, self.mode);
        self.backlogs.entry(listener).or_insert_with(|| ListenBacklog::new(max, mode))
    }

    /// Whether an unmatched ACK could be a cookie answer for `listener`.
    fn cookies_possible(&self, listener: u32) -> bool {
        self.mode != SynCookieMode::Never && self.backlogs.get(&listener).is_none_or(|b| b.cookies_possible())
    }

    /// A half-open connection of `listener` left SYN-RECEIVED (established,
    /// reset, timed out) or was never made: its backlog slot is free again.
    pub fn half_open_done(&mut self, listener: u32) {
        if let Some(b) = self.backlogs.get_mut(&listener) {
            b.on_half_open_done();
        }
    }

    /// The connection a good cookie ACK `ack` stands for
    /// ([`Connection::from_cookie`]); `None` (counted) if the cookie fails.
    pub fn connection_from_cookie(
        &mut self,
        now: u64,
        ack: &TcpRepr,
        local: SocketAddr,
        remote: SocketAddr,
        opts: ConnOptions,
    ) -> Option<Connection> {
        let c = Connection::from_cookie(&self.cfg, &self.cookies, ack, local, remote, opts, now);
        if c.is_none() {
            self.counters.incr(Counter::CookiesFailed);
        }
        c
    }

    /// Half-open connections of `listener` now.
    pub fn half_open(&self, listener: u32) -> u32 {
        self.backlogs.get(&listener).map_or(0, |b| b.half_open())
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::connection::State;
    use wire::tcp::{Flags, SeqNumber};

    const SECRET: [u8; 16] = *b"endpoint-secret!";
    const T: u64 = 5_000_000_000;

    fn local() -> SocketAddr {
        "198.18.0.2:80".parse().unwrap()
    }

    fn remote() -> SocketAddr {
        "198.18.0.1:40000".parse().unwrap()
    }

    fn endpoint(max_half_open: u32, mode: SynCookieMode) -> Endpoint {
        Endpoint::new(TcpConfig::default(), max_half_open, mode, SECRET, Arc::default())
    }

    fn seg(flags: Flags) -> TcpRepr {
        TcpRepr {
            src_port: remote().port(),
            dst_port: local().port(),
            seq_number: SeqNumber(1000),
            ack_number: SeqNumber(7000),
            flags,
            window_len: 65535,
            max_seg_size: flags.syn().then_some(1460),
            ..TcpRepr::default()
        }
    }

    fn opts() -> ConnOptions {
        ConnOptions::new(65536)
    }

    fn input(e: &mut Endpoint, s: &TcpRepr, to: Demux<'_>) -> Action {
        e.input(T, s, local(), remote(), s.payload_len, to)
    }

    fn listener() -> Demux<'static> {
        Demux::Listener { id: 3, opts: opts() }
    }

    fn counted(e: &mut Endpoint, c: Counter) -> u64 {
        let mut all = Counters::default();
        e.flush_counters(&mut all);
        all.get(c)
    }

    #[test]
    fn closed_port_resets_per_rfc_9293() {
        let mut e = endpoint(4, SynCookieMode::WhenFull);
        // A SYN (no ACK): <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
        let Action::Reset(r) = input(&mut e, &seg(Flags::SYN), Demux::Nothing) else { panic!() };
        assert_eq!((r.flags, r.seq_number, r.ack_number), (Flags::RST | Flags::ACK, SeqNumber(0), SeqNumber(1001)));
        assert_eq!((r.src_port, r.dst_port), (80, 40000));
        // An ACK: <SEQ=SEG.ACK><CTL=RST>.
        let Action::Reset(r) = input(&mut e, &seg(Flags::ACK), Demux::Nothing) else { panic!() };
        assert_eq!((r.flags, r.seq_number), (Flags::RST, SeqNumber(7000)));
        // A RST is never answered.
        assert_eq!(input(&mut e, &seg(Flags::RST), Demux::Nothing), Action::Drop(DropReason::UnansweredReset));
        assert_eq!(e.input_counters().get(InputCounter::NoListener), 3);
        assert_eq!(counted(&mut e, Counter::ResetsSent), 2);
    }

    #[test]
    fn listener_full_switches_to_cookies() {
        let mut e = endpoint(2, SynCookieMode::WhenFull);
        let syn = seg(Flags::SYN);
        for _ in 0..2 {
            let Action::Accept { listener, iss, opts: o } = input(&mut e, &syn, listener()) else { panic!() };
            assert_eq!((listener, o), (3, opts()));
            assert_eq!(iss, IsnGenerator::new(SECRET).generate(local(), remote(), T));
        }
        assert_eq!(e.half_open(3), 2);
        let Action::SendCookie(sa) = input(&mut e, &syn, listener()) else { panic!() };
        assert_eq!(sa.flags, Flags::SYN | Flags::ACK);
        assert_eq!(sa.ack_number, SeqNumber(1001));
        assert_eq!(counted(&mut e, Counter::CookiesSent), 1);
        // A slot frees up: half-open connections again.
        e.half_open_done(3);
        assert!(matches!(input(&mut e, &syn, listener()), Action::Accept { .. }));
        // Backlogs are per listener.
        assert!(matches!(input(&mut e, &syn, Demux::Listener { id: 4, opts: opts() }), Action::Accept { .. }));
    }

    #[test]
    fn cookies_off_drop_and_always_on_never_keep_state() {
        let mut e = endpoint(1, SynCookieMode::Never);
        let syn = seg(Flags::SYN);
        assert!(matches!(input(&mut e, &syn, listener()), Action::Accept { .. }));
        assert_eq!(input(&mut e, &syn, listener()), Action::Drop(DropReason::BacklogFull));
        assert_eq!(e.input_counters().get(InputCounter::SynDropped), 1);
        let mut e = endpoint(1, SynCookieMode::Always);
        assert!(matches!(input(&mut e, &syn, listener()), Action::SendCookie(_)));
        assert_eq!(e.half_open(3), 0);
    }

    /// The ACK that answers a cookie SYN-ACK.
    fn cookie_ack(sa: &TcpRepr) -> TcpRepr {
        TcpRepr {
            seq_number: sa.ack_number,
            ack_number: sa.seq_number + 1,
            flags: Flags::ACK,
            window_len: 1000,
            timestamp: sa.timestamp.map(|t| wire::tcp::Timestamp { tsval: 77, tsecr: t.tsval }),
            ..seg(Flags::ACK)
        }
    }

    #[test]
    fn good_cookie_accepts_and_rebuilds_the_connection() {
        let mut e = endpoint(0, SynCookieMode::WhenFull);
        let Action::SendCookie(sa) = input(&mut e, &seg(Flags::SYN), listener()) else { panic!() };
        let ack = cookie_ack(&sa);
        assert_eq!(input(&mut e, &ack, listener()), Action::CookieAccept { listener: 3, opts: opts() });
        let c = e.connection_from_cookie(T, &ack, local(), remote(), opts()).expect("good cookie");
        assert_eq!(c.state(), State::Established);
        assert_eq!(c.negotiated().snd_mss, 1460);
    }

    #[test]
    fn bad_cookie_is_reset_and_fails_to_rebuild() {
        let mut e = endpoint(0, SynCookieMode::WhenFull);
        let Action::SendCookie(sa) = input(&mut e, &seg(Flags::SYN), listener()) else { panic!() };
        let mut ack = cookie_ack(&sa);
        ack.ack_number += 1; // not our cookie
        let Action::Reset(r) = input(&mut e, &ack, listener()) else { panic!() };
        assert_eq!((r.flags, r.seq_number), (Flags::RST, ack.ack_number));
        assert_eq!(counted(&mut e, Counter::ListenerAckReset), 1);
        assert!(e.connection_from_cookie(T, &ack, local(), remote(), opts()).is_none());
        assert_eq!(counted(&mut e, Counter::CookiesFailed), 1);
        // A stale cookie: two minutes later it no longer validates.
        let good = cookie_ack(&sa);
        assert!(matches!(e.input(T + 300_000_000_000, &good, local(), remote(), 0, listener()), Action::Reset(_)));
    }

    #[test]
    fn without_cookies_every_unmatched_ack_is_reset() {
        let mut on = endpoint(0, SynCookieMode::Always);
        let Action::SendCookie(sa) = input(&mut on, &seg(Flags::SYN), listener()) else { panic!() };
        let ack = cookie_ack(&sa);
        // Even a cookie that would be good: a listener that never sends cookies does not check them.
        let mut off = endpoint(0, SynCookieMode::Never);
        assert!(matches!(input(&mut off, &ack, listener()), Action::Reset(_)));
    }

    #[test]
    fn listener_ignores_what_is_neither_syn_nor_ack() {
        let mut e = endpoint(4, SynCookieMode::WhenFull);
        for flags in [Flags::NONE, Flags::FIN, Flags::SYN | Flags::FIN, Flags::RST, Flags::RST | Flags::ACK] {
            assert_eq!(input(&mut e, &seg(flags), listener()), Action::Drop(DropReason::ListenerIgnored), "{flags:?}");
        }
        assert_eq!(counted(&mut e, Counter::ListenerDropped), 5);
        assert_eq!(e.half_open(3), 0);
    }

    #[test]
    fn half_open_connection_gets_its_session_only_for_the_completing_ack() {
        let mut e = endpoint(4, SynCookieMode::WhenFull);
        let syn = seg(Flags::SYN);
        let Action::Accept { iss, .. } = input(&mut e, &syn, listener()) else { panic!() };
        let mut conn = Connection::accept(e.config(), &syn, local(), remote(), iss, opts(), T);
        let tx = shm::fifo::HeapFifo::new(4096).unwrap();
        let sa = conn.poll_transmit(T, &tx.consumer(), &mut [0; 1500]).expect("the SYN-ACK");
        assert_eq!(sa.repr.flags, Flags::SYN | Flags::ACK);
        let to = Demux::Connection { index: 9, conn: &conn, awaiting_session: Some(3) };
        let ack = TcpRepr { seq_number: SeqNumber(1001), ack_number: SeqNumber(iss) + 1, ..seg(Flags::ACK) };
        assert_eq!(input(&mut e, &ack, to), Action::SessionThenDeliver { conn: 9, listener: 3 });
        // A retransmitted SYN, a RST, an ACK of something else: delivered without a session.
        assert_eq!(input(&mut e, &syn, to), Action::Deliver { conn: 9 });
        assert_eq!(input(&mut e, &seg(Flags::RST), to), Action::Deliver { conn: 9 });
        let wrong = TcpRepr { ack_number: ack.ack_number + 5, ..ack };
        assert_eq!(input(&mut e, &wrong, to), Action::Deliver { conn: 9 });
        // A connection with its session: always delivered.
        let to = Demux::Connection { index: 9, conn: &conn, awaiting_session: None };
        assert_eq!(input(&mut e, &ack, to), Action::Deliver { conn: 9 });
    }
}
