//! QUIC over the session layer's UDP on two simulated nodes (`net::sim`, a
//! virtual clock, no EAL): the builtin echo server behind a `quic`
//! listener, the builtin echo client opening one connection and streams on
//! it through the parent handle; certificates made here with `openssl`.
//! Covers a bit-exact echo of 10 streams (also over a seeded lossy link),
//! a wrong server name (counted, nothing left behind), garbage datagrams
//! on the QUIC port (counted and dropped), more streams than the peer's
//! limit (they wait for credit, never more open at once), and a parent
//! that is no QUIC connection (refused with a clear error).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{mpsc, Arc};

use echo::{EchoMode, EchoReport};
use net::l3::L3;
use net::sim::{Link, LinkConfig, LinkEnd, SimDevice, SimIface, SimNode};
use session::app_worker::{AppWorkerKind, AppWorkerShared};
use session::apps::echo::{EchoClient, EchoClientConfig, EchoServer};
use session::builtin::{AppApi, BuiltinApp};
use session::pool::Handle;
use session::quic::{QuicClient, QuicCounter, QuicLimits, QuicServer};
use session::tcp_transport::TcpTransportConfig;
use session::tls::{TlsClientOptions, TlsServerOptions};
use session::transport::{ConnectError, ConnectRequest};
use session::udp::UdpConfig;
use session::worker::{AppLink, SessionShared, SessionWorker};
use shm::types::{AttachOptions, Endpoint, Proto, SessionHandle, TransportOptions};
use wire::ethernet::Address as Mac;
use wire::ipv4::Cidr;

type Io = L3<SimDevice>;

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const PORT: u16 = 4433;
const STEP_NS: u64 = 20_000;
const RX_FIFO: u32 = 64 << 10;

struct Node {
    sim: SimNode,
    worker: SessionWorker<Io>,
    shared: SessionShared,
}

impl Node {
    fn new(end: LinkEnd, last: u8, ip: Ipv4Addr) -> Node {
        let iface = SimIface { end, mac: Mac([2, 0, 0, 0, 0, last]), ip4: Cidr::new(ip, 24).expect("prefix") };
        let tcp = TcpTransportConfig { secret: [last; 16], ..TcpTransportConfig::default() };
        Node {
            sim: SimNode::new(vec![iface]),
            worker: SessionWorker::new_at(0, 1, None, UdpConfig::default(), tcp, 0),
            shared: SessionShared::default(),
        }
    }

    fn attach(&mut self, name: &str, app: Box<dyn BuiltinApp<Io>>) -> (Handle, Handle) {
        let opts = AttachOptions {
            segment_size: 32 << 20,
            rx_fifo_size: RX_FIFO,
            tx_fifo_size: RX_FIFO,
            ..AttachOptions::builtin()
        };
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

    fn listen_quic(&mut self, (app, wrk): (Handle, Handle), quic: QuicServer) {
        let ep = Endpoint::v4(Proto::Udp, B, PORT);
        let l = self.shared.control.listen(app, wrk, ep).expect("listen").listener();
        self.shared.control.listener_set_quic(l, Some(quic)).expect("quic");
    }

    fn poll(&mut self, now: u64) -> usize {
        self.sim.poll(now, &mut self.worker, &self.shared)
    }

    fn quic(&self, c: QuicCounter) -> u64 {
        self.worker.stats.quic.get(c)
    }
}

fn run_until(now: &mut u64, a: &mut Node, b: &mut Node, limit_ns: u64, mut done: impl FnMut(&Node, &Node) -> bool) {
    let end = *now + limit_ns;
    while !done(a, b) {
        assert!(*now < end, "not done after {limit_ns} ns of virtual time");
        a.poll(*now);
        b.poll(*now);
        *now += STEP_NS;
    }
}

/// A CA and a server certificate for `server.test` signed by it, made with openssl.
struct Certs {
    dir: PathBuf,
}

impl Certs {
    fn make(tag: &str) -> Certs {
        let dir = std::env::temp_dir().join(format!("dpnode-quic-sim-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let sh = format!(
            "set -e; cd {d}; \
             openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem \
               -days 30 -subj /CN=dpnode-test-ca -addext basicConstraints=critical,CA:TRUE \
               -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null; \
             openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr \
               -subj /CN=server.test 2>/dev/null; \
             printf 'subjectAltName=DNS:server.test,IP:198.18.0.2\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext; \
             openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 30 \
               -extfile ext 2>/dev/null",
            d = dir.display()
        );
        let st = Command::new("sh").arg("-c").arg(&sh).status().expect("openssl runs");
        assert!(st.success(), "openssl made the certificates");
        Certs { dir }
    }

    fn path(&self, f: &str) -> String {
        self.dir.join(f).display().to_string()
    }

    fn server(&self, limits: &QuicLimits) -> QuicServer {
        let o =
            TlsServerOptions { cert: self.path("server.pem"), key: self.path("server.key"), alpn: vec!["echo".into()] };
        QuicServer::load(&o, limits, RX_FIFO).expect("server config")
    }

    fn client(&self, name: &str) -> QuicClient {
        let o = TlsClientOptions {
            ca: Some(self.path("ca.pem")),
            server_name: name.into(),
            insecure: false,
            alpn: vec!["echo".into()],
        };
        QuicClient::load(&o, &QuicLimits::default(), RX_FIFO).expect("client config")
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn client_config(bytes: u64) -> EchoClientConfig {
    EchoClientConfig {
        remote: Endpoint::v4(Proto::Udp, B, PORT),
        sessions: 1,
        bytes,
        chunk: 16 << 10,
        window: 32,
        timeout_ns: 10_000_000_000,
        options: TransportOptions::default(),
        mode: EchoMode::Bulk,
        connections: 0,
        duration_ns: 0,
    }
}

struct Run {
    report: EchoReport,
    a: Node,
    b: Node,
}

/// The echo client on A (one connection, `streams` streams of `bytes`)
/// against the QUIC echo server on B over a link with `link`.
fn echo_run(certs: &Certs, client: QuicClient, limits: QuicLimits, streams: u32, bytes: u64, link: LinkConfig) -> Run {
    let link = Link::new(&link);
    let mut a = Node::new(link.a(), 1, A);
    let mut b = Node::new(link.b(), 2, B);
    let server = b.attach("echo-server", Box::new(EchoServer::new()));
    b.listen_quic(server, certs.server(&limits));
    let (tx, rx) = mpsc::channel();
    let c = EchoClient::new(client_config(bytes), 0, 1, tx).with_quic(client, streams);
    a.attach("echo-client", Box::new(c));
    let mut now = 0;
    let mut report = None;
    run_until(&mut now, &mut a, &mut b, 200_000_000_000, |_, _| {
        report = report.take().or_else(|| rx.try_recv().ok());
        report.is_some()
    });
    // The closes finish and the connections drain: nothing is left on either node.
    run_until(&mut now, &mut a, &mut b, 60_000_000_000, |a, b| {
        a.worker.session_count() == 0
            && b.worker.session_count() == 0
            && a.worker.sessions_snapshot().is_empty()
            && b.worker.stats.sessions.load(std::sync::atomic::Ordering::Relaxed) == 0
    });
    Run { report: report.expect("report"), a, b }
}

fn assert_no_errors(n: &Node, except: &[QuicCounter]) {
    for f in QuicCounter::ALL.iter().filter(|f| f.is_error() && !except.contains(f)) {
        assert_eq!(n.quic(*f), 0, "{}", f.name());
    }
}

#[test]
fn ten_streams_on_one_connection_echo_bit_exact() {
    let certs = Certs::make("echo");
    let r = echo_run(&certs, certs.client("server.test"), QuicLimits::default(), 10, 1 << 20, LinkConfig::default());
    let rep = &r.report;
    assert_eq!((rep.sessions, rep.connected, rep.completed), (10, 10, 10), "{rep:?}");
    assert_eq!((rep.bytes_sent, rep.bytes_received, rep.mismatched_bytes), (10 << 20, 10 << 20, 0), "{rep:?}");
    assert!(rep.connect_errors.is_empty(), "{rep:?}");
    assert_eq!(r.a.quic(QuicCounter::HandshakeClient), 1);
    assert_eq!(r.b.quic(QuicCounter::HandshakeServer), 1);
    assert_eq!(r.a.quic(QuicCounter::StreamsOpened), 10);
    assert_eq!(r.b.quic(QuicCounter::StreamsAccepted), 10);
    assert_eq!(r.b.quic(QuicCounter::StreamRxBytes), 10 << 20);
    assert_eq!(r.a.quic(QuicCounter::StreamRxBytes), 10 << 20);
    assert_no_errors(&r.a, &[]);
    assert_no_errors(&r.b, &[]);
}

#[test]
fn ten_streams_survive_a_lossy_link_bit_exact() {
    let certs = Certs::make("loss");
    let link = LinkConfig {
        loss_percent: 2.0,
        duplicate_percent: 1.0,
        reorder_percent: 2.0,
        seed: 13,
        ..LinkConfig::default()
    };
    let r = echo_run(&certs, certs.client("server.test"), QuicLimits::default(), 10, 256 << 10, link);
    let rep = &r.report;
    assert_eq!((rep.completed, rep.bytes_received, rep.mismatched_bytes), (10, 10 * (256 << 10), 0), "{rep:?}");
    assert_eq!(r.b.quic(QuicCounter::StreamsAccepted), 10);
}

#[test]
fn more_streams_than_the_limit_wait_for_credit() {
    let certs = Certs::make("limit");
    let limits = QuicLimits { max_streams: 3, ..QuicLimits::default() };
    let r = echo_run(&certs, certs.client("server.test"), limits, 8, 64 << 10, LinkConfig::default());
    let rep = &r.report;
    assert_eq!((rep.completed, rep.mismatched_bytes), (8, 0), "{rep:?}");
    assert_eq!(r.b.quic(QuicCounter::StreamsAccepted), 8);
    assert_eq!(r.b.quic(QuicCounter::FailStreamLimit), 0, "the client kept to the limit");
}

#[test]
fn a_wrong_server_name_fails_the_connect_and_is_counted() {
    let certs = Certs::make("name");
    let r = echo_run(&certs, certs.client("wrong.test"), QuicLimits::default(), 2, 1000, LinkConfig::default());
    let rep = &r.report;
    assert_eq!((rep.connected, rep.completed), (0, 0), "{rep:?}");
    assert_eq!(rep.connect_errors, ["quic handshake failed"], "{rep:?}");
    assert_eq!(r.a.quic(QuicCounter::FailTls), 1);
    assert_eq!(r.b.quic(QuicCounter::FailTls), 1, "the server saw the client's alert");
    assert_eq!(r.b.quic(QuicCounter::HandshakeServer), 0);
}

/// Sends raw UDP datagrams to B's QUIC port once connected; then asks for a stream with a UDP session as parent.
struct Garbage {
    sent: bool,
    pub parent_error: Option<String>,
    results: mpsc::Sender<String>,
}

impl BuiltinApp<Io> for Garbage {
    fn connected(&mut self, api: &mut AppApi<'_, Io>, _opaque: u64, r: Result<SessionHandle, ConnectError>) {
        let h = r.expect("udp connect");
        for i in 0..20u8 {
            // Short-header and long-header shapes, and a big one with an unknown version.
            let mut d = vec![i.wrapping_mul(37); 30 + usize::from(i) * 70];
            d[0] = if i % 2 == 0 { 0x40 | i } else { 0xc0 };
            if i % 2 == 1 {
                d[1..5].copy_from_slice(&[0x1a, 0x2a, 0x3a, 0x4a + i]);
            }
            api.send(h, &d);
        }
        let mut req = ConnectRequest::new(Endpoint::v4(Proto::Udp, B, PORT));
        req.parent = Some(h);
        let e = api.connect(req).expect_err("a udp parent is refused").to_string();
        let _ = self.results.send(e);
        self.sent = true;
    }

    fn poll(&mut self, api: &mut AppApi<'_, Io>) -> usize {
        if self.parent_error.is_none() && !self.sent {
            self.parent_error = Some(String::new());
            api.connect(ConnectRequest::new(Endpoint::v4(Proto::Udp, B, PORT))).expect("connect");
            return 1;
        }
        0
    }
}

#[test]
fn garbage_on_the_quic_port_is_counted_and_a_udp_parent_refused() {
    let certs = Certs::make("garbage");
    let link = Link::new(&LinkConfig::default());
    let mut a = Node::new(link.a(), 1, A);
    let mut b = Node::new(link.b(), 2, B);
    let server = b.attach("echo-server", Box::new(EchoServer::new()));
    b.listen_quic(server, certs.server(&QuicLimits::default()));
    let (tx, rx) = mpsc::channel();
    a.attach("garbage", Box::new(Garbage { sent: false, parent_error: None, results: tx }));
    let mut now = 0;
    run_until(&mut now, &mut a, &mut b, 10_000_000_000, |_, b| b.quic(QuicCounter::RxDatagrams) == 20);
    for _ in 0..1000 {
        a.poll(now);
        b.poll(now);
        now += STEP_NS;
    }
    assert_eq!(b.quic(QuicCounter::RxDropped), 20);
    assert_eq!(b.quic(QuicCounter::HandshakeServer), 0);
    assert_eq!(b.worker.session_count(), 0, "no session for garbage");
    let e = rx.try_recv().expect("the parent error");
    assert!(e.contains("has no streams") && e.contains("refused"), "{e}");
}
