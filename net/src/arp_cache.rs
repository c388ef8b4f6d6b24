//! The per-worker ARP cache: IPv4 address to MAC, plus the packets waiting
//! for a resolution. Sans-IO: time is a `u64` of nanoseconds passed in by
//! the caller, and the cache never sends anything itself. It tells the
//! caller when to send a request (`Enqueue::SendRequest`, the `poll`
//! callback) and hands back packets to transmit (`insert`) or to free
//! (`Enqueue::Dropped`, the `poll` callback).
//!
//! Memory is bounded: at most `capacity` entries, at most
//! `max_pending_per_entry` packets per entry and `max_pending_total`
//! packets in all. When the table is full, the resolved entry refreshed
//! longest ago is evicted; entries with packets waiting are never evicted.
//! A request is retransmitted every `retry_ns`; after `max_retries`
//! retransmissions go unanswered for another `retry_ns`, the entry fails
//! and its packets are dropped.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::Ipv4Addr;

use smallvec::SmallVec;

use wire::ethernet;

/// Limits and timers of an ARP cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpConfig {
    /// Maximum number of entries, resolved and pending together.
    pub capacity: usize,
    /// How long a resolved entry stays valid, in ns (default 300 s).
    pub reachable_ns: u64,
    /// Interval between requests for an unresolved address, in ns (default 1 s).
    pub retry_ns: u64,
    /// Retransmissions after the first request before giving up (default 3).
    pub max_retries: u32,
    /// Packets queued per unresolved address (default 64; Linux keeps about as many).
    pub max_pending_per_entry: usize,
    /// Packets queued over all unresolved addresses (default 1024).
    pub max_pending_total: usize,
}

impl Default for ArpConfig {
    fn default() -> ArpConfig {
        ArpConfig {
            capacity: 1024,
            reachable_ns: 300_000_000_000,
            retry_ns: 1_000_000_000,
            max_retries: 3,
            max_pending_per_entry: 64,
            max_pending_total: 1024,
        }
    }
}

/// What `ArpCache::enqueue` did with a packet.
#[derive(Debug, PartialEq, Eq)]
pub enum Enqueue<P> {
    /// Queued on a new entry: the caller must send an ARP request now.
    SendRequest,
    /// Queued; a request is already outstanding.
    Queued,
    /// Not queued (a limit was hit): the caller counts and frees it.
    Dropped(P),
}

/// Packets released by `ArpCache::insert`, in the order they were queued.
pub type Released<P> = SmallVec<[P; 16]>;

enum State<P> {
    Resolved {
        mac: ethernet::Address,
        expires_at: u64,
    },
    Pending {
        queue: Vec<P>,
        /// Retransmissions sent so far.
        retries: u32,
        /// When to retransmit, or fail once `retries == max_retries`.
        next_at: u64,
    },
}

struct Entry<P> {
    state: State<P>,
    /// Sequence number of this entry's latest record in `ArpCache::order`.
    seq: u64,
}

/// An ARP cache with a queue of packets per unresolved address.
pub struct ArpCache<P> {
    cfg: ArpConfig,
    entries: HashMap<Ipv4Addr, Entry<P>, BuildHasherDefault<IpHasher>>,
    /// Resolved entries in refresh order, oldest first. Records go stale
    /// when an entry is refreshed, removed or turns pending (their `seq`
    /// no longer matches) and are skipped; `compact` bounds the length.
    order: VecDeque<(Ipv4Addr, u64)>,
    next_seq: u64,
    pending_total: usize,
    /// No deadline is earlier than this; `poll` does nothing before it.
    next_deadline: u64,
}

impl<P> ArpCache<P> {
    /// An empty cache with room for `cfg.capacity` entries.
    pub fn new(cfg: ArpConfig) -> ArpCache<P> {
        ArpCache {
            entries: HashMap::with_capacity_and_hasher(cfg.capacity, Default::default()),
            order: VecDeque::with_capacity(Self::order_limit(&cfg)),
            next_seq: 0,
            pending_total: 0,
            next_deadline: u64::MAX,
            cfg,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ArpConfig {
        &self.cfg
    }

    /// The MAC of `ip` if resolved and not expired at `now`.
    #[inline]
    pub fn lookup(&mut self, ip: Ipv4Addr, now: u64) -> Option<ethernet::Address> {
        match self.entries.get(&ip)?.state {
            State::Resolved { mac, expires_at } if now < expires_at => Some(mac),
            _ => None,
        }
    }

    /// Learn or refresh `ip` is-at `mac`. Returns the packets that were
    /// waiting for `ip`, now ready to send to `mac`. When the table is full
    /// of entries with waiting packets, a new address is not stored.
    pub fn insert(&mut self, ip: Ipv4Addr, mac: ethernet::Address, now: u64) -> Released<P> {
        let expires_at = now.saturating_add(self.cfg.reachable_ns);
        let seq = self.push_order(ip);
        let resolved = State::Resolved { mac, expires_at };
        self.next_deadline = self.next_deadline.min(expires_at);
        if let Some(e) = self.entries.get_mut(&ip) {
            e.seq = seq;
            return match core::mem::replace(&mut e.state, resolved) {
                State::Pending { queue, .. } => {
                    self.pending_total -= queue.len();
                    SmallVec::from_vec(queue)
                }
                State::Resolved { .. } => SmallVec::new(),
            };
        }
        if self.make_room() {
            self.entries.insert(ip, Entry { state: resolved, seq });
        }
        SmallVec::new()
    }

    /// Queue `pkt` until `ip` is resolved. Call it after `lookup` missed; a
    /// resolved entry, expired or not, is turned back into a pending one.
    pub fn enqueue(&mut self, ip: Ipv4Addr, pkt: P, now: u64) -> Enqueue<P> {
        if self.pending_total >= self.cfg.max_pending_total {
            return Enqueue::Dropped(pkt);
        }
        let next_at = now.saturating_add(self.cfg.retry_ns);
        if let Some(e) = self.entries.get_mut(&ip) {
            match &mut e.state {
                State::Pending { queue, .. } => {
                    if queue.len() >= self.cfg.max_pending_per_entry {
                        return Enqueue::Dropped(pkt);
                    }
                    queue.push(pkt);
                    self.pending_total += 1;
                    return Enqueue::Queued;
                }
                State::Resolved { .. } => {
                    if self.cfg.max_pending_per_entry == 0 {
                        return Enqueue::Dropped(pkt);
                    }
                    e.state = State::Pending { queue: vec![pkt], retries: 0, next_at };
                }
            }
        } else {
            if self.cfg.max_pending_per_entry == 0 || !self.make_room() {
                return Enqueue::Dropped(pkt);
            }
            let state = State::Pending { queue: vec![pkt], retries: 0, next_at };
            self.entries.insert(ip, Entry { state, seq: u64::MAX });
        }
        self.pending_total += 1;
        self.next_deadline = self.next_deadline.min(next_at);
        Enqueue::SendRequest
    }

    /// Run the timers at `now`: call `out_requests` for each address whose
    /// request must be retransmitted, fail entries out of retries (their
    /// packets go to `out_dropped`), and forget expired entries.
    pub fn poll(&mut self, now: u64, out_requests: &mut impl FnMut(Ipv4Addr), out_dropped: &mut impl FnMut(P)) {
        if now < self.next_deadline {
            return;
        }
        let cfg = &self.cfg;
        let mut next_deadline = u64::MAX;
        let mut released = 0;
        self.entries.retain(|&ip, e| match &mut e.state {
            State::Resolved { expires_at, .. } => {
                if now >= *expires_at {
                    return false;
                }
                next_deadline = next_deadline.min(*expires_at);
                true
            }
            State::Pending { queue, retries, next_at } => {
                if now < *next_at {
                    next_deadline = next_deadline.min(*next_at);
                    return true;
                }
                if *retries >= cfg.max_retries {
                    released += queue.len();
                    queue.drain(..).for_each(&mut *out_dropped);
                    return false;
                }
                *retries += 1;
                *next_at = now.saturating_add(cfg.retry_ns);
                next_deadline = next_deadline.min(*next_at);
                out_requests(ip);
                true
            }
        });
        self.pending_total -= released;
        self.next_deadline = next_deadline;
    }

    /// The earliest time at which `poll` has work to do, if any.
    pub fn poll_at(&self) -> Option<u64> {
        (self.next_deadline != u64::MAX).then_some(self.next_deadline)
    }

    /// Forget `ip`; its waiting packets, if any, are dropped. Returns
    /// whether there was an entry.
    pub fn remove(&mut self, ip: Ipv4Addr) -> bool {
        match self.entries.remove(&ip) {
            Some(Entry { state: State::Pending { queue, .. }, .. }) => {
                self.pending_total -= queue.len();
                true
            }
            Some(_) => true,
            None => false,
        }
    }

    /// Forget `ip` and hand back the packets that were waiting for it, in
    /// the order they were queued (none if it was resolved or unknown).
    pub fn take(&mut self, ip: Ipv4Addr) -> Released<P> {
        match self.entries.remove(&ip) {
            Some(Entry { state: State::Pending { queue, .. }, .. }) => {
                self.pending_total -= queue.len();
                SmallVec::from_vec(queue)
            }
            _ => SmallVec::new(),
        }
    }

    /// The resolved entries as (address, MAC, expiry time in ns), in no
    /// particular order; expired ones linger until the next `poll`.
    pub fn iter(&self) -> impl Iterator<Item = (Ipv4Addr, ethernet::Address, u64)> + '_ {
        self.entries.iter().filter_map(|(&ip, e)| match e.state {
            State::Resolved { mac, expires_at } => Some((ip, mac, expires_at)),
            State::Pending { .. } => None,
        })
    }

    /// The unresolved entries as (address, packets waiting, retransmissions sent).
    pub fn iter_pending(&self) -> impl Iterator<Item = (Ipv4Addr, usize, u32)> + '_ {
        self.entries.iter().filter_map(|(&ip, e)| match &e.state {
            State::Pending { queue, retries, .. } => Some((ip, queue.len(), *retries)),
            State::Resolved { .. } => None,
        })
    }

    /// Number of entries, resolved and pending.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of packets waiting over all entries.
    pub fn pending_packets(&self) -> usize {
        self.pending_total
    }

    fn order_limit(cfg: &ArpConfig) -> usize {
        cfg.capacity.saturating_mul(2).saturating_add(16)
    }

    /// Record `ip` as the most recently refreshed entry; returns its seq.
    fn push_order(&mut self, ip: Ipv4Addr) -> u64 {
        if self.order.len() >= Self::order_limit(&self.cfg) {
            self.compact();
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.push_back((ip, seq));
        seq
    }

    /// Drop stale records. At most `capacity` records are live, so this
    /// frees at least half the queue and costs O(1) amortised per push.
    fn compact(&mut self) {
        let entries = &self.entries;
        self.order.retain(|(ip, seq)| Self::is_live(entries, *ip, *seq));
    }

    fn is_live(entries: &HashMap<Ipv4Addr, Entry<P>, BuildHasherDefault<IpHasher>>, ip: Ipv4Addr, seq: u64) -> bool {
        entries.get(&ip).is_some_and(|e| e.seq == seq && matches!(e.state, State::Resolved { .. }))
    }

    /// Make room for one new entry, evicting the resolved entry refreshed
    /// longest ago if full. False if every entry has packets waiting.
    fn make_room(&mut self) -> bool {
        if self.entries.len() < self.cfg.capacity {
            return true;
        }
        while let Some((ip, seq)) = self.order.pop_front() {
            if Self::is_live(&self.entries, ip, seq) {
                self.entries.remove(&ip);
                return true;
            }
        }
        false
    }
}

impl<P> core::fmt::Debug for ArpCache<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ArpCache")
            .field("entries", &self.entries.len())
            .field("pending_packets", &self.pending_total)
            .finish()
    }
}

/// A hasher for IPv4 keys: one multiply-xorshift mix of the address.
/// Addresses are not attacker-chosen in a way that matters here (the table
/// is bounded and small), and SipHash would cost more than the lookup.
#[derive(Default)]
struct IpHasher(u64);

impl Hasher for IpHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    #[inline]
    fn write_usize(&mut self, _len: usize) {
        // The length prefix of the octet array is always 4: ignore it.
    }

    #[inline]
    fn finish(&self) -> u64 {
        // The murmur3 64-bit finaliser: spreads entropy to low and high bits.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn ip(n: u8) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, 0, n)
    }

    fn mac(n: u8) -> ethernet::Address {
        ethernet::Address([2, 0, 0, 0, 0, n])
    }

    fn cache() -> ArpCache<u32> {
        ArpCache::new(ArpConfig::default())
    }

    /// Poll and collect (requests, dropped).
    fn poll(c: &mut ArpCache<u32>, now: u64) -> (Vec<Ipv4Addr>, Vec<u32>) {
        let (mut req, mut dropped) = (Vec::new(), Vec::new());
        c.poll(now, &mut |ip| req.push(ip), &mut |p| dropped.push(p));
        (req, dropped)
    }

    #[test]
    fn defaults() {
        let d = ArpConfig::default();
        assert_eq!((d.reachable_ns, d.retry_ns, d.max_retries), (300 * S, S, 3));
        assert_eq!((d.max_pending_per_entry, d.max_pending_total), (64, 1024));
    }

    #[test]
    fn resolve_releases_queue_in_order() {
        let mut c = cache();
        assert_eq!(c.lookup(ip(1), 0), None);
        assert_eq!(c.enqueue(ip(1), 10, 0), Enqueue::SendRequest);
        assert_eq!(c.enqueue(ip(1), 11, 0), Enqueue::Queued);
        assert_eq!(c.enqueue(ip(1), 12, 1), Enqueue::Queued);
        assert_eq!(c.lookup(ip(1), 1), None);
        assert_eq!(c.pending_packets(), 3);
        assert_eq!(c.iter_pending().collect::<Vec<_>>(), vec![(ip(1), 3, 0)]);

        let out = c.insert(ip(1), mac(1), 2);
        assert_eq!(out.as_slice(), &[10, 11, 12]);
        assert_eq!(c.pending_packets(), 0);
        assert_eq!(c.lookup(ip(1), 3), Some(mac(1)));
        assert_eq!(c.iter().collect::<Vec<_>>(), vec![(ip(1), mac(1), 2 + 300 * S)]);
        assert_eq!(c.len(), 1);
        // Resolved: no more requests.
        assert_eq!(poll(&mut c, 10 * S), (vec![], vec![]));
    }

    #[test]
    fn insert_without_pending_and_refresh() {
        let mut c = cache();
        assert!(c.insert(ip(1), mac(1), 0).is_empty());
        assert_eq!(c.lookup(ip(1), 0), Some(mac(1)));
        // A new MAC and a later expiry.
        assert!(c.insert(ip(1), mac(9), 100 * S).is_empty());
        assert_eq!(c.lookup(ip(1), 350 * S), Some(mac(9)));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn expiry() {
        let mut c = cache();
        c.insert(ip(1), mac(1), 0);
        assert_eq!(c.poll_at(), Some(300 * S));
        assert_eq!(c.lookup(ip(1), 300 * S - 1), Some(mac(1)));
        assert_eq!(c.lookup(ip(1), 300 * S), None);
        // Still listed until polled.
        assert_eq!(c.len(), 1);
        poll(&mut c, 300 * S - 1);
        assert_eq!(c.len(), 1);
        poll(&mut c, 300 * S);
        assert_eq!(c.len(), 0);
        assert_eq!(c.poll_at(), None);
    }

    #[test]
    fn expired_entry_is_resolved_again() {
        let mut c = cache();
        c.insert(ip(1), mac(1), 0);
        let t = 301 * S;
        assert_eq!(c.lookup(ip(1), t), None);
        assert_eq!(c.enqueue(ip(1), 7, t), Enqueue::SendRequest);
        assert_eq!(c.enqueue(ip(1), 8, t), Enqueue::Queued);
        // The first poll must not treat the pending entry as expired.
        assert_eq!(poll(&mut c, t), (vec![], vec![]));
        assert_eq!(c.insert(ip(1), mac(2), t + 1).as_slice(), &[7, 8]);
        assert_eq!(c.lookup(ip(1), t + 2), Some(mac(2)));
    }

    #[test]
    fn retry_then_failure() {
        let mut c = cache();
        assert_eq!(c.enqueue(ip(1), 1, 0), Enqueue::SendRequest);
        assert_eq!(c.enqueue(ip(1), 2, 0), Enqueue::Queued);
        assert_eq!(poll(&mut c, S - 1), (vec![], vec![]));
        assert_eq!(poll(&mut c, S), (vec![ip(1)], vec![]));
        assert_eq!(poll(&mut c, S + 1), (vec![], vec![]));
        assert_eq!(poll(&mut c, 2 * S), (vec![ip(1)], vec![]));
        assert_eq!(poll(&mut c, 3 * S), (vec![ip(1)], vec![]));
        assert_eq!(c.iter_pending().next(), Some((ip(1), 2, 3)));
        // Three retransmissions unanswered for another second: fail.
        assert_eq!(poll(&mut c, 4 * S - 1), (vec![], vec![]));
        assert_eq!(poll(&mut c, 4 * S), (vec![], vec![1, 2]));
        assert_eq!(c.len(), 0);
        assert_eq!(c.pending_packets(), 0);
        // The next packet starts over.
        assert_eq!(c.enqueue(ip(1), 3, 5 * S), Enqueue::SendRequest);
    }

    #[test]
    fn late_poll_retransmits_once() {
        let mut c = cache();
        c.enqueue(ip(1), 1, 0);
        // A poll long overdue sends one request, not a burst.
        assert_eq!(poll(&mut c, 10 * S), (vec![ip(1)], vec![]));
        assert_eq!(poll(&mut c, 10 * S), (vec![], vec![]));
        assert_eq!(poll(&mut c, 11 * S), (vec![ip(1)], vec![]));
    }

    #[test]
    fn zero_retries_fails_after_one_interval() {
        let mut c = ArpCache::new(ArpConfig { max_retries: 0, ..ArpConfig::default() });
        c.enqueue(ip(1), 1u32, 0);
        assert_eq!(poll(&mut c, S), (vec![], vec![1]));
    }

    #[test]
    fn pending_bound_per_entry() {
        let mut c = ArpCache::new(ArpConfig { max_pending_per_entry: 16, ..ArpConfig::default() });
        assert_eq!(c.enqueue(ip(1), 0, 0), Enqueue::SendRequest);
        for i in 1..16 {
            assert_eq!(c.enqueue(ip(1), i, 0), Enqueue::Queued);
        }
        assert_eq!(c.enqueue(ip(1), 16, 0), Enqueue::Dropped(16));
        assert_eq!(c.pending_packets(), 16);
        // Other addresses are unaffected.
        assert_eq!(c.enqueue(ip(2), 100, 0), Enqueue::SendRequest);
        assert_eq!(c.insert(ip(1), mac(1), 1).len(), 16);
        assert_eq!(c.pending_packets(), 1);
    }

    #[test]
    fn pending_bound_total() {
        let cfg = ArpConfig { max_pending_per_entry: 4, max_pending_total: 10, ..ArpConfig::default() };
        let mut c = ArpCache::new(cfg);
        for n in 0..2u8 {
            for i in 0..4 {
                let r = c.enqueue(ip(n), u32::from(n) * 10 + i, 0);
                assert!(!matches!(r, Enqueue::Dropped(_)));
            }
        }
        assert_eq!(c.enqueue(ip(2), 20, 0), Enqueue::SendRequest);
        assert_eq!(c.enqueue(ip(2), 21, 0), Enqueue::Queued);
        assert_eq!(c.pending_packets(), 10);
        assert_eq!(c.enqueue(ip(2), 22, 0), Enqueue::Dropped(22));
        // No new entry (and no request) once the total is reached.
        assert_eq!(c.enqueue(ip(3), 30, 0), Enqueue::Dropped(30));
        assert_eq!(c.len(), 3);
        // Releasing one queue makes room again.
        assert_eq!(c.insert(ip(0), mac(0), 1).as_slice(), &[0, 1, 2, 3]);
        assert_eq!(c.enqueue(ip(3), 30, 1), Enqueue::SendRequest);
        // Failing entries returns their share too.
        let (_, dropped) = poll(&mut c, 100 * S);
        assert!(dropped.is_empty());
        for t in 2..=5 {
            poll(&mut c, t * 100 * S);
        }
        assert_eq!(c.pending_packets(), 0);
        assert_eq!(c.iter_pending().count(), 0);
    }

    #[test]
    fn eviction_of_oldest_resolved() {
        let mut c = ArpCache::new(ArpConfig { capacity: 3, ..ArpConfig::default() });
        c.insert(ip(1), mac(1), 0);
        c.insert(ip(2), mac(2), 1);
        c.insert(ip(3), mac(3), 2);
        // Refresh 1: now 2 is the oldest.
        c.insert(ip(1), mac(1), 3);
        c.insert(ip(4), mac(4), 4);
        assert_eq!(c.len(), 3);
        assert_eq!(c.lookup(ip(2), 5), None);
        assert!(c.lookup(ip(1), 5).is_some() && c.lookup(ip(3), 5).is_some() && c.lookup(ip(4), 5).is_some());
        // A pending entry evicts a resolved one (3 is now the oldest).
        assert_eq!(c.enqueue(ip(5), 50u32, 6), Enqueue::SendRequest);
        assert_eq!(c.lookup(ip(3), 6), None);
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn pending_entries_are_not_evicted() {
        let mut c = ArpCache::new(ArpConfig { capacity: 2, ..ArpConfig::default() });
        assert_eq!(c.enqueue(ip(1), 1u32, 0), Enqueue::SendRequest);
        c.insert(ip(2), mac(2), 0);
        // Full: the resolved entry goes, the pending one stays.
        assert_eq!(c.enqueue(ip(3), 3, 1), Enqueue::SendRequest);
        assert_eq!(c.lookup(ip(2), 1), None);
        // Full of pending entries: new addresses are refused, not stored.
        assert_eq!(c.enqueue(ip(4), 4, 1), Enqueue::Dropped(4));
        assert!(c.insert(ip(5), mac(5), 1).is_empty());
        assert_eq!(c.lookup(ip(5), 1), None);
        assert_eq!(c.len(), 2);
        // But a pending entry can still resolve.
        assert_eq!(c.insert(ip(1), mac(1), 2).as_slice(), &[1]);
        assert_eq!(c.lookup(ip(1), 2), Some(mac(1)));
    }

    #[test]
    fn order_stays_bounded_under_refreshes() {
        let mut c = ArpCache::<u32>::new(ArpConfig { capacity: 4, ..ArpConfig::default() });
        for t in 0..10_000u64 {
            c.insert(ip((t % 6) as u8), mac(1), t);
            assert!(c.order.len() <= ArpCache::<u32>::order_limit(c.config()));
            assert!(c.len() <= 4);
        }
        // The four most recently refreshed survive.
        for n in 0..6u8 {
            let expect = [10_000u64 - 4, 10_000 - 3, 10_000 - 2, 10_000 - 1].iter().any(|t| (t % 6) as u8 == n);
            assert_eq!(c.lookup(ip(n), 10_000).is_some(), expect, "{n}");
        }
    }

    #[test]
    fn resolved_then_pending_record_is_stale() {
        let mut c = ArpCache::new(ArpConfig { capacity: 2, ..ArpConfig::default() });
        c.insert(ip(1), mac(1), 0);
        c.insert(ip(2), mac(2), 1);
        // 1 turns pending: its order record must not make it evictable.
        assert_eq!(c.enqueue(ip(1), 10u32, 2), Enqueue::SendRequest);
        c.insert(ip(3), mac(3), 3);
        assert_eq!(c.lookup(ip(2), 3), None);
        assert_eq!(c.iter_pending().count(), 1);
        assert_eq!(c.insert(ip(1), mac(1), 4).as_slice(), &[10]);
    }

    #[test]
    fn remove() {
        let mut c = cache();
        c.insert(ip(1), mac(1), 0);
        c.enqueue(ip(2), 5, 0);
        assert!(c.remove(ip(1)));
        assert!(!c.remove(ip(1)));
        assert!(c.remove(ip(2)));
        assert_eq!(c.pending_packets(), 0);
        assert!(c.is_empty());
    }

    #[test]
    fn take_returns_the_waiting_packets() {
        let mut c = cache();
        c.insert(ip(1), mac(1), 0);
        c.enqueue(ip(2), 5, 0);
        c.enqueue(ip(2), 6, 0);
        assert!(c.take(ip(1)).is_empty());
        assert_eq!(c.take(ip(2)).as_slice(), &[5, 6]);
        assert!(c.take(ip(3)).is_empty());
        assert_eq!(c.pending_packets(), 0);
        assert!(c.is_empty());
        // Nothing is left to retry.
        assert_eq!(poll(&mut c, 10 * S), (vec![], vec![]));
    }

    #[test]
    fn zero_capacity_stores_nothing() {
        let mut c = ArpCache::new(ArpConfig { capacity: 0, ..ArpConfig::default() });
        assert_eq!(c.enqueue(ip(1), 1u32, 0), Enqueue::Dropped(1));
        assert!(c.insert(ip(1), mac(1), 0).is_empty());
        assert!(c.is_empty());
    }

    #[test]
    fn many_addresses_hash_apart() {
        let mut c = ArpCache::<u32>::new(ArpConfig { capacity: 4096, ..ArpConfig::default() });
        for i in 0..4096u32 {
            c.insert(Ipv4Addr::from(0x0a00_0000 + i), mac(1), 0);
        }
        assert_eq!(c.len(), 4096);
        assert!((0..4096u32).all(|i| c.lookup(Ipv4Addr::from(0x0a00_0000 + i), 1).is_some()));
    }
}
