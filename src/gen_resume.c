/* gen_resume.c: see gen_resume.h. */
#include "src/gen_resume.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crystal/xg_dataset.h"
#include "crystal/xg_fileio.h"

/* ---------------------------------------------------------------- same settings ---- */

/* Lines a finished run adds or changes at its end. */
static int end_only(const char *line)
{
    return strstr(line, "\"redrawn_collapsed\"") || strstr(line, "\"collapsed_kept\"") ||
           strstr(line, "\"redrawn_wrong_group\"") || strstr(line, "\"wrong_group_kept\"");
}

/* Next line of f that is not end_only; NULL at the end. */
static char *next_line(FILE *f, char **buf, size_t *cap)
{
    while (getline(buf, cap, f) >= 0) {
        if (!end_only(*buf)) {
            (*buf)[strcspn(*buf, "\n")] = '\0';
            return *buf;
        }
    }
    return NULL;
}

int xg_gen_resume_same_run(const char *existing, const char *candidate, xg_error *err)
{
    FILE *a = fopen(existing, "r"), *b = fopen(candidate, "r");
    if (!a || !b) {
        if (a)
            fclose(a);
        if (b)
            fclose(b);
        return xg_error_set(err, XG_EPARSE,
                            "%s: missing: the folder holds no record of the run to resume",
                            existing);
    }
    char *la = NULL, *lb = NULL;
    size_t ca = 0, cb = 0;
    int rc = XG_OK;
    for (long line = 1;; line++) {
        char *x = next_line(a, &la, &ca), *y = next_line(b, &lb, &cb);
        if (!x && !y)
            break;
        if (!x || !y || strcmp(x, y) != 0) {
            while (x && *x == ' ')
                x++;
            while (y && *y == ' ')
                y++;
            rc = xg_error_set(err, XG_EINVAL,
                              "%s: the run there was made with other settings (it records %s; "
                              "this command would record %s); resume with the command line of "
                              "that run, or use --overwrite",
                              existing, x ? x : "nothing more", y ? y : "nothing more");
            break;
        }
    }
    free(la);
    free(lb);
    fclose(a);
    fclose(b);
    return rc;
}

/* ---------------------------------------------------------------- progress file ---- */

static void join(char *buf, size_t n, const char *dir, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
}

int xg_gen_progress_record(const char *dir, long done, long redrawn, long unresolved,
                           int truncate, xg_error *err)
{
    char path[4400], line[96];
    join(path, sizeof path, dir, XG_GEN_PROGRESS_NAME);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC |
                            (truncate ? O_TRUNC : 0),
                  0644);
    if (fd < 0)
        return xg_error_set(err, XG_EIO, "%s: %s", path, strerror(errno));
    int len = snprintf(line, sizeof line, "%ld %ld %ld\n", done, redrawn, unresolved);
    int ok = write(fd, line, (size_t)len) == len && fsync(fd) == 0;
    close(fd);
    return ok ? XG_OK : xg_error_set(err, XG_EIO, "%s: %s", path, strerror(errno));
}

void xg_gen_progress_finish(const char *dir)
{
    char path[4400];
    join(path, sizeof path, dir, XG_GEN_PROGRESS_NAME);
    unlink(path);
}

/* The row for `done` crystals; XG_EPARSE if the file has none. Rows after it (a batch whose
 * commit did not happen) are dropped from the file. */
static int progress_row(const char *dir, long done, xg_gen_progress *p, int *have_file,
                        xg_error *err)
{
    char path[4400];
    join(path, sizeof path, dir, XG_GEN_PROGRESS_NAME);
    FILE *f = fopen(path, "r");
    *have_file = f != NULL;
    if (!f)
        return XG_OK;
    long d, r, u, keep_at = -1;
    int found = 0;
    char line[128];
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%ld %ld %ld", &d, &r, &u) != 3 || d < 0 || r < 0 || u < 0 || u > r)
            break;
        if (d == done) {
            p->redrawn = r;
            p->unresolved = u;
            found = 1;
            keep_at = ftell(f);
        }
    }
    fclose(f);
    if (!found)
        return xg_error_set(err, XG_EPARSE,
                            "%s: no record for the %ld crystals of generated.h5 (damaged?); "
                            "use --overwrite to start again",
                            path, done);
    if (truncate(path, keep_at) != 0)
        return xg_error_set(err, XG_EIO, "%s: %s", path, strerror(errno));
    return XG_OK;
}

/* ---------------------------------------------------------------- cutting back ---- */

/* Reads record i of a file being cut back (i = -1: its header), checking that it is whole and
 * the one of crystal i; an error naming the file otherwise. */
typedef int (*record_fn)(FILE *f, const char *path, long i, char **line, size_t *cap,
                         xg_error *err);

/* Cuts DIR/NAME after records first..k-1 (first = -1: a header, then crystals 0..k-1), which
 * must be there. */
static int cut_file(const char *dir, const char *name, long first, long k, record_fn record,
                    xg_error *err)
{
    char path[4400];
    join(path, sizeof path, dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return xg_error_set(err, XG_EPARSE, "%s: missing (%s)", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    int rc = XG_OK;
    for (long i = first; !rc && i < k; i++)
        rc = record(f, path, i, &line, &cap, err);
    long end = ftell(f);
    free(line);
    fclose(f);
    if (!rc && truncate(path, end) != 0)
        rc = xg_error_set(err, XG_EIO, "%s: %s", path, strerror(errno));
    return rc;
}

/* summary.csv: the header, then the row of crystal i. */
static int csv_row(FILE *f, const char *path, long i, char **line, size_t *cap, xg_error *err)
{
    char id[32];
    ssize_t len = getline(line, cap, f);
    if (i < 0)
        return len < 0 || strncmp(*line, "id,", 3) != 0
                   ? xg_error_set(err, XG_EPARSE, "%s: no header line", path)
                   : XG_OK;
    snprintf(id, sizeof id, "gen-%07ld,", i);
    if (len < 1 || (*line)[len - 1] != '\n' || strncmp(*line, id, strlen(id)) != 0)
        return xg_error_set(err, XG_EPARSE,
                            "%s: row %ld is not the one of gen-%07ld (damaged?); use "
                            "--overwrite to start again",
                            path, i + 2, i);
    return XG_OK;
}

/* generated.extxyz: the frame of crystal i (a count line, a comment line, count atom lines). */
static int xyz_frame(FILE *f, const char *path, long i, char **line, size_t *cap, xg_error *err)
{
    ssize_t len = getline(line, cap, f);
    char *end = NULL;
    long natoms = len > 0 ? strtol(*line, &end, 10) : -1;
    int ok = len > 0 && end != *line && natoms >= 1;
    for (long a = 0; ok && a < natoms + 1; a++) {
        len = getline(line, cap, f);
        ok = len > 0 && (*line)[len - 1] == '\n';
    }
    if (!ok)
        return xg_error_set(err, XG_EPARSE,
                            "%s: frame %ld (gen-%07ld) is missing or cut short (damaged?); "
                            "use --overwrite to start again",
                            path, i + 1, i);
    return XG_OK;
}

/* Removes CIFs of crystals >= k and leftover temporary files in cif/; every CIF of 0..k-1
 * must be there. */
static int cut_cifs(const char *dir, long k, xg_error *err)
{
    char cdir[4400], path[4800];
    join(cdir, sizeof cdir, dir, "cif");
    DIR *d = opendir(cdir);
    if (!d)
        return k == 0 ? XG_OK
                      : xg_error_set(err, XG_EPARSE, "%s: missing (%s)", cdir, strerror(errno));
    struct dirent *e;
    int rc = XG_OK;
    while (!rc && (e = readdir(d))) {
        long idx;
        int used = 0;
        int is_cif = sscanf(e->d_name, "gen-%7ld.cif%n", &idx, &used) == 1 &&
                     e->d_name[used] == '\0' && strlen(e->d_name) == 15;
        if ((is_cif && idx >= k) || xg_atomic_is_leftover(e->d_name)) {
            snprintf(path, sizeof path, "%s/%s", cdir, e->d_name);
            if (unlink(path) != 0)
                rc = xg_error_set(err, XG_EIO, "%s: %s", path, strerror(errno));
        }
    }
    closedir(d);
    for (long i = 0; !rc && i < k; i++) {
        snprintf(path, sizeof path, "%s/gen-%07ld.cif", cdir, i);
        if (access(path, F_OK) != 0)
            rc = xg_error_set(err, XG_EPARSE,
                              "%s: missing, though generated.h5 holds the crystal; use "
                              "--overwrite to start again",
                              path);
    }
    return rc;
}

int xg_gen_resume_prepare(const char *dir, long n, long batch, xg_gen_progress *p,
                          xg_error *err)
{
    memset(p, 0, sizeof *p);
    char path[4400];
    join(path, sizeof path, dir, "generated.h5");
    if (access(path, F_OK) != 0)
        return cut_cifs(dir, 0, err); /* nothing committed: a fresh start */
    xg_dataset *ds = NULL;
    int rc = xg_dataset_read_h5(path, &ds, err);
    if (rc)
        return xg_error_prefix(err, XG_EPARSE,
                               "cannot resume (the run was killed while writing it?); use "
                               "--overwrite to start again");
    long k = (long)ds->n;
    char id[32];
    for (long i = 0; !rc && i < k; i++) {
        snprintf(id, sizeof id, "gen-%07ld", i);
        if (strcmp(ds->ids[i], id) != 0)
            rc = xg_error_set(err, XG_EPARSE, "%s: crystal %ld is '%s', not %s: not a generate "
                              "run's file", path, i, ds->ids[i], id);
    }
    xg_dataset_free(ds);
    if (rc)
        return rc;
    if (k > n || (k % batch != 0 && k != n))
        return xg_error_set(err, XG_EPARSE,
                            "%s holds %ld crystals: not a run of -n %ld --batch %ld stopped "
                            "between batches",
                            path, k, n, batch);
    p->done = k;
    int have_file = 0;
    if ((rc = progress_row(dir, k, p, &have_file, err)))
        return rc;
    if (!have_file) {
        if (k == n) {
            p->complete = 1;
            return XG_OK;
        }
        return xg_error_set(err, XG_EPARSE,
                            "%s/%s: missing, so the folder's run cannot be continued; use "
                            "--overwrite to start again",
                            dir, XG_GEN_PROGRESS_NAME);
    }
    if ((rc = cut_file(dir, "summary.csv", -1, k, csv_row, err)) ||
        (rc = cut_file(dir, "generated.extxyz", 0, k, xyz_frame, err)) ||
        (rc = cut_cifs(dir, k, err)))
        return rc;
    return XG_OK;
}

/* ---------------------------------------------------------------- signals ---- */

static volatile sig_atomic_t in_critical, pending;

static void on_signal(int sig)
{
    pending = sig; /* first, so that critical_end cannot miss it */
    if (!in_critical) {
        signal(sig, SIG_DFL);
        raise(sig); /* delivered when the handler returns: the default action, as before */
    }
}

void xg_gen_signals_install(void)
{
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++) {
        struct sigaction old, sa;
        if (sigaction(sigs[k], NULL, &old) != 0 || old.sa_handler == SIG_IGN)
            continue; /* nohup and friends keep their choice */
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[k], &sa, NULL);
    }
}

void xg_gen_critical_begin(void) { in_critical = 1; }

void xg_gen_critical_end(void)
{
    in_critical = 0;
    int sig = pending;
    if (sig) {
        signal(sig, SIG_DFL);
        raise(sig);
    }
}
