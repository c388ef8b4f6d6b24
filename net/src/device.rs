//! The device interface under the L2/L3: packet buffers, bursts of them,
//! and the per-worker queues of every interface.
//!
//! [`PacketBuf`] is what the stack needs of one frame (its bytes, head and
//! tail room, the NIC's rx verdicts and tx checksum requests); [`Burst`] a
//! fixed-size batch of them; [`Device`] one worker's rx/tx queue pair on
//! every interface, with the tx batching behind it. The DPDK layer
//! implements them for mbufs and its port queues, [`crate::sim`] for plain
//! byte vectors; [`crate::fault::FaultInjector`] wraps any device. Every
//! user is generic over them (monomorphised), so nothing here costs a
//! virtual call per packet.

use crate::capture::Capture;
use wire::offload::{RxCsum, TxCsumRequest};

/// One frame: a byte range with head and tail room, in one segment or,
/// for a frame longer than one buffer, a chain of them (the headers are
/// in the first; the accessors without "segment" in their name see only
/// the first).
pub trait PacketBuf: Send + Sized + 'static {
    /// Number of segments (1 unless a chain).
    fn segments(&self) -> u16;
    /// Bytes in the (first) segment.
    fn len(&self) -> usize;
    /// Bytes in the whole frame, every segment of a chain.
    fn pkt_len(&self) -> usize {
        self.len()
    }
    /// The segments after the first, in order (none unless a chain).
    fn tail_segments(&self) -> impl Iterator<Item = &[u8]> + '_ {
        std::iter::empty()
    }
    /// Every segment's bytes, writable, in order.
    fn segments_mut(&mut self) -> impl Iterator<Item = &mut [u8]> + '_ {
        std::iter::once(self.data_mut())
    }
    /// Link `tail` behind the last segment; gives it back when the
    /// buffer cannot chain (or the chain would be too long).
    fn chain(&mut self, tail: Self) -> Result<(), Self> {
        Err(tail)
    }
    /// Cut the whole frame (a chain too) to `len` bytes; false if shorter.
    fn truncate(&mut self, len: usize) -> bool {
        len <= self.len() && self.set_len(len)
    }
    /// Whether the frame is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The frame's bytes.
    fn data(&self) -> &[u8];
    /// The frame's bytes, writable.
    fn data_mut(&mut self) -> &mut [u8];
    /// Bytes [`PacketBuf::append`] can still add (in the last segment).
    fn tailroom(&self) -> usize;
    /// Grow at the end by `len` bytes; `None` if there is no tailroom.
    fn append(&mut self, len: usize) -> Option<&mut [u8]>;
    /// Grow at the front by `len` bytes; `None` if there is no headroom.
    fn prepend(&mut self, len: usize) -> Option<&mut [u8]>;
    /// Remove `len` bytes from the front.
    fn adj(&mut self, len: usize) -> bool;
    /// Cut `len` bytes from the end.
    fn trim(&mut self, len: usize) -> bool;
    /// Set the length to `len` (shrink, or grow within the tailroom).
    fn set_len(&mut self, len: usize) -> bool {
        let cur = self.len();
        if len <= cur {
            self.trim(cur - len)
        } else {
            self.append(len - cur).is_some()
        }
    }
    /// Back to empty with the default headroom, as a fresh buffer (a
    /// buffer kept for reuse starts over this way).
    fn reset(&mut self);
    /// The NIC's RSS hash, if it delivered one.
    fn nic_rss_hash(&self) -> Option<u32>;
    /// The NIC's verdicts on the IP and L4 checksums of a received frame.
    fn rx_csum(&self) -> RxCsum;
    /// Ask the device to fill the checksums `req` names on transmit
    /// (`l2_len`: the link header's length in front of the IPv4 header).
    fn request_tx_csum(&mut self, l2_len: u16, req: TxCsumRequest);
    /// Ask the device to cut this IPv4/TCP frame (one large segment) into
    /// segments of `seg_size` payload bytes on transmit (TSO), with the
    /// header lengths it needs; only for a port whose caps say `tso`.
    /// Prepare the headers first ([`crate::gso::tso_prepare`]).
    fn request_tso(&mut self, l2_len: u16, l3_len: u16, l4_len: u16, seg_size: u16);
}

/// A fixed-capacity batch of frames, in order.
pub trait Burst<B>: Default {
    /// Most frames a burst holds.
    const CAPACITY: usize;
    /// Frames held.
    fn len(&self) -> usize;
    /// Whether no frame is held.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Whether the burst is full.
    fn is_full(&self) -> bool {
        self.len() == Self::CAPACITY
    }
    /// Add a frame at the end; gives it back when full.
    fn push(&mut self, b: B) -> Result<(), B>;
    /// Take every frame out, in order.
    fn drain(&mut self) -> impl Iterator<Item = B> + '_;
}

/// One worker's queues on every interface (same order as the interface
/// table): rx bursts, tx batching, buffer allocation.
///
/// Counting is the device's: received frames (`rx packets`), frames the
/// NIC took (`tx packets`), and frames dropped because the batch stayed
/// full or the link was down, in the L2/L3 counters it was given.
pub trait Device {
    /// The frame type.
    type Buf: PacketBuf;
    /// A burst of frames.
    type Burst: Burst<Self::Buf>;

    /// Number of interfaces.
    fn interfaces(&self) -> usize;
    /// The rx queue this worker polls on interface `iface`.
    fn queue(&self, iface: usize) -> u16;
    /// A fresh, empty frame with the default headroom.
    fn alloc(&mut self) -> Option<Self::Buf>;
    /// A fresh, empty frame from the pool of large single-segment buffers
    /// (about 64 KiB, for TSO/GSO segments); `None` when the device has no
    /// such pool or it is empty.
    fn alloc_large(&mut self) -> Option<Self::Buf> {
        None
    }
    /// A deep copy of `b` (bytes and metadata).
    fn copy(&mut self, b: &Self::Buf) -> Option<Self::Buf>;
    /// Receive at most `max` frames from `iface` into `b` (empty); returns
    /// how many `b` holds. `now` is the loop's time in ns.
    fn rx(&mut self, iface: usize, b: &mut Self::Burst, max: usize, now: u64) -> usize;
    /// Queue a finished frame for transmission on `iface`; a full batch is
    /// handed to the NIC first.
    fn tx_push(&mut self, iface: usize, b: Self::Buf, now: u64);
    /// Whether `iface` can take another frame now: its batch has room, or
    /// the NIC took some of it when asked.
    fn tx_ready(&mut self, iface: usize) -> bool;
    /// Hand every batch to the NIC; what it refuses stays batched.
    fn flush(&mut self, now: u64);
    /// This worker's packet capture: the device takes rx frames as they
    /// arrive and tx frames as they go to the NIC (one flag read per burst
    /// while it is off); L2/L3 gives it the frames it drops.
    fn capture(&mut self) -> &mut Capture;
}
