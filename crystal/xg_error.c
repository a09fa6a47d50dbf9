#include "crystal/xg_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int xg_error_set(xg_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

int xg_error_prefix(xg_error *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    char head[XG_ERROR_MSG_LEN], old[XG_ERROR_MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    /* Truncation is acceptable here: the head names the context, the tail is the detail. */
    size_t n = strlen(head);
    if (n > sizeof err->msg - 3)
        n = sizeof err->msg - 3;
    memcpy(err->msg, head, n);
    memcpy(err->msg + n, ": ", 2);
    size_t room = sizeof err->msg - n - 3;
    size_t m = strlen(old);
    if (m > room)
        m = room;
    memcpy(err->msg + n + 2, old, m);
    err->msg[n + 2 + m] = '\0';
    err->code = code;
    return code;
}

void xg_error_clear(xg_error *err)
{
    if (err) {
        err->code = XG_OK;
        err->msg[0] = '\0';
    }
}

const char *xg_status_str(int code)
{
    switch (code) {
    case XG_OK: return "ok";
    case XG_EIO: return "I/O error";
    case XG_EPARSE: return "parse error";
    case XG_EUNSUPPORTED: return "unsupported";
    case XG_ENOMEM: return "out of memory";
    case XG_EINVAL: return "invalid argument";
    case XG_EVERSION: return "unknown file version";
    case XG_ENUMERIC: return "numerical error";
    case XG_ELIB: return "library error";
    case XG_EEXIST: return "output exists";
    case XG_EBUSY: return "in use by another run";
    default: return "unknown error";
    }
}
