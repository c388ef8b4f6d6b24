//! The static IPv6 route table, the counterpart of [`crate::route`]: prefix
//! to (port, next hop), longest prefix match. Filled by the main thread
//! (a connected route for each configured address's prefix, then the
//! `[[route6]]` entries, `::/0` being the default gateway) and read by the
//! workers for every packet they originate. Kept as one vector sorted by
//! descending prefix length, scanned linearly (tables are a handful of
//! routes).
//!
//! Link-local destinations (fe80::/10) are never looked up here: they have
//! no prefix to route by and leave through the interface the caller names
//! (see `L3::ip6_route`).

use std::net::Ipv6Addr;

use thiserror::Error;

use wire::ipv6::Cidr;

/// One IPv6 route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route6 {
    /// The destinations it covers (stored with host bits cleared).
    pub prefix: Cidr,
    /// The interface (port index) to send on.
    pub port: u16,
    /// The gateway (often its link-local address); `None` for a connected
    /// prefix, where the destination itself is the next hop.
    pub next_hop: Option<Ipv6Addr>,
}

/// Why a route could not be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Route6Error {
    /// A route for the same prefix (network and length) already exists.
    #[error("a route for {0} already exists")]
    Duplicate(Cidr),
}

/// A static IPv6 route table with longest-prefix-match lookup.
#[derive(Debug, Clone, Default)]
pub struct Route6Table {
    /// (network, mask) per route, same order as `routes`.
    keys: Vec<(u128, u128)>,
    /// Sorted by descending prefix length, then by network.
    routes: Vec<Route6>,
}

impl Route6Table {
    /// An empty table (no default route).
    pub fn new() -> Route6Table {
        Route6Table::default()
    }

    /// Add a route; its prefix is normalised to the network address.
    /// Fails if the prefix is taken.
    pub fn add(&mut self, route: Route6) -> Result<(), Route6Error> {
        let prefix = normalise(route.prefix);
        let route = Route6 { prefix, ..route };
        let pos = match self.routes.binary_search_by(|r| order_key(r.prefix).cmp(&order_key(prefix))) {
            Ok(_) => return Err(Route6Error::Duplicate(prefix)),
            Err(pos) => pos,
        };
        self.keys.insert(pos, (prefix.network().to_bits(), prefix.mask_u128()));
        self.routes.insert(pos, route);
        Ok(())
    }

    /// The most specific route covering `dst`; `::/0`, if present, catches
    /// everything else.
    #[inline]
    pub fn lookup(&self, dst: Ipv6Addr) -> Option<&Route6> {
        let d = dst.to_bits();
        let pos = self.keys.iter().position(|&(net, mask)| d & mask == net)?;
        self.routes.get(pos)
    }

    /// The routes, most specific first.
    pub fn iter(&self) -> impl Iterator<Item = &Route6> + '_ {
        self.routes.iter()
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether the table has no routes.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

fn normalise(prefix: Cidr) -> Cidr {
    Cidr::new(prefix.network(), prefix.prefix_len()).unwrap_or(prefix)
}

fn order_key(prefix: Cidr) -> (core::cmp::Reverse<u8>, u128) {
    (core::cmp::Reverse(prefix.prefix_len()), prefix.network().to_bits())
}

#[cfg(test)]
mod test {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_then_default_gateway() {
        let mut t = Route6Table::new();
        assert!(t.lookup(a("2001:db8::1")).is_none());
        t.add(Route6 { prefix: cidr("::/0"), port: 0, next_hop: Some(a("fe80::1")) }).unwrap();
        t.add(Route6 { prefix: cidr("fd00:198:18::2/64"), port: 0, next_hop: None }).unwrap();
        t.add(Route6 { prefix: cidr("fd00:198:18:0:8000::/65"), port: 1, next_hop: Some(a("fd00:198:18::9")) })
            .unwrap();
        assert_eq!(t.lookup(a("fd00:198:18::5")).map(|r| (r.port, r.next_hop)), Some((0, None)));
        assert_eq!(t.lookup(a("fd00:198:18:0:8000::5")).map(|r| r.port), Some(1));
        assert_eq!(t.lookup(a("2001:db8::1")).and_then(|r| r.next_hop), Some(a("fe80::1")));
        assert_eq!(t.iter().next().map(|r| r.prefix), Some(cidr("fd00:198:18:0:8000::/65")));
        // Host bits are cleared, so the same network is a duplicate.
        let dup = t.add(Route6 { prefix: cidr("fd00:198:18::7/64"), port: 1, next_hop: None });
        assert_eq!(dup, Err(Route6Error::Duplicate(cidr("fd00:198:18::/64"))));
        assert_eq!(t.len(), 3);
    }
}
