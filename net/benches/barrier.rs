//! What a control operation costs the data plane: one barrier `sync()` plus
//! release, with 1, 2 and 4 worker threads spinning on `poll()`.
//!
//! Workers never idle-sleep here, so the figure is the pure handshake cost
//! (plus scheduling when workers outnumber cores: on a 2-core machine the
//! 4-worker case is oversubscribed on purpose, to show what a descheduled
//! worker does to the main thread's wait).
//!
//! Two groups: `running` waits (untimed) until every worker has run a loop
//! iteration since the last release, then times `sync()` + drop, the case a
//! control operation meets in a live node; `back_to_back` syncs again at
//! once, when workers have usually not left the barrier yet, which is the
//! cost of a burst of control operations.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use crossbeam_utils::{Backoff, CachePadded};
use net::control::barrier::{barrier, MainBarrier};

/// Tables big enough that reading them is not free, small enough to stay cached.
struct Tables {
    generation: u64,
    routes: Vec<u32>,
}

/// Worker threads spinning on `poll()`, each counting its loop iterations.
struct Workers {
    main: MainBarrier<Tables>,
    iters: Arc<Vec<CachePadded<AtomicU64>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Workers {
    fn start(n: usize) -> Workers {
        let tables = Tables { generation: 0, routes: (0..64).collect() };
        let (main, wbs) = barrier(tables, n);
        let iters: Arc<Vec<_>> = Arc::new((0..n).map(|_| CachePadded::new(AtomicU64::new(0))).collect());
        let stop = Arc::new(AtomicBool::new(false));
        let threads = wbs
            .into_iter()
            .map(|mut w| {
                let stop = stop.clone();
                let iters = iters.clone();
                thread::spawn(move || {
                    let me = &iters[w.index()];
                    loop {
                        let t = w.poll();
                        black_box(t.routes[(t.generation as usize) % t.routes.len()]);
                        me.store(me.load(Ordering::Relaxed) + 1, Ordering::Release);
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                })
            })
            .collect();
        Workers { main, iters, stop, threads }
    }

    /// Wait until every worker has run at least one iteration after this call.
    fn wait_all_ran(&self) {
        for c in self.iters.iter() {
            let start = c.load(Ordering::Acquire);
            let backoff = Backoff::new();
            while c.load(Ordering::Acquire) == start {
                backoff.snooze();
            }
        }
    }

    fn stop(self, label: &str) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().expect("worker panicked");
        }
        let st = self.main.stats();
        println!(
            "  {label}, {} workers: {} syncs, max wait {} ns, max hold {} ns",
            self.iters.len(),
            st.syncs,
            st.max_wait_ns,
            st.max_hold_ns
        );
    }
}

fn bench_sync(c: &mut Criterion) {
    let mut group = c.benchmark_group("barrier_sync_release/running");
    group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_millis(2500));
    for n in [1usize, 2, 4] {
        let mut w = Workers::start(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    w.wait_all_ran();
                    let start = Instant::now();
                    let mut g = w.main.sync();
                    g.generation += 1;
                    drop(g);
                    timed += start.elapsed();
                }
                timed
            })
        });
        w.stop("running");
    }
    group.finish();

    let mut group = c.benchmark_group("barrier_sync_release/back_to_back");
    group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_millis(2500));
    for n in [1usize, 2, 4] {
        let mut w = Workers::start(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                let mut g = w.main.sync();
                g.generation += 1;
            })
        });
        w.stop("back_to_back");
    }
    group.finish();
}

criterion_group!(benches, bench_sync);
criterion_main!(benches);
