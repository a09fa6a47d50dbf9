/* test_cif.c: the CIF reader (every CIF 1.1 feature xtalgen relies on, symmetry expansion,
 * merging, occupancies, hostile input) and the P1 / symmetrized writers, including the first
 * 200 CIFs of MP-20's val.csv. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xg_test.h"
#include "xg_test_structure.h"
#include "crystal/xg_cif.h"
#include "crystal/xg_elements.h"
#include "crystal/xg_lattice.h"
#include "crystal/xg_structure.h"

/* ---- helpers -------------------------------------------------------------------------------- */

static int read_str(const char *text, const char *name, xg_structure ***out, int *n, xg_error *e)
{
    xg_error_clear(e);
    return xg_cif_read_buffer(text, strlen(text), name, out, n, e);
}

static int count_z(const xg_structure *s, int z)
{
    int c = 0;
    for (int i = 0; i < s->natoms; i++)
        c += s->types[i] == z;
    return c;
}

static const char *k_nacl_p1 =
    "# generated using pymatgen\n"
    "data_NaCl\n"
    "_symmetry_space_group_name_H-M   'P 1'\n"
    "_cell_length_a   5.64000000\n"
    "_cell_length_b   5.64000000\n"
    "_cell_length_c   5.64000000\n"
    "_cell_angle_alpha   90.00000000\n"
    "_cell_angle_beta   90.00000000\n"
    "_cell_angle_gamma   90.00000000\n"
    "_symmetry_Int_Tables_number   1\n"
    "_chemical_formula_structural   NaCl\n"
    "_chemical_formula_sum   'Na4 Cl4'\n"
    "_cell_volume   179.40314400\n"
    "_cell_formula_units_Z   4\n"
    "loop_\n"
    " _symmetry_equiv_pos_site_id\n"
    " _symmetry_equiv_pos_as_xyz\n"
    "  1  'x, y, z'\n"
    "loop_\n"
    " _atom_site_type_symbol\n"
    " _atom_site_label\n"
    " _atom_site_symmetry_multiplicity\n"
    " _atom_site_fract_x\n"
    " _atom_site_fract_y\n"
    " _atom_site_fract_z\n"
    " _atom_site_occupancy\n"
    "  Na  Na0  1  0.00000000  0.00000000  0.00000000  1\n"
    "  Na  Na1  1  0.00000000  0.50000000  0.50000000  1\n"
    "  Na  Na2  1  0.50000000  0.00000000  0.50000000  1\n"
    "  Na  Na3  1  0.50000000  0.50000000  0.00000000  1\n"
    "  Cl  Cl4  1  0.50000000  0.00000000  0.00000000  1\n"
    "  Cl  Cl5  1  0.50000000  0.50000000  0.50000000  1\n"
    "  Cl  Cl6  1  0.00000000  0.00000000  0.50000000  1\n"
    "  Cl  Cl7  1  0.00000000  0.50000000  0.00000000  1\n";

/* The 192 operations of Fm-3m (m-3m point group, all signed permutations, times the four
 * F-centring translations), written as xyz strings into a loop under `tag`. */
static void fm3m_symops(char *buf, size_t n, const char *tag)
{
    static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1},
                                     {2, 1, 0}};
    static const double cent[4][3] = {{0, 0, 0}, {0, .5, .5}, {.5, 0, .5}, {.5, .5, 0}};
    size_t pos = (size_t)snprintf(buf, n, "loop_\n _space_group_symop_id\n %s\n", tag);
    int id = 1;
    for (int c = 0; c < 4; c++)
        for (int p = 0; p < 6; p++)
            for (int sgn = 0; sgn < 8; sgn++) {
                int rot[3][3] = {{0}};
                for (int r = 0; r < 3; r++)
                    rot[r][perms[p][r]] = (sgn >> r & 1) ? -1 : 1;
                char op[128];
                CU_ASSERT_EQUAL(xg_cif_format_symop(rot, cent[c], op, sizeof op), XG_OK);
                pos += (size_t)snprintf(buf + pos, n - pos, " %d '%s'\n", id++, op);
            }
}

/* ---- features ------------------------------------------------------------------------------- */

static void test_p1_basic(void)
{
    xg_structure **v;
    int n;
    xg_error e;
    CU_ASSERT_EQUAL_FATAL(read_str(k_nacl_p1, "nacl.cif", &v, &n, &e), XG_OK);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_EQUAL(v[0]->natoms, 8);
    CU_ASSERT_STRING_EQUAL(v[0]->id, "NaCl");
    XG_ASSERT_NEAR(v[0]->lattice[0][0], 5.64, 1e-9);
    XG_ASSERT_NEAR(v[0]->lattice[1][1], 5.64, 1e-9);
    XG_ASSERT_NEAR(v[0]->lattice[0][1], 0.0, 1e-9);
    CU_ASSERT_EQUAL(count_z(v[0], 11), 4);
    CU_ASSERT_EQUAL(count_z(v[0], 17), 4);
    XG_ASSERT_NEAR(v[0]->frac[5][0], 0.5, 1e-12);
    xg_cif_structures_free(v, n);

    xg_structure *one = NULL;
    CU_ASSERT_EQUAL(xg_cif_read_one_buffer(k_nacl_p1, strlen(k_nacl_p1), "x", &one, &e), XG_OK);
    CU_ASSERT_PTR_NOT_NULL(one);
    xg_structure_free(one);
}

static void test_symop_parse(void)
{
    int r[3][3];
    double t[3];
    xg_error e;
    const char *s = "-x+1/2, x-y, 1/2+z";
    CU_ASSERT_EQUAL_FATAL(xg_cif_parse_symop(s, strlen(s), r, t, &e), XG_OK);
    CU_ASSERT(r[0][0] == -1 && r[0][1] == 0 && r[0][2] == 0);
    CU_ASSERT(r[1][0] == 1 && r[1][1] == -1 && r[1][2] == 0);
    CU_ASSERT(r[2][0] == 0 && r[2][1] == 0 && r[2][2] == 1);
    XG_ASSERT_NEAR(t[0], 0.5, 1e-15);
    XG_ASSERT_NEAR(t[1], 0.0, 1e-15);
    XG_ASSERT_NEAR(t[2], 0.5, 1e-15);
    s = "-y+0.25,+x,Z";
    CU_ASSERT_EQUAL_FATAL(xg_cif_parse_symop(s, strlen(s), r, t, &e), XG_OK);
    CU_ASSERT(r[0][1] == -1 && r[1][0] == 1 && r[2][2] == 1);
    XG_ASSERT_NEAR(t[0], 0.25, 1e-15);
    char buf[64];
    CU_ASSERT_EQUAL(xg_cif_format_symop(r, t, buf, sizeof buf), XG_OK);
    CU_ASSERT_STRING_EQUAL(buf, "-y+1/4, x, z");
    int id[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    double z3[3] = {0, 0, 0}, h[3] = {0.5, -1.0 / 3, 2.0 / 3};
    CU_ASSERT_EQUAL(xg_cif_format_symop(id, z3, buf, sizeof buf), XG_OK);
    CU_ASSERT_STRING_EQUAL(buf, "x, y, z");
    CU_ASSERT_EQUAL(xg_cif_format_symop(id, h, buf, sizeof buf), XG_OK);
    CU_ASSERT_STRING_EQUAL(buf, "x+1/2, y-1/3, z+2/3");
    CU_ASSERT_EQUAL(xg_cif_format_symop(id, z3, buf, 5), XG_EINVAL);
    /* the formatter's output parses back to the same operation */
    int r2[3][3];
    double t2[3];
    CU_ASSERT_EQUAL(xg_cif_format_symop(id, h, buf, sizeof buf), XG_OK);
    CU_ASSERT_EQUAL(xg_cif_parse_symop(buf, strlen(buf), r2, t2, &e), XG_OK);
    XG_ASSERT_NEAR(t2[1], -1.0 / 3, 1e-15);

    /* a NULL err still yields the failure code */
    CU_ASSERT_EQUAL(xg_cif_parse_symop("x,y,q", 5, r, t, NULL), XG_EPARSE);
    CU_ASSERT_EQUAL(xg_cif_parse_symop("x,y", 3, r, t, NULL), XG_EPARSE);
    xg_structure **nv;
    int nn;
    CU_ASSERT_EQUAL(xg_cif_read_buffer("data_x\n_cell_length_a 4\n", 24, "n", &nv, &nn, NULL),
                    XG_EPARSE);
    const char *badop = "data_x\n_cell_length_a 4\n_cell_length_b 4\n_cell_length_c 4\n"
                        "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
                        "loop_\n_symmetry_equiv_pos_as_xyz\n'x,y,z'\n'x,y,q'\n"
                        "loop_\n_atom_site_type_symbol\n_atom_site_fract_x\n"
                        "_atom_site_fract_y\n_atom_site_fract_z\nNa 0.1 0.2 0.3\n";
    CU_ASSERT_EQUAL(xg_cif_read_buffer(badop, strlen(badop), "n", &nv, &nn, NULL), XG_EPARSE);
    xg_structure *empty = xg_structure_alloc(0);
    CU_ASSERT_EQUAL(xg_cif_write_file("/tmp/xg_never_written.cif", empty, NULL), XG_EINVAL);
    CU_ASSERT_FALSE(xg_test_exists("/tmp/xg_never_written.cif"));
    xg_structure_free(empty);

    const char *bad[] = {"x,y", "x,y,z,x", "x,y,q", "x,x,z", "x+,y,z", "3x,y,z", "x,y,1/0",
                         "", ",,", "x y,y,z", "x,y,z*"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        xg_error_clear(&e);
        CU_ASSERT_EQUAL(xg_cif_parse_symop(bad[i], strlen(bad[i]), r, t, &e), XG_EPARSE);
        CU_ASSERT(strlen(e.msg) > 0);
    }
}

static void test_symmetry_expansion_rocksalt(void)
{
    static char buf[32768];
    const char *tags[2] = {"_space_group_symop_operation_xyz", "_symmetry_equiv_pos_as_xyz"};
    for (int t = 0; t < 2; t++) {
        size_t pos = (size_t)snprintf(buf, sizeof buf,
                                      "data_rocksalt\n_cell_length_a 5.64\n_cell_length_b 5.64\n"
                                      "_cell_length_c 5.64\n_cell_angle_alpha 90\n"
                                      "_cell_angle_beta 90\n_cell_angle_gamma 90\n"
                                      "_symmetry_space_group_name_H-M 'F m -3 m'\n");
        fm3m_symops(buf + pos, sizeof buf - pos, tags[t]);
        pos = strlen(buf);
        snprintf(buf + pos, sizeof buf - pos,
                 "loop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n"
                 "_atom_site_fract_y\n_atom_site_fract_z\n_atom_site_occupancy\n"
                 "Na1 Na+ 0 0 0 1.0\nCl1 Cl- 0.5 0.5 0.5 1.0\n");
        xg_structure **v;
        int n;
        xg_error e;
        CU_ASSERT_EQUAL_FATAL(read_str(buf, "rs.cif", &v, &n, &e), XG_OK);
        CU_ASSERT_EQUAL(v[0]->natoms, 8);
        CU_ASSERT_EQUAL(count_z(v[0], 11), 4);
        CU_ASSERT_EQUAL(count_z(v[0], 17), 4);
        /* same crystal as the P1 file */
        xg_structure **p;
        int np;
        CU_ASSERT_EQUAL_FATAL(read_str(k_nacl_p1, "p1", &p, &np, &e), XG_OK);
        CU_ASSERT(xg_test_same_structure(v[0], p[0], 1e-9, 1e-6));
        xg_cif_structures_free(p, np);
        xg_cif_structures_free(v, n);
    }
}

static void test_special_positions_merge(void)
{
    /* a 3-fold axis; a site on it given with 4 decimals merges to one atom, a general one
     * gives three */
    const char *cif =
        "data_hex\n_cell_length_a 3.0\n_cell_length_b 3.0\n_cell_length_c 5.0\n"
        "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 120\n"
        "loop_\n_symmetry_equiv_pos_as_xyz\n x,y,z\n -y,x-y,z\n -x+y,-x,z\n"
        "loop_\n_atom_site_label\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
        "Zn1 0.3333 0.6667 0.0\nO1 0.1 0.2 0.5\nS1 0 0 0.25\n";
    xg_structure **v;
    int n;
    xg_error e;
    CU_ASSERT_EQUAL_FATAL(read_str(cif, "hex.cif", &v, &n, &e), XG_OK);
    CU_ASSERT_EQUAL(v[0]->natoms, 5);
    CU_ASSERT_EQUAL(count_z(v[0], 30), 1);
    CU_ASSERT_EQUAL(count_z(v[0], 8), 3);
    CU_ASSERT_EQUAL(count_z(v[0], 16), 1);
    xg_cif_structures_free(v, n);

    /* inversion of a site 1e-4 off the centre: one atom, not two */
    const char *cif2 =
        "data_pm1\n_cell_length_a 4\n_cell_length_b 5\n_cell_length_c 6\n_cell_angle_alpha 80\n"
        "_cell_angle_beta 85\n_cell_angle_gamma 95\n"
        "loop_\n_symmetry_equiv_pos_as_xyz\n'x, y, z'\n'-x, -y, -z'\n"
        "loop_\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n"
        "_atom_site_fract_z\nFe 0.5 0.5 0.49995\nO 0.2 0.3 0.1\n";
    CU_ASSERT_EQUAL_FATAL(read_str(cif2, "p-1.cif", &v, &n, &e), XG_OK);
    CU_ASSERT_EQUAL(v[0]->natoms, 3);
    xg_cif_structures_free(v, n);

    /* two elements on one position: an error naming both sites */
    const char *cif3 =
        "data_bad\n_cell_length_a 4\n_cell_length_b 4\n_cell_length_c 4\n_cell_angle_alpha 90\n"
        "_cell_angle_beta 90\n_cell_angle_gamma 90\n"
        "loop_\n_symmetry_equiv_pos_as_xyz\n'x, y, z'\n'-x, -y, -z'\n"
        "loop_\n_atom_site_label\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
        "Fe1 0.1 0.1 0.1\nO1 0.9 0.9 0.9\n";
    CU_ASSERT_EQUAL(read_str(cif3, "bad.cif", &v, &n, &e), XG_EPARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "Fe1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "O1"));
    CU_ASSERT_PTR_NULL(v);
    CU_ASSERT_EQUAL(n, 0);
}

static void test_quotes_and_text_fields(void)
{
    const char *cif =
        "data_q\n"
        "_publ_author_name 'O'Neil, J.'\n"                 /* quote inside a quoted string */
        "_chemical_name_common \"the \"best\"-salt\"\n" /* closes only before whitespace */
        "_journal_name_full\n"
        ";\n"
        "A text field with 'quotes', \"more\", data_fake and loop_\n"
        "_cell_length_a 99.0\n"
        ";\n"
        "_cell_length_a 5.64   # a comment 'with quotes\n"
        "_cell_length_b '5.64'\n"
        "_cell_length_c \"5.64\"\n"
        "_cell_angle_alpha 90 _cell_angle_beta 90 _cell_angle_gamma 90\n"
        "loop_\n_symmetry_equiv_pos_as_xyz\n\"x, y, z\"\n"
        "loop_\n_atom_site_label\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
        "_atom_site_note\n"
        "Na1 0 0 0 'it's fine'\n"
        "Cl1 0.5 0.5 0.5\n"
        ";\n"
        "multi-line note\n"
        ";\n";
    xg_structure **v;
    int n;
    xg_error e;
    int rc = read_str(cif, "q.cif", &v, &n, &e);
    if (rc)
        fprintf(stderr, "\n  %s\n", e.msg);
    CU_ASSERT_EQUAL_FATAL(rc, XG_OK);
    CU_ASSERT_EQUAL(v[0]->natoms, 2);
    XG_ASSERT_NEAR(v[0]->lattice[0][0], 5.64, 1e-9);
    xg_cif_structures_free(v, n);
}

static void test_uncertainties_and_unknowns(void)
{
    const char *cif =
        "data_si\n_cell_length_a 5.431(2)\n_cell_length_b 5.431(12)\n_cell_length_c 5.4310\n"
        "_cell_angle_alpha 90.0(1)\n_cell_angle_beta 90\n_cell_angle_gamma 90.00\n"
        "loop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n"
        "_atom_site_fract_y\n_atom_site_fract_z\n_atom_site_occupancy\n"
        "Si1 ? 0.125(3) 0.125 0.125 ?\nSi2 Si 0.875 0.875 0.875 .\n"
        "CL1 ? 0.5 0.5 0.5 1\nNa2 Na1+ 0 0 0 1\n"; /* SHELX upper case: Cl, not C */
    xg_structure **v;
    int n;
    xg_error e;
    CU_ASSERT_EQUAL_FATAL(read_str(cif, "si.cif", &v, &n, &e), XG_OK);
    XG_ASSERT_NEAR(v[0]->lattice[0][0], 5.431, 1e-12);
    XG_ASSERT_NEAR(v[0]->frac[0][0], 0.125, 1e-12);
    CU_ASSERT_EQUAL(count_z(v[0], 14), 2);
    CU_ASSERT_EQUAL(count_z(v[0], 17), 1);
    CU_ASSERT_EQUAL(count_z(v[0], 11), 1);
    xg_cif_structures_free(v, n);

    const char *unk = "data_u\n_cell_length_a ?\n_cell_length_b 5\n_cell_length_c 5\n"
                      "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
                      "loop_\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n"
                      "_atom_site_fract_z\nNa 0 0 0\n";
    CU_ASSERT_EQUAL(read_str(unk, "u.cif", &v, &n, &e), XG_EPARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "u.cif:2:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "unknown"));
}

static void test_loop_order_and_cartesian(void)
{
    /* columns in an odd order, unknown columns between, DDL2 dotted names, Cartesian */
    const char *cif =
        "data_odd\n_cell.length_a 4.0\n_CELL_LENGTH_B 5.0\n_cell_length_c 6.0\n"
        "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
        "loop_\n_atom_site_occupancy\n_atom_site.fract_z\n_atom_site_U_iso_or_equiv\n"
        "_atom_site_fract_y\n_atom_site_label\n_atom_site_fract_x\n"
        "1.0 0.30 0.01 0.20 K1 0.10\n1 0.6 0.02 0.5 Br1 0.7\n";
    xg_structure **v;
    int n;
    xg_error e;
    CU_ASSERT_EQUAL_FATAL(read_str(cif, "odd.cif", &v, &n, &e), XG_OK);
    CU_ASSERT_EQUAL(v[0]->types[0], 19);
    CU_ASSERT_EQUAL(v[0]->types[1], 35);
    XG_ASSERT_NEAR(v[0]->frac[0][0], 0.10, 1e-12);
    XG_ASSERT_NEAR(v[0]->frac[0][1], 0.20, 1e-12);
    XG_ASSERT_NEAR(v[0]->frac[0][2], 0.30, 1e-12);
    XG_ASSERT_NEAR(v[0]->frac[1][0], 0.70, 1e-12);
    xg_cif_structures_free(v, n);

    const char *cart =
        "data_cart\n_cell_length_a 4.0\n_cell_length_b 4.0\n_cell_length_c 6.0\n"
        "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 120\n"
        "loop_\n_atom_site_type_symbol\n_atom_site_Cartn_x\n_atom_site_Cartn_y\n"
        "_atom_site_Cartn_z\nC 1.0 1.7320508075688772 3.0\n";
    CU_ASSERT_EQUAL_FATAL(read_str(cart, "cart.cif", &v, &n, &e), XG_OK);
    /* a = (4,0,0), b = (-2, 2 sqrt3, 0): (1, sqrt3) = 0.5 a + 0.5 b */
    XG_ASSERT_NEAR(v[0]->frac[0][0], 0.5, 1e-9);
    XG_ASSERT_NEAR(v[0]->frac[0][1], 0.5, 1e-9);
    XG_ASSERT_NEAR(v[0]->frac[0][2], 0.5, 1e-9);
    xg_cif_structures_free(v, n);
}

static void test_multiple_blocks(void)
{
    static char buf[8192];
    snprintf(buf, sizeof buf,
             "#\\#CIF_1.1\ndata_global\n_publ_section_title 'Two crystals'\n"
             "%s\n"
             "data_second\n_cell_length_a 3\n_cell_length_b 3\n_cell_length_c 3\n"
             "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
             "loop_\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n"
             "_atom_site_fract_z\nPo 0 0 0\n",
             k_nacl_p1);
    xg_structure **v;
    int n;
    xg_error e;
    CU_ASSERT_EQUAL_FATAL(read_str(buf, "two.cif", &v, &n, &e), XG_OK);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_STRING_EQUAL(v[0]->id, "NaCl");
    CU_ASSERT_STRING_EQUAL(v[1]->id, "second");
    CU_ASSERT_EQUAL(v[1]->natoms, 1);
    CU_ASSERT_EQUAL(v[1]->types[0], 84);
    xg_cif_structures_free(v, n);
    xg_structure *one;
    CU_ASSERT_EQUAL(xg_cif_read_one_buffer(buf, strlen(buf), "two.cif", &one, &e), XG_EPARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "2 structures"));
    CU_ASSERT_PTR_NULL(one);
}

static void test_occupancy(void)
{
    const char *head = "data_occ\n_cell_length_a 4\n_cell_length_b 4\n_cell_length_c 4\n"
                       "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
                       "loop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n"
                       "_atom_site_fract_y\n_atom_site_fract_z\n_atom_site_occupancy\n";
    char buf[2048];
    xg_structure **v;
    int n;
    xg_error e;
    /* partial */
    snprintf(buf, sizeof buf, "%sFe1 Fe 0 0 0 0.5\nO1 O 0.5 0.5 0.5 1\n", head);
    CU_ASSERT_EQUAL(read_str(buf, "occ.cif", &v, &n, &e), XG_EUNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "Fe1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "partial occupancy"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "occ.cif:15:"));
    /* mixed site */
    snprintf(buf, sizeof buf, "%sFe1 Fe 0 0 0 0.5\nCo1 Co 0 0 0 0.5\n", head);
    CU_ASSERT_EQUAL(read_str(buf, "occ.cif", &v, &n, &e), XG_EUNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "Co1"));
    /* two halves of the same element add up to a full site; 0.9995 is 1 within 1e-3 */
    snprintf(buf, sizeof buf, "%sFe1 Fe 0 0 0 0.5\nFe2 Fe 0 0 0 0.5\nO1 O .5 .5 .5 0.9995\n",
             head);
    CU_ASSERT_EQUAL_FATAL(read_str(buf, "occ.cif", &v, &n, &e), XG_OK);
    CU_ASSERT_EQUAL(v[0]->natoms, 2);
    xg_cif_structures_free(v, n);
    /* Without symmetry operations, two full sites on one position are two atoms (of the same
     * or of different elements): a generator's collapsed pair must reach the validity check
     * with its true formula, not be merged away. */
    snprintf(buf, sizeof buf, "%sFe1 Fe 0 0 0 1\nFe2 Fe 0.0001 0 0 1\n", head);
    CU_ASSERT_EQUAL_FATAL(read_str(buf, "occ.cif", &v, &n, &e), XG_OK);
    CU_ASSERT_EQUAL(v[0]->natoms, 2);
    xg_cif_structures_free(v, n);
    snprintf(buf, sizeof buf, "%sFe1 Fe 0 0 0 1\nCo1 Co 0 0 0.00001 1\n", head);
    CU_ASSERT_EQUAL_FATAL(read_str(buf, "occ.cif", &v, &n, &e), XG_OK);
    CU_ASSERT_EQUAL(v[0]->natoms, 2);
    xg_cif_structures_free(v, n);
    /* With symmetry operations, a row that repeats another row's image is a repeated
     * listing: -x,-y,-z maps Fe1 at 0.1 onto Fe2 at 0.9, one pair of atoms in all. */
    {
        const char *ops = "loop_\n_symmetry_equiv_pos_as_xyz\n'x, y, z'\n'-x, -y, -z'\n";
        const char *rest = head + strlen("data_occ\n"); /* the ops go after the block header */
        snprintf(buf, sizeof buf, "data_occ\n%s%sFe1 Fe 0.1 0.1 0.1 1\nFe2 Fe 0.9 0.9 0.9 1\n",
                 ops, rest);
        CU_ASSERT_EQUAL_FATAL(read_str(buf, "occ.cif", &v, &n, &e), XG_OK);
        CU_ASSERT_EQUAL(v[0]->natoms, 2);
        xg_cif_structures_free(v, n);
    }
    /* occupancy above one */
    snprintf(buf, sizeof buf, "%sFe1 Fe 0 0 0 1.5\n", head);
    CU_ASSERT_EQUAL(read_str(buf, "occ.cif", &v, &n, &e), XG_EPARSE);
    snprintf(buf, sizeof buf, "%sFe1 Fe 0 0 0 0.7\nFe2 Fe 0 0 0 0.7\n", head);
    CU_ASSERT_EQUAL(read_str(buf, "occ.cif", &v, &n, &e), XG_EPARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "sum to"));
}

/* ---- hostile input -------------------------------------------------------------------------- */

static void expect_error(const char *text, const char *want_in_msg)
{
    xg_structure **v = (xg_structure **)1;
    int n = -1;
    xg_error e;
    int rc = read_str(text, "h.cif", &v, &n, &e);
    CU_ASSERT_NOT_EQUAL(rc, XG_OK);
    CU_ASSERT_PTR_NULL(v);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "h.cif"));
    if (want_in_msg && !strstr(e.msg, want_in_msg)) {
        fprintf(stderr, "\n  message '%s' lacks '%s'\n", e.msg, want_in_msg);
        CU_FAIL("error message");
    }
    if (rc == XG_OK)
        xg_cif_structures_free(v, n);
}

#define CELL "_cell_length_a 4\n_cell_length_b 4\n_cell_length_c 4\n" \
             "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
#define SITES "loop_\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n" \
              "_atom_site_fract_z\n"

static void test_hostile_messages(void)
{
    expect_error("", "no crystal");
    expect_error("# only a comment\n", "no crystal");
    expect_error("_cell_length_a 4\n", "h.cif:1:");
    expect_error("data_x\n" CELL SITES "Na 0 0\n", "h.cif:13: loop_ has 4 tags but row 1 has 3 values");
    expect_error("data_x\n" CELL SITES, "no values");
    expect_error("data_x\n" CELL "loop_\n", "loop_ without tags");
    expect_error("data_x\n" CELL "_chemical_name 'unterminated\n" SITES "Na 0 0 0\n",
                 "h.cif:8: unterminated single-quoted");
    expect_error("data_x\n" CELL "_chemical_name \"unterminated\n", "h.cif:8: unterminated double");
    expect_error("data_x\n" CELL "_note\n;\nnever closed\n" SITES "Na 0 0 0\n",
                 "h.cif:9: unterminated semicolon");
    expect_error("data_x\n" SITES "Na 0 0 0\n", "missing _cell_length_a");
    expect_error("data_x\n_cell_length_a 4\n_cell_length_b 4\n_cell_length_c 4\n"
                 "_cell_angle_alpha 60\n_cell_angle_beta 60\n_cell_angle_gamma 120\n" SITES
                 "Na 0 0 0\n", "zero volume");
    expect_error("data_x\n_cell_length_a 0\n_cell_length_b 4\n_cell_length_c 4\n"
                 "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n" SITES
                 "Na 0 0 0\n", "_cell_length_a");
    expect_error("data_x\n_cell_length_a 1e400\n", "not a finite number");
    expect_error("data_x\n_cell_length_a 1e300\n_cell_length_b 4\n_cell_length_c 4\n"
                 "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n" SITES
                 "Na 0 0 0\n", "h.cif:2:");
    expect_error("data_x\n_cell_length_a nan\n" SITES "Na 0 0 0\n", "not a finite number");
    expect_error("data_x\n" CELL SITES "Na inf 0 0\n", "h.cif:13:");
    expect_error("data_x\n" CELL SITES "Na 1e30 0 0\n", "absurd");
    expect_error("data_x\n" CELL SITES "Xx 0 0 0\n", "no element");
    expect_error("data_x\n" CELL SITES "Fex 0 0 0\n", "h.cif:13: site #1: no element in 'Fex'");
    expect_error("data_x\n" CELL "loop_\n_atom_site_fract_x\n_atom_site_fract_y\n"
                 "_atom_site_fract_z\n0 0 0\n", "_atom_site_label");
    expect_error("data_x\n" CELL "_cell_length_a 5\n", "duplicate tag");
    expect_error("data_x\n" CELL "loose_value\n", "without a tag");
    expect_error("data_x\n" CELL "_tag_at_end\n", "has no value");
    expect_error("global_\n_x 1\n", "global_");
    expect_error("data_x\n" CELL "save_frame\n_x 1\nsave_\n", "save_");
    expect_error("data_x\n" CELL "loop_\n_symmetry_equiv_pos_as_xyz\n'x,y'\n" SITES "Na 0 0 0\n",
                 "h.cif:10: symmetry operation 'x,y' has 2 components");
    expect_error("data_x\n" CELL "_atom_site_fract_x 0\n" SITES "Na 0 0 0\n", "duplicate");
    expect_error("data_x\n" CELL "_atom_site_type_symbol Na\n"
                 "loop_\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n0 0 0\n",
                 "same loop");
    expect_error("data_empty\n" CELL, "no atom sites");
    /* CIF's quote rule: the quote before "best" does not close, the one after it does */
    expect_error("data_x\n_name \"the \"best\" salt\"\n", "h.cif:2: value 'salt\"' without a tag");
}

/* Every prefix of a valid file either parses or fails cleanly (run under ASan in CI). */
static void test_truncated_prefixes(void)
{
    size_t len = strlen(k_nacl_p1);
    int ok = 0, failed = 0;
    for (size_t k = 0; k <= len; k++) {
        char *cut = malloc(k + 1); /* exact size, so ASan sees any read past the end */
        memcpy(cut, k_nacl_p1, k);
        xg_structure **v;
        int n;
        xg_error e;
        xg_error_clear(&e);
        int rc = xg_cif_read_buffer(cut, k, "cut.cif", &v, &n, &e);
        if (rc == XG_OK) {
            ok++;
            CU_ASSERT(n == 1 && v[0]->natoms >= 1 && v[0]->natoms <= 8);
            xg_cif_structures_free(v, n);
        } else {
            failed++;
            CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "cut.cif"));
        }
        free(cut);
    }
    CU_ASSERT(ok > 0 && failed > 0);
}

static void test_garbage_and_size(void)
{
    /* binary garbage, with and without a plausible header in front */
    unsigned long long st = 12345;
    size_t len = 20000;
    char *buf = malloc(len);
    for (int round = 0; round < 20; round++) {
        for (size_t i = 0; i < len; i++) {
            st = st * 6364136223846793005ULL + 1442695040888963407ULL;
            buf[i] = (char)(st >> 56);
        }
        if (round % 2)
            memcpy(buf, "data_x\n_cell_length_a 4\n", 24);
        xg_structure **v;
        int n;
        xg_error e;
        int rc = xg_cif_read_buffer(buf, len, "junk.bin", &v, &n, &e);
        CU_ASSERT_NOT_EQUAL(rc, XG_OK);
        if (rc == XG_OK)
            xg_cif_structures_free(v, n);
    }
    free(buf);

    /* a million tags before a valid crystal: parses, and quickly */
    size_t cap = 30u * 1000000u + 4096;
    buf = malloc(cap);
    size_t pos = (size_t)snprintf(buf, cap, "data_big\n");
    for (int i = 0; i < 1000000; i++)
        pos += (size_t)snprintf(buf + pos, cap - pos, "_x_tag_%d %d\n", i, i);
    pos += (size_t)snprintf(buf + pos, cap - pos, "%s", strstr(k_nacl_p1, "_symmetry_space"));
    clock_t t0 = clock();
    xg_structure **v;
    int n;
    xg_error e;
    int rc = xg_cif_read_buffer(buf, pos, "big.cif", &v, &n, &e);
    if (rc)
        fprintf(stderr, "\n  %s\n", e.msg);
    CU_ASSERT_EQUAL(rc, XG_OK);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    if (n == 1)
        CU_ASSERT_EQUAL(v[0]->natoms, 8);
    xg_cif_structures_free(v, n);
    printf("\n  1e6 tags parsed in %.2f s\n", secs);
    CU_ASSERT(secs < 5.0);
    free(buf);
}

/* 27,000 distinct sites packed 0.6 A apart in one corner of a 1000 A cell: none may merge,
 * and the merge search must not go quadratic because they cluster. */
static void test_many_clustered_sites(void)
{
    size_t cap = 27000u * 48u + 1024u, pos = 0;
    char *buf = malloc(cap);
    pos += (size_t)snprintf(buf + pos, cap - pos,
                            "data_cluster\n_cell_length_a 1000\n_cell_length_b 1000\n"
                            "_cell_length_c 1000\n_cell_angle_alpha 90\n_cell_angle_beta 90\n"
                            "_cell_angle_gamma 90\nloop_\n_atom_site_type_symbol\n"
                            "_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n");
    for (int i = 0; i < 30; i++)
        for (int j = 0; j < 30; j++)
            for (int k = 0; k < 30; k++)
                pos += (size_t)snprintf(buf + pos, cap - pos, "C %.7f %.7f %.7f\n",
                                        0.1 + 6e-4 * i, 0.1 + 6e-4 * j, 0.1 + 6e-4 * k);
    clock_t t0 = clock();
    xg_structure **v;
    int n;
    xg_error e;
    int rc = xg_cif_read_buffer(buf, pos, "cluster.cif", &v, &n, &e);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    CU_ASSERT_EQUAL_FATAL(rc, XG_OK);
    CU_ASSERT_EQUAL(v[0]->natoms, 27000);
    printf("\n  27000 clustered sites in %.3f s\n", secs);
    CU_ASSERT(secs < 2.0);
    xg_cif_structures_free(v, n);
    free(buf);
}

/* ---- files and writers ---------------------------------------------------------------------- */

static void test_files(void)
{
    xg_structure **v;
    int n;
    xg_error e;
    CU_ASSERT_EQUAL(xg_cif_read_file("/nonexistent/x.cif", &v, &n, &e), XG_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "/nonexistent/x.cif"));
    CU_ASSERT_NOT_EQUAL(xg_cif_read_file("/tmp", &v, &n, &e), XG_OK);
    const char *p = xg_test_tmpfile(".cif", k_nacl_p1);
    CU_ASSERT_EQUAL_FATAL(xg_cif_read_file(p, &v, &n, &e), XG_OK);
    CU_ASSERT_EQUAL(v[0]->natoms, 8);
    /* write atomically, read back */
    const char *dir = xg_test_tmpdir();
    char out[600];
    snprintf(out, sizeof out, "%s/nacl.cif", dir);
    CU_ASSERT_EQUAL(xg_cif_write_file(out, v[0], &e), XG_OK);
    xg_structure *back;
    CU_ASSERT_EQUAL_FATAL(xg_cif_read_one_file(out, &back, &e), XG_OK);
    CU_ASSERT(xg_test_same_structure(v[0], back, 1e-7, 1e-6));
    xg_structure_free(back);
    snprintf(out, sizeof out, "%s/no/such/dir/x.cif", dir);
    CU_ASSERT_EQUAL(xg_cif_write_file(out, v[0], &e), XG_EIO);
    xg_cif_structures_free(v, n);
    remove(p);
}

/* noinline: inlined, GCC 12 takes the text open_memstream hands back through &buf for a pointer
 * into this frame and warns (-Wdangling-pointer) wherever the result is used. */
__attribute__((noinline)) static char *write_to_string(const xg_structure *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    xg_error e;
    CU_ASSERT_EQUAL(xg_cif_write(f, s, &e), XG_OK);
    fclose(f);
    return buf;
}

static void test_round_trip_triclinic(void)
{
    xg_structure *s = xg_structure_alloc(3);
    xg_error e;
    CU_ASSERT_EQUAL_FATAL(xg_lattice_from_params(4.1, 5.3, 6.7, 71.3, 83.9, 101.2, s->lattice, &e),
                          XG_OK);
    int z[3] = {26, 8, 3};
    double f[3][3] = {{0.1, 0.2, 0.3}, {0.61234567, 0.0, 0.9}, {0.5, 0.5, 0.25}};
    for (int i = 0; i < 3; i++) {
        s->types[i] = z[i];
        memcpy(s->frac[i], f[i], sizeof f[i]);
    }
    char *t1 = write_to_string(s);
    xg_structure *a;
    CU_ASSERT_EQUAL_FATAL(xg_cif_read_one_buffer(t1, strlen(t1), "rt1", &a, &e), XG_OK);
    CU_ASSERT(xg_test_same_structure(s, a, 1e-7, 1e-7));
    CU_ASSERT_EQUAL(a->types[0], 26);
    char *t2 = write_to_string(a);
    CU_ASSERT_STRING_EQUAL(t1, t2); /* fixed point after one trip */
    CU_ASSERT_PTR_NOT_NULL(strstr(t1, "data_LiFeO\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t1, "_symmetry_space_group_name_H-M   'P 1'\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t1, "  Fe  Fe0  1  0.10000000  0.20000000  0.30000000  1\n"));
    free(t1);
    free(t2);
    xg_structure_free(a);
    xg_structure_free(s);

    /* a structure the writer must refuse */
    xg_structure *bad = xg_structure_alloc(1);
    bad->lattice[0][0] = bad->lattice[1][1] = bad->lattice[2][2] = 3;
    bad->types[0] = 0;
    char *buf = NULL;
    size_t len = 0;
    FILE *mf = open_memstream(&buf, &len);
    CU_ASSERT_EQUAL(xg_cif_write(mf, bad, &e), XG_EINVAL);
    fclose(mf);
    free(buf);
    xg_structure_free(bad);
}

static void test_symmetrized_raw(void)
{
    /* rock salt written as Fm-3m with two sites reads back as 8 atoms */
    int rot[192][3][3];
    double tr[192][3];
    static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1},
                                     {2, 1, 0}};
    static const double cent[4][3] = {{0, 0, 0}, {0, .5, .5}, {.5, 0, .5}, {.5, .5, 0}};
    int k = 0;
    for (int c = 0; c < 4; c++)
        for (int p = 0; p < 6; p++)
            for (int sgn = 0; sgn < 8; sgn++, k++) {
                memset(rot[k], 0, sizeof rot[k]);
                for (int r = 0; r < 3; r++)
                    rot[k][r][perms[p][r]] = (sgn >> r & 1) ? -1 : 1;
                memcpy(tr[k], cent[c], sizeof tr[k]);
            }
    int types[2] = {11, 17}, mult[2] = {4, 4};
    double frac[2][3] = {{0, 0, 0}, {0.5, 0.5, 0.5}};
    xg_cif_sym_block b = {.block_name = "NaCl", .hm_symbol = "Fm-3m", .sg_number = 225,
                          .nops = 192, .rot = (const int(*)[3][3])rot,
                          .trans = (const double(*)[3])tr, .nsites = 2, .types = types,
                          .frac = (const double(*)[3])frac, .multiplicity = mult,
                          .formula_structural = "NaCl", .formula_sum = "Na4 Cl4",
                          .formula_units_z = 4};
    xg_error e;
    CU_ASSERT_EQUAL_FATAL(xg_lattice_from_params(5.64, 5.64, 5.64, 90, 90, 90, b.lattice, &e),
                          XG_OK);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CU_ASSERT_EQUAL(xg_cif_write_symmetrized_raw(f, &b, &e), XG_OK);
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "_symmetry_space_group_name_H-M   Fm-3m\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "_symmetry_Int_Tables_number   225\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "  Cl  Cl1  4  0.50000000  0.50000000  0.50000000  1\n"));
    xg_structure *s;
    CU_ASSERT_EQUAL_FATAL(xg_cif_read_one_buffer(buf, len, "sym", &s, &e), XG_OK);
    CU_ASSERT_EQUAL(s->natoms, 8);
    xg_structure **p;
    int np;
    CU_ASSERT_EQUAL_FATAL(read_str(k_nacl_p1, "p1", &p, &np, &e), XG_OK);
    CU_ASSERT(xg_test_same_structure(s, p[0], 1e-7, 1e-6));
    xg_cif_structures_free(p, np);
    xg_structure_free(s);
    free(buf);
    b.nops = 0;
    f = open_memstream(&buf, &len);
    CU_ASSERT_EQUAL(xg_cif_write_symmetrized_raw(f, &b, &e), XG_EINVAL);
    fclose(f);
    free(buf);
}

/* ---- MP-20 validation CIFs ------------------------------------------------------------------ */

/* A tiny RFC 4180 record reader over a whole file in memory: returns the fields of the record
 * at *pos (unquoted, "" unescaped, in place) and advances; 0 at the end. */
static int csv_record(char *t, size_t len, size_t *pos, char **fields, int maxf, int *nf)
{
    size_t i = *pos, w;
    *nf = 0;
    if (i >= len)
        return 0;
    for (;;) {
        if (*nf == maxf)
            return 0;
        fields[(*nf)++] = t + i;
        w = i;
        if (i < len && t[i] == '"') {
            i++;
            for (;;) {
                if (i >= len)
                    return 0;
                if (t[i] == '"') {
                    if (i + 1 < len && t[i + 1] == '"') {
                        t[w++] = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                t[w++] = t[i++];
            }
        } else {
            while (i < len && t[i] != ',' && t[i] != '\n' && t[i] != '\r')
                t[w++] = t[i++];
        }
        int end_rec = i >= len || t[i] == '\n' || t[i] == '\r';
        if (i < len && t[i] == '\r')
            i++;
        if (i < len)
            i++;
        t[w] = '\0';
        if (end_rec)
            break;
    }
    *pos = i;
    return 1;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    b[*len] = '\0';
    fclose(f);
    return b;
}

static void test_mp20_val_first200(void)
{
    const char *path = XG_SHARED_DATA "/mp_20/val.csv";
    if (!xg_test_exists(path)) {
        printf("\n  skipped: %s not present\n", path);
        return;
    }
    size_t len, pos = 0;
    char *t = slurp(path, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    char *fl[16];
    int nf;
    CU_ASSERT_FATAL(csv_record(t, len, &pos, fl, 16, &nf));
    int c_id = -1, c_cif = -1, c_formula = -1;
    for (int i = 0; i < nf; i++) {
        if (!strcmp(fl[i], "material_id"))
            c_id = i;
        if (!strcmp(fl[i], "cif"))
            c_cif = i;
        if (!strcmp(fl[i], "pretty_formula"))
            c_formula = i;
    }
    CU_ASSERT_FATAL(c_id >= 0 && c_cif >= 0 && c_formula >= 0);
    int rows = 0, parsed = 0, formula_ok = 0, text_ok = 0;
    double secs = 0;
    while (rows < 200 && csv_record(t, len, &pos, fl, 16, &nf)) {
        CU_ASSERT_FATAL(nf > c_cif);
        rows++;
        char name[160];
        snprintf(name, sizeof name, "val.csv %s", fl[c_id]);
        xg_structure *s;
        xg_error e;
        clock_t t0 = clock();
        int rc = xg_cif_read_one_buffer(fl[c_cif], strlen(fl[c_cif]), name, &s, &e);
        secs += (double)(clock() - t0) / CLOCKS_PER_SEC;
        if (rc) {
            fprintf(stderr, "\n  %s\n", e.msg);
            continue;
        }
        parsed++;
        char red[256];
        if (!xg_structure_reduced_formula(s, red, sizeof red) && !strcmp(red, fl[c_formula]))
            formula_ok++;
        else
            fprintf(stderr, "\n  %s: formula %s, csv says %s\n", name, red, fl[c_formula]);
        /* our writer reproduces pymatgen's text, apart from the first comment line and the
         * last digits of the volume (recomputed from the rounded cell parameters) */
        char *mine = write_to_string(s);
        const char *a = strchr(mine, '\n'), *b = strchr(fl[c_cif], '\n');
        const char *va = strstr(mine, "_cell_volume   "), *vb = strstr(fl[c_cif], "_cell_volume   ");
        if (a && b && va && vb && fabs(atof(va + 15) - atof(vb + 15)) < 1e-6 * atof(vb + 15) &&
            !strncmp(a, b, (size_t)(va - a)) && !strcmp(strchr(va, '\n'), strchr(vb, '\n')))
            text_ok++;
        else
            fprintf(stderr, "\n  %s: CIF text differs:\n%s\n---- vs ----\n%s\n", name, mine,
                    fl[c_cif]);
        free(mine);
        xg_structure_free(s);
    }
    printf("\n  val.csv: %d rows, %d parsed (%.3f ms each), %d formulas match, %d identical "
           "CIF texts\n", rows, parsed, 1e3 * secs / (parsed ? parsed : 1), formula_ok, text_ok);
    CU_ASSERT_EQUAL(rows, 200);
    CU_ASSERT_EQUAL(parsed, 200);
    CU_ASSERT_EQUAL(formula_ok, 200);
    CU_ASSERT_EQUAL(text_ok, 200);
    free(t);
}

int main(void)
{
    static CU_TestInfo tests[] = {
        {"P1 CIF as pymatgen writes it", test_p1_basic},
        {"symop parse and format", test_symop_parse},
        {"rocksalt Fm-3m, 2 sites -> 8 atoms", test_symmetry_expansion_rocksalt},
        {"special positions merge", test_special_positions_merge},
        {"quotes and text fields", test_quotes_and_text_fields},
        {"uncertainties, ? and .", test_uncertainties_and_unknowns},
        {"loop order, DDL2 names, Cartesian", test_loop_order_and_cartesian},
        {"several data blocks", test_multiple_blocks},
        {"occupancy", test_occupancy},
        {"hostile input: messages", test_hostile_messages},
        {"hostile input: every truncation", test_truncated_prefixes},
        {"hostile input: garbage, 1e6 tags", test_garbage_and_size},
        {"many clustered sites", test_many_clustered_sites},
        {"files", test_files},
        {"round trip CIF -> structure -> CIF", test_round_trip_triclinic},
        {"symmetrized raw writer", test_symmetrized_raw},
        {"MP-20 val.csv first 200", test_mp20_val_first200},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("cif", tests);
}
