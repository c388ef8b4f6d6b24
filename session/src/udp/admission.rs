//! Admission of UDP sessions made by the network (one per new peer
//! 5-tuple of a listener), so that one host, or a flood of spoofed ones,
//! cannot take every session or all fifo memory from everybody else.
//!
//! Three limits, each a worker's share of the node-wide `[udp]` setting:
//! sessions per listener, sessions per source address, and the bytes of
//! fifo memory those sessions hold. A new session that would exceed a count
//! limit first evicts the oldest *probationary* session of the same scope
//! (same source, or same listener); if there is none, it is refused. A
//! session is probationary until its second datagram arrives: a one-packet
//! tuple (what a port-cycling flood makes) is both the idlest session and
//! the one least likely to be missed, while a peer that has talked twice
//! is never evicted by a newcomer. Fifo memory is watched with a high-water
//! mark at 7/8 of the limit: above it each admission evicts the oldest
//! probationary session anywhere, early, so the frees (which land when the
//! app has been told, later in the same worker loop for builtin apps) keep
//! ahead of the growth; only past the limit itself is a session refused.
//!
//! Probationary sessions are kept in creation order in three intrusive
//! lists (all of the worker's, per source, per listener), so every
//! decision is O(1) and allocation-free apart from a table growing.

use std::net::{IpAddr, Ipv4Addr};

use super::TupleMap;

const NIL: u32 = u32::MAX;
/// The lists a probationary session is on.
const ALL: usize = 0;
const SOURCE: usize = 1;
const LISTENER: usize = 2;

/// A worker's limits (its share of the node-wide ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Sessions one listener may have on this worker.
    pub per_listener: u32,
    /// Sessions one source address may have on this worker.
    pub per_source: u32,
    /// Bytes of fifo memory the network's sessions may hold on this worker.
    pub memory: u64,
}

/// Why a session was evicted to admit another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    /// Its source had as many sessions as it may.
    Source,
    /// Its listener had as many sessions as it may.
    Listener,
    /// Fifo memory was above the high-water mark.
    Memory,
}

/// Why a new session was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its source has as many sessions as it may, none probationary.
    Source,
    /// Its listener has as many sessions as it may, none probationary.
    Listener,
    /// Its fifos would take fifo memory past the limit.
    Memory,
}

#[derive(Debug, Clone, Copy)]
struct Link {
    prev: u32,
    next: u32,
}

const UNLINKED: Link = Link { prev: NIL, next: NIL };

#[derive(Debug, Clone, Copy)]
struct Entry {
    live: bool,
    probation: bool,
    listener: u32,
    source: IpAddr,
    links: [Link; 3],
}

/// One scope's session count and its probationary list (oldest first).
#[derive(Debug, Clone, Copy)]
struct Scope {
    count: u32,
    head: u32,
    tail: u32,
}

impl Default for Scope {
    fn default() -> Self {
        Scope { count: 0, head: NIL, tail: NIL }
    }
}

/// The admission state of one worker.
#[derive(Debug)]
pub struct Admission {
    limits: Limits,
    entries: Vec<Entry>,
    all: Scope,
    by_source: TupleMap<IpAddr, Scope>,
    by_listener: TupleMap<u32, Scope>,
    fifo_bytes: u64,
    fifo_peak: u64,
    pressure: bool,
}

fn push_back(entries: &mut [Entry], scope: &mut Scope, list: usize, i: u32) {
    entries[i as usize].links[list] = Link { prev: scope.tail, next: NIL };
    match scope.tail {
        NIL => scope.head = i,
        t => entries[t as usize].links[list].next = i,
    }
    scope.tail = i;
}

fn unlink(entries: &mut [Entry], scope: &mut Scope, list: usize, i: u32) {
    let Link { prev, next } = entries[i as usize].links[list];
    match prev {
        NIL => scope.head = next,
        p => entries[p as usize].links[list].next = next,
    }
    match next {
        NIL => scope.tail = prev,
        n => entries[n as usize].links[list].prev = prev,
    }
    entries[i as usize].links[list] = UNLINKED;
}

impl Admission {
    /// Nothing admitted yet.
    pub fn new(limits: Limits) -> Self {
        Admission {
            limits,
            entries: Vec::new(),
            all: Scope::default(),
            by_source: TupleMap::default(),
            by_listener: TupleMap::default(),
            fifo_bytes: 0,
            fifo_peak: 0,
            pressure: false,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Makes room for a new session of `listener` from `source` whose
    /// fifos take `bytes`: evicts what must go (each evicted connection,
    /// with why, is pushed to `evicted` and forgotten here, also when the
    /// session is refused after all) or refuses.
    pub fn admit(
        &mut self,
        listener: u32,
        source: IpAddr,
        bytes: u64,
        evicted: &mut Vec<(u32, Eviction)>,
    ) -> Result<(), Refusal> {
        if self.by_source.get(&source).is_some_and(|s| s.count >= self.limits.per_source) {
            self.pressure = true;
            let oldest = self.by_source.get(&source).map_or(NIL, |s| s.head);
            if oldest == NIL {
                return Err(Refusal::Source);
            }
            self.remove(oldest);
            evicted.push((oldest, Eviction::Source));
        }
        if self.by_listener.get(&listener).is_some_and(|s| s.count >= self.limits.per_listener) {
            self.pressure = true;
            let oldest = self.by_listener.get(&listener).map_or(NIL, |s| s.head);
            if oldest == NIL {
                return Err(Refusal::Listener);
            }
            self.remove(oldest);
            evicted.push((oldest, Eviction::Listener));
        }
        let high = self.limits.memory - self.limits.memory / 8;
        if self.fifo_bytes.saturating_add(bytes) > high {
            self.pressure = true;
            let oldest = self.all.head;
            if oldest != NIL {
                self.remove(oldest);
                evicted.push((oldest, Eviction::Memory));
            }
        }
        if self.fifo_bytes.saturating_add(bytes) > self.limits.memory {
            return Err(Refusal::Memory);
        }
        Ok(())
    }

    /// Records the admitted connection `conn` (probationary).
    pub fn insert(&mut self, conn: u32, listener: u32, source: IpAddr) {
        let i = conn as usize;
        if self.entries.len() <= i {
            let blank = Entry {
                live: false,
                probation: false,
                listener: 0,
                source: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                links: [UNLINKED; 3],
            };
            self.entries.resize(i + 1, blank);
        }
        if self.entries[i].live {
            self.remove(conn);
        }
        self.entries[i] = Entry { live: true, probation: true, listener, source, links: [UNLINKED; 3] };
        let entries = &mut self.entries;
        self.all.count += 1;
        push_back(entries, &mut self.all, ALL, conn);
        let s = self.by_source.entry(source).or_default();
        s.count += 1;
        push_back(entries, s, SOURCE, conn);
        let l = self.by_listener.entry(listener).or_default();
        l.count += 1;
        push_back(entries, l, LISTENER, conn);
    }

    /// The connection received again: it leaves probation (and can no
    /// longer be evicted by a newcomer). True if it was probationary.
    #[inline]
    pub fn promote(&mut self, conn: u32) -> bool {
        match self.entries.get(conn as usize) {
            Some(e) if e.live && e.probation => {}
            _ => return false,
        }
        let Entry { source, listener, .. } = self.entries[conn as usize];
        self.unlink_all(conn, source, listener);
        self.entries[conn as usize].probation = false;
        true
    }

    fn unlink_all(&mut self, conn: u32, source: IpAddr, listener: u32) {
        let entries = &mut self.entries;
        unlink(entries, &mut self.all, ALL, conn);
        if let Some(s) = self.by_source.get_mut(&source) {
            unlink(entries, s, SOURCE, conn);
        }
        if let Some(l) = self.by_listener.get_mut(&listener) {
            unlink(entries, l, LISTENER, conn);
        }
    }

    /// Forgets connection `conn` (closed, evicted or timed out); a
    /// connection never inserted is ignored.
    pub fn remove(&mut self, conn: u32) {
        let Some(&e) = self.entries.get(conn as usize).filter(|e| e.live) else { return };
        if e.probation {
            self.unlink_all(conn, e.source, e.listener);
        }
        self.entries[conn as usize].live = false;
        self.all.count -= 1;
        if let Some(s) = self.by_source.get_mut(&e.source) {
            s.count -= 1;
            if s.count == 0 {
                self.by_source.remove(&e.source);
            }
        }
        if let Some(l) = self.by_listener.get_mut(&e.listener) {
            l.count -= 1;
            if l.count == 0 {
                self.by_listener.remove(&e.listener);
            }
        }
    }

    /// Whether `conn` is an admitted connection still on probation.
    pub fn is_probationary(&self, conn: u32) -> bool {
        self.entries.get(conn as usize).is_some_and(|e| e.live && e.probation)
    }

    /// Sessions admitted and not yet removed.
    pub fn sessions(&self) -> u32 {
        self.all.count
    }

    /// Fifo memory now allocated to the network's sessions can take `bytes` more.
    pub fn fifo_fits(&self, bytes: u64) -> bool {
        self.fifo_bytes.saturating_add(bytes) <= self.limits.memory
    }

    /// A session's fifos (`bytes`) were allocated.
    pub fn fifo_add(&mut self, bytes: u64) {
        self.fifo_bytes = self.fifo_bytes.saturating_add(bytes);
        self.fifo_peak = self.fifo_peak.max(self.fifo_bytes);
    }

    /// A session's fifos (`bytes`) were freed.
    pub fn fifo_release(&mut self, bytes: u64) {
        self.fifo_bytes = self.fifo_bytes.saturating_sub(bytes);
    }

    /// Fifo bytes held now, and the most ever held.
    pub fn fifo_usage(&self) -> (u64, u64) {
        (self.fifo_bytes, self.fifo_peak)
    }

    /// Whether a limit was reached since the last call (which clears it).
    pub fn take_pressure(&mut self) -> bool {
        std::mem::take(&mut self.pressure)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(198, 18, 0, last))
    }

    fn limits(per_listener: u32, per_source: u32, memory: u64) -> Limits {
        Limits { per_listener, per_source, memory }
    }

    /// Admits and inserts connection `conn`; returns what was evicted.
    fn add(
        a: &mut Admission,
        conn: u32,
        listener: u32,
        src: IpAddr,
        bytes: u64,
    ) -> Result<Vec<(u32, Eviction)>, Refusal> {
        let mut ev = Vec::new();
        a.admit(listener, src, bytes, &mut ev)?;
        a.insert(conn, listener, src);
        a.fifo_add(bytes);
        for &(c, _) in &ev {
            a.fifo_release(bytes);
            assert!(!a.is_probationary(c));
        }
        Ok(ev)
    }

    #[test]
    fn per_source_limit_evicts_the_oldest_probationary_of_that_source() {
        let mut a = Admission::new(limits(100, 3, 1 << 30));
        for c in 0..3 {
            assert_eq!(add(&mut a, c, 0, ip(1), 10), Ok(vec![]));
        }
        // Another source is not affected.
        assert_eq!(add(&mut a, 3, 0, ip(9), 10), Ok(vec![]));
        // The fourth from ip(1) evicts its oldest, then the next oldest.
        assert_eq!(add(&mut a, 4, 0, ip(1), 10), Ok(vec![(0, Eviction::Source)]));
        assert_eq!(add(&mut a, 5, 0, ip(1), 10), Ok(vec![(1, Eviction::Source)]));
        // A session that received twice is safe: 2 is promoted, so 4 goes next.
        assert!(a.promote(2));
        assert!(!a.promote(2));
        assert_eq!(add(&mut a, 6, 0, ip(1), 10), Ok(vec![(4, Eviction::Source)]));
        assert!(a.promote(5) && a.promote(6));
        // All three of ip(1) are established: the next is refused.
        assert_eq!(add(&mut a, 7, 0, ip(1), 10), Err(Refusal::Source));
        assert!(a.take_pressure());
        assert!(!a.take_pressure());
        // A close frees the slot.
        a.remove(5);
        assert_eq!(add(&mut a, 7, 0, ip(1), 10), Ok(vec![]));
        assert_eq!(a.sessions(), 4);
    }

    #[test]
    fn per_listener_limit_evicts_within_the_listener() {
        let mut a = Admission::new(limits(2, 100, 1 << 30));
        assert_eq!(add(&mut a, 0, 7, ip(1), 1), Ok(vec![]));
        assert_eq!(add(&mut a, 1, 8, ip(2), 1), Ok(vec![]));
        assert_eq!(add(&mut a, 2, 7, ip(3), 1), Ok(vec![]));
        // Listener 7 is full: its oldest (0) goes, not listener 8's (1).
        assert_eq!(add(&mut a, 3, 7, ip(4), 1), Ok(vec![(0, Eviction::Listener)]));
        assert!(a.promote(2) && a.promote(3));
        assert_eq!(add(&mut a, 4, 7, ip(5), 1), Err(Refusal::Listener));
        assert_eq!(add(&mut a, 4, 8, ip(5), 1), Ok(vec![]));
    }

    #[test]
    fn memory_evicts_early_above_the_high_water_mark_and_refuses_past_the_limit() {
        // 800 bytes: the high-water mark is 700.
        let mut a = Admission::new(limits(100, 100, 800));
        for c in 0..7 {
            assert_eq!(add(&mut a, c, 0, ip(c as u8 + 1), 100), Ok(vec![]));
        }
        // 700 + 100 > 700: the oldest anywhere is evicted (its bytes come
        // back when its session is freed; `add` does that at once).
        assert_eq!(add(&mut a, 7, 0, ip(50), 100), Ok(vec![(0, Eviction::Memory)]));
        assert_eq!(a.fifo_usage(), (700, 800));
        // Nothing probationary left and no room: refused.
        for c in 1..8 {
            a.promote(c);
        }
        a.fifo_add(100);
        assert_eq!(add(&mut a, 8, 0, ip(60), 100), Err(Refusal::Memory));
        assert!(!a.fifo_fits(1));
        a.fifo_release(100);
        assert!(a.fifo_fits(100));
    }

    #[test]
    fn lists_stay_consistent_under_any_order_of_operations() {
        // A small model check: random inserts, promotions and removals keep
        // counts equal to the live entries, and eviction always picks the
        // oldest probationary session of the scope.
        let mut a = Admission::new(limits(5, 3, 1 << 40));
        let mut model: Vec<(u32, u32, IpAddr, bool)> = Vec::new(); // (conn, listener, source, probation), oldest first
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut next = 0u32;
        for _ in 0..5000 {
            match rnd(4) {
                0 | 1 => {
                    let (l, s) = (rnd(2) as u32, ip(rnd(3) as u8));
                    let mut ev = Vec::new();
                    let r = a.admit(l, s, 1, &mut ev);
                    // Expected: the oldest probationary of the source, then of the listener.
                    let mut m = model.clone();
                    let mut want = Vec::new();
                    let mut refused = None;
                    if m.iter().filter(|e| e.2 == s).count() >= 3 {
                        match m.iter().position(|e| e.2 == s && e.3) {
                            Some(p) => want.push((m.remove(p).0, Eviction::Source)),
                            None => refused = Some(Refusal::Source),
                        }
                    }
                    if refused.is_none() && m.iter().filter(|e| e.1 == l).count() >= 5 {
                        match m.iter().position(|e| e.1 == l && e.3) {
                            Some(p) => want.push((m.remove(p).0, Eviction::Listener)),
                            None => refused = Some(Refusal::Listener),
                        }
                    }
                    match refused {
                        Some(why) => assert_eq!(r, Err(why)),
                        None => {
                            assert_eq!(r, Ok(()));
                            a.insert(next, l, s);
                            m.push((next, l, s, true));
                            next += 1;
                        }
                    }
                    assert_eq!(ev, want);
                    model = m;
                }
                2 if !model.is_empty() => {
                    let p = rnd(model.len() as u64) as usize;
                    assert_eq!(a.promote(model[p].0), model[p].3);
                    model[p].3 = false;
                }
                3 if !model.is_empty() => {
                    let p = rnd(model.len() as u64) as usize;
                    a.remove(model.remove(p).0);
                }
                _ => {}
            }
            assert_eq!(a.sessions() as usize, model.len());
            for e in &model {
                assert_eq!(a.is_probationary(e.0), e.3);
            }
        }
    }
}
