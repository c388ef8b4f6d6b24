//! Function shipping between the main thread and the workers.
//!
//! State that belongs to one thread (a worker's sessions, the main thread's
//! control tables) is changed only by that thread. Another thread that needs
//! a change sends a closure to run there instead: a worker asks the main
//! thread to detach an application, the main thread asks a worker to start a
//! ping. Each direction is one [`crate::control::spsc`] ring of boxed closures, so
//! sending is lock-free and the owner runs them at a point of its choosing
//! (workers: once per poll loop, a bounded number at a time).
//!
//! Nothing is dropped silently: [`RpcSender::send`] hands the closure back
//! when the ring is full or the receiver is gone, and
//! [`RpcSender::send_blocking`] (for the main thread, which may wait) waits
//! for room.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_utils::{Backoff, CachePadded};

use crate::control::spsc::{self, Consumer, Producer};

/// A closure shipped to the thread that owns a `C`.
pub type Rpc<C> = Box<dyn FnOnce(&mut C) + Send>;

/// Why a closure was not queued; it is handed back either way.
pub enum RpcError<C> {
    /// The queue is full; retry later.
    Full(Rpc<C>),
    /// The receiving end has been dropped; the closure can never run there.
    Disconnected(Rpc<C>),
}

impl<C> RpcError<C> {
    /// Take the closure back (e.g. to retry with [`RpcSender::send_boxed`]).
    pub fn into_rpc(self) -> Rpc<C> {
        match self {
            RpcError::Full(f) | RpcError::Disconnected(f) => f,
        }
    }
}

impl<C> fmt::Debug for RpcError<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RpcError::Full(_) => f.write_str("Full(..)"),
            RpcError::Disconnected(_) => f.write_str("Disconnected(..)"),
        }
    }
}

impl<C> fmt::Display for RpcError<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RpcError::Full(_) => f.write_str("rpc queue full"),
            RpcError::Disconnected(_) => f.write_str("rpc receiver gone"),
        }
    }
}

impl<C> std::error::Error for RpcError<C> {}

/// A snapshot of one queue's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RpcCounters {
    /// Closures queued.
    pub sent: u64,
    /// Closures run by the receiver.
    pub received: u64,
    /// Sends refused because the queue was full (each retry counts).
    pub full: u64,
}

/// Counters shared by both ends; each field has a single writer.
#[derive(Default)]
struct Counters {
    sent: CachePadded<AtomicU64>,
    full: CachePadded<AtomicU64>,
    received: CachePadded<AtomicU64>,
}

/// Add `n` to a counter only one thread writes: no read-modify-write needed.
fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

impl Counters {
    fn snapshot(&self) -> RpcCounters {
        RpcCounters {
            sent: self.sent.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            full: self.full.load(Ordering::Relaxed),
        }
    }
}

/// The sending end of an RPC queue to the owner of a `C`.
pub struct RpcSender<C> {
    tx: Producer<Rpc<C>>,
    counters: Arc<Counters>,
}

/// The receiving end: the owner of the `C` runs queued closures with [`RpcReceiver::run_pending`].
pub struct RpcReceiver<C> {
    rx: Consumer<Rpc<C>>,
    counters: Arc<Counters>,
}

/// Make an RPC queue holding at least `capacity` closures.
pub fn rpc_channel<C>(capacity: usize) -> (RpcSender<C>, RpcReceiver<C>) {
    let (tx, rx) = spsc::channel(capacity);
    let counters = Arc::new(Counters::default());
    (RpcSender { tx, counters: counters.clone() }, RpcReceiver { rx, counters })
}

impl<C> RpcSender<C> {
    /// Queue `f`; on a full queue or a gone receiver the boxed closure comes back in the error.
    pub fn send(&mut self, f: impl FnOnce(&mut C) + Send + 'static) -> Result<(), RpcError<C>> {
        self.send_boxed(Box::new(f))
    }

    /// Queue an already boxed closure (e.g. one handed back by a failed [`RpcSender::send`]).
    pub fn send_boxed(&mut self, f: Rpc<C>) -> Result<(), RpcError<C>> {
        if self.tx.is_disconnected() {
            return Err(RpcError::Disconnected(f));
        }
        match self.tx.push(f) {
            Ok(()) => {
                bump(&self.counters.sent, 1);
                Ok(())
            }
            Err(f) => {
                bump(&self.counters.full, 1);
                Err(RpcError::Full(f))
            }
        }
    }

    /// Queue `f`, spinning then yielding while the queue is full; for the main thread.
    ///
    /// Returns false if the receiver is gone: the closure is dropped then
    /// (its captures, e.g. a reply channel, are released) since nothing can
    /// ever run it.
    pub fn send_blocking(&mut self, f: impl FnOnce(&mut C) + Send + 'static) -> bool {
        let mut f: Rpc<C> = Box::new(f);
        let backoff = Backoff::new();
        loop {
            match self.send_boxed(f) {
                Ok(()) => return true,
                Err(RpcError::Disconnected(_)) => return false,
                Err(RpcError::Full(back)) => {
                    f = back;
                    backoff.snooze();
                }
            }
        }
    }

    /// Closures queued and not yet taken by the receiver (a snapshot).
    pub fn len(&self) -> usize {
        self.tx.len()
    }

    /// True when the receiver has taken everything sent (a snapshot).
    pub fn is_empty(&self) -> bool {
        self.tx.is_empty()
    }

    /// True once the receiver has been dropped.
    pub fn is_disconnected(&self) -> bool {
        self.tx.is_disconnected()
    }

    /// This queue's counters.
    pub fn counters(&self) -> RpcCounters {
        self.counters.snapshot()
    }
}

impl<C> RpcReceiver<C> {
    /// Run up to `max` queued closures, oldest first, against `ctx`; returns how many ran.
    pub fn run_pending(&mut self, ctx: &mut C, max: usize) -> usize {
        let n = self.rx.pop_batch(&mut |f: Rpc<C>| f(ctx), max);
        if n > 0 {
            bump(&self.counters.received, n as u64);
        }
        n
    }

    /// Closures waiting to run (a snapshot).
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// True when nothing is waiting (a snapshot).
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    /// True once the sender has been dropped.
    pub fn is_disconnected(&self) -> bool {
        self.rx.is_disconnected()
    }

    /// This queue's counters.
    pub fn counters(&self) -> RpcCounters {
        self.counters.snapshot()
    }
}

impl<C> fmt::Debug for RpcSender<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RpcSender").field("queued", &self.len()).field("counters", &self.counters()).finish()
    }
}

impl<C> fmt::Debug for RpcReceiver<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RpcReceiver").field("queued", &self.len()).field("counters", &self.counters()).finish()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn rpc_runs_in_order() {
        let (mut tx, mut rx) = rpc_channel::<Vec<u32>>(16);
        for i in 0..10 {
            tx.send(move |v| v.push(i)).unwrap();
        }
        let mut ctx = Vec::new();
        assert_eq!(rx.run_pending(&mut ctx, usize::MAX), 10);
        assert_eq!(ctx, (0..10).collect::<Vec<_>>());
        let c = tx.counters();
        assert_eq!((c.sent, c.received, c.full), (10, 10, 0));
    }

    #[test]
    fn rpc_run_pending_respects_max() {
        let (mut tx, mut rx) = rpc_channel::<u32>(8);
        for _ in 0..5 {
            tx.send(|n| *n += 1).unwrap();
        }
        let mut ctx = 0;
        assert_eq!(rx.run_pending(&mut ctx, 2), 2);
        assert_eq!(ctx, 2);
        assert_eq!(rx.len(), 3);
        assert_eq!(rx.run_pending(&mut ctx, 0), 0);
        assert_eq!(rx.run_pending(&mut ctx, 2), 2);
        assert_eq!(rx.run_pending(&mut ctx, 2), 1);
        assert_eq!(rx.run_pending(&mut ctx, 2), 0);
        assert_eq!(ctx, 5);
    }

    #[test]
    fn rpc_full_hands_the_closure_back() {
        let (mut tx, mut rx) = rpc_channel::<Vec<&'static str>>(2);
        tx.send(|v| v.push("a")).unwrap();
        tx.send(|v| v.push("b")).unwrap();
        let back = match tx.send(|v| v.push("c")) {
            Err(RpcError::Full(f)) => f,
            other => panic!("expected Full, got {other:?}"),
        };
        let mut ctx = Vec::new();
        assert_eq!(rx.run_pending(&mut ctx, 1), 1);
        tx.send_boxed(back).unwrap();
        rx.run_pending(&mut ctx, 10);
        assert_eq!(ctx, ["a", "b", "c"]);
        assert_eq!(rx.counters().full, 1);
    }

    #[test]
    fn rpc_disconnected_receiver() {
        let (mut tx, rx) = rpc_channel::<u32>(2);
        drop(rx);
        assert!(tx.is_disconnected());
        assert!(matches!(tx.send(|_| ()), Err(RpcError::Disconnected(_))));
        let (reply_tx, reply_rx) = std::sync::mpsc::channel::<()>();
        // The closure is dropped, so whoever waits on its reply is told.
        assert!(!tx.send_blocking(move |_| drop(reply_tx)));
        assert!(reply_rx.recv().is_err());
    }

    #[test]
    fn rpc_two_threads_lose_nothing() {
        const N: u64 = 100_000;
        let (mut tx, mut rx) = rpc_channel::<(u64, u64)>(64);
        let sender = std::thread::spawn(move || {
            let backoff = Backoff::new();
            for i in 0..N {
                // ctx = (count, next expected index): checks order as well.
                let mut f: Rpc<(u64, u64)> = Box::new(move |ctx| {
                    assert_eq!(ctx.1, i, "rpc out of order");
                    ctx.0 += 1;
                    ctx.1 += 1;
                });
                loop {
                    match tx.send_boxed(f) {
                        Ok(()) => break,
                        Err(e) => {
                            f = e.into_rpc();
                            backoff.snooze();
                        }
                    }
                }
                backoff.reset();
            }
            tx
        });
        let mut ctx = (0u64, 0u64);
        let backoff = Backoff::new();
        while ctx.0 < N {
            if rx.run_pending(&mut ctx, 32) == 0 {
                backoff.snooze();
            } else {
                backoff.reset();
            }
        }
        let tx = sender.join().unwrap();
        assert_eq!(rx.run_pending(&mut ctx, usize::MAX), 0);
        assert_eq!(ctx, (N, N));
        let c = tx.counters();
        assert_eq!((c.sent, c.received), (N, N));
    }

    #[test]
    fn rpc_send_blocking_waits_for_room() {
        let (mut tx, mut rx) = rpc_channel::<u64>(2);
        let sender = std::thread::spawn(move || {
            for _ in 0..1000 {
                assert!(tx.send_blocking(|n| *n += 1));
            }
        });
        let mut n = 0;
        while n < 1000 {
            if rx.run_pending(&mut n, 4) == 0 {
                std::thread::yield_now();
            }
        }
        sender.join().unwrap();
        assert_eq!(n, 1000);
    }
}
