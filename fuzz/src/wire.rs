//! Wire parsers: view, accessors, `Repr` round trip.

use std::net::{Ipv4Addr, Ipv6Addr};

use wire::ethernet::{self, EtherType};
use wire::ipv4::{self, Protocol};
use wire::ipv6::{self, next_header};
use wire::tcp::TcpOption;
use wire::{arp, icmp, icmpv6, ndp, tcp, udp};

/// Addresses for the pseudo header of the L4 checksums when a target has
/// no IPv4 header of its own.
pub const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// See [`SRC`].
pub const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The IPv6 pseudo-header source when a target has no IPv6 header.
pub const SRC6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0xff, 0xfe00, 1);
/// See [`SRC6`].
pub const DST6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 2);

/// An Ethernet frame, then whatever it carries (ARP or IPv4 and below), as
/// the node's input path reads it.
pub fn ethernet(data: &[u8]) {
    let Ok(frame) = ethernet::Frame::new_checked(data) else { return };
    let _ = (frame.dst_addr(), frame.src_addr(), frame.ethertype());
    let _ = frame.dst_addr().is_broadcast() || frame.dst_addr().is_multicast() || frame.src_addr().is_local();
    let payload = frame.payload();
    let repr = ethernet::Repr::parse(&frame).expect("a checked frame parses");
    let mut out = vec![0u8; repr.buffer_len(payload.len())];
    let mut f = ethernet::Frame::new_unchecked(&mut out[..]);
    repr.emit(&mut f);
    f.payload_mut().copy_from_slice(payload);
    assert_eq!(out, data, "Ethernet emit(parse(frame)) is the frame");
    let _ = format!("{} {} {}", repr.src_addr, repr.dst_addr, repr.ethertype);
    match repr.ethertype {
        EtherType::Arp => arp(payload),
        EtherType::Ipv4 => ipv4(payload),
        EtherType::Ipv6 => ipv6(payload),
        _ => {}
    }
}

/// An ARP packet.
pub fn arp(data: &[u8]) {
    let packet = arp::Packet::new_unchecked(data);
    let checked = arp::Packet::new_checked(data);
    if let Ok(p) = &checked {
        let _ = (p.hardware_type(), p.protocol_type(), p.hardware_len(), p.protocol_len(), p.operation());
        let _ =
            (p.source_hardware_addr(), p.source_protocol_addr(), p.target_hardware_addr(), p.target_protocol_addr());
    }
    // Repr::parse checks lengths itself, so it is safe on an unchecked view.
    let Ok(repr) = arp::Repr::parse(&packet) else { return };
    assert!(checked.is_ok(), "ARP parse accepted what new_checked refuses");
    let _ = format!("{repr}");
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut arp::Packet::new_unchecked(&mut out[..]));
    let again = arp::Repr::parse(&arp::Packet::new_checked(&out[..]).expect("emitted ARP is valid"));
    assert_eq!(again, Ok(repr), "ARP round trip");
    assert_eq!(&out[..], &data[..out.len()], "an Ethernet/IPv4 ARP packet is emitted byte for byte");
}

/// An IPv4 datagram, then its ICMP, UDP or TCP payload.
pub fn ipv4(data: &[u8]) {
    let Ok(p) = ipv4::Packet::new_checked(data) else { return };
    let _ = (p.version(), p.header_len(), p.dscp_ecn(), p.total_len(), p.ident(), p.dont_frag(), p.more_frags());
    let _ = (p.frag_offset(), p.hop_limit(), p.next_header(), p.checksum(), p.src_addr(), p.dst_addr());
    let checksum_ok = p.verify_checksum();
    let options = p.options();
    let payload = p.payload();
    assert_eq!(usize::from(p.header_len()), ipv4::HEADER_LEN + options.len());
    assert!(usize::from(p.header_len()) + payload.len() <= data.len());
    assert_eq!(ipv4::Repr::parse(&p, true).is_err_and(|e| e == wire::Error::BadChecksum), !checksum_ok);
    let Ok(repr) = ipv4::Repr::parse(&p, false) else { return };
    assert_eq!(repr.payload_len, payload.len());
    let mut out = vec![0u8; repr.buffer_len()];
    let mut q = ipv4::Packet::new_unchecked(&mut out[..]);
    repr.emit(&mut q);
    q.payload_mut().copy_from_slice(payload);
    let q = ipv4::Packet::new_checked(&out[..]).expect("emitted IPv4 is valid");
    assert!(q.verify_checksum(), "emitted IPv4 checksum");
    assert_eq!(ipv4::Repr::parse(&q, true), Ok(repr), "IPv4 round trip");
    assert_eq!(q.payload(), payload);
    let _ = format!("{}", repr.next_header);
    match repr.next_header {
        Protocol::Icmp => icmp(payload),
        Protocol::Udp => udp_with(payload, repr.src_addr, repr.dst_addr),
        Protocol::Tcp => tcp_with(payload, repr.src_addr, repr.dst_addr),
        _ => {}
    }
}

/// An ICMP message.
pub fn icmp(data: &[u8]) {
    let Ok(p) = icmp::Packet::new_checked(data) else { return };
    let _ = (p.msg_type(), p.msg_code(), p.checksum(), p.echo_ident(), p.echo_seq_no(), p.data());
    let Ok(repr) = icmp::Repr::parse(&p) else {
        return;
    };
    assert!(p.verify_checksum());
    let mut out = vec![0u8; data.len()];
    out[repr.header_len()..].copy_from_slice(p.data());
    if let icmp::Repr::Other { .. } = repr {
        out[4..8].copy_from_slice(&data[4..8]);
    }
    let mut q = icmp::Packet::new_unchecked(&mut out[..]);
    repr.emit(&mut q);
    let q = icmp::Packet::new_checked(&out[..]).expect("emitted ICMP is valid");
    assert!(q.verify_checksum(), "emitted ICMP checksum");
    assert_eq!(icmp::Repr::parse(&q), Ok(repr), "ICMP round trip");
    if let icmp::Repr::EchoRequest { .. } | icmp::Repr::EchoReply { .. } = repr {
        assert_eq!(repr.buffer_len(), data.len());
    }
}

/// An IPv6 packet: the fixed header round trip, the extension-header
/// chain walk, then its ICMPv6, UDP or TCP payload over the IPv6 pseudo
/// header.
pub fn ipv6(data: &[u8]) {
    let Ok(p) = ipv6::Packet::new_checked(data) else { return };
    let _ = (p.version(), p.traffic_class(), p.flow_label(), p.payload_len(), p.next_header(), p.hop_limit());
    let repr = ipv6::Repr::parse(&p).expect("a checked IPv6 header parses");
    let datagram = p.datagram();
    let mut out = datagram.to_vec();
    out[..ipv6::HEADER_LEN].fill(0);
    repr.emit(&mut ipv6::Packet::new_unchecked(&mut out[..]));
    assert_eq!(out, datagram, "IPv6 emit(parse(header)) is the header");
    let _ = (ipv6::is_link_local(repr.src_addr), ipv6::is_solicited_node(repr.dst_addr));
    let _ = (ipv6::martian_source(repr.src_addr), ipv6::multicast_mac(repr.dst_addr));
    let Ok(chain) = ipv6::walk_chain(datagram) else { return };
    assert!(chain.offset <= datagram.len(), "the chain ends inside the packet");
    assert!(chain.next_header_pointer < chain.offset, "the pointer names a byte before the upper layer");
    if chain.fragment.is_some() {
        return;
    }
    let upper = &datagram[chain.offset..];
    let (src, dst) = (repr.src_addr, repr.dst_addr);
    match chain.upper {
        next_header::ICMPV6 => icmpv6_with(upper, &src, &dst),
        next_header::UDP => udp6(upper, &src, &dst),
        next_header::TCP => tcp6(upper, &src, &dst),
        _ => {}
    }
}

/// An ICMPv6 message with the default pseudo-header addresses.
pub fn icmpv6(data: &[u8]) {
    // Seeds carry a valid checksum for these addresses; let the fuzzer
    // reach past the checksum too by fixing it for half the inputs.
    icmpv6_with(data, &SRC6, &DST6);
    if data.len() >= icmpv6::HEADER_LEN && data[0] & 1 == 1 {
        let mut fixed = data.to_vec();
        icmpv6::Packet::new_unchecked(&mut fixed[..]).fill_checksum(&SRC6, &DST6);
        icmpv6_with(&fixed, &SRC6, &DST6);
    }
}

fn icmpv6_with(data: &[u8], src: &Ipv6Addr, dst: &Ipv6Addr) {
    let Ok(p) = icmpv6::Packet::new_checked(data) else { return };
    let _ = (p.msg_type(), p.msg_code(), p.checksum(), p.echo_ident(), p.echo_seq_no(), p.word(), p.data());
    let Ok(repr) = icmpv6::Repr::parse(&p, src, dst) else { return };
    assert!(p.verify_checksum(src, dst));
    let _ = repr.is_error();
    if let icmpv6::Repr::Ndp(n) = &repr {
        let _ = ndp::check_ip(n, src, dst, 255).map_err(|e| e.as_str());
        // NDP re-emits only the options it knows, so compare meanings.
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(src, dst, &mut icmpv6::Packet::new_unchecked(&mut out[..]));
        let again = icmpv6::Repr::parse(&icmpv6::Packet::new_checked(&out[..]).unwrap(), src, dst);
        assert_eq!(again, Ok(repr), "NDP round trip");
        return;
    }
    let mut out = vec![0u8; data.len()];
    out[icmpv6::HEADER_LEN..].copy_from_slice(p.data());
    if let icmpv6::Repr::Other { .. } = repr {
        out[4..8].copy_from_slice(&data[4..8]);
    }
    repr.emit(src, dst, &mut icmpv6::Packet::new_unchecked(&mut out[..]));
    let q = icmpv6::Packet::new_checked(&out[..]).expect("emitted ICMPv6 is valid");
    assert!(q.verify_checksum(src, dst), "emitted ICMPv6 checksum");
    assert_eq!(icmpv6::Repr::parse(&q, src, dst), Ok(repr), "ICMPv6 round trip");
}

fn udp6(data: &[u8], src: &Ipv6Addr, dst: &Ipv6Addr) {
    let Ok(p) = udp::Packet::new_checked(data) else { return };
    let ok = p.verify_checksum_v6(src, dst);
    let len = usize::from(p.len());
    let mut out = data[..len].to_vec();
    udp::Packet::new_unchecked(&mut out[..]).fill_checksum_v6(src, dst);
    let q = udp::Packet::new_checked(&out[..]).expect("the same UDP is valid");
    assert!(q.verify_checksum_v6(src, dst), "filled UDP/IPv6 checksum verifies");
    if ok {
        assert_eq!(&out[..], &data[..len], "a correct UDP/IPv6 checksum is the one we compute");
    }
}

fn tcp6(data: &[u8], src: &Ipv6Addr, dst: &Ipv6Addr) {
    let Ok(p) = tcp::Packet::new_checked(data) else { return };
    let ok = p.verify_checksum_v6(src, dst);
    let mut out = data.to_vec();
    tcp::Packet::new_unchecked(&mut out[..]).fill_checksum_v6(src, dst);
    assert!(tcp::Packet::new_checked(&out[..]).unwrap().verify_checksum_v6(src, dst));
    if ok {
        assert_eq!(out, data, "a correct TCP/IPv6 checksum is the one we compute");
    }
}

/// A UDP datagram with the default pseudo-header addresses.
pub fn udp(data: &[u8]) {
    udp_with(data, SRC, DST)
}

fn udp_with(data: &[u8], src: Ipv4Addr, dst: Ipv4Addr) {
    let Ok(p) = udp::Packet::new_checked(data) else { return };
    let _ = (p.src_port(), p.dst_port(), p.len(), p.is_empty(), p.checksum());
    let checksum_ok = p.verify_checksum(src, dst);
    let payload = p.payload();
    assert_eq!(
        udp::Repr::parse(&p, src, dst, true).is_err_and(|e| e == wire::Error::BadChecksum),
        !checksum_ok && p.dst_port() != 0
    );
    let Ok(repr) = udp::Repr::parse(&p, src, dst, false) else { return };
    assert_eq!(repr.payload_len, payload.len());
    let mut out = vec![0u8; repr.buffer_len()];
    let mut q = udp::Packet::new_unchecked(&mut out[..]);
    repr.emit(&mut q);
    q.payload_mut().copy_from_slice(payload);
    q.fill_checksum(src, dst);
    let q = udp::Packet::new_checked(&out[..]).expect("emitted UDP is valid");
    assert_ne!(q.checksum(), 0, "a computed UDP checksum of 0 is sent as 0xffff");
    assert_eq!(udp::Repr::parse(&q, src, dst, true), Ok(repr), "UDP round trip");
    assert_eq!(q.payload(), payload);
}

/// A TCP segment (header, options, payload) with the default pseudo-header addresses.
pub fn tcp(data: &[u8]) {
    tcp_with(data, SRC, DST)
}

fn tcp_with(data: &[u8], src: Ipv4Addr, dst: Ipv4Addr) {
    // The option parser on its own, on every suffix the fuzzer gives it.
    options(data);
    let Ok(p) = tcp::Packet::new_checked(data) else { return };
    let _ = (p.src_port(), p.dst_port(), p.seq_number(), p.ack_number(), p.header_len(), p.flags());
    let _ = (p.window_len(), p.checksum(), p.urgent_at(), p.segment_len(), format!("{:?}", p.flags()));
    let checksum_ok = p.verify_checksum(src, dst);
    let payload = p.payload();
    assert_eq!(usize::from(p.header_len()) + payload.len(), data.len());
    options(p.options());
    let parsed = tcp::Repr::parse(&p, src, dst, true);
    if !checksum_ok && parsed.is_ok() {
        panic!("TCP parse accepted a bad checksum");
    }
    let Ok(repr) = tcp::Repr::parse(&p, src, dst, false) else { return };
    assert_eq!(repr.payload_len, payload.len());
    assert!(repr.sack_blocks.len() <= tcp::MAX_SACK_BLOCKS);
    let _ = format!("{repr}");
    let mut out = vec![0u8; repr.buffer_len()];
    assert!(repr.header_len() <= tcp::MAX_HEADER_LEN && repr.header_len() % 4 == 0);
    let mut q = tcp::Packet::new_unchecked(&mut out[..]);
    repr.emit(&mut q);
    q.payload_mut().copy_from_slice(payload);
    q.fill_checksum(src, dst);
    let q = tcp::Packet::new_checked(&out[..]).expect("emitted TCP is valid");
    let again = tcp::Repr::parse(&q, src, dst, true).expect("emitted TCP parses");
    // What emit may change: the ACK number without ACK (sent as 0), and
    // SACK blocks beyond what fits beside the other options (dropped).
    let mut expect = repr;
    if !expect.flags.ack() {
        expect.ack_number = tcp::SeqNumber(0);
    }
    assert!(again.sack_blocks.len() <= expect.sack_blocks.len());
    assert_eq!(again.sack_blocks.as_slice(), &expect.sack_blocks.as_slice()[..again.sack_blocks.len()]);
    expect.sack_blocks = again.sack_blocks;
    assert_eq!(again, expect, "TCP round trip");
    assert_eq!(q.payload(), payload);
}

/// The TCP option parser on raw option bytes: every option it accepts
/// re-emits to the same bytes, and it never reads past the buffer.
pub fn options(data: &[u8]) {
    let mut rest = data;
    while !rest.is_empty() {
        match TcpOption::parse(rest) {
            Ok((opt, len)) => {
                assert!(len >= 1 && len <= rest.len(), "option length within the buffer");
                assert_eq!(opt.buffer_len(), len, "option length as parsed");
                let mut out = [0u8; 256];
                let n = opt.emit(&mut out);
                assert_eq!(&out[..n], &rest[..len], "option re-emits to its bytes");
                if opt == TcpOption::EndOfList {
                    break;
                }
                rest = &rest[len..];
            }
            Err(_) => break,
        }
    }
    let mut n = 0;
    if let Ok(p) = tcp::Packet::new_checked(data) {
        for opt in p.options_iter() {
            n += 1;
            assert!(n <= tcp::MAX_HEADER_LEN, "options iterator ends");
            if opt.is_err() {
                break;
            }
        }
    }
}
