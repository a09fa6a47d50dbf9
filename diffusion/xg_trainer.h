/* xg_trainer.h: the one training loop of the project (DESIGN.md 3.4), shared by the denoiser
 * (xg_train.c) and the property models (properties/xg_propmodel.c): epochs over a shuffled
 * training set, AdamW with linear warm-up and cosine decay (xg_optim.h), global gradient-norm
 * clipping, an exponential moving average of the weights, validation with the EMA weights at
 * each epoch end (optionally keeping the best epoch's), a per-epoch history and CSV log,
 * checkpoints (each epoch end, every hp.checkpoint_minutes, on stop) that resume bit for bit,
 * stopping by step count, wall-time budget or the progress callback (SIGINT/SIGTERM handlers
 * in src/ return nonzero there), the training-set fingerprint, and data parallelism.
 *
 * Why one loop: two copies had drifted apart (their own hash, clock, log writer and stop rules);
 * a model now supplies only what is its own, through callbacks: the loss and gradient of one
 * batch, the validation numbers, and how its checkpoint file is written. Preparing the data,
 * building or loading the model and writing the final model file stay with the model's code.
 *
 * Determinism: the trainer's generator (rng, saved in checkpoints) shuffles each epoch and is
 * handed to the batch callback, which draws what it needs in a fixed order; the gradient norm
 * is a serial sum in parameter order; every update is elementwise. For a given seed and thread
 * count a run is a pure function of the data, and a run stopped at any step and resumed equals
 * the uninterrupted one.
 *
 * Data parallelism (xg_train_dist): the loop takes care of what all models share: agreeing to
 * stop, rank 0's clock for a --hours horizon, a weight fingerprint compared across processes at
 * the start and after every epoch, and only rank 0 writing files. Splitting a batch and summing
 * the gradients is the batch callback's job (it knows what its losses are normalised by).
 *
 * Nothing here prints; progress goes to a callback. */
#ifndef XG_TRAINER_H
#define XG_TRAINER_H

#include <stddef.h>
#include <stdint.h>

#include "crystal/xg_error.h"
#include "crystal/xg_rng.h"

/* Training hyperparameters, recorded in every model file so a result can be reproduced. */
typedef struct {
    int batch;                /* crystals per step (64) */
    int epochs;               /* planned epochs; 0 = as many as `hours` allows */
    double hours;             /* wall-time budget of one invocation, 0 = none */
    double lr, lr_min;        /* peak learning rate and the floor of the cosine decay */
    long warmup_steps;        /* linear warm-up from 0 to lr */
    double weight_decay;      /* decoupled (AdamW) weight decay, 0 = plain Adam */
    double clip_norm;         /* global gradient-norm clip, 0 = none */
    double ema_decay;         /* EMA decay of the weights (0.999) */
    double beta1, beta2, adam_eps;
    uint64_t seed;
    int threads;              /* OpenMP threads the run used (determinism is per thread count) */
    long max_structures;      /* 0 = whole training set */
    double checkpoint_minutes;/* time between checkpoints (also written at each epoch end) */
} xg_hparams;

/* batch 64, 100 epochs, lr 1e-3 to 1e-5, warm-up 500, clip 1, EMA 0.999, Adam (0.9, 0.999,
 * 1e-8), seed 1, 1 thread, checkpoints every 15 minutes. */
void xg_hparams_default(xg_hparams *h);

/* The settings of a resumed run: the checkpoint's (the run's identity), except when to stop
 * and how often to checkpoint, which this invocation may change: epochs (when given > 0),
 * hours, checkpoint_minutes and threads (the last at the cost of bit-identity). */
void xg_hparams_resume(xg_hparams *out, const xg_hparams *ckpt, const xg_hparams *given);

#define XG_TRAIN_MAX_LOSS 4 /* loss components a batch reports; [0] is the total */
#define XG_TRAIN_MAX_VAL 4  /* validation numbers per epoch; [0] ranks the epochs */

/* Running sums of the current epoch: the loss components (one per step), then counts. The
 * layout is part of the denoiser's checkpoint format (/train/epoch_sums). */
enum { XG_SUM_TOTAL, XG_SUM_COORD, XG_SUM_LATTICE, XG_SUM_TYPE, XG_SUM_CRYSTALS,
       XG_SUM_SECONDS, XG_SUM_STEPS, XG_SUMS };

/* The trainer's state, saved in checkpoints (each model's file code writes it in its layout). */
typedef struct {
    size_t nparams;
    float *adam_m, *adam_v;   /* nparams each */
    float *best;              /* nparams: EMA weights of the best epoch (keep_best), else NULL */
    int64_t step;             /* optimizer steps taken (global step) */
    int64_t epoch;            /* epochs completed */
    int64_t step_in_epoch;    /* batches of the current epoch already done */
    int64_t horizon;          /* total steps of the learning-rate schedule, 0 = not known yet */
    int64_t threads;
    uint64_t rng[4];          /* the trainer's generator at the start of the next step */
    int64_t nperm;
    int64_t *perm;            /* data order of the current epoch */
    double elapsed;           /* training seconds over all invocations */
    uint64_t data_hash;       /* fingerprint of the training set: resume refuses another one */
    double sums[XG_SUMS];
    int64_t best_epoch;       /* 1-based epoch of state->best, 0 = none yet */
    double best_val;          /* its validation value [0] */
    int ncols;                /* history columns */
    int64_t nhist;
    double *hist;             /* nhist * ncols, one row per finished epoch */
} xg_train_state;

/* adam moments zeroed, perm the identity, best allocated when keep_best. */
xg_train_state *xg_train_state_alloc(size_t nparams, int64_t nperm, int ncols, int keep_best,
                                     xg_error *err);
void xg_train_state_free(xg_train_state *s);
/* Appends one history row (s->ncols values). */
int xg_train_state_push_history(xg_train_state *s, const double *row, xg_error *err);

/* FNV-1a, chained: the training-set fingerprint (start with XG_FNV_INIT) and the cross-process
 * weight check. */
#define XG_FNV_INIT 0xcbf29ce484222325ULL
uint64_t xg_fnv1a(uint64_t h, const void *p, size_t n);

/* The atoms and atom pairs of the B largest of n crystals (crystal i has off[i+1] - off[i]
 * atoms): a bound on any batch of B, for sizing buffers once. */
int xg_train_batch_bound(const int64_t *off, int64_t n, int B, long *atoms, long *pairs,
                         xg_error *err);

/* Monotonic seconds (the clock of every timing the trainer records). */
double xg_train_clock(void);

/* The data-parallel hook: diffusion/ never includes MPI; src/xg_mpi.h fills this. size <= 1
 * (the default, all zero) is a single process, exactly the serial trainer. */
typedef struct {
    int rank, size;  /* this process, number of processes */
    /* Sum n values elementwise over all processes, in place; every process must receive the
     * same result bit for bit (MPI_Allreduce does). Return an xg_status. */
    int (*sum_f32)(void *ctx, float *buf, size_t n, xg_error *err);
    int (*sum_f64)(void *ctx, double *buf, size_t n, xg_error *err);
    void *ctx;
} xg_train_dist;

/* 1 when training is split over several processes (d may be NULL). */
int xg_train_dist_on(const xg_train_dist *d);
/* Sums n doubles over the processes (nothing to do for one). */
int xg_train_dist_sum(const xg_train_dist *d, double *v, size_t n, xg_error *err);

/* How a run with --hours and no --epochs fixes its learning-rate horizon. */
enum {
    XG_HOURS_FIRST_EPOCH,  /* once, from the first epoch's share of the total elapsed time */
    XG_HOURS_EVERY_EPOCH   /* at every epoch end, from this invocation's mean epoch time and
                              the budget left, so the cosine ends near the end of the budget */
};

enum { XG_TRAINER_EV_STEP, XG_TRAINER_EV_EPOCH, XG_TRAINER_EV_CHECKPOINT };

typedef struct xg_trainer xg_trainer;

/* What the loop reports; fill your own with xg_trainer_progress_fill for other moments. */
typedef struct {
    int event;
    int64_t epoch;             /* epochs completed (at EV_EPOCH: including this one) */
    int64_t epochs;            /* planned, 0 = time-limited */
    int64_t step_in_epoch, steps_per_epoch, step;
    double lr;                 /* of the last step */
    double steps;              /* steps of this epoch so far */
    double avg[XG_TRAIN_MAX_LOSS]; /* running means of this epoch's losses, NAN before a step */
    double crystals_per_s, sec_per_batch, elapsed, eta; /* eta < 0 when unknown */
    const double *last;        /* EV_STEP: the last batch's losses */
    double val[XG_TRAIN_MAX_VAL]; /* EV_EPOCH: validation (NAN without a validation set) */
    double best_val;           /* NAN before a best epoch */
    int64_t best_epoch;
    const char *path;          /* EV_CHECKPOINT: the file written */
} xg_trainer_progress;

/* The model's part. ctx is the model's trainer context. */
typedef struct {
    int nloss;         /* loss components per batch, 1..XG_TRAIN_MAX_LOSS */
    int nval;          /* validation numbers, 0..XG_TRAIN_MAX_VAL */
    int keep_best;     /* keep the EMA weights of the epoch with the lowest val[0] */
    int throughput;    /* the history has a crystals-per-second column before elapsed */
    int hours_policy;  /* XG_HOURS_* */
    const char *who;   /* starts messages: "train", "train-property" */
    /* The history / CSV log columns: epoch, step, lr, nloss train means, nval validation
     * values, [crystals_per_s], elapsed_s. formats: printf for a double, NULL = integer. */
    const char *const *columns;
    const char *const *formats;
    /* Loss (loss[0..nloss-1], loss[0] the total) and parameter gradient, in the segments' g,
     * of the training crystals idx[0..B-1]; random draws from rng only, in a fixed order. */
    int (*batch)(void *ctx, const int64_t *idx, int B, xg_rng *rng, double *loss, xg_error *err);
    /* Validation values of the current parameters (the EMA weights, put in place by the loop);
     * NULL when there is no validation set. */
    int (*validate)(void *ctx, double *val, xg_error *err);
    /* Writes the checkpoint file (model + T->st); T->st->elapsed and ->rng are current. */
    int (*checkpoint)(void *ctx, const char *path, const xg_trainer *T, xg_error *err);
    /* Progress; nonzero = stop cleanly after this step (EV_STEP). May be NULL. */
    int (*progress)(void *ctx, const xg_trainer_progress *p);
    void *ctx;
} xg_trainer_ops;

#define XG_TRAINER_MAX_SEG 4

/* The loop's inputs and working state. The model's code fills everything above `private`,
 * then calls xg_trainer_start and xg_trainer_run. */
struct xg_trainer {
    xg_trainer_ops ops;
    xg_hparams hp;             /* the run's settings (after resume rules) */
    xg_train_dist dist;        /* zero = one process */
    const char *ckpt_path;
    const char *log_path;      /* CSV, rewritten each epoch from the history; NULL = none */
    int64_t stop_at_step;      /* 0 = none */
    /* The parameters as segments (each with its gradient); the flat order segment 0, 1, ...
     * is the order of ema, state->adam_m/v/best and the norm. */
    int nseg;
    float *seg_p[XG_TRAINER_MAX_SEG], *seg_g[XG_TRAINER_MAX_SEG];
    size_t seg_n[XG_TRAINER_MAX_SEG];
    float *ema;                /* nparams, owned by the model's code */
    xg_train_state *st;        /* owned by the model's code */
    xg_rng rng;                /* seeded (fresh) or restored from st->rng (resume) */
    int64_t ntrain;            /* crystals of the prepared training set */
    /* private: set by xg_trainer_start */
    size_t nparams;
    int B;                     /* crystals per step: min(hp.batch, ntrain) */
    int64_t spe;               /* steps per epoch: the remainder of each epoch is dropped */
    int64_t epoch0, ckpt_step;
    double t0, elapsed0, last_ckpt;
    float *backup;
};

/* Computes B and the steps per epoch and checks the checkpoint's position against them;
 * allocates the loop's buffers. Call once st, the segments and ntrain are set; B is then known
 * for sizing the model's buffers. The clock (t0) is the caller's: set it when the run begins. */
int xg_trainer_start(xg_trainer *T, xg_error *err);

/* Data-parallel runs: every process must hold the same weights, EMA, data and position; a
 * difference is an error on all of them. Nothing to do for one process. */
int xg_trainer_check_same(xg_trainer *T, const char *when, xg_error *err);

/* The loop: trains until hp.epochs are done or a stop (stop_at_step, hours, progress callback,
 * another process), then writes the last checkpoint when the last step has none. *stopped is
 * 1 when stopped before the planned end. Writing the final model is the caller's job. */
int xg_trainer_run(xg_trainer *T, int *stopped, xg_error *err);

/* A progress record of the current moment (also for the caller's start and done reports). */
void xg_trainer_progress_fill(const xg_trainer *T, int event, xg_trainer_progress *p);

/* Copies the parameters out of / into the segments (nparams floats, flat order). */
void xg_trainer_get_params(const xg_trainer *T, float *dst);
void xg_trainer_set_params(xg_trainer *T, const float *src);

void xg_trainer_free(xg_trainer *T); /* the loop's buffers (not st, ema or the model) */

#endif
