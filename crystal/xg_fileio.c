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
            xg_error_prefix(err, "%s", path);
        return rc;
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
