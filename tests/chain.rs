//! Chained mbufs: two nodes over memif at MTU 9000 with standard 2 KB
//! mbufs (the default `[dpdk] mbuf_data_room`) move 100 MB of TCP echo
//! bit-exact (both ways: the echo brings every byte back) in 9014-byte
//! frames, each received and sent as a chain of mbufs (`rx chained`, `tx
//! chained`); with `mbuf_data_room = "frame"` the same transfer uses no
//! chains at all; over IPv6 (whose output takes no chains) TCP sends
//! segments one buffer holds, also bit-exact.
//!
//! Run: `cargo test --test chain -- --test-threads=1` (as root).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

/// A memif node's config at MTU 9000: `role` on `sock`, address `ip`,
/// worker on `core`, `[dpdk]` extra lines `dpdk`, extra sections `extra`.
fn cfg(role: &str, sock: &str, ip: &str, core: u32, dpdk: &str, extra: &str) -> String {
    format!(
        "[dpdk]\nhugepages = \"auto\"\nmbufs = 8191\n{dpdk}\n[[interface]]\nname = \"memif0\"\n\
         vdev = \"net_memif0,role={role},socket={sock},socket-abstract=no,id=0\"\nip4 = \"{ip}\"\nmtu = 9000\n\n\
         [workers]\ncores = [{core}]\nidle = \"sleep\"\n\n{extra}"
    )
}

fn wait_up(a: &Node, b: &Node) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !a.ctl(&["show", "interface"]).contains(" up ") {
        assert!(Instant::now() < deadline, "memif never came up:\n{}\n{}", a.log(), b.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn tshark_count(file: &Path, filter: &str) -> usize {
    sh(&format!("tshark -n -r {} -Y '{filter}' -T fields -e frame.len 2>/dev/null", file.display())).lines().count()
}

const SRV: &str = "[[app]]\nkind = \"echo-server\"\nuri = \"tcp://0.0.0.0/7\"\n";

#[test]
fn two_nodes_with_2k_mbufs_echo_100_mb_bit_exact_in_chained_jumbo_frames() {
    if !require_root() {
        return;
    }
    let t = tag();
    let ns = Netns::new(&t);
    let sock = format!("/tmp/dpnt-{t}-chain.sock");
    let _ = std::fs::remove_file(&sock);
    let a = Node::start(&ns, &format!("{t}a"), &cfg("server", &sock, "198.18.1.1/24", 0, "", SRV));
    let b = Node::start(&ns, &format!("{t}b"), &cfg("client", &sock, "198.18.1.2/24", 1, "", ""));
    wait_up(&a, &b);
    assert!(a.log().contains("of 2176 bytes"), "{}", a.log());

    let out = b.ctl(&["test", "echo", "client", "uri", "tcp://198.18.1.1/7", "bytes", "100m", "timeout", "600"]);
    assert_eq!(after(&out, "completed"), 1, "{out}\n{}\n{}", a.log(), b.log());
    assert_eq!(after(&out, "mismatched"), 0, "{out}");
    assert_eq!(after(&out, "received"), 100 << 20, "{out}");

    // 100 MB in about 8.9 KB segments is over 11,000 segments each way, and
    // each one is longer than one 2 KB mbuf: both ends chained them.
    for (n, name) in [(&a, "a"), (&b, "b")] {
        let (rx, tx) = (n.counter("rx chained"), n.counter("tx chained"));
        assert!(
            rx > 10_000 && tx > 10_000,
            "{name}: rx chained {rx}, tx chained {tx}\n{}",
            n.ctl(&["show", "counters"])
        );
        assert_eq!(n.counter("chained packet not taken (headers past the first segment, over 16 segments, not ipv4 tcp, or a fragment)"), 0);
    }

    // On the wire: full-size frames (Ethernet + 9000), whole in the capture.
    let file = std::path::PathBuf::from(format!("/tmp/dpnt-{t}-chain.pcapng"));
    let f = file.display().to_string();
    b.ctl(&["pcap", "trace", "tx", "rx", "interface", "memif0", "max", "2000", "snaplen", "9100", "file", &f]);
    let out = b.ctl(&["test", "echo", "client", "uri", "tcp://198.18.1.1/7", "bytes", "2m", "timeout", "120"]);
    assert_eq!(after(&out, "mismatched"), 0, "{out}");
    b.ctl(&["pcap", "trace", "off"]);
    let full = tshark_count(&file, "frame.len == 9014 && frame.cap_len == 9014 && tcp.len > 8900");
    let over = tshark_count(&file, "frame.len > 9014");
    // tshark checks the TCP checksum of every captured frame it can.
    let bad = tshark_count(&file, "tcp.checksum.status == \"Bad\"");
    let _ = std::fs::remove_file(&file);
    assert!(full >= 100, "{full} full 9014-byte frames");
    assert_eq!((over, bad), (0, 0));
    let _ = std::fs::remove_file(&sock);
}

#[test]
fn with_whole_frame_mbufs_the_same_transfer_uses_no_chains() {
    if !require_root() {
        return;
    }
    let t = tag();
    let ns = Netns::new(&t);
    let sock = format!("/tmp/dpnt-{t}-nochain.sock");
    let _ = std::fs::remove_file(&sock);
    let frame = "mbuf_data_room = \"frame\"\n";
    let a = Node::start(&ns, &format!("{t}a"), &cfg("server", &sock, "198.18.1.1/24", 0, frame, SRV));
    // b keeps 2 KB mbufs: it receives chains and sends them; a does neither.
    let b = Node::start(&ns, &format!("{t}b"), &cfg("client", &sock, "198.18.1.2/24", 1, "", ""));
    wait_up(&a, &b);
    let out = b.ctl(&["test", "echo", "client", "uri", "tcp://198.18.1.1/7", "bytes", "20m", "timeout", "300"]);
    assert_eq!(after(&out, "mismatched"), 0, "{out}\n{}\n{}", a.log(), b.log());
    assert_eq!(after(&out, "received"), 20 << 20, "{out}");
    assert_eq!((a.counter("rx chained"), a.counter("tx chained")), (0, 0));
    assert!(b.counter("rx chained") > 1000 && b.counter("tx chained") > 1000);
    let _ = std::fs::remove_file(&sock);
}

#[test]
fn over_ipv6_tcp_at_mtu_9000_with_2k_mbufs_sends_one_buffer_segments_bit_exact() {
    if !require_root() {
        return;
    }
    let t = tag();
    let ns = Netns::new(&t);
    let sock = format!("/tmp/dpnt-{t}-chain6.sock");
    let _ = std::fs::remove_file(&sock);
    // IPv6 output takes no chains: segments stay within one 2 KB buffer.
    let v6 = |c: String, a: &str| c.replace("mtu = 9000\n", &format!("mtu = 9000\nip6 = [\"fd00:18::{a}/64\"]\n"));
    let srv6 = "[[app]]\nkind = \"echo-server\"\nuri = \"tcp://[::]/7\"\n";
    let a = Node::start(&ns, &format!("{t}a"), &v6(cfg("server", &sock, "198.18.1.1/24", 0, "", srv6), "1"));
    let b = Node::start(&ns, &format!("{t}b"), &v6(cfg("client", &sock, "198.18.1.2/24", 1, "", ""), "2"));
    wait_up(&a, &b);
    let deadline = Instant::now() + Duration::from_secs(30);
    let out = loop {
        let (ok, out) =
            b.ctl_any(&["test", "echo", "client", "uri", "tcp://[fd00:18::1]/7", "bytes", "10m", "timeout", "300"]);
        // (The addresses may still be tentative, DAD, for a moment.)
        if (ok && after(&out, "completed") == 1) || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(after(&out, "completed"), 1, "{out}\n{}\n{}", a.ctl(&["show", "errors"]), b.ctl(&["show", "errors"]));
    assert_eq!(after(&out, "mismatched"), 0, "{out}");
    assert_eq!(after(&out, "received"), 10 << 20, "{out}");
    assert_eq!((b.counter("rx chained"), b.counter("tx chained")), (0, 0));
    let _ = std::fs::remove_file(&sock);
}
