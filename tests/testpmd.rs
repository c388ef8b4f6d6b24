//! DPDK's own `dpdk-testpmd` (Debian's `dpdk-dev`) as the peer of the
//! node's UDP echo server over memif: testpmd generates, the node answers,
//! and testpmd's port statistics count the echoes.
//!
//! testpmd's `txonly` engine never polls its rx queue, so a memif port (whose
//! counters are kept by its rx burst) reports 0 received there; `flowgen` is
//! the engine that transmits and receives. In DPDK 22.11 flowgen's frames
//! are fixed: 00:01:02:03:04:00 -> 00:01:02:03:04:01, 10.254.0.0:1000 ->
//! 10.253.0.0:1001 (it ignores `--tx-ip`, `--tx-udp` and `--eth-peer`), so
//! the node takes that MAC and address, and has a static neighbour entry for
//! testpmd's address: testpmd answers no ARP.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The path of dpdk-testpmd, installing Debian's dpdk-dev if it is missing.
fn testpmd() -> Option<String> {
    let find = || {
        let out = sh_any("command -v dpdk-testpmd");
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    if let Some(p) = find() {
        return Some(p);
    }
    let _ = sh_any("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dpdk-dev");
    find()
}

/// The number after `key` in the first line of `text` after `section` that has it.
fn stat(text: &str, section: &str, key: &str) -> u64 {
    let rest = &text[text.find(section).unwrap_or_else(|| panic!("no {section:?} in:\n{text}"))..];
    after(rest, key)
}

#[test]
fn testpmd_flowgen_over_memif_gets_the_udp_echoes() {
    if !require_root() {
        return;
    }
    let Some(testpmd) = testpmd() else {
        eprintln!(
            "SKIPPED: dpdk-testpmd is missing and Debian's dpdk-dev could not be installed (scripts/setup installs it)"
        );
        return;
    };
    let t = tag();
    let ns = Netns::new(&t);
    let sock = format!("/tmp/dpnt-{t}-testpmd.sock");
    let _ = std::fs::remove_file(&sock);
    let ncpu = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let node_core = ncpu - 1;
    let cfg = format!(
        "[dpdk]\nhugepages = \"off\"\n\n[[interface]]\nname = \"memif0\"\n\
         vdev = \"net_memif0,role=server,socket={sock},socket-abstract=no,mac=00:01:02:03:04:01\"\n\
         ip4 = \"10.253.0.0/14\"\n\n[[neighbor]]\ninterface = \"memif0\"\nip = \"10.254.0.0\"\nmac = \"00:01:02:03:04:00\"\n\n\
         [workers]\ncores = [{node_core}]\nidle = \"sleep\"\n\n[[app]]\nkind = \"echo-server\"\nuri = \"udp://0.0.0.0/1001\"\n"
    );
    let node = Node::start(&ns, &t, &cfg);
    // testpmd on core 0 (its main and forwarding lcores), the node's worker on the last core.
    // stdbuf: testpmd's stdout is a pipe here, and it says when it forwards.
    let mut child = Command::new("stdbuf")
        .args([
            "-oL",
            "taskset",
            "-c",
            "0",
            &testpmd,
            "--lcores=0@0,1@0",
            "--no-huge",
            "--no-shconf",
            "-m",
            "128",
            "--no-pci",
        ])
        .arg(format!("--file-prefix=dpnt-tp{t}"))
        .arg(format!("--vdev=net_memif0,role=client,socket={sock},socket-abstract=no"))
        .args(["--", "--forward-mode=flowgen", "--flowgen-flows=1", "--nb-cores=1", "--total-num-mbufs=8192"])
        .args(["--txpkts=64"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn dpdk-testpmd");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut out = String::new();
    let wait_for = |what: &str, out: &mut String| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(l) => {
                    out.push_str(&l);
                    out.push('\n');
                    if l.contains(what) {
                        return;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("testpmd exited:\n{out}"),
                Err(_) => {}
            }
            assert!(Instant::now() < deadline, "testpmd never said {what:?}:\n{out}\n{}", node.log());
        }
    };
    // Forwarding starts when it says so; the 2 s count once the link is up.
    wait_for("Press enter to exit", &mut out);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !node.ctl(&["show", "interface"]).contains(" up ") {
        assert!(Instant::now() < deadline, "memif never came up:\n{out}\n{}", node.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(2));
    child.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
    wait_for("Bye", &mut out);
    let _ = child.wait();
    let _ = reader.join();
    let _ = std::fs::remove_file(&sock);

    // testpmd's port statistics for the run (since forwarding started).
    let sent = stat(&out, "Forward statistics for port 0", "TX-packets:");
    let got = stat(&out, "Forward statistics for port 0", "RX-packets:");
    let errors = node.ctl(&["show", "errors"]);
    assert!(got > 0, "no echo came back:\n{out}\n{errors}");
    // Every datagram the node took from the ring is echoed unless it is
    // dropped for a cause `show errors` names; what is in flight at the stop
    // is the rest. A tenth is a floor no sane run comes near.
    assert!(got * 10 >= sent, "{got} echoes for {sent} sent:\n{out}\n{errors}");
    eprintln!("testpmd: sent {sent}, echoes received {got}");
}
