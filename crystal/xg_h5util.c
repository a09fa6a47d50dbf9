/* xg_h5util.c: HDF5 helpers shared by the model file formats (see xg_h5util.h). */
#include "crystal/xg_h5util.h"
#include "crystal/xg_alloc.h"
#include "crystal/xg_fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int xg_h5_fail(xg_error *err, const char *ctx, const char *what, const char *name)
{
    return xg_error_set(err, XG_ELIB, "%s: HDF5 could not %s '%s'", ctx, what, name);
}

/* ================================================================ attributes */

int xg_h5_put_attr(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *v,
                   const char *ctx, xg_error *err)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = sp < 0 ? -1 : H5Acreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Awrite(a, mtype, v);
    if (a >= 0)
        H5Aclose(a);
    if (sp >= 0)
        H5Sclose(sp);
    return rc < 0 ? xg_h5_fail(err, ctx, "write attribute", name) : XG_OK;
}

int xg_h5_put_i64(hid_t loc, const char *name, int64_t v, const char *ctx, xg_error *err)
{
    return xg_h5_put_attr(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v, ctx, err);
}

int xg_h5_put_u64(hid_t loc, const char *name, uint64_t v, const char *ctx, xg_error *err)
{
    return xg_h5_put_attr(loc, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &v, ctx, err);
}

int xg_h5_put_f64(hid_t loc, const char *name, double v, const char *ctx, xg_error *err)
{
    return xg_h5_put_attr(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v, ctx, err);
}

int xg_h5_put_str(hid_t loc, const char *name, const char *v, const char *ctx, xg_error *err)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    int rc;
    if (t < 0 || H5Tset_size(t, strlen(v) + 1) < 0 || H5Tset_strpad(t, H5T_STR_NULLTERM) < 0)
        rc = xg_h5_fail(err, ctx, "make a string type for", name);
    else
        rc = xg_h5_put_attr(loc, name, t, t, v, ctx, err);
    if (t >= 0)
        H5Tclose(t);
    return rc;
}

int xg_h5_get_attr(hid_t loc, const char *grp, const char *name, hid_t mtype, void *v,
                   const char *ctx, xg_error *err)
{
    if (H5Aexists(loc, name) <= 0)
        return xg_error_set(err, XG_EPARSE, "%s: %s lacks attribute '%s'", ctx, grp, name);
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0)
        return xg_h5_fail(err, ctx, "open attribute", name);
    hid_t sp = H5Aget_space(a), ft = H5Aget_type(a);
    hssize_t npts = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    H5T_class_t cls = ft < 0 ? H5T_NO_CLASS : H5Tget_class(ft);
    int rc = XG_OK;
    if (npts != 1 || (cls != H5T_INTEGER && cls != H5T_FLOAT))
        rc = xg_error_set(err, XG_EPARSE, "%s: attribute %s/%s is not a single number", ctx, grp, name);
    else if (H5Aread(a, mtype, v) < 0)
        rc = xg_error_set(err, XG_EPARSE, "%s: attribute %s/%s could not be read as a number", ctx, grp, name);
    if (ft >= 0)
        H5Tclose(ft);
    if (sp >= 0)
        H5Sclose(sp);
    H5Aclose(a);
    return rc;
}

int xg_h5_get_i64(hid_t loc, const char *grp, const char *name, int64_t *v, const char *ctx,
                  xg_error *err)
{
    return xg_h5_get_attr(loc, grp, name, H5T_NATIVE_INT64, v, ctx, err);
}

int xg_h5_get_f64(hid_t loc, const char *grp, const char *name, double *v, const char *ctx,
                  xg_error *err)
{
    return xg_h5_get_attr(loc, grp, name, H5T_NATIVE_DOUBLE, v, ctx, err);
}

int xg_h5_get_int(hid_t loc, const char *grp, const char *name, int lo, int hi, int *v,
                  const char *ctx, xg_error *err)
{
    int64_t x = 0;
    int rc = xg_h5_get_i64(loc, grp, name, &x, ctx, err);
    if (rc)
        return rc;
    if (x < lo || x > hi)
        return xg_error_set(err, XG_EPARSE, "%s: attribute %s/%s = %lld outside %d..%d", ctx, grp,
                            name, (long long)x, lo, hi);
    *v = (int)x;
    return XG_OK;
}

int xg_h5_get_str(hid_t loc, const char *grp, const char *name, char *buf, size_t n,
                  const char *ctx, xg_error *err)
{
    buf[0] = '\0';
    if (H5Aexists(loc, name) <= 0)
        return xg_error_set(err, XG_EPARSE, "%s: %s lacks attribute '%s'", ctx, grp, name);
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0)
        return xg_h5_fail(err, ctx, "open attribute", name);
    hid_t ft = H5Aget_type(a), sp = H5Aget_space(a);
    int rc = XG_OK;
    if (ft < 0 || H5Tget_class(ft) != H5T_STRING || sp < 0 || H5Sget_simple_extent_npoints(sp) != 1) {
        rc = xg_error_set(err, XG_EPARSE, "%s: attribute '%s' is not a string", ctx, name);
    } else if (H5Tis_variable_str(ft) > 0) {
        char *s = NULL;
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        if (H5Aread(a, mt, &s) < 0 || !s)
            rc = xg_error_set(err, XG_EPARSE, "%s: attribute '%s' unreadable", ctx, name);
        else
            snprintf(buf, n, "%s", s);
        if (s)
            H5free_memory(s);
        H5Tclose(mt);
    } else {
        /* One byte more than stored, NUL-terminated: converting a NULLPAD or SPACEPAD string
         * that fills all sz bytes into a NULLTERM type of the same size would drop its last
         * byte to make room for the terminator ('xtalgen-model' read as 'xtalgen-mode'). */
        size_t sz = H5Tget_size(ft);
        char *tmp = sz < SIZE_MAX - 1 ? xg_calloc(sz + 1, 1) : NULL;
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, sz + 1);
        H5Tset_strpad(mt, H5T_STR_NULLTERM);
        if (!tmp)
            rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", ctx);
        else if (H5Aread(a, mt, tmp) < 0)
            rc = xg_error_set(err, XG_EPARSE, "%s: attribute '%s' unreadable", ctx, name);
        else
            snprintf(buf, n, "%s", tmp);
        free(tmp);
        H5Tclose(mt);
    }
    if (sp >= 0)
        H5Sclose(sp);
    if (ft >= 0)
        H5Tclose(ft);
    H5Aclose(a);
    return rc;
}

/* ================================================================ datasets */

hid_t xg_h5_dcpl(void)
{
    hid_t p = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_obj_track_times(p, 0);
    return p;
}

hid_t xg_h5_group_create(hid_t loc, const char *name)
{
    hid_t p = H5Pcreate(H5P_GROUP_CREATE);
    H5Pset_obj_track_times(p, 0);
    hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, p, H5P_DEFAULT);
    H5Pclose(p);
    return g;
}

int xg_h5_put_ds(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int rank,
                 const hsize_t *dims, const void *data, const char *ctx, xg_error *err)
{
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = xg_h5_dcpl();
    hid_t d = sp < 0 ? -1 : H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    hsize_t total = 1;
    for (int i = 0; i < rank; i++)
        total *= dims[i];
    herr_t rc = d < 0 ? -1 : (total ? H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) : 0);
    if (d >= 0)
        H5Dclose(d);
    if (sp >= 0)
        H5Sclose(sp);
    return rc < 0 ? xg_h5_fail(err, ctx, "write dataset", name) : XG_OK;
}

int xg_h5_put_names(hid_t loc, const char *name, const void *names, hsize_t n, size_t len,
                    const char *path, const char *ctx, xg_error *err)
{
    int rc = XG_OK;
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, len);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t dcpl = xg_h5_dcpl();
    hid_t d = H5Dcreate2(loc, name, t, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    if (d < 0 || H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, names) < 0)
        rc = xg_h5_fail(err, ctx, "write dataset", path);
    if (d >= 0)
        H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(t);
    return rc;
}

int xg_h5_get_names(hid_t loc, const char *name, void *names, hsize_t n, size_t len,
                    const char *path, const char *ctx, xg_error *err)
{
    int rc = XG_OK;
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    hid_t ft = d < 0 ? -1 : H5Dget_type(d);
    hid_t sp = d < 0 ? -1 : H5Dget_space(d);
    hssize_t npts = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    if (sp >= 0)
        H5Sclose(sp);
    if (ft < 0 || H5Tget_class(ft) != H5T_STRING || H5Tis_variable_str(ft) > 0) {
        rc = xg_error_set(err, XG_EPARSE, "%s: %s is not fixed-length strings", ctx, path);
    } else if (npts < 0 || (hsize_t)npts != n) {
        /* H5S_ALL reads the whole dataset: a longer one would overrun names */
        rc = xg_error_set(err, XG_EPARSE, "%s: %s has %lld entries, expected %llu", ctx, path,
                          (long long)npts, (unsigned long long)n);
    } else if (n > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, len);
        H5Tset_strpad(mt, H5T_STR_NULLPAD);
        if (H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, names) < 0)
            rc = xg_error_set(err, XG_EPARSE, "%s: %s unreadable", ctx, path);
        H5Tclose(mt);
        for (hsize_t i = 0; i < n; i++)
            ((char *)names)[i * len + len - 1] = '\0';
    }
    if (ft >= 0)
        H5Tclose(ft);
    if (d >= 0)
        H5Dclose(d);
    return rc;
}

int xg_h5_check_stored(hid_t d, const char *path, const char *ctx, xg_error *err)
{
    hid_t sp = H5Dget_space(d), ft = H5Dget_type(d), pl = H5Dget_create_plist(d);
    hssize_t npts = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    size_t esz = ft < 0 ? 0 : H5Tget_size(ft);
    int nfilt = pl < 0 ? -1 : H5Pget_nfilters(pl);
    H5D_layout_t lay = pl < 0 ? H5D_LAYOUT_ERROR : H5Pget_layout(pl);
    hsize_t stored = H5Dget_storage_size(d);
    if (pl >= 0)
        H5Pclose(pl);
    if (ft >= 0)
        H5Tclose(ft);
    if (sp >= 0)
        H5Sclose(sp);
    if (npts < 0 || esz == 0 || nfilt < 0 || lay == H5D_LAYOUT_ERROR)
        return xg_error_set(err, XG_EPARSE, "%s: dataset %s has an unreadable shape or type", ctx,
                            path);
    /* In doubles: the product of a crafted extent and element size may overflow 64 bits. */
    double need = (double)npts * (double)esz;
    if (need == 0 || lay == H5D_COMPACT) /* compact data lives in the header, at most 64 KiB */
        return XG_OK;
    double room = nfilt > 0 ? (double)stored * XG_H5_MAX_EXPANSION : (double)stored;
    if (need > room)
        return xg_error_set(err, XG_EPARSE,
                            "%s: dataset %s declares %lld elements (%.0f bytes) but the file "
                            "stores %llu bytes for it (truncated or crafted file)",
                            ctx, path, (long long)npts, need, (unsigned long long)stored);
    return XG_OK;
}

/* xg_h5_ds_shape, leaving the dataset open in *out on success (one open per read: opening a
 * dataset is most of what reading a small one costs). */
static int ds_open_shape(hid_t loc, const char *path, int rank, hsize_t *dims, hid_t *out,
                         const char *ctx, xg_error *err)
{
    *out = -1;
    if (H5Lexists(loc, path, H5P_DEFAULT) <= 0)
        return xg_error_set(err, XG_EPARSE, "%s: missing dataset %s", ctx, path);
    hid_t d = H5Dopen2(loc, path, H5P_DEFAULT);
    if (d < 0)
        return xg_error_set(err, XG_EPARSE, "%s: %s is not a dataset", ctx, path);
    hid_t sp = H5Dget_space(d);
    int r = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    int rc = XG_OK;
    if (r != rank || rank > 4)
        rc = xg_error_set(err, XG_EPARSE, "%s: dataset %s has rank %d, expected %d", ctx, path, r, rank);
    else if (!(rc = xg_h5_check_stored(d, path, ctx, err)))
        H5Sget_simple_extent_dims(sp, dims, NULL);
    if (sp >= 0)
        H5Sclose(sp);
    if (rc)
        H5Dclose(d);
    else
        *out = d;
    return rc;
}

int xg_h5_ds_shape(hid_t loc, const char *path, int rank, hsize_t *dims, const char *ctx,
                   xg_error *err)
{
    hid_t d;
    int rc = ds_open_shape(loc, path, rank, dims, &d, ctx, err);
    if (!rc)
        H5Dclose(d);
    return rc;
}

int xg_h5_get_ds(hid_t loc, const char *path, hid_t mtype, int rank, const hsize_t *want,
                 void *buf, const char *ctx, xg_error *err)
{
    hsize_t dims[4] = {0};
    hid_t d;
    int rc = ds_open_shape(loc, path, rank, dims, &d, ctx, err);
    if (rc)
        return rc;
    hsize_t total = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] != want[i]) {
            H5Dclose(d);
            return xg_error_set(err, XG_EPARSE,
                                "%s: dataset %s has dimension %d of size %llu, expected %llu "
                                "(a model of another configuration?)",
                                ctx, path, i, (unsigned long long)dims[i], (unsigned long long)want[i]);
        }
        total *= dims[i];
    }
    herr_t r = 0;
    if (total) {
        hid_t ft = H5Dget_type(d);
        H5T_class_t cls = ft < 0 ? H5T_NO_CLASS : H5Tget_class(ft);
        r = -1;
        if (cls == H5T_INTEGER || cls == H5T_FLOAT)
            r = H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
        if (ft >= 0)
            H5Tclose(ft);
    }
    H5Dclose(d);
    if (r < 0)
        return xg_error_set(err, XG_EPARSE, "%s: dataset %s could not be read as numbers", ctx, path);
    return XG_OK;
}

/* ================================================================ files */

int xg_h5_write_atomic(const char *path, xg_h5_filler fill, const void *user, const char *what,
                       xg_error *err)
{
    char tmp[4200];
    xg_atomic_sweep(path); /* a checkpoint rewritten every few minutes must not pile up */
    int rc = xg_atomic_tmpname(path, tmp, sizeof tmp, err);
    if (rc)
        return xg_error_prefix(err, rc, "%s", what);
    H5E_BEGIN_TRY
    {
        hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        if (f < 0) {
            rc = xg_error_set(err, XG_EIO, "%s: cannot create (%s)", tmp, strerror(errno));
        } else {
            rc = fill(f, user, path, err);
            if (H5Fclose(f) < 0 && !rc)
                rc = xg_error_set(err, XG_EIO, "%s: closing the HDF5 file failed (disk full?)", tmp);
        }
    }
    H5E_END_TRY;
    if (rc) {
        unlink(tmp);
        return rc;
    }
    return xg_atomic_rename(tmp, path, err);
}

hid_t xg_h5_open_image(const void *image, size_t len, unsigned flags)
{
    if (!image || !len)
        return -1;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0)
        return -1;
    hid_t f = -1;
    /* The core driver opens an image only under a name that is not an existing file (it
     * checks), and tells two open images apart by name: a path below /dev/null can never
     * exist, and the image's address keeps names of images open at once distinct. */
    char name[64];
    snprintf(name, sizeof name, "/dev/null/xg-image-%p", image);
    H5E_BEGIN_TRY
    {
        if (H5Pset_fapl_core(fapl, 1 << 16, 0) >= 0 && H5Pset_file_image(fapl, (void *)image, len) >= 0)
            f = H5Fopen(name, flags, fapl);
    }
    H5E_END_TRY;
    H5Pclose(fapl);
    return f;
}
