//! See `dpnode_fuzz::http`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| dpnode_fuzz::http::run(data));
