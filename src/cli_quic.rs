//! `show quic`: the QUIC transport's counters summed over the workers (text and `--json`).

use std::fmt::Write;

use serde::Serialize;
use session::quic::QuicCounter;

use crate::cli::CliResult;
use crate::runtime::Runtime;

/// `show quic`'s figures: every QUIC counter summed over the workers (zeros included), and the limits.
#[derive(Debug, Clone, Serialize)]
pub struct QuicStatsSnapshot {
    /// (counter name, value), in the order `show quic` prints them.
    pub counters: Vec<(&'static str, u64)>,
    /// Streams a peer may have open on one connection.
    pub max_streams: u32,
    /// Idle timeout of a connection (s).
    pub idle_timeout_s: u64,
}

/// Sums the workers' QUIC counters.
pub fn quic_stats_snapshot(rt: &Runtime) -> QuicStatsSnapshot {
    let counters =
        QuicCounter::ALL.iter().map(|&c| (c.name(), rt.workers.iter().map(|w| w.sessions.quic.get(c)).sum())).collect();
    QuicStatsSnapshot {
        counters,
        max_streams: session::quic::MAX_STREAMS,
        idle_timeout_s: session::quic::IDLE_TIMEOUT.as_secs(),
    }
}

/// `show quic`: handshakes, datagrams, streams, failures by reason, bytes.
pub fn show_quic(rt: &mut Runtime) -> CliResult {
    let q = quic_stats_snapshot(rt);
    let mut out = format!(
        "quic (all workers): limits {} streams per connection, idle timeout {} s\n",
        q.max_streams, q.idle_timeout_s
    );
    for (name, v) in &q.counters {
        let _ = writeln!(out, "{v:>12}  {}", name.strip_prefix("quic ").unwrap_or(name));
    }
    Ok(out)
}
