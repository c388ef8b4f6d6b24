//! `dpnode`: a DPDK-backed poll-mode data-plane node.
//!
//! The command line (clap): `dpnode run [--config FILE]` starts a node;
//! `dpnode ctl [--socket PATH] [--json] WORDS...` runs one CLI command on a
//! running node (no WORDS: an interactive shell, [`dpnode::shell`]); `dpnode echo server|client ...` runs an external echo app against a
//! running node; `dpnode config-default`, `bench-gen` and `kbench` serve
//! setup and benchmarks. `--help` on each says more; a bad argument is a
//! clap error with exit status 2. This file is the binary's top level: the
//! only place that prints a fatal error itself (everything else logs with
//! `tracing`, set up here).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use dpnode::config::{Config, DEFAULT_CONFIG};
use dpnode::{cli, kbench, logging, pktgen, runtime, shell};
use rustyline::error::ReadlineError;

/// A DPDK-backed poll-mode data-plane node with a VPP-style host stack.
#[derive(Parser)]
#[command(name = "dpnode", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a node (the embedded default config without --config)
    Run {
        /// The TOML config (README, "Configuration")
        #[arg(short, long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Run one CLI command on a running node (`dpnode ctl help` lists them); with none, a shell
    Ctl {
        /// The node's CLI socket
        #[arg(short, long, value_name = "PATH", default_value = "/run/dpnode/cli.sock")]
        socket: PathBuf,
        /// Print the answer as JSON (show interface|errors|counters|session|app|tcp stats|runtime)
        #[arg(long)]
        json: bool,
        /// The command, e.g. `show interface`; none: an interactive shell (`?` for help, TAB completes)
        #[arg(value_name = "WORDS", trailing_var_arg = true, allow_hyphen_values = true)]
        words: Vec<String>,
    },
    /// External echo apps on the client library, against a running node
    Echo {
        #[command(subcommand)]
        cmd: dpnode_client::echo::EchoCommand,
    },
    /// Print the embedded default config
    ConfigDefault,
    /// Benchmark packet generator/reflector (scripts/bench)
    BenchGen(pktgen::Opts),
    /// The kernel's echo server/client (scripts/bench)
    Kbench {
        #[command(subcommand)]
        cmd: kbench::KbenchCommand,
    },
}

fn run(config: Option<PathBuf>) -> ExitCode {
    let cfg = match &config {
        Some(p) => Config::load(p),
        None => Config::parse(DEFAULT_CONFIG),
    };
    let cfg = match cfg {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dpnode: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = logging::init(cfg.log_level.as_deref(), cfg.dpdk_log_level.map(|l| l.tracing_level())) {
        eprintln!("dpnode: {e}");
        return ExitCode::from(2);
    }
    let term = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, term.clone()) {
            eprintln!("dpnode: cannot install signal handler: {e}");
            return ExitCode::FAILURE;
        }
    }
    let mut rt = match runtime::Runtime::start(cfg) {
        Ok(rt) => rt,
        Err(e @ runtime::StartError::AutoHugepagesTaken(_)) => {
            // The EAL cannot start twice in one process: the same command
            // again, told to go without hugepages (same pid, same sockets).
            tracing::warn!("dpnode: {e}; starting again with --no-huge");
            use std::os::unix::process::CommandExt;
            let mut args = std::env::args_os();
            let argv0 = args.next().unwrap_or_default();
            let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from(&argv0));
            let err = std::process::Command::new(exe).arg0(argv0).args(args).env(runtime::AUTO_NO_HUGE_ENV, "1").exec();
            eprintln!("dpnode: cannot start again without hugepages: {err}");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("dpnode: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rc = match rt.serve(term) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dpnode: {e}");
            ExitCode::FAILURE
        }
    };
    tracing::info!("dpnode: stopping");
    drop(rt);
    tracing::info!("dpnode: stopped");
    rc
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Command::Run { config } => run(config),
        Command::Ctl { socket, json, words } if words.is_empty() => match shell::run(&socket, json) {
            Ok(()) => ExitCode::SUCCESS,
            Err(ReadlineError::Interrupted) => ExitCode::from(2),
            Err(e) => {
                eprintln!("dpnode ctl: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Ctl { socket, json, words } if words.len() == 2 && words[0] == "exec" => {
            ExitCode::from(u8::from(!shell::exec(&socket, json, std::path::Path::new(&words[1]), 0)))
        }
        Command::Ctl { socket, json, words } => match cli::ctl(&socket, &words, json) {
            Ok(a) if a.ok => {
                print!("{}", a.body);
                ExitCode::SUCCESS
            }
            Ok(a) => {
                eprint!("{}", a.body);
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("dpnode ctl: {e}");
                ExitCode::from(2)
            }
        },
        Command::Echo { cmd } => {
            let _ = logging::init(None, None);
            match dpnode_client::echo::run(&cmd) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(e @ dpnode_client::echo::RunError::Usage(_)) => {
                    eprintln!("{e}\n{}", dpnode_client::echo::USAGE);
                    ExitCode::from(2)
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::ConfigDefault => {
            print!("{DEFAULT_CONFIG}");
            ExitCode::SUCCESS
        }
        Command::BenchGen(o) => {
            let _ = logging::init(None, None);
            match pktgen::run(&o) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("dpnode bench-gen: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Kbench { cmd } => {
            let _ = logging::init(None, None);
            match kbench::run(&cmd) {
                Ok(ok) => ExitCode::from(u8::from(!ok)),
                Err(e @ kbench::KbenchError::Usage(..)) => {
                    eprintln!("{e}\n{}", kbench::USAGE);
                    ExitCode::from(2)
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
