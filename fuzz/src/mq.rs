//! The shared-memory message queue (`shm::mq`) with a hostile peer: the
//! other side of a queue is another process that can write any bytes into
//! the queue's memory (head, tail, slot headers, payloads). Sends and
//! receives must stay within the queue's memory and never panic; with an
//! honest peer, messages come out in order, whole.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::collections::VecDeque;

use arbitrary::Arbitrary;
use shm::fifo::FIFO_ALIGN;
use shm::mq::{MessageQueue, MqError};

/// One operation.
#[derive(Debug, Arbitrary)]
pub enum Op {
    /// Send a message of this kind and length.
    Send(u16, u8),
    /// Receive into a buffer of this size.
    Recv(u8),
    /// The peer writes these bytes at this offset of the queue's memory.
    Scribble(u16, Vec<u8>),
    /// Open a second view of the same memory (as the other process does).
    Reopen,
    /// Arm and disarm the wake-up flag.
    Wakeup,
}

/// A run.
#[derive(Debug, Arbitrary)]
pub struct Input {
    slots_log: u8,
    slot_size: u8,
    ops: Vec<Op>,
}

struct Mem {
    ptr: *mut u8,
    layout: Layout,
}

impl Drop for Mem {
    fn drop(&mut self) {
        // SAFETY: allocated in `run` with this layout.
        unsafe { dealloc(self.ptr, self.layout) }
    }
}

/// Runs the operations.
pub fn run(input: &Input) {
    let slots = 1u32 << (input.slots_log % 8);
    let slot_size = 16 + 8 * u32::from(input.slot_size % 32);
    MessageQueue::check_layout(slots, slot_size).expect("layout");
    let footprint = MessageQueue::footprint(slots, slot_size);
    let layout = Layout::from_size_align(footprint, FIFO_ALIGN).expect("layout");
    // SAFETY: non-zero size.
    let mem = Mem { ptr: unsafe { alloc_zeroed(layout) }, layout };
    assert!(!mem.ptr.is_null());
    // SAFETY: fresh memory of the footprint, aligned; one producer and one consumer (this loop).
    let mut q = unsafe { MessageQueue::init(mem.ptr, slots, slot_size) }.expect("init");
    let max = q.max_payload();
    let mut model: VecDeque<(u16, usize)> = VecDeque::new();
    let mut hostile = false;
    for op in input.ops.iter().take(1024) {
        match op {
            Op::Send(kind, len) => {
                let payload = vec![*len; usize::from(*len)];
                match q.try_send(*kind, &payload) {
                    Ok(()) => model.push_back((*kind, payload.len())),
                    Err(MqError::Full) => assert!(hostile || model.len() == q.capacity()),
                    Err(MqError::TooLarge { len, max: m }) => assert!(len > m && m == max),
                    Err(e) => panic!("send: {e}"),
                }
            }
            Op::Recv(n) => {
                let mut buf = vec![0u8; usize::from(*n)];
                let got = q.try_recv(&mut buf);
                if let Some((_, len)) = got {
                    assert!(len <= max, "received length {len} above the slot payload {max}");
                }
                if !hostile {
                    let want = model.pop_front();
                    assert_eq!(got, want, "messages in order");
                    if let Some((_, len)) = got {
                        assert!(buf[..len.min(buf.len())].iter().all(|&b| usize::from(b) == len));
                    }
                }
            }
            Op::Scribble(at, bytes) => {
                let at = usize::from(*at) % footprint;
                let n = bytes.len().min(footprint - at);
                // SAFETY: within the allocation; the queue view holds no reference across this call.
                unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), mem.ptr.add(at), n) };
                hostile |= n > 0;
            }
            Op::Reopen => {
                // SAFETY: the same memory; the old view is replaced, so one producer and one consumer remain.
                match unsafe { MessageQueue::from_raw(mem.ptr, slots, slot_size) } {
                    Ok(v) => q = v,
                    Err(MqError::NotAQueue) => assert!(hostile),
                    Err(e) => panic!("reopen: {e}"),
                }
            }
            Op::Wakeup => {
                let _ = q.arm_wakeup();
                q.disarm_wakeup();
            }
        }
        assert!(q.len() <= q.capacity(), "len {} above capacity", q.len());
        let _ = (q.is_empty(), q.is_full());
    }
}
