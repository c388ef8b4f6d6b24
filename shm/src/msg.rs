//! The messages that travel through an external app worker's message
//! queues (`docs/api.md` has the same tables).
//!
//! For every data-plane worker, an app worker has two queues in its first
//! segment: the data-plane worker sends [`Event`]s on one (node → app) and
//! reads [`Request`]s from the other (app → node), so each queue has one
//! producer and one consumer. A message is one queue slot: the slot header
//! carries the kind, the payload is laid out as below (little endian). Every
//! address is a family byte ([`crate::wire::family`]: 4 IPv4, 6 IPv6) and a
//! 16-byte field in network order (an IPv4 address in its first 4 bytes, the
//! rest zero); [`crate::wire::decode_addr`] refuses any other family. Slots are [`SLOT_SIZE`] bytes, so every
//! payload fits in [`MAX_PAYLOAD`].
//!
//! Sessions are named by their 64-bit handle (data-plane worker in the high
//! half, pool index in the low half) plus the pool slot's generation, so a
//! request for a session that is gone (its slot reused) is refused rather
//! than applied to the newcomer. An app sends requests about a session on
//! the queue of the worker in the handle's high half.
//!
//! Fifo locations name segments by id ([`crate::segment::Segment::id`]);
//! a segment the app has not mapped yet arrives as a `SegmentAdd` notice,
//! with its fd, on the API socket.
//!
//! Parsing checks the payload length once and never panics; the node then
//! checks every handle, generation, length and offset against its own state,
//! because an application can write anything into its queues.

use std::net::SocketAddr;

use crate::types::{Cc, Endpoint, Proto, SessionHandle, TransportOptions, TransportProto};
use crate::wire::{
    check_len, get_addr, get_endpoint, get_i32, get_u16, get_u32, get_u64, get_u8, put_addr, put_endpoint, put_i32,
    put_u16, put_u32, put_u64, put_u8, WireError,
};

/// Slot size of every queue (bytes, slot header included).
pub const SLOT_SIZE: u32 = 128;
/// Largest payload of a message.
pub const MAX_PAYLOAD: usize = SLOT_SIZE as usize - 8;
/// "No session" / "no parent" in handle fields.
pub const NO_HANDLE: u64 = u64::MAX;

/// Where a fifo is: segment id, offset in the segment, data size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FifoLoc {
    /// Segment id.
    pub segment: u64,
    /// Offset of the fifo (its header) from the segment start.
    pub offset: u64,
    /// Data size (a power of two).
    pub size: u32,
}

/// A session as an accepted or connected event describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionInfo {
    /// Handle.
    pub session: u64,
    /// Generation of its pool slot (echoed in requests about it).
    pub generation: u32,
    /// Transport.
    pub transport: TransportProto,
    /// Local endpoint (either family).
    pub local: SocketAddr,
    /// Remote endpoint (the local one's family).
    pub remote: SocketAddr,
    /// Node → app fifo (the app reads).
    pub rx: FifoLoc,
    /// App → node fifo (the app writes).
    pub tx: FifoLoc,
}

/// A session handle with its generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionRef {
    /// Handle.
    pub session: u64,
    /// Generation.
    pub generation: u32,
}

impl SessionRef {
    /// The data-plane worker the session lives on (whose queue takes requests about it).
    pub fn worker(self) -> u32 {
        SessionHandle(self.session).worker()
    }
}

/// Node → app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A listener made a session; reply with [`Request::AcceptReply`].
    Accepted {
        /// The listener's handle (from [`Event::Bound`]).
        listener: u64,
        /// The session.
        info: SessionInfo,
    },
    /// A connect finished: the session, or an error code.
    Connected {
        /// The value given with the connect.
        opaque: u64,
        /// The session, or the [`crate::api::ErrorCode`] number.
        result: Result<SessionInfo, i32>,
    },
    /// The peer closed; close the session when done with it.
    Disconnected(SessionRef),
    /// The peer reset the session; drop it and reply with [`Request::ResetReply`].
    Reset(SessionRef),
    /// The rx fifo has new data (its event flag is set: clear it, then drain).
    Rx(SessionRef),
    /// The tx fifo has room again (asked for with [`Request::Tx`]'s want flag).
    TxSpace(SessionRef),
    /// A listen finished.
    Bound {
        /// The value given with the listen.
        context: u64,
        /// The listener handle and endpoint, or the error code.
        result: Result<(u64, Endpoint), i32>,
    },
    /// An unlisten finished (code 0: done).
    Unlistened {
        /// The value given with the unlisten.
        context: u64,
        /// The listener.
        listener: u64,
        /// 0 or the error code.
        code: i32,
    },
}

/// Event kinds (the slot header's kind).
pub mod event_kind {
    /// [`super::Event::Accepted`].
    pub const ACCEPTED: u16 = 1;
    /// [`super::Event::Connected`].
    pub const CONNECTED: u16 = 2;
    /// [`super::Event::Disconnected`].
    pub const DISCONNECTED: u16 = 3;
    /// [`super::Event::Reset`].
    pub const RESET: u16 = 4;
    /// [`super::Event::Rx`].
    pub const RX: u16 = 5;
    /// [`super::Event::TxSpace`].
    pub const TX_SPACE: u16 = 6;
    /// [`super::Event::Bound`].
    pub const BOUND: u16 = 7;
    /// [`super::Event::Unlistened`].
    pub const UNLISTENED: u16 = 8;
}

/// App → node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Listen on an endpoint; answered by [`Event::Bound`].
    Listen {
        /// Echoed in the answer.
        context: u64,
        /// Where.
        ep: Endpoint,
    },
    /// Stop listening; answered by [`Event::Unlistened`].
    Unlisten {
        /// Echoed in the answer.
        context: u64,
        /// The listener handle.
        listener: u64,
    },
    /// Open a session; answered by [`Event::Connected`].
    Connect {
        /// Echoed in the answer.
        opaque: u64,
        /// Parent session for stream-multiplexing transports ([`NO_HANDLE`]: none).
        parent: u64,
        /// Where to.
        remote: Endpoint,
        /// Transport options.
        options: TransportOptions,
    },
    /// Close a session (queued data is sent first).
    Disconnect(SessionRef),
    /// Accept (code 0) or refuse an accepted session.
    AcceptReply {
        /// The session.
        session: SessionRef,
        /// 0 to accept.
        code: i32,
    },
    /// The app has dropped a reset session; the node frees it.
    ResetReply(SessionRef),
    /// The app wrote into the tx fifo (sent only when setting the fifo's event flag found it clear),
    /// and/or wants [`Event::TxSpace`] when room frees up.
    Tx {
        /// The session.
        session: SessionRef,
        /// Send [`Event::TxSpace`] once when the transport frees room.
        want_tx_space: bool,
    },
    /// The app read from the rx fifo (lets stream transports open their window).
    RxRead(SessionRef),
    /// The app will write no more (`shutdown(SHUT_WR)`): the transport half-closes
    /// (TCP sends a FIN after what is in the tx fifo; the peer of a cut-through
    /// session is told its peer closed); the app goes on reading until it closes.
    Shutdown(SessionRef),
}

/// Request kinds (the slot header's kind).
pub mod request_kind {
    /// [`super::Request::Listen`].
    pub const LISTEN: u16 = 1;
    /// [`super::Request::Unlisten`].
    pub const UNLISTEN: u16 = 2;
    /// [`super::Request::Connect`].
    pub const CONNECT: u16 = 3;
    /// [`super::Request::Disconnect`].
    pub const DISCONNECT: u16 = 4;
    /// [`super::Request::AcceptReply`].
    pub const ACCEPT_REPLY: u16 = 5;
    /// [`super::Request::ResetReply`].
    pub const RESET_REPLY: u16 = 6;
    /// [`super::Request::Tx`].
    pub const TX: u16 = 7;
    /// [`super::Request::RxRead`].
    pub const RX_READ: u16 = 8;
    /// [`super::Request::Shutdown`].
    pub const SHUTDOWN: u16 = 9;
}

mod field {
    use crate::wire::Field;

    /// A session reference, at the start of several messages.
    pub mod sref {
        use crate::wire::Field;
        pub const SESSION: Field = 0..8;
        pub const GENERATION: Field = 8..12;
        /// Code or flags, depending on the kind.
        pub const EXTRA: Field = 12..16;
        pub const LEN: usize = 16;
    }

    /// Session info block (96 bytes), at an offset in accepted/connected.
    pub mod info {
        use crate::wire::Field;
        pub const SESSION: Field = 0..8;
        pub const GENERATION: Field = 8..12;
        pub const TRANSPORT: usize = 12;
        pub const LOCAL_FAMILY: usize = 13;
        pub const REMOTE_FAMILY: usize = 14;
        pub const LOCAL_IP: Field = 16..32;
        pub const LOCAL_PORT: Field = 32..34;
        pub const REMOTE_PORT: Field = 34..36;
        pub const REMOTE_IP: Field = 36..52;
        pub const RX_SIZE: Field = 52..56;
        pub const RX_SEGMENT: Field = 56..64;
        pub const RX_OFFSET: Field = 64..72;
        pub const TX_SEGMENT: Field = 72..80;
        pub const TX_OFFSET: Field = 80..88;
        pub const TX_SIZE: Field = 88..92;
        pub const LEN: usize = 96;
    }

    pub const ACCEPTED_LISTENER: Field = 0..8;
    pub const ACCEPTED_INFO: usize = 8;
    pub const ACCEPTED_LEN: usize = 104;

    pub const CONNECTED_OPAQUE: Field = 0..8;
    pub const CONNECTED_CODE: Field = 8..12;
    pub const CONNECTED_INFO: usize = 16;
    pub const CONNECTED_LEN: usize = 112;

    pub const BOUND_CONTEXT: Field = 0..8;
    pub const BOUND_CODE: Field = 8..12;
    pub const BOUND_LISTENER: Field = 16..24;
    pub const BOUND_IP: Field = 24..40;
    pub const BOUND_PORT: Field = 40..42;
    pub const BOUND_L4: usize = 42;
    pub const BOUND_FAMILY: usize = 43;
    pub const BOUND_LEN: usize = 48;

    pub const UNLISTENED_CONTEXT: Field = 0..8;
    pub const UNLISTENED_CODE: Field = 8..12;
    pub const UNLISTENED_LISTENER: Field = 16..24;
    pub const UNLISTENED_LEN: usize = 24;

    pub const LISTEN_CONTEXT: Field = 0..8;
    pub const LISTEN_IP: Field = 8..24;
    pub const LISTEN_PORT: Field = 24..26;
    pub const LISTEN_L4: usize = 26;
    pub const LISTEN_FAMILY: usize = 27;
    pub const LISTEN_LEN: usize = 32;

    pub const UNLISTEN_CONTEXT: Field = 0..8;
    pub const UNLISTEN_LISTENER: Field = 8..16;
    pub const UNLISTEN_LEN: usize = 16;

    pub const CONNECT_OPAQUE: Field = 0..8;
    pub const CONNECT_PARENT: Field = 8..16;
    pub const CONNECT_IP: Field = 16..32;
    pub const CONNECT_PORT: Field = 32..34;
    pub const CONNECT_L4: usize = 34;
    pub const CONNECT_CC: usize = 35;
    pub const CONNECT_MSS: Field = 36..38;
    pub const CONNECT_FLAGS: usize = 38;
    pub const CONNECT_FAMILY: usize = 39;
    pub const CONNECT_LEN: usize = 40;
}

/// Connect flag: disable Nagle.
pub const CONNECT_NO_DELAY: u8 = 1 << 0;
/// Connect flag: keepalives.
pub const CONNECT_KEEPALIVE: u8 = 1 << 1;
/// Tx flag: send [`Event::TxSpace`] when room frees up.
pub const TX_WANT_SPACE: u32 = 1 << 0;

fn exact(b: &[u8], len: usize) -> Result<(), WireError> {
    check_len(b, len)?;
    if b.len() != len {
        return Err(WireError::BadField("length"));
    }
    Ok(())
}

fn zero(b: &[u8], what: &'static str) -> Result<(), WireError> {
    if b.iter().all(|&x| x == 0) {
        Ok(())
    } else {
        Err(WireError::BadField(what))
    }
}

fn parse_sref(b: &[u8]) -> Result<(SessionRef, u32), WireError> {
    use field::sref as f;
    exact(b, f::LEN)?;
    Ok((SessionRef { session: get_u64(b, f::SESSION), generation: get_u32(b, f::GENERATION) }, get_u32(b, f::EXTRA)))
}

fn emit_sref(b: &mut [u8], s: SessionRef, extra: u32) -> usize {
    use field::sref as f;
    put_u64(b, f::SESSION, s.session);
    put_u32(b, f::GENERATION, s.generation);
    put_u32(b, f::EXTRA, extra);
    f::LEN
}

fn parse_info(b: &[u8]) -> Result<SessionInfo, WireError> {
    use field::info as f;
    check_len(b, f::LEN)?;
    let transport = TransportProto::from_u8(get_u8(b, f::TRANSPORT)).ok_or(WireError::BadField("transport"))?;
    zero(&b[f::REMOTE_FAMILY + 1..f::LOCAL_IP.start], "reserved")?;
    zero(&b[f::TX_SIZE.end..f::LEN], "reserved")?;
    Ok(SessionInfo {
        session: get_u64(b, f::SESSION),
        generation: get_u32(b, f::GENERATION),
        transport,
        local: get_endpoint(b, f::LOCAL_FAMILY, f::LOCAL_IP, f::LOCAL_PORT)?,
        remote: get_endpoint(b, f::REMOTE_FAMILY, f::REMOTE_IP, f::REMOTE_PORT)?,
        rx: FifoLoc {
            segment: get_u64(b, f::RX_SEGMENT),
            offset: get_u64(b, f::RX_OFFSET),
            size: get_u32(b, f::RX_SIZE),
        },
        tx: FifoLoc {
            segment: get_u64(b, f::TX_SEGMENT),
            offset: get_u64(b, f::TX_OFFSET),
            size: get_u32(b, f::TX_SIZE),
        },
    })
}

fn emit_info(b: &mut [u8], i: &SessionInfo) {
    use field::info as f;
    b[..f::LEN].fill(0);
    put_u64(b, f::SESSION, i.session);
    put_u32(b, f::GENERATION, i.generation);
    put_u8(b, f::TRANSPORT, i.transport as u8);
    put_endpoint(b, f::LOCAL_FAMILY, f::LOCAL_IP, f::LOCAL_PORT, i.local);
    put_endpoint(b, f::REMOTE_FAMILY, f::REMOTE_IP, f::REMOTE_PORT, i.remote);
    put_u32(b, f::RX_SIZE, i.rx.size);
    put_u64(b, f::RX_SEGMENT, i.rx.segment);
    put_u64(b, f::RX_OFFSET, i.rx.offset);
    put_u64(b, f::TX_SEGMENT, i.tx.segment);
    put_u64(b, f::TX_OFFSET, i.tx.offset);
    put_u32(b, f::TX_SIZE, i.tx.size);
}

impl Event {
    /// The slot kind of this event.
    pub fn kind(&self) -> u16 {
        use event_kind::*;
        match self {
            Event::Accepted { .. } => ACCEPTED,
            Event::Connected { .. } => CONNECTED,
            Event::Disconnected(_) => DISCONNECTED,
            Event::Reset(_) => RESET,
            Event::Rx(_) => RX,
            Event::TxSpace(_) => TX_SPACE,
            Event::Bound { .. } => BOUND,
            Event::Unlistened { .. } => UNLISTENED,
        }
    }

    /// Encodes the payload into `b`; returns its length.
    pub fn emit(&self, b: &mut [u8; MAX_PAYLOAD]) -> usize {
        match self {
            Event::Accepted { listener, info } => {
                put_u64(b, field::ACCEPTED_LISTENER, *listener);
                emit_info(&mut b[field::ACCEPTED_INFO..], info);
                field::ACCEPTED_LEN
            }
            Event::Connected { opaque, result } => {
                put_u64(b, field::CONNECTED_OPAQUE, *opaque);
                b[12..16].fill(0);
                match result {
                    Ok(info) => {
                        put_i32(b, field::CONNECTED_CODE, 0);
                        emit_info(&mut b[field::CONNECTED_INFO..], info);
                    }
                    Err(code) => {
                        put_i32(b, field::CONNECTED_CODE, *code);
                        b[field::CONNECTED_INFO..field::CONNECTED_LEN].fill(0);
                    }
                }
                field::CONNECTED_LEN
            }
            Event::Disconnected(s) | Event::Reset(s) | Event::Rx(s) | Event::TxSpace(s) => emit_sref(b, *s, 0),
            Event::Bound { context, result } => {
                b[..field::BOUND_LEN].fill(0);
                put_u64(b, field::BOUND_CONTEXT, *context);
                match result {
                    Ok((listener, ep)) => {
                        put_u64(b, field::BOUND_LISTENER, *listener);
                        put_addr(b, field::BOUND_FAMILY, field::BOUND_IP, ep.ip);
                        put_u16(b, field::BOUND_PORT, ep.port);
                        put_u8(b, field::BOUND_L4, ep.proto as u8);
                    }
                    Err(code) => put_i32(b, field::BOUND_CODE, *code),
                }
                field::BOUND_LEN
            }
            Event::Unlistened { context, listener, code } => {
                b[..field::UNLISTENED_LEN].fill(0);
                put_u64(b, field::UNLISTENED_CONTEXT, *context);
                put_i32(b, field::UNLISTENED_CODE, *code);
                put_u64(b, field::UNLISTENED_LISTENER, *listener);
                field::UNLISTENED_LEN
            }
        }
    }

    /// Decodes an event of slot kind `kind` from its payload.
    pub fn parse(kind: u16, b: &[u8]) -> Result<Event, WireError> {
        use event_kind::*;
        Ok(match kind {
            ACCEPTED => {
                exact(b, field::ACCEPTED_LEN)?;
                Event::Accepted {
                    listener: get_u64(b, field::ACCEPTED_LISTENER),
                    info: parse_info(&b[field::ACCEPTED_INFO..])?,
                }
            }
            CONNECTED => {
                exact(b, field::CONNECTED_LEN)?;
                zero(&b[12..16], "reserved")?;
                let code = get_i32(b, field::CONNECTED_CODE);
                let result = if code == 0 {
                    Ok(parse_info(&b[field::CONNECTED_INFO..])?)
                } else {
                    zero(&b[field::CONNECTED_INFO..], "session")?;
                    Err(code)
                };
                Event::Connected { opaque: get_u64(b, field::CONNECTED_OPAQUE), result }
            }
            DISCONNECTED | RESET | RX | TX_SPACE => {
                let (s, extra) = parse_sref(b)?;
                if extra != 0 {
                    return Err(WireError::BadField("reserved"));
                }
                match kind {
                    DISCONNECTED => Event::Disconnected(s),
                    RESET => Event::Reset(s),
                    RX => Event::Rx(s),
                    _ => Event::TxSpace(s),
                }
            }
            BOUND => {
                exact(b, field::BOUND_LEN)?;
                zero(&b[12..16], "reserved")?;
                zero(&b[field::BOUND_FAMILY + 1..], "reserved")?;
                let code = get_i32(b, field::BOUND_CODE);
                let result = if code == 0 {
                    let proto = Proto::from_u8(get_u8(b, field::BOUND_L4)).ok_or(WireError::BadField("l4"))?;
                    let ip = get_addr(b, field::BOUND_FAMILY, field::BOUND_IP)?;
                    let ep = Endpoint { proto, ip, port: get_u16(b, field::BOUND_PORT) };
                    Ok((get_u64(b, field::BOUND_LISTENER), ep))
                } else {
                    zero(&b[field::BOUND_LISTENER.start..=field::BOUND_FAMILY], "listener")?;
                    Err(code)
                };
                Event::Bound { context: get_u64(b, field::BOUND_CONTEXT), result }
            }
            UNLISTENED => {
                exact(b, field::UNLISTENED_LEN)?;
                zero(&b[12..16], "reserved")?;
                Event::Unlistened {
                    context: get_u64(b, field::UNLISTENED_CONTEXT),
                    listener: get_u64(b, field::UNLISTENED_LISTENER),
                    code: get_i32(b, field::UNLISTENED_CODE),
                }
            }
            other => return Err(WireError::UnknownKind(other)),
        })
    }
}

impl Request {
    /// The slot kind of this request.
    pub fn kind(&self) -> u16 {
        use request_kind::*;
        match self {
            Request::Listen { .. } => LISTEN,
            Request::Unlisten { .. } => UNLISTEN,
            Request::Connect { .. } => CONNECT,
            Request::Disconnect(_) => DISCONNECT,
            Request::AcceptReply { .. } => ACCEPT_REPLY,
            Request::ResetReply(_) => RESET_REPLY,
            Request::Tx { .. } => TX,
            Request::RxRead(_) => RX_READ,
            Request::Shutdown(_) => SHUTDOWN,
        }
    }

    /// Encodes the payload into `b`; returns its length.
    pub fn emit(&self, b: &mut [u8; MAX_PAYLOAD]) -> usize {
        match self {
            Request::Listen { context, ep } => {
                b[..field::LISTEN_LEN].fill(0);
                put_u64(b, field::LISTEN_CONTEXT, *context);
                put_addr(b, field::LISTEN_FAMILY, field::LISTEN_IP, ep.ip);
                put_u16(b, field::LISTEN_PORT, ep.port);
                put_u8(b, field::LISTEN_L4, ep.proto as u8);
                field::LISTEN_LEN
            }
            Request::Unlisten { context, listener } => {
                put_u64(b, field::UNLISTEN_CONTEXT, *context);
                put_u64(b, field::UNLISTEN_LISTENER, *listener);
                field::UNLISTEN_LEN
            }
            Request::Connect { opaque, parent, remote, options } => {
                b[..field::CONNECT_LEN].fill(0);
                put_u64(b, field::CONNECT_OPAQUE, *opaque);
                put_u64(b, field::CONNECT_PARENT, *parent);
                put_addr(b, field::CONNECT_FAMILY, field::CONNECT_IP, remote.ip);
                put_u16(b, field::CONNECT_PORT, remote.port);
                put_u8(b, field::CONNECT_L4, remote.proto as u8);
                put_u8(b, field::CONNECT_CC, options.cc as u8);
                put_u16(b, field::CONNECT_MSS, options.mss.unwrap_or(0));
                let flags = if options.no_delay { CONNECT_NO_DELAY } else { 0 }
                    | if options.keepalive { CONNECT_KEEPALIVE } else { 0 };
                put_u8(b, field::CONNECT_FLAGS, flags);
                field::CONNECT_LEN
            }
            Request::Disconnect(s) | Request::ResetReply(s) | Request::RxRead(s) | Request::Shutdown(s) => {
                emit_sref(b, *s, 0)
            }
            Request::AcceptReply { session, code } => emit_sref(b, *session, *code as u32),
            Request::Tx { session, want_tx_space } => {
                emit_sref(b, *session, if *want_tx_space { TX_WANT_SPACE } else { 0 })
            }
        }
    }

    /// Decodes a request of slot kind `kind` from its payload.
    pub fn parse(kind: u16, b: &[u8]) -> Result<Request, WireError> {
        use request_kind::*;
        Ok(match kind {
            LISTEN => {
                exact(b, field::LISTEN_LEN)?;
                zero(&b[field::LISTEN_FAMILY + 1..], "reserved")?;
                let proto = Proto::from_u8(get_u8(b, field::LISTEN_L4)).ok_or(WireError::BadField("l4"))?;
                let ip = get_addr(b, field::LISTEN_FAMILY, field::LISTEN_IP)?;
                Request::Listen {
                    context: get_u64(b, field::LISTEN_CONTEXT),
                    ep: Endpoint { proto, ip, port: get_u16(b, field::LISTEN_PORT) },
                }
            }
            UNLISTEN => {
                exact(b, field::UNLISTEN_LEN)?;
                Request::Unlisten {
                    context: get_u64(b, field::UNLISTEN_CONTEXT),
                    listener: get_u64(b, field::UNLISTEN_LISTENER),
                }
            }
            CONNECT => {
                exact(b, field::CONNECT_LEN)?;
                zero(&b[field::CONNECT_FAMILY + 1..], "reserved")?;
                let proto = Proto::from_u8(get_u8(b, field::CONNECT_L4)).ok_or(WireError::BadField("l4"))?;
                let cc = Cc::from_u8(get_u8(b, field::CONNECT_CC)).ok_or(WireError::BadField("cc"))?;
                let flags = get_u8(b, field::CONNECT_FLAGS);
                if flags & !(CONNECT_NO_DELAY | CONNECT_KEEPALIVE) != 0 {
                    return Err(WireError::BadField("flags"));
                }
                let mss = get_u16(b, field::CONNECT_MSS);
                let ip = get_addr(b, field::CONNECT_FAMILY, field::CONNECT_IP)?;
                Request::Connect {
                    opaque: get_u64(b, field::CONNECT_OPAQUE),
                    parent: get_u64(b, field::CONNECT_PARENT),
                    remote: Endpoint { proto, ip, port: get_u16(b, field::CONNECT_PORT) },
                    options: TransportOptions {
                        mss: (mss != 0).then_some(mss),
                        cc,
                        no_delay: flags & CONNECT_NO_DELAY != 0,
                        keepalive: flags & CONNECT_KEEPALIVE != 0,
                    },
                }
            }
            DISCONNECT | RESET_REPLY | RX_READ | SHUTDOWN => {
                let (s, extra) = parse_sref(b)?;
                if extra != 0 {
                    return Err(WireError::BadField("reserved"));
                }
                match kind {
                    DISCONNECT => Request::Disconnect(s),
                    RESET_REPLY => Request::ResetReply(s),
                    SHUTDOWN => Request::Shutdown(s),
                    _ => Request::RxRead(s),
                }
            }
            ACCEPT_REPLY => {
                let (session, code) = parse_sref(b)?;
                Request::AcceptReply { session, code: code as i32 }
            }
            TX => {
                let (session, flags) = parse_sref(b)?;
                if flags & !TX_WANT_SPACE != 0 {
                    return Err(WireError::BadField("flags"));
                }
                Request::Tx { session, want_tx_space: flags & TX_WANT_SPACE != 0 }
            }
            other => return Err(WireError::UnknownKind(other)),
        })
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::wire::family;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn info() -> SessionInfo {
        SessionInfo {
            session: (1 << 32) | 7,
            generation: 3,
            transport: TransportProto::CtTcp,
            local: "198.18.0.2:7".parse().unwrap(),
            remote: "198.18.0.1:40000".parse().unwrap(),
            rx: FifoLoc { segment: 9, offset: 4096, size: 65536 },
            tx: FifoLoc { segment: 9, offset: 70272, size: 32768 },
        }
    }

    fn info6() -> SessionInfo {
        SessionInfo {
            transport: TransportProto::Udp,
            local: "[fd00:198:18::2]:7".parse().unwrap(),
            remote: "[fe80::1]:40000".parse().unwrap(),
            ..info()
        }
    }

    fn sref() -> SessionRef {
        SessionRef { session: 5, generation: 2 }
    }

    fn events() -> Vec<Event> {
        let ep = Endpoint::v4(Proto::Udp, Ipv4Addr::new(0, 0, 0, 0), 7);
        vec![
            Event::Accepted { listener: (u64::from(u32::MAX) << 32) | 1, info: info() },
            Event::Connected { opaque: 42, result: Ok(info()) },
            Event::Connected { opaque: 43, result: Err(-180) },
            Event::Disconnected(sref()),
            Event::Reset(sref()),
            Event::Rx(sref()),
            Event::TxSpace(sref()),
            Event::Bound { context: 1, result: Ok((77, ep)) },
            Event::Bound { context: 2, result: Err(-106) },
            Event::Unlistened { context: 3, listener: 77, code: 0 },
            Event::Accepted { listener: 2, info: info6() },
            Event::Connected { opaque: 44, result: Ok(info6()) },
            Event::Bound { context: 4, result: Ok((78, Endpoint::v6(Proto::Tcp, Ipv6Addr::UNSPECIFIED, 80))) },
        ]
    }

    fn requests() -> Vec<Request> {
        let ep = Endpoint::v4(Proto::Tcp, Ipv4Addr::new(198, 18, 0, 1), 80);
        let ep6 = Endpoint::v6(Proto::Tcp, "fd00:198:18::1".parse().unwrap(), 80);
        let options = TransportOptions { mss: Some(1200), cc: Cc::Cubic, no_delay: true, keepalive: false };
        vec![
            Request::Listen { context: 1, ep },
            Request::Unlisten { context: 2, listener: 77 },
            Request::Connect { opaque: 3, parent: NO_HANDLE, remote: ep, options },
            Request::Connect { opaque: 4, parent: 9, remote: ep, options: TransportOptions::default() },
            Request::Disconnect(sref()),
            Request::AcceptReply { session: sref(), code: 0 },
            Request::AcceptReply { session: sref(), code: -1 },
            Request::ResetReply(sref()),
            Request::Tx { session: sref(), want_tx_space: true },
            Request::Tx { session: sref(), want_tx_space: false },
            Request::RxRead(sref()),
            Request::Shutdown(sref()),
            Request::Listen { context: 5, ep: Endpoint::v6(Proto::Udp, Ipv6Addr::UNSPECIFIED, 7) },
            Request::Connect { opaque: 6, parent: NO_HANDLE, remote: ep6, options },
        ]
    }

    #[test]
    fn events_round_trip_and_fit_a_slot() {
        let mut b = [0u8; MAX_PAYLOAD];
        for e in events() {
            let n = e.emit(&mut b);
            assert!(n <= MAX_PAYLOAD);
            assert_eq!(Event::parse(e.kind(), &b[..n]), Ok(e));
            assert!(Event::parse(e.kind(), &b[..n - 1]).is_err(), "{e:?} truncated");
        }
    }

    #[test]
    fn requests_round_trip() {
        let mut b = [0u8; MAX_PAYLOAD];
        for r in requests() {
            let n = r.emit(&mut b);
            assert_eq!(Request::parse(r.kind(), &b[..n]), Ok(r));
            assert!(Request::parse(r.kind(), &b[..n - 1]).is_err(), "{r:?} truncated");
        }
        assert_eq!(Request::parse(99, &b[..16]), Err(WireError::UnknownKind(99)));
    }

    #[test]
    fn layout_is_as_documented() {
        let mut b = [0u8; MAX_PAYLOAD];
        let n = Event::Accepted { listener: 1, info: info() }.emit(&mut b);
        assert_eq!(n, 104);
        assert_eq!(&b[0..8], &1u64.to_le_bytes());
        assert_eq!(&b[8..16], &((1u64 << 32) | 7).to_le_bytes());
        assert_eq!(b[20], 3, "ct-tcp");
        assert_eq!((b[21], b[22]), (family::IP4, family::IP4));
        assert_eq!(&b[24..40], &[198, 18, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "local address in network order");
        assert_eq!(&b[40..42], &7u16.to_le_bytes());
        assert_eq!(&b[60..64], &65536u32.to_le_bytes(), "rx size");
        assert_eq!(&b[96..100], &32768u32.to_le_bytes(), "tx size");
        let n = Event::Connected { opaque: 1, result: Ok(info6()) }.emit(&mut b);
        assert!(n == 112 && n <= MAX_PAYLOAD);
        assert_eq!((b[16 + 13], b[16 + 14]), (family::IP6, family::IP6));
        assert_eq!(&b[16 + 36..16 + 38], &[0xfe, 0x80], "remote address in network order");
        let n = Request::Connect {
            opaque: 1,
            parent: NO_HANDLE,
            remote: Endpoint::v6(Proto::Tcp, "fd00::1".parse().unwrap(), 80),
            options: TransportOptions::default(),
        }
        .emit(&mut b);
        assert_eq!((n, b[39], &b[16..18], b[34]), (40, family::IP6, &[0xfd, 0][..], 6));
        let n = Request::Tx { session: sref(), want_tx_space: true }.emit(&mut b);
        assert_eq!((n, &b[12..16]), (16, &[1u8, 0, 0, 0][..]));
        assert_eq!(Endpoint::parse_uri("udp://0.0.0.0/7"), Some(Endpoint::v4(Proto::Udp, Ipv4Addr::UNSPECIFIED, 7)));
        assert_eq!(Endpoint::parse_uri("tcp://1.2.3.4:80").unwrap().to_string(), "tcp://1.2.3.4/80");
        assert_eq!(Endpoint::parse_uri("sctp://1.2.3.4/80"), None);
    }

    #[test]
    fn bad_families_are_refused_by_name() {
        let mut b = [0u8; MAX_PAYLOAD];
        let r = Request::Listen { context: 1, ep: Endpoint::v6(Proto::Tcp, Ipv6Addr::LOCALHOST, 80) };
        let n = r.emit(&mut b);
        for bad in [0u8, 2, 10, 41, 255] {
            b[27] = bad;
            assert_eq!(Request::parse(r.kind(), &b[..n]), Err(WireError::BadFamily(bad)));
        }
        let e = Event::Accepted { listener: 1, info: info6() };
        let n = e.emit(&mut b);
        b[8 + 14] = 10;
        assert_eq!(Event::parse(e.kind(), &b[..n]), Err(WireError::BadFamily(10)));
        // An IPv4 address with bytes after its four is not an address.
        let e = Event::Accepted { listener: 1, info: info() };
        let n = e.emit(&mut b);
        b[8 + 16 + 4] = 1;
        assert!(matches!(Event::parse(e.kind(), &b[..n]), Err(WireError::BadField(_))));
    }

    proptest! {
        /// Random payloads of any kind: an error or a message that re-encodes to the same bytes.
        #[test]
        fn random_payloads(kind in 0u16..12, bytes in proptest::collection::vec(any::<u8>(), 0..MAX_PAYLOAD)) {
            let mut b = [0u8; MAX_PAYLOAD];
            if let Ok(e) = Event::parse(kind, &bytes) {
                let n = e.emit(&mut b);
                prop_assert_eq!(&b[..n], &bytes[..]);
            }
            if let Ok(r) = Request::parse(kind, &bytes) {
                let n = r.emit(&mut b);
                prop_assert_eq!(&b[..n], &bytes[..]);
            }
        }

        /// Valid messages with one byte flipped: never a panic.
        #[test]
        fn flipped_bytes(which in 0usize..27, at in 0usize..MAX_PAYLOAD, bit in 0u8..8) {
            let mut b = [0u8; MAX_PAYLOAD];
            let ne = events().len();
            let (kind, n) = if which < ne {
                let e = events()[which];
                (e.kind(), e.emit(&mut b))
            } else {
                let r = requests()[(which - ne) % requests().len()];
                (r.kind(), r.emit(&mut b))
            };
            b[at % n] ^= 1 << bit;
            let _ = Event::parse(kind, &b[..n]);
            let _ = Request::parse(kind, &b[..n]);
        }
    }
}
