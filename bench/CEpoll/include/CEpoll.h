// epoll and accept4 for bench/ProxyBench's EpollRelay: Swift's Glibc module leaves
// sys/epoll.h out, and declares accept4 only under _GNU_SOURCE, which cannot be defined
// here without changing structures other modules share.
#ifndef CEPOLL_H
#define CEPOLL_H
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/socket.h>

extern int accept4(int fd, struct sockaddr *address, socklen_t *length, int flags);

static inline int cepoll_accept4(int fd, int flags) { return accept4(fd, NULL, NULL, flags); }
#endif
