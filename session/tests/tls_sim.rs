//! TLS over the session layer's TCP on two simulated nodes (`net::sim`, a
//! virtual clock, no EAL): the builtin echo server behind a `tls` listener,
//! the builtin echo client connecting with TLS, certificates made here with
//! the `openssl` command. Covers a bit-exact echo, a handshake that fails on
//! the server name (counted, nothing left behind), and the listen-time
//! checks of the certificate and key files.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{mpsc, Arc};

use echo::{EchoMode, EchoReport};
use net::l3::L3;
use net::sim::{Link, LinkConfig, LinkEnd, SimDevice, SimIface, SimNode};
use session::app_worker::{AppWorkerKind, AppWorkerShared};
use session::apps::echo::{EchoClient, EchoClientConfig, EchoServer};
use session::builtin::BuiltinApp;
use session::pool::Handle;
use session::tcp_transport::TcpTransportConfig;
use session::tls::{TlsClient, TlsClientOptions, TlsCounter, TlsServer, TlsServerOptions};
use session::udp::UdpConfig;
use session::worker::{AppLink, SessionShared, SessionWorker};
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
