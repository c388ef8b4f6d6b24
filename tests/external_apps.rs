//! End to end, external applications: a node on net_tap inside a namespace
//! the test creates, the Linux kernel as the peer, and external apps in
//! their own processes attached over the API socket (`dpnode echo ...`, a C
//! program on the client library, and this test process itself).
//!
//! 100 MB bit-exact both ways with an external echo server and with an
//! external echo client, cut-through between two external apps, kill -9 of
//! an app with 100 sessions, malformed and random messages at the API
//! socket and the message queues, a wrong namespace secret, and 100 MB both
//! ways over TCP.

mod common;

#[path = "../client/tests/c/build.rs"]
mod cbuild;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Runs a Python script inside the namespace with `env` (five minutes at most).
fn py(ns: &Netns, script: &str, env: &str) -> String {
    python(ns, script, env, "", 300)
}
use dpnode_client::{App, AttachOptions, NodeError};
use shm::api::{Body, Header, Kind, Message, HEADER_LEN};
use shm::msg::{Request, SessionRef, MAX_PAYLOAD};
use shm::types::ErrorCode;

fn tap_config(dev: &str, extra: &str) -> String {
    format!(
        "[dpdk]\nhugepages = \"off\"\n\n[[interface]]\nname = \"tap0\"\nvdev = \"net_tap0,iface={dev}\"\nip4 = \"198.18.0.2/24\"\n\n{extra}\n"
    )
}

/// A node with the kernel side of its tap at 198.18.0.1.
fn node(extra: &str) -> (Netns, Node, String) {
    let t = tag();
    let ns = Netns::new(&t);
    let dev = format!("dpnt{t}");
    let node = Node::start(&ns, &t, &tap_config(&dev, extra));
    ns.kernel_addr(&dev, "198.18.0.1/24");
    (ns, node, t)
}

fn api_socket(node: &Node) -> PathBuf {
    node.dir.join("api.sock")
}

/// Segments and fifo pairs the node has allocated, from `show session`.
fn live(node: &Node) -> (u64, u64) {
    let s = node.ctl(&["show", "session"]);
    let line = s.lines().find(|l| l.starts_with("total")).unwrap().to_string();
    let words: Vec<&str> = line.split_whitespace().collect();
    let n = |w: &str| words[words.iter().position(|x| x.trim_end_matches(',') == w).unwrap() - 1].parse().unwrap();
    (n("segments"), n("fifo"))
}

fn total_sessions(node: &Node) -> u64 {
    let s = node.ctl(&["show", "session"]);
    after(s.lines().find(|l| l.starts_with("total")).unwrap(), "total")
}

fn tx_packets(node: &Node) -> u64 {
    let text = node.ctl(&["show", "interface"]);
    text.lines().nth(1).unwrap().split_whitespace().nth(7).unwrap().parse().unwrap()
}

/// Waits until `f` holds (panics after 30 s with `what`).
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "{what}: still not so after 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An external app process, killed (SIGKILL, by pid) on drop.
struct Ext {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
}

impl Ext {
    /// Starts `program args...` and waits for a stdout line containing `ready`.
    fn start(program: &Path, args: &[&str], ready: &str) -> Ext {
        let mut child = Command::new(program)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn external app");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            let n = out.read_line(&mut line).unwrap();
            assert!(n > 0, "{} exited before it was ready", program.display());
            if line.contains(ready) {
                break;
            }
        }
        Ext { child, out }
    }

    /// `dpnode echo server uri URI socket PATH extra...`.
    fn echo_server(node: &Node, uri: &str, extra: &[&str]) -> Ext {
        let sock = api_socket(node).display().to_string();
        let mut args = vec!["echo", "server", "uri", uri, "socket", &sock];
        args.extend_from_slice(extra);
        Ext::start(Path::new(bin()), &args, "listening on")
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and reap it.
    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for it to exit; returns its status and the rest of its stdout.
    /// A program still running after 120 s is killed (and counts as failed),
    /// so a peer left waiting by a broken transfer fails the test instead of
    /// hanging it.
    fn finish(mut self) -> (bool, String) {
        let deadline = Instant::now() + Duration::from_secs(120);
        let st = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break Some(st);
            }
            if Instant::now() > deadline {
                self.kill9();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut rest = String::new();
        let _ = self.out.read_to_string(&mut rest);
        (st.is_some_and(|s| s.success()), rest)
    }
}

impl Drop for Ext {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Runs `dpnode echo client ...` to the end; returns (exit ok, stdout+stderr).
fn echo_client(node: &Node, args: &[&str]) -> (bool, String) {
    let sock = api_socket(node).display().to_string();
    // `timeout`: a client that never finishes fails the test instead of hanging it.
    let out = Command::new("timeout")
        .args(["-s", "KILL", "300", bin(), "echo", "client", "socket", &sock])
        .args(args)
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// 100 MB in datagrams with a window, each echo checked and both directions hashed.
const UDP_BULK_CLIENT: &str = r#"
import hashlib, os, random, socket, struct, time
TOTAL = int(os.environ["BYTES"]); PORT = int(os.environ["PORT"])
CHUNK = 1400; WINDOW = 32; PAY = CHUNK - 8
block = random.Random(7).randbytes(1 << 20)
def payload(seq):
    o = (seq * 7919) % ((1 << 20) - PAY)
    return struct.pack("<Q", seq) + block[o:o + PAY]
n = (TOTAL + PAY - 1) // PAY
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)   # SO_RCVBUFFORCE
s.setsockopt(socket.SOL_SOCKET, 32, 8 << 20)   # SO_SNDBUFFORCE
s.connect(("198.18.0.2", PORT))
s.settimeout(0.05)
sent_h, recv_h = hashlib.sha256(), hashlib.sha256()
inflight = {}; early = {}
nxt = 0; expect = 0; bad = 0; retrans = 0; got = 0
start = time.time()
while expect < n:
    while nxt < n and len(inflight) < WINDOW:
        d = payload(nxt); s.send(d); inflight[nxt] = time.time(); sent_h.update(d); nxt += 1
    try:
        d = s.recv(4096)
    except socket.timeout:
        now = time.time()
        for q, t in list(inflight.items()):
            if now - t > 0.5:
                s.send(payload(q)); inflight[q] = now; retrans += 1
        if time.time() - start > 600:
            break
        continue
    q = struct.unpack("<Q", d[:8])[0]
    if q not in inflight:
        continue
    if d != payload(q):
        bad += 1
    del inflight[q]; got += len(d); early[q] = d
    while expect in early:
        recv_h.update(early.pop(expect)); expect += 1
secs = time.time() - start
print(f"datagrams={n} bytes={got} bad={bad} retrans={retrans} sent={sent_h.hexdigest()} recv={recv_h.hexdigest()} secs={secs:.2f}")
"#;

/// A kernel UDP echo server that checks the external echo client's datagrams (sequence number,
/// then `echo::pattern(0, seq + j)`), hashes them in order and stops after BYTES.
const UDP_BULK_SERVER: &str = r#"
import hashlib, os, socket, struct
TOTAL = int(os.environ["BYTES"])
cyc = bytes((o * 31) % 251 for o in range(251)) * 8
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)
s.setsockopt(socket.SOL_SOCKET, 32, 8 << 20)
s.bind(("198.18.0.1", 7))
print("ready", flush=True)
h = hashlib.sha256(); want = hashlib.sha256()
got = bad = 0; early = {}; expect = 0
while got < TOTAL:
    d, a = s.recvfrom(65535)
    s.sendto(d, a)
    seq = struct.unpack("<Q", d[:8])[0]
    body = d[8:]
    exp = cyc[seq % 251: seq % 251 + len(body)]
    if body != exp:
        bad += 1
    got += len(d); early[seq] = (d, struct.pack("<Q", seq) + exp)
    while expect in early:
        x, y = early.pop(expect); h.update(x); want.update(y); expect += 1
print(f"bytes={got} bad={bad} recv={h.hexdigest()} want={want.hexdigest()}", flush=True)
"#;

#[test]
fn external_udp_echo_server_moves_100mb_both_ways_with_the_kernel() {
    if !require_root() {
        return;
    }
    let (ns, node, _) = node("");
    let before = live(&node);
    let srv = Ext::echo_server(&node, "udp://0.0.0.0/7", &["name", "ext-srv"]);
    let apps = node.ctl(&["show", "app"]);
    assert!(apps.contains("ext-srv") && apps.contains(&format!("pid {}", srv.pid())), "{apps}");
    let out = py(&ns, UDP_BULK_CLIENT, &format!("BYTES={} PORT=7", 100 << 20));
    assert!(field_num(&out, "bytes") >= 100 << 20, "{out}");
    assert_eq!(field_num(&out, "bad"), 0, "{out}");
    assert_eq!(field(&out, "sent"), field(&out, "recv"), "what came back hashes like what was sent: {out}");
    eprintln!("external udp echo server, kernel client: {out}");
    let detail = node.ctl(&["show", "app", "0", "verbose"]);
    assert!(detail.contains("external: event queue") && detail.contains("api connection"), "{detail}");
    drop(srv);
    wait_for("ext-srv detached", || !node.ctl(&["show", "app"]).contains("ext-srv"));
    assert_eq!(live(&node), before, "every fifo and segment is back");
}

#[test]
fn external_udp_echo_client_moves_100mb_both_ways_with_a_kernel_server() {
    if !require_root() {
        return;
    }
    let (ns, node, t) = node("");
    let path = format!("/tmp/dpnt-srv-{t}.py");
    std::fs::write(&path, UDP_BULK_SERVER).unwrap();
    let bytes = 100u64 << 20;
    let env = format!("BYTES={bytes}");
    let server = Ext::start(Path::new("ip"), &["netns", "exec", &ns.name, "env", &env, "python3", &path], "ready");
    // Resolve the kernel first, so no datagram waits in the ARP queue.
    node.ctl(&["ping", "198.18.0.1", "count", "1"]);
    let (ok, text) = echo_client(
        &node,
        &["uri", "udp://198.18.0.1/7", "sessions", "1", "bytes", "100m", "chunk", "1400", "window", "32"],
    );
    let (_, seen) = server.finish();
    let _ = std::fs::remove_file(&path);
    assert!(ok, "{text}");
    assert_eq!(after(&text, "completed"), 1, "{text}");
    assert_eq!(after(&text, "mismatched"), 0, "{text}");
    assert_eq!(after(&text, "datagrams"), 0, "lost datagrams: {text}");
    assert_eq!(after(&text, "received"), bytes, "{text}");
    // The kernel saw exactly the pattern, in full: the other direction is bit-exact too.
    assert!(field_num(&seen, "bytes") >= bytes, "{seen}");
    assert_eq!(field_num(&seen, "bad"), 0, "{seen}");
    assert_eq!(field(&seen, "recv"), field(&seen, "want"), "{seen}");
    eprintln!("external udp echo client, kernel server:\n{text}");
    assert!(!node.ctl(&["show", "app"]).contains("ext-echo-client"), "the client detached when done");
}

#[test]
fn two_external_apps_talk_through_cut_through() {
    if !require_root() {
        return;
    }
    let (_ns, node, _) = node("");
    let before = live(&node);
    let _stream = Ext::echo_server(&node, "tcp://0.0.0.0/9000", &["name", "ct-stream", "scope", "local"]);
    let _dgram = Ext::echo_server(&node, "udp://0.0.0.0/9001", &["name", "ct-dgram", "scope", "local"]);
    let tx_before = tx_packets(&node);
    let (ok, text) = echo_client(
        &node,
        &["uri", "tcp://198.18.0.2/9000", "scope", "local", "sessions", "4", "bytes", "16m", "threads", "2"],
    );
    assert!(ok, "{text}");
    assert_eq!(after(&text, "completed"), 4, "{text}");
    assert_eq!(after(&text, "mismatched"), 0, "{text}");
    assert_eq!(after(&text, "received"), 4 * (16 << 20), "{text}");
    let (ok, text) = echo_client(
        &node,
        &["uri", "udp://198.18.0.2/9001", "scope", "local", "sessions", "2", "bytes", "4m", "chunk", "8k"],
    );
    assert!(ok, "{text}");
    assert_eq!((after(&text, "mismatched"), after(&text, "datagrams")), (0, 0), "{text}");
    assert!(tx_packets(&node) - tx_before < 10, "cut-through must not touch the wire");
    // Without local scope the client would not find them: it goes to the (absent) network peer.
    let srv = node.ctl(&["show", "app", "server"]);
    assert!(srv.contains("tcp://0.0.0.0/9000") && srv.contains("local"), "{srv}");
    drop(_stream);
    drop(_dgram);
    wait_for("servers detached", || !node.ctl(&["show", "app"]).contains("ct-"));
    assert_eq!(live(&node), before);
}

const HUNDRED_FLOWS: &str = r#"
import os, socket
port = int(os.environ["PORT"]); n = int(os.environ["FLOWS"])
socks = []
ok = 0
for k in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
    s.sendto(b"flow %d" % k, ("198.18.0.2", port))
    try:
        d, a = s.recvfrom(100)
        ok += d == b"flow %d" % k
    except socket.timeout:
        pass
    socks.append(s)
print(f"ok={ok}", flush=True)
"#;

#[test]
fn kill_9_of_an_external_app_with_100_sessions_frees_everything() {
    if !require_root() {
        return;
    }
    let (ns, node, _) = node("[[app]]\nkind = \"echo-server\"\nuri = \"udp://0.0.0.0/5\"\n");
    // Another external app, attached before and serving throughout.
    let keeper = Ext::echo_server(&node, "udp://0.0.0.0/8", &["name", "keeper"]);
    assert_eq!(field_num(&py(&ns, HUNDRED_FLOWS, "PORT=8 FLOWS=3"), "ok"), 3);
    let before = live(&node);
    let sessions_before = total_sessions(&node);
    let mut victim = Ext::echo_server(&node, "udp://0.0.0.0/7", &["name", "victim", "threads", "2"]);
    assert_eq!(field_num(&py(&ns, HUNDRED_FLOWS, "PORT=7 FLOWS=100"), "ok"), 100);
    assert_eq!(total_sessions(&node), sessions_before + 100);
    assert!(live(&node).1 >= before.1 + 100, "{:?} {before:?}", live(&node));

    victim.kill9();
    wait_for("victim detached", || !node.ctl(&["show", "app"]).contains("victim"));
    assert_eq!(total_sessions(&node), sessions_before, "every session of the victim is gone");
    assert_eq!(live(&node), before, "segment and fifo counts are back to their values before");
    let api = node.ctl(&["show", "api"]);
    assert!(api.lines().any(|l| l.trim() == "1  api detaches (client gone)"), "{api}");
    assert!(node.log().contains("detached \"victim\", 100 sessions closed"), "{}", node.log());
    // The others keep serving: the external keeper and the builtin server.
    assert_eq!(field_num(&py(&ns, HUNDRED_FLOWS, "PORT=8 FLOWS=20"), "ok"), 20);
    assert_eq!(field_num(&py(&ns, HUNDRED_FLOWS, "PORT=5 FLOWS=20"), "ok"), 20);
    // And the victim's port is closed again.
    assert_eq!(field_num(&py(&ns, HUNDRED_FLOWS, "PORT=7 FLOWS=1"), "ok"), 0);
    // The operator detaches the keeper: its connection is closed, so the process learns and exits.
    node.ctl(&["app", "detach", "keeper"]);
    let (ok, _) = keeper.finish();
    assert!(!ok, "the keeper saw its application go and stopped");
    assert!(node.log().contains("detached by the operator"), "{}", node.log());
}

/// xorshift64*, for the fuzzing below.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Sends `bytes` on a fresh API connection; returns the first reply (if one comes) and whether the node closed the connection.
fn poke(sock: &Path, bytes: &[u8], shut: bool) -> (Option<(Kind, i32, u64)>, bool) {
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let _ = s.write_all(bytes);
    if shut {
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut closed = false;
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        match s.read(&mut chunk) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if let Ok((m, _)) = Message::parse(&buf) {
                    let reply = Some((m.kind, m.code, m.context));
                    // See whether the node hangs up after it.
                    s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
                    let closed = matches!(s.read(&mut chunk), Ok(0));
                    return (reply, closed);
                }
            }
            Err(_) => break,
        }
    }
    (None, closed)
}

fn header(kind: u16, length: u32, context: u64) -> Vec<u8> {
    let mut b = vec![0u8; HEADER_LEN];
    Header { kind, length, code: 0, context }.emit(&mut b);
    b
}

#[test]
fn random_and_malformed_messages_leave_the_node_serving() {
    if !require_root() {
        return;
    }
    let (ns, node, _) = node("");
    let sock = api_socket(&node);
    let code = |c: ErrorCode| c as i32;

    // The header cannot be trusted: an error reply, then the node hangs up.
    let mut bad_magic = header(Kind::DetachRequest as u16, 8, 1);
    bad_magic[0] = b'X';
    bad_magic.extend_from_slice(&[0; 8]);
    assert_eq!(poke(&sock, &bad_magic, false), (Some((Kind::ErrorReply, code(ErrorCode::BadMagic), 0)), true));
    let mut bad_version = header(Kind::DetachRequest as u16, 8, 1);
    bad_version[4] = 9;
    assert_eq!(poke(&sock, &bad_version, false), (Some((Kind::ErrorReply, code(ErrorCode::BadVersion), 0)), true));
    let huge = header(Kind::AttachRequest as u16, u32::MAX, 2);
    assert_eq!(poke(&sock, &huge, false), (Some((Kind::ErrorReply, code(ErrorCode::TooLarge), 0)), true));
    // A well-framed message that is bad: an error reply, and the connection stays.
    let mut unknown = header(0x77, 3, 3);
    unknown.extend_from_slice(b"abc");
    assert_eq!(poke(&sock, &unknown, false), (Some((Kind::ErrorReply, code(ErrorCode::UnknownKind), 3)), false));
    let mut reply_kind = header(Kind::AttachReply as u16, 0, 4);
    reply_kind.truncate(HEADER_LEN);
    assert_eq!(poke(&sock, &reply_kind, false), (Some((Kind::ErrorReply, code(ErrorCode::UnknownKind), 4)), false));
    let mut short_body = header(Kind::DetachRequest as u16, 3, 5);
    short_body.extend_from_slice(&[1, 2, 3]);
    assert_eq!(poke(&sock, &short_body, false), (Some((Kind::DetachReply, code(ErrorCode::BadMessage), 5)), false));
    // Out of order: detach and worker add of an application this connection never attached.
    let mut foreign = Vec::new();
    Message::request(Kind::DetachRequest, 6, Body::Detach { app: 0 }).emit(&mut foreign);
    assert_eq!(poke(&sock, &foreign, false), (Some((Kind::DetachReply, code(ErrorCode::NotYours), 6)), false));
    // A truncated header, then the client hangs up: no reply, no harm.
    assert_eq!(poke(&sock, &header(1, 8, 7)[..10], true), (None, true));

    // Random bytes, and valid headers with random bodies, on many connections.
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    for round in 0..300 {
        let mut msg = if round % 2 == 0 {
            let n = (rng.next() % 3000) as usize;
            rng.bytes(n)
        } else {
            let kind = [1u16, 2, 3, 4, 5, 6, 0x101, 0x201, 0x2ff, rng.next() as u16][(rng.next() % 10) as usize];
            let len = (rng.next() % 600) as u32;
            let mut m = header(kind, len, round);
            m.extend(rng.bytes(len as usize));
            m
        };
        if round % 7 == 0 {
            let cut = (rng.next() as usize) % (msg.len() + 1);
            msg.truncate(cut);
        }
        let mut s = UnixStream::connect(&sock).unwrap();
        let _ = s.write_all(&msg);
        drop(s);
    }

    // Random requests into an attached app's own queue, from this process.
    let (app, mut w) = App::attach(&sock, "queue-fuzzer", &AttachOptions::default()).unwrap();
    let mut p = [0u8; MAX_PAYLOAD];
    let mut sent = 0;
    while sent < 5000 {
        let r = rng.next();
        let (kind, len) = if r & 1 == 0 {
            let s = SessionRef { session: (r >> 8) % 8, generation: ((r >> 16) % 3) as u32 };
            let req = [Request::Disconnect(s), Request::Tx { session: s, want_tx_space: true }, Request::RxRead(s)]
                [((r >> 20) % 3) as usize];
            (req.kind(), req.emit(&mut p))
        } else {
            for b in p.iter_mut() {
                *b = rng.next() as u8;
            }
            ((r % 12) as u16, ((r >> 8) % (MAX_PAYLOAD as u64 + 1)) as usize)
        };
        match w.send_raw_request(0, kind, &p[..len]) {
            Ok(()) => sent += 1,
            Err(_) => std::thread::sleep(Duration::from_micros(100)),
        }
    }
    drop(w);
    app.detach().unwrap();

    // The node is up and a good client gets served.
    let _srv = Ext::echo_server(&node, "udp://0.0.0.0/7", &["name", "after-fuzz"]);
    assert_eq!(field_num(&py(&ns, HUNDRED_FLOWS, "PORT=7 FLOWS=10"), "ok"), 10);
    let api = node.ctl(&["show", "api"]);
    let bad = api.lines().find(|l| l.ends_with("api bad messages")).unwrap();
    assert!(bad.split_whitespace().next().unwrap().parse::<u64>().unwrap() >= 100, "{api}");
    let foreign = api.lines().find(|l| l.ends_with("requests for foreign or stale sessions")).unwrap();
    assert!(foreign.split_whitespace().next().unwrap().parse::<u64>().unwrap() > 0, "{api}");
    let errors = node.ctl(&["show", "errors"]);
    assert!(errors.contains("api bad messages") && errors.contains("app queue bad requests"), "{errors}");
}

#[test]
fn attach_with_a_wrong_namespace_secret_fails_with_that_error() {
    if !require_root() {
        return;
    }
    let (_ns, node, _) = node("");
    node.ctl(&["app", "ns", "add", "id", "blue", "secret", "42"]);
    let sock = api_socket(&node);
    let opts = AttachOptions { namespace: "blue".into(), secret: 41, ..AttachOptions::default() };
    let e = App::attach(&sock, "intruder", &opts).unwrap_err();
    assert_eq!(e.node_error(), Some(NodeError::WrongNamespaceSecret), "{e}");
    assert_eq!(e.code(), -103);
    assert!(e.to_string().contains("wrong secret for namespace \"blue\""), "{e}");
    let e = App::attach(&sock, "lost", &AttachOptions { namespace: "green".into(), ..opts.clone() }).unwrap_err();
    assert_eq!(e.node_error(), Some(NodeError::InvalidNamespace), "{e}");
    // The same from the external echo app's command line.
    let out = Command::new(bin())
        .args(["echo", "server", "uri", "udp://0.0.0.0/7", "socket"])
        .arg(&sock)
        .args(["namespace", "blue", "secret", "41"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong secret"), "{out:?}");
    // With the right secret it attaches, in that namespace.
    let (app, _w) = App::attach(&sock, "tenant", &AttachOptions { secret: 42, ..opts }).unwrap();
    let apps = node.ctl(&["show", "app"]);
    assert!(apps.lines().any(|l| l.contains("tenant") && l.contains("blue")), "{apps}");
    assert!(!apps.contains("intruder"), "{apps}");
    app.detach().unwrap();
    let api = node.ctl(&["show", "api"]);
    assert!(api.lines().any(|l| l.trim() == "3  api attach failures"), "{api}");
}

#[test]
fn c_program_on_the_client_library_serves_the_kernel() {
    if !require_root() {
        return;
    }
    let prog = cbuild::build_echo_c();
    let (ns, node, _) = node("");
    let sock = api_socket(&node).display().to_string();
    let _srv = Ext::start(&prog, &["server", &sock, "udp://0.0.0.0/7", "c-echo"], "listening");
    assert!(node.ctl(&["show", "app"]).contains("c-echo"));
    let out = py(&ns, UDP_BULK_CLIENT, &format!("BYTES={} PORT=7", 8 << 20));
    assert_eq!(field_num(&out, "bad"), 0, "{out}");
    assert_eq!(field(&out, "sent"), field(&out, "recv"), "{out}");
    let out = Command::new(&prog).args(["attach", &sock, "c2", "nowhere", "1"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success() && text.starts_with("-102 invalid namespace"), "{text}");
}

/// A kernel TCP client: BYTES through the echo server at PORT, hashed both ways.
const TCP_BULK_CLIENT: &str = r#"
import hashlib, os, random, socket, threading
TOTAL = int(os.environ["BYTES"]); PORT = int(os.environ["PORT"])
block = random.Random(9).randbytes(1 << 20)
s = socket.create_connection(("198.18.0.2", PORT), timeout=30)
sent_h, recv_h = hashlib.sha256(), hashlib.sha256()
def send():
    left = TOTAL; o = 0
    while left > 0:
        n = min(left, 65536); d = block[o % ((1 << 20) - 65536):][:n]
        s.sendall(d); sent_h.update(d); left -= n; o += 7919
threading.Thread(target=send).start()
got = 0
while got < TOTAL:
    d = s.recv(1 << 20)
    if not d:
        break
    recv_h.update(d); got += len(d)
print(f"bytes={got} sent={sent_h.hexdigest()} recv={recv_h.hexdigest()}")
"#;

#[test]
fn external_tcp_echo_server_moves_100mb_both_ways_with_the_kernel() {
    if !require_root() {
        return;
    }
    let (ns, node, _) = node("");
    let before = live(&node);
    let srv = Ext::echo_server(&node, "tcp://0.0.0.0/7", &["name", "ext-tcp-srv"]);
    let out = py(&ns, TCP_BULK_CLIENT, &format!("BYTES={} PORT=7", 100 << 20));
    assert_eq!(field_num(&out, "bytes"), 100 << 20, "{out}");
    assert_eq!(field(&out, "sent"), field(&out, "recv"), "{out}");
    drop(srv);
    wait_for("server detached", || !node.ctl(&["show", "app"]).contains("ext-tcp-srv"));
    assert_eq!(live(&node), before);
}

/// A kernel TCP client that sends BYTES to the echo server at PORT, then shuts its write
/// side down (a FIN) and reads the echo to the end of the stream: the server must echo
/// everything it read before it closes.
const TCP_HALF_CLOSE_CLIENT: &str = r#"
import hashlib, os, random, socket, threading
TOTAL = int(os.environ["BYTES"]); PORT = int(os.environ["PORT"])
data = random.Random(11).randbytes(TOTAL)
s = socket.create_connection(("198.18.0.2", PORT), timeout=60)
def send():
    s.sendall(data); s.shutdown(socket.SHUT_WR)
threading.Thread(target=send).start()
got = bytearray()
while True:
    d = s.recv(1 << 20)
    if not d:
        break
    got += d
print(f"bytes={len(got)} same={int(bytes(got) == data)} sent={hashlib.sha256(data).hexdigest()} recv={hashlib.sha256(got).hexdigest()}")
"#;

#[test]
fn external_tcp_echo_server_echoes_everything_before_closing_on_a_half_close() {
    if !require_root() {
        return;
    }
    let (ns, node, _) = node("");
    let before = live(&node);
    let srv = Ext::echo_server(&node, "tcp://0.0.0.0/7", &["name", "ext-half-close"]);
    for _ in 0..3 {
        let out = py(&ns, TCP_HALF_CLOSE_CLIENT, &format!("BYTES={} PORT=7", 8 << 20));
        assert_eq!(field_num(&out, "bytes"), 8 << 20, "{out}");
        assert_eq!(field(&out, "same"), "1", "{out}");
    }
    drop(srv);
    wait_for("server detached", || !node.ctl(&["show", "app"]).contains("ext-half-close"));
    assert_eq!(live(&node), before);
}

/// A kernel TCP echo server that checks every connection against the echo client's
/// pattern (`echo::pattern(key, offset)`; the key is read off the first byte) and
/// exits after CONNS connections, printing what it saw.
const TCP_ECHO_SERVER: &str = r#"
import os, socket, threading
N = int(os.environ["CONNS"])
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("198.18.0.1", 7)); l.listen(16)
print("ready", flush=True)
lock = threading.Lock(); results = []
def serve(c):
    off = bad = 0; rep = None
    while True:
        d = c.recv(1 << 20)
        if not d:
            break
        c.sendall(d)
        if rep is None:
            k = (d[0] * pow(7, -1, 251)) % 251
            rep = bytes((o * 31 + k * 7) % 251 for o in range(251)) * ((1 << 20) // 251 + 2)
        exp = rep[off % 251: off % 251 + len(d)]
        if d != exp:
            bad += sum(1 for x, y in zip(d, exp) if x != y)
        off += len(d)
    c.close()
    with lock:
        results.append((off, bad))
        if len(results) == N:
            print(f"conns={N} bytes={sum(r[0] for r in results)} bad={sum(r[1] for r in results)}", flush=True)
            os._exit(0)
while True:
    c, _ = l.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

#[test]
fn external_tcp_echo_client_moves_100mb_both_ways_with_a_kernel_server() {
    if !require_root() {
        return;
    }
    let (ns, node, t) = node("");
    let path = format!("/tmp/dpnt-tcpsrv-{t}.py");
    std::fs::write(&path, TCP_ECHO_SERVER).unwrap();
    let server = Ext::start(Path::new("ip"), &["netns", "exec", &ns.name, "env", "CONNS=4", "python3", &path], "ready");
    let (ok, text) = echo_client(&node, &["uri", "tcp://198.18.0.1/7", "sessions", "4", "bytes", "25m"]);
    let (_, seen) = server.finish();
    let _ = std::fs::remove_file(&path);
    assert!(ok, "{text}");
    assert_eq!(after(&text, "completed"), 4, "{text}");
    assert_eq!(after(&text, "mismatched"), 0, "{text}");
    assert_eq!(after(&text, "received"), 100 << 20, "{text}");
    // What reached the kernel was the pattern, all of it: bit-exact the other way too.
    assert_eq!((field_num(&seen, "bytes"), field_num(&seen, "bad")), (100 << 20, 0), "{seen}");
    eprintln!("external tcp echo client, kernel server:\n{text}");
}

/// Counts, per connection, whether the kernel saw an orderly close (EOF) or a reset.
const CLOSE_COUNTER: &str = r#"
import os, socket, threading
N = int(os.environ["CONNS"])
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("198.18.0.1", 7)); l.listen(64)
print("ready", flush=True)
lock = threading.Lock(); eof = []; rst = []
def serve(c):
    n = 0
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            n += len(d)
        r = eof
    except ConnectionResetError:
        r = rst
    c.close()
    with lock:
        r.append(n)
        if len(eof) + len(rst) == N:
            print(f"eof={len(eof)} reset={len(rst)} bytes={sum(eof) + sum(rst)}", flush=True)
            os._exit(0)
while True:
    c, _ = l.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

/// An app that closes its sessions and detaches at once (as a program that
/// closes its sockets and exits does): the closes were queued first, so the
/// peer sees each connection end in order (FIN), never a reset in the middle.
#[test]
fn close_then_detach_ends_every_connection_in_order() {
    if !require_root() {
        return;
    }
    let (ns, node, t) = node("");
    let path = format!("/tmp/dpnt-closecount-{t}.py");
    std::fs::write(&path, CLOSE_COUNTER).unwrap();
    let (rounds, conns) = (10, 8);
    let env = format!("CONNS={}", rounds * conns);
    let server = Ext::start(Path::new("ip"), &["netns", "exec", &ns.name, "env", &env, "python3", &path], "ready");
    node.ctl(&["ping", "198.18.0.1", "count", "1"]);
    let sock = api_socket(&node);
    let remote = shm::types::Endpoint::v4(shm::types::Proto::Tcp, "198.18.0.1".parse().unwrap(), 7);
    for round in 0..rounds {
        let (app, mut w) = App::attach(&sock, &format!("closer-{round}"), &AttachOptions::default()).unwrap();
        let mut sessions = Vec::new();
        for _ in 0..conns {
            sessions.push(w.connect(remote, Default::default(), Duration::from_secs(10)).unwrap());
        }
        for &s in &sessions {
            assert_eq!(w.write(s, &[7u8; 1000]).unwrap(), 1000);
        }
        for s in sessions {
            w.close(s).unwrap();
        }
        w.flush(Duration::from_secs(2)).unwrap();
        drop(w);
        app.detach().unwrap();
    }
    let (_, seen) = server.finish();
    let _ = std::fs::remove_file(&path);
    let total = (rounds * conns) as u64;
    assert_eq!(
        (field_num(&seen, "eof"), field_num(&seen, "reset"), field_num(&seen, "bytes")),
        (total, 0, total * 1000),
        "{seen}"
    );
}

/// The kernel end of `echo share`: a line out, the answer and the node's end of stream
/// (its half-close) back, then a last line the node still reads, then our end of stream.
const SHARE_PEER: &str = r#"
import os, socket
s = socket.create_connection(("198.18.0.2", int(os.environ["PORT"])), timeout=20)
s.sendall(b"hello\n")
got = b""
while True:
    d = s.recv(100)
    if not d:
        break
    got += d
s.sendall(b"more\n")
s.shutdown(socket.SHUT_WR)
print("got=" + got.decode().strip())
"#;

/// The C API's join, share token, passive listener and half-close (`echo share`): a second
/// connection joins the application with the token (a wrong one is refused), both workers
/// listen, the first is made passive, so the kernel's connection goes to the joined worker,
/// which answers, half-closes (later writes fail with EPIPE) and still reads what follows.
#[test]
fn c_program_joins_shares_makes_a_worker_passive_and_half_closes() {
    if !require_root() {
        return;
    }
    let prog = cbuild::build_echo_c();
    let (ns, node, _) = node("");
    let sock = api_socket(&node).display().to_string();
    let ext = Ext::start(&prog, &["share", &sock, "tcp://0.0.0.0/7300"], "ready");
    let listening = node.ctl(&["show", "app"]);
    assert!(listening.contains("c-share"), "{listening}");
    let out = py(&ns, SHARE_PEER, "PORT=7300");
    assert_eq!(field(&out, "got"), "HELLO", "{out}");
    let (ok, rest) = ext.finish();
    assert!(ok, "{rest}");
    assert!(rest.contains("read after shutdown: more"), "{rest}");
    assert!(rest.contains("passive worker accept: nothing"), "{rest}");
    wait_for("the application detached", || !node.ctl(&["show", "app"]).contains("c-share"));
}
