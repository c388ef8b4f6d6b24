//! CLI commands of the session layer: `show app ...`, `show session ...`,
//! `app ns ...`, `app detach`, and `test echo server|client ...`.

use std::fmt::Write as _;

use serde::Serialize;
use session::snapshot::{
    ApiAppSnapshot, AppDetailSnapshot, AppSnapshot, AppWorkerResourcesSnapshot, AppWorkerSnapshot, BuiltinAppSnapshot,
    ConnSnapshot, ListenerSnapshot, ListenerWorkerSnapshot, SessionSnapshot, TcpStatsSnapshot,
};
use shm::types::SessionHandle;
use shm::types::TransportProto;

use crate::apps::{self, AppSpec, Kind};
use crate::cli::{CliError, Job};
use crate::runtime::Runtime;

type CliResult = Result<String, CliError>;

fn err<T>(msg: impl Into<String>) -> Result<T, CliError> {
    Err(CliError(msg.into()))
}

/// Help lines for these commands.
pub const HELP: &str = "\
  show app [server|client|verbose|ns|INDEX [verbose]]   applications, listeners, connects, namespaces
  show api                  API socket: connections of external apps, their apps, counters
  show session [verbose]    sessions of every worker
  show tcp stats            TCP counters (all workers) and connections by state
  show tls                  TLS handshakes ok and failed by reason, bytes (all workers)
  show quic                 QUIC handshakes, streams, failures by reason, bytes (all workers)
  app ns add id ID secret N [sw_if_index N | interface NAME]   add or update a namespace
  app detach NAME|INDEX     detach an application (its sessions are reset, its segments freed)
  app listen|unlisten NAME|INDEX URI   make an application's first worker (stop) listen on URI
                            (tls://ADDR/PORT cert FILE key FILE [alpn A,B]: TLS over its connections)
  test echo server uri URI [name N] [scope global|local|both] [proxy tcp|udp|both]
                            [namespace ID secret N] [fifo-size SIZE]
  test echo client uri URI [mode bulk|rr|cps] [sessions N] [bytes SIZE] [chunk SIZE] [window N]
                            [connections N] [duration S] [timeout S] [scope ...] [namespace ID secret N]
                            [fifo-size SIZE] [mss N] [cc newreno|cubic] [no-delay on]
                            bulk: stream BYTES per session (or for DURATION); rr: one CHUNK in flight
                            per session (transactions/s, p50/p99); cps: each session connects, echoes one
                            CHUNK and closes, CONNECTIONS in all (default 1000) or for DURATION;
                            runs as a job (other commands are served meanwhile)
  test http server uri URI [name N] [scope ...] [fifo-size SIZE]   a builtin HTTP/1.1 server (GET / answers a static page)
                            URI tls://ADDR/PORT: TLS over TCP; servers take cert FILE key FILE, clients
                            ca FILE (default: built-in web roots), server-name NAME, insecure on; all alpn A,B
                            URI quic://ADDR/PORT (echo apps): QUIC over UDP, the same TLS words; the client
                            takes streams N (streams per connection, opened with the connection as parent)";

/// What `show app ...` shows, one variant per form of the command.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum AppView {
    /// `show app`: every application.
    Apps(Vec<AppRow>),
    /// `show app server`: every listener.
    Listeners(Vec<ListenerSnapshot>),
    /// `show app client`: sessions apps opened with connect.
    Clients(Vec<SessionSnapshot>),
    /// `show app ns`: namespaces.
    Namespaces(Vec<NamespaceRow>),
    /// `show app INDEX [verbose]` and `show app verbose`.
    Detail {
        /// Each app asked for.
        apps: Vec<AppDetailView>,
        /// Verbose: options, resources, listeners and what its workers report.
        #[serde(skip)]
        verbose: bool,
    },
}

/// A row of `show app`: the app and, for an external one, its API connection.
#[derive(Debug, Serialize)]
pub struct AppRow {
    /// The app.
    #[serde(flatten)]
    pub app: AppSnapshot,
    /// The API connection (id, pid) that attached it, if external and still connected.
    pub api_connection: Option<ApiConnectionRow>,
}

/// Which API connection attached an external app.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ApiConnectionRow {
    /// The connection's id.
    pub id: u64,
    /// The peer's pid.
    pub pid: i32,
}

/// A row of `show app ns`.
#[derive(Debug, Serialize)]
pub struct NamespaceRow {
    /// Index in the namespace table.
    pub index: u32,
    /// Its id.
    pub id: String,
    /// Its secret.
    pub secret: u64,
    /// Its FIB.
    pub fib: u32,
    /// The interface it is bound to, if any (a name, or `sw_if_index N` for one that is gone).
    pub interface: Option<String>,
}

/// `show app INDEX [verbose]`: the control tables' view, the API server's and the workers'.
#[derive(Debug, Serialize)]
pub struct AppDetailView {
    /// Options, workers and listeners.
    #[serde(flatten)]
    pub detail: AppDetailSnapshot,
    /// Its API connections (an external app).
    pub api: Vec<ApiAppSnapshot>,
    /// What each of its app workers reports on each data-plane worker (verbose only).
    pub on_workers: Vec<OnWorker>,
}

/// An app worker's report from one data-plane worker.
#[derive(Debug, Serialize)]
pub struct OnWorker {
    /// The data-plane worker.
    pub worker: usize,
    /// The app worker (pool index).
    pub app_worker: u32,
    /// What it reports.
    pub report: AppWorkerSnapshot,
}

/// `show app ...`'s snapshot.
pub fn app_view(rt: &mut Runtime, rest: &[&str]) -> Result<AppView, CliError> {
    let control = &rt.ctx.tables().control;
    match rest {
        [] => {
            let api = rt.api.as_ref();
            let rows = control
                .apps_snapshot()
                .into_iter()
                .map(|app| {
                    let client = if app.builtin { None } else { api.and_then(|a| a.app_client(app.index)) };
                    AppRow { app, api_connection: client.map(|(id, pid)| ApiConnectionRow { id, pid }) }
                })
                .collect();
            Ok(AppView::Apps(rows))
        }
        ["server"] => Ok(AppView::Listeners(control.listeners_snapshot())),
        ["client"] => Ok(AppView::Clients(client_sessions(rt))),
        ["ns"] => Ok(AppView::Namespaces(namespaces(rt))),
        ["verbose"] => {
            let indices: Vec<u32> = control.apps().map(|a| a.index).collect();
            Ok(AppView::Detail { apps: app_details(rt, &indices, true)?, verbose: true })
        }
        [n] | [n, "verbose"] => {
            let Ok(i) = n.parse::<u32>() else {
                return err(format!("show app: unknown word {n:?} (server, client, ns, verbose or an app index)"));
            };
            let verbose = rest.len() == 2;
            Ok(AppView::Detail { apps: app_details(rt, &[i], verbose)?, verbose })
        }
        _ => err(format!(
            "show app: unknown words {:?}\nusage: show app [server|client|verbose|ns|INDEX [verbose]]",
            rest.join(" ")
        )),
    }
}

/// `show app ...`.
pub fn show_app(rt: &mut Runtime, rest: &[&str]) -> CliResult {
    app_view(rt, rest).map(|v| app_text(&v))
}

/// The text of `show app ...`, from its snapshot.
pub fn app_text(v: &AppView) -> String {
    let mut out = String::new();
    match v {
        AppView::Apps(rows) => {
            let _ = writeln!(out, "{:<64}Kind", format!("{:<8}{:<32}{}", "Index", "Name", "Namespace"));
            for r in rows {
                let line = format!("{:<8}{:<32}{}", r.app.index, r.app.name, r.app.namespace);
                let kind = match (r.app.builtin, r.api_connection) {
                    (true, _) => "builtin".to_string(),
                    (false, Some(c)) => format!("external (api connection {}, pid {})", c.id, c.pid),
                    (false, None) => "external".to_string(),
                };
                let _ = writeln!(out, "{line:<64}{kind}");
            }
        }
        AppView::Listeners(ls) => {
            let _ = writeln!(out, "{:<28}{:<32}{:<12}Scope", "Connection", "App", "Wrk");
            for l in ls {
                let _ =
                    writeln!(out, "{:<28}{:<32}{:<12}{}", l.endpoint.to_string(), l.app, listener_workers(l), l.scope);
            }
        }
        AppView::Clients(sessions) => {
            let _ = writeln!(out, "{:<32}Connection", "App");
            for s in sessions {
                let _ = writeln!(out, "{:<32}{}", s.app, client_session_text(s));
            }
        }
        AppView::Namespaces(nss) => {
            let _ = writeln!(out, "{:<8}{:<24}{:<22}{:<8}Interface", "Index", "Id", "Secret", "Fib");
            for ns in nss {
                let ifc = ns.interface.as_deref().unwrap_or("-");
                let _ = writeln!(out, "{:<8}{:<24}{:<22}{:<8}{}", ns.index, ns.id, ns.secret, ns.fib, ifc);
            }
        }
        AppView::Detail { apps, verbose } => {
            for a in apps {
                out.push_str(&app_detail_text(a, *verbose));
            }
        }
    }
    out
}

fn app_details(rt: &mut Runtime, indices: &[u32], verbose: bool) -> Result<Vec<AppDetailView>, CliError> {
    let per_worker = if verbose { rt.ctx.on_workers(|sw, _, _, _| sw.app_snapshots()) } else { Vec::new() };
    let control = &rt.ctx.tables().control;
    let mut out = Vec::new();
    for &index in indices {
        let detail = control.app_detail_snapshot(index).map_err(|e| CliError(e.to_string()))?;
        let api = rt.api.as_ref().map(|a| a.describe_app(index)).unwrap_or_default();
        let workers: Vec<u32> = detail.workers.iter().map(|w| w.app_worker).collect();
        let mut on_workers = Vec::new();
        for (worker, apps) in per_worker.iter().enumerate() {
            for (app_worker, report) in apps {
                let says_something = !matches!(report, AppWorkerSnapshot::Builtin { app: None });
                if workers.contains(app_worker) && says_something {
                    on_workers.push(OnWorker { worker, app_worker: *app_worker, report: report.clone() });
                }
            }
        }
        out.push(AppDetailView { detail, api, on_workers });
    }
    Ok(out)
}

/// `show app INDEX [verbose]`'s text for one app.
fn app_detail_text(v: &AppDetailView, verbose: bool) -> String {
    let d = &v.detail;
    let mut out = format!("app {} {}\n", d.index, d.name);
    let _ = writeln!(
        out,
        "  namespace {} (index {}), scope {}, {}",
        d.namespace,
        d.ns_index,
        d.scope,
        if d.builtin { "builtin" } else { "external" }
    );
    let _ = writeln!(
        out,
        "  segment-size {}, add-segment-size {}, prealloc-fifo-pairs {}",
        size(d.segment_size),
        size(d.add_segment_size),
        d.prealloc_fifo_pairs
    );
    let _ = writeln!(
        out,
        "  rx-fifo-size {}, tx-fifo-size {}, event-queue-size {}",
        size(d.rx_fifo_size.into()),
        size(d.tx_fifo_size.into()),
        d.event_queue_size
    );
    if verbose {
        let proxy = d.proxy.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
        let _ = writeln!(
            out,
            "  eventfd {}, tls-engine {}, proxy {}",
            d.use_eventfd,
            d.tls_engine,
            if proxy.is_empty() { "none" } else { &proxy }
        );
    }
    let _ = writeln!(out, "  workers: {}", d.workers.len());
    for w in &d.workers {
        let _ = write!(out, "    wrk {} (app worker {})", w.map, w.app_worker);
        match &w.resources {
            Some(r) if verbose => {
                let _ = writeln!(out, ": {}", resources_text(r));
            }
            _ => out.push('\n'),
        }
    }
    let _ = writeln!(out, "  listeners: {}", d.listeners.len());
    if verbose {
        for l in &d.listeners {
            let _ =
                writeln!(out, "    {} scope {} workers {} owner {}", l.endpoint, l.scope, listener_workers(l), l.owner);
        }
    }
    for c in &v.api {
        let _ = writeln!(out, "  api connection {} (pid {}, uid {})", c.connection, c.pid, c.uid);
        for w in &c.workers {
            let _ = writeln!(out, "    app worker {}: {} segments mapped by the app", w.app_worker, w.segments_mapped);
        }
    }
    for o in &v.on_workers {
        let _ =
            writeln!(out, "    on worker {} (app worker {}): {}", o.worker, o.app_worker, app_worker_text(&o.report));
    }
    out
}

/// An app worker's segments, fifos and sessions, as `show app INDEX verbose` prints them.
fn resources_text(r: &AppWorkerResourcesSnapshot) -> String {
    let sizes: Vec<String> = r.segment_sizes.iter().map(|s| format!("{}K", s >> 10)).collect();
    format!(
        "{} segments [{}], fifo pairs in use {}, rx/tx fifo {}K/{}K, sessions open {}, fifo alloc failures {}, \
         cut-through segments for {} clients ({} pairs)",
        r.segment_sizes.len(),
        sizes.join(" "),
        r.fifo_pairs_in_use,
        r.rx_fifo_size >> 10,
        r.tx_fifo_size >> 10,
        r.sessions_open,
        r.fifo_alloc_failures,
        r.ct_clients,
        r.ct_pairs
    )
}

/// A listener's workers for the CLI: `0p,1,2` (`p`: passive).
fn listener_workers(l: &ListenerSnapshot) -> String {
    let mark = |w: &ListenerWorkerSnapshot| if w.passive { format!("{}p", w.map) } else { w.map.to_string() };
    l.workers.iter().map(mark).collect::<Vec<_>>().join(",")
}

/// Bytes in the units people configure them in (`32m`, `64k`).
fn size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "g"), (1 << 20, "m"), (1 << 10, "k")];
    UNITS
        .iter()
        .find(|(unit, _)| bytes != 0 && bytes.is_multiple_of(*unit))
        .map_or_else(|| bytes.to_string(), |(unit, suffix)| format!("{}{suffix}", bytes / unit))
}

/// `show api`: the API socket's connections and counters.
pub fn show_api(rt: &Runtime, rest: &[&str]) -> CliResult {
    if !rest.is_empty() {
        return err(format!("show api: unknown words {:?}\nusage: show api", rest.join(" ")));
    }
    let mut out = String::new();
    match &rt.api {
        Some(api) => {
            let clients = api.clients();
            let c = api.config();
            let _ = writeln!(out, "api socket {}: {} connections", api.path().display(), clients.len());
            let _ = writeln!(
                out,
                "  limits: mode {:04o}, {} connections, first message within {} s, {} s without an app, \
                 {} apps per connection, {} apps per uid, {} descriptors in reserve",
                c.access.mode,
                c.max_connections,
                c.first_message.as_secs_f64(),
                c.idle.as_secs_f64(),
                c.max_apps_per_connection,
                c.max_apps_per_uid,
                c.fd_reserve
            );
            for c in clients {
                let apps: Vec<String> = c.apps.iter().map(|(i, n, w)| format!("{n} (app {i}, {w} workers)")).collect();
                let _ = writeln!(
                    out,
                    "  connection {} pid {} uid {} (open {:.0} s): {}; {} reply bytes queued",
                    c.id,
                    c.pid,
                    c.uid,
                    c.age_secs,
                    if apps.is_empty() { "no apps".to_string() } else { apps.join(", ") },
                    c.queued_bytes
                );
            }
        }
        None => out.push_str("api socket not open\n"),
    }
    for (name, v, _) in rt.api_stats.snapshot() {
        let _ = writeln!(out, "{v:>12}  {name}");
    }
    if let Some(api) = &rt.api {
        for (name, v, _) in api.limit_counters().snapshot() {
            let _ = writeln!(out, "{v:>12}  {name}");
        }
    }
    Ok(out)
}

/// The sessions apps opened with connect, every worker's, with their app's name.
fn client_sessions(rt: &mut Runtime) -> Vec<SessionSnapshot> {
    let per_worker = rt.ctx.on_workers(|sw, _, _, _| sw.sessions_snapshot());
    let control = &rt.ctx.tables().control;
    let mut out = Vec::new();
    for mut s in per_worker.into_iter().flatten().filter(|s| s.client) {
        // The name in the control tables is the one `show app client` has always printed.
        s.app = control
            .app_worker(s.app_worker)
            .and_then(|w| control.app(w.app_index))
            .map_or("?".to_string(), |a| a.name.clone());
        out.push(s);
    }
    out
}

fn namespaces(rt: &Runtime) -> Vec<NamespaceRow> {
    let control = &rt.ctx.tables().control;
    let names: Vec<String> = rt.ctx.barrier.tables().net.interfaces.iter().map(|i| i.name.clone()).collect();
    control
        .namespaces
        .iter()
        .map(|ns| NamespaceRow {
            index: ns.index,
            id: ns.id.clone(),
            secret: ns.secret,
            fib: ns.fib_index,
            interface: ns
                .sw_if_index
                .map(|i| names.get(i as usize).cloned().unwrap_or_else(|| format!("sw_if_index {i}"))),
        })
        .collect()
}

/// What `show session` shows: every worker's sessions and the totals.
#[derive(Debug, Serialize)]
pub struct SessionsView {
    /// Per data-plane worker, its sessions.
    pub workers: Vec<Vec<SessionSnapshot>>,
    /// Listeners in the control tables.
    pub listeners: usize,
    /// Applications attached.
    pub apps: usize,
    /// Shared-memory segments alive in the node.
    pub segments: usize,
    /// Fifo pairs allocated from them.
    pub fifo_pairs: usize,
    /// Verbose text (fifos, bytes, the transport's view).
    #[serde(skip)]
    pub verbose: bool,
}

/// `show session [verbose]`'s snapshot.
pub fn sessions_view(rt: &mut Runtime, rest: &[&str]) -> Result<SessionsView, CliError> {
    let verbose = match rest {
        [] => false,
        ["verbose"] => true,
        _ => return err(format!("show session: unknown words {:?}\nusage: show session [verbose]", rest.join(" "))),
    };
    let workers = rt.ctx.on_workers(|sw, _, _, _| sw.sessions_snapshot());
    let control = &rt.ctx.tables().control;
    let (segments, fifo_pairs) = session::segment::live_counts();
    Ok(SessionsView {
        workers,
        listeners: control.listener_count(),
        apps: control.app_count(),
        segments,
        fifo_pairs,
        verbose,
    })
}

/// `show session [verbose]`.
pub fn show_session(rt: &mut Runtime, rest: &[&str]) -> CliResult {
    sessions_view(rt, rest).map(|v| sessions_text(&v))
}

/// The text of `show session`, from its snapshot.
pub fn sessions_text(v: &SessionsView) -> String {
    let mut out = String::new();
    let mut total = 0;
    for (w, lines) in v.workers.iter().enumerate() {
        let _ = writeln!(out, "worker {w}: {} sessions", lines.len());
        if !lines.is_empty() {
            let _ =
                writeln!(out, "{:<10} {:<7} {:<21} {:<21} {:<17} App", "Session", "Proto", "Local", "Remote", "State");
        }
        for s in lines {
            let _ = writeln!(out, "{}", session_lines(s, v.verbose));
        }
        total += lines.len();
    }
    let _ = writeln!(
        out,
        "total {total} sessions, {} listeners, {} apps; {} segments, {} fifo pairs allocated",
        v.listeners, v.apps, v.segments, v.fifo_pairs
    );
    out
}

/// What an app worker reports on one worker (empty: nothing), as `show app INDEX verbose` prints it.
fn app_worker_text(s: &AppWorkerSnapshot) -> String {
    match s {
        AppWorkerSnapshot::Builtin { app: None } => String::new(),
        AppWorkerSnapshot::Builtin { app: Some(BuiltinAppSnapshot::EchoServer { accepted, units, bytes }) } => {
            format!("echo server: {accepted} sessions accepted, {units} units / {bytes} bytes echoed")
        }
        AppWorkerSnapshot::Builtin {
            app: Some(BuiltinAppSnapshot::EchoClient { mode, remote, done, sessions, bytes_back, connections }),
        } => {
            let mut d =
                format!("echo client ({mode}) to {remote}: {done}/{sessions} sessions done, {bytes_back} bytes back");
            if let Some(n) = connections {
                let _ = write!(d, ", {n} connections");
            }
            d
        }
        AppWorkerSnapshot::Builtin { app: Some(BuiltinAppSnapshot::HttpServer { requests, bad_requests, open }) } => {
            format!("http server: {requests} requests, {bad_requests} bad requests, {open} connections open")
        }
        AppWorkerSnapshot::External(e) => {
            let mut out = format!(
                "external: event queue {}/{}, request queue {}/{}, backlog {} (max {}, limit {}), \
                 events {} requests {} wakeups {}",
                e.event_queue.len,
                e.event_queue.capacity,
                e.request_queue.len,
                e.request_queue.capacity,
                e.backlog,
                e.backlog_max,
                e.backlog_limit,
                e.events,
                e.requests,
                e.wakeups
            );
            if e.queue_full + e.bad_requests + e.bad_sessions > 0 {
                let _ = write!(
                    out,
                    ", queue full {} bad requests {} foreign/stale sessions {}",
                    e.queue_full, e.bad_requests, e.bad_sessions
                );
            }
            if let Some(reason) = &e.detaching {
                let _ = write!(out, ", being detached: {reason}");
            }
            out
        }
    }
}

/// One line per session (two with `verbose`), exactly as `show session [verbose]` has always printed them.
fn session_lines(s: &SessionSnapshot, verbose: bool) -> String {
    let mut line = format!(
        "{:<10} {:<7} {:<21} {:<21} {:<17} {}",
        s.handle.to_string(),
        s.proto.as_str(),
        s.local.to_string(),
        s.remote.to_string(),
        s.state.as_str(),
        s.app
    );
    if verbose {
        let _ = write!(
            line,
            "\n           rx fifo {}/{} tx fifo {}/{} rx {} B tx {} B rx-dropped {} listener {} | {}",
            s.rx_fifo.used,
            s.rx_fifo.capacity,
            s.tx_fifo.used,
            s.tx_fifo.capacity,
            s.rx_bytes,
            s.tx_bytes,
            s.rx_dropped,
            s.listener.map_or("-".into(), |l| SessionHandle::listener(l).to_string()),
            conn_text(&s.conn)
        );
    }
    line
}

/// A client session as `show app client` prints it (after the app's name).
fn client_session_text(s: &SessionSnapshot) -> String {
    format!("{} {} {} -> {} {}", s.handle, s.proto.as_str(), s.local, s.remote, s.state.as_str())
}

/// The transport connection part of a verbose session line.
fn conn_text(c: &ConnSnapshot) -> String {
    match c {
        ConnSnapshot::Udp { local, remote, rx_dgrams, tx_dgrams, accepted } => format!(
            "udp {local} -> {remote} rx {rx_dgrams} tx {tx_dgrams} dgrams{}",
            if *accepted { " (accepted)" } else { "" }
        ),
        ConnSnapshot::Tcp { local, remote, stats } => {
            format!("tcp {local} -> {remote}\n             {}", conn_stats_text(stats).replace('\n', "\n             "))
        }
        ConnSnapshot::Tls { local, remote, stats, version, cipher, alpn, server } => format!(
            "tls {local} -> {remote} {} version {version} cipher {cipher} alpn {alpn}\n             {}",
            if *server { "server" } else { "client" },
            conn_stats_text(stats).replace('\n', "\n             ")
        ),
        ConnSnapshot::Quic { local, remote, stream, streams, established, server, rtt_us } => format!(
            "quic {local} -> {remote} {}{} {} rtt {rtt_us}us{}",
            if *server { "server" } else { "client" },
            match stream {
                Some(u64::MAX) => " stream (waiting for credit)".to_string(),
                Some(id) => format!(" stream {id}"),
                None => format!(" connection, {streams} streams"),
            },
            if *established { "established" } else { "handshaking" },
            ""
        ),
        ConnSnapshot::CutThrough { dgram, client, server, client_closed, server_closed } => format!(
            "cut-through {} client {client} server {server}{}{}",
            if *dgram { "dgram" } else { "stream" },
            if *client_closed { " client-closed" } else { "" },
            if *server_closed { " server-closed" } else { "" }
        ),
        ConnSnapshot::Closed { proto } => format!(
            "{} (closed)",
            match proto {
                TransportProto::Udp => "udp",
                TransportProto::Tcp => "tcp",
                TransportProto::Tls => "tls",
                TransportProto::Quic => "quic",
                TransportProto::CtUdp | TransportProto::CtTcp => "cut-through",
            }
        ),
    }
}

/// A TCP connection's state and counters in a few lines, in the style of VPP's `show session verbose 2`.
pub fn conn_stats_text(s: &tcp::ConnStats) -> String {
    format!(
        "state {} cc {} mss {} wscale {}/{} sack {} ts {}\n\
         snd_una {} snd_nxt {} snd_max {} snd_wnd {} rcv_nxt {} rcv_wnd {}\n\
         srtt {}us rttvar {}us rto {}us\n\
         cwnd {} ssthresh {} flight {} recovery {}\n\
         retransmits {} timeouts {} dupacks {} sack blocks {} sacked {} rx ooo runs {} segs in {} out {}",
        s.state,
        s.cc,
        s.mss,
        s.wscale.0,
        s.wscale.1,
        s.sack,
        s.timestamps,
        s.snd_una,
        s.snd_nxt,
        s.snd_max,
        s.snd_wnd,
        s.rcv_nxt,
        s.rcv_wnd,
        s.srtt_us,
        s.rttvar_us,
        s.rto_us,
        s.cwnd,
        s.ssthresh,
        s.flight,
        s.in_recovery,
        s.retransmits,
        s.timeouts,
        s.dupacks,
        s.sack_blocks,
        s.sacked_bytes,
        s.rx_ooo_runs,
        s.segs_in,
        s.segs_out
    )
}

/// `app ns add ...` and `app detach ...`.
pub fn app(rt: &mut Runtime, rest: &[&str]) -> CliResult {
    match rest {
        ["ns", "add", args @ ..] => ns_add(rt, args),
        ["detach", who] => {
            let app = find_app(rt, who)?;
            let closed = rt.ctx.detach(app).map_err(|e| CliError(e.to_string()))?;
            Ok(format!("detached {who}: {closed} sessions closed\n"))
        }
        [verb @ ("listen" | "unlisten"), who, uri, words @ ..] => {
            let app = find_app(rt, who)?;
            // tls://: a tcp listener with TLS over its connections.
            let (tls, uri) = match uri.strip_prefix("tls://") {
                Some(rest) => (true, format!("tcp://{rest}")),
                None => (false, uri.to_string()),
            };
            let ep = session::listener_tables::parse_uri(&uri).map_err(|e| CliError(e.to_string()))?;
            let shown = if tls { format!("tls://{}", uri.trim_start_matches("tcp://")) } else { ep.to_string() };
            let tls = match (tls, *verb == "listen") {
                (true, true) => Some(listen_tls_words(words)?),
                _ if !words.is_empty() => {
                    return err(format!(
                        "app {verb}: unknown words {:?} (cert, key, alpn: app listen with a tls:// uri)",
                        words.join(" ")
                    ))
                }
                _ => None,
            };
            let wrk = rt
                .ctx
                .tables()
                .control
                .app(app.index)
                .and_then(|a| a.worker(0))
                .ok_or(CliError(format!("app {verb}: {who} has no worker 0")))?;
            let (_, wrk) = rt.ctx.handles_of(wrk).map_err(|e| CliError(e.to_string()))?;
            if *verb == "listen" {
                let l = match tls {
                    Some(t) => rt.ctx.listen_tls(app, wrk, ep, Default::default(), t),
                    None => rt.ctx.listen(app, wrk, ep),
                };
                let l = l.map_err(|e| CliError(format!("app listen: {e}")))?;
                Ok(format!("{who} listening on {shown} ({l})\n"))
            } else {
                rt.ctx.unlisten(app, wrk, ep).map_err(|e| CliError(format!("app unlisten: {e}")))?;
                Ok(format!("{who} no longer listening on {shown}\n"))
            }
        }
        _ => err(format!("app: unknown words {:?}\n{HELP}", rest.join(" "))),
    }
}

/// `cert FILE key FILE [alpn A,B]` after `app listen NAME tls://...`: the server configuration, loaded and checked.
fn listen_tls_words(words: &[&str]) -> Result<session::tls::TlsServer, CliError> {
    let usage = "app listen NAME|INDEX tls://ADDR/PORT cert FILE key FILE [alpn A,B]";
    let mut o = session::tls::TlsServerOptions::default();
    let mut it = words.iter();
    while let Some(&k) = it.next() {
        let Some(&v) = it.next() else { return err(format!("app listen: {k} needs a value\nusage: {usage}")) };
        match k {
            "cert" => o.cert = v.to_string(),
            "key" => o.key = v.to_string(),
            "alpn" => o.alpn = v.split(',').map(str::to_string).collect(),
            _ => return err(format!("app listen: unknown word {k:?}\nusage: {usage}")),
        }
    }
    if o.cert.is_empty() || o.key.is_empty() {
        return err(format!("app listen: a tls:// listen needs cert and key\nusage: {usage}"));
    }
    session::tls::TlsServer::load(&o).map_err(|e| CliError(format!("app listen: {e}")))
}

/// The application named `who` (a name or an index).
fn find_app(rt: &Runtime, who: &str) -> Result<session::pool::Handle, CliError> {
    let control = &rt.ctx.tables().control;
    let app = match who.parse::<u32>() {
        Ok(i) => control.app_handle(i),
        Err(_) => control.app_by_name(who).and_then(|a| control.app_handle(a.index)),
    };
    app.ok_or_else(|| CliError(format!("no application {who:?}")))
}

fn ns_add(rt: &mut Runtime, args: &[&str]) -> CliResult {
    let usage = "usage: app ns add id ID secret N [sw_if_index N | interface NAME]";
    let (mut id, mut secret, mut sw_if) = (None, None, None);
    let mut it = args.iter();
    while let Some(&k) = it.next() {
        let Some(&v) = it.next() else { return err(format!("app ns add: {k} needs a value\n{usage}")) };
        match k {
            "id" => id = Some(v),
            "secret" => {
                secret =
                    Some(v.parse::<u64>().map_err(|_| CliError(format!("app ns add: secret {v:?} is not a number")))?)
            }
            "sw_if_index" => {
                let i: u32 =
                    v.parse().map_err(|_| CliError(format!("app ns add: sw_if_index {v:?} is not a number")))?;
                if i as usize >= rt.ctx.barrier.tables().net.interfaces.len() {
                    return err(format!("app ns add: no interface with sw_if_index {i}"));
                }
                sw_if = Some(i);
            }
            "interface" => {
                let ifs = &rt.ctx.barrier.tables().net.interfaces;
                let i =
                    ifs.iter().position(|x| x.name == v).ok_or(CliError(format!("app ns add: no interface {v:?}")))?;
                sw_if = Some(i as u32);
            }
            _ => return err(format!("app ns add: unknown word {k:?}\n{usage}")),
        }
    }
    let (Some(id), Some(secret)) = (id, secret) else {
        return err(format!("app ns add: id and secret are required\n{usage}"));
    };
    if id == session::namespace::DEFAULT_NAMESPACE_ID {
        return err(format!(
            "app ns add: id {id:?} is the default namespace, which always exists and takes no secret \
             (every application may attach in it); choose another id"
        ));
    }
    // One FIB for now: every interface is in table 0.
    let index = rt.ctx.namespace_add(id, secret, 0, sw_if).map_err(|e| CliError(e.to_string()))?;
    Ok(format!("namespace {id} index {index}\n"))
}

/// `test echo server|client ...`.
pub fn test_echo(rt: &mut Runtime, rest: &[&str]) -> CliResult {
    match rest {
        ["server", args @ ..] => {
            let spec =
                AppSpec::from_words(Kind::EchoServer, args).map_err(|e| CliError(format!("test echo server: {e}")))?;
            apps::start(rt, &spec).map_err(|e| CliError(format!("test echo server: {e}")))?;
            let index = rt.ctx.tables().control.app_by_name(&spec.name).map_or(0, |a| a.index);
            Ok(format!("{} (app {index}) listening on {}\n", spec.name, spec.uri_text()))
        }
        // `cli::dispatch` starts the client as a job (`test_echo_client`).
        ["client", ..] => err("test echo client: runs as a job; start it through cli::dispatch"),
        _ => err(format!("test: unknown words {:?}\n{HELP}", rest.join(" "))),
    }
}

/// `test echo client ...` as a job: the client app is attached and connecting when this returns.
pub fn test_echo_client(rt: &mut Runtime, args: &[&str]) -> Result<Box<dyn Job>, CliError> {
    let spec = AppSpec::from_words(Kind::EchoClient, args).map_err(|e| CliError(format!("test echo client: {e}")))?;
    let client = apps::start(rt, &spec)
        .map_err(|e| CliError(format!("test echo client: {e}")))?
        .ok_or_else(|| CliError("test echo client: not a client".into()))?;
    Ok(Box::new(EchoClientJob { client, uri: spec.uri_text() }))
}

/// A builtin echo client run from the CLI.
struct EchoClientJob {
    client: apps::RunningClient,
    uri: String,
}

impl Job for EchoClientJob {
    fn poll(&mut self, rt: &mut Runtime) -> Option<CliResult> {
        let report = self.client.poll()?;
        let _ = rt.ctx.detach(self.client.app);
        let text = format!("{} -> {}\n{}", self.client.name, self.uri, report.format());
        Some(if report.ok() { Ok(text) } else { Err(CliError(text)) })
    }

    fn cancel(&mut self, rt: &mut Runtime) {
        tracing::info!("dpnode: {} cancelled (its CLI client went away); detaching", self.client.name);
        let _ = rt.ctx.detach(self.client.app);
    }
}

/// `test http server ...`.
pub fn test_http(rt: &mut Runtime, rest: &[&str]) -> CliResult {
    match rest {
        ["server", args @ ..] => {
            let spec =
                AppSpec::from_words(Kind::HttpServer, args).map_err(|e| CliError(format!("test http server: {e}")))?;
            apps::start(rt, &spec).map_err(|e| CliError(format!("test http server: {e}")))?;
            let index = rt.ctx.tables().control.app_by_name(&spec.name).map_or(0, |a| a.index);
            Ok(format!("{} (app {index}) listening on {}\n", spec.name, spec.uri_text()))
        }
        _ => err(format!("test http: unknown words {:?}\n{HELP}", rest.join(" "))),
    }
}

/// `show tcp stats`'s snapshot: the workers' TCP counters and connections, summed.
pub fn tcp_stats_snapshot(rt: &mut Runtime) -> TcpStatsSnapshot {
    TcpStatsSnapshot::sum(&rt.ctx.on_workers(|sw, _, _, _| sw.tcp_stats()))
}

/// `show tls`'s figures: every TLS counter summed over the workers (zeros included).
#[derive(Debug, Clone, Serialize)]
pub struct TlsStatsSnapshot {
    /// (counter name, value), in the order `show tls` prints them.
    pub counters: Vec<(&'static str, u64)>,
}

/// Sums the workers' TLS counters.
pub fn tls_stats_snapshot(rt: &Runtime) -> TlsStatsSnapshot {
    use session::tls::TlsCounter;
    let counters =
        TlsCounter::ALL.iter().map(|&c| (c.name(), rt.workers.iter().map(|w| w.sessions.tls.get(c)).sum())).collect();
    TlsStatsSnapshot { counters }
}

/// `show tls`: handshakes completed and failed by reason, and bytes, over all workers.
pub fn show_tls(rt: &mut Runtime) -> CliResult {
    let t = tls_stats_snapshot(rt);
    let mut out = String::from("tls (all workers):\n");
    for (name, v) in &t.counters {
        let _ = writeln!(out, "{v:>12}  {}", name.strip_prefix("tls ").unwrap_or(name));
    }
    Ok(out)
}

/// `show tcp stats`: TCP counters summed over the workers, and connections by state.
pub fn show_tcp_stats(rt: &mut Runtime) -> CliResult {
    Ok(tcp_stats_text(&tcp_stats_snapshot(rt)))
}

/// The text of `show tcp stats`, from its snapshot.
pub fn tcp_stats_text(t: &TcpStatsSnapshot) -> String {
    let mut out = String::from("connections by state:\n");
    if t.states.is_empty() {
        out.push_str("  none\n");
    }
    for (name, n) in &t.states {
        let _ = writeln!(out, "{n:>12}  {name}");
    }
    out.push_str("counters (all workers):\n");
    for (name, v) in &t.counters {
        if *v > 0 {
            let _ = writeln!(out, "{v:>12}  {name}");
        }
    }
    out
}

#[cfg(test)]
mod test {
    use super::*;
    use session::session::SessionState;
    use session::snapshot::{ApiWorkerSnapshot, AppDetailWorkerSnapshot, FifoUsage};

    fn stats() -> tcp::ConnStats {
        tcp::ConnStats {
            state: tcp::State::Established,
            snd_una: 1,
            snd_nxt: 2,
            snd_max: 3,
            snd_wnd: 4,
            rcv_nxt: 5,
            rcv_wnd: 6,
            mss: 1460,
            wscale: (7, 8),
            sack: true,
            timestamps: false,
            srtt_us: 9,
            rttvar_us: 10,
            rto_us: 11,
            cc: shm::types::Cc::Cubic,
            cwnd: 12,
            ssthresh: 13,
            flight: 14,
            in_recovery: false,
            retransmits: 15,
            timeouts: 16,
            dupacks: 17,
            sack_blocks: 18,
            sacked_bytes: 19,
            rx_ooo_runs: 20,
            segs_out: 21,
            segs_in: 22,
        }
    }

    fn session(proto: TransportProto, conn: ConnSnapshot) -> SessionSnapshot {
        SessionSnapshot {
            handle: SessionHandle::new(1, 7),
            proto,
            local: "10.0.0.1:80".parse().unwrap(),
            remote: "10.0.0.2:40000".parse().unwrap(),
            state: SessionState::Ready,
            app: "srv".into(),
            app_worker: 0,
            client: true,
            rx_fifo: FifoUsage { used: 3, capacity: 4096 },
            tx_fifo: FifoUsage { used: 0, capacity: 2048 },
            rx_bytes: 100,
            tx_bytes: 200,
            rx_dropped: 1,
            listener: Some(2),
            conn,
        }
    }

    /// The text is the one the session layer used to build itself.
    #[test]
    fn session_lines_are_the_old_text() {
        let (l, r) = ("10.0.0.1:80".parse().unwrap(), "10.0.0.2:40000".parse().unwrap());
        let tcp = session(TransportProto::Tcp, ConnSnapshot::Tcp { local: l, remote: r, stats: stats() });
        assert_eq!(
            session_lines(&tcp, false),
            "1:7        tcp     10.0.0.1:80           10.0.0.2:40000        ready             srv"
        );
        assert_eq!(
            session_lines(&tcp, true),
            "1:7        tcp     10.0.0.1:80           10.0.0.2:40000        ready             srv\n           \
             rx fifo 3/4096 tx fifo 0/2048 rx 100 B tx 200 B rx-dropped 1 listener L2 | tcp 10.0.0.1:80 -> 10.0.0.2:40000\n             \
             state ESTABLISHED cc cubic mss 1460 wscale 7/8 sack true ts false\n             \
             snd_una 1 snd_nxt 2 snd_max 3 snd_wnd 4 rcv_nxt 5 rcv_wnd 6\n             \
             srtt 9us rttvar 10us rto 11us\n             \
             cwnd 12 ssthresh 13 flight 14 recovery false\n             \
             retransmits 15 timeouts 16 dupacks 17 sack blocks 18 sacked 19 rx ooo runs 20 segs in 22 out 21"
        );
        assert_eq!(client_session_text(&tcp), "1:7 tcp 10.0.0.1:80 -> 10.0.0.2:40000 ready");
        let udp = ConnSnapshot::Udp { local: l, remote: r, rx_dgrams: 5, tx_dgrams: 6, accepted: true };
        assert_eq!(conn_text(&udp), "udp 10.0.0.1:80 -> 10.0.0.2:40000 rx 5 tx 6 dgrams (accepted)");
        let ct =
            ConnSnapshot::CutThrough { dgram: false, client: 3, server: 4, client_closed: true, server_closed: false };
        assert_eq!(conn_text(&ct), "cut-through stream client 3 server 4 client-closed");
        for (proto, text) in [
            (TransportProto::Udp, "udp (closed)"),
            (TransportProto::Tcp, "tcp (closed)"),
            (TransportProto::CtUdp, "cut-through (closed)"),
        ] {
            assert_eq!(conn_text(&ConnSnapshot::Closed { proto }), text);
        }
        let mut none = session(TransportProto::Udp, ConnSnapshot::Closed { proto: TransportProto::Udp });
        none.listener = None;
        assert!(session_lines(&none, true).contains("rx-dropped 1 listener - | udp (closed)"));
    }

    /// App worker lines are the text the session layer used to build.
    #[test]
    fn app_worker_lines_are_the_old_text() {
        use session::snapshot::{ExternalEndpointSnapshot, QueueUsage};
        let b = |app| app_worker_text(&AppWorkerSnapshot::Builtin { app: Some(app) });
        assert_eq!(app_worker_text(&AppWorkerSnapshot::Builtin { app: None }), "");
        assert_eq!(
            b(BuiltinAppSnapshot::EchoServer { accepted: 1, units: 2, bytes: 3 }),
            "echo server: 1 sessions accepted, 2 units / 3 bytes echoed"
        );
        let remote = shm::types::Endpoint {
            proto: shm::types::Proto::Tcp,
            ip: std::net::Ipv4Addr::new(10, 0, 0, 1).into(),
            port: 7,
        };
        let client = |mode, connections| BuiltinAppSnapshot::EchoClient {
            mode,
            remote,
            done: 1,
            sessions: 4,
            bytes_back: 99,
            connections,
        };
        assert_eq!(
            b(client(echo::EchoMode::Bulk, None)),
            format!("echo client (bulk) to {remote}: 1/4 sessions done, 99 bytes back")
        );
        assert_eq!(
            b(client(echo::EchoMode::Cps, Some(8))),
            format!("echo client (cps) to {remote}: 1/4 sessions done, 99 bytes back, 8 connections")
        );
        assert_eq!(
            b(BuiltinAppSnapshot::HttpServer { requests: 5, bad_requests: 1, open: 2 }),
            "http server: 5 requests, 1 bad requests, 2 connections open"
        );
        let mut e = ExternalEndpointSnapshot {
            event_queue: QueueUsage { len: 1, capacity: 256 },
            request_queue: QueueUsage { len: 0, capacity: 256 },
            backlog: 2,
            backlog_max: 3,
            backlog_limit: 1024,
            events: 10,
            requests: 11,
            wakeups: 12,
            queue_full: 0,
            bad_requests: 0,
            bad_sessions: 0,
            detaching: None,
        };
        let quiet = "external: event queue 1/256, request queue 0/256, backlog 2 (max 3, limit 1024), \
                     events 10 requests 11 wakeups 12";
        assert_eq!(app_worker_text(&AppWorkerSnapshot::External(e.clone())), quiet);
        (e.bad_sessions, e.detaching) = (4, Some("backlog overflow".into()));
        assert_eq!(
            app_worker_text(&AppWorkerSnapshot::External(e)),
            format!("{quiet}, queue full 0 bad requests 0 foreign/stale sessions 4, being detached: backlog overflow")
        );
    }

    fn listener(passive0: bool) -> ListenerSnapshot {
        ListenerSnapshot {
            index: 0,
            endpoint: session::listener_tables::parse_uri("tcp://0.0.0.0/7").unwrap(),
            app: "echo-server".into(),
            workers: vec![
                ListenerWorkerSnapshot { map: 0, passive: passive0 },
                ListenerWorkerSnapshot { map: 1, passive: false },
            ],
            scope: shm::types::Scope::GLOBAL,
            owner: 0,
        }
    }

    /// `show app`, `show app server` and `show app ns` print what the session layer used to print.
    #[test]
    fn app_tables_are_the_old_text() {
        let row = |index, name: &str, builtin, api_connection| AppRow {
            app: AppSnapshot { index, name: name.into(), namespace: "default".into(), builtin },
            api_connection,
        };
        let apps = AppView::Apps(vec![
            row(0, "echo-server", true, None),
            row(1, "ext", false, Some(ApiConnectionRow { id: 3, pid: 77 })),
            row(2, "gone", false, None),
        ]);
        let pad = |l: &str, k: &str| format!("{l:<64}{k}\n");
        assert_eq!(
            app_text(&apps),
            pad("Index   Name                            Namespace", "Kind")
                + &pad("0       echo-server                     default", "builtin")
                + &pad("1       ext                             default", "external (api connection 3, pid 77)")
                + &pad("2       gone                            default", "external")
        );
        assert_eq!(
            app_text(&AppView::Listeners(vec![listener(true)])),
            format!(
                "{:<28}{:<32}{:<12}Scope\n{:<28}{:<32}{:<12}global\n",
                "Connection", "App", "Wrk", "tcp://0.0.0.0/7", "echo-server", "0p,1"
            )
        );
        let ns = NamespaceRow { index: 1, id: "blue".into(), secret: 42, fib: 0, interface: None };
        assert_eq!(
            app_text(&AppView::Namespaces(vec![ns])),
            format!(
                "{:<8}{:<24}{:<22}{:<8}Interface\n{:<8}{:<24}{:<22}{:<8}-\n",
                "Index", "Id", "Secret", "Fib", 1, "blue", 42, 0
            )
        );
    }

    /// `show app INDEX [verbose]` prints what the session layer used to print, then the API's and workers' lines.
    #[test]
    fn app_detail_is_the_old_text() {
        let res = AppWorkerResourcesSnapshot {
            segment_sizes: vec![32 << 20, 1 << 20],
            fifo_pairs_in_use: 2,
            rx_fifo_size: 64 << 10,
            tx_fifo_size: 16 << 10,
            sessions_open: 1,
            fifo_alloc_failures: 0,
            ct_clients: 1,
            ct_pairs: 3,
        };
        let detail = AppDetailSnapshot {
            index: 0,
            name: "echo-server".into(),
            namespace: "default".into(),
            ns_index: 0,
            scope: shm::types::Scope::GLOBAL,
            builtin: false,
            segment_size: 32 << 20,
            add_segment_size: 0,
            prealloc_fifo_pairs: 0,
            rx_fifo_size: 64 << 10,
            tx_fifo_size: 16 << 10,
            event_queue_size: 2048,
            use_eventfd: true,
            tls_engine: 0,
            proxy: vec![shm::types::Proto::Tcp],
            workers: vec![
                AppDetailWorkerSnapshot { map: 0, app_worker: 4, resources: Some(res) },
                AppDetailWorkerSnapshot { map: 1, app_worker: 5, resources: None },
            ],
            listeners: vec![listener(false)],
        };
        let api = vec![ApiAppSnapshot {
            connection: 2,
            pid: 10,
            uid: 0,
            workers: vec![ApiWorkerSnapshot { app_worker: 4, segments_mapped: 2 }],
        }];
        let on_workers = vec![OnWorker {
            worker: 0,
            app_worker: 4,
            report: AppWorkerSnapshot::Builtin {
                app: Some(BuiltinAppSnapshot::HttpServer { requests: 1, bad_requests: 0, open: 0 }),
            },
        }];
        let v = AppDetailView { detail, api, on_workers };
        let brief = "app 0 echo-server\n  \
                     namespace default (index 0), scope global, external\n  \
                     segment-size 32m, add-segment-size 0, prealloc-fifo-pairs 0\n  \
                     rx-fifo-size 64k, tx-fifo-size 16k, event-queue-size 2048\n  \
                     workers: 2\n    wrk 0 (app worker 4)\n    wrk 1 (app worker 5)\n  listeners: 1\n";
        let tail = "  api connection 2 (pid 10, uid 0)\n    app worker 4: 2 segments mapped by the app\n    \
                    on worker 0 (app worker 4): http server: 1 requests, 0 bad requests, 0 connections open\n";
        assert_eq!(app_detail_text(&v, false), format!("{brief}{tail}"));
        let verbose = "app 0 echo-server\n  \
                       namespace default (index 0), scope global, external\n  \
                       segment-size 32m, add-segment-size 0, prealloc-fifo-pairs 0\n  \
                       rx-fifo-size 64k, tx-fifo-size 16k, event-queue-size 2048\n  \
                       eventfd true, tls-engine 0, proxy tcp\n  \
                       workers: 2\n    \
                       wrk 0 (app worker 4): 2 segments [32768K 1024K], fifo pairs in use 2, rx/tx fifo 64K/16K, \
                       sessions open 1, fifo alloc failures 0, cut-through segments for 1 clients (3 pairs)\n    \
                       wrk 1 (app worker 5)\n  listeners: 1\n    \
                       tcp://0.0.0.0/7 scope global workers 0,1 owner 0\n";
        assert_eq!(app_detail_text(&v, true), format!("{verbose}{tail}"));
        assert_eq!(size(3 << 30), "3g");
        assert_eq!(size(1000), "1000");
        let j = serde_json::to_value(&v).unwrap();
        assert_eq!(
            (j["name"].clone(), j["scope"].clone(), j["proxy"][0].clone()),
            ("echo-server".into(), "global".into(), "tcp".into())
        );
        assert_eq!(j["listeners"][0]["endpoint"], "tcp://0.0.0.0/7");
        assert_eq!(j["api"][0]["workers"][0]["segments_mapped"], 2);
        assert_eq!(j["on_workers"][0]["report"]["app"]["app"], "http-server");
    }

    /// The CLI's text for a TCP connection is the one tcp's own `Display` gives (which tcp's tests use).
    #[test]
    fn tcp_stats_text_agrees_with_tcp() {
        assert_eq!(conn_stats_text(&stats()), stats().to_string());
    }

    /// Snapshots are plain data that serialise (for the JSON the operator tools will print).
    #[test]
    fn snapshots_serialise_with_names() {
        let (l, r) = ("10.0.0.1:80".parse().unwrap(), "10.0.0.2:40000".parse().unwrap());
        let s = session(TransportProto::Tcp, ConnSnapshot::Tcp { local: l, remote: r, stats: stats() });
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["handle"], "1:7");
        assert_eq!(v["proto"], "tcp");
        assert_eq!(v["state"], "ready");
        assert_eq!(v["local"], "10.0.0.1:80");
        assert_eq!(v["rx_fifo"]["capacity"], 4096);
        assert_eq!(v["conn"]["kind"], "tcp");
        assert_eq!(v["conn"]["stats"]["state"], "ESTABLISHED");
        assert_eq!(v["conn"]["stats"]["cc"], "cubic");
        assert_eq!(v["conn"]["stats"]["wscale"], serde_json::json!([7, 8]));
    }
}
