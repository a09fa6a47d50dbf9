/* xg_template.c: space-group templates (see xg_template.h). */
#include "diffusion/xg_template.h"

#include <errno.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crystal/xg_elements.h"
#include "crystal/xg_symmetry.h"
#include "crystal/xg_h5util.h"

#define FORMAT "xtalgen-templates"

/* ------------------------------------------------------------------ small math ---- */

static double wrap01(double x)
{
    double y = x - floor(x);
    return y >= 1.0 ? 0.0 : y;
}

/* Into [-1/2, 1/2). */
static double wrap_half(double d)
{
    return d - floor(d + 0.5);
}

static void apply_op(const int W[3][3], const double w[3], const double x[3], double y[3])
{
    for (int i = 0; i < 3; i++)
        y[i] = W[i][0] * x[0] + W[i][1] * x[1] + W[i][2] * x[2] + w[i];
}

/* Inverse of an integer matrix of determinant +-1 (a crystallographic rotation). */
static int inverse_rot(const int W[3][3], int V[3][3])
{
    int det = W[0][0] * (W[1][1] * W[2][2] - W[1][2] * W[2][1]) -
              W[0][1] * (W[1][0] * W[2][2] - W[1][2] * W[2][0]) +
              W[0][2] * (W[1][0] * W[2][1] - W[1][1] * W[2][0]);
    if (det != 1 && det != -1)
        return -1;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            /* cofactor of W[j][i] */
            int r0 = (j + 1) % 3, r1 = (j + 2) % 3, c0 = (i + 1) % 3, c1 = (i + 2) % 3;
            V[i][j] = (W[r0][c0] * W[r1][c1] - W[r0][c1] * W[r1][c0]) * det;
        }
    return 0;
}

/* Cartesian length of a fractional difference (rows of L are the vectors). */
static double cart_len(const double d[3], const double L[3][3])
{
    double c[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            c[j] += d[i] * L[i][j];
    return sqrt(c[0] * c[0] + c[1] * c[1] + c[2] * c[2]);
}

/* ------------------------------------------------------------------ alloc/free ---- */

/* Frees the arrays of a template, not the struct (tables hold their templates by value). */
static void tpl_release(xg_template *t)
{
    free(t->rot);
    free(t->trans);
    free(t->orbit_start);
    free(t->atom_op);
    free(t->rep);
    free(t->wyckoff);
    free(t->site_symbol);
    free(t->site_start);
    free(t->site_ops);
    free(t->inv_rot);
    free(t->proj);
}

void xg_template_free(xg_template *t)
{
    if (!t)
        return;
    tpl_release(t);
    free(t);
}

/* Allocates the arrays of a template of this shape (site_ops for nsite entries). */
static xg_template *tpl_alloc(int nops, int natoms, int norbits, int nsite)
{
    xg_template *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->nops = nops;
    t->natoms = natoms;
    t->norbits = norbits;
    t->rot = malloc(sizeof *t->rot * (size_t)nops);
    t->trans = malloc(sizeof *t->trans * (size_t)nops);
    t->inv_rot = malloc(sizeof *t->inv_rot * (size_t)nops);
    t->orbit_start = malloc(sizeof(int) * (size_t)(norbits + 1));
    t->atom_op = malloc(sizeof(int) * (size_t)natoms);
    t->rep = malloc(sizeof *t->rep * (size_t)norbits);
    t->wyckoff = calloc((size_t)norbits + 1, 1);
    t->site_symbol = calloc((size_t)norbits, sizeof *t->site_symbol);
    t->site_start = malloc(sizeof(int) * (size_t)(norbits + 1));
    t->site_ops = malloc(sizeof(int) * (size_t)(nsite > 0 ? nsite : 1));
    t->proj = malloc(sizeof *t->proj * (size_t)norbits);
    if (!t->rot || !t->trans || !t->inv_rot || !t->orbit_start || !t->atom_op || !t->rep ||
        !t->wyckoff || !t->site_symbol || !t->site_start || !t->site_ops || !t->proj) {
        xg_template_free(t);
        return NULL;
    }
    return t;
}

/* Fills the derived arrays (inverse rotations, site projectors); XG_ENUMERIC when a rotation
 * is not invertible over the integers. */
static int tpl_derive(xg_template *t, xg_error *err)
{
    for (int k = 0; k < t->nops; k++)
        if (inverse_rot((const int(*)[3])t->rot[k], t->inv_rot[k]))
            return xg_error_set(err, XG_ENUMERIC, "template: operation %d is not a rotation "
                                "(determinant not +-1)", k);
    for (int o = 0; o < t->norbits; o++) {
        double *P = t->proj[o];
        memset(P, 0, sizeof(double) * 9);
        int n = t->site_start[o + 1] - t->site_start[o];
        for (int s = t->site_start[o]; s < t->site_start[o + 1]; s++) {
            int k = t->site_ops[s];
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                    P[3 * i + j] += t->rot[k][i][j] / (double)n;
        }
    }
    return XG_OK;
}

/* ------------------------------------------------------------------ projections ---- */

/* The point of x_rep0 + V + Z^3 nearest to p (orbit o), wrapped into [0, 1). */
static void site_project(const xg_template *t, int o, const double p[3], double q[3])
{
    const double *P = t->proj[o], *r0 = t->rep[o];
    double delta[3], base[3];
    for (int i = 0; i < 3; i++) {
        delta[i] = p[i] - r0[i];
        base[i] = floor(delta[i] + 0.5);
    }
    /* Which lattice vector to subtract matters when V is oblique to the axes (x, x, x): the
     * one that leaves delta closest to V. With V = everything every choice ties and the first
     * (base itself) is kept; with V = {0} the answer is x_rep0 whatever the choice. */
    double best = INFINITY, bestd[3] = {0, 0, 0};
    static const int off[3] = {0, -1, 1};
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            for (int c = 0; c < 3; c++) {
                double d[3] = {delta[0] - base[0] - off[a], delta[1] - base[1] - off[b],
                               delta[2] - base[2] - off[c]};
                double r2 = 0;
                for (int i = 0; i < 3; i++) {
                    double pd = P[3 * i] * d[0] + P[3 * i + 1] * d[1] + P[3 * i + 2] * d[2];
                    r2 += (d[i] - pd) * (d[i] - pd);
                }
                if (r2 < best - 1e-14) {
                    best = r2;
                    memcpy(bestd, d, sizeof d);
                }
            }
    for (int i = 0; i < 3; i++)
        q[i] = wrap01(r0[i] + P[3 * i] * bestd[0] + P[3 * i + 1] * bestd[1] +
                      P[3 * i + 2] * bestd[2]);
}

void xg_template_project_frac(const xg_template *t, double *x)
{
    for (int o = 0; o < t->norbits; o++) {
        int a0 = t->orbit_start[o], a1 = t->orbit_start[o + 1];
        const double *xr = x + 3 * a0;
        double d[3] = {0, 0, 0};
        /* Every atom's image mapped back onto the representative, averaged on the torus
         * around the representative's current place. */
        for (int a = a0; a < a1; a++) {
            int g = t->atom_op[a];
            double u[3], y[3];
            for (int i = 0; i < 3; i++)
                u[i] = x[3 * a + i] - t->trans[g][i];
            apply_op((const int(*)[3])t->inv_rot[g], (double[3]){0, 0, 0}, u, y);
            for (int i = 0; i < 3; i++)
                d[i] += wrap_half(y[i] - xr[i]);
        }
        double p[3], q[3];
        for (int i = 0; i < 3; i++)
            p[i] = xr[i] + d[i] / (a1 - a0);
        site_project(t, o, p, q);
        for (int a = a0; a < a1; a++) {
            int g = t->atom_op[a];
            double y[3];
            apply_op((const int(*)[3])t->rot[g], t->trans[g], q, y);
            for (int i = 0; i < 3; i++)
                x[3 * a + i] = wrap01(y[i]);
        }
    }
}

int xg_template_project_lattice(const xg_template *t, double L[9], xg_error *err)
{
    double G[9], A[9] = {0}, w[3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            G[3 * i + j] = L[3 * i] * L[3 * j] + L[3 * i + 1] * L[3 * j + 1] +
                           L[3 * i + 2] * L[3 * j + 2];
    for (int k = 0; k < 9; k++)
        if (!isfinite(G[k]))
            return xg_error_set(err, XG_ENUMERIC, "template lattice projection: non-finite lattice");
    /* mean over the operations of W^T G W: the metric every rotation preserves. */
    for (int k = 0; k < t->nops; k++) {
        const int(*W)[3] = (const int(*)[3])t->rot[k];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                double acc = 0;
                for (int p = 0; p < 3; p++)
                    for (int q = 0; q < 3; q++)
                        acc += W[p][i] * G[3 * p + q] * W[q][j];
                A[3 * i + j] += acc / t->nops;
            }
    }
    lapack_int info = LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', 3, A, 3, w);
    if (info != 0)
        return xg_error_set(err, XG_ENUMERIC, "template lattice projection: LAPACKE_dsyev failed "
                            "(info %d)", (int)info);
    double r[3];
    for (int k = 0; k < 3; k++)
        r[k] = sqrt(fmax(w[k], 0.0));
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double acc = 0;
            for (int k = 0; k < 3; k++)
                acc += A[3 * i + k] * r[k] * A[3 * j + k];
            L[3 * i + j] = acc;
        }
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            L[3 * i + j] = L[3 * j + i] = 0.5 * (L[3 * i + j] + L[3 * j + i]);
    return XG_OK;
}

double xg_template_asymmetry(const xg_template *t, const double *x)
{
    double worst = 0;
    for (int o = 0; o < t->norbits; o++) {
        int a0 = t->orbit_start[o];
        const double *xr = x + 3 * a0;
        for (int a = a0; a < t->orbit_start[o + 1]; a++) {
            double y[3];
            int g = t->atom_op[a];
            apply_op((const int(*)[3])t->rot[g], t->trans[g], xr, y);
            for (int i = 0; i < 3; i++)
                worst = fmax(worst, fabs(wrap_half(y[i] - x[3 * a + i])));
        }
        for (int s = t->site_start[o]; s < t->site_start[o + 1]; s++) {
            double y[3];
            int g = t->site_ops[s];
            apply_op((const int(*)[3])t->rot[g], t->trans[g], xr, y);
            for (int i = 0; i < 3; i++)
                worst = fmax(worst, fabs(wrap_half(y[i] - xr[i])));
        }
    }
    return worst;
}

int xg_template_expand(const xg_template *t, const int *orbit_types, const double (*reps)[3],
                       const double lattice[3][3], xg_structure **out, xg_error *err)
{
    *out = NULL;
    xg_structure *s = xg_structure_alloc(t->natoms);
    if (!s)
        return xg_error_set(err, XG_ENOMEM, "template expand: out of memory");
    double L[9];
    memcpy(L, lattice, sizeof L);
    int rc = xg_template_project_lattice(t, L, err);
    if (rc) {
        xg_structure_free(s);
        return rc;
    }
    memcpy(s->lattice, L, sizeof L);
    for (int o = 0; o < t->norbits; o++) {
        double q[3];
        site_project(t, o, reps ? reps[o] : t->rep[o], q);
        for (int a = t->orbit_start[o]; a < t->orbit_start[o + 1]; a++) {
            double y[3];
            int g = t->atom_op[a];
            apply_op((const int(*)[3])t->rot[g], t->trans[g], q, y);
            for (int i = 0; i < 3; i++)
                s->frac[a][i] = wrap01(y[i]);
            s->types[a] = orbit_types[o];
        }
    }
    *out = s;
    return XG_OK;
}

/* ------------------------------------------------------------ from a crystal ---- */

int xg_template_from_structure(const xg_structure *s, double symprec, xg_template **out,
                               int *order, double *max_shift, xg_error *err)
{
    *out = NULL;
    xg_symmetry *sym = NULL;
    int rc = xg_symmetry_analyze(s, symprec, &sym, err);
    if (rc)
        return rc;
    int n = s->natoms, nops = sym->n_operations;
    const char *id = s->id[0] ? s->id : "structure";
    int *ord = malloc(sizeof(int) * (size_t)n), *seen = calloc((size_t)n, sizeof(int));
    int *hit = malloc(sizeof(int) * (size_t)(nops > 0 ? nops : 1));
    double *hitd = malloc(sizeof(double) * (size_t)(nops > 0 ? nops : 1));
    double (*x)[3] = malloc(sizeof *x * (size_t)n);
    xg_template *t = NULL;
    if (!ord || !seen || !hit || !hitd || !x) {
        rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", id);
        goto out;
    }
    for (int a = 0; a < n; a++)
        for (int i = 0; i < 3; i++)
            x[a][i] = wrap01(s->frac[a][i]);
    /* Orbits in order of first appearance, each with its lowest-index atom first. */
    int norbits = 0, k = 0;
    int *ostart = malloc(sizeof(int) * (size_t)(n + 1));
    if (!ostart) {
        rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", id);
        goto out;
    }
    for (int a = 0; a < n; a++) {
        if (seen[a])
            continue;
        ostart[norbits++] = k;
        for (int b = a; b < n; b++)
            if (!seen[b] && sym->equivalent_atoms[b] == sym->equivalent_atoms[a]) {
                seen[b] = 1;
                ord[k++] = b;
            }
    }
    ostart[norbits] = n;
    t = tpl_alloc(nops, n, norbits, nops * norbits);
    if (!t) {
        free(ostart);
        rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", id);
        goto out;
    }
    memcpy(t->orbit_start, ostart, sizeof(int) * (size_t)(norbits + 1));
    free(ostart);
    t->spacegroup = sym->spacegroup_number;
    t->frequency = 1;
    snprintf(t->example, sizeof t->example, "%s", s->id);
    int ident = -1;
    for (int g = 0; g < nops; g++) {
        memcpy(t->rot[g], sym->rotations[g], sizeof t->rot[g]);
        int isid = 1;
        for (int i = 0; i < 3; i++) {
            t->trans[g][i] = wrap01(sym->translations[g][i]);
            if (fabs(t->trans[g][i]) > 1e-9 && fabs(t->trans[g][i] - 1) > 1e-9)
                isid = 0;
            for (int j = 0; j < 3; j++)
                isid &= t->rot[g][i][j] == (i == j);
        }
        if (isid && ident < 0) {
            ident = g;
            t->trans[g][0] = t->trans[g][1] = t->trans[g][2] = 0;
        }
    }
    if (ident < 0) {
        rc = xg_error_set(err, XG_ENUMERIC, "%s: spglib's operations lack the identity", id);
        goto out;
    }
    memset(t->site_start, 0, sizeof(int) * (size_t)(norbits + 1));
    rc = tpl_derive(t, err); /* inverse rotations now; the projectors once site_ops exist */
    if (rc)
        goto out;
    int ns = 0;
    for (int o = 0; o < norbits; o++) {
        int a0 = t->orbit_start[o], a1 = t->orbit_start[o + 1], m = a1 - a0;
        int r = ord[a0];
        t->wyckoff[o] = sym->wyckoffs[r];
        snprintf(t->site_symbol[o], sizeof t->site_symbol[o], "%s", sym->site_symmetry[r]);
        /* Where each operation takes the representative: the nearest atom of the orbit. */
        for (int g = 0; g < nops; g++) {
            double y[3];
            apply_op((const int(*)[3])t->rot[g], t->trans[g], x[r], y);
            hit[g] = -1;
            hitd[g] = INFINITY;
            for (int a = a0; a < a1; a++) {
                double d[3];
                for (int i = 0; i < 3; i++)
                    d[i] = wrap_half(y[i] - x[ord[a]][i]);
                double len = cart_len(d, s->lattice);
                if (len < hitd[g]) {
                    hitd[g] = len;
                    hit[g] = a;
                }
            }
        }
        if (nops % m != 0 || hit[ident] != a0) {
            rc = xg_error_set(err, XG_ENUMERIC, "%s: orbit of atom %d has %d atoms, which does "
                              "not divide the %d operations", id, r, m, nops);
            goto out;
        }
        t->site_start[o] = ns;
        for (int a = a0; a < a1; a++) {
            int cnt = 0, best = -1;
            for (int g = 0; g < nops; g++)
                if (hit[g] == a) {
                    cnt++;
                    if (a == a0)
                        t->site_ops[ns++] = g;
                    if (best < 0 || hitd[g] < hitd[best])
                        best = g;
                }
            if (cnt != nops / m) {
                rc = xg_error_set(err, XG_ENUMERIC, "%s: the operations map atom %d onto atom %d "
                                  "%d times, expected %d", id, r, ord[a], cnt, nops / m);
                goto out;
            }
            t->atom_op[a] = a == a0 ? ident : best;
        }
    }
    t->site_start[norbits] = ns;
    rc = tpl_derive(t, err);
    if (rc)
        goto out;
    /* Exactly symmetric representatives: the orbit average, then the average over the site
     * operations lifted to fix a point near it (each s(x) - x wrapped). The lifts form a group
     * when x is within the tolerance of the fixed set, so the average is a fixed point. */
    for (int o = 0; o < norbits; o++) {
        int a0 = t->orbit_start[o], a1 = t->orbit_start[o + 1];
        double p[3], d[3] = {0, 0, 0};
        memcpy(p, x[ord[a0]], sizeof p);
        for (int a = a0; a < a1; a++) {
            int g = t->atom_op[a];
            double u[3], y[3];
            for (int i = 0; i < 3; i++)
                u[i] = x[ord[a]][i] - t->trans[g][i];
            apply_op((const int(*)[3])t->inv_rot[g], (double[3]){0, 0, 0}, u, y);
            for (int i = 0; i < 3; i++)
                d[i] += wrap_half(y[i] - p[i]);
        }
        for (int i = 0; i < 3; i++)
            p[i] += d[i] / (a1 - a0);
        double e[3] = {0, 0, 0};
        int nsite = t->site_start[o + 1] - t->site_start[o];
        for (int q = t->site_start[o]; q < t->site_start[o + 1]; q++) {
            int g = t->site_ops[q];
            double y[3];
            apply_op((const int(*)[3])t->rot[g], t->trans[g], p, y);
            for (int i = 0; i < 3; i++)
                e[i] += wrap_half(y[i] - p[i]);
        }
        for (int i = 0; i < 3; i++)
            t->rep[o][i] = wrap01(p[i] + e[i] / nsite);
    }
    /* The representatives fix the Wyckoff branches; check the result is exactly symmetric. */
    double *sx = malloc(sizeof(double) * 3 * (size_t)n);
    if (!sx) {
        rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", id);
        goto out;
    }
    double shift = 0;
    for (int o = 0; o < norbits; o++)
        for (int a = t->orbit_start[o]; a < t->orbit_start[o + 1]; a++) {
            int g = t->atom_op[a];
            double y[3], d[3];
            apply_op((const int(*)[3])t->rot[g], t->trans[g], t->rep[o], y);
            for (int i = 0; i < 3; i++) {
                sx[3 * a + i] = wrap01(y[i]);
                d[i] = wrap_half(sx[3 * a + i] - x[ord[a]][i]);
            }
            shift = fmax(shift, cart_len(d, s->lattice));
        }
    double asym = xg_template_asymmetry(t, sx);
    free(sx);
    if (!(asym < 1e-8)) {
        rc = xg_error_set(err, XG_ENUMERIC, "%s: the symmetrized representatives are not "
                          "exactly symmetric (%g)", id, asym);
        goto out;
    }
    if (order)
        memcpy(order, ord, sizeof(int) * (size_t)n);
    if (max_shift)
        *max_shift = shift;
    *out = t;
    t = NULL;
out:
    xg_template_free(t);
    xg_symmetry_free(sym);
    free(ord);
    free(seen);
    free(hit);
    free(hitd);
    free(x);
    return rc;
}

/* ------------------------------------------------------------------ tables ---- */

void xg_template_table_free(xg_template_table *tab)
{
    if (!tab)
        return;
    for (int i = 0; i < tab->n; i++)
        tpl_release(&tab->t[i]);
    free(tab->t);
    free(tab->member_template);
    free(tab->member_start);
    free(tab->member_z);
    free(tab);
}

/* The key that makes templates distinct: group, N and the sorted orbit descriptors. */
static int orbit_desc_cmp(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static char *template_key(const xg_template *t)
{
    size_t per = 24;
    char (*d)[24] = malloc(per * (size_t)t->norbits);
    char *key = malloc(32 + per * (size_t)t->norbits);
    if (!d || !key) {
        free(d);
        free(key);
        return NULL;
    }
    for (int o = 0; o < t->norbits; o++)
        snprintf(d[o], per, "%d%c:%s", t->orbit_start[o + 1] - t->orbit_start[o], t->wyckoff[o],
                 t->site_symbol[o]);
    qsort(d, (size_t)t->norbits, per, orbit_desc_cmp);
    int len = snprintf(key, 32, "%d|%d|", t->spacegroup, t->natoms);
    for (int o = 0; o < t->norbits; o++)
        len += sprintf(key + len, "%s,", d[o]);
    free(d);
    return key;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The elements of crystal t's orbits (oz, in t's orbit order) given on the orbits of T, a
 * template with the same key (out, in T's orbit order): orbits are paired by their descriptor
 * (size, Wyckoff letter, site symmetry), equal descriptors in order. */
static int map_orbit_z(const xg_template *T, const xg_template *t, const int *oz, int32_t *out)
{
    unsigned char *used = calloc((size_t)t->norbits, 1);
    if (!used)
        return XG_ENOMEM;
    for (int o = 0; o < T->norbits; o++) {
        int size = T->orbit_start[o + 1] - T->orbit_start[o];
        out[o] = 0;
        for (int q = 0; q < t->norbits; q++) {
            if (used[q] || t->orbit_start[q + 1] - t->orbit_start[q] != size ||
                t->wyckoff[q] != T->wyckoff[o] || strcmp(t->site_symbol[q], T->site_symbol[o]))
                continue;
            used[q] = 1;
            out[o] = oz[q];
            break;
        }
    }
    free(used);
    return XG_OK;
}

/* Appends member (template ti, orbit elements z) to the table; caps are the arrays' capacities. */
static int add_member(xg_template_table *tab, int ti, const int32_t *z, int nz, int64_t *cap_m,
                      int64_t *cap_z)
{
    int64_t used_z = tab->nmembers ? tab->member_start[tab->nmembers] : 0;
    if (tab->nmembers + 1 >= *cap_m) {
        int64_t nc = *cap_m ? 2 * *cap_m : 1024;
        int32_t *mt = realloc(tab->member_template, sizeof *mt * (size_t)nc);
        if (mt)
            tab->member_template = mt;
        int64_t *ms = mt ? realloc(tab->member_start, sizeof *ms * (size_t)(nc + 1)) : NULL;
        if (ms)
            tab->member_start = ms;
        if (!mt || !ms)
            return XG_ENOMEM;
        *cap_m = nc;
    }
    if (used_z + nz > *cap_z) {
        int64_t nc = *cap_z ? 2 * *cap_z : 4096;
        while (nc < used_z + nz)
            nc *= 2;
        int32_t *mz = realloc(tab->member_z, sizeof *mz * (size_t)nc);
        if (!mz)
            return XG_ENOMEM;
        tab->member_z = mz;
        *cap_z = nc;
    }
    if (tab->nmembers == 0)
        tab->member_start[0] = 0;
    memcpy(tab->member_z + used_z, z, sizeof *z * (size_t)nz);
    tab->member_template[tab->nmembers] = ti;
    tab->member_start[++tab->nmembers] = used_z + nz;
    return XG_OK;
}

int xg_template_table_build(const xg_dataset *ds, double symprec, const char *source,
                            void (*progress)(void *ctx, long done, long total), void *ctx,
                            xg_template_table **out, xg_error *err)
{
    *out = NULL;
    if (!(symprec > 0))
        return xg_error_set(err, XG_EINVAL, "templates: symprec must be positive");
    xg_template_table *tab = calloc(1, sizeof *tab);
    size_t cap = 1;
    while (cap < (size_t)(2 * ds->n + 16))
        cap <<= 1;
    int *slot = malloc(sizeof(int) * cap);
    char **keys = NULL;
    int ncap = 0;
    int64_t cap_m = 0, cap_z = 0;
    if (!tab || !slot) {
        free(tab);
        free(slot);
        return xg_error_set(err, XG_ENOMEM, "templates: out of memory");
    }
    for (size_t i = 0; i < cap; i++)
        slot[i] = -1;
    tab->symprec = symprec;
    snprintf(tab->source, sizeof tab->source, "%s", source ? source : "");
    int rc = XG_OK;
    for (int64_t i = 0; i < ds->n && rc == XG_OK; i++) {
        if (progress && (i % 256 == 0))
            progress(ctx, (long)i, (long)ds->n);
        xg_structure *s = xg_dataset_get(ds, i, err);
        if (!s) {
            rc = err ? err->code : XG_ENOMEM;
            break;
        }
        tab->ncrystals++;
        xg_template *t = NULL;
        xg_error e2 = {0};
        int *order = malloc(sizeof(int) * (size_t)s->natoms);
        int *oz = malloc(sizeof(int) * (size_t)s->natoms);
        int32_t *mz = malloc(sizeof(int32_t) * (size_t)s->natoms);
        int r2 = order && oz && mz ? xg_template_from_structure(s, symprec, &t, order, NULL, &e2)
                                   : XG_ENOMEM;
        if (r2 == XG_OK)
            for (int o = 0; o < t->norbits; o++)
                oz[o] = s->types[order[t->orbit_start[o]]];
        xg_structure_free(s);
        free(order);
        if (r2 == XG_ENOMEM) {
            free(oz);
            free(mz);
            rc = xg_error_set(err, XG_ENOMEM, "templates: %s", e2.msg);
            break;
        }
        if (r2) {
            free(oz);
            free(mz);
            tab->nskipped++;
            continue;
        }
        char *key = template_key(t);
        if (!key) {
            free(oz);
            free(mz);
            xg_template_free(t);
            rc = xg_error_set(err, XG_ENOMEM, "templates: out of memory");
            break;
        }
        size_t h = (size_t)(fnv1a(key) & (cap - 1));
        while (slot[h] >= 0 && strcmp(keys[slot[h]], key) != 0)
            h = (h + 1) & (cap - 1);
        if (slot[h] >= 0) {
            const xg_template *T = &tab->t[slot[h]];
            tab->t[slot[h]].frequency++;
            int r3 = map_orbit_z(T, t, oz, mz);
            r3 = r3 ? r3 : add_member(tab, slot[h], mz, T->norbits, &cap_m, &cap_z);
            free(key);
            free(oz);
            free(mz);
            xg_template_free(t);
            if (r3) {
                rc = xg_error_set(err, XG_ENOMEM, "templates: out of memory");
                break;
            }
            continue;
        }
        if (tab->n == ncap) {
            int nc = ncap ? 2 * ncap : 256;
            xg_template *nt = realloc(tab->t, sizeof *nt * (size_t)nc);
            char **nk = nt ? realloc(keys, sizeof *nk * (size_t)nc) : NULL;
            if (nt)
                tab->t = nt;
            if (nk)
                keys = nk;
            if (!nt || !nk) {
                free(key);
                free(oz);
                free(mz);
                xg_template_free(t);
                rc = xg_error_set(err, XG_ENOMEM, "templates: out of memory");
                break;
            }
            ncap = nc;
        }
        for (int o = 0; o < t->norbits; o++)
            mz[o] = oz[o];
        int r3 = add_member(tab, tab->n, mz, t->norbits, &cap_m, &cap_z);
        free(oz);
        free(mz);
        if (r3) {
            free(key);
            xg_template_free(t);
            rc = xg_error_set(err, XG_ENOMEM, "templates: out of memory");
            break;
        }
        slot[h] = tab->n;
        keys[tab->n] = key;
        tab->t[tab->n++] = *t; /* the table takes the arrays; the shell goes */
        free(t);
    }
    if (progress && rc == XG_OK)
        progress(ctx, (long)ds->n, (long)ds->n);
    for (int i = 0; i < tab->n; i++)
        free(keys[i]);
    free(keys);
    free(slot);
    if (rc == XG_OK && tab->n == 0)
        rc = xg_error_set(err, XG_EINVAL, "templates: no crystal of the %lld gave a template",
                          (long long)ds->n);
    if (rc) {
        xg_template_table_free(tab);
        return rc;
    }
    *out = tab;
    return XG_OK;
}

/* ------------------------------------------------------------------ HDF5 ---- */

typedef struct {
    const xg_template_table *tab;
} write_ctx;

static int fill_table(hid_t f, const void *user, const char *path, xg_error *err)
{
    const xg_template_table *tab = ((const write_ctx *)user)->tab;
    int n = tab->n;
    int64_t tops = 0, tatoms = 0, torb = 0, tsite = 0;
    for (int i = 0; i < n; i++) {
        tops += tab->t[i].nops;
        tatoms += tab->t[i].natoms;
        torb += tab->t[i].norbits;
        tsite += tab->t[i].site_start[tab->t[i].norbits];
    }
    int32_t *sg = malloc(sizeof(int32_t) * (size_t)n), *na = malloc(sizeof(int32_t) * (size_t)n);
    int32_t *no = malloc(sizeof(int32_t) * (size_t)n), *nr = malloc(sizeof(int32_t) * (size_t)n);
    int64_t *fr = malloc(sizeof(int64_t) * (size_t)n);
    char (*ex)[XG_ID_LEN] = calloc((size_t)n, XG_ID_LEN);
    int32_t *rot = malloc(sizeof(int32_t) * 9 * (size_t)(tops + 1));
    double *tr = malloc(sizeof(double) * 3 * (size_t)(tops + 1));
    int32_t *aop = malloc(sizeof(int32_t) * (size_t)(tatoms + 1));
    int32_t *osz = malloc(sizeof(int32_t) * (size_t)(torb + 1));
    int32_t *ons = malloc(sizeof(int32_t) * (size_t)(torb + 1));
    double *orep = malloc(sizeof(double) * 3 * (size_t)(torb + 1));
    char (*owy)[2] = calloc((size_t)(torb + 1), 2);
    char (*osym)[8] = calloc((size_t)(torb + 1), 8);
    int32_t *sops = malloc(sizeof(int32_t) * (size_t)(tsite + 1));
    int rc = XG_OK;
    if (!sg || !na || !no || !nr || !fr || !ex || !rot || !tr || !aop || !osz || !ons || !orep ||
        !owy || !osym || !sops) {
        rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    int64_t po = 0, pa = 0, pr = 0, ps = 0;
    for (int i = 0; i < n; i++) {
        const xg_template *t = &tab->t[i];
        sg[i] = t->spacegroup;
        na[i] = t->natoms;
        no[i] = t->nops;
        nr[i] = t->norbits;
        fr[i] = t->frequency;
        snprintf(ex[i], XG_ID_LEN, "%s", t->example);
        for (int k = 0; k < t->nops; k++, po++) {
            for (int q = 0; q < 9; q++)
                rot[9 * po + q] = t->rot[k][q / 3][q % 3];
            memcpy(tr + 3 * po, t->trans[k], sizeof(double) * 3);
        }
        for (int a = 0; a < t->natoms; a++)
            aop[pa++] = t->atom_op[a];
        for (int o = 0; o < t->norbits; o++, pr++) {
            osz[pr] = t->orbit_start[o + 1] - t->orbit_start[o];
            ons[pr] = t->site_start[o + 1] - t->site_start[o];
            memcpy(orep + 3 * pr, t->rep[o], sizeof(double) * 3);
            owy[pr][0] = t->wyckoff[o];
            snprintf(osym[pr], 8, "%s", t->site_symbol[o]);
            for (int q = t->site_start[o]; q < t->site_start[o + 1]; q++)
                sops[ps++] = t->site_ops[q];
        }
    }
    rc = xg_h5_put_str(f, "format", FORMAT, path, err);
    rc = rc ? rc : xg_h5_put_i64(f, "version", XG_TEMPLATE_VERSION, path, err);
    rc = rc ? rc : xg_h5_put_f64(f, "symprec", tab->symprec, path, err);
    rc = rc ? rc : xg_h5_put_f64(f, "angle_tolerance", XG_SYMMETRY_ANGLE_TOLERANCE, path, err);
    rc = rc ? rc : xg_h5_put_str(f, "source", tab->source, path, err);
    rc = rc ? rc : xg_h5_put_i64(f, "ncrystals", tab->ncrystals, path, err);
    rc = rc ? rc : xg_h5_put_i64(f, "nskipped", tab->nskipped, path, err);
    rc = rc ? rc : xg_h5_put_i64(f, "count", n, path, err);
    hsize_t dn[1] = {(hsize_t)n}, dr[3] = {(hsize_t)tops, 3, 3}, dt[2] = {(hsize_t)tops, 3};
    hsize_t da[1] = {(hsize_t)tatoms}, dor[1] = {(hsize_t)torb}, dor3[2] = {(hsize_t)torb, 3};
    hsize_t ds1[1] = {(hsize_t)tsite};
    rc = rc ? rc : xg_h5_put_ds(f, "spacegroup", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, dn, sg, path, err);
    rc = rc ? rc : xg_h5_put_ds(f, "natoms", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, dn, na, path, err);
    rc = rc ? rc : xg_h5_put_ds(f, "frequency", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, dn, fr, path, err);
    rc = rc ? rc : xg_h5_put_ds(f, "nops", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, dn, no, path, err);
    rc = rc ? rc : xg_h5_put_ds(f, "norbits", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, dn, nr, path, err);
    rc = rc ? rc : xg_h5_put_names(f, "example", ex, (hsize_t)n, XG_ID_LEN, "/example", path, err);
    rc = rc ? rc : xg_h5_put_ds(f, "rotations", H5T_STD_I32LE, H5T_NATIVE_INT32, 3, dr, rot, path, err);
    rc = rc ? rc : xg_h5_put_ds(f, "translations", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dt, tr, path, err);
    rc = rc ? rc : xg_h5_put_ds(f, "atom_op", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, da, aop, path, err);
    rc = rc ? rc : xg_h5_put_ds(f, "orbit_size", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, dor, osz, path, err);
    rc = rc ? rc : xg_h5_put_ds(f, "orbit_rep", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dor3, orep, path, err);
    rc = rc ? rc : xg_h5_put_names(f, "orbit_wyckoff", owy, (hsize_t)torb, 2, "/orbit_wyckoff", path, err);
    rc = rc ? rc : xg_h5_put_names(f, "orbit_site_symbol", osym, (hsize_t)torb, 8, "/orbit_site_symbol", path, err);
    rc = rc ? rc : xg_h5_put_ds(f, "orbit_nsite", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, dor, ons, path, err);
    rc = rc ? rc : xg_h5_put_ds(f, "site_ops", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, ds1, sops, path, err);
    if (tab->nmembers > 0) {
        hsize_t dm[1] = {(hsize_t)tab->nmembers}, dz[1] = {(hsize_t)tab->member_start[tab->nmembers]};
        rc = rc ? rc : xg_h5_put_ds(f, "member_template", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, dm,
                                    tab->member_template, path, err);
        rc = rc ? rc : xg_h5_put_ds(f, "member_orbit_z", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, dz,
                                    tab->member_z, path, err);
    }
out:
    free(sg);
    free(na);
    free(no);
    free(nr);
    free(fr);
    free(ex);
    free(rot);
    free(tr);
    free(aop);
    free(osz);
    free(ons);
    free(orep);
    free(owy);
    free(osym);
    free(sops);
    return rc;
}

int xg_template_table_write(const xg_template_table *tab, const char *path, xg_error *err)
{
    write_ctx c = {tab};
    return xg_h5_write_atomic(path, fill_table, &c, "template table write", err);
}

/* Reads a 1-d numeric dataset of the expected length into a new buffer. */
static void *get1(hid_t f, const char *name, hid_t mtype, size_t size, hsize_t n, const char *path,
                  int *rc, xg_error *err)
{
    if (*rc)
        return NULL;
    void *buf = malloc(size * (size_t)(n ? n : 1));
    if (!buf) {
        *rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    *rc = xg_h5_get_ds(f, name, mtype, 1, &n, buf, path, err);
    if (*rc) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* The optional member datasets (see xg_template.h); none present: no members. */
static int read_members(hid_t f, const char *path, xg_template_table *tab, xg_error *err)
{
    if (H5Lexists(f, "member_template", H5P_DEFAULT) <= 0)
        return XG_OK;
    hsize_t m = 0, nz = 0;
    int rc = xg_h5_ds_shape(f, "member_template", 1, &m, path, err);
    rc = rc ? rc : xg_h5_ds_shape(f, "member_orbit_z", 1, &nz, path, err);
    if (rc)
        return rc;
    if (m < 1 || m > 100000000)
        return xg_error_set(err, XG_EPARSE, "%s: /member_template has %llu entries", path,
                            (unsigned long long)m);
    tab->member_template = get1(f, "member_template", H5T_NATIVE_INT32, 4, m, path, &rc, err);
    tab->member_start = rc ? NULL : malloc(sizeof(int64_t) * (size_t)(m + 1));
    if (!rc && !tab->member_start)
        return xg_error_set(err, XG_ENOMEM, "%s: out of memory", path);
    if (rc)
        return rc;
    tab->member_start[0] = 0;
    for (hsize_t i = 0; i < m; i++) {
        int ti = tab->member_template[i];
        if (ti < 0 || ti >= tab->n)
            return xg_error_set(err, XG_EPARSE, "%s: /member_template[%llu] = %d is not a template "
                                "index", path, (unsigned long long)i, ti);
        tab->member_start[i + 1] = tab->member_start[i] + tab->t[ti].norbits;
    }
    if ((hsize_t)tab->member_start[m] != nz)
        return xg_error_set(err, XG_EPARSE, "%s: /member_orbit_z has %llu entries, the members' "
                            "templates %lld orbits", path, (unsigned long long)nz,
                            (long long)tab->member_start[m]);
    tab->member_z = get1(f, "member_orbit_z", H5T_NATIVE_INT32, 4, nz, path, &rc, err);
    for (hsize_t i = 0; i < nz && !rc; i++)
        if (tab->member_z[i] < 1 || tab->member_z[i] > XG_MAX_Z)
            rc = xg_error_set(err, XG_EPARSE, "%s: /member_orbit_z[%llu] = %d is not an atomic "
                              "number", path, (unsigned long long)i, tab->member_z[i]);
    if (!rc)
        tab->nmembers = (int64_t)m;
    return rc;
}

static int read_impl(hid_t f, const char *path, xg_template_table *tab, xg_error *err)
{
    char fmt[64];
    if (xg_h5_get_str(f, "/", "format", fmt, sizeof fmt, path, err) || strcmp(fmt, FORMAT) != 0)
        return xg_error_set(err, XG_EPARSE, "%s: not an xtalgen template table (format attribute "
                            "is not '%s'; build one with `xtalgen templates build`)", path, FORMAT);
    int64_t version = 0, count = 0;
    int rc = xg_h5_get_i64(f, "/", "version", &version, path, err);
    if (rc)
        return rc;
    if (version != XG_TEMPLATE_VERSION)
        return xg_error_set(err, XG_EVERSION, "%s: template table layout version %lld; this build "
                            "reads version %d%s", path, (long long)version, XG_TEMPLATE_VERSION,
                            version > XG_TEMPLATE_VERSION ? " (a newer xtalgen wrote it; upgrade)" : "");
    rc = xg_h5_get_f64(f, "/", "symprec", &tab->symprec, path, err);
    rc = rc ? rc : xg_h5_get_i64(f, "/", "ncrystals", &tab->ncrystals, path, err);
    rc = rc ? rc : xg_h5_get_i64(f, "/", "nskipped", &tab->nskipped, path, err);
    rc = rc ? rc : xg_h5_get_i64(f, "/", "count", &count, path, err);
    rc = rc ? rc : xg_h5_get_str(f, "/", "source", tab->source, sizeof tab->source, path, err);
    if (rc)
        return rc;
    if (count < 1 || count > 10000000)
        return xg_error_set(err, XG_EPARSE, "%s: count %lld out of range", path, (long long)count);
    hsize_t n = (hsize_t)count;
    int32_t *sg = get1(f, "spacegroup", H5T_NATIVE_INT32, 4, n, path, &rc, err);
    int32_t *na = get1(f, "natoms", H5T_NATIVE_INT32, 4, n, path, &rc, err);
    int32_t *no = get1(f, "nops", H5T_NATIVE_INT32, 4, n, path, &rc, err);
    int32_t *nr = get1(f, "norbits", H5T_NATIVE_INT32, 4, n, path, &rc, err);
    int64_t *fr = get1(f, "frequency", H5T_NATIVE_INT64, 8, n, path, &rc, err);
    char (*ex)[XG_ID_LEN] = rc ? NULL : calloc((size_t)n, XG_ID_LEN);
    int32_t *rot = NULL, *aop = NULL, *osz = NULL, *ons = NULL, *sops = NULL;
    double *tr = NULL, *orep = NULL;
    char (*owy)[2] = NULL, (*osym)[8] = NULL;
    if (!rc && !ex)
        rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", path);
    rc = rc ? rc : xg_h5_get_names(f, "example", ex, n, XG_ID_LEN, "/example", path, err);
    int64_t tops = 0, tatoms = 0, torb = 0, tsite = 0;
    for (hsize_t i = 0; i < n && !rc; i++) {
        if (sg[i] < 1 || sg[i] > 230 || na[i] < 1 || na[i] > 100000 || no[i] < 1 || no[i] > 1000 ||
            nr[i] < 1 || nr[i] > na[i] || fr[i] < 0)
            rc = xg_error_set(err, XG_EPARSE, "%s: template %llu has out-of-range sizes", path,
                              (unsigned long long)i);
        tops += no[i];
        tatoms += na[i];
        torb += nr[i];
    }
    hsize_t dr[3] = {(hsize_t)tops, 3, 3}, dt[2] = {(hsize_t)tops, 3}, dor3[2] = {(hsize_t)torb, 3};
    if (!rc) {
        rot = malloc(sizeof(int32_t) * 9 * (size_t)tops);
        tr = malloc(sizeof(double) * 3 * (size_t)tops);
        orep = malloc(sizeof(double) * 3 * (size_t)torb);
        owy = calloc((size_t)torb, 2);
        osym = calloc((size_t)torb, 8);
        if (!rot || !tr || !orep || !owy || !osym)
            rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", path);
    }
    rc = rc ? rc : xg_h5_get_ds(f, "rotations", H5T_NATIVE_INT32, 3, dr, rot, path, err);
    rc = rc ? rc : xg_h5_get_ds(f, "translations", H5T_NATIVE_DOUBLE, 2, dt, tr, path, err);
    rc = rc ? rc : xg_h5_get_ds(f, "orbit_rep", H5T_NATIVE_DOUBLE, 2, dor3, orep, path, err);
    rc = rc ? rc : xg_h5_get_names(f, "orbit_wyckoff", owy, (hsize_t)torb, 2, "/orbit_wyckoff", path, err);
    rc = rc ? rc : xg_h5_get_names(f, "orbit_site_symbol", osym, (hsize_t)torb, 8, "/orbit_site_symbol", path, err);
    aop = get1(f, "atom_op", H5T_NATIVE_INT32, 4, (hsize_t)tatoms, path, &rc, err);
    osz = get1(f, "orbit_size", H5T_NATIVE_INT32, 4, (hsize_t)torb, path, &rc, err);
    ons = get1(f, "orbit_nsite", H5T_NATIVE_INT32, 4, (hsize_t)torb, path, &rc, err);
    for (int64_t o = 0; o < torb && !rc; o++) {
        if (ons[o] < 1 || ons[o] > 1000)
            rc = xg_error_set(err, XG_EPARSE, "%s: /orbit_nsite[%lld] out of range", path, (long long)o);
        tsite += ons[o];
    }
    sops = get1(f, "site_ops", H5T_NATIVE_INT32, 4, (hsize_t)tsite, path, &rc, err);
    if (!rc) {
        tab->t = calloc((size_t)n, sizeof *tab->t);
        if (!tab->t)
            rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", path);
    }
    int64_t po = 0, pa = 0, pr = 0, ps = 0;
    for (hsize_t i = 0; i < n && !rc; i++) {
        int nsite = 0;
        for (int o = 0; o < nr[i]; o++)
            nsite += ons[pr + o];
        xg_template *t = tpl_alloc(no[i], na[i], nr[i], nsite);
        if (!t) {
            rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", path);
            break;
        }
        tab->t[i] = *t;
        free(t);
        tab->n = (int)i + 1;
        t = &tab->t[i];
        t->spacegroup = sg[i];
        t->frequency = fr[i];
        snprintf(t->example, sizeof t->example, "%s", ex[i]);
        for (int k = 0; k < t->nops; k++, po++) {
            for (int q = 0; q < 9; q++)
                t->rot[k][q / 3][q % 3] = rot[9 * po + q];
            for (int q = 0; q < 3; q++)
                t->trans[k][q] = tr[3 * po + q];
        }
        int a = 0, bad = 0;
        t->site_start[0] = 0;
        for (int o = 0; o < t->norbits; o++, pr++) {
            t->orbit_start[o] = a;
            a += osz[pr];
            bad |= osz[pr] < 1;
            memcpy(t->rep[o], orep + 3 * pr, sizeof(double) * 3);
            t->wyckoff[o] = owy[pr][0];
            snprintf(t->site_symbol[o], sizeof t->site_symbol[o], "%s", osym[pr]);
            t->site_start[o + 1] = t->site_start[o] + ons[pr];
            for (int q = 0; q < ons[pr]; q++, ps++) {
                t->site_ops[t->site_start[o] + q] = sops[ps];
                bad |= sops[ps] < 0 || sops[ps] >= t->nops;
            }
            for (int q = 0; q < 3; q++)
                bad |= !isfinite(t->rep[o][q]);
        }
        t->orbit_start[t->norbits] = a;
        bad |= a != t->natoms;
        for (int k = 0; k < t->natoms && !bad; k++, pa++)
            bad |= aop[pa] < 0 || aop[pa] >= t->nops;
        if (!bad)
            for (int k = 0; k < t->natoms; k++)
                t->atom_op[k] = aop[pa - t->natoms + k];
        if (bad) {
            rc = xg_error_set(err, XG_EPARSE, "%s: template %llu is inconsistent (orbit sizes do "
                              "not add up to N, or an operation index is out of range)", path,
                              (unsigned long long)i);
            break;
        }
        rc = tpl_derive(t, err);
        if (rc) {
            xg_error_prefix(err, XG_EPARSE, "%s: template %llu", path, (unsigned long long)i);
            rc = XG_EPARSE;
            if (err)
                err->code = XG_EPARSE;
        }
    }
    rc = rc ? rc : read_members(f, path, tab, err);
    free(sg);
    free(na);
    free(no);
    free(nr);
    free(fr);
    free(ex);
    free(rot);
    free(tr);
    free(orep);
    free(owy);
    free(osym);
    free(aop);
    free(osz);
    free(ons);
    free(sops);
    return rc;
}

int xg_template_table_read(const char *path, xg_template_table **out, xg_error *err)
{
    *out = NULL;
    if (access(path, R_OK) != 0)
        return xg_error_set(err, XG_EIO, "%s: cannot read (%s)", path, strerror(errno));
    xg_template_table *tab = calloc(1, sizeof *tab);
    if (!tab)
        return xg_error_set(err, XG_ENOMEM, "template table: out of memory");
    int rc = XG_OK;
    H5E_BEGIN_TRY
    {
        hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        if (f < 0) {
            rc = xg_error_set(err, XG_EIO, "%s: not a readable HDF5 file", path);
        } else {
            rc = read_impl(f, path, tab, err);
            H5Fclose(f);
        }
    }
    H5E_END_TRY;
    if (rc) {
        xg_template_table_free(tab);
        return rc;
    }
    *out = tab;
    return XG_OK;
}

/* ------------------------------------------------------------------ drawing ---- */

static int matches(const xg_template *t, const unsigned char *groups, int natoms)
{
    return (!groups || groups[t->spacegroup]) && (natoms <= 0 || t->natoms == natoms);
}

int64_t xg_template_table_weight(const xg_template_table *tab, const unsigned char *groups,
                                 int natoms)
{
    int64_t w = 0;
    for (int i = 0; i < tab->n; i++)
        if (matches(&tab->t[i], groups, natoms))
            w += tab->t[i].frequency;
    return w;
}

int xg_template_table_draw(const xg_template_table *tab, const unsigned char *groups, int natoms,
                           xg_rng *rng)
{
    int64_t total = xg_template_table_weight(tab, groups, natoms);
    if (total <= 0)
        return -1;
    uint64_t u = xg_rng_below(rng, (uint64_t)total);
    for (int i = 0; i < tab->n; i++) {
        if (!matches(&tab->t[i], groups, natoms))
            continue;
        if (u < (uint64_t)tab->t[i].frequency)
            return i;
        u -= (uint64_t)tab->t[i].frequency;
    }
    return -1;
}

int64_t xg_template_table_draw_member(const xg_template_table *tab, int ti, xg_rng *rng)
{
    int64_t count = 0;
    for (int64_t m = 0; m < tab->nmembers; m++)
        count += tab->member_template[m] == ti;
    if (count == 0)
        return -1;
    uint64_t u = xg_rng_below(rng, (uint64_t)count);
    for (int64_t m = 0; m < tab->nmembers; m++)
        if (tab->member_template[m] == ti && u-- == 0)
            return m;
    return -1;
}

int xg_template_member_classes(const xg_template_table *tab, int64_t m, int *cls)
{
    const int32_t *z = tab->member_z + tab->member_start[m];
    int norb = tab->t[tab->member_template[m]].norbits, ncls = 0;
    for (int o = 0; o < norb; o++) {
        int p = 0;
        while (p < o && z[p] != z[o])
            p++;
        cls[o] = p < o ? cls[p] : ncls++;
    }
    return ncls;
}

int xg_class_rank(const int *size, int ncls, int k)
{
    int r = 0;
    for (int c = 0; c < ncls; c++)
        r += size[c] > size[k] || (size[c] == size[k] && c < k);
    return r;
}

int xg_class_prior_bin(int natoms)
{
    static const int top[XG_CLASS_PRIOR_BINS - 1] = {4, 6, 8, 12, 16};
    int b = 0;
    while (b < XG_CLASS_PRIOR_BINS - 1 && natoms > top[b])
        b++;
    return b;
}

int xg_template_table_class_prior(const xg_template_table *tab, xg_class_prior *p, xg_error *err)
{
    enum { T = XG_CLASS_PRIOR_TYPES, NB = XG_CLASS_PRIOR_BINS, NC = XG_CLASS_PRIOR_NCLS,
           NR = XG_CLASS_PRIOR_RANKS };
    if (tab->nmembers <= 0)
        return xg_error_set(err, XG_EINVAL, "class prior: the template table lists no training "
                            "crystals (rebuild it with `xtalgen templates build`)");
    int maxorb = 1;
    for (int i = 0; i < tab->n; i++)
        maxorb = tab->t[i].norbits > maxorb ? tab->t[i].norbits : maxorb;
    int *cls = malloc(3 * (size_t)maxorb * sizeof *cls);
    if (!cls)
        return xg_error_set(err, XG_ENOMEM, "class prior: out of memory");
    int *size = cls + maxorb, *zc = size + maxorb;
    /* Counts first (doubles: exact up to 2^53), then probabilities and logs in place. */
    memset(p, 0, sizeof *p);
    double all[T] = {0}, natoms = 0, nbin[NB] = {0}, nkey[NB][NC][NR] = {{{0}}};
    for (int64_t m = 0; m < tab->nmembers; m++) {
        const xg_template *t = &tab->t[tab->member_template[m]];
        const int32_t *z = tab->member_z + tab->member_start[m];
        int ncls = xg_template_member_classes(tab, m, cls), b = xg_class_prior_bin(t->natoms);
        for (int c = 0; c < ncls; c++)
            size[c] = 0;
        for (int o = 0; o < t->norbits; o++) {
            int k = t->orbit_start[o + 1] - t->orbit_start[o];
            size[cls[o]] += k;
            zc[cls[o]] = z[o];
            if (z[o] >= 1 && z[o] <= T) {
                p->atom[b][z[o] - 1] += k;
                all[z[o] - 1] += k;
                nbin[b] += k;
                natoms += k;
            }
        }
        int c1 = (ncls < NC ? ncls : NC) - 1;
        for (int c = 0; c < ncls; c++) {
            int r = xg_class_rank(size, ncls, c);
            r = r < NR ? r : NR - 1;
            if (zc[c] >= 1 && zc[c] <= T) {
                p->cls[b][c1][r][zc[c] - 1] += 1;
                nkey[b][c1][r] += 1;
            }
        }
    }
    free(cls);
    const double w = XG_CLASS_PRIOR_SHRINK;
    for (int k = 0; k < T; k++)
        all[k] = fmax(all[k] / (natoms > 0 ? natoms : 1), 1e-8);
    for (int b = 0; b < NB; b++) {
        for (int k = 0; k < T; k++)
            p->atom[b][k] = (p->atom[b][k] + w * all[k]) / (nbin[b] + w);
        for (int c = 0; c < NC; c++)
            for (int r = 0; r < NR; r++)
                for (int k = 0; k < T; k++)
                    p->cls[b][c][r][k] = log((p->cls[b][c][r][k] + w * p->atom[b][k]) /
                                             (nkey[b][c][r] + w));
        for (int k = 0; k < T; k++)
            p->atom[b][k] = log(p->atom[b][k]);
    }
    return XG_OK;
}

int xg_template_table_nearest(const xg_template_table *tab, int sg, int natoms, int *out, int max)
{
    unsigned char has[231] = {0};
    for (int i = 0; i < tab->n; i++)
        if (natoms <= 0 || tab->t[i].natoms == natoms)
            has[tab->t[i].spacegroup] = 1;
    int sys = xg_symmetry_crystal_system(sg), k = 0;
    /* Rank by (other crystal system, distance in number); ties: the lower number first. */
    for (int pass = 0; pass < 2 && k < max; pass++)
        for (int dist = 0; dist <= 230 && k < max; dist++)
            for (int sgn = -1; sgn <= 1 && k < max; sgn += 2) {
                int g = sg + sgn * dist;
                if (dist == 0 && sgn > 0)
                    continue;
                if (g < 1 || g > 230 || !has[g])
                    continue;
                if ((xg_symmetry_crystal_system(g) == sys) == (pass == 0))
                    out[k++] = g;
            }
    return k;
}
