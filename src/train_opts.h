/* train_opts.h: what `xtalgen train` and `xtalgen train-property` share on the command line:
 * the network-shape and optimizer options with their ranges, the rules that follow from them
 * (--hours without --epochs, --resume without --epochs, --lr-min above --lr), and the small
 * helpers both commands print and name files with.
 *
 * Why shared: the two commands train the same network engine with the same optimizer
 * (diffusion/xg_optim.h); an option that took another range or meaning in one of them would
 * surprise the user. Messages name the calling command (cmd). */
#ifndef XG_TRAIN_OPTS_H
#define XG_TRAIN_OPTS_H

#include <stddef.h>
#include <stdint.h>

#include "diffusion/xg_denoiser.h"
#include "diffusion/xg_model.h"

/* Where the shared options land; the caller points them at its configuration. */
typedef struct {
    xg_denoiser_config *net;  /* --hidden, --layers, --n-freq */
    xg_hparams *hp;           /* --epochs, --batch, --warmup, --threads, --max-structures,
                                 --hours, --lr, --lr-min, --weight-decay, --clip, --ema,
                                 --seed, --checkpoint-every */
    int64_t *stop_at_step;    /* --stop-at-step */
    int epochs_given;         /* set when --epochs was given */
} train_opts;

/* Parses argv[*i] when it is a shared option, advancing *i past a separate value. Returns 1
 * when it was one (parsed), 0 when it is not (argv untouched), -1 on a usage error (the
 * message is printed). */
int train_opts_parse(const char *cmd, int argc, char **argv, int *i, train_opts *o);

/* After parsing: --hours without --epochs runs until the budget is spent, --resume without
 * --epochs keeps the checkpoint's; a fresh run's --lr-min must not exceed --lr. Returns 0, or
 * -1 on a usage error (printed). */
int train_opts_finish(const char *cmd, train_opts *o, int resume);

/* A duration as "1h05m" or "3m07s" ("?" when unknown). */
void train_opts_fmt_dur(double s, char *buf, size_t n);

/* MODEL.h5 -> MODEL.<suffix>; any other name gets .<suffix> appended. NULL when out of
 * memory; the caller frees the result. */
char *train_opts_derived_path(const char *out, const char *suffix);

#endif
