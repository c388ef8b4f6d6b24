//! What a data-plane worker is made of, independent of the device under it:
//! the tables the barrier protects ([`Tables`]), the worker's own state that
//! RPCs from the main thread run against ([`WorkerState`]), the poll loop's
//! counters, where its time goes ([`RuntimeCounter`], for `show runtime`) and
//! the monotonic clock the loop reads ([`now_ns`]). The DPDK
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

counters::counters! {
    /// Where the poll loop's time goes (`show runtime`), in TSC cycles read
    /// once per stage per burst. A loop iteration that did work adds its
    /// stages' cycles; one that found nothing adds its whole time to
    /// [`RuntimeCounter::PollCycles`]; idle sleep adds to
    /// [`RuntimeCounter::SleepCycles`]. The sum of the cycle counters is the
    /// worker's elapsed time.
    pub enum RuntimeCounter {
        /// Loop iterations that did some work.
        WorkLoops => ("loops with work", false),
        /// Loop iterations that found nothing to do.
        EmptyLoops => ("empty loops", false),
        /// Rx calls that returned packets.
        RxBursts => ("rx bursts", false),
        /// Rx calls of working iterations (up to the last burst with packets).
        RxCycles => ("rx cycles", false),
        /// L2/L3 input (Ethernet, ARP, IP, ICMP) of the bursts.
        L3Cycles => ("l2/l3 input cycles", false),
        /// Transport (UDP/TCP) input of the deliveries.
        TransportCycles => ("transport input cycles", false),
        /// The stack's own work (session delivery, transport timers, builtin
        /// and external apps), then the L2/L3 timers.
        SessionCycles => ("session and apps cycles", false),
        /// Flushing the tx batches.
        TxCycles => ("tx cycles", false),
        /// The start of a working iteration: barrier, RPCs, deferred work.
        OtherCycles => ("other cycles", false),
        /// Iterations that found nothing to do.
        PollCycles => ("empty poll cycles", false),
        /// Idle sleep.
        SleepCycles => ("sleep cycles", false),
        /// Bursts of 1 packet.
        Vector1 => ("vectors of 1", false),
        /// Bursts of 2-3.
        Vector2 => ("vectors of 2-3", false),
        /// Bursts of 4-7.
        Vector4 => ("vectors of 4-7", false),
        /// Bursts of 8-15.
        Vector8 => ("vectors of 8-15", false),
        /// Bursts of 16-31.
        Vector16 => ("vectors of 16-31", false),
        /// Bursts of 32-63.
        Vector32 => ("vectors of 32-63", false),
        /// Bursts of 64 or more.
        Vector64 => ("vectors of 64+", false),
    }
}

impl RuntimeCounter {
    /// The histogram bucket of a burst of `n` (> 0) packets: powers of two up to 64.
    #[inline]
    pub fn vector_bucket(n: usize) -> RuntimeCounter {
        const BUCKETS: [RuntimeCounter; 7] = [
            RuntimeCounter::Vector1,
            RuntimeCounter::Vector2,
            RuntimeCounter::Vector4,
            RuntimeCounter::Vector8,
            RuntimeCounter::Vector16,
            RuntimeCounter::Vector32,
            RuntimeCounter::Vector64,
        ];
        BUCKETS[(n.max(1).ilog2() as usize).min(BUCKETS.len() - 1)]
    }
}

/// One worker's [`RuntimeCounter`]s.
pub type RuntimeCounters = counters::AtomicCounters<RuntimeCounter, { RuntimeCounter::COUNT }>;

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
    /// Where this worker's loop spends its time.
    pub runtime: Arc<RuntimeCounters>,
}

#[cfg(test)]
mod test {
    use super::RuntimeCounter as R;

    #[test]
    fn vector_buckets_are_powers_of_two() {
        let cases = [(1, R::Vector1), (2, R::Vector2), (3, R::Vector2), (4, R::Vector4), (31, R::Vector16)];
        for (n, b) in
            cases.into_iter().chain([(32, R::Vector32), (63, R::Vector32), (64, R::Vector64), (500, R::Vector64)])
        {
            assert_eq!(R::vector_bucket(n), b, "{n}");
        }
    }
}
