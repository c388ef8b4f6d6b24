//! See `dpnode_fuzz::uri`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| dpnode_fuzz::uri::run(data));
