//! `dpnode-echo server|client ...`: the external echo apps as a program of
//! their own, linked only against the client library (no DPDK). The same
//! command line as `dpnode echo ...`.

use clap::Parser;
use dpnode_client::echo::{self, EchoCommand, RunError};

/// External echo server and client on a running node's API socket.
#[derive(Parser)]
#[command(name = "dpnode-echo", version)]
struct Cli {
    #[command(subcommand)]
    cmd: EchoCommand,
}

fn main() {
    let cli = Cli::parse();
    let code = match echo::run(&cli.cmd) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e @ RunError::Usage(_)) => {
            eprintln!("{e}\n{}", echo::USAGE);
            2
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    };
    std::process::exit(code);
}
