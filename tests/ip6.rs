//! End to end, IPv6 (issue 12, first stage): a node on net_tap inside a
//! namespace, the Linux kernel as its peer, over link-local addresses.

mod common;

use common::*;

fn tap_config(dev: &str) -> String {
    format!(
        "[dpdk]\nhugepages = \"off\"\n\n[[interface]]\nname = \"tap0\"\nvdev = \"net_tap0,iface={dev}\"\nip4 = \"198.18.0.2/24\"\n\n[workers]\nidle = \"sleep\"\n"
    )
}

/// The EUI-64 link-local address of a MAC written aa:bb:cc:dd:ee:ff.
fn link_local(mac: &str) -> String {
    let b: Vec<u8> = mac.split(':').map(|x| u8::from_str_radix(x, 16).unwrap()).collect();
    format!(
        "fe80::{:x}:{:x}:{:x}:{:x}",
        u16::from(b[0] ^ 2) << 8 | u16::from(b[1]),
        u16::from(b[2]) << 8 | 0xff,
        0xfe00 | u16::from(b[3]),
        u16::from(b[4]) << 8 | u16::from(b[5])
    )
}

#[test]
fn kernel_pings_node_link_local_after_neighbour_discovery() {
    if !require_root() {
        return;
    }
    let t = tag();
    let ns = Netns::new(&t);
    let dev = format!("dpnt{t}");
    let node = Node::start(&ns, &t, &tap_config(&dev));
    ns.wait_link(&dev);
    // net_tap gives the kernel's tap the node's MAC, so both would derive
    // the same link-local address: give the kernel side its own. The
    // namespace starts with IPv6 off; turn it on for the tap only, without
    // DAD so the kernel's link-local is usable at once.
    ns.sh(&format!(
        "ip link set dev {dev} address 02:00:00:00:00:01 && sysctl -qw net.ipv6.conf.{dev}.accept_dad=0 net.ipv6.conf.{dev}.disable_ipv6=0 && ip link set {dev} up"
    ));
    ns.kernel_addr(&dev, "198.18.0.1/24");
    let node_mac =
        node.ctl(&["show", "interface"]).lines().nth(1).unwrap().split_whitespace().nth(3).unwrap().to_string();
    let ll = link_local(&node_mac);

    // The kernel resolves the node by NDP, then 100 pings get 100 replies.
    let out = ns.sh_any(&format!("ping -6 -c 100 -i 0.01 -W 2 {ll}%{dev}"));
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    let why = || {
        let addr = ns.sh_any(&format!("ip -6 addr show dev {dev}; ip -6 neigh show dev {dev}"));
        format!(
            "{out}\n{}\n{}\nnode counters:\n{}",
            String::from_utf8_lossy(&addr.stdout),
            node.ctl(&["show", "interface"]),
            node.ctl(&["show", "counters"])
        )
    };
    assert!(out.contains("100 packets transmitted, 100 received"), "{}", why());
    let neigh = ns.sh(&format!("ip -6 neigh show {ll} dev {dev}"));
    assert!(neigh.contains(&node_mac), "kernel learned {neigh}, node says {node_mac}");

    let errors = node.ctl(&["show", "errors"]);
    let c = |name: &str| counter_line(&errors, name);
    assert_eq!(c("icmp6 bad checksum"), 0, "{errors}");
    assert_eq!(c("ndp hop limit not 255"), 0, "{errors}");
    let counters = node.ctl(&["show", "counters"]);
    assert!(counter_line(&counters, "icmp6 echo replies sent") >= 100, "{counters}");
    assert!(counter_line(&counters, "ndp neighbour advertisements sent") >= 1, "{counters}");
}
