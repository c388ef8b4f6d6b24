//! The shared L2/L3 tables: interfaces, routes, static neighbours and the
//! node's pings in progress, read by the workers every loop and changed by the main thread
//! only under the barrier.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{mpsc, Arc};

use wire::ethernet::Address as MacAddress;
use wire::ipv4::{self, Cidr};

use crate::dad::DadState;
use crate::neighbor::StaticNeighbors;
use crate::route::RouteTable;
use crate::route6::Route6Table;

/// An interface as the workers see it.
#[derive(Debug, Clone)]
pub struct Interface {
    /// Name from the config (e.g. `tap0`).
    pub name: String,
    /// DPDK port id.
    pub port_id: u16,
    /// MAC address.
    pub mac: MacAddress,
    /// IPv4 address and prefix, if any.
    pub ip4: Option<Cidr>,
    /// Configured IPv6 addresses (the link-local one is derived by the
    /// workers from the MAC), each with its duplicate-address-detection state.
    pub ip6: Vec<Ip6Address>,
    /// Accept datagrams and ARP from our own address, and resolve it: for a
    /// port looped back to itself (a `net_ring` in tests), where the node is
    /// its own peer. Off, such traffic is a LAND attack and dropped (what
    /// Linux's `accept_local` sysctl chooses).
    pub accept_local: bool,
}

/// A configured IPv6 address of an interface.
#[derive(Debug, Clone)]
pub struct Ip6Address {
    /// Address and prefix length (host bits kept).
    pub cidr: wire::ipv6::Cidr,
    /// Its DAD state, shared by the workers: the one that runs DAD for the
    /// interface moves it tentative → preferred, any worker that sees a
    /// conflicting probe or advertisement moves it tentative → duplicate.
    pub dad: Arc<DadCell>,
}

impl Ip6Address {
    /// A new address, tentative until DAD passes.
    pub fn new(cidr: wire::ipv6::Cidr) -> Ip6Address {
        Ip6Address { cidr, dad: Arc::new(DadCell::new(DadState::Tentative)) }
    }

    /// The address.
    #[inline]
    pub fn address(&self) -> Ipv6Addr {
        self.cidr.address()
    }

    /// Whether it may be used as a source and receive packets (preferred).
    #[inline]
    pub fn is_usable(&self) -> bool {
        self.dad.get() == DadState::Preferred
    }
}

/// A [`DadState`] readable and changeable from any thread without a lock.
#[derive(Debug)]
pub struct DadCell(AtomicU8);

const fn dad_code(s: DadState) -> u8 {
    match s {
        DadState::Tentative => 0,
        DadState::Preferred => 1,
        DadState::Duplicate => 2,
    }
}

impl DadCell {
    /// A cell in state `s`.
    pub const fn new(s: DadState) -> DadCell {
        DadCell(AtomicU8::new(dad_code(s)))
    }

    /// The state now.
    #[inline]
    pub fn get(&self) -> DadState {
        match self.0.load(Ordering::Acquire) {
            0 => DadState::Tentative,
            1 => DadState::Preferred,
            _ => DadState::Duplicate,
        }
    }

    /// Set the state (DAD starts again: tentative).
    pub fn set(&self, s: DadState) {
        self.0.store(dad_code(s), Ordering::Release);
    }

    /// Move from `from` to `to`; false (and unchanged) if it was not `from`.
    pub fn transition(&self, from: DadState, to: DadState) -> bool {
        self.0.compare_exchange(dad_code(from), dad_code(to), Ordering::AcqRel, Ordering::Acquire).is_ok()
    }
}

/// A pending `ping` from the CLI: echo replies with this ident go to `tx`.
pub struct PingWaiter {
    /// ICMP identifier of this ping run.
    pub ident: u16,
    /// Where replies go.
    pub tx: mpsc::Sender<PingReply>,
}

/// An echo reply seen by a worker.
#[derive(Debug, Clone, Copy)]
pub struct PingReply {
    /// Sequence number.
    pub seq: u16,
    /// Who answered.
    pub from: std::net::IpAddr,
    /// TTL of the reply.
    pub ttl: u8,
    /// ICMP payload bytes.
    pub bytes: usize,
    /// Round-trip time (from the timestamp the node put in the payload).
    pub rtt_ns: u64,
}

/// The shared L2/L3 tables: read by workers every loop, changed by the main
/// thread only under the barrier.
#[derive(Default)]
pub struct NetTables {
    /// Interfaces, indexed like the workers' queues.
    pub interfaces: Vec<Interface>,
    /// Static routes (connected routes included).
    pub routes: RouteTable,
    /// Static IPv6 routes (connected prefixes of the configured addresses
    /// included).
    pub routes6: Route6Table,
    /// Pings in progress.
    pub pings: Vec<PingWaiter>,
    /// Static IPv4 neighbours, consulted before each worker's ARP cache.
    pub neighbors: StaticNeighbors<Ipv4Addr>,
    /// Static IPv6 neighbours, consulted before each worker's ND cache.
    pub neighbors6: StaticNeighbors<Ipv6Addr>,
}

impl NetTables {
    /// The interface that owns address `ip`, if any.
    #[inline]
    pub fn local_interface(&self, ip: Ipv4Addr) -> Option<usize> {
        self.interfaces.iter().position(|i| i.ip4.is_some_and(|c| c.address() == ip))
    }

    /// The interface that owns IPv6 address `ip` (configured and usable:
    /// a tentative or duplicate address receives nothing, RFC 4862 5.4),
    /// if any. Link-local addresses are the workers' (see `L3::ip6_is_local`).
    #[inline]
    pub fn local_interface6(&self, ip: Ipv6Addr) -> Option<usize> {
        self.interfaces.iter().position(|i| i.ip6.iter().any(|a| a.address() == ip && a.is_usable()))
    }

    /// Why `ip` cannot be the source of a datagram this node accepts, or
    /// the next hop it sends to: an address class no host may use
    /// ([`ipv4::martian_source`]), one of the node's own addresses, or the
    /// subnet broadcast of one of its interfaces.
    #[inline]
    pub fn martian_source(&self, ip: Ipv4Addr) -> Option<MartianSource> {
        if let Some(m) = ipv4::martian_source(ip) {
            return Some(MartianSource::Class(m));
        }
        for (c, accept_local) in self.interfaces.iter().filter_map(|i| Some((i.ip4?, i.accept_local))) {
            if c.address() == ip && !accept_local {
                return Some(MartianSource::Ours);
            }
            if c.broadcast() == Some(ip) {
                return Some(MartianSource::SubnetBroadcast);
            }
        }
        None
    }
}

/// Why a source address is refused (see [`NetTables::martian_source`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MartianSource {
    /// An address class no host may send from.
    Class(ipv4::Martian),
    /// One of the node's own addresses (a LAND attack, or a loop).
    Ours,
    /// The directed broadcast address of one of the node's subnets.
    SubnetBroadcast,
}
