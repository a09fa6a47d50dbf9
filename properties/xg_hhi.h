/* xg_hhi.h: supply risk of a composition, the Herfindahl-Hirschman index (HHI) of the world's
 * production and reserves of its elements (DESIGN.md 3.6).
 *
 * Source of the per-element values: M. W. Gaultois, T. D. Sparks, C. K. H. Borg, R. Seshadri,
 * W. D. Bonificio, D. R. Clarke, "Data-Driven Review of Thermoelectric Materials: Performance and
 * Resource Considerations", Chem. Mater. 2013, 25, 2911-2920 (the same numbers pymatgen ships as
 * analysis/hhi_data.csv). HHI runs from 0 (perfectly spread market) to 10000 (one country);
 * the US DoJ calls markets above 2500 highly concentrated.
 *
 * A compound's HHI is the weight-fraction average of its elements' HHI, as Gaultois et al. and
 * pymatgen's HHIModel compute it. Elements without data (H, the noble gases except He, Tc,
 * actinides, ...) are missing: the compound's HHI is then NaN, never a silent zero. */
#ifndef XG_HHI_H
#define XG_HHI_H

#include "crystal/xg_error.h"
#include "crystal/xg_structure.h"

/* HHI of production and of reserves of element z. Returns 1 when the element has data, 0 when it
 * does not (or z is outside 1..103); then both outputs (each may be NULL) are NaN. */
int xg_hhi_element(int z, double *production, double *reserve);

/* Weight-fraction average HHI of a composition of n distinct or repeated elements z[i] with atom
 * amounts amount[i] (>= 0, not all zero). When an element lacks data both results are NaN and
 * *missing_z (may be NULL) is its atomic number, else 0. XG_EINVAL on invalid input. */
int xg_hhi_composition(const int *z, const double *amount, int n, double *production,
                       double *reserve, int *missing_z, xg_error *err);

/* The same for the atoms of a structure. */
int xg_hhi_structure(const xg_structure *s, double *production, double *reserve, int *missing_z,
                     xg_error *err);

#endif
