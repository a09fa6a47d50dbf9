/* xg_dataset.h: a collection of crystals in a ragged, packed layout, in memory and in HDF5.
 *
 * Structure i has atoms offsets[i] .. offsets[i+1]-1 in the flat arrays. Properties are
 * columns of doubles, NaN where a value is missing (missing is not zero).
 *
 * HDF5 layout, version 1 (part of the interface; documented in README.md):
 *   /                   attributes: format = "xtalgen-dataset" (string), version = 1 (int)
 *   /ids                (n,)   fixed-length strings, XG_ID_LEN bytes, NUL padded
 *   /offsets            (n+1,) int64
 *   /atomic_numbers     (m,)   int32
 *   /frac_coords        (m,3)  float64
 *   /lattices           (n,3,3) float64, rows are lattice vectors in Angstrom
 *   /properties/<name>  (n,)   float64, NaN = missing
 *   / (optional)        further scalar string attributes describing how the crystals were made
 *                       (provenance of `xtalgen generate`: xtalgen_version, model,
 *                       model_sha256, seed, steps, ...), read back into attr_names/attr_values
 * Arrays may be chunked and deflate-compressed, and real arrays stored as float32
 * (xg_dataset_write_h5_compact); HDF5 converts on reading, so readers see no difference.
 * Files with another format string or a version above the one this build knows are refused
 * with a message saying so. */
#ifndef XG_DATASET_H
#define XG_DATASET_H

#include <stddef.h>
#include <stdint.h>
#include "crystal/xg_structure.h"

#define XG_DATASET_VERSION 1
#define XG_PROP_NAME_LEN 64
#define XG_DATASET_ATTR_LEN 2048
#define XG_DATASET_MAX_ATTRS 64

typedef struct {
    int64_t n;           /* number of structures */
    int64_t m;           /* total number of atoms */
    int64_t *offsets;    /* n + 1 */
    int32_t *types;      /* m atomic numbers */
    double *frac;        /* m * 3 */
    double *lattices;    /* n * 9, row-major, rows are vectors */
    char (*ids)[XG_ID_LEN];
    int nprops;
    char (*prop_names)[XG_PROP_NAME_LEN];
    double *props;       /* n * nprops, row-major (structure-major), NaN = missing */
    int nattrs;          /* string attributes of the file's root (provenance), in order */
    char (*attr_names)[XG_PROP_NAME_LEN];
    char (*attr_values)[XG_DATASET_ATTR_LEN];
    /* capacities, private to xg_dataset.c */
    int64_t cap_n, cap_m;
} xg_dataset;

xg_dataset *xg_dataset_alloc(void);
void xg_dataset_free(xg_dataset *ds);

/* Adds a property column (all NaN) and returns its index; an existing name returns its index. */
int xg_dataset_add_property(xg_dataset *ds, const char *name, xg_error *err);
int xg_dataset_find_property(const xg_dataset *ds, const char *name); /* -1 if absent */

/* Sets a string attribute (replacing one of the same name). XG_EINVAL for a name that is
 * empty, too long, "format" or "version", a value of XG_DATASET_ATTR_LEN bytes or more, or
 * more than XG_DATASET_MAX_ATTRS attributes. */
int xg_dataset_set_attr(xg_dataset *ds, const char *name, const char *value, xg_error *err);
/* The attribute's value, or NULL. */
const char *xg_dataset_get_attr(const xg_dataset *ds, const char *name);

/* Appends a copy of s (its id included). props may be NULL (all NaN) or hold ds->nprops values. */
int xg_dataset_append(xg_dataset *ds, const xg_structure *s, const double *props, xg_error *err);

/* Copies structure i into a newly allocated xg_structure (caller frees). */
xg_structure *xg_dataset_get(const xg_dataset *ds, int64_t i, xg_error *err);
int xg_dataset_natoms(const xg_dataset *ds, int64_t i);

/* HDF5 I/O. Writing goes to a temporary name beside PATH (xg_h5_write_atomic) and is renamed
 * onto PATH when complete. */
int xg_dataset_write_h5(const xg_dataset *ds, const char *path, xg_error *err);
int xg_dataset_read_h5(const char *path, xg_dataset **out, xg_error *err);
/* The same reader for a file's bytes held in memory (nothing touches the disk; the fuzz
 * harness uses it); name stands for the path in messages. */
int xg_dataset_read_h5_image(const void *image, size_t len, const char *name, xg_dataset **out,
                             xg_error *err);
/* Appends ds's crystals to the file at path, which grows in place rather than being
 * rewritten: the same layout (version 1) with every array chunked and extendible along its
 * first dimension. A missing file is created with ds's root attributes and property columns
 * (an empty ds makes an empty file); an existing one must have been made by this function,
 * with the same property columns, and keeps its attributes. Appending the same crystals in the
 * same batches gives the same bytes, however many processes and sessions did the appending.
 * Not atomic: a process killed inside the call can leave a damaged file, so a caller that
 * must survive kills defers termination signals around it. */
int xg_dataset_h5_append(const char *path, const xg_dataset *ds, xg_error *err);
/* compact != 0: the same layout with the large arrays chunked and deflate-compressed,
 * frac_coords and lattices stored as float32 (read back as float64) and no properties: what
 * a shipped reference set needs (ids and structures) at a fraction of the size. */
int xg_dataset_write_h5_compact(const xg_dataset *ds, const char *path, int compact,
                                xg_error *err);

#endif
