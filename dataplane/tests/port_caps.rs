//! In-process tests of what ports learn about their NICs: the RSS table
//! the node programs and reads back (`net_null`, which keeps a RETA), and
//! checksum offloads on `net_tap` with the Linux kernel as the judge — it
//! drops UDP and TCP with wrong checksums, so what it accepts proves the
//! offloaded checksums right, and what it sends us shows the rx verdicts.
//!
//! The EAL can start once per process, so everything lives in one test.
//! The tap is created inside a network namespace: the test thread enters it
//! before the EAL starts (network namespaces are per thread).

use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dataplane::eal::Eal;
use dataplane::mbuf::{Burst, Mbuf};
use dataplane::mempool::Mempool;
use dataplane::port::{Port, PortConfig, PortQueue, RetaSource};
use wire::ipv4::Protocol;
use wire::offload::{tx_csum_prepare, CsumSet, CsumStatus, Offloads};
use wire::rss::{Reta, RSS_KEY};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A namespace deleted on drop.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

const KERNEL: [u8; 4] = [198, 18, 7, 1];
const NODE: [u8; 4] = [198, 18, 7, 2];

/// An Ethernet + IPv4 + `proto` frame with `l4` as the IPv4 payload; both
/// checksum fields hold garbage, to be filled by software or the NIC.
fn frame(pool: &Mempool, dst: [u8; 6], src: [u8; 6], proto: u8, l4: &[u8]) -> Mbuf {
    let mut m = pool.alloc().expect("mbuf");
    let total = 20 + l4.len();
    let b = m.append(14 + total).unwrap();
    b[..6].copy_from_slice(&dst);
    b[6..12].copy_from_slice(&src);
    b[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip = &mut b[14..];
    ip[..12].copy_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0x40, 0, 64, proto, 0xde, 0xad]);
    ip[12..16].copy_from_slice(&NODE);
    ip[16..20].copy_from_slice(&KERNEL);
    ip[20..].copy_from_slice(l4);
    m
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    let mut u = [sport.to_be_bytes(), dport.to_be_bytes(), len.to_be_bytes(), [0xbe, 0xef]].concat();
    u.extend_from_slice(payload);
    u
}

fn tcp_syn(sport: u16, dport: u16) -> Vec<u8> {
    let mut t = [sport.to_be_bytes(), dport.to_be_bytes()].concat();
    t.extend_from_slice(&[0, 0, 0x10, 0, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0xbe, 0xef, 0, 0]);
    t
}

/// Prepare checksums for `offload` and ask the NIC for the rest.
fn offload(m: &mut Mbuf, tx: CsumSet) {
    let req = tx_csum_prepare(&mut m.data_mut()[14..], tx).unwrap();
    m.request_tx_csum(14, req);
}

fn send(q: &mut PortQueue, pkts: Vec<Mbuf>) {
    let mut b = Burst::default();
    for m in pkts {
        b.push(m).ok().unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while !b.is_empty() && Instant::now() < deadline {
        q.tx(&mut b);
    }
    assert!(b.is_empty(), "tap refused frames");
}

/// Frames from the kernel for 198.18.7.2 with `proto`, for up to `wait`.
fn receive(q: &mut PortQueue, proto: u8, want: usize, wait: Duration) -> Vec<Mbuf> {
    let mut got = Vec::new();
    let mut b = Burst::default();
    let deadline = Instant::now() + wait;
    while got.len() < want && Instant::now() < deadline {
        q.rx(&mut b);
        for m in b.drain() {
            let d = m.data();
            if d.len() >= 34 && d[12..14] == [0x08, 0x00] && d[23] == proto && d[30..34] == NODE {
                got.push(m);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    got
}

/// A UDP receiver in the namespace that prints what arrives on :7777.
fn udp_listener(ns: &str, n: usize) -> Child {
    let py = format!(
        "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('198.18.7.1',7777))\ns.settimeout(3)\nprint('ready',flush=True)\ngot=[]\ntry:\n    while len(got)<{n}:\n        got.append(s.recv(2048).decode())\nexcept Exception:\n    pass\nprint(' '.join(sorted(got)),flush=True)\n"
    );
    let mut c =
        Command::new("ip").args(["netns", "exec", ns, "python3", "-c", &py]).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(c.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    c
}

fn listener_output(c: Child) -> String {
    String::from_utf8_lossy(&c.wait_with_output().unwrap().stdout).trim().to_string()
}

#[test]
fn rss_table_and_checksum_offloads_on_real_pmds() {
    let root = is_root();
    let pid = std::process::id() % 100_000;
    let ns = Netns(format!("dpnt-caps{pid}"));
    let tap = format!("dpncaps{pid}");
    let mut args: Vec<String> =
        vec!["--no-huge".into(), "--no-shconf".into(), "-m256".into(), "--no-pci".into(), "--no-telemetry".into()];
    args.push("--log-level=lib.eal:warning".into());
    args.push("--vdev=net_null0".into());
    if root {
        sh(&format!("ip netns add {}", ns.0));
        let f = std::fs::File::open(format!("/var/run/netns/{}", ns.0)).unwrap();
        // SAFETY: a valid namespace fd; only this thread moves, and the EAL
        // (started below, from this thread) creates the tap in here.
        assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
        args.push(format!("--vdev=net_tap0,iface={tap}"));
    } else {
        eprintln!("not root: net_tap checksum offloads are not tested");
    }
    let _eal = Eal::init(&args).expect("EAL");
    let pool = Mempool::new("caps_test", 4095, 64, -1).unwrap();

    // net_null keeps a 128-entry RETA: the node programs round robin over
    // its queues and reads back the same table and key.
    {
        let id = Port::lookup("net_null0").unwrap();
        let port = Port::start(id, "net_null0", &PortConfig { queues: 2, ..PortConfig::default() }, &pool).unwrap();
        assert!(port.rss());
        assert_eq!(port.reta_source(), RetaSource::Programmed);
        let t = port.rss_table().expect("a predictable table");
        assert_eq!(t.reta(), &Reta::round_robin(128, 2));
        assert_eq!(t.key(), &RSS_KEY);
        assert_eq!(t.queues(), 2);
        assert!(t.hashes_ports(Protocol::Tcp) && t.hashes_ports(Protocol::Udp));
        assert_eq!(port.offloads(), Offloads::default(), "net_null has no checksum offloads");
        assert!(port.caps().rss.is_some());
        // One queue: RSS off, no table.
        drop(port);
    }

    if !root {
        return;
    }
    sh(&format!("ip -n {} link set lo up", ns.0));
    let id = Port::lookup("net_tap0").unwrap();
    let mut port = Port::start(id, "net_tap0", &PortConfig::default(), &pool).unwrap();
    let o = port.offloads();
    assert_eq!(o, Offloads { tx: CsumSet::ALL, rx: CsumSet::ALL }, "net_tap offers every checksum offload");
    assert!(!port.rss() && port.rss_table().is_none() && port.reta_source() == RetaSource::Off);
    let mac = port.mac();
    let mac_s = mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
    sh(&format!(
        "ip -n {n} addr add 198.18.7.1/24 dev {tap} && ip -n {n} link set {tap} up && ip -n {n} neigh replace 198.18.7.2 lladdr {mac_s} dev {tap} nud permanent",
        n = ns.0
    ));
    let kmac_s = sh(&format!("ip netns exec {} cat /sys/class/net/{tap}/address", ns.0));
    let kmac: Vec<u8> = kmac_s.trim().split(':').map(|h| u8::from_str_radix(h, 16).unwrap()).collect();
    let kmac: [u8; 6] = kmac.try_into().unwrap();
    let mut q = port.take_queues().pop().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !port.link().up {
        assert!(Instant::now() < deadline, "tap link never came up");
        std::thread::sleep(Duration::from_millis(20));
    }

    // tx: UDP with the NIC doing both checksums, with only UDP offloaded,
    // in software, and a copy of an offloaded frame (Mbuf::copy keeps the
    // request). The kernel delivers only datagrams whose checksums hold.
    let listener = udp_listener(&ns.0, 5);
    let mut pkts = Vec::new();
    for (tag, tx) in [
        ("all", CsumSet::ALL),
        ("udp-only", CsumSet { ip4: false, udp: true, tcp: false }),
        ("software", CsumSet::NONE),
    ] {
        let mut m = frame(&pool, kmac, mac, 17, &udp(40000, 7777, tag.as_bytes()));
        offload(&mut m, tx);
        pkts.push(m);
    }
    let mut m = frame(&pool, kmac, mac, 17, &udp(40001, 7777, b"original"));
    offload(&mut m, CsumSet::ALL);
    let mut c = m.copy(&pool).expect("copy");
    assert_eq!(c.ol_flags(), m.ol_flags(), "the copy keeps the tx offload request");
    assert_eq!(c.data(), m.data());
    // Same length, same pseudo header: the NIC's sum covers the new bytes.
    c.data_mut()[42..].copy_from_slice(b"copy0000");
    pkts.push(m);
    pkts.push(c);
    // The control: a wrong checksum and no offload is dropped by the kernel.
    let mut bad = frame(&pool, kmac, mac, 17, &udp(40003, 7777, b"broken"));
    offload(&mut bad, CsumSet::NONE);
    bad.data_mut()[40] ^= 0x55;
    // First, so the listener (which stops at five) would see it if accepted.
    pkts.insert(0, bad);
    send(&mut q, pkts);
    let got = listener_output(listener);
    assert_eq!(got, "all copy0000 original software udp-only", "datagrams the kernel accepted");

    // tx TCP: a SYN with its checksum offloaded to a closed port draws a
    // RST (a SYN with a bad checksum would be dropped silently); rx: the
    // RST arrives with the tap's verdicts, both good.
    let mut syn = frame(&pool, kmac, mac, 6, &tcp_syn(40002, 9));
    offload(&mut syn, CsumSet::ALL);
    send(&mut q, vec![syn]);
    let rst = receive(&mut q, 6, 1, Duration::from_secs(3));
    assert_eq!(rst.len(), 1, "the kernel answered the offloaded SYN");
    let v = rst[0].rx_csum();
    assert_eq!((v.ip, v.l4), (CsumStatus::Good, CsumStatus::Good));
    assert_eq!(rst[0].data()[47] & 0x04, 0x04, "RST flag");

    // rx verdicts on bad checksums: frames the kernel side injects raw.
    let udp_frame = |ip_ok: bool, udp_ok: bool| -> String {
        let mut f = frame(&pool, mac, kmac, 17, &udp(7777, 40000, b"verdict"));
        {
            let d = f.data_mut();
            d[26..30].copy_from_slice(&KERNEL);
            d[30..34].copy_from_slice(&NODE);
        }
        offload(&mut f, CsumSet::NONE);
        let d = f.data_mut();
        if !ip_ok {
            d[24] ^= 0x55;
        }
        if !udp_ok {
            d[40] ^= 0x55;
        }
        d.iter().map(|b| format!("{b:02x}")).collect()
    };
    let frames = [udp_frame(true, true), udp_frame(true, false), udp_frame(false, true)];
    let py = format!(
        "import socket\ns=socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\ns.bind(('{tap}',0))\nfor f in {frames:?}:\n    s.send(bytes.fromhex(f))\n"
    );
    let out = Command::new("ip").args(["netns", "exec", &ns.0, "python3", "-c", &py]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got = receive(&mut q, 17, 3, Duration::from_secs(3));
    let verdicts: Vec<_> = got.iter().map(|m| (m.rx_csum().ip, m.rx_csum().l4)).collect();
    assert_eq!(
        verdicts,
        vec![
            (CsumStatus::Good, CsumStatus::Good),
            (CsumStatus::Good, CsumStatus::Bad),
            (CsumStatus::Bad, CsumStatus::Good)
        ]
    );
    drop(got);
    drop(rst);
    port.stop();
}
