//! The icmp parser (and what it carries, for Ethernet and IPv4): see `dpnode_fuzz::wire::icmp`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| dpnode_fuzz::wire::icmp(data));
