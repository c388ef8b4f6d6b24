//! `show runtime` and `clear runtime`: where each worker's loop spends its
//! time, VPP's most used command.
//!
//! The workers count in TSC cycles, once per stage per burst
//! ([`net::control::worker::RuntimeCounter`]); this module copies those
//! counters out, subtracts the [`Baseline`] that `clear runtime` took, and
//! turns cycles into nanoseconds with the EAL's TSC frequency. The text and
//! the JSON (`dpnode ctl --json show runtime`) are both made from
//! [`RuntimeSnapshot`].

use std::fmt::Write as _;
use std::time::Instant;

use net::control::worker::RuntimeCounter as R;
use net::l3::counters::Counter;
use serde::Serialize;

use crate::runtime::Runtime;

/// One worker's raw counts: its [`R`] counters and its L2/L3 rx and tx packets.
#[derive(Debug, Clone, Default)]
struct Raw {
    vals: Vec<u64>,
    rx_packets: u64,
    tx_packets: u64,
}

impl Raw {
    fn get(&self, c: R) -> u64 {
        self.vals.get(c as usize).copied().unwrap_or(0)
    }
}

/// What `show runtime` counts from: the workers' counts and the time at the
/// last `clear runtime` (none yet: from the start).
#[derive(Debug, Default)]
pub struct Baseline {
    at: Option<Instant>,
    workers: Vec<Raw>,
}

/// One stage of the poll loop.
#[derive(Debug, Clone, Serialize)]
pub struct StageRuntime {
    /// `rx`, `l2/l3 input`, `transport input`, `session+apps`, `tx`, `other`.
    pub stage: &'static str,
    /// Time spent in it, ns.
    pub ns: u64,
    /// The packets it is divided by: received ones, or sent ones for `tx`;
    /// `other` (barrier, RPCs, timers) is divided by received ones too.
    pub packets: u64,
    /// `ns / packets` (0 without packets).
    pub ns_per_packet: f64,
}

/// Bursts whose size fell in `[min, max]`.
#[derive(Debug, Clone, Serialize)]
pub struct VectorBucket {
    /// Smallest burst size of the bucket.
    pub min: u32,
    /// Largest (`None`: no upper bound).
    pub max: Option<u32>,
    /// Bursts.
    pub bursts: u64,
}

/// One worker's loop since the last `clear runtime`.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerRuntime {
    /// Worker index.
    pub worker: usize,
    /// Core it is pinned to.
    pub core: usize,
    /// Loop iterations.
    pub loops: u64,
    /// Loop iterations per second.
    pub loops_per_sec: f64,
    /// Iterations that did work.
    pub work_loops: u64,
    /// Rx calls that returned packets.
    pub rx_bursts: u64,
    /// Packets received (the L2/L3 `rx packets` counter).
    pub rx_packets: u64,
    /// Packets sent (the L2/L3 `tx packets` counter).
    pub tx_packets: u64,
    /// Average packets per non-empty rx burst (VPP's vectors/call).
    pub vector_avg: f64,
    /// Rx bursts by size (powers of two).
    pub vectors: Vec<VectorBucket>,
    /// Fraction of the time in iterations that did work.
    pub busy: f64,
    /// Fraction of the time in iterations that found nothing (polling).
    pub polling: f64,
    /// Fraction of the time in idle sleep.
    pub sleeping: f64,
    /// Time in working iterations by stage.
    pub stages: Vec<StageRuntime>,
}

/// `show runtime`: every worker.
#[derive(Debug, Clone, Serialize)]
pub struct RuntimeSnapshot {
    /// Seconds since the last `clear runtime` (or the start).
    pub seconds: f64,
    /// The TSC frequency the cycles were converted with.
    pub tsc_hz: u64,
    /// Per worker.
    pub workers: Vec<WorkerRuntime>,
}

fn raw(rt: &Runtime) -> Vec<Raw> {
    rt.workers
        .iter()
        .map(|w| Raw {
            vals: w.runtime.iter().map(|(_, v)| v).collect(),
            rx_packets: w.counters.get(Counter::RxPackets),
            tx_packets: w.counters.get(Counter::TxPackets),
        })
        .collect()
}

/// `clear runtime`: later snapshots count from now.
pub fn clear(rt: &mut Runtime) {
    rt.runtime_base = Baseline { at: Some(Instant::now()), workers: raw(rt) };
}

const STAGES: [(&str, R); 6] = [
    ("rx", R::RxCycles),
    ("l2/l3 input", R::L3Cycles),
    ("transport input", R::TransportCycles),
    ("session+apps", R::SessionCycles),
    ("tx", R::TxCycles),
    ("other", R::OtherCycles),
];

/// The `stage` label of `/metrics`' `dpnode_worker_time_seconds` for each cycle counter.
pub const TIME_STAGES: [(&str, R); 8] = [
    ("rx", R::RxCycles),
    ("l2l3", R::L3Cycles),
    ("transport", R::TransportCycles),
    ("session", R::SessionCycles),
    ("tx", R::TxCycles),
    ("other", R::OtherCycles),
    ("poll", R::PollCycles),
    ("sleep", R::SleepCycles),
];

/// The `size` label of `/metrics`' `dpnode_worker_rx_bursts_by_size` for each histogram counter.
pub const VECTOR_SIZES: [(&str, R); 7] = [
    ("1", R::Vector1),
    ("2-3", R::Vector2),
    ("4-7", R::Vector4),
    ("8-15", R::Vector8),
    ("16-31", R::Vector16),
    ("32-63", R::Vector32),
    ("64+", R::Vector64),
];

const VECTORS: [(u32, Option<u32>, R); 7] = [
    (1, Some(1), R::Vector1),
    (2, Some(3), R::Vector2),
    (4, Some(7), R::Vector4),
    (8, Some(15), R::Vector8),
    (16, Some(31), R::Vector16),
    (32, Some(63), R::Vector32),
    (64, None, R::Vector64),
];

/// The snapshot `show runtime` prints.
pub fn snapshot(rt: &Runtime) -> RuntimeSnapshot {
    let seconds = rt.runtime_base.at.unwrap_or(rt.started).elapsed().as_secs_f64();
    let hz = rt.tsc_hz.max(1);
    let ns = |cycles: u64| (u128::from(cycles) * 1_000_000_000 / u128::from(hz)) as u64;
    let per = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let workers = raw(rt)
        .into_iter()
        .enumerate()
        .map(|(i, now)| {
            let base = rt.runtime_base.workers.get(i).cloned().unwrap_or_default();
            let d = |c: R| now.get(c).saturating_sub(base.get(c));
            let tx_packets = now.tx_packets.saturating_sub(base.tx_packets);
            let rx_packets = now.rx_packets.saturating_sub(base.rx_packets);
            let work: u64 = STAGES.iter().map(|&(_, c)| d(c)).sum();
            let total = (work + d(R::PollCycles) + d(R::SleepCycles)).max(1);
            WorkerRuntime {
                worker: i,
                core: rt.workers[i].core,
                loops: d(R::WorkLoops) + d(R::EmptyLoops),
                loops_per_sec: if seconds > 0.0 { (d(R::WorkLoops) + d(R::EmptyLoops)) as f64 / seconds } else { 0.0 },
                work_loops: d(R::WorkLoops),
                rx_bursts: d(R::RxBursts),
                rx_packets,
                tx_packets,
                vector_avg: per(rx_packets, d(R::RxBursts)),
                vectors: VECTORS.iter().map(|&(min, max, c)| VectorBucket { min, max, bursts: d(c) }).collect(),
                busy: per(work, total),
                polling: per(d(R::PollCycles), total),
                sleeping: per(d(R::SleepCycles), total),
                stages: STAGES
                    .iter()
                    .map(|&(stage, c)| {
                        let packets = if c == R::TxCycles { tx_packets } else { rx_packets };
                        let ns = ns(d(c));
                        StageRuntime { stage, ns, packets, ns_per_packet: per(ns, packets) }
                    })
                    .collect(),
            }
        })
        .collect();
    RuntimeSnapshot { seconds, tsc_hz: rt.tsc_hz, workers }
}

/// The text of `show runtime`.
pub fn text(s: &RuntimeSnapshot) -> String {
    let mut out =
        format!("time {:.1} s since start or clear runtime; TSC {:.3} GHz\n", s.seconds, s.tsc_hz as f64 / 1e9);
    for w in &s.workers {
        let _ = writeln!(
            out,
            "worker {} (core {}): {} loops, {:.1} loops/s, {} with work; busy {:.1}%, polling {:.1}%, sleeping {:.1}%",
            w.worker,
            w.core,
            w.loops,
            w.loops_per_sec,
            w.work_loops,
            w.busy * 100.0,
            w.polling * 100.0,
            w.sleeping * 100.0
        );
        let _ = writeln!(
            out,
            "  rx {} packets in {} bursts, vector {:.2} packets/burst; tx {} packets",
            w.rx_packets, w.rx_bursts, w.vector_avg, w.tx_packets
        );
        let hist: Vec<String> = w
            .vectors
            .iter()
            .filter(|b| b.bursts > 0)
            .map(|b| match b.max {
                Some(m) if m == b.min => format!("{}:{}", b.min, b.bursts),
                Some(m) => format!("{}-{}:{}", b.min, m, b.bursts),
                None => format!("{}+:{}", b.min, b.bursts),
            })
            .collect();
        if !hist.is_empty() {
            let _ = writeln!(out, "  vectors (size:bursts) {}", hist.join(" "));
        }
        let _ = writeln!(out, "  {:<16} {:>14} {:>12} {:>12}", "stage", "ns", "packets", "ns/packet");
        for st in &w.stages {
            let _ = writeln!(out, "  {:<16} {:>14} {:>12} {:>12.1}", st.stage, st.ns, st.packets, st.ns_per_packet);
        }
    }
    out
}
