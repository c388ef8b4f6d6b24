//! The session layer's control tables and the operations that change them.
//!
//! Applications, app workers and app listeners refer to each other by index,
//! and listeners are also reachable from the lookup tables. Every control
//! operation (attach, detach, app worker add/del, listen, unlisten) must
//! leave all of these agreeing with each other, so they live together in
//! [`ControlTables`] and change only through its methods. The main thread
//! owns the tables and runs these methods while the data-plane workers are
//! parked at the barrier; the methods themselves are plain `&mut self`. This
//! is the part of VPP's `application.c`, `application_worker.c` and
//! `session.c` (`vnet_application_attach`, `vnet_application_detach`,
//! `vnet_app_worker_add_del`, `vnet_listen`, `vnet_unlisten`) that decides
//! what exists; creating segments, queues and listen sessions is left to the
//! caller, who gets back what was created or freed.
//!
//! Differences from VPP worth knowing:
//! - a proxy app gets, at attach, one listener per proxied transport on
//!   [`Endpoint::proxy`], registered in its FIB's global table (and its
//!   namespace's local table when it also has local scope); every worker of
//!   the app joins it, and it goes away with the app;
//! - any IPv4 address may be listened on (the namespace's interface
//!   addresses are not enforced yet); port 0 is reserved for proxies;
//! - namespaces can be added and updated but not deleted.

use std::collections::HashMap;
use std::net::IpAddr;

use shm::types::{AttachOptions, Endpoint, Proto, Scope, TransportOptions};

use crate::app_listener::AppListener;
use crate::application::{check_name, validate_attach, AppWorker, AppWorkerDetail, Application};
use crate::error::SessionError;
use crate::listener_tables::ListenerTables;
use crate::namespace::NamespaceTable;
use crate::snapshot::{
    AppDetailSnapshot, AppDetailWorkerSnapshot, AppSnapshot, ListenerSnapshot, ListenerWorkerSnapshot,
};

pub use crate::pool::Handle;
use crate::pool::Pool;

/// Builds a new app worker's resources from (options, app index, app worker index).
///
/// Called before anything is created, so if it fails the operation changes
/// nothing. The integrator allocates the worker's segment manager and event
/// queue here.
pub trait MakeResources<R>: FnOnce(&AttachOptions, u32, u32) -> Result<R, SessionError> {}

impl<R, F> MakeResources<R> for F where F: FnOnce(&AttachOptions, u32, u32) -> Result<R, SessionError> {}

/// What [`ControlTables::listen`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenResult {
    /// A new listener was created and registered in the lookup tables.
    Created(u32),
    /// The worker joined the app's existing listener on that endpoint.
    Joined(u32),
}

impl ListenResult {
    /// The listener index, either way.
    pub fn listener(self) -> u32 {
        match self {
            Self::Created(l) | Self::Joined(l) => l,
        }
    }
}

/// What [`ControlTables::unlisten`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnlistenResult {
    /// The worker left; other workers still listen on this listener.
    Left(u32),
    /// It was the last worker: the listener is gone from the pool and the tables.
    Removed(AppListener),
}

/// Everything [`ControlTables::detach`] freed, for the caller to release.
#[derive(Debug)]
pub struct Detached<R> {
    /// The application, as it was.
    pub app: Application,
    /// Its workers, with their resources.
    pub workers: Vec<AppWorker<R>>,
    /// Its listeners, already out of the lookup tables.
    pub listeners: Vec<AppListener>,
}

/// Everything [`ControlTables::app_worker_del`] freed, for the caller to release.
#[derive(Debug)]
pub struct WorkerDel<R> {
    /// The worker, with its resources.
    pub worker: AppWorker<R>,
    /// Listeners that had no worker left and were removed.
    pub listeners: Vec<AppListener>,
    /// The application, if this was its last worker.
    pub app: Option<Application>,
}

/// Applications, app workers, app listeners, namespaces and listener tables.
#[derive(Debug)]
pub struct ControlTables<R> {
    /// Namespaces; adding or updating one never invalidates other tables.
    pub namespaces: NamespaceTable,
    lookup: ListenerTables,
    apps: Pool<Application>,
    app_by_name: HashMap<String, u32>,
    app_workers: Pool<AppWorker<R>>,
    listeners: Pool<AppListener>,
}

impl<R> Default for ControlTables<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R> ControlTables<R> {
    /// Tables with the default namespace and nothing else.
    pub fn new() -> Self {
        Self {
            namespaces: NamespaceTable::new(),
            lookup: ListenerTables::new(),
            apps: Pool::new("applications"),
            app_by_name: HashMap::new(),
            app_workers: Pool::new("app workers"),
            listeners: Pool::new("listeners"),
        }
    }

    /// Attaches an application and creates its first worker (map index 0); returns their handles.
    ///
    /// If `make_resources` fails, nothing is created. A proxy app also gets
    /// its proxy listeners here.
    pub fn attach(
        &mut self,
        name: &str,
        opts: AttachOptions,
        make_resources: impl MakeResources<R>,
    ) -> Result<(Handle, Handle), SessionError> {
        check_name("name", name)?;
        if self.app_by_name.contains_key(name) {
            return Err(SessionError::AlreadyAttached(name.to_owned()));
        }
        validate_attach(&opts)?;
        let ns_index = self.namespaces.validate(&opts.namespace, opts.secret)?;
        let (scope, fib) = (opts.scope(), self.fib_of(ns_index));
        let proxies: Vec<Endpoint> = opts.proxy.iter().map(Endpoint::proxy).collect();
        for ep in &proxies {
            self.check_free(scope, fib, ns_index, ep)?;
        }
        let app = self.apps.insert_with(|index| Ok(Application::new(index, name.to_owned(), ns_index, opts)))?;
        let wrk = match self.worker_alloc(app.index, make_resources) {
            Ok(wrk) => wrk,
            Err(e) => {
                self.apps.remove(app.index);
                return Err(e);
            }
        };
        self.app_by_name.insert(name.to_owned(), app.index);
        for ep in proxies {
            // Checked free above, and nothing else changed since.
            self.listener_create(app.index, 0, ep)?;
        }
        Ok((app, wrk))
    }

    /// Detaches an application: removes all its listeners and workers and returns them.
    pub fn detach(&mut self, app: Handle) -> Result<Detached<R>, SessionError> {
        let app_index = self.resolve_app(app)?;
        let listeners =
            self.app_listener_indices(app_index).into_iter().filter_map(|l| self.listener_free(l)).collect();
        let maps: Vec<u32> =
            self.apps.get(app_index).map(|a| a.workers().map(|(map, _)| map).collect()).unwrap_or_default();
        let workers = maps.into_iter().filter_map(|map| self.worker_free(app_index, map)).collect();
        let app = self.app_free(app_index).ok_or(SessionError::NotAttached)?;
        Ok(Detached { app, workers, listeners })
    }

    /// Adds a worker to an application; it joins the app's proxy listeners.
    pub fn app_worker_add(
        &mut self,
        app: Handle,
        make_resources: impl MakeResources<R>,
    ) -> Result<Handle, SessionError> {
        let app_index = self.resolve_app(app)?;
        let wrk = self.worker_alloc(app_index, make_resources)?;
        let map = self.app_workers.get(wrk.index).map_or(0, |w| w.wrk_map_index);
        if let Some(app) = self.apps.get(app_index) {
            for (ep, &l) in &app.listeners {
                if ep.is_proxy() {
                    if let Some(listener) = self.listeners.get_mut(l) {
                        listener.add_worker(map);
                    }
                }
            }
        }
        Ok(wrk)
    }

    /// Deletes a worker: it leaves every listener (listeners left without workers are removed),
    /// and if it was the last worker the application is freed too.
    pub fn app_worker_del(&mut self, app: Handle, wrk: Handle) -> Result<WorkerDel<R>, SessionError> {
        let app_index = self.resolve_app(app)?;
        let map = self.resolve_worker(app_index, wrk)?.wrk_map_index;
        let listeners =
            self.app_listener_indices(app_index).into_iter().filter_map(|l| self.listener_del_worker(l, map)).collect();
        let worker = self.worker_free(app_index, map).ok_or(SessionError::NoSuchAppWorker(wrk.index))?;
        let last = self.apps.get(app_index).is_some_and(|a| a.worker_count() == 0);
        let app = if last { self.app_free(app_index) } else { None };
        Ok(WorkerDel { worker, listeners, app })
    }

    /// Makes a worker listen on an endpoint, creating the app's listener or joining it.
    ///
    /// Fails with AddressInUse if another app has this exact endpoint in a
    /// table this app's scope uses (the fib's global table for global scope,
    /// the namespace's local table for local scope).
    pub fn listen(&mut self, app: Handle, wrk: Handle, ep: Endpoint) -> Result<ListenResult, SessionError> {
        let app_index = self.resolve_app(app)?;
        let map = self.resolve_worker(app_index, wrk)?.wrk_map_index;
        let existing = self.apps.get(app_index).and_then(|a| a.listeners.get(&ep).copied());
        if let Some(l) = existing {
            let listener = self.listeners.get_mut(l).ok_or(SessionError::NoSuchListener(l))?;
            return if listener.add_worker(map) {
                Ok(ListenResult::Joined(l))
            } else {
                Err(SessionError::AlreadyListening(ep.to_string()))
            };
        }
        if ep.port == 0 {
            return Err(SessionError::invalid("port", format!("{ep}: port 0 is reserved for proxy listeners")));
        }
        self.listener_create(app_index, map, ep).map(ListenResult::Created)
    }

    /// Makes a worker stop listening on an endpoint; the listener goes when its last worker does.
    pub fn unlisten(&mut self, app: Handle, wrk: Handle, ep: Endpoint) -> Result<UnlistenResult, SessionError> {
        let app_index = self.resolve_app(app)?;
        let map = self.resolve_worker(app_index, wrk)?.wrk_map_index;
        let l = self
            .apps
            .get(app_index)
            .and_then(|a| a.listeners.get(&ep).copied())
            .filter(|&l| self.listeners.get(l).is_some_and(|x| x.has_worker(map)))
            .ok_or_else(|| SessionError::NotListening(ep.to_string()))?;
        Ok(match self.listener_del_worker(l, map) {
            Some(removed) => UnlistenResult::Removed(removed),
            None => UnlistenResult::Left(l),
        })
    }

    /// Picks the app worker for the next accept on a listener (accept rotor): (app index, app worker index).
    pub fn listener_select_worker(&mut self, listener: u32) -> Option<(u32, u32)> {
        let l = self.listeners.get_mut(listener)?;
        let map = l.select_worker()?;
        let app = self.apps.get(l.app_index)?;
        Some((app.index, app.worker(map)?))
    }

    /// Sets the transport options of the sessions a listener accepts.
    pub fn listener_set_options(&mut self, listener: u32, options: TransportOptions) -> Result<(), SessionError> {
        self.listeners.get_mut(listener).ok_or(SessionError::NoSuchListener(listener))?.options = options;
        Ok(())
    }

    /// Layers TLS with `tls` over the connections a listener accepts.
    pub fn listener_set_tls(&mut self, listener: u32, tls: Option<crate::tls::TlsServer>) -> Result<(), SessionError> {
        self.listeners.get_mut(listener).ok_or(SessionError::NoSuchListener(listener))?.tls = tls;
        Ok(())
    }

    /// Runs QUIC with `quic` for the peers a (UDP) listener gets.
    pub fn listener_set_quic(
        &mut self,
        listener: u32,
        quic: Option<crate::quic::QuicServer>,
    ) -> Result<(), SessionError> {
        self.listeners.get_mut(listener).ok_or(SessionError::NoSuchListener(listener))?.quic = quic;
        Ok(())
    }

    /// Makes one of the listening workers the owner of a listener's listen session.
    pub fn listener_set_owner(&mut self, listener: u32, wrk: Handle) -> Result<(), SessionError> {
        let no_listener = SessionError::NoSuchListener(listener);
        let app_index = self.listeners.get(listener).ok_or(no_listener.clone())?.app_index;
        let map = self.resolve_worker(app_index, wrk)?.wrk_map_index;
        let l = self.listeners.get_mut(listener).ok_or(no_listener)?;
        if l.set_owner(map) {
            Ok(())
        } else {
            Err(SessionError::NotListening(l.endpoint.to_string()))
        }
    }

    /// Makes app worker `wrk` of `app` passive on listener `listener` (it gets
    /// sessions only when no active worker listens), or active again; any
    /// worker of the app may ask this of any other. Returns whether it is passive now.
    pub fn listener_set_passive(
        &mut self,
        app: Handle,
        listener: u32,
        wrk: Handle,
        passive: bool,
    ) -> Result<bool, SessionError> {
        let app_index = self.resolve_app(app)?;
        let map = self.resolve_worker(app_index, wrk)?.wrk_map_index;
        let l = self
            .listeners
            .get_mut(listener)
            .filter(|l| l.app_index == app_index)
            .ok_or(SessionError::NoSuchListener(listener))?;
        l.set_passive(map, passive).ok_or_else(|| SessionError::NotListening(l.endpoint.to_string()))
    }

    /// Finds the listener for `ip:port`.
    ///
    /// With `local_first` (an app connecting from namespace `ns`), the
    /// namespace's local table is tried before fib `fib`'s global table;
    /// without it (a packet from the network), only the global table is.
    pub fn lookup_listener(
        &self,
        fib: u32,
        ns: u32,
        proto: Proto,
        ip: IpAddr,
        port: u16,
        local_first: bool,
    ) -> Option<u32> {
        local_first
            .then(|| self.lookup.lookup_local(ns, proto, ip, port))
            .flatten()
            .or_else(|| self.lookup.lookup_global(fib, proto, ip, port))
    }

    /// The listener lookup tables (read only: they change with listen and unlisten).
    pub fn listener_tables(&self) -> &ListenerTables {
        &self.lookup
    }

    /// The application at an index.
    pub fn app(&self, index: u32) -> Option<&Application> {
        self.apps.get(index)
    }

    /// The current handle of an application.
    pub fn app_handle(&self, index: u32) -> Option<Handle> {
        self.apps.handle(index)
    }

    /// The application with this name.
    pub fn app_by_name(&self, name: &str) -> Option<&Application> {
        self.app_by_name.get(name).and_then(|&i| self.apps.get(i))
    }

    /// All applications, by index.
    pub fn apps(&self) -> impl Iterator<Item = &Application> {
        self.apps.iter()
    }

    /// The app worker at an index.
    pub fn app_worker(&self, index: u32) -> Option<&AppWorker<R>> {
        self.app_workers.get(index)
    }

    /// The resources of the app worker at an index, mutably.
    pub fn app_worker_resources_mut(&mut self, index: u32) -> Option<&mut R> {
        self.app_workers.get_mut(index).map(|w| &mut w.resources)
    }

    /// The current handle of an app worker.
    pub fn app_worker_handle(&self, index: u32) -> Option<Handle> {
        self.app_workers.handle(index)
    }

    /// All app workers, by index.
    pub fn app_workers(&self) -> impl Iterator<Item = &AppWorker<R>> {
        self.app_workers.iter()
    }

    /// The listener at an index.
    pub fn listener(&self, index: u32) -> Option<&AppListener> {
        self.listeners.get(index)
    }

    /// All listeners, by index.
    pub fn listeners(&self) -> impl Iterator<Item = &AppListener> {
        self.listeners.iter()
    }

    /// Number of attached applications.
    pub fn app_count(&self) -> usize {
        self.apps.len()
    }

    /// Number of app workers.
    pub fn app_worker_count(&self) -> usize {
        self.app_workers.len()
    }

    /// Number of listeners.
    pub fn listener_count(&self) -> usize {
        self.listeners.len()
    }

    /// `show app`: every application, by index.
    pub fn apps_snapshot(&self) -> Vec<AppSnapshot> {
        self.apps()
            .map(|app| AppSnapshot {
                index: app.index,
                name: app.name.clone(),
                namespace: self.ns_name(app.ns_index).to_string(),
                builtin: app.opts.builtin,
            })
            .collect()
    }

    /// `show app server`: every listener, by index.
    pub fn listeners_snapshot(&self) -> Vec<ListenerSnapshot> {
        self.listeners().map(|l| self.listener_snapshot(l)).collect()
    }

    fn listener_snapshot(&self, l: &AppListener) -> ListenerSnapshot {
        ListenerSnapshot {
            index: l.index,
            endpoint: l.endpoint,
            app: self.apps.get(l.app_index).map_or("?", |a| a.name.as_str()).to_string(),
            workers: l
                .workers()
                .iter()
                .map(|&map| ListenerWorkerSnapshot { map, passive: l.is_passive(map) })
                .collect(),
            scope: l.scope,
            owner: l.owner(),
        }
    }

    fn resolve_app(&self, app: Handle) -> Result<u32, SessionError> {
        self.apps.get_checked(app).map(|a| a.index).ok_or(SessionError::NotAttached)
    }

    fn resolve_worker(&self, app_index: u32, wrk: Handle) -> Result<&AppWorker<R>, SessionError> {
        self.app_workers
            .get_checked(wrk)
            .filter(|w| w.app_index == app_index)
            .ok_or(SessionError::NoSuchAppWorker(wrk.index))
    }

    fn fib_of(&self, ns_index: u32) -> u32 {
        self.namespaces.get(ns_index).map_or(0, |ns| ns.fib_index)
    }

    fn ns_name(&self, ns_index: u32) -> &str {
        self.namespaces.get(ns_index).map_or("?", |ns| ns.id.as_str())
    }

    fn app_listener_indices(&self, app_index: u32) -> Vec<u32> {
        self.apps
            .get(app_index)
            .map(|a| {
                let mut listeners: Vec<u32> = a.listeners.values().copied().collect();
                listeners.sort_unstable();
                listeners
            })
            .unwrap_or_default()
    }

    /// AddressInUse if `ep` is taken in a table `scope` would register it in.
    fn check_free(&self, scope: Scope, fib: u32, ns: u32, ep: &Endpoint) -> Result<(), SessionError> {
        let taken = (scope.global && self.lookup.global_entry(fib, ep).is_some())
            || (scope.local && self.lookup.local_entry(ns, ep).is_some());
        if taken {
            Err(SessionError::AddressInUse(ep.to_string()))
        } else {
            Ok(())
        }
    }

    fn worker_alloc(&mut self, app_index: u32, make_resources: impl MakeResources<R>) -> Result<Handle, SessionError> {
        let app = self.apps.get_mut(app_index).ok_or(SessionError::NotAttached)?;
        let wrk_map_index = app.next_worker_map();
        let wrk = self.app_workers.insert_with(|index| {
            Ok(AppWorker { index, app_index, wrk_map_index, resources: make_resources(&app.opts, app_index, index)? })
        })?;
        app.add_worker_map(wrk.index);
        Ok(wrk)
    }

    /// Unmaps and frees one worker; listeners are the caller's business.
    fn worker_free(&mut self, app_index: u32, map: u32) -> Option<AppWorker<R>> {
        let wrk = self.apps.get_mut(app_index)?.del_worker_map(map)?;
        self.app_workers.remove(wrk)
    }

    fn app_free(&mut self, app_index: u32) -> Option<Application> {
        let app = self.apps.remove(app_index)?;
        self.app_by_name.remove(&app.name);
        Some(app)
    }

    fn listener_create(&mut self, app_index: u32, map: u32, ep: Endpoint) -> Result<u32, SessionError> {
        let app = self.apps.get(app_index).ok_or(SessionError::NotAttached)?;
        let (scope, ns) = (app.scope, app.ns_index);
        let fib = self.fib_of(ns);
        let lookup = &mut self.lookup;
        let l = self.listeners.insert_with(|index| {
            let listener = AppListener::new(index, app_index, ep, scope, fib, ns, map);
            listener_register(lookup, &listener)?;
            Ok(listener)
        })?;
        if let Some(app) = self.apps.get_mut(app_index) {
            app.listeners.insert(ep, l.index);
        }
        Ok(l.index)
    }

    /// Takes a worker off a listener; frees and returns the listener if that was its last worker.
    fn listener_del_worker(&mut self, l: u32, map: u32) -> Option<AppListener> {
        let last = self.listeners.get_mut(l)?.del_worker(map);
        if last {
            self.listener_free(l)
        } else {
            None
        }
    }

    /// Removes a listener from the pool, the lookup tables and its app.
    fn listener_free(&mut self, l: u32) -> Option<AppListener> {
        let listener = self.listeners.remove(l)?;
        listener_unregister(&mut self.lookup, &listener);
        if let Some(app) = self.apps.get_mut(listener.app_index) {
            app.listeners.remove(&listener.endpoint);
        }
        Some(listener)
    }
}

impl<R: AppWorkerDetail> ControlTables<R> {
    /// `show app <index> [verbose]`: options, workers and listeners of one application.
    pub fn app_detail_snapshot(&self, index: u32) -> Result<AppDetailSnapshot, SessionError> {
        let app = self.apps.get(index).ok_or(SessionError::NoSuchApp(index))?;
        let o = &app.opts;
        let mut listeners: Vec<&AppListener> = app.listeners.values().filter_map(|&l| self.listeners.get(l)).collect();
        listeners.sort_by_key(|l| l.index);
        Ok(AppDetailSnapshot {
            index: app.index,
            name: app.name.clone(),
            namespace: self.ns_name(app.ns_index).to_string(),
            ns_index: app.ns_index,
            scope: app.scope,
            builtin: o.builtin,
            segment_size: o.segment_size,
            add_segment_size: o.add_segment_size,
            prealloc_fifo_pairs: o.prealloc_fifo_pairs,
            rx_fifo_size: o.rx_fifo_size,
            tx_fifo_size: o.tx_fifo_size,
            event_queue_size: o.event_queue_size,
            use_eventfd: o.use_eventfd,
            tls_engine: o.tls_engine,
            proxy: o.proxy.iter().collect(),
            workers: app
                .workers()
                .map(|(map, wrk)| AppDetailWorkerSnapshot {
                    map,
                    app_worker: wrk,
                    resources: self.app_workers.get(wrk).and_then(|w| w.resources.detail()),
                })
                .collect(),
            listeners: listeners.into_iter().map(|l| self.listener_snapshot(l)).collect(),
        })
    }
}

/// Registers a listener in the tables its scope names, all or nothing.
fn listener_register(lookup: &mut ListenerTables, l: &AppListener) -> Result<(), SessionError> {
    if l.scope.global {
        lookup.add_global(l.fib_index, &l.endpoint, l.index)?;
    }
    if l.scope.local {
        if let Err(e) = lookup.add_local(l.ns_index, &l.endpoint, l.index) {
            lookup.del_global(l.fib_index, &l.endpoint, l.index);
            return Err(e);
        }
    }
    Ok(())
}

fn listener_unregister(lookup: &mut ListenerTables, l: &AppListener) {
    if l.scope.global {
        lookup.del_global(l.fib_index, &l.endpoint, l.index);
    }
    if l.scope.local {
        lookup.del_local(l.ns_index, &l.endpoint, l.index);
    }
}

#[cfg(test)]
mod test {
    use shm::types::ProxySet;
    use std::cell::Cell;
    use std::rc::Rc;

    use proptest::prelude::*;

    use super::*;
    use crate::listener_tables::parse_uri;

    /// A worker resource that counts how many are alive.
    #[derive(Debug)]
    struct Res {
        live: Rc<Cell<usize>>,
        label: String,
    }

    impl Drop for Res {
        fn drop(&mut self) {
            self.live.set(self.live.get() - 1);
        }
    }

    impl AppWorkerDetail for Res {
        fn detail(&self) -> Option<crate::snapshot::AppWorkerResourcesSnapshot> {
            Some(crate::snapshot::AppWorkerResourcesSnapshot {
                segment_sizes: vec![1 << 20],
                fifo_pairs_in_use: self.label.len(),
                rx_fifo_size: 4096,
                tx_fifo_size: 8192,
                sessions_open: 0,
                fifo_alloc_failures: 0,
                ct_clients: 0,
                ct_pairs: 0,
            })
        }
    }

    struct Fixture {
        t: ControlTables<Res>,
        live: Rc<Cell<usize>>,
        made: Rc<Cell<usize>>,
    }

    type Make = Box<dyn FnOnce(&AttachOptions, u32, u32) -> Result<Res, SessionError>>;

    impl Fixture {
        fn new() -> Self {
            let mut t = ControlTables::new();
            t.namespaces.add("blue", 42, 0, None).unwrap();
            t.namespaces.add("red", 7, 5, Some(2)).unwrap();
            Self { t, live: Rc::default(), made: Rc::default() }
        }

        fn make(&self) -> Make {
            let (live, made) = (self.live.clone(), self.made.clone());
            Box::new(move |_, app, wrk| {
                live.set(live.get() + 1);
                made.set(made.get() + 1);
                Ok(Res { live, label: format!("segments for app {app} wrk {wrk}") })
            })
        }

        fn attach(&mut self, name: &str, opts: AttachOptions) -> Result<(Handle, Handle), SessionError> {
            let make = self.make();
            self.t.attach(name, opts, make)
        }

        fn worker_add(&mut self, app: Handle) -> Handle {
            let make = self.make();
            self.t.app_worker_add(app, make).unwrap()
        }

        fn listen(&mut self, app: Handle, wrk: Handle, uri: &str) -> Result<ListenResult, SessionError> {
            self.t.listen(app, wrk, ep(uri))
        }

        /// Asserts that nothing is left: no apps, workers, listeners, table entries or resources.
        fn assert_empty(&self) {
            let t = &self.t;
            assert_eq!((t.app_count(), t.app_worker_count(), t.listener_count()), (0, 0, 0));
            assert!(t.app_by_name.is_empty());
            assert!(t.lookup.is_empty());
            assert_eq!(t.lookup.table_count(), 0);
            assert_eq!(self.live.get(), 0);
        }
    }

    fn ep(uri: &str) -> Endpoint {
        parse_uri(uri).unwrap()
    }

    fn scoped(global: bool, local: bool) -> AttachOptions {
        AttachOptions { scope: Scope { global, local }, ..AttachOptions::default() }
    }

    fn in_ns(id: &str, secret: u64) -> AttachOptions {
        AttachOptions { namespace: id.into(), secret, ..AttachOptions::default() }
    }

    fn proxy_tcp() -> AttachOptions {
        AttachOptions { proxy: ProxySet::TCP, ..AttachOptions::default() }
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 18, 0, 2));

    /// Checks that apps, workers, listeners and tables all agree.
    fn check_invariants<R>(t: &ControlTables<R>) {
        let mut entries = 0;
        for l in t.listeners() {
            let app = t.app(l.app_index).expect("listener's app is attached");
            assert_eq!(app.listeners.get(&l.endpoint), Some(&l.index));
            assert!(!l.workers().is_empty());
            assert!(l.workers().iter().all(|&m| app.worker(m).is_some()));
            assert!(l.has_worker(l.owner()));
            assert_eq!(l.scope, app.scope);
            if l.scope.global {
                assert_eq!(t.lookup.global_entry(l.fib_index, &l.endpoint), Some(l.index));
                entries += 1;
            }
            if l.scope.local {
                assert_eq!(t.lookup.local_entry(l.ns_index, &l.endpoint), Some(l.index));
                entries += 1;
            }
        }
        assert_eq!(t.lookup.len(), entries);
        for app in t.apps() {
            assert!(app.worker_count() > 0);
            assert_eq!(t.app_by_name.get(&app.name), Some(&app.index));
            for (map, wrk) in app.workers() {
                let w = t.app_worker(wrk).expect("mapped worker exists");
                assert_eq!((w.app_index, w.wrk_map_index), (app.index, map));
            }
            for (e, &l) in &app.listeners {
                assert_eq!(t.listener(l).map(|l| l.endpoint), Some(*e));
            }
        }
        let mapped: usize = t.apps().map(Application::worker_count).sum();
        assert_eq!(t.app_worker_count(), mapped);
        assert_eq!(t.app_by_name.len(), t.app_count());
    }

    #[test]
    fn attach_creates_app_and_first_worker() {
        let mut f = Fixture::new();
        let (app, wrk) = f.attach("echo", AttachOptions::default()).unwrap();
        let a = f.t.app(app.index).unwrap();
        assert_eq!((a.name.as_str(), a.ns_index, a.scope), ("echo", 0, Scope::GLOBAL));
        assert_eq!(a.workers().collect::<Vec<_>>(), [(0, wrk.index)]);
        assert_eq!(f.t.app_worker(wrk.index).unwrap().wrk_map_index, 0);
        assert_eq!(f.t.app_by_name("echo").unwrap().index, app.index);
        assert_eq!(f.live.get(), 1);
        check_invariants(&f.t);
    }

    #[test]
    fn attach_errors_create_nothing() {
        let mut f = Fixture::new();
        f.attach("echo", AttachOptions::default()).unwrap();
        let rx = AttachOptions { rx_fifo_size: 1000, ..AttachOptions::default() };
        let cases = [
            ("echo", AttachOptions::default(), SessionError::AlreadyAttached("echo".into())),
            ("x", in_ns("green", 0), SessionError::InvalidNamespace("green".into())),
            ("x", in_ns("blue", 41), SessionError::WrongNamespaceSecret("blue".into())),
            ("x", rx, SessionError::invalid("rx_fifo_size", "1000 is outside 4k..=64m, a power of two")),
            ("", AttachOptions::default(), SessionError::invalid("name", "\"\" must not be empty")),
        ];
        for (name, opts, want) in cases {
            assert_eq!(f.attach(name, opts), Err(want));
        }
        let unsupported = AttachOptions { proxy: ProxySet::UDP, ..scoped(false, true) };
        assert!(matches!(f.attach("x", unsupported), Err(SessionError::UnsupportedConfig(_))));
        assert_eq!((f.t.app_count(), f.made.get()), (1, 1));
        check_invariants(&f.t);
    }

    #[test]
    fn failed_resources_roll_back() {
        let mut f = Fixture::new();
        let nomem = || SessionError::invalid("segment_size", "no memory");
        let attached = f.t.attach("echo", AttachOptions::default(), |_, _, _| Err(nomem()));
        assert_eq!(attached, Err(nomem()));
        f.assert_empty();
        let (app, _) = f.attach("echo", AttachOptions::default()).unwrap();
        assert_eq!(f.t.app_worker_add(app, |_, _, _| Err(nomem())), Err(nomem()));
        assert_eq!(f.t.app_worker_count(), 1);
        check_invariants(&f.t);
    }

    #[test]
    fn namespace_scopes_attach_and_tables() {
        let mut f = Fixture::new();
        let (app, wrk) = f.attach("r", in_ns("red", 7)).unwrap();
        assert_eq!(f.t.app(app.index).unwrap().ns_index, 2);
        let l = f.listen(app, wrk, "tcp://0.0.0.0/80").unwrap().listener();
        assert_eq!(f.t.lookup_listener(5, 2, Proto::Tcp, IP, 80, false), Some(l));
        assert_eq!(f.t.lookup_listener(0, 0, Proto::Tcp, IP, 80, false), None);
        // Moving the namespace to another fib leaves the listener where it was registered.
        f.t.namespaces.add("red", 7, 6, None).unwrap();
        assert_eq!(f.t.lookup_listener(5, 2, Proto::Tcp, IP, 80, false), Some(l));
        f.t.unlisten(app, wrk, ep("tcp://0.0.0.0/80")).unwrap();
        assert!(f.t.lookup.is_empty());
        f.t.detach(app).unwrap();
        f.assert_empty();
    }

    #[test]
    fn not_attached_and_stale_handles() {
        let mut f = Fixture::new();
        let (a, wa) = f.attach("a", AttachOptions::default()).unwrap();
        f.t.detach(a).unwrap();
        let (b, wb) = f.attach("b", AttachOptions::default()).unwrap();
        // Same slots, new generations.
        assert_eq!((a.index, wa.index), (b.index, wb.index));
        assert_ne!(a, b);
        let e = ep("tcp://0.0.0.0/80");
        assert_eq!(f.t.detach(a).unwrap_err(), SessionError::NotAttached);
        assert_eq!(f.t.listen(a, wb, e), Err(SessionError::NotAttached));
        assert_eq!(f.t.unlisten(a, wb, e), Err(SessionError::NotAttached));
        assert_eq!(f.t.app_worker_del(a, wb).unwrap_err(), SessionError::NotAttached);
        let make = f.make();
        assert_eq!(f.t.app_worker_add(a, make).unwrap_err(), SessionError::NotAttached);
        assert_eq!(f.t.listen(b, wa, e), Err(SessionError::NoSuchAppWorker(wa.index)));
        let never = Handle { index: 99, generation: 0 };
        assert_eq!(f.t.detach(never).unwrap_err(), SessionError::NotAttached);
        assert_eq!(f.t.app_handle(b.index), Some(b));
        assert_eq!(f.t.app_worker_handle(wb.index), Some(wb));
        assert_eq!(Handle::from_u64(b.to_u64()), b);
        assert_eq!(f.t.app(b.index).unwrap().name, "b");
        check_invariants(&f.t);
    }

    #[test]
    fn worker_of_another_app_is_refused() {
        let mut f = Fixture::new();
        let (a, _) = f.attach("a", AttachOptions::default()).unwrap();
        let (_, wb) = f.attach("b", AttachOptions::default()).unwrap();
        let err = SessionError::NoSuchAppWorker(wb.index);
        assert_eq!(f.listen(a, wb, "tcp://0.0.0.0/80"), Err(err.clone()));
        assert_eq!(f.t.app_worker_del(a, wb).unwrap_err(), err);
        check_invariants(&f.t);
    }

    #[test]
    fn second_worker_joins_listener() {
        let mut f = Fixture::new();
        let (app, w0) = f.attach("echo", AttachOptions::default()).unwrap();
        let w1 = f.worker_add(app);
        assert_eq!(f.t.app_worker(w1.index).unwrap().wrk_map_index, 1);
        let l = match f.listen(app, w0, "tcp://0.0.0.0/7").unwrap() {
            ListenResult::Created(l) => l,
            other => panic!("{other:?}"),
        };
        assert_eq!(f.listen(app, w1, "tcp://0.0.0.0/7"), Ok(ListenResult::Joined(l)));
        assert_eq!(f.listen(app, w1, "tcp://0.0.0.0/7"), Err(SessionError::AlreadyListening("tcp://0.0.0.0/7".into())));
        assert_eq!(f.t.listener(l).unwrap().workers(), [0, 1]);
        assert_eq!((f.t.listener_count(), f.t.lookup.len()), (1, 1));
        check_invariants(&f.t);
    }

    #[test]
    fn address_in_use_across_apps() {
        let mut f = Fixture::new();
        let (a, wa) = f.attach("a", AttachOptions::default()).unwrap();
        f.listen(a, wa, "tcp://0.0.0.0/80").unwrap();
        let in_use = Err(SessionError::AddressInUse("tcp://0.0.0.0/80".into()));
        // Same fib: the default namespace, and "blue" which shares fib 0.
        let (b, wb) = f.attach("b", AttachOptions::default()).unwrap();
        assert_eq!(f.listen(b, wb, "tcp://0.0.0.0/80"), in_use);
        let (blue, wblue) = f.attach("blue", in_ns("blue", 42)).unwrap();
        assert_eq!(f.listen(blue, wblue, "tcp://0.0.0.0/80"), in_use);
        // Other address, protocol, table or fib: no conflict.
        f.listen(b, wb, "tcp://198.18.0.2/80").unwrap();
        f.listen(b, wb, "udp://0.0.0.0/80").unwrap();
        let (local, wlocal) = f.attach("local", scoped(false, true)).unwrap();
        f.listen(local, wlocal, "tcp://0.0.0.0/80").unwrap();
        let (red, wred) = f.attach("red", in_ns("red", 7)).unwrap();
        f.listen(red, wred, "tcp://0.0.0.0/80").unwrap();
        // A local listener conflicts with another local one in the same namespace only.
        let (both, wboth) = f.attach("both", scoped(true, true)).unwrap();
        assert_eq!(f.listen(both, wboth, "tcp://0.0.0.0/80"), in_use);
        f.listen(both, wboth, "tcp://0.0.0.0/81").unwrap();
        let (local2, wlocal2) = f.attach("local2", scoped(false, true)).unwrap();
        assert_eq!(
            f.listen(local2, wlocal2, "tcp://0.0.0.0/81"),
            Err(SessionError::AddressInUse("tcp://0.0.0.0/81".into()))
        );
        // A failed local registration must not leave the global one behind.
        f.listen(local2, wlocal2, "tcp://0.0.0.0/82").unwrap();
        assert_eq!(
            f.listen(both, wboth, "tcp://0.0.0.0/82"),
            Err(SessionError::AddressInUse("tcp://0.0.0.0/82".into()))
        );
        assert_eq!(f.t.lookup.global_entry(0, &ep("tcp://0.0.0.0/82")), None);
        check_invariants(&f.t);
    }

    #[test]
    fn unlisten_rules() {
        let mut f = Fixture::new();
        let (app, w0) = f.attach("echo", AttachOptions::default()).unwrap();
        let w1 = f.worker_add(app);
        let e = ep("udp://0.0.0.0/53");
        let not = Err(SessionError::NotListening("udp://0.0.0.0/53".into()));
        assert_eq!(f.t.unlisten(app, w0, e), not);
        let l = f.t.listen(app, w0, e).unwrap().listener();
        assert_eq!(f.t.unlisten(app, w1, e), not);
        f.t.listen(app, w1, e).unwrap();
        assert_eq!(f.t.unlisten(app, w0, e), Ok(UnlistenResult::Left(l)));
        assert_eq!(f.t.unlisten(app, w0, e), not);
        match f.t.unlisten(app, w1, e) {
            Ok(UnlistenResult::Removed(removed)) => {
                assert_eq!((removed.index, removed.endpoint), (l, e))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!((f.t.listener_count(), f.t.lookup.len()), (0, 0));
        assert!(f.t.app(app.index).unwrap().listeners.is_empty());
        check_invariants(&f.t);
    }

    #[test]
    fn accept_rotor_round_robin() {
        let mut f = Fixture::new();
        let (app, w0) = f.attach("echo", AttachOptions::default()).unwrap();
        let (w1, w2) = (f.worker_add(app), f.worker_add(app));
        let l = f.listen(app, w0, "tcp://0.0.0.0/7").unwrap().listener();
        for w in [w2, w1] {
            f.listen(app, w, "tcp://0.0.0.0/7").unwrap();
        }
        let mut picks = |n: usize| -> Vec<u32> {
            (0..n)
                .map(|_| {
                    f.t.listener_select_worker(l)
                        .map(|(a, w)| {
                            assert_eq!(a, app.index);
                            w
                        })
                        .unwrap()
                })
                .collect()
        };
        let (i0, i1, i2) = (w0.index, w1.index, w2.index);
        assert_eq!(picks(4), [i0, i1, i2, i0]);
        f.t.unlisten(app, w1, ep("tcp://0.0.0.0/7")).unwrap();
        let mut picks = |n: usize| -> Vec<u32> { (0..n).map(|_| f.t.listener_select_worker(l).unwrap().1).collect() };
        assert_eq!(picks(4), [i2, i0, i2, i0]);
        assert_eq!(f.t.listener_select_worker(99), None);
    }

    #[test]
    fn scope_rules() {
        let mut f = Fixture::new();
        let (local, wl) = f.attach("local", scoped(false, true)).unwrap();
        let (global, wg) = f.attach("none-given", scoped(false, false)).unwrap();
        let (both, wb) = f.attach("both", scoped(true, true)).unwrap();
        assert_eq!(f.t.app(global.index).unwrap().scope, Scope::GLOBAL);
        let ll = f.listen(local, wl, "tcp://0.0.0.0/1").unwrap().listener();
        let lg = f.listen(global, wg, "tcp://0.0.0.0/2").unwrap().listener();
        let lb = f.listen(both, wb, "tcp://0.0.0.0/3").unwrap().listener();
        let find = |port, local_first| f.t.lookup_listener(0, 0, Proto::Tcp, IP, port, local_first);
        // From the network: global table only.
        assert_eq!((find(1, false), find(2, false), find(3, false)), (None, Some(lg), Some(lb)));
        // From an app: local table first, then global.
        assert_eq!((find(1, true), find(2, true), find(3, true)), (Some(ll), Some(lg), Some(lb)));
        assert_eq!(f.t.lookup.lookup_local(0, Proto::Tcp, IP, 2), None);
        assert_eq!((f.t.lookup.global_len(), f.t.lookup.local_len()), (2, 2));
        // Local tables are per namespace.
        assert_eq!(f.t.lookup_listener(0, 1, Proto::Tcp, IP, 1, true), None);
        check_invariants(&f.t);
    }

    #[test]
    fn proxy_listens_everywhere() {
        let mut f = Fixture::new();
        let (p, w0) = f.attach("proxy", proxy_tcp()).unwrap();
        let proxy = *f.t.app(p.index).unwrap().listeners.get(&Endpoint::proxy(Proto::Tcp)).unwrap();
        let find = |t: &ControlTables<Res>, proto, ip, port| t.lookup_listener(0, 0, proto, ip, port, false);
        assert_eq!(find(&f.t, Proto::Tcp, IP, 443), Some(proxy));
        assert_eq!(find(&f.t, Proto::Tcp, IpAddr::from([8, 8, 8, 8]), 1), Some(proxy));
        assert_eq!(find(&f.t, Proto::Udp, IP, 443), None);
        assert_eq!(f.t.lookup_listener(5, 0, Proto::Tcp, IP, 443, false), None);
        // A real listener wins over the proxy.
        let (echo, we) = f.attach("echo", AttachOptions::default()).unwrap();
        let l = f.listen(echo, we, "tcp://0.0.0.0/7").unwrap().listener();
        assert_eq!(find(&f.t, Proto::Tcp, IP, 7), Some(l));
        // Port 0 belongs to proxies.
        assert_eq!(
            f.listen(echo, we, "udp://0.0.0.0/0"),
            Err(SessionError::invalid("port", "udp://0.0.0.0/0: port 0 is reserved for proxy listeners"))
        );
        // One tcp proxy per fib; refused before any resource is made.
        let made = f.made.get();
        assert_eq!(f.attach("proxy2", proxy_tcp()), Err(SessionError::AddressInUse("tcp://0.0.0.0/0".into())));
        assert_eq!(f.made.get(), made);
        // New workers take accepts for the proxy too; deleting the first keeps it alive.
        let w1 = f.worker_add(p);
        assert_eq!(f.t.listener(proxy).unwrap().workers(), [0, 1]);
        let del = f.t.app_worker_del(p, w0).unwrap();
        assert!(del.listeners.is_empty() && del.app.is_none());
        assert_eq!(find(&f.t, Proto::Tcp, IP, 443), Some(proxy));
        assert_eq!(f.t.listener_select_worker(proxy), Some((p.index, w1.index)));
        check_invariants(&f.t);
        f.t.detach(p).unwrap();
        assert_eq!(find(&f.t, Proto::Tcp, IP, 443), None);
        check_invariants(&f.t);
    }

    #[test]
    fn proxy_with_local_scope_registers_locally_too() {
        let mut f = Fixture::new();
        let opts = AttachOptions { proxy: ProxySet::UDP, ..scoped(true, true) };
        let (p, _) = f.attach("p", opts).unwrap();
        let l = f.t.app(p.index).unwrap().listeners[&Endpoint::proxy(Proto::Udp)];
        assert_eq!(f.t.lookup.lookup_local(0, Proto::Udp, IP, 9), Some(l));
        assert_eq!(f.t.lookup.lookup_global(0, Proto::Udp, IP, 9), Some(l));
    }

    #[test]
    fn detach_frees_everything() {
        let mut f = Fixture::new();
        let (app, w0) = f.attach("p", AttachOptions { proxy: ProxySet::UDP, ..scoped(true, true) }).unwrap();
        let (w1, w2) = (f.worker_add(app), f.worker_add(app));
        for (w, uri) in [(w0, "tcp://0.0.0.0/80"), (w1, "tcp://0.0.0.0/80"), (w2, "udp://198.18.0.2/53")] {
            f.listen(app, w, uri).unwrap();
        }
        let (other, wo) = f.attach("other", AttachOptions::default()).unwrap();
        f.listen(other, wo, "tcp://0.0.0.0/81").unwrap();
        assert_eq!(f.live.get(), 4);
        let d = f.t.detach(app).unwrap();
        assert_eq!(d.app.name, "p");
        assert_eq!(d.workers.len(), 3);
        let mut eps: Vec<String> = d.listeners.iter().map(|l| l.endpoint.to_string()).collect();
        eps.sort();
        assert_eq!(eps, ["tcp://0.0.0.0/80", "udp://0.0.0.0/0", "udp://198.18.0.2/53"]);
        assert_eq!(f.live.get(), 4, "resources are handed back, not dropped");
        drop(d);
        assert_eq!(f.live.get(), 1);
        check_invariants(&f.t);
        assert_eq!((f.t.app_count(), f.t.listener_count(), f.t.lookup.len()), (1, 1, 1));
        f.t.detach(other).unwrap();
        f.assert_empty();
        assert!(f.attach("p", AttachOptions::default()).is_ok(), "name is free again");
    }

    #[test]
    fn worker_del_frees_listeners_then_app() {
        let mut f = Fixture::new();
        let (app, w0) = f.attach("echo", AttachOptions::default()).unwrap();
        let (w1, w2) = (f.worker_add(app), f.worker_add(app));
        let shared = f.listen(app, w0, "tcp://0.0.0.0/80").unwrap().listener();
        f.listen(app, w1, "tcp://0.0.0.0/80").unwrap();
        f.t.listener_set_owner(shared, w1).unwrap();
        let only_w1 = f.listen(app, w1, "udp://0.0.0.0/53").unwrap().listener();
        f.listen(app, w2, "udp://0.0.0.0/54").unwrap();

        let del = f.t.app_worker_del(app, w1).unwrap();
        assert_eq!(del.worker.index, w1.index);
        assert_eq!(del.listeners.iter().map(|l| l.index).collect::<Vec<_>>(), [only_w1]);
        assert!(del.app.is_none());
        drop(del);
        let l = f.t.listener(shared).unwrap();
        assert_eq!((l.workers(), l.owner()), (&[0][..], 0));
        assert_eq!(f.live.get(), 2);
        check_invariants(&f.t);
        assert_eq!(f.t.app_worker_del(app, w1).unwrap_err(), SessionError::NoSuchAppWorker(w1.index));

        // A new worker reuses the free map index 1.
        let w3 = f.worker_add(app);
        assert_eq!(f.t.app_worker(w3.index).unwrap().wrk_map_index, 1);
        for w in [w0, w2] {
            assert!(f.t.app_worker_del(app, w).unwrap().app.is_none());
        }
        let last = f.t.app_worker_del(app, w3).unwrap();
        assert_eq!(last.app.as_ref().map(|a| a.name.as_str()), Some("echo"));
        drop(last);
        f.assert_empty();
        assert_eq!(f.t.detach(app).unwrap_err(), SessionError::NotAttached);
    }

    #[test]
    fn passive_workers_and_their_errors() {
        let mut f = Fixture::new();
        let (app, w0) = f.attach("master", AttachOptions::default()).unwrap();
        let w1 = f.worker_add(app);
        let (other, wo) = f.attach("other", AttachOptions::default()).unwrap();
        let l = f.listen(app, w0, "tcp://0.0.0.0/80").unwrap().listener();
        let lo = f.listen(other, wo, "tcp://0.0.0.0/81").unwrap().listener();
        f.listen(app, w1, "tcp://0.0.0.0/80").unwrap();
        // The joined worker makes the first one passive: accepts go to it alone.
        assert_eq!(f.t.listener_set_passive(app, l, w0, true), Ok(true));
        let picks: Vec<u32> = (0..4).map(|_| f.t.listener_select_worker(l).unwrap().1).collect();
        assert_eq!(picks, [w1.index; 4]);
        let workers = f.t.listeners_snapshot().into_iter().find(|s| s.index == l).map(|s| s.workers);
        let passive =
            [ListenerWorkerSnapshot { map: 0, passive: true }, ListenerWorkerSnapshot { map: 1, passive: false }];
        assert_eq!(workers, Some(passive.to_vec()), "worker 0 is passive");
        assert_eq!(f.t.listener_set_passive(app, 77, w0, true), Err(SessionError::NoSuchListener(77)));
        assert_eq!(f.t.listener_set_passive(app, lo, w0, true), Err(SessionError::NoSuchListener(lo)), "not its app's");
        assert_eq!(f.t.listener_set_passive(app, l, wo, true), Err(SessionError::NoSuchAppWorker(wo.index)));
        let w2 = f.worker_add(app);
        let not = SessionError::NotListening("tcp://0.0.0.0/80".into());
        assert_eq!(f.t.listener_set_passive(app, l, w2, true), Err(not));
        // Active again, and then no other worker can push it aside.
        assert_eq!(f.t.listener_set_passive(app, l, w0, false), Ok(false));
        assert_eq!(f.t.listener_set_passive(app, l, w0, true), Ok(false));
        // The active worker leaves: the listener stays with the other.
        f.t.app_worker_del(app, w1).unwrap();
        assert_eq!(f.t.listener(l).unwrap().workers(), [0]);
        check_invariants(&f.t);
    }

    #[test]
    fn set_owner_errors() {
        let mut f = Fixture::new();
        let (app, w0) = f.attach("echo", AttachOptions::default()).unwrap();
        let w1 = f.worker_add(app);
        let (_, wo) = f.attach("other", AttachOptions::default()).unwrap();
        let l = f.listen(app, w0, "tcp://0.0.0.0/80").unwrap().listener();
        assert_eq!(f.t.listener_set_owner(77, w0), Err(SessionError::NoSuchListener(77)));
        assert_eq!(f.t.listener_set_owner(l, wo), Err(SessionError::NoSuchAppWorker(wo.index)));
        assert_eq!(f.t.listener_set_owner(l, w1), Err(SessionError::NotListening("tcp://0.0.0.0/80".into())));
        f.listen(app, w1, "tcp://0.0.0.0/80").unwrap();
        f.t.listener_set_owner(l, w1).unwrap();
        assert_eq!(f.t.listener(l).unwrap().owner(), 1);
    }

    #[test]
    fn snapshots_for_the_cli() {
        let mut f = Fixture::new();
        let (app, w0) = f.attach("echo-server", AttachOptions::builtin()).unwrap();
        f.worker_add(app);
        f.attach("client", in_ns("blue", 42)).unwrap();
        f.listen(app, w0, "tcp://0.0.0.0/7").unwrap();

        let apps = f.t.apps_snapshot();
        let rows: Vec<(u32, &str, &str, bool)> =
            apps.iter().map(|a| (a.index, a.name.as_str(), a.namespace.as_str(), a.builtin)).collect();
        assert_eq!(rows, [(0, "echo-server", "default", true), (1, "client", "blue", false)]);

        let servers = f.t.listeners_snapshot();
        assert_eq!(servers.len(), 1);
        let l = &servers[0];
        assert_eq!(
            (l.endpoint.to_string(), l.app.as_str(), l.scope, l.owner),
            ("tcp://0.0.0.0/7".into(), "echo-server", Scope::GLOBAL, 0)
        );
        assert_eq!(l.workers, [ListenerWorkerSnapshot { map: 0, passive: false }]);

        let d = f.t.app_detail_snapshot(app.index).unwrap();
        assert_eq!((d.segment_size, d.add_segment_size), (32 << 20, 0));
        assert_eq!((d.rx_fifo_size, d.tx_fifo_size, d.event_queue_size), (64 << 10, 64 << 10, 2048));
        assert_eq!((d.scope, d.builtin, d.namespace.as_str()), (Scope::GLOBAL, true, "default"));
        assert_eq!(d.workers.iter().map(|w| (w.map, w.app_worker)).collect::<Vec<_>>(), [(0, 0), (1, 1)]);
        // The fixture's resources report their label's length as the fifo pairs in use.
        let label = "segments for app 0 wrk 1".len();
        assert_eq!(d.workers[1].resources.as_ref().map(|r| r.fifo_pairs_in_use), Some(label));
        assert_eq!(d.listeners, servers);
        assert!(d.proxy.is_empty());
        assert_eq!(f.t.app_detail_snapshot(9), Err(SessionError::NoSuchApp(9)));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Attach { name: u8, ns: u8, global: bool, local: bool, proxy: bool },
        Detach(usize),
        WorkerAdd(usize),
        WorkerDel(usize, usize),
        Listen(usize, usize, u8),
        Unlisten(usize, usize, u8),
        Select(u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..4u8, 0..3u8, any::<bool>(), any::<bool>(), any::<bool>())
                .prop_map(|(name, ns, global, local, proxy)| Op::Attach { name, ns, global, local, proxy }),
            any::<usize>().prop_map(Op::Detach),
            any::<usize>().prop_map(Op::WorkerAdd),
            (any::<usize>(), any::<usize>()).prop_map(|(a, w)| Op::WorkerDel(a, w)),
            (any::<usize>(), any::<usize>(), 0..4u8).prop_map(|(a, w, e)| Op::Listen(a, w, e)),
            (any::<usize>(), any::<usize>(), 0..4u8).prop_map(|(a, w, e)| Op::Unlisten(a, w, e)),
            (0..8u32).prop_map(Op::Select),
        ]
    }

    proptest! {
        /// Any sequence of operations keeps the tables consistent, and detaching what is left frees everything.
        #[test]
        fn random_operations_keep_tables_consistent(ops in proptest::collection::vec(op(), 1..80)) {
            let mut f = Fixture::new();
            // Every handle ever given out, stale ones included.
            let (mut apps, mut wrks) = (Vec::<Handle>::new(), Vec::<Handle>::new());
            let pick = |v: &[Handle], i: usize| v.get(i % v.len().max(1)).copied();
            let eps = ["tcp://0.0.0.0/80", "tcp://198.18.0.2/80", "udp://0.0.0.0/53", "tcp://0.0.0.0/0"];
            for op in ops {
                match op {
                    Op::Attach { name, ns, global, local, proxy } => {
                        let (id, secret) = [("", 0), ("blue", 42), ("red", 7)][ns as usize];
                        let opts = AttachOptions {
                            proxy: ProxySet { tcp: proxy, udp: false },
                            scope: Scope { global, local },
                            ..in_ns(id, secret)
                        };
                        if let Ok((a, w)) = f.attach(&format!("app{name}"), opts) {
                            apps.push(a);
                            wrks.push(w);
                        }
                    }
                    Op::Detach(a) => {
                        if let Some(a) = pick(&apps, a) {
                            let _ = f.t.detach(a);
                        }
                    }
                    Op::WorkerAdd(a) => {
                        if let Some(a) = pick(&apps, a) {
                            let make = f.make();
                            if let Ok(w) = f.t.app_worker_add(a, make) {
                                wrks.push(w);
                            }
                        }
                    }
                    Op::WorkerDel(a, w) => {
                        if let (Some(a), Some(w)) = (pick(&apps, a), pick(&wrks, w)) {
                            let _ = f.t.app_worker_del(a, w);
                        }
                    }
                    Op::Listen(a, w, e) | Op::Unlisten(a, w, e) => {
                        let a = pick(&apps, a);
                        // Half the time one of the app's own workers, else any handle ever seen.
                        let own: Vec<Handle> = a
                            .and_then(|a| f.t.app(a.index))
                            .map(|app| app.workers().filter_map(|(_, w)| f.t.app_worker_handle(w)).collect())
                            .unwrap_or_default();
                        let w = if w % 2 == 0 { pick(&own, w / 2) } else { pick(&wrks, w / 2) };
                        if let (Some(a), Some(w)) = (a, w) {
                            let e = ep(eps[e as usize]);
                            if matches!(op, Op::Listen(..)) {
                                let _ = f.t.listen(a, w, e);
                            } else {
                                let _ = f.t.unlisten(a, w, e);
                            }
                        }
                    }
                    Op::Select(l) => {
                        if let Some((a, w)) = f.t.listener_select_worker(l) {
                            prop_assert_eq!(f.t.app_worker(w).map(|w| w.app_index), Some(a));
                        }
                    }
                }
                check_invariants(&f.t);
                prop_assert_eq!(f.live.get(), f.t.app_worker_count());
            }
            let live: Vec<Handle> = f.t.apps().filter_map(|a| f.t.app_handle(a.index)).collect();
            for a in live {
                f.t.detach(a).unwrap();
            }
            f.assert_empty();
        }
    }
}
