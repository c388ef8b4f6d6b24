//! The vocabulary every layer speaks: one type per concept.
//!
//! The session layer, the API and message-queue wire formats ([`crate::api`],
//! [`crate::msg`]), the client and preload libraries, the C header's mirror
//! (`dpnode_client::ffi`), the TCP crate and the node's config all name an
//! endpoint, a protocol, a transport, a congestion-control choice, a scope,
//! a proxy set, connect options, attach options, an error code and a session
//! handle with the types below. Wire formats carry them as numbers and flags;
//! the conversions between those and these types live next to each format's
//! parser, once.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::limits::{self, OptionError};

/// The transport protocol of an endpoint (IANA numbers: queue messages carry them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Proto {
    /// TCP.
    Tcp = 6,
    /// UDP.
    Udp = 17,
}

impl Proto {
    /// Every protocol, for iteration.
    pub const ALL: [Proto; 2] = [Proto::Tcp, Proto::Udp];

    /// The protocol with this IANA number.
    pub fn from_u8(v: u8) -> Option<Proto> {
        Proto::ALL.into_iter().find(|p| *p as u8 == v)
    }

    /// Lower-case name, as used in URIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Proto {
    type Err = ParseError;

    /// `tcp` or `udp`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Proto::ALL
            .into_iter()
            .find(|p| s.eq_ignore_ascii_case(p.as_str()))
            .ok_or_else(|| ParseError(format!("{s:?} is not tcp or udp")))
    }
}

/// A word that does not name a value of the type it was parsed as; says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

/// A transport endpoint: protocol, IP address (either family) and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    /// Transport protocol.
    pub proto: Proto,
    /// Address; `0.0.0.0` or `::` is the wildcard (any, for a listen). A
    /// listen on `::` also takes IPv4 (as Linux's sockets do unless
    /// `IPV6_V6ONLY`); one on `0.0.0.0` takes only IPv4.
    pub ip: IpAddr,
    /// Port; 0 is reserved for proxy entries.
    pub port: u16,
}

impl Endpoint {
    /// The endpoint under which a proxy listener for `proto` is registered.
    pub fn proxy(proto: Proto) -> Self {
        Self { proto, ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED), port: 0 }
    }

    /// An IPv4 endpoint.
    pub fn v4(proto: Proto, ip: Ipv4Addr, port: u16) -> Self {
        Self { proto, ip: IpAddr::V4(ip), port }
    }

    /// An IPv6 endpoint.
    pub fn v6(proto: Proto, ip: Ipv6Addr, port: u16) -> Self {
        Self { proto, ip: IpAddr::V6(ip), port }
    }

    /// The IPv4 address, if this is an IPv4 endpoint.
    pub fn ip4(&self) -> Option<Ipv4Addr> {
        match self.ip {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        }
    }

    /// Whether this is a proxy endpoint (wildcard address, port 0).
    pub fn is_proxy(&self) -> bool {
        *self == Self::proxy(self.proto)
    }

    /// Parses `PROTO://ADDR/PORT` (or `PROTO://ADDR:PORT`, IPv6 addresses
    /// in brackets); `None` if it is not one.
    pub fn parse_uri(s: &str) -> Option<Endpoint> {
        s.parse().ok()
    }

    /// Parses `quic://ADDR/PORT`: the UDP endpoint QUIC runs on; `None` for any other URI.
    pub fn parse_quic_uri(s: &str) -> Option<Endpoint> {
        let rest = s.get(..7).filter(|p| p.eq_ignore_ascii_case("quic://")).map(|_| &s[7..])?;
        format!("udp://{rest}").parse().ok()
    }

    /// Parses an app's URI: `tls://ADDR/PORT` is a TCP endpoint with TLS
    /// over it (the bool), anything else as [`Endpoint::parse_uri`].
    pub fn parse_app_uri(s: &str) -> Option<(Endpoint, bool)> {
        match s.get(..6).filter(|p| p.eq_ignore_ascii_case("tls://")) {
            Some(_) => format!("tcp://{}", &s[6..]).parse().ok().map(|e| (e, true)),
            None => Endpoint::parse_uri(s).map(|e| (e, false)),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            IpAddr::V4(a) => write!(f, "{}://{}/{}", self.proto, a, self.port),
            IpAddr::V6(a) => write!(f, "{}://[{}]/{}", self.proto, a, self.port),
        }
    }
}

impl FromStr for Endpoint {
    type Err = ParseError;

    /// `PROTO://ADDR/PORT` (or `PROTO://ADDR:PORT`), e.g. `tcp://0.0.0.0/7`,
    /// as the node's CLI writes endpoints; an IPv6 address goes in brackets:
    /// `udp://[fd00::2]/7`, `tcp://[::]:80`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| ParseError(format!("{s:?}: {why}"));
        let (proto, rest) = s.split_once("://").ok_or_else(|| bad("expected PROTO://ADDR/PORT"))?;
        let proto = proto.parse::<Proto>().map_err(|_| bad("protocol is not tcp or udp"))?;
        let (ip, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (ip, after) = v6.split_once(']').ok_or_else(|| bad("missing ] after the IPv6 address"))?;
            let port = after.strip_prefix(['/', ':']).ok_or_else(|| bad("missing /PORT"))?;
            let ip = ip.parse::<Ipv6Addr>().map_err(|_| bad("address in brackets is not an IPv6 address"))?;
            (IpAddr::V6(ip), port)
        } else {
            let (ip, port) = rest.split_once(['/', ':']).ok_or_else(|| bad("missing /PORT"))?;
            let ip = ip
                .parse::<Ipv4Addr>()
                .map_err(|_| bad("address is not an IPv4 address (IPv6 goes in brackets: [fd00::2])"))?;
            (IpAddr::V4(ip), port)
        };
        let port = port.parse::<u16>().map_err(|_| bad("port is not a number in 0..=65535"))?;
        Ok(Endpoint { proto, ip, port })
    }
}

/// The transport under a session (numbered as queue events report it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TransportProto {
    /// UDP: one session per peer 5-tuple, datagrams framed in the fifos.
    Udp = 0,
    /// TCP: a byte stream.
    Tcp = 1,
    /// Cut-through UDP: two apps of one node, datagram framing, no transport.
    CtUdp = 2,
    /// Cut-through TCP: two apps of one node, a byte stream, no transport.
    CtTcp = 3,
    /// TLS: a byte stream of plaintext over a TCP connection (records on the worker).
    Tls = 4,
    /// QUIC over UDP: a connection session (its fifos carry no data) or a
    /// stream session on one (a byte stream, opened with the connection as parent).
    Quic = 5,
}

impl TransportProto {
    /// Every transport, by number.
    pub const ALL: [TransportProto; 6] = [
        TransportProto::Udp,
        TransportProto::Tcp,
        TransportProto::CtUdp,
        TransportProto::CtTcp,
        TransportProto::Tls,
        TransportProto::Quic,
    ];

    /// The transport with this number.
    pub fn from_u8(v: u8) -> Option<TransportProto> {
        TransportProto::ALL.get(usize::from(v)).copied()
    }

    /// The transport for an endpoint's protocol when the peer is remote.
    pub fn for_proto(p: Proto) -> Self {
        match p {
            Proto::Udp => TransportProto::Udp,
            Proto::Tcp => TransportProto::Tcp,
        }
    }

    /// The cut-through flavour for an endpoint's protocol.
    pub fn cut_through(p: Proto) -> Self {
        match p {
            Proto::Udp => TransportProto::CtUdp,
            Proto::Tcp => TransportProto::CtTcp,
        }
    }

    /// Whether the fifos carry framed datagrams ([`crate::dgram`]) rather than a byte stream.
    pub fn is_dgram(self) -> bool {
        matches!(self, TransportProto::Udp | TransportProto::CtUdp)
    }

    /// Whether this is a cut-through session.
    pub fn is_cut_through(self) -> bool {
        matches!(self, TransportProto::CtUdp | TransportProto::CtTcp)
    }

    /// The endpoint protocol this transport carries.
    pub fn proto(self) -> Proto {
        match self {
            TransportProto::Udp | TransportProto::CtUdp | TransportProto::Quic => Proto::Udp,
            TransportProto::Tcp | TransportProto::CtTcp | TransportProto::Tls => Proto::Tcp,
        }
    }

    /// Name, as the CLI prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportProto::Udp => "udp",
            TransportProto::Tcp => "tcp",
            TransportProto::CtUdp => "ct-udp",
            TransportProto::CtTcp => "ct-tcp",
            TransportProto::Tls => "tls",
            TransportProto::Quic => "quic",
        }
    }
}

/// A TCP congestion-control choice (numbered as connect requests carry it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum Cc {
    /// The transport's default (the `[tcp] cc` config key).
    #[default]
    Default = 0,
    /// NewReno (RFC 6582).
    NewReno = 1,
    /// CUBIC (RFC 9438).
    Cubic = 2,
}

impl Cc {
    /// The choice with this number.
    pub fn from_u8(v: u8) -> Option<Cc> {
        [Cc::Default, Cc::NewReno, Cc::Cubic].get(usize::from(v)).copied()
    }

    /// `default`, `newreno` or `cubic`.
    pub fn as_str(self) -> &'static str {
        match self {
            Cc::Default => "default",
            Cc::NewReno => "newreno",
            Cc::Cubic => "cubic",
        }
    }
}

impl fmt::Display for Cc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Cc {
    type Err = ParseError;

    /// An algorithm by name: `newreno` or `cubic` (the default is chosen by saying nothing).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "newreno" => Ok(Cc::NewReno),
            "cubic" => Ok(Cc::Cubic),
            _ => Err(ParseError(format!("{s:?} is not newreno or cubic"))),
        }
    }
}

/// Per-connection transport options given with a connect (TCP ones are ignored by UDP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TransportOptions {
    /// Cap on the maximum segment size (TCP).
    pub mss: Option<u16>,
    /// Congestion control (TCP).
    pub cc: Cc,
    /// Disable Nagle's algorithm (TCP).
    pub no_delay: bool,
    /// Send keepalives (TCP).
    pub keepalive: bool,
}

impl TransportOptions {
    /// Checks each value against [`limits`] (an MSS cap below the floor is refused, naming `mss` and its range).
    pub fn validate(&self) -> Result<(), OptionError> {
        if let Some(m) = self.mss {
            limits::MSS.check(m.into())?;
        }
        Ok(())
    }
}

/// Where an application's listeners can be found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Scope {
    /// Reachable from the network, through the namespace's FIB table.
    pub global: bool,
    /// Reachable by apps in the same namespace, through its local table (cut-through).
    pub local: bool,
}

impl Scope {
    /// Global only.
    pub const GLOBAL: Scope = Scope { global: true, local: false };
    /// Local only.
    pub const LOCAL: Scope = Scope { global: false, local: true };
    /// Global and local.
    pub const BOTH: Scope = Scope { global: true, local: true };

    /// The scope an app asked for; asking for none means global.
    pub fn from_flags(global: bool, local: bool) -> Self {
        if global || local {
            Scope { global, local }
        } else {
            Scope::GLOBAL
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match (self.global, self.local) {
            (true, true) => "global,local",
            (true, false) => "global",
            (false, true) => "local",
            (false, false) => "none",
        })
    }
}

impl FromStr for Scope {
    type Err = ParseError;

    /// `global`, `local`, `both` (or `global,local`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "global" => Ok(Scope::GLOBAL),
            "local" => Ok(Scope::LOCAL),
            "both" | "global,local" => Ok(Scope::BOTH),
            _ => Err(ParseError(format!("{s:?} is not global, local or both"))),
        }
    }
}

/// The transports a proxy app takes every otherwise unclaimed session of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ProxySet {
    /// TCP: every address and port of the namespace.
    pub tcp: bool,
    /// UDP: every address and port of the namespace.
    pub udp: bool,
}

impl ProxySet {
    /// Not a proxy.
    pub const NONE: ProxySet = ProxySet { tcp: false, udp: false };
    /// TCP only.
    pub const TCP: ProxySet = ProxySet { tcp: true, udp: false };
    /// UDP only.
    pub const UDP: ProxySet = ProxySet { tcp: false, udp: true };
    /// TCP and UDP.
    pub const BOTH: ProxySet = ProxySet { tcp: true, udp: true };

    /// Whether any transport is proxied.
    pub fn any(self) -> bool {
        self.tcp || self.udp
    }

    /// Whether `proto` is proxied.
    pub fn contains(self, proto: Proto) -> bool {
        match proto {
            Proto::Tcp => self.tcp,
            Proto::Udp => self.udp,
        }
    }

    /// The proxied protocols.
    pub fn iter(self) -> impl Iterator<Item = Proto> {
        Proto::ALL.into_iter().filter(move |p| self.contains(*p))
    }
}

impl FromStr for ProxySet {
    type Err = ParseError;

    /// `tcp`, `udp`, `both` (or `tcp,udp`) or `none`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tcp" => Ok(ProxySet::TCP),
            "udp" => Ok(ProxySet::UDP),
            "both" | "tcp,udp" => Ok(ProxySet::BOTH),
            "none" => Ok(ProxySet::NONE),
            _ => Err(ParseError(format!("{s:?} is not tcp, udp, both or none"))),
        }
    }
}

const KIB: u32 = 1 << 10;
const MIB: u64 = 1 << 20;

/// What an application gives at attach time, builtin (in the node) or external (over the API).
///
/// The API's attach request carries these ([`crate::api::AttachRequest`]),
/// the C API's `dpn_attach_opts` mirrors them, and every app the node's
/// config or CLI starts is attached with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachOptions {
    /// Namespace to attach in; empty (or `default`) for the default namespace.
    pub namespace: String,
    /// Secret of that namespace (ignored for the default one).
    pub secret: u64,
    /// Where the app's listeners are reachable (none asked for: global).
    pub scope: Scope,
    /// Size of each worker's first segment, in bytes.
    pub segment_size: u64,
    /// Size of segments added when the first is full, in bytes; 0 means `segment_size`.
    pub add_segment_size: u64,
    /// Fifo pairs to carve out of the first segment up front.
    pub prealloc_fifo_pairs: u32,
    /// Receive fifo size, in bytes (a power of two).
    pub rx_fifo_size: u32,
    /// Transmit fifo size, in bytes (a power of two).
    pub tx_fifo_size: u32,
    /// Length of each worker's event queue, in messages.
    pub event_queue_size: u32,
    /// Wake the app through an eventfd when its queue goes non-empty (an
    /// external app's default: its `wait` sleeps; without one it polls).
    pub use_eventfd: bool,
    /// The transports this app proxies.
    pub proxy: ProxySet,
    /// TLS engine slot ([`limits::TLS_ENGINE`]).
    pub tls_engine: u8,
    /// The app runs inside the node rather than in another process (never set over the API).
    pub builtin: bool,
}

impl Default for AttachOptions {
    /// An external app's defaults (eventfd on).
    fn default() -> Self {
        Self {
            namespace: String::new(),
            secret: 0,
            scope: Scope::default(),
            segment_size: 32 * MIB,
            add_segment_size: 0,
            prealloc_fifo_pairs: 0,
            rx_fifo_size: 64 * KIB,
            tx_fifo_size: 64 * KIB,
            event_queue_size: 2048,
            use_eventfd: true,
            proxy: ProxySet::NONE,
            tls_engine: 0,
            builtin: false,
        }
    }
}

impl AttachOptions {
    /// A builtin app's defaults: no eventfd (there is no process to wake).
    pub fn builtin() -> Self {
        Self { builtin: true, use_eventfd: false, ..Self::default() }
    }

    /// The scope these options ask for (none given = global).
    pub fn scope(&self) -> Scope {
        Scope::from_flags(self.scope.global, self.scope.local)
    }
}

/// The codes a failure carries (in replies and in queue events).
///
/// `-100..=-149` are the session layer's control errors, with the numbers
/// that `session::error::SessionError::code` maps its errors to; `-150..` are this protocol's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ErrorCode {
    /// An application with this name is already attached.
    AlreadyAttached = -100,
    /// The options are valid one by one but not together.
    UnsupportedConfig = -101,
    /// No namespace with this id.
    InvalidNamespace = -102,
    /// Wrong secret for the namespace.
    WrongNamespaceSecret = -103,
    /// No such application (never attached, detached, or stale).
    NotAttached = -104,
    /// An option or argument is out of range.
    InvalidValue = -105,
    /// Another application listens on this endpoint.
    AddressInUse = -106,
    /// No such listener.
    NoSuchListener = -107,
    /// No such app worker.
    NoSuchAppWorker = -108,
    /// No such application index.
    NoSuchApp = -109,
    /// Not listening on this endpoint.
    NotListening = -110,
    /// Already listening on this endpoint.
    AlreadyListening = -111,
    /// A pool or queue ran out (applications, listeners, requests to the main thread...).
    TooMany = -112,
    /// The body does not parse as the header's kind.
    BadMessage = -150,
    /// The header's magic is wrong.
    BadMagic = -151,
    /// The header's version is not spoken here.
    BadVersion = -152,
    /// The body is longer than allowed.
    TooLarge = -153,
    /// The kind is unknown, or not one the sender may send.
    UnknownKind = -154,
    /// The message names an application or worker this connection does not own.
    NotYours = -155,
    /// The node could not do it (memory, file descriptors).
    Internal = -156,
    /// The session handle is unknown, stale, or not the sender's.
    BadSession = -170,
    /// A message queue is full (the request was not sent).
    QueueFull = -171,
    /// The session cannot do that in its state (e.g. write before accept).
    BadState = -172,
    /// Connect: no route to the destination.
    NoRoute = -180,
    /// Connect: the peer refused.
    Refused = -181,
    /// Connect: no answer.
    Timeout = -182,
    /// Connect: no free local port.
    NoPort = -183,
    /// Connect: no fifo memory.
    NoMemory = -184,
}

impl ErrorCode {
    /// Every code, for tables and tests.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::AlreadyAttached,
        ErrorCode::UnsupportedConfig,
        ErrorCode::InvalidNamespace,
        ErrorCode::WrongNamespaceSecret,
        ErrorCode::NotAttached,
        ErrorCode::InvalidValue,
        ErrorCode::AddressInUse,
        ErrorCode::NoSuchListener,
        ErrorCode::NoSuchAppWorker,
        ErrorCode::NoSuchApp,
        ErrorCode::NotListening,
        ErrorCode::AlreadyListening,
        ErrorCode::TooMany,
        ErrorCode::BadMessage,
        ErrorCode::BadMagic,
        ErrorCode::BadVersion,
        ErrorCode::TooLarge,
        ErrorCode::UnknownKind,
        ErrorCode::NotYours,
        ErrorCode::Internal,
        ErrorCode::BadSession,
        ErrorCode::QueueFull,
        ErrorCode::BadState,
        ErrorCode::NoRoute,
        ErrorCode::Refused,
        ErrorCode::Timeout,
        ErrorCode::NoPort,
        ErrorCode::NoMemory,
    ];

    /// The code with this number.
    pub fn from_i32(v: i32) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| *c as i32 == v)
    }

    /// A short description (the reply's text usually says more).
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            AlreadyAttached => "application already attached",
            UnsupportedConfig => "unsupported configuration",
            InvalidNamespace => "invalid namespace",
            WrongNamespaceSecret => "wrong namespace secret",
            NotAttached => "application not attached",
            InvalidValue => "invalid value",
            AddressInUse => "address in use",
            NoSuchListener => "no such listener",
            NoSuchAppWorker => "no such app worker",
            NoSuchApp => "no such application",
            NotListening => "not listening",
            AlreadyListening => "already listening",
            TooMany => "out of resources",
            BadMessage => "malformed message",
            BadMagic => "bad magic",
            BadVersion => "protocol version not supported",
            TooLarge => "message too large",
            UnknownKind => "unknown or unexpected message kind",
            NotYours => "not owned by this connection",
            Internal => "internal error",
            BadSession => "no such session",
            QueueFull => "message queue full",
            BadState => "session state does not allow this",
            NoRoute => "no route",
            Refused => "connection refused",
            Timeout => "timed out",
            NoPort => "no free local port",
            NoMemory => "no fifo memory",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.as_str(), *self as i32)
    }
}

/// A session's name: data-plane worker index (high 32 bits) and pool index
/// (low 32), so any thread can tell who owns a session without a lookup
/// (VPP's `session_handle`). Listeners carry [`SessionHandle::LISTENER_THREAD`]
/// in the worker half, so the two kinds can never be confused. Queue
/// messages, API replies and the client library carry it as its `u64`.
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

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn endpoint_round_trips_through_its_text() {
        let ep: Endpoint = "TCP://10.0.0.1:80".parse().unwrap();
        assert_eq!(ep, Endpoint::v4(Proto::Tcp, Ipv4Addr::new(10, 0, 0, 1), 80));
        assert_eq!(ep.to_string().parse::<Endpoint>(), Ok(ep));
        let v6: Endpoint = "udp://[fd00::2]/7".parse().unwrap();
        assert_eq!(v6, Endpoint::v6(Proto::Udp, "fd00::2".parse().unwrap(), 7));
        assert_eq!(v6.to_string(), "udp://[fd00::2]/7");
        assert_eq!("tcp://[::]:80".parse::<Endpoint>().unwrap().to_string(), "tcp://[::]/80");
        assert_eq!(v6.ip4(), None);
        for bad in ["tcp://::1/80", "tcp://[::1/80", "tcp://[1.2.3.4]/80", "tcp://[::1]80", "tcp://[::1]/x"] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad}");
        }
        assert_eq!("udp://1.2.3.4".parse::<Endpoint>().unwrap_err().to_string(), "\"udp://1.2.3.4\": missing /PORT");
        assert!(Endpoint::proxy(Proto::Udp).is_proxy());
    }

    #[test]
    fn numbers_round_trip() {
        for p in Proto::ALL {
            assert_eq!(Proto::from_u8(p as u8), Some(p));
        }
        for t in TransportProto::ALL {
            assert_eq!(TransportProto::from_u8(t as u8), Some(t));
        }
        for c in [Cc::Default, Cc::NewReno, Cc::Cubic] {
            assert_eq!(Cc::from_u8(c as u8), Some(c));
        }
        assert_eq!((Proto::from_u8(1), TransportProto::from_u8(6), Cc::from_u8(3)), (None, None, None));
    }

    #[test]
    fn words_parse_and_refuse() {
        assert_eq!("both".parse(), Ok(Scope::BOTH));
        assert_eq!("tcp,udp".parse::<ProxySet>().map(|p| p.iter().count()), Ok(2));
        assert_eq!("x".parse::<Scope>().unwrap_err().to_string(), "\"x\" is not global, local or both");
        assert_eq!("vegas".parse::<Cc>().unwrap_err().to_string(), "\"vegas\" is not newreno or cubic");
    }

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
}
