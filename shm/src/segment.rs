//! Shared-memory segments and the segment manager that allocates fifo pairs from them.
//!
//! A segment is a memfd mapped `MAP_SHARED`: the node creates it, passes the
//! fd to the application over the API socket, and both map it, at whatever
//! addresses their kernels pick. Everything inside is therefore located by
//! offset from the segment start. A segment opens with a small header (magic,
//! version, size) followed by the allocator state: a bump offset for memory
//! never used yet and, per chunk size, a free list of released fifo pairs
//! linked through the chunks themselves. Keeping that state in the segment
//! makes a segment self-describing; only the mapping that created the segment
//! (the node) allocates, so it needs no atomics. The memfd is sealed against
//! resizing, so an application cannot truncate it under the node (which
//! would turn every access into `SIGBUS`).
//!
//! Offsets read back from the segment are checked before use: an application
//! can scribble over its segments, and that may garble its own fifos but must
//! not make the node touch memory outside the mapping. A free list found
//! corrupted is dropped (its chunks leak) rather than followed.
//!
//! The [`SegmentManager`] owns the segments of one app worker, as VPP's
//! `segment_manager_t` does: it allocates every fifo pair with the configured
//! sizes, adds a segment of `add_segment_size` when all are full, and removes
//! added segments once they are empty again. The first segment is never
//! removed: it carries the app worker's message queue and preallocated pairs.

use std::io;
use std::mem::size_of;
use std::ops::Deref;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use rustix::fs;

use thiserror::Error;

use crate::fifo::{align_up, Fifo, FifoConsumer, FifoError, FifoProducer, FIFO_ALIGN};
use crate::mq::{MessageQueue, MqError};

/// Version of the segment layout; a mapping with another version is rejected.
pub const SEGMENT_VERSION: u32 = 2;
/// Distinct fifo pair sizes one segment keeps free lists for.
pub const MAX_SIZE_CLASSES: usize = 16;

const SEGMENT_MAGIC: u32 = u32::from_le_bytes(*b"dpSg");
/// Marks a chunk on a free list.
const FREE_MAGIC: u32 = u32::from_le_bytes(*b"dpFr");

/// The start of every segment.
#[repr(C)]
struct SegmentHeader {
    magic: u32,
    version: u32,
    size: u64,
    /// Offset of the first byte never allocated.
    bump: u64,
    n_classes: u32,
    _reserved: u32,
    /// Node-wide unique id, so an application can tell segments apart even
    /// when a segment manager reuses an index (see [`Segment::id`]).
    id: u64,
    classes: [SizeClass; MAX_SIZE_CLASSES],
}

/// Free chunks of one size.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct SizeClass {
    chunk: u64,
    /// Offset of the first free chunk; 0 (inside the header) means none.
    free_head: u64,
    free_count: u64,
}

/// What a free chunk starts with.
#[repr(C)]
struct FreeChunk {
    magic: u32,
    _reserved: u32,
    next: u64,
}

/// Bytes at the start of a segment taken by its header; allocations start here.
pub const SEGMENT_HEADER_SIZE: usize = align_up(size_of::<SegmentHeader>());

/// Why a segment or fifo allocation failed.
#[derive(Debug, Error)]
pub enum SegmentError {
    /// The segment has no room for the allocation.
    #[error("segment out of memory")]
    OutOfMemory,
    /// Every segment is full and the manager may not add one (no add-segment size or at the limit).
    #[error("all segments are full and no segment can be added")]
    CannotGrow,
    /// Creating, sizing or mapping the memfd failed.
    #[error("segment i/o: {0}")]
    Io(#[from] io::Error),
    /// A size in the configuration or a request is out of range.
    #[error("invalid {what}: {value}")]
    InvalidSize {
        /// Which size, by its configuration name.
        what: &'static str,
        /// The value given.
        value: u64,
    },
    /// The segment already keeps free lists for [`MAX_SIZE_CLASSES`] other pair sizes.
    #[error("too many fifo pair sizes in one segment")]
    TooManySizeClasses,
    /// This mapping was attached with [`Segment::from_fd`]; only the creator allocates.
    #[error("only the mapping that created a segment allocates in it")]
    NotOwner,
    /// The pair freed is not an allocated pair of this segment (or was freed already).
    #[error("not an allocated fifo pair")]
    InvalidFree,
    /// No segment has this index.
    #[error("no segment {0}")]
    NoSuchSegment(u32),
    /// A fifo could not be formatted or viewed.
    #[error(transparent)]
    Fifo(#[from] FifoError),
    /// A message queue could not be formatted.
    #[error(transparent)]
    Mq(#[from] MqError),
}

/// Where the two fifos of a pair sit in their chunk, and how big the chunk is.
#[derive(Debug, Clone, Copy)]
struct PairLayout {
    rx_size: u32,
    tx_size: u32,
    tx_at: u64,
    chunk: u64,
}

impl PairLayout {
    fn new(rx_size: u32, tx_size: u32) -> Result<Self, FifoError> {
        Fifo::check_size(rx_size)?;
        Fifo::check_size(tx_size)?;
        let tx_at = Fifo::footprint(rx_size) as u64;
        Ok(Self { rx_size, tx_size, tx_at, chunk: tx_at + Fifo::footprint(tx_size) as u64 })
    }

    /// The handles of the pair whose chunk starts at `offset` in segment `segment`.
    fn pair(&self, segment: u32, offset: u64) -> FifoPair {
        let handle = |offset, size| FifoHandle { segment, offset, size };
        FifoPair { rx: handle(offset, self.rx_size), tx: handle(offset + self.tx_at, self.tx_size) }
    }
}

/// Bytes a fifo pair with these sizes takes in a segment.
pub fn fifo_pair_footprint(rx_size: u32, tx_size: u32) -> Result<usize, FifoError> {
    PairLayout::new(rx_size, tx_size).map(|l| l.chunk as usize)
}

/// A segment's memory mapping; unmapped when the segment and every
/// [`MappedProducer`], [`MappedConsumer`] and [`MappedQueue`] made from it are gone.
#[derive(Debug)]
pub struct Mapping {
    // Only held: dropping it unmaps.
    _raw: memmap2::MmapRaw,
}

/// A memfd segment mapped into this process.
#[derive(Debug)]
pub struct Segment {
    fd: OwnedFd,
    // Borrowed views (`fifo`, `message_queue`) borrow the segment; owning
    // ones (`mapped_producer`, `mapped_consumer`, `mapped_queue`) hold a count of this.
    map: Arc<Mapping>,
    base: NonNull<u8>,
    size: usize,
    id: u64,
    owner: bool,
    pairs_in_use: u32,
}

// SAFETY: the mapping is valid in every thread of the process. Through `&self`
// a segment only hands out its fd, size and base and makes views with unsafe
// constructors whose contracts cover concurrency; the allocator state is
// changed only through `&mut self`.
unsafe impl Send for Segment {}
// SAFETY: see `Send`.
unsafe impl Sync for Segment {}

fn invalid(kind: io::ErrorKind, msg: &'static str) -> io::Error {
    io::Error::new(kind, msg)
}

impl Segment {
    /// Creates a memfd segment named `name` of `size` bytes, maps it and formats it.
    pub fn create(name: &str, size: usize) -> io::Result<Segment> {
        if size < SEGMENT_HEADER_SIZE || size > isize::MAX as usize {
            return Err(invalid(io::ErrorKind::InvalidInput, "segment size out of range"));
        }
        if name.contains('\0') {
            return Err(invalid(io::ErrorKind::InvalidInput, "segment name contains NUL"));
        }
        let fd = fs::memfd_create(name, fs::MemfdFlags::CLOEXEC | fs::MemfdFlags::ALLOW_SEALING)?;
        fs::ftruncate(&fd, size as u64)?;
        // Sealed against resizing, so no process can make another fault by
        // truncating the file under its mapping.
        fs::fcntl_add_seals(&fd, fs::SealFlags::SHRINK | fs::SealFlags::GROW | fs::SealFlags::SEAL)?;
        let id = SEGMENT_ID.fetch_add(1, Ordering::Relaxed);
        let seg = Self::map(fd, size, id, true)?;
        LIVE_SEGMENTS.fetch_add(1, Ordering::Relaxed);
        let header = SegmentHeader {
            magic: SEGMENT_MAGIC,
            version: SEGMENT_VERSION,
            size: size as u64,
            bump: SEGMENT_HEADER_SIZE as u64,
            n_classes: 0,
            _reserved: 0,
            id,
            classes: [SizeClass::default(); MAX_SIZE_CLASSES],
        };
        // SAFETY: the mapping is page aligned and at least a header long, and
        // nobody else has seen the fd yet.
        unsafe { ptr::write(seg.base.as_ptr().cast::<SegmentHeader>(), header) };
        Ok(seg)
    }

    /// Maps a segment someone else created, from its fd and size.
    ///
    /// The mapping can make fifo and queue views but cannot allocate.
    pub fn from_fd(fd: OwnedFd, size: usize) -> io::Result<Segment> {
        let st = fs::fstat(&fd)?;
        if size < SEGMENT_HEADER_SIZE || u64::try_from(st.st_size).unwrap_or(0) < size as u64 {
            return Err(invalid(io::ErrorKind::InvalidInput, "segment size mismatch"));
        }
        let mut seg = Self::map(fd, size, 0, false)?;
        let hdr = seg.base.as_ptr().cast::<SegmentHeader>();
        // SAFETY: the header is inside the mapping; these fields are written
        // once, before the fd is handed out.
        let stored = unsafe {
            (
                ptr::read(ptr::addr_of!((*hdr).magic)),
                ptr::read(ptr::addr_of!((*hdr).version)),
                ptr::read(ptr::addr_of!((*hdr).size)),
            )
        };
        if stored != (SEGMENT_MAGIC, SEGMENT_VERSION, size as u64) {
            return Err(invalid(io::ErrorKind::InvalidData, "not a dpnode segment of this size and version"));
        }
        // SAFETY: as above; the id is written once, with the rest of the header.
        seg.id = unsafe { ptr::read(ptr::addr_of!((*hdr).id)) };
        Ok(seg)
    }

    fn map(fd: OwnedFd, size: usize, id: u64, owner: bool) -> io::Result<Segment> {
        // A shared read-write mapping of the whole segment; the kernel picks the address.
        let map = memmap2::MmapOptions::new().len(size).map_raw(&fd)?;
        let base =
            NonNull::new(map.as_mut_ptr()).ok_or_else(|| invalid(io::ErrorKind::Other, "mapped at address 0"))?;
        Ok(Segment { fd, map: Arc::new(Mapping { _raw: map }), base, size, id, owner, pairs_in_use: 0 })
    }

    /// The memfd, to pass to the application.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Size of the segment in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The segment's id: unique among the segments this process created,
    /// never reused, and stored in the segment so every mapping reads the same.
    ///
    /// Messages name segments by id rather than by their index in a segment
    /// manager: an index is reused when a removed segment's slot fills again,
    /// and a cut-through session's fifos live in another app's segments.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Where the segment is mapped in this process.
    pub fn base(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    /// Fifo pairs allocated and not freed (counted by this mapping).
    pub fn pairs_in_use(&self) -> u32 {
        self.pairs_in_use
    }

    /// Bytes never allocated yet (free lists not counted).
    pub fn unallocated(&self) -> usize {
        self.size - self.bump_offset() as usize
    }

    fn header_mut(&mut self) -> Result<&mut SegmentHeader, SegmentError> {
        if !self.owner {
            return Err(SegmentError::NotOwner);
        }
        // SAFETY: the header is at the page-aligned start of the mapping; only
        // the owner mapping writes it, and `&mut self` makes this the only
        // reference to it in this process.
        Ok(unsafe { &mut *self.base.as_ptr().cast::<SegmentHeader>() })
    }

    /// The bump offset, clamped into the segment.
    fn bump_offset(&self) -> u64 {
        let hdr = self.base.as_ptr().cast::<SegmentHeader>();
        // SAFETY: the header is inside the mapping; a torn or corrupted value is clamped.
        let bump = unsafe { ptr::read(ptr::addr_of!((*hdr).bump)) };
        bump.clamp(SEGMENT_HEADER_SIZE as u64, self.size as u64)
    }

    /// `off` if `[off, off + len)` is an aligned range of allocatable memory.
    fn checked_range(&self, off: u64, len: u64) -> Option<u64> {
        let end = off.checked_add(len)?;
        let ok = off >= SEGMENT_HEADER_SIZE as u64 && end <= self.size as u64;
        (ok && off & (FIFO_ALIGN as u64 - 1) == 0).then_some(off)
    }

    fn at(&self, off: u64) -> *mut u8 {
        // SAFETY: callers pass offsets checked against the mapping size.
        unsafe { self.base.as_ptr().add(off as usize) }
    }

    /// Takes `len` never-used bytes.
    fn bump(&mut self, len: u64) -> Result<u64, SegmentError> {
        let off = self.bump_offset();
        let off = self.checked_range(off, len).ok_or(SegmentError::OutOfMemory)?;
        self.header_mut()?.bump = off + len;
        Ok(off)
    }

    /// The size class for chunks of `chunk` bytes, created if `create` and missing.
    fn class(&mut self, chunk: u64, create: bool) -> Result<usize, SegmentError> {
        let hdr = self.header_mut()?;
        let n = (hdr.n_classes as usize).min(MAX_SIZE_CLASSES);
        if let Some(k) = hdr.classes[..n].iter().position(|c| c.chunk == chunk) {
            return Ok(k);
        }
        if !create {
            return Err(SegmentError::InvalidFree);
        }
        if n == MAX_SIZE_CLASSES {
            return Err(SegmentError::TooManySizeClasses);
        }
        hdr.classes[n] = SizeClass { chunk, ..SizeClass::default() };
        hdr.n_classes = n as u32 + 1;
        Ok(n)
    }

    /// Reads the free chunk header at `off`, if it is a valid free chunk of `chunk` bytes.
    fn free_chunk(&self, off: u64, chunk: u64) -> Option<FreeChunk> {
        let off = self.checked_range(off, chunk)?;
        // SAFETY: `checked_range` put the chunk, and so its header, inside the mapping.
        let free = unsafe { ptr::read(self.at(off).cast::<FreeChunk>()) };
        (free.magic == FREE_MAGIC).then_some(free)
    }

    /// Pops a chunk off class `k`'s free list; a corrupted list is dropped.
    fn pop_free(&mut self, k: usize) -> Result<Option<u64>, SegmentError> {
        let class = self.header_mut()?.classes[k];
        if class.free_head == 0 {
            return Ok(None);
        }
        let next = self.free_chunk(class.free_head, class.chunk).map(|free| free.next);
        let slot = &mut self.header_mut()?.classes[k];
        match next {
            Some(next) => {
                slot.free_head = next;
                slot.free_count = slot.free_count.saturating_sub(1);
                Ok(Some(class.free_head))
            }
            None => {
                slot.free_head = 0;
                slot.free_count = 0;
                Ok(None)
            }
        }
    }

    /// Puts the chunk at `off` on class `k`'s free list.
    fn push_free(&mut self, k: usize, off: u64) -> Result<(), SegmentError> {
        let class = &mut self.header_mut()?.classes[k];
        let free = FreeChunk { magic: FREE_MAGIC, _reserved: 0, next: class.free_head };
        class.free_head = off;
        class.free_count += 1;
        // SAFETY: callers pass a checked chunk of this class that no live pair uses.
        unsafe { ptr::write(self.at(off).cast::<FreeChunk>(), free) };
        Ok(())
    }

    /// A chunk of `chunk` bytes, from the free list if it has one.
    fn take_chunk(&mut self, chunk: u64) -> Result<u64, SegmentError> {
        let k = self.class(chunk, true)?;
        match self.pop_free(k)? {
            Some(off) => Ok(off),
            None => self.bump(chunk),
        }
    }

    /// Allocates and formats a fifo pair; returns the rx fifo's offset (the tx fifo follows it).
    pub fn alloc_pair(&mut self, rx_size: u32, tx_size: u32) -> Result<u64, SegmentError> {
        let layout = PairLayout::new(rx_size, tx_size)?;
        let off = self.take_chunk(layout.chunk)?;
        // SAFETY: `take_chunk` returned an aligned chunk of `layout.chunk`
        // bytes inside the mapping that no live pair uses.
        unsafe {
            Fifo::init(self.at(off), rx_size)?;
            Fifo::init(self.at(off + layout.tx_at), tx_size)?;
        }
        self.pairs_in_use += 1;
        LIVE_PAIRS.fetch_add(1, Ordering::Relaxed);
        Ok(off)
    }

    /// Carves `count` pairs of these sizes out of unused memory and puts them on the free list.
    pub fn prealloc_pairs(&mut self, rx_size: u32, tx_size: u32, count: u32) -> Result<(), SegmentError> {
        let layout = PairLayout::new(rx_size, tx_size)?;
        let k = self.class(layout.chunk, true)?;
        for _ in 0..count {
            let off = self.bump(layout.chunk)?;
            self.push_free(k, off)?;
        }
        Ok(())
    }

    /// Frees the pair allocated with these sizes whose rx fifo is at `offset`.
    ///
    /// Both fifos lose their magic, so views of them can no longer be made.
    pub fn free_pair(&mut self, offset: u64, rx_size: u32, tx_size: u32) -> Result<(), SegmentError> {
        let layout = PairLayout::new(rx_size, tx_size)?;
        let k = self.class(layout.chunk, false)?;
        let allocated =
            self.checked_range(offset, layout.chunk).filter(|&off| off + layout.chunk <= self.bump_offset());
        let off = allocated.ok_or(SegmentError::InvalidFree)?;
        if self.pairs_in_use == 0 || self.free_chunk(off, layout.chunk).is_some() {
            return Err(SegmentError::InvalidFree);
        }
        // Pairs of several sizes share a segment: the fifos there must be
        // of the sizes given, or the chunk would go to the wrong free list.
        // SAFETY: the views only read the headers and are dropped at once;
        // both lie inside the checked chunk.
        let sized = unsafe { self.fifo(off, rx_size).is_ok() && self.fifo(off + layout.tx_at, tx_size).is_ok() };
        if !sized {
            return Err(SegmentError::InvalidFree);
        }
        // SAFETY: the tx fifo lies inside the checked chunk, and views made
        // through `&self` cannot be alive during this `&mut self` call.
        unsafe { Fifo::retire(self.at(off + layout.tx_at)) };
        self.push_free(k, off)?;
        self.pairs_in_use -= 1;
        LIVE_PAIRS.fetch_sub(1, Ordering::Relaxed);
        Ok(())
    }

    /// Makes a view of the fifo of `size` bytes at `offset`.
    ///
    /// # Safety
    ///
    /// The fifo must have at most one producer and one consumer at a time,
    /// across all views and processes.
    pub unsafe fn fifo(&self, offset: u64, size: u32) -> Result<Fifo<'_>, FifoError> {
        Fifo::check_size(size)?;
        let footprint = Fifo::footprint(size) as u64;
        let off = self.checked_range(offset, footprint).ok_or(FifoError::NotAFifo)?;
        // SAFETY: the footprint lies inside the mapping, which outlives the
        // borrow of `self`; the producer/consumer rule is the caller's.
        unsafe { Fifo::from_raw(self.at(off), size) }
    }

    /// Makes the producer end of the fifo of `size` bytes at `offset`,
    /// holding the segment's mapping so that it may outlive this `Segment`
    /// value (and the manager that keeps it) without ever pointing at
    /// unmapped memory.
    ///
    /// # Safety
    ///
    /// As for [`Segment::fifo`], and this end is the fifo's one producer at a time.
    pub unsafe fn mapped_producer(&self, offset: u64, size: u32) -> Result<MappedProducer, FifoError> {
        // SAFETY: forwarded, same contract.
        let fifo = unsafe { self.mapped_view(offset, size) }?;
        Ok(MappedProducer { end: fifo.into_producer(), _map: self.map.clone() })
    }

    /// Makes the consumer end of the fifo of `size` bytes at `offset`,
    /// holding the segment's mapping (see [`Segment::mapped_producer`]).
    ///
    /// # Safety
    ///
    /// As for [`Segment::fifo`], and this end is the fifo's one consumer at a time.
    pub unsafe fn mapped_consumer(&self, offset: u64, size: u32) -> Result<MappedConsumer, FifoError> {
        // SAFETY: forwarded, same contract.
        let fifo = unsafe { self.mapped_view(offset, size) }?;
        Ok(MappedConsumer { end: fifo.into_consumer(), _map: self.map.clone() })
    }

    /// A view of the fifo at `offset` for an owning end, which keeps the mapping.
    ///
    /// # Safety
    ///
    /// As for [`Segment::fifo`]; the caller puts the view in a value that
    /// holds `self.map` and never hands it out by value.
    unsafe fn mapped_view(&self, offset: u64, size: u32) -> Result<Fifo<'static>, FifoError> {
        Fifo::check_size(size)?;
        let footprint = Fifo::footprint(size) as u64;
        let off = self.checked_range(offset, footprint).ok_or(FifoError::NotAFifo)?;
        // SAFETY: the footprint lies inside the mapping, and the caller keeps
        // the mapping for as long as the view lives (an owning end holds it
        // and only lends the view out by reference or to a closure that works
        // for any lifetime); the producer/consumer rule is the caller's.
        unsafe { Fifo::from_raw(self.at(off), size) }
    }

    /// Makes a view of the message queue with this layout at `offset` that
    /// holds the segment's mapping (see [`Segment::mapped_producer`]).
    ///
    /// # Safety
    ///
    /// As for [`Segment::message_queue`].
    pub unsafe fn mapped_queue(&self, offset: u64, slots: u32, slot_size: u32) -> Result<MappedQueue, MqError> {
        MessageQueue::check_layout(slots, slot_size)?;
        let footprint = MessageQueue::footprint(slots, slot_size) as u64;
        let off = self.checked_range(offset, footprint).ok_or(MqError::NotAQueue)?;
        // SAFETY: as for `mapped_view`.
        let queue = unsafe { MessageQueue::from_raw(self.at(off), slots, slot_size) }?;
        Ok(MappedQueue { queue, _map: self.map.clone() })
    }

    /// Allocates and formats a message queue (never freed); returns its offset.
    pub fn alloc_message_queue(&mut self, slots: u32, slot_size: u32) -> Result<u64, SegmentError> {
        MessageQueue::check_layout(slots, slot_size)?;
        let off = self.bump(MessageQueue::footprint(slots, slot_size) as u64)?;
        // SAFETY: fresh, aligned memory inside the mapping that nothing uses.
        unsafe { MessageQueue::init(self.at(off), slots, slot_size)? };
        Ok(off)
    }

    /// Makes a view of the message queue with this layout at `offset`.
    ///
    /// # Safety
    ///
    /// The queue must have at most one producer and one consumer at a time,
    /// across all views and processes.
    pub unsafe fn message_queue(&self, offset: u64, slots: u32, slot_size: u32) -> Result<MessageQueue<'_>, MqError> {
        MessageQueue::check_layout(slots, slot_size)?;
        let footprint = MessageQueue::footprint(slots, slot_size) as u64;
        let off = self.checked_range(offset, footprint).ok_or(MqError::NotAQueue)?;
        // SAFETY: as for `fifo`.
        unsafe { MessageQueue::from_raw(self.at(off), slots, slot_size) }
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        // The fd goes with the field, the mapping with the last holder of `map`.
        if self.owner {
            LIVE_SEGMENTS.fetch_sub(1, Ordering::Relaxed);
            LIVE_PAIRS.fetch_sub(self.pairs_in_use as usize, Ordering::Relaxed);
        }
    }
}

/// The producer end of a fifo, holding its segment's mapping (made by
/// [`Segment::mapped_producer`]): a session or an app keeps it as long as it
/// likes, and the memory stays mapped until it is dropped.
///
/// It dereferences to the [`FifoProducer`] it wraps (the same fields, no
/// extra indirection on the data path); mutable access, which the slice
/// methods need, goes through [`MappedProducer::with_view_mut`] so that the
/// end can never be moved out of the value that keeps its memory.
pub struct MappedProducer {
    // Points into `_map`; declared first, so it goes first.
    end: FifoProducer<'static>,
    _map: Arc<Mapping>,
}

/// The consumer end of a fifo, holding its segment's mapping (made by
/// [`Segment::mapped_consumer`]); see [`MappedProducer`].
pub struct MappedConsumer {
    // Points into `_map`; declared first, so it goes first.
    end: FifoConsumer<'static>,
    _map: Arc<Mapping>,
}

macro_rules! owning_end {
    ($owner:ident, $end:ident) => {
        impl $owner {
            /// Runs `f` with mutable access to the end.
            ///
            /// `f` works for any lifetime of the end, so it cannot swap the
            /// end for one that outlives other memory, nor keep it once it returns.
            #[inline]
            pub fn with_view_mut<R>(&mut self, f: impl for<'s> FnOnce(&mut $end<'s>) -> R) -> R {
                f(&mut self.end)
            }
        }

        impl Deref for $owner {
            type Target = $end<'static>;

            #[inline]
            fn deref(&self) -> &$end<'static> {
                &self.end
            }
        }

        impl std::fmt::Debug for $owner {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.end.fmt(f)
            }
        }
    };
}

owning_end!(MappedProducer, FifoProducer);
owning_end!(MappedConsumer, FifoConsumer);

/// A message queue view that holds its segment's mapping (made by
/// [`Segment::mapped_queue`]); see [`MappedProducer`].
pub struct MappedQueue {
    // Points into `_map`; declared first, so it goes first.
    queue: MessageQueue<'static>,
    _map: Arc<Mapping>,
}

impl MappedQueue {
    /// Gives the queue an eventfd (see [`MessageQueue::set_eventfd`]).
    pub fn set_eventfd(&mut self, fd: OwnedFd) {
        self.queue.set_eventfd(fd);
    }
}

impl Deref for MappedQueue {
    type Target = MessageQueue<'static>;

    #[inline]
    fn deref(&self) -> &MessageQueue<'static> {
        &self.queue
    }
}

/// Names one fifo: segment index in its manager, offset in the segment, and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FifoHandle {
    /// Index of the segment in its [`SegmentManager`].
    pub segment: u32,
    /// Offset of the fifo from the segment start.
    pub offset: u64,
    /// Data size of the fifo.
    pub size: u32,
}

impl FifoHandle {
    /// Makes a view of this fifo in `mgr`'s segments.
    ///
    /// # Safety
    ///
    /// The fifo must have at most one producer and one consumer at a time,
    /// across all views and processes.
    pub unsafe fn fifo<'a>(&self, mgr: &'a SegmentManager) -> Result<Fifo<'a>, SegmentError> {
        let seg = mgr.segment(self.segment).ok_or(SegmentError::NoSuchSegment(self.segment))?;
        // SAFETY: forwarded to the caller.
        Ok(unsafe { seg.fifo(self.offset, self.size) }?)
    }
}

/// The two fifos of a session: rx (node to app) and tx (app to node).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FifoPair {
    /// Receive fifo: the node produces, the app consumes.
    pub rx: FifoHandle,
    /// Transmit fifo: the app produces, the node consumes.
    pub tx: FifoHandle,
}

/// Sizes and limits of one app worker's segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentManagerConfig {
    /// Size of the first segment in bytes.
    pub segment_size: usize,
    /// Size of each added segment in bytes; 0 means the manager cannot grow.
    pub add_segment_size: usize,
    /// Size of every rx fifo (power of two).
    pub rx_fifo_size: u32,
    /// Size of every tx fifo (power of two).
    pub tx_fifo_size: u32,
    /// Fifo pairs carved out of the first segment up front.
    pub prealloc_fifo_pairs: u32,
    /// Most segments alive at once, the first included (at least 1).
    pub max_segments: u32,
}

impl Default for SegmentManagerConfig {
    fn default() -> Self {
        Self {
            segment_size: 32 << 20,
            add_segment_size: 32 << 20,
            rx_fifo_size: 64 << 10,
            tx_fifo_size: 64 << 10,
            prealloc_fifo_pairs: 0,
            max_segments: 256,
        }
    }
}

/// Segments this process created and still maps (leak checks, `show session`).
static LIVE_SEGMENTS: AtomicUsize = AtomicUsize::new(0);
/// Fifo pairs allocated in those segments and not freed.
static LIVE_PAIRS: AtomicUsize = AtomicUsize::new(0);

/// Segments created by this process that are still mapped, and the fifo pairs allocated in them.
pub fn live_counts() -> (usize, usize) {
    (LIVE_SEGMENTS.load(Ordering::Relaxed), LIVE_PAIRS.load(Ordering::Relaxed))
}

/// Numbers segment names, so that they are unique within the process.
static SEGMENT_SEQ: AtomicU32 = AtomicU32::new(0);
/// Segment ids; 0 is never used, so it can mean "none" in messages.
static SEGMENT_ID: AtomicU64 = AtomicU64::new(1);

fn new_segment(size: usize) -> Result<Segment, SegmentError> {
    let n = SEGMENT_SEQ.fetch_add(1, Ordering::Relaxed);
    Ok(Segment::create(&format!("dpnode-seg-{n}"), size)?)
}

/// The segments of one app worker and the fifo pairs allocated from them.
#[derive(Debug)]
pub struct SegmentManager {
    cfg: SegmentManagerConfig,
    layout: PairLayout,
    /// By segment index; `None` where an added segment was removed (the index is reused).
    segments: Vec<Option<Segment>>,
    invalid_frees: u64,
}

impl SegmentManager {
    /// Checks `cfg`, creates the first segment and preallocates fifo pairs into it.
    pub fn new(cfg: SegmentManagerConfig) -> Result<Self, SegmentError> {
        let invalid = |what, value: u64| SegmentError::InvalidSize { what, value };
        Fifo::check_size(cfg.rx_fifo_size).map_err(|_| invalid("rx_fifo_size", cfg.rx_fifo_size.into()))?;
        Fifo::check_size(cfg.tx_fifo_size).map_err(|_| invalid("tx_fifo_size", cfg.tx_fifo_size.into()))?;
        let layout = PairLayout::new(cfg.rx_fifo_size, cfg.tx_fifo_size)?;
        if cfg.max_segments == 0 {
            return Err(invalid("max_segments", 0));
        }
        let header = SEGMENT_HEADER_SIZE as u64;
        let prealloc = layout.chunk * u64::from(cfg.prealloc_fifo_pairs);
        if (cfg.segment_size as u64) < header + prealloc {
            return Err(invalid("segment_size", cfg.segment_size as u64));
        }
        let add = cfg.add_segment_size as u64;
        if add != 0 && add < header + layout.chunk {
            return Err(invalid("add_segment_size", add));
        }
        let mut first = new_segment(cfg.segment_size)?;
        first.prealloc_pairs(cfg.rx_fifo_size, cfg.tx_fifo_size, cfg.prealloc_fifo_pairs)?;
        Ok(Self { cfg, layout, segments: vec![Some(first)], invalid_frees: 0 })
    }

    /// The configuration the manager was made with.
    pub fn config(&self) -> &SegmentManagerConfig {
        &self.cfg
    }

    /// Allocates a fifo pair, adding a segment if all are full.
    pub fn alloc_fifo_pair(&mut self) -> Result<FifoPair, SegmentError> {
        self.alloc_with(self.layout)
    }

    /// Allocates a pair with fifos of other sizes than the configured ones
    /// (each a valid fifo size; a UDP session starts with small fifos and
    /// gets the configured ones once it is used). It is freed like any
    /// other pair: the handles carry the sizes.
    pub fn alloc_fifo_pair_sized(&mut self, rx_size: u32, tx_size: u32) -> Result<FifoPair, SegmentError> {
        let layout = PairLayout::new(rx_size, tx_size)?;
        if self.cfg.add_segment_size != 0
            && (self.cfg.add_segment_size as u64) < SEGMENT_HEADER_SIZE as u64 + layout.chunk
        {
            return Err(SegmentError::InvalidSize { what: "fifo pair", value: layout.chunk });
        }
        self.alloc_with(layout)
    }

    fn alloc_with(&mut self, layout: PairLayout) -> Result<FifoPair, SegmentError> {
        for index in 0..self.segments.len() {
            match self.alloc_in(index, layout) {
                Err(SegmentError::OutOfMemory) => continue,
                done => return done,
            }
        }
        let index = self.add_segment()?;
        self.alloc_in(index, layout)
    }

    /// Allocates a pair in segment `index`; a removed segment counts as full.
    fn alloc_in(&mut self, index: usize, layout: PairLayout) -> Result<FifoPair, SegmentError> {
        let seg = self.segments.get_mut(index).and_then(Option::as_mut);
        let seg = seg.ok_or(SegmentError::OutOfMemory)?;
        let off = seg.alloc_pair(layout.rx_size, layout.tx_size)?;
        Ok(layout.pair(index as u32, off))
    }

    fn add_segment(&mut self) -> Result<usize, SegmentError> {
        let limit = self.cfg.max_segments as usize;
        if self.cfg.add_segment_size == 0 || self.segment_count() >= limit {
            return Err(SegmentError::CannotGrow);
        }
        let seg = Some(new_segment(self.cfg.add_segment_size)?);
        match self.segments.iter().position(Option::is_none) {
            Some(index) => {
                self.segments[index] = seg;
                Ok(index)
            }
            None => {
                self.segments.push(seg);
                Ok(self.segments.len() - 1)
            }
        }
    }

    /// Frees a pair; an added segment left empty is removed.
    ///
    /// A pair that this manager did not allocate, or already freed, is
    /// ignored and counted in [`SegmentManager::invalid_frees`].
    pub fn free_fifo_pair(&mut self, pair: FifoPair) {
        let index = pair.rx.segment as usize;
        // The sizes come from the handles (pairs may have other sizes than
        // the configured ones); the layout they imply must be the pair's.
        let layout = PairLayout::new(pair.rx.size, pair.tx.size).ok();
        let ours = layout.is_some_and(|l| pair == l.pair(pair.rx.segment, pair.rx.offset));
        let (rx, tx) = (pair.rx.size, pair.tx.size);
        let seg = self.segments.get_mut(index).and_then(Option::as_mut);
        let Some(seg) = seg.filter(|_| ours) else {
            self.invalid_frees += 1;
            return;
        };
        if seg.free_pair(pair.rx.offset, rx, tx).is_err() {
            self.invalid_frees += 1;
        } else if index != 0 && seg.pairs_in_use() == 0 {
            self.segments[index] = None;
            while self.segments.last().is_some_and(Option::is_none) {
                self.segments.pop();
            }
        }
    }

    /// Allocates a message queue in the first segment; returns its offset there.
    pub fn alloc_message_queue(&mut self, slots: u32, slot_size: u32) -> Result<u64, SegmentError> {
        let first = self.segments[0].as_mut().expect("the first segment is never removed");
        first.alloc_message_queue(slots, slot_size)
    }

    /// The live segments, in index order.
    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.segments.iter().flatten()
    }

    /// The segment with this index, if it is alive.
    pub fn segment(&self, index: u32) -> Option<&Segment> {
        self.segments.get(index as usize)?.as_ref()
    }

    /// Number of live segments.
    pub fn segment_count(&self) -> usize {
        self.segments().count()
    }

    /// Fifo pairs allocated and not yet freed.
    pub fn fifo_pairs_in_use(&self) -> usize {
        self.segments().map(|s| s.pairs_in_use() as usize).sum()
    }

    /// Frees that were ignored because the pair was not allocated here.
    pub fn invalid_frees(&self) -> u64 {
        self.invalid_frees
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::fifo::test::{consume, produce, run_stream};
    use proptest::prelude::*;
    use std::os::fd::AsRawFd;

    const KIB: usize = 1024;
    /// Chunk of a 4096/2048 pair: (640 + 4096) + (640 + 2048).
    const CHUNK: u64 = 7424;

    fn cfg(segment_kib: usize, add_kib: usize, prealloc: u32, max_segments: u32) -> SegmentManagerConfig {
        SegmentManagerConfig {
            segment_size: segment_kib * KIB,
            add_segment_size: add_kib * KIB,
            rx_fifo_size: 4096,
            tx_fifo_size: 2048,
            prealloc_fifo_pairs: prealloc,
            max_segments,
        }
    }

    fn dup(seg: &Segment) -> OwnedFd {
        seg.fd().try_clone_to_owned().unwrap()
    }

    fn kind(err: io::Error) -> io::ErrorKind {
        err.kind()
    }

    #[test]
    fn layout_is_stable() {
        assert_eq!(SEGMENT_HEADER_SIZE, 512);
        assert_eq!(fifo_pair_footprint(4096, 2048), Ok(CHUNK as usize));
        assert!(fifo_pair_footprint(4096, 3).is_err());
    }

    #[test]
    fn create_and_map_twice() {
        let a = Segment::create("dpnode-seg-test", 64 * KIB).unwrap();
        assert_eq!(a.size(), 64 * KIB);
        let link = std::fs::read_link(format!("/proc/self/fd/{}", a.fd().as_raw_fd())).unwrap();
        assert!(link.to_string_lossy().starts_with("/memfd:dpnode-seg-test"), "{link:?}");
        let b = Segment::from_fd(dup(&a), a.size()).unwrap();
        assert_ne!(a.base(), b.base());
        assert_eq!(b.id(), a.id(), "the id travels in the header");
        assert_ne!(Segment::create("other", 64 * KIB).unwrap().id(), a.id());
        // SAFETY: offset 5000 is inside both 64 KiB mappings and unused.
        unsafe {
            a.base().add(5000).write(0xab);
            assert_eq!(b.base().add(5000).read(), 0xab);
        }
        let header_mismatch = Segment::from_fd(dup(&a), 32 * KIB).unwrap_err();
        assert_eq!(kind(header_mismatch), io::ErrorKind::InvalidData);
        let beyond_file = Segment::from_fd(dup(&a), 128 * KIB).unwrap_err();
        assert_eq!(kind(beyond_file), io::ErrorKind::InvalidInput);
        // Sealed: nobody can shrink the memfd under a mapping.
        assert!(rustix::fs::ftruncate(a.fd(), 4096).is_err());
        // SAFETY: the magic is the first header field; no other view reads it now.
        unsafe { a.base().cast::<u32>().write(0) };
        assert_eq!(kind(Segment::from_fd(dup(&a), a.size()).unwrap_err()), io::ErrorKind::InvalidData);
    }

    #[test]
    fn create_rejects_bad_arguments() {
        assert_eq!(kind(Segment::create("x", 100).unwrap_err()), io::ErrorKind::InvalidInput);
        assert_eq!(kind(Segment::create("a\0b", 64 * KIB).unwrap_err()), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn alloc_free_reuse() {
        let mut s = Segment::create("t", 64 * KIB).unwrap();
        let offs: Vec<u64> = (0..8).map(|_| s.alloc_pair(4096, 2048).unwrap()).collect();
        let expect: Vec<u64> = (0..8).map(|k| 512 + k * CHUNK).collect();
        assert_eq!(offs, expect);
        assert!(matches!(s.alloc_pair(4096, 2048), Err(SegmentError::OutOfMemory)));
        assert_eq!(s.pairs_in_use(), 8);
        assert_eq!(s.unallocated(), 64 * KIB - 512 - 8 * CHUNK as usize);
        // SAFETY: this test is the only user of the fifo.
        let rx = unsafe { s.fifo(offs[3], 4096).unwrap() };
        rx.enqueue(b"stale");
        s.free_pair(offs[3], 4096, 2048).unwrap();
        assert!(matches!(s.free_pair(offs[3], 4096, 2048), Err(SegmentError::InvalidFree)));
        assert_eq!(s.pairs_in_use(), 7);
        assert_eq!(s.alloc_pair(4096, 2048).unwrap(), offs[3]);
        // Reused pairs come back formatted and empty.
        // SAFETY: as above.
        let rx = unsafe { s.fifo(offs[3], 4096).unwrap() };
        assert!(rx.is_empty());
    }

    #[test]
    fn size_classes() {
        let mut s = Segment::create("t", 256 * KIB).unwrap();
        let a = s.alloc_pair(4096, 2048).unwrap();
        let b = s.alloc_pair(1024, 1024).unwrap();
        s.free_pair(a, 4096, 2048).unwrap();
        s.free_pair(b, 1024, 1024).unwrap();
        assert_eq!(s.alloc_pair(1024, 1024).unwrap(), b);
        // Swapped sizes take the same chunk size, so they share the free list.
        assert_eq!(s.alloc_pair(2048, 4096).unwrap(), a);
        // A pair is freed with its own sizes, not merely the same chunk size.
        assert!(matches!(s.free_pair(a, 4096, 2048), Err(SegmentError::InvalidFree)));
        assert!(matches!(s.free_pair(a, 2048, 4096), Ok(())));
        // Two classes exist; fourteen more fill the table (some run out of memory, which is fine).
        for k in 8..22 {
            let res = s.alloc_pair(1 << k, 1);
            assert!(matches!(res, Ok(_) | Err(SegmentError::OutOfMemory)));
        }
        assert!(matches!(s.alloc_pair(1 << 22, 1), Err(SegmentError::TooManySizeClasses)));
        assert!(matches!(s.alloc_pair(3, 1), Err(SegmentError::Fifo(FifoError::InvalidSize(3)))));
    }

    #[test]
    fn attached_mapping_cannot_allocate() {
        let mut a = Segment::create("t", 64 * KIB).unwrap();
        let off = a.alloc_pair(4096, 2048).unwrap();
        let mut b = Segment::from_fd(dup(&a), a.size()).unwrap();
        assert!(matches!(b.alloc_pair(4096, 2048), Err(SegmentError::NotOwner)));
        assert!(matches!(b.free_pair(off, 4096, 2048), Err(SegmentError::NotOwner)));
        assert!(matches!(b.alloc_message_queue(8, 64), Err(SegmentError::NotOwner)));
        assert!(matches!(b.prealloc_pairs(4096, 2048, 1), Err(SegmentError::NotOwner)));
    }

    #[test]
    fn invalid_frees_are_rejected() {
        let mut s = Segment::create("t", 64 * KIB).unwrap();
        let off = s.alloc_pair(4096, 2048).unwrap();
        for bad in [0, off + 8, off + CHUNK, u64::MAX - 64] {
            assert!(matches!(s.free_pair(bad, 4096, 2048), Err(SegmentError::InvalidFree)), "{bad}");
        }
        assert!(matches!(s.free_pair(off, 1024, 1024), Err(SegmentError::InvalidFree)));
        assert_eq!(s.pairs_in_use(), 1);
        s.free_pair(off, 4096, 2048).unwrap();
    }

    #[test]
    fn views_check_bounds_and_die_with_the_pair() {
        let mut s = Segment::create("t", 64 * KIB).unwrap();
        let off = s.alloc_pair(4096, 2048).unwrap();
        let tx = off + Fifo::footprint(4096) as u64;
        // SAFETY (all views below): the test is their only user.
        unsafe {
            assert_eq!(s.fifo(off, 4096).unwrap().capacity(), 4096);
            assert_eq!(s.fifo(tx, 2048).unwrap().capacity(), 2048);
            assert_eq!(s.fifo(off, 2048).unwrap_err(), FifoError::NotAFifo);
            assert_eq!(s.fifo(0, 4096).unwrap_err(), FifoError::NotAFifo);
            assert_eq!(s.fifo(64 * KIB as u64 - 128, 4096).unwrap_err(), FifoError::NotAFifo);
            assert_eq!(s.fifo(u64::MAX - 127, 4096).unwrap_err(), FifoError::NotAFifo);
        }
        s.free_pair(off, 4096, 2048).unwrap();
        // SAFETY: as above.
        unsafe {
            assert_eq!(s.fifo(off, 4096).unwrap_err(), FifoError::NotAFifo);
            assert_eq!(s.fifo(tx, 2048).unwrap_err(), FifoError::NotAFifo);
        }
    }

    #[test]
    fn mapped_views_keep_the_mapping_after_the_segment_goes() {
        let mut a = Segment::create("t", 64 * KIB).unwrap();
        let pair = a.alloc_pair(4096, 2048).unwrap();
        let q = a.alloc_message_queue(64, 64).unwrap();
        let b = Segment::from_fd(dup(&a), a.size()).unwrap();
        // SAFETY: `a`'s views produce, `b`'s consume; nothing else uses them.
        let (mut tx, rx, qtx, qrx) = unsafe {
            (
                a.mapped_producer(pair, 4096).unwrap(),
                b.mapped_consumer(pair, 4096).unwrap(),
                a.mapped_queue(q, 64, 64).unwrap(),
                b.mapped_queue(q, 64, 64).unwrap(),
            )
        };
        // SAFETY: no view is used.
        unsafe {
            assert_eq!(a.mapped_producer(pair, 2048).unwrap_err(), FifoError::NotAFifo);
            assert_eq!(a.mapped_consumer(64 * KIB as u64 - 128, 4096).unwrap_err(), FifoError::NotAFifo);
            assert!(matches!(a.mapped_queue(q, 32, 64), Err(MqError::NotAQueue)));
        }
        // Both segment values go (the owner's is what a manager drops when
        // it removes an emptied segment); the views still work on the memory.
        drop((a, b));
        assert_eq!(tx.enqueue(b"still mapped"), 12);
        let hdr = crate::dgram::DgramHeader {
            len: 2,
            remote: "10.0.0.1:1".parse().unwrap(),
            local: "10.0.0.2:2".parse().unwrap(),
        };
        assert!(tx.with_view_mut(|f| crate::dgram::dgram_enqueue(f, &hdr, b"ok")));
        let mut buf = [0u8; 12];
        assert_eq!(rx.dequeue(&mut buf), 12);
        assert_eq!(&buf, b"still mapped");
        assert_eq!(crate::dgram::dgram_dequeue(&rx, &mut buf), Some((hdr, 2)));
        qtx.try_send(7, b"q").unwrap();
        assert_eq!(qrx.try_recv(&mut buf), Some((7, 1)));
    }

    #[test]
    fn corrupted_allocator_state_is_not_followed() {
        let mut s = Segment::create("t", 64 * KIB).unwrap();
        let a = s.alloc_pair(4096, 2048).unwrap();
        let b = s.alloc_pair(4096, 2048).unwrap();
        s.free_pair(a, 4096, 2048).unwrap();
        s.free_pair(b, 4096, 2048).unwrap();
        // The application scribbles a wild "next" into the free chunk at the list head.
        // SAFETY: `b` is a free chunk inside the mapping; its `next` is at byte 8.
        unsafe { s.base().add(b as usize + 8).cast::<u64>().write(12345) };
        assert_eq!(s.alloc_pair(4096, 2048).unwrap(), b);
        // The list is dropped (chunk `a` leaks) instead of handing out offset 12345.
        assert_eq!(s.alloc_pair(4096, 2048).unwrap(), 512 + 2 * CHUNK);
        // A wild bump offset is clamped: the segment looks full, nothing worse.
        // SAFETY: `bump` is the u64 at byte 16 of the header.
        unsafe { s.base().add(16).cast::<u64>().write(u64::MAX) };
        assert!(matches!(s.alloc_pair(4096, 2048), Err(SegmentError::OutOfMemory)));
    }

    #[test]
    fn message_queue_in_segment() {
        let mut a = Segment::create("t", 64 * KIB).unwrap();
        let off = a.alloc_message_queue(64, 64).unwrap();
        assert!(matches!(a.alloc_message_queue(3, 64), Err(SegmentError::Mq(_))));
        let b = Segment::from_fd(dup(&a), a.size()).unwrap();
        // SAFETY: the first view only sends and the second only receives.
        let (tx, rx) = unsafe { (a.message_queue(off, 64, 64).unwrap(), b.message_queue(off, 64, 64).unwrap()) };
        tx.try_send(3, b"hi").unwrap();
        let mut buf = [0; 56];
        assert_eq!(rx.try_recv(&mut buf), Some((3, 2)));
        // SAFETY: no view is used.
        unsafe {
            assert!(matches!(b.message_queue(off, 32, 64), Err(MqError::NotAQueue)));
            assert!(matches!(b.message_queue(60 * KIB as u64, 64, 64), Err(MqError::NotAQueue)));
        }
    }

    #[test]
    fn manager_checks_config() {
        let bad = |c: SegmentManagerConfig| match SegmentManager::new(c) {
            Err(SegmentError::InvalidSize { what, .. }) => what,
            other => panic!("{other:?}"),
        };
        assert_eq!(bad(SegmentManagerConfig { rx_fifo_size: 3000, ..cfg(64, 0, 0, 1) }), "rx_fifo_size");
        assert_eq!(bad(SegmentManagerConfig { tx_fifo_size: 0, ..cfg(64, 0, 0, 1) }), "tx_fifo_size");
        assert_eq!(bad(cfg(64, 0, 0, 0)), "max_segments");
        assert_eq!(bad(cfg(64, 0, 9, 1)), "segment_size");
        assert_eq!(bad(cfg(64, 4, 0, 2)), "add_segment_size");
        let mgr = SegmentManager::new(SegmentManagerConfig::default()).unwrap();
        assert_eq!(mgr.config(), &SegmentManagerConfig::default());
        assert_eq!(mgr.segments().next().unwrap().size(), 32 << 20);
    }

    #[test]
    fn manager_preallocates_into_first_segment() {
        let mut mgr = SegmentManager::new(cfg(64, 0, 8, 1)).unwrap();
        let first = |m: &SegmentManager| m.segment(0).unwrap().unallocated();
        let carved = first(&mgr);
        assert_eq!(carved, 64 * KIB - 512 - 8 * CHUNK as usize);
        assert_eq!(mgr.fifo_pairs_in_use(), 0);
        let pairs: Vec<FifoPair> = (0..8).map(|_| mgr.alloc_fifo_pair().unwrap()).collect();
        assert_eq!(first(&mgr), carved, "preallocated pairs come off the free list");
        assert_eq!(mgr.fifo_pairs_in_use(), 8);
        assert!(matches!(mgr.alloc_fifo_pair(), Err(SegmentError::CannotGrow)));
        assert_eq!(pairs[0].tx.offset, pairs[0].rx.offset + Fifo::footprint(4096) as u64);
        assert_eq!((pairs[0].rx.size, pairs[0].tx.size), (4096, 2048));
    }

    #[test]
    fn manager_grows_and_removes_added_segments() {
        // The first segment holds 8 pairs, each added one 4.
        let mut mgr = SegmentManager::new(cfg(64, 32, 0, 3)).unwrap();
        let mut pairs: Vec<FifoPair> = (0..16).map(|_| mgr.alloc_fifo_pair().unwrap()).collect();
        assert_eq!(mgr.segment_count(), 3);
        let per_segment: Vec<u32> = mgr.segments().map(Segment::pairs_in_use).collect();
        assert_eq!(per_segment, [8, 4, 4]);
        assert!(matches!(mgr.alloc_fifo_pair(), Err(SegmentError::CannotGrow)));

        // Emptying segment 1 removes it; its index is reused by the next growth.
        let in_seg1: Vec<FifoPair> = pairs.iter().copied().filter(|p| p.rx.segment == 1).collect();
        pairs.retain(|p| p.rx.segment != 1);
        in_seg1.into_iter().for_each(|p| mgr.free_fifo_pair(p));
        assert_eq!(mgr.segment_count(), 2);
        assert!(mgr.segment(1).is_none());
        let p = mgr.alloc_fifo_pair().unwrap();
        assert_eq!((p.rx.segment, mgr.segment_count()), (1, 3));
        pairs.push(p);

        // Invalid frees are counted, not acted on.
        mgr.free_fifo_pair(p);
        pairs.pop();
        mgr.free_fifo_pair(p);
        let mut foreign = pairs[0];
        foreign.tx.offset += 128;
        mgr.free_fifo_pair(foreign);
        foreign = pairs[0];
        foreign.rx.segment = 7;
        foreign.tx.segment = 7;
        mgr.free_fifo_pair(foreign);
        assert_eq!(mgr.invalid_frees(), 3);

        // Freeing everything leaves just the first segment, which is never removed.
        pairs.into_iter().for_each(|p| mgr.free_fifo_pair(p));
        assert_eq!((mgr.segment_count(), mgr.fifo_pairs_in_use()), (1, 0));
        assert_eq!(mgr.invalid_frees(), 3);
        assert!(mgr.alloc_message_queue(64, 64).is_ok());
    }

    #[test]
    fn pairs_of_other_sizes_share_the_segments() {
        // Configured 4096/2048 pairs (7424-byte chunks) next to 4096/4096 ones.
        let mut mgr = SegmentManager::new(cfg(64, 32, 0, 2)).unwrap();
        let big = mgr.alloc_fifo_pair().unwrap();
        let small = mgr.alloc_fifo_pair_sized(4096, 4096).unwrap();
        assert_eq!((small.rx.size, small.tx.size), (4096, 4096));
        assert_eq!(small.tx.offset - small.rx.offset, Fifo::footprint(4096) as u64);
        assert_eq!(mgr.fifo_pairs_in_use(), 2);
        // Views of both work; a freed small chunk is reused by the next small pair.
        // SAFETY: single-threaded test; no other view of these fifos exists.
        unsafe {
            assert_eq!(small.rx.fifo(&mgr).unwrap().capacity(), 4096);
            assert_eq!(big.tx.fifo(&mgr).unwrap().capacity(), 2048);
        }
        mgr.free_fifo_pair(small);
        assert_eq!(mgr.alloc_fifo_pair_sized(4096, 4096).unwrap(), small);
        // A freed pair must be freed with its own sizes: a mismatch is refused.
        let mut wrong = small;
        wrong.tx.size = 2048;
        mgr.free_fifo_pair(wrong);
        assert_eq!(mgr.invalid_frees(), 1);
        mgr.free_fifo_pair(small);
        mgr.free_fifo_pair(big);
        assert_eq!((mgr.fifo_pairs_in_use(), mgr.invalid_frees()), (0, 1));
        // Sizes that are no fifo size, or a pair too big for an added segment, are refused.
        assert!(mgr.alloc_fifo_pair_sized(3000, 4096).is_err());
        assert!(matches!(mgr.alloc_fifo_pair_sized(1 << 16, 1 << 16), Err(SegmentError::InvalidSize { .. })));
    }

    #[test]
    fn handles_make_views() {
        let mut mgr = SegmentManager::new(cfg(64, 0, 0, 1)).unwrap();
        let pair = mgr.alloc_fifo_pair().unwrap();
        // SAFETY (all views): the test is their only user.
        unsafe {
            pair.rx.fifo(&mgr).unwrap().enqueue(b"to app");
            let mut buf = [0; 16];
            assert_eq!(pair.rx.fifo(&mgr).unwrap().dequeue(&mut buf), 6);
            assert_eq!(pair.tx.fifo(&mgr).unwrap().capacity(), 2048);
            let stale = FifoHandle { segment: 4, ..pair.rx };
            assert!(matches!(stale.fifo(&mgr), Err(SegmentError::NoSuchSegment(4))));
        }
    }

    /// Producer on one mapping, consumer on another mapping of the same memfd.
    #[test]
    fn stream_across_two_mappings() {
        let mut mgr = SegmentManager::new(cfg(64, 0, 0, 1)).unwrap();
        let pair = mgr.alloc_fifo_pair().unwrap();
        let seg = mgr.segment(0).unwrap();
        let other = Segment::from_fd(dup(seg), seg.size()).unwrap();
        assert_ne!(seg.base(), other.base());
        // SAFETY: one view produces, the other consumes.
        let (producer, consumer) =
            unsafe { (pair.rx.fifo(&mgr).unwrap(), other.fifo(pair.rx.offset, pair.rx.size).unwrap()) };
        run_stream(producer, consumer, 32 << 20);
    }

    fn reap(pid: libc::pid_t, flags: libc::c_int) -> Option<libc::c_int> {
        let mut status = 0;
        // SAFETY: waits for our own child, with a live status pointer.
        let got = unsafe { libc::waitpid(pid, &mut status, flags) };
        assert!(got >= 0, "waitpid: {}", io::Error::last_os_error());
        (got == pid).then_some(status)
    }

    /// A forked child maps the segment from its fd and produces; the parent consumes.
    #[test]
    fn stream_between_two_processes() {
        const TOTAL: u64 = 16 << 20;
        let mut mgr = SegmentManager::new(cfg(64, 0, 0, 1)).unwrap();
        let pair = mgr.alloc_fifo_pair().unwrap();
        let seg = mgr.segment(0).unwrap();
        let (child_fd, size) = (dup(seg), seg.size());
        // SAFETY: the child only maps the segment, produces and `_exit`s; it
        // never returns into the test harness.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
        if pid == 0 {
            let child = std::panic::AssertUnwindSafe(|| {
                // SAFETY: plain syscall; a child whose test died is killed, not orphaned.
                unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
                let seg = Segment::from_fd(child_fd, size).unwrap();
                // SAFETY: the child is the fifo's only producer.
                produce(unsafe { seg.fifo(pair.rx.offset, pair.rx.size).unwrap() }, TOTAL);
            });
            let code = std::panic::catch_unwind(child).map_or(1, |()| 0);
            // SAFETY: ends the child without running the parent's destructors or harness.
            unsafe { libc::_exit(code) };
        }
        // SAFETY: the parent is the fifo's only consumer.
        let consumer = unsafe { pair.rx.fifo(&mgr).unwrap() };
        let mut exited = None;
        consume(consumer, TOTAL, || {
            // Saw the child gone, tried once more, still nothing: it died early.
            if let Some(status) = exited {
                panic!("child exited early with status {status:#x}");
            }
            exited = reap(pid, libc::WNOHANG);
            std::thread::yield_now();
        });
        let status = exited.or_else(|| reap(pid, 0)).unwrap();
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "status {status:#x}");
    }

    proptest! {
        #[test]
        fn manager_alloc_free_model(ops in prop::collection::vec(prop::option::of(any::<prop::sample::Index>()), 1..150)) {
            // Capacity: 8 pairs in the first segment (2 preallocated) + 3 added segments of 4.
            const CAPACITY: usize = 20;
            let mut mgr = SegmentManager::new(cfg(64, 32, 2, 4)).unwrap();
            let mut live: Vec<(FifoPair, u64)> = Vec::new();
            for (seq, op) in (0u64..).zip(ops) {
                match op {
                    None => match mgr.alloc_fifo_pair() {
                        Ok(pair) => {
                            // SAFETY: the test is the only user of the fifo.
                            let rx = unsafe { pair.rx.fifo(&mgr).unwrap() };
                            prop_assert!(rx.is_empty());
                            rx.enqueue(&seq.to_le_bytes());
                            live.push((pair, seq));
                        }
                        Err(SegmentError::CannotGrow) => prop_assert_eq!(live.len(), CAPACITY),
                        Err(e) => panic!("{e}"),
                    },
                    Some(idx) if !live.is_empty() => {
                        let (pair, _) = live.swap_remove(idx.index(live.len()));
                        mgr.free_fifo_pair(pair);
                    }
                    Some(_) => {}
                }
                prop_assert_eq!(mgr.fifo_pairs_in_use(), live.len());
                prop_assert_eq!(mgr.invalid_frees(), 0);
                prop_assert!(mgr.segment(0).is_some());
                prop_assert!(mgr.segment_count() <= 4);
                for seg in mgr.segments().skip(1) {
                    prop_assert!(seg.pairs_in_use() > 0, "an added segment is empty");
                }
                // Every live pair still holds what was written into it: no overlaps, no re-formatting.
                for (pair, seq) in &live {
                    // SAFETY: as above.
                    let rx = unsafe { pair.rx.fifo(&mgr).unwrap() };
                    let mut buf = [0; 8];
                    prop_assert_eq!(rx.peek(0, &mut buf), 8);
                    prop_assert_eq!(u64::from_le_bytes(buf), *seq);
                }
            }
        }
    }
}
