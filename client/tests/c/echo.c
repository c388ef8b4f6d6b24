/*
 * A C program on dpnode_client.h, built by the tests with `cc`:
 *   echo check                      layouts, constants and a few calls that need no node;
 *                                   prints encodings for the Rust side to compare
 *   echo attach SOCKET NAME NS SECRET   attach and print the result code and its text
 *   echo server SOCKET URI NAME     an echo server (datagrams and streams) until killed
 *   echo share SOCKET URI           attach, join the application on a second connection with
 *                                   its share token, listen on URI from both workers, make the
 *                                   first passive; serve one stream on the second: read a line,
 *                                   answer it upper-cased, half-close, read on to the end
 */
#include "dpnode_client.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(struct dpn_api_header) == DPN_API_HEADER, "api header");
_Static_assert(offsetof(struct dpn_api_header, kind) == 6, "api header kind");
_Static_assert(offsetof(struct dpn_api_header, code) == 12, "api header code");
_Static_assert(offsetof(struct dpn_api_header, context) == 16, "api header context");
_Static_assert(sizeof(struct dpn_api_attach) == 48, "attach body");
_Static_assert(offsetof(struct dpn_api_attach, flags) == 40, "attach flags");
_Static_assert(offsetof(struct dpn_api_attach, name_len) == 45, "attach name length");
_Static_assert(sizeof(struct dpn_api_worker) == 56, "worker body");
_Static_assert(offsetof(struct dpn_api_worker, slots) == 40, "worker slots");
_Static_assert(sizeof(struct dpn_mq_ref) == 16, "session reference");
_Static_assert(sizeof(struct dpn_mq_session) == 96, "session info");
_Static_assert(offsetof(struct dpn_mq_session, local_family) == 13, "session local family");
_Static_assert(offsetof(struct dpn_mq_session, local_ip) == 16, "session local ip");
_Static_assert(offsetof(struct dpn_mq_session, remote_ip) == 36, "session remote ip");
_Static_assert(offsetof(struct dpn_mq_session, rx_segment) == 56, "session rx segment");
_Static_assert(offsetof(struct dpn_mq_session, tx_size) == 88, "session tx size");
_Static_assert(sizeof(struct dpn_dgram_header) == 44, "datagram header");
_Static_assert(offsetof(struct dpn_dgram_header, remote_ip) == 12, "datagram remote ip");
_Static_assert(sizeof(dpn_addr_t) == 20, "address");
_Static_assert(sizeof(dpn_event_t) == 24, "event");
_Static_assert(sizeof(dpn_connect_opts_t) == 4, "connect options");
_Static_assert(sizeof(dpn_attach_opts_t) == 56, "attach options");

static void hex(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        printf("%02x", b[i]);
    printf("\n");
}

static int check(void) {
    struct dpn_api_header h = {DPN_API_MAGIC, DPN_API_VERSION, DPN_API_DETACH, 8, 0, 0x1122334455667788ull};
    hex(&h, sizeof h);
    struct dpn_mq_ref r = {(1ull << 32) | 7, 3, 1};
    hex(&r, sizeof r);
    printf("%s\n", dpn_strerror(DPN_ERR_WRONG_NAMESPACE_SECRET));
    dpn_attach_opts_t o;
    dpn_attach_opts_init(&o);
    printf("%u %u %u\n", o.rx_fifo_size, o.event_queue_size, o.flags);
    dpn_app_t *app = NULL;
    dpn_worker_t *w = NULL;
    printf("%d\n", dpn_attach("/nonexistent/dpnode-api.sock", "c-app", &o, &app, &w));
    printf("%d\n", dpn_wait(NULL, NULL, 0, 0));
    return 0;
}

static int attach_only(const char *socket, const char *name, const char *ns, const char *secret) {
    dpn_attach_opts_t o;
    dpn_attach_opts_init(&o);
    o.namespace_id = ns;
    o.secret = strtoull(secret, NULL, 10);
    dpn_app_t *app = NULL;
    dpn_worker_t *w = NULL;
    int rc = dpn_attach(socket, name, &o, &app, &w);
    printf("%d %s\n", rc, dpn_strerror(rc));
    if (rc == 0) {
        dpn_worker_free(w);
        dpn_detach(app);
    }
    return rc == 0 ? 0 : 1;
}

static int server(const char *socket, const char *uri, const char *name) {
    dpn_app_t *app = NULL;
    dpn_worker_t *w = NULL;
    int rc = dpn_attach(socket, name, NULL, &app, &w);
    if (rc != 0) {
        fprintf(stderr, "attach: %s\n", dpn_strerror(rc));
        return 1;
    }
    uint64_t listener;
    rc = dpn_listen(w, uri, &listener);
    if (rc != 0) {
        fprintf(stderr, "listen: %s\n", dpn_strerror(rc));
        return 1;
    }
    if (dpn_worker_eventfd(w) < 0) {
        fprintf(stderr, "no eventfd\n");
        return 1;
    }
    printf("listening\n");
    fflush(stdout);
    static char buf[65536];
    dpn_event_t ev[64];
    for (;;) {
        int n = dpn_wait(w, ev, 64, 1000);
        if (n < 0) {
            fprintf(stderr, "wait: %s\n", dpn_strerror(n));
            return 1;
        }
        for (int i = 0; i < n; i++) {
            uint64_t s = ev[i].handle;
            switch (ev[i].kind) {
            case DPN_EV_ACCEPT:
                while (dpn_accept(w, s, &s) == 0) {
                }
                break;
            case DPN_EV_READABLE:
                for (;;) {
                    int64_t got = dpn_read(w, s, buf, sizeof buf);
                    if (got <= 0)
                        break;
                    if (dpn_write(w, s, buf, (size_t)got) != got)
                        fprintf(stderr, "tx fifo full: %lld bytes not echoed\n", (long long)got);
                }
                break;
            case DPN_EV_PEER_CLOSED:
                dpn_close(w, s);
                break;
            default:
                break;
            }
        }
    }
}

#define TRY(what, call) do { int rc_ = (call); if (rc_ != 0) { fprintf(stderr, "%s: %s\n", what, dpn_strerror(rc_)); return 1; } } while (0)

/* Waits (10 s at most) for an event of `kind` on worker `w`; 0 and *ev, or -1. */
static int wait_event(dpn_worker_t *w, uint32_t kind, dpn_event_t *out) {
    for (int round = 0; round < 100; round++) {
        dpn_event_t ev[16];
        int n = dpn_wait(w, ev, 16, 100);
        if (n < 0)
            return -1;
        for (int i = 0; i < n; i++)
            if (ev[i].kind == kind) {
                *out = ev[i];
                return 0;
            }
    }
    return -1;
}

/* Reads session `s` until `want` bytes or the end of the stream; returns the count. */
static int64_t read_some(dpn_worker_t *w, uint64_t s, char *buf, size_t want) {
    size_t got = 0;
    dpn_event_t ev;
    while (got < want) {
        int64_t r = dpn_read(w, s, buf + got, want - got);
        if (r == 0)
            break;
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        if (r != DPN_EAGAIN)
            return r;
        /* Readable or peer-closed; either way read again. */
        if (dpn_wait(w, &ev, 1, 100) < 0)
            return -1;
    }
    return (int64_t)got;
}

static int share(const char *socket, const char *uri) {
    dpn_app_t *app = NULL, *app2 = NULL;
    dpn_worker_t *w0 = NULL, *w1 = NULL;
    TRY("attach", dpn_attach(socket, "c-share", NULL, &app, &w0));
    uint64_t l0, l1, handle, handle2, token, h0;
    TRY("listen", dpn_listen(w0, uri, &l0));
    TRY("app handle", dpn_app_handle(app, &handle));
    TRY("share token", dpn_share_token(app, &token));
    TRY("worker handle", dpn_worker_handle(w0, &h0));
    /* A wrong token is refused. */
    int bad = dpn_join(socket, "c-share-2", handle, token ^ 1, 5000, &app2, &w1);
    if (bad == 0) {
        fprintf(stderr, "join with a wrong token worked\n");
        return 1;
    }
    printf("wrong token: %s\n", dpn_strerror(bad));
    TRY("join", dpn_join(socket, "c-share-2", handle, token, 5000, &app2, &w1));
    TRY("joined app handle", dpn_app_handle(app2, &handle2));
    if (handle2 != handle) {
        fprintf(stderr, "joined %#llx, not %#llx\n", (unsigned long long)handle2, (unsigned long long)handle);
        return 1;
    }
    TRY("listen from the joined worker", dpn_listen(w1, uri, &l1));
    TRY("passive", dpn_listener_passive(app2, l1, h0, 1));
    printf("ready\n");
    fflush(stdout);
    dpn_event_t ev;
    if (wait_event(w1, DPN_EV_ACCEPT, &ev) != 0) {
        fprintf(stderr, "no accept on the active worker\n");
        return 1;
    }
    uint64_t s;
    TRY("accept", dpn_accept(w1, l1, &s));
    char line[64] = {0};
    if (read_some(w1, s, line, 6) != 6) {
        fprintf(stderr, "short line\n");
        return 1;
    }
    for (int i = 0; i < 6; i++)
        if (line[i] >= 'a' && line[i] <= 'z')
            line[i] = (char)(line[i] - 'a' + 'A');
    if (dpn_write(w1, s, line, 6) != 6) {
        fprintf(stderr, "write\n");
        return 1;
    }
    TRY("shutdown", dpn_shutdown(w1, s));
    /* Writing is over; reading goes on until the peer's end of stream. */
    if (dpn_write(w1, s, "x", 1) != DPN_EPIPE) {
        fprintf(stderr, "a write after shutdown worked\n");
        return 1;
    }
    char rest[64] = {0};
    int64_t n = read_some(w1, s, rest, sizeof rest - 1);
    if (n < 0) {
        fprintf(stderr, "read after shutdown: %s\n", dpn_strerror((int)n));
        return 1;
    }
    printf("read after shutdown: %.*s\n", (int)n, rest);
    TRY("close", dpn_close(w1, s));
    /* The passive worker was offered nothing: no accept event, nothing to accept. */
    dpn_event_t evs[16];
    int n0 = dpn_wait(w0, evs, 16, 200), offered = 0;
    for (int i = 0; i < n0; i++)
        offered += evs[i].kind == DPN_EV_ACCEPT;
    uint64_t none;
    int rc = dpn_accept(w0, l0, &none);
    printf("passive worker accept: %s\n", n0 >= 0 && !offered && rc == DPN_EAGAIN ? "nothing" : "something");
    dpn_worker_free(w1);
    dpn_worker_free(w0);
    dpn_detach(app2);
    dpn_detach(app);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "check") == 0)
        return check();
    if (argc == 6 && strcmp(argv[1], "attach") == 0)
        return attach_only(argv[2], argv[3], argv[4], argv[5]);
    if (argc == 5 && strcmp(argv[1], "server") == 0)
        return server(argv[2], argv[3], argv[4]);
    if (argc == 4 && strcmp(argv[1], "share") == 0)
        return share(argv[2], argv[3]);
    fprintf(stderr, "usage: echo check | attach SOCKET NAME NS SECRET | server SOCKET URI NAME | share SOCKET URI\n");
    return 2;
}
