//! Little-endian field access for the message formats in [`crate::api`] and
//! [`crate::msg`], and the error every parser returns.
//!
//! As in smoltcp's `wire` modules, each message names its fields once, as
//! byte ranges in a private `mod field`, checks the buffer length once in
//! its `parse`, and then reads fields through these helpers, which cannot
//! fail on a buffer that passed the check. Nothing here allocates.

use std::net::{Ipv4Addr, SocketAddrV4};
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

/// An IPv4 address, stored in network order (as on the wire).
pub(crate) fn get_ip(b: &[u8], f: Field) -> Ipv4Addr {
    Ipv4Addr::from(array::<4>(b, f))
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

pub(crate) fn put_ip(b: &mut [u8], f: Field, ip: Ipv4Addr) {
    b[f].copy_from_slice(&ip.octets());
}

/// An IPv4 endpoint as (address field, port field).
pub(crate) fn get_endpoint(b: &[u8], ip: Field, port: Field) -> SocketAddrV4 {
    SocketAddrV4::new(get_ip(b, ip), get_u16(b, port))
}

pub(crate) fn put_endpoint(b: &mut [u8], ip: Field, port: Field, ep: SocketAddrV4) {
    put_ip(b, ip, *ep.ip());
    put_u16(b, port, ep.port());
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn little_endian_and_network_order_ip() {
        let mut b = [0u8; 16];
        put_u32(&mut b, 0..4, 0x0403_0201);
        put_ip(&mut b, 4..8, Ipv4Addr::new(198, 18, 0, 1));
        put_u16(&mut b, 8..10, 7);
        put_i32(&mut b, 12..16, -103);
        assert_eq!(&b[..10], &[1, 2, 3, 4, 198, 18, 0, 1, 7, 0]);
        assert_eq!(get_endpoint(&b, 4..8, 8..10), "198.18.0.1:7".parse().unwrap());
        assert_eq!(get_i32(&b, 12..16), -103);
        assert_eq!(check_len(&b, 17), Err(WireError::Truncated { got: 16, need: 17 }));
        assert_eq!(check_len(&b, 16), Ok(()));
    }
}
