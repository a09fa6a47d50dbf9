/* xg_input.c: one entry point for every structure input (see xg_input.h). */
#include "crystal/xg_input.h"
#include "crystal/xg_alloc.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>
#include <sys/stat.h>

#include "crystal/xg_cif.h"
#include "crystal/xg_csv.h"
#include "crystal/xg_extxyz.h"
#include "crystal/xg_poscar.h"
#include "crystal/xg_fileio.h"

#define XG_INPUT_MAX_FILE ((long long)1 << 31)

const char *xg_input_format_name(xg_input_format fmt)
{
    switch (fmt) {
    case XG_INPUT_CIF: return "CIF";
    case XG_INPUT_POSCAR: return "POSCAR";
    case XG_INPUT_EXTXYZ: return "extxyz";
    case XG_INPUT_H5: return "xtalgen HDF5 dataset";
    case XG_INPUT_CSV: return "CDVAE CSV";
    case XG_INPUT_DIR: return "folder";
    default: return "unknown";
    }
}

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

static const char *extension(const char *path)
{
    const char *b = base_name(path), *dot = strrchr(b, '.');
    return (dot && dot != b) ? dot + 1 : "";
}

/* File name without folder and extension, for ids. */
static void stem(const char *path, char *out, size_t n)
{
    const char *b = base_name(path);
    const char *dot = strrchr(b, '.');
    size_t len = (dot && dot != b) ? (size_t)(dot - b) : strlen(b);
    if (len >= n)
        len = n - 1;
    memcpy(out, b, len);
    out[len] = '\0';
}

xg_input_format xg_input_format_from_name(const char *path)
{
    const char *ext = extension(path), *b = base_name(path);
    if (!strcasecmp(ext, "cif") || !strcasecmp(ext, "mcif"))
        return XG_INPUT_CIF;
    if (!strcasecmp(ext, "vasp") || !strcasecmp(ext, "poscar") || !strncmp(b, "POSCAR", 6) ||
        !strncmp(b, "CONTCAR", 7))
        return XG_INPUT_POSCAR;
    if (!strcasecmp(ext, "extxyz") || !strcasecmp(ext, "xyz"))
        return XG_INPUT_EXTXYZ;
    if (!strcasecmp(ext, "h5") || !strcasecmp(ext, "hdf5"))
        return XG_INPUT_H5;
    if (!strcasecmp(ext, "csv"))
        return XG_INPUT_CSV;
    return XG_INPUT_UNKNOWN;
}

int xg_input_detect(const char *path, xg_input_format *fmt, xg_error *err)
{
    *fmt = XG_INPUT_UNKNOWN;
    struct stat st;
    if (!path || stat(path, &st) != 0)
        return xg_error_set(err, XG_EIO, "%s: cannot open: %s", path ? path : "(null)",
                            strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        *fmt = XG_INPUT_DIR;
        return XG_OK;
    }
    *fmt = xg_input_format_from_name(path);
    if (*fmt != XG_INPUT_UNKNOWN)
        return XG_OK;
    /* No telling extension: look at the first bytes. */
    FILE *f = fopen(path, "rb");
    if (!f)
        return xg_error_set(err, XG_EIO, "%s: cannot open: %s", path, strerror(errno));
    char head[4097];
    size_t n = fread(head, 1, sizeof head - 1, f);
    fclose(f);
    head[n] = '\0';
    if (n >= 8 && memcmp(head, "\x89HDF\r\n\x1a\n", 8) == 0) {
        *fmt = XG_INPUT_H5;
        return XG_OK;
    }
    if (n >= 3 && memcmp(head, "\xEF\xBB\xBF", 3) == 0) /* a UTF-8 byte order mark */
        memmove(head, head + 3, n - 2);
    if (!strncmp(head, "data_", 5) || strstr(head, "\ndata_") || strstr(head, "_cell_length_a")) {
        *fmt = XG_INPUT_CIF;
        return XG_OK;
    }
    char *nl = strchr(head, '\n');
    if (nl && strstr(head, "material_id") && memchr(head, ',', (size_t)(nl - head))) {
        *fmt = XG_INPUT_CSV;
        return XG_OK;
    }
    if (nl && strstr(nl, "Lattice=")) {
        *fmt = XG_INPUT_EXTXYZ;
        return XG_OK;
    }
    /* a POSCAR: comment, scale, three vectors; the scale line is a lone number */
    if (nl) {
        char *p = nl + 1;
        char *end;
        strtod(p, &end);
        if (end != p) {
            while (*end == ' ' || *end == '\t' || *end == '\r')
                end++;
            if (*end == '\n') {
                *fmt = XG_INPUT_POSCAR;
                return XG_OK;
            }
        }
    }
    return xg_error_set(err, XG_EUNSUPPORTED,
                        "%s: cannot tell the format (expected CIF, POSCAR, extxyz, an xtalgen "
                        ".h5 dataset or a CDVAE .csv)",
                        path);
}

/* Appends s to ds under id. */
static int append_as(xg_dataset *ds, xg_structure *s, const char *id, xg_error *err)
{
    snprintf(s->id, XG_ID_LEN, "%.*s", XG_ID_LEN - 1, id);
    return xg_dataset_append(ds, s, NULL, err);
}

/* Appends the crystals read from one file. One crystal: the file stem is its id. Several: the
 * ids they carry (CIF block names, extxyz id keys) when those tell them apart, prefixed with
 * the stem, else "<stem>_<k>". */
static int append_list(const char *path, xg_structure **list, int n, xg_dataset *ds,
                       xg_error *err)
{
    char st[XG_ID_LEN];
    stem(path, st, sizeof st);
    int unique = 1;
    for (int i = 0; i < n && unique; i++) {
        if (!list[i]->id[0])
            unique = 0;
        for (int j = 0; j < i && unique; j++)
            if (!strcmp(list[i]->id, list[j]->id))
                unique = 0;
    }
    int rc = XG_OK;
    for (int i = 0; i < n && rc == XG_OK; i++) {
        char id[XG_ID_LEN * 2 + 8];
        if (n == 1)
            snprintf(id, sizeof id, "%s", st);
        else if (unique)
            snprintf(id, sizeof id, "%s_%s", st, list[i]->id);
        else
            snprintf(id, sizeof id, "%s_%d", st, i + 1);
        id[XG_ID_LEN - 1] = '\0';
        rc = append_as(ds, list[i], id, err);
    }
    return rc;
}

static int read_cif_into(const char *path, xg_dataset *ds, xg_error *err)
{
    char *text;
    size_t len;
    int rc = xg_file_read_all(path, (size_t)XG_INPUT_MAX_FILE, &text, &len, err);
    if (rc)
        return rc;
    xg_structure **list = NULL;
    int n = 0;
    rc = xg_cif_read_buffer(text, len, path, &list, &n, err);
    free(text);
    if (rc)
        return rc;
    rc = append_list(path, list, n, ds, err);
    xg_cif_structures_free(list, n);
    return rc;
}

static int read_poscar_into(const char *path, xg_dataset *ds, xg_error *err)
{
    xg_structure *s = NULL;
    int rc = xg_poscar_read_file(path, NULL, 0, &s, err);
    if (rc)
        return rc;
    char st[XG_ID_LEN];
    stem(path, st, sizeof st);
    rc = append_as(ds, s, st, err);
    xg_structure_free(s);
    return rc;
}

static int read_extxyz_into(const char *path, xg_dataset *ds, xg_error *err)
{
    xg_structure **list = NULL;
    int n = 0;
    int rc = xg_extxyz_read_file(path, &list, &n, err);
    if (rc)
        return rc;
    rc = append_list(path, list, n, ds, err);
    xg_extxyz_structures_free(list, n);
    return rc;
}

/* ------------------------------------------------------------------ folders ------- */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Failures collected by a tolerant read (NULL: strict, the first failure fails the read). */
typedef struct {
    xg_input_failure *v;
    int64_t n, cap;
} fail_list;

/* A placeholder crystal with no atoms for a file that could not be read, so that the file
 * keeps its row in what the caller reports; its message goes to fl. */
static int add_failure(fail_list *fl, xg_dataset *ds, const char *name, const xg_error *why,
                       xg_error *err)
{
    if (fl->n == fl->cap) {
        int64_t cap = fl->cap ? 2 * fl->cap : 8;
        xg_input_failure *v = realloc(fl->v, (size_t)cap * sizeof *v);
        if (!v)
            return xg_error_set(err, XG_ENOMEM, "out of memory");
        fl->v = v;
        fl->cap = cap;
    }
    xg_structure *s = xg_structure_alloc(0);
    if (!s)
        return xg_error_set(err, XG_ENOMEM, "out of memory");
    const char *dot = strrchr(name, '.');
    int len = dot && dot != name ? (int)(dot - name) : (int)strlen(name);
    snprintf(s->id, XG_ID_LEN, "%.*s", len < XG_ID_LEN - 1 ? len : XG_ID_LEN - 1, name);
    int rc = xg_dataset_append(ds, s, NULL, err);
    xg_structure_free(s);
    if (rc)
        return rc;
    xg_input_failure *f = &fl->v[fl->n++];
    f->index = ds->n - 1;
    snprintf(f->msg, sizeof f->msg, "%.255s", why->msg);
    return XG_OK;
}

/* fl != NULL: tolerant read (a placeholder per unreadable file); else opt->skip decides. */
static int read_dir_into(const char *path, xg_dataset *ds, const xg_input_options *opt,
                         long *nskipped, fail_list *fl, xg_error *err)
{
    DIR *d = opendir(path);
    if (!d)
        return xg_error_set(err, XG_EIO, "%s: cannot open the folder: %s", path, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = XG_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        xg_input_format f = xg_input_format_from_name(e->d_name);
        if (f != XG_INPUT_CIF && f != XG_INPUT_POSCAR && f != XG_INPUT_EXTXYZ)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **p = xg_realloc(names, cap * sizeof *p);
            if (!p) {
                rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory listing the folder", path);
                break;
            }
            names = p;
        }
        names[n] = xg_strdup(e->d_name);
        if (!names[n]) {
            rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory listing the folder", path);
            break;
        }
        n++;
    }
    closedir(d);
    if (rc == XG_OK && n == 0)
        rc = xg_error_set(err, XG_EPARSE,
                          "%s: no CIF, POSCAR or extxyz files in the folder (by extension: .cif, "
                          ".vasp, .poscar, POSCAR*, CONTCAR*, .extxyz, .xyz)",
                          path);
    if (rc == XG_OK)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n && rc == XG_OK; i++) {
        size_t pl = strlen(path) + strlen(names[i]) + 2;
        char *full = xg_malloc(pl);
        if (!full) {
            rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", path);
            break;
        }
        snprintf(full, pl, "%s/%s", path, names[i]);
        struct stat st;
        if (stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
            /* A file that fails is cut back out of ds (its crystals are appended only after
             * the whole file parsed, but an append itself may fail midway) and skipped. */
            int64_t n0 = ds->n;
            xg_error why = {0};
            xg_input_format f = xg_input_format_from_name(names[i]);
            if (f == XG_INPUT_CIF)
                rc = read_cif_into(full, ds, &why);
            else if (f == XG_INPUT_POSCAR)
                rc = read_poscar_into(full, ds, &why);
            else
                rc = read_extxyz_into(full, ds, &why);
            if (rc && rc != XG_ENOMEM && fl) {
                /* the crystals read before the failure stay; the file gets its placeholder */
                rc = add_failure(fl, ds, names[i], &why, err);
            } else if (rc && rc != XG_ENOMEM && opt->skip) {
                opt->skip(opt->skip_ctx, full, &why);
                (*nskipped)++;
                ds->n = n0;
                ds->m = ds->offsets[n0];
                rc = XG_OK;
            } else if (rc) {
                xg_error_set(err, rc, "%s", why.msg);
            }
        }
        free(full);
        if (opt->progress)
            opt->progress(opt->progress_ctx, (long long)i + 1, (long long)n);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* ------------------------------------------------------------------ entry ---------- */

typedef struct {
    xg_input_progress_fn fn;
    void *ctx;
} progress_relay;

static void relay(void *ctx, long long done, long long total)
{
    progress_relay *r = ctx;
    if (r->fn)
        r->fn(r->ctx, done, total);
}

static int read_all(const char *path, const xg_input_options *opt, xg_dataset **out,
                    long *nskipped, fail_list *fl, xg_error *err)
{
    static const xg_input_options none = {NULL, NULL, NULL, NULL};
    if (!opt)
        opt = &none;
    xg_input_progress_fn progress = opt->progress;
    void *ctx = opt->progress_ctx;
    long skipped = 0;
    if (nskipped)
        *nskipped = 0;
    *out = NULL;
    xg_input_format fmt;
    int rc = xg_input_detect(path, &fmt, err);
    if (rc)
        return rc;
    /* The output folder of `xtalgen generate` holds every crystal three times (cif/, the extxyz,
     * the dataset); its dataset is the one copy with the original ids. */
    char gen[4200];
    if (fmt == XG_INPUT_DIR && strlen(path) < 4000) {
        snprintf(gen, sizeof gen, "%s/generated.h5", path);
        if (access(gen, R_OK) == 0) {
            path = gen;
            fmt = XG_INPUT_H5;
        }
    }
    xg_dataset *ds = NULL;
    if (fmt == XG_INPUT_H5) {
        rc = xg_dataset_read_h5(path, &ds, err);
    } else if (fmt == XG_INPUT_CSV) {
        progress_relay r = {progress, ctx};
        rc = xg_csv_read_cdvae(path, &ds, progress ? relay : NULL, &r, err);
    } else {
        ds = xg_dataset_alloc();
        if (!ds)
            return xg_error_set(err, XG_ENOMEM, "%s: out of memory", path);
    }
    if (rc)
        return rc;
    switch (fmt) {
    case XG_INPUT_H5:
    case XG_INPUT_CSV: break;
    case XG_INPUT_CIF: rc = read_cif_into(path, ds, err); break;
    case XG_INPUT_POSCAR: rc = read_poscar_into(path, ds, err); break;
    case XG_INPUT_EXTXYZ: rc = read_extxyz_into(path, ds, err); break;
    case XG_INPUT_DIR: rc = read_dir_into(path, ds, opt, &skipped, fl, err); break;
    default: rc = xg_error_set(err, XG_EUNSUPPORTED, "%s: unsupported input", path); break;
    }
    if (nskipped)
        *nskipped = skipped;
    if (rc == XG_OK && ds->n == 0 && skipped)
        rc = xg_error_set(err, XG_EPARSE, "%s: no readable crystal structures (%ld files could "
                          "not be read)", path, skipped);
    else if (rc == XG_OK && ds->n == 0)
        rc = xg_error_set(err, XG_EPARSE, "%s: no crystal structures found", path);
    if (rc) {
        xg_dataset_free(ds);
        return rc;
    }
    *out = ds;
    return XG_OK;
}

int xg_input_read_opts(const char *path, const xg_input_options *opt, xg_dataset **out,
                       long *nskipped, xg_error *err)
{
    return read_all(path, opt, out, nskipped, NULL, err);
}

int xg_input_read_progress(const char *path, xg_input_progress_fn progress, void *ctx,
                           xg_dataset **out, xg_error *err)
{
    xg_input_options o = {progress, ctx, NULL, NULL};
    return read_all(path, &o, out, NULL, NULL, err);
}

int xg_input_read_tolerant(const char *path, xg_input_progress_fn progress, void *ctx,
                           xg_dataset **out, xg_input_failure **failures, int64_t *nfailures,
                           xg_error *err)
{
    fail_list fl = {NULL, 0, 0};
    *failures = NULL;
    *nfailures = 0;
    xg_input_options o = {progress, ctx, NULL, NULL};
    int rc = read_all(path, &o, out, NULL, &fl, err);
    if (rc) {
        free(fl.v);
        return rc;
    }
    *failures = fl.v;
    *nfailures = fl.n;
    return XG_OK;
}

int xg_input_read(const char *path, xg_dataset **out, xg_error *err)
{
    return xg_input_read_progress(path, NULL, NULL, out, err);
}
