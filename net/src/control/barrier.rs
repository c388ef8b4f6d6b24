//! The barrier: the main thread's exclusive access to the tables workers share.
//!
//! Workers read the shared control tables (interfaces, routes, session
//! lookup, applications...) on the fast path with no lock. The main thread
//! changes them only after every worker has stopped at the top of its poll
//! loop, the way VPP's worker barrier works. The types make that the only
//! way: [`MainBarrier::tables`] gives shared read access, the one mutable
//! path is the [`BarrierGuard`] that [`MainBarrier::sync`] hands out once all
//! workers are parked, and [`WorkerBarrier::poll`] lends the tables to a
//! worker only until its next `poll` (the borrow is tied to `&mut self`, so a
//! worker cannot keep a reference while parked or asleep).
//!
//! Protocol. Each worker has a state word (running, parked, asleep, exited)
//! on its own cache line, and there is one `request` flag. Main sets
//! `request`, then waits until no worker is running. A running worker checks
//! `request` at the top of each loop; if set it marks itself parked and waits
//! for the flag to clear. A worker becomes running again by storing
//! "running" and then re-reading `request`; if it finds it set it parks
//! again. Main's "store request, load state" and the worker's "store state,
//! load request" are a Dekker pair: with SeqCst on all four operations at
//! least one side sees the other's store, so main never concludes a worker is
//! parked while that worker goes on to read the tables. A worker asleep in
//! [`WorkerBarrier::idle_sleep`] counts as parked, and a dropped
//! [`WorkerBarrier`] (thread exited) counts as parked forever.
//!
//! ```compile_fail,E0499
//! // A worker cannot keep the tables across the next poll (where it may park).
//! let (_main, mut workers) = net::control::barrier::barrier(vec![1u32], 1);
//! let w = &mut workers[0];
//! let t = w.poll();
//! w.poll();
//! assert_eq!(t[0], 1);
//! ```
//!
//! ```compile_fail,E0499
//! // ... nor while asleep.
//! let (_main, mut workers) = net::control::barrier::barrier(vec![1u32], 1);
//! let w = &mut workers[0];
//! let t = w.poll();
//! w.idle_sleep(std::time::Duration::from_millis(1));
//! assert_eq!(t[0], 1);
//! ```
//!
//! ```compile_fail,E0596
//! // The main thread has no mutable path except the guard.
//! let (main, _workers) = net::control::barrier::barrier(vec![1u32], 1);
//! main.tables().push(2);
//! ```
//!
//! ```compile_fail,E0502
//! // ... and cannot keep a shared reference while it holds the guard.
//! let (mut main, _workers) = net::control::barrier::barrier(vec![1u32], 1);
//! let t = main.tables();
//! main.sync().push(2);
//! assert_eq!(t[0], 1);
//! ```
//!
//! ```
//! // What is allowed: read anywhere, write under the guard.
//! let (mut main, mut workers) = net::control::barrier::barrier(vec![1u32], 1);
//! assert_eq!(workers[0].poll()[0], 1);
//! let w = workers.pop().unwrap();
//! drop(w); // an exited worker never blocks sync
//! main.sync().push(2);
//! assert_eq!(main.tables().len(), 2);
//! ```

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_utils::{Backoff, CachePadded};

/// The worker may be reading the tables.
const RUNNING: u8 = 0;
/// The worker is outside the tables: parked at the barrier, or not started yet.
const PARKED: u8 = 1;
/// The worker is in `idle_sleep`, outside the tables.
const ASLEEP: u8 = 2;
/// The worker's `WorkerBarrier` was dropped; it will never read the tables again.
const EXITED: u8 = 3;

struct Shared<T> {
    tables: UnsafeCell<T>,
    /// Set by main while it wants (or holds) exclusive access.
    request: CachePadded<AtomicBool>,
    /// The workers' state words and grace-period acknowledgements.
    grace: Arc<GraceShared>,
}

/// What [`GracePeriod`] shares with the workers (no tables, so it is not generic).
struct GraceShared {
    /// Bumped by every [`GracePeriod::synchronize`].
    epoch: CachePadded<AtomicU64>,
    /// One slot per worker, each on its own cache line.
    slots: Box<[CachePadded<Slot>]>,
}

/// A worker's state word and the last grace-period epoch it has seen.
struct Slot {
    state: AtomicU8,
    ack: AtomicU64,
}

// SAFETY: `tables` is read through `&T` by workers and the main thread at the
// same time (hence `T: Sync`), mutated through `&mut T` only by the holder of
// the `BarrierGuard` (which excludes every other access, see the module doc
// and `MainBarrier::sync`), and dropped by whichever thread drops the last
// `Arc` (hence `T: Send`). Everything else is atomics.
unsafe impl<T: Send + Sync> Sync for Shared<T> {}
// SAFETY: as above; the tables may be dropped on any thread.
unsafe impl<T: Send + Sync> Send for Shared<T> {}

/// Upper bounds (ns) of the [`BarrierStats::wait_histogram`] buckets; the last bucket takes the rest.
pub const WAIT_BUCKETS_NS: [u64; 6] = [1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000];

/// Statistics about barrier syncs, for `show threads` and `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BarrierStats {
    /// Syncs by how long they waited for the workers to park: bucket `i`
    /// counts waits up to [`WAIT_BUCKETS_NS`]`[i]` (and above the bucket
    /// before); the last one counts longer waits.
    pub wait_histogram: [u64; WAIT_BUCKETS_NS.len() + 1],
    /// Sum of every sync's wait, in ns.
    pub wait_ns_total: u64,
    /// Number of completed `sync` calls.
    pub syncs: u64,
    /// Time the last `sync` waited for workers to park, in ns.
    pub last_wait_ns: u64,
    /// Longest wait for workers to park, in ns.
    pub max_wait_ns: u64,
    /// Time the last guard was held (workers stopped), in ns.
    pub last_hold_ns: u64,
    /// Longest time a guard was held, in ns.
    pub max_hold_ns: u64,
}

/// The main thread's side: read the tables any time, write them under [`MainBarrier::sync`].
pub struct MainBarrier<T: Send + Sync> {
    shared: Arc<Shared<T>>,
    stats: BarrierStats,
}

/// One worker's side; move it into the worker thread and call [`WorkerBarrier::poll`] each loop.
pub struct WorkerBarrier<T: Send + Sync> {
    shared: Arc<Shared<T>>,
    index: usize,
    /// Our last store to our state word was RUNNING.
    running: bool,
    /// The last grace-period epoch we acknowledged.
    seen: u64,
}

/// Exclusive access to the tables while every worker is parked; dropping it releases them.
pub struct BarrierGuard<'a, T: Send + Sync> {
    main: &'a mut MainBarrier<T>,
    since: Instant,
}

/// Make the barrier around `tables` for `workers` worker threads.
pub fn barrier<T: Send + Sync>(tables: T, workers: usize) -> (MainBarrier<T>, Vec<WorkerBarrier<T>>) {
    let grace = Arc::new(GraceShared {
        epoch: CachePadded::new(AtomicU64::new(0)),
        // A worker that has not polled yet is outside the tables, so it must
        // not hold up a sync; its first poll goes through the entry handshake.
        slots: (0..workers)
            .map(|_| CachePadded::new(Slot { state: AtomicU8::new(PARKED), ack: AtomicU64::new(0) }))
            .collect(),
    });
    let shared =
        Arc::new(Shared { tables: UnsafeCell::new(tables), request: CachePadded::new(AtomicBool::new(false)), grace });
    let ws =
        (0..workers).map(|index| WorkerBarrier { shared: shared.clone(), index, running: false, seen: 0 }).collect();
    let main = MainBarrier { shared, stats: BarrierStats::default() };
    (main, ws)
}

impl<T: Send + Sync> MainBarrier<T> {
    /// Read the tables; they only change under a guard, which needs `&mut self`.
    pub fn tables(&self) -> &T {
        // SAFETY: the only `&mut T` is made by `BarrierGuard`, which borrows
        // `self` mutably, so it cannot coexist with this `&T` (tied to
        // `&self`). Workers only ever make `&T`. There is one `MainBarrier`.
        unsafe { &*self.shared.tables.get() }
    }

    /// Park every worker at the top of its loop and return exclusive access to the tables.
    pub fn sync(&mut self) -> BarrierGuard<'_, T> {
        let start = Instant::now();
        // SeqCst: first half of the Dekker pair (store request, then load
        // each state). See `WorkerBarrier::enter`.
        self.shared.request.store(true, Ordering::SeqCst);
        for slot in self.shared.grace.slots.iter() {
            let state = &slot.state;
            let backoff = Backoff::new();
            // SeqCst load: pairs with the worker's SeqCst "store RUNNING,
            // load request". Also Acquire: the worker's earlier reads of the
            // tables happen before our writes through the guard.
            while state.load(Ordering::SeqCst) == RUNNING {
                backoff.snooze();
            }
        }
        // A worker seen not running stays out: it re-enters only through
        // `enter`, which will see `request` set and keep waiting.
        let wait = duration_ns(start.elapsed());
        self.stats.syncs += 1;
        self.stats.last_wait_ns = wait;
        self.stats.max_wait_ns = self.stats.max_wait_ns.max(wait);
        self.stats.wait_ns_total = self.stats.wait_ns_total.saturating_add(wait);
        self.stats.wait_histogram[WAIT_BUCKETS_NS.partition_point(|&b| b < wait)] += 1;
        BarrierGuard { main: self, since: Instant::now() }
    }

    /// Counters about past syncs.
    pub fn stats(&self) -> BarrierStats {
        self.stats
    }

    /// Number of workers this barrier was made for (exited ones included).
    pub fn workers(&self) -> usize {
        self.shared.grace.slots.len()
    }

    /// Number of workers whose `WorkerBarrier` has been dropped.
    pub fn exited_workers(&self) -> usize {
        self.shared.grace.slots.iter().filter(|s| s.state.load(Ordering::Relaxed) == EXITED).count()
    }

    /// A handle that waits for the workers to finish their current loop
    /// iteration without stopping them (see [`GracePeriod`]).
    pub fn grace_period(&self) -> GracePeriod {
        GracePeriod { g: self.shared.grace.clone() }
    }
}

impl<T: Send + Sync> BarrierGuard<'_, T> {
    /// How long the workers have been held so far.
    pub fn held_for(&self) -> Duration {
        self.since.elapsed()
    }
}

impl<T: Send + Sync> Deref for BarrierGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: see `deref_mut`; a shared borrow of the guard is weaker.
        unsafe { &*self.main.shared.tables.get() }
    }
}

impl<T: Send + Sync> DerefMut for BarrierGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard exists only between `sync` (which saw every
        // worker parked, asleep or exited after setting `request`) and its
        // drop (which clears `request`). While `request` is set no worker
        // can become RUNNING (the Dekker handshake in `WorkerBarrier::enter`),
        // and a non-running worker holds no `&T` (`poll` lends it only until
        // the next `&mut self` call). The main thread's own `&T` from
        // `tables()` cannot coexist with the guard, which borrows the
        // `MainBarrier` mutably. So this is the only reference to the tables.
        unsafe { &mut *self.main.shared.tables.get() }
    }
}

impl<T: Send + Sync> Drop for BarrierGuard<'_, T> {
    fn drop(&mut self) {
        let held = duration_ns(self.since.elapsed());
        let stats = &mut self.main.stats;
        stats.last_hold_ns = held;
        stats.max_hold_ns = stats.max_hold_ns.max(held);
        // Release: our writes to the tables happen before a worker's reads
        // once it has seen the flag clear.
        self.main.shared.request.store(false, Ordering::Release);
    }
}

impl<T: Send + Sync> WorkerBarrier<T> {
    /// Call at the top of each loop iteration: parks while a barrier is requested, then lends the tables.
    pub fn poll(&mut self) -> &T {
        // Relaxed is enough on this fast path: while our state is RUNNING
        // main cannot get a guard, so a stale `false` only delays parking by
        // one iteration; the park/enter path below does the ordering.
        if self.running && self.shared.request.load(Ordering::Relaxed) {
            self.leave(PARKED);
        }
        if !self.running {
            self.enter();
        } else {
            // One Acquire load per loop: a grace period asks us to say that
            // we are between iterations (see `GracePeriod::synchronize`).
            let e = self.shared.grace.epoch.load(Ordering::Acquire);
            if e != self.seen {
                self.ack(e);
            }
        }
        // SAFETY: we are RUNNING and `enter` saw `request` clear after
        // publishing that (SeqCst pair), so no guard exists now and none can
        // be made until we leave RUNNING, which needs `&mut self`, i.e. the
        // end of this borrow. The Acquire in `enter` makes main's last writes
        // visible.
        unsafe { &*self.shared.tables.get() }
    }

    /// Sleep for `d` as this worker's idle mode, counting as parked; returns once no barrier is held.
    pub fn idle_sleep(&mut self, d: Duration) {
        self.leave(ASLEEP);
        std::thread::sleep(d);
        self.enter();
    }

    /// This worker's index (0-based, as handed out by [`barrier`]).
    pub fn index(&self) -> usize {
        self.index
    }

    /// Stop reading the tables and say so with `state`.
    fn leave(&mut self, state: u8) {
        self.running = false;
        // Release (SeqCst is stronger): our reads of the tables happen
        // before main's writes once it has seen this store.
        self.shared.grace.slots[self.index].state.store(state, Ordering::SeqCst);
    }

    /// Tell a waiting grace period that we have passed the top of our loop
    /// after seeing epoch `e`: everything we did before happens before its
    /// end (Release), and everything after sees what it published (the
    /// Acquire load that read `e`).
    fn ack(&mut self, e: u64) {
        self.seen = e;
        self.shared.grace.slots[self.index].ack.store(e, Ordering::Release);
    }

    /// Become RUNNING, waiting while a barrier is requested or held.
    fn enter(&mut self) {
        let me = &self.shared.grace.slots[self.index].state;
        let backoff = Backoff::new();
        loop {
            while self.shared.request.load(Ordering::Acquire) {
                backoff.snooze();
            }
            // SeqCst: second half of the Dekker pair (store state, then load
            // request). In the single total order either main's request store
            // comes first, and we see it below and step back out, or our
            // RUNNING store comes first, and main's state load sees RUNNING
            // and waits for us to park. Weaker orderings would let both loads
            // read the old values and both sides touch the tables.
            me.store(RUNNING, Ordering::SeqCst);
            if !self.shared.request.load(Ordering::SeqCst) {
                self.running = true;
                // SeqCst: a grace period that saw us not running (its SeqCst
                // epoch bump, then its SeqCst state load) precedes our
                // RUNNING store in the total order, so this load sees its
                // epoch and we see what it published before the bump.
                let e = self.shared.grace.epoch.load(Ordering::SeqCst);
                self.ack(e);
                return;
            }
            me.store(PARKED, Ordering::SeqCst);
        }
    }
}

impl<T: Send + Sync> Drop for WorkerBarrier<T> {
    fn drop(&mut self) {
        // No borrow of the tables can outlive `self`, so we are outside them.
        self.shared.grace.slots[self.index].state.store(EXITED, Ordering::SeqCst);
    }
}

/// Waits until every worker has finished the loop iteration it was in,
/// without parking anyone: an RCU-style grace period over the poll loop.
///
/// A thread that wants the workers to stop touching something (a port whose
/// memory is about to go away) first publishes that (e.g. closes the port's
/// gate), then calls [`GracePeriod::synchronize`]. When it returns, every
/// worker has either acknowledged the new epoch at the top of its loop (so
/// the iteration that might have used the old state is over, and the next
/// ones see the new state), or was parked, asleep or exited (outside its
/// loop, and it re-reads the epoch with SeqCst when it comes back). Unlike
/// [`MainBarrier::sync`] this works from any thread (DPDK's callback threads
/// included) and costs the workers one Acquire load per loop iteration. It
/// never waits for the main thread: a worker parked at the barrier counts as
/// done.
#[derive(Clone)]
pub struct GracePeriod {
    g: Arc<GraceShared>,
}

impl GracePeriod {
    /// Wait until no worker is still in a loop iteration that began before this call.
    pub fn synchronize(&self) {
        // SeqCst: pairs with a worker's SeqCst "store RUNNING, load epoch"
        // in `enter`. Release: what we published before reaches a worker
        // whose Acquire load reads this epoch.
        let e = self.g.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        for slot in self.g.slots.iter() {
            let backoff = Backoff::new();
            let start = Instant::now();
            loop {
                if slot.state.load(Ordering::SeqCst) != RUNNING || slot.ack.load(Ordering::Acquire) >= e {
                    break;
                }
                // A worker's iteration is short, but on a loaded machine its
                // thread may be descheduled: stop burning the core after a while.
                if backoff.is_completed() && start.elapsed() > Duration::from_millis(1) {
                    std::thread::sleep(Duration::from_micros(50));
                } else {
                    backoff.snooze();
                }
            }
        }
    }

    /// Number of workers covered.
    pub fn workers(&self) -> usize {
        self.g.slots.len()
    }
}

impl std::fmt::Debug for GracePeriod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GracePeriod").field("workers", &self.workers()).finish()
    }
}

impl<T: Send + Sync> std::fmt::Debug for MainBarrier<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MainBarrier").field("workers", &self.workers()).field("stats", &self.stats).finish()
    }
}

impl<T: Send + Sync> std::fmt::Debug for WorkerBarrier<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerBarrier").field("index", &self.index).field("running", &self.running).finish()
    }
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod test {
    use super::*;
    use std::sync::atomic::AtomicU64;
    use std::thread;

    /// Tables with an invariant main keeps only under the guard: `a == b`.
    #[derive(Default)]
    struct Tables {
        a: u64,
        b: u64,
        log: Vec<u64>,
    }

    /// Spin (yielding) until `cond` holds; panics after a generous deadline
    /// so a broken barrier fails instead of hanging the test run.
    fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            thread::yield_now();
        }
    }

    fn snapshot(iters: &[AtomicU64]) -> Vec<u64> {
        iters.iter().map(|c| c.load(Ordering::SeqCst)).collect()
    }

    /// Start one thread per worker running `body(worker, iterations counter, stop)`.
    fn spawn_workers(
        workers: Vec<WorkerBarrier<Tables>>,
        iters: &Arc<Vec<AtomicU64>>,
        stop: &Arc<AtomicBool>,
        body: fn(&mut WorkerBarrier<Tables>, &AtomicU64, &AtomicBool),
    ) -> Vec<thread::JoinHandle<()>> {
        workers
            .into_iter()
            .map(|mut w| {
                let iters = iters.clone();
                let stop = stop.clone();
                thread::spawn(move || {
                    let i = w.index();
                    body(&mut w, &iters[i], &stop)
                })
            })
            .collect()
    }

    fn spin_loop(w: &mut WorkerBarrier<Tables>, it: &AtomicU64, stop: &AtomicBool) {
        loop {
            let t = w.poll();
            assert_eq!(t.a, t.b, "torn read: worker ran while main held the guard");
            assert_eq!(t.log.len() as u64, t.a);
            it.fetch_add(1, Ordering::SeqCst);
            if stop.load(Ordering::Relaxed) {
                break;
            }
        }
    }

    #[test]
    fn barrier_no_worker_runs_while_held() {
        const WORKERS: usize = 4;
        let (mut main, workers) = barrier(Tables::default(), WORKERS);
        let iters = Arc::new((0..WORKERS).map(|_| AtomicU64::new(0)).collect::<Vec<_>>());
        let stop = Arc::new(AtomicBool::new(false));
        let threads = spawn_workers(workers, &iters, &stop, spin_loop);
        for round in 0..200u64 {
            // Let every worker run at least one iteration between syncs, so
            // each sync really interrupts running workers.
            let before = snapshot(&iters);
            wait_until("workers to run", || snapshot(&iters).iter().zip(&before).all(|(n, b)| n > b));
            let mut g = main.sync();
            let parked = snapshot(&iters);
            thread::sleep(Duration::from_millis(2));
            assert_eq!(snapshot(&iters), parked, "a worker moved while parked");
            // Break the invariant for a while: a worker reading now would see it.
            g.a += 1;
            thread::yield_now();
            assert_eq!(snapshot(&iters), parked, "a worker moved while parked");
            g.log.push(round);
            g.b += 1;
            drop(g);
        }
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().expect("worker panicked");
        }
        let t = main.tables();
        assert_eq!((t.a, t.b, t.log.len()), (200, 200, 200));
        assert!(t.log.iter().copied().eq(0..200));
        let st = main.stats();
        assert_eq!(st.syncs, 200);
        assert!(st.max_wait_ns >= st.last_wait_ns);
        assert_eq!(st.wait_histogram.iter().sum::<u64>(), 200, "every sync is in one wait bucket");
        assert!(st.wait_ns_total >= st.max_wait_ns);
    }

    #[test]
    fn barrier_sync_does_not_wait_for_sleeping_workers() {
        const WORKERS: usize = 3;
        /// Sleeping workers wake only when this passes the number of sleeps
        /// they have had, so "asleep" lasts exactly as long as the test says:
        /// no timing decides the outcome.
        static WAKE: AtomicU64 = AtomicU64::new(0);
        fn gated_sleepy_loop(w: &mut WorkerBarrier<Tables>, it: &AtomicU64, stop: &AtomicBool) {
            let mut sleeps = 0;
            loop {
                let t = w.poll();
                assert_eq!(t.a, t.b, "torn read after idle sleep");
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                // What `idle_sleep` does, with the sleep replaced by the gate.
                w.leave(ASLEEP);
                it.fetch_add(1, Ordering::SeqCst);
                sleeps += 1;
                while WAKE.load(Ordering::SeqCst) < sleeps && !stop.load(Ordering::SeqCst) {
                    thread::yield_now();
                }
                w.enter();
            }
        }
        let (mut main, workers) = barrier(Tables::default(), WORKERS);
        let iters = Arc::new((0..WORKERS).map(|_| AtomicU64::new(0)).collect::<Vec<_>>());
        let stop = Arc::new(AtomicBool::new(false));
        let threads = spawn_workers(workers, &iters, &stop, gated_sleepy_loop);
        // Main's side runs on its own thread so that a barrier which waits
        // for sleepers fails the test (after a generous deadline) instead
        // of hanging it.
        let (to_main, main_rx) = std::sync::mpsc::channel::<()>();
        let (main_tx, from_main) = std::sync::mpsc::channel::<()>();
        let driver = thread::spawn(move || {
            for _ in 0..2 {
                if main_rx.recv().is_err() {
                    return main;
                }
                {
                    let mut g = main.sync();
                    let _ = main_tx.send(());
                    let _ = main_rx.recv();
                    g.a += 1;
                    g.b += 1;
                }
                let _ = main_tx.send(());
            }
            main
        });
        for round in 1..=2u64 {
            // Every worker has gone to sleep `round` times and sleeps until woken.
            wait_until("workers to sleep", || snapshot(&iters).iter().all(|&n| n == round));
            to_main.send(()).unwrap();
            if from_main.recv_timeout(Duration::from_secs(60)).is_err() {
                panic!("sync waited for sleeping workers");
            }
            // Wake them while the guard is held: they must park, not run.
            WAKE.store(round, Ordering::SeqCst);
            thread::sleep(Duration::from_millis(50));
            assert_eq!(snapshot(&iters), vec![round; WORKERS], "a worker woke and ran under the barrier");
            to_main.send(()).unwrap();
            from_main.recv().unwrap();
        }
        let main = driver.join().unwrap();
        wait_until("workers to sleep again", || snapshot(&iters).iter().all(|&n| n == 3));
        stop.store(true, Ordering::SeqCst);
        for t in threads {
            t.join().expect("worker panicked");
        }
        assert_eq!(main.tables().a, 2);
    }

    #[test]
    fn barrier_exited_worker_does_not_block_sync() {
        let (mut main, mut workers) = barrier(Tables::default(), 3);
        // Worker 2: dropped without ever polling.
        drop(workers.pop());
        // Worker 1: runs a few iterations on its thread, then exits.
        let w1 = workers.pop().unwrap();
        thread::spawn(move || {
            let mut w1 = w1;
            for _ in 0..10 {
                let _ = w1.poll().a;
            }
        })
        .join()
        .unwrap();
        // Worker 0: still running.
        let iters = Arc::new(vec![AtomicU64::new(0)]);
        let stop = Arc::new(AtomicBool::new(false));
        let threads = spawn_workers(workers, &iters, &stop, spin_loop);
        assert_eq!(main.exited_workers(), 2);
        for _ in 0..10 {
            let mut g = main.sync();
            g.a += 1;
            g.log.push(0);
            g.b += 1;
        }
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().expect("worker panicked");
        }
        // Everyone has exited now.
        assert_eq!(main.exited_workers(), 3);
        main.sync().a += 1;
        assert_eq!(main.stats().syncs, 11);
    }

    #[test]
    fn barrier_unstarted_worker_waits_for_release_on_first_poll() {
        let (mut main, mut workers) = barrier(Tables::default(), 1);
        let w = workers.pop().unwrap();
        let entered = Arc::new(AtomicBool::new(false));
        // A worker that has not polled yet does not block sync...
        let mut g = main.sync();
        let e = entered.clone();
        let h = thread::spawn(move || {
            let mut w = w;
            let a = w.poll().a;
            e.store(true, Ordering::SeqCst);
            a
        });
        // ...and its first poll waits until the guard is gone.
        thread::sleep(Duration::from_millis(20));
        assert!(!entered.load(Ordering::SeqCst));
        g.a = 7;
        g.b = 7;
        drop(g);
        assert_eq!(h.join().unwrap(), 7);
        assert!(entered.load(Ordering::SeqCst));
    }

    #[test]
    fn grace_period_waits_for_iterations_in_progress() {
        const WORKERS: usize = 3;
        /// What the workers may touch while `open` is set: a poisoned value
        /// stands for memory that has gone away.
        static OPEN: AtomicBool = AtomicBool::new(false);
        static VALUE: AtomicU64 = AtomicU64::new(0);
        static INSIDE: AtomicU64 = AtomicU64::new(0);
        const POISON: u64 = u64::MAX;
        fn user_loop(w: &mut WorkerBarrier<Tables>, it: &AtomicU64, stop: &AtomicBool) {
            let mut round = 0u64;
            loop {
                let _ = w.poll();
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                // The gate is read once per iteration, like a port's per burst.
                if OPEN.load(Ordering::Acquire) {
                    INSIDE.fetch_add(1, Ordering::SeqCst);
                    for _ in 0..50 {
                        assert_ne!(VALUE.load(Ordering::Relaxed), POISON, "used after the grace period");
                        std::hint::spin_loop();
                    }
                    INSIDE.fetch_sub(1, Ordering::SeqCst);
                }
                it.fetch_add(1, Ordering::SeqCst);
                round += 1;
                // Some iterations end asleep, as the idle mode does.
                if round.is_multiple_of(7) {
                    w.idle_sleep(Duration::from_micros(20));
                }
            }
        }
        let (mut main, workers) = barrier(Tables::default(), WORKERS);
        let grace = main.grace_period();
        let iters = Arc::new((0..WORKERS).map(|_| AtomicU64::new(0)).collect::<Vec<_>>());
        let stop = Arc::new(AtomicBool::new(false));
        let threads = spawn_workers(workers, &iters, &stop, user_loop);
        // Another thread (not main) runs the grace periods, as a DPDK
        // callback thread would, while main keeps syncing the barrier.
        let closer = thread::spawn(move || {
            for round in 0..300u64 {
                VALUE.store(round, Ordering::Relaxed);
                OPEN.store(true, Ordering::Release);
                thread::yield_now();
                OPEN.store(false, Ordering::Relaxed);
                grace.synchronize();
                assert_eq!(INSIDE.load(Ordering::SeqCst), 0, "a worker is still inside after the grace period");
                VALUE.store(POISON, Ordering::Relaxed);
                thread::yield_now();
            }
        });
        while !closer.is_finished() {
            let mut g = main.sync();
            g.a += 1;
            g.b += 1;
            drop(g);
            thread::sleep(Duration::from_micros(200));
        }
        closer.join().expect("closer panicked");
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().expect("worker panicked");
        }
        assert!(snapshot(&iters).iter().all(|&n| n > 0));
    }

    #[test]
    fn grace_period_with_no_running_worker_returns() {
        let (main, workers) = barrier(Tables::default(), 2);
        let g = main.grace_period();
        g.synchronize();
        drop(workers);
        g.synchronize();
        assert_eq!(g.workers(), 2);
    }

    #[test]
    fn barrier_handles_are_send() {
        fn send<S: Send>() {}
        send::<MainBarrier<Vec<u32>>>();
        send::<WorkerBarrier<Vec<u32>>>();
    }

    #[test]
    fn barrier_zero_workers() {
        let (mut main, workers) = barrier(5u32, 0);
        assert!(workers.is_empty());
        assert_eq!(main.workers(), 0);
        *main.sync() += 1;
        assert_eq!(*main.tables(), 6);
    }
}
