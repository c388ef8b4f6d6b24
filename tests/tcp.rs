//! End to end, TCP: the node on net_tap inside a namespace the test creates,
//! the Linux kernel as the peer. 100 MB echoed bit-exact both ways (kernel
//! client to the node's echo server, the node's echo client to a kernel echo
//! server), with the node's fault injection, with the kernel's SACK, window
//! scaling and timestamps each off; curl against the builtin HTTP server;
//! 1000 concurrent connections; RST for closed ports; a SYN flood that does
//! not lock out a real client.

mod common;

use std::time::Duration;

use common::*;

/// Runs a Python script inside the namespace with a time limit.
fn py(ns: &Netns, script: &str, secs: u32) -> String {
    python(ns, script, "", "", secs)
}

/// The kernel client: `MB` megabytes of random bytes to the echo server,
/// read back concurrently; the SHA-256 of what went and what came back.
const KERNEL_CLIENT: &str = r#"
import socket, os, hashlib, threading, sys, time
MB = int(sys.argv[1]) if len(sys.argv) > 1 else 100
total = MB * 1024 * 1024
s = socket.create_connection(("198.18.0.2", 7), timeout=60)
sent_h, recv_h = hashlib.sha256(), hashlib.sha256()
got = [0]
def reader():
    while got[0] < total:
        b = s.recv(1 << 16)
        if not b:
            break
        recv_h.update(b)
        got[0] += len(b)
t = threading.Thread(target=reader)
t.start()
start = time.time()
left = total
while left:
    chunk = os.urandom(min(left, 1 << 20))
    sent_h.update(chunk)
    s.sendall(chunk)
    left -= len(chunk)
t.join(240)
secs = time.time() - start
s.close()
print(f"same={int(sent_h.digest() == recv_h.digest())} got={got[0]} total={total} secs={secs:.2f}")
"#;

fn kernel_client_echo(ns: &Netns, mb: u32) {
    let path = format!("/tmp/dpnt-kc-{}.py", tag());
    std::fs::write(&path, KERNEL_CLIENT).unwrap();
    let out = ns.sh_any(&format!("timeout 300 python3 {path} {mb}"));
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "client failed:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(field(&text, "same"), "1", "{text}");
    assert_eq!(field(&text, "got"), field(&text, "total"), "{text}");
}

/// A threaded kernel TCP echo server on 198.18.0.1:7.
const KERNEL_SERVER: &str = r#"
import socket, threading
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("198.18.0.1", 7))
srv.listen(128)
def serve(c):
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        c.sendall(b)
    c.close()
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

struct Background(std::process::Child, String);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_file(&self.1);
    }
}

fn kernel_server(ns: &Netns) -> Background {
    let path = format!("/tmp/dpnt-ks-{}.py", tag());
    std::fs::write(&path, KERNEL_SERVER).unwrap();
    let child = std::process::Command::new("ip").args(["netns", "exec", &ns.name, "python3", &path]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    Background(child, path)
}

const ECHO_AND_HTTP: &str = "[[app]]\nkind = \"echo-server\"\nuri = \"tcp://0.0.0.0/7\"\n\n\
                             [[app]]\nkind = \"http-server\"\nuri = \"tcp://0.0.0.0/80\"\n";

#[test]
fn kernel_and_node_exchange_100_mb_and_curl_gets_the_page() {
    if !require_root() {
        return;
    }
    let tn = tap_node(ECHO_AND_HTTP);
    let (node, ns) = (&tn.node, &tn.ns);
    kernel_client_echo(ns, 100);

    // The node's echo client against a kernel echo server.
    let _srv = kernel_server(ns);
    let out = node.ctl(&["test", "echo", "client", "uri", "tcp://198.18.0.1/7", "bytes", "100m", "timeout", "120"]);
    assert_eq!(after(&out, "completed"), 1, "{out}");
    assert_eq!(after(&out, "mismatched"), 0, "{out}");
    assert_eq!(after(&out, "received"), 100 << 20, "{out}");

    // curl: the page, keep-alive across two requests, 404 elsewhere.
    let page = ns.sh("curl -s -m 10 http://198.18.0.2/");
    assert!(page.contains("<h1>dpnode</h1>"), "{page}");
    let two = ns.sh("curl -s -m 10 -v http://198.18.0.2/ http://198.18.0.2/index.html 2>&1");
    assert!(two.contains("Re-using existing connection") || two.contains("left intact"), "{two}");
    let code = ns.sh("curl -s -m 10 -o /dev/null -w '%{http_code}' http://198.18.0.2/missing");
    assert_eq!(code.trim(), "404");

    // A closed port is refused with a RST.
    let refused = py(
        ns,
        "import socket\ntry:\n    socket.create_connection(('198.18.0.2', 9), timeout=5)\n    print('r=0')\nexcept ConnectionRefusedError:\n    print('r=1')\n",
        20,
    );
    assert_eq!(field(&refused, "r"), "1");
    assert!(node.counter("tcp no listener (reset)") >= 1);

    // Congestion control chosen per listener shows on its connections (the
    // default is CUBIC), with the connection's windows, RTT and cwnd.
    node.ctl(&["test", "echo", "server", "uri", "tcp://0.0.0.0/7000", "name", "reno", "cc", "newreno"]);
    let hold = "import socket, time\ns = socket.create_connection(('198.18.0.2', 7000), timeout=5)\n\
                t = socket.create_connection(('198.18.0.2', 7), timeout=5)\n\
                s.sendall(b'x'); s.recv(1); t.sendall(b'y'); t.recv(1)\nprint('held=1', flush=True)\ntime.sleep(3)\n";
    let path = format!("/tmp/dpnt-hold-{}.py", tag());
    std::fs::write(&path, hold).unwrap();
    let mut holder = std::process::Command::new("ip")
        .args(["netns", "exec", &ns.name, "python3", &path])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()), &mut line).unwrap();
    assert!(line.contains("held=1"), "{line}");
    let verbose = node.ctl(&["show", "session", "verbose"]);
    let _ = holder.wait();
    let _ = std::fs::remove_file(&path);
    let reno = verbose.split("\n0:").find(|b| b.contains(":7000 ")).unwrap_or_else(|| panic!("{verbose}"));
    assert!(reno.contains("state ESTABLISHED cc newreno"), "{reno}");
    let cubic = verbose.split("\n0:").find(|b| b.contains("198.18.0.2:7 ")).unwrap_or_else(|| panic!("{verbose}"));
    assert!(cubic.contains("cc cubic") && cubic.contains("cwnd") && cubic.contains("srtt"), "{cubic}");

    // The counters saw it all; nothing is left open once the peers closed.
    let stats = node.ctl(&["show", "tcp", "stats"]);
    assert!(stats.contains("connections established") && stats.contains("resets sent"), "{stats}");
    std::thread::sleep(Duration::from_millis(300));
    let sess = node.ctl(&["show", "session", "verbose"]);
    assert!(sess.contains("total 0 sessions"), "{sess}");
}

#[test]
fn transfers_stay_bit_exact_under_loss_duplication_and_reordering() {
    if !require_root() {
        return;
    }
    let fault =
        "[fault]\ndrop_percent = 1\nduplicate_percent = 1\nreorder_percent = 1\ndirection = \"both\"\nseed = 7\n";
    let tn = tap_node(&format!("{ECHO_AND_HTTP}\n{fault}"));
    let (node, ns) = (&tn.node, &tn.ns);
    kernel_client_echo(ns, 100);
    let _srv = kernel_server(ns);
    let out = node.ctl(&["test", "echo", "client", "uri", "tcp://198.18.0.1/7", "bytes", "100m", "timeout", "200"]);
    assert_eq!(after(&out, "completed"), 1, "{out}");
    assert_eq!(after(&out, "mismatched"), 0, "{out}");
    let stats = node.ctl(&["show", "tcp", "stats"]);
    assert!(stats.contains("segments retransmitted"), "loss was recovered from: {stats}");
    assert!(node.counter("fault injection: packet dropped") > 0);
}

#[test]
fn kernel_without_sack_window_scaling_or_timestamps() {
    if !require_root() {
        return;
    }
    let tn = tap_node(ECHO_AND_HTTP);
    let (node, ns) = (&tn.node, &tn.ns);
    for knob in ["tcp_sack", "tcp_window_scaling", "tcp_timestamps"] {
        ns.sh(&format!(
            "sysctl -qw net.ipv4.tcp_sack=1 net.ipv4.tcp_window_scaling=1 net.ipv4.tcp_timestamps=1 net.ipv4.{knob}=0"
        ));
        kernel_client_echo(ns, 20);
        let _srv = kernel_server(ns);
        let out = node.ctl(&["test", "echo", "client", "uri", "tcp://198.18.0.1/7", "bytes", "20m", "timeout", "120"]);
        assert_eq!(after(&out, "completed"), 1, "{knob} off: {out}");
        assert_eq!(after(&out, "mismatched"), 0, "{knob} off: {out}");
    }
}

const THOUSAND: &str = r#"
import socket, selectors
N = 1000
sel = selectors.DefaultSelector()
socks = []
for i in range(N):
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex(("198.18.0.2", 7))
    socks.append(s)
    sel.register(s, selectors.EVENT_WRITE, i)
want = {i: b"hello %d\n" % i for i in range(N)}
got = {i: b"" for i in range(N)}
done = 0
while done < N:
    ev = sel.select(timeout=30)
    if not ev:
        break
    for key, mask in ev:
        s, i = key.fileobj, key.data
        if mask & selectors.EVENT_WRITE:
            s.send(want[i])
            sel.modify(s, selectors.EVENT_READ, i)
        else:
            b = s.recv(100)
            got[i] += b
            if got[i] == want[i] or not b:
                sel.unregister(s)
                s.close()
                done += 1
ok = sum(1 for i in range(N) if got[i] == want[i])
print(f"ok={ok}")
"#;

#[test]
fn a_thousand_concurrent_connections_all_complete() {
    if !require_root() {
        return;
    }
    let tn = tap_node(ECHO_AND_HTTP);
    let (node, ns) = (&tn.node, &tn.ns);
    let out =
        py(ns, &format!("import resource\nresource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))\n{THOUSAND}"), 120);
    assert_eq!(field(&out, "ok"), "1000", "{out}\n{}", node.ctl(&["show", "tcp", "stats"]));
    let stats = node.ctl(&["show", "tcp", "stats"]);
    assert!(counter_line(&stats, "connections established") >= 1000, "{stats}");
}

#[test]
fn a_syn_flood_does_not_lock_out_a_real_client() {
    if !require_root() {
        return;
    }
    // A small backlog so the flood fills it at once; past it, SYN cookies.
    let tn = tap_node(&format!("{ECHO_AND_HTTP}\n[tcp]\nmax_half_open = 16\n"));
    let (node, ns) = (&tn.node, &tn.ns);
    // 2000 SYNs from random sources in the node's subnet: their SYN-ACKs go
    // nowhere, so every one stays half-open until the backlog is full.
    let flood = r#"
import socket, struct, random
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
dst = socket.inet_aton("198.18.0.2")
random.seed(3)
for i in range(2000):
    src = socket.inet_aton("198.18.0.%d" % random.randint(100, 250))
    sport = random.randint(1024, 65535)
    tcp = struct.pack("!HHIIBBHHH", sport, 7, random.getrandbits(32), 0, 5 << 4, 0x02, 65535, 0, 0)
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, i, 0, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    r.sendto(ip + tcp, ("198.18.0.2", 0))
print("flooded=1")
"#;
    py(ns, flood, 60);
    // A real client still gets through (on a cookie) and its data echoes.
    let out = py(
        ns,
        "import socket\ns = socket.create_connection(('198.18.0.2', 7), timeout=10)\ns.sendall(b'still here')\nprint('echo=' + s.recv(100).decode().replace(' ', '_'))\n",
        30,
    );
    assert_eq!(field(&out, "echo"), "still_here", "{out}");
    let stats = node.ctl(&["show", "tcp", "stats"]);
    assert!(counter_line(&stats, "syn cookies sent") >= 1, "{stats}");
    assert!(counter_line(&stats, "syn cookies validated") >= 1, "the real client came in on a cookie: {stats}");
}

/// A kernel client that half-closes after its last write (`shutdown(SHUT_WR)`,
/// like `nc -N`) and reads until the server closes: everything must come back.
/// It reads late and through a small receive buffer, so the server's tx fifo
/// is full and data is still waiting in its rx fifo when the FIN arrives.
const HALF_CLOSE_CLIENT: &str = r#"
import socket, os, threading, time, sys
total = int(sys.argv[1]) if len(sys.argv) > 1 else 300000
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
s.settimeout(60)
s.connect(("198.18.0.2", 7))
data = os.urandom(total)
def writer():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=writer)
t.start()
time.sleep(1)
back = []
while True:
    b = s.recv(1 << 16)
    if not b:
        break
    back.append(b)
    time.sleep(0.001)
t.join(60)
got = b"".join(back)
print(f"same={int(got == data)} got={len(got)} total={total}")
"#;

#[test]
fn echo_server_echoes_everything_to_a_client_that_half_closes() {
    if !require_root() {
        return;
    }
    let tn = tap_node(ECHO_AND_HTTP);
    for total in [100_000, 300_000, 1_000_000] {
        let out = python(&tn.ns, HALF_CLOSE_CLIENT, "", &total.to_string(), 180);
        assert_eq!(field(&out, "got"), field(&out, "total"), "{out}");
        assert_eq!(field(&out, "same"), "1", "{out}");
    }
    let stats = tn.node.ctl(&["show", "tcp", "stats"]);
    assert_eq!(counter_line(&stats, "resets sent"), 0, "no connection was reset: {stats}");
}
