//! Logging: `tracing` events from every crate, written to stderr by one
//! subscriber that only the binary sets up (libraries depend on `tracing`
//! alone). `RUST_LOG` (e.g. `debug`, `session=debug,info`) wins over the
//! config's `[log] level`; without either, `info`. Nothing logs per packet:
//! counters are for that.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The level when neither `RUST_LOG` nor `[log] level` says one.
pub const DEFAULT_LEVEL: &str = "info";

/// Parses a filter (`info`, `warn`, `session=debug,info`); the error says what is wrong.
pub fn parse_filter(text: &str) -> Result<EnvFilter, String> {
    EnvFilter::builder()
        .parse(text)
        .map_err(|e| format!("{text:?} is not a log filter ({e}); e.g. info, debug, session=debug,warn"))
}

/// The filter in force: `RUST_LOG` if set and not empty, else `level`, else
/// [`DEFAULT_LEVEL`]; with `dpdk` (`[dpdk] log_level`'s tracing level) DPDK's
/// messages (target `dpdk`) pass at that level too, unless the filter names
/// `dpdk` itself.
pub fn filter(rust_log: Option<&str>, level: Option<&str>, dpdk: Option<&str>) -> Result<EnvFilter, String> {
    let (text, from_env) = match rust_log.filter(|s| !s.trim().is_empty()) {
        Some(env) => (env, true),
        None => (level.unwrap_or(DEFAULT_LEVEL), false),
    };
    let text = match dpdk {
        Some(d) if !text.contains("dpdk") => format!("{text},dpdk={d}"),
        _ => text.to_string(),
    };
    parse_filter(&text).map_err(|e| if from_env { format!("RUST_LOG: {e}") } else { e })
}

/// Installs the subscriber (stderr, no colours unless stderr is a terminal)
/// with [`filter`]'s filter. A second call leaves the first subscriber in place.
pub fn init(level: Option<&str>, dpdk: Option<&str>) -> Result<(), String> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = filter(rust_log.as_deref(), level, dpdk)?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
    Ok(())
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn rust_log_wins_over_the_config_level() {
        assert_eq!(filter(None, None, None).unwrap().to_string(), "info");
        assert_eq!(filter(None, Some("warn"), None).unwrap().to_string(), "warn");
        assert_eq!(filter(Some("debug"), Some("warn"), None).unwrap().to_string(), "debug");
        assert_eq!(filter(Some(""), Some("warn"), None).unwrap().to_string(), "warn", "empty RUST_LOG: unset");
        assert!(filter(Some("session=loud"), None, None).unwrap_err().starts_with("RUST_LOG: "));
        assert!(filter(None, Some("loud=1=2"), None).is_err());
    }

    #[test]
    fn dpdk_log_level_lets_dpdk_messages_through_unless_the_filter_names_dpdk() {
        let f = |env, level, dpdk| filter(env, level, dpdk).unwrap().to_string();
        assert_eq!(f(None, None, Some("debug")), "dpdk=debug,info");
        assert_eq!(f(None, Some("warn"), Some("info")), "dpdk=info,warn");
        assert_eq!(f(Some("error"), Some("warn"), Some("debug")), "dpdk=debug,error");
        assert_eq!(f(None, Some("dpdk=warn,debug"), Some("debug")), "dpdk=warn,debug");
    }
}
