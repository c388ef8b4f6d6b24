//! Fault injection: drop, duplicate and reorder packets on purpose.
//!
//! The test machines have no netem, so transports are tested against loss,
//! duplication and reordering that the node makes itself. Each worker owns
//! a [`Faults`] (configuration, a SplitMix64 generator, thresholds) and, per
//! interface and direction, one [`Held`] slot; [`apply`] runs one packet
//! through them. The worker applies it on receive (right after the NIC),
//! on transmit (right before the tx batch), or both.
//!
//! Per packet, in order: drop (freed and counted); duplicate (a copy is
//! delivered right after the packet); reorder (the packet is held back and
//! released right after the next packet that passes, or after
//! `reorder_hold_us` when traffic stops, so nothing is stuck). One packet
//! at most is held per interface and direction.
//!
//! Off (the default) costs one branch on a bool per burst and per
//! transmitted packet. On, a packet costs one generator step per enabled
//! fault: no allocation, no lock, no system call.

use std::fmt;
use std::sync::Arc;

use smallvec::SmallVec;

use crate::device::{Burst, Device};

counters::counters! {
    /// What fault injection did (per worker).
    pub enum FaultCounter {
        Dropped => ("fault injection: packet dropped", false),
        Duplicated => ("fault injection: packet duplicated", false),
        Reordered => ("fault injection: packet reordered", false),
    }
}

/// One worker's [`FaultCounter`]s.
pub type FaultCounters = counters::AtomicCounters<FaultCounter, { FaultCounter::COUNT }>;

/// Where faults apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Received packets (before the node sees them).
    #[default]
    Rx,
    /// Transmitted packets (after the node built them).
    Tx,
    /// Both.
    Both,
}

impl Direction {
    /// Parse `rx`, `tx` or `both`.
    pub fn parse(s: &str) -> Option<Direction> {
        match s {
            "rx" => Some(Direction::Rx),
            "tx" => Some(Direction::Tx),
            "both" => Some(Direction::Both),
            _ => None,
        }
    }

    /// The name `parse` accepts.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Rx => "rx",
            Direction::Tx => "tx",
            Direction::Both => "both",
        }
    }

    /// Whether received packets are affected.
    pub fn rx(self) -> bool {
        matches!(self, Direction::Rx | Direction::Both)
    }

    /// Whether transmitted packets are affected.
    pub fn tx(self) -> bool {
        matches!(self, Direction::Tx | Direction::Both)
    }
}

/// Default time a reordered packet waits for a successor.
pub const DEFAULT_HOLD_US: u32 = 1000;

/// Fault-injection settings (the `[fault]` config section and `set fault`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultConfig {
    /// Chance, in percent (0..=100), that a packet is dropped.
    pub drop_percent: f64,
    /// Chance, in percent, that a packet is duplicated.
    pub duplicate_percent: f64,
    /// Chance, in percent, that a packet is held back behind its successor.
    pub reorder_percent: f64,
    /// Which packets are affected.
    pub direction: Direction,
    /// Generator seed (worker `w` uses a stream derived from it and `w`);
    /// `None`: seeded from the clock, different each run.
    pub seed: Option<u64>,
    /// Longest a reordered packet waits for a successor, in microseconds.
    pub reorder_hold_us: u32,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            drop_percent: 0.0,
            duplicate_percent: 0.0,
            reorder_percent: 0.0,
            direction: Direction::Rx,
            seed: None,
            reorder_hold_us: DEFAULT_HOLD_US,
        }
    }
}

/// A fault setting out of range: the key and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct FaultConfigError {
    /// The key, e.g. `drop_percent`.
    pub key: &'static str,
    /// Why it is refused.
    pub reason: String,
}

impl FaultConfig {
    /// Whether any fault is enabled.
    pub fn is_active(&self) -> bool {
        self.drop_percent > 0.0 || self.duplicate_percent > 0.0 || self.reorder_percent > 0.0
    }

    /// Check every value against [`shm::limits`]; the error names the key.
    pub fn validate(&self) -> Result<(), FaultConfigError> {
        use shm::limits::{FAULT_HOLD_US, FAULT_PERCENT};
        let refused = |e: shm::limits::OptionError| FaultConfigError { key: e.key, reason: e.reason };
        for (key, v) in [
            ("drop_percent", self.drop_percent),
            ("duplicate_percent", self.duplicate_percent),
            ("reorder_percent", self.reorder_percent),
        ] {
            FAULT_PERCENT.check_as(key, v).map_err(refused)?;
        }
        FAULT_HOLD_US.check(self.reorder_hold_us.into()).map_err(refused)?;
        Ok(())
    }
}

impl fmt::Display for FaultConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.is_active() {
            return f.write_str("off");
        }
        write!(
            f,
            "drop {}% duplicate {}% reorder {}% direction {} hold {} us",
            self.drop_percent,
            self.duplicate_percent,
            self.reorder_percent,
            self.direction.name(),
            self.reorder_hold_us
        )?;
        match self.seed {
            Some(s) => write!(f, " seed {s}"),
            None => f.write_str(" seed random"),
        }
    }
}

/// SplitMix64: one add and a few multiply/xor-shifts per draw, any seed
/// (zero included) is fine.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Percent to a threshold on a 32-bit draw: `draw < threshold` happens with
/// that probability (100% is 2^32, above every draw).
fn threshold(percent: f64) -> u64 {
    ((percent / 100.0) * 4_294_967_296.0).round().clamp(0.0, 4_294_967_296.0) as u64
}

/// What happens to one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Verdict {
    /// Free it.
    pub drop: bool,
    /// Deliver a copy after it.
    pub duplicate: bool,
    /// Hold it back behind the next packet.
    pub reorder: bool,
}

/// A worker's fault state.
#[derive(Debug, Clone)]
pub struct Faults {
    cfg: FaultConfig,
    drop: u64,
    duplicate: u64,
    reorder: u64,
    hold_ns: u64,
    rng: Rng,
}

/// A seed from the clock, for configs without one.
fn clock_seed() -> u64 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    (t as u64) ^ (u64::from(std::process::id()) << 32)
}

/// Worker `worker`'s seed for base seed `seed`: distinct streams per worker.
fn worker_seed(seed: u64, worker: usize) -> u64 {
    Rng::new(seed ^ (worker as u64).wrapping_mul(0xd1b5_4a32_d192_ed03)).next_u64()
}

impl Faults {
    /// Worker `worker`'s state for `cfg` (assumed valid).
    pub fn new(cfg: &FaultConfig, worker: usize) -> Faults {
        let seed = worker_seed(cfg.seed.unwrap_or_else(clock_seed), worker);
        let mut f = Faults { cfg: *cfg, drop: 0, duplicate: 0, reorder: 0, hold_ns: 0, rng: Rng::new(seed) };
        f.reconfigure(cfg, worker);
        f
    }

    /// Take new settings. The generator restarts only when `cfg` names a
    /// seed other than the current one, so changing the rates keeps the
    /// stream going and a given seed reproduces a run from where it is set.
    pub fn reconfigure(&mut self, cfg: &FaultConfig, worker: usize) {
        if let Some(s) = cfg.seed.filter(|_| cfg.seed != self.cfg.seed) {
            self.rng = Rng::new(worker_seed(s, worker));
        }
        self.cfg = *cfg;
        self.drop = threshold(cfg.drop_percent);
        self.duplicate = threshold(cfg.duplicate_percent);
        self.reorder = threshold(cfg.reorder_percent);
        self.hold_ns = u64::from(cfg.reorder_hold_us) * 1000;
    }

    /// The settings.
    pub fn config(&self) -> &FaultConfig {
        &self.cfg
    }

    /// Whether received packets are faulted.
    #[inline]
    pub fn rx_active(&self) -> bool {
        self.cfg.is_active() && self.cfg.direction.rx()
    }

    /// Whether transmitted packets are faulted.
    #[inline]
    pub fn tx_active(&self) -> bool {
        self.cfg.is_active() && self.cfg.direction.tx()
    }

    /// How long a reordered packet may wait, in ns.
    #[inline]
    pub fn hold_ns(&self) -> u64 {
        self.hold_ns
    }

    #[inline]
    fn roll(&mut self, threshold: u64) -> bool {
        threshold != 0 && (self.rng.next_u64() >> 32) < threshold
    }

    /// Decide one packet's fate (a dropped packet draws nothing more).
    #[inline]
    pub fn verdict(&mut self) -> Verdict {
        if self.roll(self.drop) {
            return Verdict { drop: true, ..Verdict::default() };
        }
        Verdict { drop: false, duplicate: self.roll(self.duplicate), reorder: self.roll(self.reorder) }
    }
}

/// One held-back packet slot (per interface and direction).
#[derive(Debug)]
pub struct Held<P> {
    pkt: Option<P>,
    since_ns: u64,
}

impl<P> Default for Held<P> {
    fn default() -> Self {
        Held { pkt: None, since_ns: 0 }
    }
}

impl<P> Held<P> {
    /// Whether a packet is held.
    #[inline]
    pub fn is_some(&self) -> bool {
        self.pkt.is_some()
    }

    /// The held packet, if it has waited `hold_ns` by `now_ns`.
    #[inline]
    pub fn expire(&mut self, now_ns: u64, hold_ns: u64) -> Option<P> {
        if self.pkt.is_some() && now_ns.saturating_sub(self.since_ns) >= hold_ns {
            self.pkt.take()
        } else {
            None
        }
    }

    /// The held packet, whatever its age.
    #[inline]
    pub fn take(&mut self) -> Option<P> {
        self.pkt.take()
    }
}

/// Run packet `p` through the faults at time `now_ns`: `out` receives what
/// goes on, in order (0 to 3 packets: the packet, its copy, a packet held
/// earlier). `copy` makes a duplicate (`None`: no buffer, no duplicate).
/// Drops, duplicates and holds are counted in `counters`.
#[inline]
pub fn apply<P>(
    faults: &mut Faults,
    held: &mut Held<P>,
    now_ns: u64,
    p: P,
    copy: impl FnOnce(&P) -> Option<P>,
    counters: &FaultCounters,
    mut out: impl FnMut(P),
) {
    let v = faults.verdict();
    if v.drop {
        counters.inc(FaultCounter::Dropped);
        drop(p);
        return;
    }
    let dup = if v.duplicate { copy(&p) } else { None };
    if dup.is_some() {
        counters.inc(FaultCounter::Duplicated);
    }
    if v.reorder && !held.is_some() {
        counters.inc(FaultCounter::Reordered);
        held.pkt = Some(p);
        held.since_ns = now_ns;
        if let Some(d) = dup {
            out(d);
        }
        return;
    }
    out(p);
    if let Some(d) = dup {
        out(d);
    }
    if let Some(h) = held.take() {
        out(h);
    }
}

/// Fault injection as a [`Device`] wrapper: received frames go through
/// [`apply`] right after the inner device, transmitted ones right before
/// its tx batch. Off (the default), rx and tx cost one branch on a bool.
pub struct FaultInjector<D: Device> {
    inner: D,
    worker: usize,
    faults: Faults,
    fault_rx: bool,
    fault_tx: bool,
    held_rx: Vec<Held<D::Buf>>,
    held_tx: Vec<Held<D::Buf>>,
    counters: Arc<FaultCounters>,
}

impl<D: Device> FaultInjector<D> {
    /// `inner` with faults off; `worker` picks the generator's stream.
    pub fn new(inner: D, worker: usize) -> FaultInjector<D> {
        let n = inner.interfaces();
        FaultInjector {
            inner,
            worker,
            faults: Faults::new(&FaultConfig::default(), worker),
            fault_rx: false,
            fault_tx: false,
            held_rx: (0..n).map(|_| Held::default()).collect(),
            held_tx: (0..n).map(|_| Held::default()).collect(),
            counters: Arc::default(),
        }
    }

    /// The wrapped device.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// The wrapped device, writable.
    pub fn inner_mut(&mut self) -> &mut D {
        &mut self.inner
    }

    /// What fault injection did on this device.
    pub fn counters(&self) -> &Arc<FaultCounters> {
        &self.counters
    }

    /// Change the settings (`cfg` valid). Packets held for reordering are
    /// still released when faults go off.
    pub fn set_fault(&mut self, cfg: &FaultConfig) {
        self.faults.reconfigure(cfg, self.worker);
        self.fault_rx = self.faults.rx_active() || self.held_rx.iter().any(Held::is_some);
        self.fault_tx = self.faults.tx_active() || self.held_tx.iter().any(Held::is_some);
    }

    /// The settings.
    pub fn fault_config(&self) -> FaultConfig {
        *self.faults.config()
    }

    /// `rx` with faults: a smaller burst from the inner device through
    /// [`apply`], plus a held packet whose time is up.
    #[inline(never)]
    fn rx_faulty(&mut self, iface: usize, b: &mut D::Burst, max: usize, now: u64) -> usize {
        // Each packet can become two (duplicate) and one held packet can
        // join, so the result still fits.
        let cap = max.min(<D::Burst as Burst<D::Buf>>::CAPACITY);
        let mut raw = D::Burst::default();
        self.inner.rx(iface, &mut raw, cap.saturating_sub(1) / 2, now);
        let active = self.faults.rx_active();
        let hold = self.faults.hold_ns();
        let counters = &*self.counters;
        let inner = &mut self.inner;
        let held = &mut self.held_rx[iface];
        let mut push = |p: D::Buf| {
            if let Err(p) = b.push(p) {
                drop(p);
                counters.inc(FaultCounter::Dropped);
            }
        };
        for m in raw.drain() {
            if active {
                apply(&mut self.faults, held, now, m, |m| inner.copy(m), counters, &mut push);
            } else {
                push(m);
            }
        }
        let late = if active { held.expire(now, hold) } else { held.take() };
        if let Some(m) = late {
            push(m);
        }
        if !active && !self.held_rx.iter().any(Held::is_some) {
            self.fault_rx = false;
        }
        b.len()
    }

    #[inline(never)]
    fn tx_push_faulty(&mut self, iface: usize, m: D::Buf, now: u64) {
        let mut out: SmallVec<[D::Buf; 3]> = SmallVec::new();
        if self.faults.tx_active() {
            let inner = &mut self.inner;
            apply(
                &mut self.faults,
                &mut self.held_tx[iface],
                now,
                m,
                |m| inner.copy(m),
                &self.counters,
                |p| out.push(p),
            );
        } else {
            out.push(m);
        }
        for p in out {
            self.inner.tx_push(iface, p, now);
        }
    }

    /// Release tx packets held for reordering whose time is up (all of them
    /// once tx faults are off).
    fn tx_held_expire(&mut self, now: u64) {
        let active = self.faults.tx_active();
        let hold = self.faults.hold_ns();
        for iface in 0..self.held_tx.len() {
            let h = &mut self.held_tx[iface];
            if let Some(m) = if active { h.expire(now, hold) } else { h.take() } {
                self.inner.tx_push(iface, m, now);
            }
        }
        if !active {
            self.fault_tx = false;
        }
    }
}

impl<D: Device> Device for FaultInjector<D> {
    type Buf = D::Buf;
    type Burst = D::Burst;

    #[inline]
    fn interfaces(&self) -> usize {
        self.inner.interfaces()
    }

    #[inline]
    fn queue(&self, iface: usize) -> u16 {
        self.inner.queue(iface)
    }

    #[inline]
    fn alloc(&mut self) -> Option<D::Buf> {
        self.inner.alloc()
    }

    #[inline]
    fn alloc_large(&mut self) -> Option<D::Buf> {
        self.inner.alloc_large()
    }

    #[inline]
    fn copy(&mut self, b: &D::Buf) -> Option<D::Buf> {
        self.inner.copy(b)
    }

    #[inline]
    fn rx(&mut self, iface: usize, b: &mut D::Burst, max: usize, now: u64) -> usize {
        if self.fault_rx {
            return self.rx_faulty(iface, b, max, now);
        }
        self.inner.rx(iface, b, max, now)
    }

    #[inline]
    fn tx_push(&mut self, iface: usize, b: D::Buf, now: u64) {
        if self.fault_tx {
            return self.tx_push_faulty(iface, b, now);
        }
        self.inner.tx_push(iface, b, now);
    }

    #[inline]
    fn tx_ready(&mut self, iface: usize) -> bool {
        self.inner.tx_ready(iface)
    }

    #[inline]
    fn flush(&mut self, now: u64) {
        if self.fault_tx {
            self.tx_held_expire(now);
        }
        self.inner.flush(now);
    }

    #[inline]
    fn capture(&mut self) -> &mut crate::capture::Capture {
        self.inner.capture()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn cfg(drop: f64, dup: f64, reorder: f64) -> FaultConfig {
        FaultConfig {
            drop_percent: drop,
            duplicate_percent: dup,
            reorder_percent: reorder,
            seed: Some(7),
            ..FaultConfig::default()
        }
    }

    /// Run `n` numbered packets through `c`; returns what came out.
    fn run(c: &FaultConfig, n: u32, counters: &FaultCounters) -> Vec<u32> {
        let mut f = Faults::new(c, 0);
        let mut held = Held::default();
        let mut got = Vec::new();
        for i in 0..n {
            apply(&mut f, &mut held, u64::from(i), i, |&p| Some(p), counters, |p| got.push(p));
        }
        got.extend(held.take());
        got
    }

    #[test]
    fn off_passes_everything_in_order_and_draws_nothing() {
        let c = FaultCounters::default();
        let mut f = Faults::new(&FaultConfig::default(), 0);
        let before = f.rng.clone().next_u64();
        assert_eq!(f.verdict(), Verdict::default());
        assert_eq!(f.rng.next_u64(), before, "no draw when every fault is off");
        assert_eq!(run(&FaultConfig::default(), 100, &c), (0..100).collect::<Vec<_>>());
        assert!(!f.rx_active() && !f.tx_active());
    }

    #[test]
    fn drop_rate_is_near_the_setting_and_counted() {
        let c = FaultCounters::default();
        let got = run(&cfg(20.0, 0.0, 0.0), 100_000, &c);
        let dropped = c.get(FaultCounter::Dropped);
        assert_eq!(got.len() as u64 + dropped, 100_000);
        assert!((19_000..21_000).contains(&dropped), "{dropped}");
        assert!(got.windows(2).all(|w| w[0] < w[1]), "drops keep order");
    }

    #[test]
    fn hundred_percent_duplicate_doubles_every_packet() {
        let c = FaultCounters::default();
        let got = run(&cfg(0.0, 100.0, 0.0), 50, &c);
        assert_eq!(got, (0..50).flat_map(|i| [i, i]).collect::<Vec<_>>());
        assert_eq!(c.get(FaultCounter::Duplicated), 50);
        // No buffer for the copy: nothing duplicated, nothing counted.
        let c = FaultCounters::default();
        let mut f = Faults::new(&cfg(0.0, 100.0, 0.0), 0);
        let mut held = Held::default();
        let mut got = vec![];
        apply(&mut f, &mut held, 0, 1, |_| None, &c, |p| got.push(p));
        assert_eq!((got, c.get(FaultCounter::Duplicated)), (vec![1], 0));
    }

    #[test]
    fn reorder_swaps_a_packet_with_its_successor() {
        let c = FaultCounters::default();
        let got = run(&cfg(0.0, 0.0, 30.0), 10_000, &c);
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10_000).collect::<Vec<_>>(), "nothing lost or duplicated");
        let swaps = got.windows(2).filter(|w| w[0] > w[1]).count() as u64;
        assert_eq!(swaps, c.get(FaultCounter::Reordered));
        assert!(swaps > 1500 && swaps < 3500, "{swaps}");
        // Each displaced packet is exactly one place late.
        for (pos, &p) in got.iter().enumerate() {
            assert!((pos as i64 - i64::from(p)).abs() <= 1, "{p} at {pos}");
        }
    }

    #[test]
    fn held_packet_is_released_after_the_hold_time() {
        let c = FaultCounters::default();
        let mut f = Faults::new(&cfg(0.0, 0.0, 100.0), 0);
        let mut held = Held::default();
        let mut got = vec![];
        apply(&mut f, &mut held, 1_000, 1, |&p| Some(p), &c, |p| got.push(p));
        assert!(got.is_empty() && held.is_some());
        let hold = f.hold_ns();
        assert_eq!(hold, 1_000_000);
        assert_eq!(held.expire(1_000 + hold - 1, hold), None);
        assert_eq!(held.expire(1_000 + hold, hold), Some(1));
        assert!(!held.is_some());
    }

    #[test]
    fn same_seed_same_faults_and_workers_differ() {
        let c = FaultCounters::default();
        let a = run(&cfg(10.0, 10.0, 10.0), 2000, &c);
        let b = run(&cfg(10.0, 10.0, 10.0), 2000, &c);
        assert_eq!(a, b);
        let mut w0 = Faults::new(&cfg(50.0, 0.0, 0.0), 0);
        let mut w1 = Faults::new(&cfg(50.0, 0.0, 0.0), 1);
        let v0: Vec<_> = (0..64).map(|_| w0.verdict().drop).collect();
        let v1: Vec<_> = (0..64).map(|_| w1.verdict().drop).collect();
        assert_ne!(v0, v1);
    }

    #[test]
    fn reconfigure_restarts_the_stream_only_for_a_new_seed() {
        let draws = |f: &mut Faults| (0..32).map(|_| f.verdict().drop).collect::<Vec<_>>();
        let mut a = Faults::new(&cfg(50.0, 0.0, 0.0), 0);
        let first = draws(&mut a);
        // Same seed again: the stream goes on.
        a.reconfigure(&cfg(50.0, 0.0, 0.0), 0);
        assert_ne!(draws(&mut a), first);
        // A new seed, then back to the first: the stream restarts.
        a.reconfigure(&FaultConfig { seed: Some(8), ..cfg(50.0, 0.0, 0.0) }, 0);
        a.reconfigure(&cfg(50.0, 0.0, 0.0), 0);
        assert_eq!(draws(&mut a), first);
    }

    #[test]
    fn validation_names_the_key() {
        assert!(FaultConfig::default().validate().is_ok());
        assert!(cfg(100.0, 0.0, 0.0).validate().is_ok());
        let e = cfg(100.5, 0.0, 0.0).validate().unwrap_err();
        assert_eq!(e.key, "drop_percent");
        let e = cfg(0.0, -1.0, 0.0).validate().unwrap_err();
        assert_eq!(e.key, "duplicate_percent");
        let e = cfg(0.0, 0.0, f64::NAN).validate().unwrap_err();
        assert_eq!(e.key, "reorder_percent");
        let e = FaultConfig { reorder_hold_us: 0, ..FaultConfig::default() }.validate().unwrap_err();
        assert_eq!(e.key, "reorder_hold_us");
    }

    #[test]
    fn directions_and_display() {
        assert_eq!(Direction::parse("both"), Some(Direction::Both));
        assert_eq!(Direction::parse("up"), None);
        assert!(Direction::Both.rx() && Direction::Both.tx());
        assert!(Direction::Rx.rx() && !Direction::Rx.tx());
        let f = Faults::new(&FaultConfig { direction: Direction::Tx, ..cfg(1.0, 0.0, 0.0) }, 0);
        assert!(f.tx_active() && !f.rx_active());
        assert_eq!(FaultConfig::default().to_string(), "off");
        assert_eq!(
            cfg(1.0, 0.5, 2.0).to_string(),
            "drop 1% duplicate 0.5% reorder 2% direction rx hold 1000 us seed 7"
        );
        assert_eq!(threshold(100.0), 1 << 32);
        assert_eq!(threshold(0.0), 0);
        assert_eq!(threshold(50.0), 1 << 31);
    }
}
