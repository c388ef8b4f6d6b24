//! IPv4 (RFC 791): address prefixes (`Cidr`), the protocol number, the
//! header view and its `Repr`. This node neither fragments nor reassembles:
//! `Repr::parse` refuses fragments as `Unsupported`, and `emit` always sets
//! Don't Fragment. Options are allowed on input (skipped via the IHL, and
//! walked by [`check_options`] so that source routes and malformed options
//! can be refused) but never emitted. [`martian_source`] and
//! [`martian_destination`] classify the addresses no host may accept
//! (RFC 1122 3.2.1.3, RFC 1812 5.3.7); the checks that need the node's own
//! interfaces (its addresses, their subnet broadcasts) are the caller's.

use core::fmt;
use core::str::FromStr;
use std::net::Ipv4Addr;

use super::{checksum, Error};

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;

/// An IPv4 address with a prefix length, e.g. an interface address
/// `198.18.0.2/24` (host bits kept) or a route prefix `10.0.0.0/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    address: Ipv4Addr,
    prefix_len: u8,
}

impl Cidr {
    /// `Malformed` if `prefix_len` is over 32.
    pub const fn new(address: Ipv4Addr, prefix_len: u8) -> Result<Cidr, Error> {
        if prefix_len > 32 {
            return Err(Error::Malformed);
        }
        Ok(Cidr { address, prefix_len })
    }

    /// The address as given (host bits included).
    pub const fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// The prefix length, 0..=32.
    pub const fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The netmask as a host-order integer.
    #[inline]
    pub const fn mask_u32(&self) -> u32 {
        if self.prefix_len == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix_len)
        }
    }

    /// The netmask, e.g. 255.255.255.0 for /24.
    pub const fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from_bits(self.mask_u32())
    }

    /// The address with the host bits cleared.
    pub const fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from_bits(self.address.to_bits() & self.mask_u32())
    }

    /// Whether `addr` is inside this prefix.
    #[inline]
    pub const fn contains(&self, addr: Ipv4Addr) -> bool {
        let mask = self.mask_u32();
        addr.to_bits() & mask == self.address.to_bits() & mask
    }

    /// The directed broadcast address; `None` for /31 and /32, which have none.
    pub const fn broadcast(&self) -> Option<Ipv4Addr> {
        if self.prefix_len >= 31 {
            return None;
        }
        Some(Ipv4Addr::from_bits(self.address.to_bits() | !self.mask_u32()))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}

impl FromStr for Cidr {
    type Err = Error;

    /// Parse `a.b.c.d/len`; anything else is `Malformed`.
    fn from_str(s: &str) -> Result<Cidr, Error> {
        let (addr, len) = s.split_once('/').ok_or(Error::Malformed)?;
        if len.is_empty() || len.len() > 2 || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::Malformed);
        }
        let addr: Ipv4Addr = addr.parse().map_err(|_| Error::Malformed)?;
        let len: u8 = len.parse().map_err(|_| Error::Malformed)?;
        Cidr::new(addr, len)
    }
}

/// Why an address cannot be the source (or destination) of a datagram a
/// host accepts: the address classes of RFC 1122 3.2.1.3 and RFC 1812
/// 5.3.7 that need no knowledge of the node's interfaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Martian {
    /// 0.0.0.0/8, "this host on this network" (only legal while a host
    /// learns its address, which this node never does).
    ThisNetwork,
    /// 127.0.0.0/8: must never appear on a wire.
    Loopback,
    /// 224.0.0.0/4: a group, never a sender.
    Multicast,
    /// 255.255.255.255, the limited broadcast: never a sender.
    Broadcast,
    /// 240.0.0.0/4 other than the limited broadcast (reserved, "class E").
    Reserved,
}

impl Martian {
    /// Short name for counters and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Martian::ThisNetwork => "0.0.0.0/8",
            Martian::Loopback => "loopback",
            Martian::Multicast => "multicast",
            Martian::Broadcast => "broadcast",
            Martian::Reserved => "240.0.0.0/4",
        }
    }
}

/// The class that makes `a` unacceptable as a source address, if any.
#[inline]
pub const fn martian_source(a: Ipv4Addr) -> Option<Martian> {
    let b = a.to_bits();
    match b >> 24 {
        0 => Some(Martian::ThisNetwork),
        127 => Some(Martian::Loopback),
        224..=239 => Some(Martian::Multicast),
        240..=255 if b == u32::MAX => Some(Martian::Broadcast),
        240..=255 => Some(Martian::Reserved),
        _ => None,
    }
}

/// The class that makes `a` unacceptable as the destination of a datagram
/// on the wire: this network, loopback and reserved. Multicast and the
/// limited broadcast are legal destinations (just not ones this node
/// listens on), so they are not martians here.
#[inline]
pub const fn martian_destination(a: Ipv4Addr) -> Option<Martian> {
    match martian_source(a) {
        Some(Martian::Multicast) | Some(Martian::Broadcast) | None => None,
        m => m,
    }
}

/// IPv4 option types this module names (RFC 791, IANA "IP Option Numbers").
pub mod option {
    /// End of option list.
    pub const END: u8 = 0;
    /// No operation (padding between options).
    pub const NOP: u8 = 1;
    /// Record route.
    pub const RECORD_ROUTE: u8 = 7;
    /// Timestamp.
    pub const TIMESTAMP: u8 = 68;
    /// Loose source and record route.
    pub const LSRR: u8 = 131;
    /// Strict source and record route.
    pub const SSRR: u8 = 137;
    /// Router alert (RFC 2113).
    pub const ROUTER_ALERT: u8 = 148;
}

/// Why [`check_options`] refused a header's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionsError {
    /// A loose or strict source route (RFC 7126 4.3, 4.4: drop by default).
    SourceRoute,
    /// An option's length is below 2, runs past the header, or is wrong
    /// for its type.
    Malformed,
}

/// One option: its type and the bytes after the type and length fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpOption<'a> {
    /// The option type byte (copied flag, class and number).
    pub kind: u8,
    /// The option data (empty for NOP).
    pub data: &'a [u8],
}

/// Walks the options of a header (the bytes from [`Packet::options`]):
/// one [`IpOption`] per option, NOPs included, stopping at End of Options
/// or the end of the bytes; an `Err` (once, then nothing) where an option's
/// length field does not fit.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    rest: &'a [u8],
}

impl<'a> Options<'a> {
    /// The options in `bytes`.
    pub const fn new(bytes: &'a [u8]) -> Self {
        Options { rest: bytes }
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<IpOption<'a>, OptionsError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&kind, after) = self.rest.split_first()?;
        match kind {
            option::END => {
                self.rest = &[];
                None
            }
            option::NOP => {
                self.rest = after;
                Some(Ok(IpOption { kind, data: &[] }))
            }
            _ => {
                let len = after.first().map_or(0, |&l| usize::from(l));
                if len < 2 || len > self.rest.len() {
                    self.rest = &[];
                    return Some(Err(OptionsError::Malformed));
                }
                let data = &self.rest[2..len];
                self.rest = &self.rest[len..];
                Some(Ok(IpOption { kind, data }))
            }
        }
    }
}

/// Checks a header's options as a host should on input: every length must
/// fit, a source route (LSRR, SSRR) is refused whatever its shape (RFC
/// 7126), and the options whose layout RFC 791 fixes must have it (record
/// route and the source routes: a pointer and whole addresses; timestamp:
/// a pointer and flags; router alert: exactly 4 bytes). Other options are
/// skipped, as RFC 1122 3.2.1.8 asks.
pub fn check_options(bytes: &[u8]) -> Result<(), OptionsError> {
    for o in Options::new(bytes) {
        let o = o?;
        match o.kind {
            option::LSRR | option::SSRR => return Err(OptionsError::SourceRoute),
            // Pointer, then 4-byte addresses; the pointer is 1-based from
            // the option start and at least 4.
            option::RECORD_ROUTE if o.data.is_empty() || o.data[0] < 4 || (o.data.len() - 1) % 4 != 0 => {
                return Err(OptionsError::Malformed)
            }
            option::TIMESTAMP if o.data.len() < 2 || o.data[0] < 5 => return Err(OptionsError::Malformed),
            option::ROUTER_ALERT if o.data.len() != 2 => return Err(OptionsError::Malformed),
            _ => {}
        }
    }
    Ok(())
}

/// The protocol field: what the payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// 1.
    Icmp,
    /// 6.
    Tcp,
    /// 17.
    Udp,
    /// Anything else.
    Unknown(u8),
}

impl From<u8> for Protocol {
    fn from(v: u8) -> Protocol {
        match v {
            1 => Protocol::Icmp,
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            other => Protocol::Unknown(other),
        }
    }
}

impl From<Protocol> for u8 {
    fn from(p: Protocol) -> u8 {
        match p {
            Protocol::Icmp => 1,
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Unknown(v) => v,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::Icmp => f.write_str("ICMP"),
            Protocol::Tcp => f.write_str("TCP"),
            Protocol::Udp => f.write_str("UDP"),
            Protocol::Unknown(v) => write!(f, "proto {v}"),
        }
    }
}

mod field {
    use core::ops::Range;

    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
}

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A zero-copy view of an IPv4 packet.
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

    /// Validate version and lengths: `Truncated` if the buffer is shorter
    /// than 20 bytes, the header or the total length; `BadVersion` unless
    /// version 4; `Malformed` if IHL < 5 or total length < header length.
    pub fn check_len(&self) -> Result<(), Error> {
        self.check_head_len(self.buffer.as_ref().len())
    }

    /// Wrap the first part of a packet `packet_len` bytes long (the first
    /// segment of a chain): `check_len` with the total length checked
    /// against `packet_len`, the header against the buffer. Only the
    /// header's accessors may be used (not `payload`).
    pub fn new_checked_head(buffer: T, packet_len: usize) -> Result<Packet<T>, Error> {
        let p = Self::new_unchecked(buffer);
        p.check_head_len(packet_len)?;
        Ok(p)
    }

    fn check_head_len(&self, packet_len: usize) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() != 4 {
            return Err(Error::BadVersion);
        }
        let header_len = usize::from(self.header_len());
        if header_len < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if len < header_len {
            return Err(Error::Truncated);
        }
        let total_len = usize::from(self.total_len());
        if total_len < header_len {
            return Err(Error::Malformed);
        }
        if packet_len < total_len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn read_u16(&self, r: core::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[r];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// The version field (4 after `new_checked`).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// The header length in bytes (IHL * 4).
    #[inline]
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// The DSCP and ECN byte (formerly TOS).
    #[inline]
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }

    /// The total length (header + payload) in bytes.
    #[inline]
    pub fn total_len(&self) -> u16 {
        self.read_u16(field::LENGTH)
    }

    /// The identification field.
    #[inline]
    pub fn ident(&self) -> u16 {
        self.read_u16(field::IDENT)
    }

    /// The Don't Fragment flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.read_u16(field::FLG_OFF) & FLAG_DF != 0
    }

    /// The More Fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.read_u16(field::FLG_OFF) & FLAG_MF != 0
    }

    /// The fragment offset in bytes (the field times 8).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (self.read_u16(field::FLG_OFF) & OFFSET_MASK) << 3
    }

    /// The time to live.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// The payload protocol.
    #[inline]
    pub fn next_header(&self) -> Protocol {
        Protocol::from(self.buffer.as_ref()[field::PROTOCOL])
    }

    /// The header checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.read_u16(field::CHECKSUM)
    }

    /// The source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::SRC_ADDR];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// The destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::DST_ADDR];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// Whether the header checksum is correct.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::data(&self.buffer.as_ref()[..usize::from(self.header_len())]) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The options, between the fixed header and the payload.
    #[inline]
    pub fn options(&self) -> &'a [u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.header_len())]
    }

    /// The payload: exactly `total_len - header_len` bytes, so Ethernet
    /// padding after the datagram is not included.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[usize::from(self.header_len())..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    fn write_u16(&mut self, r: core::ops::Range<usize>, v: u16) {
        self.buffer.as_mut()[r].copy_from_slice(&v.to_be_bytes());
    }

    /// Set the version field.
    #[inline]
    pub fn set_version(&mut self, v: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0x0f) | (v << 4);
    }

    /// Set the header length in bytes (a multiple of 4, at most 60).
    #[inline]
    pub fn set_header_len(&mut self, len: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0xf0) | ((len / 4) & 0x0f);
    }

    /// Set the DSCP and ECN byte.
    #[inline]
    pub fn set_dscp_ecn(&mut self, v: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = v;
    }

    /// Set the total length.
    #[inline]
    pub fn set_total_len(&mut self, v: u16) {
        self.write_u16(field::LENGTH, v)
    }

    /// Set the identification field.
    #[inline]
    pub fn set_ident(&mut self, v: u16) {
        self.write_u16(field::IDENT, v)
    }

    /// Clear both flags and the fragment offset.
    #[inline]
    pub fn clear_flags(&mut self) {
        self.write_u16(field::FLG_OFF, 0)
    }

    /// Set or clear Don't Fragment.
    #[inline]
    pub fn set_dont_frag(&mut self, v: bool) {
        let raw = self.read_u16(field::FLG_OFF);
        self.write_u16(field::FLG_OFF, if v { raw | FLAG_DF } else { raw & !FLAG_DF })
    }

    /// Set or clear More Fragments.
    #[inline]
    pub fn set_more_frags(&mut self, v: bool) {
        let raw = self.read_u16(field::FLG_OFF);
        self.write_u16(field::FLG_OFF, if v { raw | FLAG_MF } else { raw & !FLAG_MF })
    }

    /// Set the fragment offset in bytes (a multiple of 8).
    #[inline]
    pub fn set_frag_offset(&mut self, bytes: u16) {
        let raw = self.read_u16(field::FLG_OFF);
        self.write_u16(field::FLG_OFF, (raw & !OFFSET_MASK) | ((bytes >> 3) & OFFSET_MASK))
    }

    /// Set the time to live.
    #[inline]
    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }

    /// Set the payload protocol.
    #[inline]
    pub fn set_next_header(&mut self, p: Protocol) {
        self.buffer.as_mut()[field::PROTOCOL] = p.into();
    }

    /// Set the checksum field as is (see `fill_checksum`).
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        self.write_u16(field::CHECKSUM, v)
    }

    /// Set the source address.
    #[inline]
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a.octets());
    }

    /// Set the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a.octets());
    }

    /// Compute the header checksum and store it.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::data(&self.buffer.as_ref()[..usize::from(self.header_len())]);
        self.set_checksum(c);
    }

    /// The payload (`header_len..total_len`), mutably.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let r = usize::from(self.header_len())..usize::from(self.total_len());
        &mut self.buffer.as_mut()[r]
    }
}

/// The meaning of an IPv4 header, as far as this node cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Payload protocol.
    pub next_header: Protocol,
    /// Payload length in bytes (total length minus header length).
    pub payload_len: usize,
    /// Time to live.
    pub hop_limit: u8,
}

impl Repr {
    /// Read a header: `BadChecksum` if `checksum_verify` and it fails,
    /// `Unsupported` for fragments; options are skipped.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>, checksum_verify: bool) -> Result<Repr, Error> {
        packet.check_len()?;
        if checksum_verify && !packet.verify_checksum() {
            return Err(Error::BadChecksum);
        }
        if packet.more_frags() || packet.frag_offset() != 0 {
            return Err(Error::Unsupported);
        }
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: usize::from(packet.total_len()) - usize::from(packet.header_len()),
            hop_limit: packet.hop_limit(),
        })
    }

    /// Length of the header `emit` writes (20: no options).
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Length of the whole datagram.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Write a 20-byte header with DF set and the checksum filled; touches
    /// only the first 20 bytes. Panics if `packet` is shorter than that.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut Packet<&mut T>) {
        debug_assert!(self.buffer_len() <= usize::from(u16::MAX), "IPv4 datagram too long");
        packet.set_version(4);
        packet.set_header_len(HEADER_LEN as u8);
        packet.set_dscp_ecn(0);
        packet.set_total_len(self.buffer_len() as u16);
        // RFC 6864: the ID of an atomic (DF, unfragmented) datagram carries no meaning.
        packet.set_ident(0);
        packet.clear_flags();
        packet.set_dont_frag(true);
        packet.set_hop_limit(self.hop_limit);
        packet.set_next_header(self.next_header);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // ICMP echo request 198.18.0.1 -> 198.18.0.2, DF, TTL 64, ident 0,
    // with 4 bytes of payload and then 6 bytes of Ethernet padding.
    static PACKET_BYTES: [u8; 30] = [
        0x45, 0x00, 0x00, 0x18, 0x00, 0x00, 0x40, 0x00, 0x40, 0x01, 0xae, 0xbd, 0xc6, 0x12, 0x00, 0x01, 0xc6, 0x12,
        0x00, 0x02, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];

    // A header with 4 bytes of options (IHL 6): router alert, UDP.
    static OPTIONS_BYTES: [u8; 28] = [
        0x46, 0x00, 0x00, 0x1c, 0x12, 0x34, 0x00, 0x00, 0x01, 0x11, 0x00, 0x00, 0xc6, 0x12, 0x00, 0x01, 0xe0, 0x00,
        0x00, 0x16, 0x94, 0x04, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04,
    ];

    fn repr() -> Repr {
        Repr {
            src_addr: Ipv4Addr::new(198, 18, 0, 1),
            dst_addr: Ipv4Addr::new(198, 18, 0, 2),
            next_header: Protocol::Icmp,
            payload_len: 4,
            hop_limit: 64,
        }
    }

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.dscp_ecn(), 0);
        assert_eq!(p.total_len(), 24);
        assert_eq!(p.ident(), 0);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.next_header(), Protocol::Icmp);
        assert_eq!(p.checksum(), 0xaebd);
        assert_eq!(p.src_addr(), Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(198, 18, 0, 2));
        assert!(p.verify_checksum());
        assert_eq!(p.payload(), &[0xde, 0xad, 0xbe, 0xef]);
        assert!(p.options().is_empty());
    }

    #[test]
    fn round_trip() {
        let p = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        let r = Repr::parse(&p, true).unwrap();
        assert_eq!(r, repr());
        let mut buf = [0xffu8; 24];
        let mut out = Packet::new_unchecked(&mut buf[..]);
        r.emit(&mut out);
        out.payload_mut().copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(&buf[..], &PACKET_BYTES[..24]);
        assert_eq!(r.buffer_len(), 24);
    }

    #[test]
    fn emit_into_header_only_buffer() {
        let mut buf = [0u8; 20];
        repr().emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..], &PACKET_BYTES[..20]);
    }

    #[test]
    fn options_are_skipped() {
        let mut bytes = OPTIONS_BYTES;
        Packet::new_unchecked(&mut bytes[..]).fill_checksum();
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.options(), &[0x94, 0x04, 0x00, 0x00]);
        assert_eq!(p.payload(), &[1, 2, 3, 4]);
        let r = Repr::parse(&p, true).unwrap();
        assert_eq!(r.payload_len, 4);
        assert_eq!(r.next_header, Protocol::Udp);
        assert_eq!(r.hop_limit, 1);
        assert_eq!(r.dst_addr, Ipv4Addr::new(224, 0, 0, 22));
    }

    #[test]
    fn check_len_errors() {
        assert_eq!(Packet::new_checked(&PACKET_BYTES[..19]).unwrap_err(), Error::Truncated);
        // Shorter than total_len.
        assert_eq!(Packet::new_checked(&PACKET_BYTES[..23]).unwrap_err(), Error::Truncated);
        let mut b = PACKET_BYTES;
        b[0] = 0x65;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::BadVersion);
        b[0] = 0x44;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::Malformed);
        // IHL 15 (60 bytes) in a 30-byte buffer.
        b[0] = 0x4f;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::Truncated);
        // total_len 16 < header_len 20.
        let mut b = PACKET_BYTES;
        b[3] = 16;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::Malformed);
    }

    #[test]
    fn bad_checksum() {
        let mut b = PACKET_BYTES;
        b[8] = 63;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(!p.verify_checksum());
        assert_eq!(Repr::parse(&p, true), Err(Error::BadChecksum));
        assert_eq!(Repr::parse(&p, false).map(|r| r.hop_limit), Ok(63));
    }

    #[test]
    fn fragments_are_unsupported() {
        let mut b = PACKET_BYTES;
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_more_frags(true);
        p.fill_checksum();
        assert!(p.more_frags() && p.dont_frag());
        assert_eq!(Repr::parse(&Packet::new_checked(&b[..]).unwrap(), true), Err(Error::Unsupported));

        let mut b = PACKET_BYTES;
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_frag_offset(1480);
        p.fill_checksum();
        assert_eq!(p.frag_offset(), 1480);
        assert!(!p.more_frags());
        assert_eq!(Repr::parse(&Packet::new_checked(&b[..]).unwrap(), true), Err(Error::Unsupported));
    }

    #[test]
    fn setters() {
        let mut b = [0u8; 20];
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_version(4);
        p.set_header_len(20);
        p.set_dscp_ecn(0xb8);
        p.set_total_len(20);
        p.set_ident(0xbeef);
        p.set_dont_frag(true);
        p.set_dont_frag(false);
        p.set_hop_limit(255);
        p.set_next_header(Protocol::Unknown(47));
        p.set_src_addr(Ipv4Addr::new(10, 0, 0, 1));
        p.set_dst_addr(Ipv4Addr::new(10, 0, 0, 2));
        p.fill_checksum();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!((p.dscp_ecn(), p.ident(), p.dont_frag(), p.hop_limit()), (0xb8, 0xbeef, false, 255));
        assert_eq!(p.next_header(), Protocol::Unknown(47));
        assert!(p.verify_checksum());
        assert!(p.payload().is_empty());
    }

    #[test]
    fn protocol_conversions() {
        for v in 0..=255u8 {
            assert_eq!(u8::from(Protocol::from(v)), v);
        }
        assert_eq!(Protocol::from(17), Protocol::Udp);
    }

    #[test]
    fn cidr() {
        let c: Cidr = "198.18.0.2/24".parse().unwrap();
        assert_eq!(c.address(), Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!(c.prefix_len(), 24);
        assert_eq!(c.netmask(), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(c.network(), Ipv4Addr::new(198, 18, 0, 0));
        assert_eq!(c.broadcast(), Some(Ipv4Addr::new(198, 18, 0, 255)));
        assert!(c.contains(Ipv4Addr::new(198, 18, 0, 200)));
        assert!(!c.contains(Ipv4Addr::new(198, 18, 1, 2)));
        assert_eq!(c.to_string(), "198.18.0.2/24");

        let any = Cidr::new(Ipv4Addr::UNSPECIFIED, 0).unwrap();
        assert!(any.contains(Ipv4Addr::new(1, 2, 3, 4)));
        assert_eq!(any.netmask(), Ipv4Addr::UNSPECIFIED);
        assert_eq!(any.broadcast(), Some(Ipv4Addr::BROADCAST));

        let host = Cidr::new(Ipv4Addr::new(10, 1, 2, 3), 32).unwrap();
        assert!(host.contains(Ipv4Addr::new(10, 1, 2, 3)));
        assert!(!host.contains(Ipv4Addr::new(10, 1, 2, 4)));
        assert_eq!(host.broadcast(), None);
        assert_eq!("10.0.0.0/31".parse::<Cidr>().unwrap().broadcast(), None);

        assert_eq!(Cidr::new(Ipv4Addr::UNSPECIFIED, 33), Err(Error::Malformed));
        for bad in ["198.18.0.2", "198.18.0.2/", "198.18.0.2/33", "198.18.0/24", "x/8", "1.2.3.4/+8", "1.2.3.4/008"] {
            assert_eq!(bad.parse::<Cidr>(), Err(Error::Malformed), "{bad}");
        }
    }

    #[test]
    fn martian_addresses() {
        let m = |s: &str| martian_source(s.parse().unwrap());
        assert_eq!(m("0.0.0.0"), Some(Martian::ThisNetwork));
        assert_eq!(m("0.1.2.3"), Some(Martian::ThisNetwork));
        assert_eq!(m("127.0.0.1"), Some(Martian::Loopback));
        assert_eq!(m("127.255.255.254"), Some(Martian::Loopback));
        assert_eq!(m("224.0.0.1"), Some(Martian::Multicast));
        assert_eq!(m("239.255.255.255"), Some(Martian::Multicast));
        assert_eq!(m("240.0.0.1"), Some(Martian::Reserved));
        assert_eq!(m("255.255.255.254"), Some(Martian::Reserved));
        assert_eq!(m("255.255.255.255"), Some(Martian::Broadcast));
        for ok in ["1.0.0.0", "126.255.255.255", "128.0.0.0", "198.18.0.1", "223.255.255.255", "10.0.0.255"] {
            assert_eq!(m(ok), None, "{ok}");
        }
        let d = |s: &str| martian_destination(s.parse().unwrap());
        assert_eq!(d("127.0.0.1"), Some(Martian::Loopback));
        assert_eq!(d("0.0.0.0"), Some(Martian::ThisNetwork));
        assert_eq!(d("250.1.1.1"), Some(Martian::Reserved));
        assert_eq!(d("255.255.255.255"), None);
        assert_eq!(d("224.0.0.251"), None);
        assert_eq!(d("198.18.0.2"), None);
        assert_eq!(Martian::Loopback.as_str(), "loopback");
    }

    #[test]
    fn options_walk() {
        // NOP, router alert, record route with room for one address, END, padding.
        let bytes = [1, 148, 4, 0, 0, 7, 7, 4, 0, 0, 0, 0, 0, 0xaa, 0xbb, 0xcc];
        let kinds: Vec<_> = Options::new(&bytes).map(|o| o.unwrap()).collect();
        assert_eq!(
            kinds,
            [
                IpOption { kind: option::NOP, data: &[] },
                IpOption { kind: option::ROUTER_ALERT, data: &[0, 0] },
                IpOption { kind: option::RECORD_ROUTE, data: &[4, 0, 0, 0, 0] },
            ]
        );
        assert_eq!(check_options(&bytes), Ok(()));
        // No options, only padding, only END.
        assert_eq!(check_options(&[]), Ok(()));
        assert_eq!(check_options(&[1, 1, 1, 1]), Ok(()));
        assert_eq!(check_options(&[0, 0x83, 0xff, 0xff]), Ok(()), "bytes after END are padding");
        // An unknown option with a good length is skipped.
        assert_eq!(check_options(&[0x9e, 4, 1, 2]), Ok(()));
    }

    #[test]
    fn source_routes_are_refused() {
        // LSRR and SSRR, well formed (pointer 4, one address) and not.
        assert_eq!(check_options(&[1, option::LSRR, 7, 4, 10, 0, 0, 1]), Err(OptionsError::SourceRoute));
        assert_eq!(check_options(&[option::SSRR, 7, 4, 10, 0, 0, 1, 0]), Err(OptionsError::SourceRoute));
        assert_eq!(check_options(&[option::SSRR, 3, 4, 0]), Err(OptionsError::SourceRoute));
        // A source route after a malformed option is still malformed first.
        assert_eq!(check_options(&[0x44, 1, option::LSRR, 3, 4, 0, 0, 0]), Err(OptionsError::Malformed));
    }

    #[test]
    fn malformed_option_lengths() {
        for bad in [
            &[0x94][..],       // type with no length byte
            &[0x94, 0, 0, 0],  // length 0
            &[0x94, 1, 0, 0],  // length 1 (shorter than type + length)
            &[0x94, 5, 0, 0],  // runs past the options
            &[1, 1, 0x07, 40], // record route longer than the header
        ] {
            assert_eq!(check_options(bad), Err(OptionsError::Malformed), "{bad:02x?}");
            // The walk stops at the bad option and says so once.
            let items: Vec<_> = Options::new(bad).collect();
            assert_eq!(items.iter().filter(|o| o.is_err()).count(), 1, "{bad:02x?}");
            assert!(items.last().unwrap().is_err());
        }
        // Lengths that fit but are wrong for the option's type.
        for bad in [
            &[0x07, 4, 4, 0][..],         // record route with half an address
            &[0x07, 7, 3, 0, 0, 0, 0, 0], // record route pointer below 4
            &[0x44, 3, 5, 0],             // timestamp without its flags byte
            &[0x94, 3, 0, 0],             // router alert of 3 bytes
        ] {
            assert!(Options::new(bad).all(|o| o.is_ok()), "{bad:02x?}");
            assert_eq!(check_options(bad), Err(OptionsError::Malformed), "{bad:02x?}");
        }
    }
}
