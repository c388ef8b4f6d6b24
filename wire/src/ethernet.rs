//! Ethernet II frames: a 14-byte header (destination, source, EtherType)
//! followed by the payload. There is no VLAN support, but a tagged frame is
//! recognised by its EtherType ([`EtherType::Vlan`] for 802.1Q,
//! [`EtherType::QinQ`] for 802.1ad) so input can count it as such. The
//! frame check sequence is never seen
//! (the NIC strips and adds it), and minimum-size padding is left to the
//! payload's own length field (see `ipv4::Packet::payload`).

use core::fmt;
use core::str::FromStr;

use super::Error;

/// Length of the Ethernet II header.
pub const HEADER_LEN: usize = 14;

/// A 48-bit MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Address(pub [u8; 6]);

impl Address {
    /// The broadcast address ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: Address = Address([0xff; 6]);
    /// The all-zero address (e.g. the target of an ARP request).
    pub const UNSPECIFIED: Address = Address([0; 6]);

    /// The address from the first six bytes of `bytes`; panics if shorter.
    pub fn from_bytes(bytes: &[u8]) -> Address {
        let mut a = [0u8; 6];
        a.copy_from_slice(&bytes[..6]);
        Address(a)
    }

    /// The six bytes of the address.
    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    /// Whether this is ff:ff:ff:ff:ff:ff.
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// Whether the group bit is set (broadcast is also multicast).
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// Whether this names a single station: not multicast, not all zero.
    pub fn is_unicast(&self) -> bool {
        !self.is_multicast() && *self != Self::UNSPECIFIED
    }

    /// Whether the locally-administered bit is set.
    pub fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

impl FromStr for Address {
    type Err = Error;

    /// Parse `aa:bb:cc:dd:ee:ff` (hex, `:` or `-` separated).
    fn from_str(s: &str) -> Result<Address, Error> {
        let mut a = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in a.iter_mut() {
            let p = parts.next().ok_or(Error::Malformed)?;
            if p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::Malformed);
            }
            *byte = u8::from_str_radix(p, 16).map_err(|_| Error::Malformed)?;
        }
        if parts.next().is_some() {
            return Err(Error::Malformed);
        }
        Ok(Address(a))
    }
}

/// The EtherType field: which protocol the payload carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EtherType {
    /// 0x0800.
    Ipv4,
    /// 0x0806.
    Arp,
    /// 0x86dd.
    Ipv6,
    /// 0x8100: an IEEE 802.1Q VLAN tag follows.
    Vlan,
    /// 0x88a8: an IEEE 802.1ad service (QinQ) tag follows.
    QinQ,
    /// Anything else.
    Unknown(u16),
}

impl From<u16> for EtherType {
    fn from(v: u16) -> EtherType {
        match v {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            0x86dd => EtherType::Ipv6,
            0x8100 => EtherType::Vlan,
            0x88a8 => EtherType::QinQ,
            other => EtherType::Unknown(other),
        }
    }
}

impl From<EtherType> for u16 {
    fn from(t: EtherType) -> u16 {
        match t {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Ipv6 => 0x86dd,
            EtherType::Vlan => 0x8100,
            EtherType::QinQ => 0x88a8,
            EtherType::Unknown(v) => v,
        }
    }
}

impl fmt::Display for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EtherType::Ipv4 => f.write_str("IPv4"),
            EtherType::Arp => f.write_str("ARP"),
            EtherType::Ipv6 => f.write_str("IPv6"),
            EtherType::Vlan => f.write_str("802.1Q"),
            EtherType::QinQ => f.write_str("802.1ad"),
            EtherType::Unknown(v) => write!(f, "0x{v:04x}"),
        }
    }
}

mod field {
    use core::ops::{Range, RangeFrom};

    pub const DESTINATION: Range<usize> = 0..6;
    pub const SOURCE: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const PAYLOAD: RangeFrom<usize> = 14..;
}

/// A zero-copy view of an Ethernet II frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Length of the Ethernet II header.
    pub const HEADER_LEN: usize = HEADER_LEN;

    /// Wrap a buffer without checking it; accessors may panic if it is short.
    pub const fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }

    /// Wrap a buffer that holds at least a full header.
    pub fn new_checked(buffer: T) -> Result<Frame<T>, Error> {
        let f = Self::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
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

    /// The destination MAC address.
    #[inline]
    pub fn dst_addr(&self) -> Address {
        Address::from_bytes(&self.buffer.as_ref()[field::DESTINATION])
    }

    /// The source MAC address.
    #[inline]
    pub fn src_addr(&self) -> Address {
        Address::from_bytes(&self.buffer.as_ref()[field::SOURCE])
    }

    /// The EtherType.
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        let b = &self.buffer.as_ref()[field::ETHERTYPE];
        EtherType::from(u16::from_be_bytes([b[0], b[1]]))
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Frame<&'a T> {
    /// Everything after the header (including any padding).
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Set the destination MAC address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Address) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&addr.0);
    }

    /// Set the source MAC address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: Address) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&addr.0);
    }

    /// Set the EtherType.
    #[inline]
    pub fn set_ethertype(&mut self, ty: EtherType) {
        self.buffer.as_mut()[field::ETHERTYPE].copy_from_slice(&u16::from(ty).to_be_bytes());
    }

    /// Everything after the header, mutably.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

/// The meaning of an Ethernet II header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source MAC address.
    pub src_addr: Address,
    /// Destination MAC address.
    pub dst_addr: Address,
    /// Payload protocol.
    pub ethertype: EtherType,
}

impl Repr {
    /// Read the header of `frame`.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(frame: &Frame<&T>) -> Result<Repr, Error> {
        frame.check_len()?;
        Ok(Repr { src_addr: frame.src_addr(), dst_addr: frame.dst_addr(), ethertype: frame.ethertype() })
    }

    /// Length of the header `emit` writes.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Length of a frame with this header and `payload_len` bytes of payload.
    pub const fn buffer_len(&self, payload_len: usize) -> usize {
        HEADER_LEN + payload_len
    }

    /// Write the header into `frame`; panics if it is shorter than 14 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, frame: &mut Frame<&mut T>) {
        frame.set_dst_addr(self.dst_addr);
        frame.set_src_addr(self.src_addr);
        frame.set_ethertype(self.ethertype);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // Broadcast ARP request from 02:00:00:00:00:01 (header + first payload bytes).
    static FRAME_BYTES: [u8; 18] =
        [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x01, 0x08, 0x00];

    #[test]
    fn deconstruct() {
        let f = Frame::new_checked(&FRAME_BYTES[..]).unwrap();
        assert_eq!(f.dst_addr(), Address::BROADCAST);
        assert_eq!(f.src_addr(), Address([0x02, 0, 0, 0, 0, 0x01]));
        assert_eq!(f.ethertype(), EtherType::Arp);
        assert_eq!(f.payload(), &[0x00, 0x01, 0x08, 0x00]);
    }

    #[test]
    fn round_trip() {
        let f = Frame::new_checked(&FRAME_BYTES[..]).unwrap();
        let repr = Repr::parse(&f).unwrap();
        assert_eq!(
            repr,
            Repr { src_addr: Address([2, 0, 0, 0, 0, 1]), dst_addr: Address::BROADCAST, ethertype: EtherType::Arp }
        );
        let mut buf = [0u8; 18];
        let mut out = Frame::new_unchecked(&mut buf[..]);
        repr.emit(&mut out);
        out.payload_mut().copy_from_slice(&FRAME_BYTES[14..]);
        assert_eq!(buf, FRAME_BYTES);
        assert_eq!(repr.buffer_len(4), 18);
    }

    #[test]
    fn truncated() {
        assert_eq!(Frame::new_checked(&FRAME_BYTES[..13]).unwrap_err(), Error::Truncated);
        let f = Frame::new_checked(&FRAME_BYTES[..14]).unwrap();
        assert!(f.payload().is_empty());
    }

    #[test]
    fn vlan_tags_are_recognised() {
        let mut buf = FRAME_BYTES;
        buf[12] = 0x81;
        buf[13] = 0x00;
        assert_eq!(Frame::new_checked(&buf[..]).unwrap().ethertype(), EtherType::Vlan);
        buf[12] = 0x88;
        buf[13] = 0xa8;
        assert_eq!(Frame::new_checked(&buf[..]).unwrap().ethertype(), EtherType::QinQ);
        assert_eq!(EtherType::Vlan.to_string(), "802.1Q");
    }

    #[test]
    fn ethertype_conversions() {
        for v in [0x0800u16, 0x0806, 0x86dd, 0x8100, 0x88a8, 0x1234] {
            assert_eq!(u16::from(EtherType::from(v)), v);
        }
        assert_eq!(EtherType::from(0x86dd), EtherType::Ipv6);
    }

    #[test]
    fn address_classes_and_text() {
        let a = Address([0x02, 0xab, 0, 0, 0, 0x0f]);
        assert!(a.is_unicast() && a.is_local() && !a.is_multicast());
        assert!(Address::BROADCAST.is_broadcast() && Address::BROADCAST.is_multicast());
        assert!(Address([0x01, 0, 0x5e, 0, 0, 1]).is_multicast());
        assert!(!Address::UNSPECIFIED.is_unicast());
        assert_eq!(a.to_string(), "02:ab:00:00:00:0f");
        assert_eq!("02:ab:00:00:00:0f".parse::<Address>(), Ok(a));
        assert_eq!("02-AB-0-0-0-f".parse::<Address>(), Ok(a));
        assert_eq!("02:ab:00:00:00".parse::<Address>(), Err(Error::Malformed));
        assert_eq!("02:ab:00:00:00:0f:01".parse::<Address>(), Err(Error::Malformed));
        assert_eq!("02:ab:00:00:00:xyz".parse::<Address>(), Err(Error::Malformed));
        assert_eq!(format!("{a:?}"), "Address(02:ab:00:00:00:0f)");
    }
}
