//! Ethernet ports: configuration, queues, link state and statistics.
//!
//! A port gets one RX and one TX queue per worker. With more than one queue
//! and a PMD that can hash, RSS is enabled with the node's Toeplitz key and
//! a round-robin redirection table, so a flow always lands on one worker.
//! Queue handles ([`PortQueue`]) are handed out once each, so two threads can
//! never poll the same queue.

use std::ffi::{CStr, CString};

use dpdk_sys as sys;

use crate::eal::strerror;
use crate::mbuf::{Burst, BURST};
use crate::mempool::Mempool;

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
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig { queues: 1, rx_desc: 1024, tx_desc: 1024, mtu: None }
    }
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

/// A configured and started port.
pub struct Port {
    id: u16,
    name: String,
    driver: String,
    mac: [u8; 6],
    queues: u16,
    rss: bool,
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
        let mut key = RSS_KEY;
        // SAFETY: pure constant getters.
        let (want_hf, mq_rss) = unsafe { (sys::dpn_rss_hf_ip_tcp_udp(), sys::dpn_mq_mode_rss()) };
        let rss = cfg.queues > 1 && (info.flow_type_rss_offloads & want_hf) != 0;
        if rss {
            conf.rxmode.mq_mode = mq_rss as _;
            conf.rx_adv_conf.rss_conf.rss_key = key.as_mut_ptr();
            conf.rx_adv_conf.rss_conf.rss_key_len = key.len() as u8;
            conf.rx_adv_conf.rss_conf.rss_hf = want_hf & info.flow_type_rss_offloads;
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
        Ok(Port {
            id,
            name: name.to_string(),
            driver,
            mac: mac.addr_bytes,
            queues: cfg.queues,
            rss,
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

    /// The queue handles, one per worker; can be taken once.
    pub fn take_queues(&mut self) -> Vec<PortQueue> {
        assert!(!self.handed_out, "queues of port {} already handed out", self.id);
        self.handed_out = true;
        (0..self.queues).map(|q| PortQueue { port: self.id, queue: q }).collect()
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
        debug_assert!(b.is_empty());
        // SAFETY: this handle is the only user of (port, queue); the burst has
        // room for BURST pointers, which rx_burst fills with owned mbufs.
        let n = unsafe { sys::dpn_rx_burst(self.port, self.queue, b.raw_mut().as_mut_ptr(), BURST as u16) };
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
