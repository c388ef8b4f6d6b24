//! External app workers, the node's side: their message queues, the
//! per-worker endpoint that sends events and reads requests, and what the
//! data-plane workers and the API server share about them.
//!
//! An external app worker (one thread of an application in another process,
//! VPP's VCL worker) talks to each data-plane worker through a pair of
//! message queues allocated in the app worker's first segment
//! ([`ExternalQueues`]): the data-plane worker is the only producer of one
//! (events: accepted, connected, rx, ...) and the only consumer of the
//! other (requests: listen, connect, tx, ...), so every queue stays
//! single-producer single-consumer without locks. Each data-plane worker
//! holds an [`ExternalEndpoint`] with its two views; the worker half of the
//! protocol (what each event and request does to sessions) lives in
//! `worker/external.rs`.
//!
//! A full event queue must not lose a control event: the endpoint keeps
//! what does not fit in a bounded backlog and retries every loop, in order.
//! Io events are coalesced by the fifos' event flags, so the backlog holds
//! at most about two per session plus the control events; an app that lets
//! it overflow is not reading its queue, and the worker asks for it to be
//! detached ([`ExternalShared::doom`]), which the API server does on the
//! main thread.
//!
//! Segments: the app maps its first segment at attach. When one of its
//! sessions gets fifos in a segment it has not seen (its segment manager
//! grew, or a cut-through session lives in the server's segment), the
//! worker records the segment's fd here ([`ExternalShared::announce`]) and
//! the API server passes it over the socket; the event naming the segment
//! may arrive first, and the client library then waits for the fd. When a
//! segment goes away, the API server tells the app
//! ([`ExternalShared::gone_segments`]).

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use shm::api::QueuePair;
use shm::msg::{Event, MAX_PAYLOAD, SLOT_SIZE};
use shm::types::AttachOptions;

use crate::app_worker::AppWorkerShared;
use crate::error::SessionError;
use crate::mq::{new_eventfd, MessageQueue};

/// Requests read from one app worker's queue per worker loop, so one busy
/// (or hostile) app cannot starve packet I/O or other apps.
pub const REQUESTS_PER_POLL: usize = 256;
/// How many times the event queue's length the backlog may hold before the app is detached.
pub const BACKLOG_FACTOR: usize = 8;
/// Listens and unlistens an app worker may ask of one data-plane worker per second (each
/// costs the main thread a barrier, which parks every worker): the sustained rate...
pub const CONTROL_PER_SEC: u64 = 1000;
/// ... and the burst.
pub const CONTROL_BURST: u64 = 128;

/// Counters about external applications, shared by the API server and the workers.
///
/// Workers touch them only on rare events (a full queue, a bad request), never per message.
#[derive(Debug, Default)]
pub struct ApiStats {
    /// API connections accepted.
    pub clients_accepted: AtomicU64,
    /// API connections refused (too many).
    pub clients_refused: AtomicU64,
    /// Applications attached over the API.
    pub attaches: AtomicU64,
    /// Attach requests that failed.
    pub attach_failures: AtomicU64,
    /// Applications detached at their own request.
    pub detaches: AtomicU64,
    /// Applications detached because their process died or closed the socket.
    pub detaches_client_gone: AtomicU64,
    /// Applications detached because they misbehaved (event backlog overflow).
    pub detaches_misbehaving: AtomicU64,
    /// API messages that could not be parsed or were not allowed (error replies sent).
    pub bad_messages: AtomicU64,
    /// API connections closed because the stream could not be trusted (bad magic, version, size).
    pub clients_dropped_protocol: AtomicU64,
    /// API connections closed because the client did not read its replies (write buffer full).
    pub clients_dropped_slow: AtomicU64,
    /// Queue requests that could not be parsed.
    pub bad_requests: AtomicU64,
    /// Queue requests naming a session that is not the sender's (or is gone).
    pub bad_sessions: AtomicU64,
    /// Events that found their queue full and went to the backlog.
    pub queue_full: AtomicU64,
    /// Backlogs that overflowed.
    pub backlog_overflows: AtomicU64,
    /// Listen/unlisten requests refused for exceeding the control rate.
    pub control_throttled: AtomicU64,
    /// Segments passed to applications after attach.
    pub segments_announced: AtomicU64,
    /// Segment removals told to applications.
    pub segments_withdrawn: AtomicU64,
    /// App workers added with a share token on another connection (a forked child joining).
    pub joins: AtomicU64,
    /// Joins refused: unknown application or wrong share token.
    pub join_failures: AtomicU64,
    /// App workers deleted because their connection ended while other connections kept the app.
    pub workers_deleted_client_gone: AtomicU64,
}

impl ApiStats {
    /// `(name, value, is_error)` for every counter, for the CLI.
    pub fn snapshot(&self) -> Vec<(&'static str, u64, bool)> {
        let v = |c: &AtomicU64| c.load(Ordering::Relaxed);
        vec![
            ("api clients accepted", v(&self.clients_accepted), false),
            ("api clients refused (too many)", v(&self.clients_refused), true),
            ("api attaches", v(&self.attaches), false),
            ("api attach failures", v(&self.attach_failures), true),
            ("api detaches (asked)", v(&self.detaches), false),
            ("api detaches (client gone)", v(&self.detaches_client_gone), false),
            ("api detaches (misbehaving app)", v(&self.detaches_misbehaving), true),
            ("api bad messages", v(&self.bad_messages), true),
            ("api clients dropped (protocol error)", v(&self.clients_dropped_protocol), true),
            ("api clients dropped (not reading)", v(&self.clients_dropped_slow), true),
            ("app queue bad requests", v(&self.bad_requests), true),
            ("app queue requests for foreign or stale sessions", v(&self.bad_sessions), true),
            ("app event queue full (backlogged)", v(&self.queue_full), true),
            ("app event backlog overflows", v(&self.backlog_overflows), true),
            ("app listen/unlisten requests over the rate limit", v(&self.control_throttled), true),
            ("app segments announced", v(&self.segments_announced), false),
            ("app segments withdrawn", v(&self.segments_withdrawn), false),
            ("api app workers joined (share token)", v(&self.joins), false),
            ("api joins refused (bad token)", v(&self.join_failures), true),
            ("api app workers deleted (client gone, app stays)", v(&self.workers_deleted_client_gone), false),
        ]
    }
}

/// What the workers and the API server share about one external app worker.
#[derive(Debug)]
pub struct ExternalShared {
    /// App worker index in the control tables.
    pub wrk_index: u32,
    /// Node-wide counters.
    pub stats: Arc<ApiStats>,
    doomed: AtomicBool,
    reason: Mutex<Option<String>>,
    segments: Mutex<Segments>,
}

/// The segments an app worker has been given, and those waiting to be.
#[derive(Debug, Default)]
struct Segments {
    /// By id: who owns the segment (so its removal can be noticed).
    known: HashMap<u64, Weak<AppWorkerShared>>,
    /// Announced by a worker, not yet sent by the API server: (id, size, fd).
    pending: Vec<(u64, u64, OwnedFd)>,
}

/// A segment the API server must pass to the app.
#[derive(Debug)]
pub struct SegmentAnnounce {
    /// Id.
    pub id: u64,
    /// Size.
    pub size: u64,
    /// A descriptor for it.
    pub fd: OwnedFd,
}

impl ExternalShared {
    /// The shared state of app worker `wrk_index`, whose first segment (owned by `owner`) the app already has.
    pub fn new(wrk_index: u32, owner: &Arc<AppWorkerShared>, first_segment: u64, stats: Arc<ApiStats>) -> Self {
        let mut segments = Segments::default();
        segments.known.insert(first_segment, Arc::downgrade(owner));
        ExternalShared {
            wrk_index,
            stats,
            doomed: AtomicBool::new(false),
            reason: Mutex::new(None),
            segments: Mutex::new(segments),
        }
    }

    fn segments(&self) -> MutexGuard<'_, Segments> {
        self.segments.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks for the app to be detached (the API server does it on the main thread).
    pub fn doom(&self, reason: &str) {
        if !self.doomed.swap(true, Ordering::AcqRel) {
            *self.reason.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.to_string());
        }
    }

    /// Whether a worker asked for the app to be detached; with the reason.
    pub fn doomed(&self) -> Option<String> {
        if !self.doomed.load(Ordering::Acquire) {
            return None;
        }
        Some(self.reason.lock().unwrap_or_else(|p| p.into_inner()).clone().unwrap_or_default())
    }

    /// Makes sure the app will get segment `id` (owned by `owner`): if it has
    /// not had it, `fd` is called for a descriptor and the segment is queued
    /// for the API server. Called when a session's fifos are described to the
    /// app (once per session open; the lock is not on the data path).
    pub fn announce(
        &self,
        id: u64,
        size: u64,
        owner: &Arc<AppWorkerShared>,
        fd: impl FnOnce() -> std::io::Result<OwnedFd>,
    ) -> std::io::Result<()> {
        let mut s = self.segments();
        if s.known.contains_key(&id) {
            return Ok(());
        }
        s.pending.push((id, size, fd()?));
        s.known.insert(id, Arc::downgrade(owner));
        self.stats.segments_announced.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Segments waiting to be sent to the app.
    pub fn take_announced(&self) -> Vec<SegmentAnnounce> {
        let mut s = self.segments();
        if s.pending.is_empty() {
            return Vec::new();
        }
        s.pending.drain(..).map(|(id, size, fd)| SegmentAnnounce { id, size, fd }).collect()
    }

    /// Forgets and returns the segments the app was given that no longer exist.
    ///
    /// Takes the owners' segment locks after releasing this one, so the lock
    /// order is never the reverse of [`ExternalShared::announce`]'s.
    pub fn gone_segments(&self) -> Vec<u64> {
        let known: Vec<(u64, Weak<AppWorkerShared>)> =
            self.segments().known.iter().map(|(id, w)| (*id, w.clone())).collect();
        let gone: Vec<u64> = known
            .into_iter()
            .filter(|(id, owner)| owner.upgrade().is_none_or(|o| !o.segments().segments().any(|s| s.id() == *id)))
            .map(|(id, _)| id)
            .collect();
        if !gone.is_empty() {
            let mut s = self.segments();
            for id in &gone {
                s.known.remove(id);
            }
            self.stats.segments_withdrawn.fetch_add(gone.len() as u64, Ordering::Relaxed);
        }
        gone
    }

    /// Segments the app has been given (for the CLI).
    pub fn segment_count(&self) -> usize {
        self.segments().known.len()
    }

    /// Ids of the segments the app was given, ascending.
    pub fn segment_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.segments().known.keys().copied().collect();
        ids.sort_unstable();
        ids
    }
}

/// An external app worker's queues in its first segment, and its eventfd.
#[derive(Debug)]
pub struct ExternalQueues {
    /// Slots per queue.
    pub slots: u32,
    /// Slot size.
    pub slot_size: u32,
    /// One pair per data-plane worker.
    pub pairs: Vec<QueuePair>,
    /// The eventfd the workers write when the app sleeps, if the app asked for one.
    pub eventfd: Option<OwnedFd>,
}

impl ExternalQueues {
    /// Allocates a queue pair per data-plane worker in `owner`'s first segment,
    /// each queue with `event_queue_size` slots (rounded up to a power of two).
    pub fn alloc(owner: &AppWorkerShared, workers: usize, opts: &AttachOptions) -> Result<Self, SessionError> {
        let slots = opts.event_queue_size.max(1).next_power_of_two();
        let mut sm = owner.segments();
        let mut pairs = Vec::with_capacity(workers);
        for _ in 0..workers {
            let mut q = || {
                sm.alloc_message_queue(slots, SLOT_SIZE).map_err(|e| {
                    SessionError::invalid(
                        "event_queue_size",
                        format!("{workers} worker(s) x 2 queues of {slots} x {SLOT_SIZE} bytes do not fit in the first segment: {e}"),
                    )
                })
            };
            let events = q()?;
            let requests = q()?;
            pairs.push(QueuePair { events, requests });
        }
        let eventfd = if opts.use_eventfd {
            Some(new_eventfd().map_err(|e| SessionError::UnsupportedConfig(format!("eventfd: {e}")))?)
        } else {
            None
        };
        Ok(ExternalQueues { slots, slot_size: SLOT_SIZE, pairs, eventfd })
    }
}

/// An event that did not fit in the queue, waiting its turn.
#[derive(Clone, Copy)]
struct Pending {
    kind: u16,
    len: u8,
    payload: [u8; MAX_PAYLOAD],
}

/// Per-endpoint counters (owned by the worker, read through `describe`).
#[derive(Debug, Default, Clone, Copy)]
struct EndpointCounters {
    events: u64,
    requests: u64,
    bad_requests: u64,
    bad_sessions: u64,
    queue_full: u64,
    backlog_max: usize,
    wakeups: u64,
}

/// One external app worker as one data-plane worker reaches it.
pub struct ExternalEndpoint {
    /// What the workers and the API server share.
    pub shared: Arc<ExternalShared>,
    events: MessageQueue<'static>,
    requests: MessageQueue<'static>,
    backlog: VecDeque<Pending>,
    backlog_limit: usize,
    notify: bool,
    counters: EndpointCounters,
    /// Control-request tokens (scaled by 1e9: one token is `1_000_000_000`), and when they were last refilled.
    control_tokens: u64,
    control_at_ns: u64,
    // Last: keeps the segment holding the queues mapped while the views above live.
    _owner: Arc<AppWorkerShared>,
}

/// The backlog overflowed: the app does not read its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

impl ExternalEndpoint {
    /// The endpoint for data-plane worker `worker`: views of its queue pair in `owner`'s first segment.
    pub fn new(
        owner: &Arc<AppWorkerShared>,
        shared: &Arc<ExternalShared>,
        queues: &ExternalQueues,
        worker: usize,
    ) -> Result<Self, SessionError> {
        let pair = queues.pairs.get(worker).ok_or(SessionError::NoSuchAppWorker(shared.wrk_index))?;
        let internal = |e: &dyn std::fmt::Display| SessionError::UnsupportedConfig(format!("event queue: {e}"));
        let (mut events, requests) = {
            let sm = owner.segments();
            let seg = sm.segment(0).ok_or_else(|| internal(&"no first segment"))?;
            // SAFETY: the queues were just formatted at these offsets of the
            // first segment, which never goes away while `owner` lives, and
            // the endpoint keeps `owner`. This worker is the only producer of
            // `events` and the only consumer of `requests` (the app takes the
            // other ends), one endpoint per worker per app worker.
            let views = unsafe {
                (
                    seg.message_queue(pair.events, queues.slots, queues.slot_size),
                    seg.message_queue(pair.requests, queues.slots, queues.slot_size),
                )
            };
            let (e, r) = (views.0.map_err(|e| internal(&e))?, views.1.map_err(|e| internal(&e))?);
            // SAFETY: the views point into the segment's mapping, not into the
            // lock guard; the mapping outlives them because `_owner` (dropped
            // after them) keeps the segment manager, and so the first segment, alive.
            unsafe {
                (
                    std::mem::transmute::<MessageQueue<'_>, MessageQueue<'static>>(e),
                    std::mem::transmute::<MessageQueue<'_>, MessageQueue<'static>>(r),
                )
            }
        };
        if let Some(fd) = &queues.eventfd {
            events.set_eventfd(fd.try_clone().map_err(|e| internal(&e))?);
        }
        Ok(ExternalEndpoint {
            shared: shared.clone(),
            backlog_limit: BACKLOG_FACTOR * queues.slots as usize,
            backlog: VecDeque::with_capacity(64),
            events,
            requests,
            notify: false,
            counters: EndpointCounters::default(),
            control_tokens: CONTROL_BURST * 1_000_000_000,
            control_at_ns: 0,
            _owner: owner.clone(),
        })
    }

    /// Sends an event, keeping its place in line behind any backlog.
    pub fn send(&mut self, ev: &Event) -> Result<(), Overflow> {
        if self.shared.doomed.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut p = Pending { kind: ev.kind(), len: 0, payload: [0; MAX_PAYLOAD] };
        p.len = ev.emit(&mut p.payload) as u8;
        if self.backlog.is_empty() {
            match self.events.try_send(p.kind, &p.payload[..p.len as usize]) {
                Ok(()) => {
                    self.counters.events += 1;
                    self.notify = true;
                    return Ok(());
                }
                Err(_) => {
                    self.counters.queue_full += 1;
                    self.shared.stats.queue_full.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if self.backlog.len() >= self.backlog_limit {
            self.shared.stats.backlog_overflows.fetch_add(1, Ordering::Relaxed);
            return Err(Overflow);
        }
        self.backlog.push_back(p);
        self.counters.backlog_max = self.counters.backlog_max.max(self.backlog.len());
        Ok(())
    }

    /// Moves backlogged events into the queue while there is room, and wakes
    /// the app if it sleeps and anything was sent since the last call.
    /// Returns how many backlogged events went out.
    pub fn flush(&mut self) -> usize {
        let mut moved = 0;
        while let Some(p) = self.backlog.front() {
            if self.events.try_send(p.kind, &p.payload[..p.len as usize]).is_err() {
                break;
            }
            self.backlog.pop_front();
            moved += 1;
        }
        if moved > 0 {
            self.counters.events += moved as u64;
            self.notify = true;
        }
        if std::mem::take(&mut self.notify) && matches!(self.events.notify(), Ok(true)) {
            self.counters.wakeups += 1;
        }
        moved
    }

    /// Receives the next request into `buf`: its kind and length.
    pub fn recv(&mut self, buf: &mut [u8; MAX_PAYLOAD]) -> Option<(u16, usize)> {
        let r = self.requests.try_recv(buf);
        if r.is_some() {
            self.counters.requests += 1;
        }
        r
    }

    /// Takes a token for a listen or unlisten at time `now_ns`; false (counted) when the app is over its rate.
    pub fn control_token(&mut self, now_ns: u64) -> bool {
        let elapsed = now_ns.saturating_sub(self.control_at_ns);
        self.control_at_ns = now_ns;
        let cap = CONTROL_BURST * 1_000_000_000;
        self.control_tokens = self.control_tokens.saturating_add(elapsed.saturating_mul(CONTROL_PER_SEC)).min(cap);
        if self.control_tokens < 1_000_000_000 {
            self.shared.stats.control_throttled.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        self.control_tokens -= 1_000_000_000;
        true
    }

    /// Counts a request that did not parse.
    pub fn bad_request(&mut self) {
        self.counters.bad_requests += 1;
        self.shared.stats.bad_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request naming a session that is not the app's (or is gone).
    pub fn bad_session(&mut self) {
        self.counters.bad_sessions += 1;
        self.shared.stats.bad_sessions.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether the app was asked to be detached (its events are dropped meanwhile).
    pub fn is_doomed(&self) -> bool {
        self.shared.doomed.load(Ordering::Relaxed)
    }

    /// Events waiting in the backlog.
    pub fn backlog(&self) -> usize {
        self.backlog.len()
    }

    /// One line for `show app N verbose`.
    pub fn describe(&self) -> String {
        let c = &self.counters;
        let mut out = format!(
            "external: event queue {}/{}, request queue {}/{}, backlog {} (max {}, limit {}), \
             events {} requests {} wakeups {}",
            self.events.len(),
            self.events.capacity(),
            self.requests.len(),
            self.requests.capacity(),
            self.backlog.len(),
            c.backlog_max,
            self.backlog_limit,
            c.events,
            c.requests,
            c.wakeups
        );
        if c.queue_full + c.bad_requests + c.bad_sessions > 0 {
            let _ = write!(
                out,
                ", queue full {} bad requests {} foreign/stale sessions {}",
                c.queue_full, c.bad_requests, c.bad_sessions
            );
        }
        if let Some(reason) = self.shared.doomed() {
            let _ = write!(out, ", being detached: {reason}");
        }
        out
    }
}
