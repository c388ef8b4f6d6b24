//! Control operations for external applications, on the main thread: attach
//! and app worker add, which besides the usual tables and segments give each
//! new app worker its message queues and a link on every data-plane
//! worker; and unlisten by listener handle, which is how an app names what
//! it listens on.
//!
//! Detach and app worker delete are the same as for builtin apps
//! ([`MainCtx::detach`], [`MainCtx::app_worker_del`]): they tear the app
//! worker's sessions down on every data-plane worker and wait for it, and
//! dropping the links drops the queue views.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use net::seam::Seam;
use shm::types::{AttachOptions, SessionHandle};

use super::MainCtx;
use crate::app_worker::{AppWorkerKind, AppWorkerShared};
use crate::error::SessionError;
use crate::external_app::{ApiStats, ExternalLink, ExternalQueues, ExternalShared};
use crate::pool::Handle;
use crate::worker::AppLink;

/// A new external app worker: what the API server keeps and what it sends to the app.
#[derive(Debug)]
pub struct ExternalWorker {
    /// The application.
    pub app: Handle,
    /// The app worker.
    pub wrk: Handle,
    /// Its index within the application.
    pub wrk_map_index: u32,
    /// What the workers and the API server share about it.
    pub ext: Arc<ExternalShared>,
    /// Its queues (the eventfd is the node's; send a duplicate).
    pub queues: ExternalQueues,
    /// Its first segment's id.
    pub segment_id: u64,
    /// Its first segment's size.
    pub segment_size: u64,
    /// A descriptor of its first segment, to pass to the app.
    pub segment_fd: OwnedFd,
}

fn segment_error(e: shm::segment::SegmentError) -> SessionError {
    super::segment_error(e)
}

impl<S: Seam> MainCtx<S> {
    /// Attaches an external application and creates its first worker, with
    /// its queues in the first segment and a link on every data-plane worker.
    pub fn attach_external(
        &mut self,
        name: &str,
        opts: AttachOptions,
        stats: &Arc<ApiStats>,
    ) -> Result<ExternalWorker, SessionError> {
        if opts.builtin {
            return Err(SessionError::UnsupportedConfig("an external application cannot be builtin".into()));
        }
        let workers = self.workers.len();
        let mut made = None;
        let (app, wrk) = {
            let mut g = self.barrier.sync();
            g.upper.control.attach(name, opts, |o, app_index, wrk_index| {
                let s = AppWorkerShared::new(name, o, AppWorkerKind::External, app_index, wrk_index, 0)
                    .map_err(segment_error)?;
                let q = ExternalQueues::alloc(&s, workers, o)?;
                let s = Arc::new(s);
                made = Some((s.clone(), q));
                Ok(s)
            })?
        };
        let (shared, queues) = made.expect("attach made the worker");
        self.start_external(app, wrk, shared, queues, stats).inspect_err(|_| {
            let _ = self.detach(app);
        })
    }

    /// Adds a worker to external application `app`.
    pub fn app_worker_add_external(
        &mut self,
        app: Handle,
        stats: &Arc<ApiStats>,
    ) -> Result<ExternalWorker, SessionError> {
        let workers = self.workers.len();
        let mut made = None;
        let wrk = {
            let mut g = self.barrier.sync();
            let control = &g.upper.control;
            let (opts, name, map) = control
                .app(app.index)
                .filter(|_| control.app_handle(app.index) == Some(app))
                .map(|a| (a.opts.clone(), a.name.clone(), a.next_worker_map()))
                .ok_or(SessionError::NotAttached)?;
            if opts.builtin {
                return Err(SessionError::UnsupportedConfig(format!("{name} is a builtin application")));
            }
            g.upper.control.app_worker_add(app, |o, app_index, wrk_index| {
                let s = AppWorkerShared::new(&name, o, AppWorkerKind::External, app_index, wrk_index, map)
                    .map_err(segment_error)?;
                let q = ExternalQueues::alloc(&s, workers, o)?;
                let s = Arc::new(s);
                made = Some((s.clone(), q));
                Ok(s)
            })?
        };
        let (shared, queues) = made.expect("worker add made the worker");
        self.start_external(app, wrk, shared, queues, stats).inspect_err(|_| {
            let _ = self.app_worker_del(app, wrk);
        })
    }

    /// Gives a new external app worker a link on every data-plane worker.
    fn start_external(
        &mut self,
        app: Handle,
        wrk: Handle,
        shared: Arc<AppWorkerShared>,
        queues: ExternalQueues,
        stats: &Arc<ApiStats>,
    ) -> Result<ExternalWorker, SessionError> {
        let (segment_id, segment_size, segment_fd) = {
            let sm = shared.segments();
            let seg = sm.segment(0).ok_or_else(|| SessionError::invalid("segment_size", "no first segment"))?;
            let fd = seg.fd().try_clone_to_owned().map_err(|e| segment_error(e.into()))?;
            (seg.id(), seg.size() as u64, fd)
        };
        let ext = Arc::new(ExternalShared::new(shared.wrk_index, &shared, segment_id, stats.clone()));
        let mut links = (0..self.workers.len())
            .map(|w| ExternalLink::new(&shared, &ext, &queues, w).map(|e| AppLink::External(Box::new(e))))
            .collect::<Result<Vec<_>, _>>()?;
        // `add_links` asks for worker 0, 1, ... in turn.
        links.reverse();
        let mut factory = |_w: u32| links.pop().expect("one link per worker");
        self.add_links(&shared, &mut factory);
        Ok(ExternalWorker {
            app,
            wrk,
            wrk_map_index: shared.wrk_map_index,
            ext,
            queues,
            segment_id,
            segment_size,
            segment_fd,
        })
    }

    /// An unlisten asked for by a worker on behalf of app worker `app_wrk`, by listener handle.
    pub fn unlisten_from_worker(&mut self, app_wrk: u32, listener: SessionHandle) -> Result<(), SessionError> {
        let (app, wrk) = self.handles_of(app_wrk)?;
        let no_such = SessionError::NoSuchListener(listener.index());
        if !listener.is_listener() {
            return Err(no_such);
        }
        let l = self.tables().control.listener(listener.index()).ok_or(no_such.clone())?;
        if l.app_index != app.index {
            return Err(no_such);
        }
        let ep = l.endpoint;
        self.unlisten(app, wrk, ep)
    }
}
