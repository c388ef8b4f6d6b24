//! IP reassembly for IPv4 and IPv6, one per worker, sans-IO and bounded.
//!
//! Each datagram in progress has a slot: one buffer (header room, then the
//! data at its offsets) and the list of holes still missing (RFC 815: the
//! datagram starts as one hole from 0 to "infinity"; each fragment fills
//! the part of the holes it covers, splitting them; the last fragment ends
//! the last hole). A complete datagram is handed back as one contiguous
//! slice, header rewritten as if it had never been fragmented (IPv4: total
//! length, flags, offset, checksum; IPv6: payload length, the fragment
//! header removed and its next header written into the header before it).
//!
//! Overlaps: for IPv6 a fragment that overlaps data already received,
//! other than an exact duplicate, discards the whole datagram, and the
//! fragments of it still to come (RFC 5722, RFC 8200 4.5). For IPv4 (RFC
//! 791 and 815 allow overlaps) a fragment fills only the holes it covers:
//! bytes already received are kept (first copy wins), so a later
//! overlapping fragment cannot rewrite a header already checked. Exact
//! duplicates are dropped and counted for both.
//!
//! Bounds: at most `max_datagrams` slots and `max_fragments` fragments per
//! datagram, and all slot buffers together (in use or kept for reuse) hold
//! at most `memory_cap` bytes; a fragment that would exceed a bound is
//! dropped and counted, and the datagrams already in progress keep their
//! room (an attacker filling the cap only delays other datagrams until
//! the timeout frees it). A datagram not complete within `timeout_ns` of
//! its first fragment is dropped ([`Reassembler::poll`]), and if its first
//! fragment had arrived the caller sends a time exceeded (code 1) quoting
//! it (RFC 792, RFC 8200 4.5).
//!
//! Fragmentation ([`fragment_v4`], [`fragment_v6`]) is the reverse: a
//! datagram too big for the MTU cut into pieces that fit, written one at a
//! time into the caller's buffers.

use std::net::{Ipv4Addr, Ipv6Addr};

use counters::LocalCounters;
use smallvec::SmallVec;
use wire::ipv4;
use wire::ipv6::{self, next_header, FragmentHeader};

counters::counters! {
    /// A reassembly counter.
    pub enum ReasmCounter {
        Fragments => ("reassembly fragments received", false),
        Reassembled => ("reassembly datagrams completed", false),
        Timeout => ("reassembly timed out, datagram dropped", true),
        Overlap => ("reassembly ip6 overlapping fragment, datagram dropped", true),
        OverlapIgnored => ("reassembly ip4 overlapping bytes ignored (first copy kept)", false),
        Duplicate => ("reassembly duplicate fragment dropped", true),
        DeadDatagram => ("reassembly fragment of a discarded datagram dropped", true),
        MemoryCap => ("reassembly memory cap reached, fragment dropped", true),
        TooManyDatagrams => ("reassembly too many datagrams in progress, fragment dropped", true),
        TooManyFragments => ("reassembly too many fragments, datagram dropped", true),
        TooLarge => ("reassembly datagram over 65535 bytes, dropped", true),
        BadLength => ("reassembly non-last fragment not a multiple of 8 bytes", true),
        Inconsistent => ("reassembly fragment past the end or second end, datagram dropped", true),
        HeaderTooLong => ("reassembly header longer than the room for it, dropped", true),
    }
}

/// The counter block of a [`Reassembler`].
pub type ReasmCounters = LocalCounters<ReasmCounter, { ReasmCounter::COUNT }>;

/// Bytes kept in front of a slot's data for the header: an IPv4 header is
/// at most 60, an IPv6 unfragmentable part (fixed header plus hop-by-hop,
/// routing and destination options before the fragment header) longer
/// than this is refused.
pub const HEADER_ROOM: usize = 512;

/// Limits and timers of a reassembler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReasmConfig {
    /// Datagrams in progress at once (default 64).
    pub max_datagrams: usize,
    /// Fragments per datagram (default 64: a 64 KiB datagram over a
    /// 1280-byte MTU needs 52).
    pub max_fragments: usize,
    /// Bytes of buffer all slots may hold together (default 4 MiB, as
    /// Linux's ipfrag_high_thresh).
    pub memory_cap: usize,
    /// IPv4 reassembly timeout in ns (default 30 s, Linux's ipfrag_time).
    pub timeout_v4_ns: u64,
    /// IPv6 reassembly timeout in ns (default 60 s, RFC 8200 4.5).
    pub timeout_v6_ns: u64,
}

impl Default for ReasmConfig {
    fn default() -> ReasmConfig {
        ReasmConfig {
            max_datagrams: 64,
            max_fragments: 64,
            memory_cap: 4 << 20,
            timeout_v4_ns: 30_000_000_000,
            timeout_v6_ns: 60_000_000_000,
        }
    }
}

/// What identifies the fragments of one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FragKey {
    /// IPv4: source, destination, protocol, identification (RFC 791).
    V4 {
        /// Source.
        src: Ipv4Addr,
        /// Destination.
        dst: Ipv4Addr,
        /// Protocol.
        protocol: u8,
        /// Identification.
        ident: u16,
    },
    /// IPv6: source, destination, identification (RFC 8200 4.5).
    V6 {
        /// Source.
        src: Ipv6Addr,
        /// Destination.
        dst: Ipv6Addr,
        /// Identification.
        ident: u32,
    },
}

/// One fragment, as the IP input layer found it.
#[derive(Debug, Clone, Copy)]
pub struct Fragment<'a> {
    /// Which datagram.
    pub key: FragKey,
    /// Offset of the data in the datagram, bytes.
    pub offset: usize,
    /// More fragments follow.
    pub more: bool,
    /// The header to keep if this is the first fragment: the IPv4 header
    /// (options included), or the IPv6 unfragmentable part (the bytes
    /// before the fragment header).
    pub header: &'a [u8],
    /// IPv6: the offset in `header` of the next-header field naming the
    /// fragment header, and the fragment's next header; unused for IPv4.
    pub v6_next_header: (usize, u8),
    /// The fragment's data.
    pub data: &'a [u8],
}

/// Why a fragment was not taken (each also counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReasmError {
    /// A non-last fragment whose length is not a multiple of 8 (IPv6:
    /// answer with a parameter problem at the payload length).
    BadLength,
    /// The datagram would exceed 65535 bytes (IPv6: answer with a
    /// parameter problem at the fragment offset).
    TooLarge,
    /// Dropped for a bound, a duplicate, an overlap or an inconsistency;
    /// nothing to answer.
    Dropped(ReasmCounter),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hole {
    first: usize,
    /// Exclusive; `usize::MAX` while the end is unknown.
    end: usize,
}

struct Slot {
    key: Option<FragKey>,
    /// The datagram was discarded (IPv6 overlap): drop its fragments
    /// until the timeout frees the slot.
    dead: bool,
    buf: Vec<u8>,
    /// Length of the header at `HEADER_ROOM - header_len`, once the first
    /// fragment is in (0 before).
    header_len: usize,
    v6_nh: (usize, u8),
    holes: SmallVec<[Hole; 8]>,
    ranges: SmallVec<[(usize, usize); 16]>,
    total: Option<usize>,
    expires_at: u64,
}

impl Slot {
    fn empty() -> Slot {
        Slot {
            key: None,
            dead: false,
            buf: Vec::new(),
            header_len: 0,
            v6_nh: (0, 0),
            holes: SmallVec::new(),
            ranges: SmallVec::new(),
            total: None,
            expires_at: 0,
        }
    }

    fn reset(&mut self) {
        self.key = None;
        self.dead = false;
        self.buf.clear();
        self.header_len = 0;
        self.holes.clear();
        self.ranges.clear();
        self.total = None;
    }
}

/// A timed-out datagram, for the time exceeded message.
#[derive(Debug)]
pub struct Expired<'a> {
    /// Which datagram.
    pub key: FragKey,
    /// The first fragment's header and the data received after it, up to
    /// the first hole (what an ICMP error quotes), if the first fragment
    /// had arrived; `None` means no message is sent.
    pub first_fragment: Option<&'a [u8]>,
}

/// A per-worker reassembler for IPv4 and IPv6 fragments.
pub struct Reassembler {
    cfg: ReasmConfig,
    slots: Vec<Slot>,
    /// Sum of the capacities of all slot buffers.
    memory: usize,
    counters: ReasmCounters,
}

impl Reassembler {
    /// No datagrams in progress, no buffers yet.
    pub fn new(cfg: ReasmConfig) -> Reassembler {
        Reassembler {
            slots: (0..cfg.max_datagrams).map(|_| Slot::empty()).collect(),
            cfg,
            memory: 0,
            counters: Default::default(),
        }
    }

    /// The counters.
    pub fn counters(&self) -> &ReasmCounters {
        &self.counters
    }

    /// Bytes of buffer held (in use or kept for reuse); never over the cap.
    pub fn memory(&self) -> usize {
        self.memory
    }

    /// Datagrams in progress (dead ones included, until they time out).
    pub fn in_progress(&self) -> usize {
        self.slots.iter().filter(|s| s.key.is_some()).count()
    }

    fn drop_with(&mut self, c: ReasmCounter) -> ReasmError {
        self.counters.incr(c);
        ReasmError::Dropped(c)
    }

    /// Take one fragment at `now`. `Ok(Some(datagram))` when it completed
    /// its datagram: the whole datagram, header first, valid until the next
    /// call; `Ok(None)` when it was stored.
    pub fn insert(&mut self, frag: &Fragment<'_>, now: u64) -> Result<Option<&[u8]>, ReasmError> {
        self.counters.incr(ReasmCounter::Fragments);
        let end = frag.offset + frag.data.len();
        if frag.more && !frag.data.len().is_multiple_of(8) {
            self.counters.incr(ReasmCounter::BadLength);
            return Err(ReasmError::BadLength);
        }
        if !frag.offset.is_multiple_of(8) || (frag.more && frag.data.is_empty()) {
            return Err(self.drop_with(ReasmCounter::Inconsistent));
        }
        let is_v6 = matches!(frag.key, FragKey::V6 { .. });
        let max_end = if is_v6 { 65535 - (frag.header.len() - ipv6::HEADER_LEN) } else { 65535 - frag.header.len() };
        if frag.header.len() > HEADER_ROOM || frag.header.len() < if is_v6 { ipv6::HEADER_LEN } else { 20 } {
            return Err(self.drop_with(ReasmCounter::HeaderTooLong));
        }
        if end > max_end {
            self.counters.incr(ReasmCounter::TooLarge);
            return Err(ReasmError::TooLarge);
        }
        let mut created = false;
        let idx = match self.slots.iter().position(|s| s.key == Some(frag.key)) {
            Some(i) => i,
            None => {
                created = true;
                let Some(i) = self.slots.iter().position(|s| s.key.is_none()) else {
                    return Err(self.drop_with(ReasmCounter::TooManyDatagrams));
                };
                let timeout = if is_v6 { self.cfg.timeout_v6_ns } else { self.cfg.timeout_v4_ns };
                let s = &mut self.slots[i];
                s.reset();
                s.key = Some(frag.key);
                s.expires_at = now.saturating_add(timeout);
                s.holes.push(Hole { first: 0, end: usize::MAX });
                i
            }
        };
        if self.slots[idx].dead {
            return Err(self.drop_with(ReasmCounter::DeadDatagram));
        }
        // Exact duplicates are harmless for both families.
        if self.slots[idx].ranges.contains(&(frag.offset, end)) {
            return Err(self.drop_with(ReasmCounter::Duplicate));
        }
        // The end of the datagram: one only, and nothing received past it.
        let s = &self.slots[idx];
        let past_end = s.total.is_some_and(|t| end > t || (!frag.more && end != t));
        let beyond_new_end = !frag.more && s.ranges.iter().any(|&(_, e)| e > end);
        if past_end || beyond_new_end {
            self.discard(idx);
            return Err(self.drop_with(ReasmCounter::Inconsistent));
        }
        let inside_one_hole = s.holes.iter().any(|h| h.first <= frag.offset && end <= h.end);
        if !inside_one_hole {
            if is_v6 {
                self.slots[idx].dead = true;
                self.release_buffer(idx);
                return Err(self.drop_with(ReasmCounter::Overlap));
            }
            let overlaps_a_hole = s.holes.iter().any(|h| frag.offset < h.end && h.first < end);
            self.counters.incr(ReasmCounter::OverlapIgnored);
            if !overlaps_a_hole {
                return Err(self.drop_with(ReasmCounter::Duplicate));
            }
        }
        if s.ranges.len() >= self.cfg.max_fragments {
            self.discard(idx);
            return Err(self.drop_with(ReasmCounter::TooManyFragments));
        }
        // Room: the buffer must reach HEADER_ROOM + end.
        let need = HEADER_ROOM + end;
        let cap = self.slots[idx].buf.capacity();
        if need > cap {
            let grow = need.max(cap * 2).min(HEADER_ROOM + 65535) - cap;
            if self.memory + grow > self.cfg.memory_cap {
                self.release_free_buffers();
            }
            if self.memory + grow > self.cfg.memory_cap {
                if created {
                    self.discard(idx);
                }
                return Err(self.drop_with(ReasmCounter::MemoryCap));
            }
            let s = &mut self.slots[idx];
            s.buf.reserve_exact(cap + grow - s.buf.len());
            self.memory = self.memory - cap + s.buf.capacity();
        }
        let s = &mut self.slots[idx];
        if s.buf.len() < need {
            s.buf.resize(need, 0);
        }
        // RFC 815: fill each hole the fragment touches and split it.
        let mut new_holes: SmallVec<[Hole; 8]> = SmallVec::new();
        for h in s.holes.iter().copied() {
            if end <= h.first || frag.offset >= h.end {
                new_holes.push(h);
                continue;
            }
            let (from, to) = (frag.offset.max(h.first), end.min(h.end));
            s.buf[HEADER_ROOM + from..HEADER_ROOM + to]
                .copy_from_slice(&frag.data[from - frag.offset..to - frag.offset]);
            if h.first < frag.offset {
                new_holes.push(Hole { first: h.first, end: frag.offset });
            }
            if end < h.end && frag.more {
                new_holes.push(Hole { first: end, end: h.end });
            }
        }
        s.holes = new_holes;
        if !frag.more {
            s.total = Some(end);
            s.holes.retain(|h| h.first < end);
            for h in &mut s.holes {
                h.end = h.end.min(end);
            }
        }
        s.ranges.push((frag.offset, end));
        if frag.offset == 0 {
            let hl = frag.header.len();
            s.buf[HEADER_ROOM - hl..HEADER_ROOM].copy_from_slice(frag.header);
            s.header_len = hl;
            s.v6_nh = frag.v6_next_header;
        }
        if !s.holes.is_empty() || s.header_len == 0 {
            return Ok(None);
        }
        let total = s.total.unwrap_or(end);
        self.counters.incr(ReasmCounter::Reassembled);
        let s = &mut self.slots[idx];
        s.key = None;
        let hl = s.header_len;
        let out = &mut s.buf[HEADER_ROOM - hl..HEADER_ROOM + total];
        if is_v6 {
            let (at, nh) = s.v6_nh;
            if let Some(b) = out.get_mut(at) {
                *b = nh;
            }
            let payload = (hl - ipv6::HEADER_LEN + total) as u16;
            out[4..6].copy_from_slice(&payload.to_be_bytes());
        } else {
            let mut p = ipv4::Packet::new_unchecked(&mut out[..]);
            p.set_total_len((hl + total) as u16);
            p.clear_flags();
            // Over the header as given, whatever its IHL field claims.
            p.set_checksum(0);
            let c = wire::checksum::data(&out[..hl]);
            ipv4::Packet::new_unchecked(&mut out[..]).set_checksum(c);
        }
        Ok(Some(&s.buf[HEADER_ROOM - hl..HEADER_ROOM + total]))
    }

    /// Forget a datagram; its buffer stays for reuse.
    fn discard(&mut self, idx: usize) {
        self.slots[idx].reset();
    }

    fn release_buffer(&mut self, idx: usize) {
        let s = &mut self.slots[idx];
        self.memory -= s.buf.capacity();
        s.buf = Vec::new();
    }

    fn release_free_buffers(&mut self) {
        for i in 0..self.slots.len() {
            if self.slots[i].key.is_none() && self.slots[i].buf.capacity() > 0 {
                self.release_buffer(i);
            }
        }
    }

    /// The earliest time at which `poll` has work, if any.
    pub fn poll_at(&self) -> Option<u64> {
        self.slots.iter().filter(|s| s.key.is_some()).map(|s| s.expires_at).min()
    }

    /// Time out datagrams at `now`; `out` sees each one (with its first
    /// fragment if it arrived and the datagram was not discarded).
    pub fn poll(&mut self, now: u64, out: &mut impl FnMut(Expired<'_>)) {
        for s in &mut self.slots {
            let Some(key) = s.key else { continue };
            if now < s.expires_at {
                continue;
            }
            if !s.dead {
                self.counters.incr(ReasmCounter::Timeout);
                let first_fragment = (s.header_len > 0).then(|| {
                    let received = s.holes.first().map_or(s.buf.len() - HEADER_ROOM, |h| h.first);
                    &s.buf[HEADER_ROOM - s.header_len..HEADER_ROOM + received]
                });
                out(Expired { key, first_fragment });
            }
            s.reset();
        }
    }
}

impl core::fmt::Debug for Reassembler {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Reassembler").field("in_progress", &self.in_progress()).field("memory", &self.memory).finish()
    }
}

/// Why a datagram could not be fragmented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FragmentError {
    /// Not a valid datagram of the family.
    Malformed,
    /// IPv4 with Don't Fragment set (the caller clears it to fragment).
    DontFragment,
    /// The MTU cannot carry the headers and 8 bytes of data (or is below
    /// 68 for IPv4, 1280 for IPv6).
    MtuTooSmall,
    /// A caller's buffer is shorter than the fragment.
    BufferTooShort,
}

/// Cut an IPv4 datagram (header and payload, `total_len` bytes) into
/// fragments of at most `mtu` bytes; `out` is called with each fragment
/// (written into `scratch`, which must hold `mtu` bytes) in order. The
/// first fragment keeps every option, the others only the options with
/// the copied flag (RFC 791). A datagram that fits is passed through.
pub fn fragment_v4(
    datagram: &[u8],
    mtu: usize,
    scratch: &mut [u8],
    out: &mut impl FnMut(&[u8]),
) -> Result<usize, FragmentError> {
    let p = ipv4::Packet::new_checked(datagram).map_err(|_| FragmentError::Malformed)?;
    let datagram = &datagram[..usize::from(p.total_len())];
    if datagram.len() <= mtu {
        out(datagram);
        return Ok(1);
    }
    if p.dont_frag() {
        return Err(FragmentError::DontFragment);
    }
    if mtu < 68 {
        return Err(FragmentError::MtuTooSmall);
    }
    if scratch.len() < mtu {
        return Err(FragmentError::BufferTooShort);
    }
    let hl = usize::from(p.header_len());
    let header = &datagram[..hl];
    // The header of the later fragments: the fixed part and the copied options.
    let mut later = [0u8; 60];
    later[..20].copy_from_slice(&header[..20]);
    let mut later_len = 20;
    for o in ipv4::Options::new(&header[20..]).flatten() {
        if o.kind & 0x80 != 0 {
            let len = 2 + o.data.len();
            later[later_len] = o.kind;
            later[later_len + 1] = len as u8;
            later[later_len + 2..later_len + len].copy_from_slice(o.data);
            later_len += len;
        }
    }
    later_len = later_len.div_ceil(4) * 4;
    later[0] = 0x40 | (later_len / 4) as u8;
    let payload = &datagram[hl..];
    let base_offset = usize::from(p.frag_offset());
    let base_more = p.more_frags();
    let mut at = 0;
    let mut n = 0;
    while at < payload.len() {
        let h = if at == 0 { header } else { &later[..later_len] };
        let room = (mtu - h.len()) / 8 * 8;
        if room == 0 {
            return Err(FragmentError::MtuTooSmall);
        }
        let chunk = room.min(payload.len() - at);
        let last = at + chunk == payload.len();
        let f = &mut scratch[..h.len() + chunk];
        f[..h.len()].copy_from_slice(h);
        f[h.len()..].copy_from_slice(&payload[at..at + chunk]);
        let mut q = ipv4::Packet::new_unchecked(&mut f[..]);
        q.set_total_len((h.len() + chunk) as u16);
        q.clear_flags();
        q.set_more_frags(!last || base_more);
        q.set_frag_offset((base_offset + at) as u16);
        q.fill_checksum();
        out(f);
        at += chunk;
        n += 1;
    }
    Ok(n)
}

/// Length of the unfragmentable part of an IPv6 packet (RFC 8200 4.5): the
/// fixed header, a hop-by-hop header, and a routing header with any
/// destination options before it; and the offset of the next-header field
/// that names what follows it.
fn unfragmentable(packet: &[u8]) -> Result<(usize, usize), FragmentError> {
    let mut nh = packet[6];
    let mut nh_at = 6;
    let mut at = ipv6::HEADER_LEN;
    loop {
        let ext_len = |at: usize| -> Result<usize, FragmentError> {
            let l = *packet.get(at + 1).ok_or(FragmentError::Malformed)?;
            let len = (usize::from(l) + 1) * 8;
            if at + len > packet.len() {
                return Err(FragmentError::Malformed);
            }
            Ok(len)
        };
        let take = match nh {
            next_header::HOP_BY_HOP if at == ipv6::HEADER_LEN => true,
            next_header::ROUTING => true,
            next_header::DEST_OPTS => {
                // Only destination options that a routing header follows.
                let len = ext_len(at)?;
                packet.get(at).is_some_and(|&n| n == next_header::ROUTING) && len > 0
            }
            next_header::FRAGMENT => return Err(FragmentError::Malformed),
            _ => false,
        };
        if !take {
            return Ok((at, nh_at));
        }
        let len = ext_len(at)?;
        nh = packet[at];
        nh_at = at;
        at += len;
    }
}

/// Cut an IPv6 packet (fixed header and `payload_len` bytes) into
/// fragments of at most `mtu` bytes (at least 1280) with identification
/// `ident` (RFC 7739: unpredictable; the caller's choice); `out` is called
/// with each fragment, written into `scratch` (at least `mtu` bytes). A
/// packet that fits is passed through.
pub fn fragment_v6(
    packet: &[u8],
    mtu: usize,
    ident: u32,
    scratch: &mut [u8],
    out: &mut impl FnMut(&[u8]),
) -> Result<usize, FragmentError> {
    let p = ipv6::Packet::new_checked(packet).map_err(|_| FragmentError::Malformed)?;
    let packet = p.datagram();
    if packet.len() <= mtu {
        out(packet);
        return Ok(1);
    }
    if mtu < ipv6::MIN_MTU {
        return Err(FragmentError::MtuTooSmall);
    }
    if scratch.len() < mtu {
        return Err(FragmentError::BufferTooShort);
    }
    let (ul, nh_at) = unfragmentable(packet)?;
    let first_nh = packet[nh_at];
    let rest = &packet[ul..];
    let hl = ul + ipv6::FRAGMENT_HEADER_LEN;
    let room = mtu.checked_sub(hl).ok_or(FragmentError::MtuTooSmall)? / 8 * 8;
    if room == 0 {
        return Err(FragmentError::MtuTooSmall);
    }
    let mut at = 0;
    let mut n = 0;
    while at < rest.len() {
        let chunk = room.min(rest.len() - at);
        let f = &mut scratch[..hl + chunk];
        f[..ul].copy_from_slice(&packet[..ul]);
        f[nh_at] = next_header::FRAGMENT;
        let more = at + chunk < rest.len();
        FragmentHeader { next_header: first_nh, offset: at as u16, more, ident }.emit(&mut f[ul..hl]);
        f[hl..].copy_from_slice(&rest[at..at + chunk]);
        let payload = (hl + chunk - ipv6::HEADER_LEN) as u16;
        f[4..6].copy_from_slice(&payload.to_be_bytes());
        out(f);
        at += chunk;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod test {
    use super::*;
    use wire::ipv4::Protocol;

    const S: u64 = 1_000_000_000;
    const A4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const B4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const A6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x198, 0x18, 0, 0, 0, 0, 1);
    const B6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x198, 0x18, 0, 0, 0, 0, 2);

    fn ipv4_header_ok(header: &[u8]) -> bool {
        wire::checksum::data(header) == 0
    }

    /// A UDP-over-IPv4 datagram with `len` payload bytes (a counting pattern).
    fn datagram_v4(len: usize, ident: u16) -> Vec<u8> {
        let mut d = vec![0u8; 20 + len];
        let repr =
            ipv4::Repr { src_addr: A4, dst_addr: B4, next_header: Protocol::Udp, payload_len: len, hop_limit: 64 };
        repr.emit(&mut ipv4::Packet::new_unchecked(&mut d[..]));
        let mut p = ipv4::Packet::new_unchecked(&mut d[..]);
        p.set_ident(ident);
        p.set_dont_frag(false);
        p.fill_checksum();
        for (i, b) in d[20..].iter_mut().enumerate() {
            *b = (i * 7 + 3) as u8;
        }
        d
    }

    fn datagram_v6(len: usize) -> Vec<u8> {
        let mut d = vec![0u8; 40 + len];
        let repr = ipv6::Repr {
            src_addr: A6,
            dst_addr: B6,
            next_header: next_header::UDP,
            payload_len: len,
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
        };
        repr.emit(&mut ipv6::Packet::new_unchecked(&mut d[..]));
        for (i, b) in d[40..].iter_mut().enumerate() {
            *b = (i * 13 + 1) as u8;
        }
        d
    }

    fn frags_v4(d: &[u8], mtu: usize) -> Vec<Vec<u8>> {
        let mut v = Vec::new();
        let mut scratch = vec![0u8; mtu];
        fragment_v4(d, mtu, &mut scratch, &mut |f| v.push(f.to_vec())).unwrap();
        v
    }

    fn frags_v6(d: &[u8], mtu: usize) -> Vec<Vec<u8>> {
        let mut v = Vec::new();
        let mut scratch = vec![0u8; mtu];
        fragment_v6(d, mtu, 0x1234_5678, &mut scratch, &mut |f| v.push(f.to_vec())).unwrap();
        v
    }

    /// A fragment as IPv4 input would hand it over.
    fn piece_v4(f: &[u8]) -> Fragment<'_> {
        let p = ipv4::Packet::new_checked(f).unwrap();
        let hl = usize::from(p.header_len());
        Fragment {
            key: FragKey::V4 { src: p.src_addr(), dst: p.dst_addr(), protocol: 17, ident: p.ident() },
            offset: usize::from(p.frag_offset()),
            more: p.more_frags(),
            header: &f[..hl],
            v6_next_header: (0, 0),
            data: &f[hl..usize::from(p.total_len())],
        }
    }

    /// A fragment as IPv6 input would hand it over (via `walk_chain`).
    fn piece_v6(f: &[u8]) -> Fragment<'_> {
        let chain = ipv6::walk_chain(f).unwrap();
        let fh = chain.fragment.unwrap();
        Fragment {
            key: FragKey::V6 { src: A6, dst: B6, ident: fh.ident },
            offset: usize::from(fh.offset),
            more: fh.more,
            header: &f[..chain.fragment_header_at],
            v6_next_header: (chain.fragment_named_at, fh.next_header),
            data: &f[chain.offset..],
        }
    }

    fn reassemble(r: &mut Reassembler, pieces: &[Fragment<'_>]) -> Option<Vec<u8>> {
        let mut done = None;
        for p in pieces {
            if let Ok(Some(d)) = r.insert(p, 0) {
                assert!(done.is_none());
                done = Some(d.to_vec());
            }
        }
        done
    }

    #[test]
    fn v4_fragment_and_reassemble_in_and_out_of_order() {
        let d = datagram_v4(4000, 7);
        let f = frags_v4(&d, 1500);
        assert_eq!(f.len(), 3);
        assert!(f.iter().all(|x| x.len() <= 1500 && ipv4_header_ok(&x[..20])));
        assert_eq!(f.iter().map(|x| x.len() - 20).sum::<usize>(), 4000);
        for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1]] {
            let mut r = Reassembler::new(ReasmConfig::default());
            let pieces: Vec<_> = order.iter().map(|&i| piece_v4(&f[i])).collect();
            assert_eq!(reassemble(&mut r, &pieces).as_deref(), Some(&d[..]), "{order:?}");
            assert_eq!(r.in_progress(), 0);
            assert_eq!(r.counters().get(ReasmCounter::Reassembled), 1);
        }
    }

    #[test]
    fn v4_fits_passes_through_and_df_refused() {
        let d = datagram_v4(100, 1);
        assert_eq!(frags_v4(&d, 1500), vec![d.clone()]);
        let mut df = datagram_v4(3000, 1);
        ipv4::Packet::new_unchecked(&mut df[..]).set_dont_frag(true);
        let mut s = vec![0u8; 1500];
        assert_eq!(fragment_v4(&df, 1500, &mut s, &mut |_| {}), Err(FragmentError::DontFragment));
        let big = datagram_v4(3000, 1);
        assert_eq!(fragment_v4(&big, 60, &mut s, &mut |_| {}), Err(FragmentError::MtuTooSmall));
        assert_eq!(fragment_v4(&big, 1500, &mut s[..100], &mut |_| {}), Err(FragmentError::BufferTooShort));
    }

    #[test]
    fn v4_only_copied_options_go_to_later_fragments() {
        // A 24-byte header: router alert (copied) after the fixed part.
        let base = datagram_v4(2000, 9);
        let mut d = vec![0u8; 24];
        d[..20].copy_from_slice(&base[..20]);
        d[20..24].copy_from_slice(&[0x94, 0x04, 0, 0]);
        d.extend_from_slice(&base[20..]);
        let mut p = ipv4::Packet::new_unchecked(&mut d[..]);
        p.set_header_len(24);
        p.set_total_len(2024);
        p.fill_checksum();
        let f = frags_v4(&d, 1000);
        assert!(f.iter().all(|x| ipv4::Packet::new_checked(&x[..]).unwrap().header_len() == 24));
        let mut r = Reassembler::new(ReasmConfig::default());
        let pieces: Vec<_> = f.iter().map(|x| piece_v4(x)).collect();
        assert_eq!(reassemble(&mut r, &pieces).as_deref(), Some(&d[..]));
    }

    #[test]
    fn v6_fragment_and_reassemble_out_of_order() {
        let d = datagram_v6(8000);
        let f = frags_v6(&d, 1500);
        assert_eq!(f.len(), 6);
        assert!(f.iter().all(|x| x.len() <= 1500));
        let last = ipv6::walk_chain(&f[5]).unwrap();
        assert_eq!(last.fragment.map(|h| (h.more, h.ident)), Some((false, 0x1234_5678)));
        let mut r = Reassembler::new(ReasmConfig::default());
        let mut pieces: Vec<_> = f.iter().map(|x| piece_v6(x)).collect();
        pieces.reverse();
        pieces.swap(1, 3);
        assert_eq!(reassemble(&mut r, &pieces).as_deref(), Some(&d[..]));
    }

    #[test]
    fn v6_keeps_hop_by_hop_in_every_fragment() {
        // Hop-by-hop (8 bytes of PadN) before UDP.
        let inner = datagram_v6(3000);
        let mut d = inner[..40].to_vec();
        d[6] = next_header::HOP_BY_HOP;
        d.extend_from_slice(&[next_header::UDP, 0, 1, 4, 0, 0, 0, 0]);
        d.extend_from_slice(&inner[40..]);
        d[4..6].copy_from_slice(&3008u16.to_be_bytes());
        let f = frags_v6(&d, 1280);
        for x in &f {
            let c = ipv6::walk_chain(x).unwrap();
            assert_eq!((c.fragment_header_at, c.fragment_named_at), (48, 40));
        }
        let mut r = Reassembler::new(ReasmConfig::default());
        let pieces: Vec<_> = f.iter().map(|x| piece_v6(x)).collect();
        assert_eq!(reassemble(&mut r, &pieces).as_deref(), Some(&d[..]));
        let mut s = vec![0u8; 2000];
        assert_eq!(fragment_v6(&d, 1000, 1, &mut s, &mut |_| {}), Err(FragmentError::MtuTooSmall));
    }

    #[test]
    fn v6_overlap_discards_the_datagram_and_its_later_fragments() {
        let d = datagram_v6(4000);
        let f = frags_v6(&d, 1500);
        let mut r = Reassembler::new(ReasmConfig::default());
        assert_eq!(r.insert(&piece_v6(&f[0]), 0), Ok(None));
        // A fragment overlapping the first by 8 bytes.
        let mut evil = piece_v6(&f[1]);
        let shifted: Vec<u8> = d[40 + evil.offset - 8..40 + evil.offset - 8 + evil.data.len()].to_vec();
        evil.offset -= 8;
        evil.data = &shifted;
        assert_eq!(r.insert(&evil, 0), Err(ReasmError::Dropped(ReasmCounter::Overlap)));
        // The honest rest does not resurrect it.
        for x in &f[1..] {
            assert_eq!(r.insert(&piece_v6(x), 0), Err(ReasmError::Dropped(ReasmCounter::DeadDatagram)));
        }
        assert_eq!(r.counters().get(ReasmCounter::Reassembled), 0);
        // No time exceeded for a discarded datagram; the slot is freed.
        let mut expired = 0;
        r.poll(60 * S, &mut |_| expired += 1);
        assert_eq!((expired, r.in_progress()), (0, 0));
    }

    #[test]
    fn duplicates_are_dropped_not_fatal() {
        let d = datagram_v6(4000);
        let f = frags_v6(&d, 1500);
        let mut r = Reassembler::new(ReasmConfig::default());
        assert_eq!(r.insert(&piece_v6(&f[1]), 0), Ok(None));
        assert_eq!(r.insert(&piece_v6(&f[1]), 0), Err(ReasmError::Dropped(ReasmCounter::Duplicate)));
        let pieces: Vec<_> = [0, 2].iter().map(|&i| piece_v6(&f[i])).collect();
        assert_eq!(reassemble(&mut r, &pieces).as_deref(), Some(&d[..]));
        assert_eq!(r.counters().get(ReasmCounter::Duplicate), 1);
    }

    #[test]
    fn v4_overlap_keeps_the_first_copy() {
        let d = datagram_v4(3000, 3);
        let f = frags_v4(&d, 1500);
        let mut r = Reassembler::new(ReasmConfig::default());
        let first = piece_v4(&f[0]);
        assert_eq!(r.insert(&first, 0), Ok(None));
        // Garbage overlapping the end of the first fragment and the start of the second.
        let garbage = vec![0xeeu8; 64];
        let evil = Fragment { offset: first.data.len() - 32, data: &garbage, more: true, ..first };
        assert_eq!(r.insert(&evil, 0), Ok(None));
        assert_eq!(r.counters().get(ReasmCounter::OverlapIgnored), 1);
        // The honest second fragment only fills what is still missing: the
        // garbage replaced none of the first fragment (and keeps its 32
        // bytes of the second: first copy wins both ways).
        let second = piece_v4(&f[1]);
        let third = piece_v4(&f[2]);
        assert_eq!(r.insert(&second, 0), Ok(None));
        let out = r.insert(&third, 0).unwrap().unwrap().to_vec();
        assert_eq!(&out[..20 + first.data.len()], &d[..20 + first.data.len()], "first copy kept");
        // A fragment entirely inside received data is a duplicate.
        let mut r = Reassembler::new(ReasmConfig::default());
        r.insert(&first, 0).unwrap();
        let inner = Fragment { offset: 8, data: &first.data[8..16], more: true, ..first };
        assert_eq!(r.insert(&inner, 0), Err(ReasmError::Dropped(ReasmCounter::Duplicate)));
    }

    #[test]
    fn timeout_reports_first_fragment_only_if_received() {
        let d = datagram_v4(3000, 5);
        let f = frags_v4(&d, 1500);
        let mut r = Reassembler::new(ReasmConfig::default());
        r.insert(&piece_v4(&f[0]), 0).unwrap();
        let d6 = datagram_v6(3000);
        let f6 = frags_v6(&d6, 1500);
        r.insert(&piece_v6(&f6[1]), S).unwrap();
        assert_eq!(r.poll_at(), Some(30 * S));
        let mut seen = Vec::new();
        r.poll(30 * S - 1, &mut |e| seen.push((e.key, e.first_fragment.map(|b| b.to_vec()))));
        assert!(seen.is_empty());
        r.poll(30 * S, &mut |e| seen.push((e.key, e.first_fragment.map(|b| b.to_vec()))));
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].1.as_deref(), Some(&f[0][..]), "header and the data up to the first hole");
        assert_eq!(r.poll_at(), Some(61 * S));
        seen.clear();
        r.poll(61 * S, &mut |e| seen.push((e.key, e.first_fragment.map(|b| b.to_vec()))));
        assert_eq!(seen.len(), 1);
        assert!(seen[0].1.is_none(), "no first fragment, no time exceeded");
        assert_eq!(r.counters().get(ReasmCounter::Timeout), 2);
        assert_eq!(r.in_progress(), 0);
    }

    #[test]
    fn bad_lengths_and_inconsistent_ends() {
        let d = datagram_v6(4000);
        let f = frags_v6(&d, 1500);
        let mut r = Reassembler::new(ReasmConfig::default());
        let p = piece_v6(&f[0]);
        let odd = Fragment { data: &p.data[..p.data.len() - 3], ..p };
        assert_eq!(r.insert(&odd, 0), Err(ReasmError::BadLength));
        let huge = Fragment { offset: 65528, ..p };
        assert_eq!(r.insert(&huge, 0), Err(ReasmError::TooLarge));
        // Two different ends.
        let last = piece_v6(&f[2]);
        r.insert(&last, 0).unwrap();
        let other_end = Fragment { offset: last.offset + 8, ..last };
        assert_eq!(r.insert(&other_end, 0), Err(ReasmError::Dropped(ReasmCounter::Inconsistent)));
        assert_eq!(r.in_progress(), 0);
        // A last fragment ending before data already received.
        r.insert(&piece_v6(&f[1]), 0).unwrap();
        let short_end = Fragment { offset: 0, more: false, ..piece_v6(&f[0]) };
        assert_eq!(r.insert(&short_end, 0), Err(ReasmError::Dropped(ReasmCounter::Inconsistent)));
    }

    #[test]
    fn v4_header_that_lies_about_its_length_does_not_panic() {
        let mut header = datagram_v4(0, 4)[..20].to_vec();
        header[0] = 0x4f; // IHL 15: 60 bytes, but only 20 are given.
        let key = FragKey::V4 { src: A4, dst: B4, protocol: 17, ident: 4 };
        let data = [1u8; 8];
        let mut r = Reassembler::new(ReasmConfig::default());
        let f = Fragment { key, offset: 0, more: true, header: &header, v6_next_header: (0, 0), data: &data };
        assert_eq!(r.insert(&f, 0), Ok(None));
        let out = r.insert(&Fragment { offset: 8, more: false, ..f }, 0).unwrap().unwrap();
        assert_eq!(out.len(), 36);
        assert_eq!(wire::checksum::data(&out[..20]), 0);
    }

    #[test]
    fn bounds_hold_under_a_flood() {
        let cfg = ReasmConfig { max_datagrams: 8, memory_cap: 128 * 1024, ..ReasmConfig::default() };
        let mut r = Reassembler::new(cfg.clone());
        let header = datagram_v4(0, 0)[..20].to_vec();
        let flood = |r: &mut Reassembler, idents: core::ops::Range<u16>, offset: usize, data: &[u8]| {
            let mut refused = 0;
            for ident in idents {
                let key = FragKey::V4 { src: A4, dst: B4, protocol: 17, ident };
                let f = Fragment { key, offset, more: true, header: &header, v6_next_header: (0, 0), data };
                if r.insert(&f, 0).is_err() {
                    refused += 1;
                }
                assert!(r.memory() <= cfg.memory_cap);
                assert!(r.in_progress() <= cfg.max_datagrams);
            }
            refused
        };
        // Fragments far into their datagrams: two fill the memory cap.
        assert_eq!(flood(&mut r, 0..100, 59 * 1024, &[0u8; 1024]), 98);
        assert_eq!(r.counters().get(ReasmCounter::MemoryCap), 98);
        assert_eq!(r.in_progress(), 2, "refused fragments leave no slot behind");
        // Small ones: the slots run out.
        assert_eq!(flood(&mut r, 100..1100, 0, &[0u8; 8]), 994);
        assert_eq!(r.counters().get(ReasmCounter::TooManyDatagrams), 994);
        // After the timeout everything is free, and a real datagram goes through.
        r.poll(30 * S, &mut |_| {});
        assert_eq!(r.in_progress(), 0);
        let d = datagram_v4(3000, 77);
        let f = frags_v4(&d, 1500);
        let pieces: Vec<_> = f.iter().map(|x| piece_v4(x)).collect();
        assert_eq!(reassemble(&mut r, &pieces).as_deref(), Some(&d[..]));
        // Too many fragments for one datagram.
        let mut r = Reassembler::new(ReasmConfig { max_fragments: 4, ..ReasmConfig::default() });
        let small = vec![0u8; 8];
        let mut last = Ok(None);
        for i in 0..5 {
            let f = Fragment {
                key: FragKey::V4 { src: A4, dst: B4, protocol: 17, ident: 1 },
                offset: i * 8,
                more: true,
                header: &header,
                v6_next_header: (0, 0),
                data: &small,
            };
            last = r.insert(&f, 0).map(|o| o.map(|_| ()));
        }
        assert_eq!(last, Err(ReasmError::Dropped(ReasmCounter::TooManyFragments)));
    }

    #[test]
    fn every_fragment_split_of_random_sizes_reassembles() {
        let mut x = 0x1234_5678_9abc_def0u64;
        let mut rnd = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut r = Reassembler::new(ReasmConfig::default());
        for round in 0..200u16 {
            let len = 1 + rnd(20000) as usize;
            let d = datagram_v6(len);
            let mtu = 1280 + rnd(8000) as usize;
            let mut f = frags_v6(&d, mtu);
            if d.len() <= mtu {
                assert_eq!(f, vec![d]);
                continue;
            }
            // Shuffle.
            for i in (1..f.len()).rev() {
                let j = rnd(i as u64 + 1) as usize;
                f.swap(i, j);
            }
            let pieces: Vec<_> = f.iter().map(|x| piece_v6(x)).collect();
            assert_eq!(reassemble(&mut r, &pieces).as_deref(), Some(&d[..]), "round {round} len {len} mtu {mtu}");
            assert!(r.memory() <= ReasmConfig::default().memory_cap);
        }
    }

    proptest::proptest! {
        /// Arbitrary pieces of a datagram (random cuts, duplicates, overlaps,
        /// order) never panic nor break the bounds; IPv6 completes with the
        /// original bytes exactly when no piece overlapped another other
        /// than as an exact duplicate.
        #[test]
        fn arbitrary_pieces(
            len in 1usize..6000,
            cuts in proptest::collection::vec((0usize..800, 1usize..200, proptest::bool::ANY), 1..40),
        ) {
            let d = datagram_v6(len);
            let header = &d[..40];
            let data = &d[40..];
            let cfg = ReasmConfig { memory_cap: 64 * 1024, ..ReasmConfig::default() };
            let mut r = Reassembler::new(cfg.clone());
            let key = FragKey::V6 { src: A6, dst: B6, ident: 9 };
            let mut got = None;
            for (at, n, last) in cuts {
                let first = (at * 8).min(len - 1) / 8 * 8;
                let end = if last { len } else { (first + n * 8).min(len) };
                let more = end < len;
                let end = if more { first + (end - first) / 8 * 8 } else { end };
                if end <= first {
                    continue;
                }
                let f = Fragment {
                    key,
                    offset: first,
                    more,
                    header,
                    v6_next_header: (6, next_header::UDP),
                    data: &data[first..end],
                };
                if let Ok(Some(out)) = r.insert(&f, 0) {
                    if got.is_none() {
                        got = Some(out.to_vec());
                        // A discarded datagram keeps its key until the
                        // timeout, so none can have overlapped before.
                        proptest::prop_assert_eq!(r.counters().get(ReasmCounter::Overlap), 0);
                    }
                }
                proptest::prop_assert!(r.memory() <= cfg.memory_cap);
            }
            if let Some(out) = got {
                proptest::prop_assert_eq!(&out[..], &d[..]);
            }
        }
    }
}
