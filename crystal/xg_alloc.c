/* xg_alloc.c: allocation wrappers with a fault-injection hook (see xg_alloc.h). */
#include "crystal/xg_alloc.h"

#include <stdlib.h>
#include <string.h>

#ifndef NDEBUG
#include <stdatomic.h>

/* -2: XG_FAIL_ALLOC_AFTER not read yet; -1: off; n >= 0: allocations left before failing */
static atomic_long countdown = -2;

static int inject_failure(void)
{
    long c = atomic_load(&countdown);
    if (c == -2) {
        const char *e = getenv("XG_FAIL_ALLOC_AFTER");
        char *end = NULL;
        long v = e && *e ? strtol(e, &end, 10) : -1;
        if (!end || *end || v < 0)
            v = -1;
        long expect = -2;
        atomic_compare_exchange_strong(&countdown, &expect, v);
        c = atomic_load(&countdown);
    }
    while (c > 0)
        if (atomic_compare_exchange_weak(&countdown, &c, c - 1))
            return 0;
    return c == 0; /* stays 0: every later allocation fails too */
}

int xg_alloc_fail_after(long n)
{
    atomic_store(&countdown, n < 0 ? -1 : n);
    return 1;
}
#else
static int inject_failure(void) { return 0; }

int xg_alloc_fail_after(long n)
{
    (void)n;
    return 0;
}
#endif

void *xg_malloc(size_t n) { return inject_failure() ? NULL : malloc(n); }

void *xg_calloc(size_t n, size_t size) { return inject_failure() ? NULL : calloc(n, size); }

void *xg_realloc(void *p, size_t n) { return inject_failure() ? NULL : realloc(p, n); }

char *xg_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = xg_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}
