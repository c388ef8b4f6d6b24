//! CLI commands of the session layer: `show app ...`, `show session ...`,
//! `app ns ...`, `app detach`, and `test echo server|client ...`.

use std::fmt::Write as _;

use session::snapshot::{AppWorkerSnapshot, BuiltinAppSnapshot, ConnSnapshot, SessionSnapshot};
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
  app ns add id ID secret N [sw_if_index N | interface NAME]   add or update a namespace
  app detach NAME|INDEX     detach an application (its sessions are reset, its segments freed)
  app listen|unlisten NAME|INDEX URI   make an application's first worker (stop) listen on URI
  test echo server uri URI [name N] [scope global|local|both] [proxy tcp|udp|both]
                            [namespace ID secret N] [fifo-size SIZE]
  test echo client uri URI [mode bulk|rr|cps] [sessions N] [bytes SIZE] [chunk SIZE] [window N]
                            [connections N] [duration S] [timeout S] [scope ...] [namespace ID secret N]
                            [fifo-size SIZE] [mss N] [cc newreno|cubic] [no-delay on]
                            bulk: stream BYTES per session (or for DURATION); rr: one CHUNK in flight
                            per session (transactions/s, p50/p99); cps: each session connects, echoes one
                            CHUNK and closes, CONNECTIONS in all (default 1000) or for DURATION;
                            runs as a job (other commands are served meanwhile)
  test http server uri URI [name N] [scope ...] [fifo-size SIZE]   a builtin HTTP/1.1 server (GET / answers a static page)";

/// `show app ...`.
pub fn show_app(rt: &mut Runtime, rest: &[&str]) -> CliResult {
    let control = &rt.ctx.tables().control;
    match rest {
        [] => Ok(with_kinds(rt, control.format_apps())),
        ["server"] => Ok(control.format_listeners()),
        ["client"] => Ok(show_app_client(rt)),
        ["ns"] => Ok(show_app_ns(rt)),
        ["verbose"] => {
            let indices: Vec<u32> = control.apps().map(|a| a.index).collect();
            let mut out = String::new();
            for i in indices {
                out.push_str(&app_detail(rt, i, true)?);
            }
            Ok(out)
        }
        [n] | [n, "verbose"] => {
            let Ok(i) = n.parse::<u32>() else {
                return err(format!("show app: unknown word {n:?} (server, client, ns, verbose or an app index)"));
            };
            app_detail(rt, i, rest.len() == 2)
        }
        _ => err(format!(
            "show app: unknown words {:?}\nusage: show app [server|client|verbose|ns|INDEX [verbose]]",
            rest.join(" ")
        )),
    }
}

/// `show app`'s table with a Kind column: builtin, or external with its API connection.
fn with_kinds(rt: &Runtime, table: String) -> String {
    let control = &rt.ctx.tables().control;
    let mut out = String::new();
    for (i, line) in table.lines().enumerate() {
        let kind = if i == 0 {
            "Kind".to_string()
        } else {
            let index = line.split_whitespace().next().and_then(|w| w.parse::<u32>().ok());
            let app = index.and_then(|i| control.app(i));
            match (app, index.and_then(|i| rt.api.as_ref()?.app_client(i))) {
                (Some(a), _) if a.opts.builtin => "builtin".to_string(),
                (Some(_), Some((conn, pid))) => format!("external (api connection {conn}, pid {pid})"),
                (Some(_), None) => "external".to_string(),
                (None, _) => String::new(),
            }
        };
        let _ = writeln!(out, "{line:<64}{kind}");
    }
    out
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

fn app_detail(rt: &mut Runtime, index: u32, verbose: bool) -> CliResult {
    let control = &rt.ctx.tables().control;
    let mut out = control.format_app_detail(index, verbose).map_err(|e| CliError(e.to_string()))?;
    if let Some(api) = &rt.api {
        out.push_str(&api.describe_app(index));
    }
    if verbose {
        let workers: Vec<u32> = control.app(index).map(|a| a.workers().map(|(_, w)| w).collect()).unwrap_or_default();
        let per_worker = rt.ctx.on_workers(|sw, _, _, _| sw.app_snapshots());
        for (w, apps) in per_worker.iter().enumerate() {
            for (wrk, snap) in apps {
                let d = app_worker_text(snap);
                if workers.contains(wrk) && !d.is_empty() {
                    let _ = writeln!(out, "    on worker {w} (app worker {wrk}): {d}");
                }
            }
        }
    }
    Ok(out)
}

fn show_app_client(rt: &mut Runtime) -> String {
    let per_worker = rt.ctx.on_workers(|sw, _, _, _| sw.sessions_snapshot());
    let control = &rt.ctx.tables().control;
    let mut out = format!("{:<32}{}\n", "App", "Connection");
    for s in per_worker.iter().flatten().filter(|s| s.client) {
        let name = control
            .app_worker(s.app_worker)
            .and_then(|w| control.app(w.app_index))
            .map_or("?".to_string(), |a| a.name.clone());
        let _ = writeln!(out, "{name:<32}{}", client_session_text(s));
    }
    out
}

fn show_app_ns(rt: &Runtime) -> String {
    let control = &rt.ctx.tables().control;
    let names: Vec<String> = rt.ctx.barrier.tables().net.interfaces.iter().map(|i| i.name.clone()).collect();
    let mut out = format!("{:<8}{:<24}{:<22}{:<8}{}\n", "Index", "Id", "Secret", "Fib", "Interface");
    for ns in control.namespaces.iter() {
        let ifc = ns
            .sw_if_index
            .map_or("-".to_string(), |i| names.get(i as usize).cloned().unwrap_or_else(|| format!("sw_if_index {i}")));
        let _ = writeln!(out, "{:<8}{:<24}{:<22}{:<8}{}", ns.index, ns.id, ns.secret, ns.fib_index, ifc);
    }
    out
}

/// `show session [verbose]`.
pub fn show_session(rt: &mut Runtime, rest: &[&str]) -> CliResult {
    let verbose = match rest {
        [] => false,
        ["verbose"] => true,
        _ => return err(format!("show session: unknown words {:?}\nusage: show session [verbose]", rest.join(" "))),
    };
    let per_worker = rt.ctx.on_workers(|sw, _, _, _| sw.sessions_snapshot());
    let mut out = String::new();
    let mut total = 0;
    for (w, lines) in per_worker.iter().enumerate() {
        let _ = writeln!(out, "worker {w}: {} sessions", lines.len());
        if !lines.is_empty() {
            let _ =
                writeln!(out, "{:<10} {:<7} {:<21} {:<21} {:<17} App", "Session", "Proto", "Local", "Remote", "State");
        }
        for s in lines {
            let _ = writeln!(out, "{}", session_lines(s, verbose));
        }
        total += lines.len();
    }
    let control = &rt.ctx.tables().control;
    let (segments, pairs) = session::segment::live_counts();
    let _ = writeln!(
        out,
        "total {total} sessions, {} listeners, {} apps; {segments} segments, {pairs} fifo pairs allocated",
        control.listener_count(),
        control.app_count()
    );
    Ok(out)
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
            format!("tcp {local} -> {remote}\n             {}", tcp_stats_text(stats).replace('\n', "\n             "))
        }
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
                TransportProto::CtUdp | TransportProto::CtTcp => "cut-through",
            }
        ),
    }
}

/// A TCP connection's state and counters in a few lines, in the style of VPP's `show session verbose 2`.
pub fn tcp_stats_text(s: &tcp::ConnStats) -> String {
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
        [verb @ ("listen" | "unlisten"), who, uri] => {
            let app = find_app(rt, who)?;
            let ep = session::listener_tables::parse_uri(uri).map_err(|e| CliError(e.to_string()))?;
            let wrk = rt
                .ctx
                .tables()
                .control
                .app(app.index)
                .and_then(|a| a.worker(0))
                .ok_or(CliError(format!("app {verb}: {who} has no worker 0")))?;
            let (_, wrk) = rt.ctx.handles_of(wrk).map_err(|e| CliError(e.to_string()))?;
            if *verb == "listen" {
                let l = rt.ctx.listen(app, wrk, ep).map_err(|e| CliError(format!("app listen: {e}")))?;
                Ok(format!("{who} listening on {ep} ({l})\n"))
            } else {
                rt.ctx.unlisten(app, wrk, ep).map_err(|e| CliError(format!("app unlisten: {e}")))?;
                Ok(format!("{who} no longer listening on {ep}\n"))
            }
        }
        _ => err(format!("app: unknown words {:?}\n{HELP}", rest.join(" "))),
    }
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
            Ok(format!("{} (app {index}) listening on {}\n", spec.name, spec.uri))
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
    Ok(Box::new(EchoClientJob { client, uri: spec.uri.to_string() }))
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
            Ok(format!("{} (app {index}) listening on {}\n", spec.name, spec.uri))
        }
        _ => err(format!("test http: unknown words {:?}\n{HELP}", rest.join(" "))),
    }
}

/// `show tcp stats`: TCP counters summed over the workers, and connections by state.
pub fn show_tcp_stats(rt: &mut Runtime) -> CliResult {
    let per_worker = rt.ctx.on_workers(|sw, _, _, _| sw.tcp_stats());
    let mut total = tcp::Counters::default();
    let mut states: std::collections::BTreeMap<String, usize> = Default::default();
    for (c, st) in &per_worker {
        for &k in tcp::Counter::ALL {
            total.add(k, c.get(k));
        }
        for (name, n) in st {
            *states.entry(name.clone()).or_default() += n;
        }
    }
    let mut out = String::from("connections by state:\n");
    if states.is_empty() {
        out.push_str("  none\n");
    }
    for (name, n) in states {
        let _ = writeln!(out, "{n:>12}  {name}");
    }
    out.push_str("counters (all workers):\n");
    for &k in tcp::Counter::ALL {
        let v = total.get(k);
        if v > 0 {
            let _ = writeln!(out, "{v:>12}  {}", k.name());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod test {
    use super::*;
    use session::session::SessionState;
    use session::snapshot::FifoUsage;

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
        let remote =
            shm::types::Endpoint { proto: shm::types::Proto::Tcp, ip: std::net::Ipv4Addr::new(10, 0, 0, 1), port: 7 };
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

    /// The CLI's text for a TCP connection is the one tcp's own `Display` gives (which tcp's tests use).
    #[test]
    fn tcp_stats_text_agrees_with_tcp() {
        assert_eq!(tcp_stats_text(&stats()), stats().to_string());
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
