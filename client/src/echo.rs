//! External echo server and client: the twins of the node's builtin echo
//! apps (`test echo server|client`), running in their own process on this
//! library. They take the same options, check data with the same pattern
//! and print the same report ([`::echo`]), so builtin and external runs
//! compare directly; `dpnode echo ...` and the `dpnode-echo` binary run them.
//!
//! The server echoes every unit it reads (a datagram, or stream bytes) on
//! every session of every worker thread; whatever does not fit in the tx
//! fifo waits for the session's writable event. The client opens `sessions`
//! sessions spread over its threads and runs the builtin client's modes
//! ([`EchoMode`]): `bulk` sends `bytes` on each (datagrams carry a sequence
//! number, at most `window` in flight per session), `rr` keeps one
//! `chunk`-sized message in flight per session, `cps` has each session
//! connect, echo one chunk and close, over and over; `duration` bounds a run
//! by time instead. It checks every byte that comes back; round trips are
//! sampled per chunk (per connection in `cps`).

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::echo::{
    check_dgram, fill_dgram, fill_stream, merge_reports, share, stream_mismatches, EchoMode, EchoReport,
    DGRAM_LOSS_WAIT_NS, SEQ_LEN,
};

use app_options::{AppCommon, EchoClientOptions, EchoServerOptions, External};

use crate::{App, AttachOptions, Endpoint, Error, Event, SessionId, TransportOptions, Worker};

/// The node's default API socket.
pub const DEFAULT_SOCKET: &str = "/run/dpnode/api.sock";

/// Usage of `dpnode echo` / `dpnode-echo`.
pub const USAGE: &str = "\
usage:
  echo server uri URI [socket PATH] [name N] [threads N] [duration SECONDS] [OPTIONS]
  echo client uri URI [socket PATH] [name N] [threads N] [mode bulk|rr|cps] [sessions N] [bytes SIZE]
              [chunk SIZE] [window N] [connections N] [duration SECONDS] [timeout SECONDS]
              [mss N] [cc newreno|cubic] [no-delay on] [OPTIONS]
options (as for the node's test echo): [scope global|local|both] [namespace ID secret N]
  [fifo-size SIZE] [segment-size SIZE] [add-segment-size SIZE] [prealloc-fifos N]
  [event-queue-size N] [eventfd on|off] [proxy tcp|udp|both|none]";

/// What the echo server is asked to do.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// API socket.
    pub socket: PathBuf,
    /// Where to listen.
    pub uri: Endpoint,
    /// Application name.
    pub name: String,
    /// Attach options.
    pub opts: AttachOptions,
    /// Worker threads (app workers), each listening on `uri`.
    pub threads: usize,
    /// Stop after this long (`None`: until killed).
    pub duration: Option<Duration>,
}

/// What the echo client is asked to do.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// API socket.
    pub socket: PathBuf,
    /// Server.
    pub uri: Endpoint,
    /// Application name.
    pub name: String,
    /// Attach options.
    pub opts: AttachOptions,
    /// Worker threads (app workers); sessions are spread over them.
    pub threads: usize,
    /// Sessions in all.
    pub sessions: u32,
    /// Bytes per session.
    pub bytes: u64,
    /// Largest write (a datagram's size on UDP).
    pub chunk: usize,
    /// Datagrams in flight per session.
    pub window: usize,
    /// Give up after this long (counted after `duration`).
    pub timeout: Duration,
    /// Transport options for the connects.
    pub connect: TransportOptions,
    /// What to measure.
    pub mode: EchoMode,
    /// `cps`: connections in all, spread over the sessions; 0 = no limit (`duration` ends the run).
    pub connections: u64,
    /// Run this long instead of moving `bytes` per session (`bulk`, `rr`), or at most this long (`cps`).
    pub duration: Option<Duration>,
}

/// What the echo server did.
#[derive(Debug, Default)]
pub struct ServerTotals {
    /// Sessions accepted.
    pub accepted: AtomicU64,
    /// Units (datagrams or reads) echoed.
    pub units: AtomicU64,
    /// Bytes echoed.
    pub bytes: AtomicU64,
}

/// A server session: what did not fit in the tx fifo yet.
struct Echoing {
    pending: Vec<u8>,
    /// The peer closed its side: close once everything read is echoed.
    peer_closed: bool,
}

/// Whether a session whose peer closed has echoed all it read (nothing pending, nothing
/// left to read): then it can be closed.
fn echoed_all(w: &Worker, s: SessionId, st: &Echoing) -> bool {
    st.pending.is_empty() && w.rx_pending(s).is_none_or(|n| n == 0)
}

/// Echoes what session `s` has, until it would block either way; `false` if a stream
/// session failed (it cannot echo any more: close it; a datagram that fails is dropped).
fn echo(w: &mut Worker, s: SessionId, st: &mut Echoing, buf: &mut [u8], totals: &ServerTotals) -> bool {
    let dgram = w.session(s).is_some_and(|i| i.transport.is_dgram());
    loop {
        if !st.pending.is_empty() {
            match w.write(s, &st.pending) {
                Ok(n) if n == st.pending.len() => st.pending.clear(),
                Ok(n) => {
                    st.pending.drain(..n);
                    return true;
                }
                Err(Error::WouldBlock) => return true,
                Err(_) => {
                    st.pending.clear();
                    return dgram;
                }
            }
        }
        let n = match w.read(s, buf) {
            Ok(0) if !dgram => return true,
            Ok(n) => n,
            Err(Error::WouldBlock) => return true,
            Err(_) => return dgram,
        };
        totals.units.fetch_add(1, Ordering::Relaxed);
        totals.bytes.fetch_add(n as u64, Ordering::Relaxed);
        match w.write(s, &buf[..n]) {
            Ok(m) if m == n => {}
            Ok(m) => st.pending.extend_from_slice(&buf[m..n]),
            Err(Error::WouldBlock) => st.pending.extend_from_slice(&buf[..n]),
            Err(_) => return dgram,
        }
    }
}

fn serve_worker(
    mut w: Worker,
    uri: Endpoint,
    stop: &AtomicBool,
    totals: &ServerTotals,
    ready: &dyn Fn(),
) -> Result<(), Error> {
    let l = w.listen(uri)?;
    ready();
    let mut sessions: HashMap<SessionId, Echoing> = HashMap::new();
    let mut events = Vec::with_capacity(256);
    let mut buf = vec![0u8; 64 << 10];
    while !stop.load(Ordering::Relaxed) {
        events.clear();
        w.wait(&mut events, 256, Some(Duration::from_millis(100)))?;
        for &ev in &events {
            match ev {
                Event::Accept(l) => {
                    while let Some(s) = w.accept(l)? {
                        totals.accepted.fetch_add(1, Ordering::Relaxed);
                        sessions.insert(s, Echoing { pending: Vec::new(), peer_closed: false });
                    }
                }
                Event::Readable(s) | Event::Writable(s) | Event::PeerClosed(s) => {
                    let Some(st) = sessions.get_mut(&s) else {
                        if matches!(ev, Event::PeerClosed(_)) {
                            let _ = w.close(s);
                        }
                        continue;
                    };
                    st.peer_closed |= matches!(ev, Event::PeerClosed(_));
                    let alive = echo(&mut w, s, st, &mut buf, totals);
                    // What did not fit in the tx fifo goes on the next Writable event
                    // (a write that falls short asks for one); the session closes after.
                    if !alive || (st.peer_closed && echoed_all(&w, s, st)) {
                        sessions.remove(&s);
                        let _ = w.close(s);
                    }
                }
                Event::Reset(s) => {
                    sessions.remove(&s);
                }
                Event::Connected { .. } => {}
            }
        }
    }
    let _ = w.unlisten(l);
    Ok(())
}

/// Runs the echo server until `stop` is set (or its duration passes); `ready` is called once every thread listens.
pub fn run_server(cfg: &ServerConfig, stop: &AtomicBool, ready: impl Fn() + Sync) -> Result<Arc<ServerTotals>, Error> {
    let (app, first) = App::attach(&cfg.socket, &cfg.name, &cfg.opts)?;
    let mut workers = vec![first];
    for _ in 1..cfg.threads.max(1) {
        workers.push(app.worker_add()?);
    }
    let totals = Arc::new(ServerTotals::default());
    let listening = AtomicU64::new(0);
    let n = workers.len() as u64;
    let started = Instant::now();
    let stop_all = AtomicBool::new(false);
    let result = std::thread::scope(|sc| {
        let handles: Vec<_> = workers
            .into_iter()
            .map(|w| {
                let (totals, stop_all, listening, ready) = (&totals, &stop_all, &listening, &ready);
                sc.spawn(move || {
                    let r = serve_worker(w, cfg.uri, stop_all, totals, &|| {
                        if listening.fetch_add(1, Ordering::SeqCst) + 1 == n {
                            ready();
                        }
                    });
                    if r.is_err() {
                        stop_all.store(true, Ordering::SeqCst);
                    }
                    r
                })
            })
            .collect();
        while !stop_all.load(Ordering::Relaxed) {
            if stop.load(Ordering::Relaxed) || cfg.duration.is_some_and(|d| started.elapsed() >= d) {
                stop_all.store(true, Ordering::SeqCst);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err(Error::Protocol("worker thread panicked".into()))))
            .collect::<Result<Vec<()>, Error>>()
    });
    let _ = app.detach();
    result.map(|_| totals)
}

/// Connect errors kept word for word in a report (`cps` could fail thousands of times).
const CONNECT_ERRORS_KEPT: usize = 16;

/// One client session slot (in `cps`, one connection after another).
struct Cs {
    id: Option<SessionId>,
    key: u32,
    dgram: bool,
    // Offsets in the current connection.
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
    conn_start: Instant,
    // Stream: (end offset, send time) per chunk. Datagram: (sequence, send time).
    inflight: VecDeque<(u64, Instant)>,
    next_seq: u64,
    done: bool,
    last_progress: Instant,
}

struct ClientRun<'a> {
    cfg: &'a ClientConfig,
    w: Worker,
    sessions: Vec<Cs>,
    by_id: HashMap<SessionId, usize>,
    report: EchoReport,
    buf: Vec<u8>,
    start: Instant,
    stopping: bool,
}

impl ClientRun<'_> {
    fn connect_error(&mut self, e: String) {
        if self.report.connect_errors.len() < CONNECT_ERRORS_KEPT {
            self.report.connect_errors.push(e);
        }
    }

    /// Opens slot `i`'s connection (its first, or in `cps` the next one).
    fn open(&mut self, i: usize) {
        let cs = &mut self.sessions[i];
        cs.conns_left = cs.conns_left.saturating_sub(1);
        cs.conn_start = Instant::now();
        cs.sent_before += cs.sent;
        cs.sent = 0;
        cs.received = 0;
        cs.inflight.clear();
        if let Err(e) = self.w.connect_async(self.cfg.uri, self.cfg.connect, i as u64) {
            self.sessions[i].done = true;
            self.connect_error(e.to_string());
        }
    }

    fn pump(&mut self, i: usize) {
        let chunk = self.cfg.chunk;
        // One message in flight in `rr` and `cps`; `window` datagrams in `bulk`.
        let one = self.cfg.mode != EchoMode::Bulk;
        let window = if one { 1 } else { self.cfg.window };
        let cs = &mut self.sessions[i];
        let Some(s) = cs.id else { return };
        while cs.sent < cs.target {
            let left = usize::try_from(cs.target - cs.sent).unwrap_or(usize::MAX);
            if cs.dgram {
                if cs.inflight.len() >= window {
                    return;
                }
                let len = left.min(chunk).max(SEQ_LEN);
                let b = &mut self.buf[..len];
                fill_dgram(b, cs.key, cs.next_seq);
                if self.w.write(s, b).is_err() {
                    return;
                }
                cs.inflight.push_back((cs.next_seq, Instant::now()));
                cs.next_seq += 1;
                cs.sent += len as u64;
            } else {
                if one && !cs.inflight.is_empty() {
                    return;
                }
                let len = left.min(chunk);
                // A message goes whole, so its round trip is one write's.
                if one && self.w.write_space(s) < len {
                    let _ = self.w.want_writable(s);
                    return;
                }
                let b = &mut self.buf[..len];
                fill_stream(b, cs.key, cs.sent);
                match self.w.write(s, b) {
                    Ok(n) => {
                        cs.sent += n as u64;
                        cs.inflight.push_back((cs.sent, Instant::now()));
                        if n < len {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
        }
    }

    fn receive(&mut self, i: usize) {
        let Some(s) = self.sessions[i].id else { return };
        loop {
            let n = match self.w.read(s, &mut self.buf) {
                Ok(0) if !self.sessions[i].dgram => {
                    // The server closed before everything came back.
                    self.sessions[i].done = true;
                    break;
                }
                Ok(n) => n,
                Err(_) => break,
            };
            let now = Instant::now();
            let cps = self.cfg.mode == EchoMode::Cps;
            let cs = &mut self.sessions[i];
            cs.last_progress = now;
            if cs.dgram {
                let (seq, ok) = check_dgram(&self.buf[..n], cs.key);
                if !ok {
                    self.report.mismatched_bytes += n as u64;
                }
                if let Some(pos) = cs.inflight.iter().position(|&(q, _)| q == seq) {
                    let (_, t) = cs.inflight.remove(pos).expect("found");
                    if !cps {
                        self.report.rtt_sample(now.duration_since(t).as_nanos() as u64);
                    }
                }
            } else {
                self.report.mismatched_bytes += stream_mismatches(&self.buf[..n], cs.key, cs.received);
                let end = cs.received + n as u64;
                while cs.inflight.front().is_some_and(|&(o, _)| o <= end) {
                    let (_, t) = cs.inflight.pop_front().expect("checked");
                    if !cps {
                        self.report.rtt_sample(now.duration_since(t).as_nanos() as u64);
                    }
                }
            }
            cs.received += n as u64;
            self.report.bytes_received += n as u64;
        }
        self.check_done(i);
    }

    /// Ends slot `i`'s connection once everything it was to send came back; in `cps`, opens the next.
    fn check_done(&mut self, i: usize) {
        let cs = &mut self.sessions[i];
        let Some(s) = cs.id else { return };
        if cs.received < cs.target {
            return;
        }
        cs.id = None;
        self.by_id.remove(&s);
        let _ = self.w.close(s);
        if self.cfg.mode != EchoMode::Cps {
            if !cs.done {
                self.report.completed += 1;
            }
            cs.done = true;
            return;
        }
        let took = cs.conn_start.elapsed().as_nanos() as u64;
        self.report.connections += 1;
        self.report.rtt_sample(took);
        if cs.conns_left > 0 && !self.stopping {
            self.open(i);
        } else {
            cs.done = true;
            self.report.completed += 1;
        }
    }

    /// The duration is over: nothing new is sent or opened; what is in flight still counts.
    fn stop(&mut self) {
        self.stopping = true;
        for i in 0..self.sessions.len() {
            if self.cfg.mode == EchoMode::Cps {
                self.sessions[i].conns_left = 0;
            } else {
                let cs = &mut self.sessions[i];
                cs.target = cs.sent;
                self.check_done(i);
            }
        }
    }

    /// Datagrams that never came back: after a quiet spell, count them lost.
    fn check_losses(&mut self) {
        let now = Instant::now();
        let wait = Duration::from_nanos(DGRAM_LOSS_WAIT_NS);
        for i in 0..self.sessions.len() {
            let cs = &mut self.sessions[i];
            if cs.done || !cs.dgram || cs.id.is_none() || now.duration_since(cs.last_progress) <= wait {
                continue;
            }
            self.report.lost_datagrams += cs.inflight.len() as u64;
            cs.inflight.clear();
            cs.last_progress = now;
            if cs.sent >= cs.target {
                cs.done = true;
                if let Some(s) = cs.id.take() {
                    self.by_id.remove(&s);
                    let _ = self.w.close(s);
                }
            } else {
                self.pump(i);
            }
        }
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Connected { opaque, result } => {
                let i = opaque as usize;
                match result {
                    Ok(s) if i < self.sessions.len() && self.sessions[i].id.is_none() && !self.sessions[i].done => {
                        self.report.connected = self.report.connected.saturating_add(1);
                        let dgram = self.w.session(s).is_some_and(|x| x.transport.is_dgram());
                        let cs = &mut self.sessions[i];
                        cs.id = Some(s);
                        cs.dgram = dgram;
                        cs.last_progress = Instant::now();
                        self.by_id.insert(s, i);
                        self.pump(i);
                        // A duration that ended while connecting leaves nothing to send.
                        self.check_done(i);
                    }
                    Ok(s) => {
                        let _ = self.w.close(s);
                    }
                    Err(code) => {
                        self.connect_error(Error::from_code(code).to_string());
                        if let Some(cs) = self.sessions.get_mut(i) {
                            cs.done = true;
                        }
                    }
                }
            }
            Event::Readable(s) => {
                if let Some(&i) = self.by_id.get(&s) {
                    self.receive(i);
                    self.pump(i);
                }
            }
            Event::Writable(s) => {
                if let Some(&i) = self.by_id.get(&s) {
                    self.pump(i);
                }
            }
            Event::PeerClosed(s) | Event::Reset(s) => {
                if let Some(&i) = self.by_id.get(&s) {
                    self.receive(i);
                    if let Some(s) = self.sessions[i].id.take() {
                        self.by_id.remove(&s);
                        if matches!(ev, Event::PeerClosed(_)) {
                            let _ = self.w.close(s);
                        }
                    }
                    self.sessions[i].done = true;
                }
            }
            Event::Accept(_) => {}
        }
    }

    fn run(mut self) -> Result<EchoReport, Error> {
        for i in 0..self.sessions.len() {
            if self.sessions[i].conns_left == 0 {
                // `cps` with fewer connections than slots: this one has none.
                self.sessions[i].done = true;
                self.report.completed += 1;
            } else {
                self.open(i);
            }
        }
        let mut events = Vec::with_capacity(256);
        let limit = self.cfg.timeout + self.cfg.duration.unwrap_or_default();
        let mut timed_out = false;
        while !self.sessions.iter().all(|s| s.done && s.id.is_none()) {
            let elapsed = self.start.elapsed();
            if !self.stopping && self.cfg.duration.is_some_and(|d| elapsed >= d) {
                self.stop();
            }
            if elapsed > limit {
                timed_out = true;
                break;
            }
            events.clear();
            self.w.wait(&mut events, 256, Some(Duration::from_millis(50)))?;
            for &ev in &events {
                self.on_event(ev);
            }
            self.check_losses();
        }
        for cs in &mut self.sessions {
            if let Some(s) = cs.id.take() {
                let _ = self.w.close(s);
            }
        }
        let _ = self.w.flush(Duration::from_secs(2));
        self.report.timed_out = timed_out;
        self.report.duration_ns = self.start.elapsed().as_nanos() as u64;
        self.report.bytes_sent = self.sessions.iter().map(|s| s.sent_before + s.sent).sum();
        Ok(self.report)
    }
}

/// Runs the echo client to the end and returns the merged report of its threads.
pub fn run_client(cfg: &ClientConfig) -> Result<EchoReport, Error> {
    if cfg.chunk < SEQ_LEN + 1 || cfg.chunk > 65536 {
        return Err(Error::Invalid(format!("chunk {} must be 9..=65536 bytes", cfg.chunk)));
    }
    let (app, first) = App::attach(&cfg.socket, &cfg.name, &cfg.opts)?;
    let threads = cfg.threads.max(1).min(cfg.sessions.max(1) as usize);
    let mut workers = vec![first];
    for _ in 1..threads {
        workers.push(app.worker_add()?);
    }
    let start = Instant::now();
    let target = match cfg.mode {
        EchoMode::Cps => cfg.chunk as u64,
        _ if cfg.duration.is_some() => u64::MAX,
        _ => cfg.bytes,
    };
    let reports = std::thread::scope(|sc| {
        let handles: Vec<_> = workers
            .into_iter()
            .enumerate()
            .map(|(t, w)| {
                let t = t as u32;
                let n = threads as u32;
                let mine = cfg.sessions / n + u32::from(t < cfg.sessions % n);
                // Session keys are global so every session has its own pattern.
                let first = t * (cfg.sessions / n) + t.min(cfg.sessions % n);
                sc.spawn(move || {
                    let sessions = (0..mine)
                        .map(|k| Cs {
                            id: None,
                            key: first + k,
                            dgram: false,
                            sent: 0,
                            received: 0,
                            target,
                            sent_before: 0,
                            conns_left: match (cfg.connections, cfg.duration) {
                                (0, None) => 1,
                                (0, Some(_)) => u64::MAX,
                                (c, _) => share(c, first + k, cfg.sessions),
                            },
                            conn_start: Instant::now(),
                            inflight: VecDeque::new(),
                            next_seq: 0,
                            done: false,
                            last_progress: Instant::now(),
                        })
                        .collect();
                    let run = ClientRun {
                        cfg,
                        w,
                        sessions,
                        by_id: HashMap::new(),
                        report: EchoReport { worker: t, sessions: mine, mode: cfg.mode, ..Default::default() },
                        buf: vec![0u8; cfg.chunk.max(64 << 10)],
                        start,
                        stopping: false,
                    };
                    run.run()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err(Error::Protocol("client thread panicked".into()))))
            .collect::<Vec<_>>()
    });
    let _ = app.detach();
    let mut all = Vec::new();
    for r in reports {
        all.push(r?);
    }
    Ok(merge_reports(all))
}

/// The attach options an external echo app's options give (unset ones at the library's defaults).
fn attach_options(c: &AppCommon, x: &External) -> AttachOptions {
    x.attach_options(c.attach_options(AttachOptions::default()))
}

/// The app name: given, or derived from the kind, the uri and the pid.
fn app_name(c: &AppCommon, kind: &str) -> String {
    c.name
        .clone()
        .unwrap_or_else(|| format!("ext-{kind}-{}-{}-{}", c.uri.proto.as_str(), c.uri.port, std::process::id()))
}

/// Parses `server|client uri URI [key value]...` with the echo apps' options adapter ([`app_options`]).
pub fn parse(args: &[String]) -> Result<Result<ServerConfig, ClientConfig>, String> {
    let (server, words) = match args.first().map(String::as_str) {
        Some("server") => (true, &args[1..]),
        Some("client") => (false, &args[1..]),
        _ => return Err("expected server or client".into()),
    };
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let socket = |x: &External| x.socket.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET));
    let threads = |x: &External| x.threads.map_or(1, |n| n as usize);
    Ok(if server {
        let o = EchoServerOptions::from_words(&words).map_err(|e| e.to_string())?;
        o.tls.refuse_for_external().map_err(|e| e.to_string())?;
        Ok(ServerConfig {
            socket: socket(&o.external),
            uri: o.common.uri,
            name: app_name(&o.common, "echo-server"),
            opts: attach_options(&o.common, &o.external),
            threads: threads(&o.external),
            duration: o.server.duration,
        })
    } else {
        // The builtin client's defaults and rules.
        let o = EchoClientOptions::from_words(&words).map_err(|e| e.to_string())?;
        o.tls.refuse_for_external().map_err(|e| e.to_string())?;
        Err(ClientConfig {
            socket: socket(&o.external),
            uri: o.common.uri,
            name: app_name(&o.common, "echo-client"),
            opts: attach_options(&o.common, &o.external),
            threads: threads(&o.external),
            sessions: o.sessions(),
            bytes: o.bytes(),
            chunk: o.chunk(),
            window: o.window(),
            timeout: o.timeout(),
            connect: o.common.transport(),
            mode: o.mode(),
            connections: o.connections(),
            duration: o.client.duration,
        })
    })
}

/// `echo server|client KEY VALUE...`: which app, then its options as word
/// pairs (the same words as the node's `test echo server|client`).
#[derive(Debug, Clone, clap::Subcommand)]
pub enum EchoCommand {
    /// An echo server: echoes every datagram or byte it reads until killed (or `duration`)
    #[command(after_help = USAGE)]
    Server {
        /// `uri URI [KEY VALUE]...`
        #[arg(value_name = "KEY VALUE", required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        words: Vec<String>,
    },
    /// An echo client: sends the echo pattern, checks every byte that comes back and reports
    #[command(after_help = USAGE)]
    Client {
        /// `uri URI [KEY VALUE]...`
        #[arg(value_name = "KEY VALUE", required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        words: Vec<String>,
    },
}

impl EchoCommand {
    /// `server|client` followed by the words, as [`parse`] takes them.
    pub fn args(&self) -> Vec<String> {
        let (role, words) = match self {
            EchoCommand::Server { words } => ("server", words),
            EchoCommand::Client { words } => ("client", words),
        };
        std::iter::once(role.to_string()).chain(words.iter().cloned()).collect()
    }
}

/// Why an echo app did not run to the end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// Its options are wrong (exit status 2).
    #[error("echo: {0}")]
    Usage(String),
    /// It failed (exit status 1).
    #[error("echo {0}")]
    Failed(String),
}

/// Runs `echo server|client ...`: the server until killed (or its duration),
/// the client to the end, printing its report; `Ok(false)` when the client's
/// data did not all come back intact.
pub fn run(cmd: &EchoCommand) -> Result<bool, RunError> {
    match parse(&cmd.args()).map_err(RunError::Usage)? {
        Ok(server) => {
            let stop = AtomicBool::new(false);
            let t = run_server(&server, &stop, || {
                println!("{} listening on {}", server.name, server.uri);
                let _ = std::io::stdout().flush();
            })
            .map_err(|e| RunError::Failed(format!("server: {e}")))?;
            println!(
                "{}: {} sessions accepted, {} units / {} bytes echoed",
                server.name,
                t.accepted.load(Ordering::Relaxed),
                t.units.load(Ordering::Relaxed),
                t.bytes.load(Ordering::Relaxed)
            );
            Ok(true)
        }
        Err(client) => {
            let report = run_client(&client).map_err(|e| RunError::Failed(format!("client: {e}")))?;
            print!("{} -> {}\n{}", client.name, client.uri, report.format());
            let _ = std::io::stdout().flush();
            Ok(report.ok())
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use shm::limits;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options_parse_and_errors_name_the_word() {
        let c = parse(&words("client uri udp://198.18.0.1/7 sessions 4 bytes 1m threads 2 scope local eventfd off"))
            .unwrap()
            .unwrap_err();
        assert_eq!((c.sessions, c.bytes, c.chunk, c.threads), (4, 1 << 20, 1400, 2));
        assert!(c.opts.scope.local && !c.opts.scope.global && !c.opts.use_eventfd);
        let s = parse(&words("server uri tcp://0.0.0.0/7 fifo-size 128k namespace blue secret 42")).unwrap().unwrap();
        assert_eq!((s.opts.rx_fifo_size, s.opts.namespace.as_str(), s.opts.secret), (128 << 10, "blue", 42));
        for (bad, word) in [
            ("server uri udp://0.0.0.0/7 sessions 4", "sessions"),
            ("server uri bogus", "uri"),
            ("client uri udp://1.1.1.1/7 chunk 3", "chunk"),
            ("client uri udp://1.1.1.1/7 colour red", "colour"),
            ("client sessions", "needs a value"),
            ("sideways", "server or client"),
        ] {
            let e = parse(&words(bad)).unwrap_err();
            assert!(e.contains(word), "{bad}: {e}");
        }
        assert_eq!(limits::parse_size("64k"), Some(65536));
        // The same ranges as the node's config and CLI (shm::limits).
        for (bad, word) in [
            ("client uri tcp://1.2.3.4/7 mss 0", "mss: 0 is outside 88..=9000"),
            ("client uri tcp://1.2.3.4/7 mss 1", "mss: 1 is outside 88..=9000"),
            ("client uri tcp://1.2.3.4/7 no-delay maybe", "no-delay: \"maybe\" is not on or off"),
            ("server uri tcp://0.0.0.0/7 fifo-size 5000", "fifo-size: 5000 is not a power of two"),
            ("client uri tcp://1.2.3.4/7 sessions 0", "sessions: 0 is outside 1..=16384"),
        ] {
            let e = parse(&words(bad)).unwrap_err();
            assert!(e.contains(word), "{bad}: {e}");
        }
        let c = parse(&words("client uri tcp://1.2.3.4/7 mode cps sessions 4")).unwrap().unwrap_err();
        assert_eq!((c.mode, c.connections, c.duration), (EchoMode::Cps, 1000, None));
        let c = parse(&words("client uri tcp://1.2.3.4/7 mode rr duration 2.5")).unwrap().unwrap_err();
        assert_eq!((c.mode, c.connections, c.duration), (EchoMode::Rr, 0, Some(Duration::from_millis(2500))));
        for (bad, word) in [
            ("client uri tcp://1.2.3.4/7 connections 5", "connections"),
            ("client uri udp://1.2.3.4/7 mode cps", "cps needs a tcp uri"),
            ("client uri tcp://1.2.3.4/7 mode fast", "mode"),
        ] {
            let e = parse(&words(bad)).unwrap_err();
            assert!(e.contains(word), "{bad}: {e}");
        }
    }
}
