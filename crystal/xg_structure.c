/* xg_structure.c: a periodic crystal, its formula, density and shortest interatomic distance. */
#include "crystal/xg_structure.h"
#include "crystal/xg_alloc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_elements.h"
#include "crystal/xg_lattice.h"

/* Avogadro's number times 1e-24 cm^3 per A^3, inverted: g/mol / A^3 -> g/cm^3. */
#define XG_AMU_PER_A3_TO_G_PER_CM3 1.66053906660

xg_structure *xg_structure_alloc(int natoms)
{
    if (natoms < 0)
        return NULL;
    xg_structure *s = xg_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    /* At least one slot each, so a zero-atom structure still has valid (non-NULL) arrays. */
    size_t n = natoms > 0 ? (size_t)natoms : 1;
    s->types = xg_calloc(n, sizeof *s->types);
    s->frac = xg_calloc(n, sizeof *s->frac);
    if (!s->types || !s->frac) {
        xg_structure_free(s);
        return NULL;
    }
    s->natoms = natoms;
    return s;
}

void xg_structure_free(xg_structure *s)
{
    if (!s)
        return;
    free(s->types);
    free(s->frac);
    free(s->occu);
    free(s);
}

xg_structure *xg_structure_copy(const xg_structure *s)
{
    if (!s || s->natoms < 0)
        return NULL;
    xg_structure *c = xg_structure_alloc(s->natoms);
    if (!c)
        return NULL;
    memcpy(c->lattice, s->lattice, sizeof c->lattice);
    memcpy(c->id, s->id, sizeof c->id);
    c->id[XG_ID_LEN - 1] = '\0';
    if (s->natoms > 0) {
        memcpy(c->types, s->types, (size_t)s->natoms * sizeof *c->types);
        memcpy(c->frac, s->frac, (size_t)s->natoms * sizeof *c->frac);
    }
    if (s->occu) {
        c->occu = malloc((s->natoms > 0 ? (size_t)s->natoms : 1) * sizeof *c->occu);
        if (!c->occu) {
            xg_structure_free(c);
            return NULL;
        }
        if (s->natoms > 0)
            memcpy(c->occu, s->occu, (size_t)s->natoms * sizeof *c->occu);
    }
    return c;
}

int xg_structure_resize(xg_structure *s, int natoms, xg_error *err)
{
    if (!s)
        return xg_error_set(err, XG_EINVAL, "structure resize: no structure");
    if (natoms < 0)
        return xg_error_set(err, XG_EINVAL, "structure resize: negative atom count %d", natoms);
    size_t n = natoms > 0 ? (size_t)natoms : 1;
    int *t = xg_realloc(s->types, n * sizeof *t);
    if (!t)
        return xg_error_set(err, XG_ENOMEM, "structure resize: out of memory for %d atoms", natoms);
    s->types = t;
    double(*f)[3] = xg_realloc(s->frac, n * sizeof *f);
    if (!f)
        return xg_error_set(err, XG_ENOMEM, "structure resize: out of memory for %d atoms", natoms);
    s->frac = f;
    if (s->occu) {
        double *o = realloc(s->occu, n * sizeof *o);
        if (!o)
            return xg_error_set(err, XG_ENOMEM, "structure resize: out of memory for %d atoms",
                                natoms);
        s->occu = o;
        for (int i = s->natoms; i < natoms; i++)
            o[i] = 1.0;
    }
    if (natoms > s->natoms) {
        size_t old = (size_t)s->natoms;
        memset(s->types + old, 0, ((size_t)natoms - old) * sizeof *s->types);
        memset(s->frac + old, 0, ((size_t)natoms - old) * sizeof *s->frac);
    }
    s->natoms = natoms;
    return XG_OK;
}

/* ---- formulas ---- */

/* Per-element atom counts; XG_EINVAL for an atomic number outside the table. */
static int count_elements(const xg_structure *s, long counts[XG_MAX_Z + 1])
{
    memset(counts, 0, (XG_MAX_Z + 1) * sizeof counts[0]);
    if (!s || s->natoms < 0)
        return XG_EINVAL;
    for (int i = 0; i < s->natoms; i++) {
        if (s->types[i] < 1 || s->types[i] > XG_MAX_Z)
            return XG_EINVAL;
        counts[s->types[i]]++;
    }
    return XG_OK;
}

/* pymatgen's order: Pauling electronegativity ascending, ties broken by the symbol's spelling
 * (pymatgen sorts on [X, symbol]; MP-20's pretty_formula has "ScCuSi", Cu and Si both 1.90).
 * Elements without an electronegativity (He, Ne, Ar) go last. */
static int cmp_formula_order(const void *pa, const void *pb)
{
    const xg_element *a = xg_element_get(*(const int *)pa), *b = xg_element_get(*(const int *)pb);
    int na = isnan(a->electronegativity), nb = isnan(b->electronegativity);
    if (na != nb)
        return na - nb;
    if (!na && a->electronegativity != b->electronegativity)
        return a->electronegativity < b->electronegativity ? -1 : 1;
    return strcmp(a->symbol, b->symbol);
}

static int cmp_symbol(const void *pa, const void *pb)
{
    return strcmp(xg_element_get(*(const int *)pa)->symbol, xg_element_get(*(const int *)pb)->symbol);
}

/* Fills zs with the elements present, sorted by cmp; returns how many. */
static int sorted_elements(const long counts[XG_MAX_Z + 1], int zs[XG_MAX_Z],
                           int (*cmp)(const void *, const void *))
{
    int n = 0;
    for (int z = 1; z <= XG_MAX_Z; z++)
        if (counts[z] > 0)
            zs[n++] = z;
    qsort(zs, (size_t)n, sizeof zs[0], cmp);
    return n;
}

/* A growing string in a caller's buffer that remembers whether it overflowed. */
typedef struct {
    char *buf;
    size_t n, len;
    int overflow;
} sbuf;

static void sb_add(sbuf *sb, const char *fmt_s, long count, int with_count)
{
    if (sb->overflow)
        return;
    int w = with_count ? snprintf(sb->buf + sb->len, sb->n - sb->len, "%s%ld", fmt_s, count)
                       : snprintf(sb->buf + sb->len, sb->n - sb->len, "%s", fmt_s);
    if (w < 0 || (size_t)w >= sb->n - sb->len) {
        sb->overflow = 1;
        sb->buf[sb->len] = '\0';
        return;
    }
    sb->len += (size_t)w;
}

static long gcd_long(long a, long b)
{
    while (b) {
        long t = a % b;
        a = b;
        b = t;
    }
    return a;
}

int xg_structure_formula(const xg_structure *s, char *buf, size_t n)
{
    if (!buf || n == 0)
        return XG_EINVAL;
    buf[0] = '\0';
    long counts[XG_MAX_Z + 1];
    if (count_elements(s, counts))
        return XG_EINVAL;
    int zs[XG_MAX_Z];
    int ne = sorted_elements(counts, zs, cmp_formula_order);
    sbuf sb = {buf, n, 0, 0};
    for (int k = 0; k < ne; k++) {
        if (k)
            sb_add(&sb, " ", 0, 0);
        sb_add(&sb, xg_element_get(zs[k])->symbol, counts[zs[k]], 1);
    }
    return sb.overflow ? XG_EINVAL : XG_OK;
}

/* Writes the element-count pairs of zs[0..ne) with counts divided by factor, a count of 1
 * omitted (pymatgen's formula_double_format with ignore_ones). */
static void add_pairs(sbuf *sb, const int *zs, int ne, const long *counts, long factor)
{
    for (int k = 0; k < ne; k++) {
        long c = counts[zs[k]] / factor;
        sb_add(sb, xg_element_get(zs[k])->symbol, c, c != 1);
    }
}

int xg_structure_reduced_formula(const xg_structure *s, char *buf, size_t n)
{
    if (!buf || n == 0)
        return XG_EINVAL;
    buf[0] = '\0';
    long counts[XG_MAX_Z + 1];
    if (count_elements(s, counts))
        return XG_EINVAL;
    int zs[XG_MAX_Z];
    int ne = sorted_elements(counts, zs, cmp_formula_order);
    if (ne == 0)
        return XG_OK;
    long factor = 0;
    for (int k = 0; k < ne; k++)
        factor = gcd_long(factor, counts[zs[k]]);

    /* pymatgen's reduce_formula: with three or more elements whose last two (by the order above)
     * differ in electronegativity by less than 1.65, those two are written as a group, "(PO3)2",
     * when their own reduced counts still share a factor; MP's pretty_formula ("RbAl(SO4)2",
     * "Ho(CuSi)2") is written this way, and so is the reference set we compare against. */
    char tmp[2048];
    sbuf sb = {tmp, sizeof tmp, 0, 0};
    int nmain = ne;
    long poly_factor = 1;
    int za = 0, zb = 0;
    if (ne >= 3) {
        za = zs[ne - 2];
        zb = zs[ne - 1];
        double d = xg_element_get(zb)->electronegativity - xg_element_get(za)->electronegativity;
        if (d < 1.65) {
            poly_factor = gcd_long(counts[za] / factor, counts[zb] / factor);
            if (poly_factor != 1)
                nmain = ne - 2;
        }
    }
    add_pairs(&sb, zs, nmain, counts, factor);
    if (nmain != ne) {
        sb_add(&sb, "(", 0, 0);
        int pz[2] = {za, zb};
        add_pairs(&sb, pz, 2, counts, factor * poly_factor);
        sb_add(&sb, ")", poly_factor, 1);
    }
    if (sb.overflow)
        return XG_EINVAL;

    /* pymatgen's special formulas: diatomic elements and the alkali peroxides, whose reduced
     * formula would otherwise read "O" or "LiO". */
    static const char *const special[][2] = {
        {"LiO", "Li2O2"}, {"NaO", "Na2O2"}, {"KO", "K2O2"}, {"HO", "H2O2"},
        {"CsO", "Cs2O2"}, {"RbO", "Rb2O2"}, {"O", "O2"},    {"N", "N2"},
        {"F", "F2"},      {"Cl", "Cl2"},    {"H", "H2"},
    };
    const char *result = tmp;
    for (size_t k = 0; k < sizeof special / sizeof special[0]; k++)
        if (strcmp(tmp, special[k][0]) == 0)
            result = special[k][1];
    size_t len = strlen(result);
    if (len >= n)
        return XG_EINVAL;
    memcpy(buf, result, len + 1);
    return XG_OK;
}

int xg_structure_chemsys(const xg_structure *s, char *buf, size_t n)
{
    if (!buf || n == 0)
        return XG_EINVAL;
    buf[0] = '\0';
    long counts[XG_MAX_Z + 1];
    if (count_elements(s, counts))
        return XG_EINVAL;
    int zs[XG_MAX_Z];
    int ne = sorted_elements(counts, zs, cmp_symbol);
    sbuf sb = {buf, n, 0, 0};
    for (int k = 0; k < ne; k++) {
        if (k)
            sb_add(&sb, "-", 0, 0);
        sb_add(&sb, xg_element_get(zs[k])->symbol, 0, 0);
    }
    return sb.overflow ? XG_EINVAL : XG_OK;
}

int xg_structure_species_order(const xg_structure *s, int *zs, int cap)
{
    long counts[XG_MAX_Z + 1];
    if (count_elements(s, counts))
        return -1;
    int all[XG_MAX_Z];
    int ne = sorted_elements(counts, all, cmp_formula_order);
    for (int k = 0; k < ne && k < cap; k++)
        zs[k] = all[k];
    return ne;
}

int xg_structure_group_species(xg_structure *s, xg_error *err)
{
    int zs[XG_MAX_Z];
    int ne = xg_structure_species_order(s, zs, XG_MAX_Z);
    if (ne < 0)
        return xg_error_set(err, XG_EINVAL, "%s: atomic number outside 1..%d", s ? s->id : "?",
                            XG_MAX_Z);
    if (ne <= 1)
        return XG_OK;
    int *t = malloc((size_t)s->natoms * sizeof *t);
    double(*f)[3] = malloc((size_t)s->natoms * sizeof *f);
    if (!t || !f) {
        free(t);
        free(f);
        return xg_error_set(err, XG_ENOMEM, "%s: out of memory", s->id);
    }
    /* One pass per element keeps each element's atoms in their order: a stable sort. */
    int m = 0;
    for (int k = 0; k < ne; k++)
        for (int i = 0; i < s->natoms; i++)
            if (s->types[i] == zs[k]) {
                t[m] = s->types[i];
                memcpy(f[m], s->frac[i], sizeof f[m]);
                m++;
            }
    memcpy(s->types, t, (size_t)m * sizeof *t);
    memcpy(s->frac, f, (size_t)m * sizeof *f);
    free(t);
    free(f);
    return XG_OK;
}

/* x mod 1 in [0, 1), with -0 and the rounding of tiny negatives to 1.0 mapped to 0. */
static double wrap_unit(double x)
{
    double w = x - floor(x);
    return (w >= 1.0 || w == 0.0) ? 0.0 : w;
}

int xg_structure_orient(xg_structure *s, xg_error *err)
{
    if (!s)
        return xg_error_set(err, XG_EINVAL, "xg_structure_orient: no structure");
    double L[3][3];
    int neg = 0;
    int rc = xg_lattice_standard_orientation((const double(*)[3])s->lattice, L, &neg, err);
    if (rc) {
        xg_error_prefix(err, rc, "%s", s->id[0] ? s->id : "structure");
        return rc;
    }
    memcpy(s->lattice, L, sizeof L);
    for (int i = 0; i < s->natoms; i++)
        for (int k = 0; k < 3; k++)
            s->frac[i][k] = wrap_unit(neg ? -s->frac[i][k] : s->frac[i][k]);
    return XG_OK;
}

int xg_structure_make_standard(xg_structure *s, xg_error *err)
{
    int rc = xg_structure_orient(s, err);
    return rc ? rc : xg_structure_group_species(s, err);
}

int xg_structure_nelements(const xg_structure *s)
{
    long counts[XG_MAX_Z + 1];
    if (count_elements(s, counts))
        return 0;
    int n = 0;
    for (int z = 1; z <= XG_MAX_Z; z++)
        n += counts[z] > 0;
    return n;
}

/* ---- geometry ---- */

double xg_structure_volume(const xg_structure *s)
{
    return s ? xg_lattice_volume((const double(*)[3])s->lattice) : NAN;
}

double xg_structure_density(const xg_structure *s)
{
    if (!s)
        return NAN;
    double v = xg_structure_volume(s);
    if (!(v > 0))
        return NAN;
    double mass = 0.0;
    for (int i = 0; i < s->natoms; i++) {
        const xg_element *e = xg_element_get(s->types[i]);
        if (!e)
            return NAN;
        mass += e->mass;
    }
    return mass / v * XG_AMU_PER_A3_TO_G_PER_CM3;
}

/* Shortest |d + k| L over integer k with |(d + k) L| < *best, for a fractional difference d
 * already wrapped into [-0.5, 0.5). Any image closer than *best has |d_i + k_i| <= *best / w_i
 * (a fractional component is the dot product with a reciprocal vector of length 1 / w_i), so
 * this search is exact for any cell shape; on a reduced cell the ranges are tiny.
 * skip_zero excludes k = 0 (an atom and its own image). */
static void search_images(const double L[3][3], const double w[3], const double d[3],
                          int skip_zero, double *best)
{
    int lo[3], hi[3];
    for (int i = 0; i < 3; i++) {
        double r = *best / w[i];
        lo[i] = (int)ceil(-r - d[i]);
        hi[i] = (int)floor(r - d[i]);
    }
    double best2 = *best * *best;
    for (int k0 = lo[0]; k0 <= hi[0]; k0++)
        for (int k1 = lo[1]; k1 <= hi[1]; k1++)
            for (int k2 = lo[2]; k2 <= hi[2]; k2++) {
                if (skip_zero && k0 == 0 && k1 == 0 && k2 == 0)
                    continue;
                double f[3] = {d[0] + k0, d[1] + k1, d[2] + k2};
                double r2 = 0.0;
                for (int j = 0; j < 3; j++) {
                    double c = f[0] * L[0][j] + f[1] * L[1][j] + f[2] * L[2][j];
                    r2 += c * c;
                }
                if (r2 < best2)
                    best2 = r2;
            }
    *best = sqrt(best2);
}

double xg_structure_min_distance(const xg_structure *s)
{
    if (!s || s->natoms <= 0)
        return s ? INFINITY : NAN;
    /* Work in an LLL-reduced basis: the same lattice with short, nearly orthogonal vectors, so
     * the image ranges below stay at one or two cells even for a badly skewed input cell. */
    double R[3][3];
    int T[3][3];
    if (xg_lattice_lll((const double(*)[3])s->lattice, 0.75, R, T, NULL))
        return 0.0; /* singular (or non-finite) lattice: atoms coincide with their images */
    double inv[3][3];
    if (xg_lattice_inverse((const double(*)[3])R, inv, NULL))
        return 0.0;
    double w[3];
    xg_lattice_widths((const double(*)[3])R, w);

    int n = s->natoms;
    double(*f)[3] = xg_malloc((size_t)n * sizeof *f);
    if (!f)
        return NAN;
    /* Fractional coordinates in the reduced basis: cart = x L = x' R, so x' = cart R^-1. */
    for (int i = 0; i < n; i++) {
        double c[3];
        for (int j = 0; j < 3; j++)
            c[j] = s->frac[i][0] * s->lattice[0][j] + s->frac[i][1] * s->lattice[1][j] +
                   s->frac[i][2] * s->lattice[2][j];
        for (int j = 0; j < 3; j++) {
            f[i][j] = c[0] * inv[0][j] + c[1] * inv[1][j] + c[2] * inv[2][j];
            if (!isfinite(f[i][j])) {
                free(f);
                return NAN;
            }
        }
    }
    /* Upper bound: the shortest reduced basis vector (an atom to its own image). */
    double best = INFINITY;
    for (int i = 0; i < 3; i++) {
        double l = sqrt(R[i][0] * R[i][0] + R[i][1] * R[i][1] + R[i][2] * R[i][2]);
        if (l < best)
            best = l;
    }
    /* An atom and its own images: the shortest lattice vector, found exactly. */
    double zero[3] = {0, 0, 0};
    search_images((const double(*)[3])R, w, zero, 1, &best);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            double d[3];
            for (int k = 0; k < 3; k++) {
                d[k] = f[j][k] - f[i][k];
                d[k] -= floor(d[k] + 0.5);
            }
            search_images((const double(*)[3])R, w, d, 0, &best);
        }
    free(f);
    return best;
}

void xg_structure_wrap(xg_structure *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->natoms; i++)
        for (int k = 0; k < 3; k++) {
            double x = s->frac[i][k] - floor(s->frac[i][k]);
            /* -1e-17 - floor(-1e-17) rounds to exactly 1.0, which is outside [0, 1). */
            if (x >= 1.0)
                x = 0.0;
            s->frac[i][k] = x;
        }
}

void xg_structure_frac_to_cart(const xg_structure *s, int i, double cart[3])
{
    if (!s || i < 0 || i >= s->natoms) {
        cart[0] = cart[1] = cart[2] = NAN;
        return;
    }
    for (int j = 0; j < 3; j++)
        cart[j] = s->frac[i][0] * s->lattice[0][j] + s->frac[i][1] * s->lattice[1][j] +
                  s->frac[i][2] * s->lattice[2][j];
}

int xg_structure_occu_alloc(xg_structure *s, xg_error *err)
{
    if (!s)
        return xg_error_set(err, XG_EINVAL, "structure occupancy: no structure");
    if (s->occu)
        return XG_OK;
    size_t n = s->natoms > 0 ? (size_t)s->natoms : 1;
    s->occu = malloc(n * sizeof *s->occu);
    if (!s->occu)
        return xg_error_set(err, XG_ENOMEM, "structure occupancy: out of memory");
    for (size_t i = 0; i < n; i++)
        s->occu[i] = 1.0;
    return XG_OK;
}

int xg_structure_is_ordered(const xg_structure *s)
{
    if (!s || !s->occu)
        return 1;
    for (int i = 0; i < s->natoms; i++)
        if (fabs(s->occu[i] - 1.0) > 1e-9)
            return 0;
    return 1;
}

int xg_structure_check_ordered(const xg_structure *s, const char *what, xg_error *err)
{
    if (!s || !s->occu)
        return XG_OK;
    for (int i = 0; i < s->natoms; i++)
        if (fabs(s->occu[i] - 1.0) > 1e-9) {
            const xg_element *e = xg_element_get(s->types[i]);
            return xg_error_set(err, XG_EUNSUPPORTED,
                                "'%s' is disordered: site %d (%s) has occupancy %g; %s needs an "
                                "ordered crystal",
                                s->id, i + 1, e ? e->symbol : "?", s->occu[i],
                                what ? what : "this command");
        }
    return XG_OK;
}

int xg_structure_mix(const xg_structure *s, const int *zs, int nz, xg_structure **out,
                     xg_error *err)
{
    if (!s || !zs || !out || nz < 2 || nz > 16)
        return xg_error_set(err, XG_EINVAL, "structure mix: need a structure and 2..16 elements");
    *out = NULL;
    double w[16] = {0}, total = 0;
    int nsite = 0;
    for (int i = 0; i < s->natoms; i++)
        for (int k = 0; k < nz; k++)
            if (s->types[i] == zs[k]) {
                double o = s->occu ? s->occu[i] : 1.0;
                w[k] += o;
                total += o;
                nsite++;
            }
    int present = 0;
    for (int k = 0; k < nz; k++)
        present += w[k] > 0;
    if (present < 2)
        return xg_error_set(err, XG_EINVAL,
                            "'%s' holds %d of the %d elements to mix; mixing needs at least two",
                            s->id, present, nz);
    int n = s->natoms + nsite * (present - 1);
    xg_structure *m = xg_structure_alloc(n);
    if (!m || xg_structure_occu_alloc(m, err)) {
        xg_structure_free(m);
        return xg_error_set(err, XG_ENOMEM, "structure mix: out of memory");
    }
    memcpy(m->lattice, s->lattice, sizeof m->lattice);
    memcpy(m->id, s->id, sizeof m->id);
    int j = 0;
    for (int i = 0; i < s->natoms; i++) {
        double o = s->occu ? s->occu[i] : 1.0;
        int mixed = 0;
        for (int k = 0; k < nz; k++)
            mixed |= s->types[i] == zs[k];
        if (!mixed) {
            m->types[j] = s->types[i];
            memcpy(m->frac[j], s->frac[i], sizeof m->frac[j]);
            m->occu[j++] = o;
            continue;
        }
        for (int k = 0; k < nz; k++) {
            if (!(w[k] > 0))
                continue;
            m->types[j] = zs[k];
            memcpy(m->frac[j], s->frac[i], sizeof m->frac[j]);
            m->occu[j++] = o * w[k] / total;
        }
    }
    *out = m;
    return XG_OK;
}
