//! The data-plane worker's half of external applications: session events
//! become messages on the app worker's event queue, and the requests the
//! app writes into its request queue become session operations.
//!
//! Everything an app writes is checked before it is acted on: a request
//! that does not parse is counted and dropped, and one that names a session
//! must name one of this app worker's sessions on this worker, with the
//! generation the app was given (a slot reused since is not the app's
//! session any more). A malicious app can therefore only touch its own
//! sessions, and the worker reads at most [`REQUESTS_PER_POLL`] requests per
//! app per loop, so it cannot starve packet I/O either. Listens and unlistens,
//! which cost the main thread a barrier each, are rate limited per app
//! worker ([`crate::external_app::CONTROL_PER_SEC`]).
//!
//! The differences from builtin apps (where the same events are callbacks):
//! - an accepted session stays `Accepting` until the app's accept reply (as
//!   for a builtin, data that arrives meanwhile is announced on accept);
//! - rx events leave the fifo's event flag set: the app clears it before it
//!   drains the fifo (the flag is in shared memory), so rx events stay
//!   coalesced to one in flight per session;
//! - a reset session keeps its fifos until the app says it has dropped them
//!   (reset reply), because the app may be reading them when the reset
//!   arrives; the transport forgets the connection at once;
//! - "tell me when there is room" (`Tx` with the want flag) is one-shot.

use std::sync::atomic::Ordering;

use net::seam::Seam;
use net::tables::NetTables;
use shm::msg::{Event, FifoLoc, Request, SessionInfo, SessionRef, MAX_PAYLOAD, NO_HANDLE};
use shm::types::{Endpoint, ErrorCode, SessionHandle};

use super::{AppLink, SessionShared, SessionWorker, WorkerApp};
use crate::error::SessionError;
use crate::external_app::{ExternalLink, REQUESTS_PER_POLL};

use crate::main_thread::MainCtx;
use crate::session::SessionState;
use crate::transport::{ConnectError, ConnectRequest, EventKind, SessionEvent};

/// Requests read from a deleted app worker's queue before its sessions are
/// reset ([`SessionWorker::drain_external`]); more than an app queue holds.
const DRAIN_AT_DELETE: usize = 1 << 16;

/// Why the worker reads an app worker's request queue.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// The poll loop: at most [`REQUESTS_PER_POLL`], each acted on.
    Poll,
    /// The app worker is being deleted: at most [`DRAIN_AT_DELETE`]; listens,
    /// unlistens and connects are dropped.
    Delete,
}

impl<S: Seam> SessionWorker<S> {
    /// Whether app worker `app_wrk` is an external one registered on this worker.
    pub(super) fn is_external(&self, app_wrk: u32) -> bool {
        matches!(self.apps.get(&app_wrk), Some(WorkerApp { link: AppLink::External(_), .. }))
    }

    fn external_link(&mut self, app_wrk: u32) -> Option<&mut ExternalLink> {
        match self.apps.get_mut(&app_wrk) {
            Some(WorkerApp { link: AppLink::External(e), .. }) => Some(e),
            _ => None,
        }
    }

    /// Sends `ev` to app worker `app_wrk`; an app whose backlog overflows is doomed (detached by the main thread).
    fn ext_send(&mut self, app_wrk: u32, ev: Event) {
        let worker = self.index;
        let Some(ep) = self.external_link(app_wrk) else { return };
        if ep.send(&ev).is_err() && !ep.is_doomed() {
            let reason = format!(
                "event backlog overflow on worker {worker} ({} events): the app does not read its event queue",
                ep.backlog()
            );
            tracing::warn!("dpnode: app worker {app_wrk}: {reason}; detaching it");
            ep.shared.doom(&reason);
        }
    }

    /// Describes session `index` to app worker `app_wrk`, making sure the app
    /// gets the segment its fifos live in. `None` if that cannot be done.
    fn session_info(&self, app_wrk: u32, index: u32) -> Option<SessionInfo> {
        let s = self.sessions.get(index)?;
        let f = s.fifos.as_ref()?;
        let Some(WorkerApp { link: AppLink::External(ep), .. }) = self.apps.get(&app_wrk) else {
            return None;
        };
        let sm = f.owner.segments();
        let seg = sm.segment(f.pair.rx.segment)?;
        // The pair is one chunk: both fifos are in this segment.
        let loc = |h: crate::segment::FifoHandle| FifoLoc { segment: seg.id(), offset: h.offset, size: h.size };
        let announced = ep.shared.announce(seg.id(), seg.size() as u64, &f.owner, || seg.fd().try_clone_to_owned());
        if let Err(e) = announced {
            tracing::warn!("dpnode: app worker {app_wrk}: cannot pass segment {} to the app: {e}", seg.id());
            return None;
        }
        Some(SessionInfo {
            session: self.handle(index).0,
            generation: s.generation,
            transport: s.proto,
            local: s.local,
            remote: s.remote,
            rx: loc(f.pair.rx),
            tx: loc(f.pair.tx),
        })
    }

    /// Delivers a session event to the external app that owns the session.
    pub(super) fn deliver_external(&mut self, io: &mut S, net: &NetTables, ev: SessionEvent) {
        let Some(s) = self.sessions.get(ev.session).filter(|s| s.generation == ev.generation) else { return };
        let (app_wrk, opaque, state, listener) = (s.app_wrk, s.opaque, s.state, s.listener);
        let sref = SessionRef { session: self.handle(ev.session).0, generation: ev.generation };
        let gone = matches!(state, SessionState::Closing | SessionState::Closed);
        match ev.kind {
            EventKind::Accepted => match self.session_info(app_wrk, ev.session) {
                Some(info) => {
                    if let Some(s) = self.sessions.get_mut(ev.session) {
                        s.announced = true;
                    }
                    let listener = SessionHandle::listener(listener.unwrap_or(u32::MAX)).0;
                    self.ext_send(app_wrk, Event::Accepted { listener, info });
                }
                None => self.session_close(io, net, ev.session),
            },
            EventKind::Connected => {
                if let Some(s) = self.sessions.get_mut(ev.session) {
                    s.state = SessionState::Ready;
                    s.announced = true;
                }
                self.stats.connected.fetch_add(1, Ordering::Relaxed);
                let result = match self.session_info(app_wrk, ev.session) {
                    Some(info) => Ok(info),
                    None => {
                        self.session_abort(io, net, ev.session);
                        Err(ErrorCode::Internal as i32)
                    }
                };
                self.ext_send(app_wrk, Event::Connected { opaque, result });
            }
            EventKind::ConnectFailed(e) => {
                self.session_free(ev.session);
                self.ext_send(app_wrk, Event::Connected { opaque, result: Err(ErrorCode::from(e) as i32) });
            }
            EventKind::Rx => {
                if state == SessionState::Accepting || gone {
                    // As for builtins: announced on accept, or nobody reads any more.
                    if let Some(s) = self.sessions.get(ev.session) {
                        s.rx().unset_event();
                    }
                    return;
                }
                // The flag stays set: the app clears it before draining.
                self.ext_send(app_wrk, Event::Rx(sref));
            }
            EventKind::TxSpace => {
                if gone {
                    return;
                }
                if let Some(s) = self.sessions.get_mut(ev.session) {
                    s.want_tx_event = false;
                }
                self.ext_send(app_wrk, Event::TxSpace(sref));
            }
            EventKind::Disconnected => {
                if gone {
                    return;
                }
                if let Some(s) = self.sessions.get_mut(ev.session) {
                    s.state = SessionState::TransportClosing;
                }
                self.ext_send(app_wrk, Event::Disconnected(sref));
            }
            EventKind::Reset => {
                if state == SessionState::Closing {
                    // The app closed it already and holds nothing: free it now.
                    return self.session_abort(io, net, ev.session);
                }
                if state == SessionState::Closed {
                    return;
                }
                self.ext_send(app_wrk, Event::Reset(sref));
                // The transport forgets the connection now; the session and its
                // fifos wait for the app's reset reply. `conn` no longer names a
                // connection, so a later abort (app worker deleted) touches nothing.
                let proto = self.sessions.get(ev.session).map(|s| s.proto);
                if let Some(proto) = proto {
                    self.with_transport(io, net, proto, |t, cx| t.abort(cx, ev.session));
                }
                if let Some(s) = self.sessions.get_mut(ev.session) {
                    s.conn = u32::MAX;
                    s.state = SessionState::Closed;
                }
            }
            EventKind::TransportClosed => {
                if let Some(s) = self.sessions.get_mut(ev.session) {
                    s.state = SessionState::Closed;
                }
                self.session_free(ev.session);
            }
        }
    }

    /// A connect of external app worker `app_wrk` failed after it was accepted for processing.
    pub(super) fn external_connect_failed(&mut self, app_wrk: u32, opaque: u64, e: ConnectError) {
        self.ext_send(app_wrk, Event::Connected { opaque, result: Err(ErrorCode::from(e) as i32) });
    }

    /// Reads the requests external apps wrote since the last loop and acts on them.
    pub(super) fn poll_external(&mut self, io: &mut S, net: &NetTables, shared: &SessionShared) -> usize {
        if self.external_apps.is_empty() {
            return 0;
        }
        let mut work = 0;
        let mut buf = [0u8; MAX_PAYLOAD];
        // By index, as `poll_builtins` does.
        let mut i = 0;
        while let Some(&k) = self.external_apps.get(i) {
            work += self.read_requests(io, net, shared, k, &mut buf, Reading::Poll);
            i += 1;
        }
        work
    }

    /// Reads what app worker `app_wrk` queued here (up to the limit of
    /// `why`) and acts on it; returns how many requests it read.
    fn read_requests(
        &mut self,
        io: &mut S,
        net: &NetTables,
        shared: &SessionShared,
        app_wrk: u32,
        buf: &mut [u8; MAX_PAYLOAD],
        why: Reading,
    ) -> usize {
        let limit = match why {
            Reading::Poll => REQUESTS_PER_POLL,
            Reading::Delete => DRAIN_AT_DELETE,
        };
        let mut read = 0;
        while read < limit {
            let Some(ep) = self.external_link(app_wrk) else { break };
            let Some((kind, len)) = ep.recv(buf) else { break };
            read += 1;
            match Request::parse(kind, &buf[..len.min(MAX_PAYLOAD)]) {
                Ok(Request::Listen { .. } | Request::Unlisten { .. } | Request::Connect { .. })
                    if why == Reading::Delete => {}
                Ok(req) => self.external_request(io, net, shared, app_wrk, req),
                Err(e) => {
                    if matches!(e, shm::wire::WireError::BadFamily(_)) {
                        self.stats.session.inc(super::SessionCounter::ExternalBadFamily);
                    }
                    if let Some(ep) = self.external_link(app_wrk) {
                        ep.bad_request();
                    }
                }
            }
        }
        read
    }

    /// Carries out the closes, half-closes, accept replies and reset
    /// replies app worker `app_wrk` queued here and the worker has not read
    /// yet (it is being deleted: listens and connects are dropped). Reads
    /// at most one queue's worth, so a peer refilling it cannot keep the
    /// worker here.
    pub(super) fn drain_external(&mut self, io: &mut S, net: &NetTables, shared: &SessionShared, app_wrk: u32) {
        let mut buf = [0u8; MAX_PAYLOAD];
        self.read_requests(io, net, shared, app_wrk, &mut buf, Reading::Delete);
    }

    /// Moves backlogged events into their queues and wakes sleeping apps; returns how many moved.
    pub(super) fn flush_external(&mut self) -> usize {
        let mut work = 0;
        for a in self.apps.values_mut() {
            if let AppLink::External(ep) = &mut a.link {
                work += ep.flush();
            }
        }
        work
    }

    /// The pool index of the session `r` names, if it is app worker `app_wrk`'s, alive, on this worker.
    fn ext_mine(&mut self, app_wrk: u32, r: SessionRef) -> Option<u32> {
        let h = SessionHandle(r.session);
        let ok = h.worker() == self.index
            && self
                .sessions
                .get(h.index())
                .is_some_and(|s| s.generation == r.generation && s.app_wrk == app_wrk && s.fifos.is_some());
        if ok {
            return Some(h.index());
        }
        if let Some(ep) = self.external_link(app_wrk) {
            ep.bad_session();
        }
        None
    }

    fn external_request(&mut self, io: &mut S, net: &NetTables, shared: &SessionShared, app_wrk: u32, req: Request) {
        if matches!(req, Request::Listen { .. } | Request::Unlisten { .. })
            && !self.external_link(app_wrk).is_some_and(|ep| ep.control_token(io.now_ns()))
        {
            let e = SessionError::TooMany("listen/unlisten requests per second");
            return match req {
                Request::Listen { context, ep } => self.bound_reply(app_wrk, context, ep, Err(e)),
                Request::Unlisten { context, listener } => {
                    self.ext_send(app_wrk, Event::Unlistened { context, listener, code: e.code() })
                }
                _ => {}
            };
        }
        match req {
            Request::Listen { context, ep } => self.external_listen(app_wrk, context, ep),
            Request::Unlisten { context, listener } => self.external_unlisten(app_wrk, context, listener),
            Request::Connect { opaque, parent, remote, options } => {
                let req = ConnectRequest {
                    remote,
                    parent: (parent != NO_HANDLE).then_some(SessionHandle(parent)),
                    options,
                    opaque,
                };
                if let Err(e) = self.session_connect(io, net, shared, app_wrk, req) {
                    self.ext_send(app_wrk, Event::Connected { opaque, result: Err(e.code()) });
                }
            }
            Request::Disconnect(r) => {
                if let Some(i) = self.ext_mine(app_wrk, r) {
                    self.session_close(io, net, i);
                }
            }
            Request::AcceptReply { session, code } => {
                let Some(i) = self.ext_mine(app_wrk, session) else { return };
                if self.sessions.get(i).is_some_and(|s| s.state == SessionState::Accepting) {
                    if code == 0 {
                        self.session_ready(i);
                    } else {
                        self.session_close(io, net, i);
                    }
                }
            }
            Request::ResetReply(r) => {
                let Some(i) = self.ext_mine(app_wrk, r) else { return };
                // Only a reset session waits in Closed; anything else ignores it.
                if self.sessions.get(i).is_some_and(|s| s.state == SessionState::Closed) {
                    self.session_free(i);
                }
            }
            Request::Tx { session, want_tx_space } => {
                let Some(i) = self.ext_mine(app_wrk, session) else { return };
                let Some(s) = self.sessions.get_mut(i) else { return };
                if !matches!(s.state, SessionState::Ready | SessionState::TransportClosing) {
                    return;
                }
                let generation = s.generation;
                if want_tx_space {
                    if s.tx().is_empty() {
                        // Drained before the request got here: there is room now.
                        return self.ext_send(app_wrk, Event::TxSpace(session));
                    }
                    s.want_tx_event = true;
                }
                self.pending_tx.push((i, generation));
            }
            Request::RxRead(r) => {
                if let Some(i) = self.ext_mine(app_wrk, r) {
                    self.app_read(i);
                }
            }
            Request::Shutdown(r) => {
                if let Some(i) = self.ext_mine(app_wrk, r) {
                    self.session_shutdown_write(io, net, i);
                }
            }
        }
    }

    /// A listen from an external app: run on the main thread under the barrier, answered with a bound event.
    fn external_listen(&mut self, app_wrk: u32, context: u64, ep: Endpoint) {
        let worker = self.index as usize;
        let Some(tx) = self.to_main.as_mut() else {
            let e = SessionError::UnsupportedConfig("no main thread to listen on".into());
            return self.bound_reply(app_wrk, context, ep, Err(e));
        };
        let f = move |m: &mut MainCtx<S>| {
            let r = m.listen_from_worker(app_wrk, ep);
            m.rpc_worker(worker, move |nw| {
                nw.stack.defer(Box::new(move |w, _, _, _| w.bound_reply(app_wrk, context, ep, r)))
            });
        };
        if let Err(e) = tx.send(f) {
            drop(e.into_rpc());
            self.bound_reply(app_wrk, context, ep, Err(SessionError::TooMany("pending requests to the main thread")));
        }
    }

    fn bound_reply(&mut self, app_wrk: u32, context: u64, ep: Endpoint, r: Result<SessionHandle, SessionError>) {
        let result = r.map(|l| (l.0, ep)).map_err(|e| e.code());
        self.ext_send(app_wrk, Event::Bound { context, result });
    }

    /// An unlisten from an external app: like a listen, answered with an unlisten reply.
    fn external_unlisten(&mut self, app_wrk: u32, context: u64, listener: u64) {
        let worker = self.index as usize;
        let reply = move |w: &mut SessionWorker<S>, r: Result<(), SessionError>| {
            let code = r.err().map_or(0, |e| e.code());
            w.ext_send(app_wrk, Event::Unlistened { context, listener, code });
        };
        let Some(tx) = self.to_main.as_mut() else {
            return reply(self, Err(SessionError::UnsupportedConfig("no main thread to unlisten on".into())));
        };
        let f = move |m: &mut MainCtx<S>| {
            let r = m.unlisten_from_worker(app_wrk, SessionHandle(listener));
            m.rpc_worker(worker, move |nw| nw.stack.defer(Box::new(move |w, _, _, _| reply(w, r))));
        };
        if let Err(e) = tx.send(f) {
            drop(e.into_rpc());
            reply(self, Err(SessionError::TooMany("pending requests to the main thread")));
        }
    }
}
