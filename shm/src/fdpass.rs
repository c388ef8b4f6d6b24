//! Passing file descriptors over a Unix stream socket (`SCM_RIGHTS`).
//!
//! The node hands an application its segments and eventfds this way. The
//! descriptors ride on the first bytes of the message that lists them: the
//! sender attaches them to the `sendmsg` that writes the message's first
//! byte, and the receiver collects every descriptor that arrives, in order,
//! and hands them to messages in the order they list them. Because a
//! descriptor never arrives after the bytes it was sent with, a receiver
//! that has a whole message also has its descriptors.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Most descriptors one `sendmsg` carries (a message lists at most two; the rest is headroom).
pub const MAX_FDS_PER_SEND: usize = 8;

/// Bytes of control buffer for `n` descriptors, aligned for `cmsghdr`.
const fn cmsg_space(n: usize) -> usize {
    // CMSG_SPACE is not const in libc; this is its definition for 4-byte ints on 64-bit Linux.
    let hdr = size_of::<libc::cmsghdr>();
    let align = size_of::<usize>();
    let data = (n * size_of::<libc::c_int>() + align - 1) & !(align - 1);
    hdr + data
}

/// A control buffer aligned for `cmsghdr`.
#[repr(C, align(8))]
struct CmsgBuf([u8; cmsg_space(MAX_FDS_PER_SEND)]);

/// Sends `bytes` (as much as the socket takes now), with `fds` attached, without blocking or `SIGPIPE`.
///
/// Returns the bytes sent; if any were, the descriptors went with them.
pub fn send_with_fds(sock: BorrowedFd<'_>, bytes: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<usize> {
    if fds.len() > MAX_FDS_PER_SEND {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "too many descriptors in one message"));
    }
    let mut iov = libc::iovec { iov_base: bytes.as_ptr() as *mut libc::c_void, iov_len: bytes.len() };
    let mut cbuf = CmsgBuf([0; cmsg_space(MAX_FDS_PER_SEND)]);
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        msg.msg_control = cbuf.0.as_mut_ptr().cast();
        msg.msg_controllen = cmsg_space(fds.len()) as _;
        // SAFETY: the control buffer is aligned and holds cmsg_space(fds.len())
        // bytes, so the first header and its data fit; CMSG_* compute offsets
        // inside it.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN((fds.len() * size_of::<libc::c_int>()) as u32) as _;
            let data = libc::CMSG_DATA(c).cast::<libc::c_int>();
            for (i, fd) in fds.iter().enumerate() {
                data.add(i).write_unaligned(fd.as_raw_fd());
            }
        }
    }
    // SAFETY: `msg` points at live buffers (iov, control) for the duration of the call.
    let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Receives into `buf` (without blocking if the socket is non-blocking); descriptors that
/// arrive are appended to `fds`. Returns the bytes read (0 at end of stream).
///
/// Descriptors beyond what the control buffer holds are closed by the kernel
/// (`MSG_CTRUNC`); a peer that sends them only loses them.
pub fn recv_with_fds(sock: BorrowedFd<'_>, buf: &mut [u8], fds: &mut Vec<OwnedFd>) -> io::Result<usize> {
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    let mut cbuf = CmsgBuf([0; cmsg_space(MAX_FDS_PER_SEND)]);
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    msg.msg_controllen = cbuf.0.len() as _;
    // SAFETY: `msg` points at live buffers for the duration of the call.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel filled `msg`'s control part; CMSG_FIRSTHDR/NXTHDR stay
    // inside msg_controllen, and each SCM_RIGHTS header holds cmsg_len bytes
    // of descriptors that are now ours.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c).cast::<libc::c_int>();
                let bytes = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                for i in 0..bytes / size_of::<libc::c_int>() {
                    fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok(n as usize)
}

/// The peer's process id and user id (`SO_PEERCRED`).
pub fn peer_credentials(sock: BorrowedFd<'_>) -> io::Result<(i32, u32)> {
    // SAFETY: ucred is plain data.
    let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: a live ucred buffer and its length.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((cred.pid, cred.uid))
}

/// The process's descriptor limit (`RLIMIT_NOFILE`): (soft, hard).
pub fn nofile_limit() -> io::Result<(u64, u64)> {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((r.rlim_cur, r.rlim_max))
}

/// Raises the soft descriptor limit to the hard one; returns the new (soft, hard).
///
/// Every external app costs the node a few descriptors (its segments and
/// eventfd), so a node serving many apps wants all the kernel allows it.
pub fn raise_nofile_limit() -> io::Result<(u64, u64)> {
    let (soft, hard) = nofile_limit()?;
    if soft < hard {
        let r = libc::rlimit { rlim_cur: hard, rlim_max: hard };
        // SAFETY: setrlimit reads one rlimit from the struct we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    nofile_limit()
}

/// Descriptors this process has open now (the entries of `/proc/self/fd`,
/// less the one reading it). Costs a directory read: for control paths only.
pub fn open_fd_count() -> io::Result<u64> {
    let n = std::fs::read_dir("/proc/self/fd")?.count() as u64;
    Ok(n.saturating_sub(1))
}

/// Whether `e` says the process or the system ran out of descriptors (`EMFILE`, `ENFILE`).
pub fn is_out_of_fds(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

#[cfg(test)]
mod test {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn descriptor_limit_and_count() {
        let (soft, hard) = raise_nofile_limit().unwrap();
        assert_eq!(soft, hard);
        // Other tests open and close descriptors meanwhile: only bounds are certain.
        let n = open_fd_count().unwrap();
        assert!(n >= 3 && n < soft, "{n} of {soft}");
        let e = io::Error::from_raw_os_error(libc::EMFILE);
        assert!(is_out_of_fds(&e) && !is_out_of_fds(&io::Error::from_raw_os_error(libc::ENOENT)));
    }

    #[test]
    fn descriptors_travel_with_their_bytes() {
        let (a, b) = UnixStream::pair().unwrap();
        let (r, mut w) = UnixStream::pair().unwrap();
        // Two descriptors on the first message, none on the second.
        assert_eq!(send_with_fds(a.as_fd(), b"first", &[r.as_fd(), w.as_fd()]).unwrap(), 5);
        assert_eq!(send_with_fds(a.as_fd(), b"second", &[]).unwrap(), 6);
        let mut buf = [0u8; 64];
        let mut fds = Vec::new();
        let mut got = Vec::new();
        while got.len() < 11 {
            let n = recv_with_fds(b.as_fd(), &mut buf, &mut fds).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(&got, b"firstsecond");
        assert_eq!(fds.len(), 2);
        // The received descriptors are the same sockets: write through one copy, read through the other.
        w.write_all(b"x").unwrap();
        let mut one = [0u8; 1];
        let mut dummy = Vec::new();
        assert_eq!(recv_with_fds(fds[0].as_fd(), &mut one, &mut dummy).unwrap(), 1);
        assert_eq!(&one, b"x");
        let (pid, uid) = peer_credentials(a.as_fd()).unwrap();
        assert_eq!(pid as u32, std::process::id());
        // SAFETY: plain syscall.
        assert_eq!(uid, unsafe { libc::geteuid() });
    }

    #[test]
    fn control_space_matches_libc() {
        for n in [1usize, 2, 3, MAX_FDS_PER_SEND] {
            // SAFETY: pure arithmetic.
            let want = unsafe { libc::CMSG_SPACE((n * size_of::<libc::c_int>()) as u32) } as usize;
            assert_eq!(cmsg_space(n), want, "{n}");
        }
    }

    #[test]
    fn send_to_a_closed_peer_is_an_error_not_a_signal() {
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        assert!(send_with_fds(a.as_fd(), b"x", &[]).is_err());
        let too_many: Vec<BorrowedFd<'_>> = (0..9).map(|_| a.as_fd()).collect();
        assert_eq!(send_with_fds(a.as_fd(), b"x", &too_many).unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }
}
