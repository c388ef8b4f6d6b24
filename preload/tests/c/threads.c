/* Threads on libdpnode_preload.so: run it under LD_PRELOAD in a namespace
 * where the node is 198.18.0.2 and the kernel end of its tap is 198.18.0.1.
 * The kernel side (by raw syscall(2), which the library does not see) echoes
 * every connection. The node side, all at once:
 *   - OWN threads, each with a socket of its own (its own app worker), send
 *     chunks and read each back;
 *   - one socket made by the main thread, shared by a writer thread and a
 *     reader thread (neither made it), streams SHARED bytes through the echo;
 *   - the main thread forks children meanwhile; each child talks to the echo
 *     on a socket of its own and exits.
 * Every byte is checked. Prints "ok NAME" per check, "FAIL ..." and exits 1
 * on the first failure. Argument: the kernel echo's port. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define NODE "198.18.0.2"
#define KERN "198.18.0.1"
#define OWN 4
#define OWN_BYTES (2 << 20)
#define CHUNK 16384
#define SHARED (8 << 20)
#define FORKS 3

static int port;

#define FAIL(...) do { printf("FAIL: "); printf(__VA_ARGS__); printf(" (errno %d %s)\n", errno, strerror(errno)); fflush(stdout); exit(1); } while (0)
#define CHECK(c, ...) do { if (!(c)) FAIL(__VA_ARGS__); } while (0)

static struct sockaddr_in addr(const char *ip, int p) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(p);
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static unsigned char pattern(size_t i, unsigned seed) { return (unsigned char)((i * 131 + (i >> 12) * 7 + seed) & 0xff); }

/* The kernel echo: one thread per connection. */
static void *kernel_echo(void *arg) {
    int fd = (int)(long)arg;
    static __thread char b[65536];
    for (;;) {
        long n = syscall(SYS_read, fd, b, sizeof b);
        if (n <= 0) break;
        for (long put = 0; put < n;) {
            long w = syscall(SYS_write, fd, b + put, n - put);
            if (w <= 0) goto out;
            put += w;
        }
    }
out:
    syscall(SYS_close, fd);
    return NULL;
}

static void *kernel_acceptor(void *arg) {
    int l = (int)(long)arg;
    for (;;) {
        long c = syscall(SYS_accept4, l, NULL, NULL, 0);
        if (c < 0) continue;
        pthread_t t;
        pthread_create(&t, NULL, kernel_echo, (void *)c);
        pthread_detach(t);
    }
    return NULL;
}

/* A node socket connected to the echo (made by the calling thread). */
static int connect_echo(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) return -1;
    struct sockaddr_in a = addr(KERN, port);
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
        close(s);
        return -1;
    }
    return s;
}

static int write_all(int fd, const unsigned char *b, size_t n) {
    for (size_t put = 0; put < n;) {
        ssize_t r = write(fd, b + put, n - put);
        if (r <= 0) return -1;
        put += r;
    }
    return 0;
}

static int read_all(int fd, unsigned char *b, size_t n) {
    for (size_t got = 0; got < n;) {
        ssize_t r = read(fd, b + got, n - got);
        if (r <= 0) return -1;
        got += r;
    }
    return 0;
}

/* A thread with a socket of its own: chunks out, each read back and compared. */
static void *own_socket(void *arg) {
    unsigned seed = (unsigned)(long)arg;
    int s = connect_echo();
    if (s < 0) return (void *)"connect";
    static __thread unsigned char out[CHUNK], in[CHUNK];
    for (size_t off = 0; off < OWN_BYTES; off += CHUNK) {
        for (size_t i = 0; i < CHUNK; i++) out[i] = pattern(off + i, seed);
        if (write_all(s, out, CHUNK) != 0) return (void *)"write";
        if (read_all(s, in, CHUNK) != 0) return (void *)"read";
        if (memcmp(in, out, CHUNK) != 0) return (void *)"bytes differ";
    }
    if (close(s) != 0) return (void *)"close";
    return NULL;
}

struct shared { int s; };

static void *shared_writer(void *arg) {
    struct shared *sh = arg;
    static unsigned char b[CHUNK];
    for (size_t off = 0; off < SHARED; off += CHUNK) {
        for (size_t i = 0; i < CHUNK; i++) b[i] = pattern(off + i, 99);
        if (write_all(sh->s, b, CHUNK) != 0) return (void *)"write";
    }
    /* The end of the stream after what was written; the reader reads on. */
    if (shutdown(sh->s, SHUT_WR) != 0) return (void *)"shutdown";
    return NULL;
}

static void *shared_reader(void *arg) {
    struct shared *sh = arg;
    static unsigned char b[7000];
    size_t got = 0;
    for (;;) {
        ssize_t r = read(sh->s, b, sizeof b);
        if (r < 0) return (void *)"read";
        if (r == 0) break;
        for (ssize_t i = 0; i < r; i++)
            if (b[i] != pattern(got + i, 99)) return (void *)"bytes differ";
        got += r;
    }
    if (got != SHARED) return (void *)"short stream";
    return NULL;
}

/* A forked child: a socket of its own on the node, one echo, exit. */
static void child(int k) {
    int s = connect_echo();
    if (s < 0) _exit(10);
    char msg[16], back[16];
    int n = snprintf(msg, sizeof msg, "child %d", k);
    if (write_all(s, (unsigned char *)msg, n) != 0) _exit(11);
    if (read_all(s, (unsigned char *)back, n) != 0) _exit(12);
    if (memcmp(msg, back, n) != 0) _exit(13);
    close(s);
    _exit(0);
}

int main(int argc, char **argv) {
    port = argc > 1 ? atoi(argv[1]) : 24000;
    setvbuf(stdout, NULL, _IOLBF, 0);
    int l = syscall(SYS_socket, AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in ka = addr(KERN, port);
    syscall(SYS_setsockopt, l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    CHECK(l >= 0 && syscall(SYS_bind, l, &ka, sizeof ka) == 0 && syscall(SYS_listen, l, 64) == 0, "kernel listener");
    pthread_t acc;
    pthread_create(&acc, NULL, kernel_acceptor, (void *)(long)l);

    struct shared sh = {connect_echo()};
    CHECK(sh.s >= 0, "the shared socket");
    pthread_t own[OWN], wr, rd;
    for (long i = 0; i < OWN; i++) pthread_create(&own[i], NULL, own_socket, (void *)i);
    pthread_create(&rd, NULL, shared_reader, &sh);
    pthread_create(&wr, NULL, shared_writer, &sh);

    /* Forks while the threads move data: the child's copy of the library's state is whole. */
    for (int k = 0; k < FORKS; k++) {
        fflush(stdout);
        pid_t pid = fork();
        CHECK(pid >= 0, "fork");
        if (pid == 0) child(k);
        int st = 0;
        CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d exit status %#x", k, st);
    }
    printf("ok fork during traffic: %d children talked to the node\n", FORKS);

    for (int i = 0; i < OWN; i++) {
        void *rv;
        pthread_join(own[i], &rv);
        CHECK(rv == NULL, "own-socket thread %d: %s", i, (char *)rv);
    }
    printf("ok own sockets: %d threads, %d bytes each, echoed bit-exact\n", OWN, OWN_BYTES);
    void *rw, *rr;
    pthread_join(wr, &rw);
    pthread_join(rd, &rr);
    CHECK(rw == NULL, "shared writer: %s", (char *)rw);
    CHECK(rr == NULL, "shared reader: %s", (char *)rr);
    CHECK(close(sh.s) == 0, "close the shared socket");
    printf("ok shared socket: a writer and a reader thread, %d bytes bit-exact\n", SHARED);
    printf("all ok\n");
    return 0;
}
