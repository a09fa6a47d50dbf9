/* train_opts.c: the options `train` and `train-property` share (see train_opts.h). */
#include "src/train_opts.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "src/cli.h"

int train_opts_finish(const char *cmd, const train_cli *c, int epochs_given,
                      xg_denoiser_config *net, xg_hparams *hp, int64_t *stop_at_step)
{
    if (net) {
        net->hidden = (int)c->hidden;
        net->layers = (int)c->layers;
        net->n_freq = (int)c->n_freq;
    }
    hp->batch = (int)c->batch;
    hp->epochs = epochs_given ? (int)c->epochs : 100;
    hp->hours = c->hours;
    hp->lr = c->lr;
    hp->lr_min = c->lr_min;
    hp->warmup_steps = c->warmup;
    hp->weight_decay = c->weight_decay;
    hp->clip_norm = c->clip;
    hp->ema_decay = c->ema;
    hp->seed = c->seed;
    hp->threads = (int)c->threads;
    hp->max_structures = c->max_structures;
    hp->checkpoint_minutes = c->checkpoint_every;
    *stop_at_step = c->stop_at_step;
    if (hp->hours > 0 && !epochs_given)
        hp->epochs = 0; /* run until the time budget is spent */
    if (!c->resume && hp->lr_min > hp->lr) {
        xg_cli_errorf(cmd, "--lr-min %g is above --lr %g", hp->lr_min, hp->lr);
        return -1;
    }
    if (c->resume && !epochs_given)
        hp->epochs = 0; /* keep the checkpoint's */
    return 0;
}

void train_opts_fmt_dur(double s, char *buf, size_t n)
{
    if (!(s >= 0) || !isfinite(s)) {
        snprintf(buf, n, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else
        snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
}

char *train_opts_derived_path(const char *out, const char *suffix)
{
    size_t n = strlen(out);
    char *p = malloc(n + strlen(suffix) + 2);
    if (!p)
        return NULL;
    if (n > 3 && strcmp(out + n - 3, ".h5") == 0)
        n -= 3;
    memcpy(p, out, n);
    p[n] = '.';
    strcpy(p + n + 1, suffix);
    return p;
}

int train_opts_paths(const char *cmd, const char *out, const char *ckpt, const char *logp,
                     const char *const *inputs, int ninputs, const char **ckpt_path,
                     const char **log_path, char *own[2])
{
    own[0] = ckpt ? NULL : train_opts_derived_path(out, "ckpt.h5");
    own[1] = logp ? NULL : train_opts_derived_path(out, "log.csv");
    int code = 0;
    if ((!ckpt && !own[0]) || (!logp && !own[1])) {
        xg_cli_errorf(cmd, "out of memory");
        code = XG_EXIT_FAIL;
    } else {
        *ckpt_path = ckpt ? ckpt : own[0];
        *log_path = logp ? logp : own[1];
        if (xg_cli_check_output(cmd, "-o", out, inputs, ninputs) ||
            xg_cli_check_output(cmd, "the checkpoint", *ckpt_path, inputs, ninputs) ||
            xg_cli_check_output(cmd, "the log", *log_path, inputs, ninputs))
            code = XG_EXIT_USAGE;
    }
    if (code) {
        free(own[0]);
        free(own[1]);
        own[0] = own[1] = NULL;
    }
    return code;
}

void train_opts_set_threads(int threads)
{
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    openblas_set_num_threads(threads);
}
