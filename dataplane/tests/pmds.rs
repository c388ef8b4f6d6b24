//! In-process tests on the DPDK layer: every virtual PMD the node relies on
//! probes through the shared-linked system DPDK, and packets move through
//! real ports (`net_ring` loopback, `net_null`) with our safe wrappers.
//!
//! The EAL can start once per process, so everything lives in one test.

use std::time::{Duration, Instant};

use dataplane::eal::Eal;
use dataplane::mbuf::Burst;
use dataplane::mempool::Mempool;
use dataplane::port::{Port, PortConfig};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn virtual_pmds_probe_and_move_packets() {
    let dir = std::env::temp_dir().join(format!("dpn-pmds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap_in = dir.join("in.pcap");
    // A pcap file with one 60-byte frame (global header + record header).
    let mut pcap = vec![];
    pcap.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    pcap.extend_from_slice(&2u16.to_le_bytes());
    pcap.extend_from_slice(&4u16.to_le_bytes());
    pcap.extend_from_slice(&[0; 8]);
    pcap.extend_from_slice(&65535u32.to_le_bytes());
    pcap.extend_from_slice(&1u32.to_le_bytes());
    pcap.extend_from_slice(&[0; 8]);
    pcap.extend_from_slice(&60u32.to_le_bytes());
    pcap.extend_from_slice(&60u32.to_le_bytes());
    pcap.extend_from_slice(&[0xab; 60]);
    std::fs::write(&pcap_in, pcap).unwrap();
    let vhost_sock = dir.join("vhost.sock");
    let memif_sock = dir.join("memif.sock");

    let mut vdevs = vec![
        ("net_null0", "net_null0".to_string()),
        ("net_ring0", "net_ring0".to_string()),
        ("net_pcap0", format!("net_pcap0,rx_pcap={},tx_pcap={}", pcap_in.display(), dir.join("out.pcap").display())),
        ("net_memif0", format!("net_memif0,role=server,socket={},socket-abstract=no", memif_sock.display())),
        ("net_vhost0", format!("net_vhost0,iface={},queues=1", dir.join("vhost-server.sock").display())),
        // The vhost-user backend for virtio_user runs in a second process.
        ("virtio_user0", format!("virtio_user0,path={},queues=1", vhost_sock.display())),
    ];
    if is_root() {
        vdevs.push(("net_tap0", format!("net_tap0,iface=dpnpmd{}", std::process::id() % 10000)));
    } else {
        eprintln!("not root: net_tap is not probed");
    }
    let mut backend = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "vhost_backend_process", "--nocapture"])
        .env(BACKEND_ENV, &vhost_sock)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !vhost_sock.exists() {
        assert!(Instant::now() < deadline, "the vhost backend process never made its socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut args: Vec<String> =
        vec!["--no-huge".into(), "--no-shconf".into(), "-m256".into(), "--no-pci".into(), "--no-telemetry".into()];
    args.push("--log-level=lib.eal:warning".into());
    for (_, v) in &vdevs {
        args.push(format!("--vdev={v}"));
    }
    let eal = Eal::init(&args).expect("EAL starts with every virtual PMD");
    assert!(!eal.has_hugepages());
    assert!(eal.port_count() as usize >= vdevs.len(), "every vdev made a port");
    assert!(Eal::init(&args).is_err(), "the EAL starts once per process");
    for (name, _) in &vdevs {
        Port::lookup(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert!(Port::lookup("net_nonexistent9").is_err());

    let pool = std::sync::Arc::new(Mempool::new("pmd_test", 4095, 64, -1).unwrap());
    let before = pool.available();

    // net_ring: a port whose tx feeds its own rx. Build frames, send, receive.
    {
        let id = Port::lookup("net_ring0").unwrap();
        let mut port = Port::start(id, "net_ring0", &PortConfig::default(), &pool).unwrap();
        assert_eq!(port.queues(), 1);
        let mut q = port.take_queues().pop().unwrap();
        let mut tx = Burst::default();
        for i in 0..32u8 {
            let mut m = pool.alloc().expect("mbuf");
            let b = m.append(64).unwrap();
            b.fill(i);
            tx.push(m).ok().unwrap();
        }
        assert_eq!(q.tx(&mut tx), 32);
        let mut rx = Burst::default();
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(2);
        while got.len() < 32 && Instant::now() < deadline {
            q.rx(&mut rx);
            got.extend(rx.drain().map(|m| (m.len(), m.data()[0])));
        }
        assert_eq!(got, (0..32u8).map(|i| (64, i)).collect::<Vec<_>>(), "frames come back in order, intact");
        port.stop();
    }

    // net_null: rx makes packets out of nothing, tx frees them.
    {
        let id = Port::lookup("net_null0").unwrap();
        let mut port = Port::start(id, "net_null0", &PortConfig::default(), &pool).unwrap();
        let mut q = port.take_queues().pop().unwrap();
        let mut rx = Burst::default();
        assert!(q.rx(&mut rx) > 0);
        let n = rx.len();
        assert_eq!(q.tx(&mut rx), n);
        let st = port.stats();
        assert!(st.rx_packets >= n as u64 && st.tx_packets >= n as u64, "{st:?}");
    }

    // net_pcap replays the file's frame.
    {
        let id = Port::lookup("net_pcap0").unwrap();
        let mut port = Port::start(id, "net_pcap0", &PortConfig::default(), &pool).unwrap();
        let mut q = port.take_queues().pop().unwrap();
        let mut rx = Burst::default();
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut frames = Vec::new();
        while frames.is_empty() && Instant::now() < deadline {
            q.rx(&mut rx);
            frames.extend(rx.drain().map(|m| m.data().to_vec()));
        }
        assert_eq!(frames, vec![vec![0xab; 60]]);
    }

    // virtio_user against the net_vhost backend in the other process, which
    // sends every frame back.
    {
        let id = Port::lookup("virtio_user0").unwrap();
        let mut port = Port::start(id, "virtio_user0", &PortConfig::default(), &pool).unwrap();
        let mut q = port.take_queues().pop().unwrap();
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut rx = Burst::default();
        while got.len() < 8 && Instant::now() < deadline {
            let mut tx = Burst::default();
            for i in 0..8u8 {
                let mut m = pool.alloc().expect("mbuf");
                m.append(60).unwrap().fill(i);
                tx.push(m).ok().unwrap();
            }
            q.tx(&mut tx);
            drop(tx);
            std::thread::sleep(Duration::from_millis(50));
            q.rx(&mut rx);
            got.extend(rx.drain().map(|m| m.data()[0]));
        }
        assert!(got.len() >= 8, "virtio_user <-> net_vhost moved no frames: {got:?}");
        port.stop();
    }
    drop(backend.stdin.take());
    let _ = backend.wait();

    // Every mbuf we took came back (ports stopped, bursts drained).
    let deadline = Instant::now() + Duration::from_secs(2);
    while pool.available() < before - 64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

const BACKEND_ENV: &str = "DPN_PMDS_VHOST_BACKEND";

/// Not a test of its own: the second process of the virtio_user check. It
/// serves a net_vhost port on the socket named by the environment and sends
/// every frame back until its stdin closes.
#[test]
fn vhost_backend_process() {
    let Some(sock) = std::env::var_os(BACKEND_ENV) else { return };
    let args: Vec<String> = vec![
        "--no-huge".into(),
        "--no-shconf".into(),
        "-m128".into(),
        "--no-pci".into(),
        "--no-telemetry".into(),
        "--log-level=lib.eal:warning".into(),
        format!("--vdev=net_vhost0,iface={},queues=1", std::path::Path::new(&sock).display()),
    ];
    let _eal = Eal::init(&args).expect("backend EAL");
    let pool = Mempool::new("vhost_backend", 2047, 32, -1).unwrap();
    let id = Port::lookup("net_vhost0").unwrap();
    let mut port = Port::start(id, "net_vhost0", &PortConfig::default(), &pool).unwrap();
    let mut q = port.take_queues().pop().unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d = done.clone();
    std::thread::spawn(move || {
        let mut b = [0u8; 1];
        let _ = std::io::Read::read(&mut std::io::stdin(), &mut b);
        d.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut b = Burst::default();
    while !done.load(std::sync::atomic::Ordering::SeqCst) && Instant::now() < deadline {
        if q.rx(&mut b) == 0 {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        q.tx(&mut b);
        drop(std::mem::take(&mut b));
    }
    port.stop();
}
