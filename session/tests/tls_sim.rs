//! TLS over the session layer's TCP on two simulated nodes (`net::sim`, a
//! virtual clock, no EAL): the builtin echo server behind a `tls` listener,
//! the builtin echo client connecting with TLS, certificates made here with
//! the `openssl` command. Covers a bit-exact echo, a handshake that fails on
//! the server name (counted, nothing left behind), and the listen-time
//! checks of the certificate and key files; a TCP peer that never finishes
//! its handshake is closed after `handshake_timeout`; a half-close
//! (close_notify) in either direction leaves the other one open.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{mpsc, Arc};

use echo::{EchoMode, EchoReport};
use net::l3::L3;
use net::sim::{Link, LinkConfig, LinkEnd, SimDevice, SimIface, SimNode};
use session::app_worker::{AppWorkerKind, AppWorkerShared};
use session::apps::echo::{EchoClient, EchoClientConfig, EchoServer};
use session::builtin::{AppApi, BuiltinApp};
use session::pool::Handle;
use session::tcp_transport::TcpTransportConfig;
use session::tls::{TlsClient, TlsClientOptions, TlsCounter, TlsServer, TlsServerOptions};
use session::transport::{ConnectError, ConnectRequest};
use session::udp::UdpConfig;
use session::worker::{AppLink, SessionShared, SessionWorker};
use shm::types::SessionHandle;
use shm::types::{AttachOptions, Endpoint, Proto, TransportOptions};
use wire::ethernet::Address as Mac;
use wire::ipv4::Cidr;

type Io = L3<SimDevice>;

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const STEP_NS: u64 = 20_000;

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

    fn listen_tls(&mut self, (app, wrk): (Handle, Handle), ep: Endpoint, tls: TlsServer) {
        let l = self.shared.control.listen(app, wrk, ep).expect("listen").listener();
        self.shared.control.listener_set_tls(l, Some(tls)).expect("tls");
    }

    fn poll(&mut self, now: u64) -> usize {
        self.sim.poll(now, &mut self.worker, &self.shared)
    }

    fn tls(&self, c: TlsCounter) -> u64 {
        self.worker.stats.tls.get(c)
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

/// A CA and a server certificate for `server.test` and 198.18.0.2 signed by it, made with openssl.
struct Certs {
    dir: PathBuf,
}

impl Certs {
    fn make(tag: &str) -> Certs {
        let dir = std::env::temp_dir().join(format!("dpnode-tls-sim-{tag}-{}", std::process::id()));
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
               -extfile ext 2>/dev/null; \
             openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout other.key -out other.csr \
               -subj /CN=other 2>/dev/null",
            d = dir.display()
        );
        let st = Command::new("sh").arg("-c").arg(&sh).status().expect("openssl runs");
        assert!(st.success(), "openssl made the certificates");
        Certs { dir }
    }

    fn path(&self, f: &str) -> String {
        self.dir.join(f).display().to_string()
    }

    fn server(&self, alpn: &[&str]) -> TlsServer {
        TlsServer::load(&TlsServerOptions {
            cert: self.path("server.pem"),
            key: self.path("server.key"),
            alpn: alpn.iter().map(|s| s.to_string()).collect(),
        })
        .expect("server config")
    }

    fn client(&self, name: &str, alpn: &[&str]) -> TlsClient {
        TlsClient::load(&TlsClientOptions {
            ca: Some(self.path("ca.pem")),
            server_name: name.into(),
            insecure: false,
            alpn: alpn.iter().map(|s| s.to_string()).collect(),
        })
        .expect("client config")
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn client_config(sessions: u32, bytes: u64) -> EchoClientConfig {
    EchoClientConfig {
        remote: Endpoint::v4(Proto::Tcp, B, 4433),
        sessions,
        bytes,
        chunk: 64 << 10,
        window: 32,
        timeout_ns: 20_000_000_000,
        options: TransportOptions::default(),
        mode: EchoMode::Bulk,
        connections: 0,
        duration_ns: 0,
    }
}

/// Runs the echo client on A with `tls` against the TLS echo server on B; returns the report and the nodes.
fn echo_run(certs: &Certs, tls: TlsClient, sessions: u32, bytes: u64) -> (EchoReport, Node, Node, u64) {
    let link = Link::new(&LinkConfig::default());
    let mut a = Node::new(link.a(), 1, A);
    let mut b = Node::new(link.b(), 2, B);
    let server = b.attach("echo-server", Box::new(EchoServer::new()));
    b.listen_tls(server, Endpoint::v4(Proto::Tcp, B, 4433), certs.server(&["echo"]));
    let (tx, rx) = mpsc::channel();
    let client = EchoClient::new(client_config(sessions, bytes), 0, 1, tx).with_tls(tls);
    a.attach("echo-client", Box::new(client));
    let mut now = 0;
    let mut report = None;
    run_until(&mut now, &mut a, &mut b, 60_000_000_000, |_, _| {
        report = report.take().or_else(|| rx.try_recv().ok());
        report.is_some()
    });
    // Let the closes finish: every session on both nodes is freed.
    run_until(&mut now, &mut a, &mut b, 10_000_000_000, |a, b| {
        a.worker.session_count() == 0 && b.worker.session_count() == 0
    });
    (report.expect("report"), a, b, now)
}

#[test]
fn tls_echo_between_two_simulated_nodes_is_bit_exact() {
    let certs = Certs::make("echo");
    let (r, a, b, _) = echo_run(&certs, certs.client("server.test", &["echo"]), 2, 1 << 20);
    assert_eq!((r.connected, r.completed), (2, 2), "{r:?}");
    assert_eq!((r.bytes_sent, r.bytes_received, r.mismatched_bytes), (2 << 20, 2 << 20, 0), "{r:?}");
    assert!(r.connect_errors.is_empty(), "{r:?}");
    assert_eq!(a.tls(TlsCounter::HandshakeClient), 2);
    assert_eq!(b.tls(TlsCounter::HandshakeServer), 2);
    assert_eq!(a.tls(TlsCounter::PlainTxBytes), 2 << 20);
    assert_eq!(b.tls(TlsCounter::PlainRxBytes), 2 << 20);
    assert!(a.tls(TlsCounter::CipherTxBytes) > 2 << 20, "records cost more than their plaintext");
    for c in [&a, &b] {
        for f in TlsCounter::ALL.iter().filter(|f| f.is_error()) {
            assert_eq!(c.tls(*f), 0, "{}", f.name());
        }
    }
}

#[test]
fn tls_to_an_address_verifies_its_ip_san() {
    let certs = Certs::make("ip");
    let (r, a, _, _) = echo_run(&certs, certs.client("198.18.0.2", &["echo"]), 1, 100_000);
    assert_eq!((r.completed, r.mismatched_bytes), (1, 0), "{r:?}");
    assert_eq!(a.tls(TlsCounter::HandshakeClient), 1);
}

#[test]
fn a_wrong_server_name_fails_the_connect_and_is_counted() {
    let certs = Certs::make("name");
    let (r, a, b, _) = echo_run(&certs, certs.client("wrong.test", &["echo"]), 1, 100_000);
    assert_eq!((r.connected, r.completed), (0, 0), "{r:?}");
    assert_eq!(r.connect_errors, ["tls handshake failed"], "{r:?}");
    assert_eq!(a.tls(TlsCounter::FailWrongName), 1);
    assert_eq!(a.tls(TlsCounter::HandshakeClient), 0);
    // The server saw the client's alert; it never accepted a session.
    assert_eq!(b.tls(TlsCounter::HandshakeServer), 0);
    assert_eq!(b.tls(TlsCounter::FailAlert) + b.tls(TlsCounter::FailPeerClosed), 1);
    assert_eq!(b.worker.stats.accepted.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[test]
fn no_common_alpn_fails_the_handshake() {
    let certs = Certs::make("alpn");
    let (r, a, b, _) = echo_run(&certs, certs.client("server.test", &["h2"]), 1, 1000);
    assert_eq!(r.completed, 0, "{r:?}");
    assert_eq!(b.tls(TlsCounter::FailAlpn), 1);
    assert_eq!(a.tls(TlsCounter::FailAlert), 1);
}

#[test]
fn bad_certificate_or_key_files_are_refused_naming_the_file() {
    let certs = Certs::make("files");
    let load = |cert: &str, key: &str| {
        TlsServer::load(&TlsServerOptions { cert: certs.path(cert), key: certs.path(key), alpn: vec![] })
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let e = load("missing.pem", "server.key");
    assert!(e.starts_with("invalid value for cert: ") && e.contains("missing.pem"), "{e}");
    let e = load("server.pem", "missing.key");
    assert!(e.starts_with("invalid value for key: ") && e.contains("missing.key"), "{e}");
    let e = load("server.key", "server.key");
    assert!(e.contains("cert") && e.contains("no PEM certificate"), "{e}");
    let e = load("server.pem", "other.key");
    assert!(e.contains("other.key") && e.contains("does not match the certificate"), "{e}");
    let e = load("server.pem", "server.pem");
    assert!(e.starts_with("invalid value for key: ") && e.contains("server.pem"), "{e}");
    let e = TlsClient::load(&TlsClientOptions {
        ca: Some(certs.path("nope.pem")),
        server_name: "x".into(),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("invalid value for ca: ") && e.contains("nope.pem"), "{e}");
    assert!(Path::new(&certs.path("server.pem")).is_file());
}

/// What a [`SilentPeer`] saw.
#[derive(Debug, Default)]
struct PeerLog {
    connected: bool,
    disconnected: bool,
    closed: bool,
}

/// A plain TCP client that connects once, writes `first` (nothing, or the
/// start of a ClientHello) and then waits; it closes when the peer does.
struct SilentPeer {
    first: Vec<u8>,
    started: bool,
    log: Arc<std::sync::Mutex<PeerLog>>,
}

impl BuiltinApp<Io> for SilentPeer {
    fn poll(&mut self, api: &mut AppApi<'_, Io>) -> usize {
        if std::mem::replace(&mut self.started, true) {
            return 0;
        }
        api.connect(ConnectRequest::new(Endpoint::v4(Proto::Tcp, B, 4433))).expect("connect");
        1
    }

    fn connected(&mut self, api: &mut AppApi<'_, Io>, _opaque: u64, r: Result<SessionHandle, ConnectError>) {
        let s = r.expect("tcp connects");
        self.log.lock().unwrap().connected = true;
        assert_eq!(api.send(s, &self.first), self.first.len());
    }

    fn disconnected(&mut self, api: &mut AppApi<'_, Io>, s: SessionHandle) {
        self.log.lock().unwrap().disconnected = true;
        api.close(s);
    }

    fn closed(&mut self, _api: &mut AppApi<'_, Io>, _s: SessionHandle) {
        self.log.lock().unwrap().closed = true;
    }
}

/// A TCP peer of the TLS echo server on B that sends `first` and then nothing.
fn silent_run(first: &[u8], timeout_ns: u64) {
    let certs = Certs::make(&format!("silent{}", first.len()));
    let link = Link::new(&LinkConfig::default());
    let mut a = Node::new(link.a(), 1, A);
    let mut b = Node::new(link.b(), 2, B);
    b.worker = SessionWorker::new_at(
        0,
        1,
        None,
        UdpConfig::default(),
        TcpTransportConfig { secret: [2; 16], tls_handshake_timeout_ns: timeout_ns, ..TcpTransportConfig::default() },
        0,
    );
    let server = b.attach("echo-server", Box::new(EchoServer::new()));
    b.listen_tls(server, Endpoint::v4(Proto::Tcp, B, 4433), certs.server(&["echo"]));
    let log = Arc::new(std::sync::Mutex::new(PeerLog::default()));
    a.attach("silent", Box::new(SilentPeer { first: first.to_vec(), started: false, log: log.clone() }));
    let mut now = 0;
    run_until(&mut now, &mut a, &mut b, 1_000_000_000, |_, b| b.worker.session_count() == 1);
    assert!(log.lock().unwrap().connected);
    // Just short of the timeout: still there, nothing counted.
    while now < timeout_ns - 100_000_000 {
        a.poll(now);
        b.poll(now);
        now += STEP_NS;
    }
    assert_eq!(b.worker.session_count(), 1);
    assert_eq!(b.tls(TlsCounter::FailTimeout), 0);
    // Past it: the server closed the session and the connection, and counted why.
    run_until(&mut now, &mut a, &mut b, 1_000_000_000, |_, b| b.tls(TlsCounter::FailTimeout) == 1);
    assert_eq!(b.worker.session_count(), 0, "the server's session went at once");
    // Every TCP connection goes too (the FIN-WAIT and TIME-WAIT timers run out).
    let end = now + 300_000_000_000;
    while !(a.worker.session_count() == 0 && b.worker.tcp_stats().1.is_empty() && a.worker.tcp_stats().1.is_empty()) {
        assert!(now < end, "connections left: {:?} {:?}", a.worker.tcp_stats().1, b.worker.tcp_stats().1);
        a.poll(now);
        b.poll(now);
        now += 1_000_000;
    }
    let l = log.lock().unwrap();
    assert!(l.disconnected && l.closed, "the peer saw the FIN: {l:?}");
    assert_eq!(b.tls(TlsCounter::HandshakeServer), 0);
    for f in TlsCounter::ALL.iter().filter(|f| f.is_error() && **f != TlsCounter::FailTimeout) {
        assert_eq!(b.tls(*f), 0, "{}", f.name());
    }
    assert_eq!(b.worker.stats.accepted.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[test]
fn a_peer_that_sends_nothing_is_closed_after_the_handshake_timeout() {
    silent_run(&[], 2_000_000_000);
}

#[test]
fn a_peer_that_stops_in_the_middle_of_its_client_hello_is_closed_after_the_handshake_timeout() {
    // A handshake record header announcing 512 bytes, a ClientHello header, and no more.
    silent_run(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03], 3_000_000_000);
}

/// Half-close server: echoes what it reads; when the peer closes its side, writes "bye" and closes.
struct HalfServer;

impl BuiltinApp<Io> for HalfServer {
    fn rx(&mut self, api: &mut AppApi<'_, Io>, s: SessionHandle) {
        let mut buf = vec![0; 65536];
        let n = api.recv(s, &mut buf);
        assert_eq!(api.send(s, &buf[..n]), n, "the echo fits the tx fifo");
    }

    fn disconnected(&mut self, api: &mut AppApi<'_, Io>, s: SessionHandle) {
        // EOF from the peer, and this side may still write.
        assert_eq!(api.send(s, b"bye"), 3);
        api.close(s);
    }
}

/// What a [`HalfClient`] saw.
#[derive(Debug, Default)]
struct HalfLog {
    got: Vec<u8>,
    eof: bool,
    closed: bool,
}

/// Half-close client: connects over TLS, writes `data`, shuts its writing side at once, reads until EOF.
struct HalfClient {
    tls: TlsClient,
    data: Vec<u8>,
    started: bool,
    log: Arc<std::sync::Mutex<HalfLog>>,
}

impl BuiltinApp<Io> for HalfClient {
    fn poll(&mut self, api: &mut AppApi<'_, Io>) -> usize {
        if std::mem::replace(&mut self.started, true) {
            return 0;
        }
        api.connect_tls(ConnectRequest::new(Endpoint::v4(Proto::Tcp, B, 4433)), self.tls.clone()).expect("connect");
        1
    }

    fn connected(&mut self, api: &mut AppApi<'_, Io>, _opaque: u64, r: Result<SessionHandle, ConnectError>) {
        let s = r.expect("tls connects");
        assert_eq!(api.send(s, &self.data), self.data.len());
        api.shutdown_write(s);
    }

    fn rx(&mut self, api: &mut AppApi<'_, Io>, s: SessionHandle) {
        let mut buf = vec![0; 65536];
        let n = api.recv(s, &mut buf);
        self.log.lock().unwrap().got.extend_from_slice(&buf[..n]);
    }

    fn disconnected(&mut self, api: &mut AppApi<'_, Io>, s: SessionHandle) {
        self.rx(api, s);
        self.log.lock().unwrap().eof = true;
        api.close(s);
    }

    fn closed(&mut self, _api: &mut AppApi<'_, Io>, _s: SessionHandle) {
        self.log.lock().unwrap().closed = true;
    }
}

#[test]
fn shutdown_write_sends_close_notify_and_both_sides_go_on_in_the_other_direction() {
    let certs = Certs::make("half");
    let link = Link::new(&LinkConfig::default());
    let mut a = Node::new(link.a(), 1, A);
    let mut b = Node::new(link.b(), 2, B);
    let server = b.attach("half-server", Box::new(HalfServer));
    b.listen_tls(server, Endpoint::v4(Proto::Tcp, B, 4433), certs.server(&["echo"]));
    let data: Vec<u8> = (0..20_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let log = Arc::new(std::sync::Mutex::new(HalfLog::default()));
    let client = HalfClient {
        tls: certs.client("server.test", &["echo"]),
        data: data.clone(),
        started: false,
        log: log.clone(),
    };
    a.attach("half-client", Box::new(client));
    let mut now = 0;
    run_until(&mut now, &mut a, &mut b, 20_000_000_000, |_, _| log.lock().unwrap().closed);
    run_until(&mut now, &mut a, &mut b, 120_000_000_000, |a, b| {
        a.worker.session_count() == 0 && b.worker.session_count() == 0
    });
    let l = log.lock().unwrap();
    assert!(l.eof, "{l:?}");
    let mut want = data.clone();
    want.extend_from_slice(b"bye");
    assert_eq!(l.got.len(), want.len());
    assert!(l.got == want, "the echo and the reply after EOF arrived, in order");
    assert_eq!((a.tls(TlsCounter::HandshakeClient), b.tls(TlsCounter::HandshakeServer)), (1, 1));
    for c in [&a, &b] {
        for f in TlsCounter::ALL.iter().filter(|f| f.is_error()) {
            assert_eq!(c.tls(*f), 0, "{}", f.name());
        }
    }
}

#[test]
fn a_second_connection_resumes_with_the_ticket_of_the_first() {
    let certs = Certs::make("resume");
    let link = Link::new(&LinkConfig::default());
    let mut a = Node::new(link.a(), 1, A);
    let mut b = Node::new(link.b(), 2, B);
    let server = b.attach("echo-server", Box::new(EchoServer::new()));
    b.listen_tls(server, Endpoint::v4(Proto::Tcp, B, 4433), certs.server(&["echo"]));
    let mut now = 0;
    for run in 1..=2u64 {
        let (tx, rx) = mpsc::channel();
        // A configuration loaded anew each run, as each CLI run of the client does.
        let client =
            EchoClient::new(client_config(1, 50_000), 0, 1, tx).with_tls(certs.client("server.test", &["echo"]));
        a.attach(&format!("echo-client-{run}"), Box::new(client));
        let mut report = None;
        run_until(&mut now, &mut a, &mut b, 60_000_000_000, |_, _| {
            report = report.take().or_else(|| rx.try_recv().ok());
            report.is_some()
        });
        let r = report.expect("report");
        assert_eq!((r.completed, r.mismatched_bytes), (1, 0), "{r:?}");
        run_until(&mut now, &mut a, &mut b, 10_000_000_000, |a, b| {
            a.worker.session_count() == 0 && b.worker.session_count() == 0
        });
        assert_eq!(a.tls(TlsCounter::HandshakeClient), run);
        assert_eq!(b.tls(TlsCounter::HandshakeServer), run);
        // The first handshake is a full one; the second resumes its ticket.
        assert_eq!(a.tls(TlsCounter::ResumedClient), run - 1, "run {run}");
        assert_eq!(b.tls(TlsCounter::ResumedServer), run - 1, "run {run}");
    }
}
