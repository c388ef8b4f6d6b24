//! The retransmission timer's estimator (RFC 6298): smoothed RTT and RTT
//! variance from samples, the RTO derived from them clamped to a
//! configurable minimum and maximum, and exponential back-off. Karn's rule
//! (no sample from a retransmitted segment unless timestamps tell which
//! transmission was acknowledged) is the caller's job: it decides what to
//! feed [`RttEstimator::sample`].

/// Clock granularity `G` of RFC 6298 (our clock is exact; 1 ms keeps the
/// variance term from collapsing to zero on a perfectly steady path).
const GRANULARITY_NS: u64 = 1_000_000;

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
    pub fn new(initial_rto: u64, min_rto: u64, max_rto: u64) -> Self {
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
        if self.has_sample {
            let err = self.srtt.abs_diff(rtt);
            self.rttvar = (3 * self.rttvar + err) / 4;
            self.srtt = (7 * self.srtt + rtt) / 8;
        } else {
            self.srtt = rtt;
            self.rttvar = rtt / 2;
            self.has_sample = true;
        }
        self.base_rto = (self.srtt + GRANULARITY_NS.max(4 * self.rttvar)).clamp(self.min_rto, self.max_rto);
        self.backoff = 0;
    }

    /// The current RTO, back-off included, at most the maximum.
    pub fn rto(&self) -> u64 {
        self.base_rto.checked_shl(self.backoff).unwrap_or(u64::MAX).min(self.max_rto)
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
