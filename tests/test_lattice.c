/* test_lattice.c: lattice parameters, volume, metric, inverse and reciprocal identities, and the
 * Niggli and LLL reductions against known reduced cells and against skewed copies of them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_lattice.h"
#include "xg_test.h"

#define CL(x) ((const double(*)[3])(x))

/* Deterministic pseudo-random numbers (the test must not depend on the library's RNG). */
static unsigned long long lcg_state = 12345;
static double urand(void)
{
    lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(lcg_state >> 11) / 9007199254740992.0;
}

static void matmul_int(const int U[3][3], const double L[3][3], double out[3][3])
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            out[i][j] = U[i][0] * L[0][j] + U[i][1] * L[1][j] + U[i][2] * L[2][j];
}

static int det_int(const int T[3][3])
{
    return T[0][0] * (T[1][1] * T[2][2] - T[1][2] * T[2][1]) -
           T[0][1] * (T[1][0] * T[2][2] - T[1][2] * T[2][0]) +
           T[0][2] * (T[1][0] * T[2][1] - T[1][1] * T[2][0]);
}

static void g6_of(const double L[3][3], double g[6])
{
    double G[3][3];
    xg_lattice_metric(L, G);
    g[0] = G[0][0];
    g[1] = G[1][1];
    g[2] = G[2][2];
    g[3] = 2 * G[1][2];
    g[4] = 2 * G[0][2];
    g[5] = 2 * G[0][1];
}

/* The main Niggli conditions (International Tables A, 9.2): ordering, all-acute or all-non-acute
 * and the bounds on the off-diagonal terms, to a tolerance. */
static int is_niggli(const double L[3][3], double tol)
{
    double g[6];
    g6_of(L, g);
    double A = g[0], B = g[1], C = g[2], xi = g[3], eta = g[4], zeta = g[5];
    if (A > B + tol || B > C + tol)
        return 0;
    int allpos = xi > tol && eta > tol && zeta > tol;
    int allnonpos = xi <= tol && eta <= tol && zeta <= tol;
    if (!allpos && !allnonpos)
        return 0;
    if (fabs(xi) > B + tol || fabs(eta) > A + tol || fabs(zeta) > A + tol)
        return 0;
    if (xi + eta + zeta + A + B < -tol)
        return 0;
    return 1;
}

static void assert_reduction(const double L[3][3], const double R[3][3], const int T[3][3])
{
    CU_ASSERT_EQUAL(det_int(T), 1);
    double TL[3][3];
    matmul_int(T, L, TL);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            XG_ASSERT_NEAR(TL[i][j], R[i][j], 1e-9 * (1 + fabs(R[i][j])));
    XG_ASSERT_NEAR(xg_lattice_volume_signed(R), xg_lattice_volume_signed(L),
                   1e-9 * xg_lattice_volume(L));
}

static void test_params_cubic_hex(void)
{
    double L[3][3];
    CU_ASSERT_EQUAL_FATAL(xg_lattice_from_params(4, 4, 4, 90, 90, 90, L, NULL), XG_OK);
    double cubic[3][3] = {{4, 0, 0}, {0, 4, 0}, {0, 0, 4}};
    CU_ASSERT_EQUAL(memcmp(L, cubic, sizeof L), 0); /* exact zeros at right angles */

    CU_ASSERT_EQUAL_FATAL(xg_lattice_from_params(3, 3, 5, 90, 90, 120, L, NULL), XG_OK);
    XG_ASSERT_NEAR(L[1][0], -1.5, 1e-12);
    XG_ASSERT_NEAR(L[1][1], 1.5 * sqrt(3.0), 1e-12);
    XG_ASSERT_NEAR(L[2][2], 5, 1e-12);
    XG_ASSERT_NEAR(xg_lattice_volume(CL(L)), 9 * sqrt(3.0) / 2 * 5, 1e-9);
}

static void test_params_round_trip(void)
{
    for (int t = 0; t < 500; t++) {
        double a = 2 + 10 * urand(), b = 2 + 10 * urand(), c = 2 + 10 * urand();
        double al = 40 + 100 * urand(), be = 40 + 100 * urand(), ga = 40 + 100 * urand();
        double L[3][3];
        if (xg_lattice_from_params(a, b, c, al, be, ga, L, NULL) != XG_OK)
            continue; /* some random angle triples admit no cell */
        /* a along x, b in the xy plane, right-handed. */
        CU_ASSERT(L[0][1] == 0 && L[0][2] == 0 && L[1][2] == 0);
        CU_ASSERT(L[0][0] > 0 && L[1][1] > 0 && L[2][2] > 0);
        CU_ASSERT(xg_lattice_volume_signed(CL(L)) > 0);
        double p[6];
        xg_lattice_to_params(CL(L), p);
        double want[6] = {a, b, c, al, be, ga};
        for (int k = 0; k < 6; k++)
            XG_ASSERT_NEAR(p[k], want[k], 1e-9 * (1 + want[k]));
        /* The textbook volume formula. */
        double ca = cos(al * M_PI / 180), cb = cos(be * M_PI / 180), cg = cos(ga * M_PI / 180);
        double v = a * b * c * sqrt(1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg);
        XG_ASSERT_NEAR(xg_lattice_volume(CL(L)), v, 1e-9 * v);
    }
}

static void test_params_invalid(void)
{
    double L[3][3];
    xg_error err;
    CU_ASSERT_EQUAL(xg_lattice_from_params(-1, 2, 3, 90, 90, 90, L, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_lattice_from_params(1, 0, 3, 90, 90, 90, L, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_lattice_from_params(1, 2, NAN, 90, 90, 90, L, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_lattice_from_params(1, 2, INFINITY, 90, 90, 90, L, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_lattice_from_params(1, 2, 3, 0, 90, 90, L, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_lattice_from_params(1, 2, 3, 90, 180, 90, L, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_lattice_from_params(1, 2, 3, 90, 90, NAN, L, &err), XG_EINVAL);
    /* alpha > beta + gamma: the three vectors cannot close into a cell. */
    CU_ASSERT_EQUAL(xg_lattice_from_params(1, 2, 3, 100, 10, 10, L, &err), XG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no cell"));
    /* alpha + beta + gamma = 360: flat. */
    CU_ASSERT_EQUAL(xg_lattice_from_params(1, 1, 1, 120, 120, 120, L, &err), XG_EINVAL);
}

static void test_volume_metric(void)
{
    double L[3][3] = {{3, 0, 0}, {1, 4, 0}, {0.5, -1, 5}};
    XG_ASSERT_NEAR(xg_lattice_volume_signed(CL(L)), 60, 1e-12);
    double Lleft[3][3] = {{1, 4, 0}, {3, 0, 0}, {0.5, -1, 5}}; /* a and b swapped */
    XG_ASSERT_NEAR(xg_lattice_volume_signed(CL(Lleft)), -60, 1e-12);
    XG_ASSERT_NEAR(xg_lattice_volume(CL(Lleft)), 60, 1e-12);
    double G[3][3];
    xg_lattice_metric(CL(L), G);
    XG_ASSERT_NEAR(G[0][0], 9, 1e-12);
    XG_ASSERT_NEAR(G[1][1], 17, 1e-12);
    XG_ASSERT_NEAR(G[0][1], 3, 1e-12);
    XG_ASSERT_NEAR(G[1][0], 3, 1e-12);
    XG_ASSERT_NEAR(G[1][2], -3.5, 1e-12);
    XG_ASSERT_NEAR(G[2][2], 26.25, 1e-12);
    /* det G = V^2. */
    double detG = G[0][0] * (G[1][1] * G[2][2] - G[1][2] * G[2][1]) -
                  G[0][1] * (G[1][0] * G[2][2] - G[1][2] * G[2][0]) +
                  G[0][2] * (G[1][0] * G[2][1] - G[1][1] * G[2][0]);
    XG_ASSERT_NEAR(detG, 3600, 1e-9);
}

static void test_inverse_reciprocal(void)
{
    double L[3][3];
    CU_ASSERT_EQUAL_FATAL(xg_lattice_from_params(3.1, 4.7, 5.3, 71, 98, 113, L, NULL), XG_OK);
    double inv[3][3], R[3][3], R2[3][3];
    CU_ASSERT_EQUAL_FATAL(xg_lattice_inverse(CL(L), inv, NULL), XG_OK);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double s = 0;
            for (int k = 0; k < 3; k++)
                s += L[i][k] * inv[k][j];
            XG_ASSERT_NEAR(s, i == j, 1e-12);
        }
    CU_ASSERT_EQUAL_FATAL(xg_lattice_reciprocal(CL(L), 0, R, NULL), XG_OK);
    CU_ASSERT_EQUAL_FATAL(xg_lattice_reciprocal(CL(L), 1, R2, NULL), XG_OK);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double d = L[i][0] * R[j][0] + L[i][1] * R[j][1] + L[i][2] * R[j][2];
            double d2 = L[i][0] * R2[j][0] + L[i][1] * R2[j][1] + L[i][2] * R2[j][2];
            XG_ASSERT_NEAR(d, i == j, 1e-12);
            XG_ASSERT_NEAR(d2, i == j ? 2 * M_PI : 0, 1e-11);
        }
    /* V * V* = 1, and the reciprocal of the reciprocal is the lattice. */
    XG_ASSERT_NEAR(xg_lattice_volume(CL(L)) * xg_lattice_volume(CL(R)), 1, 1e-12);
    double RR[3][3];
    CU_ASSERT_EQUAL(xg_lattice_reciprocal(CL(R), 0, RR, NULL), XG_OK);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            XG_ASSERT_NEAR(RR[i][j], L[i][j], 1e-12);
    /* Widths are 1 / |b_i|. */
    double w[3];
    xg_lattice_widths(CL(L), w);
    for (int i = 0; i < 3; i++)
        XG_ASSERT_NEAR(w[i], 1 / sqrt(R[i][0] * R[i][0] + R[i][1] * R[i][1] + R[i][2] * R[i][2]),
                       1e-12);
    double cube[3][3] = {{2, 0, 0}, {0, 3, 0}, {0, 0, 4}};
    xg_lattice_widths(CL(cube), w);
    CU_ASSERT(fabs(w[0] - 2) < 1e-15 && fabs(w[1] - 3) < 1e-15 && fabs(w[2] - 4) < 1e-15);

    /* Singular and non-finite lattices are refused. */
    double sing[3][3] = {{1, 0, 0}, {0, 1, 0}, {1, 1, 0}};
    xg_error err;
    CU_ASSERT_EQUAL(xg_lattice_inverse(CL(sing), inv, &err), XG_ENUMERIC);
    CU_ASSERT_EQUAL(xg_lattice_reciprocal(CL(sing), 0, R, &err), XG_ENUMERIC);
    double bad[3][3] = {{1, 0, 0}, {0, NAN, 0}, {0, 0, 1}};
    CU_ASSERT_EQUAL(xg_lattice_inverse(CL(bad), inv, &err), XG_ENUMERIC);
}

static void test_frac_cart(void)
{
    double L[3][3];
    CU_ASSERT_EQUAL_FATAL(xg_lattice_from_params(3.1, 4.7, 5.3, 71, 98, 113, L, NULL), XG_OK);
    double f[4][3] = {{0, 0, 0}, {1, 0, 0}, {0.25, 0.5, 0.75}, {-0.3, 1.7, 0.1}};
    double c[4][3], back[4][3];
    xg_lattice_frac_to_cart(CL(L), &f[0][0], 4, &c[0][0]);
    for (int j = 0; j < 3; j++) {
        XG_ASSERT_NEAR(c[0][j], 0, 1e-15);
        XG_ASSERT_NEAR(c[1][j], L[0][j], 1e-15);
        XG_ASSERT_NEAR(c[2][j], 0.25 * L[0][j] + 0.5 * L[1][j] + 0.75 * L[2][j], 1e-12);
    }
    CU_ASSERT_EQUAL(xg_lattice_cart_to_frac(CL(L), &c[0][0], 4, &back[0][0], NULL), XG_OK);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            XG_ASSERT_NEAR(back[i][j], f[i][j], 1e-12);
    /* In place. */
    memcpy(back, f, sizeof f);
    xg_lattice_frac_to_cart(CL(L), &back[0][0], 4, &back[0][0]);
    CU_ASSERT_EQUAL(xg_lattice_cart_to_frac(CL(L), &back[0][0], 4, &back[0][0], NULL), XG_OK);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            XG_ASSERT_NEAR(back[i][j], f[i][j], 1e-12);
    double sing[3][3] = {{1, 0, 0}, {2, 0, 0}, {0, 0, 1}};
    xg_error err;
    CU_ASSERT_EQUAL(xg_lattice_cart_to_frac(CL(sing), &c[0][0], 4, &back[0][0], &err), XG_ENUMERIC);
}

/* fcc and bcc: the conventional cubic cell is already Niggli-reduced (a=b=c, 90 degrees); the
 * primitive cells reduce to the rhombohedral forms a/sqrt2, 60 degrees (fcc) and a*sqrt3/2,
 * 109.47 degrees (bcc), whichever primitive basis we start from. */
static void test_niggli_cubic(void)
{
    double a = 4.0;
    double conv[3][3] = {{a, 0, 0}, {0, a, 0}, {0, 0, a}};
    double R[3][3], p[6];
    int T[3][3];
    CU_ASSERT_EQUAL_FATAL(xg_lattice_niggli(CL(conv), 0, R, T, NULL), XG_OK);
    assert_reduction(CL(conv), CL(R), T);
    xg_lattice_to_params(CL(R), p);
    for (int k = 0; k < 3; k++) {
        XG_ASSERT_NEAR(p[k], a, 1e-12);
        XG_ASSERT_NEAR(p[3 + k], 90, 1e-9);
    }

    double fcc[3][3] = {{0, a / 2, a / 2}, {a / 2, 0, a / 2}, {a / 2, a / 2, 0}};
    double fcc2[3][3] = {{0, a / 2, a / 2}, {a / 2, 0, a / 2}, {a, a / 2, a / 2}}; /* c -> b + c */
    double *cells[2] = {&fcc[0][0], &fcc2[0][0]};
    for (int t = 0; t < 2; t++) {
        const double(*Lp)[3] = (const double(*)[3])cells[t];
        CU_ASSERT_EQUAL_FATAL(xg_lattice_niggli(Lp, 0, R, T, NULL), XG_OK);
        assert_reduction(Lp, CL(R), T);
        CU_ASSERT(is_niggli(CL(R), 1e-9));
        xg_lattice_to_params(CL(R), p);
        for (int k = 0; k < 3; k++) {
            XG_ASSERT_NEAR(p[k], a / sqrt(2.0), 1e-9);
            XG_ASSERT_NEAR(p[3 + k], 60, 1e-7);
        }
    }

    double bcc[3][3] = {{-a / 2, a / 2, a / 2}, {a / 2, -a / 2, a / 2}, {a / 2, a / 2, -a / 2}};
    CU_ASSERT_EQUAL_FATAL(xg_lattice_niggli(CL(bcc), 0, R, T, NULL), XG_OK);
    assert_reduction(CL(bcc), CL(R), T);
    CU_ASSERT(is_niggli(CL(R), 1e-9));
    xg_lattice_to_params(CL(R), p);
    for (int k = 0; k < 3; k++) {
        XG_ASSERT_NEAR(p[k], a * sqrt(3.0) / 2, 1e-9);
        XG_ASSERT_NEAR(p[3 + k], acos(-1.0 / 3) * 180 / M_PI, 1e-7);
    }
}

/* The worked example of Krivy & Gruber (1976): G6 (9, 27, 4, -5, -4, -22) reduces to the
 * all-acute form (4, 9, 9, 9, 3, 4), i.e. a, b, c = 2, 3, 3 and angles 60, 75.52, 70.53. That
 * cell sits exactly on Niggli boundaries (|xi| = B, zeta = A), so the rounded parameters the
 * paper prints (b = 5.196, angles in whole minutes) land on the neighbouring, obtuse form
 * (4, 9, 9, -8, -1, -4) instead: angles 116.3829, 94.7698, 109.4667, which is also what
 * pymatgen's own test of this input expects. Both cases are checked. */
static void test_niggli_krivy_gruber_example(void)
{
    double L[3][3], R[3][3], p[6], g[6];
    int T[3][3];
    CU_ASSERT_EQUAL_FATAL(xg_lattice_from_params(3, 5.196, 2, 103 + 55.0 / 60, 109 + 28.0 / 60,
                                                 134 + 53.0 / 60, L, NULL),
                          XG_OK);
    CU_ASSERT_EQUAL_FATAL(xg_lattice_niggli(CL(L), 0, R, T, NULL), XG_OK);
    assert_reduction(CL(L), CL(R), T);
    xg_lattice_to_params(CL(R), p);
    double want[6] = {2, 3, 3, 116.382855225, 94.769790288, 109.466666667};
    for (int k = 0; k < 6; k++)
        XG_ASSERT_NEAR(p[k], want[k], 1e-3);

    /* The same example built exactly from its metric (Cholesky-like construction). */
    double A = 9, B = 27, C = 4, xi = -5, eta = -4, zeta = -22;
    double a = sqrt(A), b = sqrt(B), c = sqrt(C);
    CU_ASSERT_EQUAL_FATAL(xg_lattice_from_params(a, b, c, acos(xi / (2 * b * c)) * 180 / M_PI,
                                                 acos(eta / (2 * a * c)) * 180 / M_PI,
                                                 acos(zeta / (2 * a * b)) * 180 / M_PI, L, NULL),
                          XG_OK);
    CU_ASSERT_EQUAL_FATAL(xg_lattice_niggli(CL(L), 0, R, T, NULL), XG_OK);
    g6_of(CL(R), g);
    double wg[6] = {4, 9, 9, 9, 3, 4};
    for (int k = 0; k < 6; k++)
        XG_ASSERT_NEAR(g[k], wg[k], 1e-9);
}

/* Skewed copies of reduced cells, made with unimodular integer matrices (some with large
 * entries), must reduce to the same Niggli parameters; T must be exact and det T = +1. */
static void test_niggli_skewed(void)
{
    double bases[4][6] = {
        {3.0, 4.0, 5.0, 90, 90, 90},
        {2.9, 3.3, 7.1, 80.5, 85.2, 70.3},
        {4.2, 4.2, 6.8, 90, 90, 120},
        {3.5, 4.1, 4.6, 101.0, 97.0, 93.5},
    };
    int U[5][3][3] = {
        {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}},
        {{1, 1, 0}, {0, 1, 0}, {0, 0, 1}},
        {{1, 7, -3}, {0, 1, 5}, {0, 0, 1}},
        {{2, 1, 1}, {1, 1, 1}, {1, 1, 2}},            /* det 1 */
        {{13, 8, 0}, {8, 5, 0}, {-40, 3, 1}},         /* det 1, strongly skewed */
    };
    for (int bi = 0; bi < 4; bi++) {
        double L[3][3], R0[3][3], g0[6];
        int T[3][3];
        double *p = bases[bi];
        CU_ASSERT_EQUAL_FATAL(xg_lattice_from_params(p[0], p[1], p[2], p[3], p[4], p[5], L, NULL),
                              XG_OK);
        CU_ASSERT_EQUAL_FATAL(xg_lattice_niggli(CL(L), 0, R0, T, NULL), XG_OK);
        CU_ASSERT(is_niggli(CL(R0), 1e-6));
        g6_of(CL(R0), g0);
        for (int ui = 0; ui < 5; ui++) {
            CU_ASSERT_EQUAL(det_int(U[ui]), 1);
            double S[3][3], R[3][3], g[6];
            matmul_int(U[ui], CL(L), S);
            CU_ASSERT_EQUAL_FATAL(xg_lattice_niggli(CL(S), 0, R, T, NULL), XG_OK);
            assert_reduction(CL(S), CL(R), T);
            CU_ASSERT(is_niggli(CL(R), 1e-6));
            g6_of(CL(R), g);
            for (int k = 0; k < 6; k++)
                XG_ASSERT_NEAR(g[k], g0[k], 1e-7 * (1 + fabs(g0[k])));
            /* Idempotent: a reduced cell reduces to itself. */
            double R2[3][3], g2[6];
            CU_ASSERT_EQUAL(xg_lattice_niggli(CL(R), 0, R2, T, NULL), XG_OK);
            g6_of(CL(R2), g2);
            for (int k = 0; k < 6; k++)
                XG_ASSERT_NEAR(g2[k], g[k], 1e-7 * (1 + fabs(g[k])));
        }
    }
}

/* Random lattices and random unimodular skews: the reduction always terminates, and the two
 * cells of one lattice always give the same Niggli parameters. */
static void test_niggli_random(void)
{
    int fails = 0, mismatches = 0;
    for (int t = 0; t < 2000; t++) {
        double L[3][3];
        if (xg_lattice_from_params(2 + 8 * urand(), 2 + 8 * urand(), 2 + 8 * urand(),
                                   30 + 120 * urand(), 30 + 120 * urand(), 30 + 120 * urand(), L,
                                   NULL) != XG_OK)
            continue;
        int U[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
        for (int k = 0; k < 8; k++) {
            int r = (int)(3 * urand()), c = (r + 1 + (int)(2 * urand())) % 3;
            int m = (int)(7 * urand()) - 3;
            for (int j = 0; j < 3; j++)
                U[r][j] += m * U[c][j];
        }
        double S[3][3], R1[3][3], R2[3][3], g1[6], g2[6];
        int T[3][3];
        matmul_int(U, CL(L), S);
        if (xg_lattice_niggli(CL(L), 0, R1, T, NULL) || xg_lattice_niggli(CL(S), 0, R2, T, NULL)) {
            fails++;
            continue;
        }
        g6_of(CL(R1), g1);
        g6_of(CL(R2), g2);
        for (int k = 0; k < 6; k++)
            if (fabs(g1[k] - g2[k]) > 1e-6 * (1 + fabs(g1[k]))) {
                mismatches++;
                break;
            }
    }
    CU_ASSERT_EQUAL(fails, 0);
    CU_ASSERT_EQUAL(mismatches, 0);
}

static void test_niggli_bad_input(void)
{
    double R[3][3];
    int T[3][3];
    xg_error err;
    double sing[3][3] = {{1, 0, 0}, {0, 1, 0}, {2, 3, 0}};
    CU_ASSERT_EQUAL(xg_lattice_niggli(CL(sing), 0, R, T, &err), XG_ENUMERIC);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "Niggli"));
    double nan[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, NAN}};
    CU_ASSERT_EQUAL(xg_lattice_niggli(CL(nan), 0, R, T, &err), XG_ENUMERIC);
    double inf[3][3] = {{INFINITY, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    CU_ASSERT_EQUAL(xg_lattice_niggli(CL(inf), 0, R, T, &err), XG_ENUMERIC);
    CU_ASSERT_EQUAL(xg_lattice_lll(CL(sing), 0, R, T, &err), XG_ENUMERIC);
    /* Without an error struct the code must still come back (a bug once returned XG_OK). */
    CU_ASSERT_EQUAL(xg_lattice_niggli(CL(sing), 0, R, T, NULL), XG_ENUMERIC);
    CU_ASSERT_EQUAL(xg_lattice_lll(CL(sing), 0, R, T, NULL), XG_ENUMERIC);
    CU_ASSERT_EQUAL(xg_lattice_niggli(CL(nan), 0, NULL, NULL, NULL), XG_ENUMERIC);
    /* Absurdly skewed (a needle of a cell): either reduced correctly or refused, never a hang. */
    double needle[3][3] = {{1, 0, 0}, {1e9, 1, 0}, {0, 0, 1}};
    int rc = xg_lattice_niggli(CL(needle), 0, R, T, &err);
    if (rc == XG_OK) {
        double p[6];
        xg_lattice_to_params(CL(R), p);
        XG_ASSERT_NEAR(p[0], 1, 1e-6);
        XG_ASSERT_NEAR(p[1], 1, 1e-6);
    } else {
        CU_ASSERT_EQUAL(rc, XG_ENUMERIC);
    }
    /* Left-handed input: T still has det +1 and the cell keeps its handedness. */
    double left[3][3] = {{0, 3, 0}, {2, 0, 0}, {0.5, 0.7, 4}};
    CU_ASSERT_EQUAL_FATAL(xg_lattice_niggli(CL(left), 0, R, T, NULL), XG_OK);
    assert_reduction(CL(left), CL(R), T);
    CU_ASSERT(xg_lattice_volume_signed(CL(R)) < 0);
}

static void test_lll(void)
{
    double L[3][3];
    CU_ASSERT_EQUAL_FATAL(xg_lattice_from_params(3.0, 3.5, 4.0, 88, 92, 95, L, NULL), XG_OK);
    int U[3][3] = {{13, 8, 0}, {8, 5, 0}, {-40, 3, 1}};
    double S[3][3], R[3][3];
    int T[3][3];
    matmul_int(U, CL(L), S);
    CU_ASSERT_EQUAL_FATAL(xg_lattice_lll(CL(S), 0, R, T, NULL), XG_OK);
    assert_reduction(CL(S), CL(R), T);
    /* Nearly orthogonal input: LLL recovers vectors of the original lengths (in some order). */
    double len[3], want[3] = {3.0, 3.5, 4.0};
    for (int i = 0; i < 3; i++)
        len[i] = sqrt(R[i][0] * R[i][0] + R[i][1] * R[i][1] + R[i][2] * R[i][2]);
    for (int k = 0; k < 3; k++) {
        int found = 0;
        for (int i = 0; i < 3; i++)
            found |= fabs(len[i] - want[k]) < 1e-9;
        CU_ASSERT(found);
    }
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"params: cubic and hexagonal", test_params_cubic_hex},
        {"params: round trip", test_params_round_trip},
        {"params: invalid", test_params_invalid},
        {"volume and metric", test_volume_metric},
        {"inverse and reciprocal", test_inverse_reciprocal},
        {"frac <-> cart", test_frac_cart},
        {"niggli: cubic, fcc, bcc", test_niggli_cubic},
        {"niggli: Krivy-Gruber example", test_niggli_krivy_gruber_example},
        {"niggli: skewed copies", test_niggli_skewed},
        {"niggli: random lattices", test_niggli_random},
        {"niggli: bad input", test_niggli_bad_input},
        {"lll", test_lll},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("lattice", tests);
}
