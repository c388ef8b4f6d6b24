//! End to end, the control plane under careless and hostile clients: a node
//! on net_tap inside a namespace the test creates, real CLI clients
//! (`dpnode ctl`, python, plain sockets from this process) and real external
//! apps (this process on the client library, `dpnode echo`).
//!
//! - A client trickling a byte every 1.5 s and 50 idle CLI connections do
//!   not stall `ctl` or an external attach (both complete while the bad
//!   clients are still connected).
//! - `ping` and `test echo client` run as jobs: other commands answer while
//!   they run, and a job whose client goes away is cancelled.
//! - 300 idle API connections do not lock a real application out; a
//!   connection that sends nothing is closed at its deadline.
//! - One connection (and one uid) cannot attach more applications than its
//!   limit; the error says so and the node stays healthy.
//! - `mss 0` (and `mss 1`) is refused on every entry point, naming the
//!   option and its range: config, CLI, API.
//! - `app ns add id default ...` and `no-delay maybe` are refused; the
//!   sockets get the configured mode.
//! - An attach that would run the node out of descriptors is refused as
//!   such, not as a bad `segment_size`.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use dpnode_client::{App, AttachOptions, Endpoint, Error, TransportOptions};
use shm::api::{AttachRequest, Body, Kind, Message};
use shm::types::{ErrorCode, ProxySet, Scope};

/// A node in a namespace of its own, started with a config this test writes whole (its own `[cli]` and `[api]`).
struct CtlNode {
    child: Option<Child>,
    dir: PathBuf,
    cli: PathBuf,
    api: PathBuf,
    ns: Netns,
}

impl CtlNode {
    /// Starts `prefix... dpnode run` in a new namespace; `cli`/`api` are extra keys for those sections.
    fn start_with(prefix: &[&str], cli: &str, api: &str, extra: &str) -> CtlNode {
        let t = tag();
        let ns = Netns::new(&t);
        let dev = format!("dpnt{t}");
        let dir = PathBuf::from(format!("/tmp/dpnt-{t}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (cli_sock, api_sock) = (dir.join("cli.sock"), dir.join("api.sock"));
        let cfg = format!(
            "[dpdk]\nhugepages = \"off\"\n\n[[interface]]\nname = \"tap0\"\nvdev = \"net_tap0,iface={dev}\"\nip4 = \"198.18.0.2/24\"\n\n\
             [cli]\nsocket = \"{}\"\n{cli}\n\n[api]\nsocket = \"{}\"\n{api}\n\n{extra}\n",
            cli_sock.display(),
            api_sock.display()
        );
        std::fs::write(dir.join("node.toml"), cfg).unwrap();
        let log = std::fs::File::create(dir.join("node.log")).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name])
            .args(prefix)
            .args([bin(), "run", "--config"])
            .arg(dir.join("node.toml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn dpnode");
        let mut n = CtlNode { child: Some(child), dir, cli: cli_sock, api: api_sock, ns };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !(n.cli.exists() && n.ctl_any(&["show", "version"]).0) {
            if let Some(st) = n.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("dpnode exited early ({st}):\n{}", n.log());
            }
            assert!(Instant::now() < deadline, "dpnode did not come up:\n{}", n.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        n.ns.kernel_addr(&dev, "198.18.0.1/24");
        n
    }

    fn start(cli: &str, api: &str) -> CtlNode {
        Self::start_with(&[], cli, api, "")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("node.log")).unwrap_or_default()
    }

    /// `dpnode ctl`, with a generous deadline: (success, stdout+stderr).
    fn ctl_any(&self, words: &[&str]) -> (bool, String) {
        let out = Command::new("timeout")
            .arg("120")
            .arg(bin())
            .arg("ctl")
            .arg("--socket")
            .arg(&self.cli)
            .args(words)
            .output()
            .expect("spawn ctl");
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    fn ctl(&self, words: &[&str]) -> String {
        let (ok, text) = self.ctl_any(words);
        assert!(ok, "ctl {words:?} failed:\n{text}\nnode log:\n{}", self.log());
        text
    }

    /// `dpnode ctl` in the background.
    fn ctl_spawn(&self, words: &[&str]) -> Child {
        Command::new(bin())
            .arg("ctl")
            .arg("--socket")
            .arg(&self.cli)
            .args(words)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ctl")
    }

    /// The number in front of counter line `name` in `show api` / `show cli` output.
    fn count(&self, words: &[&str], name: &str) -> u64 {
        counter_line(&self.ctl(words), name)
    }

    fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().unwrap().is_none())
    }
}

impl Drop for CtlNode {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = sh_any(&format!("kill -TERM {}", c.id()));
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline && c.try_wait().ok().flatten().is_none() {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits until `f` holds (panics after 60 s with `what`).
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "{what}: still not so after 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether the node closed `s` (end of stream or reset) without sending anything we wait for.
fn closed_by_node(s: &mut UnixStream) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut b = [0u8; 256];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// Sends a byte every 1.5 s for up to 10 minutes and never a newline; prints `started` once connected.
const TRICKLE: &str = r#"
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
print("started", flush=True)
for _ in range(400):
    s.send(b"s")
    time.sleep(1.5)
"#;

#[test]
fn a_trickling_client_and_50_idle_cli_connections_stall_nothing() {
    if !require_root() {
        return;
    }
    // Bad clients are never timed out during this test: they must be
    // harmless while connected, not merely get dropped eventually.
    let node = CtlNode::start("first_message_ms = 600000\nmax_connections = 64", "");
    let script = node.dir.join("trickle.py");
    std::fs::write(&script, TRICKLE).unwrap();
    let mut trickler = Command::new("python3")
        .arg(&script)
        .arg(&node.cli)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3");
    let mut line = [0u8; 8];
    trickler.stdout.as_mut().unwrap().read_exact(&mut line).unwrap();
    let mut idle: Vec<UnixStream> = (0..50).map(|_| UnixStream::connect(&node.cli).unwrap()).collect();
    // Half of them have sent part of a command.
    for s in idle.iter_mut().step_by(2) {
        s.write_all(b"show ver").unwrap();
    }
    std::thread::sleep(Duration::from_secs(2));

    let v = node.ctl(&["show", "version"]);
    assert!(v.contains("dpnode"), "{v}");
    let (app, _w) = App::attach(&node.api, "attach-while-cli-is-busy", &AttachOptions::default())
        .expect("an external attach completes while the bad CLI clients are connected");
    let apps = node.ctl(&["show", "app"]);
    assert!(apps.contains("attach-while-cli-is-busy"), "{apps}");
    drop(app);

    // The bad clients were there all along.
    assert!(trickler.try_wait().unwrap().is_none(), "the trickler is still sending");
    for s in &mut idle {
        assert!(!closed_by_node(s), "an idle CLI connection was closed");
    }
    let cli = node.ctl(&["show", "cli"]);
    assert!(counter_line(&cli, "cli connections open") >= 52, "{cli}");
    let _ = trickler.kill();
    let _ = trickler.wait();
}

#[test]
fn cli_connections_that_send_nothing_are_evicted_at_the_cap_and_closed_at_their_deadline() {
    if !require_root() {
        return;
    }
    let node = CtlNode::start("first_message_ms = 20000\nmax_connections = 4", "");
    let mut silent: Vec<UnixStream> = (0..4).map(|_| UnixStream::connect(&node.cli).unwrap()).collect();
    // The cap is full of silent connections: the oldest makes room for ctl.
    let v = node.ctl(&["show", "version"]);
    assert!(v.contains("dpnode"), "{v}");
    assert!(node.count(&["show", "cli"], "cli connections evicted (no command, at the connection cap)") >= 1);
    for s in &mut silent {
        wait_for("a silent CLI connection is closed", || closed_by_node(s));
    }
    assert!(node.count(&["show", "cli"], "cli connections closed (no command in time)") >= 1);
    // A line longer than the limit is refused, not buffered.
    let mut long = UnixStream::connect(&node.cli).unwrap();
    long.write_all(&vec![b'x'; 10_000]).unwrap();
    let mut answer = String::new();
    long.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("error\ncommand longer than 4096 bytes"), "{answer}");
}

#[test]
fn ping_and_echo_client_run_as_jobs_while_other_commands_answer() {
    if !require_root() {
        return;
    }
    let node = CtlNode::start("", "");
    // A 20-request ping takes about 20 s; the main thread serves everyone meanwhile.
    let mut ping = node.ctl_spawn(&["ping", "198.18.0.1", "count", "20", "interval", "1"]);
    std::thread::sleep(Duration::from_millis(500));
    let v = node.ctl(&["show", "version"]);
    assert!(v.contains("dpnode"), "{v}");
    let (_app, _w) =
        App::attach(&node.api, "attach-while-ping", &AttachOptions::default()).expect("attach during a ping");
    assert!(ping.try_wait().unwrap().is_none(), "show version and an attach answered while the ping ran");
    assert!(node.count(&["show", "cli"], "cli jobs running") >= 1);
    let out = ping.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("20 packets transmitted, 20 received"), "{text}");

    // An echo client through cut-through for 15 s, as a job.
    node.ctl(&["test", "echo", "server", "uri", "udp://0.0.0.0/7000", "scope", "local"]);
    let client = node.ctl_spawn(&[
        "test",
        "echo",
        "client",
        "uri",
        "udp://198.18.0.2/7000",
        "scope",
        "local",
        "duration",
        "15",
        "name",
        "job-cli",
    ]);
    wait_for("the echo client is attached", || node.ctl(&["show", "app"]).contains("job-cli"));
    let s = node.ctl(&["show", "session"]);
    assert!(s.contains("total"), "{s}");
    let out = client.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("job-cli"), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(!node.ctl(&["show", "app"]).contains("job-cli"), "detached when done");

    // A client that goes away cancels its job: the echo client is detached.
    let mut gone = node.ctl_spawn(&[
        "test",
        "echo",
        "client",
        "uri",
        "udp://198.18.0.2/7000",
        "scope",
        "local",
        "duration",
        "600",
        "name",
        "orphan",
    ]);
    wait_for("the second echo client is attached", || node.ctl(&["show", "app"]).contains("orphan"));
    let _ = gone.kill();
    let _ = gone.wait();
    wait_for("the orphaned job is cancelled", || !node.ctl(&["show", "app"]).contains("orphan"));
    assert!(node.count(&["show", "cli"], "cli jobs cancelled (client gone)") >= 1);
}

#[test]
fn three_hundred_idle_api_connections_do_not_lock_out_a_real_app() {
    if !require_root() {
        return;
    }
    let mut node = CtlNode::start("", "first_message_ms = 600000\nmode = \"0600\"");
    let mode = std::fs::metadata(&node.api).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "api.mode applied to the socket");
    let cli_mode = std::fs::metadata(&node.cli).unwrap().permissions().mode() & 0o777;
    assert_eq!(cli_mode, 0o660, "the CLI socket's default mode");
    let mut idle: Vec<UnixStream> = (0..300).map(|_| UnixStream::connect(&node.api).unwrap()).collect();
    // Some half-sent: a header promising a body that never comes.
    let req = Message::request(Kind::AttachRequest, 1, Body::Attach(attach_request("half")));
    let mut bytes = Vec::new();
    req.emit(&mut bytes);
    for s in idle.iter_mut().step_by(3) {
        s.write_all(&bytes[..bytes.len() - 5]).unwrap();
    }
    std::thread::sleep(Duration::from_secs(1));
    let (app, mut w) = App::attach(&node.api, "real-app", &AttachOptions::default())
        .expect("a real attach succeeds past 300 idle connections");
    w.listen(Endpoint::parse_uri("udp://0.0.0.0/7").unwrap()).unwrap();
    assert!(node.ctl(&["show", "app"]).contains("real-app"));
    let api = node.ctl(&["show", "api"]);
    assert!(counter_line(&api, "api clients evicted (idle, at the connection cap)") >= 44, "{api}");
    drop(w);
    drop(app);
    assert!(node.running());
}

#[test]
fn api_connections_without_a_first_message_or_an_app_are_closed_at_their_deadline() {
    if !require_root() {
        return;
    }
    let node = CtlNode::start("", "first_message_ms = 300\nidle_ms = 300");
    let mut silent = UnixStream::connect(&node.api).unwrap();
    wait_for("a silent API connection is closed", || closed_by_node(&mut silent));
    let api = node.ctl(&["show", "api"]);
    assert!(counter_line(&api, "api clients closed (no first message in time)") >= 1, "{api}");
    // A connection that spoke (a failed attach) but has no app is closed once idle.
    let mut s = UnixStream::connect(&node.api).unwrap();
    let mut bad = attach_request("bad-fifo");
    bad.options.rx_fifo_size = 3;
    send(&mut s, &Message::request(Kind::AttachRequest, 7, Body::Attach(bad)));
    let (code, text) = reply(&mut s);
    assert_eq!(code, ErrorCode::InvalidValue as i32, "{text}");
    assert!(text.contains("rx_fifo_size") && text.contains("4k..=64m"), "{text}");
    wait_for("an API connection with no app is closed", || closed_by_node(&mut s));
    assert!(node.count(&["show", "api"], "api clients closed (idle with no application)") >= 1);
}

fn attach_request(name: &str) -> AttachRequest<'_> {
    AttachRequest {
        name,
        options: AttachOptions {
            namespace: String::new(),
            secret: 0,
            segment_size: 2 << 20,
            add_segment_size: 0,
            prealloc_fifo_pairs: 0,
            rx_fifo_size: 4096,
            tx_fifo_size: 4096,
            event_queue_size: 64,
            scope: Scope::GLOBAL,
            use_eventfd: false,
            proxy: ProxySet::NONE,
            tls_engine: 0,
            builtin: false,
        },
    }
}

fn send(s: &mut UnixStream, m: &Message<'_>) {
    let mut b = Vec::new();
    m.emit(&mut b);
    s.write_all(&b).unwrap();
}

/// The next reply's code and text (descriptors that come with it are closed by the kernel on a plain read).
fn reply(s: &mut UnixStream) -> (i32, String) {
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Ok((m, n)) = Message::parse(&buf) {
            let text = match m.body {
                Body::Failure(t) => t.to_string(),
                _ => String::new(),
            };
            let code = m.code;
            buf.drain(..n);
            return (code, text);
        }
        let n = s.read(&mut chunk).expect("a reply");
        assert!(n > 0, "the node closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[test]
fn one_connection_and_one_uid_cannot_attach_more_apps_than_their_limits() {
    if !require_root() {
        return;
    }
    let mut node = CtlNode::start("", "max_apps_per_connection = 3\nmax_apps_per_uid = 5");
    let mut a = UnixStream::connect(&node.api).unwrap();
    let names: Vec<String> = (0..4).map(|i| format!("many-{i}")).collect();
    for (i, n) in names.iter().enumerate() {
        send(&mut a, &Message::request(Kind::AttachRequest, i as u64, Body::Attach(attach_request(n))));
        let (code, text) = reply(&mut a);
        if i < 3 {
            assert_eq!(code, 0, "attach {i}: {text}");
        } else {
            assert_eq!(code, ErrorCode::TooMany as i32, "{text}");
            assert!(text.contains("api.max_apps_per_connection") && text.contains("3 applications"), "{text}");
        }
    }
    // Another connection of the same uid: two more, then the uid's limit.
    let mut b = UnixStream::connect(&node.api).unwrap();
    for (i, n) in ["uid-0", "uid-1", "uid-2"].iter().enumerate() {
        send(&mut b, &Message::request(Kind::AttachRequest, i as u64, Body::Attach(attach_request(n))));
        let (code, text) = reply(&mut b);
        if i < 2 {
            assert_eq!(code, 0, "{text}");
        } else {
            assert_eq!(code, ErrorCode::TooMany as i32, "{text}");
            assert!(text.contains("api.max_apps_per_uid"), "{text}");
        }
    }
    let api = node.ctl(&["show", "api"]);
    assert_eq!(counter_line(&api, "api attaches refused (apps per connection)"), 1, "{api}");
    assert_eq!(counter_line(&api, "api attaches refused (apps per uid)"), 1, "{api}");
    // The node stays healthy: the apps it has are served, and they go with their connection.
    let apps = node.ctl(&["show", "app"]);
    assert!(apps.contains("many-2") && apps.contains("uid-1") && !apps.contains("many-3"), "{apps}");
    drop(a);
    wait_for("the first connection's apps are detached", || !node.ctl(&["show", "app"]).contains("many-0"));
    let (_app, _w) = App::attach(&node.api, "after-the-limit", &AttachOptions::default()).expect("room again");
    assert!(node.running());
    drop(b);
}

#[test]
fn mss_0_and_1_are_refused_by_config_cli_and_api_naming_the_option_and_its_range() {
    if !require_root() {
        return;
    }
    // Config: the node does not start, and says which key.
    let dir = PathBuf::from(format!("/tmp/dpnt-mss-{}", tag()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("bad.toml");
    // Sockets of its own and a deadline: a node that took the config would start (and must not linger).
    std::fs::write(
        &cfg,
        format!(
            "[[interface]]\nname = \"a\"\nvdev = \"net_null0\"\n[dpdk]\nhugepages = \"off\"\n\
             [cli]\nsocket = \"{0}/cli.sock\"\n[api]\nsocket = \"{0}/api.sock\"\n\
             [[app]]\nkind = \"echo-server\"\nuri = \"tcp://0.0.0.0/7004\"\nmss = 0\n",
            dir.display()
        ),
    )
    .unwrap();
    let out = Command::new("timeout").args(["60", bin(), "run", "--config"]).arg(&cfg).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("app[0].mss") && text.contains("0 is outside 88..=9000"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);

    let node = CtlNode::start("", "");
    // CLI.
    for v in ["0", "1"] {
        let (ok, text) = node.ctl_any(&["test", "echo", "server", "uri", "tcp://0.0.0.0/7004", "mss", v]);
        assert!(!ok && text.contains(&format!("mss: {v} is outside 88..=9000")), "{text}");
        let (ok, text) = node.ctl_any(&["test", "echo", "client", "uri", "tcp://198.18.0.1/7", "mss", v]);
        assert!(!ok && text.contains(&format!("mss: {v} is outside 88..=9000")), "{text}");
    }
    let (ok, text) = node.ctl_any(&["test", "echo", "server", "uri", "tcp://0.0.0.0/7005", "no-delay", "maybe"]);
    assert!(!ok && text.contains("no-delay: \"maybe\" is not on or off"), "{text}");
    let (ok, text) = node.ctl_any(&["app", "ns", "add", "id", "default", "secret", "5"]);
    assert!(!ok && text.contains("default namespace"), "{text}");
    assert!(!node.ctl(&["show", "app"]).contains("7004"), "nothing was attached");
    // API: the connect's transport options (the library checks the same range the node does).
    let (_app, mut w) = App::attach(&node.api, "mss-api", &AttachOptions::default()).unwrap();
    let peer = Endpoint::parse_uri("tcp://198.18.0.1/7").unwrap();
    for m in [0u16, 1] {
        let opts = TransportOptions { mss: Some(m), ..TransportOptions::default() };
        match w.connect(peer, opts, Duration::from_secs(10)) {
            Err(Error::Node { code, text }) => {
                assert_eq!(code, ErrorCode::InvalidValue as i32);
                assert!(text.contains(&format!("mss: {m} is outside 88..=9000")), "{text}");
            }
            other => panic!("connect with mss {m}: {other:?}"),
        }
    }
    // The external echo app takes the same words.
    let out = Command::new(bin())
        .args(["echo", "client", "uri", "tcp://198.18.0.1/7", "mss", "0", "socket"])
        .arg(&node.api)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && text.contains("mss: 0 is outside 88..=9000"), "{text}");
    // A TCP echo server with a valid small MSS still serves (the connection keeps its segments above one byte).
    node.ctl(&["test", "echo", "server", "uri", "tcp://0.0.0.0/7006", "mss", "88"]);
    let got = node.ns.sh("printf hello-mss | timeout 20 socat -t 5 - TCP:198.18.0.2:7006");
    assert_eq!(got, "hello-mss");
}

#[test]
fn an_attach_past_the_descriptor_budget_is_refused_as_such() {
    if !require_root() {
        return;
    }
    // A node whose hard limit is low, so the budget is reached with a few apps.
    let mut node = CtlNode::start_with(&["prlimit", "--nofile=220:220", "--"], "", "fd_reserve = 16", "");
    let mut apps = Vec::new();
    let mut refused = None;
    for i in 0..200 {
        match App::attach(&node.api, &format!("fd-{i}"), &AttachOptions::default()) {
            Ok(a) => apps.push(a),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let e = refused.expect("the descriptor budget ran out within 200 apps");
    let text = e.to_string();
    assert!(text.contains("out of file descriptors") && text.contains("RLIMIT_NOFILE"), "{text}");
    assert!(!text.contains("segment_size"), "{text}");
    assert!(node.count(&["show", "api"], "api attaches refused (descriptor budget)") >= 1);
    assert!(node.running());
    drop(apps);
    wait_for("the apps are detached", || !node.ctl(&["show", "app"]).contains("fd-0"));
    let (_a, _w) = App::attach(&node.api, "fd-after", &AttachOptions::default()).expect("room again");
}
