//! Builtin applications as the operator starts them: from `[[app]]` in the
//! config or `test echo ...` on the CLI. Both go through the one options
//! adapter ([`app_options`]: a struct per kind, every value checked once,
//! errors name the key or word) into an [`AppSpec`], then start the same way:
//! attach a builtin app, register one instance per worker, listen (server)
//! or let the instances connect (client), and for a client collect the
//! per-worker reports and detach when it is done.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use dataplane::device::PortL3;
use echo::{merge_reports, EchoMode, EchoReport};
use session::app_worker::AppWorkerKind;
use session::apps::echo::{EchoClient, EchoClientConfig, EchoServer};
use session::apps::http::HttpServer;
use session::builtin::BuiltinApp;
use session::error::SessionError;
use session::pool::Handle;
use session::quic::{QuicClient, QuicLimits, QuicServer};
use session::tls::{TlsClient, TlsClientOptions, TlsServer, TlsServerOptions};
use session::worker::AppLink;
use shm::types::{AttachOptions, Endpoint, Proto, TransportOptions};

use app_options::{AppCommon, EchoClientOptions, EchoServerOptions, HttpServerOptions, OptionsError, TlsParams};

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
    pub opts: AttachOptions,
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
    /// Server over a `tls://` uri: its certificate, key and ALPN (loaded at listen time).
    pub tls_server: Option<TlsServerOptions>,
    /// Client over a `tls://` uri: trust, server name and ALPN.
    pub tls_client: Option<TlsClientOptions>,
    /// The uri is `quic://`: the TLS options are QUIC's (the uri's endpoint is its UDP one).
    pub quic: bool,
    /// Client over `quic://`: streams per connection (through the parent handle).
    pub streams: u32,
}

impl AppSpec {
    /// A builtin app of `kind` from its options (CLI words through
    /// [`app_options::word_pairs`], or a config table's values): the one
    /// adapter parses and checks each value; this adds the builtin's
    /// defaults and checks the options together.
    pub fn from_pairs(kind: Kind, pairs: &[(String, app_options::Value)]) -> Result<AppSpec, OptionsError> {
        let spec = match kind {
            Kind::EchoServer => {
                let o = EchoServerOptions::from_pairs(pairs)?;
                o.check_builtin()?;
                AppSpec { tls_server: tls_server(&o.tls, "echo"), quic: o.tls.quic, ..AppSpec::new(kind, &o.common) }
            }
            Kind::EchoClient => {
                let o = EchoClientOptions::from_pairs(pairs)?;
                o.check_builtin()?;
                AppSpec {
                    sessions: o.sessions(),
                    bytes: o.bytes(),
                    chunk: o.chunk(),
                    window: o.window(),
                    timeout: o.timeout(),
                    mode: o.mode(),
                    connections: o.client.connections.unwrap_or(0),
                    duration: o.client.duration,
                    tls_client: tls_client(&o.tls, &o.common, "echo"),
                    quic: o.tls.quic,
                    streams: o.client.streams.unwrap_or(1),
                    ..AppSpec::new(kind, &o.common)
                }
            }
            Kind::HttpServer => {
                let o = HttpServerOptions::from_pairs(pairs)?;
                let mut spec = AppSpec::new(kind, &o.common);
                spec.tls_server = tls_server(&o.tls, "http/1.1");
                if let Some(body) = o.http.body {
                    spec.body = body;
                }
                spec
            }
        };
        let mut spec = spec;
        if spec.quic {
            // A derived name says quic, not the udp under it.
            let udp = format!("-udp-{}", spec.uri.port);
            if let Some(prefix) = spec.name.strip_suffix(&udp) {
                spec.name = format!("{prefix}-quic-{}", spec.uri.port);
            }
        } else if spec.tls_server.is_some() || spec.tls_client.is_some() {
            // A derived name says tls, not the tcp under it.
            let tcp = format!("-tcp-{}", spec.uri.port);
            if let Some(prefix) = spec.name.strip_suffix(&tcp) {
                spec.name = format!("{prefix}-tls-{}", spec.uri.port);
            }
        }
        spec.validate().map_err(|(k, e)| OptionsError::new(k, e))?;
        Ok(spec)
    }

    /// The builtin's defaults for `kind`, with the options every kind takes applied.
    fn new(kind: Kind, c: &AppCommon) -> AppSpec {
        let prefix = match kind {
            Kind::EchoServer => "echo-server",
            Kind::EchoClient => "echo-client",
            Kind::HttpServer => "http-server",
        };
        let uri = c.uri;
        let opts = c.attach_options(AttachOptions::builtin());
        let transport = c.transport();
        AppSpec {
            kind,
            uri,
            name: c.name.clone().unwrap_or_else(|| format!("{prefix}-{}-{}", uri.proto, uri.port)),
            opts,
            sessions: 1,
            bytes: 1 << 20,
            chunk: if uri.proto == Proto::Udp { 1400 } else { 64 << 10 },
            window: 32,
            timeout: Duration::from_secs(60),
            mode: EchoMode::Bulk,
            connections: 0,
            duration: None,
            transport,
            body: session::apps::http::DEFAULT_BODY.to_string(),
            tls_server: None,
            tls_client: None,
            quic: false,
            streams: 1,
        }
    }

    /// Parses `uri URI [key value]...` as typed after `test echo server|client`.
    pub fn from_words(kind: Kind, words: &[&str]) -> Result<AppSpec, String> {
        app_options::word_pairs(words).and_then(|p| AppSpec::from_pairs(kind, &p)).map_err(|e| e.to_string())
    }

    /// Checks the options together, once all are set; an error names the key at fault.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        // The attach options together (a fifo larger than its segment, pairs
        // that do not fit), as the attach will check them, but before the
        // node starts, under the names this spec's keys have.
        if let Err(e) = session::application::validate_attach(&self.opts) {
            return Err(match e {
                SessionError::InvalidValue { key, reason } => (spec_key(key), reason),
                e @ SessionError::UnsupportedConfig(_) if self.opts.proxy.any() => ("proxy", e.to_string()),
                other => ("name", other.to_string()),
            });
        }
        self.transport.validate().map_err(|e| ("mss", SessionError::from(e).to_string()))?;
        Ok(())
    }

    /// Connections a `cps` run makes when neither `connections` nor `duration` is given.
    pub const DEFAULT_CONNECTIONS: u64 = app_options::DEFAULT_CONNECTIONS;

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

impl AppSpec {
    /// The uri as written: `tls://` when TLS runs over the tcp one.
    pub fn uri_text(&self) -> String {
        let u = self.uri.to_string();
        match u.strip_prefix("tcp://") {
            Some(rest) if self.tls_server.is_some() || self.tls_client.is_some() => format!("tls://{rest}"),
            _ => u,
        }
    }
}

/// A server's TLS options from `tls` (none unless the uri is `tls://`); ALPN defaults to `alpn`.
fn tls_server(tls: &TlsParams, alpn: &str) -> Option<TlsServerOptions> {
    tls.enabled.then(|| TlsServerOptions {
        cert: tls.cert.clone().unwrap_or_default(),
        key: tls.key.clone().unwrap_or_default(),
        alpn: tls.alpn.clone().unwrap_or_else(|| vec![alpn.to_string()]),
    })
}

/// A client's TLS options; the server name defaults to the uri's address.
fn tls_client(tls: &TlsParams, c: &AppCommon, alpn: &str) -> Option<TlsClientOptions> {
    tls.enabled.then(|| TlsClientOptions {
        ca: tls.ca.clone(),
        server_name: tls.server_name.clone().unwrap_or_else(|| c.uri.ip.to_string()),
        insecure: tls.insecure.unwrap_or(false),
        alpn: tls.alpn.clone().unwrap_or_else(|| vec![alpn.to_string()]),
    })
}

/// The [[app]] / CLI key of an attach option the session layer names.
fn spec_key(key: &'static str) -> &'static str {
    match key {
        "rx_fifo_size" | "tx_fifo_size" => "fifo_size",
        "prealloc_fifo_pairs" => "prealloc_fifos",
        k => k,
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
            // The CA file is read now: a bad one is this start's error.
            let tls = spec.tls_client.as_ref().map(TlsClient::load).transpose().map_err(|e| e.to_string())?;
            let quic = match (&tls, spec.quic) {
                (Some(t), true) => Some(
                    QuicClient::from_tls(t, &QuicLimits::default(), spec.opts.rx_fifo_size)
                        .map_err(|e| e.to_string())?,
                ),
                _ => None,
            };
            let mut factory = |w: u32| {
                let c = EchoClient::new(cfg.clone(), w, workers, tx.clone());
                let c = match (&quic, &tls) {
                    (Some(q), _) => c.with_quic(q.clone(), spec.streams),
                    (None, Some(t)) => c.with_tls(t.clone()),
                    (None, None) => c,
                };
                AppLink::Builtin(Some(Box::new(c)))
            };
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
    make: &mut dyn FnMut(u32) -> Box<dyn BuiltinApp<PortL3>>,
) -> Result<Option<RunningClient>, String> {
    let mut factory = |w: u32| AppLink::Builtin(Some(make(w)));
    let (app, wrk, _) = rt
        .ctx
        .attach(&spec.name, spec.opts.clone(), AppWorkerKind::Builtin, &mut factory)
        .map_err(|e| e.to_string())?;
    let r = match &spec.tls_server {
        Some(t) if spec.quic => QuicServer::load(t, &QuicLimits::default(), spec.opts.rx_fifo_size)
            .and_then(|q| rt.ctx.listen_quic(app, wrk, spec.uri, q)),
        // The certificate and key are read and checked now: a bad file is this listen's error.
        Some(t) => TlsServer::load(t).and_then(|t| rt.ctx.listen_tls(app, wrk, spec.uri, spec.transport, t)),
        None => rt.ctx.listen_with(app, wrk, spec.uri, spec.transport),
    };
    if let Err(e) = r {
        let _ = rt.ctx.detach(app);
        return Err(e.to_string());
    }
    Ok(None)
}

#[cfg(test)]
mod test {
    use super::*;
    use shm::limits;

    #[test]
    fn sizes() {
        assert_eq!(limits::parse_size("4096"), Some(4096));
        assert_eq!(limits::parse_size("64k"), Some(65536));
        assert_eq!(limits::parse_size("1M"), Some(1 << 20));
        assert_eq!(limits::parse_size("2g"), Some(2 << 30));
        assert_eq!(limits::parse_size("k"), None);
        assert_eq!(limits::parse_size("x1"), None);
    }

    #[test]
    fn a_tls_spec_shows_its_uri_as_tls() {
        let s = AppSpec::from_words(Kind::EchoClient, &["uri", "tls://198.18.0.1/8443", "insecure", "on"]).unwrap();
        assert_eq!(s.uri_text(), "tls://198.18.0.1/8443");
        let s = AppSpec::from_words(Kind::EchoServer, &["uri", "tls://0.0.0.0/443", "cert", "c", "key", "k"]).unwrap();
        assert_eq!(s.uri_text(), "tls://0.0.0.0/443");
        let s = AppSpec::from_words(Kind::EchoServer, &["uri", "tcp://0.0.0.0/7"]).unwrap();
        assert_eq!(s.uri_text(), "tcp://0.0.0.0/7");
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
    fn cli_words_take_the_same_ranges_as_the_config_and_the_api() {
        let c = |w: &[&str]| AppSpec::from_words(Kind::EchoServer, w);
        for v in ["0", "1", "87", "9001", "70000"] {
            let e = c(&["uri", "tcp://0.0.0.0/7004", "mss", v]).unwrap_err();
            assert!(e.starts_with("mss: ") && e.contains("outside 88..=9000"), "{v}: {e}");
        }
        assert_eq!(c(&["uri", "tcp://0.0.0.0/7", "mss", "88"]).unwrap().transport.mss, Some(88));
        let e = c(&["uri", "tcp://0.0.0.0/7", "no-delay", "maybe"]).unwrap_err();
        assert!(e.starts_with("no-delay: \"maybe\" is not on or off"), "{e}");
        assert!(!c(&["uri", "tcp://0.0.0.0/7", "no-delay", "off"]).unwrap().transport.no_delay);
        assert!(c(&["uri", "tcp://0.0.0.0/7", "no-delay", "on"]).unwrap().transport.no_delay);
        let e = c(&["uri", "tcp://0.0.0.0/7", "fifo-size", "3k"]).unwrap_err();
        assert!(e.starts_with("fifo-size: ") && e.contains("4k..=64m"), "{e}");
        let e = c(&["uri", "tcp://0.0.0.0/7", "fifo-size", "64m", "segment-size", "16m"]).unwrap_err();
        assert!(e.starts_with("fifo_size: "), "{e}");
        let cl = |w: &[&str]| AppSpec::from_words(Kind::EchoClient, w);
        for (w, key) in [
            ("sessions", "0"),
            ("sessions", "100000"),
            ("window", "0"),
            ("chunk", "8"),
            ("bytes", "0"),
            ("timeout", "NaN"),
            ("duration", "inf"),
            ("connections", "0"),
        ] {
            let e = cl(&["uri", "tcp://1.1.1.1/7", "mode", "cps", w, key]).unwrap_err();
            assert!(e.starts_with(w) && e.contains("..="), "{w} {key}: {e}");
        }
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
