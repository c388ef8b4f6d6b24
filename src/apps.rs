//! Builtin applications as the operator starts them: from `[[app]]` in the
//! config or `test echo ...` on the CLI. Both are parsed into an
//! [`AppSpec`] (errors name the key or word), then started the same way:
//! attach a builtin app, register one instance per worker, listen (server)
//! or let the instances connect (client), and for a client collect the
//! per-worker reports and detach when it is done.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use session::app_worker::AppWorkerKind;
use session::application::AppOptions;
use session::apps::echo::{merge_reports, parse_size, EchoClient, EchoClientConfig, EchoMode, EchoReport, EchoServer};
use session::apps::http::HttpServer;
use session::builtin::BuiltinApp;
use session::lookup::{parse_uri, Endpoint};
use session::pool::Handle;
use session::transport::{CongestionControl, TransportOptions};
use session::worker::AppEndpoint;

use crate::runtime::Runtime;

/// Builtin kinds, by their config/CLI names.
pub const KINDS: &[&str] = &["echo-server", "echo-client", "http-server"];

/// Which builtin app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Echo server.
    EchoServer,
    /// Echo client.
    EchoClient,
    /// HTTP/1.1 server with a static page.
    HttpServer,
}

/// A builtin app to start.
#[derive(Debug, Clone)]
pub struct AppSpec {
    /// Kind.
    pub kind: Kind,
    /// Server: where to listen. Client: where to connect.
    pub uri: Endpoint,
    /// App name (unique on the node); derived from kind and uri when not given.
    pub name: String,
    /// Attach options (namespace, scope, fifo sizes).
    pub opts: AppOptions,
    /// Client: sessions.
    pub sessions: u32,
    /// Client: bytes per session.
    pub bytes: u64,
    /// Client: largest write/datagram.
    pub chunk: usize,
    /// Client: datagrams in flight per session.
    pub window: usize,
    /// Client: give up after this long (counted after `duration`, if any).
    pub timeout: Duration,
    /// Client: what to measure (`bulk`, `rr`, `cps`).
    pub mode: EchoMode,
    /// Client, `cps`: connections in all (0: not given).
    pub connections: u64,
    /// Client: run this long instead of `bytes` per session (`cps`: at most this long).
    pub duration: Option<Duration>,
    /// Client: transport options.
    pub transport: TransportOptions,
    /// HTTP server: the body served for `/`.
    pub body: String,
}

impl AppSpec {
    /// Defaults for `kind` on `uri`.
    pub fn new(kind: Kind, uri: Endpoint) -> AppSpec {
        let prefix = match kind {
            Kind::EchoServer => "echo-server",
            Kind::EchoClient => "echo-client",
            Kind::HttpServer => "http-server",
        };
        let opts = AppOptions { builtin: true, ..AppOptions::default() };
        AppSpec {
            kind,
            uri,
            name: format!("{prefix}-{}-{}", uri.proto, uri.port),
            opts,
            sessions: 1,
            bytes: 1 << 20,
            chunk: if uri.proto == session::lookup::Proto::Udp { 1400 } else { 64 << 10 },
            window: 32,
            timeout: Duration::from_secs(60),
            mode: EchoMode::Bulk,
            connections: 0,
            duration: None,
            transport: TransportOptions::default(),
            body: session::apps::http::DEFAULT_BODY.to_string(),
        }
    }

    /// Applies one `key value` option; errors say what is wrong with which key.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let num = |v: &str| v.parse::<u64>().map_err(|_| format!("{key}: {v:?} is not a number"));
        let size = |v: &str| parse_size(v).ok_or(format!("{key}: {v:?} is not a size (e.g. 4096, 64k, 1m)"));
        let client_only = |k: Kind| {
            if k == Kind::EchoClient {
                Ok(())
            } else {
                Err(format!("{key}: only an echo client takes it"))
            }
        };
        match key {
            "name" => self.name = value.to_string(),
            "namespace" => self.opts.namespace_id = value.to_string(),
            "secret" => self.opts.namespace_secret = num(value)?,
            "scope" => {
                (self.opts.scope_global, self.opts.scope_local) = match value {
                    "global" => (true, false),
                    "local" => (false, true),
                    "both" | "global,local" => (true, true),
                    _ => return Err(format!("{key}: {value:?} is not global, local or both")),
                }
            }
            "proxy" => {
                (self.opts.proxy_tcp, self.opts.proxy_udp) = match value {
                    "tcp" => (true, false),
                    "udp" => (false, true),
                    "both" | "tcp,udp" => (true, true),
                    "none" => (false, false),
                    _ => return Err(format!("{key}: {value:?} is not tcp, udp, both or none")),
                }
            }
            "fifo-size" | "fifo_size" => {
                let v = u32::try_from(size(value)?).map_err(|_| format!("{key}: too large"))?;
                self.opts.rx_fifo_size = v;
                self.opts.tx_fifo_size = v;
            }
            "segment-size" | "segment_size" => self.opts.segment_size = size(value)?,
            "prealloc-fifos" | "prealloc_fifos" => {
                self.opts.prealloc_fifo_pairs = u32::try_from(num(value)?).map_err(|_| format!("{key}: too large"))?
            }
            "sessions" => {
                client_only(self.kind)?;
                self.sessions = u32::try_from(num(value)?).ok().filter(|&n| n > 0).ok_or(format!("{key}: 1.."))?;
            }
            "bytes" => {
                client_only(self.kind)?;
                self.bytes = size(value)?;
            }
            "chunk" => {
                client_only(self.kind)?;
                self.chunk = usize::try_from(size(value)?)
                    .ok()
                    .filter(|&n| (9..=65536).contains(&n))
                    .ok_or(format!("{key}: {value} must be 9..=65536 bytes"))?;
            }
            "window" => {
                client_only(self.kind)?;
                self.window = usize::try_from(num(value)?).ok().filter(|&n| n > 0).ok_or(format!("{key}: 1.."))?;
            }
            "timeout" => {
                client_only(self.kind)?;
                let secs: f64 = value.parse().map_err(|_| format!("{key}: {value:?} is not seconds"))?;
                if !(0.1..=86400.0).contains(&secs) {
                    return Err(format!("{key}: {value} must be 0.1..=86400 seconds"));
                }
                self.timeout = Duration::from_secs_f64(secs);
            }
            "mode" => {
                client_only(self.kind)?;
                self.mode = EchoMode::parse(value).ok_or(format!("{key}: {value:?} is not {}", EchoMode::NAMES))?;
            }
            "connections" => {
                client_only(self.kind)?;
                self.connections = num(value)?;
                if self.connections == 0 {
                    return Err(format!("{key}: 1.."));
                }
            }
            "duration" => {
                client_only(self.kind)?;
                let secs: f64 = value.parse().map_err(|_| format!("{key}: {value:?} is not seconds"))?;
                if !(0.1..=86400.0).contains(&secs) {
                    return Err(format!("{key}: {value} must be 0.1..=86400 seconds"));
                }
                self.duration = Some(Duration::from_secs_f64(secs));
            }
            "mss" => self.transport.mss = Some(u16::try_from(num(value)?).map_err(|_| format!("{key}: too large"))?),
            "cc" => {
                self.transport.cc = match value {
                    "newreno" => CongestionControl::NewReno,
                    "cubic" => CongestionControl::Cubic,
                    _ => return Err(format!("{key}: {value:?} is not newreno or cubic")),
                }
            }
            "body" => {
                if self.kind != Kind::HttpServer {
                    return Err(format!("{key}: only an http server takes it"));
                }
                self.body = value.to_string();
            }
            "no-delay" | "nodelay" => {
                self.transport.no_delay = matches!(value, "on" | "yes" | "true" | "1");
            }
            _ => return Err(format!("unknown option {key:?}")),
        }
        Ok(())
    }

    /// Parses `uri URI [key value]...` as typed after `test echo server|client`.
    pub fn from_words(kind: Kind, words: &[&str]) -> Result<AppSpec, String> {
        let mut uri = None;
        let mut rest = Vec::new();
        let mut it = words.iter();
        while let Some(&k) = it.next() {
            let v = *it.next().ok_or(format!("{k} needs a value"))?;
            if k == "uri" {
                uri = Some(parse_uri(v).map_err(|e| e.to_string())?);
            } else {
                rest.push((k, v));
            }
        }
        let mut spec = AppSpec::new(kind, uri.ok_or("uri is required (e.g. uri udp://0.0.0.0/7)")?);
        for (k, v) in rest {
            spec.set(k, v)?;
        }
        spec.validate().map_err(|(k, e)| format!("{k}: {e}"))?;
        Ok(spec)
    }

    /// Checks the options together, once all are set; an error names the key at fault.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.connections > 0 && self.mode != EchoMode::Cps {
            return Err(("connections", format!("only mode cps takes it (mode is {})", self.mode)));
        }
        if self.mode == EchoMode::Cps && self.uri.proto == session::lookup::Proto::Udp {
            return Err(("mode", "cps needs a tcp uri (UDP has no connections to open and close)".into()));
        }
        Ok(())
    }

    /// Connections a `cps` run makes when neither `connections` nor `duration` is given.
    pub const DEFAULT_CONNECTIONS: u64 = 1000;

    /// The echo client's configuration (also what `dpnode kbench client` runs).
    pub fn client_config(&self) -> EchoClientConfig {
        EchoClientConfig {
            remote: self.uri,
            sessions: self.sessions,
            bytes: self.bytes,
            chunk: self.chunk,
            window: self.window,
            timeout_ns: self.timeout.as_nanos() as u64,
            options: self.transport,
            mode: self.mode,
            connections: match (self.mode, self.connections, self.duration) {
                (EchoMode::Cps, 0, None) => Self::DEFAULT_CONNECTIONS,
                (_, n, _) => n,
            },
            duration_ns: self.duration.map_or(0, |d| d.as_nanos() as u64),
        }
    }
}

/// An echo client run in progress.
pub struct RunningClient {
    /// The client app.
    pub app: Handle,
    /// Its name.
    pub name: String,
    rx: mpsc::Receiver<EchoReport>,
    expected: usize,
    reports: Vec<EchoReport>,
    deadline: Instant,
}

impl RunningClient {
    /// Collects reports that arrived; the merged report once all workers have reported (or the wait is over).
    pub fn poll(&mut self) -> Option<EchoReport> {
        while let Ok(r) = self.rx.try_recv() {
            self.reports.push(r);
        }
        if self.reports.len() >= self.expected || Instant::now() >= self.deadline {
            let mut r = merge_reports(std::mem::take(&mut self.reports));
            if self.expected > 0 && r.sessions == 0 {
                r.timed_out = true;
            }
            return Some(r);
        }
        None
    }
}

/// Starts a builtin app: a server listens and keeps running; a client starts connecting and is returned to be polled.
pub fn start(rt: &mut Runtime, spec: &AppSpec) -> Result<Option<RunningClient>, String> {
    let workers = rt.ctx.workers.len() as u32;
    match spec.kind {
        Kind::EchoServer => start_server(rt, spec, &mut |_| Box::new(EchoServer::new())),
        Kind::HttpServer => {
            let body = spec.body.clone();
            start_server(rt, spec, &mut |_| Box::new(HttpServer::new(&body)))
        }
        Kind::EchoClient => {
            let (tx, rx) = mpsc::channel();
            let cfg = spec.client_config();
            let mut factory =
                |w: u32| AppEndpoint::Builtin(Some(Box::new(EchoClient::new(cfg.clone(), w, workers, tx.clone()))));
            let (app, _, _) = rt
                .ctx
                .attach(&spec.name, spec.opts.clone(), AppWorkerKind::Builtin, &mut factory)
                .map_err(|e| e.to_string())?;
            Ok(Some(RunningClient {
                app,
                name: spec.name.clone(),
                rx,
                expected: workers as usize,
                reports: Vec::new(),
                deadline: Instant::now() + spec.duration.unwrap_or_default() + spec.timeout + Duration::from_secs(5),
            }))
        }
    }
}

/// Attaches a server app (one instance per worker from `make`) and listens on its uri.
fn start_server(
    rt: &mut Runtime,
    spec: &AppSpec,
    make: &mut dyn FnMut(u32) -> Box<dyn BuiltinApp>,
) -> Result<Option<RunningClient>, String> {
    let mut factory = |w: u32| AppEndpoint::Builtin(Some(make(w)));
    let (app, wrk, _) = rt
        .ctx
        .attach(&spec.name, spec.opts.clone(), AppWorkerKind::Builtin, &mut factory)
        .map_err(|e| e.to_string())?;
    if let Err(e) = rt.ctx.listen_with(app, wrk, spec.uri, spec.transport) {
        let _ = rt.ctx.detach(app);
        return Err(e.to_string());
    }
    Ok(None)
}

/// Runs an echo client to the end (the CLI's `test echo client`), then detaches it.
pub fn run_client(rt: &mut Runtime, spec: &AppSpec) -> Result<EchoReport, String> {
    let mut c = start(rt, spec)?.ok_or("not a client")?;
    loop {
        rt.ctx.run_worker_rpcs();
        // Links keep being watched (a memif peer may restart meanwhile).
        rt.check_links();
        // External apps (an external echo server, say) keep being served meanwhile.
        if let Some(api) = rt.api.as_mut() {
            api.service(&mut rt.ctx);
        }
        if let Some(r) = c.poll() {
            let _ = rt.ctx.detach(c.app);
            return Ok(r);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("64k"), Some(65536));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("2g"), Some(2 << 30));
        assert_eq!(parse_size("k"), None);
        assert_eq!(parse_size("x1"), None);
    }

    #[test]
    fn words_parse_and_errors_name_the_word() {
        let s = AppSpec::from_words(Kind::EchoClient, &["uri", "udp://198.18.0.1/7", "sessions", "4", "bytes", "1m"])
            .unwrap();
        assert_eq!((s.sessions, s.bytes, s.chunk), (4, 1 << 20, 1400));
        assert_eq!(s.name, "echo-client-udp-7");
        let e = AppSpec::from_words(Kind::EchoServer, &["uri", "udp://0.0.0.0/7", "sessions", "4"]).unwrap_err();
        assert!(e.contains("sessions"), "{e}");
        let e = AppSpec::from_words(Kind::EchoServer, &["uri", "bogus"]).unwrap_err();
        assert!(e.contains("uri"), "{e}");
        let e = AppSpec::from_words(Kind::EchoServer, &["sessions"]).unwrap_err();
        assert!(e.contains("needs a value"), "{e}");
        let e = AppSpec::from_words(Kind::EchoServer, &["uri", "udp://0.0.0.0/7", "colour", "red"]).unwrap_err();
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn client_modes_and_their_errors() {
        let c = |w: &[&str]| AppSpec::from_words(Kind::EchoClient, w);
        let s = c(&["uri", "tcp://198.18.0.1/7", "mode", "rr", "chunk", "64", "duration", "2.5"]).unwrap();
        assert_eq!((s.mode, s.chunk, s.duration), (EchoMode::Rr, 64, Some(Duration::from_millis(2500))));
        let cfg = s.client_config();
        assert_eq!((cfg.mode, cfg.duration_ns, cfg.connections), (EchoMode::Rr, 2_500_000_000, 0));
        // Order does not matter; cps without a limit gets the default count.
        let s = c(&["uri", "tcp://198.18.0.1/7", "connections", "50", "mode", "cps", "sessions", "4"]).unwrap();
        assert_eq!((s.client_config().connections, s.sessions), (50, 4));
        let s = c(&["uri", "tcp://198.18.0.1/7", "mode", "cps"]).unwrap();
        assert_eq!(s.client_config().connections, AppSpec::DEFAULT_CONNECTIONS);
        let s = c(&["uri", "tcp://198.18.0.1/7", "mode", "cps", "duration", "1"]).unwrap();
        assert_eq!(s.client_config().connections, 0, "time-bound");
        assert_eq!(c(&["uri", "udp://198.18.0.1/7"]).unwrap().mode, EchoMode::Bulk);
        for (words, key) in [
            (&["uri", "tcp://198.18.0.1/7", "mode", "pingpong"][..], "mode"),
            (&["uri", "tcp://198.18.0.1/7", "connections", "5"][..], "connections"),
            (&["uri", "tcp://198.18.0.1/7", "mode", "cps", "connections", "0"][..], "connections"),
            (&["uri", "udp://198.18.0.1/7", "mode", "cps"][..], "mode"),
            (&["uri", "tcp://198.18.0.1/7", "duration", "soon"][..], "duration"),
            (&["uri", "tcp://198.18.0.1/7", "duration", "0"][..], "duration"),
        ] {
            let e = c(words).unwrap_err();
            assert!(e.starts_with(key), "{words:?}: {e}");
        }
        let e = AppSpec::from_words(Kind::EchoServer, &["uri", "tcp://0.0.0.0/7", "mode", "rr"]).unwrap_err();
        assert!(e.contains("mode") && e.contains("only an echo client"), "{e}");
    }
}
