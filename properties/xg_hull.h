/* xg_hull.h: thermodynamic stability from a reference set of formation energies.
 *
 * The lower convex hull of formation energy per atom over composition space, with the elements
 * at zero by definition (DESIGN.md 3.5). For a composition c and a formation energy e (eV/atom)
 *
 *     E_hull(c, e) = e - h(c),   h(c) = min { sum_j x_j e_j : sum_j x_j c_j = c, x >= 0 }
 *
 * where c and the c_j are fractional compositions (atom fractions summing to one) and j runs over
 * the reference entries whose elements are a subset of c's elements, plus the pure elements at
 * zero (always present, whether or not the reference set lists them). h(c) is computed exactly,
 * as a small linear program per query (revised simplex, the elements as the starting basis).
 *
 * Sign: E_hull > 0 means above the hull (unstable by that much); E_hull < 0 means the pair
 * (c, e) lies below the reference hull, by |E_hull| eV/atom (it would become a new hull vertex).
 * Nothing is clipped to zero: a screen that wants "distance to the hull" takes max(0, E_hull).
 *
 * Entries are indexed by chemical system (a bitset of elements) so a query only looks at its
 * subsystems. After xg_hull_finalize (or xg_hull_read_h5) the object is read-only and queries
 * from many threads at once are safe (each query uses only its own stack and caller buffers).
 *
 * HDF5 layout of a saved hull reference, version 1 (part of the interface):
 *   /                              attributes: format = "xtalgen-hull" (string), version = 1 (int)
 *   /ids                       (n,)   fixed-length strings, XG_HULL_ID_LEN bytes, NUL padded
 *   /offsets                   (n+1,) int32, entry i has elements offsets[i]..offsets[i+1]-1
 *   /elements                  (m,)   uint8 atomic numbers, ascending within an entry
 *   /amounts                   (m,)   float64 amounts of each element (reduced formula counts)
 *   /formation_energy_per_atom (n,)   float64, eV/atom
 * Other format strings and versions above 1 are refused with a message saying so. */
#ifndef XG_HULL_H
#define XG_HULL_H

#include <stddef.h>
#include <stdint.h>

#include "crystal/xg_dataset.h"
#include "crystal/xg_error.h"

/* Most distinct elements in one composition (MP-20 has at most 7). */
#define XG_HULL_MAX_ELEMENTS 16
/* Bytes kept of an entry's id (Materials Project ids are about 10 characters). */
#define XG_HULL_ID_LEN 24

/* A composition: distinct elements in ascending Z with positive amounts (any scale: atom counts
 * of a cell, of a reduced formula, or fractions). */
typedef struct {
    int nel;
    int z[XG_HULL_MAX_ELEMENTS];
    double amount[XG_HULL_MAX_ELEMENTS];
} xg_hull_comp;

/* Parses a chemical formula: "Fe2O3", "LiFePO4", "Nd(Al2Cu)4", "Fe4 O6", "Li0.5CoO2",
 * brackets () [] {} nested with multipliers. Repeated elements add up. XG_EPARSE with the
 * position on unknown symbols, unbalanced brackets, bad numbers or an empty formula. */
int xg_hull_comp_parse(const char *formula, xg_hull_comp *c, xg_error *err);

/* The composition of n atoms of atomic numbers types[0..n-1]. */
int xg_hull_comp_from_types(const int *types, int n, xg_hull_comp *c, xg_error *err);

/* Writes the formula with elements by increasing Pauling electronegativity, ties and elements
 * without one by Z ("Fe2O3", "LiFePO4"), amounts as stored, printed with %g, 1 omitted.
 * XG_EINVAL if it does not fit in n bytes. */
int xg_hull_comp_format(const xg_hull_comp *c, char *buf, size_t n, xg_error *err);

/* Divides integral amounts by their greatest common divisor (Fe4O6 -> Fe2O3); amounts that are
 * not all integers are left alone. */
void xg_hull_comp_reduce(xg_hull_comp *c);

/* Fraction of element z in c (0 when absent). */
double xg_hull_comp_fraction(const xg_hull_comp *c, int z);

/* The reference set. Opaque; alloc/free pair. */
typedef struct xg_hull xg_hull;

xg_hull *xg_hull_alloc(void);
void xg_hull_free(xg_hull *h);

/* Adds one reference entry (before xg_hull_finalize). e_form is eV/atom and must be finite;
 * id may be NULL. */
int xg_hull_add(xg_hull *h, const xg_hull_comp *c, double e_form, const char *id, xg_error *err);

/* Adds every structure of ds whose property `prop` (e.g. "formation_energy_per_atom") is not
 * NaN; the composition comes from the atoms. *added (may be NULL) receives the count. */
int xg_hull_add_dataset(xg_hull *h, const xg_dataset *ds, const char *prop, int64_t *added,
                        xg_error *err);

/* Options of xg_hull_finalize. */
typedef struct {
    /* Keep every entry instead of only those that can matter: by default duplicate compositions
     * keep the lowest energy and entries above the hull of the others are dropped (an entry
     * above the hull never lowers h(c), so every query gives the same answer either way). */
    int keep_all;
    /* An entry is kept when its E_hull against the set is <= prune_tol (eV/atom). */
    double prune_tol;
} xg_hull_options;

/* Defaults: keep_all = 0, prune_tol = 1e-9. */
xg_hull_options xg_hull_default_options(void);

/* Deduplicates, prunes (unless opts->keep_all; opts may be NULL for the defaults), indexes by
 * chemical system. After this the hull is read-only. */
int xg_hull_finalize(xg_hull *h, const xg_hull_options *opts, xg_error *err);

/* Number of reference entries (after finalize: those kept). */
int64_t xg_hull_size(const xg_hull *h);

/* Entry i (0 <= i < size): its composition, energy and id (each output may be NULL). */
int xg_hull_entry(const xg_hull *h, int64_t i, xg_hull_comp *c, double *e_form, const char **id,
                  xg_error *err);

/* Decomposition of a composition into hull phases: the entries whose mixture realizes h(c). */
typedef struct {
    int n;
    /* Entry index into the reference set, or -Z for the pure element Z at zero energy. */
    int64_t entry[XG_HULL_MAX_ELEMENTS];
    /* Atom fraction of c carried by each phase (they sum to 1), largest first. */
    double fraction[XG_HULL_MAX_ELEMENTS];
} xg_hull_decomp;

/* The hull energy h(c) (eV/atom) and, if dec != NULL, the decomposition. Entries whose id equals
 * exclude_id (may be NULL) are left out, e.g. to measure a crystal against all the others
 * (exact only for a hull finalized with keep_all: otherwise a dropped polymorph is missing). */
int xg_hull_energy(const xg_hull *h, const xg_hull_comp *c, const char *exclude_id, double *hull_e,
                   xg_hull_decomp *dec, xg_error *err);

/* E_hull(c, e) = e - h(c), eV/atom, signed (see the top of this file). */
int xg_hull_e_above(const xg_hull *h, const xg_hull_comp *c, double e_form, double *e_above,
                    xg_hull_decomp *dec, xg_error *err);

/* HDF5 I/O of a finalized hull (layout above). Writing goes to PATH.tmp, renamed when complete. */
int xg_hull_write_h5(const xg_hull *h, const char *path, xg_error *err);
int xg_hull_read_h5(const char *path, xg_hull **out, xg_error *err);

#endif
