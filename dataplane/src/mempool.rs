//! Packet-buffer pools (`rte_pktmbuf_pool_create`).

use std::ffi::CString;
use std::ptr::NonNull;

use dpdk_sys as sys;

use crate::eal::last_error;
use crate::mbuf::Mbuf;

/// Errors creating a pool.
#[derive(Debug, thiserror::Error)]
pub enum MempoolError {
    /// DPDK refused to create the pool.
    #[error("cannot create mbuf pool {name:?} ({count} mbufs): {reason}")]
    Create {
        /// Pool name.
        name: String,
        /// Requested mbuf count.
        count: u32,
        /// DPDK's reason.
        reason: String,
    },
}

/// An mbuf pool. Workers share one pool and each has its own lcore cache.
pub struct Mempool {
    raw: NonNull<sys::rte_mempool>,
    name: String,
    data_room: u16,
}

// SAFETY: rte_mempool is designed for concurrent use from many lcores; the
// pointer stays valid until Drop, which needs exclusive ownership.
unsafe impl Send for Mempool {}
// SAFETY: as above, all operations used through &Mempool are thread-safe.
unsafe impl Sync for Mempool {}

/// Data room per mbuf: 2 KiB of packet plus the default headroom.
pub const DEFAULT_DATA_ROOM: u16 = 2048 + 128;

/// DPDK's default mbuf headroom (`RTE_PKTMBUF_HEADROOM`).
const HEADROOM: u16 = 128;

/// Room past the MTU in one mbuf: the Ethernet header and a VLAN tag on
/// receive, and on transmit the TCP/IP headers a full-MSS segment is built
/// behind (see the TCP transport's `HEADROOM`), with margin.
const FRAME_SLACK: u16 = 128;

/// The data room an mbuf needs so that a whole frame of an interface with
/// IP MTU `mtu` fits in one segment: [`DEFAULT_DATA_ROOM`] up to a
/// 1500-byte MTU (and a little beyond), more for jumbo frames.
pub fn data_room_for_mtu(mtu: u16) -> u16 {
    DEFAULT_DATA_ROOM.max(HEADROOM.saturating_add(mtu).saturating_add(FRAME_SLACK))
}

impl Mempool {
    /// Create a pool of `count` mbufs with a per-lcore cache of `cache`.
    pub fn new(name: &str, count: u32, cache: u32, socket: i32) -> Result<Self, MempoolError> {
        Mempool::with_data_room(name, count, cache, socket, DEFAULT_DATA_ROOM)
    }

    /// [`Mempool::new`] with `data_room` bytes per mbuf (headroom
    /// included; see [`data_room_for_mtu`]).
    pub fn with_data_room(
        name: &str,
        count: u32,
        cache: u32,
        socket: i32,
        data_room: u16,
    ) -> Result<Self, MempoolError> {
        let cname = CString::new(name).expect("pool name has no NUL");
        // SAFETY: cname is a valid string; the EAL is initialised (pools are
        // only created by the node after Eal::init).
        let raw = unsafe { sys::rte_pktmbuf_pool_create(cname.as_ptr(), count, cache, 0, data_room, socket) };
        NonNull::new(raw)
            .map(|raw| Mempool { raw, name: name.to_string(), data_room })
            .ok_or_else(|| MempoolError::Create { name: name.to_string(), count, reason: last_error() })
    }

    /// The raw pointer, for queue setup.
    pub fn as_ptr(&self) -> *mut sys::rte_mempool {
        self.raw.as_ptr()
    }

    /// Bytes per mbuf, headroom included.
    pub fn data_room(&self) -> u16 {
        self.data_room
    }

    /// Bytes of a received frame one mbuf holds (its room past the headroom).
    pub fn frame_room(&self) -> usize {
        usize::from(self.data_room.saturating_sub(HEADROOM))
    }

    /// Pool name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Mbufs free in the pool (including lcore caches).
    pub fn available(&self) -> u32 {
        // SAFETY: valid pool pointer.
        unsafe { sys::dpn_mempool_avail(self.raw.as_ptr()) }
    }

    /// Mbufs currently handed out.
    pub fn in_use(&self) -> u32 {
        // SAFETY: valid pool pointer.
        unsafe { sys::dpn_mempool_in_use(self.raw.as_ptr()) }
    }

    /// Allocate one mbuf (control paths and packet building).
    #[inline]
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: valid pool; the returned mbuf (if any) is owned by us.
        let m = unsafe { sys::dpn_pktmbuf_alloc(self.raw.as_ptr()) };
        // SAFETY: a freshly allocated mbuf is exclusively ours.
        NonNull::new(m).map(|m| unsafe { Mbuf::from_raw(m) })
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        // SAFETY: no mbuf from this pool is in flight any more: ports are
        // stopped and workers joined before pools are dropped.
        unsafe { sys::rte_mempool_free(self.raw.as_ptr()) }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn data_room_grows_only_past_the_default_and_fits_a_jumbo_frame_and_segment() {
        assert_eq!(data_room_for_mtu(1500), DEFAULT_DATA_ROOM);
        assert_eq!(data_room_for_mtu(68), DEFAULT_DATA_ROOM);
        let r = data_room_for_mtu(9000);
        // A received frame (Ethernet + VLAN + MTU) behind the headroom.
        assert!(usize::from(r) >= 128 + 14 + 4 + 9000, "{r}");
        // A full-MSS TCP segment built behind its TCP/IPv4 header room (80).
        assert!(usize::from(r) >= 128 + 80 + (9000 - 40), "{r}");
        assert_eq!(data_room_for_mtu(u16::MAX), u16::MAX);
    }
}
