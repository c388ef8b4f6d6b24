//! The running node: EAL, pool, ports, pinned workers, and the main thread's
//! control loop (CLI socket, application API socket, link monitoring, signals).
//!
//! Start-up order matters for clean shutdown: EAL, pool, ports, workers;
//! shutdown reverses it (workers stop and are joined, ports stop and close,
//! the pool is freed, the EAL cleans up).

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dataplane::device::PortL3;
use dataplane::eal::{self, Eal};
use dataplane::mempool::Mempool;
use dataplane::port::{Port, PortConfig};
use dataplane::worker;
use net::arp_cache::ArpConfig;
use net::control::barrier::barrier;
use net::control::rpc::rpc_channel;
use net::control::worker::{LoopCounters, RuntimeCounters, Tables, WorkerState};
use net::fault::FaultCounters;
use net::l3::counters::Counters;
use net::route::{Route, RouteTable};
use net::tables::{Interface, NetTables};
use rustix::event::{PollFd, PollFlags};
use session::api_server::ApiServer;
use session::external_app::ApiStats;
use session::worker::{SessionShared, SessionStats};
use wire::ethernet::Address as MacAddress;
use wire::ipv4::Cidr;

use crate::config::{Config, Hugepages};

/// The session layer's main-thread side as the node runs it: over the DPDK
/// ports' L2/L3 ([`PortL3`]).
pub type MainCtx = session::main_thread::MainCtx<PortL3>;
/// A worker's state (L2/L3 over the ports, session layer) as RPCs see it.
pub type NodeWorker = session::worker::NodeWorker<PortL3>;
/// The session layer on one worker, over the ports.
pub type SessionWorker = session::worker::SessionWorker<PortL3>;

/// Errors starting the node.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// EAL.
    #[error(transparent)]
    Eal(#[from] eal::EalError),
    /// Pool.
    #[error(transparent)]
    Mempool(#[from] dataplane::mempool::MempoolError),
    /// A port.
    #[error("interface {name}: {source}")]
    Port {
        /// Interface name.
        name: String,
        /// Why.
        source: dataplane::port::PortError,
    },
    /// Hugepages required but missing.
    #[error("dpdk.hugepages = \"on\" but only {free_mb} MiB of hugepages are free ({want_mb} MiB wanted); reserve them with scripts/setup or set hugepages = \"auto\"")]
    NoHugepages {
        /// Free.
        free_mb: u64,
        /// Wanted.
        want_mb: u64,
    },
    /// `hugepages = "auto"` chose hugepages, but the EAL could not get them
    /// (another process took them between the check and the EAL's start).
    #[error("{0} (hugepages = \"auto\" saw enough free hugepages, but they were gone when the EAL started)")]
    AutoHugepagesTaken(eal::EalError),
    /// A route.
    #[error("route {0}: {1}")]
    Route(String, String),
    /// CLI socket.
    #[error("cli socket {0}: {1}")]
    Cli(String, std::io::Error),
    /// The Prometheus endpoint.
    #[error("metrics.listen {0}: {1}")]
    Metrics(std::net::SocketAddr, std::io::Error),
    /// Application API socket.
    #[error("api socket {0}: {1}")]
    Api(String, std::io::Error),
    /// A builtin app from the config did not start.
    #[error("app[{0}] ({1}): {2}")]
    App(usize, String, String),
    /// Thread spawn.
    #[error("cannot start worker thread: {0}")]
    Spawn(std::io::Error),
}

/// Free hugepage memory in MiB, from /proc/meminfo.
pub fn free_hugepage_mb() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/meminfo") else { return 0 };
    let field = |name: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    field("HugePages_Free:") * field("Hugepagesize:") / 1024
}

/// Set in the environment of a node that re-executes itself because
/// `hugepages = "auto"` chose hugepages another process took first: `auto`
/// then means no hugepages.
pub const AUTO_NO_HUGE_ENV: &str = "DPNODE_AUTO_NO_HUGE";

/// The EAL arguments for `cfg`.
pub fn eal_args(cfg: &Config) -> Result<(Vec<String>, bool), StartError> {
    let ncpu = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    // lcore 0 is the main thread; let it float over every core (workers are
    // pinned by core_affinity, not by the EAL).
    let mut args = vec![format!("--lcores=0@(0-{})", ncpu - 1), "--no-telemetry".into()];
    match cfg.dpdk_log_level {
        // DPDK's defaults, but the EAL's chatter (info) kept out of the way.
        None => args.push("--log-level=lib.eal:warning".into()),
        // Every log type (EAL, libraries, drivers), and the global ceiling.
        Some(l) => args.extend([format!("--log-level={}", l.word()), format!("--log-level=*:{}", l.word())]),
    }
    let free = free_hugepage_mb();
    let want = u64::from(cfg.dpdk.memory_mb);
    let huge = match cfg.dpdk.hugepages {
        Hugepages::Off => false,
        Hugepages::On if free < want => return Err(StartError::NoHugepages { free_mb: free, want_mb: want }),
        Hugepages::On => true,
        // A node re-executed after losing the race for hugepages (see
        // `Runtime::start`) goes without them.
        Hugepages::Auto => free >= want && std::env::var_os(AUTO_NO_HUGE_ENV).is_none(),
    };
    // Several nodes must run side by side, so none may own DPDK's shared
    // runtime files: --in-memory with hugepages; --no-huge (which DPDK
    // treats as legacy memory, refused with --in-memory) takes --no-shconf.
    if huge {
        args.push("--in-memory".into());
    } else {
        args.push("--no-huge".into());
        args.push("--no-shconf".into());
    }
    args.push(format!("-m{}", cfg.dpdk.memory_mb));
    let mut has_pci = false;
    for i in &cfg.interfaces {
        if dataplane::memif::is_memif(&i.vdev) {
            // Our own memif (dataplane::memif), not DPDK's PMD.
            continue;
        }
        // The config accepted only virtual device names and PCI addresses.
        if crate::config::is_pci_address(&i.device) {
            has_pci = true;
            args.push(format!("-a{}", i.vdev));
        } else {
            args.push(format!("--vdev={}", i.vdev));
        }
    }
    if !has_pci {
        args.push("--no-pci".into());
    }
    args.extend(cfg.dpdk.eal_args.iter().cloned());
    Ok((args, huge))
}

/// Facts about one worker for `show threads`.
pub struct WorkerInfo {
    /// Core it is pinned to.
    pub core: usize,
    /// Its L2/L3 counters.
    pub counters: Arc<Counters>,
    /// Its fault-injection counters.
    pub faults: Arc<FaultCounters>,
    /// Its poll loop's counters.
    pub poll: Arc<LoopCounters>,
    /// Its session-layer counters (UDP and TCP input included).
    pub sessions: Arc<SessionStats>,
    /// Where its loop spends its time (`show runtime`).
    pub runtime: Arc<RuntimeCounters>,
}

impl WorkerInfo {
    /// Every counter of every layer on this worker, in the order the CLI
    /// prints them: (name, value, whether it counts an error).
    pub fn counters(&self) -> impl Iterator<Item = (&'static str, u64, bool)> + '_ {
        fn set<C: counters::CounterSet, const N: usize>(
            b: &counters::AtomicCounters<C, N>,
        ) -> impl Iterator<Item = (&'static str, u64, bool)> + '_ {
            b.iter().map(|(c, v)| (c.name(), v, c.is_error()))
        }
        let s = &*self.sessions;
        set(&self.counters)
            .chain(set(&s.udp))
            .chain(set(&s.session))
            .chain(set(&s.tcp_input))
            .chain(set(&s.tls))
            .chain(set(&s.quic))
            .chain(set(&self.faults))
            .chain(set(&self.poll))
    }

    /// Zero every counter of this worker (`clear errors`).
    pub fn clear_counters(&self) {
        self.counters.clear();
        self.sessions.udp.clear();
        self.sessions.session.clear();
        self.sessions.tcp_input.clear();
        self.sessions.tls.clear();
        self.sessions.quic.clear();
        self.faults.clear();
        self.poll.clear();
    }
}

/// The running node.
pub struct Runtime {
    /// Validated config.
    pub cfg: Config,
    /// The barrier over the shared tables and the RPC queues to and from the workers.
    pub ctx: MainCtx,
    /// Per-worker facts.
    pub workers: Vec<WorkerInfo>,
    /// Ports, indexed like `cfg.interfaces`.
    pub ports: Vec<Port>,
    /// Whether the EAL runs on hugepages.
    pub hugepages: bool,
    /// Start time.
    pub started: Instant,
    /// Set to stop the node.
    pub stop: Arc<AtomicBool>,
    /// Next ICMP ident for `ping`.
    pub next_ping_ident: u16,
    /// Echo clients started from the config, still running.
    pub clients: Vec<crate::apps::RunningClient>,
    /// The application API socket (external apps); bound by `serve`.
    pub api: Option<ApiServer>,
    /// Counters about external apps (kept when the socket closes).
    pub api_stats: Arc<ApiStats>,
    /// What the CLI socket did.
    pub cli_counters: crate::cli_server::CliCounters,
    /// Where the Prometheus endpoint listens and what it did.
    pub metrics: crate::metrics::MetricsStatus,
    /// The TSC's frequency (the EAL's calibration), for `show runtime`.
    pub tsc_hz: u64,
    /// What `show runtime` counts from (`clear runtime` moves it).
    pub runtime_base: crate::cli_runtime::Baseline,
    /// `pcap trace`: the capture running, and what the last one wrote.
    pub pcap: crate::pcap::PcapState,
    threads: Vec<JoinHandle<()>>,
    link_up: Vec<bool>,
    pool: Arc<Mempool>,
    // Dropped last: EAL clean-up after everything above.
    _eal: Eal,
}

/// Large mbufs (TSO/GSO segments, 64 KiB each) per worker: one tx burst
/// of them per port in flight, and the transports' spares.
const LARGE_MBUFS_PER_WORKER: u32 = 256;
/// Per-lcore cache of the large pool.
const LARGE_MBUF_CACHE: u32 = 32;

impl Runtime {
    /// Initialise DPDK, start ports and workers.
    pub fn start(cfg: Config) -> Result<Runtime, StartError> {
        // Every external app costs descriptors: take all the kernel allows.
        match shm::fdpass::raise_nofile_limit() {
            Ok((soft, _)) => tracing::info!("dpnode: descriptor limit (RLIMIT_NOFILE) {soft}"),
            Err(e) => tracing::warn!("dpnode: cannot raise the descriptor limit: {e}"),
        }
        let (args, hugepages) = eal_args(&cfg)?;
        tracing::info!("dpnode: EAL args: {}", args.join(" "));
        let eal = match Eal::init(&args) {
            Ok(eal) => eal,
            // The free hugepages were counted before the EAL asked for them;
            // nodes starting side by side can take them in between. `auto`
            // promised a fallback, so the caller starts again without.
            Err(e) if hugepages && cfg.dpdk.hugepages == Hugepages::Auto => {
                return Err(StartError::AutoHugepagesTaken(e));
            }
            Err(e) => return Err(e.into()),
        };
        let n_workers = cfg.cores.len();
        // One pool for every port: standard mbufs (longer frames go as
        // chains) unless `[dpdk] mbuf_data_room` says otherwise.
        let max_mtu = cfg.interfaces.iter().filter_map(|i| i.mtu).max().unwrap_or(dataplane::port::DEFAULT_MTU);
        // (Checked with the config.)
        let room = cfg.dpdk.data_room(max_mtu).unwrap_or(dataplane::mempool::DEFAULT_DATA_ROOM);
        tracing::info!("dpnode: mbuf pool: {} mbufs of {room} bytes", cfg.dpdk.mbufs);
        let pool = Arc::new(Mempool::with_data_room("dpn_pool", cfg.dpdk.mbufs, cfg.dpdk.mbuf_cache, -1, room)?);
        // Large single-segment mbufs for TSO/GSO segments, only when some
        // interface may use them (chained mbufs would do without).
        let large_pool = if cfg.interfaces.iter().any(|i| i.gso || i.tso != dataplane::port::TsoMode::Off) {
            let n = LARGE_MBUFS_PER_WORKER * n_workers as u32;
            Some(Arc::new(Mempool::with_data_room("dpn_large", n, LARGE_MBUF_CACHE, -1, u16::MAX)?))
        } else {
            None
        };
        let pcfg = PortConfig {
            queues: n_workers as u16,
            rx_desc: cfg.dpdk.rx_desc,
            tx_desc: cfg.dpdk.tx_desc,
            ..PortConfig::default()
        };
        let mut ports = Vec::new();
        let mut interfaces = Vec::new();
        for ic in &cfg.interfaces {
            let perr = |source| StartError::Port { name: ic.name.clone(), source };
            let mut port = if dataplane::memif::is_memif(&ic.vdev) {
                Port::memif(&ic.vdev, n_workers as u16, pool.clone(), ic.mtu).map_err(perr)?
            } else {
                let id = Port::lookup(&ic.device).map_err(perr)?;
                let port_cfg =
                    PortConfig { mtu: ic.mtu, checksum_offload: ic.checksum_offload, tso: ic.tso, ..pcfg.clone() };
                let mut port = Port::start(id, &ic.device, &port_cfg, &pool).map_err(perr)?;
                // Only net_tap and virtio_user are probed again; others follow their link.
                port.set_recovery(&ic.vdev, pool.clone()).map_err(perr)?;
                port
            };
            if large_pool.is_some() {
                port.set_large(ic.gso, ic.tso_max);
            }
            let id = port.id();
            interfaces.push(Interface {
                name: ic.name.clone(),
                port_id: id,
                mac: MacAddress(port.mac()),
                ip4: ic.ip4,
                ip6: ic.ip6.iter().map(|&c| net::tables::Ip6Address::new(c)).collect(),
                accept_local: false,
            });
            ports.push(port);
        }
        let mut routes = RouteTable::new();
        for (i, ic) in cfg.interfaces.iter().enumerate() {
            if let Some(c) = ic.ip4 {
                let prefix = Cidr::new(c.network(), c.prefix_len()).expect("valid prefix");
                routes
                    .add(Route { prefix, port: i as u16, next_hop: None })
                    .map_err(|e| StartError::Route(prefix.to_string(), e.to_string()))?;
            }
        }
        for r in &cfg.routes {
            routes
                .add(Route { prefix: r.prefix, port: r.interface as u16, next_hop: Some(r.via) })
                .map_err(|e| StartError::Route(r.prefix.to_string(), e.to_string()))?;
        }
        let mut routes6 = net::route6::Route6Table::new();
        for (i, ic) in cfg.interfaces.iter().enumerate() {
            for c in &ic.ip6 {
                let prefix = wire::ipv6::Cidr::new(c.network(), c.prefix_len()).expect("valid prefix");
                // Two addresses of one prefix on one interface share its route.
                if routes6.lookup(c.address()).is_some_and(|r| r.prefix == prefix) {
                    continue;
                }
                routes6
                    .add(net::route6::Route6 { prefix, port: i as u16, next_hop: None })
                    .map_err(|e| StartError::Route(prefix.to_string(), e.to_string()))?;
            }
        }
        for r in &cfg.routes6 {
            routes6
                .add(net::route6::Route6 { prefix: r.prefix, port: r.interface as u16, next_hop: Some(r.via) })
                .map_err(|e| StartError::Route(r.prefix.to_string(), e.to_string()))?;
        }
        let tables = Tables {
            net: NetTables {
                interfaces,
                routes,
                routes6,
                neighbors: cfg.neighbors.clone(),
                neighbors6: cfg.neighbors6.clone(),
                ..NetTables::default()
            },
            upper: SessionShared::default(),
        };
        let (main, worker_barriers) = barrier(tables, n_workers);
        // Before the workers start: ports close their gates with it.
        for p in &mut ports {
            p.set_grace(main.grace_period());
        }
        let mut queues: Vec<Vec<_>> = (0..n_workers).map(|_| Vec::new()).collect();
        for p in &mut ports {
            for (w, q) in p.take_queues().into_iter().enumerate() {
                queues[w].push(q);
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let mut to_workers = Vec::new();
        let mut from_workers = Vec::new();
        let mut workers = Vec::new();
        for (i, (wb, qs)) in worker_barriers.into_iter().zip(queues).enumerate() {
            let core = cfg.cores[i];
            let counters = Arc::new(Counters::default());
            let (tx, rx) = rpc_channel::<NodeWorker>(256);
            let (to_main, from_worker) = rpc_channel::<MainCtx>(256);
            let mut io = dataplane::device::port_l3(i, pool.clone(), qs, counters.clone(), ArpConfig::default());
            if let Some(lp) = &large_pool {
                io.device_mut().inner_mut().set_large_pool(lp.clone());
            }
            let poll = Arc::new(LoopCounters::default());
            let faults = io.device().counters().clone();
            for (j, p) in ports.iter().enumerate() {
                io.set_port_caps(j, p.caps());
            }
            io.device_mut().set_fault(&cfg.fault);
            let stack = SessionWorker::new(i as u32, n_workers as u32, Some(to_main), cfg.udp, cfg.tcp.clone());
            let sessions = stack.stats.clone();
            let runtime = Arc::new(RuntimeCounters::default());
            let state = WorkerState { io, stack, loop_counters: poll.clone(), runtime: runtime.clone() };
            let stop = stop.clone();
            let idle = cfg.idle;
            let h = std::thread::Builder::new()
                .name(format!("dpn-wk{i}"))
                .spawn(move || {
                    if !core_affinity_set(core) {
                        tracing::warn!("dpnode: worker {i}: cannot pin to core {core}");
                    }
                    if let Err(e) = eal::register_thread() {
                        tracing::error!("dpnode: worker {i}: {e}");
                    }
                    let _ = worker::run(wb, rx, state, stop, idle);
                    eal::unregister_thread();
                })
                .map_err(StartError::Spawn)?;
            threads.push(h);
            to_workers.push(tx);
            from_workers.push(from_worker);
            workers.push(WorkerInfo { core, counters, faults, poll, sessions, runtime });
        }
        let link_up = ports.iter().map(|p| p.gate_open()).collect();
        let mut rt = Runtime {
            cfg,
            ctx: MainCtx::new(main, to_workers, from_workers),
            workers,
            ports,
            hugepages,
            started: Instant::now(),
            stop,
            next_ping_ident: (std::process::id() as u16).wrapping_mul(31),
            threads,
            link_up,
            pool,
            clients: Vec::new(),
            api: None,
            api_stats: Arc::new(ApiStats::default()),
            cli_counters: Default::default(),
            metrics: Default::default(),
            tsc_hz: eal.tsc_hz(),
            runtime_base: Default::default(),
            pcap: Default::default(),
            _eal: eal,
        };
        // DAD for the configured IPv6 addresses, run by worker 0 (again on
        // each link-up); the link-local address is announced meanwhile.
        for i in 0..rt.ports.len() {
            rt.rpc(0, move |w| w.io.defer_ip6_up(i));
        }
        for (i, spec) in rt.cfg.apps.clone().iter().enumerate() {
            match crate::apps::start(&mut rt, spec) {
                Ok(Some(client)) => rt.clients.push(client),
                Ok(None) => tracing::info!("dpnode: started {} on {}", spec.name, spec.uri_text()),
                Err(e) => return Err(StartError::App(i, spec.name.clone(), e)),
            }
        }
        Ok(rt)
    }

    /// Reports and detaches echo clients from the config once they are done.
    pub fn poll_apps(&mut self) {
        let mut i = 0;
        while i < self.clients.len() {
            if let Some(report) = self.clients[i].poll() {
                let c = self.clients.swap_remove(i);
                tracing::info!("dpnode: {} finished:\n{}", c.name, report.format());
                let _ = self.ctx.detach(c.app);
            } else {
                i += 1;
            }
        }
    }

    /// Ship `f` to worker `w`, waiting for room in its queue.
    pub fn rpc(&mut self, w: usize, f: impl FnOnce(&mut NodeWorker) + Send + 'static) {
        self.ctx.rpc_worker(w, f);
    }

    /// Run `f` on every worker and collect the answers (waits up to 1 s).
    pub fn ask_workers<T: Send + 'static>(
        &mut self,
        f: impl Fn(&mut NodeWorker) -> T + Send + Sync + Clone + 'static,
    ) -> Vec<T> {
        let (tx, rx) = std::sync::mpsc::channel();
        let n = self.ctx.workers.len();
        for w in 0..n {
            let tx = tx.clone();
            let f = f.clone();
            self.rpc(w, move |st| {
                let _ = tx.send((w, f(st)));
            });
        }
        let mut out: Vec<(usize, T)> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(1);
        while out.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(v) => out.push(v),
                Err(_) => break,
            }
        }
        out.sort_by_key(|(w, _)| *w);
        out.into_iter().map(|(_, v)| v).collect()
    }

    /// Mbufs in use right now (for leak checks).
    pub fn mbufs_in_use(&self) -> u32 {
        self.pool.in_use()
    }

    /// Mbufs free right now.
    pub fn mbufs_available(&self) -> u32 {
        self.pool.available()
    }

    /// Watch every port's link (memif control channels, link state, dead
    /// devices to probe again; see `Port::supervise`): on a change, log it;
    /// going up, send a gratuitous ARP; either way the workers forget the
    /// interface's neighbours. Cheap enough to call every main-loop round.
    pub fn check_links(&mut self) {
        for i in 0..self.ports.len() {
            if let Some(c) = self.ports[i].supervise() {
                self.link_changed(i, c);
            }
        }
    }

    fn link_changed(&mut self, i: usize, c: dataplane::port::LinkChange) {
        let name = self.cfg.interfaces[i].name.clone();
        tracing::info!("dpnode: interface {name} link {} ({})", if c.up { "up" } else { "down" }, c.reason);
        for w in 0..self.ctx.workers.len() {
            self.rpc(w, move |st| st.io.flush_neighbours(i));
        }
        if c.up && !self.link_up[i] {
            self.rpc(0, move |w| w.io.defer_garp(i));
            self.rpc(0, move |w| w.io.defer_ip6_up(i));
        }
        self.link_up[i] = c.up;
    }

    /// `set interface state NAME up|down`: memif ports drop their
    /// connection and stop listening/connecting while down.
    pub fn set_interface_state(&mut self, name: &str, up: bool) -> Result<(), String> {
        let i =
            self.cfg.interfaces.iter().position(|c| c.name == name).ok_or(format!("no interface named {name:?}"))?;
        if self.ports[i].memif_port().is_none() {
            return Err(format!("{name}: only memif interfaces can be set down"));
        }
        if let Some(c) = self.ports[i].set_admin(up) {
            self.link_changed(i, c);
        }
        Ok(())
    }

    /// `set ip neighbor NAME IP MAC`: publish a static entry to every worker
    /// under the barrier; each then drops the dynamic entry it shadows (and
    /// sends what waited for it). Returns the MAC it replaced, if any.
    pub fn set_neighbor(&mut self, name: &str, ip: &str, mac: &str) -> Result<Option<MacAddress>, String> {
        let net = &self.ctx.barrier.tables().net;
        let n = net::neighbor::parse_static4(net.interfaces.iter().map(|i| (i.name.as_str(), i.ip4)), name, ip, mac)
            .map_err(|e| e.to_string())?;
        let old = self.ctx.barrier.sync().net.neighbors.set(n.iface, n.ip, n.mac).map_err(|e| e.to_string())?;
        for w in 0..self.ctx.workers.len() {
            self.rpc(w, move |st| st.io.defer_static_neighbour(n.iface, n.ip));
        }
        Ok(old)
    }

    /// `del ip neighbor NAME IP`: remove a static entry (the next packet
    /// for the address asks ARP again). Returns its MAC.
    pub fn del_neighbor(&mut self, name: &str, ip: &str) -> Result<MacAddress, String> {
        let net = &self.ctx.barrier.tables().net;
        let (iface, addr) =
            net::neighbor::parse_iface_ip4(net.interfaces.iter().map(|i| (i.name.as_str(), i.ip4)), name, ip)
                .map_err(|e| e.to_string())?;
        let missing = || format!("{addr} has no static entry on {name}");
        // Read first: a delete of nothing need not stop the workers.
        if net.neighbors.lookup(iface, addr).is_none() {
            return Err(missing());
        }
        self.ctx.barrier.sync().net.neighbors.remove(iface, addr).ok_or_else(missing)
    }

    /// `set ip6 neighbor NAME IP MAC`: as [`Runtime::set_neighbor`] for an
    /// IPv6 address (link-local or global; not one of the node's own,
    /// link-local included). Returns the MAC it replaced, if any.
    pub fn set_neighbor6(&mut self, name: &str, ip: &str, mac: &str) -> Result<Option<MacAddress>, String> {
        let net = &self.ctx.barrier.tables().net;
        let ifaces = net.interfaces.iter().map(|i| {
            let own = i.ip6.iter().map(|a| a.address()).chain([wire::ipv6::link_local_from_mac(i.mac)]);
            (i.name.as_str(), own.collect::<Vec<_>>())
        });
        let n = net::neighbor::parse_static6(ifaces, name, ip, mac).map_err(|e| e.to_string())?;
        let old = self.ctx.barrier.sync().net.neighbors6.set(n.iface, n.ip, n.mac).map_err(|e| e.to_string())?;
        for w in 0..self.ctx.workers.len() {
            self.rpc(w, move |st| st.io.defer_static_neighbour6(n.iface, n.ip));
        }
        Ok(old)
    }

    /// `del ip6 neighbor NAME IP`: remove a static IPv6 entry (the next
    /// packet for the address solicits again). Returns its MAC.
    pub fn del_neighbor6(&mut self, name: &str, ip: &str) -> Result<MacAddress, String> {
        let net = &self.ctx.barrier.tables().net;
        let (iface, addr) = net::neighbor::parse_iface_ip6(net.interfaces.iter().map(|i| i.name.as_str()), name, ip)
            .map_err(|e| e.to_string())?;
        let missing = || format!("{addr} has no static entry on {name}");
        if net.neighbors6.lookup(iface, addr).is_none() {
            return Err(missing());
        }
        self.ctx.barrier.sync().net.neighbors6.remove(iface, addr).ok_or_else(missing)
    }

    /// Descriptors whose readiness means a port needs `check_links` (memif
    /// control channels), for the main loop's poll set.
    pub fn link_poll_fds<'a>(&'a self, out: &mut Vec<PollFd<'a>>) {
        let mut fds = Vec::new();
        for p in &self.ports {
            p.poll_fds(&mut fds);
        }
        out.extend(fds.into_iter().map(|fd| PollFd::from_borrowed_fd(fd, PollFlags::IN)));
    }

    /// The main thread's loop: serve the CLI and the API socket until SIGINT/SIGTERM.
    ///
    /// Nothing here blocks on a client: both sockets are served without
    /// blocking, long CLI commands are jobs advanced every round, and the
    /// loop sleeps in `poll` for at most 10 ms (1 ms while a job runs).
    pub fn serve(&mut self, term: Arc<AtomicBool>) -> Result<(), StartError> {
        let path = self.cfg.cli_socket.clone();
        let spath = path.display().to_string();
        let mut cli = crate::cli_server::CliServer::bind(&path, self.cfg.cli.clone())
            .map_err(|e| StartError::Cli(spath.clone(), e))?;
        let api_path = self.cfg.api_socket.clone();
        let api = ApiServer::bind_with(&api_path, self.api_stats.clone(), self.cfg.api.clone())
            .map_err(|e| StartError::Api(api_path.display().to_string(), e))?;
        self.api = Some(api);
        let mut metrics = match self.cfg.metrics_listen {
            Some(addr) => {
                let m = crate::metrics::MetricsServer::bind(addr).map_err(|e| StartError::Metrics(addr, e))?;
                self.metrics.listen = m.local_addr().ok();
                tracing::info!("dpnode: metrics on http://{}/metrics", self.metrics.listen.unwrap_or(addr));
                Some(m)
            }
            None => None,
        };
        tracing::info!("{}", self.running_line(&spath, &api_path.display().to_string()));
        // What the CLI's entries reported (kept across rounds for the allocation).
        let mut cli_revents: Vec<PollFlags> = Vec::new();
        while !term.load(Ordering::Relaxed) {
            self.check_links();
            self.ctx.run_worker_rpcs();
            self.poll_apps();
            {
                // The poll set borrows the sockets it names, so it lives for this round only.
                let mut pfds: Vec<PollFd<'_>> = Vec::new();
                cli.poll_fds(&mut pfds);
                let n_cli = pfds.len();
                if let Some(api) = &self.api {
                    api.poll_fds(&mut pfds);
                }
                self.link_poll_fds(&mut pfds);
                if let Some(m) = &metrics {
                    m.poll_fds(&mut pfds);
                }
                // Short, so RPCs from workers wait at most 10 ms for the main thread.
                let ms = if cli.has_jobs() { 1 } else { 10 };
                let timeout = rustix::event::Timespec { tv_sec: 0, tv_nsec: ms * 1_000_000 };
                // An error (a signal) only ends this round's sleep early.
                let _ = rustix::event::poll(&mut pfds, Some(&timeout));
                cli_revents.clear();
                cli_revents.extend(pfds[..n_cli].iter().map(PollFd::revents));
            }
            // Both servers have timed work (deadlines, jobs, segments): serve them every round.
            if let Some(api) = self.api.as_mut() {
                api.service(&mut self.ctx);
            }
            cli.service(self, &cli_revents);
            if let Some(m) = metrics.as_mut() {
                m.service(self);
            }
        }
        cli.close_all(self);
        if let Some(mut api) = self.api.take() {
            api.close_all(&mut self.ctx);
        }
        Ok(())
    }

    /// The `running` line: each interface with its address and link, and
    /// the next things to try.
    pub fn running_line(&self, cli: &str, api: &str) -> String {
        let ifs: Vec<String> = (self.cfg.interfaces.iter().zip(&self.link_up))
            .map(|(i, up)| {
                let addr = i.ip4.map_or("no address".to_string(), |c| c.to_string());
                format!("{} ({}, {addr}, link {})", i.name, i.device, if *up { "up" } else { "down" })
            })
            .collect();
        let ctl = if cli == "/run/dpnode/cli.sock" { "dpnode ctl".to_string() } else { format!("dpnode ctl -s {cli}") };
        let ping =
            self.cfg.interfaces.iter().find_map(|i| i.ip4).map(|c| format!("`ping {}` from its peer, ", c.address()));
        format!(
            "dpnode: running on {}; try {}`{ctl} show interface`, `{ctl}` for a shell; cli socket {cli}, api socket {api}",
            ifs.join(", "),
            ping.unwrap_or_default()
        )
    }

    /// Stop workers and ports.
    pub fn shutdown(&mut self) {
        // A capture still on goes to its file while the workers can hand it over.
        if !self.threads.is_empty() {
            crate::pcap::at_shutdown(self);
        }
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        for p in &mut self.ports {
            p.stop();
        }
    }

    /// Our address on the interface routing to `dst`.
    pub fn source_for(&self, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        let net = &self.ctx.barrier.tables().net;
        let r = net.routes.lookup(dst)?;
        net.interfaces.get(r.port as usize)?.ip4.map(|c| c.address())
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn core_affinity_set(core: usize) -> bool {
    core_affinity::set_for_current(core_affinity::CoreId { id: core })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A node re-executed after losing the race for hugepages goes without
    /// them even when enough look free; `on` is not overridden.
    #[test]
    fn auto_hugepages_give_way_after_a_lost_race() {
        let cfg = Config::parse(
            "[dpdk]\nhugepages = \"auto\"\nmemory_mb = 64\n\n[[interface]]\nname = \"t\"\nvdev = \"net_tap0\"\nip4 = \"198.18.0.2/24\"\n",
        )
        .unwrap();
        std::env::set_var(AUTO_NO_HUGE_ENV, "1");
        let (args, huge) = eal_args(&cfg).unwrap();
        std::env::remove_var(AUTO_NO_HUGE_ENV);
        assert!(!huge);
        assert!(args.iter().any(|a| a == "--no-huge"), "{args:?}");
        assert!(!args.iter().any(|a| a == "--in-memory"), "{args:?}");
        if free_hugepage_mb() >= 64 {
            let (args, huge) = eal_args(&cfg).unwrap();
            assert!(huge && args.iter().any(|a| a == "--in-memory"), "{args:?}");
        }
    }
}
