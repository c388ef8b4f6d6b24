//! See `dpnode_fuzz::config`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| dpnode_fuzz::config::run(data));
