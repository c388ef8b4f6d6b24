//! ICMPv6 (RFC 4443): echo request/reply, the four error messages
//! (destination unreachable, packet too big, time exceeded, parameter
//! problem) and the neighbour-discovery messages of RFC 4861, whose bodies
//! and options are [`ndp`](crate::ndp)'s. The checksum covers the IPv6
//! pseudo header, so the view's checksum methods take the addresses, and the
//! buffer must be exactly the ICMPv6 message (the IPv6 payload after its
//! extension headers, without Ethernet padding).

use std::net::Ipv6Addr;

use super::ipv6::{next_header, MIN_MTU};
use super::{checksum, ndp, Error};

/// Message type: destination unreachable.
pub const DST_UNREACHABLE: u8 = 1;
/// Message type: packet too big.
pub const PACKET_TOO_BIG: u8 = 2;
/// Message type: time exceeded.
pub const TIME_EXCEEDED: u8 = 3;
/// Message type: parameter problem.
pub const PARAM_PROBLEM: u8 = 4;
/// Message type: echo request.
pub const ECHO_REQUEST: u8 = 128;
/// Message type: echo reply.
pub const ECHO_REPLY: u8 = 129;
/// Message type: router solicitation (RFC 4861).
pub const ROUTER_SOLICIT: u8 = 133;
/// Message type: router advertisement (RFC 4861).
pub const ROUTER_ADVERT: u8 = 134;
/// Message type: neighbour solicitation (RFC 4861).
pub const NEIGHBOR_SOLICIT: u8 = 135;
/// Message type: neighbour advertisement (RFC 4861).
pub const NEIGHBOR_ADVERT: u8 = 136;
/// Message type: redirect (RFC 4861; a host may ignore it, this node does).
pub const REDIRECT: u8 = 137;

/// Destination unreachable codes.
pub mod unreachable {
    /// No route to destination.
    pub const NO_ROUTE: u8 = 0;
    /// Communication administratively prohibited.
    pub const ADMIN_PROHIBITED: u8 = 1;
    /// Beyond the scope of the source address.
    pub const BEYOND_SCOPE: u8 = 2;
    /// Address unreachable (neighbour resolution failed).
    pub const ADDRESS: u8 = 3;
    /// Port unreachable.
    pub const PORT: u8 = 4;
}

/// Time exceeded codes.
pub mod time_exceeded {
    /// Hop limit exceeded in transit.
    pub const HOP_LIMIT: u8 = 0;
    /// Fragment reassembly time exceeded.
    pub const REASSEMBLY: u8 = 1;
}

/// Parameter problem codes.
pub mod param_problem {
    /// Erroneous header field.
    pub const ERRONEOUS_FIELD: u8 = 0;
    /// Unrecognised next header type.
    pub const UNRECOGNIZED_NEXT_HEADER: u8 = 1;
    /// Unrecognised IPv6 option.
    pub const UNRECOGNIZED_OPTION: u8 = 2;
}

/// Length of the ICMPv6 header (type, code, checksum, 4 type-specific bytes).
pub const HEADER_LEN: usize = 8;

/// How many bytes of the offending packet an error message may quote: as
/// much as fits in the minimum MTU (RFC 4443 2.4 (c)) after the IPv6 and
/// ICMPv6 headers.
pub const MAX_ERROR_QUOTE_LEN: usize = MIN_MTU - super::ipv6::HEADER_LEN - HEADER_LEN;

mod field {
    use core::ops::{Range, RangeFrom};

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const WORD: Range<usize> = 4..8;
    pub const ECHO_IDENT: Range<usize> = 4..6;
    pub const ECHO_SEQNO: Range<usize> = 6..8;
    pub const DATA: RangeFrom<usize> = 8..;
}

/// A zero-copy view of an ICMPv6 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checking it; accessors may panic if it is short.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap a buffer that holds at least the 8-byte header.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Truncated` if the buffer is shorter than the header.
    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
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

    /// The message type.
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// The message code.
    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// The checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.read_u16(field::CHECKSUM)
    }

    /// The echo identifier (echo messages).
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        self.read_u16(field::ECHO_IDENT)
    }

    /// The echo sequence number (echo messages).
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        self.read_u16(field::ECHO_SEQNO)
    }

    /// The 32-bit word after the checksum: the MTU of a packet too big,
    /// the pointer of a parameter problem.
    #[inline]
    pub fn word(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::WORD];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// Whether the checksum over the pseudo header and the whole message
    /// is correct.
    #[inline]
    pub fn verify_checksum(&self, src_addr: &Ipv6Addr, dst_addr: &Ipv6Addr) -> bool {
        let data = self.buffer.as_ref();
        let Ok(len) = u32::try_from(data.len()) else {
            return false;
        };
        let pseudo = checksum::pseudo_header_ipv6(src_addr, dst_addr, next_header::ICMPV6, len);
        checksum::fold(checksum::sum(data, pseudo)) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// Everything after the 8-byte header: echo data, the quoted packet of
    /// an error, or an NDP message's fields after its first word and its
    /// options.
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::DATA]
    }

    /// Everything after the checksum (an NDP message's body).
    #[inline]
    pub fn body(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::WORD.start..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the message type.
    #[inline]
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }

    /// Set the message code.
    #[inline]
    pub fn set_msg_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }

    /// Set the checksum field as is (see `fill_checksum`).
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }

    /// Set the echo identifier.
    #[inline]
    pub fn set_echo_ident(&mut self, v: u16) {
        self.buffer.as_mut()[field::ECHO_IDENT].copy_from_slice(&v.to_be_bytes());
    }

    /// Set the echo sequence number.
    #[inline]
    pub fn set_echo_seq_no(&mut self, v: u16) {
        self.buffer.as_mut()[field::ECHO_SEQNO].copy_from_slice(&v.to_be_bytes());
    }

    /// Set the word after the checksum (MTU, pointer, or zero).
    #[inline]
    pub fn set_word(&mut self, v: u32) {
        self.buffer.as_mut()[field::WORD].copy_from_slice(&v.to_be_bytes());
    }

    /// Compute the checksum over the pseudo header and the whole buffer and
    /// store it.
    #[inline]
    pub fn fill_checksum(&mut self, src_addr: &Ipv6Addr, dst_addr: &Ipv6Addr) {
        self.set_checksum(0);
        let data = self.buffer.as_ref();
        let pseudo = checksum::pseudo_header_ipv6(src_addr, dst_addr, next_header::ICMPV6, data.len() as u32);
        let c = checksum::fold(checksum::sum(data, pseudo));
        self.set_checksum(c);
    }

    /// Everything after the header, mutably.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA]
    }

    /// Everything after the checksum, mutably.
    #[inline]
    pub fn body_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::WORD.start..]
    }
}

/// The meaning of an ICMPv6 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Repr {
    /// Echo request (ping).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Bytes of data after the header.
        data_len: usize,
    },
    /// Echo reply.
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Bytes of data after the header.
        data_len: usize,
    },
    /// Destination unreachable; the data quotes the offending packet.
    DstUnreachable {
        /// Why (`unreachable::PORT`, ...).
        code: u8,
    },
    /// Packet too big (RFC 8201 path MTU discovery).
    PacketTooBig {
        /// The MTU of the next hop.
        mtu: u32,
    },
    /// Time exceeded (hop limit, reassembly).
    TimeExceeded {
        /// Which (`time_exceeded::REASSEMBLY`, ...).
        code: u8,
    },
    /// Parameter problem.
    ParamProblem {
        /// Which (`param_problem::UNRECOGNIZED_NEXT_HEADER`, ...).
        code: u8,
        /// Offset of the offending byte in the quoted packet.
        pointer: u32,
    },
    /// A neighbour-discovery message.
    Ndp(ndp::Repr),
    /// Any other message, an echo with a non-zero code, or a redirect.
    Other {
        /// Message type.
        msg_type: u8,
        /// Message code.
        code: u8,
    },
}

impl Repr {
    /// Read a message: `BadChecksum` if the checksum does not match for
    /// these addresses; `Malformed` for an NDP message RFC 4861 says to
    /// discard on its own (bad code, short, bad option lengths, multicast
    /// target). The checks that need the IPv6 header (hop limit 255, source
    /// rules) are [`ndp::check_ip`]'s.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&T>,
        src_addr: &Ipv6Addr,
        dst_addr: &Ipv6Addr,
    ) -> Result<Repr, Error> {
        packet.check_len()?;
        if !packet.verify_checksum(src_addr, dst_addr) {
            return Err(Error::BadChecksum);
        }
        let data_len = packet.data().len();
        Ok(match (packet.msg_type(), packet.msg_code()) {
            (ECHO_REQUEST, 0) => {
                Repr::EchoRequest { ident: packet.echo_ident(), seq_no: packet.echo_seq_no(), data_len }
            }
            (ECHO_REPLY, 0) => Repr::EchoReply { ident: packet.echo_ident(), seq_no: packet.echo_seq_no(), data_len },
            (DST_UNREACHABLE, code) => Repr::DstUnreachable { code },
            (PACKET_TOO_BIG, _) => Repr::PacketTooBig { mtu: packet.word() },
            (TIME_EXCEEDED, code) => Repr::TimeExceeded { code },
            (PARAM_PROBLEM, code) => Repr::ParamProblem { code, pointer: packet.word() },
            (t @ (ROUTER_SOLICIT | ROUTER_ADVERT | NEIGHBOR_SOLICIT | NEIGHBOR_ADVERT), code) => {
                if code != 0 {
                    return Err(Error::Malformed);
                }
                Repr::Ndp(ndp::Repr::parse(t, packet.body())?)
            }
            (msg_type, code) => Repr::Other { msg_type, code },
        })
    }

    /// Whether this is an error message (types below 128), which must
    /// never be answered with another error (RFC 4443 2.4 (e)).
    pub const fn is_error(&self) -> bool {
        match self {
            Repr::DstUnreachable { .. }
            | Repr::PacketTooBig { .. }
            | Repr::TimeExceeded { .. }
            | Repr::ParamProblem { .. } => true,
            Repr::Other { msg_type, .. } => *msg_type < 128,
            _ => false,
        }
    }

    /// Length of the message: header plus echo data, the whole NDP
    /// message with its options; for errors and `Other` only the header,
    /// as the caller decides how much follows.
    pub const fn buffer_len(&self) -> usize {
        match self {
            Repr::EchoRequest { data_len, .. } | Repr::EchoReply { data_len, .. } => HEADER_LEN + *data_len,
            Repr::Ndp(n) => 4 + n.body_len(),
            _ => HEADER_LEN,
        }
    }

    /// Write the message and fill the checksum over the buffer as it
    /// stands. Data after the header (echo data, a quoted packet) is the
    /// caller's: if written after `emit`, call `fill_checksum` again.
    /// `Other` leaves bytes 4..8 as they are. Panics if `packet` is
    /// shorter than `buffer_len`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(
        &self,
        src_addr: &Ipv6Addr,
        dst_addr: &Ipv6Addr,
        packet: &mut Packet<&mut T>,
    ) {
        let (ty, code) = match *self {
            Repr::EchoRequest { ident, seq_no, .. } | Repr::EchoReply { ident, seq_no, .. } => {
                packet.set_echo_ident(ident);
                packet.set_echo_seq_no(seq_no);
                (if matches!(self, Repr::EchoRequest { .. }) { ECHO_REQUEST } else { ECHO_REPLY }, 0)
            }
            Repr::DstUnreachable { code } => {
                packet.set_word(0);
                (DST_UNREACHABLE, code)
            }
            Repr::PacketTooBig { mtu } => {
                packet.set_word(mtu);
                (PACKET_TOO_BIG, 0)
            }
            Repr::TimeExceeded { code } => {
                packet.set_word(0);
                (TIME_EXCEEDED, code)
            }
            Repr::ParamProblem { code, pointer } => {
                packet.set_word(pointer);
                (PARAM_PROBLEM, code)
            }
            Repr::Ndp(n) => {
                n.emit(packet.body_mut());
                (n.msg_type(), 0)
            }
            Repr::Other { msg_type, code } => (msg_type, code),
        };
        packet.set_msg_type(ty);
        packet.set_msg_code(code);
        packet.fill_checksum(src_addr, dst_addr);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // Built once with python3-scapy 2.5; see ipv6.rs for the echo packet.
    const SRC: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x198, 0x18, 0, 0, 0, 0, 1);
    const DST: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x198, 0x18, 0, 0, 0, 0, 2);

    // The ICMPv6 part of the echo request SRC -> DST.
    static ECHO: [u8; 18] =
        [0x80, 0x00, 0x75, 0x19, 0x12, 0x34, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a];

    // The IPv6 + UDP "hello" packet SRC:5000 -> DST:7 that the errors quote.
    static QUOTED: [u8; 53] = [
        0x60, 0x00, 0x00, 0x00, 0x00, 0x0d, 0x11, 0x40, 0xfd, 0x00, 0x01, 0x98, 0x00, 0x18, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfd, 0x00, 0x01, 0x98, 0x00, 0x18, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x02, 0x13, 0x88, 0x00, 0x07, 0x00, 0x0d, 0xab, 0x0e, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
    ];

    /// The 8-byte headers of the errors DST -> SRC quoting QUOTED, from scapy.
    const PORT_UNREACH_HDR: [u8; 8] = [0x01, 0x04, 0x8f, 0xf0, 0, 0, 0, 0];
    const TOO_BIG_HDR: [u8; 8] = [0x02, 0x00, 0x89, 0xf4, 0x00, 0x00, 0x05, 0x00];
    const REASSEMBLY_HDR: [u8; 8] = [0x03, 0x01, 0x8d, 0xf3, 0, 0, 0, 0];

    fn with_quote(hdr: [u8; 8]) -> Vec<u8> {
        let mut v = hdr.to_vec();
        v.extend_from_slice(&QUOTED);
        v
    }

    #[test]
    fn echo_round_trip() {
        let p = Packet::new_checked(&ECHO[..]).unwrap();
        assert!(p.verify_checksum(&SRC, &DST));
        let repr = Repr::parse(&p, &SRC, &DST).unwrap();
        assert_eq!(repr, Repr::EchoRequest { ident: 0x1234, seq_no: 1, data_len: 10 });
        assert!(!repr.is_error());
        let mut buf = ECHO;
        buf[..8].fill(0);
        repr.emit(&SRC, &DST, &mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, ECHO);
        // The same bytes from other addresses fail the pseudo-header checksum.
        assert_eq!(Repr::parse(&p, &SRC, &SRC), Err(Error::BadChecksum));
    }

    #[test]
    fn request_to_reply() {
        let mut buf = ECHO;
        let repr = Repr::EchoReply { ident: 0x1234, seq_no: 1, data_len: 10 };
        repr.emit(&DST, &SRC, &mut Packet::new_unchecked(&mut buf[..]));
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&p, &DST, &SRC), Ok(repr));
    }

    #[test]
    fn errors_match_scapy() {
        for (hdr, repr) in [
            (PORT_UNREACH_HDR, Repr::DstUnreachable { code: unreachable::PORT }),
            (TOO_BIG_HDR, Repr::PacketTooBig { mtu: 1280 }),
            (REASSEMBLY_HDR, Repr::TimeExceeded { code: time_exceeded::REASSEMBLY }),
        ] {
            let bytes = with_quote(hdr);
            let p = Packet::new_checked(&bytes[..]).unwrap();
            assert_eq!(Repr::parse(&p, &DST, &SRC), Ok(repr));
            assert!(repr.is_error());
            assert_eq!(p.data(), &QUOTED);
            let mut out = vec![0xffu8; bytes.len()];
            out[8..].copy_from_slice(&QUOTED);
            repr.emit(&DST, &SRC, &mut Packet::new_unchecked(&mut out[..]));
            assert_eq!(out, bytes);
        }
    }

    #[test]
    fn param_problem_matches_scapy() {
        // Code 1, pointer 40, quoting a bare IPv6 header with next header 200.
        let bytes: [u8; 48] = [
            0x04, 0x01, 0xd8, 0x61, 0x00, 0x00, 0x00, 0x28, 0x60, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc8, 0x40, 0xfd, 0x00,
            0x01, 0x98, 0x00, 0x18, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfd, 0x00, 0x01, 0x98,
            0x00, 0x18, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
        ];
        let repr = Repr::ParamProblem { code: param_problem::UNRECOGNIZED_NEXT_HEADER, pointer: 40 };
        assert_eq!(Repr::parse(&Packet::new_checked(&bytes[..]).unwrap(), &DST, &SRC), Ok(repr));
        let mut out = bytes;
        out[..8].fill(0);
        repr.emit(&DST, &SRC, &mut Packet::new_unchecked(&mut out[..]));
        assert_eq!(out, bytes);
    }

    #[test]
    fn other_and_errors() {
        assert_eq!(Packet::new_checked(&ECHO[..7]).unwrap_err(), Error::Truncated);
        let mut buf = ECHO;
        buf[1] = 1;
        Packet::new_unchecked(&mut buf[..]).fill_checksum(&SRC, &DST);
        assert_eq!(
            Repr::parse(&Packet::new_checked(&buf[..]).unwrap(), &SRC, &DST),
            Ok(Repr::Other { msg_type: ECHO_REQUEST, code: 1 })
        );
        // An NDP type with a non-zero code is discarded, not "other".
        let mut ns = [0u8; 24];
        ns[0] = NEIGHBOR_SOLICIT;
        ns[1] = 1;
        ns[8] = 0xfd;
        Packet::new_unchecked(&mut ns[..]).fill_checksum(&SRC, &DST);
        assert_eq!(Repr::parse(&Packet::new_checked(&ns[..]).unwrap(), &SRC, &DST), Err(Error::Malformed));
        assert!(Repr::Other { msg_type: 100, code: 0 }.is_error());
        assert!(!Repr::Other { msg_type: 200, code: 0 }.is_error());
    }

    #[test]
    fn quote_fits_minimum_mtu() {
        assert_eq!(MAX_ERROR_QUOTE_LEN, 1232);
    }
}
