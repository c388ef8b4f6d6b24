//! End to end, the operator's tools: `dpnode ctl --json` and the Prometheus
//! endpoint, on a node on net_tap inside a namespace the test creates, with
//! the Linux kernel as the peer (ping, a TCP connection from python3).
//!
//! - `ctl --json show interface|errors|counters|session|app ...|tcp stats`
//!   prints JSON that parses, and its fields are the ones the text shows.
//! - A command that has no JSON form is an error that lists those that do.
//! - `[metrics] listen` serves `/metrics`: curl scrapes it, Python's
//!   `prometheus_client` parser reads it, the ping and interface counters
//!   move with pings and match `show counters`; the sessions, TCP and
//!   application gauges show the kernel's connection. A scraper that sends
//!   nothing, one that sends an endless header and one that asks for another
//!   path are dropped or refused while curl's scrapes go on.
//! - `show runtime` after pings and a TCP exchange shows packets, bursts and
//!   time in every stage, its JSON is the text's numbers, and `clear
//!   runtime` starts it from zero again.
//! - `dpnode ctl` with no command is a shell (driven through a pty by
//!   python3-pexpect): TAB completes command words, `?` lists the next
//!   words and gives the line back, the up arrow recalls history (kept in
//!   `~/.dpnode_history`), `exec FILE` runs a file of commands, `quit` leaves.
//! - `scripts/plot` draws PNG charts from sample benchmark CSVs.

mod common;

use std::path::Path;
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
    assert!(node.ctl(&["show", "metrics"]).starts_with("metrics: off"), "off unless configured");
    let (ok, e) = node.ctl_any(&["--json", "show", "threads"]);
    assert!(!ok && e.contains("--json: not available") && e.contains("show tcp stats"), "{e}");

    let _ = client.kill();
    let _ = client.wait();
}

/// The samples of a scrape, as Python's `prometheus_client` text parser reads them: `[name, labels, value]`.
const PARSE: &str = "import json,sys\nfrom prometheus_client.parser import text_string_to_metric_families\n\
                     print(json.dumps([[s.name, s.labels, s.value] for f in text_string_to_metric_families(sys.stdin.read()) for s in f.samples]))\n";

/// Scrapes `/metrics` with curl in the namespace and parses it with `prometheus_client` (Debian's python3 has it).
fn scrape(ns: &Netns, dir: &std::path::Path) -> Vec<(String, serde_json::Map<String, Value>, f64)> {
    let py = dir.join("parse.py");
    std::fs::write(&py, PARSE).unwrap();
    let out =
        ns.sh(&format!("curl -sf --max-time 10 http://127.0.0.1:9464/metrics | /usr/bin/python3 {}", py.display()));
    let v: Vec<(String, serde_json::Map<String, Value>, f64)> = serde_json::from_str(&out).expect("parser output");
    assert!(!v.is_empty(), "no samples");
    v
}

/// The value of the sample `name` whose labels include `labels`.
fn value(
    samples: &[(String, serde_json::Map<String, Value>, f64)],
    name: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.get(*k).and_then(Value::as_str) == Some(*v)))
        .map(|s| s.2)
}

#[test]
fn metrics_are_scraped_parsed_and_move_with_traffic_while_bad_scrapers_are_dropped() {
    if !require_root() {
        return;
    }
    let t = tag();
    let ns = Netns::new(&t);
    let dev = format!("dpnt{t}");
    let node = Node::start(&ns, &t, &tap_config(&dev, "\n[metrics]\nlisten = \"127.0.0.1:9464\"\n"));
    assert!(node.ctl(&["show", "metrics"]).starts_with("metrics: http://127.0.0.1:9464/metrics"));
    ns.kernel_addr(&dev, "198.18.0.1/24");
    ns.sh("ping -c 2 -i 0.2 -W 5 198.18.0.2");

    // Bad scrapers: one that connects and says nothing, one that sends a header with no end.
    let idle = Command::new("ip")
        .args(["netns", "exec", &ns.name, "/usr/bin/python3", "-c"])
        .arg(
            "import socket,time\ns=socket.create_connection(('127.0.0.1',9464))\nt=time.time()\n\
              assert s.recv(1)==b''\nprint(round(time.time()-t))\n",
        )
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let long = ns.sh("/usr/bin/python3 -c \"import socket\ns=socket.create_connection(('127.0.0.1',9464))\n\
         s.sendall(b'GET /metrics HTTP/1.1\\r\\nX: '+b'a'*20000)\nprint(s.recv(100).split(b'\\r\\n')[0].decode())\"");
    assert_eq!(long.trim(), "HTTP/1.1 431 Request Header Fields Too Large");
    let other = ns.sh("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9464/other");
    assert_eq!(other, "404");

    let first = scrape(&ns, &node.dir);
    let echo = [("worker", "0"), ("reason", "icmp echo requests received")];
    let pings_before = value(&first, "dpnode_worker_counter_total", &echo).expect("icmp echo counter");
    let rx_before = value(&first, "dpnode_interface_rx_packets_total", &[("interface", "tap0")]).expect("rx packets");
    assert!(pings_before >= 2.0, "{pings_before}");
    ns.sh("ping -c 5 -i 0.2 -W 5 198.18.0.2");
    let mut client = held_connection(&ns);
    wait_for("the kernel's connection to be a session", || {
        json(&node, &["show", "session"])["workers"][0].as_array().is_some_and(|s| s.len() == 1)
    });
    let second = scrape(&ns, &node.dir);
    let pings = value(&second, "dpnode_worker_counter_total", &echo).unwrap();
    assert!(pings >= pings_before + 5.0, "{pings_before} -> {pings}");
    assert!(value(&second, "dpnode_interface_rx_packets_total", &[("interface", "tap0")]).unwrap() >= rx_before + 5.0);
    // The same counter as `show counters` gives (nothing pings the node in between).
    let counters = json(&node, &["show", "counters"]);
    let shown = counters[0].as_array().unwrap().iter().find(|c| c["name"] == "icmp echo requests received").unwrap();
    assert_eq!(shown["value"].as_f64(), Some(pings));
    assert_eq!(value(&second, "dpnode_sessions", &[("transport", "tcp"), ("state", "ready")]), Some(1.0));
    assert_eq!(value(&second, "dpnode_tcp_connections", &[("state", "ESTABLISHED")]), Some(1.0));
    assert!(value(&second, "dpnode_tcp_counter_total", &[("reason", "connections established")]) >= Some(1.0));
    assert_eq!(value(&second, "dpnode_applications", &[]), Some(1.0));
    assert_eq!(value(&second, "dpnode_session_fifo_bytes", &[]), Some(f64::from(2 * (64 << 10))));
    assert!(value(&second, "dpnode_segments", &[]) >= Some(1.0));
    assert!(value(&second, "dpnode_metrics_scrapes_total", &[]) >= Some(2.0));
    // The loop's stats and the barrier's waits.
    assert!(value(&second, "dpnode_worker_work_loops_total", &[("worker", "0")]) > Some(0.0));
    assert!(value(&second, "dpnode_worker_empty_loops_total", &[("worker", "0")]) > Some(0.0));
    assert!(value(&second, "dpnode_worker_rx_bursts_total", &[("worker", "0")]) > Some(0.0));
    assert!(value(&second, "dpnode_worker_time_seconds_total", &[("worker", "0"), ("stage", "l2l3")]) > Some(0.0));
    assert!(value(&second, "dpnode_worker_rx_bursts_by_size_total", &[("worker", "0"), ("size", "1")]) > Some(0.0));
    let syncs = value(&second, "dpnode_barrier_syncs_total", &[]).unwrap();
    assert_eq!(value(&second, "dpnode_barrier_wait_seconds_count", &[]), Some(syncs));
    assert_eq!(value(&second, "dpnode_barrier_wait_seconds_bucket", &[("le", "+Inf")]), Some(syncs));

    // The silent scraper was closed at its deadline, while the scrapes above were served.
    let idle = idle.wait_with_output().unwrap();
    assert!(idle.status.success(), "the node did not close the silent connection");
    let status = node.ctl(&["show", "metrics"]);
    for line in ["connections closed (deadline)", "requests malformed or too long", "requests not found"] {
        let n: u64 =
            status.lines().find(|l| l.contains(line)).and_then(|l| l.split_whitespace().next()?.parse().ok()).unwrap();
        assert!(n >= 1, "{line}: {status}");
    }
    let _ = client.kill();
    let _ = client.wait();
}

/// One worker's `show runtime` text: (rx packets, rx bursts, [(stage, ns, packets)]).
fn runtime_text(text: &str, worker: usize) -> (u64, u64, Vec<(String, u64, u64)>) {
    let start = text.find(&format!("worker {worker} (core")).unwrap_or_else(|| panic!("no worker {worker}:\n{text}"));
    let mut lines = text[start..].lines().skip(1);
    let rx: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!((rx[0], rx[2], rx[5]), ("rx", "packets", "bursts,"), "{text}");
    let stages = lines
        .skip_while(|l| !l.trim_start().starts_with("stage"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let n = w.len();
            (w[..n - 3].join(" "), w[n - 3].parse().unwrap(), w[n - 2].parse().unwrap())
        })
        .collect();
    (rx[1].parse().unwrap(), rx[4].parse().unwrap(), stages)
}

#[test]
fn show_runtime_counts_packets_and_stage_times_and_clear_runtime_resets_them() {
    if !require_root() {
        return;
    }
    let t = tag();
    let ns = Netns::new(&t);
    let dev = format!("dpnt{t}");
    let node = Node::start(&ns, &t, &tap_config(&dev, ""));
    ns.kernel_addr(&dev, "198.18.0.1/24");
    ns.sh("ping -c 20 -i 0.05 -W 5 198.18.0.2");
    let mut client = held_connection(&ns);
    wait_for("the kernel's connection to be a session", || {
        json(&node, &["show", "session"])["workers"][0].as_array().is_some_and(|s| s.len() == 1)
    });

    let before = json(&node, &["show", "runtime"]);
    let text = node.ctl(&["show", "runtime"]);
    let after = json(&node, &["show", "runtime"]);
    let w = &before["workers"][0];
    let rx = w["rx_packets"].as_u64().unwrap();
    assert!(rx >= 20 + 3, "pings and the TCP exchange: {w}");
    assert!(w["rx_bursts"].as_u64() >= Some(1) && w["loops"].as_u64() > Some(0), "{w}");
    assert!(w["vector_avg"].as_f64() >= Some(1.0), "{w}");
    let in_buckets: u64 = w["vectors"].as_array().unwrap().iter().map(|b| b["bursts"].as_u64().unwrap()).sum();
    assert_eq!(Some(in_buckets), w["rx_bursts"].as_u64(), "every burst in one histogram bucket: {w}");
    let fractions = ["busy", "polling", "sleeping"].map(|k| w[k].as_f64().unwrap());
    assert!((fractions.iter().sum::<f64>() - 1.0).abs() < 1e-6 && fractions[0] > 0.0, "{w}");
    let stages = w["stages"].as_array().unwrap();
    for st in &stages[..5] {
        assert!(st["ns"].as_u64() > Some(0) && st["ns_per_packet"].as_f64() > Some(0.0), "stage {st} of {w}");
    }
    // The text is made from the same snapshot: its numbers lie between the two JSON answers around it.
    let (trx, tbursts, tstages) = runtime_text(&text, 0);
    let between = |key: &str, v: u64| {
        let (a, b) = (before["workers"][0][key].as_u64().unwrap(), after["workers"][0][key].as_u64().unwrap());
        assert!(a <= v && v <= b, "{key}: text {v}, json {a}..{b}:\n{text}");
    };
    between("rx_packets", trx);
    between("rx_bursts", tbursts);
    let names: Vec<&str> = stages.iter().map(|s| s["stage"].as_str().unwrap()).collect();
    assert_eq!(tstages.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(), names, "{text}");
    for (i, (name, ns, _)) in tstages.iter().enumerate() {
        let (a, b) = (stages[i]["ns"].as_u64().unwrap(), after["workers"][0]["stages"][i]["ns"].as_u64().unwrap());
        assert!(a <= *ns && *ns <= b, "{name}: text {ns}, json {a}..{b}");
    }

    // clear runtime: counting starts again (a stray kernel packet may come in, but not the 20 pings).
    node.ctl(&["clear", "runtime"]);
    let cleared = json(&node, &["show", "runtime"]);
    let c = &cleared["workers"][0];
    assert!(c["rx_packets"].as_u64().unwrap() < 20 && c["rx_bursts"].as_u64().unwrap() < 20, "{c}");
    assert!(c["stages"][2]["ns"].as_u64() < stages[2]["ns"].as_u64(), "{c}");
    let (crx, _, _) = runtime_text(&node.ctl(&["show", "runtime"]), 0);
    assert!(crx < 20, "{crx}");
    ns.sh("ping -c 3 -i 0.1 -W 5 198.18.0.2");
    let again = json(&node, &["show", "runtime"]);
    assert!(again["workers"][0]["rx_packets"].as_u64() >= Some(3), "counts again after the clear: {again}");

    let _ = client.kill();
    let _ = client.wait();
}

/// Drives `dpnode ctl` with no command through a pty; prints `ok` at the end.
const SHELL: &str = r#"
import os, sys, pexpect
bin, sock, home, script = sys.argv[1:5]
env = dict(os.environ, HOME=home, TERM="xterm")
sh = pexpect.spawn(bin, ["ctl", "--socket", sock], env=env, encoding="utf-8", timeout=30, dimensions=(50, 200))
sh.logfile_read = sys.stderr
P = "dpnode# "
sh.expect_exact(P)
# TAB completes a word the node's help names.
sh.send("show vers\t")
sh.expect_exact("show version ")
sh.send("\r")
sh.expect(r"dpnode \d+\.\d+\.\d+ \(git")
sh.expect_exact(P)
# ? lists what may come next, then the line is back to finish.
sh.send("show ?")
sh.expect_exact("  interface")
sh.expect_exact("  runtime")
sh.expect_exact(P + "show ")
sh.send("runt?")
sh.expect_exact("  runtime")
sh.expect_exact(P + "show runt")
sh.send("ime ?")
sh.expect_exact("<cr>")
sh.expect_exact(P + "show runtime ")
sh.send("\r")
sh.expect_exact("loops/s")
sh.expect_exact(P)
# History: up twice is the first command again.
sh.send("\x1b[A\x1b[A")
sh.expect_exact("show version")
sh.send("\r")
sh.expect(r"dpnode \d+\.\d+\.\d+ \(git")
sh.expect_exact(P)
# A command error is printed and the shell goes on.
sh.send("show nonsense\r")
sh.expect_exact("unknown command")
sh.expect_exact(P)
sh.send("exec " + script + "\r")
sh.expect_exact(P + "show threads")
sh.expect_exact("worker0")
sh.expect_exact(P + "show buffers")
sh.expect_exact("pool dpn_pool")
sh.expect_exact(P)
sh.send("quit\r")
sh.expect(pexpect.EOF)
sh.close()
assert sh.exitstatus == 0, sh.exitstatus
print("ok")
"#;

#[test]
fn ctl_without_a_command_is_a_shell_with_completion_help_history_and_exec() {
    if !require_root() {
        return;
    }
    let t = tag();
    let ns = Netns::new(&t);
    let dev = format!("dpnt{t}");
    let node = Node::start(&ns, &t, &tap_config(&dev, ""));
    // The start-up line says where the node is and what to try (the shell among it).
    let log = node.log();
    let running = log.lines().find(|l| l.contains("dpnode: running on ")).unwrap_or_else(|| panic!("{log}"));
    assert!(running.contains("tap0 (net_tap0, 198.18.0.2/24, link "), "{running}");
    assert!(running.contains("`ping 198.18.0.2` from its peer") && running.contains("show interface`"), "{running}");
    // DPDK's own messages come through the node's logger; net_tap's usual ones are explained, not dumped.
    assert!(log.lines().all(|l| !l.contains("qdisc") || l.contains("dpdk: ")), "{log}");
    assert!(log.contains("INFO dpdk: net_tap: this kernel has no multiq qdisc"), "{log}");
    let home = node.dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let script = node.dir.join("cmds.txt");
    std::fs::write(&script, "# a comment\nshow threads\n\nshow buffers\n").unwrap();
    let py = node.dir.join("shell.py");
    std::fs::write(&py, SHELL).unwrap();
    let out = Command::new("/usr/bin/python3")
        .arg(&py)
        .args([bin(), node.socket.to_str().unwrap(), home.to_str().unwrap(), script.to_str().unwrap()])
        .output()
        .expect("python3");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && stdout.trim() == "ok", "shell session failed:\n{stdout}\n{stderr}");
    let history = std::fs::read_to_string(home.join(".dpnode_history")).expect("history file");
    for line in ["show version", "show runtime", "show nonsense", "quit"] {
        assert!(history.lines().any(|l| l == line), "{line:?} not in the history:\n{history}");
    }
    assert!(!history.contains('?'), "? is not a command:\n{history}");

    // The same file without a terminal: `dpnode ctl exec FILE`; and a shell fed by a pipe.
    let text = node.ctl(&["exec", script.to_str().unwrap()]);
    assert!(text.contains("dpnode# show threads") && text.contains("pool dpn_pool"), "{text}");
    let piped = sh(&format!("printf 'show version\\nshow ?\\n' | {} ctl --socket {}", bin(), node.socket.display()));
    assert!(piped.contains("dpnode 0.") && piped.contains("  runtime"), "{piped}");
}

/// `scripts/plot` (issue 14 item 6) turns the small sample CSVs in
/// tests/data/bench-sample into PNG charts that exist, are not empty and that
/// `file` calls PNG images; a directory without CSVs is an error. Needs no
/// root and no DPDK.
#[test]
fn scripts_plot_draws_png_charts_from_bench_csv() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::temp_dir().join(format!("dpnt-plot-{}", tag()));
    let _ = std::fs::remove_dir_all(&out);
    let run = |src: &Path| {
        Command::new("/usr/bin/python3")
            .arg(root.join("scripts/plot"))
            .arg(src)
            .arg(&out)
            .output()
            .expect("run scripts/plot (python3-matplotlib: scripts/setup installs it)")
    };
    let res = run(&root.join("tests/data/bench-sample"));
    let text = format!("{}{}", String::from_utf8_lossy(&res.stdout), String::from_utf8_lossy(&res.stderr));
    assert!(res.status.success(), "scripts/plot failed: {text}");
    for png in ["dpnode-vs-kernel.png", "packets.png", "latency.png"] {
        let p = out.join(png);
        let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        assert!(len > 1000, "{png}: {len} bytes; {text}");
        let kind = sh(&format!("file -b {}", p.display()));
        assert!(kind.starts_with("PNG image data"), "{png}: {kind}");
        assert!(text.contains(png), "{text}");
    }
    // No preload.csv in the sample: no programs chart.
    assert!(!out.join("programs.png").exists());
    let empty = out.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let res = run(&empty);
    assert!(!res.status.success(), "no CSV must be an error");
    assert!(String::from_utf8_lossy(&res.stderr).contains("no benchmark CSV"));
    let _ = std::fs::remove_dir_all(&out);
}

/// DPDK's lines in a node log, as `(level, text)`: what the node's logger
/// wrote for target `dpdk` (`LEVEL dpdk: TEXT`).
fn dpdk_lines(log: &str) -> Vec<(String, String)> {
    log.lines()
        .filter_map(|l| {
            let (head, text) = l.split_once(" dpdk: ")?;
            let level = head.split_whitespace().last()?.to_string();
            Some((level, text.trim().to_string()))
        })
        .collect()
}

/// DPDK warnings a start may print that are not ours to fix and that the
/// node explains (or that are this machine's, not the node's). A warning or
/// error from DPDK outside these is an unexplained start-up message.
const KNOWN_DPDK_NOTES: &[&str] = &[
    // The node's explanations (logged at info once), in case a filter shows them at warn.
    "(harmless)",
];

/// Starts a node with `config` in a namespace of its own, stops it and gives its log.
fn start_stop_log(config: &str) -> String {
    let t = tag();
    let ns = Netns::new(&t);
    let mut node = Node::start(&ns, &t, config);
    // Up and answering: everything start-up prints is in the log.
    node.ctl(&["show", "interface"]);
    assert_eq!(node.stop(), Some(0), "{}", node.log());
    node.log()
}

/// `[dpdk] log_level` (issue 14 item 5): `debug` puts DPDK's debug lines in
/// the node log; the default start has none. Both starts (net_tap, and
/// dpnode's own memif with DPDK probing no device) log no DPDK warning or
/// error that the node does not explain, with hugepages or without them.
#[test]
fn dpdk_log_level_and_a_plain_start_has_no_unexplained_dpdk_warnings() {
    if !require_root() {
        return;
    }
    let tap = |t: &str, dpdk: &str| {
        format!(
            "[dpdk]\n{dpdk}\n[[interface]]\nname = \"tap0\"\nvdev = \"net_tap0,iface=dpnt{t}\"\nip4 = \"198.18.0.2/24\"\n\
             [workers]\nidle = \"sleep\"\n"
        )
    };
    let memif = |t: &str, dpdk: &str| {
        format!(
            "[dpdk]\n{dpdk}\n[[interface]]\nname = \"memif0\"\n\
             vdev = \"net_memif0,role=server,socket=/tmp/dpnt-memif-{t}.sock,socket-abstract=no\"\n\
             ip4 = \"198.18.1.2/24\"\n[workers]\nidle = \"sleep\"\n"
        )
    };
    let t = tag();
    let debug = start_stop_log(&tap(&t, "hugepages = \"off\"\nlog_level = \"debug\""));
    let lines = dpdk_lines(&debug);
    assert!(lines.iter().filter(|(l, _)| l == "DEBUG").count() >= 5, "log_level = debug: DPDK debug lines\n{debug}");
    assert!(debug.contains("--log-level=*:debug"), "the EAL gets the level: {debug}");

    for (what, cfg) in [
        ("tap, no hugepages", tap(&t, "hugepages = \"off\"")),
        ("tap, hugepages if free", tap(&t, "hugepages = \"auto\"")),
        ("memif, no hugepages", memif(&t, "hugepages = \"off\"")),
        ("memif, hugepages if free", memif(&t, "hugepages = \"auto\"")),
    ] {
        let log = start_stop_log(&cfg);
        let lines = dpdk_lines(&log);
        assert!(!lines.iter().any(|(l, _)| l == "DEBUG"), "{what}: no DPDK debug lines by default\n{log}");
        let unexplained: Vec<&(String, String)> = lines
            .iter()
            .filter(|(l, text)| (l == "WARN" || l == "ERROR") && !KNOWN_DPDK_NOTES.iter().any(|k| text.contains(k)))
            .collect();
        assert!(unexplained.is_empty(), "{what}: unexplained DPDK warnings {unexplained:?}\n{log}");
        assert!(log.contains("dpnode: running on"), "{what}: {log}");
    }
    let _ = std::fs::remove_file(format!("/tmp/dpnt-memif-{t}.sock"));
}
