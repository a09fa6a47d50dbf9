/* xg_optim.h: the optimizer pieces of the training loop (xg_trainer.c), which trains the
 * denoiser (xg_train.c) and the property models (properties/xg_propmodel.c): the
 * learning-rate schedule, the global gradient norm and its clip, one AdamW step with the
 * warm-started EMA of the weights, the epoch shuffle, and the hyperparameter check.
 *
 * Why separate from the loop (xg_trainer.h): these are the arithmetic of one step, tested on
 * their own; checkpoints resume bit for bit only if it never changes, and keeping one copy
 * means one place that fixes the order of every floating-point operation (DESIGN.md 3.4).
 *
 * Determinism: the norm is a serial sum in index order; the update is elementwise (OpenMP over
 * elements changes nothing); the shuffle draws from the caller's generator only. */
#ifndef XG_OPTIM_H
#define XG_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "crystal/xg_error.h"
#include "crystal/xg_rng.h"
#include "diffusion/xg_trainer.h"

/* The learning rate at a 0-based step: linear warm-up over hp->warmup_steps, then cosine decay
 * from hp->lr to hp->lr_min at `horizon` (total steps; <= 0 = not known yet: hp->lr). */
double xg_optim_lr(const xg_hparams *hp, int64_t step, int64_t horizon);

/* acc + the sum of g[i]^2 over i = 0..n-1 in index order. Chain calls over the segments of a
 * parameter vector, then take sqrt: the global norm, the same for any thread count. */
double xg_optim_sumsq(double acc, const float *g, size_t n);

/* The scalars of one optimizer step, fixed before the parameters are touched. */
typedef struct {
    double scale;       /* gradient multiplier: clip_norm / norm when clipping, else 1 */
    double lr;          /* learning rate of this step */
    double b1, b2, eps, wd;
    double bc1, bc2;    /* Adam bias corrections 1 - beta^t */
    double ema_decay;   /* min(hp->ema_decay, (1 + t) / (10 + t)): the warm-started EMA */
} xg_optim_step;

/* Fills s for optimizer step `step` (0-based; t = step + 1) with gradient norm `norm`. */
void xg_optim_step_init(xg_optim_step *s, const xg_hparams *hp, int64_t step, int64_t horizon,
                        double norm);

/* One AdamW step with decoupled weight decay on n parameters p (gradients g, moments m and v),
 * then ema = d * ema + (1 - d) * p with the updated p. */
void xg_optim_adamw_ema(const xg_optim_step *s, float *p, const float *g, float *m, float *v,
                        float *ema, size_t n);

/* The epoch's data order: the identity 0..n-1, Fisher-Yates shuffled with rng. */
void xg_optim_shuffle(int64_t *perm, int64_t n, xg_rng *rng);

/* Checks the training settings; `who` starts the message ("train"), batches go up to
 * max_batch. */
int xg_optim_check_hparams(const xg_hparams *h, int max_batch, const char *who, xg_error *err);

#endif
