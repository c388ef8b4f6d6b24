//! Passing file descriptors over a Unix stream socket (`SCM_RIGHTS`).
//!
//! The node hands an application its segments and eventfds this way. The
//! descriptors ride on the first bytes of the message that lists them: the
//! sender attaches them to the `sendmsg` that writes the message's first
//! byte, and the receiver collects every descriptor that arrives, in order,
//! and hands them to messages in the order they list them. Because a
//! descriptor never arrives after the bytes it was sent with, a receiver
//! that has a whole message also has its descriptors.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags,
};
use rustix::process::{Resource, Rlimit};

/// Most descriptors one `sendmsg` carries (a message lists at most two; the rest is headroom).
pub const MAX_FDS_PER_SEND: usize = 8;

/// Bytes of control buffer for [`MAX_FDS_PER_SEND`] descriptors.
const CMSG_SPACE: usize = rustix::cmsg_space!(ScmRights(MAX_FDS_PER_SEND));

/// Sends `bytes` (as much as the socket takes now), with `fds` attached, without blocking or `SIGPIPE`.
///
/// Returns the bytes sent; if any were, the descriptors went with them.
pub fn send_with_fds(sock: BorrowedFd<'_>, bytes: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<usize> {
    if fds.len() > MAX_FDS_PER_SEND {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "too many descriptors in one message"));
    }
    let mut space = [MaybeUninit::<u8>::uninit(); CMSG_SPACE];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "descriptors do not fit the control buffer"));
    }
    let flags = SendFlags::NOSIGNAL | SendFlags::DONTWAIT;
    Ok(rustix::net::sendmsg(sock, &[IoSlice::new(bytes)], &mut control, flags)?)
}

/// Receives into `buf` (without blocking if the socket is non-blocking); descriptors that
/// arrive are appended to `fds`. Returns the bytes read (0 at end of stream).
///
/// Descriptors beyond what the control buffer holds are closed by the kernel
/// (`MSG_CTRUNC`); a peer that sends them only loses them.
pub fn recv_with_fds(sock: BorrowedFd<'_>, buf: &mut [u8], fds: &mut Vec<OwnedFd>) -> io::Result<usize> {
    let mut space = [MaybeUninit::<u8>::uninit(); CMSG_SPACE];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = rustix::net::recvmsg(sock, &mut [IoSliceMut::new(buf)], &mut control, RecvFlags::CMSG_CLOEXEC)?;
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = msg {
            fds.extend(received);
        }
    }
    Ok(got.bytes)
}

/// The peer's process id and user id (`SO_PEERCRED`).
pub fn peer_credentials(sock: BorrowedFd<'_>) -> io::Result<(i32, u32)> {
    let cred = rustix::net::sockopt::socket_peercred(sock)?;
    Ok((cred.pid.as_raw_nonzero().get(), cred.uid.as_raw()))
}

/// The process's descriptor limit (`RLIMIT_NOFILE`): (soft, hard); unlimited is `u64::MAX`.
pub fn nofile_limit() -> io::Result<(u64, u64)> {
    let r = rustix::process::getrlimit(Resource::Nofile);
    Ok((r.current.unwrap_or(u64::MAX), r.maximum.unwrap_or(u64::MAX)))
}

/// Raises the soft descriptor limit to the hard one; returns the new (soft, hard).
///
/// Every external app costs the node a few descriptors (its segments and
/// eventfd), so a node serving many apps wants all the kernel allows it.
pub fn raise_nofile_limit() -> io::Result<(u64, u64)> {
    let r = rustix::process::getrlimit(Resource::Nofile);
    if r.current != r.maximum {
        rustix::process::setrlimit(Resource::Nofile, Rlimit { current: r.maximum, maximum: r.maximum })?;
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
    let raw = e.raw_os_error();
    raw == Some(rustix::io::Errno::MFILE.raw_os_error()) || raw == Some(rustix::io::Errno::NFILE.raw_os_error())
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
        let e = io::Error::from(rustix::io::Errno::MFILE);
        assert!(is_out_of_fds(&e) && is_out_of_fds(&rustix::io::Errno::NFILE.into()));
        assert!(!is_out_of_fds(&io::Error::from(rustix::io::Errno::NOENT)));
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
        assert_eq!(uid, rustix::process::geteuid().as_raw());
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
