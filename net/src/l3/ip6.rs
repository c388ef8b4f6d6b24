//! IPv6 in a worker's L2/L3: each interface's link-local address (EUI-64
//! from its MAC) and its configured addresses (the shared
//! [`Ip6Address`](crate::tables::Ip6Address)es, checked by duplicate
//! address detection, [`Dad`], when the port comes up), input validation
//! and the extension-header chain, neighbour discovery (answering
//! solicitations for our addresses, resolving neighbours through
//! [`NdCache`] with packets queued meanwhile), ICMPv6 echo answered in
//! place like ICMPv4's, routes ([`L3::ip6_route`]) and source selection
//! ([`L3::source_for6`]) for what the node originates.
//!
//! DAD runs on the worker the main thread tells ([`L3::defer_ip6_up`],
//! worker 0): it sends the probes and moves an address from tentative to
//! preferred; any worker that receives a conflicting probe or
//! advertisement marks it duplicate in the shared cell, so the state is
//! one for all workers without a lock.
//!
//! ICMPv6 errors: parameter problems for what input refuses, destination
//! unreachable for the transports ([`L3::icmp6_unreachable`]), time
//! exceeded for a reassembly timeout (in `frag`); a received packet too
//! big is passed to the transports ([`L3::take_pmtu6`]). Fragments are
//! reassembled (see `frag`). UDP/TCP go up to the transports and come
//! down through [`super::ip6_l4`].

use std::net::Ipv6Addr;

use super::counters::Counter;
use super::{write_eth, Deferred, ETH, L3};
use crate::dad::{Dad, DadConfig, DadEvent, DadState};
use crate::device::{Device, PacketBuf};
use crate::nd_cache::{NdCache, NdConfig, NdEnqueue};
use crate::tables::{Ip6Address, NetTables, PingReply};
use smallvec::SmallVec;
use wire::ethernet::{Address as MacAddress, EtherType};
use wire::ipv6::{self, next_header, ChainError};
use wire::ndp::{self, NeighborFlags};
use wire::{icmpv6, Error as WireError};

/// Packet-too-big reports kept for the transports between two
/// [`L3::take_pmtu6`] calls.
pub const PMTU_QUEUE: usize = 64;

/// A path MTU report from the network for the transports: the quoted
/// packet's addresses (ours first), its protocol (the fixed header's
/// next header for IPv6) and first 8 bytes of payload (zero-padded; ports
/// and sequence number for TCP), and the MTU reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PmtuReport {
    /// Our address (the quoted packet's source).
    pub src: std::net::IpAddr,
    /// The quoted packet's destination.
    pub dst: std::net::IpAddr,
    /// Its protocol / next header.
    pub protocol: u8,
    /// Its first 8 payload bytes (zeros where the quote was shorter).
    pub l4: [u8; 8],
    /// The MTU the router reported (IPv6: at least 1280).
    pub mtu: u32,
}

impl PmtuReport {
    /// A report quoting `l4` (cut or padded to 8 bytes).
    pub fn new(src: std::net::IpAddr, dst: std::net::IpAddr, protocol: u8, l4: &[u8], mtu: u32) -> PmtuReport {
        let mut b = [0u8; 8];
        let n = l4.len().min(8);
        b[..n].copy_from_slice(&l4[..n]);
        PmtuReport { src, dst, protocol, l4: b, mtu }
    }
}

/// Hop limit of the packets the node originates (other than NDP's 255).
pub const DEFAULT_HOP_LIMIT: u8 = 64;

/// One interface's IPv6 state on one worker.
pub struct Ip6Iface<B> {
    /// The link-local address, from the interface's MAC.
    pub link_local: Ipv6Addr,
    /// The neighbour cache.
    pub nd: NdCache<B>,
    /// DAD of the configured addresses (driven only on the worker that
    /// runs DAD for the interface; see the module doc).
    dad: Dad,
}

/// Where a packet the node originates for an IPv6 destination goes: out of
/// `iface` to `next_hop`, from `src` (see [`L3::source_for6`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ip6Path {
    /// Outgoing interface.
    pub iface: usize,
    /// Our source address (RFC 6724, simplified).
    pub src: Ipv6Addr,
    /// The neighbour to resolve: the destination, or the route's gateway.
    pub next_hop: Ipv6Addr,
}

/// The configured address `ip` of `iface`, if it has it.
fn configured(net: &NetTables, iface: usize, ip: Ipv6Addr) -> Option<&Ip6Address> {
    net.interfaces.get(iface)?.ip6.iter().find(|a| a.address() == ip)
}

impl<D: Device> L3<D> {
    /// The IPv6 state of `iface`, made on first use (its MAC is in the
    /// shared tables, which `L3::new` does not see).
    fn ip6_iface(&mut self, net: &NetTables, iface: usize) -> &mut Ip6Iface<D::Buf> {
        while self.ip6.len() <= iface {
            let i = self.ip6.len();
            let mac = net.interfaces.get(i).map_or(MacAddress::UNSPECIFIED, |f| f.mac);
            let seed = u64::from_be_bytes([0, 0, mac.0[0], mac.0[1], mac.0[2], mac.0[3], mac.0[4], mac.0[5]]);
            let seed = seed ^ (self.worker as u64) << 48;
            let nd = NdCache::new(NdConfig { seed, ..NdConfig::default() });
            let dad = Dad::new(DadConfig { seed: seed | 1, ..self.dad_config.clone() });
            self.ip6.push(Ip6Iface { link_local: ipv6::link_local_from_mac(mac), nd, dad });
        }
        &mut self.ip6[iface]
    }

    /// Forget the DAD state of every interface (the next port-up starts it
    /// with the current parameters).
    pub(super) fn ip6_reset_dad(&mut self) {
        for (i, s) in self.ip6.iter_mut().enumerate() {
            let seed = self.dad_config.seed ^ (i as u64) << 32 ^ (self.worker as u64) << 48;
            s.dad = Dad::new(DadConfig { seed: seed | 1, ..self.dad_config.clone() });
        }
    }

    /// The link-local address of `iface`.
    pub fn ip6_link_local(&mut self, net: &NetTables, iface: usize) -> Ipv6Addr {
        self.ip6_iface(net, iface).link_local
    }

    /// Whether an Ethernet destination is a group this interface listens
    /// to: all-nodes and the solicited-node groups of its link-local and
    /// configured addresses (tentative ones too: DAD listens there).
    pub(super) fn ip6_accepts_mac(&mut self, net: &NetTables, iface: usize, dst: MacAddress) -> bool {
        let ll = self.ip6_iface(net, iface).link_local;
        dst == ipv6::multicast_mac(ipv6::ALL_NODES)
            || dst == ipv6::multicast_mac(ipv6::solicited_node(ll))
            || net.interfaces[iface].ip6.iter().any(|a| dst == ipv6::multicast_mac(ipv6::solicited_node(a.address())))
    }

    /// Whether `dst` is an IPv6 destination `iface` takes: its link-local
    /// or a usable configured address, all-nodes, or one of its
    /// solicited-node groups.
    fn ip6_dst_accepted(net: &NetTables, iface: usize, ll: Ipv6Addr, dst: Ipv6Addr) -> bool {
        if dst == ll || dst == ipv6::ALL_NODES || dst == ipv6::solicited_node(ll) {
            return true;
        }
        let addrs = &net.interfaces[iface].ip6;
        if ipv6::is_solicited_node(dst) {
            addrs.iter().any(|a| ipv6::solicited_node(a.address()) == dst)
        } else {
            addrs.iter().any(|a| a.address() == dst && a.is_usable())
        }
    }

    /// Whether `ip` is one of this node's IPv6 addresses on `iface` that
    /// is in use (its link-local or a preferred configured one).
    pub fn ip6_is_local(&mut self, net: &NetTables, iface: usize, ip: Ipv6Addr) -> bool {
        iface < net.interfaces.len()
            && (self.ip6_iface(net, iface).link_local == ip
                || configured(net, iface, ip).is_some_and(|a| a.is_usable()))
    }

    /// Ask this worker to (re)start DAD for `iface`'s configured addresses
    /// and announce its link-local one (from an RPC, when the node starts
    /// and when the port's link comes up). Only one worker per interface
    /// should be asked: it is the one that sends the probes.
    pub fn defer_ip6_up(&mut self, iface: usize) {
        self.deferred.push(Deferred::Ip6Up { iface });
    }

    /// The port came up: every configured address is tentative again and
    /// DAD starts for it; the link-local address is announced at once.
    pub(super) fn ip6_port_up(&mut self, net: &NetTables, iface: usize) {
        if iface >= net.interfaces.len() {
            return;
        }
        let now = self.now_ns;
        let ll = self.ip6_iface(net, iface).link_local;
        for a in &net.interfaces[iface].ip6 {
            a.dad.set(DadState::Tentative);
            self.ip6[iface].dad.start(a.address(), now);
        }
        self.na_unsolicited(net, iface, ll);
    }

    /// An unsolicited advertisement of `target` to all-nodes, override
    /// set, so neighbours update a stale mapping (RFC 4861 7.2.6).
    fn na_unsolicited(&mut self, net: &NetTables, iface: usize, target: Ipv6Addr) {
        let flags = NeighborFlags { router: false, solicited: false, override_: true };
        let to = ipv6::multicast_mac(ipv6::ALL_NODES);
        self.na_send(net, iface, target, ipv6::ALL_NODES, to, flags);
        self.counters.inc(Counter::NdpUnsolicitedAdvertsOut);
    }

    /// A DAD probe (from `::`, no link-layer option) for `target`.
    fn ns_dad_send(&mut self, net: &NetTables, iface: usize, target: Ipv6Addr) {
        let g = ipv6::solicited_node(target);
        let n = ndp::Repr::NeighborSolicit { target, lladdr: None };
        if self.ndp_send(net, iface, Ipv6Addr::UNSPECIFIED, g, ipv6::multicast_mac(g), n) {
            self.counters.inc(Counter::Ip6DadProbesOut);
        }
    }

    /// Another node has (or is checking) our tentative `a`: it is a
    /// duplicate, on every worker; logged once, counted.
    fn ip6_dad_duplicate(&mut self, net: &NetTables, iface: usize, a: &Ip6Address, why: &str) {
        if a.dad.transition(DadState::Tentative, DadState::Duplicate) {
            self.counters.inc(Counter::Ip6DadDuplicate);
            if let Some(s) = self.ip6.get_mut(iface) {
                let _ = s.dad.on_advert(a.address());
            }
            tracing::warn!(
                "dpnode: {} on {}: duplicate address detected ({why}); not used",
                a.cidr,
                net.interfaces[iface].name
            );
        }
    }

    /// Events of the DAD timers of `iface`.
    fn ip6_dad_poll(&mut self, net: &NetTables, iface: usize) {
        let now = self.now_ns;
        if self.ip6[iface].dad.poll_at().is_none_or(|t| t > now) {
            return;
        }
        for ev in self.ip6[iface].dad.poll(now) {
            match ev {
                DadEvent::Solicit(ip) => self.ns_dad_send(net, iface, ip),
                DadEvent::Preferred(ip) => {
                    let Some(a) = configured(net, iface, ip) else { continue };
                    if a.dad.transition(DadState::Tentative, DadState::Preferred) {
                        self.counters.inc(Counter::Ip6DadPreferred);
                        self.na_unsolicited(net, iface, ip);
                    }
                }
                DadEvent::Duplicate(_) | DadEvent::Conflict(_) => {}
            }
        }
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
                Err(WireError::BadVersion) => return self.count_drop(Counter::Ip6BadVersion, iface, &m),
                Err(_) => return self.count_drop(Counter::Ip6Truncated, iface, &m),
            };
            let (src, dst) = (p.src_addr(), p.dst_addr());
            if ipv6::martian_source(src).is_some() {
                return self.count_drop(Counter::Ip6MartianSrc, iface, &m);
            }
            // Our own address as a source is a loop or a LAND attack; a
            // tentative one is not ours yet (its owner answers our DAD).
            if src == ll || configured(net, iface, src).is_some_and(|a| a.is_usable()) {
                return self.count_drop(Counter::Ip6MartianSrc, iface, &m);
            }
            if !Self::ip6_dst_accepted(net, iface, ll, dst) {
                return self.count_drop(Counter::Ip6NotLocal, iface, &m);
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
                    self.count_drop(counter, iface, &m);
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
            return self.ip6_fragment_input(net, iface, m, &chain, total);
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
            next_header::NO_NEXT => self.count_drop(Counter::Ip6NoNextHeader, iface, &m),
            _ => {
                self.count_drop(Counter::Ip6UnknownNextHeader, iface, &m);
                if !dst.is_multicast() {
                    let pointer = chain.next_header_pointer as u32;
                    let code = icmpv6::param_problem::UNRECOGNIZED_NEXT_HEADER;
                    let err = icmpv6::Repr::ParamProblem { code, pointer };
                    self.icmp6_error(net, iface, &m.data()[ETH..ETH + total], src, dst, err);
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
                let datagram = &m.data()[ETH..(ETH + total).min(m.len())];
                self.icmp6_error(net, iface, datagram, src, dst, err);
            }
        }
    }

    /// Answer `datagram` (an IPv6 packet from its fixed header on, from
    /// `src` to `dst`, received on `iface`) with an ICMPv6 error, quoting
    /// as much of it as fits in the minimum MTU (RFC 4443 2.4). Rate
    /// limited with the ICMPv4 errors; never to `::` or a group. Whether it
    /// was sent.
    pub(super) fn icmp6_error(
        &mut self,
        net: &NetTables,
        iface: usize,
        datagram: &[u8],
        src: Ipv6Addr,
        dst: Ipv6Addr,
        err: icmpv6::Repr,
    ) -> bool {
        if src.is_unspecified() || src.is_multicast() {
            return false;
        }
        if !self.icmp_tokens.take(self.now_ns) {
            self.counters.inc(Counter::IcmpRateLimited);
            return false;
        }
        let ours = if dst.is_multicast() { self.ip6_iface(net, iface).link_local } else { dst };
        let quote = datagram.len().min(icmpv6::MAX_ERROR_QUOTE_LEN);
        let Some(mut out) = self.dev.alloc() else {
            self.counters.inc(Counter::MbufAllocFailed);
            return false;
        };
        let len = icmpv6::HEADER_LEN + quote;
        let Some(buf) = out.append(ipv6::HEADER_LEN + len) else {
            self.counters.inc(Counter::MbufAllocFailed);
            return false;
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
        body[icmpv6::HEADER_LEN..].copy_from_slice(&datagram[..quote]);
        err.emit(&ours, &src, &mut icmpv6::Packet::new_unchecked(body));
        self.counters.inc(Counter::Icmp6ErrorsSent);
        self.ip6_output_routed(net, out, src, Some(iface));
        true
    }

    /// Answer `datagram` (an IPv6 packet from its fixed header on, received
    /// on `iface`) with a destination unreachable of `code`
    /// (`icmpv6::unreachable::PORT` for a closed UDP port): the transports'
    /// counterpart of [`L3::icmp_unreachable`]. Never for a packet to a
    /// group (RFC 4443 2.4 e.3); rate limited.
    pub fn icmp6_unreachable(&mut self, net: &NetTables, iface: usize, datagram: &[u8], code: u8) {
        let Ok(p) = ipv6::Packet::new_checked(datagram) else { return };
        let (src, dst) = (p.src_addr(), p.dst_addr());
        if dst.is_multicast() || iface >= net.interfaces.len() {
            return;
        }
        if self.icmp6_error(net, iface, p.datagram(), src, dst, icmpv6::Repr::DstUnreachable { code }) {
            self.counters.inc(Counter::Icmp6UnreachSent);
        }
    }

    /// The packet-too-big reports received since the last call, as
    /// (destination, MTU): for the transports' path MTU discovery (RFC
    /// 8201). Only reports quoting a packet from one of our addresses are
    /// kept (RFC 5927 4.1); MTUs under 1280 are raised to it; at most
    /// [`PMTU_QUEUE`] wait, more are counted and dropped.
    pub fn take_pmtu6(&mut self) -> std::vec::Drain<'_, PmtuReport> {
        self.pmtu6.drain(..)
    }

    /// One IPv4 "fragmentation needed" or IPv6 "packet too big" report
    /// received since the last call (see [`L3::take_pmtu6`]), for TCP's
    /// path MTU discovery.
    #[inline]
    pub fn pop_pmtu(&mut self) -> Option<PmtuReport> {
        self.pmtu6.pop()
    }

    /// A packet too big for us: pass its (destination, MTU) on.
    fn icmp6_packet_too_big(&mut self, net: &NetTables, iface: usize, quoted: &[u8], mtu: u32) {
        self.counters.inc(Counter::Icmp6PacketTooBigIn);
        // The quote is usually cut short of its payload: its fixed header
        // is all that is read.
        if quoted.len() < ipv6::HEADER_LEN || quoted[0] >> 4 != 6 {
            return self.counters.inc(Counter::Icmp6PacketTooBigBogus);
        }
        let inner = ipv6::Packet::new_unchecked(quoted);
        if !self.ip6_is_local(net, iface, inner.src_addr()) {
            return self.counters.inc(Counter::Icmp6PacketTooBigBogus);
        }
        let mtu = mtu.max(ipv6::MIN_MTU as u32);
        let l4 = &quoted[ipv6::HEADER_LEN..];
        let report = PmtuReport::new(inner.src_addr().into(), inner.dst_addr().into(), inner.next_header(), l4, mtu);
        self.pmtu_push(report);
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
            Err(WireError::BadChecksum) => return self.count_drop(Counter::Icmp6BadChecksum, iface, &m),
            Err(_) => return self.count_drop(Counter::Icmp6Malformed, iface, &m),
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
            icmpv6::Repr::EchoReply { ident, seq_no, data_len } => {
                self.counters.inc(Counter::Icmp6EchoRepliesIn);
                // The node's own ping waits for it.
                if let Some(w) = net.pings.iter().find(|w| w.ident == ident) {
                    let ic = icmpv6::Packet::new_unchecked(&m.data()[l4..]);
                    let payload = &ic.into_inner()[icmpv6::HEADER_LEN..];
                    let rtt_ns = match payload.get(..super::TIMESTAMP_LEN) {
                        Some(ts) => self.now_ns.saturating_sub(u64::from_be_bytes(ts.try_into().unwrap_or_default())),
                        None => 0,
                    };
                    let reply = PingReply { seq: seq_no, from: src.into(), ttl: hop_limit, bytes: data_len, rtt_ns };
                    let _ = w.tx.send(reply);
                }
            }
            icmpv6::Repr::PacketTooBig { mtu } => {
                self.counters.inc(Counter::Icmp6ErrorsIn);
                let quoted = &m.data()[(l4 + icmpv6::HEADER_LEN).min(m.len())..];
                self.icmp6_packet_too_big(net, iface, quoted, mtu);
            }
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
                    match configured(net, iface, target).map(|a| (a.dad.get(), a.clone())) {
                        Some((DadState::Preferred, _)) => {}
                        Some((DadState::Tentative, a)) => {
                            // RFC 4862 5.4.3: a probe from `::` means
                            // someone else wants it too; any other
                            // solicitation for it is dropped unanswered.
                            if src.is_unspecified() {
                                self.ip6_dad_duplicate(net, iface, &a, "another node probes it");
                            }
                            return self.counters.inc(Counter::NdpTargetTentative);
                        }
                        Some((DadState::Duplicate, _)) | None => return self.counters.inc(Counter::NdpNotForUs),
                    }
                }
                if src.is_unspecified() {
                    // Someone checks our address: defend it (RFC 4861 7.2.4).
                    let flags = NeighborFlags { router: false, solicited: false, override_: true };
                    let to = ipv6::multicast_mac(ipv6::ALL_NODES);
                    return self.na_send(net, iface, target, ipv6::ALL_NODES, to, flags);
                }
                // A static entry is not learnt over (nor shadowed by a
                // dynamic one).
                if let Some(mac) = lladdr.filter(|_| net.neighbors6.lookup(iface, src).is_none()) {
                    let released = self.ip6_iface(net, iface).nd.on_source_lladdr(src, mac, now);
                    self.ip6_send_released(net, iface, released, mac);
                }
                let flags = NeighborFlags { router: false, solicited: true, override_: true };
                self.na_send(net, iface, target, src, lladdr.unwrap_or(frame_src), flags);
            }
            ndp::Repr::NeighborAdvert { flags, target, lladdr } => {
                self.counters.inc(Counter::NdpAdvertsIn);
                if let Some(a) = configured(net, iface, target).cloned() {
                    // Someone advertises one of our addresses.
                    match a.dad.get() {
                        DadState::Tentative => self.ip6_dad_duplicate(net, iface, &a, "another node advertises it"),
                        DadState::Preferred => self.counters.inc(Counter::Ip6DadConflict),
                        DadState::Duplicate => {}
                    }
                    return;
                }
                if target == ll {
                    return self.counters.inc(Counter::Ip6DadConflict);
                }
                if net.neighbors6.lookup(iface, target).is_some() {
                    return;
                }
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

    /// A static entry for `ip` on `iface` was published: the ND cache's
    /// entry goes (deleting the static one later means soliciting again)
    /// and the packets that waited for it leave to the static MAC.
    pub(super) fn ip6_static_neighbour_set(&mut self, net: &NetTables, iface: usize, ip: Ipv6Addr) {
        let Some(mac) = net.neighbors6.lookup(iface, ip) else { return };
        if iface >= net.interfaces.len() {
            return;
        }
        let released = self.ip6_iface(net, iface).nd.take(ip);
        self.ip6_send_released(net, iface, released, mac);
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
        // Sent from the address it advertises (one of ours, usable).
        let n = ndp::Repr::NeighborAdvert { flags, target, lladdr: Some(net.interfaces[iface].mac) };
        if self.ndp_send(net, iface, target, dst, to, n) {
            self.counters.inc(Counter::NdpAdvertsOut);
        }
    }

    /// Send a neighbour solicitation for `target`: multicast to its
    /// solicited-node group while resolving, unicast to `unicast` when probing.
    fn ns_send(&mut self, net: &NetTables, iface: usize, target: Ipv6Addr, unicast: Option<MacAddress>) {
        // From a usable address of the target's scope (RFC 4861 7.2.2
        // prefers the source of the packet that prompted it; the same
        // choice for the same destination).
        let ll = self.ip6_select_source(net, iface, target);
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
        if m.len() > self.ip_mtu(iface) {
            return self.ip6_fragment_output(net, m, iface, dst);
        }
        if dst.is_multicast() {
            return self.eth_output(net, iface, m, ipv6::multicast_mac(dst), EtherType::Ipv6);
        }
        // Static entries first (one branch when there are none), then ours.
        if let Some(mac) = net.neighbors6.lookup(iface, dst) {
            return self.eth_output(net, iface, m, mac, EtherType::Ipv6);
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

    /// Our source for `dst` out of `iface` (RFC 6724, simplified): the
    /// link-local address for link-local and link-scope multicast
    /// destinations; otherwise a preferred configured address of `iface`,
    /// the one sharing the longest prefix with `dst`; `None` if it has none
    /// (a global destination never gets a link-local source here).
    pub fn ip6_source(&mut self, net: &NetTables, iface: usize, dst: Ipv6Addr) -> Option<Ipv6Addr> {
        if iface >= net.interfaces.len() {
            return None;
        }
        let ll = self.ip6_iface(net, iface).link_local;
        if ipv6::is_link_local(dst) || (dst.is_multicast() && dst.segments()[0] & 0x000f <= 2) {
            return Some(ll);
        }
        global_source(net, iface, dst)
    }

    /// [`L3::ip6_source`], falling back to the link-local address (for
    /// neighbour discovery, which always has one).
    fn ip6_select_source(&mut self, net: &NetTables, iface: usize, dst: Ipv6Addr) -> Ipv6Addr {
        match self.ip6_source(net, iface, dst) {
            Some(a) => a,
            None => self.ip6_iface(net, iface).link_local,
        }
    }

    /// The interface and next hop for `dst`: link-local and multicast
    /// destinations leave through `scope` (interface 0 if `None`: an
    /// address of link scope names no interface of its own), others by the
    /// IPv6 route table (the gateway, or `dst` itself when connected).
    pub fn ip6_route(&self, net: &NetTables, dst: Ipv6Addr, scope: Option<usize>) -> Option<(usize, Ipv6Addr)> {
        if ipv6::is_link_local(dst) || dst.is_multicast() {
            let iface = scope.unwrap_or(0);
            return (iface < net.interfaces.len()).then_some((iface, dst));
        }
        let r = net.routes6.lookup(dst)?;
        let iface = r.port as usize;
        (iface < net.interfaces.len()).then_some((iface, r.next_hop.unwrap_or(dst)))
    }

    /// Where the node's packets to `dst` go and from which source: the
    /// route ([`L3::ip6_route`]) and a usable same-scope address of the
    /// outgoing interface ([`L3::ip6_source`]). `None`: no route, or no
    /// usable source on that interface (e.g. its address is still
    /// tentative). For the transports: the source of an active open.
    pub fn source_for6(&mut self, net: &NetTables, dst: Ipv6Addr, scope: Option<usize>) -> Option<Ip6Path> {
        let (iface, next_hop) = self.ip6_route(net, dst, scope)?;
        let src = self.ip6_source(net, iface, dst)?;
        Some(Ip6Path { iface, src, next_hop })
    }

    /// Send an IPv6 packet (`m` starts at its IPv6 header) the node
    /// originates: route it ([`L3::ip6_route`]), resolve the next hop
    /// (queued, bounded, while resolving) and batch it for tx. No route:
    /// counted and dropped.
    pub fn ip6_output_routed(&mut self, net: &NetTables, m: D::Buf, dst: Ipv6Addr, scope: Option<usize>) {
        match self.ip6_route(net, dst, scope) {
            Some((iface, next_hop)) => self.ip6_output(net, iface, m, next_hop),
            None => {
                drop(m);
                self.counters.inc(Counter::Ip6NoRoute);
            }
        }
    }

    /// Send an ICMPv6 echo request to `dst` (the node's own `ping`):
    /// routed, from the source [`L3::source_for6`] picks; `scope` is the
    /// interface for a link-local destination. The payload starts with the
    /// send time, so the reply carries its round-trip time. False (and
    /// counted) when there is no route or no usable source.
    pub fn ping6_send(
        &mut self,
        net: &NetTables,
        scope: usize,
        dst: Ipv6Addr,
        ident: u16,
        seq: u16,
        size: usize,
    ) -> bool {
        let Some(path) = self.source_for6(net, dst, Some(scope)) else {
            self.counters.inc(Counter::Ip6NoRoute);
            return false;
        };
        let src = path.src;
        let Some(mut m) = self.dev.alloc() else {
            self.counters.inc(Counter::MbufAllocFailed);
            return false;
        };
        let size = size.max(super::TIMESTAMP_LEN);
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
        let data = &mut body[icmpv6::HEADER_LEN..];
        data[..super::TIMESTAMP_LEN].copy_from_slice(&self.now_ns.to_be_bytes());
        for (i, b) in data[super::TIMESTAMP_LEN..].iter_mut().enumerate() {
            *b = i as u8;
        }
        icmpv6::Repr::EchoRequest { ident, seq_no: seq, data_len: size }.emit(
            &src,
            &dst,
            &mut icmpv6::Packet::new_unchecked(body),
        );
        self.ip6_output(net, path.iface, m, path.next_hop);
        true
    }

    /// Neighbour-cache timers of every interface (from [`L3::timers`]).
    pub(super) fn ip6_timers(&mut self, net: &NetTables) {
        for iface in 0..self.ip6.len() {
            self.ip6_dad_poll(net, iface);
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

/// A preferred configured address of `iface` for the non-link-local
/// destination `dst`: the one sharing the longest prefix with it (RFC 6724
/// rule 8, simplified); `None` if the interface has none usable.
pub(super) fn global_source(net: &NetTables, iface: usize, dst: Ipv6Addr) -> Option<Ipv6Addr> {
    let common = |a: Ipv6Addr| (a.to_bits() ^ dst.to_bits()).leading_zeros();
    net.interfaces.get(iface)?.ip6.iter().filter(|a| a.is_usable()).map(Ip6Address::address).max_by_key(|&a| common(a))
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

    /// Give `n` the configured address `a` (and its connected route) and
    /// DAD that probes once, at once, and decides 1 ms later.
    fn configure(n: &mut SimNode, a: &str) {
        let c: ipv6::Cidr = a.parse().unwrap();
        n.net.interfaces[0].ip6.push(Ip6Address::new(c));
        let prefix = ipv6::Cidr::new(c.network(), c.prefix_len()).unwrap();
        let _ = n.net.routes6.add(crate::route6::Route6 { prefix, port: 0, next_hop: None });
        n.l3.set_dad_config(DadConfig { transmits: 1, retrans_ns: 1_000_000, max_delay_ns: 0, seed: 1 });
    }

    fn state(n: &SimNode) -> DadState {
        n.net.interfaces[0].ip6[0].dad.get()
    }

    #[test]
    fn configured_addresses_pass_dad_then_answer_echo() {
        let (_link, mut a, mut b) = pair();
        configure(&mut a, "fd00:198:18::1/64");
        configure(&mut b, "fd00:198:18::2/64");
        let b_ip: Ipv6Addr = "fd00:198:18::2".parse().unwrap();
        let mut now = 1_000_000;
        a.l3.defer_ip6_up(0);
        b.l3.defer_ip6_up(0);
        run(&mut now, 100_000, &mut a, &mut b);
        // Probed, not yet decided: tentative addresses are no source and
        // receive nothing.
        assert_eq!((state(&a), state(&b)), (DadState::Tentative, DadState::Tentative));
        assert_eq!(a.l3.counters.get(Counter::Ip6DadProbesOut), 1);
        assert_eq!(a.l3.source_for6(&a.net, b_ip, None), None);
        assert!(!a.l3.ping6_send(&a.net, 0, b_ip, 7, 0, 56));
        assert_eq!(b.net.local_interface6(b_ip), None);
        run(&mut now, 30_000_000, &mut a, &mut b);
        assert_eq!((state(&a), state(&b)), (DadState::Preferred, DadState::Preferred));
        assert_eq!(b.net.local_interface6(b_ip), Some(0));
        let (ca, cb) = (&a.l3.counters, &b.l3.counters);
        assert_eq!(ca.get(Counter::Ip6DadPreferred), 1);
        assert_eq!(ca.get(Counter::Ip6DadDuplicate) + cb.get(Counter::Ip6DadDuplicate), 0);
        // Link-local at once, the global one once preferred.
        assert_eq!(ca.get(Counter::NdpUnsolicitedAdvertsOut), 2);
        // B saw A's probe for an address B does not have: not answered.
        assert_eq!(cb.get(Counter::NdpAdvertsOut), 2, "only its own two unsolicited ones");
        let path = a.l3.source_for6(&a.net, b_ip, None).expect("a route and a source");
        assert_eq!(path, Ip6Path { iface: 0, src: "fd00:198:18::1".parse().unwrap(), next_hop: b_ip });
        for seq in 0..5 {
            assert!(a.l3.ping6_send(&a.net, 0, b_ip, 7, seq, 56));
        }
        run(&mut now, 2_000_000, &mut a, &mut b);
        assert_eq!(b.l3.counters.get(Counter::Icmp6EchoReplies), 5);
        assert_eq!(a.l3.counters.get(Counter::Icmp6EchoRepliesIn), 5);
        // No route off the prefix.
        assert!(!a.l3.ping6_send(&a.net, 0, "2001:db8::1".parse().unwrap(), 7, 0, 56));
        assert_eq!(a.l3.counters.get(Counter::Ip6NoRoute), 2);
    }

    #[test]
    fn an_address_another_node_has_is_marked_duplicate() {
        let (_link, mut a, mut b) = pair();
        configure(&mut b, "fd00:198:18::7/64");
        let mut now = 1_000_000;
        b.l3.defer_ip6_up(0);
        run(&mut now, 30_000_000, &mut a, &mut b);
        assert_eq!(state(&b), DadState::Preferred);
        // A gets the same address later.
        configure(&mut a, "fd00:198:18::7/64");
        a.l3.defer_ip6_up(0);
        run(&mut now, 30_000_000, &mut a, &mut b);
        // B defended its address; A's stays unused.
        assert_eq!(state(&a), DadState::Duplicate);
        assert_eq!(state(&b), DadState::Preferred);
        assert_eq!(a.l3.counters.get(Counter::Ip6DadDuplicate), 1);
        assert_eq!(a.l3.counters.get(Counter::Ip6DadPreferred), 0);
        assert_eq!(a.l3.source_for6(&a.net, "fd00:198:18::9".parse().unwrap(), None), None);
        // Both probing at once: each sees the other's probe.
        let (_link, mut a, mut b) = pair();
        configure(&mut a, "fd00:198:18::7/64");
        configure(&mut b, "fd00:198:18::7/64");
        a.l3.defer_ip6_up(0);
        b.l3.defer_ip6_up(0);
        run(&mut now, 30_000_000, &mut a, &mut b);
        assert_eq!((state(&a), state(&b)), (DadState::Duplicate, DadState::Duplicate));
        assert_eq!(b.l3.counters.get(Counter::NdpTargetTentative), 1);
    }

    #[test]
    fn packet_too_big_reaches_the_transport_hook_and_unreachable_goes_out() {
        let (_link, mut a, mut b) = pair();
        let a_ll = a.l3.ip6_link_local(&a.net, 0);
        let b_ll = b.l3.ip6_link_local(&b.net, 0);
        let far: Ipv6Addr = "2001:db8::9".parse().unwrap();
        // A packet too big quoting a packet A sent (from its link-local).
        let quote = |from: Ipv6Addr| {
            let mut q = vec![0u8; 48];
            ipv6::Repr {
                src_addr: from,
                dst_addr: far,
                next_header: next_header::UDP,
                payload_len: 1400,
                hop_limit: 64,
                traffic_class: 0,
                flow_label: 0,
            }
            .emit(&mut ipv6::Packet::new_unchecked(&mut q[..]));
            q
        };
        let ptb = |mtu: u32, q: &[u8]| {
            let mut body = vec![0u8; icmpv6::HEADER_LEN + q.len()];
            body[icmpv6::HEADER_LEN..].copy_from_slice(q);
            icmpv6::Repr::PacketTooBig { mtu }.emit(&b_ll, &a_ll, &mut icmpv6::Packet::new_unchecked(&mut body[..]));
            body
        };
        let mut now = 1_000_000;
        b.l3.now_ns = now;
        send_raw(&mut b, a_ll, next_header::ICMPV6, &ptb(1300, &quote(a_ll)));
        send_raw(&mut b, a_ll, next_header::ICMPV6, &ptb(600, &quote(a_ll)));
        // Forged: quotes a packet A never sent.
        send_raw(&mut b, a_ll, next_header::ICMPV6, &ptb(1300, &quote(b_ll)));
        run(&mut now, 1_000_000, &mut a, &mut b);
        let got: Vec<_> = a.l3.take_pmtu6().map(|r| (r.dst, r.mtu, r.protocol)).collect();
        let far_ip = std::net::IpAddr::V6(far);
        assert_eq!(got, vec![(far_ip, 1300, 17), (far_ip, 1280, 17)], "under 1280 is raised to it");
        assert!(a.l3.take_pmtu6().next().is_none());
        assert_eq!(a.l3.counters.get(Counter::Icmp6PacketTooBigIn), 3);
        assert_eq!(a.l3.counters.get(Counter::Icmp6PacketTooBigBogus), 1);
        // The transport refuses a datagram: A answers port unreachable.
        let mut dgram = vec![0u8; 48];
        ipv6::Repr {
            src_addr: b_ll,
            dst_addr: a_ll,
            next_header: next_header::UDP,
            payload_len: 8,
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
        }
        .emit(&mut ipv6::Packet::new_unchecked(&mut dgram[..]));
        a.l3.now_ns = now;
        let net = std::mem::take(&mut a.net);
        a.l3.icmp6_unreachable(&net, 0, &dgram, icmpv6::unreachable::PORT);
        a.net = net;
        run(&mut now, 1_000_000, &mut a, &mut b);
        assert_eq!(a.l3.counters.get(Counter::Icmp6UnreachSent), 1);
        assert_eq!(b.l3.counters.get(Counter::Icmp6ErrorsIn), 1);
        assert_eq!(b.l3.counters.get(Counter::Icmp6BadChecksum), 0);
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

    #[test]
    fn a_static_ip6_neighbour_is_sent_to_without_solicitation_and_never_learnt_over() {
        let (_link, mut a, mut b) = pair();
        let b_ll = b.l3.ip6_link_local(&b.net, 0);
        let mac_b = MacAddress([2, 0, 0, 0, 0, 2]);
        a.net.neighbors6.set(0, b_ll, mac_b).unwrap();
        let mut now = 1_000_000;
        a.l3.now_ns = now;
        for seq in 0..5 {
            assert!(a.l3.ping6_send(&a.net, 0, b_ll, 7, seq, 56));
        }
        run(&mut now, 1_000_000, &mut a, &mut b);
        assert_eq!(a.l3.counters.get(Counter::Icmp6EchoRepliesIn), 5);
        assert_eq!(a.l3.counters.get(Counter::NdpSolicitsOut), 0, "no solicitation for a static neighbour");
        // B pings A and so asks for it (its solicitation carries B's MAC):
        // A answers but keeps no entry of its own for B.
        let a_ll = a.l3.ip6_link_local(&a.net, 0);
        b.l3.now_ns = now;
        assert!(b.l3.ping6_send(&b.net, 0, a_ll, 8, 0, 56));
        run(&mut now, 1_000_000, &mut a, &mut b);
        assert_eq!(b.l3.counters.get(Counter::Icmp6EchoRepliesIn), 1);
        assert_eq!(b.l3.counters.get(Counter::NdpSolicitsOut), 1);
        assert_eq!(a.l3.counters.get(Counter::NdpAdvertsOut), 1);
        assert!(a.l3.ip6_neighbors(0).is_empty(), "{:?}", a.l3.ip6_neighbors(0));
        // The static MAC wins over what NDP would say: a wrong one sends
        // the requests where B never sees them.
        a.net.neighbors6.set(0, b_ll, MacAddress([2, 0, 0, 0, 0, 9])).unwrap();
        assert!(a.l3.ping6_send(&a.net, 0, b_ll, 7, 5, 56));
        run(&mut now, 1_000_000, &mut a, &mut b);
        assert_eq!(a.l3.counters.get(Counter::Icmp6EchoRepliesIn), 5);
        assert_eq!(a.l3.counters.get(Counter::NdpSolicitsOut), 0);

        // Removed: A solicits again and learns B.
        a.net.neighbors6.remove(0, b_ll).unwrap();
        assert!(a.l3.ping6_send(&a.net, 0, b_ll, 7, 6, 56));
        run(&mut now, 1_000_000, &mut a, &mut b);
        assert_eq!(a.l3.counters.get(Counter::Icmp6EchoRepliesIn), 6);
        assert_eq!(a.l3.counters.get(Counter::NdpSolicitsOut), 1);
        assert_eq!(a.l3.ip6_neighbors(0).len(), 1);
    }

    #[test]
    fn setting_a_static_ip6_neighbour_sends_what_waited_and_drops_the_nd_entry() {
        let (_link, mut a, mut b) = pair();
        let b_ll = b.l3.ip6_link_local(&b.net, 0);
        let mut now = 1_000_000;
        a.l3.now_ns = now;
        // Queued behind a solicitation B has not seen yet.
        assert!(a.l3.ping6_send(&a.net, 0, b_ll, 7, 1, 56));
        assert_eq!(a.l3.ip6_neighbors(0)[0].pending, 1);
        a.net.neighbors6.set(0, b_ll, MacAddress([2, 0, 0, 0, 0, 2])).unwrap();
        a.l3.defer_static_neighbour6(0, b_ll);
        assert_eq!(a.l3.run_deferred(&a.net), 1);
        // The hand-over sent the request; B's advertisement is not learnt.
        assert!(a.l3.ip6_neighbors(0).is_empty());
        run(&mut now, 5_000_000_000, &mut a, &mut b);
        assert_eq!(a.l3.counters.get(Counter::Icmp6EchoRepliesIn), 1);
        assert_eq!(a.l3.counters.get(Counter::NdResolutionFailed), 0);
        assert!(a.l3.ip6_neighbors(0).is_empty(), "{:?}", a.l3.ip6_neighbors(0));
    }
}
