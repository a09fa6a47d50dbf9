/* xg_error.h: error codes and messages shared by every xtalgen layer.
 *
 * Every fallible call takes an `xg_error *err` (may be NULL) and returns an xg_status.
 * On failure the message names what went wrong and where (file, line) so a command can
 * print it as is. The struct lives on the caller's stack: no globals, no allocation. */
#ifndef XG_ERROR_H
#define XG_ERROR_H

typedef enum {
    XG_OK = 0,
    XG_EIO,          /* file could not be opened, read or written */
    XG_EPARSE,       /* malformed input: the message names file and line */
    XG_EUNSUPPORTED, /* well-formed input that xtalgen does not handle (e.g. partial occupancy) */
    XG_ENOMEM,       /* allocation failed */
    XG_EINVAL,       /* invalid argument or physically meaningless structure */
    XG_EVERSION,     /* file layout of an unknown version */
    XG_ENUMERIC,     /* a numerical routine failed (singular lattice, LAPACK error, NaN) */
    XG_ELIB,         /* an external library (spglib, HDF5) reported an error */
    XG_EEXIST,       /* an output would replace something that must be kept */
    XG_EBUSY         /* another run holds the resource (an output folder's lock) */
} xg_status;

#define XG_ERROR_MSG_LEN 1024

typedef struct {
    int code;
    char msg[XG_ERROR_MSG_LEN];
} xg_error;

/* Sets err (if non-NULL) and returns code, so a caller can write `return xg_error_set(...)`. */
int xg_error_set(xg_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the message of a failed call with more context ("reading foo.csv row 12: ...") and
 * returns `code`, the failed call's status, so `return xg_error_prefix(err, rc, ...)` is right
 * whether or not err is NULL (an earlier form returned err->code, and XG_OK for a NULL err,
 * which turned failures into success). err->code is set to code. */
int xg_error_prefix(xg_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void xg_error_clear(xg_error *err);

/* A short name for a status code ("parse error"). */
const char *xg_status_str(int code);

#endif
