//! End to end, packet capture (`pcap trace`, issue 14 item 1): a node on
//! net_tap in a namespace the test creates, the Linux kernel as the peer,
//! and tshark reading the pcapng file the node wrote.
//!
//! - rx + tx: a kernel `ping` (echo requests in, replies out) and curl
//!   against the builtin HTTP server (SYN in, SYN-ACK out, the GET in, the
//!   200 out) are decoded by tshark, with their direction (`epb_flags`) and
//!   the interface's name, and the counts the node reported match the file.
//! - drop: frames crafted with scapy (a bad IPv4 header checksum, a bad UDP
//!   checksum, a datagram to a port nobody listens on) are in the file with
//!   their drop reason as the packet comment; a good datagram is not.
//! - IPv6 drops (scapy: a bad ICMPv6 checksum, a payload length past the
//!   frame, a destination not ours) and TCP refusals (the kernel's SYN to a
//!   closed port, a stray ACK to a listener; both answered with a reset) carry
//!   their reason too.
//! - A capture still on when the node stops is written; tshark reads it.
//! - Every word of the command is checked (bad ones are errors that say why).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

/// tshark's rows for `filter` in `file`: direction (1 in, 2 out), interface
/// name and packet comment, tab-separated.
fn tshark(file: &Path, filter: &str) -> Vec<String> {
    let out = sh(&format!(
        "tshark -n -r {} -Y '{filter}' -T fields -E separator=/t -e frame.packet_flags_direction \
         -e frame.interface_name -e frame.comment 2>/dev/null",
        file.display()
    ));
    // tshark prints the direction as a hex flags word (0x00000001).
    out.lines()
        .map(|l| {
            let (dir, rest) = l.split_once('\t').unwrap_or((l, ""));
            let dir = u32::from_str_radix(dir.trim_start_matches("0x"), 16).map_or(dir.to_string(), |d| d.to_string());
            format!("{dir}\t{rest}")
        })
        .collect()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `wrote N frames (rx A, tx B, drop C) to PATH` → (N, A, B, C).
fn wrote(text: &str) -> (u64, u64, u64, u64) {
    let num = |after: &str| -> u64 {
        let i = text.find(after).unwrap_or_else(|| panic!("no {after:?} in {text}")) + after.len();
        text[i..].split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
    };
    (num("wrote "), num("(rx "), num("tx "), num("drop "))
}

#[test]
fn a_ping_and_an_http_exchange_are_captured_and_decoded_by_tshark() {
    if !require_root() {
        return;
    }
    let tn = tap_node("[[app]]\nkind = \"http-server\"\nuri = \"tcp://0.0.0.0/80\"\n");
    let (node, ns) = (&tn.node, &tn.ns);
    let file = node.dir.join("trace.pcapng");
    let f = file.to_str().unwrap();

    for (words, want) in [
        (&["pcap", "trace", "off"][..], "pcap trace: not on"),
        (&["pcap", "trace"][..], "say what to capture"),
        (&["pcap", "trace", "rx", "max", "0"][..], "max: 0 is outside 1..=1000000"),
        (&["pcap", "trace", "rx", "snaplen", "70000"][..], "snaplen"),
        (&["pcap", "trace", "rx", "interface", "eth9"][..], "no interface \"eth9\""),
        (&["pcap", "trace", "rx", "sideways"][..], "unknown word \"sideways\""),
        (&["pcap", "trace", "rx", "file", "/nonexistent/dir/x.pcapng"][..], "cannot create"),
        (&["pcap", "trace", "rx", "max", "1000000", "snaplen", "65535"][..], "lower max or snaplen"),
    ] {
        let (ok, e) = node.ctl_any(words);
        assert!(!ok && e.contains(want), "{words:?}: {e}");
    }
    assert!(node.ctl(&["pcap", "trace", "status"]).contains("pcap trace: off"));

    let on = node.ctl(&["pcap", "trace", "rx", "tx", "interface", "tap0", "max", "1000", "file", f]);
    assert!(on.contains("pcap trace: on (rx tx), interface tap0, max 1000, snaplen 2048"), "{on}");
    let (ok, e) = node.ctl_any(&["pcap", "trace", "drop"]);
    assert!(!ok && e.contains("already on"), "{e}");

    ns.sh("ping -c 3 -i 0.2 -W 5 198.18.0.2");
    let page = ns.sh("curl -s -m 10 http://198.18.0.2/");
    assert!(page.contains("<h1>dpnode</h1>"), "{page}");

    let status = node.ctl(&["pcap", "trace", "status"]);
    assert!(status.contains("pcap trace: on (rx tx)") && status.contains("worker 0: rx "), "{status}");
    let js: serde_json::Value = serde_json::from_str(&node.ctl(&["--json", "pcap", "trace", "status"])).unwrap();
    assert_eq!(js["on"], true, "{js}");
    assert!(js["workers"][0]["rx"].as_u64() >= Some(3) && js["workers"][0]["tx"].as_u64() >= Some(3), "{js}");

    let off = node.ctl(&["pcap", "trace", "off"]);
    let (n, rx, tx, drop) = wrote(&off);
    assert!(n == rx + tx && drop == 0 && rx >= 6 && tx >= 6, "{off}");
    assert!(node.ctl(&["pcap", "trace", "status"]).contains("last: wrote"));

    // Every frame, by tshark: the count the node gave, all on tap0.
    let all = tshark(&file, "frame");
    assert_eq!(all.len() as u64, n, "{all:?}");
    assert!(all.iter().all(|r| r.split('\t').nth(1) == Some("tap0")), "{all:?}");
    let dirs = |filter: &str| -> Vec<String> {
        tshark(&file, filter).iter().map(|r| r.split('\t').next().unwrap_or("").to_string()).collect()
    };
    let ins = |filter: &str| dirs(filter).iter().filter(|d| *d == "1").count();
    let outs = |filter: &str| dirs(filter).iter().filter(|d| *d == "2").count();
    // ping: three requests in, three replies out.
    assert_eq!((ins("icmp.type == 8"), outs("icmp.type == 8")), (3, 0));
    assert_eq!((outs("icmp.type == 0"), ins("icmp.type == 0")), (3, 0));
    // TCP handshake with the HTTP server, then the request and the answer.
    assert_eq!(ins("tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.dstport == 80"), 1);
    assert_eq!(outs("tcp.flags.syn == 1 && tcp.flags.ack == 1 && tcp.srcport == 80"), 1);
    assert!(ins("tcp.flags.syn == 0 && tcp.flags.ack == 1 && tcp.dstport == 80 && tcp.len == 0") >= 1);
    assert_eq!(ins("http.request.method == \"GET\""), 1);
    assert_eq!(outs("http.response.code == 200"), 1);
    assert_eq!(outs("http.request"), 0);
}

/// Sends, from the kernel's side of the tap, a frame with a bad IPv4 header
/// checksum, one with a bad UDP checksum, one to a closed UDP port and a
/// good datagram to the echo server.
const CRAFTED: &str = r#"
import sys
from scapy.all import Ether, IP, UDP, Raw, sendp, conf
conf.verb = 0
dev, node_mac = sys.argv[1], sys.argv[2]
me = open(f"/sys/class/net/{dev}/address").read().strip()
e = Ether(src=me, dst=node_mac)
ip = dict(src="198.18.0.1", dst="198.18.0.2")
good = IP(**ip) / UDP(sport=4001, dport=7) / Raw(b"bad ip checksum")
bad_ip = IP(bytes(good))
bad_ip.chksum ^= 0x5a5a
good_udp = IP(**ip) / UDP(sport=4002, dport=7) / Raw(b"bad udp checksum")
bad_udp = IP(bytes(good_udp))
bad_udp[UDP].chksum ^= 0x5a5a
sendp([e / bad_ip, e / bad_udp, e / IP(**ip) / UDP(sport=4003, dport=9) / Raw(b"nobody listens"),
       e / IP(**ip) / UDP(sport=4004, dport=7) / Raw(b"fine")], iface=dev)
"#;

#[test]
fn dropped_frames_carry_their_drop_reason_as_a_comment() {
    if !require_root() {
        return;
    }
    let tn = tap_node("[[app]]\nkind = \"echo-server\"\nuri = \"udp://0.0.0.0/7\"\n");
    let node = &tn.node;
    let file = node.dir.join("drops.pcapng");
    let node_mac =
        node.ctl(&["show", "interface"]).lines().nth(1).unwrap().split_whitespace().nth(3).unwrap().to_string();
    node.ctl(&["pcap", "trace", "drop", "snaplen", "64", "file", file.to_str().unwrap()]);
    let script = node.dir.join("crafted.py");
    std::fs::write(&script, CRAFTED).unwrap();
    tn.ns.sh(&format!("timeout 120 /usr/bin/python3 {} {} {node_mac}", script.display(), tn.dev));
    wait_for("the crafted frames to be counted", || {
        node.counter("ip4 bad header checksum") >= 1
            && node.counter("udp bad checksum") >= 1
            && node.counter("udp no listener (port unreachable)") >= 1
    });
    let off = node.ctl(&["pcap", "trace", "off"]);
    let (n, rx, tx, drop) = wrote(&off);
    assert!(n == drop && rx == 0 && tx == 0 && drop >= 3, "{off}");

    let comment = |filter: &str| -> Vec<String> {
        tshark(&file, filter).iter().map(|r| r.split('\t').nth(2).unwrap_or("").to_string()).collect()
    };
    assert_eq!(comment("udp.srcport == 4001"), ["dropped: ip4 bad header checksum"]);
    assert_eq!(comment("udp.srcport == 4002"), ["dropped: udp bad checksum"]);
    assert_eq!(comment("udp.srcport == 4003"), ["dropped: udp no listener (port unreachable)"]);
    assert!(comment("udp.srcport == 4004").is_empty(), "the good datagram was not dropped");
    // Every frame in a drop capture says why, and came in; snaplen cut none of these short.
    let all = tshark(&file, "frame");
    assert!(all.iter().all(|r| r.starts_with("1\ttap0\tdropped: ")), "{all:?}");
    assert!(tshark(&file, "frame.cap_len > 64").is_empty());
}

/// From the kernel's side: IPv6 frames the node drops (an ICMPv6 echo with a
/// bad checksum, a packet whose payload length runs past the frame, a
/// datagram to an address that is not the node's) and an ACK out of nowhere
/// to the TCP listener; a SYN to a closed port comes from the kernel's own
/// `connect`.
const CRAFTED6: &str = r#"
import sys
from scapy.all import Ether, IP, IPv6, ICMPv6EchoRequest, TCP, UDP, Raw, sendp, conf
conf.verb = 0
dev, node_mac = sys.argv[1], sys.argv[2]
me = open(f"/sys/class/net/{dev}/address").read().strip()
group = Ether(src=me, dst="33:33:00:00:00:01")
bad_csum = IPv6(src="fe80::4242", dst="ff02::1") / ICMPv6EchoRequest(id=0x4242, data=b"bad icmp6 checksum")
bad_csum = IPv6(bytes(bad_csum))
bad_csum[ICMPv6EchoRequest].cksum ^= 0x5a5a
short = IPv6(src="fe80::4242", dst="ff02::1", plen=200) / ICMPv6EchoRequest(id=0x4343)
other = IPv6(src="fe80::4242", dst="2001:db8::99") / UDP(sport=4011, dport=7) / Raw(b"not for the node")
ack = IP(src="198.18.0.1", dst="198.18.0.2") / TCP(sport=4012, dport=7, flags="A", seq=1, ack=12345)
sendp([group / bad_csum, group / short, Ether(src=me, dst=node_mac) / other, Ether(src=me, dst=node_mac) / ack],
      iface=dev)
"#;

#[test]
fn ipv6_drops_and_tcp_refusals_are_captured_with_their_reason() {
    if !require_root() {
        return;
    }
    let tn = tap_node("[[app]]\nkind = \"echo-server\"\nuri = \"tcp://0.0.0.0/7\"\n");
    let node = &tn.node;
    let file = node.dir.join("drops6.pcapng");
    let node_mac =
        node.ctl(&["show", "interface"]).lines().nth(1).unwrap().split_whitespace().nth(3).unwrap().to_string();
    node.ctl(&["pcap", "trace", "drop", "file", file.to_str().unwrap()]);
    // A SYN to a closed port: refused with a reset (the kernel's connect fails).
    let refused = tn
        .ns
        .sh_any("timeout 20 /usr/bin/python3 -c \"import socket; socket.create_connection(('198.18.0.2', 9), 5)\"");
    let said = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(!refused.status.success() && said.contains("ConnectionRefused"), "{said}");
    let script = node.dir.join("crafted6.py");
    std::fs::write(&script, CRAFTED6).unwrap();
    tn.ns.sh(&format!("timeout 120 /usr/bin/python3 {} {} {node_mac}", script.display(), tn.dev));
    wait_for("the crafted frames to be counted", || {
        node.counter("icmp6 bad checksum") >= 1
            && node.counter("ip6 truncated (shorter than header or payload length)") >= 1
            && node.counter("ip6 destination not local") >= 1
            && node.counter("tcp no listener (reset)") >= 1
    });
    let off = node.ctl(&["pcap", "trace", "off"]);
    let (n, _, _, drop) = wrote(&off);
    assert!(n == drop && drop >= 5, "{off}");

    let comment = |filter: &str| -> Vec<String> {
        tshark(&file, filter).iter().map(|r| r.split('\t').nth(2).unwrap_or("").to_string()).collect()
    };
    assert_eq!(comment("icmpv6.echo.identifier == 0x4242"), ["dropped: icmp6 bad checksum"]);
    assert_eq!(comment("ipv6.plen == 200"), ["dropped: ip6 truncated (shorter than header or payload length)"]);
    assert_eq!(comment("udp.srcport == 4011"), ["dropped: ip6 destination not local"]);
    // The kernel's SYN (it may retry none: the reset answers it at once) and the stray ACK.
    let syn = comment("tcp.dstport == 9 && tcp.flags.syn == 1");
    assert!(!syn.is_empty() && syn.iter().all(|c| c == "dropped: tcp no listener (reset)"), "{syn:?}");
    assert_eq!(comment("tcp.srcport == 4012"), ["dropped: tcp ack to a listener (reset)"]);
}

/// A capture still on when the node stops (SIGTERM) is written to its file,
/// which tshark reads: the pings it took are there.
#[test]
fn a_capture_left_on_at_shutdown_is_written_to_its_file() {
    if !require_root() {
        return;
    }
    let mut tn = tap_node("");
    let file = tn.node.dir.join("left-on.pcapng");
    tn.node.ctl(&["pcap", "trace", "rx", "tx", "file", file.to_str().unwrap()]);
    tn.ns.sh("ping -c 3 -i 0.2 -W 5 198.18.0.2");
    assert_eq!(tn.node.stop(), Some(0), "{}", tn.node.log());
    let log = tn.node.log();
    assert!(log.contains("pcap trace on at shutdown: wrote"), "{log}");
    let requests: Vec<String> = tshark(&file, "icmp.type == 8").into_iter().filter(|r| r.starts_with("1\t")).collect();
    let replies: Vec<String> = tshark(&file, "icmp.type == 0").into_iter().filter(|r| r.starts_with("2\t")).collect();
    assert_eq!((requests.len(), replies.len()), (3, 3), "{requests:?} {replies:?}\n{log}");
}
