//! Our memif in process (one EAL, so one test): a server and a client port
//! of our own exchange frames both ways; the client going away closes the
//! server's gate and its tx then drops and counts; and a hostile client
//! speaking the protocol by hand (unsealed memory, a ring outside its
//! region, descriptors pointing anywhere, impossible indices) is refused or
//! cut off, never followed outside the memory it gave.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dataplane::eal::Eal;
use dataplane::mbuf::Burst;
use dataplane::memif::proto::{self, Msg};
use dataplane::mempool::Mempool;
use dataplane::port::{Port, PortQueue};
use net::control::barrier::barrier;

fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A hand-written memif client: a seqpacket socket and the memory it offers.
struct Hostile {
    sock: OwnedFd,
}

impl Hostile {
    fn connect(path: &str) -> Hostile {
        // SAFETY: plain syscalls; the address is a valid sockaddr_un.
        unsafe {
            let fd = libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0);
            assert!(fd >= 0);
            let mut a: libc::sockaddr_un = std::mem::zeroed();
            a.sun_family = libc::AF_UNIX as _;
            for (i, &c) in path.as_bytes().iter().enumerate() {
                a.sun_path[i] = c as _;
            }
            let rc = libc::connect(fd, (&a as *const libc::sockaddr_un).cast(), std::mem::size_of_val(&a) as _);
            assert_eq!(rc, 0, "connect: {}", std::io::Error::last_os_error());
            Hostile { sock: OwnedFd::from_raw_fd(fd) }
        }
    }

    fn send(&self, m: &Msg, fd: Option<&OwnedFd>) {
        let fds: Vec<_> = fd.map(|f| f.as_fd()).into_iter().collect();
        assert_eq!(shm::fdpass::send_with_fds(self.sock.as_fd(), &m.encode(), &fds).unwrap(), proto::MSG_SIZE);
    }

    /// The next message, serving `server` meanwhile; `None` at end of stream.
    fn recv(&self, server: &mut Port) -> Option<Msg> {
        let mut got = None;
        until("a reply from the server", || {
            server.supervise();
            let mut b = [0u8; proto::MSG_SIZE];
            let mut fds = Vec::new();
            // SAFETY: setting O_NONBLOCK on our own socket.
            unsafe { libc::fcntl(self.sock.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
            match shm::fdpass::recv_with_fds(self.sock.as_fd(), &mut b, &mut fds) {
                Ok(0) => {
                    got = Some(None);
                    true
                }
                Ok(n) => {
                    got = Some(Some(Msg::decode(&b[..n]).unwrap()));
                    true
                }
                Err(_) => false,
            }
        });
        got.unwrap()
    }
}

/// A memfd of `size` bytes, mapped; sealed against shrinking when `seal`.
fn memory(size: usize, seal: bool) -> (OwnedFd, *mut u8) {
    // SAFETY: plain syscalls on a fresh memfd we own.
    unsafe {
        let fd = libc::memfd_create(c"hostile".as_ptr(), libc::MFD_ALLOW_SEALING | libc::MFD_CLOEXEC);
        assert!(fd >= 0);
        let fd = OwnedFd::from_raw_fd(fd);
        assert_eq!(libc::ftruncate(fd.as_raw_fd(), size as _), 0);
        if seal {
            assert_eq!(libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, libc::F_SEAL_SHRINK), 0);
        }
        let p = libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        );
        assert_ne!(p, libc::MAP_FAILED);
        (fd, p.cast())
    }
}

fn eventfd() -> OwnedFd {
    // SAFETY: plain syscall.
    unsafe { OwnedFd::from_raw_fd(libc::eventfd(0, libc::EFD_CLOEXEC)) }
}

/// Runs the client handshake by hand with one C2S ring at `ring_offset` of
/// a region of `size` bytes; returns the server's last answer and the memory.
fn handshake(
    server: &mut Port,
    path: &str,
    size: usize,
    seal: bool,
    ring_offset: u32,
) -> (Hostile, Option<Msg>, *mut u8) {
    let h = Hostile::connect(path);
    assert!(matches!(h.recv(server), Some(Msg::Hello { .. })));
    h.send(&Msg::Init { version: proto::VERSION, id: 0, mode: 0, secret: vec![], name: "hostile".into() }, None);
    assert_eq!(h.recv(server), Some(Msg::Ack));
    let (mem, base) = memory(size, seal);
    // A valid ring header at the offset (when it fits).
    if ring_offset as usize + proto::ring_bytes(4) <= size {
        // SAFETY: inside our mapping.
        unsafe { base.add(ring_offset as usize).cast::<u32>().write(proto::COOKIE) };
    }
    h.send(&Msg::AddRegion { index: 0, size: size as u64 }, Some(&mem));
    assert_eq!(h.recv(server), Some(Msg::Ack));
    let intr = eventfd();
    h.send(
        &Msg::AddRing {
            flags: proto::ADD_RING_FLAG_C2S,
            index: 0,
            region: 0,
            offset: ring_offset,
            log2_ring_size: 4,
            private_hdr_size: 0,
        },
        Some(&intr),
    );
    assert_eq!(h.recv(server), Some(Msg::Ack));
    h.send(&Msg::Connect { if_name: "hostile0".into() }, None);
    let last = h.recv(server);
    (h, last, base)
}

fn fill(pool: &Mempool, n: usize, byte: u8) -> Burst {
    let mut b = Burst::default();
    for i in 0..n {
        let mut m = pool.alloc().expect("mbuf");
        m.append(60 + i).unwrap().fill(byte);
        b.push(m).ok().unwrap();
    }
    b
}

/// 100 frames from `from` to `to` (more than the 64-slot ring), intact.
fn pass(from: &mut PortQueue, to: &mut PortQueue, pool: &Mempool, byte: u8) {
    let mut rx = Burst::default();
    let mut got = Vec::new();
    let mut sent = 0;
    until("frames through", || {
        to.rx(&mut rx);
        got.extend(rx.drain().map(|m| (m.len(), m.data()[0])));
        if sent < 100 {
            let mut b = fill(pool, 10, byte);
            let s = from.send(&mut b);
            assert_eq!(s.dropped, 0);
            sent += s.sent;
        }
        got.len() >= 100
    });
    assert_eq!(got.len(), 100);
    assert!(got.iter().all(|&(len, b)| b == byte && (60..70).contains(&len)), "{got:?}");
}

#[test]
fn memif_ports_of_our_own() {
    let dir = std::env::temp_dir().join(format!("dpn-memif-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let args: Vec<String> =
        ["--no-huge", "--no-shconf", "-m128", "--no-pci", "--no-telemetry", "--log-level=lib.eal:warning"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    let _eal = Eal::init(&args).expect("EAL");
    let pool = Arc::new(Mempool::new("memif_test", 4095, 0, -1).unwrap());
    let base_avail = pool.available();
    // No workers: the queues are polled on this thread, between supervise calls.
    let (main, _workers) = barrier((), 0);
    let sock = dir.join("m.sock").display().to_string();
    let mut server =
        Port::memif(&format!("net_memif0,role=server,socket={sock},socket-abstract=no"), 1, pool.clone(), None)
            .unwrap();
    let mut client =
        Port::memif(&format!("net_memif1,role=client,socket={sock},socket-abstract=no,rsize=6"), 1, pool.clone(), None)
            .unwrap();
    server.set_grace(main.grace_period());
    client.set_grace(main.grace_period());
    let mut sq = server.take_queues().pop().unwrap();
    let mut cq = client.take_queues().pop().unwrap();
    assert!(!server.gate_open() && !client.gate_open());
    until("connected", || {
        server.supervise();
        client.supervise();
        server.gate_open() && client.gate_open()
    });
    assert!(server.link().up && client.link().up);
    assert_eq!(server.last_change(), "peer dpnode / net_memif1");

    // Client to server, then server to client (the client hands out
    // buffers on its first rx), more than a ring (64) each way.
    pass(&mut cq, &mut sq, &pool, 0xc1);
    pass(&mut sq, &mut cq, &pool, 0x5c);
    let mut rx = Burst::default();

    // The client goes away: the server's gate closes, its tx drops and counts.
    drop(cq);
    drop(client);
    until("server sees the client leave", || {
        server.supervise();
        !server.gate_open()
    });
    assert!(!server.link().up);
    let mut b = fill(&pool, 5, 1);
    assert_eq!(sq.send(&mut b), dataplane::port::Sent { sent: 0, dropped: 5 });
    assert!(b.is_empty());
    assert_eq!(sq.rx(&mut rx), 0);

    // Hostile clients. Unsealed memory: refused (it could be truncated under us).
    let (_h, last, _) = handshake(&mut server, &sock, 1 << 16, false, 0);
    assert!(matches!(&last, Some(Msg::Disconnect { reason, .. }) if reason.contains("sealed")), "{last:?}");
    assert!(!server.gate_open());
    // A ring that does not fit its region.
    let (_h, last, _) = handshake(&mut server, &sock, 4096, true, 4096 - 64);
    assert!(matches!(&last, Some(Msg::Disconnect { reason, .. }) if reason.contains("outside")), "{last:?}");
    // A proper one, then descriptors pointing outside the region.
    let size = 1 << 16;
    let (h, last, base) = handshake(&mut server, &sock, size, true, 0);
    assert!(matches!(last, Some(Msg::Connected { .. })), "{last:?}");
    until("hostile up", || {
        server.supervise();
        server.gate_open()
    });
    let desc = |slot: usize, d: proto::Desc| {
        // SAFETY: inside our mapping (ring 0 at offset 0, 16 descriptors).
        unsafe { std::ptr::copy_nonoverlapping(d.write().as_ptr(), base.add(proto::RING_HEADER + slot * 16), 16) };
    };
    let head = |v: u16| {
        // SAFETY: the ring's head, inside our mapping and aligned.
        unsafe {
            (*base.add(proto::RING_HEAD).cast::<std::sync::atomic::AtomicU16>())
                .store(v, std::sync::atomic::Ordering::Release)
        };
    };
    desc(0, proto::Desc { flags: 0, region: 0, length: 100, offset: size as u32 - 50 });
    desc(1, proto::Desc { flags: 0, region: 7, length: 10, offset: 0 });
    desc(2, proto::Desc { flags: 0, region: 0, length: 64, offset: 8192 });
    head(3);
    assert_eq!(sq.rx(&mut rx), 1, "only the one good descriptor is delivered");
    assert_eq!(rx.drain().map(|m| m.len()).collect::<Vec<_>>(), vec![64]);
    assert_eq!(server.memif_stats().unwrap().bad_desc, 2);
    // An index no ring can have: the connection ends.
    head(3 + 1000);
    assert_eq!(sq.rx(&mut rx), 0);
    until("server cuts the hostile client off", || {
        server.supervise();
        !server.gate_open()
    });
    assert!(server.last_change().contains("out of range"), "{}", server.last_change());
    assert!(matches!(h.recv(&mut server), Some(Msg::Disconnect { .. }) | None));
    drop(h);

    // Not a memif message at all: dropped with a reason.
    let h = Hostile::connect(&sock);
    assert!(matches!(h.recv(&mut server), Some(Msg::Hello { .. })));
    assert_eq!(shm::fdpass::send_with_fds(h.sock.as_fd(), &[9u8; 7], &[]).unwrap(), 7);
    assert!(matches!(h.recv(&mut server), Some(Msg::Disconnect { .. }) | None));

    drop(sq);
    drop(server);
    drop(rx);
    // Every mbuf came back.
    assert_eq!(pool.available(), base_avail);
    let _ = std::fs::remove_dir_all(&dir);
}
