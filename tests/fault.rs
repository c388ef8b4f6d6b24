//! End to end, fault injection: a node on net_tap inside a namespace drops,
//! duplicates and reorders the kernel's pings as configured (`[fault]`) and
//! as changed at run time (`set fault`), and counts what it did.

mod common;

use common::*;

fn tap_config(dev: &str, fault: &str) -> String {
    format!(
        "[dpdk]\nhugepages = \"off\"\n\n[[interface]]\nname = \"tap0\"\nvdev = \"net_tap0,iface={dev}\"\nip4 = \"198.18.0.2/24\"\n\n[workers]\nidle = \"sleep\"\n\n[fault]\n{fault}\n"
    )
}

/// `N` from ping's "T packets transmitted, N received".
fn received(out: &str) -> u32 {
    let line = out.lines().find(|l| l.contains("packets transmitted")).unwrap_or_else(|| panic!("no summary:\n{out}"));
    line.split(", ").nth(1).and_then(|f| f.split_whitespace().next()).and_then(|n| n.parse().ok()).unwrap()
}

#[test]
fn node_drops_duplicates_and_reorders_kernel_pings() {
    if !require_root() {
        return;
    }
    let t = tag();
    let ns = Netns::new(&t);
    let dev = format!("dpnt{t}");
    let node = Node::start(&ns, &t, &tap_config(&dev, "drop_percent = 20\ndirection = \"both\"\nseed = 1"));
    ns.kernel_addr(&dev, "198.18.0.1/24");
    // A static neighbour: the kernel's ARP must not be what the drops hit.
    let int = node.ctl(&["show", "interface"]);
    let mac = int.lines().nth(1).unwrap().split_whitespace().nth(3).unwrap().to_string();
    // net_tap has every checksum offload, and the kernel, not a table,
    // steers its queues.
    assert!(int.contains("offloads tx-csum ip4,udp,tcp rx-csum ip4,udp,tcp; reta -"), "{int}");
    ns.sh(&format!("ip neigh replace 198.18.0.2 lladdr {mac} dev {dev} nud permanent"));
    let fault = node.ctl(&["show", "fault"]);
    assert!(fault.contains("drop 20%") && fault.contains("direction both") && fault.contains("seed 1"), "{fault}");
    node.ctl(&["clear", "errors"]);

    // 20% of requests and 20% of replies: about 64% come back.
    let out = String::from_utf8_lossy(&ns.sh_any("ping -c 200 -i 0.01 -W 1 -q 198.18.0.2").stdout).into_owned();
    let got = received(&out);
    assert!((80..=180).contains(&got), "{got} of 200 replies with 20% loss each way:\n{out}");
    eprintln!("drop 20% both ways: {got} of 200 replies");
    // Every lost ping is one drop (a request or its reply), and nothing else
    // went through the node meanwhile.
    let dropped = node.counter("fault injection: packet dropped");
    let lost = u64::from(200 - got);
    assert!(dropped >= lost && dropped <= lost + 3, "{dropped} drops for {lost} lost pings");
    assert!(node.ctl(&["show", "fault"]).contains(&format!("{dropped} dropped")));

    // At run time: every received request twice, so every reply twice.
    let set = node.ctl(&["set", "fault", "off", "duplicate", "100", "direction", "rx"]);
    assert!(set.contains("duplicate 100%") && set.contains("drop 0%"), "{set}");
    let out = ns.sh("ping -c 5 -i 0.05 -W 1 198.18.0.2");
    // ping exits on the fifth reply, before the fifth copy arrives.
    let dups: u32 =
        out.split(", +").nth(1).and_then(|r| r.split_whitespace().next()).and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(out.contains("DUP!") && out.contains("5 received") && dups >= 4, "{out}");
    assert!(node.counter("fault injection: packet duplicated") >= 5);

    // Reordering: held packets are released behind the next or after the
    // hold time, so nothing is lost, and the holds are counted.
    node.ctl(&["set", "fault", "off", "reorder", "50"]);
    let out = ns.sh("ping -c 40 -i 0.01 -W 1 -q 198.18.0.2");
    assert_eq!(received(&out), 40, "{out}");
    let rx_reordered = node.counter("fault injection: packet reordered");
    assert!((5..=40).contains(&rx_reordered), "{rx_reordered} reordered of 40");
    // The same on transmit: the node's replies are held back instead.
    node.ctl(&["set", "fault", "direction", "tx"]);
    let out = ns.sh("ping -c 40 -i 0.01 -W 1 -q 198.18.0.2");
    assert_eq!(received(&out), 40, "{out}");
    let reordered = node.counter("fault injection: packet reordered");
    assert!((rx_reordered + 5..=rx_reordered + 40).contains(&reordered), "{reordered} after {rx_reordered}");

    // Off again: everything passes and the counters stand still.
    node.ctl(&["set", "fault", "off"]);
    assert!(node.ctl(&["show", "fault"]).starts_with("fault: off"));
    let before = node.ctl(&["show", "errors"]);
    let out = ns.sh("ping -c 10 -i 0.01 -W 1 -q 198.18.0.2");
    assert_eq!(received(&out), 10, "{out}");
    assert_eq!(node.counter("fault injection: packet reordered"), reordered);
    assert_eq!(node.ctl(&["show", "errors"]), before);

    // Bad settings are refused, naming the setting.
    let (ok, text) = node.ctl_any(&["set", "fault", "drop", "150"]);
    assert!(!ok && text.contains("drop"), "{text}");
    let (ok, text) = node.ctl_any(&["set", "fault", "direction", "up"]);
    assert!(!ok && text.contains("direction"), "{text}");
    let (ok, text) = node.ctl_any(&["set", "fault", "bogus", "1"]);
    assert!(!ok && text.contains("bogus"), "{text}");
}

#[test]
fn bad_fault_config_names_the_key() {
    let dir = std::env::temp_dir().join(format!("dpnt-fcfg-{}", tag()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("bad.toml");
    std::fs::write(&p, "[[interface]]\nname = \"a\"\nvdev = \"net_null0\"\n[fault]\nduplicate_percent = 120\n")
        .unwrap();
    let out = std::process::Command::new(bin()).args(["run", "--config"]).arg(&p).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("fault.duplicate_percent"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
