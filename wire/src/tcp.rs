//! TCP (RFC 9293) header over IPv4: sequence numbers, the header view, its
//! options (RFC 9293 MSS, RFC 7323 window scale and timestamps, RFC 2018
//! SACK) and the `Repr`. TCP has no length field, so a `Packet` is exactly
//! one segment: the caller slices the IPv4 payload to the IPv4 total length
//! before wrapping it. The checksum covers an IPv4 pseudo header, so
//! `fill_checksum` and `verify_checksum` take the addresses.
//!
//! `Repr` holds every option the node understands in fixed-size fields (no
//! allocation per segment); unknown options are skipped on parse and never
//! emitted.

use core::cmp::Ordering;
use core::fmt;
use core::ops;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::{checksum, Error};

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;
/// Longest header: the data offset field counts 4-byte words in 4 bits.
pub const MAX_HEADER_LEN: usize = 60;
/// Most SACK blocks one option can carry (40 option bytes: 2 + 4 * 8).
pub const MAX_SACK_BLOCKS: usize = 4;

/// IP protocol number of TCP.
const PROTOCOL_TCP: u8 = 6;

/// A TCP sequence number: arithmetic wraps modulo 2^32 and comparisons
/// follow RFC 9293 §3.4 (`a < b` iff `b - a`, as a signed 32-bit number, is
/// positive), so they are only meaningful for numbers less than 2^31 apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// The signed distance from `other` to `self` (`self - other`).
    #[inline]
    pub const fn diff(self, other: SeqNumber) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// `self - other` as a byte count; 0 when `other` is ahead.
    #[inline]
    pub const fn since(self, other: SeqNumber) -> u32 {
        let d = self.diff(other);
        if d < 0 {
            0
        } else {
            d as u32
        }
    }

    /// The later of two sequence numbers.
    #[inline]
    pub fn max(self, other: SeqNumber) -> SeqNumber {
        if self > other {
            self
        } else {
            other
        }
    }

    /// The earlier of two sequence numbers.
    #[inline]
    pub fn min(self, other: SeqNumber) -> SeqNumber {
        if self < other {
            self
        } else {
            other
        }
    }
}

impl PartialOrd for SeqNumber {
    #[inline]
    fn partial_cmp(&self, other: &SeqNumber) -> Option<Ordering> {
        Some(self.diff(*other).cmp(&0))
    }
}

impl ops::Add<u32> for SeqNumber {
    type Output = SeqNumber;
    #[inline]
    fn add(self, rhs: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(rhs))
    }
}

impl ops::AddAssign<u32> for SeqNumber {
    #[inline]
    fn add_assign(&mut self, rhs: u32) {
        self.0 = self.0.wrapping_add(rhs);
    }
}

impl ops::Sub<u32> for SeqNumber {
    type Output = SeqNumber;
    #[inline]
    fn sub(self, rhs: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_sub(rhs))
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

mod field {
    use core::ops::Range;

    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ_NUM: Range<usize> = 4..8;
    pub const ACK_NUM: Range<usize> = 8..12;
    pub const FLAGS: Range<usize> = 12..14;
    pub const WIN_SIZE: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
    pub const OPTIONS_START: usize = 20;

    // Option kinds (IANA "TCP Option Kind Numbers").
    pub const OPT_END: u8 = 0;
    pub const OPT_NOP: u8 = 1;
    pub const OPT_MSS: u8 = 2;
    pub const OPT_WS: u8 = 3;
    pub const OPT_SACKPERM: u8 = 4;
    pub const OPT_SACKRNG: u8 = 5;
    pub const OPT_TSTAMP: u8 = 8;
}

/// The control bits of the header (the low 9 bits of the flags word).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u16);

impl Flags {
    /// No more data from sender.
    pub const FIN: Flags = Flags(0x001);
    /// Synchronize sequence numbers.
    pub const SYN: Flags = Flags(0x002);
    /// Reset the connection.
    pub const RST: Flags = Flags(0x004);
    /// Push function.
    pub const PSH: Flags = Flags(0x008);
    /// Acknowledgment field is significant.
    pub const ACK: Flags = Flags(0x010);
    /// Urgent pointer field is significant.
    pub const URG: Flags = Flags(0x020);
    /// ECN echo (RFC 3168).
    pub const ECE: Flags = Flags(0x040);
    /// Congestion window reduced (RFC 3168).
    pub const CWR: Flags = Flags(0x080);
    /// No flag set.
    pub const NONE: Flags = Flags(0);
    const MASK: u16 = 0x1ff;

    /// Whether every bit of `other` is set here.
    #[inline]
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether FIN is set.
    #[inline]
    pub const fn fin(self) -> bool {
        self.contains(Flags::FIN)
    }
    /// Whether SYN is set.
    #[inline]
    pub const fn syn(self) -> bool {
        self.contains(Flags::SYN)
    }
    /// Whether RST is set.
    #[inline]
    pub const fn rst(self) -> bool {
        self.contains(Flags::RST)
    }
    /// Whether PSH is set.
    #[inline]
    pub const fn psh(self) -> bool {
        self.contains(Flags::PSH)
    }
    /// Whether ACK is set.
    #[inline]
    pub const fn ack(self) -> bool {
        self.contains(Flags::ACK)
    }
    /// Whether URG is set.
    #[inline]
    pub const fn urg(self) -> bool {
        self.contains(Flags::URG)
    }
}

impl ops::BitOr for Flags {
    type Output = Flags;
    #[inline]
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl ops::BitOrAssign for Flags {
    #[inline]
    fn bitor_assign(&mut self, rhs: Flags) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Flags {
    /// tcpdump style: `S`, `S.`, `F.`, `R`, `P.`, `.` for a bare ACK.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (flag, c) in [(Flags::SYN, 'S'), (Flags::FIN, 'F'), (Flags::RST, 'R'), (Flags::PSH, 'P'), (Flags::URG, 'U')]
        {
            if self.contains(flag) {
                write!(f, "{c}")?;
            }
        }
        if self.ack() {
            f.write_str(".")?;
        }
        Ok(())
    }
}

/// A zero-copy view of a TCP segment (header, options and payload).
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

    /// `Truncated` if the buffer is shorter than 20 bytes or than the data
    /// offset; `Malformed` if the data offset is below 5 words.
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let header_len = usize::from(self.header_len());
        if header_len < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if len < header_len {
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

    #[inline]
    fn read_u32(&self, r: core::ops::Range<usize>) -> u32 {
        let b = &self.buffer.as_ref()[r];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
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

    /// The sequence number.
    #[inline]
    pub fn seq_number(&self) -> SeqNumber {
        SeqNumber(self.read_u32(field::SEQ_NUM))
    }

    /// The acknowledgment number (meaningful only with ACK set).
    #[inline]
    pub fn ack_number(&self) -> SeqNumber {
        SeqNumber(self.read_u32(field::ACK_NUM))
    }

    /// The header length in bytes, from the data offset field.
    #[inline]
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::FLAGS.start] >> 4) * 4
    }

    /// The control bits.
    #[inline]
    pub fn flags(&self) -> Flags {
        Flags(self.read_u16(field::FLAGS) & Flags::MASK)
    }

    /// The window field, unscaled.
    #[inline]
    pub fn window_len(&self) -> u16 {
        self.read_u16(field::WIN_SIZE)
    }

    /// The checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.read_u16(field::CHECKSUM)
    }

    /// The urgent pointer.
    #[inline]
    pub fn urgent_at(&self) -> u16 {
        self.read_u16(field::URGENT)
    }

    /// Length of the segment: sequence space taken by payload, SYN and FIN.
    pub fn segment_len(&self) -> usize {
        let flags = self.flags();
        self.buffer.as_ref().len() - usize::from(self.header_len())
            + usize::from(flags.syn())
            + usize::from(flags.fin())
    }

    /// Whether the checksum is correct for these IPv4 addresses.
    pub fn verify_checksum(&self, src_addr: Ipv4Addr, dst_addr: Ipv4Addr) -> bool {
        let data = self.buffer.as_ref();
        let Ok(len) = u16::try_from(data.len()) else {
            return false;
        };
        let pseudo = checksum::pseudo_header_ipv4(src_addr, dst_addr, PROTOCOL_TCP, len);
        checksum::fold(checksum::sum(data, pseudo)) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The option bytes between the fixed header and the data offset.
    #[inline]
    pub fn options(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::OPTIONS_START..usize::from(self.header_len())]
    }

    /// The options, parsed one by one.
    pub fn options_iter(&self) -> OptionsIter<'a> {
        OptionsIter { data: self.options() }
    }

    /// The payload after the header.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[usize::from(self.header_len())..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    fn write_u16(&mut self, r: core::ops::Range<usize>, v: u16) {
        self.buffer.as_mut()[r].copy_from_slice(&v.to_be_bytes());
    }

    #[inline]
    fn write_u32(&mut self, r: core::ops::Range<usize>, v: u32) {
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

    /// Set the sequence number.
    #[inline]
    pub fn set_seq_number(&mut self, v: SeqNumber) {
        self.write_u32(field::SEQ_NUM, v.0)
    }

    /// Set the acknowledgment number.
    #[inline]
    pub fn set_ack_number(&mut self, v: SeqNumber) {
        self.write_u32(field::ACK_NUM, v.0)
    }

    /// Set the header length in bytes (a multiple of 4, 20..=60), keeping the flags.
    #[inline]
    pub fn set_header_len(&mut self, len: u8) {
        debug_assert!(len.is_multiple_of(4) && (20..=60).contains(&len));
        let b = &mut self.buffer.as_mut()[field::FLAGS.start];
        *b = (*b & 0x0f) | ((len / 4) << 4);
    }

    /// Set the control bits, keeping the data offset.
    #[inline]
    pub fn set_flags(&mut self, flags: Flags) {
        let keep = self.read_u16(field::FLAGS) & 0xf000;
        self.write_u16(field::FLAGS, keep | (flags.0 & Flags::MASK))
    }

    /// Set the window field.
    #[inline]
    pub fn set_window_len(&mut self, v: u16) {
        self.write_u16(field::WIN_SIZE, v)
    }

    /// Set the checksum field as is (see `fill_checksum`).
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        self.write_u16(field::CHECKSUM, v)
    }

    /// Set the urgent pointer.
    #[inline]
    pub fn set_urgent_at(&mut self, v: u16) {
        self.write_u16(field::URGENT, v)
    }

    /// The option bytes, mutably.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.header_len());
        &mut self.buffer.as_mut()[field::OPTIONS_START..end]
    }

    /// The payload, mutably.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = usize::from(self.header_len());
        &mut self.buffer.as_mut()[start..]
    }

    /// Compute the checksum over the pseudo header and the whole buffer, and store it.
    pub fn fill_checksum(&mut self, src_addr: Ipv4Addr, dst_addr: Ipv4Addr) {
        self.set_checksum(0);
        let data = self.buffer.as_ref();
        debug_assert!(data.len() <= usize::from(u16::MAX), "TCP segment too long");
        let pseudo = checksum::pseudo_header_ipv4(src_addr, dst_addr, PROTOCOL_TCP, data.len() as u16);
        let c = checksum::fold(checksum::sum(data, pseudo));
        self.set_checksum(c);
    }
}

/// A SACK block (RFC 2018): the received bytes `[left, right)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SackBlock {
    /// First sequence number of the block.
    pub left: SeqNumber,
    /// Sequence number just past the block.
    pub right: SeqNumber,
}

/// Up to [`MAX_SACK_BLOCKS`] SACK blocks in a fixed array, first = most recent.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SackBlocks {
    len: u8,
    blocks: [SackBlock; MAX_SACK_BLOCKS],
}

impl SackBlocks {
    /// No blocks.
    pub const EMPTY: SackBlocks =
        SackBlocks { len: 0, blocks: [SackBlock { left: SeqNumber(0), right: SeqNumber(0) }; 4] };

    /// Append a block; false (and nothing changes) if already full.
    pub fn push(&mut self, block: SackBlock) -> bool {
        if usize::from(self.len) == MAX_SACK_BLOCKS {
            return false;
        }
        self.blocks[usize::from(self.len)] = block;
        self.len += 1;
        true
    }

    /// Keep only the first `n` blocks.
    pub fn truncate(&mut self, n: usize) {
        self.len = self.len.min(n as u8);
    }

    /// The blocks.
    pub fn as_slice(&self) -> &[SackBlock] {
        &self.blocks[..usize::from(self.len)]
    }

    /// Number of blocks.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether there are no blocks.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for SackBlocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice().iter().map(|b| b.left.0..b.right.0)).finish()
    }
}

/// The timestamps option (RFC 7323).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Timestamp {
    /// The sender's timestamp clock.
    pub tsval: u32,
    /// The echoed timestamp of the peer (meaningful with ACK set).
    pub tsecr: u32,
}

/// One TCP option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// End of option list (kind 0).
    EndOfList,
    /// Padding (kind 1).
    NoOperation,
    /// Maximum segment size (kind 2), SYN only.
    MaxSegmentSize(u16),
    /// Window scale shift count (kind 3), SYN only.
    WindowScale(u8),
    /// SACK permitted (kind 4), SYN only.
    SackPermitted,
    /// SACK blocks (kind 5).
    SackRange(SackBlocks),
    /// Timestamps (kind 8).
    Timestamp(Timestamp),
    /// Any other kind, with its data (length byte excluded).
    Unknown {
        /// The option kind.
        kind: u8,
        /// The option's data.
        data: &'a [u8],
    },
}

impl<'a> TcpOption<'a> {
    /// Parse one option from the front of `buf`: the option and the bytes
    /// it took. `Malformed` for a length below 2, beyond the buffer, or
    /// wrong for a known kind.
    pub fn parse(buf: &'a [u8]) -> Result<(TcpOption<'a>, usize), Error> {
        let kind = *buf.first().ok_or(Error::Truncated)?;
        match kind {
            field::OPT_END => return Ok((TcpOption::EndOfList, 1)),
            field::OPT_NOP => return Ok((TcpOption::NoOperation, 1)),
            _ => {}
        }
        let len = usize::from(*buf.get(1).ok_or(Error::Malformed)?);
        if len < 2 || len > buf.len() {
            return Err(Error::Malformed);
        }
        let data = &buf[2..len];
        let opt = match (kind, len) {
            (field::OPT_MSS, 4) => TcpOption::MaxSegmentSize(u16::from_be_bytes([data[0], data[1]])),
            (field::OPT_WS, 3) => TcpOption::WindowScale(data[0]),
            (field::OPT_SACKPERM, 2) => TcpOption::SackPermitted,
            (field::OPT_TSTAMP, 10) => TcpOption::Timestamp(Timestamp {
                tsval: u32::from_be_bytes([data[0], data[1], data[2], data[3]]),
                tsecr: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
            }),
            (field::OPT_SACKRNG, _)
                if data.len().is_multiple_of(8) && (1..=MAX_SACK_BLOCKS).contains(&(data.len() / 8)) =>
            {
                let mut blocks = SackBlocks::EMPTY;
                for b in data.chunks_exact(8) {
                    blocks.push(SackBlock {
                        left: SeqNumber(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
                        right: SeqNumber(u32::from_be_bytes([b[4], b[5], b[6], b[7]])),
                    });
                }
                TcpOption::SackRange(blocks)
            }
            (field::OPT_MSS | field::OPT_WS | field::OPT_SACKPERM | field::OPT_TSTAMP | field::OPT_SACKRNG, _) => {
                return Err(Error::Malformed)
            }
            _ => TcpOption::Unknown { kind, data },
        };
        Ok((opt, len))
    }

    /// Bytes this option takes on the wire.
    pub fn buffer_len(&self) -> usize {
        match self {
            TcpOption::EndOfList | TcpOption::NoOperation => 1,
            TcpOption::MaxSegmentSize(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::SackRange(b) => 2 + 8 * b.len(),
            TcpOption::Timestamp(_) => 10,
            TcpOption::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// Write the option at the front of `buf` and return the bytes written.
    /// Panics if `buf` is shorter than `buffer_len`.
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let len = self.buffer_len();
        let (kind, data_at) = match *self {
            TcpOption::EndOfList => {
                buf[0] = field::OPT_END;
                return 1;
            }
            TcpOption::NoOperation => {
                buf[0] = field::OPT_NOP;
                return 1;
            }
            TcpOption::MaxSegmentSize(mss) => {
                buf[2..4].copy_from_slice(&mss.to_be_bytes());
                (field::OPT_MSS, len)
            }
            TcpOption::WindowScale(shift) => {
                buf[2] = shift;
                (field::OPT_WS, len)
            }
            TcpOption::SackPermitted => (field::OPT_SACKPERM, len),
            TcpOption::SackRange(blocks) => {
                for (b, out) in blocks.as_slice().iter().zip(buf[2..len].chunks_exact_mut(8)) {
                    out[..4].copy_from_slice(&b.left.0.to_be_bytes());
                    out[4..].copy_from_slice(&b.right.0.to_be_bytes());
                }
                (field::OPT_SACKRNG, len)
            }
            TcpOption::Timestamp(ts) => {
                buf[2..6].copy_from_slice(&ts.tsval.to_be_bytes());
                buf[6..10].copy_from_slice(&ts.tsecr.to_be_bytes());
                (field::OPT_TSTAMP, len)
            }
            TcpOption::Unknown { kind, data } => {
                buf[2..len].copy_from_slice(data);
                (kind, len)
            }
        };
        buf[0] = kind;
        buf[1] = data_at as u8;
        len
    }
}

/// Iterates over the options of a header; stops after End of Option List
/// or the first error.
#[derive(Debug, Clone)]
pub struct OptionsIter<'a> {
    data: &'a [u8],
}

impl<'a> Iterator for OptionsIter<'a> {
    type Item = Result<TcpOption<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.data.is_empty() {
            return None;
        }
        match TcpOption::parse(self.data) {
            Ok((opt, len)) => {
                // Bytes after End of Option List are padding, not options.
                self.data = if opt == TcpOption::EndOfList { &[] } else { &self.data[len..] };
                Some(Ok(opt))
            }
            Err(e) => {
                self.data = &[];
                Some(Err(e))
            }
        }
    }
}

/// The meaning of a TCP header, options included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number of the first byte (or of the SYN).
    pub seq_number: SeqNumber,
    /// Acknowledgment number; meaningful only when `flags` has ACK.
    pub ack_number: SeqNumber,
    /// Control bits.
    pub flags: Flags,
    /// The window field as sent (unscaled).
    pub window_len: u16,
    /// MSS option.
    pub max_seg_size: Option<u16>,
    /// Window scale option (the shift count as sent, not clamped).
    pub window_scale: Option<u8>,
    /// SACK-permitted option.
    pub sack_permitted: bool,
    /// SACK blocks option; emitted up to what fits in 40 option bytes.
    pub sack_blocks: SackBlocks,
    /// Timestamps option.
    pub timestamp: Option<Timestamp>,
    /// Payload length in bytes.
    pub payload_len: usize,
}

impl Default for Repr {
    fn default() -> Repr {
        Repr {
            src_port: 0,
            dst_port: 0,
            seq_number: SeqNumber(0),
            ack_number: SeqNumber(0),
            flags: Flags::NONE,
            window_len: 0,
            max_seg_size: None,
            window_scale: None,
            sack_permitted: false,
            sack_blocks: SackBlocks::EMPTY,
            timestamp: None,
            payload_len: 0,
        }
    }
}

/// Option bytes available in a header.
const MAX_OPTIONS_LEN: usize = MAX_HEADER_LEN - HEADER_LEN;

impl Repr {
    /// Read a header: `BadChecksum` if `checksum_verify` and the checksum is
    /// wrong for these addresses, `Malformed` if a port is 0 or an option
    /// is malformed. Unknown options are skipped; a repeated option keeps
    /// its last value.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&T>,
        src_addr: Ipv4Addr,
        dst_addr: Ipv4Addr,
        checksum_verify: bool,
    ) -> Result<Repr, Error> {
        packet.check_len()?;
        if packet.src_port() == 0 || packet.dst_port() == 0 {
            return Err(Error::Malformed);
        }
        if checksum_verify && !packet.verify_checksum(src_addr, dst_addr) {
            return Err(Error::BadChecksum);
        }
        let mut repr = Repr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq_number: packet.seq_number(),
            ack_number: packet.ack_number(),
            flags: packet.flags(),
            window_len: packet.window_len(),
            payload_len: packet.payload().len(),
            ..Repr::default()
        };
        for opt in packet.options_iter() {
            match opt? {
                TcpOption::EndOfList | TcpOption::NoOperation | TcpOption::Unknown { .. } => {}
                TcpOption::MaxSegmentSize(v) => repr.max_seg_size = Some(v),
                TcpOption::WindowScale(v) => repr.window_scale = Some(v),
                TcpOption::SackPermitted => repr.sack_permitted = true,
                TcpOption::SackRange(b) => repr.sack_blocks = b,
                TcpOption::Timestamp(ts) => repr.timestamp = Some(ts),
            }
        }
        Ok(repr)
    }

    /// How many SACK blocks `emit` writes: as many as fit beside the other options.
    fn sack_blocks_emitted(&self) -> usize {
        if self.sack_blocks.is_empty() {
            return 0;
        }
        let room = MAX_OPTIONS_LEN - self.fixed_options_len() - 2 /* NOP NOP */ - 2 /* kind, len */;
        self.sack_blocks.len().min(room / 8)
    }

    /// Option bytes before any SACK blocks, padding included.
    fn fixed_options_len(&self) -> usize {
        let mut len = 0;
        if self.max_seg_size.is_some() {
            len += 4;
        }
        // SACK-permitted and timestamps share a 12-byte run, as Linux sends
        // them; either alone is padded with two NOPs to stay aligned.
        len += match (self.sack_permitted, self.timestamp.is_some()) {
            (true, true) | (false, true) => 12,
            (true, false) => 4,
            (false, false) => 0,
        };
        if self.window_scale.is_some() {
            len += 4;
        }
        len
    }

    /// Length of the header with its options, a multiple of 4.
    pub fn header_len(&self) -> usize {
        let n = self.sack_blocks_emitted();
        let sack = if n > 0 { 4 + 8 * n } else { 0 };
        HEADER_LEN + self.fixed_options_len() + sack
    }

    /// Length of the segment on the wire: header plus payload.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload_len
    }

    /// Sequence space the segment takes: payload plus one each for SYN and FIN.
    pub fn segment_len(&self) -> usize {
        self.payload_len + usize::from(self.flags.syn()) + usize::from(self.flags.fin())
    }

    /// Whether the ACK flag is set.
    pub fn is_ack(&self) -> bool {
        self.flags.ack()
    }

    /// Write the header and options (`header_len` bytes) with a zero
    /// checksum. Write the payload after it, then call `fill_checksum`.
    /// Panics if `packet` is shorter than `header_len`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut Packet<&mut T>) {
        let header_len = self.header_len();
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq_number(self.seq_number);
        packet.set_ack_number(if self.flags.ack() { self.ack_number } else { SeqNumber(0) });
        packet.set_header_len(header_len as u8);
        packet.set_flags(self.flags);
        packet.set_window_len(self.window_len);
        packet.set_checksum(0);
        packet.set_urgent_at(0);
        let mut opts = packet.options_mut();
        let put = |opt: TcpOption<'_>, opts: &mut &mut [u8]| {
            let n = opt.emit(opts);
            *opts = &mut core::mem::take(opts)[n..];
        };
        if let Some(mss) = self.max_seg_size {
            put(TcpOption::MaxSegmentSize(mss), &mut opts);
        }
        match (self.sack_permitted, self.timestamp) {
            (true, Some(ts)) => {
                put(TcpOption::SackPermitted, &mut opts);
                put(TcpOption::Timestamp(ts), &mut opts);
            }
            (false, Some(ts)) => {
                put(TcpOption::NoOperation, &mut opts);
                put(TcpOption::NoOperation, &mut opts);
                put(TcpOption::Timestamp(ts), &mut opts);
            }
            (true, None) => {
                put(TcpOption::NoOperation, &mut opts);
                put(TcpOption::NoOperation, &mut opts);
                put(TcpOption::SackPermitted, &mut opts);
            }
            (false, None) => {}
        }
        if let Some(shift) = self.window_scale {
            put(TcpOption::NoOperation, &mut opts);
            put(TcpOption::WindowScale(shift), &mut opts);
        }
        let n = self.sack_blocks_emitted();
        if n > 0 {
            let mut blocks = self.sack_blocks;
            blocks.truncate(n);
            put(TcpOption::NoOperation, &mut opts);
            put(TcpOption::NoOperation, &mut opts);
            put(TcpOption::SackRange(blocks), &mut opts);
        }
        debug_assert!(opts.is_empty(), "options did not fill the header");
    }
}

impl fmt::Display for Repr {
    /// tcpdump style, e.g. `40000 > 7 [S] seq 1 win 65535 mss 1460 len 0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} > {} [{}] seq {}", self.src_port, self.dst_port, self.flags, self.seq_number)?;
        if self.flags.ack() {
            write!(f, " ack {}", self.ack_number)?;
        }
        write!(f, " win {}", self.window_len)?;
        if let Some(mss) = self.max_seg_size {
            write!(f, " mss {mss}")?;
        }
        if let Some(ws) = self.window_scale {
            write!(f, " wscale {ws}")?;
        }
        if self.sack_permitted {
            f.write_str(" sackOK")?;
        }
        if let Some(ts) = self.timestamp {
            write!(f, " TS val {} ecr {}", ts.tsval, ts.tsecr)?;
        }
        if !self.sack_blocks.is_empty() {
            write!(f, " sack {:?}", self.sack_blocks)?;
        }
        write!(f, " len {}", self.payload_len)
    }
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Whether the checksum over the whole buffer is correct for these IPv6
    /// addresses (the IPv6 pseudo header, RFC 8200 8.1).
    #[inline]
    pub fn verify_checksum_v6(&self, src_addr: &Ipv6Addr, dst_addr: &Ipv6Addr) -> bool {
        let data = self.buffer.as_ref();
        let Ok(len) = u32::try_from(data.len()) else {
            return false;
        };
        let pseudo = checksum::pseudo_header_ipv6(src_addr, dst_addr, PROTOCOL_TCP, len);
        checksum::fold(checksum::sum(data, pseudo)) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Compute the checksum over the IPv6 pseudo header and the whole
    /// buffer and store it.
    #[inline]
    pub fn fill_checksum_v6(&mut self, src_addr: &Ipv6Addr, dst_addr: &Ipv6Addr) {
        self.set_checksum(0);
        let data = self.buffer.as_ref();
        let pseudo = checksum::pseudo_header_ipv6(src_addr, dst_addr, PROTOCOL_TCP, data.len() as u32);
        let c = checksum::fold(checksum::sum(data, pseudo));
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    const CLIENT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
    const SERVER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

    // Captured from Linux on loopback (127.0.0.1:40000 -> 127.0.0.1:7).
    // Loopback leaves checksums partial (pseudo header only), so the
    // checksum fields below were completed after capture.

    // SYN: mss 65495, sackOK, TS val 3313202785 ecr 0, nop, wscale 10.
    static SYN_BYTES: [u8; 40] = [
        0x9c, 0x40, 0x00, 0x07, 0x34, 0x44, 0x81, 0xbf, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xff, 0xd7, 0xc1, 0xd6,
        0x00, 0x00, 0x02, 0x04, 0xff, 0xd7, 0x04, 0x02, 0x08, 0x0a, 0xc5, 0x7b, 0x76, 0x61, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x03, 0x03, 0x0a,
    ];

    // SYN-ACK from port 7.
    static SYN_ACK_BYTES: [u8; 40] = [
        0x00, 0x07, 0x9c, 0x40, 0x4d, 0x0c, 0x04, 0x6c, 0x34, 0x44, 0x81, 0xc0, 0xa0, 0x12, 0xff, 0xcb, 0xa1, 0x0b,
        0x00, 0x00, 0x02, 0x04, 0xff, 0xd7, 0x04, 0x02, 0x08, 0x0a, 0x41, 0x9c, 0x8d, 0xb1, 0xc5, 0x7b, 0x76, 0x61,
        0x01, 0x03, 0x03, 0x0a,
    ];

    // PSH|ACK with "hello": nop, nop, TS.
    static DATA_BYTES: [u8; 37] = [
        0x9c, 0x40, 0x00, 0x07, 0x34, 0x44, 0x81, 0xc0, 0x4d, 0x0c, 0x04, 0x6d, 0x80, 0x18, 0x00, 0x40, 0x85, 0xab,
        0x00, 0x00, 0x01, 0x01, 0x08, 0x0a, 0xc5, 0x7b, 0x76, 0x61, 0x41, 0x9c, 0x8d, 0xb1, 0x68, 0x65, 0x6c, 0x6c,
        0x6f,
    ];

    #[test]
    fn seq_number_wraps() {
        let a = SeqNumber(u32::MAX - 1);
        let b = a + 4;
        assert_eq!(b, SeqNumber(2));
        assert!(a < b);
        assert!(b > a);
        assert_eq!(b.diff(a), 4);
        assert_eq!(a.diff(b), -4);
        assert_eq!(b.since(a), 4);
        assert_eq!(a.since(b), 0);
        assert_eq!(b - 4, a);
        assert_eq!(a.max(b), b);
        assert_eq!(a.min(b), a);
    }

    #[test]
    fn deconstruct_syn() {
        let p = Packet::new_checked(&SYN_BYTES[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (40000, 7));
        assert_eq!(p.seq_number(), SeqNumber(0x344481bf));
        assert_eq!(p.header_len(), 40);
        assert_eq!(p.flags(), Flags::SYN);
        assert_eq!(p.window_len(), 65495);
        assert_eq!(p.segment_len(), 1);
        assert!(p.payload().is_empty());
        assert!(p.verify_checksum(CLIENT, SERVER));
        let opts: Vec<_> = p.options_iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(
            opts,
            [
                TcpOption::MaxSegmentSize(65495),
                TcpOption::SackPermitted,
                TcpOption::Timestamp(Timestamp { tsval: 3313202785, tsecr: 0 }),
                TcpOption::NoOperation,
                TcpOption::WindowScale(10),
            ]
        );
    }

    fn syn_repr() -> Repr {
        Repr {
            src_port: 40000,
            dst_port: 7,
            seq_number: SeqNumber(0x344481bf),
            flags: Flags::SYN,
            window_len: 65495,
            max_seg_size: Some(65495),
            window_scale: Some(10),
            sack_permitted: true,
            timestamp: Some(Timestamp { tsval: 3313202785, tsecr: 0 }),
            ..Repr::default()
        }
    }

    fn round_trip(bytes: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> Repr {
        let p = Packet::new_checked(bytes).unwrap();
        let repr = Repr::parse(&p, src, dst, true).unwrap();
        assert_eq!(repr.buffer_len(), bytes.len());
        let mut out = vec![0xaa; repr.buffer_len()];
        let mut q = Packet::new_unchecked(&mut out[..]);
        repr.emit(&mut q);
        q.payload_mut().copy_from_slice(p.payload());
        q.fill_checksum(src, dst);
        assert_eq!(&out[..], bytes);
        repr
    }

    #[test]
    fn syn_round_trip() {
        assert_eq!(round_trip(&SYN_BYTES, CLIENT, SERVER), syn_repr());
    }

    #[test]
    fn syn_ack_round_trip() {
        let repr = round_trip(&SYN_ACK_BYTES, SERVER, CLIENT);
        assert_eq!(repr.flags, Flags::SYN | Flags::ACK);
        assert_eq!(repr.ack_number, SeqNumber(0x344481bf) + 1);
        assert_eq!(repr.timestamp, Some(Timestamp { tsval: 0x419c8db1, tsecr: 3313202785 }));
        assert_eq!(repr.to_string(), "7 > 40000 [S.] seq 1292633196 ack 876904896 win 65483 mss 65495 wscale 10 sackOK TS val 1100778929 ecr 3313202785 len 0");
    }

    #[test]
    fn data_round_trip() {
        let repr = round_trip(&DATA_BYTES, CLIENT, SERVER);
        assert_eq!(repr.flags, Flags::PSH | Flags::ACK);
        assert_eq!(repr.payload_len, 5);
        assert_eq!(repr.segment_len(), 5);
        assert_eq!(Packet::new_checked(&DATA_BYTES[..]).unwrap().payload(), b"hello");
        assert_eq!(repr.header_len(), 32);
    }

    #[test]
    fn bad_checksum() {
        let mut buf = DATA_BYTES;
        buf[36] ^= 1;
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert!(!p.verify_checksum(CLIENT, SERVER));
        assert_eq!(Repr::parse(&p, CLIENT, SERVER, true), Err(Error::BadChecksum));
        assert!(Repr::parse(&p, CLIENT, SERVER, false).is_ok());
        let p = Packet::new_checked(&DATA_BYTES[..]).unwrap();
        assert!(!p.verify_checksum(CLIENT, Ipv4Addr::new(127, 0, 0, 2)));
    }

    #[test]
    fn length_errors() {
        assert_eq!(Packet::new_checked(&SYN_BYTES[..19]).unwrap_err(), Error::Truncated);
        assert_eq!(Packet::new_checked(&SYN_BYTES[..39]).unwrap_err(), Error::Truncated);
        let mut buf = SYN_BYTES;
        buf[12] = 0x40; // data offset 4 words
        assert_eq!(Packet::new_checked(&buf[..]).unwrap_err(), Error::Malformed);
        let mut buf = SYN_BYTES;
        Packet::new_unchecked(&mut buf[..]).set_dst_port(0);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&p, CLIENT, SERVER, false), Err(Error::Malformed));
    }

    /// A 20-byte header followed by `opts` (a multiple of 4 bytes).
    fn with_options(opts: &[u8]) -> Vec<u8> {
        let mut buf = SYN_BYTES[..20].to_vec();
        buf.extend_from_slice(opts);
        Packet::new_unchecked(&mut buf[..]).set_header_len(20 + opts.len() as u8);
        buf
    }

    fn parse_opts(opts: &[u8]) -> Result<Repr, Error> {
        let buf = with_options(opts);
        Repr::parse(&Packet::new_checked(&buf[..]).unwrap(), CLIENT, SERVER, false)
    }

    #[test]
    fn malformed_options() {
        // Length 1 (below 2).
        assert_eq!(parse_opts(&[0x02, 0x01, 0x00, 0x00]), Err(Error::Malformed));
        // Length runs past the options.
        assert_eq!(parse_opts(&[0x01, 0x01, 0x02, 0x08]), Err(Error::Malformed));
        // Kind without a length byte at the very end.
        assert_eq!(parse_opts(&[0x01, 0x01, 0x01, 0x02]), Err(Error::Malformed));
        // MSS with length 3, window scale with length 4, timestamps with length 8.
        assert_eq!(parse_opts(&[0x02, 0x03, 0x05, 0x00]), Err(Error::Malformed));
        assert_eq!(parse_opts(&[0x03, 0x04, 0x05, 0x00]), Err(Error::Malformed));
        assert_eq!(parse_opts(&[0x08, 0x08, 0, 0, 0, 0, 0, 0]), Err(Error::Malformed));
        // SACK with a partial block, and with no block.
        assert_eq!(parse_opts(&[0x05, 0x06, 0, 0, 0, 1, 0, 0]), Err(Error::Malformed));
        assert_eq!(parse_opts(&[0x01, 0x01, 0x05, 0x02]), Err(Error::Malformed));
    }

    #[test]
    fn unknown_options_skipped_and_eol_stops() {
        // Unknown kind 30 (MPTCP) with 2 data bytes, then MSS, then EOL and garbage.
        let repr = parse_opts(&[30, 4, 0xab, 0xcd, 0x02, 0x04, 0x05, 0xb4, 0x00, 0xff, 0xff, 0xff]).unwrap();
        assert_eq!(repr.max_seg_size, Some(1460));
        let buf = with_options(&[30, 4, 0xab, 0xcd]);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.options_iter().next(), Some(Ok(TcpOption::Unknown { kind: 30, data: &[0xab, 0xcd] })));
    }

    #[test]
    fn sack_blocks_round_trip_and_truncate() {
        let mut blocks = SackBlocks::EMPTY;
        for k in 0..4u32 {
            assert!(blocks.push(SackBlock { left: SeqNumber(1000 * k), right: SeqNumber(1000 * k + 500) }));
        }
        assert!(!blocks.push(SackBlock::default()));
        let repr = Repr {
            src_port: 1,
            dst_port: 2,
            seq_number: SeqNumber(7),
            ack_number: SeqNumber(9),
            flags: Flags::ACK,
            window_len: 100,
            sack_blocks: blocks,
            payload_len: 3,
            ..Repr::default()
        };
        // Without timestamps all four blocks fit: 20 + 4 + 32.
        assert_eq!(repr.header_len(), 56);
        let mut buf = vec![0; repr.buffer_len()];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        repr.emit(&mut p);
        p.payload_mut().copy_from_slice(b"abc");
        p.fill_checksum(CLIENT, SERVER);
        assert_eq!(round_trip(&buf, CLIENT, SERVER), repr);

        // With timestamps only three fit: 20 + 12 + 4 + 24 = 60.
        let with_ts = Repr { timestamp: Some(Timestamp { tsval: 1, tsecr: 2 }), ..repr };
        assert_eq!(with_ts.header_len(), 60);
        let mut buf = vec![0; with_ts.buffer_len()];
        with_ts.emit(&mut Packet::new_unchecked(&mut buf[..]));
        let parsed = Repr::parse(&Packet::new_checked(&buf[..]).unwrap(), CLIENT, SERVER, false).unwrap();
        assert_eq!(parsed.sack_blocks.as_slice(), &blocks.as_slice()[..3]);
    }

    #[test]
    fn option_combinations_are_aligned() {
        for mask in 0..16u8 {
            let repr = Repr {
                src_port: 1,
                dst_port: 2,
                flags: Flags::SYN,
                max_seg_size: (mask & 1 != 0).then_some(1460),
                window_scale: (mask & 2 != 0).then_some(7),
                sack_permitted: mask & 4 != 0,
                timestamp: (mask & 8 != 0).then_some(Timestamp { tsval: 5, tsecr: 0 }),
                ..Repr::default()
            };
            assert_eq!(repr.header_len() % 4, 0);
            let mut buf = vec![0; repr.buffer_len()];
            let mut p = Packet::new_unchecked(&mut buf[..]);
            repr.emit(&mut p);
            p.fill_checksum(CLIENT, SERVER);
            assert_eq!(round_trip(&buf, CLIENT, SERVER), repr);
        }
    }

    #[test]
    fn flags_display() {
        assert_eq!((Flags::SYN | Flags::ACK).to_string(), "S.");
        assert_eq!(Flags::ACK.to_string(), ".");
        assert_eq!((Flags::FIN | Flags::PSH | Flags::ACK).to_string(), "FP.");
        assert_eq!(Flags::RST.to_string(), "R");
    }

    #[test]
    fn checksum_over_ipv6() {
        // scapy: IPv6(fd00:198:18::1 -> ::2)/TCP(40000 -> 80, seq 1, SYN, window 65535).
        let src: Ipv6Addr = "fd00:198:18::1".parse().unwrap();
        let dst: Ipv6Addr = "fd00:198:18::2".parse().unwrap();
        let bytes = [
            0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x50, 0x02, 0xff, 0xff, 0x15, 0xed,
            0x00, 0x00,
        ];
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert!(p.verify_checksum_v6(&src, &dst));
        assert!(!p.verify_checksum_v6(&dst, &Ipv6Addr::from(src.to_bits() + 2)));
        let mut buf = bytes;
        buf[16..18].fill(0);
        Packet::new_unchecked(&mut buf[..]).fill_checksum_v6(&src, &dst);
        assert_eq!(buf, bytes);
    }
}
