/*
 * dpnode_client.h: the C API of dpnode's client library (external apps).
 *
 * Link with the static library the client crate builds
 * (target/<profile>/libdpnode_client.a) and -lpthread -ldl -lm.
 * The library does not need DPDK.
 *
 * Model: an application attaches to a running node through its API socket
 * (a Unix stream socket, [api] socket in the node's config) and gets its
 * first worker. A worker belongs to one thread; more come from
 * dpn_worker_add. Sessions are 64-bit handles; a worker reads and writes
 * them through fifos in shared memory and waits for events with dpn_wait.
 * When the process exits or dies, the node detaches the application.
 *
 * Return values: 0 (or a count) on success; on failure a negative code:
 * a node error (DPN_ERR_*, -100..-199) or a negated errno (DPN_EAGAIN:
 * would block, DPN_EPIPE: closed, DPN_EINVAL, DPN_EIO, DPN_EPROTO).
 * dpn_strerror names every code.
 *
 * The second half of this file mirrors the wire formats (docs/api.md), for
 * programs that speak the protocol themselves; the Rust definitions are in
 * the shm crate (shm::api, shm::msg) and the two are checked against each
 * other by the client crate's C test.
 */
#ifndef DPNODE_CLIENT_H
#define DPNODE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- The API ---------------------------------------------------------- */

typedef struct DpnApp dpn_app_t;
typedef struct DpnWorker dpn_worker_t;

/* Attach flags (dpn_attach_opts_t.flags); the same bits as the protocol's. */
#define DPN_ATTACH_SCOPE_GLOBAL (1u << 0) /* listeners reachable from the network */
#define DPN_ATTACH_SCOPE_LOCAL  (1u << 1) /* ... from apps of the namespace (cut-through) */
#define DPN_ATTACH_USE_EVENTFD  (1u << 2) /* sleep on an eventfd in dpn_wait */
#define DPN_ATTACH_PROXY_TCP    (1u << 3)
#define DPN_ATTACH_PROXY_UDP    (1u << 4)

typedef struct dpn_attach_opts {
    const char *namespace_id;     /* NULL or "" for the default namespace */
    uint64_t secret;              /* the namespace's secret */
    uint64_t segment_size;        /* first segment of each worker (bytes) */
    uint64_t add_segment_size;    /* added segments (0: as the first) */
    uint32_t prealloc_fifo_pairs;
    uint32_t rx_fifo_size;        /* power of two */
    uint32_t tx_fifo_size;        /* power of two */
    uint32_t event_queue_size;    /* messages per queue */
    uint32_t flags;               /* DPN_ATTACH_* */
    uint8_t tls_engine;
} dpn_attach_opts_t;

typedef struct dpn_connect_opts {
    uint16_t mss;                 /* MSS cap (TCP), 0: none */
    uint8_t cc;                   /* 0 default, 1 NewReno, 2 CUBIC */
    uint8_t flags;                /* bit 0: no delay, bit 1: keepalive */
} dpn_connect_opts_t;

/* Event kinds (dpn_event_t.kind). Readiness is edge-triggered: read or
 * write until DPN_EAGAIN. */
#define DPN_EV_ACCEPT      1 /* handle: a listener with sessions to dpn_accept */
#define DPN_EV_CONNECTED   2 /* opaque: from dpn_connect_async; result 0 and handle, or result < 0 */
#define DPN_EV_READABLE    3
#define DPN_EV_WRITABLE    4 /* after a write came up short */
#define DPN_EV_PEER_CLOSED 5 /* read what is left (0 at the end of a stream), then dpn_close */
#define DPN_EV_RESET       6 /* the session is gone */

/* An endpoint of either family: IPv4 in ip[0..4] (the rest zero), or IPv6 in
 * all 16 bytes, network order; the port in host order. */
#define DPN_AF_INET  4
#define DPN_AF_INET6 6
typedef struct dpn_addr {
    uint8_t family;   /* DPN_AF_INET or DPN_AF_INET6 */
    uint8_t reserved; /* 0 */
    uint16_t port;
    uint8_t ip[16];
} dpn_addr_t;

typedef struct dpn_event {
    uint32_t kind;
    int32_t result;
    uint64_t handle;
    uint64_t opaque;
} dpn_event_t;

/* Fills *o with the defaults (32 MiB segment, 64 KiB fifos, 2048-slot queues, eventfd on). */
void dpn_attach_opts_init(dpn_attach_opts_t *o);
/* Attaches `name` through the socket at `socket`; opts may be NULL. */
int dpn_attach(const char *socket, const char *name, const dpn_attach_opts_t *opts, dpn_app_t **app,
               dpn_worker_t **wrk);
/* Joins application `app_handle` (attached by another process, e.g. a forking
 * parent) with its share token, on a connection of its own: `*app` is this
 * process's handle on it, `*wrk` its first worker here. */
int dpn_join(const char *socket, const char *name, uint64_t app_handle, uint64_t token, int timeout_ms,
             dpn_app_t **app, dpn_worker_t **wrk);
/* The application's handle (for dpn_join). */
int dpn_app_handle(const dpn_app_t *app, uint64_t *handle);
/* Asks the node for the share token (hand it only to processes you trust as this one). */
int dpn_share_token(dpn_app_t *app, uint64_t *token);
/* Makes worker `worker_handle` (any of the app's) passive on `listener`: it gets
 * sessions only when no active worker listens; passive 0 makes it active for good. */
int dpn_listener_passive(dpn_app_t *app, uint64_t listener, uint64_t worker_handle, int passive);
/* The worker's handle at the node (for dpn_listener_passive). */
int dpn_worker_handle(dpn_worker_t *w, uint64_t *handle);
int dpn_worker_add(dpn_app_t *app, dpn_worker_t **wrk);
/* Deletes the worker at the node and frees it. */
int dpn_worker_del(dpn_app_t *app, dpn_worker_t *wrk);
/* Frees a worker without telling the node. */
void dpn_worker_free(dpn_worker_t *wrk);
/* Detaches the application and frees `app` (free the workers with dpn_worker_free). */
int dpn_detach(dpn_app_t *app);

/* uri: "udp://0.0.0.0/7", "tcp://198.18.0.1/80"; IPv6 in brackets: "tcp://[fd00::2]/80",
 * "udp://[::]:7" (a listen on [::] takes IPv4 too). */
int dpn_listen(dpn_worker_t *w, const char *uri, uint64_t *listener);
int dpn_unlisten(dpn_worker_t *w, uint64_t listener);
/* DPN_EAGAIN when no session waits. */
int dpn_accept(dpn_worker_t *w, uint64_t listener, uint64_t *session);
int dpn_connect(dpn_worker_t *w, const char *uri, const dpn_connect_opts_t *opts, int timeout_ms,
                uint64_t *session);
/* The result arrives as DPN_EV_CONNECTED with `opaque` (top bit must be clear). */
int dpn_connect_async(dpn_worker_t *w, const char *uri, const dpn_connect_opts_t *opts, uint64_t opaque);
/* Bytes of a stream (0 at its end) or one datagram; DPN_EAGAIN when there is nothing. */
int64_t dpn_read(dpn_worker_t *w, uint64_t session, void *buf, size_t len);
/* As dpn_read, and *from (if not NULL) gets the datagram's sender (a stream's peer). */
int64_t dpn_recv_from(dpn_worker_t *w, uint64_t session, void *buf, size_t len, dpn_addr_t *from);
/* The session's endpoints (either pointer may be NULL); IPv4 or IPv6. */
int dpn_session_addrs(dpn_worker_t *w, uint64_t session, dpn_addr_t *local, dpn_addr_t *remote);
/* As much as fits (stream) or the whole datagram; DPN_EAGAIN, then DPN_EV_WRITABLE. */
int64_t dpn_write(dpn_worker_t *w, uint64_t session, const void *buf, size_t len);
/* Half-close: the peer gets the end of the stream after what was written; reading goes on. */
int dpn_shutdown(dpn_worker_t *w, uint64_t session);
int dpn_close(dpn_worker_t *w, uint64_t session);
/* Waits up to timeout_ms (-1: forever) for events; returns how many were stored. */
int dpn_wait(dpn_worker_t *w, dpn_event_t *events, int max, int timeout_ms);
/* The eventfd to put in your own epoll set (then dpn_wait with timeout 0). */
int dpn_worker_eventfd(dpn_worker_t *w);
const char *dpn_strerror(int code);

/* ---- Return codes --------------------------------------------------- */

#define DPN_EAGAIN (-11)
#define DPN_EPIPE  (-32)
#define DPN_EINVAL (-22)
#define DPN_EIO    (-5)
#define DPN_EPROTO (-71)

/* Node error codes: -100..-149 the session layer's, -150.. the protocol's. */
#define DPN_ERR_ALREADY_ATTACHED       (-100)
#define DPN_ERR_UNSUPPORTED_CONFIG     (-101)
#define DPN_ERR_INVALID_NAMESPACE      (-102)
#define DPN_ERR_WRONG_NAMESPACE_SECRET (-103)
#define DPN_ERR_NOT_ATTACHED           (-104)
#define DPN_ERR_INVALID_VALUE          (-105)
#define DPN_ERR_ADDRESS_IN_USE         (-106)
#define DPN_ERR_NO_SUCH_LISTENER       (-107)
#define DPN_ERR_NO_SUCH_APP_WORKER     (-108)
#define DPN_ERR_NO_SUCH_APP            (-109)
#define DPN_ERR_NOT_LISTENING          (-110)
#define DPN_ERR_ALREADY_LISTENING      (-111)
#define DPN_ERR_TOO_MANY               (-112)
#define DPN_ERR_BAD_MESSAGE            (-150)
#define DPN_ERR_BAD_MAGIC              (-151)
#define DPN_ERR_BAD_VERSION            (-152)
#define DPN_ERR_TOO_LARGE              (-153)
#define DPN_ERR_UNKNOWN_KIND           (-154)
#define DPN_ERR_NOT_YOURS              (-155)
#define DPN_ERR_INTERNAL               (-156)
#define DPN_ERR_BAD_SESSION            (-170)
#define DPN_ERR_QUEUE_FULL             (-171)
#define DPN_ERR_BAD_STATE              (-172)
#define DPN_ERR_NO_ROUTE               (-180)
#define DPN_ERR_REFUSED                (-181)
#define DPN_ERR_TIMEOUT                (-182)
#define DPN_ERR_NO_PORT                (-183)
#define DPN_ERR_NO_MEMORY              (-184)

/* ---- Wire formats (docs/api.md) --------------------------------------- */

/* API socket: every message is this header (little endian) and a body. */
#define DPN_API_MAGIC     0x70417064u /* "dpAp" read as a little-endian u32 */
#define DPN_API_VERSION   2
#define DPN_API_HEADER    24
#define DPN_API_MAX_BODY  65536

struct dpn_api_header {
    uint32_t magic;
    uint16_t version;
    uint16_t kind;    /* DPN_API_* below */
    uint32_t length;  /* body bytes */
    int32_t code;     /* 0, or an error code in a failure reply (body: UTF-8 text) */
    uint64_t context; /* chosen by the requester, echoed in the reply */
};

/* Requests (app -> node); the reply's kind is the request's | 0x100. */
#define DPN_API_ATTACH        0x001 /* body: struct dpn_api_attach, name, namespace */
#define DPN_API_DETACH        0x002 /* body: u64 app */
#define DPN_API_WORKER_ADD    0x003 /* body: u64 app */
#define DPN_API_WORKER_DEL    0x004 /* body: u64 app, u64 app worker */
#define DPN_API_CERT_KEY_ADD  0x005 /* body: u32 cert len, u32 key len, cert, key */
#define DPN_API_CERT_KEY_DEL  0x006 /* body: u32 slot */
#define DPN_API_SHARE         0x007 /* body: u64 app; reply: u64 share token */
#define DPN_API_WORKER_JOIN   0x008 /* body: u64 app, u64 share token; reply: worker description */
#define DPN_API_LISTENER_PASSIVE 0x009 /* body: u64 app, u64 listener, u64 app worker, u32 passive, u32 0 */
#define DPN_API_REPLY         0x100
/* Notices (node -> app, context 0). */
#define DPN_API_SEGMENT_ADD   0x201 /* body: u64 id, u64 size; one fd */
#define DPN_API_SEGMENT_DEL   0x202 /* body: u64 id */
#define DPN_API_ERROR_REPLY   0x2ff /* a message that could not be read; code < 0 */

struct dpn_api_attach { /* followed by name_len bytes of name, ns_len bytes of namespace id */
    uint64_t secret;
    uint64_t segment_size;
    uint64_t add_segment_size;
    uint32_t prealloc_fifo_pairs;
    uint32_t rx_fifo_size;
    uint32_t tx_fifo_size;
    uint32_t event_queue_size;
    uint32_t flags;   /* DPN_ATTACH_* */
    uint8_t tls_engine;
    uint8_t name_len; /* <= 64 */
    uint8_t ns_len;   /* <= 64 */
    uint8_t reserved; /* 0 */
};

#define DPN_WORKER_HAS_EVENTFD (1u << 0)

struct dpn_api_worker { /* attach and worker-add replies; fds: segment, then eventfd if flagged */
    uint64_t app;
    uint64_t wrk;
    uint32_t wrk_map_index;
    uint32_t n_queues;      /* data-plane workers */
    uint64_t segment_id;
    uint64_t segment_size;
    uint32_t slots;
    uint32_t slot_size;
    uint32_t flags;         /* DPN_WORKER_* */
    uint32_t reserved;
    /* then n_queues x { u64 event queue offset, u64 request queue offset } in the segment */
};

/* Message queues: one slot per message, kind in the slot header. Every
 * address is a family byte (DPN_AF_INET 4, DPN_AF_INET6 6; anything else is
 * refused) and 16 bytes as in dpn_addr_t. */
#define DPN_MQ_SLOT_SIZE 128

/* Events (node -> app). */
#define DPN_MQ_ACCEPTED     1 /* u64 listener, struct dpn_mq_session */
#define DPN_MQ_CONNECTED    2 /* u64 opaque, i32 code, u32 0, struct dpn_mq_session (zero on error) */
#define DPN_MQ_DISCONNECTED 3 /* struct dpn_mq_ref */
#define DPN_MQ_RESET        4 /* struct dpn_mq_ref; answer with DPN_MQ_RESET_REPLY */
#define DPN_MQ_RX           5 /* struct dpn_mq_ref; clear the rx fifo's event flag, then drain */
#define DPN_MQ_TX_SPACE     6 /* struct dpn_mq_ref */
#define DPN_MQ_BOUND        7 /* u64 context, i32 code, u32 0, u64 listener, ip[16], u16 port, u8 l4,
                                 u8 family, 4 x u8 0 */
#define DPN_MQ_UNLISTENED   8 /* u64 context, i32 code, u32 0, u64 listener */

/* Requests (app -> node). */
#define DPN_MQ_LISTEN       1 /* u64 context, ip[16], u16 port, u8 l4 (6 tcp, 17 udp), u8 family,
                                 4 x u8 0 */
#define DPN_MQ_UNLISTEN     2 /* u64 context, u64 listener */
#define DPN_MQ_CONNECT      3 /* u64 opaque, u64 parent (~0: none), ip[16], u16 port, u8 l4, u8 cc,
                                 u16 mss, u8 flags, u8 family */
#define DPN_MQ_DISCONNECT   4 /* struct dpn_mq_ref */
#define DPN_MQ_ACCEPT_REPLY 5 /* struct dpn_mq_ref, extra: 0 to accept */
#define DPN_MQ_RESET_REPLY  6 /* struct dpn_mq_ref */
#define DPN_MQ_TX           7 /* struct dpn_mq_ref, extra bit 0: send TX_SPACE when room frees */
#define DPN_MQ_RX_READ      8 /* struct dpn_mq_ref */

struct dpn_mq_ref {
    uint64_t session; /* data-plane worker << 32 | pool index */
    uint32_t generation;
    uint32_t extra;
};

struct dpn_mq_session { /* 96 bytes */
    uint64_t session;
    uint32_t generation;
    uint8_t transport;     /* 0 udp, 1 tcp, 2 ct-udp, 3 ct-tcp */
    uint8_t local_family;  /* DPN_AF_INET or DPN_AF_INET6 */
    uint8_t remote_family;
    uint8_t reserved;
    uint8_t local_ip[16];  /* network order */
    uint16_t local_port;
    uint16_t remote_port;
    uint8_t remote_ip[16];
    uint32_t rx_size;
    uint64_t rx_segment;   /* segment id */
    uint64_t rx_offset;
    uint64_t tx_segment;
    uint64_t tx_offset;
    uint32_t tx_size;
    uint32_t reserved2;
};

/* The header in front of every datagram in a datagram session's fifos (44 bytes). */
struct dpn_dgram_header {
    uint32_t len;          /* payload bytes that follow */
    uint16_t remote_port;
    uint16_t local_port;
    uint8_t remote_family; /* DPN_AF_INET or DPN_AF_INET6 */
    uint8_t local_family;
    uint8_t reserved[2];
    uint8_t remote_ip[16]; /* network order */
    uint8_t local_ip[16];
};

#ifdef __cplusplus
}
#endif

#endif /* DPNODE_CLIENT_H */
