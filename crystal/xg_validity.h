/* xg_validity.h: is a crystal physically sensible? CDVAE's two validity checks.
 *
 * Why: generated crystals go to expensive DFT; overlapping atoms or collapsed cells must be
 * caught first, and the validity rates are headline metrics of the field.
 *  - Structural validity: every interatomic distance, periodic images included, is at least
 *    0.5 Angstrom, and the cell volume is at least 0.1 cubic Angstrom (CDVAE's
 *    structure_validity: invalid when min distance < 0.5 or volume < 0.1). CDVAE's distance
 *    matrix skips an atom's distance to its own periodic image; here that distance (a lattice
 *    vector) counts too, because an atom 0.3 Angstrom from its own image is as unphysical as
 *    one 0.3 Angstrom from another atom. The two differ only for cells with a lattice vector
 *    shorter than 0.5 Angstrom.
 *  - Compositional validity: SMACT-style charge balance (crystal/xg_oxidation.h). */
#ifndef XG_VALIDITY_H
#define XG_VALIDITY_H

#include "crystal/xg_error.h"
#include "crystal/xg_structure.h"

#define XG_VALIDITY_MIN_DISTANCE 0.5 /* Angstrom */
#define XG_VALIDITY_MIN_VOLUME 0.1   /* Angstrom^3 */

typedef struct {
    int valid_structure;   /* 1 when distances and volume pass */
    int valid_composition; /* 1 when charge balance passes */
    double min_distance;   /* shortest distance, Angstrom, capped at 10 (exact below the cap) */
    double volume;         /* Angstrom^3 */
} xg_validity;

/* Shortest distance between two atoms of s (periodic images included, an atom and its own
 * images too), exact when below cap; cap when every distance is at least cap. cap > 0.
 * XG_EINVAL for an empty structure, a singular lattice or non-finite coordinates. */
int xg_validity_min_distance(const xg_structure *s, double cap, double *out, xg_error *err);

/* Structural validity only. */
int xg_validity_structure(const xg_structure *s, int *valid, xg_error *err);

/* Both checks. A structure too broken to analyse (no atoms, NaN coordinates, unknown element)
 * is an error, not an invalid verdict, so the caller can report why. */
int xg_validity_check(const xg_structure *s, xg_validity *out, xg_error *err);

#endif
