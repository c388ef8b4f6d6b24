/* dpnode's window onto DPDK: the public headers bindgen reads, plus
 * out-of-line wrappers (dpn_*) for DPDK's static-inline fast-path functions,
 * which have no symbol in the shared libraries. */
#ifndef DPN_SHIM_H
#define DPN_SHIM_H

#include <stdint.h>
#include <rte_config.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ethdev.h>
#include <rte_dev.h>
#include <rte_ether.h>
#include <rte_alarm.h>
#include <rte_cycles.h>

/* logging: DPDK's messages to a callback (level as RTE_LOG_*, the text as written) */
typedef void (*dpn_log_fn)(uint32_t level, const char *msg, size_t len);
int dpn_log_redirect(dpn_log_fn cb);

/* errno / lcore */
int dpn_errno(void);
unsigned dpn_lcore_id(void);

/* ethdev burst I/O */
uint16_t dpn_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t dpn_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);

/* mbuf allocation */
struct rte_mbuf *dpn_pktmbuf_alloc(struct rte_mempool *mp);
int dpn_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned n);
void dpn_pktmbuf_free(struct rte_mbuf *m);

/* mbuf data access */
void *dpn_pktmbuf_mtod(struct rte_mbuf *m);
uint16_t dpn_pktmbuf_data_len(const struct rte_mbuf *m);
uint32_t dpn_pktmbuf_pkt_len(const struct rte_mbuf *m);
uint16_t dpn_pktmbuf_nb_segs(const struct rte_mbuf *m);
uint16_t dpn_pktmbuf_headroom(const struct rte_mbuf *m);
uint16_t dpn_pktmbuf_tailroom(const struct rte_mbuf *m);
char *dpn_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
char *dpn_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
char *dpn_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
int dpn_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);
void dpn_pktmbuf_reset(struct rte_mbuf *m);
uint32_t dpn_pktmbuf_rss_hash(const struct rte_mbuf *m);
uint64_t dpn_pktmbuf_ol_flags(const struct rte_mbuf *m);
/* Chains: the next segment (NULL at the end), link tail behind head
 * (rte_pktmbuf_chain: 0, or -EOVERFLOW past RTE_MBUF_MAX_NB_SEGS), and cut
 * a chain to pkt_len len (freeing the segments past it; 0, or -1 if len is
 * longer than the packet). */
struct rte_mbuf *dpn_pktmbuf_next(const struct rte_mbuf *m);
int dpn_pktmbuf_chain(struct rte_mbuf *head, struct rte_mbuf *tail);
int dpn_pktmbuf_truncate(struct rte_mbuf *m, uint32_t len);
uint64_t dpn_tx_offload_multi_segs(void);
uint64_t dpn_rx_offload_scatter(void);
/* A deep copy of the whole packet (data and metadata: flags, hash, tx
 * offload fields) into a new mbuf from mp; NULL if mp is empty. */
struct rte_mbuf *dpn_pktmbuf_copy(const struct rte_mbuf *m, struct rte_mempool *mp);
/* Request IPv4 (+ L4 when l4 is 1 = TCP, 2 = UDP) checksum offload on tx. */
void dpn_pktmbuf_tx_offload(struct rte_mbuf *m, uint16_t l2_len, uint16_t l3_len, int ip_csum, int l4);
/* The IPv6 twin: RTE_MBUF_F_TX_IPV6 and the L4 checksum flag (no header checksum in IPv6). */
void dpn_pktmbuf_tx_tso(struct rte_mbuf *m, uint16_t l2_len, uint16_t l3_len, uint16_t l4_len, uint16_t segsz);
uint64_t dpn_tx_offload_tcp_tso(void);
uint64_t dpn_tx_ol_tcp_seg(void);
void dpn_pktmbuf_tx_offload6(struct rte_mbuf *m, uint16_t l2_len, uint16_t l3_len, int l4);

/* mempool */
unsigned dpn_mempool_avail(const struct rte_mempool *mp);
unsigned dpn_mempool_in_use(const struct rte_mempool *mp);

/* RSS and offload constants that bindgen cannot evaluate (RTE_BIT64 expressions). */
uint64_t dpn_rss_hf_ip_tcp_udp(void);
uint64_t dpn_tx_offload_ipv4_cksum(void);
uint64_t dpn_tx_offload_tcp_cksum(void);
uint64_t dpn_tx_offload_udp_cksum(void);
uint64_t dpn_rx_offload_checksum(void);
uint64_t dpn_rx_ol_ip_cksum_bad(void);
uint64_t dpn_rx_ol_l4_cksum_bad(void);
int dpn_mq_mode_rss(void);
uint64_t dpn_rss_hf_nonfrag_ipv4_tcp(void);
uint64_t dpn_rss_hf_nonfrag_ipv4_udp(void);
uint64_t dpn_rx_offload_ipv4_cksum(void);
uint64_t dpn_rx_offload_udp_cksum(void);
uint64_t dpn_rx_offload_tcp_cksum(void);
uint64_t dpn_rx_offload_rss_hash(void);
/* mbuf rx flags (the dataplane keeps Rust copies; a test compares them). */
uint64_t dpn_rx_ol_rss_hash(void);
uint64_t dpn_rx_ol_ip_cksum_mask(void);
uint64_t dpn_rx_ol_ip_cksum_good(void);
uint64_t dpn_rx_ol_ip_cksum_none(void);
uint64_t dpn_rx_ol_l4_cksum_mask(void);
uint64_t dpn_rx_ol_l4_cksum_good(void);
uint64_t dpn_rx_ol_l4_cksum_none(void);

#endif
