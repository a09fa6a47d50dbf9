/* xg_optim.c: learning-rate schedule, gradient clipping, AdamW + EMA (see xg_optim.h). */
#include "diffusion/xg_optim.h"

#include <math.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

double xg_optim_lr(const xg_hparams *hp, int64_t step, int64_t horizon)
{
    if (hp->warmup_steps > 0 && step < hp->warmup_steps)
        return hp->lr * (double)(step + 1) / (double)hp->warmup_steps;
    if (horizon <= 0 || horizon <= hp->warmup_steps)
        return hp->lr; /* horizon not known yet (time-limited run before its first epoch) */
    double p = (double)(step - hp->warmup_steps) / (double)(horizon - hp->warmup_steps);
    if (p > 1)
        p = 1;
    return hp->lr_min + 0.5 * (hp->lr - hp->lr_min) * (1 + cos(M_PI * p));
}

double xg_optim_sumsq(double acc, const float *g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        acc += (double)g[i] * g[i];
    return acc;
}

void xg_optim_step_init(xg_optim_step *s, const xg_hparams *hp, int64_t step, int64_t horizon,
                        double norm)
{
    s->scale = (hp->clip_norm > 0 && norm > hp->clip_norm) ? hp->clip_norm / norm : 1.0;
    s->lr = xg_optim_lr(hp, step, horizon);
    double t = (double)(step + 1);
    s->b1 = hp->beta1;
    s->b2 = hp->beta2;
    s->eps = hp->adam_eps;
    s->wd = hp->weight_decay;
    s->bc1 = 1 - pow(s->b1, t);
    s->bc2 = 1 - pow(s->b2, t);
    /* Warm-started EMA: early on the average follows the weights instead of the random init. */
    double ed = hp->ema_decay, ew = (1 + t) / (10 + t);
    if (ew < ed)
        ed = ew;
    s->ema_decay = ed;
}

void xg_optim_adamw_ema(const xg_optim_step *s, float *p, const float *g, float *m, float *v,
                        float *ema, size_t n)
{
    const double scale = s->scale, lr = s->lr, b1 = s->b1, b2 = s->b2, eps = s->eps, wd = s->wd;
    const double bc1 = s->bc1, bc2 = s->bc2, ed = s->ema_decay;
    long nn = (long)n;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < nn; i++) {
        double gi = g[i] * scale;
        double mi = b1 * m[i] + (1 - b1) * gi;
        double vi = b2 * v[i] + (1 - b2) * gi * gi;
        m[i] = (float)mi;
        v[i] = (float)vi;
        double pi = p[i];
        pi -= lr * ((mi / bc1) / (sqrt(vi / bc2) + eps) + wd * pi);
        p[i] = (float)pi;
        ema[i] = (float)(ed * ema[i] + (1 - ed) * pi);
    }
}

void xg_optim_shuffle(int64_t *perm, int64_t n, xg_rng *rng)
{
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)xg_rng_below(rng, (uint64_t)(i + 1));
        int64_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
}

int xg_optim_check_hparams(const xg_hparams *h, int max_batch, const char *who, xg_error *err)
{
    if (h->batch < 1 || h->batch > max_batch)
        return xg_error_set(err, XG_EINVAL, "%s: batch %d out of range", who, h->batch);
    if (h->epochs < 0 || (h->epochs == 0 && !(h->hours > 0)))
        return xg_error_set(err, XG_EINVAL, "%s: give a number of epochs or a time budget in hours", who);
    if (!(h->lr > 0 && h->lr < 10) || !(h->lr_min >= 0 && h->lr_min <= h->lr))
        return xg_error_set(err, XG_EINVAL, "%s: need 0 < lr < 10 and 0 <= lr_min <= lr (got %g, %g)",
                            who, h->lr, h->lr_min);
    if (h->warmup_steps < 0 || !(h->weight_decay >= 0) || !(h->clip_norm >= 0) ||
        !(h->ema_decay >= 0 && h->ema_decay < 1) || !(h->beta1 >= 0 && h->beta1 < 1) ||
        !(h->beta2 >= 0 && h->beta2 < 1) || !(h->adam_eps > 0) || !(h->hours >= 0) ||
        !(h->checkpoint_minutes >= 0) || h->max_structures < 0)
        return xg_error_set(err, XG_EINVAL, "%s: an optimizer setting is out of range", who);
    return XG_OK;
}
