#include "crystal/xg_fileio.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int xg_file_write_atomic_with(const char *path, xg_file_writer write, const void *ctx,
                              xg_error *err)
{
    if (!path)
        return xg_error_set(err, XG_EINVAL, "xg_file_write_atomic: NULL path");
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return xg_error_set(err, XG_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    int rc = write(f, ctx, err);
    if (fclose(f) != 0 && !rc)
        rc = xg_error_set(err, XG_EIO, "%s: write failed: %s", tmp, strerror(errno));
    if (!rc && rename(tmp, path) != 0)
        rc = xg_error_set(err, XG_EIO, "%s: cannot rename into place: %s", path,
                          strerror(errno));
    if (rc) {
        remove(tmp);
        if (rc != XG_EIO)
            xg_error_prefix(err, rc, "%s", path);
        return rc;
    }
    return XG_OK;
}

int xg_text_check(const char *text, size_t len, const char *name, size_t *skip, xg_error *err)
{
    *skip = 0;
    const unsigned char *u = (const unsigned char *)text;
    const char *nm = name ? name : "(text)";
    if (len >= 2 && ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF)))
        return xg_error_set(err, XG_EPARSE, "%s: UTF-16 or UTF-32 text (byte order mark %02X %02X); "
                            "save it as UTF-8 or ASCII", nm, u[0], u[1]);
    if (len >= 3 && u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF)
        *skip = 3;
    const char *nul = len > *skip ? memchr(text + *skip, '\0', len - *skip) : NULL;
    if (nul) {
        long line = 1;
        for (const char *p = text; p < nul; p++)
            line += *p == '\n';
        return xg_error_set(err, XG_EPARSE, "%s:%ld: NUL byte in the text (a binary or damaged "
                            "file?)", nm, line);
    }
    return XG_OK;
}

typedef struct {
    xg_structure_writer write;
    const xg_structure *s;
} structure_job;

static int write_structure(FILE *f, const void *ctx, xg_error *err)
{
    const structure_job *j = ctx;
    return j->write(f, j->s, err);
}

int xg_file_write_atomic(const char *path, xg_structure_writer write, const xg_structure *s,
                         xg_error *err)
{
    structure_job j = {write, s};
    return xg_file_write_atomic_with(path, write_structure, &j, err);
}
