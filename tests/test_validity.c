/* test_validity.c: structural validity (distances incl. periodic images, volume). */
#include <math.h>
#include <stdio.h>

#include "crystal/xg_validity.h"
#include "xg_test.h"

static xg_structure *pair(double a, double sep)
{
    /* Two atoms sep Angstrom apart along x in a cubic cell of edge a. */
    xg_structure *s = xg_structure_alloc(2);
    for (int i = 0; i < 3; i++)
        s->lattice[i][i] = a;
    s->types[0] = 11;
    s->types[1] = 17;
    s->frac[0][0] = 0.1;
    s->frac[1][0] = 0.1 + sep / a;
    return s;
}

static void test_distances(void)
{
    xg_validity v;
    xg_error err = {0};
    xg_structure *s = pair(5.0, 0.3);
    CU_ASSERT_EQUAL(xg_validity_check(s, &v, &err), XG_OK);
    CU_ASSERT_EQUAL(v.valid_structure, 0);
    XG_ASSERT_NEAR(v.min_distance, 0.3, 1e-12);
    CU_ASSERT_EQUAL(v.valid_composition, 1);
    xg_structure_free(s);
    s = pair(5.0, 2.5);
    CU_ASSERT_EQUAL(xg_validity_check(s, &v, &err), XG_OK);
    CU_ASSERT_EQUAL(v.valid_structure, 1);
    XG_ASSERT_NEAR(v.min_distance, 2.5, 1e-12);
    /* Across the periodic boundary: atoms at x = 0.02 and 0.97 are 0.25 A apart. */
    s->frac[0][0] = 0.02;
    s->frac[1][0] = 0.97;
    CU_ASSERT_EQUAL(xg_validity_check(s, &v, &err), XG_OK);
    CU_ASSERT_EQUAL(v.valid_structure, 0);
    XG_ASSERT_NEAR(v.min_distance, 0.25, 1e-12);
    xg_structure_free(s);
    /* A very skewed cell, where the shortest distance hides several images away: lattice
     * a = (4,0,0), b = (13.9,0.4,0), c = (0,0,4), atoms at frac 0 and (0.6, 0, 0). The image
     * (0.6 - 4) a + b is at cartesian (0.3, 0.4, 0): 0.5 A, not the 2.4 A of the in-cell
     * minimum image. */
    xg_structure *k = xg_structure_alloc(2);
    double L[3][3] = {{4, 0, 0}, {13.9, 0.4, 0}, {0, 0, 4}};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            k->lattice[i][j] = L[i][j];
    k->types[0] = k->types[1] = 6;
    k->frac[1][0] = 0.6;
    double d;
    CU_ASSERT_EQUAL(xg_validity_min_distance(k, 10, &d, &err), XG_OK);
    XG_ASSERT_NEAR(d, 0.5, 1e-9);
    xg_structure_free(k);
    /* One atom: the distance to its own image (a lattice vector) counts. */
    xg_structure *one = xg_structure_alloc(1);
    for (int i = 0; i < 3; i++)
        one->lattice[i][i] = i == 0 ? 0.4 : 3.0;
    one->types[0] = 26;
    CU_ASSERT_EQUAL(xg_validity_structure(one, &v.valid_structure, &err), XG_OK);
    CU_ASSERT_EQUAL(v.valid_structure, 0);
    one->lattice[0][0] = 2.5;
    CU_ASSERT_EQUAL(xg_validity_structure(one, &v.valid_structure, &err), XG_OK);
    CU_ASSERT_EQUAL(v.valid_structure, 1);
    /* Tiny volume: invalid even if no distance is short enough to notice within the cap. */
    one->lattice[2][2] = 0.01;
    one->lattice[1][1] = 0.6;
    one->lattice[0][0] = 0.6;
    CU_ASSERT_EQUAL(xg_validity_check(one, &v, &err), XG_OK);
    CU_ASSERT_EQUAL(v.valid_structure, 0);
    /* Broken input is an error. */
    one->frac[0][1] = NAN;
    CU_ASSERT_EQUAL(xg_validity_check(one, &v, &err), XG_EINVAL);
    xg_structure_free(one);
    xg_structure *e = xg_structure_alloc(0);
    CU_ASSERT_EQUAL(xg_validity_check(e, &v, &err), XG_EINVAL);
    xg_structure_free(e);
}

static xg_structure *bcc_fe(double a)
{
    xg_structure *s = xg_structure_alloc(2);
    for (int i = 0; i < 3; i++)
        s->lattice[i][i] = a;
    s->types[0] = s->types[1] = 26;
    for (int k = 0; k < 3; k++)
        s->frac[1][k] = 0.5;
    return s;
}

/* Geometric validity against the covalent radii (Cordero 2008: Fe 1.32 A). */
static void test_bond_ratio(void)
{
    xg_error err = {0};
    xg_validity v;
    /* bcc Fe, a = 2.87 A: nearest neighbours at a sqrt(3)/2 = 2.485 A, ratio 2.485 / 2.64. */
    xg_structure *s = bcc_fe(2.87);
    CU_ASSERT_EQUAL(xg_validity_check(s, &v, &err), XG_OK);
    XG_ASSERT_NEAR(v.min_bond_ratio, 2.87 * sqrt(3.0) / 2 / 2.64, 1e-9);
    CU_ASSERT_EQUAL(v.valid_geometry, 1);
    CU_ASSERT_EQUAL(v.valid_structure, 1);
    xg_structure_free(s);
    /* Squeezed to a = 1.6 A (Fe-Fe 1.386 A, ratio 0.525): still "valid" by the 0.5 A rule,
     * which is exactly why the geometric check exists. */
    s = bcc_fe(1.6);
    CU_ASSERT_EQUAL(xg_validity_check(s, &v, &err), XG_OK);
    XG_ASSERT_NEAR(v.min_bond_ratio, 1.6 * sqrt(3.0) / 2 / 2.64, 1e-9);
    CU_ASSERT_EQUAL(v.valid_geometry, 0);
    CU_ASSERT_EQUAL(v.valid_structure, 1);
    xg_structure_free(s);
    /* Radii weight the pairs: H-H at 0.74 A (H2) is fine (0.74 / 0.62 > 1), Fe-Fe at 1.5 A is
     * not (1.5 / 2.64), and the ratio picks the worse pair, not the shorter distance. */
    xg_structure *m = xg_structure_alloc(4);
    for (int i = 0; i < 3; i++)
        m->lattice[i][i] = 10.0;
    m->types[0] = m->types[1] = 1;
    m->types[2] = m->types[3] = 26;
    m->frac[1][0] = 0.074;
    m->frac[2][1] = m->frac[3][1] = 0.5;
    m->frac[3][0] = 0.15;
    double r;
    CU_ASSERT_EQUAL(xg_validity_min_bond_ratio(m, 5, &r, &err), XG_OK);
    XG_ASSERT_NEAR(r, 1.5 / 2.64, 1e-9);
    m->frac[3][0] = 0.5; /* Fe pair 5 A apart: now H-H is the worst pair */
    CU_ASSERT_EQUAL(xg_validity_min_bond_ratio(m, 5, &r, &err), XG_OK);
    XG_ASSERT_NEAR(r, 0.74 / 0.62, 1e-9);
    /* An element without a radius is an error, not a verdict. */
    m->types[0] = 0;
    CU_ASSERT_EQUAL(xg_validity_min_bond_ratio(m, 5, &r, &err), XG_EINVAL);
    xg_structure_free(m);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"distances, images, volume", test_distances},
        {"bond ratios against covalent radii", test_bond_ratio},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("validity", tests);
}
