//! See `dpnode_fuzz::syncookie`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: dpnode_fuzz::syncookie::Input| dpnode_fuzz::syncookie::run(&input));
