//! End to end, IPv6 (issue 12): a node on net_tap inside a namespace, the
//! Linux kernel as its peer, over link-local addresses: ping, and UDP
//! sessions (the builtin echo server on `udp://[::]/7`).

mod common;

use common::*;

fn tap_config(dev: &str) -> String {
    tap_config_with(dev, "")
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
    (node_mac, ll)
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
    let (node_mac, ll) = kernel_ip6_up(&ns, &node, &dev);

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
