//! Congestion control behind a trait, one algorithm per file, chosen per
//! connection by [`CcAlgorithm`]. The connection owns loss detection and
//! recovery (dup ACKs, SACK, NewReno partial ACKs, RTO); the algorithm only
//! answers "how big is the window" and reacts to the four events below.
//! Windows are in bytes.
//!
//! [`Cc`] dispatches with a `match` rather than a `Box<dyn>`, so a
//! connection's controller lives inline in the connection.

mod cubic;
mod newreno;

pub use cubic::Cubic;
pub use newreno::NewReno;

/// Which congestion control algorithm a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CcAlgorithm {
    /// RFC 5681 slow start and congestion avoidance (with RFC 6582 recovery in the connection).
    NewReno,
    /// RFC 9438 CUBIC (the default, as in Linux).
    #[default]
    Cubic,
}

impl core::fmt::Display for CcAlgorithm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            CcAlgorithm::NewReno => "newreno",
            CcAlgorithm::Cubic => "cubic",
        })
    }
}

/// What a congestion controller does.
pub trait CongestionControl {
    /// The congestion window in bytes.
    fn cwnd(&self) -> u32;
    /// The slow-start threshold in bytes.
    fn ssthresh(&self) -> u32;
    /// Overrides the window (used by the connection during fast recovery).
    fn set_cwnd(&mut self, cwnd: u32);
    /// `acked` new bytes were acknowledged outside recovery; `srtt` is the
    /// smoothed RTT in ns (0 before the first sample).
    fn on_ack(&mut self, now: u64, acked: u32, srtt: u64);
    /// Loss detected by dup ACKs or SACK: set ssthresh and the window for
    /// recovery. `flight` is the data outstanding when it was detected.
    fn on_congestion(&mut self, now: u64, flight: u32);
    /// Recovery ended with a full ACK: deflate the window to ssthresh.
    fn on_recovered(&mut self, now: u64);
    /// The retransmission timer expired: set ssthresh and collapse the window to one segment.
    fn on_rto(&mut self, now: u64, flight: u32);
}

/// A connection's congestion controller.
#[derive(Debug, Clone)]
pub enum Cc {
    /// NewReno.
    NewReno(NewReno),
    /// CUBIC.
    Cubic(Cubic),
}

impl Cc {
    /// A controller of kind `algo` for segments of `mss` bytes, starting with `initial_cwnd` bytes.
    pub fn new(algo: CcAlgorithm, mss: u32, initial_cwnd: u32) -> Cc {
        match algo {
            CcAlgorithm::NewReno => Cc::NewReno(NewReno::new(mss, initial_cwnd)),
            CcAlgorithm::Cubic => Cc::Cubic(Cubic::new(mss, initial_cwnd)),
        }
    }

    /// Which algorithm this is.
    pub fn algorithm(&self) -> CcAlgorithm {
        match self {
            Cc::NewReno(_) => CcAlgorithm::NewReno,
            Cc::Cubic(_) => CcAlgorithm::Cubic,
        }
    }

    fn inner(&self) -> &dyn CongestionControl {
        match self {
            Cc::NewReno(c) => c,
            Cc::Cubic(c) => c,
        }
    }

    fn inner_mut(&mut self) -> &mut dyn CongestionControl {
        match self {
            Cc::NewReno(c) => c,
            Cc::Cubic(c) => c,
        }
    }
}

impl CongestionControl for Cc {
    fn cwnd(&self) -> u32 {
        self.inner().cwnd()
    }
    fn ssthresh(&self) -> u32 {
        self.inner().ssthresh()
    }
    fn set_cwnd(&mut self, cwnd: u32) {
        self.inner_mut().set_cwnd(cwnd)
    }
    fn on_ack(&mut self, now: u64, acked: u32, srtt: u64) {
        self.inner_mut().on_ack(now, acked, srtt)
    }
    fn on_congestion(&mut self, now: u64, flight: u32) {
        self.inner_mut().on_congestion(now, flight)
    }
    fn on_recovered(&mut self, now: u64) {
        self.inner_mut().on_recovered(now)
    }
    fn on_rto(&mut self, now: u64, flight: u32) {
        self.inner_mut().on_rto(now, flight)
    }
}
