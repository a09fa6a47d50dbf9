/* xg_trainer.c: the one training loop (see xg_trainer.h for what it guarantees). */
#include "diffusion/xg_trainer.h"
#include "crystal/xg_fileio.h"
#include "diffusion/xg_optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void xg_hparams_default(xg_hparams *h)
{
    memset(h, 0, sizeof *h);
    h->batch = 64;
    h->epochs = 100;
    h->hours = 0;
    h->lr = 1e-3;
    h->lr_min = 1e-5;
    h->warmup_steps = 500;
    h->weight_decay = 0;
    h->clip_norm = 1.0;
    h->ema_decay = 0.999;
    h->beta1 = 0.9;
    h->beta2 = 0.999;
    h->adam_eps = 1e-8;
    h->seed = 1;
    h->threads = 1;
    h->max_structures = 0;
    h->checkpoint_minutes = 15;
}

void xg_hparams_resume(xg_hparams *out, const xg_hparams *ckpt, const xg_hparams *given)
{
    xg_hparams h = *ckpt;
    if (given->epochs > 0)
        h.epochs = given->epochs;
    h.hours = given->hours;
    h.checkpoint_minutes = given->checkpoint_minutes;
    h.threads = given->threads;
    *out = h;
}

double xg_train_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

uint64_t xg_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) {
        h ^= c[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static int cmp_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x < y) - (x > y);
}

int xg_train_batch_bound(const int64_t *off, int64_t n, int B, long *atoms, long *pairs,
                         xg_error *err)
{
    *atoms = *pairs = 0;
    if (n <= 0)
        return XG_OK;
    int64_t *sz = malloc((size_t)n * sizeof(int64_t));
    if (!sz)
        return xg_error_set(err, XG_ENOMEM, "train: out of memory");
    for (int64_t b = 0; b < n; b++)
        sz[b] = off[b + 1] - off[b];
    qsort(sz, (size_t)n, sizeof(int64_t), cmp_desc);
    for (int64_t b = 0; b < n && b < B; b++) {
        *atoms += (long)sz[b];
        *pairs += (long)(sz[b] * sz[b]);
    }
    free(sz);
    return XG_OK;
}

/* ================================================================ state */

xg_train_state *xg_train_state_alloc(size_t nparams, int64_t nperm, int ncols, int keep_best,
                                     xg_error *err)
{
    xg_train_state *s = calloc(1, sizeof *s);
    if (!s)
        goto oom;
    s->nparams = nparams;
    s->ncols = ncols;
    s->adam_m = calloc(nparams ? nparams : 1, sizeof(float));
    s->adam_v = calloc(nparams ? nparams : 1, sizeof(float));
    s->nperm = nperm;
    s->perm = calloc(nperm > 0 ? (size_t)nperm : 1, sizeof(int64_t));
    if (keep_best)
        s->best = calloc(nparams ? nparams : 1, sizeof(float));
    if (!s->adam_m || !s->adam_v || !s->perm || (keep_best && !s->best))
        goto oom;
    for (int64_t i = 0; i < nperm; i++)
        s->perm[i] = i;
    return s;
oom:
    xg_train_state_free(s);
    xg_error_set(err, XG_ENOMEM, "train state: out of memory (%zu parameters)", nparams);
    return NULL;
}

void xg_train_state_free(xg_train_state *s)
{
    if (!s)
        return;
    free(s->adam_m);
    free(s->adam_v);
    free(s->best);
    free(s->perm);
    free(s->hist);
    free(s);
}

int xg_train_state_push_history(xg_train_state *s, const double *row, xg_error *err)
{
    size_t c = (size_t)s->ncols;
    double *h = realloc(s->hist, (size_t)(s->nhist + 1) * c * sizeof(double));
    if (!h)
        return xg_error_set(err, XG_ENOMEM, "train state: out of memory for the loss history");
    s->hist = h;
    memcpy(h + (size_t)s->nhist * c, row, c * sizeof(double));
    s->nhist++;
    return XG_OK;
}

/* ================================================================ processes */

int xg_train_dist_on(const xg_train_dist *d)
{
    return d && d->size > 1 && d->sum_f32 && d->sum_f64;
}

int xg_train_dist_sum(const xg_train_dist *d, double *v, size_t n, xg_error *err)
{
    if (!xg_train_dist_on(d))
        return XG_OK;
    int rc = d->sum_f64(d->ctx, v, n, err);
    if (rc)
        xg_error_prefix(err, rc, "train: summing over %d processes", d->size);
    return rc;
}

/* 1 on the process that writes files: the only one, or rank 0 of several. */
static int writer(const xg_trainer *T)
{
    return !xg_train_dist_on(&T->dist) || T->dist.rank == 0;
}

int xg_trainer_check_same(xg_trainer *T, const char *when, xg_error *err)
{
    const xg_train_dist *d = &T->dist;
    if (!xg_train_dist_on(d))
        return XG_OK;
    uint64_t h = XG_FNV_INIT;
    for (int s = 0; s < T->nseg; s++)
        h = xg_fnv1a(h, T->seg_p[s], T->seg_n[s] * sizeof(float));
    h = xg_fnv1a(h, T->ema, T->nparams * sizeof(float));
    h = xg_fnv1a(h, &T->st->data_hash, sizeof T->st->data_hash);
    h = xg_fnv1a(h, &T->st->step, sizeof T->st->step);
    h = xg_fnv1a(h, T->rng.s, sizeof T->rng.s);
    /* 16-bit pieces: sums over up to 2^37 processes stay exact in double. */
    double mine[4], v[4];
    for (int k = 0; k < 4; k++)
        mine[k] = v[k] = (double)((h >> (16 * k)) & 0xffff);
    int rc = xg_train_dist_sum(d, v, 4, err);
    if (rc)
        return rc;
    double bad = 0;
    for (int k = 0; k < 4; k++)
        bad += v[k] != mine[k] * d->size;
    rc = xg_train_dist_sum(d, &bad, 1, err); /* so that every process agrees on the verdict */
    if (rc)
        return rc;
    if (bad > 0)
        return xg_error_set(err, XG_EINVAL, "%s: the %d processes hold different weights, "
                            "data or positions %s (step %lld): check that every rank reads the "
                            "same files", T->ops.who, d->size, when, (long long)T->st->step);
    return XG_OK;
}

/* ================================================================ parameters */

void xg_trainer_get_params(const xg_trainer *T, float *dst)
{
    for (int s = 0; s < T->nseg; s++) {
        memcpy(dst, T->seg_p[s], T->seg_n[s] * sizeof(float));
        dst += T->seg_n[s];
    }
}

void xg_trainer_set_params(xg_trainer *T, const float *src)
{
    for (int s = 0; s < T->nseg; s++) {
        memcpy(T->seg_p[s], src, T->seg_n[s] * sizeof(float));
        src += T->seg_n[s];
    }
}

int xg_trainer_start(xg_trainer *T, xg_error *err)
{
    const char *who = T->ops.who ? T->ops.who : "train";
    if (T->nseg < 1 || T->nseg > XG_TRAINER_MAX_SEG || !T->st || !T->ema || !T->ops.batch ||
        T->ops.nloss < 1 || T->ops.nloss > XG_TRAIN_MAX_LOSS || T->ops.nval < 0 ||
        T->ops.nval > XG_TRAIN_MAX_VAL || !T->ops.columns || !T->ops.formats || T->ntrain < 1)
        return xg_error_set(err, XG_EINVAL, "%s: incomplete trainer setup", who);
    T->nparams = 0;
    for (int s = 0; s < T->nseg; s++)
        T->nparams += T->seg_n[s];
    int ncols = 3 + T->ops.nloss + T->ops.nval + (T->ops.throughput ? 1 : 0) + 1;
    if (T->st->nparams != T->nparams || T->st->ncols != ncols || T->st->nperm != T->ntrain)
        return xg_error_set(err, XG_EINVAL, "%s: the training state does not fit the model "
                            "(%zu parameters, %d history columns, %lld crystals)", who,
                            T->nparams, ncols, (long long)T->ntrain);
    if (T->ops.keep_best && !T->st->best)
        return xg_error_set(err, XG_EINVAL, "%s: keep_best without best weights", who);
    T->B = T->hp.batch < T->ntrain ? T->hp.batch : (int)T->ntrain;
    T->spe = T->ntrain / T->B; /* the remainder of each shuffled epoch is dropped: equal batches */
    if (T->st->step_in_epoch > T->spe)
        return xg_error_set(err, XG_EINVAL, "resuming %s: position %lld in an epoch of %lld "
                            "steps (another --batch?)", T->ckpt_path ? T->ckpt_path : "",
                            (long long)T->st->step_in_epoch, (long long)T->spe);
    T->backup = malloc((T->nparams ? T->nparams : 1) * sizeof(float));
    if (!T->backup)
        return xg_error_set(err, XG_ENOMEM, "%s: out of memory", who);
    T->elapsed0 = T->st->elapsed;
    T->epoch0 = T->st->epoch;
    T->ckpt_step = -1;
    return XG_OK;
}

void xg_trainer_free(xg_trainer *T)
{
    free(T->backup);
    T->backup = NULL;
}

/* ================================================================ progress and files */

void xg_trainer_progress_fill(const xg_trainer *T, int event, xg_trainer_progress *p)
{
    memset(p, 0, sizeof *p);
    const xg_train_state *st = T->st;
    const double *s = st->sums;
    p->event = event;
    p->epoch = st->epoch;
    p->epochs = T->hp.epochs;
    p->step_in_epoch = st->step_in_epoch;
    p->steps_per_epoch = T->spe;
    p->step = st->step;
    p->lr = xg_optim_lr(&T->hp, st->step > 0 ? st->step - 1 : 0, st->horizon);
    double steps = s[XG_SUM_STEPS];
    p->steps = steps;
    for (int k = 0; k < XG_TRAIN_MAX_LOSS; k++)
        p->avg[k] = steps > 0 && k < T->ops.nloss ? s[k] / steps : NAN;
    for (int k = 0; k < XG_TRAIN_MAX_VAL; k++)
        p->val[k] = NAN;
    p->crystals_per_s = s[XG_SUM_SECONDS] > 0 ? s[XG_SUM_CRYSTALS] / s[XG_SUM_SECONDS] : 0;
    p->sec_per_batch = steps > 0 ? s[XG_SUM_SECONDS] / steps : 0;
    p->elapsed = xg_train_clock() - T->t0;
    p->eta = -1;
    if (T->hp.epochs > 0 && p->sec_per_batch > 0) {
        int64_t left = (int64_t)T->hp.epochs * T->spe - st->step;
        p->eta = left > 0 ? left * p->sec_per_batch : 0;
    }
    if (T->hp.hours > 0) {
        double left = T->hp.hours * 3600 - p->elapsed;
        if (left < 0)
            left = 0;
        if (p->eta < 0 || left < p->eta)
            p->eta = left;
    }
    p->best_val = st->best_epoch > 0 ? st->best_val : NAN;
    p->best_epoch = st->best_epoch;
}

static int save_checkpoint(xg_trainer *T, xg_error *err)
{
    if (!writer(T)) { /* rank 0 writes it; the others only keep the books the same */
        T->ckpt_step = T->st->step;
        T->last_ckpt = xg_train_clock();
        return XG_OK;
    }
    T->st->elapsed = T->elapsed0 + (xg_train_clock() - T->t0);
    memcpy(T->st->rng, T->rng.s, sizeof T->st->rng);
    int rc = T->ops.checkpoint ? T->ops.checkpoint(T->ops.ctx, T->ckpt_path, T, err) : XG_OK;
    if (rc)
        return rc;
    T->ckpt_step = T->st->step;
    T->last_ckpt = xg_train_clock();
    if (T->ops.progress) {
        xg_trainer_progress p;
        memset(&p, 0, sizeof p);
        p.event = XG_TRAINER_EV_CHECKPOINT;
        p.step = T->st->step;
        p.epoch = T->st->epoch;
        p.path = T->ckpt_path;
        p.elapsed = xg_train_clock() - T->t0;
        T->ops.progress(T->ops.ctx, &p);
    }
    return XG_OK;
}

struct log_rows {
    const xg_trainer *T;
};

static int log_fill(FILE *f, const void *ctx, xg_error *err)
{
    (void)err;
    const xg_trainer *T = ((const struct log_rows *)ctx)->T;
    const xg_train_state *st = T->st;
    int nc = st->ncols;
    for (int c = 0; c < nc; c++)
        fprintf(f, "%s%s", T->ops.columns[c], c + 1 < nc ? "," : "\n");
    for (int64_t r = 0; r < st->nhist; r++) {
        const double *h = st->hist + r * nc;
        for (int c = 0; c < nc; c++) {
            if (!T->ops.formats[c])
                fprintf(f, "%lld", (long long)h[c]);
            else
                fprintf(f, T->ops.formats[c], h[c]);
            fputc(c + 1 < nc ? ',' : '\n', f);
        }
    }
    return XG_OK;
}

static int write_log(const xg_trainer *T, xg_error *err)
{
    struct log_rows lr = {T};
    /* Rewritten every epoch like the checkpoint: a run killed while writing it leaves a
     * temporary file that the next run (--resume) must clear, as xg_h5_write_atomic does. */
    xg_atomic_sweep(T->log_path);
    int rc = xg_file_write_atomic_with(T->log_path, log_fill, &lr, err);
    if (rc)
        xg_error_prefix(err, rc, "%s: writing the training log", T->log_path);
    return rc;
}

/* ================================================================ the loop */

static int train_step(xg_trainer *T, double *loss, xg_error *err)
{
    double ts = xg_train_clock();
    xg_train_state *st = T->st;
    int B = T->B;
    for (int k = 0; k < XG_TRAIN_MAX_LOSS; k++)
        loss[k] = 0;
    int rc = T->ops.batch(T->ops.ctx, st->perm + st->step_in_epoch * B, B, &T->rng, loss, err);
    if (rc) {
        xg_error_prefix(err, rc, "training step %lld", (long long)st->step);
        return rc;
    }
    /* Serial, fixed-order reduction over the segments: the same norm for any thread count. */
    double nrm = 0;
    for (int s = 0; s < T->nseg; s++)
        nrm = xg_optim_sumsq(nrm, T->seg_g[s], T->seg_n[s]);
    nrm = sqrt(nrm);
    if (!isfinite(nrm) || !isfinite(loss[0]))
        return xg_error_set(err, XG_ENUMERIC,
                            "training step %lld: the loss or gradient is not finite (loss %g); "
                            "resume from the last checkpoint with a lower --lr",
                            (long long)st->step, loss[0]);
    xg_optim_step os;
    xg_optim_step_init(&os, &T->hp, st->step, st->horizon, nrm);
    size_t o = 0;
    for (int s = 0; s < T->nseg; s++) {
        xg_optim_adamw_ema(&os, T->seg_p[s], T->seg_g[s], st->adam_m + o, st->adam_v + o,
                           T->ema + o, T->seg_n[s]);
        o += T->seg_n[s];
    }
    st->step++;
    st->step_in_epoch++;
    double dt = xg_train_clock() - ts;
    for (int k = 0; k < T->ops.nloss; k++)
        st->sums[k] += loss[k];
    st->sums[XG_SUM_CRYSTALS] += B;
    st->sums[XG_SUM_SECONDS] += dt;
    st->sums[XG_SUM_STEPS] += 1;
    return XG_OK;
}

/* The learning-rate horizon of a time-limited run (XG_HOURS_*). */
static int hours_horizon(xg_trainer *T, double row_elapsed, xg_error *err)
{
    xg_train_state *st = T->st;
    if (!(T->hp.epochs <= 0 && T->hp.hours > 0))
        return XG_OK;
    if (T->ops.hours_policy == XG_HOURS_EVERY_EPOCH) {
        double spent = xg_train_clock() - T->t0;
        double per_epoch = spent / (double)(st->epoch + 1 - T->epoch0);
        int64_t more = per_epoch > 0 ? (int64_t)floor((T->hp.hours * 3600 - spent) / per_epoch) : 0;
        st->horizon = (st->epoch + 1 + (more > 0 ? more : 0)) * T->spe;
        return XG_OK;
    }
    if (st->horizon != 0 || !(st->sums[XG_SUM_SECONDS] > 0))
        return XG_OK;
    double el = row_elapsed;
    if (xg_train_dist_on(&T->dist)) {
        /* The horizon sets the learning rate: every process takes rank 0's clock. */
        double v = T->dist.rank == 0 ? el : 0.0;
        int rc = xg_train_dist_sum(&T->dist, &v, 1, err);
        if (rc)
            return rc;
        el = v;
    }
    double per_epoch = el / (double)(st->epoch + 1);
    int64_t e = (int64_t)floor(T->hp.hours * 3600 / per_epoch);
    st->horizon = (e > 1 ? e : 1) * T->spe;
    return XG_OK;
}

static int end_epoch(xg_trainer *T, xg_error *err)
{
    xg_train_state *st = T->st;
    double val[XG_TRAIN_MAX_VAL];
    for (int k = 0; k < XG_TRAIN_MAX_VAL; k++)
        val[k] = NAN;
    if (T->ops.validate && T->ops.nval > 0) {
        /* Validate with the EMA weights (the ones samplers use), then put the raw ones back. */
        xg_trainer_get_params(T, T->backup);
        xg_trainer_set_params(T, T->ema);
        int rc = T->ops.validate(T->ops.ctx, val, err);
        xg_trainer_set_params(T, T->backup);
        if (rc)
            return rc;
        if (T->ops.keep_best && (st->best_epoch == 0 || val[0] < st->best_val)) {
            st->best_val = val[0];
            st->best_epoch = st->epoch + 1;
            memcpy(st->best, T->ema, T->nparams * sizeof(float));
        }
    }
    double row[3 + XG_TRAIN_MAX_LOSS + XG_TRAIN_MAX_VAL + 2];
    const double *s = st->sums;
    double steps = s[XG_SUM_STEPS] > 0 ? s[XG_SUM_STEPS] : 1;
    int c = 0;
    row[c++] = (double)(st->epoch + 1);
    row[c++] = (double)st->step;
    row[c++] = xg_optim_lr(&T->hp, st->step - 1, st->horizon);
    for (int k = 0; k < T->ops.nloss; k++)
        row[c++] = s[k] / steps;
    for (int k = 0; k < T->ops.nval; k++)
        row[c++] = val[k];
    if (T->ops.throughput)
        row[c++] = s[XG_SUM_SECONDS] > 0 ? s[XG_SUM_CRYSTALS] / s[XG_SUM_SECONDS] : 0;
    row[c++] = T->elapsed0 + (xg_train_clock() - T->t0);
    int rc = xg_train_state_push_history(st, row, err);
    rc = rc ? rc : hours_horizon(T, row[c - 1], err);
    if (rc)
        return rc;
    xg_trainer_progress p;
    xg_trainer_progress_fill(T, XG_TRAINER_EV_EPOCH, &p);
    st->epoch++;
    st->step_in_epoch = 0;
    memset(st->sums, 0, sizeof st->sums);
    rc = xg_trainer_check_same(T, "after an epoch", err);
    rc = rc ? rc : save_checkpoint(T, err);
    if (!rc && T->log_path && writer(T))
        rc = write_log(T, err);
    if (rc)
        return rc;
    p.epoch = st->epoch;
    memcpy(p.val, val, sizeof val);
    if (T->ops.progress)
        T->ops.progress(T->ops.ctx, &p);
    return XG_OK;
}

int xg_trainer_run(xg_trainer *T, int *stopped, xg_error *err)
{
    xg_train_state *st = T->st;
    int stop = 0, rc = XG_OK;
    *stopped = 0;
    T->last_ckpt = xg_train_clock();
    while (!(T->hp.epochs > 0 && st->epoch >= T->hp.epochs)) {
        if (T->stop_at_step > 0 && st->step >= T->stop_at_step) {
            stop = 1;
            break;
        }
        if (st->step_in_epoch == 0) {
            /* A fresh shuffle from the identity each epoch, drawn from the saved generator. */
            xg_optim_shuffle(st->perm, T->ntrain, &T->rng);
        }
        double loss[XG_TRAIN_MAX_LOSS];
        rc = train_step(T, loss, err);
        if (rc)
            return rc;
        if (T->ops.progress) {
            xg_trainer_progress p;
            xg_trainer_progress_fill(T, XG_TRAINER_EV_STEP, &p);
            p.last = loss;
            if (T->ops.progress(T->ops.ctx, &p))
                stop = 1;
        }
        if (st->step_in_epoch >= T->spe) {
            rc = end_epoch(T, err);
            if (rc)
                return rc;
        }
        if (T->stop_at_step > 0 && st->step >= T->stop_at_step)
            stop = 1;
        if (T->hp.hours > 0 && xg_train_clock() - T->t0 >= T->hp.hours * 3600)
            stop = 1;
        if (xg_train_dist_on(&T->dist)) {
            /* Clocks and signals differ between processes: stop when any of them says so. */
            double v = stop;
            rc = xg_train_dist_sum(&T->dist, &v, 1, err);
            if (rc)
                return rc;
            stop = v > 0;
        }
        if (stop)
            break;
        if (T->hp.checkpoint_minutes > 0 &&
            xg_train_clock() - T->last_ckpt >= T->hp.checkpoint_minutes * 60) {
            rc = save_checkpoint(T, err);
            if (rc)
                return rc;
        }
    }
    *stopped = stop;
    if (T->ckpt_step != st->step)
        rc = save_checkpoint(T, err);
    return rc;
}
