//! TLS end to end: the node on `net_tap` (idle mode), the Linux kernel side
//! in a namespace the test creates, real TLS peers nobody here wrote
//! (`openssl s_client`, `curl`, Python's `ssl`, `openssl s_server`), and
//! certificates the test makes with openssl: a CA, and a server certificate
//! for `server.test` and both test addresses signed by it. Covers HTTPS,
//! a 10 MB echo, verification, the handshake timeout, half-close,
//! resumption with tickets both ways, and `app listen ... tls://`.

mod common;

use std::path::PathBuf;

use common::*;

/// A throwaway CA and server certificate (made with openssl), deleted on drop.
struct Certs {
    dir: PathBuf,
}

impl Certs {
    fn make() -> Certs {
        let dir = PathBuf::from(format!("/tmp/dpnt-certs-{}", tag()));
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
               -extfile ext 2>/dev/null; \
             openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout other.key -out other.csr \
               -subj /CN=other 2>/dev/null",
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

/// The TLS counter `name` in `show tls` (the text drops the `tls ` prefix).
fn tls_counter(node: &Node, name: &str) -> u64 {
    counter_line(&node.ctl(&["show", "tls"]), name)
}

#[test]
fn https_server_answers_openssl_s_client_and_curl() {
    if !require_root() {
        return;
    }
    let certs = Certs::make();
    let tn = tap_node(&format!(
        "[[app]]\nkind = \"http-server\"\nuri = \"tls://0.0.0.0/443\"\ncert = \"{}\"\nkey = \"{}\"\n",
        certs.path("server.pem"),
        certs.path("server.key")
    ));
    let (node, ns) = (&tn.node, &tn.ns);
    // curl verifies the chain against the test's CA and the name against the SAN.
    let out = ns.sh(&format!(
        "curl -sS --max-time 20 --cacert {} --resolve server.test:443:198.18.0.2 \
         -w '\\ncode=%{{http_code}} alpn_http=%{{http_version}}\\n' https://server.test/",
        certs.path("ca.pem")
    ));
    assert!(out.contains("code=200"), "{out}\n{}", node.log());
    assert!(out.contains("dpnode"), "the builtin page: {out}");
    assert_eq!(field(&out, "alpn_http"), "1.1", "{out}");
    // openssl s_client: verification on, ALPN http/1.1 negotiated, a GET answered.
    let out = ns.sh(&format!(
        "printf 'GET / HTTP/1.1\\r\\nHost: server.test\\r\\nConnection: close\\r\\n\\r\\n' | \
         timeout 20 openssl s_client -connect 198.18.0.2:443 -servername server.test -CAfile {} \
         -verify_return_error -alpn http/1.1 -ign_eof 2>&1",
        certs.path("ca.pem")
    ));
    assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
    assert!(out.contains("ALPN protocol: http/1.1"), "{out}");
    assert!(out.contains("HTTP/1.1 200"), "{out}");
    assert_eq!(tls_counter(node, "handshakes completed as server"), 2, "{}", node.ctl(&["show", "tls"]));
    // Both closed cleanly: nothing left.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let sess = node.ctl(&["show", "session", "verbose"]);
    assert!(sess.contains("total 0 sessions"), "{sess}");
}

#[test]
fn ten_mb_echo_from_python_ssl_is_bit_exact() {
    if !require_root() {
        return;
    }
    let certs = Certs::make();
    let tn = tap_node(&format!(
        "[[app]]\nkind = \"echo-server\"\nuri = \"tls://0.0.0.0/7443\"\ncert = \"{}\"\nkey = \"{}\"\n",
        certs.path("server.pem"),
        certs.path("server.key")
    ));
    let (node, ns) = (&tn.node, &tn.ns);
    let script = r#"
import os, select, socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.set_alpn_protocols(['echo'])
s = ctx.wrap_socket(socket.create_connection(('198.18.0.2', 7443), timeout=60), server_hostname='server.test')
print('alpn=%s version=%s' % (s.selected_alpn_protocol(), s.version()), flush=True)
data = os.urandom(10 << 20)
# One thread, non-blocking: an SSL object must not be read and written from
# two threads at once (post-handshake tickets made that race show).
s.setblocking(False)
sent = 0
got = bytearray()
while len(got) < len(data):
    if s.pending():
        r, w = [s], []
    else:
        r, w, _ = select.select([s], [s] if sent < len(data) else [], [], 60)
        if not r and not w:
            break
    if w:
        try:
            sent += s.send(data[sent:sent + (1 << 16)])
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
    if r:
        try:
            b = s.recv(1 << 16)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            continue
        if not b:
            break
        got += b
print('got=%d same=%d' % (len(got), int(bytes(got) == data)), flush=True)
line = sys.stdin.readline()
s.close()
"#;
    let path = format!("/tmp/dpnt-tls-echo-{}.py", tag());
    std::fs::write(&path, script).unwrap();
    let mut child = std::process::Command::new("ip")
        .args(["netns", "exec", &ns.name, "timeout", "300", "python3", &path, &certs.path("ca.pem")])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut out, &mut first).unwrap();
    let mut second = String::new();
    std::io::BufRead::read_line(&mut out, &mut second).unwrap();
    // While the session is open: `show session verbose` names version, cipher and ALPN.
    let verbose = node.ctl(&["show", "session", "verbose"]);
    drop(child.stdin.take());
    let _ = child.wait();
    let _ = std::fs::remove_file(&path);
    assert_eq!(field(&first, "alpn"), "echo", "{first}");
    assert_eq!(field(&first, "version"), "TLSv1.3", "{first}");
    assert_eq!((field_num(&second, "got"), field_num(&second, "same")), (10 << 20, 1), "{second}\n{}", node.log());
    assert!(verbose.contains("tls 198.18.0.2:7443 -> 198.18.0.1:"), "{verbose}");
    assert!(verbose.contains("version TLSv1_3 cipher TLS13_"), "{verbose}");
    assert!(verbose.contains("alpn echo"), "{verbose}");
    let tls = node.ctl(&["show", "tls"]);
    assert_eq!(counter_line(&tls, "plaintext bytes received"), 10 << 20, "{tls}");
    assert_eq!(counter_line(&tls, "plaintext bytes sent"), 10 << 20, "{tls}");
    assert_eq!(counter_line(&tls, "handshakes completed as server"), 1, "{tls}");
}

#[test]
fn node_echo_client_verifies_openssl_s_server_and_refuses_a_wrong_name() {
    if !require_root() {
        return;
    }
    let certs = Certs::make();
    let tn = tap_node("");
    let (node, ns) = (&tn.node, &tn.ns);
    // openssl s_server as an echo server: what it reads from the connection
    // goes to its stdout, a fifo back into its stdin, and so back to the peer.
    let fifo = certs.path("loop");
    sh(&format!("mkfifo {fifo}"));
    let server = |port: u16, n: u32| {
        std::process::Command::new("ip")
            .args(["netns", "exec", &ns.name, "sh", "-c"])
            .arg(format!(
                "exec timeout 120 openssl s_server -quiet -naccept {n} -accept 198.18.0.1:{port} -cert {} -key {} \
                 -alpn echo 0<>{fifo} 1>{fifo} 2>/dev/null",
                certs.path("server.pem"),
                certs.path("server.key")
            ))
            .spawn()
            .unwrap()
    };
    let mut s = server(8443, 1);
    ns.wait_tcp_listen(8443);
    let ca = certs.path("ca.pem");
    let out = node.ctl(&[
        "test",
        "echo",
        "client",
        "uri",
        "tls://198.18.0.1/8443",
        "ca",
        &ca,
        "server-name",
        "server.test",
        "bytes",
        "2m",
        "timeout",
        "60",
    ]);
    let _ = s.wait();
    assert_eq!(after(&out, "completed"), 1, "{out}\n{}", node.log());
    assert_eq!((after(&out, "received"), after(&out, "mismatched")), (2 << 20, 0), "{out}");
    assert_eq!(tls_counter(node, "handshakes completed as client"), 1);

    // The same server under a name its certificate does not carry: the
    // handshake fails, the connect reports it, the reason is counted.
    let mut s = server(8444, 1);
    ns.wait_tcp_listen(8444);
    let (ok, out) = node.ctl_any(&[
        "test",
        "echo",
        "client",
        "uri",
        "tls://198.18.0.1/8444",
        "ca",
        &ca,
        "server-name",
        "wrong.test",
        "bytes",
        "1m",
        "timeout",
        "20",
    ]);
    let _ = s.kill();
    let _ = s.wait();
    assert!(!ok, "a client run with connect errors fails: {out}");
    assert_eq!(after(&out, "completed"), 0, "{out}");
    assert!(out.contains("tls handshake failed"), "{out}");
    let tls = node.ctl(&["show", "tls"]);
    assert_eq!(counter_line(&tls, "handshake failed: certificate not valid for the server name"), 1, "{tls}");
    let errors = node.ctl(&["show", "errors"]);
    assert_eq!(counter_line(&errors, "tls handshake failed: certificate not valid for the server name"), 1, "{errors}");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let sess = node.ctl(&["show", "session", "verbose"]);
    assert!(sess.contains("total 0 sessions"), "{sess}");
}

#[test]
fn bad_certificate_or_key_is_refused_at_listen_naming_the_file() {
    if !require_root() {
        return;
    }
    let certs = Certs::make();
    let tn = tap_node("");
    let node = &tn.node;
    let (cert, other) = (certs.path("server.pem"), certs.path("other.key"));
    let (ok, out) =
        node.ctl_any(&["test", "echo", "server", "uri", "tls://0.0.0.0/9443", "cert", &cert, "key", &other]);
    assert!(!ok && out.contains("other.key") && out.contains("does not match the certificate"), "{out}");
    let missing = certs.path("missing.pem");
    let (ok, out) =
        node.ctl_any(&["test", "echo", "server", "uri", "tls://0.0.0.0/9443", "cert", &missing, "key", &other]);
    assert!(!ok && out.contains("missing.pem"), "{out}");
    let (ok, out) = node.ctl_any(&["test", "echo", "server", "uri", "tls://0.0.0.0/9443"]);
    assert!(!ok && out.contains("needs cert and key"), "{out}");
    // Nothing was left attached by the refused listens: a good one takes the port.
    let key = certs.path("server.key");
    node.ctl(&["test", "echo", "server", "uri", "tls://0.0.0.0/9443", "cert", &cert, "key", &key]);
}

#[test]
fn a_peer_that_never_finishes_its_handshake_is_closed_after_the_timeout() {
    if !require_root() {
        return;
    }
    let certs = Certs::make();
    let tn = tap_node(&format!(
        "[tls]\nhandshake_timeout = 1\n\n[[app]]\nkind = \"echo-server\"\nuri = \"tls://0.0.0.0/7443\"\ncert = \"{}\"\nkey = \"{}\"\n",
        certs.path("server.pem"),
        certs.path("server.key")
    ));
    let (node, ns) = (&tn.node, &tn.ns);
    // One peer sends nothing, one stops in the middle of its ClientHello
    // (a record header announcing 512 bytes, and 6 of them); each waits for
    // the node's FIN (recv returns b'').
    let script = r#"
import socket
silent = socket.create_connection(('198.18.0.2', 7443), timeout=60)
half = socket.create_connection(('198.18.0.2', 7443), timeout=60)
half.sendall(bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]))
for name, s in (('silent', silent), ('half', half)):
    got = s.recv(4096)
    print('%s_eof=%d' % (name, int(got == b'')), flush=True)
"#;
    let out = python(ns, script, "", "", 120);
    assert_eq!((field_num(&out, "silent_eof"), field_num(&out, "half_eof")), (1, 1), "{out}\n{}", node.log());
    let tls = node.ctl(&["show", "tls"]);
    assert_eq!(counter_line(&tls, "handshake failed: not finished within the handshake timeout"), 2, "{tls}");
    let errors = node.ctl(&["show", "errors"]);
    assert_eq!(counter_line(&errors, "tls handshake failed: not finished within the handshake timeout"), 2, "{errors}");
    let sess = node.ctl(&["show", "session", "verbose"]);
    assert!(sess.contains("total 0 sessions"), "{sess}");
    // A peer that does its handshake in time is served as before.
    let out = ns.sh(&format!(
        "echo hello | timeout 20 openssl s_client -connect 198.18.0.2:7443 -servername server.test -CAfile {} \
         -verify_return_error -alpn echo 2>&1",
        certs.path("ca.pem")
    ));
    assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
}

#[test]
fn python_ssl_half_closes_and_still_reads_the_echo_and_the_nodes_close_notify() {
    if !require_root() {
        return;
    }
    let certs = Certs::make();
    let tn = tap_node(&format!(
        "[[app]]\nkind = \"echo-server\"\nuri = \"tls://0.0.0.0/7443\"\ncert = \"{}\"\nkey = \"{}\"\n",
        certs.path("server.pem"),
        certs.path("server.key")
    ));
    let (node, ns) = (&tn.node, &tn.ns);
    // Python's ssl over memory BIOs: write 20000 bytes, then close_notify
    // (unwrap) on a TCP connection that stays open both ways; then read the
    // echo and the node's close_notify (a clean EOF, SSLZeroReturnError).
    let script = r#"
import os, socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.set_alpn_protocols(['echo'])
sock = socket.create_connection(('198.18.0.2', 7443), timeout=60)
inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
obj = ctx.wrap_bio(inc, out, server_hostname='server.test')
def pump_out():
    data = out.read()
    if data:
        sock.sendall(data)
def pump_in():
    data = sock.recv(65536)
    if not data:
        inc.write_eof()
    else:
        inc.write(data)
    return bool(data)
while True:
    try:
        obj.do_handshake()
        break
    except ssl.SSLWantReadError:
        pump_out()
        pump_in()
pump_out()
data = os.urandom(20000)
obj.write(data)
pump_out()
try:
    obj.unwrap()
except ssl.SSLWantReadError:
    pass
pump_out()
got, clean = bytearray(), 0
while True:
    try:
        got += obj.read(65536)
    except ssl.SSLWantReadError:
        if not pump_in():
            break
    except ssl.SSLZeroReturnError:
        clean = 1
        break
print('got=%d same=%d clean=%d' % (len(got), int(bytes(got) == data), clean), flush=True)
"#;
    let out = python(ns, script, "", &certs.path("ca.pem"), 120);
    assert_eq!(
        (field_num(&out, "got"), field_num(&out, "same"), field_num(&out, "clean")),
        (20000, 1, 1),
        "{out}\n{}",
        node.log()
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    let sess = node.ctl(&["show", "session", "verbose"]);
    assert!(sess.contains("total 0 sessions"), "{sess}");
    let tls = node.ctl(&["show", "tls"]);
    assert_eq!(counter_line(&tls, "handshakes completed as server"), 1, "{tls}");
    assert_eq!(counter_line(&tls, "handshake failed: peer closed or reset the connection"), 0, "{tls}");
}

#[test]
fn openssl_s_client_resumes_with_a_ticket_and_the_node_client_resumes_against_s_server() {
    if !require_root() {
        return;
    }
    let certs = Certs::make();
    let tn = tap_node(&format!(
        "[[app]]\nkind = \"http-server\"\nuri = \"tls://0.0.0.0/443\"\ncert = \"{}\"\nkey = \"{}\"\n",
        certs.path("server.pem"),
        certs.path("server.key")
    ));
    let (node, ns) = (&tn.node, &tn.ns);
    let sess = certs.path("sess.pem");
    let s_client = |extra: &str| {
        ns.sh(&format!(
            "printf 'GET / HTTP/1.1\\r\\nHost: server.test\\r\\nConnection: close\\r\\n\\r\\n' | \
             timeout 20 openssl s_client -connect 198.18.0.2:443 -servername server.test -CAfile {} \
             -verify_return_error -alpn http/1.1 -ign_eof {extra} 2>&1",
            certs.path("ca.pem")
        ))
    };
    let first = s_client(&format!("-sess_out {sess}"));
    assert!(first.contains("HTTP/1.1 200") && first.contains("New, TLSv1.3"), "{first}");
    let second = s_client(&format!("-sess_in {sess}"));
    assert!(second.contains("HTTP/1.1 200") && second.contains("Reused, TLSv1.3"), "{second}");
    let tls = node.ctl(&["show", "tls"]);
    assert_eq!(counter_line(&tls, "handshakes completed as server"), 2, "{tls}");
    assert_eq!(counter_line(&tls, "handshakes resumed as server"), 1, "{tls}");

    // The node's echo client, twice (two CLI runs, each a new app) against
    // openssl s_server: the second run resumes the first one's ticket.
    let fifo = certs.path("loop");
    sh(&format!("mkfifo {fifo}"));
    let ca = certs.path("ca.pem");
    // One s_server for both: its ticket keys are its own, per process.
    let mut s = std::process::Command::new("ip")
        .args(["netns", "exec", &ns.name, "sh", "-c"])
        .arg(format!(
            "exec timeout 120 openssl s_server -quiet -naccept 2 -accept 198.18.0.1:8443 -cert {} -key {} \
             -alpn echo 0<>{fifo} 1>{fifo} 2>/dev/null",
            certs.path("server.pem"),
            certs.path("server.key")
        ))
        .spawn()
        .unwrap();
    ns.wait_tcp_listen(8443);
    for run in 1..=2u64 {
        let out = node.ctl(&[
            "test",
            "echo",
            "client",
            "uri",
            "tls://198.18.0.1/8443",
            "ca",
            &ca,
            "server-name",
            "server.test",
            "bytes",
            "100k",
            "timeout",
            "60",
        ]);
        assert!(out.contains("-> tls://198.18.0.1/8443"), "the report names the tls uri: {out}");
        assert_eq!((after(&out, "completed"), after(&out, "mismatched")), (1, 0), "{out}\n{}", node.log());
        let tls = node.ctl(&["show", "tls"]);
        assert_eq!(counter_line(&tls, "handshakes completed as client"), run, "{tls}");
        assert_eq!(counter_line(&tls, "handshakes resumed as client"), run - 1, "{tls}");
    }
    let _ = s.wait();
}

#[test]
fn app_listen_with_a_tls_uri_serves_tls_to_curl() {
    if !require_root() {
        return;
    }
    let certs = Certs::make();
    let tn = tap_node("");
    let (node, ns) = (&tn.node, &tn.ns);
    let out = node.ctl(&["test", "http", "server", "uri", "tcp://0.0.0.0/80"]);
    let name = out.split_whitespace().next().unwrap().to_string();
    let (cert, key) = (certs.path("server.pem"), certs.path("server.key"));
    let (ok, out) = node.ctl_any(&["app", "listen", &name, "tls://0.0.0.0/443", "cert", &cert]);
    assert!(!ok && out.contains("needs cert and key"), "{out}");
    let (ok, out) = node.ctl_any(&["app", "listen", &name, "tcp://0.0.0.0/444", "cert", &cert]);
    assert!(!ok && out.contains("tls://"), "{out}");
    let out = node.ctl(&["app", "listen", &name, "tls://0.0.0.0/443", "cert", &cert, "key", &key, "alpn", "http/1.1"]);
    assert!(out.contains("listening on tls://0.0.0.0/443"), "{out}");
    let out = ns.sh(&format!(
        "curl -sS --max-time 20 --cacert {} --resolve server.test:443:198.18.0.2 -w '\\ncode=%{{http_code}}\\n' \
         https://server.test/",
        certs.path("ca.pem")
    ));
    assert!(out.contains("code=200") && out.contains("dpnode"), "{out}\n{}", node.log());
    assert_eq!(tls_counter(node, "handshakes completed as server"), 1);
    let out = node.ctl(&["app", "unlisten", &name, "tls://0.0.0.0/443"]);
    assert!(out.contains("no longer listening on tls://0.0.0.0/443"), "{out}");
}
