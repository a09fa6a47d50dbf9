/* xg_model.c: model and checkpoint files in HDF5 (layout in xg_model.h). */
#include "diffusion/xg_model.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "crystal/xg_h5util.h"
#include "diffusion/xg_trainer_h5.h"

#define XG_MODEL_FORMAT "xtalgen-model"

const char *const xg_hist_column_names[XG_HIST_COLS] = {
    "epoch", "step", "lr",
    "train_loss", "train_coord", "train_lattice", "train_type",
    "val_loss", "val_coord", "val_lattice", "val_type",
    "crystals_per_s", "elapsed_s"};

/* ================================================================ stats */

int xg_model_stats_from_dataset(xg_model_stats *st, const xg_dataset *ds, xg_error *err)
{
    memset(st, 0, sizeof *st);
    if (!ds || ds->n <= 0)
        return xg_error_set(err, XG_EINVAL, "model stats: empty dataset");
    int maxn = 0;
    for (int64_t i = 0; i < ds->n; i++) {
        int n = (int)(ds->offsets[i + 1] - ds->offsets[i]);
        if (n > maxn)
            maxn = n;
    }
    st->hist_len = maxn + 1;
    st->natoms_hist = calloc((size_t)st->hist_len, sizeof *st->natoms_hist);
    if (!st->natoms_hist) {
        xg_model_stats_free(st);
        return xg_error_set(err, XG_ENOMEM, "model stats: out of memory");
    }
    double dens = 0;
    for (int64_t i = 0; i < ds->n; i++) {
        int n = (int)(ds->offsets[i + 1] - ds->offsets[i]);
        st->natoms_hist[n]++;
        const double *L = ds->lattices + 9 * i;
        double v = fabs(L[0] * (L[4] * L[8] - L[5] * L[7]) - L[1] * (L[3] * L[8] - L[5] * L[6]) +
                        L[2] * (L[3] * L[7] - L[4] * L[6]));
        if (!(v > 1e-6)) {
            xg_model_stats_free(st);
            return xg_error_set(err, XG_EINVAL, "model stats: structure %lld (%s) has volume %g",
                                (long long)i, ds->ids ? ds->ids[i] : "", v);
        }
        dens += n / v;
    }
    st->avg_density = dens / (double)ds->n;
    st->nstructs = ds->n;
    int rc = xg_model_stats_set_scalers(st, ds, NULL, ds->n, err);
    if (rc)
        xg_model_stats_free(st);
    return rc;
}

static void free_scalers(xg_model_stats *st)
{
    free(st->scaler_names);
    free(st->scaler_mean);
    free(st->scaler_std);
    free(st->scaler_count);
    free(st->scaler_min);
    free(st->scaler_max);
    st->scaler_names = NULL;
    st->scaler_mean = st->scaler_std = st->scaler_min = st->scaler_max = NULL;
    st->scaler_count = NULL;
    st->nscalers = 0;
}

int xg_model_stats_set_scalers(xg_model_stats *st, const xg_dataset *ds, const int64_t *rows,
                               int64_t n, xg_error *err)
{
    free_scalers(st);
    int k = ds->nprops;
    if (k <= 0)
        return XG_OK;
    size_t kk = (size_t)k;
    st->scaler_names = calloc(kk, sizeof *st->scaler_names);
    st->scaler_mean = calloc(kk, sizeof(double));
    st->scaler_std = calloc(kk, sizeof(double));
    st->scaler_count = calloc(kk, sizeof(int64_t));
    st->scaler_min = calloc(kk, sizeof(double));
    st->scaler_max = calloc(kk, sizeof(double));
    if (!st->scaler_names || !st->scaler_mean || !st->scaler_std || !st->scaler_count ||
        !st->scaler_min || !st->scaler_max) {
        free_scalers(st);
        return xg_error_set(err, XG_ENOMEM, "model stats: out of memory");
    }
    st->nscalers = k;
    if (!rows)
        n = ds->n;
    for (int c = 0; c < k; c++) {
        snprintf(st->scaler_names[c], XG_PROP_NAME_LEN, "%s", ds->prop_names[c]);
        double s = 0, s2 = 0, lo = INFINITY, hi = -INFINITY;
        long cnt = 0;
        for (int64_t b = 0; b < n; b++) {
            double v = ds->props[(rows ? rows[b] : b) * k + c];
            if (isnan(v))
                continue; /* missing is not zero */
            s += v;
            cnt++;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        double mean = cnt ? s / cnt : NAN;
        for (int64_t b = 0; b < n; b++) {
            double v = ds->props[(rows ? rows[b] : b) * k + c];
            if (!isnan(v))
                s2 += (v - mean) * (v - mean);
        }
        double sd = cnt > 1 ? sqrt(s2 / (cnt - 1)) : (cnt ? 1.0 : NAN);
        if (cnt > 1 && !(sd > 0))
            sd = 1.0; /* a constant column still needs a usable scale */
        st->scaler_mean[c] = mean;
        st->scaler_std[c] = sd;
        st->scaler_count[c] = cnt;
        st->scaler_min[c] = cnt ? lo : NAN;
        st->scaler_max[c] = cnt ? hi : NAN;
    }
    return XG_OK;
}

int xg_model_stats_copy_labels(xg_model_stats *st, const xg_model_stats *from, xg_error *err)
{
    if (!from->scaler_count)
        return xg_error_set(err, XG_EINVAL, "model stats: no label counts to copy");
    for (int c = 0; c < st->nscalers; c++)
        if (xg_model_stats_find(from, st->scaler_names[c]) < 0)
            return xg_error_set(err, XG_EINVAL, "model stats: no label counts for '%s'",
                                st->scaler_names[c]);
    size_t k = st->nscalers > 0 ? (size_t)st->nscalers : 1;
    int64_t *cnt = calloc(k, sizeof *cnt);
    double *lo = calloc(k, sizeof *lo), *hi = calloc(k, sizeof *hi);
    if (!cnt || !lo || !hi) {
        free(cnt);
        free(lo);
        free(hi);
        return xg_error_set(err, XG_ENOMEM, "model stats: out of memory");
    }
    for (int c = 0; c < st->nscalers; c++) {
        int j = xg_model_stats_find(from, st->scaler_names[c]);
        cnt[c] = from->scaler_count[j];
        lo[c] = from->scaler_min[j];
        hi[c] = from->scaler_max[j];
    }
    free(st->scaler_count);
    free(st->scaler_min);
    free(st->scaler_max);
    st->scaler_count = cnt;
    st->scaler_min = lo;
    st->scaler_max = hi;
    return XG_OK;
}

int xg_model_stats_find(const xg_model_stats *st, const char *name)
{
    for (int c = 0; c < st->nscalers; c++)
        if (!strcmp(st->scaler_names[c], name))
            return c;
    return -1;
}

void xg_model_stats_free(xg_model_stats *st)
{
    if (!st)
        return;
    free(st->natoms_hist);
    free_scalers(st);
    memset(st, 0, sizeof *st);
}

int xg_model_sample_natoms(const xg_model_stats *st, xg_rng *rng)
{
    int64_t total = 0;
    for (int n = 1; n < st->hist_len; n++) {
        if (st->natoms_hist[n] < 0 || st->natoms_hist[n] > INT64_MAX - total)
            return 0; /* not a histogram (loading refuses such files) */
        total += st->natoms_hist[n];
    }
    if (total <= 0)
        return 0;
    int64_t r = (int64_t)xg_rng_below(rng, (uint64_t)total);
    for (int n = 1; n < st->hist_len; n++) {
        r -= st->natoms_hist[n];
        if (r < 0)
            return n;
    }
    return st->hist_len - 1;
}

static hid_t make_group(hid_t loc, const char *name)
{
    return xg_h5_group_create(loc, name);
}

/* ================================================================ writing */

static int write_params(hid_t file, const char *grp, const xg_denoiser *net, const float *v,
                        const char *ctx, xg_error *err)
{
    hid_t g = make_group(file, grp);
    if (g < 0)
        return xg_h5_fail(err, ctx, "create group", grp);
    int rc = XG_OK, n = xg_denoiser_param_count(net);
    for (int i = 0; i < n && !rc; i++) {
        size_t off;
        int rows, cols;
        const char *name = xg_denoiser_param_info(net, i, &off, &rows, &cols);
        if (!name || rows < 0 || cols < 0) {
            rc = xg_error_set(err, XG_EINVAL, "%s: denoiser parameter %d has no name/shape", ctx, i);
            break;
        }
        hsize_t dims[2] = {(hsize_t)rows, (hsize_t)cols};
        rc = xg_h5_put_ds(g, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dims, v + off, ctx, err);
    }
    H5Gclose(g);
    return rc;
}

static int write_config(hid_t file, const xg_denoiser_config *c, const xg_noise_params *np,
                        const xg_hparams *h, const char *ctx, xg_error *err)
{
    hid_t g = make_group(file, "config");
    if (g < 0)
        return xg_h5_fail(err, ctx, "create group", "config");
    int rc = 0;
    rc = rc ? rc : xg_h5_put_i64(g, "hidden", c->hidden, ctx, err);
    rc = rc ? rc : xg_h5_put_i64(g, "layers", c->layers, ctx, err);
    rc = rc ? rc : xg_h5_put_i64(g, "n_freq", c->n_freq, ctx, err);
    rc = rc ? rc : xg_h5_put_i64(g, "time_dim", c->time_dim, ctx, err);
    rc = rc ? rc : xg_h5_put_i64(g, "cond_dim", c->cond_dim, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "noise_sigma_min", np->sigma_min, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "noise_sigma_max", np->sigma_max, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "noise_avg_density", np->avg_density, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "noise_lattice_c", np->lattice_c, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "noise_cos_s", np->cos_s, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "noise_t_min", np->t_min, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "noise_w_coord", np->w_coord, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "noise_w_lattice", np->w_lattice, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "noise_w_type", np->w_type, ctx, err);
    if (np->csp) /* absent in every other model: their files stay as they were */
        rc = rc ? rc : xg_h5_put_i64(g, "noise_csp", 1, ctx, err);
    if (np->class_mask > 0) /* the same: only models trained with element-wise masking */
        rc = rc ? rc : xg_h5_put_f64(g, "noise_class_mask", np->class_mask, ctx, err);
    rc = rc ? rc : xg_h5_put_i64(g, "train_batch", h->batch, ctx, err);
    rc = rc ? rc : xg_h5_put_i64(g, "train_epochs", h->epochs, ctx, err);
    rc = rc ? rc : xg_h5_put_i64(g, "train_warmup_steps", h->warmup_steps, ctx, err);
    rc = rc ? rc : xg_h5_put_i64(g, "train_threads", h->threads, ctx, err);
    rc = rc ? rc : xg_h5_put_i64(g, "train_max_structures", h->max_structures, ctx, err);
    rc = rc ? rc : xg_h5_put_u64(g, "train_seed", h->seed, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "train_hours", h->hours, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "train_lr", h->lr, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "train_lr_min", h->lr_min, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "train_weight_decay", h->weight_decay, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "train_clip_norm", h->clip_norm, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "train_ema_decay", h->ema_decay, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "train_beta1", h->beta1, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "train_beta2", h->beta2, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "train_adam_eps", h->adam_eps, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "train_checkpoint_minutes", h->checkpoint_minutes, ctx, err);
    H5Gclose(g);
    return rc;
}

static int write_stats(hid_t file, const xg_model_stats *st, const char *ctx, xg_error *err)
{
    hid_t g = make_group(file, "stats");
    if (g < 0)
        return xg_h5_fail(err, ctx, "create group", "stats");
    int rc = xg_h5_put_f64(g, "avg_density", st->avg_density, ctx, err);
    rc = rc ? rc : xg_h5_put_i64(g, "nstructs", st->nstructs, ctx, err);
    hsize_t n = (hsize_t)(st->hist_len > 0 ? st->hist_len : 0);
    rc = rc ? rc : xg_h5_put_ds(g, "natoms_hist", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &n, st->natoms_hist, ctx, err);
    if (!rc && st->nscalers > 0) {
        hsize_t k = (hsize_t)st->nscalers;
        rc = xg_h5_put_names(g, "scaler_names", st->scaler_names, k, XG_PROP_NAME_LEN,
                             "stats/scaler_names", ctx, err);
        rc = rc ? rc : xg_h5_put_ds(g, "scaler_mean", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &k, st->scaler_mean, ctx, err);
        rc = rc ? rc : xg_h5_put_ds(g, "scaler_std", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &k, st->scaler_std, ctx, err);
        if (st->scaler_count && st->scaler_min && st->scaler_max) { /* else: not recorded */
            rc = rc ? rc : xg_h5_put_ds(g, "scaler_count", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &k, st->scaler_count, ctx, err);
            rc = rc ? rc : xg_h5_put_ds(g, "scaler_min", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &k, st->scaler_min, ctx, err);
            rc = rc ? rc : xg_h5_put_ds(g, "scaler_max", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &k, st->scaler_max, ctx, err);
        }
    }
    H5Gclose(g);
    return rc;
}

static int write_state(hid_t file, const xg_denoiser *net, const xg_train_state *s,
                       const char *ctx, xg_error *err)
{
    hid_t g = make_group(file, "optimizer");
    if (g < 0)
        return xg_h5_fail(err, ctx, "create group", "optimizer");
    int rc = xg_h5_put_i64(g, "step", s->step, ctx, err);
    H5Gclose(g);
    rc = rc ? rc : write_params(file, "optimizer/m", net, s->adam_m, ctx, err);
    rc = rc ? rc : write_params(file, "optimizer/v", net, s->adam_v, ctx, err);
    if (rc)
        return rc;
    g = make_group(file, "train");
    if (g < 0)
        return xg_h5_fail(err, ctx, "create group", "train");
    rc = xg_h5_put_i64(g, "epoch", s->epoch, ctx, err);
    rc = rc ? rc : xg_h5_put_i64(g, "step_in_epoch", s->step_in_epoch, ctx, err);
    rc = rc ? rc : xg_h5_put_i64(g, "horizon", s->horizon, ctx, err);
    rc = rc ? rc : xg_h5_put_i64(g, "threads", s->threads, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "elapsed", s->elapsed, ctx, err);
    rc = rc ? rc : xg_h5_put_u64(g, "data_hash", s->data_hash, ctx, err);
    rc = rc ? rc : xg_train_state_write_h5(g, s, s->sums, XG_SUMS, xg_hist_column_names, ctx, err);
    H5Gclose(g);
    return rc;
}

/* /condition (layout in xg_model.h). */
static int write_condition(hid_t file, const xg_cond_spec *cs, const char *ctx, xg_error *err)
{
    hid_t g = make_group(file, "condition");
    if (g < 0)
        return xg_h5_fail(err, ctx, "create group", "condition");
    int k = cs->n;
    int64_t kind[XG_COND_MAX], off[XG_COND_MAX], dim[XG_COND_MAX], nf[XG_COND_MAX];
    double mean[XG_COND_MAX], sd[XG_COND_MAX], f0[XG_COND_MAX], fr[XG_COND_MAX];
    char names[XG_COND_MAX][XG_PROP_NAME_LEN];
    memset(names, 0, sizeof names);
    for (int i = 0; i < k; i++) {
        const xg_cond_item *it = &cs->item[i];
        snprintf(names[i], XG_PROP_NAME_LEN, "%s", it->name);
        kind[i] = it->kind;
        off[i] = it->offset;
        dim[i] = it->dim;
        nf[i] = it->n_freq;
        mean[i] = it->mean;
        sd[i] = it->std;
        f0[i] = it->freq0;
        fr[i] = it->freq_ratio;
    }
    int rc = xg_h5_put_i64(g, "count", k, ctx, err);
    rc = rc ? rc : xg_h5_put_i64(g, "dim", cs->dim, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "drop", cs->drop, ctx, err);
    rc = rc ? rc : xg_h5_put_str(g, "base", cs->base, ctx, err);
    hsize_t n = (hsize_t)k;
    rc = rc ? rc : xg_h5_put_names(g, "names", names, n, XG_PROP_NAME_LEN, "condition/names", ctx, err);
    rc = rc ? rc : xg_h5_put_ds(g, "kind", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &n, kind, ctx, err);
    rc = rc ? rc : xg_h5_put_ds(g, "offset", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &n, off, ctx, err);
    rc = rc ? rc : xg_h5_put_ds(g, "dim", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &n, dim, ctx, err);
    rc = rc ? rc : xg_h5_put_ds(g, "n_freq", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &n, nf, ctx, err);
    rc = rc ? rc : xg_h5_put_ds(g, "mean", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &n, mean, ctx, err);
    rc = rc ? rc : xg_h5_put_ds(g, "std", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &n, sd, ctx, err);
    rc = rc ? rc : xg_h5_put_ds(g, "freq0", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &n, f0, ctx, err);
    rc = rc ? rc : xg_h5_put_ds(g, "freq_ratio", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &n, fr, ctx, err);
    H5Gclose(g);
    return rc;
}

static int fill_model(hid_t f, const void *user, const char *path, xg_error *err)
{
    const xg_model_desc *m = user;
    int rc = xg_h5_put_str(f, "format", XG_MODEL_FORMAT, path, err);
    rc = rc ? rc : xg_h5_put_i64(f, "version", XG_MODEL_VERSION, path, err);
    rc = rc ? rc : xg_h5_put_str(f, "kind", m->state ? "checkpoint" : "model", path, err);
    rc = rc ? rc : write_config(f, xg_denoiser_get_config(m->net), m->noise, m->hp, path, err);
    rc = rc ? rc : write_params(f, "weights", m->net, m->weights, path, err);
    rc = rc ? rc : write_params(f, "ema", m->net, m->ema, path, err);
    rc = rc ? rc : write_stats(f, m->stats, path, err);
    if (!rc && m->cond && m->cond->n > 0)
        rc = write_condition(f, m->cond, path, err);
    if (!rc && m->state)
        rc = write_state(f, m->net, m->state, path, err);
    return rc;
}

int xg_model_write(const char *path, const xg_model_desc *d, xg_error *err)
{
    if (!path || !d || !d->net || !d->weights || !d->ema || !d->noise || !d->hp || !d->stats)
        return xg_error_set(err, XG_EINVAL, "model write: missing argument");
    const xg_denoiser *net = d->net;
    const xg_cond_spec *cond = d->cond;
    if (cond && cond->n > 0) {
        int rc = xg_cond_spec_check(cond, err);
        if (rc)
            return xg_error_prefix(err, rc, "model write %s", path);
        if (cond->dim != xg_denoiser_get_config(net)->cond_dim)
            return xg_error_set(err, XG_EINVAL, "model write %s: conditions span %d entries, the "
                                "network's cond_dim is %d", path, cond->dim,
                                xg_denoiser_get_config(net)->cond_dim);
    }
    const xg_train_state *state = d->state;
    if (state && state->nparams != xg_denoiser_num_params(net))
        return xg_error_set(err, XG_EINVAL, "model write: optimizer state has %zu parameters, the network %zu",
                            state->nparams, xg_denoiser_num_params(net));
    if (state && (state->ncols != XG_HIST_COLS || (state->nhist > 0 && !state->hist)))
        return xg_error_set(err, XG_EINVAL, "model write: the loss history has %d columns, a "
                            "model file's has %d", state->ncols, XG_HIST_COLS);
    return xg_h5_write_atomic(path, fill_model, d, "model write", err);
}

/* ================================================================ reading */

static int read_params(hid_t file, const char *grp, const xg_denoiser *net, float *v,
                       const char *ctx, xg_error *err)
{
    int n = xg_denoiser_param_count(net);
    char path[512];
    for (int i = 0; i < n; i++) {
        size_t off;
        int rows, cols;
        const char *name = xg_denoiser_param_info(net, i, &off, &rows, &cols);
        snprintf(path, sizeof path, "%s/%s", grp, name ? name : "?");
        hsize_t want[2] = {(hsize_t)rows, (hsize_t)cols};
        int rc = xg_h5_get_ds(file, path, H5T_NATIVE_FLOAT, 2, want, v + off, ctx, err);
        if (rc)
            return rc;
    }
    size_t np = xg_denoiser_num_params(net);
    for (size_t i = 0; i < np; i++)
        if (!isfinite(v[i]))
            return xg_error_set(err, XG_ENUMERIC, "%s: /%s holds non-finite values", ctx, grp);
    return XG_OK;
}

static int read_config(hid_t file, xg_model *m, const char *ctx, xg_error *err)
{
    if (H5Lexists(file, "config", H5P_DEFAULT) <= 0)
        return xg_error_set(err, XG_EPARSE, "%s: missing group /config", ctx);
    hid_t g = H5Gopen2(file, "config", H5P_DEFAULT);
    if (g < 0)
        return xg_error_set(err, XG_EPARSE, "%s: /config is not a group", ctx);
    const char *G = "/config";
    xg_denoiser_config *c = &m->cfg;
    xg_noise_params *np = &m->noise;
    xg_hparams *h = &m->hp;
    xg_hparams_default(h);
    int64_t i64 = 0;
    int rc = 0;
    rc = rc ? rc : xg_h5_get_int(g, G, "hidden", -INT_MAX, INT_MAX, &c->hidden, ctx, err);
    rc = rc ? rc : xg_h5_get_int(g, G, "layers", -INT_MAX, INT_MAX, &c->layers, ctx, err);
    rc = rc ? rc : xg_h5_get_int(g, G, "n_freq", -INT_MAX, INT_MAX, &c->n_freq, ctx, err);
    rc = rc ? rc : xg_h5_get_int(g, G, "time_dim", -INT_MAX, INT_MAX, &c->time_dim, ctx, err);
    rc = rc ? rc : xg_h5_get_int(g, G, "cond_dim", -INT_MAX, INT_MAX, &c->cond_dim, ctx, err);
    rc = rc ? rc : xg_h5_get_f64(g, G, "noise_sigma_min", &np->sigma_min, ctx, err);
    rc = rc ? rc : xg_h5_get_f64(g, G, "noise_sigma_max", &np->sigma_max, ctx, err);
    rc = rc ? rc : xg_h5_get_f64(g, G, "noise_avg_density", &np->avg_density, ctx, err);
    rc = rc ? rc : xg_h5_get_f64(g, G, "noise_lattice_c", &np->lattice_c, ctx, err);
    rc = rc ? rc : xg_h5_get_f64(g, G, "noise_cos_s", &np->cos_s, ctx, err);
    rc = rc ? rc : xg_h5_get_f64(g, G, "noise_t_min", &np->t_min, ctx, err);
    rc = rc ? rc : xg_h5_get_f64(g, G, "noise_w_coord", &np->w_coord, ctx, err);
    rc = rc ? rc : xg_h5_get_f64(g, G, "noise_w_lattice", &np->w_lattice, ctx, err);
    rc = rc ? rc : xg_h5_get_f64(g, G, "noise_w_type", &np->w_type, ctx, err);
    np->csp = 0;
    if (!rc && H5Aexists(g, "noise_csp") > 0)
        rc = xg_h5_get_int(g, G, "noise_csp", 0, 1, &np->csp, ctx, err);
    np->class_mask = 0.0;
    if (!rc && H5Aexists(g, "noise_class_mask") > 0)
        rc = xg_h5_get_f64(g, G, "noise_class_mask", &np->class_mask, ctx, err);
    rc = rc ? rc : xg_h5_get_int(g, G, "train_batch", -INT_MAX, INT_MAX, &h->batch, ctx, err);
    rc = rc ? rc : xg_h5_get_int(g, G, "train_epochs", -INT_MAX, INT_MAX, &h->epochs, ctx, err);
    rc = rc ? rc : xg_h5_get_i64(g, G, "train_warmup_steps", &i64, ctx, err);
    h->warmup_steps = (long)i64;
    rc = rc ? rc : xg_h5_get_int(g, G, "train_threads", -INT_MAX, INT_MAX, &h->threads, ctx, err);
    rc = rc ? rc : xg_h5_get_i64(g, G, "train_max_structures", &i64, ctx, err);
    h->max_structures = (long)i64;
    rc = rc ? rc : xg_h5_get_attr(g, G, "train_seed", H5T_NATIVE_UINT64, &h->seed, ctx, err);
    rc = rc ? rc : xg_h5_get_f64(g, G, "train_hours", &h->hours, ctx, err);
    rc = rc ? rc : xg_h5_get_f64(g, G, "train_lr", &h->lr, ctx, err);
    rc = rc ? rc : xg_h5_get_f64(g, G, "train_lr_min", &h->lr_min, ctx, err);
    rc = rc ? rc : xg_h5_get_f64(g, G, "train_weight_decay", &h->weight_decay, ctx, err);
    rc = rc ? rc : xg_h5_get_f64(g, G, "train_clip_norm", &h->clip_norm, ctx, err);
    rc = rc ? rc : xg_h5_get_f64(g, G, "train_ema_decay", &h->ema_decay, ctx, err);
    rc = rc ? rc : xg_h5_get_f64(g, G, "train_beta1", &h->beta1, ctx, err);
    rc = rc ? rc : xg_h5_get_f64(g, G, "train_beta2", &h->beta2, ctx, err);
    rc = rc ? rc : xg_h5_get_f64(g, G, "train_adam_eps", &h->adam_eps, ctx, err);
    rc = rc ? rc : xg_h5_get_f64(g, G, "train_checkpoint_minutes", &h->checkpoint_minutes, ctx, err);
    H5Gclose(g);
    if (rc)
        return rc;
    /* Sanity limits before anything is allocated from these numbers. */
    if (c->hidden < 1 || c->hidden > 65536 || c->layers < 0 || c->layers > 1024 || c->n_freq < 0 ||
        c->n_freq > 1024 || c->time_dim < 0 || c->time_dim > 65536 || c->cond_dim < 0 ||
        c->cond_dim > 65536)
        return xg_error_set(err, XG_EPARSE,
                            "%s: implausible network configuration (hidden %d, layers %d, n_freq %d, "
                            "time_dim %d, cond_dim %d)",
                            ctx, c->hidden, c->layers, c->n_freq, c->time_dim, c->cond_dim);
    rc = xg_noise_params_check(np, err);
    if (rc)
        xg_error_prefix(err, rc, "%s: /config", ctx);
    return rc;
}

/* The optional label counts and ranges of /stats (files from before them have none: the
 * arrays stay NULL, "not recorded"). All three or none, each of the scalers' length. */
static int read_label_stats(hid_t g, xg_model_stats *st, hsize_t k, const char *ctx, xg_error *err)
{
    int have = (H5Lexists(g, "scaler_count", H5P_DEFAULT) > 0) +
               (H5Lexists(g, "scaler_min", H5P_DEFAULT) > 0) +
               (H5Lexists(g, "scaler_max", H5P_DEFAULT) > 0);
    if (have == 0)
        return XG_OK;
    if (have != 3)
        return xg_error_set(err, XG_EPARSE, "%s: /stats has only some of scaler_count, scaler_min "
                            "and scaler_max", ctx);
    st->scaler_count = calloc(k ? k : 1, sizeof(int64_t));
    st->scaler_min = calloc(k ? k : 1, sizeof(double));
    st->scaler_max = calloc(k ? k : 1, sizeof(double));
    if (!st->scaler_count || !st->scaler_min || !st->scaler_max)
        return xg_error_set(err, XG_ENOMEM, "%s: out of memory", ctx);
    int rc = xg_h5_get_ds(g, "scaler_count", H5T_NATIVE_INT64, 1, &k, st->scaler_count, ctx, err);
    rc = rc ? rc : xg_h5_get_ds(g, "scaler_min", H5T_NATIVE_DOUBLE, 1, &k, st->scaler_min, ctx, err);
    rc = rc ? rc : xg_h5_get_ds(g, "scaler_max", H5T_NATIVE_DOUBLE, 1, &k, st->scaler_max, ctx, err);
    for (hsize_t c = 0; c < k && !rc; c++)
        if (st->scaler_count[c] < 0 || st->scaler_count[c] > st->nstructs)
            rc = xg_error_set(err, XG_EPARSE, "%s: /stats/scaler_count[%llu] = %lld is not in "
                              "0..%lld (the training crystals)", ctx, (unsigned long long)c,
                              (long long)st->scaler_count[c], (long long)st->nstructs);
    return rc;
}

static int read_stats(hid_t file, xg_model_stats *st, const char *ctx, xg_error *err)
{
    if (H5Lexists(file, "stats", H5P_DEFAULT) <= 0)
        return xg_error_set(err, XG_EPARSE, "%s: missing group /stats", ctx);
    hid_t g = H5Gopen2(file, "stats", H5P_DEFAULT);
    if (g < 0)
        return xg_error_set(err, XG_EPARSE, "%s: /stats is not a group", ctx);
    int rc = xg_h5_get_f64(g, "/stats", "avg_density", &st->avg_density, ctx, err);
    rc = rc ? rc : xg_h5_get_i64(g, "/stats", "nstructs", &st->nstructs, ctx, err);
    hsize_t dims[2] = {0};
    rc = rc ? rc : xg_h5_ds_shape(g, "natoms_hist", 1, dims, ctx, err);
    if (!rc && dims[0] > 1000000)
        rc = xg_error_set(err, XG_EPARSE, "%s: /stats/natoms_hist is implausibly long", ctx);
    if (!rc) {
        st->hist_len = (int)dims[0];
        st->natoms_hist = calloc(dims[0] ? dims[0] : 1, sizeof(int64_t));
        rc = st->natoms_hist ? xg_h5_get_ds(g, "natoms_hist", H5T_NATIVE_INT64, 1, dims, st->natoms_hist, ctx, err)
                             : xg_error_set(err, XG_ENOMEM, "%s: out of memory", ctx);
    }
    if (!rc) {
        /* xg_model_sample_natoms draws below the total: it must be a valid int64 */
        int64_t total = 0;
        for (int i = 0; i < st->hist_len && !rc; i++) {
            if (st->natoms_hist[i] < 0)
                rc = xg_error_set(err, XG_EPARSE, "%s: /stats/natoms_hist has a negative count", ctx);
            else if (i > 0 && st->natoms_hist[i] > INT64_MAX - total)
                rc = xg_error_set(err, XG_EPARSE, "%s: /stats/natoms_hist counts sum past %lld",
                                  ctx, (long long)INT64_MAX);
            else if (i > 0)
                total += st->natoms_hist[i];
        }
    }
    if (!rc && H5Lexists(g, "scaler_names", H5P_DEFAULT) > 0) {
        rc = xg_h5_ds_shape(g, "scaler_names", 1, dims, ctx, err);
        if (!rc && dims[0] > 100000)
            rc = xg_error_set(err, XG_EPARSE, "%s: too many property scalers", ctx);
        if (!rc) {
            size_t k = dims[0];
            st->nscalers = (int)k;
            st->scaler_names = calloc(k ? k : 1, sizeof *st->scaler_names);
            st->scaler_mean = calloc(k ? k : 1, sizeof(double));
            st->scaler_std = calloc(k ? k : 1, sizeof(double));
            if (!st->scaler_names || !st->scaler_mean || !st->scaler_std)
                rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", ctx);
            rc = rc ? rc : xg_h5_get_names(g, "scaler_names", st->scaler_names, k, XG_PROP_NAME_LEN,
                                           "/stats/scaler_names", ctx, err);
            hsize_t kd = k;
            rc = rc ? rc : xg_h5_get_ds(g, "scaler_mean", H5T_NATIVE_DOUBLE, 1, &kd, st->scaler_mean, ctx, err);
            rc = rc ? rc : xg_h5_get_ds(g, "scaler_std", H5T_NATIVE_DOUBLE, 1, &kd, st->scaler_std, ctx, err);
            rc = rc ? rc : read_label_stats(g, st, kd, ctx, err);
        }
    }
    H5Gclose(g);
    return rc;
}

static int read_condition(hid_t file, xg_cond_spec *cs, int cond_dim, const char *ctx, xg_error *err)
{
    xg_cond_spec_init(cs);
    if (H5Lexists(file, "condition", H5P_DEFAULT) <= 0)
        return XG_OK; /* an unconditional model (or one from before conditions existed) */
    hid_t g = H5Gopen2(file, "condition", H5P_DEFAULT);
    if (g < 0)
        return xg_error_set(err, XG_EPARSE, "%s: /condition is not a group", ctx);
    const char *G = "/condition";
    int64_t count = 0, dim = 0;
    int rc = xg_h5_get_i64(g, G, "count", &count, ctx, err);
    rc = rc ? rc : xg_h5_get_i64(g, G, "dim", &dim, ctx, err);
    rc = rc ? rc : xg_h5_get_f64(g, G, "drop", &cs->drop, ctx, err);
    if (!rc && (count < 1 || count > XG_COND_MAX || dim != cond_dim))
        rc = xg_error_set(err, XG_EPARSE, "%s: /condition has %lld conditions over %lld entries; "
                          "expected 1..%d over /config cond_dim = %d", ctx, (long long)count,
                          (long long)dim, XG_COND_MAX, cond_dim);
    if (!rc && H5Aexists(g, "base") > 0 && xg_h5_get_str(g, G, "base", cs->base, sizeof cs->base, ctx, err))
        rc = xg_error_set(err, XG_EPARSE, "%s: /condition attribute 'base' is not a string", ctx);
    hsize_t n = (hsize_t)count;
    int64_t kind[XG_COND_MAX], off[XG_COND_MAX], dm[XG_COND_MAX], nf[XG_COND_MAX];
    double mean[XG_COND_MAX], sd[XG_COND_MAX], f0[XG_COND_MAX], fr[XG_COND_MAX];
    char names[XG_COND_MAX][XG_PROP_NAME_LEN];
    memset(names, 0, sizeof names);
    if (!rc) {
        hsize_t nd = 0;
        rc = xg_h5_ds_shape(g, "names", 1, &nd, ctx, err);
        if (!rc && nd != n)
            rc = xg_error_set(err, XG_EPARSE, "%s: /condition/names has %llu entries, count is %lld", ctx,
                              (unsigned long long)nd, (long long)count);
    }
    rc = rc ? rc : xg_h5_get_names(g, "names", names, n, XG_PROP_NAME_LEN, "/condition/names", ctx, err);
    rc = rc ? rc : xg_h5_get_ds(g, "kind", H5T_NATIVE_INT64, 1, &n, kind, ctx, err);
    rc = rc ? rc : xg_h5_get_ds(g, "offset", H5T_NATIVE_INT64, 1, &n, off, ctx, err);
    rc = rc ? rc : xg_h5_get_ds(g, "dim", H5T_NATIVE_INT64, 1, &n, dm, ctx, err);
    rc = rc ? rc : xg_h5_get_ds(g, "n_freq", H5T_NATIVE_INT64, 1, &n, nf, ctx, err);
    rc = rc ? rc : xg_h5_get_ds(g, "mean", H5T_NATIVE_DOUBLE, 1, &n, mean, ctx, err);
    rc = rc ? rc : xg_h5_get_ds(g, "std", H5T_NATIVE_DOUBLE, 1, &n, sd, ctx, err);
    rc = rc ? rc : xg_h5_get_ds(g, "freq0", H5T_NATIVE_DOUBLE, 1, &n, f0, ctx, err);
    rc = rc ? rc : xg_h5_get_ds(g, "freq_ratio", H5T_NATIVE_DOUBLE, 1, &n, fr, ctx, err);
    H5Gclose(g);
    if (rc)
        return rc;
    cs->n = (int)count;
    cs->dim = (int)dim;
    for (int i = 0; i < cs->n; i++) {
        xg_cond_item *it = &cs->item[i];
        memcpy(it->name, names[i], XG_PROP_NAME_LEN);
        it->name[XG_PROP_NAME_LEN - 1] = '\0';
        /* Range-check before narrowing: the check below then sees exact values. */
        if (kind[i] < 0 || kind[i] > 16 || off[i] < 0 || off[i] > 65536 || dm[i] < 0 ||
            dm[i] > 65536 || nf[i] < 0 || nf[i] > 65536)
            return xg_error_set(err, XG_EPARSE, "%s: /condition entry %d is out of range", ctx, i);
        it->kind = (int)kind[i];
        it->offset = (int)off[i];
        it->dim = (int)dm[i];
        it->n_freq = (int)nf[i];
        it->mean = mean[i];
        it->std = sd[i];
        it->freq0 = f0[i];
        it->freq_ratio = fr[i];
    }
    rc = xg_cond_spec_check(cs, err);
    if (rc) {
        xg_cond_spec_init(cs);
        /* a bad file, whatever the check called it */
        return xg_error_prefix(err, XG_EPARSE, "%s: /condition", ctx);
    }
    return XG_OK;
}

static int read_state(hid_t file, const xg_denoiser *net, xg_train_state **out, const char *ctx,
                      xg_error *err)
{
    if (H5Lexists(file, "optimizer", H5P_DEFAULT) <= 0 || H5Lexists(file, "train", H5P_DEFAULT) <= 0)
        return xg_error_set(err, XG_EPARSE,
                            "%s: not a checkpoint (no /optimizer and /train groups); a final model "
                            "file cannot be resumed",
                            ctx);
    hsize_t dims[2] = {0};
    int rc = xg_h5_ds_shape(file, "train/perm", 1, dims, ctx, err);
    if (rc)
        return rc;
    xg_train_state *s = xg_train_state_alloc(xg_denoiser_num_params(net), (int64_t)dims[0], XG_HIST_COLS, 0, err);
    if (!s)
        return err ? err->code : XG_ENOMEM;
    s->threads = 0;
    hid_t g = H5Gopen2(file, "optimizer", H5P_DEFAULT);
    rc = g < 0 ? xg_error_set(err, XG_EPARSE, "%s: /optimizer is not a group", ctx)
               : xg_h5_get_i64(g, "/optimizer", "step", &s->step, ctx, err);
    if (g >= 0)
        H5Gclose(g);
    rc = rc ? rc : read_params(file, "optimizer/m", net, s->adam_m, ctx, err);
    rc = rc ? rc : read_params(file, "optimizer/v", net, s->adam_v, ctx, err);
    g = rc ? -1 : H5Gopen2(file, "train", H5P_DEFAULT);
    if (!rc && g < 0)
        rc = xg_error_set(err, XG_EPARSE, "%s: /train is not a group", ctx);
    rc = rc ? rc : xg_h5_get_i64(g, "/train", "epoch", &s->epoch, ctx, err);
    rc = rc ? rc : xg_h5_get_i64(g, "/train", "step_in_epoch", &s->step_in_epoch, ctx, err);
    rc = rc ? rc : xg_h5_get_i64(g, "/train", "horizon", &s->horizon, ctx, err);
    rc = rc ? rc : xg_h5_get_i64(g, "/train", "threads", &s->threads, ctx, err);
    rc = rc ? rc : xg_h5_get_f64(g, "/train", "elapsed", &s->elapsed, ctx, err);
    rc = rc ? rc : xg_h5_get_attr(g, "/train", "data_hash", H5T_NATIVE_UINT64, &s->data_hash, ctx, err);
    rc = rc ? rc : xg_train_state_read_h5(g, s, s->sums, XG_SUMS, 1, ctx, err);
    if (g >= 0)
        H5Gclose(g);
    if (!rc) {
        /* The state drives array indexing on resume: check it now (the permutation's range
         * was checked as it was read). */
        int bad = s->epoch < 0 || s->step_in_epoch < 0 || s->step < 0 || s->horizon < 0;
        if (bad)
            rc = xg_error_set(err, XG_EPARSE, "%s: /train holds an inconsistent state (negative "
                              "counters)", ctx);
    }
    if (rc) {
        xg_train_state_free(s);
        return rc;
    }
    *out = s;
    return XG_OK;
}

static int load_impl(hid_t f, const char *path, int flags, xg_model *m, xg_error *err)
{
    char fmt[64], kind[32];
    int rc = xg_h5_get_str(f, "/", "format", fmt, sizeof fmt, path, err);
    if (rc)
        return xg_error_set(err, XG_EPARSE, "%s: not an xtalgen model file (no 'format' attribute)", path);
    if (strcmp(fmt, XG_MODEL_FORMAT) != 0)
        return xg_error_set(err, XG_EPARSE, "%s: not an xtalgen model file (format '%s', expected '%s')",
                            path, fmt, XG_MODEL_FORMAT);
    int64_t version = 0;
    rc = xg_h5_get_i64(f, "/", "version", &version, path, err);
    if (rc)
        return rc;
    if (version != XG_MODEL_VERSION)
        return xg_error_set(err, XG_EVERSION,
                            "%s: model file layout version %lld; this build of xtalgen reads version %d%s",
                            path, (long long)version, XG_MODEL_VERSION,
                            version > XG_MODEL_VERSION ? " (a newer xtalgen wrote it; upgrade)" : "");
    rc = xg_h5_get_str(f, "/", "kind", kind, sizeof kind, path, err);
    if (rc)
        return rc;
    rc = read_config(f, m, path, err);
    if (rc)
        return rc;
    /* weights and ema are stored as float32, uncompressed: a /config asking for more than the
     * file holds is refused before the network is allocated from it (the size HDF5 reports,
     * not stat's: an image in memory has no path; fuzz_model_h5 timed out on one without it) */
    hsize_t fsize = 0;
    double need = 2.0 * sizeof(float) * xg_denoiser_params_lower_bound(&m->cfg);
    if (H5Fget_filesize(f, &fsize) < 0 || need > (double)fsize)
        return xg_error_set(err, XG_EPARSE, "%s: /config describes a network of at least %.0f "
                            "bytes of weights, but the file has %llu bytes (truncated or crafted)",
                            path, need, (unsigned long long)fsize);
    m->net = xg_denoiser_alloc(&m->cfg, err);
    if (!m->net) {
        if (err)
            xg_error_prefix(err, err->code, "%s: building the network from /config", path);
        return err ? err->code : XG_EINVAL;
    }
    size_t np = xg_denoiser_num_params(m->net);
    m->weights = malloc((np ? np : 1) * sizeof(float));
    m->ema = malloc((np ? np : 1) * sizeof(float));
    if (!m->weights || !m->ema)
        return xg_error_set(err, XG_ENOMEM, "%s: out of memory for %zu parameters", path, np);
    rc = read_params(f, "weights", m->net, m->weights, path, err);
    rc = rc ? rc : read_params(f, "ema", m->net, m->ema, path, err);
    rc = rc ? rc : read_stats(f, &m->stats, path, err);
    rc = rc ? rc : read_condition(f, &m->cond, m->cfg.cond_dim, path, err);
    if (rc)
        return rc;
    if (flags & XG_MODEL_LOAD_STATE) {
        rc = read_state(f, m->net, &m->state, path, err);
        if (rc)
            return rc;
    }
    memcpy(xg_denoiser_params(m->net), (flags & XG_MODEL_LOAD_EMA) ? m->ema : m->weights,
           np * sizeof(float));
    return XG_OK;
}

/* The part of loading shared by files and images: f is open (or negative: HDF5 could not open
 * it); closes it. */
static int load_open(hid_t f, const char *path, int flags, xg_model **out, xg_error *err)
{
    if (f < 0)
        return xg_error_set(err, XG_EIO, "%s: not a readable HDF5 file", path);
    xg_model *m = calloc(1, sizeof *m);
    int rc = m ? load_impl(f, path, flags, m, err)
               : xg_error_set(err, XG_ENOMEM, "model load: out of memory");
    H5Fclose(f);
    if (rc) {
        xg_model_free(m);
        return rc;
    }
    *out = m;
    return XG_OK;
}

int xg_model_load(const char *path, int flags, xg_model **out, xg_error *err)
{
    *out = NULL;
    if (!path)
        return xg_error_set(err, XG_EINVAL, "model load: no path");
    if (access(path, R_OK) != 0)
        return xg_error_set(err, XG_EIO, "%s: cannot read (%s)", path, strerror(errno));
    int rc = XG_OK;
    H5E_BEGIN_TRY
    {
        rc = load_open(H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), path, flags, out, err);
    }
    H5E_END_TRY;
    return rc;
}

int xg_model_load_image(const void *image, size_t len, const char *name, int flags,
                        xg_model **out, xg_error *err)
{
    *out = NULL;
    if (!image || !name)
        return xg_error_set(err, XG_EINVAL, "model load: no bytes or no name");
    int rc = XG_OK;
    H5E_BEGIN_TRY
    {
        rc = load_open(xg_h5_open_image(image, len, H5F_ACC_RDONLY), name, flags, out, err);
    }
    H5E_END_TRY;
    return rc;
}

void xg_model_free(xg_model *m)
{
    if (!m)
        return;
    xg_denoiser_free(m->net);
    free(m->weights);
    free(m->ema);
    xg_model_stats_free(&m->stats);
    xg_train_state_free(m->state);
    free(m);
}
