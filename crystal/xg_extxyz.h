/* xg_extxyz.h: extended XYZ, the multi-frame format of ASE (and of many ML potentials).
 *
 * Why: `xtalgen screen` and `convert` exchange whole sets of crystals with ASE-based tools in one
 * file. Writer: one frame per structure, appended to a FILE*:
 *     N
 *     Lattice="ax ay az bx by bz cx cy cz" Properties=species:S:1:pos:R:3 pbc="T T T" [id="..."]
 *     Na  x  y  z            (Cartesian Angstrom)
 * Reader: what ASE writes. Key=value pairs (values bare, "double-quoted" or {braced}), keys
 * case-insensitive; Lattice (9 numbers) is required (a frame without it is a molecule, not a
 * crystal), pbc must be all true when present; Properties gives the columns (default
 * species:S:1:pos:R:3) and may carry any extra columns (forces, magmoms, ...), which are skipped;
 * the element comes from a species column (S) or an atomic-number column Z (I). An id, name or
 * material_id key becomes the structure's id. Errors read "NAME:LINE: problem". */
#ifndef XG_EXTXYZ_H
#define XG_EXTXYZ_H

#include <stddef.h>
#include <stdio.h>
#include "crystal/xg_error.h"
#include "crystal/xg_structure.h"

#define XG_EXTXYZ_MAX_ATOMS 1000000

/* Appends one frame, the cell in the standard orientation (xg_structure_orient). */
int xg_extxyz_write(FILE *f, const xg_structure *s, xg_error *err);
/* Writes n frames to PATH atomically (a temporary name beside PATH, then rename: crystal/xg_fileio.h). */
int xg_extxyz_write_file(const char *path, xg_structure *const *list, int n, xg_error *err);

/* Reads every frame (len bytes, need not be NUL-terminated; blank lines after the last frame are
 * fine). On success *out is a new array of *nout >= 1 structures: free with
 * xg_extxyz_structures_free. On failure *out = NULL, *nout = 0. */
int xg_extxyz_read_buffer(const char *text, size_t len, const char *name, xg_structure ***out,
                          int *nout, xg_error *err);
int xg_extxyz_read_file(const char *path, xg_structure ***out, int *nout, xg_error *err);
void xg_extxyz_structures_free(xg_structure **list, int n);

#endif
