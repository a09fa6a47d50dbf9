/* xg_lattice.c: lattice math, rows are lattice vectors (see xg_lattice.h). */
#include "crystal/xg_lattice.h"
#include "crystal/xg_vec3.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* Iteration caps: a reduction that runs past these is looping on rounding noise (or the input is
 * absurd), and an error is better than a hang. LLL runs first and shrinks the work of Niggli to a
 * handful of steps, so the caps are far above what any sane cell needs. */
#define LLL_MAX_ITER 100000
#define NIGGLI_MAX_ITER 10000
/* Entries of T beyond this mean the input is so skewed that doubles cannot represent it. */
#define T_LIMIT 1000000000LL

/* cos and sin of an angle in degrees, exact at the right angles cells are full of, so a cubic
 * cell built from parameters has exact zeros off the diagonal. */
static void cos_sin_deg(double deg, double *c, double *s)
{
    if (deg == 90.0) {
        *c = 0.0;
        *s = 1.0;
    } else if (deg == 60.0) {
        *c = 0.5;
        *s = sin(deg * M_PI / 180.0);
    } else if (deg == 120.0) {
        *c = -0.5;
        *s = sin(deg * M_PI / 180.0);
    } else {
        *c = cos(deg * M_PI / 180.0);
        *s = sin(deg * M_PI / 180.0);
    }
}

int xg_lattice_from_params(double a, double b, double c, double alpha, double beta, double gamma,
                           double L[3][3], xg_error *err)
{
    if (!(a > 0 && b > 0 && c > 0) || !isfinite(a) || !isfinite(b) || !isfinite(c))
        return xg_error_set(err, XG_EINVAL,
                            "lattice parameters: lengths must be positive and finite (a=%g b=%g c=%g)",
                            a, b, c);
    if (!(alpha > 0 && alpha < 180 && beta > 0 && beta < 180 && gamma > 0 && gamma < 180))
        return xg_error_set(err, XG_EINVAL,
                            "lattice parameters: angles must lie in (0, 180) degrees "
                            "(alpha=%g beta=%g gamma=%g)",
                            alpha, beta, gamma);
    double ca, sa, cb, sb, cg, sg;
    cos_sin_deg(alpha, &ca, &sa);
    cos_sin_deg(beta, &cb, &sb);
    cos_sin_deg(gamma, &cg, &sg);
    (void)sa;
    (void)sb;
    double cy = (ca - cb * cg) / sg;
    double cz2 = 1.0 - cb * cb - cy * cy;
    if (!(cz2 > 1e-12))
        return xg_error_set(err, XG_EINVAL,
                            "lattice parameters: angles alpha=%g beta=%g gamma=%g admit no cell "
                            "(the three vectors would be coplanar)",
                            alpha, beta, gamma);
    double Lt[3][3] = {{a, 0, 0}, {b * cg, b * sg, 0}, {c * cb, c * cy, c * sqrt(cz2)}};
    memcpy(L, Lt, sizeof Lt);
    return XG_OK;
}

void xg_lattice_to_params(const double L[3][3], double params[6])
{
    double la = sqrt(xg_vec3_dot(L[0], L[0])), lb = sqrt(xg_vec3_dot(L[1], L[1])),
           lc = sqrt(xg_vec3_dot(L[2], L[2]));
    params[0] = la;
    params[1] = lb;
    params[2] = lc;
    /* Clamp: rounding can push a cosine of a degenerate angle just past +-1. */
    double cosv[3] = {xg_vec3_dot(L[1], L[2]) / (lb * lc), xg_vec3_dot(L[0], L[2]) / (la * lc),
                      xg_vec3_dot(L[0], L[1]) / (la * lb)};
    for (int i = 0; i < 3; i++) {
        double cv = cosv[i];
        if (cv > 1.0)
            cv = 1.0;
        if (cv < -1.0)
            cv = -1.0;
        params[3 + i] = acos(cv) * 180.0 / M_PI;
    }
}

double xg_lattice_volume_signed(const double L[3][3])
{
    double w[3];
    xg_vec3_cross(L[1], L[2], w);
    return xg_vec3_dot(L[0], w);
}

int xg_lattice_standard_orientation(const double L[3][3], double out[3][3], int *negated,
                                    xg_error *err)
{
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++)
            if (!isfinite(L[i][k]))
                return xg_error_set(err, XG_ENUMERIC, "standard orientation: non-finite lattice");
    double det = xg_lattice_volume_signed(L);
    double la = sqrt(xg_vec3_dot(L[0], L[0])), lb = sqrt(xg_vec3_dot(L[1], L[1])),
           lc = sqrt(xg_vec3_dot(L[2], L[2]));
    if (!(fabs(det) > 1e-12 * la * lb * lc))
        return xg_error_set(err, XG_ENUMERIC, "standard orientation: singular lattice (volume %g)",
                            det);
    double sgn = det < 0 ? -1.0 : 1.0;
    double M[3][3];
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++)
            M[i][k] = sgn * L[i][k];
    /* Orthonormal frame of the (now right-handed) basis: e1 along a, e2 in the ab plane, e3 =
     * e1 x e2. The new coordinates are the projections on this frame: a rotation, since M is
     * right-handed and the frame is too. */
    double e1[3], e2[3], e3[3];
    for (int k = 0; k < 3; k++)
        e1[k] = M[0][k] / la;
    double p = xg_vec3_dot(M[1], e1);
    for (int k = 0; k < 3; k++)
        e2[k] = M[1][k] - p * e1[k];
    double n2 = sqrt(xg_vec3_dot(e2, e2));
    for (int k = 0; k < 3; k++)
        e2[k] /= n2;
    xg_vec3_cross(e1, e2, e3);
    double o[3][3] = {{la, 0.0, 0.0},
                      {p, xg_vec3_dot(M[1], e2), 0.0},
                      {xg_vec3_dot(M[2], e1), xg_vec3_dot(M[2], e2), xg_vec3_dot(M[2], e3)}};
    memcpy(out, o, sizeof o);
    if (negated)
        *negated = det < 0;
    return XG_OK;
}

double xg_lattice_volume(const double L[3][3]) { return fabs(xg_lattice_volume_signed(L)); }

void xg_lattice_metric(const double L[3][3], double G[3][3])
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            G[i][j] = xg_vec3_dot(L[i], L[j]);
}

int xg_lattice_inverse(const double L[3][3], double inv[3][3], xg_error *err)
{
    double det = xg_lattice_volume_signed(L);
    double scale =
        sqrt(xg_vec3_dot(L[0], L[0]) * xg_vec3_dot(L[1], L[1]) * xg_vec3_dot(L[2], L[2]));
    if (!isfinite(det) || !isfinite(scale) || !(fabs(det) > 1e-12 * scale))
        return xg_error_set(err, XG_ENUMERIC,
                            "lattice is singular or not finite (det = %g): cannot invert", det);
    /* inv = adj(L) / det; the columns of inv are (a_j x a_k) / det. */
    double c0[3], c1[3], c2[3];
    xg_vec3_cross(L[1], L[2], c0);
    xg_vec3_cross(L[2], L[0], c1);
    xg_vec3_cross(L[0], L[1], c2);
    for (int i = 0; i < 3; i++) {
        inv[i][0] = c0[i] / det;
        inv[i][1] = c1[i] / det;
        inv[i][2] = c2[i] / det;
    }
    return XG_OK;
}

int xg_lattice_reciprocal(const double L[3][3], int two_pi, double R[3][3], xg_error *err)
{
    double inv[3][3];
    int rc = xg_lattice_inverse(L, inv, err);
    if (rc)
        return rc;
    double f = two_pi ? 2.0 * M_PI : 1.0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            R[i][j] = f * inv[j][i];
    return XG_OK;
}

void xg_lattice_widths(const double L[3][3], double w[3])
{
    double v = xg_lattice_volume(L);
    for (int i = 0; i < 3; i++) {
        double x[3];
        xg_vec3_cross(L[(i + 1) % 3], L[(i + 2) % 3], x);
        double n = sqrt(xg_vec3_dot(x, x));
        w[i] = n > 0 ? v / n : 0.0;
    }
}

void xg_lattice_frac_to_cart(const double L[3][3], const double *frac, int n, double *cart)
{
    for (int p = 0; p < n; p++) {
        double f[3] = {frac[3 * p], frac[3 * p + 1], frac[3 * p + 2]};
        for (int j = 0; j < 3; j++)
            cart[3 * p + j] = f[0] * L[0][j] + f[1] * L[1][j] + f[2] * L[2][j];
    }
}

int xg_lattice_cart_to_frac(const double L[3][3], const double *cart, int n, double *frac,
                            xg_error *err)
{
    double inv[3][3];
    int rc = xg_lattice_inverse(L, inv, err);
    if (rc)
        return rc;
    for (int p = 0; p < n; p++) {
        double c[3] = {cart[3 * p], cart[3 * p + 1], cart[3 * p + 2]};
        for (int j = 0; j < 3; j++)
            frac[3 * p + j] = c[0] * inv[0][j] + c[1] * inv[1][j] + c[2] * inv[2][j];
    }
    return XG_OK;
}

/* ---- reductions: T is kept as exact integers and the current basis is always recomputed as
 * T L from the input, so rounding never accumulates over many steps. ---- */

typedef long long tmat[3][3];

static void apply_T(tmat T, const double L[3][3], double out[3][3])
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            out[i][j] = (double)T[i][0] * L[0][j] + (double)T[i][1] * L[1][j] +
                        (double)T[i][2] * L[2][j];
}

static long long det_T(tmat T)
{
    return T[0][0] * (T[1][1] * T[2][2] - T[1][2] * T[2][1]) -
           T[0][1] * (T[1][0] * T[2][2] - T[1][2] * T[2][0]) +
           T[0][2] * (T[1][0] * T[2][1] - T[1][1] * T[2][0]);
}

static int T_too_big(tmat T)
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (llabs(T[i][j]) > T_LIMIT)
                return 1;
    return 0;
}

static int check_lattice(const double L[3][3], const char *what, xg_error *err)
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (!isfinite(L[i][j]))
                return xg_error_set(err, XG_ENUMERIC, "%s: lattice has a non-finite entry", what);
    double inv[3][3];
    int rc = xg_lattice_inverse(L, inv, err);
    if (rc)
        xg_error_prefix(err, rc, "%s", what);
    return rc;
}

/* LLL on T (rows of the current basis are T L). */
static int lll_core(const double L[3][3], double delta, tmat T, xg_error *err)
{
    double B[3][3], bs[3][3], mu[3][3], bn[3];
    int k = 1;
    for (long iter = 0;; iter++) {
        if (iter > LLL_MAX_ITER)
            return xg_error_set(err, XG_ENUMERIC, "LLL reduction did not converge in %d steps",
                                LLL_MAX_ITER);
        if (T_too_big(T))
            return xg_error_set(err, XG_ENUMERIC,
                                "LLL reduction: lattice too skewed to reduce in double precision");
        apply_T(T, L, B);
        /* Gram-Schmidt of the current basis. */
        for (int i = 0; i < 3; i++) {
            memcpy(bs[i], B[i], sizeof bs[i]);
            for (int j = 0; j < i; j++) {
                mu[i][j] = xg_vec3_dot(B[i], bs[j]) / bn[j];
                for (int x = 0; x < 3; x++)
                    bs[i][x] -= mu[i][j] * bs[j][x];
            }
            bn[i] = xg_vec3_dot(bs[i], bs[i]);
        }
        if (k >= 3)
            return XG_OK;
        /* Size reduction of b_k against b_{k-1} .. b_0 (one at a time, recomputing mu). */
        int changed = 0;
        for (int j = k - 1; j >= 0; j--) {
            /* The slack matters: a cell with |mu| = 1/2 exactly (60 degree angles are common)
             * would otherwise flip between +1/2 and -1/2 on rounding noise forever. */
            if (fabs(mu[k][j]) <= 0.5 + 1e-9)
                continue;
            double q = nearbyint(mu[k][j]);
            if (!(fabs(q) <= (double)T_LIMIT))
                return xg_error_set(err, XG_ENUMERIC,
                                    "LLL reduction: lattice too skewed or nearly singular "
                                    "(Gram-Schmidt coefficient %g)",
                                    mu[k][j]);
            if (q != 0.0) {
                long long qi = (long long)q;
                for (int x = 0; x < 3; x++)
                    T[k][x] -= qi * T[j][x];
                changed = 1;
                break;
            }
        }
        if (changed)
            continue;
        if (bn[k] >= (delta - mu[k][k - 1] * mu[k][k - 1]) * bn[k - 1]) {
            k++;
        } else {
            for (int x = 0; x < 3; x++) {
                long long t = T[k][x];
                T[k][x] = T[k - 1][x];
                T[k - 1][x] = t;
            }
            k = k > 1 ? k - 1 : 1;
        }
    }
}

static void store_T(tmat T, int out[3][3])
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            out[i][j] = (int)T[i][j];
}

int xg_lattice_lll(const double L[3][3], double delta, double out[3][3], int T[3][3],
                   xg_error *err)
{
    int rc = check_lattice(L, "LLL reduction", err);
    if (rc)
        return rc;
    if (!(delta > 0.25 && delta <= 1.0))
        delta = 0.75;
    tmat t = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    rc = lll_core(L, delta, t, err);
    if (rc)
        return rc;
    /* Swaps flip the handedness; negating all three vectors flips it back and keeps the basis
     * reduced, so det T = +1 always. */
    if (det_T(t) < 0)
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                t[i][j] = -t[i][j];
    if (out)
        apply_T(t, L, out);
    if (T)
        store_T(t, T);
    return XG_OK;
}

/* Replaces T by M T, M a small integer matrix in the row convention (new row i = sum_j M[i][j]
 * old row j). */
static void left_mul(tmat T, const long long Mm[3][3])
{
    tmat R;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            R[i][j] = Mm[i][0] * T[0][j] + Mm[i][1] * T[1][j] + Mm[i][2] * T[2][j];
    memcpy(T, R, sizeof R);
}

typedef struct {
    double A, B, C, xi, eta, zeta;
} g6;

static g6 params_of(tmat T, const double L[3][3])
{
    double Lc[3][3];
    apply_T(T, L, Lc);
    g6 g = {xg_vec3_dot(Lc[0], Lc[0]),     xg_vec3_dot(Lc[1], Lc[1]),     xg_vec3_dot(Lc[2], Lc[2]),
            2 * xg_vec3_dot(Lc[1], Lc[2]), 2 * xg_vec3_dot(Lc[0], Lc[2]),
            2 * xg_vec3_dot(Lc[0], Lc[1])};
    return g;
}

static long long sgn(double x) { return x > 0 ? 1 : -1; }

int xg_lattice_niggli(const double L[3][3], double eps_rel, double out[3][3], int T[3][3],
                      xg_error *err)
{
    int rc = check_lattice(L, "Niggli reduction", err);
    if (rc)
        return rc;
    if (!(eps_rel > 0))
        eps_rel = XG_NIGGLI_EPS;
    const double e = eps_rel * cbrt(xg_lattice_volume(L));

    /* LLL first: Krivy-Gruber removes one multiple of a vector per step, so a strongly skewed
     * cell would take millions of steps; after LLL only a few remain. */
    tmat t = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    rc = lll_core(L, 0.75, t, err);
    if (rc) {
        xg_error_prefix(err, rc, "Niggli reduction");
        return rc;
    }
    if (det_T(t) < 0)
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                t[i][j] = -t[i][j];

    int converged = 0;
    for (int iter = 0; iter < NIGGLI_MAX_ITER && !converged; iter++) {
        if (T_too_big(t))
            return xg_error_set(err, XG_ENUMERIC, "Niggli reduction: transformation overflow");
        g6 g = params_of(t, L);
        /* A1: order A <= B, with |xi| <= |eta| on ties. (a,b,c) -> (-b,-a,-c). */
        if (g.A > g.B + e || (fabs(g.A - g.B) <= e && fabs(g.xi) > fabs(g.eta) + e)) {
            const long long m[3][3] = {{0, -1, 0}, {-1, 0, 0}, {0, 0, -1}};
            left_mul(t, m);
            g = params_of(t, L);
        }
        /* A2: order B <= C, with |eta| <= |zeta| on ties. (a,b,c) -> (-a,-c,-b); back to A1. */
        if (g.B > g.C + e || (fabs(g.B - g.C) <= e && fabs(g.eta) > fabs(g.zeta) + e)) {
            const long long m[3][3] = {{-1, 0, 0}, {0, 0, -1}, {0, -1, 0}};
            left_mul(t, m);
            continue;
        }
        /* A3/A4: make xi, eta, zeta all positive (type I) or all non-positive (type II), by
         * sign flips of the vectors with det +1. Signs are judged with the tolerance e. */
        {
            double v[3] = {g.xi, g.eta, g.zeta};
            int npos = 0, nzero = 0;
            for (int i = 0; i < 3; i++) {
                if (v[i] < -e)
                    ;
                else if (!(v[i] > e))
                    nzero++;
                else
                    npos++;
            }
            long long f[3] = {1, 1, 1};
            if (npos == 3 || (nzero == 0 && npos == 1)) {
                for (int i = 0; i < 3; i++)
                    if (v[i] < -e)
                        f[i] = -1;
            } else {
                int z = -1;
                for (int i = 0; i < 3; i++) {
                    if (v[i] > e)
                        f[i] = -1;
                    else if (!(v[i] < -e))
                        z = i;
                }
                if (f[0] * f[1] * f[2] < 0) {
                    if (z < 0)
                        return xg_error_set(err, XG_ENUMERIC,
                                            "Niggli reduction: inconsistent sign pattern");
                    f[z] = -1;
                }
            }
            /* f0 f1 f2 = +1 in both branches, so flipping vector i by f_i multiplies the
             * product opposite it (xi for a, eta for b, zeta for c) by f_j f_k = f_i, which is
             * exactly the sign change wanted, and det diag(f) = +1. */
            if (f[0] != 1 || f[1] != 1 || f[2] != 1) {
                const long long m[3][3] = {{f[0], 0, 0}, {0, f[1], 0}, {0, 0, f[2]}};
                left_mul(t, m);
                g = params_of(t, L);
            }
        }
        /* A5: |xi| > B: c -> c - sign(xi) b. */
        if (fabs(g.xi) > g.B + e || (fabs(g.xi - g.B) <= e && 2 * g.eta < g.zeta - e) ||
            (fabs(g.xi + g.B) <= e && g.zeta < -e)) {
            long long s = sgn(g.xi);
            const long long m[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, -s, 1}};
            left_mul(t, m);
            continue;
        }
        /* A6: |eta| > A: c -> c - sign(eta) a. */
        if (fabs(g.eta) > g.A + e || (fabs(g.eta - g.A) <= e && 2 * g.xi < g.zeta - e) ||
            (fabs(g.eta + g.A) <= e && g.zeta < -e)) {
            long long s = sgn(g.eta);
            const long long m[3][3] = {{1, 0, 0}, {0, 1, 0}, {-s, 0, 1}};
            left_mul(t, m);
            continue;
        }
        /* A7: |zeta| > A: b -> b - sign(zeta) a. */
        if (fabs(g.zeta) > g.A + e || (fabs(g.zeta - g.A) <= e && 2 * g.xi < g.eta - e) ||
            (fabs(g.zeta + g.A) <= e && g.eta < -e)) {
            long long s = sgn(g.zeta);
            const long long m[3][3] = {{1, 0, 0}, {-s, 1, 0}, {0, 0, 1}};
            left_mul(t, m);
            continue;
        }
        /* A8: c -> a + b + c when that is shorter (or equal, by the tie rule). */
        double sum = g.xi + g.eta + g.zeta + g.A + g.B;
        if (sum < -e || (fabs(sum) <= e && 2 * (g.A + g.eta) + g.zeta > e)) {
            const long long m[3][3] = {{1, 0, 0}, {0, 1, 0}, {1, 1, 1}};
            left_mul(t, m);
            continue;
        }
        converged = 1;
    }
    if (!converged)
        return xg_error_set(err, XG_ENUMERIC,
                            "Niggli reduction did not converge in %d steps (epsilon %g)",
                            NIGGLI_MAX_ITER, e);
    if (out)
        apply_T(t, L, out);
    if (T)
        store_T(t, T);
    return XG_OK;
}
