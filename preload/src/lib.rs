//! The LD_PRELOAD socket layer: `LD_PRELOAD=libdpnode_preload.so PROGRAM`
//! runs an unmodified program with its AF_INET TCP and UDP sockets on a
//! dpnode node, through the client library (what VPP calls LDP over VCL).
//!
//! The library interposes the socket calls of the C library ([`exports`]).
//! A socket the program makes is a *node socket*: its descriptor number is
//! a real kernel socket that is never bound (the placeholder), so numbers
//! are the kernel's own choice (small, no collisions, select works) and
//! close, dup and exec act on something real, while the data goes through
//! the node's shared-memory fifos ([`ops`]). Every other descriptor goes to
//! libc untouched. poll, select and epoll mix both kinds ([`poll`]). Each
//! thread that makes sockets gets an app worker of its own; a table lock
//! guards the library's tables and a lock per app worker its queues
//! ([`state`]); a thread's reads and writes on its own connected sockets
//! take only its worker's lock ([`fast`]). Settings come from the
//! environment ([`config`]).

#![warn(missing_docs)]

pub mod config;
#[cfg(not(test))]
pub mod exports;
pub mod fast;
pub mod ops;
pub mod opts;
pub mod poll;
pub mod real;
pub mod state;
pub mod trace;
pub mod wake;
