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
#include <sys/uio.h>

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
#endif
