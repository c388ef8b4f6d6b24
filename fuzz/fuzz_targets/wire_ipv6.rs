//! The IPv6 parser, its extension-header chain and what it carries: see `dpnode_fuzz::wire::ipv6`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| dpnode_fuzz::wire::ipv6(data));
