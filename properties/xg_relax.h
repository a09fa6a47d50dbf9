/* xg_relax.h: structure relaxation with the M3GNet potential (properties/xg_m3gnet.h).
 *
 * FIRE (Bitzek et al., PRL 97, 170201 (2006)) with ASE's defaults (dt 0.1, dtmax 1.0, Nmin 5,
 * finc 1.1, fdec 0.5, alpha 0.1 -> x0.99, max step 0.2 A) on generalized coordinates: atom
 * positions in the undeformed frame, y_i, and a deformation gradient G of the starting cell,
 * in the row-vector convention of xg_structure: cartesian r_i = y_i G, lattice L = L0 G. The
 * cell coordinates are N G (N atoms; the scale ASE's UnitCellFilter uses so cell and atoms
 * move at comparable rates). Generalized forces: f_i = F_i G^T for atoms and
 * -V G^-T sigma / N for the cell (sigma the stress, ASE sign), which is -dE/d(N G); the cell
 * is converged when V |sigma| / N is below fmax, as in ASE. With fixed_cell only positions
 * move. A step that leaves the cell degenerate or the energy non-finite stops the run with an
 * error; the best structure so far is what the caller gets back. */
#ifndef XG_RELAX_H
#define XG_RELAX_H

#include "crystal/xg_error.h"
#include "crystal/xg_structure.h"
#include "properties/xg_m3gnet.h"

typedef struct {
    double fmax;     /* eV/A on every generalized force row; 0.05 */
    int max_steps;   /* force evaluations after the first; 500 */
    int fixed_cell;  /* 1: positions only */
    double max_step; /* A per step over all coordinates; 0.2 */
} xg_relax_config;

void xg_relax_default_config(xg_relax_config *c);

typedef struct {
    double e_initial, e_final; /* eV, total */
    double fmax_initial, fmax_final; /* largest generalized force row, eV/A */
    double max_force;    /* largest atomic force |F_i| at the end, eV/A */
    double stress[3][3]; /* at the end, eV/A^3 */
    int steps;           /* FIRE steps taken */
    int converged;
    double rms_displacement; /* A: atoms' rms displacement from the input, in the final cell,
                                minimal image, mean translation removed */
    double volume_change;    /* V_final / V_initial - 1 */
} xg_relax_result;

/* Relaxes s in place (wrapped into [0, 1) at the end). */
int xg_relax_run(const xg_m3gnet *m, xg_structure *s, const xg_relax_config *cfg,
                 xg_relax_result *res, xg_error *err);

#endif
