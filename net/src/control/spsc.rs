//! A bounded, lock-free, single-producer single-consumer ring.
//!
//! The main thread and each worker talk over pairs of these (see [`crate::control::rpc`]):
//! one writer and one reader per ring means no compare-and-swap, no lock and
//! no allocation per message, so a worker can poll its queue every loop
//! iteration for the price of one load. Each side keeps its own index in a
//! [`CachePadded`] atomic (so the two threads do not fight over one cache
//! line) plus a cached copy of the other side's index, re-read only when the
//! cached copy says the ring looks full (producer) or empty (consumer).
//! A full ring hands the value back (`Err(v)`): nothing is dropped silently.
//!
//! Indices grow without bound (wrapping `usize`); the slot is `index & mask`
//! and the number of queued items is `tail - head` (wrapping), which is why
//! the capacity is a power of two.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_utils::CachePadded;

/// State shared by both ends.
///
/// Invariant: slots with indices in `[head, tail)` (wrapping) hold initialised
/// values owned by the ring; every other slot is uninitialised. `head` is
/// written only by the consumer, `tail` only by the producer.
struct Shared<T> {
    /// Next index to read; written by the consumer only.
    head: CachePadded<AtomicUsize>,
    /// Next index to write; written by the producer only.
    tail: CachePadded<AtomicUsize>,
    mask: usize,
    buf: Box<[UnsafeCell<MaybeUninit<T>>]>,
}

// SAFETY: the ring moves values of `T` from the producer thread to the
// consumer thread (so `T: Send` is needed) but never gives two threads access
// to the same value: a slot is written only by the producer while it is
// outside `[head, tail)` and read only by the consumer while it is inside,
// and the Release/Acquire pairs on `head` and `tail` order those accesses.
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T> Shared<T> {
    fn capacity(&self) -> usize {
        self.mask + 1
    }

    fn slot(&self, index: usize) -> *mut MaybeUninit<T> {
        self.buf[index & self.mask].get()
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        // Both ends are gone (this is the last `Arc`), and the consumer
        // published its final `head` when it was dropped, so `[head, tail)`
        // is exactly the set of values still owned by the ring.
        let head = *self.head.get_mut();
        let tail = *self.tail.get_mut();
        let mut i = head;
        while i != tail {
            // SAFETY: `i` is in `[head, tail)`, so the slot is initialised
            // (struct invariant) and no end can read it again.
            unsafe { (*self.slot(i)).assume_init_drop() };
            i = i.wrapping_add(1);
        }
    }
}

/// The writing end of a ring made by [`channel`].
pub struct Producer<T> {
    shared: Arc<Shared<T>>,
    /// Our own copy of `shared.tail` (we are its only writer).
    tail: usize,
    /// Last `shared.head` we read; the consumer may be ahead of it.
    cached_head: usize,
}

/// The reading end of a ring made by [`channel`].
pub struct Consumer<T> {
    shared: Arc<Shared<T>>,
    /// Our own head; may be ahead of `shared.head` inside [`Consumer::pop_batch`].
    head: usize,
    /// Last `shared.tail` we read; the producer may be ahead of it.
    cached_tail: usize,
}

/// Make a ring holding at least `capacity` items (rounded up to a power of two, minimum 1).
pub fn channel<T>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    let cap = capacity.max(1).checked_next_power_of_two().expect("spsc capacity too large");
    let buf = (0..cap).map(|_| UnsafeCell::new(MaybeUninit::uninit())).collect();
    let shared = Arc::new(Shared {
        head: CachePadded::new(AtomicUsize::new(0)),
        tail: CachePadded::new(AtomicUsize::new(0)),
        mask: cap - 1,
        buf,
    });
    let producer = Producer { shared: shared.clone(), tail: 0, cached_head: 0 };
    let consumer = Consumer { shared, head: 0, cached_tail: 0 };
    (producer, consumer)
}

impl<T> Producer<T> {
    /// Queue `v`; gives it back as `Err(v)` when the ring is full.
    pub fn push(&mut self, v: T) -> Result<(), T> {
        let cap = self.shared.capacity();
        if self.tail.wrapping_sub(self.cached_head) == cap {
            // Acquire: the consumer's reads of the slots it freed happen
            // before we overwrite them.
            self.cached_head = self.shared.head.load(Ordering::Acquire);
            if self.tail.wrapping_sub(self.cached_head) == cap {
                return Err(v);
            }
        }
        // SAFETY: `tail - head < cap`, so slot `tail` is outside
        // `[head, tail)`: it is uninitialised and the consumer will not touch
        // it until we publish the new tail below. We are the only producer
        // (`&mut self`, `Producer` is not `Clone`).
        unsafe { (*self.shared.slot(self.tail)).write(v) };
        self.tail = self.tail.wrapping_add(1);
        // Release: the write of the value happens before the consumer sees it.
        self.shared.tail.store(self.tail, Ordering::Release);
        Ok(())
    }

    /// Number of queued items (a snapshot: the consumer may be draining).
    pub fn len(&self) -> usize {
        self.tail.wrapping_sub(self.shared.head.load(Ordering::Acquire))
    }

    /// True when no item can be queued right now.
    pub fn is_full(&self) -> bool {
        self.len() == self.shared.capacity()
    }

    /// True when nothing is queued (a snapshot).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many items the ring holds at most.
    pub fn capacity(&self) -> usize {
        self.shared.capacity()
    }

    /// True once the consumer has been dropped: pushed items would never be read.
    pub fn is_disconnected(&self) -> bool {
        // Each end holds one `Arc` and neither is `Clone`, so a count of one
        // means the other end is gone for good.
        Arc::strong_count(&self.shared) == 1
    }
}

impl<T> Consumer<T> {
    /// How many items are readable, re-reading the producer's tail only if
    /// the cached copy shows fewer than `want`.
    fn available(&mut self, want: usize) -> usize {
        let n = self.cached_tail.wrapping_sub(self.head);
        if n >= want {
            return n;
        }
        // Acquire: the producer's writes of the values happen before our reads.
        self.cached_tail = self.shared.tail.load(Ordering::Acquire);
        self.cached_tail.wrapping_sub(self.head)
    }

    /// Move the value at our head out of the ring and advance our local head.
    ///
    /// # Safety
    ///
    /// `self.head` must be in `[head, tail)` as last read, i.e. `available(_) > 0`.
    unsafe fn take(&mut self) -> T {
        // SAFETY: the caller guarantees slot `head` is initialised and
        // published by the producer (Acquire load of `tail` in `available`);
        // the producer will not overwrite it until we publish a head past it.
        let v = unsafe { (*self.shared.slot(self.head)).assume_init_read() };
        self.head = self.head.wrapping_add(1);
        v
    }

    /// Take the oldest item, if any.
    pub fn pop(&mut self) -> Option<T> {
        if self.available(1) == 0 {
            return None;
        }
        // SAFETY: `available(1) > 0` just above.
        let v = unsafe { self.take() };
        // Release: our read of the slot happens before the producer reuses it.
        self.shared.head.store(self.head, Ordering::Release);
        Some(v)
    }

    /// Hand up to `max` items, oldest first, to `out`; returns how many.
    ///
    /// The freed slots are published to the producer once, at the end. If
    /// `out` panics, the items already handed over are not dropped again:
    /// our local head is advanced before each call and is published on drop.
    pub fn pop_batch(&mut self, out: &mut impl FnMut(T), max: usize) -> usize {
        let n = self.available(max).min(max);
        for _ in 0..n {
            // SAFETY: fewer than `available(max)` items taken so far.
            let v = unsafe { self.take() };
            out(v);
        }
        if n > 0 {
            self.shared.head.store(self.head, Ordering::Release);
        }
        n
    }

    /// Number of queued items (a snapshot: the producer may be adding).
    pub fn len(&self) -> usize {
        self.shared.tail.load(Ordering::Acquire).wrapping_sub(self.head)
    }

    /// True when nothing is queued (a snapshot).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many items the ring holds at most.
    pub fn capacity(&self) -> usize {
        self.shared.capacity()
    }

    /// True once the producer has been dropped: nothing more will arrive after what is queued.
    pub fn is_disconnected(&self) -> bool {
        // See `Producer::is_disconnected`.
        Arc::strong_count(&self.shared) == 1
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        // Publish items taken but not yet published (a panic inside
        // `pop_batch`'s callback), so the ring's drop does not drop them twice.
        self.shared.head.store(self.head, Ordering::Release);
    }
}

impl<T> std::fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").field("len", &self.len()).field("capacity", &self.capacity()).finish()
    }
}

impl<T> std::fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer").field("len", &self.len()).field("capacity", &self.capacity()).finish()
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn capacity_rounds_up_to_power_of_two() {
        assert_eq!(channel::<u8>(0).0.capacity(), 1);
        assert_eq!(channel::<u8>(1).0.capacity(), 1);
        assert_eq!(channel::<u8>(3).0.capacity(), 4);
        assert_eq!(channel::<u8>(8).1.capacity(), 8);
        assert_eq!(channel::<u8>(9).1.capacity(), 16);
    }

    #[test]
    fn push_pop_in_order() {
        let (mut tx, mut rx) = channel(4);
        assert!(rx.is_empty());
        assert_eq!(rx.pop(), None);
        for i in 0..3 {
            tx.push(i).unwrap();
        }
        assert_eq!(tx.len(), 3);
        assert_eq!(rx.len(), 3);
        assert_eq!(rx.pop(), Some(0));
        assert_eq!(rx.pop(), Some(1));
        assert_eq!(rx.pop(), Some(2));
        assert_eq!(rx.pop(), None);
        assert!(tx.is_empty());
    }

    #[test]
    fn full_gives_the_value_back() {
        let (mut tx, mut rx) = channel(2);
        tx.push("a").unwrap();
        tx.push("b").unwrap();
        assert!(tx.is_full());
        assert_eq!(tx.push("c"), Err("c"));
        assert_eq!(rx.pop(), Some("a"));
        assert!(!tx.is_full());
        tx.push("c").unwrap();
        assert_eq!(tx.push("d"), Err("d"));
        assert_eq!(rx.pop(), Some("b"));
        assert_eq!(rx.pop(), Some("c"));
        assert_eq!(rx.pop(), None);
    }

    #[test]
    fn wraps_around_many_times() {
        let (mut tx, mut rx) = channel(4);
        let mut next_out = 0u32;
        for i in 0..1000u32 {
            tx.push(i).unwrap();
            if i % 3 == 2 {
                // Drain in bursts so the indices are at every offset of the ring.
                while let Some(v) = rx.pop() {
                    assert_eq!(v, next_out);
                    next_out += 1;
                }
            }
        }
        while let Some(v) = rx.pop() {
            assert_eq!(v, next_out);
            next_out += 1;
        }
        assert_eq!(next_out, 1000);
    }

    #[test]
    fn indices_wrap_past_usize_max() {
        let (mut tx, mut rx) = channel(4);
        // Start both ends just below the wrap point of the index space.
        let start = usize::MAX - 2;
        tx.tail = start;
        tx.cached_head = start;
        tx.shared.tail.store(start, Ordering::Relaxed);
        tx.shared.head.store(start, Ordering::Relaxed);
        rx.head = start;
        rx.cached_tail = start;
        for round in 0..5 {
            for i in 0..4 {
                tx.push(round * 4 + i).unwrap();
            }
            assert!(tx.is_full());
            assert_eq!(rx.len(), 4);
            for i in 0..4 {
                assert_eq!(rx.pop(), Some(round * 4 + i));
            }
        }
    }

    #[test]
    fn pop_batch_respects_max_and_order() {
        let (mut tx, mut rx) = channel(8);
        for i in 0..6 {
            tx.push(i).unwrap();
        }
        let mut got = Vec::new();
        assert_eq!(rx.pop_batch(&mut |v| got.push(v), 4), 4);
        assert_eq!(got, [0, 1, 2, 3]);
        assert_eq!(rx.pop_batch(&mut |v| got.push(v), 4), 2);
        assert_eq!(rx.pop_batch(&mut |v| got.push(v), 4), 0);
        assert_eq!(got, [0, 1, 2, 3, 4, 5]);
        assert!(tx.is_empty());
    }

    #[test]
    fn pop_batch_sees_items_pushed_after_a_partial_batch() {
        let (mut tx, mut rx) = channel(8);
        tx.push(0).unwrap();
        tx.push(1).unwrap();
        let mut got = Vec::new();
        assert_eq!(rx.pop_batch(&mut |v| got.push(v), 1), 1);
        // The consumer's cached tail still says one item; it must look again.
        tx.push(2).unwrap();
        assert_eq!(rx.pop_batch(&mut |v| got.push(v), 8), 2);
        assert_eq!(got, [0, 1, 2]);
    }

    #[test]
    fn drops_remaining_items() {
        let token = Rc::new(());
        {
            let (mut tx, mut rx) = channel(8);
            for _ in 0..5 {
                tx.push(token.clone()).unwrap();
            }
            drop(rx.pop());
            assert_eq!(Rc::strong_count(&token), 5);
            drop(tx);
            assert_eq!(Rc::strong_count(&token), 5);
        }
        assert_eq!(Rc::strong_count(&token), 1);
        // Wrapped contents are dropped too.
        {
            let (mut tx, mut rx) = channel(4);
            for _ in 0..3 {
                tx.push(token.clone()).unwrap();
            }
            for _ in 0..3 {
                drop(rx.pop());
            }
            for _ in 0..4 {
                tx.push(token.clone()).unwrap();
            }
            drop(rx);
            assert_eq!(Rc::strong_count(&token), 5);
        }
        assert_eq!(Rc::strong_count(&token), 1);
    }

    #[test]
    fn panic_in_pop_batch_does_not_double_drop() {
        let token = Rc::new(());
        let (mut tx, mut rx) = channel(8);
        for _ in 0..4 {
            tx.push(token.clone()).unwrap();
        }
        let mut seen = 0;
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rx.pop_batch(
                &mut |v| {
                    drop(v);
                    seen += 1;
                    if seen == 2 {
                        panic!("callback failed");
                    }
                },
                8,
            )
        }));
        assert!(r.is_err());
        assert_eq!(Rc::strong_count(&token), 3);
        drop(rx);
        drop(tx);
        assert_eq!(Rc::strong_count(&token), 1);
    }

    #[test]
    fn ends_are_send() {
        fn send<S: Send>() {}
        send::<Producer<Box<dyn FnOnce() + Send>>>();
        send::<Consumer<Box<dyn FnOnce() + Send>>>();
    }

    #[test]
    fn disconnect_is_visible() {
        let (tx, rx) = channel::<u8>(2);
        assert!(!tx.is_disconnected());
        drop(rx);
        assert!(tx.is_disconnected());
        let (tx, rx) = channel::<u8>(2);
        drop(tx);
        assert!(rx.is_disconnected());
    }

    #[test]
    fn two_threads_lose_nothing() {
        const N: u64 = 1_000_000;
        let (mut tx, mut rx) = channel::<u64>(256);
        let producer = std::thread::spawn(move || {
            let backoff = crossbeam_utils::Backoff::new();
            for i in 0..N {
                let mut v = i;
                while let Err(back) = tx.push(v) {
                    v = back;
                    backoff.snooze();
                }
                backoff.reset();
            }
        });
        let mut expected = 0u64;
        let mut sum = 0u64;
        let backoff = crossbeam_utils::Backoff::new();
        while expected < N {
            let n = rx.pop_batch(
                &mut |v| {
                    assert_eq!(v, expected);
                    expected += 1;
                    sum += v;
                },
                64,
            );
            if n == 0 {
                backoff.snooze();
            } else {
                backoff.reset();
            }
        }
        producer.join().unwrap();
        assert_eq!(rx.pop(), None);
        assert_eq!(sum, N * (N - 1) / 2);
    }
}
