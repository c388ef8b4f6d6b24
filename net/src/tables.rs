//! The shared L2/L3 tables: interfaces, routes, static neighbours and the
//! node's pings in progress, read by the workers every loop and changed by the main thread
//! only under the barrier.

use std::net::Ipv4Addr;
use std::sync::mpsc;

use wire::ethernet::Address as MacAddress;
use wire::ipv4::{self, Cidr};

use crate::neighbor::StaticNeighbors;
use crate::route::RouteTable;

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
    /// Accept datagrams and ARP from our own address, and resolve it: for a
    /// port looped back to itself (a `net_ring` in tests), where the node is
    /// its own peer. Off, such traffic is a LAND attack and dropped (what
    /// Linux's `accept_local` sysctl chooses).
    pub accept_local: bool,
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
    pub from: Ipv4Addr,
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
    /// Pings in progress.
    pub pings: Vec<PingWaiter>,
    /// Static IPv4 neighbours, consulted before each worker's ARP cache.
    pub neighbors: StaticNeighbors<Ipv4Addr>,
}

impl NetTables {
    /// The interface that owns address `ip`, if any.
    #[inline]
    pub fn local_interface(&self, ip: Ipv4Addr) -> Option<usize> {
        self.interfaces.iter().position(|i| i.ip4.is_some_and(|c| c.address() == ip))
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
