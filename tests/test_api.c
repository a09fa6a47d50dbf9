/* test_api.c: the public C API (include/xtalgen.h, libxtalgen.so) as a program using it sees
 * it: only the public header, handles and error structs; results checked against known
 * crystals (NaCl Fm-3m, Si Fd-3m) and against the internal layers' own answers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xtalgen.h"
#include "xg_test.h"

#define FIX XG_SOURCE_DIR "/tests/fixtures/data_cifs/"

static xtalgen_structure *read_one(const char *path)
{
    xtalgen_error err;
    xtalgen_structure **list = NULL;
    int n = 0;
    if (xtalgen_read(path, &list, &n, &err) != XTALGEN_OK || n != 1) {
        fprintf(stderr, "%s: %s\n", path, err.message);
        xtalgen_structures_free(list, n);
        return NULL;
    }
    xtalgen_structure *s = list[0];
    list[0] = NULL;
    xtalgen_structures_free(list, n);
    return s;
}

static void test_read_symmetry(void)
{
    xtalgen_structure *s = read_one(FIX "NaCl.cif");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_STRING_EQUAL(xtalgen_structure_id(s), "NaCl");
    int n = xtalgen_structure_natoms(s);
    CU_ASSERT_EQUAL(n, 2); /* the fixture is the primitive fcc cell */
    char formula[32];
    CU_ASSERT_EQUAL(xtalgen_structure_formula(s, formula, sizeof formula), XTALGEN_OK);
    CU_ASSERT_STRING_EQUAL(formula, "NaCl");
    xtalgen_error err;
    xtalgen_spacegroup sg;
    char wyck[2];
    int equiv[2];
    CU_ASSERT_EQUAL(xtalgen_symmetry(s, 0.1, &sg, wyck, equiv, &err), XTALGEN_OK);
    CU_ASSERT_EQUAL(sg.number, 225);
    CU_ASSERT_STRING_EQUAL(sg.international, "Fm-3m");
    CU_ASSERT_EQUAL(sg.n_operations, 48); /* the point group m-3m, in the primitive cell */
    CU_ASSERT_STRING_EQUAL(sg.pointgroup, "m-3m");
    CU_ASSERT(wyck[0] != wyck[1] && (wyck[0] == 'a' || wyck[0] == 'b'));
    CU_ASSERT(equiv[0] == 0 && equiv[1] == 1);
    /* The conventional cell holds four formula units, the same crystal. */
    xtalgen_structure *p = NULL;
    CU_ASSERT_EQUAL(xtalgen_standardize(s, XTALGEN_CELL_CONVENTIONAL, 1, 0.1, &p, &err),
                    XTALGEN_OK);
    CU_ASSERT_EQUAL(xtalgen_structure_natoms(p), 8);
    XG_ASSERT_NEAR(xtalgen_structure_volume(p), 4 * xtalgen_structure_volume(s), 1e-6);
    xtalgen_match_result m;
    CU_ASSERT_EQUAL(xtalgen_match(s, p, NULL, &m, &err), XTALGEN_OK);
    CU_ASSERT_EQUAL(m.match, 1);
    xtalgen_structure_free(p);
    xtalgen_structure_free(s);
    s = read_one(FIX "Si.cif");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(xtalgen_symmetry(s, 0.1, &sg, NULL, NULL, &err), XTALGEN_OK);
    CU_ASSERT_EQUAL(sg.number, 227);
    xtalgen_structure_free(s);
}

static void test_errors(void)
{
    xtalgen_error err;
    xtalgen_structure **list = (xtalgen_structure **)&err;
    int n = 5;
    CU_ASSERT_EQUAL(xtalgen_read("/nonexistent/x.cif", &list, &n, &err), XTALGEN_EIO);
    CU_ASSERT_EQUAL(err.code, XTALGEN_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "/nonexistent/x.cif"));
    CU_ASSERT_PTR_NULL(list);
    CU_ASSERT_EQUAL(n, 0);
    const char *bad = xg_test_tmpfile(".cif", "data_x\n_cell_length_a 4\n_cell_length_b\n");
    CU_ASSERT_EQUAL(xtalgen_read(bad, &list, &n, &err), XTALGEN_EPARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, bad));
    double lat[3][3] = {{3, 0, 0}, {0, 3, 0}, {0, 0, 3}}, x[1][3] = {{0, 0, 0}};
    int z = 0;
    xtalgen_structure *s = (xtalgen_structure *)&err;
    CU_ASSERT_EQUAL(xtalgen_structure_create(1, lat, &z, x, NULL, &s, &err), XTALGEN_EINVAL);
    CU_ASSERT_PTR_NULL(s);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "atomic number 0"));
    z = 26;
    x[0][1] = NAN;
    CU_ASSERT_EQUAL(xtalgen_structure_create(1, lat, &z, x, NULL, &s, &err), XTALGEN_EINVAL);
    CU_ASSERT_STRING_EQUAL(xtalgen_status_string(XTALGEN_EPARSE), "parse error");
    /* An error struct is optional. */
    CU_ASSERT_EQUAL(xtalgen_read("/nonexistent/x.cif", &list, &n, NULL), XTALGEN_EIO);
}

/* Write each format, read it back: the same crystal (the matcher says so) and the same group. */
static void test_write_roundtrip(void)
{
    xtalgen_structure *s = read_one(FIX "NaCl.cif");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    const char *dir = xg_test_tmpdir();
    const char *names[] = {"a.cif", "POSCAR", "b.vasp", "c.extxyz"};
    xtalgen_error err;
    for (int k = 0; k < 4; k++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        const xtalgen_structure *one[1] = {s};
        CU_ASSERT_EQUAL(xtalgen_write(path, one, 1, &err), XTALGEN_OK);
        xtalgen_structure *r = read_one(path);
        CU_ASSERT_PTR_NOT_NULL_FATAL(r);
        xtalgen_match_result m;
        CU_ASSERT_EQUAL(xtalgen_match(s, r, NULL, &m, &err), XTALGEN_OK);
        CU_ASSERT_EQUAL(m.match, 1);
        xtalgen_spacegroup sg;
        CU_ASSERT_EQUAL(xtalgen_symmetry(r, 0.1, &sg, NULL, NULL, &err), XTALGEN_OK);
        CU_ASSERT_EQUAL(sg.number, 225);
        xtalgen_structure_free(r);
    }
    /* Two crystals in one CIF (two blocks) and one extxyz (two frames); a POSCAR refuses two. */
    xtalgen_structure *si = read_one(FIX "Si.cif");
    CU_ASSERT_PTR_NOT_NULL_FATAL(si);
    const xtalgen_structure *two[2] = {s, si};
    char path[4200];
    const char *multi[] = {"two.cif", "two.xyz"};
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, multi[k]);
        CU_ASSERT_EQUAL(xtalgen_write(path, two, 2, &err), XTALGEN_OK);
        xtalgen_structure **list = NULL;
        int n = 0;
        CU_ASSERT_EQUAL(xtalgen_read(path, &list, &n, &err), XTALGEN_OK);
        CU_ASSERT_EQUAL(n, 2);
        if (n == 2) {
            CU_ASSERT_EQUAL(xtalgen_structure_natoms(list[0]), 2);
            CU_ASSERT_EQUAL(xtalgen_structure_natoms(list[1]), 2);
        }
        xtalgen_structures_free(list, n);
    }
    snprintf(path, sizeof path, "%s/POSCAR_two", dir);
    CU_ASSERT_EQUAL(xtalgen_write(path, two, 2, &err), XTALGEN_EINVAL);
    CU_ASSERT_FALSE(xg_test_exists(path));
    snprintf(path, sizeof path, "%s/x.txt", dir);
    CU_ASSERT_EQUAL(xtalgen_write(path, two, 1, &err), XTALGEN_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "x.txt"));
    xtalgen_structure_free(si);
    xtalgen_structure_free(s);
}

static void test_match(void)
{
    xtalgen_structure *a = read_one(FIX "NaCl.cif"), *b = read_one(FIX "CsCl.cif");
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    xtalgen_error err;
    xtalgen_match_result m;
    xtalgen_match_params p;
    xtalgen_match_default_params(&p);
    CU_ASSERT_EQUAL(p.ltol, 0.2);
    CU_ASSERT_EQUAL(p.stol, 0.3);
    CU_ASSERT_EQUAL(p.angle_tol, 5.0);
    p.best = 1;
    CU_ASSERT_EQUAL(xtalgen_match(a, a, &p, &m, &err), XTALGEN_OK);
    CU_ASSERT_EQUAL(m.match, 1);
    XG_ASSERT_NEAR(m.rms, 0, 1e-9);
    CU_ASSERT_EQUAL(xtalgen_match(a, b, NULL, &m, &err), XTALGEN_OK);
    CU_ASSERT_EQUAL(m.match, 0); /* rock salt is not caesium chloride */
    CU_ASSERT(isnan(m.rms));
    /* A rattled copy matches with a small, non-zero rms. */
    int n = xtalgen_structure_natoms(a), types[8];
    double lat[3][3], x[8][3];
    xtalgen_structure_lattice(a, lat);
    xtalgen_structure_types(a, types);
    xtalgen_structure_frac(a, x);
    x[0][0] += 0.01;
    x[1][2] -= 0.01;
    lat[0][0] *= 1.02;
    xtalgen_structure *c = NULL;
    CU_ASSERT_EQUAL_FATAL(xtalgen_structure_create(n, lat, types, x, "rattled", &c, &err),
                          XTALGEN_OK);
    CU_ASSERT_STRING_EQUAL(xtalgen_structure_id(c), "rattled");
    CU_ASSERT_EQUAL(xtalgen_match(a, c, &p, &m, &err), XTALGEN_OK);
    CU_ASSERT_EQUAL(m.match, 1);
    CU_ASSERT(m.rms > 1e-4 && m.rms < 0.1);
    p.ltol = 0;
    CU_ASSERT_EQUAL(xtalgen_match(a, c, &p, &m, &err), XTALGEN_EINVAL);
    xtalgen_structure_free(a);
    xtalgen_structure_free(b);
    xtalgen_structure_free(c);
}

static void test_screen(void)
{
    xtalgen_structure *s = read_one(FIX "NaCl.cif");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    xtalgen_error err;
    xtalgen_screen_result r;
    CU_ASSERT_EQUAL(xtalgen_screen(s, 0.1, &r, &err), XTALGEN_OK);
    CU_ASSERT_EQUAL(r.valid_structure, 1);
    CU_ASSERT_EQUAL(r.valid_geometry, 1);
    CU_ASSERT_EQUAL(r.valid_composition, 1);
    CU_ASSERT_EQUAL(r.spacegroup, 225);
    CU_ASSERT_STRING_EQUAL(r.spacegroup_symbol, "Fm-3m");
    CU_ASSERT_STRING_EQUAL(r.formula, "NaCl");
    CU_ASSERT_EQUAL(r.nelements, 2);
    CU_ASSERT_EQUAL(r.rare_earth_free, 1);
    double a = 3.988 * sqrt(2.0);                 /* the cube edge of the fixture's fcc cell */
    XG_ASSERT_NEAR(r.min_distance, a / 2, 1e-6);  /* Na-Cl along the cube edge */
    XG_ASSERT_NEAR(r.volume, a * a * a / 4, 1e-6);
    XG_ASSERT_NEAR(r.density, 2.16, 0.05);        /* rock salt, g/cm^3 */
    CU_ASSERT(r.hhi_production > 0 && r.hhi_production < 10000);
    xtalgen_structure_free(s);
    /* Two atoms 0.3 A apart: structurally invalid; NdO: not rare-earth free. Fe2: an element,
     * compositionally valid. */
    double lat2[3][3] = {{4, 0, 0}, {0, 4, 0}, {0, 0, 4}}, x[2][3] = {{0, 0, 0}, {0.075, 0, 0}};
    int t[2] = {60, 8};
    CU_ASSERT_EQUAL_FATAL(xtalgen_structure_create(2, lat2, t, x, NULL, &s, &err), XTALGEN_OK);
    CU_ASSERT_EQUAL(xtalgen_screen(s, 0.1, &r, &err), XTALGEN_OK);
    CU_ASSERT_EQUAL(r.valid_structure, 0);
    CU_ASSERT_EQUAL(r.valid_geometry, 0);
    XG_ASSERT_NEAR(r.min_distance, 0.3, 1e-9);
    CU_ASSERT_EQUAL(r.rare_earth_free, 0);
    xtalgen_structure_free(s);
    CU_ASSERT_EQUAL(xtalgen_screen(NULL, 0.1, &r, &err), XTALGEN_EINVAL);
}

/* Two crystals of at most 64 atoms with the same types, coordinates and lattice, to the bit. */
static int same_bits(const xtalgen_structure *a, const xtalgen_structure *b)
{
    int n = xtalgen_structure_natoms(a);
    if (n != xtalgen_structure_natoms(b) || n > 64)
        return 0;
    int ta[64], tb[64];
    double xa[64][3], xb[64][3], la[3][3], lb[3][3];
    xtalgen_structure_types(a, ta);
    xtalgen_structure_types(b, tb);
    xtalgen_structure_frac(a, xa);
    xtalgen_structure_frac(b, xb);
    xtalgen_structure_lattice(a, la);
    xtalgen_structure_lattice(b, lb);
    return !memcmp(ta, tb, (size_t)n * sizeof *ta) && !memcmp(xa, xb, (size_t)n * sizeof *xa) &&
           !memcmp(la, lb, sizeof la);
}

static void test_generate(void)
{
    xtalgen_error err;
    xtalgen_model *m = NULL;
    const char *path = XG_SOURCE_DIR "/data/models/xtalgen-mp20.h5";
    if (!xg_test_exists(path)) {
        fprintf(stderr, "  (skipped: %s absent)\n", path);
        return;
    }
    CU_ASSERT_EQUAL_FATAL(xtalgen_model_load(path, &m, &err), XTALGEN_OK);
    CU_ASSERT_STRING_EQUAL(xtalgen_model_path(m), path);
    CU_ASSERT_EQUAL(xtalgen_model_num_conditions(m), 0);
    xtalgen_generate_options o;
    xtalgen_generate_default_options(&o);
    CU_ASSERT_EQUAL(o.steps, 100);
    o.steps = 20;
    o.seed = 5;
    o.batch = 2;
    o.exclude_elements = "O,rare-earths";
    xtalgen_structure *a[3], *b[3];
    CU_ASSERT_EQUAL_FATAL(xtalgen_generate(m, 3, &o, a, &err), XTALGEN_OK);
    CU_ASSERT_EQUAL_FATAL(xtalgen_generate(m, 3, &o, b, &err), XTALGEN_OK);
    for (int k = 0; k < 3; k++) {
        char id[16];
        snprintf(id, sizeof id, "gen-%07d", k);
        CU_ASSERT_STRING_EQUAL(xtalgen_structure_id(a[k]), id);
        int n = xtalgen_structure_natoms(a[k]);
        CU_ASSERT(n >= 1 && n <= 20);
        CU_ASSERT_EQUAL_FATAL(xtalgen_structure_natoms(b[k]), n);
        CU_ASSERT(same_bits(a[k], b[k])); /* same seed, same crystals, to the bit */
        int ta[64];
        double la[3][3];
        xtalgen_structure_types(a[k], ta);
        xtalgen_structure_lattice(a[k], la);
        /* The exclusion is a hard constraint; the cell is the DFT-ready one (a along x). */
        for (int i = 0; i < n; i++)
            CU_ASSERT(ta[i] != 8 && !(ta[i] >= 57 && ta[i] <= 71) && ta[i] != 21 && ta[i] != 39);
        CU_ASSERT(la[0][1] == 0 && la[0][2] == 0 && la[1][2] == 0);
    }
    for (int k = 0; k < 3; k++) {
        xtalgen_structure_free(a[k]);
        xtalgen_structure_free(b[k]);
    }
    /* A condition on an unconditional model, an unknown element set: clear errors. */
    const char *cond[1] = {"dft_mag_density=0.1"};
    o.conditions = cond;
    o.nconditions = 1;
    CU_ASSERT_EQUAL(xtalgen_generate(m, 1, &o, a, &err), XTALGEN_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "unconditional"));
    CU_ASSERT_PTR_NULL(a[0]);
    o.nconditions = 0;
    o.exclude_elements = "Xx";
    CU_ASSERT_EQUAL(xtalgen_generate(m, 1, &o, a, &err), XTALGEN_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "Xx"));
    xtalgen_model_free(m);
    CU_ASSERT_EQUAL(xtalgen_model_load("/nonexistent/m.h5", &m, &err), XTALGEN_EIO);
    CU_ASSERT_PTR_NULL(m);
}

/* The default, template sampling, gives the crystals `xtalgen generate` writes with the same
 * seed, n, steps and batch, bit for bit, and they are symmetric; symmetry none is the command's
 * --symmetry none. */
static void same_as_command(const char *extra, int symmetry)
{
    xtalgen_error err;
    xtalgen_model *m = NULL;
    const char *path = XG_SOURCE_DIR "/data/models/xtalgen-mp20.h5";
    if (!xg_test_exists(path) || !xg_test_exists(XG_BINARY)) {
        fprintf(stderr, "  (skipped: %s or %s absent)\n", path, XG_BINARY);
        return;
    }
    char dir[4096], cmd[9000], h5[4200];
    snprintf(dir, sizeof dir, "%s/run", xg_test_tmpdir());
    snprintf(cmd, sizeof cmd, "'%s' generate -n 3 --steps 12 --seed 9 --batch 2 --quiet %s -o '%s'",
             XG_BINARY, extra, dir);
    CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
    snprintf(h5, sizeof h5, "%s/generated.h5", dir);
    xtalgen_structure **cli = NULL;
    int ncli = 0;
    CU_ASSERT_EQUAL_FATAL(xtalgen_read(h5, &cli, &ncli, &err), XTALGEN_OK);
    CU_ASSERT_EQUAL_FATAL(ncli, 3);
    CU_ASSERT_EQUAL_FATAL(xtalgen_model_load(path, &m, &err), XTALGEN_OK);
    xtalgen_generate_options o;
    xtalgen_generate_default_options(&o);
    if (symmetry == XTALGEN_SYMMETRY_TEMPLATE)
        CU_ASSERT_EQUAL(o.symmetry, XTALGEN_SYMMETRY_TEMPLATE); /* the command's default */
    o.symmetry = symmetry;
    o.steps = 12;
    o.seed = 9;
    o.batch = 2;
    xtalgen_structure *a[3];
    CU_ASSERT_EQUAL_FATAL(xtalgen_generate(m, 3, &o, a, &err), XTALGEN_OK);
    int symmetric = 0;
    for (int k = 0; k < 3; k++) {
        CU_ASSERT_STRING_EQUAL(xtalgen_structure_id(a[k]), xtalgen_structure_id(cli[k]));
        CU_ASSERT(same_bits(a[k], cli[k]));
        xtalgen_spacegroup sg;
        CU_ASSERT_EQUAL(xtalgen_symmetry(a[k], 0.1, &sg, NULL, NULL, &err), XTALGEN_OK);
        symmetric += sg.number > 1;
        xtalgen_structure_free(a[k]);
    }
    /* templates: 2.8% P1 over 1,000 crystals (README); without them ~75% */
    if (symmetry == XTALGEN_SYMMETRY_TEMPLATE)
        CU_ASSERT(symmetric >= 2);
    xtalgen_structures_free(cli, ncli);
    xtalgen_model_free(m);
}

static void test_generate_as_command(void)
{
    same_as_command("", XTALGEN_SYMMETRY_TEMPLATE);
    same_as_command("--symmetry none", XTALGEN_SYMMETRY_NONE);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"read and symmetry", test_read_symmetry},
        {"errors", test_errors},
        {"write and read back", test_write_roundtrip},
        {"match", test_match},
        {"screen", test_screen},
        {"generate", test_generate},
        {"generate as the command does", test_generate_as_command},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("api", tests);
}
