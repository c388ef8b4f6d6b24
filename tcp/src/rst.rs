//! Reset rules that need no connection: the RST answering a segment for
//! which no connection exists (RFC 9293 §3.10.7.1), and the rate limiter
//! for RFC 5961 challenge ACKs.

use wire::tcp::{Flags, Repr as TcpRepr, SeqNumber};

/// The RST to send for `seg` arriving where no connection or listener
/// wants it; `None` when `seg` is itself a RST (never answer a reset).
///
/// If `seg` has ACK, the RST takes its sequence number from the ACK field;
/// otherwise it has sequence 0 and acknowledges everything `seg` occupied.
pub fn reset_for(seg: &TcpRepr) -> Option<TcpRepr> {
    if seg.flags.rst() {
        return None;
    }
    let (seq_number, ack_number, flags) = if seg.flags.ack() {
        (seg.ack_number, SeqNumber(0), Flags::RST)
    } else {
        (SeqNumber(0), seg.seq_number + seg.segment_len() as u32, Flags::RST | Flags::ACK)
    };
    Some(TcpRepr {
        src_port: seg.dst_port,
        dst_port: seg.src_port,
        seq_number,
        ack_number,
        flags,
        ..TcpRepr::default()
    })
}

/// At most `limit` challenge ACKs per second (RFC 5961 §7), so that an
/// attacker cannot use them to learn our sequence numbers by counting.
#[derive(Debug, Clone)]
pub struct ChallengeAckLimiter {
    limit: u32,
    window_start: u64,
    sent: u32,
}

impl ChallengeAckLimiter {
    /// A limiter allowing `limit` challenge ACKs per second.
    pub fn new(limit: u32) -> Self {
        ChallengeAckLimiter { limit, window_start: 0, sent: 0 }
    }

    /// Whether a challenge ACK may go out at `now`; counts it if so.
    pub fn allow(&mut self, now: u64) -> bool {
        if now.saturating_sub(self.window_start) >= 1_000_000_000 {
            self.window_start = now;
            self.sent = 0;
        }
        if self.sent < self.limit {
            self.sent += 1;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn seg(flags: Flags, payload_len: usize) -> TcpRepr {
        TcpRepr {
            src_port: 40000,
            dst_port: 81,
            seq_number: SeqNumber(1000),
            ack_number: SeqNumber(5000),
            flags,
            payload_len,
            ..TcpRepr::default()
        }
    }

    #[test]
    fn rst_for_syn_acks_it() {
        let r = reset_for(&seg(Flags::SYN, 0)).unwrap();
        assert_eq!((r.src_port, r.dst_port), (81, 40000));
        assert_eq!(r.flags, Flags::RST | Flags::ACK);
        assert_eq!((r.seq_number, r.ack_number), (SeqNumber(0), SeqNumber(1001)));
        let r = reset_for(&seg(Flags::FIN | Flags::PSH, 10)).unwrap();
        assert_eq!(r.ack_number, SeqNumber(1011));
    }

    #[test]
    fn rst_for_ack_uses_its_ack_number() {
        let r = reset_for(&seg(Flags::ACK, 100)).unwrap();
        assert_eq!(r.flags, Flags::RST);
        assert_eq!(r.seq_number, SeqNumber(5000));
    }

    #[test]
    fn never_answer_a_rst() {
        assert!(reset_for(&seg(Flags::RST, 0)).is_none());
        assert!(reset_for(&seg(Flags::RST | Flags::ACK, 0)).is_none());
    }

    #[test]
    fn challenge_ack_rate_limit() {
        let mut l = ChallengeAckLimiter::new(3);
        assert!(l.allow(5));
        assert!(l.allow(6));
        assert!(l.allow(7));
        assert!(!l.allow(8));
        assert!(!l.allow(999_999_999));
        assert!(l.allow(1_000_000_005));
    }
}
