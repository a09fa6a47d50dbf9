/* xg_train.h: training the denoiser (DESIGN.md 3.4): Adam with decoupled weight decay,
 * linear warm-up then cosine decay to a floor, global gradient-norm clipping, an exponential
 * moving average of the weights, epochs over a shuffled training set, a validation loss with a
 * fixed noise draw each epoch, and checkpoints that resume bit for bit.
 *
 * Determinism: for a given seed and thread count the run is a pure function of the data. The
 * trainer's one generator (xoshiro, saved in checkpoints) shuffles each epoch and draws one
 * 64-bit seed per crystal of a batch; each crystal's noise then comes from its own stream, so
 * drawing in parallel changes nothing. Reductions (loss, gradient norm) run in a fixed order.
 * A run stopped at any step (signal, --hours, stop_at_step) and resumed from its checkpoint
 * reproduces the uninterrupted run's parameters exactly; a run killed with SIGKILL resumes from
 * its last checkpoint and then does the same.
 *
 * The loop itself is xg_trainer.h's; this file supplies the denoiser's batch loss, validation
 * and checkpoint file (xg_model.h).
 *
 * Data parallelism (xg_train_dist, issue 7): with size R > 1 processes every process holds the
 * whole network and data, draws the same shuffles and per-crystal seeds, and evaluates a
 * contiguous slice of each global batch of hp.batch crystals (crystals k*B/R .. (k+1)*B/R - 1
 * of the batch on rank k). Its output gradients are rescaled to the GLOBAL normalisations (atoms
 * of the batch, crystals of the batch, masked sites of the batch: the last is summed over the
 * processes first), the parameter gradients are summed over the processes, and every process
 * then takes the same optimizer step. The loss trajectory equals the single-process run's up to
 * the order of floating-point sums. Validation is split by batch the same way. Only rank 0
 * writes the checkpoint, the log and the model; stopping (--hours, callback, stop_at_step) is
 * agreed on by all processes after each step. A checkpoint resumes with any number of
 * processes. The network weights are compared across processes at the start and after every
 * epoch: a divergence is an error, never silent.
 *
 * Nothing here prints: progress goes to a callback, which the command renders. */
#ifndef XG_TRAIN_H
#define XG_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "crystal/xg_dataset.h"
#include "crystal/xg_error.h"
#include "diffusion/xg_condition.h"
#include "diffusion/xg_denoiser.h"
#include "diffusion/xg_model.h"
#include "diffusion/xg_noise.h"
#include "diffusion/xg_trainer.h"

typedef struct {
    xg_denoiser_config net;   /* ignored on resume (the checkpoint's is used) and when
                                 fine-tuning (the base's); cond_dim always follows the conditions */
    xg_noise_params noise;    /* avg_density and lattice_c are fitted from the training set */
    xg_hparams hp;            /* on resume the checkpoint's, except epochs (if > 0), hours,
                                 checkpoint_minutes, which this invocation may change */
    const char *out_path;     /* final model file (config, weights, EMA, stats) */
    const char *ckpt_path;    /* checkpoint file (everything) */
    const char *log_path;     /* loss log CSV, rewritten each epoch from the history; NULL = none */
    int resume;               /* continue from ckpt_path */
    int allow_new_data;       /* resume on a training set whose fingerprint differs from the
                                 checkpoint's (same number of crystals): continues, but no
                                 longer reproduces the uninterrupted run bit for bit */
    int reschedule;           /* resume with hp.epochs > 0: end the learning-rate schedule at
                                 that epoch instead of the one the run started with (the rate
                                 moves to the cosine value at the new fraction of the run) */
    int64_t stop_at_step;     /* stop (checkpoint + model) once this many steps are done; 0 = no */
    /* Conditioning (DESIGN.md 3.4; xg_condition.h). On resume all of this comes from the
     * checkpoint; names given here must then match the checkpoint's conditions. */
    const char *finetune_path;/* start from this model's (or checkpoint's) configuration, noise
                                 processes and EMA weights, copied by parameter name; the new
                                 condition tensors start at zero, so step 0 is the base network.
                                 net is ignored (except that cond_dim follows the conditions).
                                 NULL = a fresh network from net */
    int ncond;                /* conditions: dataset property names or "chemsys" */
    const char *cond_names[XG_COND_MAX];
    int csp;                  /* 1: train a crystal-structure-prediction model (types never
                                 masked; xg_noise_params.csp), fresh or fine-tuned from a
                                 generative model (--finetune without conditions) */
    double cond_drop;         /* probability that a labelled crystal trains unconditionally
                                 (classifier-free guidance; default 0.2). Crystals without any
                                 label always train unconditionally. */
    xg_train_dist dist;       /* data-parallel processes (see the top); zero = one process */
} xg_train_config;

/* MP-20-sized defaults: hidden 128, 4 layers, 8 frequencies, batch 64. */
void xg_train_config_default(xg_train_config *c);

enum {
    XG_TRAIN_EV_START,      /* once, after setup: sizes, resumed or not */
    XG_TRAIN_EV_STEP,       /* after every optimizer step */
    XG_TRAIN_EV_EPOCH,      /* after each epoch's validation (val_* set) */
    XG_TRAIN_EV_CHECKPOINT, /* after a checkpoint was written */
    XG_TRAIN_EV_DONE        /* final model written */
};

typedef struct {
    int event;
    int resumed;
    int64_t ntrain, nval, skipped; /* skipped: crystals left out (Z > 100, no atoms, singular) */
    int64_t nlabelled;         /* training crystals with a condition label (0 when unconditional) */
    const xg_cond_spec *cond;  /* EV_START: the run's conditions (n == 0: none) */
    size_t nparams;
    int64_t ckpt_threads;      /* threads of the run that wrote the checkpoint (resume) */
    int64_t epoch;             /* current epoch, 0-based (number completed at EV_EPOCH) */
    int64_t epochs;            /* planned epochs, 0 = unknown (time-limited run) */
    int64_t step_in_epoch, steps_per_epoch, step;
    double lr;
    xg_noise_loss last;        /* the last batch */
    double avg_total, avg_coord, avg_lattice, avg_type; /* running mean of this epoch */
    double val_total, val_coord, val_lattice, val_type; /* EV_EPOCH: validation (EMA weights) */
    double crystals_per_s;     /* this epoch so far */
    double sec_per_batch;
    double elapsed;            /* seconds in this invocation */
    double eta;                /* seconds until the planned end, < 0 when unknown */
    const char *path;          /* EV_CHECKPOINT / EV_DONE: the file written */
} xg_train_progress;

/* Return nonzero to stop cleanly after the current step (checkpoint + final model). */
typedef int (*xg_train_progress_fn)(const xg_train_progress *p, void *user);

typedef struct {
    int64_t steps;            /* global steps done */
    int64_t epochs;           /* epochs completed */
    int stopped_early;        /* 1 when stopped by the callback, --hours or stop_at_step */
    double train_loss;        /* the last epoch's mean (or the running mean when stopped) */
    double val_loss;          /* the last validation loss, NAN when none */
} xg_train_result;

/* Trains (or resumes) on `train`, validating on `val` (may be NULL). Writes the checkpoint at
 * each epoch end, every hp.checkpoint_minutes and on stop, and the final model at the end. */
int xg_train_run(const xg_train_config *cfg, const xg_dataset *train, const xg_dataset *val,
                 xg_train_progress_fn fn, void *user, xg_train_result *res, xg_error *err);

/* The loss of `net` on a dataset with a fixed noise draw (crystal i's noise from stream i of
 * `seed`), in batches of `batch`, as dataset-level means; used for validation and tests.
 * use_cond = 1 feeds every crystal's labels from ds for the conditions of cond (crystals with
 * no label use the unconditional vector); use_cond = 0 runs everything unconditionally (cond
 * may then be NULL or empty). The noise draw does not depend on use_cond, so the two losses
 * compare the condition's effect alone. */
int xg_train_evaluate(xg_denoiser *net, const xg_noise_params *noise, const xg_cond_spec *cond,
                      int use_cond, const xg_dataset *ds, int batch, uint64_t seed,
                      xg_noise_loss *out, xg_error *err);

#endif
