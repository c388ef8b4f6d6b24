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

use smallvec::SmallVec;

use crate::device::PortL3;
use crate::eal::rdtsc;
use crate::mbuf::{Burst, Mbuf, BURST};
use net::control::barrier::WorkerBarrier;
use net::control::rpc::RpcReceiver;
use net::control::worker::{now_ns, LoopCounter, RuntimeCounter, Tables, WorkerState};
use net::l3::{Ip4Delivery, Ip6Delivery};
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
///
/// Each stage boundary reads the TSC once (not per packet) for `show
/// runtime`: L2/L3 input runs over the whole burst before transport input
/// takes the deliveries, so the two are timed apart, VPP-style.
pub fn run<S: Stack<PortL3>>(
    mut barrier: WorkerBarrier<Tables<S::Shared>>,
    mut rpcs: RpcReceiver<WorkerState<PortL3, S>>,
    mut state: WorkerState<PortL3, S>,
    stop: Arc<AtomicBool>,
    idle: IdleConfig,
) -> WorkerState<PortL3, S> {
    use RuntimeCounter as R;
    let mut rx = Burst::default();
    let mut delivered: SmallVec<[Ip4Delivery<Mbuf>; BURST]> = SmallVec::new();
    let mut delivered6: SmallVec<[Ip6Delivery<Mbuf>; BURST]> = SmallVec::new();
    let mut empty_polls = 0u32;
    let mut next_timer = 0u64;
    let rt = state.runtime.clone();
    // TSC reads: the iteration's start (the last one's end), before rx,
    // three per burst with packets, before tx and the end; an iteration
    // that found nothing reads only before rx and at the end.
    let mut t = rdtsc();
    loop {
        let start = t;
        let tables = barrier.poll();
        if stop.load(Ordering::Relaxed) {
            break;
        }
        state.io.now_ns = now_ns();
        let mut work = rpcs.run_pending(&mut state, RPCS_PER_LOOP);
        work += state.io.run_deferred(&tables.net);
        let (mut c_rx, mut c_l3, mut c_tp) = (0, 0, 0);
        t = rdtsc();
        let rx_start = t;
        for iface in 0..state.io.interfaces() {
            let n = state.io.rx(iface, &mut rx);
            if n == 0 {
                continue;
            }
            let t1 = rdtsc();
            work += n;
            rt.inc(R::RxBursts);
            rt.inc(R::vector_bucket(n));
            if n == 1 {
                // One packet: no need to hold it between the two stages.
                let mut t2 = t1;
                if let Some(m) = rx.drain().next() {
                    let d4 = state.io.input(&tables.net, iface, m);
                    t2 = rdtsc();
                    if let Some(d) = d4 {
                        state.stack.ip4_input(&mut state.io, &tables.net, &tables.upper, d);
                    } else if let Some(d) = state.io.take_ip6_delivery() {
                        state.stack.ip6_input(&mut state.io, &tables.net, &tables.upper, d);
                    } else if let Some(d) = state.io.take_large_delivery() {
                        state.stack.large_input(&mut state.io, &tables.net, &tables.upper, &d);
                        state.io.large_delivery_done(d);
                    }
                }
                let t3 = rdtsc();
                (c_rx, c_l3, c_tp) =
                    (c_rx + t1.saturating_sub(t), c_l3 + t2.saturating_sub(t1), c_tp + t3.saturating_sub(t2));
                t = t3;
                continue;
            }
            for m in rx.drain() {
                if let Some(d) = state.io.input(&tables.net, iface, m) {
                    delivered.push(d);
                } else if let Some(d) = state.io.take_ip6_delivery() {
                    delivered6.push(d);
                } else if let Some(d) = state.io.take_large_delivery() {
                    // Rare (a reassembled UDP datagram over one buffer, in
                    // the worker's heap copy, which the next one reuses):
                    // what came before it goes up first, then it.
                    state.stack.ip4_input_burst(&mut state.io, &tables.net, &tables.upper, delivered.drain(..));
                    for d in delivered6.drain(..) {
                        state.stack.ip6_input(&mut state.io, &tables.net, &tables.upper, d);
                    }
                    state.stack.large_input(&mut state.io, &tables.net, &tables.upper, &d);
                    state.io.large_delivery_done(d);
                }
            }
            let t2 = rdtsc();
            state.stack.ip4_input_burst(&mut state.io, &tables.net, &tables.upper, delivered.drain(..));
            for d in delivered6.drain(..) {
                state.stack.ip6_input(&mut state.io, &tables.net, &tables.upper, d);
            }
            let t3 = rdtsc();
            (c_rx, c_l3, c_tp) =
                (c_rx + t1.saturating_sub(t), c_l3 + t2.saturating_sub(t1), c_tp + t3.saturating_sub(t2));
            t = t3;
        }
        let rx_end = t;
        work += state.stack.poll(&mut state.io, &tables.net, &tables.upper);
        if state.io.now_ns >= next_timer {
            state.io.timers(&tables.net);
            next_timer = state.io.now_ns + TIMER_PERIOD_NS;
        }
        if work == 0 {
            state.io.flush();
            let end = rdtsc();
            rt.inc(R::EmptyLoops);
            rt.add(R::PollCycles, end.saturating_sub(start));
            t = end;
            empty_polls = empty_polls.saturating_add(1);
            if let IdleMode::Sleep(d) = idle.mode {
                if empty_polls >= idle.after_empty_polls {
                    state.loop_counters.inc(LoopCounter::IdleSleeps);
                    barrier.idle_sleep(d);
                    t = rdtsc();
                    rt.add(R::SleepCycles, t.saturating_sub(end));
                }
            }
            continue;
        }
        empty_polls = 0;
        let t_tx = rdtsc();
        state.io.flush();
        let end = rdtsc();
        rt.inc(R::WorkLoops);
        rt.add(R::RxCycles, c_rx);
        rt.add(R::L3Cycles, c_l3);
        rt.add(R::TransportCycles, c_tp);
        rt.add(R::SessionCycles, t_tx.saturating_sub(rx_end));
        rt.add(R::TxCycles, end.saturating_sub(t_tx));
        rt.add(R::OtherCycles, rx_start.saturating_sub(start));
        t = end;
    }
    state
}
