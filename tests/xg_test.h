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

/* Periodic distance in Angstrom between fractional positions a and b in lattice L (rows are
 * the lattice vectors; the difference wrapped to the nearest image along each axis). */
double xg_test_pdist(const double L[3][3], const double a[3], const double b[3]);
struct xg_structure;
/* 1 when a and b are the same crystal: lattices equal within tol_l (A), and every atom of a has
 * an atom of the same element in b within tol_x (A), in any order (the counts must agree). */
int xg_test_same_structure(const struct xg_structure *a, const struct xg_structure *b,
                           double tol_l, double tol_x);

#define XG_ASSERT_NEAR(a, b, tol) CU_ASSERT(fabs((double)(a) - (double)(b)) <= (tol))

#endif
