//! The per-interface IPv6 neighbour cache of RFC 4861 (7.3): IPv6 address
//! to MAC with the reachability states INCOMPLETE, REACHABLE, STALE, DELAY
//! and PROBE, plus the packets waiting for a resolution. Sans-IO like
//! [`crate::arp_cache`]: time is a `u64` of nanoseconds passed in by the
//! caller, and the cache never sends anything itself. It tells the caller
//! when to send a solicitation ([`NdEnqueue::SendSolicit`], and the
//! `out_solicit` callback of [`NdCache::poll`], multicast while resolving,
//! unicast while probing), hands back packets to transmit (from the
//! `on_*` calls that complete a resolution) or to free (the `out_dropped`
//! callback once a resolution fails; the caller answers each with an
//! ICMPv6 address unreachable, RFC 4861 7.2.2).
//!
//! State changes follow RFC 4861 appendix C:
//! - a packet to an unknown address creates INCOMPLETE and a multicast
//!   solicitation, retransmitted every `retrans_ns` up to
//!   `max_multicast_solicit` in all; then the entry fails;
//! - a solicited advertisement makes an entry REACHABLE for
//!   `reachable_ns` (randomised to 0.5..1.5 times the base, 6.3.2), an
//!   unsolicited one or a link-layer option in a solicitation or router
//!   message makes it STALE (7.2.3, 7.2.5, 7.2.6), an override-less
//!   advertisement with a different address only demotes REACHABLE to
//!   STALE;
//! - REACHABLE turns STALE when its time is up; sending to a STALE entry
//!   moves it to DELAY ([`NdCache::resolve`]); DELAY turns PROBE after
//!   `delay_first_probe_ns` unless upper-layer progress confirms the
//!   neighbour ([`NdCache::confirm`]); PROBE sends unicast solicitations
//!   every `retrans_ns` and forgets the entry after `max_unicast_solicit`.
//!
//! Memory is bounded like the ARP cache's: at most `capacity` entries (when
//! full, the least recently refreshed entry without waiting packets is
//! evicted), `max_pending_per_entry` packets per address and
//! `max_pending_total` in all; STALE entries are forgotten after
//! `stale_ns` without use. Every event is counted ([`NdCounter`]).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::Ipv6Addr;

use counters::LocalCounters;
use smallvec::SmallVec;
use wire::ethernet;

counters::counters! {
    /// A neighbour-cache counter.
    pub enum NdCounter {
        SolicitsMulticast => ("nd solicitations sent while resolving", false),
        SolicitsUnicast => ("nd unicast probes sent", false),
        Resolved => ("nd addresses resolved", false),
        ResolutionFailed => ("nd resolution failed, packets dropped", true),
        ProbeFailed => ("nd probe unanswered, neighbour forgotten", false),
        QueueFull => ("nd pending queue full, packet dropped", true),
        TableFull => ("nd table full of unresolved addresses, packet dropped", true),
        Evicted => ("nd entries evicted for room", false),
        StaleExpired => ("nd stale entries forgotten", false),
        AdvertUnknown => ("nd advertisement for an address not in the cache, ignored", false),
        AdvertNoLladdr => ("nd advertisement without link-layer address while resolving, ignored", true),
        LladdrChanged => ("nd neighbour link-layer address changed", false),
    }
}

/// The counter block of one cache.
pub type NdCounters = LocalCounters<NdCounter, { NdCounter::COUNT }>;

/// Limits and timers of a neighbour cache (RFC 4861 10 defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NdConfig {
    /// Maximum number of entries, in every state together.
    pub capacity: usize,
    /// BaseReachableTime in ns (default 30 s); the cache uses a random
    /// value between 0.5 and 1.5 times it.
    pub base_reachable_ns: u64,
    /// RetransTimer in ns: between solicitations (default 1 s).
    pub retrans_ns: u64,
    /// DELAY_FIRST_PROBE_TIME in ns (default 5 s).
    pub delay_first_probe_ns: u64,
    /// MAX_MULTICAST_SOLICIT: solicitations while INCOMPLETE (default 3).
    pub max_multicast_solicit: u32,
    /// MAX_UNICAST_SOLICIT: probes in PROBE (default 3).
    pub max_unicast_solicit: u32,
    /// How long an unused STALE entry is kept, in ns (default 60 s, as
    /// Linux's gc_stale_time).
    pub stale_ns: u64,
    /// Packets queued per unresolved address (default 64).
    pub max_pending_per_entry: usize,
    /// Packets queued over all unresolved addresses (default 1024).
    pub max_pending_total: usize,
    /// Seed of the reachable-time randomisation (tests fix it).
    pub seed: u64,
}

impl Default for NdConfig {
    fn default() -> NdConfig {
        NdConfig {
            capacity: 1024,
            base_reachable_ns: 30_000_000_000,
            retrans_ns: 1_000_000_000,
            delay_first_probe_ns: 5_000_000_000,
            max_multicast_solicit: 3,
            max_unicast_solicit: 3,
            stale_ns: 60_000_000_000,
            max_pending_per_entry: 64,
            max_pending_total: 1024,
            seed: 0x9e37_79b9_7f4a_7c15,
        }
    }
}

/// The reachability state of an entry (RFC 4861 7.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NdState {
    /// Resolution in progress: solicitations sent, no address yet.
    Incomplete,
    /// Confirmed reachable recently.
    Reachable,
    /// Address known, reachability unknown; nothing happens until used.
    Stale,
    /// Used while STALE: waiting for upper-layer confirmation before probing.
    Delay,
    /// Sending unicast solicitations to confirm reachability.
    Probe,
}

impl NdState {
    /// The name `show ip6 neighbors` prints.
    pub const fn as_str(self) -> &'static str {
        match self {
            NdState::Incomplete => "incomplete",
            NdState::Reachable => "reachable",
            NdState::Stale => "stale",
            NdState::Delay => "delay",
            NdState::Probe => "probe",
        }
    }
}

/// What [`NdCache::enqueue`] did with a packet.
#[derive(Debug, PartialEq, Eq)]
pub enum NdEnqueue<P> {
    /// Queued on a new entry: the caller sends a multicast solicitation now.
    SendSolicit,
    /// Queued; a resolution is already under way.
    Queued,
    /// Not queued (a limit was hit): the caller frees it (counted here).
    Dropped(P),
}

/// Packets released when a resolution completes, in the order queued.
pub type NdReleased<P> = SmallVec<[P; 16]>;

/// One entry as `show ip6 neighbors` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NdEntryView {
    /// The neighbour's address.
    pub ip: Ipv6Addr,
    /// Its MAC, once known.
    pub mac: Option<ethernet::Address>,
    /// Reachability state.
    pub state: NdState,
    /// The neighbour said it is a router (R flag).
    pub is_router: bool,
    /// Packets waiting (INCOMPLETE only).
    pub pending: usize,
}

struct Entry<P> {
    state: NdState,
    mac: ethernet::Address,
    is_router: bool,
    queue: Vec<P>,
    /// Solicitations sent in INCOMPLETE or PROBE.
    sent: u32,
    /// When the state's timer fires: REACHABLE expiry, STALE forgetting,
    /// DELAY to PROBE, or the next (re)transmission.
    timer_at: u64,
    /// This entry's latest record in `NdCache::order`.
    seq: u64,
}

/// A neighbour cache with a queue of packets per unresolved address.
pub struct NdCache<P> {
    cfg: NdConfig,
    reachable_ns: u64,
    entries: HashMap<Ipv6Addr, Entry<P>, BuildHasherDefault<Ip6Hasher>>,
    /// Entries in refresh order, oldest first (records whose `seq` no
    /// longer matches are stale and skipped), for eviction.
    order: VecDeque<(Ipv6Addr, u64)>,
    next_seq: u64,
    pending_total: usize,
    next_deadline: u64,
    counters: NdCounters,
}

/// A reachable time in [0.5, 1.5) times `base` from `seed` (RFC 4861 6.3.2).
fn randomised(base: u64, seed: u64) -> u64 {
    let mut x = seed | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    let frac = x % 1024;
    base / 2 + (base / 1024).saturating_mul(frac)
}

impl<P> NdCache<P> {
    /// An empty cache.
    pub fn new(cfg: NdConfig) -> NdCache<P> {
        NdCache {
            reachable_ns: randomised(cfg.base_reachable_ns, cfg.seed),
            entries: HashMap::with_capacity_and_hasher(cfg.capacity.min(4096), Default::default()),
            order: VecDeque::new(),
            next_seq: 0,
            pending_total: 0,
            next_deadline: u64::MAX,
            counters: NdCounters::default(),
            cfg,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &NdConfig {
        &self.cfg
    }

    /// The reachable time in use (randomised from the base).
    pub fn reachable_ns(&self) -> u64 {
        self.reachable_ns
    }

    /// Take a new BaseReachableTime (from a router advertisement) and draw
    /// a new random reachable time from it.
    pub fn set_base_reachable(&mut self, base_ns: u64) {
        self.cfg.base_reachable_ns = base_ns;
        self.cfg.seed = self.cfg.seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        self.reachable_ns = randomised(base_ns, self.cfg.seed);
    }

    /// The counters.
    pub fn counters(&self) -> &NdCounters {
        &self.counters
    }

    /// The MAC to send a packet for `ip` to at `now`, if known. Sending to a
    /// STALE entry starts the DELAY timer (RFC 4861 7.3.3); an INCOMPLETE or
    /// absent entry gives `None` and the caller calls `enqueue`.
    #[inline]
    pub fn resolve(&mut self, ip: Ipv6Addr, now: u64) -> Option<ethernet::Address> {
        let e = self.entries.get_mut(&ip)?;
        match e.state {
            NdState::Incomplete => return None,
            NdState::Reachable if now >= e.timer_at => {
                e.state = NdState::Delay;
                e.timer_at = now.saturating_add(self.cfg.delay_first_probe_ns);
            }
            NdState::Stale => {
                e.state = NdState::Delay;
                e.timer_at = now.saturating_add(self.cfg.delay_first_probe_ns);
            }
            _ => return Some(e.mac),
        }
        self.next_deadline = self.next_deadline.min(e.timer_at);
        Some(e.mac)
    }

    /// The state of `ip`'s entry, if any (REACHABLE past its time reads as
    /// STALE, as it is).
    pub fn state(&self, ip: Ipv6Addr, now: u64) -> Option<NdState> {
        self.entries.get(&ip).map(|e| match e.state {
            NdState::Reachable if now >= e.timer_at => NdState::Stale,
            s => s,
        })
    }

    /// Queue `pkt` until `ip` is resolved; call it after `resolve` missed.
    pub fn enqueue(&mut self, ip: Ipv6Addr, pkt: P, now: u64) -> NdEnqueue<P> {
        if self.pending_total >= self.cfg.max_pending_total {
            self.counters.incr(NdCounter::QueueFull);
            return NdEnqueue::Dropped(pkt);
        }
        if let Some(e) = self.entries.get_mut(&ip) {
            if e.state != NdState::Incomplete || e.queue.len() >= self.cfg.max_pending_per_entry {
                self.counters.incr(NdCounter::QueueFull);
                return NdEnqueue::Dropped(pkt);
            }
            e.queue.push(pkt);
            self.pending_total += 1;
            return NdEnqueue::Queued;
        }
        if self.cfg.max_pending_per_entry == 0 {
            self.counters.incr(NdCounter::QueueFull);
            return NdEnqueue::Dropped(pkt);
        }
        if !self.make_room() {
            self.counters.incr(NdCounter::TableFull);
            return NdEnqueue::Dropped(pkt);
        }
        let timer_at = now.saturating_add(self.cfg.retrans_ns);
        let seq = self.push_order(ip);
        let entry = Entry {
            state: NdState::Incomplete,
            mac: ethernet::Address::UNSPECIFIED,
            is_router: false,
            queue: vec![pkt],
            sent: 1,
            timer_at,
            seq,
        };
        self.entries.insert(ip, entry);
        self.pending_total += 1;
        self.next_deadline = self.next_deadline.min(timer_at);
        self.counters.incr(NdCounter::SolicitsMulticast);
        NdEnqueue::SendSolicit
    }

    /// A neighbour advertisement for `target` arrived (RFC 4861 7.2.5):
    /// its flags and target link-layer address option. Returns the packets
    /// now ready to send to the (new) address.
    pub fn on_advert(
        &mut self,
        target: Ipv6Addr,
        lladdr: Option<ethernet::Address>,
        flags: wire::ndp::NeighborFlags,
        now: u64,
    ) -> NdReleased<P> {
        let reachable_until = now.saturating_add(self.reachable_ns);
        let stale_until = now.saturating_add(self.cfg.stale_ns);
        let Some(e) = self.entries.get_mut(&target) else {
            self.counters.incr(NdCounter::AdvertUnknown);
            return SmallVec::new();
        };
        if e.state == NdState::Incomplete {
            let Some(mac) = lladdr else {
                self.counters.incr(NdCounter::AdvertNoLladdr);
                return SmallVec::new();
            };
            e.mac = mac;
            e.is_router = flags.router;
            (e.state, e.timer_at) =
                if flags.solicited { (NdState::Reachable, reachable_until) } else { (NdState::Stale, stale_until) };
            self.counters.incr(NdCounter::Resolved);
            let timer_at = e.timer_at;
            let queue = core::mem::take(&mut e.queue);
            self.pending_total -= queue.len();
            self.next_deadline = self.next_deadline.min(timer_at);
            self.refresh(target);
            return SmallVec::from_vec(queue);
        }
        let changed = lladdr.is_some_and(|m| m != e.mac);
        if !flags.override_ && changed {
            // Keep the cached address, but stop trusting it.
            if e.state == NdState::Reachable {
                e.state = NdState::Stale;
                e.timer_at = stale_until;
            }
            return SmallVec::new();
        }
        if let Some(m) = lladdr {
            e.mac = m;
        }
        if changed {
            self.counters.incr(NdCounter::LladdrChanged);
        }
        if flags.solicited {
            e.state = NdState::Reachable;
            e.timer_at = reachable_until;
        } else if changed {
            e.state = NdState::Stale;
            e.timer_at = stale_until;
        }
        e.is_router = flags.router;
        let timer_at = e.timer_at;
        self.next_deadline = self.next_deadline.min(timer_at);
        self.refresh(target);
        SmallVec::new()
    }

    /// A solicitation, router solicitation or advertisement from `ip` (not
    /// `::`) carried its source link-layer address (RFC 4861 7.2.3, 6.2.6,
    /// 6.3.4): create or update the entry, STALE if the address is new or
    /// changed. Returns packets that were waiting for `ip`.
    pub fn on_source_lladdr(&mut self, ip: Ipv6Addr, mac: ethernet::Address, now: u64) -> NdReleased<P> {
        let stale_until = now.saturating_add(self.cfg.stale_ns);
        if let Some(e) = self.entries.get_mut(&ip) {
            let mut released = SmallVec::new();
            if e.state == NdState::Incomplete {
                let queue = core::mem::take(&mut e.queue);
                self.pending_total -= queue.len();
                released = SmallVec::from_vec(queue);
                self.counters.incr(NdCounter::Resolved);
            } else if e.mac == mac {
                return released;
            } else {
                self.counters.incr(NdCounter::LladdrChanged);
            }
            e.mac = mac;
            e.state = NdState::Stale;
            e.timer_at = stale_until;
            self.next_deadline = self.next_deadline.min(stale_until);
            self.refresh(ip);
            return released;
        }
        if self.make_room() {
            let seq = self.push_order(ip);
            let entry = Entry {
                state: NdState::Stale,
                mac,
                is_router: false,
                queue: Vec::new(),
                sent: 0,
                timer_at: stale_until,
                seq,
            };
            self.entries.insert(ip, entry);
            self.next_deadline = self.next_deadline.min(stale_until);
        }
        SmallVec::new()
    }

    /// Upper-layer progress (e.g. TCP data acknowledged) confirms `ip` is
    /// reachable (RFC 4861 7.3.1): an entry with an address turns REACHABLE.
    pub fn confirm(&mut self, ip: Ipv6Addr, now: u64) {
        let until = now.saturating_add(self.reachable_ns);
        if let Some(e) = self.entries.get_mut(&ip) {
            if e.state != NdState::Incomplete {
                e.state = NdState::Reachable;
                e.timer_at = until;
                e.sent = 0;
                self.next_deadline = self.next_deadline.min(until);
            }
        }
    }

    /// Run the timers at `now`: `out_solicit(target, None)` for a multicast
    /// (re)transmission, `out_solicit(target, Some(mac))` for a unicast
    /// probe; packets of failed resolutions go to `out_dropped`.
    pub fn poll(
        &mut self,
        now: u64,
        out_solicit: &mut impl FnMut(Ipv6Addr, Option<ethernet::Address>),
        out_dropped: &mut impl FnMut(P),
    ) {
        if now < self.next_deadline {
            return;
        }
        let cfg = &self.cfg;
        let counters = &mut self.counters;
        let mut next = u64::MAX;
        let mut released = 0;
        self.entries.retain(|&ip, e| {
            if now < e.timer_at {
                next = next.min(e.timer_at);
                return true;
            }
            match e.state {
                NdState::Incomplete => {
                    if e.sent >= cfg.max_multicast_solicit {
                        counters.incr(NdCounter::ResolutionFailed);
                        released += e.queue.len();
                        e.queue.drain(..).for_each(&mut *out_dropped);
                        return false;
                    }
                    e.sent += 1;
                    e.timer_at = now.saturating_add(cfg.retrans_ns);
                    counters.incr(NdCounter::SolicitsMulticast);
                    out_solicit(ip, None);
                }
                NdState::Reachable => {
                    e.state = NdState::Stale;
                    e.timer_at = now.saturating_add(cfg.stale_ns);
                }
                NdState::Stale => {
                    counters.incr(NdCounter::StaleExpired);
                    return false;
                }
                NdState::Delay => {
                    e.state = NdState::Probe;
                    e.sent = 1;
                    e.timer_at = now.saturating_add(cfg.retrans_ns);
                    counters.incr(NdCounter::SolicitsUnicast);
                    out_solicit(ip, Some(e.mac));
                }
                NdState::Probe => {
                    if e.sent >= cfg.max_unicast_solicit {
                        counters.incr(NdCounter::ProbeFailed);
                        return false;
                    }
                    e.sent += 1;
                    e.timer_at = now.saturating_add(cfg.retrans_ns);
                    counters.incr(NdCounter::SolicitsUnicast);
                    out_solicit(ip, Some(e.mac));
                }
            }
            next = next.min(e.timer_at);
            true
        });
        self.pending_total -= released;
        self.next_deadline = next;
    }

    /// The earliest time at which `poll` has work to do, if any.
    pub fn poll_at(&self) -> Option<u64> {
        (self.next_deadline != u64::MAX).then_some(self.next_deadline)
    }

    /// Forget `ip` and hand back the packets that waited for it (a static
    /// entry now answers for the address; the caller sends them).
    pub fn take(&mut self, ip: Ipv6Addr) -> NdReleased<P> {
        match self.entries.remove(&ip) {
            Some(e) => {
                self.pending_total -= e.queue.len();
                SmallVec::from_vec(e.queue)
            }
            None => SmallVec::new(),
        }
    }

    /// Forget `ip` (its waiting packets are dropped with it); whether it
    /// was there.
    pub fn remove(&mut self, ip: Ipv6Addr) -> bool {
        match self.entries.remove(&ip) {
            Some(e) => {
                self.pending_total -= e.queue.len();
                true
            }
            None => false,
        }
    }

    /// Every entry, in no particular order.
    pub fn iter(&self, now: u64) -> impl Iterator<Item = NdEntryView> + '_ {
        self.entries.iter().map(move |(&ip, e)| NdEntryView {
            ip,
            mac: (e.state != NdState::Incomplete).then_some(e.mac),
            state: match e.state {
                NdState::Reachable if now >= e.timer_at => NdState::Stale,
                s => s,
            },
            is_router: e.is_router,
            pending: e.queue.len(),
        })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Packets waiting over all entries.
    pub fn pending_packets(&self) -> usize {
        self.pending_total
    }

    fn order_limit(&self) -> usize {
        self.cfg.capacity.saturating_mul(2).saturating_add(16)
    }

    fn push_order(&mut self, ip: Ipv6Addr) -> u64 {
        if self.order.len() >= self.order_limit() {
            let entries = &self.entries;
            self.order.retain(|(ip, seq)| entries.get(ip).is_some_and(|e| e.seq == *seq));
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.push_back((ip, seq));
        seq
    }

    /// Mark `ip` (which must have an entry) as refreshed now.
    fn refresh(&mut self, ip: Ipv6Addr) {
        let seq = self.push_order(ip);
        if let Some(e) = self.entries.get_mut(&ip) {
            e.seq = seq;
        }
    }

    /// Room for one more entry, evicting the least recently refreshed one
    /// without waiting packets if full; false if all have packets waiting.
    fn make_room(&mut self) -> bool {
        if self.entries.len() < self.cfg.capacity {
            return true;
        }
        let mut skipped = Vec::new();
        let mut found = false;
        while let Some((ip, seq)) = self.order.pop_front() {
            match self.entries.get(&ip) {
                Some(e) if e.seq == seq && e.state != NdState::Incomplete => {
                    self.entries.remove(&ip);
                    self.counters.incr(NdCounter::Evicted);
                    found = true;
                    break;
                }
                Some(e) if e.seq == seq => skipped.push((ip, seq)),
                _ => {}
            }
        }
        // Entries still resolving keep their place at the front.
        for r in skipped.into_iter().rev() {
            self.order.push_front(r);
        }
        found
    }
}

/// A hasher for IPv6 keys, on the send path of every packet: the two
/// halves folded, then the murmur3 finaliser. The table is bounded, so a
/// sender choosing colliding addresses slows only its own bounded share;
/// SipHash would cost more than the lookup (as for the ARP cache).
#[derive(Default)]
struct Ip6Hasher(u64);

impl Hasher for Ip6Hasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            self.0 = self.0.rotate_left(29) ^ u64::from_ne_bytes(w);
        }
    }

    #[inline]
    fn write_usize(&mut self, _len: usize) {
        // The length prefix of the octet array is always 16: ignore it.
    }

    #[inline]
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

impl<P> core::fmt::Debug for NdCache<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NdCache")
            .field("entries", &self.entries.len())
            .field("pending_packets", &self.pending_total)
            .finish()
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use wire::ndp::NeighborFlags;

    const S: u64 = 1_000_000_000;

    fn ip(n: u16) -> Ipv6Addr {
        Ipv6Addr::new(0xfd00, 0x198, 0x18, 0, 0, 0, 0, n)
    }

    fn mac(n: u8) -> ethernet::Address {
        ethernet::Address([2, 0, 0, 0, 0, n])
    }

    const SOLICITED: NeighborFlags = NeighborFlags { router: false, solicited: true, override_: true };
    const UNSOLICITED: NeighborFlags = NeighborFlags { router: false, solicited: false, override_: true };

    fn cache() -> NdCache<u32> {
        NdCache::new(NdConfig::default())
    }

    type Polled = (Vec<(Ipv6Addr, Option<ethernet::Address>)>, Vec<u32>);

    fn poll(c: &mut NdCache<u32>, now: u64) -> Polled {
        let (mut sol, mut dropped) = (Vec::new(), Vec::new());
        c.poll(now, &mut |ip, m| sol.push((ip, m)), &mut |p| dropped.push(p));
        (sol, dropped)
    }

    #[test]
    fn reachable_time_is_randomised_within_bounds() {
        for seed in 0..200u64 {
            let c: NdCache<u32> = NdCache::new(NdConfig { seed, ..NdConfig::default() });
            assert!((15 * S..45 * S).contains(&c.reachable_ns()), "{}", c.reachable_ns());
        }
        let mut c = cache();
        c.set_base_reachable(10 * S);
        assert!((5 * S..15 * S).contains(&c.reachable_ns()));
    }

    #[test]
    fn resolution_by_solicited_advert_releases_in_order() {
        let mut c = cache();
        assert_eq!(c.resolve(ip(1), 0), None);
        assert_eq!(c.enqueue(ip(1), 10, 0), NdEnqueue::SendSolicit);
        assert_eq!(c.enqueue(ip(1), 11, 0), NdEnqueue::Queued);
        assert_eq!(c.state(ip(1), 0), Some(NdState::Incomplete));
        assert_eq!(c.resolve(ip(1), 0), None);
        // An advertisement without the target's address does not resolve.
        assert!(c.on_advert(ip(1), None, SOLICITED, 1).is_empty());
        assert_eq!(c.counters().get(NdCounter::AdvertNoLladdr), 1);
        let out = c.on_advert(ip(1), Some(mac(1)), SOLICITED, 1);
        assert_eq!(out.as_slice(), &[10, 11]);
        assert_eq!(c.state(ip(1), 1), Some(NdState::Reachable));
        assert_eq!(c.resolve(ip(1), 2), Some(mac(1)));
        assert_eq!(c.pending_packets(), 0);
        assert_eq!(c.counters().get(NdCounter::Resolved), 1);
        assert_eq!(c.counters().get(NdCounter::SolicitsMulticast), 1);
    }

    #[test]
    fn unsolicited_advert_resolves_to_stale() {
        let mut c = cache();
        c.enqueue(ip(1), 1, 0);
        assert_eq!(c.on_advert(ip(1), Some(mac(1)), UNSOLICITED, 0).as_slice(), &[1]);
        assert_eq!(c.state(ip(1), 0), Some(NdState::Stale));
        // Advertisements for unknown addresses create nothing.
        assert!(c.on_advert(ip(9), Some(mac(9)), SOLICITED, 0).is_empty());
        assert_eq!(c.state(ip(9), 0), None);
        assert_eq!(c.counters().get(NdCounter::AdvertUnknown), 1);
    }

    #[test]
    fn incomplete_retransmits_then_fails() {
        let mut c = cache();
        assert_eq!(c.enqueue(ip(1), 7, 0), NdEnqueue::SendSolicit);
        assert_eq!(c.poll_at(), Some(S));
        assert_eq!(poll(&mut c, S / 2), (vec![], vec![]));
        assert_eq!(poll(&mut c, S), (vec![(ip(1), None)], vec![]));
        assert_eq!(poll(&mut c, 2 * S), (vec![(ip(1), None)], vec![]));
        // Three solicitations in all, then one more RetransTimer of silence.
        assert_eq!(poll(&mut c, 3 * S), (vec![], vec![7]));
        assert!(c.is_empty());
        assert_eq!(c.pending_packets(), 0);
        assert_eq!(c.counters().get(NdCounter::SolicitsMulticast), 3);
        assert_eq!(c.counters().get(NdCounter::ResolutionFailed), 1);
        assert_eq!(c.poll_at(), None);
    }

    #[test]
    fn reachable_stale_delay_probe_and_forget() {
        let mut c = cache();
        let rt = c.reachable_ns();
        c.enqueue(ip(1), 1, 0);
        c.on_advert(ip(1), Some(mac(1)), SOLICITED, 0);
        // Time passes: REACHABLE turns STALE (read lazily, and by poll).
        assert_eq!(c.state(ip(1), rt), Some(NdState::Stale));
        assert_eq!(poll(&mut c, rt), (vec![], vec![]));
        assert_eq!(c.state(ip(1), rt), Some(NdState::Stale));
        // Sending to it starts DELAY.
        assert_eq!(c.resolve(ip(1), rt + 1), Some(mac(1)));
        assert_eq!(c.state(ip(1), rt + 1), Some(NdState::Delay));
        // No confirmation for DELAY_FIRST_PROBE_TIME: PROBE with a unicast solicitation.
        let t = rt + 1 + 5 * S;
        assert_eq!(poll(&mut c, t), (vec![(ip(1), Some(mac(1)))], vec![]));
        assert_eq!(c.state(ip(1), t), Some(NdState::Probe));
        assert_eq!(c.resolve(ip(1), t), Some(mac(1)), "probing still sends to the cached address");
        assert_eq!(poll(&mut c, t + S), (vec![(ip(1), Some(mac(1)))], vec![]));
        assert_eq!(poll(&mut c, t + 2 * S), (vec![(ip(1), Some(mac(1)))], vec![]));
        assert_eq!(poll(&mut c, t + 3 * S), (vec![], vec![]));
        assert_eq!(c.state(ip(1), t + 3 * S), None);
        assert_eq!(c.counters().get(NdCounter::SolicitsUnicast), 3);
        assert_eq!(c.counters().get(NdCounter::ProbeFailed), 1);
    }

    #[test]
    fn probe_answered_returns_to_reachable() {
        let mut c = cache();
        let rt = c.reachable_ns();
        c.on_source_lladdr(ip(1), mac(1), 0);
        assert_eq!(c.state(ip(1), 0), Some(NdState::Stale));
        c.resolve(ip(1), 1);
        poll(&mut c, 1 + 5 * S);
        assert_eq!(c.state(ip(1), 1 + 5 * S), Some(NdState::Probe));
        c.on_advert(ip(1), Some(mac(1)), NeighborFlags { override_: false, ..SOLICITED }, 2 + 5 * S);
        assert_eq!(c.state(ip(1), 2 + 5 * S), Some(NdState::Reachable));
        assert_eq!(poll(&mut c, 3 + 5 * S + S), (vec![], vec![]), "no more probes");
        assert_eq!(c.state(ip(1), 2 + 5 * S + rt), Some(NdState::Stale));
    }

    #[test]
    fn upper_layer_confirmation_in_delay_avoids_probing() {
        let mut c = cache();
        c.on_source_lladdr(ip(1), mac(1), 0);
        c.resolve(ip(1), 0);
        assert_eq!(c.state(ip(1), 0), Some(NdState::Delay));
        c.confirm(ip(1), S);
        assert_eq!(c.state(ip(1), S), Some(NdState::Reachable));
        assert_eq!(poll(&mut c, 6 * S), (vec![], vec![]));
        // Confirming an address not resolved yet does nothing.
        c.enqueue(ip(2), 1, 0);
        c.confirm(ip(2), S);
        assert_eq!(c.state(ip(2), S), Some(NdState::Incomplete));
    }

    #[test]
    fn override_rules() {
        let mut c = cache();
        c.enqueue(ip(1), 1, 0);
        c.on_advert(ip(1), Some(mac(1)), SOLICITED, 0);
        // No override and a different address: demote, keep the old address.
        let no_o = NeighborFlags { override_: false, ..SOLICITED };
        c.on_advert(ip(1), Some(mac(2)), no_o, 1);
        assert_eq!(c.state(ip(1), 1), Some(NdState::Stale));
        assert_eq!(c.iter(1).next().unwrap().mac, Some(mac(1)));
        // Override with a different address: take it; unsolicited so STALE.
        c.on_advert(ip(1), Some(mac(2)), UNSOLICITED, 2);
        let v = c.iter(2).next().unwrap();
        assert_eq!((v.mac, v.state), (Some(mac(2)), NdState::Stale));
        assert_eq!(c.counters().get(NdCounter::LladdrChanged), 1);
        // Solicited with the same address: REACHABLE; R flag recorded.
        c.on_advert(ip(1), Some(mac(2)), NeighborFlags { router: true, ..SOLICITED }, 3);
        let v = c.iter(3).next().unwrap();
        assert_eq!((v.state, v.is_router), (NdState::Reachable, true));
        // An unsolicited one with the same address changes nothing.
        c.on_advert(ip(1), Some(mac(2)), NeighborFlags { router: true, ..UNSOLICITED }, 4);
        assert_eq!(c.state(ip(1), 4), Some(NdState::Reachable));
    }

    #[test]
    fn source_lladdr_creates_updates_and_resolves() {
        let mut c = cache();
        assert!(c.on_source_lladdr(ip(1), mac(1), 0).is_empty());
        assert_eq!(c.state(ip(1), 0), Some(NdState::Stale));
        c.confirm(ip(1), 0);
        // Same address: no change (stays REACHABLE).
        c.on_source_lladdr(ip(1), mac(1), 1);
        assert_eq!(c.state(ip(1), 1), Some(NdState::Reachable));
        // New address: STALE with it.
        c.on_source_lladdr(ip(1), mac(3), 2);
        assert_eq!(c.state(ip(1), 2), Some(NdState::Stale));
        assert_eq!(c.resolve(ip(1), 2), Some(mac(3)));
        // A solicitation from a host we are resolving completes it.
        c.enqueue(ip(2), 5, 0);
        assert_eq!(c.on_source_lladdr(ip(2), mac(2), 1).as_slice(), &[5]);
        assert_eq!(c.state(ip(2), 1), Some(NdState::Stale));
        assert_eq!(c.pending_packets(), 0);
    }

    #[test]
    fn stale_entries_are_forgotten() {
        let mut c = cache();
        c.on_source_lladdr(ip(1), mac(1), 0);
        assert_eq!(c.poll_at(), Some(60 * S));
        poll(&mut c, 60 * S);
        assert!(c.is_empty());
        assert_eq!(c.counters().get(NdCounter::StaleExpired), 1);
    }

    #[test]
    fn queue_limits() {
        let cfg = NdConfig { max_pending_per_entry: 2, max_pending_total: 3, ..NdConfig::default() };
        let mut c: NdCache<u32> = NdCache::new(cfg);
        assert_eq!(c.enqueue(ip(1), 1, 0), NdEnqueue::SendSolicit);
        assert_eq!(c.enqueue(ip(1), 2, 0), NdEnqueue::Queued);
        assert_eq!(c.enqueue(ip(1), 3, 0), NdEnqueue::Dropped(3));
        assert_eq!(c.enqueue(ip(2), 4, 0), NdEnqueue::SendSolicit);
        assert_eq!(c.enqueue(ip(3), 5, 0), NdEnqueue::Dropped(5));
        assert_eq!(c.pending_packets(), 3);
        assert_eq!(c.counters().get(NdCounter::QueueFull), 2);
        assert!(c.remove(ip(1)));
        assert_eq!(c.pending_packets(), 1);
        assert!(!c.remove(ip(1)));
        // A resolved entry takes no queue.
        c.on_advert(ip(2), Some(mac(2)), SOLICITED, 0);
        assert_eq!(c.enqueue(ip(2), 6, 0), NdEnqueue::Dropped(6));
    }

    #[test]
    fn full_table_evicts_oldest_resolved_never_resolving() {
        let cfg = NdConfig { capacity: 3, ..NdConfig::default() };
        let mut c: NdCache<u32> = NdCache::new(cfg);
        c.on_source_lladdr(ip(1), mac(1), 0);
        c.enqueue(ip(2), 20, 0);
        c.on_source_lladdr(ip(3), mac(3), 0);
        // Refresh 1 so 3 is the oldest resolved entry.
        c.on_source_lladdr(ip(1), mac(11), 1);
        c.on_source_lladdr(ip(4), mac(4), 2);
        assert_eq!(c.len(), 3);
        assert_eq!(c.state(ip(3), 2), None);
        assert_eq!(c.state(ip(2), 2), Some(NdState::Incomplete));
        assert_eq!(c.counters().get(NdCounter::Evicted), 1);
        // A table of resolving entries refuses new ones.
        let mut c: NdCache<u32> = NdCache::new(NdConfig { capacity: 2, ..NdConfig::default() });
        c.enqueue(ip(1), 1, 0);
        c.enqueue(ip(2), 2, 0);
        assert_eq!(c.enqueue(ip(3), 3, 0), NdEnqueue::Dropped(3));
        assert_eq!(c.counters().get(NdCounter::TableFull), 1);
        c.on_source_lladdr(ip(3), mac(3), 0);
        assert_eq!(c.len(), 2);
        // The order queue stays bounded under churn.
        let mut c: NdCache<u32> = NdCache::new(NdConfig { capacity: 4, ..NdConfig::default() });
        for i in 0..10_000u16 {
            c.on_source_lladdr(ip(i % 8), mac((i % 200) as u8), u64::from(i));
        }
        assert!(c.order.len() <= c.order_limit());
        assert_eq!(c.len(), 4);
    }
}
