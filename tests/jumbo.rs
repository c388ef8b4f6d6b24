//! Jumbo frames: two nodes back to back over memif with `mtu = 9000` move
//! 100 MB of TCP echo bit-exact in 9000-byte frames (MSS 8960, both ends
//! derive it from their MTU), and a node refuses (and counts) frames longer
//! than its own MTU, whatever its peer's.
//!
//! Run: `cargo test --test jumbo -- --test-threads=1` (as root).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

/// A memif node's config: `role` on `sock`, address `ip`, worker on `core`,
/// IP MTU `mtu` (none: the default), extra sections `extra`.
fn memif_cfg(role: &str, sock: &str, ip: &str, core: u32, mtu: Option<u16>, extra: &str) -> String {
    let mtu = mtu.map(|m| format!("mtu = {m}\n")).unwrap_or_default();
    format!(
        "[dpdk]\nhugepages = \"auto\"\nmbufs = 8191\n\n[[interface]]\nname = \"memif0\"\n\
         vdev = \"net_memif0,role={role},socket={sock},socket-abstract=no,id=0\"\nip4 = \"{ip}\"\n{mtu}\n\
         [workers]\ncores = [{core}]\nidle = \"sleep\"\n\n{extra}"
    )
}

/// Wait (bounded) until `node`'s memif link is up.
fn wait_up(a: &Node, b: &Node) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !a.ctl(&["show", "interface"]).contains(" up ") {
        assert!(Instant::now() < deadline, "memif never came up:\n{}\n{}", a.log(), b.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Frames in capture `file` that match tshark display filter `filter`.
fn tshark_count(file: &Path, filter: &str) -> usize {
    sh(&format!("tshark -n -r {} -Y '{filter}' -T fields -e frame.len 2>/dev/null", file.display())).lines().count()
}

#[test]
fn two_nodes_at_mtu_9000_echo_100_mb_bit_exact_in_jumbo_frames() {
    if !require_root() {
        return;
    }
    let t = tag();
    let ns = Netns::new(&t);
    let sock = format!("/tmp/dpnt-{t}-jumbo.sock");
    let _ = std::fs::remove_file(&sock);
    let srv = "[[app]]\nkind = \"echo-server\"\nuri = \"tcp://0.0.0.0/7\"\n";
    let a = Node::start(&ns, &format!("{t}a"), &memif_cfg("server", &sock, "198.18.1.1/24", 0, Some(9000), srv));
    let b = Node::start(&ns, &format!("{t}b"), &memif_cfg("client", &sock, "198.18.1.2/24", 1, Some(9000), ""));
    wait_up(&a, &b);
    assert!(b.ctl(&["show", "interface"]).contains("mtu 9000"), "{}", b.ctl(&["show", "interface"]));

    // The echoed bytes come back as sent, 100 MB of them.
    let out = b.ctl(&["test", "echo", "client", "uri", "tcp://198.18.1.1/7", "bytes", "100m", "timeout", "600"]);
    assert_eq!(after(&out, "completed"), 1, "{out}\n{}\n{}", a.log(), b.log());
    assert_eq!(after(&out, "mismatched"), 0, "{out}");
    assert_eq!(after(&out, "received"), 100 << 20, "{out}");

    // The segments were jumbo: a second, short exchange under `pcap trace
    // tx` has full-size frames (Ethernet + 9000) and nothing longer.
    let file = std::path::PathBuf::from(format!("/tmp/dpnt-{t}-jumbo.pcapng"));
    let f = file.display().to_string();
    b.ctl(&["pcap", "trace", "tx", "interface", "memif0", "max", "2000", "file", &f]);
    let out = b.ctl(&["test", "echo", "client", "uri", "tcp://198.18.1.1/7", "bytes", "2m", "timeout", "120"]);
    assert_eq!(after(&out, "mismatched"), 0, "{out}");
    b.ctl(&["pcap", "trace", "off"]);
    // (Full segments carry 8960 bytes less the TCP options: 9014-byte frames.)
    let big = tshark_count(&file, "frame.len > 8900 && tcp.len > 8000");
    let over = tshark_count(&file, "frame.len > 9014");
    let syn = sh(&format!("tshark -n -r {f} -Y 'tcp.flags.syn == 1' -T fields -e tcp.options.mss_val 2>/dev/null"));
    let _ = std::fs::remove_file(&file);
    assert!(big >= 50, "{big} jumbo segments sent");
    assert_eq!(over, 0);
    assert_eq!(syn.trim(), "8960", "the SYN advertises MTU - 40");
    // And the interface counters agree: most bytes went in big frames.
    let js: serde_json::Value = serde_json::from_str(&b.ctl(&["--json", "show", "interface"])).unwrap();
    let (bytes, pkts) = (js[0]["tx_bytes"].as_u64().unwrap(), js[0]["tx_packets"].as_u64().unwrap());
    assert!(pkts > 0 && bytes / pkts > 3000, "{bytes} bytes in {pkts} frames");
    let _ = std::fs::remove_file(&sock);
}

#[test]
fn a_frame_over_the_mtu_is_refused_and_counted_and_tcp_takes_the_smaller_mss() {
    if !require_root() {
        return;
    }
    let t = tag();
    let ns = Netns::new(&t);
    let sock = format!("/tmp/dpnt-{t}-jmtu.sock");
    let _ = std::fs::remove_file(&sock);
    let srv = "[[app]]\nkind = \"echo-server\"\nuri = \"tcp://0.0.0.0/7\"\n";
    // a runs jumbo frames, b the default 1500.
    let a = Node::start(&ns, &format!("{t}a"), &memif_cfg("server", &sock, "198.18.1.1/24", 0, Some(9000), ""));
    let b = Node::start(&ns, &format!("{t}b"), &memif_cfg("client", &sock, "198.18.1.2/24", 1, None, srv));
    wait_up(&a, &b);
    assert!(b.ctl(&["show", "interface"]).contains("mtu 1500"));

    // A 1500-byte datagram fits b's MTU; a 1600-byte one (a sends it whole,
    // its MTU is 9000) does not: b drops each and counts it, answers none.
    let out = a.ctl(&["ping", "198.18.1.2", "count", "2", "interval", "0.1", "size", "1472"]);
    assert!(out.contains("2 received"), "{out}");
    assert_eq!(b.counter("ethernet frame longer than the mtu"), 0);
    let (_, out) = a.ctl_any(&["ping", "198.18.1.2", "count", "3", "interval", "0.1", "size", "1572"]);
    assert!(out.contains("3 packets transmitted, 0 received"), "{out}");
    let dropped = b.counter("ethernet frame longer than the mtu");
    assert_eq!(dropped, 3, "{}", b.ctl(&["show", "counters"]));

    // TCP between them: each end advertises its own MTU - 40, so a sends
    // b 1460-byte segments and the echo is intact.
    let out = a.ctl(&["test", "echo", "client", "uri", "tcp://198.18.1.2/7", "bytes", "10m", "timeout", "300"]);
    assert_eq!(after(&out, "mismatched"), 0, "{out}\n{}", b.log());
    assert_eq!(after(&out, "received"), 10 << 20, "{out}");
    let js: serde_json::Value = serde_json::from_str(&b.ctl(&["--json", "show", "interface"])).unwrap();
    assert_eq!(js[0]["rx_errors"].as_u64(), Some(0), "{js}");
    let _ = std::fs::remove_file(&sock);
}
