//! The socket calls on node sockets, in Rust terms: each takes the lock,
//! works on the state and the socket's app worker, and returns a value or
//! an errno. Blocking calls sleep on the app worker's eventfd (see
//! [`crate::state::sleep`]) and return `EINTR` as the kernel would:
//! always when the socket has a timeout, otherwise unless every installed
//! signal handler asks for SA_RESTART.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dpnode_client::{App, Cc, Endpoint, Error, Proto, SessionId, TransportOptions};

use crate::config;
use crate::real;
use crate::state::{self, errno_of, lock, wrk, Guard, Shared, Sock, St, State, Wrk, R};

/// How long a UDP send waits for the node to open a session to a new peer.
const UDP_CONNECT_WAIT: Duration = Duration::from_secs(5);
/// How long a forked child (or an exec'd program) waits to join its application.
const JOIN_WAIT: Duration = Duration::from_secs(10);
/// The environment variable that tells an exec'd program which of its descriptors are
/// listeners of which application (set by the exec wrappers, read and removed at load).
pub const INHERIT_VAR: &str = "DPNODE_INHERIT";

/// Bumped in a forked child: a thread's cached worker belongs to the parent.
pub static EPOCH: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The calling thread's app worker: (epoch, index, the worker), for [`my_worker`] and
    /// the fast path ([`crate::fast`]), which finds its worker here without the table lock.
    static MY_WORKER: RefCell<Option<(u64, usize, Shared)>> = const { RefCell::new(None) };
}

/// Runs `f` on the calling thread's own app worker, if it has one in this process (its
/// worker lock is not taken here). `None` as well while the thread is exiting.
pub fn with_my_worker<T>(f: impl FnOnce(usize, &Shared) -> Option<T>) -> Option<T> {
    let epoch = EPOCH.load(Ordering::Relaxed);
    MY_WORKER
        .try_with(|c| match &*c.borrow() {
            Some((e, wi, w)) if *e == epoch => f(*wi, w),
            _ => None,
        })
        .ok()
        .flatten()
}

fn set_my_worker(v: Option<(u64, usize, Shared)>) {
    let _ = MY_WORKER.try_with(|c| *c.borrow_mut() = v);
}

/// Attaches (once per process) and returns the calling thread's app worker.
pub fn my_worker(g: &mut State) -> R<usize> {
    let epoch = EPOCH.load(Ordering::Relaxed);
    if let Some(wi) = with_my_worker(|wi, _| Some(wi)).filter(|&wi| wi < g.workers.len()) {
        return Ok(wi);
    }
    if let Some(e) = g.attach_err {
        return Err(e);
    }
    let cfg = config::get();
    let wrk = match &g.app {
        None => {
            for p in &cfg.problems {
                crate::trace::line(p);
            }
            // SAFETY: getpid has no preconditions.
            let pid = unsafe { libc::getpid() };
            let name = cfg.app_name.clone().unwrap_or_else(|| format!("{}-{pid}", config::program_name()));
            // An exec'd program with inherited listeners joins the application they belong to
            // (if it is still there; otherwise it becomes an application of its own).
            let joined = g.inherit.take().and_then(|inh| {
                match App::join(&cfg.api_socket, &name, inh.app, inh.token, JOIN_WAIT) {
                    Ok(x) => Some(x),
                    Err(e) => {
                        crate::info!("cannot join application {:#x} inherited through exec: {e}", inh.app);
                        None
                    }
                }
            });
            let r = match joined {
                Some(x) => {
                    crate::info!("joined application {:#x} inherited through exec", x.0.handle());
                    Ok(x)
                }
                None => App::attach(&cfg.api_socket, &name, &cfg.attach),
            };
            match r {
                Ok((app, w)) => {
                    crate::info!("attached {name:?} to {} (app {:#x})", cfg.api_socket, app.handle());
                    g.app = Some(app);
                    w
                }
                Err(e) => {
                    let errno = match &e {
                        Error::Io(io) => io.raw_os_error().unwrap_or(libc::EIO),
                        _ => libc::ECONNREFUSED,
                    };
                    crate::trace::line(&format!("cannot attach to {}: {e}", cfg.api_socket));
                    g.attach_err = Some(if errno == libc::ENOENT { libc::ECONNREFUSED } else { errno });
                    return Err(libc::ENETDOWN);
                }
            }
        }
        Some(app) => match app.worker_add() {
            Ok(w) => {
                crate::info!("app worker {} for a new thread", w.index());
                w
            }
            Err(e) => {
                crate::trace::line(&format!("cannot add an app worker: {e}"));
                return Err(errno_of(&e));
            }
        },
    };
    let shared = Wrk::shared(wrk);
    g.workers.push(shared.clone());
    let wi = g.workers.len() - 1;
    set_my_worker(Some((epoch, wi, shared)));
    Ok(wi)
}

/// Whether the node could not be reached and the program asked for kernel sockets then.
pub fn fallback(g: &State) -> bool {
    g.attach_err.is_some() && config::get().fallback_kernel
}

/// An AF_INET or AF_INET6 address from the caller's bytes, with its family.
/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) comes out as the IPv4
/// address it maps (the node's sessions are IPv4 then); other families come
/// out as the family and `0.0.0.0:0`.
///
/// # Safety
///
/// `addr` must be NULL or point to `len` readable bytes.
pub unsafe fn sockaddr_ip(addr: *const libc::sockaddr, len: libc::socklen_t) -> R<(i32, SocketAddr)> {
    if addr.is_null() {
        return Err(libc::EFAULT);
    }
    if (len as usize) < std::mem::size_of::<libc::sa_family_t>() {
        return Err(libc::EINVAL);
    }
    // SAFETY: at least the family is readable (checked above).
    let family = i32::from(unsafe { (*addr).sa_family });
    match family {
        libc::AF_INET => {
            if (len as usize) < std::mem::size_of::<libc::sockaddr_in>() {
                return Err(libc::EINVAL);
            }
            // SAFETY: len covers a sockaddr_in; read unaligned, the caller's buffer may be any bytes.
            let sin: libc::sockaddr_in = unsafe { std::ptr::read_unaligned(addr.cast()) };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Ok((family, SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port)))))
        }
        libc::AF_INET6 => {
            // The kernel takes the RFC 2133 size (without the scope id) too.
            const SIN6_LEN_RFC2133: usize = 24;
            if (len as usize) < SIN6_LEN_RFC2133 {
                return Err(libc::EINVAL);
            }
            // SAFETY: a zeroed sockaddr_in6 is valid; at most `len` (>= 24) of the caller's bytes are copied in.
            let sin6: libc::sockaddr_in6 = unsafe {
                let mut v: libc::sockaddr_in6 = std::mem::zeroed();
                let n = (len as usize).min(std::mem::size_of::<libc::sockaddr_in6>());
                std::ptr::copy_nonoverlapping(addr.cast::<u8>(), (&mut v as *mut libc::sockaddr_in6).cast::<u8>(), n);
                v
            };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            let port = u16::from_be(sin6.sin6_port);
            Ok((family, SocketAddr::new(ip.to_canonical(), port)))
        }
        _ => Ok((family, state::any_addr())),
    }
}

/// `a` as a socket of this family shows it to its program: an AF_INET6
/// socket sees IPv4 addresses mapped (`::ffff:a.b.c.d`, and `::` for `0.0.0.0`), as Linux shows them.
pub fn present(a: SocketAddr, v6: bool) -> SocketAddr {
    match a {
        SocketAddr::V4(v4) if v6 => {
            let ip = if v4.ip().is_unspecified() { Ipv6Addr::UNSPECIFIED } else { v4.ip().to_ipv6_mapped() };
            SocketAddr::V6(SocketAddrV6::new(ip, v4.port(), 0, 0))
        }
        a => a,
    }
}

/// Writes `a` (as [`present`] shows it to a socket of family AF_INET6 if `v6`)
/// into the caller's address buffer (truncated to its length, as the kernel does).
///
/// # Safety
///
/// `addr` and `len` must be NULL or valid (`len` readable and writable, `addr` `*len` bytes).
pub unsafe fn put_sockaddr(a: SocketAddr, v6: bool, addr: *mut libc::sockaddr, len: *mut libc::socklen_t) {
    if addr.is_null() || len.is_null() {
        return;
    }
    // SAFETY: both are plain C structs for which zero bytes are valid.
    let (mut sin, mut sin6): (libc::sockaddr_in, libc::sockaddr_in6) = unsafe { std::mem::zeroed() };
    let (src, full) = match present(a, v6) {
        SocketAddr::V4(a) => {
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr { s_addr: u32::from(*a.ip()).to_be() };
            ((&sin as *const libc::sockaddr_in).cast::<u8>(), std::mem::size_of::<libc::sockaddr_in>())
        }
        SocketAddr::V6(a) => {
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr = libc::in6_addr { s6_addr: a.ip().octets() };
            ((&sin6 as *const libc::sockaddr_in6).cast::<u8>(), std::mem::size_of::<libc::sockaddr_in6>())
        }
    };
    // SAFETY: the caller says `len` is valid.
    let room = unsafe { *len } as usize;
    // SAFETY: copies at most `room` bytes into the caller's buffer of `room` bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(src, addr.cast::<u8>(), room.min(full));
        *len = full as libc::socklen_t;
    }
}

/// The wildcard address of a socket of this family (`[::]` takes IPv4 too, unless v6only).
fn any_of(v6: bool) -> SocketAddr {
    if v6 {
        SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)
    } else {
        state::any_addr()
    }
}

/// The "error" of a call on a descriptor that turns out not to be a node socket: hand it to libc.
pub const NOT_NODE: i32 = -2;

fn sock(g: &State, fd: RawFd) -> R<u64> {
    g.sock_of(fd).ok_or(NOT_NODE)
}

/// Runs `f` until it gives something other than EAGAIN (unless `nonblock`),
/// sleeping on the socket's worker in between, until `timeout`.
fn block<T>(
    mut g: Guard,
    id: u64,
    nonblock: bool,
    timeout: Option<Duration>,
    mut f: impl FnMut(&mut State) -> R<T>,
) -> R<T> {
    let until = state::deadline(timeout);
    loop {
        let wi = g.socks.get(&id).ok_or(libc::EBADF)?.wrk;
        g.pump(wi);
        match f(&mut g) {
            Err(libc::EAGAIN) if !nonblock => {}
            r => return r,
        }
        if until.is_some_and(|u| Instant::now() >= u) {
            return Err(libc::EAGAIN);
        }
        let (g2, r) = state::sleep(g, &[wi], &mut Vec::new(), until, state::Mask::NONE);
        g = g2;
        if r == Err(libc::EINTR) && (timeout.is_some() || !state::restart_ok()) {
            return Err(libc::EINTR);
        }
    }
}

/// `socket`: a node socket of the calling thread's worker on placeholder `fd`.
pub fn register_socket(g: &mut State, fd: RawFd, proto: Proto, nonblock: bool, v6: bool) -> R<()> {
    let wi = my_worker(g)?;
    let mut s = Sock::new(wi, proto, nonblock);
    s.v6 = v6;
    g.add_sock(fd, s);
    crate::debug!("socket {fd}: {proto:?} on app worker {wi}");
    Ok(())
}

/// Turns a node socket that never talked to the node back into the plain kernel
/// socket its descriptor already is (loopback addresses go to the kernel).
fn to_kernel(g: &mut State, id: u64) {
    let fds: Vec<RawFd> = g.fds.iter().filter(|(_, &v)| v == id).map(|(&k, _)| k).collect();
    for fd in fds {
        g.remove_fd(fd);
        crate::debug!("socket {fd}: loopback, handed to the kernel");
    }
    g.socks.remove(&id);
}

/// What `bind` and `connect` do with a loopback address: hand the socket to the kernel.
pub enum Outcome<T> {
    /// Done here.
    Node(T),
    /// Call libc: the descriptor is a kernel socket now.
    Kernel,
}

/// `bind` to `addr` of family `family` (as [`sockaddr_ip`] read it).
pub fn bind(fd: RawFd, family: i32, addr: SocketAddr) -> R<Outcome<()>> {
    let mut g = lock();
    let id = sock(&g, fd)?;
    let s = g.socks.get(&id).ok_or(libc::EBADF)?;
    // As Linux: each family binds only its own sockaddr; a v6only socket no IPv4-mapped address.
    if family != if s.v6 { libc::AF_INET6 } else { libc::AF_INET } {
        return Err(libc::EAFNOSUPPORT);
    }
    if s.v6 && s.opts.v6only != 0 && addr.is_ipv4() {
        return Err(libc::EINVAL);
    }
    if s.bound.is_some() || !matches!(&s.st, St::Fresh | St::Udp(_)) {
        return Err(libc::EINVAL);
    }
    if addr.ip().is_loopback() {
        if matches!(&s.st, St::Udp(u) if !u.sessions.is_empty()) {
            return Err(libc::EINVAL);
        }
        to_kernel(&mut g, id);
        return Ok(Outcome::Kernel);
    }
    let (wi, proto) = (s.wrk, s.proto);
    if proto == Proto::Udp && addr.port() != 0 {
        udp_listen(&mut g, id, wi, addr)?;
    }
    if let Some(s) = g.socks.get_mut(&id) {
        s.bound = Some(addr);
    }
    Ok(Outcome::Node(()))
}

fn udp_listen(g: &mut State, id: u64, wi: usize, addr: SocketAddr) -> R<()> {
    let l = match g.orphans.remove(&(wi, addr)) {
        Some(l) => l,
        None => {
            let mut w = wrk(&g.workers, wi).ok_or(libc::EBADF)?;
            w.w.listen(Endpoint { proto: Proto::Udp, ip: addr.ip(), port: addr.port() }).map_err(|e| errno_of(&e))?
        }
    };
    g.by_listener.insert((wi, l.0), id);
    if let Some(Sock { st: St::Udp(u), listen_ep, .. }) = g.socks.get_mut(&id) {
        u.listener = Some(l);
        *listen_ep = Some(addr);
    }
    g.udp_take_sessions(wi, id, l);
    g.mark(id);
    Ok(())
}

/// `listen`.
pub fn listen(fd: RawFd) -> R<()> {
    let mut g = lock();
    let id = sock(&g, fd)?;
    let s = g.socks.get(&id).ok_or(libc::EBADF)?;
    match &s.st {
        St::Listening(_) => return Ok(()),
        St::Dormant(_) => return listener_use(&mut g, id),
        St::Fresh => {}
        St::Udp(_) => return Err(libc::EOPNOTSUPP),
        _ => return Err(libc::EINVAL),
    }
    let wi = s.wrk;
    let bound = s.bound.unwrap_or_else(|| any_of(s.v6));
    let mut w = wrk(&g.workers, wi).ok_or(libc::EBADF)?;
    let (l, ep) = if bound.port() != 0 {
        let l =
            w.w.listen(Endpoint { proto: Proto::Tcp, ip: bound.ip(), port: bound.port() }).map_err(|e| errno_of(&e))?;
        (l, bound)
    } else {
        // Port 0: pick one, as the kernel would, from below the node's ephemeral range.
        // SAFETY: getpid has no preconditions.
        let mut port = 32768 + (unsafe { libc::getpid() } as u32 % 16384) as u16;
        let mut got = None;
        for _ in 0..64 {
            port = if port >= 49151 { 32768 } else { port + 1 };
            match w.w.listen(Endpoint { proto: Proto::Tcp, ip: bound.ip(), port }) {
                Ok(l) => {
                    got = Some(l);
                    break;
                }
                Err(e) if errno_of(&e) == libc::EADDRINUSE => continue,
                Err(e) => return Err(errno_of(&e)),
            }
        }
        (got.ok_or(libc::EADDRINUSE)?, SocketAddr::new(bound.ip(), port))
    };
    drop(w);
    g.by_listener.insert((wi, l.0), id);
    if let Some(s) = g.socks.get_mut(&id) {
        s.st = St::Listening(l);
        s.listen_ep = Some(ep);
    }
    crate::debug!("listen {fd}: {ep}");
    Ok(())
}

/// A listener is used (accepted on, polled): a dormant one (inherited through fork or exec)
/// starts listening with this process's app worker, making the worker that never accepted
/// passive; one this process forked before using makes its worker active again.
pub fn listener_use(g: &mut State, id: u64) -> R<()> {
    let s = g.socks.get_mut(&id).ok_or(libc::EBADF)?;
    match &s.st {
        St::Listening(l) if !s.used => {
            let l = *l;
            s.used = true;
            if std::mem::take(&mut s.maybe_passive) {
                let wi = s.wrk;
                let me = wrk(&g.workers, wi).map(|w| (w.w.handle(), w.w.index()));
                if let (Some(app), Some((handle, index))) = (g.app.as_ref(), me) {
                    // Pins it active: a child that joins later does not push it aside.
                    if let Err(e) = app.listener_passive(l, handle, false) {
                        crate::debug!("listener {:#x}: cannot make app worker {index} active: {e}", l.0);
                    }
                }
            }
            Ok(())
        }
        St::Dormant(d) => {
            let d = (**d).clone();
            my_worker(g)?;
            let wi = g.socks.get(&id).ok_or(libc::EBADF)?.wrk;
            let ep = Endpoint { proto: Proto::Tcp, ip: d.ep.ip(), port: d.ep.port() };
            let mut w = wrk(&g.workers, wi).ok_or(libc::EBADF)?;
            let mut tries = 0;
            let l = loop {
                match w.w.listen(ep) {
                    Ok(l) => break l,
                    // An exec'd program that could not join: the old application lets the port go soon.
                    Err(e) if errno_of(&e) == libc::EADDRINUSE && tries < 20 => {
                        tries += 1;
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    Err(e) => return Err(errno_of(&e)),
                }
            };
            drop(w);
            if let (Some(stop), Some(app)) = (d.stop, g.app.as_ref()) {
                // Gone, or it accepted after all (pinned): either way nothing to do.
                if let Err(e) = app.listener_passive(l, stop, true) {
                    crate::debug!("listener {:#x}: app worker {stop:#x} stays active: {e}", l.0);
                }
            }
            g.by_listener.insert((wi, l.0), id);
            if let Some(s) = g.socks.get_mut(&id) {
                s.st = St::Listening(l);
                s.listen_ep = Some(d.ep);
                s.used = true;
            }
            crate::info!("joined the inherited listener {} (app worker {wi})", d.ep);
            Ok(())
        }
        _ => Ok(()),
    }
}

/// [`listener_use`] for each node listener among `fds`; a failure is the socket's pending error.
pub fn listeners_use(g: &mut State, fds: impl Iterator<Item = RawFd>) {
    for fd in fds {
        let Some(id) = g.sock_of(fd) else { continue };
        if !g
            .socks
            .get(&id)
            .is_some_and(|s| matches!(s.st, St::Dormant(_)) || matches!(s.st, St::Listening(_)) && !s.used)
        {
            continue;
        }
        if let Err(e) = listener_use(g, id) {
            if let Some(s) = g.socks.get_mut(&id) {
                s.err = e;
                s.seq += 1;
            }
            g.mark(id);
        }
    }
}

/// `accept4`: the session and the peer; `new_fd` makes the placeholder for it.
pub fn accept(fd: RawFd, flags: i32, new_fd: impl Fn() -> RawFd) -> R<(RawFd, SocketAddr)> {
    let mut g = lock();
    let id = sock(&g, fd)?;
    listener_use(&mut g, id)?;
    let s = g.socks.get(&id).ok_or(libc::EBADF)?;
    let nonblock = s.nonblock;
    let timeout = s.opts.rcvtimeo;
    block(g, id, nonblock, timeout, |g| {
        let s = g.socks.get(&id).ok_or(libc::EBADF)?;
        let (wi, v6, v6only) = (s.wrk, s.v6, s.v6 && s.opts.v6only != 0);
        let St::Listening(l) = s.st else { return Err(libc::EINVAL) };
        let mut w = wrk(&g.workers, wi).ok_or(libc::EBADF)?;
        let (sess, peer) = loop {
            let Some(sess) = w.w.accept(l).map_err(|e| errno_of(&e))? else { return Err(libc::EAGAIN) };
            let peer = w.w.session(sess).map_or_else(state::any_addr, |i| i.remote);
            // The node's [::] listener takes IPv4 too; a v6only socket does not want it.
            if v6only && peer.is_ipv4() {
                crate::debug!("accept {fd}: IPv4 peer {peer} refused (IPV6_V6ONLY)");
                let _ = w.w.close(sess);
                continue;
            }
            break (sess, peer);
        };
        let nfd = new_fd();
        if nfd < 0 {
            let e = real::errno();
            let _ = w.w.close(sess);
            return Err(e);
        }
        drop(w);
        let mut ns = Sock::new(wi, Proto::Tcp, flags & libc::SOCK_NONBLOCK != 0);
        ns.v6 = v6;
        ns.st = St::Connected(sess);
        let nid = g.add_sock(nfd, ns);
        g.by_session.insert((wi, sess.0), nid);
        g.fast_sync(nid);
        crate::debug!("accept {fd}: {nfd} from {peer}");
        Ok((nfd, peer))
    })
}

fn connect_options(s: &Sock) -> TransportOptions {
    let cc = match s.opts.congestion.as_str() {
        "reno" | "newreno" => Cc::NewReno,
        "cubic" => Cc::Cubic,
        _ => Cc::Default,
    };
    TransportOptions {
        mss: u16::try_from(s.opts.maxseg).ok().filter(|&m| m > 0),
        cc,
        no_delay: s.opts.nodelay != 0,
        keepalive: s.opts.keepalive != 0,
    }
}

/// Whether a socket (AF_INET6 if `v6`) may send to or connect to `to` given as a
/// `family` address, as Linux decides: each family takes its own, and an
/// AF_INET6 UDP socket also takes AF_INET (TCP only IPv4-mapped) unless it is v6only.
fn dest_ok(v6: bool, v6only: bool, proto: Proto, family: i32, to: SocketAddr) -> R<()> {
    match (v6, family) {
        (false, libc::AF_INET) => Ok(()),
        (true, libc::AF_INET6) if v6only && to.is_ipv4() => Err(libc::ENETUNREACH),
        (true, libc::AF_INET6) => Ok(()),
        (true, libc::AF_INET) if proto == Proto::Udp && !v6only => Ok(()),
        _ => Err(libc::EAFNOSUPPORT),
    }
}

/// Whether node socket `fd` may send to `to` given as a `family` address (see [`dest_ok`]).
pub fn dest_check(fd: RawFd, family: i32, to: SocketAddr) -> R<()> {
    let g = lock();
    let id = sock(&g, fd)?;
    let s = g.socks.get(&id).ok_or(libc::EBADF)?;
    dest_ok(s.v6, s.opts.v6only != 0, s.proto, family, to)
}

/// `connect` (AF_UNSPEC dissolves a UDP association).
pub fn connect(fd: RawFd, family: i32, to: SocketAddr) -> R<Outcome<()>> {
    let mut g = lock();
    let id = sock(&g, fd)?;
    let s = g.socks.get_mut(&id).ok_or(libc::EBADF)?;
    if family == libc::AF_UNSPEC {
        if let St::Udp(u) = &mut s.st {
            u.connected = None;
            return Ok(Outcome::Node(()));
        }
    }
    dest_ok(s.v6, s.opts.v6only != 0, s.proto, family, to)?;
    if to.ip().is_loopback() && matches!(&s.st, St::Fresh) {
        to_kernel(&mut g, id);
        return Ok(Outcome::Kernel);
    }
    match &mut s.st {
        St::Udp(u) => {
            if to.ip().is_unspecified() || to.port() == 0 {
                return Err(libc::EINVAL);
            }
            if !u.sessions.contains_key(&to) {
                udp_connect(g, id, to)?;
                g = lock();
            }
            if let Some(Sock { st: St::Udp(u), wrk, listen_ep, .. }) = g.socks.get_mut(&id) {
                u.connected = Some(to);
                // A bound socket that connects to one peer leaves the port's other peers to
                // the next socket bound there (the kernel's connected-socket lookup does the same).
                if let (Some(l), Some(ep)) = (u.listener.take(), listen_ep.take()) {
                    let wi = *wrk;
                    g.by_listener.remove(&(wi, l.0));
                    g.orphans.insert((wi, ep), l);
                }
            }
            g.mark(id);
            return Ok(Outcome::Node(()));
        }
        St::Connecting => return Err(libc::EALREADY),
        St::Connected(_) | St::Closed | St::Elsewhere => return Err(libc::EISCONN),
        St::Listening(_) | St::Dormant(_) => return Err(libc::EISCONN),
        St::Failed | St::Reset if s.err != 0 => return Err(std::mem::take(&mut s.err)),
        St::Fresh | St::Failed | St::Reset => {}
    }
    let opts = connect_options(s);
    let (wi, nonblock, timeout) = (s.wrk, s.nonblock, s.opts.sndtimeo);
    wrk(&g.workers, wi)
        .ok_or(libc::EBADF)?
        .w
        .connect_async(Endpoint { proto: Proto::Tcp, ip: to.ip(), port: to.port() }, opts, id)
        .map_err(|e| errno_of(&e))?;
    if let Some(s) = g.socks.get_mut(&id) {
        s.st = St::Connecting;
    }
    crate::debug!("connect {fd}: to {to}{}", if nonblock { " (non-blocking)" } else { "" });
    if nonblock {
        return Err(libc::EINPROGRESS);
    }
    let r = block(g, id, false, timeout, |g| {
        let s = g.socks.get_mut(&id).ok_or(libc::EBADF)?;
        match s.st {
            St::Connecting => Err(libc::EAGAIN),
            St::Connected(_) => Ok(()),
            _ => Err(std::mem::take(&mut s.err)).and_then(|e| if e == 0 { Err(libc::ECONNREFUSED) } else { Err(e) }),
        }
    });
    match r {
        // A connect with SO_SNDTIMEO that ran out goes on in the background, as the kernel's.
        Err(libc::EAGAIN) => Err(libc::EINPROGRESS),
        r => r.map(Outcome::Node),
    }
}

/// Opens a UDP session of socket `id` to `to` and waits for it.
fn udp_connect(g: Guard, id: u64, to: SocketAddr) -> R<SessionId> {
    let wi = g.socks.get(&id).ok_or(libc::EBADF)?.wrk;
    wrk(&g.workers, wi)
        .ok_or(libc::EBADF)?
        .w
        .connect_async(Endpoint { proto: Proto::Udp, ip: to.ip(), port: to.port() }, TransportOptions::default(), id)
        .map_err(|e| errno_of(&e))?;
    block(g, id, false, Some(UDP_CONNECT_WAIT), |g| {
        let s = g.socks.get_mut(&id).ok_or(libc::EBADF)?;
        if s.err != 0 {
            return Err(std::mem::take(&mut s.err));
        }
        match &s.st {
            St::Udp(u) => u.sessions.get(&to).copied().ok_or(libc::EAGAIN),
            _ => Err(libc::EINVAL),
        }
    })
    .map_err(|e| if e == libc::EAGAIN { libc::ETIMEDOUT } else { e })
}

/// Flags of a receive.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecvFlags {
    /// MSG_PEEK.
    pub peek: bool,
    /// MSG_DONTWAIT.
    pub dontwait: bool,
    /// MSG_WAITALL.
    pub waitall: bool,
    /// MSG_TRUNC: return a datagram's real length.
    pub trunc: bool,
}

impl RecvFlags {
    /// From MSG_* bits.
    pub fn from_bits(f: i32) -> RecvFlags {
        RecvFlags {
            peek: f & libc::MSG_PEEK != 0,
            dontwait: f & libc::MSG_DONTWAIT != 0,
            waitall: f & libc::MSG_WAITALL != 0,
            trunc: f & libc::MSG_TRUNC != 0,
        }
    }
}

/// What a receive got: bytes (or a datagram's length), its source, whether it was truncated.
#[derive(Debug, Clone, Copy)]
pub struct Got {
    /// Bytes copied (or the datagram's length with MSG_TRUNC).
    pub n: usize,
    /// Where from.
    pub from: Option<SocketAddr>,
    /// A datagram longer than the buffer.
    pub truncated: bool,
}

fn recv_once(g: &mut State, id: u64, buf: &mut [u8], f: RecvFlags) -> R<Got> {
    let s = g.socks.get_mut(&id).ok_or(libc::EBADF)?;
    let wi = s.wrk;
    let got = |n, from| Ok(Got { n, from: Some(from), truncated: false });
    match &mut s.st {
        St::Connected(sess) => {
            let sess = *sess;
            if s.shut_rd {
                return Ok(Got { n: 0, from: None, truncated: false });
            }
            let mut w = wrk(&g.workers, wi).ok_or(libc::EBADF)?;
            let r = if f.peek { w.w.peek(sess, buf) } else { w.w.recv_from(sess, buf) };
            match r {
                Ok((n, from)) => got(n, from),
                Err(Error::WouldBlock) => Err(libc::EAGAIN),
                Err(Error::Closed) => Ok(Got { n: 0, from: None, truncated: false }),
                Err(e) => Err(errno_of(&e)),
            }
        }
        St::Reset => {
            if s.err != 0 {
                Err(std::mem::take(&mut s.err))
            } else {
                Ok(Got { n: 0, from: None, truncated: false })
            }
        }
        St::Closed => Ok(Got { n: 0, from: None, truncated: false }),
        St::Connecting => Err(libc::EAGAIN),
        St::Failed if s.err != 0 => Err(std::mem::take(&mut s.err)),
        St::Fresh | St::Listening(_) | St::Failed | St::Dormant(_) | St::Elsewhere => Err(libc::ENOTCONN),
        St::Udp(u) => {
            if s.err != 0 {
                return Err(std::mem::take(&mut s.err));
            }
            let mut w = wrk(&g.workers, wi).ok_or(libc::EBADF)?;
            let pick = match u.connected {
                Some(peer) => u.sessions.get(&peer).copied().filter(|&x| w.w.has_datagram(x)),
                None => {
                    while u.ready.front().is_some_and(|&x| !w.w.has_datagram(x)) {
                        u.ready.pop_front();
                    }
                    u.ready.front().copied().or_else(|| u.sessions.values().copied().find(|&x| w.w.has_datagram(x)))
                }
            };
            let Some(sess) = pick else { return Err(libc::EAGAIN) };
            let len = w.w.rx_pending(sess).unwrap_or(0);
            let r = if f.peek { w.w.peek(sess, buf) } else { w.w.recv_from(sess, buf) };
            match r {
                Ok((n, from)) => {
                    if !f.peek && u.connected.is_none() && !w.w.has_datagram(sess) {
                        u.ready.retain(|&x| x != sess);
                    }
                    Ok(Got { n: if f.trunc { len } else { n }, from: Some(from), truncated: len > buf.len() })
                }
                Err(Error::WouldBlock) => Err(libc::EAGAIN),
                Err(e) => Err(errno_of(&e)),
            }
        }
    }
}

/// `recv`/`recvfrom`/`read` into one buffer.
pub fn recv(fd: RawFd, buf: &mut [u8], f: RecvFlags) -> R<Got> {
    if !f.peek && !f.waitall && !f.trunc {
        if let Some(r) = crate::fast::recv(fd, buf) {
            return r.map(|(n, from)| Got { n, from: Some(from), truncated: false });
        }
    }
    let g = lock();
    let id = sock(&g, fd)?;
    let s = g.socks.get(&id).ok_or(libc::EBADF)?;
    let nonblock = s.nonblock || f.dontwait;
    let (timeout, stream) = (s.opts.rcvtimeo, s.proto == Proto::Tcp);
    if buf.is_empty() && stream {
        return Ok(Got { n: 0, from: None, truncated: false });
    }
    let waitall = f.waitall && stream && !f.peek && !nonblock;
    let mut filled = 0usize;
    let r = block(g, id, nonblock, timeout, |g| {
        let rest = buf.get_mut(filled..).unwrap_or_default();
        match recv_once(g, id, rest, f) {
            Ok(got) if waitall && got.n > 0 && filled + got.n < buf.len() => {
                filled += got.n;
                Err(libc::EAGAIN)
            }
            Ok(mut got) => {
                got.n += filled;
                Ok(got)
            }
            Err(e) if filled > 0 && e != libc::EAGAIN => Ok(Got { n: filled, from: None, truncated: false }),
            Err(e) => Err(e),
        }
    });
    match r {
        Err(libc::EAGAIN | libc::EINTR) if filled > 0 => Ok(Got { n: filled, from: None, truncated: false }),
        r => r,
    }
}

fn write_once(g: &mut State, id: u64, data: &[u8], to: Option<SocketAddr>) -> R<usize> {
    let s = g.socks.get_mut(&id).ok_or(libc::EBADF)?;
    let wi = s.wrk;
    let sess = match &mut s.st {
        St::Connected(sess) => {
            if s.shut_wr {
                return Err(libc::EPIPE);
            }
            *sess
        }
        St::Reset => {
            return Err(if s.err != 0 { std::mem::take(&mut s.err) } else { libc::EPIPE });
        }
        St::Closed => return Err(libc::EPIPE),
        St::Connecting => return Err(libc::EAGAIN),
        St::Failed if s.err != 0 => return Err(std::mem::take(&mut s.err)),
        St::Fresh | St::Failed | St::Listening(_) | St::Dormant(_) | St::Elsewhere => return Err(libc::ENOTCONN),
        St::Udp(u) => {
            let Some(dest) = to.or(u.connected) else { return Err(libc::EDESTADDRREQ) };
            match u.sessions.get(&dest) {
                Some(&x) => x,
                // The caller opens one and tries again.
                None => return Err(-1),
            }
        }
    };
    let mut w = wrk(&g.workers, wi).ok_or(libc::EBADF)?;
    match w.w.write(sess, data) {
        Ok(n) => Ok(n),
        Err(Error::WouldBlock) => Err(libc::EAGAIN),
        Err(Error::Invalid(_)) => Err(libc::EMSGSIZE),
        Err(Error::BadSession) => Err(libc::EPIPE),
        Err(e) => Err(errno_of(&e)),
    }
}

/// `send`/`sendto`/`write` of one buffer.
pub fn send(fd: RawFd, data: &[u8], dontwait: bool, to: Option<SocketAddr>) -> R<usize> {
    if to.is_none() {
        match crate::fast::send(fd, data) {
            Some(Ok(n)) if n == data.len() => return Ok(n),
            // The rest as the call asks: blocking waits for room, non-blocking says EAGAIN
            // (then the part written is the answer).
            Some(Ok(n)) => {
                return Ok(n + send_locked(fd, data.get(n..).unwrap_or_default(), dontwait, None).unwrap_or(0))
            }
            Some(Err(e)) => return Err(e),
            None => {}
        }
    }
    send_locked(fd, data, dontwait, to)
}

fn send_locked(fd: RawFd, data: &[u8], dontwait: bool, to: Option<SocketAddr>) -> R<usize> {
    let mut g = lock();
    let id = sock(&g, fd)?;
    let s = g.socks.get(&id).ok_or(libc::EBADF)?;
    let nonblock = s.nonblock || dontwait;
    let (timeout, proto) = (s.opts.sndtimeo, s.proto);
    if proto == Proto::Tcp && data.is_empty() {
        return Ok(0);
    }
    if let (Proto::Udp, Some(to)) = (proto, to) {
        if to.ip().is_unspecified() || to.port() == 0 {
            return Err(libc::EINVAL);
        }
        let known = matches!(&s.st, St::Udp(u) if u.sessions.contains_key(&to));
        if !known {
            udp_connect(g, id, to)?;
            g = lock();
        }
    }
    let mut sent = 0usize;
    let r = block(g, id, nonblock, timeout, |g| loop {
        let rest = data.get(sent..).unwrap_or_default();
        match write_once(g, id, rest, to) {
            Ok(n) => {
                sent += n;
                if sent >= data.len() || nonblock || proto == Proto::Udp {
                    return Ok(sent);
                }
            }
            Err(libc::EAGAIN) if sent > 0 && nonblock => return Ok(sent),
            Err(-1) => return Err(libc::EDESTADDRREQ),
            Err(e) if sent > 0 && e != libc::EAGAIN => return Ok(sent),
            Err(e) => return Err(e),
        }
    });
    match r {
        Err(libc::EAGAIN | libc::EINTR) if sent > 0 => Ok(sent),
        r => r,
    }
}

/// `close` of a node descriptor: the socket goes with its last descriptor.
pub fn close(g: &mut State, fd: RawFd) {
    let Some(id) = g.remove_fd(fd) else { return };
    let Some(s) = g.socks.get_mut(&id) else { return };
    s.refs = s.refs.saturating_sub(1);
    if s.refs > 0 {
        return;
    }
    release(g, id);
    crate::debug!("close {fd}");
}

/// Lets the node know a socket is gone.
fn release(g: &mut State, id: u64) {
    let Some(s) = g.socks.remove(&id) else { return };
    let wi = s.wrk;
    let Some(mut w) = wrk(&g.workers, wi) else { return };
    w.fast.remove(&id);
    match s.st {
        St::Connected(sess) => {
            g.by_session.remove(&(wi, sess.0));
            let _ = w.w.close(sess);
        }
        St::Listening(l) => {
            g.by_listener.remove(&(wi, l.0));
            // Sessions waiting in its backlog are refused by unlisten.
            let _ = w.w.unlisten(l);
        }
        St::Udp(u) => {
            for sess in u.sessions.values() {
                g.by_session.remove(&(wi, sess.0));
                let _ = w.w.close(*sess);
            }
            if let Some(l) = u.listener {
                g.by_listener.remove(&(wi, l.0));
                let _ = w.w.unlisten(l);
            }
        }
        _ => {}
    }
}

/// `shutdown`.
pub fn shutdown(fd: RawFd, how: i32) -> R<()> {
    let mut g = lock();
    let id = sock(&g, fd)?;
    let s = g.socks.get_mut(&id).ok_or(libc::EBADF)?;
    if !matches!(how, libc::SHUT_RD | libc::SHUT_WR | libc::SHUT_RDWR) {
        return Err(libc::EINVAL);
    }
    match &s.st {
        St::Connected(_) | St::Reset | St::Closed => {}
        St::Udp(u) if u.connected.is_some() => {}
        St::Listening(_) if how != libc::SHUT_WR => {}
        _ => return Err(libc::ENOTCONN),
    }
    let was_shut_wr = s.shut_wr;
    // Readiness changes (an epoll set looks at it again).
    g.mark(id);
    let s = g.socks.get_mut(&id).ok_or(libc::EBADF)?;
    if how != libc::SHUT_WR {
        s.shut_rd = true;
    }
    if how != libc::SHUT_RD {
        s.shut_wr = true;
    }
    s.seq += 1;
    if let (St::Connected(sess), true, false, false) = (&s.st, s.shut_wr, was_shut_wr, s.shut_rd) {
        // Half-close: the peer gets the end of the stream after what was written; reading goes on.
        let (sess, wi) = (*sess, s.wrk);
        g.fast_sync(id);
        if let Some(mut w) = wrk(&g.workers, wi) {
            w.w.shutdown_write(sess).map_err(|e| errno_of(&e))?;
        }
        return Ok(());
    }
    if s.shut_rd && s.shut_wr {
        if let St::Connected(sess) = s.st {
            let wi = s.wrk;
            s.st = St::Closed;
            g.by_session.remove(&(wi, sess.0));
            if let Some(mut w) = wrk(&g.workers, wi) {
                let _ = w.w.close(sess);
            }
        }
    }
    g.fast_sync(id);
    Ok(())
}

/// `getsockname`.
pub fn local_addr(fd: RawFd) -> R<SocketAddr> {
    let g = lock();
    let id = sock(&g, fd)?;
    let s = g.socks.get(&id).ok_or(libc::EBADF)?;
    let w = wrk(&g.workers, s.wrk);
    let w = w.as_deref();
    Ok(match &s.st {
        St::Connected(sess) => w.and_then(|w| w.w.session(*sess)).map(|i| i.local).unwrap_or_else(state::any_addr),
        St::Listening(_) => s.listen_ep.unwrap_or_else(state::any_addr),
        St::Dormant(d) => d.ep,
        St::Udp(u) => match (s.bound, u.connected.and_then(|p| u.sessions.get(&p))) {
            (Some(b), _) if b.port() != 0 => b,
            (_, Some(sess)) => w.and_then(|w| w.w.session(*sess)).map(|i| i.local).unwrap_or_else(state::any_addr),
            _ => s.bound.unwrap_or_else(state::any_addr),
        },
        _ => s.bound.unwrap_or_else(state::any_addr),
    })
}

/// `getpeername`.
pub fn peer_addr(fd: RawFd) -> R<SocketAddr> {
    let g = lock();
    let id = sock(&g, fd)?;
    let s = g.socks.get(&id).ok_or(libc::EBADF)?;
    match &s.st {
        St::Connected(sess) => {
            wrk(&g.workers, s.wrk).and_then(|w| w.w.session(*sess)).map(|i| i.remote).ok_or(libc::ENOTCONN)
        }
        St::Udp(u) => u.connected.ok_or(libc::ENOTCONN),
        _ => Err(libc::ENOTCONN),
    }
}

/// Bytes a read would return now (FIONREAD).
pub fn readable_bytes(fd: RawFd) -> R<usize> {
    let mut g = lock();
    let id = sock(&g, fd)?;
    let wi = g.socks.get(&id).ok_or(libc::EBADF)?.wrk;
    g.pump(wi);
    let s = g.socks.get(&id).ok_or(libc::EBADF)?;
    let w = wrk(&g.workers, wi).ok_or(libc::EBADF)?;
    Ok(match &s.st {
        St::Connected(sess) => w.w.rx_pending(*sess).unwrap_or(0),
        St::Udp(u) => {
            let pick = match u.connected {
                Some(p) => u.sessions.get(&p).copied(),
                None => u.ready.iter().chain(u.sessions.values()).copied().find(|&x| w.w.has_datagram(x)),
            };
            pick.and_then(|x| w.w.rx_pending(x)).unwrap_or(0)
        }
        St::Listening(_) | St::Dormant(_) => return Err(libc::EINVAL),
        _ => 0,
    })
}

/// Sets O_NONBLOCK.
pub fn set_nonblock(fd: RawFd, on: bool) -> R<()> {
    let mut g = lock();
    let id = sock(&g, fd)?;
    g.socks.get_mut(&id).ok_or(libc::EBADF)?.nonblock = on;
    Ok(())
}

/// O_NONBLOCK.
pub fn nonblock(fd: RawFd) -> R<bool> {
    let g = lock();
    let id = sock(&g, fd)?;
    Ok(g.socks.get(&id).ok_or(libc::EBADF)?.nonblock)
}

/// A new descriptor `new` names the socket `fd` names (dup, dup2, F_DUPFD).
pub fn dup_to(g: &mut State, fd: RawFd, new: RawFd) {
    let Some(id) = g.sock_of(fd) else { return };
    if let Some(s) = g.socks.get_mut(&id) {
        s.refs += 1;
    }
    g.add_fd(new, id);
    crate::debug!("dup {fd} -> {new}");
}

/// Before fork, in the parent (the lock held until the fork is done): makes sure there
/// is a share token for the child to join the application with, and notes the
/// listeners not used yet, whose app worker a child may make passive.
pub fn fork_prepare(g: &mut State) {
    let Some(app) = g.app.clone() else { return };
    if g.share_token.is_none() {
        match app.share_token() {
            Ok(t) => g.share_token = Some(t),
            Err(e) => crate::trace::line(&format!("no share token for a forked child (it attaches on its own): {e}")),
        }
    }
    for s in g.socks.values_mut() {
        if matches!(s.st, St::Listening(_)) && !s.used {
            s.maybe_passive = true;
        }
    }
    if g.share_token.is_some() {
        let mut p = [-1; 2];
        // SAFETY: pipe2 writes two descriptors into a live 2-int array.
        if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } == 0 {
            g.fork_sync = Some((p[0], p[1]));
        }
    }
}

/// After fork, in the parent: waits until the child has joined the application (or
/// [`JOIN_WAIT`] passed, or the child died). A parent that exits right after forking
/// (a daemon's first process) would otherwise take the application with it, as its last
/// worker, before the child joins.
pub fn fork_parent(g: &mut State) {
    let Some((r, w)) = g.fork_sync.take() else { return };
    // SAFETY: closing our copy of the pipe's write end; the child holds its own.
    unsafe { real::close(w) };
    let until = Instant::now() + JOIN_WAIT;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let mut p = libc::pollfd { fd: r, events: libc::POLLIN, revents: 0 };
        // SAFETY: one live pollfd.
        let rc = unsafe { real::poll(&mut p, 1, left.as_millis().min(i32::MAX as u128) as i32) };
        if rc >= 0 || real::errno() != libc::EINTR || left.is_zero() {
            break;
        }
    }
    // SAFETY: closing the read end, which only this function uses.
    unsafe { real::close(r) };
}

/// What a socket becomes in a forked child: listeners go dormant (the child joins on first
/// use), fresh sockets stay fresh, anything with a session stays the parent's. `parent`
/// are the parent's app worker handles, by index.
fn inherited(s: &Sock, parent: &[u64]) -> Sock {
    let mut n = Sock::new(0, s.proto, s.nonblock);
    n.v6 = s.v6;
    n.refs = s.refs;
    n.bound = s.bound;
    n.listen_ep = s.listen_ep;
    n.opts = s.opts.clone();
    n.st = match &s.st {
        St::Listening(_) => St::Dormant(Box::new(state::Dormant {
            ep: s.listen_ep.unwrap_or_else(state::any_addr),
            stop: if s.used { None } else { parent.get(s.wrk).copied() },
        })),
        St::Dormant(d) => St::Dormant(d.clone()),
        St::Fresh => St::Fresh,
        St::Udp(u) if u.listener.is_none() && u.sessions.is_empty() => {
            St::Udp(Box::new(state::Udp { connected: u.connected, ..Default::default() }))
        }
        _ => St::Elsewhere,
    };
    n
}

/// After fork, in the child (the lock still held from [`fork_prepare`]): the parent's
/// connection, queues and segments stay the parent's; the child lets go of its copies,
/// joins the application as an app worker of its own (on a connection of its own, so that
/// it works even after the child changes its user), and keeps the sockets it can use.
pub fn after_fork_child(g: &mut State) {
    crate::wake::forget_relay_after_fork();
    let sync = g.fork_sync.take();
    after_fork_join(g);
    if let Some((r, w)) = sync {
        // SAFETY: one byte from a live buffer to our end of the pipe, then both ends closed.
        unsafe {
            real::write(w, b"j".as_ptr().cast(), 1);
            real::close(w);
            real::close(r);
        }
    }
}

fn after_fork_join(g: &mut State) {
    let parent: Vec<u64> = g.workers.iter().map(|w| w.lock().w.handle()).collect();
    let join = g.app.as_ref().map(|a| (a.handle(), a.name().to_string())).zip(g.share_token);
    let socks = std::mem::take(&mut g.socks);
    g.socks = socks.iter().map(|(&id, s)| (id, inherited(s, &parent))).collect();
    g.by_session.clear();
    g.by_listener.clear();
    g.orphans.clear();
    for (ep, _) in g.epolls.drain() {
        State::mark_epoll(ep, false);
    }
    g.watch.clear();
    g.events.clear();
    // Dropping them closes this process's copies of the parent's API socket and eventfds
    // and unmaps its segments; nothing is written to the queues or the socket.
    drop(socks);
    // The thread's own handle on its (the parent's) worker goes too, or its copies would stay open.
    set_my_worker(None);
    drop(std::mem::take(&mut g.workers));
    drop(g.app.take());
    let epoch = EPOCH.fetch_add(1, Ordering::Relaxed) + 1;
    let Some(((app, name), token)) = join else { return };
    let cfg = config::get();
    match App::join(&cfg.api_socket, &name, app, token, JOIN_WAIT) {
        Ok((app, w)) => {
            crate::info!("forked child joined {name:?} as app worker {}", w.index());
            let shared = Wrk::shared(w);
            g.app = Some(app);
            g.workers.push(shared.clone());
            set_my_worker(Some((epoch, 0, shared)));
        }
        Err(e) => crate::trace::line(&format!("forked child cannot join {name:?} (it attaches on its own): {e}")),
    }
}

/// The value of [`INHERIT_VAR`] for an exec (or, `spawn`, for a posix_spawn, after which
/// this process goes on): the application and share token, and each node listener that
/// survives the exec (no FD_CLOEXEC) as `FD@ADDR:PORT@STOP` (STOP: the app worker to make
/// passive when the new program joins, or `-`). `None` if there is none.
pub fn inherit_var(g: &mut State, spawn: bool) -> Option<String> {
    let mut items = Vec::new();
    let mut spawned = Vec::new();
    for (&fd, &id) in &g.fds {
        let Some(s) = g.socks.get(&id) else { continue };
        let (ep, stop) = match &s.st {
            // A spawning process stays: as with fork, the new program takes the accepts of a
            // listener this process has not used.
            St::Listening(_) if spawn && !s.used => {
                (s.listen_ep.unwrap_or_else(state::any_addr), g.workers.get(s.wrk).map(|w| w.lock().w.handle()))
            }
            // This process's own app worker goes with the exec (or keeps accepting).
            St::Listening(_) => (s.listen_ep.unwrap_or_else(state::any_addr), None),
            St::Dormant(d) => (d.ep, d.stop),
            _ => continue,
        };
        // SAFETY: F_GETFD on a descriptor the library tracks; no pointer is passed.
        let fl = unsafe { real::fcntl(fd, libc::F_GETFD, 0) };
        if fl < 0 || fl & libc::FD_CLOEXEC != 0 {
            continue;
        }
        if stop.is_some() && matches!(s.st, St::Listening(_)) {
            spawned.push(id);
        }
        items.push(format!("{fd}@{ep}@{}", stop.map_or_else(|| "-".to_string(), |h| format!("{h:x}"))));
    }
    // Their first use here makes this process's worker active again (see `listener_use`).
    for id in spawned {
        if let Some(s) = g.socks.get_mut(&id) {
            s.maybe_passive = true;
        }
    }
    if items.is_empty() {
        return None;
    }
    let (app, token) = match (&g.app, g.inherit) {
        (Some(app), _) => {
            if g.share_token.is_none() {
                g.share_token = app.share_token().ok();
            }
            (app.handle(), g.share_token?)
        }
        (None, Some(inh)) => (inh.app, inh.token),
        (None, None) => return None,
    };
    items.sort();
    Some(format!("{app:x}:{token:x}:{}", items.join(",")))
}

/// One listener named in [`INHERIT_VAR`]: its descriptor, endpoint and the app worker to make passive.
pub type Inherited = (RawFd, SocketAddr, Option<u64>);

/// Parses an [`INHERIT_VAR`] value: the application, its token, and each listener.
pub fn parse_inherit(v: &str) -> Option<(state::Inherit, Vec<Inherited>)> {
    let mut parts = v.splitn(3, ':');
    let app = u64::from_str_radix(parts.next()?, 16).ok()?;
    let token = u64::from_str_radix(parts.next()?, 16).ok()?;
    let mut out = Vec::new();
    for item in parts.next()?.split(',') {
        let mut f = item.split('@');
        let fd: RawFd = f.next()?.parse().ok()?;
        let ep: SocketAddr = f.next()?.parse().ok()?;
        let stop = match f.next()? {
            "-" => None,
            h => Some(u64::from_str_radix(h, 16).ok()?),
        };
        if fd < 0 || f.next().is_some() {
            return None;
        }
        out.push((fd, ep, stop));
    }
    Some((state::Inherit { app, token }, out))
}

/// At load, in a program started by exec from a preloaded one: takes [`INHERIT_VAR`] out of
/// the environment and makes each descriptor it names, if it is still the unbound TCP
/// placeholder it was, a dormant node listener of the application named there.
pub fn adopt_inherited() {
    let Some(v) = std::env::var_os(INHERIT_VAR) else { return };
    // Not passed on by execs this library does not see (its own wrappers set it afresh).
    std::env::remove_var(INHERIT_VAR);
    let Some((inh, items)) = v.to_str().and_then(parse_inherit) else {
        crate::trace::line(&format!("{INHERIT_VAR}: cannot parse {v:?}"));
        return;
    };
    let mut g = lock();
    let mut n = 0;
    // Descriptors of one listener (dup'ed before the exec) name one socket again.
    let mut by_ep: std::collections::HashMap<SocketAddr, u64> = std::collections::HashMap::new();
    for (fd, ep, stop) in items {
        let Some(v6) = placeholder_family(fd) else { continue };
        if g.sock_of(fd).is_some() {
            continue;
        }
        if let Some(&id) = by_ep.get(&ep) {
            if let Some(s) = g.socks.get_mut(&id) {
                s.refs += 1;
            }
            g.add_fd(fd, id);
            continue;
        }
        // SAFETY: F_GETFL on a descriptor number; no pointer is passed.
        let nonblock = unsafe { real::fcntl(fd, libc::F_GETFL, 0) } & libc::O_NONBLOCK != 0;
        let mut s = Sock::new(0, Proto::Tcp, nonblock);
        s.v6 = v6;
        s.listen_ep = Some(ep);
        s.bound = Some(ep);
        s.st = St::Dormant(Box::new(state::Dormant { ep, stop }));
        by_ep.insert(ep, g.add_sock(fd, s));
        n += 1;
    }
    if n > 0 {
        g.inherit = Some(inh);
        crate::info!("{n} listener(s) of application {:#x} inherited through exec", inh.app);
    }
}

/// Whether `fd` is an unbound AF_INET or AF_INET6 stream socket (what a node socket's
/// placeholder is): `Some(true)` for AF_INET6.
fn placeholder_family(fd: RawFd) -> Option<bool> {
    let int = |name: i32| {
        let mut v: i32 = -1;
        let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
        // SAFETY: an int out-parameter of the right length.
        let rc = unsafe { real::getsockopt(fd, libc::SOL_SOCKET, name, (&mut v as *mut i32).cast(), &mut len) };
        if rc == 0 {
            v
        } else {
            -1
        }
    };
    let v6 = match int(libc::SO_DOMAIN) {
        libc::AF_INET => false,
        libc::AF_INET6 => true,
        _ => return None,
    };
    if int(libc::SO_TYPE) != libc::SOCK_STREAM {
        return None;
    }
    // SAFETY: a zeroed sockaddr_in6 (large enough for either family) is a valid out-parameter of the length given.
    let mut a: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    // SAFETY: as above.
    let rc = unsafe { real::getsockname(fd, (&mut a as *mut libc::sockaddr_in6).cast(), &mut len) };
    // SAFETY: the buffer is a valid sockaddr (zeroed, then filled by the kernel).
    let ip = unsafe { sockaddr_ip((&a as *const libc::sockaddr_in6).cast(), len) };
    (rc == 0 && ip.is_ok_and(|(_, a)| a.port() == 0 && a.ip().is_unspecified())).then_some(v6)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn sockaddr_in6_in_and_out_as_linux_shows_it() {
        // SAFETY: zeroed sockaddr_in6 is valid; the pointers below cover it.
        let mut sin6: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
        sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        sin6.sin6_port = 8080u16.to_be();
        sin6.sin6_addr.s6_addr = "::ffff:198.18.0.1".parse::<Ipv6Addr>().unwrap().octets();
        let p = (&sin6 as *const libc::sockaddr_in6).cast::<libc::sockaddr>();
        let full = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        // SAFETY: `p` points to `full` bytes.
        let (fam, a) = unsafe { sockaddr_ip(p, full) }.unwrap();
        assert_eq!((fam, a), (libc::AF_INET6, "198.18.0.1:8080".parse().unwrap()), "a mapped address is IPv4");
        sin6.sin6_addr.s6_addr = "fd00:198:18::1".parse::<Ipv6Addr>().unwrap().octets();
        let p = (&sin6 as *const libc::sockaddr_in6).cast::<libc::sockaddr>();
        // SAFETY: as above; 24 bytes (no scope id) is what the kernel takes too.
        assert_eq!(unsafe { sockaddr_ip(p, 24) }.unwrap().1, "[fd00:198:18::1]:8080".parse().unwrap());
        // SAFETY: as above, too short.
        assert_eq!(unsafe { sockaddr_ip(p, 20) }, Err(libc::EINVAL));
        // Out: an AF_INET6 socket sees IPv4 mapped, 0.0.0.0 as ::; an AF_INET one sockaddr_in.
        // SAFETY: zeroed storage is a valid out-parameter.
        let mut out: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
        let mut len = full;
        let q = (&mut out as *mut libc::sockaddr_in6).cast::<libc::sockaddr>();
        // SAFETY: `q` has `len` bytes.
        unsafe { put_sockaddr("198.18.0.2:7".parse().unwrap(), true, q, &mut len) };
        assert_eq!((len, i32::from(out.sin6_family), u16::from_be(out.sin6_port)), (full, libc::AF_INET6, 7));
        assert_eq!(Ipv6Addr::from(out.sin6_addr.s6_addr), "::ffff:198.18.0.2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(present(state::any_addr(), true), "[::]:0".parse().unwrap());
        let mut len = full;
        // SAFETY: as above.
        unsafe { put_sockaddr("198.18.0.2:7".parse().unwrap(), false, q, &mut len) };
        assert_eq!(len as usize, std::mem::size_of::<libc::sockaddr_in>());
        // Which family may go where, as Linux decides.
        let v4: SocketAddr = "198.18.0.1:1".parse().unwrap();
        let v6: SocketAddr = "[fd00::1]:1".parse().unwrap();
        assert_eq!(dest_ok(false, false, Proto::Tcp, libc::AF_INET6, v6), Err(libc::EAFNOSUPPORT));
        assert_eq!(dest_ok(true, false, Proto::Tcp, libc::AF_INET6, v4), Ok(()), "mapped");
        assert_eq!(dest_ok(true, true, Proto::Tcp, libc::AF_INET6, v4), Err(libc::ENETUNREACH));
        assert_eq!(dest_ok(true, false, Proto::Tcp, libc::AF_INET, v4), Err(libc::EAFNOSUPPORT));
        assert_eq!(dest_ok(true, false, Proto::Udp, libc::AF_INET, v4), Ok(()));
        assert_eq!(dest_ok(true, true, Proto::Udp, libc::AF_INET, v4), Err(libc::EAFNOSUPPORT));
    }

    #[test]
    fn inherit_var_round_trips_and_refuses_garbage() {
        let (inh, items) = parse_inherit("1a2b:ff:5@0.0.0.0:8080@-,7@198.18.0.2:80@300000004").unwrap();
        assert_eq!((inh.app, inh.token), (0x1a2b, 0xff));
        assert_eq!(items[0], (5, "0.0.0.0:8080".parse().unwrap(), None));
        assert_eq!(items[1], (7, "198.18.0.2:80".parse().unwrap(), Some(0x3_0000_0004)));
        for bad in [
            "",
            "1:2",
            "x:2:5@0.0.0.0:1@-",
            "1:2:5@0.0.0.0@-",
            "1:2:-5@0.0.0.0:1@-",
            "1:2:5@0.0.0.0:1@-@x",
            "1:2:5@1.2.3.4:1@zz",
        ] {
            assert!(parse_inherit(bad).is_none(), "{bad:?}");
        }
    }
}
