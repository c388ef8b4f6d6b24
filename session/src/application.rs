//! Applications and app workers.
//!
//! An application is whatever attached to the node: a builtin (Rust code in
//! the node, driven by callbacks) or an external process talking over the API
//! socket. Attaching fixes its options: the namespace it lives in, the scope
//! of its listeners (reachable from the network, from same-node apps, or
//! both), how big its shared-memory segments and fifos are, how deep its
//! event queue is, and whether it proxies whole transports. The work is done
//! by its app workers, one per app thread or process, each with its own
//! segment manager and event queue; an application always has at least one.
//! This is VPP's `application_t` with its `worker_maps` (`application.c`) and
//! `app_worker_t` (`application_worker.c`).
//!
//! This module holds the data; the operations that keep apps, workers,
//! listeners and tables consistent live in [`crate::control`]. The per-worker
//! resources are a type parameter `R` so that this layer does not depend on
//! the segment manager or message queue implementations.

use std::collections::HashMap;

use shm::limits;
use shm::types::{AttachOptions, Endpoint, Scope};

use crate::error::SessionError;
use crate::snapshot::AppWorkerResourcesSnapshot;

#[cfg(test)]
const MIB: u64 = 1 << 20;
#[cfg(test)]
const GIB: u64 = 1 << 30;

/// Longest application name or namespace id accepted, in bytes.
pub const NAME_MAX_LEN: usize = 64;

/// Checks an application name or namespace id: one word of at most [`NAME_MAX_LEN`] bytes.
///
/// Names are keys (AlreadyAttached, namespace lookup), columns in CLI tables
/// and words on CLI command lines, so they must be non-empty and contain no
/// whitespace or control characters.
pub fn check_name(key: &'static str, name: &str) -> Result<(), SessionError> {
    let reason = if name.is_empty() {
        "must not be empty"
    } else if name.len() > NAME_MAX_LEN {
        "is longer than 64 bytes"
    } else if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        "must not contain whitespace or control characters"
    } else {
        return Ok(());
    };
    Err(SessionError::invalid(key, format!("{name:?} {reason}")))
}

/// Checks every attach option on its own and the combinations we support.
///
/// Invalid values are reported as `InvalidValue` naming the option. Two
/// combinations are `UnsupportedConfig`:
/// - proxying without global scope: a proxy catches traffic arriving on
///   the namespace's FIB, which only the global table sees; a local-only
///   proxy would need session rules, which we don't have;
/// - a builtin app with an eventfd: builtins are called back inside the
///   node, there is no process to wake.
///
/// The namespace id and secret are checked against the namespace table
/// at attach time, not here.
pub fn validate_attach(o: &AttachOptions) -> Result<(), SessionError> {
    check(limits::SEGMENT_SIZE.check(o.segment_size))?;
    if o.add_segment_size != 0 {
        check(limits::ADD_SEGMENT_SIZE.check(o.add_segment_size))?;
    }
    check_fifo(o, "rx_fifo_size", o.rx_fifo_size)?;
    check_fifo(o, "tx_fifo_size", o.tx_fifo_size)?;
    check(limits::PREALLOC_FIFOS.check_as("prealloc_fifo_pairs", o.prealloc_fifo_pairs.into()))?;
    let pair = u64::from(o.rx_fifo_size) + u64::from(o.tx_fifo_size);
    if u64::from(o.prealloc_fifo_pairs) * pair > o.segment_size {
        return Err(SessionError::invalid(
            "prealloc_fifo_pairs",
            format!("{} pairs of {pair} bytes do not fit in a {}-byte segment", o.prealloc_fifo_pairs, o.segment_size),
        ));
    }
    check(limits::EVENT_QUEUE_SIZE.check(o.event_queue_size.into()))?;
    check(limits::TLS_ENGINE.check(o.tls_engine.into()))?;
    if o.proxy.any() && !o.scope().global {
        return Err(SessionError::UnsupportedConfig("a proxy app needs global scope".into()));
    }
    if o.builtin && o.use_eventfd {
        return Err(SessionError::UnsupportedConfig("a builtin app has no process to wake with an eventfd".into()));
    }
    Ok(())
}

fn check_fifo(o: &AttachOptions, key: &'static str, size: u32) -> Result<(), SessionError> {
    let size = check(limits::FIFO_SIZE.check_as(key, size.into()))?;
    if size > o.segment_size {
        return Err(SessionError::invalid(key, format!("{size} is larger than segment_size {}", o.segment_size)));
    }
    Ok(())
}

/// A value refused by [`shm::limits`], as the session layer reports it.
fn check(r: Result<u64, limits::OptionError>) -> Result<u64, SessionError> {
    r.map_err(|e| SessionError::invalid(e.key, e.reason))
}

/// An attached application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    /// Index in the application pool.
    pub index: u32,
    /// Unique name.
    pub name: String,
    /// Namespace it attached in.
    pub ns_index: u32,
    /// Options given at attach.
    pub opts: AttachOptions,
    /// Scope of its listeners.
    pub scope: Scope,
    /// Its listeners, by endpoint (value: listener index).
    pub listeners: HashMap<Endpoint, u32>,
    worker_maps: Vec<Option<u32>>,
}

impl Application {
    /// An application with no workers and no listeners.
    pub fn new(index: u32, name: String, ns_index: u32, opts: AttachOptions) -> Self {
        Self { index, name, ns_index, scope: opts.scope(), opts, listeners: HashMap::new(), worker_maps: Vec::new() }
    }

    /// The map index the next worker will get: the lowest free one.
    pub fn next_worker_map(&self) -> u32 {
        let slot = self.worker_maps.iter().position(Option::is_none);
        map_index(slot.unwrap_or(self.worker_maps.len()))
    }

    /// Maps app worker `wrk_index` at [`Self::next_worker_map`]; returns that map index.
    pub fn add_worker_map(&mut self, wrk_index: u32) -> u32 {
        let map = self.next_worker_map();
        match self.worker_maps.get_mut(map as usize) {
            Some(slot) => *slot = Some(wrk_index),
            None => self.worker_maps.push(Some(wrk_index)),
        }
        map
    }

    /// Unmaps a map index; returns the app worker it named.
    pub fn del_worker_map(&mut self, map: u32) -> Option<u32> {
        let wrk = self.worker_maps.get_mut(map as usize)?.take();
        while self.worker_maps.last() == Some(&None) {
            self.worker_maps.pop();
        }
        wrk
    }

    /// The app worker at a map index.
    pub fn worker(&self, map: u32) -> Option<u32> {
        self.worker_maps.get(map as usize).copied().flatten()
    }

    /// Its workers as (map index, app worker index), by map index.
    pub fn workers(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.worker_maps.iter().enumerate().filter_map(|(map, wrk)| wrk.map(|w| (map_index(map), w)))
    }

    /// Number of workers.
    pub fn worker_count(&self) -> usize {
        self.worker_maps.iter().flatten().count()
    }

    /// Whether it proxies any transport.
    pub fn is_proxy(&self) -> bool {
        self.opts.proxy.iter().next().is_some()
    }
}

/// Map slots are created one per worker, and worker indices are u32.
fn map_index(slot: usize) -> u32 {
    u32::try_from(slot).unwrap_or(u32::MAX)
}

/// One worker of an application, with the resources the node gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppWorker<R> {
    /// Index in the app worker pool.
    pub index: u32,
    /// Application it belongs to.
    pub app_index: u32,
    /// Its index within the application (0 for the first worker).
    pub wrk_map_index: u32,
    /// Segment manager, event queue and the like, as the integrator defines them.
    pub resources: R,
}

/// Extra per-worker detail for `show app <index> verbose` (segments, fifos, sessions).
pub trait AppWorkerDetail {
    /// What the worker's resources hold; `None` when there is nothing to say.
    fn detail(&self) -> Option<AppWorkerResourcesSnapshot>;
}

impl AppWorkerDetail for () {
    fn detail(&self) -> Option<AppWorkerResourcesSnapshot> {
        None
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use shm::types::{Proto, ProxySet};

    fn invalid_key(opts: &AttachOptions) -> &'static str {
        match validate_attach(opts) {
            Err(SessionError::InvalidValue { key, .. }) => key,
            other => panic!("expected InvalidValue, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_valid() {
        let o = AttachOptions::default();
        assert_eq!(validate_attach(&o), Ok(()));
        assert_eq!(o.scope(), Scope::GLOBAL);
        assert_eq!(o.proxy.iter().count(), 0);
    }

    #[test]
    fn scope_none_given_is_global() {
        assert_eq!(Scope::from_flags(false, false), Scope::GLOBAL);
        assert_eq!(Scope::from_flags(false, true), Scope::LOCAL);
        assert_eq!(Scope::from_flags(true, true), Scope::BOTH);
        assert_eq!(Scope::BOTH.to_string(), "global,local");
        assert_eq!(Scope::LOCAL.to_string(), "local");
    }

    #[test]
    fn invalid_values_name_the_key() {
        type Edit = fn(&mut AttachOptions);
        let cases: [(&str, Edit); 13] = [
            ("segment_size", |o| o.segment_size = MIB - 1),
            ("segment_size", |o| o.segment_size = 4 * GIB + 1),
            ("add_segment_size", |o| o.add_segment_size = 4096),
            ("rx_fifo_size", |o| o.rx_fifo_size = 2048),
            ("rx_fifo_size", |o| o.rx_fifo_size = 65 * 1024),
            ("tx_fifo_size", |o| o.tx_fifo_size = 128 << 20),
            ("tx_fifo_size", |o| {
                o.segment_size = MIB;
                o.tx_fifo_size = 2 << 20;
            }),
            ("prealloc_fifo_pairs", |o| o.prealloc_fifo_pairs = 257),
            ("prealloc_fifo_pairs", |o| o.prealloc_fifo_pairs = u32::MAX),
            ("event_queue_size", |o| o.event_queue_size = 63),
            ("event_queue_size", |o| o.event_queue_size = (1 << 20) + 1),
            ("tls_engine", |o| o.tls_engine = 4),
            ("segment_size", |o| o.segment_size = 0),
        ];
        for (key, edit) in cases {
            let mut o = AttachOptions::default();
            edit(&mut o);
            assert_eq!(invalid_key(&o), key, "{o:?}");
        }
        let max = AttachOptions {
            prealloc_fifo_pairs: 256,
            add_segment_size: 4 * GIB,
            event_queue_size: 1 << 20,
            tls_engine: 3,
            ..AttachOptions::default()
        };
        assert_eq!(validate_attach(&max), Ok(()));
    }

    #[test]
    fn unsupported_combinations() {
        let local_proxy = AttachOptions { scope: Scope::LOCAL, proxy: ProxySet::TCP, ..AttachOptions::default() };
        assert!(matches!(validate_attach(&local_proxy), Err(SessionError::UnsupportedConfig(_))));
        let builtin_eventfd = AttachOptions { use_eventfd: true, ..AttachOptions::builtin() };
        assert!(matches!(validate_attach(&builtin_eventfd), Err(SessionError::UnsupportedConfig(_))));
        // No scope flag means global, so a plain proxy is fine.
        let proxy = AttachOptions { proxy: ProxySet::UDP, ..AttachOptions::default() };
        assert_eq!(validate_attach(&proxy), Ok(()));
        assert_eq!(proxy.proxy.iter().collect::<Vec<_>>(), [Proto::Udp]);
    }

    #[test]
    fn names_are_one_word() {
        assert_eq!(check_name("name", "echo-server"), Ok(()));
        for bad in ["", "echo server", "bell\u{7}", &"x".repeat(NAME_MAX_LEN + 1)] {
            assert!(matches!(check_name("name", bad), Err(SessionError::InvalidValue { key: "name", .. })));
        }
    }

    #[test]
    fn worker_maps_reuse_lowest_slot() {
        let mut app = Application::new(0, "a".into(), 0, AttachOptions::default());
        assert_eq!(app.add_worker_map(10), 0);
        assert_eq!(app.add_worker_map(11), 1);
        assert_eq!(app.add_worker_map(12), 2);
        assert_eq!(app.del_worker_map(1), Some(11));
        assert_eq!(app.del_worker_map(1), None);
        assert_eq!(app.worker(1), None);
        assert_eq!(app.add_worker_map(13), 1);
        assert_eq!(app.workers().collect::<Vec<_>>(), [(0, 10), (1, 13), (2, 12)]);
        assert_eq!(app.del_worker_map(2), Some(12));
        assert_eq!(app.del_worker_map(9), None);
        assert_eq!(app.worker_count(), 2);
    }
}
