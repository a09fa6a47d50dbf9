/* train_opts.c: the options `train` and `train-property` share (see train_opts.h). */
#include "src/train_opts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/cli.h"

int train_opts_parse(const char *cmd, int argc, char **argv, int *i, train_opts *o)
{
    const char *a = argv[*i], *val = NULL;
    long v;
    double x;
#define VALUE()                                                                                   \
    do {                                                                                          \
        if (!(val = xg_cli_value(cmd, argc, argv, i)))                                            \
            return -1;                                                                            \
    } while (0)
#define INT_OPT(name, lo, hi, dst)                                                                \
    if (xg_cli_is(a, name)) {                                                                     \
        VALUE();                                                                                  \
        if (xg_cli_parse_int(cmd, name, val, lo, hi, &v))                                         \
            return -1;                                                                            \
        dst = v;                                                                                  \
        return 1;                                                                                 \
    }
#define DBL_OPT(name, lo, hi, dst)                                                                \
    if (xg_cli_is(a, name)) {                                                                     \
        VALUE();                                                                                  \
        if (xg_cli_parse_double(cmd, name, val, lo, hi, &x))                                      \
            return -1;                                                                            \
        dst = x;                                                                                  \
        return 1;                                                                                 \
    }
    if (xg_cli_is(a, "--epochs")) {
        VALUE();
        if (xg_cli_parse_int(cmd, "--epochs", val, 1, 1000000, &v))
            return -1;
        o->hp->epochs = (int)v;
        o->epochs_given = 1;
        return 1;
    }
    DBL_OPT("--checkpoint-every", 0, 1e6, o->hp->checkpoint_minutes)
    INT_OPT("--hidden", 1, 4096, o->net->hidden)
    INT_OPT("--layers", 0, 64, o->net->layers)
    INT_OPT("--n-freq", 1, 64, o->net->n_freq)
    INT_OPT("--batch", 1, 100000, o->hp->batch)
    INT_OPT("--warmup", 0, 100000000, o->hp->warmup_steps)
    INT_OPT("--threads", 1, 1024, o->hp->threads)
    INT_OPT("--max-structures", 1, 1000000000, o->hp->max_structures)
    INT_OPT("--stop-at-step", 1, 1000000000000L, *o->stop_at_step)
    DBL_OPT("--hours", 1e-6, 1e5, o->hp->hours)
    DBL_OPT("--lr", 1e-9, 1, o->hp->lr)
    DBL_OPT("--lr-min", 0, 1, o->hp->lr_min)
    DBL_OPT("--weight-decay", 0, 10, o->hp->weight_decay)
    DBL_OPT("--clip", 0, 1e6, o->hp->clip_norm)
    DBL_OPT("--ema", 0, 0.999999, o->hp->ema_decay)
    if (xg_cli_is(a, "--seed")) {
        VALUE();
        char *end = NULL;
        unsigned long long s = strtoull(val, &end, 10);
        if (!*val || *end || val[0] == '-') {
            xg_cli_errorf(cmd, "--seed expects a non-negative integer, got '%s'", val);
            return -1;
        }
        o->hp->seed = (uint64_t)s;
        return 1;
    }
#undef VALUE
#undef INT_OPT
#undef DBL_OPT
    return 0;
}

int train_opts_finish(const char *cmd, train_opts *o, int resume)
{
    if (o->hp->hours > 0 && !o->epochs_given)
        o->hp->epochs = 0; /* run until the time budget is spent */
    if (!resume && o->hp->lr_min > o->hp->lr) {
        xg_cli_errorf(cmd, "--lr-min %g is above --lr %g", o->hp->lr_min, o->hp->lr);
        return -1;
    }
    if (resume && !o->epochs_given)
        o->hp->epochs = 0; /* keep the checkpoint's */
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
