//! End to end, IPv6 for external apps (issue 12, item 4): a node on
//! net_tap inside a namespace the test creates, with a global IPv6 address
//! (fd00:198:18::2/64) next to its IPv4 one; the Linux kernel at
//! fd00:198:18::1 and 198.18.0.1 as the peer. The node's worker is pinned
//! to core 1 and sleeps when idle; kernel peers run on core 0.
//!
//! External echo apps (`dpnode echo`) over IPv6 with the kernel, TCP and UDP,
//! bit-exact; cut-through between two external apps over the node's own
//! IPv6 address; and unmodified programs under the preload library with
//! AF_INET6 sockets: curl -6, a Python server on `[::]` reached over IPv6
//! and IPv4, and iperf3 -6.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const NODE6: &str = "fd00:198:18::2";
const KERNEL6: &str = "fd00:198:18::1";

fn config(dev: &str) -> String {
    format!(
        "[dpdk]\nhugepages = \"off\"\n\n[[interface]]\nname = \"tap0\"\nvdev = \"net_tap0,iface={dev}\"\n\
         ip4 = \"198.18.0.2/24\"\nip6 = [\"{NODE6}/64\"]\n\n[workers]\ncores = [1]\nidle = \"sleep\"\n"
    )
}

/// A node with both families; returns once its IPv6 address passed DAD and
/// the kernel and the node know each other (a ping each way).
struct Node6 {
    node: Node,
    ns: Netns,
}

fn node6() -> Node6 {
    let t = tag();
    let ns = Netns::new(&t);
    let dev = format!("dpnt{t}");
    let node = Node::start(&ns, &t, &config(&dev));
    ns.wait_link(&dev);
    // The kernel's tap gets a MAC of its own (net_tap gives it the node's),
    // IPv6 on, and its address without DAD, before the link comes up.
    ns.sh(&format!(
        "ip link set {dev} down && ip link set dev {dev} address 02:00:00:00:00:01 && \
         sysctl -qw net.ipv6.conf.{dev}.accept_dad=0 net.ipv6.conf.{dev}.disable_ipv6=0 && \
         ip -6 addr add {KERNEL6}/64 dev {dev} nodad && ip addr add 198.18.0.1/24 dev {dev} && ip link set {dev} up"
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    let want = format!("{NODE6}/64 (preferred)");
    while !node.ctl(&["show", "interface"]).contains(&want) {
        assert!(Instant::now() < deadline, "no DAD: {}", node.ctl(&["show", "interface"]));
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = node.ctl(&["ping", KERNEL6, "count", "1"]);
    assert!(out.contains("1 received"), "{out}");
    node.ctl(&["ping", "198.18.0.1", "count", "1"]);
    Node6 { node, ns }
}

impl Node6 {
    fn api(&self) -> String {
        self.node.dir.join("api.sock").display().to_string()
    }

    /// Runs a Python script on core 0 in the namespace; its stdout.
    fn py(&self, script: &str, env: &str) -> String {
        python(&self.ns, script, &format!("{env} taskset -c 0"), "", 300)
    }
}

/// A background process (killed by pid on drop) whose stdout is read for a ready line.
struct Ext {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
    /// The ready line.
    ready: String,
}

impl Ext {
    fn start(program: &str, args: &[&str], ready: &str) -> Ext {
        let mut child = Command::new(program)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            let n = out.read_line(&mut line).unwrap();
            assert!(n > 0, "{program} {args:?} exited before {ready:?}");
            if line.contains(ready) {
                break;
            }
        }
        Ext { child, out, ready: line }
    }

    /// `dpnode echo server uri URI socket API extra...`.
    fn echo_server(n: &Node6, uri: &str, extra: &[&str]) -> Ext {
        let api = n.api();
        let mut args = vec!["echo", "server", "uri", uri, "socket", &api];
        args.extend_from_slice(extra);
        Ext::start(bin(), &args, "listening on")
    }

    /// Waits (120 s at most, then kills it) for it to exit; its status and the rest of its stdout.
    fn finish(mut self) -> (bool, String) {
        let deadline = Instant::now() + Duration::from_secs(120);
        let st = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break Some(st);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
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
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `dpnode echo client socket API args...` to the end: (exit ok, its output).
fn echo_client(n: &Node6, args: &[&str]) -> (bool, String) {
    let out = Command::new("timeout")
        .args(["-s", "KILL", "300", bin(), "echo", "client", "socket", &n.api()])
        .args(args)
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// TCP: BYTES of a seeded random stream to HOST:PORT, all of it read back
/// and hashed; then UDP: one datagram of each size in SIZES to the same
/// port, each echo compared. Prints both sides' hashes and the counts.
const KERNEL_CLIENT: &str = r#"
import hashlib, os, random, socket, threading
host = os.environ["HOST"]; port = int(os.environ["PORT"]); total = int(os.environ["BYTES"])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
data = random.Random(11).randbytes(total)
s = socket.create_connection((host, port), timeout=60)
peer = s.getpeername()[0]
th = threading.Thread(target=lambda: s.sendall(data)); th.start()
h = hashlib.sha256(); got = 0
# Read back everything, then close (no half-close: `dpnode echo server` closes
# on the peer's FIN and drops what it had not echoed yet, see the report).
while got < total:
    b = s.recv(1 << 16)
    if not b:
        break
    h.update(b); got += len(b)
th.join(); s.close()
ok = bad = 0
u = socket.socket(fam, socket.SOCK_DGRAM); u.settimeout(2)
for size in [int(x) for x in os.environ.get("SIZES", "").split(",") if x]:
    d = random.Random(size).randbytes(size)
    for attempt in range(5):
        u.sendto(d, (host, port))
        try:
            back, src = u.recvfrom(65535)
        except socket.timeout:
            continue
        ok += back == d; bad += back != d
        break
print(f"peer={peer} bytes={got} sent={hashlib.sha256(data).hexdigest()} recv={h.hexdigest()} dgrams_ok={ok} dgrams_bad={bad}")
"#;

#[test]
fn external_echo_server_on_ip6_echoes_tcp_and_udp_to_the_kernel_bit_exact() {
    if !require_root() {
        return;
    }
    let n = node6();
    let _tcp = Ext::echo_server(&n, "tcp://[::]/7", &["name", "ext6-tcp"]);
    let _udp = Ext::echo_server(&n, &format!("udp://[{NODE6}]/7"), &["name", "ext6-udp"]);
    let srv = n.node.ctl(&["show", "app", "server"]);
    assert!(srv.contains("tcp://[::]/7") && srv.contains(&format!("udp://[{NODE6}]/7")), "{srv}");
    let sizes = "1,2,100,512,1000,1200,1400";
    let out = n.py(KERNEL_CLIENT, &format!("HOST={NODE6} PORT=7 BYTES={} SIZES={sizes}", 8 << 20));
    assert_eq!(field_num(&out, "bytes"), 8 << 20, "{out}");
    assert_eq!(field(&out, "sent"), field(&out, "recv"), "bit-exact over TCP/IPv6: {out}");
    assert_eq!((field_num(&out, "dgrams_ok"), field_num(&out, "dgrams_bad")), (7, 0), "UDP/IPv6: {out}");
    // The [::] listener takes IPv4 too (Linux's default for a socket without IPV6_V6ONLY).
    let out = n.py(KERNEL_CLIENT, &format!("HOST=198.18.0.2 PORT=7 BYTES={}", 1 << 20));
    assert_eq!(field(&out, "sent"), field(&out, "recv"), "IPv4 to the [::] listener: {out}");
    let errors = n.node.ctl(&["show", "errors"]);
    assert_eq!(counter_line(&errors, "app queue request with a bad address family"), 0, "{errors}");
}

/// A kernel TCP and UDP echo server on [HOST]:7 for the external echo client.
const KERNEL_ECHO: &str = r#"
import os, socket, threading
host = os.environ["HOST"]
t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind((host, 7)); t.listen(16)
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u.bind((host, 7))
def udp():
    while True:
        d, a = u.recvfrom(65535); u.sendto(d, a)
def serve(c):
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        c.sendall(b)
    c.close()
threading.Thread(target=udp, daemon=True).start()
print("ready", flush=True)
while True:
    c, a = t.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

#[test]
fn external_echo_client_over_ip6_checks_every_byte_from_a_kernel_server() {
    if !require_root() {
        return;
    }
    let n = node6();
    let path = format!("/tmp/dpnt-echo6-{}.py", tag());
    std::fs::write(&path, KERNEL_ECHO).unwrap();
    let env = format!("HOST={KERNEL6}");
    let _srv =
        Ext::start("ip", &["netns", "exec", &n.ns.name, "env", &env, "taskset", "-c", "0", "python3", &path], "ready");
    let (ok, text) = echo_client(&n, &["uri", &format!("tcp://[{KERNEL6}]/7"), "sessions", "2", "bytes", "8m"]);
    assert!(ok, "{text}");
    assert_eq!((after(&text, "completed"), after(&text, "mismatched")), (2, 0), "{text}");
    assert_eq!(after(&text, "received"), 2 * (8 << 20), "{text}");
    let (ok, text) = echo_client(
        &n,
        &["uri", &format!("udp://[{KERNEL6}]:7"), "sessions", "1", "bytes", "4m", "chunk", "1200", "window", "16"],
    );
    let _ = std::fs::remove_file(&path);
    assert!(ok, "{text}");
    assert_eq!((after(&text, "mismatched"), after(&text, "datagrams")), (0, 0), "{text}");
    assert_eq!(after(&text, "received"), 4 << 20, "{text}");
}

/// Packets the node's port sent, from `show interface`.
fn tx_packets(node: &Node) -> u64 {
    let text = node.ctl(&["show", "interface"]);
    text.lines().nth(1).and_then(|l| l.split_whitespace().nth(7)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

#[test]
fn two_external_apps_talk_through_cut_through_over_the_nodes_ip6_address() {
    if !require_root() {
        return;
    }
    let n = node6();
    let _stream = Ext::echo_server(&n, "tcp://[::]/9000", &["name", "ct6-stream", "scope", "local"]);
    let _dgram = Ext::echo_server(&n, "udp://[::]/9001", &["name", "ct6-dgram", "scope", "local"]);
    let tx_before = tx_packets(&n.node);
    let (ok, text) = echo_client(
        &n,
        &["uri", &format!("tcp://[{NODE6}]/9000"), "scope", "local", "sessions", "4", "bytes", "8m", "threads", "2"],
    );
    assert!(ok, "{text}");
    assert_eq!((after(&text, "completed"), after(&text, "mismatched")), (4, 0), "{text}");
    assert_eq!(after(&text, "received"), 4 * (8 << 20), "{text}");
    let (ok, text) = echo_client(
        &n,
        &["uri", &format!("udp://[{NODE6}]/9001"), "scope", "local", "sessions", "2", "bytes", "2m", "chunk", "8k"],
    );
    assert!(ok, "{text}");
    assert_eq!((after(&text, "mismatched"), after(&text, "datagrams")), (0, 0), "{text}");
    assert!(tx_packets(&n.node) - tx_before < 10, "cut-through must not touch the wire");
}

// ---- the preload library, AF_INET6 ----------------------------------------

fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    exe.parent().and_then(Path::parent).expect("target/<profile>").to_path_buf()
}

/// Builds the preload library (a cdylib, which `cargo test` does not build) and returns it.
fn preload_lib() -> PathBuf {
    let dir = profile_dir();
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "-p", "dpnode-preload", "--lib"])
        .args(if dir.ends_with("release") { &["--release"][..] } else { &[][..] })
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo");
    let lib = dir.join("libdpnode_preload.so");
    assert!(status.success() && lib.exists(), "cannot build {}", lib.display());
    lib
}

fn have(program: &str) -> bool {
    let ok = sh_any(&format!("command -v {program}")).status.success();
    if !ok {
        eprintln!("SKIPPED: {program} is not installed (scripts/setup installs it)");
    }
    ok
}

fn preload_env(n: &Node6) -> String {
    format!(
        "LD_PRELOAD={} DPNODE_API_SOCKET={} {}",
        preload_lib().display(),
        n.api(),
        std::env::var("IP6_PRELOAD_ENV").unwrap_or_default()
    )
}

#[test]
fn preloaded_curl_6_downloads_bit_exact_from_a_kernel_web_server_on_ip6() {
    if !require_root() || !have("curl") {
        return;
    }
    let n = node6();
    let dir = n.node.dir.join("www");
    std::fs::create_dir_all(&dir).unwrap();
    sh(&format!("head -c 4000000 /dev/urandom > {}/blob", dir.display()));
    let _web = Ext::start(
        "ip",
        &[
            "netns",
            "exec",
            &n.ns.name,
            "taskset",
            "-c",
            "0",
            "python3",
            "-u",
            "-m",
            "http.server",
            "8080",
            "--bind",
            "::",
            "--directory",
            &dir.display().to_string(),
        ],
        "Serving HTTP",
    );
    let got = n.node.dir.join("got");
    let out = n.ns.sh_any(&format!(
        "timeout 60 env {} curl -6 -sS -o {} http://[{KERNEL6}]:8080/blob",
        preload_env(&n),
        got.display()
    ));
    assert!(out.status.success(), "curl -6: {}\n{}", String::from_utf8_lossy(&out.stderr), n.node.log());
    sh(&format!("cmp {}/blob {}", dir.display(), got.display()));
    // Through the node: curl attached and its session was the node's.
    assert!(n.node.log().contains("attached \"curl-"), "{}", n.node.log());
}

/// An AF_INET6 server under the preload: echoes two connections, then
/// datagrams, and reports per connection what getpeername and getsockname
/// say, IPV6_V6ONLY, SO_DOMAIN and a UDP echo's source as recvfrom gives it.
/// One thread only: a thread blocked in a UDP recvfrom stalls a TCP echo in
/// another thread on the same app worker (IPv4 too: a preload defect this
/// test does not cover, see the report).
const PRELOADED_SERVER6: &str = r#"
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
v6only = s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
dom = s.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", 9100)); s.listen(16)
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u.bind(("::", 9101))
print(f"ready v6only={v6only} domain={int(dom == socket.AF_INET6)} name={s.getsockname()[0]}", flush=True)
# One thread: two TCP connections, then datagrams (see the test for why).
for _ in range(2):
    c, a = s.accept()
    print(f"accepted peer={c.getpeername()[0]} from={a[0]} local={c.getsockname()[0]}", flush=True)
    while True:
        b = c.recv(65536)
        if not b:
            break
        c.sendall(b)
    c.close()
while True:
    d, a = u.recvfrom(65535)
    print(f"udp from={a[0]}", flush=True)
    u.sendto(d, a)
"#;

const DGRAM_ONCE: &str = r#"
import os, socket
host = os.environ["HOST"]
u = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(2)
for _ in range(5):
    u.sendto(b"ping6 datagram", (host, 9101))
    try:
        d, a = u.recvfrom(100)
    except socket.timeout:
        continue
    print(f"ok={int(d == b'ping6 datagram')}")
    break
else:
    print("ok=0")
"#;

#[test]
fn preloaded_server_on_in6addr_any_takes_ip6_and_ip4_as_linux_shows_them() {
    if !require_root() {
        return;
    }
    let n = node6();
    let path = format!("/tmp/dpnt-srv6-{}.py", tag());
    std::fs::write(&path, PRELOADED_SERVER6).unwrap();
    let env = preload_env(&n);
    let mut args = vec!["netns", "exec", &n.ns.name, "env"];
    args.extend(env.split_whitespace());
    args.extend(["python3", "-u", &path]);
    let mut srv = Ext::start("ip", &args, "ready");
    // Over IPv6, then over IPv4 to the same [::] socket (v6only is off by default).
    let out = n.py(KERNEL_CLIENT, &format!("HOST={NODE6} PORT=9100 BYTES={}", 2 << 20));
    assert_eq!(field(&out, "sent"), field(&out, "recv"), "IPv6: {out}");
    let out4 = n.py(KERNEL_CLIENT, &format!("HOST=198.18.0.2 PORT=9100 BYTES={}", 2 << 20));
    assert_eq!(field(&out4, "sent"), field(&out4, "recv"), "IPv4 to [::]: {out4}");
    for host in [NODE6, "198.18.0.2"] {
        let d = n.py(DGRAM_ONCE, &format!("HOST={host}"));
        assert_eq!(field_num(&d, "ok"), 1, "UDP to [::]:9101 from {host}: {d}");
    }
    let _ = std::fs::remove_file(&path);
    assert!(srv.ready.contains("v6only=0 domain=1 name=::"), "{}", srv.ready);
    let _ = srv.child.kill();
    let _ = srv.child.wait();
    let mut log = String::new();
    let _ = srv.out.read_to_string(&mut log);
    assert!(log.contains(&format!("accepted peer={KERNEL6} from={KERNEL6} local={NODE6}")), "{log}");
    assert!(
        log.contains("accepted peer=::ffff:198.18.0.1 from=::ffff:198.18.0.1 local=::ffff:198.18.0.2"),
        "an IPv4 peer shows as IPv4-mapped, as Linux shows it: {log}"
    );
    assert!(log.contains(&format!("udp from={KERNEL6}")) && log.contains("udp from=::ffff:198.18.0.1"), "{log}");
    assert!(n.node.log().contains("attached \"python3-"), "{}", n.node.log());
}

/// IPV6_V6ONLY under the preload: set before bind, an IPv4 client is not
/// served by the `[::]` listener and a v6only UDP socket on `[::]` gets no
/// IPv4 datagram; AF_INET sockets refuse IPv6 options and addresses,
/// AF_INET6 ones refuse AF_INET binds, as Linux does.
const V6ONLY: &str = r#"
import errno, socket, sys
res = []
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
res.append(f"v6only={s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)}")
s.bind(("::", 9200)); s.listen(4)
def err(what, f):
    try:
        f(); res.append(f"{what}=ok")
    except OSError as e:
        res.append(f"{what}={errno.errorcode.get(e.errno, e.errno)}")
err("late-set", lambda: s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0))
v4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
err("v4-opt", lambda: v4.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1))
m = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
m.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
err("v6only-bind-mapped", lambda: m.bind(("::ffff:198.18.0.2", 9202)))
res.append(f"dom={s.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN) == socket.AF_INET6}")
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
u.bind(("::", 9201))
print("ready " + " ".join(res), flush=True)
c, a = s.accept()
print(f"accepted={a[0]}", flush=True)
# The test sends an IPv4 datagram, then an IPv6 one: the first read must be the IPv6 one.
d, a = u.recvfrom(100)
print(f"udp-from={a[0]} data={d.decode()}", flush=True)
"#;

#[test]
fn preloaded_v6only_listener_refuses_ip4_and_bad_families_get_linux_errors() {
    if !require_root() {
        return;
    }
    let n = node6();
    let path = format!("/tmp/dpnt-v6only-{}.py", tag());
    std::fs::write(&path, V6ONLY).unwrap();
    let env = preload_env(&n);
    let mut args = vec!["netns", "exec", &n.ns.name, "env"];
    args.extend(env.split_whitespace());
    args.extend(["python3", "-u", &path]);
    let srv = Ext::start("ip", &args, "ready");
    for want in ["v6only=1", "late-set=EINVAL", "v4-opt=ENOPROTOOPT", "v6only-bind-mapped=EINVAL", "dom=True"] {
        assert!(srv.ready.contains(want), "{want}: {}", srv.ready);
    }
    let apps = n.node.ctl(&["show", "app", "server"]);
    assert!(apps.contains("tcp://[::]/9200"), "the node listens for the v6only socket: {apps}");
    // IPv4 first: the node accepts it on [::], the preload refuses it (v6only), so
    // the kernel client sees its connection end without an answer.
    let v4 = n.ns.sh_any("timeout 10 python3 -c \"import socket; s=socket.create_connection(('198.18.0.2', 9200), timeout=5); s.sendall(b'x'); print('read', len(s.recv(10)))\"");
    let v4_text = String::from_utf8_lossy(&v4.stdout).to_string() + &String::from_utf8_lossy(&v4.stderr);
    assert!(!v4_text.contains("read 1"), "an IPv4 client must not be served: {v4_text}");
    // Then IPv6: accepted.
    n.ns.sh(&format!(
        "timeout 10 python3 -c \"import socket; s=socket.create_connection(('{NODE6}', 9200), timeout=5); s.close()\""
    ));
    // UDP: an IPv4 datagram to the v6only [::] socket, then (once the node has
    // answered a ping, so the first one is surely in) an IPv6 one.
    n.ns.sh("python3 -c \"import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'v4', ('198.18.0.2', 9201))\"");
    n.ns.sh("ping -c 1 -W 5 198.18.0.2 > /dev/null");
    n.ns.sh(&format!(
        "python3 -c \"import socket; socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).sendto(b'v6', ('{NODE6}', 9201))\""
    ));
    let (_, log) = srv.finish();
    let _ = std::fs::remove_file(&path);
    assert!(log.contains(&format!("accepted={KERNEL6}")), "{log}");
    assert!(log.contains(&format!("udp-from={KERNEL6} data=v6")), "a v6only UDP socket gets no IPv4 datagram: {log}");
}

#[test]
fn preloaded_iperf3_6_client_against_a_kernel_server() {
    if !require_root() || !have("iperf3") {
        return;
    }
    let n = node6();
    let _kernel = Ext::start(
        "ip",
        &[
            "netns",
            "exec",
            &n.ns.name,
            "taskset",
            "-c",
            "0",
            "iperf3",
            "-s",
            "-B",
            KERNEL6,
            "-p",
            "5210",
            "--forceflush",
        ],
        "Server listening",
    );
    let out = n.ns.sh_any(&format!("timeout 60 env {} iperf3 -6 -c {KERNEL6} -p 5210 -t 3 -J", preload_env(&n)));
    let json = String::from_utf8_lossy(&out.stdout).to_string();
    let path = format!("/tmp/dpnt-iperf6-{}.json", tag());
    std::fs::write(&path, &json).unwrap();
    let res = sh(&format!(
        "python3 -c 'import json; d=json.load(open(\"{path}\")); e=d.get(\"end\",{{}}); \
         s=e.get(\"sum_received\") or e.get(\"sum\") or {{}}; print(int(s.get(\"bytes\",0)), repr(d.get(\"error\",\"\")))'"
    ));
    let _ = std::fs::remove_file(&path);
    let mut it = res.trim().splitn(2, ' ');
    let bytes: u64 = it.next().unwrap_or("0").parse().unwrap_or(0);
    let error = it.next().unwrap_or("").to_string();
    assert!(bytes > 1_000_000 && error == "''", "iperf3 -6: {bytes} bytes, error {error}\n{json}");
    assert!(json.contains(KERNEL6), "{json}");
    assert!(n.node.log().contains("attached \"iperf3-"), "through the node: {}", n.node.log());
    eprintln!("iperf3 -6 under the preload: {bytes} bytes");
}
