/* test_poscar.c: the POSCAR reader (VASP 4/5 headers, scale factors, Direct/Cartesian,
 * selective dynamics, trailing blocks, hostile input) and writer (round trips). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xg_test.h"
#include "xg_test_structure.h"
#include "crystal/xg_cif.h"
#include "crystal/xg_lattice.h"
#include "crystal/xg_poscar.h"
#include "crystal/xg_structure.h"

static int rd(const char *text, const int *sp, int nsp, xg_structure **out, xg_error *e)
{
    xg_error_clear(e);
    return xg_poscar_read_buffer(text, strlen(text), "POSCAR", sp, nsp, out, e);
}

static const char *k_direct =
    "NaCl rocksalt\n"
    "1.0\n"
    "  5.64 0.0 0.0\n"
    "  0.0 5.64 0.0\n"
    "  0.0 0.0 5.64\n"
    "Na Cl\n"
    "4 4\n"
    "Direct\n"
    "0 0 0\n0 .5 .5\n.5 0 .5\n.5 .5 0\n"
    ".5 0 0\n.5 .5 .5\n0 0 .5\n0 .5 0\n";

static void test_direct(void)
{
    xg_structure *s;
    xg_error e;
    CU_ASSERT_EQUAL_FATAL(rd(k_direct, NULL, 0, &s, &e), XG_OK);
    CU_ASSERT_EQUAL(s->natoms, 8);
    CU_ASSERT_EQUAL(s->types[0], 11);
    CU_ASSERT_EQUAL(s->types[7], 17);
    XG_ASSERT_NEAR(s->lattice[2][2], 5.64, 1e-12);
    XG_ASSERT_NEAR(s->frac[5][2], 0.5, 1e-12);
    CU_ASSERT_STRING_EQUAL(s->id, "");
    xg_structure_free(s);
}

static void test_cartesian_scale_selective(void)
{
    /* scale 2: lattice 2 * 2.82 = 5.64; Cartesian positions are scaled too */
    const char *p =
        "scaled\n2.0\n2.82 0 0\n0 2.82 0\n0 0 2.82\nNa_pv Cl\n1 1\n"
        "Selective dynamics\ncartesian\n0 0 0 T T T\n1.41 1.41 1.41 F F F Cl\n"
        "\n0 0 0\n0 0 0\n"; /* a velocity block, ignored */
    xg_structure *s;
    xg_error e;
    CU_ASSERT_EQUAL_FATAL(rd(p, NULL, 0, &s, &e), XG_OK);
    XG_ASSERT_NEAR(s->lattice[0][0], 5.64, 1e-12);
    XG_ASSERT_NEAR(s->frac[1][0], 0.5, 1e-12);
    XG_ASSERT_NEAR(s->frac[1][2], 0.5, 1e-12);
    CU_ASSERT_EQUAL(s->types[0], 11);
    xg_structure_free(s);

    /* negative scale: the target volume */
    const char *v = "vol\n-125.0\n1 0 0\n0 1 0\n0 0 1\nPo\n1\nKartesian\n0.5 0.5 0.5\n";
    CU_ASSERT_EQUAL_FATAL(rd(v, NULL, 0, &s, &e), XG_OK);
    XG_ASSERT_NEAR(s->lattice[0][0], 5.0, 1e-12);
    XG_ASSERT_NEAR(s->frac[0][0], 0.5, 1e-12); /* Cartesian scaled too (0.1 if it were not) */
    XG_ASSERT_NEAR(xg_structure_volume(s), 125.0, 1e-9);
    xg_structure_free(s);

    /* three scale factors */
    const char *t = "three\n1 2 3\n1 0 0\n0 1 0\n0 0 1\nFe\n1\nD\n0.25 0.25 0.25\n";
    CU_ASSERT_EQUAL_FATAL(rd(t, NULL, 0, &s, &e), XG_OK);
    XG_ASSERT_NEAR(s->lattice[1][1], 2.0, 1e-12);
    XG_ASSERT_NEAR(s->lattice[2][2], 3.0, 1e-12);
    xg_structure_free(s);

    /* CRLF line ends, VASP 6 POTCAR hashes on the species line, negative coordinates wrap */
    const char *w = "crlf\r\n1.0\r\n3 0 0\r\n0 3 0\r\n0 0 3\r\nFe/a1b2c3   O\r\n1 1\r\n"
                    "direct\r\n-0.25 0 0\r\n0.5 0.5 1.5\r\n";
    CU_ASSERT_EQUAL_FATAL(rd(w, NULL, 0, &s, &e), XG_OK);
    CU_ASSERT_EQUAL(s->types[0], 26);
    CU_ASSERT_EQUAL(s->types[1], 8);
    XG_ASSERT_NEAR(s->frac[0][0], 0.75, 1e-12);
    XG_ASSERT_NEAR(s->frac[1][2], 0.5, 1e-12);
    xg_structure_free(s);
}

static void test_vasp4(void)
{
    const char *p = "old format\n1.0\n4 0 0\n0 4 0\n0 0 4\n1 2\nDirect\n0 0 0\n.5 .5 0\n.5 0 .5\n";
    xg_structure *s;
    xg_error e;
    CU_ASSERT_EQUAL(rd(p, NULL, 0, &s, &e), XG_EPARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "POSCAR:6:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "VASP 4"));
    CU_ASSERT_PTR_NULL(s);
    int sp[2] = {22, 8};
    CU_ASSERT_EQUAL_FATAL(rd(p, sp, 2, &s, &e), XG_OK);
    CU_ASSERT_EQUAL(s->natoms, 3);
    CU_ASSERT_EQUAL(s->types[0], 22);
    CU_ASSERT_EQUAL(s->types[2], 8);
    xg_structure_free(s);
    int one[1] = {22};
    CU_ASSERT_EQUAL(rd(p, one, 1, &s, &e), XG_EPARSE); /* 1 species, 2 counts */
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "1 species but 2 counts"));
}

static void expect_error(const char *text, const char *want)
{
    xg_structure *s = (xg_structure *)1;
    xg_error e;
    int rc = rd(text, NULL, 0, &s, &e);
    CU_ASSERT_NOT_EQUAL(rc, XG_OK);
    CU_ASSERT_PTR_NULL(s);
    if (want && !strstr(e.msg, want)) {
        fprintf(stderr, "\n  message '%s' lacks '%s'\n", e.msg, want);
        CU_FAIL("error message");
    }
    if (rc == XG_OK)
        xg_structure_free(s);
}

#define HEAD "x\n1.0\n4 0 0\n0 4 0\n0 0 4\n"

static void test_hostile(void)
{
    expect_error("", "POSCAR:1: empty");
    expect_error("x\n", "POSCAR:2: file ends before the scale factor");
    expect_error("x\nabc\n", "POSCAR:2: scale factor");
    expect_error("x\n0\n", "scale factor is zero");
    expect_error("x\nnan\n4 0 0\n0 4 0\n0 0 4\nNa\n1\nD\n0 0 0\n", "not a finite number");
    expect_error("x\n1\n4 0 0\n0 4\n", "POSCAR:4: lattice vector b needs 3 numbers");
    expect_error("x\n1\n4 0 0\n8 0 0\n0 0 4\nNa\n1\nD\n0 0 0\n", "degenerate");
    expect_error("x\n1\n1e300 0 0\n0 4 0\n0 0 4\nNa\n1\nD\n0 0 0\n", "absurd");
    expect_error(HEAD "Na Cl\n1\nD\n0 0 0\n", "POSCAR:7: 2 species but 1 counts");
    expect_error(HEAD "Na\n-1\nD\n0 0 0\n", "whole number");
    expect_error(HEAD "Na\n1.5\nD\n0 0 0\n", "whole number");
    expect_error(HEAD "Na\n0\nD\n", "0 atoms");
    expect_error(HEAD "Na\n99999999999\nD\n", "whole number");
    expect_error(HEAD "Xq\n1\nD\n0 0 0\n", "'Xq' is not an element");
    expect_error(HEAD "Na\n1\nD\n", "POSCAR:9: file ends before the atom positions");
    expect_error(HEAD "Na\n2\nD\n0 0 0\n", "file ends before the atom positions");
    expect_error(HEAD "Na\n2\nD\n0 0 0\n0 0\n", "POSCAR:10: atom position needs 3 numbers");
    expect_error(HEAD "Na\n1\nD\n0 0\n", "POSCAR:9: atom position needs 3 numbers");
    expect_error(HEAD "Na\n1\nD\n0 inf 0\n", "not a finite number");
    expect_error(HEAD "Na\n1\nD\n0 1e300 0\n", "absurd");
    expect_error(HEAD "Na\n1\nQuux\n0 0 0\n", "expected Direct or Cartesian");
    expect_error(HEAD "Na\n1\n\n0 0 0\n", "POSCAR:8: empty line");
    expect_error(HEAD "\n", "POSCAR:6: empty line");

    /* every prefix of a valid file parses or fails cleanly */
    size_t len = strlen(k_direct);
    int ok = 0;
    for (size_t k = 0; k <= len; k++) {
        char *cut = malloc(k + 1);
        memcpy(cut, k_direct, k);
        xg_structure *s;
        xg_error e;
        if (xg_poscar_read_buffer(cut, k, "cut", NULL, 0, &s, &e) == XG_OK) {
            ok++;
            xg_structure_free(s);
        } else {
            CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "cut:"));
        }
        free(cut);
    }
    CU_ASSERT(ok >= 1 && ok <= 3); /* complete only once the last line has its 3 numbers */

    /* binary garbage */
    unsigned long long st = 99;
    char junk[4096];
    for (int r = 0; r < 50; r++) {
        for (size_t i = 0; i < sizeof junk; i++) {
            st = st * 6364136223846793005ULL + 1442695040888963407ULL;
            junk[i] = (char)(st >> 56);
        }
        xg_structure *s;
        xg_error e;
        if (xg_poscar_read_buffer(junk, sizeof junk, "junk", NULL, 0, &s, &e) == XG_OK) {
            CU_FAIL("garbage parsed");
            xg_structure_free(s);
        }
    }
}

static xg_structure *triclinic(void)
{
    xg_structure *s = xg_structure_alloc(5);
    xg_error e;
    CU_ASSERT_FATAL(xg_lattice_from_params(4.1, 5.3, 6.7, 71.3, 83.9, 101.2, s->lattice, &e) ==
                    XG_OK);
    int z[5] = {8, 26, 8, 3, 26};
    double f[5][3] = {{0.1, 0.2, 0.3}, {0.6123456789012345, 0.0, 0.9},
                      {0.5, 0.5, 0.25}, {0.999, 0.001, 0.5}, {0.3, 0.3, 0.3}};
    for (int i = 0; i < 5; i++) {
        s->types[i] = z[i];
        memcpy(s->frac[i], f[i], sizeof f[i]);
    }
    return s;
}

static void test_round_trip(void)
{
    xg_structure *s = triclinic();
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    xg_error e;
    CU_ASSERT_EQUAL(xg_poscar_write(f, s, &e), XG_OK);
    fclose(f);
    /* species grouped in the formula's order (electronegativity), title and species agree */
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\nLi Fe O\n1 2 2\nDirect\n"));
    CU_ASSERT_EQUAL(strncmp(buf, "Li1 Fe2 O2\n", 11), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "0.6123456789012345"));
    xg_structure *b;
    CU_ASSERT_EQUAL_FATAL(xg_poscar_read_buffer(buf, len, "rt", NULL, 0, &b, &e), XG_OK);
    CU_ASSERT(xg_test_same_structure(s, b, 1e-14, 1e-12));
    CU_ASSERT_EQUAL(b->types[0], 3);
    CU_ASSERT_EQUAL(b->types[1], 26);
    CU_ASSERT_EQUAL(b->types[3], 8);
    CU_ASSERT_EQUAL(b->types[4], 8);
    free(buf);

    /* file round trip, and the same structure as a CIF */
    const char *dir = xg_test_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/POSCAR", dir);
    CU_ASSERT_EQUAL(xg_poscar_write_file(path, s, &e), XG_OK);
    xg_structure *c;
    CU_ASSERT_EQUAL_FATAL(xg_poscar_read_file(path, NULL, 0, &c, &e), XG_OK);
    CU_ASSERT(xg_test_same_structure(s, c, 1e-14, 1e-12));
    snprintf(path, sizeof path, "%s/x.cif", dir);
    CU_ASSERT_EQUAL(xg_cif_write_file(path, c, &e), XG_OK);
    xg_structure *d;
    CU_ASSERT_EQUAL_FATAL(xg_cif_read_one_file(path, &d, &e), XG_OK);
    CU_ASSERT(xg_test_same_structure(s, d, 1e-6, 1e-6));
    /* a Cartesian POSCAR of the same crystal reads the same */
    buf = NULL;
    f = open_memstream(&buf, &len);
    fprintf(f, "cart\n1.0\n");
    for (int i = 0; i < 3; i++)
        fprintf(f, "%.17g %.17g %.17g\n", s->lattice[i][0], s->lattice[i][1], s->lattice[i][2]);
    fprintf(f, "O Fe O Li Fe\n1 1 1 1 1\nCartesian\n");
    for (int i = 0; i < 5; i++) {
        double x[3];
        xg_structure_frac_to_cart(s, i, x);
        fprintf(f, "%.17g %.17g %.17g\n", x[0], x[1], x[2]);
    }
    fclose(f);
    xg_structure *g;
    CU_ASSERT_EQUAL_FATAL(xg_poscar_read_buffer(buf, len, "cart", NULL, 0, &g, &e), XG_OK);
    CU_ASSERT(xg_test_same_structure(s, g, 1e-12, 1e-9));
    free(buf);
    xg_structure *none;
    CU_ASSERT_EQUAL(xg_poscar_read_file("/nonexistent/POSCAR", NULL, 0, &none, &e), XG_EIO);
    CU_ASSERT_PTR_NULL(none);
    snprintf(path, sizeof path, "%s/missing/POSCAR", dir);
    CU_ASSERT_EQUAL(xg_poscar_write_file(path, s, &e), XG_EIO);
    /* a NULL err still yields the failure code */
    xg_structure *empty = xg_structure_alloc(0);
    snprintf(path, sizeof path, "%s/EMPTY", dir);
    CU_ASSERT_EQUAL(xg_poscar_write_file(path, empty, NULL), XG_EINVAL);
    CU_ASSERT_FALSE(xg_test_exists(path));
    xg_structure_free(empty);
    CU_ASSERT_EQUAL(xg_poscar_read_buffer("x\n1\n", 5, "n", NULL, 0, &none, NULL), XG_EPARSE);
    xg_structure_free(b);
    xg_structure_free(c);
    xg_structure_free(d);
    xg_structure_free(g);
    xg_structure_free(s);
}

int main(void)
{
    static CU_TestInfo tests[] = {
        {"VASP 5 Direct", test_direct},
        {"Cartesian, scale factors, selective dynamics", test_cartesian_scale_selective},
        {"VASP 4 needs species", test_vasp4},
        {"hostile input", test_hostile},
        {"round trips", test_round_trip},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("poscar", tests);
}
