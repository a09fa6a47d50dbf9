/* test_hull.c: the convex hull of formation energy (properties/xg_hull.h): hand-computed hulls,
 * degenerate sets, the sign below the hull, brute-force cross-checks in two and three elements,
 * the formula parser, and the HDF5 table. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "crystal/xg_dataset.h"
#include "crystal/xg_rng.h"
#include "properties/xg_hull.h"
#include "xg_test.h"

static xg_hull_comp comp_of(const char *formula)
{
    xg_hull_comp c;
    xg_error err;
    int rc = xg_hull_comp_parse(formula, &c, &err);
    CU_ASSERT_EQUAL_FATAL(rc, XG_OK);
    return c;
}

static void add(xg_hull *h, const char *formula, double e, const char *id)
{
    xg_hull_comp c = comp_of(formula);
    xg_error err;
    CU_ASSERT_EQUAL_FATAL(xg_hull_add(h, &c, e, id, &err), XG_OK);
}

static double above(const xg_hull *h, const char *formula, double e, xg_hull_decomp *dec)
{
    xg_hull_comp c = comp_of(formula);
    xg_error err;
    double ea = NAN;
    int rc = xg_hull_e_above(h, &c, e, &ea, dec, &err);
    if (rc)
        fprintf(stderr, "query %s: %s\n", formula, err.msg);
    CU_ASSERT_EQUAL(rc, XG_OK);
    return ea;
}

/* Fraction of the decomposition carried by entry index `entry` (or -Z for an element). */
static double dec_frac(const xg_hull_decomp *d, int64_t entry)
{
    for (int i = 0; i < d->n; i++)
        if (d->entry[i] == entry)
            return d->fraction[i];
    return 0;
}

static int64_t find_id(const xg_hull *h, const char *id)
{
    for (int64_t i = 0; i < xg_hull_size(h); i++) {
        const char *s;
        xg_hull_entry(h, i, NULL, NULL, &s, NULL);
        if (!strcmp(s, id))
            return i;
    }
    return -1;
}

static void test_formula_parse(void)
{
    xg_hull_comp c;
    xg_error err;
    CU_ASSERT_EQUAL(xg_hull_comp_parse("Nd(Al2Cu)4", &c, &err), XG_OK);
    CU_ASSERT_EQUAL(c.nel, 3);
    XG_ASSERT_NEAR(xg_hull_comp_fraction(&c, 60), 1.0 / 13, 1e-12);
    XG_ASSERT_NEAR(xg_hull_comp_fraction(&c, 13), 8.0 / 13, 1e-12);
    XG_ASSERT_NEAR(xg_hull_comp_fraction(&c, 29), 4.0 / 13, 1e-12);
    CU_ASSERT_EQUAL(xg_hull_comp_parse("LiFePO4", &c, &err), XG_OK);
    CU_ASSERT_EQUAL(c.nel, 4);
    CU_ASSERT_EQUAL(c.z[0], 3);
    CU_ASSERT_EQUAL(c.z[3], 26);
    XG_ASSERT_NEAR(c.amount[1], 4, 0); /* O, Z = 8, second in Z order */
    CU_ASSERT_EQUAL(xg_hull_comp_parse("Fe4 O6", &c, &err), XG_OK);
    XG_ASSERT_NEAR(xg_hull_comp_fraction(&c, 26), 0.4, 1e-12);
    CU_ASSERT_EQUAL(xg_hull_comp_parse("Ca[Mg(CO3)2]0.5 OFe", &c, &err), XG_OK);
    XG_ASSERT_NEAR(c.amount[0], 1, 1e-12);                          /* C: 0.5 * 2 * 1 */
    XG_ASSERT_NEAR(xg_hull_comp_fraction(&c, 8), 4.0 / 7.5, 1e-12); /* O: 3 + 1 of 7.5 atoms */
    CU_ASSERT_EQUAL(xg_hull_comp_parse("Li0.5CoO2", &c, &err), XG_OK);
    XG_ASSERT_NEAR(c.amount[0], 0.5, 1e-12);
    /* Repeated elements add up. */
    CU_ASSERT_EQUAL(xg_hull_comp_parse("HOH", &c, &err), XG_OK);
    CU_ASSERT_EQUAL(c.nel, 2);
    XG_ASSERT_NEAR(c.amount[0], 2, 0);

    const char *bad[] = {"", "   ", "Xx2", "Fe(O", "Fe)2", "fe2O3", "Fe2..3", "Fe-O", "Fe0",
                         "()", "Fe(O2", "Fe2O3)", "Q", "Fe2O3 +", "Fe1e5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        xg_error_clear(&err);
        int rc = xg_hull_comp_parse(bad[i], &c, &err);
        CU_ASSERT_NOT_EQUAL(rc, XG_OK);
        CU_ASSERT(strlen(err.msg) > 0);
        if (rc == XG_OK)
            fprintf(stderr, "accepted bad formula '%s'\n", bad[i]);
    }
    /* Deep nesting is refused, not a stack overflow. */
    char deep[200];
    memset(deep, '(', 100);
    strcpy(deep + 100, "Fe");
    memset(deep + 102, ')', 97);
    deep[199] = '\0';
    CU_ASSERT_EQUAL(xg_hull_comp_parse(deep, &c, &err), XG_EPARSE);
}

static void test_formula_format(void)
{
    char buf[64];
    xg_error err;
    xg_hull_comp c = comp_of("O3Fe2");
    CU_ASSERT_EQUAL(xg_hull_comp_format(&c, buf, sizeof buf, &err), XG_OK);
    CU_ASSERT_STRING_EQUAL(buf, "Fe2O3");
    c = comp_of("PO4FeLi");
    xg_hull_comp_format(&c, buf, sizeof buf, &err);
    CU_ASSERT_STRING_EQUAL(buf, "LiFePO4");
    c = comp_of("Fe4O6");
    xg_hull_comp_reduce(&c);
    xg_hull_comp_format(&c, buf, sizeof buf, &err);
    CU_ASSERT_STRING_EQUAL(buf, "Fe2O3");
    c = comp_of("Li0.5CoO2");
    xg_hull_comp_reduce(&c); /* not integral: unchanged */
    xg_hull_comp_format(&c, buf, sizeof buf, &err);
    CU_ASSERT_STRING_EQUAL(buf, "Li0.5CoO2");
    CU_ASSERT_EQUAL(xg_hull_comp_format(&c, buf, 4, &err), XG_EINVAL);
}

/* Binary A-B with a stable AB at -1 eV/atom: A2B at -0.5 lies 1/6 eV/atom above the hull. */
static void test_binary_hand(void)
{
    xg_hull *h = xg_hull_alloc();
    xg_error err;
    add(h, "FeO", -1.0, "ab");
    add(h, "FeO", -0.8, "ab-polymorph"); /* duplicate composition: the lowest is kept */
    add(h, "Fe2O", -0.5, "a2b");
    add(h, "FeO2", -0.3, "ab2");
    add(h, "Fe", 0.05, "fe-metastable");
    CU_ASSERT_EQUAL_FATAL(xg_hull_finalize(h, NULL, &err), XG_OK);
    CU_ASSERT_EQUAL(xg_hull_size(h), 1); /* only FeO is on the hull */
    int64_t ab = find_id(h, "ab");
    CU_ASSERT(ab >= 0);

    xg_hull_decomp d;
    XG_ASSERT_NEAR(above(h, "Fe2O", -0.5, &d), -0.5 + 2.0 / 3.0, 1e-12);
    CU_ASSERT_EQUAL(d.n, 2);
    XG_ASSERT_NEAR(dec_frac(&d, ab), 2.0 / 3.0, 1e-12);
    XG_ASSERT_NEAR(dec_frac(&d, -26), 1.0 / 3.0, 1e-12);
    CU_ASSERT(d.fraction[0] >= d.fraction[1]); /* largest first */
    XG_ASSERT_NEAR(above(h, "FeO2", -0.3, &d), -0.3 + 2.0 / 3.0, 1e-12);
    XG_ASSERT_NEAR(dec_frac(&d, -8), 1.0 / 3.0, 1e-12);
    /* On the hull: zero, and the decomposition is the entry itself. */
    XG_ASSERT_NEAR(above(h, "Fe2O2", -1.0, &d), 0, 1e-12);
    CU_ASSERT_EQUAL(d.n, 1);
    CU_ASSERT_EQUAL(d.entry[0], ab);
    XG_ASSERT_NEAR(d.fraction[0], 1, 1e-12);
    /* Below the hull: negative distance, not clipped. */
    XG_ASSERT_NEAR(above(h, "FeO", -1.2, NULL), -0.2, 1e-12);
    XG_ASSERT_NEAR(above(h, "Fe3O", -1.0, NULL), -1.0 + 0.5, 1e-12);
    /* Elements are at zero. */
    XG_ASSERT_NEAR(above(h, "Fe", 0.1, &d), 0.1, 1e-12);
    CU_ASSERT_EQUAL(d.n, 1);
    CU_ASSERT_EQUAL(d.entry[0], -26);

    /* keep_all gives the same answers and keeps every entry. */
    xg_hull *all = xg_hull_alloc();
    add(all, "FeO", -1.0, "ab");
    add(all, "FeO", -0.8, "ab-polymorph");
    add(all, "Fe2O", -0.5, "a2b");
    add(all, "FeO2", -0.3, "ab2");
    xg_hull_options o = xg_hull_default_options();
    o.keep_all = 1;
    CU_ASSERT_EQUAL_FATAL(xg_hull_finalize(all, &o, &err), XG_OK);
    CU_ASSERT_EQUAL(xg_hull_size(all), 4);
    XG_ASSERT_NEAR(above(all, "Fe2O", -0.5, NULL), -0.5 + 2.0 / 3.0, 1e-12);
    /* Excluding the stable entry by id: FeO is then measured against the polymorph, the other
     * entries and the elements. */
    xg_hull_comp feo = comp_of("FeO");
    double hv;
    CU_ASSERT_EQUAL(xg_hull_energy(all, &feo, "ab", &hv, NULL, &err), XG_OK);
    XG_ASSERT_NEAR(hv, -0.8, 1e-12);
    /* An empty id excludes nothing. */
    CU_ASSERT_EQUAL(xg_hull_energy(all, &feo, "", &hv, NULL, &err), XG_OK);
    XG_ASSERT_NEAR(hv, -1.0, 1e-12);
    xg_hull_free(all);
    xg_hull_free(h);
}

/* Li-Fe-O: LiFeO2 = (Li2O + Fe2O3)/2 per formula; in atoms 3/8 Li2O + 5/8 Fe2O3. */
static void test_ternary_hand(void)
{
    xg_hull *h = xg_hull_alloc();
    xg_error err;
    add(h, "Li2O", -2.0, "li2o");
    add(h, "Fe2O3", -1.7, "fe2o3");
    add(h, "FeO", -1.3, "feo");
    add(h, "Li2O2", -1.6, "li2o2");
    CU_ASSERT_EQUAL_FATAL(xg_hull_finalize(h, NULL, &err), XG_OK);
    xg_hull_decomp d;
    double hull = (3 * -2.0 + 5 * -1.7) / 8;
    XG_ASSERT_NEAR(above(h, "LiFeO2", -1.5, &d), -1.5 - hull, 1e-12);
    CU_ASSERT_EQUAL(d.n, 2);
    XG_ASSERT_NEAR(dec_frac(&d, find_id(h, "li2o")), 3.0 / 8, 1e-12);
    XG_ASSERT_NEAR(dec_frac(&d, find_id(h, "fe2o3")), 5.0 / 8, 1e-12);
    /* A stable ternary added below that line becomes the reference for its own composition. */
    xg_hull *h2 = xg_hull_alloc();
    add(h2, "Li2O", -2.0, "li2o");
    add(h2, "Fe2O3", -1.7, "fe2o3");
    add(h2, "LiFeO2", -1.9, "lifeo2");
    CU_ASSERT_EQUAL_FATAL(xg_hull_finalize(h2, NULL, &err), XG_OK);
    XG_ASSERT_NEAR(above(h2, "LiFeO2", -1.9, &d), 0, 1e-12);
    /* Li5FeO4 = 2 Li2O + LiFeO2 (atoms 6 + 4 of 10). */
    XG_ASSERT_NEAR(above(h2, "Li5FeO4", -1.5, &d), -1.5 - (0.6 * -2.0 + 0.4 * -1.9), 1e-12);
    CU_ASSERT_EQUAL(d.n, 2);
    /* Unknown elements in the query sit at zero: LiFeO2Cl has Cl from the element. */
    XG_ASSERT_NEAR(above(h2, "LiFeO2Cl", 0, &d), 0.8 * 1.9, 1e-12);
    XG_ASSERT_NEAR(dec_frac(&d, -17), 0.2, 1e-12);
    /* A composition of elements the set never saw: the hull is zero. */
    XG_ASSERT_NEAR(above(h2, "XeKr", 0.25, &d), 0.25, 1e-12);
    CU_ASSERT_EQUAL(d.n, 2);
    xg_hull_free(h2);
    xg_hull_free(h);
}

/* Collinear and coplanar entries: many entries exactly on a hull facet, and queries at vertices,
 * make the linear program degenerate. The answer must not depend on it. */
static void test_degenerate(void)
{
    xg_hull *h = xg_hull_alloc();
    xg_error err;
    /* A-B line: entries at x = 1/4, 1/2, 3/4 all on the line through A at 0 and AB at -1 ... */
    add(h, "Al3Ni", -0.5, "e1");
    add(h, "AlNi", -1.0, "e2");
    add(h, "AlNi3", -0.5, "e3");  /* on the line from AlNi (-1) to Ni (0) */
    add(h, "Al2Ni2", -1.0, "e2b"); /* same composition, same energy */
    add(h, "Al5Ni3", -0.75, "e4"); /* x = 3/8: exactly between Al3Ni and AlNi */
    /* ... and a ternary facet: Al-Ni-Co entries coplanar with AlNi, AlCo, NiCo. */
    add(h, "AlCo", -1.0, "f1");
    add(h, "NiCo", 0.0, "f2");
    add(h, "Al2NiCo", -1.0, "f3"); /* = AlNi + AlCo: on the plane */
    CU_ASSERT_EQUAL_FATAL(xg_hull_finalize(h, NULL, &err), XG_OK);
    XG_ASSERT_NEAR(above(h, "Al3Ni", -0.5, NULL), 0, 1e-12);
    XG_ASSERT_NEAR(above(h, "Al5Ni3", -0.75, NULL), 0, 1e-12);
    XG_ASSERT_NEAR(above(h, "Al3Ni5", -0.5, NULL), 0.25, 1e-12); /* line AlNi-Ni at x=5/8: -0.75 */
    XG_ASSERT_NEAR(above(h, "Al2NiCo", -1.0, NULL), 0, 1e-12);
    /* Al4NiCo = AlNi + AlCo + 2 Al: (2 * -1 + 2 * -1 + 2 * 0) / 6 = -2/3. */
    XG_ASSERT_NEAR(above(h, "Al4NiCo", -0.9, NULL), -0.9 + 2.0 / 3.0, 1e-12);
    xg_hull_decomp d;
    above(h, "Al2NiCo", -1.0, &d);
    double s = 0;
    for (int i = 0; i < d.n; i++) {
        s += d.fraction[i];
        CU_ASSERT(d.fraction[i] > 0);
    }
    XG_ASSERT_NEAR(s, 1, 1e-12);
    xg_hull_free(h);
}

/* Brute force in two elements: the lower hull at x is the minimum over pairs of points that
 * bracket x of their linear interpolation (elements at 0 included). */
static double brute_binary(int n, const double *x, const double *e, double xq)
{
    double best = INFINITY;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            if (x[i] > xq + 1e-15 || x[j] < xq - 1e-15)
                continue;
            double v = x[j] - x[i] < 1e-15 ? fmin(e[i], e[j])
                                           : e[i] + (e[j] - e[i]) * (xq - x[i]) / (x[j] - x[i]);
            if (v < best)
                best = v;
        }
    return best;
}

static void test_random_binary(void)
{
    xg_rng rng;
    xg_rng_seed(&rng, 12345, 0);
    for (int trial = 0; trial < 20; trial++) {
        xg_hull *h = xg_hull_alloc();
        xg_error err;
        double x[64], e[64];
        int n = 0;
        x[n] = 0, e[n] = 0, n++;
        x[n] = 1, e[n] = 0, n++;
        int ne = 5 + trial * 2;
        for (int i = 0; i < ne; i++) {
            int a = 1 + (int)(xg_rng_uniform(&rng) * 8), b = 1 + (int)(xg_rng_uniform(&rng) * 8);
            xg_hull_comp c = {2, {13, 28}, {a, b}};
            double en = -1.5 * xg_rng_uniform(&rng) + 0.2;
            CU_ASSERT_EQUAL_FATAL(xg_hull_add(h, &c, en, NULL, &err), XG_OK);
            x[n] = (double)b / (a + b);
            e[n] = en;
            n++;
        }
        xg_hull_options o = xg_hull_default_options();
        o.keep_all = trial % 2; /* both paths */
        CU_ASSERT_EQUAL_FATAL(xg_hull_finalize(h, &o, &err), XG_OK);
        for (int q = 0; q <= 40; q++) {
            double xq = q / 40.0;
            xg_hull_comp c = {0, {0}, {0}};
            if (q == 0)
                c = (xg_hull_comp){1, {13}, {1}};
            else if (q == 40)
                c = (xg_hull_comp){1, {28}, {1}};
            else
                c = (xg_hull_comp){2, {13, 28}, {1 - xq, xq}};
            double hv;
            CU_ASSERT_EQUAL(xg_hull_energy(h, &c, NULL, &hv, NULL, &err), XG_OK);
            double bf = brute_binary(n, x, e, xq);
            XG_ASSERT_NEAR(hv, bf, 1e-10);
            if (fabs(hv - bf) > 1e-10)
                fprintf(stderr, "trial %d x=%g: lp %.12g brute %.12g\n", trial, xq, hv, bf);
        }
        xg_hull_free(h);
    }
}

/* Brute force in three elements: the minimum over triples whose triangle contains the query of
 * the barycentric interpolation. */
static void test_random_ternary(void)
{
    xg_rng rng;
    xg_rng_seed(&rng, 777, 0);
    const int zs[3] = {3, 25, 8}; /* Li, Mn, O; stored ascending: Li, O, Mn */
    for (int trial = 0; trial < 6; trial++) {
        enum { NP = 3 + 14 };
        double p[NP][3], e[NP];
        int n = 0;
        for (int k = 0; k < 3; k++) {
            p[n][0] = p[n][1] = p[n][2] = 0;
            p[n][k] = 1;
            e[n++] = 0;
        }
        xg_hull *h = xg_hull_alloc();
        xg_error err;
        while (n < NP) {
            int a[3];
            double s = 0;
            for (int k = 0; k < 3; k++) {
                a[k] = (int)(xg_rng_uniform(&rng) * 5);
                s += a[k];
            }
            if (s == 0)
                continue;
            xg_hull_comp c = {0, {0}, {0}};
            int order[3] = {0, 2, 1}; /* ascending Z: Li(3), O(8), Mn(25) */
            for (int t = 0; t < 3; t++)
                if (a[order[t]] > 0) {
                    c.z[c.nel] = zs[order[t]];
                    c.amount[c.nel] = a[order[t]];
                    c.nel++;
                }
            double en = -2.0 * xg_rng_uniform(&rng);
            CU_ASSERT_EQUAL_FATAL(xg_hull_add(h, &c, en, NULL, &err), XG_OK);
            for (int k = 0; k < 3; k++)
                p[n][k] = a[k] / s;
            e[n++] = en;
        }
        CU_ASSERT_EQUAL_FATAL(xg_hull_finalize(h, NULL, &err), XG_OK);
        for (int q = 0; q < 60; q++) {
            double w[3] = {xg_rng_uniform(&rng) + 0.01, xg_rng_uniform(&rng) + 0.01,
                           xg_rng_uniform(&rng) + 0.01};
            double s = w[0] + w[1] + w[2];
            for (int k = 0; k < 3; k++)
                w[k] /= s;
            double best = INFINITY;
            for (int i = 0; i < n; i++)
                for (int j = i + 1; j < n; j++)
                    for (int l = j + 1; l < n; l++) {
                        /* Solve w = bi p_i + bj p_j + bl p_l (2x2 in the first two coordinates,
                         * the third follows from the sums). */
                        double m00 = p[i][0] - p[l][0], m01 = p[j][0] - p[l][0];
                        double m10 = p[i][1] - p[l][1], m11 = p[j][1] - p[l][1];
                        double det = m00 * m11 - m01 * m10;
                        if (fabs(det) < 1e-12)
                            continue;
                        double r0 = w[0] - p[l][0], r1 = w[1] - p[l][1];
                        double bi = (r0 * m11 - m01 * r1) / det;
                        double bj = (m00 * r1 - r0 * m10) / det;
                        double bl = 1 - bi - bj;
                        if (bi < -1e-12 || bj < -1e-12 || bl < -1e-12)
                            continue;
                        double v = bi * e[i] + bj * e[j] + bl * e[l];
                        if (v < best)
                            best = v;
                    }
            xg_hull_comp c = {3, {3, 8, 25}, {w[0], w[2], w[1]}};
            double hv;
            CU_ASSERT_EQUAL(xg_hull_energy(h, &c, NULL, &hv, NULL, &err), XG_OK);
            XG_ASSERT_NEAR(hv, best, 1e-10);
        }
        xg_hull_free(h);
    }
}

static void test_bad_input(void)
{
    xg_hull *h = xg_hull_alloc();
    xg_error err;
    xg_hull_comp c = comp_of("FeO");
    CU_ASSERT_EQUAL(xg_hull_add(h, &c, NAN, "x", &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_hull_add(h, &c, INFINITY, "x", &err), XG_EINVAL);
    xg_hull_comp bad = {2, {26, 8}, {1, 1}}; /* not ascending */
    CU_ASSERT_EQUAL(xg_hull_add(h, &bad, -1, "x", &err), XG_EINVAL);
    bad = (xg_hull_comp){1, {26}, {-1}};
    CU_ASSERT_EQUAL(xg_hull_add(h, &bad, -1, "x", &err), XG_EINVAL);
    bad = (xg_hull_comp){0, {0}, {0}};
    CU_ASSERT_EQUAL(xg_hull_add(h, &bad, -1, "x", &err), XG_EINVAL);
    bad = (xg_hull_comp){1, {150}, {1}};
    CU_ASSERT_EQUAL(xg_hull_add(h, &bad, -1, "x", &err), XG_EINVAL);
    double hv;
    CU_ASSERT_EQUAL(xg_hull_energy(h, &c, NULL, &hv, NULL, &err), XG_EINVAL); /* not finalized */
    CU_ASSERT_EQUAL(xg_hull_add(h, &c, -1, "ok", &err), XG_OK);
    CU_ASSERT_EQUAL(xg_hull_finalize(h, NULL, &err), XG_OK);
    CU_ASSERT_EQUAL(xg_hull_add(h, &c, -1, "late", &err), XG_EINVAL); /* read-only now */
    double ea;
    CU_ASSERT_EQUAL(xg_hull_e_above(h, &c, NAN, &ea, NULL, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_hull_entry(h, 5, NULL, NULL, NULL, &err), XG_EINVAL);
    /* An empty hull answers: everything is measured against the elements. */
    xg_hull *empty = xg_hull_alloc();
    CU_ASSERT_EQUAL(xg_hull_finalize(empty, NULL, &err), XG_OK);
    CU_ASSERT_EQUAL(xg_hull_e_above(empty, &c, -0.3, &ea, NULL, &err), XG_OK);
    XG_ASSERT_NEAR(ea, -0.3, 1e-15);
    xg_hull_free(empty);
    xg_hull_free(h);
    xg_hull_free(NULL);
}

static void test_dataset_source(void)
{
    xg_error err;
    xg_dataset *ds = xg_dataset_alloc();
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    int p = xg_dataset_add_property(ds, "formation_energy_per_atom", &err);
    CU_ASSERT_FATAL(p >= 0);
    xg_structure *s = xg_structure_alloc(5);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    for (int i = 0; i < 3; i++)
        s->lattice[i][i] = 4;
    int types[5] = {26, 8, 26, 8, 8};
    for (int i = 0; i < 5; i++) {
        s->types[i] = types[i];
        s->frac[i][0] = 0.2 * i;
    }
    snprintf(s->id, sizeof s->id, "mp-fe2o3");
    double props[8];
    for (int i = 0; i < ds->nprops; i++)
        props[i] = NAN;
    props[p] = -1.7;
    CU_ASSERT_EQUAL(xg_dataset_append(ds, s, props, &err), XG_OK);
    props[p] = NAN; /* missing energy: skipped, never an entry at zero */
    snprintf(s->id, sizeof s->id, "mp-missing");
    CU_ASSERT_EQUAL(xg_dataset_append(ds, s, props, &err), XG_OK);
    xg_hull *h = xg_hull_alloc();
    int64_t added = -1;
    CU_ASSERT_EQUAL(xg_hull_add_dataset(h, ds, "formation_energy_per_atom", &added, &err), XG_OK);
    CU_ASSERT_EQUAL(added, 1);
    CU_ASSERT_EQUAL(xg_hull_add_dataset(h, ds, "band_gap", &added, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_hull_finalize(h, NULL, &err), XG_OK);
    xg_hull_comp c;
    const char *id;
    double e;
    CU_ASSERT_EQUAL(xg_hull_entry(h, 0, &c, &e, &id, &err), XG_OK);
    CU_ASSERT_STRING_EQUAL(id, "mp-fe2o3");
    XG_ASSERT_NEAR(c.amount[0], 3, 0); /* reduced: O3 */
    XG_ASSERT_NEAR(c.amount[1], 2, 0); /* Fe2 */
    XG_ASSERT_NEAR(e, -1.7, 0);
    xg_hull_free(h);
    xg_structure_free(s);
    xg_dataset_free(ds);
}

static void write_version(const char *path, int version, const char *format)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    if (version >= 0) {
        hid_t a = H5Aopen(f, "version", H5P_DEFAULT);
        H5Awrite(a, H5T_NATIVE_INT, &version);
        H5Aclose(a);
    }
    if (format) {
        H5Adelete(f, "format");
        hid_t sp = H5Screate(H5S_SCALAR);
        hid_t st = H5Tcopy(H5T_C_S1);
        H5Tset_size(st, strlen(format));
        hid_t a = H5Acreate2(f, "format", st, sp, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, st, format);
        H5Aclose(a);
        H5Tclose(st);
        H5Sclose(sp);
    }
    H5Fclose(f);
}

static void test_h5_roundtrip(void)
{
    xg_error err;
    xg_hull *h = xg_hull_alloc();
    add(h, "Li2O", -2.0, "mp-1960");
    add(h, "Fe2O3", -1.7, "mp-19770");
    add(h, "LiFeO2", -1.9, "mp-19419");
    add(h, "Li0.5FeO2", -1.0, "fractional"); /* non-integral amounts survive */
    add(h, "Fe2O", 0.3, "above");
    CU_ASSERT_EQUAL_FATAL(xg_hull_finalize(h, NULL, &err), XG_OK);
    const char *dir = xg_test_tmpdir();
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    char path[600];
    snprintf(path, sizeof path, "%s/hull.h5", dir);
    CU_ASSERT_EQUAL_FATAL(xg_hull_write_h5(h, path, &err), XG_OK);
    xg_hull *r = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_hull_read_h5(path, &r, &err), XG_OK);
    CU_ASSERT_EQUAL(xg_hull_size(r), xg_hull_size(h));
    const char *qs[] = {"LiFeO2", "Li5FeO4", "FeO", "Li3Fe5O8", "LiFe5O8Cl"};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        xg_hull_decomp d1, d2;
        double a1 = above(h, qs[i], -1.0, &d1), a2 = above(r, qs[i], -1.0, &d2);
        XG_ASSERT_NEAR(a1, a2, 0);
        CU_ASSERT_EQUAL(d1.n, d2.n);
    }
    CU_ASSERT(find_id(r, "mp-19419") >= 0);
    CU_ASSERT(find_id(r, "above") < 0); /* pruned */

    /* Unknown version and foreign files are refused with a message. */
    write_version(path, 2, NULL);
    xg_hull *bad = NULL;
    CU_ASSERT_EQUAL(xg_hull_read_h5(path, &bad, &err), XG_EVERSION);
    CU_ASSERT_PTR_NULL(bad);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "version 2"));
    write_version(path, 1, "xtalgen-dataset");
    CU_ASSERT_EQUAL(xg_hull_read_h5(path, &bad, &err), XG_EPARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "xtalgen-dataset"));
    const char *txt = xg_test_tmpfile(".h5", "not hdf5 at all\n");
    CU_ASSERT_EQUAL(xg_hull_read_h5(txt, &bad, &err), XG_EIO);
    snprintf(path, sizeof path, "%s/missing.h5", dir);
    CU_ASSERT_EQUAL(xg_hull_read_h5(path, &bad, &err), XG_EIO);
    snprintf(path, sizeof path, "%s/no/such/dir/hull.h5", dir);
    CU_ASSERT_EQUAL(xg_hull_write_h5(h, path, &err), XG_EIO);
    xg_hull_free(r);
    xg_hull_free(h);
}

/* Many-element queries take the group-scan path instead of subset enumeration. */
static void test_many_elements(void)
{
    xg_error err;
    xg_hull *h = xg_hull_alloc();
    add(h, "NaCl", -2.0, "nacl");
    add(h, "MgO", -3.0, "mgo");
    CU_ASSERT_EQUAL_FATAL(xg_hull_finalize(h, NULL, &err), XG_OK);
    /* 12 elements, one atom each: NaCl and MgO take 4 of 12 atoms. */
    xg_hull_decomp d;
    double ea = above(h, "NaClMgOFeCoNiCuZnTiVCr", 0, &d);
    XG_ASSERT_NEAR(ea, (2 * 2.0 + 2 * 3.0) / 12.0, 1e-12);
    CU_ASSERT_EQUAL(d.n, 10);
    xg_hull_free(h);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"formula parse", test_formula_parse},
        {"formula format", test_formula_format},
        {"binary by hand", test_binary_hand},
        {"ternary by hand", test_ternary_hand},
        {"degenerate and collinear", test_degenerate},
        {"random binary vs brute force", test_random_binary},
        {"random ternary vs brute force", test_random_ternary},
        {"bad input", test_bad_input},
        {"entries from a dataset", test_dataset_source},
        {"hdf5 round trip and versions", test_h5_roundtrip},
        {"many elements", test_many_elements},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("hull", tests);
}
