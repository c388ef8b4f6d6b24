//! poll, select and epoll over node sockets mixed with kernel descriptors.
//!
//! A node socket's readiness is computed from its state and fifos (level);
//! edge-triggered epoll reports a socket again only after an event changed
//! its sequence number, as the kernel reports an item again only after a
//! wake-up. To sleep, the calls add the eventfd of each app worker involved
//! to what the kernel waits on (the pollfd array, or the real epoll set
//! under a tag), arm the workers' wake-ups, and sleep in the kernel; the
//! node writes the eventfd when an event arrives.

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use crate::real;
use crate::state::{self, lock, wrk, Guard, Mask, Reg, Shared, Sock, St, State, R};

const IN: u32 = (libc::POLLIN | libc::POLLRDNORM) as u32;
const OUT: u32 = (libc::POLLOUT | libc::POLLWRNORM) as u32;
const ERR: u32 = libc::POLLERR as u32;
const HUP: u32 = libc::POLLHUP as u32;
const RDHUP: u32 = libc::POLLRDHUP as u32;

/// The tag of an app worker's eventfd in a real epoll set (plus the worker index).
const TAG: u64 = 0xd90d_e000_0000_0000;
/// The tag of a thread's relay eventfd in a real epoll set (plus the descriptor).
const RELAY_TAG: u64 = 0xd90d_e001_0000_0000;

/// A node socket's readiness, as POLL* (= EPOLL*) bits.
pub fn readiness(s: &Sock, workers: &[Shared]) -> u32 {
    let Some(w) = wrk(workers, s.wrk) else { return ERR | HUP };
    let mut m = match &s.st {
        St::Fresh => OUT | HUP,
        St::Listening(l) => {
            if w.w.accept_pending(*l) > 0 {
                IN
            } else {
                0
            }
        }
        St::Connecting => 0,
        St::Connected(sess) => match w.w.rx_pending(*sess) {
            None => IN | OUT | ERR | HUP | RDHUP,
            Some(n) => {
                let closed = w.w.is_peer_closed(*sess);
                let mut m = 0;
                if n > 0 || closed || s.shut_rd {
                    m |= IN;
                }
                if closed || s.shut_rd {
                    m |= RDHUP;
                }
                if !s.shut_wr && w.w.write_space(*sess) > 0 {
                    m |= OUT;
                }
                if closed && s.shut_wr {
                    m |= HUP;
                }
                m
            }
        },
        // Not listening here until its first use (which poll and epoll make).
        St::Dormant(_) => 0,
        St::Elsewhere => IN | OUT | ERR | HUP,
        St::Failed => IN | ERR | HUP | RDHUP,
        St::Reset => IN | OUT | HUP | RDHUP,
        St::Closed => IN | OUT | HUP | RDHUP,
        St::Udp(u) => {
            let mut m = 0;
            let readable = match u.connected {
                Some(p) => u.sessions.get(&p).is_some_and(|&x| w.w.has_datagram(x)),
                None => u.ready.iter().any(|&x| w.w.has_datagram(x)),
            };
            if readable {
                m |= IN;
            }
            let writable = match u.connected.and_then(|p| u.sessions.get(&p)) {
                Some(&x) => w.w.write_space(x) > 0,
                None => true,
            };
            if writable && !s.shut_wr {
                m |= OUT;
            }
            m
        }
    };
    if s.err != 0 {
        m |= ERR;
    }
    m
}

/// Pumps the workers of the node descriptors among `fds`; returns their indices.
fn pump_for(g: &mut State, fds: impl Iterator<Item = RawFd>) -> Vec<usize> {
    let mut wis = Vec::new();
    for fd in fds {
        if let Some(s) = g.sock_of(fd).and_then(|id| g.socks.get(&id)) {
            if !wis.contains(&s.wrk) {
                wis.push(s.wrk);
            }
        }
    }
    for &wi in &wis {
        g.pump(wi);
    }
    wis
}

fn node_revents(g: &State, fd: RawFd, events: i16) -> Option<i16> {
    let s = g.sock_of(fd).and_then(|id| g.socks.get(&id))?;
    let want = events as u16 as u32 | ERR | HUP;
    Some((readiness(s, &g.workers) & want) as u16 as i16)
}

/// `poll`/`ppoll` over `fds` (some of them node sockets), `timeout` None: forever.
pub fn poll(fds: &mut [libc::pollfd], timeout: Option<Duration>, mask: Mask) -> R<i32> {
    let until = state::deadline(timeout);
    let mut g = lock();
    // Polling a listener is using it (an inherited one starts listening here).
    let wanted = fds.iter().filter(|p| p.events & libc::POLLIN != 0).map(|p| p.fd);
    crate::ops::listeners_use(&mut g, wanted);
    let mut kernel: Vec<libc::pollfd> = Vec::new();
    let mut kidx: Vec<usize> = Vec::new();
    for (i, p) in fds.iter().enumerate() {
        if g.sock_of(p.fd).is_none() {
            kernel.push(*p);
            kidx.push(i);
        }
    }
    loop {
        let wis = pump_for(&mut g, fds.iter().map(|p| p.fd));
        let mut ready = 0;
        for p in fds.iter_mut() {
            if let Some(r) = node_revents(&g, p.fd, p.events) {
                p.revents = r;
                if r != 0 {
                    ready += 1;
                }
            }
        }
        let expired = until.is_some_and(|u| Instant::now() >= u);
        if ready > 0 || expired {
            if !kernel.is_empty() {
                // SAFETY: a live array of kernel.len() pollfds.
                let rc = unsafe { real::poll(kernel.as_mut_ptr(), kernel.len() as libc::nfds_t, 0) };
                if rc < 0 {
                    return Err(real::errno());
                }
            }
            for (k, &i) in kernel.iter().zip(&kidx) {
                if let Some(p) = fds.get_mut(i) {
                    p.revents = k.revents;
                    if k.revents != 0 {
                        ready += 1;
                    }
                }
            }
            return Ok(ready);
        }
        let (g2, r) = state::sleep(g, &wis, &mut kernel, until, mask);
        g = g2;
        r?;
        // Whatever woke us, look again (kernel entries with a zero timeout).
        if kernel.iter().any(|k| k.revents != 0) {
            let mut ready = 0;
            let wis_again = pump_for(&mut g, fds.iter().map(|p| p.fd));
            let _ = wis_again;
            for p in fds.iter_mut() {
                if let Some(r) = node_revents(&g, p.fd, p.events) {
                    p.revents = r;
                    if r != 0 {
                        ready += 1;
                    }
                }
            }
            for (k, &i) in kernel.iter().zip(&kidx) {
                if let Some(p) = fds.get_mut(i) {
                    p.revents = k.revents;
                    if k.revents != 0 {
                        ready += 1;
                    }
                }
            }
            return Ok(ready);
        }
    }
}

/// Whether any of `fds` is a node socket.
pub fn any_node(fds: &[libc::pollfd]) -> bool {
    fds.iter().any(|p| state::maybe_node(p.fd)) && {
        let g = lock();
        fds.iter().any(|p| g.sock_of(p.fd).is_some())
    }
}

/// `select`/`pselect` through [`poll`].
///
/// # Safety
///
/// The sets must be NULL or valid `fd_set`s covering `n` descriptors.
pub unsafe fn select(
    n: i32,
    r: *mut libc::fd_set,
    w: *mut libc::fd_set,
    e: *mut libc::fd_set,
    timeout: Option<Duration>,
    mask: Mask,
) -> R<i32> {
    if !(0..=libc::FD_SETSIZE as i32).contains(&n) {
        return Err(libc::EINVAL);
    }
    let isset = |set: *mut libc::fd_set, fd: i32| {
        // SAFETY: the caller's set is valid; fd < n <= FD_SETSIZE.
        !set.is_null() && unsafe { libc::FD_ISSET(fd, set) }
    };
    let mut fds = Vec::new();
    for fd in 0..n {
        let mut ev = 0;
        if isset(r, fd) {
            ev |= libc::POLLIN;
        }
        if isset(w, fd) {
            ev |= libc::POLLOUT;
        }
        if isset(e, fd) {
            ev |= libc::POLLPRI;
        }
        if ev != 0 {
            fds.push(libc::pollfd { fd, events: ev, revents: 0 });
        }
    }
    poll(&mut fds, timeout, mask)?;
    for set in [r, w, e] {
        if !set.is_null() {
            // SAFETY: a valid set.
            unsafe { libc::FD_ZERO(set) };
        }
    }
    let mut count = 0;
    for p in &fds {
        if p.revents & libc::POLLNVAL != 0 {
            return Err(libc::EBADF);
        }
        let rd = p.revents & (libc::POLLIN | libc::POLLRDNORM | libc::POLLHUP | libc::POLLERR) != 0;
        let wr = p.revents & (libc::POLLOUT | libc::POLLWRNORM | libc::POLLERR) != 0;
        let ex = p.revents & libc::POLLPRI != 0;
        for (on, set, asked) in [(rd, r, libc::POLLIN), (wr, w, libc::POLLOUT), (ex, e, libc::POLLPRI)] {
            if on && p.events & asked != 0 && !set.is_null() {
                // SAFETY: a valid set; fd < n.
                unsafe { libc::FD_SET(p.fd, set) };
                count += 1;
            }
        }
    }
    Ok(count)
}

/// `epoll_ctl` for a node descriptor.
pub fn epoll_ctl(ep: RawFd, op: i32, fd: RawFd, ev: Option<libc::epoll_event>) -> R<()> {
    let mut g = lock();
    let id = g.sock_of(fd).ok_or(libc::EBADF)?;
    if op != libc::EPOLL_CTL_DEL && ev.is_some_and(|e| e.events & libc::EPOLLIN as u32 != 0) {
        // Waiting for a listener is using it (an inherited one starts listening here).
        crate::ops::listeners_use(&mut g, std::iter::once(fd));
    }
    let wi = g.socks.get(&id).ok_or(libc::EBADF)?.wrk;
    let seq = g.socks.get(&id).map_or(0, |s| s.seq);
    match op {
        libc::EPOLL_CTL_ADD => {
            let ev = ev.ok_or(libc::EFAULT)?;
            if g.epolls.get(&ep).is_some_and(|s| s.regs.contains_key(&fd)) {
                return Err(libc::EEXIST);
            }
            let efd = wrk(&g.workers, wi).map_or(-1, |w| w.efd);
            let set = g.epolls.entry(ep).or_default();
            if !set.wrks.contains_key(&wi) {
                let mut kev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: TAG | wi as u64 };
                // SAFETY: a valid event for the call's duration.
                if unsafe { real::epoll_ctl(ep, libc::EPOLL_CTL_ADD, efd, &mut kev) } != 0 {
                    let e = real::errno();
                    if set.regs.is_empty() && set.wrks.is_empty() {
                        g.epolls.remove(&ep);
                    }
                    return Err(e);
                }
            }
            *set.wrks.entry(wi).or_insert(0) += 1;
            let reg = Reg {
                sock: id,
                events: ev.events,
                data: ev.u64,
                seen: seq.wrapping_sub(1),
                disabled: false,
                queued: false,
            };
            set.regs.insert(fd, reg);
            g.watch.entry(id).or_default().push((ep, fd));
            State::mark_epoll(ep, true);
            g.mark(id);
        }
        libc::EPOLL_CTL_MOD => {
            let ev = ev.ok_or(libc::EFAULT)?;
            let r = g.epolls.get_mut(&ep).and_then(|s| s.regs.get_mut(&fd)).ok_or(libc::ENOENT)?;
            r.events = ev.events;
            r.data = ev.u64;
            r.seen = seq.wrapping_sub(1);
            r.disabled = false;
            g.mark(id);
        }
        libc::EPOLL_CTL_DEL => {
            let set = g.epolls.get_mut(&ep).ok_or(libc::ENOENT)?;
            if set.regs.remove(&fd).ok_or(libc::ENOENT)?.queued {
                set.ready.retain(|&f| f != fd);
            }
            if let Some(w) = g.watch.get_mut(&id) {
                w.retain(|&x| x != (ep, fd));
            }
            g.epoll_release_worker(ep, wi);
        }
        _ => return Err(libc::EINVAL),
    }
    crate::debug!("epoll_ctl({ep}, {op}, {fd}, {:#x})", ev.map_or(0, |e| e.events));
    Ok(())
}

/// Whether epoll set `ep` holds node sockets.
pub fn epoll_has_node(ep: RawFd) -> bool {
    state::maybe_epoll(ep) && lock().epolls.get(&ep).is_some_and(|s| !s.regs.is_empty())
}

/// Appends the ready node registrations of set `ep` to `out` (at most its length),
/// looking only at the set's ready list (see [`crate::state::EpollSet`]).
fn epoll_collect(g: &mut State, ep: RawFd, out: &mut [libc::epoll_event]) -> usize {
    let State { epolls, socks, workers, .. } = g;
    let Some(set) = epolls.get_mut(&ep) else { return 0 };
    let mut n = 0;
    // Each registration queued now is looked at once; level-triggered ready ones go to the back.
    for _ in 0..set.ready.len() {
        if n >= out.len() {
            break;
        }
        let Some(fd) = set.ready.pop_front() else { break };
        let Some(reg) = set.regs.get_mut(&fd) else { continue };
        reg.queued = false;
        if reg.disabled {
            continue;
        }
        let Some(s) = socks.get(&reg.sock) else { continue };
        let m = readiness(s, workers) & (reg.events | ERR | HUP);
        if reg.events & OUT != 0 && m & OUT == 0 {
            // Room in the tx fifo comes without an event: ask the node for one.
            want_writable(s, workers);
        }
        if m == 0 {
            continue;
        }
        let et = reg.events & libc::EPOLLET as u32 != 0;
        if et && reg.seen == s.seq {
            continue;
        }
        reg.seen = s.seq;
        if reg.events & libc::EPOLLONESHOT as u32 != 0 {
            reg.disabled = true;
        } else if !et {
            reg.queued = true;
            set.ready.push_back(fd);
        }
        if let Some(o) = out.get_mut(n) {
            *o = libc::epoll_event { events: m, u64: reg.data };
            n += 1;
        }
    }
    n
}

/// Asks the node for a tx-space event on a socket's session, if it has one to write to.
fn want_writable(s: &Sock, workers: &[Shared]) {
    let sess = match &s.st {
        St::Connected(sess) if !s.shut_wr => *sess,
        St::Udp(u) => match u.connected.and_then(|p| u.sessions.get(&p)) {
            Some(&sess) => sess,
            None => return,
        },
        _ => return,
    };
    if let Some(mut w) = wrk(workers, s.wrk) {
        let _ = w.w.want_writable(sess);
    }
}

/// Puts the calling thread's relay eventfd in epoll set `ep` (once), so a wake-up another
/// thread relays to it ends its epoll_wait (see [`crate::wake`]); whether it is there.
fn epoll_add_relay(g: &mut State, ep: RawFd) -> bool {
    let (fd, serial) = crate::wake::relay_id();
    let Some(set) = g.epolls.get_mut(&ep) else { return false };
    if fd < 0 {
        return false;
    }
    if set.relays.contains(&(fd, serial)) {
        return true;
    }
    // A thread gone before left its closed relay's descriptor here (the kernel dropped it).
    set.relays.retain(|&(f, _)| f != fd);
    let mut kev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: RELAY_TAG | fd as u32 as u64 };
    // SAFETY: a valid event for the call's duration.
    if unsafe { real::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut kev) } == 0 || real::errno() == libc::EEXIST {
        set.relays.push((fd, serial));
        return true;
    }
    false
}

/// Drops our eventfd entries from what the kernel returned; returns how many are left.
fn epoll_filter(g: &mut State, ep: RawFd, evs: &mut [libc::epoll_event], n: usize) -> usize {
    let mut k = 0;
    for i in 0..n.min(evs.len()) {
        let e = evs[i];
        let data = e.u64;
        if data & !0xffff_ffff == TAG && ((data & 0xffff_ffff) as usize) < g.workers.len() {
            continue;
        }
        if data & !0xffff_ffff == RELAY_TAG
            && g.epolls.get(&ep).is_some_and(|s| s.relays.iter().any(|r| r.0 as u32 as u64 == data & 0xffff_ffff))
        {
            continue;
        }
        evs[k] = e;
        k += 1;
    }
    k
}

fn epoll_workers(g: &State, ep: RawFd) -> Vec<usize> {
    g.epolls.get(&ep).map(|s| s.wrks.keys().copied().collect()).unwrap_or_default()
}

/// `epoll_wait`/`epoll_pwait`/`epoll_pwait2` on a set with node sockets.
pub fn epoll_wait(ep: RawFd, out: &mut [libc::epoll_event], timeout: Option<Duration>, mask: Mask) -> R<i32> {
    let until = state::deadline(timeout);
    let mut g: Guard = lock();
    loop {
        let wis = epoll_workers(&g, ep);
        for &wi in &wis {
            g.pump(wi);
        }
        let n = epoll_collect(&mut g, ep, out);
        let expired = until.is_some_and(|u| Instant::now() >= u);
        if n > 0 || expired {
            let rest = out.get_mut(n..).unwrap_or_default();
            let mut k = 0;
            if !rest.is_empty() {
                // SAFETY: `rest` is a live array of rest.len() events.
                let rc = unsafe { real::epoll_wait(ep, rest.as_mut_ptr(), rest.len() as i32, 0) };
                if rc > 0 {
                    k = epoll_filter(&mut g, ep, rest, rc as usize);
                }
            }
            return Ok((n + k) as i32);
        }
        let mut armed = Vec::new();
        let mut news = false;
        for &wi in &wis {
            if state::arm(&mut g, wi) {
                armed.push(wi);
            } else {
                news = true;
                break;
            }
        }
        if news {
            for &wi in &armed {
                state::disarm(&mut g, wi, false);
            }
            continue;
        }
        // Without its relay eventfd in the set, the thread sleeps no longer than the safety net.
        let net = !armed.is_empty() && !epoll_add_relay(&mut g, ep);
        drop(g);
        let wake_by = match until {
            _ if !net => until,
            Some(u) => Some(u.min(Instant::now() + state::MAX_SLEEP)),
            None => Some(Instant::now() + state::MAX_SLEEP),
        };
        let ms = wake_by.map_or(-1, |u| {
            let left = u.saturating_duration_since(Instant::now());
            // Round up, so a sub-millisecond rest does not spin.
            (left.as_micros().div_ceil(1000)).min(i32::MAX as u128) as i32
        });
        // SAFETY: `out` is a live array of out.len() events; mask NULL or valid.
        let rc =
            unsafe { real::epoll_pwait(ep, out.as_mut_ptr(), out.len().min(i32::MAX as usize) as i32, ms, mask.ptr()) };
        let err = real::errno();
        g = lock();
        for &wi in &armed {
            state::disarm(&mut g, wi, false);
        }
        if rc < 0 {
            return Err(err);
        }
        let k = epoll_filter(&mut g, ep, out, rc as usize);
        if k > 0 {
            for &wi in &wis {
                g.pump(wi);
            }
            let rest = out.get_mut(k..).unwrap_or_default();
            let n = epoll_collect(&mut g, ep, rest);
            return Ok((k + n) as i32);
        }
    }
}

/// Forgets epoll set `ep` (closed).
pub fn epoll_close(g: &mut State, ep: RawFd) {
    if let Some(set) = g.epolls.remove(&ep) {
        for (fd, r) in set.regs {
            if let Some(w) = g.watch.get_mut(&r.sock) {
                w.retain(|&x| x != (ep, fd));
            }
        }
    }
    State::mark_epoll(ep, false);
}

/// The kernel's part of a wait: used by tests of the readiness rules.
#[cfg(test)]
mod test {
    use super::*;

    /// A set with `n` registrations of sockets that are ready (no app worker: ERR|HUP).
    fn set_of(g: &mut State, n: usize, events: u32) -> RawFd {
        let ep = 900;
        g.epolls.insert(ep, state::EpollSet::default());
        for fd in 0..n as RawFd {
            let id = g.add_sock(1000 + fd, Sock::new(7, shm::types::Proto::Tcp, false));
            let reg = Reg { sock: id, events, data: fd as u64, seen: 0, disabled: false, queued: false };
            g.epolls.get_mut(&ep).unwrap().regs.insert(1000 + fd, reg);
            g.watch.entry(id).or_default().push((ep, 1000 + fd));
        }
        ep
    }

    #[test]
    fn epoll_wait_looks_only_at_the_ready_list() {
        let mut g = State::default();
        let ep = set_of(&mut g, 100, IN);
        let mut out = [libc::epoll_event { events: 0, u64: 0 }; 200];
        // Nothing was marked: nothing is looked at, though every socket would be ready.
        assert_eq!(epoll_collect(&mut g, ep, &mut out), 0);
        let ids: Vec<u64> = g.watch.keys().copied().collect();
        g.mark(ids[3]);
        g.mark(ids[3]);
        assert_eq!(epoll_collect(&mut g, ep, &mut out), 1, "marked twice, reported once");
        // Level-triggered: it stays in the list while it is ready.
        assert_eq!(epoll_collect(&mut g, ep, &mut out), 1);
        assert_eq!(g.epolls[&ep].ready.len(), 1);
        // A closed descriptor leaves the list with its registration.
        let fd = g.epolls[&ep].ready[0];
        g.remove_fd(fd);
        assert!(g.epolls[&ep].ready.is_empty());
        assert_eq!(epoll_collect(&mut g, ep, &mut out), 0);
    }

    #[test]
    fn edge_triggered_registrations_leave_the_list_once_reported() {
        let mut g = State::default();
        let ep = set_of(&mut g, 2, IN | libc::EPOLLET as u32);
        let mut out = [libc::epoll_event { events: 0, u64: 0 }; 4];
        let ids: Vec<u64> = g.watch.keys().copied().collect();
        for &id in &ids {
            g.mark(id);
        }
        // Only room for one: the other waits for the next call.
        assert_eq!(epoll_collect(&mut g, ep, &mut out[..1]), 1);
        assert_eq!(epoll_collect(&mut g, ep, &mut out), 1);
        assert_eq!(epoll_collect(&mut g, ep, &mut out), 0, "edge-triggered: reported once");
        // A new event (seq bump + mark) reports it again.
        g.socks.get_mut(&ids[0]).unwrap().seq += 1;
        g.mark(ids[0]);
        assert_eq!(epoll_collect(&mut g, ep, &mut out), 1);
        assert!(g.epolls[&ep].ready.is_empty());
    }

    #[test]
    fn bits_are_the_kernels() {
        assert_eq!(libc::POLLIN as u32, libc::EPOLLIN as u32);
        assert_eq!(libc::POLLOUT as u32, libc::EPOLLOUT as u32);
        assert_eq!(libc::POLLERR as u32, libc::EPOLLERR as u32);
        assert_eq!(libc::POLLHUP as u32, libc::EPOLLHUP as u32);
        assert_eq!(libc::POLLRDHUP as u32, libc::EPOLLRDHUP as u32);
        assert_eq!(TAG & 0xffff_ffff, 0);
    }
}
