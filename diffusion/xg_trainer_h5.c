/* xg_trainer_h5.c: the shared datasets of a checkpoint's /train group (xg_trainer_h5.h). */
#include "diffusion/xg_trainer_h5.h"

#include <stdlib.h>
#include <string.h>

#include "crystal/xg_h5util.h"

int xg_train_state_write_h5(hid_t g, const xg_train_state *st, const double *sums, int nsums,
                            const char *const *columns, const char *ctx, xg_error *err)
{
    hsize_t four = 4, np = (hsize_t)st->nperm, ns = (hsize_t)nsums;
    hsize_t hd[2] = {(hsize_t)st->nhist, (hsize_t)st->ncols};
    int rc = xg_h5_put_ds(g, "rng_state", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, &four, st->rng, ctx, err);
    rc = rc ? rc : xg_h5_put_ds(g, "perm", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &np, st->perm, ctx, err);
    rc = rc ? rc : xg_h5_put_ds(g, "epoch_sums", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &ns, sums, ctx, err);
    rc = rc ? rc : xg_h5_put_ds(g, "history", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, hd, st->hist, ctx, err);
    if (rc)
        return rc;
    size_t len = 1;
    for (int i = 0; i < st->ncols; i++)
        len += strlen(columns[i]) + 1;
    char *cols = calloc(len, 1);
    if (!cols)
        return xg_error_set(err, XG_ENOMEM, "%s: out of memory", ctx);
    for (int i = 0; i < st->ncols; i++) {
        strcat(cols, columns[i]);
        if (i + 1 < st->ncols)
            strcat(cols, ",");
    }
    hid_t d = H5Dopen2(g, "history", H5P_DEFAULT);
    rc = d < 0 ? xg_h5_fail(err, ctx, "open", "train/history") : xg_h5_put_str(d, "columns", cols, ctx, err);
    if (d >= 0)
        H5Dclose(d);
    free(cols);
    return rc;
}

int xg_train_state_read_h5(hid_t g, xg_train_state *st, double *sums, int nsums,
                           int require_history, const char *ctx, xg_error *err)
{
    hsize_t four = 4, np = 0, ns = (hsize_t)nsums, hd[2] = {0, 0};
    int rc = xg_h5_get_ds(g, "rng_state", H5T_NATIVE_UINT64, 1, &four, st->rng, ctx, err);
    rc = rc ? rc : xg_h5_ds_shape(g, "perm", 1, &np, ctx, err);
    if (!rc && np != (hsize_t)st->nperm)
        rc = xg_error_set(err, XG_EPARSE, "%s: /train/perm has %llu entries, expected %lld", ctx,
                          (unsigned long long)np, (long long)st->nperm);
    rc = rc ? rc : xg_h5_get_ds(g, "perm", H5T_NATIVE_INT64, 1, &np, st->perm, ctx, err);
    rc = rc ? rc : xg_h5_get_ds(g, "epoch_sums", H5T_NATIVE_DOUBLE, 1, &ns, sums, ctx, err);
    if (rc)
        return rc;
    for (int64_t i = 0; i < st->nperm; i++)
        if (st->perm[i] < 0 || st->perm[i] >= st->nperm)
            return xg_error_set(err, XG_EPARSE, "%s: /train/perm is not a permutation (it holds "
                                "%lld, of %lld crystals)", ctx, (long long)st->perm[i],
                                (long long)st->nperm);
    if (!require_history && H5Lexists(g, "history", H5P_DEFAULT) <= 0)
        return XG_OK;
    rc = xg_h5_ds_shape(g, "history", 2, hd, ctx, err);
    if (!rc && (hd[1] != (hsize_t)st->ncols || hd[0] > 10000000))
        rc = xg_error_set(err, XG_EPARSE, "%s: /train/history has shape (%llu, %llu), expected "
                          "(epochs, %d)", ctx, (unsigned long long)hd[0], (unsigned long long)hd[1],
                          st->ncols);
    if (rc || hd[0] == 0)
        return rc;
    free(st->hist);
    st->nhist = 0;
    st->hist = malloc(hd[0] * hd[1] * sizeof(double));
    if (!st->hist)
        return xg_error_set(err, XG_ENOMEM, "%s: out of memory", ctx);
    rc = xg_h5_get_ds(g, "history", H5T_NATIVE_DOUBLE, 2, hd, st->hist, ctx, err);
    st->nhist = rc ? 0 : (int64_t)hd[0];
    return rc;
}
