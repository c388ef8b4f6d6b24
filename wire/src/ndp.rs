//! Neighbour discovery (RFC 4861) message bodies and options, inside
//! ICMPv6 ([`icmpv6::Repr::Ndp`](crate::icmpv6::Repr::Ndp)): router
//! solicitation and advertisement, neighbour solicitation and advertisement
//! (router, solicited and override flags), with the source/target
//! link-layer address, MTU and prefix information options. Redirects are
//! not parsed (a host may ignore them; this node does).
//!
//! A body is what follows the ICMPv6 checksum. [`Repr::parse`] applies the
//! checks RFC 4861 (6.1, 7.1) makes on the message alone (length, option
//! lengths, a multicast target); [`check_ip`] the ones that need the IPv6
//! header, each with its own [`Invalid`] cause so the caller counts them
//! apart.

use std::net::Ipv6Addr;

use super::ethernet::Address;
use super::{icmpv6, ipv6, Error};

/// Option types (RFC 4861 4.6).
pub mod option {
    /// Source link-layer address.
    pub const SOURCE_LLADDR: u8 = 1;
    /// Target link-layer address.
    pub const TARGET_LLADDR: u8 = 2;
    /// Prefix information.
    pub const PREFIX_INFO: u8 = 3;
    /// Redirected header.
    pub const REDIRECTED_HEADER: u8 = 4;
    /// MTU.
    pub const MTU: u8 = 5;
}

/// The hop limit every NDP message is sent with and must arrive with
/// (proof that it did not cross a router).
pub const HOP_LIMIT: u8 = 255;

/// The flags of a neighbour advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NeighborFlags {
    /// R: the sender is a router.
    pub router: bool,
    /// S: sent in answer to a solicitation.
    pub solicited: bool,
    /// O: the advertisement should override a cached link-layer address.
    pub override_: bool,
}

impl NeighborFlags {
    const fn to_byte(self) -> u8 {
        (self.router as u8) << 7 | (self.solicited as u8) << 6 | (self.override_ as u8) << 5
    }

    const fn from_byte(b: u8) -> NeighborFlags {
        NeighborFlags { router: b & 0x80 != 0, solicited: b & 0x40 != 0, override_: b & 0x20 != 0 }
    }
}

/// The prefix information option of a router advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PrefixInfo {
    /// Prefix length in bits.
    pub prefix_len: u8,
    /// L: the prefix is on-link.
    pub on_link: bool,
    /// A: the prefix may be used for address autoconfiguration.
    pub autonomous: bool,
    /// Valid lifetime in seconds (0xffffffff: forever).
    pub valid_lifetime: u32,
    /// Preferred lifetime in seconds.
    pub preferred_lifetime: u32,
    /// The prefix.
    pub prefix: Ipv6Addr,
}

/// The meaning of an NDP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Repr {
    /// Router solicitation.
    RouterSolicit {
        /// The source link-layer address option.
        lladdr: Option<Address>,
    },
    /// Router advertisement.
    RouterAdvert {
        /// The hop limit hosts should use (0: unspecified).
        hop_limit: u8,
        /// M: addresses are available via DHCPv6.
        managed: bool,
        /// O: other configuration is available via DHCPv6.
        other: bool,
        /// The default router preference, 2 bits (RFC 4191: 0 medium, 1
        /// high, 3 low).
        preference: u8,
        /// How long the sender is a default router, in seconds (0: not one).
        router_lifetime: u16,
        /// Reachable time in milliseconds (0: unspecified).
        reachable_time: u32,
        /// Retransmission timer in milliseconds (0: unspecified).
        retrans_time: u32,
        /// The source link-layer address option.
        lladdr: Option<Address>,
        /// The MTU option.
        mtu: Option<u32>,
        /// The first prefix information option.
        prefix_info: Option<PrefixInfo>,
    },
    /// Neighbour solicitation.
    NeighborSolicit {
        /// The address being resolved or checked.
        target: Ipv6Addr,
        /// The source link-layer address option.
        lladdr: Option<Address>,
    },
    /// Neighbour advertisement.
    NeighborAdvert {
        /// R, S and O.
        flags: NeighborFlags,
        /// The address advertised.
        target: Ipv6Addr,
        /// The target link-layer address option.
        lladdr: Option<Address>,
    },
}

/// Why [`check_ip`] refused an NDP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Invalid {
    /// The hop limit is not 255: the message crossed a router.
    HopLimit,
    /// A solicitation from `::` (duplicate address detection) carries a
    /// source link-layer address.
    UnspecifiedWithLladdr,
    /// A solicitation from `::` not sent to a solicited-node group.
    UnspecifiedToNonSolicited,
    /// A solicited advertisement sent to a multicast group.
    SolicitedToMulticast,
    /// A router advertisement whose source is not link-local.
    RouterNotLinkLocal,
}

impl Invalid {
    /// Short name for counters and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Invalid::HopLimit => "hop limit not 255",
            Invalid::UnspecifiedWithLladdr => "unspecified source with lladdr",
            Invalid::UnspecifiedToNonSolicited => "unspecified source not to solicited-node",
            Invalid::SolicitedToMulticast => "solicited advert to multicast",
            Invalid::RouterNotLinkLocal => "router advert not link-local",
        }
    }
}

/// The checks of RFC 4861 6.1 and 7.1 that need the IPv6 header.
pub fn check_ip(repr: &Repr, src: &Ipv6Addr, dst: &Ipv6Addr, hop_limit: u8) -> Result<(), Invalid> {
    if hop_limit != HOP_LIMIT {
        return Err(Invalid::HopLimit);
    }
    match *repr {
        Repr::NeighborSolicit { lladdr, .. } if src.is_unspecified() => {
            if lladdr.is_some() {
                return Err(Invalid::UnspecifiedWithLladdr);
            }
            if !ipv6::is_solicited_node(*dst) {
                return Err(Invalid::UnspecifiedToNonSolicited);
            }
        }
        Repr::RouterSolicit { lladdr: Some(_) } if src.is_unspecified() => return Err(Invalid::UnspecifiedWithLladdr),
        Repr::NeighborAdvert { flags, .. } if flags.solicited && dst.is_multicast() => {
            return Err(Invalid::SolicitedToMulticast)
        }
        Repr::RouterAdvert { .. } if !ipv6::is_link_local(*src) => return Err(Invalid::RouterNotLinkLocal),
        _ => {}
    }
    Ok(())
}

/// Length of the fixed part of each message's body (after the checksum).
const fn fixed_len(msg_type: u8) -> usize {
    match msg_type {
        icmpv6::ROUTER_SOLICIT => 4,
        icmpv6::ROUTER_ADVERT => 12,
        _ => 20,
    }
}

const LLADDR_OPT_LEN: usize = 8;
const MTU_OPT_LEN: usize = 8;
const PREFIX_OPT_LEN: usize = 32;

fn addr(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    Ipv6Addr::from(a)
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The options this module reads, gathered from an option area.
#[derive(Default)]
struct Options {
    source: Option<Address>,
    target: Option<Address>,
    mtu: Option<u32>,
    prefix: Option<PrefixInfo>,
}

/// Walk an option area: `Malformed` for a zero length, a length past the
/// end, or a known option with the wrong length; unknown options skipped
/// (RFC 4861 4.6).
fn parse_options(mut b: &[u8]) -> Result<Options, Error> {
    let mut o = Options::default();
    while !b.is_empty() {
        if b.len() < 2 {
            return Err(Error::Malformed);
        }
        let len = usize::from(b[1]) * 8;
        if len == 0 || len > b.len() {
            return Err(Error::Malformed);
        }
        let (opt, rest) = b.split_at(len);
        match opt[0] {
            option::SOURCE_LLADDR | option::TARGET_LLADDR if len != LLADDR_OPT_LEN => return Err(Error::Malformed),
            option::SOURCE_LLADDR => o.source = o.source.or(Some(Address::from_bytes(&opt[2..8]))),
            option::TARGET_LLADDR => o.target = o.target.or(Some(Address::from_bytes(&opt[2..8]))),
            option::MTU if len != MTU_OPT_LEN => return Err(Error::Malformed),
            option::MTU => o.mtu = o.mtu.or(Some(be32(&opt[4..8]))),
            option::PREFIX_INFO if len != PREFIX_OPT_LEN => return Err(Error::Malformed),
            option::PREFIX_INFO if o.prefix.is_none() => {
                o.prefix = Some(PrefixInfo {
                    prefix_len: opt[2],
                    on_link: opt[3] & 0x80 != 0,
                    autonomous: opt[3] & 0x40 != 0,
                    valid_lifetime: be32(&opt[4..8]),
                    preferred_lifetime: be32(&opt[8..12]),
                    prefix: addr(&opt[16..32]),
                })
            }
            _ => {}
        }
        b = rest;
    }
    Ok(o)
}

fn emit_lladdr(b: &mut [u8], ty: u8, a: Address) {
    b[0] = ty;
    b[1] = 1;
    b[2..8].copy_from_slice(a.as_bytes());
}

impl Repr {
    /// Read the body (everything after the checksum) of an NDP message of
    /// `msg_type` (one of the four `icmpv6` NDP types; anything else is
    /// read as a neighbour advertisement's layout, so pass only those).
    pub fn parse(msg_type: u8, body: &[u8]) -> Result<Repr, Error> {
        let fixed = fixed_len(msg_type);
        if body.len() < fixed {
            return Err(Error::Truncated);
        }
        let o = parse_options(&body[fixed..])?;
        Ok(match msg_type {
            icmpv6::ROUTER_SOLICIT => Repr::RouterSolicit { lladdr: o.source },
            icmpv6::ROUTER_ADVERT => Repr::RouterAdvert {
                hop_limit: body[0],
                managed: body[1] & 0x80 != 0,
                other: body[1] & 0x40 != 0,
                preference: (body[1] >> 3) & 0x03,
                router_lifetime: u16::from_be_bytes([body[2], body[3]]),
                reachable_time: be32(&body[4..8]),
                retrans_time: be32(&body[8..12]),
                lladdr: o.source,
                mtu: o.mtu,
                prefix_info: o.prefix,
            },
            icmpv6::NEIGHBOR_SOLICIT => {
                let target = addr(&body[4..20]);
                if target.is_multicast() {
                    return Err(Error::Malformed);
                }
                Repr::NeighborSolicit { target, lladdr: o.source }
            }
            _ => {
                let target = addr(&body[4..20]);
                if target.is_multicast() {
                    return Err(Error::Malformed);
                }
                Repr::NeighborAdvert { flags: NeighborFlags::from_byte(body[0]), target, lladdr: o.target }
            }
        })
    }

    /// The ICMPv6 message type.
    pub const fn msg_type(&self) -> u8 {
        match self {
            Repr::RouterSolicit { .. } => icmpv6::ROUTER_SOLICIT,
            Repr::RouterAdvert { .. } => icmpv6::ROUTER_ADVERT,
            Repr::NeighborSolicit { .. } => icmpv6::NEIGHBOR_SOLICIT,
            Repr::NeighborAdvert { .. } => icmpv6::NEIGHBOR_ADVERT,
        }
    }

    /// Length of the body `emit` writes: the fixed part and the options.
    pub const fn body_len(&self) -> usize {
        let fixed = fixed_len(self.msg_type());
        match self {
            Repr::RouterSolicit { lladdr }
            | Repr::NeighborSolicit { lladdr, .. }
            | Repr::NeighborAdvert { lladdr, .. } => fixed + if lladdr.is_some() { LLADDR_OPT_LEN } else { 0 },
            Repr::RouterAdvert { lladdr, mtu, prefix_info, .. } => {
                fixed
                    + if lladdr.is_some() { LLADDR_OPT_LEN } else { 0 }
                    + if mtu.is_some() { MTU_OPT_LEN } else { 0 }
                    + if prefix_info.is_some() { PREFIX_OPT_LEN } else { 0 }
            }
        }
    }

    /// Write the body into `b` (at least `body_len` bytes; panics if
    /// shorter). Reserved fields are zeroed.
    pub fn emit(&self, b: &mut [u8]) {
        let b = &mut b[..self.body_len()];
        b.fill(0);
        let fixed = fixed_len(self.msg_type());
        match *self {
            Repr::RouterSolicit { lladdr } => {
                if let Some(a) = lladdr {
                    emit_lladdr(&mut b[fixed..], option::SOURCE_LLADDR, a);
                }
            }
            Repr::RouterAdvert {
                hop_limit,
                managed,
                other,
                preference,
                router_lifetime,
                reachable_time,
                retrans_time,
                lladdr,
                mtu,
                prefix_info,
            } => {
                b[0] = hop_limit;
                b[1] = (managed as u8) << 7 | (other as u8) << 6 | (preference & 0x03) << 3;
                b[2..4].copy_from_slice(&router_lifetime.to_be_bytes());
                b[4..8].copy_from_slice(&reachable_time.to_be_bytes());
                b[8..12].copy_from_slice(&retrans_time.to_be_bytes());
                let mut at = fixed;
                if let Some(a) = lladdr {
                    emit_lladdr(&mut b[at..], option::SOURCE_LLADDR, a);
                    at += LLADDR_OPT_LEN;
                }
                if let Some(m) = mtu {
                    b[at] = option::MTU;
                    b[at + 1] = 1;
                    b[at + 4..at + 8].copy_from_slice(&m.to_be_bytes());
                    at += MTU_OPT_LEN;
                }
                if let Some(p) = prefix_info {
                    let o = &mut b[at..at + PREFIX_OPT_LEN];
                    o[0] = option::PREFIX_INFO;
                    o[1] = 4;
                    o[2] = p.prefix_len;
                    o[3] = (p.on_link as u8) << 7 | (p.autonomous as u8) << 6;
                    o[4..8].copy_from_slice(&p.valid_lifetime.to_be_bytes());
                    o[8..12].copy_from_slice(&p.preferred_lifetime.to_be_bytes());
                    o[16..32].copy_from_slice(&p.prefix.octets());
                }
            }
            Repr::NeighborSolicit { target, lladdr } => {
                b[4..20].copy_from_slice(&target.octets());
                if let Some(a) = lladdr {
                    emit_lladdr(&mut b[fixed..], option::SOURCE_LLADDR, a);
                }
            }
            Repr::NeighborAdvert { flags, target, lladdr } => {
                b[0] = flags.to_byte();
                b[4..20].copy_from_slice(&target.octets());
                if let Some(a) = lladdr {
                    emit_lladdr(&mut b[fixed..], option::TARGET_LLADDR, a);
                }
            }
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::icmpv6::{Packet, Repr as Icmpv6};

    // Built once with python3-scapy 2.5: the ICMPv6 parts of NDP packets,
    // with the IPv6 addresses they were sent between.
    const HOST1_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0xff, 0xfe00, 1);
    const NODE: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x198, 0x18, 0, 0, 0, 0, 2);
    const NODE_SN: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 2);
    const MAC1: Address = Address([2, 0, 0, 0, 0, 1]);
    const MAC2: Address = Address([2, 0, 0, 0, 0, 2]);

    // NS fe80::ff:fe00:1 -> ff02::1:ff00:2, target fd00:198:18::2, SLLA 02:00:00:00:00:01.
    static NS: [u8; 32] = [
        0x87, 0x00, 0x7b, 0x67, 0x00, 0x00, 0x00, 0x00, 0xfd, 0x00, 0x01, 0x98, 0x00, 0x18, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    ];
    // NA fd00:198:18::2 -> fe80::ff:fe00:1, S and O, TLLA 02:00:00:00:00:02.
    static NA: [u8; 32] = [
        0x88, 0x00, 0x18, 0xba, 0x60, 0x00, 0x00, 0x00, 0xfd, 0x00, 0x01, 0x98, 0x00, 0x18, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
    ];
    // RS fe80::ff:fe00:1 -> ff02::2, SLLA 02:00:00:00:00:01.
    static RS: [u8; 16] =
        [0x85, 0x00, 0x7b, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
    // RA fe80::1 -> ff02::1: hop limit 64, O, preference high, lifetime 1800, reachable
    // 30000, retrans 1000, SLLA 02:00:00:00:00:09, MTU 1500, prefix
    // fd00:198:18::/64 L A valid 86400 preferred 14400.
    static RA: [u8; 64] = [
        0x86, 0x00, 0xe1, 0x78, 0x40, 0x48, 0x07, 0x08, 0x00, 0x00, 0x75, 0x30, 0x00, 0x00, 0x03, 0xe8, 0x01, 0x01,
        0x02, 0x00, 0x00, 0x00, 0x00, 0x09, 0x05, 0x01, 0x00, 0x00, 0x00, 0x00, 0x05, 0xdc, 0x03, 0x04, 0x40, 0xc0,
        0x00, 0x01, 0x51, 0x80, 0x00, 0x00, 0x38, 0x40, 0x00, 0x00, 0x00, 0x00, 0xfd, 0x00, 0x01, 0x98, 0x00, 0x18,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];

    fn round_trip(bytes: &[u8], src: Ipv6Addr, dst: Ipv6Addr, want: Repr) {
        let p = Packet::new_checked(bytes).unwrap();
        let repr = Icmpv6::parse(&p, &src, &dst).unwrap();
        assert_eq!(repr, Icmpv6::Ndp(want));
        assert_eq!(repr.buffer_len(), bytes.len());
        let mut out = vec![0xaau8; bytes.len()];
        repr.emit(&src, &dst, &mut Packet::new_unchecked(&mut out[..]));
        assert_eq!(out, bytes);
        assert_eq!(check_ip(&want, &src, &dst, 255), Ok(()));
        assert_eq!(check_ip(&want, &src, &dst, 64), Err(Invalid::HopLimit));
    }

    #[test]
    fn neighbor_solicit() {
        round_trip(&NS, HOST1_LL, NODE_SN, Repr::NeighborSolicit { target: NODE, lladdr: Some(MAC1) });
    }

    #[test]
    fn neighbor_advert() {
        let flags = NeighborFlags { router: false, solicited: true, override_: true };
        round_trip(&NA, NODE, HOST1_LL, Repr::NeighborAdvert { flags, target: NODE, lladdr: Some(MAC2) });
    }

    #[test]
    fn router_solicit() {
        round_trip(&RS, HOST1_LL, ipv6::ALL_ROUTERS, Repr::RouterSolicit { lladdr: Some(MAC1) });
    }

    #[test]
    fn router_advert() {
        let want = Repr::RouterAdvert {
            hop_limit: 64,
            managed: false,
            other: true,
            preference: 1,
            router_lifetime: 1800,
            reachable_time: 30000,
            retrans_time: 1000,
            lladdr: Some(Address([2, 0, 0, 0, 0, 9])),
            mtu: Some(1500),
            prefix_info: Some(PrefixInfo {
                prefix_len: 64,
                on_link: true,
                autonomous: true,
                valid_lifetime: 86400,
                preferred_lifetime: 14400,
                prefix: Ipv6Addr::new(0xfd00, 0x198, 0x18, 0, 0, 0, 0, 0),
            }),
        };
        let router = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
        round_trip(&RA, router, ipv6::ALL_NODES, want);
        assert_eq!(check_ip(&want, &NODE, &ipv6::ALL_NODES, 255), Err(Invalid::RouterNotLinkLocal));
    }

    #[test]
    fn ip_level_rules() {
        let dad = Repr::NeighborSolicit { target: NODE, lladdr: None };
        let u = Ipv6Addr::UNSPECIFIED;
        assert_eq!(check_ip(&dad, &u, &NODE_SN, 255), Ok(()));
        assert_eq!(check_ip(&dad, &u, &ipv6::ALL_NODES, 255), Err(Invalid::UnspecifiedToNonSolicited));
        let bad = Repr::NeighborSolicit { target: NODE, lladdr: Some(MAC1) };
        assert_eq!(check_ip(&bad, &u, &NODE_SN, 255), Err(Invalid::UnspecifiedWithLladdr));
        assert_eq!(
            check_ip(&Repr::RouterSolicit { lladdr: Some(MAC1) }, &u, &ipv6::ALL_ROUTERS, 255),
            Err(Invalid::UnspecifiedWithLladdr)
        );
        let flags = NeighborFlags { solicited: true, ..Default::default() };
        let na = Repr::NeighborAdvert { flags, target: NODE, lladdr: None };
        assert_eq!(check_ip(&na, &NODE, &ipv6::ALL_NODES, 255), Err(Invalid::SolicitedToMulticast));
        // An unsolicited advertisement to all nodes is how a node announces itself.
        let flags = NeighborFlags { override_: true, ..Default::default() };
        let na = Repr::NeighborAdvert { flags, target: NODE, lladdr: Some(MAC2) };
        assert_eq!(check_ip(&na, &NODE, &ipv6::ALL_NODES, 255), Ok(()));
    }

    #[test]
    fn malformed() {
        // Zero option length.
        let mut b = NS;
        b[25] = 0;
        assert_eq!(Repr::parse(icmpv6::NEIGHBOR_SOLICIT, &b[4..]), Err(Error::Malformed));
        // Option length past the end.
        b[25] = 2;
        assert_eq!(Repr::parse(icmpv6::NEIGHBOR_SOLICIT, &b[4..]), Err(Error::Malformed));
        // A link-layer option of the wrong size.
        let mut long = NS.to_vec();
        long.extend_from_slice(&[0; 8]);
        long[25] = 2;
        assert_eq!(Repr::parse(icmpv6::NEIGHBOR_SOLICIT, &long[4..]), Err(Error::Malformed));
        // A multicast target.
        let mut b = NS;
        b[8] = 0xff;
        assert_eq!(Repr::parse(icmpv6::NEIGHBOR_SOLICIT, &b[4..]), Err(Error::Malformed));
        // Short bodies.
        assert_eq!(Repr::parse(icmpv6::NEIGHBOR_ADVERT, &NA[4..20]), Err(Error::Truncated));
        assert_eq!(Repr::parse(icmpv6::ROUTER_ADVERT, &RA[4..10]), Err(Error::Truncated));
        // A dangling option byte.
        let mut odd = RS.to_vec();
        odd.push(1);
        assert_eq!(Repr::parse(icmpv6::ROUTER_SOLICIT, &odd[4..]), Err(Error::Malformed));
        // Unknown options are skipped; no options at all is fine.
        let mut unk = RS;
        unk[8] = 200;
        assert_eq!(Repr::parse(icmpv6::ROUTER_SOLICIT, &unk[4..]), Ok(Repr::RouterSolicit { lladdr: None }));
        assert_eq!(
            Repr::parse(icmpv6::NEIGHBOR_SOLICIT, &NS[4..24]),
            Ok(Repr::NeighborSolicit { target: NODE, lladdr: None })
        );
        // Every truncation parses or fails, never panics.
        for n in 0..RA.len() {
            let _ = Repr::parse(icmpv6::ROUTER_ADVERT, &RA[4..4 + n.min(RA.len() - 4)]);
        }
    }
}
