/* xg_fileio.h: the one place xtalgen reads whole files and writes files atomically, and the
 * checks every text reader makes on what it reads.
 *
 * Atomic writes: an output is written under a temporary name beside it, PATH.tmp.PID.K, which
 * is created with O_EXCL (so two writers, threads or processes, never share one, and a
 * leftover of a killed run is passed over), flushed to disk with fsync, then renamed onto PATH.
 * A reader, or a crash at any moment, sees the old file or the new one, never half of one and
 * never an empty file under the final name. Every writer uses these calls: FILE-based text
 * through xg_atomic_open / commit or xg_file_write_atomic_with, HDF5 files through
 * xg_atomic_tmpname / xg_atomic_rename (crystal/xg_h5util.h's xg_h5_write_atomic). */
#ifndef XG_FILEIO_H
#define XG_FILEIO_H

#include <stddef.h>
#include <stdio.h>
#include "crystal/xg_error.h"
#include "crystal/xg_structure.h"

/* ---- atomic writes ---- */

/* Creates an empty file under a fresh temporary name for path and writes the name to tmp[n].
 * XG_EIO naming the folder's problem (missing, read-only); XG_EINVAL for a path too long. */
int xg_atomic_tmpname(const char *path, char *tmp, size_t n, xg_error *err);
/* 1 when a file name (no folder) is what an interrupted atomic write leaves: NAME.tmp.PID.K as
 * xg_atomic_tmpname makes them, or NAME.tmp and NAME.tmp.DIGITS of earlier versions; that is,
 * NAME.tmp followed by zero or more .DIGITS groups, with NAME not empty. For a caller that owns
 * the folder (a lock held): whose writer left it is not checked, unlike xg_atomic_sweep. */
int xg_atomic_is_leftover(const char *name);

/* Removes what killed writers of path left behind: PATH.tmp.PID.K of a process that no longer
 * exists. One directory scan, so it is for files rewritten again and again in small folders
 * (models, checkpoints, datasets: xg_h5_write_atomic sweeps), not for the thousand CIFs of one
 * output folder (a kill leaves at most one small leftover there, which `--overwrite` of the
 * folder removes, src/outdir.c). A writer in another PID namespace sharing the folder could be
 * taken for dead; its rename then fails with a clear error, nothing is corrupted. */
void xg_atomic_sweep(const char *path);
/* Makes the finished file tmp durable (fsync) and renames it onto path. On failure tmp is
 * removed and XG_EIO names path. */
int xg_atomic_rename(const char *tmp, const char *path, xg_error *err);

/* A text output being written: f is open on the temporary file. */
typedef struct {
    FILE *f;
    char path[4096];
    char tmp[4200];
} xg_atomic_file;
/* Opens the temporary file of path. */
int xg_atomic_open(xg_atomic_file *a, const char *path, xg_error *err);
/* Flushes, fsyncs, closes and renames onto the path; XG_EIO (temporary file removed) when any
 * write to f failed (disk full) or the rename fails. */
int xg_atomic_commit(xg_atomic_file *a, xg_error *err);
/* Closes and removes the temporary file (after a failure); a no-op when not open. */
void xg_atomic_abort(xg_atomic_file *a);

/* write(f, ctx, err) fills the temporary file of path, which is committed on success and
 * removed on failure; a non-I/O error of write is prefixed with path (INCAR, KPOINTS,
 * annotated CIFs, extxyz trajectories, ...). */
typedef int (*xg_file_writer)(FILE *f, const void *ctx, xg_error *err);
int xg_file_write_atomic_with(const char *path, xg_file_writer write, const void *ctx,
                              xg_error *err);

/* The same for one structure and a format's writer (xg_cif_write, xg_poscar_write). */
typedef int (*xg_structure_writer)(FILE *f, const xg_structure *s, xg_error *err);
int xg_file_write_atomic(const char *path, xg_structure_writer write, const xg_structure *s,
                         xg_error *err);
/* The same for a writer that puts a note in the file (xg_cif_write_annotated,
 * xg_poscar_write_titled; note may be NULL). */
typedef int (*xg_structure_note_writer)(FILE *f, const xg_structure *s, const char *note,
                                        xg_error *err);
int xg_file_write_atomic_note(const char *path, xg_structure_note_writer write,
                              const xg_structure *s, const char *note, xg_error *err);

/* ---- reading ---- */

/* Reads all of path (a file, or a pipe) into a new buffer (*text; free()) holding *len bytes
 * and a NUL after them. A file of more than max bytes is refused before it is read whole:
 * XG_EIO "PATH: larger than N MiB" (readers set max to what their format can sensibly be).
 * XG_EIO "PATH: cannot open: reason" and "PATH: read error (a directory?)"; XG_ENOMEM. */
int xg_file_read_all(const char *path, size_t max, char **text, size_t *len, xg_error *err);

/* The next line of text[0, len) at *pos: [*s, *s + *n) without its end (\n, \r\n or \r, as
 * Unix, Windows and old Mac files end lines); *pos moves past the end. 0 when no text is left.
 * The line readers of POSCAR and extxyz. */
int xg_text_line(const char *text, size_t len, size_t *pos, const char **s, size_t *n);

/* Checks the text of a structure file (CIF, POSCAR, extxyz) before parsing: a UTF-8 byte
 * order mark, which Windows editors write, is accepted and its length (3, else 0) returned in
 * *skip so the parser starts after it; UTF-16/32 text and NUL bytes (which C string functions
 * would silently cut at, reading a type 'C\0l' as C) are XG_EPARSE naming `name` (may be
 * NULL) and the line. */
int xg_text_check(const char *text, size_t len, const char *name, size_t *skip, xg_error *err);

#endif
