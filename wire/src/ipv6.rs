//! IPv6 (RFC 8200): address prefixes (`Cidr`), the addresses a host derives
//! (EUI-64 link-local from a MAC, solicited-node multicast groups and their
//! Ethernet mapping, RFC 4291 and RFC 2464), the fixed header's view and its
//! `Repr`, and the extension-header chain ([`walk_chain`]): hop-by-hop and
//! destination options processed per their option-type action bits, a
//! routing header with segments left refused (this node is a host and never
//! executes a source route; type 0 is deprecated by RFC 5095), and the
//! fragment header returned for the reassembler.
//!
//! The next-header field is a plain `u8` with the values this node names
//! in [`next_header`]; the upper-layer numbers are the same IANA space as
//! IPv4's protocol field (`ipv4::Protocol` converts from it).

use core::fmt;
use core::str::FromStr;
use std::net::Ipv6Addr;

use super::{ethernet, Error};

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;

/// The minimum link MTU every IPv6 link must carry (RFC 8200 section 5).
pub const MIN_MTU: usize = 1280;

/// The all-nodes link-local multicast group, ff02::1.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The all-routers link-local multicast group, ff02::2.
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);

/// Next-header values this node names (IANA "Assigned Internet Protocol
/// Numbers" and RFC 8200 section 4).
pub mod next_header {
    /// Hop-by-hop options (only directly after the fixed header).
    pub const HOP_BY_HOP: u8 = 0;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// Routing header.
    pub const ROUTING: u8 = 43;
    /// Fragment header.
    pub const FRAGMENT: u8 = 44;
    /// Encapsulating security payload (not processed by this node).
    pub const ESP: u8 = 50;
    /// Authentication header (not processed by this node).
    pub const AH: u8 = 51;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// No next header: nothing follows.
    pub const NO_NEXT: u8 = 59;
    /// Destination options.
    pub const DEST_OPTS: u8 = 60;
}

/// An IPv6 address with a prefix length, e.g. an interface address
/// `fd00:198:18::2/64` (host bits kept) or a route prefix `::/0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    address: Ipv6Addr,
    prefix_len: u8,
}

impl Cidr {
    /// `Malformed` if `prefix_len` is over 128.
    pub const fn new(address: Ipv6Addr, prefix_len: u8) -> Result<Cidr, Error> {
        if prefix_len > 128 {
            return Err(Error::Malformed);
        }
        Ok(Cidr { address, prefix_len })
    }

    /// The address as given (host bits included).
    pub const fn address(&self) -> Ipv6Addr {
        self.address
    }

    /// The prefix length, 0..=128.
    pub const fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The netmask as a host-order integer.
    #[inline]
    pub const fn mask_u128(&self) -> u128 {
        if self.prefix_len == 0 {
            0
        } else {
            u128::MAX << (128 - self.prefix_len as u32)
        }
    }

    /// The address with the host bits cleared.
    pub const fn network(&self) -> Ipv6Addr {
        Ipv6Addr::from_bits(self.address.to_bits() & self.mask_u128())
    }

    /// Whether `addr` is inside this prefix.
    #[inline]
    pub const fn contains(&self, addr: Ipv6Addr) -> bool {
        let mask = self.mask_u128();
        addr.to_bits() & mask == self.address.to_bits() & mask
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}

impl FromStr for Cidr {
    type Err = Error;

    /// Parse `addr/len`; anything else is `Malformed`.
    fn from_str(s: &str) -> Result<Cidr, Error> {
        let (addr, len) = s.split_once('/').ok_or(Error::Malformed)?;
        if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::Malformed);
        }
        let addr: Ipv6Addr = addr.parse().map_err(|_| Error::Malformed)?;
        let len: u8 = len.parse().map_err(|_| Error::Malformed)?;
        Cidr::new(addr, len)
    }
}

/// The modified EUI-64 interface identifier of a MAC (RFC 4291 appendix A):
/// ff:fe inserted in the middle and the universal/local bit inverted.
pub const fn eui64_interface_id(mac: ethernet::Address) -> [u8; 8] {
    let m = mac.0;
    [m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]]
}

/// The link-local address fe80::/64 plus the EUI-64 identifier of `mac`.
pub const fn link_local_from_mac(mac: ethernet::Address) -> Ipv6Addr {
    let id = eui64_interface_id(mac);
    let mut b = [0u8; 16];
    b[0] = 0xfe;
    b[1] = 0x80;
    let mut i = 0;
    while i < 8 {
        b[8 + i] = id[i];
        i += 1;
    }
    Ipv6Addr::from_bits(u128::from_be_bytes(b))
}

/// The solicited-node multicast group of `addr` (RFC 4291 2.7.1):
/// ff02::1:ff00:0/104 plus the address's low 24 bits.
pub const fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let low = addr.to_bits() & 0x00ff_ffff;
    Ipv6Addr::from_bits(0xff02_0000_0000_0000_0000_0001_ff00_0000 | low)
}

/// Whether `addr` is a solicited-node multicast group.
pub const fn is_solicited_node(addr: Ipv6Addr) -> bool {
    addr.to_bits() & !0x00ff_ffff == 0xff02_0000_0000_0000_0000_0001_ff00_0000
}

/// The Ethernet destination of a multicast IPv6 address (RFC 2464 7):
/// 33:33 and the group's low 32 bits.
pub const fn multicast_mac(group: Ipv6Addr) -> ethernet::Address {
    let o = group.octets();
    ethernet::Address([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

/// Whether `addr` is link-local unicast, fe80::/10.
pub const fn is_link_local(addr: Ipv6Addr) -> bool {
    addr.segments()[0] & 0xffc0 == 0xfe80
}

/// Why an address cannot be the source of a datagram a host accepts
/// (RFC 4291 2.5.2, 2.5.3, 2.7; RFC 4443 for `::` in error replies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Martian {
    /// A multicast group, ff00::/8: never a sender.
    Multicast,
    /// ::1 must never appear on a wire.
    Loopback,
}

/// The class that makes `a` unacceptable as a source, if any. The
/// unspecified address is legal (duplicate address detection sends from
/// it), so the caller decides about `::` per message.
pub const fn martian_source(a: Ipv6Addr) -> Option<Martian> {
    if a.is_multicast() {
        Some(Martian::Multicast)
    } else if a.is_loopback() {
        Some(Martian::Loopback)
    } else {
        None
    }
}

mod field {
    use core::ops::Range;

    pub const VER_TC_FL: Range<usize> = 0..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Range<usize> = 8..24;
    pub const DST_ADDR: Range<usize> = 24..40;
}

/// Offset of the next-header field in the fixed header (the pointer of a
/// parameter problem about the first header).
pub const NEXT_HEADER_OFFSET: usize = field::NXT_HDR;

/// A zero-copy view of an IPv6 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checking it; accessors may panic if it is short.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap a buffer after `check_len`; then no accessor panics.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Truncated` if the buffer is shorter than the fixed header or than
    /// the payload length claims; `BadVersion` unless version 6. A payload
    /// length of 0 with a hop-by-hop header (a jumbogram, RFC 2675) is
    /// simply an empty payload here: the node does not take jumbograms.
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() != 6 {
            return Err(Error::BadVersion);
        }
        if len < HEADER_LEN + usize::from(self.payload_len()) {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn first_word(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::VER_TC_FL];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// The version field (6 after `new_checked`).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    /// The traffic class (DSCP and ECN).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (self.first_word() >> 20) as u8
    }

    /// The 20-bit flow label.
    #[inline]
    pub fn flow_label(&self) -> u32 {
        self.first_word() & 0x000f_ffff
    }

    /// The payload length: everything after the fixed header, extension
    /// headers included.
    #[inline]
    pub fn payload_len(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::LENGTH];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// The first next-header value (an extension header or the upper layer).
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NXT_HDR]
    }

    /// The hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// The source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        addr_at(self.buffer.as_ref(), field::SRC_ADDR.start)
    }

    /// The destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        addr_at(self.buffer.as_ref(), field::DST_ADDR.start)
    }
}

#[inline]
fn addr_at(b: &[u8], at: usize) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[at..at + 16]);
    Ipv6Addr::from(a)
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The payload: exactly `payload_len` bytes after the fixed header, so
    /// Ethernet padding is not included.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + usize::from(self.payload_len())]
    }

    /// The packet from the fixed header to the end of the payload.
    #[inline]
    pub fn datagram(&self) -> &'a [u8] {
        &self.buffer.as_ref()[..HEADER_LEN + usize::from(self.payload_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    fn set_first_word(&mut self, v: u32) {
        self.buffer.as_mut()[field::VER_TC_FL].copy_from_slice(&v.to_be_bytes());
    }

    /// Set version, traffic class and flow label (the first 32 bits).
    #[inline]
    pub fn set_version_tc_flow(&mut self, version: u8, traffic_class: u8, flow_label: u32) {
        self.set_first_word(
            (u32::from(version & 0x0f) << 28) | (u32::from(traffic_class) << 20) | (flow_label & 0x000f_ffff),
        );
    }

    /// Set the payload length.
    #[inline]
    pub fn set_payload_len(&mut self, v: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&v.to_be_bytes());
    }

    /// Set the first next-header value.
    #[inline]
    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[field::NXT_HDR] = v;
    }

    /// Set the hop limit.
    #[inline]
    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = v;
    }

    /// Set the source address.
    #[inline]
    pub fn set_src_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a.octets());
    }

    /// Set the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a.octets());
    }

    /// The payload (`payload_len` bytes after the fixed header), mutably.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// The meaning of an IPv6 fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
    /// The first next-header value.
    pub next_header: u8,
    /// Bytes after the fixed header (extension headers included).
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class (DSCP and ECN).
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
}

impl Repr {
    /// Read the fixed header (the extension headers are [`walk_chain`]'s).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>) -> Result<Repr, Error> {
        packet.check_len()?;
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: usize::from(packet.payload_len()),
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
        })
    }

    /// Length of the header `emit` writes (40).
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Length of the whole packet.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Write the 40-byte fixed header; touches nothing after it. Panics if
    /// `packet` is shorter than 40 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut Packet<&mut T>) {
        debug_assert!(self.payload_len <= usize::from(u16::MAX), "IPv6 payload too long");
        packet.set_version_tc_flow(6, self.traffic_class, self.flow_label);
        packet.set_payload_len(self.payload_len as u16);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
    }
}

/// The fragment header (RFC 8200 4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragmentHeader {
    /// The header that follows in the reassembled datagram.
    pub next_header: u8,
    /// Offset of this fragment's data in the datagram, in bytes (a multiple of 8).
    pub offset: u16,
    /// More fragments follow.
    pub more: bool,
    /// The datagram's identification.
    pub ident: u32,
}

/// Length of the fragment header.
pub const FRAGMENT_HEADER_LEN: usize = 8;

impl FragmentHeader {
    /// Read one from the first 8 bytes of `b`; `Truncated` if shorter.
    pub fn parse(b: &[u8]) -> Result<FragmentHeader, Error> {
        if b.len() < FRAGMENT_HEADER_LEN {
            return Err(Error::Truncated);
        }
        let off = u16::from_be_bytes([b[2], b[3]]);
        Ok(FragmentHeader {
            next_header: b[0],
            offset: off & 0xfff8,
            more: off & 1 != 0,
            ident: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        })
    }

    /// Write it into the first 8 bytes of `b`; panics if shorter.
    pub fn emit(&self, b: &mut [u8]) {
        b[0] = self.next_header;
        b[1] = 0;
        b[2..4].copy_from_slice(&((self.offset & 0xfff8) | u16::from(self.more)).to_be_bytes());
        b[4..8].copy_from_slice(&self.ident.to_be_bytes());
    }

    /// Whether this is an atomic fragment (offset 0, no more): RFC 6946
    /// says to process it as a whole datagram, outside the reassembler.
    pub const fn is_atomic(&self) -> bool {
        self.offset == 0 && !self.more
    }
}

/// Option types inside hop-by-hop and destination options headers.
pub mod option {
    /// One byte of padding.
    pub const PAD1: u8 = 0;
    /// N bytes of padding.
    pub const PADN: u8 = 1;
    /// Router alert (RFC 2711), hop-by-hop only.
    pub const ROUTER_ALERT: u8 = 5;
    /// Jumbo payload (RFC 2675); this node does not take jumbograms.
    pub const JUMBO: u8 = 0xc2;
}

/// What to do with an option of an unknown type: its two high bits (RFC
/// 8200 4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnknownOptionAction {
    /// 00: skip it and go on.
    Skip,
    /// 01: discard the packet silently.
    Discard,
    /// 10: discard and send a parameter problem (code 2), whatever the
    /// destination.
    DiscardSendError,
    /// 11: discard and send a parameter problem (code 2) unless the
    /// destination was multicast.
    DiscardSendErrorUnicast,
}

impl UnknownOptionAction {
    /// The action an option type's high bits ask for.
    pub const fn of(option_type: u8) -> UnknownOptionAction {
        match option_type >> 6 {
            0 => UnknownOptionAction::Skip,
            1 => UnknownOptionAction::Discard,
            2 => UnknownOptionAction::DiscardSendError,
            _ => UnknownOptionAction::DiscardSendErrorUnicast,
        }
    }
}

/// The most extension headers [`walk_chain`] walks before it gives up: a
/// legitimate packet has at most one of each (two destination options),
/// so more is an attack on the walker (RFC 8200 4.1 asks for one of each).
pub const MAX_EXTENSION_HEADERS: usize = 8;

/// Why [`walk_chain`] refused a packet. `pointer` is the offset from the
/// start of the fixed header that a parameter problem names (RFC 4443 3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChainError {
    /// A header or option runs past the payload.
    Truncated,
    /// Hop-by-hop options other than directly after the fixed header
    /// (parameter problem code 1).
    HopByHopNotFirst {
        /// Offset of the next-header field that named it.
        pointer: usize,
    },
    /// A routing header with segments left, which a host never executes;
    /// type 0 in particular (RFC 5095). Parameter problem code 0.
    RoutingHeader {
        /// The routing type.
        routing_type: u8,
        /// Offset of the routing type field.
        pointer: usize,
    },
    /// An option of an unknown type whose action bits say discard.
    UnknownOption {
        /// What the option type asks for.
        action: UnknownOptionAction,
        /// Offset of the option type byte (parameter problem code 2).
        pointer: usize,
    },
    /// More than [`MAX_EXTENSION_HEADERS`] extension headers.
    TooManyHeaders,
}

/// The result of walking the extension headers: where the upper layer
/// starts, what it is, and the fragment header if there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Chain {
    /// The upper-layer protocol (or `NO_NEXT`, or an unknown value the
    /// caller answers with a parameter problem code 1 at
    /// `next_header_pointer`). After a fragment header, the fragment's
    /// next header.
    pub upper: u8,
    /// Offset of the upper-layer data (or of the fragment's data) from the
    /// start of the fixed header.
    pub offset: usize,
    /// Offset of the next-header field that holds `upper`.
    pub next_header_pointer: usize,
    /// The fragment header, if one ended the walk; the data after it is a
    /// piece of a datagram, not headers, so the walk stops there.
    pub fragment: Option<FragmentHeader>,
    /// Offset of the fragment header (meaningful with `fragment`): the
    /// bytes before it are the unfragmentable part.
    pub fragment_header_at: usize,
    /// Offset of the next-header field that names the fragment header
    /// (meaningful with `fragment`): reassembly writes the fragment's next
    /// header there.
    pub fragment_named_at: usize,
    /// A router alert option was seen in the hop-by-hop header.
    pub router_alert: bool,
}

/// Walk the extension headers of `packet` (a whole IPv6 packet, at least
/// the fixed header, trimmed to its payload length as `Packet::datagram`
/// gives it). Hop-by-hop and destination options are checked option by
/// option (Pad1, PadN and router alert understood, the rest per their
/// action bits); a routing header with segments left is refused, with none
/// left it is skipped (RFC 8200 4.4); the walk stops at the first header
/// that is not an extension header this module walks, or at a fragment
/// header. ESP and AH end the walk as upper layers (the caller does not
/// take them).
pub fn walk_chain(packet: &[u8]) -> Result<Chain, ChainError> {
    if packet.len() < HEADER_LEN {
        return Err(ChainError::Truncated);
    }
    let mut nh = packet[field::NXT_HDR];
    let mut nh_ptr = field::NXT_HDR;
    let mut at = HEADER_LEN;
    let mut router_alert = false;
    for count in 0..=MAX_EXTENSION_HEADERS {
        match nh {
            next_header::HOP_BY_HOP | next_header::DEST_OPTS | next_header::ROUTING | next_header::FRAGMENT
                if count == MAX_EXTENSION_HEADERS =>
            {
                return Err(ChainError::TooManyHeaders)
            }
            next_header::HOP_BY_HOP | next_header::DEST_OPTS => {
                if nh == next_header::HOP_BY_HOP && at != HEADER_LEN {
                    return Err(ChainError::HopByHopNotFirst { pointer: nh_ptr });
                }
                let len = ext_len(packet, at)?;
                let alert = walk_options(packet, at + 2, at + len)?;
                router_alert |= alert && nh == next_header::HOP_BY_HOP;
                nh = packet[at];
                nh_ptr = at;
                at += len;
            }
            next_header::ROUTING => {
                let len = ext_len(packet, at)?;
                if len < 8 || packet.len() < at + 4 {
                    return Err(ChainError::Truncated);
                }
                let routing_type = packet[at + 2];
                let segments_left = packet[at + 3];
                if segments_left != 0 {
                    return Err(ChainError::RoutingHeader { routing_type, pointer: at + 2 });
                }
                nh = packet[at];
                nh_ptr = at;
                at += len;
            }
            next_header::FRAGMENT => {
                let frag = FragmentHeader::parse(packet.get(at..).unwrap_or(&[])).map_err(|_| ChainError::Truncated)?;
                return Ok(Chain {
                    upper: frag.next_header,
                    offset: at + FRAGMENT_HEADER_LEN,
                    next_header_pointer: at,
                    fragment: Some(frag),
                    fragment_header_at: at,
                    fragment_named_at: nh_ptr,
                    router_alert,
                });
            }
            _ => break,
        }
    }
    Ok(Chain {
        upper: nh,
        offset: at,
        next_header_pointer: nh_ptr,
        fragment: None,
        fragment_header_at: 0,
        fragment_named_at: 0,
        router_alert,
    })
}

/// Length in bytes of the options/routing header at `at` ((len + 1) * 8),
/// `Truncated` unless it fits in `packet`.
fn ext_len(packet: &[u8], at: usize) -> Result<usize, ChainError> {
    let hdr_ext_len = *packet.get(at + 1).ok_or(ChainError::Truncated)?;
    let len = (usize::from(hdr_ext_len) + 1) * 8;
    if packet.len() < at + len {
        return Err(ChainError::Truncated);
    }
    Ok(len)
}

/// Walk the TLV options in `packet[from..to]`; whether a router alert was
/// among them.
fn walk_options(packet: &[u8], from: usize, to: usize) -> Result<bool, ChainError> {
    let mut i = from;
    let mut alert = false;
    while i < to {
        let ty = packet[i];
        if ty == option::PAD1 {
            i += 1;
            continue;
        }
        let len = usize::from(*packet.get(i + 1).filter(|_| i + 1 < to).ok_or(ChainError::Truncated)?);
        if i + 2 + len > to {
            return Err(ChainError::Truncated);
        }
        match ty {
            option::PADN => {}
            option::ROUTER_ALERT if len == 2 => alert = true,
            _ => match UnknownOptionAction::of(ty) {
                UnknownOptionAction::Skip => {}
                action => return Err(ChainError::UnknownOption { action, pointer: i }),
            },
        }
        i += 2 + len;
    }
    Ok(alert)
}

#[cfg(test)]
mod test {
    use super::*;

    const SRC: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x198, 0x18, 0, 0, 0, 0, 1);
    const DST: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x198, 0x18, 0, 0, 0, 0, 2);

    // The test vectors below were built once with python3-scapy 2.5.

    // ICMPv6 echo request fd00:198:18::1 -> ::2, tc 0x12, flow 0x34567,
    // hop limit 64, id 0x1234, seq 1, data "abcdefghij".
    pub(crate) static ECHO_BYTES: [u8; 58] = [
        0x61, 0x23, 0x45, 0x67, 0x00, 0x12, 0x3a, 0x40, 0xfd, 0x00, 0x01, 0x98, 0x00, 0x18, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfd, 0x00, 0x01, 0x98, 0x00, 0x18, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x02, 0x80, 0x00, 0x75, 0x19, 0x12, 0x34, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66,
        0x67, 0x68, 0x69, 0x6a,
    ];

    // UDP 5000 -> 7 "hello" behind hop-by-hop (router alert, PadN),
    // destination options (PadN 4) and a fragment header (offset 0, M,
    // id 0xdeadbeef).
    static EXT_BYTES: [u8; 77] = [
        0x60, 0x00, 0x00, 0x00, 0x00, 0x25, 0x00, 0x40, 0xfd, 0x00, 0x01, 0x98, 0x00, 0x18, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfd, 0x00, 0x01, 0x98, 0x00, 0x18, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x02, 0x3c, 0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00, 0x2c, 0x00, 0x01, 0x04, 0x00, 0x00,
        0x00, 0x00, 0x11, 0x00, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef, 0x13, 0x88, 0x00, 0x07, 0x00, 0x0d, 0xab, 0x0e,
        0x68, 0x65, 0x6c, 0x6c, 0x6f,
    ];

    // UDP behind a type 0 routing header with one segment left (fd00::9).
    static RH0_BYTES: [u8; 73] = [
        0x60, 0x00, 0x00, 0x00, 0x00, 0x21, 0x2b, 0x40, 0xfd, 0x00, 0x01, 0x98, 0x00, 0x18, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfd, 0x00, 0x01, 0x98, 0x00, 0x18, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x02, 0x11, 0x02, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x13, 0x88, 0x00, 0x07, 0x00, 0x09, 0x78, 0x91,
        0x78,
    ];

    fn echo_repr() -> Repr {
        Repr {
            src_addr: SRC,
            dst_addr: DST,
            next_header: next_header::ICMPV6,
            payload_len: 18,
            hop_limit: 64,
            traffic_class: 0x12,
            flow_label: 0x34567,
        }
    }

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&ECHO_BYTES[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0x12);
        assert_eq!(p.flow_label(), 0x34567);
        assert_eq!(p.payload_len(), 18);
        assert_eq!(p.next_header(), next_header::ICMPV6);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src_addr(), SRC);
        assert_eq!(p.dst_addr(), DST);
        assert_eq!(p.payload(), &ECHO_BYTES[40..]);
        assert_eq!(Repr::parse(&p), Ok(echo_repr()));
    }

    #[test]
    fn round_trip() {
        let mut buf = ECHO_BYTES;
        buf[..40].fill(0);
        let repr = echo_repr();
        assert_eq!(repr.buffer_len(), 58);
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, ECHO_BYTES);
    }

    #[test]
    fn padding_is_not_payload() {
        let mut buf = [0u8; 64];
        buf[..58].copy_from_slice(&ECHO_BYTES);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.payload().len(), 18);
        assert_eq!(p.datagram().len(), 58);
    }

    #[test]
    fn check_len_errors() {
        assert_eq!(Packet::new_checked(&ECHO_BYTES[..39]).unwrap_err(), Error::Truncated);
        assert_eq!(Packet::new_checked(&ECHO_BYTES[..57]).unwrap_err(), Error::Truncated);
        let mut v4 = ECHO_BYTES;
        v4[0] = 0x45;
        assert_eq!(Packet::new_checked(&v4[..]).unwrap_err(), Error::BadVersion);
    }

    #[test]
    fn cidr() {
        let c: Cidr = "fd00:198:18::2/64".parse().unwrap();
        assert_eq!(c.address(), DST);
        assert_eq!(c.prefix_len(), 64);
        assert_eq!(c.network(), Ipv6Addr::new(0xfd00, 0x198, 0x18, 0, 0, 0, 0, 0));
        assert!(c.contains(SRC));
        assert!(!c.contains(Ipv6Addr::new(0xfd00, 0x198, 0x19, 0, 0, 0, 0, 1)));
        assert_eq!(c.to_string(), "fd00:198:18::2/64");
        let all: Cidr = "::/0".parse().unwrap();
        assert!(all.contains(Ipv6Addr::LOCALHOST));
        let host: Cidr = "fd00::1/128".parse().unwrap();
        assert!(!host.contains(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2)));
        for bad in ["fd00::1", "fd00::1/129", "fd00::1/", "fd00::1/+1", "1.2.3.4/8", "fd00::1/1000"] {
            assert_eq!(bad.parse::<Cidr>(), Err(Error::Malformed), "{bad}");
        }
    }

    #[test]
    fn derived_addresses() {
        // scapy: in6_mactoifaceid("52:54:00:12:34:56") == "5054:00FF:FE12:3456".
        let mac = ethernet::Address([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
        assert_eq!(eui64_interface_id(mac), [0x50, 0x54, 0x00, 0xff, 0xfe, 0x12, 0x34, 0x56]);
        assert_eq!(link_local_from_mac(mac), "fe80::5054:ff:fe12:3456".parse::<Ipv6Addr>().unwrap());
        // scapy: in6_getnsma(fd00:198:18::2) == ff02::1:ff00:2, mac 33:33:ff:00:00:02.
        let sn = solicited_node(DST);
        assert_eq!(sn, "ff02::1:ff00:2".parse::<Ipv6Addr>().unwrap());
        assert!(is_solicited_node(sn));
        assert!(!is_solicited_node(ALL_NODES));
        assert_eq!(multicast_mac(sn), ethernet::Address([0x33, 0x33, 0xff, 0x00, 0x00, 0x02]));
        assert_eq!(multicast_mac(ALL_NODES), ethernet::Address([0x33, 0x33, 0, 0, 0, 1]));
        assert!(is_link_local(link_local_from_mac(mac)));
        assert!(!is_link_local(DST));
        assert_eq!(martian_source(ALL_NODES), Some(Martian::Multicast));
        assert_eq!(martian_source(Ipv6Addr::LOCALHOST), Some(Martian::Loopback));
        assert_eq!(martian_source(Ipv6Addr::UNSPECIFIED), None);
    }

    #[test]
    fn chain_of_options_and_fragment() {
        let chain = walk_chain(&EXT_BYTES).unwrap();
        assert_eq!(chain.upper, next_header::UDP);
        assert_eq!(chain.offset, 64);
        assert_eq!(chain.next_header_pointer, 56);
        assert_eq!(chain.fragment_header_at, 56);
        assert_eq!(chain.fragment_named_at, 48);
        assert!(chain.router_alert);
        assert_eq!(
            chain.fragment,
            Some(FragmentHeader { next_header: next_header::UDP, offset: 0, more: true, ident: 0xdead_beef })
        );
        let mut b = [0u8; 8];
        chain.fragment.unwrap().emit(&mut b);
        assert_eq!(b, EXT_BYTES[56..64]);
        // No extension headers: the upper layer starts after the fixed header.
        let plain = walk_chain(&ECHO_BYTES).unwrap();
        assert_eq!(
            (plain.upper, plain.offset, plain.next_header_pointer, plain.fragment),
            (next_header::ICMPV6, 40, 6, None)
        );
    }

    #[test]
    fn routing_header_refused_unless_exhausted() {
        assert_eq!(walk_chain(&RH0_BYTES), Err(ChainError::RoutingHeader { routing_type: 0, pointer: 42 }));
        let mut done = RH0_BYTES;
        done[43] = 0;
        let chain = walk_chain(&done).unwrap();
        assert_eq!((chain.upper, chain.offset), (next_header::UDP, 64));
    }

    #[test]
    fn unknown_options_follow_their_action_bits() {
        let mut b = EXT_BYTES;
        // Replace the destination options' PadN (at 50) with unknown types.
        for (ty, want) in [
            (0x1e, None),
            (0x5e, Some(UnknownOptionAction::Discard)),
            (0x9e, Some(UnknownOptionAction::DiscardSendError)),
            (0xde, Some(UnknownOptionAction::DiscardSendErrorUnicast)),
            (option::JUMBO, Some(UnknownOptionAction::DiscardSendErrorUnicast)),
        ] {
            b[50] = ty;
            let r = walk_chain(&b);
            match want {
                None => assert!(r.is_ok()),
                Some(action) => assert_eq!(r, Err(ChainError::UnknownOption { action, pointer: 50 })),
            }
        }
    }

    #[test]
    fn malformed_chains() {
        // An option length running past its header.
        let mut b = EXT_BYTES;
        b[51] = 5;
        assert_eq!(walk_chain(&b), Err(ChainError::Truncated));
        // A header length past the packet.
        let mut b = EXT_BYTES;
        b[49] = 9;
        assert_eq!(walk_chain(&b), Err(ChainError::Truncated));
        // Hop-by-hop after destination options.
        let mut b = EXT_BYTES;
        b[48] = next_header::HOP_BY_HOP;
        assert_eq!(walk_chain(&b), Err(ChainError::HopByHopNotFirst { pointer: 48 }));
        // Every truncation of the packet is refused or stops cleanly, never panics.
        for n in 0..EXT_BYTES.len() {
            let _ = walk_chain(&EXT_BYTES[..n]);
        }
        assert_eq!(walk_chain(&EXT_BYTES[..60]), Err(ChainError::Truncated));
    }

    #[test]
    fn too_many_headers() {
        // Ten empty destination options headers, then UDP.
        let mut pkt = vec![0u8; 40 + 10 * 8];
        pkt[..40].copy_from_slice(&ECHO_BYTES[..40]);
        pkt[6] = next_header::DEST_OPTS;
        for i in 0..10 {
            let at = 40 + i * 8;
            pkt[at] = if i == 9 { next_header::UDP } else { next_header::DEST_OPTS };
            pkt[at + 2] = option::PADN;
            pkt[at + 3] = 4;
        }
        assert_eq!(walk_chain(&pkt), Err(ChainError::TooManyHeaders));
        pkt[40 + 7 * 8] = next_header::UDP;
        assert_eq!(walk_chain(&pkt).unwrap().offset, 40 + 8 * 8);
    }
}
