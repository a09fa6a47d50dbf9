/* xg_train.c: the training loop (see xg_train.h for what it guarantees). */
#include "diffusion/xg_train.h"
#include "diffusion/xg_optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* Stream constants: the trainer's generator and the validation draws never share a stream. */
#define XG_TRAIN_STREAM 0x747261696eULL      /* "train" */
#define XG_VAL_SEED_XOR 0x56414c4944415445ULL /* "VALIDATE" */

void xg_train_config_default(xg_train_config *c)
{
    memset(c, 0, sizeof *c);
    xg_denoiser_default_config(&c->net);
    xg_noise_params_default(&c->noise);
    xg_hparams_default(&c->hp);
    c->cond_drop = 0.2;
}

/* ================================================================ prepared data */

/* A dataset reduced to what training needs: classes (Z - 1), fractional coordinates and the
 * canonical (symmetric polar) lattice of every usable crystal. */
typedef struct {
    int64_t n, m;
    int64_t *off;  /* n + 1 */
    int *cls;      /* m */
    double *frac;  /* m * 3 */
    double *S;     /* n * 9 */
    int64_t *src;  /* n: index in the source dataset */
    int maxn;
    int64_t skipped;
    int cdim;              /* condition width, 0 = no conditions */
    float *cond;           /* n * cdim: encoded labels (xg_condition.h) */
    unsigned char *cond_ok;/* n: 1 when the crystal has at least one label */
    int64_t nlabelled;
} pset;

static void pset_free(pset *p)
{
    free(p->off);
    free(p->cls);
    free(p->frac);
    free(p->S);
    free(p->src);
    free(p->cond);
    free(p->cond_ok);
    memset(p, 0, sizeof *p);
}

static int pset_build(const xg_dataset *ds, int64_t limit, pset *p, const char *what, xg_error *err)
{
    memset(p, 0, sizeof *p);
    if (!ds)
        return XG_OK;
    int64_t n = ds->n, m = ds->m;
    p->off = malloc((size_t)(n + 1) * sizeof(int64_t));
    p->cls = malloc((size_t)(m > 0 ? m : 1) * sizeof(int));
    p->frac = malloc((size_t)(m > 0 ? m : 1) * 3 * sizeof(double));
    p->S = malloc((size_t)(n > 0 ? n : 1) * 9 * sizeof(double));
    p->src = malloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));
    if (!p->off || !p->cls || !p->frac || !p->S || !p->src) {
        pset_free(p);
        return xg_error_set(err, XG_ENOMEM, "%s set: out of memory (%lld crystals)", what, (long long)n);
    }
    p->off[0] = 0;
    for (int64_t i = 0; i < n && (limit <= 0 || p->n < limit); i++) {
        int64_t a0 = ds->offsets[i], a1 = ds->offsets[i + 1];
        int ok = a1 > a0 && a1 - a0 <= 100000 && a0 >= 0 && a1 <= m;
        for (int64_t a = a0; ok && a < a1; a++) {
            ok = ds->types[a] >= 1 && ds->types[a] <= XG_NUM_TYPES;
            for (int k = 0; k < 3 && ok; k++)
                ok = isfinite(ds->frac[3 * a + k]);
        }
        double S[9];
        if (ok && xg_noise_lattice_canonical(ds->lattices + 9 * i, S, NULL) != XG_OK)
            ok = 0;
        if (!ok) {
            p->skipped++;
            continue;
        }
        int64_t b = p->n, o = p->off[b];
        for (int64_t a = a0; a < a1; a++) {
            int64_t j = o + (a - a0);
            p->cls[j] = ds->types[a] - 1;
            for (int k = 0; k < 3; k++) {
                double x = ds->frac[3 * a + k];
                p->frac[3 * j + k] = x - floor(x);
            }
        }
        memcpy(p->S + 9 * b, S, sizeof S);
        p->src[b] = i;
        p->off[b + 1] = o + (a1 - a0);
        if (a1 - a0 > p->maxn)
            p->maxn = (int)(a1 - a0);
        p->n++;
    }
    p->m = p->off[p->n];
    return XG_OK;
}

/* Encodes every prepared crystal's labels for the conditions of cs (nothing when cs has none). */
static int pset_conditions(pset *p, const xg_dataset *ds, const xg_cond_spec *cs, const char *what,
                           xg_error *err)
{
    if (!ds || !cs || cs->n == 0)
        return XG_OK;
    int cols[XG_COND_MAX];
    int rc = xg_cond_dataset_columns(cs, ds, cols, err);
    if (rc) {
        xg_error_prefix(err, rc, "%s set", what);
        return rc;
    }
    size_t n = (size_t)(p->n > 0 ? p->n : 1);
    p->cdim = cs->dim;
    p->cond = calloc(n * (size_t)cs->dim, sizeof(float));
    p->cond_ok = calloc(n, 1);
    xg_cond_value *vals = malloc(sizeof *vals * (size_t)cs->n);
    if (!p->cond || !p->cond_ok || !vals) {
        free(vals);
        return xg_error_set(err, XG_ENOMEM, "%s set: out of memory for the condition vectors", what);
    }
    p->nlabelled = 0;
    for (int64_t b = 0; b < p->n && !rc; b++) {
        int any = 0;
        xg_cond_dataset_values(cs, ds, cols, p->src[b], vals);
        rc = xg_cond_encode(cs, vals, p->cond + (size_t)b * cs->dim, &any, err);
        if (rc)
            xg_error_prefix(err, rc, "%s set, crystal %lld (%s)", what, (long long)p->src[b],
                            ds->ids ? ds->ids[p->src[b]] : "");
        p->cond_ok[b] = (unsigned char)any;
        p->nlabelled += any;
    }
    free(vals);
    return rc;
}

/* FNV-1a over the prepared set: atom counts, classes, coordinates and lattices, bit for bit. */
static uint64_t pset_hash(const pset *p)
{
    uint64_t h = XG_FNV_INIT;
    h = xg_fnv1a(h, &p->n, sizeof p->n);
    h = xg_fnv1a(h, p->off, (size_t)(p->n + 1) * sizeof(int64_t));
    h = xg_fnv1a(h, p->cls, (size_t)p->m * sizeof(int));
    h = xg_fnv1a(h, p->frac, (size_t)p->m * 3 * sizeof(double));
    h = xg_fnv1a(h, p->S, (size_t)p->n * 9 * sizeof(double));
    /* Labels only when conditioned, so unconditional checkpoints keep their fingerprint. */
    if (p->cdim > 0) {
        h = xg_fnv1a(h, p->cond, (size_t)p->n * (size_t)p->cdim * sizeof(float));
        h = xg_fnv1a(h, p->cond_ok, (size_t)p->n);
    }
    return h;
}

static int stats_from_pset(const pset *p, const xg_dataset *ds, xg_model_stats *st, xg_error *err)
{
    memset(st, 0, sizeof *st);
    st->hist_len = p->maxn + 1;
    st->natoms_hist = calloc((size_t)st->hist_len, sizeof(int64_t));
    if (!st->natoms_hist)
        return xg_error_set(err, XG_ENOMEM, "training statistics: out of memory");
    double dens = 0;
    for (int64_t b = 0; b < p->n; b++) {
        int n = (int)(p->off[b + 1] - p->off[b]);
        const double *S = p->S + 9 * b;
        double v = fabs(S[0] * (S[4] * S[8] - S[5] * S[7]) - S[1] * (S[3] * S[8] - S[5] * S[6]) +
                        S[2] * (S[3] * S[7] - S[4] * S[6]));
        st->natoms_hist[n]++;
        dens += n / v;
    }
    st->avg_density = p->n ? dens / (double)p->n : 0;
    st->nstructs = p->n;
    /* the scalers (and label counts, ranges) over the crystals actually trained on */
    int rc = xg_model_stats_set_scalers(st, ds, p->src, p->n, err);
    if (rc) {
        xg_model_stats_free(st);
        xg_error_prefix(err, rc, "training statistics");
    }
    return rc;
}

/* ================================================================ batch workspace */

typedef struct {
    int cap_structs, cap_atoms, cdim;
    float *cond;             /* cap_structs * cdim */
    unsigned char *cond_on;  /* cap_structs */
    int *offsets, *tokens, *classes;
    float *frac, *lat, *t, *coord_tgt, *lat_tgt, *d_coord, *d_logits, *d_lat;
    int64_t *idx;
    uint64_t *seeds, *streams;
} bws;

static void bws_free(bws *w)
{
    free(w->offsets);
    free(w->tokens);
    free(w->classes);
    free(w->frac);
    free(w->lat);
    free(w->t);
    free(w->coord_tgt);
    free(w->lat_tgt);
    free(w->d_coord);
    free(w->d_logits);
    free(w->d_lat);
    free(w->idx);
    free(w->seeds);
    free(w->streams);
    free(w->cond);
    free(w->cond_on);
    memset(w, 0, sizeof *w);
}

static int bws_alloc(bws *w, int structs, int atoms, int cdim, xg_error *err)
{
    memset(w, 0, sizeof *w);
    size_t S = (size_t)(structs > 0 ? structs : 1), A = (size_t)(atoms > 0 ? atoms : 1);
    w->cap_structs = (int)S;
    w->cap_atoms = (int)A;
    w->offsets = malloc((S + 1) * sizeof(int));
    w->tokens = malloc(A * sizeof(int));
    w->classes = malloc(A * sizeof(int));
    w->frac = malloc(A * 3 * sizeof(float));
    w->lat = malloc(S * 9 * sizeof(float));
    w->t = malloc(S * sizeof(float));
    w->coord_tgt = malloc(A * 3 * sizeof(float));
    w->lat_tgt = malloc(S * 9 * sizeof(float));
    w->d_coord = malloc(A * 3 * sizeof(float));
    w->d_logits = malloc(A * XG_NUM_TYPES * sizeof(float));
    w->d_lat = malloc(S * 9 * sizeof(float));
    w->idx = malloc(S * sizeof(int64_t));
    w->seeds = malloc(S * sizeof(uint64_t));
    w->streams = malloc(S * sizeof(uint64_t));
    w->cdim = cdim;
    w->cond = malloc(S * (size_t)(cdim > 0 ? cdim : 1) * sizeof(float));
    w->cond_on = malloc(S);
    if (!w->cond || !w->cond_on || !w->offsets || !w->tokens || !w->classes || !w->frac || !w->lat ||
        !w->t || !w->coord_tgt || !w->lat_tgt || !w->d_coord || !w->d_logits || !w->d_lat || !w->idx || !w->seeds || !w->streams) {
        bws_free(w);
        return xg_error_set(err, XG_ENOMEM, "training batch buffers: out of memory (%d crystals, %d atoms)",
                            structs, atoms);
    }
    return XG_OK;
}

/* Packs crystals w->idx[0..B-1] of ps and draws their noise: crystal k from its own stream
 * (seeds[k], streams[k]), so the result does not depend on the thread count. With conditions
 * (ps->cdim > 0) and use_cond, a labelled crystal is conditioned unless a draw from its stream,
 * taken after its noise so that the noise is the unconditional run's, falls below drop. */
static void fill_batch(const pset *ps, int B, const xg_noise_params *np, bws *w, xg_batch *b,
                       int use_cond, double drop)
{
    w->offsets[0] = 0;
    for (int k = 0; k < B; k++) {
        int64_t i = w->idx[k];
        w->offsets[k + 1] = w->offsets[k] + (int)(ps->off[i + 1] - ps->off[i]);
    }
#pragma omp parallel for schedule(dynamic, 4)
    for (int k = 0; k < B; k++) {
        int64_t i = w->idx[k];
        int n = (int)(ps->off[i + 1] - ps->off[i]), a0 = w->offsets[k];
        xg_rng r;
        xg_rng_seed(&r, w->seeds[k], w->streams[k]);
        /* The network sees t in float; draw the noise at exactly that t. */
        float tf = (float)(np->t_min + (1 - np->t_min) * xg_rng_uniform(&r));
        w->t[k] = tf;
        memcpy(w->classes + a0, ps->cls + ps->off[i], (size_t)n * sizeof(int));
        xg_noise_draw(np, (double)tf, n, ps->cls + ps->off[i], ps->frac + 3 * ps->off[i],
                      ps->S + 9 * i, &r, w->tokens + a0, w->frac + 3 * (size_t)a0, w->lat + 9 * k,
                      w->coord_tgt + 3 * (size_t)a0, w->lat_tgt + 9 * k, NULL);
        if (ps->cdim > 0) {
            int on = use_cond && ps->cond_ok[i];
            if (drop > 0 && xg_rng_uniform(&r) < drop)
                on = 0;
            w->cond_on[k] = (unsigned char)on;
            memcpy(w->cond + (size_t)k * ps->cdim, ps->cond + (size_t)i * ps->cdim,
                   (size_t)ps->cdim * sizeof(float));
        }
    }
    memset(b, 0, sizeof *b);
    b->nstructs = B;
    b->natoms = w->offsets[B];
    b->offsets = w->offsets;
    b->tokens = w->tokens;
    b->frac = w->frac;
    b->lattice = w->lat;
    b->t = w->t;
    b->cond = ps->cdim > 0 ? w->cond : NULL;
    b->cond_on = ps->cdim > 0 ? w->cond_on : NULL;
}

/* Dataset-level means over a prepared set with a fixed noise draw. With several processes
 * (d may be NULL), process r evaluates batches r, r + R, ... (the same batches as one process
 * forms) and the sums are added up: every process gets the means. */
static int eval_pset(xg_denoiser *net, const xg_noise_params *np, const pset *ps, int batch,
                     uint64_t seed, int use_cond, bws *w, const xg_train_dist *d,
                     xg_noise_loss *out, xg_error *err)
{
    memset(out, 0, sizeof *out);
    double sc = 0, sl = 0, sa = 0;
    int64_t atoms = 0, masked = 0;
    int R = xg_train_dist_on(d) ? d->size : 1, rank = xg_train_dist_on(d) ? d->rank : 0;
    int failed = 0;
    for (int64_t s0 = 0, j = 0; s0 < ps->n; s0 += batch, j++) {
        if (j % R != rank)
            continue;
        int B = (int)(ps->n - s0 < batch ? ps->n - s0 : batch);
        for (int k = 0; k < B; k++) {
            w->idx[k] = s0 + k;
            w->seeds[k] = seed;
            w->streams[k] = (uint64_t)(s0 + k);
        }
        xg_batch b;
        fill_batch(ps, B, np, w, &b, use_cond, 0.0);
        xg_denoiser_out o;
        int rc = xg_denoiser_forward(net, &b, &o, err);
        xg_noise_loss l;
        rc = rc ? rc : xg_noise_loss_eval(np, &b, &o, w->classes, w->coord_tgt, w->lat_tgt, &l,
                                          NULL, NULL, NULL, err);
        if (rc) {
            xg_error_prefix(err, rc, "validation batch at crystal %lld", (long long)s0);
            if (R == 1)
                return rc;
            failed = rc; /* the others are waiting for the sums: fail together below */
            break;
        }
        sc += l.coord * b.natoms;
        atoms += b.natoms;
        sl += l.lattice * B;
        sa += l.type * (double)l.masked;
        masked += l.masked;
    }
    if (R > 1) {
        /* Counts are integers far below 2^53: their double sums are exact. */
        double v[6] = {sc, (double)atoms, sl, sa, (double)masked, failed ? 1.0 : 0.0};
        int rc = xg_train_dist_sum(d, v, 6, err);
        if (rc)
            return rc;
        if (failed)
            return failed;
        if (v[5] > 0)
            return xg_error_set(err, XG_EINVAL, "validation: another process failed (see its "
                                                "message)");
        sc = v[0], atoms = (int64_t)v[1], sl = v[2], sa = v[3], masked = (int64_t)v[4];
    }
    if (ps->n == 0)
        return XG_OK;
    out->coord = sc / (double)atoms;
    out->lattice = sl / (double)ps->n;
    out->type = masked ? sa / (double)masked : 0;
    out->masked = masked;
    out->total = np->w_coord * out->coord + np->w_lattice * out->lattice + np->w_type * out->type;
    return XG_OK;
}

int xg_train_evaluate(xg_denoiser *net, const xg_noise_params *noise, const xg_cond_spec *cond,
                      int use_cond, const xg_dataset *ds, int batch, uint64_t seed,
                      xg_noise_loss *out, xg_error *err)
{
    memset(out, 0, sizeof *out);
    if (!net || !noise || !ds || batch < 1)
        return xg_error_set(err, XG_EINVAL, "evaluate: missing network, noise, dataset or batch < 1");
    if (use_cond && (!cond || cond->n == 0))
        return xg_error_set(err, XG_EINVAL, "evaluate: use_cond needs a condition spec");
    if (cond && cond->n > 0 && cond->dim != xg_denoiser_get_config(net)->cond_dim)
        return xg_error_set(err, XG_EINVAL, "evaluate: conditions span %d entries, the network's "
                            "cond_dim is %d", cond->dim, xg_denoiser_get_config(net)->cond_dim);
    pset ps;
    int rc = pset_build(ds, 0, &ps, "evaluation", err);
    if (!rc && use_cond)
        rc = pset_conditions(&ps, ds, cond, "evaluation", err);
    if (rc) {
        pset_free(&ps);
        return rc;
    }
    if (ps.n == 0) {
        pset_free(&ps);
        return xg_error_set(err, XG_EINVAL, "evaluate: no usable crystals in the dataset");
    }
    int B = batch < ps.n ? batch : (int)ps.n;
    bws w;
    rc = bws_alloc(&w, B, B * ps.maxn, ps.cdim, err);
    if (!rc)
        rc = eval_pset(net, noise, &ps, B, seed, use_cond, &w, NULL, out, err);
    bws_free(&w);
    pset_free(&ps);
    return rc;
}

/* ================================================================ the denoiser's part of the loop */

/* The denoiser's history / log columns (xg_model.h's XG_HIST_*) and how the log prints them. */
static const char *const hist_formats[XG_HIST_COLS] = {
    NULL, NULL, "%.8g", "%.8g", "%.8g", "%.8g", "%.8g", "%.8g", "%.8g", "%.8g", "%.8g",
    "%.8g", "%.8g"};

typedef struct {
    const xg_train_config *cfg;
    xg_trainer core;  /* the loop (xg_trainer.h): hp, state, ema, generator */
    xg_noise_params noise;
    xg_model_stats stats;
    xg_cond_spec spec;  /* conditions (n == 0: an unconditional run) */
    xg_denoiser *net;
    pset tr, va;
    bws w;
    xg_noise_loss last; /* the last batch's losses */
    xg_train_progress_fn fn;
    void *user;
} trainer;

/* One process's share of a data-parallel step (xg_train.h): its slice of the global batch,
 * output gradients rescaled to the global normalisations, then the parameter gradients summed
 * over the processes. Afterwards g holds the gradient a single process would have computed on
 * the whole batch (up to the order of the sums) and *loss the whole batch's loss. A process
 * that fails still takes part in both sums (a NaN gradient, a failure flag), so the others stop
 * with it instead of waiting forever. */
static int dist_step_grads(trainer *T, const int64_t *idx, int B, xg_rng *rng, xg_noise_loss *loss,
                           xg_error *err)
{
    const xg_train_dist *d = &T->cfg->dist;
    int R = d->size;
    int lo = (int)((int64_t)B * d->rank / R), hi = (int)((int64_t)B * (d->rank + 1) / R);
    int64_t A = 0;
    /* Every process draws every seed, so the trainer's generator stays the serial run's. */
    for (int k = 0; k < B; k++) {
        int64_t i = idx[k];
        uint64_t seed = xg_rng_u64(rng);
        A += T->tr.off[i + 1] - T->tr.off[i];
        if (k >= lo && k < hi) {
            T->w.idx[k - lo] = i;
            T->w.seeds[k - lo] = seed;
            T->w.streams[k - lo] = 0;
        }
    }
    int Bl = hi - lo;
    xg_batch b;
    fill_batch(&T->tr, Bl, &T->noise, &T->w, &b, 1, T->spec.drop);
    xg_denoiser_zero_grad(T->net);
    xg_denoiser_out o;
    xg_noise_loss l;
    memset(&l, 0, sizeof l);
    int rc = xg_denoiser_forward(T->net, &b, &o, err);
    rc = rc ? rc : xg_noise_loss_eval(&T->noise, &b, &o, T->w.classes, T->w.coord_tgt, T->w.lat_tgt,
                                      &l, T->w.d_coord, T->w.d_logits, T->w.d_lat, err);
    /* The local means times their local counts are the sums the global means are made of. */
    double v[5] = {l.coord * b.natoms, l.lattice * Bl, l.type * (double)l.masked, (double)l.masked,
                   rc ? 1.0 : 0.0};
    if (rc)
        v[0] = v[1] = v[2] = v[3] = 0;
    int src = xg_train_dist_sum(d, v, 5, err);
    if (rc || src)
        return rc ? rc : src;
    if (v[4] > 0)
        return xg_error_set(err, XG_EINVAL, "another process failed (see its message)");
    const xg_noise_params *np_ = &T->noise;
    int64_t nm = (int64_t)v[3];
    loss->coord = v[0] / (double)A; /* v[0]: the sum over atoms of their 3-dim means */
    loss->lattice = v[1] / (double)B;
    loss->type = nm > 0 ? v[2] / (double)nm : 0.0;
    loss->masked = (long)nm;
    loss->total = np_->w_coord * loss->coord + np_->w_lattice * loss->lattice +
                  np_->w_type * loss->type;
    /* Local gradients were normalised by the local atoms, crystals and masked sites. */
    double fc = (double)b.natoms / (double)A, fl = (double)Bl / (double)B;
    double ft = nm > 0 ? (double)l.masked / (double)nm : 0.0;
    for (size_t i = 0; i < 3 * (size_t)b.natoms; i++)
        T->w.d_coord[i] = (float)(T->w.d_coord[i] * fc);
    for (size_t i = 0; i < 9 * (size_t)Bl; i++)
        T->w.d_lat[i] = (float)(T->w.d_lat[i] * fl);
    for (size_t i = 0; i < (size_t)b.natoms * XG_NUM_TYPES; i++)
        T->w.d_logits[i] = (float)(T->w.d_logits[i] * ft);
    rc = xg_denoiser_backward(T->net, &b, T->w.d_coord, T->w.d_logits, T->w.d_lat, err);
    size_t np = xg_denoiser_num_params(T->net);
    float *g = xg_denoiser_grads(T->net);
    if (rc) /* a NaN gradient makes every process stop at the norm check */
        for (size_t i = 0; i < np; i++)
            g[i] = NAN;
    src = d->sum_f32(d->ctx, g, np, err);
    if (src && !rc)
        xg_error_prefix(err, src, "train: summing the gradients over %d processes", R);
    return rc ? rc : src;
}

/* xg_trainer_ops.batch: the noise draw, forward, loss and backward of one batch. */
static int op_batch(void *ctx, const int64_t *idx, int B, xg_rng *rng, double *loss, xg_error *err)
{
    trainer *T = ctx;
    xg_noise_loss *l = &T->last;
    int rc;
    memset(l, 0, sizeof *l);
    if (xg_train_dist_on(&T->cfg->dist)) {
        rc = dist_step_grads(T, idx, B, rng, l, err);
    } else {
        for (int k = 0; k < B; k++) {
            T->w.idx[k] = idx[k];
            T->w.seeds[k] = xg_rng_u64(rng);
            T->w.streams[k] = 0;
        }
        xg_batch b;
        fill_batch(&T->tr, B, &T->noise, &T->w, &b, 1, T->spec.drop);
        xg_denoiser_zero_grad(T->net);
        xg_denoiser_out o;
        rc = xg_denoiser_forward(T->net, &b, &o, err);
        rc = rc ? rc : xg_noise_loss_eval(&T->noise, &b, &o, T->w.classes, T->w.coord_tgt,
                                          T->w.lat_tgt, l, T->w.d_coord, T->w.d_logits,
                                          T->w.d_lat, err);
        rc = rc ? rc : xg_denoiser_backward(T->net, &b, T->w.d_coord, T->w.d_logits, T->w.d_lat,
                                            err);
    }
    loss[0] = l->total;
    loss[1] = l->coord;
    loss[2] = l->lattice;
    loss[3] = l->type;
    return rc;
}

/* xg_trainer_ops.validate: the validation losses with a fixed noise draw. */
static int op_validate(void *ctx, double *val, xg_error *err)
{
    trainer *T = ctx;
    xg_noise_loss vl;
    int rc = eval_pset(T->net, &T->noise, &T->va, T->core.B, T->core.hp.seed ^ XG_VAL_SEED_XOR, 1,
                       &T->w, &T->cfg->dist, &vl, err);
    val[0] = vl.total;
    val[1] = vl.coord;
    val[2] = vl.lattice;
    val[3] = vl.type;
    return rc;
}

static xg_model_desc model_desc(const trainer *T, const xg_train_state *st)
{
    xg_model_desc d;
    memset(&d, 0, sizeof d);
    d.net = T->net;
    d.weights = xg_denoiser_params(T->net);
    d.ema = T->core.ema;
    d.noise = &T->noise;
    d.hp = &T->core.hp;
    d.stats = &T->stats;
    d.cond = &T->spec;
    d.state = st;
    return d;
}

static int op_checkpoint(void *ctx, const char *path, const xg_trainer *core, xg_error *err)
{
    trainer *T = ctx;
    xg_model_desc d = model_desc(T, core->st);
    return xg_model_write(path, &d, err);
}

static void fill_progress(const trainer *T, xg_train_progress *p, const xg_trainer_progress *g)
{
    memset(p, 0, sizeof *p);
    p->event = g->event == XG_TRAINER_EV_STEP    ? XG_TRAIN_EV_STEP
               : g->event == XG_TRAINER_EV_EPOCH ? XG_TRAIN_EV_EPOCH
                                                 : XG_TRAIN_EV_CHECKPOINT;
    p->ntrain = T->tr.n;
    p->nval = T->va.n;
    p->skipped = T->tr.skipped;
    p->nlabelled = T->tr.nlabelled;
    p->cond = &T->spec;
    p->nparams = T->net ? xg_denoiser_num_params(T->net) : 0;
    p->epoch = g->epoch;
    p->epochs = g->epochs;
    p->step_in_epoch = g->step_in_epoch;
    p->steps_per_epoch = g->steps_per_epoch;
    p->step = g->step;
    p->lr = g->lr;
    if (g->steps > 0) {
        p->avg_total = g->avg[0];
        p->avg_coord = g->avg[1];
        p->avg_lattice = g->avg[2];
        p->avg_type = g->avg[3];
    }
    if (g->event == XG_TRAINER_EV_EPOCH) {
        p->val_total = g->val[0];
        p->val_coord = g->val[1];
        p->val_lattice = g->val[2];
        p->val_type = g->val[3];
    }
    p->crystals_per_s = g->crystals_per_s;
    p->sec_per_batch = g->sec_per_batch;
    p->elapsed = g->elapsed;
    p->eta = g->eta;
    p->path = g->path;
}

static int op_progress(void *ctx, const xg_trainer_progress *g)
{
    trainer *T = ctx;
    if (!T->fn)
        return 0;
    xg_train_progress p;
    fill_progress(T, &p, g);
    if (g->event == XG_TRAINER_EV_STEP)
        p.last = T->last;
    return T->fn(&p, T->user);
}

static void trainer_free(trainer *T)
{
    xg_denoiser_free(T->net);
    free(T->core.ema);
    xg_train_state_free(T->core.st);
    xg_trainer_free(&T->core);
    xg_model_stats_free(&T->stats);
    pset_free(&T->tr);
    pset_free(&T->va);
    bws_free(&T->w);
}

/* The conditions of a new run: a scalar takes the training set's scaler of its property
 * (mean and std over the labelled crystals only). */
static int build_spec(trainer *T, xg_error *err)
{
    const xg_train_config *cfg = T->cfg;
    xg_cond_spec_init(&T->spec);
    if (cfg->ncond < 0 || cfg->ncond > XG_COND_MAX)
        return xg_error_set(err, XG_EINVAL, "train: %d conditions (at most %d)", cfg->ncond, XG_COND_MAX);
    for (int i = 0; i < cfg->ncond; i++) {
        const char *name = cfg->cond_names[i];
        if (!name)
            return xg_error_set(err, XG_EINVAL, "train: condition %d has no name", i);
        int rc;
        if (!strcmp(name, XG_COND_CHEMSYS_NAME)) {
            rc = xg_cond_spec_add_chemsys(&T->spec, err);
        } else {
            int k = -1;
            char alt[XG_PROP_NAME_LEN + 8];
            snprintf(alt, sizeof alt, "dft_%s", name); /* mag_density -> dft_mag_density */
            for (int c = 0; c < T->stats.nscalers && k < 0; c++)
                if (!strcmp(T->stats.scaler_names[c], name))
                    k = c;
            for (int c = 0; c < T->stats.nscalers && k < 0; c++)
                if (!strcmp(T->stats.scaler_names[c], alt))
                    k = c;
            if (k < 0) {
                char have[1024] = "";
                size_t used = 0;
                for (int c = 0; c < T->stats.nscalers && used + 1 < sizeof have; c++) {
                    int w = snprintf(have + used, sizeof have - used, "%s%s", c ? ", " : "",
                                     T->stats.scaler_names[c]);
                    if (w < 0)
                        break;
                    used += (size_t)w;
                }
                return xg_error_set(err, XG_EINVAL,
                                    "train: condition '%s': the training set has no such property "
                                    "(it has: %s; or use '%s')",
                                    name, T->stats.nscalers ? have : "none", XG_COND_CHEMSYS_NAME);
            }
            rc = xg_cond_spec_add_scalar(&T->spec, T->stats.scaler_names[k], T->stats.scaler_mean[k],
                                         T->stats.scaler_std[k], err);
        }
        if (rc) {
            xg_error_prefix(err, rc, "train");
            return rc;
        }
    }
    if (T->spec.n > 0) {
        if (!(cfg->cond_drop >= 0 && cfg->cond_drop < 1))
            return xg_error_set(err, XG_EINVAL, "train: --cond-drop %g not in [0, 1)", cfg->cond_drop);
        T->spec.drop = cfg->cond_drop;
        if (cfg->finetune_path)
            snprintf(T->spec.base, sizeof T->spec.base, "%s", cfg->finetune_path);
    }
    return XG_OK;
}

static int is_condition_tensor(const char *name)
{
    return !strcmp(name, "cond_w") || !strcmp(name, "uncond");
}

/* Copies the base model's EMA weights into net by parameter name. Condition tensors are never
 * copied (the new conditions start from zero, i.e. from the base network); every other tensor
 * must exist in the base with the same shape. */
static int copy_by_name(xg_denoiser *net, const xg_model *base, const char *path, xg_error *err)
{
    float *dst = xg_denoiser_params(net);
    int n = xg_denoiser_param_count(net), nb = xg_denoiser_param_count(base->net);
    for (int i = 0; i < n; i++) {
        size_t off, boff;
        int rows, cols, brows, bcols;
        const char *name = xg_denoiser_param_info(net, i, &off, &rows, &cols);
        if (!name || is_condition_tensor(name))
            continue;
        int found = 0;
        for (int j = 0; j < nb && !found; j++) {
            const char *bn = xg_denoiser_param_info(base->net, j, &boff, &brows, &bcols);
            if (!bn || strcmp(bn, name) != 0)
                continue;
            if (brows != rows || bcols != cols)
                return xg_error_set(err, XG_EINVAL, "fine-tuning from %s: parameter '%s' is %dx%d "
                                    "there and %dx%d here", path, name, brows, bcols, rows, cols);
            memcpy(dst + off, base->ema + boff, (size_t)rows * (size_t)cols * sizeof(float));
            found = 1;
        }
        if (!found)
            return xg_error_set(err, XG_EINVAL, "fine-tuning from %s: the base model has no parameter "
                                "'%s'", path, name);
    }
    return XG_OK;
}

/* Fresh run: statistics and conditions from the data; the noise fitted to the data and a new
 * network, or both taken from the base model when fine-tuning. */
static int setup_fresh(trainer *T, const xg_dataset *train, const xg_dataset *val, xg_error *err)
{
    const xg_train_config *cfg = T->cfg;
    int rc = stats_from_pset(&T->tr, train, &T->stats, err);
    rc = rc ? rc : build_spec(T, err);
    rc = rc ? rc : pset_conditions(&T->tr, train, &T->spec, "training", err);
    rc = rc ? rc : pset_conditions(&T->va, val, &T->spec, "validation", err);
    if (rc)
        return rc;
    if (T->spec.n > 0 && T->tr.nlabelled == 0) {
        char names[XG_COND_MAX * (XG_PROP_NAME_LEN + 2) + 8];
        xg_cond_spec_names(&T->spec, names, sizeof names);
        return xg_error_set(err, XG_EINVAL, "train: no training crystal has a label for %s", names);
    }
    xg_denoiser_config nc = cfg->net;
    xg_model *base = NULL;
    if (cfg->finetune_path) {
        rc = xg_model_load(cfg->finetune_path, XG_MODEL_LOAD_EMA, &base, err);
        if (rc) {
            xg_error_prefix(err, rc, "fine-tuning");
            return rc;
        }
        /* The base network was trained on these noise processes: keep them exactly. */
        T->noise = base->noise;
        nc = base->cfg;
        if (cfg->csp)
            T->noise.csp = 1; /* same processes, types no longer masked */
        if (cfg->noise.class_mask > 0)
            T->noise.class_mask = cfg->noise.class_mask; /* same processes, masked by element */
    } else {
        int *nat = malloc((size_t)T->tr.n * sizeof(int));
        if (!nat)
            return xg_error_set(err, XG_ENOMEM, "train: out of memory");
        for (int64_t b = 0; b < T->tr.n; b++)
            nat[b] = (int)(T->tr.off[b + 1] - T->tr.off[b]);
        rc = xg_noise_fit(&T->noise, T->tr.n, T->tr.S, nat, err);
        free(nat);
        if (rc)
            return rc;
    }
    nc.cond_dim = T->spec.dim;
    T->net = xg_denoiser_alloc(&nc, err);
    if (!T->net) {
        xg_model_free(base);
        return err ? err->code : XG_EINVAL;
    }
    xg_denoiser_init_params(T->net, T->core.hp.seed);
    if (base) {
        rc = copy_by_name(T->net, base, cfg->finetune_path, err);
        xg_model_free(base);
        if (rc)
            return rc;
    }
    size_t np = xg_denoiser_num_params(T->net);
    T->core.ema = malloc((np ? np : 1) * sizeof(float));
    if (!T->core.ema)
        return xg_error_set(err, XG_ENOMEM, "train: out of memory for the EMA weights");
    memcpy(T->core.ema, xg_denoiser_params(T->net), np * sizeof(float));
    T->core.st = xg_train_state_alloc(np, T->tr.n, XG_HIST_COLS, 0, err);
    if (!T->core.st)
        return err ? err->code : XG_ENOMEM;
    T->core.st->threads = T->core.hp.threads;
    T->core.st->data_hash = pset_hash(&T->tr);
    xg_rng_seed(&T->core.rng, T->core.hp.seed, XG_TRAIN_STREAM);
    return XG_OK;
}

int xg_train_run(const xg_train_config *cfg, const xg_dataset *train, const xg_dataset *val,
                 xg_train_progress_fn fn, void *user, xg_train_result *res, xg_error *err)
{
    xg_train_result dummy;
    if (!res)
        res = &dummy;
    memset(res, 0, sizeof *res);
    res->val_loss = NAN;
    res->train_loss = NAN;
    if (!cfg || !train || !cfg->out_path || !cfg->ckpt_path)
        return xg_error_set(err, XG_EINVAL, "train: need a configuration, a training set, and output "
                                            "and checkpoint paths");
    trainer T;
    memset(&T, 0, sizeof T);
    T.cfg = cfg;
    T.fn = fn;
    T.user = user;
    xg_trainer *C = &T.core;
    C->t0 = xg_train_clock();
    C->hp = cfg->hp;
    T.noise = cfg->noise;
    if (cfg->csp)
        T.noise.csp = 1; /* on resume the checkpoint's noise (which records it) replaces this */
    int rc = XG_OK;

    if (cfg->resume) {
        xg_model *ck = NULL;
        rc = xg_model_load(cfg->ckpt_path, XG_MODEL_LOAD_STATE, &ck, err);
        if (rc) {
            xg_error_prefix(err, rc, "resuming");
            return rc;
        }
        /* The run's identity comes from the checkpoint; this invocation may only change when
         * to stop and how often to checkpoint (and the thread count, at the cost of
         * bit-identity, which the caller is told through ckpt_threads). */
        xg_hparams_resume(&C->hp, &ck->hp, &cfg->hp);
        T.noise = ck->noise;
        T.stats = ck->stats;
        memset(&ck->stats, 0, sizeof ck->stats);
        T.net = ck->net;
        ck->net = NULL;
        C->ema = ck->ema;
        ck->ema = NULL;
        C->st = ck->state;
        ck->state = NULL;
        T.spec = ck->cond;
        int ckdim = ck->cfg.cond_dim;
        memcpy(C->rng.s, C->st->rng, sizeof C->rng.s);
        xg_model_free(ck);
        if (ckdim > 0 && T.spec.n == 0) {
            rc = xg_error_set(err, XG_EPARSE, "resuming %s: the network has cond_dim %d but the file "
                              "has no /condition group", cfg->ckpt_path, ckdim);
            goto done;
        }
        int same = cfg->ncond == 0 || cfg->ncond == T.spec.n;
        for (int i = 0; i < cfg->ncond && same; i++)
            same = cfg->cond_names[i] && xg_cond_spec_find(&T.spec, cfg->cond_names[i]) == i;
        if (!same) {
            char names[XG_COND_MAX * (XG_PROP_NAME_LEN + 2) + 8];
            xg_cond_spec_names(&T.spec, names, sizeof names);
            rc = xg_error_set(err, XG_EINVAL, "resuming %s: the checkpoint is conditioned on %s; "
                              "resume with the same conditions (or none)", cfg->ckpt_path, names);
            goto done;
        }
    }
    rc = xg_optim_check_hparams(&C->hp, 1000000, "train", err);
    rc = rc ? rc : xg_noise_params_check(&T.noise, err);
    if (rc)
        goto done;
#ifdef _OPENMP
    if (C->hp.threads > 0)
        omp_set_num_threads(C->hp.threads);
#endif
    rc = pset_build(train, C->hp.max_structures, &T.tr, "training", err);
    rc = rc ? rc : pset_build(val, C->hp.max_structures, &T.va, "validation", err);
    if (rc)
        goto done;
    if (T.tr.n == 0) {
        rc = xg_error_set(err, XG_EINVAL, "train: no usable crystals in the training set (%lld skipped: "
                          "no atoms, Z > %d or a singular lattice)", (long long)T.tr.skipped, XG_NUM_TYPES);
        goto done;
    }
    if (cfg->resume) {
        rc = pset_conditions(&T.tr, train, &T.spec, "training", err);
        rc = rc ? rc : pset_conditions(&T.va, val, &T.spec, "validation", err);
        if (rc)
            goto done;
        /* A re-imported copy of the same crystals can differ in the last bits (a newer
         * reader); allow_new_data continues on it, giving up bit-exact reproduction, as long
         * as the saved data order still indexes it. The new fingerprint is kept from here on. */
        if (cfg->allow_new_data && C->st->nperm == T.tr.n)
            C->st->data_hash = pset_hash(&T.tr);
        if (C->st->nperm != T.tr.n || C->st->data_hash != pset_hash(&T.tr)) {
            rc = xg_error_set(err, XG_EINVAL,
                              "resuming %s: the checkpoint was made on another training set (%lld "
                              "crystals; this one has %lld%s); resume with the same --data "
                              "(or --allow-new-data for a re-import of the same crystals)",
                              cfg->ckpt_path, (long long)C->st->nperm, (long long)T.tr.n,
                              C->st->nperm == T.tr.n ? " but different contents" : "");
            goto done;
        }
    } else {
        rc = setup_fresh(&T, train, val, err);
        if (rc)
            goto done;
    }
    /* The loop's part (xg_trainer.h). */
    C->ops.nloss = 4;
    C->ops.nval = 4;
    C->ops.throughput = 1;
    C->ops.hours_policy = XG_HOURS_FIRST_EPOCH;
    C->ops.who = "train";
    C->ops.columns = xg_hist_column_names;
    C->ops.formats = hist_formats;
    C->ops.batch = op_batch;
    C->ops.validate = T.va.n > 0 ? op_validate : NULL;
    C->ops.checkpoint = op_checkpoint;
    C->ops.progress = op_progress;
    C->ops.ctx = &T;
    C->dist = cfg->dist;
    C->ckpt_path = cfg->ckpt_path;
    C->log_path = cfg->log_path;
    C->stop_at_step = cfg->stop_at_step;
    C->nseg = 1;
    C->seg_p[0] = xg_denoiser_params(T.net);
    C->seg_g[0] = xg_denoiser_grads(T.net);
    C->seg_n[0] = xg_denoiser_num_params(T.net);
    C->ntrain = T.tr.n;
    rc = xg_trainer_start(C, err);
    if (rc)
        goto done;
    if (xg_train_dist_on(&cfg->dist) && C->B < cfg->dist.size) {
        rc = xg_error_set(err, XG_EINVAL, "train: a batch of %d crystals cannot be split over %d "
                          "processes; use --batch %d or more", C->B, cfg->dist.size, cfg->dist.size);
        goto done;
    }
    rc = xg_trainer_check_same(C, "at the start", err);
    if (rc)
        goto done;
    if (C->hp.epochs > 0 && (!cfg->resume || cfg->reschedule)) {
        if (cfg->resume && (int64_t)C->hp.epochs * C->spe <= C->st->step) {
            rc = xg_error_set(err, XG_EINVAL, "resuming %s: cannot reschedule to end at epoch %d, "
                              "the run is already at step %lld (epoch %lld)", cfg->ckpt_path,
                              C->hp.epochs, (long long)C->st->step, (long long)C->st->epoch);
            goto done;
        }
        C->st->horizon = (int64_t)C->hp.epochs * C->spe;
    }
    {
        /* No batch holds more atoms (pairs) than the B largest crystals of either set. */
        long atoms = 0, pairs = 0;
        rc = xg_train_batch_bound(T.tr.off, T.tr.n, C->B, &atoms, &pairs, err);
        long va_atoms = 0, va_pairs = 0;
        rc = rc ? rc : xg_train_batch_bound(T.va.off, T.va.n, C->B, &va_atoms, &va_pairs, err);
        if (rc)
            goto done;
        if (va_atoms > atoms)
            atoms = va_atoms;
        if (va_pairs > pairs)
            pairs = va_pairs;
        if (atoms > 2000000000L) {
            rc = xg_error_set(err, XG_EINVAL, "train: a batch of %d crystals would hold %ld atoms", C->B, atoms);
            goto done;
        }
        rc = bws_alloc(&T.w, C->B, (int)atoms, T.spec.dim, err);
        rc = rc ? rc : xg_denoiser_reserve(T.net, C->B, (int)atoms, pairs, err);
        if (rc)
            goto done;
    }
    xg_trainer_progress g;
    xg_train_progress p;
    if (fn) {
        xg_trainer_progress_fill(C, XG_TRAINER_EV_STEP, &g);
        fill_progress(&T, &p, &g);
        p.event = XG_TRAIN_EV_START;
        p.resumed = cfg->resume;
        p.ckpt_threads = C->st->threads;
        fn(&p, user);
    }
    C->st->threads = C->hp.threads;

    int stopped = 0;
    rc = xg_trainer_run(C, &stopped, err);
    if (rc)
        goto done;
    res->stopped_early = stopped;
    if (xg_train_dist_on(&cfg->dist) == 0 || cfg->dist.rank == 0) {
        xg_model_desc d = model_desc(&T, NULL);
        rc = xg_model_write(cfg->out_path, &d, err);
    }
    if (rc)
        goto done;
    const xg_train_state *st = C->st;
    res->steps = st->step;
    res->epochs = st->epoch;
    if (st->sums[XG_SUM_STEPS] > 0)
        res->train_loss = st->sums[XG_SUM_TOTAL] / st->sums[XG_SUM_STEPS];
    else if (st->nhist > 0)
        res->train_loss = st->hist[(st->nhist - 1) * XG_HIST_COLS + XG_HIST_TRAIN];
    if (st->nhist > 0)
        res->val_loss = st->hist[(st->nhist - 1) * XG_HIST_COLS + XG_HIST_VAL];
    if (fn) {
        xg_trainer_progress_fill(C, XG_TRAINER_EV_STEP, &g);
        fill_progress(&T, &p, &g);
        p.event = XG_TRAIN_EV_DONE;
        p.path = cfg->out_path;
        fn(&p, user);
    }
done:
    trainer_free(&T);
    return rc;
}
