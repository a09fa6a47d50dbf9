/* xg_test.h: the little glue every CUnit suite shares. A suite file defines
 *   static CU_TestInfo tests[] = { {"name", fn}, ..., CU_TEST_INFO_NULL };
 * and calls xg_test_run("suite name", tests) from main. Paths come from CMake:
 * XG_SOURCE_DIR (the project), XG_SHARED_DATA (../shared/data), XG_BINARY (the xtalgen program). */
#ifndef XG_TEST_H
#define XG_TEST_H

#include <CUnit/CUnit.h>
#include <CUnit/Basic.h>

int xg_test_run(const char *suite, CU_TestInfo *tests);
/* Writes text to a fresh temporary file and returns its path (static buffer per call slot). */
const char *xg_test_tmpfile(const char *suffix, const char *text);
/* A fresh temporary directory (mkdtemp); the caller may leave it behind. */
const char *xg_test_tmpdir(void);
/* 1 when path exists (used to skip tests that need ../shared/data when it is absent). */
int xg_test_exists(const char *path);

#define XG_ASSERT_NEAR(a, b, tol) CU_ASSERT(fabs((double)(a) - (double)(b)) <= (tol))

#endif
