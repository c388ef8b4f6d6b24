//! The node's TOML configuration: parsing, defaults and validation.
//!
//! Every error names the key (`interface[0].ip4`, `workers.cores`, ...) and
//! the reason. Unknown keys are errors, so a typo never silently does
//! nothing. The embedded default ([`DEFAULT_CONFIG`]) starts on a fresh
//! machine: one `net_tap` port, one worker, hugepages only if reserved.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use session::api_server::SocketAccess;
use shm::limits;
use wire::ipv4::Cidr;

/// The configuration used when `dpnode run` gets no `--config`.
pub const DEFAULT_CONFIG: &str = r#"
# dpnode's embedded default: one tap port, one worker, no hugepages needed.
[dpdk]
hugepages = "auto"
memory_mb = 256

[[interface]]
name = "tap0"
vdev = "net_tap0,iface=dpn0"
ip4 = "198.18.0.2/24"

[workers]
idle = "sleep"

[cli]
socket = "/run/dpnode/cli.sock"

[api]
socket = "/run/dpnode/api.sock"
"#;

/// A config error: the key and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key or a wrong type (toml names the key).
    #[error("config: {0}")]
    Parse(String),
    /// A value that parsed but makes no sense.
    #[error("config: {key}: {reason}")]
    Invalid {
        /// The key, e.g. `interface[0].ip4`.
        key: String,
        /// Why it is rejected.
        reason: String,
    },
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.into(), reason: reason.into() }
}

/// Hugepage policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Hugepages {
    /// Use hugepages when enough are free, else `--no-huge`.
    #[default]
    Auto,
    /// Require hugepages.
    On,
    /// Never use hugepages.
    Off,
}

/// `[dpdk]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpdkSection {
    /// Extra EAL arguments, appended after the ones the node derives.
    #[serde(default)]
    pub eal_args: Vec<String>,
    /// Hugepage policy.
    #[serde(default)]
    pub hugepages: Hugepages,
    /// Memory for the EAL in MiB.
    #[serde(default = "default_memory")]
    pub memory_mb: u32,
    /// Mbufs in the packet pool.
    #[serde(default = "default_mbufs")]
    pub mbufs: u32,
    /// Per-lcore mbuf cache size.
    #[serde(default = "default_mbuf_cache")]
    pub mbuf_cache: u32,
    /// Bytes per mbuf, headroom included (checked by
    /// [`DpdkSection::data_room`]): absent, DPDK's standard 2176 with
    /// longer frames in chains; a number; or `"frame"`, a whole frame of
    /// the largest MTU per mbuf (no chains).
    #[serde(default)]
    pub mbuf_data_room: Option<DataRoomSetting>,
    /// RX descriptors per queue.
    #[serde(default = "default_desc")]
    pub rx_desc: u16,
    /// TX descriptors per queue.
    #[serde(default = "default_desc")]
    pub tx_desc: u16,
    /// DPDK's own log level (`error`, `warning`, `notice`, `info`, `debug`;
    /// checked by [`DpdkLogLevel::parse`]). Absent: DPDK's defaults, with
    /// the EAL at `warning`.
    #[serde(default)]
    pub log_level: Option<String>,
}

/// `[dpdk] log_level`: how much DPDK itself logs (every log type, EAL and
/// drivers), through the node's logger (target `dpdk`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpdkLogLevel {
    /// `RTE_LOG_ERR` and worse.
    Error,
    /// `RTE_LOG_WARNING`.
    Warning,
    /// `RTE_LOG_NOTICE`.
    Notice,
    /// `RTE_LOG_INFO`.
    Info,
    /// `RTE_LOG_DEBUG`: everything.
    Debug,
}

impl DpdkLogLevel {
    /// The accepted words, in order of verbosity.
    pub const WORDS: [&'static str; 5] = ["error", "warning", "notice", "info", "debug"];

    /// Parses one of [`DpdkLogLevel::WORDS`]; the error lists them.
    pub fn parse(word: &str) -> Result<DpdkLogLevel, String> {
        Ok(match word {
            "error" => DpdkLogLevel::Error,
            "warning" => DpdkLogLevel::Warning,
            "notice" => DpdkLogLevel::Notice,
            "info" => DpdkLogLevel::Info,
            "debug" => DpdkLogLevel::Debug,
            _ => return Err(format!("{word:?} is not a DPDK log level; one of {}", DpdkLogLevel::WORDS.join(", "))),
        })
    }

    /// The word DPDK's `--log-level` takes.
    pub fn word(self) -> &'static str {
        DpdkLogLevel::WORDS[self as usize]
    }

    /// The `tracing` level DPDK's messages of this level are logged at
    /// (`eal::log_dpdk_message`'s mapping), so the node's logger lets them through.
    pub fn tracing_level(self) -> &'static str {
        match self {
            DpdkLogLevel::Error => "error",
            DpdkLogLevel::Warning => "warn",
            DpdkLogLevel::Notice | DpdkLogLevel::Info => "info",
            DpdkLogLevel::Debug => "debug",
        }
    }
}

/// `[dpdk] mbuf_data_room` as written: a byte count or a word.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum DataRoomSetting {
    /// Bytes per mbuf, headroom included.
    Bytes(u64),
    /// `frame`.
    Word(String),
}

impl DpdkSection {
    /// The data room of the pool's mbufs for interfaces of IP MTUs up to
    /// `max_mtu`, or why the setting is refused.
    pub fn data_room(&self, max_mtu: u16) -> Result<u16, String> {
        match &self.mbuf_data_room {
            None => Ok(dataplane::mempool::DEFAULT_DATA_ROOM),
            Some(DataRoomSetting::Word(w)) if w == "frame" => Ok(dataplane::mempool::data_room_for_mtu(max_mtu)),
            Some(DataRoomSetting::Word(w)) => Err(format!("{w:?} is neither a byte count nor \"frame\"")),
            Some(DataRoomSetting::Bytes(b)) => {
                limits::MBUF_DATA_ROOM.check(*b).map_err(|e| e.reason)?;
                Ok(*b as u16)
            }
        }
    }
}

fn default_memory() -> u32 {
    256
}
fn default_mbufs() -> u32 {
    16383
}
fn default_mbuf_cache() -> u32 {
    256
}
fn default_desc() -> u16 {
    1024
}

impl Default for DpdkSection {
    fn default() -> Self {
        DpdkSection {
            eal_args: vec![],
            hugepages: Hugepages::Auto,
            memory_mb: default_memory(),
            mbufs: default_mbufs(),
            mbuf_cache: default_mbuf_cache(),
            mbuf_data_room: None,
            rx_desc: default_desc(),
            tx_desc: default_desc(),
            log_level: None,
        }
    }
}

/// `[[interface]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceSection {
    /// Name shown by the CLI.
    pub name: String,
    /// DPDK device arguments, e.g. `net_tap0,iface=dpn0` or a PCI address.
    pub vdev: String,
    /// IPv4 address and prefix, `a.b.c.d/len`.
    pub ip4: Option<String>,
    /// IPv6 addresses and prefixes, `["fd00:198:18::2/64", ...]`.
    #[serde(default)]
    pub ip6: Vec<String>,
    /// MTU to program.
    pub mtu: Option<u16>,
    /// Use the NIC's checksum offloads when it has them (default true).
    pub checksum_offload: Option<bool>,
    /// TCP segmentation offload: `"auto"`, `"on"` or `"off"` (default).
    pub tso: Option<String>,
    /// Cut large TCP segments in software where TSO is off (default false).
    pub gso: Option<bool>,
    /// Most TCP payload bytes in one large segment (default 65000).
    pub tso_max: Option<u32>,
}

/// `[[route]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSection {
    /// Destination prefix, `a.b.c.d/len` (`0.0.0.0/0` = default route).
    pub prefix: String,
    /// Next-hop address.
    pub via: String,
    /// Interface name; if absent, the interface whose subnet holds `via`.
    pub interface: Option<String>,
}

/// `[[neighbor]]`: a static neighbour entry (never expires, never asked for).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeighborSection {
    /// Interface name.
    pub interface: String,
    /// The neighbour's address, IPv4 or IPv6 (link-local or global).
    pub ip: String,
    /// Its MAC, `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
}

/// `[[route6]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route6Section {
    /// Destination prefix, `2001:db8::/32` (`::/0` = default gateway).
    pub prefix: String,
    /// Next-hop address (a link-local one needs `interface`).
    pub via: String,
    /// Interface name; if absent, the interface whose IPv6 prefix holds `via`.
    pub interface: Option<String>,
}

/// Worker idle policy name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum IdleName {
    /// Sleep after a run of empty polls.
    #[default]
    Sleep,
    /// Busy-poll forever.
    Poll,
}

/// `[workers]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct WorkersSection {
    /// Cores to pin workers to, one worker each. Absent: one worker on the
    /// last core (an empty list is an error).
    pub cores: Option<Vec<usize>>,
    /// Idle policy.
    #[serde(default)]
    pub idle: IdleName,
    /// Sleep length in microseconds when idle.
    pub idle_sleep_us: Option<u64>,
    /// Empty polls before sleeping.
    pub idle_after_polls: Option<u32>,
}

/// `[cli]`: the CLI socket and its limits.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CliSection {
    /// Unix socket path.
    pub socket: Option<PathBuf>,
    /// Permission bits, octal (`"0660"`).
    pub mode: Option<String>,
    /// Group owning the socket (name or number).
    pub group: Option<String>,
    /// Connections served at once.
    pub max_connections: Option<u64>,
    /// Time to send the command line.
    pub first_message_ms: Option<u64>,
    /// A connection making no progress for this long is closed.
    pub idle_ms: Option<u64>,
}

/// `[metrics]`: the Prometheus endpoint (off unless `listen` is set).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// Address and port to serve `GET /metrics` on (`"127.0.0.1:9464"`).
    pub listen: Option<std::net::SocketAddr>,
}

/// `[api]`: the application API socket and its limits.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    /// Unix socket path.
    pub socket: Option<PathBuf>,
    /// Permission bits, octal (`"0660"`).
    pub mode: Option<String>,
    /// Group owning the socket (name or number).
    pub group: Option<String>,
    /// Connections served at once.
    pub max_connections: Option<u64>,
    /// Time to send the first complete message.
    pub first_message_ms: Option<u64>,
    /// A connection with no application for this long is closed.
    pub idle_ms: Option<u64>,
    /// Applications one connection may attach.
    pub max_apps_per_connection: Option<u64>,
    /// Applications one uid may have attached.
    pub max_apps_per_uid: Option<u64>,
    /// Descriptors kept free for the node itself.
    pub fd_reserve: Option<u64>,
}

/// One `[[app]]` table's options as the options adapter takes them
/// (`kind` apart); TOML types are kept, so `mss = 1200` and `mss = "1200"`
/// are parsed by the same function as the CLI word.
fn app_pairs(i: usize, table: &toml::Table) -> Result<app_options::Pairs, ConfigError> {
    use app_options::Value;
    let mut pairs = Vec::with_capacity(table.len());
    for (k, v) in table.iter().filter(|(k, _)| k.as_str() != "kind") {
        let v = match v {
            toml::Value::String(s) => Value::Str(s.clone()),
            toml::Value::Integer(n) => Value::Int(*n),
            toml::Value::Float(f) => Value::Float(*f),
            toml::Value::Boolean(b) => Value::Bool(*b),
            other => {
                return Err(invalid(
                    format!("app[{i}].{k}"),
                    format!("a {} is not a word, a number or a boolean", other.type_str()),
                ))
            }
        };
        pairs.push((k.clone(), v));
    }
    Ok(pairs)
}

/// Fault direction name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DirectionName {
    /// Received packets.
    #[default]
    Rx,
    /// Transmitted packets.
    Tx,
    /// Both.
    Both,
}

/// `[fault]`: fault injection in the workers' data path (off by default).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FaultSection {
    /// Percent of packets dropped.
    #[serde(default)]
    pub drop_percent: f64,
    /// Percent of packets duplicated.
    #[serde(default)]
    pub duplicate_percent: f64,
    /// Percent of packets held back behind their successor.
    #[serde(default)]
    pub reorder_percent: f64,
    /// Generator seed; absent: from the clock.
    pub seed: Option<u64>,
    /// Which packets: `rx`, `tx` or `both`.
    #[serde(default)]
    pub direction: DirectionName,
    /// Longest wait of a reordered packet, in microseconds.
    pub reorder_hold_us: Option<u32>,
}

/// The whole file, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    dpdk: DpdkSection,
    #[serde(default)]
    interface: Vec<InterfaceSection>,
    #[serde(default)]
    route: Vec<RouteSection>,
    #[serde(default)]
    neighbor: Vec<NeighborSection>,
    #[serde(default)]
    route6: Vec<Route6Section>,
    #[serde(default)]
    workers: WorkersSection,
    #[serde(default)]
    cli: CliSection,
    #[serde(default)]
    api: ApiSection,
    /// `[[app]]`: builtin apps started at boot, each parsed by the options adapter.
    #[serde(default)]
    app: Vec<toml::Table>,
    #[serde(default)]
    fault: FaultSection,
    #[serde(default)]
    tcp: TcpSection,
    #[serde(default)]
    tls: TlsSection,
    #[serde(default)]
    udp: UdpSection,
    #[serde(default)]
    log: LogSection,
    #[serde(default)]
    metrics: MetricsSection,
}

/// `[log]`: what the node logs (`RUST_LOG`, when set, wins).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// A tracing filter: `error`, `warn`, `info` (default), `debug`, `trace`,
    /// `off`, or per crate (`session=debug,info`).
    pub level: Option<String>,
}

/// `[udp]`: limits on the UDP sessions the network makes (see README,
/// "Reliability / limits").
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct UdpSection {
    /// Seconds a session from the network may stay silent (0: forever).
    pub idle_timeout_s: Option<u64>,
    /// Sessions from the network per listener.
    pub max_sessions_per_listener: Option<u32>,
    /// Sessions from the network per source address.
    pub max_sessions_per_source: Option<u32>,
    /// MiB of fifo memory those sessions may hold.
    pub memory_mb: Option<u64>,
    /// Fifo size a builtin app's new session starts with ("4k".."64k").
    pub initial_fifo_size: Option<String>,
}

impl UdpSection {
    fn validate(&self) -> Result<session::udp::UdpConfig, ConfigError> {
        let mut c = session::udp::UdpConfig::default();
        if let Some(s) = self.idle_timeout_s {
            if s > 86_400 * 365 {
                return Err(invalid("udp.idle_timeout_s", format!("{s} is outside 0..=31536000")));
            }
            c.idle_timeout_ns = s * 1_000_000_000;
        }
        let count = |key: &str, v: Option<u32>, dflt: u32| match v {
            Some(n) if !(1..=1 << 24).contains(&n) => {
                Err(invalid(format!("udp.{key}"), format!("{n} is outside 1..=16777216")))
            }
            Some(n) => Ok(n),
            None => Ok(dflt),
        };
        c.max_sessions_per_listener =
            count("max_sessions_per_listener", self.max_sessions_per_listener, c.max_sessions_per_listener)?;
        c.max_sessions_per_source =
            count("max_sessions_per_source", self.max_sessions_per_source, c.max_sessions_per_source)?;
        if let Some(mb) = self.memory_mb {
            if !(1..=1 << 20).contains(&mb) {
                return Err(invalid("udp.memory_mb", format!("{mb} is outside 1..=1048576")));
            }
            c.memory_bytes = mb << 20;
        }
        if let Some(v) = &self.initial_fifo_size {
            let n = shm::limits::parse_size(v)
                .filter(|n| n.is_power_of_two() && (4096..=65536).contains(n))
                .ok_or_else(|| invalid("udp.initial_fifo_size", format!("{v:?} is not a power of two in 4k..64k")))?;
            c.initial_fifo_size = n as u32;
        }
        Ok(c)
    }
}

/// `[tls]`: settings of the TLS layered on the TCP transport.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// Seconds a connection has, from its TCP handshake's end, to finish the TLS handshake.
    pub handshake_timeout: Option<f64>,
}

impl TlsSection {
    /// The handshake timeout in ns.
    fn validate(&self) -> Result<u64, ConfigError> {
        match self.handshake_timeout {
            None => Ok(session::tcp_transport::TLS_HANDSHAKE_TIMEOUT_NS),
            Some(v) => {
                let l = &limits::TLS_HANDSHAKE_TIMEOUT;
                let v = l.check(v).map_err(|e| invalid(format!("tls.{}", e.key), e.reason))?;
                Ok((v * 1e9) as u64)
            }
        }
    }
}

/// `[tcp]`: the TCP transport's settings (defaults follow Linux).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TcpSection {
    /// MSS advertised and cap on the MSS sent.
    pub mss: Option<u64>,
    /// Lower bound of the retransmission timeout (ms).
    pub min_rto_ms: Option<u64>,
    /// RTO before the first RTT sample (ms).
    pub initial_rto_ms: Option<u64>,
    /// Delayed ACK timeout (ms).
    pub delayed_ack_ms: Option<u64>,
    /// TIME-WAIT length (ms).
    pub time_wait_ms: Option<u64>,
    /// Congestion control: "cubic" or "newreno".
    pub cc: Option<String>,
    /// Offer/accept SACK.
    pub sack: Option<bool>,
    /// Offer/accept window scaling.
    pub window_scale: Option<bool>,
    /// Offer/accept timestamps.
    pub timestamps: Option<bool>,
    /// Nagle's algorithm by default.
    pub nagle: Option<bool>,
    /// Keepalive on every connection.
    pub keepalive: Option<bool>,
    /// Half-open connections per listener per worker.
    pub max_half_open: Option<u64>,
    /// "never", "when-full" or "always".
    pub syn_cookies: Option<String>,
    /// Receive coalescing of in-order segments within an rx burst.
    pub gro: Option<bool>,
}

impl TcpSection {
    fn validate(&self) -> Result<session::tcp_transport::TcpTransportConfig, ConfigError> {
        use shm::types::Cc;
        use tcp::backlog::SynCookieMode;
        use tcp::Keepalive;
        const MS: u64 = 1_000_000;
        let mut c = session::tcp_transport::TcpTransportConfig::default();
        let t = &mut c.tcp;
        let check = |l: &limits::Limit, key: &'static str, v: Option<u64>| -> Result<Option<u64>, ConfigError> {
            v.map(|v| l.check_as(key, v)).transpose().map_err(|e| invalid(format!("tcp.{}", e.key), e.reason))
        };
        let ms = |l: &limits::Limit, v: Option<u64>| Ok::<_, ConfigError>(check(l, l.key, v)?.map(|v| v * MS));
        // Unset, the interface MTU decides (MTU - 40 over IPv4, - 60 over
        // IPv6, per connection by its route); set, it also caps that.
        t.mss = match check(&limits::MSS, "mss", self.mss)? {
            Some(m) => m as u16,
            None => tcp::config::MSS_MAX,
        };
        t.min_rto = ms(&limits::TCP_MIN_RTO_MS, self.min_rto_ms)?.unwrap_or(t.min_rto);
        t.initial_rto = ms(&limits::TCP_INITIAL_RTO_MS, self.initial_rto_ms)?.unwrap_or(t.initial_rto);
        t.delayed_ack = ms(&limits::TCP_DELAYED_ACK_MS, self.delayed_ack_ms)?.unwrap_or(t.delayed_ack);
        t.time_wait = ms(&limits::TCP_TIME_WAIT_MS, self.time_wait_ms)?.unwrap_or(t.time_wait);
        if let Some(cc) = &self.cc {
            t.cc = match cc.as_str() {
                "cubic" => Cc::Cubic,
                "newreno" => Cc::NewReno,
                other => return Err(invalid("tcp.cc", format!("{other:?} is not cubic or newreno"))),
            };
        }
        t.sack = self.sack.unwrap_or(t.sack);
        t.window_scale = self.window_scale.unwrap_or(t.window_scale);
        t.timestamps = self.timestamps.unwrap_or(t.timestamps);
        t.nagle = self.nagle.unwrap_or(t.nagle);
        c.gro = self.gro.unwrap_or(c.gro);
        if self.keepalive == Some(true) {
            t.keepalive = Some(Keepalive::default());
        }
        if let Some(n) = check(&limits::TCP_MAX_HALF_OPEN, "max_half_open", self.max_half_open)? {
            c.max_half_open = n as u32;
        }
        if let Some(m) = &self.syn_cookies {
            c.syn_cookies = match m.as_str() {
                "never" => SynCookieMode::Never,
                "when-full" => SynCookieMode::WhenFull,
                "always" => SynCookieMode::Always,
                other => {
                    return Err(invalid("tcp.syn_cookies", format!("{other:?} is not never, when-full or always")))
                }
            };
        }
        Ok(c)
    }
}

/// A validated interface.
#[derive(Debug, Clone)]
pub struct InterfaceConfig {
    /// Name.
    pub name: String,
    /// Device args.
    pub vdev: String,
    /// Device name (the part of `vdev` before the first comma).
    pub device: String,
    /// Address.
    pub ip4: Option<Cidr>,
    /// IPv6 addresses (validated: see [`check_ip6_address`]).
    pub ip6: Vec<wire::ipv6::Cidr>,
    /// MTU.
    pub mtu: Option<u16>,
    /// Use checksum offloads.
    pub checksum_offload: bool,
    /// TCP segmentation offload.
    pub tso: dataplane::port::TsoMode,
    /// Software segmentation where TSO is off.
    pub gso: bool,
    /// Most TCP payload bytes in one large segment.
    pub tso_max: u32,
}

/// Default `[[interface]] tso_max`: a large segment and its headers fit
/// one 64 KiB IPv4 datagram and one large mbuf.
pub const TSO_MAX_DEFAULT: u32 = 65_000;
/// Smallest `tso_max` accepted: two full 1500-MTU segments.
pub const TSO_MAX_MIN: u32 = 2 * 1460;

/// A validated route.
#[derive(Debug, Clone)]
pub struct RouteConfig {
    /// Destination.
    pub prefix: Cidr,
    /// Next hop.
    pub via: Ipv4Addr,
    /// Interface index.
    pub interface: usize,
}

/// A validated IPv6 route.
#[derive(Debug, Clone)]
pub struct Route6Config {
    /// Destination.
    pub prefix: wire::ipv6::Cidr,
    /// Next hop.
    pub via: Ipv6Addr,
    /// Interface index.
    pub interface: usize,
}

/// Why `c` cannot be an interface's configured IPv6 address, if it cannot.
pub fn check_ip6_address(c: wire::ipv6::Cidr) -> Result<(), String> {
    let a = c.address();
    let why = if c.prefix_len() == 0 {
        "has prefix length 0 (give the prefix of its link, e.g. /64)"
    } else if a.is_unspecified() {
        "is the unspecified address"
    } else if a.is_loopback() {
        "is the loopback address"
    } else if a.is_multicast() {
        "is a multicast group"
    } else if wire::ipv6::is_link_local(a) {
        "is link-local (the node derives its link-local address from the MAC)"
    } else if a.to_ipv4_mapped().is_some() {
        "is an IPv4-mapped address"
    } else {
        return Ok(());
    };
    Err(format!("{c} {why}"))
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// EAL and buffer settings.
    pub dpdk: DpdkSection,
    /// Interfaces.
    pub interfaces: Vec<InterfaceConfig>,
    /// Routes beyond the connected ones.
    pub routes: Vec<RouteConfig>,
    /// Static neighbours (`[[neighbor]]`), checked and without duplicates.
    pub neighbors: net::neighbor::StaticNeighbors<Ipv4Addr>,
    /// Static IPv6 neighbours (`[[neighbor]]` with an IPv6 `ip`), likewise.
    pub neighbors6: net::neighbor::StaticNeighbors<std::net::Ipv6Addr>,
    /// IPv6 routes beyond the connected ones.
    pub routes6: Vec<Route6Config>,
    /// Worker cores (resolved, never empty).
    pub cores: Vec<usize>,
    /// Idle policy.
    pub idle: dataplane::worker::IdleConfig,
    /// CLI socket.
    pub cli_socket: PathBuf,
    /// Application API socket (external applications attach here).
    pub api_socket: PathBuf,
    /// Builtin apps to start at boot.
    pub apps: Vec<crate::apps::AppSpec>,
    /// Fault injection.
    pub fault: net::fault::FaultConfig,
    /// TCP settings.
    pub tcp: session::tcp_transport::TcpTransportConfig,
    /// UDP settings.
    pub udp: session::udp::UdpConfig,
    /// The CLI socket's access and limits.
    pub cli: crate::cli_server::CliConfig,
    /// The API socket's access and limits.
    pub api: session::api_server::ApiConfig,
    /// `[log] level`, checked (absent: `info`, unless `RUST_LOG` says).
    pub log_level: Option<String>,
    /// `[dpdk] log_level`, checked (absent: DPDK's defaults, the EAL at warning).
    pub dpdk_log_level: Option<DpdkLogLevel>,
    /// `[metrics] listen`: where `/metrics` is served (`None`: off).
    pub metrics_listen: Option<std::net::SocketAddr>,
}

impl Config {
    /// Parse and validate TOML text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string().trim_end().to_string()))?;
        raw.validate()
    }

    /// Read, parse and validate a file.
    pub fn load(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        Config::parse(&text)
    }
}

impl RawConfig {
    fn validate(self) -> Result<Config, ConfigError> {
        if self.interface.is_empty() {
            return Err(invalid("interface", "at least one [[interface]] is required"));
        }
        let lim = |l: &limits::Limit, key: &'static str, v: u64| {
            l.check_as(key, v).map_err(|e| invalid(format!("dpdk.{}", e.key), e.reason))
        };
        lim(&limits::MEMORY_MB, "memory_mb", self.dpdk.memory_mb.into())?;
        check_memory(self.dpdk.memory_mb, self.dpdk.hugepages, crate::runtime::free_hugepage_mb(), available_mb())?;
        check_eal_args(&self.dpdk.eal_args)?;
        let dpdk_log_level = self
            .dpdk
            .log_level
            .as_deref()
            .map(DpdkLogLevel::parse)
            .transpose()
            .map_err(|e| invalid("dpdk.log_level", e))?;
        lim(&limits::MBUFS, "mbufs", self.dpdk.mbufs.into())?;
        lim(&limits::MBUF_CACHE, "mbuf_cache", self.dpdk.mbuf_cache.into())?;
        let max_mtu = self.interface.iter().filter_map(|i| i.mtu).max().unwrap_or(dataplane::port::DEFAULT_MTU);
        self.dpdk.data_room(max_mtu).map_err(|e| invalid("dpdk.mbuf_data_room", e))?;
        lim(&limits::DESCRIPTORS, "rx_desc", self.dpdk.rx_desc.into())?;
        lim(&limits::DESCRIPTORS, "tx_desc", self.dpdk.tx_desc.into())?;
        let mut interfaces = Vec::new();
        for (i, s) in self.interface.iter().enumerate() {
            let key = |f: &str| format!("interface[{i}].{f}");
            if s.name.is_empty() || s.name.contains(char::is_whitespace) {
                return Err(invalid(key("name"), format!("{:?} must be a non-empty word", s.name)));
            }
            if interfaces.iter().any(|x: &InterfaceConfig| x.name == s.name) {
                return Err(invalid(key("name"), format!("{:?} is used by another interface", s.name)));
            }
            let device = check_vdev(&s.vdev).map_err(|r| invalid(key("vdev"), r))?;
            if let Some(j) = interfaces.iter().position(|x: &InterfaceConfig| x.device == device) {
                return Err(invalid(key("vdev"), format!("device {device:?} is also interface[{j}]'s")));
            }
            let ip4 =
                match &s.ip4 {
                    None => None,
                    Some(t) => Some(t.parse::<Cidr>().map_err(|_| {
                        invalid(key("ip4"), format!("{t:?} is not an address/prefix like 198.18.0.2/24"))
                    })?),
                };
            if let Some(m) = s.mtu {
                limits::MTU.check(m.into()).map_err(|e| invalid(key("mtu"), e.reason))?;
            }
            let mut ip6: Vec<wire::ipv6::Cidr> = Vec::new();
            for t in &s.ip6 {
                let c: wire::ipv6::Cidr = t.parse().map_err(|_| {
                    invalid(key("ip6"), format!("{t:?} is not an IPv6 address/prefix like fd00:198:18::2/64"))
                })?;
                check_ip6_address(c).map_err(|r| invalid(key("ip6"), r))?;
                if ip6.iter().any(|x| x.address() == c.address()) {
                    return Err(invalid(key("ip6"), format!("{} is listed twice", c.address())));
                }
                if let Some(j) =
                    interfaces.iter().position(|x: &InterfaceConfig| x.ip6.iter().any(|y| y.address() == c.address()))
                {
                    return Err(invalid(key("ip6"), format!("{} is also interface[{j}]'s", c.address())));
                }
                ip6.push(c);
            }
            if let Some(m) = s.mtu.filter(|&m| !ip6.is_empty() && m < wire::ipv6::MIN_MTU as u16) {
                return Err(invalid(
                    key("mtu"),
                    format!("{m} is below IPv6's minimum of {} (ip6 is set)", wire::ipv6::MIN_MTU),
                ));
            }
            let tso: dataplane::port::TsoMode = match &s.tso {
                None => dataplane::port::TsoMode::Off,
                Some(t) => t.parse().map_err(|e| invalid(key("tso"), e))?,
            };
            let tso_max = s.tso_max.unwrap_or(TSO_MAX_DEFAULT);
            if !(TSO_MAX_MIN..=TSO_MAX_DEFAULT).contains(&tso_max) {
                return Err(invalid(
                    key("tso_max"),
                    format!("{tso_max} is outside {TSO_MAX_MIN}..={TSO_MAX_DEFAULT} (bytes of TCP payload in one large segment)"),
                ));
            }
            if tso == dataplane::port::TsoMode::On && s.checksum_offload == Some(false) {
                return Err(invalid(key("tso"), "\"on\" needs checksum_offload (the NIC fills the pieces' checksums)"));
            }
            if tso == dataplane::port::TsoMode::On && dataplane::memif::is_memif(&s.vdev) {
                return Err(invalid(key("tso"), "\"on\": memif has no TCP segmentation offload (use gso = true)"));
            }
            interfaces.push(InterfaceConfig {
                name: s.name.clone(),
                vdev: s.vdev.clone(),
                device,
                ip4,
                ip6,
                mtu: s.mtu,
                checksum_offload: s.checksum_offload.unwrap_or(true),
                tso,
                gso: s.gso.unwrap_or(false),
                tso_max,
            });
        }
        let mut routes = Vec::new();
        for (i, r) in self.route.iter().enumerate() {
            let key = |f: &str| format!("route[{i}].{f}");
            let prefix: Cidr = r
                .prefix
                .parse()
                .map_err(|_| invalid(key("prefix"), format!("{:?} is not a prefix like 0.0.0.0/0", r.prefix)))?;
            let via: Ipv4Addr =
                r.via.parse().map_err(|_| invalid(key("via"), format!("{:?} is not an IPv4 address", r.via)))?;
            let interface = match &r.interface {
                Some(n) => interfaces
                    .iter()
                    .position(|x| &x.name == n)
                    .ok_or_else(|| invalid(key("interface"), format!("no interface named {n:?}")))?,
                None => interfaces.iter().position(|x| x.ip4.is_some_and(|c| c.contains(via))).ok_or_else(|| {
                    invalid(key("via"), format!("{via} is on no interface's subnet; name the interface"))
                })?,
            };
            routes.push(RouteConfig { prefix, via, interface });
        }
        let (neighbors, neighbors6) = neighbors(&self.neighbor, &interfaces)?;
        let mut routes6 = Vec::new();
        for (i, r) in self.route6.iter().enumerate() {
            let key = |f: &str| format!("route6[{i}].{f}");
            let prefix: wire::ipv6::Cidr = r
                .prefix
                .parse()
                .map_err(|_| invalid(key("prefix"), format!("{:?} is not an IPv6 prefix like ::/0", r.prefix)))?;
            if prefix.address().is_multicast() {
                return Err(invalid(key("prefix"), format!("{prefix} is multicast; groups are not routed")));
            }
            let via: Ipv6Addr =
                r.via.parse().map_err(|_| invalid(key("via"), format!("{:?} is not an IPv6 address", r.via)))?;
            if via.is_unspecified() || via.is_loopback() || via.is_multicast() {
                return Err(invalid(key("via"), format!("{via} cannot be a next hop")));
            }
            let interface = match &r.interface {
                Some(n) => interfaces
                    .iter()
                    .position(|x| &x.name == n)
                    .ok_or_else(|| invalid(key("interface"), format!("no interface named {n:?}")))?,
                None if wire::ipv6::is_link_local(via) => {
                    return Err(invalid(key("interface"), format!("{via} is link-local: name its interface")))
                }
                None => interfaces.iter().position(|x| x.ip6.iter().any(|c| c.contains(via))).ok_or_else(|| {
                    invalid(key("via"), format!("{via} is on no interface's IPv6 prefix; name the interface"))
                })?,
            };
            if routes6.iter().any(|x: &Route6Config| {
                x.prefix.network() == prefix.network() && x.prefix.prefix_len() == prefix.prefix_len()
            }) {
                return Err(invalid(key("prefix"), format!("{prefix} has another [[route6]]")));
            }
            routes6.push(Route6Config { prefix, via, interface });
        }
        let ncpu = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let cores =
            match &self.workers.cores {
                None => vec![ncpu - 1],
                Some(c) if c.is_empty() => return Err(invalid(
                    "workers.cores",
                    "an empty list starts no worker; list at least one core, or leave the key out for the last core",
                )),
                Some(c) => c.clone(),
            };
        for (i, c) in cores.iter().enumerate() {
            if *c >= ncpu {
                return Err(invalid("workers.cores", format!("core {c} does not exist (this machine has {ncpu})")));
            }
            if cores[..i].contains(c) {
                return Err(invalid("workers.cores", format!("core {c} is listed twice")));
            }
        }
        let workers_lim =
            |l: &limits::Limit, v: u64| l.check(v).map_err(|e| invalid(format!("workers.{}", e.key), e.reason));
        let mut idle = dataplane::worker::IdleConfig::default();
        if let Some(us) = self.workers.idle_sleep_us {
            workers_lim(&limits::IDLE_SLEEP_US, us)?;
        }
        match self.workers.idle {
            IdleName::Poll => idle.mode = dataplane::worker::IdleMode::Poll,
            IdleName::Sleep => {
                let us = self.workers.idle_sleep_us.unwrap_or(100);
                idle.mode = dataplane::worker::IdleMode::Sleep(std::time::Duration::from_micros(us));
            }
        }
        if let Some(n) = self.workers.idle_after_polls {
            idle.after_empty_polls = workers_lim(&limits::IDLE_AFTER_POLLS, n.into())? as u32;
        }
        let mut apps = Vec::new();
        for (i, a) in self.app.iter().enumerate() {
            let kind = match a.get("kind") {
                None => return Err(invalid(format!("app[{i}].kind"), "is required")),
                Some(toml::Value::String(k)) => k.as_str(),
                Some(other) => {
                    return Err(invalid(format!("app[{i}].kind"), format!("{other} is not a builtin app name")))
                }
            };
            let kind = match kind {
                "echo-server" => crate::apps::Kind::EchoServer,
                "echo-client" => crate::apps::Kind::EchoClient,
                "http-server" => crate::apps::Kind::HttpServer,
                other => {
                    return Err(invalid(
                        format!("app[{i}].kind"),
                        format!("{other:?} is not a builtin app ({})", crate::apps::KINDS.join(", ")),
                    ))
                }
            };
            let spec = crate::apps::AppSpec::from_pairs(kind, &app_pairs(i, a)?)
                .map_err(|e| invalid(format!("app[{i}].{}", e.key), e.reason))?;
            if apps.iter().any(|x: &crate::apps::AppSpec| x.name == spec.name) {
                return Err(invalid(format!("app[{i}].name"), format!("{:?} is used by another [[app]]", spec.name)));
            }
            apps.push(spec);
        }
        let fault = self.fault.validate()?;
        let mut tcp = self.tcp.validate()?;
        tcp.tls_handshake_timeout_ns = self.tls.validate()?;
        let udp = self.udp.validate()?;
        let cli_socket = self.cli.socket.clone().unwrap_or_else(|| "/run/dpnode/cli.sock".into());
        let api_socket = self.api.socket.clone().unwrap_or_else(|| "/run/dpnode/api.sock".into());
        if same_path(&cli_socket, &api_socket) {
            return Err(invalid(
                "cli.socket",
                format!("{} is also api.socket; the two need sockets of their own", cli_socket.display()),
            ));
        }
        let cli = self.cli.validate()?;
        let api = self.api.validate()?;
        if let Some(level) = &self.log.level {
            crate::logging::parse_filter(level).map_err(|e| invalid("log.level", e))?;
        }
        Ok(Config {
            dpdk: self.dpdk,
            interfaces,
            routes,
            neighbors,
            neighbors6,
            routes6,
            cores,
            idle,
            cli_socket,
            api_socket,
            apps,
            fault,
            tcp,
            udp,
            cli,
            api,
            log_level: self.log.level,
            dpdk_log_level,
            metrics_listen: self.metrics.listen,
        })
    }
}

/// `[[neighbor]]` entries, checked as the CLI checks them (an IPv6 `ip`
/// as `set ip6 neighbor` does; the interfaces' link-local addresses come
/// from their MACs, known only once the ports are up, so only the
/// configured ones count as the node's own here); the same address twice
/// on one interface is an error.
#[allow(clippy::type_complexity)]
fn neighbors(
    sections: &[NeighborSection],
    interfaces: &[InterfaceConfig],
) -> Result<(net::neighbor::StaticNeighbors<Ipv4Addr>, net::neighbor::StaticNeighbors<std::net::Ipv6Addr>), ConfigError>
{
    let mut table = net::neighbor::StaticNeighbors::new();
    let mut table6 = net::neighbor::StaticNeighbors::new();
    let mut seen: Vec<(usize, std::net::IpAddr)> = Vec::new();
    for (i, n) in sections.iter().enumerate() {
        let refused = |e: net::neighbor::NeighborError| match e.field() {
            "" => invalid(format!("neighbor[{i}]"), e.to_string()),
            f => invalid(format!("neighbor[{i}].{f}"), e.to_string()),
        };
        let (iface, ip, mac) = if n.ip.parse::<std::net::Ipv6Addr>().is_ok() {
            let names = interfaces.iter().map(|x| (x.name.as_str(), x.ip6.iter().map(|c| c.address())));
            let e = net::neighbor::parse_static6(names, &n.interface, &n.ip, &n.mac).map_err(refused)?;
            (e.iface, std::net::IpAddr::V6(e.ip), e.mac)
        } else {
            let names = interfaces.iter().map(|x| (x.name.as_str(), x.ip4));
            let e = net::neighbor::parse_static4(names, &n.interface, &n.ip, &n.mac).map_err(refused)?;
            (e.iface, std::net::IpAddr::V4(e.ip), e.mac)
        };
        if let Some(j) = seen.iter().position(|&s| s == (iface, ip)) {
            return Err(invalid(
                format!("neighbor[{i}].ip"),
                format!("{ip} on {} is also neighbor[{j}]'s", n.interface),
            ));
        }
        let set = match ip {
            std::net::IpAddr::V4(a) => table.set(iface, a, mac),
            std::net::IpAddr::V6(a) => table6.set(iface, a, mac),
        };
        set.map_err(|e| invalid(format!("neighbor[{i}]"), e.to_string()))?;
        seen.push((iface, ip));
    }
    Ok((table, table6))
}

/// Whether two socket paths name the same file (lexically: `a//b`, `./a` and `a` are the same).
fn same_path(a: &Path, b: &Path) -> bool {
    let norm = |p: &Path| -> PathBuf {
        let p = if p.is_relative() { std::env::current_dir().unwrap_or_default().join(p) } else { p.to_path_buf() };
        p.components().collect()
    };
    norm(a) == norm(b)
}

/// Available memory in MiB (`MemAvailable` in /proc/meminfo), if known.
pub fn available_mb() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = text.lines().find(|l| l.starts_with("MemAvailable:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// `dpdk.memory_mb` must be what the EAL can get: with `--no-huge` (hugepages
/// off, or auto without enough free hugepages) that is ordinary memory, so
/// no more than is available (`available_mb`; unknown skips the check).
fn check_memory(
    memory_mb: u32,
    hugepages: Hugepages,
    free_huge_mb: u64,
    available_mb: Option<u64>,
) -> Result<(), ConfigError> {
    let want = u64::from(memory_mb);
    let no_huge = match hugepages {
        Hugepages::Off => true,
        Hugepages::Auto => free_huge_mb < want,
        Hugepages::On => false,
    };
    match available_mb {
        Some(avail) if no_huge && want > avail => Err(invalid(
            "dpdk.memory_mb",
            format!(
                "{want} MiB without hugepages (--no-huge) is more than this machine has available ({avail} MiB); \
                 lower it, or reserve hugepages and set hugepages = \"on\""
            ),
        )),
        _ => Ok(()),
    }
}

/// EAL options the node derives itself (`runtime::eal_args`), and the
/// config key to use instead: giving one in `dpdk.eal_args` too makes the
/// EAL refuse the whole command line (or silently fight the node's choice).
const DERIVED_EAL_OPTIONS: &[(&[&str], &str)] = &[
    (
        &["--no-huge", "--in-memory", "--no-shconf", "--legacy-mem", "--huge-unlink"],
        "dpdk.hugepages (\"off\" for no hugepages; the node picks --in-memory, or --no-huge --no-shconf, from it)",
    ),
    (&["-m", "--socket-mem", "--socket-limit"], "dpdk.memory_mb"),
    (
        &["-l", "-c", "--lcores", "--main-lcore", "--master-lcore", "-s", "--service-lcores"],
        "[workers] cores (the node registers its own threads)",
    ),
    (
        &["--vdev", "-a", "--allow", "-w", "--pci-whitelist", "--no-pci"],
        "[[interface]] vdev (a virtual device or a PCI address)",
    ),
    (&["--proc-type"], "nothing: the node is always a primary process"),
];

/// `dpdk.eal_args` must not repeat or contradict what the node derives
/// ([`DERIVED_EAL_OPTIONS`]); other EAL options pass through.
fn check_eal_args(args: &[String]) -> Result<(), ConfigError> {
    for (i, a) in args.iter().enumerate() {
        // `--opt=value`, `--opt value`, `-mVALUE` and `-m VALUE` all name the option.
        let name = a.split('=').next().unwrap_or(a);
        let hit = DERIVED_EAL_OPTIONS.iter().find(|(opts, _)| {
            opts.iter().any(|o| {
                name == *o || (o.len() == 2 && !o.starts_with("--") && name.starts_with(o) && !name.starts_with("--"))
            })
        });
        if let Some((_, instead)) = hit {
            return Err(invalid(
                format!("dpdk.eal_args[{i}]"),
                format!("{a:?} conflicts with the EAL arguments the node derives; set {instead} instead"),
            ));
        }
    }
    Ok(())
}

/// Checks `[[interface]] vdev` (`DEVICE[,KEY[=VALUE]]...`, DEVICE a virtual
/// device `net_NAME`/`eth_NAME`/`virtio_userN` (DPDK's alias for
/// `net_virtio_user`) or a PCI address); returns the device name.
fn check_vdev(vdev: &str) -> Result<String, String> {
    if vdev.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{vdev:?} contains whitespace"));
    }
    let mut parts = vdev.split(',');
    let device = parts.next().unwrap_or("");
    if device.is_empty() {
        return Err(format!("{vdev:?} has no device name"));
    }
    let word = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let is_vdev = ["net_", "eth_", "virtio_user"].iter().any(|p| device.strip_prefix(p).is_some_and(word));
    if !is_vdev && !is_pci_address(device) {
        return Err(format!(
            "device {device:?} is neither a virtual device (net_tap0, net_memif0, virtio_user0, ...) nor a PCI address (0000:01:00.0)"
        ));
    }
    let mut keys: Vec<&str> = Vec::new();
    for arg in parts {
        let (k, v) = match arg.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (arg, None),
        };
        if arg.is_empty() {
            return Err(format!("{vdev:?} has an empty argument (two commas, or a trailing one)"));
        }
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(format!("argument {arg:?} has no KEY (arguments are KEY=VALUE)"));
        }
        if v == Some("") {
            return Err(format!("argument {k:?} has an empty value"));
        }
        if keys.contains(&k) {
            return Err(format!("argument {k:?} is given twice"));
        }
        keys.push(k);
    }
    Ok(device.to_string())
}

/// `DDDD:BB:DD.F` or `BB:DD.F`, hexadecimal.
pub(crate) fn is_pci_address(s: &str) -> bool {
    let hex = |t: &str, n: usize| t.len() == n && t.chars().all(|c| c.is_ascii_hexdigit());
    let (rest, func) = match s.rsplit_once('.') {
        Some(x) => x,
        None => return false,
    };
    if !(func.len() == 1 && ('0'..='7').contains(&func.chars().next().unwrap_or('x'))) {
        return false;
    }
    match rest.split(':').collect::<Vec<_>>()[..] {
        [d, b, dev] => hex(d, 4) && hex(b, 2) && hex(dev, 2),
        [b, dev] => hex(b, 2) && hex(dev, 2),
        _ => false,
    }
}

/// A socket's `mode` and `group` keys.
fn socket_access(section: &str, mode: &Option<String>, group: &Option<String>) -> Result<SocketAccess, ConfigError> {
    let mut a = SocketAccess::default();
    if let Some(m) = mode {
        a.mode = limits::parse_mode("mode", m).map_err(|e| invalid(format!("{section}.mode"), e.reason))?;
    }
    if let Some(g) = group {
        a.gid = Some(
            session::api_server::resolve_group(g)
                .ok_or_else(|| invalid(format!("{section}.group"), format!("no group {g:?} on this machine")))?,
        );
    }
    Ok(a)
}

impl CliSection {
    fn validate(&self) -> Result<crate::cli_server::CliConfig, ConfigError> {
        let mut c = crate::cli_server::CliConfig {
            access: socket_access("cli", &self.mode, &self.group)?,
            ..Default::default()
        };
        let lim = |l: &limits::Limit, v: Option<u64>| {
            v.map(|v| l.check(v)).transpose().map_err(|e| invalid(format!("cli.{}", e.key), e.reason))
        };
        if let Some(n) = lim(&limits::MAX_CONNECTIONS, self.max_connections)? {
            c.max_connections = n as usize;
        }
        if let Some(ms) = lim(&limits::FIRST_MESSAGE_MS, self.first_message_ms)? {
            c.first_message = Duration::from_millis(ms);
        }
        if let Some(ms) = lim(&limits::IDLE_MS, self.idle_ms)? {
            c.idle = Duration::from_millis(ms);
        }
        Ok(c)
    }
}

impl ApiSection {
    fn validate(&self) -> Result<session::api_server::ApiConfig, ConfigError> {
        let mut c = session::api_server::ApiConfig {
            access: socket_access("api", &self.mode, &self.group)?,
            ..Default::default()
        };
        let lim = |l: &limits::Limit, v: Option<u64>| {
            v.map(|v| l.check(v)).transpose().map_err(|e| invalid(format!("api.{}", e.key), e.reason))
        };
        if let Some(n) = lim(&limits::MAX_CONNECTIONS, self.max_connections)? {
            c.max_connections = n as usize;
        }
        if let Some(ms) = lim(&limits::FIRST_MESSAGE_MS, self.first_message_ms)? {
            c.first_message = Duration::from_millis(ms);
        }
        if let Some(ms) = lim(&limits::IDLE_MS, self.idle_ms)? {
            c.idle = Duration::from_millis(ms);
        }
        if let Some(n) = lim(&limits::APPS_PER_CONNECTION, self.max_apps_per_connection)? {
            c.max_apps_per_connection = n as usize;
        }
        if let Some(n) = lim(&limits::APPS_PER_UID, self.max_apps_per_uid)? {
            c.max_apps_per_uid = n as usize;
        }
        if let Some(n) = lim(&limits::FD_RESERVE, self.fd_reserve)? {
            c.fd_reserve = n as usize;
        }
        Ok(c)
    }
}

impl FaultSection {
    fn validate(&self) -> Result<net::fault::FaultConfig, ConfigError> {
        use net::fault::{Direction, FaultConfig, DEFAULT_HOLD_US};
        let cfg = FaultConfig {
            drop_percent: self.drop_percent,
            duplicate_percent: self.duplicate_percent,
            reorder_percent: self.reorder_percent,
            direction: match self.direction {
                DirectionName::Rx => Direction::Rx,
                DirectionName::Tx => Direction::Tx,
                DirectionName::Both => Direction::Both,
            },
            seed: self.seed,
            reorder_hold_us: self.reorder_hold_us.unwrap_or(DEFAULT_HOLD_US),
        };
        cfg.validate().map_err(|e| invalid(format!("fault.{}", e.key), e.reason))?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn err(text: &str) -> String {
        Config::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn default_config_is_valid() {
        let c = Config::parse(DEFAULT_CONFIG).unwrap();
        assert_eq!(c.interfaces.len(), 1);
        assert_eq!(c.interfaces[0].device, "net_tap0");
        assert_eq!(c.cores.len(), 1);
    }

    #[test]
    fn eal_args_that_conflict_with_derived_ones_name_the_key_and_what_to_write() {
        let cfg = |args: &str| format!("[dpdk]\neal_args = [{args}]\n[[interface]]\nname='a'\nvdev='net_null0'\n");
        let e = err(&cfg("'--log-level=pmd:debug', '--no-huge'"));
        assert!(e.contains("dpdk.eal_args[1]: \"--no-huge\" conflicts") && e.contains("dpdk.hugepages"), "{e}");
        for (arg, key) in [
            ("'-m512'", "dpdk.memory_mb"),
            ("'-m', '512'", "dpdk.memory_mb"),
            ("'--socket-mem=512'", "dpdk.memory_mb"),
            ("'--in-memory'", "dpdk.hugepages"),
            ("'-l', '0-1'", "[workers] cores"),
            ("'--lcores=0@0'", "[workers] cores"),
            ("'--vdev=net_null1'", "[[interface]] vdev"),
            ("'-a0000:01:00.0'", "[[interface]] vdev"),
        ] {
            let e = err(&cfg(arg));
            assert!(e.contains("dpdk.eal_args[0]") && e.contains(key), "{arg}: {e}");
        }
        // Options the node does not derive pass through.
        Config::parse(&cfg("'--log-level=pmd.net.tap:debug', '--file-prefix=x', '--iova-mode=va'")).unwrap();
    }

    #[test]
    fn unknown_key_is_named() {
        let e = err("[dpdk]\nmemory = 5\n[[interface]]\nname='a'\nvdev='net_null0'\n");
        assert!(e.contains("memory"), "{e}");
    }

    #[test]
    fn bad_prefix_names_key() {
        let e = err("[[interface]]\nname='a'\nvdev='net_null0'\nip4='1.2.3/8'\n");
        assert!(e.contains("interface[0].ip4"), "{e}");
    }

    #[test]
    fn bad_core_and_route() {
        let e = err("[[interface]]\nname='a'\nvdev='net_null0'\n[workers]\ncores=[9999]\n");
        assert!(e.contains("workers.cores"), "{e}");
        let e = err("[[interface]]\nname='a'\nvdev='net_null0'\nip4='10.0.0.1/24'\n[[route]]\nprefix='0.0.0.0/0'\nvia='192.0.2.1'\n");
        assert!(e.contains("route[0].via"), "{e}");
        let c = Config::parse("[[interface]]\nname='a'\nvdev='net_null0'\nip4='198.18.0.2/24'\n[[route]]\nprefix='0.0.0.0/0'\nvia='198.18.0.1'\n").unwrap();
        assert_eq!(c.routes[0].interface, 0);
    }

    #[test]
    fn neighbors_are_checked_and_name_the_key() {
        let base = "[[interface]]\nname='a'\nvdev='net_null0'\nip4='198.18.0.2/24'\n";
        let n = |i: &str, ip: &str, mac: &str| format!("[[neighbor]]\ninterface='{i}'\nip='{ip}'\nmac='{mac}'\n");
        let c = Config::parse(&format!(
            "{base}{}{}",
            n("a", "198.18.0.1", "02:00:00:00:00:01"),
            n("a", "198.18.0.3", "02:00:00:00:00:03")
        ))
        .unwrap();
        let mac = wire::ethernet::Address([2, 0, 0, 0, 0, 3]);
        assert_eq!(c.neighbors.len(), 2);
        assert_eq!(c.neighbors.lookup(0, Ipv4Addr::new(198, 18, 0, 3)), Some(mac));
        let e = |extra: String| err(&format!("{base}{extra}"));
        let good = n("a", "198.18.0.1", "02:00:00:00:00:01");
        assert_eq!(
            e(n("b", "198.18.0.1", "02:00:00:00:00:01")),
            "config: neighbor[0].interface: no interface named \"b\""
        );
        assert_eq!(
            e(n("a", "198.18.0.x", "02:00:00:00:00:01")),
            "config: neighbor[0].ip: \"198.18.0.x\" is not an IPv4 address"
        );
        assert_eq!(
            e(n("a", "198.18.0.255", "02:00:00:00:00:01")),
            "config: neighbor[0].ip: 198.18.0.255 is not a unicast address (it is a subnet broadcast address)"
        );
        assert_eq!(
            e(n("a", "198.18.0.2", "02:00:00:00:00:01")),
            "config: neighbor[0].ip: 198.18.0.2 is not a unicast address (it is the node's own address)"
        );
        assert_eq!(
            e(n("a", "198.18.0.1", "01:00:00:00:00:01")),
            "config: neighbor[0].mac: 01:00:00:00:00:01 is not a unicast MAC address"
        );
        assert_eq!(
            e(n("a", "198.18.0.1", "nope")),
            "config: neighbor[0].mac: \"nope\" is not a MAC address like 02:00:00:00:00:01"
        );
        assert_eq!(
            e(format!("{good}{}", n("a", "198.18.0.1", "02:00:00:00:00:09"))),
            "config: neighbor[1].ip: 198.18.0.1 on a is also neighbor[0]'s"
        );
        assert!(e("[[neighbor]]\ninterface='a'\nip='198.18.0.1'\n".into()).contains("mac"));
        // IPv6 entries go to their own table, checked the same way.
        let v6 = |ip: &str, mac: &str| {
            format!(
                "[[interface]]\nname='a'\nvdev='net_null0'\nip4='198.18.0.2/24'\nip6=['fd00:198:18::2/64']\n{}",
                n("a", ip, mac)
            )
        };
        let c = Config::parse(&v6("fd00:198:18::1", "02:00:00:00:00:01")).unwrap();
        assert_eq!(
            c.neighbors6.lookup(0, "fd00:198:18::1".parse().unwrap()),
            Some(wire::ethernet::Address([2, 0, 0, 0, 0, 1]))
        );
        assert!(c.neighbors.is_empty());
        assert!(Config::parse(&v6("fe80::1", "02:00:00:00:00:01")).is_ok());
        let bad = |ip: &str, mac: &str| err(&v6(ip, mac));
        assert_eq!(
            bad("fd00:198:18::2", "02:00:00:00:00:01"),
            "config: neighbor[0].ip: fd00:198:18::2 is not a unicast address (it is the node's own address)"
        );
        assert_eq!(
            bad("ff02::1", "02:00:00:00:00:01"),
            "config: neighbor[0].ip: ff02::1 is not a unicast address (multicast)"
        );
        assert_eq!(
            bad("fe80::1", "33:33:00:00:00:01"),
            "config: neighbor[0].mac: 33:33:00:00:00:01 is not a unicast MAC address"
        );
        let twice = format!("{}{}", v6("fe80::1", "02:00:00:00:00:01"), n("a", "fe80::1", "02:00:00:00:00:02"));
        assert_eq!(err(&twice), "config: neighbor[1].ip: fe80::1 on a is also neighbor[0]'s");
        assert!(e(format!("{good}extra = 1\n")).contains("extra"));
    }

    #[test]
    fn ip6_addresses_and_routes_are_validated() {
        let iface =
            |name: &str, dev: &str, ip6: &str| format!("[[interface]]\nname='{name}'\nvdev='{dev}'\nip6=[{ip6}]\n");
        let one = iface("a", "net_null0", "'fd00:198:18::2/64', '2001:db8::2/48'");
        let c = Config::parse(&format!(
            "{one}[[route6]]\nprefix='::/0'\nvia='fd00:198:18::1'\n[[route6]]\nprefix='2001:db8:1::/48'\nvia='fe80::1'\ninterface='a'\n"
        ))
        .unwrap();
        assert_eq!(c.interfaces[0].ip6.len(), 2);
        assert_eq!(c.interfaces[0].ip6[0].to_string(), "fd00:198:18::2/64");
        assert_eq!((c.routes6[0].interface, c.routes6[1].via.to_string().as_str()), (0, "fe80::1"));
        for (bad, why) in [
            ("'fd00::2'", "not an IPv6 address/prefix"),
            ("'fd00::2/129'", "not an IPv6 address/prefix"),
            ("'198.18.0.2/24'", "not an IPv6 address/prefix"),
            ("'fd00::2/0'", "prefix length 0"),
            ("'::/64'", "unspecified"),
            ("'::1/128'", "loopback"),
            ("'ff02::1/64'", "multicast"),
            ("'fe80::5/64'", "link-local"),
            ("'::ffff:198.18.0.2/96'", "IPv4-mapped"),
            ("'fd00::2/64', 'fd00::2/56'", "listed twice"),
        ] {
            let e = err(&iface("a", "net_null0", bad));
            assert!(e.contains("interface[0].ip6") && e.contains(why), "{bad}: {e}");
        }
        let e = err(&format!("{}{}", iface("a", "net_null0", "'fd00::2/64'"), iface("b", "net_null1", "'fd00::2/64'")));
        assert!(e.contains("interface[1].ip6") && e.contains("interface[0]"), "{e}");
        let e = err(&format!("{one}[[route6]]\nprefix='::/0'\nvia='fe80::1'\n"));
        assert!(e.contains("route6[0].interface") && e.contains("link-local"), "{e}");
        let e = err(&format!("{one}[[route6]]\nprefix='::/0'\nvia='fd01::1'\n"));
        assert!(e.contains("route6[0].via") && e.contains("no interface"), "{e}");
        let e = err(&format!("{one}[[route6]]\nprefix='::/0'\nvia='ff02::1'\ninterface='a'\n"));
        assert!(e.contains("route6[0].via"), "{e}");
        let e = err(&format!("{one}[[route6]]\nprefix='10.0.0.0/8'\nvia='fd00:198:18::1'\n"));
        assert!(e.contains("route6[0].prefix"), "{e}");
        let e = err(&format!(
            "{one}[[route6]]\nprefix='::/0'\nvia='fd00:198:18::1'\n[[route6]]\nprefix='::/0'\nvia='fd00:198:18::3'\n"
        ));
        assert!(e.contains("route6[1].prefix"), "{e}");
    }

    #[test]
    fn apps_parse_and_errors_name_the_key() {
        let base = "[[interface]]\nname='a'\nvdev='net_null0'\n";
        let c = Config::parse(&format!(
            "{base}[[app]]\nkind='echo-server'\nuri='udp://0.0.0.0/7'\nfifo_size='64k'\n\
             [[app]]\nkind='echo-client'\nuri='tcp://198.18.0.1/7'\nsessions=3\nbytes='1m'\n"
        ))
        .unwrap();
        assert_eq!(c.apps.len(), 2);
        assert_eq!(c.apps[0].opts.rx_fifo_size, 65536);
        assert_eq!((c.apps[1].sessions, c.apps[1].bytes), (3, 1 << 20));
        let e = err(&format!("{base}[[app]]\nkind='echo-servr'\nuri='udp://0.0.0.0/7'\n"));
        assert!(e.contains("app[0].kind") && e.contains("echo-server"), "{e}");
        let e = err(&format!("{base}[[app]]\nkind='echo-server'\nuri='udp://0.0.0.0'\n"));
        assert!(e.contains("app[0].uri"), "{e}");
        let e = err(&format!("{base}[[app]]\nkind='echo-server'\nuri='udp://0.0.0.0/7'\nsessions=2\n"));
        assert!(e.contains("app[0].sessions"), "{e}");
        let e = err(&format!("{base}[[app]]\nkind='echo-server'\nuri='udp://0.0.0.0/7'\nscope='everywhere'\n"));
        assert!(e.contains("app[0].scope"), "{e}");
        let e = err(&format!("{base}[[app]]\nkind='echo-server'\nuri='udp://0.0.0.0/7'\ncolour='red'\n"));
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn echo_client_modes_in_app_sections() {
        let base = "[[interface]]\nname='a'\nvdev='net_null0'\n";
        let c = Config::parse(&format!(
            "{base}[[app]]\nkind='echo-client'\nuri='tcp://198.18.0.1/7'\nmode='cps'\nconnections=500\nsessions=4\n\
             [[app]]\nkind='echo-client'\nuri='tcp://198.18.0.1/8'\nmode='rr'\nchunk=64\nduration=1.5\n"
        ))
        .unwrap();
        assert_eq!((c.apps[0].mode, c.apps[0].connections), (echo::EchoMode::Cps, 500));
        assert_eq!(c.apps[1].duration, Some(std::time::Duration::from_millis(1500)));
        let e = err(&format!("{base}[[app]]\nkind='echo-client'\nuri='tcp://198.18.0.1/7'\nmode='fast'\n"));
        assert!(e.contains("app[0].mode"), "{e}");
        let e = err(&format!("{base}[[app]]\nkind='echo-client'\nuri='tcp://198.18.0.1/7'\nconnections=5\n"));
        assert!(e.contains("app[0].connections") && e.contains("cps"), "{e}");
        let e = err(&format!("{base}[[app]]\nkind='echo-client'\nuri='udp://198.18.0.1/7'\nmode='cps'\n"));
        assert!(e.contains("app[0].mode"), "{e}");
        let e = err(&format!("{base}[[app]]\nkind='echo-server'\nuri='tcp://0.0.0.0/7'\nduration=3\n"));
        assert!(e.contains("app[0].duration"), "{e}");
    }

    #[test]
    fn fault_section() {
        let base = "[[interface]]\nname='a'\nvdev='net_null0'\n";
        let c = Config::parse(base).unwrap();
        assert!(!c.fault.is_active());
        assert!(c.interfaces[0].checksum_offload);
        let c = Config::parse(&format!(
            "{base}checksum_offload = false\n[fault]\ndrop_percent = 20\nduplicate_percent = 0.5\nreorder_percent = 1\nseed = 42\ndirection = \"both\"\nreorder_hold_us = 500\n"
        ))
        .unwrap();
        assert!(!c.interfaces[0].checksum_offload);
        let f = c.fault;
        assert_eq!((f.drop_percent, f.duplicate_percent, f.reorder_percent), (20.0, 0.5, 1.0));
        assert_eq!((f.seed, f.direction, f.reorder_hold_us), (Some(42), net::fault::Direction::Both, 500));
        let e = err(&format!("{base}[fault]\ndrop_percent = 101\n"));
        assert!(e.contains("fault.drop_percent") && e.contains("101"), "{e}");
        let e = err(&format!("{base}[fault]\nreorder_percent = -0.1\n"));
        assert!(e.contains("fault.reorder_percent"), "{e}");
        let e = err(&format!("{base}[fault]\nreorder_hold_us = 0\n"));
        assert!(e.contains("fault.reorder_hold_us"), "{e}");
        let e = err(&format!("{base}[fault]\ndirection = \"sideways\"\n"));
        assert!(e.contains("direction"), "{e}");
        let e = err(&format!("{base}[fault]\ndrop = 1\n"));
        assert!(e.contains("drop"), "{e}");
    }

    #[test]
    fn mbuf_data_room_is_standard_by_default_a_checked_size_or_a_whole_frame() {
        let base = "[[interface]]\nname='a'\nvdev='net_memif0,role=server,socket=/tmp/x.sock'\nmtu = 9000\n";
        let room = |dpdk: &str| Config::parse(&format!("[dpdk]\n{dpdk}\n{base}")).map(|c| c.dpdk.data_room(9000));
        assert_eq!(room("").unwrap(), Ok(2176), "standard mbufs, chains at MTU 9000");
        assert_eq!(room("mbuf_data_room = 4096").unwrap(), Ok(4096));
        assert_eq!(room("mbuf_data_room = 'frame'").unwrap(), Ok(dataplane::mempool::data_room_for_mtu(9000)));
        for bad in ["mbuf_data_room = 1000", "mbuf_data_room = 70000", "mbuf_data_room = 'jumbo'"] {
            let e = err(&format!("[dpdk]\n{bad}\n{base}"));
            assert!(e.contains("dpdk.mbuf_data_room"), "{bad}: {e}");
        }
        let e = err(&format!("[dpdk]\nmbuf_data_room = 1000\n{base}"));
        assert!(e.contains("1152..=65535"), "{e}");
    }

    #[test]
    fn jumbo_mtu_and_the_mss_it_implies() {
        let base = "[[interface]]\nname='a'\nvdev='net_memif0,role=server,socket=/tmp/x.sock'\nmtu = 9000\n";
        let c = Config::parse(base).unwrap();
        assert_eq!(c.interfaces[0].mtu, Some(9000));
        // No [tcp] mss: the interface MTU decides per connection.
        assert_eq!(c.tcp.tcp.mss, tcp::config::MSS_MAX);
        let e = err("[[interface]]\nname='a'\nvdev='net_null0'\nip6 = ['fd00::2/64']\nmtu = 1200\n");
        assert!(e.contains("interface[0].mtu") && e.contains("below IPv6's minimum of 1280"), "{e}");
        let e = err("[[interface]]\nname='a'\nvdev='net_null0'\nmtu = 9001\n");
        assert!(e.contains("interface[0].mtu") && e.contains("68..=9000"), "{e}");
    }

    #[test]
    fn tcp_section() {
        let base = "[[interface]]\nname='a'\nvdev='net_null0'\n";
        let c = Config::parse(&format!(
            "{base}[tcp]\nmss = 1400\nmin_rto_ms = 50\ncc = 'newreno'\nsack = false\nsyn_cookies = 'always'\nmax_half_open = 8\n"
        ))
        .unwrap();
        assert_eq!((c.tcp.tcp.mss, c.tcp.tcp.min_rto, c.tcp.tcp.sack), (1400, 50_000_000, false));
        assert_eq!(c.tcp.tcp.cc, shm::types::Cc::NewReno);
        assert_eq!((c.tcp.max_half_open, c.tcp.syn_cookies), (8, tcp::backlog::SynCookieMode::Always));
        assert!(c.tcp.gro, "receive coalescing is on by default");
        let c = Config::parse(&format!("{base}[tcp]\ngro = false\n")).unwrap();
        assert!(!c.tcp.gro);
        assert!(err(&format!("{base}[tcp]\ngro = 'yes'\n")).contains("gro"));
        for (bad, key) in [
            ("mss = 10", "tcp.mss"),
            ("cc = 'vegas'", "tcp.cc"),
            ("min_rto_ms = 0", "tcp.min_rto_ms"),
            ("syn_cookies = 'sometimes'", "tcp.syn_cookies"),
            ("max_half_open = 0", "tcp.max_half_open"),
            ("nagel = true", "nagel"),
        ] {
            let e = err(&format!("{base}[tcp]\n{bad}\n"));
            assert!(e.contains(key), "{bad}: {e}");
        }
    }

    #[test]
    fn tls_section() {
        let base = "[[interface]]\nname='a'\nvdev='net_null0'\n";
        let c = Config::parse(base).unwrap();
        assert_eq!(c.tcp.tls_handshake_timeout_ns, 10_000_000_000);
        let c = Config::parse(&format!("{base}[tls]\nhandshake_timeout = 0.5\n")).unwrap();
        assert_eq!(c.tcp.tls_handshake_timeout_ns, 500_000_000);
        for bad in ["handshake_timeout = 0", "handshake_timeout = 4000", "handshake_timeout = 'soon'", "timeout = 1"] {
            let e = err(&format!("{base}[tls]\n{bad}\n"));
            assert!(e.contains("handshake_timeout") || e.contains("timeout"), "{bad}: {e}");
        }
        let e = err(&format!("{base}[tls]\nhandshake_timeout = 0\n"));
        assert!(e.contains("tls.handshake_timeout") && e.contains("0.1..=3600 s"), "{e}");
    }

    const BASE: &str = "[[interface]]\nname='a'\nvdev='net_null0'\n";

    #[test]
    fn mss_0_and_1_are_refused_naming_the_key_and_range() {
        for v in [0, 1, 87, 9001] {
            let e = err(&format!("{BASE}[[app]]\nkind='echo-server'\nuri='tcp://0.0.0.0/7'\nmss={v}\n"));
            assert!(e.contains("app[0].mss") && e.contains(&format!("{v} is outside 88..=9000")), "{e}");
            let e = err(&format!("{BASE}[tcp]\nmss={v}\n"));
            assert!(e.contains("tcp.mss") && e.contains("88..=9000"), "{e}");
        }
        let c = Config::parse(&format!(
            "{BASE}[tcp]\nmss=88\n[[app]]\nkind='echo-client'\nuri='tcp://1.1.1.1/7'\nmss=9000\n"
        ))
        .unwrap();
        assert_eq!((c.tcp.tcp.mss, c.apps[0].transport.mss), (88, Some(9000)));
    }

    #[test]
    fn cli_socket_equal_to_api_socket_is_refused() {
        let e = err(&format!("{BASE}[cli]\nsocket='/tmp/x/s.sock'\n[api]\nsocket='/tmp/x//s.sock'\n"));
        assert!(e.contains("cli.socket") && e.contains("api.socket"), "{e}");
        let e = err(&format!("{BASE}[cli]\nsocket='/run/dpnode/api.sock'\n"));
        assert!(e.contains("cli.socket"), "the default api socket: {e}");
        assert!(Config::parse(&format!("{BASE}[cli]\nsocket='/tmp/x/c.sock'\n[api]\nsocket='/tmp/x/a.sock'\n")).is_ok());
    }

    #[test]
    fn empty_core_list_is_refused() {
        let e = err(&format!("{BASE}[workers]\ncores=[]\n"));
        assert!(e.contains("workers.cores") && e.contains("empty"), "{e}");
        assert_eq!(Config::parse(BASE).unwrap().cores.len(), 1, "absent: one worker");
    }

    #[test]
    fn malformed_vdev_arguments_are_refused() {
        for bad in [
            "net_tap0,",
            "net_tap0,,iface=x",
            "net_tap0,=x",
            "net_tap0,iface=",
            "net_tap0,iface=a,iface=b",
            "net_tap0 ,iface=a",
            "net_tap0,iface=a b",
            ",iface=a",
            "tap0",
            "net_",
            "0000:01:00",
            "01:00.9",
        ] {
            let e = err(&format!("[[interface]]\nname='a'\nvdev='{bad}'\n"));
            assert!(e.contains("interface[0].vdev"), "{bad}: {e}");
        }
        for good in [
            "net_tap0,iface=dpn0",
            "net_memif0,role=server,socket=/tmp/m.sock,socket-abstract=no",
            "0000:01:00.0",
            "3b:00.1",
            "net_tap0,persist",
            "virtio_user0,path=/tmp/vhost.sock,queues=1",
        ] {
            assert!(Config::parse(&format!("[[interface]]\nname='a'\nvdev='{good}'\n")).is_ok(), "{good}");
        }
        let e = err("[[interface]]\nname='a'\nvdev='net_null0'\n[[interface]]\nname='b'\nvdev='net_null0,x=1'\n");
        assert!(e.contains("interface[1].vdev") && e.contains("interface[0]"), "{e}");
    }

    #[test]
    fn memory_beyond_what_no_huge_can_get_is_refused() {
        let e = check_memory(4096, Hugepages::Off, 0, Some(1000)).unwrap_err().to_string();
        assert!(e.contains("dpdk.memory_mb") && e.contains("1000 MiB"), "{e}");
        assert!(check_memory(4096, Hugepages::Auto, 0, Some(1000)).is_err(), "auto without hugepages is --no-huge");
        assert!(check_memory(4096, Hugepages::Auto, 8192, Some(1000)).is_ok(), "auto with hugepages");
        assert!(check_memory(4096, Hugepages::On, 0, Some(1000)).is_ok(), "on: the EAL start says what is missing");
        assert!(check_memory(512, Hugepages::Off, 0, Some(1000)).is_ok());
        assert!(check_memory(512, Hugepages::Off, 0, None).is_ok(), "unknown: not checked");
        // This machine has less than a TiB available.
        let e = err(&format!("[dpdk]\nhugepages='off'\nmemory_mb=1000000\n{BASE}"));
        assert!(e.contains("dpdk.memory_mb") && e.contains("available"), "{e}");
        let e = err(&format!("[dpdk]\nmemory_mb=2000000\n{BASE}"));
        assert!(e.contains("dpdk.memory_mb") && e.contains("64..=1048576"), "{e}");
    }

    #[test]
    fn app_fifo_size_is_checked_at_config_time_under_its_own_key() {
        let e = err(&format!("{BASE}[[app]]\nkind='echo-server'\nuri='udp://0.0.0.0/7'\nfifo_size='5000'\n"));
        assert!(e.contains("app[0].fifo_size") && e.contains("power of two"), "{e}");
        let e = err(&format!("{BASE}[[app]]\nkind='echo-server'\nuri='udp://0.0.0.0/7'\nfifo_size='128m'\n"));
        assert!(e.contains("app[0].fifo_size") && e.contains("4k..=64m"), "{e}");
        // Valid alone, too big for its segment: the combination, still before the EAL starts.
        let e = err(&format!(
            "{BASE}[[app]]\nkind='echo-server'\nuri='udp://0.0.0.0/7'\nfifo_size='64m'\nsegment_size='32m'\n"
        ));
        assert!(e.contains("app[0].fifo_size") && !e.contains("rx_fifo_size"), "{e}");
        let e = err(&format!("{BASE}[[app]]\nkind='echo-server'\nuri='udp://0.0.0.0/7'\nprealloc_fifos=1000\n"));
        assert!(e.contains("app[0].prealloc_fifos"), "{e}");
        let e = err(&format!("{BASE}[[app]]\nkind='echo-client'\nuri='udp://1.1.1.1/7'\nsessions=-1\n"));
        assert!(e.contains("app[0].sessions"), "{e}");
    }

    #[test]
    fn every_numeric_key_has_its_range() {
        for (text, key) in [
            ("[dpdk]\nmbufs=10\n", "dpdk.mbufs"),
            ("[dpdk]\nmbuf_cache=1000\n", "dpdk.mbuf_cache"),
            ("[dpdk]\nrx_desc=100\n", "dpdk.rx_desc"),
            ("[dpdk]\ntx_desc=16384\n", "dpdk.tx_desc"),
            ("[workers]\nidle_sleep_us=0\n", "workers.idle_sleep_us"),
            ("[workers]\nidle='poll'\nidle_sleep_us=0\n", "workers.idle_sleep_us"),
            ("[workers]\nidle_after_polls=0\n", "workers.idle_after_polls"),
            ("[tcp]\ndelayed_ack_ms=501\n", "tcp.delayed_ack_ms"),
            ("[tcp]\ntime_wait_ms=0\n", "tcp.time_wait_ms"),
            ("[tcp]\nmax_half_open=0\n", "tcp.max_half_open"),
            ("[api]\nmax_connections=0\n", "api.max_connections"),
            ("[api]\nfirst_message_ms=1\n", "api.first_message_ms"),
            ("[api]\nidle_ms=1\n", "api.idle_ms"),
            ("[api]\nmax_apps_per_connection=0\n", "api.max_apps_per_connection"),
            ("[api]\nmax_apps_per_uid=0\n", "api.max_apps_per_uid"),
            ("[api]\nfd_reserve=1\n", "api.fd_reserve"),
            ("[api]\nmode='0999'\n", "api.mode"),
            ("[api]\ngroup='no-such-group-here'\n", "api.group"),
            ("[cli]\nmax_connections=100000\n", "cli.max_connections"),
            ("[cli]\nmode='rwx'\n", "cli.mode"),
            ("[fault]\ndrop_percent=100.5\n", "fault.drop_percent"),
        ] {
            let e = err(&format!("{BASE}{text}"));
            assert!(e.contains(key) && (e.contains("..=") || e.contains("no group")), "{text}: {e}");
        }
        let c = Config::parse(&format!(
            "{BASE}[api]\nmode='0600'\ngroup='0'\nmax_apps_per_connection=2\n[cli]\nmax_connections=8\nidle_ms=500\n"
        ))
        .unwrap();
        assert_eq!((c.api.access.mode, c.api.access.gid, c.api.max_apps_per_connection), (0o600, Some(0), 2));
        assert_eq!((c.cli.max_connections, c.cli.idle), (8, Duration::from_millis(500)));
    }

    #[test]
    fn udp_section() {
        let base = "[[interface]]\nname='a'\nvdev='net_null0'\n";
        let c = Config::parse(base).unwrap();
        assert_eq!(c.udp, session::udp::UdpConfig::default());
        let c = Config::parse(&format!(
            "{base}[udp]\nidle_timeout_s = 30\nmax_sessions_per_listener = 100\nmax_sessions_per_source = 10\n\
             memory_mb = 8\ninitial_fifo_size = '8k'\n"
        ))
        .unwrap();
        assert_eq!(c.udp.idle_timeout_ns, 30_000_000_000);
        assert_eq!((c.udp.max_sessions_per_listener, c.udp.max_sessions_per_source), (100, 10));
        assert_eq!((c.udp.memory_bytes, c.udp.initial_fifo_size), (8 << 20, 8192));
        for (bad, key) in [
            ("max_sessions_per_source = 0", "udp.max_sessions_per_source"),
            ("max_sessions_per_listener = 0", "udp.max_sessions_per_listener"),
            ("memory_mb = 0", "udp.memory_mb"),
            ("initial_fifo_size = '5k'", "udp.initial_fifo_size"),
            ("initial_fifo_size = '1m'", "udp.initial_fifo_size"),
            ("idle_timeout_s = 99999999999", "udp.idle_timeout_s"),
            ("sessions = 3", "sessions"),
        ] {
            let e = err(&format!("{base}[udp]\n{bad}\n"));
            assert!(e.contains(key), "{bad}: {e}");
        }
    }

    #[test]
    fn log_level() {
        assert_eq!(Config::parse(BASE).unwrap().log_level, None);
        let c = Config::parse(&format!("{BASE}[log]\nlevel = 'debug'\n")).unwrap();
        assert_eq!(c.log_level.as_deref(), Some("debug"));
        let c = Config::parse(&format!("{BASE}[log]\nlevel = 'session=debug,warn'\n")).unwrap();
        assert_eq!(c.log_level.as_deref(), Some("session=debug,warn"));
        let e = err(&format!("{BASE}[log]\nlevel = 'session=loud'\n"));
        assert!(e.contains("log.level") && e.contains("session=loud"), "{e}");
        let e = err(&format!("{BASE}[log]\nlevels = 'info'\n"));
        assert!(e.contains("levels"), "{e}");
    }

    #[test]
    fn dpdk_log_level_takes_five_words_and_refuses_others_naming_the_key() {
        assert_eq!(Config::parse(BASE).unwrap().dpdk_log_level, None);
        for (w, l, t) in [
            ("error", DpdkLogLevel::Error, "error"),
            ("warning", DpdkLogLevel::Warning, "warn"),
            ("notice", DpdkLogLevel::Notice, "info"),
            ("info", DpdkLogLevel::Info, "info"),
            ("debug", DpdkLogLevel::Debug, "debug"),
        ] {
            let c = Config::parse(&format!("[dpdk]\nlog_level = '{w}'\n{BASE}")).unwrap();
            assert_eq!(c.dpdk_log_level, Some(l));
            assert_eq!((l.word(), l.tracing_level()), (w, t));
        }
        for bad in ["loud", "DEBUG", "8", "", "warn"] {
            let e = err(&format!("[dpdk]\nlog_level = '{bad}'\n{BASE}"));
            assert!(e.contains("dpdk.log_level") && e.contains("error, warning, notice, info, debug"), "{bad}: {e}");
        }
        let e = err(&format!("[dpdk]\nlog_level = 8\n{BASE}"));
        assert!(e.contains("log_level"), "{e}");
    }

    #[test]
    fn metrics_listen() {
        assert_eq!(Config::parse(BASE).unwrap().metrics_listen, None, "off unless configured");
        let c = Config::parse(&format!("{BASE}[metrics]\nlisten = '127.0.0.1:9464'\n")).unwrap();
        assert_eq!(c.metrics_listen, Some("127.0.0.1:9464".parse().unwrap()));
        let e = err(&format!("{BASE}[metrics]\nlisten = '127.0.0.1'\n"));
        assert!(e.contains("listen") && e.contains("socket address"), "{e}");
        let e = err(&format!("{BASE}[metrics]\nport = 9464\n"));
        assert!(e.contains("port"), "{e}");
    }

    #[test]
    fn missing_interface_and_wrong_type() {
        assert!(err("").contains("interface"));
        let e = err("[[interface]]\nname=3\nvdev='x'\n");
        assert!(e.contains("name"), "{e}");
    }
}
