//! End to end, session layer over UDP: a node on net_tap inside a namespace
//! the test creates, the Linux kernel as the peer; builtin echo server and
//! client; cut-through between two builtin apps; namespaces; several workers
//! with attach/detach and listen/unlisten churn while traffic flows.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// Runs a Python script inside the namespace (two minutes at most).
fn py(ns: &Netns, script: &str) -> String {
    python(ns, script, "", "", 120)
}

const UDP_ECHO_CHECK: &str = r#"
import socket, random
random.seed(7)
flows = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(8)]
for s in flows:
    s.settimeout(3)
ok = bad = lost = 0
sizes = [1, 7, 64, 512, 1000, 1400, 1472]
for i in range(200):
    for k, s in enumerate(flows):
        n = sizes[(i + k) % len(sizes)]
        data = bytes(random.getrandbits(8) for _ in range(n))
        s.sendto(data, ("198.18.0.2", 7))
        try:
            back, addr = s.recvfrom(4096)
            if back == data and addr == ("198.18.0.2", 7):
                ok += 1
            else:
                bad += 1
        except socket.timeout:
            lost += 1
# A burst: 64 datagrams out, then 64 back, in order.
s = flows[0]
burst = [bytes([j]) * (100 + j) for j in range(64)]
for d in burst:
    s.sendto(d, ("198.18.0.2", 7))
got = []
try:
    for _ in burst:
        got.append(s.recvfrom(4096)[0])
except socket.timeout:
    pass
burst_ok = int(got == burst)
# A closed port answers with ICMP port unreachable: a connected socket sees ECONNREFUSED.
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.settimeout(3)
c.connect(("198.18.0.2", 9))
c.send(b"anyone?")
try:
    c.recv(100)
    refused = 0
except ConnectionRefusedError:
    refused = 1
except socket.timeout:
    refused = 0
print(f"ok={ok} bad={bad} lost={lost} burst_ok={burst_ok} refused={refused}")
"#;

#[test]
fn udp_echo_server_returns_every_datagram_and_closed_ports_are_refused() {
    if !require_root() {
        return;
    }
    let tn = tap_node("[[app]]\nkind = \"echo-server\"\nuri = \"udp://0.0.0.0/7\"\n");
    let (node, ns) = (&tn.node, &tn.ns);

    let out = py(ns, UDP_ECHO_CHECK);
    assert_eq!(field_num(&out, "ok"), 1600, "{out}\n{}", node.ctl(&["show", "errors"]));
    assert_eq!((field_num(&out, "bad"), field_num(&out, "lost")), (0, 0), "{out}");
    assert_eq!(field_num(&out, "burst_ok"), 1, "{out}");
    assert_eq!(field_num(&out, "refused"), 1, "{out}");
    assert!(node.counter("icmp destination unreachable sent") >= 1);
    assert!(node.counter("udp no listener (port unreachable)") >= 1);

    // What is running shows up.
    let apps = node.ctl(&["show", "app"]);
    assert!(apps.contains("echo-server-udp-7") && apps.contains("default"), "{apps}");
    let srv = node.ctl(&["show", "app", "server"]);
    assert!(srv.contains("udp://0.0.0.0/7") && srv.contains("global"), "{srv}");
    let sess = node.ctl(&["show", "session"]);
    assert!(sess.contains("total 8 sessions"), "{sess}");
    assert!(sess.contains("198.18.0.2:7") && sess.contains("ready"), "{sess}");
    let verbose = node.ctl(&["show", "session", "verbose"]);
    assert!(verbose.contains("rx fifo") && verbose.contains("(accepted)"), "{verbose}");
    let detail = node.ctl(&["show", "app", "0", "verbose"]);
    assert!(detail.contains("fifo pairs in use 8") && detail.contains("echo server: "), "{detail}");
    let (ok, text) = node.ctl_any(&["show", "app", "bogus"]);
    assert!(!ok && text.contains("unknown word"), "{text}");
    let (ok, text) = node.ctl_any(&["show", "session", "sideways"]);
    assert!(!ok && text.contains("unknown words"), "{text}");

    // A datagram with a bad UDP checksum is counted and dropped.
    let bad = r#"
import socket, struct
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
payload = b"corrupt"
udp = struct.pack("!HHHH", 5555, 7, 8 + len(payload), 0x1234) + payload
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                 socket.inet_aton("198.18.0.1"), socket.inet_aton("198.18.0.2"))
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
r.sendto(ip + udp, ("198.18.0.2", 0))
print("sent=1")
"#;
    py(ns, bad);

    // A proxy app catches datagrams to every port nobody else listens on;
    // the echo server's own port still goes to it.
    node.ctl(&["test", "echo", "server", "uri", "udp://0.0.0.0/5", "name", "prox", "proxy", "udp"]);
    let srv = node.ctl(&["show", "app", "server"]);
    assert!(srv.contains("udp://0.0.0.0/0") && srv.contains("prox"), "{srv}");
    let proxied = r#"
import socket
got = 0
for port in (4242, 31337, 9):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.sendto(b"via proxy %d" % port, ("198.18.0.2", port))
    data, addr = s.recvfrom(100)
    got += data == b"via proxy %d" % port and addr == ("198.18.0.2", port)
print(f"got={got}")
"#;
    assert_eq!(field_num(&py(ns, proxied), "got"), 3);
    let sess = node.ctl(&["show", "session"]);
    assert!(sess.contains("198.18.0.2:31337") && sess.contains("prox"), "{sess}");
    let (ok, text) = node.ctl_any(&[
        "test",
        "echo",
        "server",
        "uri",
        "udp://0.0.0.0/6",
        "name",
        "p2",
        "proxy",
        "udp",
        "scope",
        "local",
    ]);
    assert!(!ok && text.contains("unsupported"), "a local-only proxy is refused: {text}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while node.counter("udp bad checksum") == 0 {
        assert!(Instant::now() < deadline, "{}", node.ctl(&["show", "errors"]));
        std::thread::sleep(Duration::from_millis(50));
    }
}

const UDP_ECHO_SERVER: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
# The client keeps 4 x 32 datagrams in flight: room for all of them (as root, past rmem_max).
s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE
s.bind(("198.18.0.1", 7))
print("ready", flush=True)
while True:
    data, addr = s.recvfrom(65535)
    s.sendto(data, addr)
"#;

#[test]
fn builtin_echo_client_against_a_kernel_udp_echo_server() {
    if !require_root() {
        return;
    }
    let tn = tap_node("");
    let (node, ns, t) = (&tn.node, &tn.ns, &tn.tag);
    let path = format!("/tmp/dpnt-echo-{t}.py");
    std::fs::write(&path, UDP_ECHO_SERVER).unwrap();
    let mut server = std::process::Command::new("ip")
        .args(["netns", "exec", &ns.name, "python3", &path])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Bound once it says so (a fixed sleep was too short on a loaded
    // machine: each session's first window met a closed port).
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(server.stdout.as_mut().unwrap()), &mut line).unwrap();
    assert!(line.contains("ready"), "{line}");
    // Resolve the kernel first: datagrams beyond the ARP queue's 16 would be
    // dropped while resolution is pending (and counted as lost).
    node.ctl(&["ping", "198.18.0.1", "count", "1"]);
    let out = node.ctl_any(&[
        "test",
        "echo",
        "client",
        "uri",
        "udp://198.18.0.1/7",
        "sessions",
        "4",
        "bytes",
        "300k",
        "chunk",
        "1000",
    ]);
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_file(&path);
    assert!(out.0, "{}", out.1);
    let text = out.1;
    assert_eq!(after(&text, "completed"), 4, "{text}");
    assert_eq!(after(&text, "mismatched"), 0, "{text}");
    assert_eq!(after(&text, "datagrams"), 0, "lost datagrams: {text}");
    assert!(after(&text, "received") >= 4 * 300 * 1024, "{text}");
    assert!(text.contains("rtt samples") && text.contains("p99"), "{text}");
    // The client detached when it was done.
    assert!(!node.ctl(&["show", "app"]).contains("echo-client"));
    assert!(node.ctl(&["show", "session"]).contains("total 0 sessions"));
}

#[test]
fn cut_through_namespaces_and_secrets() {
    if !require_root() {
        return;
    }
    // Two apps from the config talk through cut-through at boot.
    let boot = "[[app]]\nkind = \"echo-server\"\nuri = \"udp://0.0.0.0/9\"\nscope = \"local\"\n\n\
                [[app]]\nkind = \"echo-client\"\nuri = \"udp://198.18.0.2/9\"\nscope = \"local\"\nsessions = 2\nbytes = \"64k\"\n";
    let tn = tap_node(boot);
    let node = &tn.node;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !node.log().contains("echo-client-udp-9 finished") {
        assert!(Instant::now() < deadline, "boot client never finished:\n{}", node.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = node.log();
    assert!(log.contains("completed 2") && log.contains("mismatched 0"), "{log}");
    let (segments0, pairs0) = live(node);

    node.ctl(&["app", "ns", "add", "id", "blue", "secret", "42", "interface", "tap0"]);
    let nss = node.ctl(&["show", "app", "ns"]);
    assert!(nss.contains("blue") && nss.contains("42") && nss.contains("tap0"), "{nss}");
    // Wrong secret, unknown namespace: refused with that error.
    let (ok, text) =
        node.ctl_any(&["test", "echo", "server", "uri", "tcp://0.0.0.0/9000", "namespace", "blue", "secret", "41"]);
    assert!(!ok && text.contains("wrong secret"), "{text}");
    let (ok, text) =
        node.ctl_any(&["test", "echo", "server", "uri", "tcp://0.0.0.0/9000", "namespace", "green", "secret", "1"]);
    assert!(!ok && text.contains("invalid namespace"), "{text}");

    // Stream cut-through in namespace blue: bytes, not datagrams, and no packets.
    node.ctl(&[
        "test",
        "echo",
        "server",
        "uri",
        "tcp://0.0.0.0/9000",
        "name",
        "ct-srv",
        "scope",
        "local",
        "namespace",
        "blue",
        "secret",
        "42",
    ]);
    let tx_before = tx_packets(node);
    let out = node.ctl(&[
        "test",
        "echo",
        "client",
        "uri",
        "tcp://198.18.0.2/9000",
        "scope",
        "local",
        "namespace",
        "blue",
        "secret",
        "42",
        "sessions",
        "4",
        "bytes",
        "4m",
    ]);
    assert_eq!(after(&out, "completed"), 4, "{out}");
    assert_eq!(after(&out, "mismatched"), 0, "{out}");
    assert_eq!(after(&out, "received"), 4 * 4 * 1024 * 1024, "{out}");
    assert!(tx_packets(node) - tx_before < 10, "cut-through must not touch the wire");
    // Another app with the same endpoint in the same local table: address in use.
    let (ok, text) = node.ctl_any(&[
        "test",
        "echo",
        "server",
        "uri",
        "tcp://0.0.0.0/9000",
        "name",
        "ct-srv2",
        "scope",
        "local",
        "namespace",
        "blue",
        "secret",
        "42",
    ]);
    assert!(!ok && text.contains("address in use"), "{text}");
    let (ok, text) =
        node.ctl_any(&["test", "echo", "server", "uri", "tcp://0.0.0.0/9000", "name", "ct-srv", "scope", "local"]);
    assert!(!ok && text.contains("already attached"), "{text}");

    node.ctl(&["app", "detach", "ct-srv"]);
    let sess = node.ctl(&["show", "session"]);
    assert!(sess.contains("total 0 sessions"), "{sess}");
    assert_eq!(live(node), (segments0, pairs0), "detach freed every segment and fifo pair");
    let (ok, text) = node.ctl_any(&["app", "detach", "ct-srv"]);
    assert!(!ok && text.contains("no application"), "{text}");
}

/// Segments and fifo pairs the node has allocated, from `show session`.
fn live(node: &Node) -> (u64, u64) {
    let s = node.ctl(&["show", "session"]);
    let line = s.lines().find(|l| l.starts_with("total")).unwrap().to_string();
    let words: Vec<&str> = line.split_whitespace().collect();
    let num = |w: &str| words[words.iter().position(|x| x.trim_end_matches(',') == w).unwrap() - 1].parse().unwrap();
    (num("segments"), num("fifo"))
}

fn tx_packets(node: &Node) -> u64 {
    let text = node.ctl(&["show", "interface"]);
    text.lines().nth(1).unwrap().split_whitespace().nth(7).unwrap().parse().unwrap()
}

const STEADY_FLOWS: &str = r#"
import socket, time, os
flows = []
for k in range(16):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    flows.append(s)
ok = bad = lost = 0
i = 0
end = time.time() + float(os.environ.get("SECS", "8"))
while time.time() < end:
    for k, s in enumerate(flows):
        data = b"%d:%d:" % (k, i) + bytes([k]) * (i % 1200)
        s.sendto(data, ("198.18.0.2", 7))
        try:
            back = s.recv(4096)
            if back == data:
                ok += 1
            else:
                bad += 1
        except socket.timeout:
            lost += 1
    i += 1
print(f"ok={ok} bad={bad} lost={lost}", flush=True)
"#;

#[test]
fn two_workers_keep_sessions_up_through_attach_detach_and_listen_unlisten() {
    if !require_root() {
        return;
    }
    let tn = tap_node(
        "[workers]\ncores = [0, 1]\nidle = \"sleep\"\n\n[[app]]\nkind = \"echo-server\"\nuri = \"udp://0.0.0.0/7\"\nname = \"steady\"\nscope = \"both\"\n",
    );
    let (node, ns, t) = (&tn.node, &tn.ns, &tn.tag);
    let (segments0, pairs0) = live(node);
    let path = format!("/tmp/dpnt-flows-{t}.py");
    std::fs::write(&path, STEADY_FLOWS).unwrap();
    let flows = std::process::Command::new("ip")
        .args(["netns", "exec", &ns.name, "env", "SECS=8", "python3", &path])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut rounds = 0;
    while start.elapsed() < Duration::from_secs(7) {
        let port = 8000 + rounds;
        let name = format!("churn{rounds}");
        let uri = format!("udp://0.0.0.0/{port}");
        node.ctl(&["test", "echo", "server", "uri", &uri, "name", &name, "scope", "both"]);
        let target = format!("udp://198.18.0.2/{port}");
        let out =
            node.ctl(&["test", "echo", "client", "uri", &target, "scope", "local", "sessions", "2", "bytes", "32k"]);
        assert_eq!(after(&out, "completed"), 2, "{out}");
        node.ctl(&["app", "listen", "steady", &format!("udp://0.0.0.0/{}", 9000 + rounds)]);
        node.ctl(&["app", "unlisten", "steady", &format!("udp://0.0.0.0/{}", 9000 + rounds)]);
        node.ctl(&["app", "detach", &name]);
        rounds += 1;
    }
    let out = flows.wait_with_output().unwrap();
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(rounds >= 3, "only {rounds} rounds of churn");
    assert!(field_num(&text, "ok") > 100, "{text}");
    assert_eq!((field_num(&text, "bad"), field_num(&text, "lost")), (0, 0), "{text}");
    // Both workers carried sessions, and only the steady ones are left.
    let sess = node.ctl(&["show", "session"]);
    assert!(sess.contains("total 16 sessions"), "{sess}");
    assert!(!sess.contains("worker 0: 0 sessions") && !sess.contains("worker 1: 0 sessions"), "{sess}");
    let apps = node.ctl(&["show", "app"]);
    assert_eq!(apps.lines().count(), 2, "{apps}");
    let (segments, pairs) = live(node);
    assert_eq!((segments, pairs), (segments0, pairs0 + 16), "nothing leaked");
    assert!(node.ctl(&["show", "threads"]).contains("barrier:"));
}

/// Real peers while hping3 floods the echo server: a new socket (so a new
/// session) per request from a second address, the same from the flooding
/// address itself, and one long-lived socket. Phase 1 cycles source ports
/// from one address (`--udp --flood`), phase 2 spoofs random sources
/// (`--rand-source`). Prints, per peer and phase, requests and replies.
const FLOOD_PEERS: &str = r#"
import socket, subprocess, threading, time, sys
NODE = ("198.18.0.2", 7)
PHASES = [("single", ["hping3", "--udp", "--flood", "-p", "7", "198.18.0.2"], 4.0),
          ("random", ["hping3", "--udp", "--flood", "--rand-source", "-p", "7", "198.18.0.2"], 3.0)]
phase = ["before"]
stats = {}
stop = False

def count(peer, ok):
    k = (peer, phase[0])
    sent, got = stats.get(k, (0, 0))
    stats[k] = (sent + 1, got + int(ok))

def ask(s, i):
    data = b"peer %d" % i
    s.sendto(data, NODE)
    try:
        while True:
            back, addr = s.recvfrom(2048)
            if back == data:
                return True
    except socket.timeout:
        return False

def fresh(peer, src):
    i = 0
    while not stop:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((src, 0))
        s.settimeout(0.3)
        count(peer, ask(s, i))
        s.close()
        i += 1
        time.sleep(0.02)

def steady(peer, src):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.settimeout(0.3)
    i = 0
    while not stop:
        count(peer, ask(s, i))
        i += 1
        time.sleep(0.02)

peers = [threading.Thread(target=fresh, args=("new-peer-other-host", "198.18.0.3")),
         threading.Thread(target=fresh, args=("new-peer-flood-host", "198.18.0.1")),
         threading.Thread(target=steady, args=("steady-peer", "198.18.0.3"))]
for t in peers:
    t.start()
time.sleep(1.0)
for name, cmd, secs in PHASES:
    phase[0] = name
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(secs)
    p.terminate()
    p.wait()
    phase[0] = "settle"
    time.sleep(1.0)
phase[0] = "after"
time.sleep(2.0)
stop = True
for t in peers:
    t.join()
for (peer, ph), (sent, got) in sorted(stats.items()):
    print(f"{peer} {ph} sent={sent} got={got}")
"#;

#[test]
fn udp_flood_from_one_host_is_bounded_and_real_peers_keep_being_served() {
    if !require_root() {
        return;
    }
    let t = tap_node(
        "[workers]\nidle = \"sleep\"\n\n[udp]\nmax_sessions_per_source = 256\nmax_sessions_per_listener = 1024\n\
         memory_mb = 8\n\n[[app]]\nkind = \"echo-server\"\nuri = \"udp://0.0.0.0/7\"\n",
    );
    t.ns.sh(&format!("ip addr add 198.18.0.3/24 dev {}", t.dev));
    let out = python(&t.ns, FLOOD_PEERS, "", "", 120);
    let counters = t.node.ctl(&["show", "counters"]);
    let errors = t.node.ctl(&["show", "errors"]);
    let ctx = format!("{out}\n{counters}\n{errors}");
    eprintln!("{ctx}");
    let stat = |peer: &str, phase: &str| -> (u64, u64) {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("{peer} {phase} ")))
            .unwrap_or_else(|| panic!("no {peer} {phase} in:\n{ctx}"));
        (field_num(line, "sent"), field_num(line, "got"))
    };
    // The flood really flooded: far more new tuples than any limit.
    let rx = t.node.counter("udp datagrams received");
    assert!(rx > 20_000, "only {rx} datagrams reached the node:\n{ctx}");
    for peer in ["new-peer-other-host", "new-peer-flood-host", "steady-peer"] {
        // Served during both floods (the tap and the kernel may drop some
        // of a peer's datagrams among the flood's)...
        for phase in ["single", "random"] {
            let (sent, got) = stat(peer, phase);
            assert!(sent >= 3 && got * 5 >= sent, "{peer} during the {phase} flood: {got}/{sent}\n{ctx}");
        }
        // ...and every request answered once it is over.
        let (sent, got) = stat(peer, "after");
        assert!(sent >= 10 && got == sent, "{peer} after the floods: {got}/{sent}\n{ctx}");
    }
    // Bounded: sessions by the listener limit, fifo memory by memory_mb.
    let sessions = t.node.ctl(&["show", "session"]);
    let udp_sessions = sessions.lines().filter(|l| l.contains(" udp ")).count();
    assert!(udp_sessions <= 1024, "{udp_sessions} udp sessions:\n{ctx}");
    let peak = t.node.counter("udp fifo bytes held by sessions from the network (peak)");
    assert!(peak > 0 && peak <= 8 << 20, "fifo peak {peak}:\n{ctx}");
    // Admission worked through its limits, counted.
    let c = |name: &str| counter_line(&errors, name);
    assert!(c("udp session evicted for a new one (per-source limit)") > 0, "{ctx}");
    assert!(
        c("udp session evicted early (fifo memory pressure)")
            + c("udp session evicted for a new one (per-listener limit)")
            > 0,
        "{ctx}"
    );
    assert!(t.node.counter("udp session fifos grown on use") > 0, "{ctx}");
    assert_eq!(c("session fifo allocation failed"), 0, "{ctx}");
}
