//! Owned packet buffers and fixed-size bursts of them.
//!
//! [`Mbuf`] owns one `rte_mbuf` (freed on drop) and exposes its first
//! segment as a byte slice. [`Burst`] is a stack array of raw mbuf pointers
//! used for rx/tx bursts without allocation.

use std::ptr::NonNull;

use dpdk_sys as sys;

use crate::mempool::Mempool;
use crate::offload::{ol, rx_csum_from_ol_flags};
use wire::offload::{L4Csum, RxCsum, TxCsumRequest};

/// Maximum packets per rx/tx burst.
pub const BURST: usize = 64;

/// An owned mbuf.
#[repr(transparent)]
pub struct Mbuf(NonNull<sys::rte_mbuf>);

// SAFETY: an mbuf is owned by exactly one thread at a time; moving ownership
// across threads is how DPDK pipelines work.
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// Take ownership of a raw mbuf.
    ///
    /// # Safety
    /// `m` must be a valid mbuf that nobody else owns or frees.
    #[inline]
    pub unsafe fn from_raw(m: NonNull<sys::rte_mbuf>) -> Mbuf {
        Mbuf(m)
    }

    /// Give up ownership (e.g. to hand the mbuf to a tx burst).
    #[inline]
    pub fn into_raw(self) -> *mut sys::rte_mbuf {
        let p = self.0.as_ptr();
        std::mem::forget(self);
        p
    }

    /// Number of segments (1 unless the packet is a chain).
    #[inline]
    pub fn segments(&self) -> u16 {
        // SAFETY: valid owned mbuf.
        unsafe { sys::dpn_pktmbuf_nb_segs(self.0.as_ptr()) }
    }

    /// Bytes in the first segment.
    #[inline]
    pub fn len(&self) -> usize {
        // SAFETY: valid owned mbuf.
        unsafe { sys::dpn_pktmbuf_data_len(self.0.as_ptr()) as usize }
    }

    /// Bytes in the whole packet (every segment of a chain).
    #[inline]
    pub fn pkt_len(&self) -> usize {
        // SAFETY: valid owned mbuf.
        unsafe { sys::dpn_pktmbuf_pkt_len(self.0.as_ptr()) as usize }
    }

    /// The bytes of every segment, in order (one slice unless a chain).
    #[inline]
    pub fn segs(&self) -> Segs<'_> {
        Segs { seg: self.0.as_ptr(), _chain: std::marker::PhantomData }
    }

    /// The bytes of every segment, writable.
    #[inline]
    pub fn segs_mut(&mut self) -> SegsMut<'_> {
        SegsMut { seg: self.0.as_ptr(), _chain: std::marker::PhantomData }
    }

    /// Link `tail` (a packet or chain of its own) behind the last segment;
    /// gives it back if the chain would exceed DPDK's segment limit.
    #[inline]
    pub fn chain(&mut self, tail: Mbuf) -> Result<(), Mbuf> {
        // SAFETY: both are valid mbufs we own; on success the head owns the
        // tail (freed with it), so we forget our handle to it.
        if unsafe { sys::dpn_pktmbuf_chain(self.0.as_ptr(), tail.0.as_ptr()) } != 0 {
            return Err(tail);
        }
        std::mem::forget(tail);
        Ok(())
    }

    /// Cut the packet (a chain or not) to `len` bytes, freeing segments
    /// that end up empty past it; false if it is shorter.
    #[inline]
    pub fn truncate(&mut self, len: usize) -> bool {
        let Ok(len32) = u32::try_from(len) else { return false };
        // SAFETY: valid owned mbuf; the shim checks the length and frees
        // only segments of this chain.
        unsafe { sys::dpn_pktmbuf_truncate(self.0.as_ptr(), len32) == 0 }
    }

    /// Append `len` bytes copied from `src`, chaining fresh segments from
    /// `pool` as the last one fills, up to `max_segs` segments. On `Err`
    /// part of it may have been appended (drop the packet).
    ///
    /// # Safety
    /// `src` must be valid for reads of `len` bytes.
    pub unsafe fn append_from(
        &mut self,
        pool: &Mempool,
        src: *const u8,
        len: usize,
        max_segs: usize,
    ) -> Result<(), AppendError> {
        let mut done = 0usize;
        while done < len {
            let room = self.tailroom();
            if room == 0 {
                if usize::from(self.segments()) >= max_segs {
                    return Err(AppendError::TooLong);
                }
                let seg = pool.alloc().ok_or(AppendError::NoMbuf)?;
                self.chain(seg).map_err(|_| AppendError::TooLong)?;
                continue;
            }
            let n = room.min(len - done);
            let dst = self.append(n).ok_or(AppendError::TooLong)?;
            // SAFETY: the caller vouches for `src..src + len`; `dst` is `n`
            // fresh bytes of our last segment.
            unsafe { std::ptr::copy_nonoverlapping(src.add(done), dst.as_mut_ptr(), n) };
            done += n;
        }
        Ok(())
    }

    /// Bytes that can still be appended to the last segment.
    #[inline]
    pub fn tailroom(&self) -> usize {
        let mut last = self.0.as_ptr();
        // SAFETY: valid owned chain; `next` links stay inside it.
        unsafe {
            while !sys::dpn_pktmbuf_next(last).is_null() {
                last = sys::dpn_pktmbuf_next(last);
            }
            usize::from(sys::dpn_pktmbuf_tailroom(last))
        }
    }

    /// Whether the first segment is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The packet bytes of the first segment.
    #[inline]
    pub fn data(&self) -> &[u8] {
        // SAFETY: mtod points at data_len initialised bytes inside the mbuf's
        // buffer, which we own for the lifetime of &self.
        unsafe { std::slice::from_raw_parts(sys::dpn_pktmbuf_mtod(self.0.as_ptr()) as *const u8, self.len()) }
    }

    /// The packet bytes of the first segment, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in data(), and &mut self gives exclusive access.
        unsafe { std::slice::from_raw_parts_mut(sys::dpn_pktmbuf_mtod(self.0.as_ptr()) as *mut u8, self.len()) }
    }

    /// Grow the packet at its end by `len` bytes; `None` if no tailroom.
    #[inline]
    pub fn append(&mut self, len: usize) -> Option<&mut [u8]> {
        let len16 = u16::try_from(len).ok()?;
        // SAFETY: append returns NULL or a pointer to `len` writable bytes at
        // the end of our buffer.
        let p = unsafe { sys::dpn_pktmbuf_append(self.0.as_ptr(), len16) };
        if p.is_null() {
            return None;
        }
        // SAFETY: see above; the bytes belong to our mbuf.
        Some(unsafe { std::slice::from_raw_parts_mut(p as *mut u8, len) })
    }

    /// Grow the packet at its front by `len` bytes (into the headroom);
    /// `None` if the headroom is too small.
    #[inline]
    pub fn prepend(&mut self, len: usize) -> Option<&mut [u8]> {
        let len16 = u16::try_from(len).ok()?;
        // SAFETY: prepend returns NULL or a pointer to `len` writable bytes at
        // the new start of our buffer.
        let p = unsafe { sys::dpn_pktmbuf_prepend(self.0.as_ptr(), len16) };
        if p.is_null() {
            return None;
        }
        // SAFETY: see above; the bytes belong to our mbuf.
        Some(unsafe { std::slice::from_raw_parts_mut(p as *mut u8, len) })
    }

    /// Remove `len` bytes from the front of the packet (e.g. a header).
    #[inline]
    pub fn adj(&mut self, len: usize) -> bool {
        let Ok(len16) = u16::try_from(len) else { return false };
        // SAFETY: valid owned mbuf; adj checks bounds and returns NULL if not.
        !unsafe { sys::dpn_pktmbuf_adj(self.0.as_ptr(), len16) }.is_null()
    }

    /// Cut `len` bytes from the end of the packet.
    #[inline]
    pub fn trim(&mut self, len: usize) -> bool {
        let Ok(len16) = u16::try_from(len) else { return false };
        // SAFETY: valid owned mbuf; trim checks bounds.
        unsafe { sys::dpn_pktmbuf_trim(self.0.as_ptr(), len16) == 0 }
    }

    /// Set the packet length to `len` (shrink only, or grow within tailroom).
    pub fn set_len(&mut self, len: usize) -> bool {
        let cur = self.len();
        if len <= cur {
            self.trim(cur - len)
        } else {
            self.append(len - cur).is_some()
        }
    }

    /// Reset to an empty packet with default headroom.
    #[inline]
    pub fn reset(&mut self) {
        // SAFETY: valid owned mbuf.
        unsafe { sys::dpn_pktmbuf_reset(self.0.as_ptr()) }
    }

    /// The RSS hash the NIC computed (0 if none).
    #[inline]
    pub fn rss_hash(&self) -> u32 {
        // SAFETY: valid owned mbuf.
        unsafe { sys::dpn_pktmbuf_rss_hash(self.0.as_ptr()) }
    }

    /// The offload flags (`ol_flags`): rx verdicts and hash validity on a
    /// received mbuf, tx requests on an outgoing one.
    #[inline]
    pub fn ol_flags(&self) -> u64 {
        // SAFETY: valid owned mbuf.
        unsafe { sys::dpn_pktmbuf_ol_flags(self.0.as_ptr()) }
    }

    /// The NIC's RSS hash, if it delivered one (`RTE_MBUF_F_RX_RSS_HASH`);
    /// unlike [`Mbuf::rss_hash`], a hash of 0 is told apart from none.
    #[inline]
    pub fn nic_rss_hash(&self) -> Option<u32> {
        (self.ol_flags() & ol::RX_RSS_HASH != 0).then(|| self.rss_hash())
    }

    /// The NIC's verdicts on the IP and L4 checksums of a received packet
    /// (all unknown unless the port has rx checksum offload on).
    #[inline]
    pub fn rx_csum(&self) -> RxCsum {
        rx_csum_from_ol_flags(self.ol_flags())
    }

    /// Ask the NIC to fill the checksums `req` names when this packet is
    /// sent; `l2_len` is the length of the link header in front of the IPv4
    /// header by the time it reaches the NIC. Prepare the fields first with
    /// [`wire::offload::tx_csum_prepare`] (IPv6: `tx_csum_prepare6`), and only ask a port that has the
    /// offload ([`crate::port::Port::offloads`]).
    #[inline]
    pub fn request_tx_csum(&mut self, l2_len: u16, req: TxCsumRequest) {
        if req.is_empty() {
            return;
        }
        let l4 = match req.l4 {
            None => 0,
            Some(L4Csum::Tcp) => 1,
            Some(L4Csum::Udp) => 2,
        };
        if req.ipv6 {
            // SAFETY: as below.
            return unsafe { sys::dpn_pktmbuf_tx_offload6(self.0.as_ptr(), l2_len, req.l3_len, l4) };
        }
        // SAFETY: valid owned mbuf; the shim only sets l2/l3 lengths and
        // ol_flags bits.
        unsafe { sys::dpn_pktmbuf_tx_offload(self.0.as_ptr(), l2_len, req.l3_len, i32::from(req.ip), l4) }
    }

    /// Ask the NIC to cut this IPv4/TCP frame into segments of `seg_size`
    /// payload bytes (TSO: `RTE_MBUF_F_TX_TCP_SEG` with the IPv4 checksum
    /// asked too); the header lengths are the frame's by the time it
    /// reaches the NIC. Prepare the headers first
    /// ([`net::gso::tso_prepare`]), and only ask a port with TSO on.
    #[inline]
    pub fn request_tso(&mut self, l2_len: u16, l3_len: u16, l4_len: u16, seg_size: u16) {
        // SAFETY: valid owned mbuf; the shim only sets the tx offload
        // lengths and ol_flags bits.
        unsafe { sys::dpn_pktmbuf_tx_tso(self.0.as_ptr(), l2_len, l3_len, l4_len, seg_size) }
    }

    /// A deep copy (packet bytes and metadata: flags, RSS hash, tx offload
    /// fields) in a new mbuf from `pool`; `None` if the pool is empty.
    #[inline]
    pub fn copy(&self, pool: &Mempool) -> Option<Mbuf> {
        // SAFETY: valid source mbuf we own (read only) and a valid pool; the
        // copy, if any, is a fresh mbuf nobody else owns.
        let m = unsafe { sys::dpn_pktmbuf_copy(self.0.as_ptr(), pool.as_ptr()) };
        // SAFETY: see above.
        NonNull::new(m).map(|m| unsafe { Mbuf::from_raw(m) })
    }
}

/// Why [`Mbuf::append_from`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendError {
    /// The pool had no mbuf for another segment.
    NoMbuf,
    /// The chain would exceed its segment limit.
    TooLong,
}

/// The segments of a packet as byte slices ([`Mbuf::segs`]).
pub struct Segs<'a> {
    seg: *mut sys::rte_mbuf,
    _chain: std::marker::PhantomData<&'a Mbuf>,
}

impl Segs<'_> {
    /// Whether every segment has been yielded.
    #[inline]
    pub fn is_done(&self) -> bool {
        self.seg.is_null()
    }
}

impl<'a> Iterator for Segs<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.seg.is_null() {
            return None;
        }
        let m = self.seg;
        // SAFETY: `m` is a segment of a chain borrowed for 'a; its data_len
        // bytes at mtod are initialised, and `next` is NULL or the next one.
        unsafe {
            self.seg = sys::dpn_pktmbuf_next(m);
            let len = sys::dpn_pktmbuf_data_len(m) as usize;
            Some(std::slice::from_raw_parts(sys::dpn_pktmbuf_mtod(m) as *const u8, len))
        }
    }
}

/// The segments of a packet as writable byte slices ([`Mbuf::segs_mut`]).
pub struct SegsMut<'a> {
    seg: *mut sys::rte_mbuf,
    _chain: std::marker::PhantomData<&'a mut Mbuf>,
}

impl<'a> Iterator for SegsMut<'a> {
    type Item = &'a mut [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a mut [u8]> {
        if self.seg.is_null() {
            return None;
        }
        let m = self.seg;
        // SAFETY: as in `Segs`, with the chain borrowed exclusively; each
        // segment is yielded once and their data areas are disjoint.
        unsafe {
            self.seg = sys::dpn_pktmbuf_next(m);
            let len = sys::dpn_pktmbuf_data_len(m) as usize;
            Some(std::slice::from_raw_parts_mut(sys::dpn_pktmbuf_mtod(m) as *mut u8, len))
        }
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf; it returns to its pool.
        unsafe { sys::dpn_pktmbuf_free(self.0.as_ptr()) }
    }
}

/// A burst of raw mbuf pointers on the stack.
pub struct Burst {
    pkts: [*mut sys::rte_mbuf; BURST],
    len: usize,
}

// SAFETY: a burst owns the mbufs it holds (like a Vec<Mbuf>); moving it to
// another thread moves that ownership, which is how Mbuf itself is Send.
unsafe impl Send for Burst {}

impl Default for Burst {
    fn default() -> Self {
        Burst { pkts: [std::ptr::null_mut(); BURST], len: 0 }
    }
}

impl Burst {
    /// Packets currently held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the burst is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the burst is full.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len == BURST
    }

    /// Add a packet; gives it back when full.
    #[inline]
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        if self.is_full() {
            return Err(m);
        }
        self.pkts[self.len] = m.into_raw();
        self.len += 1;
        Ok(())
    }

    /// Raw access for rx: the free slots to fill.
    #[inline]
    pub(crate) fn raw_mut(&mut self) -> &mut [*mut sys::rte_mbuf; BURST] {
        &mut self.pkts
    }

    /// Raw access: the held packets.
    #[inline]
    pub(crate) fn raw(&self) -> &[*mut sys::rte_mbuf] {
        &self.pkts[..self.len]
    }

    /// Set the number of held packets after a raw rx.
    #[inline]
    pub(crate) fn set_len(&mut self, n: usize) {
        debug_assert!(n <= BURST);
        self.len = n;
    }

    /// Drop the first `n` packets from the front, keeping the rest in order
    /// (after a partial tx).
    #[inline]
    pub(crate) fn consume_front(&mut self, n: usize) {
        self.pkts.copy_within(n..self.len, 0);
        self.len -= n;
    }

    /// The held packets, borrowed.
    #[inline]
    pub fn iter(&self) -> impl Iterator<Item = &Mbuf> + '_ {
        // SAFETY: `Mbuf` is a transparent wrapper of a non-null mbuf pointer,
        // and slots 0..len hold valid mbufs we own; the borrow keeps them.
        let held: &[Mbuf] = unsafe { std::slice::from_raw_parts(self.pkts.as_ptr().cast::<Mbuf>(), self.len) };
        held.iter()
    }

    /// Free the first `n` packets (a PMD of ours copied them out) and keep
    /// the rest in order.
    #[inline]
    pub(crate) fn drop_front(&mut self, n: usize) {
        let n = n.min(self.len);
        for &p in &self.pkts[..n] {
            // SAFETY: slots 0..len hold valid mbufs we own; they are
            // forgotten by `consume_front` right after.
            drop(unsafe { Mbuf::from_raw(NonNull::new_unchecked(p)) });
        }
        self.consume_front(n);
    }

    /// Take the first packet out.
    #[inline]
    pub fn take_front(&mut self) -> Option<Mbuf> {
        if self.len == 0 {
            return None;
        }
        // SAFETY: slot 0 holds a valid mbuf we own; it leaves the burst.
        let m = unsafe { Mbuf::from_raw(NonNull::new_unchecked(self.pkts[0])) };
        self.consume_front(1);
        Some(m)
    }

    /// Take every packet out as owned mbufs, in order.
    #[inline]
    pub fn drain(&mut self) -> impl Iterator<Item = Mbuf> + '_ {
        let n = self.len;
        self.len = 0;
        // SAFETY: slots 0..n hold valid mbufs we own; ownership moves to the
        // returned Mbufs and the burst forgets them (len = 0).
        self.pkts[..n].iter().map(|&p| unsafe { Mbuf::from_raw(NonNull::new_unchecked(p)) })
    }
}

impl Drop for Burst {
    fn drop(&mut self) {
        for m in self.drain() {
            drop(m);
        }
    }
}
