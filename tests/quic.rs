//! QUIC end to end: the node on `net_tap` (idle mode), the Linux kernel
//! side in a namespace the test creates, aioquic (`tests/data/quic_peer.py`)
//! as the real peer, certificates made with openssl: aioquic's client
//! against the node's QUIC echo server (one connection, 10 streams of 1 MB,
//! bit-exact), the node's echo client against aioquic's server (10 streams
//! through the parent handle), garbage datagrams on the QUIC port counted.

mod common;

use std::io::BufRead;
use std::path::PathBuf;

use common::*;

/// A throwaway CA and server certificate for `server.test` and both test addresses, deleted on drop.
struct Certs {
    dir: PathBuf,
}

impl Certs {
    fn make() -> Certs {
        let dir = PathBuf::from(format!("/tmp/dpnt-quic-certs-{}", tag()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        sh(&format!(
            "set -e; cd {d}; \
             openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem \
               -days 30 -subj /CN=dpnode-test-ca -addext basicConstraints=critical,CA:TRUE \
               -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null; \
             openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr \
               -subj /CN=server.test 2>/dev/null; \
             printf 'subjectAltName=DNS:server.test,IP:198.18.0.1,IP:198.18.0.2\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext; \
             openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 30 \
               -extfile ext 2>/dev/null",
            d = dir.display()
        ));
        Certs { dir }
    }

    fn path(&self, f: &str) -> String {
        self.dir.join(f).display().to_string()
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn peer_script() -> String {
    format!("{}/tests/data/quic_peer.py", env!("CARGO_MANIFEST_DIR"))
}

/// The QUIC counter `name` in `show quic` (the text drops the `quic ` prefix).
fn quic_counter(node: &Node, name: &str) -> u64 {
    counter_line(&node.ctl(&["show", "quic"]), name)
}

/// Waits (up to 10 s) until the node has no session left.
fn assert_no_sessions(node: &Node) {
    let mut sess = String::new();
    for _ in 0..100 {
        sess = node.ctl(&["show", "session"]);
        if sess.contains("total 0 sessions") {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("sessions left:\n{sess}");
}

#[test]
fn aioquic_client_echoes_ten_streams_of_a_megabyte_bit_exact() {
    if !require_root() {
        return;
    }
    let certs = Certs::make();
    let tn = tap_node(&format!(
        "[[app]]\nkind = \"echo-server\"\nuri = \"quic://0.0.0.0/4433\"\ncert = \"{}\"\nkey = \"{}\"\n",
        certs.path("server.pem"),
        certs.path("server.key")
    ));
    let (node, ns) = (&tn.node, &tn.ns);
    let run = ns.sh_any(&format!(
        "timeout 240 python3 {} client 198.18.0.2 4433 {} server.test 10 1000000",
        peer_script(),
        certs.path("ca.pem")
    ));
    let out = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.status.success(),
        "{out}\n{}\n{}\n{}",
        String::from_utf8_lossy(&run.stderr),
        node.ctl(&["show", "quic"]),
        node.log()
    );
    assert_eq!(
        (field_num(&out, "streams"), field_num(&out, "same"), field_num(&out, "bytes")),
        (10, 10, 10_000_000),
        "{out}\n{}",
        node.log()
    );
    let q = node.ctl(&["show", "quic"]);
    assert_eq!(counter_line(&q, "handshakes completed as server"), 1, "{q}");
    assert_eq!(counter_line(&q, "streams opened by the peer"), 10, "{q}");
    assert_eq!(counter_line(&q, "stream bytes received"), 10_000_000, "{q}");
    assert_eq!(counter_line(&q, "stream bytes sent"), 10_000_000, "{q}");
    let json = node.ctl(&["--json", "show", "quic"]);
    let compact: String = json.split_whitespace().collect();
    assert!(compact.contains("\"quichandshakescompletedasserver\",1]"), "{json}");
    assert!(compact.contains("\"max_streams\":100"), "{json}");
    assert_no_sessions(node);
}

#[test]
fn node_echo_client_opens_ten_streams_on_an_aioquic_connection() {
    if !require_root() {
        return;
    }
    let certs = Certs::make();
    let tn = tap_node("");
    let (node, ns) = (&tn.node, &tn.ns);
    let mut server = std::process::Command::new("ip")
        .args(["netns", "exec", &ns.name, "timeout", "240", "python3", &peer_script(), "server", "198.18.0.1", "4434"])
        .args([certs.path("server.pem"), certs.path("server.key")])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(server.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().and_then(Result::ok).as_deref(), Some("listening"));
    let ca = certs.path("ca.pem");
    let out = node.ctl(&[
        "test",
        "echo",
        "client",
        "uri",
        "quic://198.18.0.1/4434",
        "ca",
        &ca,
        "server-name",
        "server.test",
        "streams",
        "10",
        "bytes",
        "1m",
        "timeout",
        "120",
    ]);
    // SIGTERM to `timeout`, which passes it on to the server (a SIGKILL would orphan it).
    let _ = sh_any(&format!("kill {}", server.id()));
    let _ = server.wait();
    assert_eq!(after(&out, "completed"), 10, "{out}\n{}", node.log());
    assert_eq!((after(&out, "received"), after(&out, "mismatched")), (10 << 20, 0), "{out}");
    let q = node.ctl(&["show", "quic"]);
    assert_eq!(counter_line(&q, "handshakes completed as client"), 1, "{q}");
    assert_eq!(counter_line(&q, "streams opened by the app"), 10, "{q}");
    assert_no_sessions(node);
}

#[test]
fn garbage_datagrams_on_the_quic_port_are_counted_and_dropped() {
    if !require_root() {
        return;
    }
    let certs = Certs::make();
    let tn = tap_node(&format!(
        "[[app]]\nkind = \"echo-server\"\nuri = \"quic://0.0.0.0/4433\"\ncert = \"{}\"\nkey = \"{}\"\n",
        certs.path("server.pem"),
        certs.path("server.key")
    ));
    let (node, ns) = (&tn.node, &tn.ns);
    let script = r#"
import os, socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(20):
    d = bytearray(os.urandom(20 + 50 * i))
    d[0] = 0x40 | (d[0] & 0x3f) if i % 2 == 0 else 0xc0
    s.sendto(bytes(d), ('198.18.0.2', 4433))
print('sent=20')
"#;
    let out = python(ns, script, "", "", 30);
    assert_eq!(field_num(&out, "sent"), 20);
    let mut dropped = 0;
    for _ in 0..100 {
        dropped = quic_counter(node, "datagram dropped: not quic, or for no connection");
        if dropped == 20 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(dropped, 20, "{}", node.ctl(&["show", "quic"]));
    let errors = node.ctl(&["show", "errors"]);
    assert_eq!(counter_line(&errors, "quic datagram dropped: not quic, or for no connection"), 20, "{errors}");
    assert_eq!(quic_counter(node, "handshakes completed as server"), 0);
    assert_no_sessions(node);
    // The server still serves a real client after the garbage.
    let out = ns.sh(&format!(
        "timeout 120 python3 {} client 198.18.0.2 4433 {} server.test 2 100000",
        peer_script(),
        certs.path("ca.pem")
    ));
    assert_eq!(field_num(&out, "same"), 2, "{out}");
}
