//! The plumbing between the main thread and the workers: the barrier under
//! which shared tables change, RPC queues both ways, and the SPSC rings
//! they are built on.

pub mod barrier;
pub mod rpc;
pub mod spsc;
