//! Checksum offload, the DPDK half: the mbuf `ol_flags` bits and their
//! decoding into the NIC's verdicts ([`wire::offload::RxCsum`]). What a port
//! can do, how a packet is prepared for the NIC and how software verifies
//! are pure and live in [`wire::offload`].

use wire::offload::{CsumStatus, RxCsum};

/// DPDK's `RTE_MBUF_F_RX_*` and `RTE_MBUF_F_TX_*` bits (stable ABI; a unit
/// test checks them against the C headers through the shim).
pub mod ol {
    /// `RTE_MBUF_F_RX_RSS_HASH`: `hash.rss` holds the NIC's RSS hash.
    pub const RX_RSS_HASH: u64 = 1 << 1;
    /// `RTE_MBUF_F_RX_IP_CKSUM_MASK`.
    pub const RX_IP_CKSUM_MASK: u64 = (1 << 4) | (1 << 7);
    /// `RTE_MBUF_F_RX_IP_CKSUM_BAD`.
    pub const RX_IP_CKSUM_BAD: u64 = 1 << 4;
    /// `RTE_MBUF_F_RX_IP_CKSUM_GOOD`.
    pub const RX_IP_CKSUM_GOOD: u64 = 1 << 7;
    /// `RTE_MBUF_F_RX_IP_CKSUM_NONE`.
    pub const RX_IP_CKSUM_NONE: u64 = (1 << 4) | (1 << 7);
    /// `RTE_MBUF_F_RX_L4_CKSUM_MASK`.
    pub const RX_L4_CKSUM_MASK: u64 = (1 << 3) | (1 << 8);
    /// `RTE_MBUF_F_RX_L4_CKSUM_BAD`.
    pub const RX_L4_CKSUM_BAD: u64 = 1 << 3;
    /// `RTE_MBUF_F_RX_L4_CKSUM_GOOD`.
    pub const RX_L4_CKSUM_GOOD: u64 = 1 << 8;
    /// `RTE_MBUF_F_RX_L4_CKSUM_NONE`.
    pub const RX_L4_CKSUM_NONE: u64 = (1 << 3) | (1 << 8);
}

/// Decode an mbuf's `ol_flags` into the NIC's checksum verdicts.
#[inline]
pub fn rx_csum_from_ol_flags(flags: u64) -> RxCsum {
    let ip = match flags & ol::RX_IP_CKSUM_MASK {
        ol::RX_IP_CKSUM_GOOD => CsumStatus::Good,
        ol::RX_IP_CKSUM_BAD => CsumStatus::Bad,
        ol::RX_IP_CKSUM_NONE => CsumStatus::Verified,
        _ => CsumStatus::Unknown,
    };
    let l4 = match flags & ol::RX_L4_CKSUM_MASK {
        ol::RX_L4_CKSUM_GOOD => CsumStatus::Good,
        ol::RX_L4_CKSUM_BAD => CsumStatus::Bad,
        ol::RX_L4_CKSUM_NONE => CsumStatus::Verified,
        _ => CsumStatus::Unknown,
    };
    RxCsum { ip, l4 }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn rx_flags_decode() {
        assert_eq!(rx_csum_from_ol_flags(0), RxCsum::UNKNOWN);
        let r = rx_csum_from_ol_flags(ol::RX_IP_CKSUM_GOOD | ol::RX_L4_CKSUM_BAD | ol::RX_RSS_HASH);
        assert_eq!(r, RxCsum { ip: CsumStatus::Good, l4: CsumStatus::Bad });
        let r = rx_csum_from_ol_flags(ol::RX_IP_CKSUM_NONE | ol::RX_L4_CKSUM_NONE);
        assert!(r.ip.is_ok() && r.l4.is_ok());
        let r = rx_csum_from_ol_flags(ol::RX_IP_CKSUM_BAD | ol::RX_L4_CKSUM_GOOD);
        assert!(r.ip.is_bad() && r.l4.is_ok());
    }

    #[test]
    fn flag_bits_match_the_dpdk_headers() {
        // SAFETY: pure constant getters in the shim.
        unsafe {
            use dpdk_sys as sys;
            assert_eq!(ol::RX_RSS_HASH, sys::dpn_rx_ol_rss_hash());
            assert_eq!(ol::RX_IP_CKSUM_MASK, sys::dpn_rx_ol_ip_cksum_mask());
            assert_eq!(ol::RX_IP_CKSUM_BAD, sys::dpn_rx_ol_ip_cksum_bad());
            assert_eq!(ol::RX_IP_CKSUM_GOOD, sys::dpn_rx_ol_ip_cksum_good());
            assert_eq!(ol::RX_IP_CKSUM_NONE, sys::dpn_rx_ol_ip_cksum_none());
            assert_eq!(ol::RX_L4_CKSUM_MASK, sys::dpn_rx_ol_l4_cksum_mask());
            assert_eq!(ol::RX_L4_CKSUM_BAD, sys::dpn_rx_ol_l4_cksum_bad());
            assert_eq!(ol::RX_L4_CKSUM_GOOD, sys::dpn_rx_ol_l4_cksum_good());
            assert_eq!(ol::RX_L4_CKSUM_NONE, sys::dpn_rx_ol_l4_cksum_none());
        }
    }
}
