//! What the CLI shows about TCP: worker-wide counters for `show tcp stats`
//! ([`Counter`], [`Counters`]) and a per-connection snapshot for
//! `show session verbose` ([`ConnStats`]).

use core::fmt;

use shm::types::Cc;

use super::connection::State;

counters::counters! {
    /// A worker-wide TCP counter.
    pub enum Counter {
        /// Segments handed to a connection.
        SegmentsIn => ("segments received", false),
        /// Segments taken as part of a train after its first (receive
        /// coalescing, `[tcp] gro`): each saved an ACK decision and an enqueue.
        SegmentsMerged => ("segments merged (gro)", false),
        /// Segments produced by connections.
        SegmentsOut => ("segments sent", false),
        /// Segments retransmitted (any cause).
        Retransmits => ("segments retransmitted", false),
        /// Fast retransmits (dup ACK or SACK triggered recoveries).
        FastRetransmits => ("fast retransmits", false),
        /// Retransmission timer expirations.
        RtoTimeouts => ("retransmission timeouts", false),
        /// Duplicate ACKs received.
        DupAcks => ("duplicate acks received", false),
        /// Challenge ACKs sent (RFC 5961).
        ChallengeAcks => ("challenge acks sent", false),
        /// Challenge ACKs suppressed by the rate limit.
        ChallengeAcksLimited => ("challenge acks rate limited", false),
        /// SYN cookies sent (counted by the worker).
        CookiesSent => ("syn cookies sent", false),
        /// SYN cookie ACKs validated.
        CookiesValidated => ("syn cookies validated", false),
        /// SYN cookie ACKs rejected (counted by the worker).
        CookiesFailed => ("syn cookies failed", false),
        /// Resets sent.
        ResetsSent => ("resets sent", false),
        /// Resets accepted.
        ResetsReceived => ("resets received", false),
        /// Segments dropped as outside the receive window.
        OutOfWindow => ("out-of-window drops", false),
        /// Segments dropped by PAWS.
        PawsDrops => ("paws drops", false),
        /// Segments with a bad checksum (counted by the worker).
        BadChecksum => ("bad checksum", false),
        /// Out-of-order segments queued in the rx fifo.
        OutOfOrder => ("out-of-order segments", false),
        /// Out-of-order segments dropped (fifo full or too many holes).
        OutOfOrderDrops => ("out-of-order drops", false),
        /// Zero-window probes sent.
        ZeroWindowProbes => ("zero window probes sent", false),
        /// Keepalive probes sent.
        KeepaliveProbes => ("keepalive probes sent", false),
        /// Connections that reached ESTABLISHED.
        Established => ("connections established", false),
        /// Connections closed by a retransmission or keepalive timeout.
        TimedOut => ("connections timed out", false),
        /// SYN or SYN-ACK retransmissions.
        SynRetransmits => ("syn retransmits", false),
        /// Segments to a listener dropped unanswered: no SYN, ACK or RST (a bare
        /// FIN, no flags), SYN with FIN, or a RST (RFC 9293 §3.10.7.2; counted by the worker).
        ListenerDropped => ("segments to a listener dropped", false),
        /// ACKs to a listener that matched no connection and no valid cookie,
        /// answered with a RST (counted by the worker).
        ListenerAckReset => ("acks to a listener reset", false),
        /// TIME-WAIT connections whose tuple a new active open took over (counted by the worker).
        TimeWaitReused => ("time-wait tuples reused", false),
        /// ICMP "fragmentation needed" / "packet too big" that lowered a connection's MSS.
        PmtuLowered => ("path mtu: mss lowered by icmp", false),
        /// Such ICMP that would not lower the MSS (already as small, or at the floor).
        PmtuNotLower => ("path mtu: icmp not lowering the mss, ignored", false),
        /// Such ICMP refused (RFC 5927): no connection, or the quoted sequence outside SND.UNA..SND.NXT.
        PmtuRefused => ("path mtu: icmp refused (no connection or sequence out of window)", true),
    }
}

/// One value per [`Counter`]: a connection's own (drained into its worker's
/// totals) or a worker's.
pub type Counters = counters::LocalCounters<Counter, { Counter::COUNT }>;

/// Serialises a value as its `Display` text.
fn by_name<T: fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// A snapshot of one connection for the CLI (which formats it; with serde,
/// the state and the algorithm are their names).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConnStats {
    /// RFC 9293 state.
    #[serde(serialize_with = "by_name")]
    pub state: State,
    /// Oldest unacknowledged sequence number.
    pub snd_una: u32,
    /// Next sequence number to send.
    pub snd_nxt: u32,
    /// Highest sequence number sent.
    pub snd_max: u32,
    /// Peer's window, scaled, in bytes.
    pub snd_wnd: u32,
    /// Next sequence number expected.
    pub rcv_nxt: u32,
    /// Window we last advertised, in bytes.
    pub rcv_wnd: u32,
    /// Send MSS.
    pub mss: u16,
    /// Window scale shifts (send, receive).
    pub wscale: (u8, u8),
    /// SACK / timestamps in use.
    pub sack: bool,
    /// Timestamps in use.
    pub timestamps: bool,
    /// Smoothed RTT, RTT variance and RTO, in µs.
    pub srtt_us: u64,
    /// RTT variance in µs.
    pub rttvar_us: u64,
    /// Current RTO in µs (back-off included).
    pub rto_us: u64,
    /// Congestion control algorithm.
    #[serde(serialize_with = "by_name")]
    pub cc: Cc,
    /// Congestion window, bytes.
    pub cwnd: u32,
    /// Slow start threshold, bytes.
    pub ssthresh: u32,
    /// Bytes in flight (pipe).
    pub flight: u32,
    /// Whether in fast recovery.
    pub in_recovery: bool,
    /// Segments retransmitted over the connection's life.
    pub retransmits: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Duplicate ACKs received.
    pub dupacks: u64,
    /// SACK scoreboard blocks now held.
    pub sack_blocks: usize,
    /// Bytes the scoreboard marks SACKed.
    pub sacked_bytes: u32,
    /// Out-of-order runs in the rx fifo at the last input.
    pub rx_ooo_runs: usize,
    /// Segments sent and received.
    pub segs_out: u64,
    /// Segments received.
    pub segs_in: u64,
}

impl fmt::Display for ConnStats {
    /// A few lines in the style of VPP's `show session verbose 2` for TCP.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "state {} cc {} mss {} wscale {}/{} sack {} ts {}",
            self.state, self.cc, self.mss, self.wscale.0, self.wscale.1, self.sack, self.timestamps
        )?;
        writeln!(
            f,
            "snd_una {} snd_nxt {} snd_max {} snd_wnd {} rcv_nxt {} rcv_wnd {}",
            self.snd_una, self.snd_nxt, self.snd_max, self.snd_wnd, self.rcv_nxt, self.rcv_wnd
        )?;
        writeln!(f, "srtt {}us rttvar {}us rto {}us", self.srtt_us, self.rttvar_us, self.rto_us)?;
        writeln!(
            f,
            "cwnd {} ssthresh {} flight {} recovery {}",
            self.cwnd, self.ssthresh, self.flight, self.in_recovery
        )?;
        write!(
            f,
            "retransmits {} timeouts {} dupacks {} sack blocks {} sacked {} rx ooo runs {} segs in {} out {}",
            self.retransmits,
            self.timeouts,
            self.dupacks,
            self.sack_blocks,
            self.sacked_bytes,
            self.rx_ooo_runs,
            self.segs_in,
            self.segs_out
        )
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn counters_add_drain_and_print() {
        let mut conn = Counters::default();
        conn.incr(Counter::SegmentsIn);
        conn.add(Counter::Retransmits, 3);
        let mut worker = Counters::default();
        worker.drain_from(&mut conn);
        assert!(conn.is_zero());
        assert_eq!(worker.get(Counter::Retransmits), 3);
        let text = worker.to_string();
        assert_eq!(text, "           1 segments received\n           3 segments retransmitted\n");
        assert_eq!(Counter::ALL.len(), Counter::PmtuRefused as usize + 1);
    }
}
