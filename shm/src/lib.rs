//! What the node and its external applications share, and nothing else.
//!
//! First a vocabulary ([`types`]): the endpoint, protocol, transport,
//! congestion-control choice, scope, proxy set, connect and attach options,
//! error code and session handle that the session layer, the TCP crate, the
//! API, the client and preload libraries and the node's config all use, one
//! type per concept.
//!
//! An external application (another process, attached over the API socket)
//! moves data through the same memory the node's workers use: memfd
//! [`segment`]s that both map, holding session [`fifo`]s (with [`dgram`]
//! framing on datagram sessions) and message queues ([`mq`]) that carry
//! events and requests both ways. Both sides also speak the same two wire
//! formats: the API socket's messages ([`api`], with descriptors passed by
//! [`fdpass`]) and the message-queue messages ([`msg`]). And the echo test
//! apps check data and report results the same way whether they run inside
//! the node or outside it ([`echo`]). And every option, whoever gives it
//! (the node's config and CLI, the API, the client library), is checked
//! against the same ranges ([`limits`]). `docs/api.md` describes the protocol.
//!
//! This crate depends on nothing but `libc`, so the client library built on
//! it (`dpnode-client`) needs no DPDK at build or run time. The session
//! layer re-exports the shared-memory modules (`session::fifo`,
//! `session::mq`, `session::segment`) under their old names.

#![warn(missing_docs)]

pub mod api;
pub mod dgram;
pub mod echo;
pub mod fdpass;
pub mod fifo;
pub mod limits;
pub mod mq;
pub mod msg;
pub mod segment;
pub mod types;
pub mod wire;
