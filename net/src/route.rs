//! The static IPv4 route table: prefix to (port, next hop), looked up by
//! longest prefix match. Pure data, filled by the main thread (connected
//! routes for interface addresses, plus configured routes) and read by the
//! workers on every packet they send.
//!
//! Tables here are small (a handful of connected prefixes and gateways), so
//! the routes are kept in one vector sorted by descending prefix length,
//! with a parallel array of (network, mask) words: a lookup is a linear
//! scan over a few cache lines that stops at the first, i.e. longest, match,
//! with no hashing and no allocation.

use std::net::Ipv4Addr;

use thiserror::Error;

use wire::ipv4::Cidr;

/// One route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    /// The destinations it covers (stored with host bits cleared).
    pub prefix: Cidr,
    /// The interface (port index) to send on.
    pub port: u16,
    /// The gateway to send through; `None` for a connected prefix, where
    /// the destination itself is the next hop.
    pub next_hop: Option<Ipv4Addr>,
}

/// Why a route could not be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RouteError {
    /// A route for the same prefix (network and length) already exists.
    #[error("a route for {0} already exists")]
    Duplicate(Cidr),
}

/// A static IPv4 route table with longest-prefix-match lookup.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    /// (network, mask) per route, same order as `routes`.
    keys: Vec<(u32, u32)>,
    /// Sorted by descending prefix length, then by network.
    routes: Vec<Route>,
}

impl RouteTable {
    /// An empty table (no default route).
    pub fn new() -> RouteTable {
        RouteTable::default()
    }

    /// Add a route; its prefix is normalised to the network address
    /// (10.1.2.3/8 becomes 10.0.0.0/8). Fails if the prefix is taken.
    pub fn add(&mut self, route: Route) -> Result<(), RouteError> {
        let prefix = normalise(route.prefix);
        let route = Route { prefix, ..route };
        let pos = match self.routes.binary_search_by(|r| order_key(r.prefix).cmp(&order_key(prefix))) {
            Ok(_) => return Err(RouteError::Duplicate(prefix)),
            Err(pos) => pos,
        };
        self.keys.insert(pos, (u32::from(prefix.address()), prefix.mask_u32()));
        self.routes.insert(pos, route);
        Ok(())
    }

    /// Remove the route for `prefix` (compared as network and length).
    /// Returns whether there was one.
    pub fn remove(&mut self, prefix: Cidr) -> bool {
        let prefix = normalise(prefix);
        match self.routes.binary_search_by(|r| order_key(r.prefix).cmp(&order_key(prefix))) {
            Ok(pos) => {
                self.keys.remove(pos);
                self.routes.remove(pos);
                true
            }
            Err(_) => false,
        }
    }

    /// The route for `prefix` exactly (compared as network and length).
    pub fn get(&self, prefix: Cidr) -> Option<&Route> {
        let prefix = normalise(prefix);
        let pos = self.routes.binary_search_by(|r| order_key(r.prefix).cmp(&order_key(prefix))).ok()?;
        self.routes.get(pos)
    }

    /// The most specific route covering `dst`; 0.0.0.0/0, if present,
    /// catches everything else.
    #[inline]
    pub fn lookup(&self, dst: Ipv4Addr) -> Option<&Route> {
        let d = u32::from(dst);
        let pos = self.keys.iter().position(|&(net, mask)| d & mask == net)?;
        self.routes.get(pos)
    }

    /// The routes, most specific first.
    pub fn iter(&self) -> impl Iterator<Item = &Route> + '_ {
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
    // A valid prefix length stays valid.
    Cidr::new(prefix.network(), prefix.prefix_len()).unwrap_or(prefix)
}

/// Sort key: longest prefix first, then by network address.
fn order_key(prefix: Cidr) -> (core::cmp::Reverse<u8>, u32) {
    (core::cmp::Reverse(prefix.prefix_len()), u32::from(prefix.network()))
}

#[cfg(test)]
mod test {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    fn a(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn connected(prefix: &str, port: u16) -> Route {
        Route { prefix: cidr(prefix), port, next_hop: None }
    }

    fn via(prefix: &str, port: u16, gw: &str) -> Route {
        Route { prefix: cidr(prefix), port, next_hop: Some(a(gw)) }
    }

    #[test]
    fn empty_table_has_no_route() {
        let t = RouteTable::new();
        assert!(t.is_empty());
        assert_eq!(t.lookup(a("198.18.0.1")), None);
    }

    #[test]
    fn connected_vs_gateway() {
        let mut t = RouteTable::new();
        t.add(connected("198.18.0.0/24", 0)).unwrap();
        t.add(via("10.0.0.0/8", 1, "198.18.1.1")).unwrap();
        let r = t.lookup(a("198.18.0.77")).unwrap();
        assert_eq!((r.port, r.next_hop), (0, None));
        let r = t.lookup(a("10.200.3.4")).unwrap();
        assert_eq!((r.port, r.next_hop), (1, Some(a("198.18.1.1"))));
        assert_eq!(t.lookup(a("198.19.0.1")), None);
    }

    #[test]
    fn longest_prefix_wins_regardless_of_insert_order() {
        let routes = [
            via("0.0.0.0/0", 9, "198.18.0.1"),
            via("10.0.0.0/8", 1, "198.18.0.8"),
            via("10.1.0.0/16", 2, "198.18.0.16"),
            via("10.1.2.0/24", 3, "198.18.0.24"),
            via("10.1.2.3/32", 4, "198.18.0.32"),
        ];
        for rotation in 0..routes.len() {
            let mut t = RouteTable::new();
            for i in 0..routes.len() {
                t.add(routes[(i + rotation) % routes.len()]).unwrap();
            }
            let port = |d: &str| t.lookup(a(d)).map(|r| r.port);
            assert_eq!(port("10.1.2.3"), Some(4));
            assert_eq!(port("10.1.2.4"), Some(3));
            assert_eq!(port("10.1.3.1"), Some(2));
            assert_eq!(port("10.2.0.1"), Some(1));
            assert_eq!(port("11.0.0.1"), Some(9));
            let lens: Vec<u8> = t.iter().map(|r| r.prefix.prefix_len()).collect();
            assert_eq!(lens, vec![32, 24, 16, 8, 0]);
        }
    }

    #[test]
    fn default_route() {
        let mut t = RouteTable::new();
        t.add(connected("198.18.0.0/24", 0)).unwrap();
        t.add(via("0.0.0.0/0", 0, "198.18.0.1")).unwrap();
        assert_eq!(t.lookup(a("8.8.8.8")).unwrap().next_hop, Some(a("198.18.0.1")));
        assert_eq!(t.lookup(a("255.255.255.255")).unwrap().prefix, cidr("0.0.0.0/0"));
        assert_eq!(t.lookup(a("198.18.0.1")).unwrap().next_hop, None);
    }

    #[test]
    fn duplicates_are_rejected() {
        let mut t = RouteTable::new();
        t.add(connected("198.18.0.0/24", 0)).unwrap();
        // Same network and length, even written with host bits or another port.
        assert_eq!(t.add(via("198.18.0.2/24", 1, "1.2.3.4")), Err(RouteError::Duplicate(cidr("198.18.0.0/24"))));
        assert_eq!(
            t.add(connected("198.18.0.0/24", 0)).unwrap_err().to_string(),
            "a route for 198.18.0.0/24 already exists"
        );
        // A different length is a different prefix.
        t.add(connected("198.18.0.0/25", 0)).unwrap();
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn prefixes_are_normalised() {
        let mut t = RouteTable::new();
        t.add(connected("198.18.0.2/24", 0)).unwrap();
        assert_eq!(t.iter().next().unwrap().prefix, cidr("198.18.0.0/24"));
        assert!(t.lookup(a("198.18.0.200")).is_some());
        assert_eq!(t.get(cidr("198.18.0.9/24")).map(|r| r.port), Some(0));
    }

    #[test]
    fn removal() {
        let mut t = RouteTable::new();
        t.add(via("0.0.0.0/0", 0, "198.18.0.1")).unwrap();
        t.add(via("10.0.0.0/8", 1, "198.18.0.8")).unwrap();
        assert_eq!(t.lookup(a("10.0.0.1")).unwrap().port, 1);
        assert!(t.remove(cidr("10.0.0.0/8")));
        assert!(!t.remove(cidr("10.0.0.0/8")));
        assert!(!t.remove(cidr("10.0.0.0/16")));
        assert_eq!(t.lookup(a("10.0.0.1")).unwrap().port, 0);
        assert!(t.remove(cidr("0.0.0.0/0")));
        assert_eq!(t.lookup(a("10.0.0.1")), None);
        assert!(t.is_empty());
        // Keys and routes stay in step.
        t.add(via("10.0.0.0/8", 5, "198.18.0.8")).unwrap();
        assert_eq!(t.lookup(a("10.9.9.9")).unwrap().port, 5);
    }

    #[test]
    fn host_route_and_many_siblings() {
        let mut t = RouteTable::new();
        for i in 0..=255u8 {
            t.add(connected(&format!("10.0.{i}.0/24"), u16::from(i))).unwrap();
        }
        t.add(via("10.0.7.7/32", 999, "10.0.0.1")).unwrap();
        assert_eq!(t.lookup(a("10.0.7.7")).unwrap().port, 999);
        assert_eq!(t.lookup(a("10.0.7.8")).unwrap().port, 7);
        assert_eq!(t.lookup(a("10.0.255.1")).unwrap().port, 255);
        assert_eq!(t.len(), 257);
    }
}
