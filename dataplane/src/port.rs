//! Ethernet ports: configuration, queues, link state and statistics.
//!
//! A port gets one RX and one TX queue per worker. With more than one queue
//! and a PMD that can hash, RSS is enabled with the node's Toeplitz key and
//! a round-robin redirection table, so a flow always lands on one worker;
//! the key and table the NIC ends up with (read back when the PMD allows)
//! are kept as an [`RssTable`] so software can predict where a flow lands.
//! Every checksum offload the PMD has (IPv4/UDP/TCP on tx, checksum
//! verification on rx) is enabled and recorded ([`Port::offloads`]).
//! Queue handles ([`PortQueue`]) are handed out once each, so two threads can
//! never poll the same queue.

use std::ffi::{CStr, CString};
use std::sync::Arc;

use dpdk_sys as sys;

use crate::eal::strerror;
use crate::mbuf::{Burst, BURST};
use crate::mempool::Mempool;
use crate::offload::{CsumSet, Offloads};
use crate::rss::{Reta, RssTable, KEY_LEN};

/// The 40-byte Toeplitz key the node programs (the well-known default key
/// used by many NIC drivers, so software hashes match published vectors).
pub const RSS_KEY: [u8; 40] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b,
    0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac,
    0x01, 0xfa,
];

/// Errors from port set-up.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// No port by that device name.
    #[error("no DPDK port named {0:?} (is its vdev/PCI address given to the EAL?)")]
    NotFound(String),
    /// A DPDK call failed.
    #[error("port {port}: {op} failed: {reason}")]
    Dpdk {
        /// Port id.
        port: u16,
        /// The operation.
        op: &'static str,
        /// DPDK's reason.
        reason: String,
    },
    /// The PMD cannot give that many queues.
    #[error("port {port}: needs {wanted} queues but the PMD allows {max}")]
    TooManyQueues {
        /// Port id.
        port: u16,
        /// Requested.
        wanted: u16,
        /// Allowed.
        max: u16,
    },
}

/// How to set a port up.
#[derive(Debug, Clone)]
pub struct PortConfig {
    /// RX/TX queue pairs (one per worker).
    pub queues: u16,
    /// RX descriptors per queue.
    pub rx_desc: u16,
    /// TX descriptors per queue.
    pub tx_desc: u16,
    /// MTU to set, if any.
    pub mtu: Option<u16>,
    /// Enable the checksum offloads the PMD has.
    pub checksum_offload: bool,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig { queues: 1, rx_desc: 1024, tx_desc: 1024, mtu: None, checksum_offload: true }
    }
}

/// Where a port's redirection table came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetaSource {
    /// RSS is off (one queue, or a PMD that cannot hash).
    Off,
    /// The node programmed it (round robin) and the PMD confirmed it.
    Programmed,
    /// The PMD refused to take one but reported its own.
    Queried,
    /// RSS is on but the PMD neither takes nor reports a table (e.g.
    /// net_tap, where the kernel picks the queue): software cannot predict
    /// the queue of a flow.
    Unknown,
}

/// What workers need to know about a port's NIC: checksum offloads and,
/// when RSS spreads flows predictably, the hash key and table.
#[derive(Debug, Clone, Default)]
pub struct PortCaps {
    /// Enabled checksum offloads.
    pub offloads: Offloads,
    /// The NIC's RSS key and table (`None`: one queue, RSS off, or
    /// unpredictable; any local port is as good as another).
    pub rss: Option<Arc<RssTable>>,
    /// The port's MTU (IP datagram bytes): input drops longer frames.
    pub mtu: u16,
}

/// Link state of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// Link up.
    pub up: bool,
    /// Speed in Mbit/s (0 if unknown).
    pub speed_mbps: u32,
    /// Full duplex.
    pub full_duplex: bool,
}

/// Port statistics as the PMD reports them.
#[derive(Debug, Clone, Copy, Default)]
pub struct PortStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets the NIC dropped for lack of rx descriptors.
    pub rx_missed: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Transmit errors.
    pub tx_errors: u64,
    /// Mbuf allocation failures on receive.
    pub rx_nombuf: u64,
}

/// The MTU assumed when a PMD cannot report its own (Ethernet's).
pub const DEFAULT_MTU: u16 = 1500;

/// A configured and started port.
pub struct Port {
    id: u16,
    name: String,
    driver: String,
    mac: [u8; 6],
    queues: u16,
    rss: bool,
    reta_source: RetaSource,
    rss_table: Option<Arc<RssTable>>,
    offloads: Offloads,
    mtu: u16,
    handed_out: bool,
    started: bool,
}

fn check(port: u16, op: &'static str, rc: i32) -> Result<(), PortError> {
    if rc < 0 {
        Err(PortError::Dpdk { port, op, reason: strerror(rc) })
    } else {
        Ok(())
    }
}

impl Port {
    /// Find the port the EAL created for device `name` (e.g. `net_tap0`).
    pub fn lookup(name: &str) -> Result<u16, PortError> {
        let c = CString::new(name).map_err(|_| PortError::NotFound(name.into()))?;
        let mut id = 0u16;
        // SAFETY: c is a valid string, id a valid out pointer.
        let rc = unsafe { sys::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id) };
        if rc < 0 {
            return Err(PortError::NotFound(name.into()));
        }
        Ok(id)
    }

    /// Configure port `id` with `cfg`, set its queues up on `pool`, and
    /// start it.
    pub fn start(id: u16, name: &str, cfg: &PortConfig, pool: &Mempool) -> Result<Port, PortError> {
        // SAFETY: zeroed dev_info is a valid out struct.
        let mut info: sys::rte_eth_dev_info = unsafe { std::mem::zeroed() };
        // SAFETY: valid port id (from lookup) and out pointer.
        check(id, "dev_info_get", unsafe { sys::rte_eth_dev_info_get(id, &mut info) })?;
        let max = info.max_rx_queues.min(info.max_tx_queues);
        if cfg.queues > max {
            return Err(PortError::TooManyQueues { port: id, wanted: cfg.queues, max });
        }
        let driver = if info.driver_name.is_null() {
            String::from("?")
        } else {
            // SAFETY: the PMD's static driver name.
            unsafe { CStr::from_ptr(info.driver_name) }.to_string_lossy().into_owned()
        };
        let mut conf = sys::rte_eth_conf::default();
        // Some NICs take a longer key (e.g. 52 bytes); the bytes past ours
        // only matter for inputs longer than an IPv6 4-tuple, so pad with 0.
        let key_len = (info.hash_key_size as usize).max(KEY_LEN);
        let mut key = vec![0u8; key_len];
        key[..KEY_LEN].copy_from_slice(&RSS_KEY);
        // SAFETY: pure constant getters.
        let (want_hf, mq_rss) = unsafe { (sys::dpn_rss_hf_ip_tcp_udp(), sys::dpn_mq_mode_rss()) };
        let rss = cfg.queues > 1 && (info.flow_type_rss_offloads & want_hf) != 0;
        let rss_hf = want_hf & info.flow_type_rss_offloads;
        if rss {
            conf.rxmode.mq_mode = mq_rss as _;
            conf.rx_adv_conf.rss_conf.rss_key = key.as_mut_ptr();
            conf.rx_adv_conf.rss_conf.rss_key_len = key_len as u8;
            conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
        }
        let offloads = if cfg.checksum_offload { offload_caps(&info) } else { Offloads::default() };
        conf.txmode.offloads = offload_bits(offloads).0;
        conf.rxmode.offloads = offload_bits(offloads).1;
        // Have the NIC's hash delivered in the mbuf when it can, so software
        // need not recompute it (Mbuf::nic_rss_hash).
        // SAFETY: pure constant getter.
        let rss_hash = unsafe { sys::dpn_rx_offload_rss_hash() };
        if rss && info.rx_offload_capa & rss_hash != 0 {
            conf.rxmode.offloads |= rss_hash;
        }
        // SAFETY: valid port, conf lives across the call (DPDK copies it).
        check(id, "dev_configure", unsafe { sys::rte_eth_dev_configure(id, cfg.queues, cfg.queues, &conf) })?;
        if let Some(mtu) = cfg.mtu {
            // SAFETY: valid configured port.
            check(id, "set_mtu", unsafe { sys::rte_eth_dev_set_mtu(id, mtu) })?;
        }
        // SAFETY: valid port.
        let socket = unsafe { sys::rte_eth_dev_socket_id(id) }.max(0) as u32;
        for q in 0..cfg.queues {
            // SAFETY: valid port/queue, default rx/tx conf (NULL), pool alive
            // for as long as the port (the node drops ports first).
            check(id, "rx_queue_setup", unsafe {
                sys::rte_eth_rx_queue_setup(id, q, cfg.rx_desc, socket, std::ptr::null(), pool.as_ptr())
            })?;
            // SAFETY: as above.
            check(id, "tx_queue_setup", unsafe {
                sys::rte_eth_tx_queue_setup(id, q, cfg.tx_desc, socket, std::ptr::null())
            })?;
        }
        // SAFETY: valid configured port.
        check(id, "dev_start", unsafe { sys::rte_eth_dev_start(id) })?;
        // Promiscuous mode is best effort (not every PMD has it).
        // SAFETY: valid started port.
        unsafe { sys::rte_eth_promiscuous_enable(id) };
        let mut mac = sys::rte_ether_addr::default();
        // SAFETY: valid port and out pointer.
        check(id, "macaddr_get", unsafe { sys::rte_eth_macaddr_get(id, &mut mac) })?;
        let mut mtu = 0u16;
        // SAFETY: valid started port and out pointer.
        if unsafe { sys::rte_eth_dev_get_mtu(id, &mut mtu) } != 0 || mtu == 0 {
            mtu = cfg.mtu.unwrap_or(DEFAULT_MTU);
        }
        let (reta_source, rss_table) = if rss {
            rss_table_setup(id, info.reta_size, cfg.queues, key_len, rss_hf)
        } else {
            (RetaSource::Off, None)
        };
        Ok(Port {
            id,
            name: name.to_string(),
            driver,
            mac: mac.addr_bytes,
            queues: cfg.queues,
            rss,
            reta_source,
            rss_table,
            offloads,
            mtu,
            handed_out: false,
            started: true,
        })
    }

    /// Port id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// Device name (e.g. `net_tap0`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// PMD driver name.
    pub fn driver(&self) -> &str {
        &self.driver
    }

    /// MAC address bytes.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// Queue pairs configured.
    pub fn queues(&self) -> u16 {
        self.queues
    }

    /// Whether RSS spreads flows over the queues.
    pub fn rss(&self) -> bool {
        self.rss
    }

    /// The RSS key and redirection table the NIC uses, when software can
    /// predict the queue of a flow (see [`RetaSource`]).
    pub fn rss_table(&self) -> Option<&Arc<RssTable>> {
        self.rss_table.as_ref()
    }

    /// Where the redirection table came from.
    pub fn reta_source(&self) -> RetaSource {
        self.reta_source
    }

    /// The checksum offloads enabled on this port.
    pub fn offloads(&self) -> Offloads {
        self.offloads
    }

    /// What a worker needs to know about this port (copied into its `Io`).
    pub fn caps(&self) -> PortCaps {
        PortCaps { offloads: self.offloads, rss: self.rss_table.clone(), mtu: self.mtu }
    }

    /// The queue handles, one per worker; can be taken once.
    pub fn take_queues(&mut self) -> Vec<PortQueue> {
        assert!(!self.handed_out, "queues of port {} already handed out", self.id);
        self.handed_out = true;
        (0..self.queues).map(|q| PortQueue { port: self.id, queue: q }).collect()
    }

    /// The MTU the port runs with (as the PMD reports it).
    pub fn mtu(&self) -> u16 {
        self.mtu
    }

    /// Current link state.
    pub fn link(&self) -> Link {
        link(self.id)
    }

    /// Current statistics.
    pub fn stats(&self) -> PortStats {
        stats(self.id)
    }

    /// Stop the port (idempotent); workers must not poll it any more.
    pub fn stop(&mut self) {
        if self.started {
            // SAFETY: valid started port; workers have been joined.
            unsafe {
                sys::rte_eth_dev_stop(self.id);
                sys::rte_eth_dev_close(self.id);
            }
            self.started = false;
        }
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The checksum offloads the PMD has among those the node uses.
fn offload_caps(info: &sys::rte_eth_dev_info) -> Offloads {
    // SAFETY: pure constant getters.
    let (t_ip, t_udp, t_tcp, r_ip, r_udp, r_tcp) = unsafe {
        (
            sys::dpn_tx_offload_ipv4_cksum(),
            sys::dpn_tx_offload_udp_cksum(),
            sys::dpn_tx_offload_tcp_cksum(),
            sys::dpn_rx_offload_ipv4_cksum(),
            sys::dpn_rx_offload_udp_cksum(),
            sys::dpn_rx_offload_tcp_cksum(),
        )
    };
    let (tx, rx) = (info.tx_offload_capa, info.rx_offload_capa);
    Offloads {
        tx: CsumSet { ip4: tx & t_ip != 0, udp: tx & t_udp != 0, tcp: tx & t_tcp != 0 },
        rx: CsumSet { ip4: rx & r_ip != 0, udp: rx & r_udp != 0, tcp: rx & r_tcp != 0 },
    }
}

/// The `txmode.offloads` and `rxmode.offloads` bits for `o`.
fn offload_bits(o: Offloads) -> (u64, u64) {
    // SAFETY: pure constant getters.
    unsafe {
        let bit = |on: bool, v: u64| if on { v } else { 0 };
        (
            bit(o.tx.ip4, sys::dpn_tx_offload_ipv4_cksum())
                | bit(o.tx.udp, sys::dpn_tx_offload_udp_cksum())
                | bit(o.tx.tcp, sys::dpn_tx_offload_tcp_cksum()),
            bit(o.rx.ip4, sys::dpn_rx_offload_ipv4_cksum())
                | bit(o.rx.udp, sys::dpn_rx_offload_udp_cksum())
                | bit(o.rx.tcp, sys::dpn_rx_offload_tcp_cksum()),
        )
    }
}

/// Program a round-robin redirection table on a started port with RSS on,
/// then read back what the NIC uses (key and table), so software agrees
/// with it. A PMD that takes no table but reports one is believed; one that
/// does neither leaves the queue of a flow unpredictable.
fn rss_table_setup(
    id: u16,
    reta_size: u16,
    queues: u16,
    key_len: usize,
    rss_hf: u64,
) -> (RetaSource, Option<Arc<RssTable>>) {
    if reta_size == 0 {
        return (RetaSource::Unknown, None);
    }
    let group = sys::RTE_ETH_RETA_GROUP_SIZE as usize;
    let size = reta_size as usize;
    let mut conf = vec![sys::rte_eth_rss_reta_entry64::default(); size.div_ceil(group)];
    let wanted = Reta::round_robin(size, queues);
    for (i, &q) in wanted.entries().iter().enumerate() {
        conf[i / group].mask |= 1 << (i % group);
        conf[i / group].reta[i % group] = q;
    }
    // SAFETY: valid started port; conf holds reta_size entries with masks.
    let programmed = unsafe { sys::rte_eth_dev_rss_reta_update(id, conf.as_mut_ptr(), reta_size) } == 0;
    for (i, c) in conf.iter_mut().enumerate() {
        let n = (size - i * group).min(group);
        c.mask = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
        c.reta = [0; 64];
    }
    // SAFETY: as above; the query writes the masked entries.
    let queried = unsafe { sys::rte_eth_dev_rss_reta_query(id, conf.as_mut_ptr(), reta_size) } == 0;
    let reta = match (programmed, queried) {
        (_, true) => Reta::from_entries((0..size).map(|i| conf[i / group].reta[i % group]).collect()),
        (true, false) => wanted,
        (false, false) => return (RetaSource::Unknown, None),
    };
    let source = if programmed { RetaSource::Programmed } else { RetaSource::Queried };
    // The key and hash types the NIC uses, if it tells; else what we gave.
    let mut key = vec![0u8; key_len];
    let mut rc = sys::rte_eth_rss_conf { rss_key: key.as_mut_ptr(), rss_key_len: key_len as u8, rss_hf: 0 };
    // SAFETY: valid port; rss_key points at key_len writable bytes.
    let got = unsafe { sys::rte_eth_dev_rss_hash_conf_get(id, &mut rc) } == 0;
    let (key40, hf) = if got && rc.rss_key_len as usize >= KEY_LEN {
        let mut k = [0u8; KEY_LEN];
        k.copy_from_slice(&key[..KEY_LEN]);
        (k, if rc.rss_hf != 0 { rc.rss_hf } else { rss_hf })
    } else {
        (RSS_KEY, rss_hf)
    };
    // SAFETY: pure constant getters.
    let (tcp, udp) = unsafe { (sys::dpn_rss_hf_nonfrag_ipv4_tcp(), sys::dpn_rss_hf_nonfrag_ipv4_udp()) };
    let table = RssTable::new(&key40, reta, queues, hf & tcp != 0, hf & udp != 0);
    (source, Some(Arc::new(table)))
}

/// Link state of port `id` (usable from any thread).
pub fn link(id: u16) -> Link {
    let mut l = sys::rte_eth_link::default();
    // SAFETY: out pointer valid; an invalid port leaves it zeroed.
    unsafe { sys::rte_eth_link_get_nowait(id, &mut l) };
    Link { up: l.link_status() != 0, speed_mbps: l.link_speed, full_duplex: l.link_duplex() != 0 }
}

/// Statistics of port `id` (usable from any thread).
pub fn stats(id: u16) -> PortStats {
    let mut s = sys::rte_eth_stats::default();
    // SAFETY: out pointer valid.
    unsafe { sys::rte_eth_stats_get(id, &mut s) };
    PortStats {
        rx_packets: s.ipackets,
        tx_packets: s.opackets,
        rx_bytes: s.ibytes,
        tx_bytes: s.obytes,
        rx_missed: s.imissed,
        rx_errors: s.ierrors,
        tx_errors: s.oerrors,
        rx_nombuf: s.rx_nombuf,
    }
}

/// One RX + TX queue pair of a port, owned by one worker.
#[derive(Debug)]
pub struct PortQueue {
    port: u16,
    queue: u16,
}

impl PortQueue {
    /// Port id.
    #[inline]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Queue index.
    #[inline]
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Receive up to a burst into `b` (which must be empty); returns the count.
    #[inline]
    pub fn rx(&mut self, b: &mut Burst) -> usize {
        self.rx_max(b, BURST)
    }

    /// Receive at most `max` (capped at a burst) packets into `b` (which
    /// must be empty); returns the count.
    #[inline]
    pub fn rx_max(&mut self, b: &mut Burst, max: usize) -> usize {
        debug_assert!(b.is_empty());
        let max = max.min(BURST) as u16;
        // SAFETY: this handle is the only user of (port, queue); the burst has
        // room for BURST >= max pointers, which rx_burst fills with owned mbufs.
        let n = unsafe { sys::dpn_rx_burst(self.port, self.queue, b.raw_mut().as_mut_ptr(), max) };
        b.set_len(n as usize);
        n as usize
    }

    /// Transmit what `b` holds; sent mbufs leave the burst, unsent stay at its
    /// front. Returns the number sent.
    #[inline]
    pub fn tx(&mut self, b: &mut Burst) -> usize {
        if b.is_empty() {
            return 0;
        }
        let raw = b.raw();
        // SAFETY: sole user of this tx queue; tx_burst takes ownership of the
        // first n mbufs, which we then forget by consuming them from the burst.
        let n = unsafe { sys::dpn_tx_burst(self.port, self.queue, raw.as_ptr() as *mut _, raw.len() as u16) };
        b.consume_front(n as usize);
        n as usize
    }
}
