/* xg_fileio.c: atomic writes, whole-file reads, text checks and output escapes (see
 * xg_fileio.h). */
#include "crystal/xg_fileio.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crystal/xg_alloc.h"

/* ---- atomic writes ---- */

int xg_atomic_tmpname(const char *path, char *tmp, size_t n, xg_error *err)
{
    if (!path || !*path)
        return xg_error_set(err, XG_EINVAL, "atomic write: empty path");
    /* PID first: a name another process is writing is never tried; K past any leftover. */
    for (unsigned k = 0; k < 10000; k++) {
        int w = snprintf(tmp, n, "%s.tmp.%ld.%u", path, (long)getpid(), k);
        if (w < 0 || (size_t)w >= n)
            return xg_error_set(err, XG_EINVAL, "%s: path too long", path);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) {
            close(fd);
            return XG_OK;
        }
        if (errno != EEXIST)
            return xg_error_set(err, XG_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    }
    return xg_error_set(err, XG_EIO, "%s: no free temporary name (%s.tmp.* left behind?)", path,
                        path);
}

int xg_atomic_is_leftover(const char *name)
{
    const char *t = name ? strstr(name, ".tmp") : NULL;
    if (!t || t == name)
        return 0;
    for (t += 4; *t; t += 1 + strspn(t + 1, "0123456789"))
        if (*t != '.' || t[1] < '0' || t[1] > '9')
            return 0;
    return 1;
}

void xg_atomic_sweep(const char *path)
{
    char dir[4096];
    if (!path || snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
        return;
    char *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : path;
    if (slash)
        *slash = '\0';
    DIR *d = opendir(slash ? (dir[0] ? dir : "/") : ".");
    if (!d)
        return;
    size_t bl = strlen(base);
    long self = (long)getpid();
    for (struct dirent *e; (e = readdir(d));) {
        const char *nm = e->d_name;
        if (strncmp(nm, base, bl) || strncmp(nm + bl, ".tmp.", 5))
            continue;
        char *end;
        long pid = strtol(nm + bl + 5, &end, 10);
        if (end == nm + bl + 5 || *end != '.' || end[1] < '0' || end[1] > '9' || pid <= 0 ||
            pid == self)
            continue;
        for (end++; *end >= '0' && *end <= '9'; end++)
            ;
        if (*end != '\0' || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* not ours to judge, or its writer is alive */
        char full[8300];
        snprintf(full, sizeof full, "%s/%s", slash ? (dir[0] ? dir : "") : ".", nm);
        unlink(full);
    }
    closedir(d);
}

int xg_atomic_rename(const char *tmp, const char *path, xg_error *err)
{
    /* Data on disk before the new name is: a crash cannot leave an empty file under it. */
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        remove(tmp);
        return xg_error_set(err, XG_EIO, "%s: cannot sync %s: %s", path, tmp, strerror(e));
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return xg_error_set(err, XG_EIO, "%s: cannot rename into place: %s", path, strerror(e));
    }
    return XG_OK;
}

int xg_atomic_open(xg_atomic_file *a, const char *path, xg_error *err)
{
    memset(a, 0, sizeof *a);
    if (!path || strlen(path) >= sizeof a->path)
        return xg_error_set(err, XG_EINVAL, "%s: path too long", path ? path : "(null)");
    snprintf(a->path, sizeof a->path, "%s", path);
    int rc = xg_atomic_tmpname(path, a->tmp, sizeof a->tmp, err);
    if (rc)
        return rc;
    a->f = fopen(a->tmp, "w");
    if (!a->f) {
        rc = xg_error_set(err, XG_EIO, "%s: cannot create: %s", a->tmp, strerror(errno));
        remove(a->tmp);
        return rc;
    }
    return XG_OK;
}

int xg_atomic_commit(xg_atomic_file *a, xg_error *err)
{
    if (!a->f)
        return xg_error_set(err, XG_EIO, "%s: not open", a->path);
    int bad = ferror(a->f);
    if (fflush(a->f) != 0)
        bad = 1;
    /* fsync here, on the open descriptor, so xg_atomic_rename's sync finds nothing to do */
    if (!bad && fsync(fileno(a->f)) != 0)
        bad = 1;
    int e = errno;
    if (fclose(a->f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    a->f = NULL;
    if (bad) {
        remove(a->tmp);
        return xg_error_set(err, XG_EIO, "%s: write failed: %s", a->path, strerror(e));
    }
    return xg_atomic_rename(a->tmp, a->path, err);
}

void xg_atomic_abort(xg_atomic_file *a)
{
    if (a->f) {
        fclose(a->f);
        a->f = NULL;
        remove(a->tmp);
    }
}

int xg_file_write_atomic_with(const char *path, xg_file_writer write, const void *ctx,
                              xg_error *err)
{
    if (!path)
        return xg_error_set(err, XG_EINVAL, "xg_file_write_atomic: NULL path");
    xg_atomic_file a;
    int rc = xg_atomic_open(&a, path, err);
    if (rc)
        return rc;
    if ((rc = write(a.f, ctx, err))) {
        xg_atomic_abort(&a);
        if (rc != XG_EIO)
            xg_error_prefix(err, rc, "%s", path);
        return rc;
    }
    return xg_atomic_commit(&a, err);
}

typedef struct {
    xg_structure_writer write;
    xg_structure_note_writer write_note;
    const xg_structure *s;
    const char *note;
} structure_job;

static int write_structure(FILE *f, const void *ctx, xg_error *err)
{
    const structure_job *j = ctx;
    return j->write ? j->write(f, j->s, err) : j->write_note(f, j->s, j->note, err);
}

int xg_file_write_atomic(const char *path, xg_structure_writer write, const xg_structure *s,
                         xg_error *err)
{
    structure_job j = {write, NULL, s, NULL};
    return xg_file_write_atomic_with(path, write_structure, &j, err);
}

int xg_file_write_atomic_note(const char *path, xg_structure_note_writer write,
                              const xg_structure *s, const char *note, xg_error *err)
{
    structure_job j = {NULL, write, s, note};
    return xg_file_write_atomic_with(path, write_structure, &j, err);
}

/* ---- reading ---- */

int xg_file_read_all(const char *path, size_t max, char **text, size_t *len, xg_error *err)
{
    *text = NULL;
    *len = 0;
    if (!path)
        return xg_error_set(err, XG_EINVAL, "xg_file_read_all: NULL path");
    FILE *f = fopen(path, "rb");
    if (!f)
        return xg_error_set(err, XG_EIO, "%s: cannot open: %s", path, strerror(errno));
    /* A regular file is read in one allocation; a pipe grows the buffer as it comes. */
    struct stat st;
    size_t cap = 1 << 16;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)) {
        if ((unsigned long long)st.st_size > max) {
            fclose(f);
            return xg_error_set(err, XG_EIO, "%s: larger than %zu MiB", path, max >> 20);
        }
        cap = (size_t)st.st_size + 1;
    }
    char *b = xg_malloc(cap);
    size_t n = 0;
    int rc = XG_OK;
    while (b) {
        size_t want = cap - 1 - n; /* one byte kept for the NUL */
        size_t got = fread(b + n, 1, want, f);
        n += got;
        if (got < want)
            break; /* the end, or an error ferror reports below */
        int c = fgetc(f); /* full: is there more? */
        if (c == EOF)
            break;
        if (n + 1 > max) {
            rc = xg_error_set(err, XG_EIO, "%s: larger than %zu MiB", path, max >> 20);
            break;
        }
        char *nb = cap <= SIZE_MAX / 2 ? xg_realloc(b, cap * 2) : NULL;
        if (!nb) {
            free(b);
            b = NULL;
            break;
        }
        b = nb;
        cap *= 2;
        b[n++] = (char)c;
    }
    if (!b)
        rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", path);
    else if (!rc && ferror(f))
        rc = xg_error_set(err, XG_EIO, "%s: read error (a directory?)", path);
    fclose(f);
    if (rc) {
        free(b);
        return rc;
    }
    b[n] = '\0';
    *text = b;
    *len = n;
    return XG_OK;
}

int xg_text_line(const char *text, size_t len, size_t *pos, const char **s, size_t *n)
{
    if (*pos >= len)
        return 0;
    size_t i = *pos;
    while (i < len && text[i] != '\n' && text[i] != '\r')
        i++;
    *s = text + *pos;
    *n = i - *pos;
    if (i < len)
        i += (text[i] == '\r' && i + 1 < len && text[i + 1] == '\n') ? 2 : 1;
    *pos = i;
    return 1;
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
