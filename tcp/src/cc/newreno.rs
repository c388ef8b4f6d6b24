//! NewReno's window arithmetic (RFC 5681): slow start adds up to two
//! segments per ACK (appropriate byte counting, RFC 3465 with L = 2) until
//! ssthresh, congestion avoidance adds one segment per window of bytes
//! acknowledged, and a loss halves the flight. The fast recovery part of
//! NewReno (RFC 6582 partial ACKs) lives in the connection, since SACK
//! recovery replaces it when negotiated.

use super::CongestionControl;

/// NewReno congestion control state.
#[derive(Debug, Clone)]
pub struct NewReno {
    mss: u32,
    cwnd: u32,
    ssthresh: u32,
    /// Bytes acknowledged in congestion avoidance since cwnd last grew.
    bytes_acked: u32,
}

impl NewReno {
    /// Starts with `initial_cwnd` bytes (at least one segment) and an
    /// unbounded ssthresh; an `mss` of 0 counts as 1.
    pub fn new(mss: u32, initial_cwnd: u32) -> Self {
        let mss = mss.max(1);
        NewReno { mss, cwnd: initial_cwnd.max(mss), ssthresh: u32::MAX, bytes_acked: 0 }
    }
}

/// Half the flight, but at least two segments (RFC 5681 eq. 4).
pub(super) fn half_flight(flight: u32, mss: u32) -> u32 {
    (flight / 2).max(mss.saturating_mul(2))
}

impl CongestionControl for NewReno {
    fn cwnd(&self) -> u32 {
        self.cwnd
    }

    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }

    fn set_cwnd(&mut self, cwnd: u32) {
        self.cwnd = cwnd.max(self.mss);
    }

    fn on_ack(&mut self, _now: u64, acked: u32, _srtt: u64) {
        if self.cwnd < self.ssthresh {
            self.cwnd = self.cwnd.saturating_add(acked.min(self.mss.saturating_mul(2)));
        } else {
            self.bytes_acked = self.bytes_acked.saturating_add(acked);
            if self.bytes_acked >= self.cwnd {
                self.bytes_acked -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(self.mss);
            }
        }
    }

    fn on_congestion(&mut self, _now: u64, flight: u32) {
        self.ssthresh = half_flight(flight, self.mss);
        self.cwnd = self.ssthresh;
        self.bytes_acked = 0;
    }

    fn on_recovered(&mut self, _now: u64) {
        self.cwnd = self.ssthresh.max(self.mss);
    }

    fn on_rto(&mut self, _now: u64, flight: u32) {
        self.ssthresh = half_flight(flight, self.mss);
        self.cwnd = self.mss;
        self.bytes_acked = 0;
    }
}

#[cfg(test)]
mod test {
    use super::*;

    const MSS: u32 = 1000;

    /// Acknowledges one full window in MSS-sized ACKs (one round trip).
    fn round_trip(c: &mut NewReno) {
        let segs = c.cwnd() / MSS;
        for _ in 0..segs {
            c.on_ack(0, MSS, 0);
        }
    }

    #[test]
    fn slow_start_doubles_per_round_trip() {
        let mut c = NewReno::new(MSS, 10 * MSS);
        round_trip(&mut c);
        assert_eq!(c.cwnd(), 20 * MSS);
        round_trip(&mut c);
        assert_eq!(c.cwnd(), 40 * MSS);
    }

    #[test]
    fn abc_limits_growth_per_ack_to_two_segments() {
        let mut c = NewReno::new(MSS, 10 * MSS);
        c.on_ack(0, 10 * MSS, 0);
        assert_eq!(c.cwnd(), 12 * MSS);
    }

    #[test]
    fn congestion_avoidance_adds_one_segment_per_round_trip() {
        let mut c = NewReno::new(MSS, 10 * MSS);
        c.on_congestion(0, 40 * MSS);
        assert_eq!((c.ssthresh(), c.cwnd()), (20 * MSS, 20 * MSS));
        for k in 1..=5 {
            round_trip(&mut c);
            assert_eq!(c.cwnd(), (20 + k) * MSS);
        }
    }

    #[test]
    fn rto_collapses_to_one_segment_then_slow_starts_to_ssthresh() {
        let mut c = NewReno::new(MSS, 10 * MSS);
        c.on_rto(0, 3 * MSS);
        assert_eq!((c.ssthresh(), c.cwnd()), (2 * MSS, MSS));
        c.on_ack(0, MSS, 0);
        assert_eq!(c.cwnd(), 2 * MSS);
        // At ssthresh: congestion avoidance from here.
        c.on_ack(0, MSS, 0);
        assert_eq!(c.cwnd(), 2 * MSS);
        c.on_ack(0, MSS, 0);
        assert_eq!(c.cwnd(), 3 * MSS);
    }
}
