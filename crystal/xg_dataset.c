/* xg_dataset.c: the ragged in-memory dataset and its versioned HDF5 form (layout in
 * xg_dataset.h). The reader treats every file as hostile: each array's shape is checked
 * against the others before anything is allocated from it, offsets must be monotone and end
 * at the atom count, atomic numbers must name real elements, and HDF5's own error printing is
 * silenced so a bad file produces one clear xtalgen message instead of a stack dump. */
#include "crystal/xg_dataset.h"
#include "crystal/xg_alloc.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_elements.h"
#include "crystal/xg_h5util.h"

#define XG_DATASET_FORMAT "xtalgen-dataset"
/* Upper bounds that keep size arithmetic far from overflow and reject absurd headers early. */
#define XG_DATASET_MAX_N ((int64_t)1 << 31)
#define XG_DATASET_MAX_M ((int64_t)1 << 34)
#define XG_DATASET_MAX_PROPS 4096

xg_dataset *xg_dataset_alloc(void)
{
    xg_dataset *ds = xg_calloc(1, sizeof *ds);
    if (!ds)
        return NULL;
    ds->offsets = xg_calloc(1, sizeof *ds->offsets);
    if (!ds->offsets) {
        free(ds);
        return NULL;
    }
    return ds;
}

void xg_dataset_free(xg_dataset *ds)
{
    if (!ds)
        return;
    free(ds->offsets);
    free(ds->types);
    free(ds->frac);
    free(ds->lattices);
    free(ds->ids);
    free(ds->prop_names);
    free(ds->props);
    free(ds->attr_names);
    free(ds->attr_values);
    free(ds);
}

int xg_dataset_set_attr(xg_dataset *ds, const char *name, const char *value, xg_error *err)
{
    if (!ds || !name || !value || !name[0] || strlen(name) >= XG_PROP_NAME_LEN ||
        !strcmp(name, "format") || !strcmp(name, "version"))
        return xg_error_set(err, XG_EINVAL, "dataset: invalid attribute name '%s'",
                            name ? name : "(null)");
    if (strlen(value) >= XG_DATASET_ATTR_LEN)
        return xg_error_set(err, XG_EINVAL, "dataset: attribute '%s' is too long (%zu bytes)",
                            name, strlen(value));
    int k = 0;
    while (k < ds->nattrs && strcmp(ds->attr_names[k], name))
        k++;
    if (k == ds->nattrs) {
        if (ds->nattrs >= XG_DATASET_MAX_ATTRS)
            return xg_error_set(err, XG_EINVAL, "dataset: more than %d attributes",
                                XG_DATASET_MAX_ATTRS);
        char(*nn)[XG_PROP_NAME_LEN] = realloc(ds->attr_names, (size_t)(k + 1) * sizeof *nn);
        if (!nn)
            return xg_error_set(err, XG_ENOMEM, "dataset: out of memory");
        ds->attr_names = nn;
        char(*nv)[XG_DATASET_ATTR_LEN] = realloc(ds->attr_values, (size_t)(k + 1) * sizeof *nv);
        if (!nv)
            return xg_error_set(err, XG_ENOMEM, "dataset: out of memory");
        ds->attr_values = nv;
        snprintf(ds->attr_names[k], XG_PROP_NAME_LEN, "%s", name);
        ds->nattrs++;
    }
    snprintf(ds->attr_values[k], XG_DATASET_ATTR_LEN, "%s", value);
    return XG_OK;
}

const char *xg_dataset_get_attr(const xg_dataset *ds, const char *name)
{
    for (int k = 0; ds && name && k < ds->nattrs; k++)
        if (!strcmp(ds->attr_names[k], name))
            return ds->attr_values[k];
    return NULL;
}

/* Grows the per-structure arrays to hold at least need structures (amortised doubling). */
static int grow_n(xg_dataset *ds, int64_t need, xg_error *err)
{
    if (need <= ds->cap_n)
        return XG_OK;
    int64_t cap = ds->cap_n ? ds->cap_n : 64;
    while (cap < need)
        cap *= 2;
    int64_t *off = xg_realloc(ds->offsets, (size_t)(cap + 1) * sizeof *off);
    if (!off)
        return xg_error_set(err, XG_ENOMEM, "dataset: out of memory growing to %lld structures",
                            (long long)cap);
    ds->offsets = off;
    double *lat = xg_realloc(ds->lattices, (size_t)cap * 9 * sizeof *lat);
    if (!lat)
        return xg_error_set(err, XG_ENOMEM, "dataset: out of memory growing lattices");
    ds->lattices = lat;
    char(*ids)[XG_ID_LEN] = xg_realloc(ds->ids, (size_t)cap * sizeof *ids);
    if (!ids)
        return xg_error_set(err, XG_ENOMEM, "dataset: out of memory growing ids");
    ds->ids = ids;
    if (ds->nprops > 0) {
        double *p = xg_realloc(ds->props, (size_t)cap * (size_t)ds->nprops * sizeof *p);
        if (!p)
            return xg_error_set(err, XG_ENOMEM, "dataset: out of memory growing properties");
        ds->props = p;
    }
    ds->cap_n = cap;
    return XG_OK;
}

static int grow_m(xg_dataset *ds, int64_t need, xg_error *err)
{
    if (need <= ds->cap_m)
        return XG_OK;
    int64_t cap = ds->cap_m ? ds->cap_m : 256;
    while (cap < need)
        cap *= 2;
    int32_t *t = xg_realloc(ds->types, (size_t)cap * sizeof *t);
    if (!t)
        return xg_error_set(err, XG_ENOMEM, "dataset: out of memory growing to %lld atoms",
                            (long long)cap);
    ds->types = t;
    double *f = xg_realloc(ds->frac, (size_t)cap * 3 * sizeof *f);
    if (!f)
        return xg_error_set(err, XG_ENOMEM, "dataset: out of memory growing coordinates");
    ds->frac = f;
    ds->cap_m = cap;
    return XG_OK;
}

int xg_dataset_find_property(const xg_dataset *ds, const char *name)
{
    if (!ds || !name)
        return -1;
    for (int k = 0; k < ds->nprops; k++)
        if (strcmp(ds->prop_names[k], name) == 0)
            return k;
    return -1;
}

int xg_dataset_add_property(xg_dataset *ds, const char *name, xg_error *err)
{
    if (!ds || !name || !name[0])
        return -xg_error_set(err, XG_EINVAL, "dataset: property name is empty");
    int k = xg_dataset_find_property(ds, name);
    if (k >= 0)
        return k;
    if (strlen(name) >= XG_PROP_NAME_LEN)
        return -xg_error_set(err, XG_EINVAL, "dataset: property name '%.80s...' is longer than %d",
                             name, XG_PROP_NAME_LEN - 1);
    if (strchr(name, '/'))
        return -xg_error_set(err, XG_EINVAL,
                             "dataset: property name '%s' contains '/', which HDF5 cannot store",
                             name);
    if (ds->nprops >= XG_DATASET_MAX_PROPS)
        return -xg_error_set(err, XG_EINVAL, "dataset: too many properties (%d)", ds->nprops);
    int np = ds->nprops + 1;
    char(*names)[XG_PROP_NAME_LEN] = xg_realloc(ds->prop_names, (size_t)np * sizeof *names);
    if (!names)
        return -xg_error_set(err, XG_ENOMEM, "dataset: out of memory adding property '%s'", name);
    ds->prop_names = names;
    /* Properties are structure-major, so a new column means re-laying out every row. */
    int64_t rows = ds->cap_n > 0 ? ds->cap_n : 1;
    double *p = xg_malloc((size_t)rows * (size_t)np * sizeof *p);
    if (!p)
        return -xg_error_set(err, XG_ENOMEM, "dataset: out of memory adding property '%s'", name);
    for (int64_t i = 0; i < ds->n; i++) {
        for (int j = 0; j < ds->nprops; j++)
            p[i * np + j] = ds->props[i * ds->nprops + j];
        p[i * np + ds->nprops] = NAN;
    }
    free(ds->props);
    ds->props = p;
    snprintf(ds->prop_names[ds->nprops], XG_PROP_NAME_LEN, "%s", name);
    ds->nprops = np;
    return np - 1;
}

int xg_dataset_append(xg_dataset *ds, const xg_structure *s, const double *props, xg_error *err)
{
    if (!ds || !s || s->natoms < 0 || (s->natoms > 0 && (!s->types || !s->frac)))
        return xg_error_set(err, XG_EINVAL, "dataset: append of an invalid structure");
    int rc = grow_n(ds, ds->n + 1, err);
    if (rc)
        return rc;
    int64_t m0 = ds->offsets[ds->n];
    if ((rc = grow_m(ds, m0 + s->natoms, err)))
        return rc;
    for (int a = 0; a < s->natoms; a++) {
        ds->types[m0 + a] = s->types[a];
        for (int d = 0; d < 3; d++)
            ds->frac[(m0 + a) * 3 + d] = s->frac[a][d];
    }
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            ds->lattices[ds->n * 9 + r * 3 + c] = s->lattice[r][c];
    memset(ds->ids[ds->n], 0, XG_ID_LEN);
    snprintf(ds->ids[ds->n], XG_ID_LEN, "%s", s->id);
    for (int k = 0; k < ds->nprops; k++)
        ds->props[ds->n * ds->nprops + k] = props ? props[k] : NAN;
    ds->offsets[ds->n + 1] = m0 + s->natoms;
    ds->n++;
    ds->m = m0 + s->natoms;
    return XG_OK;
}

int xg_dataset_natoms(const xg_dataset *ds, int64_t i)
{
    if (!ds || i < 0 || i >= ds->n)
        return -1;
    return (int)(ds->offsets[i + 1] - ds->offsets[i]);
}

xg_structure *xg_dataset_get(const xg_dataset *ds, int64_t i, xg_error *err)
{
    if (!ds || i < 0 || i >= ds->n) {
        xg_error_set(err, XG_EINVAL, "dataset: structure index %lld out of range (0..%lld)",
                     (long long)i, ds ? (long long)ds->n - 1 : -1LL);
        return NULL;
    }
    int na = xg_dataset_natoms(ds, i);
    xg_structure *s = xg_structure_alloc(na);
    if (!s) {
        xg_error_set(err, XG_ENOMEM, "dataset: out of memory copying structure %lld",
                     (long long)i);
        return NULL;
    }
    int64_t m0 = ds->offsets[i];
    for (int a = 0; a < na; a++) {
        s->types[a] = ds->types[m0 + a];
        for (int d = 0; d < 3; d++)
            s->frac[a][d] = ds->frac[(m0 + a) * 3 + d];
    }
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            s->lattice[r][c] = ds->lattices[i * 9 + r * 3 + c];
    snprintf(s->id, XG_ID_LEN, "%.*s", XG_ID_LEN - 1, ds->ids[i]);
    return s;
}

/* ---------------------------------------------------------------- HDF5 ------------- */

/* HDF5 prints its error stack to stderr by default; inside xtalgen every failure becomes an
 * xg_error instead. The previous handler is restored on the way out so a host program that
 * wants HDF5's diagnostics keeps them. */
typedef struct {
    H5E_auto2_t func;
    void *data;
} h5_quiet;

static void h5_silence(h5_quiet *q)
{
    H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void h5_restore(const h5_quiet *q) { H5Eset_auto2(H5E_DEFAULT, q->func, q->data); }

/* deflate > 0: chunked, byte-shuffled and deflate-compressed at that level (readers see no
 * difference; HDF5 undoes the filters), when the array is large enough to be worth it. */
static int write_array(hid_t loc, const char *name, hid_t memtype, hid_t filetype, int rank,
                       const hsize_t *dims, const void *data, int deflate, const char *path,
                       xg_error *err)
{
    hid_t space = H5Screate_simple(rank, dims, NULL);
    if (space < 0)
        return xg_error_set(err, XG_ELIB, "%s: HDF5 could not create the dataspace of %s", path,
                            name);
    /* No modification times in the object headers: the same crystals give the same bytes. */
    hid_t dcpl = xg_h5_dcpl();
    if (deflate > 0 && dims[0] >= 1024 && H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0) {
        hsize_t chunk[4];
        hsize_t row = 1;
        for (int r = 1; r < rank; r++)
            row *= dims[r];
        chunk[0] = dims[0] < 65536 / row ? dims[0] : 65536 / row; /* ~64k values a chunk */
        for (int r = 1; r < rank; r++)
            chunk[r] = dims[r];
        if (H5Pset_chunk(dcpl, rank, chunk) < 0 || H5Pset_shuffle(dcpl) < 0 ||
            H5Pset_deflate(dcpl, (unsigned)deflate) < 0) {
            H5Pclose(dcpl);
            H5Sclose(space);
            return xg_error_set(err, XG_ELIB, "%s: HDF5 could not set up compression of %s",
                                path, name);
        }
    }
    hid_t dset = H5Dcreate2(loc, name, filetype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    int ok = dset >= 0;
    hsize_t total = 1;
    for (int r = 0; r < rank; r++)
        total *= dims[r];
    if (ok && total > 0)
        ok = H5Dwrite(dset, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0;
    if (dset >= 0)
        H5Dclose(dset);
    H5Sclose(space);
    if (!ok)
        return xg_error_set(err, XG_EIO, "%s: could not write %s (disk full?)", path, name);
    return XG_OK;
}

/* The root attributes: the format string, the layout version and ds's string attributes. */
static int write_root_attrs(hid_t file, const xg_dataset *ds, const char *path, xg_error *err)
{
    hid_t scalar = H5Screate(H5S_SCALAR);
    hid_t strtype = H5Tcopy(H5T_C_S1);
    H5Tset_size(strtype, strlen(XG_DATASET_FORMAT));
    H5Tset_strpad(strtype, H5T_STR_NULLPAD);
    hid_t a = H5Acreate2(file, "format", strtype, scalar, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, strtype, XG_DATASET_FORMAT) >= 0;
    if (a >= 0)
        H5Aclose(a);
    H5Tclose(strtype);
    int version = XG_DATASET_VERSION;
    a = H5Acreate2(file, "version", H5T_STD_I32LE, scalar, H5P_DEFAULT, H5P_DEFAULT);
    ok = ok && a >= 0 && H5Awrite(a, H5T_NATIVE_INT, &version) >= 0;
    if (a >= 0)
        H5Aclose(a);
    for (int k = 0; k < ds->nattrs && ok; k++) {
        size_t len = strlen(ds->attr_values[k]);
        hid_t st = H5Tcopy(H5T_C_S1);
        H5Tset_size(st, len > 0 ? len : 1);
        H5Tset_strpad(st, H5T_STR_NULLPAD);
        a = H5Acreate2(file, ds->attr_names[k], st, scalar, H5P_DEFAULT, H5P_DEFAULT);
        ok = a >= 0 && H5Awrite(a, st, len > 0 ? ds->attr_values[k] : "") >= 0;
        if (a >= 0)
            H5Aclose(a);
        H5Tclose(st);
    }
    H5Sclose(scalar);
    if (!ok)
        return xg_error_set(err, XG_EIO, "%s: could not write the root attributes", path);
    return XG_OK;
}

static int write_h5_body(hid_t file, const xg_dataset *ds, int compact, const char *path,
                         xg_error *err)
{
    /* compact: deflated arrays, coordinates and lattices stored as float32 (1e-7 relative:
     * 1e-6 Angstrom in a 10 Angstrom cell, far below any matching or symmetry tolerance), no
     * properties. */
    const int z = compact ? 6 : 0;
    const hid_t realtype = compact ? H5T_IEEE_F32LE : H5T_IEEE_F64LE;
    int rc0 = write_root_attrs(file, ds, path, err);
    if (rc0)
        return rc0;

    hsize_t n = (hsize_t)ds->n, m = (hsize_t)ds->m;
    hid_t idtype = H5Tcopy(H5T_C_S1);
    H5Tset_size(idtype, XG_ID_LEN);
    H5Tset_strpad(idtype, H5T_STR_NULLPAD);
    hsize_t d1[1] = {n};
    int rc = write_array(file, "ids", idtype, idtype, 1, d1, ds->ids, z, path, err);
    H5Tclose(idtype);
    if (rc)
        return rc;
    hsize_t doff[1] = {n + 1};
    if ((rc = write_array(file, "offsets", H5T_NATIVE_INT64, H5T_STD_I64LE, 1, doff, ds->offsets,
                          z, path, err)))
        return rc;
    hsize_t dm[1] = {m};
    if ((rc = write_array(file, "atomic_numbers", H5T_NATIVE_INT32, H5T_STD_I32LE, 1, dm,
                          ds->types, z, path, err)))
        return rc;
    hsize_t dx[2] = {m, 3};
    if ((rc = write_array(file, "frac_coords", H5T_NATIVE_DOUBLE, realtype, 2, dx, ds->frac, z,
                          path, err)))
        return rc;
    hsize_t dl[3] = {n, 3, 3};
    if ((rc = write_array(file, "lattices", H5T_NATIVE_DOUBLE, realtype, 3, dl,
                          ds->lattices, z, path, err)))
        return rc;

    hid_t g = xg_h5_group_create(file, "properties");
    if (g < 0)
        return xg_error_set(err, XG_EIO, "%s: could not create /properties", path);
    double *col = xg_malloc((n ? n : 1) * sizeof *col);
    if (!col) {
        H5Gclose(g);
        return xg_error_set(err, XG_ENOMEM, "%s: out of memory writing properties", path);
    }
    for (int k = 0; k < (compact ? 0 : ds->nprops) && rc == XG_OK; k++) {
        for (hsize_t i = 0; i < n; i++)
            col[i] = ds->props[i * (hsize_t)ds->nprops + (hsize_t)k];
        rc = write_array(g, ds->prop_names[k], H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, d1, col, z,
                         path, err);
    }
    free(col);
    H5Gclose(g);
    return rc;
}

int xg_dataset_write_h5(const xg_dataset *ds, const char *path, xg_error *err)
{
    return xg_dataset_write_h5_compact(ds, path, 0, err);
}

typedef struct {
    const xg_dataset *ds;
    int compact;
} write_job;

static int fill_dataset(hid_t file, const void *ctx, const char *path, xg_error *err)
{
    const write_job *j = ctx;
    return write_h5_body(file, j->ds, j->compact, path, err);
}

int xg_dataset_write_h5_compact(const xg_dataset *ds, const char *path, int compact,
                                xg_error *err)
{
    if (!ds || !path)
        return xg_error_set(err, XG_EINVAL, "dataset: write_h5 needs a dataset and a path");
    write_job j = {ds, compact};
    return xg_h5_write_atomic(path, fill_dataset, &j, "dataset", err);
}

/* ---------------------------------------------------------------- appendable files ---- */

/* Rows per chunk of the extendible arrays: small enough that a run of a few crystals stays a
 * few tens of kilobytes, large enough that HDF5's chunk index stays shallow for millions. */
#define APPEND_CHUNK_N 128  /* ids, lattices, properties, offsets */
#define APPEND_CHUNK_M 1024 /* atomic_numbers, frac_coords */

/* An empty (or, for offsets, one-row) dataset whose first dimension grows without limit. */
static int ext_create(hid_t loc, const char *name, hid_t ftype, int rank, const hsize_t *inner,
                      hsize_t rows, hsize_t chunk_rows, const char *path, xg_error *err)
{
    hsize_t dims[4], maxd[4], chunk[4];
    dims[0] = rows;
    maxd[0] = H5S_UNLIMITED;
    chunk[0] = chunk_rows;
    for (int r = 1; r < rank; r++)
        dims[r] = maxd[r] = chunk[r] = inner[r - 1];
    hid_t space = H5Screate_simple(rank, dims, maxd);
    hid_t dcpl = xg_h5_dcpl(); /* no modification times: same crystals, same bytes */
    hid_t d = -1;
    if (space >= 0 && dcpl >= 0 && H5Pset_chunk(dcpl, rank, chunk) >= 0)
        d = H5Dcreate2(loc, name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (space >= 0)
        H5Sclose(space);
    if (d < 0)
        return xg_error_set(err, XG_EIO, "%s: could not create the extendible array %s", path,
                            name);
    H5Dclose(d);
    return XG_OK;
}

/* Grows dataset `name` by `add` rows and writes them from data (rows of mtype). The array
 * must be extendible (made by ext_create); its inner dimensions must equal `inner`. */
static int ext_append(hid_t loc, const char *name, hid_t mtype, int rank, const hsize_t *inner,
                      hsize_t add, const void *data, const char *path, xg_error *err)
{
    if (add == 0)
        return XG_OK;
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0)
        return xg_error_set(err, XG_EPARSE, "%s: /%s is missing", path, name);
    hid_t fs = H5Dget_space(d);
    hsize_t dims[4] = {0}, maxd[4] = {0};
    int ok = fs >= 0 && H5Sget_simple_extent_ndims(fs) == rank &&
             H5Sget_simple_extent_dims(fs, dims, maxd) == rank && maxd[0] == H5S_UNLIMITED;
    for (int r = 1; ok && r < rank; r++)
        ok = dims[r] == inner[r - 1];
    if (fs >= 0)
        H5Sclose(fs);
    if (!ok) {
        H5Dclose(d);
        return xg_error_set(err, XG_EPARSE,
                            "%s: /%s is not an extendible array of the expected shape (a file "
                            "written whole, not by generate?)",
                            path, name);
    }
    hsize_t old = dims[0];
    dims[0] = old + add;
    int rc = XG_OK;
    hid_t ms = -1;
    fs = -1;
    if (H5Dset_extent(d, dims) < 0 || (fs = H5Dget_space(d)) < 0) {
        rc = xg_error_set(err, XG_EIO, "%s: could not extend /%s", path, name);
    } else {
        hsize_t start[4] = {old, 0, 0, 0}, count[4];
        count[0] = add;
        for (int r = 1; r < rank; r++)
            count[r] = inner[r - 1];
        ms = H5Screate_simple(rank, count, NULL);
        if (ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
            H5Dwrite(d, mtype, ms, fs, H5P_DEFAULT, data) < 0)
            rc = xg_error_set(err, XG_EIO, "%s: could not write /%s (disk full?)", path, name);
    }
    if (ms >= 0)
        H5Sclose(ms);
    if (fs >= 0)
        H5Sclose(fs);
    H5Dclose(d);
    return rc;
}

/* The first dimension of dataset `name`, or -1. */
static int64_t ext_rows(hid_t loc, const char *name)
{
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0)
        return -1;
    hid_t fs = H5Dget_space(d);
    hsize_t dims[4] = {0};
    int64_t rows = fs >= 0 && H5Sget_simple_extent_ndims(fs) >= 1 &&
                           H5Sget_simple_extent_dims(fs, dims, NULL) >= 1
                       ? (int64_t)dims[0]
                       : -1;
    if (fs >= 0)
        H5Sclose(fs);
    H5Dclose(d);
    return rows;
}

static int append_create(hid_t file, const xg_dataset *ds, const char *path, xg_error *err)
{
    int rc = write_root_attrs(file, ds, path, err);
    hid_t idtype = H5Tcopy(H5T_C_S1);
    H5Tset_size(idtype, XG_ID_LEN);
    H5Tset_strpad(idtype, H5T_STR_NULLPAD);
    const hsize_t three[1] = {3}, nine[2] = {3, 3};
    if (!rc)
        rc = ext_create(file, "ids", idtype, 1, NULL, 0, APPEND_CHUNK_N, path, err);
    H5Tclose(idtype);
    if (!rc)
        rc = ext_create(file, "offsets", H5T_STD_I64LE, 1, NULL, 0, APPEND_CHUNK_N, path, err);
    int64_t zero = 0;
    if (!rc) /* offsets holds n + 1 entries: the leading 0 */
        rc = ext_append(file, "offsets", H5T_NATIVE_INT64, 1, NULL, 1, &zero, path, err);
    if (!rc)
        rc = ext_create(file, "atomic_numbers", H5T_STD_I32LE, 1, NULL, 0, APPEND_CHUNK_M, path,
                        err);
    if (!rc)
        rc = ext_create(file, "frac_coords", H5T_IEEE_F64LE, 2, three, 0, APPEND_CHUNK_M, path,
                        err);
    if (!rc)
        rc = ext_create(file, "lattices", H5T_IEEE_F64LE, 3, nine, 0, APPEND_CHUNK_N, path, err);
    if (rc)
        return rc;
    hid_t g = xg_h5_group_create(file, "properties");
    if (g < 0)
        return xg_error_set(err, XG_EIO, "%s: could not create /properties", path);
    for (int k = 0; k < ds->nprops && !rc; k++)
        rc = ext_create(g, ds->prop_names[k], H5T_IEEE_F64LE, 1, NULL, 0, APPEND_CHUNK_N, path,
                        err);
    H5Gclose(g);
    return rc;
}

static int append_rows(hid_t file, const xg_dataset *ds, const char *path, xg_error *err)
{
    /* The file must be one this function grows: the same property columns, offsets n + 1. */
    int64_t n0 = ext_rows(file, "ids"), m0 = ext_rows(file, "atomic_numbers");
    if (n0 < 0 || m0 < 0 || ext_rows(file, "offsets") != n0 + 1)
        return xg_error_set(err, XG_EPARSE,
                            "%s: not an appendable xtalgen dataset (arrays missing or of "
                            "inconsistent lengths)",
                            path);
    hid_t g = H5Gopen2(file, "properties", H5P_DEFAULT);
    hsize_t nlinks = 0;
    H5G_info_t gi;
    if (g >= 0 && H5Gget_info(g, &gi) >= 0)
        nlinks = gi.nlinks;
    int same = g >= 0 && nlinks == (hsize_t)ds->nprops;
    for (int k = 0; same && k < ds->nprops; k++)
        same = ext_rows(g, ds->prop_names[k]) == n0;
    if (!same) {
        if (g >= 0)
            H5Gclose(g);
        return xg_error_set(err, XG_EPARSE,
                            "%s: its property columns differ from the crystals appended", path);
    }
    const hsize_t n = (hsize_t)ds->n, m = (hsize_t)ds->m, three[1] = {3}, nine[2] = {3, 3};
    int rc = XG_OK;
    int64_t *off = xg_malloc((n ? n : 1) * sizeof *off);
    double *col = xg_malloc((n ? n : 1) * sizeof *col);
    if (!off || !col)
        rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory appending crystals", path);
    for (hsize_t i = 0; !rc && i < n; i++)
        off[i] = m0 + ds->offsets[i + 1];
    hid_t idtype = H5Tcopy(H5T_C_S1);
    H5Tset_size(idtype, XG_ID_LEN);
    H5Tset_strpad(idtype, H5T_STR_NULLPAD);
    if (!rc)
        rc = ext_append(file, "ids", idtype, 1, NULL, n, ds->ids, path, err);
    H5Tclose(idtype);
    if (!rc)
        rc = ext_append(file, "offsets", H5T_NATIVE_INT64, 1, NULL, n, off, path, err);
    if (!rc)
        rc = ext_append(file, "atomic_numbers", H5T_NATIVE_INT32, 1, NULL, m, ds->types, path,
                        err);
    if (!rc)
        rc = ext_append(file, "frac_coords", H5T_NATIVE_DOUBLE, 2, three, m, ds->frac, path, err);
    if (!rc)
        rc = ext_append(file, "lattices", H5T_NATIVE_DOUBLE, 3, nine, n, ds->lattices, path, err);
    for (int k = 0; !rc && k < ds->nprops; k++) {
        for (hsize_t i = 0; i < n; i++)
            col[i] = ds->props[i * (hsize_t)ds->nprops + (hsize_t)k];
        rc = ext_append(g, ds->prop_names[k], H5T_NATIVE_DOUBLE, 1, NULL, n, col, path, err);
    }
    H5Gclose(g);
    free(off);
    free(col);
    return rc;
}

int xg_dataset_h5_append(const char *path, const xg_dataset *ds, xg_error *err)
{
    if (!ds || !path)
        return xg_error_set(err, XG_EINVAL, "dataset: h5_append needs a dataset and a path");
    h5_quiet q;
    h5_silence(&q);
    int rc;
    FILE *probe = fopen(path, "rb");
    int exists = probe != NULL;
    if (probe)
        fclose(probe);
    hid_t file = exists ? H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT)
                        : H5Fcreate(path, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) {
        rc = xg_error_set(err, exists ? XG_EPARSE : XG_EIO,
                          exists ? "%s: HDF5 cannot open it for appending (truncated or corrupt?)"
                                 : "%s: cannot create the file (does the folder exist?)",
                          path);
    } else {
        rc = exists ? XG_OK : append_create(file, ds, path, err);
        if (!rc)
            rc = append_rows(file, ds, path, err);
        if (H5Fclose(file) < 0 && rc == XG_OK)
            rc = xg_error_set(err, XG_EIO, "%s: could not finish writing (disk full?)", path);
    }
    h5_restore(&q);
    return rc;
}

/* Reads the shape of dataset `name` into dims (rank must equal `rank`); opens it into *dset. */
static int open_array(hid_t loc, const char *name, int rank, hsize_t *dims, hid_t *dset,
                      const char *path, xg_error *err)
{
    *dset = -1;
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0)
        return xg_error_set(err, XG_EPARSE, "%s: not an xtalgen dataset: /%s is missing", path,
                            name);
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0)
        return xg_error_set(err, XG_EPARSE, "%s: /%s is not a readable dataset", path, name);
    hid_t sp = H5Dget_space(d);
    int r = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    if (r != rank) {
        if (sp >= 0)
            H5Sclose(sp);
        H5Dclose(d);
        return xg_error_set(err, XG_EPARSE, "%s: /%s has rank %d, expected %d", path, name, r,
                            rank);
    }
    H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    /* Shapes size the allocations: they must be backed by data in the file. */
    char where[XG_PROP_NAME_LEN + 16];
    snprintf(where, sizeof where, "/%s", name);
    int rc = xg_h5_check_stored(d, where, path, err);
    if (rc) {
        H5Dclose(d);
        return rc;
    }
    *dset = d;
    return XG_OK;
}

static int read_all(hid_t dset, hid_t memtype, void *buf, hsize_t count, const char *path,
                    const char *name, xg_error *err)
{
    if (count == 0)
        return XG_OK;
    if (H5Dread(dset, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        return xg_error_set(err, XG_EIO, "%s: could not read /%s (file truncated or corrupt?)",
                            path, name);
    return XG_OK;
}

static int check_format(hid_t file, const char *path, xg_error *err)
{
    if (H5Aexists(file, "format") <= 0)
        return xg_error_set(err, XG_EPARSE,
                            "%s: not an xtalgen dataset (no 'format' attribute on /)", path);
    char fmt[64] = {0};
    xg_error e2;
    int src = xg_h5_get_str(file, "/", "format", fmt, sizeof fmt, path, &e2);
    if (src == XG_ENOMEM)
        return xg_error_set(err, src, "%s", e2.msg);
    int ok = src == XG_OK;
    if (!ok || strcmp(fmt, XG_DATASET_FORMAT) != 0)
        return xg_error_set(err, XG_EPARSE,
                            "%s: not an xtalgen dataset (format attribute is '%s', expected '%s')",
                            path, ok ? fmt : "?", XG_DATASET_FORMAT);
    if (H5Aexists(file, "version") <= 0)
        return xg_error_set(err, XG_EPARSE, "%s: dataset has no 'version' attribute", path);
    /* through the shared reader: it checks the attribute holds one number before reading
     * (a 3-element attribute overran a single long long here, found by fuzz_dataset_h5) */
    int64_t v64 = -1;
    src = xg_h5_get_i64(file, "/", "version", &v64, path, &e2);
    if (src == XG_ENOMEM)
        return xg_error_set(err, src, "%s", e2.msg);
    long long version = (long long)v64;
    ok = src == XG_OK;
    if (!ok)
        return xg_error_set(err, XG_EPARSE, "%s: the 'version' attribute is not an integer", path);
    if (version > XG_DATASET_VERSION)
        return xg_error_set(err, XG_EVERSION,
                            "%s: dataset layout version %lld is newer than this xtalgen "
                            "understands (%d)",
                            path, version, XG_DATASET_VERSION);
    if (version < 1)
        return xg_error_set(err, XG_EVERSION, "%s: dataset layout version %lld is not valid",
                            path, version);
    return XG_OK;
}

typedef struct {
    char (*names)[XG_PROP_NAME_LEN];
    int n, cap;
    int bad;
} prop_list;

static herr_t collect_prop(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    (void)g;
    (void)info;
    prop_list *pl = data;
    if (strlen(name) >= XG_PROP_NAME_LEN || pl->n >= XG_DATASET_MAX_PROPS) {
        pl->bad = 1;
        return 1;
    }
    if (pl->n == pl->cap) {
        int cap = pl->cap ? 2 * pl->cap : 16;
        char(*nn)[XG_PROP_NAME_LEN] = xg_realloc(pl->names, (size_t)cap * sizeof *nn);
        if (!nn) {
            pl->bad = 2;
            return 1;
        }
        pl->names = nn;
        pl->cap = cap;
    }
    snprintf(pl->names[pl->n++], XG_PROP_NAME_LEN, "%s", name);
    return 0;
}

/* H5Aiterate2 callback: keeps every scalar string attribute of the root but the format. */
static herr_t read_attr_cb(hid_t loc, const char *name, const H5A_info_t *info, void *op)
{
    (void)info;
    xg_dataset *ds = op;
    if (!strcmp(name, "format") || !strcmp(name, "version") || strlen(name) >= XG_PROP_NAME_LEN)
        return 0;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : -1;
    hid_t sp = a >= 0 ? H5Aget_space(a) : -1;
    char *val = NULL;
    if (t >= 0 && sp >= 0 && H5Tget_class(t) == H5T_STRING &&
        H5Sget_simple_extent_type(sp) == H5S_SCALAR) {
        if (H5Tis_variable_str(t)) {
            char *vs = NULL;
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, H5T_VARIABLE);
            if (H5Aread(a, mt, &vs) >= 0 && vs) {
                val = strdup(vs);
                H5free_memory(vs);
            }
            H5Tclose(mt);
        } else {
            size_t sz = H5Tget_size(t);
            if (sz > 0 && sz < XG_DATASET_ATTR_LEN && (val = calloc(sz + 1, 1))) {
                hid_t mt = H5Tcopy(H5T_C_S1);
                H5Tset_size(mt, sz + 1);
                H5Tset_strpad(mt, H5T_STR_NULLTERM);
                if (H5Aread(a, mt, val) < 0) {
                    free(val);
                    val = NULL;
                }
                H5Tclose(mt);
            }
        }
    }
    if (val && ds->nattrs < XG_DATASET_MAX_ATTRS)
        xg_dataset_set_attr(ds, name, val, NULL); /* too long or unnamed: not provenance */
    free(val);
    if (sp >= 0)
        H5Sclose(sp);
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
    return 0;
}

static int read_h5_body(hid_t file, xg_dataset *ds, const char *path, xg_error *err)
{
    int rc = check_format(file, path, err);
    if (rc)
        return rc;
    H5Aiterate2(file, H5_INDEX_NAME, H5_ITER_INC, NULL, read_attr_cb, ds);
    hid_t d_ids = -1, d_off = -1, d_z = -1, d_x = -1, d_l = -1;
    hsize_t dim_ids[1], dim_off[1], dim_z[1], dim_x[2], dim_l[3];
    if ((rc = open_array(file, "ids", 1, dim_ids, &d_ids, path, err)) ||
        (rc = open_array(file, "offsets", 1, dim_off, &d_off, path, err)) ||
        (rc = open_array(file, "atomic_numbers", 1, dim_z, &d_z, path, err)) ||
        (rc = open_array(file, "frac_coords", 2, dim_x, &d_x, path, err)) ||
        (rc = open_array(file, "lattices", 3, dim_l, &d_l, path, err)))
        goto done;
    hsize_t n = dim_ids[0], m = dim_z[0];
    if ((int64_t)n > XG_DATASET_MAX_N || (int64_t)m > XG_DATASET_MAX_M) {
        rc = xg_error_set(err, XG_EPARSE, "%s: implausible sizes (%llu structures, %llu atoms)",
                          path, (unsigned long long)n, (unsigned long long)m);
        goto done;
    }
    if (dim_off[0] != n + 1 || dim_x[0] != m || dim_x[1] != 3 || dim_l[0] != n || dim_l[1] != 3 ||
        dim_l[2] != 3) {
        rc = xg_error_set(err, XG_EPARSE,
                          "%s: inconsistent shapes: ids (%llu), offsets (%llu), atomic_numbers "
                          "(%llu), frac_coords (%llu,%llu), lattices (%llu,%llu,%llu)",
                          path, (unsigned long long)n, (unsigned long long)dim_off[0],
                          (unsigned long long)m, (unsigned long long)dim_x[0],
                          (unsigned long long)dim_x[1], (unsigned long long)dim_l[0],
                          (unsigned long long)dim_l[1], (unsigned long long)dim_l[2]);
        goto done;
    }
    hid_t idt = H5Dget_type(d_ids);
    int idok = idt >= 0 && H5Tget_class(idt) == H5T_STRING && !H5Tis_variable_str(idt);
    if (idt >= 0)
        H5Tclose(idt);
    if (!idok) {
        rc = xg_error_set(err, XG_EPARSE, "%s: /ids is not a fixed-length string array", path);
        goto done;
    }
    if ((rc = grow_n(ds, (int64_t)n, err)) || (rc = grow_m(ds, (int64_t)m, err)))
        goto done;
    hid_t memid = H5Tcopy(H5T_C_S1);
    H5Tset_size(memid, XG_ID_LEN);
    H5Tset_strpad(memid, H5T_STR_NULLTERM); /* guarantees a terminating NUL in memory */
    rc = read_all(d_ids, memid, ds->ids, n, path, "ids", err);
    H5Tclose(memid);
    if (rc || (rc = read_all(d_off, H5T_NATIVE_INT64, ds->offsets, n + 1, path, "offsets", err)) ||
        (rc = read_all(d_z, H5T_NATIVE_INT32, ds->types, m, path, "atomic_numbers", err)) ||
        (rc = read_all(d_x, H5T_NATIVE_DOUBLE, ds->frac, m * 3, path, "frac_coords", err)) ||
        (rc = read_all(d_l, H5T_NATIVE_DOUBLE, ds->lattices, n * 9, path, "lattices", err)))
        goto done;
    if (ds->offsets[0] != 0 || ds->offsets[n] != (int64_t)m) {
        rc = xg_error_set(err, XG_EPARSE,
                          "%s: inconsistent offsets: first is %lld (must be 0), last is %lld "
                          "(must be the atom count %llu)",
                          path, (long long)ds->offsets[0], (long long)ds->offsets[n],
                          (unsigned long long)m);
        goto done;
    }
    for (hsize_t i = 0; i < n; i++) {
        /* Bound both ends before subtracting: a corrupt file may hold INT64_MIN, and the
         * difference of two unchecked offsets can overflow (found by fuzz_dataset_h5). */
        int64_t lo = ds->offsets[i], hi = ds->offsets[i + 1];
        if (lo < 0 || hi < lo || hi > (int64_t)m || hi - lo > 1000000) {
            rc = xg_error_set(err, XG_EPARSE,
                              "%s: inconsistent offsets at structure %llu (%lld to %lld, atoms "
                              "0 to %llu)", path, (unsigned long long)i, (long long)lo,
                              (long long)hi, (unsigned long long)m);
            goto done;
        }
        for (int k = 0; k < 9; k++)
            if (!isfinite(ds->lattices[i * 9 + k])) {
                rc = xg_error_set(err, XG_EPARSE, "%s: structure %llu (%s) has a non-finite lattice",
                                  path, (unsigned long long)i, ds->ids[i]);
                goto done;
            }
    }
    for (hsize_t j = 0; j < m; j++) {
        if (ds->types[j] < 1 || ds->types[j] > XG_MAX_Z) {
            rc = xg_error_set(err, XG_EPARSE, "%s: atom %llu has atomic number %d, outside 1..%d",
                              path, (unsigned long long)j, (int)ds->types[j], XG_MAX_Z);
            goto done;
        }
        for (int d = 0; d < 3; d++)
            if (!isfinite(ds->frac[j * 3 + d])) {
                rc = xg_error_set(err, XG_EPARSE, "%s: atom %llu has a non-finite coordinate",
                                  path, (unsigned long long)j);
                goto done;
            }
    }
    ds->n = (int64_t)n;
    ds->m = (int64_t)m;

    /* properties: optional group; every member must be a float array of length n */
    if (H5Lexists(file, "properties", H5P_DEFAULT) > 0) {
        hid_t g = H5Gopen2(file, "properties", H5P_DEFAULT);
        if (g < 0) {
            rc = xg_error_set(err, XG_EPARSE, "%s: /properties is not a group", path);
            goto done;
        }
        prop_list pl = {0};
        if (H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, collect_prop, &pl) < 0 || pl.bad) {
            if (pl.bad == 2)
                rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory listing /properties", path);
            else
                rc = xg_error_set(err, XG_EPARSE, "%s: /properties cannot be listed (%s)", path,
                                  pl.bad == 1 ? "a name is too long or there are too many"
                                              : "corrupt");
        }
        double *col = rc ? NULL : xg_malloc((n ? n : 1) * sizeof *col);
        if (!rc && !col)
            rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory reading properties", path);
        for (int k = 0; k < pl.n && !rc; k++) {
            hid_t d = -1;
            hsize_t dp[1];
            char where[XG_PROP_NAME_LEN + 16];
            snprintf(where, sizeof where, "properties/%s", pl.names[k]);
            if ((rc = open_array(g, pl.names[k], 1, dp, &d, path, err))) {
                xg_error_set(err, XG_EPARSE, "%s: /%s is not a one-dimensional array", path, where);
                break;
            }
            if (dp[0] != n) {
                rc = xg_error_set(err, XG_EPARSE, "%s: /%s has %llu values for %llu structures",
                                  path, where, (unsigned long long)dp[0], (unsigned long long)n);
            } else {
                rc = read_all(d, H5T_NATIVE_DOUBLE, col, n, path, where, err);
            }
            H5Dclose(d);
            if (rc)
                break;
            int idx = xg_dataset_add_property(ds, pl.names[k], err);
            if (idx < 0) {
                rc = -idx;
                break;
            }
            for (hsize_t i = 0; i < n; i++)
                ds->props[i * (hsize_t)ds->nprops + (hsize_t)idx] = col[i];
        }
        free(col);
        free(pl.names);
        H5Gclose(g);
    }
done:
    if (d_ids >= 0) H5Dclose(d_ids);
    if (d_off >= 0) H5Dclose(d_off);
    if (d_z >= 0) H5Dclose(d_z);
    if (d_x >= 0) H5Dclose(d_x);
    if (d_l >= 0) H5Dclose(d_l);
    return rc;
}

/* The part of reading shared by files and images: file is open (or negative: HDF5 could not
 * open it); closes it. */
static int read_h5_open(hid_t file, const char *path, xg_dataset **out, xg_error *err)
{
    if (file < 0)
        return xg_error_set(err, XG_EPARSE, "%s: HDF5 cannot open it (truncated or corrupt?)", path);
    int rc;
    xg_dataset *ds = xg_dataset_alloc();
    if (!ds) {
        rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", path);
    } else {
        rc = read_h5_body(file, ds, path, err);
        if (rc)
            xg_dataset_free(ds);
        else
            *out = ds;
    }
    H5Fclose(file);
    return rc;
}

int xg_dataset_read_h5(const char *path, xg_dataset **out, xg_error *err)
{
    if (!path || !out)
        return xg_error_set(err, XG_EINVAL, "dataset: read_h5 needs a path and an output");
    *out = NULL;
    FILE *probe = fopen(path, "rb");
    if (!probe)
        return xg_error_set(err, XG_EIO, "%s: cannot open the file", path);
    fclose(probe);
    h5_quiet q;
    h5_silence(&q);
    int rc;
    if (H5Fis_hdf5(path) <= 0)
        rc = xg_error_set(err, XG_EPARSE, "%s: not an HDF5 file (or truncated)", path);
    else
        rc = read_h5_open(H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), path, out, err);
    h5_restore(&q);
    return rc;
}

int xg_dataset_read_h5_image(const void *image, size_t len, const char *name, xg_dataset **out,
                             xg_error *err)
{
    if (!image || !name || !out)
        return xg_error_set(err, XG_EINVAL, "dataset: read_h5_image needs bytes, a name and an output");
    *out = NULL;
    h5_quiet q;
    h5_silence(&q);
    int rc = read_h5_open(xg_h5_open_image(image, len, H5F_ACC_RDONLY), name, out, err);
    h5_restore(&q);
    return rc;
}
