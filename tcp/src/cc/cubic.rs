//! CUBIC (RFC 9438). In congestion avoidance the window follows
//! `W_cubic(t) = C * (t - K)^3 + W_max` (in segments, t in seconds since the
//! epoch began), with `K = cbrt((W_max - cwnd_epoch) / C)`, targeting the
//! value one RTT ahead and clamped to grow at most 1.5x per RTT; when the
//! Reno-friendly estimate `W_est` is above the curve, the window follows
//! `W_est` instead (§4.3). A loss multiplies the window by `BETA` and, with
//! fast convergence, lowers `W_max` further when it shrank since the last
//! loss (§4.7). Slow start is the standard one, as in [`super::NewReno`].

use super::CongestionControl;

/// The cubic scaling constant `C` (segments / s^3).
pub const C: f64 = 0.4;
/// Multiplicative decrease factor `β_cubic`.
pub const BETA: f64 = 0.7;
/// Additive increase of the Reno-friendly estimate, `α_cubic = 3(1-β)/(1+β)`.
pub const ALPHA: f64 = 3.0 * (1.0 - BETA) / (1.0 + BETA);

const NS_PER_SEC: f64 = 1e9;

/// CUBIC congestion control state.
#[derive(Debug, Clone)]
pub struct Cubic {
    mss: u32,
    /// The window in segments (fractional, so per-ACK increments add up).
    w: f64,
    ssthresh: u32,
    /// Window before the last reduction, in segments.
    w_max: f64,
    /// `cwnd_prior`: the window when the last loss was detected (segments).
    w_prior: f64,
    /// Time the current congestion avoidance epoch began; None = not started.
    epoch_start: Option<u64>,
    /// `K`, in seconds.
    k: f64,
    /// The Reno-friendly estimate `W_est`, in segments.
    w_est: f64,
}

impl Cubic {
    /// Starts with `initial_cwnd` bytes (at least one segment) and an
    /// unbounded ssthresh; an `mss` of 0 counts as 1.
    pub fn new(mss: u32, initial_cwnd: u32) -> Self {
        let mss = mss.max(1);
        let w = f64::from(initial_cwnd.max(mss)) / f64::from(mss);
        let mut c =
            Cubic { mss, w, ssthresh: u32::MAX, w_max: 0.0, w_prior: 0.0, epoch_start: None, k: 0.0, w_est: 0.0 };
        c.bound();
        c
    }

    /// The most segments a `u32` window can hold.
    fn max_segments(&self) -> f64 {
        f64::from(u32::MAX) / f64::from(self.mss)
    }

    /// Keeps every window variable a finite number of segments in
    /// `[1, max_segments]` (NaN becomes 1), whatever the inputs did: the
    /// arithmetic below may then divide by `w` and compare freely.
    fn bound(&mut self) {
        let max = self.max_segments();
        let fix = |v: f64, lo: f64| if v.is_nan() { lo } else { v.clamp(lo, max) };
        self.w = fix(self.w, 1.0);
        self.w_max = fix(self.w_max, 0.0);
        self.w_prior = fix(self.w_prior, 0.0);
        self.w_est = fix(self.w_est, 0.0);
        self.k = if self.k.is_finite() { self.k.max(0.0) } else { 0.0 };
    }

    /// `W_max` in segments.
    pub fn w_max(&self) -> f64 {
        self.w_max
    }

    /// `K` in seconds.
    pub fn k(&self) -> f64 {
        self.k
    }

    /// `W_cubic(t)` in segments, t in seconds since the epoch began (RFC 9438 eq. 1).
    pub fn w_cubic(&self, t: f64) -> f64 {
        C * (t - self.k).powi(3) + self.w_max
    }

    fn reduce(&mut self) {
        // Fast convergence (§4.7): a window that shrank since the last loss
        // means a new flow arrived; release bandwidth by lowering W_max.
        self.w_max = if self.w < self.w_max { self.w * (1.0 + BETA) / 2.0 } else { self.w };
        self.w_prior = self.w;
        self.epoch_start = None;
    }
}

impl CongestionControl for Cubic {
    fn cwnd(&self) -> u32 {
        (self.w * f64::from(self.mss)).min(f64::from(u32::MAX)) as u32
    }

    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }

    fn set_cwnd(&mut self, cwnd: u32) {
        self.w = f64::from(cwnd.max(self.mss)) / f64::from(self.mss);
        self.bound();
    }

    fn on_ack(&mut self, now: u64, acked: u32, srtt: u64) {
        self.grow(now, acked, srtt);
        self.bound();
    }

    fn on_congestion(&mut self, _now: u64, _flight: u32) {
        self.reduce();
        self.w = (self.w * BETA).max(2.0);
        self.bound();
        self.ssthresh = self.cwnd().max(self.mss.saturating_mul(2));
    }

    fn on_recovered(&mut self, _now: u64) {
        self.w = f64::from(self.ssthresh) / f64::from(self.mss);
        self.bound();
    }

    fn on_rto(&mut self, _now: u64, _flight: u32) {
        // §4.8: a timeout collapses the window like standard TCP, with ssthresh from β_cubic.
        self.reduce();
        self.ssthresh = ((self.w * BETA * f64::from(self.mss)) as u32).max(self.mss.saturating_mul(2));
        self.w = 1.0;
        self.bound();
    }
}

impl Cubic {
    /// Window growth for `acked` new bytes: slow start, then §4.2-4.5.
    fn grow(&mut self, now: u64, acked: u32, srtt: u64) {
        let acked_segs = f64::from(acked) / f64::from(self.mss);
        if self.cwnd() < self.ssthresh {
            self.w += acked_segs.min(2.0);
            return;
        }
        let epoch = *self.epoch_start.get_or_insert_with(|| {
            // §4.2: K from the window at the start of the epoch.
            if self.w < self.w_max {
                self.k = ((self.w_max - self.w) / C).cbrt();
            } else {
                self.k = 0.0;
                self.w_max = self.w;
            }
            self.w_est = self.w;
            now
        });
        let t = now.saturating_sub(epoch) as f64 / NS_PER_SEC;
        let rtt = srtt as f64 / NS_PER_SEC;

        // §4.3: W_est grows like Reno with α_cubic until it passes cwnd_prior, then with 1.
        let alpha = if self.w_est >= self.w_prior { 1.0 } else { ALPHA };
        self.w_est += alpha * acked_segs / self.w;

        if self.w_cubic(t) < self.w_est {
            self.w = self.w_est;
        } else {
            // §4.4/4.5: move towards W_cubic one RTT ahead, at most 1.5x per
            // RTT. max/min rather than clamp: they cannot panic, and a NaN
            // target (an infinite t - K cubed) leaves the window where it is.
            let target = self.w_cubic(t + rtt).max(self.w).min(1.5 * self.w);
            self.w += (target - self.w) / self.w * acked_segs;
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    const MSS: u32 = 1000;
    const MS: u64 = 1_000_000;

    /// A CUBIC that just reduced from `w_max` segments.
    fn after_loss(w_max: u32) -> Cubic {
        let mut c = Cubic::new(MSS, w_max * MSS);
        c.ssthresh = 0; // as if slow start had ended
        c.on_congestion(0, w_max * MSS);
        c
    }

    /// Drives one window of per-segment ACKs per RTT from `start` for
    /// `rtts` round trips; returns the window in segments after each.
    fn drive(c: &mut Cubic, start: u64, rtt: u64, rtts: u32) -> Vec<f64> {
        let mut out = Vec::new();
        for r in 0..rtts {
            let n = c.cwnd() / MSS;
            let at = start + u64::from(r) * rtt;
            for k in 0..n {
                c.on_ack(at + u64::from(k) * rtt / u64::from(n), MSS, rtt);
            }
            out.push(c.w);
        }
        out
    }

    #[test]
    fn reduction_uses_beta_and_k_follows_eq_2() {
        let mut c = after_loss(100);
        assert!((c.w - 70.0).abs() < 1e-9);
        assert_eq!(c.ssthresh(), 70 * MSS);
        c.on_ack(0, MSS, 100 * MS);
        // K = cbrt(W_max (1 - β) / C) = cbrt(100 * 0.3 / 0.4) = cbrt(75).
        assert!((c.k() - 75f64.cbrt()).abs() < 0.01, "K = {}", c.k());
        assert!((c.w_max() - 100.0).abs() < 1e-9);
    }

    #[test]
    fn window_tracks_the_cubic_curve() {
        // W_max = 1000 segments, RTT 100 ms: the Reno-friendly estimate
        // (+0.53 segment per RTT) stays far below the curve, so the window
        // follows W_cubic: concave up to W_max at t = K, convex after.
        let rtt = 100 * MS;
        let mut c = after_loss(1000);
        let ws = drive(&mut c, 0, rtt, 150);
        let k = (1000.0 * (1.0 - BETA) / C).cbrt();
        assert!((c.k() - k).abs() < 1e-6);
        let w = |t: f64| C * (t - k).powi(3) + 1000.0;
        for (r, &got) in ws.iter().enumerate() {
            let t = (r as f64 + 1.0) * 0.1; // end of round trip r
                                            // Per ACK the window moves towards W_cubic one RTT ahead, so it
                                            // sits between the curve one RTT back and one RTT ahead.
            let (lo, hi) = (w(t - 0.1).min(w(t + 0.1)), w(t - 0.1).max(w(t + 0.1)));
            assert!(got >= lo - 1.0 && got <= hi + 1.0, "rtt {r}: w {got}, W_cubic in [{lo}, {hi}]");
        }
        let at_k = ws[(k * 10.0) as usize - 1];
        assert!((at_k - 1000.0).abs() < 2.0, "at K: {at_k}");
        assert!(c.w_est < c.w, "stayed in the cubic region");
    }

    #[test]
    fn fast_convergence_lowers_w_max() {
        let mut c = after_loss(100);
        // A second loss before reaching W_max again.
        c.on_ack(0, MSS, 10 * MS);
        c.on_congestion(0, 0);
        // W_max = 70 * (1 + 0.7) / 2 = 59.5, window 70 * 0.7 = 49.
        assert!((c.w_max() - 59.5).abs() < 0.1, "{}", c.w_max());
        assert!((c.w - 49.0).abs() < 0.1);
    }

    #[test]
    fn reno_friendly_region_on_short_rtt() {
        // With a 1 ms RTT the curve barely moves in a few RTTs (dW/dt at
        // t = 0 is 3 C K^2 ~ 21 segments/s), so the window follows W_est,
        // which grows by α_cubic per RTT (per window of ACKs) below cwnd_prior.
        let rtt = MS;
        let mut c = after_loss(100);
        let ws = drive(&mut c, 0, rtt, 20);
        let growth = ws[19] - ws[9];
        assert!((growth - 10.0 * ALPHA).abs() < 0.3, "grew {growth} in 10 RTTs, want ~{}", 10.0 * ALPHA);
        assert!((c.w - c.w_est).abs() < 1e-9, "window follows W_est");
        // Past cwnd_prior W_est grows by one segment per RTT, like Reno.
        let mut c = after_loss(100);
        let ws = drive(&mut c, 0, rtt, 80);
        assert!(ws[59] > 100.0);
        assert!((ws[79] - ws[69] - 10.0).abs() < 0.5, "{}", ws[79] - ws[69]);
    }

    #[test]
    fn slow_start_then_rto() {
        let mut c = Cubic::new(MSS, 10 * MSS);
        for _ in 0..10 {
            c.on_ack(0, MSS, 0);
        }
        assert_eq!(c.cwnd(), 20 * MSS);
        c.on_rto(0, 20 * MSS);
        assert_eq!(c.cwnd(), MSS);
        assert_eq!(c.ssthresh(), 14 * MSS);
        c.on_recovered(0);
        assert_eq!(c.cwnd(), 14 * MSS);
    }
}
