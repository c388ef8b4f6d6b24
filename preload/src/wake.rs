//! Wake-ups of threads sleeping on one app worker's eventfd.
//!
//! The node writes an app worker's eventfd once when an event lands on a
//! queue the worker armed. Several threads may sleep on that eventfd at once
//! (a socket shared by threads, or a thread polling sockets of another
//! thread's worker). The first of them to wake drains the counter, and a
//! sleeper whose poll had not looked at the eventfd yet, or looks again
//! after a spurious wake-up, then finds it empty and sleeps on: its wake-up
//! is lost. A relay written back into the shared eventfd does not fix that,
//! since any thread, the relaying one included, can drain it again.
//!
//! So each app worker keeps its sleepers and a **wake-up generation**,
//! bumped by every drain of the eventfd that took the node's wake-up. Each
//! sleeper notes the generation it armed at and sleeps on the worker's
//! eventfd and on a **relay eventfd of its own thread** as well. The thread
//! that drains the eventfd relays the wake-up to every sleeper of an older
//! generation through their own eventfds, which nobody else reads, so no
//! wake-up is lost however the threads interleave. A thread that leaves
//! knows it was woken if the generation moved past its own.

use std::cell::Cell;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::real;

/// A thread asleep on an app worker.
#[derive(Debug, Clone, Copy)]
struct Sleeper {
    /// Its thread's relay eventfd.
    relay: RawFd,
    /// The worker's wake-up generation when it armed.
    gen: u64,
    /// A wake-up was relayed to it (its relay eventfd needs draining).
    relayed: bool,
}

/// The threads asleep on one app worker, and its wake-up generation (see the module doc).
#[derive(Debug, Default)]
pub struct Sleepers {
    gen: u64,
    list: Vec<Sleeper>,
}

impl Sleepers {
    /// Threads asleep now.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether no thread sleeps.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The wake-up generation.
    pub fn generation(&self) -> u64 {
        self.gen
    }

    /// The thread whose relay eventfd is `relay` goes to sleep (its queues armed).
    pub fn enter(&mut self, relay: RawFd) {
        self.list.push(Sleeper { relay, gen: self.gen, relayed: false });
    }

    /// The thread whose relay eventfd is `relay` is back from its sleep (or gives it up):
    /// drains the worker's eventfd `efd`, relays a wake-up it took to the threads still
    /// asleep, drains its own relay eventfd if something was relayed to it. Returns
    /// whether it was woken: the node's wake-up was in the eventfd, or the generation
    /// moved on since it armed (another thread drained the wake-up and relayed it).
    pub fn leave(&mut self, efd: RawFd, relay: RawFd) -> bool {
        let me = self.list.iter().position(|s| s.relay == relay).map(|i| self.list.swap_remove(i));
        let drained = read_counter(efd).is_some_and(|v| v != 0);
        if drained {
            self.gen += 1;
            for s in self.list.iter_mut().filter(|s| s.gen < self.gen && !s.relayed) {
                s.relayed = true;
                real::eventfd_add(s.relay, 1);
            }
        }
        let Some(me) = me else { return drained };
        if me.relayed {
            let _ = read_counter(relay);
        }
        drained || me.relayed || me.gen != self.gen
    }
}

/// Reads (and so resets) a non-blocking eventfd's counter; `None` if it was zero.
fn read_counter(fd: RawFd) -> Option<u64> {
    let mut b = [0u8; 8];
    // SAFETY: 8 bytes into a live buffer; the eventfd is non-blocking (EAGAIN when zero).
    let n = unsafe { real::read(fd, b.as_mut_ptr().cast(), 8) };
    (n == 8).then(|| u64::from_ne_bytes(b))
}

thread_local! {
    static RELAY: Cell<RawFd> = const { Cell::new(-1) };
    static RELAY_SERIAL: Cell<u64> = const { Cell::new(0) };
    static RELAY_CLOSER: RelayCloser = const { RelayCloser };
}

/// Closes the thread's relay eventfd when the thread ends.
struct RelayCloser;

impl Drop for RelayCloser {
    fn drop(&mut self) {
        let fd = RELAY.with(|r| r.replace(-1));
        if fd >= 0 {
            // SAFETY: our own descriptor, closed once.
            unsafe { real::close(fd) };
        }
    }
}

/// The calling thread's relay eventfd, made on first use (`-1` if the kernel refuses one:
/// the thread then depends on the sleep's safety net, see [`crate::state::MAX_SLEEP`]).
pub fn relay() -> RawFd {
    RELAY.with(|r| {
        if r.get() < 0 {
            // SAFETY: plain eventfd creation; the descriptor is ours.
            let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
            r.set(fd);
            if fd >= 0 {
                RELAY_CLOSER.with(|_| {});
                RELAY_SERIAL.with(|s| s.set(NEXT_SERIAL.fetch_add(1, Ordering::Relaxed)));
            }
        }
        r.get()
    })
}

/// The calling thread's relay eventfd and a number no other relay eventfd of the process
/// ever had (an epoll set that holds it tells it from a later one on the same descriptor).
pub fn relay_id() -> (RawFd, u64) {
    let fd = relay();
    (fd, RELAY_SERIAL.with(Cell::get))
}

static NEXT_SERIAL: AtomicU64 = AtomicU64::new(1);

/// In a forked child: the thread's relay eventfd is a copy of its parent's (the parent's
/// relays would wake it, its reads would take the parent's): closed, the next sleep makes
/// one of its own.
pub fn forget_relay_after_fork() {
    let fd = RELAY.with(|r| r.replace(-1));
    if fd >= 0 {
        // SAFETY: this process's copy of the descriptor, closed once.
        unsafe { real::close(fd) };
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use std::sync::mpsc;
    use std::sync::{Arc, Mutex};

    fn eventfd() -> RawFd {
        // SAFETY: plain eventfd creation.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        assert!(fd >= 0);
        fd
    }

    /// ppoll on the worker's eventfd and the thread's relay, as `state::sleep` does; the
    /// number of ready descriptors (0: the timeout passed).
    fn sleep_on(efd: RawFd, relay: RawFd, ms: i32) -> i32 {
        let mut fds = [
            libc::pollfd { fd: efd, events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: relay, events: libc::POLLIN, revents: 0 },
        ];
        // SAFETY: a live array of two pollfds.
        unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) }
    }

    /// Two threads asleep on one worker; the node writes its eventfd once. Thread A wakes
    /// first, drains it, goes to sleep again and wakes again before thread B's poll looks at
    /// anything (the interleaving that lost B's wake-up: A drained both the node's wake-up
    /// and any relay it had put back into the shared eventfd). B must still be woken, and
    /// know it. The order is forced with channels; B's poll has a 20 s bound only so a
    /// regression fails instead of hanging (the fixed code returns at once).
    #[test]
    fn a_sleeper_is_woken_even_if_another_thread_drained_the_eventfd_first() {
        let efd = eventfd();
        let sleepers = Arc::new(Mutex::new(Sleepers::default()));
        let (armed_tx, armed_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let b = {
            let sleepers = sleepers.clone();
            std::thread::spawn(move || {
                let relay = relay();
                sleepers.lock().unwrap().enter(relay);
                armed_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                let n = sleep_on(efd, relay, 20_000);
                let woken = sleepers.lock().unwrap().leave(efd, relay);
                (n, woken)
            })
        };
        armed_rx.recv().unwrap();
        let relay_a = relay();
        sleepers.lock().unwrap().enter(relay_a);
        // The node's wake-up.
        real::eventfd_add(efd, 1);
        assert_eq!(sleep_on(efd, relay_a, 20_000), 1);
        assert!(sleepers.lock().unwrap().leave(efd, relay_a), "A took the node's wake-up");
        // A looks at its sockets, finds nothing, sleeps again and wakes (on whatever is in
        // the eventfd or a timeout) while B's poll has not run yet.
        sleepers.lock().unwrap().enter(relay_a);
        sleep_on(efd, relay_a, 0);
        assert!(!sleepers.lock().unwrap().leave(efd, relay_a), "A's second sleep had no wake-up of its own");
        go_tx.send(()).unwrap();
        let (n, woken) = b.join().unwrap();
        assert_eq!(n, 1, "B's sleep ended on its wake-up, not on the timeout");
        assert!(woken, "B knows it was woken");
        assert!(sleepers.lock().unwrap().is_empty());
        assert_eq!(sleepers.lock().unwrap().generation(), 1);
        // Nothing left behind for the next sleep: both eventfds are empty.
        assert_eq!(read_counter(efd), None);
        assert_eq!(sleep_on(efd, relay_a, 0), 0);
        // SAFETY: our own descriptor.
        unsafe { libc::close(efd) };
    }

    /// A sleep given up (no wake-up in the eventfd, nothing relayed) reports no wake-up and
    /// relays nothing to the others.
    #[test]
    fn leaving_without_a_wake_up_relays_nothing() {
        let efd = eventfd();
        let (r1, r2) = (eventfd(), eventfd());
        let mut s = Sleepers::default();
        s.enter(r1);
        s.enter(r2);
        assert!(!s.leave(efd, r1));
        assert_eq!(s.len(), 1);
        assert_eq!(read_counter(r2), None);
        real::eventfd_add(efd, 1);
        assert!(s.leave(efd, r2));
        assert!(s.is_empty());
        for fd in [efd, r1, r2] {
            // SAFETY: our own descriptors.
            unsafe { libc::close(fd) };
        }
    }
}
