//! External applications in one process: a real DPDK worker on a `net_ring`
//! port (its transmit side feeds its own receive side), the API server and
//! the control operations on the test thread (the main thread), and
//! external apps on the client library in other threads, talking to the
//! node through the API socket and shared memory exactly as another
//! process would.
//!
//! Covers what end-to-end tests cannot see from outside: exact fifo and
//! segment counts around every detach, segments added and withdrawn while
//! apps run, a reset reaching an external app, an app that stops reading
//! its events being detached, and requests with foreign or garbage handles
//! being refused while other apps keep working. The EAL starts once per
//! process, so this is one test.

mod ring_node;

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use dataplane::port;
use dpnode::runtime::MainCtx;
use dpnode_client::echo::{run_client, run_server, ClientConfig, ServerConfig};
use dpnode_client::{App, AttachOptions, Endpoint, Error, Event, NodeError, TransportOptions};
use echo::{merge_reports, EchoMode, EchoReport};
use ring_node::RingNode;
use session::api_server::ApiServer;
use session::app_worker::AppWorkerKind;
use session::apps::echo::{EchoClient, EchoClientConfig, EchoServer};
use session::external_app::ApiStats;
use session::listener_tables::parse_uri;
use session::segment::live_counts;
use session::snapshot::AppWorkerSnapshot;
use session::worker::AppLink;
use shm::msg::{self, Request, MAX_PAYLOAD};
use shm::types::Scope;

struct Node {
    ctx: MainCtx,
    api: ApiServer,
    stats: Arc<ApiStats>,
    port: u16,
}

impl Node {
    /// One round of the main loop: worker RPCs and the API socket.
    fn turn(&mut self) {
        self.ctx.run_worker_rpcs();
        self.api.service(&mut self.ctx);
    }

    /// Runs the main loop until `done` (panics after 60 s, naming `what`).
    fn until(&mut self, what: &str, mut done: impl FnMut(&mut Node) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            self.turn();
            if done(self) {
                return;
            }
            assert!(Instant::now() < deadline, "{what}: not done after 60 s");
            std::thread::sleep(Duration::from_micros(500));
        }
    }

    /// Runs a builtin echo client to the end, serving the API meanwhile, and detaches it.
    fn builtin_client(&mut self, name: &str, uri: &str, opts: AttachOptions, sessions: u32, bytes: u64) -> EchoReport {
        let (tx, rx) = mpsc::channel();
        let cfg = EchoClientConfig {
            remote: parse_uri(uri).unwrap(),
            sessions,
            bytes,
            chunk: 1200,
            window: 8,
            timeout_ns: 20_000_000_000,
            options: TransportOptions::default(),
            mode: EchoMode::Bulk,
            connections: 0,
            duration_ns: 0,
        };
        let mut f = |w| AppLink::Builtin(Some(Box::new(EchoClient::new(cfg.clone(), w, 1, tx.clone())) as _));
        let (app, _, _) = self.ctx.attach(name, opts, AppWorkerKind::Builtin, &mut f).unwrap();
        let mut report = None;
        self.until(name, |_| {
            report = rx.try_recv().ok();
            report.is_some()
        });
        self.ctx.detach(app).unwrap();
        merge_reports(vec![report.unwrap()])
    }

    fn sessions(&mut self) -> usize {
        self.ctx.on_workers(|sw, _, _, _| sw.session_count()).into_iter().sum()
    }

    fn app_named(&self, name: &str) -> bool {
        self.ctx.tables().control.app_by_name(name).is_some()
    }

    fn tx_packets(&self) -> u64 {
        port::stats(self.port).tx_packets
    }
}

fn builtin() -> AttachOptions {
    AttachOptions { segment_size: 4 << 20, ..AttachOptions::builtin() }
}

fn server_cfg(socket: &Path, name: &str, uri: &str, opts: AttachOptions) -> ServerConfig {
    ServerConfig {
        socket: socket.to_path_buf(),
        uri: Endpoint::parse_uri(uri).unwrap(),
        name: name.into(),
        opts,
        threads: 1,
        duration: None,
    }
}

fn client_cfg(socket: &Path, name: &str, uri: &str, opts: AttachOptions, sessions: u32, bytes: u64) -> ClientConfig {
    let uri = Endpoint::parse_uri(uri).unwrap();
    ClientConfig {
        socket: socket.to_path_buf(),
        uri,
        name: name.into(),
        opts,
        threads: 1,
        sessions,
        bytes,
        chunk: if uri.proto == shm::types::Proto::Udp { 1200 } else { 16 << 10 },
        window: 8,
        timeout: Duration::from_secs(30),
        connect: TransportOptions::default(),
        mode: EchoMode::Bulk,
        connections: 0,
        duration: None,
    }
}

fn local() -> AttachOptions {
    AttachOptions { scope: Scope::LOCAL, segment_size: 4 << 20, ..AttachOptions::default() }
}

fn small() -> AttachOptions {
    AttachOptions { segment_size: 4 << 20, ..AttachOptions::default() }
}

type Served = Result<Arc<dpnode_client::echo::ServerTotals>, Error>;

/// Stops every server it knows when dropped, so a failing assertion ends the
/// test instead of leaving the scope waiting for servers that never stop.
#[derive(Default)]
struct StopAll(std::sync::Mutex<Vec<Arc<AtomicBool>>>);

impl Drop for StopAll {
    fn drop(&mut self) {
        for s in self.0.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            s.store(true, Ordering::SeqCst);
        }
    }
}

/// Runs an external echo server in a scoped thread; the receiver hears once it listens.
fn spawn_server<'s>(
    sc: &'s std::thread::Scope<'s, '_>,
    all: &StopAll,
    cfg: ServerConfig,
    stop: &Arc<AtomicBool>,
) -> (std::thread::ScopedJoinHandle<'s, Served>, mpsc::Receiver<()>) {
    let (ready_tx, ready_rx) = mpsc::channel();
    all.0.lock().unwrap().push(stop.clone());
    let stop = stop.clone();
    let h = sc.spawn(move || {
        let ready_tx = std::sync::Mutex::new(ready_tx);
        run_server(&cfg, &stop, || {
            let _ = ready_tx.lock().unwrap().send(());
        })
    });
    (h, ready_rx)
}

fn wait_secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// xorshift64*: a seeded generator for the fuzzing below.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn external_apps_over_a_ring_port() {
    let (ctx, ring) = RingNode::start(16383, 20);
    let id = ring.port_id;
    let socket = std::env::temp_dir().join(format!("dpnode-ext-test-{}.sock", std::process::id()));
    let stats = Arc::new(ApiStats::default());
    let api = ApiServer::bind(&socket, stats.clone()).unwrap();
    let mut node = Node { ctx, api, stats, port: id };
    let base = live_counts();

    std::thread::scope(|sc| {
        let stop_all = StopAll::default();
        // 1. An external UDP echo server; a builtin client reaches it through the ring.
        let stop_srv = Arc::new(AtomicBool::new(false));
        let (srv, ready_rx) =
            spawn_server(sc, &stop_all, server_cfg(&socket, "ext-srv", "udp://0.0.0.0/7", small()), &stop_srv);
        node.until("external server listening", |_| ready_rx.try_recv().is_ok());
        assert_eq!(live_counts(), (base.0 + 1, base.1), "attach made the first segment (with the queues)");
        let tx_before = node.tx_packets();
        let r = node.builtin_client("cli", "udp://198.18.5.1/7", builtin(), 3, 60_000);
        assert!(r.ok(), "{}", r.format());
        assert!(node.tx_packets() - tx_before > 2 * 3 * 60_000 / 1200, "both ways went through the ring");
        assert_eq!(node.sessions(), 3, "the external server keeps its accepted sessions");
        assert_eq!(live_counts(), (base.0 + 1, base.1 + 3));
        let detail = node.ctx.on_workers(|sw, _, _, _| sw.app_snapshots()).concat();
        assert!(detail.iter().any(|(_, d)| matches!(d, AppWorkerSnapshot::External(_))), "{detail:?}");

        // 2. An external client over the transport to a builtin server.
        let mut f = |_| AppLink::Builtin(Some(Box::new(EchoServer::new()) as _));
        let (bsrv, bwrk, _) = node.ctx.attach("builtin-srv", builtin(), AppWorkerKind::Builtin, &mut f).unwrap();
        node.ctx.listen(bsrv, bwrk, parse_uri("udp://0.0.0.0/9").unwrap()).unwrap();
        let cfg = client_cfg(&socket, "ext-cli", "udp://198.18.5.1/9", small(), 2, 100_000);
        let c = sc.spawn(move || run_client(&cfg));
        node.until("external client", |_| c.is_finished());
        let r = c.join().unwrap().unwrap();
        assert!(r.ok() && r.bytes_received == 200_000, "{}", r.format());
        node.ctx.detach(bsrv).unwrap();

        // 2b. TCP through the ring: a builtin client to the external server, and the external
        // client to a builtin TCP server.
        let stop_tcp = Arc::new(AtomicBool::new(false));
        let (tsrv, ready_rx) =
            spawn_server(sc, &stop_all, server_cfg(&socket, "ext-tcp-srv", "tcp://0.0.0.0/84", small()), &stop_tcp);
        node.until("external tcp server", |_| ready_rx.try_recv().is_ok());
        let r = node.builtin_client("tcp-cli", "tcp://198.18.5.1/84", builtin(), 2, 1 << 20);
        assert!(r.ok() && r.bytes_received == 2 << 20, "{}", r.format());
        let mut f = |_| AppLink::Builtin(Some(Box::new(EchoServer::new()) as _));
        let (btcp, bwrk, _) = node.ctx.attach("builtin-tcp", builtin(), AppWorkerKind::Builtin, &mut f).unwrap();
        node.ctx.listen(btcp, bwrk, parse_uri("tcp://0.0.0.0/85").unwrap()).unwrap();
        let cfg = client_cfg(&socket, "ext-tcp-cli", "tcp://198.18.5.1/85", small(), 2, 1 << 20);
        let c = sc.spawn(move || run_client(&cfg));
        node.until("external tcp client", |_| c.is_finished());
        let r = c.join().unwrap().unwrap();
        assert!(r.ok() && r.bytes_received == 2 << 20, "{}", r.format());
        // The builtin client's other modes, from outside: request/response and connections.
        let rr = ClientConfig {
            mode: EchoMode::Rr,
            chunk: 64,
            bytes: 64 * 200,
            ..client_cfg(&socket, "ext-rr", "tcp://198.18.5.1/85", small(), 2, 0)
        };
        let c = sc.spawn(move || run_client(&rr));
        node.until("external rr client", |_| c.is_finished());
        let r = c.join().unwrap().unwrap();
        assert!(r.ok() && r.rtt_seen == 400, "{}", r.format());
        assert!(r.format().contains("transactions 400"), "{}", r.format());
        let cps = ClientConfig {
            mode: EchoMode::Cps,
            chunk: 64,
            connections: 30,
            ..client_cfg(&socket, "ext-cps", "tcp://198.18.5.1/85", small(), 3, 0)
        };
        let c = sc.spawn(move || run_client(&cps));
        node.until("external cps client", |_| c.is_finished());
        let r = c.join().unwrap().unwrap();
        assert!(r.ok() && r.connections == 30 && r.connected == 30, "{}", r.format());
        node.ctx.detach(btcp).unwrap();
        stop_tcp.store(true, Ordering::SeqCst);
        node.until("external tcp server stops", |_| tsrv.is_finished());
        tsrv.join().unwrap().unwrap();
        node.until("tcp apps gone", |n| !n.app_named("ext-tcp-srv") && n.sessions() == 3);

        // 3. Requests with garbage and foreign handles, from another app, change nothing of ext-srv's.
        let before = node.stats.bad_requests.load(Ordering::Relaxed) + node.stats.bad_sessions.load(Ordering::Relaxed);
        let sock = socket.clone();
        let fuzz = sc.spawn(move || {
            let (app, mut w) = App::attach(&sock, "fuzzer", &small()).unwrap();
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
            let mut sent = 0;
            let mut p = [0u8; MAX_PAYLOAD];
            while sent < 3000 {
                let r = rng.next();
                let kind = (r % 12) as u16;
                let len = ((r >> 8) % (MAX_PAYLOAD as u64 + 1)) as usize;
                for b in p.iter_mut() {
                    *b = rng.next() as u8;
                }
                // Half the time a well-formed request about someone else's session (ext-srv's live ones
                // are 0:0..0:2), with the right or a wrong generation.
                let (kind, len) = if r & 1 == 0 {
                    let s = msg::SessionRef { session: (r >> 16) % 4, generation: ((r >> 24) % 2) as u32 };
                    let req = match (r >> 4) % 5 {
                        0 => Request::Disconnect(s),
                        1 => Request::ResetReply(s),
                        2 => Request::AcceptReply { session: s, code: 0 },
                        3 => Request::Tx { session: s, want_tx_space: true },
                        _ => Request::RxRead(s),
                    };
                    (req.kind(), req.emit(&mut p))
                } else {
                    (kind, len)
                };
                match w.send_raw_request(0, kind, &p[..len]) {
                    Ok(()) => sent += 1,
                    Err(_) => std::thread::sleep(Duration::from_micros(100)),
                }
            }
            // Listens cost the main thread a barrier each: a flood of them is throttled.
            let mut listens = 0u16;
            while listens < 400 {
                let ep = shm::types::Endpoint::v4(shm::types::Proto::Udp, Ipv4Addr::UNSPECIFIED, 20_000 + listens);
                let req = Request::Listen { context: u64::from(listens), ep };
                let n = req.emit(&mut p);
                match w.send_raw_request(0, req.kind(), &p[..n]) {
                    Ok(()) => listens += 1,
                    Err(_) => std::thread::sleep(Duration::from_micros(100)),
                }
            }
            // Then (once the rate allows again) an unlisten of a listener that is not ours.
            std::thread::sleep(Duration::from_millis(500));
            let other = w.unlisten(dpnode_client::ListenerId(u64::from(u32::MAX) << 32));
            drop(w);
            app.detach().unwrap();
            other
        });
        node.until("fuzzer", |_| fuzz.is_finished());
        let unlisten = fuzz.join().unwrap();
        assert_eq!(unlisten.unwrap_err().node_error(), Some(NodeError::NoSuchListener), "not the fuzzer's listener");
        let after = node.stats.bad_requests.load(Ordering::Relaxed) + node.stats.bad_sessions.load(Ordering::Relaxed);
        assert!(after - before > 1000, "garbage was counted: {before} -> {after}");
        assert_eq!(node.sessions(), 3, "ext-srv's sessions survived the fuzzer");
        let throttled = node.stats.control_throttled.load(Ordering::Relaxed);
        assert!(throttled >= 200, "400 listens at once: the burst passes, most of the rest are refused ({throttled})");
        assert_eq!(node.ctx.tables().control.listener_count(), 1, "the fuzzer's listeners went with it");
        let r = node.builtin_client("cli2", "udp://198.18.5.1/7", builtin(), 2, 30_000);
        assert!(r.ok(), "ext-srv still serves: {}", r.format());

        // 4. Wrong namespace secret: refused with that error; nothing is created.
        node.ctx.namespace_add("red", 7, 0, None).unwrap();
        let sock = socket.clone();
        let wrong = sc.spawn(move || {
            let opts = AttachOptions { namespace: "red".into(), secret: 8, ..small() };
            App::attach(&sock, "x", &opts).map(|_| ())
        });
        node.until("wrong secret", |_| wrong.is_finished());
        let e = wrong.join().unwrap().unwrap_err();
        assert_eq!(e.node_error(), Some(NodeError::WrongNamespaceSecret), "{e}");
        assert!(e.to_string().contains("wrong secret for namespace \"red\""), "{e}");

        stop_srv.store(true, Ordering::SeqCst);
        node.until("external server stops", |_| srv.is_finished());
        srv.join().unwrap().unwrap();
        node.until("ext-srv detached", |n| !n.app_named("ext-srv"));
        assert_eq!(node.sessions(), 0);
        assert_eq!(live_counts(), base, "detach returned every fifo and segment");

        // 5. Cut-through between two external apps: stream and datagram, no packets on the port.
        for (uri, bytes) in [("tcp://0.0.0.0/80", 2 << 20), ("udp://0.0.0.0/81", 200_000)] {
            let stop_ct = Arc::new(AtomicBool::new(false));
            let (ct, ready_rx) = spawn_server(sc, &stop_all, server_cfg(&socket, "ct-srv", uri, local()), &stop_ct);
            node.until("ct server", |_| ready_rx.try_recv().is_ok());
            let tx_before = node.tx_packets();
            let target = uri.replace("0.0.0.0", "198.18.5.1");
            let cfg = client_cfg(&socket, "ct-cli", &target, local(), 4, bytes);
            let c = sc.spawn(move || run_client(&cfg));
            node.until("ct client", |_| c.is_finished());
            let r = c.join().unwrap().unwrap();
            assert!(r.ok() && r.bytes_received == 4 * bytes, "{uri}: {}", r.format());
            assert_eq!(node.tx_packets(), tx_before, "{uri}: cut-through never touches the port");
            stop_ct.store(true, Ordering::SeqCst);
            node.until("ct server stops", |_| ct.is_finished());
            ct.join().unwrap().unwrap();
            node.until("ct apps gone", |n| n.sessions() == 0 && !n.app_named("ct-srv"));
            assert_eq!(live_counts(), base, "{uri}: every pair and segment is back");
        }

        // 6. Segments added while an app runs reach it on demand, and their removal is told.
        let announced = node.stats.segments_announced.load(Ordering::Relaxed);
        let withdrawn = node.stats.segments_withdrawn.load(Ordering::Relaxed);
        let tiny = AttachOptions {
            scope: Scope::LOCAL,
            segment_size: 1 << 20,
            add_segment_size: 1 << 20,
            event_queue_size: 256,
            ..AttachOptions::default()
        };
        let stop_g = Arc::new(AtomicBool::new(false));
        let (grow, ready_rx) =
            spawn_server(sc, &stop_all, server_cfg(&socket, "grow-srv", "tcp://0.0.0.0/82", tiny), &stop_g);
        node.until("grow server", |_| ready_rx.try_recv().is_ok());
        let cfg = client_cfg(&socket, "grow-cli", "tcp://198.18.5.1/82", local(), 24, 256 << 10);
        let c = sc.spawn(move || run_client(&cfg));
        node.until("grow client", |_| c.is_finished());
        let r = c.join().unwrap().unwrap();
        assert!(r.ok(), "{}", r.format());
        // 24 pairs of 64 KiB fifos need several 1 MiB segments; both apps were given them.
        assert!(node.stats.segments_announced.load(Ordering::Relaxed) >= announced + 6);
        // grow-srv's first segment (which also holds its queues) takes 7 pairs, each added one 7 more,
        // so the 24 sessions needed 3 added segments; once they are closed, the app is told they are gone.
        let grow_index = node.ctx.tables().control.app_by_name("grow-srv").map(|a| a.index).unwrap();
        node.until("added segments withdrawn", |n| {
            live_counts() == (base.0 + 1, base.1)
                && n.api.describe_app(grow_index).iter().flat_map(|c| &c.workers).any(|w| w.segments_mapped == 1)
        });
        assert!(node.stats.segments_withdrawn.load(Ordering::Relaxed) >= withdrawn + 3);
        stop_g.store(true, Ordering::SeqCst);
        node.until("grow server stops", |_| grow.is_finished());
        grow.join().unwrap().unwrap();
        node.until("grow apps gone", |n| !n.app_named("grow-srv"));
        assert_eq!(live_counts(), base);

        // 7. A reset reaches an external app: its server is detached under an open cut-through
        // session; the client is told, answers, and the pair is freed.
        let (ready_tx, ready_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let sock = socket.clone();
        let reset = sc.spawn(move || {
            let (srv_app, mut sw) = App::attach(&sock, "rst-srv", &local()).unwrap();
            sw.listen(Endpoint::parse_uri("tcp://0.0.0.0/83").unwrap()).unwrap();
            let (cli_app, mut cw) = App::attach(&sock, "rst-cli", &local()).unwrap();
            let s = cw
                .connect(
                    Endpoint::parse_uri("tcp://198.18.5.1/83").unwrap(),
                    TransportOptions::default(),
                    Duration::from_secs(10),
                )
                .unwrap();
            assert_eq!(cw.write(s, b"hello").unwrap(), 5);
            ready_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            drop(sw);
            drop(srv_app);
            let mut events = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(20);
            while !events.contains(&Event::Reset(s)) {
                assert!(Instant::now() < deadline, "no reset: {events:?}");
                cw.wait(&mut events, 16, Some(Duration::from_millis(50))).unwrap();
            }
            assert!(matches!(cw.write(s, b"x"), Err(Error::BadSession)), "the session is gone");
            cw.flush(Duration::from_secs(5)).unwrap();
            (cli_app, cw)
        });
        node.until("reset setup", |_| ready_rx.try_recv().is_ok());
        assert_eq!(node.sessions(), 2);
        // Each app's first segment, and the segment only the two of them share for cut-through.
        assert_eq!(live_counts(), (base.0 + 3, base.1 + 1));
        // Isolation: the client was given its own segment and the shared one, never the server's.
        let control = &node.ctx.tables().control;
        let first_segment = |name: &str| {
            let app = control.app_by_name(name).unwrap();
            let (_, wrk) = app.workers().next().unwrap();
            let sm = control.app_worker(wrk).unwrap().resources.segments();
            (app.index, sm.segment(0).unwrap().id())
        };
        let (srv_index, srv_seg) = first_segment("rst-srv");
        let (cli_index, cli_seg) = first_segment("rst-cli");
        let cli_ids = node.api.app_segment_ids(cli_index);
        let srv_ids = node.api.app_segment_ids(srv_index);
        assert_eq!(cli_ids.len(), 2, "{cli_ids:?}");
        assert!(cli_ids.contains(&cli_seg) && !cli_ids.contains(&srv_seg), "client {cli_ids:?}, server's {srv_seg}");
        let shared: Vec<u64> = cli_ids.iter().filter(|id| srv_ids.contains(id)).copied().collect();
        assert_eq!(shared.len(), 1, "exactly the cut-through segment is shared: {cli_ids:?} {srv_ids:?}");
        let srv = node.ctx.tables().control.app_by_name("rst-srv").map(|a| a.index).unwrap();
        let srv = node.ctx.tables().control.app_handle(srv).unwrap();
        node.ctx.detach(srv).unwrap();
        go_tx.send(()).unwrap();
        node.until("reset answered", |n| n.sessions() == 0);
        node.until("rst-srv connection closed", |n| n.api.clients().len() == 1);
        assert_eq!(live_counts(), (base.0 + 1, base.1), "the client's reply freed the pair and rst-srv's segment");
        node.until("reset thread", |_| reset.is_finished());
        let (cli_app, cw) = reset.join().unwrap();
        drop(cw);
        drop(cli_app);
        node.until("rst-cli gone", |n| !n.app_named("rst-cli"));
        assert_eq!(live_counts(), base);

        // 8. An app that stops reading its events is detached once its backlog overflows.
        let (ready_tx, ready_rx) = mpsc::channel();
        let sock = socket.clone();
        let sleepy = sc.spawn(move || {
            let opts = AttachOptions { event_queue_size: 64, rx_fifo_size: 4096, tx_fifo_size: 4096, ..small() };
            let (app, mut w) = App::attach(&sock, "sleepy", &opts).unwrap();
            ready_tx.send(()).unwrap();
            // Connects whose answers (connected events) nobody reads: 64 fit the queue, 512 the backlog.
            let mut p = [0u8; MAX_PAYLOAD];
            let remote = shm::types::Endpoint {
                proto: shm::types::Proto::Udp,
                ip: Ipv4Addr::new(198, 18, 5, 9).into(),
                port: 7,
            };
            let mut sent = 0u64;
            let deadline = Instant::now() + Duration::from_secs(30);
            while sent < 700 && Instant::now() < deadline {
                let req =
                    Request::Connect { opaque: sent, parent: msg::NO_HANDLE, remote, options: Default::default() };
                let n = req.emit(&mut p);
                match w.send_raw_request(0, req.kind(), &p[..n]) {
                    Ok(()) => sent += 1,
                    Err(_) => std::thread::sleep(Duration::from_micros(200)),
                }
            }
            let mut events = Vec::new();
            // The node closes our connection: the worker sees it.
            let mut closed = false;
            while !closed && Instant::now() < deadline {
                closed = matches!(w.wait(&mut events, 16, Some(Duration::from_millis(10))), Err(Error::Closed));
                events.clear();
            }
            drop(app);
            closed
        });
        node.until("sleepy attached", |_| ready_rx.try_recv().is_ok());
        node.until("sleepy detached", |n| !n.app_named("sleepy"));
        assert_eq!(node.stats.detaches_misbehaving.load(Ordering::Relaxed), 1);
        assert!(node.stats.backlog_overflows.load(Ordering::Relaxed) >= 1);
        assert!(node.stats.queue_full.load(Ordering::Relaxed) >= 1);
        node.until("sleepy thread", |_| sleepy.is_finished());
        assert!(sleepy.join().unwrap(), "the app saw its connection closed");
        assert_eq!(node.sessions(), 0);
        assert_eq!(live_counts(), base, "the misbehaving app's sessions and segments are gone");

        // 9. App workers: a second one (another thread) takes accepts too; deleting workers
        // frees their segments, the last one the application.
        let (ready_tx, ready_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let sock = socket.clone();
        let wrk = sc.spawn(move || {
            let (app, w0) = App::attach(&sock, "two-wrk", &small()).unwrap();
            let w1 = app.worker_add().unwrap();
            assert_eq!((w0.index(), w1.index()), (0, 1));
            ready_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            app.worker_del(w1).unwrap();
            ready_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            app.worker_del(w0).unwrap();
            ready_tx.send(()).unwrap();
        });
        node.until("two workers", |_| ready_rx.try_recv().is_ok());
        assert_eq!(live_counts(), (base.0 + 2, base.1), "each app worker has its first segment");
        go_tx.send(()).unwrap();
        node.until("worker del", |_| ready_rx.try_recv().is_ok());
        assert_eq!(live_counts(), (base.0 + 1, base.1));
        assert!(node.app_named("two-wrk"));
        go_tx.send(()).unwrap();
        node.until("last worker del", |_| ready_rx.try_recv().is_ok());
        assert!(!node.app_named("two-wrk"), "the last worker took the application with it");
        node.until("worker thread", |_| wrk.is_finished());
        wrk.join().unwrap();
        assert_eq!(live_counts(), base);

        // 10. One application over two connections, as after a fork: the second connection
        // joins with the app's share token, joins its listener, makes the first worker (which
        // never accepts, like nginx's master) passive and takes every accept; when the second
        // connection goes, only its worker and sessions go, and the application stays.
        let (ready_tx, ready_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let sock = socket.clone();
        let forked = sc.spawn(move || {
            let (app, mut w0) = App::attach(&sock, "forked", &small()).unwrap();
            let ep = Endpoint::parse_uri("tcp://0.0.0.0/86").unwrap();
            let l = w0.listen(ep).unwrap();
            let token = app.share_token().unwrap();
            assert_eq!(app.share_token().unwrap(), token, "one token for the application's life");
            let wait = Duration::from_secs(10);
            let bad = App::join(&sock, "forked", app.handle(), token ^ 1, wait).map(|_| ()).unwrap_err();
            let (child, mut w1) = App::join(&sock, "forked", app.handle(), token, wait).unwrap();
            assert_eq!(w1.index(), 1);
            assert_eq!(w1.listen(ep).unwrap(), l, "the child joins the parent's listener");
            child.listener_passive(l, w0.handle(), true).unwrap();
            ready_tx.send(bad).unwrap();
            // The child echoes what it accepts; the parent's worker never looks at its queues.
            let (mut events, mut buf) = (Vec::new(), vec![0u8; 65536]);
            // (Until told, or until the test gives up: a dropped sender ends the loop too.)
            while matches!(go_rx.try_recv(), Err(mpsc::TryRecvError::Empty)) {
                events.clear();
                w1.wait(&mut events, 64, Some(Duration::from_millis(10))).unwrap();
                for ev in &events {
                    match *ev {
                        Event::Accept(l) => while let Ok(Some(_)) = w1.accept(l) {},
                        Event::Readable(s) | Event::Writable(s) => {
                            while w1.write_space(s) > 0 {
                                match w1.read(s, &mut buf[..w1.write_space(s).min(65536)]) {
                                    Ok(n) if n > 0 => assert_eq!(w1.write(s, &buf[..n]).unwrap(), n),
                                    _ => break,
                                }
                            }
                            if w1.rx_pending(s).is_some_and(|n| n > 0) {
                                let _ = w1.want_writable(s);
                            }
                        }
                        Event::PeerClosed(s) => w1.close(s).unwrap(),
                        _ => {}
                    }
                }
            }
            drop(w1);
            drop(child);
            let _ = go_rx.recv();
            (app, w0)
        });
        let bad = loop {
            node.turn();
            if let Ok(b) = ready_rx.try_recv() {
                break b;
            }
            std::thread::sleep(Duration::from_micros(500));
        };
        assert_eq!(bad.node_error(), Some(NodeError::NotYours), "a wrong token: {bad}");
        assert_eq!(node.stats.join_failures.load(Ordering::Relaxed), 1);
        assert_eq!(node.stats.joins.load(Ordering::Relaxed), 1);
        // Every session goes to the child's worker: with half of them on the passive parent,
        // which never accepts, the client would time out.
        let r = node.builtin_client("fork-cli", "tcp://198.18.5.1/86", builtin(), 4, 256 << 10);
        assert!(r.ok() && r.bytes_received == 4 * (256 << 10), "{}", r.format());
        let workers: Vec<Vec<(u32, bool)>> = (node.ctx.tables().control.listeners_snapshot().iter())
            .map(|l| l.workers.iter().map(|w| (w.map, w.passive)).collect())
            .collect();
        assert!(workers.contains(&vec![(0, true), (1, false)]), "{workers:?}");
        node.until("echo sessions closed", |n| n.sessions() == 0);
        assert_eq!(live_counts(), (base.0 + 2, base.1), "two app workers, a first segment each");
        let app_workers = |n: &Node| n.ctx.tables().control.app_by_name("forked").map(|a| a.worker_count());
        go_tx.send(()).unwrap();
        node.until("the child's worker deleted", |n| app_workers(n) == Some(1));
        assert_eq!(node.stats.workers_deleted_client_gone.load(Ordering::Relaxed), 1);
        assert_eq!(live_counts(), (base.0 + 1, base.1), "the child's segment went with it");
        assert_eq!(node.ctx.tables().control.listener_count(), 1, "the parent still listens");
        go_tx.send(()).unwrap();
        node.until("forked thread", |_| forked.is_finished());
        let (app, w0) = forked.join().unwrap();
        drop(w0);
        drop(app);
        node.until("forked gone", |n| !n.app_named("forked"));
        assert_eq!(live_counts(), base);

        // 11. Half-close through cut-through: the client shuts down writing, the server reads
        // the data, then the end, and still answers; the client reads the answer.
        let sock = socket.clone();
        let half = sc.spawn(move || {
            let (srv_app, mut sw) = App::attach(&sock, "half-srv", &local()).unwrap();
            let l = sw.listen(Endpoint::parse_uri("tcp://0.0.0.0/87").unwrap()).unwrap();
            let (cli_app, mut cw) = App::attach(&sock, "half-cli", &local()).unwrap();
            let c = cw
                .connect(
                    Endpoint::parse_uri("tcp://198.18.5.1/87").unwrap(),
                    TransportOptions::default(),
                    wait_secs(10),
                )
                .unwrap();
            assert_eq!(cw.write(c, b"question").unwrap(), 8);
            cw.shutdown_write(c).unwrap();
            let mut events = Vec::new();
            let deadline = Instant::now() + wait_secs(20);
            let mut got = Vec::new();
            let mut s = None;
            let mut peer_closed = false;
            let mut buf = [0u8; 64];
            while !(peer_closed && got.len() == 8) {
                assert!(Instant::now() < deadline, "server: {events:?} {got:?}");
                events.clear();
                sw.wait(&mut events, 16, Some(Duration::from_millis(10))).unwrap();
                for ev in &events {
                    match *ev {
                        Event::Accept(_) => s = sw.accept(l).unwrap(),
                        Event::PeerClosed(_) => peer_closed = true,
                        _ => {}
                    }
                }
                if let Some(s) = s {
                    while let Ok(n) = sw.read(s, &mut buf) {
                        if n == 0 {
                            break;
                        }
                        got.extend_from_slice(&buf[..n]);
                    }
                }
            }
            assert_eq!(got, b"question");
            let s = s.unwrap();
            assert_eq!(sw.read(s, &mut buf).unwrap(), 0, "the end of the client's stream");
            assert_eq!(sw.write(s, b"answer").unwrap(), 6, "the server still writes");
            let mut back = Vec::new();
            while back.len() < 6 {
                assert!(Instant::now() < deadline, "client: {back:?}");
                events.clear();
                cw.wait(&mut events, 16, Some(Duration::from_millis(10))).unwrap();
                while let Ok(n) = cw.read(c, &mut buf) {
                    if n == 0 {
                        break;
                    }
                    back.extend_from_slice(&buf[..n]);
                }
            }
            assert_eq!(back, b"answer");
            sw.close(s).unwrap();
            cw.close(c).unwrap();
            cw.flush(wait_secs(5)).unwrap();
            sw.flush(wait_secs(5)).unwrap();
            drop((sw, cw));
            drop((srv_app, cli_app));
        });
        node.until("half-close", |_| half.is_finished());
        half.join().unwrap();
        node.until("half apps gone", |n| !n.app_named("half-srv") && !n.app_named("half-cli") && n.sessions() == 0);
        assert_eq!(live_counts(), base);

        // 12. A client that connects and closes before the server accepts: the server still
        // learns of the close when it accepts (it would otherwise wait for data forever).
        let sock = socket.clone();
        let early = sc.spawn(move || {
            let (srv_app, mut sw) = App::attach(&sock, "early-srv", &local()).unwrap();
            let l = sw.listen(Endpoint::parse_uri("tcp://0.0.0.0/88").unwrap()).unwrap();
            let (cli_app, mut cw) = App::attach(&sock, "early-cli", &local()).unwrap();
            let c = cw
                .connect(
                    Endpoint::parse_uri("tcp://198.18.5.1/88").unwrap(),
                    TransportOptions::default(),
                    wait_secs(10),
                )
                .unwrap();
            cw.close(c).unwrap();
            cw.flush(wait_secs(5)).unwrap();
            let mut events = Vec::new();
            let deadline = Instant::now() + wait_secs(20);
            while !events.contains(&Event::Accept(l)) {
                assert!(Instant::now() < deadline, "no accept: {events:?}");
                sw.wait(&mut events, 16, Some(Duration::from_millis(10))).unwrap();
            }
            // The close reaches the server's queue while the session waits to be accepted.
            std::thread::sleep(Duration::from_millis(300));
            sw.wait(&mut events, 16, Some(Duration::ZERO)).unwrap();
            let s = sw.accept(l).unwrap().expect("the session waits to be accepted");
            while !events.contains(&Event::PeerClosed(s)) {
                assert!(Instant::now() < deadline, "the server never heard of the close: {events:?}");
                sw.wait(&mut events, 16, Some(Duration::from_millis(10))).unwrap();
            }
            let mut buf = [0u8; 8];
            assert_eq!(sw.read(s, &mut buf).unwrap(), 0, "end of stream");
            sw.close(s).unwrap();
            sw.flush(wait_secs(5)).unwrap();
            drop((sw, cw));
            drop((srv_app, cli_app));
        });
        node.until("early close", |_| early.is_finished());
        early.join().unwrap();
        node.until("early apps gone", |n| !n.app_named("early-srv") && !n.app_named("early-cli") && n.sessions() == 0);
        assert_eq!(live_counts(), base);
    });

    assert_eq!(node.stats.detaches_misbehaving.load(Ordering::Relaxed), 1);
    drop(node);
    assert!(!socket.exists(), "the socket file goes with the server");
    ring.stop();
}
