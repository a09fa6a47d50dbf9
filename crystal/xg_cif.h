/* xg_cif.h: reading and writing crystals as CIF 1.1 text.
 *
 * Why here: CIF is how crystals enter xtalgen (the CDVAE/MatterGen CSVs store one CIF per row,
 * tens of thousands of them) and how candidates leave for DFT. The reader is a real CIF 1.1
 * tokenizer, not a line grep: comments, several data_ blocks, tags, loop_ with columns in any
 * order, 'single' and "double" quoted strings (a quote ends a string only when followed by
 * whitespace), ;semicolon text fields;, numbers with uncertainties such as 5.431(2), and ? / .
 * for unknown / inapplicable values. Cell from _cell_length_* and _cell_angle_*, sites from
 * _atom_site_fract_x/y/z (or _atom_site_Cartn_x/y/z, in the orthogonal frame with a along x and b
 * in the xy plane), element from _atom_site_type_symbol or else _atom_site_label ("Fe2+", "O1").
 * Symmetry operations from _symmetry_equiv_pos_as_xyz or _space_group_symop_operation_xyz are
 * applied and coincident images merged (same element within 0.01 Angstrom, or within 1e-3 in
 * every fractional coordinate); two elements on one position are an error. Partial occupancy
 * (a site whose occupancies, after merging, do not sum to 1 within 1e-3) is XG_EUNSUPPORTED with
 * the site named, unless read with XG_CIF_DISORDER (below). DDL2 spellings with a dot (_cell.length_a) are accepted too.
 *
 * Every error message starts "NAME:LINE: " where NAME is the name the caller gives (a file path,
 * or "val.csv row 17" when the text came from a CSV cell). The reader never crashes on hostile
 * input, is reentrant (no globals: safe to call from OpenMP threads) and allocates per call, not
 * per token. */
#ifndef XG_CIF_H
#define XG_CIF_H

#include <stddef.h>
#include <stdio.h>
#include "crystal/xg_error.h"
#include "crystal/xg_structure.h"

/* Limits that keep hostile input from exhausting memory or time. */
#define XG_CIF_MAX_ATOMS 100000   /* atoms in one structure after symmetry expansion */
#define XG_CIF_MAX_SYMOPS 1024    /* symmetry operations in one block */

/* Reads every data block of a CIF held in memory (len bytes; need not be NUL-terminated).
 * Each block describing a crystal becomes one structure whose id is the block name (the text
 * after data_); blocks with neither cell nor atom sites (publication metadata) are skipped.
 * On success *out is a new array of *nout >= 1 structures: free with xg_cif_structures_free.
 * A file without any crystal is XG_EPARSE. On failure *out = NULL and *nout = 0. */
int xg_cif_read_buffer(const char *text, size_t len, const char *name, xg_structure ***out,
                       int *nout, xg_error *err);
int xg_cif_read_file(const char *path, xg_structure ***out, int *nout, xg_error *err);

/* The same with flags. XG_CIF_DISORDER accepts disordered crystals: partial occupancies
 * (vacancies) and several elements sharing one position (mixed sites) become entries with
 * occupancies (xg_structure.occu; NULL when every site is full), a position's occupancies
 * summing to at most 1. Without it such a file is XG_EUNSUPPORTED, naming the site and its
 * occupancy, for the commands that need an ordered crystal. */
#define XG_CIF_DISORDER 1
int xg_cif_read_buffer_flags(const char *text, size_t len, const char *name, int flags,
                             xg_structure ***out, int *nout, xg_error *err);
int xg_cif_read_file_flags(const char *path, int flags, xg_structure ***out, int *nout,
                           xg_error *err);

/* The same for input that must hold exactly one crystal (XG_EPARSE naming the count otherwise). */
int xg_cif_read_one_buffer(const char *text, size_t len, const char *name, xg_structure **out,
                           xg_error *err);
int xg_cif_read_one_file(const char *path, xg_structure **out, xg_error *err);

/* Frees an array returned by the readers (each structure, then the array). NULL is fine. */
void xg_cif_structures_free(xg_structure **list, int n);

/* Parses one symmetry operation in xyz form ("-x+1/2, y, z", "x-y,x,1/2+z", "-y+0.25,+x,z").
 * rot is the integer rotation part, trans the translation (not wrapped): x' = rot x + trans.
 * Each number's fraction is read exactly whatever its integer part; integer parts above 2^30
 * are dropped (a lattice translation), so "x+123456789012345678.5" gives 0.5, not 0. A term
 * that cannot be reduced exactly (a decimal fraction of more than 15 digits, "0.1234567890123456/3")
 * is XG_EPARSE.
 * The text is len bytes (need not be NUL-terminated). XG_EPARSE with the problem on failure
 * (message without a file/line prefix; the caller adds it). */
int xg_cif_parse_symop(const char *text, size_t len, int rot[3][3], double trans[3],
                       xg_error *err);
/* Writes an operation in the form pymatgen uses ("-x+1/2, y, z") into buf (NUL-terminated).
 * Translations that are multiples of 1/12 or 1/8 are written as fractions. XG_EINVAL if it
 * does not fit in n bytes. */
int xg_cif_format_symop(const int rot[3][3], const double trans[3], char *buf, size_t n);

/* P1 CIF in the form pymatgen's CifWriter writes (the format of the MP-20 CSVs):
 * "# generated using xtalgen", data_<reduced formula>, 'P 1', cell with 8 decimals, formulas,
 * volume, Z, the identity symop loop and the atom_site loop with labels Na0, Cl1, ... */
int xg_cif_write(FILE *f, const xg_structure *s, xg_error *err);
/* Same, into PATH atomically (a temporary name beside PATH, then rename: crystal/xg_fileio.h): a reader never sees half a file. */
int xg_cif_write_file(const char *path, const xg_structure *s, xg_error *err);
/* The same with a comment block (NULL for none): each line of comment becomes a "# " line
 * after the first, where every CIF reader skips it (provenance: model, seed, steps, ...).
 * The cell is written in the standard orientation (xg_structure_orient): a left-handed input
 * would otherwise come back from its cell parameters as its mirror image. A singular cell,
 * which has no handedness, is written as it is. */
int xg_cif_write_annotated(FILE *f, const xg_structure *s, const char *comment, xg_error *err);
int xg_cif_write_annotated_file(const char *path, const xg_structure *s, const char *comment,
                                xg_error *err);

/* A symmetrized CIF, for the symmetry module (which computes everything with spglib and calls
 * this to write it; the CIF layout lives here in one place). All pointers are borrowed. */
typedef struct {
    const char *block_name;     /* text after data_; NULL or "" uses formula_structural */
    double lattice[3][3];       /* rows are the conventional cell's vectors, Angstrom */
    const char *hm_symbol;      /* Hermann-Mauguin symbol, e.g. "Fm-3m" */
    int sg_number;              /* International Tables number, 1..230 */
    int nops;                   /* symmetry operations (>= 1; the first is normally x, y, z) */
    const int (*rot)[3][3];     /* nops integer rotations, acting on fractional coordinates */
    const double (*trans)[3];   /* nops translations */
    int nsites;                 /* asymmetric unit */
    const int *types;           /* nsites atomic numbers */
    const double (*frac)[3];    /* nsites fractional coordinates */
    const int *multiplicity;    /* nsites site multiplicities in the conventional cell */
    const char *formula_structural; /* reduced formula, "NaCl" */
    const char *formula_sum;        /* full formula of the cell, "Na4 Cl4" */
    int formula_units_z;            /* formula units per conventional cell */
    const char *comment;            /* NULL, or lines written as "# ..." comments after the
                                       first line (provenance); control characters become ' ' */
    const double *occu;             /* nsites occupancies, or NULL (all 1) */
} xg_cif_sym_block;

/* Writes the block as pymatgen's CifWriter(symprec=...) does: H-M symbol, number, the symop
 * loop ('x, y, z', ...), and one atom_site row per asymmetric site with its multiplicity.
 * XG_EINVAL on inconsistent input (nops < 1, unknown element, NaN coordinates). */
int xg_cif_write_symmetrized_raw(FILE *f, const xg_cif_sym_block *b, xg_error *err);

#endif
