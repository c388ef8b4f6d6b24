//! The safe DPDK layer and L2/L3 of dpnode.
//!
//! This crate owns everything below the session layer that touches DPDK:
//! EAL start-up ([`eal`]), mbuf pools ([`mempool`], [`mbuf`]), ports and
//! their queues ([`port`], with their link gates, and our own memif,
//! [`memif`]), the per-core poll loop ([`worker`]) with its L2/L3 input and
//! output ([`node`]), the ARP cache ([`arp_cache`]), the static route table
//! ([`route`]), named drop counters ([`counters`]), the mbuf checksum flags
//! ([`offload`]), fault injection for loss/duplication/reordering tests
//! ([`fault`]), and the control plumbing between the main thread and the
//! workers: the [`barrier`] (exclusive access to shared tables while every
//! worker is parked) and [`rpc`] (lock-free function-shipping queues both
//! ways). Wire formats, checksums and the RSS math are in the pure `wire`
//! crate.

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
pub mod spsc;
pub mod worker;
