/* test_dft.c: DFT inputs: k-point meshes against pymatgen's Kpoints.automatic_density (values
 * computed with pymatgen 2022.11 for the cells below), INCAR spin, MAGMOM and +U from the
 * Materials Project's rules, POTCAR.spec order, pw.x input, refusal of elements MP lacks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_dft.h"
#include "crystal/xg_elements.h"
#include "crystal/xg_poscar.h"
#include "xg_test.h"

static xg_structure *make(const double L[3][3], const char **sym, int n)
{
    xg_structure *s = xg_structure_alloc(n);
    memcpy(s->lattice, L, sizeof s->lattice);
    for (int i = 0; i < n; i++) {
        s->types[i] = xg_element_from_symbol(sym[i]);
        s->frac[i][0] = (double)i / n;
        s->frac[i][1] = 0.37 * i / n;
        s->frac[i][2] = 0.11 * i;
    }
    return s;
}

static void test_kmesh_pymatgen(void)
{
    const double C = 2.7155, ch = 3.25 * 0.5, sh = 3.25 * 0.8660254037844386;
    struct {
        double L[3][3];
        int n;
        double kppa;
        int mesh[3], gamma;
    } cases[] = {
        {{{5.431, 0, 0}, {0, 5.431, 0}, {0, 0, 5.431}}, 8, 1000, {5, 5, 5}, 1},
        {{{5.431, 0, 0}, {0, 5.431, 0}, {0, 0, 5.431}}, 8, 64, {2, 2, 2}, 0},
        {{{5.431, 0, 0}, {0, 5.431, 0}, {0, 0, 5.431}}, 8, 8000, {10, 10, 10}, 0},
        {{{5.431, 0, 0}, {0, 5.431, 0}, {0, 0, 5.431}}, 8, 27, {1, 1, 1}, 1},
        {{{0, C, C}, {C, 0, C}, {C, C, 0}}, 2, 1000, {7, 7, 7}, 1},
        {{{0, C, C}, {C, 0, C}, {C, C, 0}}, 2, 500, {6, 6, 6}, 0},
        {{{0, C, C}, {C, 0, C}, {C, C, 0}}, 2, 27, {2, 2, 2}, 0},
        {{{3.25, 0, 0}, {-ch, sh, 0}, {0, 0, 5.21}}, 4, 1000, {7, 7, 4}, 1},
        {{{3.25, 0, 0}, {-ch, sh, 0}, {0, 0, 5.21}}, 4, 64, {2, 2, 1}, 1},
        {{{3.25, 0, 0}, {-ch, sh, 0}, {0, 0, 5.21}}, 4, 8000, {14, 14, 9}, 1},
        {{{4.1, 0.3, -0.2}, {0.5, 5.2, 0.1}, {0.2, 0.4, 6.3}}, 5, 1000, {7, 5, 4}, 1},
        {{{4.1, 0.3, -0.2}, {0.5, 5.2, 0.1}, {0.2, 0.4, 6.3}}, 5, 500, {5, 4, 3}, 1},
        {{{4.1, 0.3, -0.2}, {0.5, 5.2, 0.1}, {0.2, 0.4, 6.3}}, 5, 8000, {14, 11, 9}, 1},
        {{{3, 0, 0}, {0, 4, 0}, {0, 0, 25}}, 12, 1000, {9, 7, 1}, 1},
        {{{3, 0, 0}, {0, 4, 0}, {0, 0, 25}}, 12, 8000, {19, 14, 2}, 1},
    };
    const char *h[12] = {"H", "H", "H", "H", "H", "H", "H", "H", "H", "H", "H", "H"};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        xg_structure *s = make(cases[c].L, h, cases[c].n);
        xg_kmesh km;
        xg_error e;
        CU_ASSERT_EQUAL_FATAL(xg_dft_kmesh(s, cases[c].kppa, &km, &e), XG_OK);
        for (int k = 0; k < 3; k++)
            CU_ASSERT_EQUAL(km.mesh[k], cases[c].mesh[k]);
        CU_ASSERT_EQUAL(km.gamma, cases[c].gamma);
        if (km.mesh[0] != cases[c].mesh[0] || km.gamma != cases[c].gamma)
            fprintf(stderr, "case %zu: got %d %d %d gamma %d\n", c, km.mesh[0], km.mesh[1],
                    km.mesh[2], km.gamma);
        xg_structure_free(s);
    }
    xg_structure *s = make(cases[0].L, h, 1);
    xg_kmesh km;
    CU_ASSERT_EQUAL(xg_dft_kmesh(s, 0, &km, NULL), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_dft_kmesh(s, NAN, &km, NULL), XG_EINVAL);
    xg_structure_free(s);
}

/* Reads a whole memstream into a string the test owns. */
typedef struct {
    char *buf;
    size_t len;
    FILE *f;
} mem;

static void mem_open(mem *m)
{
    m->buf = NULL;
    m->len = 0;
    m->f = open_memstream(&m->buf, &m->len);
}

static void test_incar_rules(void)
{
    /* Fe2O3-like, atoms in a mixed order, left-handed cell */
    double L[3][3] = {{5.0, 0, 0}, {0, -5.2, 0}, {0.3, 0.2, 13.7}};
    const char *sym[10] = {"O", "Fe", "O", "O", "Fe", "O", "Fe", "O", "Fe", "O"};
    xg_structure *s = make(L, sym, 10);
    snprintf(s->id, sizeof s->id, "fe2o3");
    mem m;
    xg_error e;
    mem_open(&m);
    CU_ASSERT_EQUAL(xg_dft_write_incar(m.f, s, 1000, "xtalgen test note", &e), XG_OK);
    fclose(m.f);
    CU_ASSERT_PTR_NOT_NULL(strstr(m.buf, "SYSTEM = Fe4 O6\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(m.buf, "# xtalgen test note\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(m.buf, "ENCUT = 520\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(m.buf, "EDIFF = 0.0005\n")); /* 5e-5 x 10 atoms */
    CU_ASSERT_PTR_NOT_NULL(strstr(m.buf, "ISPIN = 2\nMAGMOM = 4*5 6*0.6\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(m.buf, "LDAUU = 5.3 0\nLDAUL = 2 0\nLDAUJ = 0 0\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(m.buf, "LMAXMIX = 4\n"));
    free(m.buf);
    mem_open(&m);
    CU_ASSERT_EQUAL(xg_dft_write_potcar_spec(m.f, s, &e), XG_OK);
    fclose(m.f);
    CU_ASSERT_STRING_EQUAL(m.buf, "Fe_pv\nO\n");
    free(m.buf);
    /* the POSCAR of the same crystal: one order, right-handed */
    mem_open(&m);
    CU_ASSERT_EQUAL(xg_poscar_write(m.f, s, &e), XG_OK);
    fclose(m.f);
    CU_ASSERT_PTR_NOT_NULL(strstr(m.buf, "\nFe O\n4 6\nDirect\n"));
    xg_structure *back = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_poscar_read_buffer(m.buf, m.len, "p", NULL, 0, &back, &e), XG_OK);
    double det = back->lattice[0][0] * (back->lattice[1][1] * back->lattice[2][2]);
    CU_ASSERT(det > 0);
    xg_structure_free(back);
    free(m.buf);
    /* pw.x: two species, Fe magnetic (5 mu_B over 8 outer electrons) */
    xg_espresso_opts o = {"{El}.pbe-spn-kjpaw_psl.1.0.0.UPF", NULL, NULL, 1000, 0, 0, "note"};
    mem_open(&m);
    CU_ASSERT_EQUAL(xg_dft_write_espresso(m.f, s, &o, &e), XG_OK);
    fclose(m.f);
    CU_ASSERT_PTR_NOT_NULL(strstr(m.buf, "ibrav = 0\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(m.buf, "nat = 10\n  ntyp = 2\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(m.buf, "nspin = 2\n  starting_magnetization(1) = 0.6250\n"));
    CU_ASSERT_PTR_NULL(strstr(m.buf, "starting_magnetization(2)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(m.buf, "Fe.pbe-spn-kjpaw_psl.1.0.0.UPF\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(m.buf, "O.pbe-spn-kjpaw_psl.1.0.0.UPF\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(m.buf, "CELL_PARAMETERS angstrom\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(m.buf, "ATOMIC_POSITIONS crystal\n  Fe "));
    CU_ASSERT_PTR_NOT_NULL(strstr(m.buf, "K_POINTS automatic\n"));
    free(m.buf);
    xg_structure_free(s);

    /* NaCl: no magnetic element, no +U; FeCl2: magnetic, but Cl is the anion: no +U */
    double C[3][3] = {{5.64, 0, 0}, {0, 5.64, 0}, {0, 0, 5.64}};
    const char *nacl[2] = {"Na", "Cl"}, *fecl[3] = {"Cl", "Fe", "Cl"};
    s = make(C, nacl, 2);
    mem_open(&m);
    CU_ASSERT_EQUAL(xg_dft_write_incar(m.f, s, 1000, NULL, &e), XG_OK);
    fclose(m.f);
    CU_ASSERT_PTR_NOT_NULL(strstr(m.buf, "ISPIN = 1\n"));
    CU_ASSERT_PTR_NULL(strstr(m.buf, "MAGMOM"));
    CU_ASSERT_PTR_NULL(strstr(m.buf, "LDAU"));
    CU_ASSERT_PTR_NULL(strstr(m.buf, "LMAXMIX"));
    free(m.buf);
    xg_structure_free(s);
    s = make(C, fecl, 3);
    mem_open(&m);
    CU_ASSERT_EQUAL(xg_dft_write_incar(m.f, s, 1000, NULL, &e), XG_OK);
    fclose(m.f);
    CU_ASSERT_PTR_NOT_NULL(strstr(m.buf, "ISPIN = 2\nMAGMOM = 5 2*0.6\n"));
    CU_ASSERT_PTR_NULL(strstr(m.buf, "LDAU"));
    free(m.buf);
    xg_structure_free(s);
    CU_ASSERT_EQUAL(xg_dft_hubbard_u(26, 9), 5.3);
    CU_ASSERT_EQUAL(xg_dft_hubbard_u(25, 8), 3.9);
    CU_ASSERT_EQUAL(xg_dft_hubbard_u(29, 8), 0.0);
    CU_ASSERT_STRING_EQUAL(xg_dft_potcar_symbol(3), "Li_sv");
    CU_ASSERT_PTR_NULL(xg_dft_potcar_symbol(84));
}

static void test_unsupported_and_dir(void)
{
    double C[3][3] = {{4, 0, 0}, {0, 4, 0}, {0, 0, 4}};
    const char *po[2] = {"Po", "O"};
    xg_structure *s = make(C, po, 2);
    snprintf(s->id, sizeof s->id, "po-test");
    const char *dir = xg_test_tmpdir();
    xg_error e;
    CU_ASSERT_EQUAL(xg_dft_write_vasp_dir(dir, s, 1000, NULL, &e), XG_EUNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "Po"));
    char path[600];
    snprintf(path, sizeof path, "%s/POSCAR", dir);
    CU_ASSERT_FALSE(xg_test_exists(path)); /* nothing half-written */
    s->types[0] = 26;
    CU_ASSERT_EQUAL(xg_dft_write_vasp_dir(dir, s, 1000, "n", &e), XG_OK);
    const char *names[] = {"POSCAR", "INCAR", "KPOINTS", "POTCAR.spec"};
    for (int k = 0; k < 4; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        CU_ASSERT(xg_test_exists(path));
    }
    xg_espresso_opts o = {NULL, NULL, NULL, 1000, 0, 0, NULL};
    CU_ASSERT_EQUAL(xg_dft_write_espresso(stdout, s, &o, &e), XG_EINVAL);
    /* a singular cell has no orientation: POSCAR still writes it (validity flags it), the
     * DFT inputs refuse it */
    memset(s->lattice[2], 0, sizeof s->lattice[2]);
    snprintf(path, sizeof path, "%s/SINGULAR", dir);
    CU_ASSERT_EQUAL(xg_poscar_write_file(path, s, &e), XG_OK);
    CU_ASSERT_EQUAL(xg_dft_write_vasp_dir(dir, s, 1000, NULL, &e), XG_ENUMERIC);
    xg_structure_free(s);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"k-point meshes equal pymatgen's automatic_density", test_kmesh_pymatgen},
        {"INCAR, POTCAR.spec, POSCAR and pw.x rules", test_incar_rules},
        {"unsupported elements, VASP folder", test_unsupported_and_dir},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("dft", tests);
}
