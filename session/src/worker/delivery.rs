//! Delivery: the events the transports raised reach the apps after the
//! transports return, as callbacks for builtin apps (external apps get
//! messages, `external_messages.rs`); and a builtin app's listen, which runs
//! on the main thread and comes back as a `bound` callback.

use std::sync::atomic::Ordering;

use net::seam::Seam;
use net::tables::NetTables;
use shm::types::{Endpoint, SessionHandle};

use crate::builtin::{AppApi, BuiltinApp};
use crate::error::SessionError;
use crate::main_thread::MainCtx;
use crate::session::SessionState;
use crate::transport::{EventKind, SessionEvent};

use super::{AppLink, SessionShared, SessionWorker, WorkerApp, EVENTS_PER_POLL};

impl<S: Seam> SessionWorker<S> {
    /// Ships a listen for app worker `app_wrk` to the main thread; the answer comes back as a `bound` callback.
    pub(crate) fn rpc_listen(&mut self, app_wrk: u32, ep: Endpoint) {
        let worker = self.index as usize;
        let Some(tx) = self.to_main.as_mut() else {
            // No main thread (unit tests): nothing can change the tables.
            let err = Err(SessionError::UnsupportedConfig("no main thread to listen on".into()));
            self.defer(Box::new(move |w, io, net, shared| w.deliver_bound(io, net, shared, app_wrk, ep, err)));
            return;
        };
        let f = move |m: &mut MainCtx<S>| {
            let r = m.listen_from_worker(app_wrk, ep);
            m.rpc_worker(worker, move |nw| {
                nw.stack.defer(Box::new(move |w, io, net, shared| w.deliver_bound(io, net, shared, app_wrk, ep, r)))
            });
        };
        if let Err(e) = tx.send(f) {
            drop(e.into_rpc());
            let err = Err(SessionError::TooMany("pending requests to the main thread"));
            self.defer(Box::new(move |w, io, net, shared| w.deliver_bound(io, net, shared, app_wrk, ep, err)));
        }
    }

    pub(super) fn deliver_bound(
        &mut self,
        io: &mut S,
        net: &NetTables,
        shared: &SessionShared,
        app_wrk: u32,
        ep: Endpoint,
        r: Result<SessionHandle, SessionError>,
    ) {
        self.with_builtin(io, net, shared, app_wrk, |app, api| app.bound(api, ep, r));
    }

    /// Runs `f` with app worker `app_wrk`'s builtin instance on this worker, if it has one.
    pub(super) fn with_builtin<R>(
        &mut self,
        io: &mut S,
        net: &NetTables,
        shared: &SessionShared,
        app_wrk: u32,
        f: impl FnOnce(&mut dyn BuiltinApp<S>, &mut AppApi<'_, S>) -> R,
    ) -> Option<R> {
        let mut app = match self.apps.get_mut(&app_wrk)?.link {
            AppLink::Builtin(ref mut slot) => slot.take()?,
            AppLink::External(_) => return None,
        };
        let r = {
            let mut api = AppApi { w: self, io, net, shared, app_wrk };
            f(app.as_mut(), &mut api)
        };
        if let Some(WorkerApp { link: AppLink::Builtin(slot), .. }) = self.apps.get_mut(&app_wrk) {
            *slot = Some(app);
        }
        Some(r)
    }

    /// Delivers raised events to the apps; returns how many.
    pub(super) fn deliver_events(&mut self, io: &mut S, net: &NetTables, shared: &SessionShared) -> usize {
        let mut delivered = 0;
        while !self.events.is_empty() && delivered < EVENTS_PER_POLL {
            std::mem::swap(&mut self.events, &mut self.delivering);
            let mut batch = std::mem::take(&mut self.delivering);
            for ev in batch.drain(..) {
                delivered += 1;
                self.deliver(io, net, shared, ev);
            }
            self.delivering = batch;
            // Callbacks may have written data: send it before the next round.
            self.run_pending_tx(io, net);
            self.run_pending_reads(io, net);
        }
        delivered
    }

    pub(super) fn deliver(&mut self, io: &mut S, net: &NetTables, shared: &SessionShared, ev: SessionEvent) {
        let Some(s) = self.sessions.get(ev.session).filter(|s| s.generation == ev.generation) else { return };
        let (app_wrk, opaque, state, announced) = (s.app_wrk, s.opaque, s.state, s.announced);
        let h = self.handle(ev.session);
        if !announced
            && matches!(ev.kind, EventKind::TransportClosed | EventKind::Reset | EventKind::Disconnected)
            && state != SessionState::Connecting
        {
            // The app never saw this session (a connection that died before
            // it was accepted): nobody to tell, just free it.
            self.session_abort(io, net, ev.session);
            return;
        }
        if self.is_external(app_wrk) {
            return self.deliver_external(io, net, ev);
        }
        match ev.kind {
            EventKind::Accepted => {
                if let Some(s) = self.sessions.get_mut(ev.session) {
                    s.announced = true;
                }
                let ok = self.with_builtin(io, net, shared, app_wrk, |app, api| app.accepted(api, h));
                match ok {
                    Some(true) => self.session_ready(ev.session),
                    _ => self.session_close(io, net, ev.session),
                }
            }
            EventKind::Connected => {
                if let Some(s) = self.sessions.get_mut(ev.session) {
                    s.state = SessionState::Ready;
                    s.announced = true;
                }
                self.stats.connected.fetch_add(1, Ordering::Relaxed);
                if self.with_builtin(io, net, shared, app_wrk, |app, api| app.connected(api, opaque, Ok(h))).is_none() {
                    self.session_abort(io, net, ev.session);
                }
            }
            EventKind::ConnectFailed(e) => {
                self.session_free(ev.session);
                self.with_builtin(io, net, shared, app_wrk, |app, api| app.connected(api, opaque, Err(e)));
            }
            EventKind::Rx => {
                if let Some(s) = self.sessions.get(ev.session) {
                    s.rx().unset_event();
                }
                if state == SessionState::Accepting || state == SessionState::Closing {
                    // Before the accept the app cannot read (it is told on
                    // accept, see `session_ready`); after its close nobody will.
                    return;
                }
                self.with_builtin(io, net, shared, app_wrk, |app, api| app.rx(api, h));
            }
            EventKind::TxSpace => {
                self.with_builtin(io, net, shared, app_wrk, |app, api| app.tx(api, h));
            }
            EventKind::Disconnected => {
                if state == SessionState::Closing {
                    return;
                }
                if let Some(s) = self.sessions.get_mut(ev.session) {
                    s.state = SessionState::TransportClosing;
                }
                self.with_builtin(io, net, shared, app_wrk, |app, api| app.disconnected(api, h));
            }
            EventKind::Reset => {
                self.with_builtin(io, net, shared, app_wrk, |app, api| app.reset(api, h));
                self.session_abort(io, net, ev.session);
            }
            EventKind::TransportClosed => {
                if let Some(s) = self.sessions.get_mut(ev.session) {
                    s.state = SessionState::Closed;
                }
                self.with_builtin(io, net, shared, app_wrk, |app, api| app.closed(api, h));
                self.session_free(ev.session);
            }
        }
    }

    /// The app accepted session `index`: it is ready, and data that came
    /// before the accept is announced now.
    pub(crate) fn session_ready(&mut self, index: u32) {
        let Some(s) = self.sessions.get_mut(index) else { return };
        if s.state != SessionState::Accepting {
            return;
        }
        s.state = SessionState::Ready;
        if s.rx().max_dequeue() > 0 && s.rx().set_event() {
            self.raise(index, EventKind::Rx);
        }
    }

    pub(super) fn poll_builtins(&mut self, io: &mut S, net: &NetTables, shared: &SessionShared) -> usize {
        let mut work = 0;
        // By index: an app added or removed by a callback is polled (or
        // not) from the next loop on, and nothing is copied per loop.
        let mut i = 0;
        while let Some(&k) = self.builtin_apps.get(i) {
            work += self.with_builtin(io, net, shared, k, |app, api| app.poll(api)).unwrap_or(0);
            i += 1;
        }
        work
    }
}
