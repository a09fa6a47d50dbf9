/* xg_alloc.h: the allocator of the readers and the dataset code, with a fault-injection hook.
 *
 * Out-of-memory paths are the least exercised code in any program; SQLite tests every one of
 * them by making the N-th allocation fail for N = 1, 2, ... until an operation succeeds, and
 * checking each failure is clean (an error, no crash, no leak). These wrappers give xtalgen's
 * file readers (CIF, POSCAR, extxyz, CSV, HDF5 datasets, the input dispatcher) the same hook.
 *
 * In debug builds (NDEBUG not defined: CMAKE_BUILD_TYPE=Debug, the sanitizer build) the hook
 * is compiled in: after XG_FAIL_ALLOC_AFTER=N successful allocations (environment, read at the
 * first allocation) or xg_alloc_fail_after(N), every later allocation through these wrappers
 * fails, until xg_alloc_fail_after(-1). The countdown is the one process-wide state in
 * crystal/, and only for testing; it is atomic, so OpenMP readers may share it. In release
 * builds the wrappers are the C library's functions and the hook does nothing. */
#ifndef XG_ALLOC_H
#define XG_ALLOC_H

#include <stddef.h>

void *xg_malloc(size_t n);
void *xg_calloc(size_t n, size_t size);
void *xg_realloc(void *p, size_t n);
char *xg_strdup(const char *s);

/* Debug builds: the next n allocations succeed and every later one fails (n >= 0), or none
 * fails (n < 0). Returns 1 when the hook is compiled in, 0 in release builds (no effect). */
int xg_alloc_fail_after(long n);

#endif
