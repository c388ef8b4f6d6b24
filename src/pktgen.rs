//! `dpnode bench-gen`: a minimal DPDK packet generator and reflector for
//! benchmarks, run as a second DPDK process next to a node (over memif).
//!
//! `--mode icmp` sends ICMP echo requests to `--dst-ip` as fast as a window
//! of outstanding requests allows and counts the replies: the node's echo
//! rate; `--mode icmp6` does the same with ICMPv6 echo requests from
//! `--src-ip6` to `--dst-ip6` (the node answers toward the frame's source
//! MAC, so no neighbour discovery is needed). `--mode reflect` turns every
//! frame around (MACs swapped) with no other work: run the generator
//! against it to get the raw rx/tx rate of the port pair, the ceiling the
//! node is compared with. `--mode udp` sends datagrams from `--flows`
//! source ports to `--dst-port` (the node's UDP echo server) with the same
//! window and counts the echoes: transactions per second. The generator
//! answers ARP for `--src-ip`, so the node can resolve it before replying.
//!
//! It counts from `--warmup` seconds on (default 1) for `--seconds`, then
//! exits; `--queues N` polls N queue pairs (a memif peer of a node with N
//! workers), spreading what it sends over them. The device is DPDK's own
//! PMD (e.g. DPDK's `net_memif`, a third-party peer for the node's memif).
//! `--no-cleanup` exits without closing the device, like a killed peer.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use dataplane::eal::Eal;
use dataplane::mbuf::Burst;
use dataplane::mempool::Mempool;
use dataplane::port::{Port, PortConfig};
use wire::ethernet::{self, Address as Mac, EtherType};
use wire::ipv4::{self, Protocol};
use wire::{arp, icmp, icmpv6, ipv6, udp};

/// What bench-gen does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// ICMP echo requests to `--dst-ip`, replies counted.
    Icmp,
    /// ICMPv6 echo requests to `--dst-ip6`, replies counted.
    Icmp6,
    /// Datagrams to `--dst-port` from `--flows` source ports, echoes counted.
    Udp,
    /// Every frame turned around (MACs swapped).
    Reflect,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Icmp => "icmp",
            Mode::Icmp6 => "icmp6",
            Mode::Udp => "udp",
            Mode::Reflect => "reflect",
        })
    }
}

/// Seconds of warm-up, 0..=60.
fn warmup_secs(s: &str) -> Result<f64, String> {
    s.parse::<f64>().ok().filter(|v| (0.0..=60.0).contains(v)).ok_or_else(|| format!("{s:?} is not 0..=60 seconds"))
}

/// Seconds to measure: a positive number.
fn positive_secs(s: &str) -> Result<f64, String> {
    s.parse::<f64>().ok().filter(|v| v.is_finite() && *v > 0.0).ok_or_else(|| format!("{s:?} is not a positive number"))
}

/// `dpnode bench-gen`'s options.
#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// DPDK device arguments of the port (e.g. net_memif0,role=client,socket=/tmp/m.sock).
    #[arg(long, value_name = "DEVARGS")]
    pub vdev: String,
    /// What to do.
    #[arg(long, value_enum, default_value_t = Mode::Icmp)]
    pub mode: Mode,
    /// Seconds to measure (after the warm-up).
    #[arg(long, default_value_t = 5.0, value_parser = positive_secs)]
    pub seconds: f64,
    /// Our address (answered in ARP).
    #[arg(long = "src-ip", default_value = "198.18.1.1")]
    pub src: Ipv4Addr,
    /// The node's address.
    #[arg(long = "dst-ip", default_value = "198.18.1.2")]
    pub dst: Ipv4Addr,
    /// Our IPv6 address (`--mode icmp6`).
    #[arg(long = "src-ip6", default_value = "fd00:198:18:1::1")]
    pub src6: Ipv6Addr,
    /// The node's IPv6 address (`--mode icmp6`).
    #[arg(long = "dst-ip6", default_value = "fd00:198:18:1::2")]
    pub dst6: Ipv6Addr,
    /// Requests or datagrams outstanding at most.
    #[arg(long, default_value_t = 512)]
    pub window: u64,
    /// Core to run on.
    #[arg(long, default_value_t = 0)]
    pub core: usize,
    /// UDP source ports (flows).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..))]
    pub flows: u16,
    /// UDP destination port (the node's echo server).
    #[arg(long = "dst-port", default_value_t = 7)]
    pub dst_port: u16,
    /// Payload bytes.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=1472))]
    pub size: u16,
    /// Seconds before counting starts.
    #[arg(long, default_value_t = 1.0, value_parser = warmup_secs)]
    pub warmup: f64,
    /// Queue pairs to poll (a memif peer of a node with that many workers).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub queues: u16,
    /// Never use hugepages.
    #[arg(long = "no-huge")]
    pub no_huge: bool,
    /// Exit without closing the device, like a killed peer.
    #[arg(long = "no-cleanup")]
    pub no_cleanup: bool,
}

/// A UDP datagram to the node's echo port; the source port is set per flow.
fn udp_template(src_mac: Mac, o: &Opts) -> Vec<u8> {
    let mut f = vec![0u8; ethernet::HEADER_LEN + 20 + 8 + usize::from(o.size)];
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
        payload_len: 8 + usize::from(o.size),
        hop_limit: 64,
    };
    ip.emit(&mut ipv4::Packet::new_unchecked(&mut f[14..34]));
    // Checksum 0: "none", allowed on IPv4, so flows differ only in the port.
    udp::Repr { src_port: 10000, dst_port: o.dst_port, payload_len: usize::from(o.size) }
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

/// An ICMPv6 echo request from `--src-ip6` to `--dst-ip6`, 56 data bytes,
/// checksum filled.
fn template6(src_mac: Mac, o: &Opts) -> Vec<u8> {
    let payload = 56;
    let l4 = icmpv6::HEADER_LEN + payload;
    let mut f = vec![0u8; ethernet::HEADER_LEN + ipv6::HEADER_LEN + l4];
    {
        let mut e = ethernet::Frame::new_unchecked(&mut f[..]);
        e.set_dst_addr(Mac::BROADCAST);
        e.set_src_addr(src_mac);
        e.set_ethertype(EtherType::Ipv6);
    }
    let ip = ipv6::Repr {
        src_addr: o.src6,
        dst_addr: o.dst6,
        next_header: ipv6::next_header::ICMPV6,
        payload_len: l4,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
    };
    let (l2, l3) = (ethernet::HEADER_LEN, ethernet::HEADER_LEN + ipv6::HEADER_LEN);
    ip.emit(&mut ipv6::Packet::new_unchecked(&mut f[l2..l3]));
    for (i, b) in f[l3 + icmpv6::HEADER_LEN..].iter_mut().enumerate() {
        *b = i as u8;
    }
    let mut ic = icmpv6::Packet::new_unchecked(&mut f[l3..]);
    icmpv6::Repr::EchoRequest { ident: 0x4242, seq_no: 1, data_len: payload }.emit(&o.src6, &o.dst6, &mut ic);
    ic.fill_checksum(&o.src6, &o.dst6);
    f
}

/// Runs the generator or reflector; prints its counts (an error says what failed).
pub fn run(o: &Opts) -> Result<(), String> {
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
        Err(e) => return Err(e.to_string()),
    };
    let pool = match Mempool::new("gen_pool", 8191, 256, -1) {
        Ok(p) => p,
        Err(e) => return Err(e.to_string()),
    };
    let pcfg = PortConfig { queues: o.queues, ..PortConfig::default() };
    let mut port = match Port::lookup(&device).and_then(|id| Port::start(id, &device, &pcfg, &pool)) {
        Ok(p) => p,
        Err(e) => return Err(e.to_string()),
    };
    let mut queues = port.take_queues();
    // Wait for the link (memif connects asynchronously).
    let t0 = Instant::now();
    while !port.link().up && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(5));
    }
    if !port.link().up {
        return Err(format!("link of {device} never came up"));
    }
    let tpl = match o.mode {
        Mode::Udp => udp_template(Mac(port.mac()), o),
        Mode::Icmp6 => template6(Mac(port.mac()), o),
        Mode::Icmp | Mode::Reflect => template(Mac(port.mac()), o),
    };
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
        if o.mode == Mode::Reflect {
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
                        if o.mode == Mode::Udp {
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
        if o.mode == Mode::Reflect {
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
    Ok(())
}

#[cfg(test)]
mod test {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        o: Opts,
    }

    /// The icmp6 frame: Ethernet, IPv6 to `--dst-ip6` from `--src-ip6`,
    /// an echo request whose checksum wire's ICMPv6 parser accepts.
    #[test]
    fn icmp6_frame() {
        let cli = Cli::parse_from([
            "x",
            "--vdev",
            "net_null0",
            "--mode",
            "icmp6",
            "--src-ip6",
            "fd00:1::1",
            "--dst-ip6",
            "fd00:1::2",
        ]);
        let o = cli.o;
        assert_eq!(o.mode, Mode::Icmp6);
        let mac = Mac([2, 0, 0, 0, 0, 1]);
        let f = template6(mac, &o);
        assert_eq!(f.len(), 14 + 40 + 8 + 56);
        let e = ethernet::Frame::new_checked(&f[..]).unwrap();
        assert_eq!((e.ethertype(), e.src_addr()), (EtherType::Ipv6, mac));
        let ip = ipv6::Packet::new_checked(&f[14..]).unwrap();
        let r = ipv6::Repr::parse(&ip).unwrap();
        let (src, dst): (Ipv6Addr, Ipv6Addr) = ("fd00:1::1".parse().unwrap(), "fd00:1::2".parse().unwrap());
        assert_eq!((r.src_addr, r.dst_addr, r.next_header, r.payload_len), (src, dst, ipv6::next_header::ICMPV6, 64));
        let ic = icmpv6::Packet::new_checked(&f[54..]).unwrap();
        assert!(ic.verify_checksum(&src, &dst));
        assert_ne!(ic.checksum(), 0);
        assert_eq!(
            icmpv6::Repr::parse(&ic, &src, &dst).unwrap(),
            icmpv6::Repr::EchoRequest { ident: 0x4242, seq_no: 1, data_len: 56 }
        );
        // The checksum covers the addresses: another destination refuses it.
        assert!(!ic.verify_checksum(&src, &"fd00:1::3".parse().unwrap()));
        assert_eq!(&f[62..66], &[0, 1, 2, 3]);
    }
}
