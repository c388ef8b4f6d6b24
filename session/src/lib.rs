//! dpnode's session layer and transports, after FD.io VPP's host stack.
//!
//! Shared-memory building blocks live here: [`fifo`] (the SPSC byte ring
//! with out-of-order tracking that carries session data), [`segment`] (memfd
//! segments and the segment manager that allocates fifo pairs from them) and
//! [`mq`] (per app-worker message queues for control and io events).

#![warn(missing_docs)]

pub mod app_listener;
pub mod application;
pub mod control;
pub mod error;
pub mod fifo;
pub mod lookup;
pub mod mq;
pub mod namespace;
pub mod segment;
pub mod tcp;
pub mod timer_wheel;
