//! Datagram framing in a fifo: a model queue of datagrams must match what
//! comes out, for any mix of sizes, reader buffers and fifo positions
//! (wrap-around); raw bytes written by a misbehaving app (the node reads
//! tx fifos an application fills) may stall the queue but never panic it.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use arbitrary::Arbitrary;
use session::fifo::HeapFifo;
use shm::dgram::{dgram_dequeue, dgram_enqueue, dgram_peek_header, DgramHeader};

/// One operation.
#[derive(Debug, Arbitrary)]
pub enum Op {
    /// Enqueue a datagram of this length from this endpoint (IPv6 if `v6`).
    Enqueue { len: u16, ip: u32, port: u16, v6: bool },
    /// Dequeue into a buffer of this size.
    Dequeue(u16),
    /// Peek at the next header.
    Peek,
    /// Raw bytes into the fifo, as a hostile app would write them.
    Raw(Vec<u8>),
}

/// A run.
#[derive(Debug, Arbitrary)]
pub struct Input {
    size_log: u8,
    position: u32,
    ops: Vec<Op>,
}

fn byte(n: u64) -> u8 {
    (n.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8
}

/// Runs the operations.
pub fn run(input: &Input) {
    let size = 1u32 << (12 + input.size_log % 5);
    let heap = HeapFifo::new_at(size, input.position).expect("fifo");
    let mut model: VecDeque<(DgramHeader, u64)> = VecDeque::new();
    let mut raw = false;
    let mut serial = 0u64;
    let local = SocketAddr::new(Ipv4Addr::new(198, 18, 0, 2).into(), 7);
    for op in input.ops.iter().take(512) {
        let (mut p, f) = heap.ends();
        match op {
            Op::Enqueue { len, ip, port, v6 } => {
                let remote = if *v6 {
                    SocketAddr::new(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, (*ip >> 16) as u16, *ip as u16).into(), *port)
                } else {
                    SocketAddr::new(Ipv4Addr::from(*ip).into(), *port)
                };
                let hdr = DgramHeader { len: u32::from(*len), remote, local };
                let payload: Vec<u8> = (0..u64::from(*len)).map(|i| byte(serial * 65536 + i)).collect();
                let fits = p.max_enqueue() >= DgramHeader::SIZE + payload.len();
                let ok = dgram_enqueue(&mut p, &hdr, &payload);
                assert_eq!(ok, fits, "enqueue succeeds exactly when it fits");
                if ok {
                    model.push_back((hdr, serial));
                }
                serial += 1;
            }
            Op::Dequeue(n) => {
                let mut buf = vec![0u8; usize::from(*n)];
                let before = f.max_dequeue();
                let got = dgram_dequeue(&f, &mut buf);
                if let Some((h, copied)) = got {
                    assert!(copied <= buf.len() && copied <= h.len as usize);
                    assert_eq!(f.max_dequeue(), before - DgramHeader::SIZE - h.len as usize);
                }
                if raw {
                    continue;
                }
                match (got, model.pop_front()) {
                    (Some((h, copied)), Some((want, s))) => {
                        assert_eq!(h, want, "headers come out in order");
                        assert_eq!(copied, (h.len as usize).min(buf.len()));
                        for (i, &b) in buf[..copied].iter().enumerate() {
                            assert_eq!(b, byte(s * 65536 + i as u64), "payload byte {i}");
                        }
                    }
                    (None, None) => {}
                    (got, want) => panic!("dequeue {got:?}, model {want:?}"),
                }
            }
            Op::Peek => {
                let h = dgram_peek_header(&f);
                if let Some(h) = h {
                    assert!(f.max_dequeue() >= DgramHeader::SIZE + h.len as usize);
                }
                if !raw {
                    assert_eq!(h, model.front().map(|m| m.0));
                }
            }
            Op::Raw(bytes) => {
                p.enqueue(bytes);
                raw = true;
            }
        }
        assert_eq!(f.max_dequeue() + f.max_enqueue(), f.capacity());
    }
}
