//! TLS end to end: the node on `net_tap` (idle mode), the Linux kernel side
//! in a namespace the test creates, real TLS peers nobody here wrote
//! (`openssl s_client`, `curl`, Python's `ssl`, `openssl s_server`), and
//! certificates the test makes with openssl: a CA, and a server certificate
//! for `server.test` and both test addresses signed by it.

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
import hashlib, os, socket, ssl, sys, threading, time
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.set_alpn_protocols(['echo'])
s = ctx.wrap_socket(socket.create_connection(('198.18.0.2', 7443), timeout=60), server_hostname='server.test')
print('alpn=%s version=%s' % (s.selected_alpn_protocol(), s.version()), flush=True)
data = os.urandom(10 << 20)
def send():
    s.sendall(data)
t = threading.Thread(target=send)
t.start()
got = bytearray()
while len(got) < len(data):
    b = s.recv(1 << 16)
    if not b:
        break
    got += b
t.join()
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
