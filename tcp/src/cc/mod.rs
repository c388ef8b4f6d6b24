//! Congestion control behind a trait ([`CongestionControl`]), one algorithm
//! per file, chosen per connection by the vocabulary's [`Cc`] (`Cc::Default`
//! is the config's choice, and CUBIC where nothing chose). The connection owns loss detection and
//! recovery (dup ACKs, SACK, NewReno partial ACKs, RTO); the algorithm only
//! answers "how big is the window" and reacts to the four events below.
//! Windows are in bytes.
//!
//! [`Controller`] dispatches with a `match` rather than a `Box<dyn>`, so a
//! connection's controller lives inline in the connection.

mod cubic;
mod newreno;

pub use cubic::Cubic;
pub use newreno::NewReno;
use shm::types::Cc;

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
pub enum Controller {
    /// NewReno.
    NewReno(NewReno),
    /// CUBIC.
    Cubic(Cubic),
}

impl Controller {
    /// A controller of kind `algo` (CUBIC for `Cc::Default`) for segments of `mss` bytes, starting with
    /// `initial_cwnd` bytes.
    pub fn new(algo: Cc, mss: u32, initial_cwnd: u32) -> Controller {
        match algo {
            Cc::NewReno => Controller::NewReno(NewReno::new(mss, initial_cwnd)),
            Cc::Cubic | Cc::Default => Controller::Cubic(Cubic::new(mss, initial_cwnd)),
        }
    }

    /// Which algorithm this is (never `Cc::Default`).
    pub fn algorithm(&self) -> Cc {
        match self {
            Controller::NewReno(_) => Cc::NewReno,
            Controller::Cubic(_) => Cc::Cubic,
        }
    }

    fn inner(&self) -> &dyn CongestionControl {
        match self {
            Controller::NewReno(c) => c,
            Controller::Cubic(c) => c,
        }
    }

    fn inner_mut(&mut self) -> &mut dyn CongestionControl {
        match self {
            Controller::NewReno(c) => c,
            Controller::Cubic(c) => c,
        }
    }
}

impl CongestionControl for Controller {
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

#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;

    /// One thing that can happen to a controller.
    #[derive(Debug, Clone)]
    enum Op {
        Ack {
            dt: u64,
            acked: u32,
            srtt: u64,
        },
        Congestion {
            flight: u32,
        },
        Recovered,
        Rto {
            flight: u32,
        },
        SetCwnd(u32),
        /// The clock goes back (a caller bug, or a wrapped source): still total.
        Rewind(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Edge values get extra weight: 0, 1 and the extremes are where arithmetic breaks.
        let u32_any = prop_oneof![Just(0u32), Just(1), Just(u32::MAX), any::<u32>(), 0u32..100_000];
        let u64_any = prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>(), 0u64..10_000_000_000];
        prop_oneof![
            4 => (u64_any.clone(), u32_any.clone(), u64_any.clone()).prop_map(|(dt, acked, srtt)| Op::Ack { dt, acked, srtt }),
            1 => u32_any.clone().prop_map(|flight| Op::Congestion { flight }),
            1 => Just(Op::Recovered),
            1 => u32_any.clone().prop_map(|flight| Op::Rto { flight }),
            1 => u32_any.prop_map(Op::SetCwnd),
            1 => u64_any.prop_map(Op::Rewind),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Issue 9 item 1: any MSS (0 included), any initial window, any
        /// sequence of events with any values: no panic, no NaN, the window
        /// never below one byte, a timeout leaves exactly one segment, and
        /// a loss leaves ssthresh at two segments or more.
        #[test]
        fn congestion_control_is_total(
            cubic in any::<bool>(),
            mss in prop_oneof![Just(0u32), Just(1), Just(u32::MAX), any::<u32>(), 1u32..9001],
            initial in prop_oneof![Just(0u32), Just(u32::MAX), any::<u32>()],
            ops in proptest::collection::vec(op(), 0..64),
        ) {
            let algo = if cubic { Cc::Cubic } else { Cc::NewReno };
            let mut cc = Controller::new(algo, mss, initial);
            let seg = mss.max(1);
            let mut now = 0u64;
            for op in ops {
                match op {
                    Op::Ack { dt, acked, srtt } => {
                        now = now.saturating_add(dt);
                        cc.on_ack(now, acked, srtt);
                    }
                    Op::Congestion { flight } => {
                        cc.on_congestion(now, flight);
                        prop_assert!(cc.ssthresh() >= seg.saturating_mul(2), "ssthresh {} after a loss", cc.ssthresh());
                    }
                    Op::Recovered => cc.on_recovered(now),
                    Op::Rto { flight } => {
                        cc.on_rto(now, flight);
                        prop_assert_eq!(cc.cwnd(), seg, "one segment after a timeout");
                        prop_assert!(cc.ssthresh() >= seg.saturating_mul(2));
                    }
                    Op::SetCwnd(w) => cc.set_cwnd(w),
                    Op::Rewind(by) => now = now.saturating_sub(by),
                }
                prop_assert!(cc.cwnd() >= seg, "cwnd {} below one segment of {seg}", cc.cwnd());
                prop_assert!(cc.ssthresh() >= 1);
            }
        }
    }
}
