//! The DPDK Environment Abstraction Layer: start-up, thread registration and
//! clean-up.
//!
//! The EAL can be initialised once per process; [`Eal::init`] enforces that
//! and [`Eal`]'s `Drop` calls `rte_eal_cleanup`. Worker threads are plain Rust
//! threads pinned by `core_affinity`; [`register_thread`] gives each one an
//! EAL lcore id so that mempool per-lcore caches work for it.

use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicBool, Ordering};

use dpdk_sys as sys;

static EAL_STARTED: AtomicBool = AtomicBool::new(false);

/// Errors from the EAL.
#[derive(Debug, thiserror::Error)]
pub enum EalError {
    /// `rte_eal_init` failed.
    #[error("EAL initialisation failed: {0} (args: {1})")]
    Init(String, String),
    /// The EAL was already initialised in this process.
    #[error("the EAL is already initialised in this process")]
    AlreadyInitialised,
    /// An argument contained a NUL byte.
    #[error("EAL argument {0:?} contains a NUL byte")]
    BadArgument(String),
    /// `rte_thread_register` failed.
    #[error("cannot register thread with the EAL: {0}")]
    Register(String),
}

/// Text for a DPDK error number (as `rte_strerror` gives it).
pub fn strerror(errnum: i32) -> String {
    // SAFETY: rte_strerror returns a pointer to a static or thread-local
    // NUL-terminated string, valid until the next call on this thread; we
    // copy it out at once.
    unsafe { CStr::from_ptr(sys::rte_strerror(errnum.abs())) }.to_string_lossy().into_owned()
}

/// The current `rte_errno` as text.
pub fn last_error() -> String {
    // SAFETY: dpn_errno reads the thread-local rte_errno; no preconditions.
    strerror(unsafe { sys::dpn_errno() })
}

/// A running EAL; dropping it cleans the EAL up.
pub struct Eal {
    _argv: Vec<CString>,
}

impl Eal {
    /// Initialise the EAL with `args` (without the program name); DPDK's
    /// log messages go through `tracing` from here on ([`route_logs`]).
    pub fn init(args: &[String]) -> Result<Eal, EalError> {
        if EAL_STARTED.swap(true, Ordering::SeqCst) {
            return Err(EalError::AlreadyInitialised);
        }
        route_logs();
        let mut owned = Vec::with_capacity(args.len() + 1);
        owned.push(CString::new("dpnode").expect("static"));
        for a in args {
            owned.push(CString::new(a.as_str()).map_err(|_| EalError::BadArgument(a.clone()))?);
        }
        // rte_eal_init may permute argv; give it a scratch array of pointers
        // into strings that we keep alive for the life of the EAL.
        let mut argv: Vec<*mut libc::c_char> = owned.iter().map(|s| s.as_ptr() as *mut libc::c_char).collect();
        // SAFETY: argv holds argc valid NUL-terminated strings that outlive
        // the EAL (kept in `_argv`); the EAL is initialised once per process
        // (guarded by EAL_STARTED).
        let rc = unsafe { sys::rte_eal_init(argv.len() as i32, argv.as_mut_ptr()) };
        if rc < 0 {
            EAL_STARTED.store(false, Ordering::SeqCst);
            return Err(EalError::Init(last_error(), args.join(" ")));
        }
        Ok(Eal { _argv: owned })
    }

    /// Whether the EAL runs on hugepages (false with `--no-huge`).
    pub fn has_hugepages(&self) -> bool {
        // SAFETY: the EAL is initialised while `self` exists.
        unsafe { sys::rte_eal_has_hugepages() != 0 }
    }

    /// The TSC's frequency, as the EAL calibrated it at start-up (cycles per second).
    pub fn tsc_hz(&self) -> u64 {
        // SAFETY: the EAL is initialised while `self` exists; this reads a value set by rte_eal_init.
        unsafe { sys::rte_get_tsc_hz() }
    }

    /// Number of ethdev ports the EAL probed.
    pub fn port_count(&self) -> u16 {
        // SAFETY: the EAL is initialised while `self` exists.
        unsafe { sys::rte_eth_dev_count_avail() }
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: all ports and pools are owned by objects that borrow
        // nothing from the EAL and are dropped by the caller first (the node
        // drops workers, ports and pools before the Eal).
        unsafe {
            sys::rte_eal_cleanup();
        }
    }
}

/// Register the calling (non-EAL) thread with the EAL and return its lcore
/// id, so mempool caches and `rte_lcore_id()` work on it.
pub fn register_thread() -> Result<u32, EalError> {
    // SAFETY: may be called from any thread after rte_eal_init.
    let rc = unsafe { sys::rte_thread_register() };
    if rc < 0 {
        return Err(EalError::Register(last_error()));
    }
    // SAFETY: reads this thread's per-lcore variable.
    Ok(unsafe { sys::dpn_lcore_id() })
}

/// Undo [`register_thread`] before the thread exits.
pub fn unregister_thread() {
    // SAFETY: harmless on a thread that is not registered.
    unsafe { sys::rte_thread_unregister() }
}

/// DPDK messages every new user sees on a healthy start, and what they mean:
/// each goes to `debug`, and its explanation to `info` once per process.
const HARMLESS_LOGS: &[(&[&str], &str)] = &[
    (
        &["qdisc", "Disabling rte flow support"],
        "net_tap: this kernel has no multiq qdisc, so the tap PMD runs without rte_flow; dpnode uses neither (harmless)",
    ),
    (
        &["to secondary", "mp action", "multi-process", "Multi-process"],
        "no DPDK secondary processes to talk to: dpnode is the only (primary) process (harmless)",
    ),
    (&["1048576 kB hugepages"], "no 1 GiB hugepages are reserved; the 2 MiB ones are used (harmless)"),
];

static HARMLESS_SEEN: [AtomicBool; 3] = [AtomicBool::new(false), AtomicBool::new(false), AtomicBool::new(false)];

/// One DPDK message, with its `RTE_LOG_*` level, as a `tracing` event (target `dpdk`).
pub fn log_dpdk_message(level: u32, text: &str) {
    for line in text.lines().map(str::trim_end).filter(|l| !l.trim().is_empty()) {
        if let Some(k) = HARMLESS_LOGS.iter().position(|(pats, _)| pats.iter().any(|p| line.contains(p))) {
            tracing::debug!(target: "dpdk", "dpdk: {line}");
            if !HARMLESS_SEEN[k].swap(true, Ordering::Relaxed) {
                tracing::info!(target: "dpdk", "dpdk: {}", HARMLESS_LOGS[k].1);
            }
            continue;
        }
        // RTE_LOG_EMERG..ERR are 1..=4, WARNING 5, NOTICE 6, INFO 7, DEBUG 8.
        match level {
            0..=4 => tracing::error!(target: "dpdk", "dpdk: {line}"),
            5 => tracing::warn!(target: "dpdk", "dpdk: {line}"),
            6 | 7 => tracing::info!(target: "dpdk", "dpdk: {line}"),
            _ => tracing::debug!(target: "dpdk", "dpdk: {line}"),
        }
    }
}

extern "C" fn dpdk_log(level: u32, msg: *const libc::c_char, len: usize) {
    if msg.is_null() {
        return;
    }
    // SAFETY: the shim's stream hands us `len` bytes at `msg`, valid for this call.
    let bytes = unsafe { std::slice::from_raw_parts(msg.cast::<u8>(), len) };
    // Never unwind into C.
    let _ = std::panic::catch_unwind(|| log_dpdk_message(level, &String::from_utf8_lossy(bytes)));
}

/// Sends DPDK's log messages through `tracing` (target `dpdk`, so `[log]
/// level` and `RUST_LOG` filter them) instead of stderr; the usual harmless
/// start-up messages are explained once ([`HARMLESS_LOGS`]). Idempotent.
pub fn route_logs() {
    static ROUTED: AtomicBool = AtomicBool::new(false);
    if ROUTED.swap(true, Ordering::SeqCst) {
        return;
    }
    // SAFETY: dpn_log_redirect opens a cookie stream whose writes call
    // `dpdk_log`, a function that lives for the whole process; DPDK allows
    // rte_openlog_stream before rte_eal_init.
    if unsafe { sys::dpn_log_redirect(Some(dpdk_log)) } != 0 {
        tracing::warn!("dpnode: cannot route DPDK's log through the node's logger; it goes to stderr");
    }
}

/// The time-stamp counter now (cycles; [`Eal::tsc_hz`] per second): what the
/// poll loop reads once per stage per burst for `show runtime`. One
/// instruction, no serialisation: good enough for sums over many bursts.
#[inline(always)]
pub fn rdtsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: rdtsc has no preconditions; every x86_64 CPU has it and Linux lets user space read it.
        #[allow(unused_unsafe)]
        unsafe {
            core::arch::x86_64::_rdtsc()
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        net::control::worker::now_ns()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn harmless_messages_are_known_and_explained() {
        // Each kind matches the message DPDK 22.11 prints on a healthy start.
        for (line, kind) in [
            ("qdisc_create_multiq(): Could not add multiq qdisc (2): No such file or directory", 0),
            ("eth_dev_tap_create():  Disabling rte flow support: No such file or directory(2)", 0),
            ("tap_mp_req_on_rxtx(): Failed to send start req to secondary 95", 1),
            ("EAL: No free 1048576 kB hugepages reported on node 0", 2),
        ] {
            let k = HARMLESS_LOGS.iter().position(|(p, _)| p.iter().any(|p| line.contains(p)));
            assert_eq!(k, Some(kind), "{line}");
        }
        assert!(!HARMLESS_LOGS.iter().any(|(p, _)| p.iter().any(|p| "EAL: Cannot open /dev/vfio".contains(p))));
        assert_eq!(HARMLESS_SEEN.len(), HARMLESS_LOGS.len());
        log_dpdk_message(4, "an error\n\nsecond line\n");
    }
}
