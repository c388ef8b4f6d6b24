//! The options of the apps an operator starts: one struct per kind
//! ([`EchoServerOptions`], [`EchoClientOptions`], [`HttpServerOptions`]),
//! each a serde type, and one adapter from VPP-style word pairs
//! (`uri tcp://0.0.0.0/7 mss 1200 fifo-size 64k`) to it ([`pairs`]).
//!
//! Every entry point parses with these: `[[app]]` in the node's config, `test
//! echo ...` / `test http ...` on its CLI, `dpnode kbench` (the kernel's twin)
//! and the external echo apps (`dpnode echo ...`, `dpnode-echo`). So a key
//! means the same everywhere, every number is checked against its one range
//! in [`shm::limits`], enums and endpoints are typed values once parsed, and
//! an error names the key the user wrote (`mss: 0 is outside 88..=9000`).
//!
//! This crate sits on `shm` and `serde` only (no DPDK), so the client library
//! and the node both use it; what a struct turns into (a builtin app's attach
//! options, an external app's) is each runner's business.

#![warn(missing_docs)]

pub mod pairs;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use echo::EchoMode;
use serde::de::{self, DeserializeOwned, Deserializer};
use serde::Deserialize;
use shm::limits::{self, FloatLimit, Limit};
use std::str::FromStr;

use shm::types::{AttachOptions, Cc, Endpoint, ParseError, Proto, ProxySet, Scope, TransportOptions};

pub use pairs::{word_pairs, OptionsError, Pairs, Value};

// --- Field parsers: a word (`"64k"`, `"on"`, `"2.5"`) or a TOML value. ---

/// A whole number within `limit` (sizes such as `64k` for byte limits), narrowed to `T`.
fn limited<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D, limit: &'static Limit) -> Result<Option<T>, D::Error> {
    struct V<T>(&'static Limit, std::marker::PhantomData<T>);
    impl<T: TryFrom<u64>> de::Visitor<'_> for V<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a number in {}", self.0.range())
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
            self.0.parse_into(self.0.key, s).map_err(|e| E::custom(e.reason))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
            self.0.check_into(self.0.key, v).map_err(|e| E::custom(e.reason))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
            match u64::try_from(v) {
                Ok(v) => self.visit_u64(v),
                Err(_) => Err(E::custom(format!("{v} is outside {}", self.0.range()))),
            }
        }
    }
    d.deserialize_any(V(limit, std::marker::PhantomData)).map(Some)
}

/// Seconds within `limit` (`2.5`, `"2.5"`, `3`).
fn seconds<'de, D: Deserializer<'de>>(d: D, limit: &'static FloatLimit) -> Result<Option<Duration>, D::Error> {
    struct V(&'static FloatLimit);
    impl de::Visitor<'_> for V {
        type Value = Duration;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "seconds in {}", self.0.range())
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Duration, E> {
            self.0.parse_secs(self.0.key, s).map_err(|e| E::custom(e.reason))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
            self.0.check(v).map(Duration::from_secs_f64).map_err(|e| E::custom(e.reason))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
            self.visit_f64(v as f64)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
            self.visit_f64(v as f64)
        }
    }
    d.deserialize_any(V(limit)).map(Some)
}

/// A word parsed by `parse`, which says what it expected.
fn word<'de, D: Deserializer<'de>, T>(d: D, parse: fn(&str) -> Result<T, String>) -> Result<Option<T>, D::Error> {
    struct V<T>(fn(&str) -> Result<T, String>);
    impl<T> de::Visitor<'_> for V<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a word")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
            (self.0)(s).map_err(E::custom)
        }
    }
    d.deserialize_any(V(parse)).map(Some)
}

/// On or off: a TOML boolean or a switch word ([`limits::parse_switch`]).
fn switch<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    struct V;
    impl de::Visitor<'_> for V {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "on or off ({})", limits::SWITCH_WORDS)
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<bool, E> {
            limits::parse_switch("switch", s).map_err(|e| E::custom(e.reason))
        }
    }
    d.deserialize_any(V).map(Some)
}

/// Any whole number (a namespace secret).
fn number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    struct V;
    impl de::Visitor<'_> for V {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a whole number")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<u64, E> {
            s.parse().map_err(|_| E::custom(format!("{s:?} is not a number")))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom(format!("{v} is not a number in 0..=2^64-1")))
        }
    }
    d.deserialize_any(V).map(Some)
}

fn parse_uri(s: &str) -> Result<Endpoint, String> {
    // `quic://` is a UDP endpoint; the scheme itself is read by [`uri_is_quic`].
    if let Some(e) = Endpoint::parse_quic_uri(s) {
        return Ok(e);
    }
    // `tls://` is a TCP endpoint; the scheme itself is read by [`uri_is_tls`].
    Endpoint::parse_app_uri(s)
        .map(|(e, _)| e)
        .ok_or_else(|| format!("{s:?} is not PROTO://ADDR/PORT (PROTO tcp, udp, tls or quic)"))
}

/// Whether the `uri` among `pairs` is a `tls://` one.
fn uri_is_tls(pairs: &[(String, Value)]) -> bool {
    pairs.iter().any(|(k, v)| {
        k == "uri" && matches!(v, Value::Str(s) if Endpoint::parse_app_uri(s).is_some_and(|(_, tls)| tls))
    })
}

/// Whether the `uri` among `pairs` is a `quic://` one.
fn uri_is_quic(pairs: &[(String, Value)]) -> bool {
    pairs.iter().any(|(k, v)| k == "uri" && matches!(v, Value::Str(s) if Endpoint::parse_quic_uri(s).is_some()))
}

/// A comma-separated ALPN list (`h2,http/1.1`): each name 1 to 255 bytes.
fn alpn<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    word(d, |s| {
        let l: Vec<String> = s.split(',').map(|p| p.trim().to_string()).collect();
        match l.iter().find(|p| p.is_empty() || p.len() > 255) {
            Some(p) => Err(format!("{p:?}: a protocol name is 1 to 255 bytes")),
            None => Ok(l),
        }
    })
}

fn uri<'de, D: Deserializer<'de>>(d: D) -> Result<Endpoint, D::Error> {
    word(d, parse_uri)?.ok_or_else(|| de::Error::custom("a uri is required"))
}

/// A vocabulary value by its word (`cubic`, `local`, `tcp,udp`).
fn parsed<T: FromStr<Err = ParseError>>(s: &str) -> Result<T, String> {
    s.parse().map_err(|e: ParseError| e.0)
}

fn cc<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cc>, D::Error> {
    word(d, parsed)
}

fn scope<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Scope>, D::Error> {
    word(d, parsed)
}

fn proxy<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ProxySet>, D::Error> {
    word(d, parsed)
}

fn mode<'de, D: Deserializer<'de>>(d: D) -> Result<Option<EchoMode>, D::Error> {
    word(d, |s| EchoMode::parse(s).ok_or_else(|| format!("{s:?} is not {}", EchoMode::NAMES)))
}

/// `add_segment_size`: 0 (as large as the first) or a size in its range.
fn add_segment_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    struct V;
    impl de::Visitor<'_> for V {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "0 or a size in {}", limits::ADD_SEGMENT_SIZE.range())
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<u64, E> {
            match s {
                "0" => Ok(0),
                s => limits::ADD_SEGMENT_SIZE.parse("add_segment_size", s).map_err(|e| E::custom(e.reason)),
            }
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            match v {
                0 => Ok(0),
                v => self.visit_str(&v.to_string()),
            }
        }
    }
    d.deserialize_any(V).map(Some)
}

macro_rules! limited_fields {
    ($($name:ident: $t:ty = $limit:path;)*) => {$(
        fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<$t>, D::Error> {
            limited(d, &$limit)
        }
    )*};
}

limited_fields! {
    fifo_size: u32 = limits::FIFO_SIZE;
    segment_size: u64 = limits::SEGMENT_SIZE;
    prealloc_fifos: u32 = limits::PREALLOC_FIFOS;
    event_queue_size: u32 = limits::EVENT_QUEUE_SIZE;
    mss: u16 = limits::MSS;
    threads: u32 = limits::THREADS;
    sessions: u32 = limits::SESSIONS;
    bytes: u64 = limits::BYTES;
    chunk: usize = limits::CHUNK;
    window: usize = limits::WINDOW;
    connections: u64 = limits::CONNECTIONS;
    streams: u32 = limits::STREAMS;
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    seconds(d, &limits::DURATION)
}

fn timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    seconds(d, &limits::TIMEOUT)
}

// --- The parts the kinds are made of. ---

/// What every app takes: where, its name, how it attaches, its TCP options.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppCommon {
    /// `PROTO://ADDR/PORT`: where a server listens, where a client connects.
    #[serde(deserialize_with = "uri")]
    pub uri: Endpoint,
    /// App name (unique on the node); each runner derives one when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// Namespace to attach in (absent: the default one).
    #[serde(default)]
    pub namespace: Option<String>,
    /// That namespace's secret.
    #[serde(default, deserialize_with = "number")]
    pub secret: Option<u64>,
    /// Scope (absent: global).
    #[serde(default, deserialize_with = "scope")]
    pub scope: Option<Scope>,
    /// Proxy transports (absent: none).
    #[serde(default, deserialize_with = "proxy")]
    pub proxy: Option<ProxySet>,
    /// Rx and tx fifo size per session.
    #[serde(default, deserialize_with = "fifo_size")]
    pub fifo_size: Option<u32>,
    /// First segment size.
    #[serde(default, deserialize_with = "segment_size")]
    pub segment_size: Option<u64>,
    /// Fifo pairs carved out at attach.
    #[serde(default, deserialize_with = "prealloc_fifos")]
    pub prealloc_fifos: Option<u32>,
    /// TCP: MSS cap (a client's connects, a server's accepted connections).
    #[serde(default, deserialize_with = "mss")]
    pub mss: Option<u16>,
    /// TCP: congestion control.
    #[serde(default, deserialize_with = "cc")]
    pub cc: Option<Cc>,
    /// TCP: Nagle off.
    #[serde(default, deserialize_with = "switch")]
    pub no_delay: Option<bool>,
}

impl AppCommon {
    /// The transport options these give (unset ones at their defaults).
    pub fn transport(&self) -> TransportOptions {
        TransportOptions {
            mss: self.mss,
            cc: self.cc.unwrap_or_default(),
            no_delay: self.no_delay.unwrap_or(false),
            keepalive: false,
        }
    }

    /// The attach options these give over `defaults` (a builtin app's or an external one's); the
    /// options only an external app takes are [`External::attach_options`]'s.
    pub fn attach_options(&self, defaults: AttachOptions) -> AttachOptions {
        let mut o = defaults;
        if let Some(ns) = &self.namespace {
            o.namespace = ns.clone();
        }
        o.secret = self.secret.unwrap_or(o.secret);
        if let Some(scope) = self.scope {
            o.scope = scope;
        }
        o.proxy = self.proxy.unwrap_or(o.proxy);
        if let Some(size) = self.fifo_size {
            (o.rx_fifo_size, o.tx_fifo_size) = (size, size);
        }
        o.segment_size = self.segment_size.unwrap_or(o.segment_size);
        o.prealloc_fifo_pairs = self.prealloc_fifos.unwrap_or(o.prealloc_fifo_pairs);
        o
    }
}

/// What only an external app (`dpnode echo`, `dpnode-echo`) takes.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct External {
    /// The node's API socket.
    #[serde(default)]
    pub socket: Option<PathBuf>,
    /// App workers, one thread each.
    #[serde(default, deserialize_with = "threads")]
    pub threads: Option<u32>,
    /// Size of segments added later (0: as the first).
    #[serde(default, deserialize_with = "add_segment_size")]
    pub add_segment_size: Option<u64>,
    /// Messages per event queue.
    #[serde(default, deserialize_with = "event_queue_size")]
    pub event_queue_size: Option<u32>,
    /// Sleep on an eventfd (on) or poll (off).
    #[serde(default, deserialize_with = "switch")]
    pub eventfd: Option<bool>,
}

impl External {
    /// The first option given, if any: a builtin app refuses them.
    fn first_given(&self) -> Option<&'static str> {
        [
            ("socket", self.socket.is_some()),
            ("threads", self.threads.is_some()),
            ("add_segment_size", self.add_segment_size.is_some()),
            ("event_queue_size", self.event_queue_size.is_some()),
            ("eventfd", self.eventfd.is_some()),
        ]
        .into_iter()
        .find_map(|(k, given)| given.then_some(k))
    }

    /// `o` with the options only an external app takes applied.
    pub fn attach_options(&self, mut o: AttachOptions) -> AttachOptions {
        o.add_segment_size = self.add_segment_size.unwrap_or(o.add_segment_size);
        o.event_queue_size = self.event_queue_size.unwrap_or(o.event_queue_size);
        o.use_eventfd = self.eventfd.unwrap_or(o.use_eventfd);
        o
    }

    /// Refuses these options for an app that runs inside the node.
    pub fn refuse_for_builtin(&self) -> Result<(), OptionsError> {
        match self.first_given() {
            Some(k) => Err(OptionsError::new(k, "only an external app takes it (dpnode echo)")),
            None => Ok(()),
        }
    }
}

/// TLS options: a `tls://` uri takes them (a server `cert` and `key`, a
/// client `ca`, `server_name`, `insecure`; both `alpn`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsParams {
    /// The uri is `tls://` (TLS over its TCP connections) or `quic://` (QUIC's TLS 1.3 takes the same keys).
    #[serde(skip)]
    pub enabled: bool,
    /// The uri is `quic://`.
    #[serde(skip)]
    pub quic: bool,
    /// Server: PEM certificate chain file.
    #[serde(default)]
    pub cert: Option<String>,
    /// Server: PEM private key file.
    #[serde(default)]
    pub key: Option<String>,
    /// Client: PEM file of the CAs to trust (absent: the built-in web roots).
    #[serde(default)]
    pub ca: Option<String>,
    /// Client: name sent (SNI) and verified (absent: the uri's address).
    #[serde(default)]
    pub server_name: Option<String>,
    /// Client: accept any certificate (tests only).
    #[serde(default, deserialize_with = "switch")]
    pub insecure: Option<bool>,
    /// ALPN protocols, comma-separated, in preference order (absent: the app's default).
    #[serde(default, deserialize_with = "alpn")]
    pub alpn: Option<Vec<String>>,
}

impl TlsParams {
    /// Checks the TLS keys against the uri and the side: a key of the other
    /// side, or any TLS key without a `tls://` uri, is refused by name; a
    /// server needs `cert` and `key`.
    pub fn check(&self, server: bool) -> Result<(), OptionsError> {
        let given = [
            ("cert", self.cert.is_some(), true),
            ("key", self.key.is_some(), true),
            ("ca", self.ca.is_some(), false),
            ("server_name", self.server_name.is_some(), false),
            ("insecure", self.insecure.is_some(), false),
            ("alpn", self.alpn.is_some(), server),
        ];
        for (k, is, server_key) in given {
            if !is {
                continue;
            }
            if !self.enabled {
                return Err(OptionsError::new(k, "only a tls:// uri takes it"));
            }
            if server_key != server && k != "alpn" {
                return Err(OptionsError::new(
                    k,
                    if server_key { "only a tls server takes it" } else { "only a tls client takes it" },
                ));
            }
        }
        if self.enabled && server {
            for (k, v) in [("cert", &self.cert), ("key", &self.key)] {
                if v.is_none() {
                    return Err(OptionsError::new(k, "a tls:// server needs cert and key (PEM files)"));
                }
            }
        }
        Ok(())
    }

    /// Refuses TLS for an app outside the node (not supported yet).
    pub fn refuse_for_external(&self) -> Result<(), OptionsError> {
        if self.quic {
            return Err(OptionsError::new("uri", "quic:// is for builtin apps only so far (external apps: not yet)"));
        }
        match self.enabled {
            true => Err(OptionsError::new("uri", "tls:// is for builtin apps only so far (external apps: not yet)")),
            false => Ok(()),
        }
    }
}

/// An echo server's own options.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EchoServerParams {
    /// Stop after this long (external servers; a builtin one runs until detached).
    #[serde(default, deserialize_with = "duration")]
    pub duration: Option<Duration>,
}

/// An echo client's own options.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EchoClientParams {
    /// Sessions.
    #[serde(default, deserialize_with = "sessions")]
    pub sessions: Option<u32>,
    /// Bytes per session.
    #[serde(default, deserialize_with = "bytes")]
    pub bytes: Option<u64>,
    /// Largest write or datagram.
    #[serde(default, deserialize_with = "chunk")]
    pub chunk: Option<usize>,
    /// Datagrams in flight per session.
    #[serde(default, deserialize_with = "window")]
    pub window: Option<usize>,
    /// Give up after this long (counted after `duration`).
    #[serde(default, deserialize_with = "timeout")]
    pub timeout: Option<Duration>,
    /// What to measure.
    #[serde(default, deserialize_with = "mode")]
    pub mode: Option<EchoMode>,
    /// `cps`: connections in all.
    #[serde(default, deserialize_with = "connections")]
    pub connections: Option<u64>,
    /// Run this long instead of `bytes` (`cps`: at most this long).
    #[serde(default, deserialize_with = "duration")]
    pub duration: Option<Duration>,
    /// `quic://`: streams per connection, opened with the connection as parent.
    #[serde(default, deserialize_with = "streams")]
    pub streams: Option<u32>,
}

/// An HTTP server's own options.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerParams {
    /// The page served for `/`.
    #[serde(default)]
    pub body: Option<String>,
}

// --- The kinds. ---

/// `echo-server`: echoes every datagram or byte it reads.
#[derive(Debug, Clone, PartialEq)]
pub struct EchoServerOptions {
    /// Where, name, attach and TCP options.
    pub common: AppCommon,
    /// External-only options.
    pub external: External,
    /// Its own.
    pub server: EchoServerParams,
    /// TLS (a `tls://` uri).
    pub tls: TlsParams,
}

/// `echo-client`: sends the echo pattern, checks what comes back, reports.
#[derive(Debug, Clone, PartialEq)]
pub struct EchoClientOptions {
    /// Where, name, attach and TCP options.
    pub common: AppCommon,
    /// External-only options.
    pub external: External,
    /// Its own.
    pub client: EchoClientParams,
    /// TLS (a `tls://` uri).
    pub tls: TlsParams,
}

/// `http-server`: the builtin HTTP/1.1 server with a static page.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpServerOptions {
    /// Where, name, attach and TCP options.
    pub common: AppCommon,
    /// Its own.
    pub http: HttpServerParams,
    /// TLS (a `tls://` uri: HTTPS).
    pub tls: TlsParams,
}

/// The parts a kind is made of, each taking the keys its struct has.
fn split(pairs: &[(String, Value)], parts: &[&'static [&'static str]]) -> Vec<Pairs> {
    let mut out = vec![Vec::new(); parts.len() + 1];
    for (k, v) in pairs {
        let name = pairs::field_name(k);
        let i = parts.iter().position(|f| f.contains(&name.as_str())).unwrap_or(parts.len());
        out[i].push((k.clone(), v.clone()));
    }
    out
}

/// Deserializes one part; an unknown key says which kind takes it, if one does.
fn part<T: DeserializeOwned>(pairs: &[(String, Value)]) -> Result<T, OptionsError> {
    pairs::from_pairs(pairs).map_err(|e| {
        let mut e = e.into_options_error();
        if e.reason == pairs::UNKNOWN {
            let name = pairs::field_name(&e.key);
            let owner = [
                (pairs::fields_of::<EchoClientParams>(), "an echo client"),
                (pairs::fields_of::<HttpServerParams>(), "an http server"),
                (pairs::fields_of::<External>(), "an external echo app (dpnode echo)"),
                (pairs::fields_of::<EchoServerParams>(), "an echo app"),
            ]
            .into_iter()
            .find(|(fields, _)| fields.contains(&name.as_str()));
            if let Some((_, who)) = owner {
                e.reason = format!("only {who} takes it");
            }
        }
        e
    })
}

impl EchoServerOptions {
    /// From option pairs (the adapter: CLI words through [`word_pairs`], or a config table).
    pub fn from_pairs(pairs: &[(String, Value)]) -> Result<EchoServerOptions, OptionsError> {
        let p = split(
            pairs,
            &[pairs::fields_of::<AppCommon>(), pairs::fields_of::<External>(), pairs::fields_of::<TlsParams>()],
        );
        let quic = uri_is_quic(pairs);
        let tls = TlsParams { enabled: uri_is_tls(pairs) || quic, quic, ..part(&p[2])? };
        tls.check(true)?;
        Ok(EchoServerOptions { common: part(&p[0])?, external: part(&p[1])?, server: part(&p[3])?, tls })
    }

    /// From `uri URI [key value]...` words.
    pub fn from_words(words: &[&str]) -> Result<EchoServerOptions, OptionsError> {
        Self::from_pairs(&word_pairs(words)?)
    }

    /// Refuses what an echo server inside the node cannot do.
    pub fn check_builtin(&self) -> Result<(), OptionsError> {
        self.external.refuse_for_builtin()?;
        if self.server.duration.is_some() {
            return Err(OptionsError::new(
                "duration",
                "only an echo client or an external echo server takes it (a builtin server runs until detached)",
            ));
        }
        Ok(())
    }
}

/// Connections a `cps` run makes when neither `connections` nor `duration` is given.
pub const DEFAULT_CONNECTIONS: u64 = 1000;

impl EchoClientOptions {
    /// From option pairs; the client's rules are checked too ([`EchoClientOptions::check`]).
    pub fn from_pairs(pairs: &[(String, Value)]) -> Result<EchoClientOptions, OptionsError> {
        let p = split(
            pairs,
            &[pairs::fields_of::<AppCommon>(), pairs::fields_of::<External>(), pairs::fields_of::<TlsParams>()],
        );
        let quic = uri_is_quic(pairs);
        let tls = TlsParams { enabled: uri_is_tls(pairs) || quic, quic, ..part(&p[2])? };
        tls.check(false)?;
        let o = EchoClientOptions { common: part(&p[0])?, external: part(&p[1])?, client: part(&p[3])?, tls };
        o.check()?;
        Ok(o)
    }

    /// From `uri URI [key value]...` words.
    pub fn from_words(words: &[&str]) -> Result<EchoClientOptions, OptionsError> {
        Self::from_pairs(&word_pairs(words)?)
    }

    /// The options together: `connections` only in `cps`, `cps` only over TCP.
    pub fn check(&self) -> Result<(), OptionsError> {
        let mode = self.mode();
        if self.client.connections.is_some() && mode != EchoMode::Cps {
            return Err(OptionsError::new("connections", format!("only mode cps takes it (mode is {mode})")));
        }
        if self.client.streams.is_some() && !self.tls.quic {
            return Err(OptionsError::new("streams", "only a quic:// uri takes it"));
        }
        if mode == EchoMode::Cps && (self.common.uri.proto == Proto::Udp || self.tls.quic) {
            return Err(OptionsError::new("mode", "cps needs a tcp uri (UDP has no connections to open and close)"));
        }
        Ok(())
    }

    /// What to measure (default `bulk`).
    pub fn mode(&self) -> EchoMode {
        self.client.mode.unwrap_or_default()
    }

    /// Sessions (default 1).
    pub fn sessions(&self) -> u32 {
        self.client.sessions.unwrap_or(1)
    }

    /// Bytes per session (default 1 MiB).
    pub fn bytes(&self) -> u64 {
        self.client.bytes.unwrap_or(1 << 20)
    }

    /// Largest write or datagram (default 1400 on UDP, 64 KiB on TCP).
    pub fn chunk(&self) -> usize {
        self.client.chunk.unwrap_or(if self.common.uri.proto == Proto::Udp { 1400 } else { 64 << 10 })
    }

    /// Datagrams in flight per session (default 32).
    pub fn window(&self) -> usize {
        self.client.window.unwrap_or(32)
    }

    /// Give up after this long (default 60 s).
    pub fn timeout(&self) -> Duration {
        self.client.timeout.unwrap_or(Duration::from_secs(60))
    }

    /// `cps`: connections in all ([`DEFAULT_CONNECTIONS`] when neither it nor a duration is given); else 0.
    pub fn connections(&self) -> u64 {
        match (self.mode(), self.client.connections, self.client.duration) {
            (_, Some(n), _) => n,
            (EchoMode::Cps, None, None) => DEFAULT_CONNECTIONS,
            _ => 0,
        }
    }

    /// Refuses what an echo client inside the node cannot do.
    pub fn check_builtin(&self) -> Result<(), OptionsError> {
        self.external.refuse_for_builtin()
    }
}

impl HttpServerOptions {
    /// From option pairs.
    pub fn from_pairs(pairs: &[(String, Value)]) -> Result<HttpServerOptions, OptionsError> {
        let p = split(pairs, &[pairs::fields_of::<AppCommon>(), pairs::fields_of::<TlsParams>()]);
        if uri_is_quic(pairs) {
            return Err(OptionsError::new("uri", "quic:// is for the echo apps (no HTTP/3 server)"));
        }
        let tls = TlsParams { enabled: uri_is_tls(pairs), ..part(&p[1])? };
        tls.check(true)?;
        Ok(HttpServerOptions { common: part(&p[0])?, http: part(&p[2])?, tls })
    }

    /// From `uri URI [key value]...` words.
    pub fn from_words(words: &[&str]) -> Result<HttpServerOptions, OptionsError> {
        Self::from_pairs(&word_pairs(words)?)
    }
}

/// Each kind deserializes from any serde map (a TOML table, say) through the same adapter.
macro_rules! deserialize_through_pairs {
    ($($t:ty),*) => {$(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$t, D::Error> {
                let pairs = d.deserialize_map(pairs::PairsVisitor)?;
                <$t>::from_pairs(&pairs).map_err(de::Error::custom)
            }
        }
    )*};
}

deserialize_through_pairs!(EchoServerOptions, EchoClientOptions, HttpServerOptions);

#[cfg(test)]
mod test;
