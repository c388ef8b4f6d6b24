//! Wire formats and the pure arithmetic over packet bytes: the bottom layer
//! of dpnode, with no DPDK, no libc and no I/O.
//!
//! One file per protocol ([`ethernet`], [`arp`], [`ipv4`], [`icmp`],
//! [`ipv6`] with its extension headers, [`icmpv6`], [`ndp`], [`udp`],
//! [`tcp`] with its options): zero-copy views (`Packet<T>` /
//! `Frame<T>`, validated once by `new_checked`, then accessors never panic)
//! and `Repr` structs (the meaning of a header) with `parse` and `emit`.
//! Beside them, what the layers above compute over those bytes: the Internet
//! checksum ([`checksum`]), checksum-offload preparation and software
//! verification ([`offload`]: what to leave to a NIC and what to compute),
//! and receive-side scaling ([`rss`]: the Toeplitz hash, the redirection
//! table and the flow-affine choice of a local port).
//!
//! Everything here builds and tests on a machine without DPDK; the DPDK
//! layer (`dataplane`) and the transports use it.

#![warn(missing_docs)]

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod ndp;
pub mod offload;
pub mod rss;
pub mod tcp;
pub mod udp;

mod error;
pub use error::Error;
