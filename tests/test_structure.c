/* test_structure.c: structure lifetime, formulas in pymatgen's conventions, density, the
 * periodic minimum distance (against a brute-force search and across cell choices), wrapping. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_elements.h"
#include "crystal/xg_lattice.h"
#include "crystal/xg_matcher.h"
#include "crystal/xg_structure.h"
#include "xg_test.h"

#define CL(x) ((const double(*)[3])(x))

static unsigned long long lcg_state = 987654321;
static double urand(void)
{
    lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(lcg_state >> 11) / 9007199254740992.0;
}

/* A structure from a composition: symbols[k] repeated counts[k] times, positions arbitrary. */
static xg_structure *make_comp(const char **symbols, const int *counts, int n)
{
    int total = 0;
    for (int k = 0; k < n; k++)
        total += counts[k];
    xg_structure *s = xg_structure_alloc(total);
    if (!s)
        return NULL;
    int i = 0;
    for (int k = 0; k < n; k++)
        for (int c = 0; c < counts[k]; c++) {
            s->types[i] = xg_element_from_symbol(symbols[k]);
            s->frac[i][0] = (double)i / total;
            s->frac[i][1] = 0.5 * i / total;
            s->frac[i][2] = 0.25;
            i++;
        }
    s->lattice[0][0] = s->lattice[1][1] = s->lattice[2][2] = 5.0;
    return s;
}

/* Rocksalt NaCl, conventional cubic cell, 8 atoms. */
static xg_structure *make_rocksalt(double a)
{
    xg_structure *s = xg_structure_alloc(8);
    if (!s)
        return NULL;
    double fcc[4][3] = {{0, 0, 0}, {0, 0.5, 0.5}, {0.5, 0, 0.5}, {0.5, 0.5, 0}};
    for (int i = 0; i < 4; i++) {
        s->types[i] = 11;
        s->types[4 + i] = 17;
        for (int k = 0; k < 3; k++) {
            s->frac[i][k] = fcc[i][k];
            s->frac[4 + i][k] = fcc[i][k] + (k == 0 ? 0.5 : 0);
        }
    }
    s->lattice[0][0] = s->lattice[1][1] = s->lattice[2][2] = a;
    return s;
}

/* Brute force: every pair (and every atom with its own images) over a wide block of images. */
static double brute_min_distance(const xg_structure *s, int range)
{
    double best = INFINITY;
    for (int i = 0; i < s->natoms; i++)
        for (int j = i; j < s->natoms; j++)
            for (int a = -range; a <= range; a++)
                for (int b = -range; b <= range; b++)
                    for (int c = -range; c <= range; c++) {
                        if (i == j && a == 0 && b == 0 && c == 0)
                            continue;
                        double f[3] = {s->frac[j][0] - s->frac[i][0] + a,
                                       s->frac[j][1] - s->frac[i][1] + b,
                                       s->frac[j][2] - s->frac[i][2] + c};
                        double r2 = 0;
                        for (int k = 0; k < 3; k++) {
                            double x = f[0] * s->lattice[0][k] + f[1] * s->lattice[1][k] +
                                       f[2] * s->lattice[2][k];
                            r2 += x * x;
                        }
                        if (r2 < best * best)
                            best = sqrt(r2);
                    }
    return best;
}

/* The same crystal in another cell of the same lattice: L' = U L, x' = x U^-1 (U unimodular,
 * Uinv its integer inverse). */
static xg_structure *recell(const xg_structure *s, const int U[3][3], const int Uinv[3][3])
{
    xg_structure *t = xg_structure_copy(s);
    if (!t)
        return NULL;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            t->lattice[i][j] = U[i][0] * s->lattice[0][j] + U[i][1] * s->lattice[1][j] +
                               U[i][2] * s->lattice[2][j];
    for (int n = 0; n < s->natoms; n++)
        for (int j = 0; j < 3; j++)
            t->frac[n][j] = s->frac[n][0] * Uinv[0][j] + s->frac[n][1] * Uinv[1][j] +
                            s->frac[n][2] * Uinv[2][j];
    return t;
}

static void test_lifetime(void)
{
    CU_ASSERT_PTR_NULL(xg_structure_alloc(-1));
    xg_structure *e = xg_structure_alloc(0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->natoms, 0);
    xg_structure_free(e);
    xg_structure_free(NULL);

    xg_structure *s = make_rocksalt(5.64);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    strcpy(s->id, "mp-22862");
    xg_structure *c = xg_structure_copy(s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(c->natoms, 8);
    CU_ASSERT_STRING_EQUAL(c->id, "mp-22862");
    CU_ASSERT(c->types != s->types && c->frac != s->frac);
    CU_ASSERT_EQUAL(memcmp(c->types, s->types, 8 * sizeof(int)), 0);
    CU_ASSERT_EQUAL(memcmp(c->frac, s->frac, 8 * sizeof(double[3])), 0);
    CU_ASSERT_EQUAL(memcmp(c->lattice, s->lattice, sizeof c->lattice), 0);
    CU_ASSERT_PTR_NULL(xg_structure_copy(NULL));

    xg_error err;
    CU_ASSERT_EQUAL(xg_structure_resize(c, 10, &err), XG_OK);
    CU_ASSERT_EQUAL(c->natoms, 10);
    CU_ASSERT_EQUAL(c->types[7], 17);
    CU_ASSERT_EQUAL(c->types[9], 0); /* new atoms are zeroed */
    CU_ASSERT_EQUAL(c->frac[9][2], 0.0);
    CU_ASSERT_EQUAL(xg_structure_resize(c, 2, &err), XG_OK);
    CU_ASSERT_EQUAL(c->natoms, 2);
    CU_ASSERT_EQUAL(c->types[1], 11);
    CU_ASSERT_EQUAL(xg_structure_resize(c, 0, &err), XG_OK);
    CU_ASSERT_EQUAL(xg_structure_resize(c, -1, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_structure_resize(NULL, 3, &err), XG_EINVAL);
    xg_structure_free(c);
    xg_structure_free(s);
}

static void check_formulas(const char **sym, const int *cnt, int n, const char *formula,
                           const char *reduced, const char *chemsys)
{
    xg_structure *s = make_comp(sym, cnt, n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    char buf[256];
    if (formula) {
        CU_ASSERT_EQUAL(xg_structure_formula(s, buf, sizeof buf), XG_OK);
        CU_ASSERT_STRING_EQUAL(buf, formula);
        if (strcmp(buf, formula))
            printf("\n    formula: got %s, want %s", buf, formula);
    }
    CU_ASSERT_EQUAL(xg_structure_reduced_formula(s, buf, sizeof buf), XG_OK);
    CU_ASSERT_STRING_EQUAL(buf, reduced);
    if (strcmp(buf, reduced))
        printf("\n    reduced formula: got %s, want %s", buf, reduced);
    if (chemsys) {
        CU_ASSERT_EQUAL(xg_structure_chemsys(s, buf, sizeof buf), XG_OK);
        CU_ASSERT_STRING_EQUAL(buf, chemsys);
    }
    xg_structure_free(s);
}

static void test_formulas(void)
{
    /* Atoms deliberately listed out of order: the order comes from electronegativity. */
    const char *fe2o3[] = {"O", "Fe"};
    check_formulas(fe2o3, (int[]){6, 4}, 2, "Fe4 O6", "Fe2O3", "Fe-O");
    const char *nacl[] = {"Cl", "Na"};
    check_formulas(nacl, (int[]){4, 4}, 2, "Na4 Cl4", "NaCl", "Cl-Na");
    const char *lfpo[] = {"O", "P", "Fe", "Li"};
    check_formulas(lfpo, (int[]){16, 4, 4, 4}, 4, "Li4 Fe4 P4 O16", "LiFePO4", "Fe-Li-O-P");
    const char *cofen[] = {"N", "Fe", "Co"};
    check_formulas(cofen, (int[]){1, 3, 1}, 3, "Fe3 Co1 N1", "Fe3CoN", "Co-Fe-N");
    const char *fe[] = {"Fe"};
    check_formulas(fe, (int[]){2}, 1, "Fe2", "Fe", "Fe");
    /* pymatgen's special formulas for diatomic gases and peroxides. */
    const char *o[] = {"O"};
    check_formulas(o, (int[]){8}, 1, "O8", "O2", "O");
    const char *h[] = {"H"};
    check_formulas(h, (int[]){1}, 1, "H1", "H2", "H");
    const char *li2o2[] = {"Li", "O"};
    check_formulas(li2o2, (int[]){4, 4}, 2, NULL, "Li2O2", NULL);
    check_formulas(li2o2, (int[]){2, 4}, 2, NULL, "LiO2", NULL); /* superoxide stays */
    check_formulas(li2o2, (int[]){4, 2}, 2, NULL, "Li2O", NULL);
    /* pymatgen groups the last two elements when they differ by < 1.65 in electronegativity
     * and still share a factor (MP-20 pretty_formula: "RbAl(SO4)2", "Ho(CuSi)2"). */
    const char *bpo[] = {"Ba", "P", "O"};
    check_formulas(bpo, (int[]){1, 2, 6}, 3, "Ba1 P2 O6", "Ba(PO3)2", "Ba-O-P");
    const char *rbalso[] = {"Rb", "Al", "S", "O"};
    check_formulas(rbalso, (int[]){1, 1, 2, 8}, 4, NULL, "RbAl(SO4)2", NULL);
    const char *hocusi[] = {"Si", "Cu", "Ho"};
    check_formulas(hocusi, (int[]){4, 4, 2}, 3, NULL, "Ho(CuSi)2", NULL);
    /* Equal electronegativity (Cu, Si both 1.90): pymatgen breaks the tie by symbol. */
    const char *sccusi[] = {"Si", "Sc", "Cu"};
    check_formulas(sccusi, (int[]){1, 1, 1}, 3, "Sc1 Cu1 Si1", "ScCuSi", NULL);
    const char *nmo[] = {"Nd", "Al", "Cu"};
    check_formulas(nmo, (int[]){1, 8, 4}, 3, "Nd1 Al8 Cu4", "Nd(Al2Cu)4", NULL);
    /* A group only when its counts still share a factor: Na2SO4, not Na2(SO4). */
    const char *naso[] = {"Na", "S", "O"};
    check_formulas(naso, (int[]){4, 2, 8}, 3, NULL, "Na2SO4", NULL);
    /* Elements without an electronegativity go last. */
    const char *hesio[] = {"He", "Si", "O"};
    check_formulas(hesio, (int[]){1, 1, 2}, 3, "Si1 O2 He1", "SiO2He", "He-O-Si");

    xg_structure *s = make_comp(lfpo, (int[]){16, 4, 4, 4}, 4);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(xg_structure_nelements(s), 4);
    char small[6];
    CU_ASSERT_EQUAL(xg_structure_reduced_formula(s, small, sizeof small), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_structure_formula(s, small, sizeof small), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_structure_chemsys(s, small, sizeof small), XG_EINVAL);
    CU_ASSERT(strlen(small) < sizeof small); /* still terminated */
    char fits[8];
    CU_ASSERT_EQUAL(xg_structure_reduced_formula(s, fits, sizeof fits), XG_OK); /* 7 + NUL */
    CU_ASSERT_STRING_EQUAL(fits, "LiFePO4");
    CU_ASSERT_EQUAL(xg_structure_reduced_formula(s, NULL, 10), XG_EINVAL);
    s->types[3] = 0; /* not an element */
    char buf[64];
    CU_ASSERT_EQUAL(xg_structure_formula(s, buf, sizeof buf), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_structure_reduced_formula(s, buf, sizeof buf), XG_EINVAL);
    s->types[3] = 104;
    CU_ASSERT_EQUAL(xg_structure_chemsys(s, buf, sizeof buf), XG_EINVAL);
    xg_structure_free(s);

    xg_structure *e = xg_structure_alloc(0);
    CU_ASSERT_EQUAL(xg_structure_reduced_formula(e, buf, sizeof buf), XG_OK);
    CU_ASSERT_STRING_EQUAL(buf, "");
    CU_ASSERT_EQUAL(xg_structure_nelements(e), 0);
    xg_structure_free(e);
}

static void test_density_volume(void)
{
    xg_structure *s = make_rocksalt(5.64);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    XG_ASSERT_NEAR(xg_structure_volume(s), 5.64 * 5.64 * 5.64, 1e-9);
    /* 4 (22.98977 + 35.45) g/mol in 179.406 A^3: 2.1636 g/cm^3 (measured 2.165). */
    double rho = xg_structure_density(s);
    XG_ASSERT_NEAR(rho, 4 * (22.98976928 + 35.45) / (5.64 * 5.64 * 5.64) * 1.66053906660, 1e-9);
    XG_ASSERT_NEAR(rho, 2.16, 0.01);
    /* Left-handed cells have positive volume too. */
    double row[3];
    memcpy(row, s->lattice[0], sizeof row);
    memcpy(s->lattice[0], s->lattice[1], sizeof row);
    memcpy(s->lattice[1], row, sizeof row);
    XG_ASSERT_NEAR(xg_structure_volume(s), 5.64 * 5.64 * 5.64, 1e-9);
    XG_ASSERT_NEAR(xg_structure_density(s), rho, 1e-12);
    s->types[0] = 0;
    CU_ASSERT(isnan(xg_structure_density(s)));
    memset(s->lattice, 0, sizeof s->lattice);
    s->types[0] = 11;
    CU_ASSERT(isnan(xg_structure_density(s)));
    xg_structure_free(s);
}

static void test_min_distance_simple(void)
{
    xg_structure *s = make_rocksalt(5.64);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    XG_ASSERT_NEAR(xg_structure_min_distance(s), 2.82, 1e-12);
    /* Shift every atom by a lattice vector and out of the unit cell: nothing changes. */
    s->frac[3][0] += 3;
    s->frac[5][2] -= 2;
    XG_ASSERT_NEAR(xg_structure_min_distance(s), 2.82, 1e-12);
    /* Move one Cl toward one Na. */
    s->frac[4][0] = 0.1; /* Cl at (0.1, 0, 0), Na at (0, 0, 0) */
    XG_ASSERT_NEAR(xg_structure_min_distance(s), 0.564, 1e-12);
    /* Across the cell boundary: (0.98, 0, 0) is 0.02 a from the Na at the origin. */
    s->frac[4][0] = 0.98;
    XG_ASSERT_NEAR(xg_structure_min_distance(s), 0.02 * 5.64, 1e-9);
    xg_structure_free(s);

    /* One atom: the shortest lattice vector, here of fcc a = 4: a / sqrt 2. */
    xg_structure *one = xg_structure_alloc(1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(one);
    one->types[0] = 29;
    double a = 4.0;
    double fcc[3][3] = {{0, a / 2, a / 2}, {a / 2, 0, a / 2}, {a / 2, a / 2, 0}};
    memcpy(one->lattice, fcc, sizeof fcc);
    XG_ASSERT_NEAR(xg_structure_min_distance(one), a / sqrt(2.0), 1e-12);
    xg_structure_free(one);

    /* Several atoms far apart but a short lattice vector: the atom-image distance counts. */
    xg_structure *t = xg_structure_alloc(2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    t->types[0] = t->types[1] = 6;
    t->lattice[0][0] = 10;
    t->lattice[1][1] = 10;
    t->lattice[2][2] = 0.4;
    t->frac[1][0] = 0.5;
    XG_ASSERT_NEAR(xg_structure_min_distance(t), 0.4, 1e-12);
    /* Degenerate and broken input never crashes. */
    t->lattice[2][2] = 0;
    CU_ASSERT(xg_structure_min_distance(t) == 0.0);
    t->lattice[2][2] = 5;
    t->frac[0][1] = NAN;
    CU_ASSERT(isnan(xg_structure_min_distance(t)));
    xg_structure_free(t);
    /* A needle cell: b = 1e6 a + (0, 1, 0). The lattice is simple cubic with a = 1. */
    xg_structure *nd = xg_structure_alloc(1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(nd);
    nd->types[0] = 26;
    double needle[3][3] = {{1, 0, 0}, {1e6, 1, 0}, {0, 0, 1}};
    memcpy(nd->lattice, needle, sizeof needle);
    XG_ASSERT_NEAR(xg_structure_min_distance(nd), 1.0, 1e-6);
    xg_structure_free(nd);
    xg_structure *e = xg_structure_alloc(0);
    CU_ASSERT(isinf(xg_structure_min_distance(e)));
    xg_structure_free(e);
}

/* Strongly skewed cells: the same crystal in a needle-like cell of the same lattice must give
 * the same shortest distance, and random triclinic cells must agree with brute force. */
static void test_min_distance_skewed(void)
{
    xg_structure *s = make_rocksalt(5.64);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    int U[3][3] = {{13, 8, 0}, {8, 5, 0}, {-40, 3, 1}};
    /* U^-1 (det U = 1): computed by hand and checked below. */
    int Uinv[3][3] = {{5, -8, 0}, {-8, 13, 0}, {224, -359, 1}};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            int v = U[i][0] * Uinv[0][j] + U[i][1] * Uinv[1][j] + U[i][2] * Uinv[2][j];
            CU_ASSERT_EQUAL(v, i == j);
        }
    xg_structure *k = recell(s, U, Uinv);
    CU_ASSERT_PTR_NOT_NULL_FATAL(k);
    double p[6];
    xg_lattice_to_params(CL(k->lattice), p);
    CU_ASSERT(p[0] > 50 || p[1] > 50 || p[2] > 50); /* really skewed */
    XG_ASSERT_NEAR(xg_structure_min_distance(k), 2.82, 1e-9);
    /* The minimum-image convention (wrap the fractional difference to [-1/2, 1/2)) that is
     * right for near-cubic cells is wrong in this one: show it, so the test above means
     * something. */
    double mic = INFINITY;
    for (int i = 0; i < k->natoms; i++)
        for (int j = i + 1; j < k->natoms; j++) {
            double r2 = 0, f[3];
            for (int x = 0; x < 3; x++) {
                f[x] = k->frac[j][x] - k->frac[i][x];
                f[x] -= floor(f[x] + 0.5);
            }
            for (int x = 0; x < 3; x++) {
                double cx = f[0] * k->lattice[0][x] + f[1] * k->lattice[1][x] +
                            f[2] * k->lattice[2][x];
                r2 += cx * cx;
            }
            if (sqrt(r2) < mic)
                mic = sqrt(r2);
        }
    CU_ASSERT(mic > 2.82 + 1e-6);
    xg_structure_free(k);
    xg_structure_free(s);

    int bad = 0;
    for (int t = 0; t < 60; t++) {
        double L[3][3];
        if (xg_lattice_from_params(3 + 4 * urand(), 3 + 4 * urand(), 3 + 4 * urand(),
                                   50 + 80 * urand(), 50 + 80 * urand(), 50 + 80 * urand(), L,
                                   NULL) != XG_OK)
            continue;
        int n = 1 + (int)(6 * urand());
        xg_structure *r = xg_structure_alloc(n);
        CU_ASSERT_PTR_NOT_NULL_FATAL(r);
        memcpy(r->lattice, L, sizeof L);
        for (int i = 0; i < n; i++) {
            r->types[i] = 14;
            for (int j = 0; j < 3; j++)
                r->frac[i][j] = urand();
        }
        double want = brute_min_distance(r, 4);
        if (fabs(xg_structure_min_distance(r) - want) > 1e-9)
            bad++;
        xg_structure *q = recell(r, U, Uinv);
        if (fabs(xg_structure_min_distance(q) - want) > 1e-8)
            bad++;
        xg_structure_free(q);
        xg_structure_free(r);
    }
    CU_ASSERT_EQUAL(bad, 0);
}

static void test_wrap_and_cart(void)
{
    xg_structure *s = xg_structure_alloc(4);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    double in[4][3] = {{-0.25, 1.5, 3.0}, {-1e-17, 0.999999, 1.0}, {-2.75, 0.0, 0.5}, {7.2, -7.2, 0}};
    memcpy(s->frac, in, sizeof in);
    xg_structure_wrap(s);
    double want[4][3] = {{0.75, 0.5, 0.0}, {0.0, 0.999999, 0.0}, {0.25, 0.0, 0.5}, {0.2, 0.8, 0}};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) {
            CU_ASSERT(s->frac[i][j] >= 0.0 && s->frac[i][j] < 1.0);
            XG_ASSERT_NEAR(s->frac[i][j], want[i][j], 1e-12);
        }
    double L[3][3];
    CU_ASSERT_EQUAL_FATAL(xg_lattice_from_params(3, 4, 5, 80, 95, 110, L, NULL), XG_OK);
    memcpy(s->lattice, L, sizeof L);
    double c[3];
    xg_structure_frac_to_cart(s, 2, c);
    for (int j = 0; j < 3; j++)
        XG_ASSERT_NEAR(c[j], 0.25 * L[0][j] + 0.5 * L[2][j], 1e-12);
    xg_structure_frac_to_cart(s, 4, c);
    CU_ASSERT(isnan(c[0]));
    xg_structure_frac_to_cart(s, -1, c);
    CU_ASSERT(isnan(c[0]));
    xg_structure_free(s);
}

/* Random cells of both handednesses: after xg_structure_orient the lattice is right-handed with
 * a along x and b in the xy plane, its metric is unchanged, and every atom sits where a proper
 * rotation Q (det +1, never a mirror) carries it, up to a lattice vector: the same crystal. */
static void test_orient_random(void)
{
    int flipped = 0;
    for (int trial = 0; trial < 500; trial++) {
        double L[3][3];
        do {
            for (int i = 0; i < 3; i++)
                for (int k = 0; k < 3; k++)
                    L[i][k] = 10.0 * urand() - 5.0;
        } while (fabs(xg_lattice_volume_signed(CL(L))) < 5.0);
        int n = 1 + trial % 6;
        xg_structure *s = xg_structure_alloc(n);
        memcpy(s->lattice, L, sizeof L);
        for (int i = 0; i < n; i++) {
            s->types[i] = 1 + (int)(urand() * 80);
            for (int k = 0; k < 3; k++)
                s->frac[i][k] = urand();
        }
        xg_structure *o = xg_structure_copy(s);
        xg_error e;
        CU_ASSERT_EQUAL_FATAL(xg_structure_orient(o, &e), XG_OK);
        double det = xg_lattice_volume_signed(CL(o->lattice));
        CU_ASSERT(det > 0);
        XG_ASSERT_NEAR(det, fabs(xg_lattice_volume_signed(CL(L))), 1e-9 * fabs(det));
        CU_ASSERT(o->lattice[0][1] == 0.0 && o->lattice[0][2] == 0.0 && o->lattice[1][2] == 0.0);
        CU_ASSERT(o->lattice[0][0] > 0 && o->lattice[1][1] > 0 && o->lattice[2][2] > 0);
        double G0[3][3], G1[3][3];
        xg_lattice_metric(CL(L), G0);
        xg_lattice_metric(CL(o->lattice), G1);
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 3; k++)
                XG_ASSERT_NEAR(G0[i][k], G1[i][k], 1e-10 * (1 + fabs(G0[i][k])));
        /* Q = M^-1 L' with M = L or -L (the basis actually rotated) */
        int neg = xg_lattice_volume_signed(CL(L)) < 0;
        flipped += neg;
        double M[3][3], Mi[3][3], Q[3][3];
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 3; k++)
                M[i][k] = neg ? -L[i][k] : L[i][k];
        CU_ASSERT_EQUAL_FATAL(xg_lattice_inverse(CL(M), Mi, &e), XG_OK);
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 3; k++)
                Q[i][k] = Mi[i][0] * o->lattice[0][k] + Mi[i][1] * o->lattice[1][k] +
                          Mi[i][2] * o->lattice[2][k];
        XG_ASSERT_NEAR(xg_lattice_volume_signed(CL(Q)), 1.0, 1e-9);
        double QQ[3][3];
        xg_lattice_metric(CL(Q), QQ);
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 3; k++)
                XG_ASSERT_NEAR(QQ[i][k], i == k, 1e-9);
        for (int i = 0; i < n; i++) {
            CU_ASSERT_EQUAL(o->types[i], s->types[i]);
            double c0[3], c1[3], r[3], d[3];
            xg_structure_frac_to_cart(s, i, c0);
            xg_structure_frac_to_cart(o, i, c1);
            for (int k = 0; k < 3; k++)
                r[k] = c0[0] * Q[0][k] + c0[1] * Q[1][k] + c0[2] * Q[2][k] - c1[k];
            CU_ASSERT_EQUAL(xg_lattice_cart_to_frac(CL(o->lattice), r, 1, d, &e), XG_OK);
            for (int k = 0; k < 3; k++) {
                XG_ASSERT_NEAR(d[k], round(d[k]), 1e-8);
                CU_ASSERT(o->frac[i][k] >= 0.0 && o->frac[i][k] < 1.0);
            }
        }
        if (trial % 50 == 0) { /* and the structure matcher agrees */
            xg_match_result res;
            CU_ASSERT_EQUAL(xg_matcher_fit(s, o, NULL, XG_MATCH_FIRST, &res, &e), XG_OK);
            CU_ASSERT(res.match);
        }
        /* idempotent */
        xg_structure *o2 = xg_structure_copy(o);
        CU_ASSERT_EQUAL(xg_structure_orient(o2, &e), XG_OK);
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 3; k++)
                XG_ASSERT_NEAR(o2->lattice[i][k], o->lattice[i][k], 1e-12 * 10);
        xg_structure_free(o2);
        xg_structure_free(o);
        xg_structure_free(s);
    }
    CU_ASSERT(flipped > 100 && flipped < 400); /* both handednesses were exercised */
    /* singular and non-finite lattices are refused, the structure untouched */
    xg_structure *z = xg_structure_alloc(1);
    z->lattice[0][0] = z->lattice[1][0] = 1.0;
    z->lattice[2][2] = 1.0;
    xg_error e;
    CU_ASSERT_EQUAL(xg_structure_orient(z, &e), XG_ENUMERIC);
    CU_ASSERT_EQUAL(z->lattice[1][0], 1.0);
    z->lattice[1][0] = 0.0;
    z->lattice[1][1] = NAN;
    CU_ASSERT_EQUAL(xg_structure_orient(z, NULL), XG_ENUMERIC);
    xg_structure_free(z);
}

/* A left-handed cell of a chiral crystal: orienting must give the crystal, not its mirror
 * image. A mirror image (x -> -x in a right-handed basis) is told apart by the sign of the
 * triple product of three interatomic vectors, which no rotation changes. */
static void test_orient_keeps_chirality(void)
{
    xg_structure *s = xg_structure_alloc(4);
    double L[3][3] = {{4.1, 0.3, -0.2}, {0.5, -5.2, 0.1}, {0.2, 0.4, 6.3}}; /* det < 0 */
    memcpy(s->lattice, L, sizeof L);
    double f[4][3] = {{0.1, 0.1, 0.1}, {0.4, 0.15, 0.12}, {0.12, 0.5, 0.2}, {0.2, 0.2, 0.6}};
    for (int i = 0; i < 4; i++) {
        s->types[i] = 6 + i;
        memcpy(s->frac[i], f[i], sizeof f[i]);
    }
    CU_ASSERT(xg_lattice_volume_signed(CL(L)) < 0);
    double before = 0.0, after = 1.0;
    for (int pass = 0; pass < 2; pass++) {
        double c[4][3], v[3][3];
        for (int i = 0; i < 4; i++)
            xg_structure_frac_to_cart(s, i, c[i]);
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 3; k++)
                v[j][k] = c[j + 1][k] - c[0][k];
        double t = xg_lattice_volume_signed(CL(v));
        if (pass == 0) {
            before = t;
            xg_error e;
            CU_ASSERT_EQUAL_FATAL(xg_structure_orient(s, &e), XG_OK);
        } else {
            after = t;
        }
    }
    /* the atoms may have moved by lattice vectors; these four are close enough that they did
     * not (all inside one cell both times), so the triple product keeps its sign and size */
    XG_ASSERT_NEAR(after, before, 1e-9);
    xg_structure_free(s);
}

/* Species order: Pauling electronegativity, ties by symbol (Cu and Si are both 1.90), no
 * electronegativity last; grouping is stable within an element. */
static void test_species_order(void)
{
    const char *sym[] = {"O", "Si", "Ar", "Cu", "Li", "O", "Cu"};
    xg_structure *s = xg_structure_alloc(7);
    for (int i = 0; i < 7; i++) {
        s->types[i] = xg_element_from_symbol(sym[i]);
        s->frac[i][0] = 0.1 * i;
    }
    s->lattice[0][0] = s->lattice[1][1] = s->lattice[2][2] = 6.0;
    int zs[8];
    CU_ASSERT_EQUAL(xg_structure_species_order(s, zs, 8), 5);
    const char *want[] = {"Li", "Cu", "Si", "O", "Ar"};
    for (int k = 0; k < 5; k++)
        CU_ASSERT_STRING_EQUAL(xg_element_get(zs[k])->symbol, want[k]);
    xg_error e;
    CU_ASSERT_EQUAL(xg_structure_group_species(s, &e), XG_OK);
    const char *grouped[] = {"Li", "Cu", "Cu", "Si", "O", "O", "Ar"};
    const double x[] = {0.4, 0.3, 0.6, 0.1, 0.0, 0.5, 0.2};
    for (int i = 0; i < 7; i++) {
        CU_ASSERT_STRING_EQUAL(xg_element_get(s->types[i])->symbol, grouped[i]);
        XG_ASSERT_NEAR(s->frac[i][0], x[i], 1e-15);
    }
    char formula[64];
    CU_ASSERT_EQUAL(xg_structure_formula(s, formula, sizeof formula), XG_OK);
    CU_ASSERT_STRING_EQUAL(formula, "Li1 Cu2 Si1 O2 Ar1");
    s->types[0] = 0;
    CU_ASSERT_EQUAL(xg_structure_group_species(s, NULL), XG_EINVAL);
    xg_structure_free(s);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"lifetime: alloc, copy, resize", test_lifetime},
        {"formulas", test_formulas},
        {"density and volume", test_density_volume},
        {"min distance: simple cells", test_min_distance_simple},
        {"min distance: skewed cells", test_min_distance_skewed},
        {"wrap and cartesian", test_wrap_and_cart},
        {"standard orientation of random cells", test_orient_random},
        {"orientation keeps chirality", test_orient_keeps_chirality},
        {"species order and grouping", test_species_order},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("structure", tests);
}
