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
//!
//! Peers restart, and virtual devices come and go; a port survives that by
//! construction. Every port has a gate ([`PortLink`]) that its queues read
//! once per burst (one Acquire load): closed, a queue touches nothing of
//! the device (rx gives nothing, tx frees the frames and says how many),
//! and the main thread closes it, then waits out a [`GracePeriod`], before
//! anything the bursts use may go away. [`Port::supervise`] (main thread)
//! opens and closes the gate with the link and recovers what can be
//! recovered; per device:
//!
//! - memif: our own implementation ([`crate::memif`]); its memory goes away
//!   only after the gate closed and a grace period passed.
//! - net_vhost: DPDK's vhost thread unmaps the guest's memory right after
//!   it raises the link-down event; our event callback closes the gate and
//!   waits out a grace period on that thread, before the unmap.
//! - virtio_user (client mode): a dead backend leaves the device useless
//!   (22.11 has no reconnect in client mode), so it is removed and probed
//!   again, from the main thread with the gate closed, until a backend
//!   answers. Server mode reconnects in place, on DPDK's threads, while the
//!   data path runs: refused.
//! - net_tap: a deleted kernel interface leaves the queues' descriptors
//!   detached; the port is removed and probed again (same name and MAC).

use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dpdk_sys as sys;

use crate::eal::strerror;
use crate::mbuf::{Burst, BURST};
use crate::memif::{MemifError, MemifEvent, MemifPort, MemifQueue, MemifStats};
use crate::mempool::Mempool;
use net::control::barrier::GracePeriod;
use net::l3::PortCaps;
use wire::offload::{CsumSet, Offloads};
use wire::rss::{Reta, RssTable, KEY_LEN, RSS_KEY};

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
    /// A memif port.
    #[error(transparent)]
    Memif(#[from] MemifError),
    /// A device setting the node refuses.
    #[error("{0}")]
    Unsupported(String),
}

/// The gate bit of [`PortLink`]'s word.
const OPEN: u32 = 1 << 31;
/// Generation bits (bumped by every open and close).
const GEN: u32 = 0x7fff << 16;

/// A port's gate, shared by the port (main thread) and its queues
/// (workers): whether the queues may touch the device, and which ethdev
/// port id they use. One word: open bit, a generation (so a queue notices a
/// new connection or a re-probed device), the port id.
#[derive(Debug)]
pub struct PortLink {
    word: AtomicU32,
}

impl PortLink {
    fn new(open: bool, port: u16) -> PortLink {
        PortLink { word: AtomicU32::new(if open { OPEN } else { 0 } | port as u32) }
    }

    fn next(w: u32, open: bool, port: u16) -> u32 {
        let gen = (w & GEN).wrapping_add(1 << 16) & GEN;
        gen | if open { OPEN } else { 0 } | port as u32
    }

    /// Whether the queues may use the device.
    pub fn is_open(&self) -> bool {
        self.word.load(Ordering::Acquire) & OPEN != 0
    }

    /// Open the gate on ethdev port `port` (Release: what was set up before
    /// is visible to a queue that sees it open).
    pub fn open(&self, port: u16) {
        let _ = self.word.fetch_update(Ordering::SeqCst, Ordering::Relaxed, |w| Some(Self::next(w, true, port)));
    }

    /// Open the gate only if it still holds `seen` (nobody closed it since
    /// the caller looked at the link); true if it opened.
    pub fn open_from(&self, seen: u32, port: u16) -> bool {
        self.word.compare_exchange(seen, Self::next(seen, true, port), Ordering::SeqCst, Ordering::Relaxed).is_ok()
    }

    /// Close the gate; true if it was open. Queues stop touching the device
    /// from their next burst on; the caller waits out a [`GracePeriod`]
    /// before anything a burst in progress might use goes away.
    pub fn close(&self) -> bool {
        let old = self.word.fetch_update(Ordering::SeqCst, Ordering::Relaxed, |w| Some(Self::next(w, false, w as u16)));
        old.is_ok_and(|w| w & OPEN != 0)
    }

    /// The word (for [`PortLink::open_from`]).
    pub fn word(&self) -> u32 {
        self.word.load(Ordering::Acquire)
    }
}

/// What [`PortQueue::send`] did with a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sent {
    /// Frames the device took.
    pub sent: usize,
    /// Frames freed because the port's link is down (or has no ring for
    /// this queue).
    pub dropped: usize,
}

/// A change of a port's link, from [`Port::supervise`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkChange {
    /// Up now.
    pub up: bool,
    /// What happened (the peer, or why the link went down).
    pub reason: String,
}

/// How a port comes back when its device is gone.
#[derive(Debug, Clone)]
enum Recovery {
    /// Nothing to do: the gate follows the link.
    None,
    /// net_tap: re-probe when the kernel interface disappears.
    Tap { ifname: String, ifindex: u32 },
    /// virtio_user (client mode): re-probe when the backend goes away.
    VirtioUser,
}

/// A DPDK ethdev port's recovery state.
struct Ethdev {
    /// `name,args` for hotplug, `None` when the device cannot be re-probed.
    vdev: Option<(String, String)>,
    cfg: PortConfig,
    pool: Option<Arc<Mempool>>,
    recovery: Recovery,
    /// The device was removed; probe again at `next_try`, backing off.
    removed: bool,
    next_try: Instant,
    backoff: Duration,
    /// Why re-probing fails (logged once per reason).
    last_error: String,
    /// The vhost link-event callback's context (freed when the port closes).
    lsc: Option<*mut LscCtx>,
    /// The link state last reported (the event callback may close the gate
    /// without the main thread seeing it happen).
    reported_up: bool,
}

enum Backend {
    Ethdev(Ethdev),
    Memif(Box<MemifPort>),
}

/// What the net_vhost link-event callback needs.
struct LscCtx {
    link: Arc<PortLink>,
    grace: GracePeriod,
}

/// Re-probes of a removed device start this soon after it went away and
/// back off (doubling) up to `REPROBE_MAX`: a peer that restarts is picked
/// up at once, one that stays away costs five probes a second.
const REPROBE_MIN: Duration = Duration::from_millis(10);
const REPROBE_MAX: Duration = Duration::from_millis(200);

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
    /// TCP segmentation offload.
    pub tso: TsoMode,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig { queues: 1, rx_desc: 1024, tx_desc: 1024, mtu: None, checksum_offload: true, tso: TsoMode::Off }
    }
}

/// Whether a port's NIC cuts large TCP segments (`[[interface]] tso`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TsoMode {
    /// Never (the default).
    #[default]
    Off,
    /// When the PMD offers `RTE_ETH_TX_OFFLOAD_TCP_TSO` (and TCP checksum
    /// offload, which TSO needs).
    Auto,
    /// Required: the port fails to start without it.
    On,
}

impl std::str::FromStr for TsoMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(TsoMode::Off),
            "auto" => Ok(TsoMode::Auto),
            "on" => Ok(TsoMode::On),
            _ => Err(format!("{s:?} is not one of \"auto\", \"on\", \"off\"")),
        }
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

/// Ethernet header, one VLAN tag and the CRC: what a PMD's longest frame
/// holds beyond the IP MTU (DPDK's `eth_dev_get_overhead_len` default).
const FRAME_OVERHEAD: u32 = 14 + 4 + 4;

/// The largest IP MTU port `info` can carry: its `max_mtu`, and no more
/// than its longest receivable frame allows (net_tap reports a
/// `max_mtu` of 65535 but frames of at most 1522 bytes).
fn max_mtu(info: &sys::rte_eth_dev_info) -> u16 {
    let by_frame = info.max_rx_pktlen.saturating_sub(FRAME_OVERHEAD);
    info.max_mtu.min(u16::try_from(by_frame).unwrap_or(u16::MAX))
}

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
    /// TSO is on.
    tso: bool,
    /// See [`PortCaps::tso_frame_max`].
    tso_frame_max: u16,
    /// Software segmentation of large TCP segments when TSO is off.
    gso: bool,
    /// See [`PortCaps::large_max`].
    large_max: u32,
    mtu: u16,
    handed_out: bool,
    started: bool,
    link: Arc<PortLink>,
    backend: Backend,
    grace: Option<GracePeriod>,
    /// Link changes seen by `supervise`.
    changes: u64,
    /// What the last change was.
    last_change: String,
    /// Devices re-probed.
    reprobes: u64,
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
        // Frames longer than one mbuf's room come and go as chains.
        let frame = usize::from(cfg.mtu.unwrap_or(DEFAULT_MTU)) + FRAME_OVERHEAD as usize;
        if frame > pool.frame_room() {
            // SAFETY: pure constant getters.
            let (scatter, multi) = unsafe { (sys::dpn_rx_offload_scatter(), sys::dpn_tx_offload_multi_segs()) };
            if info.rx_offload_capa & scatter == 0 {
                return Err(PortError::Unsupported(format!(
                    "mtu {}: frames of {frame} bytes need chained mbufs ({} bytes each) and {driver} has no scatter rx; \
                     raise [dpdk] mbuf_data_room",
                    cfg.mtu.unwrap_or(DEFAULT_MTU),
                    pool.frame_room()
                )));
            }
            conf.rxmode.offloads |= scatter;
            conf.txmode.offloads |= multi & info.tx_offload_capa;
        }
        // SAFETY: pure constant getter.
        let tso_bit = unsafe { sys::dpn_tx_offload_tcp_tso() };
        // TSO implies the NIC fills the pieces' TCP and IPv4 checksums.
        let tso_offered = info.tx_offload_capa & tso_bit != 0 && offloads.tx.tcp && offloads.tx.ip4;
        let tso = match cfg.tso {
            TsoMode::Off => false,
            TsoMode::Auto => tso_offered,
            TsoMode::On if tso_offered => true,
            TsoMode::On => {
                return Err(PortError::Unsupported(format!(
                    "tso = \"on\": {driver} {}",
                    if info.tx_offload_capa & tso_bit == 0 {
                        "does not offer TCP segmentation offload (use \"auto\", or gso = true)"
                    } else {
                        "needs IPv4 and TCP checksum offload for TSO (checksum_offload is off or missing)"
                    }
                )))
            }
        };
        if tso {
            conf.txmode.offloads |= tso_bit;
        }
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
            let max = max_mtu(&info);
            if mtu > max || mtu < info.min_mtu {
                return Err(PortError::Unsupported(format!(
                    "mtu {mtu}: {driver} carries IP MTUs {}..={max} (PMD max frame {} bytes)",
                    info.min_mtu, info.max_rx_pktlen
                )));
            }
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
        let tap = driver == "net_tap";
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
            tso,
            // net_tap's TSO refuses pieces whose frame, Ethernet header
            // included, is longer than its MTU.
            tso_frame_max: if tap { mtu } else { 0 },
            gso: false,
            large_max: 0,
            mtu,
            handed_out: false,
            started: true,
            link: Arc::new(PortLink::new(true, id)),
            backend: Backend::Ethdev(Ethdev {
                vdev: None,
                cfg: cfg.clone(),
                pool: None,
                recovery: Recovery::None,
                removed: false,
                next_try: Instant::now(),
                backoff: REPROBE_MIN,
                last_error: String::new(),
                lsc: None,
                reported_up: true,
            }),
            grace: None,
            changes: 0,
            last_change: String::new(),
            reprobes: 0,
        })
    }

    /// A memif port of our own ([`crate::memif`]) for `vdev`
    /// (`net_memif0,role=...`) with `queues` queue pairs; a server listens
    /// at once, a client starts connecting at the first
    /// [`Port::supervise`]. Its link is down until a peer connects.
    ///
    /// `mtu` (default [`DEFAULT_MTU`]) is honoured by the node, not the
    /// ring: memif has no MTU of its own and carries a long frame as a chain
    /// of `bsize` buffers; L2/L3 drops longer received frames and
    /// fragments (or, for TCP, sizes segments) to fit on output.
    pub fn memif(vdev: &str, queues: u16, pool: Arc<Mempool>, mtu: Option<u16>) -> Result<Port, PortError> {
        let m = MemifPort::new(vdev, queues, pool)?;
        Ok(Port {
            id: u16::MAX,
            name: m.name().to_string(),
            driver: "memif (dpnode)".into(),
            mac: m.mac(),
            queues,
            rss: false,
            reta_source: RetaSource::Off,
            rss_table: None,
            offloads: Offloads::default(),
            tso: false,
            tso_frame_max: 0,
            gso: false,
            large_max: 0,
            handed_out: false,
            started: true,
            mtu: mtu.unwrap_or(DEFAULT_MTU),
            link: Arc::new(PortLink::new(false, 0)),
            backend: Backend::Memif(Box::new(m)),
            grace: None,
            changes: 0,
            last_change: "not connected yet".into(),
            reprobes: 0,
        })
    }

    /// Let the port recover its device when it goes away: `vdev` is the
    /// `name,args` it was probed with (net_tap and virtio_user are
    /// re-probed; other devices only follow their link). Refuses
    /// virtio_user in server mode (see the module doc).
    pub fn set_recovery(&mut self, vdev: &str, pool: Arc<Mempool>) -> Result<(), PortError> {
        let Backend::Ethdev(e) = &mut self.backend else { return Ok(()) };
        let (name, args) = vdev.split_once(',').unwrap_or((vdev, ""));
        let has = |k: &str| args.split(',').any(|kv| kv.split('=').next() == Some(k));
        let recovery = match self.driver.as_str() {
            "net_tap" => {
                // SAFETY: plain data, filled by dev_info_get.
                let mut info: sys::rte_eth_dev_info = unsafe { std::mem::zeroed() };
                // SAFETY: valid port and out pointer.
                unsafe { sys::rte_eth_dev_info_get(self.id, &mut info) };
                match if_name(info.if_index) {
                    Some(ifname) => Recovery::Tap { ifname, ifindex: info.if_index },
                    None => Recovery::None,
                }
            }
            "net_virtio_user" => {
                if args.split(',').any(|kv| kv == "server=1") {
                    return Err(PortError::Unsupported(format!(
                        "{name}: virtio_user server=1 reconnects in place on DPDK's threads while the data path runs; use client mode (the default)"
                    )));
                }
                Recovery::VirtioUser
            }
            _ => Recovery::None,
        };
        // Keep the MAC across re-probes, so neighbours' caches stay right.
        let mut args = args.to_string();
        if matches!(recovery, Recovery::Tap { .. } | Recovery::VirtioUser) && !has("mac") {
            let m = self.mac;
            let mac = format!("mac={:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5]);
            args = if args.is_empty() { mac } else { format!("{args},{mac}") };
        }
        e.vdev = Some((name.to_string(), args));
        e.pool = Some(pool);
        e.recovery = recovery;
        Ok(())
    }

    /// Give the port the workers' grace period: needed before
    /// [`Port::supervise`] may close the gate, and for net_vhost's link
    /// events (the callback is registered here).
    pub fn set_grace(&mut self, grace: GracePeriod) {
        if let Backend::Ethdev(e) = &mut self.backend {
            if self.driver == "net_vhost" && e.lsc.is_none() {
                let ctx = Box::into_raw(Box::new(LscCtx { link: self.link.clone(), grace: grace.clone() }));
                // SAFETY: valid port; `ctx` lives until the callback is
                // unregistered (in `stop`), and the callback only reads it.
                let rc = unsafe {
                    sys::rte_eth_dev_callback_register(
                        self.id,
                        sys::RTE_ETH_EVENT_INTR_LSC,
                        Some(vhost_link_event),
                        ctx.cast(),
                    )
                };
                if rc == 0 {
                    e.lsc = Some(ctx);
                } else {
                    // SAFETY: not registered, so ours alone.
                    drop(unsafe { Box::from_raw(ctx) });
                }
            }
        }
        self.grace = Some(grace);
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

    /// Whether TCP segmentation offload is on.
    pub fn tso(&self) -> bool {
        self.tso
    }

    /// Let TCP hand this port large segments of up to `large_max` payload
    /// bytes: the NIC cuts them where TSO is on, L3 does (GSO) where
    /// `gso` is set and TSO is off; otherwise TCP sends one MSS at a time.
    pub fn set_large(&mut self, gso: bool, large_max: u32) {
        self.gso = gso;
        self.large_max = large_max;
    }

    /// How large TCP segments are cut on this port: `"tso"` (the NIC),
    /// `"gso"` (software) or `"off"`.
    pub fn segmentation(&self) -> &'static str {
        match (self.tso, self.gso) {
            _ if self.large_max == 0 => "off",
            (true, _) => "tso",
            (false, true) => "gso",
            (false, false) => "off",
        }
    }

    /// Most payload bytes of one large segment (see [`Port::set_large`]).
    pub fn large_max(&self) -> u32 {
        self.large_max
    }

    /// The checksum offloads enabled on this port.
    pub fn offloads(&self) -> Offloads {
        self.offloads
    }

    /// What a worker needs to know about this port (copied into its `Io`).
    pub fn caps(&self) -> PortCaps {
        PortCaps {
            offloads: self.offloads,
            rss: self.rss_table.clone(),
            mtu: self.mtu,
            tso: self.tso,
            gso: self.gso && !self.tso,
            large_max: if self.tso || self.gso { self.large_max } else { 0 },
            tso_frame_max: self.tso_frame_max,
        }
    }

    /// The queue handles, one per worker; can be taken once.
    pub fn take_queues(&mut self) -> Vec<PortQueue> {
        assert!(!self.handed_out, "queues of port {} already handed out", self.id);
        self.handed_out = true;
        let seen = self.link.word();
        let mut memif = match &mut self.backend {
            Backend::Memif(m) => m.take_queues().into_iter().map(Some).collect(),
            Backend::Ethdev(_) => vec![],
        };
        memif.resize_with(self.queues as usize, || None);
        memif
            .into_iter()
            .enumerate()
            .map(|(q, memif)| PortQueue { port: self.id, queue: q as u16, link: self.link.clone(), seen, memif })
            .collect()
    }

    /// The MTU the port runs with (as the PMD reports it).
    pub fn mtu(&self) -> u16 {
        self.mtu
    }

    /// Current link state.
    pub fn link(&self) -> Link {
        match &self.backend {
            Backend::Memif(m) => Link { up: m.connected(), speed_mbps: 0, full_duplex: true },
            Backend::Ethdev(e) if e.removed => Link { up: false, speed_mbps: 0, full_duplex: false },
            Backend::Ethdev(_) => link(self.id),
        }
    }

    /// Whether the queues may use the device now (the gate).
    pub fn gate_open(&self) -> bool {
        self.link.is_open()
    }

    /// Link changes seen so far.
    pub fn link_changes(&self) -> u64 {
        self.changes
    }

    /// The last link change (the peer, or why the link went down).
    pub fn last_change(&self) -> &str {
        &self.last_change
    }

    /// Times the device was removed and probed again.
    pub fn reprobes(&self) -> u64 {
        self.reprobes
    }

    /// The memif side of a memif port.
    pub fn memif_port(&self) -> Option<&MemifPort> {
        match &self.backend {
            Backend::Memif(m) => Some(m),
            Backend::Ethdev(_) => None,
        }
    }

    /// The memif statistics of a memif port.
    pub fn memif_stats(&self) -> Option<MemifStats> {
        self.memif_port().map(MemifPort::stats)
    }

    /// Current statistics.
    pub fn stats(&self) -> PortStats {
        match &self.backend {
            Backend::Memif(m) => {
                let s = m.stats();
                PortStats {
                    rx_packets: s.rx_packets,
                    tx_packets: s.tx_packets,
                    rx_bytes: s.rx_bytes,
                    tx_bytes: s.tx_bytes,
                    rx_errors: s.bad_desc + s.rx_too_big,
                    rx_nombuf: s.rx_nombuf,
                    ..PortStats::default()
                }
            }
            Backend::Ethdev(e) if e.removed => PortStats::default(),
            Backend::Ethdev(_) => stats(self.id),
        }
    }

    /// Descriptors the main loop may wait on: when one is readable, call
    /// [`Port::supervise`] (memif control channels).
    pub fn poll_fds<'a>(&'a self, out: &mut Vec<std::os::fd::BorrowedFd<'a>>) {
        if let Backend::Memif(m) = &self.backend {
            m.poll_fds(out);
        }
    }

    /// Bring the port administratively down or up (memif: drop the
    /// connection and stop listening/connecting; other devices: only the
    /// gate). Returns the change, if any.
    pub fn set_admin(&mut self, up: bool) -> Option<LinkChange> {
        let grace = self.grace.clone()?;
        let change = match &mut self.backend {
            Backend::Memif(m) => m.set_admin(up, &self.link, &grace).map(|e| self.memif_change(e)),
            Backend::Ethdev(_) => None,
        };
        change.inspect(|c| self.record(c))
    }

    fn memif_change(&self, e: MemifEvent) -> LinkChange {
        match e {
            MemifEvent::Up(peer) => LinkChange { up: true, reason: format!("peer {peer}") },
            MemifEvent::Down(why) => LinkChange { up: false, reason: why },
        }
    }

    fn record(&mut self, c: &LinkChange) {
        self.changes += 1;
        self.last_change = c.reason.clone();
    }

    /// Watch the link and the peer from the main thread: run memif's
    /// control channel, open the gate when the link is up and close it
    /// (with a grace period) when it goes down, remove a dead device and
    /// probe it again. Returns what changed. Does nothing before
    /// [`Port::set_grace`].
    pub fn supervise(&mut self) -> Option<LinkChange> {
        let grace = self.grace.clone()?;
        let change = match &mut self.backend {
            Backend::Memif(m) => m.service(&self.link, &grace).map(|e| self.memif_change(e)),
            Backend::Ethdev(_) => self.supervise_ethdev(&grace),
        };
        change.inspect(|c| self.record(c))
    }

    fn supervise_ethdev(&mut self, grace: &GracePeriod) -> Option<LinkChange> {
        let Backend::Ethdev(e) = &mut self.backend else { return None };
        if e.removed {
            if Instant::now() < e.next_try {
                return None;
            }
            e.next_try = Instant::now() + e.backoff;
            e.backoff = (e.backoff * 2).min(REPROBE_MAX);
            return match self.reprobe() {
                Ok(()) => {
                    self.reprobes += 1;
                    self.link.open(self.id);
                    Some(LinkChange { up: true, reason: "device probed again".into() })
                }
                Err(err) => {
                    let Backend::Ethdev(e) = &mut self.backend else { return None };
                    if err != e.last_error {
                        tracing::warn!("dpnode: {}: cannot probe again yet: {err}", self.name);
                        e.last_error = err;
                    }
                    None
                }
            };
        }
        // Look at the gate before the link, so an event callback that
        // closes it in between makes `open_from` fail.
        let seen = self.link.word();
        let up = link(self.id).up;
        let dead = match &e.recovery {
            Recovery::None => None,
            Recovery::Tap { ifname, ifindex } => {
                (if_index(ifname) != Some(*ifindex)).then(|| format!("kernel interface {ifname} deleted"))
            }
            Recovery::VirtioUser => (!up).then(|| "vhost-user backend went away".to_string()),
        };
        if let Some(why) = dead {
            if e.vdev.is_none() || e.pool.is_none() {
                // Cannot be probed again: just keep the gate shut.
                if self.link.close() {
                    grace.synchronize();
                    return Some(LinkChange { up: false, reason: why });
                }
                return None;
            }
            self.link.close();
            grace.synchronize();
            e.reported_up = false;
            if matches!(e.recovery, Recovery::VirtioUser) {
                // Reading a dead virtio_user link arms a 1 us alarm whose
                // handler (on EAL's interrupt thread) uses the device and is
                // not cancelled when it closes: let it run first.
                drain_alarms();
            }
            self.remove();
            return Some(LinkChange { up: false, reason: why });
        }
        let open = seen & OPEN != 0;
        if up && !open {
            if !self.link.open_from(seen, self.id) {
                return None;
            }
            e.reported_up = true;
            return Some(LinkChange { up: true, reason: "link up".into() });
        }
        if !up && open && self.link.close() {
            grace.synchronize();
        }
        if !up && e.reported_up {
            e.reported_up = false;
            return Some(LinkChange { up: false, reason: "link down".into() });
        }
        None
    }

    /// Stop, close and unplug the device (the gate is closed and a grace
    /// period has passed).
    fn remove(&mut self) {
        self.close_ethdev();
        let Backend::Ethdev(e) = &mut self.backend else { return };
        if let Some((name, _)) = &e.vdev {
            let bus = CString::new("vdev").expect("no NUL");
            if let Ok(n) = CString::new(name.as_str()) {
                // SAFETY: valid strings; the port is closed.
                unsafe { sys::rte_eal_hotplug_remove(bus.as_ptr(), n.as_ptr()) };
            }
            e.removed = true;
            e.next_try = Instant::now();
            e.backoff = REPROBE_MIN;
        }
    }

    /// Probe the removed device again and set it up as before.
    fn reprobe(&mut self) -> Result<(), String> {
        let Backend::Ethdev(e) = &mut self.backend else { return Err("not an ethdev port".into()) };
        let (Some((name, args)), Some(pool)) = (e.vdev.clone(), e.pool.clone()) else {
            return Err("no devargs".into());
        };
        let bus = CString::new("vdev").expect("no NUL");
        let (n, a) = (
            CString::new(name.as_str()).map_err(|e| e.to_string())?,
            CString::new(args.as_str()).map_err(|e| e.to_string())?,
        );
        // SAFETY: valid strings for the call.
        let rc = unsafe { sys::rte_eal_hotplug_add(bus.as_ptr(), n.as_ptr(), a.as_ptr()) };
        if rc < 0 {
            return Err(format!("probe failed: {}", strerror(rc)));
        }
        let cfg = e.cfg.clone();
        let started = Port::lookup(&name).and_then(|id| Port::start(id, &name, &cfg, &pool));
        let mut fresh = match started {
            Ok(p) => p,
            Err(err) => {
                if let Ok(id) = Port::lookup(&name) {
                    // SAFETY: a port we just probed and failed to set up.
                    unsafe { sys::rte_eth_dev_close(id) };
                }
                // SAFETY: valid strings.
                unsafe { sys::rte_eal_hotplug_remove(bus.as_ptr(), n.as_ptr()) };
                return Err(err.to_string());
            }
        };
        if fresh.mac != self.mac {
            tracing::warn!("dpnode: {}: MAC changed on re-probe ({:02x?} -> {:02x?})", self.name, self.mac, fresh.mac);
        }
        // The fresh port's device is ours now; keep our identity and gate.
        fresh.started = false;
        self.id = fresh.id;
        self.started = true;
        let Backend::Ethdev(e) = &mut self.backend else { return Ok(()) };
        e.removed = false;
        e.reported_up = true;
        e.last_error.clear();
        if let Recovery::Tap { ifname, ifindex } = &mut e.recovery {
            // SAFETY: plain data, filled by dev_info_get.
            let mut info: sys::rte_eth_dev_info = unsafe { std::mem::zeroed() };
            // SAFETY: valid port and out pointer.
            unsafe { sys::rte_eth_dev_info_get(self.id, &mut info) };
            *ifindex = info.if_index;
            if let Some(n) = if_name(info.if_index) {
                *ifname = n;
            }
        }
        if let Some(g) = self.grace.clone() {
            self.set_grace(g);
        }
        Ok(())
    }

    /// Stop the port (idempotent); workers must not poll it any more.
    pub fn stop(&mut self) {
        self.link.close();
        if let Some(g) = &self.grace {
            g.synchronize();
        }
        match &mut self.backend {
            Backend::Memif(m) => {
                if let Some(g) = &self.grace {
                    m.close(&self.link, g);
                }
                self.started = false;
            }
            Backend::Ethdev(_) => self.close_ethdev(),
        }
    }

    /// Drop the link-event callback, stop and close the ethdev (the gate is
    /// closed and a grace period, or the workers' exit, has passed).
    fn close_ethdev(&mut self) {
        let Backend::Ethdev(e) = &mut self.backend else { return };
        if let Some(ctx) = e.lsc.take() {
            // SAFETY: registered by `set_grace` with this context; after
            // unregistering, the callback no longer runs with it.
            unsafe {
                sys::rte_eth_dev_callback_unregister(
                    self.id,
                    sys::RTE_ETH_EVENT_INTR_LSC,
                    Some(vhost_link_event),
                    ctx.cast(),
                );
                drop(Box::from_raw(ctx));
            }
        }
        if self.started {
            // SAFETY: valid started port; no burst runs (see above).
            unsafe {
                sys::rte_eth_dev_stop(self.id);
                sys::rte_eth_dev_close(self.id);
            }
            self.started = false;
        }
    }
}

/// net_vhost's link event, on DPDK's vhost thread. On link down DPDK is
/// about to unmap the guest's memory and free the virtqueues (right after
/// this callback returns): close the gate and wait until no worker can
/// still be in a burst on them.
unsafe extern "C" fn vhost_link_event(
    port: u16,
    _event: sys::rte_eth_event_type,
    arg: *mut libc::c_void,
    _ret: *mut libc::c_void,
) -> libc::c_int {
    // SAFETY: `arg` is the LscCtx registered with this callback, alive until
    // it is unregistered.
    let ctx = unsafe { &*arg.cast::<LscCtx>() };
    if !link(port).up {
        ctx.link.close();
        // Always wait, even if the main thread closed the gate first: its
        // own grace period may still be running.
        ctx.grace.synchronize();
    }
    0
}

/// Wait until EAL's alarm thread has run every alarm due by now: ours,
/// set after them with the shortest delay, runs after them (one thread, in
/// expiry order).
fn drain_alarms() {
    unsafe extern "C" fn done(arg: *mut libc::c_void) {
        // SAFETY: `arg` is the flag below, which outlives the wait for it.
        unsafe { (*arg.cast::<std::sync::atomic::AtomicBool>()).store(true, Ordering::Release) };
    }
    let flag = std::sync::atomic::AtomicBool::new(false);
    // SAFETY: the callback only sets `flag`, and we do not return (so the
    // flag lives) until it has.
    let rc = unsafe {
        sys::rte_eal_alarm_set(1, Some(done), (&flag as *const std::sync::atomic::AtomicBool).cast_mut().cast())
    };
    if rc != 0 {
        return;
    }
    while !flag.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// The kernel's name for interface index `i`.
fn if_name(i: u32) -> Option<String> {
    if i == 0 {
        return None;
    }
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: a buffer of IF_NAMESIZE bytes, as if_indextoname wants.
    let p = unsafe { libc::if_indextoname(i, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: if_indextoname wrote a NUL-terminated name into `buf`.
    Some(unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned())
}

/// The kernel's index of interface `name` (None if there is none).
fn if_index(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: a valid C string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
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
pub struct PortQueue {
    port: u16,
    queue: u16,
    link: Arc<PortLink>,
    /// The gate word this queue last acted on.
    seen: u32,
    /// Our own memif's data path, for memif ports.
    memif: Option<MemifQueue>,
}

impl std::fmt::Debug for PortQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortQueue").field("port", &self.port).field("queue", &self.queue).finish()
    }
}

impl PortQueue {
    /// Whether the device may be touched now (one Acquire load); picks up a
    /// new connection or port id when the gate's generation changed.
    #[inline]
    fn gate(&mut self) -> bool {
        let w = self.link.word.load(Ordering::Acquire);
        if w & OPEN == 0 {
            return false;
        }
        if w != self.seen {
            self.reopen(w);
        }
        true
    }

    #[cold]
    fn reopen(&mut self, w: u32) {
        self.seen = w;
        self.port = w as u16;
        if let Some(m) = &mut self.memif {
            m.refresh();
        }
    }

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
        if !self.gate() {
            return 0;
        }
        if let Some(m) = &mut self.memif {
            return m.rx(b, max.min(BURST));
        }
        let max = max.min(BURST) as u16;
        // SAFETY: this handle is the only user of (port, queue); the burst has
        // room for BURST >= max pointers, which rx_burst fills with owned mbufs.
        let n = unsafe { sys::dpn_rx_burst(self.port, self.queue, b.raw_mut().as_mut_ptr(), max) };
        b.set_len(n as usize);
        n as usize
    }

    /// Transmit what `b` holds; sent mbufs leave the burst, unsent stay at its
    /// front. Returns the number sent (see [`PortQueue::send`] for what a
    /// port that is down does).
    #[inline]
    pub fn tx(&mut self, b: &mut Burst) -> usize {
        self.send(b).sent
    }

    /// Transmit what `b` holds: sent mbufs leave the burst, frames the
    /// device cannot take now stay at its front, and with the link down
    /// every frame is freed and counted as dropped.
    #[inline]
    pub fn send(&mut self, b: &mut Burst) -> Sent {
        if b.is_empty() {
            return Sent::default();
        }
        if !self.gate() {
            let dropped = b.len();
            b.drain().for_each(drop);
            return Sent { sent: 0, dropped };
        }
        if let Some(m) = &mut self.memif {
            let (sent, dropped) = m.tx(b);
            return Sent { sent, dropped };
        }
        let raw = b.raw();
        // SAFETY: sole user of this tx queue; tx_burst takes ownership of the
        // first n mbufs, which we then forget by consuming them from the burst.
        let n = unsafe { sys::dpn_tx_burst(self.port, self.queue, raw.as_ptr() as *mut _, raw.len() as u16) };
        b.consume_front(n as usize);
        Sent { sent: n as usize, dropped: 0 }
    }
}
