//! The session layer's control operations, run by the main thread
//! (VPP's `vnet_application_attach`, `vnet_application_detach`,
//! `vnet_app_worker_add_del`, `vnet_listen`, `vnet_unlisten`,
//! `vnet_app_namespace_add_del`).
//!
//! Every operation that changes the shared tables takes the barrier: the
//! workers park at the top of their loop, the tables change, the workers go
//! on, so no worker ever sees a half-done change. What lives on the workers
//! (sessions, builtin app instances) is changed by shipping work to them
//! with RPCs; operations whose effects must be complete when they return
//! (detach, app worker delete) wait for every worker to have run it. A
//! worker that needs one of these operations (a builtin app listening from a
//! callback) sends an RPC here instead of doing it itself.

use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use net::control::barrier::MainBarrier;
use net::control::rpc::{RpcReceiver, RpcSender};
use net::seam::Seam;
use net::tables::NetTables;
use shm::types::{AttachOptions, Endpoint, SessionHandle, TransportOptions};

use crate::app_worker::{AppWorkerKind, AppWorkerShared};
use crate::error::SessionError;
use crate::pool::Handle;
use crate::worker::{AppLink, NodeTables, NodeWorker, SessionShared, SessionWorker};

mod external_attach;
pub use external_attach::ExternalWorker;

/// A segment that could not be made, as a control error: running out of
/// descriptors or memory is said as such (not as a bad `segment_size`).
pub(crate) fn segment_error(e: shm::segment::SegmentError) -> SessionError {
    use shm::segment::SegmentError;
    match e {
        SegmentError::Io(ref io) if shm::fdpass::is_out_of_fds(io) => {
            SessionError::TooMany("open files: the node is out of file descriptors (EMFILE/ENFILE)")
        }
        SegmentError::Io(ref io) if io.raw_os_error() == Some(libc::ENOMEM) => {
            SessionError::TooMany("segments: the node is out of memory for them (ENOMEM)")
        }
        other => SessionError::invalid("segment_size", other.to_string()),
    }
}

/// How long control operations wait for the workers to finish their part.
const WORKER_WAIT: Duration = Duration::from_secs(5);

/// Makes an app worker's link on each data-plane worker (given its index).
pub type LinkFactory<'a, S> = &'a mut dyn FnMut(u32) -> AppLink<S>;

/// The main thread's handle on the node: the barrier over the tables and the RPC queues both ways.
pub struct MainCtx<S: Seam> {
    /// The tables; read any time, written under `barrier.sync()`.
    pub barrier: MainBarrier<NodeTables>,
    /// RPC queues to the workers, by worker index.
    pub workers: Vec<RpcSender<NodeWorker<S>>>,
    from_workers: Vec<RpcReceiver<MainCtx<S>>>,
}

impl<S: Seam> MainCtx<S> {
    /// The context over `barrier`, with RPC queues to and from each worker.
    pub fn new(
        barrier: MainBarrier<NodeTables>,
        workers: Vec<RpcSender<NodeWorker<S>>>,
        from_workers: Vec<RpcReceiver<MainCtx<S>>>,
    ) -> Self {
        MainCtx { barrier, workers, from_workers }
    }

    /// The session tables (read only).
    pub fn tables(&self) -> &SessionShared {
        &self.barrier.tables().upper
    }

    /// Ships `f` to worker `w`, waiting for room in its queue.
    pub fn rpc_worker(&mut self, w: usize, f: impl FnOnce(&mut NodeWorker<S>) + Send + 'static) {
        if let Some(tx) = self.workers.get_mut(w) {
            tx.send_blocking(f);
        }
    }

    /// Runs what workers asked of the main thread; returns how many ran.
    pub fn run_worker_rpcs(&mut self) -> usize {
        let mut rx = std::mem::take(&mut self.from_workers);
        let mut n = 0;
        for r in &mut rx {
            n += r.run_pending(self, 64);
        }
        // RPCs run above may not add receivers, so putting them back is safe.
        self.from_workers = rx;
        n
    }

    /// Runs `f` on every worker with its tables at hand and collects the answers, by worker.
    ///
    /// A worker that does not answer within the wait is left out (and
    /// reported in the log): control never hangs on a stuck worker.
    pub fn on_workers<T: Send + 'static>(
        &mut self,
        f: impl Fn(&mut SessionWorker<S>, &mut S, &NetTables, &SessionShared) -> T + Send + Sync + Clone + 'static,
    ) -> Vec<T> {
        let (tx, rx) = mpsc::channel();
        let n = self.workers.len();
        for w in 0..n {
            let tx = tx.clone();
            let f = f.clone();
            self.rpc_worker(w, move |nw| {
                nw.stack.defer(Box::new(move |sw, io, net, shared| {
                    let _ = tx.send((w, f(sw, io, net, shared)));
                }))
            });
        }
        let mut out: Vec<(usize, T)> = Vec::with_capacity(n);
        let deadline = Instant::now() + WORKER_WAIT;
        while out.len() < n {
            // Workers may be waiting on us (an RPC of theirs); serve them meanwhile.
            self.run_worker_rpcs();
            match rx.recv_timeout(Duration::from_millis(5)) {
                Ok(v) => out.push(v),
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
                Err(_) => {
                    tracing::warn!("dpnode: {} of {n} workers did not answer a control request", n - out.len());
                    break;
                }
            }
        }
        out.sort_by_key(|(w, _)| *w);
        out.into_iter().map(|(_, v)| v).collect()
    }

    /// Attaches an application and creates its first worker; `link` makes its link on each data-plane worker.
    pub fn attach(
        &mut self,
        name: &str,
        opts: AttachOptions,
        kind: AppWorkerKind,
        link: LinkFactory<'_, S>,
    ) -> Result<(Handle, Handle, Arc<AppWorkerShared>), SessionError> {
        let mut made = None;
        let (app, wrk) = {
            let mut g = self.barrier.sync();
            g.upper.control.attach(name, opts.clone(), |o, app_index, wrk_index| {
                let s = AppWorkerShared::new(name, o, kind, app_index, wrk_index, 0).map_err(segment_error)?;
                let s = Arc::new(s);
                made = Some(s.clone());
                Ok(s)
            })?
        };
        let shared = made.expect("attach made the worker");
        self.add_links(&shared, link);
        Ok((app, wrk, shared))
    }

    fn add_links(&mut self, shared: &Arc<AppWorkerShared>, link: LinkFactory<'_, S>) {
        let n = self.workers.len();
        let (tx, rx) = mpsc::channel();
        for w in 0..n {
            let l = link(w as u32);
            let s = shared.clone();
            let tx = tx.clone();
            self.rpc_worker(w, move |nw| {
                nw.stack.app_add(s, l);
                let _ = tx.send(());
            });
        }
        // Wait, so that sessions for this app are never accepted before its link exists.
        let deadline = Instant::now() + WORKER_WAIT;
        let mut got = 0;
        while got < n && Instant::now() < deadline {
            self.run_worker_rpcs();
            if rx.recv_timeout(Duration::from_millis(5)).is_ok() {
                got += 1;
            }
        }
    }

    /// Tears an app worker down on every data-plane worker (its sessions are reset and freed).
    fn remove_links(&mut self, shared: &Arc<AppWorkerShared>) -> usize {
        shared.deleted.store(true, Ordering::SeqCst);
        let wrk = shared.wrk_index;
        let closed = self.on_workers(move |sw, io, net, shared| sw.app_del(io, net, shared, wrk)).into_iter().sum();
        // Servers it talked to through cut-through let go of the segments
        // they shared with it (their remaining sessions keep them until they close).
        for w in self.tables().control.app_workers() {
            w.resources.ct_forget(wrk);
        }
        closed
    }

    /// Detaches an application: its listeners go, the closes it queued
    /// before the detach are carried out (their FINs go out), then every
    /// session of every worker of it is reset and its fifos and segments
    /// are freed.
    /// Returns how many sessions were torn down.
    pub fn detach(&mut self, app: Handle) -> Result<usize, SessionError> {
        let detached = {
            let mut g = self.barrier.sync();
            g.upper.control.detach(app)?
        };
        let mut closed = 0;
        for w in &detached.workers {
            closed += self.remove_links(&w.resources);
        }
        Ok(closed)
    }

    /// Adds a worker to an application.
    pub fn app_worker_add(
        &mut self,
        app: Handle,
        link: LinkFactory<'_, S>,
    ) -> Result<(Handle, Arc<AppWorkerShared>), SessionError> {
        let mut made = None;
        let wrk = {
            let mut g = self.barrier.sync();
            let opts = g
                .upper
                .control
                .app(app.index)
                .filter(|_| g.upper.control.app_handle(app.index) == Some(app))
                .map(|a| (a.opts.clone(), a.name.clone(), a.next_worker_map()))
                .ok_or(SessionError::NotAttached)?;
            let kind = if opts.0.builtin { AppWorkerKind::Builtin } else { AppWorkerKind::External };
            g.upper.control.app_worker_add(app, |o, app_index, wrk_index| {
                let s = AppWorkerShared::new(&opts.1, o, kind, app_index, wrk_index, opts.2).map_err(segment_error)?;
                let s = Arc::new(s);
                made = Some(s.clone());
                Ok(s)
            })?
        };
        let shared = made.expect("worker add made the worker");
        self.add_links(&shared, link);
        Ok((wrk, shared))
    }

    /// Deletes an app worker (and the application with its last worker).
    pub fn app_worker_del(&mut self, app: Handle, wrk: Handle) -> Result<usize, SessionError> {
        let del = {
            let mut g = self.barrier.sync();
            g.upper.control.app_worker_del(app, wrk)?
        };
        Ok(self.remove_links(&del.worker.resources))
    }

    /// Makes app worker `wrk` of `app` listen on `ep`; returns the listener handle.
    pub fn listen(&mut self, app: Handle, wrk: Handle, ep: Endpoint) -> Result<SessionHandle, SessionError> {
        let mut g = self.barrier.sync();
        let r = g.upper.control.listen(app, wrk, ep)?;
        Ok(SessionHandle::listener(r.listener()))
    }

    /// Like [`Self::listen`], with transport options for the accepted
    /// sessions (they apply to the whole listener, which other workers of
    /// the app may join).
    pub fn listen_with(
        &mut self,
        app: Handle,
        wrk: Handle,
        ep: Endpoint,
        options: TransportOptions,
    ) -> Result<SessionHandle, SessionError> {
        options.validate()?;
        let mut g = self.barrier.sync();
        let l = g.upper.control.listen(app, wrk, ep)?.listener();
        g.upper.control.listener_set_options(l, options)?;
        Ok(SessionHandle::listener(l))
    }

    /// Like [`Self::listen_with`], with TLS (server side, `tls`) over every
    /// connection the listener accepts: a `tls://` listen. The certificate
    /// and key were loaded and checked before ([`crate::tls::TlsServer::load`]).
    pub fn listen_tls(
        &mut self,
        app: Handle,
        wrk: Handle,
        ep: Endpoint,
        options: TransportOptions,
        tls: crate::tls::TlsServer,
    ) -> Result<SessionHandle, SessionError> {
        options.validate()?;
        if ep.proto != shm::types::Proto::Tcp {
            return Err(SessionError::invalid("uri", format!("tls runs over tcp, not {}", ep.proto)));
        }
        let mut g = self.barrier.sync();
        let l = g.upper.control.listen(app, wrk, ep)?.listener();
        g.upper.control.listener_set_options(l, options)?;
        g.upper.control.listener_set_tls(l, Some(tls))?;
        Ok(SessionHandle::listener(l))
    }

    /// Like [`Self::listen_with`], with QUIC (server side, `quic`) for the
    /// peers of a UDP listener: a `quic://` listen.
    pub fn listen_quic(
        &mut self,
        app: Handle,
        wrk: Handle,
        ep: Endpoint,
        quic: crate::quic::QuicServer,
    ) -> Result<SessionHandle, SessionError> {
        if ep.proto != shm::types::Proto::Udp {
            return Err(SessionError::invalid("uri", format!("quic runs over udp, not {}", ep.proto)));
        }
        let mut g = self.barrier.sync();
        let l = g.upper.control.listen(app, wrk, ep)?.listener();
        g.upper.control.listener_set_quic(l, Some(quic))?;
        Ok(SessionHandle::listener(l))
    }

    /// Makes one of the app's listening workers own listener `listener` (its listen events go there).
    pub fn listener_set_owner(&mut self, listener: u32, wrk: Handle) -> Result<(), SessionError> {
        let mut g = self.barrier.sync();
        g.upper.control.listener_set_owner(listener, wrk)
    }

    /// Makes app worker `wrk` of `app` passive on listener `listener` (or active again);
    /// returns whether it is passive now ([`crate::control::ControlTables::listener_set_passive`]).
    pub fn listener_set_passive(
        &mut self,
        app: Handle,
        listener: u32,
        wrk: Handle,
        passive: bool,
    ) -> Result<bool, SessionError> {
        let mut g = self.barrier.sync();
        g.upper.control.listener_set_passive(app, listener, wrk, passive)
    }

    /// Stops app worker `wrk` of `app` listening on `ep`.
    pub fn unlisten(&mut self, app: Handle, wrk: Handle, ep: Endpoint) -> Result<(), SessionError> {
        let mut g = self.barrier.sync();
        g.upper.control.unlisten(app, wrk, ep).map(|_| ())
    }

    /// A listen asked for by a worker on behalf of app worker `app_wrk`.
    pub fn listen_from_worker(&mut self, app_wrk: u32, ep: Endpoint) -> Result<SessionHandle, SessionError> {
        let (app, wrk) = self.handles_of(app_wrk)?;
        self.listen(app, wrk, ep)
    }

    /// The (application, app worker) handles of app worker index `app_wrk`.
    pub fn handles_of(&self, app_wrk: u32) -> Result<(Handle, Handle), SessionError> {
        let c = &self.tables().control;
        let w = c.app_worker(app_wrk).ok_or(SessionError::NoSuchAppWorker(app_wrk))?;
        let app = c.app_handle(w.app_index).ok_or(SessionError::NotAttached)?;
        let wrk = c.app_worker_handle(app_wrk).ok_or(SessionError::NoSuchAppWorker(app_wrk))?;
        Ok((app, wrk))
    }

    /// Adds (or updates) a namespace; returns its index.
    pub fn namespace_add(
        &mut self,
        id: &str,
        secret: u64,
        fib_index: u32,
        sw_if_index: Option<u32>,
    ) -> Result<u32, SessionError> {
        let mut g = self.barrier.sync();
        g.upper.control.namespaces.add(id, secret, fib_index, sw_if_index)
    }
}
