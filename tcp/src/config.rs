//! Configuration: node-wide TCP settings ([`TcpConfig`], from the config
//! file) and per-connection choices ([`ConnOptions`], from the app's
//! connect or listen call). Defaults follow Linux where it has one.

use shm::types::Cc;

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;

/// The smallest MSS a listener, a connect or the config may ask for (as
/// Linux's `TCP_MAXSEG`: 88). Option validation (`shm::limits::MSS`, the
/// one range the config, CLI and API check) refuses values outside
/// [`MSS_MIN`]`..=`[`MSS_MAX`]; the core clamps whatever gets through.
pub const MSS_MIN: u16 = shm::limits::MSS.min as u16;
/// The largest MSS a listener, a connect or the config may ask for (a 9000-byte jumbo frame's).
pub const MSS_MAX: u16 = shm::limits::MSS.max as u16;

/// The MSS we advertise and the cap on the one we send: the config's
/// (the interface MTU's), lowered by the connection's option, within
/// [`MSS_MIN`]`..=`[`MSS_MAX`] whatever the values.
pub fn mss_cap(cfg: &TcpConfig, opts: &ConnOptions) -> u16 {
    opts.mss.map_or(cfg.mss, |m| m.min(cfg.mss)).clamp(MSS_MIN, MSS_MAX)
}

/// Keepalive timing (RFC 9293 §3.8.4; Linux's tcp_keepalive_* defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe (ns).
    pub idle: u64,
    /// Time between unanswered probes (ns).
    pub interval: u64,
    /// Unanswered probes before the connection is dropped.
    pub probes: u32,
}

impl Default for Keepalive {
    fn default() -> Self {
        Keepalive { idle: 7200 * SEC, interval: 75 * SEC, probes: 9 }
    }
}

/// Node-wide TCP settings. Times are in nanoseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpConfig {
    /// MSS we advertise and the cap on the MSS we send (interface MTU - 40).
    pub mss: u16,
    /// RTO before any RTT sample (RFC 6298: 1 s).
    pub initial_rto: u64,
    /// Lower bound of the RTO (Linux: 200 ms).
    pub min_rto: u64,
    /// Upper bound of the RTO, back-off included (Linux: 120 s).
    pub max_rto: u64,
    /// Delayed ACK timeout (Linux: 40 ms).
    pub delayed_ack: u64,
    /// Nagle's algorithm on by default.
    pub nagle: bool,
    /// Keepalive, off unless enabled (by config or per connection).
    pub keepalive: Option<Keepalive>,
    /// TIME-WAIT duration, 2 * MSL (Linux: 60 s).
    pub time_wait: u64,
    /// How long a fully closed connection may sit in FIN-WAIT-2 (Linux: 60 s).
    pub fin_wait_2: u64,
    /// SYN retransmissions before an active open fails (Linux: 6).
    pub syn_retries: u32,
    /// SYN-ACK retransmissions before a half-open connection is dropped (Linux: 5).
    pub synack_retries: u32,
    /// Consecutive data retransmission timeouts before the connection is dropped (Linux: 15).
    pub max_retransmits: u32,
    /// Congestion control unless a connection chooses.
    pub cc: Cc,
    /// Offer and accept SACK.
    pub sack: bool,
    /// Offer and accept window scaling.
    pub window_scale: bool,
    /// Offer and accept timestamps.
    pub timestamps: bool,
    /// Initial window in segments (RFC 6928: 10).
    pub initial_cwnd_segments: u32,
    /// Challenge ACKs per connection per second (RFC 5961 §7).
    pub challenge_ack_limit: u32,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            mss: 1460,
            initial_rto: SEC,
            min_rto: 200 * MS,
            max_rto: 120 * SEC,
            delayed_ack: 40 * MS,
            nagle: true,
            keepalive: None,
            time_wait: 60 * SEC,
            fin_wait_2: 60 * SEC,
            syn_retries: 6,
            synack_retries: 5,
            max_retransmits: 15,
            cc: Cc::Cubic,
            sack: true,
            window_scale: true,
            timestamps: true,
            initial_cwnd_segments: 10,
            challenge_ack_limit: 10,
        }
    }
}

/// Per-connection choices, from the app's connect or its listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnOptions {
    /// Size of the rx fifo the connection gets: the most we can advertise,
    /// and what our window scale is chosen for.
    pub rx_fifo_size: u32,
    /// Cap on the MSS (below the config's; see [`mss_cap`]).
    pub mss: Option<u16>,
    /// Congestion control instead of the config's (`Cc::Default`: the config's).
    pub cc: Cc,
    /// Nagle on or off instead of the config's.
    pub nagle: Option<bool>,
    /// Keepalive instead of the config's.
    pub keepalive: Option<Keepalive>,
}

impl ConnOptions {
    /// Options for an rx fifo of `rx_fifo_size` bytes, everything else from the config.
    pub fn new(rx_fifo_size: u32) -> Self {
        ConnOptions { rx_fifo_size, mss: None, cc: Cc::Default, nagle: None, keepalive: None }
    }
}
