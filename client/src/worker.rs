//! An app worker: the sessions of one application thread, its message
//! queues with every data-plane worker, and an epoll-like [`Worker::wait`].
//!
//! A [`Worker`] belongs to one thread (it is `Send`, not `Sync`). Reading
//! and writing a session touch only its fifos in shared memory; the worker
//! tells the node about a write through the request queue only when the tx
//! fifo's event flag was clear (the node has not been told yet), so a burst
//! of writes costs one message. No call makes a system call on the data
//! path except [`Worker::wait`] when there is nothing to do and the worker
//! goes to sleep on its eventfd (the API socket is read only when that sleep
//! finds it readable, when a segment is needed, or every 50 ms).
//!
//! Requests that find their queue full wait in a bounded per-queue backlog
//! (in order) and go out on the next call; when that backlog is full the
//! call fails with [`Error::QueueFull`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

use rustix::event::{PollFd, PollFlags};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shm::api::{WorkerInfo, WORKER_HAS_EVENTFD};
use shm::dgram::{dgram_dequeue, dgram_enqueue, DgramHeader};
use shm::msg::{self, Request, SessionRef, MAX_PAYLOAD, NO_HANDLE};
use shm::segment::{MappedConsumer, MappedProducer, MappedQueue, Segment};

use shm::types::{Endpoint, ErrorCode, SessionHandle, TransportOptions, TransportProto};

use crate::conn::lock;
use crate::{AppInner, Error};

/// How long a session waits for a segment the node is passing over the socket.
const SEGMENT_WAIT: Duration = Duration::from_secs(5);
/// How long listen and unlisten wait for the node's answer.
const CONTROL_WAIT: Duration = Duration::from_secs(10);
/// Requests kept per queue while it is full.
pub const MAX_DEFERRED: usize = 1 << 16;
/// Events read per queue per call.
const EVENTS_PER_POLL: usize = 4096;
/// Opaque values with this bit set are the library's own (blocking connects).
const INTERNAL_OPAQUE: u64 = 1 << 63;
/// How often a busy worker looks at the API socket (segment notices, the node going away)
/// when nothing told it to: reading it is a system call, so not on every turn.
const SOCKET_CHECK_PERIOD: Duration = Duration::from_millis(50);

/// A session, as the application names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The node's packing: worker high, pool index low.
        fmt::Display::fmt(&SessionHandle(self.0), f)
    }
}

/// A listener, as the application names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(pub u64);

/// What [`Worker::wait`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A listener has sessions to [`Worker::accept`].
    Accept(ListenerId),
    /// A [`Worker::connect_async`] finished: the session, or the node's error code.
    Connected {
        /// The value given to `connect_async`.
        opaque: u64,
        /// The session or an [`ErrorCode`] number.
        result: Result<SessionId, i32>,
    },
    /// New data to read (edge-triggered: read until [`Error::WouldBlock`]).
    Readable(SessionId),
    /// Room to write again (after a write came up short).
    Writable(SessionId),
    /// The peer closed: read what is left (a stream read returns 0 at the end), then close.
    PeerClosed(SessionId),
    /// The peer reset the session; it is gone.
    Reset(SessionId),
}

/// What a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionInfo {
    /// TransportProto.
    pub transport: TransportProto,
    /// Local endpoint.
    pub local: SocketAddr,
    /// Remote endpoint.
    pub remote: SocketAddr,
    /// The listener it came from, if accepted.
    pub listener: Option<ListenerId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting in a listener's accept backlog.
    Accepting,
    /// Open.
    Open,
    /// The peer closed.
    PeerClosed,
}

struct Entry {
    rx: MappedConsumer,
    tx: MappedProducer,
    sref: SessionRef,
    transport: TransportProto,
    local: SocketAddr,
    remote: SocketAddr,
    listener: Option<u64>,
    state: State,
    want_tx: bool,
    /// The peer closed while the session waited to be accepted: told on accept.
    closed_early: bool,
    /// [`Worker::shutdown_write`] was called: writes are refused.
    shut_wr: bool,
}

struct Queues {
    events: MappedQueue,
    requests: MappedQueue,
}

#[derive(Clone, Copy)]
struct Deferred {
    kind: u16,
    len: u8,
    payload: [u8; MAX_PAYLOAD],
}

#[derive(Default)]
struct Listener {
    backlog: VecDeque<u64>,
}

/// One worker of an application: its queues with the node's data-plane
/// workers, its sessions and listeners.
pub struct Worker {
    app: Arc<AppInner>,
    wrk: u64,
    map_index: u32,
    queues: Vec<Queues>,
    eventfd: Option<OwnedFd>,
    sessions: HashMap<u64, Entry>,
    listeners: HashMap<u64, Listener>,
    ready: VecDeque<Event>,
    bound: HashMap<u64, Result<(u64, Endpoint), i32>>,
    unlistened: HashMap<u64, i32>,
    connects: HashMap<u64, Result<SessionId, i32>>,
    waited_connects: HashSet<u64>,
    abandoned_connects: HashSet<u64>,
    deferred: Vec<VecDeque<Deferred>>,
    next_context: u64,
    rotor: usize,
    /// When to read the API socket next, unless `poll` says it is readable first.
    next_socket_check: Instant,
    socket_ready: bool,
}

/// The app's ends of a session's fifos (rx consumer, tx producer), holding the segment's mapping.
///
/// # Safety
///
/// The caller is the rx fifo's only consumer and the tx fifo's only producer.
unsafe fn app_ends(
    seg: &Segment,
    rx: msg::FifoLoc,
    tx: msg::FifoLoc,
) -> Result<(MappedConsumer, MappedProducer), Error> {
    let err = |e| Error::Protocol(format!("fifo: {e}"));
    // SAFETY: forwarded to the caller; both calls check offset, size and magic.
    unsafe {
        Ok((
            seg.mapped_consumer(rx.offset, rx.size).map_err(err)?,
            seg.mapped_producer(tx.offset, tx.size).map_err(err)?,
        ))
    }
}

impl Worker {
    /// A worker from the node's description and the descriptors that came with it.
    pub(crate) fn new(app: Arc<AppInner>, info: WorkerInfo, fds: Vec<OwnedFd>) -> Result<Worker, Error> {
        let mut fds = fds.into_iter();
        let seg_fd = fds.next().ok_or_else(|| Error::Protocol("worker without a segment".into()))?;
        let eventfd = if info.flags & WORKER_HAS_EVENTFD != 0 { fds.next() } else { None };
        let size = usize::try_from(info.segment_size).map_err(|_| Error::Protocol("segment size".into()))?;
        let first = Arc::new(Segment::from_fd(seg_fd, size)?);
        if first.id() != info.segment_id {
            return Err(Error::Protocol(format!("segment {} is segment {} inside", info.segment_id, first.id())));
        }
        lock(&app.segs).insert(first.id(), first.clone());
        let mut queues = Vec::with_capacity(info.queues.len());
        for q in &info.queues {
            // SAFETY: this worker is the only consumer of `events` and the only
            // producer of `requests` (the node's data-plane worker takes the
            // other ends); the views hold the segment's mapping.
            let (e, r) = unsafe {
                (
                    first.mapped_queue(q.events, info.slots, info.slot_size),
                    first.mapped_queue(q.requests, info.slots, info.slot_size),
                )
            };
            let (events, requests) = (
                e.map_err(|e| Error::Protocol(format!("queue: {e}")))?,
                r.map_err(|e| Error::Protocol(format!("queue: {e}")))?,
            );
            queues.push(Queues { events, requests });
        }
        if info.slot_size as usize - 8 < MAX_PAYLOAD {
            return Err(Error::Protocol(format!("slot size {} is too small", info.slot_size)));
        }
        let n = queues.len();
        Ok(Worker {
            app,
            wrk: info.wrk,
            map_index: info.wrk_map_index,
            queues,
            eventfd,
            sessions: HashMap::new(),
            listeners: HashMap::new(),
            ready: VecDeque::new(),
            bound: HashMap::new(),
            unlistened: HashMap::new(),
            connects: HashMap::new(),
            waited_connects: HashSet::new(),
            abandoned_connects: HashSet::new(),
            deferred: (0..n).map(|_| VecDeque::new()).collect(),
            next_context: 1,
            rotor: 0,
            next_socket_check: Instant::now(),
            socket_ready: false,
        })
    }

    /// The node's handle of this app worker.
    pub fn handle(&self) -> u64 {
        self.wrk
    }

    /// This worker's index within its application (0 for the first).
    pub fn index(&self) -> u32 {
        self.map_index
    }

    /// The node's data-plane workers (one queue pair each).
    pub fn node_workers(&self) -> usize {
        self.queues.len()
    }

    /// The eventfd the node writes when this worker sleeps in [`Worker::wait`] and
    /// an event arrives; put it in your own epoll set and call `wait` with a zero
    /// timeout when it is readable. `None` if attached without an eventfd.
    pub fn eventfd(&self) -> Option<RawFd> {
        self.eventfd.as_ref().map(AsRawFd::as_raw_fd)
    }

    /// Sessions open (accepted, connected, or waiting to be accepted).
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Facts about a session.
    pub fn session(&self, s: SessionId) -> Option<SessionInfo> {
        self.sessions.get(&s.0).map(|e| SessionInfo {
            transport: e.transport,
            local: e.local,
            remote: e.remote,
            listener: e.listener.map(ListenerId),
        })
    }

    fn context(&mut self) -> u64 {
        self.next_context += 1;
        self.next_context
    }

    /// Sends a request on queue `q`, or keeps it for later if the queue is full.
    fn send(&mut self, q: usize, req: Request) -> Result<(), Error> {
        let mut d = Deferred { kind: req.kind(), len: 0, payload: [0; MAX_PAYLOAD] };
        d.len = req.emit(&mut d.payload) as u8;
        self.send_deferred(q, d)
    }

    fn send_deferred(&mut self, q: usize, d: Deferred) -> Result<(), Error> {
        let queues = self.queues.get(q).ok_or(Error::BadSession)?;
        if self.deferred[q].is_empty() && queues.requests.try_send(d.kind, &d.payload[..d.len as usize]).is_ok() {
            return Ok(());
        }
        if self.deferred[q].len() >= MAX_DEFERRED {
            return Err(Error::QueueFull);
        }
        self.deferred[q].push_back(d);
        Ok(())
    }

    /// Sends raw bytes as a request of kind `kind` on the queue to data-plane
    /// worker `q` (for protocol tests: nothing is checked).
    pub fn send_raw_request(&mut self, q: usize, kind: u16, payload: &[u8]) -> Result<(), Error> {
        let queues = self.queues.get(q).ok_or(Error::Invalid(format!("no queue {q}")))?;
        queues.requests.try_send(kind, payload).map_err(|_| Error::QueueFull)
    }

    fn flush_deferred(&mut self) {
        for (q, d) in self.deferred.iter_mut().enumerate() {
            while let Some(m) = d.front() {
                if self.queues[q].requests.try_send(m.kind, &m.payload[..m.len as usize]).is_err() {
                    break;
                }
                d.pop_front();
            }
        }
    }

    /// A segment by id: mapped already, or passed by the node over the socket soon.
    fn segment(&self, id: u64) -> Result<Arc<Segment>, Error> {
        if let Some(s) = lock(&self.app.segs).get(&id) {
            return Ok(s.clone());
        }
        let mut conn = self.app.conn.lock().unwrap_or_else(|p| p.into_inner());
        conn.wait_segment(&self.app.segs, id, SEGMENT_WAIT)
    }

    /// Makes views of a session's fifos and records it.
    fn open(&mut self, info: &msg::SessionInfo, listener: Option<u64>, state: State) -> Result<(), Error> {
        if info.rx.segment != info.tx.segment {
            return Err(Error::Protocol("a session's fifos in two segments".into()));
        }
        let seg = self.segment(info.rx.segment)?;
        // SAFETY: this worker is the rx fifo's only consumer and the tx fifo's
        // only producer (the node holds the other ends).
        let (rx, tx) = unsafe { app_ends(&seg, info.rx, info.tx)? };
        let sref = SessionRef { session: info.session, generation: info.generation };
        self.sessions.insert(
            info.session,
            Entry {
                rx,
                tx,
                sref,
                transport: info.transport,
                local: info.local,
                remote: info.remote,
                listener,
                state,
                want_tx: false,
                closed_early: false,
                shut_wr: false,
            },
        );
        Ok(())
    }

    fn entry(&mut self, s: SessionRef) -> Option<&mut Entry> {
        self.sessions.get_mut(&s.session).filter(|e| e.sref.generation == s.generation)
    }

    fn on_event(&mut self, ev: msg::Event) {
        match ev {
            msg::Event::Accepted { listener, info } => {
                let sref = SessionRef { session: info.session, generation: info.generation };
                match self.open(&info, Some(listener), State::Accepting) {
                    Ok(()) => {
                        let l = self.listeners.entry(listener).or_default();
                        l.backlog.push_back(info.session);
                        if l.backlog.len() == 1 {
                            self.ready.push_back(Event::Accept(ListenerId(listener)));
                        }
                    }
                    Err(_) => {
                        let _ = self.send(sref.worker() as usize, Request::AcceptReply { session: sref, code: -1 });
                    }
                }
            }
            msg::Event::Connected { opaque, result } => {
                let r = match result {
                    Ok(info) => match self.open(&info, None, State::Open) {
                        Ok(()) => Ok(SessionId(info.session)),
                        Err(e) => {
                            let sref = SessionRef { session: info.session, generation: info.generation };
                            let _ = self.send(sref.worker() as usize, Request::Disconnect(sref));
                            Err(e.code())
                        }
                    },
                    Err(code) => Err(code),
                };
                if self.abandoned_connects.remove(&opaque) {
                    if let Ok(s) = r {
                        let _ = self.close(s);
                    }
                } else if self.waited_connects.remove(&opaque) {
                    self.connects.insert(opaque, r);
                } else {
                    self.ready.push_back(Event::Connected { opaque, result: r });
                }
            }
            msg::Event::Disconnected(s) => {
                if let Some(e) = self.entry(s) {
                    if e.state == State::Accepting {
                        // The app hears of it when it accepts (a client that connects and closes at once).
                        e.closed_early = true;
                    } else {
                        e.state = State::PeerClosed;
                        self.ready.push_back(Event::PeerClosed(SessionId(s.session)));
                    }
                }
            }
            msg::Event::Reset(s) => {
                let known = self.entry(s).map(|e| e.state != State::Accepting);
                if known.is_some() {
                    self.sessions.remove(&s.session);
                    for l in self.listeners.values_mut() {
                        l.backlog.retain(|&h| h != s.session);
                    }
                }
                if known == Some(true) {
                    self.ready.push_back(Event::Reset(SessionId(s.session)));
                }
                // Always answer: the node keeps the session's fifos until we do.
                let _ = self.send(s.worker() as usize, Request::ResetReply(s));
            }
            msg::Event::Rx(s) => {
                if let Some(e) = self.entry(s) {
                    // Clear before the app drains, so data that lands after the
                    // drain raises a new event (see `Fifo::set_event`).
                    e.rx.unset_event();
                    if e.state != State::Accepting {
                        self.ready.push_back(Event::Readable(SessionId(s.session)));
                    }
                }
            }
            msg::Event::TxSpace(s) => {
                if let Some(e) = self.entry(s) {
                    e.want_tx = false;
                    self.ready.push_back(Event::Writable(SessionId(s.session)));
                }
            }
            msg::Event::Bound { context, result } => {
                self.bound.insert(context, result);
            }
            msg::Event::Unlistened { context, code, .. } => {
                self.unlistened.insert(context, code);
            }
        }
    }

    /// Reads every queue's events and acts on them; returns how many.
    fn poll_events(&mut self) -> usize {
        let mut buf = [0u8; MAX_PAYLOAD];
        let mut n = 0;
        for q in 0..self.queues.len() {
            for _ in 0..EVENTS_PER_POLL {
                let Some((kind, len)) = self.queues[q].events.try_recv(&mut buf) else { break };
                n += 1;
                // The node is trusted, but a garbled event is dropped, not acted on.
                if let Ok(ev) = msg::Event::parse(kind, &buf[..len.min(MAX_PAYLOAD)]) {
                    self.on_event(ev);
                }
            }
        }
        n
    }

    /// Handles segment notices the node sent, when the socket was seen readable or the
    /// periodic check is due (without blocking if another thread holds the socket).
    fn drain_socket(&mut self) -> Result<(), Error> {
        let now = Instant::now();
        if !self.socket_ready && now < self.next_socket_check {
            return Ok(());
        }
        self.socket_ready = false;
        self.next_socket_check = now + SOCKET_CHECK_PERIOD;
        match self.app.conn.try_lock() {
            Ok(mut c) => c.drain(&self.app.segs),
            Err(_) => Ok(()),
        }
    }

    /// Sleeps until an event may have arrived, the socket has something, or `deadline`.
    fn sleep(&mut self, deadline: Option<Instant>) -> Result<(), Error> {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left.is_some_and(|l| l.is_zero()) {
            return Ok(());
        }
        if self.deferred.iter().any(|d| !d.is_empty()) {
            // Requests wait for room: the node drains its queues every loop, look again soon.
            std::thread::sleep(left.map_or(Duration::from_micros(20), |l| l.min(Duration::from_micros(20))));
            return Ok(());
        }
        let Some(efd) = self.eventfd.as_ref() else {
            // Attached without an eventfd: poll (lowest latency, one core busy), but let
            // other threads of this core run in between.
            std::thread::yield_now();
            return Ok(());
        };
        let mut empty = true;
        for q in &self.queues {
            empty &= q.events.arm_wakeup();
        }
        if empty {
            // SAFETY: the API socket is owned by the application's connection,
            // which `self.app` keeps open for as long as this worker lives.
            let sock = unsafe { BorrowedFd::borrow_raw(self.app.sock_fd) };
            let mut fds = [PollFd::new(efd, PollFlags::IN), PollFd::new(&sock, PollFlags::IN)];
            let timeout = left.map(crate::conn::timespec);
            // An error (a signal) is a wake-up like any other: the caller looks again.
            let _ = rustix::event::poll(&mut fds, timeout.as_ref());
            self.socket_ready = !fds[1].revents().is_empty();
            if fds[0].revents().contains(PollFlags::IN) {
                // Non-blocking: an empty counter is EAGAIN, which is fine.
                let _ = rustix::io::read(efd, &mut [0u8; 8]);
            }
        }
        for q in &self.queues {
            q.events.disarm_wakeup();
        }
        Ok(())
    }

    /// One round of work: queued requests out, events in, socket notices.
    fn turn(&mut self) -> Result<usize, Error> {
        self.flush_deferred();
        let n = self.poll_events();
        self.drain_socket()?;
        Ok(n)
    }

    /// Runs rounds until `f` finds what it waits for, or `timeout`.
    fn wait_for<T>(&mut self, timeout: Duration, mut f: impl FnMut(&mut Self) -> Option<T>) -> Result<T, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            self.turn()?;
            if let Some(x) = f(self) {
                return Ok(x);
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout);
            }
            self.sleep(Some(deadline))?;
        }
    }

    /// Waits for events on this worker's sessions and listeners, like
    /// `epoll_wait`: appends up to `max` of them to `events` and returns how
    /// many. Returns at once if some are ready; otherwise sleeps (on the
    /// eventfd, if the application asked for one) until one arrives or
    /// `timeout` passes (`None`: no limit). Readiness is edge-triggered.
    pub fn wait(&mut self, events: &mut Vec<Event>, max: usize, timeout: Option<Duration>) -> Result<usize, Error> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            self.turn()?;
            if !self.ready.is_empty() {
                let n = self.ready.len().min(max.max(1));
                events.extend(self.ready.drain(..n));
                return Ok(n);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(0);
            }
            self.sleep(deadline)?;
        }
    }

    /// Listens on `ep`; sessions arrive as [`Event::Accept`].
    pub fn listen(&mut self, ep: Endpoint) -> Result<ListenerId, Error> {
        let context = self.context();
        self.send(0, Request::Listen { context, ep })?;
        match self.wait_for(CONTROL_WAIT, |w| w.bound.remove(&context))? {
            Ok((l, _)) => {
                self.listeners.entry(l).or_default();
                Ok(ListenerId(l))
            }
            Err(code) => Err(Error::from_code(code)),
        }
    }

    /// Stops listening.
    pub fn unlisten(&mut self, l: ListenerId) -> Result<(), Error> {
        let context = self.context();
        self.send(0, Request::Unlisten { context, listener: l.0 })?;
        match self.wait_for(CONTROL_WAIT, |w| w.unlistened.remove(&context))? {
            0 => {
                // Sessions still waiting to be accepted are refused.
                if let Some(listener) = self.listeners.remove(&l.0) {
                    for h in listener.backlog {
                        let _ = self.close(SessionId(h));
                    }
                }
                Ok(())
            }
            code => Err(Error::from_code(code)),
        }
    }

    /// Takes the next session a listener accepted, if any; tells the node it is accepted.
    pub fn accept(&mut self, l: ListenerId) -> Result<Option<SessionId>, Error> {
        loop {
            let Some(h) = self.listeners.get_mut(&l.0).and_then(|x| x.backlog.pop_front()) else {
                return Ok(None);
            };
            let Some(e) = self.sessions.get_mut(&h).filter(|e| e.state == State::Accepting) else { continue };
            e.state = State::Open;
            let sref = e.sref;
            if e.closed_early {
                // What arrived before the close is in the rx fifo; the end follows it.
                e.state = State::PeerClosed;
                self.ready.push_back(Event::PeerClosed(SessionId(h)));
            }
            self.send(sref.worker() as usize, Request::AcceptReply { session: sref, code: 0 })?;
            return Ok(Some(SessionId(h)));
        }
    }

    /// Starts a connect to `remote`; the result arrives as [`Event::Connected`] with `opaque`
    /// (whose top bit must be clear: those values are the library's).
    ///
    /// Connects go to the node's data-plane workers in turn; the session lives on the one that made it.
    pub fn connect_async(&mut self, remote: Endpoint, options: TransportOptions, opaque: u64) -> Result<(), Error> {
        // The node checks the same ranges (shm::limits); an MSS of 0 would
        // otherwise mean "no cap" on the wire and be silently dropped.
        if let Some(m) = options.mss {
            shm::limits::MSS.check(m.into()).map_err(|e| Error::Node {
                code: shm::types::ErrorCode::InvalidValue as i32,
                text: format!("invalid value for {e}"),
            })?;
        }
        let q = self.rotor % self.queues.len();
        self.rotor = self.rotor.wrapping_add(1);
        self.send(q, Request::Connect { opaque, parent: NO_HANDLE, remote, options })
    }

    /// Connects to `remote` and waits for the result (events for other sessions wait for the next [`Worker::wait`]).
    pub fn connect(
        &mut self,
        remote: Endpoint,
        options: TransportOptions,
        timeout: Duration,
    ) -> Result<SessionId, Error> {
        self.next_context += 1;
        let opaque = INTERNAL_OPAQUE | self.next_context;
        self.waited_connects.insert(opaque);
        self.connect_async(remote, options, opaque)?;
        match self.wait_for(timeout, |w| w.connects.remove(&opaque)) {
            Ok(r) => r.map_err(Error::from_code),
            Err(e) => {
                // If it completes after all, it is closed when it does.
                self.waited_connects.remove(&opaque);
                self.abandoned_connects.insert(opaque);
                Err(e)
            }
        }
    }

    /// Reads: up to `buf.len()` bytes of a stream (0 at its end), or one
    /// datagram (truncated to `buf`). [`Error::WouldBlock`] when there is nothing.
    pub fn read(&mut self, s: SessionId, buf: &mut [u8]) -> Result<usize, Error> {
        self.recv_from(s, buf).map(|(n, _)| n)
    }

    /// Like [`Worker::read`], also returning where the data came from (for datagrams).
    pub fn recv_from(&mut self, s: SessionId, buf: &mut [u8]) -> Result<(usize, SocketAddr), Error> {
        let e = self.sessions.get_mut(&s.0).ok_or(Error::BadSession)?;
        if e.state == State::Accepting {
            return Err(Error::BadState);
        }
        let (n, from) = if e.transport.is_dgram() {
            match dgram_dequeue(&e.rx, buf) {
                Some((h, n)) => (n, h.remote),
                None if e.state == State::PeerClosed => return Err(Error::Closed),
                None => return Err(Error::WouldBlock),
            }
        } else {
            match e.rx.dequeue(buf) {
                0 if e.state == State::PeerClosed && !buf.is_empty() => return Ok((0, e.remote)),
                0 => return Err(Error::WouldBlock),
                n => (n, e.remote),
            }
        };
        if e.transport != TransportProto::Udp {
            // Stream transports and cut-through open their window on reads.
            let sref = e.sref;
            self.send(sref.worker() as usize, Request::RxRead(sref))?;
        }
        Ok((n, from))
    }

    /// Room for a [`Worker::write`] now: bytes of a stream, or the largest datagram.
    pub fn write_space(&self, s: SessionId) -> usize {
        self.sessions.get(&s.0).map_or(0, |e| {
            let room = e.tx.max_enqueue();
            if e.transport.is_dgram() {
                room.saturating_sub(DgramHeader::SIZE)
            } else {
                room
            }
        })
    }

    /// Writes: as much of `data` as fits (stream), or all of it as one
    /// datagram. [`Error::WouldBlock`] if nothing fits; an [`Event::Writable`]
    /// follows when there is room.
    pub fn write(&mut self, s: SessionId, data: &[u8]) -> Result<usize, Error> {
        let e = self.sessions.get_mut(&s.0).ok_or(Error::BadSession)?;
        if e.state == State::Accepting {
            return Err(Error::BadState);
        }
        if e.shut_wr {
            return Err(Error::Closed);
        }
        let n = if e.transport.is_dgram() {
            let hdr = DgramHeader { len: data.len() as u32, remote: e.remote, local: e.local };
            if e.tx.with_view_mut(|tx| dgram_enqueue(tx, &hdr, data)) {
                data.len()
            } else if DgramHeader::SIZE + data.len() > e.tx.capacity() {
                return Err(Error::Invalid(format!("a {}-byte datagram never fits this session's fifo", data.len())));
            } else {
                0
            }
        } else {
            e.tx.enqueue(data)
        };
        let notify = n > 0 && e.tx.set_event();
        let want = n < data.len() && !e.want_tx;
        if want {
            e.want_tx = true;
        }
        if notify || want {
            let sref = e.sref;
            self.send(sref.worker() as usize, Request::Tx { session: sref, want_tx_space: want })?;
        }
        if n == 0 && !data.is_empty() {
            return Err(Error::WouldBlock);
        }
        Ok(n)
    }

    /// Asks for an [`Event::Writable`] once the session's tx fifo has room (at once if it is
    /// empty), without writing: for an app that writes a message only whole.
    pub fn want_writable(&mut self, s: SessionId) -> Result<(), Error> {
        let e = self.sessions.get_mut(&s.0).ok_or(Error::BadSession)?;
        if e.want_tx {
            return Ok(());
        }
        e.want_tx = true;
        let sref = e.sref;
        self.send(sref.worker() as usize, Request::Tx { session: sref, want_tx_space: true })
    }

    /// Half-closes a stream session: the node sends what is in the tx fifo and then
    /// the end of the stream (a TCP FIN); reading goes on until [`Worker::close`]. Later
    /// writes fail with [`Error::Closed`]. Nothing happens to a datagram session.
    pub fn shutdown_write(&mut self, s: SessionId) -> Result<(), Error> {
        let e = self.sessions.get_mut(&s.0).ok_or(Error::BadSession)?;
        if e.state == State::Accepting {
            return Err(Error::BadState);
        }
        if e.transport.is_dgram() {
            return Ok(());
        }
        if std::mem::replace(&mut e.shut_wr, true) {
            return Ok(());
        }
        let sref = e.sref;
        self.send(sref.worker() as usize, Request::Shutdown(sref))
    }

    /// Closes a session (data written is still sent); a session not yet accepted is refused.
    pub fn close(&mut self, s: SessionId) -> Result<(), Error> {
        let e = self.sessions.remove(&s.0).ok_or(Error::BadSession)?;
        if let Some(l) = e.listener.and_then(|l| self.listeners.get_mut(&l)) {
            l.backlog.retain(|&h| h != s.0);
        }
        self.send(e.sref.worker() as usize, Request::Disconnect(e.sref))
    }

    /// Waits until every request queued here has been handed to the node (or `timeout`).
    pub fn flush(&mut self, timeout: Duration) -> Result<(), Error> {
        self.wait_for(timeout, |w| w.deferred.iter().all(VecDeque::is_empty).then_some(()))
    }

    /// Requests waiting for room in their queue.
    pub fn deferred_requests(&self) -> usize {
        self.deferred.iter().map(VecDeque::len).sum()
    }

    /// The error an [`ErrorCode`] number stands for.
    pub fn error(code: i32) -> Error {
        Error::from_code(code)
    }
}

impl Worker {
    // What an LD_PRELOAD socket layer needs beyond the epoll-like API: sleeping
    // under its own control (so it can wait on other descriptors too, and
    // release its locks meanwhile) and level-triggered views of a session.

    /// Asks the node to write the eventfd when an event arrives, before the
    /// caller sleeps on [`Worker::eventfd`] itself (with other descriptors,
    /// say). Returns `false` when something is already waiting (an event in
    /// a queue, or a request that found its queue full): then do not sleep,
    /// call [`Worker::wait`] with a zero timeout. Always follow with
    /// [`Worker::disarm_sleep`].
    pub fn arm_sleep(&mut self) -> bool {
        if self.eventfd.is_none() || !self.ready.is_empty() || self.deferred.iter().any(|d| !d.is_empty()) {
            return false;
        }
        let mut empty = true;
        for q in &self.queues {
            empty &= q.events.arm_wakeup();
        }
        empty
    }

    /// Undoes [`Worker::arm_sleep`] after the sleep, and drains the eventfd's
    /// counter; `socket_readable` says the caller saw the API socket readable.
    pub fn disarm_sleep(&mut self, socket_readable: bool) {
        self.disarm_sleep_drained(socket_readable);
        if let Some(efd) = &self.eventfd {
            // Non-blocking: an empty counter is EAGAIN, which is fine.
            let _ = rustix::io::read(efd, &mut [0u8; 8]);
        }
    }

    /// [`Worker::disarm_sleep`] for a caller that has drained the eventfd itself.
    pub fn disarm_sleep_drained(&mut self, socket_readable: bool) {
        for q in &self.queues {
            q.events.disarm_wakeup();
        }
        if socket_readable {
            self.socket_ready = true;
        }
    }

    /// The API socket's descriptor (shared by the application's workers), to
    /// wait on with the eventfd: readable means a notice (or the node's end).
    pub fn api_fd(&self) -> RawFd {
        self.app.sock_fd
    }

    /// What a read would get now: bytes of a stream, or the length of the next
    /// datagram. `None` if there is no such session (or it waits for accept).
    pub fn rx_pending(&self, s: SessionId) -> Option<usize> {
        let e = self.sessions.get(&s.0).filter(|e| e.state != State::Accepting)?;
        if e.transport.is_dgram() {
            Some(shm::dgram::dgram_peek_header(&e.rx).map_or(0, |h| h.len as usize))
        } else {
            Some(e.rx.max_dequeue())
        }
    }

    /// Whether a datagram session has a whole datagram waiting (a zero-length one counts).
    pub fn has_datagram(&self, s: SessionId) -> bool {
        self.sessions
            .get(&s.0)
            .is_some_and(|e| e.state != State::Accepting && shm::dgram::dgram_peek_header(&e.rx).is_some())
    }

    /// Whether the peer closed the session (what is left can still be read).
    pub fn is_peer_closed(&self, s: SessionId) -> bool {
        self.sessions.get(&s.0).is_some_and(|e| e.state == State::PeerClosed)
    }

    /// Sessions waiting in a listener's backlog for [`Worker::accept`].
    pub fn accept_pending(&self, l: ListenerId) -> usize {
        self.listeners.get(&l.0).map_or(0, |x| x.backlog.len())
    }

    /// Copies what a read would return without consuming it: up to
    /// `buf.len()` bytes of a stream, or the next datagram (truncated) and
    /// where it came from. [`Error::WouldBlock`] when there is nothing.
    pub fn peek(&mut self, s: SessionId, buf: &mut [u8]) -> Result<(usize, SocketAddr), Error> {
        let e = self.sessions.get(&s.0).ok_or(Error::BadSession)?;
        if e.state == State::Accepting {
            return Err(Error::BadState);
        }
        if e.transport.is_dgram() {
            let Some(h) = shm::dgram::dgram_peek_header(&e.rx) else {
                return Err(if e.state == State::PeerClosed { Error::Closed } else { Error::WouldBlock });
            };
            let n = buf.len().min(h.len as usize);
            e.rx.peek(DgramHeader::SIZE, &mut buf[..n]);
            return Ok((n, h.remote));
        }
        match e.rx.peek(0, buf) {
            0 if e.state == State::PeerClosed || buf.is_empty() => Ok((0, e.remote)),
            0 => Err(Error::WouldBlock),
            n => Ok((n, e.remote)),
        }
    }
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("handle", &self.wrk)
            .field("index", &self.map_index)
            .field("node_workers", &self.queues.len())
            .field("sessions", &self.sessions.len())
            .finish()
    }
}

impl Error {
    /// The error for a code in an event.
    pub fn from_code(code: i32) -> Error {
        let text = ErrorCode::from_i32(code).map_or("unknown error", ErrorCode::as_str).to_string();
        Error::Node { code, text }
    }
}
