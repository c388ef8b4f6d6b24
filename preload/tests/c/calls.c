/* Exercises the socket calls of libdpnode_preload.so: run it under
 * LD_PRELOAD in a namespace where the node is 198.18.0.2 and the kernel end
 * of its tap is 198.18.0.1. Node sockets are made with the C library's calls
 * (interposed); the kernel peers with raw syscall(2), which the library
 * does not see. Prints "ok NAME" per check, "FAIL ..." and exits 1 on the
 * first failure. Argument: a base port (each check uses base + k). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NODE "198.18.0.2"
#define KERN "198.18.0.1"

static int base;
static const char *check = "start";

#define FAIL(...) do { printf("FAIL %s: ", check); printf(__VA_ARGS__); printf(" (errno %d %s)\n", errno, strerror(errno)); fflush(stdout); exit(1); } while (0)
#define CHECK(c, ...) do { if (!(c)) FAIL(__VA_ARGS__); } while (0)
#define OK() do { printf("ok %s\n", check); fflush(stdout); } while (0)

static struct sockaddr_in addr(const char *ip, int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

/* The kernel side, by raw system calls. */
static int ksock(int type) { return syscall(SYS_socket, AF_INET, type, 0); }
static int kbind(int fd, const char *ip, int port) {
    int one = 1;
    syscall(SYS_setsockopt, fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = addr(ip, port);
    return syscall(SYS_bind, fd, &a, sizeof a);
}
static int klistener(int port) {
    int fd = ksock(SOCK_STREAM);
    CHECK(fd >= 0 && kbind(fd, KERN, port) == 0 && syscall(SYS_listen, fd, 16) == 0, "kernel listener %d", port);
    return fd;
}
static int kaccept(int fd) { return syscall(SYS_accept4, fd, NULL, NULL, 0); }
static int kconnect(int port) {
    int fd = ksock(SOCK_STREAM);
    struct sockaddr_in a = addr(NODE, port);
    CHECK(syscall(SYS_connect, fd, &a, sizeof a) == 0, "kernel connect to %d", port);
    return fd;
}
static ssize_t kread(int fd, void *b, size_t n) { return syscall(SYS_read, fd, b, n); }
static ssize_t kwrite(int fd, const void *b, size_t n) { return syscall(SYS_write, fd, b, n); }
static void kclose(int fd) { syscall(SYS_close, fd); }
static void kread_all(int fd, char *b, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = kread(fd, b + got, n - got);
        CHECK(r > 0, "kernel read %zu of %zu", got, n);
        got += r;
    }
}
static void read_all(int fd, char *b, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, b + got, n - got);
        CHECK(r > 0, "node read %zu of %zu: %zd", got, n, r);
        got += r;
    }
}
static void write_all(int fd, const char *b, size_t n) {
    size_t put = 0;
    while (put < n) {
        ssize_t r = write(fd, b + put, n - put);
        CHECK(r > 0, "node write %zu of %zu", put, n);
        put += r;
    }
}
static void fill(char *b, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) b[i] = (char)((i * 131 + seed) & 0xff);
}

/* A connected pair: node socket `*n`, kernel socket `*k`. */
static void tcp_pair(int port, int *n, int *k) {
    int l = klistener(port);
    *n = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(*n >= 0, "socket");
    struct sockaddr_in a = addr(KERN, port);
    CHECK(connect(*n, (struct sockaddr *)&a, sizeof a) == 0, "connect");
    *k = kaccept(l);
    CHECK(*k >= 0, "kernel accept");
    kclose(l);
}

static void t_blocking_tcp(void) {
    check = "tcp blocking connect, read, write, names";
    int n, k;
    tcp_pair(base + 1, &n, &k);
    static char out[60000], in[60000];
    fill(out, sizeof out, 1);
    write_all(n, out, sizeof out);
    kread_all(k, in, sizeof in);
    CHECK(memcmp(in, out, sizeof out) == 0, "node -> kernel bytes differ");
    fill(out, sizeof out, 2);
    size_t put = 0;
    while (put < sizeof out) {
        ssize_t r = kwrite(k, out + put, sizeof out - put);
        CHECK(r > 0, "kernel write");
        put += r;

    }
    read_all(n, in, put);
    CHECK(memcmp(in, out, put) == 0, "kernel -> node bytes differ");
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    CHECK(getpeername(n, (struct sockaddr *)&a, &len) == 0 && ntohs(a.sin_port) == base + 1 && len == sizeof a, "getpeername");
    len = sizeof a;
    CHECK(getsockname(n, (struct sockaddr *)&a, &len) == 0 && a.sin_addr.s_addr == inet_addr(NODE), "getsockname");
    CHECK(close(n) == 0, "close");
    char c;
    CHECK(kread(k, &c, 1) == 0, "the kernel sees the close as end of stream");
    kclose(k);
    OK();
}

static void t_nonblocking_connect(void) {
    check = "tcp non-blocking connect: EINPROGRESS, poll, SO_ERROR";
    int l = klistener(base + 2);
    int n = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = addr(KERN, base + 2);
    CHECK(connect(n, (struct sockaddr *)&a, sizeof a) == -1 && errno == EINPROGRESS, "EINPROGRESS");
    struct pollfd p = {n, POLLOUT, 0};
    CHECK(poll(&p, 1, 10000) == 1 && (p.revents & POLLOUT), "poll POLLOUT: %x", p.revents);
    int err = -1;
    socklen_t len = sizeof err;
    CHECK(getsockopt(n, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0, "SO_ERROR %d", err);
    CHECK(connect(n, (struct sockaddr *)&a, sizeof a) == -1 && errno == EISCONN, "EISCONN");
    char b[16];
    CHECK(read(n, b, sizeof b) == -1 && errno == EAGAIN, "non-blocking read EAGAIN");
    close(n);
    kclose(l);
    /* A closed port: refused. */
    n = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    a = addr(KERN, base + 3);
    CHECK(connect(n, (struct sockaddr *)&a, sizeof a) == -1 && errno == EINPROGRESS, "EINPROGRESS (closed port)");
    p.fd = n; p.events = POLLOUT; p.revents = 0;
    CHECK(poll(&p, 1, 10000) == 1 && (p.revents & (POLLERR | POLLHUP)), "poll POLLERR: %x", p.revents);
    len = sizeof err;
    CHECK(getsockopt(n, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == ECONNREFUSED, "SO_ERROR ECONNREFUSED: %d", err);
    close(n);
    n = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(connect(n, (struct sockaddr *)&a, sizeof a) == -1 && errno == ECONNREFUSED, "blocking connect ECONNREFUSED");
    close(n);
    OK();
}

static void t_accept(void) {
    check = "tcp bind, listen, accept, accept4";
    int l = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    CHECK(setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0, "SO_REUSEADDR");
    struct sockaddr_in a = addr("0.0.0.0", base + 4);
    CHECK(bind(l, (struct sockaddr *)&a, sizeof a) == 0, "bind");
    CHECK(listen(l, 16) == 0, "listen");
    int v = 0;
    socklen_t len = sizeof v;
    CHECK(getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 && v == 1, "SO_ACCEPTCONN");
    fcntl(l, F_SETFL, O_NONBLOCK);
    CHECK(accept(l, NULL, NULL) == -1 && errno == EAGAIN, "EAGAIN on a non-blocking listener");
    fcntl(l, F_SETFL, 0);
    int k = kconnect(base + 4);
    struct sockaddr_in peer;
    len = sizeof peer;
    int s = accept4(l, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
    CHECK(s >= 0 && peer.sin_addr.s_addr == inet_addr(KERN), "accept4");
    CHECK((fcntl(s, F_GETFD) & FD_CLOEXEC) != 0, "SOCK_CLOEXEC");
    CHECK(kwrite(k, "hello", 5) == 5, "kernel write");
    char b[8] = {0};
    read_all(s, b, 5);
    CHECK(memcmp(b, "hello", 5) == 0, "data");
    write_all(s, "world", 5);
    kread_all(k, b, 5);
    CHECK(memcmp(b, "world", 5) == 0, "data back");
    close(s);
    kclose(k);
    close(l);
    OK();
}

static void t_epoll(void) {
    check = "epoll mixing a pipe and node sockets: level, edge, oneshot, rdhup";
    int n, k;
    tcp_pair(base + 5, &n, &k);
    int pfd[2];
    CHECK(pipe(pfd) == 0, "pipe");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 1};
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, pfd[0], &ev) == 0, "add pipe");
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = 2;
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, n, &ev) == 0, "add node socket");
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, n, &ev) == -1 && errno == EEXIST, "EEXIST");
    struct epoll_event out[8];
    CHECK(epoll_wait(ep, out, 8, 100) == 0, "nothing ready: timeout");
    CHECK(write(pfd[1], "x", 1) == 1, "pipe write");
    int r = epoll_wait(ep, out, 8, 5000);
    CHECK(r == 1 && out[0].data.u64 == 1, "pipe ready: %d", r);
    char c;
    CHECK(read(pfd[0], &c, 1) == 1, "pipe read");
    CHECK(kwrite(k, "ab", 2) == 2, "kernel write");
    r = epoll_wait(ep, out, 8, 5000);
    CHECK(r == 1 && out[0].data.u64 == 2 && (out[0].events & EPOLLIN), "node socket ready: %d", r);
    /* Level-triggered: still ready until read. */
    r = epoll_wait(ep, out, 8, 0);
    CHECK(r == 1 && out[0].data.u64 == 2, "level-triggered again: %d", r);
    /* Edge-triggered: once per change. */
    ev.events = EPOLLIN | EPOLLET;
    CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, n, &ev) == 0, "mod ET");
    r = epoll_wait(ep, out, 8, 1000);
    CHECK(r == 1, "ET reports the data once: %d", r);
    CHECK(epoll_wait(ep, out, 8, 100) == 0, "ET does not report it again");
    char b[4];
    CHECK(read(n, b, 4) == 2, "read");
    CHECK(kwrite(k, "c", 1) == 1, "kernel write");
    r = epoll_wait(ep, out, 8, 5000);
    CHECK(r == 1 && out[0].data.u64 == 2, "ET reports new data: %d", r);
    CHECK(read(n, b, 4) == 1, "read");
    /* One-shot. */
    ev.events = EPOLLIN | EPOLLONESHOT;
    CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, n, &ev) == 0, "mod oneshot");
    CHECK(kwrite(k, "d", 1) == 1, "kernel write");
    CHECK(epoll_wait(ep, out, 8, 5000) == 1, "oneshot fires");
    CHECK(epoll_wait(ep, out, 8, 100) == 0, "oneshot is disabled after");
    CHECK(read(n, b, 4) == 1, "read");
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLEXCLUSIVE;
    CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, n, NULL) == 0, "del");
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, n, &ev) == 0, "add with EPOLLEXCLUSIVE");
    kclose(k);
    r = epoll_wait(ep, out, 8, 5000);
    CHECK(r == 1 && (out[0].events & EPOLLRDHUP) && (out[0].events & EPOLLIN), "EPOLLRDHUP when the peer closes: %d %x", r, r ? out[0].events : 0);
    CHECK(read(n, b, 4) == 0, "end of stream");
    close(n);
    CHECK(epoll_wait(ep, out, 8, 0) == 0, "a closed socket leaves the set");
    close(ep);
    close(pfd[0]);
    close(pfd[1]);
    OK();
}

static void t_poll_select(void) {
    check = "poll and select mixing a pipe, an eventfd and node sockets";
    int n, k;
    tcp_pair(base + 6, &n, &k);
    int pfd[2];
    CHECK(pipe(pfd) == 0, "pipe");
    int efd = eventfd(0, 0);
    struct pollfd p[3] = {{pfd[0], POLLIN, 0}, {n, POLLIN, 0}, {efd, POLLIN, 0}};
    CHECK(poll(p, 3, 100) == 0, "nothing: timeout");
    CHECK(kwrite(k, "z", 1) == 1, "kernel write");
    int r = poll(p, 3, 5000);
    CHECK(r == 1 && p[1].revents == POLLIN && p[0].revents == 0, "node socket readable: %d %x", r, p[1].revents);
    uint64_t one = 1;
    CHECK(write(efd, &one, 8) == 8, "eventfd write");
    r = poll(p, 3, 5000);
    CHECK(r == 2 && p[2].revents == POLLIN, "both: %d", r);
    uint64_t v;
    CHECK(read(efd, &v, 8) == 8 && v == 1, "eventfd read");
    fd_set rs, ws;
    FD_ZERO(&rs);
    FD_ZERO(&ws);
    FD_SET(pfd[0], &rs);
    FD_SET(n, &rs);
    FD_SET(n, &ws);
    int maxfd = (n > pfd[0] ? n : pfd[0]) + 1;
    struct timeval tv = {5, 0};
    r = select(maxfd, &rs, &ws, NULL, &tv);
    CHECK(r == 2 && FD_ISSET(n, &rs) && FD_ISSET(n, &ws) && !FD_ISSET(pfd[0], &rs), "select: %d", r);
    char c;
    CHECK(read(n, &c, 1) == 1 && c == 'z', "read");
    FD_ZERO(&rs);
    FD_SET(pfd[0], &rs);
    FD_SET(n, &rs);
    CHECK(write(pfd[1], "y", 1) == 1, "pipe write");
    tv.tv_sec = 5;
    r = select(maxfd, &rs, NULL, NULL, &tv);
    CHECK(r == 1 && FD_ISSET(pfd[0], &rs) && !FD_ISSET(n, &rs), "select: the pipe: %d", r);
    FD_ZERO(&rs);
    FD_SET(n, &rs);
    struct timespec ts = {0, 100 * 1000 * 1000};
    CHECK(pselect(n + 1, &rs, NULL, NULL, &ts, NULL) == 0, "pselect timeout");
    struct pollfd q = {n, POLLIN, 0};
    CHECK(ppoll(&q, 1, &ts, NULL) == 0, "ppoll timeout");
    close(n);
    kclose(k);
    close(pfd[0]);
    close(pfd[1]);
    close(efd);
    OK();
}

static volatile int alarms;
static void on_alarm(int sig) { (void)sig; alarms++; }
static void timer_ms(int ms) {
    struct itimerval it = {{0, 0}, {ms / 1000, (ms % 1000) * 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
}
struct later { int fd; int ms; };
static void *write_later(void *arg) {
    struct later *l = arg;
    usleep(l->ms * 1000);
    kwrite(l->fd, "late", 4);
    return NULL;
}

static void t_timeouts_eintr(void) {
    check = "SO_RCVTIMEO, EINTR, SA_RESTART";
    int n, k;
    tcp_pair(base + 7, &n, &k);
    struct timeval tv = {0, 200000};
    CHECK(setsockopt(n, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0, "SO_RCVTIMEO");
    char b[8];
    CHECK(recv(n, b, sizeof b, 0) == -1 && (errno == EAGAIN || errno == EWOULDBLOCK), "timeout gives EAGAIN");
    struct timeval got;
    socklen_t len = sizeof got;
    CHECK(getsockopt(n, SOL_SOCKET, SO_RCVTIMEO, &got, &len) == 0 && got.tv_usec == 200000, "read back SO_RCVTIMEO");
    tv.tv_usec = 0;
    setsockopt(n, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL); /* no SA_RESTART */
    timer_ms(100);
    CHECK(recv(n, b, sizeof b, 0) == -1 && errno == EINTR, "a signal interrupts a blocking recv");
    CHECK(alarms == 1, "the handler ran");
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    pthread_t t;
    struct later l = {k, 400};
    pthread_create(&t, NULL, write_later, &l);
    timer_ms(100);
    ssize_t r = recv(n, b, sizeof b, 0);
    CHECK(r == 4 && memcmp(b, "late", 4) == 0, "SA_RESTART: recv goes on and gets the data: %zd", r);
    CHECK(alarms == 2, "the handler ran again");
    pthread_join(t, NULL);
    /* poll is never restarted. */
    struct pollfd p = {n, POLLIN, 0};
    timer_ms(100);
    CHECK(poll(&p, 1, 5000) == -1 && errno == EINTR, "poll returns EINTR");
    signal(SIGALRM, SIG_DFL);
    close(n);
    kclose(k);
    OK();
}

static void t_dup_fcntl_ioctl(void) {
    check = "dup, dup2, dup3, fcntl, ioctl";
    int n, k;
    tcp_pair(base + 8, &n, &k);
    int d = dup(n);
    CHECK(d >= 0 && d != n, "dup");
    int d2 = dup2(n, 200);
    CHECK(d2 == 200, "dup2");
    int d3 = dup3(n, 201, O_CLOEXEC);
    CHECK(d3 == 201 && (fcntl(d3, F_GETFD) & FD_CLOEXEC), "dup3 O_CLOEXEC");
    int d4 = fcntl(n, F_DUPFD_CLOEXEC, 300);
    CHECK(d4 >= 300, "F_DUPFD_CLOEXEC");
    close(n);
    write_all(d, "via dup", 7);
    char b[16];
    kread_all(k, b, 7);
    CHECK(memcmp(b, "via dup", 7) == 0, "data through the dup");
    close(d);
    close(d2);
    close(d3);
    /* Flags: O_NONBLOCK is shared, FD_CLOEXEC per descriptor. */
    int fl = fcntl(d4, F_GETFL);
    CHECK(fl >= 0 && !(fl & O_NONBLOCK), "F_GETFL");
    CHECK(fcntl(d4, F_SETFL, fl | O_NONBLOCK) == 0 && (fcntl(d4, F_GETFL) & O_NONBLOCK), "F_SETFL O_NONBLOCK");
    CHECK(read(d4, b, 16) == -1 && errno == EAGAIN, "EAGAIN");
    int off = 0;
    CHECK(ioctl(d4, FIONBIO, &off) == 0 && !(fcntl(d4, F_GETFL) & O_NONBLOCK), "FIONBIO off");
    CHECK(fcntl(d4, F_SETFD, 0) == 0 && fcntl(d4, F_GETFD) == 0, "F_SETFD");
    CHECK(kwrite(k, "12345", 5) == 5, "kernel write");
    int avail = 0;
    for (int i = 0; i < 500 && avail < 5; i++) {
        ioctl(d4, FIONREAD, &avail);
        if (avail < 5) usleep(10000);
    }
    CHECK(avail == 5, "FIONREAD %d", avail);
    CHECK(read(d4, b, 16) == 5, "read");
    close(d4);
    CHECK(kread(k, b, 1) == 0, "the last close ends the stream");
    kclose(k);
    CHECK(fcntl(d4, F_GETFL) == -1 && errno == EBADF, "closed: EBADF");
    OK();
}

static void t_udp(void) {
    check = "udp connect, send, recv, sendto, recvfrom, bind";
    int ku = ksock(SOCK_DGRAM);
    CHECK(kbind(ku, KERN, base + 9) == 0, "kernel udp bind");
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = addr(KERN, base + 9);
    CHECK(connect(u, (struct sockaddr *)&a, sizeof a) == 0, "udp connect");
    CHECK(send(u, "ping", 4, 0) == 4, "send");
    char b[64];
    struct sockaddr_in from;
    socklen_t len = sizeof from;
    ssize_t r = syscall(SYS_recvfrom, ku, b, sizeof b, 0, &from, &len);
    CHECK(r == 4 && memcmp(b, "ping", 4) == 0 && from.sin_addr.s_addr == inet_addr(NODE), "kernel got it");
    CHECK(syscall(SYS_sendto, ku, "pong!", 5, 0, &from, len) == 5, "kernel reply");
    CHECK(recv(u, b, sizeof b, 0) == 5 && memcmp(b, "pong!", 5) == 0, "recv");
    struct sockaddr_in me;
    len = sizeof me;
    CHECK(getsockname(u, (struct sockaddr *)&me, &len) == 0 && me.sin_port == from.sin_port, "getsockname");
    close(u);
    /* Unconnected: sendto and recvfrom. */
    u = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(sendto(u, "hey", 3, 0, (struct sockaddr *)&a, sizeof a) == 3, "sendto");
    len = sizeof from;
    r = syscall(SYS_recvfrom, ku, b, sizeof b, 0, &from, &len);
    CHECK(r == 3, "kernel got sendto");
    CHECK(syscall(SYS_sendto, ku, "back", 4, 0, &from, len) == 4, "kernel reply");
    struct sockaddr_in src;
    len = sizeof src;
    struct pollfd p = {u, POLLIN, 0};
    CHECK(poll(&p, 1, 5000) == 1, "poll udp");
    CHECK(recvfrom(u, b, sizeof b, 0, (struct sockaddr *)&src, &len) == 4 && src.sin_port == htons(base + 9), "recvfrom");
    close(u);
    /* A bound server socket: the kernel sends first. */
    u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in any = addr("0.0.0.0", base + 10);
    CHECK(bind(u, (struct sockaddr *)&any, sizeof any) == 0, "udp bind");
    struct sockaddr_in to = addr(NODE, base + 10);
    CHECK(syscall(SYS_sendto, ku, "q1", 2, 0, &to, sizeof to) == 2, "kernel send to the node");
    len = sizeof src;
    CHECK(recvfrom(u, b, sizeof b, 0, (struct sockaddr *)&src, &len) == 2 && src.sin_port == htons(base + 9), "recvfrom on a bound socket");
    CHECK(sendto(u, "a1", 2, 0, (struct sockaddr *)&src, len) == 2, "sendto the sender");
    len = sizeof from;
    r = syscall(SYS_recvfrom, ku, b, sizeof b, 0, &from, &len);
    CHECK(r == 2 && from.sin_port == htons(base + 10), "the reply comes from the bound port");
    /* Truncation and MSG_PEEK. */
    CHECK(syscall(SYS_sendto, ku, "0123456789", 10, 0, &to, sizeof to) == 10, "kernel send");
    CHECK(recv(u, b, 4, MSG_PEEK) == 4 && memcmp(b, "0123", 4) == 0, "MSG_PEEK");
    int avail = 0;
    CHECK(ioctl(u, FIONREAD, &avail) == 0 && avail == 10, "FIONREAD udp %d", avail);
    CHECK(recv(u, b, 4, MSG_TRUNC) == 10, "MSG_TRUNC gives the datagram's length");
    fcntl(u, F_SETFL, O_NONBLOCK);
    CHECK(recv(u, b, 4, 0) == -1 && errno == EAGAIN, "the rest of a datagram is dropped");
    close(u);
    kclose(ku);
    OK();
}

static void t_vectors(void) {
    check = "readv, writev, recvmsg, sendmsg, recvmmsg, sendmmsg, sendfile";
    int n, k;
    tcp_pair(base + 11, &n, &k);
    struct iovec iov[3] = {{"ab", 2}, {"cde", 3}, {"f", 1}};
    CHECK(writev(n, iov, 3) == 6, "writev");
    char b[64];
    kread_all(k, b, 6);
    CHECK(memcmp(b, "abcdef", 6) == 0, "writev data");
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = iov;
    m.msg_iovlen = 2;
    CHECK(sendmsg(n, &m, MSG_NOSIGNAL) == 5, "sendmsg");
    kread_all(k, b, 5);
    CHECK(kwrite(k, "0123456789", 10) == 10, "kernel write");
    char x[4], y[16];
    struct iovec riov[2] = {{x, 4}, {y, 16}};
    size_t got = 0;
    while (got < 10) {
        ssize_t r = readv(n, riov, 2);
        CHECK(r > 0, "readv");
        got += r;
        if (got < 10) { riov[0].iov_base = x; riov[0].iov_len = 0; riov[1].iov_base = y + (got - 4); }
    }
    CHECK(memcmp(x, "0123", 4) == 0 && memcmp(y, "456789", 6) == 0, "readv data");
    CHECK(kwrite(k, "msg", 3) == 3, "kernel write");
    struct iovec mi = {b, sizeof b};
    memset(&m, 0, sizeof m);
    m.msg_iov = &mi;
    m.msg_iovlen = 1;
    CHECK(recvmsg(n, &m, 0) == 3 && memcmp(b, "msg", 3) == 0, "recvmsg");
    /* sendfile from a file. */
    char path[] = "/tmp/dpnode-preload-XXXXXX";
    int f = mkstemp(path);
    static char data[60000], back[60000];
    fill(data, sizeof data, 7);
    CHECK(write(f, data, sizeof data) == (ssize_t)sizeof data, "file write");
    off_t off = 0;
    size_t sent = 0;
    while (sent < sizeof data) {
        ssize_t r = sendfile(n, f, &off, sizeof data - sent);
        CHECK(r > 0, "sendfile");
        sent += r;
    }
    CHECK(off == (off_t)sizeof data, "sendfile offset");
    kread_all(k, back, sizeof back);
    CHECK(memcmp(back, data, sizeof data) == 0, "sendfile data");
    close(f);
    unlink(path);
    close(n);
    kclose(k);
    /* UDP: sendmmsg, recvmmsg. */
    int ku = ksock(SOCK_DGRAM);
    kbind(ku, KERN, base + 12);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = addr(KERN, base + 12);
    connect(u, (struct sockaddr *)&a, sizeof a);
    struct mmsghdr mm[2];
    memset(mm, 0, sizeof mm);
    struct iovec i1 = {"one", 3}, i2 = {"three", 5};
    mm[0].msg_hdr.msg_iov = &i1;
    mm[0].msg_hdr.msg_iovlen = 1;
    mm[1].msg_hdr.msg_iov = &i2;
    mm[1].msg_hdr.msg_iovlen = 1;
    CHECK(sendmmsg(u, mm, 2, 0) == 2 && mm[1].msg_len == 5, "sendmmsg");
    struct sockaddr_in from;
    socklen_t len = sizeof from;
    CHECK(syscall(SYS_recvfrom, ku, b, sizeof b, 0, &from, &len) == 3, "first datagram");
    CHECK(syscall(SYS_recvfrom, ku, b, sizeof b, 0, &from, &len) == 5, "second datagram");
    syscall(SYS_sendto, ku, "r1", 2, 0, &from, len);
    syscall(SYS_sendto, ku, "r22", 3, 0, &from, len);
    char r1[8], r2[8];
    struct iovec o1 = {r1, 8}, o2 = {r2, 8};
    memset(mm, 0, sizeof mm);
    mm[0].msg_hdr.msg_iov = &o1;
    mm[0].msg_hdr.msg_iovlen = 1;
    mm[1].msg_hdr.msg_iov = &o2;
    mm[1].msg_hdr.msg_iovlen = 1;
    int got2 = 0;
    for (int tries = 0; tries < 100 && got2 < 2; tries++) {
        struct pollfd p = {u, POLLIN, 0};
        poll(&p, 1, 1000);
        int r = recvmmsg(u, mm + got2, 2 - got2, MSG_DONTWAIT, NULL);
        if (r > 0) got2 += r;
    }
    CHECK(got2 == 2 && mm[0].msg_len == 2 && mm[1].msg_len == 3, "recvmmsg: %d", got2);
    close(u);
    kclose(ku);
    OK();
}

static void t_options(void) {
    check = "getsockopt and setsockopt";
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int v, one = 1;
    socklen_t len = sizeof v;
#define GET(level, name) (len = sizeof v, getsockopt(s, level, name, &v, &len) == 0 ? v : -12345)
    CHECK(GET(SOL_SOCKET, SO_TYPE) == SOCK_STREAM, "SO_TYPE");
    CHECK(GET(SOL_SOCKET, SO_DOMAIN) == AF_INET, "SO_DOMAIN");
    CHECK(GET(SOL_SOCKET, SO_PROTOCOL) == IPPROTO_TCP, "SO_PROTOCOL");
    CHECK(GET(SOL_SOCKET, SO_ACCEPTCONN) == 0, "SO_ACCEPTCONN");
    CHECK(GET(SOL_SOCKET, SO_ERROR) == 0, "SO_ERROR");
    int opts[][2] = {{SOL_SOCKET, SO_REUSEADDR}, {SOL_SOCKET, SO_REUSEPORT}, {SOL_SOCKET, SO_KEEPALIVE},
                     {IPPROTO_TCP, TCP_NODELAY}, {IPPROTO_TCP, TCP_KEEPIDLE}, {IPPROTO_TCP, TCP_KEEPINTVL},
                     {IPPROTO_TCP, TCP_KEEPCNT}, {IPPROTO_IP, IP_TOS}};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        int want = i == 7 ? 0x10 : (i >= 4 ? 30 : 1);
        CHECK(setsockopt(s, opts[i][0], opts[i][1], &want, sizeof want) == 0, "set %d/%d", opts[i][0], opts[i][1]);
        CHECK(GET(opts[i][0], opts[i][1]) == want, "get %d/%d: %d", opts[i][0], opts[i][1], v);
    }
    (void)one;
    v = 1200;
    CHECK(setsockopt(s, IPPROTO_TCP, TCP_MAXSEG, &v, sizeof v) == 0 && GET(IPPROTO_TCP, TCP_MAXSEG) == 1200, "TCP_MAXSEG");
    v = 1 << 20;
    CHECK(setsockopt(s, SOL_SOCKET, SO_RCVBUF, &v, sizeof v) == 0 && GET(SOL_SOCKET, SO_RCVBUF) == 2 << 20, "SO_RCVBUF doubles");
    v = 1 << 20;
    CHECK(setsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, sizeof v) == 0 && GET(SOL_SOCKET, SO_SNDBUF) == 2 << 20, "SO_SNDBUF");
    struct linger lg = {1, 5}, lg2;
    len = sizeof lg2;
    CHECK(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0 &&
              getsockopt(s, SOL_SOCKET, SO_LINGER, &lg2, &len) == 0 && lg2.l_onoff == 1 && lg2.l_linger == 5, "SO_LINGER");
    char cc[16] = {0};
    CHECK(setsockopt(s, IPPROTO_TCP, TCP_CONGESTION, "reno", 4) == 0, "TCP_CONGESTION reno");
    len = sizeof cc;
    CHECK(getsockopt(s, IPPROTO_TCP, TCP_CONGESTION, cc, &len) == 0 && strcmp(cc, "reno") == 0, "TCP_CONGESTION read back");
    CHECK(setsockopt(s, IPPROTO_TCP, TCP_CONGESTION, "bbr9", 4) == -1 && errno == ENOENT, "unknown congestion control: ENOENT");
    struct timeval tv = {1, 500000}, tv2;
    len = sizeof tv2;
    CHECK(setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0 &&
              getsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv2, &len) == 0 && tv2.tv_sec == 1 && tv2.tv_usec == 500000, "SO_SNDTIMEO");
    v = 1;
    CHECK(setsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, "eth0", 4) == -1 && errno == ENOPROTOOPT, "unsupported: ENOPROTOOPT");
    CHECK(setsockopt(s, IPPROTO_TCP, 9999, &v, sizeof v) == -1 && errno == ENOPROTOOPT, "unknown: ENOPROTOOPT");
    CHECK(getsockopt(s, SOL_SOCKET, 9999, &v, &len) == -1 && errno == ENOPROTOOPT, "unknown get: ENOPROTOOPT");
    int n, k;
    tcp_pair(base + 13, &n, &k);
    struct tcp_info ti;
    len = sizeof ti;
    CHECK(getsockopt(n, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 && ti.tcpi_state == 1 && ti.tcpi_snd_mss > 0, "TCP_INFO");
    close(n);
    kclose(k);
    close(s);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    len = sizeof v;
    CHECK(getsockopt(u, SOL_SOCKET, SO_TYPE, &v, &len) == 0 && v == SOCK_DGRAM, "udp SO_TYPE");
    close(u);
    OK();
}

static void t_shutdown_and_others(void) {
    check = "shutdown (SHUT_RDWR, and SHUT_WR with reading after), and descriptors that are not node sockets";
    int n, k;
    tcp_pair(base + 14, &n, &k);
    CHECK(shutdown(n, SHUT_RDWR) == 0, "shutdown");
    char b[8];
    CHECK(kread(k, b, 8) == 0, "the kernel sees end of stream");
    CHECK(read(n, b, 8) == 0, "read after shutdown: 0");
    CHECK(send(n, "x", 1, MSG_NOSIGNAL) == -1 && errno == EPIPE, "write after shutdown: EPIPE");
    close(n);
    kclose(k);
    /* Half-close: SHUT_WR sends the FIN after the data; reading goes on. */
    tcp_pair(base + 20, &n, &k);
    struct timeval ktv = {5, 0};
    syscall(SYS_setsockopt, k, SOL_SOCKET, SO_RCVTIMEO, &ktv, sizeof ktv);
    write_all(n, "bye", 3);
    CHECK(shutdown(n, SHUT_WR) == 0, "shutdown SHUT_WR");
    kread_all(k, b, 3);
    CHECK(memcmp(b, "bye", 3) == 0, "the data before the FIN");
    CHECK(kread(k, b, 8) == 0, "the kernel sees the FIN");
    CHECK(send(n, "x", 1, MSG_NOSIGNAL) == -1 && errno == EPIPE, "no writes after SHUT_WR: EPIPE");
    CHECK(kwrite(k, "back", 4) == 4, "the kernel still writes");
    read_all(n, b, 4);
    CHECK(memcmp(b, "back", 4) == 0, "reading goes on after SHUT_WR");
    kclose(k);
    CHECK(read(n, b, 8) == 0, "then the kernel's close: end of stream");
    close(n);
    /* Untouched: AF_UNIX, pipes, files, eventfd. AF_INET6 is a node socket that says so. */
    int sp[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0 && write(sp[0], "u", 1) == 1 && read(sp[1], b, 1) == 1, "AF_UNIX");
    close(sp[0]);
    close(sp[1]);
    int s6 = socket(AF_INET6, SOCK_STREAM, 0);
    int t;
    socklen_t len = sizeof t;
    CHECK(s6 < 0 || (getsockopt(s6, SOL_SOCKET, SO_DOMAIN, &t, &len) == 0 && t == AF_INET6), "AF_INET6 reports its domain");
    if (s6 >= 0) close(s6);
    /* Descriptor numbers are the kernel's: the lowest free one. */
    int a = socket(AF_INET, SOCK_STREAM, 0);
    close(a);
    int p[2];
    CHECK(pipe(p) == 0 && p[0] == a, "a closed node socket's number is free again");
    close(p[0]);
    close(p[1]);
    OK();
}

/* A listener made, bound and listening in this process (SO_REUSEADDR), on all addresses. */
static int node_listener(int port) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    CHECK(l >= 0 && setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0, "listener socket");
    struct sockaddr_in a = addr("0.0.0.0", port);
    CHECK(bind(l, (struct sockaddr *)&a, sizeof a) == 0 && listen(l, 16) == 0, "listen on %d", port);
    return l;
}

/* Waits (10 s at most) for a connection on listener `l` and accepts it. */
static int accept_within(int l) {
    struct pollfd p = {l, POLLIN, 0};
    CHECK(poll(&p, 1, 10000) == 1 && (p.revents & POLLIN), "a connection to accept");
    int s = accept(l, NULL, NULL);
    CHECK(s >= 0, "accept");
    return s;
}

static void t_fork(void) {
    check = "fork: a listener shared by parent and child accepts in both; a connected socket stays the parent's";
    int l = node_listener(base + 16);
    int n, k;
    tcp_pair(base + 17, &n, &k);
    int sync[2];
    CHECK(pipe(sync) == 0, "pipe");
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        /* The child joined the application in fork; its first poll of the listener joins the
         * listener, and makes the parent (which has not accepted on it) passive. */
        struct pollfd p = {l, POLLIN, 0};
        if (poll(&p, 1, 0) < 0) _exit(10);
        /* The connected socket's session is the parent's: unusable here, and closing it here
         * leaves the parent's open. */
        char b[8];
        if (!(read(n, b, 1) == -1 && errno == ENOTCONN)) _exit(11);
        close(n);
        if (write(sync[1], "j", 1) != 1) _exit(12);
        for (int i = 0; i < 2; i++) {
            int s = accept(l, NULL, NULL);
            if (s < 0) _exit(13 + i);
            if (write(s, "child", 5) != 5) _exit(15);
            close(s);
        }
        close(l);
        _exit(0);
    }
    char c;
    CHECK(read(sync[0], &c, 1) == 1, "the child is ready");
    /* Only the child accepts now. */
    char b[8] = {0};
    int k1 = kconnect(base + 16);
    kread_all(k1, b, 5);
    CHECK(memcmp(b, "child", 5) == 0, "the first connection went to the child: %.5s", b);
    kclose(k1);
    write_all(n, "still", 5);
    kread_all(k, b, 5);
    CHECK(memcmp(b, "still", 5) == 0, "the parent's connected socket works on");
    /* The parent uses the listener too: connections are shared between the two. */
    fcntl(l, F_SETFL, O_NONBLOCK);
    struct pollfd p = {l, POLLIN, 0};
    CHECK(poll(&p, 1, 0) == 0, "nothing for the parent yet");
    int k2 = kconnect(base + 16), k3 = kconnect(base + 16);
    int s = accept_within(l);
    write_all(s, "paren", 5);
    close(s);
    char b2[8] = {0}, b3[8] = {0};
    kread_all(k2, b2, 5);
    kread_all(k3, b3, 5);
    int parent2 = memcmp(b2, "paren", 5) == 0, parent3 = memcmp(b3, "paren", 5) == 0;
    CHECK(parent2 != parent3 && (memcmp(b2, "child", 5) == 0 || memcmp(b3, "child", 5) == 0),
          "one connection each: %.5s %.5s", b2, b3);
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child's exit status: %#x", st);
    /* The child is gone: the parent accepts alone. */
    int k4 = kconnect(base + 16);
    s = accept_within(l);
    write_all(s, "alone", 5);
    kread_all(k4, b, 5);
    CHECK(memcmp(b, "alone", 5) == 0, "after the child");
    close(s);
    kclose(k2);
    kclose(k3);
    kclose(k4);
    close(l);
    close(n);
    kclose(k);
    close(sync[0]);
    close(sync[1]);
    OK();
}

/* The program that t_exec execs (this one, with --exec-child LISTENER CONNECTED CLOEXEC SYNC PORT). */
static int exec_child(char **argv) {
    int l = atoi(argv[2]), n = atoi(argv[3]), cl = atoi(argv[4]), sync = atoi(argv[5]), port = atoi(argv[6]);
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    if (getsockname(l, (struct sockaddr *)&a, &len) != 0 || ntohs(a.sin_port) != port) return 30;
    int v = 0;
    len = sizeof v;
    if (getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) != 0 || v != 1) return 31;
    /* A connected node socket that survives exec is a dead socket here, not a crash. */
    char b[4];
    if (!(read(n, b, 1) == -1 && errno == ENOTCONN)) return 32;
    if (!(fcntl(cl, F_GETFD) == -1 && errno == EBADF)) return 33;
    struct pollfd p = {l, POLLIN, 0};
    if (poll(&p, 1, 0) < 0) return 34;
    if (write(sync, "j", 1) != 1) return 35;
    int c = accept(l, NULL, NULL);
    if (c < 0) return 36;
    if (write(c, "exec", 4) != 4) return 37;
    close(c);
    close(l);
    return 0;
}

extern char **environ;

enum exec_kind { EXECV, EXECL, SPAWN };

/* A listener (and a connected and a CLOEXEC node socket) passed to a new program, started
 * by fork + execv, by fork + execl (glibc's execl calls its internal execve: the library
 * interposes execl itself), or by posix_spawn (glibc's clone + internal execve: likewise). */
static void t_exec_kind(enum exec_kind kind, int port) {
    static const char *names[] = {
        "exec: a listener without CLOEXEC works in the new program; other node sockets do not break it",
        "execl after fork: the new program accepts on the inherited listener",
        "posix_spawn: the spawned program accepts on the inherited listener",
    };
    check = names[kind];
    int l = node_listener(port);
    int n, k;
    tcp_pair(port + 1, &n, &k);
    int cl = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int sync[2];
    CHECK(cl >= 0 && pipe(sync) == 0, "sockets");
    fflush(stdout);
    char a[5][16];
    snprintf(a[0], 16, "%d", l);
    snprintf(a[1], 16, "%d", n);
    snprintf(a[2], 16, "%d", cl);
    snprintf(a[3], 16, "%d", sync[1]);
    snprintf(a[4], 16, "%d", port);
    char *args[] = {"calls", "--exec-child", a[0], a[1], a[2], a[3], a[4], NULL};
    pid_t pid;
    if (kind == SPAWN) {
        errno = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, args, environ);
        CHECK(errno == 0, "posix_spawn");
    } else {
        pid = fork();
        CHECK(pid >= 0, "fork");
        if (pid == 0) {
            if (kind == EXECL)
                execl("/proc/self/exe", "calls", "--exec-child", a[0], a[1], a[2], a[3], a[4], (char *)NULL);
            else
                execv("/proc/self/exe", args);
            _exit(20);
        }
    }
    char c;
    CHECK(read(sync[0], &c, 1) == 1, "the new program is ready");
    char b[8] = {0};
    int k1 = kconnect(port);
    kread_all(k1, b, 4);
    CHECK(memcmp(b, "exec", 4) == 0, "the new program accepted: %.4s", b);
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the new program's exit status: %#x", st);
    int k2 = kconnect(port);
    int s = accept_within(l);
    write_all(n, "ok", 2);
    kread_all(k, b, 2);
    CHECK(memcmp(b, "ok", 2) == 0, "the connected socket works on in this program");
    close(s);
    kclose(k1);
    kclose(k2);
    close(l);
    close(n);
    kclose(k);
    close(cl);
    close(sync[0]);
    close(sync[1]);
    OK();
}

static void t_threads(void) ;

int main(int argc, char **argv) {
    if (argc > 6 && strcmp(argv[1], "--exec-child") == 0) return exec_child(argv);
    base = argc > 1 ? atoi(argv[1]) : 20000;
    setvbuf(stdout, NULL, _IOLBF, 0);
    t_blocking_tcp();
    t_nonblocking_connect();
    t_accept();
    t_epoll();
    t_poll_select();
    t_timeouts_eintr();
    t_dup_fcntl_ioctl();
    t_udp();
    t_vectors();
    t_options();
    t_shutdown_and_others();
    t_fork();
    t_exec_kind(EXECV, base + 18);
    t_exec_kind(EXECL, base + 21);
    t_exec_kind(SPAWN, base + 23);
    t_threads();
    printf("all ok\n");
    return 0;
}

struct tctx { int n; };
static void *thread_echo(void *arg) {
    struct tctx *c = arg;
    char b[4096];
    /* A socket made by the main thread, used here. */
    for (int i = 0; i < 10; i++) {
        ssize_t r = read(c->n, b, sizeof b);
        if (r <= 0) return (void *)1;
        if (write(c->n, b, r) != r) return (void *)2;
    }
    /* And one of its own (its own app worker). */
    return NULL;
}

static void t_threads(void) {
    check = "a socket used by two threads; a thread's own sockets";
    int n, k;
    tcp_pair(base + 15, &n, &k);
    pthread_t t;
    struct tctx c = {n};
    pthread_create(&t, NULL, thread_echo, &c);
    char b[16];
    for (int i = 0; i < 10; i++) {
        CHECK(kwrite(k, "0123456789", 10) == 10, "kernel write");
        kread_all(k, b, 10);
        CHECK(memcmp(b, "0123456789", 10) == 0, "echo %d", i);
    }
    void *rv;
    pthread_join(t, &rv);
    CHECK(rv == NULL, "thread");
    close(n);
    kclose(k);
    OK();
}
