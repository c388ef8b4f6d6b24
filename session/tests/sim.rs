//! The session layer over `net::sim`: two simulated nodes (the real L2/L3
//! over in-memory links, on a virtual clock), each running a
//! [`SessionWorker`] with builtin apps attached, in plain `cargo test` (no
//! EAL, no root, no threads: the test polls both nodes in turn).
//!
//! Covers UDP echo (over IPv4 and IPv6 link-local), a TCP connect / accept / transfer / close, and a TCP
//! transfer of a few MB over a link with seeded loss, reordering and
//! duplication that arrives bit-exact and repeats exactly for its seed.

use std::net::Ipv4Addr;
use std::sync::{mpsc, Arc, Mutex};

use echo::{EchoMode, EchoReport};
use net::l3::L3;
use net::sim::{Link, LinkConfig, LinkEnd, SimDevice, SimIface, SimNode};
use session::app_worker::{AppWorkerKind, AppWorkerShared};
use session::apps::echo::{EchoClient, EchoClientConfig, EchoServer};
use session::builtin::{AppApi, BuiltinApp};
use session::pool::Handle;
use session::tcp_transport::TcpTransportConfig;
use session::transport::{ConnectError, ConnectRequest};
use session::udp::UdpConfig;
use session::worker::{AppLink, SessionShared, SessionWorker};
use shm::types::{AttachOptions, Endpoint, Proto, SessionHandle, TransportOptions};
use wire::ethernet::Address as Mac;
use wire::ipv4::Cidr;

/// The seam under the session layer here: the real L2/L3 over a simulated device.
type Io = L3<SimDevice>;

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// Virtual time per loop iteration of both nodes.
const STEP_NS: u64 = 20_000;

/// One simulated node: L2/L3, its session worker and the shared tables.
struct Node {
    sim: SimNode,
    worker: SessionWorker<Io>,
    shared: SessionShared,
}

impl Node {
    /// A node on `end` with receive coalescing (`[tcp] gro`) on or off.
    fn with_gro(end: LinkEnd, last: u8, ip: Ipv4Addr, gro: bool) -> Node {
        let iface = SimIface { end, mac: Mac([2, 0, 0, 0, 0, last]), ip4: Cidr::new(ip, 24).expect("prefix") };
        // A fixed secret: ISNs (and so the whole run) depend only on the seed.
        let tcp = TcpTransportConfig { secret: [last; 16], gro, ..TcpTransportConfig::default() };
        Node {
            sim: SimNode::new(vec![iface]),
            worker: SessionWorker::new_at(0, 1, None, UdpConfig::default(), tcp, 0),
            shared: SessionShared::default(),
        }
    }

    /// Attaches builtin app `name` with `app` as its instance on this (only) worker.
    fn attach(&mut self, name: &str, app: Box<dyn BuiltinApp<Io>>) -> (Handle, Handle) {
        let opts = AttachOptions { segment_size: 16 << 20, ..AttachOptions::builtin() };
        let mut made = None;
        let handles = self
            .shared
            .control
            .attach(name, opts, |o, app_index, wrk_index| {
                let s =
                    AppWorkerShared::new(name, o, AppWorkerKind::Builtin, app_index, wrk_index, 0).expect("segment");
                let s = Arc::new(s);
                made = Some(s.clone());
                Ok(s)
            })
            .expect("attach");
        self.worker.app_add(made.expect("attach made the worker"), AppLink::Builtin(Some(app)));
        handles
    }

    fn listen(&mut self, (app, wrk): (Handle, Handle), ep: Endpoint) {
        self.shared.control.listen(app, wrk, ep).expect("listen");
    }

    fn poll(&mut self, now: u64) -> usize {
        self.sim.poll(now, &mut self.worker, &self.shared)
    }
}

/// Two nodes on one link: `a` at [`A`], `b` at [`B`].
fn pair(cfg: &LinkConfig) -> (Link, Node, Node) {
    pair_gro(cfg, true)
}

/// [`pair`] with receive coalescing on or off on both nodes.
fn pair_gro(cfg: &LinkConfig, gro: bool) -> (Link, Node, Node) {
    let link = Link::new(cfg);
    let a = Node::with_gro(link.a(), 1, A, gro);
    let b = Node::with_gro(link.b(), 2, B, gro);
    (link, a, b)
}

/// Polls both nodes from `*now` until `done` holds; panics after `limit_ns` of virtual time.
fn run_until(now: &mut u64, a: &mut Node, b: &mut Node, limit_ns: u64, mut done: impl FnMut(&Node, &Node) -> bool) {
    let end = *now + limit_ns;
    while !done(a, b) {
        assert!(*now < end, "not done after {limit_ns} ns of virtual time");
        a.poll(*now);
        b.poll(*now);
        *now += STEP_NS;
    }
}

/// What apps saw, in order, with the virtual time: the run's event sequence.
type Log = Arc<Mutex<Vec<(u64, String)>>>;

fn log(l: &Log, api: &AppApi<'_, Io>, what: String) {
    l.lock().unwrap().push((api.now_ns(), what));
}

/// The bytes a [`Source`] sends: a fixed pseudo-random sequence.
fn pattern(len: usize) -> Vec<u8> {
    (0..len as u64).map(|i| (i.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8).collect()
}

/// Connects to `remote`, writes `data`, closes once it is all written.
struct Source {
    remote: Endpoint,
    data: Vec<u8>,
    sent: usize,
    session: Option<SessionHandle>,
    asked: bool,
    closed: bool,
    log: Log,
}

impl Source {
    fn new(remote: Endpoint, data: Vec<u8>, log: Log) -> Source {
        Source { remote, data, sent: 0, session: None, asked: false, closed: false, log }
    }

    fn pump(&mut self, api: &mut AppApi<'_, Io>) -> usize {
        let Some(s) = self.session else { return 0 };
        let before = self.sent;
        while self.sent < self.data.len() {
            let end = (self.sent + 16 * 1024).min(self.data.len());
            let n = api.send(s, &self.data[self.sent..end]);
            if n == 0 {
                api.want_tx(s, true);
                break;
            }
            self.sent += n;
        }
        if self.sent == self.data.len() && !self.closed {
            self.closed = true;
            log(&self.log, api, "source: all written, close".into());
            api.close(s);
        }
        self.sent - before
    }
}

impl BuiltinApp<Io> for Source {
    fn poll(&mut self, api: &mut AppApi<'_, Io>) -> usize {
        if !self.asked {
            self.asked = true;
            api.connect(ConnectRequest::new(self.remote)).expect("connect");
            return 1;
        }
        self.pump(api)
    }
    fn connected(&mut self, api: &mut AppApi<'_, Io>, _opaque: u64, r: Result<SessionHandle, ConnectError>) {
        log(&self.log, api, format!("source: connected {}", r.is_ok()));
        self.session = r.ok();
        self.pump(api);
    }
    fn tx(&mut self, api: &mut AppApi<'_, Io>, _s: SessionHandle) {
        self.pump(api);
    }
    fn disconnected(&mut self, api: &mut AppApi<'_, Io>, s: SessionHandle) {
        log(&self.log, api, "source: peer closed".into());
        api.close(s);
    }
    fn reset(&mut self, api: &mut AppApi<'_, Io>, _s: SessionHandle) {
        log(&self.log, api, "source: reset".into());
    }
    fn closed(&mut self, api: &mut AppApi<'_, Io>, _s: SessionHandle) {
        log(&self.log, api, format!("source: closed after {} bytes", self.sent));
    }
}

/// Accepts sessions, keeps every byte they bring, closes when the peer does.
struct Sink {
    got: Arc<Mutex<Vec<u8>>>,
    buf: Vec<u8>,
    log: Log,
}

impl Sink {
    fn new(got: Arc<Mutex<Vec<u8>>>, log: Log) -> Sink {
        Sink { got, buf: vec![0; 64 * 1024], log }
    }
}

impl BuiltinApp<Io> for Sink {
    fn accepted(&mut self, api: &mut AppApi<'_, Io>, s: SessionHandle) -> bool {
        let info = api.info(s).expect("our session");
        log(&self.log, api, format!("sink: accepted from {}", info.remote));
        true
    }
    fn rx(&mut self, api: &mut AppApi<'_, Io>, s: SessionHandle) {
        loop {
            let n = api.recv(s, &mut self.buf);
            if n == 0 {
                break;
            }
            self.got.lock().unwrap().extend_from_slice(&self.buf[..n]);
        }
    }
    fn disconnected(&mut self, api: &mut AppApi<'_, Io>, s: SessionHandle) {
        self.rx(api, s);
        log(&self.log, api, format!("sink: peer closed after {} bytes", self.got.lock().unwrap().len()));
        api.close(s);
    }
    fn reset(&mut self, api: &mut AppApi<'_, Io>, _s: SessionHandle) {
        log(&self.log, api, "sink: reset".into());
    }
    fn closed(&mut self, api: &mut AppApi<'_, Io>, _s: SessionHandle) {
        log(&self.log, api, "sink: closed".into());
    }
}

#[test]
fn udp_echo_between_two_simulated_nodes() {
    udp_echo(Endpoint::v4(Proto::Udp, B, 7000), Endpoint::v4(Proto::Udp, B, 7000));
}

/// The same over IPv6: the server listens on `[::]`, the client connects
/// to the server node's link-local address (from its MAC) and sends from
/// its own.
#[test]
fn udp_echo_over_ipv6_link_local_between_two_simulated_nodes() {
    let b_ll = wire::ipv6::link_local_from_mac(Mac([2, 0, 0, 0, 0, 2]));
    udp_echo("udp://[::]/7000".parse().unwrap(), Endpoint::v6(Proto::Udp, b_ll, 7000));
}

/// Three UDP echo sessions of 60 kB from node a to `remote`, b's echo
/// server listening on `listen`: everything comes back bit-exact.
fn udp_echo(listen: Endpoint, remote: Endpoint) {
    let (_link, mut a, mut b) = pair(&LinkConfig::default());
    let server = b.attach("echo-server", Box::new(EchoServer::new()));
    b.listen(server, listen);
    let (tx, rx) = mpsc::channel();
    let cfg = EchoClientConfig {
        remote,
        sessions: 3,
        bytes: 60_000,
        chunk: 1200,
        window: 8,
        timeout_ns: 5_000_000_000,
        options: TransportOptions::default(),
        mode: EchoMode::Bulk,
        connections: 0,
        duration_ns: 0,
    };
    a.attach("echo-client", Box::new(EchoClient::new(cfg, 0, 1, tx)));
    let mut now = 0;
    let mut report: Option<EchoReport> = None;
    run_until(&mut now, &mut a, &mut b, 10_000_000_000, |_, _| {
        report = report.take().or_else(|| rx.try_recv().ok());
        report.is_some()
    });
    let r = report.expect("report");
    assert_eq!(r.connected, 3, "{r:?}");
    assert_eq!(r.completed, 3, "{r:?}");
    assert_eq!(r.bytes_sent, 180_000);
    assert_eq!(r.bytes_received, 180_000);
    assert_eq!(r.mismatched_bytes, 0);
    assert_eq!(r.lost_datagrams, 0);
    assert!(r.connect_errors.is_empty(), "{r:?}");
    // The server's sessions are UDP peers it accepted (one per client session).
    assert_eq!(b.worker.stats.accepted.load(std::sync::atomic::Ordering::Relaxed), 3);
}

/// What one TCP transfer run shows: the apps' event sequence, the bytes that
/// arrived, the two nodes' TCP counters and what the link's impairments did.
#[derive(Debug, PartialEq)]
struct Run {
    log: Vec<(u64, String)>,
    got: Vec<u8>,
    tcp: [tcp::Counters; 2],
    faults: [[u64; 3]; 2],
    end_ns: u64,
}

/// `bytes` from a source on A to a sink on B over a link with `cfg`; runs
/// until both sessions are closed and freed.
fn tcp_transfer(cfg: &LinkConfig, bytes: usize) -> Run {
    let ep = Endpoint::v4(Proto::Tcp, B, 5000);
    tcp_transfer_to(cfg, bytes, ep, ep)
}

/// [`tcp_transfer`] with the sink listening on `listen` and the source
/// connecting to `remote` (IPv6 runs name B's link-local address).
fn tcp_transfer_to(cfg: &LinkConfig, bytes: usize, listen: Endpoint, remote: Endpoint) -> Run {
    tcp_transfer_gro(cfg, bytes, listen, remote, true)
}

/// [`tcp_transfer_to`] with receive coalescing on or off.
fn tcp_transfer_gro(cfg: &LinkConfig, bytes: usize, listen: Endpoint, remote: Endpoint, gro: bool) -> Run {
    let (link, mut a, mut b) = pair_gro(cfg, gro);
    let log: Log = Arc::default();
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = b.attach("sink", Box::new(Sink::new(got.clone(), log.clone())));
    b.listen(sink, listen);
    a.attach("source", Box::new(Source::new(remote, pattern(bytes), log.clone())));
    let mut now = 0;
    let closed = |l: &Log, who: &str| l.lock().unwrap().iter().any(|(_, e)| e.starts_with(who) && e.contains("closed"));
    run_until(&mut now, &mut a, &mut b, 120_000_000_000, |_, _| {
        closed(&log, "source: closed") && closed(&log, "sink: closed")
    });
    // Both sessions are freed once the apps saw them closed.
    run_until(&mut now, &mut a, &mut b, 1_000_000_000, |a, b| {
        a.worker.session_count() == 0 && b.worker.session_count() == 0
    });
    let fault = |c: &net::fault::FaultCounters| {
        use net::fault::FaultCounter::*;
        [c.get(Dropped), c.get(Duplicated), c.get(Reordered)]
    };
    let [ab, ba] = link.fault_counters();
    let run = Run {
        log: log.lock().unwrap().clone(),
        got: got.lock().unwrap().clone(),
        tcp: [a.worker.tcp_stats().0, b.worker.tcp_stats().0],
        faults: [fault(&ab), fault(&ba)],
        end_ns: now,
    };
    run
}

#[test]
fn tcp_connect_accept_transfer_close() {
    let bytes = 300_000;
    let run = tcp_transfer(&LinkConfig::default(), bytes);
    assert!(run.got == pattern(bytes), "the sink got {} bytes, not the {bytes} sent", run.got.len());
    let events: Vec<&str> = run.log.iter().map(|(_, e)| e.as_str()).collect();
    assert_eq!(
        events,
        [
            // The SYN-ACK reaches the source before its ACK reaches the sink.
            "source: connected true",
            "sink: accepted from 198.18.0.1:49152",
            "source: all written, close",
            "sink: peer closed after 300000 bytes",
            // The source closed first: its session goes at TIME-WAIT, the
            // sink's once the last ACK arrives.
            "source: closed after 300000 bytes",
            "sink: closed",
        ],
        "{:?}",
        run.log
    );
    assert_eq!(run.faults, [[0; 3]; 2]);
}

#[test]
fn lossy_tcp_transfer_is_bit_exact_and_repeats_per_seed() {
    let bytes = 3 << 20;
    let cfg = |seed| LinkConfig {
        latency_ns: 50_000,
        loss_percent: 2.0,
        duplicate_percent: 1.0,
        reorder_percent: 2.0,
        seed,
        ..LinkConfig::default()
    };
    let first = tcp_transfer(&cfg(7), bytes);
    assert!(first.got == pattern(bytes), "seed 7: the sink got {} bytes, not the {bytes} sent", first.got.len());
    // The link really was lossy in both directions, and TCP recovered.
    for f in first.faults {
        assert!(f.iter().all(|&n| n > 0), "faults {:?}", first.faults);
    }
    assert!(first.tcp[0].get(tcp::Counter::Retransmits) > 0, "the source never retransmitted");
    let again = tcp_transfer(&cfg(7), bytes);
    assert!(again == first, "seed 7 ran differently the second time:\n{:?}\n{:?}", first.log, again.log);
    let other = tcp_transfer(&cfg(8), bytes);
    assert!(other.got == pattern(bytes), "seed 8: the sink got {} bytes, not the {bytes} sent", other.got.len());
}

#[test]
fn coalesced_and_one_by_one_receive_deliver_the_same_bytes_over_a_lossy_link() {
    let bytes = 2 << 20;
    let ep = Endpoint::v4(Proto::Tcp, B, 5000);
    for seed in [7, 8, 21] {
        let cfg = LinkConfig {
            latency_ns: 50_000,
            loss_percent: 1.0,
            duplicate_percent: 1.0,
            reorder_percent: 2.0,
            seed,
            ..LinkConfig::default()
        };
        let on = tcp_transfer_gro(&cfg, bytes, ep, ep, true);
        let off = tcp_transfer_gro(&cfg, bytes, ep, ep, false);
        assert!(on.got == pattern(bytes), "seed {seed}, gro on: {} bytes arrived", on.got.len());
        assert!(off.got == pattern(bytes), "seed {seed}, gro off: {} bytes arrived", off.got.len());
        let merged = |r: &Run| r.tcp[1].get(tcp::Counter::SegmentsMerged);
        assert!(merged(&on) > 0, "seed {seed}: the sink merged nothing");
        assert_eq!(merged(&off), 0, "seed {seed}: merged with gro off");
        // The sink's segments are (nearly all) its ACKs: fewer when coalescing.
        let (acks_on, acks_off) = (on.tcp[1].get(tcp::Counter::SegmentsOut), off.tcp[1].get(tcp::Counter::SegmentsOut));
        let data_in = off.tcp[1].get(tcp::Counter::SegmentsIn);
        assert!(acks_on < acks_off, "seed {seed}: {acks_on} ACKs coalescing, {acks_off} not");
        assert!(acks_off <= data_in, "seed {seed}: {acks_off} ACKs for {data_in} segments");
    }
}

#[test]
fn a_session_waiting_for_its_ack_leaves_the_worker_idle() {
    // 10 ms round trip: the source's data and FIN sit unacknowledged in its
    // tx fifo for that long. The worker has nothing to do meanwhile; it used
    // to push the session's tx again on every loop (and so never idled).
    let cfg = LinkConfig { latency_ns: 5_000_000, ..LinkConfig::default() };
    let (_link, mut a, mut b) = pair(&cfg);
    let log: Log = Arc::default();
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = b.attach("sink", Box::new(Sink::new(got.clone(), log.clone())));
    b.listen(sink, Endpoint::v4(Proto::Tcp, B, 5000));
    let remote = Endpoint::v4(Proto::Tcp, B, 5000);
    a.attach("source", Box::new(Source::new(remote, pattern(1000), log.clone())));
    let mut now = 0;
    let written = |l: &Log| l.lock().unwrap().iter().any(|(_, e)| e == "source: all written, close");
    run_until(&mut now, &mut a, &mut b, 1_000_000_000, |_, _| written(&log));
    // One more loop sends what was written; then 8 ms of waiting, less than
    // the round trip, so no ACK can have come back (the sink gets the data
    // at 5 ms).
    a.poll(now);
    b.poll(now);
    now += STEP_NS;
    let loops = 8_000_000 / STEP_NS;
    let mut busy = 0;
    for _ in 0..loops {
        busy += usize::from(a.poll(now) > 0);
        b.poll(now);
        now += STEP_NS;
    }
    assert!(busy <= 2, "{busy} of {loops} loops did work while the source only waited for its ACK");
    // And the transfer completes.
    run_until(&mut now, &mut a, &mut b, 10_000_000_000, |_, _| got.lock().unwrap().len() == 1000);
    assert!(*got.lock().unwrap() == pattern(1000));
}

/// B's link-local address (from its MAC) as a TCP endpoint on `port`.
fn b_link_local_tcp(port: u16) -> Endpoint {
    Endpoint::v6(Proto::Tcp, wire::ipv6::link_local_from_mac(Mac([2, 0, 0, 0, 0, 2])), port)
}

/// TCP over IPv6 between two simulated nodes: the sink listens on `[::]`,
/// the source connects to B's link-local address; the bytes arrive
/// bit-exact, both sides close cleanly, and the sink saw the source's
/// link-local address.
#[test]
fn tcp_transfer_over_ipv6_link_local_is_bit_exact() {
    let bytes = 300_000;
    let listen: Endpoint = "tcp://[::]/5000".parse().unwrap();
    let run = tcp_transfer_to(&LinkConfig::default(), bytes, listen, b_link_local_tcp(5000));
    assert!(run.got == pattern(bytes), "the sink got {} bytes, not the {bytes} sent", run.got.len());
    let a_ll = wire::ipv6::link_local_from_mac(Mac([2, 0, 0, 0, 0, 1]));
    let events: Vec<&str> = run.log.iter().map(|(_, e)| e.as_str()).collect();
    assert_eq!(events[0], "source: connected true", "{:?}", run.log);
    assert_eq!(events[1], format!("sink: accepted from [{a_ll}]:49152"), "{:?}", run.log);
    assert!(events.contains(&"sink: peer closed after 300000 bytes"), "{:?}", run.log);
    assert!(events.contains(&"source: closed after 300000 bytes"), "{:?}", run.log);
    assert_eq!(run.tcp[0].get(tcp::Counter::Retransmits), 0);
}

/// The same over a seeded lossy link: bit-exact, recovered by
/// retransmission, and the run repeats exactly for its seed.
#[test]
fn lossy_tcp_transfer_over_ipv6_is_bit_exact_and_repeats_per_seed() {
    let bytes = 1 << 20;
    let cfg = LinkConfig {
        latency_ns: 50_000,
        loss_percent: 2.0,
        duplicate_percent: 1.0,
        reorder_percent: 2.0,
        seed: 11,
        ..LinkConfig::default()
    };
    let listen: Endpoint = "tcp://[::]/5000".parse().unwrap();
    let first = tcp_transfer_to(&cfg, bytes, listen, b_link_local_tcp(5000));
    assert!(first.got == pattern(bytes), "the sink got {} bytes, not the {bytes} sent", first.got.len());
    for f in first.faults {
        assert!(f.iter().all(|&n| n > 0), "faults {:?}", first.faults);
    }
    assert!(first.tcp[0].get(tcp::Counter::Retransmits) > 0, "the source never retransmitted");
    let again = tcp_transfer_to(&cfg, bytes, listen, b_link_local_tcp(5000));
    assert!(again == first, "seed 11 ran differently the second time:\n{:?}\n{:?}", first.log, again.log);
}

/// A sink on B listening on `[::]:5000` and a source on A sending `bytes`
/// to B's link-local address; the sink's bytes and the apps' log.
fn v6_transfer_apps(a: &mut Node, b: &mut Node, bytes: usize) -> (Arc<Mutex<Vec<u8>>>, Log) {
    let log: Log = Arc::default();
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = b.attach("sink", Box::new(Sink::new(got.clone(), log.clone())));
    b.listen(sink, "tcp://[::]/5000".parse().unwrap());
    a.attach("source", Box::new(Source::new(b_link_local_tcp(5000), pattern(bytes), log.clone())));
    (got, log)
}

fn both_closed(l: &Log) -> bool {
    let l = l.lock().unwrap();
    ["source: closed", "sink: closed"].iter().all(|who| l.iter().any(|(_, e)| e.starts_with(who)))
}

/// Ports that offer UDP/TCP tx checksum offload get the IPv6 segments'
/// checksums left to them (the pseudo-header sum in the field, the request
/// on the buffer; the simulated NIC finishes them as it sends), and the
/// transfer is bit-exact, so the sums were right.
#[test]
fn tcp_over_ipv6_leaves_its_checksums_to_nics_that_offer_them() {
    use net::l3::PortCaps;
    use wire::offload::{CsumSet, Offloads};
    let (_link, mut a, mut b) = pair(&LinkConfig::default());
    let caps = PortCaps { offloads: Offloads { tx: CsumSet::ALL, rx: CsumSet::NONE }, ..PortCaps::default() };
    a.sim.l3.set_port_caps(0, caps.clone());
    b.sim.l3.set_port_caps(0, caps);
    let bytes = 200_000;
    let (got, log) = v6_transfer_apps(&mut a, &mut b, bytes);
    let mut now = 0;
    run_until(&mut now, &mut a, &mut b, 60_000_000_000, |_, _| both_closed(&log));
    assert!(*got.lock().unwrap() == pattern(bytes), "the sink got {} bytes", got.lock().unwrap().len());
    // 200 kB in segments of at most 1440 bytes: at least 139 data segments
    // from A, and B's ACKs.
    assert!(a.sim.l3.device().tx_csum_offloaded >= 139, "{}", a.sim.l3.device().tx_csum_offloaded);
    assert!(b.sim.l3.device().tx_csum_offloaded > 0);
    assert_eq!(a.worker.tcp_stats().0.get(tcp::Counter::Retransmits), 0);
}

/// A full tx ring pushes back on TCP over IPv6 as over IPv4: the
/// connection waits (counted as `tx queue full, transport waited`) instead
/// of building segments the device would drop, and carries on bit-exact
/// once the NIC takes frames again.
#[test]
fn tcp_over_ipv6_waits_while_the_tx_ring_is_full() {
    use net::l3::counters::Counter as L3Counter;
    let (_link, mut a, mut b) = pair(&LinkConfig::default());
    let bytes = 300_000;
    let (got, log) = v6_transfer_apps(&mut a, &mut b, bytes);
    let mut now = 0;
    run_until(&mut now, &mut a, &mut b, 10_000_000_000, |_, _| got.lock().unwrap().len() >= 50_000);
    // The NIC stops taking frames and the batch fills (with frames for
    // nobody, which B drops once they go).
    a.sim.l3.device_mut().tx_stalled = true;
    while net::device::Device::tx_ready(a.sim.l3.device_mut(), 0) {
        a.sim.l3.tx_push(0, net::sim::SimBuf::from_bytes(&[0; 60]));
    }
    for _ in 0..2_000 {
        a.poll(now);
        b.poll(now);
        now += STEP_NS;
    }
    let c = &a.sim.l3.counters;
    assert!(c.get(L3Counter::TxBackpressure) > 0, "the source never waited");
    assert_eq!(c.get(L3Counter::TxQueueFull), 0, "segments were built for a full ring and dropped");
    a.sim.l3.device_mut().tx_stalled = false;
    run_until(&mut now, &mut a, &mut b, 60_000_000_000, |_, _| both_closed(&log));
    assert!(*got.lock().unwrap() == pattern(bytes), "the sink got {} bytes", got.lock().unwrap().len());
}

/// `bytes` from A to B (IPv4) with both nodes' port set up by `caps` and
/// a large pool (as a node with TSO or GSO on has); returns what B got,
/// A's L2/L3 counters and the frames A's simulated NIC cut (TSO).
fn large_transfer(
    cfg: &LinkConfig,
    bytes: usize,
    caps: net::l3::PortCaps,
) -> (Vec<u8>, Arc<net::l3::counters::Counters>, u64, Run) {
    let (link, mut a, mut b) = pair(cfg);
    for n in [&mut a, &mut b] {
        n.sim.l3.set_port_caps(0, caps.clone());
        n.sim.l3.device_mut().large_pool = true;
    }
    let log: Log = Arc::default();
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = b.attach("sink", Box::new(Sink::new(got.clone(), log.clone())));
    b.listen(sink, Endpoint::v4(Proto::Tcp, B, 5000));
    a.attach("source", Box::new(Source::new(Endpoint::v4(Proto::Tcp, B, 5000), pattern(bytes), log.clone())));
    let mut now = 0;
    let closed = |l: &Log, who: &str| l.lock().unwrap().iter().any(|(_, e)| e.starts_with(who) && e.contains("closed"));
    run_until(&mut now, &mut a, &mut b, 300_000_000_000, |_, _| {
        closed(&log, "source: closed") && closed(&log, "sink: closed")
    });
    let [ab, ba] = link.fault_counters();
    let fault = |c: &net::fault::FaultCounters| {
        use net::fault::FaultCounter::*;
        [c.get(Dropped), c.get(Duplicated), c.get(Reordered)]
    };
    let run = Run {
        log: log.lock().unwrap().clone(),
        got: got.lock().unwrap().clone(),
        tcp: [a.worker.tcp_stats().0, b.worker.tcp_stats().0],
        faults: [fault(&ab), fault(&ba)],
        end_ns: now,
    };
    let got = got.lock().unwrap().clone();
    (got, a.sim.l3.counters.clone(), a.sim.l3.device().tso_frames, run)
}

fn large_caps(tso: bool, gso: bool) -> net::l3::PortCaps {
    net::l3::PortCaps { mtu: 1500, tso, gso, large_max: 65_000, ..net::l3::PortCaps::default() }
}

/// GSO: TCP hands L3 large segments, L3 cuts them into MTU-sized frames
/// (checksums in software: the port offers none) and the peer, which
/// drops any frame longer than its MTU, gets every byte in order.
#[test]
fn gso_cuts_large_tcp_segments_into_mtu_frames_the_peer_accepts() {
    use net::l3::counters::Counter as L3Counter;
    let bytes = 4 << 20;
    let (got, c, tso, run) = large_transfer(&LinkConfig::default(), bytes, large_caps(false, true));
    assert!(got == pattern(bytes), "the sink got {} bytes", got.len());
    let cut = c.get(L3Counter::GsoSegmentsCut);
    // Each large segment carries several MSS, so far fewer than the
    // 2900-odd MSS of the transfer were handed down.
    assert!(cut > 0 && cut < 1000, "large segments cut: {cut}");
    assert!(c.get(L3Counter::GsoFramesOut) >= (bytes / 1448) as u64, "{}", c.get(L3Counter::GsoFramesOut));
    assert_eq!(c.get(L3Counter::EthTooLong), 0);
    assert_eq!(tso, 0);
    assert_eq!(run.tcp[0].get(tcp::Counter::Retransmits), 0);
}

/// GSO over a lossy, reordering link: bit-exact, with retransmissions
/// (one MSS each) filling the holes the lost pieces left.
#[test]
fn gso_transfer_over_a_lossy_link_is_bit_exact() {
    use net::l3::counters::Counter as L3Counter;
    let bytes = 3 << 20;
    let cfg =
        LinkConfig { latency_ns: 50_000, loss_percent: 2.0, reorder_percent: 2.0, seed: 11, ..LinkConfig::default() };
    let (got, c, _, run) = large_transfer(&cfg, bytes, large_caps(false, true));
    assert!(got == pattern(bytes), "the sink got {} bytes", got.len());
    assert!(c.get(L3Counter::GsoSegmentsCut) > 0);
    assert!(run.faults[0][0] > 0, "the link dropped nothing: {:?}", run.faults);
    assert!(run.tcp[0].get(tcp::Counter::Retransmits) > 0);
}

/// TSO: the large segment goes to the (simulated) NIC whole, with the
/// TSO request, and the NIC's pieces reach the peer intact.
#[test]
fn tso_hands_large_segments_to_the_nic_whole() {
    use net::l3::counters::Counter as L3Counter;
    let bytes = 2 << 20;
    let (got, c, tso, _) = large_transfer(&LinkConfig::default(), bytes, large_caps(true, false));
    assert!(got == pattern(bytes), "the sink got {} bytes", got.len());
    assert!(
        tso > 0 && tso == c.get(L3Counter::TsoSegmentsOut),
        "nic cut {tso}, l3 sent {}",
        c.get(L3Counter::TsoSegmentsOut)
    );
    assert_eq!(c.get(L3Counter::GsoSegmentsCut), 0);
}
