//! What a connection needs from the buffers that hold its data: a send
//! buffer (the bytes from `snd_una` on: peek to transmit or retransmit,
//! drop once acknowledged) and a receive buffer (in-order and out-of-order
//! enqueue, free space for the window, the out-of-order runs for SACK).
//!
//! The traits are defined here, with the connection, and implemented here
//! for the session fifo's ends (the send buffer is the tx fifo's
//! [`shm::fifo::FifoConsumer`], the receive buffer the rx fifo's
//! [`shm::fifo::FifoProducer`]): this crate depends on `shm`
//! anyway for the shared vocabulary (congestion-control choice, limits),
//! and `shm` stays free of TCP (the client library, the preload library
//! and the C header build on it and need no TCP). Anything else that
//! implements the two traits (a buffer in a test, a fuzz harness) drives a
//! [`crate::Connection`] the same way; the calls are generic, so the fifo's
//! are monomorphised and inlined, with no dynamic dispatch per segment.

use shm::fifo::{Enqueued, FifoConsumer, FifoProducer, OooSegment};

/// The bytes a connection has to send: unacknowledged first, then unsent.
pub trait SendBuffer {
    /// Bytes queued (sent but unacknowledged, then not sent yet).
    fn queued(&self) -> usize;
    /// Copies up to `buf.len()` bytes starting `offset` bytes past the head
    /// into `buf`; returns how many.
    fn peek(&self, offset: usize, buf: &mut [u8]) -> usize;
    /// Drops `n` acknowledged bytes from the head; returns how many went.
    fn release(&self, n: usize) -> usize;
}

/// The bytes a connection has received, for the application to read.
pub trait RecvBuffer {
    /// Room for more bytes (in order or not): the receive window.
    fn free(&self) -> usize;
    /// In-order bytes the application has not read yet.
    fn queued(&self) -> usize;
    /// Appends in-order `data` (as much as fits) and joins out-of-order runs
    /// that become contiguous.
    fn enqueue(&self, data: &[u8]) -> Enqueued;
    /// [`Self::enqueue`] of `parts` back to back (a train of segments),
    /// stopping at the first that does not fit whole; a buffer that can
    /// publish them at once (the fifo) overrides this.
    fn enqueue_vectored(&self, parts: &[&[u8]]) -> Enqueued {
        let mut sum = Enqueued { written: 0, advanced: 0 };
        for p in parts {
            let e = self.enqueue(p);
            sum.written += e.written;
            sum.advanced += e.advanced;
            if e.written < p.len() {
                break;
            }
        }
        sum
    }
    /// Stores `data` `offset` bytes past the in-order end; false when it
    /// cannot be kept (no room, or too many runs).
    fn enqueue_at(&self, offset: u32, data: &[u8]) -> bool;
    /// The out-of-order runs, in order, relative to the in-order end.
    fn ooo_segments(&self) -> impl Iterator<Item = OooSegment> + '_;
}

impl SendBuffer for FifoConsumer<'_> {
    #[inline]
    fn queued(&self) -> usize {
        self.max_dequeue()
    }

    #[inline]
    fn peek(&self, offset: usize, buf: &mut [u8]) -> usize {
        FifoConsumer::peek(self, offset, buf)
    }

    #[inline]
    fn release(&self, n: usize) -> usize {
        self.dequeue_drop(n)
    }
}

impl RecvBuffer for FifoProducer<'_> {
    #[inline]
    fn free(&self) -> usize {
        self.max_enqueue()
    }

    #[inline]
    fn queued(&self) -> usize {
        self.max_dequeue()
    }

    #[inline]
    fn enqueue(&self, data: &[u8]) -> Enqueued {
        self.enqueue_collect(data)
    }

    #[inline]
    fn enqueue_vectored(&self, parts: &[&[u8]]) -> Enqueued {
        FifoProducer::enqueue_vectored(self, parts)
    }

    #[inline]
    fn enqueue_at(&self, offset: u32, data: &[u8]) -> bool {
        self.enqueue_with_offset(offset, data).is_ok()
    }

    #[inline]
    fn ooo_segments(&self) -> impl Iterator<Item = OooSegment> + '_ {
        FifoProducer::ooo_segments(self)
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use shm::fifo::HeapFifo;

    #[test]
    fn the_fifo_ends_are_the_buffers() {
        let h = HeapFifo::new(4096).unwrap();
        let (p, c) = h.ends();
        assert_eq!(RecvBuffer::free(&p), 4096);
        assert!(RecvBuffer::enqueue_at(&p, 10, b"later"));
        assert_eq!(RecvBuffer::ooo_segments(&p).collect::<Vec<_>>(), vec![OooSegment { offset: 10, len: 5 }]);
        let e = RecvBuffer::enqueue(&p, b"0123456789");
        assert_eq!((e.written, e.advanced), (10, 15));
        assert_eq!(RecvBuffer::queued(&p), 15);
        let mut b = [0u8; 5];
        assert_eq!(SendBuffer::peek(&c, 10, &mut b), 5);
        assert_eq!(&b, b"later");
        assert_eq!(SendBuffer::release(&c, 10), 10);
        assert_eq!(SendBuffer::queued(&c), 5);
    }
}
