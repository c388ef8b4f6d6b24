//! What a listener does with a segment that matches no connection
//! (RFC 9293 §3.10.7.2, LISTEN state), in the RFC's order of checks: a
//! RST is ignored; an ACK is answered with a RST taking its sequence
//! number from the ACK (unless it completes a SYN-cookie handshake, which
//! the transport checks); a SYN opens a connection; anything else (no
//! flags, a bare FIN, other text) is dropped. A SYN with FIN is dropped
//! too, as Linux does: no legitimate opener sends it, and answering would
//! let scanners fingerprint the node and half-open connections pile up.

use wire::tcp::Flags;

/// The listener's answer to a segment, from its flags alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenAction {
    /// A connection request: half-open connection or SYN cookie.
    Syn,
    /// An ACK: a cookie handshake's last ACK, or else a RST (`<SEQ=SEG.ACK><CTL=RST>`).
    Ack,
    /// Dropped without an answer (counted by the transport).
    Drop,
}

/// What a listener does with a segment carrying `flags`.
pub fn listen_action(flags: Flags) -> ListenAction {
    if flags.rst() {
        ListenAction::Drop
    } else if flags.ack() {
        ListenAction::Ack
    } else if flags.syn() && !flags.fin() {
        ListenAction::Syn
    } else {
        ListenAction::Drop
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn rfc_9293_listen_rules_and_linux_syn_fin() {
        let f = |bits: &[Flags]| bits.iter().fold(Flags::NONE, |a, &b| a | b);
        use Flags as F;
        use ListenAction::*;
        let cases = [
            (f(&[]), Drop),
            (f(&[F::FIN]), Drop),
            (f(&[F::PSH]), Drop),
            (f(&[F::URG, F::PSH, F::FIN]), Drop),
            (f(&[F::SYN, F::FIN]), Drop),
            (f(&[F::SYN, F::FIN, F::PSH]), Drop),
            (f(&[F::RST]), Drop),
            (f(&[F::SYN, F::RST]), Drop),
            (f(&[F::RST, F::ACK]), Drop),
            (f(&[F::ACK]), Ack),
            (f(&[F::ACK, F::FIN]), Ack),
            (f(&[F::SYN, F::ACK]), Ack),
            (f(&[F::SYN]), Syn),
            (f(&[F::SYN, F::PSH]), Syn),
            (f(&[F::SYN, F::ECE, F::CWR]), Syn),
        ];
        for (flags, want) in cases {
            assert_eq!(listen_action(flags), want, "{flags:?}");
        }
    }
}
