//! Receive coalescing (GRO-like): which received segments of one
//! connection may go to [`crate::Connection::input_train`] together, as one
//! train, so that one ACK decision and one rx-fifo enqueue cover them.
//!
//! Only plain in-order data qualifies, as Linux's GRO has it: ACK with or
//! without PSH and nothing else, a payload, no SACK blocks and no SYN
//! options, the next segment starting where the last ended, with the same
//! ACK number and window field (so the ACK processing of the first stands
//! for all of them), and timestamps on all or none, the TSvals never going
//! back (so PAWS passing the first means it passes the rest). The TSecr may
//! differ: only a segment that acknowledges new data samples the RTT, and
//! in a train only the first can. The caller checks that the segments share
//! a 4-tuple; the connection checks what only it knows (state, `rcv.nxt`,
//! room, holes) and takes any train it cannot take whole one segment at a
//! time, so a train never changes the outcome, only its cost.

use wire::tcp::{Flags, Repr as TcpRepr};

/// One received segment of a train: its header and payload.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// The parsed header (`payload_len` is the payload's length).
    pub repr: &'a TcpRepr,
    /// The payload, `repr.payload_len` bytes.
    pub payload: &'a [u8],
}

/// Whether `seg` may be part of a train at all.
#[inline]
pub fn candidate(seg: &TcpRepr) -> bool {
    let flags = seg.flags;
    (flags == Flags::ACK || flags == Flags::ACK | Flags::PSH)
        && seg.payload_len > 0
        && seg.sack_blocks.is_empty()
        && seg.max_seg_size.is_none()
        && seg.window_scale.is_none()
        && !seg.sack_permitted
}

/// Whether `next` may follow `prev` in one train (both [`candidate`]s of
/// the same 4-tuple).
#[inline]
pub fn mergeable(prev: &TcpRepr, next: &TcpRepr) -> bool {
    candidate(next)
        && next.seq_number == prev.seq_number + prev.payload_len as u32
        && next.ack_number == prev.ack_number
        && next.window_len == prev.window_len
        && next.src_port == prev.src_port
        && next.dst_port == prev.dst_port
        && match (prev.timestamp, next.timestamp) {
            (None, None) => true,
            (Some(a), Some(b)) => b.tsval.wrapping_sub(a.tsval) < 1 << 31,
            _ => false,
        }
}

#[cfg(test)]
mod test {
    use super::*;
    use wire::tcp::{SackBlock, SeqNumber, Timestamp};

    fn data(seq: u32, len: usize) -> TcpRepr {
        TcpRepr {
            src_port: 1,
            dst_port: 2,
            seq_number: SeqNumber(seq),
            ack_number: SeqNumber(7),
            flags: Flags::ACK,
            window_len: 100,
            payload_len: len,
            ..TcpRepr::default()
        }
    }

    #[test]
    fn only_contiguous_plain_data_with_the_same_ack_and_window_merges() {
        let a = data(1000, 100);
        assert!(candidate(&a) && mergeable(&a, &data(1100, 50)));
        assert!(mergeable(&a, &TcpRepr { flags: Flags::ACK | Flags::PSH, ..data(1100, 50) }));
        assert!(!mergeable(&a, &data(1101, 50)), "gap");
        assert!(!mergeable(&a, &data(1000, 100)), "duplicate");
        assert!(!mergeable(&a, &TcpRepr { ack_number: SeqNumber(8), ..data(1100, 50) }));
        assert!(!mergeable(&a, &TcpRepr { window_len: 99, ..data(1100, 50) }));
        assert!(!mergeable(&a, &TcpRepr { flags: Flags::ACK | Flags::FIN, ..data(1100, 50) }));
        assert!(!mergeable(&a, &data(1100, 0)), "no payload");
        let mut sack = data(1100, 50);
        sack.sack_blocks.push(SackBlock { left: SeqNumber(2000), right: SeqNumber(2100) });
        assert!(!candidate(&sack) && !mergeable(&a, &sack));
        // Sequence numbers wrap.
        assert!(mergeable(&data(u32::MAX - 9, 10), &data(0, 10)));
    }

    #[test]
    fn timestamps_on_all_or_none_and_never_going_back() {
        let ts = |tsval, tsecr| Some(Timestamp { tsval, tsecr });
        let a = TcpRepr { timestamp: ts(10, 5), ..data(0, 10) };
        assert!(mergeable(&a, &TcpRepr { timestamp: ts(10, 6), ..data(10, 10) }));
        assert!(mergeable(&a, &TcpRepr { timestamp: ts(11, 5), ..data(10, 10) }));
        assert!(!mergeable(&a, &TcpRepr { timestamp: ts(9, 5), ..data(10, 10) }));
        assert!(!mergeable(&a, &data(10, 10)));
        assert!(!mergeable(&data(0, 10), &TcpRepr { timestamp: ts(10, 5), ..data(10, 10) }));
        let w = TcpRepr { timestamp: ts(u32::MAX, 5), ..data(0, 10) };
        assert!(mergeable(&w, &TcpRepr { timestamp: ts(1, 5), ..data(10, 10) }), "TSval wraps");
    }
}
