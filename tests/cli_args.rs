//! The command line (clap): every subcommand's `--help` works, and a bad
//! argument is refused with exit status 2 before anything starts (no node,
//! no EAL, no root needed).

use std::process::{Command, Output};

mod common;
use common::bin;

fn dpnode(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().expect("spawn dpnode")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn help_works_for_every_subcommand() {
    for args in [
        &["--help"][..],
        &["help"],
        &["run", "--help"],
        &["ctl", "--help"],
        &["echo", "--help"],
        &["echo", "server", "--help"],
        &["echo", "client", "--help"],
        &["config-default", "--help"],
        &["bench-gen", "--help"],
        &["kbench", "--help"],
        &["kbench", "client", "--help"],
        &["help", "run"],
    ] {
        let o = dpnode(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}:\n{}", text(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("Usage: dpnode"), "{args:?}:\n{}", text(&o));
    }
    let run = text(&dpnode(&["run", "--help"]));
    assert!(run.contains("--config <FILE>"), "{run}");
    let ctl = text(&dpnode(&["ctl", "--help"]));
    assert!(ctl.contains("--socket <PATH>") && ctl.contains("[WORDS]...") && ctl.contains("a shell"), "{ctl}");
    // The echo apps' help lists their word options.
    let echo = text(&dpnode(&["echo", "client", "--help"]));
    assert!(echo.contains("mode bulk|rr|cps") && echo.contains("fifo-size SIZE"), "{echo}");
    let v = dpnode(&["--version"]);
    assert!(v.status.success() && String::from_utf8_lossy(&v.stdout).starts_with("dpnode "), "{}", text(&v));
}

#[test]
fn bad_arguments_exit_2_with_a_clap_error() {
    for args in [
        &[][..],
        &["frobnicate"],
        &["run", "--bogus"],
        &["run", "--config"],
        &["run", "extra"],
        &["ctl", "--socket"],
        &["echo"],
        &["echo", "sideways"],
        &["echo", "client"],
        &["bench-gen"],
        &["bench-gen", "--vdev", "net_null0", "--size", "0"],
        &["bench-gen", "--vdev", "net_null0", "--mode", "fast"],
        &["bench-gen", "--vdev", "net_null0", "--src-ip", "300.1.1.1"],
        &["bench-gen", "--vdev", "net_null0", "--warmup", "61"],
        &["kbench"],
        &["kbench", "server"],
        &["config-default", "extra"],
    ] {
        let o = dpnode(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}:\n{}", text(&o));
        // A clap error (or, a subcommand missing, the usage).
        let t = text(&o);
        assert!(t.starts_with("error: ") || t.contains("Usage: dpnode"), "{args:?}: {t}");
    }
}

#[test]
fn bad_option_words_exit_2_naming_the_word() {
    for (args, says) in [
        (&["echo", "client", "uri", "udp://198.18.0.1/7", "colour", "red"][..], "colour: unknown option"),
        (&["echo", "client", "uri", "tcp://198.18.0.1/7", "mss", "0"], "mss: 0 is outside 88..=9000"),
        (&["echo", "server", "uri", "tcp://0.0.0.0/7", "sessions", "4"], "sessions: only an echo client takes it"),
        (&["echo", "server", "sessions"], "sessions: needs a value"),
        (
            &["kbench", "client", "uri", "tcp://127.0.0.1/7", "scope", "local"],
            "scope: the kernel client does not take it",
        ),
        (&["kbench", "server", "uri", "tcp://0.0.0.0/7", "threads", "0"], "threads: 0 is outside 1..=64"),
    ] {
        let o = dpnode(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}:\n{}", text(&o));
        assert!(text(&o).contains(says), "{args:?}: {}", text(&o));
    }
}

#[test]
fn a_bad_config_exits_2_naming_the_key() {
    let dir = std::env::temp_dir().join(format!("dpnode-cli-args-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("bad.toml");
    std::fs::write(&p, "[[interface]]\nname='a'\nvdev='net_null0'\n[log]\nlevel='session=loud'\n").unwrap();
    let o = Command::new(bin()).args(["run", "--config"]).arg(&p).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("config: log.level: \"session=loud\" is not a log filter"), "{}", text(&o));
    // An EAL argument the node derives itself: refused before the EAL sees it (not DPDK's usage text).
    std::fs::write(&p, "[dpdk]\neal_args=['--no-huge']\n[[interface]]\nname='a'\nvdev='net_null0'\n").unwrap();
    let o = Command::new(bin()).args(["run", "--config"]).arg(&p).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("config: dpdk.eal_args[0]: \"--no-huge\" conflicts") && t.contains("set dpdk.hugepages"), "{t}");
    assert!(!t.contains("Usage:") && !t.contains("Invalid 'command line'"), "{t}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ctl_without_a_node_exits_2() {
    let o = dpnode(&["ctl", "--socket", "/nonexistent/dpnode-cli.sock", "show", "version"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("cannot connect to /nonexistent/dpnode-cli.sock"), "{}", text(&o));
    // No command: the shell, which says the same before it reads a line.
    let o = dpnode(&["ctl", "--socket", "/nonexistent/dpnode-cli.sock"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("cannot connect to /nonexistent/dpnode-cli.sock"), "{}", text(&o));
}

/// `[log] level` and `RUST_LOG` decide what the node logs. The node is given
/// an EAL argument the EAL refuses, so it logs its start-up lines (at info)
/// and exits 1 without taking any device.
#[test]
fn log_level_and_rust_log_choose_what_the_node_logs() {
    let dir = std::env::temp_dir().join(format!("dpnode-log-level-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let base = format!(
        "[dpdk]\nhugepages='off'\neal_args=['--no-such-eal-option']\n[[interface]]\nname='a'\nvdev='net_null0'\n\
         [cli]\nsocket='{0}/cli.sock'\n[api]\nsocket='{0}/api.sock'\n",
        dir.display()
    );
    let run = |extra: &str, rust_log: Option<&str>| {
        let p = dir.join("node.toml");
        std::fs::write(&p, format!("{base}{extra}")).unwrap();
        let mut c = Command::new(bin());
        c.args(["run", "--config"]).arg(&p).env_remove("RUST_LOG");
        if let Some(v) = rust_log {
            c.env("RUST_LOG", v);
        }
        let o = c.output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(stderr.contains("EAL initialisation failed"), "the fatal error is always printed: {stderr}");
        stderr.contains("INFO dpnode: EAL args: ")
    };
    assert!(run("", None), "info by default");
    assert!(!run("[log]\nlevel = 'warn'\n", None), "warn hides info");
    assert!(run("[log]\nlevel = 'warn'\n", Some("info")), "RUST_LOG wins over [log] level");
    assert!(!run("", Some("error")), "RUST_LOG alone");
    let _ = std::fs::remove_dir_all(&dir);
}
