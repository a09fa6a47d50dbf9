/* xg_oxidation.h: charge balance from common oxidation states, SMACT-style.
 *
 * Why: compositional validity is one of the field's headline metrics (CDVAE, DiffCSP,
 * MatterGen report it), and the energy models need a plausible charge per site (Ewald sums).
 *
 * Compositional validity, exactly as CDVAE's smact_validity computes it, with SMACT's own data
 * (its default oxidation-state list, smact/data/oxidation_states.txt, and its list of metals,
 * both embedded in xg_oxidation.c; they are longer than pymatgen's common states in
 * crystal/xg_elements.h, e.g. Au +1, Ni +3, which real crystals need: with the common states
 * only about 64% of MP-20 validation formulas would pass) and the Pauling electronegativities
 * of crystal/xg_elements.h:
 *  - the elements are taken in increasing Z, counts divided by their gcd;
 *  - one element only: valid; every element a metal in SMACT's list (an alloy): valid;
 *  - otherwise valid when some choice of ONE oxidation state per element (all sites of an
 *    element share it) makes sum(state * count) exactly zero and passes the Pauling test: for
 *    every pair of elements, a cation (state > 0) is less electronegative than an anion
 *    (state < 0), strictly. As in SMACT, a pair whose electronegativity is undefined (NAN)
 *    makes the test pass (SMACT catches the TypeError and assumes it is fine).
 *  CDVAE passes threshold = max(count) to SMACT's neutral_ratios, but with explicit
 *  stoichiometries that threshold is never used, and the gcd filter is a no-op on reduced
 *  counts; so neither has an effect and neither appears here. */
#ifndef XG_OXIDATION_H
#define XG_OXIDATION_H

#include "crystal/xg_error.h"
#include "crystal/xg_structure.h"

/* Composition given as n (atomic number, count) pairs, in any order, counts > 0, repeated
 * elements allowed (they are summed). *valid = 1 or 0. XG_EINVAL for an unknown element, a
 * non-positive count or n < 1. */
int xg_oxidation_valid_composition(const int *z, const int *count, int n, int *valid,
                                   xg_error *err);

/* The same for the composition of a structure. */
int xg_oxidation_valid_structure(const xg_structure *s, int *valid, xg_error *err);

/* The most plausible charge-balanced assignment, one oxidation state per element, written to
 * oxi_per_site[natoms] (caller-owned) for Ewald-type energies.
 *  - Single elements and alloys (all metals): every site gets 0 (metallic, no ionic charges).
 *  - Otherwise every combination of the element table's common states (crystal/xg_elements.h)
 *    that sums to zero is a candidate; only when none exists are SMACT's longer lists used
 *    (Au2S -> Au+1). Candidates
 *    passing the Pauling test above are preferred; among them (or among all neutral ones if
 *    none passes) the one with the smallest total |charge|, sum(count * |state|), wins:
 *    low-magnitude states are the more common ones (Fe2O3 -> Fe+3 O-2, NaClO3 -> Na+1 Cl+5
 *    O-2 because chloride would leave the formula charged). Remaining ties go to the
 *    combination met first when states are tried in the element table's order, elements by Z.
 *  - No neutral combination even then (Fe3O4 needs two valences of Fe): XG_EINVAL naming the
 *    formula; oxi_per_site is then all zeros.
 * XG_EINVAL also for an empty structure or an unknown element. */
int xg_oxidation_assign(const xg_structure *s, int *oxi_per_site, xg_error *err);

#endif
