//! See `dpnode_fuzz::mq`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: dpnode_fuzz::mq::Input| dpnode_fuzz::mq::run(&input));
