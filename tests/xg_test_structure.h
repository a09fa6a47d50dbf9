/* xg_test_structure.h: comparing crystals in the reader suites (CIF, POSCAR, extxyz). Header-only
 * and kept out of xg_test.h because the public-API suite (test_api) builds without the
 * project's internal headers. */
#ifndef XG_TEST_STRUCTURE_H
#define XG_TEST_STRUCTURE_H

#include <math.h>

#include "crystal/xg_structure.h"

/* Periodic distance in Angstrom between fractional positions a and b in lattice L (rows are
 * the lattice vectors; the difference wrapped to the nearest image along each axis). */
static inline double xg_test_pdist(const double L[3][3], const double a[3], const double b[3])
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

/* 1 when a and b are the same crystal: lattices equal within tol_l (A), and every atom of a has
 * an atom of the same element in b within tol_x (A), in any order (the counts must agree). */
static inline int xg_test_same_structure(const xg_structure *a, const xg_structure *b,
                                         double tol_l, double tol_x)
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

#endif
