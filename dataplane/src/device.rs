//! The DPDK side of `net`'s device interface: mbufs are its packet buffers,
//! [`Burst`] its bursts, and one worker's port queues ([`PortDevice`]) its
//! device, with a tx batch per port handed to the NIC a burst at a time.
//!
//! [`PortL3`] is a worker's L2/L3 as the node runs it: `net`'s [`L3`] over
//! the port queues, wrapped in fault injection (off unless configured).

use std::sync::Arc;

use crate::mbuf::{Burst, Mbuf, BURST};
use crate::mempool::Mempool;
use crate::port::PortQueue;
use net::capture::{Capture, Direction};
use net::device::{self, Device, PacketBuf};
use net::fault::FaultInjector;
use net::l3::counters::{Counter, Counters};
use net::l3::{L3, MAX_CHAIN_SEGMENTS};
use wire::offload::{RxCsum, TxCsumRequest};

/// A worker's L2/L3 over its port queues, with fault injection.
pub type PortL3 = L3<FaultInjector<PortDevice>>;

impl PacketBuf for Mbuf {
    #[inline]
    fn segments(&self) -> u16 {
        Mbuf::segments(self)
    }
    #[inline]
    fn len(&self) -> usize {
        Mbuf::len(self)
    }
    #[inline]
    fn tailroom(&self) -> usize {
        Mbuf::tailroom(self)
    }
    #[inline]
    fn pkt_len(&self) -> usize {
        Mbuf::pkt_len(self)
    }
    #[inline]
    fn tail_segments(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.segs().skip(1)
    }
    #[inline]
    fn segments_mut(&mut self) -> impl Iterator<Item = &mut [u8]> + '_ {
        self.segs_mut()
    }
    #[inline]
    fn chain(&mut self, tail: Mbuf) -> Result<(), Mbuf> {
        Mbuf::chain(self, tail)
    }
    #[inline]
    fn truncate(&mut self, len: usize) -> bool {
        Mbuf::truncate(self, len)
    }
    #[inline]
    fn data(&self) -> &[u8] {
        Mbuf::data(self)
    }
    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        Mbuf::data_mut(self)
    }
    #[inline]
    fn append(&mut self, len: usize) -> Option<&mut [u8]> {
        Mbuf::append(self, len)
    }
    #[inline]
    fn prepend(&mut self, len: usize) -> Option<&mut [u8]> {
        Mbuf::prepend(self, len)
    }
    #[inline]
    fn adj(&mut self, len: usize) -> bool {
        Mbuf::adj(self, len)
    }
    #[inline]
    fn trim(&mut self, len: usize) -> bool {
        Mbuf::trim(self, len)
    }
    #[inline]
    fn set_len(&mut self, len: usize) -> bool {
        Mbuf::set_len(self, len)
    }
    #[inline]
    fn reset(&mut self) {
        Mbuf::reset(self)
    }
    #[inline]
    fn nic_rss_hash(&self) -> Option<u32> {
        Mbuf::nic_rss_hash(self)
    }
    #[inline]
    fn rx_csum(&self) -> RxCsum {
        Mbuf::rx_csum(self)
    }
    #[inline]
    fn request_tx_csum(&mut self, l2_len: u16, req: TxCsumRequest) {
        Mbuf::request_tx_csum(self, l2_len, req)
    }
    #[inline]
    fn request_tso(&mut self, l2_len: u16, l3_len: u16, l4_len: u16, seg_size: u16) {
        Mbuf::request_tso(self, l2_len, l3_len, l4_len, seg_size)
    }
}

impl device::Burst<Mbuf> for Burst {
    const CAPACITY: usize = BURST;
    #[inline]
    fn len(&self) -> usize {
        Burst::len(self)
    }
    #[inline]
    fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        Burst::push(self, m)
    }
    #[inline]
    fn drain(&mut self) -> impl Iterator<Item = Mbuf> + '_ {
        Burst::drain(self)
    }
}

/// One worker's queue pair on every port (same order as the interfaces),
/// the mbuf pool it allocates from, and a tx batch per port.
pub struct PortDevice {
    pool: Arc<Mempool>,
    /// Large single-segment mbufs for TSO/GSO segments (only when some
    /// interface has TSO or GSO on).
    large: Option<Arc<Mempool>>,
    queues: Vec<PortQueue>,
    tx: Vec<Burst>,
    counters: Arc<Counters>,
    capture: Capture,
    /// Per port, frames at the front of the tx batch that the capture has
    /// seen already (the NIC refused them last time; they go again).
    tx_seen: Vec<usize>,
}

impl PortDevice {
    /// The device over `queues` (one per interface), allocating from
    /// `pool`, counting in `counters` (the worker's L2/L3 counters).
    pub fn new(pool: Arc<Mempool>, queues: Vec<PortQueue>, counters: Arc<Counters>) -> PortDevice {
        let tx = (0..queues.len()).map(|_| Burst::default()).collect();
        let tx_seen = vec![0; queues.len()];
        PortDevice { pool, large: None, queues, tx, counters, capture: Capture::off(), tx_seen }
    }

    /// Allocate large segments (TSO/GSO) from `pool`.
    pub fn set_large_pool(&mut self, pool: Arc<Mempool>) {
        self.large = Some(pool);
    }

    /// The mbuf pool.
    pub fn pool(&self) -> &Mempool {
        &self.pool
    }

    fn flush_iface(&mut self, iface: usize, now: u64) {
        if self.capture.tx_on() {
            for m in self.tx[iface].iter().skip(self.tx_seen[iface]) {
                take(&mut self.capture, now, iface, Direction::Tx, m);
            }
        }
        let s = self.queues[iface].send(&mut self.tx[iface]);
        self.tx_seen[iface] = self.tx[iface].len();
        self.counters.add(Counter::TxPackets, s.sent as u64);
        if s.dropped > 0 {
            // The port is down (or has no ring for this queue): the frames
            // were freed, not kept for a link that may not come back.
            self.counters.add(Counter::TxLinkDown, s.dropped as u64);
        }
    }
}

/// Capture a frame whole, a chain's segments too (capture is on: the
/// slow path, so gathering the pieces costs nothing that matters).
fn take(capture: &mut Capture, now: u64, iface: usize, dir: Direction, m: &Mbuf) {
    if m.segments() == 1 {
        return capture.take(now, iface, dir, m.data(), "");
    }
    let mut parts: [&[u8]; MAX_CHAIN_SEGMENTS] = [&[]; MAX_CHAIN_SEGMENTS];
    let mut n = 0;
    for s in m.segs().take(MAX_CHAIN_SEGMENTS) {
        parts[n] = s;
        n += 1;
    }
    capture.take_parts(now, iface, dir, &parts[..n], "");
}

impl Device for PortDevice {
    type Buf = Mbuf;
    type Burst = Burst;

    #[inline]
    fn interfaces(&self) -> usize {
        self.queues.len()
    }

    #[inline]
    fn queue(&self, iface: usize) -> u16 {
        self.queues[iface].queue()
    }

    #[inline]
    fn alloc(&mut self) -> Option<Mbuf> {
        self.pool.alloc()
    }

    #[inline]
    fn alloc_large(&mut self) -> Option<Mbuf> {
        self.large.as_ref()?.alloc()
    }

    #[inline]
    fn copy(&mut self, m: &Mbuf) -> Option<Mbuf> {
        m.copy(&self.pool)
    }

    #[inline]
    fn rx(&mut self, iface: usize, b: &mut Burst, max: usize, now: u64) -> usize {
        let n = self.queues[iface].rx_max(b, max);
        self.counters.add(Counter::RxPackets, n as u64);
        if self.capture.rx_on() {
            for m in b.iter() {
                take(&mut self.capture, now, iface, Direction::Rx, m);
            }
        }
        n
    }

    #[inline]
    fn tx_push(&mut self, iface: usize, m: Mbuf, now: u64) {
        if self.tx[iface].is_full() {
            self.flush_iface(iface, now);
        }
        if self.tx[iface].push(m).is_err() {
            self.counters.inc(Counter::TxQueueFull);
        }
    }

    #[inline]
    fn tx_ready(&mut self, iface: usize) -> bool {
        if !self.tx[iface].is_full() {
            return true;
        }
        // The clock is read only for a capture (its frames' time).
        let now = if self.capture.tx_on() { net::control::worker::now_ns() } else { 0 };
        self.flush_iface(iface, now);
        !self.tx[iface].is_full()
    }

    #[inline]
    fn flush(&mut self, now: u64) {
        for iface in 0..self.tx.len() {
            if !self.tx[iface].is_empty() {
                self.flush_iface(iface, now);
            }
        }
    }

    #[inline]
    fn capture(&mut self) -> &mut Capture {
        &mut self.capture
    }
}

/// Worker `worker`'s L2/L3 over `queues` (one per interface, same order),
/// allocating from `pool`, counting in `counters`, fault injection off.
pub fn port_l3(
    worker: usize,
    pool: Arc<Mempool>,
    queues: Vec<PortQueue>,
    counters: Arc<Counters>,
    arp: net::arp_cache::ArpConfig,
) -> PortL3 {
    let dev = FaultInjector::new(PortDevice::new(pool, queues, counters.clone()), worker);
    L3::new(worker, dev, counters, arp)
}
