//! IPv6 in a worker's L2/L3, first stage: each interface's link-local
//! address (EUI-64 from its MAC), input validation and the
//! extension-header chain, neighbour discovery (answering solicitations
//! for our address, resolving neighbours through [`NdCache`] with packets
//! queued meanwhile) and ICMPv6 echo, answered in place like ICMPv4's.
//! UDP/TCP go up to the transports and come down through [`super::ip6_l4`].
//!
//! Not yet here (issue 12): configured addresses and their DAD (they
//! belong in the shared interface table, which is being moved), routes,
//! reassembly (fragments are counted and dropped; atomic fragments are
//! processed), and the ICMPv6 errors other than parameter problem
//! (unreachable, packet too big, time exceeded).

use std::net::Ipv6Addr;

use super::counters::Counter;
use super::{write_eth, ETH, L3};
use crate::device::{Device, PacketBuf};
use crate::nd_cache::{NdCache, NdConfig, NdEnqueue};
use crate::tables::NetTables;
use smallvec::SmallVec;
use wire::ethernet::{Address as MacAddress, EtherType};
use wire::ipv6::{self, next_header, ChainError};
use wire::ndp::{self, NeighborFlags};
use wire::{icmpv6, Error as WireError};

/// Hop limit of the packets the node originates (other than NDP's 255).
pub const DEFAULT_HOP_LIMIT: u8 = 64;

/// One interface's IPv6 state on one worker.
pub struct Ip6Iface<B> {
    /// The link-local address, from the interface's MAC.
    pub link_local: Ipv6Addr,
    /// The neighbour cache.
    pub nd: NdCache<B>,
}

impl<D: Device> L3<D> {
    /// The IPv6 state of `iface`, made on first use (its MAC is in the
    /// shared tables, which `L3::new` does not see).
    fn ip6_iface(&mut self, net: &NetTables, iface: usize) -> &mut Ip6Iface<D::Buf> {
        while self.ip6.len() <= iface {
            let i = self.ip6.len();
            let mac = net.interfaces.get(i).map_or(MacAddress::UNSPECIFIED, |f| f.mac);
            let seed = u64::from_be_bytes([0, 0, mac.0[0], mac.0[1], mac.0[2], mac.0[3], mac.0[4], mac.0[5]]);
            let nd = NdCache::new(NdConfig { seed: seed ^ (self.worker as u64) << 48, ..NdConfig::default() });
            self.ip6.push(Ip6Iface { link_local: ipv6::link_local_from_mac(mac), nd });
        }
        &mut self.ip6[iface]
    }

    /// The link-local address of `iface`.
    pub fn ip6_link_local(&mut self, net: &NetTables, iface: usize) -> Ipv6Addr {
        self.ip6_iface(net, iface).link_local
    }

    /// Whether an Ethernet destination is a group this interface listens
    /// to: all-nodes and our solicited-node group.
    pub(super) fn ip6_accepts_mac(&mut self, net: &NetTables, iface: usize, dst: MacAddress) -> bool {
        let ll = self.ip6_iface(net, iface).link_local;
        dst == ipv6::multicast_mac(ipv6::ALL_NODES) || dst == ipv6::multicast_mac(ipv6::solicited_node(ll))
    }

    /// IPv6 input: validate, walk the extension headers, answer NDP and
    /// echo; everything else is counted and dropped for now.
    pub(super) fn ip6_input(&mut self, net: &NetTables, iface: usize, mut m: D::Buf) {
        let ll = self.ip6_iface(net, iface).link_local;
        // Err: the chain was refused; with a parameter problem to send
        // (code, pointer, also when sent to a group) if it deserves one.
        type Problem = Option<(u8, usize, bool)>;
        let parsed: Result<_, (Ipv6Addr, Ipv6Addr, usize, Problem)> = {
            let p = match ipv6::Packet::new_checked(&m.data()[ETH..]) {
                Ok(p) => p,
                Err(WireError::BadVersion) => return self.counters.inc(Counter::Ip6BadVersion),
                Err(_) => return self.counters.inc(Counter::Ip6Truncated),
            };
            let (src, dst) = (p.src_addr(), p.dst_addr());
            if ipv6::martian_source(src).is_some() {
                return self.counters.inc(Counter::Ip6MartianSrc);
            }
            if src == ll {
                return self.counters.inc(Counter::Ip6MartianSrc);
            }
            if dst != ll && dst != ipv6::ALL_NODES && dst != ipv6::solicited_node(ll) {
                return self.counters.inc(Counter::Ip6NotLocal);
            }
            let chain = match ipv6::walk_chain(p.datagram()) {
                Ok(c) => c,
                Err(e) => {
                    let (counter, answer) = match e {
                        ChainError::Truncated => (Counter::Ip6ExtTruncated, None),
                        ChainError::TooManyHeaders => (Counter::Ip6TooManyHeaders, None),
                        // RFC 8200 4.1: answered as an unrecognised next header.
                        ChainError::HopByHopNotFirst { pointer } => (
                            Counter::Ip6ExtMalformed,
                            Some((icmpv6::param_problem::UNRECOGNIZED_NEXT_HEADER, pointer, false)),
                        ),
                        ChainError::RoutingHeader { pointer, .. } => {
                            (Counter::Ip6RoutingHeader, Some((icmpv6::param_problem::ERRONEOUS_FIELD, pointer, false)))
                        }
                        ChainError::UnknownOption { action, pointer } => {
                            let code = icmpv6::param_problem::UNRECOGNIZED_OPTION;
                            let answer = match action {
                                ipv6::UnknownOptionAction::DiscardSendError => Some((code, pointer, true)),
                                ipv6::UnknownOptionAction::DiscardSendErrorUnicast => Some((code, pointer, false)),
                                _ => None,
                            };
                            (Counter::Ip6UnknownOption, answer)
                        }
                    };
                    self.counters.inc(counter);
                    return self.ip6_refused(net, iface, &m, (src, dst, p.datagram().len(), answer));
                }
            };
            Ok((src, dst, p.hop_limit(), chain, p.datagram().len()))
        };
        let (src, dst, hop_limit, chain, total) = match parsed {
            Ok(v) => v,
            Err(e) => return self.ip6_refused(net, iface, &m, e),
        };
        if chain.fragment.is_some_and(|f| !f.is_atomic()) {
            return self.counters.inc(Counter::Ip6Fragment);
        }
        // Drop Ethernet padding so ICMPv6 sees exactly its message.
        let want = ETH + total;
        if m.len() > want {
            m.trim(m.len() - want);
        }
        match chain.upper {
            next_header::ICMPV6 => self.icmp6_input(net, iface, m, ETH + chain.offset, src, dst, hop_limit),
            next_header::UDP | next_header::TCP => {
                self.ip6_deliver(iface, m, ETH + chain.offset, src, dst, chain.upper)
            }
            next_header::NO_NEXT => self.counters.inc(Counter::Ip6NoNextHeader),
            _ => {
                self.counters.inc(Counter::Ip6UnknownNextHeader);
                if !dst.is_multicast() {
                    let pointer = chain.next_header_pointer as u32;
                    let code = icmpv6::param_problem::UNRECOGNIZED_NEXT_HEADER;
                    self.icmp6_error(net, iface, &m, total, src, dst, icmpv6::Repr::ParamProblem { code, pointer });
                }
            }
        }
    }

    /// A packet whose extension headers were refused: send the parameter
    /// problem it deserves, if any.
    fn ip6_refused(
        &mut self,
        net: &NetTables,
        iface: usize,
        m: &D::Buf,
        e: (Ipv6Addr, Ipv6Addr, usize, Option<(u8, usize, bool)>),
    ) {
        let (src, dst, total, problem) = e;
        if let Some((code, pointer, to_group_too)) = problem {
            if to_group_too || !dst.is_multicast() {
                let err = icmpv6::Repr::ParamProblem { code, pointer: pointer as u32 };
                self.icmp6_error(net, iface, m, total, src, dst, err);
            }
        }
    }

    /// Answer the packet in `m` (an IPv6 datagram of `total` bytes after
    /// the Ethernet header, from `src` to `dst`) with an ICMPv6 error,
    /// quoting as much of it as fits in the minimum MTU (RFC 4443 2.4).
    /// Rate limited with the ICMPv4 errors; never to `::` or a group.
    #[allow(clippy::too_many_arguments)]
    fn icmp6_error(
        &mut self,
        net: &NetTables,
        iface: usize,
        m: &D::Buf,
        total: usize,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        err: icmpv6::Repr,
    ) {
        if src.is_unspecified() || src.is_multicast() {
            return;
        }
        if !self.icmp_tokens.take(self.now_ns) {
            return self.counters.inc(Counter::IcmpRateLimited);
        }
        let ours = if dst.is_multicast() { self.ip6_iface(net, iface).link_local } else { dst };
        let quote = total.min(icmpv6::MAX_ERROR_QUOTE_LEN).min(m.len().saturating_sub(ETH));
        let Some(mut out) = self.dev.alloc() else {
            return self.counters.inc(Counter::MbufAllocFailed);
        };
        let len = icmpv6::HEADER_LEN + quote;
        let Some(buf) = out.append(ipv6::HEADER_LEN + len) else {
            return self.counters.inc(Counter::MbufAllocFailed);
        };
        let ip = ipv6::Repr {
            src_addr: ours,
            dst_addr: src,
            next_header: next_header::ICMPV6,
            payload_len: len,
            hop_limit: DEFAULT_HOP_LIMIT,
            traffic_class: 0,
            flow_label: 0,
        };
        ip.emit(&mut ipv6::Packet::new_unchecked(&mut buf[..ipv6::HEADER_LEN]));
        let body = &mut buf[ipv6::HEADER_LEN..];
        body[icmpv6::HEADER_LEN..].copy_from_slice(&m.data()[ETH..ETH + quote]);
        err.emit(&ours, &src, &mut icmpv6::Packet::new_unchecked(body));
        self.counters.inc(Counter::Icmp6ErrorsSent);
        self.ip6_output(net, iface, out, src);
    }

    #[allow(clippy::too_many_arguments)]
    fn icmp6_input(
        &mut self,
        net: &NetTables,
        iface: usize,
        mut m: D::Buf,
        l4: usize,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        hop_limit: u8,
    ) {
        let repr = match icmpv6::Packet::new_checked(&m.data()[l4..]).and_then(|p| icmpv6::Repr::parse(&p, &src, &dst))
        {
            Ok(r) => r,
            Err(WireError::BadChecksum) => return self.counters.inc(Counter::Icmp6BadChecksum),
            Err(_) => return self.counters.inc(Counter::Icmp6Malformed),
        };
        let ll = self.ip6_iface(net, iface).link_local;
        let our_mac = net.interfaces[iface].mac;
        let frame_src = MacAddress::from_bytes(&m.data()[6..12]);
        match repr {
            icmpv6::Repr::EchoRequest { .. } => {
                self.counters.inc(Counter::Icmp6EchoRequests);
                if dst.is_multicast() {
                    return self.counters.inc(Counter::Icmp6EchoMulticastIgnored);
                }
                let data = m.data_mut();
                write_eth(data, frame_src, our_mac, EtherType::Ipv6);
                {
                    let mut ip = ipv6::Packet::new_unchecked(&mut data[ETH..]);
                    ip.set_src_addr(dst);
                    ip.set_dst_addr(src);
                    ip.set_hop_limit(DEFAULT_HOP_LIMIT);
                }
                let mut ic = icmpv6::Packet::new_unchecked(&mut data[l4..]);
                ic.set_msg_type(icmpv6::ECHO_REPLY);
                ic.fill_checksum(&dst, &src);
                self.counters.inc(Counter::Icmp6EchoReplies);
                self.tx_push(iface, m);
            }
            icmpv6::Repr::EchoReply { .. } => self.counters.inc(Counter::Icmp6EchoRepliesIn),
            r if r.is_error() => self.counters.inc(Counter::Icmp6ErrorsIn),
            icmpv6::Repr::Ndp(n) => {
                if let Err(e) = ndp::check_ip(&n, &src, &dst, hop_limit) {
                    return self.counters.inc(match e {
                        ndp::Invalid::HopLimit => Counter::NdpBadHopLimit,
                        _ => Counter::NdpInvalid,
                    });
                }
                self.ndp_input(net, iface, n, src, frame_src, ll)
            }
            _ => self.counters.inc(Counter::Icmp6UnhandledType),
        }
    }

    fn ndp_input(
        &mut self,
        net: &NetTables,
        iface: usize,
        n: ndp::Repr,
        src: Ipv6Addr,
        frame_src: MacAddress,
        ll: Ipv6Addr,
    ) {
        let now = self.now_ns;
        match n {
            ndp::Repr::NeighborSolicit { target, lladdr } => {
                self.counters.inc(Counter::NdpSolicitsIn);
                if target != ll {
                    return self.counters.inc(Counter::NdpNotForUs);
                }
                if src.is_unspecified() {
                    // Someone checks our address: defend it (RFC 4861 7.2.4).
                    let flags = NeighborFlags { router: false, solicited: false, override_: true };
                    let to = ipv6::multicast_mac(ipv6::ALL_NODES);
                    return self.na_send(net, iface, ll, ipv6::ALL_NODES, to, flags);
                }
                if let Some(mac) = lladdr {
                    let released = self.ip6_iface(net, iface).nd.on_source_lladdr(src, mac, now);
                    self.ip6_send_released(net, iface, released, mac);
                }
                let flags = NeighborFlags { router: false, solicited: true, override_: true };
                self.na_send(net, iface, ll, src, lladdr.unwrap_or(frame_src), flags);
            }
            ndp::Repr::NeighborAdvert { flags, target, lladdr } => {
                self.counters.inc(Counter::NdpAdvertsIn);
                let released = self.ip6_iface(net, iface).nd.on_advert(target, lladdr, flags, now);
                if let Some(mac) = lladdr {
                    self.ip6_send_released(net, iface, released, mac);
                }
            }
            ndp::Repr::RouterSolicit { .. } | ndp::Repr::RouterAdvert { .. } => {
                self.counters.inc(Counter::NdpRouterIgnored)
            }
        }
    }

    fn ip6_send_released(&mut self, net: &NetTables, iface: usize, pkts: SmallVec<[D::Buf; 16]>, mac: MacAddress) {
        for p in pkts {
            self.eth_output(net, iface, p, mac, EtherType::Ipv6);
        }
    }

    /// Send a neighbour advertisement for `target` to `dst` (Ethernet `to`).
    fn na_send(
        &mut self,
        net: &NetTables,
        iface: usize,
        target: Ipv6Addr,
        dst: Ipv6Addr,
        to: MacAddress,
        flags: NeighborFlags,
    ) {
        let ll = target;
        let n = ndp::Repr::NeighborAdvert { flags, target, lladdr: Some(net.interfaces[iface].mac) };
        if self.ndp_send(net, iface, ll, dst, to, n) {
            self.counters.inc(Counter::NdpAdvertsOut);
        }
    }

    /// Send a neighbour solicitation for `target`: multicast to its
    /// solicited-node group while resolving, unicast to `unicast` when probing.
    fn ns_send(&mut self, net: &NetTables, iface: usize, target: Ipv6Addr, unicast: Option<MacAddress>) {
        let ll = self.ip6_iface(net, iface).link_local;
        let (dst, to) = match unicast {
            Some(mac) => (target, mac),
            None => {
                let g = ipv6::solicited_node(target);
                (g, ipv6::multicast_mac(g))
            }
        };
        let n = ndp::Repr::NeighborSolicit { target, lladdr: Some(net.interfaces[iface].mac) };
        if self.ndp_send(net, iface, ll, dst, to, n) {
            self.counters.inc(Counter::NdpSolicitsOut);
        }
    }

    fn ndp_send(
        &mut self,
        net: &NetTables,
        iface: usize,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        to: MacAddress,
        n: ndp::Repr,
    ) -> bool {
        let icmp = icmpv6::Repr::Ndp(n);
        let len = icmp.buffer_len();
        let Some(mut m) = self.dev.alloc() else {
            self.counters.inc(Counter::MbufAllocFailed);
            return false;
        };
        let Some(buf) = m.append(ETH + ipv6::HEADER_LEN + len) else {
            self.counters.inc(Counter::MbufAllocFailed);
            return false;
        };
        write_eth(buf, to, net.interfaces[iface].mac, EtherType::Ipv6);
        let ip = ipv6::Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: next_header::ICMPV6,
            payload_len: len,
            hop_limit: ndp::HOP_LIMIT,
            traffic_class: 0,
            flow_label: 0,
        };
        ip.emit(&mut ipv6::Packet::new_unchecked(&mut buf[ETH..ETH + ipv6::HEADER_LEN]));
        icmp.emit(&src, &dst, &mut icmpv6::Packet::new_unchecked(&mut buf[ETH + ipv6::HEADER_LEN..]));
        self.tx_push(iface, m);
        true
    }

    /// Send an IPv6 packet (`m` starts at its IPv6 header) to an on-link
    /// `dst` out of `iface`: multicast straight to its group MAC, unicast
    /// through the neighbour cache (queued while resolving).
    pub fn ip6_output(&mut self, net: &NetTables, iface: usize, m: D::Buf, dst: Ipv6Addr) {
        if dst.is_multicast() {
            return self.eth_output(net, iface, m, ipv6::multicast_mac(dst), EtherType::Ipv6);
        }
        let now = self.now_ns;
        let st = self.ip6_iface(net, iface);
        if let Some(mac) = st.nd.resolve(dst, now) {
            return self.eth_output(net, iface, m, mac, EtherType::Ipv6);
        }
        match st.nd.enqueue(dst, m, now) {
            NdEnqueue::SendSolicit => self.ns_send(net, iface, dst, None),
            NdEnqueue::Queued => {}
            NdEnqueue::Dropped(p) => {
                drop(p);
                self.counters.inc(Counter::NdQueueFull);
            }
        }
    }

    /// Send an ICMPv6 echo request from our link-local address on `iface`.
    pub fn ping6_send(
        &mut self,
        net: &NetTables,
        iface: usize,
        dst: Ipv6Addr,
        ident: u16,
        seq: u16,
        size: usize,
    ) -> bool {
        if iface >= net.interfaces.len() {
            return false;
        }
        let src = self.ip6_iface(net, iface).link_local;
        let Some(mut m) = self.dev.alloc() else {
            self.counters.inc(Counter::MbufAllocFailed);
            return false;
        };
        let len = icmpv6::HEADER_LEN + size;
        let Some(buf) = m.append(ipv6::HEADER_LEN + len) else {
            self.counters.inc(Counter::MbufAllocFailed);
            return false;
        };
        let ip = ipv6::Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: next_header::ICMPV6,
            payload_len: len,
            hop_limit: DEFAULT_HOP_LIMIT,
            traffic_class: 0,
            flow_label: 0,
        };
        ip.emit(&mut ipv6::Packet::new_unchecked(&mut buf[..ipv6::HEADER_LEN]));
        let body = &mut buf[ipv6::HEADER_LEN..];
        for (i, b) in body[icmpv6::HEADER_LEN..].iter_mut().enumerate() {
            *b = i as u8;
        }
        icmpv6::Repr::EchoRequest { ident, seq_no: seq, data_len: size }.emit(
            &src,
            &dst,
            &mut icmpv6::Packet::new_unchecked(body),
        );
        self.ip6_output(net, iface, m, dst);
        true
    }

    /// Neighbour-cache timers of every interface (from [`L3::timers`]).
    pub(super) fn ip6_timers(&mut self, net: &NetTables) {
        for iface in 0..self.ip6.len() {
            let mut solicit: SmallVec<[(Ipv6Addr, Option<MacAddress>); 8]> = SmallVec::new();
            let mut failed = 0u64;
            let now = self.now_ns;
            self.ip6[iface].nd.poll(now, &mut |ip, mac| solicit.push((ip, mac)), &mut |p: D::Buf| {
                drop(p);
                failed += 1;
            });
            self.counters.add(Counter::NdResolutionFailed, failed);
            for (ip, mac) in solicit {
                self.ns_send(net, iface, ip, mac);
            }
        }
    }

    /// The neighbour entries of `iface` (for `show ip6 neighbors`).
    pub fn ip6_neighbors(&self, iface: usize) -> Vec<crate::nd_cache::NdEntryView> {
        self.ip6.get(iface).map(|s| s.nd.iter(self.now_ns).collect()).unwrap_or_default()
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::nd_cache::NdState;
    use crate::sim::{Link, LinkConfig, SimIface, SimNode, Sink};
    use std::net::Ipv4Addr;
    use wire::ipv4::Cidr;

    fn pair() -> (Link, SimNode, SimNode) {
        let link = Link::new(&LinkConfig::default());
        let iface = |end, last: u8| SimIface {
            end,
            mac: MacAddress([2, 0, 0, 0, 0, last]),
            ip4: Cidr::new(Ipv4Addr::new(198, 18, 0, last), 24).expect("prefix"),
        };
        let a = SimNode::new(vec![iface(link.a(), 1)]);
        let b = SimNode::new(vec![iface(link.b(), 2)]);
        (link, a, b)
    }

    fn run(now: &mut u64, ns: u64, a: &mut SimNode, b: &mut SimNode) {
        let (mut sa, mut sb) = (Sink::default(), Sink::default());
        let end = *now + ns;
        while *now < end {
            a.poll(*now, &mut sa, &());
            b.poll(*now, &mut sb, &());
            *now += 10_000;
        }
    }

    #[test]
    fn two_sim_nodes_ping_over_link_local_after_neighbour_discovery() {
        let (_link, mut a, mut b) = pair();
        let b_ll = b.l3.ip6_link_local(&b.net, 0);
        assert_eq!(b_ll, "fe80::ff:fe00:2".parse::<Ipv6Addr>().unwrap());
        let mut now = 1_000_000;
        a.l3.now_ns = now;
        for seq in 0..10 {
            assert!(a.l3.ping6_send(&a.net, 0, b_ll, 7, seq, 56));
        }
        run(&mut now, 1_000_000, &mut a, &mut b);
        let (ca, cb) = (&a.l3.counters, &b.l3.counters);
        // One solicitation resolved B; the ten queued requests went out.
        assert_eq!(ca.get(Counter::NdpSolicitsOut), 1);
        assert_eq!(cb.get(Counter::NdpSolicitsIn), 1);
        assert_eq!(cb.get(Counter::NdpAdvertsOut), 1);
        assert_eq!(cb.get(Counter::Icmp6EchoRequests), 10);
        assert_eq!(cb.get(Counter::Icmp6EchoReplies), 10);
        assert_eq!(ca.get(Counter::Icmp6EchoRepliesIn), 10);
        let na = a.l3.ip6_neighbors(0);
        assert_eq!(na.len(), 1);
        assert_eq!(
            (na[0].ip, na[0].mac, na[0].state),
            (b_ll, Some(MacAddress([2, 0, 0, 0, 0, 2])), NdState::Reachable)
        );
        // B learnt A from the solicitation's source link-layer option.
        let nb = b.l3.ip6_neighbors(0);
        assert_eq!((nb.len(), nb[0].state), (1, NdState::Stale));
        // More pings need no more solicitations while B is reachable.
        assert!(a.l3.ping6_send(&a.net, 0, b_ll, 7, 10, 56));
        run(&mut now, 1_000_000, &mut a, &mut b);
        assert_eq!(a.l3.counters.get(Counter::NdpSolicitsOut), 1);
        assert_eq!(a.l3.counters.get(Counter::Icmp6EchoRepliesIn), 11);
    }

    #[test]
    fn unanswered_resolution_fails_and_frees_the_queue() {
        let (_link, mut a, mut b) = pair();
        let nobody: Ipv6Addr = "fe80::99".parse().unwrap();
        let mut now = 1_000_000;
        a.l3.now_ns = now;
        assert!(a.l3.ping6_send(&a.net, 0, nobody, 7, 0, 8));
        run(&mut now, 4_000_000_000, &mut a, &mut b);
        let ca = &a.l3.counters;
        assert_eq!(ca.get(Counter::NdpSolicitsOut), 3);
        assert_eq!(ca.get(Counter::NdResolutionFailed), 1);
        assert!(a.l3.ip6_neighbors(0).is_empty());
        // B saw three solicitations for someone else, and answered none.
        assert_eq!(b.l3.counters.get(Counter::NdpNotForUs), 0, "not even delivered: another group");
    }

    /// B sends A an IPv6 packet with next header `nh` and `ext` after the
    /// fixed header, through B's own output path.
    fn send_raw(b: &mut SimNode, to: Ipv6Addr, nh: u8, ext: &[u8]) {
        let from = b.l3.ip6_link_local(&b.net, 0);
        let mut m = b.l3.alloc().expect("buffer");
        let buf = m.append(ipv6::HEADER_LEN + ext.len()).expect("room");
        ipv6::Repr {
            src_addr: from,
            dst_addr: to,
            next_header: nh,
            payload_len: ext.len(),
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
        }
        .emit(&mut ipv6::Packet::new_unchecked(&mut buf[..ipv6::HEADER_LEN]));
        buf[ipv6::HEADER_LEN..].copy_from_slice(ext);
        let net = std::mem::take(&mut b.net);
        b.l3.ip6_output(&net, 0, m, to);
        b.net = net;
    }

    #[test]
    fn unknown_next_header_and_options_get_a_parameter_problem() {
        let (_link, mut a, mut b) = pair();
        let a_ll = a.l3.ip6_link_local(&a.net, 0);
        let mut now = 1_000_000;
        b.l3.now_ns = now;
        // An unknown upper layer (200), after B resolved A.
        send_raw(&mut b, a_ll, 200, &[0; 8]);
        run(&mut now, 1_000_000, &mut a, &mut b);
        // Destination options with an unknown option whose type says
        // "discard and send a parameter problem" (0x9e), and one that says
        // "discard silently" (0x5e).
        send_raw(&mut b, a_ll, next_header::DEST_OPTS, &[next_header::NO_NEXT, 0, 0x9e, 4, 0, 0, 0, 0]);
        send_raw(&mut b, a_ll, next_header::DEST_OPTS, &[next_header::NO_NEXT, 0, 0x5e, 4, 0, 0, 0, 0]);
        // A routing header with segments left.
        send_raw(&mut b, a_ll, next_header::ROUTING, &[next_header::NO_NEXT, 0, 0, 1, 0, 0, 0, 0]);
        run(&mut now, 1_000_000, &mut a, &mut b);
        let (ca, cb) = (&a.l3.counters, &b.l3.counters);
        assert_eq!(ca.get(Counter::Ip6UnknownNextHeader), 1);
        assert_eq!(ca.get(Counter::Ip6UnknownOption), 2);
        assert_eq!(ca.get(Counter::Ip6RoutingHeader), 1);
        assert_eq!(ca.get(Counter::Icmp6ErrorsSent), 3, "not for the option that says discard silently");
        assert_eq!(cb.get(Counter::Icmp6ErrorsIn), 3);
        assert_eq!(cb.get(Counter::Icmp6BadChecksum), 0);
    }

    #[test]
    fn malformed_ipv6_is_counted_by_cause() {
        let (_link, mut a, _b) = pair();
        let a_ll = a.l3.ip6_link_local(&a.net, 0);
        let peer: Ipv6Addr = "fe80::ff:fe00:2".parse().unwrap();
        let frame = |ip6: &[u8]| {
            let mut f = vec![0u8; ETH];
            write_eth(&mut f, MacAddress([2, 0, 0, 0, 0, 1]), MacAddress([2, 0, 0, 0, 0, 2]), EtherType::Ipv6);
            f.extend_from_slice(ip6);
            crate::sim::SimBuf::from_bytes(&f)
        };
        let echo = |hop_limit: u8, nh: u8, extra: &[u8]| {
            let mut b = vec![0u8; 40];
            let body_len = extra.len() + 16;
            ipv6::Repr {
                src_addr: peer,
                dst_addr: a_ll,
                next_header: nh,
                payload_len: body_len,
                hop_limit,
                traffic_class: 0,
                flow_label: 0,
            }
            .emit(&mut ipv6::Packet::new_unchecked(&mut b[..]));
            b.extend_from_slice(extra);
            let mut ic = vec![0u8; 16];
            icmpv6::Repr::EchoRequest { ident: 1, seq_no: 1, data_len: 8 }.emit(
                &peer,
                &a_ll,
                &mut icmpv6::Packet::new_unchecked(&mut ic[..]),
            );
            b.extend_from_slice(&ic);
            b
        };
        let net = std::mem::take(&mut a.net);
        let mut feed = |bytes: &[u8]| {
            let _ = a.l3.input(&net, 0, frame(bytes));
        };
        let good = echo(64, next_header::ICMPV6, &[]);
        feed(&good);
        let mut bad_len = good.clone();
        bad_len[5] += 1;
        feed(&bad_len);
        let mut bad_version = good.clone();
        bad_version[0] = 0x40;
        feed(&bad_version);
        let mut bad_csum = good.clone();
        bad_csum[50] ^= 1;
        feed(&bad_csum);
        // A destination options header that claims more bytes than there are.
        feed(&echo(64, next_header::DEST_OPTS, &[next_header::ICMPV6, 9, 1, 4, 0, 0, 0, 0]));
        // A routing header with segments left.
        feed(&echo(64, next_header::ROUTING, &[next_header::ICMPV6, 0, 0, 1, 0, 0, 0, 0]));
        // An NS with hop limit 64.
        let mut ns = vec![0u8; 40];
        let n = icmpv6::Repr::Ndp(ndp::Repr::NeighborSolicit { target: a_ll, lladdr: None });
        ipv6::Repr {
            src_addr: peer,
            dst_addr: a_ll,
            next_header: next_header::ICMPV6,
            payload_len: n.buffer_len(),
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
        }
        .emit(&mut ipv6::Packet::new_unchecked(&mut ns[..]));
        let mut body = vec![0u8; n.buffer_len()];
        n.emit(&peer, &a_ll, &mut icmpv6::Packet::new_unchecked(&mut body[..]));
        ns.extend_from_slice(&body);
        feed(&ns);
        // Not for us.
        let mut other = good.clone();
        other[39] ^= 0x55;
        feed(&other);
        let c = &a.l3.counters;
        assert_eq!(c.get(Counter::Icmp6EchoReplies), 1);
        assert_eq!(c.get(Counter::Ip6Truncated), 1);
        assert_eq!(c.get(Counter::Ip6BadVersion), 1);
        assert_eq!(c.get(Counter::Icmp6BadChecksum), 1);
        assert_eq!(c.get(Counter::Ip6ExtTruncated), 1);
        assert_eq!(c.get(Counter::Ip6RoutingHeader), 1);
        assert_eq!(c.get(Counter::NdpBadHopLimit), 1);
        assert_eq!(c.get(Counter::Ip6NotLocal), 1);
    }
}
