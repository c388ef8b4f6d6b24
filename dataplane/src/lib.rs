//! The safe DPDK layer and L2/L3 of dpnode.
//!
//! This crate owns everything below the session layer: EAL start-up
//! ([`eal`]), mbuf pools ([`mempool`], [`mbuf`]), ports and their queues
//! ([`port`], with their link gates, and our own memif, [`memif`]), the
//! per-core poll loop ([`worker`]) with its L2/L3 input and
//! output ([`node`]), wire formats ([`wire`]), the ARP cache ([`arp_cache`]),
//! the static route table ([`route`]), named drop counters ([`counters`]),
//! and the control plumbing between the main thread and the workers:
//! the [`barrier`] (exclusive access to shared tables while every worker is
//! parked) and [`rpc`] (lock-free function-shipping queues both ways).
//! What the transports need from the NIC lives here too: the software
//! Toeplitz hash, redirection table and flow-affine port choice ([`rss`]),
//! checksum offload requests and verdicts ([`offload`]), and fault injection
//! for loss/duplication/reordering tests ([`fault`]).
//! Wire formats, the ARP cache, the route table, the barrier, RPC, RSS,
//! checksum preparation and fault decisions are pure Rust and tested
//! without DPDK.

#![warn(missing_docs)]

pub mod arp_cache;
pub mod barrier;
pub mod counters;
pub mod eal;
pub mod fault;
pub mod mbuf;
pub mod memif;
pub mod mempool;
pub mod node;
pub mod offload;
pub mod port;
pub mod route;
pub mod rpc;
pub mod rss;
pub mod spsc;
pub mod wire;
pub mod worker;
