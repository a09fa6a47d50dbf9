#include "xg_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

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
