//! Little-endian field access for the message formats in [`crate::api`] and
//! [`crate::msg`], and the error every parser returns.
//!
//! As in smoltcp's `wire` modules, each message names its fields once, as
//! byte ranges in a private `mod field`, checks the buffer length once in
//! its `parse`, and then reads fields through these helpers, which cannot
//! fail on a buffer that passed the check. Nothing here allocates.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Range;

use thiserror::Error;

/// A byte range of a message.
pub(crate) type Field = Range<usize>;

/// Why bytes could not be parsed as a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum WireError {
    /// Fewer bytes than the message (or header) needs.
    #[error("message truncated: {got} bytes, {need} needed")]
    Truncated {
        /// Bytes available.
        got: usize,
        /// Bytes the message needs.
        need: usize,
    },
    /// The header does not start with the protocol's magic.
    #[error("bad magic {0:#010x}")]
    BadMagic(u32),
    /// The header carries a protocol version this side does not speak.
    #[error("protocol version {0} not supported (this side speaks {v})", v = crate::api::VERSION)]
    BadVersion(u16),
    /// The body length exceeds what a message of this kind may carry.
    #[error("message body of {0} bytes is too large")]
    TooLarge(u32),
    /// No message has this kind.
    #[error("unknown message kind {0}")]
    UnknownKind(u16),
    /// An address's family byte is neither [`family::IP4`] nor [`family::IP6`].
    #[error("address family {0} not supported (4: IPv4, 6: IPv6)")]
    BadFamily(u8),
    /// A field holds a value outside its domain (names the field).
    #[error("bad value in field {0}")]
    BadField(&'static str),
}

/// Checks that `b` holds at least `need` bytes.
pub(crate) fn check_len(b: &[u8], need: usize) -> Result<(), WireError> {
    if b.len() < need {
        Err(WireError::Truncated { got: b.len(), need })
    } else {
        Ok(())
    }
}

fn array<const N: usize>(b: &[u8], f: Field) -> [u8; N] {
    // Fields are fixed ranges of N bytes inside a length-checked buffer.
    b[f].try_into().expect("field width matches its type")
}

pub(crate) fn get_u8(b: &[u8], at: usize) -> u8 {
    b[at]
}

pub(crate) fn get_u16(b: &[u8], f: Field) -> u16 {
    u16::from_le_bytes(array(b, f))
}

pub(crate) fn get_u32(b: &[u8], f: Field) -> u32 {
    u32::from_le_bytes(array(b, f))
}

pub(crate) fn get_i32(b: &[u8], f: Field) -> i32 {
    i32::from_le_bytes(array(b, f))
}

pub(crate) fn get_u64(b: &[u8], f: Field) -> u64 {
    u64::from_le_bytes(array(b, f))
}

pub(crate) fn put_u8(b: &mut [u8], at: usize, v: u8) {
    b[at] = v;
}

pub(crate) fn put_u16(b: &mut [u8], f: Field, v: u16) {
    b[f].copy_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u32(b: &mut [u8], f: Field, v: u32) {
    b[f].copy_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_i32(b: &mut [u8], f: Field, v: i32) {
    b[f].copy_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u64(b: &mut [u8], f: Field, v: u64) {
    b[f].copy_from_slice(&v.to_le_bytes());
}

/// The family byte in front of every address the messages carry.
pub mod family {
    /// IPv4: the address field's first 4 bytes (network order), the other 12 zero.
    pub const IP4: u8 = 4;
    /// IPv6: all 16 bytes of the address field (network order).
    pub const IP6: u8 = 6;
}

/// Bytes of an address field (either family).
pub const ADDR_LEN: usize = 16;

/// The family byte and 16-byte field of `ip`.
pub fn encode_addr(ip: IpAddr) -> (u8, [u8; ADDR_LEN]) {
    match ip {
        IpAddr::V4(a) => {
            let mut b = [0u8; ADDR_LEN];
            b[..4].copy_from_slice(&a.octets());
            (family::IP4, b)
        }
        IpAddr::V6(a) => (family::IP6, a.octets()),
    }
}

/// The address a family byte and 16-byte field name: the one place that
/// decides which families the wire formats carry. An unknown family, or an
/// IPv4 field with anything but zeros after its 4 bytes, is refused.
pub fn decode_addr(fam: u8, b: &[u8; ADDR_LEN]) -> Result<IpAddr, WireError> {
    match fam {
        family::IP4 if b[4..].iter().all(|&x| x == 0) => Ok(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
        family::IP4 => Err(WireError::BadField("address (IPv4 padding not zero)")),
        family::IP6 => Ok(IpAddr::V6(Ipv6Addr::from(*b))),
        other => Err(WireError::BadFamily(other)),
    }
}

/// An address as (family byte, 16-byte field).
pub(crate) fn get_addr(b: &[u8], fam: usize, ip: Field) -> Result<IpAddr, WireError> {
    decode_addr(get_u8(b, fam), &array(b, ip))
}

pub(crate) fn put_addr(b: &mut [u8], fam: usize, ip: Field, a: IpAddr) {
    let (f, bytes) = encode_addr(a);
    put_u8(b, fam, f);
    b[ip].copy_from_slice(&bytes);
}

/// An endpoint as (family byte, address field, port field).
pub(crate) fn get_endpoint(b: &[u8], fam: usize, ip: Field, port: Field) -> Result<SocketAddr, WireError> {
    Ok(SocketAddr::new(get_addr(b, fam, ip)?, get_u16(b, port)))
}

pub(crate) fn put_endpoint(b: &mut [u8], fam: usize, ip: Field, port: Field, ep: SocketAddr) {
    put_addr(b, fam, ip, ep.ip());
    put_u16(b, port, ep.port());
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn little_endian_and_network_order_ip() {
        let mut b = [0u8; 40];
        put_u32(&mut b, 0..4, 0x0403_0201);
        put_endpoint(&mut b, 4, 5..21, 21..23, "198.18.0.1:7".parse().unwrap());
        put_i32(&mut b, 24..28, -103);
        assert_eq!(&b[..10], &[1, 2, 3, 4, family::IP4, 198, 18, 0, 1, 0]);
        assert_eq!(&b[21..23], &[7, 0]);
        assert_eq!(get_endpoint(&b, 4, 5..21, 21..23), Ok("198.18.0.1:7".parse().unwrap()));
        assert_eq!(get_i32(&b, 24..28), -103);
        assert_eq!(check_len(&b, 41), Err(WireError::Truncated { got: 40, need: 41 }));
        assert_eq!(check_len(&b, 40), Ok(()));
    }

    #[test]
    fn ip6_endpoints_round_trip_and_bad_families_are_refused() {
        let mut b = [0u8; 24];
        let ep: SocketAddr = "[fd00:198:18::2]:443".parse().unwrap();
        put_endpoint(&mut b, 0, 1..17, 17..19, ep);
        assert_eq!(b[0], family::IP6);
        assert_eq!(&b[1..3], &[0xfd, 0x00]);
        assert_eq!(get_endpoint(&b, 0, 1..17, 17..19), Ok(ep));
        b[0] = 10; // AF_INET6's number is not the wire's
        assert_eq!(get_endpoint(&b, 0, 1..17, 17..19), Err(WireError::BadFamily(10)));
        b[0] = 0;
        assert_eq!(get_endpoint(&b, 0, 1..17, 17..19), Err(WireError::BadFamily(0)));
        put_endpoint(&mut b, 0, 1..17, 17..19, "1.2.3.4:5".parse().unwrap());
        b[16] = 1;
        assert!(matches!(get_endpoint(&b, 0, 1..17, 17..19), Err(WireError::BadField(_))));
        assert!(WireError::BadFamily(9).to_string().contains("4: IPv4, 6: IPv6"));
    }
}
