//! End to end, the operator's tools: `dpnode ctl --json` and the Prometheus
//! endpoint, on a node on net_tap inside a namespace the test creates, with
//! the Linux kernel as the peer (ping, a TCP connection from python3).
//!
//! - `ctl --json show interface|errors|counters|session|app ...|tcp stats`
//!   prints JSON that parses, and its fields are the ones the text shows.
//! - A command that has no JSON form is an error that lists those that do.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn tap_config(dev: &str, extra: &str) -> String {
    format!(
        "[dpdk]\nhugepages = \"off\"\n\n[[interface]]\nname = \"tap0\"\nvdev = \"net_tap0,iface={dev}\"\nip4 = \"198.18.0.2/24\"\n\n\
         [workers]\nidle = \"sleep\"\n\n[[app]]\nkind = \"echo-server\"\nuri = \"tcp://0.0.0.0/7\"\n{extra}\n"
    )
}

/// `dpnode ctl --json WORDS`, parsed.
fn json(node: &Node, words: &[&str]) -> Value {
    let mut args = vec!["--json"];
    args.extend_from_slice(words);
    let text = node.ctl(&args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("--json {words:?} is not JSON ({e}):\n{text}"))
}

/// A kernel TCP client in the namespace that sends one line to the node's echo server and then holds the
/// connection open until it is killed.
fn held_connection(ns: &Netns) -> Child {
    let py = "import socket,time\ns=socket.create_connection(('198.18.0.2',7))\ns.sendall(b'hello\\n')\n\
              assert s.recv(6)==b'hello\\n'\ntime.sleep(120)\n";
    Command::new("ip")
        .args(["netns", "exec", &ns.name, "python3", "-c", py])
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn python3")
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn ctl_json_prints_the_snapshots_the_text_is_made_from() {
    if !require_root() {
        return;
    }
    let t = tag();
    let ns = Netns::new(&t);
    let dev = format!("dpnt{t}");
    let node = Node::start(&ns, &t, &tap_config(&dev, ""));
    ns.kernel_addr(&dev, "198.18.0.1/24");
    ns.sh("ping -c 3 -i 0.2 -W 5 198.18.0.2");
    let mut client = held_connection(&ns);
    wait_for("the kernel's connection to be a session", || {
        json(&node, &["show", "session"])["workers"][0].as_array().is_some_and(|s| s.len() == 1)
    });

    // show interface: the port's name, address, MAC and PMD counts.
    let ifs = json(&node, &["show", "interface"]);
    let text = node.ctl(&["show", "interface"]);
    let tap = &ifs[0];
    assert_eq!(ifs.as_array().map(Vec::len), Some(1), "{ifs}");
    assert_eq!(
        (tap["name"].as_str(), tap["ip4"].as_str(), tap["up"].as_bool()),
        (Some("tap0"), Some("198.18.0.2/24"), Some(true))
    );
    assert!(tap["rx_packets"].as_u64() >= Some(3) && tap["tx_packets"].as_u64() >= Some(3), "{tap}");
    for key in ["mac", "driver", "device"] {
        assert!(text.contains(tap[key].as_str().unwrap()), "{key} of {tap} not in:\n{text}");
    }
    assert_eq!(json(&node, &["show", "interface", "tap0"])[0]["name"], "tap0");
    let (ok, e) = node.ctl_any(&["--json", "show", "interface", "nope"]);
    assert!(!ok && e.contains("no interface named \"nope\""), "{e}");

    // show counters: per worker, every counter; the pings were counted.
    let counters = json(&node, &["show", "counters"]);
    let count = |name: &str| {
        counters[0].as_array().unwrap().iter().find(|c| c["name"] == name).map(|c| c["value"].as_u64().unwrap())
    };
    assert!(count("icmp echo requests received") >= Some(3), "{counters}");
    assert_eq!(count("icmp echo replies sent"), count("icmp echo requests received"));
    let text = node.ctl(&["show", "counters"]);
    assert!(text.contains("icmp echo requests received") && text.starts_with("worker 0:"), "{text}");

    // show errors: error counters only, each port's NIC drops, the main thread's.
    let errors = json(&node, &["show", "errors"]);
    let text = node.ctl(&["show", "errors"]);
    assert!(errors["workers"].as_array().unwrap().iter().all(|c| c["error"] == true), "{errors}");
    assert!(errors["workers"].as_array().unwrap().iter().any(|c| c["name"] == "ip4 bad header checksum"), "{errors}");
    assert_eq!(errors["nics"][0]["port"], tap["device"]);
    for c in errors["workers"].as_array().unwrap().iter().chain(errors["main"].as_array().unwrap()) {
        if c["value"].as_u64() > Some(0) {
            assert!(text.contains(c["name"].as_str().unwrap()), "{c} not in:\n{text}");
        }
    }

    // show session: the kernel's connection, as the text shows it.
    let sessions = json(&node, &["show", "session", "verbose"]);
    let text = node.ctl(&["show", "session"]);
    let s = &sessions["workers"][0][0];
    assert_eq!(
        (s["proto"].as_str(), s["state"].as_str(), s["local"].as_str()),
        (Some("tcp"), Some("ready"), Some("198.18.0.2:7"))
    );
    assert_eq!(s["app"], "echo-server-tcp-7");
    assert_eq!(s["conn"]["kind"], "tcp");
    assert_eq!(s["conn"]["stats"]["state"], "ESTABLISHED");
    // The echo sent the line back (TCP sessions count no rx bytes yet, only UDP ones do).
    assert!(s["tx_bytes"].as_u64() >= Some(6), "{s}");
    for key in ["handle", "local", "remote"] {
        assert!(text.contains(s[key].as_str().unwrap()), "{key} of {s} not in:\n{text}");
    }
    assert_eq!((sessions["listeners"].as_u64(), sessions["apps"].as_u64()), (Some(1), Some(1)));
    assert!(text.contains("total 1 sessions, 1 listeners, 1 apps"), "{text}");

    // show app, show app server, show app 0 verbose.
    let apps = json(&node, &["show", "app"]);
    assert_eq!(apps[0]["name"], "echo-server-tcp-7");
    assert_eq!((apps[0]["builtin"].as_bool(), apps[0]["namespace"].as_str()), (Some(true), Some("default")));
    let text = node.ctl(&["show", "app"]);
    assert!(
        text.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("0 ") && l.contains("echo-server-tcp-7") && l.ends_with("builtin")),
        "{text}"
    );
    let servers = json(&node, &["show", "app", "server"]);
    assert_eq!(servers[0]["endpoint"], "tcp://0.0.0.0/7");
    assert_eq!(servers[0]["workers"][0]["map"], 0);
    assert!(node.ctl(&["show", "app", "server"]).contains("tcp://0.0.0.0/7"));
    let detail = json(&node, &["show", "app", "0", "verbose"]);
    let d = &detail["apps"][0];
    let text = node.ctl(&["show", "app", "0", "verbose"]);
    assert_eq!(d["rx_fifo_size"].as_u64(), Some(64 << 10));
    assert!(text.contains("rx-fifo-size 64k"), "{text}");
    let res = &d["workers"][0]["resources"];
    assert!(res["sessions_open"].as_u64() == Some(1) && res["fifo_pairs_in_use"].as_u64() >= Some(1), "{d}");
    assert!(text.contains(&format!("fifo pairs in use {}", res["fifo_pairs_in_use"])), "{text}");
    assert!(d["on_workers"][0]["report"]["app"]["accepted"].as_u64() == Some(1), "{d}");
    assert!(text.contains("echo server: 1 sessions accepted"), "{text}");

    // show tcp stats: the connection by state, the counters by name.
    let tcp = json(&node, &["show", "tcp", "stats"]);
    let text = node.ctl(&["show", "tcp", "stats"]);
    assert_eq!(tcp["states"]["ESTABLISHED"], 1, "{tcp}");
    assert!(tcp["counters"]["connections established"].as_u64() >= Some(1), "{tcp}");
    assert!(text.contains("           1  ESTABLISHED"), "{text}");

    // Commands without a JSON form say which have one.
    let (ok, e) = node.ctl_any(&["--json", "show", "threads"]);
    assert!(!ok && e.contains("--json: not available") && e.contains("show tcp stats"), "{e}");

    let _ = client.kill();
    let _ = client.wait();
}
