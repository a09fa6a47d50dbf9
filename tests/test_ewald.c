/* test_ewald.c: the Ewald sum against textbook Madelung constants, PME against the direct sum,
 * cell-choice independence, and refusal of bad input. Structures are built directly so this suite
 * depends only on the struct layout.
 *
 * Optional: with XG_PHYSICS_ORACLE=/tmp/xg_physics_oracle.txt (written by
 * scripts/physics_oracle.py from pymatgen) the suite also compares against pymatgen's
 * EwaldSummation; without it that test prints a note and passes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "properties/xg_ewald.h"
#include "properties/xg_fftsize.h"
#include "xg_test.h"

#define MAXAT 512

typedef struct {
    xg_structure s;
    int types[MAXAT];
    double frac[MAXAT][3];
    double q[MAXAT];
} tcell;

static void tcell_init(tcell *c, double a[3][3])
{
    memset(c, 0, sizeof *c);
    memcpy(c->s.lattice, a, sizeof c->s.lattice);
    c->s.types = c->types;
    c->s.frac = c->frac;
}

static void tcell_add(tcell *c, int z, double x, double y, double zz, double q)
{
    int i = c->s.natoms++;
    c->types[i] = z;
    c->frac[i][0] = x;
    c->frac[i][1] = y;
    c->frac[i][2] = zz;
    c->q[i] = q;
}

static void cubic(double a[3][3], double l)
{
    memset(a, 0, sizeof(double[3][3]));
    a[0][0] = a[1][1] = a[2][2] = l;
}

/* Rock salt, conventional cell: 4 Na+ and 4 Cl-. */
static void rocksalt(tcell *c, double l)
{
    double a[3][3];
    cubic(a, l);
    tcell_init(c, a);
    double fcc[4][3] = {{0, 0, 0}, {0, .5, .5}, {.5, 0, .5}, {.5, .5, 0}};
    for (int i = 0; i < 4; i++)
        tcell_add(c, 11, fcc[i][0], fcc[i][1], fcc[i][2], 1.0);
    for (int i = 0; i < 4; i++)
        tcell_add(c, 17, fcc[i][0] + .5, fcc[i][1], fcc[i][2], -1.0);
}

/* A low-symmetry, charge-neutral triclinic cell with mixed charges. */
static void triclinic(tcell *c)
{
    double a[3][3] = {{5.1, 0.0, 0.0}, {1.3, 6.2, 0.0}, {-0.8, 0.9, 7.4}};
    tcell_init(c, a);
    tcell_add(c, 26, 0.11, 0.07, 0.21, 3.0);
    tcell_add(c, 26, 0.61, 0.52, 0.69, 2.0);
    tcell_add(c, 8, 0.33, 0.18, 0.45, -2.0);
    tcell_add(c, 8, 0.82, 0.71, 0.12, -2.0);
    tcell_add(c, 3, 0.45, 0.91, 0.83, 1.0);
    tcell_add(c, 9, 0.05, 0.41, 0.62, -1.0);
    tcell_add(c, 8, 0.71, 0.25, 0.93, -1.5);
    tcell_add(c, 12, 0.28, 0.63, 0.02, 0.5);
}

static void supercell(const tcell *in, int n0, int n1, int n2, tcell *out)
{
    double a[3][3];
    int n[3] = {n0, n1, n2};
    for (int k = 0; k < 3; k++)
        for (int l = 0; l < 3; l++)
            a[k][l] = in->s.lattice[k][l] * n[k];
    tcell_init(out, a);
    for (int i = 0; i < n0; i++)
        for (int j = 0; j < n1; j++)
            for (int k = 0; k < n2; k++)
                for (int t = 0; t < in->s.natoms; t++)
                    tcell_add(out, in->types[t], (in->frac[t][0] + i) / n0,
                              (in->frac[t][1] + j) / n1, (in->frac[t][2] + k) / n2, in->q[t]);
}

static double rel(double a, double b)
{
    return fabs(a - b) / fmax(fabs(b), 1e-300);
}

static void test_madelung_nacl(void)
{
    tcell c;
    rocksalt(&c, 5.64);
    xg_ewald_result r;
    double pa[8];
    xg_error err = {0};
    CU_ASSERT_EQUAL_FATAL(xg_ewald_direct(&c.s, c.q, NULL, &r, pa, &err), XG_OK);
    double m = xg_ewald_madelung(r.total / 4.0, 5.64 / 2.0, 1.0);
    printf("\n  NaCl Madelung (direct) %.7f\n", m);
    XG_ASSERT_NEAR(m, 1.747565, 2e-6);
    double sum = 0;
    for (int i = 0; i < 8; i++)
        sum += pa[i];
    XG_ASSERT_NEAR(sum, r.total, 1e-9 * fabs(r.total));
    /* every site is equivalent: each carries a quarter of the formula-unit energy's half */
    XG_ASSERT_NEAR(pa[0], pa[7], 1e-9);
    XG_ASSERT_NEAR(pa[0], r.total / 8, 1e-9);
    CU_ASSERT_EQUAL(xg_ewald_pme(&c.s, c.q, NULL, &r, NULL, &err), XG_OK);
    m = xg_ewald_madelung(r.total / 4.0, 5.64 / 2.0, 1.0);
    printf("  NaCl Madelung (PME)    %.7f\n", m);
    XG_ASSERT_NEAR(m, 1.747565, 2e-5);
}

static void test_madelung_cscl_zns(void)
{
    double a[3][3];
    cubic(a, 4.12);
    tcell c;
    tcell_init(&c, a);
    tcell_add(&c, 55, 0, 0, 0, 1);
    tcell_add(&c, 17, .5, .5, .5, -1);
    xg_ewald_result r;
    xg_error err = {0};
    CU_ASSERT_EQUAL_FATAL(xg_ewald_direct(&c.s, c.q, NULL, &r, NULL, &err), XG_OK);
    double m = xg_ewald_madelung(r.total, 4.12 * sqrt(3.0) / 2.0, 1.0);
    printf("\n  CsCl Madelung %.7f\n", m);
    XG_ASSERT_NEAR(m, 1.762675, 2e-6);

    /* zinc blende with charges +-2: M = 1.638055 referred to r0 = a sqrt(3)/4 */
    cubic(a, 5.41);
    tcell_init(&c, a);
    double fcc[4][3] = {{0, 0, 0}, {0, .5, .5}, {.5, 0, .5}, {.5, .5, 0}};
    for (int i = 0; i < 4; i++) {
        tcell_add(&c, 30, fcc[i][0], fcc[i][1], fcc[i][2], 2);
        tcell_add(&c, 16, fcc[i][0] + .25, fcc[i][1] + .25, fcc[i][2] + .25, -2);
    }
    CU_ASSERT_EQUAL_FATAL(xg_ewald_direct(&c.s, c.q, NULL, &r, NULL, &err), XG_OK);
    m = xg_ewald_madelung(r.total / 4, 5.41 * sqrt(3.0) / 4.0, 2.0);
    printf("  ZnS Madelung %.7f\n", m);
    XG_ASSERT_NEAR(m, 1.638055, 2e-6);
}

static void test_pme_matches_direct(void)
{
    tcell c;
    triclinic(&c);
    xg_ewald_result rd, rp;
    double pd[8], pp[8];
    xg_error err = {0};
    CU_ASSERT_EQUAL_FATAL(xg_ewald_direct(&c.s, c.q, NULL, &rd, pd, &err), XG_OK);
    CU_ASSERT_EQUAL_FATAL(xg_ewald_pme(&c.s, c.q, NULL, &rp, pp, &err), XG_OK);
    printf("\n  triclinic direct %.10f PME %.10f eV (grid %dx%dx%d), rel %.2e\n", rd.total,
           rp.total, rp.grid[0], rp.grid[1], rp.grid[2], rel(rp.total, rd.total));
    CU_ASSERT(rel(rp.total, rd.total) < 1e-5);
    double sum = 0;
    for (int i = 0; i < c.s.natoms; i++) {
        CU_ASSERT(fabs(pp[i] - pd[i]) < 1e-4 * fabs(rd.total));
        sum += pp[i];
    }
    XG_ASSERT_NEAR(sum, rp.total, 1e-9 * fabs(rp.total));
    /* PME at order 4 on a coarse grid is worse but still close: the order matters */
    xg_ewald_params p;
    xg_ewald_params_default(&p);
    p.pme_order = 4;
    p.pme_spacing = 0.6;
    CU_ASSERT_EQUAL(xg_ewald_pme(&c.s, c.q, &p, &rp, NULL, &err), XG_OK);
    printf("  order 4, coarse grid %dx%dx%d: rel %.2e\n", rp.grid[0], rp.grid[1], rp.grid[2],
           rel(rp.total, rd.total));
    CU_ASSERT(rel(rp.total, rd.total) < 1e-2);
    /* odd order exercises the B-spline modulus remedy */
    p.pme_order = 5;
    p.pme_spacing = 0.2;
    CU_ASSERT_EQUAL(xg_ewald_pme(&c.s, c.q, &p, &rp, NULL, &err), XG_OK);
    CU_ASSERT(rel(rp.total, rd.total) < 1e-4);
}

static void test_supercell_invariance(void)
{
    tcell c, sc;
    triclinic(&c);
    supercell(&c, 2, 3, 2, &sc);
    xg_ewald_result r1, r2;
    xg_error err = {0};
    CU_ASSERT_EQUAL_FATAL(xg_ewald_direct(&c.s, c.q, NULL, &r1, NULL, &err), XG_OK);
    CU_ASSERT_EQUAL_FATAL(xg_ewald_direct(&sc.s, sc.q, NULL, &r2, NULL, &err), XG_OK);
    double e1 = r1.total / c.s.natoms, e2 = r2.total / sc.s.natoms;
    printf("\n  per atom: cell %.10f supercell %.10f (direct)\n", e1, e2);
    CU_ASSERT(rel(e2, e1) < 1e-8);
    CU_ASSERT_EQUAL_FATAL(xg_ewald_pme(&sc.s, sc.q, NULL, &r2, NULL, &err), XG_OK);
    printf("  supercell PME per atom %.10f\n", r2.total / sc.s.natoms);
    CU_ASSERT(rel(r2.total / sc.s.natoms, e1) < 1e-5);
    /* rocksalt: primitive fcc cell versus conventional */
    double a[3][3] = {{0, 2.82, 2.82}, {2.82, 0, 2.82}, {2.82, 2.82, 0}};
    tcell p, conv;
    tcell_init(&p, a);
    tcell_add(&p, 11, 0, 0, 0, 1);
    tcell_add(&p, 17, .5, .5, .5, -1);
    rocksalt(&conv, 5.64);
    CU_ASSERT_EQUAL_FATAL(xg_ewald_direct(&p.s, p.q, NULL, &r1, NULL, &err), XG_OK);
    CU_ASSERT_EQUAL_FATAL(xg_ewald_direct(&conv.s, conv.q, NULL, &r2, NULL, &err), XG_OK);
    CU_ASSERT(rel(r1.total / 2, r2.total / 8) < 1e-9);
}

static void test_translation_and_wrapping(void)
{
    tcell c, d;
    triclinic(&c);
    d = c;
    d.s.types = d.types;
    d.s.frac = d.frac;
    for (int i = 0; i < d.s.natoms; i++)
        for (int k = 0; k < 3; k++)
            d.frac[i][k] += 0.37 * (k + 1) + (i % 2 ? -3 : 2); /* shift + unwrapped images */
    xg_ewald_result r1, r2;
    xg_error err = {0};
    CU_ASSERT_EQUAL_FATAL(xg_ewald_direct(&c.s, c.q, NULL, &r1, NULL, &err), XG_OK);
    CU_ASSERT_EQUAL_FATAL(xg_ewald_direct(&d.s, d.q, NULL, &r2, NULL, &err), XG_OK);
    CU_ASSERT(rel(r2.total, r1.total) < 1e-10);
    CU_ASSERT_EQUAL_FATAL(xg_ewald_pme(&d.s, d.q, NULL, &r2, NULL, &err), XG_OK);
    CU_ASSERT(rel(r2.total, r1.total) < 1e-5);
}

static void test_eta_independence_and_charged_cell(void)
{
    tcell c;
    triclinic(&c);
    xg_ewald_params p;
    xg_ewald_params_default(&p);
    xg_ewald_result r1, r2;
    xg_error err = {0};
    CU_ASSERT_EQUAL(xg_ewald_direct(&c.s, c.q, &p, &r1, NULL, &err), XG_OK);
    p.eta = 0.6;
    CU_ASSERT_EQUAL(xg_ewald_direct(&c.s, c.q, &p, &r2, NULL, &err), XG_OK);
    CU_ASSERT(rel(r2.total, r1.total) < 1e-9);
    CU_ASSERT(fabs(r2.real - r1.real) > 1e-3); /* the split really moved */
    /* a charged cell: with the background term the total no longer depends on eta */
    c.q[0] += 1.0;
    p.eta = 0;
    CU_ASSERT_EQUAL(xg_ewald_direct(&c.s, c.q, &p, &r1, NULL, &err), XG_OK);
    CU_ASSERT(r1.charged < 0);
    p.eta = 0.6;
    CU_ASSERT_EQUAL(xg_ewald_direct(&c.s, c.q, &p, &r2, NULL, &err), XG_OK);
    CU_ASSERT(rel(r2.total, r1.total) < 1e-9);
    CU_ASSERT_EQUAL(xg_ewald_pme(&c.s, c.q, NULL, &r2, NULL, &err), XG_OK);
    CU_ASSERT(rel(r2.total, r1.total) < 1e-5);
    p.refuse_charged = 1;
    CU_ASSERT_EQUAL(xg_ewald_direct(&c.s, c.q, &p, &r2, NULL, &err), XG_EINVAL);
    CU_ASSERT(strstr(err.msg, "charge") != NULL);
}

static void test_bad_input(void)
{
    tcell c;
    triclinic(&c);
    xg_ewald_result r;
    xg_error err = {0};
    tcell d = c;
    d.s.types = d.types;
    d.s.frac = d.frac;
    memset(d.s.lattice[2], 0, sizeof d.s.lattice[2]);
    CU_ASSERT_EQUAL(xg_ewald_direct(&d.s, d.q, NULL, &r, NULL, &err), XG_EINVAL);
    CU_ASSERT(strstr(err.msg, "degenerate") != NULL);
    CU_ASSERT_EQUAL(xg_ewald_pme(&d.s, d.q, NULL, &r, NULL, &err), XG_EINVAL);
    d = c;
    d.s.types = d.types;
    d.s.frac = d.frac;
    d.q[3] = NAN;
    CU_ASSERT_EQUAL(xg_ewald_direct(&d.s, d.q, NULL, &r, NULL, &err), XG_EINVAL);
    d.q[3] = -2;
    d.frac[2][1] = INFINITY;
    CU_ASSERT_EQUAL(xg_ewald_direct(&d.s, d.q, NULL, &r, NULL, &err), XG_EINVAL);
    d.s.natoms = 0;
    CU_ASSERT_EQUAL(xg_ewald_direct(&d.s, d.q, NULL, &r, NULL, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_ewald_direct(NULL, d.q, NULL, &r, NULL, &err), XG_EINVAL);
    /* an absurd cutoff is refused, not ground through for hours */
    xg_ewald_params p;
    xg_ewald_params_default(&p);
    p.real_cutoff = 1e4;
    CU_ASSERT_EQUAL(xg_ewald_direct(&c.s, c.q, &p, &r, NULL, &err), XG_EUNSUPPORTED);
    CU_ASSERT(strstr(err.msg, "too") != NULL);
    p.real_cutoff = -1;
    CU_ASSERT_EQUAL(xg_ewald_direct(&c.s, c.q, &p, &r, NULL, &err), XG_EINVAL);
    xg_ewald_params_default(&p);
    p.pme_order = 2;
    CU_ASSERT_EQUAL(xg_ewald_pme(&c.s, c.q, &p, &r, NULL, &err), XG_EINVAL);
}

static void test_oxidation_wrapper(void)
{
    tcell c;
    rocksalt(&c, 5.64);
    double epa = 0;
    int oxi[8];
    xg_ewald_result r;
    xg_error err = {0};
    int rc = xg_ewald_oxidation_energy(&c.s, &epa, oxi, &r, &err);
    CU_ASSERT_EQUAL_FATAL(rc, XG_OK);
    CU_ASSERT_EQUAL(oxi[0], 1);
    CU_ASSERT_EQUAL(oxi[7], -1);
    XG_ASSERT_NEAR(epa, r.total / 8, 1e-12);
    /* E per atom = -M k / (2 r0) for NaCl */
    XG_ASSERT_NEAR(epa, -1.747565 * XG_COULOMB_EV_A / (2 * 2.82), 1e-5);
    /* an element has no ionic charges: refused with a reason, energy NAN */
    for (int i = 0; i < 8; i++)
        c.types[i] = 26;
    CU_ASSERT_EQUAL(xg_ewald_oxidation_energy(&c.s, &epa, NULL, NULL, &err), XG_EUNSUPPORTED);
    CU_ASSERT(isnan(epa));
}

/* Optional comparison with pymatgen (see the file comment). Format, one structure per block:
 *   structure ID NATOMS / lattice 9 numbers / NATOMS lines "site Z fx fy fz q" /
 *   "ewald TOTAL" / "xrd ..." lines (ignored here) / "end" */
/* The mesh sizes PME (and the XRD convolution) use: 5-smooth, the smallest at or above n. */
static void test_fft_good_size(void)
{
    const int in[] = {0, 1, 2, 7, 11, 13, 14, 17, 31, 97, 121, 1000, 1021};
    const int want[] = {1, 1, 2, 8, 12, 15, 15, 18, 32, 100, 125, 1000, 1024};
    for (size_t k = 0; k < sizeof in / sizeof in[0]; k++)
        CU_ASSERT_EQUAL(xg_fft_good_size(in[k]), want[k]);
    /* every size is 5-smooth and none between n and it is */
    for (int n = 1; n <= 2000; n++) {
        int g = xg_fft_good_size(n), m = g;
        CU_ASSERT(g >= n);
        while (m % 2 == 0)
            m /= 2;
        while (m % 3 == 0)
            m /= 3;
        while (m % 5 == 0)
            m /= 5;
        CU_ASSERT_EQUAL(m, 1);
        CU_ASSERT(g == n || xg_fft_good_size(n + 1) == g);
    }
}

static void test_oracle(void)
{
    const char *path = getenv("XG_PHYSICS_ORACLE");
    if (!path || !*path) {
        printf("\n  note: XG_PHYSICS_ORACLE not set; pymatgen comparison skipped\n");
        CU_PASS("skipped");
        return;
    }
    FILE *fp = fopen(path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    static tcell c;
    char line[4096], id[256];
    int n = 0, nbad = 0, nbadpme = 0, natoms = 0, have = 0;
    double worst = 0, worstpme = 0, eref = 0;
    double t_direct = 0, t_pme = 0;
    while (fgets(line, sizeof line, fp)) {
        if (sscanf(line, "structure %255s %d", id, &natoms) == 2) {
            double a[3][3] = {{0}};
            tcell_init(&c, a);
            have = natoms > 0 && natoms <= MAXAT;
            continue;
        }
        if (!have)
            continue;
        double *L = &c.s.lattice[0][0];
        int z;
        double x, y, w, q;
        if (!strncmp(line, "lattice", 7)) {
            sscanf(line + 7, "%lf %lf %lf %lf %lf %lf %lf %lf %lf", L, L + 1, L + 2, L + 3, L + 4,
                   L + 5, L + 6, L + 7, L + 8);
        } else if (sscanf(line, "site %d %lf %lf %lf %lf", &z, &x, &y, &w, &q) == 5) {
            tcell_add(&c, z, x, y, w, q);
        } else if (sscanf(line, "ewald %lf", &eref) == 1 && c.s.natoms == natoms) {
            xg_ewald_result r;
            xg_error err = {0};
            snprintf(c.s.id, sizeof c.s.id, "%.100s", id);
            double t0 = clock() / (double)CLOCKS_PER_SEC;
            int rc = xg_ewald_direct(&c.s, c.q, NULL, &r, NULL, &err);
            double t1 = clock() / (double)CLOCKS_PER_SEC;
            CU_ASSERT_EQUAL(rc, XG_OK);
            double d = rel(r.total, eref);
            if (d > worst)
                worst = d;
            if (d > 1e-4) {
                nbad++;
                printf("\n  %s: direct %.8f pymatgen %.8f", id, r.total, eref);
            }
            rc = xg_ewald_pme(&c.s, c.q, NULL, &r, NULL, &err);
            double t2 = clock() / (double)CLOCKS_PER_SEC;
            CU_ASSERT_EQUAL(rc, XG_OK);
            d = rel(r.total, eref);
            if (d > worstpme)
                worstpme = d;
            if (d > 1e-4) {
                nbadpme++;
                printf("\n  %s: PME %.8f pymatgen %.8f", id, r.total, eref);
            }
            t_direct += t1 - t0;
            t_pme += t2 - t1;
            n++;
            have = 0;
        }
    }
    fclose(fp);
    printf("\n  oracle: %d structures, direct worst rel %.2e (%d over 1e-4), PME worst rel %.2e "
           "(%d over 1e-4); cpu direct %.2fs PME %.2fs\n",
           n, worst, nbad, worstpme, nbadpme, t_direct, t_pme);
    CU_ASSERT(n > 0);
    CU_ASSERT_EQUAL(nbad, 0);
    CU_ASSERT_EQUAL(nbadpme, 0);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"Madelung constant of NaCl", test_madelung_nacl},
        {"Madelung constants of CsCl and ZnS", test_madelung_cscl_zns},
        {"PME agrees with the direct sum", test_pme_matches_direct},
        {"a supercell gives the same energy per atom", test_supercell_invariance},
        {"translation and unwrapped coordinates", test_translation_and_wrapping},
        {"eta independence and charged cells", test_eta_independence_and_charged_cell},
        {"bad input is refused", test_bad_input},
        {"oxidation-state wrapper", test_oxidation_wrapper},
        {"FFT mesh sizes are 5-smooth", test_fft_good_size},
        {"pymatgen oracle (optional)", test_oracle},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("ewald", tests);
}
