/* test_extxyz.c: extended XYZ writer and reader (multi-frame, ASE's dialect, hostile input). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xg_test.h"
#include "xg_test_structure.h"
#include "crystal/xg_extxyz.h"
#include "crystal/xg_lattice.h"
#include "crystal/xg_structure.h"

static int rd(const char *text, xg_structure ***v, int *n, xg_error *e)
{
    xg_error_clear(e);
    return xg_extxyz_read_buffer(text, strlen(text), "in.extxyz", v, n, e);
}

static xg_structure *make(double a, double b, double c, double al, double be, double ga, int n,
                          const int *z, const double (*f)[3], const char *id)
{
    xg_structure *s = xg_structure_alloc(n);
    xg_error e;
    CU_ASSERT_FATAL(xg_lattice_from_params(a, b, c, al, be, ga, s->lattice, &e) == XG_OK);
    for (int i = 0; i < n; i++) {
        s->types[i] = z[i];
        memcpy(s->frac[i], f[i], sizeof f[i]);
    }
    snprintf(s->id, sizeof s->id, "%s", id);
    return s;
}

static void test_round_trip(void)
{
    int z1[3] = {26, 8, 8};
    double f1[3][3] = {{0.1, 0.2, 0.3}, {0.6, 0.0, 0.9}, {0.5, 0.5, 0.25}};
    int z2[1] = {84};
    double f2[1][3] = {{0, 0, 0}};
    xg_structure *s[2] = {make(4.1, 5.3, 6.7, 71.3, 83.9, 101.2, 3, z1,
                               (const double(*)[3])f1, "mp-1234"),
                          make(3.35, 3.35, 3.35, 90, 90, 90, 1, z2, (const double(*)[3])f2, "")};
    const char *dir = xg_test_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/two.extxyz", dir);
    xg_error e;
    CU_ASSERT_EQUAL_FATAL(xg_extxyz_write_file(path, s, 2, &e), XG_OK);
    xg_structure **v;
    int n;
    CU_ASSERT_EQUAL_FATAL(xg_extxyz_read_file(path, &v, &n, &e), XG_OK);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    for (int k = 0; k < 2; k++) {
        CU_ASSERT_EQUAL_FATAL(v[k]->natoms, s[k]->natoms);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                XG_ASSERT_NEAR(v[k]->lattice[i][j], s[k]->lattice[i][j], 1e-12);
        for (int i = 0; i < s[k]->natoms; i++) {
            CU_ASSERT_EQUAL(v[k]->types[i], s[k]->types[i]);
            CU_ASSERT(xg_test_pdist(s[k]->lattice, s[k]->frac[i], v[k]->frac[i]) < 1e-9);
        }
    }
    CU_ASSERT_STRING_EQUAL(v[0]->id, "mp-1234");
    CU_ASSERT_STRING_EQUAL(v[1]->id, "");
    xg_extxyz_structures_free(v, n);

    /* the text is what ASE expects */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CU_ASSERT_EQUAL(xg_extxyz_write(f, s[1], &e), XG_OK);
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "1\nLattice=\"3.35 0 0 "));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "Properties=species:S:1:pos:R:3 pbc=\"T T T\"\nPo "));
    free(buf);
    CU_ASSERT_EQUAL(xg_extxyz_read_file("/nonexistent.xyz", &v, &n, &e), XG_EIO);
    xg_structure_free(s[0]);
    xg_structure_free(s[1]);
}

static void test_ase_dialect(void)
{
    /* as ase.io.write(format="extxyz") writes a calculator result, plus a Z column variant */
    const char *t =
        "2\n"
        "Lattice=\"4.0 0.0 0.0 0.0 4.0 0.0 0.0 0.0 4.0\" Properties=species:S:1:pos:R:3:"
        "forces:R:3:magmoms:R:1 energy=-7.5 free_energy=-7.5 config_type=bulk pbc=\"T T T\"\n"
        "Na       0.00000000       0.00000000       0.00000000       0.1 0.0 0.0 0.5\n"
        "Cl       2.00000000       2.00000000       2.00000000      -0.1 0.0 0.0 0.0\n"
        "\n"
        "1\n"
        "pbc=\"T T T\" properties=Z:I:1:pos:R:3 lattice=\"3 0 0 0 3 0 0 0 3\" name=Po-alpha\n"
        "84 1.5 1.5 -1.5\n";
    xg_structure **v;
    int n;
    xg_error e;
    int rc = rd(t, &v, &n, &e);
    if (rc)
        fprintf(stderr, "\n  %s\n", e.msg);
    CU_ASSERT_EQUAL_FATAL(rc, XG_OK);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_EQUAL(v[0]->natoms, 2);
    CU_ASSERT_EQUAL(v[0]->types[1], 17);
    XG_ASSERT_NEAR(v[0]->frac[1][0], 0.5, 1e-12);
    CU_ASSERT_EQUAL(v[1]->types[0], 84);
    XG_ASSERT_NEAR(v[1]->frac[0][2], 0.5, 1e-12);
    CU_ASSERT_STRING_EQUAL(v[1]->id, "Po-alpha");
    xg_extxyz_structures_free(v, n);
}

static void expect_error(const char *text, int code, const char *want)
{
    xg_structure **v = (xg_structure **)1;
    int n = -1;
    xg_error e;
    int rc = rd(text, &v, &n, &e);
    CU_ASSERT_EQUAL(rc, code);
    CU_ASSERT_PTR_NULL(v);
    CU_ASSERT_EQUAL(n, 0);
    if (want && !strstr(e.msg, want)) {
        fprintf(stderr, "\n  message '%s' lacks '%s'\n", e.msg, want);
        CU_FAIL("error message");
    }
    if (rc == XG_OK)
        xg_extxyz_structures_free(v, n);
}

#define LAT "Lattice=\"4 0 0 0 4 0 0 0 4\""

static void test_hostile(void)
{
    expect_error("", XG_EPARSE, "no frames");
    expect_error("abc\n", XG_EPARSE, "in.extxyz:1: expected the number of atoms");
    expect_error("2 3\n", XG_EPARSE, "in.extxyz:1:");
    expect_error("0\n", XG_EPARSE, "in.extxyz:1:");
    expect_error("1\n", XG_EPARSE, "in.extxyz:2: file ends before the comment");
    expect_error("1\nProperties=species:S:1:pos:R:3\nNa 0 0 0\n", XG_EPARSE, "no Lattice");
    expect_error("1\n" LAT " pbc=\"T T F\"\nNa 0 0 0\n", XG_EUNSUPPORTED, "pbc");
    expect_error("1\nLattice=\"4 0 0 0 4 0 0 0\"\nNa 0 0 0\n", XG_EPARSE, "8 numbers");
    expect_error("1\nLattice=\"4 0 0 0 4 0 0 0 nan\"\nNa 0 0 0\n", XG_EPARSE, "finite");
    expect_error("1\nLattice=\"4 0 0 8 0 0 0 0 4\"\nNa 0 0 0\n", XG_EPARSE, "degenerate");
    expect_error("1\nLattice=\"4 0 0 0 4 0 0 0 4\nNa 0 0 0\n", XG_EPARSE, "unterminated");
    expect_error("1\n" LAT " Properties=species:S:1\nNa\n", XG_EPARSE, "no pos:R:3");
    expect_error("1\n" LAT " Properties=species:S\nNa\n", XG_EPARSE, "name:type:count");
    expect_error("1\n" LAT " Properties=species:S:x:pos:R:3\nNa\n", XG_EPARSE, "bad Properties");
    expect_error("1\n" LAT "\nNa 0 0\n", XG_EPARSE, "in.extxyz:3: atom line has 3 columns");
    expect_error("1\n" LAT "\nXx 0 0 0\n", XG_EPARSE, "'Xx' is not an element");
    expect_error("1\n" LAT "\nNa 0 inf 0\n", XG_EPARSE, "not a finite number");
    expect_error("2\n" LAT "\nNa 0 0 0\n", XG_EPARSE, "in.extxyz:4: file ends after 1 of 2 atoms");
    expect_error("3\n" LAT "\nNa 0 0 0\nNa 0 0 0\n", XG_EPARSE, "file ends after 2 of 3 atoms");
    expect_error("999999\n" LAT "\nNa 0 0 0\n", XG_EPARSE, "in.extxyz:3: file ends before");
    expect_error("1\n" LAT "\nNa 0 0 0\njunk\n", XG_EPARSE, "in.extxyz:4:");

    /* every prefix of a valid two-frame file parses or fails cleanly */
    const char *good = "1\n" LAT " Properties=species:S:1:pos:R:3 pbc=\"T T T\"\nNa 0 0 0\n"
                       "1\n" LAT "\nCl 2 2 2\n";
    size_t len = strlen(good);
    for (size_t k = 0; k <= len; k++) {
        char *cut = malloc(k + 1);
        memcpy(cut, good, k);
        xg_structure **v;
        int n;
        xg_error e;
        if (xg_extxyz_read_buffer(cut, k, "cut", &v, &n, &e) == XG_OK)
            xg_extxyz_structures_free(v, n);
        else
            CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "cut"));
        free(cut);
    }
}

int main(void)
{
    static CU_TestInfo tests[] = {
        {"write and read back, two frames", test_round_trip},
        {"ASE dialect", test_ase_dialect},
        {"hostile input", test_hostile},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("extxyz", tests);
}
