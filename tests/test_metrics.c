/* test_metrics.c: 1-D Wasserstein distance on hand-computed cases (scipy semantics). */
#include <math.h>
#include <stdio.h>

#include "crystal/xg_metrics.h"
#include "xg_test.h"

static double w1(const double *u, size_t nu, const double *v, size_t nv)
{
    double w = NAN;
    CU_ASSERT_EQUAL(xg_metrics_wasserstein(u, nu, v, nv, &w, NULL), XG_OK);
    return w;
}

static void test_wasserstein(void)
{
    /* scipy's docstring examples. */
    XG_ASSERT_NEAR(w1((double[]){0, 1, 3}, 3, (double[]){5, 6, 8}, 3), 5.0, 1e-12);
    /* Shifting a sample by c moves it by exactly c. */
    XG_ASSERT_NEAR(w1((double[]){1, 2, 2, 7}, 4, (double[]){3, 4, 4, 9}, 4), 2.0, 1e-12);
    /* Different sizes: u = {0, 1}, v = {0}: CDFs differ by 1/2 on [0, 1): W = 0.5. */
    XG_ASSERT_NEAR(w1((double[]){0, 1}, 2, (double[]){0}, 1), 0.5, 1e-12);
    /* u = {1, 2, 3}, v = {2}: |1/3 - 0| on [1,2) + |2/3 - 1| on [2,3): 2/3. */
    XG_ASSERT_NEAR(w1((double[]){3, 1, 2}, 3, (double[]){2}, 1), 2.0 / 3.0, 1e-12);
    /* Identical samples (with ties): 0; symmetric in its arguments. */
    XG_ASSERT_NEAR(w1((double[]){2, 2, 5}, 3, (double[]){5, 2, 2}, 3), 0.0, 1e-15);
    XG_ASSERT_NEAR(w1((double[]){0, 10}, 2, (double[]){4}, 1),
                   w1((double[]){4}, 1, (double[]){0, 10}, 2), 1e-15);
    /* Errors: empty sample, NaN value. */
    double w;
    CU_ASSERT_EQUAL(xg_metrics_wasserstein((double[]){1}, 0, (double[]){1}, 1, &w, NULL),
                    XG_EINVAL);
    CU_ASSERT_EQUAL(xg_metrics_wasserstein((double[]){NAN}, 1, (double[]){1}, 1, &w, NULL),
                    XG_EINVAL);
}

static void test_collect(void)
{
    /* NaCl rock salt, conventional cell: 4 formula units in 5.64^3 A^3 -> 2.163 g/cm^3. */
    xg_dataset *ds = xg_dataset_alloc();
    xg_structure *s = xg_structure_alloc(8);
    for (int i = 0; i < 3; i++)
        s->lattice[i][i] = 5.64;
    for (int i = 0; i < 8; i++) {
        s->types[i] = i < 4 ? 11 : 17;
        s->frac[i][0] = 0.125 * i;
    }
    xg_error err = {0};
    CU_ASSERT_EQUAL_FATAL(xg_dataset_append(ds, s, NULL, &err), XG_OK);
    double dens, ne;
    CU_ASSERT_EQUAL(xg_metrics_collect(ds, &dens, &ne, &err), XG_OK);
    XG_ASSERT_NEAR(dens, 4 * (22.98976928 + 35.45) / (5.64 * 5.64 * 5.64) / 0.602214076, 1e-3);
    XG_ASSERT_NEAR(ne, 2, 0);
    xg_structure_free(s);
    xg_dataset_free(ds);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"Wasserstein distance, hand-computed", test_wasserstein},
        {"density and element count", test_collect},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("metrics", tests);
}
