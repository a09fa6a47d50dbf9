/* report.c: the run report page (see report.h). */
#include "src/report.h"

#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <spglib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "crystal/xg_csv.h"
#include "crystal/xg_dataset.h"
#include "crystal/xg_elements.h"
#include "crystal/xg_input.h"
#include "crystal/xg_json.h"
#include "crystal/xg_metrics.h"
#include "src/cli.h"
#include "src/model_path.h"
#include "src/report_ref.h"
#include "src/xg_svg.h"

#ifndef XTALGEN_VERSION
#define XTALGEN_VERSION "unknown"
#endif

#define MAX_PROV 96

/* ----------------------------------------------------------------- tables by name ---- */

typedef struct {
    int ncols;
    char **names;
    long nrows;
    char **cells; /* nrows * ncols */
    char path[4096];
} table;

static void table_free(table *t)
{
    for (int c = 0; c < t->ncols; c++)
        free(t->names[c]);
    for (long i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->names);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

static int table_read(const char *path, table *t, xg_error *err)
{
    memset(t, 0, sizeof *t);
    snprintf(t->path, sizeof t->path, "%s", path);
    xg_csv_reader *r = NULL;
    int rc = xg_csv_open(path, &r, err);
    if (rc)
        return rc;
    t->ncols = xg_csv_ncolumns(r);
    t->names = calloc((size_t)t->ncols, sizeof *t->names);
    long cap = 0;
    if (!t->names)
        rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", path);
    for (int c = 0; c < t->ncols && !rc; c++)
        if (!(t->names[c] = strdup(xg_csv_column_name(r, c))))
            rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", path);
    int got = 0;
    while (!rc && !(rc = xg_csv_next(r, &got, err)) && got) {
        if (t->nrows == cap) {
            cap = cap ? 2 * cap : 256;
            char **nc = realloc(t->cells, (size_t)(cap * t->ncols) * sizeof *nc);
            if (!nc) {
                rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", path);
                break;
            }
            t->cells = nc;
        }
        for (int c = 0; c < t->ncols; c++)
            t->cells[t->nrows * t->ncols + c] = NULL;
        t->nrows++;
        for (int c = 0; c < t->ncols && !rc; c++)
            if (!(t->cells[(t->nrows - 1) * t->ncols + c] = strdup(xg_csv_field(r, c))))
                rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", path);
    }
    xg_csv_close(r);
    if (rc)
        table_free(t);
    return rc;
}

static int tcol(const table *t, const char *name)
{
    for (int c = 0; c < t->ncols; c++)
        if (!strcmp(t->names[c], name))
            return c;
    return -1;
}

static const char *tcell(const table *t, long row, int col)
{
    return row >= 0 && col >= 0 && row < t->nrows ? t->cells[row * t->ncols + col] : "";
}

static double tnum(const table *t, long row, int col)
{
    double v;
    const char *s = tcell(t, row, col);
    return *s && xg_csv_parse_number(s, &v) ? v : NAN;
}

/* ids -> row, by binary search over a sorted copy */
typedef struct {
    const char *id;
    long row;
} id_row;

static int cmp_id_row(const void *a, const void *b)
{
    return strcmp(((const id_row *)a)->id, ((const id_row *)b)->id);
}

typedef struct {
    id_row *v;
    long n;
} id_index;

static int index_build(id_index *ix, long n, const char *(*get)(const void *, long), const void *ctx)
{
    ix->n = n;
    ix->v = malloc((size_t)(n > 0 ? n : 1) * sizeof *ix->v);
    if (!ix->v)
        return -1;
    for (long i = 0; i < n; i++)
        ix->v[i] = (id_row){get(ctx, i), i};
    qsort(ix->v, (size_t)n, sizeof *ix->v, cmp_id_row);
    return 0;
}

static long index_find(const id_index *ix, const char *id)
{
    if (!ix->v)
        return -1;
    id_row key = {id, 0};
    const id_row *f = bsearch(&key, ix->v, (size_t)ix->n, sizeof key, cmp_id_row);
    return f ? f->row : -1;
}

static const char *table_id(const void *t, long i) { return tcell(t, i, tcol(t, "id")); }
static const char *ds_id(const void *d, long i) { return ((const xg_dataset *)d)->ids[i]; }

/* ------------------------------------------------------------------- the run ---- */

typedef struct {
    char key[192];
    char value[512];
} prov_item;

typedef struct {
    char dir[4096], screen_dir[4096];
    table gen, scr;
    xg_json *gen_json, *scr_json;
    xg_dataset *ds;
    prov_item prov[MAX_PROV];
    int nprov;
    /* the crystals, in the order of screen.csv (or summary.csv, or the dataset) */
    long n;
    long *scr_row, *gen_row, *ds_row;
    double *density, *natoms, *nelements, *eform;
    int *sg, *valid; /* valid: 1, 0, or -1 when the screen did not judge it */
    unsigned char *elements; /* n * (XG_MAX_Z + 1) */
    /* guided condition */
    char cond_name[64];
    double cond_value;
} run;

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static void run_free(run *r)
{
    table_free(&r->gen);
    table_free(&r->scr);
    xg_json_free(r->gen_json);
    xg_json_free(r->scr_json);
    xg_dataset_free(r->ds);
    free(r->scr_row);
    free(r->gen_row);
    free(r->ds_row);
    free(r->density);
    free(r->natoms);
    free(r->nelements);
    free(r->eform);
    free(r->sg);
    free(r->valid);
    free(r->elements);
    memset(r, 0, sizeof *r);
}

static void prov_add(run *r, const char *key, const char *value)
{
    if (r->nprov >= MAX_PROV)
        return;
    snprintf(r->prov[r->nprov].key, sizeof r->prov[0].key, "%s", key);
    snprintf(r->prov[r->nprov].value, sizeof r->prov[0].value, "%s", value);
    r->nprov++;
}

/* Root attributes of generated.h5 (provenance, when the writer records it). */
static herr_t attr_cb(hid_t loc, const char *name, const H5A_info_t *info, void *ctx)
{
    run *r = ctx;
    if (!strcmp(name, "format") || !strcmp(name, "version"))
        return 0;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0)
        return 0;
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    hssize_t npts = H5Sget_simple_extent_npoints(sp);
    char val[512] = "";
    H5T_class_t cls = H5Tget_class(t);
    if (cls == H5T_STRING && npts == 1) {
        if (H5Tis_variable_str(t) > 0) {
            char *s = NULL;
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, H5T_VARIABLE);
            if (H5Aread(a, mt, &s) >= 0 && s) {
                snprintf(val, sizeof val, "%s", s);
                H5free_memory(s);
            }
            H5Tclose(mt);
        } else {
            size_t sz = H5Tget_size(t);
            char *s = calloc(sz + 1, 1);
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, sz + 1);
            if (s && H5Aread(a, mt, s) >= 0)
                snprintf(val, sizeof val, "%s", s);
            free(s);
            H5Tclose(mt);
        }
    } else if ((cls == H5T_INTEGER || cls == H5T_FLOAT) && npts >= 1 && npts <= 16) {
        double v[16];
        if (H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0)
            for (hssize_t k = 0; k < npts; k++) {
                size_t used = strlen(val);
                snprintf(val + used, sizeof val - used, "%s%.10g", k ? ", " : "", v[k]);
            }
    }
    H5Sclose(sp);
    H5Tclose(t);
    H5Aclose(a);
    if (val[0]) {
        char key[160];
        snprintf(key, sizeof key, "generated.h5: %s", name);
        prov_add(r, key, val);
    }
    (void)info;
    return 0;
}

static void read_h5_attrs(run *r, const char *path)
{
    H5E_auto2_t fn;
    void *data;
    H5Eget_auto2(H5E_DEFAULT, &fn, &data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f >= 0) {
        hsize_t idx = 0;
        H5Aiterate2(f, H5_INDEX_NAME, H5_ITER_INC, &idx, attr_cb, r);
        H5Fclose(f);
    }
    H5Eset_auto2(H5E_DEFAULT, fn, data);
}

/* Scalar leaves of a JSON tree as "a.b.c" = value; arrays of scalars joined. */
static void json_flatten(run *r, const char *prefix, const xg_json *v)
{
    char val[512] = "";
    switch (v->type) {
    case XG_JSON_OBJECT:
        for (int i = 0; i < v->n; i++) {
            char key[256];
            snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", v->keys[i]);
            json_flatten(r, key, &v->items[i]);
        }
        return;
    case XG_JSON_ARRAY:
        for (int i = 0; i < v->n; i++) {
            const xg_json *x = &v->items[i];
            size_t used = strlen(val);
            if (x->type == XG_JSON_STRING || x->type == XG_JSON_NUMBER)
                snprintf(val + used, sizeof val - used, "%s%s", i ? ", " : "", x->text);
            else if (x->type == XG_JSON_BOOL)
                snprintf(val + used, sizeof val - used, "%s%s", i ? ", " : "",
                         x->boolean ? "true" : "false");
            else {
                char key[256];
                snprintf(key, sizeof key, "%s[%d]", prefix, i);
                json_flatten(r, key, x);
            }
        }
        if (!val[0])
            return;
        break;
    case XG_JSON_STRING:
    case XG_JSON_NUMBER:
        snprintf(val, sizeof val, "%s", v->text);
        break;
    case XG_JSON_BOOL:
        snprintf(val, sizeof val, "%s", v->boolean ? "true" : "false");
        break;
    case XG_JSON_NULL:
        snprintf(val, sizeof val, "null");
        break;
    }
    /* the same fact as a generated.h5 attribute of the same name is shown once */
    for (int i = 0; i < r->nprov; i++)
        if (!strncmp(r->prov[i].key, "generated.h5: ", 14) && !strcmp(r->prov[i].key + 14, prefix) &&
            !strcmp(r->prov[i].value, val))
            return;
    prov_add(r, prefix, val);
}

/* "name=value[;name=value]" (',' separates too): the first pair with a number. */
static int parse_condition(const char *s, char *name, size_t n, double *value)
{
    while (s && *s) {
        const char *eq = strchr(s, '='), *comma = strpbrk(s, ",;");
        if (!eq || (comma && comma < eq))
            return 0;
        char *end;
        double v = strtod(eq + 1, &end);
        if (end != eq + 1 && (*end == '\0' || *end == ',' || *end == ';' || *end == ' ') &&
            isfinite(v)) {
            size_t k = (size_t)(eq - s);
            if (k >= n)
                k = n - 1;
            memcpy(name, s, k);
            name[k] = '\0';
            *value = v;
            return 1;
        }
        s = comma ? comma + 1 : NULL;
    }
    return 0;
}

/* Looks for the run's condition in whatever provenance it has: a key containing "condition"
 * holding "name=value" or {"name": value}. */
static void find_condition(run *r)
{
    for (int i = 0; i < r->nprov && !r->cond_name[0]; i++) {
        const char *k = r->prov[i].key;
        if (!strstr(k, "condition"))
            continue;
        if (parse_condition(r->prov[i].value, r->cond_name, sizeof r->cond_name, &r->cond_value))
            return;
        /* flattened object: "...conditions.dft_mag_density" = "0.15" */
        const char *dot = strrchr(k, '.');
        char *end;
        double v = strtod(r->prov[i].value, &end);
        if (dot && strstr(k, "condition") < dot && end != r->prov[i].value && !*end &&
            isfinite(v) && !strstr(dot, "guidance")) {
            snprintf(r->cond_name, sizeof r->cond_name, "%s", dot + 1);
            r->cond_value = v;
        }
    }
}

/* 1 when a summary.json is screen's (it has counts and rates), not generate's. */
static int is_screen_summary(const xg_json *j)
{
    return xg_json_get(j, "rates") && xg_json_get(j, "n_structures");
}

static int path_join(char *out, size_t n, const char *a, const char *b)
{
    return snprintf(out, n, "%s/%s", a, b) >= (int)n ? -1 : 0;
}

/* Locates the screen folder of a run: the given one, else DIR, else DIR/screen. */
static void find_screen_dir(const char *dir, const char *given, char *out, size_t n)
{
    char p[4200];
    out[0] = '\0';
    if (given) {
        snprintf(out, n, "%s", given);
        return;
    }
    if (!dir)
        return;
    snprintf(p, sizeof p, "%s/screen.csv", dir);
    if (file_exists(p)) {
        snprintf(out, n, "%s", dir);
        return;
    }
    snprintf(p, sizeof p, "%s/screen/screen.csv", dir);
    if (file_exists(p) && strlen(dir) + 8 <= n)
        snprintf(out, n, "%.*s/screen", (int)(n - 8), dir);
}

static int load_structures_from_inputs(run *r, xg_error *err)
{
    const xg_json *inputs = xg_json_get(r->scr_json, "inputs");
    if (!inputs || inputs->type != XG_JSON_ARRAY || inputs->n < 1)
        return XG_OK;
    for (int k = 0; k < inputs->n; k++) {
        if (inputs->items[k].type != XG_JSON_STRING)
            continue;
        xg_dataset *d = NULL;
        xg_error e2 = {0};
        if (xg_input_read(inputs->items[k].text, &d, &e2) != XG_OK) {
            /* the inputs may have moved since the screen ran: draw what the tables allow */
            fprintf(stderr, "xtalgen report: note: structures of %s not read (%s)\n",
                    inputs->items[k].text, e2.msg);
            continue;
        }
        if (!r->ds) {
            r->ds = d;
            continue;
        }
        for (int64_t i = 0; i < d->n; i++) {
            xg_structure *s = xg_dataset_get(d, i, err);
            int rc = s ? xg_dataset_append(r->ds, s, NULL, err) : XG_ENOMEM;
            xg_structure_free(s);
            if (rc) {
                xg_dataset_free(d);
                return rc;
            }
        }
        xg_dataset_free(d);
    }
    return XG_OK;
}

/* Reads one run folder. structures: whether the crystals themselves are needed. */
static int run_load(run *r, const char *dir, const char *screen_given, int structures,
                    xg_error *err)
{
    memset(r, 0, sizeof *r);
    char p[4200], found[4096];
    int rc;
    if (!dir && screen_given && !path_join(p, sizeof p, screen_given, "summary.json") &&
        file_exists(p)) {
        /* screen results alone: their one input, when it is a generate folder, is the run */
        xg_json *j = NULL;
        xg_error e2 = {0};
        if (xg_json_read_file(p, &j, &e2) == XG_OK) {
            const xg_json *in = xg_json_get(j, "inputs");
            if (in && in->type == XG_JSON_ARRAY && in->n == 1 &&
                in->items[0].type == XG_JSON_STRING &&
                !path_join(p, sizeof p, in->items[0].text, "generated.h5") && file_exists(p)) {
                snprintf(found, sizeof found, "%s", in->items[0].text);
                dir = found;
            }
        }
        xg_json_free(j);
    }
    if (dir) {
        snprintf(r->dir, sizeof r->dir, "%s", dir);
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
            return xg_error_set(err, XG_EIO, "%s: not a folder", dir);
    }
    find_screen_dir(dir, screen_given, r->screen_dir, sizeof r->screen_dir);
    if (dir && !path_join(p, sizeof p, dir, "summary.csv") && file_exists(p) &&
        (rc = table_read(p, &r->gen, err)))
        return rc;
    if (dir && !path_join(p, sizeof p, dir, "summary.json") && file_exists(p)) {
        xg_json *j = NULL;
        if ((rc = xg_json_read_file(p, &j, err)))
            return rc;
        if (is_screen_summary(j))
            xg_json_free(j); /* the screen wrote into the run folder; read below */
        else
            r->gen_json = j;
    }
    if (r->screen_dir[0]) {
        if (!path_join(p, sizeof p, r->screen_dir, "screen.csv") && file_exists(p) &&
            (rc = table_read(p, &r->scr, err)))
            return rc;
        if (!path_join(p, sizeof p, r->screen_dir, "summary.json") && file_exists(p) &&
            (rc = xg_json_read_file(p, &r->scr_json, err)))
            return rc;
        if (screen_given && !r->scr.ncols)
            return xg_error_set(err, XG_EIO, "%s: no screen.csv", r->screen_dir);
    }
    if (dir && !path_join(p, sizeof p, dir, "generated.h5") && file_exists(p)) {
        struct stat st;
        char when[64];
        if (stat(p, &st) == 0 && strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC",
                                          gmtime(&st.st_mtime)))
            prov_add(r, "generated.h5 last written", when);
        read_h5_attrs(r, p);
        if (structures && (rc = xg_dataset_read_h5(p, &r->ds, err)))
            return rc;
    }
    if (r->gen_json)
        json_flatten(r, "", r->gen_json);
    if (structures && !r->ds && r->scr_json && (rc = load_structures_from_inputs(r, err)))
        return rc;
    if (r->gen.ncols && tcol(&r->gen, "id") < 0)
        return xg_error_set(err, XG_EPARSE, "%s: no id column", r->gen.path);
    if (r->scr.ncols && tcol(&r->scr, "id") < 0)
        return xg_error_set(err, XG_EPARSE, "%s: no id column", r->scr.path);
    if (!r->gen.ncols && !r->scr.ncols && !r->ds)
        return xg_error_set(err, XG_EINVAL,
                            "%s: no summary.csv, generated.h5 or screen.csv: not a folder "
                            "written by `xtalgen generate` or `xtalgen screen`",
                            dir ? dir : r->screen_dir);
    find_condition(r);
    return XG_OK;
}

/* Elements of a formula string ("Fe8CoNi"), for crystals whose structure is not at hand. */
static void formula_elements(const char *f, unsigned char *mask)
{
    while (f && *f) {
        const char *end;
        int z = xg_element_parse_prefix(f, &end);
        if (z > 0 && z <= XG_MAX_Z) {
            mask[z] = 1;
            f = end;
        } else {
            f++;
        }
    }
}

/* The per-crystal view: joins the tables and the structures by id. */
static int run_index(run *r, xg_error *err)
{
    const table *master = r->scr.ncols ? &r->scr : r->gen.ncols ? &r->gen : NULL;
    r->n = master ? master->nrows : (long)r->ds->n;
    long n = r->n > 0 ? r->n : 1;
    r->scr_row = malloc((size_t)n * sizeof(long));
    r->gen_row = malloc((size_t)n * sizeof(long));
    r->ds_row = malloc((size_t)n * sizeof(long));
    r->density = malloc((size_t)n * sizeof(double));
    r->natoms = malloc((size_t)n * sizeof(double));
    r->nelements = malloc((size_t)n * sizeof(double));
    r->eform = malloc((size_t)n * sizeof(double));
    r->sg = malloc((size_t)n * sizeof(int));
    r->valid = malloc((size_t)n * sizeof(int));
    r->elements = calloc((size_t)n, XG_MAX_Z + 1);
    id_index ig = {0}, id = {0};
    int bad = !r->scr_row || !r->gen_row || !r->ds_row || !r->density || !r->natoms ||
              !r->nelements || !r->eform || !r->sg || !r->valid || !r->elements;
    if (!bad && r->gen.ncols && master != &r->gen)
        bad = index_build(&ig, r->gen.nrows, table_id, &r->gen);
    if (!bad && r->ds && master)
        bad = index_build(&id, (long)r->ds->n, ds_id, r->ds);
    if (bad) {
        free(ig.v);
        free(id.v);
        return xg_error_set(err, XG_ENOMEM, "out of memory for %ld crystals", r->n);
    }
    const table *S = &r->scr, *G = &r->gen;
    int s_na = tcol(S, "natoms"), s_sg = tcol(S, "spacegroup_number"), s_ef = tcol(S, "e_form_pred"),
        s_ne = tcol(S, "n_elements"), g_na = tcol(G, "natoms"), g_sg = tcol(G, "spacegroup_number"),
        g_de = tcol(G, "density"), s_fo = tcol(S, "formula"), g_fo = tcol(G, "formula");
    int vcols[8], nv = 0;
    for (int c = 0; c < S->ncols && nv < 8; c++)
        if (!strncmp(S->names[c], "valid_", 6))
            vcols[nv++] = c;
    for (long i = 0; i < r->n; i++) {
        const char *cid = master ? tcell(master, i, tcol(master, "id")) : r->ds->ids[i];
        r->scr_row[i] = master == S ? i : -1;
        r->gen_row[i] = master == G ? i : r->gen.ncols ? index_find(&ig, cid) : -1;
        r->ds_row[i] = !master ? i : r->ds ? index_find(&id, cid) : -1;
        long si = r->scr_row[i], gi = r->gen_row[i], di = r->ds_row[i];
        xg_structure *s = NULL;
        if (di >= 0 && !(s = xg_dataset_get(r->ds, di, err))) {
            free(ig.v);
            free(id.v);
            return err ? err->code : XG_ENOMEM;
        }
        double v = tnum(S, si, s_na);
        r->natoms[i] = isfinite(v) ? v : isfinite(v = tnum(G, gi, g_na)) ? v : s ? s->natoms : NAN;
        v = tnum(G, gi, g_de);
        r->density[i] = isfinite(v) ? v : s ? xg_structure_density(s) : NAN;
        v = tnum(S, si, s_ne);
        r->nelements[i] = isfinite(v) ? v : s ? xg_structure_nelements(s) : NAN;
        r->eform[i] = tnum(S, si, s_ef);
        v = tnum(S, si, s_sg);
        if (!isfinite(v))
            v = tnum(G, gi, g_sg);
        r->sg[i] = isfinite(v) && v >= 1 && v <= 230 ? (int)v : 0;
        unsigned char *mask = r->elements + (size_t)i * (XG_MAX_Z + 1);
        if (s) {
            for (int a = 0; a < s->natoms; a++)
                if (s->types[a] >= 1 && s->types[a] <= XG_MAX_Z)
                    mask[s->types[a]] = 1;
        } else {
            formula_elements(si >= 0 ? tcell(S, si, s_fo) : tcell(G, gi, g_fo), mask);
        }
        if (!isfinite(r->nelements[i])) {
            int k = 0;
            for (int z = 1; z <= XG_MAX_Z; z++)
                k += mask[z];
            r->nelements[i] = k ? k : NAN;
        }
        r->valid[i] = -1;
        if (si >= 0 && nv) {
            r->valid[i] = 1;
            for (int k = 0; k < nv; k++) {
                const char *c = tcell(S, si, vcols[k]);
                if (strcmp(c, "1"))
                    r->valid[i] = *c ? 0 : r->valid[i] == 0 ? 0 : -1;
            }
        }
        xg_structure_free(s);
    }
    free(ig.v);
    free(id.v);
    return XG_OK;
}

/* ---------------------------------------------------------------- page helpers ---- */

static void esc(xg_buf *b, const char *s) { xg_buf_escape(b, s); }

static void h2(xg_buf *b, const char *id, const char *title)
{
    xg_buf_printf(b, "<h2 id=\"%s\">", id);
    esc(b, title);
    xg_buf_puts(b, "</h2>\n");
}

static void note(xg_buf *b, const char *text)
{
    xg_buf_puts(b, "<p class=\"note\">");
    esc(b, text);
    xg_buf_puts(b, "</p>\n");
}

/* Space-group symbols by number, from spglib's table of Hall settings (the first setting of
 * each type is the standard one). */
static void sg_symbols(char sym[231][12])
{
    memset(sym, 0, 231 * 12);
    for (int h = 1; h <= 530; h++) {
        SpglibSpacegroupType t = spg_get_spacegroup_type(h);
        if (t.number >= 1 && t.number <= 230 && !sym[t.number][0])
            snprintf(sym[t.number], 12, "%s", t.international_short);
    }
}

static int crystal_system(int sg)
{
    return sg <= 0 ? -1 : sg <= 2 ? 0 : sg <= 15 ? 1 : sg <= 74 ? 2 : sg <= 142 ? 3 : sg <= 167 ? 4
         : sg <= 194 ? 5 : 6;
}
static const char *const system_names[7] = {"triclinic", "monoclinic", "orthorhombic", "tetragonal",
                                            "trigonal", "hexagonal", "cubic"};

/* Percent-encodes a path for an href (keeps letters, digits, -._~/). */
static void href_escape(xg_buf *b, const char *s)
{
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
            strchr("-._~/", *c))
            xg_buf_add(b, (const char *)c, 1);
        else
            xg_buf_printf(b, "%%%02X", *c);
    }
}

/* Path of target relative to the folder base (both made absolute); target itself on failure. */
static void relative_path(const char *base, const char *target, char *out, size_t n)
{
    char rb[PATH_MAX], rt[PATH_MAX];
    if (!realpath(base, rb) || !realpath(target, rt)) {
        snprintf(out, n, "%s", target);
        return;
    }
    size_t common = 0, i = 0;
    while (rb[i] && rb[i] == rt[i]) {
        if (rb[i] == '/')
            common = i;
        i++;
    }
    if (!rb[i] && (rt[i] == '/' || !rt[i]))
        common = i;
    size_t used = 0;
    out[0] = '\0';
    for (const char *p = rb + common; *p; p++)
        if (*p == '/' && used + 4 < n) {
            memcpy(out + used, "../", 4);
            used += 3;
        }
    snprintf(out + used, n - used, "%s", rt[common] == '/' ? rt + common + 1 : rt + common);
}

/* ------------------------------------------------------------------ sections ---- */

typedef struct {
    const xg_report_options *o;
    run *r, *cmp;
    xg_refdist *ref; /* NULL when none could be read */
    char ref_note[600];
    char out_dir[4096];
    char sym[231][12];
} page;

static void section_provenance(xg_buf *b, page *pg)
{
    run *r = pg->r;
    h2(b, "provenance", "Run");
    xg_buf_puts(b, "<table class=\"kv\">\n");
#define KV(k, ...)                                                                            \
    do {                                                                                      \
        char v_[4600];                                                                        \
        snprintf(v_, sizeof v_, __VA_ARGS__);                                                 \
        xg_buf_puts(b, "<tr><th>");                                                           \
        esc(b, k);                                                                            \
        xg_buf_puts(b, "</th><td>");                                                          \
        esc(b, v_);                                                                           \
        xg_buf_puts(b, "</td></tr>\n");                                                       \
    } while (0)
    KV("run folder", "%s", r->dir[0] ? r->dir : "(none: crystals from the screen's inputs)");
    KV("crystals", "%ld", r->n);
    KV("screen results", "%s", r->scr.ncols ? r->screen_dir : "none (run `xtalgen screen` on the folder)");
    for (int i = 0; i < r->nprov; i++)
        KV(r->prov[i].key, "%s", r->prov[i].value);
    if (r->cond_name[0])
        KV("guided toward", "%s = %g", r->cond_name, r->cond_value);
    const xg_json *sj = r->scr_json;
    if (sj) {
        const xg_json *refs = xg_json_get(sj, "references");
        char list[900] = "";
        for (int k = 0; refs && refs->type == XG_JSON_ARRAY && k < refs->n; k++)
            if (refs->items[k].type == XG_JSON_STRING) {
                size_t u = strlen(list);
                snprintf(list + u, sizeof list - u, "%s%s", k ? ", " : "", refs->items[k].text);
            }
        double nref = xg_json_number(sj, "n_references");
        KV("novelty reference", "%s", list[0] ? list : "none");
        if (isfinite(nref) && nref > 0)
            KV("reference crystals", "%.0f", nref);
        const char *hull = xg_json_string(sj, "properties.hull");
        if (hull)
            KV("hull", "%s (%.0f entries)", hull, xg_json_number(sj, "properties.hull_entries"));
        const xg_json *models = xg_json_path(sj, "properties.models");
        for (int k = 0; models && models->type == XG_JSON_OBJECT && k < models->n; k++) {
            const xg_json *m = &models->items[k];
            char key[160];
            snprintf(key, sizeof key, "property model: %s", models->keys[k]);
            const char *mp = xg_json_string(m, "path");
            KV(key, "%s (test MAE %.4g on %.0f crystals)", mp ? mp : "?",
               xg_json_number(m, "test_mae"), xg_json_number(m, "n_test"));
        }
        double sec = xg_json_number(sj, "seconds");
        if (isfinite(sec))
            KV("screen time", "%.1f s", sec);
    }
    time_t now = time(NULL);
    char ts[64];
    strftime(ts, sizeof ts, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    KV("report", "xtalgen %s, %s", XTALGEN_VERSION, ts);
#undef KV
    xg_buf_puts(b, "</table>\n");
}

typedef struct {
    const char *key, *label, *meaning;
} rate_row;

static void section_rates(xg_buf *b, page *pg)
{
    run *r = pg->r;
    h2(b, "rates", "Rates");
    const xg_json *sj = r->scr_json;
    const xg_json *rates = xg_json_get(sj, "rates"), *counts = xg_json_get(sj, "counts");
    if (!rates || rates->type != XG_JSON_OBJECT) {
        note(b, "No screen results: run `xtalgen screen DIR --reference ... --property-model ...` "
                "for validity, uniqueness, novelty and stability.");
        return;
    }
    char refs[900] = "";
    const xg_json *rl = xg_json_get(sj, "references");
    for (int k = 0; rl && rl->type == XG_JSON_ARRAY && k < rl->n; k++)
        if (rl->items[k].type == XG_JSON_STRING) {
            const char *t = rl->items[k].text, *sl = strrchr(t, '/');
            size_t u = strlen(refs);
            snprintf(refs + u, sizeof refs - u, "%s%s", k ? ", " : "", sl ? sl + 1 : t);
        }
    double nref = xg_json_number(sj, "n_references"), emax = xg_json_number(sj, "properties.ehull_max");
    const char *hull = xg_json_string(sj, "properties.hull");
    char novel_ref[1000], stable_ref[1000];
    snprintf(novel_ref, sizeof novel_ref, "not novel when it matches one of %.0f crystals of %s",
             nref, refs[0] ? refs : "(none)");
    const char *hs = hull ? strrchr(hull, '/') : NULL;
    snprintf(stable_ref, sizeof stable_ref,
             "predicted E_hull < %g eV/atom against the hull of %s (a model prediction, not DFT)",
             emax, hs ? hs + 1 : hull ? hull : "?");
    static const rate_row known[] = {
        {"valid", "valid", "valid in every sense the screen checks"},
        {"valid_structure", "valid structure", "all distances >= 0.5 A, volume >= 0.1 A^3 (CDVAE)"},
        {"valid_composition", "valid composition", "charge balance with common oxidation states (SMACT-style)"},
        {"valid_geometry", "valid geometry", "distances >= a fraction of the covalent-radius sums"},
        {"unique", "unique", "no structure-matcher duplicate earlier in this run"},
        {"novel", "novel", NULL},
        {"stable", "stable", NULL},
        {"sun", "S.U.N.", "stable, unique and novel"},
    };
    const int nknown = (int)(sizeof known / sizeof known[0]);
    double nstruct = xg_json_number(sj, "n_structures");
    const xg_json *cmp_rates = pg->cmp ? xg_json_get(pg->cmp->scr_json, "rates") : NULL;
    xg_buf_puts(b, "<table class=\"rates\"><thead><tr><th>flag</th><th>count</th><th>rate</th>");
    if (cmp_rates)
        xg_buf_puts(b, "<th>compared run</th>");
    xg_buf_puts(b, "<th>definition and reference set</th></tr></thead><tbody>\n");
    /* known keys in the order above, then the rest in file order */
    for (int j = 0; j < nknown + rates->n; j++) {
        const char *key;
        const rate_row *kr = NULL;
        if (j < nknown) {
            kr = &known[j];
            key = kr->key;
            if (!xg_json_get(rates, key))
                continue;
        } else {
            key = rates->keys[j - nknown];
            int dup = 0;
            for (int q = 0; q < nknown; q++)
                dup |= !strcmp(known[q].key, key);
            if (dup)
                continue;
        }
        const xg_json *rv = xg_json_get(rates, key), *cv = xg_json_get(counts, key);
        const char *meaning = kr && kr->meaning ? kr->meaning
                            : !strcmp(key, "novel") ? novel_ref
                            : !strcmp(key, "stable") ? stable_ref
                            : !strcmp(key, "unique_valid") ? "valid and unique"
                            : !strcmp(key, "novel_unique_valid") ? "valid, unique and novel"
                            : "";
        int head = !strcmp(key, "valid") || !strcmp(key, "unique") || !strcmp(key, "novel") ||
                   !strcmp(key, "stable") || !strcmp(key, "sun");
        xg_buf_printf(b, "<tr%s><td>", head ? " class=\"head\"" : "");
        esc(b, kr ? kr->label : key);
        xg_buf_puts(b, "</td>");
        if (cv && cv->type == XG_JSON_NUMBER) {
            xg_buf_puts(b, "<td class=\"num\" data-json=\"counts.");
            esc(b, key);
            xg_buf_printf(b, "\">%.0f</td>", cv->number);
        } else {
            xg_buf_puts(b, "<td class=\"num\">-</td>");
        }
        if (rv && rv->type == XG_JSON_NUMBER) {
            xg_buf_puts(b, "<td class=\"num\" data-json=\"rates.");
            esc(b, key);
            xg_buf_printf(b, "\" data-scale=\"100\">%.1f%%</td>", 100 * rv->number);
        } else {
            xg_buf_puts(b, "<td class=\"num\">n/a</td>");
        }
        if (cmp_rates) {
            const xg_json *x = xg_json_get(cmp_rates, key);
            if (x && x->type == XG_JSON_NUMBER)
                xg_buf_printf(b, "<td class=\"num\">%.1f%%</td>", 100 * x->number);
            else
                xg_buf_puts(b, "<td class=\"num\">n/a</td>");
        }
        xg_buf_puts(b, "<td>");
        esc(b, meaning);
        xg_buf_puts(b, "</td></tr>\n");
    }
    xg_buf_puts(b, "</tbody></table>\n");
    char t[300];
    snprintf(t, sizeof t, "Rates are over the %.0f crystals screened; a flag the screen could not "
             "assess for a crystal counts in neither its count nor the rate's denominator.", nstruct);
    note(b, t);
}

/* Values of the crystals that enter the distribution plots: the valid ones when the screen
 * judged validity (as CDVAE reports these metrics), all of them otherwise. */
static long pick(const run *r, const double *v, double *out, int *used_valid)
{
    long m = 0;
    int anyv = 0;
    for (long i = 0; i < r->n; i++)
        anyv |= r->valid[i] >= 0;
    for (long i = 0; i < r->n; i++)
        if (isfinite(v[i]) && (!anyv || r->valid[i] == 1))
            out[m++] = v[i];
    *used_valid = anyv;
    return m;
}

/* One distribution panel: histogram of the run against the reference sample, with W1. */
static void dist_panel(xg_buf *b, page *pg, const char *title, const char *xlabel,
                       const double *runv, long nrun, const double *refv, long nref,
                       int integer, const char *key)
{
    xg_buf_puts(b, "<figure>");
    if (nrun == 0) {
        xg_buf_puts(b, "<p class=\"note\">");
        esc(b, title);
        xg_buf_puts(b, ": no values in this run.</p></figure>\n");
        return;
    }
    /* range: the union of the run's and the reference's 0.5th to 99.5th percentiles, so one
     * outlier cannot squash the plot (values outside fall into the end bins) and a small run
     * is not cut by a large reference */
    double q[200], lo, hi;
    xg_refdist_quantiles(runv, nrun, q, 200, NULL);
    lo = q[0];
    hi = q[199];
    if (nref > 0) {
        xg_refdist_quantiles(refv, nref, q, 200, NULL);
        lo = fmin(lo, q[0]);
        hi = fmax(hi, q[199]);
    }
    int nb;
    double edges[81];
    if (integer) {
        lo = floor(lo);
        hi = ceil(hi);
        if (hi > lo + 79)
            hi = lo + 79;
        nb = (int)(hi - lo) + 1;
        for (int k = 0; k <= nb; k++)
            edges[k] = lo - 0.5 + k;
    } else {
        if (!(hi > lo))
            hi = lo + 1;
        double step = xg_svg_nice_step(hi - lo, 40);
        lo = floor(lo / step) * step;
        hi = ceil(hi / step) * step;
        nb = (int)lround((hi - lo) / step);
        if (nb > 80)
            nb = 80;
        if (nb < 1)
            nb = 1;
        for (int k = 0; k <= nb; k++)
            edges[k] = lo + k * (hi - lo) / nb;
    }
    double fr[80], fref[80];
    xg_svg_hist_fractions(runv, (size_t)nrun, edges, nb, fr);
    xg_svg_series s[2] = {{"this run", XG_SVG_BLUE, fr, XG_SVG_FILLED},
                          {pg->ref ? pg->ref->name : "reference", XG_SVG_ORANGE, fref, XG_SVG_STEP}};
    if (nref)
        xg_svg_hist_fractions(refv, (size_t)nref, edges, nb, fref);
    xg_svg_histogram(b, 500, 260, title, xlabel, edges, nb, s, nref ? 2 : 1, NAN, NULL);
    xg_buf_puts(b, "<figcaption>");
    if (nref) {
        double w = NAN;
        xg_error e2 = {0};
        xg_metrics_wasserstein(runv, (size_t)nrun, refv, (size_t)nref, &w, &e2);
        xg_buf_printf(b, "Wasserstein distance to %s: <b data-w=\"%s\">%.4g</b> (%ld crystals)",
                      "the reference", key, w, nrun);
    } else {
        xg_buf_printf(b, "%ld crystals; no reference distribution for this quantity", nrun);
    }
    xg_buf_puts(b, "</figcaption></figure>\n");
}

/* Expands counts into an equally weighted sample (the reference of a discrete quantity). */
static double *expand_counts(const double *counts, int n, long *m)
{
    long t = 0;
    for (int k = 0; k < n; k++)
        t += (long)counts[k];
    double *v = malloc((size_t)(t > 0 ? t : 1) * sizeof *v);
    *m = 0;
    if (!v)
        return NULL;
    for (int k = 0; k < n; k++)
        for (long c = 0; c < (long)counts[k]; c++)
            v[(*m)++] = k;
    return v;
}

static void section_distributions(xg_buf *b, page *pg)
{
    run *r = pg->r;
    h2(b, "distributions", "Distributions against the reference");
    if (pg->ref_note[0])
        note(b, pg->ref_note);
    double *v = malloc((size_t)(r->n > 0 ? r->n : 1) * sizeof *v);
    if (!v)
        return;
    const xg_refdist *ref = pg->ref;
    int used_valid = 0;
    xg_buf_puts(b, "<div class=\"grid\">\n");
    long m = pick(r, r->density, v, &used_valid);
    dist_panel(b, pg, "Density", "g/cm\xC2\xB3", v, m, ref ? ref->density_q : NULL,
               ref ? ref->n_density : 0, 0, "density");
    m = pick(r, r->natoms, v, &used_valid);
    long nref = 0;
    double *rv = ref ? expand_counts(ref->natoms, XG_REF_MAX_NATOMS + 1, &nref) : NULL;
    dist_panel(b, pg, "Atoms per cell", "atoms", v, m, rv, nref, 1, "natoms");
    free(rv);
    m = pick(r, r->nelements, v, &used_valid);
    rv = ref ? expand_counts(ref->nelements, XG_REF_MAX_NELEM + 1, &nref) : NULL;
    dist_panel(b, pg, "Elements per crystal", "distinct elements", v, m, rv, nref, 1, "nelements");
    free(rv);
    m = pick(r, r->eform, v, &used_valid);
    if (m)
        dist_panel(b, pg, "Formation energy (predicted)", "eV/atom", v, m,
                   ref ? ref->eform_q : NULL, ref ? ref->n_eform : 0, 0, "e_form");
    else
        xg_buf_puts(b, "<figure><p class=\"note\">Formation energy: no e_form_pred column (screen "
                       "with the formation-energy property model).</p></figure>\n");
    xg_buf_puts(b, "</div>\n");
    free(v);
    char t[700];
    snprintf(t, sizeof t,
             "Histograms over the %s crystals of the run; the reference is %s. The Wasserstein "
             "distance (earth mover's distance, in the unit of the axis) compares the whole "
             "distributions; the run's formation energies are model predictions.",
             used_valid ? "valid" : "", ref ? ref->name : "absent");
    note(b, t);
    const xg_json *w = xg_json_get(r->scr_json, "wasserstein");
    if (w && w->type == XG_JSON_OBJECT) {
        const char *wr = xg_json_string(w, "reference");
        xg_buf_puts(b, "<p>The screen's own distances against ");
        esc(b, wr ? wr : "its distribution reference");
        xg_buf_printf(b,
                      ": density <b data-json=\"wasserstein.density_g_cm3\">%.4g</b> g/cm\xC2\xB3, "
                      "number of elements <b data-json=\"wasserstein.n_elements\">%.4g</b>.</p>\n",
                      xg_json_number(w, "density_g_cm3"), xg_json_number(w, "n_elements"));
    }
}

static void section_spacegroups(xg_buf *b, page *pg)
{
    run *r = pg->r;
    h2(b, "spacegroups", "Space groups");
    double cnt[231] = {0}, tot = 0;
    for (long i = 0; i < r->n; i++)
        if (r->sg[i] > 0) {
            cnt[r->sg[i]] += 1;
            tot += 1;
        }
    if (tot == 0) {
        note(b, "No space groups recorded (summary.csv or screen.csv spacegroup_number).");
        return;
    }
    const xg_refdist *ref = pg->ref;
    double rtot = 0;
    for (int k = 1; ref && k <= 230; k++)
        rtot += ref->spacegroup[k];
    double sys[7] = {0}, rsys[7] = {0};
    for (int k = 1; k <= 230; k++) {
        sys[crystal_system(k)] += cnt[k] / tot;
        if (rtot > 0)
            rsys[crystal_system(k)] += ref->spacegroup[k] / rtot;
    }
    xg_svg_series s[2] = {{"this run", XG_SVG_BLUE, sys, XG_SVG_FILLED},
                          {ref ? ref->name : "reference", XG_SVG_ORANGE, rsys, XG_SVG_FILLED}};
    xg_buf_puts(b, "<div class=\"grid\"><figure>");
    xg_svg_bars(b, 500, 260, "Crystal systems", 7, system_names, s, rtot > 0 ? 2 : 1);
    xg_buf_puts(b, "</figure>\n<figure>");
    /* the run's most common groups, with the reference's share of the same groups */
    int order[230], no = 0;
    for (int k = 1; k <= 230; k++)
        if (cnt[k] > 0)
            order[no++] = k;
    for (int i = 1; i < no; i++) /* insertion sort by count, descending; ties by number */
        for (int j = i; j > 0 && (cnt[order[j]] > cnt[order[j - 1]]); j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    int top = no < 15 ? no : 15;
    char labels[15][32];
    const char *lp[15];
    double a[15], c[15];
    for (int k = 0; k < top; k++) {
        int g = order[k];
        snprintf(labels[k], sizeof labels[k], "%s (%d)", pg->sym[g][0] ? pg->sym[g] : "?", g);
        lp[k] = labels[k];
        a[k] = cnt[g] / tot;
        c[k] = rtot > 0 ? ref->spacegroup[g] / rtot : NAN;
    }
    xg_svg_series s2[2] = {{"this run", XG_SVG_BLUE, a, XG_SVG_FILLED},
                           {ref ? ref->name : "reference", XG_SVG_ORANGE, c, XG_SVG_FILLED}};
    xg_svg_bars(b, 500, 300, "Most common space groups of the run", top, lp, s2, rtot > 0 ? 2 : 1);
    xg_buf_puts(b, "</figure></div>\n");
    char t[400];
    snprintf(t, sizeof t, "%.0f of %ld crystals have a space group; P1 (no symmetry): %.1f%% of "
             "the run%s%.1f%% of the reference.", tot, r->n, 100 * cnt[1] / tot,
             rtot > 0 ? ", " : "", rtot > 0 ? 100 * ref->spacegroup[1] / rtot : 0.0);
    note(b, t);
}

/* Screen column of a condition name: the property model's prediction. */
static void condition_column(const char *cond, char *out, size_t n)
{
    if (!strcmp(cond, "dft_mag_density") || !strcmp(cond, "mag_density"))
        snprintf(out, n, "mag_density_pred");
    else if (!strcmp(cond, "formation_energy_per_atom"))
        snprintf(out, n, "e_form_pred");
    else if (!strcmp(cond, "band_gap"))
        snprintf(out, n, "band_gap_pred");
    else
        snprintf(out, n, "%s_pred", cond);
}

static long column_values(const run *r, const char *col, double *out)
{
    int c = tcol(&r->scr, col);
    long m = 0;
    for (long i = 0; c >= 0 && i < r->scr.nrows; i++) {
        double v = tnum(&r->scr, i, c);
        if (isfinite(v))
            out[m++] = v;
    }
    return m;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void section_guided(xg_buf *b, page *pg)
{
    run *r = pg->r;
    h2(b, "guided", "Guided property");
    if (!r->cond_name[0]) {
        note(b, "This run records no condition (an unguided run, or a folder from before runs "
                "recorded their condition: `xtalgen report --target NAME=VALUE` names it).");
        return;
    }
    char col[96];
    condition_column(r->cond_name, col, sizeof col);
    long nmax = r->scr.nrows + (pg->cmp ? pg->cmp->scr.nrows : 0) + 1;
    double *a = malloc((size_t)nmax * sizeof *a), *c = malloc((size_t)nmax * sizeof *c);
    if (!a || !c) {
        free(a);
        free(c);
        return;
    }
    long na = column_values(r, col, a), nc = pg->cmp ? column_values(pg->cmp, col, c) : 0;
    if (!na) {
        char t[300];
        snprintf(t, sizeof t, "Guided toward %s = %g, but screen.csv has no %s column (screen with "
                 "the matching property model).", r->cond_name, r->cond_value, col);
        note(b, t);
        free(a);
        free(c);
        return;
    }
    double lo = r->cond_value, hi = r->cond_value;
    for (long i = 0; i < na; i++) {
        lo = fmin(lo, a[i]);
        hi = fmax(hi, a[i]);
    }
    for (long i = 0; i < nc; i++) {
        lo = fmin(lo, c[i]);
        hi = fmax(hi, c[i]);
    }
    if (!(hi > lo))
        hi = lo + 1;
    double step = xg_svg_nice_step(hi - lo, 30), edges[81];
    lo = floor(lo / step) * step;
    hi = ceil(hi / step + 1e-9) * step;
    int nb = (int)lround((hi - lo) / step);
    nb = nb < 1 ? 1 : nb > 80 ? 80 : nb;
    for (int k = 0; k <= nb; k++)
        edges[k] = lo + k * (hi - lo) / nb;
    double fa[80], fc[80];
    xg_svg_hist_fractions(a, (size_t)na, edges, nb, fa);
    xg_svg_hist_fractions(c, (size_t)nc, edges, nb, fc);
    xg_svg_series s[2] = {{"guided run", XG_SVG_BLUE, fa, XG_SVG_FILLED},
                          {"compared run", XG_SVG_GREEN, fc, XG_SVG_STEP}};
    char title[160], mark[64];
    snprintf(title, sizeof title, "Guided property: %s (predicted)", col);
    snprintf(mark, sizeof mark, "target %g", r->cond_value);
    xg_buf_puts(b, "<div class=\"grid\"><figure>");
    xg_svg_histogram(b, 620, 280, title, col, edges, nb, s, nc ? 2 : 1, r->cond_value, mark);
    xg_buf_puts(b, "</figure>\n<table class=\"rates\"><thead><tr><th></th><th>crystals</th>"
                   "<th>mean</th><th>median</th><th>share &#8805; target</th></tr></thead><tbody>\n");
    for (int k = 0; k < (nc ? 2 : 1); k++) {
        double *v = k ? c : a;
        long n = k ? nc : na;
        qsort(v, (size_t)n, sizeof *v, cmp_d);
        double mean = 0, above = 0;
        for (long i = 0; i < n; i++) {
            mean += v[i] / n;
            above += v[i] >= r->cond_value;
        }
        xg_buf_printf(b, "<tr><td>%s</td><td class=\"num\">%ld</td><td class=\"num\">%.4g</td>"
                      "<td class=\"num\">%.4g</td><td class=\"num\">%.1f%%</td></tr>\n",
                      k ? "compared run" : "this run", n, mean,
                      n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, 100 * above / n);
    }
    xg_buf_puts(b, "</tbody></table></div>\n");
    char t[600];
    snprintf(t, sizeof t, "The run was guided toward %s = %g; the values are the property model's "
             "predictions for the generated crystals.%s", r->cond_name, r->cond_value,
             pg->cmp ? "" : " Pass --compare DIR (an unguided run) to draw both.");
    note(b, t);
    if (pg->cmp) {
        snprintf(t, sizeof t, "Compared run: %.500s.", pg->cmp->dir);
        note(b, t);
    }
    free(a);
    free(c);
}

static void section_elements(xg_buf *b, page *pg)
{
    run *r = pg->r;
    h2(b, "elements", "Elements");
    double frac[XG_MAX_Z + 1] = {0};
    for (long i = 0; i < r->n; i++)
        for (int z = 1; z <= XG_MAX_Z; z++)
            frac[z] += r->elements[(size_t)i * (XG_MAX_Z + 1) + z];
    int any = 0;
    for (int z = 1; z <= XG_MAX_Z; z++) {
        frac[z] = r->n ? frac[z] / r->n : 0;
        any |= frac[z] > 0;
    }
    if (!any) {
        note(b, "No element information (neither structures nor formulas).");
        return;
    }
    double ref[XG_MAX_Z + 1];
    const xg_refdist *rd = pg->ref;
    for (int z = 0; z <= XG_MAX_Z; z++)
        ref[z] = rd && rd->n > 0 ? rd->element[z] / (double)rd->n : NAN;
    xg_svg_ptable(b, 44, frac, rd ? ref : NULL, rd ? rd->name : NULL,
                  "Share of the run's crystals containing each element");
    if (rd)
        note(b, "Hover over an element for its share in the reference as well.");
}

/* ------------------------------------------------------------------ candidates ---- */

typedef struct {
    long i;
    double key;
} ranked;

static int cmp_ranked(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

static const char *const flag_names[] = {"valid_structure", "valid_composition", "valid_geometry",
                                         "in_domain", "unique", "novel", "stable", "sun"};
static const char *const flag_short[] = {"structure", "composition", "geometry", "in domain",
                                         "unique", "novel", "stable", "S.U.N."};
#define NFLAGS 8

static void section_candidates(xg_buf *b, page *pg, long *ndrawn)
{
    run *r = pg->r;
    const table *S = &r->scr;
    h2(b, "candidates", "Candidates");
    *ndrawn = 0;
    /* which crystals: S.U.N. and valid when the screen says, else valid, else all */
    int c_sun = tcol(S, "sun");
    ranked *rk = malloc((size_t)(r->n > 0 ? r->n : 1) * sizeof *rk);
    if (!rk)
        return;
    char rank_col[128] = "";
    int desc = 0;
    if (pg->o->rank) {
        snprintf(rank_col, sizeof rank_col, "%s", pg->o->rank);
        char *colon = strchr(rank_col, ':');
        if (colon) {
            desc = !strcmp(colon + 1, "desc");
            *colon = '\0';
        }
    }
    int by_target = 0;
    if (!rank_col[0] && r->cond_name[0]) {
        condition_column(r->cond_name, rank_col, sizeof rank_col);
        by_target = tcol(S, rank_col) >= 0;
    }
    if (!rank_col[0] || tcol(S, rank_col) < 0) {
        if (pg->o->rank && S->ncols)
            fprintf(stderr, "xtalgen report: note: no column %s in screen.csv; ranking by "
                    "e_hull_pred\n", rank_col);
        snprintf(rank_col, sizeof rank_col, "e_hull_pred");
        desc = 0;
        by_target = 0;
    }
    int c_rank = tcol(S, rank_col);
    long m = 0;
    for (long i = 0; i < r->n; i++) {
        long si = r->scr_row[i];
        if (c_sun >= 0 && strcmp(tcell(S, si, c_sun), "1"))
            continue;
        if (r->valid[i] == 0)
            continue;
        double v = tnum(S, si, c_rank);
        double key = by_target ? fabs(v - r->cond_value) : desc ? -v : v;
        rk[m++] = (ranked){i, isfinite(key) ? key : INFINITY};
    }
    qsort(rk, (size_t)m, sizeof *rk, cmp_ranked);
    char t[600];
    snprintf(t, sizeof t, "%ld %s crystals, ranked by %s%s%s; the first %ld are shown.", m,
             c_sun >= 0 ? "valid S.U.N." : r->n > 0 && r->valid[0] >= 0 ? "valid" : "", rank_col,
             by_target ? " (closeness to the target)" : desc ? " (descending)" : "",
             c_rank >= 0 ? "" : " (absent: file order)", m < pg->o->top ? m : (long)pg->o->top);
    note(b, t);
    if (!m) {
        free(rk);
        return;
    }
    /* the numeric columns to show: predictions, hull energies, HHI */
    int show[16], ns = 0;
    for (int c = 0; c < S->ncols && ns < 16; c++) {
        const char *nm = S->names[c];
        size_t L = strlen(nm);
        if ((L > 5 && !strcmp(nm + L - 5, "_pred")) || !strncmp(nm, "e_hull", 6) ||
            !strcmp(nm, "hhi") || !strcmp(nm, "min_bond_ratio"))
            show[ns++] = c;
    }
    int c_err = tcol(S, "error"), fc[NFLAGS];
    for (int k = 0; k < NFLAGS; k++)
        fc[k] = tcol(S, flag_names[k]);
    xg_buf_puts(b, "<table class=\"cands\"><thead><tr><th>#</th><th>cell</th><th>crystal</th>");
    for (int k = 0; k < ns; k++) {
        xg_buf_puts(b, "<th>");
        esc(b, S->names[show[k]]);
        xg_buf_puts(b, "</th>");
    }
    xg_buf_puts(b, "<th>flags</th></tr></thead><tbody>\n");
    int c_sym = tcol(&r->gen, "spacegroup_symbol"), c_fs = tcol(S, "formula"),
        c_fg = tcol(&r->gen, "formula");
    for (long k = 0; k < m && k < pg->o->top; k++) {
        long i = rk[k].i, si = r->scr_row[i], gi = r->gen_row[i], di = r->ds_row[i];
        const char *id = si >= 0 ? tcell(S, si, tcol(S, "id"))
                       : gi >= 0 ? tcell(&r->gen, gi, tcol(&r->gen, "id"))
                       : r->ds->ids[di];
        xg_buf_printf(b, "<tr><td class=\"num\">%ld</td><td class=\"cell\">", k + 1);
        if (di >= 0) {
            /* drawing cost grows with the square of the atoms: big cells get a note instead */
            xg_structure *s = xg_dataset_get(r->ds, di, NULL);
            if (s && s->natoms <= 400) {
                xg_svg_cell(b, 150, s);
                (*ndrawn)++;
            } else if (s) {
                xg_buf_printf(b, "<span class=\"note\">%d atoms: not drawn</span>", s->natoms);
            }
            xg_structure_free(s);
        }
        xg_buf_puts(b, "</td><td>");
        const char *formula = si >= 0 ? tcell(S, si, c_fs) : tcell(&r->gen, gi, c_fg);
        xg_buf_puts(b, "<b>");
        esc(b, formula);
        xg_buf_puts(b, "</b><br/>");
        int sg = r->sg[i];
        const char *sym = tcell(&r->gen, gi, c_sym);
        if (sg > 0) {
            esc(b, *sym ? sym : pg->sym[sg]);
            xg_buf_printf(b, " (%d)<br/>", sg);
        }
        char cif[4400], rel[4400];
        if (r->dir[0] && snprintf(cif, sizeof cif, "%s/cif/%s.cif", r->dir, id) < (int)sizeof cif &&
            !strchr(id, '/') && file_exists(cif)) {
            relative_path(pg->out_dir, cif, rel, sizeof rel);
            xg_buf_puts(b, "<a href=\"");
            href_escape(b, rel);
            xg_buf_puts(b, "\">");
            esc(b, id);
            xg_buf_puts(b, ".cif</a>");
        } else {
            esc(b, id);
        }
        xg_buf_puts(b, "</td>");
        for (int q = 0; q < ns; q++) {
            double v = tnum(S, si, show[q]);
            if (isfinite(v))
                xg_buf_printf(b, "<td class=\"num\">%.4g</td>", v);
            else
                xg_buf_puts(b, "<td class=\"num\">-</td>");
        }
        xg_buf_puts(b, "<td>");
        for (int q = 0; q < NFLAGS; q++) {
            const char *v = tcell(S, si, fc[q]);
            if (fc[q] < 0 || !*v)
                continue;
            xg_buf_printf(b, "<span class=\"%s\">%s</span> ", strcmp(v, "1") ? "no" : "yes",
                          flag_short[q]);
        }
        const char *e = tcell(S, si, c_err);
        if (*e) {
            xg_buf_puts(b, "<span class=\"no\">");
            esc(b, e);
            xg_buf_puts(b, "</span>");
        }
        xg_buf_puts(b, "</td></tr>\n");
    }
    xg_buf_puts(b, "</tbody></table>\n");
    free(rk);
}

static const char css[] =
    "body{font-family:system-ui,'DejaVu Sans',Arial,sans-serif;color:#1a1a1a;margin:0 auto;"
    "max-width:1120px;padding:0 16px 40px;line-height:1.4;font-size:14px}"
    "h1{font-size:22px;margin:18px 0 4px}h2{font-size:18px;border-bottom:2px solid #0072B2;"
    "padding-bottom:3px;margin-top:28px}"
    "nav a{margin-right:12px;color:#0058a0}"
    "table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #c8c8c8;padding:3px 7px;"
    "vertical-align:top}th{background:#eef2f6;text-align:left}"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}"
    "table.kv th{width:260px;font-weight:600}tr.head td{font-weight:700}"
    ".note{color:#444;font-size:12.5px}"
    ".grid{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}figure{margin:0}"
    "figcaption{font-size:12.5px;color:#333;margin-left:46px}"
    "svg.plot text{font-family:system-ui,'DejaVu Sans',Arial,sans-serif}"
    "svg .ptitle{font-size:13px;font-weight:700}svg .tick{font-size:11px}"
    "svg .label{font-size:12px}svg .legend{font-size:12px}"
    "svg .sym{font-size:13px;font-weight:700}svg .small{font-size:9.5px}"
    "svg .grid{stroke:#e3e3e3;stroke-width:1}svg .axis{stroke:#444;stroke-width:1}"
    "td.cell{padding:2px;background:#fff}"
    "span.yes{background:#d8efe2;color:#0b5d2a;border-radius:3px;padding:0 4px;font-size:12px;"
    "white-space:nowrap}"
    "span.no{background:#fbe0dc;color:#8a1c0c;border-radius:3px;padding:0 4px;font-size:12px;"
    "white-space:nowrap;text-decoration:line-through}"
    "a{color:#0058a0}";

int xg_report_write(const xg_report_options *o, xg_report_stats *stats, xg_error *err)
{
    double t0 = xg_now();
    run r, cmp;
    memset(&cmp, 0, sizeof cmp);
    xg_refdist *ref = calloc(1, sizeof *ref);
    page *pg = calloc(1, sizeof *pg);
    xg_buf b = {0};
    int rc = XG_OK;
    if (!ref || !pg) {
        free(ref);
        free(pg);
        return xg_error_set(err, XG_ENOMEM, "out of memory");
    }
    if ((rc = run_load(&r, o->run_dir, o->screen_dir, 1, err)) || (rc = run_index(&r, err)))
        goto done;
    if (o->target && !parse_condition(o->target, r.cond_name, sizeof r.cond_name, &r.cond_value)) {
        rc = xg_error_set(err, XG_EINVAL, "--target expects NAME=VALUE, got '%s'", o->target);
        goto done;
    }
    if (o->compare_dir) {
        if ((rc = run_load(&cmp, o->compare_dir, NULL, 0, err))) {
            xg_error_prefix(err, rc, "--compare");
            goto done;
        }
        pg->cmp = &cmp;
    }
    pg->o = o;
    pg->r = &r;
    {
        char path[4096];
        xg_error e2 = {0};
        const char *rp = o->reference;
        if (!rp && xg_default_data_path(XG_REF_FILE, path, sizeof path, &e2) == XG_OK)
            rp = path;
        if (rp && xg_refdist_read(rp, ref, &e2) == XG_OK) {
            pg->ref = ref;
        } else if (o->reference) {
            rc = xg_error_set(err, e2.code ? e2.code : XG_EIO, "%s", e2.msg);
            goto done;
        } else {
            snprintf(pg->ref_note, sizeof pg->ref_note,
                     "No reference distribution (%.500s): the run is shown alone.", e2.msg);
        }
        if (pg->ref) {
            snprintf(pg->ref_note, sizeof pg->ref_note, "Reference: %.200s, %ld crystals (%.300s).",
                     ref->name, ref->n, ref->source);
        }
    }
    {
        /* the folder the page lives in, for relative links to the CIFs */
        snprintf(pg->out_dir, sizeof pg->out_dir, "%s", o->output);
        char *slash = strrchr(pg->out_dir, '/');
        if (slash)
            *slash = slash == pg->out_dir ? '/' : '\0', slash[slash == pg->out_dir] = '\0';
        else
            snprintf(pg->out_dir, sizeof pg->out_dir, ".");
    }
    sg_symbols(pg->sym);

    const char *name = r.dir[0] ? r.dir : r.screen_dir;
    xg_buf_puts(&b, "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n"
                    "<head><meta charset=\"utf-8\"/><meta name=\"generator\" content=\"xtalgen "
                    XTALGEN_VERSION "\"/><title>xtalgen report: ");
    esc(&b, name);
    xg_buf_printf(&b, "</title>\n<style>%s</style></head>\n<body>\n<h1>xtalgen run report</h1>\n"
                      "<p class=\"note\">", css);
    esc(&b, name);
    xg_buf_puts(&b, "</p>\n<nav><a href=\"#provenance\">run</a><a href=\"#rates\">rates</a>"
                    "<a href=\"#distributions\">distributions</a><a href=\"#spacegroups\">space "
                    "groups</a><a href=\"#guided\">guided property</a><a href=\"#elements\">"
                    "elements</a><a href=\"#candidates\">candidates</a></nav>\n");
    long ndrawn = 0;
    section_provenance(&b, pg);
    section_rates(&b, pg);
    section_distributions(&b, pg);
    section_spacegroups(&b, pg);
    section_guided(&b, pg);
    section_elements(&b, pg);
    section_candidates(&b, pg, &ndrawn);
    xg_buf_puts(&b, "<p class=\"note\">Written by xtalgen " XTALGEN_VERSION
                    ". Predicted values come from property models (their test errors are listed "
                    "above), not from DFT.</p>\n</body>\n</html>\n");
    if (b.failed) {
        rc = xg_error_set(err, XG_ENOMEM, "out of memory writing the report");
        goto done;
    }
    {
        xg_atomic_file a;
        if ((rc = xg_atomic_open(&a, o->output, err)))
            goto done;
        if (fwrite(b.s, 1, b.len, a.f) != b.len) {
            xg_atomic_abort(&a);
            rc = xg_error_set(err, XG_EIO, "%s: write error", o->output);
            goto done;
        }
        if ((rc = xg_atomic_commit(&a, err)))
            goto done;
    }
    if (stats) {
        stats->seconds = xg_now() - t0;
        stats->bytes = (long)b.len;
        stats->crystals = r.n;
        stats->candidates = ndrawn;
    }
done:
    xg_buf_free(&b);
    run_free(&r);
    run_free(&cmp);
    free(ref);
    free(pg);
    return rc;
}
