//! The CLI socket, served without ever blocking the main thread.
//!
//! One command per connection (`dpnode ctl` sends a line and reads the
//! answer to the end of stream). Every connection is non-blocking and
//! buffered: what a client sends is collected until its line is complete,
//! what the node answers waits in the connection until the client takes it.
//! A connection that does not finish its line in `first_message`, or stops
//! taking its answer for `idle`, is closed; at `max_connections` the one
//! that has waited longest without sending its line makes room for the new
//! one. So a client trickling a byte at a time, or fifty that never send
//! anything, cost nothing to the other CLI users, the API socket or the
//! barrier operations that share the main thread.
//!
//! Commands that take long (`ping`, `test echo client`) return a
//! [`Job`](crate::cli::Job) instead of an answer: the main loop advances
//! every job each round and the answer goes out when the job ends. A client
//! that hangs up while its job runs cancels it.

use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use session::api_server::SocketAccess;

use crate::cli::{self, CliError, Job, Outcome};
use crate::runtime::Runtime;

/// Longest command line.
pub const MAX_LINE: usize = 4096;

/// The CLI socket's access and limits (`[cli]` in the config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliConfig {
    /// Mode and group of the socket file.
    pub access: SocketAccess,
    /// Connections served at once.
    pub max_connections: usize,
    /// Time a client has to send its command line.
    pub first_message: Duration,
    /// A client that takes none of its answer for this long is dropped.
    pub idle: Duration,
}

impl Default for CliConfig {
    fn default() -> Self {
        CliConfig {
            access: SocketAccess { mode: 0o660, gid: None },
            max_connections: 64,
            first_message: Duration::from_secs(10),
            idle: Duration::from_secs(30),
        }
    }
}

/// What the CLI socket did (`show cli`).
#[derive(Debug, Default, Clone, Copy)]
pub struct CliCounters {
    /// Connections accepted.
    pub accepted: u64,
    /// Connections open now.
    pub open: u64,
    /// Connections closed for not sending a command line in time.
    pub first_message_timeouts: u64,
    /// Connections closed for not taking their answer.
    pub idle_timeouts: u64,
    /// Connections that had sent no command dropped to make room at the connection cap.
    pub evicted: u64,
    /// Connections refused at the cap (every open one had a command running or an answer going out).
    pub refused: u64,
    /// Command lines longer than [`MAX_LINE`].
    pub too_long: u64,
    /// Commands run.
    pub commands: u64,
    /// Jobs started (`ping`, `test echo client`).
    pub jobs_started: u64,
    /// Jobs running now.
    pub jobs_running: u64,
    /// Jobs cancelled because their client went away.
    pub jobs_cancelled: u64,
    /// Accepts that failed because the node is out of descriptors.
    pub accept_out_of_fds: u64,
}

impl CliCounters {
    /// `(name, value, is_error)` for each.
    pub fn snapshot(&self) -> Vec<(&'static str, u64, bool)> {
        vec![
            ("cli connections accepted", self.accepted, false),
            ("cli connections open", self.open, false),
            ("cli commands", self.commands, false),
            ("cli jobs started", self.jobs_started, false),
            ("cli jobs running", self.jobs_running, false),
            ("cli jobs cancelled (client gone)", self.jobs_cancelled, true),
            ("cli connections closed (no command in time)", self.first_message_timeouts, true),
            ("cli connections closed (answer not taken)", self.idle_timeouts, true),
            ("cli connections evicted (no command, at the connection cap)", self.evicted, true),
            ("cli connections refused (at the connection cap)", self.refused, true),
            ("cli commands too long", self.too_long, true),
            ("cli accepts failed (out of descriptors)", self.accept_out_of_fds, true),
        ]
    }
}

enum State {
    /// Collecting the command line.
    Reading,
    /// Its command runs as a job.
    Running(Box<dyn Job>),
    /// The answer is going out.
    Writing,
}

struct Conn {
    stream: UnixStream,
    state: State,
    line: Vec<u8>,
    out: Vec<u8>,
    sent: usize,
    accepted: Instant,
    last_progress: Instant,
    /// The peer hung up (seen by poll).
    hung_up: bool,
    done: bool,
}

impl Conn {
    fn answer(&mut self, result: Result<String, CliError>) {
        let (status, body) = match result {
            Ok(text) => ("ok", text),
            Err(CliError(text)) => ("error", text),
        };
        self.out = format!("{status}\n{body}").into_bytes();
        if !body.ends_with('\n') {
            self.out.push(b'\n');
        }
        self.sent = 0;
        self.last_progress = Instant::now();
        self.state = State::Writing;
    }
}

/// The CLI socket and its connections.
pub struct CliServer {
    listener: UnixListener,
    path: PathBuf,
    conns: Vec<Conn>,
    cfg: CliConfig,
}

impl CliServer {
    /// Binds the socket at `path` (a stale socket file is replaced) and sets its mode and group.
    pub fn bind(path: &Path, cfg: CliConfig) -> io::Result<CliServer> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        listener.set_nonblocking(true)?;
        cfg.access.apply(path)?;
        Ok(CliServer { listener, path: path.into(), conns: Vec::new(), cfg })
    }

    /// Whether any job runs (the main loop then wakes more often).
    pub fn has_jobs(&self) -> bool {
        self.conns.iter().any(|c| matches!(c.state, State::Running(_)))
    }

    /// Adds what to wait on: the listener first, then one entry per connection.
    pub fn poll_fds<'a>(&'a self, out: &mut Vec<PollFd<'a>>) {
        out.push(PollFd::new(&self.listener, PollFlags::IN));
        for c in &self.conns {
            let events = match c.state {
                State::Reading => PollFlags::IN,
                // Only a hang-up matters (reported whatever is asked for).
                State::Running(_) => PollFlags::empty(),
                State::Writing => PollFlags::OUT,
            };
            out.push(PollFd::new(&c.stream, events));
        }
    }

    /// Does everything that can be done now without blocking. `revents` are
    /// the results of the entries [`Self::poll_fds`] added (empty if none).
    pub fn service(&mut self, rt: &mut Runtime, revents: &[PollFlags]) {
        for (c, p) in self.conns.iter_mut().zip(revents.iter().skip(1)) {
            if p.intersects(PollFlags::HUP | PollFlags::ERR) {
                c.hung_up = true;
            }
        }
        let now = Instant::now();
        for c in &mut self.conns {
            step(c, rt, &self.cfg, now);
        }
        self.conns.retain(|c| !c.done);
        self.accept(rt);
        let running = self.conns.iter().filter(|c| matches!(c.state, State::Running(_))).count();
        rt.cli_counters.jobs_running = running as u64;
        rt.cli_counters.open = self.conns.len() as u64;
    }

    /// Cancels every job (node shutdown).
    pub fn close_all(&mut self, rt: &mut Runtime) {
        for mut c in std::mem::take(&mut self.conns) {
            if let State::Running(job) = &mut c.state {
                job.cancel(rt);
            }
        }
    }

    fn accept(&mut self, rt: &mut Runtime) {
        for _ in 0..16 {
            let stream = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if shm::fdpass::is_out_of_fds(&e) => {
                    rt.cli_counters.accept_out_of_fds += 1;
                    return;
                }
                Err(e) => {
                    tracing::warn!("dpnode: cli accept: {e}");
                    return;
                }
            };
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            if self.conns.len() >= self.cfg.max_connections {
                // Make room: the connection that has waited longest without a command goes.
                let victim = self
                    .conns
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| matches!(c.state, State::Reading))
                    .min_by_key(|(_, c)| c.accepted)
                    .map(|(i, _)| i);
                match victim {
                    Some(i) => {
                        self.conns.swap_remove(i);
                        rt.cli_counters.evicted += 1;
                    }
                    None => {
                        rt.cli_counters.refused += 1;
                        let text = format!(
                            "error\ntoo many CLI connections ({} running commands or taking answers; cli.max_connections)\n",
                            self.conns.len()
                        );
                        let _ = (&stream).write(text.as_bytes());
                        continue;
                    }
                }
            }
            rt.cli_counters.accepted += 1;
            let now = Instant::now();
            self.conns.push(Conn {
                stream,
                state: State::Reading,
                line: Vec::new(),
                out: Vec::new(),
                sent: 0,
                accepted: now,
                last_progress: now,
                hung_up: false,
                done: false,
            });
        }
    }
}

impl Drop for CliServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Advances one connection as far as it goes without blocking.
fn step(c: &mut Conn, rt: &mut Runtime, cfg: &CliConfig, now: Instant) {
    if let State::Reading = c.state {
        match read_line(c) {
            Ok(Some(line)) => {
                rt.cli_counters.commands += 1;
                let words: Vec<&str> = line.split_whitespace().collect();
                match cli::dispatch(rt, &words) {
                    Outcome::Done(r) => c.answer(r),
                    Outcome::Job(job) => {
                        rt.cli_counters.jobs_started += 1;
                        c.state = State::Running(job);
                    }
                }
            }
            Ok(None) if now.duration_since(c.accepted) >= cfg.first_message => {
                rt.cli_counters.first_message_timeouts += 1;
                let secs = cfg.first_message.as_secs_f64();
                c.answer(Err(CliError(format!("no complete command line within {secs} s (cli.first_message_ms)"))));
            }
            Ok(None) => return,
            Err(LineError::TooLong) => {
                rt.cli_counters.too_long += 1;
                c.answer(Err(CliError(format!("command longer than {MAX_LINE} bytes"))));
            }
            Err(LineError::Gone) => {
                c.done = true;
                return;
            }
        }
    }
    if let State::Running(job) = &mut c.state {
        if c.hung_up {
            job.cancel(rt);
            rt.cli_counters.jobs_cancelled += 1;
            c.done = true;
            return;
        }
        match job.poll(rt) {
            Some(r) => c.answer(r),
            None => return,
        }
    }
    if let State::Writing = c.state {
        while c.sent < c.out.len() {
            match (&c.stream).write(&c.out[c.sent..]) {
                Ok(0) => break,
                Ok(n) => {
                    c.sent += n;
                    c.last_progress = now;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    c.done = true;
                    return;
                }
            }
        }
        if c.sent >= c.out.len() {
            // What the client sent beyond its line is read away, so that
            // closing does not reset the connection under its answer.
            let mut sink = [0u8; 4096];
            for _ in 0..16 {
                match (&c.stream).read(&mut sink) {
                    Ok(n) if n > 0 => {}
                    _ => break,
                }
            }
            c.done = true;
        } else if now.duration_since(c.last_progress) >= cfg.idle {
            rt.cli_counters.idle_timeouts += 1;
            c.done = true;
        }
    }
}

enum LineError {
    TooLong,
    Gone,
}

/// Reads what the client sent; the command line once it is complete (a
/// newline, or end of stream after some bytes).
fn read_line(c: &mut Conn) -> Result<Option<String>, LineError> {
    let mut buf = [0u8; 1024];
    loop {
        if let Some(i) = c.line.iter().position(|&b| b == b'\n') {
            return Ok(Some(String::from_utf8_lossy(&c.line[..i]).into_owned()));
        }
        if c.line.len() > MAX_LINE {
            return Err(LineError::TooLong);
        }
        match (&c.stream).read(&mut buf) {
            Ok(0) if c.line.is_empty() => return Err(LineError::Gone),
            Ok(0) => return Ok(Some(String::from_utf8_lossy(&c.line).into_owned())),
            Ok(n) => c.line.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(LineError::Gone),
        }
    }
}
