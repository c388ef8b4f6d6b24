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

use shm::echo::{check_dgram, fill_dgram, DGRAM_LOSS_WAIT_NS, SEQ_LEN};
pub use shm::echo::{merge_reports, pattern, EchoReport, RTT_SAMPLES};

use crate::builtin::{AppApi, BuiltinApp};
use crate::lookup::Endpoint;
use crate::session::SessionHandle;
use crate::transport::{ConnectError, ConnectRequest, TransportOptions};

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
}

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
                self.report.rtt_sample(s);
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

#[cfg(test)]
mod test {
    use super::*;

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
}
