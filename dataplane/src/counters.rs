//! Named per-worker counters: every drop has a name and a cause.
//!
//! Each worker owns one [`Counters`] block and is its only writer, so an
//! increment is a relaxed load plus store (no locked instruction). The main
//! thread reads all blocks for `show errors` and `show threads`. Counters
//! are declared once in the table below with their CLI name and whether they
//! count an error (a drop) or just activity.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($( $variant:ident => ($name:literal, $err:literal) ),* $(,)?) => {
        /// A counter's identity.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(usize)]
        pub enum Counter { $(
            #[doc = $name]
            $variant,
        )* }

        impl Counter {
            /// Every counter in declaration order.
            pub const ALL: &'static [Counter] = &[$(Counter::$variant),*];

            /// The name printed by the CLI.
            pub fn name(self) -> &'static str {
                match self { $(Counter::$variant => $name),* }
            }

            /// Whether this counts dropped or refused packets.
            pub fn is_error(self) -> bool {
                match self { $(Counter::$variant => $err),* }
            }
        }
    };
}

counters! {
    RxPackets => ("rx packets", false),
    TxPackets => ("tx packets", false),
    TxQueueFull => ("tx queue full, packet dropped", true),
    TxBackpressure => ("tx queue full, transport waited", false),
    TxLinkDown => ("tx link down, packet dropped", true),
    MbufAllocFailed => ("mbuf allocation failed", true),
    EthTruncated => ("ethernet frame truncated", true),
    EthUnknownType => ("ethernet unknown ethertype", true),
    EthNotForUs => ("ethernet destination not ours", true),
    EthMultiSegment => ("multi-segment packet not supported", true),
    EthTooLong => ("ethernet frame longer than the mtu", true),
    EthVlanTagged => ("ethernet vlan-tagged frame (802.1Q/802.1ad not supported)", true),
    ArpMalformed => ("arp malformed", true),
    ArpUnsupported => ("arp unsupported hardware/protocol", true),
    ArpNotForUs => ("arp target not ours", false),
    ArpRequestsIn => ("arp requests received", false),
    ArpRepliesIn => ("arp replies received", false),
    ArpRequestsOut => ("arp requests sent", false),
    ArpRepliesOut => ("arp replies sent", false),
    ArpQueueFull => ("arp pending queue full, packet dropped", true),
    ArpResolutionFailed => ("arp resolution failed, packet dropped", true),
    ArpMartian => ("arp sender martian or our own address, ignored", true),
    Ip4Truncated => ("ip4 truncated header", true),
    Ip4BadVersion => ("ip4 bad version", true),
    Ip4Malformed => ("ip4 malformed header", true),
    Ip4BadChecksum => ("ip4 bad header checksum", true),
    Ip4Fragment => ("ip4 fragment dropped (no reassembly)", true),
    Ip4MartianSrcThisNetwork => ("ip4 martian source 0.0.0.0/8", true),
    Ip4MartianSrcLoopback => ("ip4 martian source loopback", true),
    Ip4MartianSrcMulticast => ("ip4 martian source multicast", true),
    Ip4MartianSrcBroadcast => ("ip4 martian source broadcast (limited or subnet)", true),
    Ip4MartianSrcReserved => ("ip4 martian source 240.0.0.0/4", true),
    Ip4MartianSrcOurs => ("ip4 martian source our own address (land)", true),
    Ip4MartianDst => ("ip4 martian destination (0.0.0.0/8, loopback, 240.0.0.0/4)", true),
    Ip4SourceRoute => ("ip4 source route option (lsrr/ssrr) dropped", true),
    Ip4BadOptions => ("ip4 malformed options", true),
    Ip4NotLocal => ("ip4 destination not local", true),
    Ip4UnknownProtocol => ("ip4 unknown protocol", true),
    Ip4NoRoute => ("ip4 no route to destination", true),
    Ip4LocalDelivered => ("ip4 delivered locally", false),
    Ip4OutputMalformed => ("ip4 output packet malformed, dropped", true),
    Ip4OutputMartian => ("ip4 output to a martian, broadcast or own next hop, dropped", true),
    IcmpMalformed => ("icmp malformed", true),
    IcmpBadChecksum => ("icmp bad checksum", true),
    IcmpUnhandledType => ("icmp type not handled", true),
    IcmpEchoRequests => ("icmp echo requests received", false),
    IcmpEchoReplies => ("icmp echo replies sent", false),
    IcmpPingReplies => ("icmp echo replies received (node ping)", false),
    IcmpUnreachSent => ("icmp destination unreachable sent", false),
    IcmpRateLimited => ("icmp error not sent (rate limit)", true),
    UdpMalformed => ("udp malformed", true),
    UdpBadChecksum => ("udp bad checksum", true),
    UdpNoListener => ("udp no listener (port unreachable)", true),
    UdpRxDatagrams => ("udp datagrams received", false),
    UdpTxDatagrams => ("udp datagrams sent", false),
    UdpTxTooBig => ("udp datagram larger than the mtu, not sent", true),
    UdpIdleClosed => ("udp sessions closed after idle timeout", false),
    UdpEvictedSource => ("udp session evicted for a new one (per-source limit)", true),
    UdpEvictedListener => ("udp session evicted for a new one (per-listener limit)", true),
    UdpEvictedMemory => ("udp session evicted early (fifo memory pressure)", true),
    UdpEvictedIdle => ("udp session closed early (idle under pressure)", true),
    UdpRefusedSource => ("udp new session refused (per-source limit)", true),
    UdpRefusedListener => ("udp new session refused (per-listener limit)", true),
    UdpRefusedMemory => ("udp new session refused (fifo memory limit)", true),
    UdpFifoGrown => ("udp session fifos grown on use", false),
    UdpFifoGrowFailed => ("udp session fifos not grown (memory), kept small", true),
    UdpFifoBytes => ("udp fifo bytes held by sessions from the network (now)", false),
    UdpFifoBytesPeak => ("udp fifo bytes held by sessions from the network (peak)", false),
    SessionRxFifoFull => ("session rx fifo full, data dropped", true),
    SessionFifoAllocFailed => ("session fifo allocation failed", true),
    SessionAppNotReady => ("session app not registered on worker", true),
    TcpMalformed => ("tcp malformed", true),
    TcpBadChecksum => ("tcp bad checksum", true),
    TcpNoListener => ("tcp no listener (reset)", true),
    TcpSynDropped => ("tcp syn dropped (backlog full, cookies off)", true),
    FaultDropped => ("fault injection: packet dropped", false),
    FaultDuplicated => ("fault injection: packet duplicated", false),
    FaultReordered => ("fault injection: packet reordered", false),
    IdleSleeps => ("idle sleeps", false),
}

/// Number of counters.
pub const COUNT: usize = Counter::ALL.len();

/// One worker's counters.
pub struct Counters {
    vals: [AtomicU64; COUNT],
}

impl Default for Counters {
    fn default() -> Self {
        Counters { vals: std::array::from_fn(|_| AtomicU64::new(0)) }
    }
}

impl Counters {
    /// Add `n` to counter `c`. Only the owning worker may call this: it is a
    /// load and a store, not an atomic add.
    #[inline]
    pub fn add(&self, c: Counter, n: u64) {
        let v = &self.vals[c as usize];
        v.store(v.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    /// Set counter `c` to `v`: for the few that are levels, not counts
    /// (owner only, see [`Counters::add`]).
    #[inline]
    pub fn set(&self, c: Counter, v: u64) {
        self.vals[c as usize].store(v, Ordering::Relaxed);
    }

    /// Add one to counter `c` (owner only, see [`Counters::add`]).
    #[inline]
    pub fn inc(&self, c: Counter) {
        self.add(c, 1);
    }

    /// Read counter `c` (any thread).
    #[inline]
    pub fn get(&self, c: Counter) -> u64 {
        self.vals[c as usize].load(Ordering::Relaxed)
    }

    /// Zero every counter (`clear errors`); racy against the owner by design,
    /// like VPP's: a concurrent increment may survive.
    pub fn clear(&self) {
        for v in &self.vals {
            v.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn names_are_unique_and_counters_count() {
        let mut names: Vec<_> = Counter::ALL.iter().map(|c| c.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), COUNT);
        let c = Counters::default();
        c.inc(Counter::Ip4BadChecksum);
        c.add(Counter::Ip4BadChecksum, 2);
        assert_eq!(c.get(Counter::Ip4BadChecksum), 3);
        assert_eq!(c.get(Counter::RxPackets), 0);
        assert!(Counter::Ip4BadChecksum.is_error());
        assert!(!Counter::RxPackets.is_error());
        c.clear();
        assert_eq!(c.get(Counter::Ip4BadChecksum), 0);
    }
}
