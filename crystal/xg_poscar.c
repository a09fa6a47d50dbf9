/* xg_poscar.c: VASP POSCAR reader and writer (see xg_poscar.h). */
#include "crystal/xg_poscar.h"
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

/* A cursor over the text, one line at a time. */
typedef struct {
    const char *t;
    size_t len, pos;
    int line;         /* number of the line last returned */
    const char *name;
} pc_reader;

#define PC_MAX_FIELDS 160
#define PC_FIELD_LEN 64

typedef struct {
    int n;
    char f[PC_MAX_FIELDS][PC_FIELD_LEN]; /* each NUL-terminated; longer fields are truncated */
    int truncated;
} pc_fields;

static const char *pc_name(const pc_reader *r) { return r->name && r->name[0] ? r->name : "<poscar>"; }

/* Next line as [*s, *s + *n); 0 at end of text. */
static int pc_line(pc_reader *r, const char **s, size_t *n)
{
    if (!xg_text_line(r->t, r->len, &r->pos, s, n))
        return 0;
    r->line++;
    return 1;
}

static void pc_split(const char *s, size_t n, pc_fields *fl)
{
    fl->n = 0;
    fl->truncated = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && isspace((unsigned char)s[i]))
            i++;
        if (i >= n)
            break;
        size_t j = i;
        while (j < n && !isspace((unsigned char)s[j]))
            j++;
        if (fl->n == PC_MAX_FIELDS) {
            fl->truncated = 1;
            return;
        }
        size_t k = j - i < PC_FIELD_LEN - 1 ? j - i : PC_FIELD_LEN - 1;
        memcpy(fl->f[fl->n], s + i, k);
        fl->f[fl->n][k] = '\0';
        fl->n++;
        i = j;
    }
}

/* Reads the next line and splits it; XG_EPARSE naming `what` when the text ends. */
static int pc_next(pc_reader *r, pc_fields *fl, const char *what, xg_error *err)
{
    const char *s;
    size_t n;
    if (!pc_line(r, &s, &n))
        return xg_error_set(err, XG_EPARSE, "%s:%d: file ends before the %s", pc_name(r),
                            r->line + 1, what);
    pc_split(s, n, fl);
    return XG_OK;
}

/* A whole field as a finite number (Fortran's 1.0D-3 accepted too). */
static int pc_number(const char *f, double *v)
{
    char buf[PC_FIELD_LEN];
    size_t n = strlen(f);
    if (n == 0 || n >= sizeof buf)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = f[i];
        if (c == 'd' || c == 'D')
            c = 'e';
        if (!isdigit((unsigned char)c) && !strchr("+-.eE", c))
            return 0; /* rejects nan, inf, hex */
        buf[i] = c;
    }
    buf[n] = '\0';
    char *end;
    errno = 0;
    double x = strtod(buf, &end);
    if (end == buf || *end != '\0' || !isfinite(x) || errno == ERANGE)
        return 0;
    *v = x;
    return 1;
}

static int pc_numbers(pc_reader *r, const pc_fields *fl, int k, double *v, const char *what,
                      xg_error *err)
{
    if (fl->n < k)
        return xg_error_set(err, XG_EPARSE, "%s:%d: %s needs %d numbers, found %d fields",
                            pc_name(r), r->line, what, k, fl->n);
    for (int i = 0; i < k; i++)
        if (!pc_number(fl->f[i], &v[i]))
            return xg_error_set(err, XG_EPARSE, "%s:%d: %s: '%s' is not a finite number",
                                pc_name(r), r->line, what, fl->f[i]);
    return XG_OK;
}

static double wrap01(double x)
{
    double w = x - floor(x);
    return w >= 1.0 ? 0.0 : w;
}

int xg_poscar_read_buffer(const char *text, size_t len, const char *name, const int *species,
                          int nspecies, xg_structure **out, xg_error *err)
{
    if (!out)
        return xg_error_set(err, XG_EINVAL, "xg_poscar_read_buffer: NULL out");
    *out = NULL;
    if (!text && len > 0)
        return xg_error_set(err, XG_EINVAL, "xg_poscar_read_buffer: NULL text");
    size_t bom = 0;
    int trc = xg_text_check(text, len, name, &bom, err);
    if (trc)
        return trc;
    text += bom;
    len -= bom;
    pc_reader r = {text, len, 0, 0, name};
    pc_fields *fl = xg_malloc(sizeof *fl);
    int *z = xg_malloc(XG_POSCAR_MAX_SPECIES * sizeof *z);
    long *cnt = xg_malloc(XG_POSCAR_MAX_SPECIES * sizeof *cnt);
    xg_structure *s = NULL;
    int rc = XG_OK;
    if (!fl || !z || !cnt) {
        rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", pc_name(&r));
        goto done;
    }
    const char *ls;
    size_t ln;
    if (!pc_line(&r, &ls, &ln)) {
        rc = xg_error_set(err, XG_EPARSE, "%s:1: empty file", pc_name(&r));
        goto done;
    }
    /* Scale factor(s). */
    if ((rc = pc_next(&r, fl, "scale factor", err)))
        goto done;
    double scale[3];
    int nscale = fl->n >= 3 && pc_number(fl->f[1], &scale[1]) && pc_number(fl->f[2], &scale[2])
                     ? 3 : 1;
    if ((rc = pc_numbers(&r, fl, nscale, scale, "scale factor", err)))
        goto done;
    if (nscale == 1) {
        if (scale[0] == 0.0) {
            rc = xg_error_set(err, XG_EPARSE, "%s:%d: scale factor is zero", pc_name(&r), r.line);
            goto done;
        }
    } else if (!(scale[0] > 0 && scale[1] > 0 && scale[2] > 0)) {
        rc = xg_error_set(err, XG_EPARSE, "%s:%d: three scale factors must all be positive",
                          pc_name(&r), r.line);
        goto done;
    }
    double L[3][3];
    static const char *const vec[3] = {"lattice vector a", "lattice vector b",
                                       "lattice vector c"};
    for (int i = 0; i < 3; i++) {
        if ((rc = pc_next(&r, fl, vec[i], err)) || (rc = pc_numbers(&r, fl, 3, L[i], vec[i], err)))
            goto done;
        for (int k = 0; k < 3; k++)
            if (fabs(L[i][k]) > 1e5) {
                rc = xg_error_set(err, XG_EPARSE, "%s:%d: %s component %g is absurd",
                                  pc_name(&r), r.line, vec[i], L[i][k]);
                goto done;
            }
    }
    int lattice_line = r.line;
    double f_scale[3];
    if (nscale == 3) {
        for (int k = 0; k < 3; k++)
            f_scale[k] = scale[k];
    } else if (scale[0] > 0) {
        f_scale[0] = f_scale[1] = f_scale[2] = scale[0];
    } else {
        double v = xg_lattice_volume(L);
        if (!(v > 1e-12)) {
            rc = xg_error_set(err, XG_EPARSE, "%s:%d: the lattice vectors span no volume",
                              pc_name(&r), lattice_line);
            goto done;
        }
        f_scale[0] = f_scale[1] = f_scale[2] = cbrt(-scale[0] / v);
    }
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++)
            L[i][k] *= f_scale[k];
    double Linv[3][3];
    if (xg_lattice_inverse(L, Linv, NULL) || !(xg_lattice_volume(L) > 1e-9)) {
        rc = xg_error_set(err, XG_EPARSE, "%s:%d: the lattice vectors are degenerate (zero cell "
                          "volume)", pc_name(&r), lattice_line);
        goto done;
    }

    /* Species line (VASP 5) or counts straight away (VASP 4). */
    if ((rc = pc_next(&r, fl, "species or counts line", err)))
        goto done;
    if (fl->n == 0) {
        rc = xg_error_set(err, XG_EPARSE, "%s:%d: empty line where the species or counts were "
                          "expected", pc_name(&r), r.line);
        goto done;
    }
    if (fl->truncated) {
        rc = xg_error_set(err, XG_EPARSE, "%s:%d: more than %d species", pc_name(&r), r.line,
                          XG_POSCAR_MAX_SPECIES);
        goto done;
    }
    int nsp;
    double dummy;
    if (!pc_number(fl->f[0], &dummy)) {
        nsp = fl->n;
        if (nsp > XG_POSCAR_MAX_SPECIES) {
            rc = xg_error_set(err, XG_EPARSE, "%s:%d: more than %d species", pc_name(&r), r.line,
                              XG_POSCAR_MAX_SPECIES);
            goto done;
        }
        for (int i = 0; i < nsp; i++) {
            const char *end;
            z[i] = xg_element_parse_prefix(fl->f[i], &end);
            /* "Fe", "Fe_pv", "Fe/1a2b" (VASP 6 POTCAR hashes); not "Fex" */
            if (z[i] <= 0 || (*end && *end != '_' && *end != '/' && !isdigit((unsigned char)*end)
                              && *end != '+' && *end != '-')) {
                rc = xg_error_set(err, XG_EPARSE, "%s:%d: '%s' is not an element symbol",
                                  pc_name(&r), r.line, fl->f[i]);
                goto done;
            }
        }
        if ((rc = pc_next(&r, fl, "counts line", err)))
            goto done;
    } else {
        if (!species || nspecies <= 0) {
            rc = xg_error_set(err, XG_EPARSE, "%s:%d: no species line (VASP 4 format); give the "
                              "species explicitly", pc_name(&r), r.line);
            goto done;
        }
        nsp = nspecies < XG_POSCAR_MAX_SPECIES ? nspecies : XG_POSCAR_MAX_SPECIES;
        for (int i = 0; i < nsp; i++) {
            if (!xg_element_get(species[i])) {
                rc = xg_error_set(err, XG_EINVAL, "%s: species %d has atomic number %d",
                                  pc_name(&r), i + 1, species[i]);
                goto done;
            }
            z[i] = species[i];
        }
    }
    /* Counts: exactly one per species (ignore trailing comments after '!' or '#'). */
    int ncounts = 0;
    while (ncounts < fl->n && fl->f[ncounts][0] != '!' && fl->f[ncounts][0] != '#')
        ncounts++;
    if (ncounts != nsp) {
        rc = xg_error_set(err, XG_EPARSE, "%s:%d: %d species but %d counts", pc_name(&r), r.line,
                          nsp, ncounts);
        goto done;
    }
    long natoms = 0;
    for (int i = 0; i < nsp; i++) {
        double c;
        if (!pc_number(fl->f[i], &c) || c != floor(c) || c < 0 || c > XG_POSCAR_MAX_ATOMS) {
            rc = xg_error_set(err, XG_EPARSE, "%s:%d: count '%s' is not a whole number in 0..%d",
                              pc_name(&r), r.line, fl->f[i], XG_POSCAR_MAX_ATOMS);
            goto done;
        }
        cnt[i] = (long)c;
        natoms += cnt[i];
    }
    if (natoms < 1 || natoms > XG_POSCAR_MAX_ATOMS) {
        rc = xg_error_set(err, XG_EPARSE, "%s:%d: %ld atoms (need 1..%d)", pc_name(&r), r.line,
                          natoms, XG_POSCAR_MAX_ATOMS);
        goto done;
    }
    if ((rc = pc_next(&r, fl, "coordinate mode line (Direct or Cartesian)", err)))
        goto done;
    if (fl->n > 0 && (fl->f[0][0] == 'S' || fl->f[0][0] == 's')) {
        if ((rc = pc_next(&r, fl, "coordinate mode line (Direct or Cartesian)", err)))
            goto done;
    }
    if (fl->n == 0) {
        rc = xg_error_set(err, XG_EPARSE, "%s:%d: empty line where Direct or Cartesian was "
                          "expected", pc_name(&r), r.line);
        goto done;
    }
    char mode = (char)tolower((unsigned char)fl->f[0][0]);
    int cart = mode == 'c' || mode == 'k';
    if (!cart && mode != 'd') {
        rc = xg_error_set(err, XG_EPARSE, "%s:%d: expected Direct or Cartesian, found '%s'",
                          pc_name(&r), r.line, fl->f[0]);
        goto done;
    }
    /* Each position line takes at least 6 bytes ("0 0 0\n"): refuse a huge count in a short
     * file before allocating for it. */
    if ((r.len - r.pos) / 6 + 1 < (size_t)natoms) {
        rc = xg_error_set(err, XG_EPARSE, "%s:%d: file ends before the atom positions (%ld atoms "
                          "declared)", pc_name(&r), r.line + 1, natoms);
        goto done;
    }
    s = xg_structure_alloc((int)natoms);
    if (!s) {
        rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory for %ld atoms", pc_name(&r), natoms);
        goto done;
    }
    memcpy(s->lattice, L, sizeof L);
    int a = 0;
    for (int sp = 0; sp < nsp; sp++)
        for (long c = 0; c < cnt[sp]; c++, a++) {
            double x[3];
            if ((rc = pc_next(&r, fl, "atom positions", err)))
                goto fail;
            if ((rc = pc_numbers(&r, fl, 3, x, "atom position", err)))
                goto fail;
            for (int k = 0; k < 3; k++)
                if (fabs(x[k]) > 1e6) {
                    rc = xg_error_set(err, XG_EPARSE, "%s:%d: coordinate %g is absurd",
                                      pc_name(&r), r.line, x[k]);
                    goto fail;
                }
            if (cart) {
                double c3[3] = {x[0] * f_scale[0], x[1] * f_scale[1], x[2] * f_scale[2]};
                for (int k = 0; k < 3; k++)
                    x[k] = c3[0] * Linv[0][k] + c3[1] * Linv[1][k] + c3[2] * Linv[2][k];
            }
            s->types[a] = z[sp];
            for (int k = 0; k < 3; k++)
                s->frac[a][k] = wrap01(x[k]);
        }
    *out = s;
    s = NULL;
    goto done;
fail:
    xg_structure_free(s);
    s = NULL;
done:
    free(fl);
    free(z);
    free(cnt);
    return rc;
}

int xg_poscar_read_file(const char *path, const int *species, int nspecies, xg_structure **out,
                        xg_error *err)
{
    if (!out || !path)
        return xg_error_set(err, XG_EINVAL, "xg_poscar_read_file: NULL argument");
    *out = NULL;
    char *b = NULL;
    size_t n = 0;
    int rc = xg_file_read_all(path, (size_t)1 << 30, &b, &n, err);
    if (!rc)
        rc = xg_poscar_read_buffer(b, n, path, species, nspecies, out, err);
    free(b);
    return rc;
}

/* Writes s, already in the standard cell (oriented, species grouped in formula order). */
static int write_standard(FILE *f, const xg_structure *s, const char *note, xg_error *err)
{
    int order[XG_MAX_Z], count[XG_MAX_Z + 1] = {0};
    int nsp = xg_structure_species_order(s, order, XG_MAX_Z);
    for (int i = 0; i < s->natoms; i++) {
        count[s->types[i]]++;
        for (int k = 0; k < 3; k++)
            if (!isfinite(s->frac[i][k]))
                return xg_error_set(err, XG_EINVAL, "xg_poscar_write: atom %d has a non-finite "
                                    "coordinate", i);
    }
    /* The title is the formula in the species line's order, then the caller's note on the
     * same line (VASP reads the first line as a comment; pymatgen and ASE keep it). */
    char formula[4096];
    if (xg_structure_formula(s, formula, sizeof formula))
        snprintf(formula, sizeof formula, "xtalgen structure");
    fputs(formula, f);
    if (note && note[0]) {
        fputs("  ", f);
        for (const char *q = note; *q; q++)
            fputc(iscntrl((unsigned char)*q) ? ' ' : *q, f);
    }
    fputs("\n1.0\n", f);
    for (int i = 0; i < 3; i++)
        fprintf(f, " %21.16f %21.16f %21.16f\n", s->lattice[i][0] + 0.0, s->lattice[i][1] + 0.0,
                s->lattice[i][2] + 0.0);
    for (int k = 0; k < nsp; k++)
        fprintf(f, "%s%s", k ? " " : "", xg_element_get(order[k])->symbol);
    fputc('\n', f);
    for (int k = 0; k < nsp; k++)
        fprintf(f, "%s%d", k ? " " : "", count[order[k]]);
    fputs("\nDirect\n", f);
    for (int i = 0; i < s->natoms; i++) {
        double x[3];
        for (int c = 0; c < 3; c++)
            x[c] = fabs(s->frac[i][c]) < 5e-17 ? 0.0 : s->frac[i][c];
        fprintf(f, " %21.16f %21.16f %21.16f %s\n", x[0], x[1], x[2],
                xg_element_get(s->types[i])->symbol);
    }
    if (ferror(f))
        return xg_error_set(err, XG_EIO, "xg_poscar_write: write error");
    return XG_OK;
}

int xg_poscar_write_titled(FILE *f, const xg_structure *s, const char *note, xg_error *err)
{
    if (!f || !s)
        return xg_error_set(err, XG_EINVAL, "xg_poscar_write: NULL argument");
    if (s->natoms < 1)
        return xg_error_set(err, XG_EINVAL, "xg_poscar_write: structure has no atoms");
    for (int i = 0; i < s->natoms; i++)
        if (!xg_element_get(s->types[i]))
            return xg_error_set(err, XG_EINVAL, "xg_poscar_write: atom %d has atomic number %d",
                                i, s->types[i]);
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++)
            if (!isfinite(s->lattice[i][k]))
                return xg_error_set(err, XG_EINVAL, "xg_poscar_write: non-finite lattice");
    xg_structure *c = xg_structure_copy(s);
    if (!c)
        return xg_error_set(err, XG_ENOMEM, "xg_poscar_write: out of memory");
    xg_structure_orient(c, NULL); /* a singular cell is written as it is */
    int rc = xg_structure_group_species(c, err);
    if (rc == XG_OK)
        rc = write_standard(f, c, note, err);
    xg_structure_free(c);
    return rc;
}

int xg_poscar_write(FILE *f, const xg_structure *s, xg_error *err)
{
    return xg_poscar_write_titled(f, s, NULL, err);
}

int xg_poscar_write_file(const char *path, const xg_structure *s, xg_error *err)
{
    return xg_file_write_atomic(path, xg_poscar_write, s, err);
}

int xg_poscar_write_titled_file(const char *path, const xg_structure *s, const char *note,
                                xg_error *err)
{
    return xg_file_write_atomic_note(path, xg_poscar_write_titled, s, note, err);
}
