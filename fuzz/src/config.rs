//! The config file (`dpnode::config`): any text either parses into a
//! validated config or is refused with an error naming the key; a config
//! that parses yields EAL arguments without panicking.

use dpnode::config::{Config, ConfigError};

/// Parses `data` as a config file.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Config::parse(text) {
        Ok(cfg) => {
            assert!(!cfg.cores.is_empty(), "a valid config has workers");
            let _ = dpnode::runtime::eal_args(&cfg);
            let _ = format!("{cfg:?}");
        }
        Err(ConfigError::Invalid { key, reason }) => {
            assert!(!key.is_empty() && !reason.is_empty(), "an error names the key and the reason");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}
