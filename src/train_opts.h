/* train_opts.h: what `xtalgen train` and `xtalgen train-property` share on the command line:
 * the network-shape and optimizer options with their ranges and help (entries of an option
 * table, src/xg_opts.h), the rules that follow from them (--hours without --epochs, --resume
 * without --epochs, --lr-min above --lr), and the small helpers both commands print and name
 * files with.
 *
 * Why shared: the two commands train the same network engine with the same loop
 * (diffusion/xg_trainer.h); an option that took another range or meaning in one of them would
 * surprise the user. Messages name the calling command (cmd). */
#ifndef XG_TRAIN_OPTS_H
#define XG_TRAIN_OPTS_H

#include <stddef.h>
#include <stdint.h>

#include "diffusion/xg_denoiser.h"
#include "diffusion/xg_trainer.h"
#include "src/xg_opts.h"

/* The shared options as typed; each command's options struct starts with one. */
typedef struct {
    const char *data, *val, *output, *checkpoint;
    long hidden, layers, n_freq, batch, epochs, warmup, threads, max_structures, stop_at_step;
    double hours, lr, lr_min, weight_decay, clip, ema, checkpoint_every;
    uint64_t seed;
    int resume, quiet;
} train_cli;

/* Table entries of the shared options, for a command struct S whose train_cli member is F;
 * the defaults that differ between the commands are parameters (as typed). */
#define TRAIN_OPTS_DATA(S, F)                                                                      \
    XG_OPT_S("--data", NULL, S, F.data, "PATH", NULL, "training set (HDF5 dataset from `xtalgen dataset import`)")
#define TRAIN_OPTS_SHAPE(S, F, layers_def)                                                         \
    XG_OPT_I("--hidden", NULL, S, F.hidden, "H", 1, 4096, "128", "hidden width"),                  \
    XG_OPT_I("--layers", NULL, S, F.layers, "L", 0, 64, layers_def, "message-passing layers"),     \
    XG_OPT_I("--n-freq", NULL, S, F.n_freq, "F", 1, 64, "8", "Fourier frequencies per dimension")
#define TRAIN_OPTS_OPTIM(S, F, warmup_def)                                                         \
    XG_OPT_I("--batch", "--batch_size", S, F.batch, "B", 1, 100000, "64", "crystals per step"),   \
    XG_OPT_I("--epochs", NULL, S, F.epochs, "E", 1, 1000000, NULL,                                 \
             "epochs to train (default 100 unless --hours is given)"),                             \
    XG_OPT_D("--hours", NULL, S, F.hours, "T", 1e-6, 1e5, NULL,                                    \
             "stop cleanly after T hours of wall time (this invocation)"),                         \
    XG_OPT_D("--lr", NULL, S, F.lr, "X", 1e-9, 1, "1e-3", "peak learning rate, cosine decay to --lr-min"), \
    XG_OPT_D("--lr-min", NULL, S, F.lr_min, "X", 0, 1, "1e-5", "floor of the decay"),              \
    XG_OPT_I("--warmup", NULL, S, F.warmup, "N", 0, 100000000, warmup_def, "warm-up steps"),       \
    XG_OPT_D("--weight-decay", NULL, S, F.weight_decay, "X", 0, 10, "0", "AdamW weight decay"),    \
    XG_OPT_D("--clip", NULL, S, F.clip, "X", 0, 1e6, "1", "gradient-norm clip (0 = off)"),         \
    XG_OPT_D("--ema", NULL, S, F.ema, "X", 0, 0.999999, "0.999", "EMA decay of the weights")
#define TRAIN_OPTS_RUN(S, F, seed_help, ckpt_def)                                                  \
    XG_OPT_U("--seed", NULL, S, F.seed, "S", "1", seed_help),                                      \
    XG_OPT_THREADS(S, F.threads, 1, "1",                                                           \
                   "OpenMP and OpenBLAS threads (results are reproducible for a given\n"          \
                   "thread count)"),                                                               \
    XG_OPT_S("--checkpoint", NULL, S, F.checkpoint, "PATH", NULL,                                  \
             "checkpoint file (default MODEL.ckpt.h5)"),                                           \
    XG_OPT_D("--checkpoint-every", NULL, S, F.checkpoint_every, "M", 0, 1e6, ckpt_def,             \
             "minutes between checkpoints"),                                                       \
    XG_OPT_F("--resume", NULL, S, F.resume,                                                        \
             "continue from the checkpoint (its settings win, except when to\n"                   \
             "stop: --epochs, --hours, --checkpoint-every, --threads)")
#define TRAIN_OPTS_TAIL(S, F, limit_help)                                                          \
    XG_OPT_I("--max-structures", NULL, S, F.max_structures, "K", 1, 1000000000, NULL, limit_help), \
    XG_OPT_I("--stop-at-step", NULL, S, F.stop_at_step, "N", 1, 1000000000000L, NULL,              \
             "stop cleanly after N optimizer steps in total (testing)"),                           \
    XG_OPT_F("--quiet", "-q", S, F.quiet, "no progress bar, only the per-epoch lines")

/* After parsing: copies the options into the network shape (may be NULL when fine-tuning
 * decides it), the training settings and the step limit, applying the rules: --hours without
 * --epochs runs until the budget is spent, --resume without --epochs keeps the checkpoint's,
 * otherwise 100 epochs unless given;
 * a fresh run's --lr-min must not exceed --lr. Returns 0, or -1 on a usage error (printed). */
int train_opts_finish(const char *cmd, const train_cli *c, int epochs_given,
                      xg_denoiser_config *net, xg_hparams *hp, int64_t *stop_at_step);

/* A duration as "1h05m" or "3m07s" ("?" when unknown). */
void train_opts_fmt_dur(double s, char *buf, size_t n);

/* MODEL.h5 -> MODEL.<suffix>; any other name gets .<suffix> appended. NULL when out of
 * memory; the caller frees the result. */
char *train_opts_derived_path(const char *out, const char *suffix);

/* The run's output paths: the model (-o OUT), the checkpoint (ckpt, or OUT's .ckpt.h5) and
 * the per-epoch log (logp, or OUT's .log.csv), each refused when it names one of the inputs
 * (an output never overwrites what the run reads). *ckpt_path and *log_path point at the
 * given names or at the derived ones, which the caller frees: own[0] and own[1] (NULL when
 * nothing was derived; both NULL after a failure). Returns 0, XG_EXIT_FAIL (out of memory)
 * or XG_EXIT_USAGE (an output names an input); the message is printed. */
int train_opts_paths(const char *cmd, const char *out, const char *ckpt, const char *logp,
                     const char *const *inputs, int ninputs, const char **ckpt_path,
                     const char **log_path, char *own[2]);

/* The OpenMP and OpenBLAS thread counts of a training run (the kernels read both). */
void train_opts_set_threads(int threads);

#endif
