//! dpnode's L2/L3 and control plumbing that need no DPDK.
//!
//! The network half: a worker's L2/L3 ([`l3`]: Ethernet, ARP, IPv4 input
//! and output, ICMP, ping, and its counters) generic over a small device
//! interface ([`device`]: packet buffers, bursts, per-worker queues) that
//! the DPDK layer implements for mbufs and ports; the per-interface ARP
//! cache ([`arp_cache`]) and the static neighbour entries shared by every
//! worker ([`neighbor`]), its IPv6 counterparts (the neighbour cache of
//! [`nd_cache`] and duplicate address detection in [`dad`], sans-IO and
//! not yet wired into [`l3`]), IPv4 and IPv6 reassembly and
//! fragmentation ([`reassembly`], bounded per worker, also not wired yet),
//! the I/O seam the session layer runs over
//! ([`seam`]: time, buffers, tx readiness, IPv4 output of an L4 payload,
//! checksum verdicts, flow hashes, ICMP errors), the
//! static route table ([`route`]), the shared L2/L3 tables the workers read
//! and the main thread changes under the barrier ([`tables`]: interfaces,
//! routes, pings in progress, which sources are martians), the decisions of
//! fault injection ([`fault`]: drop, duplicate, hold for reordering, as a
//! device wrapper, [`fault::FaultInjector`]) and a
//! token bucket for rate limits ([`token_bucket`]); packet capture into
//! preallocated per-worker buffers ([`capture`]); and an in-memory
//! network ([`sim`]: `Vec`-backed buffers, a virtual clock, links with
//! seeded loss, reordering and duplication) that runs all of it, and the
//! session layer above the seam, in plain `cargo test`.
//!
//! The control half ([`control`]): the [`control::barrier`] (exclusive
//! access to shared tables while every worker is parked), [`control::rpc`]
//! (function-shipping queues both ways between the main thread and the
//! workers) and the [`control::spsc`] rings under it. They live here rather
//! than in a crate of their own because they are small and every layer that
//! uses them (the DPDK layer, the session layer, the binary) uses `net`
//! anyway; a module keeps the crate count down without tying them to DPDK.
//!
//! Everything here is pure Rust and tested without DPDK.

#![warn(missing_docs)]

pub mod arp_cache;
pub mod capture;
pub mod control;
pub mod dad;
pub mod device;
pub mod fault;
pub mod gso;
pub mod l3;
pub mod nd_cache;
pub mod neighbor;
pub mod reassembly;
pub mod route;
pub mod route6;
pub mod seam;
pub mod sim;
pub mod tables;
pub mod token_bucket;
