/* xg_input.h: read crystals from whatever a user points xtalgen at.
 *
 * Every command that takes structures (symmetry, convert, screen, match, ...) accepts the same
 * inputs, decided here once: by extension first, then by content when the extension says
 * nothing:
 *   .cif                          all data blocks of a CIF file
 *   POSCAR*, CONTCAR*, .vasp, .poscar   a VASP 5 POSCAR
 *   .extxyz, .xyz                 extended XYZ frames with Lattice="..." (all frames)
 *   .h5, .hdf5                    an xtalgen dataset (crystal/xg_dataset.h)
 *   .csv                          a CDVAE/MatterGen table (crystal/xg_csv.h)
 *   a directory                   every CIF/POSCAR/extxyz file in it, sorted by name; a
 *                                 `generate` output folder (it holds generated.h5): that dataset
 * Ids: a dataset or CSV keeps its own ids (material_id); a file holding one crystal gets the
 * file name without its extension ("NaCl.cif" -> "NaCl", "POSCAR" -> "POSCAR"); a file holding
 * several gets "<stem>_<name>" from the names they carry (CIF block names, extxyz id keys) when
 * those are distinct, else "<stem>_<k>", k from 1. The result is always
 * a dataset, so callers handle one crystal and forty thousand the same way. */
#ifndef XG_INPUT_H
#define XG_INPUT_H

#include "crystal/xg_dataset.h"
#include "crystal/xg_error.h"

typedef enum {
    XG_INPUT_UNKNOWN = 0,
    XG_INPUT_CIF,
    XG_INPUT_POSCAR,
    XG_INPUT_EXTXYZ,
    XG_INPUT_H5,
    XG_INPUT_CSV,
    XG_INPUT_DIR
} xg_input_format;

/* Decides the format of path (extension, then the first bytes of the file). XG_EIO when the
 * path cannot be opened; XG_EUNSUPPORTED when nothing fits. */
int xg_input_detect(const char *path, xg_input_format *fmt, xg_error *err);
const char *xg_input_format_name(xg_input_format fmt); /* "CIF", "POSCAR", ... */
/* The format path's name alone says (extension, or a POSCAR / CONTCAR base name), without
 * opening it: what writers choose their output format by. XG_INPUT_UNKNOWN when it says none. */
xg_input_format xg_input_format_from_name(const char *path);

/* Reads every crystal of path into a new dataset (*out; free with xg_dataset_free). An input
 * with no crystal at all is an error (XG_EPARSE), so callers need not check for n == 0. */
int xg_input_read(const char *path, xg_dataset **out, xg_error *err);

/* Same, reporting progress on long reads (CSV tables, folders): done of total units (bytes
 * for a CSV, files for a folder). progress may be NULL. */
typedef void (*xg_input_progress_fn)(void *ctx, long long done, long long total);
int xg_input_read_progress(const char *path, xg_input_progress_fn progress, void *ctx,
                           xg_dataset **out, xg_error *err);

/* A tolerant read, for commands that report on every crystal (screen): in a folder, a file that
 * cannot be read (a malformed CIF, an unknown element, ...) does not fail the call; it gets a
 * placeholder crystal with no atoms, id = the file name without extension, and an entry in
 * *failures (index into the dataset and the reader's message; free with free()). Other inputs
 * and out-of-memory behave as in xg_input_read. A file holding several crystals that fails
 * part-way keeps those read before the failure, and gets the placeholder too. */
typedef struct {
    int64_t index;
    char msg[256];
} xg_input_failure;
int xg_input_read_tolerant(const char *path, xg_input_progress_fn progress, void *ctx,
                           xg_dataset **out, xg_input_failure **failures, int64_t *nfailures,
                           xg_error *err);
/* Keep-going reads. With `skip` set, a file of a folder that cannot be read (a disordered CIF,
 * a damaged POSCAR) is passed to skip with the reason and left out, and the rest is read; the
 * read fails only when nothing readable remains, or on running out of memory. Without it, the
 * first unreadable file fails the whole read (what xg_input_read does). Commands that take
 * many crystals (symmetry, xrd-match; screen, export and convert can follow) report each
 * skipped file and exit non-zero at the end. */
typedef void (*xg_input_skip_fn)(void *ctx, const char *path, const xg_error *why);
typedef struct {
    xg_input_progress_fn progress; /* may be NULL */
    void *progress_ctx;
    xg_input_skip_fn skip;         /* NULL: stop at the first unreadable file */
    void *skip_ctx;
} xg_input_options;
/* *nskipped (may be NULL) receives the number of files left out. */
int xg_input_read_opts(const char *path, const xg_input_options *opt, xg_dataset **out,
                       long *nskipped, xg_error *err);

#endif
