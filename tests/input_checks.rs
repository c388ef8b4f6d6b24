//! End to end, IPv4 and Ethernet input checks (issue 9, items 5 and 12):
//! frames crafted with python3-scapy in the kernel's namespace, sent on the
//! tap to a node on net_tap, while a sniffer on the same tap records every
//! frame the node sends back. Martian sources and destinations, frames
//! longer than the MTU, VLAN-tagged frames, source-routed and malformed
//! IPv4 options must get no reply, create no session or half-open
//! connection, make the node ARP for nothing, and be counted by cause;
//! well-formed controls sent alongside must be answered.

mod common;

use common::*;

/// Debian's python3 (it has python3-scapy), whatever `python3` is on PATH.
const SCAPY_PYTHON: &str = "/usr/bin/python3";

/// Runs a scapy script in the namespace and returns its stdout.
fn scapy(ns: &Netns, script: &str, args: &str) -> String {
    let path = format!("/tmp/dpnt-scapy-{}.py", tag());
    std::fs::write(&path, script).unwrap();
    let out = ns.sh_any(&format!("timeout 120 {SCAPY_PYTHON} {path} {args}"));
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "scapy failed ({:?}):\n{text}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    text
}

/// Sends every probe (each on its own source port, so a reply names its
/// probe), sniffing the tap meanwhile, then prints one line per frame the
/// node sent: `arp who-has IP`, `reply PROTO SPORT->DPORT to IP`, or `icmp
/// TYPE to IP quoting DPORT`.
const PROBES: &str = r##"
import sys, time
from scapy.all import Ether, Dot1Q, IP, UDP, TCP, ARP, ICMP, Raw, IPOption, sendp, conf
from scapy.utils import checksum
conf.verb = 0
class Sniffer:
    # Frames the kernel receives on the tap (from the node), not the ones
    # it sends: net_tap gives both ends the same MAC, so only the packet
    # type tells them apart.
    def __init__(self, dev):
        import socket, threading
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
        self.sock.bind((dev, 0))
        self.sock.settimeout(0.2)
        self.frames, self.done = [], False
        self.t = threading.Thread(target=self.run)
        self.t.start()
    def run(self):
        import socket
        while not self.done:
            try:
                data, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            if addr[2] != socket.PACKET_OUTGOING:
                self.frames.append(Ether(data))
    def stop(self):
        self.done = True
        self.t.join()
        return self.frames
dev, node_mac = sys.argv[1], sys.argv[2]
me = open(f"/sys/class/net/{dev}/address").read().strip()
NODE = "198.18.0.2"

def eth():
    return Ether(src=me, dst=node_mac)

def raw_ip(src, opts, sport, payload=b"x"):
    # An IPv4 header with these option bytes, built by hand so that scapy
    # does not "fix" malformed options; UDP checksum 0 (none).
    import struct, socket
    assert len(opts) % 4 == 0
    udp = struct.pack("!HHHH", sport, 7, 8 + len(payload), 0) + payload
    ihl = 5 + len(opts) // 4
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + len(udp), 1, 0x4000, 64, 17, 0,
                      socket.inet_aton(src), socket.inet_aton(NODE)) + opts
    c = checksum(hdr)
    hdr = hdr[:10] + struct.pack("!H", c) + hdr[12:]
    return bytes(hdr + udp)

probes = []   # (name, frame, expect_reply)
port = 40000
def add(name, frame, expect):
    probes.append((name, frame, expect))

martian_sources = {
    "limited-broadcast": "255.255.255.255", "subnet-broadcast": "198.18.0.255",
    "multicast": "224.0.0.5", "loopback": "127.0.0.1", "this-network": "0.0.0.0",
    "reserved": "240.0.0.1", "land": NODE,
}
sport = {}
for name, src in martian_sources.items():
    port += 1; sport["udp " + name] = port
    add("udp " + name, eth() / IP(src=src, dst=NODE) / UDP(sport=port, dport=7) / Raw(b"martian"), False)
    port += 1; sport["tcp " + name] = port
    add("tcp " + name, eth() / IP(src=src, dst=NODE) / TCP(sport=port, dport=7, flags="S", seq=1000), False)
    port += 1; sport["icmp " + name] = port
    add("icmp " + name, eth() / IP(src=src, dst=NODE) / ICMP(id=port, seq=1), False)
# Martian destinations in frames unicast to the node's MAC.
for name, dst in {"dst-loopback": "127.0.0.1", "dst-this-network": "0.0.0.0", "dst-reserved": "250.1.2.3"}.items():
    port += 1; sport[name] = port
    add(name, eth() / IP(src="198.18.0.1", dst=dst) / UDP(sport=port, dport=7) / Raw(b"martian"), False)
# Frames longer than the MTU (1500): 1515 and 2048 bytes; 1514 is the control.
for size, expect in [(1515, False), (2048, False), (1514, True)]:
    port += 1; sport[f"len {size}"] = port
    pad = size - 14 - 20 - 8
    add(f"len {size}", eth() / IP(src="198.18.0.1", dst=NODE, flags="DF") / UDP(sport=port, dport=7) / Raw(b"L" * pad), expect)
# 802.1Q- and 802.1ad-tagged frames carrying a good echo request.
port += 1; sport["vlan"] = port
add("vlan", eth() / Dot1Q(vlan=5) / IP(src="198.18.0.1", dst=NODE) / UDP(sport=port, dport=7) / Raw(b"v"), False)
port += 1; sport["qinq"] = port
add("qinq", Ether(src=me, dst=node_mac, type=0x88a8) / Dot1Q(vlan=6) / IP(src="198.18.0.1", dst=NODE) / UDP(sport=port, dport=7) / Raw(b"q"), False)
# IPv4 options: source routes, malformed lengths, and a good one as control.
opts = {
    "lsrr": (bytes([131, 7, 4, 198, 18, 0, 9, 1]), False),
    "ssrr": (bytes([137, 7, 4, 198, 18, 0, 9, 1]), False),
    "opt-len-0": (bytes([148, 0, 0, 0]), False),
    "opt-len-past-end": (bytes([148, 9, 0, 0]), False),
    "opt-router-alert-3": (bytes([1, 148, 3, 0]), False),
    "opt-good": (bytes([1, 148, 4, 0, 0, 0, 0, 0]), True),
}
for name, (o, expect) in opts.items():
    port += 1; sport[name] = port
    add(name, Ether(src=me, dst=node_mac, type=0x0800) / Raw(raw_ip("198.18.0.1", o, port)), expect)
# Plain controls: a UDP echo and a TCP SYN from the kernel's own address.
port += 1; sport["udp control"] = port
add("udp control", eth() / IP(src="198.18.0.1", dst=NODE) / UDP(sport=port, dport=7) / Raw(b"ok"), True)
port += 1; sport["tcp control"] = port
add("tcp control", eth() / IP(src="198.18.0.1", dst=NODE) / TCP(sport=port, dport=7, flags="S", seq=1000), True)

by_port = {p: n for n, p in sport.items()}
sn = Sniffer(dev)
time.sleep(0.5)
for name, frame, _ in probes:
    sendp(frame, iface=dev)
    time.sleep(0.01)
time.sleep(2.0)
got = sn.stop()
for p in got:
    if p.haslayer(ARP):
        a = p[ARP]
        print(f"arp op={a.op} who-has {a.pdst} tell {a.psrc}")
    elif p.haslayer(IP):
        ip = p[IP]
        if p.haslayer(ICMP):
            t = p[ICMP].type
            print(f"icmp type={t} to {ip.dst} probe={by_port.get(p[ICMP].id, '?') if t == 0 else '?'}")
        elif p.haslayer(UDP):
            print(f"reply udp to {ip.dst} probe={by_port.get(p[UDP].dport, '?')}")
        elif p.haslayer(TCP):
            print(f"reply tcp flags={p[TCP].flags} to {ip.dst} probe={by_port.get(p[TCP].dport, '?')}")
for name, _, expect in probes:
    print(f"probe {name.replace(' ', '_')} expect={int(expect)}")
"##;

#[test]
fn martians_oversize_vlan_and_bad_options_are_dropped_counted_and_never_answered() {
    if !require_root() {
        return;
    }
    let t = tap_node(
        "[workers]\nidle = \"sleep\"\n\n[[app]]\nkind = \"echo-server\"\nuri = \"udp://0.0.0.0/7\"\n\n\
         [[app]]\nkind = \"echo-server\"\nuri = \"tcp://0.0.0.0/7\"\n",
    );
    let node_mac =
        t.node.ctl(&["show", "interface"]).lines().nth(1).unwrap().split_whitespace().nth(3).unwrap().to_string();
    // The kernel side must be able to send frames longer than the node's MTU.
    t.ns.sh(&format!("ip link set {} mtu 4000", t.dev));
    let out = scapy(&t.ns, PROBES, &format!("{} {node_mac}", t.dev));
    let probes: Vec<(String, bool)> = out
        .lines()
        .filter_map(|l| l.strip_prefix("probe "))
        .map(|l| {
            let (name, expect) = l.split_once(' ').unwrap();
            (name.replace('_', " "), expect == "expect=1")
        })
        .collect();
    assert!(probes.len() > 30, "{out}");
    let replies: Vec<&str> = out.lines().filter(|l| !l.starts_with("probe ") && !l.starts_with('#')).collect();
    let answered = |name: &str| replies.iter().any(|l| l.ends_with(&format!("probe={name}")));
    for (name, expect) in &probes {
        assert_eq!(
            answered(name),
            *expect,
            "probe {name:?}: expected reply {expect}; the node sent:\n{}\n{}",
            replies.join("\n"),
            t.node.ctl(&["show", "errors"])
        );
    }
    // The node resolved nobody but the kernel's address (for the controls);
    // a gratuitous ARP for its own address may go out at any time.
    for l in replies.iter().filter(|l| l.starts_with("arp ")) {
        let garp = l.contains("who-has 198.18.0.2 tell 198.18.0.2");
        assert!(garp || l.contains("who-has 198.18.0.1 "), "the node ARPed for: {l}\n{}", replies.join("\n"));
    }
    // Nothing from any martian reached anything else: only replies to the kernel.
    for l in replies.iter().filter(|l| !l.starts_with("arp ")) {
        assert!(l.contains("to 198.18.0.1 "), "a reply went to a martian: {l}");
    }

    // No session from a martian source; no half-open TCP connection.
    let sessions = t.node.ctl(&["show", "session"]);
    for bad in ["255.255.255.255", "198.18.0.255", "224.0.0.5", "127.0.0.1", "0.0.0.0:", "240.0.0.1", "198.18.0.2:4"] {
        assert!(!sessions.contains(bad), "session from {bad}:\n{sessions}");
    }
    let tcp = t.node.ctl(&["show", "tcp", "stats"]);
    assert!(!tcp.contains("SYN-RECEIVED"), "half-open connection left:\n{tcp}");

    let errors = t.node.ctl(&["show", "errors"]);
    let c = |name: &str| counter_line(&errors, name);
    // 3 protocols per martian source class; the limited and subnet
    // broadcasts share their counter.
    assert_eq!(c("ip4 martian source broadcast (limited or subnet)"), 6, "{errors}");
    assert_eq!(c("ip4 martian source multicast"), 3, "{errors}");
    assert_eq!(c("ip4 martian source loopback"), 3, "{errors}");
    assert_eq!(c("ip4 martian source 0.0.0.0/8"), 3, "{errors}");
    assert_eq!(c("ip4 martian source 240.0.0.0/4"), 3, "{errors}");
    assert_eq!(c("ip4 martian source our own address (land)"), 3, "{errors}");
    assert_eq!(c("ip4 martian destination (0.0.0.0/8, loopback, 240.0.0.0/4)"), 3, "{errors}");
    assert_eq!(c("ethernet frame longer than the mtu"), 2, "{errors}");
    assert_eq!(c("ethernet vlan-tagged frame (802.1Q/802.1ad not supported)"), 2, "{errors}");
    assert_eq!(c("ip4 source route option (lsrr/ssrr) dropped"), 2, "{errors}");
    assert_eq!(c("ip4 malformed options"), 3, "{errors}");
    assert_eq!(c("ethernet unknown ethertype"), 0, "{errors}");
    assert_eq!(c("ip4 output to a martian, broadcast or own next hop, dropped"), 0, "{errors}");
}

/// ARP: requests from martian senders (or claiming the node's address) are
/// neither answered nor learnt; an RFC 5227 probe (sender 0.0.0.0) is
/// answered but not learnt.
const ARP_PROBES: &str = r#"
import sys, time
from scapy.all import Ether, ARP, sendp, conf
conf.verb = 0
class Sniffer:
    # Frames the kernel receives on the tap (from the node), not the ones
    # it sends: net_tap gives both ends the same MAC, so only the packet
    # type tells them apart.
    def __init__(self, dev):
        import socket, threading
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
        self.sock.bind((dev, 0))
        self.sock.settimeout(0.2)
        self.frames, self.done = [], False
        self.t = threading.Thread(target=self.run)
        self.t.start()
    def run(self):
        import socket
        while not self.done:
            try:
                data, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            if addr[2] != socket.PACKET_OUTGOING:
                self.frames.append(Ether(data))
    def stop(self):
        self.done = True
        self.t.join()
        return self.frames
dev, node_mac = sys.argv[1], sys.argv[2]
me = open(f"/sys/class/net/{dev}/address").read().strip()
sn = Sniffer(dev)
time.sleep(0.5)
for src in ["255.255.255.255", "198.18.0.255", "224.0.0.9", "127.0.0.1", "240.0.0.1", "198.18.0.2", "0.0.0.0"]:
    sendp(Ether(src=me, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=me, psrc=src, pdst="198.18.0.2"), iface=dev)
    time.sleep(0.01)
time.sleep(1.5)
for p in sn.stop():
    if p.haslayer(ARP):
        print(f"arp op={p[ARP].op} to {p[ARP].pdst}")
"#;

#[test]
fn arp_from_martian_senders_is_ignored_and_probes_are_answered() {
    if !require_root() {
        return;
    }
    let t = tap_node("[workers]\nidle = \"sleep\"\n");
    let node_mac =
        t.node.ctl(&["show", "interface"]).lines().nth(1).unwrap().split_whitespace().nth(3).unwrap().to_string();
    let out = scapy(&t.ns, ARP_PROBES, &format!("{} {node_mac}", t.dev));
    // (A gratuitous ARP, "op=1 to 198.18.0.2", may go out at any time.)
    let lines: Vec<&str> = out.lines().filter(|l| *l != "arp op=1 to 198.18.0.2").collect();
    assert_eq!(lines, ["arp op=2 to 0.0.0.0"], "only the probe gets a reply:\n{out}");
    let errors = t.node.ctl(&["show", "errors"]);
    assert_eq!(counter_line(&errors, "arp sender martian or our own address, ignored"), 6, "{errors}");
    let arp = t.node.ctl(&["show", "ip", "arp"]);
    for bad in ["255.255.255.255", "198.18.0.255", "224.0.0.9", "127.0.0.1", "240.0.0.1", "0.0.0.0"] {
        assert!(!arp.contains(bad), "learnt {bad}:\n{arp}");
    }
}

/// TCP segments for the node count as "ip4 delivered locally", like UDP.
#[test]
fn tcp_counts_as_delivered_locally() {
    if !require_root() {
        return;
    }
    let t = tap_node("[workers]\nidle = \"sleep\"\n\n[[app]]\nkind = \"echo-server\"\nuri = \"tcp://0.0.0.0/7\"\n");
    t.node.ctl(&["clear", "errors"]);
    let out = t.ns.sh("printf hello | timeout 10 socat -t 2 - TCP:198.18.0.2:7");
    assert_eq!(out, "hello");
    let n = t.node.counter("ip4 delivered locally");
    // SYN, ACK, data, FIN and the last ACK at least.
    assert!(n >= 4, "ip4 delivered locally {n}:\n{}", t.node.ctl(&["show", "counters"]));
}
