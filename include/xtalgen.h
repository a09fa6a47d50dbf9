/* xtalgen.h: the public C interface of libxtalgen.
 *
 * xtalgen generates inorganic crystals with a diffusion model and checks every one of them
 * (symmetry, validity, structure matching). This header is the whole of what a C program, or
 * the Python module python/xtalgen (ctypes), sees of it; the layers behind it (crystal/,
 * diffusion/, properties/) are internal and may change between versions.
 *
 * Conventions, fixed for every call:
 *  - A crystal is (A, X, L): atomic numbers types[natoms] (1..103), fractional coordinates
 *    frac[natoms][3], and lattice[3][3] whose ROWS are the lattice vectors a, b, c in Angstrom
 *    (cartesian = frac x lattice). spglib stores the vectors as columns; xtalgen does the
 *    transpose inside, so every lattice here is row-wise, as in CIF, POSCAR, ASE and pymatgen.
 *  - Structures are opaque handles: made by xtalgen_structure_create, xtalgen_read or
 *    xtalgen_generate, released by the caller with xtalgen_structure_free (one handle) or
 *    xtalgen_structures_free (an array the library allocated). Their contents are copied out
 *    into caller-owned buffers by the accessors.
 *  - Every fallible call returns an xtalgen_status (XTALGEN_OK = 0) and fills *err (which may
 *    be NULL) with that code and a message naming what went wrong and where ("x.cif:12: ...").
 *  - No hidden global state: every call is reentrant, except that generation uses the
 *    process's number of OpenMP threads (OMP_NUM_THREADS) and sets OpenBLAS to one thread
 *    while it runs (each thread evaluates its own crystals; restored when it returns).
 *
 * Example:
 *     xtalgen_error err;
 *     xtalgen_structure **s; int n;
 *     if (xtalgen_read("NaCl.cif", &s, &n, &err)) { fprintf(stderr, "%s\n", err.message); ... }
 *     xtalgen_spacegroup sg;
 *     xtalgen_symmetry(s[0], 0.1, &sg, NULL, NULL, &err);      -> sg.number 225, "Fm-3m"
 *     xtalgen_structures_free(s, n);
 */
#ifndef XTALGEN_H
#define XTALGEN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define XTALGEN_VERSION_MAJOR 0
#define XTALGEN_VERSION_MINOR 1
#define XTALGEN_VERSION_PATCH 0

/* The library's version, "0.1.0" (may differ from the header a program was built with). */
const char *xtalgen_version(void);

/* ---- errors ------------------------------------------------------------------------------- */

typedef enum {
    XTALGEN_OK = 0,
    XTALGEN_EIO,          /* a file could not be opened, read or written */
    XTALGEN_EPARSE,       /* malformed input; the message names the file and line */
    XTALGEN_EUNSUPPORTED, /* well-formed input xtalgen does not handle (partial occupancy, ...) */
    XTALGEN_ENOMEM,       /* out of memory */
    XTALGEN_EINVAL,       /* invalid argument, or a physically meaningless structure */
    XTALGEN_EVERSION,     /* a file layout of an unknown version */
    XTALGEN_ENUMERIC,     /* a numerical routine failed (singular lattice, NaN) */
    XTALGEN_ELIB,         /* an external library (spglib, HDF5) reported an error */
    XTALGEN_EEXIST,       /* an output would replace something that must be kept */
    XTALGEN_EBUSY         /* another run holds the resource */
} xtalgen_status;

#define XTALGEN_ERROR_LEN 1024

/* Lives on the caller's stack; every call that fails fills it. */
typedef struct {
    int code;                        /* an xtalgen_status */
    char message[XTALGEN_ERROR_LEN]; /* NUL-terminated, printable as is */
} xtalgen_error;

/* A short name of a status code ("parse error"). */
const char *xtalgen_status_string(int code);

/* ---- elements ---------------------------------------------------------------------------- */

/* The symbol of atomic number z ("Fe"), or NULL outside 1..103. */
const char *xtalgen_element_symbol(int z);
/* The atomic number of an exact, case-sensitive symbol ("Fe" -> 26); 0 when unknown. */
int xtalgen_element_number(const char *symbol);

/* ---- structures --------------------------------------------------------------------------- */

typedef struct xtalgen_structure xtalgen_structure;

/* A new structure of natoms >= 1 atoms from caller data (copied). Coordinates are kept as
 * given (not wrapped). XTALGEN_EINVAL for an atomic number outside 1..103 or a non-finite
 * number. id may be NULL. */
int xtalgen_structure_create(int natoms, const double lattice[3][3], const int *types,
                             const double (*frac)[3], const char *id, xtalgen_structure **out,
                             xtalgen_error *err);
void xtalgen_structure_free(xtalgen_structure *s);
/* Frees n handles and the array holding them (as xtalgen_read returns). NULL is fine. */
void xtalgen_structures_free(xtalgen_structure **list, int n);

int xtalgen_structure_natoms(const xtalgen_structure *s);
/* Copies the lattice (rows = vectors, Angstrom). */
void xtalgen_structure_lattice(const xtalgen_structure *s, double lattice[3][3]);
/* Copies the atomic numbers into types[natoms]. */
void xtalgen_structure_types(const xtalgen_structure *s, int *types);
/* Copies the fractional coordinates into frac[natoms][3]. */
void xtalgen_structure_frac(const xtalgen_structure *s, double (*frac)[3]);
/* The id: a material id, the file name without extension, "gen-0000003"; may be "". */
const char *xtalgen_structure_id(const xtalgen_structure *s);
/* The reduced formula in pymatgen's order ("Fe2O3") into buf[n]; XTALGEN_EINVAL if too small. */
int xtalgen_structure_formula(const xtalgen_structure *s, char *buf, size_t n);
double xtalgen_structure_volume(const xtalgen_structure *s); /* Angstrom^3 */

/* ---- reading and writing files ------------------------------------------------------------ */

/* Reads every crystal of path, the format decided by extension, then content: .cif (every data
 * block), POSCAR / CONTCAR / .vasp, .extxyz / .xyz (every frame), an xtalgen dataset (.h5), a
 * CDVAE/MatterGen CSV, or a folder of such files. *out is a new array of *n >= 1 handles (free
 * with xtalgen_structures_free). A file holding no crystal is XTALGEN_EPARSE. */
int xtalgen_read(const char *path, xtalgen_structure ***out, int *n, xtalgen_error *err);

/* Writes n >= 1 crystals to path, the format from its name: .cif (one data block each),
 * .extxyz / .xyz (one frame each), POSCAR* / CONTCAR* / .vasp / .poscar (n must be 1). The file
 * appears whole or not at all (written to a temporary name, synced, then renamed). Every
 * format holds the cell in the standard orientation (right-handed, a along x, b in the xy
 * plane), the same crystal rotated; POSCAR groups the atoms by species. A CIF data block is
 * named by the reduced formula (pymatgen's CifWriter form), so ids do not survive a CIF. */
int xtalgen_write(const char *path, const xtalgen_structure *const *list, int n,
                  xtalgen_error *err);

/* ---- symmetry (spglib) -------------------------------------------------------------------- */

typedef struct {
    int number;              /* space group 1..230 */
    int hall_number;         /* 1..530 */
    char international[16];  /* short Hermann-Mauguin symbol, "Fm-3m" */
    char hall_symbol[20];    /* "-F 4 2 3" */
    char pointgroup[8];      /* "m-3m" */
    int n_operations;        /* symmetry operations of the given cell, pure translations included */
} xtalgen_spacegroup;

/* The space group of s at distance tolerance symprec (Angstrom; 0.1 is what the Materials
 * Project uses, 0.01 is strict) and angle tolerance 5 degrees. wyckoffs (natoms letters, not
 * NUL-terminated) and equivalent_atoms (natoms indices of each orbit's representative) may be
 * NULL. XTALGEN_ELIB with spglib's reason when no group is found (atoms too close). */
int xtalgen_symmetry(const xtalgen_structure *s, double symprec, xtalgen_spacegroup *out,
                     char *wyckoffs, int *equivalent_atoms, xtalgen_error *err);

typedef enum {
    XTALGEN_CELL_AS_IS = 0,        /* the input's cell */
    XTALGEN_CELL_PRIMITIVE = 1,    /* spglib's standardized primitive cell */
    XTALGEN_CELL_CONVENTIONAL = 2  /* spglib's standard conventional cell */
} xtalgen_cell;

/* A new structure in the chosen standard cell (the cells DFT input is written in). symmetrize
 * = 1 idealizes the positions to the exact symmetry found at symprec; 0 keeps the geometry. */
int xtalgen_standardize(const xtalgen_structure *s, xtalgen_cell cell, int symmetrize,
                        double symprec, xtalgen_structure **out, xtalgen_error *err);

/* ---- structure matching ------------------------------------------------------------------- */

/* Tolerances of the matcher, whose verdicts follow pymatgen's StructureMatcher. */
typedef struct {
    double ltol;        /* fractional length tolerance (0.2) */
    double stol;        /* site tolerance in units of (V/N)^(1/3) (0.3) */
    double angle_tol;   /* degrees (5) */
    int primitive_cell; /* compare primitive cells (1) */
    int scale;          /* scale the volumes to each other (1) */
    int best;           /* 0: stop at the first accepted mapping (pymatgen's fit, fastest);
                           1: search every mapping for the smallest rms (get_rms_dist) */
} xtalgen_match_params;

/* pymatgen's defaults, best = 0. */
void xtalgen_match_default_params(xtalgen_match_params *p);

typedef struct {
    int match;       /* 1 when the two are the same crystal within the tolerances */
    double rms;      /* rms displacement of the mapping, in (V/N)^(1/3); NaN without a match */
    double max_dist; /* largest displacement of that mapping; NaN without a match */
} xtalgen_match_result;

/* Compares a and b; p may be NULL (defaults). XTALGEN_EUNSUPPORTED when the comparison would
 * exceed the matcher's work bound (needle-shaped or very large cells): no verdict. */
int xtalgen_match(const xtalgen_structure *a, const xtalgen_structure *b,
                  const xtalgen_match_params *p, xtalgen_match_result *out, xtalgen_error *err);

/* ---- screening one structure -------------------------------------------------------------- */

/* The checks `xtalgen screen` makes on one crystal without a reference set or a model. */
typedef struct {
    int valid_structure;    /* CDVAE: every distance >= 0.5 A (periodic images too), volume >= 0.1 A^3 */
    int valid_geometry;     /* every distance >= 0.70 x the sum of covalent radii (Cordero 2008) */
    int valid_composition;  /* SMACT charge balance; elements and alloys count as valid */
    double min_distance;    /* Angstrom (capped at 10) */
    double min_bond_ratio;  /* smallest distance / covalent-radius sum (capped at 5) */
    double volume;          /* Angstrom^3 */
    double density;         /* g/cm^3 */
    int spacegroup;         /* at the symprec given; 0 when spglib finds none */
    char spacegroup_symbol[16];
    int nelements;
    char formula[64];       /* reduced, pymatgen's order ("Fe2O3"); "" if longer */
    double hhi_production;  /* Herfindahl-Hirschman index of production, weight-averaged;
                               NaN when an element has no data */
    double hhi_reserve;     /* the same for reserves */
    int rare_earth_free;    /* 1 when no Sc, Y, La..Lu */
} xtalgen_screen_result;

/* Screens s. A crystal too broken to analyse (no atoms, non-finite coordinates, an unknown
 * element, a singular lattice) is an error naming why, not an invalid verdict. */
int xtalgen_screen(const xtalgen_structure *s, double symprec, xtalgen_screen_result *out,
                   xtalgen_error *err);

/* ---- models and generation ---------------------------------------------------------------- */

typedef struct xtalgen_model xtalgen_model;

/* Loads a trained model (its EMA weights). path NULL: the shipped MP-20 model
 * xtalgen-mp20.h5, looked for in $XTALGEN_MODEL_DIR, then share/xtalgen/models of the
 * installation this library belongs to, then the source tree it was built from.
 * XTALGEN_EIO naming every place tried when none exists. */
int xtalgen_model_load(const char *path, xtalgen_model **out, xtalgen_error *err);
void xtalgen_model_free(xtalgen_model *m);
/* The file the model was loaded from. */
const char *xtalgen_model_path(const xtalgen_model *m);
/* Number of conditions the model was fine-tuned with (0: unconditional). */
int xtalgen_model_num_conditions(const xtalgen_model *m);

typedef struct {
    int steps;            /* reverse-diffusion steps (100, as generate's default) */
    int corrector_steps;  /* Langevin corrector moves per step (1) */
    uint64_t seed;        /* same seed, batch and steps = the same crystals, any threads (1) */
    int batch;            /* crystals denoised together (64) */
    int natoms;           /* atoms per crystal; 0 = drawn from the training set's histogram */
    /* Element sets as `xtalgen generate --elements / --exclude-elements` take them: symbols
     * and named sets, comma-separated ("Fe,Co,Ni,O", "rare-earths,noble-gases"). elements NULL:
     * every element the model knows; exclude_elements NULL: none. A hard constraint: an
     * excluded element has probability zero. */
    const char *elements;
    const char *exclude_elements;
    /* Conditions "NAME=VALUE" ("dft_mag_density=0.15", "chemsys=Li-Fe-P-O") for a fine-tuned
     * model, with classifier-free guidance factor `guidance` (1 = plain conditional). */
    const char *const *conditions;
    int nconditions;
    double guidance;
    /* Fields are only ever added below, at the end (a program built against an older header
     * must be rebuilt against this one: xtalgen_generate_default_options fills them all). */
    /* XTALGEN_SYMMETRY_TEMPLATE (the default, as `xtalgen generate`'s): every crystal is
     * sampled exactly symmetric inside a space-group template drawn with its training
     * frequency, from `templates` (NULL: the shipped templates-mp20.h5, looked for as the
     * model is); with natoms that no template has, sampling falls back to none, as the
     * command's default does; the orbits share and differ in elements as in a training crystal
     * of the template (the command's default --element-pattern training).
     * XTALGEN_SYMMETRY_NONE: every atom free (mostly P1 crystals). */
    int symmetry;
    const char *templates;
} xtalgen_generate_options;

enum { XTALGEN_SYMMETRY_NONE = 0, XTALGEN_SYMMETRY_TEMPLATE = 1 };

void xtalgen_generate_default_options(xtalgen_generate_options *o);

/* Generates n crystals into out[0..n-1] (caller-owned array; each entry becomes a new handle
 * to free with xtalgen_structure_free; on failure every entry is NULL). Crystal k is, bit for
 * bit, the one `xtalgen generate -n N --seed S --steps T --batch B` writes as gen-k with the
 * same options (--symmetry none for XTALGEN_SYMMETRY_NONE; ids "gen-0000000", ...), in the same
 * DFT-ready cell, for any thread count: template crystals whose atoms collapse are drawn again
 * as there. o may be NULL (defaults). */
int xtalgen_generate(xtalgen_model *m, int n, const xtalgen_generate_options *o,
                     xtalgen_structure **out, xtalgen_error *err);

#ifdef __cplusplus
}
#endif

#endif
