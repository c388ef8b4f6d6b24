//! See `dpnode_fuzz::msg`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| dpnode_fuzz::msg::run(data));
