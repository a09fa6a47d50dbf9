/* xg_extxyz.c: extended XYZ reader and writer (see xg_extxyz.h). */
#include "crystal/xg_extxyz.h"
#include "crystal/xg_alloc.h"
#include "crystal/xg_fileio.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crystal/xg_elements.h"
#include "crystal/xg_lattice.h"

/* ------------------------------------------------------------------------------------------ */
/* Writer                                                                                       */

/* One frame of s, whose lattice is already in the standard orientation. */
static int write_frame(FILE *f, const xg_structure *s, xg_error *err)
{
    if (!f || !s)
        return xg_error_set(err, XG_EINVAL, "xg_extxyz_write: NULL argument");
    if (s->natoms < 1)
        return xg_error_set(err, XG_EINVAL, "xg_extxyz_write: structure has no atoms");
    for (int i = 0; i < s->natoms; i++)
        if (!xg_element_get(s->types[i]))
            return xg_error_set(err, XG_EINVAL, "xg_extxyz_write: atom %d has atomic number %d",
                                i, s->types[i]);
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++)
            if (!isfinite(s->lattice[i][k]))
                return xg_error_set(err, XG_EINVAL, "xg_extxyz_write: non-finite lattice");
    fprintf(f, "%d\nLattice=\"", s->natoms);
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++)
            fprintf(f, "%s%.16g", i || k ? " " : "", s->lattice[i][k]);
    fputs("\" Properties=species:S:1:pos:R:3 pbc=\"T T T\"", f);
    if (s->id[0]) {
        /* quoted; characters that would end the value or the line become '_' */
        fputs(" id=\"", f);
        for (const char *p = s->id; *p && p < s->id + XG_ID_LEN; p++)
            fputc(*p == '"' || *p == '\\' || !isprint((unsigned char)*p) ? '_' : *p, f);
        fputc('"', f);
    }
    fputc('\n', f);
    for (int i = 0; i < s->natoms; i++) {
        double c[3];
        xg_structure_frac_to_cart(s, i, c);
        if (!isfinite(c[0]) || !isfinite(c[1]) || !isfinite(c[2]))
            return xg_error_set(err, XG_EINVAL, "xg_extxyz_write: atom %d has a non-finite "
                                "position", i);
        fprintf(f, "%-2s %20.12f %20.12f %20.12f\n", xg_element_get(s->types[i])->symbol,
                c[0] + 0.0, c[1] + 0.0, c[2] + 0.0);
    }
    if (ferror(f))
        return xg_error_set(err, XG_EIO, "xg_extxyz_write: write error");
    return XG_OK;
}

int xg_extxyz_write(FILE *f, const xg_structure *s, xg_error *err)
{
    if (!f || !s)
        return xg_error_set(err, XG_EINVAL, "xg_extxyz_write: NULL argument");
    /* The cell every xtalgen output carries (right-handed, a along x, b in the xy plane); the
     * Cartesian positions are rotated with it. */
    xg_structure *o = xg_structure_copy(s);
    if (!o)
        return xg_error_set(err, XG_ENOMEM, "xg_extxyz_write: out of memory");
    int rc = XG_OK;
    for (int i = 0; i < 3 && rc == XG_OK; i++)
        for (int k = 0; k < 3; k++)
            if (!isfinite(s->lattice[i][k]))
                rc = xg_error_set(err, XG_EINVAL, "xg_extxyz_write: non-finite lattice");
    if (rc == XG_OK && s->natoms >= 1)
        xg_structure_orient(o, NULL); /* a singular cell is written as it is */
    if (rc == XG_OK)
        rc = write_frame(f, o, err);
    xg_structure_free(o);
    return rc;
}

typedef struct {
    xg_structure *const *list;
    int n;
    const char *path;
} frames_job;

static int write_frames(FILE *f, const void *ctx, xg_error *err)
{
    const frames_job *j = ctx;
    int rc = XG_OK;
    for (int i = 0; i < j->n && !rc; i++)
        if ((rc = xg_extxyz_write(f, j->list[i], err)))
            xg_error_prefix(err, rc, "frame %d", i + 1);
    return rc;
}

int xg_extxyz_write_file(const char *path, xg_structure *const *list, int n, xg_error *err)
{
    if (!path || (!list && n > 0) || n < 0)
        return xg_error_set(err, XG_EINVAL, "xg_extxyz_write_file: bad argument");
    frames_job j = {list, n, path};
    return xg_file_write_atomic_with(path, write_frames, &j, err);
}

/* ------------------------------------------------------------------------------------------ */
/* Reader                                                                                       */

typedef struct {
    const char *t;
    size_t len, pos;
    int line;
    const char *name;
} xr;

static const char *xr_name(const xr *r) { return r->name && r->name[0] ? r->name : "<extxyz>"; }

static int xr_line(xr *r, const char **s, size_t *n)
{
    if (!xg_text_line(r->t, r->len, &r->pos, s, n))
        return 0;
    r->line++;
    return 1;
}

/* A finite number from [s, s+n): rejects nan/inf/hex, as the other readers do. */
static int xr_number(const char *s, size_t n, double *v)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]) && !strchr("+-.eE", s[i]))
            return 0;
        buf[i] = s[i];
    }
    buf[n] = '\0';
    char *end;
    errno = 0;
    double x = strtod(buf, &end);
    if (end == buf || *end || !isfinite(x) || errno == ERANGE)
        return 0;
    *v = x;
    return 1;
}

static int ci_eq(const char *s, size_t n, const char *w)
{
    if (strlen(w) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)s[i]) != w[i])
            return 0;
    return 1;
}

/* Next field of [s, s+n) from *i, separated by whitespace (and commas/brackets when `lists`). */
static int next_field(const char *s, size_t n, size_t *i, int lists, size_t *fs, size_t *fn)
{
    size_t p = *i;
#define XR_SEP(c) (isspace((unsigned char)(c)) || (lists && strchr(",[]{}()", (c)) && (c)))
    while (p < n && XR_SEP(s[p]))
        p++;
    if (p >= n) {
        *i = p;
        return 0;
    }
    size_t q = p;
    while (q < n && !XR_SEP(s[q]))
        q++;
#undef XR_SEP
    *fs = p;
    *fn = q - p;
    *i = q;
    return 1;
}

typedef struct {
    int have_lattice;
    double L[3][3];
    int species_col, z_col, pos_col, ncols;
    int pbc_ok;
    char id[XG_ID_LEN];
} xr_header;

static int parse_properties(xr *r, const char *v, size_t n, xr_header *h, xg_error *err)
{
    h->species_col = h->z_col = h->pos_col = -1;
    h->ncols = 0;
    size_t i = 0;
    while (i < n) {
        size_t part[3][2];
        for (int k = 0; k < 3; k++) {
            size_t st = i;
            while (i < n && v[i] != ':')
                i++;
            part[k][0] = st;
            part[k][1] = i - st;
            if (k < 2) {
                if (i >= n)
                    return xg_error_set(err, XG_EPARSE, "%s:%d: Properties '%.*s' is not a list "
                                        "of name:type:count", xr_name(r), r->line,
                                        (int)(n > 80 ? 80 : n), v);
                i++;
            }
        }
        if (i < n)
            i++; /* the ':' before the next name */
        double cnt;
        if (!xr_number(v + part[2][0], part[2][1], &cnt) || cnt != floor(cnt) || cnt < 1 ||
            cnt > 1000 || part[1][1] != 1 || !strchr("SRILsril", v[part[1][0]]))
            return xg_error_set(err, XG_EPARSE, "%s:%d: bad Properties entry '%.*s:%.*s:%.*s'",
                                xr_name(r), r->line, (int)part[0][1], v + part[0][0],
                                (int)part[1][1], v + part[1][0], (int)part[2][1],
                                v + part[2][0]);
        const char *nm = v + part[0][0];
        size_t nl = part[0][1];
        char ty = (char)toupper((unsigned char)v[part[1][0]]);
        if (ci_eq(nm, nl, "species") && ty == 'S' && cnt == 1)
            h->species_col = h->ncols;
        else if (ci_eq(nm, nl, "z") && ty == 'I' && cnt == 1)
            h->z_col = h->ncols;
        else if (ci_eq(nm, nl, "pos") && ty == 'R' && cnt == 3)
            h->pos_col = h->ncols;
        h->ncols += (int)cnt;
        if (h->ncols > 10000)
            return xg_error_set(err, XG_EPARSE, "%s:%d: too many columns in Properties",
                                xr_name(r), r->line);
    }
    if (h->pos_col < 0)
        return xg_error_set(err, XG_EPARSE, "%s:%d: Properties has no pos:R:3 column",
                            xr_name(r), r->line);
    if (h->species_col < 0 && h->z_col < 0)
        return xg_error_set(err, XG_EPARSE, "%s:%d: Properties has no species:S:1 or Z:I:1 "
                            "column", xr_name(r), r->line);
    return XG_OK;
}

static int parse_header(xr *r, const char *s, size_t n, xr_header *h, xg_error *err)
{
    memset(h, 0, sizeof *h);
    h->species_col = 0;
    h->pos_col = 1;
    h->z_col = -1;
    h->ncols = 4;
    h->pbc_ok = 1;
    size_t i = 0;
    while (i < n) {
        while (i < n && isspace((unsigned char)s[i]))
            i++;
        if (i >= n)
            break;
        size_t ks = i;
        while (i < n && s[i] != '=' && !isspace((unsigned char)s[i]))
            i++;
        size_t kn = i - ks;
        size_t j = i;
        while (j < n && isspace((unsigned char)s[j]))
            j++;
        if (j >= n || s[j] != '=')
            continue; /* a bare flag */
        i = j + 1;
        while (i < n && isspace((unsigned char)s[i]))
            i++;
        size_t vs, vn;
        if (i < n && (s[i] == '"' || s[i] == '{' || s[i] == '[')) {
            char close = s[i] == '"' ? '"' : (s[i] == '{' ? '}' : ']');
            vs = ++i;
            while (i < n && !(s[i] == close && (close != '"' || s[i - 1] != '\\')))
                i++;
            if (i >= n)
                return xg_error_set(err, XG_EPARSE, "%s:%d: unterminated value of key %.*s",
                                    xr_name(r), r->line, (int)(kn > 40 ? 40 : kn), s + ks);
            vn = i - vs;
            i++;
        } else {
            vs = i;
            while (i < n && !isspace((unsigned char)s[i]))
                i++;
            vn = i - vs;
        }
        const char *k = s + ks, *v = s + vs;
        if (ci_eq(k, kn, "lattice")) {
            size_t p = 0, fs, fn;
            int cnt = 0;
            while (next_field(v, vn, &p, 1, &fs, &fn)) {
                if (cnt == 9 || !xr_number(v + fs, fn, &h->L[cnt / 3][cnt % 3]))
                    return xg_error_set(err, XG_EPARSE, "%s:%d: Lattice must be 9 finite "
                                        "numbers", xr_name(r), r->line);
                cnt++;
            }
            if (cnt != 9)
                return xg_error_set(err, XG_EPARSE, "%s:%d: Lattice has %d numbers, not 9",
                                    xr_name(r), r->line, cnt);
            h->have_lattice = 1;
        } else if (ci_eq(k, kn, "properties")) {
            int rc = parse_properties(r, v, vn, h, err);
            if (rc)
                return rc;
        } else if (ci_eq(k, kn, "pbc")) {
            size_t p = 0, fs, fn;
            while (next_field(v, vn, &p, 1, &fs, &fn))
                if (!(ci_eq(v + fs, fn, "t") || ci_eq(v + fs, fn, "true") ||
                      ci_eq(v + fs, fn, "1")))
                    h->pbc_ok = 0;
        } else if (ci_eq(k, kn, "id") || ci_eq(k, kn, "name") || ci_eq(k, kn, "material_id")) {
            size_t c = vn < XG_ID_LEN - 1 ? vn : XG_ID_LEN - 1;
            memcpy(h->id, v, c);
            h->id[c] = '\0';
            for (size_t q = 0; q < c; q++)
                if (!isprint((unsigned char)h->id[q]))
                    h->id[q] = '_';
        }
    }
    return XG_OK;
}

void xg_extxyz_structures_free(xg_structure **list, int n)
{
    if (!list)
        return;
    for (int i = 0; i < n; i++)
        xg_structure_free(list[i]);
    free(list);
}

static int read_frame(xr *r, long natoms, xg_structure **out, xg_error *err)
{
    const char *s;
    size_t n;
    xr_header h;
    if (!xr_line(r, &s, &n))
        return xg_error_set(err, XG_EPARSE, "%s:%d: file ends before the comment line",
                            xr_name(r), r->line + 1);
    int rc = parse_header(r, s, n, &h, err);
    if (rc)
        return rc;
    if (!h.have_lattice)
        return xg_error_set(err, XG_EPARSE, "%s:%d: no Lattice=\"...\": a frame without a cell "
                            "is a molecule, not a crystal", xr_name(r), r->line);
    if (!h.pbc_ok)
        return xg_error_set(err, XG_EUNSUPPORTED, "%s:%d: pbc is not periodic in all three "
                            "directions (slabs and molecules are not supported)", xr_name(r),
                            r->line);
    double Linv[3][3];
    if (xg_lattice_inverse(h.L, Linv, NULL) || !(xg_lattice_volume(h.L) > 1e-9))
        return xg_error_set(err, XG_EPARSE, "%s:%d: Lattice is degenerate (zero volume)",
                            xr_name(r), r->line);
    if ((r->len - r->pos) / 8 + 1 < (size_t)natoms) /* "H 0 0 0\n" is the shortest atom line */
        return xg_error_set(err, XG_EPARSE, "%s:%d: file ends before the %ld atoms of this frame",
                            xr_name(r), r->line + 1, natoms);
    xg_structure *st = xg_structure_alloc((int)natoms);
    if (!st)
        return xg_error_set(err, XG_ENOMEM, "%s: out of memory for %ld atoms", xr_name(r),
                            natoms);
    memcpy(st->lattice, h.L, sizeof h.L);
    memcpy(st->id, h.id, sizeof h.id);
    int tcol = h.species_col >= 0 ? h.species_col : h.z_col;
    for (long a = 0; a < natoms; a++) {
        if (!xr_line(r, &s, &n)) {
            xg_structure_free(st);
            return xg_error_set(err, XG_EPARSE, "%s:%d: file ends after %ld of %ld atoms",
                                xr_name(r), r->line + 1, a, natoms);
        }
        size_t p = 0, fs, fn;
        int col = 0, got = 0, z = 0;
        double c[3];
        while (col < h.ncols && next_field(s, n, &p, 0, &fs, &fn)) {
            if (col == tcol) {
                if (h.species_col >= 0) {
                    char sym[8];
                    size_t cl = fn < sizeof sym - 1 ? fn : sizeof sym - 1;
                    memcpy(sym, s + fs, cl);
                    sym[cl] = '\0';
                    const char *end;
                    z = xg_element_parse_prefix(sym, &end);
                    if (fn >= sizeof sym - 1 || (*end && !isdigit((unsigned char)*end) &&
                                                 *end != '+' && *end != '-' && *end != '_'))
                        z = 0;
                } else {
                    double zz;
                    z = xr_number(s + fs, fn, &zz) && zz == floor(zz) && zz >= 1 &&
                                zz <= XG_MAX_Z ? (int)zz : 0;
                }
                if (z <= 0 || !xg_element_get(z)) {
                    xg_structure_free(st);
                    return xg_error_set(err, XG_EPARSE, "%s:%d: '%.*s' is not an element",
                                        xr_name(r), r->line, (int)(fn > 20 ? 20 : fn), s + fs);
                }
                got++;
            } else if (col >= h.pos_col && col < h.pos_col + 3) {
                if (!xr_number(s + fs, fn, &c[col - h.pos_col]) ||
                    fabs(c[col - h.pos_col]) > 1e7) {
                    xg_structure_free(st);
                    return xg_error_set(err, XG_EPARSE, "%s:%d: position '%.*s' is not a finite "
                                        "number", xr_name(r), r->line, (int)(fn > 30 ? 30 : fn),
                                        s + fs);
                }
                got++;
            }
            col++;
        }
        if (got != 4) {
            xg_structure_free(st);
            return xg_error_set(err, XG_EPARSE, "%s:%d: atom line has %d columns, Properties "
                                "says %d", xr_name(r), r->line, col, h.ncols);
        }
        st->types[a] = z;
        for (int k = 0; k < 3; k++) {
            double fk = c[0] * Linv[0][k] + c[1] * Linv[1][k] + c[2] * Linv[2][k];
            fk -= floor(fk);
            st->frac[a][k] = fk >= 1.0 ? 0.0 : fk;
        }
    }
    *out = st;
    return XG_OK;
}

int xg_extxyz_read_buffer(const char *text, size_t len, const char *name, xg_structure ***out,
                          int *nout, xg_error *err)
{
    if (out)
        *out = NULL;
    if (nout)
        *nout = 0;
    if (!out || !nout || (!text && len > 0))
        return xg_error_set(err, XG_EINVAL, "xg_extxyz_read_buffer: NULL argument");
    size_t bom = 0;
    int trc = xg_text_check(text, len, name, &bom, err);
    if (trc)
        return trc;
    text += bom;
    len -= bom;
    xr r = {text, len, 0, 0, name};
    xg_structure **list = NULL;
    int n = 0, cap = 0, rc = XG_OK;
    const char *s;
    size_t ln;
    while (xr_line(&r, &s, &ln)) {
        size_t p = 0, fs, fn;
        if (!next_field(s, ln, &p, 0, &fs, &fn))
            continue; /* blank line between or after frames */
        double v;
        size_t q = p, gs, gn;
        if (!xr_number(s + fs, fn, &v) || v != floor(v) || v < 1 || v > XG_EXTXYZ_MAX_ATOMS ||
            next_field(s, ln, &q, 0, &gs, &gn)) {
            rc = xg_error_set(err, XG_EPARSE, "%s:%d: expected the number of atoms (1..%d), "
                              "found '%.*s'", xr_name(&r), r.line, XG_EXTXYZ_MAX_ATOMS,
                              (int)(ln > 40 ? 40 : ln), s);
            goto fail;
        }
        xg_structure *st = NULL;
        if ((rc = read_frame(&r, (long)v, &st, err)))
            goto fail;
        if (n == cap) {
            int ncap = cap ? cap * 2 : 8;
            xg_structure **nl = xg_realloc(list, (size_t)ncap * sizeof *nl);
            if (!nl) {
                xg_structure_free(st);
                rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", xr_name(&r));
                goto fail;
            }
            list = nl;
            cap = ncap;
        }
        list[n++] = st;
    }
    if (n == 0) {
        rc = xg_error_set(err, XG_EPARSE, "%s: no frames", xr_name(&r));
        goto fail;
    }
    *out = list;
    *nout = n;
    return XG_OK;
fail:
    xg_extxyz_structures_free(list, n);
    return rc;
}

int xg_extxyz_read_file(const char *path, xg_structure ***out, int *nout, xg_error *err)
{
    if (out)
        *out = NULL;
    if (nout)
        *nout = 0;
    if (!path)
        return xg_error_set(err, XG_EINVAL, "xg_extxyz_read_file: NULL path");
    char *b = NULL;
    size_t n = 0;
    int rc = xg_file_read_all(path, (size_t)1 << 31, &b, &n, err);
    if (!rc)
        rc = xg_extxyz_read_buffer(b, n, path, out, nout, err);
    free(b);
    return rc;
}
