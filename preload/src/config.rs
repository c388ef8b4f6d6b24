//! The environment variables that steer the library, read once.

use std::sync::OnceLock;

use dpnode_client::AttachOptions;

/// How much the library writes to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Nothing but the one attach failure line.
    Off,
    /// Attach, worker add, fork.
    Info,
    /// Every intercepted call on a node socket (and each socket created).
    Debug,
}

/// The library's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DPNODE_API_SOCKET`: the node's API socket.
    pub api_socket: String,
    /// `DPNODE_APP_NAME`: the application name (default: program name + pid).
    pub app_name: Option<String>,
    /// Attach options (`DPNODE_NAMESPACE`, `DPNODE_SECRET`, `DPNODE_SCOPE`, `DPNODE_FIFO_SIZE`).
    pub attach: AttachOptions,
    /// `DPNODE_PRELOAD_LOG`.
    pub log: LogLevel,
    /// `DPNODE_FALLBACK=kernel`: when the node cannot be reached, use kernel sockets.
    pub fallback_kernel: bool,
    /// What was wrong with the variables (reported with the first socket call).
    pub problems: Vec<String>,
}

/// The node's default API socket.
pub const DEFAULT_API_SOCKET: &str = "/run/dpnode/api.sock";

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Parses `64k`, `1m`, `65536`.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mult) = match s.as_bytes().last()? {
        b'k' => (&s[..s.len() - 1], 1u64 << 10),
        b'm' => (&s[..s.len() - 1], 1 << 20),
        b'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (&s[..], 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

impl Config {
    /// Reads the environment.
    pub fn from_env() -> Config {
        let mut problems = Vec::new();
        let mut attach = AttachOptions::default();
        if let Some(ns) = var("DPNODE_NAMESPACE") {
            attach.namespace = ns;
        }
        if let Some(s) = var("DPNODE_SECRET") {
            match s.parse() {
                Ok(v) => attach.secret = v,
                Err(_) => problems.push(format!("DPNODE_SECRET={s:?} is not a number")),
            }
        }
        match var("DPNODE_SCOPE").as_deref() {
            None | Some("global") => attach.scope.global = true,
            Some("local") => attach.scope.local = true,
            Some("both") => {
                attach.scope.global = true;
                attach.scope.local = true;
            }
            Some(o) => {
                problems.push(format!("DPNODE_SCOPE={o:?} is not global, local or both"));
                attach.scope.global = true;
            }
        }
        if let Some(s) = var("DPNODE_FIFO_SIZE") {
            match parse_size(&s).filter(|v| v.is_power_of_two() && (4096..=(64 << 20)).contains(v)) {
                Some(v) => {
                    attach.rx_fifo_size = v as u32;
                    attach.tx_fifo_size = v as u32;
                }
                None => problems.push(format!("DPNODE_FIFO_SIZE={s:?} is not a power of two from 4k to 64m")),
            }
        }
        let log = match var("DPNODE_PRELOAD_LOG").as_deref() {
            None | Some("off") => LogLevel::Off,
            Some("info") => LogLevel::Info,
            Some("debug") => LogLevel::Debug,
            Some(o) => {
                problems.push(format!("DPNODE_PRELOAD_LOG={o:?} is not off, info or debug"));
                LogLevel::Off
            }
        };
        let fallback_kernel = match var("DPNODE_FALLBACK").as_deref() {
            None | Some("none") => false,
            Some("kernel") => true,
            Some(o) => {
                problems.push(format!("DPNODE_FALLBACK={o:?} is not kernel or none"));
                false
            }
        };
        Config {
            api_socket: var("DPNODE_API_SOCKET").unwrap_or_else(|| DEFAULT_API_SOCKET.to_string()),
            app_name: var("DPNODE_APP_NAME"),
            attach,
            log,
            fallback_kernel,
            problems,
        }
    }
}

static CONFIG: OnceLock<Config> = OnceLock::new();

/// The settings (read on first use).
pub fn get() -> &'static Config {
    CONFIG.get_or_init(Config::from_env)
}

/// The program's short name, for the default application name.
pub fn program_name() -> String {
    std::fs::read_to_string("/proc/self/comm").map(|s| s.trim().to_string()).unwrap_or_else(|_| "program".into())
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64k"), Some(65536));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size(""), None);
    }
}
