//! Listen backlog accounting. The worker keeps one [`ListenBacklog`] per
//! listener, asks it what to do with each SYN, and reports when a
//! half-open connection becomes established or dies. When the half-open
//! count reaches the limit, SYNs are answered with SYN cookies (or dropped
//! if cookies are off), so a SYN flood cannot exhaust connection state.

/// When to answer SYNs with cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SynCookieMode {
    /// Never: a full backlog drops SYNs.
    Never,
    /// Only while the half-open backlog is full (the default, as Linux).
    #[default]
    WhenFull,
    /// For every SYN (no half-open state at all).
    Always,
}

/// What to do with a SYN for a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynDecision {
    /// Create a half-open connection (already counted).
    Accept,
    /// Answer statelessly with a cookie SYN-ACK.
    Cookie,
    /// Drop the SYN silently.
    Drop,
}

/// A listener's half-open connection count and limit.
#[derive(Debug, Clone)]
pub struct ListenBacklog {
    max_half_open: u32,
    half_open: u32,
    mode: SynCookieMode,
}

impl ListenBacklog {
    /// A backlog of at most `max_half_open` half-open connections.
    pub fn new(max_half_open: u32, mode: SynCookieMode) -> Self {
        ListenBacklog { max_half_open, half_open: 0, mode }
    }

    /// Decides for one SYN; an `Accept` counts a new half-open connection.
    pub fn on_syn(&mut self) -> SynDecision {
        match self.mode {
            SynCookieMode::Always => SynDecision::Cookie,
            _ if self.half_open < self.max_half_open => {
                self.half_open += 1;
                SynDecision::Accept
            }
            SynCookieMode::WhenFull => SynDecision::Cookie,
            SynCookieMode::Never => SynDecision::Drop,
        }
    }

    /// A half-open connection left SYN-RECEIVED (established, reset or timed out).
    pub fn on_half_open_done(&mut self) {
        self.half_open = self.half_open.saturating_sub(1);
    }

    /// Whether a cookie ACK should be checked for this listener: cookies
    /// may have been sent (mode not `Never`). The worker validates ACKs that
    /// match no connection only for such listeners.
    pub fn cookies_possible(&self) -> bool {
        self.mode != SynCookieMode::Never
    }

    /// Half-open connections now.
    pub fn half_open(&self) -> u32 {
        self.half_open
    }

    /// The limit.
    pub fn max_half_open(&self) -> u32 {
        self.max_half_open
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn switches_to_cookies_when_full() {
        let mut b = ListenBacklog::new(2, SynCookieMode::WhenFull);
        assert_eq!(b.on_syn(), SynDecision::Accept);
        assert_eq!(b.on_syn(), SynDecision::Accept);
        assert_eq!(b.on_syn(), SynDecision::Cookie);
        assert_eq!(b.half_open(), 2);
        b.on_half_open_done();
        assert_eq!(b.on_syn(), SynDecision::Accept);
        assert!(b.cookies_possible());
    }

    #[test]
    fn never_drops_and_always_cookies() {
        let mut b = ListenBacklog::new(1, SynCookieMode::Never);
        assert_eq!(b.on_syn(), SynDecision::Accept);
        assert_eq!(b.on_syn(), SynDecision::Drop);
        assert!(!b.cookies_possible());
        let mut b = ListenBacklog::new(1, SynCookieMode::Always);
        assert_eq!(b.on_syn(), SynDecision::Cookie);
        assert_eq!(b.half_open(), 0);
    }
}
