//! The CLI: commands served on the node's Unix socket (`dpnode ctl`).
//!
//! Wire protocol (one command per connection): the client sends the command
//! words on one line; the node answers with a status line (`ok` or `error`)
//! followed by the text, then closes. Commands run on the main thread; ones
//! that need worker state ask the workers by RPC. Connections are served by
//! [`crate::cli_server`] without blocking; commands that take a while
//! (`ping`, `test echo client`) are [`Job`]s the main loop advances.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use net::control::worker::LoopCounter;
use net::fault::FaultCounter;
use net::fault::{Direction, FaultConfig};
use net::l3::counters::Counter;
use net::tables::{PingReply, PingWaiter};

use crate::cli_stats;
use crate::runtime::Runtime;

/// The commands, for `help` and for unknown-command errors.
pub const HELP: &str = "\
commands:
  show interface            ports: state, MAC, addresses, rx/tx packets, bytes, drops,
                            link changes and the last one, memif peer
  set interface state NAME up|down
                            bring a memif interface down (drop the peer) or up
  show errors               drop counters by cause, summed over workers
  show counters             every counter, per worker
  clear errors              zero all counters
  show threads              main thread and workers: core, lcore, packets
  show runtime              per worker: loops/s, packets per rx burst, busy/polling/sleeping
                            time, ns per packet in each loop stage
  clear runtime             show runtime counts from now
  show ip arp               ARP entries: static ones, then every worker's cache
  set ip neighbor NAME IP MAC [static]
                            static neighbour entry for every worker (never expires)
  del ip neighbor NAME IP   remove one (the address is resolved by ARP again)
  show ip route             the route table
  show ip6 route            the IPv6 route table (connected prefixes, [[route6]])
  show ip6 neighbors        IPv6 neighbours: static entries, then every worker's ND cache with states
  set ip6 neighbor NAME IP MAC [static]
                            static IPv6 neighbour for every worker (never expires, never solicited)
  del ip6 neighbor NAME IP  remove one (the address is resolved by NDP again)
  show buffers              mbuf pool usage
  show version              build facts
  ping ADDR [count N] [size N] [interval SECONDS]
                            ADDR: IPv4, IPv6, or link-local IPv6 as fe80::1%NAME
                            (runs as a job: other commands are served meanwhile)
  show cli                  CLI socket: limits, connections, jobs
  show fault                fault injection settings and counts
  show metrics              the Prometheus endpoint ([metrics] listen) and what it did
  set fault [off] [drop PCT] [duplicate PCT] [reorder PCT] [direction rx|tx|both]
            [seed N] [hold MICROSECONDS]
                            change fault injection on every worker (unnamed
                            settings keep their values; off zeroes the rates)
  pcap trace [rx] [tx] [drop] [interface NAME|any] [max N] [file PATH] [snaplen N]
                            capture frames to a pcapng file (max 10000, snaplen
                            2048, file /tmp/dpnode.pcapng unless given)
  pcap trace status | off   what it took so far | stop and write the file
  help                      this text";

fn help() -> String {
    format!("{HELP}\n{}", crate::cli_session::HELP)
}

/// A command failed: the text tells the user why.
pub struct CliError(pub String);

impl From<String> for CliError {
    fn from(s: String) -> Self {
        CliError(s)
    }
}

/// A command's answer: its text, or the error it reports.
pub type CliResult = Result<String, CliError>;

fn err<T>(msg: impl Into<String>) -> Result<T, CliError> {
    Err(CliError(msg.into()))
}

/// A command that takes a while (`ping`, `test echo client`): the main loop
/// polls it every round until it has its answer, so it never holds the main
/// thread.
pub trait Job {
    /// Advances the job without blocking; its answer once it is done.
    fn poll(&mut self, rt: &mut Runtime) -> Option<CliResult>;
    /// Stops it early (its client went away, or the node stops): frees what it holds.
    fn cancel(&mut self, rt: &mut Runtime);
}

/// What a command gives: its answer now, or a job that will have it.
pub enum Outcome {
    /// The answer.
    Done(CliResult),
    /// A job to advance until it answers.
    Job(Box<dyn Job>),
}

/// Runs one command line: long ones start a job, the rest answer now.
pub fn dispatch(rt: &mut Runtime, words: &[&str]) -> Outcome {
    let started = match words {
        ["ping", rest @ ..] => ping(rt, rest).map(|j| Box::new(j) as Box<dyn Job>),
        ["test", "echo", "client", rest @ ..] => crate::cli_session::test_echo_client(rt, rest),
        ["pcap", "trace", "off"] => crate::pcap::off_job(rt),
        [JSON, rest @ ..] => return Outcome::Done(json(rt, rest)),
        _ => return Outcome::Done(execute(rt, words)),
    };
    match started {
        Ok(job) => Outcome::Job(job),
        Err(e) => Outcome::Done(Err(e)),
    }
}

/// The first word of a command line that asks for JSON (`dpnode ctl --json ...` sends it).
pub const JSON: &str = "--json";

/// The commands that answer in JSON too.
pub const JSON_COMMANDS: &str = "show interface [NAME], show errors, show counters, show session [verbose], \
                                 show app [server|client|verbose|ns|INDEX [verbose]], show tcp stats, show tls, show quic, show ip arp, \
                                 show ip6 neighbors, pcap trace status, show runtime";

/// `--json WORDS`: the snapshot that command's text is made from, as JSON.
pub fn json(rt: &mut Runtime, words: &[&str]) -> CliResult {
    use crate::cli_session as s;
    fn to_json<T: serde::Serialize>(v: &T) -> CliResult {
        let mut text = serde_json::to_string_pretty(v).map_err(|e| CliError(format!("--json: {e}")))?;
        text.push('\n');
        Ok(text)
    }
    match words {
        ["show", "interface" | "int" | "interfaces", rest @ ..] => to_json(&cli_stats::interfaces_snapshot(rt, rest)?),
        ["show", "errors"] => to_json(&cli_stats::errors_snapshot(rt)),
        ["show", "counters"] => to_json(&cli_stats::counters_snapshot(rt)),
        ["show", "session", rest @ ..] => to_json(&s::sessions_view(rt, rest)?),
        ["show", "app", rest @ ..] => to_json(&s::app_view(rt, rest)?),
        ["show", "tcp", "stats"] => to_json(&s::tcp_stats_snapshot(rt)),
        ["show", "tls"] => to_json(&s::tls_stats_snapshot(rt)),
        ["show", "quic"] => to_json(&crate::cli_quic::quic_stats_snapshot(rt)),
        ["show", "runtime"] => to_json(&crate::cli_runtime::snapshot(rt)),
        ["pcap", "trace", "status"] => to_json(&crate::pcap::status(rt)),
        ["show", "ip", "arp" | "neighbor" | "neighbors"] => to_json(&arp_snapshot(rt)),
        ["show", "ip6", "neighbors" | "neighbours" | "neighbor" | "neigh"] => to_json(&neighbors6_snapshot(rt)),
        _ => err(format!("--json: not available for {:?}; it is for: {JSON_COMMANDS}", words.join(" "))),
    }
}

/// Run one command.
pub fn execute(rt: &mut Runtime, words: &[&str]) -> CliResult {
    match words {
        [] => err(format!("empty command\n{}", help())),
        ["help"] | ["?"] => Ok(help()),
        ["show", "app", rest @ ..] => crate::cli_session::show_app(rt, rest),
        ["show", "session", rest @ ..] => crate::cli_session::show_session(rt, rest),
        ["show", "api", rest @ ..] => crate::cli_session::show_api(rt, rest),
        ["show", "tcp", "stats"] => crate::cli_session::show_tcp_stats(rt),
        ["show", "tls"] => crate::cli_session::show_tls(rt),
        ["show", "quic"] => crate::cli_quic::show_quic(rt),
        ["app", rest @ ..] => crate::cli_session::app(rt, rest),
        ["test", "echo", rest @ ..] => crate::cli_session::test_echo(rt, rest),
        ["test", "http", rest @ ..] => crate::cli_session::test_http(rt, rest),
        ["show", "interface" | "int" | "interfaces", rest @ ..] => {
            cli_stats::interfaces_snapshot(rt, rest).map(|s| cli_stats::interfaces_text(&s))
        }
        ["set", "interface", "state", name, state @ ("up" | "down")] => {
            rt.set_interface_state(name, *state == "up").map(|()| String::new()).map_err(CliError)
        }
        ["show", "errors"] => Ok(cli_stats::errors_text(&cli_stats::errors_snapshot(rt))),
        ["show", "counters"] => Ok(cli_stats::counters_text(&cli_stats::counters_snapshot(rt))),
        ["clear", "errors" | "counters"] => {
            rt.workers.iter().for_each(|w| w.clear_counters());
            Ok(String::new())
        }
        ["show", "threads"] => Ok(show_threads(rt)),
        ["show", "runtime"] => Ok(crate::cli_runtime::text(&crate::cli_runtime::snapshot(rt))),
        ["clear", "runtime"] => {
            crate::cli_runtime::clear(rt);
            Ok(String::new())
        }
        ["show", "ip", "arp" | "neighbor" | "neighbors"] => Ok(arp_text(&arp_snapshot(rt))),
        ["set", "ip", "neighbor", rest @ ..] => set_neighbor(rt, rest),
        ["del", "ip", "neighbor", rest @ ..] => match rest {
            [name, ip] => {
                rt.del_neighbor(name, ip).map(|_| String::new()).map_err(|e| CliError(format!("del ip neighbor: {e}")))
            }
            _ => err("usage: del ip neighbor NAME IP"),
        },
        ["show", "ip", "route" | "fib"] => Ok(show_route(rt)),
        ["show", "ip6", "route" | "fib"] => Ok(show_route6(rt)),
        ["show", "ip6", "neighbors" | "neighbours" | "neighbor" | "neigh"] => {
            Ok(neighbors6_text(&neighbors6_snapshot(rt)))
        }
        ["set", "ip6", "neighbor", rest @ ..] => set_neighbor6(rt, rest),
        ["del", "ip6", "neighbor", rest @ ..] => match rest {
            [name, ip] => rt
                .del_neighbor6(name, ip)
                .map(|_| String::new())
                .map_err(|e| CliError(format!("del ip6 neighbor: {e}"))),
            _ => err("usage: del ip6 neighbor NAME IP"),
        },
        ["show", "buffers"] => {
            Ok(format!("pool dpn_pool: {} in use, {} available\n", rt.mbufs_in_use(), rt.mbufs_available()))
        }
        ["show", "version"] => Ok(format!(
            "dpnode {} (git {}), DPDK {}\n",
            env!("CARGO_PKG_VERSION"),
            env!("DPNODE_GIT_REV"),
            dpdk_sys::DPDK_VERSION
        )),
        ["show", "cli"] => Ok(show_cli(rt)),
        ["show", "metrics"] => Ok(show_metrics(rt)),
        ["show", "fault"] => Ok(show_fault(rt)),
        ["set", "fault", rest @ ..] => set_fault(rt, rest),
        ["pcap", "trace", rest @ ..] => crate::pcap::trace(rt, rest).map_err(CliError),
        _ => err(format!("unknown command: {:?}\n{}", words.join(" "), help())),
    }
}

fn show_threads(rt: &Runtime) -> String {
    let st = rt.ctx.barrier.stats();
    let mut out = format!(
        "{:<4} {:<10} {:<6} {:>12} {:>12} {:>12} {:>10}\n",
        "ID", "Name", "Core", "RxPackets", "TxPackets", "IdleSleeps", "Sessions"
    );
    let _ = writeln!(out, "{:<4} {:<10} {:<6} {:>12} {:>12} {:>12} {:>10}", 0, "main", "any", "-", "-", "-", "-");
    for (i, w) in rt.workers.iter().enumerate() {
        let _ = writeln!(
            out,
            "{:<4} {:<10} {:<6} {:>12} {:>12} {:>12} {:>10}",
            i + 1,
            format!("worker{i}"),
            w.core,
            w.counters.get(Counter::RxPackets),
            w.counters.get(Counter::TxPackets),
            w.poll.get(LoopCounter::IdleSleeps),
            w.sessions.sessions.load(std::sync::atomic::Ordering::Relaxed)
        );
    }
    let _ = writeln!(
        out,
        "barrier: {} syncs, last wait {} ns, max wait {} ns; idle mode {:?}; hugepages {}; uptime {:.0} s",
        st.syncs,
        st.last_wait_ns,
        st.max_wait_ns,
        rt.cfg.idle.mode,
        if rt.hugepages { "yes" } else { "no (--no-huge)" },
        rt.started.elapsed().as_secs_f64()
    );
    out
}

/// One line of `show ip arp`.
#[derive(serde::Serialize)]
pub struct ArpEntry {
    /// The worker whose cache holds it; `None` for a static entry (every worker's).
    pub worker: Option<usize>,
    /// The neighbour's address.
    pub ip: Ipv4Addr,
    /// Its MAC.
    pub mac: String,
    /// The interface.
    pub interface: String,
    /// Seconds until it expires; `None` for a static entry (never).
    pub expires_s: Option<u64>,
    /// `static` or `dynamic`.
    pub kind: &'static str,
}

/// Static entries (from the shared tables), then each worker's cache.
fn arp_snapshot(rt: &mut Runtime) -> Vec<ArpEntry> {
    let net = &rt.ctx.barrier.tables().net;
    let names: Vec<String> = net.interfaces.iter().map(|i| i.name.clone()).collect();
    let name = |i: usize| names.get(i).cloned().unwrap_or_else(|| "?".into());
    let mut out: Vec<ArpEntry> = net
        .neighbors
        .iter()
        .map(|(i, ip, mac)| ArpEntry {
            worker: None,
            ip,
            mac: mac.to_string(),
            interface: name(i),
            expires_s: None,
            kind: "static",
        })
        .collect();
    let per_worker = rt.ask_workers(|w| (0..w.io.interfaces()).map(|i| w.io.arp_entries(i)).collect::<Vec<_>>());
    let now = net::control::worker::now_ns();
    for (w, ifaces) in per_worker.iter().enumerate() {
        for (i, entries) in ifaces.iter().enumerate() {
            out.extend(entries.iter().map(|&(ip, mac, exp)| ArpEntry {
                worker: Some(w),
                ip,
                mac: mac.to_string(),
                interface: name(i),
                expires_s: Some(exp.saturating_sub(now) / 1_000_000_000),
                kind: "dynamic",
            }));
        }
    }
    out
}

fn arp_text(entries: &[ArpEntry]) -> String {
    let mut out =
        format!("{:<8} {:<16} {:<18} {:<10} {:<10} {}\n", "Worker", "IP4", "MAC", "Interface", "Expires(s)", "Flags");
    for e in entries {
        let w = e.worker.map_or("all".into(), |w| w.to_string());
        let exp = e.expires_s.map_or("never".into(), |s| s.to_string());
        let _ = writeln!(out, "{w:<8} {:<16} {:<18} {:<10} {exp:<10} {}", e.ip.to_string(), e.mac, e.interface, e.kind);
    }
    out
}

fn set_neighbor(rt: &mut Runtime, rest: &[&str]) -> CliResult {
    let (name, ip, mac) = match rest {
        [name, ip, mac] | [name, ip, mac, "static"] => (name, ip, mac),
        _ => return err("usage: set ip neighbor NAME IP MAC [static] (every entry set here is static)"),
    };
    match rt.set_neighbor(name, ip, mac) {
        Ok(Some(old)) => Ok(format!("{ip} on {name}: {old} replaced by {mac}\n")),
        Ok(None) => Ok(String::new()),
        Err(e) => err(format!("set ip neighbor: {e}")),
    }
}

fn show_route(rt: &Runtime) -> String {
    let net = &rt.ctx.barrier.tables().net;
    let mut out = format!("{:<20} {:<16} {}\n", "Prefix", "Next hop", "Interface");
    for r in net.routes.iter() {
        let nh = r.next_hop.map(|a| a.to_string()).unwrap_or_else(|| "connected".into());
        let name = net.interfaces.get(r.port as usize).map(|i| i.name.as_str()).unwrap_or("?");
        let _ = writeln!(out, "{:<20} {:<16} {}", r.prefix.to_string(), nh, name);
    }
    out
}

fn show_route6(rt: &Runtime) -> String {
    let net = &rt.ctx.barrier.tables().net;
    let mut out = format!("{:<44} {:<40} {}\n", "Prefix", "Next hop", "Interface");
    for r in net.routes6.iter() {
        let nh = r.next_hop.map(|a| a.to_string()).unwrap_or_else(|| "connected".into());
        let name = net.interfaces.get(r.port as usize).map(|i| i.name.as_str()).unwrap_or("?");
        let _ = writeln!(out, "{:<44} {:<40} {}", r.prefix.to_string(), nh, name);
    }
    out
}

fn set_neighbor6(rt: &mut Runtime, rest: &[&str]) -> CliResult {
    let (name, ip, mac) = match rest {
        [name, ip, mac] | [name, ip, mac, "static"] => (name, ip, mac),
        _ => return err("usage: set ip6 neighbor NAME IP MAC [static] (every entry set here is static)"),
    };
    match rt.set_neighbor6(name, ip, mac) {
        Ok(Some(old)) => Ok(format!("{ip} on {name}: {old} replaced by {mac}\n")),
        Ok(None) => Ok(String::new()),
        Err(e) => err(format!("set ip6 neighbor: {e}")),
    }
}

/// One line of `show ip6 neighbors`.
#[derive(serde::Serialize)]
pub struct Neighbor6Entry {
    /// The worker whose ND cache holds it; `None` for a static entry (every worker's).
    pub worker: Option<usize>,
    /// The neighbour's address.
    pub ip: std::net::Ipv6Addr,
    /// Its MAC, once known.
    pub mac: Option<String>,
    /// `static`, or the ND reachability state (`incomplete`, `reachable`, `stale`, `delay`, `probe`).
    pub state: &'static str,
    /// The interface.
    pub interface: String,
    /// The neighbour said it is a router.
    pub is_router: bool,
    /// Packets waiting for resolution.
    pub pending: usize,
    /// `static` or `dynamic`.
    pub kind: &'static str,
}

/// Static entries (from the shared tables), then each worker's ND cache.
fn neighbors6_snapshot(rt: &mut Runtime) -> Vec<Neighbor6Entry> {
    let net = &rt.ctx.barrier.tables().net;
    let names: Vec<String> = net.interfaces.iter().map(|i| i.name.clone()).collect();
    let name = |i: usize| names.get(i).cloned().unwrap_or_else(|| "?".into());
    let mut out: Vec<Neighbor6Entry> = net
        .neighbors6
        .iter()
        .map(|(i, ip, mac)| Neighbor6Entry {
            worker: None,
            ip,
            mac: Some(mac.to_string()),
            state: "static",
            interface: name(i),
            is_router: false,
            pending: 0,
            kind: "static",
        })
        .collect();
    let per_worker = rt.ask_workers(|w| (0..w.io.interfaces()).map(|i| w.io.ip6_neighbors(i)).collect::<Vec<_>>());
    for (w, ifaces) in per_worker.iter().enumerate() {
        for (i, entries) in ifaces.iter().enumerate() {
            out.extend(entries.iter().map(|e| Neighbor6Entry {
                worker: Some(w),
                ip: e.ip,
                mac: e.mac.map(|m| m.to_string()),
                state: e.state.as_str(),
                interface: name(i),
                is_router: e.is_router,
                pending: e.pending,
                kind: "dynamic",
            }));
        }
    }
    out
}

fn neighbors6_text(entries: &[Neighbor6Entry]) -> String {
    let mut out =
        format!("{:<8} {:<40} {:<18} {:<11} {:<10} {}\n", "Worker", "IP6", "MAC", "State", "Interface", "Flags");
    for e in entries {
        let mut flags = String::new();
        if e.kind == "static" {
            flags.push_str("static ");
        }
        if e.is_router {
            flags.push_str("router ");
        }
        if e.pending > 0 {
            let _ = write!(flags, "{} queued", e.pending);
        }
        let _ = writeln!(
            out,
            "{:<8} {:<40} {:<18} {:<11} {:<10} {}",
            e.worker.map_or("all".into(), |w| w.to_string()),
            e.ip.to_string(),
            e.mac.as_deref().unwrap_or("-"),
            e.state,
            e.interface,
            flags.trim_end()
        );
    }
    out
}

fn show_cli(rt: &Runtime) -> String {
    let c = &rt.cfg.cli;
    let mut out = format!(
        "cli socket {}: mode {:04o}, at most {} connections, {} s to send a command, {} s to take an answer\n",
        rt.cfg.cli_socket.display(),
        c.access.mode,
        c.max_connections,
        c.first_message.as_secs_f64(),
        c.idle.as_secs_f64()
    );
    for (name, v, _) in rt.cli_counters.snapshot() {
        let _ = writeln!(out, "{v:>12}  {name}");
    }
    out
}

fn show_metrics(rt: &Runtime) -> String {
    let mut out = match rt.metrics.listen {
        Some(a) => format!(
            "metrics: http://{a}/metrics (requests up to {} bytes, {} s per connection, {} connections)\n",
            crate::metrics::MAX_REQUEST,
            crate::metrics::DEADLINE.as_secs(),
            crate::metrics::MAX_CONNECTIONS
        ),
        None => "metrics: off (set [metrics] listen = \"ADDR:PORT\" in the config)\n".to_string(),
    };
    for (name, v, _) in rt.metrics.counters.snapshot() {
        let _ = writeln!(out, "{v:>12}  {name}");
    }
    out
}

/// The destination of `ping ADDR` (IPv4, IPv6, or link-local IPv6 with
/// `%INTERFACE`) and the interface of a link-local one; an error when the
/// node has no route or no usable source for it.
fn ping_target(rt: &Runtime, addr: &str) -> Result<(IpAddr, usize), CliError> {
    if let Ok(v4) = addr.parse::<Ipv4Addr>() {
        if rt.source_for(v4).is_none() {
            return err(format!("ping: no route to {v4}"));
        }
        return Ok((IpAddr::V4(v4), 0));
    }
    let (a, zone) = match addr.split_once('%') {
        Some((a, z)) => (a, Some(z)),
        None => (addr, None),
    };
    let Ok(v6) = a.parse::<Ipv6Addr>() else {
        return err(format!("ping: {addr:?} is not an IPv4 or IPv6 address"));
    };
    let net = &rt.ctx.barrier.tables().net;
    let scope = match zone {
        Some(z) => net
            .interfaces
            .iter()
            .position(|i| i.name == z)
            .ok_or_else(|| CliError(format!("ping: no interface named {z:?}")))?,
        None => 0,
    };
    if v6.is_unspecified() || v6.is_loopback() {
        return err(format!("ping: {v6} cannot be pinged over a port"));
    }
    if wire::ipv6::is_link_local(v6) || v6.is_multicast() {
        if net.interfaces.is_empty() {
            return err("ping: no interface");
        }
        return Ok((IpAddr::V6(v6), scope));
    }
    let Some(r) = net.routes6.lookup(v6) else { return err(format!("ping: no route to {v6}")) };
    let usable = net.interfaces.get(r.port as usize).is_some_and(|i| i.ip6.iter().any(|a| a.is_usable()));
    if !usable {
        return err(format!("ping: no usable IPv6 source for {v6} (addresses tentative or duplicate)"));
    }
    Ok((IpAddr::V6(v6), scope))
}

/// `ping ADDR [count N] [size N] [interval S]` as a job.
pub struct PingJob {
    dst: IpAddr,
    /// The interface of a link-local IPv6 destination.
    scope: usize,
    ident: u16,
    size: usize,
    count: u32,
    step: Duration,
    start: Instant,
    sent: u32,
    rx: mpsc::Receiver<PingReply>,
    out: String,
    rtts: Vec<u64>,
}

fn ping(rt: &mut Runtime, rest: &[&str]) -> Result<PingJob, CliError> {
    use shm::limits::{PING_COUNT, PING_INTERVAL, PING_SIZE};
    let Some(addr) = rest.first() else { return err("usage: ping ADDR [count N] [size N] [interval SECONDS]") };
    let (dst, scope) = ping_target(rt, addr)?;
    let (mut count, mut size, mut interval) = (5u32, 56usize, 1.0f64);
    let mut it = rest[1..].iter();
    while let Some(&w) = it.next() {
        let Some(&v) = it.next() else { return err(format!("ping: {w} needs a value")) };
        let bad = |e: shm::limits::OptionError| CliError(format!("ping: {e}"));
        match w {
            "count" => count = PING_COUNT.parse_into("count", v).map_err(bad)?,
            "size" => size = PING_SIZE.parse_into("size", v).map_err(bad)?,
            "interval" => interval = PING_INTERVAL.parse("interval", v).map_err(bad)?,
            other => return err(format!("ping: unknown option {other:?} (count, size, interval)")),
        }
    }
    let ident = rt.next_ping_ident;
    rt.next_ping_ident = rt.next_ping_ident.wrapping_add(1);
    let (tx, rx) = mpsc::channel::<PingReply>();
    rt.ctx.barrier.sync().net.pings.push(PingWaiter { ident, tx });
    Ok(PingJob {
        dst,
        scope,
        ident,
        size,
        count,
        step: Duration::from_secs_f64(interval),
        start: Instant::now(),
        sent: 0,
        rx,
        out: String::new(),
        rtts: Vec::new(),
    })
}

impl Job for PingJob {
    fn poll(&mut self, rt: &mut Runtime) -> Option<CliResult> {
        let now = Instant::now();
        // Request k goes out k-1 intervals after the start.
        while self.sent < self.count && now >= self.start + self.step * self.sent {
            self.sent += 1;
            let (ident, s, size, scope) = (self.ident, self.sent as u16, self.size, self.scope);
            match self.dst {
                IpAddr::V4(dst) => rt.rpc(0, move |w| w.io.defer_ping(dst, ident, s, size)),
                IpAddr::V6(dst) => rt.rpc(0, move |w| w.io.defer_ping6(dst, scope, ident, s, size)),
            }
        }
        while let Ok(r) = self.rx.try_recv() {
            ping_record(&mut self.out, &mut self.rtts, r);
        }
        // Done once the last interval is over and every reply is in, or a
        // second after that (late replies get that long), as before jobs.
        let last = self.start + self.step * self.count;
        let all_in = self.rtts.len() as u32 >= self.count;
        if self.sent < self.count || now < last || !(all_in || now >= last + Duration::from_secs(1)) {
            return None;
        }
        self.cancel(rt);
        let (dst, count, received) = (self.dst, self.count, self.rtts.len() as u32);
        let mut out = std::mem::take(&mut self.out);
        let loss = 100.0 * f64::from(count.saturating_sub(received)) / f64::from(count);
        let _ = writeln!(out, "--- {dst} ping statistics ---");
        let _ = writeln!(out, "{count} packets transmitted, {received} received, {loss:.0}% packet loss");
        if !self.rtts.is_empty() {
            let min = *self.rtts.iter().min().unwrap_or(&0) as f64 / 1e6;
            let max = *self.rtts.iter().max().unwrap_or(&0) as f64 / 1e6;
            let avg = self.rtts.iter().sum::<u64>() as f64 / self.rtts.len() as f64 / 1e6;
            let _ = writeln!(out, "rtt min/avg/max = {min:.3}/{avg:.3}/{max:.3} ms");
        }
        Some(if received == 0 { Err(CliError(out)) } else { Ok(out) })
    }

    fn cancel(&mut self, rt: &mut Runtime) {
        let ident = self.ident;
        rt.ctx.barrier.sync().net.pings.retain(|w| w.ident != ident);
    }
}

fn fault_counts(rt: &Runtime) -> String {
    format!(
        "{} dropped, {} duplicated, {} reordered\n",
        rt.workers.iter().map(|w| w.faults.get(FaultCounter::Dropped)).sum::<u64>(),
        rt.workers.iter().map(|w| w.faults.get(FaultCounter::Duplicated)).sum::<u64>(),
        rt.workers.iter().map(|w| w.faults.get(FaultCounter::Reordered)).sum::<u64>()
    )
}

fn show_fault(rt: &mut Runtime) -> String {
    let cfgs = rt.ask_workers(|w| w.io.device().fault_config());
    let mut out = String::new();
    match cfgs.first() {
        Some(c) if cfgs.iter().all(|x| x == c) => {
            let _ = writeln!(out, "fault: {c}");
        }
        _ => {
            for (i, c) in cfgs.iter().enumerate() {
                let _ = writeln!(out, "fault (worker {i}): {c}");
            }
        }
    }
    out.push_str(&fault_counts(rt));
    out
}

fn set_fault(rt: &mut Runtime, rest: &[&str]) -> CliResult {
    const USAGE: &str = "usage: set fault [off] [drop PCT] [duplicate PCT] [reorder PCT] [direction rx|tx|both] [seed N] [hold MICROSECONDS]";
    if rest.is_empty() {
        return err(USAGE);
    }
    let mut cfg: FaultConfig = rt.ask_workers(|w| w.io.device().fault_config()).first().copied().unwrap_or_default();
    let mut it = rest.iter();
    while let Some(&w) = it.next() {
        let mut value = |what: &str| -> Result<&str, CliError> {
            it.next().copied().ok_or_else(|| CliError(format!("set fault: {what} needs a value\n{USAGE}")))
        };
        let pct = |what: &'static str, v: &str| -> Result<f64, CliError> {
            shm::limits::FAULT_PERCENT.parse(what, v).map_err(|e| CliError(format!("set fault: {e}")))
        };
        match w {
            "off" => {
                cfg.drop_percent = 0.0;
                cfg.duplicate_percent = 0.0;
                cfg.reorder_percent = 0.0;
            }
            "drop" => cfg.drop_percent = pct("drop", value(w)?)?,
            "duplicate" => cfg.duplicate_percent = pct("duplicate", value(w)?)?,
            "reorder" => cfg.reorder_percent = pct("reorder", value(w)?)?,
            "direction" => {
                let v = value(w)?;
                cfg.direction = Direction::parse(v)
                    .ok_or_else(|| CliError(format!("set fault: direction {v:?} is not rx, tx or both")))?;
            }
            "seed" => {
                let v = value(w)?;
                cfg.seed = Some(v.parse().map_err(|_| CliError(format!("set fault: seed {v:?} is not a number")))?);
            }
            "hold" => {
                let v = value(w)?;
                cfg.reorder_hold_us = shm::limits::FAULT_HOLD_US
                    .parse_into("hold", v)
                    .map_err(|e| CliError(format!("set fault: {e}")))?;
            }
            other => return err(format!("set fault: unknown setting {other:?}\n{USAGE}")),
        }
    }
    cfg.validate().map_err(|e| CliError(format!("set fault: {e}")))?;
    // Wait until every worker has it, so the next command sees it in force.
    let applied = rt.ask_workers(move |w| {
        w.io.device_mut().set_fault(&cfg);
    });
    if applied.len() != rt.workers.len() {
        return err("set fault: not every worker answered within a second");
    }
    Ok(format!("fault: {cfg}\n"))
}

/// One reply: its line in the output and its round trip.
fn ping_record(out: &mut String, rtts: &mut Vec<u64>, r: PingReply) {
    rtts.push(r.rtt_ns);
    let ms = r.rtt_ns as f64 / 1e6;
    let _ = writeln!(out, "{} bytes from {}: icmp_seq={} ttl={} time={ms:.3} ms", r.bytes, r.from, r.seq, r.ttl);
}

/// Why `dpnode ctl` got no answer (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// The socket did not take the connection.
    #[error("cannot connect to {0}: {1} (is the node running?)")]
    Connect(std::path::PathBuf, std::io::Error),
    /// The command could not be sent.
    #[error("cannot send the command")]
    Send,
    /// The node closed without a status line.
    #[error("no answer from the node")]
    NoAnswer,
}

/// The node's answer to one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtlAnswer {
    /// The command succeeded (`ok`), or failed (`error`).
    pub ok: bool,
    /// Its text.
    pub body: String,
}

/// `dpnode ctl [--json]`: sends one command to the node at `socket` and reads its answer.
///
/// With `json`, the line starts with [`JSON`] and the node answers with the
/// command's snapshot as JSON instead of its text.
pub fn ctl(socket: &std::path::Path, words: &[String], json: bool) -> Result<CtlAnswer, CtlError> {
    let mut stream = UnixStream::connect(socket).map_err(|e| CtlError::Connect(socket.into(), e))?;
    let prefix = if json { format!("{JSON} ") } else { String::new() };
    writeln!(stream, "{prefix}{}", words.join(" ")).map_err(|_| CtlError::Send)?;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    if reader.read_line(&mut status).is_err() || status.is_empty() {
        return Err(CtlError::NoAnswer);
    }
    let mut body = String::new();
    let _ = std::io::Read::read_to_string(&mut reader, &mut body);
    Ok(CtlAnswer { ok: status.trim() == "ok", body })
}
