//! dpnode's session layer and transports, after FD.io VPP's host stack.
//!
//! Applications attach (builtin, or external processes), get app workers
//! with segment managers, listen and connect; their sessions live on the
//! data-plane workers and move data through shared-memory fifos.
//! Control state ([`control`]: apps, app workers, listeners, namespaces,
//! [`listener_tables`]) changes only on the main thread under the barrier
//! ([`main_thread`]); the per-worker half ([`worker`]) owns sessions
//! ([`session`]) and drives the transports ([`transport`]: [`udp`],
//! [`tcp_transport`] over the `tcp` crate, [`cut_through`]). Builtin apps get callbacks ([`builtin`],
//! [`apps`]). Transports build L4 segments only: the IPv4 header, checksum
//! offload, routing and ARP are below the I/O seam (`net::seam::Seam`,
//! implemented by `net::l3::L3` over any device); the worker is the
//! `net::seam::Stack` the data-plane loop drives. Everything that touches
//! packets is generic over the seam `S: Seam` (buffers are `S::Buf`),
//! monomorphised, never `dyn` per packet, and this crate does not depend
//! on the DPDK layer: the binary instantiates it over dataplane's `PortL3`,
//! the tests over `net::sim`'s in-memory network.
//!
//! Shared-memory building blocks live in the `shm` crate (so that external
//! applications can use them without this crate) and are re-exported here:
//! [`fifo`] (the SPSC byte ring with out-of-order tracking that carries
//! session data), [`segment`] (memfd segments and the segment manager that
//! allocates fifo pairs from them) and [`mq`] (per app-worker message queues
//! for control and io events).
//!
//! External applications (other processes, VPP's VCL apps) attach through
//! [`api_server`] (the API socket, served by the main thread); [`external_app`]
//! holds their queues and the link each data-plane worker reaches them
//! through, and the worker's and main thread's halves live in
//! `worker/external_messages.rs` (events out, requests in) and
//! `main_thread/external_attach.rs` (attach, app worker add).

#![warn(missing_docs)]

pub mod api_server;
pub mod app_listener;
pub mod app_worker;
pub mod application;
pub mod apps;
pub mod builtin;
pub mod control;
pub mod cut_through;
pub mod error;
pub mod external_app;
pub use shm::fifo;
pub mod listener_tables;
pub mod main_thread;
pub use shm::mq;
pub mod namespace;
pub mod pool;
pub mod quic;
pub use shm::segment;
pub mod session;
pub mod snapshot;
pub mod tcp_transport;
pub mod tls;
pub mod transport;
pub mod udp;
pub mod worker;
