//! Sessions: the per-worker objects that tie an application to a transport
//! connection through a pair of fifos.
//!
//! A session lives in the pool of the data-plane worker whose queues carry
//! its packets, and is named by a [`SessionHandle`]: the worker index in the
//! high 32 bits and the pool index in the low 32, so any thread can tell
//! who owns a session without a lookup (VPP's `session_handle`). Listeners
//! are not per-worker objects; their handles carry [`SessionHandle::LISTENER_THREAD`]
//! in the worker half, so the two kinds can never be confused.
//!
//! The fifos of a session come from the segment manager of the app worker
//! that owns them (for a cut-through session, the server's). The session
//! keeps that app worker's shared state alive through an `Arc`, which is what
//! keeps the segment mapped while the session's fifo views exist.
//!
//! Datagram sessions (UDP) frame each datagram in the fifos with a
//! [`DgramHeader`], written together with its payload so the consumer never
//! sees half a datagram (the framing lives in [`shm::dgram`], because
//! external applications read and write it too).

use std::net::SocketAddr;
use std::sync::Arc;

use shm::types::TransportProto;

use crate::app_worker::AppWorkerShared;
use crate::fifo::{FifoConsumer, FifoProducer};
use crate::segment::{FifoHandle, FifoPair, MappedConsumer, MappedProducer, SegmentError};

pub use shm::dgram::{dgram_dequeue, dgram_enqueue, dgram_peek_header, DgramHeader};

/// Where a session is in its life (VPP's `session_state_t`, trimmed).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// Active open in progress: the transport has not confirmed yet.
    Connecting,
    /// Created by a listener; the app has not accepted it yet.
    Accepting,
    /// Open: data flows both ways.
    Ready,
    /// The peer closed (or the transport is closing): the app was told and
    /// has not closed its side yet.
    TransportClosing,
    /// The app closed; the transport is finishing (FIN exchange).
    Closing,
    /// The transport is done; the session is about to be freed.
    Closed,
}

impl SessionState {
    /// Lower-case name for the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Connecting => "connecting",
            SessionState::Accepting => "accepting",
            SessionState::Ready => "ready",
            SessionState::TransportClosing => "transport-closing",
            SessionState::Closing => "closing",
            SessionState::Closed => "closed",
        }
    }
}

/// The fifo pair of a session, as ends the worker can use at any time.
///
/// Each fifo has its two ends here: the node's (the transport produces rx
/// and consumes tx) and the app's (a builtin app, or the worker acting for
/// one, consumes rx and produces tx; an external app maps its own ends and
/// leaves these unused). In a cut-through pair one session's tx is the
/// other's rx, so the peer app's tx end produces this session's rx.
pub struct SessionFifos {
    /// Node to app, the producer end (the transport's).
    pub rx: MappedProducer,
    /// App to node, the consumer end (the transport's).
    pub tx: MappedConsumer,
    /// Node to app, the consumer end (a builtin app's).
    pub app_rx: MappedConsumer,
    /// App to node, the producer end (a builtin app's).
    pub app_tx: MappedProducer,
    /// The pair as allocated (for a cut-through client: the server's pair, swapped).
    pub pair: FifoPair,
    /// Owner of the segment the fifos live in; keeps it mapped.
    pub owner: Arc<AppWorkerShared>,
    /// Whether this side frees the pair (the other side of a cut-through does not).
    pub frees: bool,
}

impl SessionFifos {
    /// Allocates a fifo pair from `owner`'s segment manager.
    pub fn alloc(owner: &Arc<AppWorkerShared>) -> Result<SessionFifos, SegmentError> {
        let pair = owner.alloc_fifo_pair()?;
        Self::views(owner, pair)
    }

    /// Allocates a pair with fifos of these sizes (see
    /// [`crate::segment::SegmentManager::alloc_fifo_pair_sized`]).
    pub fn alloc_sized(owner: &Arc<AppWorkerShared>, rx_size: u32, tx_size: u32) -> Result<SessionFifos, SegmentError> {
        let pair = owner.alloc_fifo_pair_sized(rx_size, tx_size)?;
        Self::views(owner, pair)
    }

    fn views(owner: &Arc<AppWorkerShared>, pair: FifoPair) -> Result<SessionFifos, SegmentError> {
        // SAFETY: the pair was just allocated for this session alone: the
        // node is the only producer of rx and the only consumer of tx, the
        // app (builtin through `app_rx`/`app_tx`, or external through its
        // own mapping, never both) the other ends; `free` drops the ends
        // before it frees the pair.
        match unsafe { Self::ends(owner, pair) } {
            Ok((rx, tx, app_rx, app_tx)) => {
                Ok(SessionFifos { rx, tx, app_rx, app_tx, pair, owner: owner.clone(), frees: true })
            }
            Err(e) => {
                owner.free_fifo_pair(pair);
                Err(e)
            }
        }
    }

    /// The four ends of `pair`: rx producer, tx consumer, rx consumer, tx producer.
    ///
    /// # Safety
    ///
    /// Each end is the only one of its role in use at a time.
    unsafe fn ends(
        owner: &AppWorkerShared,
        pair: FifoPair,
    ) -> Result<(MappedProducer, MappedConsumer, MappedConsumer, MappedProducer), SegmentError> {
        // SAFETY: forwarded to the caller.
        unsafe {
            Ok((
                owner.mapped_producer(pair.rx)?,
                owner.mapped_consumer(pair.tx)?,
                owner.mapped_consumer(pair.rx)?,
                owner.mapped_producer(pair.tx)?,
            ))
        }
    }

    /// The other side of a cut-through: the same pair with rx and tx swapped.
    pub fn mirror(&self) -> Result<SessionFifos, SegmentError> {
        let pair = FifoPair { rx: self.pair.tx, tx: self.pair.rx };
        // SAFETY: the cut-through client consumes what the server's tx
        // produces and produces what the server's rx consumes; each fifo has
        // one producer and one consumer in use (the two apps, on one worker).
        // The ends hold the segment's mapping, whichever side goes first.
        let (rx, tx, app_rx, app_tx) = unsafe { Self::ends(&self.owner, pair) }?;
        Ok(SessionFifos { rx, tx, app_rx, app_tx, pair, owner: self.owner.clone(), frees: false })
    }

    /// Drops the views and, if this side owns the pair, returns it to its segment manager.
    pub fn free(self) {
        // Consuming `self` drops the views, so none can be used once the
        // pair is freed below.
        let SessionFifos { pair, owner, frees, .. } = self;
        if frees {
            owner.free_fifo_pair(pair);
        }
    }

    /// The handle of the rx fifo (as the app will name it).
    pub fn rx_handle(&self) -> FifoHandle {
        self.pair.rx
    }
}

/// One session.
pub struct Session {
    /// Index in the worker's pool.
    pub index: u32,
    /// Generation of the pool slot.
    pub generation: u32,
    /// Life-cycle state.
    pub state: SessionState,
    /// Transport under it.
    pub proto: TransportProto,
    /// Index of the connection in the transport's per-worker table.
    pub conn: u32,
    /// App worker (index in the control tables) that gets its events.
    pub app_wrk: u32,
    /// The app worker's shared state (events go through it).
    pub app: Arc<AppWorkerShared>,
    /// App listener it was accepted from, if any.
    pub listener: Option<u32>,
    /// The app's value from its connect call (0 for accepted sessions).
    pub opaque: u64,
    /// Local endpoint.
    pub local: SocketAddr,
    /// Remote endpoint.
    pub remote: SocketAddr,
    /// Its fifos; `None` only while being torn down.
    pub fifos: Option<SessionFifos>,
    /// The app asked to hear when tx room frees up.
    pub want_tx_event: bool,
    /// Bytes enqueued towards the app.
    pub rx_bytes: u64,
    /// Bytes the transport took from the app.
    pub tx_bytes: u64,
    /// Datagrams or segments dropped because the rx fifo was full.
    pub rx_dropped: u64,
    /// Creation time (ns since node start).
    pub created_ns: u64,
    /// The app has been told about it (accepted or connected).
    pub announced: bool,
}

impl Session {
    /// Whether the session is a datagram (message-preserving) session.
    pub fn is_dgram(&self) -> bool {
        self.proto.is_dgram()
    }

    /// Whether it came from a connect (rather than an accept).
    pub fn is_client(&self) -> bool {
        self.listener.is_none()
    }

    /// The rx fifo's producer end (the transport's); sessions always have
    /// fifos until they are freed.
    pub fn rx(&self) -> &FifoProducer<'_> {
        &self.fifos.as_ref().expect("session fifos").rx
    }

    /// The tx fifo's consumer end (the transport's).
    pub fn tx(&self) -> &FifoConsumer<'_> {
        &self.fifos.as_ref().expect("session fifos").tx
    }

    /// The rx fifo's consumer end (a builtin app's).
    pub fn app_rx(&self) -> &FifoConsumer<'_> {
        &self.fifos.as_ref().expect("session fifos").app_rx
    }

    /// The tx fifo's producer end (a builtin app's).
    pub fn app_tx(&self) -> &FifoProducer<'_> {
        &self.fifos.as_ref().expect("session fifos").app_tx
    }
}
