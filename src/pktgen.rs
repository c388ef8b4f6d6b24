//! `dpnode bench-gen`: a minimal DPDK packet generator and reflector for
//! benchmarks, run as a second DPDK process next to a node (over memif).
//!
//! `--mode icmp` sends ICMP echo requests to `--dst-ip` as fast as a window
//! of outstanding requests allows and counts the replies: the node's echo
//! rate. `--mode reflect` turns every frame around (MACs swapped) with no
//! other work: run the generator against it to get the raw rx/tx rate of the
//! port pair, the ceiling the node is compared with. `--mode udp` sends
//! datagrams from `--flows` source ports to `--dst-port` (the node's UDP
//! echo server) with the same window and counts the echoes: transactions
//! per second. The generator answers ARP for `--src-ip`, so the node can
//! resolve it before replying.
//!
//! It counts from `--warmup` seconds on (default 1) for `--seconds`, then
//! exits; `--queues N` polls N queue pairs (a memif peer of a node with N
//! workers), spreading what it sends over them. The device is DPDK's own
//! PMD (e.g. DPDK's `net_memif`, a third-party peer for the node's memif).
//! `--no-cleanup` exits without closing the device, like a killed peer.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use dataplane::eal::Eal;
use dataplane::mbuf::Burst;
use dataplane::mempool::Mempool;
use dataplane::port::{Port, PortConfig};
use wire::ethernet::{self, Address as Mac, EtherType};
use wire::ipv4::{self, Protocol};
use wire::{arp, icmp, udp};

struct Opts {
    vdev: String,
    mode: String,
    seconds: f64,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    window: u64,
    core: usize,
    flows: u16,
    dst_port: u16,
    size: usize,
    warmup: f64,
    queues: u16,
    no_huge: bool,
    no_cleanup: bool,
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        vdev: String::new(),
        mode: "icmp".into(),
        seconds: 5.0,
        src: Ipv4Addr::new(198, 18, 1, 1),
        dst: Ipv4Addr::new(198, 18, 1, 2),
        window: 512,
        core: 0,
        flows: 32,
        dst_port: 7,
        size: 64,
        warmup: 1.0,
        queues: 1,
        no_huge: false,
        no_cleanup: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--no-huge" {
            o.no_huge = true;
            continue;
        }
        if a == "--no-cleanup" {
            o.no_cleanup = true;
            continue;
        }
        let mut val = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--vdev" => o.vdev = val()?,
            "--mode" => o.mode = val()?,
            "--seconds" => o.seconds = val()?.parse().map_err(|_| "--seconds: not a number")?,
            "--src-ip" => o.src = val()?.parse().map_err(|_| "--src-ip: not an address")?,
            "--dst-ip" => o.dst = val()?.parse().map_err(|_| "--dst-ip: not an address")?,
            "--window" => o.window = val()?.parse().map_err(|_| "--window: not a number")?,
            "--core" => o.core = val()?.parse().map_err(|_| "--core: not a number")?,
            "--flows" => o.flows = val()?.parse().ok().filter(|&n| n > 0).ok_or("--flows: 1..=65535")?,
            "--dst-port" => o.dst_port = val()?.parse().map_err(|_| "--dst-port: not a port")?,
            "--size" => o.size = val()?.parse().ok().filter(|&n| (1..=1472).contains(&n)).ok_or("--size: 1..=1472")?,
            "--warmup" => {
                o.warmup = val()?.parse().ok().filter(|&s: &f64| (0.0..=60.0).contains(&s)).ok_or("--warmup: 0..=60")?
            }
            "--queues" => {
                o.queues = val()?.parse().ok().filter(|&n| (1..=64).contains(&n)).ok_or("--queues: 1..=64")?
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if o.vdev.is_empty() {
        return Err("--vdev is required".into());
    }
    if !["icmp", "reflect", "udp"].contains(&o.mode.as_str()) {
        return Err(format!("--mode {:?}: icmp, udp or reflect", o.mode));
    }
    Ok(o)
}

/// A UDP datagram to the node's echo port; the source port is set per flow.
fn udp_template(src_mac: Mac, o: &Opts) -> Vec<u8> {
    let mut f = vec![0u8; ethernet::HEADER_LEN + 20 + 8 + o.size];
    {
        let mut e = ethernet::Frame::new_unchecked(&mut f[..]);
        e.set_dst_addr(Mac::BROADCAST);
        e.set_src_addr(src_mac);
        e.set_ethertype(EtherType::Ipv4);
    }
    let ip = ipv4::Repr {
        src_addr: o.src,
        dst_addr: o.dst,
        next_header: Protocol::Udp,
        payload_len: 8 + o.size,
        hop_limit: 64,
    };
    ip.emit(&mut ipv4::Packet::new_unchecked(&mut f[14..34]));
    // Checksum 0: "none", allowed on IPv4, so flows differ only in the port.
    udp::Repr { src_port: 10000, dst_port: o.dst_port, payload_len: o.size }
        .emit(&mut udp::Packet::new_unchecked(&mut f[34..]));
    for (i, b) in f[42..].iter_mut().enumerate() {
        *b = i as u8;
    }
    f
}

/// Turns an ARP request for `ip` into our reply, in place; false if it is not one.
fn arp_answer(m: &mut dataplane::mbuf::Mbuf, mac: Mac, ip: std::net::Ipv4Addr) -> bool {
    let d = m.data_mut();
    let Ok(e) = ethernet::Frame::new_checked(&d[..]) else { return false };
    if e.ethertype() != EtherType::Arp || d.len() < 14 + 28 {
        return false;
    }
    let Ok(req) = arp::Packet::new_checked(&d[14..]).and_then(|p| arp::Repr::parse(&p)) else { return false };
    if req.operation != arp::Operation::Request || req.target_protocol_addr != ip {
        return false;
    }
    let reply = arp::Repr {
        operation: arp::Operation::Reply,
        source_hardware_addr: mac,
        source_protocol_addr: ip,
        target_hardware_addr: req.source_hardware_addr,
        target_protocol_addr: req.source_protocol_addr,
    };
    let mut e = ethernet::Frame::new_unchecked(&mut d[..]);
    e.set_dst_addr(req.source_hardware_addr);
    e.set_src_addr(mac);
    reply.emit(&mut arp::Packet::new_unchecked(&mut d[14..]));
    true
}

fn template(src_mac: Mac, o: &Opts) -> Vec<u8> {
    let payload = 56;
    let mut f = vec![0u8; ethernet::HEADER_LEN + 20 + 8 + payload];
    {
        let mut e = ethernet::Frame::new_unchecked(&mut f[..]);
        e.set_dst_addr(Mac::BROADCAST);
        e.set_src_addr(src_mac);
        e.set_ethertype(EtherType::Ipv4);
    }
    let ip = ipv4::Repr {
        src_addr: o.src,
        dst_addr: o.dst,
        next_header: Protocol::Icmp,
        payload_len: 8 + payload,
        hop_limit: 64,
    };
    ip.emit(&mut ipv4::Packet::new_unchecked(&mut f[14..34]));
    let mut ic = icmp::Packet::new_unchecked(&mut f[34..]);
    icmp::Repr::EchoRequest { ident: 0x4242, seq_no: 1, data_len: payload }.emit(&mut ic);
    ic.fill_checksum();
    f
}

/// Run the generator or reflector; returns the exit code.
pub fn main(args: &[String]) -> i32 {
    let o = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("dpnode bench-gen: {e}\nusage: dpnode bench-gen --vdev DEVARGS [--mode icmp|udp|reflect] [--seconds S] [--src-ip A] [--dst-ip A] [--window N] [--core N] [--flows N] [--dst-port P] [--size N] [--warmup S] [--queues N] [--no-huge] [--no-cleanup]");
            return 2;
        }
    };
    let device = o.vdev.split(',').next().unwrap_or("").to_string();
    // Hugepages when enough are free, unless told not to (tests on a shared
    // machine: another process may take them between the check and the EAL).
    let huge = !o.no_huge && crate::runtime::free_hugepage_mb() >= 256;
    let mut eal_args = vec![format!("--lcores=0@{}", o.core), "--no-telemetry".into(), "--no-pci".into()];
    eal_args.push("--log-level=lib.eal:warning".into());
    // As in the node: --in-memory needs hugepages; --no-huge takes --no-shconf.
    if huge {
        eal_args.push("--in-memory".into());
    } else {
        eal_args.extend(["--no-huge".to_string(), "--no-shconf".to_string()]);
    }
    eal_args.extend(["-m256".to_string(), format!("--vdev={}", o.vdev)]);
    let eal = match Eal::init(&eal_args) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("dpnode bench-gen: {e}");
            return 1;
        }
    };
    let pool = match Mempool::new("gen_pool", 8191, 256, -1) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("dpnode bench-gen: {e}");
            return 1;
        }
    };
    let pcfg = PortConfig { queues: o.queues, ..PortConfig::default() };
    let mut port = match Port::lookup(&device).and_then(|id| Port::start(id, &device, &pcfg, &pool)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("dpnode bench-gen: {e}");
            return 1;
        }
    };
    let mut queues = port.take_queues();
    // Wait for the link (memif connects asynchronously).
    let t0 = Instant::now();
    while !port.link().up && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(5));
    }
    if !port.link().up {
        eprintln!("dpnode bench-gen: link of {device} never came up");
        return 1;
    }
    let tpl = if o.mode == "udp" { udp_template(Mac(port.mac()), &o) } else { template(Mac(port.mac()), &o) };
    let my_mac = Mac(port.mac());
    let mut flow = 0u16;
    let mut rx = Burst::default();
    let mut txs: Vec<Burst> = queues.iter().map(|_| Burst::default()).collect();
    let (mut sent, mut received) = (0u64, 0u64);
    let warmup = Duration::from_secs_f64(o.warmup);
    let deadline = Duration::from_secs_f64(o.seconds);
    let mut qi = 0usize;
    let mut measure_start: Option<(Instant, u64, u64)> = None;
    let start = Instant::now();
    // Outstanding requests; lost replies are forgotten after a quiet spell
    // so the window never stalls.
    let mut inflight = 0u64;
    let mut last_rx = Instant::now();
    loop {
        let el = start.elapsed();
        if el >= deadline + warmup {
            break;
        }
        // Count after the warm-up (ARP resolved, caches warm).
        if measure_start.is_none() && el >= warmup {
            measure_start = Some((Instant::now(), sent, received));
        }
        // One queue pair per round, round robin.
        qi = (qi + 1) % queues.len();
        let q = &mut queues[qi];
        let tx = &mut txs[qi];
        let n = q.rx(&mut rx);
        if o.mode == "reflect" {
            for mut m in rx.drain() {
                let d = m.data_mut();
                if d.len() >= 12 {
                    let (a, b) = d.split_at_mut(6);
                    a.swap_with_slice(&mut b[..6]);
                }
                if tx.push(m).is_err() {
                    break;
                }
            }
            received += n as u64;
        } else {
            let mut answers = 0u64;
            for mut m in rx.drain() {
                if arp_answer(&mut m, my_mac, o.src) {
                    answers += 1;
                    let _ = tx.push(m);
                }
            }
            let n = n as u64 - answers;
            received += n;
            inflight = inflight.saturating_sub(n);
            if n > 0 {
                last_rx = Instant::now();
            } else if inflight > 0 && last_rx.elapsed() > Duration::from_millis(5) {
                inflight = 0;
                last_rx = Instant::now();
            }
            while inflight < o.window && !tx.is_full() {
                let Some(mut m) = pool.alloc() else { break };
                match m.append(tpl.len()) {
                    Some(b) => {
                        b.copy_from_slice(&tpl);
                        if o.mode == "udp" {
                            b[34..36].copy_from_slice(&(10000 + flow).to_be_bytes());
                            flow = (flow + 1) % o.flows;
                        }
                    }
                    None => break,
                }
                let _ = tx.push(m);
                sent += 1;
                inflight += 1;
            }
        }
        let s = q.tx(tx);
        if o.mode == "reflect" {
            sent += s as u64;
        } else {
            // Unsent frames are retried; they were counted when built.
            let _ = s;
        }
    }
    let (t, s0, r0) = measure_start.unwrap_or((start, 0, 0));
    let secs = t.elapsed().as_secs_f64();
    let rate = (received - r0) as f64 / secs;
    println!(
        "bench-gen mode={} device={} seconds={:.2} sent={} received={} rx_rate_pps={:.0} tx_rate_pps={:.0}",
        o.mode,
        device,
        secs,
        sent - s0,
        received - r0,
        rate,
        (sent - s0) as f64 / secs
    );
    if o.no_cleanup {
        // Vanish as a killed peer would (no DISCONNECT, no device
        // teardown). Also sidesteps DPDK 22.11 memif server teardown racing
        // its interrupt thread when a client reconnects at once; a server's
        // socket file is left behind.
        use std::io::Write;
        let _ = std::io::stdout().flush();
        // SAFETY: ends the process; nothing after runs.
        unsafe { libc::_exit(0) };
    }
    drop(txs);
    drop(rx);
    port.stop();
    drop(port);
    drop(pool);
    drop(eal);
    0
}
