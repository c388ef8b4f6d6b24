//! A token bucket: a rate limit with bursts (ICMP errors, and whatever else a
//! worker must not send faster than some rate). Time is a parameter.

/// A token bucket: `rate` tokens per second, at most `burst` saved up.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    tokens: u64,
    burst: u64,
    ns_per_token: u64,
    last_ns: u64,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate_per_s: u64, burst: u64) -> Self {
        TokenBucket { tokens: burst, burst, ns_per_token: 1_000_000_000 / rate_per_s.max(1), last_ns: 0 }
    }

    /// Take a token at time `now_ns`; false when empty.
    pub fn take(&mut self, now_ns: u64) -> bool {
        let earned = now_ns.saturating_sub(self.last_ns) / self.ns_per_token;
        if earned > 0 {
            self.tokens = (self.tokens + earned).min(self.burst);
            self.last_ns += earned * self.ns_per_token;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

#[cfg(test)]
mod test {
    use super::TokenBucket;

    #[test]
    fn token_bucket_limits_rate_and_burst() {
        let mut b = TokenBucket::new(1000, 3);
        assert!((0..3).all(|_| b.take(0)));
        assert!(!b.take(0));
        assert!(!b.take(999_999));
        assert!(b.take(1_000_000));
        assert!(!b.take(1_000_001));
        // A long pause refills only up to the burst.
        assert_eq!((0..10).filter(|_| b.take(10_000_000_000)).count(), 3);
    }
}
