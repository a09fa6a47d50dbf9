/* xg_matcher.c: structure matching with pymatgen StructureMatcher() semantics. The algorithm is
 * described in xg_matcher.h; comments here explain the details that decide verdicts. */
#include "crystal/xg_matcher.h"
#include "crystal/xg_vec3.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_elements.h"

#define RAD2DEG (180.0 / M_PI)
/* A pair the assignment must not use (other element, or outside the fractional window). */
#define FORBIDDEN 1e20

void xg_matcher_default_params(xg_matcher_params *p)
{
    p->ltol = 0.2;
    p->stol = 0.3;
    p->angle_tol = 5.0;
    p->primitive_cell = 1;
    p->scale = 1;
    p->prim_tol = 0.25;
}

/* ---------------------------------------------------------------- small 3x3 helpers ---- */

static double det3(const double m[3][3])
{
    return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
           m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
           m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
}

static long det3i(const int m[3][3])
{
    return (long)m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
           (long)m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
           (long)m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
}

/* Inverse of a unimodular integer matrix (det +-1): the adjugate divided by det, exact. */
static void inv3i_unimodular(const int m[3][3], int out[3][3])
{
    long d = det3i(m);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            int r0 = (j + 1) % 3, r1 = (j + 2) % 3, c0 = (i + 1) % 3, c1 = (i + 2) % 3;
            long cof = (long)m[r0][c0] * m[r1][c1] - (long)m[r0][c1] * m[r1][c0];
            out[i][j] = (int)(cof / d);
        }
}

static int inv3(const double m[3][3], double out[3][3])
{
    double d = det3(m);
    if (!isfinite(d) || d == 0.0)
        return -1;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            int r0 = (j + 1) % 3, r1 = (j + 2) % 3, c0 = (i + 1) % 3, c1 = (i + 2) % 3;
            out[i][j] = (m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0]) / d;
        }
    return 0;
}

/* Row vector times a matrix: out = v M. */
static void vecmat(const double v[3], const double m[3][3], double out[3])
{
    double o[3];
    for (int k = 0; k < 3; k++)
        o[k] = v[0] * m[0][k] + v[1] * m[1][k] + v[2] * m[2][k];
    memcpy(out, o, sizeof o);
}

static void vecmati(const double v[3], const int m[3][3], double out[3])
{
    double o[3];
    for (int k = 0; k < 3; k++)
        o[k] = v[0] * m[0][k] + v[1] * m[1][k] + v[2] * m[2][k];
    memcpy(out, o, sizeof o);
}

static double cap1(double x) { return x > 1.0 ? 1.0 : (x < -1.0 ? -1.0 : x); }

static double angle_deg(const double a[3], const double b[3], double la, double lb)
{
    return acos(cap1(xg_vec3_dot(a, b) / (la * lb))) * RAD2DEG;
}

/* Lengths and angles (alpha = angle(b, c), beta = angle(a, c), gamma = angle(a, b)). */
static void lattice_params(const double L[3][3], double p[6])
{
    for (int i = 0; i < 3; i++)
        p[i] = xg_vec3_norm(L[i]);
    for (int i = 0; i < 3; i++) {
        int j = (i + 1) % 3, k = (i + 2) % 3;
        p[3 + i] = angle_deg(L[j], L[k], p[j], p[k]);
    }
}

/* A cell with the given parameters (orientation is irrelevant: only the metric is used). */
static void lattice_from_params(const double p[6], double L[3][3])
{
    double al = p[3] / RAD2DEG, be = p[4] / RAD2DEG, ga = p[5] / RAD2DEG;
    double val = cap1((cos(al) * cos(be) - cos(ga)) / (sin(al) * sin(be)));
    double gs = acos(val);
    L[0][0] = p[0] * sin(be);
    L[0][1] = 0.0;
    L[0][2] = p[0] * cos(be);
    L[1][0] = -p[1] * sin(al) * cos(gs);
    L[1][1] = p[1] * sin(al) * sin(gs);
    L[1][2] = p[1] * cos(al);
    L[2][0] = 0.0;
    L[2][1] = 0.0;
    L[2][2] = p[2];
}

/* Lengths of the reciprocal vectors without the 2 pi (rows of (L^-1)^T). */
static int recip_lengths(const double L[3][3], double r[3])
{
    double inv[3][3];
    if (inv3(L, inv))
        return -1;
    for (int i = 0; i < 3; i++)
        r[i] = sqrt(inv[0][i] * inv[0][i] + inv[1][i] * inv[1][i] + inv[2][i] * inv[2][i]);
    return 0;
}

/* numpy's round (half to even) and the C library's round (half away from zero) differ only at
 * exact halves; pymatgen uses the former in numpy code and the latter in its Cython kernels. */
static double wrap_np(double d) { return d - nearbyint(d); }
static double wrap_c(double d) { return d - round(d); }
static double mod1(double x)
{
    double y = x - floor(x);
    return y >= 1.0 ? 0.0 : y;
}


/* ---------------------------------------------------------------- reductions ---- */
/* LLL and Niggli are re-implemented here rather than taken from crystal/xg_lattice.h on
 * purpose: verdicts near tolerance edges depend on exactly which reduced basis is chosen, so
 * these follow pymatgen's variants step by step (LLL with delta 0.75 and numpy rounding, then
 * the Grosse-Kunstleve Niggli steps with eps = 1e-5 V^(1/3) starting from the LLL basis).
 * Rows are basis vectors; T is the integer matrix with reduced = T L. */

static void lll_reduce(const double L[3][3], double out[3][3], int T[3][3])
{
    const double delta = 0.75;
    double a[3][3], b[3][3], u[3][3] = {{0}}, m[3];
    double map[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    memcpy(a, L, sizeof a);
    memcpy(b[0], a[0], sizeof b[0]);
    m[0] = xg_vec3_dot(b[0], b[0]);
    for (int i = 1; i < 3; i++) {
        memcpy(b[i], a[i], sizeof b[i]);
        for (int j = 0; j < i; j++) {
            u[i][j] = xg_vec3_dot(a[i], b[j]) / m[j];
            for (int x = 0; x < 3; x++)
                b[i][x] -= u[i][j] * b[j][x];
        }
        m[i] = xg_vec3_dot(b[i], b[i]);
    }
    int k = 2; /* 1-based, as in the textbook statement */
    for (int guard = 0; k <= 3 && guard < 10000; guard++) {
        for (int i = k - 1; i >= 1; i--) {
            double q = nearbyint(u[k - 1][i - 1]);
            if (q != 0.0) {
                for (int x = 0; x < 3; x++) {
                    a[k - 1][x] -= q * a[i - 1][x];
                    map[k - 1][x] -= q * map[i - 1][x];
                }
                for (int j = 0; j < i - 1; j++)
                    u[k - 1][j] -= q * u[i - 1][j];
                u[k - 1][i - 1] -= q;
            }
        }
        if (m[k - 1] >= (delta - u[k - 1][k - 2] * u[k - 1][k - 2]) * m[k - 2]) {
            k++;
            continue;
        }
        for (int x = 0; x < 3; x++) {
            double t = a[k - 1][x];
            a[k - 1][x] = a[k - 2][x];
            a[k - 2][x] = t;
            t = map[k - 1][x];
            map[k - 1][x] = map[k - 2][x];
            map[k - 2][x] = t;
        }
        for (int s = k - 2; s <= k - 1; s++) {
            memcpy(b[s], a[s], sizeof b[s]);
            for (int j = 0; j < s; j++) {
                u[s][j] = xg_vec3_dot(a[s], b[j]) / m[j];
                for (int x = 0; x < 3; x++)
                    b[s][x] -= u[s][j] * b[j][x];
            }
            m[s] = xg_vec3_dot(b[s], b[s]);
        }
        if (k > 2) {
            k--;
        } else {
            for (int r = k; r < 3; r++)
                for (int c = k - 2; c < k; c++)
                    u[r][c] = xg_vec3_dot(a[r], b[c]) / m[c];
        }
    }
    memcpy(out, a, sizeof a);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            T[i][j] = (int)lround(map[i][j]);
}

/* Applies G <- M^T G M and C <- M^T C (C: the basis as integer combinations of the input). */
static void niggli_apply(double G[3][3], int C[3][3], const int M[3][3])
{
    double R[3][3];
    int Cn[3][3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double s = 0;
            for (int p = 0; p < 3; p++)
                for (int q = 0; q < 3; q++)
                    s += M[p][i] * G[p][q] * M[q][j];
            R[i][j] = s;
            Cn[i][j] = M[0][i] * C[0][j] + M[1][i] * C[1][j] + M[2][i] * C[2][j];
        }
    memcpy(G, R, sizeof R);
    memcpy(C, Cn, sizeof Cn);
}

static int sgn_tol(double x, double e) { return fabs(x) < e ? 0 : (x > 0 ? 1 : -1); }
static int sgn1(double x) { return x > 0 ? 1 : -1; }

/* Niggli cell: out = T L with det T = +1. Returns -1 if it does not converge. */
static int niggli_reduce(const double L[3][3], double out[3][3], int T[3][3])
{
    double lll[3][3], G[3][3];
    int C[3][3];
    lll_reduce(L, lll, C);
    double e = 1e-5 * cbrt(fabs(det3(L)));
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            G[i][j] = xg_vec3_dot(lll[i], lll[j]);
    int done = 0;
    for (int iter = 0; iter < 100 && !done; iter++) {
        double A = G[0][0], B = G[1][1], Cc = G[2][2], E = 2 * G[1][2], N = 2 * G[0][2],
               Y = 2 * G[0][1];
        if (A > B + e || (fabs(A - B) < e && fabs(E) > fabs(N) + e)) { /* A1 */
            const int M[3][3] = {{0, -1, 0}, {-1, 0, 0}, {0, 0, -1}};
            niggli_apply(G, C, M);
            A = G[0][0], B = G[1][1], Cc = G[2][2], E = 2 * G[1][2], N = 2 * G[0][2],
            Y = 2 * G[0][1];
        }
        if (B > Cc + e || (fabs(B - Cc) < e && fabs(N) > fabs(Y) + e)) { /* A2 */
            const int M[3][3] = {{-1, 0, 0}, {0, 0, -1}, {0, -1, 0}};
            niggli_apply(G, C, M);
            continue;
        }
        int l = sgn_tol(E, e), m = sgn_tol(N, e), n = sgn_tol(Y, e);
        if (l * m * n == 1) { /* A3 */
            const int M[3][3] = {{l == -1 ? -1 : 1, 0, 0}, {0, m == -1 ? -1 : 1, 0},
                                 {0, 0, n == -1 ? -1 : 1}};
            niggli_apply(G, C, M);
        } else { /* A4: l m n is 0 or -1 */
            int i = l == 1 ? -1 : 1, j = m == 1 ? -1 : 1, k = n == 1 ? -1 : 1;
            if (i * j * k == -1) {
                if (n == 0)
                    k = -1;
                else if (m == 0)
                    j = -1;
                else if (l == 0)
                    i = -1;
            }
            const int M[3][3] = {{i, 0, 0}, {0, j, 0}, {0, 0, k}};
            niggli_apply(G, C, M);
        }
        A = G[0][0], B = G[1][1], Cc = G[2][2], E = 2 * G[1][2], N = 2 * G[0][2],
        Y = 2 * G[0][1];
        if (fabs(E) > B + e || (fabs(E - B) < e && 2 * N < Y - e) ||
            (fabs(E + B) < e && Y < -e)) { /* A5 */
            const int M[3][3] = {{1, 0, 0}, {0, 1, -sgn1(E)}, {0, 0, 1}};
            niggli_apply(G, C, M);
            continue;
        }
        if (fabs(N) > A + e || (fabs(A - N) < e && 2 * E < Y - e) ||
            (fabs(A + N) < e && Y < -e)) { /* A6 */
            const int M[3][3] = {{1, 0, -sgn1(N)}, {0, 1, 0}, {0, 0, 1}};
            niggli_apply(G, C, M);
            continue;
        }
        if (fabs(Y) > A + e || (fabs(A - Y) < e && 2 * E < N - e) ||
            (fabs(A + Y) < e && N < -e)) { /* A7 */
            const int M[3][3] = {{1, -sgn1(Y), 0}, {0, 1, 0}, {0, 0, 1}};
            niggli_apply(G, C, M);
            continue;
        }
        if (E + N + Y + A + B < -e || (fabs(E + N + Y + A + B) < e && e < Y + (A + N) * 2)) {
            const int M[3][3] = {{1, 0, 1}, {0, 1, 1}, {0, 0, 1}}; /* A8 */
            niggli_apply(G, C, M);
            continue;
        }
        done = 1;
    }
    if (!done)
        return -1;
    /* C expresses the reduced basis in the input basis (it started as the LLL mapping). */
    int sign = det3i(C) < 0 ? -1 : 1;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            T[i][j] = sign * C[i][j];
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++)
            out[i][k] = T[i][0] * L[0][k] + T[i][1] * L[1][k] + T[i][2] * L[2][k];
    return 0;
}

/* ---------------------------------------------------------------- structures ---- */

static int check_structure(const xg_structure *s, const char *what, xg_error *err)
{
    if (!s)
        return xg_error_set(err, XG_EINVAL, "%s: no structure", what);
    if (s->natoms <= 0)
        return xg_error_set(err, XG_EINVAL, "%s '%s' has no atoms", what, s->id);
    double v = fabs(det3(s->lattice));
    if (!isfinite(v) || v < 1e-8)
        return xg_error_set(err, XG_EINVAL, "%s '%s' has a singular lattice (volume %g)",
                            what, s->id, v);
    for (int i = 0; i < s->natoms; i++) {
        if (s->types[i] < 1 || s->types[i] > XG_MAX_Z)
            return xg_error_set(err, XG_EINVAL, "%s '%s' atom %d has atomic number %d",
                                what, s->id, i, s->types[i]);
        for (int k = 0; k < 3; k++)
            if (!isfinite(s->frac[i][k]))
                return xg_error_set(err, XG_EINVAL,
                                    "%s '%s' atom %d has a non-finite coordinate",
                                    what, s->id, i);
    }
    return XG_OK;
}

/* New structure: s in its Niggli cell, coordinates wrapped into [0, 1), site order kept. */
static int niggli_structure(const xg_structure *s, xg_structure **out, xg_error *err)
{
    double red[3][3];
    int T[3][3], Ti[3][3];
    if (niggli_reduce(s->lattice, red, T))
        return xg_error_set(err, XG_ENUMERIC, "Niggli reduction of '%s' did not converge",
                            s->id);
    long d = det3i(T);
    if (d != 1 && d != -1)
        return xg_error_set(err, XG_ENUMERIC, "Niggli transformation of '%s' has det %ld",
                            s->id, d);
    inv3i_unimodular(T, Ti);
    xg_structure *r = xg_structure_copy(s);
    if (!r)
        return xg_error_set(err, XG_ENOMEM, "structure matching: out of memory");
    memcpy(r->lattice, red, sizeof red);
    /* cart = f L = f' T L, so f' = f T^-1. */
    for (int i = 0; i < r->natoms; i++) {
        vecmati(s->frac[i], Ti, r->frac[i]);
        for (int k = 0; k < 3; k++)
            r->frac[i][k] = mod1(r->frac[i][k]);
    }
    *out = r;
    return XG_OK;
}

/* ---------------------------------------------------------------- primitive cell ---- */

/* Sites grouped by element symbol in string order (pymatgen sorts sites by species_string,
 * a stable sort), each group in the original site order. */
typedef struct {
    int ngroups;
    int *start;  /* ngroups + 1 offsets into idx */
    int *idx;    /* natoms site indices */
} site_groups;

static void groups_free(site_groups *g)
{
    free(g->start);
    free(g->idx);
}

static int groups_build(const xg_structure *s, site_groups *g)
{
    int n = s->natoms;
    g->idx = malloc((size_t)n * sizeof *g->idx);
    g->start = malloc((size_t)(n + 1) * sizeof *g->start);
    if (!g->idx || !g->start) {
        groups_free(g);
        return -1;
    }
    for (int i = 0; i < n; i++)
        g->idx[i] = i;
    /* Stable insertion sort by symbol. */
    for (int i = 1; i < n; i++) {
        int v = g->idx[i], j = i - 1;
        const char *sv = xg_element_get(s->types[v])->symbol;
        while (j >= 0 && strcmp(xg_element_get(s->types[g->idx[j]])->symbol, sv) > 0) {
            g->idx[j + 1] = g->idx[j];
            j--;
        }
        g->idx[j + 1] = v;
    }
    g->ngroups = 0;
    for (int i = 0; i < n; i++)
        if (i == 0 || s->types[g->idx[i]] != s->types[g->idx[i - 1]])
            g->start[g->ngroups++] = i;
    g->start[g->ngroups] = n;
    return 0;
}

static int gcd_int(int a, int b)
{
    while (b) {
        int t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Does some row of vecs (nv x 3) lie within tol (per component, periodic) of x? */
static int near_any(const double (*vecs)[3], int nv, const double x[3], const double tol[3])
{
    for (int v = 0; v < nv; v++) {
        int ok = 1;
        for (int k = 0; k < 3 && ok; k++)
            if (!(fabs(wrap_np(x[k] - vecs[v][k])) < tol[k]))
                ok = 0;
        if (ok)
            return 1;
    }
    return 0;
}

/* Tries every supercell matrix m (Hermite normal form, det | num_fu) in pymatgen's order and
 * returns the first smaller cell whose sites collapse into cliques of exactly det sites each.
 * *out = NULL when there is none. */
static int primitive_step(const xg_structure *s, double tol, xg_structure **out, xg_error *err)
{
    *out = NULL;
    int n = s->natoms;
    site_groups G = {0};
    if (groups_build(s, &G))
        return xg_error_set(err, XG_ENOMEM, "structure matching: out of memory");
    int rc = XG_OK;
    double abc[3], sftol[3], sftol2[3];
    for (int k = 0; k < 3; k++) {
        abc[k] = xg_vec3_norm(s->lattice[k]);
        sftol[k] = tol / abc[k];
        sftol2[k] = 2.0 * sftol[k];
    }
    /* The smallest group (first in symbol order among equals) gives candidate translations. */
    int gmin = 0;
    for (int g = 1; g < G.ngroups; g++)
        if (G.start[g + 1] - G.start[g] < G.start[gmin + 1] - G.start[gmin])
            gmin = g;
    int nv = G.start[gmin + 1] - G.start[gmin];
    double (*vecs)[3] = malloc((size_t)nv * sizeof *vecs);
    double (*tmp)[3] = malloc((size_t)n * sizeof *tmp);
    double (*all)[3] = malloc((size_t)n * sizeof *all);
    double (*newc)[3] = malloc((size_t)n * sizeof *newc);
    int *newz = malloc((size_t)n * sizeof *newz);
    unsigned char *nonnb = malloc((size_t)n * n);
    unsigned char *grp = malloc((size_t)n * n);
    unsigned char *added = malloc((size_t)n);
    int *order = malloc((size_t)G.ngroups * sizeof *order);
    if (!vecs || !tmp || !all || !newc || !newz || !nonnb || !grp || !added || !order) {
        rc = xg_error_set(err, XG_ENOMEM, "structure matching: out of memory");
        goto done;
    }
    {
        const int *gi = G.idx + G.start[gmin];
        for (int v = 0; v < nv; v++)
            for (int k = 0; k < 3; k++)
                vecs[v][k] = s->frac[gi[v]][k] - s->frac[gi[0]][k];
    }
    /* Keep only translations that map every site near a site of its own element (twice the
     * tolerance, as both are approximate). Groups visited by size, stable. */
    for (int g = 0; g < G.ngroups; g++)
        order[g] = g;
    for (int i = 1; i < G.ngroups; i++) {
        int v = order[i], j = i - 1;
        int sz = G.start[v + 1] - G.start[v];
        while (j >= 0 && G.start[order[j] + 1] - G.start[order[j]] > sz) {
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = v;
    }
    for (int oi = 0; oi < G.ngroups; oi++) {
        int g = order[oi];
        const int *gi = G.idx + G.start[g];
        int gn = G.start[g + 1] - G.start[g];
        for (int f = 0; f < gn; f++) {
            for (int x = 0; x < gn; x++)
                for (int k = 0; k < 3; k++)
                    tmp[x][k] = s->frac[gi[x]][k] - s->frac[gi[f]][k];
            int keep = 0;
            for (int v = 0; v < nv; v++)
                if (near_any((const double(*)[3])tmp, gn, vecs[v], sftol2))
                    memcpy(vecs[keep++], vecs[v], sizeof vecs[v]);
            nv = keep;
        }
    }
    /* Sites may not merge with their near neighbours in the original cell. Stored per pair of
     * positions in G.idx order. */
    for (int a = 0; a < n; a++)
        for (int b = 0; b < n; b++) {
            int nb = 0;
            for (int k = 0; k < 3; k++)
                if (fabs(wrap_np(s->frac[G.idx[b]][k] - s->frac[G.idx[a]][k])) > sftol2[k])
                    nb = 1;
            nonnb[(size_t)a * n + b] = (unsigned char)(nb || a == b);
        }
    int num_fu = 0;
    for (int g = 0; g < G.ngroups; g++)
        num_fu = gcd_int(num_fu, G.start[g + 1] - G.start[g]);

    for (int det = 2; det <= num_fu && nv > 0; det++) {
        if (num_fu % det)
            continue;
        for (int a = 1; a <= det; a++) {
            if (det % a)
                continue;
            for (int e = 1; e <= det / a; e++) {
                if ((det / a) % e)
                    continue;
                int gg = det / a / e;
                for (int b = 0; b < a; b++)
                    for (int c = 0; c < a; c++)
                        for (int f = 0; f < e; f++) {
                            double m[3][3] = {{a, b, c}, {0, e, f}, {0, 0, gg}}, im[3][3];
                            inv3(m, im);
                            int ok = 1;
                            for (int r = 0; r < 3 && ok; r++)
                                ok = near_any((const double(*)[3])vecs, nv, im[r], sftol);
                            if (!ok)
                                continue;
                            double nl[3][3], ftol[3];
                            for (int r = 0; r < 3; r++)
                                vecmat(im[r], s->lattice, nl[r]);
                            for (int k = 0; k < 3; k++)
                                ftol[k] = tol / xg_vec3_norm(nl[k]);
                            int nnew = 0, valid = 1;
                            for (int g = 0; g < G.ngroups && valid; g++) {
                                int g0 = G.start[g], gn = G.start[g + 1] - g0;
                                const int *gi = G.idx + g0;
                                for (int x = 0; x < gn; x++)
                                    vecmat(s->frac[gi[x]], m, all[x]);
                                for (int p = 0; p < gn; p++)
                                    for (int q = 0; q < gn; q++) {
                                        int close = 1;
                                        for (int k = 0; k < 3 && close; k++)
                                            if (!(fabs(wrap_np(all[q][k] - all[p][k])) < ftol[k]))
                                                close = 0;
                                        grp[(size_t)p * gn + q] =
                                            (unsigned char)(close &&
                                                            nonnb[(size_t)(g0 + p) * n + g0 + q]);
                                    }
                                for (int q = 0; q < gn && valid; q++) {
                                    int cnt = 0;
                                    for (int p = 0; p < gn; p++)
                                        cnt += grp[(size_t)p * gn + q];
                                    if (cnt != det)
                                        valid = 0;
                                }
                                for (int p = 0; p < gn && valid; p++)
                                    for (int x = 0; x < gn && valid; x++) {
                                        if (!grp[(size_t)p * gn + x])
                                            continue;
                                        for (int y = 0; y < gn && valid; y++)
                                            if (grp[(size_t)p * gn + y] &&
                                                !grp[(size_t)x * gn + y])
                                                valid = 0;
                                    }
                                if (!valid)
                                    break;
                                /* Merge each clique into one site at the running average. */
                                memset(added, 0, (size_t)(gn > 0 ? gn : 0));
                                for (int x = 0; x < gn; x++)
                                    for (int k = 0; k < 3; k++)
                                        all[x][k] = mod1(all[x][k]);
                                for (int p = 0; p < gn; p++) {
                                    if (added[p])
                                        continue;
                                    double cc[3];
                                    int cnt = 0;
                                    for (int q = 0; q < gn; q++) {
                                        if (!grp[(size_t)p * gn + q])
                                            continue;
                                        added[q] = 1;
                                        if (cnt == 0) {
                                            memcpy(cc, all[q], sizeof cc);
                                        } else {
                                            for (int k = 0; k < 3; k++) {
                                                double off = all[q][k] - cc[k];
                                                cc[k] += wrap_np(off) / (cnt + 1);
                                            }
                                        }
                                        cnt++;
                                    }
                                    memcpy(newc[nnew], cc, sizeof cc);
                                    newz[nnew] = s->types[gi[p]];
                                    nnew++;
                                }
                            }
                            if (!valid)
                                continue;
                            xg_structure *p = xg_structure_alloc(nnew);
                            if (!p) {
                                rc = xg_error_set(err, XG_ENOMEM, "structure matching: out of memory");
                                goto done;
                            }
                            memcpy(p->lattice, nl, sizeof nl);
                            memcpy(p->id, s->id, sizeof p->id);
                            for (int i = 0; i < nnew; i++) {
                                p->types[i] = newz[i];
                                memcpy(p->frac[i], newc[i], sizeof newc[i]);
                            }
                            *out = p;
                            goto done;
                        }
            }
        }
    }
done:
    free(vecs);
    free(tmp);
    free(all);
    free(newc);
    free(newz);
    free(nonnb);
    free(grp);
    free(added);
    free(order);
    groups_free(&G);
    return rc;
}

/* pymatgen's recursion: a smaller cell found is searched again, then Niggli-reduced. */
static int primitive_rec(const xg_structure *s, double tol, int depth, xg_structure **out,
                         xg_error *err)
{
    xg_structure *p = NULL;
    int rc = primitive_step(s, tol, &p, err);
    if (rc)
        return rc;
    if (!p || depth > 64) {
        xg_structure_free(p);
        *out = xg_structure_copy(s);
        return *out ? XG_OK : xg_error_set(err, XG_ENOMEM, "structure matching: out of memory");
    }
    xg_structure *q = NULL;
    rc = primitive_rec(p, tol, depth + 1, &q, err);
    xg_structure_free(p);
    if (rc)
        return rc;
    rc = niggli_structure(q, out, err);
    xg_structure_free(q);
    return rc;
}

int xg_matcher_primitive(const xg_structure *s, double tolerance, xg_structure **out,
                         xg_error *err)
{
    if (!out)
        return xg_error_set(err, XG_EINVAL, "structure matching: out is NULL");
    *out = NULL;
    int rc = check_structure(s, "structure", err);
    if (rc)
        return rc;
    if (!(tolerance > 0))
        return xg_error_set(err, XG_EINVAL, "structure matching: primitive tolerance must be > 0, got %g",
                            tolerance);
    xg_structure *nig = NULL;
    rc = niggli_structure(s, &nig, err);
    if (rc)
        return rc;
    rc = primitive_rec(nig, tolerance, 0, out, err);
    xg_structure_free(nig);
    return rc;
}

int xg_matcher_reduce(const xg_structure *s, const xg_matcher_params *p, xg_structure **out,
                      xg_error *err)
{
    xg_matcher_params def;
    if (!p) {
        xg_matcher_default_params(&def);
        p = &def;
    }
    if (!out)
        return xg_error_set(err, XG_EINVAL, "structure matching: out is NULL");
    *out = NULL;
    int rc = check_structure(s, "structure", err);
    if (rc)
        return rc;
    if (p->primitive_cell)
        return xg_matcher_primitive(s, p->prim_tol, out, err);
    return niggli_structure(s, out, err);
}

/* ---------------------------------------------------------------- assignment ---- */

int xg_matcher_assign(const double *cost, int n, int *assign, xg_error *err)
{
    if (n < 0)
        return xg_error_set(err, XG_EINVAL, "structure matching: assignment size %d", n);
    if (n == 0)
        return XG_OK;
    for (long i = 0; i < (long)n * n; i++)
        if (!isfinite(cost[i]))
            return xg_error_set(err, XG_EINVAL, "structure matching: non-finite assignment cost");
    /* Hungarian method with row/column potentials u, v; 1-based with a virtual column 0. */
    size_t m = (size_t)n + 1;
    double *u = calloc(m, sizeof *u), *v = calloc(m, sizeof *v), *minv = malloc(m * sizeof *minv);
    int *p = calloc(m, sizeof *p), *way = calloc(m, sizeof *way);
    unsigned char *used = malloc(m);
    if (!u || !v || !minv || !p || !way || !used) {
        free(u), free(v), free(minv), free(p), free(way), free(used);
        return xg_error_set(err, XG_ENOMEM, "structure matching: out of memory");
    }
    for (int i = 1; i <= n; i++) {
        p[0] = i;
        int j0 = 0;
        for (int j = 0; j <= n; j++) {
            minv[j] = INFINITY;
            used[j] = 0;
        }
        do {
            used[j0] = 1;
            int i0 = p[j0], j1 = 0;
            double delta = INFINITY;
            for (int j = 1; j <= n; j++) {
                if (used[j])
                    continue;
                double cur = cost[(size_t)(i0 - 1) * n + (j - 1)] - u[i0] - v[j];
                if (cur < minv[j]) {
                    minv[j] = cur;
                    way[j] = j0;
                }
                if (minv[j] < delta) {
                    delta = minv[j];
                    j1 = j;
                }
            }
            for (int j = 0; j <= n; j++) {
                if (used[j]) {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
        } while (p[j0] != 0);
        do {
            int j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        } while (j0);
    }
    for (int j = 1; j <= n; j++)
        assign[p[j] - 1] = j - 1;
    free(u), free(v), free(minv), free(p), free(way), free(used);
    return XG_OK;
}

/* ---------------------------------------------------------------- matching ---- */

typedef struct {
    int n[3];      /* integer coordinates in s1's basis */
    double v[3];   /* cartesian vector */
    double len;
} lat_vec;

typedef struct {
    lat_vec *v;
    int count, cap;
} vec_list;

static int vec_push(vec_list *l, const lat_vec *x)
{
    if (l->count == l->cap) {
        int nc = l->cap ? 2 * l->cap : 32;
        lat_vec *nv = realloc(l->v, (size_t)nc * sizeof *nv);
        if (!nv)
            return -1;
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->count++] = *x;
    return 0;
}

/* Scratch buffers of one comparison, allocated once. */
typedef struct {
    int n;
    double (*f1)[3], (*f2)[3], (*t2)[3], (*l1)[3], (*l2)[3];
    double *d2, (*vec)[3];
    int *assign;
    /* a cell list of s1's sites (in the candidate basis) for the window test */
    int g[3], gcap, *gstart, *gfill, *gitems;
} scratch;

static void scratch_free(scratch *w)
{
    free(w->f1), free(w->f2), free(w->t2), free(w->l1), free(w->l2);
    free(w->d2), free(w->vec), free(w->assign);
    free(w->gstart), free(w->gfill), free(w->gitems);
}

static int scratch_alloc(scratch *w, int n)
{
    memset(w, 0, sizeof *w);
    w->n = n;
    size_t a = (size_t)n;
    w->f1 = malloc(a * sizeof *w->f1);
    w->f2 = malloc(a * sizeof *w->f2);
    w->t2 = malloc(a * sizeof *w->t2);
    w->l1 = malloc(a * sizeof *w->l1);
    w->l2 = malloc(a * sizeof *w->l2);
    w->d2 = malloc(a * a * sizeof *w->d2);
    w->vec = malloc(a * a * sizeof *w->vec);
    w->assign = malloc(a * sizeof *w->assign);
    w->gcap = 4 * n + 8;
    w->gstart = malloc(((size_t)w->gcap + 1) * sizeof *w->gstart);
    w->gfill = malloc((size_t)w->gcap * sizeof *w->gfill);
    w->gitems = malloc((a ? a : 1) * sizeof *w->gitems);
    if (!w->f1 || !w->f2 || !w->t2 || !w->l1 || !w->l2 || !w->d2 || !w->vec || !w->assign ||
        !w->gstart || !w->gfill || !w->gitems) {
        scratch_free(w);
        return -1;
    }
    return 0;
}

/* The window test (step 4) asks, for each s2 site, whether an s1 site of its element lies
 * within ftol of it in every fractional direction. A cell list makes that O(n) per translation
 * instead of O(n^2), the cost that dominated large cells (issue 14): cells at least ftol wide,
 * so the window of a point lies in its cell and the two neighbours in each direction. */
static int grid_index(const scratch *w, const double f[3], int c[3])
{
    for (int k = 0; k < 3; k++) {
        int v = (int)(mod1(f[k]) * w->g[k]);
        c[k] = v < 0 ? 0 : v >= w->g[k] ? w->g[k] - 1 : v;
    }
    return (c[0] * w->g[1] + c[1]) * w->g[2] + c[2];
}

static void grid_build(scratch *w, const double ftol[3])
{
    int n = w->n;
    for (int k = 0; k < 3; k++) {
        double g = ftol[k] > 0 ? floor(1.0 / ftol[k]) : 64;
        w->g[k] = g < 1 ? 1 : g > 64 ? 64 : (int)g;
    }
    /* At most ~4 cells per site: coarser cells stay correct (still at least ftol wide). */
    while ((long)w->g[0] * w->g[1] * w->g[2] > w->gcap) {
        int big = 0;
        for (int k = 1; k < 3; k++)
            if (w->g[k] > w->g[big])
                big = k;
        w->g[big] = (w->g[big] + 1) / 2;
    }
    int G = w->g[0] * w->g[1] * w->g[2], c[3];
    memset(w->gstart, 0, ((size_t)G + 1) * sizeof *w->gstart);
    for (int j = 0; j < n; j++)
        w->gstart[grid_index(w, w->f1[j], c) + 1]++;
    for (int q = 0; q < G; q++)
        w->gstart[q + 1] += w->gstart[q];
    /* sites in input order within each cell (a stable counting sort) */
    memcpy(w->gfill, w->gstart, (size_t)G * sizeof *w->gfill);
    for (int j = 0; j < n; j++)
        w->gitems[w->gfill[grid_index(w, w->f1[j], c)]++] = j;
}

/* Whether an s1 site of element z lies within ftol of point q (fractional, any image). */
static int grid_has(const scratch *w, const int *z1, int z, const double q[3],
                    const double ftol[3], double *work)
{
    int c[3], lo[3], hi[3];
    grid_index(w, q, c);
    for (int k = 0; k < 3; k++) {
        if (w->g[k] <= 2) { /* every cell; neighbours would repeat */
            lo[k] = 0;
            hi[k] = w->g[k] - 1;
        } else {
            lo[k] = c[k] - 1;
            hi[k] = c[k] + 1;
        }
    }
    for (int a = lo[0]; a <= hi[0]; a++)
        for (int b = lo[1]; b <= hi[1]; b++)
            for (int d = lo[2]; d <= hi[2]; d++) {
                int ia = (a + w->g[0]) % w->g[0], ib = (b + w->g[1]) % w->g[1],
                    id = (d + w->g[2]) % w->g[2];
                int cell = (ia * w->g[1] + ib) * w->g[2] + id;
                for (int t = w->gstart[cell]; t < w->gstart[cell + 1]; t++) {
                    int j = w->gitems[t];
                    *work += 1;
                    if (z1[j] != z)
                        continue;
                    if (fabs(wrap_c(q[0] - w->f1[j][0])) <= ftol[0] &&
                        fabs(wrap_c(q[1] - w->f1[j][1])) <= ftol[1] &&
                        fabs(wrap_c(q[2] - w->f1[j][2])) <= ftol[2])
                        return 1;
                }
            }
    return 0;
}

/* Distances of one trial (s2 translated onto s1 on the average lattice): the linear
 * assignment of squared periodic distances, then the mean displacement removed. Returns 0 with
 * *maxd / *rms set, 1 if the assignment had to use a forbidden pair (no match), <0 on error. */
static int trial_distances(scratch *w, const int *z1, const int *z2, const int lllTi[3][3],
                           const double lllL[3][3], const double lll_ftol[3], double norm,
                           double *maxd, double *rms, xg_error *err)
{
    int n = w->n;
    /* Fractional coordinates in the LLL basis: f = f_lll T, so f_lll = f T^-1. */
    for (int i = 0; i < n; i++) {
        vecmati(w->t2[i], lllTi, w->l2[i]);
        vecmati(w->f1[i], lllTi, w->l1[i]);
    }
    double cart_im[27][3];
    {
        int k = 0;
        for (int a = -1; a <= 1; a++)
            for (int b = -1; b <= 1; b++)
                for (int c = -1; c <= 1; c++, k++) {
                    double f[3] = {a, b, c};
                    vecmat(f, lllL, cart_im[k]);
                }
    }
    double maxfin = 0.0;
    for (int i = 0; i < n; i++) {
        double c2[3], m2[3];
        for (int k = 0; k < 3; k++)
            m2[k] = mod1(w->l2[i][k]);
        vecmat(m2, lllL, c2);
        for (int j = 0; j < n; j++) {
            size_t ij = (size_t)i * n + j;
            int within = z1[j] == z2[i];
            for (int k = 0; k < 3 && within; k++)
                if (fabs(wrap_c(w->l1[j][k] - w->l2[i][k])) > lll_ftol[k])
                    within = 0;
            if (!within) {
                w->d2[ij] = FORBIDDEN;
                continue;
            }
            double m1[3], c1[3], pre[3];
            for (int k = 0; k < 3; k++)
                m1[k] = mod1(w->l1[j][k]);
            vecmat(m1, lllL, c1);
            for (int k = 0; k < 3; k++)
                pre[k] = c1[k] - c2[k];
            double best = 1e100;
            int bk = 0;
            for (int k = 0; k < 27; k++) {
                double da = pre[0] + cart_im[k][0], db = pre[1] + cart_im[k][1],
                       dc = pre[2] + cart_im[k][2];
                double d = da * da + db * db + dc * dc;
                if (d < best) {
                    best = d;
                    bk = k;
                }
            }
            w->d2[ij] = best;
            for (int k = 0; k < 3; k++)
                w->vec[ij][k] = pre[k] + cart_im[bk][k];
            if (best > maxfin)
                maxfin = best;
        }
    }
    /* Forbidden pairs cost more than any assignment of allowed pairs can. */
    double big = (double)n * maxfin + 1.0;
    for (size_t ij = 0; ij < (size_t)n * n; ij++)
        if (w->d2[ij] == FORBIDDEN)
            w->d2[ij] = big;
    int rc = xg_matcher_assign(w->d2, n, w->assign, err);
    if (rc)
        return -rc;
    double mean[3] = {0, 0, 0};
    for (int i = 0; i < n; i++) {
        size_t ij = (size_t)i * n + w->assign[i];
        if (w->d2[ij] == big)
            return 1;
        for (int k = 0; k < 3; k++)
            mean[k] += w->vec[ij][k];
    }
    for (int k = 0; k < 3; k++)
        mean[k] /= n;
    double mx = 0.0, ss = 0.0;
    for (int i = 0; i < n; i++) {
        size_t ij = (size_t)i * n + w->assign[i];
        double d[3];
        for (int k = 0; k < 3; k++)
            d[k] = w->vec[ij][k] - mean[k];
        double dist = sqrt(xg_vec3_dot(d, d)) * norm;
        if (dist > mx)
            mx = dist;
        ss += dist * dist;
    }
    *maxd = mx;
    *rms = sqrt(ss / n);
    return 0;
}

/* Identical cells: same lattice, and the same species at the same fractional positions
 * (modulo 1) in the same order, to 1e-9 (relative for the lattice). */
static int same_cell(const xg_structure *a, const xg_structure *b)
{
    if (a->natoms != b->natoms)
        return 0;
    double scale = 0;
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++)
            scale = fmax(scale, fabs(a->lattice[i][k]));
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++)
            if (!(fabs(a->lattice[i][k] - b->lattice[i][k]) <= 1e-9 * scale))
                return 0;
    for (int i = 0; i < a->natoms; i++) {
        if (a->types[i] != b->types[i])
            return 0;
        for (int k = 0; k < 3; k++) {
            double d = a->frac[i][k] - b->frac[i][k];
            if (!(fabs(d - nearbyint(d)) <= 1e-9))
                return 0;
        }
    }
    return 1;
}

int xg_matcher_fit_reduced(const xg_structure *r1, const xg_structure *r2,
                           const xg_matcher_params *p, xg_match_mode mode, xg_match_result *res,
                           xg_error *err)
{
    xg_matcher_params def;
    if (!p) {
        xg_matcher_default_params(&def);
        p = &def;
    }
    if (!res)
        return xg_error_set(err, XG_EINVAL, "structure matching: result is NULL");
    res->match = 0;
    res->rms = NAN;
    res->max_dist = NAN;
    res->n_lattices = 0;
    res->work = 0;
    int rc = check_structure(r1, "structure 1", err);
    if (rc)
        return rc;
    rc = check_structure(r2, "structure 2", err);
    if (rc)
        return rc;
    int n = r1->natoms;
    if (n != r2->natoms)
        return XG_OK;
    int cnt1[XG_MAX_Z + 1] = {0}, cnt2[XG_MAX_Z + 1] = {0};
    for (int i = 0; i < n; i++) {
        cnt1[r1->types[i]]++;
        cnt2[r2->types[i]]++;
    }
    if (memcmp(cnt1, cnt2, sizeof cnt1))
        return XG_OK;
    /* A crystal always matches itself, whatever its cell: identical reduced cells are a match
     * with zero displacement, found without a search (which an extreme cell could exceed). */
    if (same_cell(r1, r2)) {
        res->match = 1;
        res->rms = res->max_dist = 0;
        return XG_OK;
    }

    /* Both lattices scaled to the geometric mean of the volumes. */
    double L1[3][3], L2[3][3];
    memcpy(L1, r1->lattice, sizeof L1);
    memcpy(L2, r2->lattice, sizeof L2);
    if (p->scale) {
        double ratio = pow(fabs(det3(L2)) / fabs(det3(L1)), 1.0 / 6.0);
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 3; k++) {
                L1[i][k] *= ratio;
                L2[i][k] /= ratio;
            }
    }
    double p2[6];
    lattice_params(L2, p2);

    /* Anchor: the first s2 site of the element least frequent in s1. */
    int anchor = 0;
    for (int i = 1; i < n; i++)
        if (cnt1[r2->types[i]] < cnt1[r2->types[anchor]])
            anchor = i;

    /* Lattice vectors of s1 whose lengths fit each of s2's. */
    double best_rms = INFINITY, best_max = NAN, work = 0;
    int fit_ok = 0;
    vec_list cand[3] = {{0}};
    scratch w;
    if (scratch_alloc(&w, n))
        return xg_error_set(err, XG_ENOMEM, "structure matching: out of memory");
    double rmax = fmax(p2[0], fmax(p2[1], p2[2])) * (1.0 + p->ltol), rl1[3];
    recip_lengths(L1, rl1);
    int nmax[3];
    double points = 1;
    for (int k = 0; k < 3; k++) {
        double b = ceil(rmax * rl1[k]);
        points *= 2 * b + 1;
        nmax[k] = b < 1e6 ? (int)b : 1000000;
    }
    /* The search visits every lattice point within rmax: bounded, so that one extreme cell (a
     * needle 3 x 3 x 3000 A needs 17 million points) costs a verdict, not the run. */
    if (!(points <= XG_MATCHER_MAX_LATTICE_POINTS)) {
        scratch_free(&w);
        return xg_error_set(err, XG_EUNSUPPORTED,
                            "lattice search for '%s' vs '%s' needs %.3g lattice points (limit "
                            "%.3g): an extreme cell shape (lengths %.4g %.4g %.4g A); not assessed",
                            r1->id, r2->id, points, (double)XG_MATCHER_MAX_LATTICE_POINTS, p2[0],
                            p2[1], p2[2]);
    }
    for (int a = -nmax[0]; a <= nmax[0]; a++)
        for (int b = -nmax[1]; b <= nmax[1]; b++)
            for (int c = -nmax[2]; c <= nmax[2]; c++) {
                lat_vec x = {{a, b, c}, {0, 0, 0}, 0};
                double f[3] = {a, b, c};
                vecmat(f, L1, x.v);
                x.len = xg_vec3_norm(x.v);
                if (x.len > rmax)
                    continue;
                for (int k = 0; k < 3; k++) {
                    double r = x.len / p2[k];
                    if (r < 1.0 + p->ltol && r > 1.0 / (1.0 + p->ltol))
                        if (vec_push(&cand[k], &x)) {
                            rc = xg_error_set(err, XG_ENOMEM, "structure matching: out of memory");
                            goto done;
                        }
                }
            }

    for (int i = 0; i < n; i++)
        memcpy(w.f2[i], r2->frac[i], sizeof w.f2[i]);
    for (int ia = 0; ia < cand[0].count; ia++) {
        const lat_vec *va = &cand[0].v[ia];
        for (int ib = 0; ib < cand[1].count; ib++) {
            const lat_vec *vb = &cand[1].v[ib];
            if (!(fabs(angle_deg(va->v, vb->v, va->len, vb->len) - p2[5]) < p->angle_tol))
                continue;
            for (int ic = 0; ic < cand[2].count; ic++) {
                const lat_vec *vc = &cand[2].v[ic];
                if (!(fabs(angle_deg(vb->v, vc->v, vb->len, vc->len) - p2[3]) < p->angle_tol))
                    continue;
                if (!(fabs(angle_deg(va->v, vc->v, va->len, vc->len) - p2[4]) < p->angle_tol))
                    continue;
                int S[3][3], Si[3][3];
                memcpy(S[0], va->n, sizeof S[0]);
                memcpy(S[1], vb->n, sizeof S[1]);
                memcpy(S[2], vc->n, sizeof S[2]);
                long d = det3i(S);
                if (d != 1 && d != -1)
                    continue;
                res->n_lattices++;
                inv3i_unimodular(S, Si);
                double latt[3][3], pl[6], pavg[6], avg[3][3];
                memcpy(latt[0], va->v, sizeof latt[0]);
                memcpy(latt[1], vb->v, sizeof latt[1]);
                memcpy(latt[2], vc->v, sizeof latt[2]);
                lattice_params(latt, pl);
                for (int k = 0; k < 6; k++)
                    pavg[k] = 0.5 * (pl[k] + p2[k]);
                lattice_from_params(pavg, avg);
                double vavg = fabs(det3(avg)), ravg[3];
                if (!(vavg > 0) || recip_lengths(avg, ravg))
                    continue;
                double norm = cbrt((double)n / vavg);
                double ftol[3], lll_ftol[3], lllL[3][3], rlll[3];
                for (int k = 0; k < 3; k++)
                    ftol[k] = 2.0 * ravg[k] * p->stol / norm;
                int T[3][3], Ti[3][3];
                lll_reduce(avg, lllL, T);
                long dT = det3i(T);
                if (dT != 1 && dT != -1)
                    continue;
                inv3i_unimodular(T, Ti);
                recip_lengths(lllL, rlll);
                for (int k = 0; k < 3; k++)
                    lll_ftol[k] = 2.0 * rlll[k] * p->stol / norm;
                /* s1 in the candidate basis: cart = f L1 = f' S L1, f' = f S^-1. */
                for (int i = 0; i < n; i++) {
                    vecmati(r1->frac[i], Si, w.f1[i]);
                    for (int k = 0; k < 3; k++)
                        w.f1[i][k] -= floor(w.f1[i][k]);
                }
                grid_build(&w, ftol);
                for (int s1i = 0; s1i < n; s1i++) {
                    if (r1->types[s1i] != r2->types[anchor])
                        continue;
                    double t[3];
                    for (int k = 0; k < 3; k++)
                        t[k] = w.f1[s1i][k] - w.f2[anchor][k];
                    for (int i = 0; i < n; i++)
                        for (int k = 0; k < 3; k++)
                            w.t2[i][k] = w.f2[i][k] + t[k];
                    /* The work budget (XG_MATCHER_MAX_WORK): checked before each trial. */
                    if (work > XG_MATCHER_MAX_WORK) {
                        rc = xg_error_set(err, XG_EUNSUPPORTED,
                                          "matching '%s' with '%s' (%d sites) exceeds the work "
                                          "bound (%.3g site comparisons) without a verdict; not "
                                          "assessed",
                                          r1->id, r2->id, n, (double)XG_MATCHER_MAX_WORK);
                        goto done;
                    }
                    /* Cheap test first: every s2 site inside the window of an s1 site. */
                    int subset = 1;
                    for (int i = 0; i < n && subset; i++)
                        subset = grid_has(&w, r1->types, r2->types[i], w.t2[i], ftol, &work);
                    if (!subset)
                        continue;
                    double mx, rms;
                    work += 8.0 * n * n; /* the assignment: cost matrix and solve, measured */
                    int tr = trial_distances(&w, r1->types, r2->types, Ti, lllL, lll_ftol,
                                             norm, &mx, &rms, err);
                    if (tr < 0) {
                        rc = -tr;
                        goto done;
                    }
                    if (tr > 0)
                        continue;
                    if (mx < p->stol)
                        fit_ok = 1;
                    if (mode == XG_MATCH_FIRST) {
                        if (mx < p->stol) {
                            best_rms = rms;
                            best_max = mx;
                            goto done;
                        }
                    } else if (rms < best_rms) {
                        best_rms = rms;
                        best_max = mx;
                        if (rms < 1e-5 && rms < p->stol)
                            goto done;
                    }
                }
            }
        }
    }
done:
    res->work = work;
    for (int k = 0; k < 3; k++)
        free(cand[k].v);
    scratch_free(&w);
    if (rc)
        return rc;
    res->match = fit_ok;
    if (fit_ok || (mode == XG_MATCH_BEST && best_rms < p->stol)) {
        res->rms = best_rms;
        res->max_dist = best_max;
    }
    return XG_OK;
}

int xg_matcher_fit(const xg_structure *s1, const xg_structure *s2, const xg_matcher_params *p,
                   xg_match_mode mode, xg_match_result *res, xg_error *err)
{
    xg_matcher_params def;
    if (!p) {
        xg_matcher_default_params(&def);
        p = &def;
    }
    if (!res)
        return xg_error_set(err, XG_EINVAL, "structure matching: result is NULL");
    memset(res, 0, sizeof *res);
    res->rms = res->max_dist = NAN;
    int rc = check_structure(s1, "structure 1", err);
    if (rc)
        return rc;
    rc = check_structure(s2, "structure 2", err);
    if (rc)
        return rc;
    /* Cheap exit before any reduction: fractional compositions must agree. */
    int c1[XG_MAX_Z + 1] = {0}, c2[XG_MAX_Z + 1] = {0};
    for (int i = 0; i < s1->natoms; i++)
        c1[s1->types[i]]++;
    for (int i = 0; i < s2->natoms; i++)
        c2[s2->types[i]]++;
    for (int z = 1; z <= XG_MAX_Z; z++)
        if ((long)c1[z] * s2->natoms != (long)c2[z] * s1->natoms)
            return XG_OK;
    xg_structure *r1 = NULL, *r2 = NULL;
    rc = xg_matcher_reduce(s1, p, &r1, err);
    if (!rc)
        rc = xg_matcher_reduce(s2, p, &r2, err);
    if (!rc)
        rc = xg_matcher_fit_reduced(r1, r2, p, mode, res, err);
    xg_structure_free(r1);
    xg_structure_free(r2);
    return rc;
}
