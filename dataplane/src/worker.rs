//! The per-core poll loop.
//!
//! Each worker is a Rust thread pinned to one core and registered with the
//! EAL. Its loop: park at the barrier if the main thread asks, run RPCs
//! shipped to it, then for every interface rx a burst, parse and dispatch
//! each packet (L2/L3 in `net::l3`, UDP/TCP to the `net::seam::Stack`), let the
//! stack do its own work (timers, application data), run periodic L2/L3
//! timers, and flush the tx batches. When a full loop finds nothing to do for
//! `idle.after_empty_polls` iterations in a row, [`IdleMode::Sleep`] sleeps
//! (counting as parked for the barrier) so a worker does not starve a kernel
//! peer sharing the machine.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::device::PortL3;
use crate::mbuf::Burst;
use net::control::barrier::WorkerBarrier;
use net::control::rpc::RpcReceiver;
use net::control::worker::{now_ns, LoopCounter, Tables, WorkerState};
use net::seam::Stack;

/// What a worker does when it has nothing to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleMode {
    /// Keep polling (lowest latency, one core at 100%).
    Poll,
    /// Sleep for the given time after a run of empty polls.
    Sleep(Duration),
}

/// Idle behaviour of a worker.
#[derive(Debug, Clone, Copy)]
pub struct IdleConfig {
    /// Poll or sleep.
    pub mode: IdleMode,
    /// Consecutive empty loop iterations before sleeping.
    pub after_empty_polls: u32,
}

impl Default for IdleConfig {
    fn default() -> Self {
        IdleConfig { mode: IdleMode::Sleep(Duration::from_micros(100)), after_empty_polls: 256 }
    }
}

/// How often L2/L3 timers run.
const TIMER_PERIOD_NS: u64 = 10_000_000;
/// RPCs run per loop iteration at most.
const RPCS_PER_LOOP: usize = 16;

/// Run the poll loop until `stop` is set.
pub fn run<S: Stack<PortL3>>(
    mut barrier: WorkerBarrier<Tables<S::Shared>>,
    mut rpcs: RpcReceiver<WorkerState<PortL3, S>>,
    mut state: WorkerState<PortL3, S>,
    stop: Arc<AtomicBool>,
    idle: IdleConfig,
) -> WorkerState<PortL3, S> {
    let mut rx = Burst::default();
    let mut empty_polls = 0u32;
    let mut next_timer = 0u64;
    loop {
        let tables = barrier.poll();
        if stop.load(Ordering::Relaxed) {
            break;
        }
        state.io.now_ns = now_ns();
        let mut work = rpcs.run_pending(&mut state, RPCS_PER_LOOP);
        work += state.io.run_deferred(&tables.net);
        for iface in 0..state.io.interfaces() {
            let n = state.io.rx(iface, &mut rx);
            if n == 0 {
                continue;
            }
            work += n;
            for m in rx.drain() {
                net::seam::input(&mut state.io, &tables.net, iface, m, &mut state.stack, &tables.upper);
            }
        }
        work += state.stack.poll(&mut state.io, &tables.net, &tables.upper);
        if state.io.now_ns >= next_timer {
            state.io.timers(&tables.net);
            next_timer = state.io.now_ns + TIMER_PERIOD_NS;
        }
        state.io.flush();
        if work > 0 {
            empty_polls = 0;
            continue;
        }
        empty_polls = empty_polls.saturating_add(1);
        if let IdleMode::Sleep(d) = idle.mode {
            if empty_polls >= idle.after_empty_polls {
                state.loop_counters.inc(LoopCounter::IdleSleeps);
                barrier.idle_sleep(d);
            }
        }
    }
    state
}
