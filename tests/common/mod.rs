//! End-to-end test harness: network namespaces, a node process inside one,
//! and the `ctl` client. Everything is torn down on drop, even on panic.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A unique short tag for names (namespaces, tap devices, sockets).
pub fn tag() -> String {
    format!("{}{}", std::process::id() % 100_000, SEQ.fetch_add(1, Ordering::SeqCst))
}

/// Run a command, panic with its output if it fails.
pub fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().expect("spawn sh");
    assert!(
        out.status.success(),
        "command failed: {cmd}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run a command, return its output whatever the status.
pub fn sh_any(cmd: &str) -> Output {
    Command::new("sh").arg("-c").arg(cmd).output().expect("spawn sh")
}

/// Skip (with a loud message) unless root: namespaces and taps need it.
pub fn require_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc_geteuid() } == 0;
    if !root {
        eprintln!("SKIPPED: end-to-end tests need root (run scripts/test as root)");
    }
    root
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// A network namespace, deleted on drop.
pub struct Netns {
    /// Its name.
    pub name: String,
}

impl Netns {
    /// Create `dpnt-<tag>` with loopback up and IPv6 off (less noise).
    pub fn new(tag: &str) -> Netns {
        let name = format!("dpnt-{tag}");
        let _ = sh_any(&format!("ip netns del {name} 2>/dev/null"));
        sh(&format!("ip netns add {name}"));
        sh(&format!("ip -n {name} link set lo up"));
        let _ = sh_any(&format!(
            "ip netns exec {name} sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1"
        ));
        Netns { name }
    }

    /// Run a shell command inside the namespace; panic on failure.
    pub fn sh(&self, cmd: &str) -> String {
        sh(&format!("ip netns exec {} sh -c '{}'", self.name, cmd.replace('\'', "'\\''")))
    }

    /// Run a shell command inside the namespace; any status.
    pub fn sh_any(&self, cmd: &str) -> Output {
        sh_any(&format!("ip netns exec {} sh -c '{}'", self.name, cmd.replace('\'', "'\\''")))
    }

    /// Wait until `dev` exists in the namespace.
    pub fn wait_link(&self, dev: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.sh_any(&format!("ip link show {dev}")).status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("link {dev} never appeared in {}", self.name);
    }

    /// Wait until a kernel socket in the namespace listens on TCP `port`
    /// (a server started in the background is ready only then).
    #[allow(dead_code)]
    pub fn wait_tcp_listen(&self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let out = self.sh_any(&format!("ss -Hltn 'sport = :{port}'"));
            if !String::from_utf8_lossy(&out.stdout).trim().is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nothing listens on tcp port {port} in {}", self.name);
    }

    /// Give the kernel side of a tap an address and bring it up.
    pub fn kernel_addr(&self, dev: &str, cidr: &str) {
        self.wait_link(dev);
        self.sh(&format!("ip addr add {cidr} dev {dev} && ip link set {dev} up"));
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = sh_any(&format!("ip netns del {}", self.name));
    }
}

/// A running `dpnode run` inside a namespace.
pub struct Node {
    child: Option<Child>,
    /// Scratch directory (config, sockets, log).
    pub dir: PathBuf,
    /// CLI socket.
    pub socket: PathBuf,
}

/// The dpnode binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_dpnode")
}

impl Node {
    /// Start a node with `config` (the `[cli]` section is added here) in `ns`.
    pub fn start(ns: &Netns, tag: &str, config: &str) -> Node {
        let dir = PathBuf::from(format!("/tmp/dpnt-{tag}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("cli.sock");
        let cfg = format!(
            "{config}\n[cli]\nsocket = \"{}\"\n[api]\nsocket = \"{}\"\n",
            socket.display(),
            dir.join("api.sock").display()
        );
        let cfg_path = dir.join("node.toml");
        std::fs::write(&cfg_path, cfg).unwrap();
        let log = std::fs::File::create(dir.join("node.log")).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name, bin(), "run", "--config"])
            .arg(&cfg_path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn dpnode");
        let mut node = Node { child: Some(child), dir, socket };
        node.wait_ready();
        node
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.socket.exists() && self.ctl_any(&["show", "version"]).0 {
                return;
            }
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("dpnode exited early ({st}):\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("dpnode did not come up:\n{}", self.log());
    }

    /// The node's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("node.log")).unwrap_or_default()
    }

    /// Run a CLI command: (success, stdout+stderr).
    pub fn ctl_any(&self, words: &[&str]) -> (bool, String) {
        let out =
            Command::new(bin()).arg("ctl").arg("--socket").arg(&self.socket).args(words).output().expect("spawn ctl");
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    /// Run a CLI command that must succeed.
    pub fn ctl(&self, words: &[&str]) -> String {
        let (ok, text) = self.ctl_any(words);
        assert!(ok, "ctl {words:?} failed:\n{text}\nnode log:\n{}", self.log());
        text
    }

    /// Stop with SIGTERM and wait; returns the exit status code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        // `ip netns exec` execs the node, so the child pid is the node's.
        let _ = sh_any(&format!("kill -TERM {}", child.id()));
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(st) = child.try_wait().unwrap() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("dpnode did not stop on SIGTERM:\n{}", self.log());
    }

    /// Value of counter `name` in `show errors`/`show counters` output (0 if absent).
    pub fn counter(&self, name: &str) -> u64 {
        let text = self.ctl(&["show", "counters"]);
        text.lines()
            .filter(|l| l.trim_end().ends_with(name))
            .filter_map(|l| l.split_whitespace().next()?.parse::<u64>().ok())
            .sum()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = sh_any(&format!("kill -TERM {}", c.id()));
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if c.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Does `path` exist?
pub fn exists(p: &Path) -> bool {
    p.exists()
}

/// A node on a `net_tap` port inside a namespace of its own: the node at
/// 198.18.0.2/24, the kernel side of the tap at 198.18.0.1/24. Dropping it
/// stops the node first, then deletes the namespace.
pub struct TapNode {
    /// The node.
    pub node: Node,
    /// The namespace (the kernel peer lives here).
    pub ns: Netns,
    /// The kernel-side tap device.
    pub dev: String,
    /// The unique tag used in names.
    pub tag: String,
}

/// Starts a [`TapNode`] without hugepages; `extra` is appended to the config.
pub fn tap_node(extra: &str) -> TapNode {
    let tag = tag();
    let ns = Netns::new(&tag);
    let dev = format!("dpnt{tag}");
    let cfg = format!(
        "[dpdk]\nhugepages = \"off\"\n\n[[interface]]\nname = \"tap0\"\nvdev = \"net_tap0,iface={dev}\"\nip4 = \"198.18.0.2/24\"\n\n{extra}\n"
    );
    let node = Node::start(&ns, &tag, &cfg);
    ns.kernel_addr(&dev, "198.18.0.1/24");
    TapNode { node, ns, dev, tag }
}

/// Runs a Python script inside the namespace (`timeout SECS env ENV python3
/// SCRIPT ARGS`) and returns its stdout; panics, with its output, if it fails.
pub fn python(ns: &Netns, script: &str, env: &str, args: &str, secs: u32) -> String {
    let path = format!("/tmp/dpnt-py-{}.py", tag());
    std::fs::write(&path, script).unwrap();
    let out = ns.sh_any(&format!("timeout {secs} env {env} python3 {path} {args}"));
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python failed ({:?}):\n{text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The value of `key=VALUE` in `text`.
pub fn field(text: &str, key: &str) -> String {
    let pat = format!("{key}=");
    text.split_whitespace()
        .find_map(|w| w.strip_prefix(&pat))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no {key}= in {text}"))
}

/// The number in `key=N` in `text`.
pub fn field_num(text: &str, key: &str) -> u64 {
    let v = field(text, key);
    v.parse().unwrap_or_else(|_| panic!("{key}={v} is not a number in {text}"))
}

/// The number after `word` in `text` (e.g. `completed 4` in a report).
pub fn after(text: &str, word: &str) -> u64 {
    let mut it = text.split_whitespace();
    while let Some(w) = it.next() {
        if w == word {
            if let Some(v) = it.next().and_then(|v| v.trim_end_matches(',').parse().ok()) {
                return v;
            }
        }
    }
    panic!("no number after {word:?} in:\n{text}")
}

/// The number in front of a counter line of `show errors` or `show tcp stats` (0 if absent).
pub fn counter_line(text: &str, name: &str) -> u64 {
    text.lines()
        .find(|l| l.trim_end().ends_with(name))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
