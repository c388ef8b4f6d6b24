//! ARP (RFC 826). The view reads any hardware/protocol combination (the
//! address fields are located from the length bytes), but `Repr` only
//! knows Ethernet + IPv4, the only pair this node resolves; anything else
//! parses as `Error::Unsupported`.

use core::fmt;
use std::net::Ipv4Addr;

use super::ethernet::{self, EtherType};
use super::Error;

/// Hardware type for Ethernet.
pub const HARDWARE_ETHERNET: u16 = 1;

/// The ARP operation (opcode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// 1: who has the target protocol address?
    Request,
    /// 2: the sender has the sender protocol address.
    Reply,
    /// Any other opcode (e.g. RARP).
    Unknown(u16),
}

impl From<u16> for Operation {
    fn from(v: u16) -> Operation {
        match v {
            1 => Operation::Request,
            2 => Operation::Reply,
            other => Operation::Unknown(other),
        }
    }
}

impl From<Operation> for u16 {
    fn from(op: Operation) -> u16 {
        match op {
            Operation::Request => 1,
            Operation::Reply => 2,
            Operation::Unknown(v) => v,
        }
    }
}

mod field {
    #![allow(non_snake_case)]
    use core::ops::Range;

    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;

    /// The variable part starts here: SHA, SPA, THA, TPA.
    pub const ADDRS: usize = 8;

    pub const fn SHA(hlen: u8, _plen: u8) -> Range<usize> {
        ADDRS..ADDRS + hlen as usize
    }

    pub const fn SPA(hlen: u8, plen: u8) -> Range<usize> {
        let start = SHA(hlen, plen).end;
        start..start + plen as usize
    }

    pub const fn THA(hlen: u8, plen: u8) -> Range<usize> {
        let start = SPA(hlen, plen).end;
        start..start + hlen as usize
    }

    pub const fn TPA(hlen: u8, plen: u8) -> Range<usize> {
        let start = THA(hlen, plen).end;
        start..start + plen as usize
    }
}

/// A zero-copy view of an ARP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checking it; accessors may panic if it is short.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap a buffer that holds the fixed part and all four addresses.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Truncated` if the buffer cannot hold the addresses its lengths announce.
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < field::ADDRS || len < field::TPA(self.hardware_len(), self.protocol_len()).end {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn read_u16(&self, r: core::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[r];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Hardware type (1 = Ethernet).
    pub fn hardware_type(&self) -> u16 {
        self.read_u16(field::HTYPE)
    }

    /// Protocol type, an EtherType (0x0800 = IPv4).
    pub fn protocol_type(&self) -> EtherType {
        EtherType::from(self.read_u16(field::PTYPE))
    }

    /// Hardware address length in bytes.
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// Protocol address length in bytes.
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// The operation.
    pub fn operation(&self) -> Operation {
        Operation::from(self.read_u16(field::OPER))
    }

    /// Sender hardware address bytes.
    pub fn source_hardware_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[field::SHA(self.hardware_len(), self.protocol_len())]
    }

    /// Sender protocol address bytes.
    pub fn source_protocol_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[field::SPA(self.hardware_len(), self.protocol_len())]
    }

    /// Target hardware address bytes.
    pub fn target_hardware_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[field::THA(self.hardware_len(), self.protocol_len())]
    }

    /// Target protocol address bytes.
    pub fn target_protocol_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[field::TPA(self.hardware_len(), self.protocol_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn write_u16(&mut self, r: core::ops::Range<usize>, v: u16) {
        self.buffer.as_mut()[r].copy_from_slice(&v.to_be_bytes());
    }

    /// Set the hardware type.
    pub fn set_hardware_type(&mut self, v: u16) {
        self.write_u16(field::HTYPE, v)
    }

    /// Set the protocol type.
    pub fn set_protocol_type(&mut self, v: EtherType) {
        self.write_u16(field::PTYPE, v.into())
    }

    /// Set the hardware address length (set it before the addresses).
    pub fn set_hardware_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::HLEN] = v
    }

    /// Set the protocol address length (set it before the addresses).
    pub fn set_protocol_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::PLEN] = v
    }

    /// Set the operation.
    pub fn set_operation(&mut self, op: Operation) {
        self.write_u16(field::OPER, op.into())
    }

    /// Set the sender hardware address; `v` must be `hardware_len` bytes.
    pub fn set_source_hardware_addr(&mut self, v: &[u8]) {
        let r = field::SHA(self.hardware_len(), self.protocol_len());
        self.buffer.as_mut()[r].copy_from_slice(v)
    }

    /// Set the sender protocol address; `v` must be `protocol_len` bytes.
    pub fn set_source_protocol_addr(&mut self, v: &[u8]) {
        let r = field::SPA(self.hardware_len(), self.protocol_len());
        self.buffer.as_mut()[r].copy_from_slice(v)
    }

    /// Set the target hardware address; `v` must be `hardware_len` bytes.
    pub fn set_target_hardware_addr(&mut self, v: &[u8]) {
        let r = field::THA(self.hardware_len(), self.protocol_len());
        self.buffer.as_mut()[r].copy_from_slice(v)
    }

    /// Set the target protocol address; `v` must be `protocol_len` bytes.
    pub fn set_target_protocol_addr(&mut self, v: &[u8]) {
        let r = field::TPA(self.hardware_len(), self.protocol_len());
        self.buffer.as_mut()[r].copy_from_slice(v)
    }
}

/// The meaning of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Request, reply or other.
    pub operation: Operation,
    /// Sender MAC address.
    pub source_hardware_addr: ethernet::Address,
    /// Sender IPv4 address.
    pub source_protocol_addr: Ipv4Addr,
    /// Target MAC address (zero in a request).
    pub target_hardware_addr: ethernet::Address,
    /// Target IPv4 address.
    pub target_protocol_addr: Ipv4Addr,
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const ETHERNET_IPV4_LEN: usize = 28;

fn ipv4(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

impl Repr {
    /// Read an Ethernet/IPv4 ARP packet; `Unsupported` for other kinds.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>) -> Result<Repr, Error> {
        if packet.buffer.as_ref().len() < field::ADDRS {
            return Err(Error::Truncated);
        }
        if packet.hardware_type() != HARDWARE_ETHERNET
            || packet.protocol_type() != EtherType::Ipv4
            || packet.hardware_len() != 6
            || packet.protocol_len() != 4
        {
            return Err(Error::Unsupported);
        }
        packet.check_len()?;
        Ok(Repr {
            operation: packet.operation(),
            source_hardware_addr: ethernet::Address::from_bytes(packet.source_hardware_addr()),
            source_protocol_addr: ipv4(packet.source_protocol_addr()),
            target_hardware_addr: ethernet::Address::from_bytes(packet.target_hardware_addr()),
            target_protocol_addr: ipv4(packet.target_protocol_addr()),
        })
    }

    /// Length of the packet `emit` writes (28).
    pub const fn buffer_len(&self) -> usize {
        ETHERNET_IPV4_LEN
    }

    /// Same as `buffer_len`: ARP has no payload.
    pub const fn header_len(&self) -> usize {
        ETHERNET_IPV4_LEN
    }

    /// Write the packet; panics if `packet` is shorter than 28 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut Packet<&mut T>) {
        packet.set_hardware_type(HARDWARE_ETHERNET);
        packet.set_protocol_type(EtherType::Ipv4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(self.operation);
        packet.set_source_hardware_addr(&self.source_hardware_addr.0);
        packet.set_source_protocol_addr(&self.source_protocol_addr.octets());
        packet.set_target_hardware_addr(&self.target_hardware_addr.0);
        packet.set_target_protocol_addr(&self.target_protocol_addr.octets());
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.operation {
            Operation::Request => {
                write!(
                    f,
                    "ARP who-has {} tell {} ({})",
                    self.target_protocol_addr, self.source_protocol_addr, self.source_hardware_addr
                )
            }
            Operation::Reply => write!(f, "ARP {} is-at {}", self.source_protocol_addr, self.source_hardware_addr),
            Operation::Unknown(op) => write!(f, "ARP op {op} from {}", self.source_protocol_addr),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // who-has 198.18.0.2 tell 198.18.0.1, from 02:00:00:00:00:01.
    static REQUEST_BYTES: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0xc6, 0x12, 0x00, 0x01,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc6, 0x12, 0x00, 0x02,
    ];

    // 198.18.0.2 is-at 02:00:00:00:00:02, to 198.18.0.1.
    static REPLY_BYTES: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0xc6, 0x12, 0x00, 0x02,
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0xc6, 0x12, 0x00, 0x01,
    ];

    fn request_repr() -> Repr {
        Repr {
            operation: Operation::Request,
            source_hardware_addr: ethernet::Address([2, 0, 0, 0, 0, 1]),
            source_protocol_addr: Ipv4Addr::new(198, 18, 0, 1),
            target_hardware_addr: ethernet::Address::UNSPECIFIED,
            target_protocol_addr: Ipv4Addr::new(198, 18, 0, 2),
        }
    }

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&REQUEST_BYTES[..]).unwrap();
        assert_eq!(p.hardware_type(), 1);
        assert_eq!(p.protocol_type(), EtherType::Ipv4);
        assert_eq!(p.hardware_len(), 6);
        assert_eq!(p.protocol_len(), 4);
        assert_eq!(p.operation(), Operation::Request);
        assert_eq!(p.source_hardware_addr(), &[2, 0, 0, 0, 0, 1]);
        assert_eq!(p.source_protocol_addr(), &[198, 18, 0, 1]);
        assert_eq!(p.target_hardware_addr(), &[0; 6]);
        assert_eq!(p.target_protocol_addr(), &[198, 18, 0, 2]);
    }

    #[test]
    fn parse_request() {
        let p = Packet::new_checked(&REQUEST_BYTES[..]).unwrap();
        assert_eq!(Repr::parse(&p), Ok(request_repr()));
    }

    #[test]
    fn round_trip_request_and_reply() {
        for bytes in [&REQUEST_BYTES, &REPLY_BYTES] {
            let repr = Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()).unwrap();
            let mut buf = [0xaau8; 28];
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
            assert_eq!(&buf, bytes);
            assert_eq!(repr.buffer_len(), 28);
        }
        let reply = Repr::parse(&Packet::new_checked(&REPLY_BYTES[..]).unwrap()).unwrap();
        assert_eq!(reply.operation, Operation::Reply);
        assert_eq!(reply.source_hardware_addr, ethernet::Address([2, 0, 0, 0, 0, 2]));
        assert_eq!(reply.target_protocol_addr, Ipv4Addr::new(198, 18, 0, 1));
    }

    #[test]
    fn ethernet_padding_is_ignored() {
        let mut padded = [0u8; 46];
        padded[..28].copy_from_slice(&REQUEST_BYTES);
        let p = Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(Repr::parse(&p), Ok(request_repr()));
    }

    #[test]
    fn truncated() {
        assert_eq!(Packet::new_checked(&REQUEST_BYTES[..7]).unwrap_err(), Error::Truncated);
        assert_eq!(Packet::new_checked(&REQUEST_BYTES[..27]).unwrap_err(), Error::Truncated);
        let p = Packet::new_unchecked(&REQUEST_BYTES[..20]);
        assert_eq!(Repr::parse(&p), Err(Error::Truncated));
    }

    #[test]
    fn unsupported_kinds() {
        let cases: [(usize, u8); 4] = [(1, 6), (3, 0x86), (4, 8), (5, 16)];
        for (off, val) in cases {
            let mut buf = [0u8; 64];
            buf[..28].copy_from_slice(&REQUEST_BYTES);
            buf[off] = val;
            let p = Packet::new_checked(&buf[..]).unwrap();
            assert_eq!(Repr::parse(&p), Err(Error::Unsupported), "byte {off} = {val}");
        }
    }

    #[test]
    fn unknown_operation_parses() {
        let mut buf = REQUEST_BYTES;
        buf[7] = 3;
        let r = Repr::parse(&Packet::new_checked(&buf[..]).unwrap()).unwrap();
        assert_eq!(r.operation, Operation::Unknown(3));
        assert_eq!(u16::from(r.operation), 3);
    }

    #[test]
    fn display() {
        assert_eq!(request_repr().to_string(), "ARP who-has 198.18.0.2 tell 198.18.0.1 (02:00:00:00:00:01)");
    }
}
