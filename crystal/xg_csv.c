/* xg_csv.c: streaming RFC 4180 reader and the CDVAE/MatterGen table reader (see xg_csv.h). */
#include "crystal/xg_csv.h"
#include "crystal/xg_alloc.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "crystal/xg_cif.h"

#define CSV_BUF 65536
/* A record larger than this is not a crystal table; refusing it keeps a garbled file (an
 * unclosed quote near the top) from swallowing the machine's memory. */
#define CSV_MAX_RECORD ((size_t)256 << 20)
#define CSV_MAX_FIELDS 100000

struct xg_csv_reader {
    FILE *f;
    char name[256];
    unsigned char buf[CSV_BUF];
    size_t pos, len;
    int eof;
    long line;          /* physical line of the next character, 1-based */
    long rec_line;      /* line where the current record starts */
    long long bytes, total;
    /* current record: NUL-separated fields in rec, starts in fstart */
    char *rec;
    size_t rec_len, rec_cap;
    size_t *fstart;
    int nf, fcap;
    /* header, a private copy */
    char *hdr;
    size_t *hstart;
    int nh;
};

static int csv_getc(xg_csv_reader *r)
{
    if (r->pos == r->len) {
        if (r->eof)
            return EOF;
        r->len = fread(r->buf, 1, CSV_BUF, r->f);
        r->pos = 0;
        if (r->len == 0) {
            r->eof = 1;
            return EOF;
        }
    }
    r->bytes++;
    return r->buf[r->pos++];
}

static int csv_peek(xg_csv_reader *r)
{
    int c = csv_getc(r);
    if (c != EOF) {
        r->pos--;
        r->bytes--;
    }
    return c;
}

static int rec_put(xg_csv_reader *r, char c, xg_error *err)
{
    if (r->rec_len + 1 >= r->rec_cap) {
        if (r->rec_cap >= CSV_MAX_RECORD)
            return xg_error_set(err, XG_EPARSE,
                                "%s:%ld: record longer than %zu MB (an unclosed quote?)", r->name,
                                r->rec_line, CSV_MAX_RECORD >> 20);
        size_t cap = r->rec_cap ? 2 * r->rec_cap : 4096;
        char *p = xg_realloc(r->rec, cap);
        if (!p)
            return xg_error_set(err, XG_ENOMEM, "%s:%ld: out of memory", r->name, r->rec_line);
        r->rec = p;
        r->rec_cap = cap;
    }
    r->rec[r->rec_len++] = c;
    return XG_OK;
}

static int field_begin(xg_csv_reader *r, xg_error *err)
{
    if (r->nf == r->fcap) {
        if (r->fcap >= CSV_MAX_FIELDS)
            return xg_error_set(err, XG_EPARSE, "%s:%ld: more than %d fields in one record",
                                r->name, r->rec_line, CSV_MAX_FIELDS);
        int cap = r->fcap ? 2 * r->fcap : 32;
        size_t *p = xg_realloc(r->fstart, (size_t)cap * sizeof *p);
        if (!p)
            return xg_error_set(err, XG_ENOMEM, "%s:%ld: out of memory", r->name, r->rec_line);
        r->fstart = p;
        r->fcap = cap;
    }
    r->fstart[r->nf++] = r->rec_len;
    return XG_OK;
}

/* Reads one raw record (header or row). *got = 0 at end of file. *blank = 1 when the record
 * was an empty line. */
static int read_record(xg_csv_reader *r, int *got, int *blank, xg_error *err)
{
    *got = 0;
    *blank = 0;
    r->rec_len = 0;
    r->nf = 0;
    r->rec_line = r->line;
    int c = csv_getc(r);
    if (c == EOF)
        return XG_OK;
    int rc = field_begin(r, err);
    if (rc)
        return rc;
    int in_quotes = 0, after_quote = 0, field_empty = 1, any = 0;
    long quote_line = 0;
    for (;; c = csv_getc(r)) {
        if (in_quotes) {
            if (c == EOF)
                return xg_error_set(err, XG_EPARSE,
                                    "%s:%ld: quoted field opened here is not closed at the end "
                                    "of the file",
                                    r->name, quote_line);
            if (c == '"') {
                if (csv_peek(r) == '"') {
                    csv_getc(r);
                    if ((rc = rec_put(r, '"', err)))
                        return rc;
                } else {
                    in_quotes = 0;
                    after_quote = 1;
                }
                continue;
            }
            if (c == '\n')
                r->line++;
            if ((rc = rec_put(r, (char)c, err)))
                return rc;
            continue;
        }
        if (c == EOF || c == '\n' || c == '\r') {
            if (c == '\r' && csv_peek(r) == '\n')
                csv_getc(r);
            if (c != EOF)
                r->line++;
            break;
        }
        if (c == ',') {
            if ((rc = rec_put(r, '\0', err)) || (rc = field_begin(r, err)))
                return rc;
            after_quote = 0;
            field_empty = 1;
            any = 1;
            continue;
        }
        if (after_quote)
            return xg_error_set(err, XG_EPARSE,
                                "%s:%ld: unexpected character '%c' after a closing quote (a "
                                "quote inside a quoted field must be doubled)",
                                r->name, r->line, isprint(c) ? c : '?');
        any = 1;
        if (c == '"' && field_empty) {
            in_quotes = 1;
            quote_line = r->line;
            field_empty = 0;
            continue;
        }
        /* A stray quote inside an unquoted field is kept as text, as most writers expect. */
        field_empty = 0;
        if ((rc = rec_put(r, (char)c, err)))
            return rc;
    }
    if ((rc = rec_put(r, '\0', err)))
        return rc;
    *got = 1;
    *blank = !any && r->nf == 1;
    return XG_OK;
}

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

int xg_csv_open(const char *path, xg_csv_reader **out, xg_error *err)
{
    *out = NULL;
    xg_csv_reader *r = xg_calloc(1, sizeof *r);
    if (!r)
        return xg_error_set(err, XG_ENOMEM, "%s: out of memory", path);
    snprintf(r->name, sizeof r->name, "%s", base_name(path));
    r->f = fopen(path, "rb");
    if (!r->f) {
        int e = errno;
        free(r);
        return xg_error_set(err, XG_EIO, "%s: cannot open: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fileno(r->f), &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            fclose(r->f);
            free(r);
            return xg_error_set(err, XG_EIO, "%s: is a directory, not a CSV file", path);
        }
        r->total = (long long)st.st_size;
    }
    r->line = 1;
    int got, blank, rc;
    do {
        rc = read_record(r, &got, &blank, err);
    } while (rc == XG_OK && got && blank);
    if (rc == XG_OK && !got)
        rc = xg_error_set(err, XG_EPARSE, "%s:1: empty file, expected a header line", r->name);
    if (rc) {
        xg_csv_close(r);
        return rc;
    }
    /* Strip a UTF-8 byte order mark, which spreadsheet exports put before the first name. */
    size_t skip = 0;
    if (r->rec_len >= 3 && (unsigned char)r->rec[0] == 0xEF && (unsigned char)r->rec[1] == 0xBB &&
        (unsigned char)r->rec[2] == 0xBF)
        skip = 3;
    r->hdr = xg_malloc(r->rec_len - skip);
    r->hstart = xg_malloc((size_t)r->nf * sizeof *r->hstart);
    if (!r->hdr || !r->hstart) {
        xg_csv_close(r);
        return xg_error_set(err, XG_ENOMEM, "%s: out of memory", path);
    }
    memcpy(r->hdr, r->rec + skip, r->rec_len - skip);
    for (int i = 0; i < r->nf; i++)
        r->hstart[i] = r->fstart[i] > skip ? r->fstart[i] - skip : 0;
    r->nh = r->nf;
    *out = r;
    return XG_OK;
}

void xg_csv_close(xg_csv_reader *r)
{
    if (!r)
        return;
    if (r->f)
        fclose(r->f);
    free(r->rec);
    free(r->fstart);
    free(r->hdr);
    free(r->hstart);
    free(r);
}

int xg_csv_next(xg_csv_reader *r, int *got, xg_error *err)
{
    int blank, rc;
    do {
        rc = read_record(r, got, &blank, err);
    } while (rc == XG_OK && *got && blank && r->nh > 1);
    if (rc == XG_OK && *got && r->nf != r->nh)
        return xg_error_set(err, XG_EPARSE, "%s:%ld: row has %d field%s, header has %d", r->name,
                            r->rec_line, r->nf, r->nf == 1 ? "" : "s", r->nh);
    if (rc == XG_OK && !*got && ferror(r->f))
        return xg_error_set(err, XG_EIO, "%s:%ld: read error", r->name, r->line);
    return rc;
}

int xg_csv_nfields(const xg_csv_reader *r) { return r->nf; }

const char *xg_csv_field(const xg_csv_reader *r, int i)
{
    return (i >= 0 && i < r->nf) ? r->rec + r->fstart[i] : NULL;
}

size_t xg_csv_field_len(const xg_csv_reader *r, int i)
{
    if (i < 0 || i >= r->nf)
        return 0;
    size_t end = (i + 1 < r->nf) ? r->fstart[i + 1] - 1 : r->rec_len - 1;
    return end - r->fstart[i];
}

long xg_csv_line(const xg_csv_reader *r) { return r->rec_line; }
const char *xg_csv_name(const xg_csv_reader *r) { return r->name; }
long long xg_csv_bytes_read(const xg_csv_reader *r) { return r->bytes; }
long long xg_csv_bytes_total(const xg_csv_reader *r) { return r->total; }
int xg_csv_ncolumns(const xg_csv_reader *r) { return r->nh; }

const char *xg_csv_column_name(const xg_csv_reader *r, int i)
{
    return (i >= 0 && i < r->nh) ? r->hdr + r->hstart[i] : NULL;
}

int xg_csv_column(const xg_csv_reader *r, const char *name)
{
    for (int i = 0; i < r->nh; i++)
        if (strcmp(r->hdr + r->hstart[i], name) == 0)
            return i;
    return -1;
}

int xg_csv_parse_number(const char *s, double *out)
{
    while (*s == ' ' || *s == '\t')
        s++;
    const char *p = s;
    if (*p == '\0') {
        *out = NAN;
        return 1;
    }
    /* The markers of a missing value that tables in the field use: pandas writes "" or NaN,
     * R writes NA, spreadsheets N/A, Python None, JSON-minded tools null. */
    static const char *const missing[] = {"nan", "na", "n/a", "none", "null"};
    for (size_t k = 0; k < sizeof missing / sizeof *missing; k++) {
        size_t n = strlen(missing[k]);
        if (strncasecmp(p, missing[k], n) != 0)
            continue;
        const char *q = p + n;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q)
            continue;
        *out = NAN;
        return 1;
    }
    if (*p == '+' || *p == '-')
        p++;
    int digits = 0;
    while (isdigit((unsigned char)*p)) {
        p++;
        digits++;
    }
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) {
            p++;
            digits++;
        }
    }
    if (!digits)
        return 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit((unsigned char)*p))
            return 0;
        while (isdigit((unsigned char)*p))
            p++;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p)
        return 0;
    double x = strtod(s, NULL);
    if (!isfinite(x)) /* "1e999": a number too large is not a value */
        return 0;
    *out = x;
    return 1;
}

/* ------------------------------------------------------------- CDVAE table ---------- */

/* Per-column bookkeeping while streaming: values of every candidate column are kept until the
 * end, because a column is a property only if ALL of its cells are numbers. */
typedef struct {
    int col;        /* index in the CSV header */
    int numeric;    /* still 1 while every cell seen so far was a number or blank */
    long nnum;      /* cells that held a number */
    long bad_line;  /* line of the first cell that is neither a number nor missing (0: none) */
    char bad[40];   /* that cell, cut */
} cand_col;

/* Classifies one cell of a candidate column: a number, missing (blank, NA, NaN: *x = NaN) or
 * neither (inf, abc: remembered, *x = NaN). A column mixing numbers with cells of the third
 * kind is an error at the end of the read (cand_check): before, one such cell silently
 * dropped the whole column, as if it were a text column. */
static void cand_cell(cand_col *c, const char *cell, long line, double *x)
{
    *x = NAN;
    if (xg_csv_parse_number(cell, x)) {
        if (!isnan(*x))
            c->nnum++;
        return;
    }
    *x = NAN;
    c->numeric = 0;
    if (!c->bad_line) {
        c->bad_line = line;
        snprintf(c->bad, sizeof c->bad, "%s", cell);
    }
}

/* A column with numbers and garbage is an error naming file, line and column; one without any
 * number is text (pretty_formula) and is skipped. */
static int cand_check(const cand_col *c, const xg_csv_reader *r, xg_error *err)
{
    if (c->numeric || c->nnum == 0)
        return XG_OK;
    return xg_error_set(err, XG_EPARSE,
                        "%s:%ld: column '%s': '%s' is not a finite number (leave the cell "
                        "blank or write NA for a missing value)",
                        xg_csv_name(r), c->bad_line, xg_csv_column_name(r, c->col), c->bad);
}

typedef struct {
    char id[XG_ID_LEN];
    char *cif;
    size_t cif_len;
    long line;
    xg_structure *s;
    xg_error err;
} chunk_row;

#define CDVAE_CHUNK 512

static int parse_chunk(chunk_row *rows, int nrows, const char *fname, xg_error *err)
{
    int i;
#pragma omp parallel for schedule(dynamic, 8)
    for (i = 0; i < nrows; i++) {
        chunk_row *row = &rows[i];
        xg_error_clear(&row->err);
        /* The CIF reader prefixes its messages with this name and the line inside the cell. */
        char name[XG_ID_LEN + 320];
        snprintf(name, sizeof name, "%s:%ld: %s: cif", fname, row->line, row->id);
        xg_structure **list = NULL;
        int n = 0;
        int rc = xg_cif_read_buffer(row->cif, row->cif_len, name, &list, &n, &row->err);
        if (rc == XG_OK && n != 1) {
            xg_error_set(&row->err, XG_EPARSE, "%s: holds %d crystals, expected 1", name, n);
            rc = XG_EPARSE;
        }
        if (rc == XG_OK) {
            row->s = list[0];
            list[0] = NULL;
            snprintf(row->s->id, XG_ID_LEN, "%s", row->id);
            free(list);
        } else {
            xg_cif_structures_free(list, n);
            if (row->err.code == XG_OK)
                xg_error_set(&row->err, XG_EPARSE, "%s: could not be read", name);
        }
    }
    for (i = 0; i < nrows; i++)
        if (!rows[i].s)
            return xg_error_set(err, rows[i].err.code, "%s", rows[i].err.msg);
    return XG_OK;
}

static void free_chunk(chunk_row *rows, int nrows)
{
    for (int i = 0; i < nrows; i++) {
        free(rows[i].cif);
        rows[i].cif = NULL;
        xg_structure_free(rows[i].s);
        rows[i].s = NULL;
    }
}

/* A growable array of doubles. */
typedef struct {
    double *v;
    size_t n, cap;
} dvec;

static int dvec_push(dvec *d, double x)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 1024;
        double *p = xg_realloc(d->v, cap * sizeof *p);
        if (!p)
            return XG_ENOMEM;
        d->v = p;
        d->cap = cap;
    }
    d->v[d->n++] = x;
    return XG_OK;
}

int xg_csv_read_cdvae(const char *path, xg_dataset **out, xg_csv_progress_fn progress,
                      void *progress_ctx, xg_error *err)
{
    *out = NULL;
    xg_csv_reader *r;
    int rc = xg_csv_open(path, &r, err);
    if (rc)
        return rc;
    const char *fname = xg_csv_name(r);
    int c_id = xg_csv_column(r, "material_id"), c_cif = xg_csv_column(r, "cif");
    if (c_id < 0 || c_cif < 0) {
        rc = xg_error_set(err, XG_EPARSE,
                          "%s:1: no '%s' column (a CDVAE-format table needs material_id and cif)",
                          fname, c_id < 0 ? "material_id" : "cif");
        xg_csv_close(r);
        return rc;
    }
    int nc = 0, nrows = 0, got = 1;
    cand_col *cand = xg_malloc((size_t)xg_csv_ncolumns(r) * sizeof *cand);
    chunk_row *rows = xg_calloc(CDVAE_CHUNK, sizeof *rows);
    xg_dataset *ds = xg_dataset_alloc();
    dvec vals = {0}; /* row-major, nc values per structure */
    if (!cand || !rows || !ds) {
        rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", fname);
        goto fail;
    }
    for (int c = 0; c < xg_csv_ncolumns(r); c++)
        if (c != c_id && c != c_cif)
            cand[nc++] = (cand_col){c, 1, 0, 0, ""};

    while (got) {
        if ((rc = xg_csv_next(r, &got, err)))
            goto fail;
        if (got) {
            chunk_row *row = &rows[nrows];
            const char *id = xg_csv_field(r, c_id);
            if (xg_csv_field_len(r, c_id) >= XG_ID_LEN) {
                rc = xg_error_set(err, XG_EPARSE, "%s:%ld: material_id longer than %d characters",
                                  fname, xg_csv_line(r), XG_ID_LEN - 1);
                goto fail;
            }
            snprintf(row->id, XG_ID_LEN, "%s", id);
            row->line = xg_csv_line(r);
            row->cif_len = xg_csv_field_len(r, c_cif);
            row->cif = xg_malloc(row->cif_len + 1);
            if (!row->cif) {
                rc = xg_error_set(err, XG_ENOMEM, "%s:%ld: out of memory", fname, row->line);
                goto fail;
            }
            memcpy(row->cif, xg_csv_field(r, c_cif), row->cif_len + 1);
            nrows++;
            for (int k = 0; k < nc; k++) {
                double x;
                cand_cell(&cand[k], xg_csv_field(r, cand[k].col), row->line, &x);
                if (dvec_push(&vals, x)) {
                    rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", fname);
                    goto fail;
                }
            }
        }
        if (nrows == CDVAE_CHUNK || (!got && nrows > 0)) {
            if ((rc = parse_chunk(rows, nrows, fname, err)))
                goto fail;
            for (int i = 0; i < nrows; i++)
                if ((rc = xg_dataset_append(ds, rows[i].s, NULL, err)))
                    goto fail;
            free_chunk(rows, nrows);
            nrows = 0;
            if (progress)
                progress(progress_ctx, xg_csv_bytes_read(r), xg_csv_bytes_total(r));
        }
    }
    /* Only now is it known which columns held numbers throughout. */
    for (int k = 0; k < nc; k++)
        if ((rc = cand_check(&cand[k], r, err)))
            goto fail;
    for (int k = 0; k < nc; k++) {
        if (!cand[k].numeric)
            continue;
        int idx = xg_dataset_add_property(ds, xg_csv_column_name(r, cand[k].col), err);
        if (idx < 0) {
            rc = -idx;
            goto fail;
        }
        for (int64_t i = 0; i < ds->n; i++)
            ds->props[i * ds->nprops + idx] = vals.v[(size_t)i * (size_t)nc + (size_t)k];
    }
    free(vals.v);
    free(cand);
    free(rows);
    xg_csv_close(r);
    *out = ds;
    return XG_OK;
fail:
    if (rows)
        free_chunk(rows, nrows);
    free(rows);
    free(cand);
    free(vals.v);
    xg_dataset_free(ds);
    xg_csv_close(r);
    return rc;
}

/* ------------------------------------------------------------- property merge ------- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

int xg_csv_merge_properties(xg_dataset *ds, const char *path, long *matched, xg_error *err)
{
    if (matched)
        *matched = 0;
    if (!ds)
        return xg_error_set(err, XG_EINVAL, "merge_properties: no dataset");
    xg_csv_reader *r;
    int rc = xg_csv_open(path, &r, err);
    if (rc)
        return rc;
    const char *fname = xg_csv_name(r);
    int c_id = xg_csv_column(r, "material_id");
    if (c_id < 0) {
        rc = xg_error_set(err, XG_EPARSE, "%s:1: no 'material_id' column to key the properties",
                          fname);
        xg_csv_close(r);
        return rc;
    }
    /* open-addressing table from id to structure index, load factor <= 1/2 */
    size_t hcap = 16;
    while (hcap < 2 * (size_t)ds->n + 2)
        hcap *= 2;
    int64_t *table = xg_malloc(hcap * sizeof *table);
    int nc = 0;
    cand_col *cand = xg_malloc((size_t)xg_csv_ncolumns(r) * sizeof *cand);
    dvec vals = {0};
    int64_t *which = NULL; /* structure index of each matched row */
    size_t nwhich = 0, capwhich = 0;
    if (!table || !cand) {
        rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", fname);
        goto done;
    }
    for (size_t h = 0; h < hcap; h++)
        table[h] = -1;
    for (int64_t i = 0; i < ds->n; i++) {
        size_t h = hash_str(ds->ids[i]) & (hcap - 1);
        while (table[h] >= 0 && strcmp(ds->ids[table[h]], ds->ids[i]) != 0)
            h = (h + 1) & (hcap - 1);
        if (table[h] < 0)
            table[h] = i;
    }
    for (int c = 0; c < xg_csv_ncolumns(r); c++)
        if (c != c_id)
            cand[nc++] = (cand_col){c, 1, 0, 0, ""};
    int got = 1;
    while (got) {
        if ((rc = xg_csv_next(r, &got, err)))
            goto done;
        if (!got)
            break;
        const char *id = xg_csv_field(r, c_id);
        size_t h = hash_str(id) & (hcap - 1);
        while (table[h] >= 0 && strcmp(ds->ids[table[h]], id) != 0)
            h = (h + 1) & (hcap - 1);
        int64_t idx = table[h];
        for (int k = 0; k < nc; k++) {
            double x;
            cand_cell(&cand[k], xg_csv_field(r, cand[k].col), xg_csv_line(r), &x);
            if (idx >= 0 && dvec_push(&vals, x)) {
                rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", fname);
                goto done;
            }
        }
        if (idx >= 0) {
            if (nwhich == capwhich) {
                capwhich = capwhich ? 2 * capwhich : 1024;
                int64_t *p = xg_realloc(which, capwhich * sizeof *p);
                if (!p) {
                    rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", fname);
                    goto done;
                }
                which = p;
            }
            which[nwhich++] = idx;
        }
    }
    for (int k = 0; k < nc; k++)
        if ((rc = cand_check(&cand[k], r, err)))
            goto done;
    for (int k = 0; k < nc; k++) {
        if (!cand[k].numeric)
            continue;
        int p = xg_dataset_add_property(ds, xg_csv_column_name(r, cand[k].col), err);
        if (p < 0) {
            rc = -p;
            goto done;
        }
        /* A blank cell does not erase a value the dataset already has. */
        for (size_t j = 0; j < nwhich; j++) {
            double x = vals.v[j * (size_t)nc + (size_t)k];
            if (!isnan(x))
                ds->props[which[j] * ds->nprops + p] = x;
        }
    }
    if (matched)
        *matched = (long)nwhich;
done:
    free(table);
    free(cand);
    free(vals.v);
    free(which);
    xg_csv_close(r);
    return rc;
}

void xg_csv_write_cell(FILE *f, const char *s)
{
    if (!s)
        return;
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}
