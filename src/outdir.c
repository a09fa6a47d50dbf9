/* outdir.c: see outdir.h. */
#include "src/outdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/cli.h"

#define LOCK_NAME ".xtalgen.lock"
#define MANIFEST_NAME ".xtalgen-manifest"

/* A leftover of an interrupted atomic write: NAME.tmp, or NAME.tmp.PID.K as crystal/xg_fileio.h
 * names them now (NAME.tmp.DIGITS before). */
static int is_temp_name(const char *name)
{
    const char *t = strstr(name, ".tmp");
    if (!t || t == name)
        return 0;
    const char *p = t + 4;
    if (*p == '\0')
        return 1;
    if (*p != '.')
        return 0;
    p++;
    if (*p < '0' || *p > '9')
        return 0;
    for (; *p; p++)
        if ((*p < '0' || *p > '9') && !(*p == '.' && p[1] >= '0' && p[1] <= '9'))
            return 0;
    return 1;
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
        if (is_temp_name(nm)) { /* debris of a killed run: never anyone's data */
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
    size_t mlen = 0;
    char *manifest = read_manifest(od->dir, &mlen);
    int have = in_manifest(manifest, mlen, name);
    free(manifest);
    if (have)
        return XG_OK;
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

void xg_outdir_close(xg_outdir *od)
{
    if (od->manifest_fd >= 0)
        close(od->manifest_fd);
    if (od->lock_fd >= 0) {
        flock(od->lock_fd, LOCK_UN);
        close(od->lock_fd);
    }
    od->lock_fd = od->manifest_fd = -1;
}
