//! Message queues: the per-app-worker event channel in shared memory.
//!
//! Besides its fifos, every app worker has one queue over which the node
//! tells it what happened (accepted, connected, disconnected, reset, bound,
//! unlisten reply) and which fifos have data (io events), and a queue in the
//! other direction for the app's requests. Like the fifos, a queue lives in a
//! segment that both sides map, so it is a `#[repr(C)]` header followed by
//! fixed-size slots, addressed by free-running `u32` indices (the slot count
//! is a power of two), and it is single-producer single-consumer: the
//! producer fills a slot and publishes it with a `Release` store of the
//! tail, the consumer `Acquire`s the tail before reading. A full queue is an
//! error the producer sees ([`MqError::Full`]), never a silent loss. This is
//! VPP's `svm_msg_q_t` with a single ring.
//!
//! A consumer with nothing to do may sleep on an eventfd instead of polling.
//! The trap is the lost wake-up: the consumer sees the queue empty and
//! decides to sleep; before it actually sleeps the producer sends a message
//! and, seeing no sleeper, does not signal; the consumer then sleeps with a
//! message waiting. The header therefore has a "want wake-up" flag. The
//! consumer ([`MessageQueue::wait`]) sets the flag, then checks the queue
//! again, and sleeps only if it is still empty; the producer
//! ([`MessageQueue::notify`], after sending) publishes its message, then
//! checks the flag and writes the eventfd if it is set. With a `SeqCst`
//! fence between the store and the load on each side, at least one side sees
//! the other's store: either the consumer's re-check finds the message, or
//! the producer finds the flag and signals. The eventfd is a counter, so a
//! signal that lands before the consumer reaches `poll` is not lost either.
//! Producers send in batches and notify once per batch.
//!
//! Making a view is `unsafe` for the same reason as for fifos: the caller
//! vouches for the memory and for there being one producer and one consumer.
//! The eventfd is not in shared memory (fd numbers are per process); each
//! side's view holds its own descriptor for the same eventfd.

use std::io;
use std::marker::PhantomData;
use std::mem::size_of;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::{self, NonNull};
use std::sync::atomic::{fence, AtomicU32, Ordering};
use std::time::Duration;

use rustix::event::{EventfdFlags, PollFd, PollFlags};
use thiserror::Error;

use crate::fifo::{align_up, check_aligned, CacheLine};

/// Largest number of slots in a queue.
pub const MQ_MAX_SLOTS: u32 = 1 << 24;
/// Smallest slot size: the slot header plus eight payload bytes.
pub const MQ_MIN_SLOT_SIZE: u32 = 16;
/// Largest slot size.
pub const MQ_MAX_SLOT_SIZE: u32 = 64 * 1024;

const MQ_MAGIC: u32 = u32::from_le_bytes(*b"dpMq");

/// Why a message could not be sent or a queue view made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MqError {
    /// Every slot holds an unread message.
    #[error("message queue full")]
    Full,
    /// The payload does not fit in a slot.
    #[error("message of {len} bytes exceeds the {max}-byte slot payload")]
    TooLarge {
        /// Payload length offered.
        len: usize,
        /// Largest payload a slot holds.
        max: usize,
    },
    /// Slot count not a power of two up to [`MQ_MAX_SLOTS`], or slot size not a multiple of 8 in range.
    #[error("invalid queue layout: {slots} slots of {slot_size} bytes")]
    InvalidLayout {
        /// Slot count asked for.
        slots: u32,
        /// Slot size asked for.
        slot_size: u32,
    },
    /// The memory pointer is null or not aligned to [`crate::fifo::FIFO_ALIGN`].
    #[error("queue memory is null or misaligned")]
    Misaligned,
    /// The memory does not hold a queue with the expected layout.
    #[error("no message queue with the expected layout at this address")]
    NotAQueue,
}

/// Written once by [`MessageQueue::init`], plus the wake-up flag.
#[repr(C)]
struct Shared {
    magic: u32,
    slots: u32,
    slot_size: u32,
    /// Set by a consumer about to sleep on the eventfd.
    want_wakeup: AtomicU32,
}

/// The shared-memory header; the slots follow it.
#[repr(C)]
struct MqHeader {
    shared: CacheLine<Shared>,
    head: CacheLine<AtomicU32>,
    tail: CacheLine<AtomicU32>,
}

/// The start of every slot; the payload follows.
#[repr(C)]
#[derive(Clone, Copy)]
struct SlotHeader {
    kind: u16,
    _reserved: u16,
    len: u32,
}

const HEADER_SIZE: usize = size_of::<MqHeader>();
const SLOT_HEADER_SIZE: usize = size_of::<SlotHeader>();

/// A view of a message queue in memory shared with the other side.
///
/// Producer methods: [`try_send`](Self::try_send), [`notify`](Self::notify).
/// Consumer methods: [`try_recv`](Self::try_recv), [`wait`](Self::wait).
pub struct MessageQueue<'a> {
    hdr: NonNull<MqHeader>,
    slots_mem: NonNull<u8>,
    slots: u32,
    slot_size: u32,
    eventfd: Option<OwnedFd>,
    _mem: PhantomData<&'a MqHeader>,
}

// SAFETY: as for `Fifo`: a view is pointers into memory mapped for 'a plus an
// owned fd; the constructors' contract limits it to one producer and one
// consumer, and without `Sync` one view is never shared between threads.
unsafe impl Send for MessageQueue<'_> {}

impl<'a> MessageQueue<'a> {
    /// Checks that `slots` and `slot_size` make a valid queue.
    pub fn check_layout(slots: u32, slot_size: u32) -> Result<(), MqError> {
        let slots_ok = slots.is_power_of_two() && slots <= MQ_MAX_SLOTS;
        let size_ok = (MQ_MIN_SLOT_SIZE..=MQ_MAX_SLOT_SIZE).contains(&slot_size) && slot_size & 7 == 0;
        if slots_ok && size_ok {
            Ok(())
        } else {
            Err(MqError::InvalidLayout { slots, slot_size })
        }
    }

    /// Bytes of memory a queue occupies, header included (layout assumed valid).
    pub const fn footprint(slots: u32, slot_size: u32) -> usize {
        HEADER_SIZE + align_up(slots as usize * slot_size as usize)
    }

    /// Formats an empty queue of `slots` slots of `slot_size` bytes at `mem` and returns a view.
    ///
    /// # Safety
    ///
    /// `mem` must be valid for reads and writes of [`MessageQueue::footprint`]
    /// bytes for `'a`, no other view of it may be in use, and afterwards the
    /// queue must have at most one producer and one consumer at a time.
    pub unsafe fn init(mem: *mut u8, slots: u32, slot_size: u32) -> Result<Self, MqError> {
        Self::check_layout(slots, slot_size)?;
        let mem = check_aligned(mem).ok_or(MqError::Misaligned)?;
        let header = MqHeader {
            shared: CacheLine(Shared { magic: MQ_MAGIC, slots, slot_size, want_wakeup: AtomicU32::new(0) }),
            head: CacheLine(AtomicU32::new(0)),
            tail: CacheLine(AtomicU32::new(0)),
        };
        // SAFETY: aligned (checked) and valid for the footprint, which starts
        // with the header; nobody else uses the memory yet (caller's contract).
        unsafe { ptr::write(mem.as_ptr().cast::<MqHeader>(), header) };
        // SAFETY: just formatted with this layout; the rest is the caller's contract.
        unsafe { Self::from_raw(mem.as_ptr(), slots, slot_size) }
    }

    /// Makes a view of a queue someone formatted at `mem` with this layout.
    ///
    /// The layout must come from a trusted source; a header that disagrees is rejected.
    ///
    /// # Safety
    ///
    /// `mem` must be valid for reads and writes of [`MessageQueue::footprint`]
    /// bytes for `'a`, and the queue must have at most one producer and one
    /// consumer at a time across all views and processes.
    pub unsafe fn from_raw(mem: *mut u8, slots: u32, slot_size: u32) -> Result<Self, MqError> {
        Self::check_layout(slots, slot_size)?;
        let mem = check_aligned(mem).ok_or(MqError::Misaligned)?;
        let hdr = mem.cast::<MqHeader>();
        // SAFETY: the header is in bounds and aligned; these plain fields are
        // written once, before the queue is handed out.
        let stored = unsafe {
            let shared = ptr::addr_of!((*hdr.as_ptr()).shared.0);
            (
                ptr::read(ptr::addr_of!((*shared).magic)),
                ptr::read(ptr::addr_of!((*shared).slots)),
                ptr::read(ptr::addr_of!((*shared).slot_size)),
            )
        };
        if stored != (MQ_MAGIC, slots, slot_size) {
            return Err(MqError::NotAQueue);
        }
        Ok(Self {
            hdr,
            // SAFETY: the slots start right after the header, inside the footprint.
            slots_mem: unsafe { mem.add(HEADER_SIZE) },
            slots,
            slot_size,
            eventfd: None,
            _mem: PhantomData,
        })
    }

    fn hdr(&self) -> &MqHeader {
        // SAFETY: checked by the constructors and valid for 'a; everything
        // written by more than one party is atomic.
        unsafe { self.hdr.as_ref() }
    }

    fn head(&self) -> u32 {
        self.hdr().head.0.load(Ordering::Acquire)
    }

    fn tail(&self) -> u32 {
        self.hdr().tail.0.load(Ordering::Acquire)
    }

    /// Pointer to the slot of free-running index `index`.
    fn slot(&self, index: u32) -> *mut u8 {
        let at = (index & (self.slots - 1)) as usize * self.slot_size as usize;
        // SAFETY: `at` is below `slots * slot_size`, inside the slot area.
        unsafe { self.slots_mem.as_ptr().add(at) }
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.slots as usize
    }

    /// Largest payload one message carries.
    pub fn max_payload(&self) -> usize {
        self.slot_size as usize - SLOT_HEADER_SIZE
    }

    /// Messages waiting to be received.
    pub fn len(&self) -> usize {
        self.tail().wrapping_sub(self.head()).min(self.slots) as usize
    }

    /// Whether no message is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether every slot is taken.
    pub fn is_full(&self) -> bool {
        self.len() == self.capacity()
    }

    /// Sends one message of type `kind`; fails if the queue is full or the payload too large.
    ///
    /// Does not wake the consumer; call [`MessageQueue::notify`] after a batch.
    pub fn try_send(&self, kind: u16, payload: &[u8]) -> Result<(), MqError> {
        let max = self.max_payload();
        if payload.len() > max {
            return Err(MqError::TooLarge { len: payload.len(), max });
        }
        let tail = self.tail();
        if tail.wrapping_sub(self.head()) >= self.slots {
            return Err(MqError::Full);
        }
        let slot = self.slot(tail);
        let header = SlotHeader { kind, _reserved: 0, len: payload.len() as u32 };
        // SAFETY: the slot is free (the consumer released it: head was
        // acquired above), aligned to 8 (slot size is a multiple of 8 and the
        // slot area is aligned) and holds the header plus `max` payload bytes.
        unsafe {
            ptr::write(slot.cast::<SlotHeader>(), header);
            ptr::copy_nonoverlapping(payload.as_ptr(), slot.add(SLOT_HEADER_SIZE), payload.len());
        }
        self.hdr().tail.0.store(tail.wrapping_add(1), Ordering::Release);
        Ok(())
    }

    /// Receives one message into `buf`: its type and payload length, or `None` if empty.
    ///
    /// A payload longer than `buf` is truncated to fit; the returned length is
    /// still the full one, so the caller can tell. A buffer of
    /// [`MessageQueue::max_payload`] bytes never truncates.
    pub fn try_recv(&self, buf: &mut [u8]) -> Option<(u16, usize)> {
        let head = self.head();
        if self.tail() == head {
            return None;
        }
        let slot = self.slot(head);
        // SAFETY: the slot was published by the tail acquired above and the
        // producer won't reuse it until the head moves past it.
        let header = unsafe { ptr::read(slot.cast::<SlotHeader>()) };
        let len = (header.len as usize).min(self.max_payload());
        let n = len.min(buf.len());
        // SAFETY: as above; `n` is within both the slot payload and `buf`.
        unsafe { ptr::copy_nonoverlapping(slot.add(SLOT_HEADER_SIZE), buf.as_mut_ptr(), n) };
        self.hdr().head.0.store(head.wrapping_add(1), Ordering::Release);
        Some((header.kind, len))
    }

    /// Gives this view its descriptor for the queue's eventfd.
    pub fn set_eventfd(&mut self, fd: OwnedFd) {
        self.eventfd = Some(fd);
    }

    /// This view's eventfd, if it has one.
    pub fn eventfd(&self) -> Option<BorrowedFd<'_>> {
        self.eventfd.as_ref().map(AsFd::as_fd)
    }

    /// Wakes the consumer if it asked to be woken; true if the eventfd was written.
    ///
    /// The producer calls this after sending (once per batch is enough).
    pub fn notify(&self) -> io::Result<bool> {
        let Some(fd) = &self.eventfd else {
            return Ok(false);
        };
        // Pairs with the fence in `wait`: see the module documentation.
        fence(Ordering::SeqCst);
        if self.hdr().shared.0.want_wakeup.swap(0, Ordering::AcqRel) == 0 {
            return Ok(false);
        }
        match rustix::io::write(fd, &1u64.to_ne_bytes()) {
            // WouldBlock: the counter is saturated, so the consumer wakes anyway.
            Ok(_) | Err(rustix::io::Errno::WOULDBLOCK) => Ok(true),
            Err(e) => Err(e.into()),
        }
    }

    /// Consumer: asks the producer to write the eventfd after its next send,
    /// and returns whether the queue is still empty (sleep only if so).
    ///
    /// This is the first half of [`MessageQueue::wait`], for a consumer that
    /// sleeps on one eventfd shared by several queues: arm every queue, sleep
    /// only if all of them are still empty, then [`disarm_wakeup`](Self::disarm_wakeup)
    /// every queue. The fence pairs with the one in [`MessageQueue::notify`].
    pub fn arm_wakeup(&self) -> bool {
        self.hdr().shared.0.want_wakeup.store(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        self.is_empty()
    }

    /// Consumer: withdraws [`MessageQueue::arm_wakeup`] (the producer may have cleared it already).
    pub fn disarm_wakeup(&self) {
        self.hdr().shared.0.want_wakeup.store(0, Ordering::Relaxed);
    }

    /// Sleeps until a message arrives or `timeout` passes (`None`: no limit); false on timeout.
    ///
    /// Returns at once if the queue is not empty. A `true` return can be
    /// spurious (a stale signal), so callers loop on [`MessageQueue::try_recv`].
    pub fn wait(&self, timeout: Option<Duration>) -> io::Result<bool> {
        let fd = self
            .eventfd
            .as_ref()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "message queue has no eventfd"))?;
        let want = &self.hdr().shared.0.want_wakeup;
        want.store(1, Ordering::Relaxed);
        // Pairs with the fence in `notify`: see the module documentation.
        fence(Ordering::SeqCst);
        let woken = !self.is_empty() || wait_readable(fd, timeout)?;
        want.store(0, Ordering::Relaxed);
        Ok(woken)
    }
}

/// Polls `fd` for input and, if readable, resets the eventfd counter; false on timeout.
fn wait_readable(fd: &OwnedFd, timeout: Option<Duration>) -> io::Result<bool> {
    let timeout = timeout.map(|t| rustix::event::Timespec {
        tv_sec: t.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: i64::from(t.subsec_nanos()),
    });
    let mut pfd = [PollFd::new(fd, PollFlags::IN)];
    match rustix::event::poll(&mut pfd, timeout.as_ref()) {
        Ok(0) => return Ok(false),
        Ok(_) => {}
        // A signal is as good as a wake-up: the caller re-checks the queue.
        Err(rustix::io::Errno::INTR) => return Ok(true),
        Err(e) => return Err(e.into()),
    }
    // The fd polled readable and we are its only reader, so this does not
    // block even on a blocking eventfd.
    let mut count = [0u8; 8];
    match rustix::io::read(fd, &mut count) {
        Ok(_) | Err(rustix::io::Errno::WOULDBLOCK) => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// Creates a non-blocking, close-on-exec eventfd for a queue.
pub fn new_eventfd() -> io::Result<OwnedFd> {
    Ok(rustix::event::eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?)
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::fifo::TestMem;
    use proptest::prelude::*;
    use std::collections::VecDeque;
    use std::time::Instant;

    fn queue(mem: &TestMem, slots: u32, slot_size: u32) -> MessageQueue<'_> {
        // SAFETY: `mem` is aligned and sized for this layout; tests use one
        // view per queue unless they say otherwise.
        unsafe { MessageQueue::init(mem.ptr(), slots, slot_size).unwrap() }
    }

    fn mem(slots: u32, slot_size: u32) -> TestMem {
        TestMem::new(MessageQueue::footprint(slots, slot_size))
    }

    /// Sets head and tail to `index`, as if that many messages had passed.
    fn skip_to(q: &MessageQueue<'_>, index: u32) {
        q.hdr().head.0.store(index, Ordering::Relaxed);
        q.hdr().tail.0.store(index, Ordering::Relaxed);
    }

    fn recv(q: &MessageQueue<'_>) -> Option<(u16, Vec<u8>)> {
        let mut buf = vec![0; q.max_payload()];
        q.try_recv(&mut buf).map(|(kind, len)| (kind, buf[..len].to_vec()))
    }

    fn payload(seq: u32, max: usize) -> Vec<u8> {
        let len = seq as usize * 7 % (max + 1);
        (0..len).map(|k| (seq as usize + k) as u8).collect()
    }

    #[test]
    fn layout_checks() {
        assert_eq!(HEADER_SIZE, 3 * 128);
        assert_eq!(MessageQueue::footprint(8, 64), HEADER_SIZE + 512);
        let m = mem(16, 64);
        // SAFETY (all below): `m` is large enough for every layout tried.
        unsafe {
            for (slots, size) in [(3, 64), (0, 64), (8, 60), (8, 8), (8, 1 << 20)] {
                let err = MessageQueue::init(m.ptr(), slots, size).err();
                assert_eq!(err, Some(MqError::InvalidLayout { slots, slot_size: size }));
            }
            assert_eq!(MessageQueue::init(m.ptr().add(64), 8, 64).err(), Some(MqError::Misaligned));
            assert_eq!(MessageQueue::from_raw(m.ptr(), 8, 64).err(), Some(MqError::NotAQueue));
            MessageQueue::init(m.ptr(), 8, 64).unwrap();
            assert!(MessageQueue::from_raw(m.ptr(), 8, 64).is_ok());
            assert_eq!(MessageQueue::from_raw(m.ptr(), 8, 32).err(), Some(MqError::NotAQueue));
        }
    }

    #[test]
    fn order_full_and_too_large() {
        let m = mem(4, 64);
        let q = queue(&m, 4, 64);
        assert_eq!((q.capacity(), q.max_payload()), (4, 56));
        assert!(q.is_empty());
        assert_eq!(recv(&q), None);
        for k in 0..4u16 {
            q.try_send(k, &[k as u8; 3]).unwrap();
        }
        assert!(q.is_full());
        assert_eq!(q.try_send(9, b"x"), Err(MqError::Full));
        assert_eq!(q.try_send(9, &[0; 57]), Err(MqError::TooLarge { len: 57, max: 56 }));
        assert_eq!(recv(&q), Some((0, vec![0; 3])));
        q.try_send(4, &[7; 56]).unwrap();
        q.try_send(5, b"").unwrap_err();
        for k in 1..4u16 {
            assert_eq!(recv(&q), Some((k, vec![k as u8; 3])));
        }
        assert_eq!(recv(&q), Some((4, vec![7; 56])));
        assert_eq!(recv(&q), None);
        q.try_send(5, b"").unwrap();
        assert_eq!(recv(&q), Some((5, vec![])));
    }

    #[test]
    fn wraps_indices() {
        let m = mem(4, 32);
        let q = queue(&m, 4, 32);
        skip_to(&q, u32::MAX - 5);
        for seq in 0..40u32 {
            q.try_send(seq as u16, &payload(seq, 24)).unwrap();
            if seq % 3 == 0 {
                q.try_send(1000, b"extra").unwrap();
                assert_eq!(recv(&q), Some((seq as u16, payload(seq, 24))));
                assert_eq!(recv(&q), Some((1000, b"extra".to_vec())));
            } else {
                assert_eq!(q.len(), 1);
                assert_eq!(recv(&q), Some((seq as u16, payload(seq, 24))));
            }
        }
    }

    #[test]
    fn small_buffer_truncates_but_reports_length() {
        let m = mem(4, 32);
        let q = queue(&m, 4, 32);
        q.try_send(3, b"0123456789").unwrap();
        let mut buf = [0; 4];
        assert_eq!(q.try_recv(&mut buf), Some((3, 10)));
        assert_eq!(&buf, b"0123");
        assert!(q.is_empty());
    }

    #[test]
    fn corrupted_length_is_clamped() {
        let m = mem(4, 32);
        let q = queue(&m, 4, 32);
        q.try_send(1, b"abc").unwrap();
        // SAFETY: slot 0 holds the message just sent; nobody else uses the queue.
        unsafe { (*q.slot(0).cast::<SlotHeader>()).len = u32::MAX };
        let mut buf = [0; 100];
        assert_eq!(q.try_recv(&mut buf), Some((1, 24)));
    }

    proptest! {
        #[test]
        fn matches_vecdeque_model(
            start in any::<u32>(),
            ops in prop::collection::vec(prop::option::of((any::<u16>(), 0usize..30)), 1..200),
        ) {
            let m = mem(8, 32);
            let q = queue(&m, 8, 32);
            skip_to(&q, start);
            let mut model = VecDeque::new();
            for (seq, op) in ops.into_iter().enumerate() {
                match op {
                    Some((kind, len)) => {
                        let data = vec![seq as u8; len];
                        let res = q.try_send(kind, &data);
                        match (len > 24, model.len() == 8) {
                            (true, _) => prop_assert_eq!(res, Err(MqError::TooLarge { len, max: 24 })),
                            (false, true) => prop_assert_eq!(res, Err(MqError::Full)),
                            (false, false) => {
                                prop_assert_eq!(res, Ok(()));
                                model.push_back((kind, data));
                            }
                        }
                    }
                    None => prop_assert_eq!(recv(&q), model.pop_front()),
                }
                prop_assert_eq!(q.len(), model.len());
            }
        }
    }

    /// A producer and a consumer view of one queue.
    fn pair(m: &TestMem, slots: u32, slot_size: u32) -> (MessageQueue<'_>, MessageQueue<'_>) {
        let p = queue(m, slots, slot_size);
        // SAFETY: `p` only sends, the second view only receives.
        let c = unsafe { MessageQueue::from_raw(m.ptr(), slots, slot_size).unwrap() };
        (p, c)
    }

    /// Receives `count` messages in order, calling `idle` whenever the queue is empty.
    fn receive_all(c: &MessageQueue<'_>, count: u32, mut idle: impl FnMut()) {
        let mut buf = vec![0; c.max_payload()];
        let mut seq = 0;
        while seq < count {
            match c.try_recv(&mut buf) {
                Some((kind, len)) => {
                    assert_eq!(kind, seq as u16);
                    assert_eq!(buf[..len], payload(seq, c.max_payload()));
                    seq += 1;
                }
                None => idle(),
            }
        }
    }

    /// Sends `count` messages, calling `after_send` after each and yielding while full.
    fn send_all(p: &MessageQueue<'_>, count: u32, after_send: impl Fn()) {
        for seq in 0..count {
            let data = payload(seq, p.max_payload());
            while let Err(e) = p.try_send(seq as u16, &data) {
                assert_eq!(e, MqError::Full);
                std::thread::yield_now();
            }
            after_send();
        }
    }

    #[test]
    fn two_thread_stress() {
        const COUNT: u32 = if cfg!(miri) { 2000 } else { 1 << 20 };
        let m = mem(64, 64);
        let (p, c) = pair(&m, 64, 64);
        std::thread::scope(|s| {
            s.spawn(move || send_all(&p, COUNT, || ()));
            receive_all(&c, COUNT, std::thread::yield_now);
        });
        assert!(c.is_empty());
    }

    #[test]
    fn notify_writes_only_when_asked() {
        let m = mem(4, 32);
        let (mut p, mut c) = pair(&m, 4, 32);
        assert!(!p.notify().unwrap(), "no eventfd: nothing to write");
        assert!(c.wait(None).is_err());
        let efd = new_eventfd().unwrap();
        p.set_eventfd(efd.try_clone().unwrap());
        c.set_eventfd(efd);
        assert!(p.eventfd().is_some());
        p.try_send(1, b"a").unwrap();
        assert!(!p.notify().unwrap(), "consumer is not sleeping");
        // A non-empty queue returns at once, without touching the eventfd.
        assert!(c.wait(None).unwrap());
        assert!(!p.notify().unwrap());
        recv(&c).unwrap();
        assert!(!c.wait(Some(Duration::from_millis(20))).unwrap());
    }

    #[test]
    fn armed_queues_share_one_eventfd() {
        let (ma, mb) = (mem(4, 32), mem(4, 32));
        let (mut pa, ca) = pair(&ma, 4, 32);
        let (mut pb, cb) = pair(&mb, 4, 32);
        let efd = new_eventfd().unwrap();
        pa.set_eventfd(efd.try_clone().unwrap());
        pb.set_eventfd(efd.try_clone().unwrap());
        assert!(ca.arm_wakeup() && cb.arm_wakeup(), "both empty: the consumer may sleep");
        pb.try_send(1, b"b").unwrap();
        assert!(pb.notify().unwrap(), "b was armed");
        assert!(wait_readable(&efd, Some(Duration::from_secs(5))).unwrap());
        assert!(!pb.notify().unwrap(), "a notify disarms: one write per sleep");
        ca.disarm_wakeup();
        cb.disarm_wakeup();
        pa.try_send(2, b"a").unwrap();
        assert!(!pa.notify().unwrap(), "disarmed: no write");
        assert!(!ca.arm_wakeup(), "not empty: do not sleep");
        ca.disarm_wakeup();
    }

    #[test]
    fn eventfd_wakes_blocked_consumer() {
        let m = mem(4, 32);
        let (mut p, mut c) = pair(&m, 4, 32);
        let efd = new_eventfd().unwrap();
        p.set_eventfd(efd.try_clone().unwrap());
        c.set_eventfd(efd);
        std::thread::scope(|s| {
            let consumer = s.spawn(move || {
                let started = Instant::now();
                assert!(c.wait(Some(Duration::from_secs(10))).unwrap());
                (started.elapsed(), recv(&c))
            });
            // Let the consumer block in poll before sending.
            while p.hdr().shared.0.want_wakeup.load(Ordering::Acquire) == 0 {
                std::thread::yield_now();
            }
            std::thread::sleep(Duration::from_millis(50));
            p.try_send(7, b"wake").unwrap();
            assert!(p.notify().unwrap());
            let (slept, msg) = consumer.join().unwrap();
            assert!(slept >= Duration::from_millis(40), "slept {slept:?}");
            assert!(slept < Duration::from_secs(5), "slept {slept:?}");
            assert_eq!(msg, Some((7, b"wake".to_vec())));
        });
    }

    /// The consumer sleeps whenever the queue is empty; a lost wake-up would
    /// show up as a wait that runs into its timeout.
    #[test]
    fn no_lost_wakeups() {
        const COUNT: u32 = 50_000;
        let m = mem(8, 32);
        let (mut p, mut c) = pair(&m, 8, 32);
        let efd = new_eventfd().unwrap();
        p.set_eventfd(efd.try_clone().unwrap());
        c.set_eventfd(efd);
        std::thread::scope(|s| {
            s.spawn(move || {
                send_all(&p, COUNT, || {
                    p.notify().unwrap();
                })
            });
            receive_all(&c, COUNT, || {
                assert!(c.wait(Some(Duration::from_secs(10))).unwrap(), "lost wake-up");
            });
        });
    }
}
