//! memif ports of our own: the memif protocol (see [`proto`]) with the
//! control channel on the main thread and the rings on the workers.
//!
//! Why not DPDK's `net_memif`: in DPDK 22.11 its control channel runs on
//! EAL's interrupt thread, and when the peer goes away `memif_disconnect`
//! unmaps the shared regions there and then, while a worker may be inside
//! an rx or tx burst on them; it raises no event first, so nothing can make
//! the workers step aside. Here the memory belongs to the port, and it goes
//! away only after the port's gate ([`crate::port::PortLink`]) is closed and
//! a [`GracePeriod`] has passed, so no burst can still be using it: a peer
//! that vanishes (even mid-burst, even SIGKILLed) only ever leaves us with
//! memory we still have mapped.
//!
//! The data path copies between mbufs and the shared buffers (as DPDK's
//! non-zero-copy mode does): an rx burst reads the peer's index once
//! (Acquire), copies out and publishes ours once (Release); a tx burst the
//! same the other way. Everything the peer wrote (indices, descriptors)
//! is checked against the mapped regions before it is used; a bad
//! descriptor drops its packet (counted), indices that make no sense end
//! the connection. The peer is signalled (an eventfd write) only when it
//! asked for interrupts; DPDK and VPP peers in polling mode do not.
//!
//! Devargs are DPDK's (`net_memif0,role=server,socket=/run/memif.sock,...`),
//! so a config written for DPDK's PMD works unchanged: `role`, `id`,
//! `socket`, `socket-abstract` (default `yes`), `rsize` (log2 ring size,
//! default 10), `bsize` (buffer size, default 2048), `mac`, `secret`;
//! `zero-copy=yes` is refused. One interface per socket file.

pub mod proto;

use std::cell::UnsafeCell;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::mbuf::{AppendError, Burst};
use crate::mempool::Mempool;
use crate::port::PortLink;
use net::control::barrier::GracePeriod;
use net::l3::MAX_CHAIN_SEGMENTS;
use proto::{Desc, Layout, Msg, Role};

/// A client retries connecting this soon, doubling up to `RETRY_MAX` while
/// the server stays away (a restarting peer is back at once; an absent one
/// costs ten connect calls a second).
const RETRY_MIN: Duration = Duration::from_millis(10);
const RETRY_MAX: Duration = Duration::from_millis(100);
/// A handshake that takes longer is abandoned.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);

/// Errors in a memif port's configuration or set-up.
#[derive(Debug, thiserror::Error)]
pub enum MemifError {
    /// A devarg is wrong.
    #[error("memif {0}")]
    Arg(String),
    /// The socket could not be set up.
    #[error("memif socket {path}: {source}")]
    Socket {
        /// The socket.
        path: String,
        /// Why.
        source: io::Error,
    },
}

/// A memif interface's settings (DPDK's devargs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemifConfig {
    /// Server or client.
    pub role: Role,
    /// Interface id on the socket.
    pub id: u32,
    /// Socket path (or abstract name).
    pub socket: String,
    /// Abstract socket namespace (no file).
    pub abstract_socket: bool,
    /// Ring size, log2.
    pub log2_ring_size: u8,
    /// Bytes per buffer.
    pub buffer_size: u32,
    /// MAC address (random, locally administered, when not given).
    pub mac: Option<[u8; 6]>,
    /// Shared secret.
    pub secret: Vec<u8>,
}

/// Whether `vdev` names a memif device (`net_memif...`).
pub fn is_memif(vdev: &str) -> bool {
    vdev.split(',').next().is_some_and(|d| d.starts_with("net_memif"))
}

fn arg(msg: impl Into<String>) -> MemifError {
    MemifError::Arg(msg.into())
}

fn yes_no(key: &str, v: &str) -> Result<bool, MemifError> {
    match v {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(arg(format!("{key}={v:?}: yes or no"))),
    }
}

/// Parse `aa:bb:cc:dd:ee:ff`.
fn parse_mac(v: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = v.split(':');
    for b in &mut mac {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

impl MemifConfig {
    /// Parse `net_memifN,key=value,...`; returns the device name too.
    pub fn parse(vdev: &str) -> Result<(String, MemifConfig), MemifError> {
        let mut it = vdev.split(',');
        let name = it.next().unwrap_or_default().to_string();
        if !is_memif(&name) {
            return Err(arg(format!("{name:?} is not a net_memif device")));
        }
        let mut c = MemifConfig {
            role: Role::Server,
            id: 0,
            socket: "/run/memif.sock".into(),
            abstract_socket: true,
            log2_ring_size: 10,
            buffer_size: 2048,
            mac: None,
            secret: Vec::new(),
        };
        for kv in it.filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').ok_or_else(|| arg(format!("{kv:?}: want key=value")))?;
            match k {
                "role" => {
                    c.role = match v {
                        "server" | "master" => Role::Server,
                        "client" | "slave" => Role::Client,
                        _ => return Err(arg(format!("role={v:?}: server or client"))),
                    }
                }
                "id" => c.id = v.parse().map_err(|_| arg(format!("id={v:?}: not a number")))?,
                "socket" => {
                    if v.is_empty() || v.len() > 107 {
                        return Err(arg(format!("socket={v:?}: 1..=107 bytes")));
                    }
                    c.socket = v.to_string();
                }
                "socket-abstract" => c.abstract_socket = yes_no(k, v)?,
                "rsize" => {
                    c.log2_ring_size = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=proto::MAX_LOG2_RING_SIZE).contains(n))
                        .ok_or_else(|| arg(format!("rsize={v:?}: log2 ring size 1..=14")))?
                }
                "bsize" => {
                    c.buffer_size = v
                        .parse()
                        .ok()
                        .filter(|n| (64..=65535).contains(n))
                        .ok_or_else(|| arg(format!("bsize={v:?}: 64..=65535")))?
                }
                "mac" => c.mac = Some(parse_mac(v).ok_or_else(|| arg(format!("mac={v:?}: not a MAC address")))?),
                "secret" => {
                    if v.len() >= proto::SECRET_SIZE {
                        return Err(arg(format!("secret: at most {} bytes", proto::SECRET_SIZE - 1)));
                    }
                    c.secret = v.as_bytes().to_vec();
                }
                "zero-copy" => {
                    if yes_no(k, v)? {
                        return Err(arg("zero-copy=yes is not supported (dpnode's memif copies)"));
                    }
                }
                _ => return Err(arg(format!("unknown devarg {k:?}"))),
            }
        }
        Ok((name, c))
    }
}

/// A memfd region, mapped.
struct Region {
    base: NonNull<u8>,
    size: usize,
    fd: OwnedFd,
}

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

impl Region {
    /// A new sealed memfd of `size` bytes, mapped (the client's memory).
    fn create(size: usize) -> io::Result<Region> {
        let name = CString::new("dpnode-memif").expect("no NUL");
        // SAFETY: a valid C string for the call.
        let raw = cvt(unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) })?;
        // SAFETY: a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: plain syscalls on our descriptor.
        unsafe {
            cvt(libc::ftruncate(fd.as_raw_fd(), size as libc::off_t))?;
            cvt(libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, libc::F_SEAL_SHRINK | libc::F_SEAL_GROW))?;
        }
        Self::map(fd, size)
    }

    /// Map a region the peer sent. It must be sealed against shrinking:
    /// otherwise the peer could truncate it under us and every access past
    /// the new end would raise SIGBUS.
    fn from_peer(fd: OwnedFd, size: u64) -> io::Result<Region> {
        let bad = |m: &'static str| io::Error::new(io::ErrorKind::InvalidData, m);
        if size == 0 || size > u32::MAX as u64 + 1 {
            return Err(bad("region size out of range"));
        }
        // SAFETY: plain query on a descriptor we own.
        let seals = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) })?;
        if seals & libc::F_SEAL_SHRINK == 0 {
            return Err(bad("region is not sealed against shrinking"));
        }
        // SAFETY: stat is plain data, filled by fstat.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: our descriptor and a live buffer.
        cvt(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
        if (st.st_size as u64) < size {
            return Err(bad("region is smaller than announced"));
        }
        Self::map(fd, size as usize)
    }

    fn map(fd: OwnedFd, size: usize) -> io::Result<Region> {
        // SAFETY: a fresh shared mapping of our descriptor at an address the kernel picks.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Region { base: NonNull::new(p.cast()).ok_or_else(io::Error::last_os_error)?, size, fd })
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: our own mapping; the connection that owns the region is
        // dropped only after its port's gate closed and a grace period
        // passed, so no worker holds a pointer into it.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.size) };
    }
}

/// A ring in a mapped region.
#[derive(Clone, Copy)]
struct Ring {
    base: *mut u8,
    log2: u8,
}

impl Ring {
    fn size(&self) -> u16 {
        1 << self.log2
    }

    fn index(&self, at: usize) -> &AtomicU16 {
        // SAFETY: the ring lies inside a live region (checked when it was
        // added) and is 8-aligned, so the u16 at `at` (6 or 64) is aligned
        // and in bounds; both sides access it only atomically.
        unsafe { &*self.base.add(at).cast::<AtomicU16>() }
    }

    fn head(&self) -> &AtomicU16 {
        self.index(proto::RING_HEAD)
    }

    fn tail(&self) -> &AtomicU16 {
        self.index(proto::RING_TAIL)
    }

    fn flags(&self) -> &AtomicU16 {
        self.index(proto::RING_FLAGS)
    }

    fn cookie(&self) -> u32 {
        // SAFETY: in bounds (see `index`); a torn read only fails the check.
        unsafe { self.base.add(proto::RING_COOKIE).cast::<u32>().read_volatile() }
    }

    fn set_cookie(&self) {
        // SAFETY: in bounds, aligned; the ring is not shared yet.
        unsafe { self.base.add(proto::RING_COOKIE).cast::<u32>().write_volatile(proto::COOKIE) }
    }

    fn desc(&self, slot: u16) -> Desc {
        let mut b = [0u8; proto::DESC_SIZE];
        // SAFETY: slot < size, so the descriptor is inside the ring; the
        // peer may be writing it (a misbehaving one): we copy it out once
        // and validate the copy.
        unsafe {
            let p = self.base.add(proto::RING_HEADER + (slot & (self.size() - 1)) as usize * proto::DESC_SIZE);
            std::ptr::copy_nonoverlapping(p, b.as_mut_ptr(), proto::DESC_SIZE);
        }
        Desc::read(&b)
    }

    fn set_desc(&self, slot: u16, d: Desc) {
        let b = d.write();
        // SAFETY: as in `desc`; this slot is ours to write until we publish it.
        unsafe {
            let p = self.base.add(proto::RING_HEADER + (slot & (self.size() - 1)) as usize * proto::DESC_SIZE);
            std::ptr::copy_nonoverlapping(b.as_ptr(), p, proto::DESC_SIZE);
        }
    }
}

/// One ring of a connection, as a queue uses it.
#[derive(Clone, Copy)]
struct RingRef {
    ring: Ring,
    /// Ring index within its direction (buffer layout, client side).
    index: u16,
    /// The ring's interrupt eventfd (signalled when the receiver wants it).
    intr: RawFd,
}

/// Everything one connection maps; published to the workers while the
/// port's gate is open, dropped only after it closed and a grace period.
struct Connection {
    role: Role,
    regions: Vec<Region>,
    /// Per queue: the ring we receive on and the one we send on.
    rx: Vec<Option<RingRef>>,
    tx: Vec<Option<RingRef>>,
    /// The client's buffer layout.
    layout: Layout,
    /// Interrupt eventfds (kept open while mapped).
    _intr: Vec<OwnedFd>,
}

// SAFETY: the raw pointers point into the connection's own mappings, which
// are valid in every thread and live as long as the connection.
unsafe impl Send for Connection {}

impl Connection {
    /// The buffer a descriptor names, if it lies inside a region.
    #[inline]
    fn buffer(&self, d: &Desc, len: u32) -> Option<*mut u8> {
        let r = self.regions.get(d.region as usize)?;
        let end = d.offset as u64 + len as u64;
        // SAFETY: offset + len <= size, so the pointer stays inside the mapping.
        (end <= r.size as u64).then(|| unsafe { r.base.as_ptr().add(d.offset as usize) })
    }
}

/// Per-queue counters (written by the queue's worker, read by the CLI).
#[derive(Default)]
struct QueueStats {
    rx_packets: AtomicU64,
    rx_bytes: AtomicU64,
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
    /// Descriptors that pointed outside the regions (packet dropped).
    bad_desc: AtomicU64,
    /// No mbuf for a received packet.
    rx_nombuf: AtomicU64,
    /// Received packets too big for one mbuf.
    rx_too_big: AtomicU64,
}

/// Adds to a counter only this thread writes (no locked instruction).
#[inline]
fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

/// What the port's main-thread side shares with its queues.
pub(crate) struct MemifShared {
    /// Written by the main thread only while the gate is closed and no
    /// worker can still be reading it (a grace period has passed since the
    /// gate closed); read by workers only while the gate is open.
    conn: UnsafeCell<Option<Box<Connection>>>,
    stats: Box<[CachePadded<QueueStats>]>,
    /// A worker found the peer's ring indices out of range.
    fault: AtomicBool,
}

// SAFETY: `conn` follows the gate discipline above (the gate's Release store
// after a write, a worker's Acquire load before a read, and the grace
// period before the next write); the rest is atomics. The raw pointers in a
// connection point into its own mappings, valid in every thread.
unsafe impl Sync for MemifShared {}
// SAFETY: as above.
unsafe impl Send for MemifShared {}

/// Port statistics summed over the queues.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemifStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets dropped for a descriptor outside the peer's memory.
    pub bad_desc: u64,
    /// Packets dropped for want of an mbuf.
    pub rx_nombuf: u64,
    /// Packets dropped for not fitting one mbuf.
    pub rx_too_big: u64,
}

/// A worker's view of one memif queue pair.
pub(crate) struct MemifQueue {
    shared: Arc<MemifShared>,
    pool: Arc<Mempool>,
    queue: u16,
    /// The connection the gate's generation refers to (valid while open).
    conn: *const Connection,
    /// Next slot we read on our rx ring.
    rx_next: u16,
    /// Client: our copy of the rx ring's head (buffers handed out).
    rx_head: u16,
    /// Next slot we write on our tx ring (client: head; server: tail).
    tx_next: u16,
}

// SAFETY: the raw connection pointer is only dereferenced while the port's
// gate is open (see `MemifShared`); the queue moves to its worker once.
unsafe impl Send for MemifQueue {}

impl MemifQueue {
    /// Pick up the connection the gate now names (cold: once per connection).
    pub(crate) fn refresh(&mut self) {
        // SAFETY: called right after an Acquire load found the gate open,
        // which the main thread stores only after writing `conn`; it writes
        // `conn` again only after closing the gate and a grace period, i.e.
        // after this worker has finished this loop iteration.
        let conn = unsafe { &*self.shared.conn.get() };
        self.conn = conn.as_deref().map_or(std::ptr::null(), |c| c as *const Connection);
        self.rx_next = 0;
        self.rx_head = 0;
        self.tx_next = 0;
    }

    /// Receive at most `max` packets into `b`.
    #[inline]
    pub(crate) fn rx(&mut self, b: &mut Burst, max: usize) -> usize {
        // SAFETY: the caller found the gate open (see `refresh`).
        let Some(c) = (unsafe { self.conn.as_ref() }) else { return 0 };
        let Some(r) = c.rx.get(self.queue as usize).copied().flatten() else { return 0 };
        let ring = r.ring;
        let size = ring.size();
        // The producer's index: the client's head on C2S, the server's tail on S2C.
        let last = match c.role {
            Role::Server => ring.head().load(Ordering::Acquire),
            Role::Client => ring.tail().load(Ordering::Acquire),
        };
        let avail = last.wrapping_sub(self.rx_next);
        if avail > size {
            self.shared.fault.store(true, Ordering::Relaxed);
            return 0;
        }
        let st = &self.shared.stats[self.queue as usize];
        let (mut n, mut bytes, mut bad, mut nombuf, mut big) = (0usize, 0u64, 0u64, 0u64, 0u64);
        let mut cur = self.rx_next;
        while cur != last && n < max {
            let Some(mut m) = self.pool.alloc() else {
                nombuf += 1;
                break;
            };
            let mut ok = true;
            loop {
                if cur == last {
                    // A chain cut off by the producer's index.
                    ok = false;
                    break;
                }
                let d = ring.desc(cur);
                cur = cur.wrapping_add(1);
                match c.buffer(&d, d.length) {
                    Some(src) if ok => match m.append(d.length as usize) {
                        // SAFETY: `src` has d.length bytes inside the peer's
                        // region; `dst` is that many bytes of our mbuf.
                        Some(dst) => unsafe { std::ptr::copy_nonoverlapping(src, dst.as_mut_ptr(), dst.len()) },
                        // Longer than the room left: on into a chain.
                        // SAFETY: as above.
                        None => {
                            match unsafe { m.append_from(&self.pool, src, d.length as usize, MAX_CHAIN_SEGMENTS) } {
                                Ok(()) => {}
                                Err(e) => {
                                    if e == AppendError::NoMbuf {
                                        nombuf += 1;
                                    } else {
                                        big += 1;
                                    }
                                    ok = false;
                                }
                            }
                        }
                    },
                    Some(_) => {}
                    None => {
                        if ok {
                            bad += 1;
                        }
                        ok = false;
                    }
                }
                if d.flags & proto::DESC_FLAG_NEXT == 0 {
                    break;
                }
            }
            if ok {
                bytes += m.len() as u64;
                if let Err(m) = b.push(m) {
                    drop(m);
                    break;
                }
                n += 1;
            }
        }
        self.rx_next = cur;
        match c.role {
            // Give the consumed slots back to the client.
            Role::Server => ring.tail().store(cur, Ordering::Release),
            // Hand every free slot out again, empty.
            Role::Client => {
                let mut h = self.rx_head;
                while h.wrapping_sub(cur) < size {
                    let slot = h & (size - 1);
                    let off = c.layout.buffer_offset(false, r.index, slot as usize) as u32;
                    ring.set_desc(h, Desc { flags: 0, region: 0, length: c.layout.buffer_size, offset: off });
                    h = h.wrapping_add(1);
                }
                if h != self.rx_head {
                    self.rx_head = h;
                    ring.head().store(h, Ordering::Release);
                }
            }
        }
        if n > 0 {
            bump(&st.rx_packets, n as u64);
            bump(&st.rx_bytes, bytes);
        }
        if bad + nombuf + big > 0 {
            bump(&st.bad_desc, bad);
            bump(&st.rx_nombuf, nombuf);
            bump(&st.rx_too_big, big);
        }
        n
    }

    /// Send what `b` holds; sent packets are freed and leave the front of
    /// the burst. Returns `(sent, dropped)`: packets with no ring to go to
    /// (the peer took fewer queues than we have) are dropped.
    #[inline]
    pub(crate) fn tx(&mut self, b: &mut Burst) -> (usize, usize) {
        // SAFETY: the caller found the gate open (see `refresh`).
        let Some(c) = (unsafe { self.conn.as_ref() }) else { return (0, 0) };
        let Some(r) = c.tx.get(self.queue as usize).copied().flatten() else {
            let n = b.len();
            b.drain().for_each(drop);
            return (0, n);
        };
        let ring = r.ring;
        let size = ring.size();
        let mut slot = self.tx_next;
        // Free slots: on C2S (we are the client) up to the server's tail
        // plus a ring; on S2C (we are the server) up to the client's head.
        let limit = match c.role {
            Role::Client => ring.tail().load(Ordering::Acquire).wrapping_add(size),
            Role::Server => ring.head().load(Ordering::Acquire),
        };
        let mut free = limit.wrapping_sub(slot);
        if free > size {
            self.shared.fault.store(true, Ordering::Relaxed);
            return (0, 0);
        }
        let (mut sent, mut bytes, mut bad) = (0usize, 0u64, 0u64);
        let bsize = c.layout.buffer_size;
        'pkts: for m in b.iter() {
            let mut segs = m.segs();
            let mut cur: &[u8] = segs.next().unwrap_or_default();
            let total = if segs.is_done() { cur.len() } else { m.pkt_len() };
            let saved = (slot, free);
            let mut off = 0usize;
            loop {
                if free == 0 {
                    slot = saved.0;
                    break 'pkts;
                }
                // The buffer: ours at a fixed place (client), or the one the
                // client handed out in this descriptor (server).
                let (d, cap) = match c.role {
                    Role::Client => {
                        let o = c.layout.buffer_offset(true, r.index, (slot & (size - 1)) as usize) as u32;
                        (Desc { flags: 0, region: 0, length: bsize, offset: o }, bsize)
                    }
                    Role::Server => {
                        let d = ring.desc(slot);
                        (d, d.length)
                    }
                };
                let Some(dst) = c.buffer(&d, cap) else {
                    // The client handed out a buffer outside its regions:
                    // skip the packet (its slots stay as they are, empty).
                    bad += 1;
                    slot = saved.0;
                    break 'pkts;
                };
                // Fill the buffer from the packet's segments (one unless
                // a chain), as much as it takes.
                let mut n = 0usize;
                while n < cap as usize {
                    if cur.is_empty() {
                        match segs.next() {
                            Some(s) => cur = s,
                            None => break,
                        }
                        continue;
                    }
                    let k = cur.len().min(cap as usize - n);
                    // SAFETY: `dst` has cap >= n + k bytes inside a region;
                    // `cur` is the mbuf's bytes.
                    unsafe { std::ptr::copy_nonoverlapping(cur.as_ptr(), dst.add(n), k) };
                    cur = &cur[k..];
                    n += k;
                }
                off += n;
                let more = off < total;
                if more && n == 0 {
                    // A zero-capacity buffer would never make progress.
                    bad += 1;
                    slot = saved.0;
                    break 'pkts;
                }
                let flags = if more { proto::DESC_FLAG_NEXT } else { 0 };
                ring.set_desc(slot, Desc { flags, region: d.region, length: n as u32, offset: d.offset });
                slot = slot.wrapping_add(1);
                free -= 1;
                if !more {
                    break;
                }
            }
            sent += 1;
            bytes += total as u64;
        }
        if sent > 0 {
            self.tx_next = slot;
            match c.role {
                Role::Client => ring.head().store(slot, Ordering::Release),
                Role::Server => ring.tail().store(slot, Ordering::Release),
            }
            if ring.flags().load(Ordering::Relaxed) & proto::RING_FLAG_MASK_INT == 0 && r.intr >= 0 {
                let one = 1u64;
                // SAFETY: a valid eventfd kept open by the connection; an
                // 8-byte write of a live value. Only a peer that asked for
                // interrupts gets them (DPDK and VPP polling peers do not).
                let _ = unsafe { libc::write(r.intr, (&one as *const u64).cast(), 8) };
            }
            b.drop_front(sent);
            let st = &self.shared.stats[self.queue as usize];
            bump(&st.tx_packets, sent as u64);
            bump(&st.tx_bytes, bytes);
        }
        if bad > 0 {
            bump(&self.shared.stats[self.queue as usize].bad_desc, bad);
            // The packet that could not be placed is dropped, so one bad
            // buffer does not wedge the queue.
            let _ = b.take_front();
            return (sent, 1);
        }
        (sent, 0)
    }
}

/// Where a control channel is in the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Server: HELLO sent, waiting for INIT.
    AwaitInit,
    /// Server: taking regions and rings until CONNECT.
    Building,
    /// Client: waiting for HELLO.
    AwaitHello,
    /// Client: a message sent, waiting for its ACK.
    AwaitAck,
    /// Client: CONNECT sent.
    AwaitConnected,
    /// Connected.
    Up,
}

/// A region or ring the client announced (server side), before CONNECT.
struct RingSpec {
    c2s: bool,
    index: u16,
    region: u16,
    offset: u32,
    log2: u8,
    intr: OwnedFd,
}

/// One control connection.
struct Chan {
    fd: OwnedFd,
    step: Step,
    since: Instant,
    /// Client: messages still to send, each after the previous one's ACK.
    outbox: std::collections::VecDeque<(Msg, Option<RawFd>)>,
    /// Client: the connection being built (published at CONNECTED).
    conn: Option<Box<Connection>>,
    /// Server: regions and rings announced so far.
    regions: Vec<(OwnedFd, u64)>,
    rings: Vec<RingSpec>,
    peer: String,
}

/// What changed on a port after [`MemifPort::service`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemifEvent {
    /// Connected to a peer (its name and interface).
    Up(String),
    /// The connection ended, and why.
    Down(String),
}

/// The main thread's side of a memif port: its socket, the handshake, and
/// the connection's memory.
pub struct MemifPort {
    name: String,
    cfg: MemifConfig,
    queues: u16,
    mac: [u8; 6],
    shared: Arc<MemifShared>,
    pool: Arc<Mempool>,
    listener: Option<OwnedFd>,
    chan: Option<Chan>,
    admin_up: bool,
    next_connect: Instant,
    retry: Duration,
    /// Why the last connection ended (or why connecting fails).
    reason: String,
    /// The connected peer (`app name / interface`).
    peer: String,
    connects: u64,
    queues_taken: bool,
}

fn random_mac() -> [u8; 6] {
    let mut b = [0u8; 6];
    // SAFETY: a live 6-byte buffer.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), 6, 0) };
    if n != 6 {
        let t = Instant::now().elapsed().as_nanos() as u64 ^ std::process::id() as u64;
        b.copy_from_slice(&t.to_le_bytes()[..6]);
    }
    // Locally administered, unicast.
    b[0] = (b[0] & 0xfe) | 0x02;
    b
}

/// A `sockaddr_un` for the configured socket.
fn sockaddr(cfg: &MemifConfig) -> (libc::sockaddr_un, libc::socklen_t) {
    // SAFETY: plain data; all zero is an empty address.
    let mut a: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    a.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let path = cfg.socket.as_bytes();
    let skip = usize::from(cfg.abstract_socket);
    for (i, &c) in path.iter().take(a.sun_path.len() - 1 - skip).enumerate() {
        a.sun_path[i + skip] = c as libc::c_char;
    }
    let base = std::mem::size_of::<libc::sa_family_t>();
    // Abstract names are counted bytes (no NUL); paths take the whole struct as DPDK does.
    let len = if cfg.abstract_socket { base + 1 + path.len() } else { std::mem::size_of::<libc::sockaddr_un>() };
    (a, len as libc::socklen_t)
}

fn seqpacket() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall.
    let fd = cvt(unsafe {
        libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0)
    })?;
    // SAFETY: a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn connect(cfg: &MemifConfig) -> io::Result<OwnedFd> {
    let fd = seqpacket()?;
    let (a, len) = sockaddr(cfg);
    // SAFETY: a valid address of `len` bytes.
    cvt(unsafe { libc::connect(fd.as_raw_fd(), (&a as *const libc::sockaddr_un).cast(), len) })?;
    Ok(fd)
}

fn listen(cfg: &MemifConfig) -> io::Result<OwnedFd> {
    if !cfg.abstract_socket && std::path::Path::new(&cfg.socket).exists() {
        // A socket file nobody listens on is left over from a dead process.
        match connect(cfg) {
            Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
                let _ = std::fs::remove_file(&cfg.socket);
            }
            Ok(_) => return Err(io::Error::new(io::ErrorKind::AddrInUse, "another process listens on it")),
            Err(_) => {}
        }
    }
    let fd = seqpacket()?;
    let (a, len) = sockaddr(cfg);
    // SAFETY: a valid address of `len` bytes; then a plain listen.
    unsafe {
        cvt(libc::bind(fd.as_raw_fd(), (&a as *const libc::sockaddr_un).cast(), len))?;
        cvt(libc::listen(fd.as_raw_fd(), 1))?;
    }
    Ok(fd)
}

fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall.
    let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
    // SAFETY: a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Why a channel ends: the reason, and whether to tell the peer.
struct End(String, bool);

fn end(reason: impl Into<String>) -> End {
    End(reason.into(), true)
}

impl MemifPort {
    /// A memif port for `vdev` with `queues` queue pairs, not connected yet;
    /// a server starts listening at once.
    pub fn new(vdev: &str, queues: u16, pool: Arc<Mempool>) -> Result<MemifPort, MemifError> {
        let (name, cfg) = MemifConfig::parse(vdev)?;
        if queues == 0 || queues > 255 {
            return Err(arg(format!("{queues} queues: 1..=255")));
        }
        let shared = Arc::new(MemifShared {
            conn: UnsafeCell::new(None),
            stats: (0..queues).map(|_| CachePadded::new(QueueStats::default())).collect(),
            fault: AtomicBool::new(false),
        });
        let mac = cfg.mac.unwrap_or_else(random_mac);
        let mut p = MemifPort {
            name,
            cfg,
            queues,
            mac,
            shared,
            pool,
            listener: None,
            chan: None,
            admin_up: true,
            next_connect: Instant::now(),
            retry: RETRY_MIN,
            reason: "not connected yet".into(),
            peer: String::new(),
            connects: 0,
            queues_taken: false,
        };
        if p.cfg.role == Role::Server {
            p.listener =
                Some(listen(&p.cfg).map_err(|source| MemifError::Socket { path: p.cfg.socket.clone(), source })?);
        }
        Ok(p)
    }

    /// Device name (`net_memif0`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The configuration.
    pub fn config(&self) -> &MemifConfig {
        &self.cfg
    }

    /// Our MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// Whether a peer is connected.
    pub fn connected(&self) -> bool {
        self.chan.as_ref().is_some_and(|c| c.step == Step::Up)
    }

    /// The connected peer, or why there is none.
    pub fn peer(&self) -> &str {
        if self.connected() {
            &self.peer
        } else {
            &self.reason
        }
    }

    /// Connections made so far.
    pub fn connects(&self) -> u64 {
        self.connects
    }

    /// Statistics summed over the queues.
    pub fn stats(&self) -> MemifStats {
        let mut s = MemifStats::default();
        for q in self.shared.stats.iter() {
            let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
            s.rx_packets += g(&q.rx_packets);
            s.rx_bytes += g(&q.rx_bytes);
            s.tx_packets += g(&q.tx_packets);
            s.tx_bytes += g(&q.tx_bytes);
            s.bad_desc += g(&q.bad_desc);
            s.rx_nombuf += g(&q.rx_nombuf);
            s.rx_too_big += g(&q.rx_too_big);
        }
        s
    }

    /// The queues' data-path halves, one per worker; once.
    pub(crate) fn take_queues(&mut self) -> Vec<MemifQueue> {
        assert!(!self.queues_taken, "memif queues already handed out");
        self.queues_taken = true;
        (0..self.queues)
            .map(|queue| MemifQueue {
                shared: self.shared.clone(),
                pool: self.pool.clone(),
                queue,
                conn: std::ptr::null(),
                rx_next: 0,
                rx_head: 0,
                tx_next: 0,
            })
            .collect()
    }

    /// Descriptors the main loop should wait on (readable: call `service`).
    pub fn poll_fds<'a>(&'a self, out: &mut Vec<std::os::fd::BorrowedFd<'a>>) {
        match (&self.chan, &self.listener) {
            (Some(c), _) => out.push(c.fd.as_fd()),
            (None, Some(l)) => out.push(l.as_fd()),
            (None, None) => {}
        }
    }

    /// Bring the interface administratively down (drop the connection,
    /// stop listening or connecting) or up again.
    pub fn set_admin(&mut self, up: bool, link: &PortLink, grace: &GracePeriod) -> Option<MemifEvent> {
        if up == self.admin_up {
            return None;
        }
        self.admin_up = up;
        if up {
            if self.cfg.role == Role::Server {
                match listen(&self.cfg) {
                    Ok(l) => self.listener = Some(l),
                    Err(e) => self.reason = format!("cannot listen on {}: {e}", self.cfg.socket),
                }
            }
            self.next_connect = Instant::now();
            self.retry = RETRY_MIN;
            self.reason = "not connected yet".into();
            return None;
        }
        let ev = self.teardown(end("interface down"), link, grace);
        self.listener = None;
        if !self.cfg.abstract_socket && self.cfg.role == Role::Server {
            let _ = std::fs::remove_file(&self.cfg.socket);
        }
        self.reason = "administratively down".into();
        ev
    }

    /// Accept, connect, run the handshake, notice the peer leaving; open or
    /// close `link` accordingly. Call often from the main thread (when a
    /// [`MemifPort::poll_fds`] descriptor is readable, and periodically).
    pub fn service(&mut self, link: &PortLink, grace: &GracePeriod) -> Option<MemifEvent> {
        if !self.admin_up {
            return None;
        }
        if self.chan.is_none() {
            self.open_channel();
        }
        let (step, since) = self.chan.as_ref().map(|c| (c.step, c.since))?;
        if step == Step::Up && self.shared.fault.swap(false, Ordering::Relaxed) {
            return self.teardown(end("peer's ring indices out of range"), link, grace);
        }
        if step != Step::Up && since.elapsed() > HANDSHAKE_TIMEOUT {
            return self.teardown(end("handshake timed out"), link, grace);
        }
        let was_up = step == Step::Up;
        loop {
            let mut buf = [0u8; proto::MSG_SIZE + 1];
            let mut fds = Vec::new();
            let fd = self.chan.as_ref()?.fd.as_fd();
            let n = match shm::fdpass::recv_with_fds(fd, &mut buf, &mut fds) {
                Ok(0) => return self.teardown(End("peer closed the control channel".into(), false), link, grace),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.teardown(End(format!("control channel: {e}"), false), link, grace),
            };
            let msg = match Msg::decode(&buf[..n]) {
                Ok(m) => m,
                Err(e) => return self.teardown(end(e.to_string()), link, grace),
            };
            if let Err(e) = self.handle(msg, fds.pop()) {
                return self.teardown(e, link, grace);
            }
        }
        let chan = self.chan.as_mut()?;
        if !was_up && chan.step == Step::Up {
            // Publish the memory, then open the gate (Release).
            let conn = chan.conn.take();
            // SAFETY: the gate is closed and a grace period has passed since
            // it closed (or it never opened), so no worker reads `conn`.
            unsafe { *self.shared.conn.get() = conn };
            self.shared.fault.store(false, Ordering::Relaxed);
            self.peer = chan.peer.clone();
            self.connects += 1;
            self.retry = RETRY_MIN;
            link.open(0);
            return Some(MemifEvent::Up(self.peer.clone()));
        }
        None
    }

    fn open_channel(&mut self) {
        match self.cfg.role {
            Role::Server => {
                let Some(l) = &self.listener else { return };
                // SAFETY: plain accept on our listening socket.
                let fd = unsafe {
                    libc::accept4(
                        l.as_raw_fd(),
                        std::ptr::null_mut(),
                        std::ptr::null_mut(),
                        libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                    )
                };
                if fd < 0 {
                    return;
                }
                // SAFETY: a fresh descriptor.
                let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                let hello = Msg::Hello {
                    name: "dpnode".into(),
                    min_version: proto::VERSION,
                    max_version: proto::VERSION,
                    max_region: (proto::MAX_REGIONS - 1) as u16,
                    max_s2c_ring: self.queues - 1,
                    max_c2s_ring: self.queues - 1,
                    max_log2_ring_size: proto::MAX_LOG2_RING_SIZE,
                };
                if send(&fd, &hello, None).is_ok() {
                    self.chan = Some(Chan::new(fd, Step::AwaitInit));
                }
            }
            Role::Client => {
                if Instant::now() < self.next_connect {
                    return;
                }
                self.next_connect = Instant::now() + self.retry;
                self.retry = (self.retry * 2).min(RETRY_MAX);
                match connect(&self.cfg) {
                    Ok(fd) => self.chan = Some(Chan::new(fd, Step::AwaitHello)),
                    Err(e) => self.reason = format!("cannot connect to {}: {e}", self.cfg.socket),
                }
            }
        }
    }

    /// One control message.
    fn handle(&mut self, msg: Msg, fd: Option<OwnedFd>) -> Result<(), End> {
        let queues = self.queues;
        let chan = self.chan.as_mut().expect("a channel");
        match (chan.step, msg) {
            (_, Msg::Disconnect { reason, .. }) => Err(End(format!("peer disconnected: {reason}"), false)),
            (Step::AwaitInit, Msg::Init { version, id, mode, secret, name }) => {
                if version != proto::VERSION {
                    return Err(end("incompatible memif version"));
                }
                if id != self.cfg.id {
                    return Err(end("ID not found"));
                }
                if mode != 0 {
                    return Err(end("only ethernet mode supported"));
                }
                if secret != self.cfg.secret {
                    return Err(end("incorrect secret"));
                }
                chan.peer = name;
                chan.step = Step::Building;
                send(&chan.fd, &Msg::Ack, None).map_err(|e| End(e.to_string(), false))
            }
            (Step::Building, Msg::AddRegion { index, size }) => {
                let fd = fd.ok_or_else(|| end("missing region fd"))?;
                if index as usize != chan.regions.len() || chan.regions.len() >= proto::MAX_REGIONS {
                    return Err(end("invalid region index"));
                }
                chan.regions.push((fd, size));
                send(&chan.fd, &Msg::Ack, None).map_err(|e| End(e.to_string(), false))
            }
            (Step::Building, Msg::AddRing { flags, index, region, offset, log2_ring_size, private_hdr_size }) => {
                let intr = fd.ok_or_else(|| end("missing interrupt fd"))?;
                let c2s = flags & proto::ADD_RING_FLAG_C2S != 0;
                if index >= queues || chan.rings.iter().any(|r| r.c2s == c2s && r.index == index) {
                    return Err(end("invalid ring index"));
                }
                if log2_ring_size == 0 || log2_ring_size > proto::MAX_LOG2_RING_SIZE || private_hdr_size != 0 {
                    return Err(end("invalid ring size"));
                }
                chan.rings.push(RingSpec { c2s, index, region, offset, log2: log2_ring_size, intr });
                send(&chan.fd, &Msg::Ack, None).map_err(|e| End(e.to_string(), false))
            }
            (Step::Building, Msg::Connect { if_name }) => {
                let conn =
                    server_connection(queues, std::mem::take(&mut chan.regions), std::mem::take(&mut chan.rings))
                        .map_err(end)?;
                chan.peer = format!("{} / {}", chan.peer, if_name);
                chan.conn = Some(Box::new(conn));
                send(&chan.fd, &Msg::Connected { if_name: self.name.clone() }, None)
                    .map_err(|e| End(e.to_string(), false))?;
                chan.step = Step::Up;
                Ok(())
            }
            (
                Step::AwaitHello,
                Msg::Hello { name, min_version, max_version, max_s2c_ring, max_c2s_ring, max_log2_ring_size, .. },
            ) => {
                if min_version > proto::VERSION || max_version < proto::VERSION {
                    return Err(end("incompatible memif version"));
                }
                let layout = Layout {
                    c2s: queues.min(max_c2s_ring.saturating_add(1)),
                    s2c: queues.min(max_s2c_ring.saturating_add(1)),
                    log2: self.cfg.log2_ring_size.min(max_log2_ring_size).max(1),
                    buffer_size: self.cfg.buffer_size,
                };
                let (conn, intr_fds) =
                    client_connection(layout).map_err(|e| end(format!("cannot set up memory: {e}")))?;
                chan.peer = name;
                chan.outbox.push_back((
                    Msg::Init {
                        version: proto::VERSION,
                        id: self.cfg.id,
                        mode: 0,
                        secret: self.cfg.secret.clone(),
                        name: "dpnode".into(),
                    },
                    None,
                ));
                chan.outbox.push_back((
                    Msg::AddRegion { index: 0, size: conn.regions[0].size as u64 },
                    Some(conn.regions[0].fd.as_raw_fd()),
                ));
                for (c2s, n) in [(true, layout.c2s), (false, layout.s2c)] {
                    for i in 0..n {
                        chan.outbox.push_back((
                            Msg::AddRing {
                                flags: if c2s { proto::ADD_RING_FLAG_C2S } else { 0 },
                                index: i,
                                region: 0,
                                offset: layout.ring_offset(c2s, i) as u32,
                                log2_ring_size: layout.log2,
                                private_hdr_size: 0,
                            },
                            Some(intr_fds[if c2s { i as usize } else { (layout.c2s + i) as usize }]),
                        ));
                    }
                }
                chan.outbox.push_back((Msg::Connect { if_name: self.name.clone() }, None));
                chan.conn = Some(Box::new(conn));
                chan.step = Step::AwaitAck;
                chan.send_next()
            }
            (Step::AwaitAck, Msg::Ack) => chan.send_next(),
            (Step::AwaitConnected, Msg::Connected { if_name }) => {
                chan.peer = format!("{} / {}", chan.peer, if_name);
                chan.step = Step::Up;
                Ok(())
            }
            (step, m) => Err(end(format!("unexpected message {m:?} in step {step:?}"))),
        }
    }

    /// End the channel (telling the peer why when `End.1`); if we were
    /// connected, close the gate, wait out a grace period, then unmap.
    fn teardown(&mut self, why: End, link: &PortLink, grace: &GracePeriod) -> Option<MemifEvent> {
        let chan = self.chan.take()?;
        let End(reason, notify) = why;
        if notify {
            let _ = send(&chan.fd, &Msg::Disconnect { code: 0, reason: reason.clone() }, None);
        }
        drop(chan);
        self.next_connect = Instant::now() + self.retry;
        self.reason = reason.clone();
        if !link.is_open() {
            // SAFETY: the gate is closed and was closed with a grace period
            // (or never opened for this memory), so no worker reads `conn`.
            drop(unsafe { (*self.shared.conn.get()).take() });
            return None;
        }
        link.close();
        grace.synchronize();
        // SAFETY: the gate is closed and the grace period has passed: every
        // worker has finished any burst that could have used the memory.
        drop(unsafe { (*self.shared.conn.get()).take() });
        Some(MemifEvent::Down(reason))
    }

    /// Close everything (at shutdown: the workers have stopped).
    pub fn close(&mut self, link: &PortLink, grace: &GracePeriod) {
        let _ = self.teardown(end("interface deleted"), link, grace);
        self.listener = None;
        if !self.cfg.abstract_socket && self.cfg.role == Role::Server {
            let _ = std::fs::remove_file(&self.cfg.socket);
        }
    }
}

impl Chan {
    fn new(fd: OwnedFd, step: Step) -> Chan {
        Chan {
            fd,
            step,
            since: Instant::now(),
            outbox: Default::default(),
            conn: None,
            regions: Vec::new(),
            rings: Vec::new(),
            peer: String::new(),
        }
    }

    /// Client: send the next queued message (the last one is CONNECT).
    fn send_next(&mut self) -> Result<(), End> {
        let Some((m, fd)) = self.outbox.pop_front() else { return Err(end("unexpected ACK")) };
        if matches!(m, Msg::Connect { .. }) {
            self.step = Step::AwaitConnected;
        }
        send(&self.fd, &m, fd).map_err(|e| End(format!("control channel: {e}"), false))
    }
}

fn send(fd: &OwnedFd, m: &Msg, attach: Option<RawFd>) -> io::Result<()> {
    // SAFETY: the attached descriptor is owned by the connection being
    // built, alive for the call.
    let borrowed = attach.map(|f| unsafe { std::os::fd::BorrowedFd::borrow_raw(f) });
    let fds: Vec<_> = borrowed.into_iter().collect();
    let n = shm::fdpass::send_with_fds(fd.as_fd(), &m.encode(), &fds)?;
    if n != proto::MSG_SIZE {
        return Err(io::Error::new(io::ErrorKind::WriteZero, "short control message"));
    }
    Ok(())
}

/// The client's memory: one sealed region with every ring and buffer, the
/// rings initialised, and one eventfd per ring (C2S rings first).
fn client_connection(layout: Layout) -> io::Result<(Connection, Vec<RawFd>)> {
    let size = layout.region_size().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "rings too large"))?;
    let region = Region::create(size)?;
    let base = region.base.as_ptr();
    let mut intr = Vec::new();
    let mut rx = vec![None; 0];
    let mut tx = vec![None; 0];
    for (c2s, n) in [(true, layout.c2s), (false, layout.s2c)] {
        for i in 0..n {
            // SAFETY: ring offsets from the layout lie inside the region.
            let ring = Ring { base: unsafe { base.add(layout.ring_offset(c2s, i)) }, log2: layout.log2 };
            ring.set_cookie();
            ring.head().store(0, Ordering::Relaxed);
            ring.tail().store(0, Ordering::Relaxed);
            // We poll our receive (S2C) rings: no interrupts, please.
            ring.flags().store(if c2s { 0 } else { proto::RING_FLAG_MASK_INT }, Ordering::Relaxed);
            for slot in 0..ring.size() {
                let offset = layout.buffer_offset(c2s, i, slot as usize) as u32;
                ring.set_desc(slot, Desc { flags: 0, region: 0, length: layout.buffer_size, offset });
            }
            let e = eventfd()?;
            let r = RingRef { ring, index: i, intr: e.as_raw_fd() };
            intr.push(e);
            if c2s {
                tx.push(Some(r));
            } else {
                rx.push(Some(r));
            }
        }
    }
    let fds = intr.iter().map(|f| f.as_raw_fd()).collect();
    let conn = Connection { role: Role::Client, regions: vec![region], rx, tx, layout, _intr: intr };
    Ok((conn, fds))
}

/// The server's view of the client's memory: map every region, check every
/// ring lies inside one and carries the cookie.
fn server_connection(queues: u16, regions: Vec<(OwnedFd, u64)>, rings: Vec<RingSpec>) -> Result<Connection, String> {
    if regions.is_empty() {
        return Err("no region".into());
    }
    let mut mapped = Vec::new();
    for (i, (fd, size)) in regions.into_iter().enumerate() {
        mapped.push(Region::from_peer(fd, size).map_err(|e| format!("region {i}: {e}"))?);
    }
    let mut rx = vec![None; queues as usize];
    let mut tx = vec![None; queues as usize];
    let mut intr = Vec::new();
    let mut log2 = 0;
    for r in rings {
        let region = mapped.get(r.region as usize).ok_or("ring in an unknown region")?;
        let end = r.offset as u64 + proto::ring_bytes(r.log2) as u64;
        if end > region.size as u64 || !r.offset.is_multiple_of(8) {
            return Err("ring outside its region".into());
        }
        // SAFETY: the ring lies inside the mapping (checked above).
        let ring = Ring { base: unsafe { region.base.as_ptr().add(r.offset as usize) }, log2: r.log2 };
        if ring.cookie() != proto::COOKIE {
            return Err("wrong ring cookie".into());
        }
        ring.head().store(0, Ordering::Relaxed);
        ring.tail().store(0, Ordering::Relaxed);
        let rr = RingRef { ring, index: r.index, intr: r.intr.as_raw_fd() };
        intr.push(r.intr);
        log2 = r.log2;
        if r.c2s {
            // We poll our receive (C2S) rings.
            ring.flags().store(proto::RING_FLAG_MASK_INT, Ordering::Relaxed);
            rx[r.index as usize] = Some(rr);
        } else {
            tx[r.index as usize] = Some(rr);
        }
    }
    // The server never computes buffer places (it uses the descriptors);
    // the layout only carries the ring size here.
    let layout = Layout { c2s: 0, s2c: 0, log2, buffer_size: 0 };
    Ok(Connection { role: Role::Server, regions: mapped, rx, tx, layout, _intr: intr })
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn devargs_parse_like_dpdk() {
        let (name, c) =
            MemifConfig::parse("net_memif0,role=client,socket=/tmp/m.sock,socket-abstract=no,id=3").unwrap();
        assert_eq!(name, "net_memif0");
        assert_eq!((c.role, c.id, c.socket.as_str(), c.abstract_socket), (Role::Client, 3, "/tmp/m.sock", false));
        assert_eq!((c.log2_ring_size, c.buffer_size), (10, 2048));
        let (_, d) = MemifConfig::parse("net_memif1").unwrap();
        assert_eq!((d.role, d.socket.as_str(), d.abstract_socket), (Role::Server, "/run/memif.sock", true));
        let (_, m) = MemifConfig::parse("net_memif2,mac=02:00:00:00:00:09,rsize=12,bsize=4096,secret=abc").unwrap();
        assert_eq!(m.mac, Some([2, 0, 0, 0, 0, 9]));
        assert_eq!((m.log2_ring_size, m.buffer_size, m.secret.as_slice()), (12, 4096, &b"abc"[..]));
        for bad in [
            "net_memif0,role=boss",
            "net_memif0,rsize=15",
            "net_memif0,bsize=1",
            "net_memif0,zero-copy=yes",
            "net_memif0,mac=zz",
            "net_memif0,bogus=1",
            "net_memif0,id=x",
            "net_memif0,socket-abstract=maybe",
            "net_tap0",
        ] {
            assert!(MemifConfig::parse(bad).is_err(), "{bad}");
        }
        assert!(is_memif("net_memif0,role=server"));
        assert!(!is_memif("net_tap0,iface=x"));
    }

    #[test]
    fn random_macs_are_local_unicast() {
        let m = random_mac();
        assert_eq!(m[0] & 0x03, 0x02);
    }
}
