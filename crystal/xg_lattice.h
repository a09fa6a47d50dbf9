/* xg_lattice.h: lattice math on a 3x3 matrix whose ROWS are the lattice vectors a, b, c
 * (Angstrom), the convention of crystal/xg_structure.h: cartesian = frac * L.
 *
 * Why a module of its own: the structure code, the CIF/POSCAR readers and writers, the structure
 * matcher and the diffusion model all need the same handful of exact operations (parameters,
 * volume, metric, reciprocal basis, and above all a canonical reduced cell), and they must agree
 * on conventions. Everything here is plain arrays in and out; no allocation.
 *
 * Reduction: xg_lattice_niggli returns the Niggli-reduced basis (Krivy & Gruber, Acta Cryst. A32
 * (1976) 297, with the epsilon handling of Grosse-Kunstleve, Sauter & Adams, Acta Cryst. A60
 * (2004) 1) together with the integer matrix T, det T = +1, such that L_reduced = T L. The
 * reduced cell's parameters are unique for a lattice, so two cells describe the same lattice
 * exactly when their Niggli parameters agree. xg_lattice_lll is the faster, non-unique
 * Lenstra-Lenstra-Lovasz reduction (short, nearly orthogonal vectors), useful before image
 * searches and structure matching. */
#ifndef XG_LATTICE_H
#define XG_LATTICE_H

#include "crystal/xg_error.h"

/* Default relative epsilon of the Niggli reduction (as pymatgen: 1e-5 * V^(1/3)). */
#define XG_NIGGLI_EPS 1e-5

/* a, b, c in Angstrom, alpha, beta, gamma in degrees (alpha = angle(b, c), beta = angle(a, c),
 * gamma = angle(a, b)) -> L with a along x, b in the xy plane, c completing a right-handed cell.
 * XG_EINVAL for non-positive lengths, angles outside (0, 180) or angles that admit no cell. */
int xg_lattice_from_params(double a, double b, double c, double alpha, double beta, double gamma,
                           double L[3][3], xg_error *err);
/* params = {a, b, c, alpha, beta, gamma}, angles in degrees. */
void xg_lattice_to_params(const double L[3][3], double params[6]);

/* det L: positive for a right-handed cell. */
double xg_lattice_volume_signed(const double L[3][3]);
/* |det L|, Angstrom^3. */
double xg_lattice_volume(const double L[3][3]);
/* Metric tensor G = L L^T (G[i][j] = a_i . a_j). */
void xg_lattice_metric(const double L[3][3], double G[3][3]);
/* Matrix inverse; XG_ENUMERIC when L is singular (|det| tiny relative to the vector lengths). */
int xg_lattice_inverse(const double L[3][3], double inv[3][3], xg_error *err);
/* Reciprocal basis as rows b_i with a_i . b_j = delta_ij (two_pi = 0) or 2 pi delta_ij
 * (two_pi = 1, the physicist's convention). R = (L^-1)^T, times 2 pi when asked. */
int xg_lattice_reciprocal(const double L[3][3], int two_pi, double R[3][3], xg_error *err);
/* Distances between opposite faces of the cell, V / |a_j x a_k|; the image search range of any
 * periodic distance calculation follows from these. */
void xg_lattice_widths(const double L[3][3], double w[3]);

/* Conversions of n points, flat arrays of n * 3 doubles (a structure's frac passes as
 * &s->frac[0][0]). In and out may be the same array: each point is read before it is written. */
void xg_lattice_frac_to_cart(const double L[3][3], const double *frac, int n, double *cart);
int xg_lattice_cart_to_frac(const double L[3][3], const double *cart, int n, double *frac,
                            xg_error *err);

/* Standard orientation, the frame VASP, ASE and DFT codes expect (and xg_lattice_from_params
 * builds): a along +x, b in the xy plane with b_y > 0, c_z > 0, so det out > 0. The lattice is
 * rotated, never reflected: a right-handed L is turned by the proper rotation that carries a to
 * x and b into the xy plane. A left-handed L (det < 0) cannot be rotated into a right-handed one;
 * its vectors are negated first (-a, -b, -c is the same lattice, and an atom at fractional x sits
 * at -x in that basis, same Cartesian point), then rotated. *negated (may be NULL) says whether
 * that happened; the caller must then map fractional coordinates x -> -x. The metric of out
 * equals that of L (negation does not change L L^T). The entries that must vanish (a_y, a_z,
 * b_z) are exactly zero. XG_ENUMERIC for a singular or non-finite L. */
int xg_lattice_standard_orientation(const double L[3][3], double out[3][3], int *negated,
                                    xg_error *err);

/* Niggli reduction. eps_rel <= 0 means XG_NIGGLI_EPS; the absolute tolerance is
 * eps_rel * V^(1/3). out = T L. XG_ENUMERIC for a singular or non-finite lattice, or when the
 * algorithm fails to converge within its iteration cap. out and T may be NULL. */
int xg_lattice_niggli(const double L[3][3], double eps_rel, double out[3][3], int T[3][3],
                      xg_error *err);
/* LLL reduction with the Lovasz parameter delta (<= 0 means 0.75): out = T L, det T = +1. */
int xg_lattice_lll(const double L[3][3], double delta, double out[3][3], int T[3][3],
                   xg_error *err);

#endif
