//! The session fifo: a single-producer single-consumer byte ring in shared memory.
//!
//! Session data moves between the node and applications through fifos that
//! live in memfd segments mapped by both sides, often at different addresses,
//! so a fifo holds no pointers: it is a `#[repr(C)]` header followed by the
//! data bytes, and everything in it is an index. Head and tail are
//! free-running `u32` counters (the size is a power of two, so
//! `index & (size - 1)` is the position and `tail - head` the fill level,
//! wrap-around included), each on its own cache line so that producer and
//! consumer do not false-share. The producer copies bytes in and then
//! publishes them with a `Release` store of the tail; the consumer loads the
//! tail with `Acquire` before reading, and the same holds for the head in the
//! other direction, so no lock is ever taken. Each view also remembers the
//! other side's index and re-reads it only when the remembered value shows
//! too little room or data: an index only moves forward, so a stale copy is
//! safe, and small transfers stop pulling the other side's cache line over
//! on every call (about three times the throughput for 64-byte chunks).
//!
//! TCP needs more than a ring. Segments that arrive beyond a hole are written
//! past the tail without publishing them and remembered in a small
//! out-of-order list in the header (touched by the producer only); when the
//! hole is filled, the in-order enqueue moves the tail over everything that
//! became contiguous. The sending side reads unacknowledged data with
//! [`FifoConsumer::peek`] and drops acknowledged data with [`FifoConsumer::dequeue_drop`].
//! This is VPP's `svm_fifo_t` without its chunk lists: a fifo here is one
//! contiguous ring.
//!
//! A [`Fifo`] is only a view; the memory belongs to a segment (or to a test
//! buffer). Making a view is `unsafe` because the type system cannot see the
//! other side: the caller promises that the memory is valid and that at most
//! one producer and one consumer use the fifo at a time. Code outside this
//! module uses a fifo by role: a [`FifoProducer`] (enqueue, out-of-order
//! enqueue, free space) or a [`FifoConsumer`] (peek, dequeue, drop), thin
//! wrappers over the view that expose only their side's calls plus the
//! queries and the event flag both use. An end that must outlive a borrow
//! (a session's, an app's) is a
//! [`MappedProducer`](crate::segment::MappedProducer) or
//! [`MappedConsumer`](crate::segment::MappedConsumer), which holds the
//! segment's mapping and dereferences to the end. Indices read from
//! shared memory are clamped, so a peer that scribbles over the header can
//! garble data but never make a view touch memory outside its own fifo.

use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::marker::PhantomData;
use std::mem::{align_of, size_of};
use std::ptr::{self, NonNull};
use std::slice;
use std::sync::atomic::{fence, AtomicU32, Ordering};

use thiserror::Error;

/// Alignment of fifo and message queue memory, and of everything a segment allocates.
pub const FIFO_ALIGN: usize = 128;
/// Largest fifo size: free-running `u32` indices must tell full (size) from empty (0).
pub const MAX_FIFO_SIZE: u32 = 1 << 31;
/// How many disjoint out-of-order segments a fifo tracks at once.
pub const OOO_MAX_SEGMENTS: usize = 32;

/// Marks formatted fifo memory; cleared when a segment frees the fifo.
const FIFO_MAGIC: u32 = u32::from_le_bytes(*b"dpFi");

/// Pads and aligns `T` to its own cache line pair (128 bytes covers the
/// adjacent-line prefetcher), with a C layout so the shared-memory format is
/// the same for every program that maps it.
#[repr(C, align(128))]
pub(crate) struct CacheLine<T>(pub(crate) T);

const _: () = assert!(align_of::<CacheLine<u8>>() == FIFO_ALIGN);

/// Rounds `n` up to a multiple of [`FIFO_ALIGN`].
pub(crate) const fn align_up(n: usize) -> usize {
    (n + FIFO_ALIGN - 1) & !(FIFO_ALIGN - 1)
}

/// Checks that `mem` can hold something aligned to [`FIFO_ALIGN`].
pub(crate) fn check_aligned(mem: *mut u8) -> Option<NonNull<u8>> {
    NonNull::new(mem).filter(|p| p.as_ptr() as usize & (FIFO_ALIGN - 1) == 0)
}

/// Why a fifo operation or view could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FifoError {
    /// The size is not a power of two in `1..=MAX_FIFO_SIZE`.
    #[error("fifo size {0} is not a power of two in 1..=2^31")]
    InvalidSize(u32),
    /// The memory pointer is null or not aligned to [`FIFO_ALIGN`].
    #[error("fifo memory is null or not aligned to {FIFO_ALIGN} bytes")]
    Misaligned,
    /// The memory does not hold a formatted fifo of the expected size.
    #[error("no fifo of the expected size at this address")]
    NotAFifo,
    /// The out-of-order data would end beyond the fifo's free space.
    #[error("out-of-order data ends beyond the fifo's free space")]
    BeyondCapacity,
    /// The out-of-order segment list is full and the data merges with none of its entries.
    #[error("too many out-of-order segments")]
    OooListFull,
}

/// The part of the header written once by [`Fifo::init`], plus the io event flag.
#[repr(C)]
struct Shared {
    magic: u32,
    size: u32,
    /// Non-zero while an io event about this fifo is queued to the consumer.
    has_event: AtomicU32,
}

/// Consumer-owned state.
#[repr(C)]
struct ConsumerSide {
    head: AtomicU32,
}

/// Producer-owned state: the tail and the out-of-order list.
#[repr(C)]
struct ProducerSide {
    tail: AtomicU32,
    ooo: UnsafeCell<OooList>,
}

/// The shared-memory header; `size` data bytes follow it.
#[repr(C)]
struct FifoHeader {
    shared: CacheLine<Shared>,
    cons: CacheLine<ConsumerSide>,
    prod: CacheLine<ProducerSide>,
}

const HEADER_SIZE: usize = size_of::<FifoHeader>();
const _: () = assert!(HEADER_SIZE & (FIFO_ALIGN - 1) == 0);

/// One out-of-order run, as stored: `start` is an absolute (free-running) position.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct OooRun {
    start: u32,
    len: u32,
}

/// Out-of-order runs past the tail, sorted, disjoint and never touching.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct OooList {
    count: u32,
    runs: [OooRun; OOO_MAX_SEGMENTS],
}

impl OooList {
    fn len(&self) -> usize {
        (self.count as usize).min(OOO_MAX_SEGMENTS)
    }

    /// `(start, end)` of run `k` as distances from `tail`.
    fn relative(&self, k: usize, tail: u32) -> (u32, u32) {
        let run = self.runs[k];
        let start = run.start.wrapping_sub(tail);
        (start, start.saturating_add(run.len))
    }

    /// Records `[start, end)` (distances from `tail`), merging with runs it overlaps or touches.
    fn insert(&mut self, tail: u32, start: u32, end: u32) -> Result<(), FifoError> {
        let n = self.len();
        let first = (0..n).position(|k| self.relative(k, tail).1 >= start).unwrap_or(n);
        let past = (first..n).position(|k| self.relative(k, tail).0 > end).map_or(n, |p| first + p);
        let (start, end, replaced) = if first == past {
            if n == OOO_MAX_SEGMENTS {
                return Err(FifoError::OooListFull);
            }
            self.runs.copy_within(first..n, first + 1);
            (start, end, 0)
        } else {
            let lo = start.min(self.relative(first, tail).0);
            let hi = end.max(self.relative(past - 1, tail).1);
            self.runs.copy_within(past..n, first + 1);
            (lo, hi, past - first)
        };
        self.runs[first] = OooRun { start: tail.wrapping_add(start), len: end - start };
        self.count = (n + 1 - replaced) as u32;
        Ok(())
    }

    /// Removes the runs that the first `n` bytes after `tail` reach and
    /// returns how far the tail may now advance.
    fn collect(&mut self, tail: u32, n: u32) -> u32 {
        let len = self.len();
        let mut end = n;
        let mut taken = 0;
        while taken < len {
            let (start, stop) = self.relative(taken, tail);
            if start > end {
                break;
            }
            end = end.max(stop);
            taken += 1;
        }
        self.runs.copy_within(taken..len, 0);
        self.count = (len - taken) as u32;
        end
    }
}

/// An out-of-order run of received bytes, relative to the fifo's tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OooSegment {
    /// Distance from the tail to the first byte of the run.
    pub offset: u32,
    /// Length of the run in bytes.
    pub len: u32,
}

/// What an in-order enqueue did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    /// Bytes taken from the caller's data.
    pub written: usize,
    /// How far the tail moved: `written` plus out-of-order bytes that became contiguous.
    pub advanced: usize,
}

/// A view of a fifo in memory shared with the other side.
///
/// The shared core of both ends: outside this crate it offers only the
/// constructors, the queries and the event flag; data moves through its
/// roles, [`Fifo::into_producer`] and [`Fifo::into_consumer`].
pub struct Fifo<'a> {
    hdr: NonNull<FifoHeader>,
    data: NonNull<u8>,
    size: u32,
    /// The other side's index as last read: head for the producer, tail for
    /// the consumer. Both only move forward, so a stale copy understates the
    /// room or data there is and is safe to act on; re-reading it only when it
    /// looks short keeps the other side's cache line from bouncing on every call.
    cached_head: Cell<u32>,
    cached_tail: Cell<u32>,
    _mem: PhantomData<&'a FifoHeader>,
}

// SAFETY: a view holds no thread-affine state, only pointers into memory that
// stays mapped for 'a. Moving it to another thread is how a producer and a
// consumer end up on different threads; that they are at most one each is the
// contract of the unsafe constructors. `Fifo` is not `Sync`, so one view is
// never used by two threads at once.
unsafe impl Send for Fifo<'_> {}

impl<'a> Fifo<'a> {
    /// Bytes of memory a fifo of `size` data bytes occupies, header included.
    pub const fn footprint(size: u32) -> usize {
        HEADER_SIZE + align_up(size as usize)
    }

    /// Checks that `size` is a valid fifo size.
    pub fn check_size(size: u32) -> Result<(), FifoError> {
        if size.is_power_of_two() && size <= MAX_FIFO_SIZE {
            Ok(())
        } else {
            Err(FifoError::InvalidSize(size))
        }
    }

    /// Formats an empty fifo of `size` bytes at `mem` and returns a view of it.
    ///
    /// # Safety
    ///
    /// `mem` must be valid for reads and writes of [`Fifo::footprint`]`(size)`
    /// initialised bytes for `'a`, no other view of that memory may be in use,
    /// and afterwards the fifo must have at most one producer and one consumer
    /// at a time.
    pub unsafe fn init(mem: *mut u8, size: u32) -> Result<Self, FifoError> {
        // SAFETY: forwarded to the caller, same contract.
        unsafe { Self::init_at(mem, size, 0) }
    }

    /// Like [`Fifo::init`], with head and tail starting at `position` instead of 0.
    ///
    /// This lets TCP start a receive fifo at the peer's initial sequence
    /// number, so that sequence numbers and fifo positions coincide (VPP does
    /// the same with `svm_fifo_init_pointers`).
    ///
    /// # Safety
    ///
    /// As for [`Fifo::init`].
    pub unsafe fn init_at(mem: *mut u8, size: u32, position: u32) -> Result<Self, FifoError> {
        Self::check_size(size)?;
        let mem = check_aligned(mem).ok_or(FifoError::Misaligned)?;
        let header = FifoHeader {
            shared: CacheLine(Shared { magic: FIFO_MAGIC, size, has_event: AtomicU32::new(0) }),
            cons: CacheLine(ConsumerSide { head: AtomicU32::new(position) }),
            prod: CacheLine(ProducerSide { tail: AtomicU32::new(position), ooo: UnsafeCell::new(OooList::default()) }),
        };
        // SAFETY: `mem` is aligned (checked) and valid for the footprint, which
        // starts with the header; nobody else uses it yet (caller's contract).
        unsafe { ptr::write(mem.as_ptr().cast::<FifoHeader>(), header) };
        // SAFETY: just formatted with `size`; the rest is the caller's contract.
        unsafe { Self::from_raw(mem.as_ptr(), size) }
    }

    /// Makes a view of a fifo that someone formatted at `mem` with `size` bytes.
    ///
    /// `size` must come from a trusted source (the segment allocator), not
    /// from the shared header; a header that disagrees is rejected.
    ///
    /// # Safety
    ///
    /// `mem` must be valid for reads and writes of [`Fifo::footprint`]`(size)`
    /// initialised bytes for `'a`, and the fifo must have at most one producer
    /// and one consumer at a time across all views and processes.
    pub unsafe fn from_raw(mem: *mut u8, size: u32) -> Result<Self, FifoError> {
        Self::check_size(size)?;
        let mem = check_aligned(mem).ok_or(FifoError::Misaligned)?;
        let hdr = mem.cast::<FifoHeader>();
        // SAFETY: the header is in bounds and aligned; `magic` and `size` are
        // plain fields written before the fifo was handed out.
        let (magic, stored) = unsafe {
            let shared = ptr::addr_of!((*hdr.as_ptr()).shared.0);
            (ptr::read(ptr::addr_of!((*shared).magic)), ptr::read(ptr::addr_of!((*shared).size)))
        };
        if magic != FIFO_MAGIC || stored != size {
            return Err(FifoError::NotAFifo);
        }
        let fifo = Self {
            hdr,
            // SAFETY: the data area starts right after the header, inside the footprint.
            data: unsafe { mem.add(HEADER_SIZE) },
            size,
            cached_head: Cell::new(0),
            cached_tail: Cell::new(0),
            _mem: PhantomData,
        };
        fifo.cached_head.set(fifo.head());
        fifo.cached_tail.set(fifo.tail());
        Ok(fifo)
    }

    /// Erases the magic of the fifo at `mem`, so that views of it can no longer be made.
    ///
    /// # Safety
    ///
    /// `mem` must point to fifo memory that no view is using.
    pub(crate) unsafe fn retire(mem: *mut u8) {
        // SAFETY: `magic` is the first field of the header, which the caller
        // says is valid and unused.
        unsafe { ptr::write(mem.cast::<u32>(), 0) };
    }

    fn hdr(&self) -> &FifoHeader {
        // SAFETY: the constructors checked the pointer, and the memory stays
        // valid for 'a. Fields written by more than one party are atomics or
        // sit in an `UnsafeCell`.
        unsafe { self.hdr.as_ref() }
    }

    fn head(&self) -> u32 {
        self.hdr().cons.0.head.load(Ordering::Acquire)
    }

    fn tail(&self) -> u32 {
        self.hdr().prod.0.tail.load(Ordering::Acquire)
    }

    /// Bytes between `head` and `tail`, clamped so a corrupted header can't claim more than fits.
    fn used(&self, head: u32, tail: u32) -> u32 {
        tail.wrapping_sub(head).min(self.size)
    }

    /// Free space after `tail`, re-reading the head only if the cached one shows less than `want`.
    fn free_for(&self, tail: u32, want: usize) -> u32 {
        let free = self.size - self.used(self.cached_head.get(), tail);
        if free as usize >= want {
            return free;
        }
        let head = self.head();
        self.cached_head.set(head);
        self.size - self.used(head, tail)
    }

    /// Readable bytes after `head`, re-reading the tail only if the cached one shows less than `want`.
    fn avail_for(&self, head: u32, want: usize) -> u32 {
        let avail = self.used(head, self.cached_tail.get());
        if avail as usize >= want {
            return avail;
        }
        let tail = self.tail();
        self.cached_tail.set(tail);
        self.used(head, tail)
    }

    /// The ring from `pos` for `len <= size` bytes, as a first run (its start
    /// index in the data area and length) and the length of the wrapped run at index 0.
    fn runs(&self, pos: u32, len: usize) -> (usize, usize, usize) {
        let start = (pos & (self.size - 1)) as usize;
        let first = len.min(self.size as usize - start);
        (start, first, len - first)
    }

    fn copy_in(&self, pos: u32, src: &[u8]) {
        let (start, first, second) = self.runs(pos, src.len());
        // SAFETY: `runs` keeps both runs inside the data area; the producer
        // only writes free space, which the consumer does not read.
        unsafe {
            let data = self.data.as_ptr();
            ptr::copy_nonoverlapping(src.as_ptr(), data.add(start), first);
            ptr::copy_nonoverlapping(src.as_ptr().add(first), data, second);
        }
    }

    fn copy_out(&self, pos: u32, dst: &mut [u8]) {
        let (start, first, second) = self.runs(pos, dst.len());
        // SAFETY: `runs` keeps both runs inside the data area; the consumer
        // only reads published bytes, which the producer does not write.
        unsafe {
            let data = self.data.as_ptr();
            ptr::copy_nonoverlapping(data.add(start), dst.as_mut_ptr(), first);
            ptr::copy_nonoverlapping(data, dst.as_mut_ptr().add(first), second);
        }
    }

    fn with_ooo<R>(&self, f: impl FnOnce(&mut OooList) -> R) -> R {
        // SAFETY: only the producer touches the list, and the single-producer
        // contract plus `Fifo: !Sync` mean no other reference to it exists
        // while `f` runs.
        f(unsafe { &mut *self.hdr().prod.0.ooo.get() })
    }

    /// Data capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.size as usize
    }

    /// Bytes the consumer can read now.
    pub fn max_dequeue(&self) -> usize {
        self.used(self.head(), self.tail()) as usize
    }

    /// Bytes the producer can write in order now.
    pub fn max_enqueue(&self) -> usize {
        self.capacity() - self.max_dequeue()
    }

    /// Whether there is nothing to read.
    pub fn is_empty(&self) -> bool {
        self.max_dequeue() == 0
    }

    /// Whether there is no room to write.
    pub fn is_full(&self) -> bool {
        self.max_enqueue() == 0
    }

    /// Appends as much of `data` as fits and returns how many bytes of `data` were taken.
    ///
    /// Out-of-order data that becomes contiguous is published too; use
    /// [`Fifo::enqueue_collect`] to learn how far the tail moved.
    pub(crate) fn enqueue(&self, data: &[u8]) -> usize {
        self.enqueue_collect(data).written
    }

    /// Appends as much of `data` as fits, then moves the tail over any
    /// out-of-order runs it reached.
    ///
    /// In-order data overwrites out-of-order bytes at the same positions
    /// (for TCP they are the same bytes). An empty `data` still publishes an
    /// out-of-order run that starts exactly at the tail.
    pub(crate) fn enqueue_collect(&self, data: &[u8]) -> Enqueued {
        let tail = self.tail();
        let free = self.free_for(tail, data.len());
        let written = data.len().min(free as usize);
        self.copy_in(tail, &data[..written]);
        Enqueued { written, advanced: self.advance_tail(tail, written as u32, free) }
    }

    /// [`Fifo::enqueue_collect`] for data in pieces (a chained packet's
    /// segments): the pieces go in back to back as one write, as much as
    /// fits, and the tail moves once.
    pub(crate) fn enqueue_collect_vectored(&self, parts: &[&[u8]]) -> Enqueued {
        let tail = self.tail();
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let free = self.free_for(tail, total);
        let written = self.copy_in_vectored(tail, parts, free as usize);
        Enqueued { written, advanced: self.advance_tail(tail, written as u32, free) }
    }

    /// [`Fifo::enqueue_with_offset`] for data in pieces: all or nothing,
    /// recorded as one out-of-order run.
    pub(crate) fn enqueue_with_offset_vectored(&self, offset: u32, parts: &[&[u8]]) -> Result<(), FifoError> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if total == 0 {
            return Ok(());
        }
        let tail = self.tail();
        let end = u64::from(offset) + total as u64;
        let free = self.free_for(tail, end as usize);
        if end > u64::from(free) {
            return Err(FifoError::BeyondCapacity);
        }
        self.with_ooo(|ooo| ooo.insert(tail, offset, end as u32))?;
        self.copy_in_vectored(tail.wrapping_add(offset), parts, total);
        Ok(())
    }

    /// Copies the pieces back to back from `pos`, at most `max` bytes in
    /// all; returns how many.
    fn copy_in_vectored(&self, pos: u32, parts: &[&[u8]], max: usize) -> usize {
        let mut done = 0usize;
        for p in parts {
            let n = p.len().min(max - done);
            self.copy_in(pos.wrapping_add(done as u32), &p[..n]);
            done += n;
            if done == max {
                break;
            }
        }
        done
    }

    /// Publishes `n` bytes written at `tail` plus the out-of-order runs they reach.
    fn advance_tail(&self, tail: u32, n: u32, free: u32) -> usize {
        let advanced = self.with_ooo(|ooo| ooo.collect(tail, n)).min(free);
        self.hdr().prod.0.tail.store(tail.wrapping_add(advanced), Ordering::Release);
        advanced as usize
    }

    /// Writes `data` `offset` bytes past the tail without publishing it, and
    /// records it as out-of-order.
    ///
    /// Fails without writing anything if the data would end beyond the free
    /// space, or if it would need a new entry in a full out-of-order list.
    pub(crate) fn enqueue_with_offset(&self, offset: u32, data: &[u8]) -> Result<(), FifoError> {
        if data.is_empty() {
            return Ok(());
        }
        let tail = self.tail();
        let end = u64::from(offset) + data.len() as u64;
        let free = self.free_for(tail, end as usize);
        if end > u64::from(free) {
            return Err(FifoError::BeyondCapacity);
        }
        self.with_ooo(|ooo| ooo.insert(tail, offset, end as u32))?;
        self.copy_in(tail.wrapping_add(offset), data);
        Ok(())
    }

    /// The out-of-order runs, in order, relative to the current tail (producer side).
    pub(crate) fn ooo_segments(&self) -> impl Iterator<Item = OooSegment> {
        let tail = self.tail();
        let list = self.with_ooo(|ooo| *ooo);
        (0..list.len()).map(move |k| {
            let (start, end) = list.relative(k, tail);
            OooSegment { offset: start, len: end - start }
        })
    }

    /// The free space as two slices (the second is the wrapped part) to
    /// write into directly; publish with [`Fifo::commit`].
    ///
    /// The slices cover out-of-order bytes too; writing over them replaces
    /// them, as an in-order [`Fifo::enqueue`] would.
    pub(crate) fn writable_slices(&mut self) -> (&mut [u8], &mut [u8]) {
        let tail = self.tail();
        let free = self.free_for(tail, usize::MAX);
        let (start, first, second) = self.runs(tail, free as usize);
        // SAFETY: both runs lie in the data area and in free space, which the
        // consumer never reads; `&mut self` keeps this view from touching
        // them until the slices are dropped, and the single-producer contract
        // keeps other views out.
        unsafe {
            let data = self.data.as_ptr();
            (slice::from_raw_parts_mut(data.add(start), first), slice::from_raw_parts_mut(data, second))
        }
    }

    /// Publishes `n` bytes written through [`Fifo::writable_slices`] and
    /// returns how far the tail moved (out-of-order runs included).
    ///
    /// # Panics
    ///
    /// If `n` exceeds the free space.
    pub(crate) fn commit(&self, n: usize) -> usize {
        let tail = self.tail();
        let free = self.free_for(tail, n);
        assert!(n <= free as usize, "commit of {n} bytes with {free} free");
        self.advance_tail(tail, n as u32, free)
    }

    /// Copies up to `buf.len()` bytes out and consumes them; returns the count.
    pub(crate) fn dequeue(&self, buf: &mut [u8]) -> usize {
        let n = self.peek(0, buf);
        self.dequeue_drop(n)
    }

    /// Copies bytes starting `offset` bytes after the head into `buf`
    /// without consuming them; returns the count (0 if `offset` is past the data).
    pub(crate) fn peek(&self, offset: usize, buf: &mut [u8]) -> usize {
        let head = self.head();
        let avail = self.avail_for(head, offset.saturating_add(buf.len())) as usize;
        let n = buf.len().min(avail.saturating_sub(offset));
        if n > 0 {
            self.copy_out(head.wrapping_add(offset as u32), &mut buf[..n]);
        }
        n
    }

    /// Consumes up to `len` bytes without copying them; returns the count.
    pub(crate) fn dequeue_drop(&self, len: usize) -> usize {
        let head = self.head();
        let n = len.min(self.avail_for(head, len) as usize);
        self.hdr().cons.0.head.store(head.wrapping_add(n as u32), Ordering::Release);
        n
    }

    /// The readable bytes as two slices (the second is the wrapped part);
    /// consume with [`Fifo::dequeue_drop`] once done with them.
    pub(crate) fn readable_slices(&mut self) -> (&[u8], &[u8]) {
        let head = self.head();
        let avail = self.avail_for(head, usize::MAX);
        let (start, first, second) = self.runs(head, avail as usize);
        // SAFETY: both runs lie in the data area and hold published bytes,
        // which the producer doesn't write until the head passes them; only
        // this view moves the head (single consumer), and `&mut self` keeps it
        // from doing so while the slices live.
        unsafe {
            let data = self.data.as_ptr();
            (slice::from_raw_parts(data.add(start), first), slice::from_raw_parts(data, second))
        }
    }

    /// Marks an io event as pending; true if none was, i.e. the caller must send one.
    ///
    /// The producer calls this after enqueueing. The fence pairs with the one
    /// in [`Fifo::unset_event`]: either the consumer's drain after clearing
    /// the flag sees the new tail, or this call sees the cleared flag and a
    /// new event goes out, so data is never left without an event.
    pub fn set_event(&self) -> bool {
        fence(Ordering::SeqCst);
        self.hdr().shared.0.has_event.swap(1, Ordering::AcqRel) == 0
    }

    /// Clears the pending-event mark; the consumer calls this before draining the fifo.
    pub fn unset_event(&self) {
        self.hdr().shared.0.has_event.store(0, Ordering::Relaxed);
        fence(Ordering::SeqCst);
    }

    /// Whether an io event is marked pending.
    pub fn has_event(&self) -> bool {
        self.hdr().shared.0.has_event.load(Ordering::Acquire) != 0
    }
}

impl fmt::Debug for Fifo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fifo")
            .field("size", &self.size)
            .field("head", &self.head())
            .field("tail", &self.tail())
            .finish()
    }
}

/// The producer end of a fifo: it writes bytes in and publishes them.
///
/// A thin wrapper over the [`Fifo`] view (same layout, every call inlined)
/// that exposes only what the producer may do, plus the queries and the
/// event flag both sides use. The consumer's calls do not exist on it:
///
/// ```compile_fail,E0599
/// # use shm::fifo::HeapFifo;
/// let h = HeapFifo::new(4096).unwrap();
/// let (p, _c) = h.ends();
/// let mut buf = [0u8; 8];
/// p.dequeue(&mut buf); // a producer cannot consume
/// ```
#[repr(transparent)]
pub struct FifoProducer<'a>(Fifo<'a>);

/// The consumer end of a fifo: it reads (or peeks at) published bytes and
/// releases them.
///
/// Like [`FifoProducer`], a thin wrapper over the [`Fifo`] view with only the
/// consumer's calls. The producer's do not exist on it:
///
/// ```compile_fail,E0599
/// # use shm::fifo::HeapFifo;
/// let h = HeapFifo::new(4096).unwrap();
/// let (_p, c) = h.ends();
/// c.enqueue(b"data"); // a consumer cannot produce
/// ```
#[repr(transparent)]
pub struct FifoConsumer<'a>(Fifo<'a>);

impl<'a> Fifo<'a> {
    /// This view as the fifo's producer end.
    #[inline]
    pub fn into_producer(self) -> FifoProducer<'a> {
        FifoProducer(self)
    }

    /// This view as the fifo's consumer end.
    #[inline]
    pub fn into_consumer(self) -> FifoConsumer<'a> {
        FifoConsumer(self)
    }
}

/// Queries and event-flag calls both ends have, forwarded to the view.
macro_rules! shared_queries {
    () => {
        /// Data capacity in bytes.
        #[inline]
        pub fn capacity(&self) -> usize {
            self.0.capacity()
        }

        /// Bytes the consumer can read now.
        #[inline]
        pub fn max_dequeue(&self) -> usize {
            self.0.max_dequeue()
        }

        /// Bytes the producer can write in order now.
        #[inline]
        pub fn max_enqueue(&self) -> usize {
            self.0.max_enqueue()
        }

        /// Whether there is nothing to read.
        #[inline]
        pub fn is_empty(&self) -> bool {
            self.0.is_empty()
        }

        /// Whether there is no room to write.
        #[inline]
        pub fn is_full(&self) -> bool {
            self.0.is_full()
        }

        /// Marks an io event as pending; true if none was (see [`Fifo::set_event`]).
        ///
        /// The producer raises it after enqueueing; the consumer re-raises
        /// it when it leaves data behind for a later pass.
        #[inline]
        pub fn set_event(&self) -> bool {
            self.0.set_event()
        }

        /// Clears the pending-event mark (see [`Fifo::unset_event`]); the
        /// consumer calls this before draining, a producer whose event was
        /// handled on the consumer's behalf may too.
        #[inline]
        pub fn unset_event(&self) {
            self.0.unset_event()
        }

        /// Whether an io event is marked pending.
        #[inline]
        pub fn has_event(&self) -> bool {
            self.0.has_event()
        }
    };
}

impl FifoProducer<'_> {
    shared_queries!();

    /// Appends as much of `data` as fits; returns how many bytes of `data` were taken.
    ///
    /// Out-of-order data that becomes contiguous is published too.
    #[inline]
    pub fn enqueue(&self, data: &[u8]) -> usize {
        self.0.enqueue(data)
    }

    /// Appends as much of `data` as fits, then moves the tail over any
    /// out-of-order runs it reached (an empty `data` still publishes a run at the tail).
    #[inline]
    pub fn enqueue_collect(&self, data: &[u8]) -> Enqueued {
        self.0.enqueue_collect(data)
    }

    /// Writes `data` `offset` bytes past the tail without publishing it, as
    /// out-of-order; fails without writing if it would end beyond the free
    /// space or need an entry in a full out-of-order list.
    #[inline]
    pub fn enqueue_with_offset(&self, offset: u32, data: &[u8]) -> Result<(), FifoError> {
        self.0.enqueue_with_offset(offset, data)
    }

    /// [`FifoProducer::enqueue_collect`] for data in pieces (a chained
    /// packet's segments), written back to back; the tail moves once.
    #[inline]
    pub fn enqueue_collect_vectored(&self, parts: &[&[u8]]) -> Enqueued {
        self.0.enqueue_collect_vectored(parts)
    }

    /// [`FifoProducer::enqueue_with_offset`] for data in pieces: all of
    /// them as one out-of-order run, or nothing.
    #[inline]
    pub fn enqueue_with_offset_vectored(&self, offset: u32, parts: &[&[u8]]) -> Result<(), FifoError> {
        self.0.enqueue_with_offset_vectored(offset, parts)
    }

    /// The out-of-order runs, in order, relative to the current tail.
    #[inline]
    pub fn ooo_segments(&self) -> impl Iterator<Item = OooSegment> + '_ {
        self.0.ooo_segments()
    }

    /// The free space as two slices (the second is the wrapped part) to
    /// write into directly; publish with [`FifoProducer::commit`].
    #[inline]
    pub fn writable_slices(&mut self) -> (&mut [u8], &mut [u8]) {
        self.0.writable_slices()
    }

    /// Publishes `n` bytes written through [`FifoProducer::writable_slices`];
    /// returns how far the tail moved (out-of-order runs included).
    ///
    /// # Panics
    ///
    /// If `n` exceeds the free space.
    #[inline]
    pub fn commit(&self, n: usize) -> usize {
        self.0.commit(n)
    }
}

impl FifoConsumer<'_> {
    shared_queries!();

    /// Copies up to `buf.len()` bytes out and consumes them; returns the count.
    #[inline]
    pub fn dequeue(&self, buf: &mut [u8]) -> usize {
        self.0.dequeue(buf)
    }

    /// Copies bytes starting `offset` bytes after the head into `buf` without
    /// consuming them; returns the count (0 if `offset` is past the data).
    #[inline]
    pub fn peek(&self, offset: usize, buf: &mut [u8]) -> usize {
        self.0.peek(offset, buf)
    }

    /// Consumes up to `len` bytes without copying them; returns the count.
    #[inline]
    pub fn dequeue_drop(&self, len: usize) -> usize {
        self.0.dequeue_drop(len)
    }

    /// The readable bytes as two slices (the second is the wrapped part);
    /// consume with [`FifoConsumer::dequeue_drop`] once done with them.
    #[inline]
    pub fn readable_slices(&mut self) -> (&[u8], &[u8]) {
        self.0.readable_slices()
    }
}

impl fmt::Debug for FifoProducer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for FifoConsumer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Aligned, zeroed heap memory standing in for a segment in tests.
#[cfg(test)]
pub(crate) struct TestMem {
    ptr: NonNull<u8>,
    layout: std::alloc::Layout,
}

#[cfg(test)]
impl TestMem {
    pub(crate) fn new(len: usize) -> Self {
        let layout = std::alloc::Layout::from_size_align(len, FIFO_ALIGN).unwrap();
        // SAFETY: `len` is non-zero for every caller (headers alone are larger).
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        Self { ptr: NonNull::new(ptr).expect("out of memory"), layout }
    }

    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

#[cfg(test)]
impl Drop for TestMem {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

/// A fifo in ordinary heap memory, owned by the node itself (not shared
/// with any application): a TCP connection that outlives its session in
/// TIME-WAIT is still driven with a pair of these.
pub struct HeapFifo {
    ptr: NonNull<u8>,
    layout: std::alloc::Layout,
    size: u32,
}

// SAFETY: the memory is owned by this value alone; views borrow it.
unsafe impl Send for HeapFifo {}

impl HeapFifo {
    /// An empty fifo of `size` bytes (a power of two).
    pub fn new(size: u32) -> Result<Self, FifoError> {
        Self::new_at(size, 0)
    }

    /// An empty fifo of `size` bytes whose head and tail start at `position`
    /// (see [`Fifo::init_at`]; tests start TCP fifos at a sequence number).
    pub fn new_at(size: u32, position: u32) -> Result<Self, FifoError> {
        Fifo::check_size(size)?;
        let layout = std::alloc::Layout::from_size_align(Fifo::footprint(size), FIFO_ALIGN)
            .map_err(|_| FifoError::InvalidSize(size))?;
        // SAFETY: the layout is non-zero (a fifo header alone is larger).
        let ptr = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) }).ok_or(FifoError::Misaligned)?;
        let f = HeapFifo { ptr, layout, size };
        // SAFETY: our own fresh, aligned memory of the right footprint; no view exists yet.
        unsafe { Fifo::init_at(f.ptr.as_ptr(), size, position)? };
        Ok(f)
    }

    /// Empties the fifo (re-formats it).
    pub fn reset(&self) {
        // SAFETY: our own aligned memory of the right footprint; `&self`
        // methods hand out views only for the duration of a borrow, and the
        // owner (one worker thread) does not hold one across this call.
        unsafe { Fifo::init(self.ptr.as_ptr(), self.size).expect("valid size and alignment") };
    }

    /// A view of the fifo.
    pub fn view(&self) -> Fifo<'_> {
        // SAFETY: formatted in `new`/`reset`, lives as long as `self`; the
        // owner uses one view at a time.
        unsafe { Fifo::from_raw(self.ptr.as_ptr(), self.size).expect("formatted") }
    }

    /// The fifo's two ends, for a node-owned fifo that one thread both fills
    /// and drains (a TIME-WAIT connection's, a test's).
    pub fn ends(&self) -> (FifoProducer<'_>, FifoConsumer<'_>) {
        (self.view().into_producer(), self.view().into_consumer())
    }

    /// The producer end alone (see [`HeapFifo::ends`]).
    pub fn producer(&self) -> FifoProducer<'_> {
        self.view().into_producer()
    }

    /// The consumer end alone (see [`HeapFifo::ends`]).
    pub fn consumer(&self) -> FifoConsumer<'_> {
        self.view().into_consumer()
    }
}

impl Drop for HeapFifo {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

#[cfg(test)]
pub(crate) mod test {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    fn fifo(mem: &TestMem, size: u32, position: u32) -> Fifo<'_> {
        // SAFETY: `mem` is zeroed, aligned and large enough; tests use one view per fifo
        // unless they say otherwise.
        unsafe { Fifo::init_at(mem.ptr(), size, position).unwrap() }
    }

    /// The byte at position `i` of a test stream.
    pub(crate) fn stream_byte(i: u64) -> u8 {
        (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8 ^ i as u8
    }

    fn stream(from: u64, len: usize) -> Vec<u8> {
        (from..from + len as u64).map(stream_byte).collect()
    }

    fn segs(f: &Fifo<'_>) -> Vec<(u32, u32)> {
        f.ooo_segments().map(|s| (s.offset, s.len)).collect()
    }

    fn drain(f: &Fifo<'_>) -> Vec<u8> {
        let mut out = vec![0; f.max_dequeue()];
        assert_eq!(f.dequeue(&mut out), out.len());
        out
    }

    #[test]
    fn layout_is_stable() {
        assert_eq!(HEADER_SIZE, 3 * 128 + 256);
        assert_eq!(Fifo::footprint(64), HEADER_SIZE + 128);
        assert_eq!(Fifo::footprint(4096), HEADER_SIZE + 4096);
    }

    #[test]
    fn init_checks_size_alignment_and_magic() {
        let mem = TestMem::new(Fifo::footprint(4096) + FIFO_ALIGN);
        // SAFETY (all below): the memory is valid for every size tried.
        unsafe {
            assert_eq!(Fifo::init(mem.ptr(), 3).unwrap_err(), FifoError::InvalidSize(3));
            assert_eq!(Fifo::init(mem.ptr(), 0).unwrap_err(), FifoError::InvalidSize(0));
            assert_eq!(Fifo::init(mem.ptr().add(8), 64).unwrap_err(), FifoError::Misaligned);
            assert_eq!(Fifo::from_raw(mem.ptr(), 64).unwrap_err(), FifoError::NotAFifo);
            Fifo::init(mem.ptr(), 4096).unwrap();
            assert!(Fifo::from_raw(mem.ptr(), 4096).is_ok());
            assert_eq!(Fifo::from_raw(mem.ptr(), 2048).unwrap_err(), FifoError::NotAFifo);
            Fifo::retire(mem.ptr());
            assert_eq!(Fifo::from_raw(mem.ptr(), 4096).unwrap_err(), FifoError::NotAFifo);
        }
        assert_eq!(Fifo::check_size(MAX_FIFO_SIZE), Ok(()));
        assert!(Fifo::check_size(MAX_FIFO_SIZE << 1).is_err());
    }

    #[test]
    fn vectored_enqueue_publishes_the_parts_once_and_reaches_ooo_runs() {
        let mem = TestMem::new(Fifo::footprint(16));
        // Indices near the wrap, so the parts straddle the ring's end.
        let f = fifo(&mem, 16, u32::MAX - 5);
        f.enqueue_with_offset(7, b"78").unwrap();
        let e = f.enqueue_collect_vectored(&[b"012", b"", b"3456"]);
        assert_eq!((e.written, e.advanced), (7, 9), "the run right after the parts is published too");
        let mut buf = [0; 16];
        assert_eq!(f.dequeue(&mut buf), 9);
        assert_eq!(&buf[..9], b"012345678");
        // Not all fits: whole parts first, then what fits of the next, then nothing.
        let e = f.enqueue_collect_vectored(&[b"abcdefghij", b"klmnop", b"q"]);
        assert_eq!((e.written, e.advanced), (16, 16));
        assert_eq!(f.dequeue(&mut buf), 16);
        assert_eq!(&buf, b"abcdefghijklmnop");
    }

    #[test]
    fn enqueue_dequeue_basic() {
        let mem = TestMem::new(Fifo::footprint(16));
        let f = fifo(&mem, 16, 0);
        assert_eq!((f.capacity(), f.max_dequeue(), f.max_enqueue()), (16, 0, 16));
        assert!(f.is_empty());
        assert_eq!(f.enqueue(b"hello"), 5);
        assert_eq!((f.max_dequeue(), f.max_enqueue()), (5, 11));
        assert_eq!(f.enqueue(b"0123456789abcdef"), 11);
        assert!(f.is_full());
        assert_eq!(f.enqueue(b"x"), 0);
        let mut buf = [0; 8];
        assert_eq!(f.dequeue(&mut buf), 8);
        assert_eq!(&buf, b"hello012");
        assert_eq!(drain(&f), b"3456789a");
        assert_eq!(f.dequeue(&mut buf), 0);
    }

    #[test]
    fn wraps_in_data_and_in_indices() {
        let mem = TestMem::new(Fifo::footprint(8));
        // Start 3 bytes before the u32 counters wrap, at data position 5.
        let f = fifo(&mem, 8, u32::MAX - 2);
        for round in 0..5u8 {
            let chunk = [round, round + 1, round + 2, round + 3, round + 4, round + 5];
            assert_eq!(f.enqueue(&chunk), 6);
            assert_eq!(f.max_dequeue(), 6);
            assert_eq!(drain(&f), chunk);
        }
        assert_eq!(format!("{f:?}"), "Fifo { size: 8, head: 27, tail: 27 }");
    }

    #[test]
    fn vectored_enqueue_at_every_split_point_equals_one_piece() {
        let data: Vec<u8> = (0..23u8).collect();
        // Every pair of cut points over a ring that wraps mid-data.
        for a in 0..=data.len() {
            for b in a..=data.len() {
                let parts = [&data[..a], &data[a..b], &data[b..]];
                let mem = TestMem::new(Fifo::footprint(32));
                let f = fifo(&mem, 32, 20);
                let e = f.enqueue_collect_vectored(&parts);
                assert_eq!((e.written, e.advanced), (23, 23), "{a} {b}");
                assert_eq!(drain(&f), data, "{a} {b}");
                // Out of order at 4, then the first 4 bytes join it up.
                let mem = TestMem::new(Fifo::footprint(32));
                let f = fifo(&mem, 32, 29);
                assert!(f.enqueue_with_offset_vectored(4, &parts).is_ok());
                assert_eq!(f.max_dequeue(), 0);
                assert_eq!(f.enqueue_collect(&[9, 9, 9, 9]).advanced, 27);
                let out = drain(&f);
                assert_eq!((&out[..4], &out[4..]), (&[9u8, 9, 9, 9][..], &data[..]), "{a} {b}");
            }
        }
        // Only what fits goes in, cut inside a piece; out of order is all or nothing.
        let mem = TestMem::new(Fifo::footprint(16));
        let f = fifo(&mem, 16, 3);
        let e = f.enqueue_collect_vectored(&[&data[..10], &data[10..]]);
        assert_eq!((e.written, e.advanced), (16, 16));
        assert_eq!(drain(&f), &data[..16]);
        assert!(f.enqueue_with_offset_vectored(1, &[&data[..10], &data[10..15]]).is_ok());
        assert!(f.enqueue_with_offset_vectored(2, &[&data[..10], &data[10..15]]).is_err());
    }

    #[test]
    fn peek_and_dequeue_drop() {
        let mem = TestMem::new(Fifo::footprint(8));
        let f = fifo(&mem, 8, 6);
        f.enqueue(b"abcdefg");
        let mut buf = [0; 4];
        assert_eq!(f.peek(2, &mut buf), 4);
        assert_eq!(&buf, b"cdef");
        assert_eq!(f.peek(5, &mut buf), 2);
        assert_eq!(&buf[..2], b"fg");
        assert_eq!(f.peek(7, &mut buf), 0);
        assert_eq!(f.peek(100, &mut buf), 0);
        assert_eq!(f.max_dequeue(), 7);
        assert_eq!(f.dequeue_drop(3), 3);
        assert_eq!(f.dequeue_drop(100), 4);
        assert_eq!(f.dequeue_drop(1), 0);
        assert!(f.is_empty());
    }

    #[test]
    fn slices_wrap_and_commit() {
        let mem = TestMem::new(Fifo::footprint(8));
        let mut f = fifo(&mem, 8, 5);
        {
            let (a, b) = f.writable_slices();
            assert_eq!((a.len(), b.len()), (3, 5));
            a.copy_from_slice(b"xyz");
            b[..2].copy_from_slice(b"12");
        }
        assert_eq!(f.commit(5), 5);
        {
            let (a, b) = f.readable_slices();
            assert_eq!((a, b), (&b"xyz"[..], &b"12"[..]));
        }
        assert_eq!(f.dequeue_drop(4), 4);
        let (a, b) = f.readable_slices();
        assert_eq!((a, b), (&b"2"[..], &b""[..]));
    }

    #[test]
    #[should_panic(expected = "commit of 9 bytes")]
    fn commit_beyond_free_space_panics() {
        let mem = TestMem::new(Fifo::footprint(8));
        fifo(&mem, 8, 0).commit(9);
    }

    #[test]
    fn event_flag() {
        let mem = TestMem::new(Fifo::footprint(8));
        let f = fifo(&mem, 8, 0);
        assert!(!f.has_event());
        assert!(f.set_event());
        assert!(!f.set_event());
        assert!(f.has_event());
        f.unset_event();
        assert!(f.set_event());
    }

    #[test]
    fn ooo_fill_gap_in_order() {
        let mem = TestMem::new(Fifo::footprint(64));
        let f = fifo(&mem, 64, 1000);
        let data = stream(0, 30);
        f.enqueue_with_offset(10, &data[10..20]).unwrap();
        assert_eq!(segs(&f), [(10, 10)]);
        assert_eq!(f.max_dequeue(), 0);
        f.enqueue_with_offset(25, &data[25..30]).unwrap();
        assert_eq!(segs(&f), [(10, 10), (25, 5)]);
        // Filling the first hole publishes through the first run only.
        let e = f.enqueue_collect(&data[..10]);
        assert_eq!(e, Enqueued { written: 10, advanced: 20 });
        assert_eq!(segs(&f), [(5, 5)]);
        assert_eq!(f.enqueue(&data[20..25]), 5);
        assert_eq!(segs(&f), []);
        assert_eq!(drain(&f), data);
    }

    #[test]
    fn ooo_merges_overlapping_touching_and_duplicates() {
        let mem = TestMem::new(Fifo::footprint(64));
        let f = fifo(&mem, 64, 0);
        let data = stream(7, 64);
        let put = |from: usize, to: usize| f.enqueue_with_offset(from as u32, &data[from..to]);
        put(10, 15).unwrap();
        put(20, 25).unwrap();
        put(30, 35).unwrap();
        put(20, 25).unwrap(); // duplicate
        assert_eq!(segs(&f), [(10, 5), (20, 5), (30, 5)]);
        put(15, 20).unwrap(); // touches both neighbours
        assert_eq!(segs(&f), [(10, 15), (30, 5)]);
        put(12, 32).unwrap(); // overlaps both
        assert_eq!(segs(&f), [(10, 25)]);
        put(5, 40).unwrap(); // covers everything
        assert_eq!(segs(&f), [(5, 35)]);
        put(1, 2).unwrap();
        put(50, 64).unwrap(); // ends exactly at capacity
        assert_eq!(segs(&f), [(1, 1), (5, 35), (50, 14)]);
        // An in-order write reaching past the start of a run merges all runs it reaches.
        assert_eq!(f.enqueue_collect(&data[..6]), Enqueued { written: 6, advanced: 40 });
        assert_eq!(segs(&f), [(10, 14)]);
        assert_eq!(f.enqueue_collect(&data[40..50]), Enqueued { written: 10, advanced: 24 });
        assert_eq!(drain(&f), data);
    }

    #[test]
    fn ooo_run_at_tail_is_published_by_empty_enqueue() {
        let mem = TestMem::new(Fifo::footprint(16));
        let f = fifo(&mem, 16, 0);
        f.enqueue_with_offset(0, b"abc").unwrap();
        assert_eq!(f.max_dequeue(), 0);
        assert_eq!(f.enqueue_collect(b""), Enqueued { written: 0, advanced: 3 });
        assert_eq!(drain(&f), b"abc");
    }

    #[test]
    fn ooo_rejects_beyond_capacity() {
        let mem = TestMem::new(Fifo::footprint(16));
        let f = fifo(&mem, 16, 0);
        f.enqueue(b"0123");
        let err = f.enqueue_with_offset(10, b"abc");
        assert_eq!(err, Err(FifoError::BeyondCapacity));
        assert_eq!(f.enqueue_with_offset(u32::MAX, b"a"), Err(FifoError::BeyondCapacity));
        f.enqueue_with_offset(9, b"abc").unwrap();
        assert_eq!(f.enqueue_with_offset(5, b""), Ok(()));
        assert_eq!(segs(&f), [(9, 3)]);
        // Once the consumer makes room, the same segment fits.
        f.dequeue_drop(4);
        f.enqueue_with_offset(10, b"bcd").unwrap();
        assert_eq!(segs(&f), [(9, 4)]);
    }

    #[test]
    fn ooo_list_full() {
        let mem = TestMem::new(Fifo::footprint(256));
        let f = fifo(&mem, 256, 0);
        for k in 0..OOO_MAX_SEGMENTS as u32 {
            f.enqueue_with_offset(2 + 4 * k, b"xx").unwrap();
        }
        assert_eq!(f.ooo_segments().count(), OOO_MAX_SEGMENTS);
        let last = 4 * OOO_MAX_SEGMENTS as u32 + 2;
        assert_eq!(f.enqueue_with_offset(last, b"y"), Err(FifoError::OooListFull));
        // Merging into an existing run still works when the list is full ...
        f.enqueue_with_offset(4, b"zz").unwrap();
        assert_eq!(f.ooo_segments().count(), OOO_MAX_SEGMENTS - 1);
        // ... which frees an entry.
        f.enqueue_with_offset(last, b"y").unwrap();
        assert_eq!(f.enqueue(b"ww"), 2);
        assert_eq!(f.max_dequeue(), 8);
    }

    #[test]
    fn corrupted_header_stays_in_bounds() {
        let mem = TestMem::new(Fifo::footprint(16));
        let f = fifo(&mem, 16, 0);
        f.enqueue_with_offset(4, b"ab").unwrap();
        // A peer claims 1000 bytes are readable and garbles the ooo list.
        f.hdr().prod.0.tail.store(1000, Ordering::Release);
        f.with_ooo(|ooo| {
            ooo.count = 1000;
            ooo.runs[0].len = u32::MAX;
        });
        assert_eq!(f.max_dequeue(), 16);
        let mut buf = [0; 64];
        assert_eq!(f.peek(3, &mut buf), 13);
        assert_eq!(f.dequeue(&mut buf), 16);
        assert!(f.enqueue_collect(b"abc").advanced <= 16);
        assert!(f.max_dequeue() <= 16);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Enqueue(Vec<u8>),
        Dequeue(usize),
        Peek(usize, usize),
        Drop(usize),
        WriteSlices(usize, u8),
        ReadSlices(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..80).prop_map(Op::Enqueue),
            (0..80usize).prop_map(Op::Dequeue),
            (0..80usize, 0..80usize).prop_map(|(o, n)| Op::Peek(o, n)),
            (0..80usize).prop_map(Op::Drop),
            (0..80usize, any::<u8>()).prop_map(|(n, b)| Op::WriteSlices(n, b)),
            (0..80usize).prop_map(Op::ReadSlices),
        ]
    }

    /// Applies `op` to the fifo and to the model and checks they agree.
    fn check_op(f: &mut Fifo<'_>, model: &mut VecDeque<u8>, op: Op) {
        let cap = f.capacity();
        match op {
            Op::Enqueue(data) => {
                let n = f.enqueue(&data);
                assert_eq!(n, data.len().min(cap - model.len()));
                model.extend(&data[..n]);
            }
            Op::Dequeue(len) => {
                let mut buf = vec![0; len];
                let n = f.dequeue(&mut buf);
                let want: Vec<u8> = model.drain(..len.min(model.len())).collect();
                assert_eq!(&buf[..n], want);
            }
            Op::Peek(offset, len) => {
                let mut buf = vec![0; len];
                let n = f.peek(offset, &mut buf);
                let want: Vec<u8> = model.iter().skip(offset).take(len).copied().collect();
                assert_eq!(&buf[..n], want);
            }
            Op::Drop(len) => {
                let n = f.dequeue_drop(len);
                assert_eq!(n, len.min(model.len()));
                model.drain(..n);
            }
            Op::WriteSlices(len, byte) => {
                let (a, b) = f.writable_slices();
                assert_eq!(a.len() + b.len(), cap - model.len());
                let n = len.min(a.len() + b.len());
                a.iter_mut().chain(b.iter_mut()).take(n).for_each(|x| *x = byte);
                assert_eq!(f.commit(n), n);
                model.resize(model.len() + n, byte);
            }
            Op::ReadSlices(len) => {
                let (a, b) = f.readable_slices();
                let seen: Vec<u8> = a.iter().chain(b).copied().collect();
                assert_eq!(seen, model.iter().copied().collect::<Vec<_>>());
                let n = f.dequeue_drop(len);
                model.drain(..n);
            }
        }
        assert_eq!(f.max_dequeue(), model.len());
        assert_eq!(f.max_enqueue(), cap - model.len());
    }

    /// Checks that the ooo list matches the runs of received bytes past the tail.
    fn check_ooo(f: &Fifo<'_>, received: &[bool]) {
        let mut want = Vec::new();
        let mut k = 0;
        while k < received.len() {
            if received[k] {
                let start = k;
                while k < received.len() && received[k] {
                    k += 1;
                }
                want.push((start as u32, (k - start) as u32));
            }
            k += 1;
        }
        assert_eq!(segs(f), want);
    }

    proptest! {
        #[test]
        fn matches_vecdeque_model(
            size_log in 0u32..7,
            position in any::<u32>(),
            ops in prop::collection::vec(op(), 1..120),
        ) {
            let size = 1 << size_log;
            let mem = TestMem::new(Fifo::footprint(size));
            let mut f = fifo(&mem, size, position);
            let mut model = VecDeque::new();
            for op in ops {
                check_op(&mut f, &mut model, op);
            }
        }

        #[test]
        fn ooo_reassembly_delivers_stream_in_order(
            position in any::<u32>(),
            len in 1usize..600,
            cuts in prop::collection::vec(0usize..600, 0..40),
            dups in prop::collection::vec((0usize..600, 1usize..64), 0..20),
            order in prop::collection::vec(any::<prop::sample::Index>(), 0..100),
            reads in prop::collection::vec(1usize..200, 1..50),
        ) {
            const SIZE: u32 = 256;
            let mem = TestMem::new(Fifo::footprint(SIZE));
            let f = fifo(&mem, SIZE, position);
            let data = stream(u64::from(position), len);

            // Segments: the stream cut at random points plus random duplicates,
            // in a random order. A segment the receiver can't take goes to the
            // back of the queue, as if retransmitted.
            let mut bounds: Vec<usize> = cuts.into_iter().filter(|&c| c < len).collect();
            bounds.extend([0, len]);
            bounds.sort_unstable();
            bounds.dedup();
            let mut queue: VecDeque<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
            queue.extend(dups.into_iter().map(|(s, l)| (s % len, (s % len + l).min(len))));
            for (k, idx) in order.iter().enumerate() {
                let n = queue.len();
                queue.swap(k % n, idx.index(n));
            }

            let mut delivered = Vec::new();
            let mut tail = 0; // stream offset of the fifo tail
            let mut received = vec![false; SIZE as usize];
            let mut reads = reads.into_iter().cycle();
            let mut steps = 0;
            while let Some((start, end)) = queue.pop_front() {
                steps += 1;
                prop_assert!(steps < 100_000, "no progress");
                if end <= tail {
                    continue;
                }
                let start = start.max(tail);
                let accepted = if start == tail {
                    let e = f.enqueue_collect(&data[start..end]);
                    if start + e.written < end {
                        queue.push_back((start + e.written, end));
                    }
                    let mut reached = e.written;
                    while reached < received.len() && received[reached] {
                        reached += 1;
                    }
                    prop_assert_eq!(e.advanced, reached);
                    received.drain(..e.advanced);
                    received.resize(SIZE as usize, false);
                    tail += e.advanced;
                    true
                } else {
                    let offset = (start - tail) as u32;
                    match f.enqueue_with_offset(offset, &data[start..end]) {
                        Ok(()) => {
                            received[start - tail..end - tail].iter_mut().for_each(|r| *r = true);
                            true
                        }
                        Err(FifoError::BeyondCapacity) => {
                            prop_assert!(end - tail > f.max_enqueue());
                            false
                        }
                        Err(FifoError::OooListFull) => {
                            prop_assert_eq!(f.ooo_segments().count(), OOO_MAX_SEGMENTS);
                            false
                        }
                        Err(e) => panic!("unexpected {e}"),
                    }
                };
                if !accepted {
                    queue.push_back((start, end));
                }
                check_ooo(&f, &received[..f.max_enqueue()]);
                let mut buf = vec![0; reads.next().unwrap()];
                let n = f.dequeue(&mut buf);
                delivered.extend_from_slice(&buf[..n]);
            }
            delivered.extend(drain(&f));
            prop_assert_eq!(delivered, data);
            prop_assert_eq!(f.ooo_segments().count(), 0);
        }
    }

    /// Writes stream bytes `0..total` in random chunk sizes, alternating the copying and the slice API.
    pub(crate) fn produce(mut producer: Fifo<'_>, total: u64) {
        let mut rng = 0x1234_5678_u64;
        let mut buf = vec![0; 3 * producer.capacity() / 2];
        let mut sent = 0;
        while sent < total {
            rng = xorshift(rng);
            let want = (rng as usize % buf.len() + 1).min((total - sent) as usize);
            let n = if rng & 1 << 40 == 0 {
                fill(&mut buf[..want], sent);
                producer.enqueue(&buf[..want])
            } else {
                let (a, b) = producer.writable_slices();
                let first = want.min(a.len());
                let n = first + (want - first).min(b.len());
                fill(&mut a[..first], sent);
                fill(&mut b[..n - first], sent + first as u64);
                producer.commit(n)
            };
            sent += n as u64;
            if n == 0 {
                std::thread::yield_now();
            }
        }
    }

    /// Reads `total` stream bytes in random chunk sizes, alternating the copying and the
    /// slice API, verifies every byte, and calls `idle` whenever nothing was read.
    pub(crate) fn consume(mut consumer: Fifo<'_>, total: u64, mut idle: impl FnMut()) {
        let mut rng = 0x8765_4321_u64;
        let mut buf = vec![0; 3 * consumer.capacity() / 2];
        let mut received = 0;
        while received < total {
            rng = xorshift(rng);
            let want = rng as usize % buf.len() + 1;
            let n = if rng & 1 << 40 == 0 {
                let n = consumer.dequeue(&mut buf[..want]);
                verify(&buf[..n], received);
                n
            } else {
                let (a, b) = consumer.readable_slices();
                let first = want.min(a.len());
                let n = first + (want - first).min(b.len());
                verify(&a[..first], received);
                verify(&b[..n - first], received + first as u64);
                consumer.dequeue_drop(n)
            };
            received += n as u64;
            if n == 0 {
                idle();
            }
        }
        assert!(consumer.is_empty());
    }

    /// Runs [`produce`] on a second thread and [`consume`] on this one.
    pub(crate) fn run_stream(producer: Fifo<'_>, consumer: Fifo<'_>, total: u64) {
        std::thread::scope(|s| {
            s.spawn(move || produce(producer, total));
            consume(consumer, total, std::thread::yield_now);
        });
    }

    fn fill(bytes: &mut [u8], from: u64) {
        bytes.iter_mut().zip(from..).for_each(|(b, i)| *b = stream_byte(i));
    }

    fn xorshift(mut x: u64) -> u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^ x << 17
    }

    fn verify(bytes: &[u8], from: u64) {
        if let Some(k) = (0..bytes.len()).find(|&k| bytes[k] != stream_byte(from + k as u64)) {
            panic!("stream byte {} corrupted", from + k as u64);
        }
    }

    #[test]
    fn two_thread_stress() {
        // Miri checks the same protocol for data races, on a smaller stream.
        const SIZE: u32 = if cfg!(miri) { 256 } else { 64 * 1024 };
        const TOTAL: u64 = if cfg!(miri) { 16 << 10 } else { 64 << 20 };
        let mem = TestMem::new(Fifo::footprint(SIZE));
        // SAFETY: one view produces, the other consumes.
        let (p, c) = unsafe {
            let p = Fifo::init_at(mem.ptr(), SIZE, u32::MAX - 5000).unwrap();
            (p, Fifo::from_raw(mem.ptr(), SIZE).unwrap())
        };
        run_stream(p, c, TOTAL);
    }
}
