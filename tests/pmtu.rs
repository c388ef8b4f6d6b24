//! End to end, issue 12 item 2: TCP path MTU discovery (RFC 1191 / RFC
//! 8201 with the RFC 5927 checks). The node's tap lives in a router
//! namespace whose kernel forwards to a client namespace over a veth link
//! of MTU 1280 on the router's side (the client's end stays at 1500, so the
//! client offers a 1460-byte MSS and only the router's ICMP tells the node
//! that the path is narrower); a kernel client downloads a few MB from the
//! node's echo server, v4 and v6. And crafted ICMP quoting a sequence
//! number not in flight is refused and counted.

mod common;

use common::*;

/// The node at 198.18.0.2/24 and fd00:198:18::2/64 behind the router
/// (198.18.0.1, fd00:198:18::1), routes to the client's networks
/// 198.18.1.0/24 and fd00:198:19::/64 via the router; a TCP echo server
/// on `tcp://[::]/7`. Returns the router namespace, the client
/// namespace and the node.
fn routed_node() -> (Netns, Netns, Node) {
    let t = tag();
    let router = Netns::new(&t);
    let client = Netns::new(&format!("{t}c"));
    let dev = format!("dpnt{t}");
    let cfg = format!(
        "[dpdk]\nhugepages = \"off\"\n\n[[interface]]\nname = \"tap0\"\nvdev = \"net_tap0,iface={dev}\"\nip4 = \"198.18.0.2/24\"\nip6 = [\"fd00:198:18::2/64\"]\n\n[[route]]\nprefix = \"198.18.1.0/24\"\nvia = \"198.18.0.1\"\n\n[[route6]]\nprefix = \"fd00:198:19::/64\"\nvia = \"fd00:198:18::1\"\n\n[workers]\nidle = \"sleep\"\n\n[[app]]\nkind = \"echo-server\"\nuri = \"tcp://[::]/7\"\n"
    );
    let node = Node::start(&router, &t, &cfg);
    router.wait_link(&dev);
    let c = &client.name;
    router.sh(&format!(
        "ip link set {dev} down && ip link set dev {dev} address 02:00:00:00:00:01 \
         && sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0 \
         && sysctl -qw net.ipv6.conf.{dev}.accept_dad=0 net.ipv6.conf.{dev}.disable_ipv6=0 \
         && sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0 \
         && ip -6 addr add fd00:198:18::1/64 dev {dev} nodad && ip addr add 198.18.0.1/24 dev {dev} && ip link set {dev} up \
         && ip link add vr{t} mtu 1280 type veth peer name vc{t} netns {c} \
         && ip addr add 198.18.1.1/24 dev vr{t} && ip -6 addr add fd00:198:19::1/64 dev vr{t} nodad && ip link set vr{t} up"
    ));
    client.sh(&format!(
        "sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0 net.ipv6.conf.vc{t}.accept_dad=0 \
         && ip link set vc{t} mtu 1500 && ip addr add 198.18.1.2/24 dev vc{t} && ip -6 addr add fd00:198:19::2/64 dev vc{t} nodad \
         && ip link set vc{t} up && ip route add default via 198.18.1.1 && ip -6 route add default via fd00:198:19::1"
    ));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !node.ctl(&["show", "interface"]).contains("(preferred)") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(node.ctl(&["show", "interface"]).contains("(preferred)"), "{}", node.ctl(&["show", "interface"]));
    (router, client, node)
}

/// `MB` megabytes of random bytes to the echo server at `host`, read back
/// concurrently and compared (the node's half is the download).
const TCP_ECHO: &str = r#"
import hashlib, os, socket, sys, threading
host, mb = sys.argv[1], int(sys.argv[2])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.settimeout(120)
s.connect((host, 7))
data = os.urandom(mb << 20)
def send():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send)
t.start()
got = bytearray()
while True:
    b = s.recv(1 << 16)
    if not b:
        break
    got += b
t.join()
print("len=%d same=%d" % (len(got), int(hashlib.sha256(got).digest() == hashlib.sha256(data).digest())))
"#;

/// The sum of counter `name` over `show tcp stats`, `show counters` and
/// `show errors` (0 if absent).
fn any_counter(node: &Node, name: &str) -> u64 {
    ["tcp stats", "counters", "errors"].iter().map(|w| counter_line(&node.ctl(&["show", w]), name)).max().unwrap_or(0)
}

#[test]
fn tcp_shrinks_its_segments_behind_a_1280_byte_link_and_the_download_completes_v4_and_v6() {
    if !require_root() {
        return;
    }
    let (router, client, node) = routed_node();
    let mut lowered = 0;
    for host in ["198.18.0.2", "fd00:198:18::2"] {
        let out = python(&client, TCP_ECHO, "", &format!("{host} 4"), 300);
        assert_eq!(out.trim(), format!("len={} same=1", 4 << 20), "{host}: {out}\n{}", node.ctl(&["show", "errors"]));
        let now = any_counter(&node, "path mtu: mss lowered by icmp");
        assert!(now > lowered, "{host}: no mss lowered\n{}", node.ctl(&["show", "tcp", "stats"]));
        lowered = now;
    }
    assert!(
        node.counter("icmp fragmentation needed received (for path mtu)") >= 1,
        "{}",
        node.ctl(&["show", "counters"])
    );
    assert!(node.counter("icmp6 packet too big received (for path mtu)") >= 1, "{}", node.ctl(&["show", "counters"]));
    assert_eq!(any_counter(&node, "path mtu: icmp refused (no connection or sequence out of window)"), 0);
    // The router's kernel said so.
    let snmp = router.sh("cat /proc/net/snmp6");
    assert!(snmp.lines().any(|l| l.starts_with("Icmp6OutPktTooBigs") && !l.ends_with(" 0")), "{snmp}");
}

/// Connects to the echo server (v4 and v6) and holds both connections
/// open, idle; scapy (on the router) then sends a "fragmentation needed"
/// and a "packet too big" quoting each connection with a sequence number
/// the node never sent; finally both connections still echo.
const FORGED: &str = r#"
import socket, sys, time
from scapy.all import IP, IPv6, ICMP, ICMPv6PacketTooBig, TCP, send, conf
conf.verb = 0
conns = []
for fam, node, me in ((socket.AF_INET, "198.18.0.2", "198.18.0.1"), (socket.AF_INET6, "fd00:198:18::2", "fd00:198:18::1")):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect((node, 7))
    s.sendall(b"x" * 100)
    got = b""
    while len(got) < 100:
        got += s.recv(100)
    conns.append((s, node, me, s.getsockname()[1]))
for s, node, me, port in conns:
    quoted = TCP(sport=7, dport=port, seq=0x12345678, flags="A")
    if ":" in node:
        send(IPv6(src=me, dst=node) / ICMPv6PacketTooBig(mtu=1280) / IPv6(src=node, dst=me) / quoted)
    else:
        send(IP(src=me, dst=node) / ICMP(type=3, code=4, nexthopmtu=600) / IP(src=node, dst=me) / quoted)
time.sleep(1)
for s, node, me, port in conns:
    s.sendall(b"y" * 3000)
    got = b""
    while len(got) < 3000:
        got += s.recv(4000)
    assert got == b"y" * 3000
print("ok")
"#;

#[test]
fn forged_icmp_quoting_a_sequence_not_in_flight_is_refused_and_counted() {
    if !require_root() {
        return;
    }
    let (router, _client, node) = routed_node();
    // scapy is the system python's (as in tests/ip6.rs).
    let path = format!("/tmp/dpnt-forged-{}.py", tag());
    std::fs::write(&path, FORGED).unwrap();
    let out = router.sh_any(&format!("timeout 120 /usr/bin/python3 {path}"));
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ok"),
        "{text}
{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let refused = any_counter(&node, "path mtu: icmp refused (no connection or sequence out of window)");
    assert_eq!(refused, 2, "{}", node.ctl(&["show", "tcp", "stats"]));
    assert_eq!(any_counter(&node, "path mtu: mss lowered by icmp"), 0);
    assert_eq!(node.counter("icmp fragmentation needed received (for path mtu)"), 1);
    assert_eq!(node.counter("icmp6 packet too big received (for path mtu)"), 1);
}
