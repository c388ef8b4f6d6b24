//! A worker's L2/L3 input (ARP, IPv4, ICMP, IPv6 with NDP and DAD,
//! ICMPv6, reassembly of both families) over frames the fuzzer writes:
//! nothing may panic, and the reassembler stays within its memory cap.

use std::net::Ipv4Addr;

use net::dad::DadState;
use net::l3::PortCaps;
use net::route6::Route6;
use net::sim::{Link, LinkConfig, SimBuf, SimIface, SimNode};
use net::tables::Ip6Address;
use wire::ethernet::Address as MacAddress;

/// Frames as (2-byte big-endian length, bytes) records; time moves 7 s
/// between frames, so reassembly and neighbour timers fire too.
pub fn input(data: &[u8]) {
    let link = Link::new(&LinkConfig::default());
    let ip4 = wire::ipv4::Cidr::new(Ipv4Addr::new(198, 18, 0, 2), 24).expect("prefix");
    let mut node = SimNode::new(vec![SimIface { end: link.a(), mac: MacAddress([2, 0, 0, 0, 0, 2]), ip4 }]);
    let c: wire::ipv6::Cidr = "fd00:198:18::2/64".parse().expect("prefix");
    let a = Ip6Address::new(c);
    a.dad.set(DadState::Preferred);
    node.net.interfaces[0].ip6.push(a);
    // A second address still under DAD.
    node.net.interfaces[0].ip6.push(Ip6Address::new("fd00:198:18::3/64".parse().expect("prefix")));
    let prefix = wire::ipv6::Cidr::new(c.network(), 64).expect("prefix");
    let _ = node.net.routes6.add(Route6 { prefix, port: 0, next_hop: None });
    node.l3.set_port_caps(0, PortCaps { mtu: 1500, ..PortCaps::default() });
    let mut now = 1_000_000u64;
    let mut rest = data;
    while rest.len() >= 2 {
        let n = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let (frame, r) = rest[2..].split_at(n);
        rest = r;
        node.l3.now_ns = now;
        let net = std::mem::take(&mut node.net);
        let _ = node.l3.input(&net, 0, SimBuf::from_bytes(frame));
        node.l3.timers(&net);
        node.l3.flush();
        node.net = net;
        assert!(node.l3.reasm_memory() <= 4 << 20, "reassembly over its cap");
        now += 7_000_000_000;
    }
}
