/* test_trainer.c: the training loop of diffusion/xg_trainer.h on a toy model (linear regression,
 * its weights in two parameter segments), independent of the denoiser: it learns, a run stopped
 * at a step and resumed from its checkpoint ends bit-identical to the uninterrupted one, the best
 * epoch's EMA weights are kept, the progress callback stops the run cleanly, the CSV log follows
 * the columns and formats given, and the resume rules of xg_hparams_resume. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xg_test.h"
#include "crystal/xg_rng.h"
#include "diffusion/xg_trainer.h"

#define N 24  /* training points */
#define D 3   /* features */

/* y = w . x + b, MSE; w is segment 0, b segment 1. */
typedef struct {
    double x[N][D], y[N];
    float w[D], b[1], gw[D], gb[1];
    double val_script[16]; /* validate() returns these in turn, when set */
    int nval_calls, scripted;
    /* the checkpoint, kept in memory */
    int have_ckpt;
    xg_train_state *ck;
    float ck_w[D], ck_b[1], ck_ema[D + 1];
    int stop_after; /* progress returns 1 at this step (0 = never) */
} toy;

static void toy_init(toy *t)
{
    memset(t, 0, sizeof *t);
    xg_rng r;
    xg_rng_seed(&r, 7, 0);
    const double wt[D] = {1.5, -2.0, 0.5};
    for (int i = 0; i < N; i++) {
        t->y[i] = 0.3;
        for (int k = 0; k < D; k++) {
            t->x[i][k] = xg_rng_normal(&r);
            t->y[i] += wt[k] * t->x[i][k];
        }
    }
}

static int batch(void *ctx, const int64_t *idx, int B, xg_rng *rng, double *loss, xg_error *err)
{
    (void)err;
    toy *t = ctx;
    (void)xg_rng_u64(rng); /* draws like a real model: the generator must be checkpointed */
    memset(t->gw, 0, sizeof t->gw);
    t->gb[0] = 0;
    double l = 0;
    for (int j = 0; j < B; j++) {
        int i = (int)idx[j];
        double p = t->b[0];
        for (int k = 0; k < D; k++)
            p += t->w[k] * t->x[i][k];
        double r = p - t->y[i];
        l += r * r / B;
        for (int k = 0; k < D; k++)
            t->gw[k] += (float)(2 * r * t->x[i][k] / B);
        t->gb[0] += (float)(2 * r / B);
    }
    loss[0] = l;
    loss[1] = 0.5 * l;
    return XG_OK;
}

static int validate(void *ctx, double *val, xg_error *err)
{
    (void)err;
    toy *t = ctx;
    if (t->scripted) {
        val[0] = t->val_script[t->nval_calls++];
        return XG_OK;
    }
    double l = 0;
    for (int i = 0; i < N; i++) {
        double p = t->b[0];
        for (int k = 0; k < D; k++)
            p += t->w[k] * t->x[i][k];
        l += fabs(p - t->y[i]) / N;
    }
    val[0] = l;
    return XG_OK;
}

static void copy_state(xg_train_state *dst, const xg_train_state *src)
{
    size_t np = src->nparams;
    memcpy(dst->adam_m, src->adam_m, np * sizeof(float));
    memcpy(dst->adam_v, src->adam_v, np * sizeof(float));
    if (src->best && dst->best)
        memcpy(dst->best, src->best, np * sizeof(float));
    memcpy(dst->perm, src->perm, (size_t)src->nperm * sizeof(int64_t));
    dst->step = src->step;
    dst->epoch = src->epoch;
    dst->step_in_epoch = src->step_in_epoch;
    dst->horizon = src->horizon;
    dst->threads = src->threads;
    memcpy(dst->rng, src->rng, sizeof dst->rng);
    dst->elapsed = src->elapsed;
    dst->data_hash = src->data_hash;
    memcpy(dst->sums, src->sums, sizeof dst->sums);
    dst->best_epoch = src->best_epoch;
    dst->best_val = src->best_val;
    free(dst->hist);
    dst->hist = NULL;
    dst->nhist = 0;
    for (int64_t r = 0; r < src->nhist; r++)
        xg_train_state_push_history(dst, src->hist + r * src->ncols, NULL);
}

static int checkpoint(void *ctx, const char *path, const xg_trainer *T, xg_error *err)
{
    (void)path;
    (void)err;
    toy *t = ctx;
    copy_state(t->ck, T->st);
    memcpy(t->ck_w, t->w, sizeof t->w);
    memcpy(t->ck_b, t->b, sizeof t->b);
    memcpy(t->ck_ema, T->ema, sizeof t->ck_ema);
    t->have_ckpt = 1;
    return XG_OK;
}

static int progress(void *ctx, const xg_trainer_progress *p)
{
    toy *t = ctx;
    return t->stop_after > 0 && p->event == XG_TRAINER_EV_STEP && p->step >= t->stop_after;
}

static const char *const COLS[] = {"epoch", "step", "lr", "train", "half", "val", "elapsed_s"};
static const char *const FMTS[] = {NULL, NULL, "%.8g", "%.8g", "%.8g", "%.8g", "%.3f"};

/* A trainer on toy t with a fresh state (a resume copies a checkpoint into it). */
static void setup(xg_trainer *T, toy *t, int keep_best, int epochs, const char *log)
{
    memset(T, 0, sizeof *T);
    xg_hparams_default(&T->hp);
    T->hp.batch = 5;
    T->hp.epochs = epochs;
    T->hp.lr = 0.05;
    T->hp.lr_min = 0.001;
    T->hp.warmup_steps = 3;
    T->hp.ema_decay = 0.9;
    T->hp.checkpoint_minutes = 0;
    T->ops.nloss = 2;
    T->ops.nval = 1;
    T->ops.keep_best = keep_best;
    T->ops.hours_policy = XG_HOURS_EVERY_EPOCH;
    T->ops.who = "toy";
    T->ops.columns = COLS;
    T->ops.formats = FMTS;
    T->ops.batch = batch;
    T->ops.validate = validate;
    T->ops.checkpoint = checkpoint;
    T->ops.progress = progress;
    T->ops.ctx = t;
    T->ckpt_path = "memory";
    T->log_path = log;
    T->nseg = 2;
    T->seg_p[0] = t->w;
    T->seg_g[0] = t->gw;
    T->seg_n[0] = D;
    T->seg_p[1] = t->b;
    T->seg_g[1] = t->gb;
    T->seg_n[1] = 1;
    T->ntrain = N;
    T->ema = calloc(D + 1, sizeof(float));
    T->st = xg_train_state_alloc(D + 1, N, 7, keep_best, NULL);
    xg_rng_seed(&T->rng, 3, 99);
    T->t0 = xg_train_clock();
}

static void teardown(xg_trainer *T)
{
    free(T->ema);
    xg_train_state_free(T->st);
    xg_trainer_free(T);
}

static void test_learns_and_resumes(void)
{
    xg_error err = {0};
    toy a;
    toy_init(&a);
    a.ck = xg_train_state_alloc(D + 1, N, 7, 0, NULL);
    xg_trainer T;
    setup(&T, &a, 0, 6, NULL);
    CU_ASSERT_EQUAL_FATAL(xg_trainer_start(&T, &err), XG_OK);
    CU_ASSERT_EQUAL(T.B, 5);
    CU_ASSERT_EQUAL(T.spe, 4); /* 24 / 5: the remainder of each epoch is dropped */
    T.st->horizon = 6 * T.spe;
    int stopped = -1;
    CU_ASSERT_EQUAL_FATAL(xg_trainer_run(&T, &stopped, &err), XG_OK);
    CU_ASSERT_EQUAL(stopped, 0);
    CU_ASSERT_EQUAL(T.st->step, 24);
    CU_ASSERT_EQUAL(T.st->nhist, 6);
    double first = T.st->hist[3], last = T.st->hist[5 * 7 + 3];
    CU_ASSERT(last < 0.5 * first); /* it learns */
    XG_ASSERT_NEAR(T.st->hist[4], 0.5 * T.st->hist[3], 1e-12); /* second loss column */
    float w_full[D + 1], ema_full[D + 1];
    xg_trainer_get_params(&T, w_full);
    memcpy(ema_full, T.ema, sizeof ema_full);
    double hist_full[6 * 7];
    memcpy(hist_full, T.st->hist, sizeof hist_full);
    teardown(&T);

    /* the same run stopped at step 7 (mid-epoch), then resumed from its checkpoint */
    toy b;
    toy_init(&b);
    b.ck = xg_train_state_alloc(D + 1, N, 7, 0, NULL);
    setup(&T, &b, 0, 6, NULL);
    T.stop_at_step = 7;
    CU_ASSERT_EQUAL_FATAL(xg_trainer_start(&T, &err), XG_OK);
    T.st->horizon = 6 * T.spe;
    CU_ASSERT_EQUAL_FATAL(xg_trainer_run(&T, &stopped, &err), XG_OK);
    CU_ASSERT_EQUAL(stopped, 1);
    CU_ASSERT_EQUAL(T.st->step, 7);
    CU_ASSERT_EQUAL(b.ck->step, 7); /* a checkpoint at the stop */
    teardown(&T);
    toy c;
    toy_init(&c); /* a fresh process: weights from the checkpoint only */
    c.ck = xg_train_state_alloc(D + 1, N, 7, 0, NULL);
    setup(&T, &c, 0, 6, NULL);
    copy_state(T.st, b.ck);
    memcpy(c.w, b.ck_w, sizeof c.w);
    memcpy(c.b, b.ck_b, sizeof c.b);
    memcpy(T.ema, b.ck_ema, sizeof b.ck_ema);
    memcpy(T.rng.s, T.st->rng, sizeof T.rng.s);
    CU_ASSERT_EQUAL_FATAL(xg_trainer_start(&T, &err), XG_OK);
    CU_ASSERT_EQUAL_FATAL(xg_trainer_run(&T, &stopped, &err), XG_OK);
    CU_ASSERT_EQUAL(T.st->step, 24);
    float w_res[D + 1];
    xg_trainer_get_params(&T, w_res);
    CU_ASSERT(memcmp(w_res, w_full, sizeof w_res) == 0);
    CU_ASSERT(memcmp(T.ema, ema_full, sizeof ema_full) == 0);
    CU_ASSERT_EQUAL_FATAL(T.st->nhist, 6);
    int same = 1;
    for (int r = 0; r < 6; r++)
        for (int k = 0; k < 6; k++) /* every column but elapsed */
            same = same && T.st->hist[r * 7 + k] == hist_full[r * 7 + k];
    CU_ASSERT(same);
    teardown(&T);
    xg_train_state_free(a.ck);
    xg_train_state_free(b.ck);
    xg_train_state_free(c.ck);
}

static void test_keep_best_and_stop(void)
{
    xg_error err = {0};
    toy t;
    toy_init(&t);
    t.ck = xg_train_state_alloc(D + 1, N, 7, 1, NULL);
    t.scripted = 1;
    const double script[5] = {5, 3, 4, 1, 2};
    memcpy(t.val_script, script, sizeof script);
    xg_trainer T;
    setup(&T, &t, 1, 5, NULL);
    CU_ASSERT_EQUAL_FATAL(xg_trainer_start(&T, &err), XG_OK);
    /* the EMA at the end of epoch 4: run to there, then on */
    float ema4[D + 1] = {0};
    int stopped;
    T.hp.epochs = 4;
    CU_ASSERT_EQUAL_FATAL(xg_trainer_run(&T, &stopped, &err), XG_OK);
    memcpy(ema4, T.ema, sizeof ema4);
    T.hp.epochs = 5;
    CU_ASSERT_EQUAL_FATAL(xg_trainer_run(&T, &stopped, &err), XG_OK);
    CU_ASSERT_EQUAL(T.st->best_epoch, 4);
    CU_ASSERT_EQUAL(T.st->best_val, 1.0);
    CU_ASSERT(memcmp(T.st->best, ema4, sizeof ema4) == 0);
    CU_ASSERT(memcmp(T.st->best, T.ema, sizeof ema4) != 0); /* epoch 5 moved on */
    CU_ASSERT_EQUAL(T.st->hist[1 * 7 + 5], 3.0); /* the val column */
    teardown(&T);

    /* the progress callback stops the run after the current step, with a checkpoint */
    toy s;
    toy_init(&s);
    s.ck = xg_train_state_alloc(D + 1, N, 7, 0, NULL);
    s.stop_after = 6;
    setup(&T, &s, 0, 5, NULL);
    CU_ASSERT_EQUAL_FATAL(xg_trainer_start(&T, &err), XG_OK);
    CU_ASSERT_EQUAL_FATAL(xg_trainer_run(&T, &stopped, &err), XG_OK);
    CU_ASSERT_EQUAL(stopped, 1);
    CU_ASSERT_EQUAL(T.st->step, 6);
    CU_ASSERT_EQUAL(s.ck->step, 6);
    CU_ASSERT_EQUAL(s.ck->step_in_epoch, 2);
    teardown(&T);
    xg_train_state_free(t.ck);
    xg_train_state_free(s.ck);
}

static void test_log_and_checks(void)
{
    xg_error err = {0};
    toy t;
    toy_init(&t);
    t.ck = xg_train_state_alloc(D + 1, N, 7, 0, NULL);
    const char *dir = xg_test_tmpdir();
    char log[600];
    snprintf(log, sizeof log, "%s/toy.log.csv", dir);
    xg_trainer T;
    setup(&T, &t, 0, 2, log);
    CU_ASSERT_EQUAL_FATAL(xg_trainer_start(&T, &err), XG_OK);
    int stopped;
    CU_ASSERT_EQUAL_FATAL(xg_trainer_run(&T, &stopped, &err), XG_OK);
    FILE *f = fopen(log, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    char line[256];
    CU_ASSERT_PTR_NOT_NULL(fgets(line, sizeof line, f));
    CU_ASSERT_STRING_EQUAL(line, "epoch,step,lr,train,half,val,elapsed_s\n");
    CU_ASSERT_PTR_NOT_NULL(fgets(line, sizeof line, f));
    CU_ASSERT(strncmp(line, "1,4,", 4) == 0); /* integers as integers */
    char expect[64];
    snprintf(expect, sizeof expect, ",%.8g,", T.st->hist[3]);
    CU_ASSERT_PTR_NOT_NULL(strstr(line, expect));
    CU_ASSERT_PTR_NOT_NULL(fgets(line, sizeof line, f));
    CU_ASSERT_PTR_NULL(fgets(line, sizeof line, f)); /* two epochs, two rows */
    fclose(f);
    teardown(&T);

    /* a state that does not fit the model is refused */
    setup(&T, &t, 0, 2, NULL);
    T.ntrain = N - 1;
    CU_ASSERT_EQUAL(xg_trainer_start(&T, &err), XG_EINVAL);
    teardown(&T);
    setup(&T, &t, 0, 2, NULL);
    T.st->step_in_epoch = 9; /* beyond an epoch of 4 steps */
    CU_ASSERT_EQUAL(xg_trainer_start(&T, &err), XG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "position 9"));
    teardown(&T);
    xg_train_state_free(t.ck);

    /* resume rules: the run's identity is the checkpoint's, when to stop is this call's */
    xg_hparams ck, given, out;
    xg_hparams_default(&ck);
    xg_hparams_default(&given);
    ck.lr = 0.01;
    ck.seed = 5;
    ck.epochs = 10;
    given.lr = 0.5;
    given.epochs = 0;
    given.hours = 2;
    given.threads = 3;
    xg_hparams_resume(&out, &ck, &given);
    CU_ASSERT_EQUAL(out.lr, 0.01);
    CU_ASSERT_EQUAL(out.seed, 5);
    CU_ASSERT_EQUAL(out.epochs, 10); /* not given: the checkpoint's */
    CU_ASSERT_EQUAL(out.hours, 2);
    CU_ASSERT_EQUAL(out.threads, 3);
    given.epochs = 20;
    xg_hparams_resume(&out, &ck, &given);
    CU_ASSERT_EQUAL(out.epochs, 20);

    /* the batch bound: the B largest crystals */
    int64_t off[6] = {0, 2, 7, 8, 12, 12}; /* sizes 2, 5, 1, 4, 0 */
    long atoms, pairs;
    CU_ASSERT_EQUAL(xg_train_batch_bound(off, 5, 2, &atoms, &pairs, &err), XG_OK);
    CU_ASSERT_EQUAL(atoms, 9);
    CU_ASSERT_EQUAL(pairs, 41);
    CU_ASSERT_EQUAL(xg_fnv1a(XG_FNV_INIT, "", 0), XG_FNV_INIT);
    CU_ASSERT_EQUAL(xg_fnv1a(XG_FNV_INIT, "a", 1), 0xaf63dc4c8601ec8cULL); /* FNV-1a 64 of "a" */
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"learns; stopped and resumed equals uninterrupted", test_learns_and_resumes},
        {"best epoch kept; progress callback stops", test_keep_best_and_stop},
        {"log columns, setup checks, resume rules", test_log_and_checks},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("trainer", tests);
}
