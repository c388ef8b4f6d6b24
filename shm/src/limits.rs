//! The accepted values of every option, in one place.
//!
//! Options reach the node four ways: the config file (`[[app]]`, `[tcp]`,
//! `[dpdk]`, ...), CLI words (`test echo client ... mss 1400`, `ping ...
//! count 5`), the API socket (attach options) and the message queues
//! (connect transport options); the client library and the external echo
//! apps take the same ones from their callers. Each numeric option has one
//! [`Limit`] (or [`FloatLimit`]) here, and every entry point checks a value
//! with it, so `mss 0` is refused with the same words, naming the option and
//! its range, wherever it comes from. On/off words go through
//! [`parse_switch`] for the same reason.
//!
//! A limit's `key` is the option's config name (`fifo_size`, `mss`); an
//! entry point that calls it something else (`fifo-size` on the CLI,
//! `rx_fifo_size` in an attach request) checks with [`Limit::check_as`] or
//! puts its own word in front of [`OptionError::reason`].
//!
//! Combinations (a fifo larger than its segment, preallocated pairs that do
//! not fit, a proxy without global scope) are checked by the types that hold
//! them (`session::application::AppOptions::validate`); this module knows
//! each value on its own.

use std::fmt;

/// What a limit counts, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A plain count.
    Count,
    /// Bytes; text may use `k`, `m`, `g` suffixes (powers of 1024).
    Bytes,
    /// MiB.
    Mib,
    /// Seconds.
    Seconds,
    /// Milliseconds.
    Millis,
    /// Microseconds.
    Micros,
    /// Percent.
    Percent,
}

impl Unit {
    fn suffix(self) -> &'static str {
        match self {
            Unit::Count => "",
            Unit::Bytes => " bytes",
            Unit::Mib => " MiB",
            Unit::Seconds => " s",
            Unit::Millis => " ms",
            Unit::Micros => " us",
            Unit::Percent => " %",
        }
    }
}

/// A value refused: the option's key and why, with the accepted range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionError {
    /// The option, by the name the check used.
    pub key: &'static str,
    /// Why, e.g. `0 is outside 88..=9000`.
    pub reason: String,
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

impl std::error::Error for OptionError {}

/// The accepted range of an integer option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The option's config name.
    pub key: &'static str,
    /// Smallest accepted value.
    pub min: u64,
    /// Largest accepted value.
    pub max: u64,
    /// What it counts.
    pub unit: Unit,
    /// Only powers of two are accepted.
    pub power_of_two: bool,
}

/// `64k`, `1m`, `2g` when `v` is a whole number of those, else the number.
fn size_text(v: u64) -> String {
    for (shift, s) in [(30, "g"), (20, "m"), (10, "k")] {
        if v >= 1 << shift && v.is_multiple_of(1 << shift) {
            return format!("{}{s}", v >> shift);
        }
    }
    v.to_string()
}

/// Parses `64k`, `1m`, `2g` (powers of 1024) or a plain number.
pub fn parse_size(s: &str) -> Option<u64> {
    let (num, mul) = match s.char_indices().last()? {
        (i, 'k' | 'K') => (&s[..i], 1u64 << 10),
        (i, 'm' | 'M') => (&s[..i], 1 << 20),
        (i, 'g' | 'G') => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mul)
}

impl Limit {
    /// `min..=max` of `unit`.
    pub const fn new(key: &'static str, min: u64, max: u64, unit: Unit) -> Limit {
        Limit { key, min, max, unit, power_of_two: false }
    }

    /// The same limit, accepting only powers of two.
    pub const fn pow2(self) -> Limit {
        Limit { power_of_two: true, ..self }
    }

    /// Whether `v` is accepted.
    pub fn contains(&self, v: u64) -> bool {
        (self.min..=self.max).contains(&v) && (!self.power_of_two || v.is_power_of_two())
    }

    /// The range as text: `88..=9000`, `4k..=64m bytes` (sizes), with "powers of two" when so.
    pub fn range(&self) -> String {
        let (lo, hi) = if self.unit == Unit::Bytes {
            (size_text(self.min), size_text(self.max))
        } else {
            (self.min.to_string(), self.max.to_string())
        };
        let unit = if self.unit == Unit::Bytes { "" } else { self.unit.suffix() };
        let p2 = if self.power_of_two { ", a power of two" } else { "" };
        format!("{lo}..={hi}{unit}{p2}")
    }

    /// Checks `v`, reporting under the limit's own key.
    pub fn check(&self, v: u64) -> Result<u64, OptionError> {
        self.check_as(self.key, v)
    }

    /// Checks `v`, reporting under `key` (the name the caller's user knows the option by).
    pub fn check_as(&self, key: &'static str, v: u64) -> Result<u64, OptionError> {
        if self.contains(v) {
            return Ok(v);
        }
        let shown = if self.unit == Unit::Bytes && v.is_power_of_two() { size_text(v) } else { v.to_string() };
        let reason = if (self.min..=self.max).contains(&v) {
            format!("{shown} is not a power of two (accepted: {})", self.range())
        } else {
            format!("{shown} is outside {}", self.range())
        };
        Err(OptionError { key, reason })
    }

    /// Checks `v` and narrows it to `T` (every limit's range fits the type its callers use).
    pub fn check_into<T: TryFrom<u64>>(&self, key: &'static str, v: u64) -> Result<T, OptionError> {
        let v = self.check_as(key, v)?;
        T::try_from(v).map_err(|_| OptionError { key, reason: format!("{v} is too large") })
    }

    /// Parses text (a number; a size such as `64k` for byte limits) and checks it.
    pub fn parse(&self, key: &'static str, text: &str) -> Result<u64, OptionError> {
        let v = if self.unit == Unit::Bytes { parse_size(text) } else { text.parse::<u64>().ok() };
        match v {
            Some(v) => self.check_as(key, v),
            None => {
                let what = if self.unit == Unit::Bytes { "a size (e.g. 4096, 64k, 1m)" } else { "a whole number" };
                Err(OptionError { key, reason: format!("{text:?} is not {what} in {}", self.range()) })
            }
        }
    }

    /// Parses, checks and narrows to `T`.
    pub fn parse_into<T: TryFrom<u64>>(&self, key: &'static str, text: &str) -> Result<T, OptionError> {
        let v = self.parse(key, text)?;
        self.check_into(key, v)
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.key, self.range())
    }
}

/// The accepted range of a fractional option (seconds, percentages).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloatLimit {
    /// The option's config name.
    pub key: &'static str,
    /// Smallest accepted value.
    pub min: f64,
    /// Largest accepted value.
    pub max: f64,
    /// What it measures.
    pub unit: Unit,
}

impl FloatLimit {
    /// `min..=max` of `unit`.
    pub const fn new(key: &'static str, min: f64, max: f64, unit: Unit) -> FloatLimit {
        FloatLimit { key, min, max, unit }
    }

    /// The range as text.
    pub fn range(&self) -> String {
        format!("{}..={}{}", self.min, self.max, self.unit.suffix())
    }

    /// Checks `v` (NaN and infinities are never accepted), reporting under `key`.
    pub fn check_as(&self, key: &'static str, v: f64) -> Result<f64, OptionError> {
        if v.is_finite() && (self.min..=self.max).contains(&v) {
            Ok(v)
        } else {
            Err(OptionError { key, reason: format!("{v} is outside {}", self.range()) })
        }
    }

    /// Checks `v` under the limit's own key.
    pub fn check(&self, v: f64) -> Result<f64, OptionError> {
        self.check_as(self.key, v)
    }

    /// Parses a decimal number and checks it.
    pub fn parse(&self, key: &'static str, text: &str) -> Result<f64, OptionError> {
        match text.parse::<f64>() {
            Ok(v) => self.check_as(key, v),
            Err(_) => Err(OptionError { key, reason: format!("{text:?} is not a number in {}", self.range()) }),
        }
    }

    /// Parses seconds into a duration.
    pub fn parse_secs(&self, key: &'static str, text: &str) -> Result<std::time::Duration, OptionError> {
        debug_assert_eq!(self.unit, Unit::Seconds);
        Ok(std::time::Duration::from_secs_f64(self.parse(key, text)?))
    }
}

impl fmt::Display for FloatLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.key, self.range())
    }
}

/// Words accepted for an on/off option.
pub const SWITCH_WORDS: &str = "on, off, yes, no, true, false, 1, 0";

/// Parses an on/off word (`on`/`off`, `yes`/`no`, `true`/`false`, `1`/`0`); anything else is refused.
pub fn parse_switch(key: &'static str, text: &str) -> Result<bool, OptionError> {
    match text {
        "on" | "yes" | "true" | "1" => Ok(true),
        "off" | "no" | "false" | "0" => Ok(false),
        _ => Err(OptionError { key, reason: format!("{text:?} is not on or off ({SWITCH_WORDS})") }),
    }
}

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

// --- Transport options (connects and listeners; [tcp]) ---

/// TCP maximum segment size: a cap on what a connection sends and the MSS it
/// advertises. 88 is Linux's floor (`TCP_MIN_MSS`: 8 bytes of data still fit
/// beside the largest IPv4 and TCP headers, (60 + 60 + 8) - (20 + 20)); 9000
/// is a jumbo frame's worth. Below a few dozen bytes a window is smaller than
/// one segment and nothing moves.
pub const MSS: Limit = Limit::new("mss", 88, 9000, Unit::Bytes);

// --- Attach options (the API, [[app]], test echo ..., the client library) ---

/// Size of each app worker's first segment.
pub const SEGMENT_SIZE: Limit = Limit::new("segment_size", MIB, 4 * GIB, Unit::Bytes);
/// Size of segments added when the first is full (0, meaning "as the first", is also accepted).
pub const ADD_SEGMENT_SIZE: Limit = Limit::new("add_segment_size", MIB, 4 * GIB, Unit::Bytes);
/// Rx and tx fifo size of each session.
pub const FIFO_SIZE: Limit = Limit::new("fifo_size", 4 * KIB, 64 * MIB, Unit::Bytes).pow2();
/// Fifo pairs carved out of the first segment at attach (they must also fit in it).
pub const PREALLOC_FIFOS: Limit = Limit::new("prealloc_fifos", 0, 65536, Unit::Count);
/// Messages per event queue.
pub const EVENT_QUEUE_SIZE: Limit = Limit::new("event_queue_size", 64, 1 << 20, Unit::Count);
/// TLS engine slot.
pub const TLS_ENGINE: Limit = Limit::new("tls_engine", 0, 3, Unit::Count);

// --- Echo apps (builtin, external and the kernel twin take the same) ---

/// Echo client sessions (each needs a local port of the 16384 ephemeral ones).
pub const SESSIONS: Limit = Limit::new("sessions", 1, 16384, Unit::Count);
/// Echo client bytes per session.
pub const BYTES: Limit = Limit::new("bytes", 1, 1 << 40, Unit::Bytes);
/// Echo client's largest write or datagram (at least the datagram header's sequence number + 1).
pub const CHUNK: Limit = Limit::new("chunk", 9, 64 * KIB, Unit::Bytes);
/// Echo client datagrams in flight per session.
pub const WINDOW: Limit = Limit::new("window", 1, 4096, Unit::Count);
/// Echo client `cps` connections in all.
pub const CONNECTIONS: Limit = Limit::new("connections", 1, 1_000_000_000, Unit::Count);
/// Echo client QUIC streams per connection (past the peer's limit they wait for credit).
pub const STREAMS: Limit = Limit::new("streams", 1, 1000, Unit::Count);
/// Echo run length.
pub const DURATION: FloatLimit = FloatLimit::new("duration", 0.1, 86400.0, Unit::Seconds);
/// Echo client wait before giving up.
pub const TIMEOUT: FloatLimit = FloatLimit::new("timeout", 0.1, 86400.0, Unit::Seconds);
/// External echo app threads (app workers).
pub const THREADS: Limit = Limit::new("threads", 1, 64, Unit::Count);

// --- ping ---

/// Echo requests a `ping` sends.
pub const PING_COUNT: Limit = Limit::new("count", 1, 10_000, Unit::Count);
/// ICMP payload bytes of a `ping` (up to a 9000-byte MTU's datagram).
pub const PING_SIZE: Limit = Limit::new("size", 0, 8972, Unit::Bytes);
/// Seconds between `ping` requests.
pub const PING_INTERVAL: FloatLimit = FloatLimit::new("interval", 0.001, 10.0, Unit::Seconds);

// --- pcap trace ---

/// Frames a `pcap trace` writes at most (and each worker's buffer holds).
pub const PCAP_MAX: Limit = Limit::new("max", 1, 1_000_000, Unit::Count);
/// Bytes a `pcap trace` keeps of each frame.
pub const PCAP_SNAPLEN: Limit = Limit::new("snaplen", 64, 65_535, Unit::Bytes);
/// Buffer bytes a `pcap trace` may reserve, over all workers (`max` x
/// `snaplen` each).
pub const PCAP_BUFFER_BYTES: u64 = 1 << 30;

// --- [fault] and set fault ---

/// Percent of packets a fault-injection decision drops, duplicates or reorders.
pub const FAULT_PERCENT: FloatLimit = FloatLimit::new("percent", 0.0, 100.0, Unit::Percent);
/// Longest a reordered packet waits for a successor.
pub const FAULT_HOLD_US: Limit = Limit::new("reorder_hold_us", 1, 1_000_000, Unit::Micros);

// --- [tcp] ---

/// RTO floor.
pub const TCP_MIN_RTO_MS: Limit = Limit::new("min_rto_ms", 1, 60_000, Unit::Millis);
/// RTO before the first RTT sample.
pub const TCP_INITIAL_RTO_MS: Limit = Limit::new("initial_rto_ms", 1, 60_000, Unit::Millis);
/// Delayed ACK timeout.
pub const TCP_DELAYED_ACK_MS: Limit = Limit::new("delayed_ack_ms", 1, 500, Unit::Millis);
/// TIME-WAIT length.
pub const TCP_TIME_WAIT_MS: Limit = Limit::new("time_wait_ms", 1, 240_000, Unit::Millis);
/// Half-open connections per listener per worker.
pub const TCP_MAX_HALF_OPEN: Limit = Limit::new("max_half_open", 1, 1 << 20, Unit::Count);

// --- [tls] ---

/// Time a TLS connection has, from its TCP handshake's end, to finish the TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT: FloatLimit = FloatLimit::new("handshake_timeout", 0.1, 3600.0, Unit::Seconds);

// --- [workers] ---

/// Idle sleep length.
pub const IDLE_SLEEP_US: Limit = Limit::new("idle_sleep_us", 1, 100_000, Unit::Micros);
/// Empty loop iterations before a worker sleeps.
pub const IDLE_AFTER_POLLS: Limit = Limit::new("idle_after_polls", 1, 10_000_000, Unit::Count);

// --- [dpdk] and [[interface]] ---

/// EAL memory.
pub const MEMORY_MB: Limit = Limit::new("memory_mb", 64, 1 << 20, Unit::Mib);
/// Mbufs in the packet pool.
pub const MBUFS: Limit = Limit::new("mbufs", 1024, 1 << 24, Unit::Count);
/// Per-lcore mbuf cache (DPDK's RTE_MEMPOOL_CACHE_MAX_SIZE).
pub const MBUF_CACHE: Limit = Limit::new("mbuf_cache", 0, 512, Unit::Count);
/// Bytes per mbuf, headroom (128) included: room for every header in the
/// first segment and at most 16 segments for a 9000-byte MTU frame.
pub const MBUF_DATA_ROOM: Limit = Limit::new("mbuf_data_room", 1152, 65535, Unit::Bytes);
/// Descriptors per rx or tx queue.
pub const DESCRIPTORS: Limit = Limit::new("rx_desc", 64, 8192, Unit::Count).pow2();
/// Interface MTU.
pub const MTU: Limit = Limit::new("mtu", 68, 9000, Unit::Bytes);

// --- [api] and [cli]: the control sockets ---

/// Connections a control socket serves at once.
pub const MAX_CONNECTIONS: Limit = Limit::new("max_connections", 1, 4096, Unit::Count);
/// Time a new connection has to send its first complete message (API) or command line (CLI).
pub const FIRST_MESSAGE_MS: Limit = Limit::new("first_message_ms", 100, 600_000, Unit::Millis);
/// Time an API connection may stay open with no application, or a CLI connection without progress.
pub const IDLE_MS: Limit = Limit::new("idle_ms", 100, 86_400_000, Unit::Millis);
/// Applications one API connection may attach.
pub const APPS_PER_CONNECTION: Limit = Limit::new("max_apps_per_connection", 1, 65536, Unit::Count);
/// Applications one user (uid) may have attached over all its connections.
pub const APPS_PER_UID: Limit = Limit::new("max_apps_per_uid", 1, 65536, Unit::Count);
/// File descriptors kept free for the node's own use; attaches that would eat into them are refused.
pub const FD_RESERVE: Limit = Limit::new("fd_reserve", 16, 65536, Unit::Count);
/// Permission bits of a control socket.
pub const SOCKET_MODE: Limit = Limit::new("mode", 0, 0o777, Unit::Count);

/// Every integer limit, for tables and tests.
pub const ALL: &[Limit] = &[
    MSS,
    SEGMENT_SIZE,
    ADD_SEGMENT_SIZE,
    FIFO_SIZE,
    PREALLOC_FIFOS,
    EVENT_QUEUE_SIZE,
    TLS_ENGINE,
    SESSIONS,
    BYTES,
    CHUNK,
    WINDOW,
    CONNECTIONS,
    STREAMS,
    THREADS,
    PING_COUNT,
    PING_SIZE,
    PCAP_MAX,
    PCAP_SNAPLEN,
    FAULT_HOLD_US,
    TCP_MIN_RTO_MS,
    TCP_INITIAL_RTO_MS,
    TCP_DELAYED_ACK_MS,
    TCP_TIME_WAIT_MS,
    TCP_MAX_HALF_OPEN,
    IDLE_SLEEP_US,
    IDLE_AFTER_POLLS,
    MEMORY_MB,
    MBUFS,
    MBUF_CACHE,
    DESCRIPTORS,
    MTU,
    MAX_CONNECTIONS,
    FIRST_MESSAGE_MS,
    IDLE_MS,
    APPS_PER_CONNECTION,
    APPS_PER_UID,
    FD_RESERVE,
    SOCKET_MODE,
];

/// Every fractional limit.
pub const ALL_FLOAT: &[FloatLimit] = &[DURATION, TIMEOUT, PING_INTERVAL, FAULT_PERCENT, TLS_HANDSHAKE_TIMEOUT];

/// Parses a socket mode written in octal (`"0660"`, `"660"`).
pub fn parse_mode(key: &'static str, text: &str) -> Result<u32, OptionError> {
    let bad = || OptionError { key, reason: format!("{text:?} is not an octal mode in 0..=0777 (e.g. \"0660\")") };
    if text.is_empty() || text.len() > 4 || !text.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(bad());
    }
    let v = u32::from_str_radix(text, 8).map_err(|_| bad())?;
    SOCKET_MODE.check_as(key, u64::from(v)).map_err(|_| bad())?;
    Ok(v)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn mss_0_and_1_are_refused_naming_the_option_and_its_range() {
        for v in [0, 1, 87, 9001] {
            let e = MSS.check(v).unwrap_err();
            assert_eq!(e.to_string(), format!("mss: {v} is outside 88..=9000"));
        }
        assert_eq!(MSS.check(88), Ok(88));
        assert_eq!(MSS.check(9000), Ok(9000));
        assert_eq!(MSS.parse_into::<u16>("mss", "1460"), Ok(1460));
        let e = MSS.parse("mss", "70000").unwrap_err();
        assert!(e.reason.contains("outside 88..=9000"), "{e}");
        let e = MSS.parse("mss", "lots").unwrap_err();
        assert!(e.reason.contains("not a size") && e.reason.contains("88..=9000"), "{e}");
        assert!(PING_COUNT.parse("count", "x").unwrap_err().reason.contains("not a whole number"));
    }

    #[test]
    fn sizes_and_powers_of_two() {
        assert_eq!(FIFO_SIZE.parse("fifo-size", "64k"), Ok(65536));
        let e = FIFO_SIZE.parse("fifo-size", "5000").unwrap_err();
        assert_eq!(e.to_string(), "fifo-size: 5000 is not a power of two (accepted: 4k..=64m, a power of two)");
        let e = FIFO_SIZE.check_as("rx_fifo_size", 2048).unwrap_err();
        assert_eq!(e.to_string(), "rx_fifo_size: 2k is outside 4k..=64m, a power of two");
        assert_eq!(FIFO_SIZE.range(), "4k..=64m, a power of two");
        assert_eq!(SEGMENT_SIZE.range(), "1m..=4g");
        assert!(FIFO_SIZE.parse("f", "1x").unwrap_err().reason.contains("not a size"));
        assert_eq!(parse_size("2g"), Some(2 << 30));
        assert_eq!(parse_size("k"), None);
        assert_eq!(parse_size("99999999999999999999k"), None);
    }

    #[test]
    fn floats_refuse_nan_and_infinity() {
        for t in ["NaN", "inf", "-inf", "0.01", "86400.5"] {
            assert!(DURATION.parse("duration", t).is_err(), "{t}");
        }
        assert_eq!(DURATION.parse_secs("duration", "2.5"), Ok(std::time::Duration::from_millis(2500)));
        assert_eq!(FAULT_PERCENT.check_as("drop_percent", 100.0), Ok(100.0));
        let e = FAULT_PERCENT.check_as("drop_percent", 101.0).unwrap_err();
        assert_eq!(e.to_string(), "drop_percent: 101 is outside 0..=100 %");
    }

    #[test]
    fn switches_take_on_off_words_only() {
        for (t, v) in [("on", true), ("yes", true), ("1", true), ("off", false), ("no", false), ("false", false)] {
            assert_eq!(parse_switch("no-delay", t), Ok(v));
        }
        let e = parse_switch("no-delay", "maybe").unwrap_err();
        assert!(e.to_string().starts_with("no-delay: \"maybe\" is not on or off"), "{e}");
    }

    #[test]
    fn modes_are_octal() {
        assert_eq!(parse_mode("api.mode", "0660"), Ok(0o660));
        assert_eq!(parse_mode("api.mode", "600"), Ok(0o600));
        for bad in ["", "0888", "rw-rw----", "07777", "1777"] {
            assert!(parse_mode("api.mode", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_limit_is_sane() {
        for l in ALL {
            assert!(l.min <= l.max, "{l}");
            assert!(!l.power_of_two || (l.min.is_power_of_two() && l.max.is_power_of_two()), "{l}");
            assert!(l.contains(l.min) && l.contains(l.max), "{l}");
        }
        for l in ALL_FLOAT {
            assert!(l.min <= l.max && l.check(l.min).is_ok(), "{l}");
        }
    }
}
