//! The DPDK layer of dpnode.
//!
//! This crate owns everything that touches DPDK: EAL start-up ([`eal`]),
//! mbuf pools ([`mempool`], [`mbuf`]), ports and their queues ([`port`],
//! with their link gates, and our own memif, [`memif`]), the per-core poll
//! loop ([`worker`]), and the mbuf checksum flags ([`offload`]). Mbufs and
//! port queues implement `net`'s device interface ([`device`]), so a
//! worker's L2/L3 (`net::l3`: Ethernet, ARP, IPv4, ICMP, with fault
//! injection wrapped around the device) runs over them as [`device::PortL3`].
//! The pure parts it builds on live in other crates: wire formats, checksums
//! and the RSS math in `wire`; the L2/L3, ARP cache, routes, fault
//! injection, the shared L2/L3 tables, the token bucket and the
//! main-thread/worker control plumbing (barrier, RPC, SPSC rings, and the
//! worker's tables, state, clock and loop counters) in `net`.

#![warn(missing_docs)]

pub mod device;
pub mod eal;
pub mod mbuf;
pub mod memif;
pub mod mempool;
pub mod offload;
pub mod port;
pub mod worker;
