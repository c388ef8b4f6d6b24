//! Duplicate address detection (RFC 4862 5.4) for an interface's IPv6
//! addresses, sans-IO: an address starts *tentative*; the caller sends the
//! solicitations [`Dad::poll`] asks for (from `::` to the address's
//! solicited-node group, `transmits` of them `retrans_ns` apart, after a
//! random delay of up to `max_delay_ns`, RFC 4862 5.4.2); a solicitation
//! from `::` for a tentative address (another node checking it too) or an
//! advertisement for it means it is a *duplicate*; once the last
//! solicitation has gone unanswered for `retrans_ns` it is *preferred* and
//! the node may use it. An advertisement for a preferred address is the
//! other node's late DAD or a conflict: counted and reported
//! ([`DadEvent::Conflict`]), the address is kept (RFC 4862 5.4.4 leaves the
//! choice; Linux keeps it too).
//!
//! Until an address is preferred the node must not answer solicitations
//! for it nor use it as a source ([`Dad::is_usable`]).

use std::net::Ipv6Addr;

use smallvec::SmallVec;

counters::counters! {
    /// A duplicate-address-detection counter.
    pub enum DadCounter {
        Solicits => ("dad solicitations sent", false),
        Succeeded => ("dad addresses preferred", false),
        Duplicates => ("dad duplicate address detected", true),
        Conflicts => ("dad advertisement for a preferred address", true),
    }
}

/// The counter block of a [`Dad`].
pub type DadCounters = counters::LocalCounters<DadCounter, { DadCounter::COUNT }>;

/// DAD parameters (RFC 4862 5.1 defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DadConfig {
    /// DupAddrDetectTransmits: solicitations per address (default 1; 0
    /// makes every address preferred at once).
    pub transmits: u32,
    /// RetransTimer in ns (default 1 s).
    pub retrans_ns: u64,
    /// MAX_RTR_SOLICITATION_DELAY: the first solicitation waits a random
    /// time up to this, in ns (default 1 s), so nodes that start together
    /// do not collide.
    pub max_delay_ns: u64,
    /// Seed of that random delay.
    pub seed: u64,
}

impl Default for DadConfig {
    fn default() -> DadConfig {
        DadConfig { transmits: 1, retrans_ns: 1_000_000_000, max_delay_ns: 1_000_000_000, seed: 0x2545_f491_4f6c_dd1d }
    }
}

/// Where an address stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DadState {
    /// Being checked; not usable yet.
    Tentative,
    /// Checked and unique: usable.
    Preferred,
    /// Another node has it: never used.
    Duplicate,
}

impl DadState {
    /// The name `show interface` prints.
    pub const fn as_str(self) -> &'static str {
        match self {
            DadState::Tentative => "tentative",
            DadState::Preferred => "preferred",
            DadState::Duplicate => "duplicate",
        }
    }
}

/// What happened to an address, from `poll` and the `on_*` calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DadEvent {
    /// Send a DAD solicitation for this address now.
    Solicit(Ipv6Addr),
    /// The address passed: announce it (an unsolicited advertisement).
    Preferred(Ipv6Addr),
    /// The address is a duplicate: log it loudly, do not use it.
    Duplicate(Ipv6Addr),
    /// Someone advertised an address we already use.
    Conflict(Ipv6Addr),
}

/// Events of one call (few: a handful of addresses per interface).
pub type DadEvents = SmallVec<[DadEvent; 4]>;

struct Addr {
    ip: Ipv6Addr,
    state: DadState,
    sent: u32,
    next_at: u64,
}

/// The DAD state of one interface's addresses.
pub struct Dad {
    cfg: DadConfig,
    rng: u64,
    addrs: Vec<Addr>,
    counters: DadCounters,
}

impl Dad {
    /// No addresses yet.
    pub fn new(cfg: DadConfig) -> Dad {
        Dad { rng: cfg.seed | 1, cfg, addrs: Vec::new(), counters: DadCounters::default() }
    }

    /// The counters.
    pub fn counters(&self) -> &DadCounters {
        &self.counters
    }

    fn random_delay(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        if self.cfg.max_delay_ns == 0 {
            0
        } else {
            self.rng % self.cfg.max_delay_ns
        }
    }

    /// Start checking `ip` at `now` (again, if it was there: e.g. when the
    /// link comes back up). With `transmits == 0` it is preferred at once.
    pub fn start(&mut self, ip: Ipv6Addr, now: u64) {
        let next_at = now.saturating_add(self.random_delay());
        let state = if self.cfg.transmits == 0 { DadState::Preferred } else { DadState::Tentative };
        let a = Addr { ip, state, sent: 0, next_at };
        match self.addrs.iter_mut().find(|a| a.ip == ip) {
            Some(old) => *old = a,
            None => self.addrs.push(a),
        }
    }

    /// Stop tracking `ip` (the address was removed).
    pub fn remove(&mut self, ip: Ipv6Addr) {
        self.addrs.retain(|a| a.ip != ip);
    }

    /// The state of `ip`, if tracked.
    pub fn state(&self, ip: Ipv6Addr) -> Option<DadState> {
        self.addrs.iter().find(|a| a.ip == ip).map(|a| a.state)
    }

    /// Whether `ip` may be used as a source and answered for.
    pub fn is_usable(&self, ip: Ipv6Addr) -> bool {
        self.state(ip) == Some(DadState::Preferred)
    }

    /// Every tracked address and its state.
    pub fn iter(&self) -> impl Iterator<Item = (Ipv6Addr, DadState)> + '_ {
        self.addrs.iter().map(|a| (a.ip, a.state))
    }

    /// The earliest time `poll` has work, if any.
    pub fn poll_at(&self) -> Option<u64> {
        self.addrs.iter().filter(|a| a.state == DadState::Tentative).map(|a| a.next_at).min()
    }

    /// Run the timers at `now`.
    pub fn poll(&mut self, now: u64) -> DadEvents {
        let mut out = DadEvents::new();
        for a in &mut self.addrs {
            if a.state != DadState::Tentative || now < a.next_at {
                continue;
            }
            if a.sent < self.cfg.transmits {
                a.sent += 1;
                a.next_at = now.saturating_add(self.cfg.retrans_ns);
                self.counters.incr(DadCounter::Solicits);
                out.push(DadEvent::Solicit(a.ip));
            } else {
                a.state = DadState::Preferred;
                self.counters.incr(DadCounter::Succeeded);
                out.push(DadEvent::Preferred(a.ip));
            }
        }
        out
    }

    /// A neighbour solicitation from `::` for `target` arrived: another
    /// node is checking the same address. Our own looped-back solicitation
    /// would look the same; links that loop multicast back need RFC 7527's
    /// nonce, which this node does not send (none of its ports loop).
    pub fn on_dad_solicit(&mut self, target: Ipv6Addr) -> Option<DadEvent> {
        let a = self.addrs.iter_mut().find(|a| a.ip == target && a.state == DadState::Tentative)?;
        a.state = DadState::Duplicate;
        self.counters.incr(DadCounter::Duplicates);
        Some(DadEvent::Duplicate(target))
    }

    /// A neighbour advertisement for `target` arrived.
    pub fn on_advert(&mut self, target: Ipv6Addr) -> Option<DadEvent> {
        let a = self.addrs.iter_mut().find(|a| a.ip == target)?;
        match a.state {
            DadState::Tentative => {
                a.state = DadState::Duplicate;
                self.counters.incr(DadCounter::Duplicates);
                Some(DadEvent::Duplicate(target))
            }
            DadState::Preferred => {
                self.counters.incr(DadCounter::Conflicts);
                Some(DadEvent::Conflict(target))
            }
            DadState::Duplicate => None,
        }
    }
}

impl core::fmt::Debug for Dad {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_map().entries(self.addrs.iter().map(|a| (a.ip, a.state))).finish()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    const S: u64 = 1_000_000_000;
    const A: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x198, 0x18, 0, 0, 0, 0, 2);
    const LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0xff, 0xfe00, 2);

    fn no_delay() -> DadConfig {
        DadConfig { max_delay_ns: 0, ..DadConfig::default() }
    }

    #[test]
    fn unanswered_solicitation_makes_it_preferred() {
        let mut d = Dad::new(no_delay());
        d.start(A, 0);
        assert_eq!(d.state(A), Some(DadState::Tentative));
        assert!(!d.is_usable(A));
        assert_eq!(d.poll(0).as_slice(), &[DadEvent::Solicit(A)]);
        assert_eq!(d.poll_at(), Some(S));
        assert!(d.poll(S - 1).is_empty());
        assert_eq!(d.poll(S).as_slice(), &[DadEvent::Preferred(A)]);
        assert!(d.is_usable(A));
        assert_eq!(d.poll_at(), None);
        assert_eq!((d.counters().get(DadCounter::Solicits), d.counters().get(DadCounter::Succeeded)), (1, 1));
    }

    #[test]
    fn random_first_delay_is_bounded() {
        let mut d = Dad::new(DadConfig::default());
        for i in 0..50u16 {
            let ip = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, i);
            d.start(ip, 10 * S);
        }
        for (ip, _) in d.iter().collect::<Vec<_>>() {
            let at = d.addrs.iter().find(|a| a.ip == ip).unwrap().next_at;
            assert!((10 * S..11 * S).contains(&at));
        }
        assert!(d.poll(11 * S).iter().all(|e| matches!(e, DadEvent::Solicit(_))));
    }

    #[test]
    fn duplicates_from_solicit_or_advert() {
        let mut d = Dad::new(no_delay());
        d.start(A, 0);
        d.start(LL, 0);
        d.poll(0);
        assert_eq!(d.on_dad_solicit(A), Some(DadEvent::Duplicate(A)));
        assert_eq!(d.on_advert(LL), Some(DadEvent::Duplicate(LL)));
        assert_eq!(d.state(A), Some(DadState::Duplicate));
        // Duplicates never become preferred.
        assert!(d.poll(10 * S).is_empty());
        assert!(!d.is_usable(A) && !d.is_usable(LL));
        assert_eq!(d.counters().get(DadCounter::Duplicates), 2);
        assert_eq!(d.on_advert(A), None);
        // Restarting (link up again) checks anew.
        d.start(A, 20 * S);
        assert_eq!(d.state(A), Some(DadState::Tentative));
    }

    #[test]
    fn conflicts_after_preferred_are_reported_not_fatal() {
        let mut d = Dad::new(no_delay());
        d.start(A, 0);
        d.poll(0);
        d.poll(S);
        assert_eq!(d.on_dad_solicit(A), None, "a late DAD probe for our address: we defend it by answering");
        assert_eq!(d.on_advert(A), Some(DadEvent::Conflict(A)));
        assert!(d.is_usable(A));
        assert_eq!(d.on_advert(Ipv6Addr::LOCALHOST), None);
        d.remove(A);
        assert_eq!(d.state(A), None);
    }

    #[test]
    fn several_transmits_and_none() {
        let mut d = Dad::new(DadConfig { transmits: 3, ..no_delay() });
        d.start(A, 0);
        let sends: usize = (0..4).map(|i| d.poll(i * S).len()).sum();
        assert_eq!(sends, 4, "three solicitations, then preferred");
        assert!(d.is_usable(A));
        let mut d = Dad::new(DadConfig { transmits: 0, ..no_delay() });
        d.start(A, 0);
        assert!(d.is_usable(A));
    }
}
