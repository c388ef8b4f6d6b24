//! dpnode's session layer and transports, after FD.io VPP's host stack.
//!
//! Applications attach (builtin, or external processes), get app workers
//! with segment managers, listen and connect; their sessions live on the
//! data-plane workers and move data through shared-memory fifos.
//! Control state ([`control`]: apps, app workers, listeners, namespaces,
//! lookup tables) changes only on the main thread under the barrier
//! ([`main_thread`]); the per-worker half ([`worker`]) owns sessions
//! ([`session`]) and drives the transports ([`transport`]: [`udp`],
//! [`tcp`], [`cut_through`]). Shared-memory building blocks: [`fifo`] (the
//! SPSC byte ring with out-of-order tracking), [`segment`] (memfd segments
//! and the segment manager), [`mq`] (message queues). Builtin apps get
//! callbacks ([`builtin`], [`apps`]).

#![warn(missing_docs)]

pub mod app_listener;
pub mod app_worker;
pub mod application;
pub mod apps;
pub mod builtin;
pub mod control;
pub mod cut_through;
pub mod error;
pub mod fifo;
pub mod lookup;
pub mod main_thread;
pub mod mq;
pub mod namespace;
pub mod pool;
pub mod segment;
pub mod session;
pub mod tcp;
pub mod timer_wheel;
pub mod transport;
pub mod udp;
pub mod worker;
