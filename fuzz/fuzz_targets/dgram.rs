//! See `dpnode_fuzz::dgram`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: dpnode_fuzz::dgram::Input| dpnode_fuzz::dgram::run(&input));
