//! The ICMPv6 and NDP parsers: see `dpnode_fuzz::wire::icmpv6`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| dpnode_fuzz::wire::icmpv6(data));
