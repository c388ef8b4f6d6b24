//! The application's end of the API socket: requests and their replies,
//! and the node's notices about segments, which can arrive at any time.
//!
//! One connection serves every worker of an application, from any thread,
//! behind a mutex: a request holds it until its reply arrives. Notices read
//! while waiting (a segment added or removed) update the application's
//! segment map, so whoever needs a segment next finds it there. The socket
//! is non-blocking; waits use `poll` with a deadline.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use shm::api::{Body, Kind, Message, WorkerInfo, HEADER_LEN};
use shm::fdpass::{recv_with_fds, send_with_fds};
use shm::segment::Segment;
use shm::wire::WireError;

use crate::Error;

/// The segments an application has mapped, by id.
pub(crate) type SegmentMap = Mutex<HashMap<u64, Arc<Segment>>>;

/// A reply, owned.
pub(crate) enum Reply {
    /// A worker description with its descriptors.
    Worker(WorkerInfo, Vec<OwnedFd>),
    /// A certificate slot.
    Slot(u32),
    /// A share token.
    Token(u64),
    /// Nothing more than "done".
    Empty,
}

/// A connection to the node's API socket.
pub(crate) struct Conn {
    stream: UnixStream,
    rbuf: Vec<u8>,
    fds: VecDeque<OwnedFd>,
    next_context: u64,
    closed: bool,
}

/// What one message meant, taken out of the read buffer.
enum Got {
    Reply(u64, Result<Reply, Error>),
    Notice,
}

impl Conn {
    /// Connects to the socket at `path`.
    pub fn connect(path: &Path) -> io::Result<Conn> {
        let stream = UnixStream::connect(path)?;
        stream.set_nonblocking(true)?;
        Ok(Conn { stream, rbuf: Vec::new(), fds: VecDeque::new(), next_context: 1, closed: false })
    }

    /// The socket's descriptor (to wait on it).
    pub fn raw_fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    /// Sends raw bytes (protocol tests).
    pub fn send_raw(&mut self, bytes: &[u8], timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        let mut sent = 0;
        while sent < bytes.len() {
            // send(MSG_NOSIGNAL): a C program that has not ignored SIGPIPE must not die
            // because the node went away.
            match send_with_fds(self.stream.as_fd(), &bytes[sent..], &[]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    wait_fd(self.stream.as_fd(), PollFlags::OUT, deadline)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.closed = true;
                    return Err(Error::Io(e));
                }
            }
        }
        Ok(())
    }

    /// Sends a request and waits for its reply, handling notices meanwhile.
    pub fn request(
        &mut self,
        segs: &SegmentMap,
        kind: Kind,
        body: Body<'_>,
        timeout: Duration,
    ) -> Result<Reply, Error> {
        if self.closed {
            return Err(Error::Closed);
        }
        let context = self.next_context;
        self.next_context += 1;
        let mut bytes = Vec::new();
        Message::request(kind, context, body).emit(&mut bytes);
        self.send_raw(&bytes, timeout)?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(r) = self.pump(segs, Some(context))? {
                return r;
            }
            wait_fd(self.stream.as_fd(), PollFlags::IN, deadline)?;
        }
    }

    /// Waits until segment `id` has been passed to us (or `timeout`).
    pub fn wait_segment(&mut self, segs: &SegmentMap, id: u64, timeout: Duration) -> Result<Arc<Segment>, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = lock(segs).get(&id) {
                return Ok(s.clone());
            }
            if self.closed {
                return Err(Error::Closed);
            }
            self.pump(segs, None)?;
            if let Some(s) = lock(segs).get(&id) {
                return Ok(s.clone());
            }
            wait_fd(self.stream.as_fd(), PollFlags::IN, deadline)?;
        }
    }

    /// Handles whatever notices have arrived, without waiting.
    pub fn drain(&mut self, segs: &SegmentMap) -> Result<(), Error> {
        if self.closed {
            return Err(Error::Closed);
        }
        self.pump(segs, None).map(|_| ())
    }

    /// Reads what is available and handles every whole message; returns the
    /// reply to `want` if it was among them (messages after it stay buffered).
    fn pump(&mut self, segs: &SegmentMap, want: Option<u64>) -> Result<Option<Result<Reply, Error>>, Error> {
        let mut chunk = [0u8; 16 * 1024];
        let mut fds = Vec::new();
        while !self.closed {
            match recv_with_fds(self.stream.as_fd(), &mut chunk, &mut fds) {
                Ok(0) => self.closed = true,
                Ok(n) => self.rbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => self.closed = true,
            }
        }
        self.fds.extend(fds);
        loop {
            let Conn { rbuf, fds, .. } = self;
            let (got, used) = match Message::parse(rbuf) {
                Ok((m, used)) => (take(fds, segs, m)?, used),
                Err(WireError::Truncated { .. }) => break,
                Err(e) => {
                    self.closed = true;
                    return Err(Error::Protocol(format!("bad message from the node: {e}")));
                }
            };
            self.rbuf.drain(..used);
            if let Got::Reply(context, r) = got {
                if Some(context) == want || (want.is_some() && context == 0) {
                    return Ok(Some(r));
                }
            }
        }
        if self.closed && self.rbuf.len() < HEADER_LEN && want.is_some() {
            return Err(Error::Closed);
        }
        Ok(None)
    }
}

/// Takes a parsed message (and its descriptors) out of the read buffer.
fn take(fds: &mut VecDeque<OwnedFd>, segs: &SegmentMap, m: Message<'_>) -> Result<Got, Error> {
    let n = m.fd_count();
    if fds.len() < n {
        return Err(Error::Protocol(format!("{:?} arrived without its {n} descriptor(s)", m.kind)));
    }
    let mut mine: Vec<OwnedFd> = fds.drain(..n).collect();
    if m.code != 0 {
        let text = match m.body {
            Body::Failure(t) => t.to_string(),
            _ => String::new(),
        };
        return Ok(Got::Reply(m.context, Err(Error::Node { code: m.code, text })));
    }
    Ok(match m.body {
        Body::SegmentAdd { id, size } => {
            let fd = mine.pop().expect("one descriptor");
            let size = usize::try_from(size).map_err(|_| Error::Protocol("segment size".into()))?;
            let seg = Segment::from_fd(fd, size).map_err(Error::Io)?;
            if seg.id() != id {
                return Err(Error::Protocol(format!("segment {id} is segment {} inside", seg.id())));
            }
            lock(segs).insert(id, Arc::new(seg));
            Got::Notice
        }
        Body::SegmentDel { id } => {
            // Sessions keep their own reference: the mapping goes with the last of them.
            lock(segs).remove(&id);
            Got::Notice
        }
        Body::Worker(w) => Got::Reply(m.context, Ok(Reply::Worker(w, mine))),
        Body::CertKeySlot { index } => Got::Reply(m.context, Ok(Reply::Slot(index))),
        Body::ShareToken { token } => Got::Reply(m.context, Ok(Reply::Token(token))),
        Body::Empty => Got::Reply(m.context, Ok(Reply::Empty)),
        _ => Got::Notice,
    })
}

/// Locks the segment map (a poisoned lock still holds a consistent map).
pub(crate) fn lock(segs: &SegmentMap) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Segment>>> {
    segs.lock().unwrap_or_else(|p| p.into_inner())
}

/// Waits until `fd` has `events` or `deadline` passes.
pub(crate) fn wait_fd(fd: BorrowedFd<'_>, events: PollFlags, deadline: Instant) -> Result<(), Error> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(Error::Timeout);
    }
    let mut p = [PollFd::new(&fd, events)];
    match rustix::event::poll(&mut p, Some(&timespec(left))) {
        Ok(_) | Err(rustix::io::Errno::INTR) => Ok(()),
        Err(e) => Err(Error::Io(e.into())),
    }
}

/// `d` as a poll timeout, at least 1 ms (a shorter wait would spin).
pub(crate) fn timespec(d: Duration) -> rustix::event::Timespec {
    let d = d.max(Duration::from_millis(1));
    rustix::event::Timespec { tv_sec: d.as_secs().min(i64::MAX as u64) as i64, tv_nsec: i64::from(d.subsec_nanos()) }
}
