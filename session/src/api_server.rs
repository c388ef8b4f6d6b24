//! The application API socket: where external applications attach, detach
//! and add or delete app workers (VPP's app attach over the binary API /
//! `vcl` socket), served by the main thread.
//!
//! No client can lock others out ([`ApiConfig`]): a connection must send its
//! first complete message within a deadline and may not sit without an
//! application for long; at the connection cap the connection that has had
//! no application longest makes room for the new one; a connection and a
//! uid may attach only so many applications; and an attach or worker add
//! that would leave the node short of descriptors is refused as such. The
//! socket file gets the configured mode and group ([`SocketAccess`]).
//!
//! The wire format is [`shm::api`]. The server never blocks the main thread:
//! every socket is non-blocking, it reads at most [`MESSAGES_PER_SERVICE`]
//! messages per client per call, input is bounded by the largest message,
//! and output waits in a per-client queue that, once it holds more than
//! [`MAX_QUEUED_BYTES`] (or [`MAX_QUEUED_FDS`] descriptors), gets the client
//! dropped (it does not read its replies). A message whose header cannot be trusted (bad magic, version or
//! length) gets an error reply and the connection is closed; a well-framed
//! message that is bad or not allowed (unknown kind, a reply kind, an
//! application this connection did not attach) gets an error reply.
//!
//! The connection owns the app workers made through it: when it ends for any
//! reason (the process exited, was killed, closed the socket, or was
//! dropped) each of them is deleted, which resets their sessions, takes them
//! off their listeners and returns their fifos and segments; an application
//! goes with its last worker, so one attached and used by this connection
//! alone is detached. An application can have workers on several
//! connections: any connection that has a part in it may ask for its *share
//! token*, and another connection (a forked child's) adds a worker to it by
//! presenting the token (worker join). So a child that dies takes only its
//! own workers and sessions with it, and the parent and its other children
//! go on. Any worker of an application may make another passive on a
//! listener (see [`crate::app_listener`]), which is how a forked child
//! takes over accepting from a parent that listened but never accepts. A worker
//! that finds an app misbehaving ([`ExternalShared::doom`]) gets the same
//! treatment for the app's connection. The other way round, a connection
//! whose applications were all detached from the CLI is closed, so the
//! process sees end of stream.
//!
//! The server also relays what workers need the apps to know and only the
//! socket can carry: new segments (with their fds) and segments removed.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use net::seam::Seam;
use rustix::event::{PollFd, PollFlags};
use shm::api::{AttachRequest, Body, Header, Kind, Message, WorkerInfo, HEADER_LEN, MAX_BODY, WORKER_HAS_EVENTFD};
use shm::fdpass::{peer_credentials, send_with_fds};
use shm::types::{ErrorCode, SessionHandle};

use crate::error::SessionError;
use crate::external_app::{ApiStats, ExternalShared};
use crate::main_thread::{ExternalWorker, MainCtx};
use crate::pool::Handle;
use crate::snapshot::{ApiAppSnapshot, ApiWorkerSnapshot};

/// Connections served at once by default (`[api] max_connections`).
pub const MAX_CLIENTS: usize = 256;
/// Descriptors an attach or app worker add may cost the node (its first
/// segment, its eventfd, and the duplicates sent with the reply).
pub const FDS_PER_APP_WORKER: u64 = 4;
/// Reply bytes queued for one client before it is dropped for not reading them.
pub const MAX_QUEUED_BYTES: usize = 1 << 20;
/// Descriptors queued for one client (segments it has not read yet) before it is dropped.
pub const MAX_QUEUED_FDS: usize = 256;
/// Messages handled per client per [`ApiServer::service`] call.
pub const MESSAGES_PER_SERVICE: usize = 32;
/// Certificate/key slots per connection.
pub const MAX_CERT_SLOTS: usize = 16;
/// How often segments that went away are looked for.
const SEGMENT_SCAN_PERIOD: Duration = Duration::from_millis(100);

/// Who may connect to a control socket: its permission bits and group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketAccess {
    /// Permission bits (connecting needs write permission).
    pub mode: u32,
    /// Group to give the socket; `None` keeps the node's.
    pub gid: Option<u32>,
}

impl Default for SocketAccess {
    fn default() -> Self {
        SocketAccess { mode: 0o660, gid: None }
    }
}

impl SocketAccess {
    /// Sets the socket file's group and mode.
    pub fn apply(&self, path: &Path) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        if let Some(gid) = self.gid {
            std::os::unix::fs::chown(path, None, Some(gid))?;
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(self.mode))
    }
}

/// A group by name (from `/etc/group`) or number.
pub fn resolve_group(name: &str) -> Option<u32> {
    if let Ok(gid) = name.parse::<u32>() {
        return Some(gid);
    }
    let text = std::fs::read_to_string("/etc/group").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then_some(())?;
        f.nth(1)?.parse().ok()
    })
}

/// The API socket's access and limits (`[api]` in the config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// Mode and group of the socket file.
    pub access: SocketAccess,
    /// Connections served at once; past it, the connection idle longest with no application is dropped for the new one.
    pub max_connections: usize,
    /// A connection must send its first complete message within this.
    pub first_message: Duration,
    /// A connection with no application is closed after this long.
    pub idle: Duration,
    /// Applications one connection may attach.
    pub max_apps_per_connection: usize,
    /// Applications one uid may have attached (over all its connections).
    pub max_apps_per_uid: usize,
    /// Descriptors kept free for the node: an attach or worker add that would use them is refused.
    pub fd_reserve: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            access: SocketAccess::default(),
            max_connections: MAX_CLIENTS,
            first_message: Duration::from_secs(5),
            idle: Duration::from_secs(30),
            max_apps_per_connection: 64,
            max_apps_per_uid: 1024,
            fd_reserve: 128,
        }
    }
}

/// What the socket's limits did, for `show api` and `show errors`.
#[derive(Debug, Default, Clone, Copy)]
pub struct LimitCounters {
    /// Connections closed for not sending a complete first message in time.
    pub first_message_timeouts: u64,
    /// Connections closed after sitting with no application for too long.
    pub idle_timeouts: u64,
    /// Idle connections without an application dropped to make room for a new one at the connection cap.
    pub evicted: u64,
    /// Attaches refused: the connection has `max_apps_per_connection` apps.
    pub refused_per_connection: u64,
    /// Attaches refused: the uid has `max_apps_per_uid` apps.
    pub refused_per_uid: u64,
    /// Attaches and worker adds refused: not enough descriptors left.
    pub refused_descriptors: u64,
    /// Accepts that failed because the node is out of descriptors.
    pub accept_out_of_fds: u64,
}

impl LimitCounters {
    /// `(name, value, is_error)` for each.
    pub fn snapshot(&self) -> Vec<(&'static str, u64, bool)> {
        vec![
            ("api clients closed (no first message in time)", self.first_message_timeouts, true),
            ("api clients closed (idle with no application)", self.idle_timeouts, true),
            ("api clients evicted (idle, at the connection cap)", self.evicted, true),
            ("api attaches refused (apps per connection)", self.refused_per_connection, true),
            ("api attaches refused (apps per uid)", self.refused_per_uid, true),
            ("api attaches refused (descriptor budget)", self.refused_descriptors, true),
            ("api accepts failed (out of descriptors)", self.accept_out_of_fds, true),
        ]
    }
}

/// One app worker of an attached application.
struct ClientWorker {
    wrk: Handle,
    ext: Arc<ExternalShared>,
}

/// An application attached through a connection.
struct ClientApp {
    app: Handle,
    name: String,
    workers: Vec<ClientWorker>,
}

/// A message waiting to be written, with the fds that go with its first byte.
struct Outgoing {
    bytes: Vec<u8>,
    fds: Vec<OwnedFd>,
    sent: usize,
}

/// Why a connection is being dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gone {
    /// End of stream or a socket error: the process exited or closed it.
    Closed,
    /// It sent a message whose framing cannot be trusted.
    Protocol,
    /// It does not read its replies.
    Slow,
    /// One of its apps overflowed an event backlog.
    Misbehaving,
    /// Its applications were detached by the operator.
    Detached,
    /// It sent no complete first message in time, or sat too long with no application.
    Expired,
}

/// One API connection.
struct Client {
    id: u64,
    stream: UnixStream,
    pid: i32,
    uid: u32,
    rbuf: Vec<u8>,
    out: VecDeque<Outgoing>,
    out_bytes: usize,
    out_fds: usize,
    apps: Vec<ClientApp>,
    certs: Vec<Option<(Vec<u8>, Vec<u8>)>>,
    gone: Option<Gone>,
    eof: bool,
    /// When it was accepted.
    accepted: Instant,
    /// Whether a complete message has arrived.
    spoke: bool,
    /// Since when it has had no application (accept, or its last detach).
    appless_since: Option<Instant>,
}

/// What `show api` prints about a connection.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    /// Connection number.
    pub id: u64,
    /// Seconds since it was accepted.
    pub age_secs: f64,
    /// Peer process.
    pub pid: i32,
    /// Peer user.
    pub uid: u32,
    /// Its applications: (index, name, app workers).
    pub apps: Vec<(u32, String, usize)>,
    /// Reply bytes not yet taken by the client.
    pub queued_bytes: usize,
}

/// The API socket and its connections.
pub struct ApiServer {
    listener: UnixListener,
    path: PathBuf,
    clients: Vec<Client>,
    next_id: u64,
    stats: Arc<ApiStats>,
    next_scan: Instant,
    cfg: ApiConfig,
    limits: LimitCounters,
    /// Descriptors the process may have open (soft RLIMIT_NOFILE).
    fd_limit: u64,
    /// Share tokens, by application handle (made on first request, gone with the application).
    tokens: HashMap<u64, u64>,
}

impl ApiServer {
    /// Binds the socket at `path` (a stale socket file there is replaced) with the default limits.
    pub fn bind(path: &Path, stats: Arc<ApiStats>) -> io::Result<ApiServer> {
        Self::bind_with(path, stats, ApiConfig::default())
    }

    /// Binds the socket at `path` with `cfg`'s access and limits.
    pub fn bind_with(path: &Path, stats: Arc<ApiStats>, cfg: ApiConfig) -> io::Result<ApiServer> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        listener.set_nonblocking(true)?;
        cfg.access.apply(path)?;
        let fd_limit = shm::fdpass::nofile_limit().map(|(soft, _)| soft).unwrap_or(1024);
        Ok(ApiServer {
            listener,
            path: path.into(),
            clients: Vec::new(),
            next_id: 1,
            stats,
            next_scan: Instant::now(),
            cfg,
            limits: LimitCounters::default(),
            fd_limit,
            tokens: HashMap::new(),
        })
    }

    /// The socket's access and limits.
    pub fn config(&self) -> &ApiConfig {
        &self.cfg
    }

    /// What the limits did.
    pub fn limit_counters(&self) -> LimitCounters {
        self.limits
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<ApiStats> {
        &self.stats
    }

    /// Adds the descriptors to wait on (listener, connections) to `out`.
    pub fn poll_fds<'a>(&'a self, out: &mut Vec<PollFd<'a>>) {
        out.push(PollFd::new(&self.listener, PollFlags::IN));
        for c in &self.clients {
            let events = if c.out.is_empty() { PollFlags::IN } else { PollFlags::IN | PollFlags::OUT };
            out.push(PollFd::new(&c.stream, events));
        }
    }

    /// Does everything that is ready without blocking: accepts, reads and
    /// handles messages, writes replies, relays segments, detaches the apps
    /// of connections that ended. Call it every main-loop iteration.
    pub fn service<S: Seam>(&mut self, ctx: &mut MainCtx<S>) {
        self.accept();
        for i in 0..self.clients.len() {
            self.read(i);
            self.handle_messages(ctx, i);
        }
        self.relay_segments();
        self.expire(Instant::now());
        let control = &ctx.tables().control;
        self.tokens.retain(|&app, _| {
            let h = Handle::from_u64(app);
            control.app_handle(h.index) == Some(h)
        });
        for c in &mut self.clients {
            if c.gone.is_none() && c.apps.iter().any(|a| a.workers.iter().any(|w| w.ext.doomed().is_some())) {
                c.gone = Some(Gone::Misbehaving);
            }
            // Applications detached behind the connection's back (`app detach` on the CLI):
            // forget them; a connection left with none is closed, so the process learns of it.
            let had = c.apps.len();
            c.apps.retain(|a| {
                let attached = control.app_handle(a.app.index) == Some(a.app);
                if !attached {
                    tracing::info!(
                        "dpnode: api connection {} (pid {}): {:?} was detached by the operator",
                        c.id,
                        c.pid,
                        a.name
                    );
                }
                attached
            });
            if had > 0 && c.apps.is_empty() && c.gone.is_none() {
                c.gone = Some(Gone::Detached);
            }
            if c.apps.is_empty() {
                c.appless_since.get_or_insert_with(Instant::now);
            } else {
                c.appless_since = None;
            }
            write(c);
            if c.gone.is_none() && c.eof {
                c.gone = Some(Gone::Closed);
            }
            if (c.out_bytes > MAX_QUEUED_BYTES || c.out_fds > MAX_QUEUED_FDS) && c.gone.is_none() {
                c.gone = Some(Gone::Slow);
            }
        }
        let mut i = 0;
        while i < self.clients.len() {
            if self.clients[i].gone.is_some() {
                let c = self.clients.swap_remove(i);
                self.drop_client(ctx, c);
            } else {
                i += 1;
            }
        }
    }

    /// Detaches every application of every connection and closes them (node shutdown).
    pub fn close_all<S: Seam>(&mut self, ctx: &mut MainCtx<S>) {
        for mut c in std::mem::take(&mut self.clients) {
            c.gone = Some(Gone::Closed);
            self.drop_client(ctx, c);
        }
    }

    /// The connections, for `show api`.
    pub fn clients(&self) -> Vec<ClientInfo> {
        self.clients
            .iter()
            .map(|c| ClientInfo {
                id: c.id,
                age_secs: c.accepted.elapsed().as_secs_f64(),
                pid: c.pid,
                uid: c.uid,
                apps: c.apps.iter().map(|a| (a.app.index, a.name.clone(), a.workers.len())).collect(),
                queued_bytes: c.out_bytes,
            })
            .collect()
    }

    /// The connection (id, pid) that attached application `app_index`, if it is external.
    pub fn app_client(&self, app_index: u32) -> Option<(u64, i32)> {
        self.clients.iter().find(|c| c.apps.iter().any(|a| a.app.index == app_index)).map(|c| (c.id, c.pid))
    }

    /// Ids of every segment given to the app workers of application `app_index`.
    pub fn app_segment_ids(&self, app_index: u32) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .clients
            .iter()
            .flat_map(|c| c.apps.iter().filter(|a| a.app.index == app_index))
            .flat_map(|a| a.workers.iter().flat_map(|w| w.ext.segment_ids()))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The API connections of application `app_index` and, per app worker, the segments it has mapped,
    /// for `show app N`.
    pub fn describe_app(&self, app_index: u32) -> Vec<ApiAppSnapshot> {
        let mut out = Vec::new();
        for c in &self.clients {
            for a in c.apps.iter().filter(|a| a.app.index == app_index) {
                out.push(ApiAppSnapshot {
                    connection: c.id,
                    pid: c.pid,
                    uid: c.uid,
                    workers: a
                        .workers
                        .iter()
                        .map(|w| ApiWorkerSnapshot { app_worker: w.wrk.index, segments_mapped: w.ext.segment_count() })
                        .collect(),
                });
            }
        }
        out
    }

    fn accept(&mut self) {
        for _ in 0..16 {
            let stream = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if shm::fdpass::is_out_of_fds(&e) => {
                    // The connection stays in the backlog; it is tried again next round.
                    self.limits.accept_out_of_fds += 1;
                    return;
                }
                Err(e) => {
                    tracing::warn!("dpnode: api accept: {e}");
                    return;
                }
            };
            if self.clients.len() >= self.cfg.max_connections && !self.evict_one() {
                self.stats.clients_refused.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if stream.set_nonblocking(true).is_err() {
                self.stats.clients_refused.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let (pid, uid) = peer_credentials(stream.as_fd()).unwrap_or((0, u32::MAX));
            self.stats.clients_accepted.fetch_add(1, Ordering::Relaxed);
            let now = Instant::now();
            self.clients.push(Client {
                id: self.next_id,
                stream,
                pid,
                uid,
                rbuf: Vec::new(),
                out: VecDeque::new(),
                out_bytes: 0,
                out_fds: 0,
                apps: Vec::new(),
                certs: Vec::new(),
                gone: None,
                eof: false,
                accepted: now,
                spoke: false,
                appless_since: Some(now),
            });
            self.next_id += 1;
        }
    }

    /// At the connection cap: drops the connection that has had no
    /// application longest (an idle or half-sent one), so that idle
    /// connections can never lock a real application out. Returns whether
    /// there was one (connections with applications are never dropped for this).
    fn evict_one(&mut self) -> bool {
        let victim = self
            .clients
            .iter()
            .enumerate()
            .filter(|(_, c)| c.apps.is_empty() && c.gone.is_none())
            .min_by_key(|(_, c)| c.appless_since)
            .map(|(i, _)| i);
        let Some(i) = victim else { return false };
        // It has no application, so dropping it detaches nothing.
        let c = self.clients.swap_remove(i);
        self.limits.evicted += 1;
        drop(c);
        true
    }

    /// Closes connections that did not send a whole first message in time, or sat too long with no application.
    fn expire(&mut self, now: Instant) {
        for c in &mut self.clients {
            if c.gone.is_some() || !c.apps.is_empty() {
                continue;
            }
            if !c.spoke && now.duration_since(c.accepted) >= self.cfg.first_message {
                self.limits.first_message_timeouts += 1;
                c.gone = Some(Gone::Expired);
            } else if c.spoke && c.appless_since.is_some_and(|t| now.duration_since(t) >= self.cfg.idle) {
                self.limits.idle_timeouts += 1;
                c.gone = Some(Gone::Expired);
            }
        }
    }

    /// Whether the node has descriptors for one more app worker (keeping `fd_reserve` free).
    fn descriptors_left(&self) -> Result<(), String> {
        let open = shm::fdpass::open_fd_count().unwrap_or(0);
        let need = open + FDS_PER_APP_WORKER + self.cfg.fd_reserve as u64;
        if need > self.fd_limit {
            return Err(format!(
                "out of file descriptors: the node has {open} of {} open (RLIMIT_NOFILE) and keeps {} in reserve \
                 (api.fd_reserve); detach applications or raise the node's descriptor limit",
                self.fd_limit, self.cfg.fd_reserve
            ));
        }
        Ok(())
    }

    /// Reads what is there, up to one largest message beyond what is buffered.
    fn read(&mut self, i: usize) {
        let c = &mut self.clients[i];
        if c.gone.is_some() || c.eof {
            return;
        }
        let mut chunk = [0u8; 16 * 1024];
        // Plain reads: descriptors a client sends are closed by the kernel, never kept.
        while c.rbuf.len() < HEADER_LEN + MAX_BODY {
            match (&c.stream).read(&mut chunk) {
                Ok(0) => {
                    c.eof = true;
                    return;
                }
                Ok(n) => c.rbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    c.eof = true;
                    return;
                }
            }
        }
    }

    fn handle_messages<S: Seam>(&mut self, ctx: &mut MainCtx<S>, i: usize) {
        for _ in 0..MESSAGES_PER_SERVICE {
            let c = &mut self.clients[i];
            if c.gone.is_some() || c.rbuf.len() < HEADER_LEN {
                return;
            }
            let h = match Header::parse(&c.rbuf) {
                Ok(h) => h,
                Err(e) => {
                    // The stream's framing is lost: say why, then hang up.
                    self.stats.bad_messages.fetch_add(1, Ordering::Relaxed);
                    self.stats.clients_dropped_protocol.fetch_add(1, Ordering::Relaxed);
                    let text = e.to_string();
                    let m = Message::failure(Kind::ErrorReply, 0, ErrorCode::from(e), &text);
                    queue(c, &m, Vec::new());
                    write(c);
                    c.gone = Some(Gone::Protocol);
                    return;
                }
            };
            let total = HEADER_LEN + h.length as usize;
            if c.rbuf.len() < total {
                return;
            }
            let frame: Vec<u8> = c.rbuf.drain(..total).collect();
            c.spoke = true;
            self.handle(ctx, i, h, &frame[HEADER_LEN..]);
        }
    }

    fn handle<S: Seam>(&mut self, ctx: &mut MainCtx<S>, i: usize, h: Header, body: &[u8]) {
        let kind = match Kind::from_u16(h.kind) {
            Some(k) if k.is_request() => k,
            _ => {
                let text = format!("kind {:#06x} is not a request this node takes", h.kind);
                return self.fail(i, Kind::ErrorReply, h.context, ErrorCode::UnknownKind as i32, &text);
            }
        };
        let body = match Message::parse_body(kind, h.code, body) {
            Ok(b) => b,
            Err(e) => return self.fail(i, kind, h.context, ErrorCode::from(e) as i32, &e.to_string()),
        };
        match body {
            Body::Attach(a) => self.attach(ctx, i, h.context, &a),
            Body::Detach { app } => {
                let Some(a) = self.owned_app(i, app) else {
                    return self.not_yours(i, kind, h.context, "application");
                };
                let app = self.clients[i].apps.swap_remove(a);
                match ctx.detach(app.app) {
                    Ok(_) => {
                        self.stats.detaches.fetch_add(1, Ordering::Relaxed);
                        self.reply(i, kind, h.context, Body::Empty, Vec::new());
                    }
                    Err(e) => self.fail(i, kind, h.context, e.code(), &e.to_string()),
                }
            }
            Body::WorkerAdd { app } => {
                let Some(a) = self.owned_app(i, app) else {
                    return self.not_yours(i, kind, h.context, "application");
                };
                let app = self.clients[i].apps[a].app;
                if let Err(text) = self.descriptors_left() {
                    self.limits.refused_descriptors += 1;
                    return self.fail(i, kind, h.context, ErrorCode::TooMany as i32, &text);
                }
                match ctx.app_worker_add_external(app, &self.stats) {
                    Ok(w) => {
                        self.clients[i].apps[a].workers.push(ClientWorker { wrk: w.wrk, ext: w.ext.clone() });
                        self.reply_worker(i, kind, h.context, w);
                    }
                    Err(e) => self.fail(i, kind, h.context, e.code(), &e.to_string()),
                }
            }
            Body::WorkerDel { app, wrk } => {
                let Some(a) = self.owned_app(i, app) else {
                    return self.not_yours(i, kind, h.context, "application");
                };
                let Some(w) = self.clients[i].apps[a].workers.iter().position(|w| w.wrk.to_u64() == wrk) else {
                    return self.not_yours(i, kind, h.context, "app worker");
                };
                let (app_h, wrk_h) = (self.clients[i].apps[a].app, self.clients[i].apps[a].workers[w].wrk);
                match ctx.app_worker_del(app_h, wrk_h) {
                    Ok(_) => {
                        let ca = &mut self.clients[i].apps[a];
                        ca.workers.swap_remove(w);
                        if ca.workers.is_empty() {
                            // The application went with its last worker.
                            self.clients[i].apps.swap_remove(a);
                        }
                        self.reply(i, kind, h.context, Body::Empty, Vec::new());
                    }
                    Err(e) => self.fail(i, kind, h.context, e.code(), &e.to_string()),
                }
            }
            Body::Share { app } => {
                if self.owned_app(i, app).is_none() {
                    return self.not_yours(i, kind, h.context, "application");
                }
                let token = *self.tokens.entry(app).or_insert_with(share_token);
                self.reply(i, kind, h.context, Body::ShareToken { token }, Vec::new());
            }
            Body::WorkerJoin { app, token } => self.join(ctx, i, h.context, app, token),
            Body::ListenerPassive { app, listener, wrk, passive } => {
                let Some(a) = self.owned_app(i, app) else {
                    return self.not_yours(i, kind, h.context, "application");
                };
                let l = SessionHandle(listener);
                if !l.is_listener() {
                    let e = SessionError::NoSuchListener(l.index());
                    return self.fail(i, kind, h.context, e.code(), &e.to_string());
                }
                let app = self.clients[i].apps[a].app;
                match ctx.listener_set_passive(app, l.index(), Handle::from_u64(wrk), passive) {
                    Ok(_) => self.reply(i, kind, h.context, Body::Empty, Vec::new()),
                    Err(e) => self.fail(i, kind, h.context, e.code(), &e.to_string()),
                }
            }
            Body::CertKeyAdd { cert, key } => {
                let c = &mut self.clients[i];
                let slot = c.certs.iter().position(Option::is_none).or_else(|| {
                    (c.certs.len() < MAX_CERT_SLOTS).then(|| {
                        c.certs.push(None);
                        c.certs.len() - 1
                    })
                });
                match slot {
                    Some(s) => {
                        c.certs[s] = Some((cert.to_vec(), key.to_vec()));
                        self.reply(i, kind, h.context, Body::CertKeySlot { index: s as u32 }, Vec::new());
                    }
                    None => {
                        self.fail(i, kind, h.context, ErrorCode::TooMany as i32, "all certificate slots are in use")
                    }
                }
            }
            Body::CertKeyDel { index } => match self.clients[i].certs.get_mut(index as usize).filter(|s| s.is_some()) {
                Some(s) => {
                    *s = None;
                    self.reply(i, kind, h.context, Body::Empty, Vec::new());
                }
                None => self.not_yours(i, kind, h.context, "certificate slot"),
            },
            // parse_body returns only request bodies for request kinds.
            _ => self.fail(i, kind, h.context, ErrorCode::BadMessage as i32, "unexpected body"),
        }
    }

    /// Why connection `i` may not attach one more application, if it may not.
    fn attach_refusal(&mut self, i: usize) -> Option<String> {
        let c = &self.clients[i];
        if c.apps.len() >= self.cfg.max_apps_per_connection {
            self.limits.refused_per_connection += 1;
            return Some(format!(
                "this connection has {} applications attached, the most one connection may have \
                 (api.max_apps_per_connection)",
                c.apps.len()
            ));
        }
        let uid = c.uid;
        let of_uid: usize = self.clients.iter().filter(|c| c.uid == uid).map(|c| c.apps.len()).sum();
        if of_uid >= self.cfg.max_apps_per_uid {
            self.limits.refused_per_uid += 1;
            return Some(format!(
                "uid {uid} has {of_uid} applications attached, the most one user may have (api.max_apps_per_uid)"
            ));
        }
        if let Err(text) = self.descriptors_left() {
            self.limits.refused_descriptors += 1;
            return Some(text);
        }
        None
    }

    fn attach<S: Seam>(&mut self, ctx: &mut MainCtx<S>, i: usize, context: u64, a: &AttachRequest<'_>) {
        if let Some(text) = self.attach_refusal(i) {
            self.stats.attach_failures.fetch_add(1, Ordering::Relaxed);
            return self.fail(i, Kind::AttachRequest, context, ErrorCode::TooMany as i32, &text);
        }
        // The parser never sets `builtin`: an app attached over the API is external.
        let opts = a.options.clone();
        match ctx.attach_external(a.name, opts, &self.stats) {
            Ok(w) => {
                self.stats.attaches.fetch_add(1, Ordering::Relaxed);
                let c = &mut self.clients[i];
                tracing::info!(
                    "dpnode: api connection {} (pid {}) attached {:?} (app {})",
                    c.id,
                    c.pid,
                    a.name,
                    w.app.index
                );
                c.apps.push(ClientApp {
                    app: w.app,
                    name: a.name.to_string(),
                    workers: vec![ClientWorker { wrk: w.wrk, ext: w.ext.clone() }],
                });
                self.reply_worker(i, Kind::AttachRequest, context, w);
            }
            Err(e) => {
                self.stats.attach_failures.fetch_add(1, Ordering::Relaxed);
                self.fail(i, Kind::AttachRequest, context, e.code(), &e.to_string());
            }
        }
    }

    /// A worker join: a new app worker of application `app` for connection `i`, if `token` is its share token.
    fn join<S: Seam>(&mut self, ctx: &mut MainCtx<S>, i: usize, context: u64, app: u64, token: u64) {
        let kind = Kind::WorkerJoinRequest;
        let handle = Handle::from_u64(app);
        let control = &ctx.tables().control;
        let attached = control.app_handle(handle.index) == Some(handle);
        if !attached || self.tokens.get(&app) != Some(&token) {
            self.stats.join_failures.fetch_add(1, Ordering::Relaxed);
            let text = "no application with that handle shares itself with that token";
            return self.fail(i, kind, context, ErrorCode::NotYours as i32, text);
        }
        let name = control.app(handle.index).map(|a| a.name.clone()).unwrap_or_default();
        let owned = self.owned_app(i, app);
        let refusal = match owned {
            Some(_) => self.descriptors_left().err().inspect(|_| self.limits.refused_descriptors += 1),
            None => self.attach_refusal(i),
        };
        if let Some(text) = refusal {
            return self.fail(i, kind, context, ErrorCode::TooMany as i32, &text);
        }
        match ctx.app_worker_add_external(handle, &self.stats) {
            Ok(w) => {
                self.stats.joins.fetch_add(1, Ordering::Relaxed);
                let c = &mut self.clients[i];
                tracing::info!(
                    "dpnode: api connection {} (pid {}) joined {name:?} (app {}) as its app worker {}",
                    c.id,
                    c.pid,
                    handle.index,
                    w.wrk_map_index
                );
                let worker = ClientWorker { wrk: w.wrk, ext: w.ext.clone() };
                match owned {
                    Some(a) => c.apps[a].workers.push(worker),
                    None => c.apps.push(ClientApp { app: handle, name, workers: vec![worker] }),
                }
                self.reply_worker(i, kind, context, w);
            }
            Err(e) => self.fail(i, kind, context, e.code(), &e.to_string()),
        }
    }

    fn reply_worker(&mut self, i: usize, kind: Kind, context: u64, w: ExternalWorker) {
        let mut fds = vec![w.segment_fd];
        let mut flags = 0;
        if let Some(fd) = &w.queues.eventfd {
            match fd.try_clone() {
                Ok(fd) => {
                    fds.push(fd);
                    flags |= WORKER_HAS_EVENTFD;
                }
                Err(e) => tracing::warn!("dpnode: api: cannot duplicate an eventfd: {e}"),
            }
        }
        let info = WorkerInfo {
            app: w.app.to_u64(),
            wrk: w.wrk.to_u64(),
            wrk_map_index: w.wrk_map_index,
            segment_id: w.segment_id,
            segment_size: w.segment_size,
            slots: w.queues.slots,
            slot_size: w.queues.slot_size,
            flags,
            queues: w.queues.pairs.clone(),
        };
        self.reply(i, kind, context, Body::Worker(info), fds);
    }

    fn owned_app(&self, i: usize, app: u64) -> Option<usize> {
        self.clients[i].apps.iter().position(|a| a.app.to_u64() == app)
    }

    fn not_yours(&mut self, i: usize, kind: Kind, context: u64, what: &str) {
        let text = format!("no {what} with that handle was attached through this connection");
        self.fail(i, kind, context, ErrorCode::NotYours as i32, &text);
    }

    fn reply(&mut self, i: usize, request: Kind, context: u64, body: Body<'_>, fds: Vec<OwnedFd>) {
        let m = Message { kind: request.reply(), code: 0, context, body };
        queue(&mut self.clients[i], &m, fds);
    }

    fn fail(&mut self, i: usize, request: Kind, context: u64, code: i32, text: &str) {
        if code <= ErrorCode::BadMessage as i32 {
            // The protocol's own errors, not a control operation's refusal.
            self.stats.bad_messages.fetch_add(1, Ordering::Relaxed);
        }
        let m = Message { kind: request.reply(), code, context, body: Body::Failure(text) };
        queue(&mut self.clients[i], &m, Vec::new());
    }

    /// Passes new segments to the apps, and tells them about removed ones.
    fn relay_segments(&mut self) {
        let scan = Instant::now() >= self.next_scan;
        if scan {
            self.next_scan = Instant::now() + SEGMENT_SCAN_PERIOD;
        }
        for c in &mut self.clients {
            let mut msgs: Vec<(Body<'static>, Vec<OwnedFd>)> = Vec::new();
            for w in c.apps.iter().flat_map(|a| &a.workers) {
                for s in w.ext.take_announced() {
                    msgs.push((Body::SegmentAdd { id: s.id, size: s.size }, vec![s.fd]));
                }
                if scan {
                    for id in w.ext.gone_segments() {
                        msgs.push((Body::SegmentDel { id }, Vec::new()));
                    }
                }
            }
            for (body, fds) in msgs {
                let kind = if fds.is_empty() { Kind::SegmentDel } else { Kind::SegmentAdd };
                queue(c, &Message { kind, code: 0, context: 0, body }, fds);
            }
        }
    }

    fn drop_client<S: Seam>(&mut self, ctx: &mut MainCtx<S>, c: Client) {
        let why = c.gone.unwrap_or(Gone::Closed);
        let counter = match why {
            Gone::Misbehaving => &self.stats.detaches_misbehaving,
            _ => &self.stats.detaches_client_gone,
        };
        if why == Gone::Slow {
            self.stats.clients_dropped_slow.fetch_add(1, Ordering::Relaxed);
        }
        for a in &c.apps {
            let reason = match why {
                Gone::Misbehaving => {
                    let r = a.workers.iter().find_map(|w| w.ext.doomed());
                    format!("misbehaving ({})", r.unwrap_or_else(|| "another app of its connection".into()))
                }
                Gone::Closed => "connection closed".into(),
                Gone::Protocol => "protocol error".into(),
                Gone::Slow => "not reading its replies".into(),
                Gone::Detached => "its applications were detached".into(),
                Gone::Expired => "expired".into(),
            };
            // Workers of the app that other connections hold keep it alive: delete only ours.
            let all = ctx.tables().control.app(a.app.index).map_or(0, |x| x.worker_count());
            if all > a.workers.len() && ctx.tables().control.app_handle(a.app.index) == Some(a.app) {
                let mut n = 0;
                for w in &a.workers {
                    match ctx.app_worker_del(a.app, w.wrk) {
                        Ok(closed) => {
                            n += closed;
                            self.stats.workers_deleted_client_gone.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => tracing::warn!("dpnode: api connection {}: worker del {:?}: {e}", c.id, a.name),
                    }
                }
                tracing::info!(
                    "dpnode: api connection {} (pid {}): {reason}; deleted its {} app workers of {:?} \
                     (the app stays), {n} sessions closed",
                    c.id,
                    c.pid,
                    a.workers.len(),
                    a.name
                );
                continue;
            }
            match ctx.detach(a.app) {
                Ok(n) => {
                    counter.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        "dpnode: api connection {} (pid {}): {reason}; detached {:?}, {n} sessions closed",
                        c.id,
                        c.pid,
                        a.name
                    );
                }
                Err(SessionError::NotAttached) => {}
                Err(e) => tracing::warn!("dpnode: api connection {}: detach {:?}: {e}", c.id, a.name),
            }
        }
        // Dropping `c` closes the socket and any fds still queued for it.
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A fresh share token: 64 random bits from the kernel (the clock and the pid if that fails).
fn share_token() -> u64 {
    let mut b = [0u8; 8];
    // SAFETY: getrandom writes at most 8 bytes into a live 8-byte buffer.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), 8, 0) };
    if n == 8 {
        return u64::from_le_bytes(b);
    }
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    (t ^ u64::from(std::process::id()).rotate_left(32)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Queues a message (and its fds) for a client.
fn queue(c: &mut Client, m: &Message<'_>, fds: Vec<OwnedFd>) {
    let mut bytes = Vec::with_capacity(HEADER_LEN + 64);
    m.emit(&mut bytes);
    c.out_bytes += bytes.len();
    c.out_fds += fds.len();
    c.out.push_back(Outgoing { bytes, fds, sent: 0 });
}

/// Writes queued messages until the socket would block.
fn write(c: &mut Client) {
    while let Some(m) = c.out.front_mut() {
        let fds: Vec<BorrowedFd<'_>> = if m.sent == 0 { m.fds.iter().map(AsFd::as_fd).collect() } else { Vec::new() };
        match send_with_fds(c.stream.as_fd(), &m.bytes[m.sent..], &fds) {
            Ok(n) => {
                if m.sent == 0 {
                    // The descriptors went with these bytes; the kernel holds them now.
                    c.out_fds -= m.fds.len();
                    m.fds.clear();
                }
                m.sent += n;
                c.out_bytes -= n;
                if m.sent == m.bytes.len() {
                    c.out.pop_front();
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                // The peer is gone; what is queued can never be delivered.
                c.out.clear();
                c.out_bytes = 0;
                c.out_fds = 0;
                c.eof = true;
                return;
            }
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn error_codes_match_the_session_layer() {
        let all = crate::error::every_error();
        // ErrorCode::ALL lists the session layer's codes first, in SessionError's order.
        assert!(ErrorCode::ALL.len() > all.len());
        for (e, &c) in all.iter().zip(ErrorCode::ALL) {
            assert_eq!(e.code(), c as i32, "{e:?} and {c:?} disagree");
        }
    }
}
