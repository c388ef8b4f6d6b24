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
    /// [`RecvBuffer::enqueue`] for data in pieces (a chained packet's
    /// segments). The default joins them first (for test buffers); the
    /// fifo writes them in place.
    fn enqueue_parts(&self, data: &Payload<'_>) -> Enqueued {
        match data.parts() {
            [] => self.enqueue(&[]),
            [one] => self.enqueue(one),
            many => self.enqueue(&many.concat()),
        }
    }
    /// [`RecvBuffer::enqueue_at`] for data in pieces (see
    /// [`RecvBuffer::enqueue_parts`]).
    fn enqueue_at_parts(&self, offset: u32, data: &Payload<'_>) -> bool {
        match data.parts() {
            [] => self.enqueue_at(offset, &[]),
            [one] => self.enqueue_at(offset, one),
            many => self.enqueue_at(offset, &many.concat()),
        }
    }
    /// The out-of-order runs, in order, relative to the in-order end.
    fn ooo_segments(&self) -> impl Iterator<Item = OooSegment> + '_;
}

/// Most pieces a [`Payload`] or [`PayloadMut`] holds: a chained packet of
/// more segments is refused below TCP.
pub const MAX_PIECES: usize = 16;

/// A segment's payload in the pieces a chained packet holds it in (one
/// piece for a single-segment packet), read without linearising.
#[derive(Clone, Copy, Debug)]
pub struct Payload<'a> {
    parts: [&'a [u8]; MAX_PIECES],
    n: usize,
    len: usize,
}

impl<'a> Payload<'a> {
    /// One contiguous piece.
    #[inline]
    pub fn from_slice(data: &'a [u8]) -> Payload<'a> {
        let mut parts = [&[][..]; MAX_PIECES];
        parts[0] = data;
        Payload { parts, n: 1, len: data.len() }
    }

    /// The pieces, in order; `None` if there are more than [`MAX_PIECES`].
    pub fn from_parts(pieces: impl IntoIterator<Item = &'a [u8]>) -> Option<Payload<'a>> {
        let mut p = Payload { parts: [&[][..]; MAX_PIECES], n: 0, len: 0 };
        for piece in pieces {
            if piece.is_empty() {
                continue;
            }
            *p.parts.get_mut(p.n)? = piece;
            p.n += 1;
            p.len += piece.len();
        }
        Some(p)
    }

    /// Bytes in all pieces.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no bytes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The pieces.
    #[inline]
    pub fn parts(&self) -> &[&'a [u8]] {
        &self.parts[..self.n]
    }

    /// The bytes `skip..skip + len` (clamped to what there is).
    pub fn slice(&self, skip: usize, len: usize) -> Payload<'a> {
        if self.n == 1 {
            let d = self.parts[0];
            let s = skip.min(d.len());
            return Payload::from_slice(&d[s..s + len.min(d.len() - s)]);
        }
        let mut out = Payload { parts: [&[][..]; MAX_PIECES], n: 0, len: 0 };
        let (mut skip, mut want) = (skip, len);
        for &piece in self.parts() {
            if want == 0 {
                break;
            }
            if skip >= piece.len() {
                skip -= piece.len();
                continue;
            }
            let take = (piece.len() - skip).min(want);
            out.parts[out.n] = &piece[skip..skip + take];
            out.n += 1;
            out.len += take;
            want -= take;
            skip = 0;
        }
        out
    }
}

/// A received segment's payload as TCP input takes it: contiguous (`[u8]`,
/// the single-segment fast path) or in pieces ([`Payload`]).
pub trait PayloadIn {
    /// Bytes in it.
    fn len(&self) -> usize;
    /// Whether it is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Enqueues bytes `skip..skip + len` in order.
    fn enqueue_range(&self, rx: &impl RecvBuffer, skip: usize, len: usize) -> Enqueued;
    /// Stores bytes `skip..skip + len` `offset` bytes past the in-order end.
    fn enqueue_range_at(&self, rx: &impl RecvBuffer, offset: u32, skip: usize, len: usize) -> bool;
}

impl PayloadIn for [u8] {
    #[inline]
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }

    #[inline]
    fn enqueue_range(&self, rx: &impl RecvBuffer, skip: usize, len: usize) -> Enqueued {
        rx.enqueue(&self[skip..skip + len])
    }

    #[inline]
    fn enqueue_range_at(&self, rx: &impl RecvBuffer, offset: u32, skip: usize, len: usize) -> bool {
        rx.enqueue_at(offset, &self[skip..skip + len])
    }
}

impl PayloadIn for Payload<'_> {
    #[inline]
    fn len(&self) -> usize {
        self.len
    }

    fn enqueue_range(&self, rx: &impl RecvBuffer, skip: usize, len: usize) -> Enqueued {
        rx.enqueue_parts(&self.slice(skip, len))
    }

    fn enqueue_range_at(&self, rx: &impl RecvBuffer, offset: u32, skip: usize, len: usize) -> bool {
        rx.enqueue_at_parts(offset, &self.slice(skip, len))
    }
}

/// Where a segment's payload is written on transmit: a contiguous buffer
/// (`[u8]`) or the segments of a chained packet ([`PayloadMut`]).
pub trait PayloadOut {
    /// Bytes it can take.
    fn room(&self) -> usize;
    /// Copies `len <= room()` bytes from `offset` bytes past the head of
    /// `tx` to its start; returns how many.
    fn fill(&mut self, tx: &impl SendBuffer, offset: usize, len: usize) -> usize;
}

impl PayloadOut for [u8] {
    #[inline]
    fn room(&self) -> usize {
        self.len()
    }

    #[inline]
    fn fill(&mut self, tx: &impl SendBuffer, offset: usize, len: usize) -> usize {
        tx.peek(offset, &mut self[..len])
    }
}

/// A transmit payload area in pieces (the data rooms of a chain's
/// segments), filled piece by piece straight from the send buffer.
#[derive(Debug)]
pub struct PayloadMut<'a> {
    parts: [&'a mut [u8]; MAX_PIECES],
    n: usize,
}

impl<'a> PayloadMut<'a> {
    /// The pieces, in order; `None` if there are more than [`MAX_PIECES`].
    pub fn from_parts(pieces: impl IntoIterator<Item = &'a mut [u8]>) -> Option<PayloadMut<'a>> {
        let mut p = PayloadMut { parts: std::array::from_fn(|_| &mut [][..]), n: 0 };
        for piece in pieces {
            *p.parts.get_mut(p.n)? = piece;
            p.n += 1;
        }
        Some(p)
    }
}

impl PayloadOut for PayloadMut<'_> {
    fn room(&self) -> usize {
        self.parts[..self.n].iter().map(|p| p.len()).sum()
    }

    fn fill(&mut self, tx: &impl SendBuffer, offset: usize, len: usize) -> usize {
        let mut done = 0usize;
        for piece in self.parts[..self.n].iter_mut() {
            if done == len {
                break;
            }
            let want = piece.len().min(len - done);
            let got = tx.peek(offset + done, &mut piece[..want]);
            done += got;
            if got < want {
                break;
            }
        }
        done
    }
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
        self.enqueue_collect_vectored(parts)
    }

    #[inline]
    fn enqueue_at(&self, offset: u32, data: &[u8]) -> bool {
        self.enqueue_with_offset(offset, data).is_ok()
    }

    #[inline]
    fn enqueue_parts(&self, data: &Payload<'_>) -> Enqueued {
        match data.parts() {
            [one] => self.enqueue_collect(one),
            many => self.enqueue_collect_vectored(many),
        }
    }

    #[inline]
    fn enqueue_at_parts(&self, offset: u32, data: &Payload<'_>) -> bool {
        match data.parts() {
            [one] => self.enqueue_with_offset(offset, one).is_ok(),
            many => self.enqueue_with_offset_vectored(offset, many).is_ok(),
        }
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

#[cfg(test)]
mod chain_test {
    use super::*;
    use shm::fifo::HeapFifo;

    fn stream(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn a_chain_goes_into_the_fifo_and_out_of_it_at_every_split_point() {
        let data = stream(40);
        for a in 0..=data.len() {
            for b in a..=data.len() {
                // Receive: the pieces of a chain, in order and out of order.
                let p = Payload::from_parts([&data[..a], &data[a..b], &data[b..]]).unwrap();
                assert_eq!(p.len(), 40);
                let h = HeapFifo::new(64).unwrap();
                let (prod, cons) = h.ends();
                assert!(prod.enqueue_at_parts(5, &p.slice(5, 35)));
                let e = prod.enqueue_parts(&p.slice(0, 5));
                assert_eq!((e.written, e.advanced), (5, 40), "{a} {b}");
                let mut got = vec![0u8; 40];
                assert_eq!(SendBuffer::peek(&cons, 0, &mut got), 40);
                assert_eq!(got, data, "{a} {b}");
                // Transmit: the same bytes into three segment rooms cut at a, b.
                let mut out = [0u8; 40];
                let (x, rest) = out.split_at_mut(a);
                let (y, z) = rest.split_at_mut(b - a);
                let mut pm = PayloadMut::from_parts([x, y, z]).unwrap();
                assert_eq!(pm.room(), 40);
                assert_eq!(pm.fill(&cons, 3, 37), 37, "{a} {b}");
                assert_eq!(&out[..37], &data[3..], "{a} {b}");
            }
        }
    }

    #[test]
    fn slices_of_a_payload_cut_inside_and_across_pieces() {
        let data = stream(30);
        let p = Payload::from_parts([&data[..10], &data[10..20], &data[20..]]).unwrap();
        for skip in 0..=30 {
            for len in 0..=31 {
                let s = p.slice(skip, len);
                let want = &data[skip.min(30)..(skip + len).min(30)];
                assert_eq!(s.parts().concat(), want, "{skip} {len}");
                assert_eq!(s.len(), want.len());
            }
        }
        let one = Payload::from_slice(&data);
        assert_eq!(one.slice(25, 10).parts(), &[&data[25..]]);
        assert!(Payload::from_parts((0..MAX_PIECES + 1).map(|i| &data[i..=i])).is_none());
        // Empty pieces are skipped, so they do not count against the cap.
        let p = Payload::from_parts([&data[..0], &data[..3], &data[3..3]]).unwrap();
        assert_eq!(p.parts().len(), 1);
    }

    #[test]
    fn a_short_send_buffer_stops_the_fill() {
        let h = HeapFifo::new(64).unwrap();
        let (prod, cons) = h.ends();
        prod.enqueue(&stream(10));
        let mut out = [0u8; 12];
        let (x, y) = out.split_at_mut(6);
        let mut pm = PayloadMut::from_parts([x, y]).unwrap();
        assert_eq!(pm.fill(&cons, 2, 12), 8);
        assert_eq!(&out[..8], &stream(10)[2..]);
    }
}
