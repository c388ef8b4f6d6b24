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
}

// SAFETY: rte_mempool is designed for concurrent use from many lcores; the
// pointer stays valid until Drop, which needs exclusive ownership.
unsafe impl Send for Mempool {}
// SAFETY: as above, all operations used through &Mempool are thread-safe.
unsafe impl Sync for Mempool {}

/// Data room per mbuf: 2 KiB of packet plus the default headroom.
pub const DEFAULT_DATA_ROOM: u16 = 2048 + 128;

impl Mempool {
    /// Create a pool of `count` mbufs with a per-lcore cache of `cache`.
    pub fn new(name: &str, count: u32, cache: u32, socket: i32) -> Result<Self, MempoolError> {
        let cname = CString::new(name).expect("pool name has no NUL");
        // SAFETY: cname is a valid string; the EAL is initialised (pools are
        // only created by the node after Eal::init).
        let raw = unsafe { sys::rte_pktmbuf_pool_create(cname.as_ptr(), count, cache, 0, DEFAULT_DATA_ROOM, socket) };
        NonNull::new(raw).map(|raw| Mempool { raw, name: name.to_string() }).ok_or_else(|| MempoolError::Create {
            name: name.to_string(),
            count,
            reason: last_error(),
        })
    }

    /// The raw pointer, for queue setup.
    pub fn as_ptr(&self) -> *mut sys::rte_mempool {
        self.raw.as_ptr()
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
