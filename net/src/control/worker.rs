//! What a data-plane worker is made of, independent of the device under it:
//! the tables the barrier protects ([`Tables`]), the worker's own state that
//! RPCs from the main thread run against ([`WorkerState`]), the poll loop's
//! counters and the monotonic clock the loop reads ([`now_ns`]). The DPDK
//! layer's poll loop and the session layer name these; neither needs the
//! other for them.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use crate::seam::{Seam, Stack};
use crate::tables::NetTables;

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Monotonic nanoseconds since the first call in this process.
#[inline]
pub fn now_ns() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

counters::counters! {
    /// What the poll loop itself counts.
    pub enum LoopCounter {
        IdleSleeps => ("idle sleeps", false),
    }
}

/// One worker's [`LoopCounter`]s.
pub type LoopCounters = counters::AtomicCounters<LoopCounter, { LoopCounter::COUNT }>;

/// Everything the barrier protects: L2/L3 tables plus the stack's.
pub struct Tables<U> {
    /// Interfaces, routes, pings.
    pub net: NetTables,
    /// The transport layer's shared tables.
    pub upper: U,
}

/// A worker's own state over L2/L3 `Io`; RPCs from the main thread run against it.
pub struct WorkerState<Io: Seam, S: Stack<Io>> {
    /// L2/L3 state.
    pub io: Io,
    /// The transport stack's per-worker state.
    pub stack: S,
    /// This worker's poll-loop counters.
    pub loop_counters: Arc<LoopCounters>,
}
