//! End to end, large TCP segments (issue 15): TSO on net_tap (DPDK's tap
//! PMD offers `RTE_ETH_TX_OFFLOAD_TCP_TSO` and cuts the segment before it
//! writes to the kernel) with the Linux kernel as the peer in a namespace
//! the test creates, 100 MB echoed bit-exact (so 100 MB each way) with TSO
//! on and off and with the fault injector's loss on; the kernel receives
//! frames no longer than its MTU (tcpdump on its side). GSO in software:
//! two nodes over memif, 100 MB echoed bit-exact at MTU 1500 and 9000.
//! And the config keys' errors.
//!
//! Run: `cargo test --test tso -- --test-threads=1` (as root).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

/// The kernel client: `MB` megabytes of random bytes to the node's echo
/// server, read back concurrently; the SHA-256 of what went and came back.
const KERNEL_CLIENT: &str = r#"
import socket, os, hashlib, threading, sys
MB = int(sys.argv[1])
total = MB * 1024 * 1024
s = socket.create_connection(("198.18.0.2", 7), timeout=60)
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
t.join(500)
s.close()
print(f"same={int(sent_h.digest() == recv_h.digest())} got={got[0]} total={total}")
"#;

/// The kernel echoes `mb` MB through the node's echo server, bit-exact.
fn kernel_client_echo(ns: &Netns, mb: u32) {
    let path = format!("/tmp/dpnt-tso-kc-{}.py", tag());
    std::fs::write(&path, KERNEL_CLIENT).unwrap();
    let out = ns.sh_any(&format!("timeout 600 python3 {path} {mb}"));
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "client failed:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(field(&text, "same"), "1", "{text}");
    assert_eq!(field(&text, "got"), field(&text, "total"), "{text}");
}

const ECHO: &str = "[[app]]\nkind = \"echo-server\"\nuri = \"tcp://0.0.0.0/7\"\n";

/// A tap node whose interface has `iface` (keys of `[[interface]]`) and
/// the sections `extra`.
fn tso_tap_node(iface: &str, extra: &str) -> TapNode {
    tap_node(&format!("{iface}\n[workers]\nidle = \"sleep\"\n\n{ECHO}\n{extra}"))
}

/// Frames in capture `file` that match tshark display filter `filter`.
fn tshark_count(file: &Path, filter: &str) -> usize {
    sh(&format!("tshark -n -r {} -Y '{filter}' -T fields -e frame.len 2>/dev/null", file.display())).lines().count()
}

/// 100 MB echoed between the kernel and the node (each way), then a short
/// echo under tcpdump on the kernel side: what the kernel receives from
/// the node are full-size frames no longer than Ethernet + MTU.
fn tap_bulk(tso: &str, fault: &str) -> TapNode {
    let tn = tso_tap_node(&format!("tso = \"{tso}\""), fault);
    kernel_client_echo(&tn.ns, 100);
    let file = std::path::PathBuf::from(format!("/tmp/dpnt-{}-tso.pcap", tn.tag));
    let mut dump = std::process::Command::new("ip")
        .args(["netns", "exec", &tn.ns.name, "tcpdump", "-i", &tn.dev, "-s", "128", "-c", "3000", "-w"])
        .arg(&file)
        .args(["tcp", "and", "src", "host", "198.18.0.2"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !file.exists() {
        assert!(Instant::now() < deadline, "tcpdump never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    kernel_client_echo(&tn.ns, 4);
    let _ = sh_any(&format!("kill -INT {}", dump.id()));
    let _ = dump.wait();
    let full = tshark_count(&file, "tcp.len >= 1400");
    let over = tshark_count(&file, "frame.len > 1514");
    let _ = std::fs::remove_file(&file);
    assert!(full >= 500, "{full} full-size segments reached the kernel");
    assert_eq!(over, 0, "frames longer than the MTU reached the kernel");
    tn
}

#[test]
fn tap_with_tso_on_echoes_100_mb_bit_exact_in_mtu_frames() {
    if !require_root() {
        return;
    }
    let tn = tap_bulk("on", "");
    let int = tn.node.ctl(&["show", "interface"]);
    assert!(int.contains("tcp segmentation tso (large segments up to 65000 bytes)"), "{int}");
    let large = tn.node.counter("tcp large segments to the nic (tso)");
    assert!(large > 1000, "{large} large segments handed to the NIC");
    assert_eq!(tn.node.counter("tcp large segments cut in software (gso)"), 0);
    // The PMD took every large segment (it refuses with a tx error).
    let js: serde_json::Value = serde_json::from_str(&tn.node.ctl(&["--json", "show", "interface"])).unwrap();
    assert_eq!(js[0]["tx_errors"].as_u64(), Some(0), "{js}");
    assert_eq!(js[0]["segmentation"].as_str(), Some("tso"), "{js}");
}

#[test]
fn tap_with_tso_off_echoes_100_mb_bit_exact_one_mss_at_a_time() {
    if !require_root() {
        return;
    }
    let tn = tap_bulk("off", "");
    let int = tn.node.ctl(&["show", "interface"]);
    assert!(int.contains("tcp segmentation off"), "{int}");
    assert_eq!(tn.node.counter("tcp large segments to the nic (tso)"), 0);
}

#[test]
fn tap_with_tso_on_stays_bit_exact_under_loss_duplication_and_reordering() {
    if !require_root() {
        return;
    }
    let fault =
        "[fault]\ndrop_percent = 1\nduplicate_percent = 1\nreorder_percent = 1\ndirection = \"both\"\nseed = 7\n";
    let tn = tap_bulk("on", fault);
    assert!(tn.node.counter("tcp large segments to the nic (tso)") > 0);
    assert!(tn.node.counter("fault injection: packet dropped") > 0);
    let stats = tn.node.ctl(&["show", "tcp", "stats"]);
    assert!(counter_line(&stats, "segments retransmitted") > 0, "loss was recovered from: {stats}");
}

/// A memif node's config: `role` on `sock`, address `ip`, worker on `core`,
/// IP MTU `mtu`, GSO on, extra sections `extra`. Past 1500, mbufs that hold
/// a whole frame: GSO's pieces go in one buffer each, so on chained 2 KB
/// mbufs they would be cut to ~2 KB (correct, but not MTU-sized frames).
fn memif_gso_cfg(role: &str, sock: &str, ip: &str, core: u32, mtu: u16, extra: &str) -> String {
    let room = if mtu > 1500 { "mbuf_data_room = \"frame\"\n" } else { "" };
    format!(
        "[dpdk]\nhugepages = \"auto\"\nmbufs = 8191\n{room}\n[[interface]]\nname = \"memif0\"\n\
         vdev = \"net_memif0,role={role},socket={sock},socket-abstract=no,id=0\"\nip4 = \"{ip}\"\nmtu = {mtu}\n\
         gso = true\n\n[workers]\ncores = [{core}]\nidle = \"sleep\"\n\n{extra}"
    )
}

fn memif_gso_echo(mtu: u16) {
    let t = tag();
    let ns = Netns::new(&t);
    let sock = format!("/tmp/dpnt-{t}-gso.sock");
    let _ = std::fs::remove_file(&sock);
    let a = Node::start(&ns, &format!("{t}a"), &memif_gso_cfg("server", &sock, "198.18.1.1/24", 0, mtu, ECHO));
    let b = Node::start(&ns, &format!("{t}b"), &memif_gso_cfg("client", &sock, "198.18.1.2/24", 1, mtu, ""));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !a.ctl(&["show", "interface"]).contains(" up ") {
        assert!(Instant::now() < deadline, "memif never came up:\n{}\n{}", a.log(), b.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let int = b.ctl(&["show", "interface"]);
    assert!(int.contains("tcp segmentation gso") && int.contains(&format!("mtu {mtu}")), "{int}");
    let out = b.ctl(&["test", "echo", "client", "uri", "tcp://198.18.1.1/7", "bytes", "100m", "timeout", "600"]);
    assert_eq!(after(&out, "completed"), 1, "{out}\n{}\n{}", a.log(), b.log());
    assert_eq!(after(&out, "mismatched"), 0, "{out}");
    assert_eq!(after(&out, "received"), 100 << 20, "{out}");
    // Both sent 100 MB in large segments cut in software, into frames
    // the peer took (it drops and counts longer ones).
    for n in [&a, &b] {
        let cut = n.counter("tcp large segments cut in software (gso)");
        let frames = n.counter("gso frames out");
        assert!(cut > 100 && frames > 2 * cut, "{cut} large segments, {frames} frames");
        assert_eq!(n.counter("ethernet frame longer than the mtu"), 0);
    }
    let js: serde_json::Value = serde_json::from_str(&b.ctl(&["--json", "show", "interface"])).unwrap();
    let (bytes, pkts) = (js[0]["tx_bytes"].as_u64().unwrap(), js[0]["tx_packets"].as_u64().unwrap());
    assert!(pkts > 0 && bytes / pkts > u64::from(mtu) / 2, "{bytes} bytes in {pkts} frames");
    let _ = std::fs::remove_file(&sock);
}

#[test]
fn two_nodes_over_memif_with_gso_echo_100_mb_bit_exact_at_mtu_1500() {
    if !require_root() {
        return;
    }
    memif_gso_echo(1500);
}

#[test]
fn two_nodes_over_memif_with_gso_echo_100_mb_bit_exact_at_mtu_9000() {
    if !require_root() {
        return;
    }
    memif_gso_echo(9000);
}

/// A config with `iface` in its interface section: the node's error, if
/// it refuses to start.
fn config_error(vdev: &str, iface: &str) -> String {
    let dir = std::env::temp_dir().join(format!("dpnt-tsocfg-{}", tag()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("bad.toml");
    std::fs::write(&p, format!("[[interface]]\nname = \"a\"\nvdev = \"{vdev}\"\n{iface}\n")).unwrap();
    let out = std::process::Command::new(bin()).args(["run", "--config"]).arg(&p).output().unwrap();
    let _ = std::fs::remove_dir_all(dir);
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_tso_and_gso_settings_name_the_key() {
    let e = config_error("net_null0", "tso = \"maybe\"");
    assert!(e.contains("interface[0].tso") && e.contains("\"maybe\""), "{e}");
    let e = config_error("net_null0", "tso_max = 100");
    assert!(e.contains("interface[0].tso_max") && e.contains("2920..=65000"), "{e}");
    let e = config_error("net_null0", "tso = \"on\"\nchecksum_offload = false");
    assert!(e.contains("interface[0].tso") && e.contains("checksum_offload"), "{e}");
    let e = config_error("net_memif0,role=server,socket=/tmp/x.sock", "tso = \"on\"");
    assert!(e.contains("interface[0].tso") && e.contains("gso = true"), "{e}");
    let e = config_error("net_null0", "gso = 3");
    assert!(e.contains("gso"), "{e}");
}

#[test]
fn tso_on_a_port_without_it_fails_at_start_with_the_reason() {
    if !require_root() {
        return;
    }
    // net_null offers no TSO: "on" is refused when the port starts.
    let t = tag();
    let dir = std::env::temp_dir().join(format!("dpnt-tsonull-{t}"));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("null.toml");
    std::fs::write(
        &p,
        "[dpdk]\nhugepages = \"off\"\n\n[[interface]]\nname = \"n0\"\nvdev = \"net_null0\"\nip4 = \"198.18.3.2/24\"\ntso = \"on\"\n",
    )
    .unwrap();
    let mut c = std::process::Command::new(bin())
        .args(["run", "--config"])
        .arg(&p)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = c.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = c.kill();
            panic!("the node started with tso = \"on\" on net_null");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(c.stderr.as_mut().unwrap(), &mut err).unwrap();
    let _ = std::fs::remove_dir_all(dir);
    assert!(!status.success() && err.contains("does not offer TCP segmentation offload"), "{err}");
}
