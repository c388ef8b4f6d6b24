//! Runs every input under `corpus/<target>/` (and `regressions/<target>/`)
//! through its target's `run`, on stable Rust without libFuzzer: the seeds
//! and every crash found so far stay passing. `tcp_states` also shows which
//! TCP states the corpus reaches. `write_seeds` (ignored) writes the API and
//! message-queue seeds from the real encoders. `REPLAY_DIRS=target/corpus`
//! replays what fuzz runs found instead (e.g. to see the TCP states reached).

use std::fs;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use arbitrary::{Arbitrary, Unstructured};
use dpnode_fuzz::*;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    // REPLAY_DIRS="target/corpus" replays what a fuzz run found instead.
    let dirs = std::env::var("REPLAY_DIRS").unwrap_or_else(|_| "corpus regressions".into());
    for dir in dirs.split_whitespace() {
        let Ok(entries) = fs::read_dir(root.join(dir).join(target)) else { continue };
        for e in entries.flatten() {
            out.push((e.path(), fs::read(e.path()).expect("read input")));
        }
    }
    out.sort();
    out
}

fn typed<T: for<'a> Arbitrary<'a>>(data: &[u8], f: impl Fn(&T)) {
    // As libfuzzer-sys decodes a typed input.
    if let Ok(v) = T::arbitrary_take_rest(Unstructured::new(data)) {
        f(&v)
    }
}

fn replay(target: &str, f: impl Fn(&[u8])) -> usize {
    let all = inputs(target);
    for (path, data) in &all {
        eprintln!("{}", path.display());
        f(data);
    }
    all.len()
}

/// A target that takes raw bytes.
type ByteTarget = (&'static str, fn(&[u8]));

#[test]
fn byte_targets() {
    let targets: [ByteTarget; 14] = [
        ("wire_ethernet", wire::ethernet),
        ("wire_arp", wire::arp),
        ("wire_ipv4", wire::ipv4),
        ("wire_icmp", wire::icmp),
        ("wire_ipv6", wire::ipv6),
        ("wire_icmpv6", wire::icmpv6),
        ("wire_udp", wire::udp),
        ("wire_tcp", wire::tcp),
        ("api", api::run),
        ("msg", msg::run),
        ("http", http::run),
        ("uri", uri::run),
        ("config", config::run),
        ("l3_input", l3::input),
    ];
    for (t, f) in targets {
        let n = replay(t, f);
        eprintln!("{t}: {n} inputs");
    }
}

#[test]
fn structured_targets() {
    replay("dgram", |d| typed(d, dgram::run));
    replay("mq", |d| typed(d, mq::run));
    replay("syncookie", |d| typed(d, syncookie::run));
}

#[test]
fn tcp_states() {
    let n = replay("tcp_connection", |d| typed(d, tcp::run));
    eprintln!("tcp_connection: {n} inputs; checks per state:");
    for (i, s) in tcp::STATES.iter().enumerate() {
        eprintln!("  {s:<12} {}", tcp::STATES_SEEN[i].load(Ordering::Relaxed));
    }
}

fn put(target: &str, name: &str, data: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    fs::create_dir_all(&dir).expect("corpus dir");
    fs::write(dir.join(name), data).expect("write seed");
}

#[test]
#[ignore = "writes the API and queue seeds into corpus/"]
fn write_seeds() {
    use shm::api::{AttachRequest, Body, Kind, Message, QueuePair, WorkerInfo};
    use shm::msg::{Event, FifoLoc, Request, SessionInfo, SessionRef, MAX_PAYLOAD};
    use shm::types::{AttachOptions, Endpoint, ErrorCode, Proto, ProxySet, Scope, TransportOptions, TransportProto};
    let attach = AttachRequest {
        name: "echo",
        options: AttachOptions {
            namespace: String::new(),
            secret: 0,
            segment_size: 32 << 20,
            add_segment_size: 0,
            prealloc_fifo_pairs: 0,
            rx_fifo_size: 64 << 10,
            tx_fifo_size: 64 << 10,
            event_queue_size: 256,
            scope: Scope::GLOBAL,
            use_eventfd: true,
            proxy: ProxySet::NONE,
            tls_engine: 0,
            builtin: false,
        },
    };
    let worker = WorkerInfo {
        app: 1,
        wrk: 2,
        wrk_map_index: 0,
        segment_id: 7,
        segment_size: 32 << 20,
        slots: 256,
        slot_size: 128,
        flags: shm::api::WORKER_HAS_EVENTFD,
        queues: vec![QueuePair { events: 4096, requests: 40960 }, QueuePair { events: 81920, requests: 122880 }],
    };
    let msgs = [
        ("attach", Message::request(Kind::AttachRequest, 1, Body::Attach(attach))),
        ("detach", Message::request(Kind::DetachRequest, 2, Body::Detach { app: 1 })),
        ("worker-add", Message::request(Kind::WorkerAddRequest, 3, Body::WorkerAdd { app: 1 })),
        ("worker-del", Message::request(Kind::WorkerDelRequest, 4, Body::WorkerDel { app: 1, wrk: 2 })),
        (
            "cert-key-add",
            Message::request(Kind::CertKeyAddRequest, 5, Body::CertKeyAdd { cert: b"-----BEGIN", key: b"KEY" }),
        ),
        ("cert-key-del", Message::request(Kind::CertKeyDelRequest, 6, Body::CertKeyDel { index: 0 })),
        ("attach-reply", Message { kind: Kind::AttachReply, code: 0, context: 1, body: Body::Worker(worker) }),
        (
            "segment-add",
            Message { kind: Kind::SegmentAdd, code: 0, context: 0, body: Body::SegmentAdd { id: 8, size: 1 << 20 } },
        ),
        ("segment-del", Message { kind: Kind::SegmentDel, code: 0, context: 0, body: Body::SegmentDel { id: 8 } }),
        ("detach-reply", Message { kind: Kind::DetachReply, code: 0, context: 2, body: Body::Empty }),
        ("failure", Message::failure(Kind::AttachRequest, 1, ErrorCode::ALL[0], "already attached")),
    ];
    let mut stream = Vec::new();
    for (name, m) in &msgs {
        let mut b = Vec::new();
        m.emit(&mut b);
        put("api", name, &b);
        stream.extend_from_slice(&b);
    }
    put("api", "stream", &stream);

    let s = SessionRef { session: 1 << 32 | 5, generation: 3 };
    let ep = Endpoint::v4(Proto::Tcp, Ipv4Addr::new(198, 18, 0, 1), 7);
    let info = SessionInfo {
        session: s.session,
        generation: s.generation,
        transport: TransportProto::from_u8(1).unwrap_or(TransportProto::Udp),
        local: SocketAddr::new(Ipv4Addr::new(198, 18, 0, 2).into(), 7),
        remote: SocketAddr::new(Ipv4Addr::new(198, 18, 0, 1).into(), 40000),
        rx: FifoLoc { segment: 7, offset: 65536, size: 65536 },
        tx: FifoLoc { segment: 7, offset: 200000, size: 65536 },
    };
    let ip6 = |last: u16| Ipv6Addr::new(0xfd00, 0x198, 0x18, 0, 0, 0, 0, last);
    let ep6 = Endpoint::v6(Proto::Udp, ip6(1), 7);
    let info6 = SessionInfo {
        local: SocketAddr::new(ip6(2).into(), 7),
        remote: SocketAddr::new(ip6(1).into(), 40000),
        ..info
    };
    let requests = [
        Request::Listen { context: 1, ep },
        Request::Unlisten { context: 2, listener: 9 },
        Request::Connect {
            opaque: 3,
            parent: u64::MAX,
            remote: ep,
            options: TransportOptions { mss: Some(1200), ..Default::default() },
        },
        Request::Disconnect(s),
        Request::AcceptReply { session: s, code: 0 },
        Request::ResetReply(s),
        Request::Tx { session: s, want_tx_space: true },
        Request::RxRead(s),
        Request::Listen { context: 4, ep: Endpoint::v6(Proto::Tcp, Ipv6Addr::UNSPECIFIED, 80) },
        Request::Connect { opaque: 5, parent: u64::MAX, remote: ep6, options: TransportOptions::default() },
    ];
    let events = [
        Event::Accepted { listener: 9, info },
        Event::Connected { opaque: 3, result: Ok(info) },
        Event::Connected { opaque: 3, result: Err(-101) },
        Event::Disconnected(s),
        Event::Reset(s),
        Event::Rx(s),
        Event::TxSpace(s),
        Event::Bound { context: 1, result: Ok((9, ep)) },
        Event::Unlistened { context: 2, listener: 9, code: 0 },
        Event::Accepted { listener: 9, info: info6 },
        Event::Bound { context: 4, result: Ok((10, ep6)) },
    ];
    let mut b = [0u8; MAX_PAYLOAD];
    for (i, r) in requests.iter().enumerate() {
        let n = r.emit(&mut b);
        let mut seed = vec![0u8];
        seed.extend_from_slice(&r.kind().to_le_bytes());
        seed.extend_from_slice(&b[..n]);
        put("msg", &format!("request-{i}"), &seed);
    }
    for (i, e) in events.iter().enumerate() {
        let n = e.emit(&mut b);
        let mut seed = vec![1u8];
        seed.extend_from_slice(&e.kind().to_le_bytes());
        seed.extend_from_slice(&b[..n]);
        put("msg", &format!("event-{i}"), &seed);
    }
}

#[test]
#[ignore = "copies, per TCP state, the three shortest found inputs reaching it into corpus/tcp_connection"]
fn pick_tcp_seeds() {
    let mut best: Vec<Vec<(usize, PathBuf, Vec<u8>)>> = vec![Vec::new(); tcp::STATES.len()];
    for (path, data) in inputs("tcp_connection") {
        let before: Vec<u64> = tcp::STATES_SEEN.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        typed(&data, tcp::run);
        for (i, c) in tcp::STATES_SEEN.iter().enumerate() {
            if c.load(Ordering::Relaxed) > before[i] {
                best[i].push((data.len(), path.clone(), data.clone()));
            }
        }
    }
    for (i, mut v) in best.into_iter().enumerate() {
        v.sort();
        for (n, (_, path, data)) in v.into_iter().take(3).enumerate() {
            let name = format!("{}-{n}", tcp::STATES[i].to_string().to_lowercase());
            eprintln!("{name} <- {}", path.display());
            put("tcp_connection", &name, &data);
        }
    }
}
