//! The echo test's data pattern, datagram framing, modes and report, shared
//! by the builtin echo apps (`session::apps::echo`), their kernel twin
//! (`dpnode kbench`) and the external ones (`dpnode-client`'s `echo`), so
//! that all of them check data the same way and print the same report, and
//! their numbers can be compared.
//!
//! A client sends a known pattern and checks what comes back. On a stream
//! the pattern is a function of the byte offset (no header); on a datagram
//! session every datagram carries an 8-byte sequence number followed by the
//! pattern from that sequence number, so loss and reordering are told apart
//! from corruption.
//!
//! A crate of its own (no dependencies) rather than a module of `shm` or of
//! the session layer: the session layer's builtin apps, the client library's
//! external apps and the node's `kbench` all use it, and none of it is
//! shared memory.

#![warn(missing_docs)]

/// The byte at `offset` of session `k`'s stream.
#[inline]
pub fn pattern(k: u32, offset: u64) -> u8 {
    (offset.wrapping_mul(31).wrapping_add(u64::from(k) * 7) % 251) as u8
}

/// The pattern from `offset` on, one byte at a time: each byte is the
/// previous plus 31 mod 251, so no division per byte (the echo apps fill
/// and check every byte they move, and the modulo showed in profiles).
struct PatternIter(u8);

impl PatternIter {
    fn new(key: u32, offset: u64) -> Self {
        PatternIter(pattern(key, offset))
    }

    #[inline]
    fn next_byte(&mut self) -> u8 {
        let b = self.0;
        let n = u16::from(b) + 31;
        self.0 = if n >= 251 { (n - 251) as u8 } else { n as u8 };
        b
    }
}

/// Fills `b` with session `key`'s stream pattern from `offset`.
pub fn fill_stream(b: &mut [u8], key: u32, offset: u64) {
    let mut p = PatternIter::new(key, offset);
    for x in b.iter_mut() {
        *x = p.next_byte();
    }
}

/// Bytes of `b` that differ from session `key`'s stream pattern starting at `offset`.
pub fn stream_mismatches(b: &[u8], key: u32, offset: u64) -> u64 {
    let mut p = PatternIter::new(key, offset);
    b.iter().map(|&x| u64::from(x != p.next_byte())).sum()
}

/// What an echo client measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EchoMode {
    /// Stream as fast as the transport takes it: throughput.
    #[default]
    Bulk,
    /// One `chunk`-sized message in flight per session: round trips (transactions) per second, p50/p99.
    Rr,
    /// Each session slot connects, sends one chunk, reads it back and closes, over and over: connections per second.
    Cps,
}

impl EchoMode {
    /// The modes by their CLI/config names.
    pub const NAMES: &'static str = "bulk, rr or cps";

    /// The mode named `s` (`bulk`, `rr`, `cps`).
    pub fn parse(s: &str) -> Option<EchoMode> {
        match s {
            "bulk" => Some(EchoMode::Bulk),
            "rr" => Some(EchoMode::Rr),
            "cps" => Some(EchoMode::Cps),
            _ => None,
        }
    }

    /// Its CLI/config name.
    pub fn as_str(self) -> &'static str {
        match self {
            EchoMode::Bulk => "bulk",
            EchoMode::Rr => "rr",
            EchoMode::Cps => "cps",
        }
    }
}

impl std::fmt::Display for EchoMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Session `k`'s part of `total` spread over `n` sessions (the first `total % n` get one more).
pub fn share(total: u64, k: u32, n: u32) -> u64 {
    let n = u64::from(n.max(1));
    total / n + u64::from(u64::from(k) < total % n)
}

/// What one worker's client instance reports when its sessions are done.
#[derive(Debug, Clone, Default)]
pub struct EchoReport {
    /// Worker.
    pub worker: u32,
    /// Sessions asked of this worker.
    pub sessions: u32,
    /// Connects that succeeded: sessions, or in `cps` every connection.
    pub connected: u32,
    /// Connect failures, with their reasons.
    pub connect_errors: Vec<String>,
    /// Sessions that got every byte back.
    pub completed: u32,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes received back.
    pub bytes_received: u64,
    /// Bytes that came back different from what was sent.
    pub mismatched_bytes: u64,
    /// Datagrams never echoed (UDP).
    pub lost_datagrams: u64,
    /// From the first connect to the last byte back (ns).
    pub duration_ns: u64,
    /// Round-trip samples (ns), at most [`RTT_SAMPLES`] of them (`cps`: connect to echo back, per connection).
    pub rtt_ns: Vec<u64>,
    /// Samples offered to [`EchoReport::rtt_sample`] (the reservoir keeps a fair subset): round trips.
    pub rtt_seen: u64,
    /// What was measured.
    pub mode: EchoMode,
    /// `cps`: connections that connected, echoed their chunk intact and were closed.
    pub connections: u64,
    /// The run hit its timeout.
    pub timed_out: bool,
}

/// Round-trip samples kept per instance.
pub const RTT_SAMPLES: usize = 1 << 16;

/// How long a datagram session may make no progress before its missing datagrams count as lost.
pub const DGRAM_LOSS_WAIT_NS: u64 = 1_000_000_000;
/// Bytes of sequence number in front of each datagram.
pub const SEQ_LEN: usize = 8;
/// A datagram: 8-byte sequence number, then the session's pattern from offset `seq`.
pub fn fill_dgram(b: &mut [u8], key: u32, seq: u64) {
    let n = SEQ_LEN.min(b.len());
    b[..n].copy_from_slice(&seq.to_le_bytes()[..n]);
    fill_stream(&mut b[n..], key, seq);
}

/// The sequence number of an echoed datagram and whether its payload is intact.
pub fn check_dgram(b: &[u8], key: u32) -> (u64, bool) {
    if b.len() < SEQ_LEN {
        return (u64::MAX, false);
    }
    let seq = u64::from_le_bytes(b[..SEQ_LEN].try_into().expect("8 bytes"));
    let ok = stream_mismatches(&b[SEQ_LEN..], key, seq) == 0;
    (seq, ok)
}

/// `n` per second over `ns` nanoseconds (0 for an empty run).
fn per_sec(n: u64, ns: u64) -> f64 {
    if ns > 0 {
        n as f64 * 1e9 / ns as f64
    } else {
        0.0
    }
}

/// Sums per-worker reports into one.
pub fn merge_reports(reports: Vec<EchoReport>) -> EchoReport {
    let mut all = EchoReport::default();
    for r in reports {
        all.sessions += r.sessions;
        all.connected += r.connected;
        all.connect_errors.extend(r.connect_errors);
        all.completed += r.completed;
        all.bytes_sent += r.bytes_sent;
        all.bytes_received += r.bytes_received;
        all.mismatched_bytes += r.mismatched_bytes;
        all.lost_datagrams += r.lost_datagrams;
        all.duration_ns = all.duration_ns.max(r.duration_ns);
        all.rtt_ns.extend(r.rtt_ns);
        all.rtt_seen += r.rtt_seen;
        all.mode = r.mode;
        all.connections += r.connections;
        all.timed_out |= r.timed_out;
    }
    all
}

impl EchoReport {
    /// Adds a round-trip sample; reservoir sampling keeps a fair sample of any number of them.
    pub fn rtt_sample(&mut self, ns: u64) {
        self.rtt_seen += 1;
        if self.rtt_ns.len() < RTT_SAMPLES {
            self.rtt_ns.push(ns);
        } else {
            let j = (self.rtt_seen.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 11) % self.rtt_seen;
            if (j as usize) < RTT_SAMPLES {
                self.rtt_ns[j as usize] = ns;
            }
        }
    }

    /// Round trips per second over the run: transactions per second in `rr`.
    pub fn transactions_per_sec(&self) -> f64 {
        per_sec(self.rtt_seen, self.duration_ns)
    }

    /// Connections per second over the run (`cps`).
    pub fn connections_per_sec(&self) -> f64 {
        per_sec(self.connections, self.duration_ns)
    }

    /// The `p`-th percentile round trip in ns (0 when there are no samples).
    pub fn rtt_percentile(&self, p: f64) -> u64 {
        let mut v = self.rtt_ns.clone();
        if v.is_empty() {
            return 0;
        }
        v.sort_unstable();
        let i = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
        v[i.min(v.len() - 1)]
    }

    /// The report as the CLI prints it.
    pub fn format(&self) -> String {
        let secs = self.duration_ns as f64 / 1e9;
        let gbps = if secs > 0.0 { self.bytes_received as f64 * 8.0 / secs / 1e9 } else { 0.0 };
        let mut out = format!(
            "sessions {} connected {} completed {}\nbytes sent {} received {} mismatched {} lost datagrams {}\n\
             duration {:.3} s, throughput {:.3} Gbit/s\n",
            self.sessions,
            self.connected,
            self.completed,
            self.bytes_sent,
            self.bytes_received,
            self.mismatched_bytes,
            self.lost_datagrams,
            secs,
            gbps
        );
        if !self.rtt_ns.is_empty() {
            let us = |ns: u64| ns as f64 / 1e3;
            let mean = self.rtt_ns.iter().sum::<u64>() as f64 / self.rtt_ns.len() as f64;
            out.push_str(&format!(
                "rtt samples {} min {:.1} us mean {:.1} us p50 {:.1} us p99 {:.1} us max {:.1} us\n",
                self.rtt_ns.len(),
                us(*self.rtt_ns.iter().min().expect("non-empty")),
                mean / 1e3,
                us(self.rtt_percentile(50.0)),
                us(self.rtt_percentile(99.0)),
                us(*self.rtt_ns.iter().max().expect("non-empty")),
            ));
        }
        match self.mode {
            EchoMode::Bulk => {}
            EchoMode::Rr => {
                out.push_str(&format!("transactions {} ({:.0}/s)\n", self.rtt_seen, self.transactions_per_sec()))
            }
            EchoMode::Cps => {
                out.push_str(&format!("connections {} ({:.0}/s)\n", self.connections, self.connections_per_sec()))
            }
        }
        for e in &self.connect_errors {
            out.push_str(&format!("connect error: {e}\n"));
        }
        if self.timed_out {
            out.push_str("timed out\n");
        }
        out
    }

    /// Whether the run moved every byte back intact.
    pub fn ok(&self) -> bool {
        self.completed == self.sessions
            && self.mismatched_bytes == 0
            && self.lost_datagrams == 0
            && !self.timed_out
            && self.connect_errors.is_empty()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn incremental_pattern_matches_the_formula() {
        for (key, offset) in [(0u32, 0u64), (3, 250), (7, 251), (1234, 9_999_999), (u32::MAX, u64::MAX - 600)] {
            let mut b = vec![0u8; 600];
            fill_stream(&mut b, key, offset);
            for (j, &x) in b.iter().enumerate() {
                assert_eq!(x, pattern(key, offset.wrapping_add(j as u64)), "key {key} offset {offset} + {j}");
            }
            assert_eq!(stream_mismatches(&b, key, offset), 0);
            b[599] ^= 1;
            b[0] ^= 1;
            assert_eq!(stream_mismatches(&b, key, offset), 2);
        }
    }

    #[test]
    fn datagram_check_finds_corruption() {
        let mut b = vec![0u8; 100];
        fill_dgram(&mut b, 3, 42);
        assert_eq!(check_dgram(&b, 3), (42, true));
        assert!(!check_dgram(&b, 4).1, "another session's pattern");
        b[50] ^= 1;
        assert_eq!(check_dgram(&b, 3), (42, false));
        assert!(!check_dgram(&b[..4], 3).1);
    }

    #[test]
    fn report_percentiles_and_merge() {
        let a = EchoReport { sessions: 1, completed: 1, rtt_ns: vec![1, 2, 3], duration_ns: 5, ..Default::default() };
        let b = EchoReport { sessions: 2, completed: 2, rtt_ns: vec![4, 100], duration_ns: 9, ..Default::default() };
        let m = merge_reports(vec![a, b]);
        assert_eq!((m.sessions, m.completed, m.duration_ns), (3, 3, 9));
        assert_eq!(m.rtt_percentile(50.0), 3);
        assert_eq!(m.rtt_percentile(100.0), 100);
        assert!(m.ok());
    }

    #[test]
    fn modes_parse_and_print() {
        for m in [EchoMode::Bulk, EchoMode::Rr, EchoMode::Cps] {
            assert_eq!(EchoMode::parse(m.as_str()), Some(m));
            assert_eq!(m.to_string(), m.as_str());
        }
        assert_eq!(EchoMode::parse("stream"), None);
        assert_eq!(EchoMode::default(), EchoMode::Bulk);
    }

    #[test]
    fn stream_pattern_fills_and_checks() {
        let mut b = vec![0u8; 300];
        fill_stream(&mut b, 2, 1000);
        assert_eq!(stream_mismatches(&b, 2, 1000), 0);
        assert_eq!(stream_mismatches(&b[10..], 2, 1010), 0, "the pattern is a function of the offset");
        b[7] ^= 0x40;
        assert_eq!(stream_mismatches(&b, 2, 1000), 1);
        assert!(stream_mismatches(&b, 3, 1000) > 200, "another session's pattern");
    }
}
