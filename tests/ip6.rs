//! End to end, IPv6 (issue 12): a node on net_tap inside a namespace, the
//! Linux kernel as its peer: ping over link-local and configured addresses,
//! DAD, fragments, and UDP/TCP sessions over link-local addresses.

mod common;

use common::*;

fn tap_config(dev: &str) -> String {
    format!(
        "[dpdk]\nhugepages = \"off\"\n\n[[interface]]\nname = \"tap0\"\nvdev = \"net_tap0,iface={dev}\"\nip4 = \"198.18.0.2/24\"\n\n[workers]\nidle = \"sleep\"\n"
    )
}

/// The EUI-64 link-local address of a MAC written aa:bb:cc:dd:ee:ff.
fn link_local(mac: &str) -> String {
    let b: Vec<u8> = mac.split(':').map(|x| u8::from_str_radix(x, 16).unwrap()).collect();
    format!(
        "fe80::{:x}:{:x}:{:x}:{:x}",
        u16::from(b[0] ^ 2) << 8 | u16::from(b[1]),
        u16::from(b[2]) << 8 | 0xff,
        0xfe00 | u16::from(b[3]),
        u16::from(b[4]) << 8 | u16::from(b[5])
    )
}

#[test]
fn kernel_pings_node_link_local_after_neighbour_discovery() {
    if !require_root() {
        return;
    }
    let t = tag();
    let ns = Netns::new(&t);
    let dev = format!("dpnt{t}");
    let node = Node::start(&ns, &t, &tap_config(&dev));
    ns.wait_link(&dev);
    // net_tap gives the kernel's tap the node's MAC, so both would derive
    // the same link-local address: give the kernel side its own. The
    // namespace starts with IPv6 off; turn it on for the tap only, without
    // DAD so the kernel's link-local is usable at once.
    ns.sh(&format!(
        "ip link set dev {dev} address 02:00:00:00:00:01 && sysctl -qw net.ipv6.conf.{dev}.accept_dad=0 net.ipv6.conf.{dev}.disable_ipv6=0 && ip link set {dev} up"
    ));
    ns.kernel_addr(&dev, "198.18.0.1/24");
    let node_mac =
        node.ctl(&["show", "interface"]).lines().nth(1).unwrap().split_whitespace().nth(3).unwrap().to_string();
    let ll = link_local(&node_mac);

    // The kernel resolves the node by NDP, then 100 pings get 100 replies.
    let out = ns.sh_any(&format!("ping -6 -c 100 -i 0.01 -W 2 {ll}%{dev}"));
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    let why = || {
        let addr = ns.sh_any(&format!("ip -6 addr show dev {dev}; ip -6 neigh show dev {dev}"));
        format!(
            "{out}\n{}\n{}\nnode counters:\n{}",
            String::from_utf8_lossy(&addr.stdout),
            node.ctl(&["show", "interface"]),
            node.ctl(&["show", "counters"])
        )
    };
    assert!(out.contains("100 packets transmitted, 100 received"), "{}", why());
    let neigh = ns.sh(&format!("ip -6 neigh show {ll} dev {dev}"));
    assert!(neigh.contains(&node_mac), "kernel learned {neigh}, node says {node_mac}");

    let errors = node.ctl(&["show", "errors"]);
    let c = |name: &str| counter_line(&errors, name);
    assert_eq!(c("icmp6 bad checksum"), 0, "{errors}");
    assert_eq!(c("ndp hop limit not 255"), 0, "{errors}");
    let counters = node.ctl(&["show", "counters"]);
    assert!(counter_line(&counters, "icmp6 echo replies sent") >= 100, "{counters}");
    assert!(counter_line(&counters, "ndp neighbour advertisements sent") >= 1, "{counters}");
}

fn tap_config6(dev: &str, ip6: &str) -> String {
    format!(
        "[dpdk]\nhugepages = \"off\"\n\n[[interface]]\nname = \"tap0\"\nvdev = \"net_tap0,iface={dev}\"\nip4 = \"198.18.0.2/24\"\nip6 = [\"{ip6}\"]\n\n[workers]\nidle = \"sleep\"\n"
    )
}

/// Bring the kernel's tap up with its own MAC, IPv6 on and `kernel_ip6`
/// (without DAD, so it is the kernel's at once). The address goes on
/// before the link comes up, so the node's DAD, which starts again when
/// its port sees the link come up, meets it.
fn kernel_side6(ns: &Netns, dev: &str, kernel_ip6: &str) {
    ns.wait_link(dev);
    ns.sh(&format!(
        "ip link set {dev} down && ip link set dev {dev} address 02:00:00:00:00:01 && sysctl -qw net.ipv6.conf.{dev}.accept_dad=0 net.ipv6.conf.{dev}.disable_ipv6=0 && ip -6 addr add {kernel_ip6} dev {dev} nodad && ip addr add 198.18.0.1/24 dev {dev} && ip link set {dev} up"
    ));
}

/// Waits (bounded) until `show interface` shows `want` (e.g. an address's
/// DAD state); the interface text either way.
fn wait_interface(node: &Node, want: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let text = node.ctl(&["show", "interface"]);
        if text.contains(want) || std::time::Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn configured_address_passes_dad_and_answers_kernel_pings() {
    if !require_root() {
        return;
    }
    let t = tag();
    let ns = Netns::new(&t);
    let dev = format!("dpnt{t}");
    let node = Node::start(&ns, &t, &tap_config6(&dev, "fd00:198:18::2/64"));
    kernel_side6(&ns, &dev, "fd00:198:18::1/64");
    let ifs = wait_interface(&node, "fd00:198:18::2/64 (preferred)");
    assert!(ifs.contains("fd00:198:18::2/64 (preferred)"), "{ifs}\n{}", node.ctl(&["show", "counters"]));
    let out = ns.sh_any("ping -6 -c 50 -i 0.01 -W 2 fd00:198:18::2");
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.contains("50 packets transmitted, 50 received"), "{out}\n{}", node.ctl(&["show", "counters"]));
    let neigh = ns.sh(&format!("ip -6 neigh show fd00:198:18::2 dev {dev}"));
    assert!(neigh.contains("lladdr"), "kernel neighbour entry: {neigh}");
    let routes = node.ctl(&["show", "ip6", "route"]);
    assert!(routes.lines().any(|l| l.starts_with("fd00:198:18::/64") && l.contains("connected")), "{routes}");
    let counters = node.ctl(&["show", "counters"]);
    assert!(counter_line(&counters, "ip6 dad probes sent") >= 1, "{counters}");
    assert!(counter_line(&counters, "ndp unsolicited advertisements sent") >= 2, "{counters}");
    let errors = node.ctl(&["show", "errors"]);
    assert_eq!(counter_line(&errors, "ip6 dad duplicate address detected"), 0, "{errors}");
    let json = node.ctl(&["--json", "show", "interface"]);
    assert!(json.contains("\"state\": \"preferred\""), "{json}");

    // The node pings the kernel: its global address (routed, from the
    // node's global one) and its link-local one on the named interface.
    let out = node.ctl(&["ping", "fd00:198:18::1", "count", "3", "interval", "0.2"]);
    assert!(out.contains("3 packets transmitted, 3 received"), "{out}");
    assert!(out.contains("bytes from fd00:198:18::1"), "{out}");
    let kernel_ll = link_local("02:00:00:00:00:01");
    let out = node.ctl(&["ping", &format!("{kernel_ll}%tap0"), "count", "2", "interval", "0.2"]);
    assert!(out.contains("2 packets transmitted, 2 received"), "{out}");
    // Every reply the node's pings got is counted.
    assert_eq!(node.counter("icmp6 echo replies received (node ping)"), 5, "{}", node.ctl(&["show", "counters"]));
    let neigh = node.ctl(&["show", "ip6", "neighbors"]);
    let line = neigh.lines().find(|l| l.contains("fd00:198:18::1 ")).unwrap_or_else(|| panic!("{neigh}"));
    assert!(
        line.contains("02:00:00:00:00:01") && ["reachable", "stale", "delay", "probe"].iter().any(|s| line.contains(s)),
        "{neigh}"
    );
    let (ok, out) = node.ctl_any(&["ping", "2001:db8::1"]);
    assert!(!ok && out.contains("no route"), "{out}");
    let (ok, out) = node.ctl_any(&["ping", "fe80::1%nosuch"]);
    assert!(!ok && out.contains("no interface named"), "{out}");
}

#[test]
fn an_address_the_kernel_already_has_is_marked_duplicate() {
    if !require_root() {
        return;
    }
    let t = tag();
    let ns = Netns::new(&t);
    let dev = format!("dpnt{t}");
    let node = Node::start(&ns, &t, &tap_config6(&dev, "fd00:198:18::2/64"));
    kernel_side6(&ns, &dev, "fd00:198:18::2/64");
    let ifs = wait_interface(&node, "fd00:198:18::2/64 (duplicate)");
    assert!(ifs.contains("fd00:198:18::2/64 (duplicate)"), "{ifs}\n{}", node.ctl(&["show", "counters"]));
    let errors = node.ctl(&["show", "errors"]);
    assert!(counter_line(&errors, "ip6 dad duplicate address detected") >= 1, "{errors}");
    assert!(node.log().contains("duplicate address detected"), "{}", node.log());
    // Never preferred, so never announced or answered for.
    assert_eq!(node.counter("ip6 dad addresses preferred"), 0);
}

/// A node at fd00:198:18::2/64 (and 198.18.0.2/24) whose address passed
/// DAD, the kernel at fd00:198:18::1/64 (and 198.18.0.1/24).
fn dual_stack_node() -> (Netns, Node, String) {
    let t = tag();
    let ns = Netns::new(&t);
    let dev = format!("dpnt{t}");
    let node = Node::start(&ns, &t, &tap_config6(&dev, "fd00:198:18::2/64"));
    kernel_side6(&ns, &dev, "fd00:198:18::1/64");
    let ifs = wait_interface(&node, "fd00:198:18::2/64 (preferred)");
    assert!(ifs.contains("(preferred)"), "{ifs}");
    (ns, node, dev)
}

#[test]
fn pings_of_4000_bytes_are_reassembled_and_answered_in_fragments_v4_and_v6() {
    if !require_root() {
        return;
    }
    let (ns, node, _dev) = dual_stack_node();
    for cmd in ["ping -c 5 -i 0.1 -W 2 -s 4000 198.18.0.2", "ping -6 -c 5 -i 0.1 -W 2 -s 4000 fd00:198:18::2"] {
        let out = ns.sh_any(cmd);
        let out = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.contains("5 packets transmitted, 5 received"), "{cmd}: {out}\n{}", node.ctl(&["show", "counters"]));
    }
    let counters = node.ctl(&["show", "counters"]);
    assert!(counter_line(&counters, "reassembly datagrams completed") >= 10, "{counters}");
    // 4028/4048-byte replies over a 1500-byte MTU: three fragments each.
    assert!(counter_line(&counters, "ip fragments sent (datagrams over the mtu)") >= 30, "{counters}");
    let errors = node.ctl(&["show", "errors"]);
    assert_eq!(counter_line(&errors, "ip datagram over the mtu not fragmentable, dropped"), 0, "{errors}");
}

const FRAGS: &str = r##"
import sys
from scapy.all import IPv6, IPv6ExtHdrFragment, ICMPv6EchoRequest, Raw, send, conf
conf.verb = 0
dst, mode = sys.argv[1], sys.argv[2]
if mode == "overlap":
    # Two pieces of one echo request whose bytes 8..16 both carry (RFC 5722).
    icmp = bytes(ICMPv6EchoRequest(id=7, seq=1) / Raw(b"A" * 24))
    send(IPv6(dst=dst) / IPv6ExtHdrFragment(id=4242, offset=0, m=1, nh=58) / Raw(icmp[:16]))
    send(IPv6(dst=dst) / IPv6ExtHdrFragment(id=4242, offset=1, m=0, nh=58) / Raw(icmp[8:]))
else:
    # First-less fragments far into big datagrams, each with its own id:
    # every one asks for a 64 KiB reassembly buffer.
    pkts = [IPv6(dst=dst) / IPv6ExtHdrFragment(id=10000 + i, offset=8000, m=1, nh=58) / Raw(b"x" * 8) for i in range(300)]
    send(pkts, inter=0.001)
print("sent")
"##;

fn scapy(ns: &Netns, args: &str) {
    let path = format!("/tmp/dpnt-frag-{}.py", tag());
    std::fs::write(&path, FRAGS).unwrap();
    let out = ns.sh_any(&format!("timeout 60 /usr/bin/python3 {path} {args}"));
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success(), "scapy: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn overlapping_fragments_are_dropped_and_a_flood_stays_in_the_cap() {
    if !require_root() {
        return;
    }
    let (ns, node, _dev) = dual_stack_node();
    scapy(&ns, "fd00:198:18::2 overlap");
    let errors = node.ctl(&["show", "errors"]);
    assert_eq!(counter_line(&errors, "reassembly ip6 overlapping fragment, datagram dropped"), 1, "{errors}");
    assert_eq!(node.counter("icmp6 echo requests received"), 0, "the overlapping datagram was answered");
    scapy(&ns, "fd00:198:18::2 flood");
    let errors = node.ctl(&["show", "errors"]);
    let refused = counter_line(&errors, "reassembly memory cap reached, fragment dropped")
        + counter_line(&errors, "reassembly too many datagrams in progress, fragment dropped");
    // 300 datagrams of 64 KiB would be 19 MiB: most were refused.
    assert!(refused >= 200, "{errors}");
    // The node keeps answering what needs no reassembly.
    let out = ns.sh_any("ping -6 -c 3 -i 0.1 -W 2 fd00:198:18::2");
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 received"), "{}", node.ctl(&["show", "errors"]));
}

fn tap_config_with(dev: &str, extra: &str) -> String {
    format!(
        "[dpdk]\nhugepages = \"off\"\n\n[[interface]]\nname = \"tap0\"\nvdev = \"net_tap0,iface={dev}\"\nip4 = \"198.18.0.2/24\"\n\n[workers]\nidle = \"sleep\"\n\n{extra}"
    )
}

/// Gives the kernel's tap its own MAC (net_tap gives it the node's, so
/// both would derive the same link-local address), turns IPv6 on for it
/// without DAD (its link-local is usable at once), and returns the node's
/// MAC and link-local address.
fn kernel_ip6_up(ns: &Netns, node: &Node, dev: &str) -> (String, String) {
    ns.sh(&format!(
        "ip link set dev {dev} address 02:00:00:00:00:01 && sysctl -qw net.ipv6.conf.{dev}.accept_dad=0 net.ipv6.conf.{dev}.disable_ipv6=0 && ip link set {dev} up"
    ));
    ns.kernel_addr(dev, "198.18.0.1/24");
    let node_mac =
        node.ctl(&["show", "interface"]).lines().nth(1).unwrap().split_whitespace().nth(3).unwrap().to_string();
    let ll = link_local(&node_mac);
    // Under load the kernel's own link-local address (and its fe80::/64
    // route) and the node's DAD can lag the link: wait until the node's
    // link-local address answers a ping before the test's first exchange.
    let ready = (0..30).any(|_| {
        let out = ns.sh_any(&format!("ping -6 -c 1 -W 1 '{ll}%{dev}'"));
        out.status.success() || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            false
        }
    });
    assert!(ready, "the node's link-local {ll} never answered a ping\n{}", node.log());
    (node_mac, ll)
}

/// The kernel sends UDP datagrams of every size from 1 to 1400 bytes to the
/// node's link-local address, port 7; each comes back bit-exact. Then an
/// IPv4 datagram to the same port: the listener on `[::]` takes IPv4 too.
const UDP6_ECHO: &str = r#"
import os, socket, sys
host, dev, v4 = sys.argv[1], sys.argv[2], sys.argv[3]
addr = socket.getaddrinfo(host + "%" + dev, 7, socket.AF_INET6, socket.SOCK_DGRAM)[0][4]
def exchange(s, to, data):
    for attempt in range(5):
        s.sendto(data, to)
        try:
            while True:
                got, frm = s.recvfrom(65535)
                if got == data:
                    return frm
        except socket.timeout:
            continue
    raise SystemExit("no echo for %d bytes after 5 tries" % len(data))
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(1.0)
n = 0
for size in range(1, 1401):
    frm = exchange(s, addr, os.urandom(size))
    assert frm[0].split("%")[0] == host and frm[1] == 7, frm
    n += 1
s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s4.settimeout(1.0)
exchange(s4, (v4, 7), os.urandom(100))
print("echoed=%d v4=ok" % n)
"#;

#[test]
fn udp_echo_over_link_local_ipv6_is_bit_exact_and_the_v6_wildcard_takes_ipv4() {
    if !require_root() {
        return;
    }
    let t = tag();
    let ns = Netns::new(&t);
    let dev = format!("dpnt{t}");
    let node =
        Node::start(&ns, &t, &tap_config_with(&dev, "[[app]]\nkind = \"echo-server\"\nuri = \"udp://[::]/7\"\n"));
    ns.wait_link(&dev);
    let (_, ll) = kernel_ip6_up(&ns, &node, &dev);
    let srv = node.ctl(&["show", "app", "server"]);
    assert!(srv.contains("udp://[::]/7"), "{srv}");

    let out = python(&ns, UDP6_ECHO, "", &format!("{ll} {dev} 198.18.0.2"), 120);
    assert!(out.contains("echoed=1400 v4=ok"), "{out}");

    let counters = node.ctl(&["show", "counters"]);
    assert!(counter_line(&counters, "ip6 udp/tcp delivered to the transports") >= 1400, "{counters}");
    let errors = node.ctl(&["show", "errors"]);
    let c = |name: &str| counter_line(&errors, name);
    assert_eq!(c("udp bad checksum"), 0, "{errors}");
    assert_eq!(c("ip6 udp/tcp output from an address no interface owns"), 0, "{errors}");
    let sessions = node.ctl(&["show", "session"]);
    assert!(sessions.contains(&format!("[{ll}]:7")), "{sessions}");
}

/// A kernel TCP client over IPv6 link-local: `MB` megabytes of random
/// bytes to the node's echo server, read back concurrently, compared; then
/// the MSS the kernel learnt from the node's SYN-ACK.
const TCP6_ECHO: &str = r#"
import hashlib, os, socket, sys, threading
host, dev, mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
addr = socket.getaddrinfo(host + "%" + dev, 7, socket.AF_INET6, socket.SOCK_STREAM)[0][4]
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.settimeout(60)
s.connect(addr)
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
mss = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)
print("len=%d same=%d mss=%d" % (len(got), int(hashlib.sha256(got).digest() == hashlib.sha256(data).digest()), mss))
"#;

/// A threaded kernel TCP echo server on [::]:7007.
const KERNEL_SERVER6: &str = r#"
import socket, threading
srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("::", 7007))
srv.listen(16)
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

#[test]
fn tcp_over_link_local_ipv6_curl_and_a_bit_exact_echo() {
    if !require_root() {
        return;
    }
    let t = tag();
    let ns = Netns::new(&t);
    let dev = format!("dpnt{t}");
    let apps = "[[app]]\nkind = \"echo-server\"\nuri = \"tcp://[::]/7\"\n\n\
                [[app]]\nkind = \"http-server\"\nuri = \"tcp://[::]/80\"\n";
    let node = Node::start(&ns, &t, &tap_config_with(&dev, apps));
    ns.wait_link(&dev);
    let (_, ll) = kernel_ip6_up(&ns, &node, &dev);

    let page = ns.sh(&format!("curl -6 -s -m 20 'http://[{ll}%{dev}]/'"));
    assert!(page.contains("<h1>dpnode</h1>"), "{page}");
    // The listener on [::] takes IPv4 too.
    let page4 = ns.sh("curl -s -m 20 http://198.18.0.2/");
    assert!(page4.contains("<h1>dpnode</h1>"), "{page4}");

    let out = python(&ns, TCP6_ECHO, "", &format!("{ll} {dev} 8"), 300);
    assert_eq!(field_num(&out, "len"), 8 << 20, "{out}");
    assert_eq!(field_num(&out, "same"), 1, "{out}");
    // The node's SYN-ACK offered MTU - 60 (1440), not IPv4's 1460.
    assert!(field_num(&out, "mss") <= 1440, "{out}");

    // Active open: the node's echo client against a kernel echo server on
    // the kernel's link-local address.
    let path = format!("/tmp/dpnt-ks6-{t}.py");
    std::fs::write(&path, KERNEL_SERVER6).unwrap();
    let mut srv = std::process::Command::new("ip").args(["netns", "exec", &ns.name, "python3", &path]).spawn().unwrap();
    ns.wait_tcp_listen(7007);
    let kernel_ll = link_local("02:00:00:00:00:01");
    let uri = format!("tcp://[{kernel_ll}]/7007");
    let out = node.ctl(&["test", "echo", "client", "uri", &uri, "bytes", "4m", "timeout", "120"]);
    let _ = srv.kill();
    let _ = srv.wait();
    let _ = std::fs::remove_file(&path);
    assert_eq!(after(&out, "completed"), 1, "{out}");
    assert_eq!(after(&out, "mismatched"), 0, "{out}");
    assert_eq!(after(&out, "received"), 4 << 20, "{out}");

    let errors = node.ctl(&["show", "errors"]);
    assert_eq!(counter_line(&errors, "ip6 udp/tcp dropped (no ip6 transport above)"), 0, "{errors}");
    assert_eq!(counter_line(&errors, "ip6 udp/tcp output from an address no interface owns"), 0, "{errors}");
}

/// Sessions over a configured (global) address, routed: `curl -6` to the
/// builtin HTTP server on `fd00:198:18::2` once DAD has made it preferred,
/// and the node's echo client opening to a kernel server on the kernel's
/// global address (the source chosen by the IPv6 route table).
#[test]
fn tcp_over_a_configured_ipv6_address_both_ways() {
    if !require_root() {
        return;
    }
    let t = tag();
    let ns = Netns::new(&t);
    let dev = format!("dpnt{t}");
    let cfg = format!(
        "{}\n[[app]]\nkind = \"http-server\"\nuri = \"tcp://[::]/80\"\n",
        tap_config6(&dev, "fd00:198:18::2/64")
    );
    let node = Node::start(&ns, &t, &cfg);
    kernel_side6(&ns, &dev, "fd00:198:18::1/64");
    let ifs = wait_interface(&node, "fd00:198:18::2/64 (preferred)");
    assert!(ifs.contains("fd00:198:18::2/64 (preferred)"), "{ifs}");

    let page = ns.sh("curl -6 -s -m 20 'http://[fd00:198:18::2]/'");
    assert!(page.contains("<h1>dpnode</h1>"), "{page}\n{}", node.ctl(&["show", "errors"]));

    let path = format!("/tmp/dpnt-ks6g-{t}.py");
    std::fs::write(&path, KERNEL_SERVER6).unwrap();
    let mut srv = std::process::Command::new("ip").args(["netns", "exec", &ns.name, "python3", &path]).spawn().unwrap();
    ns.wait_tcp_listen(7007);
    let out =
        node.ctl(&["test", "echo", "client", "uri", "tcp://[fd00:198:18::1]/7007", "bytes", "1m", "timeout", "120"]);
    let _ = srv.kill();
    let _ = srv.wait();
    let _ = std::fs::remove_file(&path);
    assert_eq!(after(&out, "completed"), 1, "{out}\n{}", node.ctl(&["show", "errors"]));
    assert_eq!(after(&out, "mismatched"), 0, "{out}");
    assert_eq!(after(&out, "received"), 1 << 20, "{out}");
    let errors = node.ctl(&["show", "errors"]);
    assert_eq!(counter_line(&errors, "ip6 udp/tcp output from an address no interface owns"), 0, "{errors}");
}

/// A kernel TCP client for `host` port 7: `MB` megabytes of random bytes
/// sent while a second thread reads the echo; the SHA-256 of both sides.
/// Streaming (1 MiB at a time), so 100 MB need no 100 MB buffer.
const TCP6_BULK_CLIENT: &str = r#"
import hashlib, os, socket, sys, threading
host, mb = sys.argv[1], int(sys.argv[2])
total = mb << 20
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.settimeout(120)
s.connect((host, 7))
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
left = total
while left:
    chunk = os.urandom(min(left, 1 << 20))
    sent_h.update(chunk)
    s.sendall(chunk)
    left -= len(chunk)
t.join()
s.close()
print("same=%d got=%d total=%d" % (int(sent_h.digest() == recv_h.digest()), got[0], total))
"#;

/// The kernel's client (pinned to core 0; the node's worker is on the last
/// core) sends `mb` MB to the node's echo server on `host` and gets them
/// back bit-exact.
fn kernel_client6(ns: &Netns, node: &Node, host: &str, mb: u32) {
    let path = format!("/tmp/dpnt-kc6-{}.py", tag());
    std::fs::write(&path, TCP6_BULK_CLIENT).unwrap();
    let out = ns.sh_any(&format!("timeout 900 taskset -c 0 python3 {path} {host} {mb}"));
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let why = || format!("{text}\n{}\n{}", String::from_utf8_lossy(&out.stderr), node.ctl(&["show", "errors"]));
    assert!(out.status.success(), "client failed:\n{}", why());
    assert_eq!(field(&text, "same"), "1", "{}", why());
    assert_eq!(field_num(&text, "got"), u64::from(mb) << 20, "{}", why());
}

/// The kernel echo server on `[::]:7007`, pinned to core 0, until dropped.
struct KernelServer6(std::process::Child, String);

impl KernelServer6 {
    fn start(ns: &Netns) -> KernelServer6 {
        let path = format!("/tmp/dpnt-ks6b-{}.py", tag());
        std::fs::write(&path, KERNEL_SERVER6).unwrap();
        let child = std::process::Command::new("ip")
            .args(["netns", "exec", &ns.name, "taskset", "-c", "0", "python3", &path])
            .spawn()
            .unwrap();
        ns.wait_tcp_listen(7007);
        KernelServer6(child, path)
    }
}

impl Drop for KernelServer6 {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_file(&self.1);
    }
}

/// The node's echo client sends `bytes` (CLI size, e.g. `100m`) to the
/// kernel echo server on the kernel's global address and checks the echo.
fn node_client6(node: &Node, bytes: &str, want: u64) {
    let out =
        node.ctl(&["test", "echo", "client", "uri", "tcp://[fd00:198:18::1]/7007", "bytes", bytes, "timeout", "900"]);
    let why = || format!("{out}\n{}", node.ctl(&["show", "errors"]));
    assert_eq!(after(&out, "completed"), 1, "{}", why());
    assert_eq!(after(&out, "mismatched"), 0, "{}", why());
    assert_eq!(after(&out, "received"), want, "{}", why());
}

fn dual_stack_echo_node() -> (Netns, Node, String) {
    let t = tag();
    let ns = Netns::new(&t);
    let dev = format!("dpnt{t}");
    let cfg = format!(
        "{}\n[[app]]\nkind = \"echo-server\"\nuri = \"tcp://[::]/7\"\n",
        tap_config6(&dev, "fd00:198:18::2/64")
    );
    let node = Node::start(&ns, &t, &cfg);
    kernel_side6(&ns, &dev, "fd00:198:18::1/64");
    let ifs = wait_interface(&node, "fd00:198:18::2/64 (preferred)");
    assert!(ifs.contains("(preferred)"), "{ifs}");
    (ns, node, dev)
}

/// 100 MB of TCP echo over the global IPv6 address, both ways, bit-exact:
/// a kernel client to the node's echo server, the node's echo client to a
/// kernel echo server (the node's worker on the last core, the kernel's
/// peers pinned to core 0; idle mode sleep).
#[test]
fn tcp_echo_of_100_mb_over_global_ipv6_both_ways() {
    if !require_root() {
        return;
    }
    let (ns, node, _dev) = dual_stack_echo_node();
    kernel_client6(&ns, &node, "fd00:198:18::2", 100);
    let _srv = KernelServer6::start(&ns);
    node_client6(&node, "100m", 100 << 20);
    let errors = node.ctl(&["show", "errors"]);
    assert_eq!(counter_line(&errors, "ip6 udp/tcp output from an address no interface owns"), 0, "{errors}");
    assert_eq!(counter_line(&errors, "tcp bad checksum"), 0, "{errors}");
}

/// The kernel's TCP with SACK, window scaling and timestamps all off, over
/// IPv6 (the `net.ipv4.tcp_*` knobs govern IPv6 too): 20 MB each way,
/// bit-exact.
#[test]
fn kernel_tcp_without_sack_wscale_or_timestamps_over_ipv6() {
    if !require_root() {
        return;
    }
    let (ns, node, _dev) = dual_stack_echo_node();
    ns.sh("sysctl -qw net.ipv4.tcp_sack=0 net.ipv4.tcp_window_scaling=0 net.ipv4.tcp_timestamps=0");
    assert_eq!(
        ns.sh("sysctl -n net.ipv4.tcp_sack net.ipv4.tcp_window_scaling net.ipv4.tcp_timestamps").trim(),
        "0\n0\n0"
    );
    kernel_client6(&ns, &node, "fd00:198:18::2", 20);
    let _srv = KernelServer6::start(&ns);
    node_client6(&node, "20m", 20 << 20);
}

/// Malformed IPv6 from scapy, straight onto the link (Ethernet to the
/// node's MAC): `N` of each kind, each a different defect.
const MALFORMED6: &str = r##"
import sys
from scapy.all import (Ether, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop, ICMPv6EchoRequest,
                       ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr, Raw, sendp, conf)
conf.verb = 0
dev, node_mac, dst, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
me = "02:00:00:00:00:01"
src = "fd00:198:18::1"
eth = Ether(src=me, dst=node_mac)
echo = ICMPv6EchoRequest(id=9, seq=1) / Raw(b"m" * 16)
kinds = {
    # The payload length says 200 bytes; 24 follow.
    "plen": eth / IPv6(src=src, dst=dst, plen=200) / echo,
    # Destination options after destination options, twelve deep: a
    # chain that goes round and round past the node's limit of 8.
    "loop": eth / IPv6(src=src, dst=dst) / (IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt()
             / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt()
             / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt()
             / IPv6ExtHdrDestOpt()) / echo,
    # Hop-by-hop again after hop-by-hop: the chain comes back to its start.
    "hbh": eth / IPv6(src=src, dst=dst) / IPv6ExtHdrHopByHop() / IPv6ExtHdrHopByHop() / echo,
    # A destination options header that claims 88 bytes; 8 are there.
    "trunc": eth / IPv6(src=src, dst=dst, nh=60) / Raw(bytes([58, 10, 1, 4, 0, 0, 0, 0])),
    # An echo request whose checksum is off by one.
    "csum": eth / IPv6(src=src, dst=dst) / ICMPv6EchoRequest(id=9, seq=2, cksum=0) / Raw(b"c" * 16),
    # A neighbour solicitation that crossed a router (hop limit 64, not 255).
    "ndp": eth / IPv6(src=src, dst=dst, hlim=64) / ICMPv6ND_NS(tgt=dst) / ICMPv6NDOptSrcLLAddr(lladdr=me),
}
# cksum=0 makes scapy compute it; break the computed one instead.
raw = bytearray(bytes(kinds["csum"]))
raw[14 + 40 + 2] ^= 0x01
kinds["csum"] = Ether(bytes(raw))
for name, pkt in kinds.items():
    for i in range(n):
        sendp(pkt, iface=dev)
print("sent")
"##;

/// Malformed IPv6 end to end: a bad payload length, an extension-header
/// chain that loops past the limit, hop-by-hop not first, a truncated
/// extension header, a bad ICMPv6 checksum and a neighbour solicitation
/// with hop limit 64. Each is counted under its own name, exactly as often
/// as it was sent, none is answered as an echo, and the node keeps
/// answering pings.
#[test]
fn malformed_ipv6_is_counted_by_cause_and_the_node_keeps_answering() {
    if !require_root() {
        return;
    }
    let (ns, node, dev) = dual_stack_node();
    let node_mac =
        node.ctl(&["show", "interface"]).lines().nth(1).unwrap().split_whitespace().nth(3).unwrap().to_string();
    let path = format!("/tmp/dpnt-mal6-{}.py", tag());
    std::fs::write(&path, MALFORMED6).unwrap();
    let out = ns.sh_any(&format!("timeout 120 /usr/bin/python3 {path} {dev} {node_mac} fd00:198:18::2 3"));
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success(), "scapy: {}", String::from_utf8_lossy(&out.stderr));
    // The node's counters settle once it has polled what scapy sent.
    let errors = {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let e = node.ctl(&["show", "errors"]);
            if counter_line(&e, "ndp hop limit not 255") >= 3 || std::time::Instant::now() > deadline {
                break e;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    let c = |name: &str| counter_line(&errors, name);
    assert_eq!(c("ip6 truncated (shorter than header or payload length)"), 3, "{errors}");
    assert_eq!(c("ip6 too many extension headers"), 3, "{errors}");
    assert_eq!(c("ip6 hop-by-hop header not first"), 3, "{errors}");
    assert_eq!(c("ip6 extension header or option truncated"), 3, "{errors}");
    assert_eq!(c("icmp6 bad checksum"), 3, "{errors}");
    assert_eq!(c("ndp hop limit not 255"), 3, "{errors}");
    assert_eq!(node.counter("icmp6 echo requests received"), 0, "a malformed packet was answered");

    let out = ns.sh_any("ping -6 -c 3 -i 0.1 -W 2 fd00:198:18::2");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("3 packets transmitted, 3 received"), "{text}\n{}", node.ctl(&["show", "errors"]));
    assert_eq!(node.counter("icmp6 echo requests received"), 3);
}

/// tcpdump in the kernel's namespace, writing the neighbour solicitations
/// it sees on the tap to a file, until dropped.
struct NsCapture {
    child: std::process::Child,
    out: std::path::PathBuf,
}

impl NsCapture {
    fn start(ns: &Netns, dev: &str) -> NsCapture {
        let t = tag();
        let out = std::path::PathBuf::from(format!("/tmp/dpnt-nscap-{t}.txt"));
        let err = std::path::PathBuf::from(format!("/tmp/dpnt-nscap-{t}.err"));
        let child = std::process::Command::new("ip")
            .args(["netns", "exec", &ns.name, "tcpdump", "-l", "-n", "-i", dev, "icmp6 and ip6[40] == 135"])
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .expect("spawn tcpdump");
        // Listening once it says so (a deadline on a wait, not a timing assumption).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !std::fs::read_to_string(&err).unwrap_or_default().contains("listening on") {
            assert!(std::time::Instant::now() < deadline, "tcpdump did not start: {:?}", std::fs::read_to_string(&err));
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = std::fs::remove_file(err);
        NsCapture { child, out }
    }

    /// The solicitations seen so far that ask for `ip`.
    fn solicitations_for(&self, ip: &str) -> Vec<String> {
        let pat = format!("who has {ip},");
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&pat))
            .map(String::from)
            .collect()
    }
}

impl Drop for NsCapture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.out);
    }
}

/// The `show ip6 neighbors` lines for `ip`.
fn nd_lines(node: &Node, ip: &str) -> Vec<String> {
    let pat = format!(" {ip} ");
    node.ctl(&["show", "ip6", "neighbors"]).lines().filter(|l| l.contains(&pat)).map(String::from).collect()
}

/// A static IPv6 neighbour from `[[neighbor]]`: the node's pings to the
/// kernel's global address go out with no neighbour solicitation (tcpdump
/// in the kernel's namespace sees none), `show ip6 neighbors` (and its
/// JSON) shows the entry as static; deleting it brings NDP back, setting
/// it again from the CLI replaces the learnt entry and asks nothing more.
/// Bad entries are refused with the reason.
#[test]
fn static_ip6_neighbour_is_sent_to_without_solicitation_and_deleting_it_brings_ndp_back() {
    if !require_root() {
        return;
    }
    const KMAC: &str = "02:00:00:00:00:01";
    let t = tag();
    let ns = Netns::new(&t);
    let dev = format!("dpnt{t}");
    let cfg = format!(
        "{}\n[[neighbor]]\ninterface = \"tap0\"\nip = \"fd00:198:18::1\"\nmac = \"{KMAC}\"\n",
        tap_config6(&dev, "fd00:198:18::2/64")
    );
    let node = Node::start(&ns, &t, &cfg);
    kernel_side6(&ns, &dev, "fd00:198:18::1/64");
    let ifs = wait_interface(&node, "fd00:198:18::2/64 (preferred)");
    assert!(ifs.contains("(preferred)"), "{ifs}");
    let node_mac =
        node.ctl(&["show", "interface"]).lines().nth(1).unwrap().split_whitespace().nth(3).unwrap().to_string();
    // The kernel needs no solicitation for the node either.
    ns.sh(&format!("ip -6 neigh replace fd00:198:18::2 lladdr {node_mac} dev {dev} nud permanent"));
    let cap = NsCapture::start(&ns, &dev);

    let out = node.ctl(&["ping", "fd00:198:18::1", "count", "5", "interval", "0.05"]);
    assert!(out.contains("5 packets transmitted, 5 received"), "{out}\n{}", node.ctl(&["show", "errors"]));
    let lines = nd_lines(&node, "fd00:198:18::1");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("all ")
            && lines[0].contains(KMAC)
            && lines[0].contains(" static ")
            && lines[0].ends_with("static"),
        "{lines:?}"
    );
    let json = node.ctl(&["--json", "show", "ip6", "neighbors"]);
    assert!(json.contains("\"kind\": \"static\"") && json.contains("\"worker\": null"), "{json}");
    assert_eq!(cap.solicitations_for("fd00:198:18::1"), Vec::<String>::new());
    assert_eq!(node.counter("ndp neighbour solicitations sent"), 0);

    // Deleted: the node solicits again and learns the answer.
    node.ctl(&["del", "ip6", "neighbor", "tap0", "fd00:198:18::1"]);
    assert!(nd_lines(&node, "fd00:198:18::1").is_empty());
    let out = node.ctl(&["ping", "fd00:198:18::1", "count", "5", "interval", "0.05"]);
    assert!(out.contains("5 packets transmitted, 5 received"), "{out}");
    let lines = nd_lines(&node, "fd00:198:18::1");
    assert!(lines.len() == 1 && lines[0].contains(KMAC) && !lines[0].contains("static"), "{lines:?}");
    // The solicitation the ping waited for reached the kernel before its
    // reply came back; tcpdump writes its line soon after.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while cap.solicitations_for("fd00:198:18::1").is_empty() {
        assert!(std::time::Instant::now() < deadline, "no solicitation seen after the delete");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let seen = cap.solicitations_for("fd00:198:18::1");

    // Set again from the CLI: the learnt entry goes, the static one is used.
    let asked = node.counter("ndp neighbour solicitations sent");
    node.ctl(&["set", "ip6", "neighbor", "tap0", "fd00:198:18::1", KMAC, "static"]);
    let out = node.ctl(&["ping", "fd00:198:18::1", "count", "3", "interval", "0.05"]);
    assert!(out.contains("3 received"), "{out}");
    let lines = nd_lines(&node, "fd00:198:18::1");
    assert!(lines.len() == 1 && lines[0].ends_with("static"), "{lines:?}");
    assert_eq!(node.counter("ndp neighbour solicitations sent"), asked);
    assert_eq!(cap.solicitations_for("fd00:198:18::1"), seen);

    // Refused, with the reason; nothing stored.
    let refused = |words: &[&str], why: &str| {
        let (ok, text) = node.ctl_any(words);
        assert!(!ok && text.contains(why), "{words:?}: {text}");
    };
    let own_ll = link_local(&node_mac);
    refused(&["set", "ip6", "neighbor", "tap0", "fd00:198:18::2", KMAC], "the node's own address");
    refused(&["set", "ip6", "neighbor", "tap0", &own_ll, KMAC], "the node's own address");
    refused(&["set", "ip6", "neighbor", "tap0", "ff02::1", KMAC], "not a unicast address (multicast)");
    refused(&["set", "ip6", "neighbor", "tap9", "fe80::1", KMAC], "no interface named \"tap9\"");
    refused(&["set", "ip6", "neighbor", "tap0", "198.18.0.1", KMAC], "is not an IPv6 address");
    refused(&["set", "ip6", "neighbor", "tap0", "fe80::1", "33:33:00:00:00:01"], "not a unicast MAC");
    refused(&["set", "ip6", "neighbor", "tap0", "fe80::1"], "usage: set ip6 neighbor");
    refused(&["del", "ip6", "neighbor", "tap0", "fe80::9"], "fe80::9 has no static entry on tap0");
    refused(&["del", "ip6", "neighbor", "tap0"], "usage: del ip6 neighbor");
    refused(&["set", "ip", "neighbor", "tap0", "fe80::1", KMAC], "use `set ip6 neighbor`");
    assert_eq!(node.ctl(&["show", "ip6", "neighbors"]).matches("static").count(), 2, "one static entry only");
}
