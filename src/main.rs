//! `dpnode`: a DPDK-backed poll-mode data-plane node.
//!
//! `dpnode run [--config FILE]` starts a node; `dpnode ctl [--socket PATH]
//! WORDS...` runs one CLI command on a running node; `dpnode echo
//! server|client ...` runs an external echo app against a running node.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use dpnode::config::{Config, DEFAULT_CONFIG};
use dpnode::{cli, kbench, pktgen, runtime};

const USAGE: &str = "\
usage:
  dpnode run [--config FILE]           start a node (embedded default config without --config)
  dpnode ctl [--socket PATH] WORDS...  run one CLI command on a running node
  dpnode echo server|client uri URI [socket PATH] ...
                                       external echo apps on the client library (dpnode echo help)
  dpnode config-default                print the embedded default config
  dpnode bench-gen --vdev DEVARGS ...  benchmark packet generator/reflector (scripts/bench)
  dpnode kbench server|client WORDS... the kernel's echo server/client (scripts/bench; `dpnode kbench` for usage)
  dpnode help                          this text";

fn run(args: &[String]) -> i32 {
    let mut path: Option<PathBuf> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--config" | "-c" => match it.next() {
                Some(p) => path = Some(p.into()),
                None => {
                    eprintln!("dpnode run: --config needs a file\n{USAGE}");
                    return 2;
                }
            },
            other => {
                eprintln!("dpnode run: unknown argument {other:?}\n{USAGE}");
                return 2;
            }
        }
    }
    let cfg = match &path {
        Some(p) => Config::load(p),
        None => Config::parse(DEFAULT_CONFIG),
    };
    let cfg = match cfg {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dpnode: {e}");
            return 2;
        }
    };
    let term = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, term.clone()) {
            eprintln!("dpnode: cannot install signal handler: {e}");
            return 1;
        }
    }
    let mut rt = match runtime::Runtime::start(cfg) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dpnode: {e}");
            return 1;
        }
    };
    let rc = match rt.serve(term) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("dpnode: {e}");
            1
        }
    };
    eprintln!("dpnode: stopping");
    drop(rt);
    eprintln!("dpnode: stopped");
    rc
}

fn ctl(args: &[String]) -> i32 {
    let mut socket: PathBuf =
        Config::parse(DEFAULT_CONFIG).map(|c| c.cli_socket).unwrap_or_else(|_| "/run/dpnode/cli.sock".into());
    let mut rest = args;
    if let [flag, p, tail @ ..] = args {
        if flag == "--socket" || flag == "-s" {
            socket = p.into();
            rest = tail;
        }
    }
    if rest.is_empty() {
        eprintln!("dpnode ctl: no command given\n{USAGE}");
        return 2;
    }
    cli::ctl(&socket, rest)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("run") => run(&args[1..]),
        Some("ctl") => ctl(&args[1..]),
        Some("bench-gen") => pktgen::main(&args[1..]),
        Some("kbench") => kbench::main(&args[1..]),
        Some("echo") => match args.get(1).map(String::as_str) {
            None | Some("help" | "--help" | "-h") => {
                println!("{}", dpnode_client::echo::USAGE);
                0
            }
            _ => dpnode_client::echo::main(&args[1..]),
        },
        Some("config-default") => {
            print!("{DEFAULT_CONFIG}");
            0
        }
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            0
        }
        Some(other) => {
            eprintln!("dpnode: unknown command {other:?}\n{USAGE}");
            2
        }
        None => {
            eprintln!("{USAGE}");
            2
        }
    };
    std::process::exit(code);
}
