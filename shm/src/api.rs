//! The application API socket's wire format (`docs/api.md` has the same
//! tables, and `client/include/dpnode_client.h` the same constants).
//!
//! An external application connects to the node's Unix stream socket and
//! exchanges framed messages: a fixed 24-byte header, then a body whose
//! layout depends on the header's kind. Everything is little endian; IPv4
//! addresses are in network order. Requests go from the application to the
//! node, which answers each with the matching reply kind and the request's
//! `context`, so a client can match answers to questions; the node also
//! sends a few notices on its own (segment added or removed). Replies that
//! carry file descriptors (segments, eventfd) pass them as `SCM_RIGHTS`
//! ancillary data on the reply's bytes, in the order the body lists them.
//!
//! ```text
//! header:  0..4 magic "dpAp" | 4..6 version | 6..8 kind | 8..12 body length
//!          12..16 code (i32; 0, or an error in a reply) | 16..24 context
//! ```
//!
//! A reply whose code is not 0 reports a failure: its body is the error's
//! text (UTF-8), and the code says which error ([`ErrorCode`]). A header
//! with a bad magic or version, or a body longer than [`MAX_BODY`], gets an
//! [`Kind::ErrorReply`] and the connection is closed (the stream can no
//! longer be trusted to be framed); a well-framed message with a bad body
//! gets an error reply and the connection stays up.
//!
//! Parsing never panics and never reads past the buffer: each parser checks
//! the length once and reads fixed fields after that ([`crate::wire`]).

use crate::types::{AttachOptions, ErrorCode, ProxySet, Scope};
use crate::wire::{
    check_len, get_i32, get_u16, get_u32, get_u64, get_u8, put_u16, put_u32, put_u64, put_u8, WireError,
};

/// First four bytes of every message: `dpAp`.
pub const MAGIC: u32 = u32::from_le_bytes(*b"dpAp");
/// The protocol version this crate speaks (2: queue messages and datagram
/// headers carry family-neutral addresses; a version-1 client is refused).
pub const VERSION: u16 = 2;
/// Bytes in a header.
pub const HEADER_LEN: usize = 24;
/// Largest body of any message (a certificate and key fit).
pub const MAX_BODY: usize = 64 * 1024;
/// Longest error text in a failure reply.
pub const MAX_ERROR_TEXT: usize = 1024;
/// Longest application name or namespace id (as the session layer accepts).
pub const MAX_NAME: usize = 64;
/// Most data-plane workers a worker description lists queues for.
pub const MAX_QUEUES: usize = 1024;

/// Message kinds. A reply's kind is its request's kind plus `0x100`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Kind {
    /// App → node: attach an application; creates its first worker.
    AttachRequest = 0x001,
    /// App → node: detach an application (every worker, session and listener goes).
    DetachRequest = 0x002,
    /// App → node: add a worker to an application.
    WorkerAddRequest = 0x003,
    /// App → node: delete a worker (the application goes with its last worker).
    WorkerDelRequest = 0x004,
    /// App → node: store a TLS certificate and key for later use; returns a slot.
    CertKeyAddRequest = 0x005,
    /// App → node: forget a certificate/key slot.
    CertKeyDelRequest = 0x006,
    /// App → node: the application's share token, which lets another connection (a forked
    /// child, say) add a worker to it with [`Kind::WorkerJoinRequest`].
    ShareRequest = 0x007,
    /// App → node, on any connection: add a worker to an application another connection
    /// attached, proving the right with its share token (fds in the reply: segment, eventfd).
    WorkerJoinRequest = 0x008,
    /// App → node: make one of the application's workers passive on a listener (it gets
    /// accepts only when no active worker listens), or active again.
    ListenerPassiveRequest = 0x009,
    /// Node → app: the application is attached; describes its first worker (fds: segment, eventfd).
    AttachReply = 0x101,
    /// Node → app: the application is detached.
    DetachReply = 0x102,
    /// Node → app: describes the new worker (fds: segment, eventfd).
    WorkerAddReply = 0x103,
    /// Node → app: the worker is deleted.
    WorkerDelReply = 0x104,
    /// Node → app: the certificate/key slot.
    CertKeyAddReply = 0x105,
    /// Node → app: the slot is gone.
    CertKeyDelReply = 0x106,
    /// Node → app: the share token.
    ShareReply = 0x107,
    /// Node → app: describes the joined worker (fds: segment, eventfd).
    WorkerJoinReply = 0x108,
    /// Node → app: the listener's worker is passive (or active) now.
    ListenerPassiveReply = 0x109,
    /// Node → app, unsolicited: a segment the app's sessions use (fd: the segment).
    SegmentAdd = 0x201,
    /// Node → app, unsolicited: a segment the node no longer uses for this app.
    SegmentDel = 0x202,
    /// Node → app: reply to a message that could not be read (bad header, unknown kind).
    ErrorReply = 0x2ff,
}

impl Kind {
    /// The kind with this number.
    pub fn from_u16(v: u16) -> Option<Kind> {
        use Kind::*;
        Some(match v {
            0x001 => AttachRequest,
            0x002 => DetachRequest,
            0x003 => WorkerAddRequest,
            0x004 => WorkerDelRequest,
            0x005 => CertKeyAddRequest,
            0x006 => CertKeyDelRequest,
            0x007 => ShareRequest,
            0x008 => WorkerJoinRequest,
            0x009 => ListenerPassiveRequest,
            0x101 => AttachReply,
            0x102 => DetachReply,
            0x103 => WorkerAddReply,
            0x104 => WorkerDelReply,
            0x105 => CertKeyAddReply,
            0x106 => CertKeyDelReply,
            0x107 => ShareReply,
            0x108 => WorkerJoinReply,
            0x109 => ListenerPassiveReply,
            0x201 => SegmentAdd,
            0x202 => SegmentDel,
            0x2ff => ErrorReply,
            _ => return None,
        })
    }

    /// Whether an application may send this kind.
    pub fn is_request(self) -> bool {
        (self as u16) < 0x100
    }

    /// The reply to a request kind.
    pub fn reply(self) -> Kind {
        Kind::from_u16(self as u16 | 0x100).filter(|_| self.is_request()).unwrap_or(Kind::ErrorReply)
    }
}

impl From<WireError> for ErrorCode {
    fn from(e: WireError) -> Self {
        match e {
            WireError::Truncated { .. } | WireError::BadField(_) | WireError::BadFamily(_) => ErrorCode::BadMessage,
            WireError::BadMagic(_) => ErrorCode::BadMagic,
            WireError::BadVersion(_) => ErrorCode::BadVersion,
            WireError::TooLarge(_) => ErrorCode::TooLarge,
            WireError::UnknownKind(_) => ErrorCode::UnknownKind,
        }
    }
}

mod field {
    use crate::wire::Field;

    pub const MAGIC: Field = 0..4;
    pub const VERSION: Field = 4..6;
    pub const KIND: Field = 6..8;
    pub const LENGTH: Field = 8..12;
    pub const CODE: Field = 12..16;
    pub const CONTEXT: Field = 16..24;

    /// Attach request body.
    pub mod attach {
        use crate::wire::Field;
        pub const SECRET: Field = 0..8;
        pub const SEGMENT_SIZE: Field = 8..16;
        pub const ADD_SEGMENT_SIZE: Field = 16..24;
        pub const PREALLOC: Field = 24..28;
        pub const RX_FIFO: Field = 28..32;
        pub const TX_FIFO: Field = 32..36;
        pub const EVQ_SIZE: Field = 36..40;
        pub const FLAGS: Field = 40..44;
        pub const TLS_ENGINE: usize = 44;
        pub const NAME_LEN: usize = 45;
        pub const NS_LEN: usize = 46;
        pub const RESERVED: usize = 47;
        pub const FIXED: usize = 48;
    }

    /// Worker description body (attach and worker-add replies).
    pub mod worker {
        use crate::wire::Field;
        pub const APP: Field = 0..8;
        pub const WRK: Field = 8..16;
        pub const MAP_INDEX: Field = 16..20;
        pub const N_QUEUES: Field = 20..24;
        pub const SEGMENT_ID: Field = 24..32;
        pub const SEGMENT_SIZE: Field = 32..40;
        pub const SLOTS: Field = 40..44;
        pub const SLOT_SIZE: Field = 44..48;
        pub const FLAGS: Field = 48..52;
        pub const RESERVED: Field = 52..56;
        pub const FIXED: usize = 56;
        /// Each queue pair: node→app queue offset, app→node queue offset.
        pub const PAIR: usize = 16;
    }
}

/// A message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Kind, as sent (may be unknown).
    pub kind: u16,
    /// Body length.
    pub length: u32,
    /// 0, or an [`ErrorCode`] in a failure reply.
    pub code: i32,
    /// The requester's value, echoed in the reply.
    pub context: u64,
}

impl Header {
    /// Parses a header: magic, version and length are checked (the kind is not).
    pub fn parse(b: &[u8]) -> Result<Header, WireError> {
        check_len(b, HEADER_LEN)?;
        let magic = get_u32(b, field::MAGIC);
        if magic != MAGIC {
            return Err(WireError::BadMagic(magic));
        }
        let version = get_u16(b, field::VERSION);
        if version != VERSION {
            return Err(WireError::BadVersion(version));
        }
        let length = get_u32(b, field::LENGTH);
        if length as usize > MAX_BODY {
            return Err(WireError::TooLarge(length));
        }
        Ok(Header {
            kind: get_u16(b, field::KIND),
            length,
            code: get_i32(b, field::CODE),
            context: get_u64(b, field::CONTEXT),
        })
    }

    /// Writes the header into the first [`HEADER_LEN`] bytes of `b`.
    pub fn emit(&self, b: &mut [u8]) {
        put_u32(b, field::MAGIC, MAGIC);
        put_u16(b, field::VERSION, VERSION);
        put_u16(b, field::KIND, self.kind);
        put_u32(b, field::LENGTH, self.length);
        b[field::CODE].copy_from_slice(&self.code.to_le_bytes());
        put_u64(b, field::CONTEXT, self.context);
    }
}

/// Attach flag: listeners reachable from the network.
pub const ATTACH_SCOPE_GLOBAL: u32 = 1 << 0;
/// Attach flag: listeners reachable from apps of the same namespace (cut-through).
pub const ATTACH_SCOPE_LOCAL: u32 = 1 << 1;
/// Attach flag: give each worker an eventfd the node writes when its queues go non-empty.
pub const ATTACH_USE_EVENTFD: u32 = 1 << 2;
/// Attach flag: accept TCP to every address and port of the namespace.
pub const ATTACH_PROXY_TCP: u32 = 1 << 3;
/// Attach flag: accept UDP to every address and port of the namespace.
pub const ATTACH_PROXY_UDP: u32 = 1 << 4;
const ATTACH_FLAGS: u32 = (1 << 5) - 1;

/// Worker flag: an eventfd follows the segment fd.
pub const WORKER_HAS_EVENTFD: u32 = 1 << 0;

/// An attach request: the application's name and its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachRequest<'a> {
    /// Application name (one word, at most [`MAX_NAME`] bytes).
    pub name: &'a str,
    /// The options (`builtin` is never sent: an app that attaches over the API is external).
    pub options: AttachOptions,
}

impl AttachOptions {
    /// The `ATTACH_*` flags these options set.
    pub fn flags(&self) -> u32 {
        let f = |on: bool, bit: u32| if on { bit } else { 0 };
        f(self.scope.global, ATTACH_SCOPE_GLOBAL)
            | f(self.scope.local, ATTACH_SCOPE_LOCAL)
            | f(self.use_eventfd, ATTACH_USE_EVENTFD)
            | f(self.proxy.tcp, ATTACH_PROXY_TCP)
            | f(self.proxy.udp, ATTACH_PROXY_UDP)
    }

    /// Sets the options the `ATTACH_*` `flags` carry (unknown bits are ignored: parsing refuses them).
    pub fn set_flags(&mut self, flags: u32) {
        let on = |bit: u32| flags & bit != 0;
        self.scope = Scope { global: on(ATTACH_SCOPE_GLOBAL), local: on(ATTACH_SCOPE_LOCAL) };
        self.use_eventfd = on(ATTACH_USE_EVENTFD);
        self.proxy = ProxySet { tcp: on(ATTACH_PROXY_TCP), udp: on(ATTACH_PROXY_UDP) };
    }
}

/// One data-plane worker's pair of queues, as offsets in the worker's first segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePair {
    /// The queue the data-plane worker sends events on (node → app).
    pub events: u64,
    /// The queue the data-plane worker reads requests from (app → node).
    pub requests: u64,
}

/// What an application needs to run one of its workers.
///
/// The reply carries the first segment's fd, then the eventfd when
/// [`WORKER_HAS_EVENTFD`] is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInfo {
    /// Application handle (for detach and worker add).
    pub app: u64,
    /// App worker handle (for worker del).
    pub wrk: u64,
    /// The worker's index within its application.
    pub wrk_map_index: u32,
    /// The first segment's id (events name segments by id).
    pub segment_id: u64,
    /// The first segment's size, to map it.
    pub segment_size: u64,
    /// Slots of every queue.
    pub slots: u32,
    /// Slot size of every queue.
    pub slot_size: u32,
    /// `WORKER_*` flags.
    pub flags: u32,
    /// One pair per data-plane worker, by worker index.
    pub queues: Vec<QueuePair>,
}

impl WorkerInfo {
    /// File descriptors that travel with this description.
    pub fn fd_count(&self) -> usize {
        1 + usize::from(self.flags & WORKER_HAS_EVENTFD != 0)
    }
}

/// A message body, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body<'a> {
    /// [`Kind::AttachRequest`].
    Attach(AttachRequest<'a>),
    /// [`Kind::DetachRequest`]: the application.
    Detach {
        /// Application handle.
        app: u64,
    },
    /// [`Kind::WorkerAddRequest`].
    WorkerAdd {
        /// Application handle.
        app: u64,
    },
    /// [`Kind::WorkerDelRequest`].
    WorkerDel {
        /// Application handle.
        app: u64,
        /// App worker handle.
        wrk: u64,
    },
    /// [`Kind::CertKeyAddRequest`].
    CertKeyAdd {
        /// Certificate (PEM or DER; stored as given).
        cert: &'a [u8],
        /// Private key.
        key: &'a [u8],
    },
    /// [`Kind::CertKeyDelRequest`].
    CertKeyDel {
        /// Slot.
        index: u32,
    },
    /// [`Kind::ShareRequest`].
    Share {
        /// Application handle.
        app: u64,
    },
    /// [`Kind::WorkerJoinRequest`].
    WorkerJoin {
        /// Application handle.
        app: u64,
        /// Its share token.
        token: u64,
    },
    /// [`Kind::ListenerPassiveRequest`].
    ListenerPassive {
        /// Application handle.
        app: u64,
        /// Listener handle (as the bound event gave it).
        listener: u64,
        /// The app worker to make passive or active (any worker of the application).
        wrk: u64,
        /// Passive (true) or active again (false).
        passive: bool,
    },
    /// [`Kind::AttachReply`], [`Kind::WorkerAddReply`] or [`Kind::WorkerJoinReply`].
    Worker(WorkerInfo),
    /// [`Kind::ShareReply`].
    ShareToken {
        /// The token.
        token: u64,
    },
    /// [`Kind::CertKeyAddReply`].
    CertKeySlot {
        /// Slot.
        index: u32,
    },
    /// [`Kind::DetachReply`], [`Kind::WorkerDelReply`], [`Kind::CertKeyDelReply`],
    /// [`Kind::ListenerPassiveReply`].
    Empty,
    /// [`Kind::SegmentAdd`] (fd: the segment).
    SegmentAdd {
        /// Segment id.
        id: u64,
        /// Segment size.
        size: u64,
    },
    /// [`Kind::SegmentDel`].
    SegmentDel {
        /// Segment id.
        id: u64,
    },
    /// Any reply with a non-zero code: what went wrong.
    Failure(&'a str),
}

/// A whole message: header fields and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// Kind.
    pub kind: Kind,
    /// 0, or the failure's [`ErrorCode`].
    pub code: i32,
    /// The requester's value.
    pub context: u64,
    /// Body.
    pub body: Body<'a>,
}

fn text<'a>(b: &'a [u8], what: &'static str) -> Result<&'a str, WireError> {
    std::str::from_utf8(b).map_err(|_| WireError::BadField(what))
}

fn exact(b: &[u8], len: usize) -> Result<(), WireError> {
    check_len(b, len)?;
    if b.len() > len {
        return Err(WireError::BadField("length"));
    }
    Ok(())
}

impl<'a> Message<'a> {
    /// A request.
    pub fn request(kind: Kind, context: u64, body: Body<'a>) -> Self {
        Message { kind, code: 0, context, body }
    }

    /// A failure reply to a request of `request` kind.
    pub fn failure(request: Kind, context: u64, code: ErrorCode, text: &'a str) -> Self {
        Message { kind: request.reply(), code: code as i32, context, body: Body::Failure(text) }
    }

    /// Parses the message at the start of `b`; returns it and the bytes it took.
    ///
    /// [`WireError::Truncated`] means more bytes are needed (a stream reader
    /// waits for them); other errors mean the message is bad.
    pub fn parse(b: &'a [u8]) -> Result<(Message<'a>, usize), WireError> {
        let h = Header::parse(b)?;
        let total = HEADER_LEN + h.length as usize;
        check_len(b, total)?;
        let kind = Kind::from_u16(h.kind).ok_or(WireError::UnknownKind(h.kind))?;
        let body = Self::parse_body(kind, h.code, &b[HEADER_LEN..total])?;
        Ok((Message { kind, code: h.code, context: h.context, body }, total))
    }

    /// Parses a body of `kind` (with the header's `code`).
    pub fn parse_body(kind: Kind, code: i32, b: &'a [u8]) -> Result<Body<'a>, WireError> {
        if code != 0 {
            if kind.is_request() {
                return Err(WireError::BadField("code"));
            }
            if b.len() > MAX_ERROR_TEXT {
                return Err(WireError::BadField("text"));
            }
            return Ok(Body::Failure(text(b, "text")?));
        }
        Ok(match kind {
            Kind::AttachRequest => Body::Attach(parse_attach(b)?),
            Kind::DetachRequest => {
                exact(b, 8)?;
                Body::Detach { app: get_u64(b, 0..8) }
            }
            Kind::WorkerAddRequest => {
                exact(b, 8)?;
                Body::WorkerAdd { app: get_u64(b, 0..8) }
            }
            Kind::WorkerDelRequest => {
                exact(b, 16)?;
                Body::WorkerDel { app: get_u64(b, 0..8), wrk: get_u64(b, 8..16) }
            }
            Kind::CertKeyAddRequest => {
                check_len(b, 8)?;
                let (cl, kl) = (get_u32(b, 0..4) as usize, get_u32(b, 4..8) as usize);
                exact(b, 8usize.saturating_add(cl).saturating_add(kl))?;
                Body::CertKeyAdd { cert: &b[8..8 + cl], key: &b[8 + cl..8 + cl + kl] }
            }
            Kind::CertKeyDelRequest => {
                exact(b, 4)?;
                Body::CertKeyDel { index: get_u32(b, 0..4) }
            }
            Kind::ShareRequest => {
                exact(b, 8)?;
                Body::Share { app: get_u64(b, 0..8) }
            }
            Kind::WorkerJoinRequest => {
                exact(b, 16)?;
                Body::WorkerJoin { app: get_u64(b, 0..8), token: get_u64(b, 8..16) }
            }
            Kind::ListenerPassiveRequest => {
                exact(b, 32)?;
                let passive = match get_u32(b, 24..28) {
                    0 => false,
                    1 => true,
                    _ => return Err(WireError::BadField("passive")),
                };
                if get_u32(b, 28..32) != 0 {
                    return Err(WireError::BadField("reserved"));
                }
                Body::ListenerPassive {
                    app: get_u64(b, 0..8),
                    listener: get_u64(b, 8..16),
                    wrk: get_u64(b, 16..24),
                    passive,
                }
            }
            Kind::AttachReply | Kind::WorkerAddReply | Kind::WorkerJoinReply => Body::Worker(parse_worker(b)?),
            Kind::ShareReply => {
                exact(b, 8)?;
                Body::ShareToken { token: get_u64(b, 0..8) }
            }
            Kind::CertKeyAddReply => {
                exact(b, 4)?;
                Body::CertKeySlot { index: get_u32(b, 0..4) }
            }
            Kind::DetachReply | Kind::WorkerDelReply | Kind::CertKeyDelReply | Kind::ListenerPassiveReply => {
                exact(b, 0)?;
                Body::Empty
            }
            Kind::SegmentAdd => {
                exact(b, 16)?;
                Body::SegmentAdd { id: get_u64(b, 0..8), size: get_u64(b, 8..16) }
            }
            Kind::SegmentDel => {
                exact(b, 8)?;
                Body::SegmentDel { id: get_u64(b, 0..8) }
            }
            // An error reply always has a code.
            Kind::ErrorReply => return Err(WireError::BadField("code")),
        })
    }

    /// Appends the encoded message to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + HEADER_LEN, 0);
        match &self.body {
            Body::Attach(a) => emit_attach(a, out),
            Body::Detach { app } | Body::WorkerAdd { app } | Body::Share { app } => {
                out.extend_from_slice(&app.to_le_bytes())
            }
            Body::WorkerJoin { app, token } => {
                out.extend_from_slice(&app.to_le_bytes());
                out.extend_from_slice(&token.to_le_bytes());
            }
            Body::ListenerPassive { app, listener, wrk, passive } => {
                out.extend_from_slice(&app.to_le_bytes());
                out.extend_from_slice(&listener.to_le_bytes());
                out.extend_from_slice(&wrk.to_le_bytes());
                out.extend_from_slice(&u32::from(*passive).to_le_bytes());
                out.extend_from_slice(&0u32.to_le_bytes());
            }
            Body::ShareToken { token } => out.extend_from_slice(&token.to_le_bytes()),
            Body::WorkerDel { app, wrk } => {
                out.extend_from_slice(&app.to_le_bytes());
                out.extend_from_slice(&wrk.to_le_bytes());
            }
            Body::CertKeyAdd { cert, key } => {
                out.extend_from_slice(&(cert.len() as u32).to_le_bytes());
                out.extend_from_slice(&(key.len() as u32).to_le_bytes());
                out.extend_from_slice(cert);
                out.extend_from_slice(key);
            }
            Body::CertKeyDel { index } | Body::CertKeySlot { index } => out.extend_from_slice(&index.to_le_bytes()),
            Body::Worker(w) => emit_worker(w, out),
            Body::Empty => {}
            Body::SegmentAdd { id, size } => {
                out.extend_from_slice(&id.to_le_bytes());
                out.extend_from_slice(&size.to_le_bytes());
            }
            Body::SegmentDel { id } => out.extend_from_slice(&id.to_le_bytes()),
            Body::Failure(t) => {
                // Cut at a character boundary at most MAX_ERROR_TEXT bytes in.
                let mut end = t.len().min(MAX_ERROR_TEXT);
                while !t.is_char_boundary(end) {
                    end -= 1;
                }
                out.extend_from_slice(&t.as_bytes()[..end]);
            }
        }
        let length = (out.len() - start - HEADER_LEN) as u32;
        let h = Header { kind: self.kind as u16, length, code: self.code, context: self.context };
        h.emit(&mut out[start..start + HEADER_LEN]);
    }

    /// File descriptors that travel with this message (in body order).
    pub fn fd_count(&self) -> usize {
        match &self.body {
            Body::Worker(w) => w.fd_count(),
            Body::SegmentAdd { .. } => 1,
            _ => 0,
        }
    }
}

fn parse_attach(b: &[u8]) -> Result<AttachRequest<'_>, WireError> {
    use field::attach as f;
    check_len(b, f::FIXED)?;
    let (nl, sl) = (get_u8(b, f::NAME_LEN) as usize, get_u8(b, f::NS_LEN) as usize);
    if nl > MAX_NAME {
        return Err(WireError::BadField("name"));
    }
    if sl > MAX_NAME {
        return Err(WireError::BadField("namespace"));
    }
    exact(b, f::FIXED + nl + sl)?;
    let flags = get_u32(b, f::FLAGS);
    if flags & !ATTACH_FLAGS != 0 {
        return Err(WireError::BadField("flags"));
    }
    if get_u8(b, f::RESERVED) != 0 {
        return Err(WireError::BadField("reserved"));
    }
    let mut options = AttachOptions {
        namespace: text(&b[f::FIXED + nl..f::FIXED + nl + sl], "namespace")?.to_string(),
        secret: get_u64(b, f::SECRET),
        segment_size: get_u64(b, f::SEGMENT_SIZE),
        add_segment_size: get_u64(b, f::ADD_SEGMENT_SIZE),
        prealloc_fifo_pairs: get_u32(b, f::PREALLOC),
        rx_fifo_size: get_u32(b, f::RX_FIFO),
        tx_fifo_size: get_u32(b, f::TX_FIFO),
        event_queue_size: get_u32(b, f::EVQ_SIZE),
        tls_engine: get_u8(b, f::TLS_ENGINE),
        ..AttachOptions::default()
    };
    options.set_flags(flags);
    Ok(AttachRequest { name: text(&b[f::FIXED..f::FIXED + nl], "name")?, options })
}

fn emit_attach(r: &AttachRequest<'_>, out: &mut Vec<u8>) {
    use field::attach as f;
    let a = &r.options;
    // Names longer than the limit are cut, and the node then refuses them as
    // unknown namespaces or as different names: the caller validates first.
    let name = &r.name.as_bytes()[..r.name.len().min(MAX_NAME)];
    let ns = &a.namespace.as_bytes()[..a.namespace.len().min(MAX_NAME)];
    let mut b = [0u8; field::attach::FIXED];
    put_u64(&mut b, f::SECRET, a.secret);
    put_u64(&mut b, f::SEGMENT_SIZE, a.segment_size);
    put_u64(&mut b, f::ADD_SEGMENT_SIZE, a.add_segment_size);
    put_u32(&mut b, f::PREALLOC, a.prealloc_fifo_pairs);
    put_u32(&mut b, f::RX_FIFO, a.rx_fifo_size);
    put_u32(&mut b, f::TX_FIFO, a.tx_fifo_size);
    put_u32(&mut b, f::EVQ_SIZE, a.event_queue_size);
    put_u32(&mut b, f::FLAGS, a.flags());
    put_u8(&mut b, f::TLS_ENGINE, a.tls_engine);
    put_u8(&mut b, f::NAME_LEN, name.len() as u8);
    put_u8(&mut b, f::NS_LEN, ns.len() as u8);
    out.extend_from_slice(&b);
    out.extend_from_slice(name);
    out.extend_from_slice(ns);
}

fn parse_worker(b: &[u8]) -> Result<WorkerInfo, WireError> {
    use field::worker as f;
    check_len(b, f::FIXED)?;
    let n = get_u32(b, f::N_QUEUES) as usize;
    if n == 0 || n > MAX_QUEUES {
        return Err(WireError::BadField("queues"));
    }
    exact(b, f::FIXED + n * f::PAIR)?;
    if get_u32(b, f::RESERVED) != 0 {
        return Err(WireError::BadField("reserved"));
    }
    let queues = (0..n)
        .map(|i| {
            let at = f::FIXED + i * f::PAIR;
            QueuePair { events: get_u64(b, at..at + 8), requests: get_u64(b, at + 8..at + 16) }
        })
        .collect();
    Ok(WorkerInfo {
        app: get_u64(b, f::APP),
        wrk: get_u64(b, f::WRK),
        wrk_map_index: get_u32(b, f::MAP_INDEX),
        segment_id: get_u64(b, f::SEGMENT_ID),
        segment_size: get_u64(b, f::SEGMENT_SIZE),
        slots: get_u32(b, f::SLOTS),
        slot_size: get_u32(b, f::SLOT_SIZE),
        flags: get_u32(b, f::FLAGS),
        queues,
    })
}

fn emit_worker(w: &WorkerInfo, out: &mut Vec<u8>) {
    use field::worker as f;
    let mut b = [0u8; field::worker::FIXED];
    put_u64(&mut b, f::APP, w.app);
    put_u64(&mut b, f::WRK, w.wrk);
    put_u32(&mut b, f::MAP_INDEX, w.wrk_map_index);
    put_u32(&mut b, f::N_QUEUES, w.queues.len() as u32);
    put_u64(&mut b, f::SEGMENT_ID, w.segment_id);
    put_u64(&mut b, f::SEGMENT_SIZE, w.segment_size);
    put_u32(&mut b, f::SLOTS, w.slots);
    put_u32(&mut b, f::SLOT_SIZE, w.slot_size);
    put_u32(&mut b, f::FLAGS, w.flags);
    out.extend_from_slice(&b);
    for q in &w.queues {
        out.extend_from_slice(&q.events.to_le_bytes());
        out.extend_from_slice(&q.requests.to_le_bytes());
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;

    fn attach() -> AttachRequest<'static> {
        AttachRequest {
            name: "echo",
            options: AttachOptions {
                namespace: "blue".into(),
                secret: 42,
                segment_size: 32 << 20,
                add_segment_size: 0,
                prealloc_fifo_pairs: 4,
                rx_fifo_size: 65536,
                tx_fifo_size: 65536,
                event_queue_size: 2048,
                scope: Scope::LOCAL,
                use_eventfd: true,
                proxy: ProxySet::NONE,
                tls_engine: 1,
                builtin: false,
            },
        }
    }

    fn worker() -> WorkerInfo {
        WorkerInfo {
            app: 1 << 32,
            wrk: 3,
            wrk_map_index: 0,
            segment_id: 7,
            segment_size: 32 << 20,
            slots: 2048,
            slot_size: 128,
            flags: WORKER_HAS_EVENTFD,
            queues: vec![QueuePair { events: 512, requests: 4096 }, QueuePair { events: 8192, requests: 16384 }],
        }
    }

    fn round_trip(m: Message<'_>) {
        let mut out = Vec::new();
        m.emit(&mut out);
        let (back, used) = Message::parse(&out).unwrap();
        assert_eq!(used, out.len());
        assert_eq!(back, m);
        // Every strict prefix asks for more bytes, none is misread.
        for cut in 0..out.len() {
            assert!(matches!(Message::parse(&out[..cut]), Err(WireError::Truncated { .. })), "cut {cut}");
        }
    }

    #[test]
    fn every_body_round_trips() {
        let cert = b"-----BEGIN CERTIFICATE-----";
        let msgs = [
            Message::request(Kind::AttachRequest, 1, Body::Attach(attach())),
            Message::request(Kind::DetachRequest, 2, Body::Detach { app: 9 }),
            Message::request(Kind::WorkerAddRequest, 3, Body::WorkerAdd { app: 9 }),
            Message::request(Kind::WorkerDelRequest, 4, Body::WorkerDel { app: 9, wrk: 10 }),
            Message::request(Kind::CertKeyAddRequest, 5, Body::CertKeyAdd { cert, key: b"k" }),
            Message::request(Kind::CertKeyDelRequest, 6, Body::CertKeyDel { index: 2 }),
            Message::request(Kind::ShareRequest, 7, Body::Share { app: 9 }),
            Message::request(Kind::WorkerJoinRequest, 8, Body::WorkerJoin { app: 9, token: 0xfeed_beef }),
            Message::request(
                Kind::ListenerPassiveRequest,
                9,
                Body::ListenerPassive { app: 9, listener: 0xffff_ffff_0000_0002, wrk: 1 << 32 | 3, passive: true },
            ),
            Message { kind: Kind::ShareReply, code: 0, context: 7, body: Body::ShareToken { token: 0xfeed_beef } },
            Message { kind: Kind::WorkerJoinReply, code: 0, context: 8, body: Body::Worker(worker()) },
            Message { kind: Kind::ListenerPassiveReply, code: 0, context: 9, body: Body::Empty },
            Message { kind: Kind::AttachReply, code: 0, context: 1, body: Body::Worker(worker()) },
            Message { kind: Kind::WorkerAddReply, code: 0, context: 3, body: Body::Worker(worker()) },
            Message { kind: Kind::CertKeyAddReply, code: 0, context: 5, body: Body::CertKeySlot { index: 2 } },
            Message { kind: Kind::DetachReply, code: 0, context: 2, body: Body::Empty },
            Message { kind: Kind::SegmentAdd, code: 0, context: 0, body: Body::SegmentAdd { id: 5, size: 1 << 20 } },
            Message { kind: Kind::SegmentDel, code: 0, context: 0, body: Body::SegmentDel { id: 5 } },
            Message::failure(Kind::AttachRequest, 1, ErrorCode::WrongNamespaceSecret, "wrong secret for \"blue\""),
            Message::failure(Kind::ErrorReply, 0, ErrorCode::BadMagic, "bad magic"),
        ];
        for m in msgs {
            round_trip(m);
        }
    }

    #[test]
    fn header_layout_is_as_documented() {
        let mut out = Vec::new();
        Message::request(Kind::DetachRequest, 0x1122_3344_5566_7788, Body::Detach { app: 1 }).emit(&mut out);
        assert_eq!(&out[0..4], b"dpAp");
        assert_eq!(&out[4..6], &[2, 0], "version 2");
        assert_eq!(&out[6..8], &[2, 0], "kind 0x002");
        assert_eq!(&out[8..12], &[8, 0, 0, 0], "body length");
        assert_eq!(&out[12..16], &[0; 4], "code");
        assert_eq!(&out[16..24], &0x1122_3344_5566_7788u64.to_le_bytes());
        assert_eq!(out.len(), HEADER_LEN + 8);
        assert_eq!(Kind::AttachRequest.reply(), Kind::AttachReply);
        assert_eq!(Kind::SegmentAdd.reply(), Kind::ErrorReply, "notices have no reply");
    }

    #[test]
    fn bad_headers_and_bodies_are_errors() {
        let mut ok = Vec::new();
        Message::request(Kind::DetachRequest, 0, Body::Detach { app: 1 }).emit(&mut ok);
        let mut b = ok.clone();
        b[0] = b'x';
        assert!(matches!(Message::parse(&b), Err(WireError::BadMagic(_))));
        let mut b = ok.clone();
        b[4] = 1;
        // A version-1 client (IPv4-only queue messages) is refused, by name.
        assert_eq!(Message::parse(&b), Err(WireError::BadVersion(1)));
        assert!(WireError::BadVersion(1).to_string().contains("this side speaks 2"));
        let mut b = ok.clone();
        b[8..12].copy_from_slice(&(MAX_BODY as u32 + 1).to_le_bytes());
        assert_eq!(Message::parse(&b), Err(WireError::TooLarge(MAX_BODY as u32 + 1)));
        let mut b = ok.clone();
        b[6] = 0x77;
        assert_eq!(Message::parse(&b), Err(WireError::UnknownKind(0x77)));
        // A request with a code, a body one byte longer than the kind takes.
        let mut b = ok.clone();
        b[12] = 1;
        assert_eq!(Message::parse(&b), Err(WireError::BadField("code")));
        let mut b = ok.clone();
        b[8] = 9;
        b.push(0);
        assert_eq!(Message::parse(&b), Err(WireError::BadField("length")));
        // Attach: a name that is not UTF-8, a name length over the limit, unknown flags.
        let mut a = Vec::new();
        Message::request(Kind::AttachRequest, 0, Body::Attach(attach())).emit(&mut a);
        let name_at = HEADER_LEN + field::attach::FIXED;
        let mut b = a.clone();
        b[name_at] = 0xff;
        assert_eq!(Message::parse(&b), Err(WireError::BadField("name")));
        let mut b = a.clone();
        b[HEADER_LEN + field::attach::NAME_LEN] = 65;
        assert_eq!(Message::parse(&b), Err(WireError::BadField("name")));
        let mut b = a.clone();
        b[HEADER_LEN + field::attach::FLAGS.start + 3] = 0x80;
        assert_eq!(Message::parse(&b), Err(WireError::BadField("flags")));
        // Listener passive: only 0 and 1, and the reserved word zero.
        let mut lp = Vec::new();
        let body = Body::ListenerPassive { app: 1, listener: 2, wrk: 3, passive: false };
        Message::request(Kind::ListenerPassiveRequest, 0, body).emit(&mut lp);
        assert_eq!(lp.len(), HEADER_LEN + 32);
        let mut b = lp.clone();
        b[HEADER_LEN + 24] = 2;
        assert_eq!(Message::parse(&b), Err(WireError::BadField("passive")));
        let mut b = lp.clone();
        b[HEADER_LEN + 31] = 1;
        assert_eq!(Message::parse(&b), Err(WireError::BadField("reserved")));
        // A cert length that overflows is refused, not wrapped.
        let mut c = Vec::new();
        Message::request(Kind::CertKeyAddRequest, 0, Body::CertKeyAdd { cert: b"c", key: b"k" }).emit(&mut c);
        c[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(Message::parse(&c), Err(WireError::Truncated { .. })));
    }

    #[test]
    fn error_codes_are_distinct_and_named() {
        let mut v: Vec<i32> = ErrorCode::ALL.iter().map(|c| *c as i32).collect();
        v.sort_unstable();
        v.dedup();
        assert_eq!(v.len(), ErrorCode::ALL.len());
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_i32(*c as i32), Some(*c));
            assert!(!c.as_str().is_empty());
        }
        assert_eq!(ErrorCode::from_i32(0), None);
        assert_eq!(ErrorCode::WrongNamespaceSecret.to_string(), "wrong namespace secret (-103)");
    }

    #[test]
    fn long_failure_text_is_cut_at_a_char_boundary() {
        let long = "é".repeat(MAX_ERROR_TEXT);
        let mut out = Vec::new();
        Message::failure(Kind::AttachRequest, 0, ErrorCode::Internal, &long).emit(&mut out);
        let (m, _) = Message::parse(&out).unwrap();
        let Body::Failure(t) = m.body else { panic!() };
        assert_eq!(t.len(), MAX_ERROR_TEXT);
    }

    proptest! {
        /// Random bytes never panic the parser, and whatever it accepts re-encodes to the same bytes.
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok((m, used)) = Message::parse(&bytes) {
                let mut out = Vec::new();
                m.emit(&mut out);
                prop_assert_eq!(&out[..], &bytes[..used]);
            }
        }

        /// A valid header with a random kind and random body: an error or a message, never a panic.
        #[test]
        fn random_bodies_never_panic(kind in any::<u16>(), code in prop::sample::select(vec![0i32, -150]),
                                     body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut b = vec![0u8; HEADER_LEN];
            Header { kind, length: body.len() as u32, code, context: 9 }.emit(&mut b);
            b.extend_from_slice(&body);
            if let Ok((m, used)) = Message::parse(&b) {
                let mut out = Vec::new();
                m.emit(&mut out);
                prop_assert_eq!(&out[..], &b[..used], "what parses re-encodes to the same bytes");
            }
        }

        #[test]
        fn attach_round_trips(name in "[a-z0-9-]{1,64}", ns in "[a-z]{0,64}", secret in any::<u64>(),
                              flags in 0u32..32, evq in any::<u32>()) {
            let mut options = AttachOptions { namespace: ns, secret, event_queue_size: evq, ..attach().options };
            options.set_flags(flags);
            let a = AttachRequest { name: &name, options };
            round_trip(Message::request(Kind::AttachRequest, secret, Body::Attach(a)));
        }
    }
}
