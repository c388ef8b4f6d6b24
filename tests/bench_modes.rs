//! End to end, the benchmark tools: the builtin echo client's modes (`bulk`,
//! `rr`, `cps`) against the kernel twin's echo server (`dpnode kbench
//! server`), and the kernel twin's client against the node's echo server,
//! over net_tap in a namespace the test creates. Counts and data are checked
//! exactly; no timing is asserted (figures come from `scripts/bench`).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

/// A `dpnode kbench server` in the namespace, killed on drop.
struct KernelServer(Child);

impl KernelServer {
    fn start(ns: &Netns, uri: &str) -> KernelServer {
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name, bin(), "kbench", "server", "uri", uri, "threads", "8"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn kbench server");
        std::thread::sleep(Duration::from_millis(300));
        KernelServer(child)
    }
}

impl Drop for KernelServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `dpnode kbench client WORDS` in the namespace; (success, output).
fn kbench_client(ns: &Netns, words: &[&str]) -> (bool, String) {
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.name, bin(), "kbench", "client"])
        .args(words)
        .output()
        .expect("spawn kbench client");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

const SERVERS: &str = "[[app]]\nkind = \"echo-server\"\nuri = \"tcp://0.0.0.0/7\"\n\n\
                       [[app]]\nkind = \"echo-server\"\nuri = \"udp://0.0.0.0/7\"\n";

#[test]
fn builtin_client_modes_against_the_kernel_twin() {
    if !require_root() {
        return;
    }
    let tn = tap_node("");
    let (node, ns) = (&tn.node, &tn.ns);
    let _tcp = KernelServer::start(ns, "tcp://198.18.0.1/7");
    let _udp = KernelServer::start(ns, "udp://198.18.0.1/7");
    let client = |words: &[&str]| {
        let mut w = vec!["test", "echo", "client"];
        w.extend_from_slice(words);
        node.ctl(&w)
    };

    // rr: one 64-byte message in flight, 100 of them: 100 round trips.
    let out = client(&["uri", "tcp://198.18.0.1/7", "mode", "rr", "chunk", "64", "bytes", "6400"]);
    assert_eq!((after(&out, "transactions"), after(&out, "received"), after(&out, "mismatched")), (100, 6400, 0));
    // Two sessions, each its own pattern and its own 50 round trips.
    let out = client(&["uri", "tcp://198.18.0.1/7", "mode", "rr", "chunk", "64", "bytes", "3200", "sessions", "2"]);
    assert_eq!((after(&out, "transactions"), after(&out, "completed")), (100, 2), "{out}");

    // cps: 300 connections over 3 slots, each one chunk there and back.
    let out =
        client(&["uri", "tcp://198.18.0.1/7", "mode", "cps", "chunk", "100", "connections", "300", "sessions", "3"]);
    assert_eq!(after(&out, "connections"), 300, "{out}");
    assert_eq!((after(&out, "received"), after(&out, "mismatched"), after(&out, "completed")), (30_000, 0, 3));
    assert_eq!(after(&out, "samples"), 300, "one sample per connection: {out}");

    // Time-bound runs end by themselves and every byte sent came back.
    let out = client(&["uri", "tcp://198.18.0.1/7", "duration", "0.5"]);
    assert_eq!(after(&out, "received"), after(&out, "sent"), "{out}");
    assert!(after(&out, "received") > 0, "{out}");
    let out = client(&["uri", "tcp://198.18.0.1/7", "mode", "cps", "chunk", "64", "duration", "0.5"]);
    assert!(after(&out, "connections") > 0, "{out}");
    let out = client(&["uri", "udp://198.18.0.1/7", "mode", "rr", "chunk", "64", "bytes", "6400"]);
    assert_eq!((after(&out, "transactions"), after(&out, "datagrams")), (100, 0), "{out}");

    // Nothing is left open but TIME-WAIT (the client closed first).
    std::thread::sleep(Duration::from_millis(300));
    let sess = node.ctl(&["show", "session"]);
    assert!(sess.contains("total 0 sessions"), "{sess}");
}

#[test]
fn kernel_twin_client_against_the_node() {
    if !require_root() {
        return;
    }
    let tn = tap_node(SERVERS);
    let (node, ns) = (&tn.node, &tn.ns);
    let run = |words: &[&str]| {
        let (ok, out) = kbench_client(ns, words);
        assert!(ok, "kbench client {words:?}:\n{out}\n{}", node.log());
        out
    };
    let out = run(&["uri", "tcp://198.18.0.2/7", "bytes", "20m"]);
    assert_eq!((after(&out, "received"), after(&out, "mismatched")), (20 << 20, 0), "{out}");
    let out = run(&["uri", "tcp://198.18.0.2/7", "mode", "rr", "chunk", "64", "bytes", "6400"]);
    assert_eq!(after(&out, "transactions"), 100, "{out}");
    let out = run(&["uri", "tcp://198.18.0.2/7", "mode", "cps", "connections", "200", "sessions", "4", "chunk", "64"]);
    assert_eq!((after(&out, "connections"), after(&out, "completed")), (200, 4), "{out}");
    let out = run(&["uri", "udp://198.18.0.2/7", "mode", "rr", "chunk", "64", "bytes", "6400"]);
    assert_eq!((after(&out, "transactions"), after(&out, "datagrams")), (100, 0), "{out}");
    let out = run(&["uri", "udp://198.18.0.2/7", "bytes", "140000", "chunk", "1400", "window", "8"]);
    assert_eq!(after(&out, "received"), 140_000, "{out}");
    let stats = node.ctl(&["show", "tcp", "stats"]);
    assert!(stats.contains("connections established"), "{stats}");

    // Usage errors name the word and exit 2.
    let (ok, out) = kbench_client(ns, &["uri", "tcp://198.18.0.2/7", "scope", "local"]);
    assert!(!ok && out.contains("scope"), "{out}");
}
