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
    /// Initialise the EAL with `args` (without the program name).
    pub fn init(args: &[String]) -> Result<Eal, EalError> {
        if EAL_STARTED.swap(true, Ordering::SeqCst) {
            return Err(EalError::AlreadyInitialised);
        }
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
