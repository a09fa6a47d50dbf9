/* outdir.c: see outdir.h. */
#include "src/outdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crystal/xg_fileio.h"
#include "src/cli.h"

#define LOCK_NAME ".xtalgen.lock"
#define MANIFEST_NAME ".xtalgen-manifest"

/* ---------------------------------------------------------------- a set of names ---- */

/* Open addressing over strdup'ed names; fold != 0 compares case-insensitively. */
typedef struct {
    char **slot;
    size_t cap, n;
    int fold;
} name_set;

static uint64_t name_hash(const char *s, int fold)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)(fold ? tolower((unsigned char)*s) : *s);
        h *= 1099511628211ULL;
    }
    return h;
}

static int set_has(const name_set *t, const char *s)
{
    if (!t->cap)
        return 0;
    for (size_t i = name_hash(s, t->fold) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        if (!t->slot[i])
            return 0;
        if (t->fold ? !strcasecmp(t->slot[i], s) : !strcmp(t->slot[i], s))
            return 1;
    }
}

static int set_add(name_set *t, const char *s)
{
    if (set_has(t, s))
        return 0;
    if (2 * (t->n + 1) > t->cap) { /* keep it at most half full */
        size_t cap = t->cap ? 2 * t->cap : 64;
        char **slot = calloc(cap, sizeof *slot);
        if (!slot)
            return -1;
        for (size_t k = 0; k < t->cap; k++) {
            if (!t->slot[k])
                continue;
            size_t i = name_hash(t->slot[k], t->fold) & (cap - 1);
            while (slot[i])
                i = (i + 1) & (cap - 1);
            slot[i] = t->slot[k];
        }
        free(t->slot);
        t->slot = slot;
        t->cap = cap;
    }
    char *copy = strdup(s);
    if (!copy)
        return -1;
    size_t i = name_hash(s, t->fold) & (t->cap - 1);
    while (t->slot[i])
        i = (i + 1) & (t->cap - 1);
    t->slot[i] = copy;
    t->n++;
    return 0;
}

static void set_free(name_set *t)
{
    for (size_t k = 0; k < t->cap; k++)
        free(t->slot[k]);
    free(t->slot);
    memset(t, 0, sizeof *t);
}

static int is_own_name(const char *name)
{
    return !strcmp(name, LOCK_NAME) || !strcmp(name, MANIFEST_NAME);
}

/* Removes path: a file, a symbolic link (never followed) or a folder with all it holds. */
static int remove_tree(const char *path, xg_error *err)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? XG_OK
                               : xg_error_set(err, XG_EIO, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d)
            return xg_error_set(err, XG_EIO, "%s: %s", path, strerror(errno));
        struct dirent *e;
        int rc = XG_OK;
        while (rc == XG_OK && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char sub[4096];
            if ((size_t)snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) >= sizeof sub)
                rc = xg_error_set(err, XG_EINVAL, "%s/%s: path too long", path, e->d_name);
            else
                rc = remove_tree(sub, err);
        }
        closedir(d);
        if (rc)
            return rc;
        if (rmdir(path) != 0)
            return xg_error_set(err, XG_EIO, "%s: %s", path, strerror(errno));
        return XG_OK;
    }
    if (unlink(path) != 0)
        return xg_error_set(err, XG_EIO, "%s: %s", path, strerror(errno));
    return XG_OK;
}

/* Reads the manifest's names into a NUL-separated buffer (caller frees); NULL when absent. */
static char *read_manifest(const char *dir, size_t *len)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, MANIFEST_NAME);
    FILE *f = fopen(path, "r");
    *len = 0;
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    int c;
    while (buf && (c = fgetc(f)) != EOF) {
        if (n + 2 > cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        buf[n++] = c == '\n' ? '\0' : (char)c;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

static int in_manifest(const char *names, size_t len, const char *name)
{
    for (size_t i = 0; names && i < len;) {
        if (!strcmp(names + i, name))
            return 1;
        i += strlen(names + i) + 1;
    }
    return 0;
}

/* Applies the mode to what DIR holds. */
static int prepare(const char *dir, const char *cmd, int mode, xg_error *err)
{
    size_t mlen = 0;
    char *manifest = read_manifest(dir, &mlen);
    DIR *d = opendir(dir);
    if (!d) {
        free(manifest);
        return xg_error_set(err, XG_EIO, "%s: %s", dir, strerror(errno));
    }
    int rc = XG_OK;
    struct dirent *e;
    char first_foreign[256] = "", first_used[256] = "";
    while ((e = readdir(d))) {
        const char *nm = e->d_name;
        if (!strcmp(nm, ".") || !strcmp(nm, "..") || is_own_name(nm))
            continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, nm);
        if (xg_atomic_is_leftover(nm)) { /* debris of a killed run: never anyone's data */
            if ((rc = remove_tree(path, err)))
                break;
            continue;
        }
        if (mode == XG_OUTDIR_RESUME)
            continue;
        if (in_manifest(manifest, mlen, nm)) {
            if (!first_used[0])
                snprintf(first_used, sizeof first_used, "%s", nm);
        } else if (!first_foreign[0]) {
            snprintf(first_foreign, sizeof first_foreign, "%s", nm);
        }
    }
    closedir(d);
    /* Nothing is removed unless the whole folder is ours to clear: a user's file found after
     * some of ours were gone would leave a half-cleared folder behind a refusal. */
    if (!rc && mode == XG_OUTDIR_OVERWRITE && !first_foreign[0] && first_used[0]) {
        for (size_t i = 0; manifest && i < mlen && !rc;) {
            char path[4400];
            snprintf(path, sizeof path, "%s/%s", dir, manifest + i);
            if (manifest[i])
                rc = remove_tree(path, err);
            i += strlen(manifest + i) + 1;
        }
    }
    free(manifest);
    if (rc)
        return rc;
    if (mode == XG_OUTDIR_RESUME)
        return XG_OK;
    if (first_foreign[0])
        return xg_error_set(err, XG_EEXIST,
                            "%s: the output folder holds '%s', which no xtalgen run recorded "
                            "writing there; %s never deletes such files: choose a new or empty "
                            "folder",
                            dir, first_foreign, cmd);
    if (first_used[0] && mode != XG_OUTDIR_OVERWRITE)
        return xg_error_set(err, XG_EEXIST,
                            "%s: the output folder holds an earlier run's results (e.g. '%s'); "
                            "pass --overwrite to replace them, or choose another folder",
                            dir, first_used);
    return XG_OK;
}

int xg_outdir_open(xg_outdir *od, const char *dir, const char *cmd, int mode, xg_error *err)
{
    od->lock_fd = od->manifest_fd = -1;
    od->recorded = NULL;
    if (!dir || !*dir)
        return xg_error_set(err, XG_EINVAL, "no output folder given");
    if (strlen(dir) >= sizeof od->dir - 64)
        return xg_error_set(err, XG_EINVAL, "%s: path too long", dir);
    snprintf(od->dir, sizeof od->dir, "%s", dir);
    struct stat st;
    if (lstat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
        /* A symlink to a folder given as -o is the user's choice; a file is not a folder. */
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
            return xg_error_set(err, XG_EEXIST, "%s: exists and is not a folder", dir);
    }
    int rc = xg_mkdir_p(dir, err);
    if (rc)
        return rc;
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, LOCK_NAME);
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return xg_error_set(err, XG_EIO, "%s: cannot create the lock file: %s", path,
                            strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char holder[32] = "";
        ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
        holder[n > 0 ? n : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        close(fd);
        return xg_error_set(err, XG_EBUSY,
                            "%s: another xtalgen run (pid %s) is writing this folder; wait for "
                            "it or choose another folder",
                            dir, holder[0] ? holder : "?");
    }
    char pid[32];
    int pl = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)pl, 0) != pl) {
        /* the pid is only for the message of a refused run; the lock itself holds */
    }
    od->lock_fd = fd;
    if ((rc = prepare(dir, cmd, mode, err))) {
        xg_outdir_close(od);
        return rc;
    }
    snprintf(path, sizeof path, "%s/%s", dir, MANIFEST_NAME);
    /* After an overwrite the removed names are dropped from the manifest; a resume keeps it. */
    int flags = O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC;
    if (mode == XG_OUTDIR_OVERWRITE)
        flags |= O_TRUNC;
    od->manifest_fd = open(path, flags, 0644);
    if (od->manifest_fd < 0) {
        rc = xg_error_set(err, XG_EIO, "%s: %s", path, strerror(errno));
        xg_outdir_close(od);
        return rc;
    }
    return XG_OK;
}

int xg_outdir_record(xg_outdir *od, const char *name, xg_error *err)
{
    if (!name || !*name || strchr(name, '/') || strchr(name, '\n') || is_own_name(name))
        return xg_error_set(err, XG_EINVAL, "output folder entry '%s' is not a plain name",
                            name ? name : "");
    /* The manifest is read once, then kept as a set: a folder of many thousand converted
     * files must not reread it per file. */
    name_set *set = od->recorded;
    if (!set) {
        size_t mlen = 0;
        char *manifest = read_manifest(od->dir, &mlen);
        set = calloc(1, sizeof *set);
        int bad = !set;
        for (size_t i = 0; !bad && manifest && i < mlen; i += strlen(manifest + i) + 1)
            bad = manifest[i] && set_add(set, manifest + i) != 0;
        free(manifest);
        if (bad) {
            if (set)
                set_free(set);
            free(set);
            return xg_error_set(err, XG_ENOMEM, "%s: out of memory", od->dir);
        }
        od->recorded = set;
    }
    if (set_has(set, name))
        return XG_OK;
    if (set_add(set, name) != 0)
        return xg_error_set(err, XG_ENOMEM, "%s: out of memory", od->dir);
    size_t n = strlen(name);
    char line[512];
    if (n + 2 > sizeof line)
        return xg_error_set(err, XG_EINVAL, "output folder entry '%.40s...' is too long", name);
    memcpy(line, name, n);
    line[n] = '\n';
    if (write(od->manifest_fd, line, n + 1) != (ssize_t)(n + 1) || fsync(od->manifest_fd) != 0)
        return xg_error_set(err, XG_EIO, "%s/%s: %s", od->dir, MANIFEST_NAME, strerror(errno));
    return XG_OK;
}

int xg_outdir_path(const xg_outdir *od, const char *name, char *buf, size_t size, xg_error *err)
{
    if ((size_t)snprintf(buf, size, "%s/%s", od->dir, name) >= size)
        return xg_error_set(err, XG_EINVAL, "%s/%s: path too long", od->dir, name);
    /* Every existing component below the folder must be a real file or folder. */
    size_t base = strlen(od->dir) + 1;
    for (size_t i = base; ; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            struct stat st;
            int is_link = lstat(buf, &st) == 0 && S_ISLNK(st.st_mode);
            buf[i] = c;
            if (is_link) {
                char shown[4200];
                snprintf(shown, sizeof shown, "%.*s", (int)i, buf);
                return xg_error_set(err, XG_EIO,
                                    "%s is a symbolic link inside the output folder; xtalgen "
                                    "does not write through links (remove it)",
                                    shown);
            }
            if (c == '\0')
                break;
        }
    }
    return XG_OK;
}

int xg_outdir_unique_names(const xg_dataset *ds, const unsigned char *keep, const char *ext,
                           const char *cmd, int quiet, char ***out, xg_error *err)
{
    *out = NULL;
    char **names = calloc((size_t)(ds->n ? ds->n : 1), sizeof *names);
    name_set used = {NULL, 0, 0, 1};
    if (!names)
        return xg_error_set(err, XG_ENOMEM, "%s: out of memory", cmd);
    int rc = XG_OK;
    for (int64_t i = 0; i < ds->n && !rc; i++) {
        if (keep && !keep[i])
            continue;
        char base[XG_ID_LEN + 8];
        snprintf(base, sizeof base, "%s", ds->ids[i][0] ? ds->ids[i] : "crystal");
        for (char *c = base; *c; c++)
            if (!(*c == '-' || *c == '_' || *c == '.' || (*c >= '0' && *c <= '9') ||
                  (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')))
                *c = '_';
        if (base[0] == '.')
            base[0] = '_';
        char cand[XG_ID_LEN + 40], withext[XG_ID_LEN + 64];
        for (long k = 1;; k++) {
            if (k == 1)
                snprintf(cand, sizeof cand, "%s", base);
            else
                snprintf(cand, sizeof cand, "%s_%ld", base, k);
            snprintf(withext, sizeof withext, "%s.%s", cand, ext);
            if (!set_has(&used, cand) && !set_has(&used, withext))
                break;
        }
        if (strcmp(cand, ds->ids[i]) != 0 && !quiet)
            fprintf(stderr, "xtalgen %s: crystal '%s' is written as '%s' (%s)\n", cmd,
                    ds->ids[i], cand,
                    strcmp(base, cand) ? "its name is taken by another crystal"
                                       : "characters unsafe in file names replaced");
        names[i] = strdup(cand);
        if (!names[i] || set_add(&used, cand) || set_add(&used, withext))
            rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", cmd);
    }
    set_free(&used);
    if (rc) {
        xg_outdir_names_free(names, ds->n);
        return rc;
    }
    *out = names;
    return XG_OK;
}

void xg_outdir_names_free(char **names, int64_t n)
{
    for (int64_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

void xg_outdir_close(xg_outdir *od)
{
    if (od->recorded) {
        set_free(od->recorded);
        free(od->recorded);
        od->recorded = NULL;
    }
    if (od->manifest_fd >= 0)
        close(od->manifest_fd);
    if (od->lock_fd >= 0) {
        flock(od->lock_fd, LOCK_UN);
        close(od->lock_fd);
    }
    od->lock_fd = od->manifest_fd = -1;
}
