//! The node's side of an app worker: its segment manager and its counters,
//! shared between the main thread (which creates and frees it under the
//! barrier) and the data-plane workers (which allocate session fifos from
//! it when sessions are accepted or connected).
//!
//! Fifo pairs are allocated when a session is created, not per packet, so
//! the segment manager sits behind a mutex: the lock is taken once per
//! session open and close, never on the data path. (VPP takes its segment
//! lock at the same points.) Sessions keep an `Arc` of this struct, so the
//! segments stay mapped as long as any session still has fifo views into
//! them, even after the app worker left the control tables.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use shm::types::AttachOptions;

use crate::application::AppWorkerDetail;
use crate::segment::{FifoHandle, FifoPair, MappedFifo, SegmentError, SegmentManager, SegmentManagerConfig};
use crate::snapshot::AppWorkerResourcesSnapshot;

/// How the app worker hears about its sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppWorkerKind {
    /// Rust code in the node, called back on the data-plane workers.
    Builtin,
    /// Another process, reached through shared-memory message queues.
    External,
}

/// An app worker's segments and counters.
#[derive(Debug)]
pub struct AppWorkerShared {
    /// Application index in the control tables.
    pub app_index: u32,
    /// App worker index in the control tables.
    pub wrk_index: u32,
    /// Index of this worker within its application.
    pub wrk_map_index: u32,
    /// Application name (for the CLI and logs).
    pub app_name: String,
    /// Builtin or external.
    pub kind: AppWorkerKind,
    sm: Mutex<SegmentManager>,
    /// Cut-through segments for each client app worker that connected to
    /// this one (by the client's app worker index); see [`Self::ct_owner`].
    ct_peers: Mutex<HashMap<u32, Arc<AppWorkerShared>>>,
    /// Set when the app worker is deleted; sessions still open are being torn down.
    pub deleted: AtomicBool,
    /// Sessions opened for this app worker (accepted or connected), ever.
    pub sessions_opened: AtomicU64,
    /// Sessions freed, ever.
    pub sessions_closed: AtomicU64,
    /// Fifo allocations that failed (segments full and not allowed to grow).
    pub fifo_alloc_failures: AtomicU64,
}

/// The segment manager configuration an app's options ask for.
pub fn segment_config(opts: &AttachOptions) -> SegmentManagerConfig {
    SegmentManagerConfig {
        segment_size: opts.segment_size as usize,
        add_segment_size: if opts.add_segment_size == 0 { opts.segment_size } else { opts.add_segment_size } as usize,
        rx_fifo_size: opts.rx_fifo_size,
        tx_fifo_size: opts.tx_fifo_size,
        prealloc_fifo_pairs: opts.prealloc_fifo_pairs,
        ..SegmentManagerConfig::default()
    }
}

impl AppWorkerShared {
    /// Creates the app worker's first segment (with its preallocated pairs).
    pub fn new(
        app_name: &str,
        opts: &AttachOptions,
        kind: AppWorkerKind,
        app_index: u32,
        wrk_index: u32,
        wrk_map_index: u32,
    ) -> Result<Self, SegmentError> {
        Self::with_config(app_name, segment_config(opts), kind, app_index, wrk_index, wrk_map_index)
    }

    /// Like [`Self::new`], from a segment manager configuration.
    pub fn with_config(
        app_name: &str,
        cfg: SegmentManagerConfig,
        kind: AppWorkerKind,
        app_index: u32,
        wrk_index: u32,
        wrk_map_index: u32,
    ) -> Result<Self, SegmentError> {
        Ok(AppWorkerShared {
            app_index,
            wrk_index,
            wrk_map_index,
            app_name: app_name.to_owned(),
            kind,
            sm: Mutex::new(SegmentManager::new(cfg)?),
            ct_peers: Mutex::new(HashMap::new()),
            deleted: AtomicBool::new(false),
            sessions_opened: AtomicU64::new(0),
            sessions_closed: AtomicU64::new(0),
            fifo_alloc_failures: AtomicU64::new(0),
        })
    }

    /// The owner of the cut-through fifos between this (server) app worker
    /// and client app worker `client`: a segment manager of their own, made
    /// on the first connect, so a client maps only segments it shares with
    /// this server and never the server's other sessions (VPP's cut-through
    /// segments). It lives while any of its sessions does and while both
    /// app workers exist ([`Self::ct_forget`] drops this side's hold).
    pub fn ct_owner(&self, client: &AppWorkerShared) -> Result<Arc<AppWorkerShared>, SegmentError> {
        let mut peers = self.ct_peers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(o) = peers.get(&client.wrk_index) {
            return Ok(o.clone());
        }
        let cfg = SegmentManagerConfig { prealloc_fifo_pairs: 0, ..self.segments().config().clone() };
        let name = format!("{}<->{}", self.app_name, client.app_name);
        let o = Arc::new(Self::with_config(&name, cfg, self.kind, self.app_index, self.wrk_index, self.wrk_map_index)?);
        peers.insert(client.wrk_index, o.clone());
        Ok(o)
    }

    /// Forgets the cut-through segments shared with client app worker `client` (it is gone).
    pub fn ct_forget(&self, client: u32) {
        self.ct_peers.lock().unwrap_or_else(|p| p.into_inner()).remove(&client);
    }

    /// Cut-through segment managers held for clients, and their fifo pairs in use.
    pub fn ct_usage(&self) -> (usize, usize) {
        let peers = self.ct_peers.lock().unwrap_or_else(|p| p.into_inner());
        (peers.len(), peers.values().map(|o| o.usage().1).sum())
    }

    /// The segment manager, locked (control paths and session open/close only).
    pub fn segments(&self) -> MutexGuard<'_, SegmentManager> {
        // A panic while holding the lock leaves the manager consistent (its
        // methods finish their bookkeeping before returning), so poisoning
        // is not a reason to stop serving.
        self.sm.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Allocates a fifo pair for a new session.
    pub fn alloc_fifo_pair(&self) -> Result<FifoPair, SegmentError> {
        let r = self.segments().alloc_fifo_pair();
        match &r {
            Ok(_) => self.sessions_opened.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.fifo_alloc_failures.fetch_add(1, Ordering::Relaxed),
        };
        r
    }

    /// Allocates a fifo pair of other sizes than the configured ones.
    pub fn alloc_fifo_pair_sized(&self, rx_size: u32, tx_size: u32) -> Result<FifoPair, SegmentError> {
        let r = self.segments().alloc_fifo_pair_sized(rx_size, tx_size);
        match &r {
            Ok(_) => self.sessions_opened.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.fifo_alloc_failures.fetch_add(1, Ordering::Relaxed),
        };
        r
    }

    /// Returns a session's fifo pair.
    pub fn free_fifo_pair(&self, pair: FifoPair) {
        self.segments().free_fifo_pair(pair);
        self.sessions_closed.fetch_add(1, Ordering::Relaxed);
    }

    /// A view of fifo `h` that holds its segment's mapping (not tied to the lock's lifetime).
    ///
    /// # Safety
    ///
    /// The fifo must have one producer and one consumer at a time, and the
    /// view must be dropped before the fifo's pair is freed (the memory
    /// stays mapped either way, but a freed pair is handed out again).
    pub unsafe fn mapped_fifo(&self, h: FifoHandle) -> Result<MappedFifo, SegmentError> {
        let sm = self.segments();
        let seg = sm.segment(h.segment).ok_or(SegmentError::NoSuchSegment(h.segment))?;
        // SAFETY: forwarded to the caller (see above); `mapped_fifo` checks
        // the offset and size against the segment and the fifo's magic.
        Ok(unsafe { seg.mapped_fifo(h.offset, h.size) }?)
    }

    /// Live segments and fifo pairs in use (for leak checks and the CLI).
    pub fn usage(&self) -> (usize, usize) {
        let sm = self.segments();
        (sm.segment_count(), sm.fifo_pairs_in_use())
    }

    /// Sessions currently open (opened minus closed).
    pub fn sessions_open(&self) -> u64 {
        let opened = self.sessions_opened.load(Ordering::Relaxed);
        opened.saturating_sub(self.sessions_closed.load(Ordering::Relaxed))
    }
}

impl AppWorkerDetail for std::sync::Arc<AppWorkerShared> {
    fn detail(&self) -> Option<AppWorkerResourcesSnapshot> {
        let sm = self.segments();
        let cfg = sm.config();
        let (ct_clients, ct_pairs) = self.ct_usage();
        Some(AppWorkerResourcesSnapshot {
            segment_sizes: sm.segments().map(|s| s.size() as u64).collect(),
            fifo_pairs_in_use: sm.fifo_pairs_in_use(),
            rx_fifo_size: cfg.rx_fifo_size.into(),
            tx_fifo_size: cfg.tx_fifo_size.into(),
            sessions_open: self.sessions_open(),
            fifo_alloc_failures: self.fifo_alloc_failures.load(Ordering::Relaxed),
            ct_clients,
            ct_pairs,
        })
    }
}
