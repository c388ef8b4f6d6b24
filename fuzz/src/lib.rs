//! Shared code of the fuzz targets in `fuzz_targets/`: each target is a
//! thin `fuzz_target!` around one `run` (or check) here, so a target that
//! chains parsers (an Ethernet frame down to TCP) runs the same checks as
//! the single-protocol targets, and a crash reproduces from a plain test.
//!
//! The parsers' checks share a shape: wrap the bytes with `new_checked`;
//! if that succeeds, call every accessor (a view that passed `new_checked`
//! must never panic), parse the `Repr`, emit it into a fresh buffer, parse
//! that again and compare (the round trip keeps the meaning).

pub mod api;
pub mod cli;
pub mod config;
pub mod dgram;
pub mod http;
pub mod l3;
pub mod mq;
pub mod msg;
pub mod syncookie;
pub mod tcp;
pub mod uri;
pub mod wire;
