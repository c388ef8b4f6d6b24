//! End to end, unmodified programs under `LD_PRELOAD=libdpnode_preload.so`:
//! the node on net_tap in a namespace the test creates, the Linux kernel
//! as the peer, and Debian's own binaries (curl, iperf3, redis-server,
//! sockperf) plus a C program that exercises every interposed call
//! (`preload/tests/c/calls.c`: its kernel peers are raw system calls,
//! which the library does not see).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The directory of the running test's profile (`target/debug`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    exe.parent().and_then(Path::parent).expect("target/<profile>").to_path_buf()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Builds the preload library (a cdylib, which `cargo test` does not build) and returns it.
fn preload_lib() -> PathBuf {
    let dir = profile_dir();
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "-p", "dpnode-preload", "--lib"])
        .args(if dir.ends_with("release") { &["--release"][..] } else { &[][..] })
        .current_dir(root())
        .status()
        .expect("run cargo");
    let lib = dir.join("libdpnode_preload.so");
    assert!(status.success() && lib.exists(), "cannot build {}", lib.display());
    lib
}

/// Compiles the C program that exercises every call.
fn calls_program() -> PathBuf {
    c_program("calls")
}

/// Compiles `preload/tests/c/NAME.c`.
fn c_program(name: &str) -> PathBuf {
    let out = profile_dir().join(format!("dpnode-preload-{name}"));
    let cc = Command::new("cc")
        .args(["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O1", "-o"])
        .arg(&out)
        .arg(root().join(format!("preload/tests/c/{name}.c")))
        .arg("-lpthread")
        .output()
        .expect("run cc");
    assert!(cc.status.success(), "cc failed:\n{}", String::from_utf8_lossy(&cc.stderr));
    out
}

fn have(program: &str) -> bool {
    let ok = sh_any(&format!("command -v {program}")).status.success();
    if !ok {
        eprintln!("SKIPPED: {program} is not installed (scripts/setup installs it)");
    }
    ok
}

/// The environment a preloaded program gets.
fn preload_env(t: &TapNode, extra: &str) -> String {
    format!(
        "LD_PRELOAD={} DPNODE_API_SOCKET={} {extra}",
        preload_lib().display(),
        t.node.dir.join("api.sock").display()
    )
}

/// A background process in the namespace, killed (by pid) on drop.
struct Bg {
    child: Child,
    log: PathBuf,
}

impl Bg {
    fn start(ns: &Netns, cmd: &str, log: &Path) -> Bg {
        let f = std::fs::File::create(log).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name, "sh", "-c", &format!("exec {cmd}")])
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn");
        Bg { child, log: log.to_path_buf() }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `what` (30 s at most).
    fn wait_log(&mut self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.log().contains(what) {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("exited ({st}) before {what:?}:\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "no {what:?} after 30 s:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        let _ = sh_any(&format!("kill -KILL {}", self.child.id()));
        let _ = self.child.wait();
    }
}

/// Waits until something listens on TCP `port` at the node (a kernel connect succeeds).
fn wait_port(ns: &Netns, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ns.sh_any(&format!("nc -z -w 1 198.18.0.2 {port}")).status.success() {
        assert!(Instant::now() < deadline, "nothing listens on 198.18.0.2:{port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Packets the node's port sent, from `show interface`.
fn tx_packets(node: &Node) -> u64 {
    let text = node.ctl(&["show", "interface"]);
    text.lines().nth(1).and_then(|l| l.split_whitespace().nth(7)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// `bytes` and `error` from an iperf3 JSON report.
fn iperf_result(json: &str) -> (u64, String) {
    let path = format!("/tmp/dpnt-iperf-{}.json", tag());
    std::fs::write(&path, json).unwrap();
    let out = sh(&format!(
        "python3 -c 'import json; d=json.load(open(\"{path}\")); e=d.get(\"end\",{{}}); \
         s=e.get(\"sum_received\") or e.get(\"sum\") or {{}}; print(int(s.get(\"bytes\",0)), d.get(\"error\",\"\"))'"
    ));
    let _ = std::fs::remove_file(&path);
    let mut it = out.trim().splitn(2, ' ');
    (it.next().unwrap_or("0").parse().unwrap_or(0), it.next().unwrap_or("").trim().to_string())
}

#[test]
fn c_program_exercises_every_call() {
    if !require_root() {
        return;
    }
    let prog = calls_program();
    let t = tap_node("");
    let out = t.ns.sh_any(&format!("timeout 120 env {} {} 23000", preload_env(&t, ""), prog.display()));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("all ok"),
        "{text}\n{}\nnode log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        t.node.log()
    );
    // Every check printed its line, fork and exec among them.
    assert!(text.lines().filter(|l| l.starts_with("ok ")).count() >= 14, "{text}");
    for what in ["ok fork:", "ok exec:", "ok execl after fork:", "ok posix_spawn:"] {
        assert!(text.contains(what), "{what}\n{text}");
    }
    eprintln!("{text}");
    // The forked children and the programs started by execv, execl and posix_spawn joined the
    // application: app workers on connections of their own, deleted when they went; the
    // application stayed.
    let api = t.node.ctl(&["show", "api"]);
    let counter = |name: &str| {
        api.lines().find(|l| l.contains(name)).and_then(|l| l.split_whitespace().next()?.parse::<u64>().ok())
    };
    assert!(counter("app workers joined").is_some_and(|n| n >= 6), "{api}");
    assert!(counter("app workers deleted (client gone").is_some_and(|n| n >= 6), "{api}");
}

/// Threads: four with sockets of their own (each its own app worker, on the fast path), one
/// socket shared by a writer and a reader thread (the locked path), and forks in the middle
/// of it all (every lock held across fork), against a kernel echo; every byte compared.
#[test]
fn threads_with_own_sockets_a_shared_socket_and_forks_move_data_bit_exact() {
    if !require_root() {
        return;
    }
    let prog = c_program("threads");
    let t = tap_node("");
    let out = t.ns.sh_any(&format!(
        "timeout 120 env {} {} 24100",
        preload_env(&t, "DPNODE_PRELOAD_LOG=info"),
        prog.display()
    ));
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("all ok"), "{text}\n{err}\nnode log:\n{}", t.node.log());
    for what in ["ok fork during traffic", "ok own sockets", "ok shared socket"] {
        assert!(text.contains(what), "{what}\n{text}");
    }
    // The main thread's worker plus one per own-socket thread (the shared socket's reader and
    // writer make none: they use the main thread's socket).
    let added = err.lines().filter(|l| l.contains("for a new thread")).count();
    assert_eq!(added, 4, "{err}");
    eprintln!("{text}");
}

#[test]
fn curl_downloads_10_mb_bit_exact_from_a_kernel_web_server() {
    if !require_root() || !have("curl") {
        return;
    }
    let t = tap_node("");
    let dir = t.node.dir.join("www");
    std::fs::create_dir_all(&dir).unwrap();
    sh(&format!("head -c 10000000 /dev/urandom > {}/blob", dir.display()));
    let web = Bg::start(
        &t.ns,
        &format!("python3 -m http.server 8080 --bind 198.18.0.1 --directory {}", dir.display()),
        &t.node.dir.join("http.log"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !t.ns.sh_any("nc -z -w 1 198.18.0.1 8080").status.success() {
        assert!(Instant::now() < deadline, "web server:\n{}", web.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let got = t.node.dir.join("got");
    let out = t.ns.sh_any(&format!(
        "timeout 60 env {} curl -sS -o {} http://198.18.0.1:8080/blob",
        preload_env(&t, ""),
        got.display()
    ));
    assert!(out.status.success(), "curl: {}", String::from_utf8_lossy(&out.stderr));
    sh(&format!("cmp {}/blob {}", dir.display(), got.display()));
    // It went through the node: the app attached and its session was made there.
    let api = t.node.ctl(&["show", "api"]);
    assert!(api.contains("attaches"), "{api}");
    assert!(t.node.log().contains("attached \"curl-"), "{}", t.node.log());
    let _ = web.log();
    // The node is not reachable: one clear line, and an error (or kernel sockets when asked).
    let bad =
        "LD_PRELOAD=".to_string() + &preload_lib().display().to_string() + " DPNODE_API_SOCKET=/nonexistent/api.sock";
    let out = t.ns.sh_any(&format!("timeout 30 env {bad} curl -sS -o /dev/null http://198.18.0.1:8080/blob"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "curl without a node should fail");
    assert_eq!(err.matches("cannot attach to /nonexistent/api.sock").count(), 1, "{err}");
    let out = t.ns.sh_any(&format!(
        "timeout 30 env {bad} DPNODE_FALLBACK=kernel curl -sS -o {} http://198.18.0.1:8080/blob",
        got.display()
    ));
    assert!(out.status.success(), "fallback: {}", String::from_utf8_lossy(&out.stderr));
    sh(&format!("cmp {}/blob {}", dir.display(), got.display()));
}

#[test]
fn iperf3_server_tcp_both_ways_and_udp_and_client_against_the_kernel() {
    if !require_root() || !have("iperf3") {
        return;
    }
    let t = tap_node("");
    let mut server = Bg::start(
        &t.ns,
        &format!("env {} iperf3 -4 -s -p 5201 --forceflush", preload_env(&t, "")),
        &t.node.dir.join("iperf-server.log"),
    );
    server.wait_log("Server listening");
    for mode in ["", "-R", "-u -b 200M"] {
        let out = t.ns.sh_any(&format!("timeout 60 iperf3 -c 198.18.0.2 -p 5201 -t 5 -J {mode}"));
        let json = String::from_utf8_lossy(&out.stdout);
        let (bytes, error) = iperf_result(&json);
        assert!(
            error.is_empty() && bytes > 1_000_000,
            "iperf3 {mode}: {bytes} bytes, error {error:?}\n{}",
            server.log()
        );
        eprintln!("iperf3 {mode}: {bytes} bytes");
    }
    drop(server);
    let _kernel = Bg::start(&t.ns, "iperf3 -s -B 198.18.0.1 -p 5202", &t.node.dir.join("iperf-kernel.log"));
    std::thread::sleep(Duration::from_millis(500));
    let out = t.ns.sh_any(&format!("timeout 60 env {} iperf3 -c 198.18.0.1 -p 5202 -t 5 -J", preload_env(&t, "")));
    let (bytes, error) = iperf_result(&String::from_utf8_lossy(&out.stdout));
    assert!(error.is_empty() && bytes > 1_000_000, "iperf3 client: {bytes} bytes, error {error:?}");
}

#[test]
fn redis_server_serves_redis_benchmark_and_a_1_mb_value() {
    if !require_root() || !have("redis-server") || !have("redis-benchmark") {
        return;
    }
    let t = tap_node("");
    let _redis = Bg::start(
        &t.ns,
        &format!(
            "env {} redis-server --port 6379 --bind 0.0.0.0 --save \"\" --appendonly no --protected-mode no",
            preload_env(&t, "")
        ),
        &t.node.dir.join("redis.log"),
    );
    wait_port(&t.ns, 6379);
    let out = t.ns.sh_any("timeout 120 redis-benchmark -h 198.18.0.2 -q -n 20000 -t set,get");
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
    assert!(out.status.success(), "{text}");
    for what in ["SET:", "GET:"] {
        assert!(text.lines().any(|l| l.starts_with(what) && l.contains("requests per second")), "{what}\n{text}");
    }
    let val = t.node.dir.join("val");
    sh(&format!("head -c 750000 /dev/urandom | base64 -w0 > {}", val.display()));
    t.ns.sh(&format!("redis-cli -h 198.18.0.2 -x set big < {}", val.display()));
    let back = t.node.dir.join("back");
    t.ns.sh(&format!("redis-cli -h 198.18.0.2 --raw get big | head -c -1 > {}", back.display()));
    sh(&format!("cmp {} {}", val.display(), back.display()));
}

#[test]
fn sockperf_server_answers_ping_pong_over_tcp_and_udp() {
    if !require_root() || !have("sockperf") {
        return;
    }
    let t = tap_node("");
    for (port, proto) in [(11111, ""), (11112, "--tcp")] {
        let mut server = Bg::start(
            &t.ns,
            &format!("env {} sockperf server -i 0.0.0.0 -p {port} {proto}", preload_env(&t, "")),
            &t.node.dir.join(format!("sockperf-{port}.log")),
        );
        server.wait_log("to block on socket");
        let out = t.ns.sh_any(&format!("timeout 30 sockperf ping-pong -i 198.18.0.2 -p {port} -t 2 {proto}"));
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && text.contains("percentile 50.000"),
            "sockperf {proto}:\n{text}\n{}",
            server.log()
        );
    }
}

#[test]
fn two_preloaded_iperf3_through_cut_through() {
    if !require_root() || !have("iperf3") {
        return;
    }
    let t = tap_node("");
    let local = preload_env(&t, "DPNODE_SCOPE=local");
    let mut server =
        Bg::start(&t.ns, &format!("env {local} iperf3 -4 -s -p 5301 --forceflush"), &t.node.dir.join("ct-server.log"));
    server.wait_log("Server listening");
    let tx_before = tx_packets(&t.node);
    let out = t.ns.sh_any(&format!("timeout 60 env {local} iperf3 -c 198.18.0.2 -p 5301 -t 3 -J"));
    let (bytes, error) = iperf_result(&String::from_utf8_lossy(&out.stdout));
    assert!(
        error.is_empty() && bytes > 1_000_000,
        "cut-through iperf3: {bytes} bytes, error {error:?}\n{}",
        server.log()
    );
    // Through a fifo pair on the node, not the tap: a handful of packets (ARP, if any) at most.
    let sent = tx_packets(&t.node) - tx_before;
    assert!(sent < 100, "{sent} packets left the node for a cut-through transfer");
}

#[test]
fn nginx_in_one_process_serves_a_1_mb_file_and_a_page_to_curl_and_wrk() {
    if !require_root() || !have("nginx") || !have("wrk") {
        return;
    }
    let t = tap_node("");
    let d = t.node.dir.join("nginx");
    std::fs::create_dir_all(&d).unwrap();
    sh(&format!("head -c 1048576 /dev/urandom > {0}/big && echo hello > {0}/index.html", d.display()));
    let conf = d.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "worker_processes 1;\nmaster_process off;\ndaemon off;\nerror_log {0}/error.log;\npid {0}/nginx.pid;\n\
             events {{ worker_connections 1024; }}\n\
             http {{ access_log off; sendfile on; server {{ listen 8080; root {0}; }} }}\n",
            d.display()
        ),
    )
    .unwrap();
    let start = totals(&t.node);
    assert!(start.starts_with("total"), "no totals in show session: {start:?}");
    let mut nginx = Bg::start(
        &t.ns,
        &format!("env {} nginx -c {} -p {}", preload_env(&t, ""), conf.display(), d.display()),
        &d.join("out.log"),
    );
    wait_port(&t.ns, 8080);
    for file in ["big", "index.html"] {
        let got = d.join(format!("got-{file}"));
        t.ns.sh(&format!("curl -sS -o {} http://198.18.0.2:8080/{file}", got.display()));
        sh(&format!("cmp {}/{file} {}", d.display(), got.display()));
    }
    for extra in ["", "-H \"Connection: close\""] {
        let out = t.ns.sh_any(&format!("timeout 60 wrk -t1 -c8 -d3s {extra} http://198.18.0.2:8080/index.html"));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains("Requests/sec"), "wrk {extra}:\n{text}");
        assert!(!text.contains("Socket errors"), "wrk {extra} had socket errors:\n{text}");
        assert!(!text.contains("Non-2xx"), "wrk {extra}:\n{text}");
        eprintln!("wrk {extra}: {}", text.lines().find(|l| l.contains("Requests/sec")).unwrap_or_default());
    }
    // SIGTERM, then (a second nginx) SIGKILL: the node is left with what it had before.
    sh(&format!("kill -TERM {}", nginx.child.id()));
    let _ = nginx.child.wait();
    wait_totals(&t.node, &start);
    let mut nginx = Bg::start(
        &t.ns,
        &format!("env {} nginx -c {} -p {}", preload_env(&t, ""), conf.display(), d.display()),
        &d.join("out2.log"),
    );
    wait_port(&t.ns, 8080);
    t.ns.sh("curl -sS -o /dev/null http://198.18.0.2:8080/big");
    sh(&format!("kill -KILL {}", nginx.child.id()));
    let _ = nginx.child.wait();
    wait_totals(&t.node, &start);
}

/// nginx with a master and its workers, each preloaded; on drop every one of them is killed
/// (by pid: the master's children first, so none is left behind as an orphan).
struct Nginx {
    bg: Bg,
}

impl Nginx {
    fn start(t: &TapNode, conf: &Path, dir: &Path, log: &str) -> Nginx {
        let cmd = format!("env {} nginx -c {} -p {}", preload_env(t, ""), conf.display(), dir.display());
        Nginx { bg: Bg::start(&t.ns, &cmd, &dir.join(log)) }
    }

    fn pid(&self) -> u32 {
        self.bg.child.id()
    }

    /// The master's children (its worker processes).
    fn workers(&self) -> Vec<u32> {
        let out = sh_any(&format!("pgrep -P {}", self.pid()));
        String::from_utf8_lossy(&out.stdout).split_whitespace().filter_map(|p| p.parse().ok()).collect()
    }

    /// Sends `sig` to the master and waits for it to exit.
    fn stop(&mut self, sig: &str) {
        sh(&format!("kill -{sig} {}", self.pid()));
        let _ = self.bg.child.wait();
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // The master first, so that it cannot start new workers; then the ones it had.
        let workers = self.workers();
        let _ = sh_any(&format!("kill -KILL {}", self.pid()));
        for w in workers {
            let _ = sh_any(&format!("kill -KILL {w}"));
        }
    }
}

/// The app workers listening on TCP `port` (`show app server`'s Wrk column, `0p,1,2`).
fn listening_workers(node: &Node, port: u16) -> String {
    let text = node.ctl(&["show", "app", "server"]);
    let end = [format!(":{port}"), format!("/{port}")];
    text.lines()
        .find(|l| l.split_whitespace().next().is_some_and(|ep| end.iter().any(|e| ep.ends_with(e.as_str()))))
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap_or_default()
        .to_string()
}

/// Waits until `active` app workers listen on `port`, and `passive` passive ones (the master).
fn wait_listening(node: &Node, port: u16, active: usize, passive: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let w = listening_workers(node, port);
        let p = w.split(',').filter(|x| x.ends_with('p')).count();
        if p == passive && w.split(',').filter(|x| !x.is_empty()).count() == active + passive {
            return;
        }
        assert!(Instant::now() < deadline, "port {port}: listening workers {w:?}, want {active} and {passive} passive");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A daemonized nginx, by its pid file: on drop the master's children and the master are killed.
struct NginxDaemon {
    pidfile: PathBuf,
}

impl NginxDaemon {
    fn master(&self) -> Option<u32> {
        std::fs::read_to_string(&self.pidfile).ok()?.trim().parse().ok()
    }
}

impl Drop for NginxDaemon {
    fn drop(&mut self) {
        let Some(m) = self.master() else { return };
        let out = sh_any(&format!("pgrep -P {m}"));
        let _ = sh_any(&format!("kill -KILL {m}"));
        for w in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = sh_any(&format!("kill -KILL {w}"));
        }
    }
}

/// Waits until no session is left (the clients' connections closed) and returns the totals then.
fn wait_idle(node: &Node) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = totals(node);
        if now.starts_with("total 0 sessions") {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "sessions left: {now:?}\n{}\n{}",
            node.ctl(&["show", "session", "verbose"]),
            node.ctl(&["show", "app", "0", "verbose"])
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A counter of `show api` by (part of) its name.
fn api_counter(node: &Node, name: &str) -> u64 {
    let text = node.ctl(&["show", "api"]);
    text.lines()
        .find(|l| l.contains(name))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {name:?} in show api:\n{text}"))
}

/// curl gets the 1 MB file and the page bit-exact; wrk with keep-alive and with
/// `Connection: close` for `secs` has no socket errors and only 2xx answers.
fn nginx_serves(t: &TapNode, d: &Path, secs: u32) {
    for file in ["big", "index.html"] {
        let got = d.join(format!("got-{file}"));
        t.ns.sh(&format!("curl -sS --max-time 30 -o {} http://198.18.0.2:8080/{file}", got.display()));
        sh(&format!("cmp {}/{file} {}", d.display(), got.display()));
    }
    for extra in ["", "-H \"Connection: close\""] {
        let out = t.ns.sh_any(&format!(
            "timeout 60 wrk -t1 -c8 -d{secs}s --timeout 10s {extra} http://198.18.0.2:8080/index.html"
        ));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains("Requests/sec"), "wrk {extra}:\n{text}");
        assert!(!text.contains("Socket errors"), "wrk {extra} had socket errors:\n{text}");
        assert!(!text.contains("Non-2xx"), "wrk {extra}:\n{text}");
        eprintln!("wrk {extra}: {}", text.lines().find(|l| l.contains("Requests/sec")).unwrap_or_default());
    }
}

#[test]
fn nginx_with_a_master_and_two_workers_serves_and_outlives_a_killed_worker() {
    if !require_root() || !have("nginx") || !have("wrk") {
        return;
    }
    let t = tap_node("");
    let d = t.node.dir.join("nginx-mw");
    std::fs::create_dir_all(&d).unwrap();
    sh(&format!("head -c 1048576 /dev/urandom > {0}/big && echo hello > {0}/index.html", d.display()));
    // The workers run as nobody (nginx's default for a root master): they joined the
    // application in fork, before they changed their user.
    let conf = d.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "worker_processes 2;\nmaster_process on;\ndaemon off;\nerror_log {0}/error.log;\npid {0}/nginx.pid;\n\
             events {{ worker_connections 1024; }}\n\
             http {{ access_log off; sendfile on; server {{ listen 8080; root {0}; }} }}\n",
            d.display()
        ),
    )
    .unwrap();
    let start = totals(&t.node);
    assert!(start.starts_with("total"), "no totals in show session: {start:?}");
    let mut nginx = Nginx::start(&t, &conf, &d, "out.log");
    // Both workers listen, and the master (which never accepts) is passive.
    wait_listening(&t.node, 8080, 2, 1);
    assert_eq!(nginx.workers().len(), 2, "{}", nginx.bg.log());
    for w in nginx.workers() {
        let status = std::fs::read_to_string(format!("/proc/{w}/status")).unwrap_or_default();
        let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap_or_default().to_string();
        assert!(uid.split_whitespace().nth(1) == Some("65534"), "worker {w} is not nobody: {uid:?}");
    }
    nginx_serves(&t, &d, 5);

    // kill -9 of one worker: the node deletes its app worker (the application stays), the
    // master starts another, which joins, and serving goes on.
    let steady = wait_idle(&t.node);
    let joined = api_counter(&t.node, "app workers joined");
    let deleted = api_counter(&t.node, "app workers deleted (client gone");
    let victim = nginx.workers()[0];
    sh(&format!("kill -KILL {victim}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while api_counter(&t.node, "app workers deleted (client gone") == deleted
        || api_counter(&t.node, "app workers joined") == joined
    {
        assert!(Instant::now() < deadline, "no worker deleted and joined after kill -9:\n{}", t.node.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_listening(&t.node, 8080, 2, 1);
    let workers = nginx.workers();
    assert!(workers.len() == 2 && !workers.contains(&victim), "workers {workers:?} (killed {victim})");
    // The dead worker's sessions, fifos and segments are gone: as many as before it died.
    wait_totals(&t.node, &steady);
    nginx_serves(&t, &d, 2);

    // SIGTERM, then (a second nginx) SIGKILL of the master and its workers: the node is left
    // with what it had before.
    nginx.stop("TERM");
    wait_totals(&t.node, &start);
    drop(nginx);
    let nginx = Nginx::start(&t, &conf, &d, "out2.log");
    wait_listening(&t.node, 8080, 2, 1);
    t.ns.sh("curl -sS --max-time 30 -o /dev/null http://198.18.0.2:8080/big");
    // The master first: killed after a worker, it could start a new one in between.
    let all: Vec<String> = [nginx.pid()].iter().chain(nginx.workers().iter()).map(u32::to_string).collect();
    sh(&format!("kill -KILL {}", all.join(" ")));
    drop(nginx);
    wait_totals(&t.node, &start);

    // As a daemon (nginx's default): the process that opened the listener forks the master
    // and exits; the master's workers listen (the master never joins the listener).
    let dconf = d.join("nginx-daemon.conf");
    std::fs::write(&dconf, std::fs::read_to_string(&conf).unwrap().replace("daemon off;", "daemon on;")).unwrap();
    let daemon = NginxDaemon { pidfile: d.join("nginx.pid") };
    let _ = std::fs::remove_file(&daemon.pidfile);
    t.ns.sh(&format!("timeout 30 env {} nginx -c {} -p {}", preload_env(&t, ""), dconf.display(), d.display()));
    wait_listening(&t.node, 8080, 2, 0);
    let got = d.join("got-daemon");
    t.ns.sh(&format!("curl -sS --max-time 30 -o {} http://198.18.0.2:8080/big", got.display()));
    sh(&format!("cmp {}/big {}", d.display(), got.display()));
    let master = daemon.master().expect("nginx.pid");
    sh(&format!("kill -TERM {master}"));
    wait_totals(&t.node, &start);
}

/// The `total ...` line of `show session` (sessions, listeners, apps, segments, fifo pairs).
fn totals(node: &Node) -> String {
    let s = node.ctl(&["show", "session"]);
    s.lines().find(|l| l.starts_with("total")).unwrap_or_default().to_string()
}

/// Waits until `show session`'s totals are `want` again (30 s at most).
fn wait_totals(node: &Node, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = totals(node);
        if now == want {
            return;
        }
        assert!(Instant::now() < deadline, "show session totals: {now:?}, before: {want:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
