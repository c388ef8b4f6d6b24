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
//!
//! Three modes ([`EchoMode`]) measure three things with the same data and
//! checks: `bulk` streams as fast as the fifos allow (throughput), `rr`
//! keeps one `chunk`-sized message in flight per session (every round trip
//! is a sample: transactions per second, p50/p99), and `cps` has every
//! session slot connect, send one chunk, read it back and close, over and
//! over (connections per second). A run ends after `bytes` per session
//! (`connections` in all for `cps`) or, when a duration is given, after
//! that long; what is in flight then is still waited for and checked. The
//! kernel twin (`dpnode kbench`) uses this module's pattern, checks and
//! report, so the two stacks are measured with the same logic.

use std::collections::VecDeque;

use foldhash::{HashMap, HashSet};
use std::sync::mpsc;

use ::echo::{
    check_dgram, fill_dgram, fill_stream, share, stream_mismatches, EchoMode, EchoReport, DGRAM_LOSS_WAIT_NS, SEQ_LEN,
};

use shm::types::{Endpoint, SessionHandle, TransportOptions};

use net::seam::Seam;

use crate::builtin::{AppApi, BuiltinApp};
use crate::snapshot::BuiltinAppSnapshot;
use crate::transport::{ConnectError, ConnectRequest};

/// Echo server: one instance per worker.
#[derive(Default)]
pub struct EchoServer {
    buf: Vec<u8>,
    accepted: u64,
    bytes: u64,
    units: u64,
    // Sessions whose peer closed its side with data still to echo: closed once it is echoed.
    draining: HashSet<SessionHandle>,
}

impl EchoServer {
    /// A server instance (the buffer is the largest unit it moves at once).
    pub fn new() -> Self {
        EchoServer { buf: vec![0; 64 * 1024], ..Default::default() }
    }

    fn echo<S: Seam>(&mut self, api: &mut AppApi<'_, S>, s: SessionHandle) {
        let dgram = api.info(s).is_some_and(|i| i.proto.is_dgram());
        loop {
            let ready = api.rx_ready(s);
            if ready == 0 {
                api.want_tx(s, false);
                if self.draining.remove(&s) {
                    api.close(s);
                }
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

impl<S: Seam> BuiltinApp<S> for EchoServer {
    fn accepted(&mut self, _api: &mut AppApi<'_, S>, _s: SessionHandle) -> bool {
        self.accepted += 1;
        true
    }

    fn rx(&mut self, api: &mut AppApi<'_, S>, s: SessionHandle) {
        self.echo(api, s);
    }

    fn tx(&mut self, api: &mut AppApi<'_, S>, s: SessionHandle) {
        self.echo(api, s);
    }

    fn disconnected(&mut self, api: &mut AppApi<'_, S>, s: SessionHandle) {
        // The peer sends no more, but what it sent still goes back: close
        // once it has (a close with unread data would reset the connection).
        self.draining.insert(s);
        self.echo(api, s);
    }

    fn reset(&mut self, _api: &mut AppApi<'_, S>, s: SessionHandle) {
        self.draining.remove(&s);
    }

    fn closed(&mut self, _api: &mut AppApi<'_, S>, s: SessionHandle) {
        self.draining.remove(&s);
    }

    fn snapshot(&self) -> Option<BuiltinAppSnapshot> {
        Some(BuiltinAppSnapshot::EchoServer { accepted: self.accepted, units: self.units, bytes: self.bytes })
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
    /// What to measure.
    pub mode: EchoMode,
    /// `cps`: connections in all, spread over the sessions; 0 = no limit (`duration_ns` ends the run).
    pub connections: u64,
    /// Run this long (ns) instead of moving `bytes` per session (`bulk`, `rr`), or at most this long (`cps`);
    /// 0 = no time limit. [`EchoClientConfig::timeout_ns`] counts after it.
    pub duration_ns: u64,
}

struct ClientSession {
    handle: Option<SessionHandle>,
    key: u32,
    dgram: bool,
    // Offsets in the current connection (the only one but in `cps`).
    sent: u64,
    received: u64,
    // Bytes this connection sends: `bytes`, `u64::MAX` until a duration
    // ends, then what was sent by then; `cps`: one chunk.
    target: u64,
    // Bytes sent on earlier connections (`cps`).
    sent_before: u64,
    // `cps`: connections this slot may still open.
    conns_left: u64,
    // `cps`: when the current connection's connect was asked.
    conn_start_ns: u64,
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
    // `cps`: finished connections whose close has not completed yet.
    closing: HashSet<SessionHandle>,
    report: EchoReport,
    started_ns: Option<u64>,
    // The duration is over: no new chunks or connections.
    stopping: bool,
    finished: bool,
    results: mpsc::Sender<EchoReport>,
    buf: Vec<u8>,
    // TLS over each connection (a `tls://` uri).
    tls: Option<crate::tls::TlsClient>,
    // QUIC (a `quic://` uri): each connection carries `streams` of the slots.
    quic: Option<crate::quic::QuicClient>,
    streams: usize,
    conns: Vec<QuicSlot>,
}

/// A QUIC connection of the echo client, whose streams are the session slots
/// `c * streams .. (c + 1) * streams`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QuicSlot {
    Idle,
    Connecting,
    Ready(SessionHandle),
    Done,
}

/// Set in a connect's opaque value: it opens QUIC connection `opaque & !QUIC_CONN`, not a slot's session.
const QUIC_CONN: u64 = 1 << 63;

/// Connect errors kept word for word in a report (`cps` could fail thousands of times).
const CONNECT_ERRORS_KEPT: usize = 16;

impl EchoClient {
    /// The instance for worker `worker` of `workers`; it reports to `results` when done.
    pub fn new(cfg: EchoClientConfig, worker: u32, workers: u32, results: mpsc::Sender<EchoReport>) -> Self {
        let workers = workers.max(1);
        let mine = cfg.sessions / workers + u32::from(worker < cfg.sessions % workers);
        // Session keys are global so every session has its own pattern.
        let first = worker * (cfg.sessions / workers) + worker.min(cfg.sessions % workers);
        let target = match cfg.mode {
            EchoMode::Cps => cfg.chunk as u64,
            _ if cfg.duration_ns > 0 => u64::MAX,
            _ => cfg.bytes,
        };
        let sessions = (0..mine)
            .map(|i| ClientSession {
                handle: None,
                key: first + i,
                dgram: false,
                sent: 0,
                received: 0,
                target,
                sent_before: 0,
                conns_left: match (cfg.connections, cfg.duration_ns) {
                    (0, 0) => 1,
                    (0, _) => u64::MAX,
                    (n, _) => share(n, first + i, cfg.sessions),
                },
                conn_start_ns: 0,
                inflight: VecDeque::new(),
                next_seq: 0,
                done: false,
                last_progress_ns: 0,
            })
            .collect();
        let buf = vec![0; cfg.chunk.max(SEQ_LEN + 1)];
        EchoClient {
            report: EchoReport { worker, sessions: mine, mode: cfg.mode, ..Default::default() },
            cfg,
            sessions,
            by_handle: HashMap::default(),
            closing: HashSet::default(),
            started_ns: None,
            stopping: false,
            finished: false,
            results,
            buf,
            tls: None,
            quic: None,
            streams: 1,
            conns: Vec::new(),
        }
    }

    /// The same client over QUIC (`quic://` uri): each of its sessions is a
    /// QUIC connection that carries `streams` streams, opened with the
    /// connection as parent; every stream echoes `bytes` (so the report
    /// counts streams as sessions).
    pub fn with_quic(mut self, quic: crate::quic::QuicClient, streams: u32) -> Self {
        let streams = streams.max(1) as usize;
        let old = std::mem::take(&mut self.sessions);
        self.conns = vec![QuicSlot::Idle; old.len()];
        for s in &old {
            for j in 0..streams {
                self.sessions.push(ClientSession {
                    handle: None,
                    key: s.key * streams as u32 + j as u32,
                    dgram: false,
                    sent: 0,
                    received: 0,
                    target: s.target,
                    sent_before: 0,
                    conns_left: s.conns_left,
                    conn_start_ns: 0,
                    inflight: VecDeque::new(),
                    next_seq: 0,
                    done: false,
                    last_progress_ns: 0,
                });
            }
        }
        self.report.sessions = self.sessions.len() as u32;
        self.quic = Some(quic);
        self.streams = streams;
        self
    }

    /// QUIC: slot `i`'s stream on its connection, opening the connection first.
    fn open_quic<S: Seam>(&mut self, api: &mut AppApi<'_, S>, i: usize) {
        let c = i / self.streams;
        let mut req =
            ConnectRequest { remote: self.cfg.remote, parent: None, options: self.cfg.options, opaque: i as u64 };
        match self.conns[c] {
            QuicSlot::Ready(h) => req.parent = Some(h),
            QuicSlot::Connecting => return,
            QuicSlot::Done => {
                self.sessions[i].done = true;
                return;
            }
            QuicSlot::Idle => {
                self.conns[c] = QuicSlot::Connecting;
                req.opaque = QUIC_CONN | c as u64;
                let q = self.quic.clone().expect("quic client");
                if let Err(e) = api.connect_quic(req, q) {
                    self.quic_conn_failed(c, e.to_string());
                }
                return;
            }
        }
        if let Err(e) = api.connect(req) {
            self.sessions[i].done = true;
            self.connect_error(e.to_string());
        }
    }

    fn quic_conn_failed(&mut self, c: usize, e: String) {
        self.conns[c] = QuicSlot::Done;
        self.connect_error(e);
        for cs in &mut self.sessions[c * self.streams..(c + 1) * self.streams] {
            cs.done = true;
        }
    }

    /// QUIC: closes slot `i`'s connection once all its streams are done.
    fn quic_check_conn<S: Seam>(&mut self, api: &mut AppApi<'_, S>, i: usize) {
        let c = i / self.streams;
        let Some(QuicSlot::Ready(h)) = self.conns.get(c).copied() else { return };
        if self.sessions[c * self.streams..(c + 1) * self.streams].iter().all(|s| s.done) {
            self.conns[c] = QuicSlot::Done;
            api.close(h);
        }
    }

    /// QUIC: the connection slot whose connection session is `h`.
    fn quic_conn_of(&self, h: SessionHandle) -> Option<usize> {
        self.conns.iter().position(|&c| c == QuicSlot::Ready(h))
    }

    /// The same client with TLS over each of its connections (`tls` names the
    /// server, trust anchors and ALPN).
    pub fn with_tls(mut self, tls: crate::tls::TlsClient) -> Self {
        self.tls = Some(tls);
        self
    }

    fn connect_error(&mut self, e: String) {
        if self.report.connect_errors.len() < CONNECT_ERRORS_KEPT {
            self.report.connect_errors.push(e);
        }
    }

    /// Opens session `i`'s connection (its first, or in `cps` the next one).
    fn open<S: Seam>(&mut self, api: &mut AppApi<'_, S>, i: usize) {
        if self.quic.is_some() {
            return self.open_quic(api, i);
        }
        let now = api.now_ns();
        let cs = &mut self.sessions[i];
        cs.conns_left = cs.conns_left.saturating_sub(1);
        cs.conn_start_ns = now;
        cs.sent_before += cs.sent;
        cs.sent = 0;
        cs.received = 0;
        cs.inflight.clear();
        let req = ConnectRequest { remote: self.cfg.remote, parent: None, options: self.cfg.options, opaque: i as u64 };
        let r = match &self.tls {
            Some(t) => api.connect_tls(req, t.clone()),
            None => api.connect(req),
        };
        if let Err(e) = r {
            self.sessions[i].done = true;
            self.connect_error(e.to_string());
        }
    }

    fn pump<S: Seam>(&mut self, api: &mut AppApi<'_, S>, i: usize) -> usize {
        let now = api.now_ns();
        let chunk = self.cfg.chunk;
        // One message in flight in `rr` and `cps`; `window` datagrams in `bulk`.
        let one = self.cfg.mode != EchoMode::Bulk;
        let window = if one { 1 } else { self.cfg.window };
        let cs = &mut self.sessions[i];
        let Some(h) = cs.handle else { return 0 };
        let mut work = 0;
        while cs.sent < cs.target {
            let left = usize::try_from(cs.target - cs.sent).unwrap_or(usize::MAX);
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
                if one && !cs.inflight.is_empty() {
                    break;
                }
                let len = left.min(chunk).min(space);
                // A message goes whole, so its round trip is one write's.
                if len == 0 || (one && len < left.min(chunk)) {
                    api.want_tx(h, true);
                    break;
                }
                let b = &mut self.buf[..len];
                fill_stream(b, cs.key, cs.sent);
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

    fn receive<S: Seam>(&mut self, api: &mut AppApi<'_, S>, i: usize) {
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
                bad += stream_mismatches(&self.buf[..n], cs.key, cs.received);
                let end = cs.received + n as u64;
                while cs.inflight.front().is_some_and(|&(o, _)| o <= end) {
                    let (_, t) = cs.inflight.pop_front().expect("checked");
                    samples.push(now.saturating_sub(t));
                }
            }
            cs.received += n as u64;
            self.report.bytes_received += n as u64;
            self.report.mismatched_bytes += bad;
            if self.cfg.mode != EchoMode::Cps {
                for s in samples {
                    self.report.rtt_sample(s);
                }
            }
        }
        self.check_done(api, i);
    }

    /// Ends session `i`'s connection once everything it was to send came back;
    /// in `cps`, opens the next one.
    fn check_done<S: Seam>(&mut self, api: &mut AppApi<'_, S>, i: usize) {
        let now = api.now_ns();
        let cs = &mut self.sessions[i];
        let Some(h) = cs.handle else { return };
        if cs.done || cs.received < cs.target {
            return;
        }
        if self.cfg.mode != EchoMode::Cps || self.quic.is_some() {
            cs.done = true;
            self.report.completed += 1;
            api.close(h);
            if self.quic.is_some() {
                self.quic_check_conn(api, i);
            }
            return;
        }
        // One connection done: close it without waiting, and go again.
        let took = now.saturating_sub(cs.conn_start_ns);
        cs.handle = None;
        self.by_handle.remove(&h);
        self.closing.insert(h);
        api.close(h);
        self.report.connections += 1;
        self.report.rtt_sample(took);
        let cs = &mut self.sessions[i];
        if cs.conns_left > 0 && !self.stopping {
            self.open(api, i);
        } else {
            cs.done = true;
            self.report.completed += 1;
        }
    }

    /// The duration is over: nothing new is sent or opened; what is in flight still counts.
    fn stop<S: Seam>(&mut self, api: &mut AppApi<'_, S>) {
        self.stopping = true;
        for i in 0..self.sessions.len() {
            let cs = &mut self.sessions[i];
            if self.cfg.mode == EchoMode::Cps {
                cs.conns_left = 0;
            } else {
                cs.target = cs.sent;
                self.check_done(api, i);
            }
        }
    }

    fn finish(&mut self, now: u64, timed_out: bool) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.report.timed_out = timed_out;
        self.report.duration_ns = now.saturating_sub(self.started_ns.unwrap_or(now));
        self.report.bytes_sent = self.sessions.iter().map(|s| s.sent_before + s.sent).sum();
        // A copy, so `describe` still tells what this instance did.
        let _ = self.results.send(self.report.clone());
    }
}

impl<S: Seam> BuiltinApp<S> for EchoClient {
    fn connected(&mut self, api: &mut AppApi<'_, S>, opaque: u64, result: Result<SessionHandle, ConnectError>) {
        if opaque & QUIC_CONN != 0 {
            let c = (opaque & !QUIC_CONN) as usize;
            if c >= self.conns.len() {
                return;
            }
            match result {
                Ok(h) => {
                    self.conns[c] = QuicSlot::Ready(h);
                    for i in c * self.streams..(c + 1) * self.streams {
                        if !self.sessions[i].done && self.sessions[i].handle.is_none() {
                            self.open_quic(api, i);
                        }
                    }
                }
                Err(e) => self.quic_conn_failed(c, e.as_str().to_string()),
            }
            return;
        }
        let i = opaque as usize;
        match result {
            Ok(h) => {
                self.report.connected = self.report.connected.saturating_add(1);
                let dgram = api.info(h).is_some_and(|x| x.proto.is_dgram());
                if let Some(cs) = self.sessions.get_mut(i) {
                    cs.handle = Some(h);
                    cs.dgram = dgram;
                    cs.last_progress_ns = api.now_ns();
                    self.by_handle.insert(h, i);
                    self.pump(api, i);
                    // A duration that ended while connecting leaves nothing to send.
                    self.check_done(api, i);
                }
            }
            Err(e) => {
                self.connect_error(e.as_str().to_string());
                if let Some(cs) = self.sessions.get_mut(i) {
                    cs.done = true;
                }
            }
        }
    }

    fn rx(&mut self, api: &mut AppApi<'_, S>, s: SessionHandle) {
        if let Some(&i) = self.by_handle.get(&s) {
            self.receive(api, i);
            if !self.sessions[i].done {
                self.pump(api, i);
            }
        }
    }

    fn tx(&mut self, api: &mut AppApi<'_, S>, s: SessionHandle) {
        if let Some(&i) = self.by_handle.get(&s) {
            api.want_tx(s, false);
            self.pump(api, i);
        }
    }

    fn disconnected(&mut self, api: &mut AppApi<'_, S>, s: SessionHandle) {
        if let Some(c) = self.quic_conn_of(s) {
            self.conns[c] = QuicSlot::Done;
        }
        if let Some(&i) = self.by_handle.get(&s) {
            self.sessions[i].done = true;
        }
        api.close(s);
    }

    fn reset(&mut self, _api: &mut AppApi<'_, S>, s: SessionHandle) {
        if let Some(c) = self.quic_conn_of(s) {
            self.conns[c] = QuicSlot::Done;
        }
        self.closing.remove(&s);
        if let Some(i) = self.by_handle.remove(&s) {
            self.sessions[i].done = true;
            self.sessions[i].handle = None;
        }
    }

    fn closed(&mut self, _api: &mut AppApi<'_, S>, s: SessionHandle) {
        self.closing.remove(&s);
        if let Some(i) = self.by_handle.remove(&s) {
            self.sessions[i].handle = None;
        }
    }

    fn poll(&mut self, api: &mut AppApi<'_, S>) -> usize {
        if self.finished {
            return 0;
        }
        let now = api.now_ns();
        let Some(start) = self.started_ns else {
            self.started_ns = Some(now);
            for i in 0..self.sessions.len() {
                if self.sessions[i].conns_left == 0 {
                    // `cps` with fewer connections than slots: this one has none.
                    self.sessions[i].done = true;
                    self.report.completed += 1;
                } else {
                    self.open(api, i);
                }
            }
            return self.sessions.len().max(1);
        };
        if !self.stopping && self.cfg.duration_ns > 0 && now.saturating_sub(start) >= self.cfg.duration_ns {
            self.stop(api);
        }
        let mut work = 0;
        for i in 0..self.sessions.len() {
            let cs = &mut self.sessions[i];
            if cs.done || cs.handle.is_none() {
                continue;
            }
            // Datagrams that never came back: after a quiet spell with
            // everything sent, count them lost and end the session.
            if cs.dgram && cs.sent >= cs.target && now.saturating_sub(cs.last_progress_ns) > DGRAM_LOSS_WAIT_NS {
                self.report.lost_datagrams += cs.inflight.len() as u64;
                cs.inflight.clear();
                cs.done = true;
                if let Some(h) = cs.handle {
                    api.close(h);
                }
                continue;
            }
            if cs.dgram && cs.sent < cs.target && now.saturating_sub(cs.last_progress_ns) > DGRAM_LOSS_WAIT_NS {
                // The window is full of lost datagrams: write them off and go on.
                self.report.lost_datagrams += cs.inflight.len() as u64;
                cs.inflight.clear();
                cs.last_progress_ns = now;
            }
            work += self.pump(api, i);
        }
        if self.closing.is_empty() && self.sessions.iter().all(|s| s.done && s.handle.is_none()) {
            self.finish(now, false);
        } else if now.saturating_sub(start) > self.cfg.timeout_ns.saturating_add(self.cfg.duration_ns) {
            for cs in &mut self.sessions {
                if let Some(h) = cs.handle.take() {
                    api.close(h);
                }
            }
            for c in &mut self.conns {
                if let QuicSlot::Ready(h) = *c {
                    api.close(h);
                }
                *c = QuicSlot::Done;
            }
            self.finish(now, true);
        }
        work
    }

    fn snapshot(&self) -> Option<BuiltinAppSnapshot> {
        Some(BuiltinAppSnapshot::EchoClient {
            mode: self.cfg.mode,
            remote: self.cfg.remote,
            done: self.sessions.iter().filter(|s| s.done).count(),
            sessions: self.sessions.len(),
            bytes_back: self.report.bytes_received,
            connections: (self.cfg.mode == EchoMode::Cps).then_some(self.report.connections),
        })
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use ::echo::{merge_reports, RTT_SAMPLES};

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
            mode: EchoMode::Bulk,
            connections: 0,
            duration_ns: 0,
        };
        let mut keys = vec![];
        for w in 0..3 {
            let c = EchoClient::new(cfg.clone(), w, 3, tx.clone());
            keys.extend(c.sessions.iter().map(|s| s.key));
        }
        assert_eq!(keys, (0..7).collect::<Vec<_>>());
    }

    #[test]
    fn connections_are_shared_over_sessions() {
        assert_eq!((0..3).map(|k| share(10, k, 3)).collect::<Vec<_>>(), vec![4, 3, 3]);
        assert_eq!((0..4).map(|k| share(2, k, 4)).sum::<u64>(), 2);
        assert_eq!(share(5, 0, 0), 5, "no sessions: all to the first");
        // Slots get their share by global key, whatever the worker.
        let (tx, _rx) = mpsc::channel();
        let cfg = EchoClientConfig {
            remote: "tcp://1.2.3.4/7".parse().unwrap(),
            sessions: 5,
            bytes: 10,
            chunk: 64,
            window: 1,
            timeout_ns: 1,
            options: TransportOptions::default(),
            mode: EchoMode::Cps,
            connections: 12,
            duration_ns: 0,
        };
        let left: Vec<u64> = (0..2)
            .flat_map(|w| EchoClient::new(cfg.clone(), w, 2, tx.clone()).sessions.into_iter().map(|s| s.conns_left))
            .collect();
        assert_eq!(left, vec![3, 3, 2, 2, 2]);
        // Time-bound: no count limit; a bulk or rr session sends until stopped.
        let timed = EchoClientConfig { connections: 0, duration_ns: 5, ..cfg.clone() };
        let c = EchoClient::new(timed.clone(), 0, 1, tx.clone());
        assert!(c.sessions.iter().all(|s| s.conns_left == u64::MAX && s.target == 64));
        let c = EchoClient::new(EchoClientConfig { mode: EchoMode::Rr, ..timed }, 0, 1, tx.clone());
        assert!(c.sessions.iter().all(|s| s.target == u64::MAX));
        let c = EchoClient::new(EchoClientConfig { mode: EchoMode::Rr, ..cfg }, 0, 1, tx);
        assert!(c.sessions.iter().all(|s| s.target == 10), "bytes per session");
    }

    #[test]
    fn report_prints_rates_for_its_mode() {
        let mut r = EchoReport { sessions: 1, completed: 1, duration_ns: 2_000_000_000, ..Default::default() };
        for ns in [10_000, 20_000, 30_000, 40_000] {
            r.rtt_sample(ns);
        }
        assert_eq!(r.rtt_seen, 4);
        assert!(!r.format().contains("transactions") && !r.format().contains("connections"), "bulk");
        r.mode = EchoMode::Rr;
        assert_eq!(r.transactions_per_sec(), 2.0);
        assert!(r.format().contains("transactions 4 (2/s)"), "{}", r.format());
        r.mode = EchoMode::Cps;
        r.connections = 3000;
        assert!(r.format().contains("connections 3000 (1500/s)"), "{}", r.format());
        assert!(r.format().contains("p50 30.0 us p99 40.0 us"), "{}", r.format());
        let m = merge_reports(vec![r.clone(), r]);
        assert_eq!((m.mode, m.connections, m.rtt_seen), (EchoMode::Cps, 6000, 8));
        assert_eq!(EchoReport::default().connections_per_sec(), 0.0, "no duration, no rate");
    }

    #[test]
    fn reservoir_keeps_at_most_its_size() {
        let mut r = EchoReport::default();
        for ns in 0..(RTT_SAMPLES as u64 + 1000) {
            r.rtt_sample(ns);
        }
        assert_eq!(r.rtt_ns.len(), RTT_SAMPLES);
        assert_eq!(r.rtt_seen, RTT_SAMPLES as u64 + 1000);
        assert!(r.rtt_ns.iter().any(|&x| x >= RTT_SAMPLES as u64), "late samples get in");
    }
}
