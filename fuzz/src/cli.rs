//! CLI words, run against a real node: the first input starts a runtime
//! (DPDK with a `net_null` port, no hugepages, one sleeping worker) and
//! every input is then a few command lines handed to `cli::execute`, as
//! the CLI socket hands them over. What an input attached is detached
//! again afterwards, so inputs do not pile up state.
//!
//! Two commands hold the main thread for as long as they run, so only
//! their word parsing is fuzzed: `test echo client` goes through
//! `AppSpec::from_words` (what the command parses before it starts), and
//! `ping` runs in full but the node has no address, so after parsing and
//! checking its words it stops at "no route". `pcap trace` only has its
//! words parsed too: a capture would create whatever file an input names
//! and stay on between inputs. If the EAL cannot start
//! (not root, no memory), every line goes through the parsing layer only.

use std::cell::RefCell;

use dpnode::apps::{AppSpec, Kind};
use dpnode::config::Config;
use dpnode::runtime::Runtime;

/// The fuzz node's config: a null port with no address, so nothing leaves and `ping` finds no route.
const CONFIG: &str = r#"
[dpdk]
hugepages = "off"
memory_mb = 256
mbufs = 4095
[[interface]]
name = "null0"
vdev = "net_null0"
[workers]
cores = [0]
idle = "sleep"
[cli]
socket = "/tmp/dpnode-fuzz-cli.sock"
[api]
socket = "/tmp/dpnode-fuzz-api.sock"
"#;

thread_local! {
    static NODE: RefCell<Option<Option<&'static mut Runtime>>> = const { RefCell::new(None) };
}

fn with_node<T>(f: impl FnOnce(Option<&mut Runtime>) -> T) -> T {
    NODE.with(|n| {
        let mut n = n.borrow_mut();
        let node = n.get_or_insert_with(|| {
            let cfg = Config::parse(CONFIG).expect("fuzz config");
            match Runtime::start(cfg) {
                Ok(rt) => Some(Box::leak(Box::new(rt))),
                Err(e) => {
                    eprintln!("fuzz cli: no node ({e}); fuzzing the parsing layer only");
                    None
                }
            }
        });
        f(node.as_deref_mut())
    })
}

/// The parsing layer alone: the builtin apps' option words, `pcap trace`'s.
fn parse_only(words: &[&str]) {
    if let ["pcap", "trace", rest @ ..] = words {
        let _ = dpnode::pcap::parse(rest, &["null0"]);
        return;
    }
    let (kind, args) = match words {
        ["test", "echo", "server", args @ ..] => (Kind::EchoServer, args),
        ["test", "echo", "client", args @ ..] => (Kind::EchoClient, args),
        ["test", "http", "server", args @ ..] => (Kind::HttpServer, args),
        _ => return,
    };
    if let Ok(spec) = AppSpec::from_words(kind, args) {
        let _ = spec.client_config();
        assert!(!spec.name.is_empty());
    }
}

/// Runs every line of `data` as one command.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    with_node(|node| {
        let Some(rt) = node else {
            for line in text.lines().take(8) {
                parse_only(&line.split_whitespace().collect::<Vec<_>>());
            }
            return;
        };
        let before: Vec<u32> = rt.ctx.tables().control.apps().map(|a| a.index).collect();
        for line in text.lines().take(8) {
            let words: Vec<&str> = line.split_whitespace().collect();
            parse_only(&words);
            if matches!(words.as_slice(), ["test", "echo", "client", ..] | ["pcap", "trace", ..]) {
                continue;
            }
            let _ = dpnode::cli::execute(rt, &words);
        }
        let added: Vec<_> = {
            let control = &rt.ctx.tables().control;
            control.apps().filter(|a| !before.contains(&a.index)).filter_map(|a| control.app_handle(a.index)).collect()
        };
        for app in added {
            rt.ctx.detach(app).expect("detach what this input attached");
        }
    });
}
