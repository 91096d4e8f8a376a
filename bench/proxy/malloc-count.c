// Counts heap allocations of the process it is preloaded into (bench/proxy/allocations.sh).
// malloc, calloc, realloc, posix_memalign, aligned_alloc and free go to glibc's own entry
// points (__libc_*), so no dlsym and no recursion. SIGUSR1 prints the totals so far to
// standard error as one line: "malloc-count allocations N frees N bytes N".
#define _GNU_SOURCE
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static atomic_ulong allocations, frees, bytes;

static void counted(size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&bytes, size, memory_order_relaxed);
}

void *malloc(size_t size) { counted(size); return __libc_malloc(size); }
void *calloc(size_t count, size_t size) { counted(count * size); return __libc_calloc(count, size); }
void *realloc(void *pointer, size_t size) { counted(size); return __libc_realloc(pointer, size); }
void *aligned_alloc(size_t alignment, size_t size) { counted(size); return __libc_memalign(alignment, size); }
void *memalign(size_t alignment, size_t size) { counted(size); return __libc_memalign(alignment, size); }
int posix_memalign(void **out, size_t alignment, size_t size) {
    counted(size);
    void *pointer = __libc_memalign(alignment, size);
    if (!pointer) return 12;  // ENOMEM
    *out = pointer;
    return 0;
}
void free(void *pointer) {
    if (pointer) atomic_fetch_add_explicit(&frees, 1, memory_order_relaxed);
    __libc_free(pointer);
}

// Async-signal-safe decimal formatting.
static char *put_number(char *out, unsigned long value) {
    char digits[24];
    int count = 0;
    do { digits[count++] = (char)('0' + value % 10); value /= 10; } while (value);
    while (count) *out++ = digits[--count];
    return out;
}

static char *put_text(char *out, const char *text) {
    size_t length = strlen(text);
    memcpy(out, text, length);
    return out + length;
}

static void report(int signal) {
    (void)signal;
    char line[128];
    char *end = put_text(line, "malloc-count allocations ");
    end = put_number(end, atomic_load(&allocations));
    end = put_text(end, " frees ");
    end = put_number(end, atomic_load(&frees));
    end = put_text(end, " bytes ");
    end = put_number(end, atomic_load(&bytes));
    *end++ = '\n';
    ssize_t ignored = write(2, line, (size_t)(end - line));
    (void)ignored;
}

__attribute__((constructor)) static void install(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = report;
    action.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &action, NULL);
}
