//! A node in one process for the session layer's in-process tests: the EAL,
//! a `net_ring` port whose transmit side feeds its own receive side (so the
//! node talks to itself through real mbufs, ARP and IPv4), one worker thread
//! running the session layer, and the main thread's `MainCtx` for the test.
//! The EAL starts once per process, so each test binary makes one. (These
//! tests live in the binary's crate because they need the EAL; the session
//! crate itself does not depend on the DPDK layer.)
#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use dataplane::eal::{self, Eal};
use dataplane::mempool::Mempool;
use dataplane::port::{Port, PortConfig};
use dataplane::worker::{self, IdleConfig, IdleMode};
use dpnode::runtime::{MainCtx, NodeWorker, SessionWorker};
use net::arp_cache::ArpConfig;
use net::control::barrier::barrier;
use net::control::rpc::rpc_channel;
use net::control::worker::{Tables, WorkerState};
use net::l3::counters::Counters;
use net::route::{Route, RouteTable};
use net::tables::{Interface, NetTables};
use session::tcp_transport::TcpTransportConfig;
use session::udp::UdpConfig;
use session::worker::{SessionShared, SessionStats};
use wire::ethernet::Address as Mac;
use wire::ipv4::Cidr;

/// The node's address on the ring (198.18.5.1/24).
pub const NODE_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 5, 1);

/// The running node's worker, port and EAL; [`RingNode::stop`] ends them.
pub struct RingNode {
    /// The ring port's id (for its statistics).
    pub port_id: u16,
    /// The worker's L2/L3 counters.
    pub counters: Arc<Counters>,
    /// The worker's session-layer counters.
    pub stats: Arc<SessionStats>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
    port: Port,
    _pool: Arc<Mempool>,
    _eal: Eal,
}

impl RingNode {
    /// Starts the EAL without hugepages, a pool of `mbufs`, the ring port and
    /// one worker that sleeps `idle_sleep_us` when idle; returns the main
    /// thread's side (barrier, RPC queues, control operations) and the node.
    pub fn start(mbufs: u32, idle_sleep_us: u64) -> (MainCtx, RingNode) {
        let args: Vec<String> = ["--no-huge", "--no-shconf", "-m256", "--no-pci", "--no-telemetry", "--vdev=net_ring0"]
            .into_iter()
            .chain(["--log-level=lib.eal:warning"])
            .map(String::from)
            .collect();
        let eal = Eal::init(&args).expect("EAL");
        let pool = Arc::new(Mempool::new("ringnode", mbufs, 128, -1).unwrap());
        let port_id = Port::lookup("net_ring0").unwrap();
        let mut port = Port::start(port_id, "net_ring0", &PortConfig::default(), &pool).unwrap();
        let queues = port.take_queues();
        let mut routes = RouteTable::new();
        let subnet = Cidr::new(Ipv4Addr::new(198, 18, 5, 0), 24).unwrap();
        routes.add(Route { prefix: subnet, port: 0, next_hop: None }).unwrap();
        let ip4 = Some(Cidr::new(NODE_IP, 24).unwrap());
        let net = NetTables {
            // The ring feeds the node its own frames: it is its own peer.
            interfaces: vec![Interface {
                name: "ring0".into(),
                port_id,
                mac: Mac(port.mac()),
                ip4,
                ip6: Vec::new(),
                accept_local: true,
            }],
            routes,
            ..NetTables::default()
        };
        let (main, mut wbs) = barrier(Tables { net, upper: SessionShared::default() }, 1);
        let (to_worker, from_main) = rpc_channel::<NodeWorker>(256);
        let (to_main, from_worker) = rpc_channel::<MainCtx>(256);
        let counters = Arc::new(Counters::default());
        let io = dataplane::device::port_l3(0, pool.clone(), queues, counters.clone(), ArpConfig::default());
        let stack = SessionWorker::new(0, 1, Some(to_main), UdpConfig::default(), TcpTransportConfig::default());
        let stats = stack.stats.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let wb = wbs.pop().unwrap();
        let thread = std::thread::spawn(move || {
            eal::register_thread().unwrap();
            let idle =
                IdleConfig { mode: IdleMode::Sleep(Duration::from_micros(idle_sleep_us)), after_empty_polls: 64 };
            worker::run(
                wb,
                from_main,
                WorkerState { io, stack, loop_counters: Default::default(), runtime: Default::default() },
                s2,
                idle,
            );
            eal::unregister_thread();
        });
        let node = RingNode { port_id, counters, stats, stop, thread, port, _pool: pool, _eal: eal };
        (MainCtx::new(main, vec![to_worker], vec![from_worker]), node)
    }

    /// Stops the worker and the port; the pool and the EAL go with `self`.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap();
        self.port.stop();
    }
}
