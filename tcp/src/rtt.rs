//! The retransmission timer's estimator (RFC 6298): smoothed RTT and RTT
//! variance from samples, the RTO derived from them clamped to a
//! configurable minimum and maximum, and exponential back-off. Karn's rule
//! (no sample from a retransmitted segment unless timestamps tell which
//! transmission was acknowledged) is the caller's job: it decides what to
//! feed [`RttEstimator::sample`].

/// Clock granularity `G` of RFC 6298 (our clock is exact; 1 ms keeps the
/// variance term from collapsing to zero on a perfectly steady path).
const GRANULARITY_NS: u64 = 1_000_000;

/// The lowest RTO whatever the configuration: a zero RTO would resend at
/// once, forever, and back-off could never double it.
pub const MIN_RTO_FLOOR_NS: u64 = 1_000_000;

/// RTT estimator and retransmission timeout.
#[derive(Debug, Clone)]
pub struct RttEstimator {
    srtt: u64,
    rttvar: u64,
    /// RTO before back-off.
    base_rto: u64,
    backoff: u32,
    has_sample: bool,
    min_rto: u64,
    max_rto: u64,
    latest: u64,
}

impl RttEstimator {
    /// An estimator with no sample yet: the RTO is `initial_rto` (RFC 6298 §2.1).
    /// Whatever the values, the bounds hold: the minimum is at least
    /// [`MIN_RTO_FLOOR_NS`] and the maximum at least the minimum.
    pub fn new(initial_rto: u64, min_rto: u64, max_rto: u64) -> Self {
        let min_rto = min_rto.max(MIN_RTO_FLOOR_NS);
        let max_rto = max_rto.max(min_rto);
        RttEstimator {
            srtt: 0,
            rttvar: 0,
            base_rto: initial_rto.clamp(min_rto, max_rto),
            backoff: 0,
            has_sample: false,
            min_rto,
            max_rto,
            latest: 0,
        }
    }

    /// Feeds one RTT measurement (ns), updating SRTT, RTTVAR and the RTO
    /// (RFC 6298 §2.2 and §2.3), and clears any back-off (§5.7).
    pub fn sample(&mut self, rtt: u64) {
        self.latest = rtt;
        // Why u128 and saturation: a sample can be any u64 (a clock jump), and
        // 7 * srtt or 4 * rttvar must not overflow.
        if self.has_sample {
            let err = self.srtt.abs_diff(rtt);
            self.rttvar = ((3 * u128::from(self.rttvar) + u128::from(err)) / 4) as u64;
            self.srtt = ((7 * u128::from(self.srtt) + u128::from(rtt)) / 8) as u64;
        } else {
            self.srtt = rtt;
            self.rttvar = rtt / 2;
            self.has_sample = true;
        }
        let var = GRANULARITY_NS.max(self.rttvar.saturating_mul(4));
        self.base_rto = self.srtt.saturating_add(var).clamp(self.min_rto, self.max_rto);
        self.backoff = 0;
    }

    /// The current RTO, back-off included, at most the maximum.
    pub fn rto(&self) -> u64 {
        super::connection::saturating_shl(self.base_rto, self.backoff).min(self.max_rto)
    }

    /// Doubles the RTO after a timeout (RFC 6298 §5.5).
    pub fn back_off(&mut self) {
        if self.rto() < self.max_rto {
            self.backoff += 1;
        }
    }

    /// How many times the RTO has been doubled since the last sample.
    pub fn backoff(&self) -> u32 {
        self.backoff
    }

    /// Forgets the back-off without a new sample (e.g. after a SYN-ACK).
    pub fn reset_backoff(&mut self) {
        self.backoff = 0;
    }

    /// Smoothed RTT (ns); 0 before the first sample.
    pub fn srtt(&self) -> u64 {
        self.srtt
    }

    /// RTT variance (ns).
    pub fn rttvar(&self) -> u64 {
        self.rttvar
    }

    /// The latest sample (ns).
    pub fn latest(&self) -> u64 {
        self.latest
    }

    /// The upper bound of the RTO.
    pub fn max_rto(&self) -> u64 {
        self.max_rto
    }

    /// Whether any sample was taken.
    pub fn has_sample(&self) -> bool {
        self.has_sample
    }
}

#[cfg(test)]
mod test {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn first_sample_and_smoothing() {
        let mut r = RttEstimator::new(1000 * MS, 200 * MS, 60_000 * MS);
        assert_eq!(r.rto(), 1000 * MS);
        r.sample(100 * MS);
        assert_eq!((r.srtt(), r.rttvar()), (100 * MS, 50 * MS));
        assert_eq!(r.rto(), 300 * MS); // 100 + 4 * 50
        r.sample(200 * MS);
        // rttvar = 3/4 * 50 + 1/4 * 100 = 62.5; srtt = 7/8 * 100 + 1/8 * 200 = 112.5
        assert_eq!(r.rttvar(), 62_500_000);
        assert_eq!(r.srtt(), 112_500_000);
        assert_eq!(r.rto(), 362_500_000);
    }

    #[test]
    fn min_and_max_clamp() {
        let mut r = RttEstimator::new(1000 * MS, 200 * MS, 2000 * MS);
        r.sample(MS);
        assert_eq!(r.rto(), 200 * MS);
        r.sample(5000 * MS);
        assert_eq!(r.rto(), 2000 * MS);
    }

    #[test]
    fn any_bounds_and_samples_are_total() {
        // Issue 9 item 1: min above max (a config mistake) made `clamp` panic;
        // a zero RTO never grew; huge samples overflowed 7 * srtt.
        let mut r = RttEstimator::new(0, 5000 * MS, 10 * MS);
        assert_eq!(r.rto(), 5000 * MS);
        let mut z = RttEstimator::new(0, 0, 0);
        assert_eq!(z.rto(), MIN_RTO_FLOOR_NS);
        z.back_off();
        assert_eq!(z.rto(), MIN_RTO_FLOOR_NS, "the max is the floor too");
        let mut big = RttEstimator::new(u64::MAX, 0, u64::MAX);
        for _ in 0..70 {
            big.back_off();
            assert_eq!(big.rto(), u64::MAX, "saturates, never wraps to a small RTO");
        }
        for s in [u64::MAX, 0, u64::MAX, 1, u64::MAX / 3] {
            r.sample(s);
            big.sample(s);
        }
        assert_eq!(r.rto(), 5000 * MS);
        assert!(big.rto() >= MIN_RTO_FLOOR_NS);
        // Back-off from a large base: doubling stops at the maximum and never wraps.
        let mut w = RttEstimator::new(u64::MAX / 4, 0, u64::MAX);
        let mut last = w.rto();
        for _ in 0..70 {
            w.back_off();
            assert!(w.rto() >= last, "{} after {last}", w.rto());
            last = w.rto();
        }
    }

    #[test]
    fn back_off_doubles_up_to_max_and_sample_resets() {
        let mut r = RttEstimator::new(1000 * MS, 200 * MS, 5000 * MS);
        r.back_off();
        assert_eq!(r.rto(), 2000 * MS);
        r.back_off();
        assert_eq!(r.rto(), 4000 * MS);
        r.back_off();
        assert_eq!(r.rto(), 5000 * MS);
        r.back_off();
        assert_eq!(r.rto(), 5000 * MS);
        assert_eq!(r.backoff(), 3);
        r.sample(100 * MS);
        assert_eq!(r.backoff(), 0);
        assert_eq!(r.rto(), 300 * MS);
    }
}
