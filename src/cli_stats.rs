//! The node's ports and counters for the CLI: `show interface`, `show
//! errors` and `show counters`. Each command copies what it shows into a
//! plain-data snapshot (serde, for `dpnode ctl --json` and `/metrics`) and
//! formats its text from that snapshot.

use std::fmt::Write as _;

use dataplane::port::{PortStats, RetaSource};
use net::l3::counters::Counter;
use serde::Serialize;

use crate::cli::CliError;
use crate::runtime::Runtime;

/// One port, as `show interface` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct InterfaceSnapshot {
    /// Its name in the config.
    pub name: String,
    /// Its index (sw_if_index).
    pub index: usize,
    /// Link up.
    pub up: bool,
    /// MAC address.
    pub mac: String,
    /// IPv4 address and prefix length, if it has one.
    pub ip4: Option<String>,
    /// The link-local IPv6 address (derived from the MAC).
    pub ip6_link_local: String,
    /// Configured IPv6 addresses and their DAD state.
    pub ip6: Vec<Ip6AddressSnapshot>,
    /// Frames received (the PMD's count).
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Frames missed because the rx ring was full.
    pub rx_missed: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Transmit errors.
    pub tx_errors: u64,
    /// Receives that found no mbuf.
    pub rx_nombuf: u64,
    /// DPDK device name.
    pub device: String,
    /// PMD driver.
    pub driver: String,
    /// DPDK port id.
    pub port: u16,
    /// Rx/tx queue pairs.
    pub queues: u16,
    /// RSS on.
    pub rss: bool,
    /// Link speed, Mb/s.
    pub speed_mbps: u32,
    /// Checksum offloads in use.
    pub offloads: String,
    /// The IP MTU the node runs the port with.
    pub mtu: u16,
    /// Who cuts large TCP segments: `tso` (the NIC), `gso` (software), `off`.
    pub segmentation: &'static str,
    /// Most payload bytes of one large TCP segment (0 when off).
    pub large_max: u32,
    /// The RSS redirection table.
    pub reta: Reta,
    /// Link state changes seen.
    pub link_changes: u64,
    /// The last one (peer, or why it went down); empty if none.
    pub last_change: String,
    /// The tx gate is open (the workers transmit).
    pub gate_open: bool,
    /// Times the port was probed again after its device vanished.
    pub reprobes: u64,
    /// Frames dropped because the link was down (summed over ports and workers).
    pub tx_dropped_while_down: u64,
    /// The memif side of a memif port.
    pub memif: Option<MemifSnapshot>,
}

impl InterfaceSnapshot {
    /// Everything the NIC dropped: rx missed + rx errors + tx errors + rx no mbuf.
    pub fn drops(&self) -> u64 {
        self.rx_missed + self.rx_errors + self.tx_errors + self.rx_nombuf
    }
}

/// A configured IPv6 address, as `show interface` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Ip6AddressSnapshot {
    /// Address and prefix length.
    pub address: String,
    /// `tentative`, `preferred` or `duplicate`.
    pub state: &'static str,
}

/// Where a port's RSS redirection table came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "source", rename_all = "kebab-case")]
pub enum Reta {
    /// No RSS.
    Off,
    /// The node programmed it.
    Programmed {
        /// Entries.
        entries: usize,
    },
    /// Read back from the PMD.
    Queried {
        /// Entries.
        entries: usize,
    },
    /// The PMD steers flows itself.
    Unknown,
}

/// A memif port's role, socket and peer.
#[derive(Debug, Clone, Serialize)]
pub struct MemifSnapshot {
    /// `server` or `client`.
    pub role: &'static str,
    /// Interface id.
    pub id: u32,
    /// Control socket path.
    pub socket: String,
    /// An abstract socket (`@` in the text).
    pub abstract_socket: bool,
    /// A peer is connected.
    pub connected: bool,
    /// The peer's name, or why there is none.
    pub peer: String,
    /// Connections made.
    pub connects: u64,
    /// Bad descriptors from the peer.
    pub bad_descriptors: u64,
    /// Received frames too big for an mbuf.
    pub rx_too_big: u64,
}

/// `show interface [NAME]`'s snapshot.
pub fn interfaces_snapshot(rt: &Runtime, rest: &[&str]) -> Result<Vec<InterfaceSnapshot>, CliError> {
    let name = match rest {
        [] => None,
        [name] => Some(*name),
        _ => return Err(CliError("usage: show interface [NAME]".into())),
    };
    let net = &rt.ctx.barrier.tables().net;
    let tx_down: u64 = rt.workers.iter().map(|w| w.counters.get(Counter::TxLinkDown)).sum();
    let mut out = Vec::new();
    for (i, (ifc, port)) in net.interfaces.iter().zip(&rt.ports).enumerate() {
        if name.is_some_and(|n| n != ifc.name) {
            continue;
        }
        let s = port.stats();
        let link = port.link();
        let reta = match (port.reta_source(), port.rss_table()) {
            (RetaSource::Off, _) | (_, None) if !port.rss() => Reta::Off,
            (RetaSource::Programmed, Some(t)) => Reta::Programmed { entries: t.reta().size() },
            (RetaSource::Queried, Some(t)) => Reta::Queried { entries: t.reta().size() },
            _ => Reta::Unknown,
        };
        let memif = match (port.memif_port(), port.memif_stats()) {
            (Some(m), Some(st)) => {
                let c = m.config();
                Some(MemifSnapshot {
                    role: if c.role == dataplane::memif::proto::Role::Server { "server" } else { "client" },
                    id: c.id,
                    socket: c.socket.clone(),
                    abstract_socket: c.abstract_socket,
                    connected: m.connected(),
                    peer: m.peer().to_string(),
                    connects: m.connects(),
                    bad_descriptors: st.bad_desc,
                    rx_too_big: st.rx_too_big,
                })
            }
            _ => None,
        };
        out.push(InterfaceSnapshot {
            name: ifc.name.clone(),
            index: i,
            up: link.up,
            mac: ifc.mac.to_string(),
            ip4: ifc.ip4.map(|c| c.to_string()),
            ip6_link_local: wire::ipv6::link_local_from_mac(ifc.mac).to_string(),
            ip6: ifc
                .ip6
                .iter()
                .map(|a| Ip6AddressSnapshot { address: a.cidr.to_string(), state: a.dad.get().as_str() })
                .collect(),
            rx_packets: s.rx_packets,
            rx_bytes: s.rx_bytes,
            tx_packets: s.tx_packets,
            tx_bytes: s.tx_bytes,
            rx_missed: s.rx_missed,
            rx_errors: s.rx_errors,
            tx_errors: s.tx_errors,
            rx_nombuf: s.rx_nombuf,
            device: port.name().to_string(),
            driver: port.driver().to_string(),
            port: port.id(),
            queues: port.queues(),
            rss: port.rss(),
            speed_mbps: link.speed_mbps,
            offloads: port.offloads().to_string(),
            mtu: port.mtu(),
            segmentation: port.segmentation(),
            large_max: if port.segmentation() == "off" { 0 } else { port.large_max() },
            reta,
            link_changes: port.link_changes(),
            last_change: port.last_change().to_string(),
            gate_open: port.gate_open(),
            reprobes: port.reprobes(),
            tx_dropped_while_down: tx_down,
            memif,
        });
    }
    match (name, out.is_empty()) {
        (Some(n), true) => Err(CliError(format!("no interface named {n:?}"))),
        _ => Ok(out),
    }
}

/// The text of `show interface`, from its snapshot.
pub fn interfaces_text(ifs: &[InterfaceSnapshot]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<10} {:<3} {:<6} {:<17} {:<18} {:>10} {:>12} {:>10} {:>12} {:>8}",
        "Name", "Idx", "State", "MAC", "Address", "RxPackets", "RxBytes", "TxPackets", "TxBytes", "Drops"
    );
    for i in ifs {
        let _ = writeln!(
            out,
            "{:<10} {:<3} {:<6} {:<17} {:<18} {:>10} {:>12} {:>10} {:>12} {:>8}",
            i.name,
            i.index,
            if i.up { "up" } else { "down" },
            i.mac,
            i.ip4.as_deref().unwrap_or("-"),
            i.rx_packets,
            i.rx_bytes,
            i.tx_packets,
            i.tx_bytes,
            i.drops()
        );
        let _ = writeln!(
            out,
            "           device {} driver {} port {} queues {} rss {} speed {} Mb/s; rx-missed {} rx-errors {} tx-errors {} rx-nombuf {}",
            i.device,
            i.driver,
            i.port,
            i.queues,
            if i.rss { "on" } else { "off" },
            i.speed_mbps,
            i.rx_missed,
            i.rx_errors,
            i.tx_errors,
            i.rx_nombuf
        );
        let mut ip6 = format!("           ip6 {}/64 (link-local)", i.ip6_link_local);
        for a in &i.ip6 {
            let _ = write!(ip6, ", {} ({})", a.address, a.state);
        }
        let _ = writeln!(out, "{ip6}");
        let reta = match i.reta {
            Reta::Off => "-".to_string(),
            Reta::Programmed { entries } => format!("{entries} entries, programmed"),
            Reta::Queried { entries } => format!("{entries} entries, read from the PMD"),
            Reta::Unknown => "unknown (the PMD steers flows itself; flow queue not predictable)".to_string(),
        };
        let _ = writeln!(out, "           offloads {}; reta {}; mtu {}", i.offloads, reta, i.mtu);
        let _ = match i.segmentation {
            "off" => writeln!(out, "           tcp segmentation off (one mss per segment)"),
            s => writeln!(out, "           tcp segmentation {s} (large segments up to {} bytes)", i.large_max),
        };
        let _ = writeln!(
            out,
            "           link changes {} (last: {}), gate {}, re-probes {}, tx dropped while down {} (all ports)",
            i.link_changes,
            if i.last_change.is_empty() { "-" } else { &i.last_change },
            if i.gate_open { "open" } else { "closed" },
            i.reprobes,
            i.tx_dropped_while_down
        );
        if let Some(m) = &i.memif {
            let _ = writeln!(
                out,
                "           memif {} id {} socket {}{}; {} {}; connects {}; bad descriptors {} rx too big {}",
                m.role,
                m.id,
                if m.abstract_socket { "@" } else { "" },
                m.socket,
                if m.connected { "peer" } else { "down:" },
                m.peer,
                m.connects,
                m.bad_descriptors,
                m.rx_too_big
            );
        }
    }
    out
}

/// One counter: its CLI name (the reason), its value and whether it counts an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CounterValue {
    /// The name `show counters` prints.
    pub name: &'static str,
    /// Its value.
    pub value: u64,
    /// It counts dropped or refused packets (`show errors`).
    pub error: bool,
}

/// `show counters`' snapshot: every counter of every worker (zeros too), in display order.
pub fn counters_snapshot(rt: &Runtime) -> Vec<Vec<CounterValue>> {
    rt.workers
        .iter()
        .map(|w| w.counters().map(|(name, value, error)| CounterValue { name, value, error }).collect())
        .collect()
}

/// The text of `show counters` (the non-zero ones), from its snapshot.
pub fn counters_text(workers: &[Vec<CounterValue>]) -> String {
    let mut out = String::new();
    for (i, cs) in workers.iter().enumerate() {
        let _ = writeln!(out, "worker {i}:");
        for c in cs.iter().filter(|c| c.value > 0) {
            let _ = writeln!(out, "{:>12}  {}", c.value, c.name);
        }
    }
    out
}

/// What a port's PMD dropped on receive (`rte_eth_stats`; not cleared by `clear errors`).
#[derive(Debug, Clone, Serialize)]
pub struct NicDrops {
    /// The DPDK device name.
    pub port: String,
    /// Frames missed because the rx ring was full.
    pub rx_missed: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Receives that found no mbuf.
    pub rx_nombuf: u64,
}

impl NicDrops {
    fn new(port: &str, s: &PortStats) -> Self {
        NicDrops { port: port.into(), rx_missed: s.rx_missed, rx_errors: s.rx_errors, rx_nombuf: s.rx_nombuf }
    }
}

/// `show errors`' snapshot: every error counter (zeros too).
#[derive(Debug, Clone, Serialize)]
pub struct ErrorsSnapshot {
    /// The workers' error counters, summed over the workers, in display order.
    pub workers: Vec<CounterValue>,
    /// Each port's NIC drops.
    pub nics: Vec<NicDrops>,
    /// The main thread's: the API socket, external apps' queues, the CLI socket and the metrics endpoint.
    pub main: Vec<CounterValue>,
}

/// `show errors`' snapshot.
pub fn errors_snapshot(rt: &Runtime) -> ErrorsSnapshot {
    // Summed over the workers, in the order every worker lists them.
    let mut totals: Vec<CounterValue> = Vec::new();
    for cs in counters_snapshot(rt) {
        if totals.is_empty() {
            totals = cs;
        } else {
            for (t, c) in totals.iter_mut().zip(cs) {
                t.value += c.value;
            }
        }
    }
    totals.retain(|c| c.error);
    let nics = rt.ports.iter().map(|p| NicDrops::new(p.name(), &p.stats())).collect();
    let api_limits = rt.api.as_ref().map(|a| a.limit_counters().snapshot()).unwrap_or_default();
    let main = rt
        .api_stats
        .snapshot()
        .into_iter()
        .chain(api_limits)
        .chain(rt.cli_counters.snapshot())
        .chain(rt.metrics.counters.snapshot())
        .filter(|(_, _, error)| *error)
        .map(|(name, value, error)| CounterValue { name, value, error })
        .collect();
    ErrorsSnapshot { workers: totals, nics, main }
}

/// The text of `show errors` (the non-zero ones), from its snapshot.
pub fn errors_text(e: &ErrorsSnapshot) -> String {
    let mut out = format!("{:>12}  {}\n", "Count", "Reason");
    for c in e.workers.iter().filter(|c| c.value > 0) {
        let _ = writeln!(out, "{:>12}  {}", c.value, c.name);
    }
    for n in &e.nics {
        nic_errors(&mut out, n);
    }
    for c in e.main.iter().filter(|c| c.value > 0) {
        let _ = writeln!(out, "{:>12}  {}", c.value, c.name);
    }
    out
}

/// The receive drops a port's PMD counted, as `show errors` lines.
fn nic_errors(out: &mut String, n: &NicDrops) {
    for (v, what) in
        [(n.rx_missed, "rx missed (rx ring full)"), (n.rx_errors, "rx errors"), (n.rx_nombuf, "rx no mbuf")]
    {
        if v > 0 {
            let _ = writeln!(out, "{v:>12}  port {}: {what}", n.port);
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn nic_errors_list_the_pmd_rx_drops_that_happened() {
        let s = PortStats { rx_missed: 3, rx_errors: 0, rx_nombuf: 7, ..Default::default() };
        let mut out = String::new();
        nic_errors(&mut out, &NicDrops::new("net_tap0", &s));
        assert_eq!(
            out,
            "           3  port net_tap0: rx missed (rx ring full)\n           7  port net_tap0: rx no mbuf\n"
        );
        let mut out = String::new();
        nic_errors(&mut out, &NicDrops::new("net_tap0", &PortStats::default()));
        assert!(out.is_empty());
    }
}
