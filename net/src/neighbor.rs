//! Static neighbour entries (VPP's `set ip neighbor ... static`, Linux's
//! `ip neigh add ... nud permanent`): an address's MAC fixed by the
//! operator, so a peer that never answers ARP (a packet generator) can be
//! sent to, and no request ever goes out for it.
//!
//! The table lives in the shared L2/L3 tables ([`crate::tables::NetTables`]),
//! changed by the main thread only under the barrier and read by every
//! worker, so one entry serves every worker without a message to each. A
//! worker's output consults it before its own dynamic cache
//! ([`crate::arp_cache`]); with no static entry at all that costs one
//! branch. Entries never expire and survive link changes; ARP input does not
//! learn an address that has one.
//!
//! The table is generic over the address, so IPv6 neighbours get the same
//! one (`StaticNeighbors<Ipv6Addr>`, `set ip6 neighbor`), consulted before
//! the ND cache (no solicitation goes out for the address, NDP does not
//! learn over it, no reachability state: it never expires). Every value
//! from the config or the CLI is checked here, in [`parse_static4`] and
//! [`parse_static6`], so both refuse the same things with the same words.

use std::net::{Ipv4Addr, Ipv6Addr};

use wire::ethernet::Address as MacAddress;
use wire::ipv4::{self, Cidr};

/// Most static entries the node holds, over every interface and family.
pub const MAX_STATIC_NEIGHBORS: usize = 4096;

/// Why a static neighbour entry is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NeighborError {
    /// The interface name is not configured.
    #[error("no interface named {0:?}")]
    NoInterface(String),
    /// The address does not parse.
    #[error("{0:?} is not an IPv4 address")]
    BadAddress(String),
    /// An IPv6 address given where an IPv4 one belongs.
    #[error("{0} is an IPv6 address: use `set ip6 neighbor`")]
    Ip6(Ipv6Addr),
    /// The address does not parse as IPv6.
    #[error("{0:?} is not an IPv6 address")]
    BadAddress6(String),
    /// The address is not one a single neighbour can have.
    #[error("{0} is not a unicast address ({1})")]
    NotUnicast(Ipv4Addr, &'static str),
    /// The IPv6 address is not one a single neighbour can have.
    #[error("{0} is not a unicast address ({1})")]
    NotUnicast6(Ipv6Addr, &'static str),
    /// The MAC does not parse.
    #[error("{0:?} is not a MAC address like 02:00:00:00:00:01")]
    BadMac(String),
    /// The MAC is a group (multicast, broadcast) or the zero address.
    #[error("{0} is not a unicast MAC address")]
    MacNotUnicast(MacAddress),
    /// The table is full.
    #[error("at most {MAX_STATIC_NEIGHBORS} static neighbours")]
    Full,
}

impl NeighborError {
    /// Which of the values given (`interface`, `ip`, `mac`) is refused;
    /// `""` when none is (the table is full).
    pub fn field(&self) -> &'static str {
        match self {
            NeighborError::NoInterface(_) => "interface",
            NeighborError::BadAddress(_)
            | NeighborError::Ip6(_)
            | NeighborError::BadAddress6(_)
            | NeighborError::NotUnicast(..)
            | NeighborError::NotUnicast6(..) => "ip",
            NeighborError::BadMac(_) | NeighborError::MacNotUnicast(_) => "mac",
            NeighborError::Full => "",
        }
    }
}

/// The static neighbours of every interface, for one address family.
#[derive(Debug, Clone)]
pub struct StaticNeighbors<A> {
    /// Per interface, sorted by address (binary search; entries are few and
    /// change rarely, so a sorted vector beats a hash map on lookup).
    ifaces: Vec<Vec<(A, MacAddress)>>,
    len: usize,
}

impl<A> Default for StaticNeighbors<A> {
    fn default() -> Self {
        StaticNeighbors { ifaces: Vec::new(), len: 0 }
    }
}

impl<A: Ord + Copy> StaticNeighbors<A> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The MAC of `ip` on interface `iface`, if it has a static entry.
    #[inline]
    pub fn lookup(&self, iface: usize, ip: A) -> Option<MacAddress> {
        if self.len == 0 {
            return None;
        }
        let v = self.ifaces.get(iface)?;
        v.binary_search_by(|e| e.0.cmp(&ip)).ok().map(|i| v[i].1)
    }

    /// Set `ip` on `iface` to `mac`; returns the MAC it replaced, if any.
    /// The address and MAC must have been checked ([`parse_static4`]).
    pub fn set(&mut self, iface: usize, ip: A, mac: MacAddress) -> Result<Option<MacAddress>, NeighborError> {
        if self.ifaces.len() <= iface {
            self.ifaces.resize_with(iface + 1, Vec::new);
        }
        let v = &mut self.ifaces[iface];
        match v.binary_search_by(|e| e.0.cmp(&ip)) {
            Ok(i) => Ok(Some(std::mem::replace(&mut v[i].1, mac))),
            Err(_) if self.len >= MAX_STATIC_NEIGHBORS => Err(NeighborError::Full),
            Err(i) => {
                v.insert(i, (ip, mac));
                self.len += 1;
                Ok(None)
            }
        }
    }

    /// Remove `ip`'s entry on `iface`; returns its MAC if there was one.
    pub fn remove(&mut self, iface: usize, ip: A) -> Option<MacAddress> {
        let v = self.ifaces.get_mut(iface)?;
        let i = v.binary_search_by(|e| e.0.cmp(&ip)).ok()?;
        self.len -= 1;
        Some(v.remove(i).1)
    }

    /// Every entry as (interface, address, MAC), by interface then address.
    pub fn iter(&self) -> impl Iterator<Item = (usize, A, MacAddress)> + '_ {
        self.ifaces.iter().enumerate().flat_map(|(i, v)| v.iter().map(move |&(ip, mac)| (i, ip, mac)))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A checked static IPv4 neighbour: interface index, address, MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticNeighbor4 {
    /// Index of the interface (in the interface table's order).
    pub iface: usize,
    /// The neighbour's address.
    pub ip: Ipv4Addr,
    /// Its MAC.
    pub mac: MacAddress,
}

/// Why `ip` cannot be a neighbour: a class no host may have, or an
/// interface's own or subnet broadcast address (`ip4s`: every interface's
/// address and prefix).
pub fn check_ip4(ip: Ipv4Addr, ip4s: impl IntoIterator<Item = Cidr>) -> Result<(), NeighborError> {
    let why = match ipv4::martian_source(ip) {
        Some(ipv4::Martian::ThisNetwork) => Some("0.0.0.0/8"),
        Some(ipv4::Martian::Loopback) => Some("loopback"),
        Some(ipv4::Martian::Multicast) => Some("multicast"),
        Some(ipv4::Martian::Broadcast) => Some("broadcast"),
        Some(ipv4::Martian::Reserved) => Some("240.0.0.0/4"),
        None => None,
    };
    if let Some(why) = why {
        return Err(NeighborError::NotUnicast(ip, why));
    }
    for c in ip4s {
        if c.address() == ip {
            return Err(NeighborError::NotUnicast(ip, "it is the node's own address"));
        }
        if c.broadcast() == Some(ip) {
            return Err(NeighborError::NotUnicast(ip, "it is a subnet broadcast address"));
        }
    }
    Ok(())
}

/// Checks a static IPv4 neighbour as the config and the CLI give it:
/// `interface` names one of `ifaces` (name, IPv4 address), `ip` is a
/// unicast address that is not the node's, `mac` a unicast MAC.
pub fn parse_static4<'a>(
    ifaces: impl IntoIterator<Item = (&'a str, Option<Cidr>)> + Clone,
    interface: &str,
    ip: &str,
    mac: &str,
) -> Result<StaticNeighbor4, NeighborError> {
    let (iface, ip) = parse_iface_ip4(ifaces.clone(), interface, ip)?;
    check_ip4(ip, ifaces.into_iter().filter_map(|(_, c)| c))?;
    let mac: MacAddress = mac.parse().map_err(|_| NeighborError::BadMac(mac.to_string()))?;
    if !mac.is_unicast() {
        return Err(NeighborError::MacNotUnicast(mac));
    }
    Ok(StaticNeighbor4 { iface, ip, mac })
}

/// The interface index and address of a neighbour named as `interface`
/// and `ip` (for deleting one: no other check).
pub fn parse_iface_ip4<'a>(
    ifaces: impl IntoIterator<Item = (&'a str, Option<Cidr>)>,
    interface: &str,
    ip: &str,
) -> Result<(usize, Ipv4Addr), NeighborError> {
    let iface = ifaces
        .into_iter()
        .position(|(n, _)| n == interface)
        .ok_or_else(|| NeighborError::NoInterface(interface.to_string()))?;
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => Ok((iface, a)),
        Ok(std::net::IpAddr::V6(a)) => Err(NeighborError::Ip6(a)),
        Err(_) => Err(NeighborError::BadAddress(ip.to_string())),
    }
}

/// A checked static IPv6 neighbour: interface index, address, MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticNeighbor6 {
    /// Index of the interface (in the interface table's order).
    pub iface: usize,
    /// The neighbour's address (link-local or global).
    pub ip: Ipv6Addr,
    /// Its MAC.
    pub mac: MacAddress,
}

/// Why `ip` cannot be an IPv6 neighbour: unspecified, loopback,
/// multicast, IPv4-mapped, or one of the node's own addresses (`ours`:
/// every interface's link-local and configured addresses).
pub fn check_ip6(ip: Ipv6Addr, ours: impl IntoIterator<Item = Ipv6Addr>) -> Result<(), NeighborError> {
    let why = if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if ip.to_ipv4_mapped().is_some() {
        Some("ipv4-mapped")
    } else if ours.into_iter().any(|a| a == ip) {
        Some("it is the node's own address")
    } else {
        None
    };
    match why {
        Some(why) => Err(NeighborError::NotUnicast6(ip, why)),
        None => Ok(()),
    }
}

/// Checks a static IPv6 neighbour as the config and the CLI give it:
/// `interface` names one of `ifaces` (name, the interface's own IPv6
/// addresses), `ip` is a unicast IPv6 address that is not the node's, `mac`
/// a unicast MAC.
pub fn parse_static6<'a, I>(
    ifaces: impl IntoIterator<Item = (&'a str, I)> + Clone,
    interface: &str,
    ip: &str,
    mac: &str,
) -> Result<StaticNeighbor6, NeighborError>
where
    I: IntoIterator<Item = Ipv6Addr>,
{
    let (iface, ip) = parse_iface_ip6(ifaces.clone().into_iter().map(|(n, _)| n), interface, ip)?;
    check_ip6(ip, ifaces.into_iter().flat_map(|(_, a)| a))?;
    let mac: MacAddress = mac.parse().map_err(|_| NeighborError::BadMac(mac.to_string()))?;
    if !mac.is_unicast() {
        return Err(NeighborError::MacNotUnicast(mac));
    }
    Ok(StaticNeighbor6 { iface, ip, mac })
}

/// The interface index and IPv6 address of a neighbour named as
/// `interface` and `ip` (for deleting one: no other check).
pub fn parse_iface_ip6<'a>(
    names: impl IntoIterator<Item = &'a str>,
    interface: &str,
    ip: &str,
) -> Result<(usize, Ipv6Addr), NeighborError> {
    let iface = names
        .into_iter()
        .position(|n| n == interface)
        .ok_or_else(|| NeighborError::NoInterface(interface.to_string()))?;
    ip.parse::<Ipv6Addr>().map(|a| (iface, a)).map_err(|_| NeighborError::BadAddress6(ip.to_string()))
}

#[cfg(test)]
mod test {
    use super::*;

    fn ifaces() -> Vec<(&'static str, Option<Cidr>)> {
        vec![("tap0", Some("198.18.0.2/24".parse().unwrap())), ("memif0", None)]
    }

    fn parse(i: &str, ip: &str, mac: &str) -> Result<StaticNeighbor4, NeighborError> {
        parse_static4(ifaces(), i, ip, mac)
    }

    #[test]
    fn parse_accepts_a_unicast_neighbour() {
        let n = parse("memif0", "198.18.1.1", "02:00:00:00:00:01").unwrap();
        assert_eq!(
            n,
            StaticNeighbor4 { iface: 1, ip: Ipv4Addr::new(198, 18, 1, 1), mac: MacAddress([2, 0, 0, 0, 0, 1]) }
        );
    }

    #[test]
    fn parse_refuses_with_the_reason() {
        let e = |i, ip, mac| parse(i, ip, mac).unwrap_err().to_string();
        let m = "02:00:00:00:00:01";
        assert_eq!(e("tap9", "198.18.0.1", m), "no interface named \"tap9\"");
        assert_eq!(e("tap0", "198.18.0.300", m), "\"198.18.0.300\" is not an IPv4 address");
        assert_eq!(e("tap0", "fe80::1", m), "fe80::1 is an IPv6 address: use `set ip6 neighbor`");
        assert_eq!(e("tap0", "224.0.0.1", m), "224.0.0.1 is not a unicast address (multicast)");
        assert_eq!(e("tap0", "255.255.255.255", m), "255.255.255.255 is not a unicast address (broadcast)");
        assert_eq!(e("tap0", "127.0.0.1", m), "127.0.0.1 is not a unicast address (loopback)");
        assert_eq!(e("tap0", "0.0.0.0", m), "0.0.0.0 is not a unicast address (0.0.0.0/8)");
        assert_eq!(e("tap0", "240.0.0.1", m), "240.0.0.1 is not a unicast address (240.0.0.0/4)");
        assert_eq!(
            e("tap0", "198.18.0.255", m),
            "198.18.0.255 is not a unicast address (it is a subnet broadcast address)"
        );
        assert_eq!(e("memif0", "198.18.0.2", m), "198.18.0.2 is not a unicast address (it is the node's own address)");
        assert_eq!(
            e("tap0", "198.18.0.1", "02:00:00:00:01"),
            "\"02:00:00:00:01\" is not a MAC address like 02:00:00:00:00:01"
        );
        assert_eq!(e("tap0", "198.18.0.1", "01:00:5e:00:00:01"), "01:00:5e:00:00:01 is not a unicast MAC address");
        assert_eq!(e("tap0", "198.18.0.1", "ff:ff:ff:ff:ff:ff"), "ff:ff:ff:ff:ff:ff is not a unicast MAC address");
        assert_eq!(e("tap0", "198.18.0.1", "00:00:00:00:00:00"), "00:00:00:00:00:00 is not a unicast MAC address");
    }

    #[test]
    fn parse6_accepts_unicast_and_refuses_with_the_reason() {
        let own: Vec<Ipv6Addr> = vec!["fe80::ff:fe00:2".parse().unwrap(), "fd00:198:18::2".parse().unwrap()];
        let ifaces = || vec![("tap0", own.clone()), ("memif0", Vec::new())];
        let p = |i: &str, ip: &str, mac: &str| parse_static6(ifaces(), i, ip, mac);
        let m = "02:00:00:00:00:01";
        let n = p("memif0", "fd00:198:18::1", m).unwrap();
        assert_eq!(
            n,
            StaticNeighbor6 { iface: 1, ip: "fd00:198:18::1".parse().unwrap(), mac: MacAddress([2, 0, 0, 0, 0, 1]) }
        );
        assert_eq!(p("tap0", "fe80::1", m).unwrap().ip, "fe80::1".parse::<Ipv6Addr>().unwrap());
        let e = |i, ip, mac| p(i, ip, mac).unwrap_err().to_string();
        assert_eq!(e("tap9", "fe80::1", m), "no interface named \"tap9\"");
        assert_eq!(e("tap0", "198.18.0.1", m), "\"198.18.0.1\" is not an IPv6 address");
        assert_eq!(e("tap0", "fe80::1::2", m), "\"fe80::1::2\" is not an IPv6 address");
        assert_eq!(e("tap0", "::", m), ":: is not a unicast address (unspecified)");
        assert_eq!(e("tap0", "::1", m), "::1 is not a unicast address (loopback)");
        assert_eq!(e("tap0", "ff02::1", m), "ff02::1 is not a unicast address (multicast)");
        assert_eq!(e("tap0", "::ffff:198.18.0.1", m), "::ffff:198.18.0.1 is not a unicast address (ipv4-mapped)");
        // The node's own addresses, on any interface.
        assert_eq!(
            e("memif0", "fd00:198:18::2", m),
            "fd00:198:18::2 is not a unicast address (it is the node's own address)"
        );
        assert_eq!(
            e("tap0", "fe80::ff:fe00:2", m),
            "fe80::ff:fe00:2 is not a unicast address (it is the node's own address)"
        );
        assert_eq!(e("tap0", "fe80::1", "33:33:00:00:00:01"), "33:33:00:00:00:01 is not a unicast MAC address");
        assert_eq!(e("tap0", "fe80::1", "nope"), "\"nope\" is not a MAC address like 02:00:00:00:00:01");
        assert_eq!(p("tap0", "::1", m).unwrap_err().field(), "ip");
        assert_eq!(parse_iface_ip6(["tap0"], "tap0", "fe80::9"), Ok((0, "fe80::9".parse().unwrap())));
    }

    #[test]
    fn table_set_replace_lookup_remove() {
        let mut t = StaticNeighbors::<Ipv4Addr>::new();
        let ip = |n| Ipv4Addr::new(198, 18, 0, n);
        let mac = |n| MacAddress([2, 0, 0, 0, 0, n]);
        assert_eq!(t.lookup(0, ip(1)), None);
        assert_eq!(t.set(1, ip(9), mac(9)), Ok(None));
        assert_eq!(t.set(1, ip(3), mac(3)), Ok(None));
        assert_eq!(t.set(0, ip(3), mac(4)), Ok(None));
        assert_eq!(t.len(), 3);
        assert_eq!(t.lookup(1, ip(3)), Some(mac(3)));
        assert_eq!(t.lookup(0, ip(3)), Some(mac(4)));
        assert_eq!(t.lookup(0, ip(9)), None, "entries are per interface");
        assert_eq!(t.lookup(7, ip(9)), None);
        assert_eq!(t.set(1, ip(3), mac(5)), Ok(Some(mac(3))));
        assert_eq!(t.len(), 3);
        let all: Vec<_> = t.iter().collect();
        assert_eq!(all, vec![(0, ip(3), mac(4)), (1, ip(3), mac(5)), (1, ip(9), mac(9))]);
        assert_eq!(t.remove(1, ip(3)), Some(mac(5)));
        assert_eq!(t.remove(1, ip(3)), None);
        assert_eq!(t.remove(5, ip(3)), None);
        assert_eq!(t.lookup(1, ip(3)), None);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn table_is_bounded() {
        let mut t = StaticNeighbors::<u32>::new();
        for i in 0..MAX_STATIC_NEIGHBORS as u32 {
            assert_eq!(t.set(0, i, MacAddress([2, 0, 0, 0, 0, 1])), Ok(None));
        }
        assert_eq!(t.set(1, 0, MacAddress([2, 0, 0, 0, 0, 1])), Err(NeighborError::Full));
        // Replacing an entry still works when full.
        assert_eq!(t.set(0, 7, MacAddress([2, 0, 0, 0, 0, 2])), Ok(Some(MacAddress([2, 0, 0, 0, 0, 1]))));
        assert!(t.remove(0, 7).is_some());
        assert_eq!(t.set(1, 0, MacAddress([2, 0, 0, 0, 0, 1])), Ok(None));
    }
}

/// The table as workers use it, on the in-memory network: output, ARP input
/// and the hand-over when an entry is set.
#[cfg(test)]
mod sim_test {
    use std::net::Ipv4Addr;

    use super::MacAddress;
    use crate::l3::counters::Counter;
    use crate::sim::{Link, LinkConfig, SimIface, SimNode, Sink};
    use crate::tables::PingWaiter;
    use wire::ipv4::Cidr;

    const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const MAC_B: MacAddress = MacAddress([2, 0, 0, 0, 0, 2]);

    fn pair() -> (Link, SimNode, SimNode) {
        let link = Link::new(&LinkConfig::default());
        let iface = |end, last: u8, ip| SimIface {
            end,
            mac: MacAddress([2, 0, 0, 0, 0, last]),
            ip4: Cidr::new(ip, 24).expect("prefix"),
        };
        let a = SimNode::new(vec![iface(link.a(), 1, A)]);
        let b = SimNode::new(vec![iface(link.b(), 2, B)]);
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
    fn a_static_neighbour_is_sent_to_without_arp_and_never_learnt_over() {
        let (_link, mut a, mut b) = pair();
        a.net.neighbors.set(0, B, MAC_B).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        a.net.pings.push(PingWaiter { ident: 1, tx });
        let mut now = 1_000_000;
        a.l3.now_ns = now;
        assert!(a.l3.ping_send(&a.net, B, 1, 1, 56));
        run(&mut now, 1_000_000, &mut a, &mut b);
        assert_eq!(rx.try_recv().expect("a reply").from, B);
        assert_eq!(a.l3.counters.get(Counter::ArpRequestsOut), 0, "no request for a static neighbour");
        // b asks for a: a answers but does not learn b.
        let (btx, brx) = std::sync::mpsc::channel();
        b.net.pings.push(PingWaiter { ident: 2, tx: btx });
        b.l3.now_ns = now;
        assert!(b.l3.ping_send(&b.net, A, 2, 1, 56));
        run(&mut now, 1_000_000, &mut a, &mut b);
        assert_eq!(brx.try_recv().expect("b's reply").from, A);
        assert_eq!(b.l3.counters.get(Counter::ArpRequestsOut), 1);
        assert_eq!(a.l3.counters.get(Counter::ArpRepliesOut), 1);
        assert!(a.l3.arp_entries(0).is_empty(), "{:?}", a.l3.arp_entries(0));

        // Without it, a asks again.
        a.net.neighbors.remove(0, B).unwrap();
        a.l3.now_ns = now;
        assert!(a.l3.ping_send(&a.net, B, 1, 2, 56));
        run(&mut now, 1_000_000, &mut a, &mut b);
        assert_eq!(rx.try_recv().expect("a second reply").seq, 2);
        assert_eq!(a.l3.counters.get(Counter::ArpRequestsOut), 1);
        assert_eq!(a.l3.arp_entries(0).iter().map(|e| (e.0, e.1)).collect::<Vec<_>>(), vec![(B, MAC_B)]);
    }

    #[test]
    fn setting_an_entry_sends_what_waited_for_the_address_and_drops_the_dynamic_one() {
        let (_link, mut a, mut b) = pair();
        let (tx, rx) = std::sync::mpsc::channel();
        a.net.pings.push(PingWaiter { ident: 1, tx });
        let mut now = 1_000_000;
        a.l3.now_ns = now;
        // Queued behind an ARP request b has not seen yet.
        assert!(a.l3.ping_send(&a.net, B, 1, 1, 56));
        a.net.neighbors.set(0, B, MAC_B).unwrap();
        a.l3.defer_static_neighbour(0, B);
        // b's ARP reply is not learnt over the static entry, so only the
        // hand-over can have sent the echo request; nothing fails later.
        run(&mut now, 5_000_000_000, &mut a, &mut b);
        assert_eq!(rx.try_recv().expect("a reply").seq, 1);
        assert!(rx.try_recv().is_err());
        assert_eq!(a.l3.counters.get(Counter::ArpResolutionFailed), 0);
        assert_eq!(a.l3.counters.get(Counter::ArpRequestsOut), 1);
        assert!(a.l3.arp_entries(0).is_empty());
        // A dynamic entry learnt before the static one is dropped too.
        a.net.neighbors.remove(0, B).unwrap();
        a.l3.now_ns = now;
        assert!(a.l3.ping_send(&a.net, B, 1, 2, 56));
        run(&mut now, 1_000_000, &mut a, &mut b);
        assert_eq!(a.l3.arp_entries(0).len(), 1);
        a.net.neighbors.set(0, B, MAC_B).unwrap();
        a.l3.defer_static_neighbour(0, B);
        run(&mut now, 1_000_000, &mut a, &mut b);
        assert!(a.l3.arp_entries(0).is_empty());
    }
}
