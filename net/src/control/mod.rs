//! The plumbing between the main thread and the workers: the barrier under
//! which shared tables change, RPC queues both ways, and the SPSC rings
//! they are built on; and what a worker is made of ([`worker`]: the
//! tables the barrier protects, the worker's state, the loop's clock and
//! counters).

pub mod barrier;
pub mod rpc;
pub mod spsc;
pub mod worker;
