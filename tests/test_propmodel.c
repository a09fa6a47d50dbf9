/* test_propmodel.c: property models: gradients of the regression head and of the pooled path
 * through the trunk against central differences, a synthetic regression the model must learn in
 * seconds, NaN labels skipped (and counted, never read as zero), model-file round trip, version
 * and format refusal, resume equal to an uninterrupted run, prediction consistency (alone vs
 * batched, atom order) and bad input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "xg_test.h"
#include "crystal/xg_dataset.h"
#include "crystal/xg_rng.h"
#include "crystal/xg_structure.h"
#include "diffusion/xg_denoiser.h"
#include "properties/xg_propmodel.h"

/* ------------------------------------------------------------------ helpers */

/* A random crystal of n atoms from a small element pool, volume per atom vpa (A^3), skewed
 * cell. */
static xg_structure *random_crystal(xg_rng *r, int n, double vpa)
{
    static const int pool[] = {3, 8, 12, 26, 29, 53};
    xg_structure *s = xg_structure_alloc(n);
    double a = cbrt(vpa * n);
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++)
            s->lattice[i][k] = (i == k ? a : 0.0) + 0.15 * a * (xg_rng_uniform(r) - 0.5);
    for (int i = 0; i < n; i++) {
        s->types[i] = pool[xg_rng_below(r, 6)];
        for (int k = 0; k < 3; k++)
            s->frac[i][k] = xg_rng_uniform(r);
    }
    return s;
}

/* Synthetic set: target "density" = 100 atoms / volume (an intensive quantity the metric
 * features carry); every `nan_every`-th label is NaN (0 = none). */
static xg_dataset *synthetic_set(int n, uint64_t seed, int nan_every, int *nnan)
{
    xg_rng r;
    xg_rng_seed(&r, seed, 7);
    xg_dataset *ds = xg_dataset_alloc();
    xg_error err;
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    CU_ASSERT_EQUAL(xg_dataset_add_property(ds, "other", &err), 0);
    CU_ASSERT_EQUAL(xg_dataset_add_property(ds, "density", &err), 1);
    if (nnan)
        *nnan = 0;
    for (int i = 0; i < n; i++) {
        int na = 1 + (int)xg_rng_below(&r, 6);
        double vpa = 8.0 + 24.0 * xg_rng_uniform(&r);
        xg_structure *s = random_crystal(&r, na, vpa);
        snprintf(s->id, sizeof s->id, "syn-%d", i);
        double props[2] = {1.0, 100.0 * na / xg_structure_volume(s)};
        if (nan_every > 0 && i % nan_every == nan_every - 1) {
            props[1] = NAN;
            if (nnan)
                (*nnan)++;
        }
        CU_ASSERT_EQUAL(xg_dataset_append(ds, s, props, &err), XG_OK);
        xg_structure_free(s);
    }
    return ds;
}

typedef struct {
    int nstructs, natoms;
    int offsets[9];
    int tokens[64];
    float frac[64 * 3];
    float lattice[8 * 9];
} tbatch;

static xg_batch make_batch(tbatch *tb, const int *sizes, int ns, uint64_t seed)
{
    xg_rng r;
    xg_rng_seed(&r, seed, 3);
    memset(tb, 0, sizeof *tb);
    tb->nstructs = ns;
    for (int s = 0; s < ns; s++) {
        tb->offsets[s + 1] = tb->offsets[s] + sizes[s];
        double a = cbrt(15.0 * sizes[s]);
        for (int k = 0; k < 9; k++)
            tb->lattice[s * 9 + k] = (float)((k % 4 == 0 ? a : 0.0) + 0.6 * xg_rng_normal(&r));
    }
    tb->natoms = tb->offsets[ns];
    for (int i = 0; i < tb->natoms; i++) {
        tb->tokens[i] = (int)xg_rng_below(&r, XG_NUM_TYPES);
        for (int k = 0; k < 3; k++)
            tb->frac[i * 3 + k] = (float)xg_rng_uniform(&r);
    }
    xg_batch b;
    memset(&b, 0, sizeof b);
    b.nstructs = ns;
    b.natoms = tb->natoms;
    b.offsets = tb->offsets;
    b.tokens = tb->tokens;
    b.frac = tb->frac;
    b.lattice = tb->lattice;
    return b; /* t and cond are left NULL: the model supplies its own */
}

/* A small model with every parameter moved off its initial value, so every path is live. */
static xg_propmodel *small_model(int H, int L, uint64_t seed)
{
    xg_denoiser_config c = {H, L, 2, 6, 0};
    xg_error err;
    xg_propmodel *m = xg_propmodel_alloc(&c, "density", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    xg_propmodel_init_params(m, seed);
    xg_rng r;
    xg_rng_seed(&r, seed, 11);
    xg_denoiser *net = xg_propmodel_trunk(m);
    float *w = xg_denoiser_params(net);
    for (int i = 0; i < xg_denoiser_param_count(net); i++) {
        size_t off;
        int rows, cols;
        const char *name = xg_denoiser_param_info(net, i, &off, &rows, &cols);
        if (!strncmp(name, "out.", 4) && strcmp(name, "out.ln_g") && strcmp(name, "out.ln_b"))
            continue; /* the unused heads stay zero */
        for (size_t k = 0; k < (size_t)rows * cols; k++)
            w[off + k] += (float)(0.3 * xg_rng_normal(&r));
    }
    size_t nh;
    float *h = xg_propmodel_head_params(m, &nh);
    for (size_t k = 0; k < nh; k++)
        h[k] += (float)(0.3 * xg_rng_normal(&r));
    return m;
}

static double weighted_output(xg_propmodel *m, const xg_batch *b, const double *wt)
{
    float y[8];
    xg_error err;
    CU_ASSERT_EQUAL_FATAL(xg_propmodel_forward(m, b, y, &err), XG_OK);
    double s = 0;
    for (int k = 0; k < b->nstructs; k++)
        s += wt[k] * (double)y[k];
    return s;
}

/* Central difference of the weighted output w.r.t. p[k] vs the analytic gradient g[k]. */
static int check_entry(xg_propmodel *m, const xg_batch *b, const double *wt, float *p,
                       const float *g, size_t k, double gmax, const char *name)
{
    const float h = 4e-3f, save = p[k];
    p[k] = save + h;
    double fp = weighted_output(m, b, wt);
    p[k] = save - h;
    double fm = weighted_output(m, b, wt);
    p[k] = save;
    double hp = (double)(save + h) - (double)(save - h); /* the step actually taken in float */
    double fd = (fp - fm) / hp, an = g[k];
    if (fabs(fd - an) > 2e-2 * fabs(fd) + 2e-3 * gmax + 2e-5) {
        printf("\n    %s[%zu]: analytic %.6g, finite difference %.6g\n", name, k, an, fd);
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ gradients */

static void test_gradients(void)
{
    const int sizes[] = {3, 1, 4};
    tbatch tb;
    xg_batch b = make_batch(&tb, sizes, 3, 5);
    xg_propmodel *m = small_model(8, 2, 3);
    xg_error err;
    double wt[3] = {0.7, -1.3, 0.4};
    float y[3], dy[3] = {0.7f, -1.3f, 0.4f};
    CU_ASSERT_EQUAL_FATAL(xg_propmodel_forward(m, &b, y, &err), XG_OK);
    xg_propmodel_zero_grad(m);
    CU_ASSERT_EQUAL_FATAL(xg_propmodel_backward(m, &b, dy, &err), XG_OK);
    /* keep a copy: the finite-difference forwards leave the gradients alone, but be explicit */
    xg_denoiser *net = xg_propmodel_trunk(m);
    size_t nt = xg_denoiser_num_params(net), nh;
    float *gt = malloc(nt * sizeof(float)), *gh = malloc(1000 * sizeof(float));
    memcpy(gt, xg_denoiser_grads(net), nt * sizeof(float));
    float *hp = xg_propmodel_head_params(m, &nh);
    CU_ASSERT_FATAL(nh <= 1000);
    memcpy(gh, xg_propmodel_head_grads(m, NULL), nh * sizeof(float));

    xg_rng r;
    xg_rng_seed(&r, 77, 0);
    int nbad = 0, nchecked = 0;
    /* the head: every entry of b2, w2, b1 and a sample of w1 (layout w1 | b1 | w2 | b2) */
    const int H = 8;
    double gmax = 0;
    for (size_t k = 0; k < nh; k++)
        gmax = fmax(gmax, fabs(gh[k]));
    CU_ASSERT(gmax > 0);
    for (size_t k = (size_t)H * H; k < nh; k++, nchecked++)
        nbad += check_entry(m, &b, wt, hp, gh, k, gmax, "head");
    for (int rep = 0; rep < 16; rep++, nchecked++)
        nbad += check_entry(m, &b, wt, hp, gh, (size_t)xg_rng_below(&r, (uint64_t)H * H), gmax,
                            "head.w1");
    /* the trunk through the pooled node states: every tensor the regressor uses */
    float *wtr = xg_denoiser_params(net);
    int ntensors = 0;
    for (int i = 0; i < xg_denoiser_param_count(net); i++) {
        size_t off;
        int rows, cols;
        const char *name = xg_denoiser_param_info(net, i, &off, &rows, &cols);
        size_t n = (size_t)rows * cols;
        double tmax = 0;
        for (size_t k = 0; k < n; k++)
            tmax = fmax(tmax, fabs(gt[off + k]));
        int unused = !strncmp(name, "out.", 4) && strcmp(name, "out.ln_g") && strcmp(name, "out.ln_b");
        if (unused) {
            /* the denoiser's own heads get no gradient from a regression loss */
            if (tmax != 0.0) {
                printf("\n    %s: unused head has gradient %g\n", name, tmax);
                nbad++;
            }
            continue;
        }
        if (tmax == 0.0) { /* a vacuous check is a failed check */
            printf("\n    %s: gradient is identically zero\n", name);
            nbad++;
            continue;
        }
        ntensors++;
        for (int rep = 0; rep < 3; rep++, nchecked++) {
            size_t k = (size_t)xg_rng_below(&r, n);
            if (!strcmp(name, "type_embed"))
                k = (size_t)tb.tokens[xg_rng_below(&r, (uint64_t)tb.natoms)] * 8 + xg_rng_below(&r, 8);
            nbad += check_entry(m, &b, wt, wtr, gt, off + k, tmax, name);
        }
        /* the largest entry too: a wrong scale shows there first */
        size_t kmax = 0;
        for (size_t k = 0; k < n; k++)
            if (fabs(gt[off + k]) > fabs(gt[off + kmax]))
                kmax = k;
        nbad += check_entry(m, &b, wt, wtr, gt, off + kmax, tmax, name);
        nchecked++;
    }
    printf("\n    %d gradient entries over the head and %d trunk tensors, %d bad\n", nchecked,
           ntensors, nbad);
    CU_ASSERT(ntensors >= 10);
    CU_ASSERT_EQUAL(nbad, 0);

    /* backward accumulates: a second backward doubles every gradient */
    CU_ASSERT_EQUAL(xg_propmodel_forward(m, &b, y, &err), XG_OK);
    xg_propmodel_zero_grad(m);
    CU_ASSERT_EQUAL(xg_propmodel_backward(m, &b, dy, &err), XG_OK);
    CU_ASSERT_EQUAL(xg_propmodel_backward(m, &b, dy, &err), XG_OK);
    const float *g2 = xg_propmodel_head_grads(m, NULL);
    int dbl = 1;
    for (size_t k = 0; k < nh; k++)
        if (fabsf(g2[k] - 2 * gh[k]) > 1e-5f * (1 + fabsf(gh[k])))
            dbl = 0;
    CU_ASSERT(dbl);
    free(gt);
    free(gh);
    xg_propmodel_free(m);
}

static void test_backward_needs_forward(void)
{
    xg_propmodel *m = small_model(8, 1, 1);
    const int sizes[] = {2, 2};
    tbatch tb, tb2;
    xg_batch b = make_batch(&tb, sizes, 2, 1), b2 = make_batch(&tb2, sizes, 2, 2);
    float dy[2] = {1, 1}, y[2];
    xg_error err;
    CU_ASSERT_EQUAL(xg_propmodel_backward(m, &b, dy, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_propmodel_forward(m, &b, y, &err), XG_OK);
    CU_ASSERT_EQUAL(xg_propmodel_backward(m, &b2, dy, &err), XG_EINVAL); /* another batch */
    /* clean crystals only: the mask token is refused */
    tb.tokens[0] = XG_MASK_TOKEN;
    CU_ASSERT_EQUAL(xg_propmodel_forward(m, &b, y, &err), XG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "clean crystals"));
    xg_propmodel_free(m);
}

/* ------------------------------------------------------------------ training */

static xg_propmodel_train_config small_config(const char *dir, const char *name)
{
    static char out[8][512], ck[8][512];
    static int slot;
    int s = slot++ % 8;
    snprintf(out[s], sizeof out[s], "%s/%s.h5", dir, name);
    snprintf(ck[s], sizeof ck[s], "%s/%s.ckpt.h5", dir, name);
    xg_propmodel_train_config c;
    xg_propmodel_train_config_default(&c);
    c.trunk.hidden = 32;
    c.trunk.layers = 1;
    c.trunk.n_freq = 2;
    c.trunk.time_dim = 8;
    c.target = "density";
    c.hp.batch = 16;
    c.hp.epochs = 30;
    c.hp.lr = 3e-3;
    c.hp.lr_min = 1e-4;
    c.hp.warmup_steps = 20;
    c.hp.ema_decay = 0.9;
    c.hp.threads = 0; /* leave the thread count as the environment set it */
    c.hp.seed = 3;
    c.out_path = out[s];
    c.ckpt_path = ck[s];
    return c;
}

static int count_epochs(const xg_propmodel_progress *p, void *user)
{
    if (p->event == XG_PROP_EV_EPOCH)
        (*(int *)user)++;
    return 0;
}

static void test_synthetic_regression(void)
{
    int nnan = 0;
    xg_dataset *tr = synthetic_set(240, 1, 6, &nnan), *va = synthetic_set(60, 2, 0, NULL);
    xg_dataset *te = synthetic_set(60, 3, 5, NULL);
    const char *dir = xg_test_tmpdir();
    xg_propmodel_train_config c = small_config(dir, "syn");
    xg_propmodel_train_result res;
    xg_error err;
    int epochs_seen = 0;
    int rc = xg_propmodel_train(&c, tr, va, te, count_epochs, &epochs_seen, &res, &err);
    if (rc)
        printf("\n    %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, XG_OK);
    CU_ASSERT_EQUAL(epochs_seen, 30);
    CU_ASSERT_EQUAL(res.epochs, 30);
    /* NaN labels are skipped and counted */
    CU_ASSERT_EQUAL(nnan, 40);
    CU_ASSERT_EQUAL(res.nolabel[0], 40);
    CU_ASSERT_EQUAL(res.ntrain, 200);
    CU_ASSERT_EQUAL(res.nolabel[1], 0);
    CU_ASSERT_EQUAL(res.nolabel[2], 12);
    CU_ASSERT_EQUAL(res.ntest, 48);
    printf("\n    val MAE %.4f (mean predictor %.4f), test MAE %.4f (mean predictor %.4f), best "
           "epoch %lld\n",
           res.val_mae, res.baseline_val_mae, res.test_mae, res.baseline_test_mae,
           (long long)res.best_epoch);
    CU_ASSERT(res.val_mae < 0.35 * res.baseline_val_mae);
    CU_ASSERT(res.test_mae < 0.35 * res.baseline_test_mae);

    /* the file carries what was measured, and the scaler comes from labelled crystals only */
    xg_propmodel *m = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_propmodel_load(c.out_path, &m, &err), XG_OK);
    const xg_propmodel_info *in = xg_propmodel_get_info(m);
    CU_ASSERT_STRING_EQUAL(in->target, "density");
    CU_ASSERT_EQUAL(in->val_mae, res.val_mae);
    CU_ASSERT_EQUAL(in->test_mae, res.test_mae);
    CU_ASSERT_EQUAL(in->n_train, 200);
    CU_ASSERT_EQUAL(in->n_test, 48);
    CU_ASSERT_EQUAL(in->epochs, 30);
    int col = xg_dataset_find_property(tr, "density");
    double s = 0;
    int cnt = 0;
    for (int64_t i = 0; i < tr->n; i++) {
        double v = tr->props[i * tr->nprops + col];
        if (!isnan(v)) {
            s += v;
            cnt++;
        }
    }
    XG_ASSERT_NEAR(in->mean, s / cnt, 1e-9 * fabs(s / cnt));
    /* the loaded model reproduces the measured test MAE */
    double *pred = malloc((size_t)te->n * sizeof(double));
    int64_t skipped = -1;
    CU_ASSERT_EQUAL(xg_propmodel_predict_dataset(m, te, pred, &skipped, &err), XG_OK);
    CU_ASSERT_EQUAL(skipped, 0);
    double mae = 0;
    int nl = 0;
    for (int64_t i = 0; i < te->n; i++) {
        double v = te->props[i * te->nprops + col];
        if (isnan(v))
            continue;
        mae += fabs(pred[i] - v);
        nl++;
    }
    mae /= nl;
    XG_ASSERT_NEAR(mae, res.test_mae, 1e-6 * (1 + res.test_mae));
    free(pred);
    xg_propmodel_free(m);
    xg_dataset_free(tr);
    xg_dataset_free(va);
    xg_dataset_free(te);
}

static void test_all_labels_missing(void)
{
    xg_dataset *tr = synthetic_set(12, 4, 1, NULL); /* every label NaN */
    xg_dataset *va = synthetic_set(6, 5, 0, NULL);
    xg_propmodel_train_config c = small_config(xg_test_tmpdir(), "nolabels");
    xg_error err;
    CU_ASSERT_EQUAL(xg_propmodel_train(&c, tr, va, NULL, NULL, NULL, NULL, &err), XG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "12 without a label"));
    c.target = "no_such_property";
    CU_ASSERT_EQUAL(xg_propmodel_train(&c, va, va, NULL, NULL, NULL, NULL, &err), XG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no_such_property"));
    xg_dataset_free(tr);
    xg_dataset_free(va);
}

/* A run stopped at a step and resumed ends with exactly the uninterrupted run's model. */
static void test_resume_matches(void)
{
    xg_dataset *tr = synthetic_set(64, 6, 7, NULL), *va = synthetic_set(16, 7, 0, NULL);
    const char *dir = xg_test_tmpdir();
    xg_propmodel_train_config a = small_config(dir, "ref"), b = small_config(dir, "stop");
    a.hp.epochs = b.hp.epochs = 4;
    a.hp.batch = b.hp.batch = 8; /* 54 labelled -> 6 steps per epoch */
    xg_error err;
    xg_propmodel_train_result ra, rb;
    CU_ASSERT_EQUAL_FATAL(xg_propmodel_train(&a, tr, va, NULL, NULL, NULL, &ra, &err), XG_OK);
    b.stop_at_step = 9; /* mid-epoch */
    CU_ASSERT_EQUAL_FATAL(xg_propmodel_train(&b, tr, va, NULL, NULL, NULL, &rb, &err), XG_OK);
    CU_ASSERT(rb.stopped_early);
    CU_ASSERT_EQUAL(rb.steps, 9);
    b.stop_at_step = 0;
    b.resume = 1;
    int rc = xg_propmodel_train(&b, tr, va, NULL, NULL, NULL, &rb, &err);
    if (rc)
        printf("\n    %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, XG_OK);
    CU_ASSERT_EQUAL(rb.steps, ra.steps);
    CU_ASSERT_EQUAL(rb.val_mae, ra.val_mae);
    xg_propmodel *ma = NULL, *mb = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_propmodel_load(a.out_path, &ma, &err), XG_OK);
    CU_ASSERT_EQUAL_FATAL(xg_propmodel_load(b.out_path, &mb, &err), XG_OK);
    size_t n = xg_denoiser_num_params(xg_propmodel_trunk(ma)), nh;
    CU_ASSERT(memcmp(xg_denoiser_params(xg_propmodel_trunk(ma)),
                     xg_denoiser_params(xg_propmodel_trunk(mb)), n * sizeof(float)) == 0);
    float *ha = xg_propmodel_head_params(ma, &nh), *hb = xg_propmodel_head_params(mb, NULL);
    CU_ASSERT(memcmp(ha, hb, nh * sizeof(float)) == 0);
    /* resuming on another training set is refused */
    xg_dataset *other = synthetic_set(64, 99, 7, NULL);
    CU_ASSERT_NOT_EQUAL(xg_propmodel_train(&b, other, va, NULL, NULL, NULL, NULL, &err), XG_OK);
    /* a final model file is not a checkpoint */
    b.ckpt_path = b.out_path;
    CU_ASSERT_EQUAL(xg_propmodel_train(&b, tr, va, NULL, NULL, NULL, NULL, &err), XG_EINVAL);
    xg_propmodel_free(ma);
    xg_propmodel_free(mb);
    xg_dataset_free(other);
    xg_dataset_free(tr);
    xg_dataset_free(va);
}

/* ------------------------------------------------------------------ files */

static void set_version(const char *path, int64_t v)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    hid_t a = H5Aopen(f, "version", H5P_DEFAULT);
    CU_ASSERT(a >= 0);
    H5Awrite(a, H5T_NATIVE_INT64, &v);
    H5Aclose(a);
    H5Fclose(f);
}

static void test_roundtrip_and_versions(void)
{
    xg_propmodel *m = small_model(16, 2, 8);
    xg_error err;
    CU_ASSERT_EQUAL(xg_propmodel_set_scaler(m, -1.5, 0.8, &err), XG_OK);
    CU_ASSERT_EQUAL(xg_propmodel_set_scaler(m, 0.0, 0.0, &err), XG_EINVAL);
    const char *dir = xg_test_tmpdir();
    char path[512], tmp[600];
    snprintf(path, sizeof path, "%s/m.h5", dir);
    CU_ASSERT_EQUAL_FATAL(xg_propmodel_write(m, path, &err), XG_OK);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CU_ASSERT(!xg_test_exists(tmp)); /* renamed into place */
    xg_dataset *ds = synthetic_set(20, 9, 0, NULL);
    double a[20], b[20];
    CU_ASSERT_EQUAL(xg_propmodel_predict_dataset(m, ds, a, NULL, &err), XG_OK);
    xg_propmodel *m2 = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_propmodel_load(path, &m2, &err), XG_OK);
    CU_ASSERT_EQUAL(xg_propmodel_predict_dataset(m2, ds, b, NULL, &err), XG_OK);
    CU_ASSERT(memcmp(a, b, sizeof a) == 0);
    const xg_propmodel_info *in = xg_propmodel_get_info(m2);
    CU_ASSERT_EQUAL(in->mean, -1.5);
    CU_ASSERT_EQUAL(in->std, 0.8);
    CU_ASSERT(isnan(in->val_mae) && isnan(in->test_mae));
    CU_ASSERT_EQUAL(xg_denoiser_get_config(xg_propmodel_trunk(m2))->hidden, 16);
    xg_propmodel_free(m2);

    /* an unknown version is refused with the reason */
    set_version(path, 2);
    m2 = (xg_propmodel *)1;
    CU_ASSERT_EQUAL(xg_propmodel_load(path, &m2, &err), XG_EVERSION);
    CU_ASSERT_PTR_NULL(m2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "version 2"));
    set_version(path, 0);
    CU_ASSERT_EQUAL(xg_propmodel_load(path, &m2, &err), XG_EVERSION);
    /* another format, a file that is not HDF5, a missing file */
    CU_ASSERT_EQUAL(xg_propmodel_load(XG_SOURCE_DIR "/tests/fixtures/model_v1_uncond.h5", &m2, &err),
                    XG_EPARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "xtalgen-propmodel"));
    const char *junk = xg_test_tmpfile(".h5", "not hdf5\n");
    CU_ASSERT_EQUAL(xg_propmodel_load(junk, &m2, &err), XG_EIO);
    CU_ASSERT_EQUAL(xg_propmodel_load("/nonexistent/p.h5", &m2, &err), XG_EIO);
    /* writing into a missing directory fails cleanly */
    CU_ASSERT_EQUAL(xg_propmodel_write(m, "/nonexistent/dir/p.h5", &err), XG_EIO);
    xg_dataset_free(ds);
    xg_propmodel_free(m);
}

/* ------------------------------------------------------------------ training domain */

static xg_structure *cubic2(int z1, int z2, double a, double f1)
{
    /* Two atoms, one at the origin and one at (f1, f1, f1), in a cube of edge a. */
    xg_structure *s = xg_structure_alloc(2);
    for (int i = 0; i < 3; i++) {
        s->lattice[i][i] = a;
        s->frac[1][i] = f1;
    }
    s->types[0] = z1;
    s->types[1] = z2;
    return s;
}

static void test_domain(void)
{
    xg_error err;
    xg_dataset *ds = xg_dataset_alloc();
    CU_ASSERT_EQUAL(xg_dataset_add_property(ds, "band_gap", &err), 0);
    /* bcc Fe at 2.80 and 2.95 A, CsCl-type NaCl at 3.3 A, and an unlabelled Cu cell (not part
     * of the band-gap model's domain: missing labels are not training crystals). */
    double a[4] = {2.80, 2.95, 3.3, 3.6}, y[4] = {0.0, 0.1, 4.0, NAN};
    int z[4][2] = {{26, 26}, {26, 26}, {11, 17}, {29, 29}};
    for (int i = 0; i < 4; i++) {
        xg_structure *s = cubic2(z[i][0], z[i][1], a[i], 0.5);
        CU_ASSERT_EQUAL(xg_dataset_append(ds, s, &y[i], &err), XG_OK);
        xg_structure_free(s);
    }
    xg_propmodel_domain d;
    int64_t skipped = -1;
    CU_ASSERT_EQUAL_FATAL(xg_propmodel_domain_compute(ds, "band_gap", 0, &d, &skipped, &err), XG_OK);
    CU_ASSERT_EQUAL(d.have, 1);
    CU_ASSERT_EQUAL(d.n, 3);
    CU_ASSERT_EQUAL(skipped, 0);
    CU_ASSERT(d.elements[26] && d.elements[11] && d.elements[17] && !d.elements[29]);
    CU_ASSERT_EQUAL(d.natoms_min, 2);
    CU_ASSERT_EQUAL(d.natoms_max, 2);
    XG_ASSERT_NEAR(d.bond_ratio_min, 2.80 * sqrt(3.0) / 2 / 2.64, 1e-9);
    CU_ASSERT_EQUAL(xg_propmodel_domain_compute(ds, "nothing", 0, &d, NULL, &err), XG_EINVAL);
    CU_ASSERT_EQUAL_FATAL(xg_propmodel_domain_compute(ds, "band_gap", 2, &d, NULL, &err), XG_OK);
    CU_ASSERT_EQUAL(d.n, 2); /* the first two labelled crystals, as --max-structures takes */
    CU_ASSERT(!d.elements[11]);
    CU_ASSERT_EQUAL_FATAL(xg_propmodel_domain_compute(ds, "band_gap", 0, &d, NULL, &err), XG_OK);

    char why[128];
    xg_structure *s = cubic2(26, 26, 2.87, 0.5); /* bcc Fe: inside */
    CU_ASSERT_EQUAL(xg_propmodel_domain_check(&d, s, why, sizeof why), 1);
    xg_structure_free(s);
    s = cubic2(26, 26, 1.6, 0.5); /* squeezed: outside, by density or bond ratio */
    CU_ASSERT_EQUAL(xg_propmodel_domain_check(&d, s, why, sizeof why), 0);
    CU_ASSERT(strstr(why, "density") || strstr(why, "bond ratio"));
    xg_structure_free(s);
    s = cubic2(29, 29, 2.9, 0.5); /* Cu: never seen */
    CU_ASSERT_EQUAL(xg_propmodel_domain_check(&d, s, why, sizeof why), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "Cu"));
    xg_structure_free(s);
    s = cubic2(26, 26, 2.87, 0.3); /* same density, but an atom pair far too close */
    CU_ASSERT_EQUAL(xg_propmodel_domain_check(&d, s, why, sizeof why), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "bond ratio"));
    xg_structure_free(s);
    xg_propmodel_domain unknown;
    memset(&unknown, 0, sizeof unknown);
    s = cubic2(26, 26, 2.87, 0.5);
    CU_ASSERT_EQUAL(xg_propmodel_domain_check(&unknown, s, why, sizeof why), -1);

    /* The domain travels with the model file; a file without it reads as unknown. */
    xg_propmodel *m = small_model(8, 1, 3);
    const char *dir = xg_test_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/dom.h5", dir);
    CU_ASSERT_EQUAL_FATAL(xg_propmodel_write(m, path, &err), XG_OK);
    xg_propmodel *m2 = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_propmodel_load(path, &m2, &err), XG_OK);
    CU_ASSERT_EQUAL(xg_propmodel_get_info(m2)->domain.have, 0);
    xg_propmodel_free(m2);
    xg_propmodel_set_domain(m, &d);
    CU_ASSERT_EQUAL_FATAL(xg_propmodel_write(m, path, &err), XG_OK);
    CU_ASSERT_EQUAL_FATAL(xg_propmodel_load(path, &m2, &err), XG_OK);
    const xg_propmodel_domain *d2 = &xg_propmodel_get_info(m2)->domain;
    CU_ASSERT_EQUAL(d2->have, 1);
    CU_ASSERT_EQUAL(d2->n, 3);
    CU_ASSERT(memcmp(d2->elements, d.elements, sizeof d.elements) == 0);
    CU_ASSERT_EQUAL(d2->density_min, d.density_min);
    CU_ASSERT_EQUAL(d2->bond_ratio_max, d.bond_ratio_max);
    CU_ASSERT_EQUAL(xg_propmodel_domain_check(d2, s, why, sizeof why), 1);
    xg_structure_free(s);
    xg_propmodel_free(m2);
    xg_propmodel_free(m);
    xg_dataset_free(ds);

    /* Physical ranges used for clipping. */
    double lo, hi;
    xg_propmodel_physical_range("band_gap", &lo, &hi);
    CU_ASSERT(lo == 0 && isinf(hi));
    xg_propmodel_physical_range("dft_mag_density", &lo, &hi);
    CU_ASSERT(lo == 0 && isinf(hi));
    xg_propmodel_physical_range("formation_energy_per_atom", &lo, &hi);
    CU_ASSERT(isinf(lo) && lo < 0 && isinf(hi));
}

/* ------------------------------------------------------------------ prediction */

static void test_predict_consistency(void)
{
    xg_propmodel *m = small_model(16, 2, 4);
    xg_error err;
    xg_rng r;
    xg_rng_seed(&r, 5, 5);
    enum { N = 70 }; /* more than one internal chunk */
    xg_structure *s[N];
    for (int i = 0; i < N; i++)
        s[i] = random_crystal(&r, 1 + i % 9, 12.0 + i % 7);
    double all[N];
    CU_ASSERT_EQUAL_FATAL(xg_propmodel_predict(m, (const xg_structure *const *)s, N, all, &err),
                          XG_OK);
    int close = 1;
    for (int i = 0; i < N; i++) {
        double one;
        CU_ASSERT_EQUAL(xg_propmodel_predict_structure(m, s[i], &one, &err), XG_OK);
        if (!(fabs(one - all[i]) <= 1e-5 * (1 + fabs(one))))
            close = 0;
    }
    CU_ASSERT(close);
    /* atom order, a lattice translation of one atom and a common shift change nothing */
    xg_structure *p = xg_structure_copy(s[8]);
    int n = p->natoms;
    for (int i = 0; i < n / 2; i++) {
        int t = p->types[i];
        p->types[i] = p->types[n - 1 - i];
        p->types[n - 1 - i] = t;
        for (int k = 0; k < 3; k++) {
            double x = p->frac[i][k];
            p->frac[i][k] = p->frac[n - 1 - i][k];
            p->frac[n - 1 - i][k] = x;
        }
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 3; k++)
            p->frac[i][k] += 0.37 + (i == 0 ? 2.0 : 0.0);
    double v0 = all[8], v1 = 0;
    CU_ASSERT_EQUAL(xg_propmodel_predict_structure(m, p, &v1, &err), XG_OK);
    XG_ASSERT_NEAR(v0, v1, 1e-4 * (1 + fabs(v0)));
    /* deterministic */
    double again[N];
    CU_ASSERT_EQUAL(xg_propmodel_predict(m, (const xg_structure *const *)s, N, again, &err), XG_OK);
    CU_ASSERT(memcmp(all, again, sizeof all) == 0);
    xg_structure_free(p);
    for (int i = 0; i < N; i++)
        xg_structure_free(s[i]);
    xg_propmodel_free(m);
}

static void test_predict_bad_input(void)
{
    xg_propmodel *m = small_model(8, 1, 2);
    xg_error err;
    xg_rng r;
    xg_rng_seed(&r, 1, 1);
    double v;
    xg_structure *s = random_crystal(&r, 3, 15.0);
    CU_ASSERT_EQUAL(xg_propmodel_predict_structure(m, s, &v, &err), XG_OK);
    s->types[1] = 101;
    CU_ASSERT_EQUAL(xg_propmodel_predict_structure(m, s, &v, &err), XG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "atomic number"));
    s->types[1] = 8;
    s->frac[2][0] = NAN;
    CU_ASSERT_EQUAL(xg_propmodel_predict_structure(m, s, &v, &err), XG_EINVAL);
    s->frac[2][0] = 0.5;
    memset(s->lattice[2], 0, sizeof s->lattice[2]);
    CU_ASSERT_EQUAL(xg_propmodel_predict_structure(m, s, &v, &err), XG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "volume"));
    xg_structure *e = xg_structure_alloc(0);
    CU_ASSERT_EQUAL(xg_propmodel_predict_structure(m, e, &v, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_propmodel_predict_structure(m, NULL, &v, &err), XG_EINVAL);
    xg_structure *big = random_crystal(&r, XG_PROPMODEL_MAX_ATOMS + 1, 15.0);
    CU_ASSERT_EQUAL(xg_propmodel_predict_structure(m, big, &v, &err), XG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "256"));
    /* in a dataset, bad crystals become NaN and are counted */
    xg_dataset *ds = xg_dataset_alloc();
    xg_structure *good = random_crystal(&r, 2, 15.0);
    CU_ASSERT_EQUAL(xg_dataset_append(ds, good, NULL, &err), XG_OK);
    CU_ASSERT_EQUAL(xg_dataset_append(ds, s, NULL, &err), XG_OK); /* flat cell */
    CU_ASSERT_EQUAL(xg_dataset_append(ds, good, NULL, &err), XG_OK);
    double vals[3];
    int64_t skipped = 0;
    CU_ASSERT_EQUAL(xg_propmodel_predict_dataset(m, ds, vals, &skipped, &err), XG_OK);
    CU_ASSERT_EQUAL(skipped, 1);
    CU_ASSERT(isfinite(vals[0]) && isnan(vals[1]) && vals[2] == vals[0]);
    xg_denoiser_config cc = {8, 1, 2, 6, 3};
    CU_ASSERT_PTR_NULL(xg_propmodel_alloc(&cc, "x", &err)); /* conditioned trunk refused */
    xg_dataset_free(ds);
    xg_structure_free(good);
    xg_structure_free(big);
    xg_structure_free(e);
    xg_structure_free(s);
    xg_propmodel_free(m);
}

int main(void)
{
    static CU_TestInfo tests[] = {
        {"gradients of the head and the pooled trunk path", test_gradients},
        {"backward needs the forward's batch", test_backward_needs_forward},
        {"synthetic regression, NaN labels skipped", test_synthetic_regression},
        {"no usable labels is an error", test_all_labels_missing},
        {"resume equals an uninterrupted run", test_resume_matches},
        {"file round trip, version refusal", test_roundtrip_and_versions},
        {"predictions: batched = alone, invariances", test_predict_consistency},
        {"bad input", test_predict_bad_input},
        {"training domain: compute, check, file round trip; physical ranges", test_domain},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("propmodel", tests);
}
