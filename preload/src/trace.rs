//! Lines on stderr: the one attach failure line, and the `DPNODE_PRELOAD_LOG` trace.
//!
//! Written with libc's `write` on descriptor 2 in one call per line, so lines
//! of several threads do not interleave and nothing here takes a lock.

use crate::config::{self, LogLevel};
use crate::real;

/// Whether lines of `level` are wanted.
pub fn enabled(level: LogLevel) -> bool {
    level != LogLevel::Off && config::get().log >= level
}

/// Writes one line (`dpnode preload[PID]: TEXT`).
pub fn line(text: &str) {
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    let s = format!("dpnode preload[{pid}]: {text}\n");
    // SAFETY: a live buffer of s.len() bytes.
    unsafe { real::write(2, s.as_ptr().cast(), s.len()) };
}

/// Logs at `debug`: `trace!("read({fd}) = {n}")`.
#[macro_export]
macro_rules! debug {
    ($($t:tt)*) => {
        if $crate::trace::enabled($crate::config::LogLevel::Debug) {
            $crate::trace::line(&format!($($t)*));
        }
    };
}

/// Logs at `info`.
#[macro_export]
macro_rules! info {
    ($($t:tt)*) => {
        if $crate::trace::enabled($crate::config::LogLevel::Info) {
            $crate::trace::line(&format!($($t)*));
        }
    };
}
