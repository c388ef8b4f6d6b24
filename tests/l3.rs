//! End to end, L2/L3: a node on net_tap inside a namespace, the Linux kernel
//! as its peer; and two nodes back to back over net_memif.

mod common;

use common::*;

fn tap_config(dev: &str, extra: &str) -> String {
    format!(
        "[dpdk]\nhugepages = \"off\"\n\n[[interface]]\nname = \"tap0\"\nvdev = \"net_tap0,iface={dev}\"\nip4 = \"198.18.0.2/24\"\n\n[workers]\nidle = \"sleep\"\n{extra}\n"
    )
}

/// Send raw Ethernet frames on `dev` from inside the namespace. Each frame
/// is hex; the Python uses only the standard library (AF_PACKET).
fn send_frames(ns: &Netns, dev: &str, frames: &[String]) {
    let list = frames.iter().map(|f| format!("'{f}'")).collect::<Vec<_>>().join(",");
    let py = format!(
        "import socket\ns=socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\ns.bind(('{dev}',0))\nfor f in [{list}]:\n    s.send(bytes.fromhex(f))\n"
    );
    let path = format!("/tmp/dpnt-send-{}.py", tag());
    std::fs::write(&path, py).unwrap();
    ns.sh(&format!("python3 {path}"));
    let _ = std::fs::remove_file(path);
}

fn mac_hex(mac: &str) -> String {
    mac.replace(':', "")
}

fn ipv4_header(total_len: u16, proto: u8, src: [u8; 4], dst: [u8; 4], good_checksum: bool) -> Vec<u8> {
    let mut h = vec![0x45, 0, (total_len >> 8) as u8, total_len as u8, 0, 1, 0x40, 0, 64, proto, 0, 0];
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let mut sum = 0u32;
    for c in h.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let mut ck = !(sum as u16);
    if !good_checksum {
        ck ^= 0x5a5a;
    }
    h[10] = (ck >> 8) as u8;
    h[11] = ck as u8;
    h
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn kernel_pings_node_and_node_pings_kernel_and_bad_frames_are_counted() {
    if !require_root() {
        return;
    }
    let t = tag();
    let ns = Netns::new(&t);
    let dev = format!("dpnt{t}");
    let mut node = Node::start(&ns, &t, &tap_config(&dev, ""));
    ns.kernel_addr(&dev, "198.18.0.1/24");

    // The kernel resolves the node by ARP, then 100 pings get 100 replies.
    let out = ns.sh("ping -c 100 -i 0.01 -W 2 198.18.0.2");
    assert!(out.contains("100 packets transmitted, 100 received"), "{out}");
    let neigh = ns.sh(&format!("ip neigh show 198.18.0.2 dev {dev}"));
    let node_mac =
        node.ctl(&["show", "interface"]).lines().nth(1).unwrap().split_whitespace().nth(3).unwrap().to_string();
    assert!(neigh.contains(&node_mac), "kernel learned {neigh}, node says {node_mac}");

    // The node pings the kernel with its own ping command.
    let out = node.ctl(&["ping", "198.18.0.1", "count", "5", "interval", "0.1"]);
    assert!(out.contains("5 packets transmitted, 5 received"), "{out}");
    let arp = node.ctl(&["show", "ip", "arp"]);
    assert!(arp.contains("198.18.0.1"), "{arp}");

    // Malformed frames are counted by cause and dropped.
    let kmac = ns.sh(&format!("cat /sys/class/net/{dev}/address"));
    let eth = |ty: &str| format!("{}{}{ty}", mac_hex(&node_mac), mac_hex(kmac.trim()));
    let (k, n) = ([198, 18, 0, 1], [198, 18, 0, 2]);
    let mut bad_ck = ipv4_header(28, 1, k, n, false);
    bad_ck.extend_from_slice(&[8, 0, 0xf7, 0xff, 0, 0, 0, 0]);
    let truncated = ipv4_header(28, 1, k, n, true)[..10].to_vec();
    let frames = vec![
        format!("{}{}", eth("0800"), hex(&bad_ck)),
        format!("{}{}", eth("0800"), hex(&bad_ck)),
        format!("{}{}", eth("0800"), hex(&truncated)),
        format!("{}{}", eth("88b5"), hex(&[0u8; 46])),
        format!("{}{}", eth("88b5"), hex(&[1u8; 46])),
        format!("{}{}", eth("88b5"), hex(&[2u8; 46])),
    ];
    send_frames(&ns, &dev, &frames);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let errors = node.ctl(&["show", "errors"]);
    let count = |name: &str| -> u64 {
        errors
            .lines()
            .find(|l| l.trim_end().ends_with(name))
            .and_then(|l| l.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    assert_eq!(count("ip4 bad header checksum"), 2, "{errors}");
    // Short frames are padded to 60 bytes on the wire, so a 10-byte IPv4
    // header arrives with padding: it fails as a header whose total length
    // runs past the frame, or as too short a header. Either way: truncated.
    assert_eq!(count("ip4 truncated header"), 1, "{errors}");
    assert_eq!(count("ethernet unknown ethertype"), 3, "{errors}");

    // ...and the node keeps answering.
    let out = ns.sh("ping -c 3 -i 0.05 -W 2 198.18.0.2");
    assert!(out.contains("3 received"), "{out}");

    // show interface / threads / route answer; unknown commands are errors.
    let int = node.ctl(&["show", "interface"]);
    assert!(int.contains("tap0") && int.contains("198.18.0.2/24") && int.contains(" up "), "{int}");
    assert!(node.ctl(&["show", "threads"]).contains("worker0"));
    assert!(node.ctl(&["show", "ip", "route"]).contains("198.18.0.0/24"));
    let (ok, text) = node.ctl_any(&["show", "bogus"]);
    assert!(!ok && text.contains("unknown command"), "{text}");

    // SIGTERM stops it cleanly.
    assert_eq!(node.stop(), Some(0), "{}", node.log());
}

#[test]
fn bad_config_names_the_key() {
    let dir = std::env::temp_dir().join(format!("dpnt-cfg-{}", tag()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("bad.toml");
    std::fs::write(&p, "[[interface]]\nname = \"a\"\nvdev = \"net_null0\"\nip4 = \"300.1.1.1/24\"\n").unwrap();
    let out = std::process::Command::new(bin()).args(["run", "--config"]).arg(&p).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("interface[0].ip4"), "{err}");
    std::fs::write(&p, "[workers]\ncorez = [1]\n[[interface]]\nname = \"a\"\nvdev = \"net_null0\"\n").unwrap();
    let out = std::process::Command::new(bin()).args(["run", "--config"]).arg(&p).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("corez"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn two_nodes_over_memif_ping_each_other() {
    if !require_root() {
        return;
    }
    let t = tag();
    let ns = Netns::new(&t);
    let sock = format!("/tmp/dpnt-{t}-memif.sock");
    let _ = std::fs::remove_file(&sock);
    let cfg = |role: &str, ip: &str| {
        format!(
            "[dpdk]\nhugepages = \"auto\"\n\n[[interface]]\nname = \"memif0\"\nvdev = \"net_memif0,role={role},socket={sock},socket-abstract=no,id=0\"\nip4 = \"{ip}\"\n\n[workers]\nidle = \"sleep\"\n"
        )
    };
    let a = Node::start(&ns, &format!("{t}a"), &cfg("server", "198.18.1.1/24"));
    let b = Node::start(&ns, &format!("{t}b"), &cfg("client", "198.18.1.2/24"));
    // The memif link comes up once the client connects.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !a.ctl(&["show", "interface"]).contains(" up ") {
        assert!(std::time::Instant::now() < deadline, "memif never came up:\n{}\n{}", a.log(), b.log());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = a.ctl(&["ping", "198.18.1.2", "count", "5", "interval", "0.1"]);
    assert!(out.contains("5 packets transmitted, 5 received"), "{out}\n{}", b.log());
    let out = b.ctl(&["ping", "198.18.1.1", "count", "3", "interval", "0.1"]);
    assert!(out.contains("3 received"), "{out}");
    let _ = std::fs::remove_file(&sock);
}

/// `tcpdump` on a device inside a namespace, printing ARP frames (one line
/// each) to a file until dropped.
struct ArpCapture {
    child: std::process::Child,
    out: std::path::PathBuf,
}

impl ArpCapture {
    fn start(ns: &Netns, dev: &str) -> ArpCapture {
        let t = tag();
        let out = std::path::PathBuf::from(format!("/tmp/dpnt-arpcap-{t}.txt"));
        let err = std::path::PathBuf::from(format!("/tmp/dpnt-arpcap-{t}.err"));
        let child = std::process::Command::new("ip")
            .args(["netns", "exec", &ns.name, "tcpdump", "-l", "-n", "-i", dev, "arp"])
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .expect("spawn tcpdump");
        // Listening once it says so (not a timing assumption: a deadline on a wait).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !std::fs::read_to_string(&err).unwrap_or_default().contains("listening on") {
            assert!(std::time::Instant::now() < deadline, "tcpdump did not start: {:?}", std::fs::read_to_string(&err));
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = std::fs::remove_file(err);
        ArpCapture { child, out }
    }

    /// The ARP requests seen so far that ask for `ip`.
    fn requests_for(&self, ip: &str) -> Vec<String> {
        let pat = format!("who-has {ip} ");
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&pat))
            .map(String::from)
            .collect()
    }
}

impl Drop for ArpCapture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.out);
    }
}

/// The `show ip arp` lines for `ip`.
fn arp_lines(node: &Node, ip: &str) -> Vec<String> {
    let pat = format!(" {ip} ");
    node.ctl(&["show", "ip", "arp"]).lines().filter(|l| l.contains(&pat)).map(String::from).collect()
}

#[test]
fn static_neighbour_is_sent_to_without_arp_and_deleting_it_brings_arp_back() {
    if !require_root() {
        return;
    }
    const KMAC: &str = "02:00:00:00:aa:01";
    let t = tag();
    let ns = Netns::new(&t);
    let dev = format!("dpnt{t}");
    let neighbor = format!("[[neighbor]]\ninterface = \"tap0\"\nip = \"198.18.0.1\"\nmac = \"{KMAC}\"\n");
    let node = Node::start(&ns, &t, &tap_config(&dev, &neighbor));
    // The kernel side gets the MAC the node's config names, and a permanent
    // entry for the node, so neither side needs to ask.
    ns.wait_link(&dev);
    ns.sh(&format!("ip link set dev {dev} address {KMAC}"));
    ns.kernel_addr(&dev, "198.18.0.1/24");
    let node_mac =
        node.ctl(&["show", "interface"]).lines().nth(1).unwrap().split_whitespace().nth(3).unwrap().to_string();
    ns.sh(&format!("ip neigh replace 198.18.0.2 lladdr {node_mac} dev {dev} nud permanent"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !node.ctl(&["show", "interface"]).contains(" up ") {
        assert!(std::time::Instant::now() < deadline, "tap never came up:\n{}", node.log());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let cap = ArpCapture::start(&ns, &dev);

    // Static: the node's pings go out with no ARP request.
    let out = node.ctl(&["ping", "198.18.0.1", "count", "5", "interval", "0.05"]);
    assert!(out.contains("5 packets transmitted, 5 received"), "{out}");
    let lines = arp_lines(&node, "198.18.0.1");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains(KMAC) && lines[0].contains("never") && lines[0].ends_with("static"), "{lines:?}");
    let json = node.ctl(&["--json", "show", "ip", "arp"]);
    assert!(json.contains("\"kind\": \"static\"") && json.contains("\"expires_s\": null"), "{json}");
    // Every echo request crossed the tap after the capture started, and no
    // request for the kernel's address did.
    assert_eq!(cap.requests_for("198.18.0.1"), Vec::<String>::new());

    // Deleted: the node asks again (and learns the answer).
    node.ctl(&["del", "ip", "neighbor", "tap0", "198.18.0.1"]);
    assert!(arp_lines(&node, "198.18.0.1").is_empty());
    let out = node.ctl(&["ping", "198.18.0.1", "count", "5", "interval", "0.05"]);
    assert!(out.contains("5 packets transmitted, 5 received"), "{out}");
    let lines = arp_lines(&node, "198.18.0.1");
    assert!(lines.len() == 1 && lines[0].ends_with("dynamic"), "{lines:?}");
    // The request the ping waited for reached the kernel before its reply
    // came back; tcpdump writes its line soon after.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while cap.requests_for("198.18.0.1").is_empty() {
        assert!(std::time::Instant::now() < deadline, "no ARP request seen after the delete");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let requests = cap.requests_for("198.18.0.1");
    assert!(requests.iter().all(|l| l.contains("tell 198.18.0.2")), "{requests:?}");

    // Set again from the CLI: the dynamic entry goes, the static one is
    // used, and nothing more is asked (the node's own count of requests
    // sent, gratuitous ones included, does not move).
    let asked = node.counter("arp requests sent");
    node.ctl(&["set", "ip", "neighbor", "tap0", "198.18.0.1", KMAC, "static"]);
    let out = node.ctl(&["ping", "198.18.0.1", "count", "3", "interval", "0.05"]);
    assert!(out.contains("3 received"), "{out}");
    let lines = arp_lines(&node, "198.18.0.1");
    assert!(lines.len() == 1 && lines[0].ends_with("static"), "{lines:?}");
    assert_eq!(node.counter("arp requests sent"), asked);
    assert_eq!(cap.requests_for("198.18.0.1"), requests);
}

#[test]
fn bad_static_neighbours_are_refused_with_the_reason() {
    if !require_root() {
        return;
    }
    let t = tap_node("[workers]\nidle = \"sleep\"\n");
    let refused = |words: &[&str], why: &str| {
        let (ok, text) = t.node.ctl_any(words);
        assert!(!ok && text.contains(why), "{words:?}: {text}");
    };
    let m = "02:00:00:00:00:01";
    refused(&["set", "ip", "neighbor", "tap9", "198.18.0.1", m], "no interface named \"tap9\"");
    refused(&["set", "ip", "neighbor", "tap0", "198.18.0.255", m], "subnet broadcast");
    refused(&["set", "ip", "neighbor", "tap0", "198.18.0.2", m], "the node's own address");
    refused(&["set", "ip", "neighbor", "tap0", "224.0.0.1", m], "not a unicast address (multicast)");
    refused(&["set", "ip", "neighbor", "tap0", "198.18.0.1", "01:00:5e:00:00:01"], "not a unicast MAC");
    refused(&["set", "ip", "neighbor", "tap0", "198.18.0.1", "02:00:00"], "not a MAC address");
    refused(&["set", "ip", "neighbor", "tap0", "fe80::1", m], "is an IPv6 address: use `set ip6 neighbor`");
    refused(&["set", "ip", "neighbor", "tap0", "198.18.0.1"], "usage: set ip neighbor");
    refused(&["set", "ip", "neighbor", "tap0", "198.18.0.1", m, "dynamic"], "usage: set ip neighbor");
    refused(&["del", "ip", "neighbor", "tap0", "198.18.0.9"], "198.18.0.9 has no static entry on tap0");
    refused(&["del", "ip", "neighbor", "tap0"], "usage: del ip neighbor");
    // Nothing was stored, and the node still answers.
    assert!(!t.node.ctl(&["show", "ip", "arp"]).contains("static"));
    let out = t.ns.sh("ping -c 2 -i 0.05 -W 2 198.18.0.2");
    assert!(out.contains("2 received"), "{out}");
    // A bad [[neighbor]] stops the node before it starts, naming the key.
    let dir = std::env::temp_dir().join(format!("dpnt-cfg-{}", tag()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("bad.toml");
    let cfg = "[[interface]]\nname = \"a\"\nvdev = \"net_null0\"\nip4 = \"198.18.0.2/24\"\n\
               [[neighbor]]\ninterface = \"a\"\nip = \"198.18.0.1\"\nmac = \"ff:ff:ff:ff:ff:ff\"\n";
    std::fs::write(&p, cfg).unwrap();
    let out = std::process::Command::new(bin()).args(["run", "--config"]).arg(&p).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("neighbor[0].mac: ff:ff:ff:ff:ff:ff is not a unicast MAC"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
