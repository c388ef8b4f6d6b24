//! The listener tables: who listens on an endpoint, globally per FIB and locally per namespace.
//!
//! When a SYN or a first datagram arrives, the node must find who listens
//! for it; when an app connects, the node first asks whether another app on
//! this node listens there (cut-through). Both questions are answered here.
//! As in VPP's `session_lookup.c`, there are two kinds of tables: a global
//! table per FIB, holding listeners reachable from the network, and a local
//! table per namespace, holding listeners reachable only by apps of that
//! namespace. A lookup tries the exact address, then its family's wildcard
//! (`0.0.0.0` or `::`) on the same port, then for IPv4 the IPv6 wildcard
//! `::` (a listener on `[::]` takes IPv4 too, as a Linux socket without
//! `IPV6_V6ONLY` does), then the proxy entry.
//!
//! Simplification against VPP: VPP installs a proxy app's entries as
//! wildcard-port listeners (and, for local scope, session rules). Here a
//! proxy is an ordinary entry under the reserved endpoint
//! `PROTO://0.0.0.0/0` ([`Endpoint::proxy`]) and the lookup simply consults
//! it last, so a proxy catches every address and port of its table that no
//! other listener claims. Only listeners live here; established connections
//! belong to the per-worker transport tables.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use shm::types::{Endpoint, ParseError, Proto};

use crate::error::SessionError;

/// Parses `PROTO://ADDR/PORT` (or `PROTO://ADDR:PORT`), e.g. `tcp://0.0.0.0/7`; a bad one is an invalid `uri`.
pub fn parse_uri(s: &str) -> Result<Endpoint, SessionError> {
    s.parse().map_err(|e: ParseError| SessionError::invalid("uri", e.0))
}

fn key(ep: &Endpoint) -> Key {
    (ep.proto, ep.ip, ep.port)
}

/// What a table is keyed by.
type Key = (Proto, IpAddr, u16);
/// One table: key to app listener index.
type Table = HashMap<Key, u32>;

/// The listener tables: global ones per FIB, local ones per namespace.
///
/// Empty tables are dropped, so a node with no listeners holds no tables.
#[derive(Debug, Clone, Default)]
pub struct ListenerTables {
    global: HashMap<u32, Table>,
    local: HashMap<u32, Table>,
}

impl ListenerTables {
    /// Empty tables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `listener` on `ep` in fib `fib`'s global table; AddressInUse if another listener has it.
    pub fn add_global(&mut self, fib: u32, ep: &Endpoint, listener: u32) -> Result<(), SessionError> {
        insert(&mut self.global, fib, ep, listener)
    }

    /// Removes `ep` from fib `fib`'s global table if it maps to `listener`; returns whether it did.
    pub fn del_global(&mut self, fib: u32, ep: &Endpoint, listener: u32) -> bool {
        remove(&mut self.global, fib, ep, listener)
    }

    /// Registers `listener` on `ep` in namespace `ns`'s local table; AddressInUse if another listener has it.
    pub fn add_local(&mut self, ns: u32, ep: &Endpoint, listener: u32) -> Result<(), SessionError> {
        insert(&mut self.local, ns, ep, listener)
    }

    /// Removes `ep` from namespace `ns`'s local table if it maps to `listener`; returns whether it did.
    pub fn del_local(&mut self, ns: u32, ep: &Endpoint, listener: u32) -> bool {
        remove(&mut self.local, ns, ep, listener)
    }

    /// The listener registered on exactly `ep` in fib `fib`'s global table (no wildcard rules).
    pub fn global_entry(&self, fib: u32, ep: &Endpoint) -> Option<u32> {
        self.global.get(&fib)?.get(&key(ep)).copied()
    }

    /// The listener registered on exactly `ep` in namespace `ns`'s local table (no wildcard rules).
    pub fn local_entry(&self, ns: u32, ep: &Endpoint) -> Option<u32> {
        self.local.get(&ns)?.get(&key(ep)).copied()
    }

    /// The listener for a packet to `ip:port` in fib `fib`: exact, then wildcard address, then proxy.
    pub fn lookup_global(&self, fib: u32, proto: Proto, ip: IpAddr, port: u16) -> Option<u32> {
        find(self.global.get(&fib)?, proto, ip, port)
    }

    /// The listener for a connect to `ip:port` within namespace `ns`: exact, then wildcard address, then proxy.
    pub fn lookup_local(&self, ns: u32, proto: Proto, ip: IpAddr, port: u16) -> Option<u32> {
        find(self.local.get(&ns)?, proto, ip, port)
    }

    /// Number of entries in all global tables.
    pub fn global_len(&self) -> usize {
        self.global.values().map(HashMap::len).sum()
    }

    /// Number of entries in all local tables.
    pub fn local_len(&self) -> usize {
        self.local.values().map(HashMap::len).sum()
    }

    /// Number of entries in all tables.
    pub fn len(&self) -> usize {
        self.global_len() + self.local_len()
    }

    /// Whether no table holds an entry.
    pub fn is_empty(&self) -> bool {
        self.global.is_empty() && self.local.is_empty()
    }

    /// Number of (non-empty) tables allocated, global and local.
    pub fn table_count(&self) -> usize {
        self.global.len() + self.local.len()
    }
}

fn insert(tables: &mut HashMap<u32, Table>, id: u32, ep: &Endpoint, listener: u32) -> Result<(), SessionError> {
    match tables.entry(id).or_default().entry(key(ep)) {
        Entry::Occupied(e) if *e.get() != listener => Err(SessionError::AddressInUse(ep.to_string())),
        Entry::Occupied(_) => Ok(()),
        Entry::Vacant(e) => {
            e.insert(listener);
            Ok(())
        }
    }
}

fn remove(tables: &mut HashMap<u32, Table>, id: u32, ep: &Endpoint, listener: u32) -> bool {
    let Some(table) = tables.get_mut(&id) else {
        return false;
    };
    if table.get(&key(ep)) != Some(&listener) {
        return false;
    }
    table.remove(&key(ep));
    if table.is_empty() {
        tables.remove(&id);
    }
    true
}

const ANY4: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
const ANY6: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

fn find(table: &Table, proto: Proto, ip: IpAddr, port: u16) -> Option<u32> {
    let proxy = key(&Endpoint::proxy(proto));
    let get = |k: &Key| table.get(k).copied();
    match ip {
        // `[::]` takes IPv4 too, after the IPv4 wildcard.
        IpAddr::V4(_) => get(&(proto, ip, port))
            .or_else(|| get(&(proto, ANY4, port)))
            .or_else(|| get(&(proto, ANY6, port)))
            .or_else(|| get(&proxy)),
        IpAddr::V6(_) => get(&(proto, ip, port)).or_else(|| get(&(proto, ANY6, port))).or_else(|| get(&proxy)),
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn ep(s: &str) -> Endpoint {
        parse_uri(s).unwrap()
    }

    #[test]
    fn uri_round_trip() {
        let e = ep("udp://1.2.3.4/7");
        assert_eq!(e, Endpoint::v4(Proto::Udp, Ipv4Addr::new(1, 2, 3, 4), 7));
        assert_eq!(ep("tcp://[::]:80").to_string(), "tcp://[::]/80");
        assert_eq!(e.to_string(), "udp://1.2.3.4/7");
        assert_eq!(ep("TCP://0.0.0.0:80"), ep("tcp://0.0.0.0/80"));
        assert_eq!("tcp://10.0.0.1/1".parse::<Endpoint>().unwrap().port, 1);
        assert_eq!("udp".parse::<Proto>().unwrap(), Proto::Udp);
    }

    #[test]
    fn bad_uris_name_the_key() {
        for s in [
            "",
            "tcp:/1.2.3.4/80",
            "sctp://1.2.3.4/80",
            "tcp://1.2.3.4",
            "tcp://1.2.3/80",
            "tcp://1.2.3.4/65536",
            "tcp://1.2.3.4/80/x",
            "tcp://::1/80",
            "tcp://[::1/80",
            "tcp://[1.2.3.4]/80",
        ] {
            match parse_uri(s) {
                Err(SessionError::InvalidValue { key: "uri", .. }) => {}
                other => panic!("{s:?}: {other:?}"),
            }
        }
        assert!(matches!("quic".parse::<Proto>(), Err(ParseError(_))));
    }

    #[test]
    fn exact_then_wildcard_then_proxy() {
        let mut t = ListenerTables::new();
        t.add_global(0, &ep("tcp://0.0.0.0/80"), 1).unwrap();
        t.add_global(0, &ep("tcp://10.0.0.1/80"), 2).unwrap();
        let ip1 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let ip2 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(t.lookup_global(0, Proto::Tcp, ip1, 80), Some(2));
        assert_eq!(t.lookup_global(0, Proto::Tcp, ip2, 80), Some(1));
        assert_eq!(t.lookup_global(0, Proto::Tcp, ip2, 81), None);
        assert_eq!(t.lookup_global(0, Proto::Udp, ip2, 80), None);
        assert_eq!(t.lookup_global(1, Proto::Tcp, ip2, 80), None);
        t.add_global(0, &Endpoint::proxy(Proto::Tcp), 3).unwrap();
        assert_eq!(t.lookup_global(0, Proto::Tcp, ip2, 81), Some(3));
        assert_eq!(t.lookup_global(0, Proto::Tcp, ip2, 80), Some(1));
        assert_eq!(t.lookup_global(0, Proto::Udp, ip2, 81), None);
        assert_eq!(t.global_len(), 3);
    }

    const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn v6_wildcard_takes_both_families_and_v4_wildcard_only_v4() {
        let mut t = ListenerTables::new();
        let a6: IpAddr = "fe80::1".parse().unwrap();
        let b6: IpAddr = "fd00::2".parse().unwrap();
        let a4 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        t.add_global(0, &ep("udp://[::]/7"), 1).unwrap();
        assert_eq!(t.lookup_global(0, Proto::Udp, a6, 7), Some(1));
        assert_eq!(t.lookup_global(0, Proto::Udp, a4, 7), Some(1), "[::] takes IPv4 too");
        t.add_global(0, &ep("udp://0.0.0.0/7"), 2).unwrap();
        assert_eq!(t.lookup_global(0, Proto::Udp, a4, 7), Some(2), "the IPv4 wildcard comes first for IPv4");
        assert_eq!(t.lookup_global(0, Proto::Udp, a6, 7), Some(1));
        t.add_global(0, &ep("udp://[fd00::2]/7"), 3).unwrap();
        assert_eq!(t.lookup_global(0, Proto::Udp, b6, 7), Some(3));
        assert_eq!(t.lookup_global(0, Proto::Udp, a6, 7), Some(1));
        assert!(t.del_global(0, &ep("udp://[::]/7"), 1));
        assert_eq!(t.lookup_global(0, Proto::Udp, a6, 7), None, "0.0.0.0 never takes IPv6");
        assert_eq!(
            t.add_global(0, &ep("udp://[fd00::2]/7"), 4),
            Err(SessionError::AddressInUse("udp://[fd00::2]/7".into()))
        );
    }

    #[test]
    fn local_and_global_are_separate() {
        let mut t = ListenerTables::new();
        let e = ep("udp://0.0.0.0/53");
        t.add_local(4, &e, 9).unwrap();
        assert_eq!(t.lookup_local(4, Proto::Udp, LO, 53), Some(9));
        assert_eq!(t.lookup_global(4, Proto::Udp, LO, 53), None);
        assert_eq!(t.lookup_local(5, Proto::Udp, LO, 53), None);
        assert_eq!((t.local_len(), t.global_len()), (1, 0));
    }

    #[test]
    fn add_conflicts_and_del_checks_owner() {
        let mut t = ListenerTables::new();
        let e = ep("tcp://0.0.0.0/7");
        t.add_global(0, &e, 1).unwrap();
        t.add_global(0, &e, 1).unwrap();
        assert_eq!(t.add_global(0, &e, 2), Err(SessionError::AddressInUse("tcp://0.0.0.0/7".into())));
        t.add_global(1, &e, 2).unwrap();
        assert!(!t.del_global(0, &e, 2));
        assert!(!t.del_local(0, &e, 1));
        assert_eq!(t.global_entry(0, &e), Some(1));
        assert!(t.del_global(0, &e, 1));
        assert!(t.del_global(1, &e, 2));
        assert!(!t.del_global(1, &e, 2));
        assert!(t.is_empty());
        assert_eq!((t.len(), t.table_count()), (0, 0));
    }
}
