/* xg_symmetry.h: crystal symmetry through spglib, in xtalgen's conventions.
 *
 * A thin wrapper: one analysis call fills one result struct (freed explicitly), and three
 * calls return new structures (primitive, standard conventional, refined). The one place where
 * spglib's lattice convention (vectors as COLUMNS of lattice[3][3]) meets xtalgen's (vectors
 * as ROWS) is a single static helper in xg_symmetry.c; every lattice in this header is in
 * xtalgen's row convention. Fractional coordinates and the integer rotations acting on them
 * (x' = R x + t) are the same in both conventions.
 *
 * symprec is spglib's distance tolerance in Angstrom (0.01 is strict, 0.1 is what the
 * Materials Project and MP-20's spacegroup.number use). When spglib fails (atoms too close,
 * no space group found at this tolerance) the call returns XG_ELIB with spglib's reason.
 * Cells thinner than max(symprec, 0.1 A) along some direction are refused with XG_EINVAL before
 * spglib sees them: spglib 2.0 crashes on such cells instead of failing.
 *
 * Lattice angles are compared with an angle tolerance of XG_SYMMETRY_ANGLE_TOLERANCE degrees,
 * the default of pymatgen's SpacegroupAnalyzer: with it, spglib at symprec 0.1 reproduces the
 * Materials Project's space-group numbers (spglib's own default, a distance-only check, lowers
 * about 0.2% of the MP-20 validation crystals to a subgroup). */
#ifndef XG_SYMMETRY_H
#define XG_SYMMETRY_H

#include <stdio.h>
#include "crystal/xg_structure.h"

#define XG_SYMMETRY_ANGLE_TOLERANCE 5.0

typedef struct {
    int spacegroup_number;   /* 1..230 */
    int hall_number;         /* 1..530 */
    char international[16];  /* short Hermann-Mauguin symbol, "Fm-3m" */
    char hall_symbol[20];    /* "-F 4 2 3" */
    char choice[8];          /* origin / axis choice, "" if none */
    char pointgroup[8];      /* "m-3m" */

    int n_operations;        /* operations of the input cell (pure translations included) */
    int (*rotations)[3][3];  /* n_operations integer matrices acting on fractional coordinates */
    double (*translations)[3];

    int natoms;              /* of the input structure */
    char *wyckoffs;          /* natoms Wyckoff letters, 'a'.. */
    char (*site_symmetry)[8];/* natoms site-symmetry symbols, "m-3m" */
    int *equivalent_atoms;   /* natoms: index of the representative atom of each orbit */
    int *crystallographic_orbits;

    /* Transformation to the standard setting, as spglib defines it: (a_s b_s c_s) =
     * (a b c) P^-1 and x_s = P x + origin_shift, for fractional coordinates. */
    double transformation[3][3];
    double origin_shift[3];
    double std_lattice[3][3];       /* standardized conventional lattice, rows */
    double primitive_lattice[3][3]; /* rows */
    double std_rotation[3][3];      /* rotation spglib applied when idealizing, spglib's meaning */
} xg_symmetry;

/* Analyses s at tolerance symprec (> 0). *out is newly allocated; free with xg_symmetry_free. */
int xg_symmetry_analyze(const xg_structure *s, double symprec, xg_symmetry **out, xg_error *err);
void xg_symmetry_free(xg_symmetry *sym);

/* Space group number and short symbol only (symbol may be NULL; 16 bytes otherwise). About ten
 * times faster than xg_symmetry_analyze: the operations are searched here and spglib only
 * names the type (spg_get_spacegroup_type_from_symmetry), skipping spglib's Wyckoff
 * assignment, the costly part of a dataset. Non-primitive cells and operations near the edge
 * of the tolerance fall back to the full dataset, so the answer is spglib's (checked against
 * spg_get_dataset on all 9,047 MP-20 validation and 4,000 training crystals). */
int xg_symmetry_spacegroup(const xg_structure *s, double symprec, int *number, char *symbol,
                           xg_error *err);

/* The space group named by text: a number 1..230 or a Hermann-Mauguin symbol, short or full,
 * in any setting spglib knows ("Fm-3m", "F m -3 m", "P2_1/c", "P21/c", "P 1 21/c 1"); spaces
 * and underscores are ignored, letter case only when the symbol is otherwise ambiguous.
 * XG_EINVAL with a message naming the text when nothing matches. */
int xg_symmetry_spacegroup_parse(const char *text, int *number, xg_error *err);
/* The short Hermann-Mauguin symbol of space group number (1..230) in its standard setting
 * (symbol: 16 bytes; "" for a number out of range). */
void xg_symmetry_spacegroup_symbol(int number, char *symbol);
/* The crystal system of a space-group number: 0 triclinic, 1 monoclinic, 2 orthorhombic,
 * 3 tetragonal, 4 trigonal, 5 hexagonal, 6 cubic; -1 out of range. */
int xg_symmetry_crystal_system(int number);

/* New structures (the input's id is copied); caller frees with xg_structure_free.
 * primitive: a primitive cell (spglib's standardized primitive, idealized).
 * conventional: the standard conventional cell, idealized to the exact symmetry.
 * refined: same as conventional; the symmetrized structure of the dataset. */
int xg_symmetry_primitive(const xg_structure *s, double symprec, xg_structure **out,
                          xg_error *err);
int xg_symmetry_conventional(const xg_structure *s, double symprec, xg_structure **out,
                             xg_error *err);
int xg_symmetry_refine(const xg_structure *s, double symprec, xg_structure **out, xg_error *err);

/* The cell a crystal leaves for DFT in. */
typedef enum {
    XG_CELL_AS_IS = 0,        /* the input's own cell */
    XG_CELL_PRIMITIVE = 1,    /* spglib's standardized primitive cell (the cheapest for DFT) */
    XG_CELL_CONVENTIONAL = 2  /* spglib's standard conventional cell */
} xg_cell_choice;

/* Parses "as-is", "primitive" or "conventional"; -1 otherwise. */
int xg_cell_choice_parse(const char *name);
const char *xg_cell_choice_name(int choice);

/* A new structure (caller frees) in the chosen cell, through spg_standardize_cell at symprec.
 * symmetrize = 0 keeps the input's geometry (no_idealize: the same atoms in the standard
 * basis); symmetrize = 1 gives spglib's idealized (refined) geometry, exactly symmetric, and
 * with XG_CELL_AS_IS the refined conventional cell (the cell a symmetrized CIF describes).
 * The result is in the standard orientation with species grouped (xg_structure_make_standard).
 * XG_ELIB when spglib fails (too-close atoms, no group found). */
int xg_symmetry_dft_cell(const xg_structure *s, xg_cell_choice cell, int symmetrize,
                         double symprec, xg_structure **out, xg_error *err);

/* Symmetrized CIF of s: the standard conventional cell refined by spglib, the space group
 * symbol and number, every operation of the space group as an xyz string, and only the
 * asymmetric unit (one site per orbit, with its multiplicity), written by crystal/xg_cif.h's
 * xg_cif_write_symmetrized_raw so the CIF layout lives in one place. A CIF reader that applies
 * the operations (pymatgen, ASE, VESTA) rebuilds the refined conventional cell. */
int xg_symmetry_write_cif(FILE *f, const xg_structure *s, double symprec, xg_error *err);
/* The same with a comment block after the first line (see xg_cif_write_annotated). */
int xg_symmetry_write_cif_annotated(FILE *f, const xg_structure *s, double symprec,
                                    const char *comment, xg_error *err);
/* Same, to a newly allocated NUL-terminated string (caller frees). */
int xg_symmetry_cif_string(const xg_structure *s, double symprec, char **out, xg_error *err);

#endif
