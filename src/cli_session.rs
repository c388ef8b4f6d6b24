//! CLI commands of the session layer: `show app ...`, `show session ...`,
//! `app ns ...`, `app detach`, and `test echo server|client ...`.

use std::fmt::Write as _;

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
        let per_worker = rt.ctx.on_workers(|sw, _, _, _| sw.describe_apps());
        for (w, apps) in per_worker.iter().enumerate() {
            for (wrk, d) in apps {
                if workers.contains(wrk) && !d.is_empty() {
                    let _ = writeln!(out, "    on worker {w} (app worker {wrk}): {d}");
                }
            }
        }
    }
    Ok(out)
}

fn show_app_client(rt: &mut Runtime) -> String {
    let per_worker = rt.ctx.on_workers(|sw, _, _, _| sw.client_sessions());
    let control = &rt.ctx.tables().control;
    let mut out = format!("{:<32}{}\n", "App", "Connection");
    for (wrk, line) in per_worker.into_iter().flatten() {
        let name =
            control.app_worker(wrk).and_then(|w| control.app(w.app_index)).map_or("?".to_string(), |a| a.name.clone());
        let _ = writeln!(out, "{name:<32}{line}");
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
    let per_worker = rt.ctx.on_workers(move |sw, _, _, _| sw.format_sessions(verbose));
    let mut out = String::new();
    let mut total = 0;
    for (w, lines) in per_worker.iter().enumerate() {
        let _ = writeln!(out, "worker {w}: {} sessions", lines.len());
        if !lines.is_empty() {
            let _ =
                writeln!(out, "{:<10} {:<7} {:<21} {:<21} {:<17} App", "Session", "Proto", "Local", "Remote", "State");
        }
        for l in lines {
            let _ = writeln!(out, "{l}");
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
