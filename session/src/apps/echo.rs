//! Builtin echo server and echo client (VPP's `echo_server.c` / `echo_client.c`).
//!
//! Both are written only against [`AppApi`]: the server sends back every
//! unit it receives (a datagram on UDP, bytes on a stream), the client sends
//! a known pattern and checks what comes back, so they run unchanged over
//! UDP, TCP and cut-through.
//!
//! The client sends `bytes` per session over `sessions` sessions, spread
//! over the workers. Each chunk it sends carries no header on a stream (the
//! pattern is a function of the byte offset), and on a datagram session an
//! 8-byte sequence number followed by the pattern, so loss and reordering
//! are told apart from corruption. Round-trip times are sampled per chunk:
//! the time from writing a chunk to reading its last byte back.

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc;

use crate::builtin::{AppApi, BuiltinApp};
use crate::lookup::Endpoint;
use crate::session::SessionHandle;
use crate::transport::{ConnectError, ConnectRequest, TransportOptions};

/// The byte at `offset` of session `k`'s stream.
#[inline]
pub fn pattern(k: u32, offset: u64) -> u8 {
    (offset.wrapping_mul(31).wrapping_add(u64::from(k) * 7) % 251) as u8
}

/// Echo server: one instance per worker.
#[derive(Default)]
pub struct EchoServer {
    buf: Vec<u8>,
    accepted: u64,
    bytes: u64,
    units: u64,
}

impl EchoServer {
    /// A server instance (the buffer is the largest unit it moves at once).
    pub fn new() -> Self {
        EchoServer { buf: vec![0; 64 * 1024], ..Default::default() }
    }

    fn echo(&mut self, api: &mut AppApi<'_>, s: SessionHandle) {
        let dgram = api.info(s).is_some_and(|i| i.proto.is_dgram());
        loop {
            let ready = api.rx_ready(s);
            if ready == 0 {
                api.want_tx(s, false);
                return;
            }
            let space = api.send_space(s);
            // A datagram goes back whole; a stream can go back in pieces.
            let need = if dgram { ready.min(self.buf.len()) } else { 1 };
            if space < need {
                // Wait for the transport to drain our tx fifo; `tx` resumes.
                api.want_tx(s, true);
                return;
            }
            let take = space.min(self.buf.len()).max(need);
            let n = api.recv(s, &mut self.buf[..take]);
            if n == 0 {
                return;
            }
            let sent = api.send(s, &self.buf[..n]);
            debug_assert_eq!(sent, n, "room was checked");
            self.bytes += n as u64;
            self.units += 1;
        }
    }
}

impl BuiltinApp for EchoServer {
    fn accepted(&mut self, _api: &mut AppApi<'_>, _s: SessionHandle) -> bool {
        self.accepted += 1;
        true
    }

    fn rx(&mut self, api: &mut AppApi<'_>, s: SessionHandle) {
        self.echo(api, s);
    }

    fn tx(&mut self, api: &mut AppApi<'_>, s: SessionHandle) {
        self.echo(api, s);
    }

    fn describe(&self) -> String {
        format!("echo server: {} sessions accepted, {} units / {} bytes echoed", self.accepted, self.units, self.bytes)
    }
}

/// What an echo client run is asked to do.
#[derive(Debug, Clone)]
pub struct EchoClientConfig {
    /// Server to connect to.
    pub remote: Endpoint,
    /// Sessions in all (spread over workers).
    pub sessions: u32,
    /// Bytes to send (and get back) per session.
    pub bytes: u64,
    /// Largest write: a datagram's size on UDP, a write's on a stream.
    pub chunk: usize,
    /// Datagrams in flight per session (UDP), so a burst does not overrun the peer.
    pub window: usize,
    /// Give up after this long (ns).
    pub timeout_ns: u64,
    /// Transport options for the connects.
    pub options: TransportOptions,
}

/// What one worker's client instance reports when its sessions are done.
#[derive(Debug, Clone, Default)]
pub struct EchoReport {
    /// Worker.
    pub worker: u32,
    /// Sessions asked of this worker.
    pub sessions: u32,
    /// Sessions that connected.
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
    /// Round-trip samples (ns), at most [`RTT_SAMPLES`] of them.
    pub rtt_ns: Vec<u64>,
    /// The run hit its timeout.
    pub timed_out: bool,
}

/// Round-trip samples kept per instance.
pub const RTT_SAMPLES: usize = 1 << 16;

struct ClientSession {
    handle: Option<SessionHandle>,
    key: u32,
    dgram: bool,
    sent: u64,
    received: u64,
    // Stream: (end offset, send time) per chunk. Datagram: (sequence, send time).
    inflight: VecDeque<(u64, u64)>,
    next_seq: u64,
    done: bool,
    last_progress_ns: u64,
}

/// Echo client: one instance per worker, owning its share of the sessions.
pub struct EchoClient {
    cfg: EchoClientConfig,
    sessions: Vec<ClientSession>,
    by_handle: HashMap<SessionHandle, usize>,
    report: EchoReport,
    started_ns: Option<u64>,
    finished: bool,
    results: mpsc::Sender<EchoReport>,
    buf: Vec<u8>,
    rtt_seen: u64,
}

/// How long a datagram session may make no progress before its missing datagrams count as lost.
const DGRAM_LOSS_WAIT_NS: u64 = 1_000_000_000;
/// Bytes of sequence number in front of each datagram.
const SEQ_LEN: usize = 8;

impl EchoClient {
    /// The instance for worker `worker` of `workers`; it reports to `results` when done.
    pub fn new(cfg: EchoClientConfig, worker: u32, workers: u32, results: mpsc::Sender<EchoReport>) -> Self {
        let workers = workers.max(1);
        let mine = cfg.sessions / workers + u32::from(worker < cfg.sessions % workers);
        // Session keys are global so every session has its own pattern.
        let first = worker * (cfg.sessions / workers) + worker.min(cfg.sessions % workers);
        let sessions = (0..mine)
            .map(|i| ClientSession {
                handle: None,
                key: first + i,
                dgram: false,
                sent: 0,
                received: 0,
                inflight: VecDeque::new(),
                next_seq: 0,
                done: false,
                last_progress_ns: 0,
            })
            .collect();
        let buf = vec![0; cfg.chunk.max(SEQ_LEN + 1)];
        EchoClient {
            report: EchoReport { worker, sessions: mine, ..Default::default() },
            cfg,
            sessions,
            by_handle: HashMap::new(),
            started_ns: None,
            finished: false,
            results,
            buf,
            rtt_seen: 0,
        }
    }

    fn rtt_sample(&mut self, ns: u64) {
        // Reservoir sampling keeps a fair sample of any number of chunks.
        self.rtt_seen += 1;
        if self.report.rtt_ns.len() < RTT_SAMPLES {
            self.report.rtt_ns.push(ns);
        } else {
            let j = (self.rtt_seen.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 11) % self.rtt_seen;
            if (j as usize) < RTT_SAMPLES {
                self.report.rtt_ns[j as usize] = ns;
            }
        }
    }

    fn pump(&mut self, api: &mut AppApi<'_>, i: usize) -> usize {
        let now = api.now_ns();
        let cfg_bytes = self.cfg.bytes;
        let chunk = self.cfg.chunk;
        let window = self.cfg.window;
        let cs = &mut self.sessions[i];
        let Some(h) = cs.handle else { return 0 };
        let mut work = 0;
        while cs.sent < cfg_bytes {
            let left = (cfg_bytes - cs.sent) as usize;
            let space = api.send_space(h);
            if cs.dgram {
                if cs.inflight.len() >= window {
                    break;
                }
                // Every datagram carries its sequence number, so none is shorter.
                let len = left.min(chunk).max(SEQ_LEN);
                if space < len {
                    api.want_tx(h, true);
                    break;
                }
                let b = &mut self.buf[..len];
                let seq = cs.next_seq;
                fill_dgram(b, cs.key, seq);
                if api.send(h, b) != len {
                    break;
                }
                cs.inflight.push_back((seq, now));
                cs.next_seq += 1;
                cs.sent += len as u64;
            } else {
                let len = left.min(chunk).min(space);
                if len == 0 {
                    api.want_tx(h, true);
                    break;
                }
                let b = &mut self.buf[..len];
                for (j, x) in b.iter_mut().enumerate() {
                    *x = pattern(cs.key, cs.sent + j as u64);
                }
                let n = api.send(h, b);
                cs.sent += n as u64;
                cs.inflight.push_back((cs.sent, now));
                if n < len {
                    api.want_tx(h, true);
                    break;
                }
            }
            work += 1;
        }
        work
    }

    fn receive(&mut self, api: &mut AppApi<'_>, i: usize) {
        let now = api.now_ns();
        let Some(h) = self.sessions[i].handle else { return };
        loop {
            let n = api.recv(h, &mut self.buf);
            if n == 0 {
                break;
            }
            let cs = &mut self.sessions[i];
            cs.last_progress_ns = now;
            let mut samples: smallvec::SmallVec<[u64; 16]> = smallvec::SmallVec::new();
            let mut bad = 0u64;
            if cs.dgram {
                let (seq, ok) = check_dgram(&self.buf[..n], cs.key);
                if !ok {
                    bad += n as u64;
                }
                if let Some(pos) = cs.inflight.iter().position(|&(s, _)| s == seq) {
                    let (_, t) = cs.inflight.remove(pos).expect("found");
                    samples.push(now.saturating_sub(t));
                }
            } else {
                for (j, &x) in self.buf[..n].iter().enumerate() {
                    if x != pattern(cs.key, cs.received + j as u64) {
                        bad += 1;
                    }
                }
                let end = cs.received + n as u64;
                while cs.inflight.front().is_some_and(|&(o, _)| o <= end) {
                    let (_, t) = cs.inflight.pop_front().expect("checked");
                    samples.push(now.saturating_sub(t));
                }
            }
            cs.received += n as u64;
            self.report.bytes_received += n as u64;
            self.report.mismatched_bytes += bad;
            for s in samples {
                self.rtt_sample(s);
            }
        }
        let cs = &mut self.sessions[i];
        if !cs.done && cs.received >= self.cfg.bytes {
            cs.done = true;
            self.report.completed += 1;
            api.close(h);
        }
    }

    fn finish(&mut self, now: u64, timed_out: bool) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.report.timed_out = timed_out;
        self.report.duration_ns = now.saturating_sub(self.started_ns.unwrap_or(now));
        self.report.bytes_sent = self.sessions.iter().map(|s| s.sent).sum();
        let _ = self.results.send(std::mem::take(&mut self.report));
    }
}

/// A datagram: 8-byte sequence number, then the session's pattern from offset `seq`.
fn fill_dgram(b: &mut [u8], key: u32, seq: u64) {
    let n = SEQ_LEN.min(b.len());
    b[..n].copy_from_slice(&seq.to_le_bytes()[..n]);
    for (j, x) in b[n..].iter_mut().enumerate() {
        *x = pattern(key, seq + j as u64);
    }
}

/// The sequence number of an echoed datagram and whether its payload is intact.
fn check_dgram(b: &[u8], key: u32) -> (u64, bool) {
    if b.len() < SEQ_LEN {
        return (u64::MAX, false);
    }
    let seq = u64::from_le_bytes(b[..SEQ_LEN].try_into().expect("8 bytes"));
    let ok = b[SEQ_LEN..].iter().enumerate().all(|(j, &x)| x == pattern(key, seq + j as u64));
    (seq, ok)
}

impl BuiltinApp for EchoClient {
    fn connected(&mut self, api: &mut AppApi<'_>, opaque: u64, result: Result<SessionHandle, ConnectError>) {
        let i = opaque as usize;
        match result {
            Ok(h) => {
                self.report.connected += 1;
                let dgram = api.info(h).is_some_and(|x| x.proto.is_dgram());
                if let Some(cs) = self.sessions.get_mut(i) {
                    cs.handle = Some(h);
                    cs.dgram = dgram;
                    cs.last_progress_ns = api.now_ns();
                    self.by_handle.insert(h, i);
                    self.pump(api, i);
                }
            }
            Err(e) => {
                self.report.connect_errors.push(e.as_str().to_string());
                if let Some(cs) = self.sessions.get_mut(i) {
                    cs.done = true;
                }
            }
        }
    }

    fn rx(&mut self, api: &mut AppApi<'_>, s: SessionHandle) {
        if let Some(&i) = self.by_handle.get(&s) {
            self.receive(api, i);
            if !self.sessions[i].done {
                self.pump(api, i);
            }
        }
    }

    fn tx(&mut self, api: &mut AppApi<'_>, s: SessionHandle) {
        if let Some(&i) = self.by_handle.get(&s) {
            api.want_tx(s, false);
            self.pump(api, i);
        }
    }

    fn disconnected(&mut self, api: &mut AppApi<'_>, s: SessionHandle) {
        if let Some(&i) = self.by_handle.get(&s) {
            self.sessions[i].done = true;
        }
        api.close(s);
    }

    fn reset(&mut self, _api: &mut AppApi<'_>, s: SessionHandle) {
        if let Some(i) = self.by_handle.remove(&s) {
            self.sessions[i].done = true;
            self.sessions[i].handle = None;
        }
    }

    fn closed(&mut self, _api: &mut AppApi<'_>, s: SessionHandle) {
        if let Some(i) = self.by_handle.remove(&s) {
            self.sessions[i].handle = None;
        }
    }

    fn poll(&mut self, api: &mut AppApi<'_>) -> usize {
        if self.finished {
            return 0;
        }
        let now = api.now_ns();
        let Some(start) = self.started_ns else {
            self.started_ns = Some(now);
            for i in 0..self.sessions.len() {
                let req = ConnectRequest {
                    remote: self.cfg.remote,
                    parent: None,
                    options: self.cfg.options,
                    opaque: i as u64,
                };
                if let Err(e) = api.connect(req) {
                    self.report.connect_errors.push(e.to_string());
                    self.sessions[i].done = true;
                }
            }
            return self.sessions.len().max(1);
        };
        let mut work = 0;
        for i in 0..self.sessions.len() {
            let cs = &mut self.sessions[i];
            if cs.done || cs.handle.is_none() {
                continue;
            }
            // Datagrams that never came back: after a quiet spell with
            // everything sent, count them lost and end the session.
            if cs.dgram && cs.sent >= self.cfg.bytes && now.saturating_sub(cs.last_progress_ns) > DGRAM_LOSS_WAIT_NS {
                self.report.lost_datagrams += cs.inflight.len() as u64;
                cs.inflight.clear();
                cs.done = true;
                if let Some(h) = cs.handle {
                    api.close(h);
                }
                continue;
            }
            if cs.dgram && cs.sent < self.cfg.bytes && now.saturating_sub(cs.last_progress_ns) > DGRAM_LOSS_WAIT_NS {
                // The window is full of lost datagrams: write them off and go on.
                self.report.lost_datagrams += cs.inflight.len() as u64;
                cs.inflight.clear();
                cs.last_progress_ns = now;
            }
            work += self.pump(api, i);
        }
        if self.sessions.iter().all(|s| s.done && s.handle.is_none()) {
            self.finish(now, false);
        } else if now.saturating_sub(start) > self.cfg.timeout_ns {
            for cs in &mut self.sessions {
                if let Some(h) = cs.handle.take() {
                    api.close(h);
                }
            }
            self.finish(now, true);
        }
        work
    }

    fn describe(&self) -> String {
        let done = self.sessions.iter().filter(|s| s.done).count();
        let rx: u64 = self.sessions.iter().map(|s| s.received).sum();
        format!("echo client to {}: {done}/{} sessions done, {rx} bytes back", self.cfg.remote, self.sessions.len())
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
        all.timed_out |= r.timed_out;
    }
    all
}

impl EchoReport {
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
    fn sessions_are_spread_over_workers_with_distinct_keys() {
        let (tx, _rx) = mpsc::channel();
        let cfg = EchoClientConfig {
            remote: "udp://1.2.3.4/7".parse().unwrap(),
            sessions: 7,
            bytes: 10,
            chunk: 100,
            window: 4,
            timeout_ns: 1,
            options: TransportOptions::default(),
        };
        let mut keys = vec![];
        for w in 0..3 {
            let c = EchoClient::new(cfg.clone(), w, 3, tx.clone());
            keys.extend(c.sessions.iter().map(|s| s.key));
        }
        assert_eq!(keys, (0..7).collect::<Vec<_>>());
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
}
