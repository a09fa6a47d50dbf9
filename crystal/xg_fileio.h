/* xg_fileio.h: writing a structure file so that a reader never sees half of it, and the checks
 * every text reader makes on what it reads. */
#ifndef XG_FILEIO_H
#define XG_FILEIO_H

#include <stdio.h>
#include "crystal/xg_error.h"
#include "crystal/xg_structure.h"

typedef int (*xg_structure_writer)(FILE *f, const xg_structure *s, xg_error *err);

/* Writes s with `write` into PATH.tmp.PID and renames it onto PATH; on failure the temporary
 * file is removed and a format error is prefixed with PATH. */
int xg_file_write_atomic(const char *path, xg_structure_writer write, const xg_structure *s,
                         xg_error *err);

/* Checks the text of a structure file (CIF, POSCAR, extxyz) before parsing: a UTF-8 byte
 * order mark, which Windows editors write, is accepted and its length (3, else 0) returned in
 * *skip so the parser starts after it; UTF-16/32 text and NUL bytes (which C string functions
 * would silently cut at, reading a type 'C\0l' as C) are XG_EPARSE naming `name` (may be
 * NULL) and the line. */
int xg_text_check(const char *text, size_t len, const char *name, size_t *skip, xg_error *err);

/* The same for any text file: write(f, ctx, err) fills PATH.tmp.PID, which is renamed onto
 * PATH on success and removed on failure (INCAR, KPOINTS, annotated CIFs, ...). */
typedef int (*xg_file_writer)(FILE *f, const void *ctx, xg_error *err);
int xg_file_write_atomic_with(const char *path, xg_file_writer write, const void *ctx,
                              xg_error *err);

#endif
