//! Path MTU discovery (RFC 1191 for IPv4 "fragmentation needed", RFC 8201
//! for IPv6 "packet too big"), with the RFC 5927 checks against forged
//! ICMP: the quoted segment's sequence number must lie in
//! SND.UNA..SND.MAX (what is in flight), the MSS only ever goes down, and
//! never under a floor the caller gives per family. A lowered MSS is not a
//! congestion signal (RFC 1191 6.5): the window stays, and what is in
//! flight, too big for the path, is sent again in the new size from
//! SND.UNA (the fifo is re-segmented, nothing is copied).

use wire::tcp::SeqNumber;

use super::connection::Connection;
use super::stats::Counter;

/// What [`Connection::on_packet_too_big`] did with a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PmtuVerdict {
    /// The send MSS is now this.
    Lowered(u16),
    /// The report would not lower the MSS (already as small, or at the floor).
    NotLower,
    /// Refused: not synchronized, or the quoted sequence is not in flight.
    Refused,
}

/// IPv4 floor of the send MSS: RFC 1122's default (576 - 40). Reports of
/// a smaller MTU lower the MSS only to this.
pub const MSS_FLOOR_V4: u16 = 536;
/// IPv6 floor of the send MSS: IPv6's minimum MTU less the headers (1280 - 60).
pub const MSS_FLOOR_V6: u16 = 1220;

impl Connection {
    /// An ICMP report that a segment starting at `seq` did not fit a link
    /// of `mtu` bytes (IP datagram) on the path; `ip_header_len` is our IP
    /// header (20 or 40), `floor` the lowest MSS to go to
    /// ([`MSS_FLOOR_V4`]/[`MSS_FLOOR_V6`]). Counted by verdict.
    pub fn on_packet_too_big(&mut self, seq: SeqNumber, mtu: u32, ip_header_len: u32, floor: u16) -> PmtuVerdict {
        let in_flight = self.state().is_synchronized() && seq >= self.snd.una && seq < self.snd.max;
        if !in_flight {
            self.counters.incr(Counter::PmtuRefused);
            return PmtuVerdict::Refused;
        }
        let room = mtu.saturating_sub(ip_header_len + wire::tcp::HEADER_LEN as u32);
        let mss = room.clamp(u32::from(floor), u32::from(u16::MAX)) as u16;
        if mss >= self.snd.mss {
            self.counters.incr(Counter::PmtuNotLower);
            return PmtuVerdict::NotLower;
        }
        self.snd.mss = mss;
        // Karn: what is timed will be sent again.
        self.rec.rtt_seq = None;
        self.snd.rewind();
        self.rec.high_rxt = self.snd.una;
        self.counters.incr(Counter::PmtuLowered);
        PmtuVerdict::Lowered(mss)
    }
}
