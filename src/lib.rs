//! The `dpnode` binary's modules as a library, so that fuzz targets (and
//! other tools) reach the config parser, the builtin-app option parser, the
//! CLI and the runtime without going through `main`. `src/main.rs` is only
//! the command-line entry point on top of these.

pub mod apps;
pub mod cli;
pub mod cli_quic;
pub mod cli_runtime;
pub mod cli_server;
pub mod cli_session;
pub mod cli_stats;
pub mod config;
pub mod kbench;
pub mod logging;
pub mod metrics;
pub mod pcap;
pub mod pktgen;
pub mod runtime;
pub mod shell;
