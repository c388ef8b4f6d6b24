//! Wire formats, one file per protocol: zero-copy views (`Packet<T>` /
//! `Frame<T>`, validated once by `new_checked`, then accessors never panic)
//! and `Repr` structs (the meaning of a header) with `parse` and `emit`.

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod ipv4;
pub mod tcp;
pub mod udp;

mod error;
pub use error::Error;
