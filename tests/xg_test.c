#include "xg_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "crystal/xg_structure.h"

int xg_test_run(const char *suite, CU_TestInfo *tests)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_SuiteInfo suites[] = {{(char *)suite, NULL, NULL, NULL, NULL, tests}, CU_SUITE_INFO_NULL};
    if (CU_register_suites(suites) != CUE_SUCCESS) {
        CU_cleanup_registry();
        return 1;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    unsigned run = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    /* A suite that ran nothing is a failure: a test that cannot fail is no test. */
    return (failed || run == 0) ? 1 : 0;
}

static char g_paths[64][512];
static int g_next;

const char *xg_test_tmpfile(const char *suffix, const char *text)
{
    char *p = g_paths[g_next++ % 64];
    snprintf(p, 512, "/tmp/xgtestXXXXXX%s", suffix ? suffix : "");
    int fd = mkstemps(p, suffix ? (int)strlen(suffix) : 0);
    if (fd < 0)
        return NULL;
    size_t n = strlen(text);
    if (write(fd, text, n) != (ssize_t)n) {
        close(fd);
        return NULL;
    }
    close(fd);
    return p;
}

const char *xg_test_tmpdir(void)
{
    char *p = g_paths[g_next++ % 64];
    snprintf(p, 512, "/tmp/xgtestdirXXXXXX");
    return mkdtemp(p);
}

int xg_test_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

double xg_test_pdist(const double L[3][3], const double a[3], const double b[3])
{
    double d[3], c[3] = {0, 0, 0};
    for (int k = 0; k < 3; k++) {
        d[k] = a[k] - b[k];
        d[k] -= rint(d[k]);
    }
    for (int k = 0; k < 3; k++)
        for (int j = 0; j < 3; j++)
            c[j] += d[k] * L[k][j];
    return sqrt(c[0] * c[0] + c[1] * c[1] + c[2] * c[2]);
}

int xg_test_same_structure(const xg_structure *a, const xg_structure *b, double tol_l,
                           double tol_x)
{
    if (a->natoms != b->natoms)
        return 0;
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++)
            if (fabs(a->lattice[i][k] - b->lattice[i][k]) > tol_l)
                return 0;
    for (int i = 0; i < a->natoms; i++) {
        int found = 0;
        for (int j = 0; j < b->natoms && !found; j++)
            found = a->types[i] == b->types[j] &&
                    xg_test_pdist(a->lattice, a->frac[i], b->frac[j]) < tol_x;
        if (!found)
            return 0;
    }
    return 1;
}
