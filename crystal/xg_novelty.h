/* xg_novelty.h: uniqueness within a set of crystals and novelty against reference datasets,
 * by structure matching (crystal/xg_matcher.h, pymatgen StructureMatcher() semantics).
 *
 * Why: "unique" and "novel" are two thirds of S.U.N., the field's headline rate, and novelty
 * means comparing every candidate with tens of thousands of known crystals. Matching is only
 * attempted where it can succeed:
 *  - by fractional composition (the gcd-reduced formula), through a hash index: the matcher
 *    itself rejects different compositions, so this prunes nothing it would accept;
 *  - by the number of sites of the reduced (primitive) cells, which the matcher also requires
 *    to be equal. Volume is NOT used to prune: the matcher scales volumes to each other, so two
 *    cells of very different volume per atom can still match.
 * Reference cells are reduced (primitive + Niggli) once, lazily: only references whose
 * composition occurs among the candidates are ever reduced. Candidates are matched in parallel
 * (OpenMP); results do not depend on the number of threads.
 *
 * Conventions: novelty tests xg_matcher_fit_reduced(candidate, reference) against references
 * in index order and reports the first match; uniqueness follows pymatgen's group_structures:
 * within each composition, in input order, the first unassigned crystal opens a group and
 * every later unassigned crystal that fits it (fit(first, other)) joins it. */
#ifndef XG_NOVELTY_H
#define XG_NOVELTY_H

#include <stdint.h>
#include "crystal/xg_dataset.h"
#include "crystal/xg_matcher.h"

/* Reduces every structure of ds with xg_matcher_reduce, in parallel. out[i] (caller array of
 * ds->n pointers) is the reduced cell, or NULL when structure i could not be reduced (its
 * error is counted in *nfailed, may be NULL, and the first such message is left in err).
 * Returns XG_OK unless memory runs out. Free each out[i] with xg_structure_free. */
int xg_novelty_reduce_dataset(const xg_dataset *ds, const xg_matcher_params *p,
                              xg_structure **out, int64_t *nfailed, xg_error *err);

/* Uniqueness: dup_of[i] = index of the first crystal of i's group, or -1 when i is the first
 * (or reduced[i] is NULL), or XG_NOVELTY_NOT_ASSESSED when i matched no earlier crystal but the
 * matcher refused to compare it with one (an extreme cell, XG_EUNSUPPORTED): one such pair
 * leaves that crystal undecided instead of failing the call. reduced[] are cells from
 * xg_matcher_reduce. Only running out of memory is an error. */
#define XG_NOVELTY_NOT_ASSESSED (-2)
int xg_novelty_unique(xg_structure *const *reduced, int64_t n, const xg_matcher_params *p,
                      int64_t *dup_of, xg_error *err);

/* A reference index over one or more datasets. The datasets are borrowed: they must outlive
 * the index and not change while it exists. */
typedef struct xg_novelty_index xg_novelty_index;

int xg_novelty_index_create(const xg_matcher_params *p, xg_novelty_index **out, xg_error *err);
/* Adds every structure of ds; reference numbers continue from the previous datasets. */
int xg_novelty_index_add(xg_novelty_index *ix, const xg_dataset *ds, xg_error *err);
void xg_novelty_index_free(xg_novelty_index *ix);
int64_t xg_novelty_index_size(const xg_novelty_index *ix);
/* The id of reference ref (0 <= ref < size), "" when out of range. */
const char *xg_novelty_index_id(const xg_novelty_index *ix, int64_t ref);
/* References reduced so far, and those that failed to reduce (they can never match). */
int64_t xg_novelty_index_reduced(const xg_novelty_index *ix, int64_t *nfailed);

/* Novelty of n candidates (reduced cells; NULL entries are skipped and get novel = 0,
 * matched = -1). novel[i] = 1 when no reference matches, 0 when one does, -1 (not assessed)
 * when none matched but the matcher refused a comparison (an extreme cell); matched[i] = the
 * first matching reference number or -1. Either output may be NULL. Only running out of
 * memory is an error. */
int xg_novelty_check(xg_novelty_index *ix, xg_structure *const *cands, int64_t n, int *novel,
                     int64_t *matched, xg_error *err);

#endif
