//! End to end, issue 12 item 2: UDP datagrams larger than the MTU through
//! the session layer, both ways, IPv4 and IPv6 (the node fragments from
//! the fifo and delivers reassembled datagrams larger than one buffer),
//! and ICMPv6 port unreachable for a closed UDP port. The node on net_tap
//! inside a namespace, the Linux kernel as its peer.

mod common;

use common::*;

/// A dual-stack node (198.18.0.2/24, fd00:198:18::2/64, DAD passed) with a
/// builtin UDP echo server on `udp://[::]/7`; the kernel at 198.18.0.1 and
/// fd00:198:18::1.
fn udp_echo_node() -> (Netns, Node) {
    let t = tag();
    let ns = Netns::new(&t);
    let dev = format!("dpnt{t}");
    let cfg = format!(
        "[dpdk]\nhugepages = \"off\"\n\n[[interface]]\nname = \"tap0\"\nvdev = \"net_tap0,iface={dev}\"\nip4 = \"198.18.0.2/24\"\nip6 = [\"fd00:198:18::2/64\"]\n\n[workers]\nidle = \"sleep\"\n\n[[app]]\nkind = \"echo-server\"\nuri = \"udp://[::]/7\"\n"
    );
    let node = Node::start(&ns, &t, &cfg);
    ns.wait_link(&dev);
    ns.sh(&format!(
        "ip link set {dev} down && ip link set dev {dev} address 02:00:00:00:00:01 && sysctl -qw net.ipv6.conf.{dev}.accept_dad=0 net.ipv6.conf.{dev}.disable_ipv6=0 && ip -6 addr add fd00:198:18::1/64 dev {dev} nodad && ip addr add 198.18.0.1/24 dev {dev} && ip link set {dev} up"
    ));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !node.ctl(&["show", "interface"]).contains("(preferred)") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(node.ctl(&["show", "interface"]).contains("(preferred)"), "{}", node.ctl(&["show", "interface"]));
    (ns, node)
}

/// Datagrams of every size from 1 to 1500 bytes, then in steps to 8000,
/// to the echo server over IPv6 and over IPv4 (one socket each); every
/// one must come back bit-exact (a lost one is sent again, five tries).
const UDP_SIZES: &str = r#"
import os, socket, sys
sizes = list(range(1, 1501)) + list(range(1501, 8000, 61)) + [8000]
def exchange(s, to, data):
    for attempt in range(5):
        s.sendto(data, to)
        try:
            while True:
                got, frm = s.recvfrom(65535)
                if got == data:
                    return
        except socket.timeout:
            continue
    raise SystemExit("no echo for %d bytes after 5 tries" % len(data))
for fam, host in ((socket.AF_INET6, "fd00:198:18::2"), (socket.AF_INET, "198.18.0.2")):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    for n in sizes:
        exchange(s, (host, 7), os.urandom(n))
    print("family=%d echoed=%d" % (fam, len(sizes)))
"#;

/// A kernel counter from /proc/net/snmp (`Ip:` rows) or /proc/net/snmp6.
fn kernel_counter(ns: &Netns, name: &str) -> u64 {
    let snmp = ns.sh("cat /proc/net/snmp /proc/net/snmp6");
    let mut lines = snmp.lines();
    while let Some(l) = lines.next() {
        if let Some(v) = l.strip_prefix(name).and_then(|r| r.split_whitespace().next()) {
            return v.parse().unwrap_or(0);
        }
        if l.starts_with("Ip: Forwarding") {
            let vals = lines.next().unwrap_or("");
            for (k, v) in l.split_whitespace().zip(vals.split_whitespace()) {
                if k == name.trim_start_matches("Ip:") {
                    return v.parse().unwrap_or(0);
                }
            }
        }
    }
    0
}

#[test]
fn udp_echo_of_1_to_8000_bytes_is_fragmented_both_ways_v4_and_v6() {
    if !require_root() {
        return;
    }
    let (ns, node) = udp_echo_node();
    let out = python(&ns, UDP_SIZES, "", "", 600);
    let n = 1500 + (1501..8000).step_by(61).count() + 1;
    assert!(out.contains(&format!("family=10 echoed={n}")), "{out}");
    assert!(out.contains(&format!("family=2 echoed={n}")), "{out}");

    let counters = node.ctl(&["show", "counters"]);
    let errors = node.ctl(&["show", "errors"]);
    let c = |name: &str| counter_line(&counters, name).max(counter_line(&errors, name));
    // Sizes over 1472 (v4) / 1452 (v6) left in fragments built from the fifo.
    let big = (1453..=1500).count() + (1473..=1500).count() + 2 * (n - 1500);
    assert!(c("udp datagrams sent in ip fragments (larger than one buffer)") >= big as u64, "{counters}");
    assert!(c("ip fragments sent (datagrams over the mtu)") >= 2 * big as u64, "{counters}");
    // The kernel's fragments were reassembled; those over one buffer went up from the heap copy.
    assert!(c("reassembly datagrams completed") >= big as u64, "{counters}");
    assert!(c("udp reassembled datagrams larger than one buffer received") >= 150, "{counters}");
    assert_eq!(c("reassembled tcp (not udp, not an echo) datagram larger than one buffer, dropped"), 0, "{errors}");
    assert_eq!(c("udp bad checksum"), 0, "{errors}");
    assert_eq!(c("ip datagram over the mtu not fragmentable, dropped"), 0, "{errors}");
    // The kernel reassembled the node's fragments and fragmented its own.
    for k in ["Ip:ReasmOKs", "Ip6ReasmOKs", "Ip:FragCreates", "Ip6FragCreates"] {
        assert!(kernel_counter(&ns, k) >= 100, "{k}: {}", ns.sh("cat /proc/net/snmp /proc/net/snmp6"));
    }
}

/// A connected UDP socket to a port nobody listens on: the ICMPv6 port
/// unreachable the node sends makes the next receive fail with
/// ECONNREFUSED.
const UDP6_CLOSED: &str = r#"
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(2.0)
s.connect(("fd00:198:18::2", 9))
refused = 0
for i in range(3):
    try:
        s.send(b"anyone?")
        s.recv(100)
    except ConnectionRefusedError:
        refused += 1
    except socket.timeout:
        pass
print("refused=%d" % refused)
"#;

#[test]
fn udp_to_a_closed_port_over_ipv6_gets_port_unreachable() {
    if !require_root() {
        return;
    }
    let (ns, node) = udp_echo_node();
    let out = python(&ns, UDP6_CLOSED, "", "", 60);
    assert!(field_num(&out, "refused") >= 1, "{out}\n{}", node.ctl(&["show", "errors"]));
    assert!(node.counter("icmp6 destination unreachable sent") >= 1, "{}", node.ctl(&["show", "counters"]));
    assert!(node.counter("udp no listener (port unreachable)") >= 1);
}
