//! See `dpnode_fuzz::tcp`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|script: dpnode_fuzz::tcp::Script| dpnode_fuzz::tcp::run(&script));
