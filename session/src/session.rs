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
//! sees half a datagram.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use crate::app_worker::AppWorkerShared;
use crate::fifo::Fifo;
use crate::segment::{FifoHandle, FifoPair, SegmentError};
use crate::transport::TransportProto;

/// A session's name: worker index (high 32 bits) and pool index (low 32).
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionHandle(pub u64);

impl SessionHandle {
    /// The worker half of every listener handle.
    pub const LISTENER_THREAD: u32 = u32::MAX;
    /// No session.
    pub const INVALID: SessionHandle = SessionHandle(u64::MAX);

    /// The handle of session `index` on worker `worker`.
    pub const fn new(worker: u32, index: u32) -> Self {
        SessionHandle(((worker as u64) << 32) | index as u64)
    }

    /// The handle of app listener `index`.
    pub const fn listener(index: u32) -> Self {
        Self::new(Self::LISTENER_THREAD, index)
    }

    /// Worker (thread) index; [`Self::LISTENER_THREAD`] for listeners.
    pub const fn worker(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// Pool index (session pool of the worker, or the listener pool).
    pub const fn index(self) -> u32 {
        self.0 as u32
    }

    /// Whether this names an app listener rather than a session.
    pub const fn is_listener(self) -> bool {
        self.worker() == Self::LISTENER_THREAD && self.0 != u64::MAX
    }
}

impl fmt::Display for SessionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_listener() {
            write!(f, "L{}", self.index())
        } else {
            write!(f, "{}:{}", self.worker(), self.index())
        }
    }
}

impl fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionHandle({self}, {:#x})", self.0)
    }
}

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

/// The fifo pair of a session, as views the worker can use at any time.
pub struct SessionFifos {
    /// Node to app.
    pub rx: Fifo<'static>,
    /// App to node.
    pub tx: Fifo<'static>,
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
        // SAFETY: the pair was just allocated for this session alone: the
        // node is the only producer of rx and the only consumer of tx (the
        // app takes the other ends). The views stay valid while the segment
        // is mapped, which `owner` (kept in the returned value) guarantees
        // until the pair is freed, and `free` drops the views first.
        match unsafe { (owner.fifo_static(pair.rx), owner.fifo_static(pair.tx)) } {
            (Ok(rx), Ok(tx)) => Ok(SessionFifos { rx, tx, pair, owner: owner.clone(), frees: true }),
            (Err(e), _) | (_, Err(e)) => {
                owner.free_fifo_pair(pair);
                Err(e)
            }
        }
    }

    /// The other side of a cut-through: the same pair with rx and tx swapped.
    pub fn mirror(&self) -> Result<SessionFifos, SegmentError> {
        let pair = FifoPair { rx: self.pair.tx, tx: self.pair.rx };
        // SAFETY: the cut-through client consumes what the server's tx
        // produces and produces what the server's rx consumes; each end has
        // one producer and one consumer (the two sessions, on one worker).
        // `owner` keeps the segment mapped for as long as these views live.
        let views = unsafe { (self.owner.fifo_static(pair.rx), self.owner.fifo_static(pair.tx)) };
        let (rx, tx) = (views.0?, views.1?);
        Ok(SessionFifos { rx, tx, pair, owner: self.owner.clone(), frees: false })
    }

    /// Drops the views and, if this side owns the pair, returns it to its segment manager.
    pub fn free(self) {
        // Consuming `self` ends the views (they own nothing and have no
        // `Drop`), so none can be used once the pair is freed below.
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
    pub local: SocketAddrV4,
    /// Remote endpoint.
    pub remote: SocketAddrV4,
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

    /// The rx fifo view; sessions always have fifos until they are freed.
    pub fn rx(&self) -> &Fifo<'static> {
        &self.fifos.as_ref().expect("session fifos").rx
    }

    /// The tx fifo view.
    pub fn tx(&self) -> &Fifo<'static> {
        &self.fifos.as_ref().expect("session fifos").tx
    }
}

/// The header in front of every datagram in a datagram session's fifos.
///
/// Layout (16 bytes, little endian, as the app's client library reads it):
/// payload length (u32), remote IPv4 (4 bytes, network order), remote port
/// (u16), local port (u16), local IPv4 (4 bytes, network order).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct DgramHeader {
    /// Payload bytes that follow.
    pub len: u32,
    /// Remote endpoint (source for rx, destination for tx).
    pub remote: SocketAddrV4,
    /// Local endpoint.
    pub local: SocketAddrV4,
}

impl DgramHeader {
    /// Encoded size.
    pub const SIZE: usize = 16;

    /// Encodes into 16 bytes.
    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..4].copy_from_slice(&self.len.to_le_bytes());
        b[4..8].copy_from_slice(&self.remote.ip().octets());
        b[8..10].copy_from_slice(&self.remote.port().to_le_bytes());
        b[10..12].copy_from_slice(&self.local.port().to_le_bytes());
        b[12..16].copy_from_slice(&self.local.ip().octets());
        b
    }

    /// Decodes 16 bytes.
    pub fn decode(b: &[u8; Self::SIZE]) -> DgramHeader {
        let ip = |o: usize| Ipv4Addr::new(b[o], b[o + 1], b[o + 2], b[o + 3]);
        let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
        DgramHeader {
            len: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            remote: SocketAddrV4::new(ip(4), u16_at(8)),
            local: SocketAddrV4::new(ip(12), u16_at(10)),
        }
    }
}

/// Enqueues one datagram (header + payload) so the consumer sees all of it or none; false if it does not fit.
pub fn dgram_enqueue(fifo: &mut Fifo<'_>, hdr: &DgramHeader, payload: &[u8]) -> bool {
    let total = DgramHeader::SIZE + payload.len();
    if fifo.max_enqueue() < total {
        return false;
    }
    let h = hdr.encode();
    let (a, b) = fifo.writable_slices();
    // Copy header then payload across the (possibly split) free space.
    let mut src = h.iter().chain(payload.iter());
    let mut n = 0;
    for slot in a.iter_mut().chain(b.iter_mut()).take(total) {
        *slot = *src.next().expect("sized above");
        n += 1;
    }
    fifo.commit(n) == total
}

/// Reads the header of the first whole datagram in `fifo` without removing it.
pub fn dgram_peek_header(fifo: &Fifo<'_>) -> Option<DgramHeader> {
    let mut h = [0u8; DgramHeader::SIZE];
    if fifo.peek(0, &mut h) < DgramHeader::SIZE {
        return None;
    }
    let hdr = DgramHeader::decode(&h);
    (fifo.max_dequeue() >= DgramHeader::SIZE + hdr.len as usize).then_some(hdr)
}

/// Removes the first datagram, copying up to `buf.len()` payload bytes; returns the header.
///
/// A payload longer than `buf` is truncated (the rest is dropped), as a
/// datagram socket does.
pub fn dgram_dequeue(fifo: &Fifo<'_>, buf: &mut [u8]) -> Option<(DgramHeader, usize)> {
    let hdr = dgram_peek_header(fifo)?;
    let n = (hdr.len as usize).min(buf.len());
    fifo.peek(DgramHeader::SIZE, &mut buf[..n]);
    fifo.dequeue_drop(DgramHeader::SIZE + hdr.len as usize);
    Some((hdr, n))
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::fifo::TestMem;

    #[test]
    fn handles_pack_worker_and_index() {
        let h = SessionHandle::new(3, 77);
        assert_eq!(h.0, (3u64 << 32) | 77);
        assert_eq!((h.worker(), h.index(), h.is_listener()), (3, 77, false));
        let l = SessionHandle::listener(5);
        assert!(l.is_listener());
        assert_eq!(l.index(), 5);
        assert!(!SessionHandle::INVALID.is_listener());
        assert_eq!(h.to_string(), "3:77");
        assert_eq!(l.to_string(), "L5");
    }

    #[test]
    fn dgram_header_round_trip() {
        let h = DgramHeader {
            len: 1234,
            remote: "198.18.0.1:5353".parse().unwrap(),
            local: "198.18.0.2:7".parse().unwrap(),
        };
        let b = h.encode();
        assert_eq!(&b[0..4], &1234u32.to_le_bytes());
        assert_eq!(&b[4..8], &[198, 18, 0, 1]);
        assert_eq!(DgramHeader::decode(&b), h);
    }

    #[test]
    fn datagrams_are_whole_or_absent_and_wrap() {
        let size = 256u32;
        let mem = TestMem::new(Fifo::footprint(size));
        // SAFETY: fresh test memory, one view used as producer and consumer on one thread.
        let mut f = unsafe { Fifo::init(mem.ptr(), size) }.unwrap();
        let hdr = |len| DgramHeader { len, remote: "1.2.3.4:5".parse().unwrap(), local: "6.7.8.9:10".parse().unwrap() };
        let mut buf = [0u8; 300];
        for round in 0..50u32 {
            let len = 20 + (round * 13) % 100;
            let payload: Vec<u8> = (0..len).map(|i| (i + round) as u8).collect();
            assert!(dgram_enqueue(&mut f, &hdr(len), &payload));
            let (h, n) = dgram_dequeue(&f, &mut buf).unwrap();
            assert_eq!((h.len, n), (len, len as usize));
            assert_eq!(&buf[..n], &payload[..]);
        }
        // Too big for what is free: refused, nothing written.
        assert!(!dgram_enqueue(&mut f, &hdr(250), &[0; 250]));
        assert!(f.is_empty());
        // Truncation drops the rest of the datagram.
        assert!(dgram_enqueue(&mut f, &hdr(40), &[9; 40]));
        assert!(dgram_enqueue(&mut f, &hdr(3), &[1, 2, 3]));
        let (h, n) = dgram_dequeue(&f, &mut buf[..10]).unwrap();
        assert_eq!((h.len, n), (40, 10));
        let (h, n) = dgram_dequeue(&f, &mut buf).unwrap();
        assert_eq!((h.len, &buf[..n]), (3, &[1u8, 2, 3][..]));
        assert!(dgram_dequeue(&f, &mut buf).is_none());
    }
}
