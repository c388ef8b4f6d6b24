//! UDP (RFC 768) over IPv4. The checksum covers an IPv4 pseudo header, so
//! `fill_checksum` and `verify_checksum` take the addresses. A zero checksum
//! field means "not computed" (allowed on IPv4) and verifies as correct;
//! a computed checksum of zero is therefore sent as 0xffff. Over IPv6 the
//! checksum is mandatory (RFC 8200 8.1): the `_v6` methods use the IPv6
//! pseudo header and a zero field fails verification.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{checksum, Error};

/// Length of the UDP header.
pub const HEADER_LEN: usize = 8;

/// IP protocol number of UDP.
const PROTOCOL_UDP: u8 = 17;

mod field {
    use core::ops::Range;

    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// A zero-copy view of a UDP datagram.
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

    /// `Truncated` if the buffer is shorter than 8 bytes or the length
    /// field; `Malformed` if the length field is below 8.
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let field_len = usize::from(self.len());
        if field_len < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if len < field_len {
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

    /// The source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        self.read_u16(field::SRC_PORT)
    }

    /// The destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        self.read_u16(field::DST_PORT)
    }

    /// The length field: header plus payload, in bytes.
    #[inline]
    pub fn len(&self) -> u16 {
        self.read_u16(field::LENGTH)
    }

    /// Whether the datagram carries no payload.
    #[inline]
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }

    /// The checksum field (0 = none).
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.read_u16(field::CHECKSUM)
    }

    /// Whether the checksum is correct for these IPv4 addresses; a zero
    /// checksum field (none sent) verifies as correct.
    #[inline]
    pub fn verify_checksum(&self, src_addr: Ipv4Addr, dst_addr: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let len = self.len();
        let pseudo = checksum::pseudo_header_ipv4(src_addr, dst_addr, PROTOCOL_UDP, len);
        checksum::fold(checksum::sum(&self.buffer.as_ref()[..usize::from(len)], pseudo)) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The payload: the bytes between the header and the length field's end.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    fn write_u16(&mut self, r: core::ops::Range<usize>, v: u16) {
        self.buffer.as_mut()[r].copy_from_slice(&v.to_be_bytes());
    }

    /// Set the source port.
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        self.write_u16(field::SRC_PORT, v)
    }

    /// Set the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        self.write_u16(field::DST_PORT, v)
    }

    /// Set the length field (header plus payload).
    #[inline]
    pub fn set_len(&mut self, v: u16) {
        self.write_u16(field::LENGTH, v)
    }

    /// Set the checksum field as is (0 = none; see `fill_checksum`).
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        self.write_u16(field::CHECKSUM, v)
    }

    /// Compute the checksum over the pseudo header, header and payload (up
    /// to the length field) and store it, writing 0xffff for a computed 0.
    #[inline]
    pub fn fill_checksum(&mut self, src_addr: Ipv4Addr, dst_addr: Ipv4Addr) {
        self.set_checksum(0);
        let len = self.len();
        let pseudo = checksum::pseudo_header_ipv4(src_addr, dst_addr, PROTOCOL_UDP, len);
        let c = checksum::fold(checksum::sum(&self.buffer.as_ref()[..usize::from(len)], pseudo));
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }

    /// The payload, mutably (up to the length field's end).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// The meaning of a UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload length in bytes.
    pub payload_len: usize,
}

impl Repr {
    /// Read a header: `BadChecksum` if `checksum_verify` and the checksum
    /// (when present) is wrong for these addresses, `Malformed` if the
    /// destination port is 0.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&T>,
        src_addr: Ipv4Addr,
        dst_addr: Ipv4Addr,
        checksum_verify: bool,
    ) -> Result<Repr, Error> {
        packet.check_len()?;
        if packet.dst_port() == 0 {
            return Err(Error::Malformed);
        }
        if checksum_verify && !packet.verify_checksum(src_addr, dst_addr) {
            return Err(Error::BadChecksum);
        }
        Ok(Repr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload_len: usize::from(packet.len()) - HEADER_LEN,
        })
    }

    /// Length of the header (8).
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Length of the datagram: header plus payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Write the header with a zero (absent) checksum; touches only the
    /// first 8 bytes. Write the payload, then call `fill_checksum` (or
    /// leave it zero). Panics if `packet` is shorter than 8 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut Packet<&mut T>) {
        debug_assert!(self.buffer_len() <= usize::from(u16::MAX), "UDP datagram too long");
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(self.buffer_len() as u16);
        packet.set_checksum(0);
    }
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Whether the checksum is correct for these IPv6 addresses; a zero
    /// field is wrong, since IPv6 makes the UDP checksum mandatory.
    #[inline]
    pub fn verify_checksum_v6(&self, src_addr: &Ipv6Addr, dst_addr: &Ipv6Addr) -> bool {
        if self.checksum() == 0 {
            return false;
        }
        let len = self.len();
        let pseudo = checksum::pseudo_header_ipv6(src_addr, dst_addr, PROTOCOL_UDP, u32::from(len));
        checksum::fold(checksum::sum(&self.buffer.as_ref()[..usize::from(len)], pseudo)) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// `fill_checksum` over the IPv6 pseudo header (0 is sent as 0xffff).
    #[inline]
    pub fn fill_checksum_v6(&mut self, src_addr: &Ipv6Addr, dst_addr: &Ipv6Addr) {
        self.set_checksum(0);
        let len = self.len();
        let pseudo = checksum::pseudo_header_ipv6(src_addr, dst_addr, PROTOCOL_UDP, u32::from(len));
        let c = checksum::fold(checksum::sum(&self.buffer.as_ref()[..usize::from(len)], pseudo));
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }
}

#[cfg(test)]
mod test {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

    // 198.18.0.1:5000 -> 198.18.0.2:7, "hello", then 3 bytes of padding.
    static PACKET_BYTES: [u8; 16] =
        [0x13, 0x88, 0x00, 0x07, 0x00, 0x0d, 0x1c, 0x4b, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x00, 0x00, 0x00];

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(p.src_port(), 5000);
        assert_eq!(p.dst_port(), 7);
        assert_eq!(p.len(), 13);
        assert!(!p.is_empty());
        assert_eq!(p.checksum(), 0x1c4b);
        assert_eq!(p.payload(), b"hello");
        assert!(p.verify_checksum(SRC, DST));
        assert!(!p.verify_checksum(SRC, Ipv4Addr::new(198, 18, 0, 3)));
    }

    #[test]
    fn round_trip() {
        let p = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        let repr = Repr::parse(&p, SRC, DST, true).unwrap();
        assert_eq!(repr, Repr { src_port: 5000, dst_port: 7, payload_len: 5 });
        assert_eq!(repr.buffer_len(), 13);
        let mut buf = [0xaau8; 13];
        let mut out = Packet::new_unchecked(&mut buf[..]);
        repr.emit(&mut out);
        assert_eq!(out.checksum(), 0);
        out.payload_mut().copy_from_slice(b"hello");
        out.fill_checksum(SRC, DST);
        assert_eq!(&buf[..], &PACKET_BYTES[..13]);
    }

    #[test]
    fn zero_checksum_means_none() {
        let mut buf = PACKET_BYTES;
        buf[6] = 0;
        buf[7] = 0;
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum(SRC, DST));
        assert!(p.verify_checksum(Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED));
        assert!(Repr::parse(&p, SRC, DST, true).is_ok());
    }

    #[test]
    fn computed_zero_is_sent_as_ffff() {
        // Choose the last payload word so the sum is 0xffff, i.e. the
        // computed checksum is 0.
        let mut buf = [0x13, 0x88, 0x00, 0x07, 0x00, 0x0c, 0x00, 0x00, 0x68, 0x69, 0x00, 0x00];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.fill_checksum(SRC, DST);
        let c = p.checksum();
        p.set_checksum(0);
        p.payload_mut()[2..4].copy_from_slice(&c.to_be_bytes());
        p.fill_checksum(SRC, DST);
        assert_eq!(p.checksum(), 0xffff);
        assert!(p.verify_checksum(SRC, DST));
    }

    #[test]
    fn errors() {
        assert_eq!(Packet::new_checked(&PACKET_BYTES[..7]).unwrap_err(), Error::Truncated);
        assert_eq!(Packet::new_checked(&PACKET_BYTES[..12]).unwrap_err(), Error::Truncated);
        let mut buf = PACKET_BYTES;
        buf[5] = 7;
        assert_eq!(Packet::new_checked(&buf[..]).unwrap_err(), Error::Malformed);

        let mut buf = PACKET_BYTES;
        buf[12] = b'O';
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&p, SRC, DST, true), Err(Error::BadChecksum));
        assert!(Repr::parse(&p, SRC, DST, false).is_ok());

        let mut buf = PACKET_BYTES;
        Packet::new_unchecked(&mut buf[..]).set_dst_port(0);
        assert_eq!(Repr::parse(&Packet::new_checked(&buf[..]).unwrap(), SRC, DST, false), Err(Error::Malformed));
    }

    #[test]
    fn empty_payload() {
        let mut buf = [0u8; 8];
        let repr = Repr { src_port: 1, dst_port: 2, payload_len: 0 };
        let mut p = Packet::new_unchecked(&mut buf[..]);
        repr.emit(&mut p);
        p.fill_checksum(SRC, DST);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert!(p.is_empty() && p.payload().is_empty());
        assert_eq!(Repr::parse(&p, SRC, DST, true), Ok(repr));
    }

    #[test]
    fn checksum_over_ipv6() {
        // scapy: IPv6(fd00:198:18::1 -> ::2)/UDP(5000 -> 7)/"hello", checksum 0xab0e.
        let src: Ipv6Addr = "fd00:198:18::1".parse().unwrap();
        let dst: Ipv6Addr = "fd00:198:18::2".parse().unwrap();
        let bytes = [0x13, 0x88, 0x00, 0x07, 0x00, 0x0d, 0xab, 0x0e, 0x68, 0x65, 0x6c, 0x6c, 0x6f];
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert!(p.verify_checksum_v6(&src, &dst));
        assert!(!p.verify_checksum_v6(&dst, &"fd00:198:18::3".parse().unwrap()));
        let mut buf = bytes;
        buf[6..8].fill(0);
        assert!(!Packet::new_checked(&buf[..]).unwrap().verify_checksum_v6(&src, &dst));
        Packet::new_unchecked(&mut buf[..]).fill_checksum_v6(&src, &dst);
        assert_eq!(buf, bytes);
    }
}
