//! The Prometheus endpoint: `GET /metrics` on `[metrics] listen`, served by
//! the main thread without ever blocking it.
//!
//! The listener and its connections are non-blocking and polled in the main
//! loop like the CLI socket. A request is read until its headers end (at most
//! [`MAX_REQUEST`] bytes); the answer is the Prometheus text format (0.0.4),
//! encoded by the `prometheus-client` crate from the same snapshots `show
//! counters`, `show errors`, `show interface`, `show tcp stats` and `show
//! session` format; the connection is closed once the answer is out. A
//! client that has not sent its request and taken its answer within
//! [`DEADLINE`] is dropped, and at [`MAX_CONNECTIONS`] the oldest makes room,
//! so a slow or hostile scraper costs the main thread nothing but a few
//! non-blocking reads.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use rustix::event::{PollFd, PollFlags};

use crate::cli_stats::{self, CounterValue, InterfaceSnapshot};
use crate::runtime::Runtime;

/// Longest request (request line and headers) taken.
pub const MAX_REQUEST: usize = 8192;
/// Scrapers served at once.
pub const MAX_CONNECTIONS: usize = 16;
/// Time a scraper has to send its request and take its answer.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// What the endpoint did (`show metrics`, and `/metrics` itself).
#[derive(Debug, Default, Clone, Copy)]
pub struct MetricsCounters {
    /// Connections accepted.
    pub accepted: u64,
    /// `GET /metrics` answered.
    pub scrapes: u64,
    /// Requests for another path (404) or with another method (405).
    pub not_found: u64,
    /// Requests that were not HTTP, or longer than [`MAX_REQUEST`].
    pub bad_requests: u64,
    /// Connections dropped at [`DEADLINE`].
    pub timeouts: u64,
    /// Connections dropped to make room at [`MAX_CONNECTIONS`].
    pub evicted: u64,
}

impl MetricsCounters {
    /// `(name, value, is_error)` for each.
    pub fn snapshot(&self) -> Vec<(&'static str, u64, bool)> {
        vec![
            ("metrics connections accepted", self.accepted, false),
            ("metrics scrapes", self.scrapes, false),
            ("metrics requests not found (path or method)", self.not_found, true),
            ("metrics requests malformed or too long", self.bad_requests, true),
            ("metrics connections closed (deadline)", self.timeouts, true),
            ("metrics connections evicted (at the connection cap)", self.evicted, true),
        ]
    }
}

/// Where the endpoint listens (once bound) and what it did.
#[derive(Debug, Default, Clone, Copy)]
pub struct MetricsStatus {
    /// The bound address (`None`: `[metrics] listen` is not set).
    pub listen: Option<SocketAddr>,
    /// Its counters.
    pub counters: MetricsCounters,
}

struct Conn {
    stream: TcpStream,
    request: Vec<u8>,
    out: Vec<u8>,
    sent: usize,
    accepted: Instant,
    answering: bool,
    done: bool,
}

/// The metrics listener and its connections.
pub struct MetricsServer {
    listener: TcpListener,
    conns: Vec<Conn>,
}

impl MetricsServer {
    /// Binds `addr` (non-blocking).
    pub fn bind(addr: SocketAddr) -> io::Result<MetricsServer> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(MetricsServer { listener, conns: Vec::new() })
    }

    /// The address it is bound to (the port chosen when the config said 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Adds what to wait on: the listener, then each connection.
    pub fn poll_fds<'a>(&'a self, out: &mut Vec<PollFd<'a>>) {
        out.push(PollFd::new(&self.listener, PollFlags::IN));
        for c in &self.conns {
            out.push(PollFd::new(&c.stream, if c.answering { PollFlags::OUT } else { PollFlags::IN }));
        }
    }

    /// Does everything that can be done now without blocking.
    pub fn service(&mut self, rt: &mut Runtime) {
        let now = Instant::now();
        for c in &mut self.conns {
            step(c, rt, now);
        }
        self.conns.retain(|c| !c.done);
        self.accept(rt);
    }

    fn accept(&mut self, rt: &mut Runtime) {
        for _ in 0..MAX_CONNECTIONS {
            let stream = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::debug!("dpnode: metrics accept: {e}");
                    return;
                }
            };
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            if self.conns.len() >= MAX_CONNECTIONS {
                if let Some(i) = self.conns.iter().enumerate().min_by_key(|(_, c)| c.accepted).map(|(i, _)| i) {
                    self.conns.swap_remove(i);
                    rt.metrics.counters.evicted += 1;
                }
            }
            rt.metrics.counters.accepted += 1;
            self.conns.push(Conn {
                stream,
                request: Vec::new(),
                out: Vec::new(),
                sent: 0,
                accepted: Instant::now(),
                answering: false,
                done: false,
            });
        }
    }
}

/// Advances one connection as far as it goes without blocking.
fn step(c: &mut Conn, rt: &mut Runtime, now: Instant) {
    if now.duration_since(c.accepted) >= DEADLINE {
        rt.metrics.counters.timeouts += 1;
        c.done = true;
        return;
    }
    if !c.answering {
        let mut buf = [0u8; 2048];
        loop {
            match (&c.stream).read(&mut buf) {
                Ok(0) => {
                    c.done = true;
                    return;
                }
                Ok(n) => c.request.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    c.done = true;
                    return;
                }
            }
            if c.request.len() > MAX_REQUEST {
                break;
            }
        }
        let Some(answer) = answer(&c.request, rt) else { return };
        c.out = answer;
        c.answering = true;
    }
    while c.sent < c.out.len() {
        match (&c.stream).write(&c.out[c.sent..]) {
            Ok(0) => break,
            Ok(n) => c.sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                c.done = true;
                return;
            }
        }
    }
    // What the client sent beyond its request is read away (a bounded amount), so that closing
    // does not reset the connection under its answer.
    let mut sink = [0u8; 4096];
    for _ in 0..16 {
        match (&c.stream).read(&mut sink) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
    let _ = c.stream.shutdown(Shutdown::Write);
    c.done = true;
}

/// The HTTP answer to what the client sent so far; `None` until its headers are complete.
fn answer(request: &[u8], rt: &mut Runtime) -> Option<Vec<u8>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let parsed = req.parse(request);
    let (status, body) = match parsed {
        Ok(httparse::Status::Partial) if request.len() <= MAX_REQUEST => return None,
        Ok(httparse::Status::Complete(_)) => {
            let path = req.path.unwrap_or("").split('?').next().unwrap_or("");
            match (req.method, path) {
                (Some("GET"), "/metrics") => {
                    rt.metrics.counters.scrapes += 1;
                    ("200 OK", render(rt))
                }
                (Some("GET"), _) => {
                    rt.metrics.counters.not_found += 1;
                    ("404 Not Found", "metrics are at /metrics\n".to_string())
                }
                _ => {
                    rt.metrics.counters.not_found += 1;
                    ("405 Method Not Allowed", "only GET\n".to_string())
                }
            }
        }
        Ok(httparse::Status::Partial) => {
            rt.metrics.counters.bad_requests += 1;
            ("431 Request Header Fields Too Large", format!("requests are limited to {MAX_REQUEST} bytes\n"))
        }
        Err(e) => {
            rt.metrics.counters.bad_requests += 1;
            ("400 Bad Request", format!("{e}\n"))
        }
    };
    let content_type = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    Some(out)
}

/// Everything `/metrics` shows, copied out of the node at one scrape.
#[derive(Debug, Default)]
pub struct MetricsSnapshot {
    /// `show counters`: per worker.
    pub counters: Vec<Vec<CounterValue>>,
    /// `show errors`' main-thread part: API socket, external apps, CLI socket.
    pub main_errors: Vec<CounterValue>,
    /// `show interface`.
    pub interfaces: Vec<InterfaceSnapshot>,
    /// `show tcp stats`.
    pub tcp: session::snapshot::TcpStatsSnapshot,
    /// Sessions by (worker, transport, state).
    pub sessions: BTreeMap<(usize, &'static str, &'static str), u64>,
    /// Data capacity of the sessions' rx and tx fifos, bytes.
    pub session_fifo_bytes: u64,
    /// Applications attached.
    pub apps: usize,
    /// App listeners.
    pub listeners: usize,
    /// Shared-memory segments alive.
    pub segments: usize,
    /// Fifo pairs allocated.
    pub fifo_pairs: usize,
    /// Mbufs in use.
    pub mbufs_in_use: u32,
    /// Mbufs available.
    pub mbufs_available: u32,
    /// Barrier syncs, their wait times.
    pub barrier: net::control::barrier::BarrierStats,
    /// Each worker's loop counters (`show runtime`'s, not reset by `clear runtime`), by [`RuntimeCounter`] index.
    pub loops: Vec<Vec<u64>>,
    /// The TSC frequency the loop's cycles are converted with.
    pub tsc_hz: u64,
    /// The endpoint's own counters.
    pub endpoint: MetricsCounters,
}

impl MetricsSnapshot {
    /// Copies everything out of the node (the workers answer by RPC, as for `show session`).
    pub fn take(rt: &mut Runtime) -> MetricsSnapshot {
        let counters = cli_stats::counters_snapshot(rt);
        let main_errors = cli_stats::errors_snapshot(rt).main;
        let interfaces = cli_stats::interfaces_snapshot(rt, &[]).unwrap_or_default();
        let tcp = crate::cli_session::tcp_stats_snapshot(rt);
        let mut m = MetricsSnapshot { counters, main_errors, interfaces, tcp, ..MetricsSnapshot::default() };
        if let Ok(v) = crate::cli_session::sessions_view(rt, &[]) {
            for (w, sessions) in v.workers.iter().enumerate() {
                for s in sessions {
                    *m.sessions.entry((w, s.proto.as_str(), s.state.as_str())).or_default() += 1;
                    m.session_fifo_bytes += (s.rx_fifo.capacity + s.tx_fifo.capacity) as u64;
                }
            }
            (m.apps, m.listeners, m.segments, m.fifo_pairs) = (v.apps, v.listeners, v.segments, v.fifo_pairs);
        }
        m.mbufs_in_use = rt.mbufs_in_use();
        m.mbufs_available = rt.mbufs_available();
        m.barrier = rt.ctx.barrier.stats();
        m.loops = rt.workers.iter().map(|w| w.runtime.iter().map(|(_, v)| v).collect()).collect();
        m.tsc_hz = rt.tsc_hz;
        m.endpoint = rt.metrics.counters;
        m
    }

    /// The Prometheus text format (0.0.4).
    pub fn encode(self) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self));
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry);
        out
    }
}

/// `/metrics`' body.
pub fn render(rt: &mut Runtime) -> String {
    MetricsSnapshot::take(rt).encode()
}

type Labels = Vec<(&'static str, String)>;

/// One metric family: its descriptor, then each sample with its labels.
fn family<L: EncodeLabelSet>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    kind: MetricType,
    samples: impl IntoIterator<Item = (L, u64)>,
) -> std::fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, kind)?;
    for (labels, v) in samples {
        let s = m.encode_family(&labels)?;
        match kind {
            MetricType::Counter => ConstCounter::new(v).encode(s)?,
            _ => ConstGauge::new(v).encode(s)?,
        }
    }
    Ok(())
}

/// One metric with no labels.
fn single(enc: &mut DescriptorEncoder<'_>, name: &str, help: &str, kind: MetricType, v: u64) -> std::fmt::Result {
    family(enc, name, help, kind, [(Labels::new(), v)])
}

impl MetricsSnapshot {
    fn encode_barrier_wait(&self, enc: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
        use net::control::barrier::WAIT_BUCKETS_NS;
        let b = &self.barrier;
        let bounds = WAIT_BUCKETS_NS.iter().map(|&ns| ns as f64 / 1e9).chain([f64::INFINITY]);
        let buckets: Vec<(f64, u64)> = bounds.zip(b.wait_histogram).collect();
        let mut m = enc.encode_descriptor(
            "dpnode_barrier_wait_seconds",
            "Time each barrier sync waited for the workers to park",
            None,
            MetricType::Histogram,
        )?;
        m.encode_histogram::<NoLabelSet>(b.wait_ns_total as f64 / 1e9, b.syncs, &buckets, None)
    }

    fn encode_loops(&self, e: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
        use net::control::worker::RuntimeCounter as R;
        let per_worker =
            |c: R| self.loops.iter().enumerate().map(move |(w, v)| (vec![("worker", w.to_string())], v[c as usize]));
        family(
            e,
            "dpnode_worker_empty_loops",
            "Poll loop iterations that found nothing to do",
            MetricType::Counter,
            per_worker(R::EmptyLoops),
        )?;
        family(
            e,
            "dpnode_worker_work_loops",
            "Poll loop iterations that did work",
            MetricType::Counter,
            per_worker(R::WorkLoops),
        )?;
        family(
            e,
            "dpnode_worker_rx_bursts",
            "Rx calls that returned packets (packets per burst: the worker's rx packets counter over this)",
            MetricType::Counter,
            per_worker(R::RxBursts),
        )?;
        let vectors = self.loops.iter().enumerate().flat_map(|(w, v)| {
            crate::cli_runtime::VECTOR_SIZES
                .iter()
                .map(move |&(size, c)| (vec![("worker", w.to_string()), ("size", size.to_string())], v[c as usize]))
        });
        family(e, "dpnode_worker_rx_bursts_by_size", "Rx bursts by packets per burst", MetricType::Counter, vectors)?;
        let hz = self.tsc_hz.max(1) as f64;
        let mut m = e.encode_descriptor(
            "dpnode_worker_time_seconds",
            "Poll loop time by stage (rx, l2l3, transport, session, tx, other: iterations that did work; poll: \
             iterations that found nothing; sleep: idle sleep)",
            None,
            MetricType::Counter,
        )?;
        for (w, v) in self.loops.iter().enumerate() {
            for &(stage, c) in &crate::cli_runtime::TIME_STAGES {
                let labels = vec![("worker", w.to_string()), ("stage", stage.to_string())];
                ConstCounter::new(v[c as usize] as f64 / hz).encode(m.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

impl Collector for MetricsSnapshot {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> std::fmt::Result {
        use MetricType::{Counter, Gauge};
        let e = &mut enc;
        let per_worker = self.counters.iter().enumerate().flat_map(|(w, cs)| {
            cs.iter().map(move |c| {
                let kind = if c.error { "error" } else { "info" };
                (vec![("worker", w.to_string()), ("reason", c.name.to_string()), ("kind", kind.to_string())], c.value)
            })
        });
        family(
            e,
            "dpnode_worker_counter",
            "Every counter of show counters, by worker and reason; kind error: the drops show errors sums",
            Counter,
            per_worker,
        )?;
        let main = self.main_errors.iter().map(|c| (vec![("reason", c.name.to_string())], c.value));
        family(
            e,
            "dpnode_main_errors",
            "The main thread's errors of show errors: API socket, external apps, CLI socket, metrics endpoint",
            Counter,
            main,
        )?;
        let ifs = |f: fn(&InterfaceSnapshot) -> u64| {
            self.interfaces.iter().map(move |i| (vec![("interface", i.name.clone())], f(i))).collect::<Vec<_>>()
        };
        family(e, "dpnode_interface_up", "Link up (1) or down (0)", Gauge, ifs(|i| i.up.into()))?;
        family(e, "dpnode_interface_rx_packets", "Frames received (the PMD's count)", Counter, ifs(|i| i.rx_packets))?;
        family(e, "dpnode_interface_tx_packets", "Frames sent (the PMD's count)", Counter, ifs(|i| i.tx_packets))?;
        family(e, "dpnode_interface_rx_bytes", "Bytes received (the PMD's count)", Counter, ifs(|i| i.rx_bytes))?;
        family(e, "dpnode_interface_tx_bytes", "Bytes sent (the PMD's count)", Counter, ifs(|i| i.tx_bytes))?;
        let drops = self.interfaces.iter().flat_map(|i| {
            [
                ("rx_missed", i.rx_missed),
                ("rx_errors", i.rx_errors),
                ("tx_errors", i.tx_errors),
                ("rx_nombuf", i.rx_nombuf),
            ]
            .map(|(cause, v)| (vec![("interface", i.name.clone()), ("cause", cause.to_string())], v))
        });
        family(
            e,
            "dpnode_interface_drops",
            "Frames the NIC dropped, by cause (show interface's Drops)",
            Counter,
            drops,
        )?;
        let tcp = self.tcp.counters.iter().map(|(name, v)| (vec![("reason", name.to_string())], *v));
        family(e, "dpnode_tcp_counter", "show tcp stats' counters, summed over the workers", Counter, tcp)?;
        let states = self.tcp.states.iter().map(|(st, n)| (vec![("state", st.clone())], *n as u64));
        family(e, "dpnode_tcp_connections", "TCP connections by state", Gauge, states)?;
        let sessions = self.sessions.iter().map(|((w, proto, state), n)| {
            (vec![("worker", w.to_string()), ("transport", proto.to_string()), ("state", state.to_string())], *n)
        });
        family(e, "dpnode_sessions", "Sessions by worker, transport and state", Gauge, sessions)?;
        single(
            e,
            "dpnode_session_fifo_bytes",
            "Data capacity of the sessions' rx and tx fifos",
            Gauge,
            self.session_fifo_bytes,
        )?;
        single(e, "dpnode_applications", "Applications attached", Gauge, self.apps as u64)?;
        single(e, "dpnode_app_listeners", "App listeners", Gauge, self.listeners as u64)?;
        single(e, "dpnode_segments", "Shared-memory segments allocated", Gauge, self.segments as u64)?;
        single(e, "dpnode_fifo_pairs", "Fifo pairs allocated", Gauge, self.fifo_pairs as u64)?;
        single(e, "dpnode_mbufs_in_use", "Mbufs of the packet pool in use", Gauge, self.mbufs_in_use.into())?;
        single(e, "dpnode_mbufs_available", "Mbufs of the packet pool available", Gauge, self.mbufs_available.into())?;
        single(
            e,
            "dpnode_barrier_syncs",
            "Barrier syncs (control operations that parked the workers)",
            Counter,
            self.barrier.syncs,
        )?;
        self.encode_barrier_wait(e)?;
        self.encode_loops(e)?;
        single(e, "dpnode_metrics_scrapes", "GET /metrics answered", Counter, self.endpoint.scrapes)?;
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn sample(text: &str, line_start: &str) -> Option<String> {
        text.lines().find(|l| l.starts_with(line_start)).map(|l| l[line_start.len()..].trim().to_string())
    }

    /// The snapshot comes out in the Prometheus text format, named by convention, labelled as documented.
    #[test]
    fn snapshot_encodes_as_prometheus_text() {
        let c = |name, value, error| CounterValue { name, value, error };
        let mut m = MetricsSnapshot {
            counters: vec![
                vec![c("rx packets", 7, false), c("ip4 bad header checksum", 2, true)],
                vec![c("rx packets", 1, false)],
            ],
            main_errors: vec![c("api \"quoted\" reason", 3, true)],
            apps: 2,
            session_fifo_bytes: 1 << 17,
            ..MetricsSnapshot::default()
        };
        m.sessions.insert((0, "tcp", "ready"), 4);
        m.tcp.states.insert("ESTABLISHED".into(), 4);
        m.tcp.counters = vec![("segments received", 10)];
        let mut loops = vec![0; net::control::worker::RuntimeCounter::COUNT];
        loops[net::control::worker::RuntimeCounter::EmptyLoops as usize] = 9;
        loops[net::control::worker::RuntimeCounter::SleepCycles as usize] = 3_000_000_000;
        m.loops = vec![loops];
        m.tsc_hz = 2_000_000_000;
        m.barrier.syncs = 3;
        m.barrier.wait_ns_total = 20_000;
        m.barrier.wait_histogram[1] = 2;
        m.barrier.wait_histogram[6] = 1;
        let text = m.encode();
        assert_eq!(sample(&text, "dpnode_worker_empty_loops_total{worker=\"0\"}").as_deref(), Some("9"), "{text}");
        assert_eq!(
            sample(&text, "dpnode_worker_time_seconds_total{worker=\"0\",stage=\"sleep\"}").as_deref(),
            Some("1.5")
        );
        assert_eq!(sample(&text, "dpnode_barrier_wait_seconds_bucket{le=\"1e-06\"}").as_deref(), Some("0"), "{text}");
        assert_eq!(sample(&text, "dpnode_barrier_wait_seconds_bucket{le=\"1e-05\"}").as_deref(), Some("2"));
        assert_eq!(sample(&text, "dpnode_barrier_wait_seconds_bucket{le=\"+Inf\"}").as_deref(), Some("3"));
        assert_eq!(sample(&text, "dpnode_barrier_wait_seconds_count").as_deref(), Some("3"));
        assert!(text.contains("# TYPE dpnode_worker_counter_total counter\n"), "{text}");
        assert_eq!(
            sample(&text, "dpnode_worker_counter_total{worker=\"0\",reason=\"rx packets\",kind=\"info\"}").as_deref(),
            Some("7"),
            "{text}"
        );
        assert_eq!(
            sample(&text, "dpnode_worker_counter_total{worker=\"1\",reason=\"rx packets\",kind=\"info\"}").as_deref(),
            Some("1")
        );
        assert_eq!(
            sample(
                &text,
                "dpnode_worker_counter_total{worker=\"0\",reason=\"ip4 bad header checksum\",kind=\"error\"}"
            )
            .as_deref(),
            Some("2")
        );
        assert_eq!(
            sample(&text, "dpnode_main_errors_total{reason=\"api \\\"quoted\\\" reason\"}").as_deref(),
            Some("3"),
            "{text}"
        );
        assert_eq!(
            sample(&text, "dpnode_sessions{worker=\"0\",transport=\"tcp\",state=\"ready\"}").as_deref(),
            Some("4")
        );
        assert_eq!(sample(&text, "dpnode_tcp_connections{state=\"ESTABLISHED\"}").as_deref(), Some("4"));
        assert_eq!(sample(&text, "dpnode_tcp_counter_total{reason=\"segments received\"}").as_deref(), Some("10"));
        assert_eq!(sample(&text, "dpnode_applications ").as_deref(), Some("2"), "{text}");
        assert_eq!(sample(&text, "dpnode_session_fifo_bytes ").as_deref(), Some("131072"));
        assert!(text.contains("# TYPE dpnode_applications gauge\n"));
        assert!(!text.contains("# EOF"), "the Prometheus format, not OpenMetrics");
    }
}
