/* test_symmetry.c: spglib wrapper on textbook crystals built from published parameters, the
 * row/column lattice transpose on non-orthogonal cells, primitive/conventional/refined cells,
 * and the symmetrized CIF read back through xtalgen's own CIF reader. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_cif.h"
#include "crystal/xg_csv.h"
#include "crystal/xg_symmetry.h"
#include "xg_test.h"

static xg_structure *make(const char *id, const double L[3][3], int n, const int *z,
                          const double (*x)[3])
{
    xg_structure *s = xg_structure_alloc(n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    memcpy(s->lattice, L, sizeof s->lattice);
    for (int i = 0; i < n; i++) {
        s->types[i] = z[i];
        memcpy(s->frac[i], x[i], sizeof s->frac[i]);
    }
    snprintf(s->id, XG_ID_LEN, "%s", id);
    return s;
}

static void cubic(double a, double L[3][3])
{
    memset(L, 0, 9 * sizeof(double));
    L[0][0] = L[1][1] = L[2][2] = a;
}

static void hexagonal(double a, double c, double L[3][3])
{
    memset(L, 0, 9 * sizeof(double));
    L[0][0] = a;
    L[1][0] = -a / 2;
    L[1][1] = a * sqrt(3.0) / 2;
    L[2][2] = c;
}

/* Rocksalt NaCl, a = 5.640 A (Wyckoff, Crystal Structures), conventional cell of 8 atoms. */
static xg_structure *rocksalt(void)
{
    double L[3][3];
    cubic(5.640, L);
    const double fcc[4][3] = {{0, 0, 0}, {0, .5, .5}, {.5, 0, .5}, {.5, .5, 0}};
    int z[8];
    double x[8][3];
    for (int i = 0; i < 4; i++) {
        z[i] = 11;
        z[i + 4] = 17;
        for (int d = 0; d < 3; d++) {
            x[i][d] = fcc[i][d];
            x[i + 4][d] = fmod(fcc[i][d] + (d == 0 ? 0.5 : 0.0), 1.0);
        }
    }
    return make("NaCl", (const double(*)[3])L, 8, z, (const double(*)[3])x);
}

/* Cubic perovskite SrTiO3, a = 3.905 A. */
static xg_structure *perovskite(void)
{
    double L[3][3];
    cubic(3.905, L);
    const int z[5] = {38, 22, 8, 8, 8};
    const double x[5][3] = {{0, 0, 0}, {.5, .5, .5}, {.5, .5, 0}, {.5, 0, .5}, {0, .5, .5}};
    return make("SrTiO3", (const double(*)[3])L, 5, z, x);
}

/* Wurtzite ZnO, a = 3.2495, c = 5.2069 A, u = 0.3819 (Kisi & Elcombe 1989). */
static xg_structure *wurtzite(void)
{
    double L[3][3];
    hexagonal(3.2495, 5.2069, L);
    const double u = 0.3819;
    const int z[4] = {30, 30, 8, 8};
    const double x[4][3] = {
        {1. / 3, 2. / 3, 0}, {2. / 3, 1. / 3, 0.5}, {1. / 3, 2. / 3, u}, {2. / 3, 1. / 3, 0.5 + u}};
    return make("ZnO", (const double(*)[3])L, 4, z, x);
}

/* Rutile TiO2, a = 4.594, c = 2.959 A, u = 0.3048 (Baur 1961). */
static xg_structure *rutile(void)
{
    double L[3][3];
    memset(L, 0, sizeof L);
    L[0][0] = L[1][1] = 4.594;
    L[2][2] = 2.959;
    const double u = 0.3048;
    const int z[6] = {22, 22, 8, 8, 8, 8};
    const double x[6][3] = {{0, 0, 0},          {.5, .5, .5},       {u, u, 0},
                            {1 - u, 1 - u, 0},  {.5 + u, .5 - u, .5}, {.5 - u, .5 + u, .5}};
    return make("TiO2", (const double(*)[3])L, 6, z, x);
}

/* Diamond Si, a = 5.431 A, conventional cell of 8 atoms. */
static xg_structure *diamond(void)
{
    double L[3][3];
    cubic(5.431, L);
    const double fcc[4][3] = {{0, 0, 0}, {0, .5, .5}, {.5, 0, .5}, {.5, .5, 0}};
    int z[8];
    double x[8][3];
    for (int i = 0; i < 4; i++) {
        z[i] = z[i + 4] = 14;
        for (int d = 0; d < 3; d++) {
            x[i][d] = fcc[i][d];
            x[i + 4][d] = fcc[i][d] + 0.25;
        }
    }
    return make("Si", (const double(*)[3])L, 8, z, (const double(*)[3])x);
}

static void expect_group(xg_structure *s, int number, const char *symbol)
{
    xg_error err = {0};
    xg_symmetry *sym = NULL;
    int rc = xg_symmetry_analyze(s, 1e-3, &sym, &err);
    CU_ASSERT_EQUAL_FATAL(rc, XG_OK);
    CU_ASSERT_EQUAL(sym->spacegroup_number, number);
    CU_ASSERT_STRING_EQUAL(sym->international, symbol);
    CU_ASSERT_EQUAL(sym->natoms, s->natoms);
    CU_ASSERT(sym->n_operations > 0);
    int sg = 0;
    char buf[16];
    CU_ASSERT_EQUAL(xg_symmetry_spacegroup(s, 0.1, &sg, buf, &err), XG_OK);
    CU_ASSERT_EQUAL(sg, number);
    xg_symmetry_free(sym);
    xg_structure_free(s);
}

static void test_rocksalt(void) { expect_group(rocksalt(), 225, "Fm-3m"); }
static void test_perovskite(void) { expect_group(perovskite(), 221, "Pm-3m"); }
static void test_wurtzite(void) { expect_group(wurtzite(), 186, "P6_3mc"); }
static void test_rutile(void) { expect_group(rutile(), 136, "P4_2/mnm"); }
static void test_diamond(void) { expect_group(diamond(), 227, "Fd-3m"); }

static double row_len(const double v[3]) { return sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]); }

/* Rotates the cell rigidly about the axis (1, 2, 3) by 37 degrees (Rodrigues' formula), so
 * the lattice matrix has no zero entries and is far from symmetric. */
static void rotate(xg_structure *s)
{
    double k[3] = {1, 2, 3}, kn = row_len(k), th = 37.0 * M_PI / 180.0, R[3][3];
    for (int i = 0; i < 3; i++)
        k[i] /= kn;
    double K[3][3] = {{0, -k[2], k[1]}, {k[2], 0, -k[0]}, {-k[1], k[0], 0}};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double kk = 0;
            for (int m = 0; m < 3; m++)
                kk += K[i][m] * K[m][j];
            R[i][j] = (i == j) + sin(th) * K[i][j] + (1 - cos(th)) * kk;
        }
    double Lr[3][3] = {{0}};
    for (int i = 0; i < 3; i++) /* rows are vectors: v' = v R^T */
        for (int j = 0; j < 3; j++)
            for (int m = 0; m < 3; m++)
                Lr[i][j] += s->lattice[i][m] * R[j][m];
    memcpy(s->lattice, Lr, sizeof Lr);
}

/* The convention test. A hexagonal cell rotated by an arbitrary rotation has no zero entries
 * and a lattice matrix far from symmetric, so handing spglib the rows as columns describes a
 * different lattice and loses the hexagonal symmetry. */
static void test_transpose_noncubic(void)
{
    xg_structure *s = wurtzite();
    rotate(s);
    xg_error err = {0};
    xg_symmetry *sym = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_symmetry_analyze(s, 1e-3, &sym, &err), XG_OK);
    CU_ASSERT_EQUAL(sym->spacegroup_number, 186);
    /* the standardized lattice comes back as rows too: |a| = |b| = 3.2495, |c| = 5.2069 */
    XG_ASSERT_NEAR(row_len(sym->std_lattice[0]), 3.2495, 1e-6);
    XG_ASSERT_NEAR(row_len(sym->std_lattice[1]), 3.2495, 1e-6);
    XG_ASSERT_NEAR(row_len(sym->std_lattice[2]), 5.2069, 1e-6);
    xg_symmetry_free(sym);

    /* The same numbers with the convention broken: the answer must change, which is what
     * makes the test above able to catch a missing or doubled transpose. */
    xg_structure *t = xg_structure_copy(s);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            t->lattice[i][j] = s->lattice[j][i];
    int sg = 0;
    CU_ASSERT_EQUAL(xg_symmetry_spacegroup(t, 1e-3, &sg, NULL, &err), XG_OK);
    CU_ASSERT_NOT_EQUAL(sg, 186);

    /* the conventional cell of the rotated input is the hexagonal cell again (rows) */
    xg_structure *c = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_symmetry_conventional(s, 1e-3, &c, &err), XG_OK);
    CU_ASSERT_EQUAL(c->natoms, 4);
    XG_ASSERT_NEAR(row_len(c->lattice[0]), 3.2495, 1e-6);
    XG_ASSERT_NEAR(row_len(c->lattice[2]), 5.2069, 1e-6);
    double cosg = (c->lattice[0][0] * c->lattice[1][0] + c->lattice[0][1] * c->lattice[1][1] +
                   c->lattice[0][2] * c->lattice[1][2]) /
                  (row_len(c->lattice[0]) * row_len(c->lattice[1]));
    XG_ASSERT_NEAR(cosg, -0.5, 1e-9); /* gamma = 120 degrees */
    xg_structure_free(c);
    xg_structure_free(t);
    xg_structure_free(s);
}

/* A monoclinic cell (beta = 104 degrees, P2/m with atoms on special positions), rigidly
 * rotated: handed to spglib transposed it is no longer monoclinic. And the plain hexagonal
 * cell (a along x), the most common non-orthogonal matrix in the data. */
static void test_transpose_monoclinic(void)
{
    double beta = 104.0 * M_PI / 180.0, a = 4.1, b = 3.3, c = 5.7;
    double L[3][3] = {{a, 0, 0}, {0, b, 0}, {c * cos(beta), 0, c * sin(beta)}};
    const int z[2] = {26, 8};
    const double x[2][3] = {{0, 0, 0}, {0.5, 0.5, 0.5}};
    xg_structure *s = make("mono", (const double(*)[3])L, 2, z, x);
    rotate(s);
    xg_error err = {0};
    int sg = 0;
    CU_ASSERT_EQUAL(xg_symmetry_spacegroup(s, 1e-3, &sg, NULL, &err), XG_OK);
    CU_ASSERT_EQUAL(sg, 10); /* P2/m */
    double T[3][3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            T[i][j] = s->lattice[j][i];
    memcpy(s->lattice, T, sizeof T);
    CU_ASSERT_EQUAL(xg_symmetry_spacegroup(s, 1e-3, &sg, NULL, &err), XG_OK);
    CU_ASSERT_NOT_EQUAL(sg, 10);
    xg_structure_free(s);

    xg_structure *w = wurtzite();
    CU_ASSERT_EQUAL(xg_symmetry_spacegroup(w, 1e-3, &sg, NULL, &err), XG_OK);
    CU_ASSERT_EQUAL(sg, 186);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            T[i][j] = w->lattice[j][i];
    memcpy(w->lattice, T, sizeof T);
    CU_ASSERT_EQUAL(xg_symmetry_spacegroup(w, 1e-3, &sg, NULL, &err), XG_OK);
    CU_ASSERT_NOT_EQUAL(sg, 186);
    xg_structure_free(w);
}

static void test_primitive_fcc(void)
{
    xg_error err = {0};
    xg_structure *s = rocksalt(), *p = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_symmetry_primitive(s, 1e-3, &p, &err), XG_OK);
    CU_ASSERT_EQUAL(p->natoms, s->natoms / 4);
    XG_ASSERT_NEAR(fabs(p->lattice[0][0] * (p->lattice[1][1] * p->lattice[2][2] -
                                            p->lattice[1][2] * p->lattice[2][1]) -
                        p->lattice[0][1] * (p->lattice[1][0] * p->lattice[2][2] -
                                            p->lattice[1][2] * p->lattice[2][0]) +
                        p->lattice[0][2] * (p->lattice[1][0] * p->lattice[2][1] -
                                            p->lattice[1][1] * p->lattice[2][0])),
                   pow(5.640, 3) / 4, 1e-6);
    CU_ASSERT_STRING_EQUAL(p->id, "NaCl");
    int sg = 0;
    CU_ASSERT_EQUAL(xg_symmetry_spacegroup(p, 1e-3, &sg, NULL, &err), XG_OK);
    CU_ASSERT_EQUAL(sg, 225);
    /* and back: the conventional cell of the primitive has 4 times the atoms */
    xg_structure *c = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_symmetry_conventional(p, 1e-3, &c, &err), XG_OK);
    CU_ASSERT_EQUAL(c->natoms, 8);
    xg_structure_free(c);
    xg_structure_free(p);
    xg_structure_free(s);
}

/* Refining a slightly distorted crystal restores the exact symmetry: at a strict tolerance the
 * distorted input is P1-like, the refined output has the textbook group. */
static void test_refine_same_group(void)
{
    xg_structure *(*builders[5])(void) = {rocksalt, perovskite, wurtzite, rutile, diamond};
    const int groups[5] = {225, 221, 186, 136, 227};
    xg_error err = {0};
    for (int b = 0; b < 5; b++) {
        xg_structure *s = builders[b]();
        for (int i = 0; i < s->natoms; i++)
            for (int d = 0; d < 3; d++)
                s->frac[i][d] += 0.002 * sin(1.0 + 7.0 * i + 3.0 * d); /* ~0.01 A */
        int sg = 0;
        CU_ASSERT_EQUAL(xg_symmetry_spacegroup(s, 1e-4, &sg, NULL, &err), XG_OK);
        CU_ASSERT_NOT_EQUAL(sg, groups[b]);
        CU_ASSERT_EQUAL(xg_symmetry_spacegroup(s, 0.1, &sg, NULL, &err), XG_OK);
        CU_ASSERT_EQUAL(sg, groups[b]);
        xg_structure *r = NULL;
        CU_ASSERT_EQUAL_FATAL(xg_symmetry_refine(s, 0.1, &r, &err), XG_OK);
        CU_ASSERT_EQUAL(xg_symmetry_spacegroup(r, 1e-5, &sg, NULL, &err), XG_OK);
        CU_ASSERT_EQUAL(sg, groups[b]);
        xg_structure_free(r);
        xg_structure_free(s);
    }
}

static void test_wyckoff_and_orbits(void)
{
    xg_error err = {0};
    xg_structure *s = rocksalt();
    xg_symmetry *sym = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_symmetry_analyze(s, 1e-3, &sym, &err), XG_OK);
    CU_ASSERT_EQUAL(sym->n_operations, 192); /* 48 point operations x 4 centring translations */
    CU_ASSERT_EQUAL(sym->hall_number, 523);
    CU_ASSERT_STRING_EQUAL(sym->pointgroup, "m-3m");
    CU_ASSERT_EQUAL(sym->wyckoffs[0], 'a'); /* Na at 4a, Cl at 4b */
    CU_ASSERT_EQUAL(sym->wyckoffs[4], 'b');
    for (int i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL(sym->equivalent_atoms[i], 0);
        CU_ASSERT_EQUAL(sym->equivalent_atoms[i + 4], 4);
    }
    CU_ASSERT_STRING_EQUAL(sym->site_symmetry[0], "m-3m");
    xg_symmetry_free(sym);
    xg_structure_free(s);
}

static void test_errors(void)
{
    xg_error err = {0};
    xg_structure *s = rocksalt();
    xg_symmetry *sym = NULL;
    CU_ASSERT_EQUAL(xg_symmetry_analyze(s, 0.0, &sym, &err), XG_EINVAL);
    CU_ASSERT_PTR_NULL(sym);
    CU_ASSERT(strstr(err.msg, "symprec") != NULL);
    CU_ASSERT_EQUAL(xg_symmetry_analyze(s, NAN, &sym, &err), XG_EINVAL);
    /* a cell far thinner than symprec: spglib 2.0 would crash on it; refused beforehand */
    double keep[3][3];
    memcpy(keep, s->lattice, sizeof keep);
    s->lattice[1][0] = 4.99;
    s->lattice[1][1] = 0.01;
    int rc = xg_symmetry_analyze(s, 0.1, &sym, &err);
    CU_ASSERT_EQUAL(rc, XG_EINVAL);
    CU_ASSERT(strstr(err.msg, "thick") != NULL);
    CU_ASSERT(strstr(err.msg, "NaCl") != NULL);
    CU_ASSERT_PTR_NULL(sym);
    int sg = 0;
    CU_ASSERT_EQUAL(xg_symmetry_spacegroup(s, 0.1, &sg, NULL, &err), XG_EINVAL);
    /* two Na atoms on one spot: spglib refuses ("too close") and its reason is reported */
    memcpy(s->lattice, keep, sizeof keep);
    memcpy(s->frac[1], s->frac[0], sizeof s->frac[0]);
    s->frac[1][2] += 1e-5;
    rc = xg_symmetry_analyze(s, 0.1, &sym, &err);
    CU_ASSERT_EQUAL(xg_symmetry_spacegroup(s, 0.1, &sg, NULL, &err), XG_ELIB);
    CU_ASSERT_EQUAL(rc, XG_ELIB);
    CU_ASSERT(strstr(err.msg, "spglib") != NULL);
    CU_ASSERT(strstr(err.msg, "NaCl") != NULL);
    CU_ASSERT_PTR_NULL(sym);
    /* a singular lattice is caught before spglib sees it */
    xg_structure *f = rocksalt();
    memset(f->lattice[2], 0, sizeof f->lattice[2]);
    CU_ASSERT_EQUAL(xg_symmetry_analyze(f, 0.1, &sym, &err), XG_EINVAL);
    xg_structure *p = NULL;
    CU_ASSERT_EQUAL(xg_symmetry_primitive(f, 0.1, &p, &err), XG_EINVAL);
    CU_ASSERT_PTR_NULL(p);
    xg_structure_free(f);
    xg_structure *e = xg_structure_alloc(0);
    CU_ASSERT_EQUAL(xg_symmetry_analyze(e, 0.1, &sym, &err), XG_EINVAL);
    xg_structure_free(e);
    xg_structure_free(s);
}

/* The symmetrized CIF holds the asymmetric unit and the operations; reading it back (which
 * applies the operations) must give the full conventional cell with the same space group. */
static void check_symcif(xg_structure *s, int group, int natoms_conv, int nsites)
{
    xg_error err = {0};
    char *text = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_symmetry_cif_string(s, 0.01, &text, &err), XG_OK);
    char num[48];
    snprintf(num, sizeof num, "_symmetry_Int_Tables_number   %d", group);
    CU_ASSERT(strstr(text, num) != NULL);
    /* count atom_site rows: lines with 8 fields after the atom_site loop header */
    const char *loop = strstr(text, "_atom_site_occupancy");
    CU_ASSERT_PTR_NOT_NULL_FATAL(loop);
    int rows = 0;
    for (const char *p = strchr(loop, '\n'); p && p[1]; p = strchr(p + 1, '\n'))
        rows += p[1] != '\0' && p[1] != '\n' && p[1] != '_' && p[1] != 'l';
    CU_ASSERT_EQUAL(rows, nsites);
    xg_structure *back = NULL;
    int rc = xg_cif_read_one_buffer(text, strlen(text), "symmetrized", &back, &err);
    CU_ASSERT_EQUAL_FATAL(rc, XG_OK);
    CU_ASSERT_EQUAL(back->natoms, natoms_conv);
    int sg = 0;
    CU_ASSERT_EQUAL(xg_symmetry_spacegroup(back, 1e-3, &sg, NULL, &err), XG_OK);
    CU_ASSERT_EQUAL(sg, group);
    xg_structure_free(back);
    free(text);
    xg_structure_free(s);
}

static void test_symmetrized_cif(void)
{
    check_symcif(rocksalt(), 225, 8, 2);
    check_symcif(rutile(), 136, 6, 2);
    check_symcif(wurtzite(), 186, 4, 2);
    check_symcif(diamond(), 227, 8, 1);
    check_symcif(perovskite(), 221, 5, 3);
}

/* xg_symmetry_spacegroup finds the operations itself and asks spglib only for the type; it
 * must agree with spglib's full dataset (including when it falls back to it: non-primitive
 * cells, borderline tolerances). */
static void agree(xg_structure *s, double symprec)
{
    xg_error err = {0};
    xg_symmetry *sym = NULL;
    int sg = -1;
    char symbol[16];
    CU_ASSERT_EQUAL_FATAL(xg_symmetry_analyze(s, symprec, &sym, &err), XG_OK);
    CU_ASSERT_EQUAL_FATAL(xg_symmetry_spacegroup(s, symprec, &sg, symbol, &err), XG_OK);
    CU_ASSERT_EQUAL(sg, sym->spacegroup_number);
    CU_ASSERT_STRING_EQUAL(symbol, sym->international);
    if (sg != sym->spacegroup_number)
        fprintf(stderr, "\n    %s at %g: fast %d, dataset %d\n", s->id, symprec, sg,
                sym->spacegroup_number);
    xg_symmetry_free(sym);
}

static void test_fast_path_agrees(void)
{
    xg_structure *(*builders[5])(void) = {rocksalt, perovskite, wurtzite, rutile, diamond};
    xg_error err = {0};
    for (int b = 0; b < 5; b++) {
        for (int variant = 0; variant < 4; variant++) {
            xg_structure *s = builders[b]();
            if (variant & 1)
                rotate(s);
            if (variant & 2) /* displacements of ~0.01-0.03 A */
                for (int i = 0; i < s->natoms; i++)
                    for (int d = 0; d < 3; d++)
                        s->frac[i][d] += 0.004 * sin(2.0 + 5.0 * i + 3.0 * d);
            agree(s, 1e-3);
            agree(s, 0.1);
            /* the primitive cell takes the fast path (the conventional ones fall back) */
            xg_structure *p = NULL;
            CU_ASSERT_EQUAL_FATAL(xg_symmetry_primitive(s, 0.1, &p, &err), XG_OK);
            agree(p, 0.1);
            agree(p, 1e-4);
            xg_structure_free(p);
            xg_structure_free(s);
        }
    }
    /* the first 300 MP-20 validation crystals, when the shared data is here */
    const char *path = XG_SHARED_DATA "/mp_20/val.csv";
    if (!xg_test_exists(path)) {
        printf("\n    (MP-20 part skipped: %s not present)\n", path);
        return;
    }
    xg_dataset *ds = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_csv_read_cdvae(path, &ds, NULL, NULL, &err), XG_OK);
    int k = xg_dataset_find_property(ds, "spacegroup.number");
    CU_ASSERT_FATAL(k >= 0);
    for (int64_t i = 0; i < 300 && i < ds->n; i++) {
        xg_structure *s = xg_dataset_get(ds, i, &err);
        int sg = 0;
        CU_ASSERT_EQUAL(xg_symmetry_spacegroup(s, 0.1, &sg, NULL, &err), XG_OK);
        CU_ASSERT_EQUAL(sg, (int)ds->props[i * ds->nprops + k]);
        if (i < 100)
            agree(s, 0.1);
        xg_structure_free(s);
    }
    xg_dataset_free(ds);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"rocksalt NaCl is Fm-3m (225)", test_rocksalt},
        {"perovskite SrTiO3 is Pm-3m (221)", test_perovskite},
        {"wurtzite ZnO is P6_3mc (186)", test_wurtzite},
        {"rutile TiO2 is P4_2/mnm (136)", test_rutile},
        {"diamond Si is Fd-3m (227)", test_diamond},
        {"lattice transpose on a rotated hexagonal cell", test_transpose_noncubic},
        {"lattice transpose on monoclinic and hexagonal cells", test_transpose_monoclinic},
        {"primitive of fcc has a quarter of the atoms", test_primitive_fcc},
        {"refine restores the group of a distorted crystal", test_refine_same_group},
        {"Wyckoff letters, orbits, operations", test_wyckoff_and_orbits},
        {"errors: symprec, spglib failure, singular cell", test_errors},
        {"symmetrized CIF round trip", test_symmetrized_cif},
        {"fast space-group path agrees with spglib's dataset", test_fast_path_agrees},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("symmetry", tests);
}
