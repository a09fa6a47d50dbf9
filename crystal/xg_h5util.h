/* xg_h5util.h: the small HDF5 vocabulary shared by the file formats: datasets (crystal/
 * xg_dataset.c), model files (diffusion/xg_model.c, properties/xg_propmodel.c) and hull tables
 * (properties/xg_hull.c): scalar attributes, whole numeric datasets, checks of declared sizes
 * against stored bytes, and writing a file under a temporary name and renaming it onto PATH.
 * It lives in crystal/, the lowest layer that reads HDF5, so every reader above can use it.
 *
 * Why a module: both file formats were written with private copies of the same helpers, and a
 * fix to one (a leaked handle, a missing shape check) had to be made twice. The on-disk types
 * are fixed here (little-endian int64/uint64/float64 attributes, NUL-terminated strings), so
 * every file written through these helpers keeps the layouts documented in xg_model.h and
 * xg_propmodel.h.
 *
 * Conventions: every function returns XG_OK or an xg_status with a message naming `ctx` (the
 * file path) and the object. `grp` names the group an attribute is read from, only for the
 * message ("/config"). Callers wrap calls in H5E_BEGIN_TRY/H5E_END_TRY so that HDF5 prints
 * nothing itself; the messages here say what went wrong. */
#ifndef XG_H5UTIL_H
#define XG_H5UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>

#include "crystal/xg_error.h"

/* XG_ELIB "CTX: HDF5 could not WHAT 'NAME'". */
int xg_h5_fail(xg_error *err, const char *ctx, const char *what, const char *name);

/* Creation property lists without modification times, so that writing the same content twice
 * gives the same bytes: a dataset creation list (the caller closes it with H5Pclose) and a
 * group created with one. */
hid_t xg_h5_dcpl(void);
hid_t xg_h5_group_create(hid_t loc, const char *name);

/* ---- attributes (scalar) ---- */
int xg_h5_put_attr(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *v,
                   const char *ctx, xg_error *err);
int xg_h5_put_i64(hid_t loc, const char *name, int64_t v, const char *ctx, xg_error *err);
int xg_h5_put_u64(hid_t loc, const char *name, uint64_t v, const char *ctx, xg_error *err);
int xg_h5_put_f64(hid_t loc, const char *name, double v, const char *ctx, xg_error *err);
int xg_h5_put_str(hid_t loc, const char *name, const char *v, const char *ctx, xg_error *err);

/* Reads one integer or floating-point attribute, converted to the native type mtype. */
int xg_h5_get_attr(hid_t loc, const char *grp, const char *name, hid_t mtype, void *v,
                   const char *ctx, xg_error *err);
int xg_h5_get_i64(hid_t loc, const char *grp, const char *name, int64_t *v, const char *ctx,
                  xg_error *err);
int xg_h5_get_f64(hid_t loc, const char *grp, const char *name, double *v, const char *ctx,
                  xg_error *err);
/* An integer attribute that must lie in lo..hi (the file sizes allocations with it). */
int xg_h5_get_int(hid_t loc, const char *grp, const char *name, int lo, int hi, int *v,
                  const char *ctx, xg_error *err);
/* A scalar string attribute, fixed or variable length, into buf (n bytes, truncated). A
 * fixed-length string that fills its type with no terminator (NULLPAD/SPACEPAD, as h5py and
 * other writers make) keeps every byte. */
int xg_h5_get_str(hid_t loc, const char *grp, const char *name, char *buf, size_t n,
                  const char *ctx, xg_error *err);

/* ---- datasets ---- */
/* Writes `data` (dims[0] x ... x dims[rank-1] values of mtype) as a dataset of ftype. */
int xg_h5_put_ds(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int rank,
                 const hsize_t *dims, const void *data, const char *ctx, xg_error *err);
/* Writes n fixed-length strings of `len` bytes each (NUL padded) as a rank-1 dataset. */
int xg_h5_put_names(hid_t loc, const char *name, const void *names, hsize_t n, size_t len,
                    const char *path, const char *ctx, xg_error *err);
/* Reads a rank-1 dataset of n fixed-length strings into names (n * len bytes), each cut to
 * len - 1 characters; `path` names it in messages ("/stats/scaler_names"). */
int xg_h5_get_names(hid_t loc, const char *name, void *names, hsize_t n, size_t len,
                    const char *path, const char *ctx, xg_error *err);
/* Refuses dataset d (named `path` in messages) when its declared extent needs more bytes than
 * the file stores for it: an unwritten or truncated dataset, or one declaring millions of
 * elements in a file of a few kilobytes, which a reader would otherwise allocate for before
 * finding out. Filtered (compressed) datasets may expand up to XG_H5_MAX_EXPANSION times.
 * Call it before allocating from a dataset's shape. */
#define XG_H5_MAX_EXPANSION 1100.0 /* deflate's best case is about 1032:1 */
int xg_h5_check_stored(hid_t d, const char *path, const char *ctx, xg_error *err);

/* The shape of dataset `path`; its rank (at most 4) must equal `rank`, and its declared size
 * must be backed by stored bytes (xg_h5_check_stored). */
int xg_h5_ds_shape(hid_t loc, const char *path, int rank, hsize_t *dims, const char *ctx,
                   xg_error *err);
/* Reads a whole numeric dataset whose shape must be exactly want[0..rank-1] (rank <= 4),
 * converted to the native type mtype. */
int xg_h5_get_ds(hid_t loc, const char *path, hid_t mtype, int rank, const hsize_t *want,
                 void *buf, const char *ctx, xg_error *err);

/* ---- files ---- */
/* Fills a freshly created file; returns an xg_status. */
typedef int (*xg_h5_filler)(hid_t file, const void *user, const char *path, xg_error *err);

/* Creates a temporary file beside PATH (xg_atomic_tmpname, crystal/xg_fileio.h), lets fill
 * write it, closes it, syncs it and renames it onto PATH, so a killed run never leaves a broken
 * file at PATH; on any failure the temporary file is removed and PATH is untouched. `what`
 * names the file kind when no temporary file can be made ("model write"). */
int xg_h5_write_atomic(const char *path, xg_h5_filler fill, const void *user, const char *what,
                       xg_error *err);

/* Opens the HDF5 file whose bytes are image[0..len) in memory (HDF5's core driver without a
 * backing store: nothing is read from or written to disk). HDF5 copies the image, so it may be
 * freed at once. flags: H5F_ACC_RDONLY, or H5F_ACC_RDWR to edit the copy (H5Fflush, then
 * H5Fget_file_image gives the edited bytes). Returns the file id, or a negative value when
 * the bytes are not an HDF5 file. For readers given bytes rather than a path (the fuzz
 * harnesses, tests/fuzz/): they read through the same code below the open. */
hid_t xg_h5_open_image(const void *image, size_t len, unsigned flags);

#endif
