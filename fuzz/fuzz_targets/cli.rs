//! See `dpnode_fuzz::cli`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| dpnode_fuzz::cli::run(data));
