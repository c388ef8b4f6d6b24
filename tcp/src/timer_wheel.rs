//! A hierarchical timer wheel for a worker's transport timers.
//!
//! Each worker owns one `TimerWheel<T>` (T is typically a connection index)
//! and advances it once per loop iteration with the current time. Time is a
//! `u64` of nanoseconds chosen by the caller, quantised into ticks of
//! `tick_ns`; a timer fires at the first `advance` whose tick is at or past
//! its deadline's tick (rounded up), so never early and at most one tick late.
//!
//! Layout: [`LEVELS`] levels of [`SLOTS`] slots; level `l` slot `s` holds
//! timers due within `SLOTS^(l+1)` ticks, and when the low bits of the
//! current tick wrap, the matching higher-level slot is cascaded down (the
//! classic hierarchical wheel of Varghese & Lauck). Timers live in a slab
//! and each slot is an intrusive doubly-linked list of slab indices, so
//! insert and cancel are O(1) and, once the slab has grown to the peak
//! number of timers, nothing allocates. Handles carry a generation, so
//! cancelling a timer that already fired (or a stale handle) is a no-op.
//! Timers further out than the wheel spans park in the top level and are
//! re-placed when that slot cascades.

/// Slots per level.
pub const SLOTS: usize = 64;
/// Number of levels: 64^4 = 16.7M ticks (4.6 hours at 1 ms ticks).
pub const LEVELS: usize = 4;
const BITS: u32 = 6;
const NIL: u32 = u32::MAX;
/// List id of the expired list (after the `LEVELS * SLOTS` slot lists).
const EXPIRED: u32 = (LEVELS * SLOTS) as u32;
/// List id of a free slab entry.
const FREE: u32 = EXPIRED + 1;

/// Names one inserted timer; stale handles are detected by generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerHandle {
    index: u32,
    generation: u32,
}

#[derive(Debug)]
struct Entry<T> {
    item: Option<T>,
    /// Absolute tick at which the timer is due.
    expiry: u64,
    next: u32,
    prev: u32,
    /// Which list the entry is on (slot id, `EXPIRED` or `FREE`).
    list: u32,
    generation: u32,
}

/// A hierarchical hashed timer wheel holding items of type `T`.
#[derive(Debug)]
pub struct TimerWheel<T> {
    tick_ns: u64,
    /// The last tick processed.
    current: u64,
    entries: Vec<Entry<T>>,
    free_head: u32,
    /// Heads of the slot lists, then the expired list.
    heads: Vec<u32>,
    /// Per level, a bit per non-empty slot, to skip empty stretches quickly.
    occupied: [u64; LEVELS],
    /// Timers pending (in slots or expired but not yet popped).
    len: usize,
    /// Timers on the expired list.
    expired: usize,
}

impl<T> TimerWheel<T> {
    /// An empty wheel with ticks of `tick_ns` nanoseconds, starting at `now`.
    pub fn new(tick_ns: u64, now: u64) -> Self {
        Self::with_capacity(tick_ns, now, 0)
    }

    /// Like [`TimerWheel::new`], with room for `capacity` timers before growing.
    pub fn with_capacity(tick_ns: u64, now: u64, capacity: usize) -> Self {
        assert!(tick_ns > 0, "tick must be positive");
        TimerWheel {
            tick_ns,
            current: now / tick_ns,
            entries: Vec::with_capacity(capacity),
            free_head: NIL,
            heads: vec![NIL; LEVELS * SLOTS + 1],
            occupied: [0; LEVELS],
            len: 0,
            expired: 0,
        }
    }

    /// The tick length in nanoseconds.
    pub fn tick_ns(&self) -> u64 {
        self.tick_ns
    }

    /// Timers pending, including expired ones not yet popped.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Arms a timer that fires at `deadline` (ns) and yields `item`.
    /// A deadline already due goes straight to the expired list.
    pub fn insert(&mut self, deadline: u64, item: T) -> TimerHandle {
        let expiry = deadline.div_ceil(self.tick_ns);
        let index = if self.free_head != NIL {
            let i = self.free_head;
            let e = &mut self.entries[i as usize];
            self.free_head = e.next;
            e.item = Some(item);
            e.expiry = expiry;
            i
        } else {
            let i = self.entries.len() as u32;
            assert!(i < NIL, "timer wheel full");
            self.entries.push(Entry { item: Some(item), expiry, next: NIL, prev: NIL, list: FREE, generation: 0 });
            i
        };
        self.len += 1;
        self.place(index);
        TimerHandle { index, generation: self.entries[index as usize].generation }
    }

    /// Disarms a timer and returns its item; `None` if it already fired, was
    /// popped or cancelled (the handle is stale).
    pub fn cancel(&mut self, handle: TimerHandle) -> Option<T> {
        let e = self.entries.get(handle.index as usize)?;
        if e.generation != handle.generation || e.list == FREE {
            return None;
        }
        self.unlink(handle.index);
        Some(self.release(handle.index))
    }

    /// Whether `handle` names a timer that is still pending (not fired, popped or cancelled).
    pub fn is_pending(&self, handle: TimerHandle) -> bool {
        self.entries
            .get(handle.index as usize)
            .is_some_and(|e| e.generation == handle.generation && e.list != FREE && e.list != EXPIRED)
    }

    /// Processes every tick up to `now` and moves the timers that came due
    /// to the expired list; returns how many are waiting there. Collect them
    /// with [`TimerWheel::pop_expired`].
    #[inline]
    pub fn advance(&mut self, now: u64) -> usize {
        let target = now / self.tick_ns;
        // Most loops see no new tick: answer without a call.
        if self.current >= target {
            return self.expired_count();
        }
        self.advance_to(target)
    }

    /// [`Self::advance`] once the clock reached a new tick.
    fn advance_to(&mut self, target: u64) -> usize {
        while self.current < target {
            if self.occupied.iter().all(|&o| o == 0) {
                // Nothing in the slots: jump (the expired list is unaffected).
                self.current = target;
                break;
            }
            let next = self.current + 1;
            let slot = (next & (SLOTS as u64 - 1)) as u32;
            if slot != 0 && self.occupied[0] >> slot == 0 {
                // No level-0 timer in the rest of this rotation: skip to the
                // tick before the next boundary, where cascading happens.
                self.current = (next | (SLOTS as u64 - 1)).min(target);
                continue;
            }
            self.current = next;
            self.process_tick(next);
        }
        self.expired_count()
    }

    /// Takes one expired timer's item.
    pub fn pop_expired(&mut self) -> Option<T> {
        let index = self.heads[EXPIRED as usize];
        if index == NIL {
            return None;
        }
        self.unlink(index);
        Some(self.release(index))
    }

    #[inline]
    fn expired_count(&self) -> usize {
        self.expired
    }

    fn process_tick(&mut self, tick: u64) {
        // Cascade from the highest level whose index wrapped down to level
        // 1, so timers moving down land in slots still to be processed.
        let mut top = 0;
        while top + 1 < LEVELS && tick & ((1u64 << (BITS * (top as u32 + 1))) - 1) == 0 {
            top += 1;
        }
        for level in (1..=top).rev() {
            let slot = ((tick >> (BITS * level as u32)) & (SLOTS as u64 - 1)) as usize;
            self.cascade(level * SLOTS + slot);
        }
        let list = (tick & (SLOTS as u64 - 1)) as usize;
        while self.heads[list] != NIL {
            let i = self.heads[list];
            self.unlink(i);
            self.push(EXPIRED, i);
        }
    }

    fn cascade(&mut self, list: usize) {
        let mut i = self.heads[list];
        self.heads[list] = NIL;
        self.occupied[list / SLOTS] &= !(1 << (list % SLOTS));
        while i != NIL {
            let next = self.entries[i as usize].next;
            self.place(i);
            i = next;
        }
    }

    /// Puts a detached entry on the list its expiry calls for.
    fn place(&mut self, index: u32) {
        let expiry = self.entries[index as usize].expiry;
        if expiry <= self.current {
            self.push(EXPIRED, index);
            return;
        }
        let span = (SLOTS as u64).pow(LEVELS as u32);
        // Beyond the wheel: park at the furthest top-level slot and re-place on cascade.
        let at = expiry.min(self.current + span - 1);
        let delta = at - self.current;
        let mut level = 0;
        while level + 1 < LEVELS && delta >= 1u64 << (BITS * (level as u32 + 1)) {
            level += 1;
        }
        let slot = ((at >> (BITS * level as u32)) & (SLOTS as u64 - 1)) as usize;
        self.push((level * SLOTS + slot) as u32, index);
    }

    fn push(&mut self, list: u32, index: u32) {
        let head = self.heads[list as usize];
        {
            let e = &mut self.entries[index as usize];
            e.list = list;
            e.prev = NIL;
            e.next = head;
        }
        if head != NIL {
            self.entries[head as usize].prev = index;
        }
        self.heads[list as usize] = index;
        if list < EXPIRED {
            self.occupied[list as usize / SLOTS] |= 1 << (list as usize % SLOTS);
        } else {
            self.expired += 1;
        }
    }

    fn unlink(&mut self, index: u32) {
        let (prev, next, list) = {
            let e = &self.entries[index as usize];
            (e.prev, e.next, e.list)
        };
        if prev != NIL {
            self.entries[prev as usize].next = next;
        } else {
            self.heads[list as usize] = next;
            if next == NIL && list < EXPIRED {
                self.occupied[list as usize / SLOTS] &= !(1 << (list as usize % SLOTS));
            }
        }
        if next != NIL {
            self.entries[next as usize].prev = prev;
        }
        if list == EXPIRED {
            self.expired -= 1;
        }
    }

    /// Frees an unlinked entry and returns its item.
    fn release(&mut self, index: u32) -> T {
        let e = &mut self.entries[index as usize];
        e.list = FREE;
        // Why: a new generation makes every handle to this use of the entry stale.
        e.generation = e.generation.wrapping_add(1);
        e.next = self.free_head;
        self.free_head = index;
        self.len -= 1;
        e.item.take().expect("pending timer has an item")
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;

    const MS: u64 = 1_000_000;

    fn drain(w: &mut TimerWheel<u32>) -> Vec<u32> {
        let mut v: Vec<u32> = std::iter::from_fn(|| w.pop_expired()).collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn fires_at_deadline_never_early() {
        let mut w = TimerWheel::new(MS, 0);
        w.insert(5 * MS, 1);
        w.insert(5 * MS + 1, 2); // rounds up to tick 6
        assert_eq!(w.advance(4 * MS + 999_999), 0);
        assert_eq!(w.advance(5 * MS), 1);
        assert_eq!(drain(&mut w), [1]);
        assert_eq!(w.advance(6 * MS), 1);
        assert_eq!(drain(&mut w), [2]);
        assert!(w.is_empty());
    }

    #[test]
    fn past_deadline_is_expired_at_once() {
        let mut w = TimerWheel::new(MS, 100 * MS);
        w.insert(3 * MS, 7);
        assert_eq!(w.pop_expired(), Some(7));
        assert_eq!(w.pop_expired(), None);
    }

    #[test]
    fn cancel_and_stale_handles() {
        let mut w = TimerWheel::new(MS, 0);
        let a = w.insert(10 * MS, 1);
        let b = w.insert(10 * MS, 2);
        assert!(w.is_pending(a));
        assert_eq!(w.cancel(a), Some(1));
        assert!(!w.is_pending(a));
        assert_eq!(w.cancel(a), None);
        // The freed entry is reused; the old handle must not cancel the new timer.
        let c = w.insert(20 * MS, 3);
        assert_eq!(w.cancel(a), None);
        w.advance(10 * MS);
        // Expired but not yet popped: still cancellable.
        assert_eq!(w.cancel(b), Some(2));
        assert_eq!(w.pop_expired(), None);
        assert_eq!(w.cancel(b), None);
        assert!(w.is_pending(c));
        w.advance(20 * MS);
        assert!(!w.is_pending(c));
        assert_eq!(drain(&mut w), [3]);
    }

    #[test]
    fn cascades_across_levels_and_beyond_span() {
        let mut w = TimerWheel::new(1, 0);
        let deadlines = [63, 64, 65, 4095, 4096, 4097, 262_143, 262_144, 16_777_215, 16_777_216, 40_000_000];
        for (k, &d) in deadlines.iter().enumerate() {
            w.insert(d, k as u32);
        }
        for (k, &d) in deadlines.iter().enumerate() {
            assert_eq!(w.advance(d - 1), 0, "timer {k} fired early");
            assert_eq!(w.advance(d), 1, "timer {k} did not fire at {d}");
            assert_eq!(w.pop_expired(), Some(k as u32));
        }
        assert!(w.is_empty());
    }

    #[test]
    fn no_allocation_after_warm_up() {
        let mut w = TimerWheel::with_capacity(MS, 0, 16);
        let cap = w.entries.capacity();
        for round in 0..100u64 {
            let hs: Vec<_> = (0..16).map(|k| w.insert((round * 100 + k) * MS, k as u32)).collect();
            for h in hs.into_iter().step_by(2) {
                w.cancel(h);
            }
            w.advance((round * 100 + 99) * MS);
            while w.pop_expired().is_some() {}
        }
        assert_eq!(w.entries.capacity(), cap);
    }

    proptest! {
        #[test]
        fn matches_a_sorted_model(
            ops in prop::collection::vec((0u8..4, 0u64..300_000), 1..200),
        ) {
            let mut w = TimerWheel::new(10, 0);
            let mut now = 0u64;
            let mut model: Vec<(u64, u32, TimerHandle)> = Vec::new();
            for (k, (op, x)) in ops.into_iter().enumerate() {
                match op {
                    0 | 1 => {
                        let deadline = now + x;
                        let h = w.insert(deadline, k as u32);
                        model.push((deadline, k as u32, h));
                    }
                    2 if !model.is_empty() => {
                        let (_, item, h) = model.remove(x as usize % model.len());
                        prop_assert_eq!(w.cancel(h), Some(item));
                    }
                    _ => {
                        now += x;
                        w.advance(now);
                        let mut fired: Vec<u32> = std::iter::from_fn(|| w.pop_expired()).collect();
                        fired.sort_unstable();
                        // Due: deadline's tick (rounded up) <= now's tick.
                        let mut want: Vec<u32> = model.iter().filter(|m| m.0.div_ceil(10) <= now / 10).map(|m| m.1).collect();
                        want.sort_unstable();
                        model.retain(|m| m.0.div_ceil(10) > now / 10);
                        prop_assert_eq!(fired, want);
                    }
                }
                prop_assert_eq!(w.len(), model.len());
            }
        }
    }
}
