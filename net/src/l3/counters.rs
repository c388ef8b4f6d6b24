//! The L2/L3 counters of a worker: every drop has a name and a cause.
//!
//! Declared here, next to the code that counts them ([`crate::l3`] and the
//! devices under it), with the shared `counters!` macro; each layer declares
//! its own set the same way (fault injection in [`crate::fault`], the poll
//! loop in the DPDK layer, UDP, TCP input and the session layer in
//! `session`).
//! Each worker owns one [`Counters`] block and is its only writer; the main
//! thread reads all blocks for `show errors`, `show counters` and `show
//! threads`.

counters::counters! {
    /// An L2/L3 counter.
    pub enum Counter {
        RxPackets => ("rx packets", false),
        TxPackets => ("tx packets", false),
        TxQueueFull => ("tx queue full, packet dropped", true),
        TxBackpressure => ("tx queue full, transport waited", false),
        TxLinkDown => ("tx link down, packet dropped", true),
        MbufAllocFailed => ("mbuf allocation failed", true),
        TsoSegmentsOut => ("tcp large segments to the nic (tso)", false),
        GsoSegmentsCut => ("tcp large segments cut in software (gso)", false),
        GsoFramesOut => ("gso frames out", false),
        GsoNoBuffer => ("gso piece dropped, no mbuf (tcp retransmits)", true),
        LargeMalformed => ("tcp large segment malformed (internal), dropped", true),
        EthTruncated => ("ethernet frame truncated", true),
        EthUnknownType => ("ethernet unknown ethertype", true),
        EthNotForUs => ("ethernet destination not ours", true),
        EthMultiSegment => ("chained packet not taken (headers past the first segment, over 16 segments, not ipv4 tcp, or a fragment)", true),
        RxChained => ("rx chained", false),
        TxChained => ("tx chained", false),
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
        Ip6Truncated => ("ip6 truncated (shorter than header or payload length)", true),
        Ip6BadVersion => ("ip6 bad version", true),
        Ip6MartianSrc => ("ip6 martian source (multicast, loopback or our own)", true),
        Ip6NotLocal => ("ip6 destination not local", true),
        Ip6ExtTruncated => ("ip6 extension header or option truncated", true),
        Ip6ExtMalformed => ("ip6 hop-by-hop header not first", true),
        Ip6RoutingHeader => ("ip6 routing header with segments left dropped", true),
        Ip6UnknownOption => ("ip6 unknown option whose type says discard", true),
        Ip6TooManyHeaders => ("ip6 too many extension headers", true),
        Ip6TransportNotYet => ("ip6 udp/tcp dropped (no ip6 transport above)", true),
        Ip6LocalDelivered => ("ip6 udp/tcp delivered to the transports", false),
        Ip6OutputNoInterface => ("ip6 udp/tcp output from an address no interface owns", true),
        Ip6OutputMalformed => ("ip6 udp/tcp output malformed (internal)", true),
        Ip6NoNextHeader => ("ip6 no next header", false),
        Ip6UnknownNextHeader => ("ip6 unknown next header", true),
        Icmp6BadChecksum => ("icmp6 bad checksum", true),
        Icmp6Malformed => ("icmp6 malformed", true),
        Icmp6UnhandledType => ("icmp6 type not handled", true),
        Icmp6EchoRequests => ("icmp6 echo requests received", false),
        Icmp6EchoReplies => ("icmp6 echo replies sent", false),
        Icmp6EchoRepliesIn => ("icmp6 echo replies received (node ping)", false),
        Icmp6EchoMulticastIgnored => ("icmp6 echo request to a group not answered", false),
        Icmp6ErrorsSent => ("icmp6 errors sent (parameter problem)", false),
        Icmp6ErrorsIn => ("icmp6 errors received", false),
        NdpBadHopLimit => ("ndp hop limit not 255", true),
        NdpInvalid => ("ndp invalid for its addresses (rfc 4861 6.1, 7.1)", true),
        NdpNotForUs => ("ndp solicitation target not ours", false),
        NdpSolicitsIn => ("ndp neighbour solicitations received", false),
        NdpSolicitsOut => ("ndp neighbour solicitations sent", false),
        NdpAdvertsIn => ("ndp neighbour advertisements received", false),
        NdpAdvertsOut => ("ndp neighbour advertisements sent", false),
        NdpRouterIgnored => ("ndp router solicitation/advertisement ignored", false),
        NdpUnsolicitedAdvertsOut => ("ndp unsolicited advertisements sent", false),
        NdpTargetTentative => ("ndp solicitation for a tentative address not answered", false),
        Ip6DadProbesOut => ("ip6 dad probes sent", false),
        Ip6DadPreferred => ("ip6 dad addresses preferred", false),
        Ip6DadDuplicate => ("ip6 dad duplicate address detected", true),
        Ip6DadConflict => ("ip6 dad advertisement for an address in use", true),
        Ip6NoRoute => ("ip6 no route to destination (or no usable source)", true),
        NdQueueFull => ("ip6 neighbour queue full, packet dropped", true),
        ReasmFragments => ("reassembly fragments received", false),
        ReasmReassembled => ("reassembly datagrams completed", false),
        ReasmTimeout => ("reassembly timed out, datagram dropped", true),
        ReasmOverlap => ("reassembly ip6 overlapping fragment, datagram dropped", true),
        ReasmOverlapIgnored => ("reassembly ip4 overlapping bytes ignored (first copy kept)", false),
        ReasmDuplicate => ("reassembly duplicate fragment dropped", true),
        ReasmDeadDatagram => ("reassembly fragment of a discarded datagram dropped", true),
        ReasmMemoryCap => ("reassembly memory cap reached, fragment dropped", true),
        ReasmTooManyDatagrams => ("reassembly too many datagrams in progress, fragment dropped", true),
        ReasmTooManyFragments => ("reassembly too many fragments, datagram dropped", true),
        ReasmTooLarge => ("reassembly datagram over 65535 bytes, dropped", true),
        ReasmBadLength => ("reassembly non-last fragment not a multiple of 8 bytes", true),
        ReasmInconsistent => ("reassembly fragment past the end or second end, datagram dropped", true),
        ReasmHeaderTooLong => ("reassembly header longer than the room for it, dropped", true),
        ReasmTooBigForBuffer => ("reassembled tcp (not udp, not an echo) datagram larger than one buffer, dropped", true),
        ReasmLargeDelivered => ("reassembled udp datagram larger than one buffer, delivered from the heap copy", false),
        FragmentsOut => ("ip fragments sent (datagrams over the mtu)", false),
        FragmentFailed => ("ip datagram over the mtu not fragmentable, dropped", true),
        Icmp6TimeExceededSent => ("icmp6 time exceeded sent (reassembly timeout)", false),
        Icmp6UnreachSent => ("icmp6 destination unreachable sent", false),
        Icmp6PacketTooBigIn => ("icmp6 packet too big received (for path mtu)", false),
        Icmp6PacketTooBigBogus => ("icmp6 packet too big not quoting our packet, ignored", true),
        Icmp6PmtuQueueFull => ("icmp/icmp6 path mtu report not passed on (queue full)", true),
        IcmpFragNeededIn => ("icmp fragmentation needed received (for path mtu)", false),
        IcmpFragNeededBogus => ("icmp fragmentation needed not quoting our packet, ignored", true),
        NdResolutionFailed => ("ip6 neighbour resolution failed, packet dropped", true),
    }
}

/// The L3 counter that mirrors reassembly counter `c` (the reassembler
/// counts privately; the worker copies its increments here).
pub const fn reasm_counter(c: crate::reassembly::ReasmCounter) -> Counter {
    use crate::reassembly::ReasmCounter as R;
    match c {
        R::Fragments => Counter::ReasmFragments,
        R::Reassembled => Counter::ReasmReassembled,
        R::Timeout => Counter::ReasmTimeout,
        R::Overlap => Counter::ReasmOverlap,
        R::OverlapIgnored => Counter::ReasmOverlapIgnored,
        R::Duplicate => Counter::ReasmDuplicate,
        R::DeadDatagram => Counter::ReasmDeadDatagram,
        R::MemoryCap => Counter::ReasmMemoryCap,
        R::TooManyDatagrams => Counter::ReasmTooManyDatagrams,
        R::TooManyFragments => Counter::ReasmTooManyFragments,
        R::TooLarge => Counter::ReasmTooLarge,
        R::BadLength => Counter::ReasmBadLength,
        R::Inconsistent => Counter::ReasmInconsistent,
        R::HeaderTooLong => Counter::ReasmHeaderTooLong,
    }
}

/// Number of counters.
pub const COUNT: usize = Counter::COUNT;

/// One worker's L2/L3 counters.
pub type Counters = counters::AtomicCounters<Counter, COUNT>;

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
