//! `dpnode-echo`'s command line (clap): help works, bad arguments and bad
//! option words exit 2 before anything connects.

use std::process::{Command, Output};

fn echo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dpnode-echo")).args(args).output().expect("spawn dpnode-echo")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn help_works() {
    for args in [&["--help"][..], &["server", "--help"], &["client", "--help"], &["help", "client"]] {
        let o = echo(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o));
        assert!(text(&o).contains("Usage: dpnode-echo"), "{args:?}: {}", text(&o));
    }
    assert!(text(&echo(&["client", "--help"])).contains("mode bulk|rr|cps"));
}

#[test]
fn bad_arguments_exit_2() {
    for (args, says) in [
        (&[][..], "Usage: dpnode-echo"),
        (&["sideways"], "error: unrecognized subcommand 'sideways'"),
        (&["client"], "error: the following required arguments were not provided"),
        (&["client", "uri", "udp://198.18.0.1/7", "chunk", "3"], "chunk: 3 is outside 9..=64k"),
        (&["server", "uri", "bogus"], "uri: \"bogus\" is not PROTO://ADDR/PORT"),
        (&["server", "uri", "tcp://0.0.0.0/7", "mode", "rr"], "mode: only an echo client takes it"),
    ] {
        let o = echo(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(says), "{args:?}: {}", text(&o));
    }
}
