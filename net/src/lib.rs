//! dpnode's L2/L3 and control plumbing that need no DPDK.
//!
//! The network half: the per-interface ARP cache ([`arp_cache`]), the
//! static route table ([`route`]), the shared L2/L3 tables the workers read
//! and the main thread changes under the barrier ([`tables`]: interfaces,
//! routes, pings in progress, which sources are martians), the decisions of
//! fault injection ([`fault`]: drop, duplicate, hold for reordering; generic
//! over the packet type, so the DPDK layer applies them to mbufs) and a
//! token bucket for rate limits ([`token_bucket`]).
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
pub mod control;
pub mod fault;
pub mod route;
pub mod tables;
pub mod token_bucket;
