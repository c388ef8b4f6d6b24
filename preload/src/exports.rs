//! The interposed C symbols. Each decides in a few instructions whether a
//! descriptor is a node socket (a lock-free bitmap); if not, it calls libc.
//! Node sockets go to [`crate::ops`], [`crate::opts`] and [`crate::poll`].
//!
//! No panic crosses into C: every body runs under `catch_unwind` (a panic
//! becomes `EIO`), and the crate is written not to panic at all, for
//! builds that abort on panic.
//!
//! `fcntl` and `ioctl` are variadic in C; they are defined here with their
//! one optional argument as a fixed `unsigned long` parameter, which on the
//! System V x86-64 and AArch64 ABIs is passed in the same register as the
//! variadic argument.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_uint, c_ulong, c_void, CStr, CString};
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;
use std::time::Duration;

use libc::{
    epoll_event, fd_set, iovec, mmsghdr, msghdr, nfds_t, off_t, pollfd, sigset_t, size_t, sockaddr, socklen_t, ssize_t,
    timespec, timeval,
};
use shm::types::Proto;

use crate::ops::{self, Outcome, RecvFlags, NOT_NODE};
use crate::real::{self, set_errno};
use crate::state::{self, lock, Guard, Mask, R};
use crate::{opts, poll};
use parking_lot::{lock_api::ArcMutexGuard, RawMutex};

fn ffi<T>(fail: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        set_errno(libc::EIO);
        fail
    })
}

fn ret_int(r: R<c_int>) -> c_int {
    r.unwrap_or_else(|e| {
        set_errno(e);
        -1
    })
}

fn ret_size(r: R<usize>) -> ssize_t {
    match r {
        Ok(n) => n as ssize_t,
        Err(e) => {
            set_errno(e);
            -1
        }
    }
}

fn sigpipe(r: &R<usize>, flags: c_int) {
    if *r == Err(libc::EPIPE) && flags & libc::MSG_NOSIGNAL == 0 {
        // SAFETY: raising a signal at ourselves, as the kernel would for this write.
        unsafe { libc::raise(libc::SIGPIPE) };
    }
}

static ATFORK: Once = Once::new();

/// The locks held across a fork: the table lock and every worker lock.
type ForkLocks = (Guard, Vec<ArcMutexGuard<RawMutex, state::Wrk>>);

thread_local! {
    static FORK_GUARD: RefCell<Option<ForkLocks>> = const { RefCell::new(None) };
}

// Around fork every lock is held from prepare until the parent or child handler (the table
// lock, then the worker locks in index order, as everywhere), so the child's copy of the state
// is consistent: no other thread is half-way through a worker's queues or fast table when the
// child is made; the child joins the application in its handler, before the program runs on
// (and perhaps changes its user, as nginx's workers do).
extern "C" fn fork_prepare() {
    let _ = catch_unwind(|| {
        let mut g = lock();
        ops::fork_prepare(&mut g);
        let workers = g.workers.iter().map(|w| w.lock_arc()).collect();
        FORK_GUARD.with(|c| *c.borrow_mut() = Some((g, workers)));
    });
}

extern "C" fn fork_parent() {
    let _ = catch_unwind(|| {
        FORK_GUARD.with(|c| {
            if let Some((mut g, workers)) = c.borrow_mut().take() {
                // Other threads' fast paths go on while the parent waits for the child.
                drop(workers);
                ops::fork_parent(&mut g);
            }
        })
    });
}

extern "C" fn fork_child() {
    let _ = catch_unwind(|| {
        FORK_GUARD.with(|c| {
            if let Some((mut g, workers)) = c.borrow_mut().take() {
                drop(workers);
                ops::after_fork_child(&mut g);
            }
        })
    });
}

fn register_atfork() {
    ATFORK.call_once(|| {
        // SAFETY: the handlers are plain functions valid for the process's life.
        unsafe { libc::pthread_atfork(Some(fork_prepare), Some(fork_parent), Some(fork_child)) };
    });
}

/// At load: the fork handlers, and the listeners an exec'd program inherited.
extern "C" fn init() {
    let _ = catch_unwind(|| {
        register_atfork();
        ops::adopt_inherited();
    });
}

#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = init;

extern "C" {
    static environ: *const *const c_char;
}

/// Runs an exec (or, `spawn`, a posix_spawn) with `envp` plus [`ops::INHERIT_VAR`] naming the
/// node listeners that survive it (or with `envp` as it is when there are none); `plain` is
/// the call without a changed environment.
fn exec_with(
    envp: *const *const c_char,
    spawn: bool,
    plain: impl FnOnce() -> c_int,
    with: impl FnOnce(*const *const c_char) -> c_int,
) -> c_int {
    let var =
        if state::ANY.load(std::sync::atomic::Ordering::Relaxed) { ops::inherit_var(&mut lock(), spawn) } else { None };
    let Some(var) = var.and_then(|v| CString::new(format!("{}={v}", ops::INHERIT_VAR)).ok()) else {
        return plain();
    };
    let prefix = format!("{}=", ops::INHERIT_VAR);
    let mut env: Vec<*const c_char> = Vec::new();
    let mut p = envp;
    while !p.is_null() {
        // SAFETY: C's contract: a NULL-terminated array of C strings.
        let e = unsafe { *p };
        if e.is_null() {
            break;
        }
        // SAFETY: as above.
        if !unsafe { CStr::from_ptr(e) }.to_bytes().starts_with(prefix.as_bytes()) {
            env.push(e);
        }
        // SAFETY: within the array (its terminator not passed yet).
        p = unsafe { p.add(1) };
    }
    env.push(var.as_ptr());
    env.push(std::ptr::null());
    crate::debug!("exec with {}", var.to_string_lossy());
    let rc = with(env.as_ptr());
    // Only reached if the exec failed (or after a spawn).
    let e = real::errno();
    drop(env);
    drop(var);
    set_errno(e);
    rc
}

/// execve(2): node listeners without FD_CLOEXEC are passed to the new program (see [`exec_with`]).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    // SAFETY: forwarding the caller's arguments.
    ffi(-1, || {
        exec_with(envp, false, || unsafe { real::execve(path, argv, envp) }, |e| unsafe { real::execve(path, argv, e) })
    })
}

/// execv(3).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn execv(path: *const c_char, argv: *const *const c_char) -> c_int {
    // SAFETY: forwarding; `environ` is the process's environment.
    ffi(-1, || {
        exec_with(
            unsafe { environ },
            false,
            || unsafe { real::execv(path, argv) },
            |e| unsafe { real::execve(path, argv, e) },
        )
    })
}

/// execvp(3).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int {
    // SAFETY: as above.
    ffi(-1, || {
        exec_with(
            unsafe { environ },
            false,
            || unsafe { real::execvp(file, argv) },
            |e| unsafe { real::execvpe(file, argv, e) },
        )
    })
}

/// execvpe(3).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn execvpe(file: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    // SAFETY: forwarding.
    ffi(-1, || {
        exec_with(
            envp,
            false,
            || unsafe { real::execvpe(file, argv, envp) },
            |e| unsafe { real::execvpe(file, argv, e) },
        )
    })
}

/// fexecve(3).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn fexecve(fd: c_int, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    // SAFETY: forwarding.
    ffi(-1, || {
        exec_with(envp, false, || unsafe { real::fexecve(fd, argv, envp) }, |e| unsafe { real::fexecve(fd, argv, e) })
    })
}

/// posix_spawn(3): glibc's starts the new program with its internal execve, which the
/// library does not see, so the spawn itself passes the node listeners without FD_CLOEXEC
/// (see [`exec_with`]); the spawning process stays, so the new program takes the accepts
/// of a listener it has not used, as a forked child would. File actions are applied after:
/// a listener they close or move is not a node socket in the new program.
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn posix_spawn(
    pid: *mut libc::pid_t,
    path: *const c_char,
    fa: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    // SAFETY: forwarding.
    ffi(libc::EIO, || {
        exec_with(
            envp.cast(),
            true,
            || unsafe { real::posix_spawn(pid, path, fa, attr, argv, envp) },
            |e| unsafe { real::posix_spawn(pid, path, fa, attr, argv, e.cast()) },
        )
    })
}

/// posix_spawnp(3), as [`posix_spawn`].
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn posix_spawnp(
    pid: *mut libc::pid_t,
    file: *const c_char,
    fa: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    // SAFETY: forwarding.
    ffi(libc::EIO, || {
        exec_with(
            envp.cast(),
            true,
            || unsafe { real::posix_spawnp(pid, file, fa, attr, argv, envp) },
            |e| unsafe { real::posix_spawnp(pid, file, fa, attr, argv, e.cast()) },
        )
    })
}

extern "C" {
    // src/variadic.c: execl, execlp, execle collected into an argv for execv, execvp, execve.
    fn dpnode_preload_execl();
    fn dpnode_preload_execlp();
    fn dpnode_preload_execle();
}

/// Exports variadic exec call `$name` as a jump to `$target` in
/// `src/variadic.c`, with the caller's variadic arguments where the caller put
/// them (Rust cannot define a variadic function).
macro_rules! variadic_exec {
    ($(#[$doc:meta])* $name:ident($first:ident) => $target:ident) => {
        $(#[$doc])*
        ///
        /// # Safety
        ///
        /// C's contract.
        #[unsafe(naked)]
        #[no_mangle]
        pub unsafe extern "C" fn $name($first: *const c_char, arg: *const c_char) -> c_int {
            #[cfg(target_arch = "x86_64")]
            core::arch::naked_asm!("jmp {}", sym $target);
            #[cfg(target_arch = "aarch64")]
            core::arch::naked_asm!("b {}", sym $target);
        }
    };
}

variadic_exec!(
    /// execl(3): a jump to `dpnode_preload_execl` in `src/variadic.c`.
    execl(path) => dpnode_preload_execl
);
variadic_exec!(
    /// execlp(3), as [`execl`].
    execlp(file) => dpnode_preload_execlp
);
variadic_exec!(
    /// execle(3), as [`execl`].
    execle(path) => dpnode_preload_execle
);

/// socket(2): AF_INET and AF_INET6 TCP and UDP sockets become node sockets.
#[no_mangle]
pub extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    ffi(-1, || {
        let base = ty & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
        let proto = match (domain, base, protocol) {
            (libc::AF_INET | libc::AF_INET6, libc::SOCK_STREAM, 0 | libc::IPPROTO_TCP) => Proto::Tcp,
            (libc::AF_INET | libc::AF_INET6, libc::SOCK_DGRAM, 0 | libc::IPPROTO_UDP) => Proto::Udp,
            // SAFETY: forwarding the caller's arguments.
            _ => return unsafe { real::socket(domain, ty, protocol) },
        };
        register_atfork();
        let mut g = lock();
        if let Err(e) = ops::my_worker(&mut g) {
            if ops::fallback(&g) {
                drop(g);
                // SAFETY: as above.
                return unsafe { real::socket(domain, ty, protocol) };
            }
            set_errno(e);
            return -1;
        }
        // The placeholder: a kernel socket of the same kind, never bound, so the number is
        // the kernel's own choice and behaves as a socket for close, dup and exec.
        // SAFETY: as above.
        let fd = unsafe { real::socket(domain, ty, protocol) };
        if fd < 0 {
            return -1;
        }
        match ops::register_socket(&mut g, fd, proto, ty & libc::SOCK_NONBLOCK != 0, domain == libc::AF_INET6) {
            Ok(()) => fd,
            Err(e) => {
                drop(g);
                // SAFETY: closing the placeholder we just made.
                unsafe { real::close(fd) };
                set_errno(e);
                -1
            }
        }
    })
}

/// bind(2).
///
/// # Safety
///
/// C's contract: `addr` points to `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn bind(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    ffi(-1, || {
        if state::maybe_node(fd) {
            // SAFETY: the caller's contract.
            let r = unsafe { ops::sockaddr_ip(addr, len) }.and_then(|(fam, a)| ops::bind(fd, fam, a));
            match r {
                Ok(Outcome::Node(())) => return 0,
                Ok(Outcome::Kernel) | Err(NOT_NODE) => {}
                Err(e) => return ret_int(Err(e)),
            }
        }
        // SAFETY: forwarding.
        unsafe { real::bind(fd, addr, len) }
    })
}

/// listen(2).
#[no_mangle]
pub extern "C" fn listen(fd: c_int, backlog: c_int) -> c_int {
    ffi(-1, || {
        if state::maybe_node(fd) {
            match ops::listen(fd) {
                Err(NOT_NODE) => {}
                r => return ret_int(r.map(|()| 0)),
            }
        }
        // SAFETY: forwarding.
        unsafe { real::listen(fd, backlog) }
    })
}

/// accept4(2).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int {
    ffi(-1, || {
        if state::maybe_node(fd) {
            let kind = libc::SOCK_STREAM | (flags & (libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC));
            let v6 = state::is_v6(fd);
            let domain = if v6 { libc::AF_INET6 } else { libc::AF_INET };
            // SAFETY: a new kernel socket as the placeholder of the accepted session.
            let mk = || unsafe { real::socket(domain, kind, 0) };
            match ops::accept(fd, flags, mk) {
                Err(NOT_NODE) => {}
                Ok((nfd, peer)) => {
                    // SAFETY: the caller's buffers.
                    unsafe { ops::put_sockaddr(peer, v6, addr, len) };
                    return nfd;
                }
                Err(e) => return ret_int(Err(e)),
            }
        }
        // SAFETY: forwarding.
        unsafe { real::accept4(fd, addr, len, flags) }
    })
}

/// accept(2).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    // SAFETY: forwarded.
    unsafe { accept4(fd, addr, len, 0) }
}

/// connect(2).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    ffi(-1, || {
        if state::maybe_node(fd) {
            // SAFETY: the caller's contract.
            let r = unsafe { ops::sockaddr_ip(addr, len) }.and_then(|(fam, a)| ops::connect(fd, fam, a));
            match r {
                Ok(Outcome::Node(())) => return 0,
                Ok(Outcome::Kernel) | Err(NOT_NODE) => {}
                Err(e) => return ret_int(Err(e)),
            }
        }
        // SAFETY: forwarding.
        unsafe { real::connect(fd, addr, len) }
    })
}

/// Receives into one buffer; `None` if `fd` is not a node socket.
fn recv_into(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int) -> Option<R<ops::Got>> {
    if !state::maybe_node(fd) {
        return None;
    }
    if buf.is_null() && n > 0 {
        return Some(Err(libc::EFAULT));
    }
    let slice: &mut [u8] = if n == 0 {
        &mut []
    } else {
        // SAFETY: C's contract: `buf` has `n` writable bytes.
        unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), n) }
    };
    match ops::recv(fd, slice, RecvFlags::from_bits(flags)) {
        Err(NOT_NODE) => None,
        r => Some(r),
    }
}

fn send_from(fd: c_int, buf: *const c_void, n: size_t, flags: c_int, to: Option<SocketAddr>) -> Option<R<usize>> {
    if !state::maybe_node(fd) {
        return None;
    }
    if buf.is_null() && n > 0 {
        return Some(Err(libc::EFAULT));
    }
    let slice: &[u8] = if n == 0 {
        &[]
    } else {
        // SAFETY: C's contract: `buf` has `n` readable bytes.
        unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), n) }
    };
    match ops::send(fd, slice, flags & libc::MSG_DONTWAIT != 0, to) {
        Err(NOT_NODE) => None,
        r => {
            sigpipe(&r, flags);
            Some(r)
        }
    }
}

/// read(2).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t {
    ffi(-1, || match recv_into(fd, buf, n, 0) {
        Some(r) => ret_size(r.map(|g| g.n)),
        // SAFETY: forwarding.
        None => unsafe { real::read(fd, buf, n) },
    })
}

/// __read_chk (fortified read).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn __read_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t) -> ssize_t {
    if n > buflen || !state::maybe_node(fd) {
        // SAFETY: forwarding (libc reports the overflow).
        return unsafe { real::__read_chk(fd, buf, n, buflen) };
    }
    // SAFETY: forwarded.
    unsafe { read(fd, buf, n) }
}

/// write(2).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t {
    ffi(-1, || match send_from(fd, buf, n, 0, None) {
        Some(r) => ret_size(r),
        // SAFETY: forwarding.
        None => unsafe { real::write(fd, buf, n) },
    })
}

/// recv(2).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int) -> ssize_t {
    ffi(-1, || match recv_into(fd, buf, n, flags) {
        Some(r) => ret_size(r.map(|g| g.n)),
        // SAFETY: forwarding.
        None => unsafe { real::recv(fd, buf, n, flags) },
    })
}

/// __recv_chk.
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn __recv_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t, flags: c_int) -> ssize_t {
    if n > buflen || !state::maybe_node(fd) {
        // SAFETY: forwarding.
        return unsafe { real::__recv_chk(fd, buf, n, buflen, flags) };
    }
    // SAFETY: forwarded.
    unsafe { recv(fd, buf, n, flags) }
}

/// send(2).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn send(fd: c_int, buf: *const c_void, n: size_t, flags: c_int) -> ssize_t {
    ffi(-1, || match send_from(fd, buf, n, flags, None) {
        Some(r) => ret_size(r),
        // SAFETY: forwarding.
        None => unsafe { real::send(fd, buf, n, flags) },
    })
}

/// recvfrom(2).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> ssize_t {
    ffi(-1, || match recv_into(fd, buf, n, flags) {
        Some(Ok(g)) => {
            if let Some(from) = g.from {
                // SAFETY: the caller's buffers.
                unsafe { ops::put_sockaddr(from, state::is_v6(fd), addr, len) };
            }
            g.n as ssize_t
        }
        Some(Err(e)) => ret_size(Err(e)),
        // SAFETY: forwarding.
        None => unsafe { real::recvfrom(fd, buf, n, flags, addr, len) },
    })
}

/// __recvfrom_chk.
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn __recvfrom_chk(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    buflen: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> ssize_t {
    if n > buflen || !state::maybe_node(fd) {
        // SAFETY: forwarding.
        return unsafe { real::__recvfrom_chk(fd, buf, n, buflen, flags, addr, len) };
    }
    // SAFETY: forwarded.
    unsafe { recvfrom(fd, buf, n, flags, addr, len) }
}

/// The destination of a sendto/sendmsg, if given.
///
/// # Safety
///
/// `addr` NULL or `len` readable bytes.
unsafe fn dest(fd: c_int, addr: *const sockaddr, len: socklen_t) -> R<Option<SocketAddr>> {
    if addr.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded.
    let (family, a) = unsafe { ops::sockaddr_ip(addr, len) }?;
    match ops::dest_check(fd, family, a) {
        // Not a node socket after all: the caller hands the call to libc.
        Ok(()) | Err(NOT_NODE) => Ok(Some(a)),
        Err(e) => Err(e),
    }
}

/// sendto(2).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    n: size_t,
    flags: c_int,
    addr: *const sockaddr,
    len: socklen_t,
) -> ssize_t {
    ffi(-1, || {
        if state::maybe_node(fd) {
            // SAFETY: the caller's contract.
            let to = match unsafe { dest(fd, addr, len) } {
                Ok(t) => t,
                Err(e) => return ret_size(Err(e)),
            };
            if let Some(r) = send_from(fd, buf, n, flags, to) {
                return ret_size(r);
            }
        }
        // SAFETY: forwarding.
        unsafe { real::sendto(fd, buf, n, flags, addr, len) }
    })
}

/// The iovecs of a readv/writev/recvmsg/sendmsg as slices.
///
/// # Safety
///
/// `iov` points to `n` iovecs describing valid buffers.
unsafe fn iovs<'a>(iov: *const iovec, n: usize) -> R<&'a [iovec]> {
    if n == 0 {
        return Ok(&[]);
    }
    if iov.is_null() || n > libc::UIO_MAXIOV as usize {
        return Err(libc::EINVAL);
    }
    // SAFETY: the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(iov, n) })
}

use state::is_udp;

/// Receives into several buffers (a datagram lands whole in the first ones).
fn recv_vec(fd: c_int, v: &[iovec], flags: c_int) -> Option<R<ops::Got>> {
    if v.len() == 1 || is_udp(fd) && v.len() <= 1 {
        let first = v.first()?;
        return recv_into(fd, first.iov_base, first.iov_len, flags);
    }
    if is_udp(fd) {
        let total: usize = v.iter().map(|i| i.iov_len).sum();
        let mut tmp = vec![0u8; total.min(1 << 17)];
        let r = recv_into(fd, tmp.as_mut_ptr().cast(), tmp.len(), flags)?;
        if let Ok(g) = &r {
            let mut off = 0;
            for i in v {
                let n = i.iov_len.min(g.n.min(tmp.len()).saturating_sub(off));
                if n == 0 {
                    break;
                }
                // SAFETY: the caller's buffer has iov_len bytes; we copy n <= iov_len.
                unsafe { std::ptr::copy_nonoverlapping(tmp.as_ptr().add(off), i.iov_base.cast::<u8>(), n) };
                off += n;
            }
        }
        return Some(r);
    }
    // A stream: the first buffer as the call asks, the rest with what is there.
    let mut total = ops::Got { n: 0, from: None, truncated: false };
    for (k, i) in v.iter().enumerate() {
        if i.iov_len == 0 {
            continue;
        }
        let f = if k == 0 || total.n == 0 { flags } else { flags | libc::MSG_DONTWAIT };
        match recv_into(fd, i.iov_base, i.iov_len, f)? {
            Ok(g) => {
                total.n += g.n;
                total.from = g.from;
                if g.n < i.iov_len {
                    break;
                }
            }
            Err(e) if total.n == 0 => return Some(Err(e)),
            Err(_) => break,
        }
        if flags & libc::MSG_PEEK != 0 {
            break;
        }
    }
    Some(Ok(total))
}

fn send_vec(fd: c_int, v: &[iovec], flags: c_int, to: Option<SocketAddr>) -> Option<R<usize>> {
    if v.len() == 1 {
        let first = v.first()?;
        return send_from(fd, first.iov_base, first.iov_len, flags, to);
    }
    if is_udp(fd) || v.is_empty() {
        let mut tmp = Vec::with_capacity(v.iter().map(|i| i.iov_len).sum());
        for i in v {
            if i.iov_len > 0 {
                // SAFETY: the caller's buffer of iov_len bytes.
                tmp.extend_from_slice(unsafe { std::slice::from_raw_parts(i.iov_base.cast::<u8>(), i.iov_len) });
            }
        }
        return send_from(fd, tmp.as_ptr().cast(), tmp.len(), flags, to);
    }
    let mut total = 0usize;
    for i in v {
        if i.iov_len == 0 {
            continue;
        }
        match send_from(fd, i.iov_base, i.iov_len, flags, to)? {
            Ok(n) => {
                total += n;
                if n < i.iov_len {
                    break;
                }
            }
            Err(e) if total == 0 => return Some(Err(e)),
            Err(_) => break,
        }
    }
    Some(Ok(total))
}

/// readv(2).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn readv(fd: c_int, iov: *const iovec, n: c_int) -> ssize_t {
    ffi(-1, || {
        if state::maybe_node(fd) {
            // SAFETY: the caller's contract.
            match unsafe { iovs(iov, n.max(0) as usize) } {
                Err(e) => return ret_size(Err(e)),
                Ok(v) => {
                    if let Some(r) = recv_vec(fd, v, 0) {
                        return ret_size(r.map(|g| g.n));
                    }
                }
            }
        }
        // SAFETY: forwarding.
        unsafe { real::readv(fd, iov, n) }
    })
}

/// writev(2).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const iovec, n: c_int) -> ssize_t {
    ffi(-1, || {
        if state::maybe_node(fd) {
            // SAFETY: the caller's contract.
            match unsafe { iovs(iov, n.max(0) as usize) } {
                Err(e) => return ret_size(Err(e)),
                Ok(v) => {
                    if let Some(r) = send_vec(fd, v, 0, None) {
                        return ret_size(r);
                    }
                }
            }
        }
        // SAFETY: forwarding.
        unsafe { real::writev(fd, iov, n) }
    })
}

/// recvmsg on a node socket.
///
/// # Safety
///
/// `msg` valid.
unsafe fn recvmsg_node(fd: c_int, msg: *mut msghdr, flags: c_int) -> Option<R<usize>> {
    if msg.is_null() {
        return Some(Err(libc::EFAULT));
    }
    // SAFETY: the caller's contract.
    let m = unsafe { &mut *msg };
    // SAFETY: as above.
    let v = match unsafe { iovs(m.msg_iov, m.msg_iovlen) } {
        Ok(v) => v,
        Err(e) => return Some(Err(e)),
    };
    let r = recv_vec(fd, v, flags)?;
    Some(r.map(|g| {
        m.msg_controllen = 0;
        m.msg_flags = if g.truncated { libc::MSG_TRUNC } else { 0 };
        if !m.msg_name.is_null() {
            match g.from {
                Some(from) => {
                    let mut len = m.msg_namelen;
                    // SAFETY: msg_name has msg_namelen bytes.
                    unsafe { ops::put_sockaddr(from, state::is_v6(fd), m.msg_name.cast(), &mut len) };
                    m.msg_namelen = len;
                }
                None => m.msg_namelen = 0,
            }
        }
        g.n
    }))
}

/// recvmsg(2).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    ffi(-1, || {
        if state::maybe_node(fd) {
            // SAFETY: the caller's contract.
            if let Some(r) = unsafe { recvmsg_node(fd, msg, flags) } {
                return ret_size(r);
            }
        }
        // SAFETY: forwarding.
        unsafe { real::recvmsg(fd, msg, flags) }
    })
}

/// sendmsg on a node socket.
///
/// # Safety
///
/// `msg` valid.
unsafe fn sendmsg_node(fd: c_int, msg: *const msghdr, flags: c_int) -> Option<R<usize>> {
    if msg.is_null() {
        return Some(Err(libc::EFAULT));
    }
    // SAFETY: the caller's contract.
    let m = unsafe { &*msg };
    // SAFETY: as above.
    let to = match unsafe { dest(fd, m.msg_name.cast(), m.msg_namelen) } {
        Ok(t) => t,
        Err(e) => return Some(Err(e)),
    };
    // SAFETY: as above.
    let v = match unsafe { iovs(m.msg_iov, m.msg_iovlen) } {
        Ok(v) => v,
        Err(e) => return Some(Err(e)),
    };
    send_vec(fd, v, flags, to)
}

/// sendmsg(2).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    ffi(-1, || {
        if state::maybe_node(fd) {
            // SAFETY: the caller's contract.
            if let Some(r) = unsafe { sendmsg_node(fd, msg, flags) } {
                return ret_size(r);
            }
        }
        // SAFETY: forwarding.
        unsafe { real::sendmsg(fd, msg, flags) }
    })
}

/// recvmmsg(2).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn recvmmsg(fd: c_int, msgs: *mut mmsghdr, n: c_uint, flags: c_int, t: *mut timespec) -> c_int {
    ffi(-1, || {
        if state::maybe_node(fd) && !msgs.is_null() {
            let mut done = 0;
            for k in 0..n as usize {
                let f = if k == 0 { flags & !libc::MSG_WAITFORONE } else { flags | libc::MSG_DONTWAIT };
                // SAFETY: the caller's array of n messages.
                let m = unsafe { &mut *msgs.add(k) };
                // SAFETY: as above.
                match unsafe { recvmsg_node(fd, &mut m.msg_hdr, f) } {
                    None if k == 0 => {
                        // SAFETY: forwarding.
                        return unsafe { real::recvmmsg(fd, msgs, n, flags, t) };
                    }
                    None => break,
                    Some(Ok(len)) => {
                        m.msg_len = len as c_uint;
                        done += 1;
                    }
                    Some(Err(e)) if k == 0 => return ret_int(Err(e)),
                    Some(Err(_)) => break,
                }
            }
            return done;
        }
        // SAFETY: forwarding.
        unsafe { real::recvmmsg(fd, msgs, n, flags, t) }
    })
}

/// sendmmsg(2).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn sendmmsg(fd: c_int, msgs: *mut mmsghdr, n: c_uint, flags: c_int) -> c_int {
    ffi(-1, || {
        if state::maybe_node(fd) && !msgs.is_null() {
            let mut done = 0;
            for k in 0..n as usize {
                // SAFETY: the caller's array.
                let m = unsafe { &mut *msgs.add(k) };
                // SAFETY: as above.
                match unsafe { sendmsg_node(fd, &m.msg_hdr, flags) } {
                    None if k == 0 => {
                        // SAFETY: forwarding.
                        return unsafe { real::sendmmsg(fd, msgs, n, flags) };
                    }
                    None => break,
                    Some(Ok(len)) => {
                        m.msg_len = len as c_uint;
                        done += 1;
                    }
                    Some(Err(e)) if k == 0 => return ret_int(Err(e)),
                    Some(Err(_)) => break,
                }
            }
            return done;
        }
        // SAFETY: forwarding.
        unsafe { real::sendmmsg(fd, msgs, n, flags) }
    })
}

/// sendfile to a node socket: read the file, write the session.
///
/// # Safety
///
/// `off` NULL or valid.
unsafe fn sendfile_node(out: c_int, inp: c_int, off: *mut off_t, count: size_t) -> Option<R<usize>> {
    let mut buf = [0u8; 1 << 16];
    let mut total = 0usize;
    // SAFETY: the caller's contract.
    let mut pos = if off.is_null() { None } else { Some(unsafe { *off }) };
    while total < count {
        let want = (count - total).min(buf.len());
        let got = match pos {
            // SAFETY: a live buffer of `want` bytes.
            Some(p) => unsafe { real::pread(inp, buf.as_mut_ptr().cast(), want, p) },
            // SAFETY: as above.
            None => unsafe { real::read(inp, buf.as_mut_ptr().cast(), want) },
        };
        if got < 0 {
            let e = real::errno();
            return Some(if total > 0 { Ok(total) } else { Err(e) });
        }
        if got == 0 {
            break;
        }
        let got = got as usize;
        let r = send_from(out, buf.as_ptr().cast(), got, libc::MSG_NOSIGNAL, None)?;
        let sent = match r {
            Ok(n) => n,
            Err(e) => {
                if pos.is_none() {
                    // SAFETY: rewinding what was read and not sent.
                    unsafe { real::lseek(inp, -(got as off_t), libc::SEEK_CUR) };
                }
                if e == libc::EPIPE {
                    // SAFETY: the signal the kernel's sendfile would raise.
                    unsafe { libc::raise(libc::SIGPIPE) };
                }
                return Some(if total > 0 { Ok(total) } else { Err(e) });
            }
        };
        total += sent;
        if let Some(p) = pos.as_mut() {
            *p += sent as off_t;
        }
        if sent < got {
            if pos.is_none() {
                // SAFETY: as above.
                unsafe { real::lseek(inp, -((got - sent) as off_t), libc::SEEK_CUR) };
            }
            break;
        }
    }
    if let (Some(p), false) = (pos, off.is_null()) {
        // SAFETY: the caller's contract.
        unsafe { *off = p };
    }
    Some(Ok(total))
}

/// sendfile(2).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn sendfile(out: c_int, inp: c_int, off: *mut off_t, count: size_t) -> ssize_t {
    ffi(-1, || {
        if state::maybe_node(inp) && lock().sock_of(inp).is_some() {
            return ret_size(Err(libc::EINVAL));
        }
        if state::maybe_node(out) {
            // SAFETY: the caller's contract.
            if let Some(r) = unsafe { sendfile_node(out, inp, off, count) } {
                return ret_size(r);
            }
        }
        // SAFETY: forwarding.
        unsafe { real::sendfile(out, inp, off, count) }
    })
}

/// sendfile64.
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn sendfile64(out: c_int, inp: c_int, off: *mut off_t, count: size_t) -> ssize_t {
    // SAFETY: off_t is 64-bit on the platforms this builds for.
    unsafe { sendfile(out, inp, off, count) }
}

/// close(2).
#[no_mangle]
pub extern "C" fn close(fd: c_int) -> c_int {
    ffi(-1, || {
        if state::maybe_epoll(fd) {
            let mut g = lock();
            poll::epoll_close(&mut g, fd);
        }
        if state::maybe_node(fd) {
            let mut g = lock();
            ops::close(&mut g, fd);
        }
        // SAFETY: forwarding.
        unsafe { real::close(fd) }
    })
}

/// shutdown(2).
#[no_mangle]
pub extern "C" fn shutdown(fd: c_int, how: c_int) -> c_int {
    ffi(-1, || {
        if state::maybe_node(fd) {
            match ops::shutdown(fd, how) {
                Err(NOT_NODE) => {}
                r => return ret_int(r.map(|()| 0)),
            }
        }
        // SAFETY: forwarding.
        unsafe { real::shutdown(fd, how) }
    })
}

/// getsockname(2).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn getsockname(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    ffi(-1, || {
        if state::maybe_node(fd) {
            match ops::local_addr(fd) {
                Err(NOT_NODE) => {}
                Ok(a) if addr.is_null() || len.is_null() => {
                    let _ = a;
                    return ret_int(Err(libc::EFAULT));
                }
                Ok(a) => {
                    // SAFETY: the caller's buffers.
                    unsafe { ops::put_sockaddr(a, state::is_v6(fd), addr, len) };
                    return 0;
                }
                Err(e) => return ret_int(Err(e)),
            }
        }
        // SAFETY: forwarding.
        unsafe { real::getsockname(fd, addr, len) }
    })
}

/// getpeername(2).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn getpeername(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    ffi(-1, || {
        if state::maybe_node(fd) {
            match ops::peer_addr(fd) {
                Err(NOT_NODE) => {}
                Ok(_) if addr.is_null() || len.is_null() => return ret_int(Err(libc::EFAULT)),
                Ok(a) => {
                    // SAFETY: the caller's buffers.
                    unsafe { ops::put_sockaddr(a, state::is_v6(fd), addr, len) };
                    return 0;
                }
                Err(e) => return ret_int(Err(e)),
            }
        }
        // SAFETY: forwarding.
        unsafe { real::getpeername(fd, addr, len) }
    })
}

/// getsockopt(2).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    ffi(-1, || {
        if state::maybe_node(fd) {
            if val.is_null() || len.is_null() {
                return ret_int(Err(libc::EFAULT));
            }
            // SAFETY: the caller's buffers: `len` readable, `val` `*len` bytes.
            let out = unsafe { std::slice::from_raw_parts_mut(val.cast::<u8>(), *len as usize) };
            match opts::get(fd, level, name, out) {
                Err(NOT_NODE) => {}
                Ok(n) => {
                    // SAFETY: as above.
                    unsafe { *len = n as socklen_t };
                    return 0;
                }
                Err(e) => return ret_int(Err(e)),
            }
        }
        // SAFETY: forwarding.
        unsafe { real::getsockopt(fd, level, name, val, len) }
    })
}

/// setsockopt(2).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn setsockopt(fd: c_int, level: c_int, name: c_int, val: *const c_void, len: socklen_t) -> c_int {
    ffi(-1, || {
        if state::maybe_node(fd) {
            if val.is_null() && len > 0 {
                return ret_int(Err(libc::EFAULT));
            }
            let v: &[u8] = if len == 0 {
                &[]
            } else {
                // SAFETY: the caller's buffer of `len` bytes.
                unsafe { std::slice::from_raw_parts(val.cast::<u8>(), len as usize) }
            };
            match opts::set(fd, level, name, v) {
                Err(NOT_NODE) => {}
                r => return ret_int(r.map(|()| 0)),
            }
        }
        // SAFETY: forwarding.
        unsafe { real::setsockopt(fd, level, name, val, len) }
    })
}

fn fcntl_node(fd: c_int, cmd: c_int, arg: c_ulong) -> Option<c_int> {
    match cmd {
        libc::F_GETFL => {
            let nb = ops::nonblock(fd).ok()?;
            // SAFETY: plain fcntl on the placeholder.
            let fl = unsafe { real::fcntl(fd, cmd, 0) };
            if fl < 0 {
                return Some(fl);
            }
            Some(if nb { fl | libc::O_NONBLOCK } else { fl & !libc::O_NONBLOCK })
        }
        libc::F_SETFL => {
            ops::set_nonblock(fd, arg as c_int & libc::O_NONBLOCK != 0).ok()?;
            // SAFETY: as above; the placeholder mirrors the flag.
            Some(unsafe { real::fcntl(fd, cmd, arg) })
        }
        libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => {
            let mut g = lock();
            g.sock_of(fd)?;
            // SAFETY: as above.
            let nfd = unsafe { real::fcntl(fd, cmd, arg) };
            if nfd >= 0 {
                ops::dup_to(&mut g, fd, nfd);
            }
            Some(nfd)
        }
        _ => None,
    }
}

/// fcntl(2) (see the module doc for the variadic argument).
#[no_mangle]
pub extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    ffi(-1, || {
        if state::maybe_node(fd) {
            if let Some(r) = fcntl_node(fd, cmd, arg) {
                return r;
            }
        }
        // SAFETY: forwarding.
        unsafe { real::fcntl(fd, cmd, arg) }
    })
}

/// fcntl64 (what `_FILE_OFFSET_BITS=64` programs call).
#[no_mangle]
pub extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    fcntl(fd, cmd, arg)
}

/// ioctl(2) (see the module doc).
#[no_mangle]
pub extern "C" fn ioctl(fd: c_int, req: c_ulong, arg: c_ulong) -> c_int {
    ffi(-1, || {
        if state::maybe_node(fd) && arg != 0 {
            let p = arg as *mut c_int;
            match req {
                libc::FIONBIO => {
                    // SAFETY: FIONBIO's argument is an int pointer.
                    let on = unsafe { *p } != 0;
                    match ops::set_nonblock(fd, on) {
                        Err(NOT_NODE) => {}
                        r => return ret_int(r.map(|()| 0)),
                    }
                }
                libc::FIONREAD => match ops::readable_bytes(fd) {
                    Err(NOT_NODE) => {}
                    Ok(n) => {
                        // SAFETY: FIONREAD's argument is an int pointer.
                        unsafe { *p = n.min(i32::MAX as usize) as c_int };
                        return 0;
                    }
                    Err(e) => return ret_int(Err(e)),
                },
                _ => {}
            }
        }
        // SAFETY: forwarding.
        unsafe { real::ioctl(fd, req, arg) }
    })
}

/// dup(2).
#[no_mangle]
pub extern "C" fn dup(fd: c_int) -> c_int {
    ffi(-1, || {
        if state::maybe_node(fd) {
            let mut g = lock();
            if g.sock_of(fd).is_some() {
                // SAFETY: plain dup of the placeholder.
                let nfd = unsafe { real::dup(fd) };
                if nfd >= 0 {
                    ops::dup_to(&mut g, fd, nfd);
                }
                return nfd;
            }
        }
        // SAFETY: forwarding.
        unsafe { real::dup(fd) }
    })
}

fn dup3_impl(fd: c_int, to: c_int, flags: c_int, is_dup2: bool) -> c_int {
    if !state::maybe_node(fd) && !state::maybe_node(to) {
        // SAFETY: forwarding.
        return unsafe {
            if is_dup2 {
                real::dup2(fd, to)
            } else {
                real::dup3(fd, to, flags)
            }
        };
    }
    let mut g = lock();
    if fd == to {
        // SAFETY: forwarding (dup2 checks fd; dup3 refuses).
        return unsafe {
            if is_dup2 {
                real::dup2(fd, to)
            } else {
                real::dup3(fd, to, flags)
            }
        };
    }
    // SAFETY: forwarding.
    let r = unsafe {
        if is_dup2 {
            real::dup2(fd, to)
        } else {
            real::dup3(fd, to, flags)
        }
    };
    if r >= 0 {
        // `to` was closed by the call: forget what it named, then make it name `fd`'s socket.
        ops::close(&mut g, to);
        if state::maybe_epoll(to) {
            poll::epoll_close(&mut g, to);
        }
        ops::dup_to(&mut g, fd, r);
    }
    r
}

/// dup2(2).
#[no_mangle]
pub extern "C" fn dup2(fd: c_int, to: c_int) -> c_int {
    ffi(-1, || dup3_impl(fd, to, 0, true))
}

/// dup3(2).
#[no_mangle]
pub extern "C" fn dup3(fd: c_int, to: c_int, flags: c_int) -> c_int {
    ffi(-1, || dup3_impl(fd, to, flags, false))
}

fn ms(timeout: c_int) -> Option<Duration> {
    (timeout >= 0).then(|| Duration::from_millis(timeout as u64))
}

fn ts(t: *const timespec) -> R<Option<Duration>> {
    if t.is_null() {
        return Ok(None);
    }
    // SAFETY: the caller's timespec.
    let t = unsafe { *t };
    if t.tv_sec < 0 || !(0..1_000_000_000).contains(&t.tv_nsec) {
        return Err(libc::EINVAL);
    }
    Ok(Some(Duration::new(t.tv_sec as u64, t.tv_nsec as u32)))
}

/// The pollfds as a slice.
///
/// # Safety
///
/// `fds` points to `n` pollfds.
unsafe fn pollfds<'a>(fds: *mut pollfd, n: nfds_t) -> Option<&'a mut [pollfd]> {
    if fds.is_null() || n == 0 {
        return None;
    }
    // SAFETY: the caller's contract.
    Some(unsafe { std::slice::from_raw_parts_mut(fds, n as usize) })
}

/// poll(2).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn poll(fds: *mut pollfd, n: nfds_t, timeout: c_int) -> c_int {
    ffi(-1, || {
        // SAFETY: the caller's contract.
        if let Some(v) = unsafe { pollfds(fds, n) } {
            if poll::any_node(v) {
                return ret_int(poll::poll(v, ms(timeout), Mask::NONE));
            }
        }
        // SAFETY: forwarding.
        unsafe { real::poll(fds, n, timeout) }
    })
}

/// __poll_chk.
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn __poll_chk(fds: *mut pollfd, n: nfds_t, timeout: c_int, fdslen: size_t) -> c_int {
    if (fdslen / std::mem::size_of::<pollfd>()) < n as usize {
        // SAFETY: forwarding (libc reports the overflow).
        return unsafe { real::__poll_chk(fds, n, timeout, fdslen) };
    }
    // SAFETY: forwarded.
    unsafe { poll(fds, n, timeout) }
}

/// ppoll(2).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn ppoll(fds: *mut pollfd, n: nfds_t, t: *const timespec, mask: *const sigset_t) -> c_int {
    ffi(-1, || {
        // SAFETY: the caller's contract.
        if let Some(v) = unsafe { pollfds(fds, n) } {
            if poll::any_node(v) {
                return ret_int(ts(t).and_then(|d| poll::poll(v, d, unsafe { Mask::new(mask) })));
            }
        }
        // SAFETY: forwarding.
        unsafe { real::ppoll(fds, n, t, mask) }
    })
}

/// __ppoll_chk.
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn __ppoll_chk(
    fds: *mut pollfd,
    n: nfds_t,
    t: *const timespec,
    mask: *const sigset_t,
    fdslen: size_t,
) -> c_int {
    if (fdslen / std::mem::size_of::<pollfd>()) < n as usize {
        // SAFETY: forwarding.
        return unsafe { real::__ppoll_chk(fds, n, t, mask, fdslen) };
    }
    // SAFETY: forwarded.
    unsafe { ppoll(fds, n, t, mask) }
}

/// Whether a select call involves a node socket.
fn select_has_node(n: c_int, sets: [*mut fd_set; 3]) -> bool {
    let mut any = false;
    for fd in 0..n.clamp(0, libc::FD_SETSIZE as c_int) {
        if state::maybe_node(fd) {
            // SAFETY: the caller's sets cover n descriptors.
            if sets.iter().any(|&s| !s.is_null() && unsafe { libc::FD_ISSET(fd, s) }) {
                any = true;
                break;
            }
        }
    }
    any && {
        let g = lock();
        (0..n.clamp(0, libc::FD_SETSIZE as c_int)).any(|fd| {
            // SAFETY: as above.
            g.sock_of(fd).is_some() && sets.iter().any(|&s| !s.is_null() && unsafe { libc::FD_ISSET(fd, s) })
        })
    }
}

/// select(2).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn select(n: c_int, r: *mut fd_set, w: *mut fd_set, e: *mut fd_set, t: *mut timeval) -> c_int {
    ffi(-1, || {
        if select_has_node(n, [r, w, e]) {
            let d = if t.is_null() {
                None
            } else {
                // SAFETY: the caller's timeval.
                let tv = unsafe { *t };
                if tv.tv_sec < 0 || tv.tv_usec < 0 {
                    return ret_int(Err(libc::EINVAL));
                }
                Some(Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64))
            };
            // SAFETY: the caller's sets.
            return ret_int(unsafe { poll::select(n, r, w, e, d, Mask::NONE) });
        }
        // SAFETY: forwarding.
        unsafe { real::select(n, r, w, e, t) }
    })
}

/// pselect(2).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn pselect(
    n: c_int,
    r: *mut fd_set,
    w: *mut fd_set,
    e: *mut fd_set,
    t: *const timespec,
    mask: *const sigset_t,
) -> c_int {
    ffi(-1, || {
        if select_has_node(n, [r, w, e]) {
            // SAFETY: the caller's sets.
            return ret_int(ts(t).and_then(|d| unsafe { poll::select(n, r, w, e, d, Mask::new(mask)) }));
        }
        // SAFETY: forwarding.
        unsafe { real::pselect(n, r, w, e, t, mask) }
    })
}

/// epoll_ctl(2).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn epoll_ctl(ep: c_int, op: c_int, fd: c_int, ev: *mut epoll_event) -> c_int {
    ffi(-1, || {
        if state::maybe_node(fd) && lock().sock_of(fd).is_some() {
            // SAFETY: the caller's event, if any.
            let e = if ev.is_null() { None } else { Some(unsafe { *ev }) };
            return ret_int(poll::epoll_ctl(ep, op, fd, e).map(|()| 0));
        }
        // SAFETY: forwarding.
        unsafe { real::epoll_ctl(ep, op, fd, ev) }
    })
}

fn events<'a>(ev: *mut epoll_event, max: c_int) -> R<&'a mut [epoll_event]> {
    if ev.is_null() || max <= 0 {
        return Err(libc::EINVAL);
    }
    // SAFETY: C's contract: room for `max` events.
    Ok(unsafe { std::slice::from_raw_parts_mut(ev, max as usize) })
}

/// epoll_wait(2).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn epoll_wait(ep: c_int, ev: *mut epoll_event, max: c_int, timeout: c_int) -> c_int {
    // SAFETY: forwarded.
    unsafe { epoll_pwait(ep, ev, max, timeout, std::ptr::null()) }
}

/// epoll_pwait(2).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn epoll_pwait(
    ep: c_int,
    ev: *mut epoll_event,
    max: c_int,
    timeout: c_int,
    mask: *const sigset_t,
) -> c_int {
    ffi(-1, || {
        if poll::epoll_has_node(ep) {
            return ret_int(
                events(ev, max).and_then(|out| poll::epoll_wait(ep, out, ms(timeout), unsafe { Mask::new(mask) })),
            );
        }
        // SAFETY: forwarding.
        unsafe { real::epoll_pwait(ep, ev, max, timeout, mask) }
    })
}

/// epoll_pwait2(2).
///
/// # Safety
///
/// C's contract.
#[no_mangle]
pub unsafe extern "C" fn epoll_pwait2(
    ep: c_int,
    ev: *mut epoll_event,
    max: c_int,
    t: *const timespec,
    mask: *const sigset_t,
) -> c_int {
    ffi(-1, || {
        if poll::epoll_has_node(ep) {
            return ret_int(
                events(ev, max)
                    .and_then(|out| ts(t).and_then(|d| poll::epoll_wait(ep, out, d, unsafe { Mask::new(mask) }))),
            );
        }
        // SAFETY: forwarding.
        unsafe { real::epoll_pwait2(ep, ev, max, t, mask) }
    })
}
