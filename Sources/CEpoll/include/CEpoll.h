// epoll, eventfd, accept4 and thread names for the router's own event loop and
// bench/ProxyBench's EpollRelay: Swift's Glibc module leaves sys/epoll.h and sys/eventfd.h
// out, and declares accept4 and pthread_setname_np only under _GNU_SOURCE, which cannot be
// defined here without changing structures other modules share.
#ifndef CEPOLL_H
#define CEPOLL_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

extern int pthread_setname_np(pthread_t thread, const char *name);

static inline void cepoll_set_thread_name(const char *name) { pthread_setname_np(pthread_self(), name); }

extern int accept4(int fd, struct sockaddr *address, socklen_t *length, int flags);

static inline int cepoll_accept4(int fd, int flags) { return accept4(fd, NULL, NULL, flags); }

static inline int cepoll_accept4_peer(int fd, struct sockaddr_storage *peer, int flags) {
    socklen_t length = sizeof(*peer);
    return accept4(fd, (struct sockaddr *)peer, &length, flags);
}

// The registration a ready descriptor was watched with (epoll_event is packed on x86_64,
// which Swift reads through copies; these keep the loop's reads of it plain).
static inline uint64_t cepoll_event_data(const struct epoll_event *event) { return event->data.u64; }
static inline uint32_t cepoll_event_flags(const struct epoll_event *event) { return event->events; }

static inline int cepoll_ctl(int epoll, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event event = {.events = events, .data = {.u64 = data}};
    return epoll_ctl(epoll, op, fd, &event);
}

// The loop's reads, writes and waits as plain system calls. glibc's recv, send, sendmsg and
// epoll_wait are cancellation points: in a process with more than one thread each call
// switches asynchronous cancellation on and off around the system call, two atomic
// operations that cost about as much as the call's own user-space work. The router never
// cancels a thread. Each returns -1 with errno set on failure, as the wrappers do.
static inline ssize_t cepoll_recv(int fd, void *buffer, size_t length) {
    return syscall(SYS_recvfrom, fd, buffer, length, 0, NULL, NULL);
}

static inline ssize_t cepoll_send(int fd, const void *buffer, size_t length) {
    return syscall(SYS_sendto, fd, buffer, length, MSG_NOSIGNAL, NULL, 0);
}

static inline ssize_t cepoll_sendmsg(int fd, const struct msghdr *message) {
    return syscall(SYS_sendmsg, fd, message, MSG_NOSIGNAL);
}

static inline int cepoll_wait(int epoll, struct epoll_event *events, int capacity, int timeout) {
    return (int)syscall(SYS_epoll_wait, epoll, events, capacity, timeout);
}
#endif
