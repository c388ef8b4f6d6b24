//! Raw FFI bindings to the system DPDK.
//!
//! Generated at build time by bindgen from the headers that `pkg-config
//! libdpdk` points at, with a narrow allowlist (EAL, mempool, ethdev) and
//! `rte_mbuf`/`rte_mempool` kept opaque. DPDK's static-inline fast path
//! (rx/tx burst, mbuf alloc/free and data access, `rte_errno`, lcore id) is
//! reached through the `dpn_*` wrappers of the small C shim in `shim/`.
//! Everything here is `unsafe`; the safe layer is the `dataplane` crate.

#![allow(non_upper_case_globals, non_camel_case_types, non_snake_case)]
#![allow(missing_docs, clippy::all, rustdoc::all)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));

/// The DPDK version these bindings were generated against (pkg-config's).
pub const DPDK_VERSION: &str = env!("DPDK_VERSION");
