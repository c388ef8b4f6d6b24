/*
 * A C program on dpnode_client.h, built by the tests with `cc`:
 *   echo check                      layouts, constants and a few calls that need no node;
 *                                   prints encodings for the Rust side to compare
 *   echo attach SOCKET NAME NS SECRET   attach and print the result code and its text
 *   echo server SOCKET URI NAME     an echo server (datagrams and streams) until killed
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
_Static_assert(sizeof(struct dpn_mq_session) == 72, "session info");
_Static_assert(offsetof(struct dpn_mq_session, local_ip) == 16, "session local ip");
_Static_assert(offsetof(struct dpn_mq_session, rx_segment) == 32, "session rx segment");
_Static_assert(offsetof(struct dpn_mq_session, tx_size) == 64, "session tx size");
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

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "check") == 0)
        return check();
    if (argc == 6 && strcmp(argv[1], "attach") == 0)
        return attach_only(argv[2], argv[3], argv[4], argv[5]);
    if (argc == 5 && strcmp(argv[1], "server") == 0)
        return server(argv[2], argv[3], argv[4]);
    fprintf(stderr, "usage: echo check | attach SOCKET NAME NS SECRET | server SOCKET URI NAME\n");
    return 2;
}
