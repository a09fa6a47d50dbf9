/* test_train.c: the trainer: the learning-rate schedule, a short run on synthetic crystals that
 * lowers the loss, kill-and-resume equal to an uninterrupted run bit for bit, and refusals of
 * bad input. The data are built here (a few hundred small ionic crystals), so the suite needs
 * nothing from ../shared/data. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xg_test.h"
#include "crystal/xg_rng.h"
#include "diffusion/xg_optim.h"
#include "diffusion/xg_train.h"

/* n rock-salt-like crystals: N in {2, 4, 6, 8} alternating cation/anion of one of three
 * pairs, near-grid positions, near-cubic cells at ~0.05 atoms/A^3, randomly rotated. */
static xg_dataset *synthetic(int n, uint64_t seed, int bad_z)
{
    static const int pairs[3][2] = {{11, 17}, {19, 35}, {12, 8}};
    xg_dataset *ds = xg_dataset_alloc();
    xg_error err;
    int pe = xg_dataset_add_property(ds, "formation_energy_per_atom", &err);
    xg_rng r;
    xg_rng_seed(&r, seed, 0);
    for (int s = 0; s < n; s++) {
        int N = 2 * (1 + (int)xg_rng_below(&r, 4));
        int p = (int)xg_rng_below(&r, 3);
        xg_structure *st = xg_structure_alloc(N);
        double a = cbrt(N / 0.05);
        double L[9], th = xg_rng_uniform(&r) * 6.28, c = cos(th), sn = sin(th);
        for (int k = 0; k < 9; k++)
            L[k] = (k % 4 == 0 ? a : 0) + 0.03 * a * xg_rng_normal(&r);
        for (int i = 0; i < 3; i++) { /* rotate about z */
            double x = L[i * 3], y = L[i * 3 + 1];
            st->lattice[i][0] = c * x - sn * y;
            st->lattice[i][1] = sn * x + c * y;
            st->lattice[i][2] = L[i * 3 + 2];
        }
        for (int i = 0; i < N; i++) {
            st->types[i] = bad_z ? 101 : pairs[p][i % 2];
            st->frac[i][0] = (i / 2) / (double)(N / 2) + 0.01 * xg_rng_normal(&r);
            st->frac[i][1] = 0.5 * (i % 2) + 0.01 * xg_rng_normal(&r);
            st->frac[i][2] = 0.5 * (i % 2) + 0.01 * xg_rng_normal(&r);
        }
        snprintf(st->id, sizeof st->id, "syn-%d", s);
        double prop[1] = {-1.0 - 0.1 * p};
        if (xg_dataset_append(ds, st, pe >= 0 ? prop : NULL, &err) != XG_OK)
            printf("\n  append failed: %s\n", err.msg);
        xg_structure_free(st);
    }
    return ds;
}

static void small_config(xg_train_config *c, const char *dir)
{
    static char out[4][600], ck[4][600], lg[4][600];
    static int k;
    int i = k++ % 4;
    xg_train_config_default(c);
    c->net.hidden = 32;
    c->net.layers = 2;
    c->net.n_freq = 4;
    c->net.time_dim = 16;
    c->net.cond_dim = 0;
    c->hp.batch = 32;
    c->hp.epochs = 4;
    c->hp.lr = 3e-3;
    c->hp.lr_min = 1e-4;
    c->hp.warmup_steps = 4;
    c->hp.seed = 42;
    c->hp.threads = 2;
    c->hp.checkpoint_minutes = 0;
    snprintf(out[i], 600, "%s/model.h5", dir);
    snprintf(ck[i], 600, "%s/model.ckpt.h5", dir);
    snprintf(lg[i], 600, "%s/model.log.csv", dir);
    c->out_path = out[i];
    c->ckpt_path = ck[i];
    c->log_path = lg[i];
}

static void test_lr_schedule(void)
{
    xg_hparams h;
    xg_hparams_default(&h);
    h.lr = 1e-3;
    h.lr_min = 1e-5;
    h.warmup_steps = 10;
    XG_ASSERT_NEAR(xg_optim_lr(&h, 0, 110), 1e-4, 1e-15);
    XG_ASSERT_NEAR(xg_optim_lr(&h, 9, 110), 1e-3, 1e-15);
    XG_ASSERT_NEAR(xg_optim_lr(&h, 10, 110), 1e-3, 1e-15);
    XG_ASSERT_NEAR(xg_optim_lr(&h, 60, 110), 0.5 * (1e-3 + 1e-5), 1e-12);
    XG_ASSERT_NEAR(xg_optim_lr(&h, 110, 110), 1e-5, 1e-15);
    XG_ASSERT_NEAR(xg_optim_lr(&h, 500, 110), 1e-5, 1e-15); /* floor after the horizon */
    XG_ASSERT_NEAR(xg_optim_lr(&h, 50, 0), 1e-3, 1e-15);    /* horizon unknown: peak */
    for (int s = 11; s < 110; s++)
        CU_ASSERT(xg_optim_lr(&h, s, 110) <= xg_optim_lr(&h, s - 1, 110));
}

typedef struct {
    int steps, epochs, checkpoints, starts, done;
    double first_val, last_val;
} counter;

static int count_events(const xg_train_progress *p, void *user)
{
    counter *c = user;
    switch (p->event) {
    case XG_TRAIN_EV_START: c->starts++; break;
    case XG_TRAIN_EV_STEP: c->steps++; break;
    case XG_TRAIN_EV_EPOCH:
        if (c->epochs++ == 0)
            c->first_val = p->val_total;
        c->last_val = p->val_total;
        break;
    case XG_TRAIN_EV_CHECKPOINT: c->checkpoints++; break;
    case XG_TRAIN_EV_DONE: c->done++; break;
    }
    return 0;
}

static void test_training_lowers_loss(void)
{
    xg_dataset *tr = synthetic(256, 1, 0), *va = synthetic(64, 2, 0);
    const char *dir = xg_test_tmpdir();
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    xg_train_config c;
    small_config(&c, dir);
    c.hp.epochs = 6;
    xg_error err;
    /* the loss of the initial network, with the fixed noise of the evaluation */
    xg_denoiser *init = xg_denoiser_alloc(&c.net, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(init);
    xg_denoiser_init_params(init, c.hp.seed);
    counter cnt = {0};
    xg_train_result res;
    int rc = xg_train_run(&c, tr, va, count_events, &cnt, &res, &err);
    if (rc)
        printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, XG_OK);
    CU_ASSERT_EQUAL(cnt.starts, 1);
    CU_ASSERT_EQUAL(cnt.steps, 48); /* 256 / 32 = 8 steps x 6 epochs */
    CU_ASSERT_EQUAL(cnt.epochs, 6);
    CU_ASSERT_EQUAL(cnt.done, 1);
    CU_ASSERT(cnt.checkpoints >= 6);
    CU_ASSERT_EQUAL(res.steps, 48);
    CU_ASSERT_EQUAL(res.epochs, 6);
    CU_ASSERT_EQUAL(res.stopped_early, 0);

    xg_model *m = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_model_load(c.out_path, 0, &m, &err), XG_OK);
    CU_ASSERT_PTR_NULL(m->state);
    /* the data's density was fitted and stored */
    XG_ASSERT_NEAR(m->stats.avg_density, 0.05, 0.01);
    XG_ASSERT_NEAR(m->noise.avg_density, m->stats.avg_density, 1e-12);
    CU_ASSERT_EQUAL(m->stats.natoms_hist[0], 0);
    CU_ASSERT_EQUAL(m->stats.natoms_hist[1], 0);
    CU_ASSERT(m->stats.natoms_hist[2] > 0 && m->stats.hist_len == 9);
    xg_noise_loss before, after, after_ema;
    CU_ASSERT_EQUAL_FATAL(xg_train_evaluate(init, &m->noise, NULL, 0, tr, 32, 7, &before, &err), XG_OK);
    CU_ASSERT_EQUAL_FATAL(xg_train_evaluate(m->net, &m->noise, NULL, 0, tr, 32, 7, &after, &err), XG_OK);
    memcpy(xg_denoiser_params(m->net), m->ema, xg_denoiser_num_params(m->net) * sizeof(float));
    CU_ASSERT_EQUAL_FATAL(xg_train_evaluate(m->net, &m->noise, NULL, 0, tr, 32, 7, &after_ema, &err), XG_OK);
    printf("\n  loss before %.4f (x %.3f l %.3f a %.3f) after %.4f (x %.3f l %.3f a %.3f), EMA "
           "%.4f; val first %.4f last %.4f\n",
           before.total, before.coord, before.lattice, before.type, after.total, after.coord,
           after.lattice, after.type, after_ema.total, cnt.first_val, cnt.last_val);
    CU_ASSERT(after.total < 0.8 * before.total);
    CU_ASSERT(after.type < before.type);
    CU_ASSERT(after_ema.total < before.total);
    CU_ASSERT(cnt.last_val < cnt.first_val);
    /* the same evaluation twice gives the same number (the noise draw is fixed) */
    xg_noise_loss again;
    xg_train_evaluate(m->net, &m->noise, NULL, 0, tr, 32, 7, &again, &err);
    CU_ASSERT_EQUAL(again.total, after_ema.total);
    xg_model_free(m);

    /* the log has a header and one row per epoch */
    FILE *f = fopen(c.log_path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    char line[1024];
    int lines = 0;
    while (fgets(line, sizeof line, f))
        lines++;
    fclose(f);
    CU_ASSERT_EQUAL(lines, 7);
    xg_denoiser_free(init);
    xg_dataset_free(tr);
    xg_dataset_free(va);
}

/* Compares everything that defines a run's future: weights, EMA, Adam moments, counters,
 * generator, history (the loss columns, not timings). */
static int same_checkpoint(const char *pa, const char *pb)
{
    xg_model *a = NULL, *b = NULL;
    xg_error err;
    int ok = xg_model_load(pa, XG_MODEL_LOAD_STATE, &a, &err) == XG_OK &&
             xg_model_load(pb, XG_MODEL_LOAD_STATE, &b, &err) == XG_OK;
    if (!ok) {
        printf("\n  %s\n", err.msg);
        xg_model_free(a);
        return 0;
    }
    size_t np = xg_denoiser_num_params(a->net);
    ok = np == xg_denoiser_num_params(b->net);
    ok = ok && !memcmp(a->weights, b->weights, np * sizeof(float));
    ok = ok && !memcmp(a->ema, b->ema, np * sizeof(float));
    ok = ok && !memcmp(a->state->adam_m, b->state->adam_m, np * sizeof(float));
    ok = ok && !memcmp(a->state->adam_v, b->state->adam_v, np * sizeof(float));
    ok = ok && a->state->step == b->state->step && a->state->epoch == b->state->epoch &&
         a->state->step_in_epoch == b->state->step_in_epoch;
    ok = ok && !memcmp(a->state->rng, b->state->rng, sizeof a->state->rng);
    ok = ok && a->state->nhist == b->state->nhist;
    for (int64_t r = 0; ok && r < a->state->nhist; r++)
        for (int c = 0; c <= XG_HIST_VAL_TYPE; c++)
            ok = ok && a->state->hist[r * XG_HIST_COLS + c] == b->state->hist[r * XG_HIST_COLS + c];
    ok = ok && a->state->sums[XG_SUM_TOTAL] == b->state->sums[XG_SUM_TOTAL];
    xg_model_free(a);
    xg_model_free(b);
    return ok;
}

static void test_kill_and_resume(void)
{
    xg_dataset *tr = synthetic(160, 3, 0), *va = synthetic(40, 4, 0);
    const char *d1 = xg_test_tmpdir(), *d2 = xg_test_tmpdir(), *d3 = xg_test_tmpdir();
    CU_ASSERT_PTR_NOT_NULL_FATAL(d1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d3);
    xg_error err;
    xg_train_result res;
    /* uninterrupted: 12 steps (5 per epoch: two epoch ends, with validation, on the way) */
    xg_train_config a;
    small_config(&a, d1);
    a.stop_at_step = 12;
    int rc = xg_train_run(&a, tr, va, NULL, NULL, &res, &err);
    if (rc)
        printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, XG_OK);
    CU_ASSERT_EQUAL(res.steps, 12);
    CU_ASSERT_EQUAL(res.stopped_early, 1);

    /* interrupted mid-epoch at step 6, again exactly at the epoch end (10), resumed to 12 */
    xg_train_config b;
    small_config(&b, d2);
    b.stop_at_step = 6;
    CU_ASSERT_EQUAL_FATAL(xg_train_run(&b, tr, va, NULL, NULL, &res, &err), XG_OK);
    CU_ASSERT_EQUAL(res.steps, 6);
    CU_ASSERT_FALSE(same_checkpoint(a.ckpt_path, b.ckpt_path));
    b.resume = 1;
    b.net.hidden = 999; /* ignored on resume: the checkpoint's configuration wins */
    b.stop_at_step = 10;
    CU_ASSERT_EQUAL_FATAL(xg_train_run(&b, tr, va, NULL, NULL, &res, &err), XG_OK);
    CU_ASSERT_EQUAL(res.steps, 10);
    b.stop_at_step = 12;
    rc = xg_train_run(&b, tr, va, NULL, NULL, &res, &err);
    if (rc)
        printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, XG_OK);
    CU_ASSERT_EQUAL(res.steps, 12);
    CU_ASSERT_TRUE(same_checkpoint(a.ckpt_path, b.ckpt_path));

    /* a different seed gives a different run (the comparison can fail) */
    xg_train_config c;
    small_config(&c, d3);
    c.stop_at_step = 12;
    c.hp.seed = 43;
    CU_ASSERT_EQUAL_FATAL(xg_train_run(&c, tr, va, NULL, NULL, &res, &err), XG_OK);
    CU_ASSERT_FALSE(same_checkpoint(a.ckpt_path, c.ckpt_path));

    /* resuming on another training set is refused */
    xg_dataset *other = synthetic(100, 5, 0);
    b.stop_at_step = 14;
    CU_ASSERT_EQUAL(xg_train_run(&b, other, va, NULL, NULL, &res, &err), XG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "160"));
    /* ... also when it has the same size but other crystals */
    xg_dataset *same_size = synthetic(160, 99, 0);
    CU_ASSERT_EQUAL(xg_train_run(&b, same_size, va, NULL, NULL, &res, &err), XG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "different contents"));
    xg_dataset_free(same_size);
    /* resuming without a checkpoint is an error, not a fresh start */
    xg_train_config e;
    small_config(&e, xg_test_tmpdir());
    e.resume = 1;
    CU_ASSERT_EQUAL(xg_train_run(&e, tr, va, NULL, NULL, &res, &err), XG_EIO);
    xg_dataset_free(other);
    xg_dataset_free(tr);
    xg_dataset_free(va);
}

static int stop_after_three(const xg_train_progress *p, void *user)
{
    (void)user;
    return p->event == XG_TRAIN_EV_STEP && p->step >= 3;
}

static void test_callback_stop_and_bad_input(void)
{
    xg_dataset *tr = synthetic(64, 6, 0);
    const char *dir = xg_test_tmpdir();
    xg_train_config c;
    small_config(&c, dir);
    xg_error err;
    xg_train_result res;
    /* a stop request from the callback (what SIGINT does) checkpoints and writes the model */
    CU_ASSERT_EQUAL_FATAL(xg_train_run(&c, tr, NULL, stop_after_three, NULL, &res, &err), XG_OK);
    CU_ASSERT_EQUAL(res.steps, 3);
    CU_ASSERT_EQUAL(res.stopped_early, 1);
    CU_ASSERT(xg_test_exists(c.out_path));
    CU_ASSERT(xg_test_exists(c.ckpt_path));

    /* neither epochs nor hours */
    c.hp.epochs = 0;
    c.hp.hours = 0;
    CU_ASSERT_EQUAL(xg_train_run(&c, tr, NULL, NULL, NULL, &res, &err), XG_EINVAL);
    small_config(&c, dir);
    c.hp.lr = -1;
    CU_ASSERT_EQUAL(xg_train_run(&c, tr, NULL, NULL, NULL, &res, &err), XG_EINVAL);
    /* nothing usable: every atom beyond the 100 classes */
    xg_dataset *bad = synthetic(10, 7, 1);
    small_config(&c, dir);
    CU_ASSERT_EQUAL(xg_train_run(&c, bad, NULL, NULL, NULL, &res, &err), XG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no usable crystals"));
    /* a missing path */
    c.out_path = NULL;
    CU_ASSERT_EQUAL(xg_train_run(&c, tr, NULL, NULL, NULL, &res, &err), XG_EINVAL);
    xg_dataset_free(bad);
    xg_dataset_free(tr);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"learning-rate warm-up and cosine decay", test_lr_schedule},
        {"a short run on synthetic crystals lowers the loss", test_training_lowers_loss},
        {"kill and resume equals the uninterrupted run bit for bit", test_kill_and_resume},
        {"stop from the callback; bad input refused", test_callback_stop_and_bad_input},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("train", tests);
}
