//! The library's state: the attached application and its workers (one per
//! thread that uses sockets), the node sockets and the descriptors that
//! name them, and the epoll sets that hold node sockets.
//!
//! Two kinds of lock guard it:
//!
//! - the **table lock** (one, process-wide) guards the tables: descriptors,
//!   sockets, epoll sets, the application. Structure changes take it
//!   (socket, accept, close, dup, epoll_ctl, fork, exec), and so does every
//!   call that is not on the fast path;
//! - each app worker has a **worker lock** of its own around the client
//!   library's worker (whose queues and fifos have one producer and one
//!   consumer) and the worker's *fast table*: its connected TCP sockets
//!   that nothing but data moves on (not shut down, no pending error).
//!
//! The fast path ([`crate::fast`]): a read or write on a socket of the
//! fast table by the thread whose app worker it lives on takes the worker
//! lock alone, which no other thread holds unless it uses a socket of the
//! same worker, so threads with sockets of their own never meet; a socket
//! shared by threads (or any other call) takes the table lock and then the
//! worker lock. Lock order: table, then workers by index; the fast path
//! never takes the table lock while it holds a worker lock. A call on a
//! descriptor that is no node socket is decided by a lock-free table
//! ([`FD_SOCK`]) and goes straight to libc. Blocking calls release both
//! locks while they sleep; fork takes all of them (see `exports`), so the
//! child's copy of every table is whole.

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use dpnode_client::{App, Error, Event, ListenerId, NodeError, SessionId, Worker};

use shm::types::Proto;

use crate::real;
use crate::wake::{self, Sleepers};

/// An errno value.
pub type Errno = i32;
/// A result whose error is an errno value.
pub type R<T> = Result<T, Errno>;

/// Descriptors below this are looked up in [`FD_SOCK`] and the epoll bitmap without the lock.
const TABLE_FDS: usize = 1 << 16;

/// Descriptor → `socket id << 2 | AF_INET6 bit << 1 | UDP bit` of the node socket it names, 0 for any other
/// descriptor: read without a lock by every interposed call (is it a node socket?) and by the
/// fast path (which one?); written under the table lock. 512 KiB of zeroes until used; only
/// the pages of descriptors in use become resident.
static FD_SOCK: [AtomicU64; TABLE_FDS] = [const { AtomicU64::new(0) }; TABLE_FDS];
static EPOLL_FDS: [AtomicU64; TABLE_FDS / 64] = [const { AtomicU64::new(0) }; TABLE_FDS / 64];
/// Set once a node socket exists (before, nothing needs the lock at all).
pub static ANY: AtomicBool = AtomicBool::new(false);

fn bit_get(map: &[AtomicU64], fd: RawFd) -> bool {
    if !ANY.load(Ordering::Relaxed) || fd < 0 {
        return false;
    }
    let fd = fd as usize;
    match map.get(fd / 64) {
        Some(w) => w.load(Ordering::Acquire) & (1 << (fd % 64)) != 0,
        // Beyond the bitmap: ask the table.
        None => true,
    }
}

fn fd_sock_set(fd: RawFd, v: u64) {
    if let Some(e) = usize::try_from(fd).ok().and_then(|fd| FD_SOCK.get(fd)) {
        e.store(v, Ordering::Release);
    }
}

/// The node socket (id, is UDP) `fd` names, from the lock-free table; `None` for any other
/// descriptor and for descriptors beyond the table (the caller asks [`State::sock_of`]).
pub fn fd_sock(fd: RawFd) -> Option<(u64, bool)> {
    let e = usize::try_from(fd).ok().and_then(|fd| FD_SOCK.get(fd))?.load(Ordering::Acquire);
    (e != 0).then_some((e >> 2, e & 1 != 0))
}

/// Whether `fd` is an AF_INET6 node socket (exact below 65536, else asks under the lock):
/// its addresses are shown to the program as `sockaddr_in6` (IPv4 ones mapped).
pub fn is_v6(fd: RawFd) -> bool {
    if !maybe_node(fd) {
        return false;
    }
    match usize::try_from(fd).ok().and_then(|fd| FD_SOCK.get(fd)) {
        Some(e) => e.load(Ordering::Acquire) & 2 != 0,
        None => {
            let g = lock();
            g.sock_of(fd).and_then(|id| g.socks.get(&id)).is_some_and(|s| s.v6)
        }
    }
}

fn bit_set(map: &[AtomicU64], fd: RawFd, on: bool) {
    if fd < 0 {
        return;
    }
    let fd = fd as usize;
    if let Some(w) = map.get(fd / 64) {
        if on {
            w.fetch_or(1 << (fd % 64), Ordering::Release);
        } else {
            w.fetch_and(!(1 << (fd % 64)), Ordering::Release);
        }
    }
}

/// Whether `fd` may be a node socket (exact below 65536).
pub fn maybe_node(fd: RawFd) -> bool {
    if !ANY.load(Ordering::Relaxed) || fd < 0 {
        return false;
    }
    match FD_SOCK.get(fd as usize) {
        Some(e) => e.load(Ordering::Acquire) != 0,
        // Beyond the table: ask the tables under the lock.
        None => true,
    }
}

/// Whether `fd` is a UDP node socket (exact below 65536, else asks under the lock).
pub fn is_udp(fd: RawFd) -> bool {
    if !maybe_node(fd) {
        return false;
    }
    match fd_sock(fd) {
        Some((_, udp)) => udp,
        None => {
            let g = lock();
            g.sock_of(fd).and_then(|id| g.socks.get(&id)).is_some_and(|s| s.proto == Proto::Udp)
        }
    }
}

/// Whether `fd` may be an epoll set that holds node sockets.
pub fn maybe_epoll(fd: RawFd) -> bool {
    bit_get(&EPOLL_FDS, fd)
}

/// Socket options the library keeps (and reports back).
#[derive(Debug, Clone, Default)]
pub struct Opts {
    /// SO_REUSEADDR.
    pub reuseaddr: i32,
    /// SO_REUSEPORT.
    pub reuseport: i32,
    /// SO_KEEPALIVE.
    pub keepalive: i32,
    /// SO_LINGER (on, seconds).
    pub linger: (i32, i32),
    /// SO_RCVBUF as set (0: not set).
    pub rcvbuf: i32,
    /// SO_SNDBUF as set.
    pub sndbuf: i32,
    /// SO_RCVTIMEO.
    pub rcvtimeo: Option<Duration>,
    /// SO_SNDTIMEO.
    pub sndtimeo: Option<Duration>,
    /// TCP_NODELAY.
    pub nodelay: i32,
    /// TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT.
    pub keep: (i32, i32, i32),
    /// TCP_MAXSEG (0: not set).
    pub maxseg: i32,
    /// TCP_CONGESTION (`cubic` or `reno`; empty: default).
    pub congestion: String,
    /// IP_TOS (IPV6_TCLASS on an AF_INET6 socket).
    pub tos: i32,
    /// IPV6_V6ONLY (Linux's default, `net.ipv6.bindv6only` = 0: off).
    pub v6only: i32,
    /// Other integer options accepted and kept, by (level, name).
    pub other: Vec<(i32, i32, i32)>,
}

/// A UDP socket's sessions: one per peer (the node's UDP is connected, as VPP's).
#[derive(Debug, Default)]
pub struct Udp {
    /// The node listener, once bound to a port.
    pub listener: Option<ListenerId>,
    /// Sessions by peer.
    pub sessions: HashMap<SocketAddr, SessionId>,
    /// The peer of `connect`, if any: only its datagrams are read, sends go there.
    pub connected: Option<SocketAddr>,
    /// Sessions that announced data, in order.
    pub ready: VecDeque<SessionId>,
}

/// Where a socket is in its life.
#[derive(Debug)]
pub enum St {
    /// Made by `socket`, not connected or listening.
    Fresh,
    /// A TCP listener.
    Listening(ListenerId),
    /// A TCP connect in flight.
    Connecting,
    /// A TCP session.
    Connected(SessionId),
    /// A TCP connect failed (`err` says why).
    Failed,
    /// The peer reset the TCP session.
    Reset,
    /// `shutdown(SHUT_RDWR)`: the session is closed on the node, the descriptor stays.
    Closed,
    /// UDP.
    Udp(Box<Udp>),
    /// A TCP listener this process got through fork or exec and does not listen on at the
    /// node (yet): its first use here (accept, poll, select, epoll) makes this process's
    /// app worker join the listener.
    Dormant(Box<Dormant>),
    /// A socket this process got through fork whose session stays with the process that
    /// had it (a connected TCP socket, a UDP socket with sessions): unusable here.
    Elsewhere,
}

/// A listener inherited, not listened on yet (see [`St::Dormant`]).
#[derive(Debug, Clone)]
pub struct Dormant {
    /// Where the listener listens.
    pub ep: SocketAddr,
    /// The app worker (handle) that listened and had not accepted when the fork came:
    /// made passive when this process joins, so accepts come here instead of to it.
    pub stop: Option<u64>,
}

/// What an exec'd program was told by the program before it ([`crate::ops::inherit_var`]):
/// the application to join, and its share token.
#[derive(Debug, Clone, Copy)]
pub struct Inherit {
    /// Application handle.
    pub app: u64,
    /// Share token.
    pub token: u64,
}

/// A node socket.
#[derive(Debug)]
pub struct Sock {
    /// The app worker its sessions live on.
    pub wrk: usize,
    /// TCP or UDP.
    pub proto: Proto,
    /// An AF_INET6 socket: addresses go in and out as `sockaddr_in6`.
    pub v6: bool,
    /// Descriptors that name it (dup makes more).
    pub refs: u32,
    /// O_NONBLOCK (shared by its descriptors, as the open file description's flag).
    pub nonblock: bool,
    /// Its state.
    pub st: St,
    /// The address given to bind.
    pub bound: Option<SocketAddr>,
    /// The address the node listens on (port chosen for bind to port 0).
    pub listen_ep: Option<SocketAddr>,
    /// Pending error for SO_ERROR.
    pub err: Errno,
    /// Bumped by every event about it (edge-triggered epoll reports a change of it).
    pub seq: u64,
    /// shutdown(SHUT_RD).
    pub shut_rd: bool,
    /// shutdown(SHUT_WR).
    pub shut_wr: bool,
    /// Options.
    pub opts: Opts,
    /// A listener this process has accepted on or polled (its first such use may need
    /// to tell the node, see `maybe_passive` and [`St::Dormant`]).
    pub used: bool,
    /// This process forked before it used the listener, so a child may have made its
    /// app worker passive on it: its first use makes the worker active again.
    pub maybe_passive: bool,
}

impl Sock {
    /// A fresh socket of worker `wrk`.
    pub fn new(wrk: usize, proto: Proto, nonblock: bool) -> Sock {
        let st = match proto {
            Proto::Tcp => St::Fresh,
            Proto::Udp => St::Udp(Box::default()),
        };
        Sock {
            wrk,
            proto,
            v6: false,
            refs: 1,
            nonblock,
            st,
            bound: None,
            listen_ep: None,
            err: 0,
            seq: 1,
            shut_rd: false,
            shut_wr: false,
            opts: Opts::default(),
            used: false,
            maybe_passive: false,
        }
    }

    /// The TCP session, if connected.
    pub fn session(&self) -> Option<SessionId> {
        match &self.st {
            St::Connected(s) => Some(*s),
            _ => None,
        }
    }
}

/// One app worker (one per thread that made sockets), behind its worker lock.
pub struct Wrk {
    /// The client library's worker.
    pub w: Worker,
    /// Its eventfd.
    pub efd: RawFd,
    /// Threads asleep on it now, and its wake-up generation.
    pub sleepers: Sleepers,
    /// The fast table: socket id → session of its sockets on which a read or write needs
    /// nothing but the session (connected TCP, not shut down, no pending error). Kept by
    /// [`State::fast_sync`] whenever such a socket's state changes.
    pub fast: HashMap<u64, SessionId>,
}

impl Wrk {
    /// A worker with an empty fast table, behind a lock of its own.
    pub fn shared(w: Worker) -> Shared {
        let efd = w.eventfd().unwrap_or(-1);
        Arc::new(parking_lot::Mutex::new(Wrk { w, efd, sleepers: Sleepers::default(), fast: HashMap::new() }))
    }
}

/// An app worker as the tables hold it (and the thread that owns it, for its fast path).
pub type Shared = Arc<parking_lot::Mutex<Wrk>>;

/// Worker `wi`, locked (the table lock is held, or it is the caller's own worker).
pub fn wrk(workers: &[Shared], wi: usize) -> Option<parking_lot::MutexGuard<'_, Wrk>> {
    workers.get(wi).map(|c| c.lock())
}

/// A node socket's registration in an epoll set.
#[derive(Debug, Clone, Copy)]
pub struct Reg {
    /// The socket.
    pub sock: u64,
    /// EPOLL* bits asked for.
    pub events: u32,
    /// The caller's data.
    pub data: u64,
    /// `seq` of the socket when last reported (edge-triggered).
    pub seen: u64,
    /// EPOLLONESHOT fired; off until EPOLL_CTL_MOD.
    pub disabled: bool,
    /// In its set's ready list.
    pub queued: bool,
}

/// The node sockets of one epoll set (its kernel descriptors are in the kernel's set).
///
/// epoll_wait looks only at the registrations in the ready list: those whose socket had
/// an event (or a change the library made) since, and level-triggered ones that were
/// ready when last looked at (they stay until they are not), as the kernel keeps its
/// ready list. A socket whose readiness can rise without an event (room in its tx fifo)
/// asks the node for one when it is found not writable.
#[derive(Debug, Default)]
pub struct EpollSet {
    /// By descriptor.
    pub regs: HashMap<RawFd, Reg>,
    /// Registrations to look at, in order (each at most once: [`Reg::queued`]).
    pub ready: VecDeque<RawFd>,
    /// App workers whose eventfd is in the kernel set, with how many registrations need it.
    pub wrks: HashMap<usize, u32>,
    /// Relay eventfds (descriptor, serial: [`crate::wake::relay_id`]) of the threads that
    /// have slept on the set, in the kernel set too.
    pub relays: Vec<(RawFd, u64)>,
}

/// The state (see the module doc).
#[derive(Default)]
pub struct State {
    /// The attached application.
    pub app: Option<App>,
    /// Why attach failed (sticky).
    pub attach_err: Option<Errno>,
    /// App workers, by index.
    pub workers: Vec<Shared>,
    /// Sockets by id (ids are never reused).
    pub socks: HashMap<u64, Sock>,
    next_sock: u64,
    /// Descriptor → socket.
    pub fds: HashMap<RawFd, u64>,
    /// (worker, session) → socket.
    pub by_session: HashMap<(usize, u64), u64>,
    /// (worker, listener) → socket.
    pub by_listener: HashMap<(usize, u64), u64>,
    /// UDP listeners whose socket connected to one peer, by (worker, bound address): a new
    /// socket bound there takes them over (iperf3's UDP server does this).
    pub orphans: HashMap<(usize, SocketAddr), ListenerId>,
    /// Epoll sets with node sockets, by epoll descriptor.
    pub epolls: HashMap<RawFd, EpollSet>,
    /// Where each socket is registered: (epoll descriptor, descriptor), by socket id.
    pub watch: HashMap<u64, Vec<(RawFd, RawFd)>>,
    /// The application's share token, once asked for (at the first fork or exec).
    pub share_token: Option<u64>,
    /// The application an exec'd program inherited listeners of, until it joins it.
    pub inherit: Option<Inherit>,
    /// During a fork: a pipe (read, write) the child writes once it has joined the
    /// application, so the parent does not go on (and perhaps exit) before.
    pub fork_sync: Option<(RawFd, RawFd)>,
    pub(crate) events: Vec<Event>,
}

static STATE: LazyLock<Mutex<State>> = LazyLock::new(|| Mutex::new(State::default()));

/// The locked state.
pub type Guard = MutexGuard<'static, State>;

/// Takes the lock (a poisoned lock still holds consistent enough state to go on).
pub fn lock() -> Guard {
    STATE.lock().unwrap_or_else(|p| p.into_inner())
}

/// The errno for a client library error.
pub fn errno_of(e: &Error) -> Errno {
    match e {
        Error::Node { code, .. } => errno_of_code(*code),
        Error::Io(e) => e.raw_os_error().unwrap_or(libc::EIO),
        Error::Protocol(_) => libc::EPROTO,
        Error::WouldBlock => libc::EAGAIN,
        Error::BadSession => libc::EBADF,
        Error::BadState => libc::EINVAL,
        Error::Closed => libc::EPIPE,
        Error::Timeout => libc::ETIMEDOUT,
        Error::QueueFull => libc::ENOBUFS,
        Error::Invalid(_) => libc::EINVAL,
    }
}

/// The errno for a node error code.
pub fn errno_of_code(code: i32) -> Errno {
    match NodeError::from_i32(code) {
        Some(NodeError::AddressInUse | NodeError::AlreadyListening) => libc::EADDRINUSE,
        Some(NodeError::Refused) => libc::ECONNREFUSED,
        Some(NodeError::NoRoute) => libc::ENETUNREACH,
        Some(NodeError::Timeout) => libc::ETIMEDOUT,
        Some(NodeError::NoPort) => libc::EADDRNOTAVAIL,
        Some(NodeError::NoMemory | NodeError::TooMany | NodeError::QueueFull) => libc::ENOBUFS,
        Some(NodeError::InvalidValue) => libc::EINVAL,
        Some(NodeError::NotListening | NodeError::NoSuchListener) => libc::EINVAL,
        Some(NodeError::BadSession | NodeError::BadState) => libc::ENOTCONN,
        Some(NodeError::InvalidNamespace | NodeError::WrongNamespaceSecret) => libc::EACCES,
        _ => libc::EIO,
    }
}

impl State {
    /// A new socket id.
    pub fn add_sock(&mut self, fd: RawFd, sock: Sock) -> u64 {
        self.next_sock += 1;
        let id = self.next_sock;
        self.socks.insert(id, sock);
        self.add_fd(fd, id);
        id
    }

    /// Makes `fd` name socket `id`.
    pub fn add_fd(&mut self, fd: RawFd, id: u64) {
        self.fds.insert(fd, id);
        ANY.store(true, Ordering::Relaxed);
        let udp = self.socks.get(&id).is_some_and(|s| s.proto == Proto::Udp);
        let v6 = self.socks.get(&id).is_some_and(|s| s.v6);
        let bits = u64::from(udp) | u64::from(v6) << 1;
        // Ids beyond 2^62 never happen (one per socket); such a one would only miss the fast path.
        fd_sock_set(fd, id.checked_shl(2).filter(|v| v >> 2 == id).map_or(1 | bits, |v| v | bits));
    }

    /// Puts socket `id` in its worker's fast table, or takes it out, as its state says.
    pub fn fast_sync(&self, id: u64) {
        let Some(s) = self.socks.get(&id) else { return };
        let Some(mut w) = wrk(&self.workers, s.wrk) else { return };
        match s.st {
            St::Connected(sess) if s.proto == Proto::Tcp && !s.shut_rd && !s.shut_wr && s.err == 0 => {
                w.fast.insert(id, sess);
            }
            _ => {
                w.fast.remove(&id);
            }
        }
    }

    /// Forgets `fd` (the socket stays while other descriptors name it); returns the socket id.
    pub fn remove_fd(&mut self, fd: RawFd) -> Option<u64> {
        fd_sock_set(fd, 0);
        let id = self.fds.remove(&fd)?;
        // The kernel drops a closed descriptor from its epoll sets; so do we.
        let mut emptied = Vec::new();
        if let Some(w) = self.watch.get_mut(&id) {
            w.retain(|&(_, f)| f != fd);
        }
        for (&ep, set) in self.epolls.iter_mut() {
            if let Some(r) = set.regs.remove(&fd) {
                if r.queued {
                    set.ready.retain(|&f| f != fd);
                }
                let wi = self.socks.get(&r.sock).map(|s| s.wrk);
                if let Some(wi) = wi {
                    emptied.push((ep, wi));
                }
            }
        }
        for (ep, wi) in emptied {
            self.epoll_release_worker(ep, wi);
        }
        Some(id)
    }

    /// The socket `fd` names.
    pub fn sock_of(&self, fd: RawFd) -> Option<u64> {
        self.fds.get(&fd).copied()
    }

    /// Marks `fd` as an epoll set holding node sockets (or not).
    pub fn mark_epoll(fd: RawFd, on: bool) {
        bit_set(&EPOLL_FDS, fd, on);
        if on {
            ANY.store(true, Ordering::Relaxed);
        }
    }

    /// One fewer registration in epoll set `ep` needs worker `wi`'s eventfd.
    pub fn epoll_release_worker(&mut self, ep: RawFd, wi: usize) {
        let Some(set) = self.epolls.get_mut(&ep) else { return };
        let Some(n) = set.wrks.get_mut(&wi) else { return };
        *n = n.saturating_sub(1);
        if *n == 0 {
            set.wrks.remove(&wi);
            if let Some(efd) = wrk(&self.workers, wi).map(|w| w.efd) {
                // SAFETY: plain epoll_ctl on descriptors we own; a NULL event is allowed for DEL.
                unsafe { real::epoll_ctl(ep, libc::EPOLL_CTL_DEL, efd, std::ptr::null_mut()) };
            }
        }
    }

    fn bump(&mut self, id: u64) {
        if let Some(s) = self.socks.get_mut(&id) {
            s.seq += 1;
        }
    }

    /// Puts socket `id`'s registrations in their sets' ready lists (its readiness may have changed).
    pub fn mark(&mut self, id: u64) {
        let Some(w) = self.watch.get(&id) else { return };
        for &(ep, fd) in w {
            if let Some(set) = self.epolls.get_mut(&ep) {
                if let Some(r) = set.regs.get_mut(&fd).filter(|r| !r.queued) {
                    r.queued = true;
                    set.ready.push_back(fd);
                }
            }
        }
    }

    /// Reads worker `wi`'s events and applies them to the sockets.
    pub fn pump(&mut self, wi: usize) {
        let mut evs = std::mem::take(&mut self.events);
        evs.clear();
        let r = match wrk(&self.workers, wi) {
            Some(mut w) => w.w.wait(&mut evs, 4096, Some(Duration::ZERO)),
            None => return,
        };
        if let Err(e) = r {
            crate::debug!("worker {wi}: {e}");
            if matches!(e, Error::Closed) {
                self.node_gone(wi);
            }
        }
        for ev in evs.drain(..) {
            if let Some(id) = self.on_event(wi, ev) {
                self.mark(id);
            }
        }
        self.events = evs;
    }

    /// The node closed the API connection: every session of the worker is gone.
    fn node_gone(&mut self, wi: usize) {
        if let Some(mut w) = wrk(&self.workers, wi) {
            w.fast.clear();
        }
        let ids: Vec<u64> = self.socks.iter().filter(|(_, s)| s.wrk == wi).map(|(&id, _)| id).collect();
        for id in ids {
            self.mark(id);
        }
        for s in self.socks.values_mut().filter(|s| s.wrk == wi) {
            match &mut s.st {
                St::Connected(_) | St::Connecting | St::Listening(_) => {
                    s.st = St::Reset;
                    s.err = libc::ECONNRESET;
                    s.seq += 1;
                }
                St::Udp(u) => {
                    u.sessions.clear();
                    u.listener = None;
                    s.seq += 1;
                }
                _ => {}
            }
        }
    }

    /// Applies one event; returns the socket it was about, if any.
    fn on_event(&mut self, wi: usize, ev: Event) -> Option<u64> {
        crate::debug!("worker {wi}: event {ev:?}");
        match ev {
            Event::Accept(l) => {
                let id = *self.by_listener.get(&(wi, l.0))?;
                if self.socks.get(&id).is_some_and(|s| s.proto == Proto::Udp) {
                    self.udp_take_sessions(wi, id, l);
                }
                self.bump(id);
                Some(id)
            }
            Event::Connected { opaque, result } => {
                let Some(s) = self.socks.get_mut(&opaque) else {
                    // Closed while connecting: let the session go.
                    if let (Ok(sess), Some(mut w)) = (result, wrk(&self.workers, wi)) {
                        let _ = w.w.close(sess);
                    }
                    return None;
                };
                s.seq += 1;
                match (&mut s.st, result) {
                    (St::Connecting, Ok(sess)) => {
                        s.st = St::Connected(sess);
                        self.by_session.insert((wi, sess.0), opaque);
                        self.fast_sync(opaque);
                    }
                    (St::Connecting, Err(code)) => {
                        s.st = St::Failed;
                        s.err = errno_of_code(code);
                    }
                    (St::Udp(u), Ok(sess)) => {
                        let peer = wrk(&self.workers, wi).and_then(|w| w.w.session(sess)).map(|i| i.remote);
                        if let Some(peer) = peer {
                            u.sessions.insert(peer, sess);
                        }
                        self.by_session.insert((wi, sess.0), opaque);
                    }
                    (St::Udp(_), Err(code)) => s.err = errno_of_code(code),
                    (_, Ok(sess)) => {
                        if let Some(mut w) = wrk(&self.workers, wi) {
                            let _ = w.w.close(sess);
                        }
                    }
                    (_, Err(_)) => {}
                }
                Some(opaque)
            }
            Event::Readable(s) | Event::Writable(s) | Event::PeerClosed(s) => {
                let id = *self.by_session.get(&(wi, s.0))?;
                if let Some(Sock { st: St::Udp(u), .. }) = self.socks.get_mut(&id) {
                    if matches!(ev, Event::Readable(_)) && !u.ready.contains(&s) {
                        u.ready.push_back(s);
                    }
                }
                self.bump(id);
                Some(id)
            }
            Event::Reset(s) => {
                let id = self.by_session.remove(&(wi, s.0))?;
                if let Some(sock) = self.socks.get_mut(&id) {
                    sock.seq += 1;
                    match &mut sock.st {
                        St::Udp(u) => {
                            u.sessions.retain(|_, v| *v != s);
                            u.ready.retain(|v| *v != s);
                        }
                        _ => {
                            sock.st = St::Reset;
                            sock.err = libc::ECONNRESET;
                        }
                    }
                }
                self.fast_sync(id);
                Some(id)
            }
        }
    }

    /// Accepts every session a UDP listener has (each new peer makes one) into socket `id`.
    pub fn udp_take_sessions(&mut self, wi: usize, id: u64, l: ListenerId) {
        let Some(mut wrk) = wrk(&self.workers, wi) else { return };
        let v6only = self.socks.get(&id).is_some_and(|s| s.v6 && s.opts.v6only != 0);
        while let Ok(Some(sess)) = wrk.w.accept(l) {
            let Some(info) = wrk.w.session(sess) else { continue };
            // The node's [::] listener takes IPv4 too; a v6only socket does not want it
            // (its datagrams are dropped, as the kernel's v6only socket never sees them).
            if v6only && info.remote.is_ipv4() {
                crate::debug!("udp socket {id}: IPv4 peer {} dropped (IPV6_V6ONLY)", info.remote);
                let _ = wrk.w.close(sess);
                continue;
            }
            if let Some(Sock { st: St::Udp(u), .. }) = self.socks.get_mut(&id) {
                if let Some(old) = u.sessions.insert(info.remote, sess) {
                    self.by_session.remove(&(wi, old.0));
                    let _ = wrk.w.close(old);
                }
                if !u.ready.contains(&sess) {
                    u.ready.push_back(sess);
                }
            }
            self.by_session.insert((wi, sess.0), id);
        }
    }
}

/// A deadline `d` from now (`None`: never; so is one too far away to represent,
/// e.g. a timeval of `i64::MAX` seconds, which must not panic).
pub fn deadline(d: Option<Duration>) -> Option<Instant> {
    d.and_then(|d| Instant::now().checked_add(d))
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn a_huge_timeout_is_no_deadline_not_a_panic() {
        assert!(deadline(Some(Duration::from_secs(i64::MAX as u64))).is_none());
        assert!(deadline(Some(Duration::from_millis(5))).is_some());
        assert!(deadline(None).is_none());
    }

    #[test]
    fn errnos_of_node_errors() {
        assert_eq!(errno_of_code(NodeError::Refused as i32), libc::ECONNREFUSED);
        assert_eq!(errno_of_code(NodeError::AddressInUse as i32), libc::EADDRINUSE);
        assert_eq!(errno_of_code(NodeError::Timeout as i32), libc::ETIMEDOUT);
        assert_eq!(errno_of_code(-1), libc::EIO);
    }
}

/// Whether every signal handler installed asks for SA_RESTART (then an
/// interrupted blocking call without a timeout goes on, as the kernel's would).
pub fn restart_ok() -> bool {
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: a zeroed sigaction is a valid out-parameter; NULL act only reads.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) } != 0 {
            continue;
        }
        let h = old.sa_sigaction;
        if h != libc::SIG_DFL && h != libc::SIG_IGN && old.sa_flags & libc::SA_RESTART == 0 {
            return false;
        }
    }
    true
}

/// Arms worker `wi` for a sleep of the calling thread; `false` if it has news already
/// (do not sleep).
pub fn arm(g: &mut State, wi: usize) -> bool {
    let Some(mut w) = wrk(&g.workers, wi) else { return false };
    if w.w.arm_sleep() {
        w.sleepers.enter(wake::relay());
        true
    } else {
        // With another thread asleep on this worker the queues stay armed for it (and
        // the news woke it, or will: the node writes the eventfd of an armed queue).
        if w.sleepers.is_empty() {
            w.w.disarm_sleep(false);
        }
        false
    }
}

/// Undoes [`arm`] after the sleep: takes a wake-up from the eventfd, relaying it to the
/// threads still asleep on the worker (see [`crate::wake`]).
pub fn disarm(g: &mut State, wi: usize, socket_readable: bool) {
    let Some(mut w) = wrk(&g.workers, wi) else { return };
    let efd = w.efd;
    let woken = w.sleepers.leave(efd, wake::relay());
    if w.sleepers.is_empty() {
        w.w.disarm_sleep_drained(socket_readable);
    }
    crate::debug!("worker {wi}: awake (woken {woken}, generation {})", w.sleepers.generation());
}

/// The signal mask a sleep runs with (NULL: the thread's own).
#[derive(Debug, Clone, Copy)]
pub struct Mask(*const libc::sigset_t);

impl Mask {
    /// The thread's own mask.
    pub const NONE: Mask = Mask(std::ptr::null());

    /// The caller's mask.
    ///
    /// # Safety
    ///
    /// `p` must be NULL or point to a valid sigset_t for as long as the value is used.
    pub unsafe fn new(p: *const libc::sigset_t) -> Mask {
        Mask(p)
    }

    /// The pointer.
    pub fn ptr(self) -> *const libc::sigset_t {
        self.0
    }
}

/// The longest one [`sleep`] lasts: a safety net only (wake-ups are not lost between
/// threads, see [`crate::wake`]; it bounds the cost of one the library does not foresee, or
/// of a thread that could get no relay eventfd).
pub const MAX_SLEEP: Duration = Duration::from_secs(1);

/// Sleeps (without the lock) until worker `wi` has news, one of `fds` is
/// ready, or `until`; returns the guard again and ppoll's result.
pub fn sleep(
    mut g: Guard,
    wis: &[usize],
    fds: &mut Vec<libc::pollfd>,
    until: Option<Instant>,
    mask: Mask,
) -> (Guard, R<i32>) {
    let mut armed: smallvec_lite::Small = smallvec_lite::Small::default();
    for &wi in wis {
        if armed.contains(wi) {
            continue;
        }
        if !arm(&mut g, wi) {
            for a in armed.iter() {
                disarm(&mut g, a, false);
            }
            return (g, Ok(0));
        }
        armed.push(wi);
    }
    let user = fds.len();
    let mut api = -1;
    for wi in armed.iter() {
        if let Some(w) = wrk(&g.workers, wi) {
            fds.push(libc::pollfd { fd: w.efd, events: libc::POLLIN, revents: 0 });
            api = w.w.api_fd();
        }
    }
    let relay = wake::relay();
    if relay >= 0 && armed.iter().next().is_some() {
        fds.push(libc::pollfd { fd: relay, events: libc::POLLIN, revents: 0 });
    }
    if api >= 0 {
        fds.push(libc::pollfd { fd: api, events: libc::POLLIN, revents: 0 });
    }
    drop(g);
    // No sleep lasts longer than MAX_SLEEP (a safety net): callers look again
    // and sleep on until their own deadline.
    let now = Instant::now();
    let wake = match until {
        Some(u) if u < now + MAX_SLEEP => u,
        _ => now + MAX_SLEEP,
    };
    let left = wake.saturating_duration_since(now);
    let ts = libc::timespec { tv_sec: left.as_secs() as libc::time_t, tv_nsec: left.subsec_nanos() as libc::c_long };
    let tsp = &ts as *const libc::timespec;
    // SAFETY: `fds` is a live array of fds.len() pollfds; `tsp` and `mask` are NULL or valid.
    let rc = unsafe { real::ppoll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, tsp, mask.ptr()) };
    let err = real::errno();
    let mut g = lock();
    let api_ready = api >= 0 && fds.last().is_some_and(|p| p.revents != 0);
    for wi in armed.iter() {
        disarm(&mut g, wi, api_ready);
    }
    fds.truncate(user);
    if rc < 0 {
        return (g, Err(err));
    }
    (g, Ok(rc))
}

/// A tiny set of worker indices without allocation (almost always one).
pub mod smallvec_lite {
    /// Up to 8 indices inline.
    #[derive(Default)]
    pub struct Small {
        v: [usize; 8],
        n: usize,
        more: Vec<usize>,
    }
    impl Small {
        /// Adds one.
        pub fn push(&mut self, x: usize) {
            if let Some(slot) = self.v.get_mut(self.n) {
                *slot = x;
                self.n += 1;
            } else {
                self.more.push(x);
            }
        }
        /// Whether `x` is in.
        pub fn contains(&self, x: usize) -> bool {
            self.iter().any(|y| y == x)
        }
        /// The indices.
        pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
            self.v.iter().take(self.n).copied().chain(self.more.iter().copied())
        }
    }
}

/// The local address a socket reports for `getsockname`.
pub fn any_addr() -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))
}
