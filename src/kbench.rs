//! `dpnode kbench server|client`: the Linux kernel's twin of the builtin echo
//! server and client, for the reference runs of `scripts/bench`.
//!
//! The client takes the same words as `test echo client` (parsed by the same
//! [`AppSpec`]), runs the same modes with the same byte pattern and checks
//! (`session::apps::echo`), and prints the same [`EchoReport`], so a
//! dpnode-to-dpnode run and a kernel-to-kernel run differ only in the stack
//! underneath. Sockets are plain blocking `std::net` ones, one thread per
//! session (two in `bulk`, so sending and reading overlap): the usual way a
//! kernel benchmark (netperf, iperf) drives the stack. Like the builtin
//! client, it closes a connection once everything sent is back (no
//! half-close). Pin the process with `taskset` to give it one core.
//!
//! The server echoes what it reads on TCP (a pool of threads that accept and
//! serve one connection at a time) or UDP (one thread), like the builtin
//! echo server.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use echo::{
    check_dgram, fill_dgram, fill_stream, merge_reports, share, stream_mismatches, EchoMode, EchoReport,
    DGRAM_LOSS_WAIT_NS, SEQ_LEN,
};
use session::apps::echo::EchoClientConfig;
use shm::types::Proto;

use crate::apps::{AppSpec, Kind};

/// The words each side takes.
pub const USAGE: &str = "\
usage:
  dpnode kbench server uri PROTO://ADDR/PORT [threads N (1..=64, default 64)] [no-delay on]
  dpnode kbench client uri PROTO://ADDR/PORT [mode bulk|rr|cps] [sessions N] [bytes SIZE] [chunk SIZE]
                       [window N] [connections N] [duration S] [timeout S] [no-delay on]
ADDR is IPv4 or IPv6 in brackets (tcp://[fd00::2]/7).
The kernel's echo server and client, with the builtin echo client's modes, pattern and report.";

/// How often a bulk reader with nothing to read looks whether the writer is done.
const READ_POLL: Duration = Duration::from_millis(10);

/// Options of the builtin echo client that the kernel client takes too.
const CLIENT_KEYS: &[&str] =
    &["uri", "mode", "sessions", "bytes", "chunk", "window", "connections", "duration", "timeout", "no_delay"];

/// `dpnode kbench server|client KEY VALUE...`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum KbenchCommand {
    /// The kernel's echo server (runs until killed)
    #[command(after_help = USAGE)]
    Server {
        /// `uri URI [threads N] [no-delay on]`
        #[arg(value_name = "KEY VALUE", required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        words: Vec<String>,
    },
    /// The kernel's echo client, with the builtin echo client's options
    #[command(after_help = USAGE)]
    Client {
        /// `uri URI [KEY VALUE]...`
        #[arg(value_name = "KEY VALUE", required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        words: Vec<String>,
    },
}

/// Why kbench did not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum KbenchError {
    /// Its options are wrong (exit status 2).
    #[error("dpnode kbench {0}: {1}")]
    Usage(&'static str, String),
    /// The server failed (exit status 1).
    #[error("dpnode kbench server: {0}")]
    Failed(std::io::Error),
}

/// Runs `dpnode kbench ...`: the server until killed, the client to the end
/// (printing its report); `Ok(false)` unless every byte came back intact.
pub fn run(cmd: &KbenchCommand) -> Result<bool, KbenchError> {
    match cmd {
        KbenchCommand::Server { words } => {
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            let o = ServerOpts::parse(&words).map_err(|e| KbenchError::Usage("server", e))?;
            serve(&o).map_err(KbenchError::Failed)?;
            Ok(true)
        }
        KbenchCommand::Client { words } => {
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            let spec = client_spec(&words).map_err(|e| KbenchError::Usage("client", e))?;
            let report = run_client(&spec.client_config());
            println!("kbench client -> {}\n{}", spec.uri, report.format());
            Ok(report.ok())
        }
    }
}

/// What the kernel echo server is asked to do.
#[derive(Debug, Clone, PartialEq)]
struct ServerOpts {
    proto: Proto,
    addr: SocketAddr,
    threads: usize,
    no_delay: bool,
}

/// Options of the echo server that the kernel server takes.
const SERVER_KEYS: &[&str] = &["uri", "threads", "no_delay"];

/// `words`' keys not among `keys` (by field name, so `no-delay` is `no_delay`) are refused.
fn only(words: &[&str], keys: &[&str], who: &str) -> Result<(), String> {
    for k in words.iter().step_by(2) {
        if !keys.contains(&app_options::pairs::field_name(k).as_str()) {
            return Err(format!("{k}: the kernel {who} does not take it (it takes {})", keys.join(", ")));
        }
    }
    Ok(())
}

impl ServerOpts {
    /// Parses the server's words with the echo server's options adapter.
    fn parse(words: &[&str]) -> Result<ServerOpts, String> {
        only(words, SERVER_KEYS, "server")?;
        let o = app_options::EchoServerOptions::from_words(words).map_err(|e| e.to_string())?;
        if o.tls.enabled {
            return Err("tls://: the kernel benchmark has no TLS yet".into());
        }
        let uri = o.common.uri;
        Ok(ServerOpts {
            proto: uri.proto,
            addr: SocketAddr::new(uri.ip, uri.port),
            threads: o.external.threads.map_or(64, |n| n as usize),
            no_delay: o.common.no_delay.unwrap_or(false),
        })
    }
}

/// Parses the client's words as `test echo client` does, refusing the options only the node has.
fn client_spec(words: &[&str]) -> Result<AppSpec, String> {
    only(words, CLIENT_KEYS, "client")?;
    let spec = AppSpec::from_words(Kind::EchoClient, words)?;
    if spec.tls_client.is_some() {
        return Err("tls://: the kernel benchmark has no TLS yet".into());
    }
    Ok(spec)
}

/// Runs the echo server until the process is killed.
fn serve(o: &ServerOpts) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 << 10];
    if o.proto == Proto::Udp {
        let sock = UdpSocket::bind(o.addr)?;
        tracing::info!("kbench server: udp echo on {}", o.addr);
        loop {
            let (n, from) = sock.recv_from(&mut buf)?;
            let _ = sock.send_to(&buf[..n], from);
        }
    }
    let listener = TcpListener::bind(o.addr)?;
    tracing::info!("kbench server: tcp echo on {} ({} threads)", o.addr, o.threads);
    std::thread::scope(|scope| {
        for _ in 0..o.threads {
            let listener = &listener;
            scope.spawn(move || {
                let mut buf = vec![0u8; 64 << 10];
                loop {
                    match listener.accept() {
                        Ok((s, _)) => {
                            let _ = s.set_nodelay(o.no_delay);
                            // A peer that resets is its own business.
                            let _ = echo_stream(s, &mut buf);
                        }
                        Err(e) if e.kind() == ErrorKind::Interrupted || e.kind() == ErrorKind::ConnectionAborted => {}
                        Err(e) => {
                            tracing::warn!("kbench server: accept: {e}");
                            std::thread::sleep(Duration::from_millis(10));
                        }
                    }
                }
            });
        }
    });
    Ok(())
}

/// Sends back whatever arrives until the peer closes.
fn echo_stream(mut s: TcpStream, buf: &mut [u8]) -> std::io::Result<()> {
    loop {
        let n = s.read(buf)?;
        if n == 0 {
            return Ok(());
        }
        s.write_all(&buf[..n])?;
    }
}

/// Runs the client: one thread per session, then the merged report.
fn run_client(cfg: &EchoClientConfig) -> EchoReport {
    let start = Instant::now();
    let reports: Vec<EchoReport> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..cfg.sessions)
            .map(|k| {
                scope.spawn(move || {
                    let mut r = EchoReport { sessions: 1, mode: cfg.mode, ..Default::default() };
                    let mut s = Session { cfg, key: k, start, r: &mut r };
                    let dgram = cfg.remote.proto == Proto::Udp;
                    match (cfg.mode, dgram) {
                        (_, true) => s.dgram(),
                        (EchoMode::Bulk, false) => s.bulk(),
                        (EchoMode::Rr, false) => s.rr(),
                        (EchoMode::Cps, false) => s.cps(),
                    }
                    r.duration_ns = start.elapsed().as_nanos() as u64;
                    r
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap_or_default()).collect()
    });
    merge_reports(reports)
}

/// One session's run and its part of the report.
struct Session<'a> {
    cfg: &'a EchoClientConfig,
    key: u32,
    start: Instant,
    r: &'a mut EchoReport,
}

impl Session<'_> {
    /// Bytes this session sends when no duration bounds it.
    fn target(&self) -> u64 {
        if self.cfg.duration_ns > 0 {
            u64::MAX
        } else {
            self.cfg.bytes
        }
    }

    /// The duration (if any) is over: start nothing new.
    fn over(&self) -> bool {
        self.cfg.duration_ns > 0 && self.start.elapsed().as_nanos() as u64 >= self.cfg.duration_ns
    }

    fn remote(&self) -> SocketAddr {
        SocketAddr::new(self.cfg.remote.ip, self.cfg.remote.port)
    }

    fn connect(&mut self) -> Option<TcpStream> {
        let timeout = Duration::from_nanos(self.cfg.timeout_ns.max(1));
        match TcpStream::connect_timeout(&self.remote(), timeout) {
            Ok(s) => {
                let _ = s.set_nodelay(self.cfg.options.no_delay);
                let _ = s.set_read_timeout(Some(timeout));
                let _ = s.set_write_timeout(Some(timeout));
                self.r.connected = self.r.connected.saturating_add(1);
                Some(s)
            }
            Err(e) => {
                self.r.connect_errors.push(e.to_string());
                None
            }
        }
    }

    /// An I/O error ends the session: a timeout is reported as one, anything else as the error.
    fn failed(&mut self, e: std::io::Error) {
        if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
            self.r.timed_out = true;
        } else {
            self.r.connect_errors.push(format!("session {}: {e}", self.key));
        }
    }

    /// Writes `chunk` bytes of the pattern from `offset` and reads them back; the round trip in ns.
    fn exchange(&mut self, s: &mut TcpStream, out: &mut [u8], back: &mut [u8], offset: u64) -> std::io::Result<u64> {
        fill_stream(out, self.key, offset);
        let t = Instant::now();
        s.write_all(out)?;
        let mut got = 0;
        while got < back.len() {
            match s.read(&mut back[got..])? {
                0 => return Err(ErrorKind::UnexpectedEof.into()),
                n => got += n,
            }
        }
        let rtt = t.elapsed().as_nanos() as u64;
        self.r.bytes_sent += out.len() as u64;
        self.r.bytes_received += back.len() as u64;
        self.r.mismatched_bytes += stream_mismatches(back, self.key, offset);
        Ok(rtt)
    }

    /// `rr`: one message in flight, `bytes` in all or until the duration is over.
    fn rr(&mut self) {
        let Some(mut s) = self.connect() else { return };
        let (target, chunk) = (self.target(), self.cfg.chunk as u64);
        let (mut out, mut back) = (vec![0u8; self.cfg.chunk], vec![0u8; self.cfg.chunk]);
        let mut sent = 0;
        while sent < target && !self.over() {
            let len = (target - sent).min(chunk) as usize;
            match self.exchange(&mut s, &mut out[..len], &mut back[..len], sent) {
                Ok(rtt) => self.r.rtt_sample(rtt),
                Err(e) => return self.failed(e),
            }
            sent += len as u64;
        }
        self.r.completed = 1;
    }

    /// `cps`: connect, one chunk there and back, close; this slot's share of the connections.
    fn cps(&mut self) {
        let cfg = self.cfg;
        let mut left = match (cfg.connections, cfg.duration_ns) {
            (0, 0) => 1,
            (0, _) => u64::MAX,
            (n, _) => share(n, self.key, cfg.sessions),
        };
        let (mut out, mut back) = (vec![0u8; cfg.chunk], vec![0u8; cfg.chunk]);
        while left > 0 && !self.over() {
            left -= 1;
            let t = Instant::now();
            let Some(mut s) = self.connect() else { return };
            if let Err(e) = self.exchange(&mut s, &mut out, &mut back, 0) {
                return self.failed(e);
            }
            drop(s);
            self.r.rtt_sample(t.elapsed().as_nanos() as u64);
            self.r.connections += 1;
        }
        self.r.completed = 1;
    }

    /// `bulk`: a writer thread streams the pattern while this thread reads the echo and checks it;
    /// once every byte sent is back the client closes, as the builtin client does.
    fn bulk(&mut self) {
        let Some(s) = self.connect() else { return };
        let mut w = match s.try_clone() {
            Ok(w) => w,
            Err(e) => return self.failed(e),
        };
        // Reads wake up now and then to see whether the writer is done.
        let _ = s.set_read_timeout(Some(READ_POLL));
        let (target, chunk, key) = (self.target(), self.cfg.chunk as u64, self.key);
        let (start, dur) = (self.start, self.cfg.duration_ns);
        // (end offset, send time) of every write, so the reader can time each chunk's round trip.
        let (tx, rx) = mpsc::channel::<(u64, Instant)>();
        // What the writer sent in all, once it has stopped (u64::MAX until then).
        let total = AtomicU64::new(u64::MAX);
        let mut rd = s;
        let ((sent, wrote), read) = std::thread::scope(|scope| {
            let total = &total;
            let writer = scope.spawn(move || {
                let mut buf = vec![0u8; chunk as usize];
                let mut sent = 0u64;
                let over = || dur > 0 && start.elapsed().as_nanos() as u64 >= dur;
                let mut wrote = Ok(());
                while sent < target && !over() {
                    let len = (target - sent).min(chunk) as usize;
                    fill_stream(&mut buf[..len], key, sent);
                    // Recorded before the write, so the echo never comes back before its record.
                    let _ = tx.send((sent + len as u64, Instant::now()));
                    if let Err(e) = w.write_all(&buf[..len]) {
                        wrote = Err(e);
                        break;
                    }
                    sent += len as u64;
                }
                total.store(sent, Ordering::Release);
                (sent, wrote)
            });
            let read = self.bulk_read(&mut rd, &rx, total);
            (writer.join().unwrap_or_else(|_| (0, Err(ErrorKind::Other.into()))), read)
        });
        self.r.bytes_sent += sent;
        match (wrote, read) {
            (Ok(()), Ok(received)) => self.r.completed = u32::from(received >= sent),
            (Err(e), _) | (_, Err(e)) => self.failed(e),
        }
    }

    /// Reads the echo until all the writer sent is back (or the server closes); returns the bytes read.
    fn bulk_read(
        &mut self,
        s: &mut TcpStream,
        records: &mpsc::Receiver<(u64, Instant)>,
        total: &AtomicU64,
    ) -> std::io::Result<u64> {
        let timeout = Duration::from_nanos(self.cfg.timeout_ns.max(1));
        let mut buf = vec![0u8; 64 << 10];
        let mut pending: VecDeque<(u64, Instant)> = VecDeque::new();
        let mut received = 0u64;
        let mut progress = Instant::now();
        while received < total.load(Ordering::Acquire) {
            let n = match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if progress.elapsed() > timeout {
                        return Err(e);
                    }
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let now = Instant::now();
            progress = now;
            self.r.mismatched_bytes += stream_mismatches(&buf[..n], self.key, received);
            received += n as u64;
            self.r.bytes_received += n as u64;
            pending.extend(records.try_iter());
            while pending.front().is_some_and(|&(end, _)| end <= received) {
                let (_, t) = pending.pop_front().expect("checked");
                self.r.rtt_sample(now.duration_since(t).as_nanos() as u64);
            }
        }
        Ok(received)
    }

    /// UDP, `bulk` (`window` datagrams in flight) or `rr` (one): sequence-numbered datagrams, losses counted.
    fn dgram(&mut self) {
        let any = match self.cfg.remote.ip {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let sock = match UdpSocket::bind(SocketAddr::new(any, 0)).and_then(|s| s.connect(self.remote()).map(|()| s)) {
            Ok(s) => s,
            Err(e) => return self.r.connect_errors.push(e.to_string()),
        };
        let _ = sock.set_read_timeout(Some(Duration::from_nanos(DGRAM_LOSS_WAIT_NS)));
        self.r.connected = 1;
        let window = if self.cfg.mode == EchoMode::Bulk { self.cfg.window } else { 1 };
        let target = self.target();
        let mut out = vec![0u8; self.cfg.chunk.max(SEQ_LEN)];
        let mut back = vec![0u8; 64 << 10];
        let mut inflight: VecDeque<(u64, Instant)> = VecDeque::new();
        let (mut sent, mut seq, mut received) = (0u64, 0u64, 0u64);
        let deadline = self.start + Duration::from_nanos(self.cfg.duration_ns.saturating_add(self.cfg.timeout_ns));
        loop {
            let stop = sent >= target || self.over();
            while inflight.len() < window && !stop && sent < target {
                let len = ((target - sent).min(self.cfg.chunk as u64) as usize).max(SEQ_LEN);
                fill_dgram(&mut out[..len], self.key, seq);
                if let Err(e) = sock.send(&out[..len]) {
                    return self.failed(e);
                }
                inflight.push_back((seq, Instant::now()));
                seq += 1;
                sent += len as u64;
            }
            if inflight.is_empty() {
                if stop {
                    break;
                }
                continue;
            }
            if Instant::now() > deadline {
                self.r.timed_out = true;
                break;
            }
            match sock.recv(&mut back) {
                Ok(n) => {
                    let (got, ok) = check_dgram(&back[..n], self.key);
                    if !ok {
                        self.r.mismatched_bytes += n as u64;
                    }
                    received += n as u64;
                    self.r.bytes_received += n as u64;
                    if let Some(pos) = inflight.iter().position(|&(s, _)| s == got) {
                        let (_, t) = inflight.remove(pos).expect("found");
                        self.r.rtt_sample(t.elapsed().as_nanos() as u64);
                    }
                }
                // A quiet spell: what is in flight is lost.
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    self.r.lost_datagrams += inflight.len() as u64;
                    inflight.clear();
                }
                Err(e) => return self.failed(e),
            }
        }
        self.r.bytes_sent = sent;
        if received >= sent && self.r.lost_datagrams == 0 {
            self.r.completed = 1;
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn server_words() {
        let o = ServerOpts::parse(&["uri", "tcp://0.0.0.0/7", "threads", "8"]).unwrap();
        assert_eq!((o.proto, o.addr.port(), o.threads, o.no_delay), (Proto::Tcp, 7, 8, false));
        let o = ServerOpts::parse(&["uri", "udp://198.18.0.1/9", "no-delay", "on"]).unwrap();
        assert_eq!((o.proto, o.addr.to_string().as_str(), o.no_delay), (Proto::Udp, "198.18.0.1:9", true));
        let o = ServerOpts::parse(&["uri", "tcp://[::]/7"]).unwrap();
        assert_eq!(o.addr.to_string(), "[::]:7");
        let o = ServerOpts::parse(&["uri", "udp://[fd00:198:18:3::2]/9"]).unwrap();
        assert_eq!((o.proto, o.addr.to_string().as_str()), (Proto::Udp, "[fd00:198:18:3::2]:9"));
        assert!(ServerOpts::parse(&[]).unwrap_err().contains("uri"));
        assert!(ServerOpts::parse(&["uri", "tcp://0.0.0.0/7", "threads", "0"]).unwrap_err().starts_with("threads"));
        assert!(ServerOpts::parse(&["uri", "tcp://x/7"]).unwrap_err().starts_with("uri"));
        assert!(ServerOpts::parse(&["uri"]).unwrap_err().contains("needs a value"));
        assert!(ServerOpts::parse(&["uri", "tcp://0.0.0.0/7", "scope", "local"]).unwrap_err().contains("scope"));
    }

    #[test]
    fn client_words_are_the_echo_clients() {
        let s =
            client_spec(&["uri", "tcp://198.18.0.1/7", "mode", "cps", "connections", "100", "sessions", "4"]).unwrap();
        let cfg = s.client_config();
        assert_eq!((cfg.mode, cfg.connections, cfg.sessions), (EchoMode::Cps, 100, 4));
        let e = client_spec(&["uri", "tcp://198.18.0.1/7", "scope", "local"]).unwrap_err();
        assert!(e.starts_with("scope") && e.contains("kernel"), "{e}");
        let e = client_spec(&["uri", "tcp://198.18.0.1/7", "mss", "1000"]).unwrap_err();
        assert!(e.starts_with("mss"), "{e}");
        let e = client_spec(&["uri", "udp://198.18.0.1/7", "mode", "cps"]).unwrap_err();
        assert!(e.starts_with("mode"), "the echo client's own checks apply: {e}");
    }

    /// The kernel client against the kernel server on loopback, every mode:
    /// every byte comes back intact and the counts are exact (no timing is asserted).
    #[test]
    fn client_and_server_on_loopback() {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp_port = tcp.local_addr().unwrap().port();
        drop(tcp);
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let udp_port = udp.local_addr().unwrap().port();
        drop(udp);
        for (proto, port) in [("tcp", tcp_port), ("udp", udp_port)] {
            let uri = format!("{proto}://127.0.0.1/{port}");
            let o = ServerOpts::parse(&["uri", &uri, "threads", "4"]).unwrap();
            std::thread::spawn(move || serve(&o));
        }
        std::thread::sleep(Duration::from_millis(200));
        let run = |words: &[&str]| {
            let r = run_client(&client_spec(words).unwrap().client_config());
            assert!(r.ok(), "{words:?}:\n{}", r.format());
            r
        };
        let tcp = format!("tcp://127.0.0.1/{tcp_port}");
        let udp = format!("udp://127.0.0.1/{udp_port}");
        let r = run(&["uri", &tcp, "bytes", "3m", "chunk", "10000", "sessions", "2"]);
        assert_eq!((r.bytes_received, r.completed, r.mode), (6 << 20, 2, EchoMode::Bulk));
        assert!(r.rtt_seen > 0);
        let r = run(&["uri", &tcp, "mode", "rr", "chunk", "64", "bytes", "6400"]);
        assert_eq!((r.rtt_seen, r.bytes_received), (100, 6400));
        assert!(r.format().contains("transactions 100 ("), "{}", r.format());
        let r = run(&["uri", &tcp, "mode", "cps", "connections", "50", "sessions", "3", "chunk", "64"]);
        assert_eq!((r.connections, r.connected, r.completed, r.bytes_received), (50, 50, 3, 50 * 64));
        assert!(r.format().contains("connections 50 ("), "{}", r.format());
        let r = run(&["uri", &tcp, "mode", "rr", "chunk", "64", "duration", "0.2"]);
        assert!(r.rtt_seen > 0 && r.bytes_received == r.rtt_seen * 64);
        let r = run(&["uri", &tcp, "duration", "0.2"]);
        assert_eq!(r.bytes_received, r.bytes_sent);
        let r = run(&["uri", &udp, "mode", "rr", "chunk", "64", "bytes", "6400"]);
        assert_eq!(r.rtt_seen, 100);
        let r = run(&["uri", &udp, "bytes", "140000", "chunk", "1400", "window", "8"]);
        assert_eq!((r.rtt_seen, r.bytes_received), (100, 140000));
    }

    /// The same over IPv6 loopback (`[::1]` URIs): TCP rr and UDP rr, every byte back.
    #[test]
    fn client_and_server_on_ipv6_loopback() {
        let tcp = TcpListener::bind("[::1]:0").unwrap();
        let tcp_port = tcp.local_addr().unwrap().port();
        drop(tcp);
        let udp = UdpSocket::bind("[::1]:0").unwrap();
        let udp_port = udp.local_addr().unwrap().port();
        drop(udp);
        for (proto, port) in [("tcp", tcp_port), ("udp", udp_port)] {
            let uri = format!("{proto}://[::1]/{port}");
            let o = ServerOpts::parse(&["uri", &uri, "threads", "2"]).unwrap();
            std::thread::spawn(move || serve(&o));
        }
        std::thread::sleep(Duration::from_millis(200));
        let run = |words: &[&str]| {
            let r = run_client(&client_spec(words).unwrap().client_config());
            assert!(r.ok(), "{words:?}:\n{}", r.format());
            r
        };
        let tcp = format!("tcp://[::1]/{tcp_port}");
        let udp = format!("udp://[::1]/{udp_port}");
        let r = run(&["uri", &tcp, "mode", "rr", "chunk", "64", "bytes", "6400"]);
        assert_eq!((r.rtt_seen, r.bytes_received), (100, 6400));
        let r = run(&["uri", &tcp, "bytes", "1m", "chunk", "10000"]);
        assert_eq!((r.bytes_received, r.completed), (1 << 20, 1));
        let r = run(&["uri", &udp, "mode", "rr", "chunk", "64", "bytes", "6400"]);
        assert_eq!((r.rtt_seen, r.bytes_received), (100, 6400));
    }
}
