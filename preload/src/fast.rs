//! The fast path: a read or write on a connected TCP socket by the thread
//! whose app worker it lives on takes that worker's lock and nothing else
//! (no table lock, no table lookups: the descriptor's socket id comes from
//! the lock-free descriptor table, the session from the worker's fast
//! table). The worker lock is uncontended unless another thread uses a
//! socket of the same worker, so threads that use their own sockets never
//! wait for each other (see [`crate::state`]).
//!
//! It only ever finishes a call that succeeds at once; everything else
//! (nothing to read, no room, end of stream, an error, a socket of another
//! thread's worker, UDP, flags such as MSG_PEEK) returns `None` and the
//! caller takes the locked path, which pumps the worker's events, blocks,
//! and gives each case its errno.

use std::net::SocketAddr;
use std::os::fd::RawFd;

use dpnode_client::{Error, SessionId};

use crate::ops;
use crate::state::{self, errno_of, Wrk, R};

/// Runs `f` on `fd`'s session if `fd` is in the calling thread's own worker's fast table.
fn own<T>(fd: RawFd, f: impl FnOnce(&mut Wrk, SessionId) -> Option<T>) -> Option<T> {
    let (id, udp) = state::fd_sock(fd)?;
    if udp {
        return None;
    }
    ops::with_my_worker(|_, shared| {
        let mut w = shared.lock();
        let sess = *w.fast.get(&id)?;
        f(&mut w, sess)
    })
}

/// A read that finds data: `Some(Ok((n, peer)))` with `n > 0`. An error that must not be
/// retried (the data left the fifo, the node was not told) is `Some(Err)`.
pub fn recv(fd: RawFd, buf: &mut [u8]) -> Option<R<(usize, SocketAddr)>> {
    if buf.is_empty() {
        return None;
    }
    own(fd, |w, sess| match w.w.recv_from(sess, buf) {
        Ok((n, from)) if n > 0 => Some(Ok((n, from))),
        Err(e @ Error::QueueFull) => Some(Err(errno_of(&e))),
        _ => None,
    })
}

/// A write that finds room: `Some(Ok(n))` with `0 < n <= data.len()`. An error that must
/// not be retried (the bytes are in the fifo, the node was not told) is `Some(Err)`.
pub fn send(fd: RawFd, data: &[u8]) -> Option<R<usize>> {
    if data.is_empty() {
        return None;
    }
    own(fd, |w, sess| match w.w.write(sess, data) {
        Ok(n) if n > 0 => Some(Ok(n)),
        Err(e @ Error::QueueFull) => Some(Err(errno_of(&e))),
        _ => None,
    })
}
