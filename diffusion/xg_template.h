/* xg_template.h: space-group templates for symmetric sampling (DESIGN.md 3.4b, issue 13).
 *
 * A template is what a training crystal's symmetry leaves to choose, in the cell the model was
 * trained on (the dataset's cell; the model sees its metric L L^T and fractional coordinates):
 * spglib's operations (W, w) of that cell (x' = W x + w, fractional, W integer), the orbits of
 * equivalent atoms, and per orbit the site-symmetry operations (those that map the
 * representative onto itself modulo lattice translations). The atoms of a template are stored
 * orbit by orbit; the first atom of an orbit is its representative and every atom a carries the
 * operation g_a with g_a(x_rep) = x_a (mod 1). The representative positions of the training
 * crystal, symmetrized exactly, are kept too: they fix which branch of a Wyckoff position each
 * orbit occupies (4a and 4b of Fm-3m share their site symmetry but not their place).
 *
 * Symmetric subspace and the projection onto it (xg_template_project_*):
 *   positions: for each orbit, the images g_a^-1(x_a) of its atoms are mapped back onto the
 *     representative and averaged on the torus (each difference wrapped to [-1/2, 1/2)); the
 *     average is then moved to the nearest point of the orbit's site-fixed set
 *     x_rep0 + V + Z^3 (V = fixed space of the site rotations, reached with the projector
 *     P = mean of the site rotations; the lattice vector is chosen to minimise the distance to
 *     V), and the orbit is rebuilt as g_a(x_rep) mod 1. This is the group average of spglib and
 *     phonopy (each atom's images under all operations, mapped back), factored into cosets and
 *     site symmetry; the result is exactly symmetric and the map is idempotent.
 *   lattice: G = L L^T is replaced by its average over the rotations, mean W^T G W, and L by
 *     the symmetric square root of that average, the sampler's lattice parametrisation (the
 *     symmetric polar factor, xg_noise_lattice_canonical).
 * Near a symmetric point both maps are linear; when the rotations are orthogonal matrices in
 * the cell's basis (cubic, tetragonal, orthorhombic, monoclinic settings, permutations) they are
 * orthogonal projections, so isotropic noise projected onto the subspace is isotropic noise of
 * the subspace with the same scale. In hexagonal and centred bases they are oblique.
 *
 * Template tables (HDF5, version 1; part of the interface, documented in README.md):
 *   /  attributes: format = "xtalgen-templates", version = 1 (int64), symprec (double, spglib's
 *      tolerance in Angstrom), angle_tolerance (double, degrees), source (string, the dataset),
 *      ncrystals (int64, crystals analysed), nskipped (int64, crystals without a template:
 *      spglib failed or its operations did not form consistent orbits), count (int64, templates)
 *   /spacegroup (n,) int32       /natoms (n,) int32       /frequency (n,) int64 (training crystals)
 *   /nops (n,) int32             /norbits (n,) int32      /example (n,) fixed strings: the id
 *                                                          of the first training crystal
 *   /rotations (sum nops, 3, 3) int32    /translations (sum nops, 3) float64 in [0, 1)
 *   /atom_op (sum natoms,) int32: g_a, an index into the template's operations
 *   /orbit_size (sum norbits,) int32: atoms of the orbit (its multiplicity in the cell)
 *   /orbit_rep (sum norbits, 3) float64: the representative position
 *   /orbit_wyckoff (sum norbits,) fixed strings of 2 bytes: spglib's Wyckoff letter
 *   /orbit_site_symbol (sum norbits,) fixed strings of 8 bytes: site symmetry, "m-3m"
 *   /orbit_nsite (sum norbits,) int32   /site_ops (sum orbit_nsite,) int32: operation indices
 *   optional (tables built since issue 16; absent in older ones, which read with no members):
 *   /member_template (m,) int32: each analysed training crystal's template, in dataset order
 *   /member_orbit_z (sum over members of their template's norbits,) int32: the element on each
 *      orbit of the member's template (template orbit order; orbits with equal descriptors are
 *      matched in the crystal's own order)
 * Templates are distinct by (space group, N, the multiset of (orbit size, Wyckoff letter, site
 * symmetry symbol)); the stored operations and positions are those of the first training
 * crystal with that key. Another format or version is refused with XG_EVERSION. */
#ifndef XG_TEMPLATE_H
#define XG_TEMPLATE_H

#include <stdint.h>

#include "crystal/xg_dataset.h"
#include "crystal/xg_error.h"
#include "crystal/xg_rng.h"
#include "crystal/xg_structure.h"

#define XG_TEMPLATE_VERSION 1

typedef struct {
    int spacegroup;          /* 1..230 */
    int natoms;
    int nops;
    int (*rot)[3][3];        /* nops rotations on fractional coordinates */
    double (*trans)[3];      /* nops translations in [0, 1) */
    int norbits;
    int *orbit_start;        /* norbits + 1: atoms orbit_start[o] .. orbit_start[o+1]-1 */
    int *atom_op;            /* natoms: g_a (the representative's is the identity) */
    double (*rep)[3];        /* norbits: exactly symmetric representative positions */
    char *wyckoff;           /* norbits letters */
    char (*site_symbol)[8];  /* norbits */
    int *site_start;         /* norbits + 1 into site_ops */
    int *site_ops;           /* operations fixing the representative (mod 1) */
    int64_t frequency;       /* training crystals with this template */
    char example[XG_ID_LEN]; /* the training crystal the operations come from */
    /* derived, not stored */
    int (*inv_rot)[3][3];    /* nops inverse rotations */
    double (*proj)[9];       /* norbits: P = mean of the site rotations (row-major) */
} xg_template;

typedef struct {
    int n;
    xg_template *t;
    double symprec;
    int64_t ncrystals, nskipped;
    char source[512];
    /* The training crystals behind the templates, for crystal structure prediction (optional:
     * a table written before it has nmembers = 0). Member m has template member_template[m]
     * and, on orbit o of that template (in the template's orbit order), the element
     * member_z[member_start[m] + o]: its composition on the template, so a composition can be
     * matched to the templates of training crystals of the same stoichiometry. */
    int64_t nmembers;
    int32_t *member_template;  /* nmembers */
    int64_t *member_start;     /* nmembers + 1, derived from the templates' orbit counts */
    int32_t *member_z;         /* member_start[nmembers] */
} xg_template_table;

/* The template of one crystal at spglib tolerance symprec (Angstrom). *out is new (free with
 * xg_template_free); its frequency is 1. Optional outputs: order (natoms ints: template atom
 * k is input atom order[k]) and max_shift (the largest Cartesian distance, Angstrom, between an
 * input atom and its exactly symmetric position). XG_ELIB when spglib fails, XG_ENUMERIC when
 * its operations do not give consistent orbits (an operation maps a representative onto no
 * atom of its orbit, or onto the orbit unevenly). */
int xg_template_from_structure(const xg_structure *s, double symprec, xg_template **out,
                               int *order, double *max_shift, xg_error *err);
void xg_template_free(xg_template *t);

/* Projects natoms x 3 fractional coordinates, in the template's atom order, onto the
 * symmetric subspace (in place; results in [0, 1)). */
void xg_template_project_frac(const xg_template *t, double *frac);
/* Projects a lattice (9 values, rows are vectors) onto the symmetric polar factors whose metric
 * is invariant under the rotations: L <- (mean W^T L L^T W)^(1/2). XG_ENUMERIC on a
 * non-finite input or a failed eigendecomposition. */
int xg_template_project_lattice(const xg_template *t, double L[9], xg_error *err);

/* A structure from the template: orbit o gets type orbit_types[o] and representative
 * reps[o] (NULL: the template's own), expanded to every atom; the lattice is projected. */
int xg_template_expand(const xg_template *t, const int *orbit_types, const double (*reps)[3],
                       const double lattice[3][3], xg_structure **out, xg_error *err);

/* Largest deviation from symmetry of frac (template order), in fractional units: over atoms a,
 * |g_a(x_rep) - x_a| wrapped, and over the site operations s, |s(x_rep) - x_rep| wrapped. */
double xg_template_asymmetry(const xg_template *t, const double *frac);

/* Builds the table of distinct templates of a dataset. progress (may be NULL) is called with
 * (crystals done, total). */
int xg_template_table_build(const xg_dataset *ds, double symprec, const char *source,
                            void (*progress)(void *ctx, long done, long total), void *ctx,
                            xg_template_table **out, xg_error *err);
void xg_template_table_free(xg_template_table *tab);
int xg_template_table_write(const xg_template_table *tab, const char *path, xg_error *err);
int xg_template_table_read(const char *path, xg_template_table **out, xg_error *err);

/* Draws a template with probability proportional to its frequency among those whose space
 * group has groups[sg] != 0 (groups: 231 flags, NULL = all) and, when natoms > 0, whose N is
 * natoms. Returns its index, or -1 when none matches. */
int xg_template_table_draw(const xg_template_table *tab, const unsigned char *groups, int natoms,
                           xg_rng *rng);
/* Training crystals covered by the templates that xg_template_table_draw would consider. */
int64_t xg_template_table_weight(const xg_template_table *tab, const unsigned char *groups,
                                 int natoms);
/* A training crystal of template ti, drawn uniformly among the table's members on it: the
 * member index, or -1 when the table lists none there (tables written before members were
 * stored list none). A linear scan: members are few (MP-20: 24,862) next to a sampler run. */
int64_t xg_template_table_draw_member(const xg_template_table *tab, int ti, xg_rng *rng);
/* The element pattern of member m on its template: cls[o] (norbits ints) numbers orbit o's
 * element by first appearance over the orbits (0, 1, ...), so orbits with one element share a
 * class. Returns the number of classes (distinct elements). */
int xg_template_member_classes(const xg_template_table *tab, int64_t m, int *cls);

/* Which element fills an element class, as the training crystals on the templates say: the
 * class-level prior of the sampler's class draw (xg_sampler_opts.class_prior says why). For
 * crystals of n atoms in size bin b = xg_class_prior_bin(n): atom[b][k] is log p(Z = k + 1)
 * over all their atoms, and cls[b][c][r][k] over their classes of rank r (0 = most atoms;
 * ties: the lower class number, the sampler's order) in patterns of c + 1 classes (the last c
 * and r gather all larger ones). Keyed by size because the network's own per-atom marginal
 * depends on it (large cells are mostly oxides: in the shipped MP-20 table O is 1.6% of the
 * atoms of cells of up to 4 atoms and 29.7% of those of 17 or more). Each class distribution is shrunk toward its
 * bin's atom frequencies with a weight of XG_CLASS_PRIOR_SHRINK classes, and each bin's atom
 * frequencies toward all atoms' with the same weight in atoms, so a rare key stays near the
 * frequencies around it; an element no member holds gets 1e-8. */
#define XG_CLASS_PRIOR_BINS 6
#define XG_CLASS_PRIOR_NCLS 6
#define XG_CLASS_PRIOR_RANKS 6
#define XG_CLASS_PRIOR_TYPES 100 /* Z = 1..100, the network's classes */
#define XG_CLASS_PRIOR_SHRINK 20.0
typedef struct {
    double atom[XG_CLASS_PRIOR_BINS][XG_CLASS_PRIOR_TYPES];
    double cls[XG_CLASS_PRIOR_BINS][XG_CLASS_PRIOR_NCLS][XG_CLASS_PRIOR_RANKS][XG_CLASS_PRIOR_TYPES];
} xg_class_prior;
/* Fills *p from the table's members. XG_EINVAL when the table lists no members. */
int xg_template_table_class_prior(const xg_template_table *tab, xg_class_prior *p, xg_error *err);
/* The size bin of a crystal of n atoms: up to 4, 6, 8, 12, 16 atoms, more. */
int xg_class_prior_bin(int natoms);
/* The rank of class k among ncls classes of sizes size[] (0 = most atoms; ties: lower number). */
int xg_class_rank(const int *size, int ncls, int k);
/* Up to max space groups that have a template (with N = natoms when natoms > 0), nearest to sg
 * first: same crystal system before others, then by distance in number. Returns the count. */
int xg_template_table_nearest(const xg_template_table *tab, int sg, int natoms, int *out, int max);

#endif
