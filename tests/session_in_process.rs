//! The session layer in one process on a real DPDK worker: a `net_ring`
//! port whose transmit side feeds its own receive side, so the node talks
//! UDP to itself through real mbufs, ARP and IPv4, while the test thread is
//! the main thread (barrier, RPCs, control operations).
//!
//! Covers what the end-to-end tests cannot see from outside: fifo pairs and
//! segments counted exactly around detach and app worker delete, the accept
//! rotor over two app workers, listener join, cut-through versus transport,
//! and the error cases of the control operations as the main thread meets
//! them. The EAL starts once per process, so this is one test.

mod ring_node;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use dataplane::device::PortL3;
use dataplane::port;
use dpnode::runtime::MainCtx;
use echo::{merge_reports, EchoMode, EchoReport};
use ring_node::RingNode;
use session::app_worker::AppWorkerKind;
use session::apps::echo::{EchoClient, EchoClientConfig, EchoServer};
use session::builtin::{AppApi, BuiltinApp};
use session::error::SessionError;
use session::listener_tables::parse_uri;
use session::segment::live_counts;
use session::transport::{ConnectError, ConnectRequest};
use session::worker::AppLink;
use shm::types::{AttachOptions, Endpoint, Scope, SessionHandle, TransportOptions};

fn builtin() -> AttachOptions {
    AttachOptions { segment_size: 4 << 20, ..AttachOptions::builtin() }
}

fn server(_w: u32) -> AppLink<PortL3> {
    AppLink::Builtin(Some(Box::new(EchoServer::new())))
}

/// Runs an echo client app to the end and detaches it.
fn run_client(ctx: &mut MainCtx, name: &str, uri: &str, opts: AttachOptions, sessions: u32, bytes: u64) -> EchoReport {
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
    run_client_with(ctx, name, cfg, opts)
}

/// Runs an echo client with this configuration to the end and detaches it.
fn run_client_with(ctx: &mut MainCtx, name: &str, cfg: EchoClientConfig, opts: AttachOptions) -> EchoReport {
    let (tx, rx) = mpsc::channel();
    let mut f = |w| AppLink::Builtin(Some(Box::new(EchoClient::new(cfg.clone(), w, 1, tx.clone())) as _));
    let (app, _, _) = ctx.attach(name, opts, AppWorkerKind::Builtin, &mut f).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let report = loop {
        ctx.run_worker_rpcs();
        if let Ok(r) = rx.try_recv() {
            break r;
        }
        assert!(Instant::now() < deadline, "client {name} never finished");
        std::thread::sleep(Duration::from_millis(1));
    };
    ctx.detach(app).unwrap();
    merge_reports(vec![report])
}

/// A builtin app that asks to listen from its first poll (so the listen
/// travels worker -> main thread -> barrier -> back) and then echoes.
struct ListenFromWorker {
    ep: Endpoint,
    asked: bool,
    echo: EchoServer,
    bound: mpsc::Sender<Result<SessionHandle, SessionError>>,
}

impl BuiltinApp<PortL3> for ListenFromWorker {
    fn poll(&mut self, api: &mut AppApi<'_, PortL3>) -> usize {
        if self.asked {
            return 0;
        }
        self.asked = true;
        api.listen(self.ep);
        1
    }

    fn bound(&mut self, _api: &mut AppApi<'_, PortL3>, ep: Endpoint, r: Result<SessionHandle, SessionError>) {
        assert_eq!(ep, self.ep);
        let _ = self.bound.send(r);
    }

    fn rx(&mut self, api: &mut AppApi<'_, PortL3>, s: SessionHandle) {
        self.echo.rx(api, s)
    }

    fn tx(&mut self, api: &mut AppApi<'_, PortL3>, s: SessionHandle) {
        self.echo.tx(api, s)
    }
}

/// Connects once to the echo server, then tries connects with a parent
/// handle (a stale one, then its own live session): both are refused.
struct ParentConnect {
    target: Endpoint,
    step: u8,
    out: mpsc::Sender<(Result<(), SessionError>, Result<(), SessionError>)>,
    stale: Option<Result<(), SessionError>>,
}

impl BuiltinApp<PortL3> for ParentConnect {
    fn poll(&mut self, api: &mut AppApi<'_, PortL3>) -> usize {
        if self.step != 0 {
            return 0;
        }
        self.step = 1;
        let mut req = ConnectRequest::new(self.target);
        req.parent = Some(SessionHandle::new(0, 4242));
        self.stale = Some(api.connect(req));
        api.connect(ConnectRequest::new(self.target)).unwrap();
        1
    }

    fn connected(&mut self, api: &mut AppApi<'_, PortL3>, _opaque: u64, r: Result<SessionHandle, ConnectError>) {
        let mut req = ConnectRequest::new(self.target);
        req.parent = Some(r.expect("plain connect works"));
        let live = api.connect(req);
        let _ = self.out.send((self.stale.take().unwrap(), live));
    }
}

fn sessions_open(ctx: &mut MainCtx) -> usize {
    ctx.on_workers(|sw, _, _, _| sw.session_count()).into_iter().sum()
}

#[test]
fn session_layer_over_a_ring_port() {
    let (mut ctx, node) = RingNode::start(8191, 50);
    let (id, counters) = (node.port_id, node.stats.clone());
    let base = live_counts();

    // 1. Over the transport: the client's datagrams leave through the ring
    // and come back in to the server, whose echoes come back to the client.
    let (srv, srv_wrk, _) = ctx.attach("srv", builtin(), AppWorkerKind::Builtin, &mut server).unwrap();
    assert_eq!(live_counts(), (base.0 + 1, base.1), "attach made the first segment, no fifos yet");
    ctx.listen(srv, srv_wrk, parse_uri("udp://0.0.0.0/7").unwrap()).unwrap();
    let r = run_client(&mut ctx, "cli", "udp://198.18.5.1/7", builtin(), 3, 50_000);
    assert!(r.ok(), "{}", r.format());
    assert!(port::stats(id).tx_packets > 3 * 50_000 / 1200, "traffic went through the ring");
    // The server still holds its three accepted sessions; the client's went with its detach.
    assert_eq!(sessions_open(&mut ctx), 3);
    assert_eq!(live_counts(), (base.0 + 1, base.1 + 3));

    // 2. Errors, as the main thread meets them.
    let dup = ctx.attach("srv", builtin(), AppWorkerKind::Builtin, &mut server);
    assert!(matches!(dup, Err(SessionError::AlreadyAttached(_))));
    ctx.namespace_add("red", 7, 0, None).unwrap();
    let wrong = ctx.attach(
        "x",
        AttachOptions { namespace: "red".into(), secret: 8, ..builtin() },
        AppWorkerKind::Builtin,
        &mut server,
    );
    assert!(matches!(wrong, Err(SessionError::WrongNamespaceSecret(_))));
    let (other, other_wrk, _) = ctx.attach("other", builtin(), AppWorkerKind::Builtin, &mut server).unwrap();
    let busy = ctx.listen(other, other_wrk, parse_uri("udp://0.0.0.0/7").unwrap());
    assert!(matches!(busy, Err(SessionError::AddressInUse(_))));
    ctx.detach(other).unwrap();
    assert!(matches!(ctx.detach(other), Err(SessionError::NotAttached)), "a stale handle is refused");
    assert_eq!(live_counts(), (base.0 + 1, base.1 + 3), "failed and detached attaches left nothing");

    // 3. Cut-through: local scope on both sides, no packets on the ring.
    let local = AttachOptions { scope: Scope::LOCAL, ..builtin() };
    let (ct_srv, ct_wrk, _) = ctx.attach("ct-srv", local.clone(), AppWorkerKind::Builtin, &mut server).unwrap();
    ctx.listen(ct_srv, ct_wrk, parse_uri("tcp://0.0.0.0/80").unwrap()).unwrap();
    let tx_before = port::stats(id).tx_packets;
    let r = run_client(&mut ctx, "ct-cli", "tcp://198.18.5.1/80", local.clone(), 4, 1 << 20);
    assert!(r.ok(), "{}", r.format());
    assert_eq!(r.bytes_received, 4 << 20);
    assert_eq!(port::stats(id).tx_packets, tx_before, "cut-through never touches the port");
    // The client closed and detached; the server side closes on the peer's
    // disconnect, and the shared pair goes with the last side.
    let deadline = Instant::now() + Duration::from_secs(5);
    while sessions_open(&mut ctx) != 3 {
        assert!(Instant::now() < deadline, "cut-through server sessions did not close");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(live_counts(), (base.0 + 2, base.1 + 3), "ct pairs freed, ct-srv's segment remains");
    // Without local scope the same connect goes to the transport instead (and
    // nobody answers on tcp yet, so it fails rather than cut through).
    ctx.detach(ct_srv).unwrap();
    assert_eq!(live_counts(), (base.0 + 1, base.1 + 3));

    // A parent handle names a stream of a multiplexing transport; UDP and
    // TCP have none, so a connect with one is refused (never ignored).
    let (tx, rx) = mpsc::channel();
    let target = parse_uri("udp://198.18.5.1/7").unwrap();
    let mut f = |_w| {
        let app = ParentConnect { target, step: 0, out: tx.clone(), stale: None };
        AppLink::Builtin(Some(Box::new(app) as Box<dyn BuiltinApp<PortL3>>))
    };
    let (pc, _, _) = ctx.attach("parent", builtin(), AppWorkerKind::Builtin, &mut f).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let (stale, live) = loop {
        ctx.run_worker_rpcs();
        if let Ok(r) = rx.try_recv() {
            break r;
        }
        assert!(Instant::now() < deadline, "no connect results");
        std::thread::sleep(Duration::from_millis(1));
    };
    assert!(matches!(stale, Err(SessionError::InvalidValue { key: "parent", .. })), "{stale:?}");
    assert!(matches!(live, Err(SessionError::UnsupportedConfig(_))), "{live:?}");
    ctx.detach(pc).unwrap();

    // 4. A second app worker joins the listener; accepts alternate between them.
    let (w2, w2_shared) = ctx.app_worker_add(srv, &mut server).unwrap();
    ctx.listen(srv, w2, parse_uri("udp://0.0.0.0/7").unwrap()).unwrap();
    assert_eq!(live_counts(), (base.0 + 2, base.1 + 3), "the new worker has its own segment");
    let r = run_client(&mut ctx, "cli2", "udp://198.18.5.1/7", builtin(), 4, 10_000);
    assert!(r.ok(), "{}", r.format());
    assert_eq!(sessions_open(&mut ctx), 7);
    let first = ctx.tables().control.app_worker(srv_wrk.index).unwrap().resources.clone();
    assert_eq!((first.sessions_open(), w2_shared.sessions_open()), (5, 2), "rotor: 3 earlier + 2 of 4 new");

    // 5. Deleting the first worker tears down its sessions and frees its
    // segment; the listener stays with the second worker.
    let torn = ctx.app_worker_del(srv, srv_wrk).unwrap();
    assert_eq!(torn, 5);
    drop(first);
    assert_eq!(sessions_open(&mut ctx), 2);
    assert_eq!(live_counts(), (base.0 + 1, base.1 + 2));
    let r = run_client(&mut ctx, "cli3", "udp://198.18.5.1/7", builtin(), 1, 5_000);
    assert!(r.ok(), "still served by the second worker: {}", r.format());

    // 6. Deleting the last worker frees the application.
    ctx.app_worker_del(srv, w2).unwrap();
    drop(w2_shared);
    assert_eq!(ctx.tables().control.app_count(), 0);
    assert_eq!(sessions_open(&mut ctx), 0);
    assert_eq!(live_counts(), base, "every fifo and segment is back");
    assert_eq!(counters.session.get(session::worker::SessionCounter::FifoAllocFailed), 0);

    // 7. A listen asked from a worker callback runs on the main thread under
    // the barrier and comes back as `bound`; a second one is refused.
    for expect_ok in [true, false] {
        let (tx, rx) = mpsc::channel();
        let ep = parse_uri("udp://0.0.0.0/77").unwrap();
        let mut f = |_w| {
            let app = ListenFromWorker { ep, asked: false, echo: EchoServer::new(), bound: tx.clone() };
            AppLink::Builtin(Some(Box::new(app) as Box<dyn BuiltinApp<PortL3>>))
        };
        let name = if expect_ok { "late" } else { "late2" };
        let (app, _, _) = ctx.attach(name, builtin(), AppWorkerKind::Builtin, &mut f).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let r = loop {
            ctx.run_worker_rpcs();
            if let Ok(r) = rx.try_recv() {
                break r;
            }
            assert!(Instant::now() < deadline, "no bound callback");
            std::thread::sleep(Duration::from_millis(1));
        };
        if expect_ok {
            assert!(r.unwrap().is_listener());
            let rep = run_client(&mut ctx, "late-cli", "udp://198.18.5.1/77", builtin(), 1, 3_000);
            assert!(rep.ok(), "{}", rep.format());
        } else {
            assert!(matches!(r, Err(SessionError::AddressInUse(_))), "{r:?}");
            ctx.detach(app).unwrap();
        }
    }
    let late = ctx.tables().control.app_by_name("late").map(|a| a.index).unwrap();
    let h = ctx.tables().control.app_handle(late).unwrap();
    ctx.detach(h).unwrap();
    assert_eq!(live_counts(), base);

    // 8. TCP over the ring, to itself: every ephemeral port one worker has
    // (16384), one connection after another. The client side closes first,
    // so each of its connections sits in TIME-WAIT. After a second (the
    // reuse threshold), more connects must take over TIME-WAIT tuples
    // (timestamps on), since no port is free any more.
    let (tsrv, twrk, _) = ctx.attach("tsrv", builtin(), AppWorkerKind::Builtin, &mut server).unwrap();
    ctx.listen(tsrv, twrk, parse_uri("tcp://0.0.0.0/80").unwrap()).unwrap();
    let cps = |connections| EchoClientConfig {
        remote: parse_uri("tcp://198.18.5.1/80").unwrap(),
        sessions: 8,
        bytes: 0,
        chunk: 64,
        window: 1,
        timeout_ns: 120_000_000_000,
        options: TransportOptions::default(),
        mode: EchoMode::Cps,
        connections,
        duration_ns: 0,
    };
    let reused = |ctx: &mut MainCtx| -> u64 {
        ctx.on_workers(|sw, _, _, _| sw.tcp_stats().0.get(tcp::Counter::TimeWaitReused)).into_iter().sum()
    };
    let r = run_client_with(&mut ctx, "cps", cps(16_384), builtin());
    assert!(r.ok() && r.connections == 16_384, "{}", r.format());
    assert_eq!(reused(&mut ctx), 0, "free ports first");
    std::thread::sleep(Duration::from_millis(1100));
    let r = run_client_with(&mut ctx, "cps2", cps(2_000), builtin());
    assert!(r.ok() && r.connections == 2_000, "{}", r.format());
    assert_eq!(reused(&mut ctx), 2_000, "every new connect took over a TIME-WAIT tuple");
    ctx.detach(tsrv).unwrap();
    assert_eq!(live_counts(), base);

    node.stop();
}
