//! A worker's L2/L3 input over fuzzer frames: see `dpnode_fuzz::l3::input`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| dpnode_fuzz::l3::input(data));
