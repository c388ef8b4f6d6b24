//! The DPDK layer of dpnode.
//!
//! This crate owns everything that touches DPDK: EAL start-up ([`eal`]),
//! mbuf pools ([`mempool`], [`mbuf`]), ports and their queues ([`port`],
//! with their link gates, and our own memif, [`memif`]), the per-core poll
//! loop ([`worker`]) with its L2/L3 input and output ([`node`], and its
//! counters, [`counters`]), and the mbuf checksum flags ([`offload`]). The
//! pure parts it builds on live in other crates: wire formats, checksums and
//! the RSS math in `wire`; the ARP cache, routes, fault decisions, the
//! shared L2/L3 tables, the token bucket and the main-thread/worker control
//! plumbing (barrier, RPC, SPSC rings) in `net`.

#![warn(missing_docs)]

pub mod counters;
pub mod eal;
pub mod mbuf;
pub mod memif;
pub mod mempool;
pub mod node;
pub mod offload;
pub mod port;
pub mod worker;
