//! The C API (`include/dpnode_client.h`): the Rust API behind opaque
//! pointers, with negative return codes.
//!
//! Codes: 0 or a count on success; on failure a node error code
//! (`-100..=-199`, [`crate::NodeError`]) or a negated errno (`-EAGAIN`:
//! would block, `-EPIPE`: closed, `-EINVAL`, `-EIO`, `-EPROTO`).
//! [`dpn_strerror`] names them. Every function checks its pointers for
//! NULL and never unwinds into C (a panic becomes `-EIO`).

use std::ffi::{c_char, c_int, c_void, CStr};
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::time::Duration;

use shm::types::ErrorCode;

use crate::{
    App, AttachOptions, Cc, Endpoint, Error, Event, ListenerId, SessionId, TransportOptions, Worker, EAGAIN, EINVAL,
    EIO, EPIPE, EPROTO,
};

/// An attached application (opaque to C).
pub struct DpnApp(App);

/// An app worker and its event buffer (opaque to C).
pub struct DpnWorker {
    w: Worker,
    events: Vec<Event>,
}

/// [`AttachOptions`] as C fills them (`dpn_attach_opts_t`); [`DpnAttachOpts::options`] is the one conversion.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DpnAttachOpts {
    /// `namespace` as a C string (NULL or empty: the default namespace).
    pub namespace_id: *const c_char,
    /// `secret`.
    pub secret: u64,
    /// `segment_size`.
    pub segment_size: u64,
    /// `add_segment_size`.
    pub add_segment_size: u64,
    /// `prealloc_fifo_pairs`.
    pub prealloc_fifo_pairs: u32,
    /// `rx_fifo_size`.
    pub rx_fifo_size: u32,
    /// `tx_fifo_size`.
    pub tx_fifo_size: u32,
    /// `event_queue_size`.
    pub event_queue_size: u32,
    /// `scope`, `use_eventfd` and `proxy` as `DPN_ATTACH_*` flags (the protocol's attach flags).
    pub flags: u32,
    /// `tls_engine`.
    pub tls_engine: u8,
}

/// Connect options (`dpn_connect_opts_t`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct DpnConnectOpts {
    /// MSS cap (0: none).
    pub mss: u16,
    /// Congestion control: 0 default, 1 NewReno, 2 CUBIC.
    pub cc: u8,
    /// Bit 0: no delay; bit 1: keepalive.
    pub flags: u8,
}

/// An event (`dpn_event_t`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct DpnEvent {
    /// `DPN_EV_*`.
    pub kind: u32,
    /// For `DPN_EV_CONNECTED`: 0 or the error code.
    pub result: i32,
    /// The session (or listener for `DPN_EV_ACCEPT`).
    pub handle: u64,
    /// For `DPN_EV_CONNECTED`: the value given to `dpn_connect_async`.
    pub opaque: u64,
}

/// An endpoint of either family (`dpn_addr_t`): the wire formats' family
/// byte and 16-byte address, so IPv4 and IPv6 look alike to C.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DpnAddr {
    /// `DPN_AF_INET` (4) or `DPN_AF_INET6` (6).
    pub family: u8,
    /// Zero.
    pub reserved: u8,
    /// Port, host order.
    pub port: u16,
    /// Address in network order; IPv4 in the first 4 bytes, the rest zero.
    pub ip: [u8; 16],
}

impl From<SocketAddr> for DpnAddr {
    fn from(a: SocketAddr) -> Self {
        let (family, ip) = shm::wire::encode_addr(a.ip());
        DpnAddr { family, reserved: 0, port: a.port(), ip }
    }
}

/// `DPN_AF_INET`: an IPv4 [`DpnAddr`].
pub const DPN_AF_INET: u8 = shm::wire::family::IP4;
/// `DPN_AF_INET6`: an IPv6 [`DpnAddr`].
pub const DPN_AF_INET6: u8 = shm::wire::family::IP6;

/// `DPN_EV_ACCEPT`.
pub const DPN_EV_ACCEPT: u32 = 1;
/// `DPN_EV_CONNECTED`.
pub const DPN_EV_CONNECTED: u32 = 2;
/// `DPN_EV_READABLE`.
pub const DPN_EV_READABLE: u32 = 3;
/// `DPN_EV_WRITABLE`.
pub const DPN_EV_WRITABLE: u32 = 4;
/// `DPN_EV_PEER_CLOSED`.
pub const DPN_EV_PEER_CLOSED: u32 = 5;
/// `DPN_EV_RESET`.
pub const DPN_EV_RESET: u32 = 6;

/// Runs `f`, turning errors and panics into codes.
fn guard(f: impl FnOnce() -> Result<c_int, Error>) -> c_int {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => e.code(),
        Err(_) => EIO,
    }
}

fn guard64(f: impl FnOnce() -> Result<i64, Error>) -> i64 {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => i64::from(e.code()),
        Err(_) => i64::from(EIO),
    }
}

/// A C string argument.
///
/// # Safety
///
/// `p` must be NULL or a NUL-terminated string valid for the call.
unsafe fn text<'a>(p: *const c_char, what: &str) -> Result<&'a str, Error> {
    if p.is_null() {
        return Err(Error::Invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-null and NUL-terminated by the caller's contract.
    unsafe { CStr::from_ptr(p) }.to_str().map_err(|_| Error::Invalid(format!("{what} is not UTF-8")))
}

/// # Safety
///
/// `p` must be NULL or a worker from this library that is not in use elsewhere.
unsafe fn worker<'a>(p: *mut DpnWorker) -> Result<&'a mut DpnWorker, Error> {
    // SAFETY: the caller's contract.
    unsafe { p.as_mut() }.ok_or_else(|| Error::Invalid("worker is NULL".into()))
}

fn uri(s: &str) -> Result<Endpoint, Error> {
    Endpoint::parse_uri(s).ok_or_else(|| Error::Invalid(format!("{s:?} is not PROTO://ADDR/PORT")))
}

/// # Safety
///
/// `o` must be NULL or point to a valid `dpn_connect_opts_t`.
unsafe fn connect_opts(o: *const DpnConnectOpts) -> TransportOptions {
    // SAFETY: the caller's contract.
    let o = unsafe { o.as_ref() }.copied().unwrap_or_default();
    TransportOptions {
        mss: (o.mss != 0).then_some(o.mss),
        // 0, and any number the header does not define: the transport's default.
        cc: Cc::from_u8(o.cc).unwrap_or_default(),
        no_delay: o.flags & 1 != 0,
        keepalive: o.flags & 2 != 0,
    }
}

impl DpnAttachOpts {
    /// The one Rust attach options type these C options stand for.
    ///
    /// # Safety
    ///
    /// `namespace_id` must be NULL or a NUL-terminated string.
    unsafe fn options(&self) -> Result<AttachOptions, Error> {
        let mut o = AttachOptions {
            namespace: if self.namespace_id.is_null() {
                String::new()
            } else {
                // SAFETY: the caller's contract.
                unsafe { text(self.namespace_id, "namespace_id")? }.to_string()
            },
            secret: self.secret,
            segment_size: self.segment_size,
            add_segment_size: self.add_segment_size,
            prealloc_fifo_pairs: self.prealloc_fifo_pairs,
            rx_fifo_size: self.rx_fifo_size,
            tx_fifo_size: self.tx_fifo_size,
            event_queue_size: self.event_queue_size,
            tls_engine: self.tls_engine,
            ..AttachOptions::default()
        };
        o.set_flags(self.flags);
        Ok(o)
    }
}

/// Fills `o` with the defaults (those of [`AttachOptions::default`]).
///
/// # Safety
///
/// `o` must be NULL or point to writable memory for a `dpn_attach_opts_t`.
#[no_mangle]
pub unsafe extern "C" fn dpn_attach_opts_init(o: *mut DpnAttachOpts) {
    let d = AttachOptions::default();
    let v = DpnAttachOpts {
        namespace_id: ptr::null(),
        secret: 0,
        segment_size: d.segment_size,
        add_segment_size: d.add_segment_size,
        prealloc_fifo_pairs: d.prealloc_fifo_pairs,
        rx_fifo_size: d.rx_fifo_size,
        tx_fifo_size: d.tx_fifo_size,
        event_queue_size: d.event_queue_size,
        flags: d.flags(),
        tls_engine: d.tls_engine,
    };
    // SAFETY: the caller's contract; NULL is ignored.
    if let Some(o) = unsafe { o.as_mut() } {
        *o = v;
    }
}

/// Attaches application `name` through the API socket at `socket`; on success
/// stores the application and its first worker. `opts` may be NULL (defaults).
///
/// # Safety
///
/// Strings must be NUL-terminated; `opts` NULL or valid; `app` and `wrk` valid for writes.
#[no_mangle]
pub unsafe extern "C" fn dpn_attach(
    socket: *const c_char,
    name: *const c_char,
    opts: *const DpnAttachOpts,
    app: *mut *mut DpnApp,
    wrk: *mut *mut DpnWorker,
) -> c_int {
    guard(|| {
        if app.is_null() || wrk.is_null() {
            return Err(Error::Invalid("output pointer is NULL".into()));
        }
        // SAFETY: the caller's contract.
        let (socket, name) = unsafe { (text(socket, "socket")?, text(name, "name")?) };
        // SAFETY: the caller's contract.
        let o = match unsafe { opts.as_ref() } {
            // SAFETY: the caller's contract (its namespace string).
            Some(c) => unsafe { c.options() }?,
            None => AttachOptions::default(),
        };
        let (a, w) = App::attach(socket, name, &o)?;
        // SAFETY: checked non-null above; the caller owns the results.
        unsafe {
            *app = Box::into_raw(Box::new(DpnApp(a)));
            *wrk = Box::into_raw(Box::new(DpnWorker { w, events: Vec::new() }));
        }
        Ok(0)
    })
}

/// Joins application `app_handle` (attached by another process, e.g. a forking parent)
/// with its share token, on a connection of its own: a new application object for this
/// process and its first worker, as [`App::join`]. The application stays while any
/// connection holds a worker of it.
///
/// # Safety
///
/// Strings must be NUL-terminated; `app` and `wrk` valid for writes.
#[no_mangle]
pub unsafe extern "C" fn dpn_join(
    socket: *const c_char,
    name: *const c_char,
    app_handle: u64,
    token: u64,
    timeout_ms: c_int,
    app: *mut *mut DpnApp,
    wrk: *mut *mut DpnWorker,
) -> c_int {
    guard(|| {
        if app.is_null() || wrk.is_null() {
            return Err(Error::Invalid("output pointer is NULL".into()));
        }
        // SAFETY: the caller's contract.
        let (socket, name) = unsafe { (text(socket, "socket")?, text(name, "name")?) };
        let timeout = Duration::from_millis(timeout_ms.max(0) as u64);
        let (a, w) = App::join(socket, name, app_handle, token, timeout)?;
        // SAFETY: checked non-null above; the caller owns the results.
        unsafe {
            *app = Box::into_raw(Box::new(DpnApp(a)));
            *wrk = Box::into_raw(Box::new(DpnWorker { w, events: Vec::new() }));
        }
        Ok(0)
    })
}

/// Stores the application's handle (what [`dpn_join`] names it by).
///
/// # Safety
///
/// `app` from `dpn_attach` or `dpn_join`; `handle` valid for writes.
#[no_mangle]
pub unsafe extern "C" fn dpn_app_handle(app: *const DpnApp, handle: *mut u64) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let a = unsafe { app.as_ref() }.ok_or_else(|| Error::Invalid("app is NULL".into()))?;
        // SAFETY: the caller's contract; NULL is refused.
        unsafe { handle.as_mut() }.map(|p| *p = a.0.handle()).ok_or_else(|| Error::Invalid("handle is NULL".into()))?;
        Ok(0)
    })
}

/// Asks the node for the application's share token ([`App::share_token`]) and stores it.
///
/// # Safety
///
/// `app` from `dpn_attach` or `dpn_join`; `token` valid for writes.
#[no_mangle]
pub unsafe extern "C" fn dpn_share_token(app: *mut DpnApp, token: *mut u64) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let a = unsafe { app.as_ref() }.ok_or_else(|| Error::Invalid("app is NULL".into()))?;
        if token.is_null() {
            return Err(Error::Invalid("token is NULL".into()));
        }
        let t = a.0.share_token()?;
        // SAFETY: checked non-null.
        unsafe { *token = t };
        Ok(0)
    })
}

/// Makes app worker `worker_handle` (any of the application's, see [`dpn_worker_handle`])
/// passive on `listener` (nonzero `passive`) or active again for good (zero), as
/// [`App::listener_passive`].
///
/// # Safety
///
/// `app` from `dpn_attach` or `dpn_join`.
#[no_mangle]
pub unsafe extern "C" fn dpn_listener_passive(
    app: *mut DpnApp,
    listener: u64,
    worker_handle: u64,
    passive: c_int,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let a = unsafe { app.as_ref() }.ok_or_else(|| Error::Invalid("app is NULL".into()))?;
        a.0.listener_passive(ListenerId(listener), worker_handle, passive != 0).map(|_| 0)
    })
}

/// Stores the worker's handle at the node (what [`dpn_listener_passive`] names it by).
///
/// # Safety
///
/// `w` a worker; `handle` valid for writes.
#[no_mangle]
pub unsafe extern "C" fn dpn_worker_handle(w: *mut DpnWorker, handle: *mut u64) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let w = unsafe { worker(w)? };
        // SAFETY: the caller's contract; NULL is refused.
        unsafe { handle.as_mut() }.map(|p| *p = w.w.handle()).ok_or_else(|| Error::Invalid("handle is NULL".into()))?;
        Ok(0)
    })
}

/// Adds a worker to `app` (for another thread).
///
/// # Safety
///
/// `app` must be an application from `dpn_attach`; `wrk` valid for writes.
#[no_mangle]
pub unsafe extern "C" fn dpn_worker_add(app: *mut DpnApp, wrk: *mut *mut DpnWorker) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let a = unsafe { app.as_ref() }.ok_or_else(|| Error::Invalid("app is NULL".into()))?;
        if wrk.is_null() {
            return Err(Error::Invalid("output pointer is NULL".into()));
        }
        let w = a.0.worker_add()?;
        // SAFETY: checked non-null.
        unsafe { *wrk = Box::into_raw(Box::new(DpnWorker { w, events: Vec::new() })) };
        Ok(0)
    })
}

/// Deletes worker `wrk` of `app` at the node and frees it (even if the node refused).
///
/// # Safety
///
/// `app` from `dpn_attach`; `wrk` from this app, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn dpn_worker_del(app: *mut DpnApp, wrk: *mut DpnWorker) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let a = unsafe { app.as_ref() }.ok_or_else(|| Error::Invalid("app is NULL".into()))?;
        if wrk.is_null() {
            return Err(Error::Invalid("worker is NULL".into()));
        }
        // SAFETY: from Box::into_raw in this library; the caller gives it up.
        let w = unsafe { Box::from_raw(wrk) };
        a.0.worker_del(w.w).map(|_| 0)
    })
}

/// Frees a worker without telling the node (its sessions stay until detach).
///
/// # Safety
///
/// `wrk` NULL or from this library, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn dpn_worker_free(wrk: *mut DpnWorker) {
    if !wrk.is_null() {
        // SAFETY: from Box::into_raw in this library; the caller gives it up.
        drop(unsafe { Box::from_raw(wrk) });
    }
}

/// Detaches the application and frees `app` (workers still need `dpn_worker_free`).
///
/// # Safety
///
/// `app` from `dpn_attach`, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn dpn_detach(app: *mut DpnApp) -> c_int {
    guard(|| {
        if app.is_null() {
            return Err(Error::Invalid("app is NULL".into()));
        }
        // SAFETY: from Box::into_raw in this library; the caller gives it up.
        let a = unsafe { Box::from_raw(app) };
        a.0.detach().map(|_| 0)
    })
}

/// Listens on `uri` (`udp://0.0.0.0/7`); stores the listener.
///
/// # Safety
///
/// `w` a worker; `uri` NUL-terminated; `listener` valid for writes.
#[no_mangle]
pub unsafe extern "C" fn dpn_listen(w: *mut DpnWorker, uri_: *const c_char, listener: *mut u64) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let (w, u) = unsafe { (worker(w)?, text(uri_, "uri")?) };
        let l = w.w.listen(uri(u)?)?;
        // SAFETY: the caller's contract; NULL is refused.
        unsafe { listener.as_mut() }.map(|p| *p = l.0).ok_or_else(|| Error::Invalid("listener is NULL".into()))?;
        Ok(0)
    })
}

/// Stops listening.
///
/// # Safety
///
/// `w` a worker.
#[no_mangle]
pub unsafe extern "C" fn dpn_unlisten(w: *mut DpnWorker, listener: u64) -> c_int {
    // SAFETY: the caller's contract.
    guard(|| unsafe { worker(w) }?.w.unlisten(ListenerId(listener)).map(|_| 0))
}

/// Accepts the next session of `listener`; `-EAGAIN` if none waits.
///
/// # Safety
///
/// `w` a worker; `session` valid for writes.
#[no_mangle]
pub unsafe extern "C" fn dpn_accept(w: *mut DpnWorker, listener: u64, session: *mut u64) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let w = unsafe { worker(w)? };
        let s = w.w.accept(ListenerId(listener))?.ok_or(Error::WouldBlock)?;
        // SAFETY: the caller's contract.
        unsafe { session.as_mut() }.map(|p| *p = s.0).ok_or_else(|| Error::Invalid("session is NULL".into()))?;
        Ok(0)
    })
}

/// Connects to `uri` and waits up to `timeout_ms` for the session.
///
/// # Safety
///
/// `w` a worker; `uri` NUL-terminated; `opts` NULL or valid; `session` valid for writes.
#[no_mangle]
pub unsafe extern "C" fn dpn_connect(
    w: *mut DpnWorker,
    uri_: *const c_char,
    opts: *const DpnConnectOpts,
    timeout_ms: c_int,
    session: *mut u64,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let (w, u, o) = unsafe { (worker(w)?, text(uri_, "uri")?, connect_opts(opts)) };
        let s = w.w.connect(uri(u)?, o, Duration::from_millis(timeout_ms.max(0) as u64))?;
        // SAFETY: the caller's contract.
        unsafe { session.as_mut() }.map(|p| *p = s.0).ok_or_else(|| Error::Invalid("session is NULL".into()))?;
        Ok(0)
    })
}

/// Starts a connect; a `DPN_EV_CONNECTED` event with `opaque` (top bit clear) reports it.
///
/// # Safety
///
/// `w` a worker; `uri` NUL-terminated; `opts` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn dpn_connect_async(
    w: *mut DpnWorker,
    uri_: *const c_char,
    opts: *const DpnConnectOpts,
    opaque: u64,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let (w, u, o) = unsafe { (worker(w)?, text(uri_, "uri")?, connect_opts(opts)) };
        if opaque >> 63 != 0 {
            return Err(Error::Invalid("opaque values with the top bit set are reserved".into()));
        }
        w.w.connect_async(uri(u)?, o, opaque).map(|_| 0)
    })
}

/// Reads up to `len` bytes (one datagram on a datagram session); returns the
/// count, 0 at the end of a stream, or `-EAGAIN`.
///
/// # Safety
///
/// `w` a worker; `buf` valid for `len` bytes of writes.
#[no_mangle]
pub unsafe extern "C" fn dpn_read(w: *mut DpnWorker, session: u64, buf: *mut c_void, len: usize) -> i64 {
    guard64(|| {
        // SAFETY: the caller's contract.
        let w = unsafe { worker(w)? };
        let b: &mut [u8] = if len == 0 {
            &mut []
        } else if buf.is_null() {
            return Err(Error::Invalid("buffer is NULL".into()));
        } else {
            // SAFETY: non-null and valid for `len` bytes by the caller's contract.
            unsafe { std::slice::from_raw_parts_mut(buf.cast(), len) }
        };
        w.w.read(SessionId(session), b).map(|n| n as i64)
    })
}

/// Like [`dpn_read`], also storing in `from` (if not NULL) where the data
/// came from: a datagram's sender, or a stream's peer.
///
/// # Safety
///
/// `w` a worker; `buf` valid for `len` bytes of writes; `from` NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn dpn_recv_from(
    w: *mut DpnWorker,
    session: u64,
    buf: *mut c_void,
    len: usize,
    from: *mut DpnAddr,
) -> i64 {
    guard64(|| {
        // SAFETY: the caller's contract.
        let w = unsafe { worker(w)? };
        let b: &mut [u8] = if len == 0 {
            &mut []
        } else if buf.is_null() {
            return Err(Error::Invalid("buffer is NULL".into()));
        } else {
            // SAFETY: non-null and valid for `len` bytes by the caller's contract.
            unsafe { std::slice::from_raw_parts_mut(buf.cast(), len) }
        };
        let (n, a) = w.w.recv_from(SessionId(session), b)?;
        // SAFETY: the caller's contract (NULL: not wanted).
        if let Some(p) = unsafe { from.as_mut() } {
            *p = a.into();
        }
        Ok(n as i64)
    })
}

/// Stores session `session`'s local and remote endpoints in `local` and
/// `remote` (either may be NULL).
///
/// # Safety
///
/// `w` a worker; `local` and `remote` NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn dpn_session_addrs(
    w: *mut DpnWorker,
    session: u64,
    local: *mut DpnAddr,
    remote: *mut DpnAddr,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let w = unsafe { worker(w)? };
        let i = w.w.session(SessionId(session)).ok_or(Error::BadSession)?;
        // SAFETY: the caller's contract (NULL: not wanted).
        if let Some(p) = unsafe { local.as_mut() } {
            *p = i.local.into();
        }
        // SAFETY: as above.
        if let Some(p) = unsafe { remote.as_mut() } {
            *p = i.remote.into();
        }
        Ok(0)
    })
}

/// Writes up to `len` bytes (all of them as one datagram on a datagram session);
/// returns the count or `-EAGAIN` (a `DPN_EV_WRITABLE` follows).
///
/// # Safety
///
/// `w` a worker; `buf` valid for `len` bytes of reads.
#[no_mangle]
pub unsafe extern "C" fn dpn_write(w: *mut DpnWorker, session: u64, buf: *const c_void, len: usize) -> i64 {
    guard64(|| {
        // SAFETY: the caller's contract.
        let w = unsafe { worker(w)? };
        let b: &[u8] = if len == 0 {
            &[]
        } else if buf.is_null() {
            return Err(Error::Invalid("buffer is NULL".into()));
        } else {
            // SAFETY: non-null and valid for `len` bytes by the caller's contract.
            unsafe { std::slice::from_raw_parts(buf.cast(), len) }
        };
        w.w.write(SessionId(session), b).map(|n| n as i64)
    })
}

/// Half-closes a stream session: the peer gets the end of the stream after what was
/// written; reading goes on (`shutdown(SHUT_WR)`).
///
/// # Safety
///
/// `w` a worker.
#[no_mangle]
pub unsafe extern "C" fn dpn_shutdown(w: *mut DpnWorker, session: u64) -> c_int {
    // SAFETY: the caller's contract.
    guard(|| unsafe { worker(w) }?.w.shutdown_write(SessionId(session)).map(|_| 0))
}

/// Closes a session.
///
/// # Safety
///
/// `w` a worker.
#[no_mangle]
pub unsafe extern "C" fn dpn_close(w: *mut DpnWorker, session: u64) -> c_int {
    // SAFETY: the caller's contract.
    guard(|| unsafe { worker(w) }?.w.close(SessionId(session)).map(|_| 0))
}

/// Waits up to `timeout_ms` (-1: no limit) for events; stores up to `max`; returns how many.
///
/// # Safety
///
/// `w` a worker; `events` valid for `max` writes.
#[no_mangle]
pub unsafe extern "C" fn dpn_wait(w: *mut DpnWorker, events: *mut DpnEvent, max: c_int, timeout_ms: c_int) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let w = unsafe { worker(w)? };
        if events.is_null() || max <= 0 {
            return Err(Error::Invalid("no room for events".into()));
        }
        let timeout = (timeout_ms >= 0).then(|| Duration::from_millis(timeout_ms as u64));
        w.events.clear();
        let n = w.w.wait(&mut w.events, max as usize, timeout)?;
        for (i, ev) in w.events.iter().take(n).enumerate() {
            let e = match *ev {
                Event::Accept(l) => DpnEvent { kind: DPN_EV_ACCEPT, handle: l.0, ..Default::default() },
                Event::Connected { opaque, result } => match result {
                    Ok(s) => DpnEvent { kind: DPN_EV_CONNECTED, handle: s.0, opaque, result: 0 },
                    Err(code) => DpnEvent { kind: DPN_EV_CONNECTED, handle: u64::MAX, opaque, result: code },
                },
                Event::Readable(s) => DpnEvent { kind: DPN_EV_READABLE, handle: s.0, ..Default::default() },
                Event::Writable(s) => DpnEvent { kind: DPN_EV_WRITABLE, handle: s.0, ..Default::default() },
                Event::PeerClosed(s) => DpnEvent { kind: DPN_EV_PEER_CLOSED, handle: s.0, ..Default::default() },
                Event::Reset(s) => DpnEvent { kind: DPN_EV_RESET, handle: s.0, ..Default::default() },
            };
            // SAFETY: i < n <= max, within the caller's array.
            unsafe { events.add(i).write(e) };
        }
        Ok(n as c_int)
    })
}

/// The worker's eventfd (for the application's own epoll), or `-EINVAL` if it has none.
///
/// # Safety
///
/// `w` a worker.
#[no_mangle]
pub unsafe extern "C" fn dpn_worker_eventfd(w: *mut DpnWorker) -> c_int {
    // SAFETY: the caller's contract.
    guard(|| unsafe { worker(w) }?.w.eventfd().ok_or_else(|| Error::Invalid("no eventfd".into())))
}

/// A static description of a return code.
#[no_mangle]
pub extern "C" fn dpn_strerror(code: c_int) -> *const c_char {
    let s: &'static CStr = match code {
        0 => c"success",
        EAGAIN => c"would block",
        EPIPE => c"closed",
        EINVAL => c"invalid argument",
        EIO => c"i/o error",
        EPROTO => c"protocol error",
        c => match ErrorCode::from_i32(c) {
            Some(ErrorCode::AlreadyAttached) => c"application already attached",
            Some(ErrorCode::UnsupportedConfig) => c"unsupported configuration",
            Some(ErrorCode::InvalidNamespace) => c"invalid namespace",
            Some(ErrorCode::WrongNamespaceSecret) => c"wrong namespace secret",
            Some(ErrorCode::NotAttached) => c"application not attached",
            Some(ErrorCode::InvalidValue) => c"invalid value",
            Some(ErrorCode::AddressInUse) => c"address in use",
            Some(ErrorCode::NoSuchListener) => c"no such listener",
            Some(ErrorCode::NoSuchAppWorker) => c"no such app worker",
            Some(ErrorCode::NoSuchApp) => c"no such application",
            Some(ErrorCode::NotListening) => c"not listening",
            Some(ErrorCode::AlreadyListening) => c"already listening",
            Some(ErrorCode::TooMany) => c"out of resources",
            Some(ErrorCode::BadMessage) => c"malformed message",
            Some(ErrorCode::BadMagic) => c"bad magic",
            Some(ErrorCode::BadVersion) => c"protocol version not supported",
            Some(ErrorCode::TooLarge) => c"message too large",
            Some(ErrorCode::UnknownKind) => c"unknown or unexpected message kind",
            Some(ErrorCode::NotYours) => c"not owned by this connection",
            Some(ErrorCode::Internal) => c"internal error",
            Some(ErrorCode::BadSession) => c"no such session",
            Some(ErrorCode::QueueFull) => c"message queue full",
            Some(ErrorCode::BadState) => c"session state does not allow this",
            Some(ErrorCode::NoRoute) => c"no route",
            Some(ErrorCode::Refused) => c"connection refused",
            Some(ErrorCode::Timeout) => c"timed out",
            Some(ErrorCode::NoPort) => c"no free local port",
            Some(ErrorCode::NoMemory) => c"no fifo memory",
            None => c"unknown error",
        },
    };
    s.as_ptr()
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn strerror_names_every_code_like_rust() {
        for c in ErrorCode::ALL {
            // SAFETY: dpn_strerror returns a static NUL-terminated string.
            let s = unsafe { CStr::from_ptr(dpn_strerror(*c as c_int)) }.to_str().unwrap();
            assert_eq!(s, c.as_str());
        }
        // SAFETY: as above.
        let s = unsafe { CStr::from_ptr(dpn_strerror(EAGAIN)) };
        assert_eq!(s.to_str().unwrap(), "would block");
    }

    #[test]
    fn null_pointers_are_refused_not_followed() {
        let mut ev = DpnEvent::default();
        // SAFETY: NULL pointers are what is being tested; the functions check them.
        unsafe {
            assert_eq!(dpn_wait(ptr::null_mut(), &mut ev, 1, 0), EINVAL);
            assert_eq!(dpn_read(ptr::null_mut(), 0, ptr::null_mut(), 0), i64::from(EINVAL));
            assert_eq!(dpn_close(ptr::null_mut(), 0), EINVAL);
            assert_eq!(dpn_detach(ptr::null_mut()), EINVAL);
            let mut app = ptr::null_mut();
            let mut wrk = ptr::null_mut();
            assert_eq!(dpn_attach(ptr::null(), c"x".as_ptr(), ptr::null(), &mut app, &mut wrk), EINVAL);
            // No node at this path: an i/o error, not a crash.
            let r = dpn_attach(c"/nonexistent/api.sock".as_ptr(), c"x".as_ptr(), ptr::null(), &mut app, &mut wrk);
            assert_eq!(r, EIO);
            dpn_worker_free(ptr::null_mut());
            let mut h = 0u64;
            assert_eq!(dpn_join(ptr::null(), c"x".as_ptr(), 1, 2, 0, &mut app, &mut wrk), EINVAL);
            assert_eq!(dpn_join(c"/nonexistent/api.sock".as_ptr(), c"x".as_ptr(), 1, 2, 0, &mut app, &mut wrk), EIO);
            assert_eq!(dpn_app_handle(ptr::null(), &mut h), EINVAL);
            assert_eq!(dpn_share_token(ptr::null_mut(), &mut h), EINVAL);
            assert_eq!(dpn_listener_passive(ptr::null_mut(), 1, 2, 1), EINVAL);
            assert_eq!(dpn_worker_handle(ptr::null_mut(), &mut h), EINVAL);
            assert_eq!(dpn_shutdown(ptr::null_mut(), 0), EINVAL);
            assert_eq!(dpn_recv_from(ptr::null_mut(), 0, ptr::null_mut(), 0, ptr::null_mut()), i64::from(EINVAL));
            assert_eq!(dpn_session_addrs(ptr::null_mut(), 0, ptr::null_mut(), ptr::null_mut()), EINVAL);
            let mut o = std::mem::zeroed::<DpnAttachOpts>();
            dpn_attach_opts_init(&mut o);
            assert_eq!((o.rx_fifo_size, o.event_queue_size), (65536, 2048));
        }
    }

    #[test]
    fn layouts_match_the_header() {
        assert_eq!(std::mem::size_of::<DpnEvent>(), 24);
        assert_eq!(std::mem::size_of::<DpnConnectOpts>(), 4);
        assert_eq!(std::mem::size_of::<DpnAttachOpts>(), 56);
        assert_eq!(std::mem::size_of::<DpnAddr>(), 20);
        let a = DpnAddr::from("[fd00::2]:7".parse::<SocketAddr>().unwrap());
        assert_eq!((a.family, a.port, a.ip[0], a.ip[15]), (DPN_AF_INET6, 7, 0xfd, 2));
        let a = DpnAddr::from("198.18.0.2:7".parse::<SocketAddr>().unwrap());
        assert_eq!((a.family, &a.ip[..5]), (DPN_AF_INET, &[198, 18, 0, 2, 0][..]));
    }
}
