/* xg_ewald.h: electrostatic (Madelung) energy of point charges on a periodic lattice.
 *
 * Why: an ionic candidate whose oxidation-state-decorated Ewald energy is poor (or positive) is
 * unlikely to exist; chemists compute it before spending DFT time. Two methods give the same
 * number:
 *  - xg_ewald_direct: the classic Ewald sum, real-space erfc term + reciprocal-space term + self
 *    term (+ the neutralising-background term of a charged cell). Splitting parameter and cutoffs
 *    are chosen from an accuracy the way pymatgen's EwaldSummation does, so the two agree:
 *      eta = (N w / V^2)^(1/3) pi, w = 1/sqrt(2);  a = sqrt(ln(10^acc));
 *      r_max = a / sqrt(eta);  g_max = 2 sqrt(eta) a.
 *    Cost grows as N^(3/2); fine up to a few hundred atoms.
 *  - xg_ewald_pme: smooth particle-mesh Ewald (Essmann et al., J. Chem. Phys. 103, 8577 (1995)):
 *    charges spread on a grid with cardinal B-splines, FFTW r2c/c2r transforms, influence
 *    function with the B-spline moduli. Same real-space and self terms. For large cells.
 * Energies are in eV (Coulomb constant 14.39964548 eV Angstrom), charges in units of e.
 * Both are independent of the cell choice: a supercell gives the same energy per atom.
 *
 * Charged cells: the sum of charges Q != 0 adds the uniform-background term
 * -k pi Q^2 / (2 V eta) (as pymatgen does), spread equally over the atoms in per_atom;
 * set xg_ewald_params.refuse_charged to get XG_EINVAL instead. */
#ifndef XG_EWALD_H
#define XG_EWALD_H

#include "crystal/xg_structure.h"

#define XG_COULOMB_EV_A 14.39964548

typedef struct {
    double accuracy;     /* significant digits each sum converges to (pymatgen acc_factor); 12 */
    double eta;          /* splitting parameter, 1/Angstrom^2; 0 = choose (see above) */
    double real_cutoff;  /* Angstrom; 0 = from accuracy */
    double recip_cutoff; /* 1/Angstrom (with the 2 pi); 0 = from accuracy */
    int refuse_charged;  /* 1: a non-neutral cell is an error instead of getting the background */
    /* PME only */
    int pme_order;       /* B-spline order 4..8; 0 = 6 */
    double pme_spacing;  /* target grid spacing, Angstrom; 0 = 0.25 */
    int pme_grid[3];     /* explicit grid sizes; 0 = from pme_spacing */
    double pme_real_cutoff; /* PME picks eta from this real-space cutoff (Angstrom) so that the
                               real-space cost stays O(N); 0 = 10 (or the direct choice if that
                               is shorter). Ignored when eta is set. */
} xg_ewald_params;

typedef struct {
    double total;   /* eV per cell */
    double real;    /* eV, the erfc part */
    double recip;   /* eV, the reciprocal-space part */
    double self;    /* eV, -k sqrt(eta/pi) sum q^2 */
    double charged; /* eV, neutralising-background term (0 for a neutral cell) */
    double eta, real_cutoff, recip_cutoff; /* the parameters actually used */
    int grid[3];    /* PME grid (0 for the direct sum) */
} xg_ewald_result;

/* Defaults: accuracy 12, everything else automatic. */
void xg_ewald_params_default(xg_ewald_params *p);

/* Direct Ewald sum. charges: natoms values (e). per_atom: NULL or natoms caller-owned values that
 * receive each site's energy (eV; they sum to total). params may be NULL for the defaults.
 * Errors: XG_EINVAL for a degenerate lattice, no atoms, non-finite inputs or a charged cell with
 * refuse_charged; XG_ENOMEM. */
int xg_ewald_direct(const xg_structure *s, const double *charges, const xg_ewald_params *params,
                    xg_ewald_result *out, double *per_atom, xg_error *err);

/* Smooth PME. Same contract as xg_ewald_direct; agrees with it to ~1e-6 relative at the
 * defaults (order 6, 0.25 Angstrom). */
int xg_ewald_pme(const xg_structure *s, const double *charges, const xg_ewald_params *params,
                 xg_ewald_result *out, double *per_atom, xg_error *err);

/* Convenience for reports and `xtalgen screen`'s ewald_per_atom column: charges from
 * xg_oxidation_assign (crystal/xg_oxidation.h: the most plausible charge-balanced common
 * oxidation states), then the direct sum (PME above 200 atoms) at the default parameters.
 * *energy_per_atom = total / natoms (eV/atom). oxi (NULL or natoms caller-owned ints) receives
 * the charges used; out (may be NULL) the full result. Errors: XG_EINVAL when no charge-balanced
 * assignment exists (the message names the formula), XG_EUNSUPPORTED when the assignment is all
 * zero (an element or an alloy: no ionic charges, so no Madelung energy to report). */
int xg_ewald_oxidation_energy(const xg_structure *s, double *energy_per_atom, int *oxi,
                              xg_ewald_result *out, xg_error *err);

/* Madelung constant of a binary structure with charges +-q: M = -E_pair * r0 / (k q^2), where
 * E_pair is the energy per formula unit and r0 the nearest cation-anion distance. A helper for
 * tests and reports. */
double xg_ewald_madelung(double energy_per_formula_unit, double r0, double q);

#endif
