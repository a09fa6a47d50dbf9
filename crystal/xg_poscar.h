/* xg_poscar.h: VASP POSCAR/CONTCAR reading and writing.
 *
 * Why: candidates leave xtalgen for DFT, and VASP reads POSCAR. The reader accepts what VASP
 * accepts: comment line, a scale factor (one number; negative means the target cell volume in
 * A^3; three numbers scale x, y, z), three lattice vectors, the species line (VASP 5; "Fe_pv" and
 * "Fe/hash" forms are read as Fe), the counts, an optional "Selective dynamics" line, then Direct
 * or Cartesian (by first letter, case-insensitive: C or K is Cartesian, anything else Direct)
 * and the positions. Selective-dynamics flags, site labels after the coordinates and everything
 * after the positions (velocities, predictor-corrector blocks) are ignored. A VASP 4 file
 * (no species line) is read only when the caller passes the species; otherwise a clear error.
 * Fractional coordinates are wrapped into [0, 1). The structure's id is left empty (the caller
 * knows the file name). Errors read "NAME:LINE: problem". */
#ifndef XG_POSCAR_H
#define XG_POSCAR_H

#include <stddef.h>
#include <stdio.h>
#include "crystal/xg_error.h"
#include "crystal/xg_structure.h"

#define XG_POSCAR_MAX_ATOMS 1000000
#define XG_POSCAR_MAX_SPECIES 128

/* Reads the text (len bytes, need not be NUL-terminated). species/nspecies: atomic numbers for
 * a VASP 4 file, in the order of its counts line; ignored when the file has a species line, may
 * be NULL/0. *out is a new structure (xg_structure_free). */
int xg_poscar_read_buffer(const char *text, size_t len, const char *name, const int *species,
                          int nspecies, xg_structure **out, xg_error *err);
int xg_poscar_read_file(const char *path, const int *species, int nspecies, xg_structure **out,
                        xg_error *err);

/* Writes VASP 5 format: the formula as comment, scale 1.0, the lattice, species and counts
 * lines, "Direct", positions with 16 decimals followed by the element symbol (VASP ignores it;
 * pymatgen and ASE read it). The cell is the standard one of xg_structure_make_standard:
 * right-handed (VASP stops on a negative triple product) with a along x and b in the xy plane,
 * and the atoms grouped by element in the formula's order (electronegativity, as pymatgen's
 * sorted structures), so the title's formula and the species line list the elements in one
 * order; the order within a species is kept. */
int xg_poscar_write(FILE *f, const xg_structure *s, xg_error *err);
/* Same, into PATH atomically (a temporary name beside PATH, then rename: crystal/xg_fileio.h). */
int xg_poscar_write_file(const char *path, const xg_structure *s, xg_error *err);
/* The same with a note after the formula on the title line ("Fe4 O6  xtalgen 0.1.0 model=..."),
 * control characters replaced by spaces; NULL or "" for none. */
int xg_poscar_write_titled(FILE *f, const xg_structure *s, const char *note, xg_error *err);
int xg_poscar_write_titled_file(const char *path, const xg_structure *s, const char *note,
                                xg_error *err);

#endif
