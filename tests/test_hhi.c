/* test_hhi.c: supply-risk HHI (properties/xg_hhi.h): per-element values from Gaultois et al.
 * 2013, the weight-fraction average against known compound values, and missing data as NaN. */
#include <math.h>
#include <string.h>

#include "crystal/xg_elements.h"
#include "crystal/xg_structure.h"
#include "properties/xg_hhi.h"
#include "xg_test.h"

static void test_elements(void)
{
    double p, r;
    CU_ASSERT_EQUAL(xg_hhi_element(26, &p, &r), 1); /* Fe */
    XG_ASSERT_NEAR(p, 2400, 0);
    XG_ASSERT_NEAR(r, 1400, 0);
    CU_ASSERT_EQUAL(xg_hhi_element(60, &p, &r), 1); /* Nd: the rare earths, 9500 / 3100 */
    XG_ASSERT_NEAR(p, 9500, 0);
    XG_ASSERT_NEAR(r, 3100, 0);
    CU_ASSERT_EQUAL(xg_hhi_element(39, &p, &r), 1); /* Y has the highest production HHI */
    XG_ASSERT_NEAR(p, 9800, 0);
    CU_ASSERT_EQUAL(xg_hhi_element(83, &p, &r), 1); /* Bi, the last element of the table */
    XG_ASSERT_NEAR(r, 6000, 0);
    CU_ASSERT_EQUAL(xg_hhi_element(2, &p, &r), 1); /* He, the first */
    XG_ASSERT_NEAR(p, 3200, 0);
    /* No data: hydrogen, technetium, the noble gases, uranium; out of range. */
    const int none[] = {1, 10, 18, 36, 43, 54, 92, 0, -3, 200};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        p = r = 0;
        CU_ASSERT_EQUAL(xg_hhi_element(none[i], &p, &r), 0);
        CU_ASSERT(isnan(p) && isnan(r));
    }
    CU_ASSERT_EQUAL(xg_hhi_element(8, NULL, NULL), 1);
    /* Every element with data has values in the index's range 0..10000. */
    int count = 0;
    for (int z = 1; z <= XG_MAX_Z; z++)
        if (xg_hhi_element(z, &p, &r)) {
            count++;
            CU_ASSERT(p > 0 && p <= 10000 && r > 0 && r <= 10000);
        }
    CU_ASSERT_EQUAL(count, 77);
}

/* Reference values: pymatgen 2022.11.7 HHIModel().get_hhi(formula), which implements the
 * Gaultois et al. weighting (masses differ in the last digits between tables: tolerance 1). */
static void test_compounds(void)
{
    struct {
        int n;
        int z[3];
        double amt[3];
        double p, r;
    } cases[] = {
        {2, {83, 52}, {2, 3}, 4152.691, 5474.150},       /* Bi2Te3 */
        {2, {26, 8}, {2, 3}, 1828.908, 1129.483},        /* Fe2O3 */
        {3, {60, 26, 5}, {2, 14, 1}, 4299.542, 1859.623}, /* Nd2Fe14B */
        {2, {25, 83}, {1, 1}, 4529.797, 5125.716},       /* MnBi */
        {2, {82, 52}, {1, 1}, 2776.225, 2981.481},       /* PbTe */
    };
    xg_error err;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double p, r;
        int miss = -1;
        CU_ASSERT_EQUAL(xg_hhi_composition(cases[i].z, cases[i].amt, cases[i].n, &p, &r, &miss, &err),
                        XG_OK);
        CU_ASSERT_EQUAL(miss, 0);
        XG_ASSERT_NEAR(p, cases[i].p, 1.0);
        XG_ASSERT_NEAR(r, cases[i].r, 1.0);
    }
    /* The weighting is by mass, not by atom count: Fe2O3 is far from the atom average
     * (0.4 * 2400 + 0.6 * 500 = 1260). */
    double p, r;
    int z[2] = {26, 8};
    double a[2] = {2, 3};
    xg_hhi_composition(z, a, 2, &p, &r, NULL, &err);
    CU_ASSERT(p > 1700);
    /* Scale-free and order-free; repeated elements add up. */
    double a2[2] = {4, 6};
    double p2, r2;
    xg_hhi_composition(z, a2, 2, &p2, &r2, NULL, &err);
    XG_ASSERT_NEAR(p, p2, 1e-9);
    int z3[3] = {8, 26, 26};
    double a3[3] = {3, 1, 1};
    xg_hhi_composition(z3, a3, 3, &p2, &r2, NULL, &err);
    XG_ASSERT_NEAR(r, r2, 1e-9);
}

static void test_missing_and_bad(void)
{
    xg_error err;
    double p = 0, r = 0;
    int miss = 0;
    int z[2] = {1, 8}; /* H2O: no HHI for hydrogen */
    double a[2] = {2, 1};
    CU_ASSERT_EQUAL(xg_hhi_composition(z, a, 2, &p, &r, &miss, &err), XG_OK);
    CU_ASSERT(isnan(p) && isnan(r));
    CU_ASSERT_EQUAL(miss, 1);
    /* A zero amount of an element without data does not make it missing. */
    a[0] = 0;
    CU_ASSERT_EQUAL(xg_hhi_composition(z, a, 2, &p, &r, &miss, &err), XG_OK);
    XG_ASSERT_NEAR(p, 500, 1e-9);
    CU_ASSERT_EQUAL(miss, 0);
    int bz[1] = {0};
    double ba[1] = {1};
    CU_ASSERT_EQUAL(xg_hhi_composition(bz, ba, 1, &p, &r, &miss, &err), XG_EINVAL);
    CU_ASSERT(isnan(p));
    int oz[1] = {8};
    double neg[1] = {-1}, zero[1] = {0}, nan1[1] = {NAN};
    CU_ASSERT_EQUAL(xg_hhi_composition(oz, neg, 1, &p, &r, &miss, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_hhi_composition(oz, zero, 1, &p, &r, &miss, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_hhi_composition(oz, nan1, 1, &p, &r, &miss, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_hhi_composition(oz, ba, 0, &p, &r, &miss, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_hhi_composition(NULL, NULL, 1, &p, &r, &miss, &err), XG_EINVAL);
}

static void test_structure(void)
{
    xg_error err;
    xg_structure *s = xg_structure_alloc(5);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    int t[5] = {83, 52, 83, 52, 52}; /* Bi2Te3, sites in any order */
    for (int i = 0; i < 5; i++)
        s->types[i] = t[i];
    double p, r;
    int miss;
    CU_ASSERT_EQUAL(xg_hhi_structure(s, &p, &r, &miss, &err), XG_OK);
    XG_ASSERT_NEAR(p, 4152.691, 1.0);
    s->types[0] = 1000;
    CU_ASSERT_EQUAL(xg_hhi_structure(s, &p, &r, &miss, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_hhi_structure(NULL, &p, &r, &miss, &err), XG_EINVAL);
    xg_structure_free(s);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"element values", test_elements},
        {"compounds vs reference", test_compounds},
        {"missing data and bad input", test_missing_and_bad},
        {"structure", test_structure},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("hhi", tests);
}
