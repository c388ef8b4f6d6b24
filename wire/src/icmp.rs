//! ICMPv4 (RFC 792): echo request/reply for ping, destination unreachable
//! (port unreachable is what the node sends for UDP to a closed port), and
//! everything else as `Other`. The checksum covers the whole message, so
//! the view's buffer must be exactly the IP payload (see
//! `ipv4::Packet::payload`), without Ethernet padding.

use super::{checksum, Error};

/// Message type: echo reply.
pub const ECHO_REPLY: u8 = 0;
/// Message type: destination unreachable.
pub const DST_UNREACHABLE: u8 = 3;
/// Message type: echo request.
pub const ECHO_REQUEST: u8 = 8;
/// Message type: time exceeded.
pub const TIME_EXCEEDED: u8 = 11;

/// Destination unreachable code: network unreachable.
pub const NET_UNREACHABLE: u8 = 0;
/// Destination unreachable code: host unreachable.
pub const HOST_UNREACHABLE: u8 = 1;
/// Destination unreachable code: protocol unreachable.
pub const PROTO_UNREACHABLE: u8 = 2;
/// Destination unreachable code: port unreachable.
pub const PORT_UNREACHABLE: u8 = 3;
/// Destination unreachable code: fragmentation needed and DF set.
pub const FRAG_NEEDED: u8 = 4;

/// Length of the ICMP header (type, code, checksum, 4 type-specific bytes).
pub const HEADER_LEN: usize = 8;

/// How many bytes of the offending datagram's payload an error message
/// quotes after its IP header (RFC 792).
pub const ERROR_QUOTE_LEN: usize = 8;

mod field {
    use core::ops::{Range, RangeFrom};

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const UNUSED: Range<usize> = 4..8;
    pub const ECHO_IDENT: Range<usize> = 4..6;
    pub const ECHO_SEQNO: Range<usize> = 6..8;
    pub const DATA: RangeFrom<usize> = 8..;
}

/// A zero-copy view of an ICMPv4 message.
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

    /// The message type (`ECHO_REQUEST`, ...).
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// The message code (`PORT_UNREACHABLE`, ...).
    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// The checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.read_u16(field::CHECKSUM)
    }

    /// The echo identifier (meaningful for echo messages only).
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        self.read_u16(field::ECHO_IDENT)
    }

    /// The echo sequence number (meaningful for echo messages only).
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        self.read_u16(field::ECHO_SEQNO)
    }

    /// Whether the checksum over the whole message is correct.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::data(self.buffer.as_ref()) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// Everything after the 8-byte header: echo data, or the quoted datagram.
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::DATA]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    fn write_u16(&mut self, r: core::ops::Range<usize>, v: u16) {
        self.buffer.as_mut()[r].copy_from_slice(&v.to_be_bytes());
    }

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
        self.write_u16(field::CHECKSUM, v)
    }

    /// Set the echo identifier.
    #[inline]
    pub fn set_echo_ident(&mut self, v: u16) {
        self.write_u16(field::ECHO_IDENT, v)
    }

    /// Set the echo sequence number.
    #[inline]
    pub fn set_echo_seq_no(&mut self, v: u16) {
        self.write_u16(field::ECHO_SEQNO, v)
    }

    /// Compute the checksum over the whole buffer and store it.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::data(self.buffer.as_ref());
        self.set_checksum(c);
    }

    /// Everything after the header, mutably.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA]
    }
}

/// The meaning of an ICMPv4 message.
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
    /// Destination unreachable; the data quotes the offending IP header
    /// and the first `ERROR_QUOTE_LEN` bytes of its payload.
    DstUnreachable {
        /// Why (`PORT_UNREACHABLE`, ...).
        code: u8,
    },
    /// Any other message, or an echo with a non-zero code.
    Other {
        /// Message type.
        msg_type: u8,
        /// Message code.
        code: u8,
    },
}

impl Repr {
    /// Read a message; `BadChecksum` if the checksum does not match.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>) -> Result<Repr, Error> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(Error::BadChecksum);
        }
        let data_len = packet.data().len();
        Ok(match (packet.msg_type(), packet.msg_code()) {
            (ECHO_REQUEST, 0) => {
                Repr::EchoRequest { ident: packet.echo_ident(), seq_no: packet.echo_seq_no(), data_len }
            }
            (ECHO_REPLY, 0) => Repr::EchoReply { ident: packet.echo_ident(), seq_no: packet.echo_seq_no(), data_len },
            (DST_UNREACHABLE, code) => Repr::DstUnreachable { code },
            (msg_type, code) => Repr::Other { msg_type, code },
        })
    }

    /// Length of the header (8).
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Length of the message: header plus echo data; for the other kinds
    /// only the header, as the caller decides how much data follows.
    pub const fn buffer_len(&self) -> usize {
        match self {
            Repr::EchoRequest { data_len, .. } | Repr::EchoReply { data_len, .. } => HEADER_LEN + *data_len,
            Repr::DstUnreachable { .. } | Repr::Other { .. } => HEADER_LEN,
        }
    }

    /// Write the header and fill the checksum over the buffer as it stands.
    /// Data is the caller's: if it is written after `emit`, call
    /// `fill_checksum` again. `Other` leaves bytes 4..8 as they are.
    /// Panics if `packet` is shorter than 8 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut Packet<&mut T>) {
        match *self {
            Repr::EchoRequest { ident, seq_no, .. } | Repr::EchoReply { ident, seq_no, .. } => {
                let ty = if matches!(self, Repr::EchoRequest { .. }) { ECHO_REQUEST } else { ECHO_REPLY };
                packet.set_msg_type(ty);
                packet.set_msg_code(0);
                packet.set_echo_ident(ident);
                packet.set_echo_seq_no(seq_no);
            }
            Repr::DstUnreachable { code } => {
                packet.set_msg_type(DST_UNREACHABLE);
                packet.set_msg_code(code);
                packet.buffer.as_mut()[field::UNUSED].fill(0);
            }
            Repr::Other { msg_type, code } => {
                packet.set_msg_type(msg_type);
                packet.set_msg_code(code);
            }
        }
        packet.fill_checksum();
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // Echo request, ident 0x1234, seq 1, data "abcdefghij".
    static ECHO_REQUEST_BYTES: [u8; 18] =
        [0x08, 0x00, 0xea, 0xca, 0x12, 0x34, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a];

    // The matching echo reply.
    static ECHO_REPLY_BYTES: [u8; 18] =
        [0x00, 0x00, 0xf2, 0xca, 0x12, 0x34, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a];

    // Port unreachable quoting UDP 198.18.0.1:5000 -> 198.18.0.2:9.
    static PORT_UNREACH_BYTES: [u8; 36] = [
        0x03, 0x03, 0xe9, 0x63, 0x00, 0x00, 0x00, 0x00, 0x45, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
        0xae, 0xa9, 0xc6, 0x12, 0x00, 0x01, 0xc6, 0x12, 0x00, 0x02, 0x13, 0x88, 0x00, 0x09, 0x00, 0x08, 0x00, 0x00,
    ];

    #[test]
    fn deconstruct_echo() {
        let p = Packet::new_checked(&ECHO_REQUEST_BYTES[..]).unwrap();
        assert_eq!(p.msg_type(), ECHO_REQUEST);
        assert_eq!(p.msg_code(), 0);
        assert_eq!(p.checksum(), 0xeaca);
        assert_eq!(p.echo_ident(), 0x1234);
        assert_eq!(p.echo_seq_no(), 1);
        assert_eq!(p.data(), b"abcdefghij");
        assert!(p.verify_checksum());
    }

    #[test]
    fn round_trip_echo() {
        for bytes in [&ECHO_REQUEST_BYTES, &ECHO_REPLY_BYTES] {
            let repr = Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()).unwrap();
            assert_eq!(repr.buffer_len(), 18);
            let mut buf = [0u8; 18];
            let mut out = Packet::new_unchecked(&mut buf[..]);
            repr.emit(&mut out);
            out.data_mut().copy_from_slice(b"abcdefghij");
            out.fill_checksum();
            assert_eq!(&buf, bytes);
        }
        let reply = Repr::parse(&Packet::new_checked(&ECHO_REPLY_BYTES[..]).unwrap()).unwrap();
        assert_eq!(reply, Repr::EchoReply { ident: 0x1234, seq_no: 1, data_len: 10 });
    }

    #[test]
    fn emit_with_data_in_place_needs_no_refill() {
        let mut buf = ECHO_REQUEST_BYTES;
        buf[..8].fill(0);
        Repr::EchoRequest { ident: 0x1234, seq_no: 1, data_len: 10 }.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, ECHO_REQUEST_BYTES);
    }

    #[test]
    fn request_to_reply_in_place() {
        let mut buf = ECHO_REQUEST_BYTES;
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_msg_type(ECHO_REPLY);
        p.fill_checksum();
        assert_eq!(buf, ECHO_REPLY_BYTES);
    }

    #[test]
    fn port_unreachable() {
        let p = Packet::new_checked(&PORT_UNREACH_BYTES[..]).unwrap();
        assert_eq!(Repr::parse(&p), Ok(Repr::DstUnreachable { code: PORT_UNREACHABLE }));
        assert_eq!(p.data().len(), 20 + ERROR_QUOTE_LEN);

        let mut buf = [0xffu8; 36];
        let mut out = Packet::new_unchecked(&mut buf[..]);
        let repr = Repr::DstUnreachable { code: PORT_UNREACHABLE };
        assert_eq!(repr.buffer_len(), 8);
        repr.emit(&mut out);
        out.data_mut().copy_from_slice(&PORT_UNREACH_BYTES[8..]);
        out.fill_checksum();
        assert_eq!(buf, PORT_UNREACH_BYTES);
    }

    #[test]
    fn other_types() {
        let mut buf = [TIME_EXCEEDED, 0, 0, 0, 0, 0, 0, 0];
        Packet::new_unchecked(&mut buf[..]).fill_checksum();
        let r = Repr::parse(&Packet::new_checked(&buf[..]).unwrap()).unwrap();
        assert_eq!(r, Repr::Other { msg_type: TIME_EXCEEDED, code: 0 });
        let mut out = [0u8; 8];
        r.emit(&mut Packet::new_unchecked(&mut out[..]));
        assert_eq!(out, buf);

        // An echo request with a non-zero code is not an echo request.
        let mut buf = ECHO_REQUEST_BYTES;
        buf[1] = 1;
        Packet::new_unchecked(&mut buf[..]).fill_checksum();
        assert_eq!(
            Repr::parse(&Packet::new_checked(&buf[..]).unwrap()),
            Ok(Repr::Other { msg_type: ECHO_REQUEST, code: 1 })
        );
    }

    #[test]
    fn errors() {
        assert_eq!(Packet::new_checked(&ECHO_REQUEST_BYTES[..7]).unwrap_err(), Error::Truncated);
        let mut buf = ECHO_REQUEST_BYTES;
        buf[17] ^= 1;
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert!(!p.verify_checksum());
        assert_eq!(Repr::parse(&p), Err(Error::BadChecksum));
        assert_eq!(Repr::parse(&Packet::new_unchecked(&buf[..4])), Err(Error::Truncated));
    }
}
