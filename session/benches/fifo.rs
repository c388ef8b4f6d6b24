//! Fifo throughput between two threads.
//!
//! A producer thread enqueues fixed-size chunks into a 1 MiB fifo in a memfd
//! segment while a consumer thread dequeues them, for chunk sizes that stand
//! for small messages (64 B), one MTU-sized segment (1500 B) and a TSO-sized
//! burst (16 KiB). Criterion reports bytes per second moved end to end. An
//! idle side backs off (spin, then yield), so the numbers also hold on a
//! machine with fewer free cores than threads, at some cost. Each size runs
//! with borrowed ends (`FifoProducer`/`FifoConsumer`) and with the ends
//! sessions keep (`MappedProducer`/`MappedConsumer`, which hold the segment's
//! mapping), which must be as fast.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use crossbeam_utils::Backoff;
use session::fifo::{FifoConsumer, FifoProducer};
use session::segment::{FifoPair, MappedConsumer, MappedProducer, SegmentManager, SegmentManagerConfig};

const FIFO_SIZE: u32 = 1 << 20;
const BYTES_PER_ITER: u64 = 4 << 20;

/// A producer end that can move to the other thread.
trait Producer: Send {
    fn end(&self) -> &FifoProducer<'_>;
}

/// A consumer end that can move to the other thread.
trait Consumer: Send {
    fn end(&self) -> &FifoConsumer<'_>;
}

impl Producer for FifoProducer<'_> {
    fn end(&self) -> &FifoProducer<'_> {
        self
    }
}

impl Producer for MappedProducer {
    fn end(&self) -> &FifoProducer<'_> {
        self
    }
}

impl Consumer for FifoConsumer<'_> {
    fn end(&self) -> &FifoConsumer<'_> {
        self
    }
}

impl Consumer for MappedConsumer {
    fn end(&self) -> &FifoConsumer<'_> {
        self
    }
}

/// The pair's rx fifo as its two ends, borrowed or mapped.
fn transfer(mgr: &SegmentManager, pair: FifoPair, mapped: bool, chunk: usize, total: u64) -> Duration {
    if mapped {
        let seg = mgr.segment(pair.rx.segment).unwrap();
        // SAFETY: the producer end is used only by the producer thread, the
        // consumer end only by the consumer thread.
        let ends = unsafe {
            (seg.mapped_producer(pair.rx.offset, pair.rx.size), seg.mapped_consumer(pair.rx.offset, pair.rx.size))
        };
        move_bytes(ends.0.unwrap(), ends.1.unwrap(), chunk, total)
    } else {
        // SAFETY: as above.
        let views = unsafe { (pair.rx.fifo(mgr), pair.rx.fifo(mgr)) };
        move_bytes(views.0.unwrap().into_producer(), views.1.unwrap().into_consumer(), chunk, total)
    }
}

/// Moves `total` bytes from `producer` to `consumer` in `chunk`-byte operations; returns the time taken.
fn move_bytes(producer: impl Producer, consumer: impl Consumer, chunk: usize, total: u64) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        s.spawn(move || {
            let data = vec![0xa5; chunk];
            let backoff = Backoff::new();
            let mut sent = 0;
            while sent < total {
                let len = chunk.min((total - sent) as usize);
                match producer.end().enqueue(&data[..len]) {
                    0 => backoff.snooze(),
                    n => {
                        sent += n as u64;
                        backoff.reset();
                    }
                }
            }
        });
        let mut buf = vec![0; chunk];
        let backoff = Backoff::new();
        let mut received = 0;
        while received < total {
            match consumer.end().dequeue(&mut buf) {
                0 => backoff.snooze(),
                n => {
                    received += n as u64;
                    backoff.reset();
                }
            }
        }
    });
    start.elapsed()
}

fn fifo_two_threads(c: &mut Criterion) {
    let cfg = SegmentManagerConfig {
        segment_size: 4 << 20,
        add_segment_size: 0,
        rx_fifo_size: FIFO_SIZE,
        tx_fifo_size: 4096,
        ..SegmentManagerConfig::default()
    };
    let mut mgr = SegmentManager::new(cfg).expect("segment manager");
    let pair = mgr.alloc_fifo_pair().expect("fifo pair");
    let mut group = c.benchmark_group("fifo_1MiB_two_threads");
    group.throughput(Throughput::Bytes(BYTES_PER_ITER));
    for chunk in [64, 1500, 16384] {
        for (name, mapped) in [("borrowed", false), ("mapped", true)] {
            group.bench_with_input(BenchmarkId::new(name, chunk), &chunk, |b, &chunk| {
                b.iter_custom(|iters| transfer(&mgr, pair, mapped, chunk, iters * BYTES_PER_ITER));
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = fifo_two_threads
}
criterion_main!(benches);
