//! getsockopt and setsockopt on node sockets: the options programs set are
//! kept (and those a connect can carry go to the node with it: TCP_NODELAY,
//! SO_KEEPALIVE, TCP_MAXSEG, TCP_CONGESTION); the ones that describe the
//! socket are answered from its state; anything else is ENOPROTOOPT.
//! IPV6_V6ONLY (AF_INET6 sockets; off by default, as Linux's
//! `net.ipv6.bindv6only`) decides whether a `[::]` listener takes IPv4.

use std::os::fd::RawFd;
use std::time::Duration;

use shm::types::Proto;

use crate::config;
use crate::ops::NOT_NODE;
use crate::state::{lock, St, R};

fn int(v: &[u8]) -> R<i32> {
    let b: [u8; 4] = v.get(..4).and_then(|b| b.try_into().ok()).ok_or(libc::EINVAL)?;
    Ok(i32::from_ne_bytes(b))
}

fn timeval(v: &[u8]) -> R<Option<Duration>> {
    if v.len() < std::mem::size_of::<libc::timeval>() {
        return Err(libc::EINVAL);
    }
    // SAFETY: the slice holds a whole timeval; read unaligned.
    let tv: libc::timeval = unsafe { std::ptr::read_unaligned(v.as_ptr().cast()) };
    if tv.tv_usec < 0 || tv.tv_usec >= 1_000_000 {
        return Err(libc::EDOM);
    }
    if tv.tv_sec < 0 || (tv.tv_sec == 0 && tv.tv_usec == 0) {
        return Ok(None);
    }
    Ok(Some(Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000)))
}

/// Options accepted and kept without effect, by (level, name).
fn kept(level: i32, name: i32) -> bool {
    match level {
        libc::SOL_SOCKET => matches!(
            name,
            libc::SO_BROADCAST
                | libc::SO_RCVLOWAT
                | libc::SO_SNDLOWAT
                | libc::SO_OOBINLINE
                | libc::SO_PRIORITY
                | libc::SO_RCVBUFFORCE
                | libc::SO_SNDBUFFORCE
                | libc::SO_TIMESTAMP
                | libc::SO_BUSY_POLL
                | libc::SO_ZEROCOPY
        ),
        libc::IPPROTO_TCP => matches!(
            name,
            libc::TCP_CORK
                | libc::TCP_DEFER_ACCEPT
                | libc::TCP_QUICKACK
                | libc::TCP_FASTOPEN
                | libc::TCP_FASTOPEN_CONNECT
                | libc::TCP_USER_TIMEOUT
                | libc::TCP_NOTSENT_LOWAT
                | libc::TCP_WINDOW_CLAMP
                | libc::TCP_SYNCNT
                | libc::TCP_LINGER2
        ),
        libc::IPPROTO_IP => matches!(
            name,
            libc::IP_TTL
                | libc::IP_RECVERR
                | libc::IP_MTU_DISCOVER
                | libc::IP_BIND_ADDRESS_NO_PORT
                | libc::IP_FREEBIND
                | libc::IP_PKTINFO
                | libc::IP_RECVTOS
        ),
        libc::IPPROTO_IPV6 => matches!(
            name,
            libc::IPV6_UNICAST_HOPS
                | libc::IPV6_RECVERR
                | libc::IPV6_MTU_DISCOVER
                | libc::IPV6_RECVPKTINFO
                | libc::IPV6_RECVTCLASS
                | libc::IPV6_MULTICAST_HOPS
                | libc::IPV6_MULTICAST_LOOP
        ),
        _ => false,
    }
}

/// `setsockopt` on a node socket.
pub fn set(fd: RawFd, level: i32, name: i32, v: &[u8]) -> R<()> {
    let mut g = lock();
    let id = g.sock_of(fd).ok_or(NOT_NODE)?;
    let s = g.socks.get_mut(&id).ok_or(libc::EBADF)?;
    crate::debug!("setsockopt({fd}, {level}, {name}, {} bytes)", v.len());
    let o = &mut s.opts;
    match (level, name) {
        (libc::SOL_SOCKET, libc::SO_REUSEADDR) => o.reuseaddr = int(v)?,
        (libc::SOL_SOCKET, libc::SO_REUSEPORT) => o.reuseport = int(v)?,
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => o.keepalive = int(v)?,
        (libc::SOL_SOCKET, libc::SO_RCVBUF) => o.rcvbuf = int(v)?,
        (libc::SOL_SOCKET, libc::SO_SNDBUF) => o.sndbuf = int(v)?,
        (libc::SOL_SOCKET, libc::SO_RCVTIMEO) => o.rcvtimeo = timeval(v)?,
        (libc::SOL_SOCKET, libc::SO_SNDTIMEO) => o.sndtimeo = timeval(v)?,
        (libc::SOL_SOCKET, libc::SO_LINGER) => {
            if v.len() < 8 {
                return Err(libc::EINVAL);
            }
            o.linger = (int(v)?, int(v.get(4..).unwrap_or_default())?);
        }
        (libc::IPPROTO_TCP, libc::TCP_NODELAY) if s.proto == Proto::Tcp => o.nodelay = int(v)?,
        (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE) if s.proto == Proto::Tcp => o.keep.0 = int(v)?,
        (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL) if s.proto == Proto::Tcp => o.keep.1 = int(v)?,
        (libc::IPPROTO_TCP, libc::TCP_KEEPCNT) if s.proto == Proto::Tcp => o.keep.2 = int(v)?,
        (libc::IPPROTO_TCP, libc::TCP_MAXSEG) if s.proto == Proto::Tcp => {
            let m = int(v)?;
            if !(88..=9000).contains(&m) && m != 0 {
                return Err(libc::EINVAL);
            }
            o.maxseg = m;
        }
        (libc::IPPROTO_TCP, libc::TCP_CONGESTION) if s.proto == Proto::Tcp => {
            let name = String::from_utf8_lossy(v.split(|&b| b == 0).next().unwrap_or_default()).to_string();
            match name.as_str() {
                "cubic" | "reno" | "newreno" => o.congestion = name,
                _ => return Err(libc::ENOENT),
            }
        }
        (libc::IPPROTO_IP, libc::IP_TOS) => o.tos = int(v)?,
        // IPv6 options exist only on AF_INET6 sockets (Linux: ENOPROTOOPT on AF_INET ones).
        (libc::IPPROTO_IPV6, _) if !s.v6 => return Err(libc::ENOPROTOOPT),
        (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY) => {
            // As Linux: fixed once the socket has a port.
            if s.bound.is_some() || !matches!(s.st, St::Fresh | St::Udp(_)) {
                return Err(libc::EINVAL);
            }
            o.v6only = i32::from(int(v)? != 0);
        }
        (libc::IPPROTO_IPV6, libc::IPV6_TCLASS) => {
            let t = int(v)?;
            if !(-1..=255).contains(&t) {
                return Err(libc::EINVAL);
            }
            o.tos = t.max(0);
        }
        (l, n) if kept(l, n) => {
            let x = int(v).unwrap_or(0);
            o.other.retain(|&(a, b, _)| (a, b) != (l, n));
            o.other.push((l, n, x));
        }
        _ => return Err(libc::ENOPROTOOPT),
    }
    Ok(())
}

fn put_int(out: &mut [u8], v: i32) -> usize {
    let b = v.to_ne_bytes();
    let n = out.len().min(4);
    if let (Some(o), Some(b)) = (out.get_mut(..n), b.get(..n)) {
        o.copy_from_slice(b);
    }
    n
}

fn put_bytes(out: &mut [u8], b: &[u8]) -> usize {
    let n = out.len().min(b.len());
    if let (Some(o), Some(b)) = (out.get_mut(..n), b.get(..n)) {
        o.copy_from_slice(b);
    }
    n
}

fn tv(d: Option<Duration>) -> libc::timeval {
    let d = d.unwrap_or_default();
    libc::timeval { tv_sec: d.as_secs() as libc::time_t, tv_usec: d.subsec_micros() as libc::suseconds_t }
}

fn as_bytes<T>(v: &T) -> &[u8] {
    // SAFETY: a plain C struct viewed as its bytes, for copying out.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), std::mem::size_of::<T>()) }
}

/// `getsockopt` on a node socket; returns the length written.
pub fn get(fd: RawFd, level: i32, name: i32, out: &mut [u8]) -> R<usize> {
    let mut g = lock();
    let id = g.sock_of(fd).ok_or(NOT_NODE)?;
    let wi = g.socks.get(&id).ok_or(libc::EBADF)?.wrk;
    g.pump(wi);
    let fifo = config::get().attach.rx_fifo_size as i32;
    let s = g.socks.get_mut(&id).ok_or(libc::EBADF)?;
    let tcp = s.proto == Proto::Tcp;
    let o = &s.opts;
    let n = match (level, name) {
        (libc::SOL_SOCKET, libc::SO_ERROR) => put_int(out, std::mem::take(&mut s.err)),
        (libc::SOL_SOCKET, libc::SO_TYPE) => put_int(out, if tcp { libc::SOCK_STREAM } else { libc::SOCK_DGRAM }),
        (libc::SOL_SOCKET, libc::SO_DOMAIN) => put_int(out, if s.v6 { libc::AF_INET6 } else { libc::AF_INET }),
        (libc::SOL_SOCKET, libc::SO_PROTOCOL) => put_int(out, if tcp { libc::IPPROTO_TCP } else { libc::IPPROTO_UDP }),
        (libc::SOL_SOCKET, libc::SO_ACCEPTCONN) => {
            put_int(out, i32::from(matches!(s.st, St::Listening(_) | St::Dormant(_))))
        }
        (libc::SOL_SOCKET, libc::SO_REUSEADDR) => put_int(out, o.reuseaddr),
        (libc::SOL_SOCKET, libc::SO_REUSEPORT) => put_int(out, o.reuseport),
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => put_int(out, o.keepalive),
        // The kernel reports twice what was set; unset, the fifo size.
        (libc::SOL_SOCKET, libc::SO_RCVBUF) => {
            put_int(out, if o.rcvbuf > 0 { o.rcvbuf.saturating_mul(2) } else { fifo })
        }
        (libc::SOL_SOCKET, libc::SO_SNDBUF) => {
            put_int(out, if o.sndbuf > 0 { o.sndbuf.saturating_mul(2) } else { fifo })
        }
        (libc::SOL_SOCKET, libc::SO_RCVTIMEO) => put_bytes(out, as_bytes(&tv(o.rcvtimeo))),
        (libc::SOL_SOCKET, libc::SO_SNDTIMEO) => put_bytes(out, as_bytes(&tv(o.sndtimeo))),
        (libc::SOL_SOCKET, libc::SO_LINGER) => {
            let l = libc::linger { l_onoff: o.linger.0, l_linger: o.linger.1 };
            put_bytes(out, as_bytes(&l))
        }
        (libc::IPPROTO_TCP, libc::TCP_NODELAY) if tcp => put_int(out, o.nodelay),
        (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE) if tcp => put_int(out, if o.keep.0 > 0 { o.keep.0 } else { 7200 }),
        (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL) if tcp => put_int(out, if o.keep.1 > 0 { o.keep.1 } else { 75 }),
        (libc::IPPROTO_TCP, libc::TCP_KEEPCNT) if tcp => put_int(out, if o.keep.2 > 0 { o.keep.2 } else { 9 }),
        (libc::IPPROTO_TCP, libc::TCP_MAXSEG) if tcp => put_int(out, if o.maxseg > 0 { o.maxseg } else { 1460 }),
        (libc::IPPROTO_TCP, libc::TCP_CONGESTION) if tcp => {
            let name = if o.congestion.is_empty() { "cubic" } else { o.congestion.as_str() };
            let mut b = [0u8; 16];
            put_bytes(&mut b, name.as_bytes());
            put_bytes(out, &b)
        }
        (libc::IPPROTO_TCP, libc::TCP_INFO) if tcp => {
            // SAFETY: tcp_info is plain integers; zero is a valid value for each.
            let mut ti: libc::tcp_info = unsafe { std::mem::zeroed() };
            ti.tcpi_state = match s.st {
                St::Connected(_) => 1,
                St::Connecting => 2,
                St::Listening(_) | St::Dormant(_) => 10,
                _ => 7,
            };
            let mss = if o.maxseg > 0 { o.maxseg as u32 } else { 1460 };
            ti.tcpi_snd_mss = mss;
            ti.tcpi_rcv_mss = mss;
            ti.tcpi_advmss = mss;
            ti.tcpi_pmtu = mss + 40;
            ti.tcpi_snd_cwnd = 10;
            ti.tcpi_snd_ssthresh = u32::MAX >> 1;
            ti.tcpi_rcv_space = fifo as u32;
            put_bytes(out, as_bytes(&ti))
        }
        (libc::IPPROTO_IP, libc::IP_TOS) => put_int(out, o.tos),
        (libc::IPPROTO_IPV6, _) if !s.v6 => return Err(libc::ENOPROTOOPT),
        (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY) => put_int(out, o.v6only),
        (libc::IPPROTO_IPV6, libc::IPV6_TCLASS) => put_int(out, o.tos),
        (l, n) if kept(l, n) => put_int(out, o.other.iter().find(|x| (x.0, x.1) == (l, n)).map_or(0, |x| x.2)),
        _ => return Err(libc::ENOPROTOOPT),
    };
    Ok(n)
}
