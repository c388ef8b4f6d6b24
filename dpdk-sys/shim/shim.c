/* Out-of-line wrappers for DPDK's static-inline fast path; see shim.h. */
#define _GNU_SOURCE /* fopencookie */
#include <stdio.h>
#include "shim.h"

static dpn_log_fn dpn_log_cb;

/* rte_vlog writes one message then flushes; the stream is fully buffered
 * (4 KiB) so each flush hands the callback a whole message. */
static ssize_t dpn_log_write(void *cookie, const char *buf, size_t n)
{
    (void)cookie;
    if (dpn_log_cb != NULL)
        dpn_log_cb((uint32_t)rte_log_cur_msg_loglevel(), buf, n);
    return (ssize_t)n;
}

int dpn_log_redirect(dpn_log_fn cb)
{
    cookie_io_functions_t io = { .read = NULL, .write = dpn_log_write, .seek = NULL, .close = NULL };
    FILE *f = fopencookie(NULL, "w", io);
    if (f == NULL)
        return -1;
    if (setvbuf(f, NULL, _IOFBF, 4096) != 0) {
        fclose(f);
        return -1;
    }
    dpn_log_cb = cb;
    return rte_openlog_stream(f);
}

int dpn_errno(void) { return rte_errno; }
unsigned dpn_lcore_id(void) { return rte_lcore_id(); }

uint16_t dpn_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{ return rte_eth_rx_burst(port, queue, pkts, n); }
uint16_t dpn_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{ return rte_eth_tx_burst(port, queue, pkts, n); }

struct rte_mbuf *dpn_pktmbuf_alloc(struct rte_mempool *mp) { return rte_pktmbuf_alloc(mp); }
int dpn_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned n)
{ return rte_pktmbuf_alloc_bulk(mp, mbufs, n); }
void dpn_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }

void *dpn_pktmbuf_mtod(struct rte_mbuf *m) { return rte_pktmbuf_mtod(m, void *); }
uint16_t dpn_pktmbuf_data_len(const struct rte_mbuf *m) { return rte_pktmbuf_data_len(m); }
uint32_t dpn_pktmbuf_pkt_len(const struct rte_mbuf *m) { return rte_pktmbuf_pkt_len(m); }
uint16_t dpn_pktmbuf_nb_segs(const struct rte_mbuf *m) { return m->nb_segs; }
uint16_t dpn_pktmbuf_headroom(const struct rte_mbuf *m) { return rte_pktmbuf_headroom(m); }
uint16_t dpn_pktmbuf_tailroom(const struct rte_mbuf *m) { return rte_pktmbuf_tailroom(m); }
char *dpn_pktmbuf_append(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_append(m, len); }
char *dpn_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_prepend(m, len); }
char *dpn_pktmbuf_adj(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_adj(m, len); }
int dpn_pktmbuf_trim(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_trim(m, len); }
void dpn_pktmbuf_reset(struct rte_mbuf *m) { rte_pktmbuf_reset(m); }
uint32_t dpn_pktmbuf_rss_hash(const struct rte_mbuf *m) { return m->hash.rss; }
uint64_t dpn_pktmbuf_ol_flags(const struct rte_mbuf *m) { return m->ol_flags; }
struct rte_mbuf *dpn_pktmbuf_next(const struct rte_mbuf *m) { return m->next; }
int dpn_pktmbuf_chain(struct rte_mbuf *head, struct rte_mbuf *tail) { return rte_pktmbuf_chain(head, tail); }
int dpn_pktmbuf_truncate(struct rte_mbuf *m, uint32_t len)
{
    if (len > m->pkt_len)
        return -1;
    struct rte_mbuf *seg = m;
    uint32_t left = len;
    uint16_t segs = 1;
    while (seg->data_len < left) {
        left -= seg->data_len;
        seg = seg->next;
        segs++;
    }
    seg->data_len = (uint16_t)left;
    if (seg->next != NULL) {
        rte_pktmbuf_free(seg->next);
        seg->next = NULL;
    }
    m->nb_segs = segs;
    m->pkt_len = len;
    return 0;
}
uint64_t dpn_tx_offload_multi_segs(void) { return RTE_ETH_TX_OFFLOAD_MULTI_SEGS; }
uint64_t dpn_rx_offload_scatter(void) { return RTE_ETH_RX_OFFLOAD_SCATTER; }
struct rte_mbuf *dpn_pktmbuf_copy(const struct rte_mbuf *m, struct rte_mempool *mp)
{ return rte_pktmbuf_copy(m, mp, 0, UINT32_MAX); }

void dpn_pktmbuf_tx_offload(struct rte_mbuf *m, uint16_t l2_len, uint16_t l3_len, int ip_csum, int l4)
{
    m->l2_len = l2_len;
    m->l3_len = l3_len;
    uint64_t f = RTE_MBUF_F_TX_IPV4;
    if (ip_csum)
        f |= RTE_MBUF_F_TX_IP_CKSUM;
    if (l4 == 1)
        f |= RTE_MBUF_F_TX_TCP_CKSUM;
    else if (l4 == 2)
        f |= RTE_MBUF_F_TX_UDP_CKSUM;
    m->ol_flags |= f;
}

void dpn_pktmbuf_tx_offload6(struct rte_mbuf *m, uint16_t l2_len, uint16_t l3_len, int l4)
{
    m->l2_len = l2_len;
    m->l3_len = l3_len;
    uint64_t f = RTE_MBUF_F_TX_IPV6;
    if (l4 == 1)
        f |= RTE_MBUF_F_TX_TCP_CKSUM;
    else if (l4 == 2)
        f |= RTE_MBUF_F_TX_UDP_CKSUM;
    m->ol_flags |= f;
}

void dpn_pktmbuf_tx_tso(struct rte_mbuf *m, uint16_t l2_len, uint16_t l3_len, uint16_t l4_len, uint16_t segsz)
{
    m->l2_len = l2_len;
    m->l3_len = l3_len;
    m->l4_len = l4_len;
    m->tso_segsz = segsz;
    m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_TCP_SEG;
}

uint64_t dpn_tx_offload_tcp_tso(void) { return RTE_ETH_TX_OFFLOAD_TCP_TSO; }
uint64_t dpn_tx_ol_tcp_seg(void) { return RTE_MBUF_F_TX_TCP_SEG; }

unsigned dpn_mempool_avail(const struct rte_mempool *mp) { return rte_mempool_avail_count(mp); }
unsigned dpn_mempool_in_use(const struct rte_mempool *mp) { return rte_mempool_in_use_count(mp); }

uint64_t dpn_rss_hf_ip_tcp_udp(void) { return RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP; }
uint64_t dpn_tx_offload_ipv4_cksum(void) { return RTE_ETH_TX_OFFLOAD_IPV4_CKSUM; }
uint64_t dpn_tx_offload_tcp_cksum(void) { return RTE_ETH_TX_OFFLOAD_TCP_CKSUM; }
uint64_t dpn_tx_offload_udp_cksum(void) { return RTE_ETH_TX_OFFLOAD_UDP_CKSUM; }
uint64_t dpn_rx_offload_checksum(void) { return RTE_ETH_RX_OFFLOAD_CHECKSUM; }
uint64_t dpn_rx_ol_ip_cksum_bad(void) { return RTE_MBUF_F_RX_IP_CKSUM_BAD; }
uint64_t dpn_rx_ol_l4_cksum_bad(void) { return RTE_MBUF_F_RX_L4_CKSUM_BAD; }
int dpn_mq_mode_rss(void) { return RTE_ETH_MQ_RX_RSS; }
uint64_t dpn_rss_hf_nonfrag_ipv4_tcp(void) { return RTE_ETH_RSS_NONFRAG_IPV4_TCP; }
uint64_t dpn_rss_hf_nonfrag_ipv4_udp(void) { return RTE_ETH_RSS_NONFRAG_IPV4_UDP; }
uint64_t dpn_rx_offload_ipv4_cksum(void) { return RTE_ETH_RX_OFFLOAD_IPV4_CKSUM; }
uint64_t dpn_rx_offload_udp_cksum(void) { return RTE_ETH_RX_OFFLOAD_UDP_CKSUM; }
uint64_t dpn_rx_offload_tcp_cksum(void) { return RTE_ETH_RX_OFFLOAD_TCP_CKSUM; }
uint64_t dpn_rx_offload_rss_hash(void) { return RTE_ETH_RX_OFFLOAD_RSS_HASH; }
uint64_t dpn_rx_ol_rss_hash(void) { return RTE_MBUF_F_RX_RSS_HASH; }
uint64_t dpn_rx_ol_ip_cksum_mask(void) { return RTE_MBUF_F_RX_IP_CKSUM_MASK; }
uint64_t dpn_rx_ol_ip_cksum_good(void) { return RTE_MBUF_F_RX_IP_CKSUM_GOOD; }
uint64_t dpn_rx_ol_ip_cksum_none(void) { return RTE_MBUF_F_RX_IP_CKSUM_NONE; }
uint64_t dpn_rx_ol_l4_cksum_mask(void) { return RTE_MBUF_F_RX_L4_CKSUM_MASK; }
uint64_t dpn_rx_ol_l4_cksum_good(void) { return RTE_MBUF_F_RX_L4_CKSUM_GOOD; }
uint64_t dpn_rx_ol_l4_cksum_none(void) { return RTE_MBUF_F_RX_L4_CKSUM_NONE; }
