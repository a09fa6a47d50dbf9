/* xg_structure.h: a periodic crystal (A, X, L) as DESIGN.md 3.1 defines it.
 *
 * Conventions, fixed for the whole project:
 *  - lattice[i] is the i-th lattice vector (a, b, c as ROWS), in Angstrom. spglib wants columns;
 *    the one transpose lives in crystal/xg_symmetry.c.
 *  - frac[i] are fractional coordinates of atom i; cartesian = frac * lattice (row vector times
 *    matrix).
 *  - types[i] is the atomic number Z (1..103).
 * The struct owns its arrays; create with xg_structure_alloc, release with xg_structure_free. */
#ifndef XG_STRUCTURE_H
#define XG_STRUCTURE_H

#include <stddef.h>
#include "crystal/xg_error.h"

#define XG_ID_LEN 128

typedef struct xg_structure {
    int natoms;
    double lattice[3][3];
    int *types;        /* natoms atomic numbers */
    double (*frac)[3]; /* natoms fractional coordinates */
    char id[XG_ID_LEN];/* material id or file name; may be empty */
    /* NULL for an ordered crystal (every site fully occupied by one element). Otherwise natoms
     * occupancies in (0, 1]: a disordered crystal, as a synthesis gives (MatterGen's TaCr2O6).
     * A mixed site is several entries at one position (one per element, as pymatgen's species
     * dict on a site); a vacancy is an entry whose position's occupancies sum below 1.
     * Only the readers and properties that say so accept occu != NULL (xg_structure_check_ordered). */
    double *occu;
} xg_structure;

/* Allocates a structure of natoms atoms (natoms >= 0), zeroed. NULL on allocation failure. */
xg_structure *xg_structure_alloc(int natoms);
void xg_structure_free(xg_structure *s);
xg_structure *xg_structure_copy(const xg_structure *s);
/* Changes the number of atoms, keeping the first min(old, new) atoms. */
int xg_structure_resize(xg_structure *s, int natoms, xg_error *err);

/* Gives s an occupancy array, all 1.0 (no-op if it has one). */
int xg_structure_occu_alloc(xg_structure *s, xg_error *err);
/* 1 when s is ordered: no occupancy array, or every occupancy 1 and no two entries coincide
 * (only the first condition is checked for positions; the CIF reader never makes coincident
 * full entries). */
int xg_structure_is_ordered(const xg_structure *s);
/* XG_OK for an ordered crystal; otherwise XG_EUNSUPPORTED with "'id' is disordered: site k (El)
 * has occupancy x; <what> needs an ordered crystal", what naming the caller. */
int xg_structure_check_ordered(const xg_structure *s, const char *what, xg_error *err);

/* The fully mixed variant of s over the elements zs[0..nz-1] (nz >= 2): every site holding one
 * of them becomes a mixed site holding each of them with occupancy (its occupancy) x (the
 * element's share of those sites in s), so all such sites share the average occupancy (the
 * Ta/Cr disorder of MatterGen's TaCr2O6). Other sites are copied. XG_EINVAL when s holds fewer
 * than two of the elements. *out is new (xg_structure_free). */
int xg_structure_mix(const xg_structure *s, const int *zs, int nz, xg_structure **out,
                     xg_error *err);

/* Formula in pymatgen's order (elements by Pauling electronegativity, ties by Z):
 * "Fe4 O6" (formula), "Fe2O3" (reduced formula), "Fe-O" (chemical system, alphabetical).
 * Each writes a NUL-terminated string into buf; returns XG_EINVAL if it does not fit. */
int xg_structure_formula(const xg_structure *s, char *buf, size_t n);
int xg_structure_reduced_formula(const xg_structure *s, char *buf, size_t n);
int xg_structure_chemsys(const xg_structure *s, char *buf, size_t n);
/* The elements present, in the order of the formulas above: Pauling electronegativity
 * ascending, ties by the symbol's spelling, elements without one (He, Ne, Ar) last. This is the
 * order of pymatgen's Structure.get_sorted_structure (sites compare by electronegativity, then
 * species string), which the Materials Project's input sets write, and it is the one order of a
 * POSCAR's title (formula) and species lines. Writes at most cap atomic numbers into zs and
 * returns the number of distinct elements (-1 for an atomic number outside the table). */
int xg_structure_species_order(const xg_structure *s, int *zs, int cap);
/* Reorders the atoms so that each element's atoms are contiguous, elements in the order of
 * xg_structure_species_order, atoms of one element in their original order (a stable sort, as
 * Python's sorted is). XG_EINVAL for an atomic number outside the table. */
int xg_structure_group_species(xg_structure *s, xg_error *err);
/* Puts the lattice in the standard orientation (xg_lattice_standard_orientation: a along x, b
 * in the xy plane, det > 0) and maps the fractional coordinates to match (x -> -x when the
 * basis had to be negated to make it right-handed), wrapped into [0, 1): the same crystal,
 * rotated, never mirrored. XG_ENUMERIC for a singular lattice. */
int xg_structure_orient(xg_structure *s, xg_error *err);
/* The cell every xtalgen output file carries: xg_structure_orient, then
 * xg_structure_group_species. */
int xg_structure_make_standard(xg_structure *s, xg_error *err);

/* Number of distinct elements. */
int xg_structure_nelements(const xg_structure *s);

double xg_structure_volume(const xg_structure *s);   /* Angstrom^3, positive */
double xg_structure_density(const xg_structure *s);  /* g/cm^3 */
/* Smallest distance between any two atoms, periodic images included (also an atom and its own
 * image, i.e. the shortest lattice vector, when natoms == 1). Angstrom. */
double xg_structure_min_distance(const xg_structure *s);
/* Wraps every fractional coordinate into [0, 1). */
void xg_structure_wrap(xg_structure *s);
void xg_structure_frac_to_cart(const xg_structure *s, int i, double cart[3]);

#endif
