/* xg_propmodel.h: property models: the denoiser's network family used as a regressor on clean
 * crystals (DESIGN.md 3.5: the formation-energy model behind E_hull; also band gap and magnetic
 * density for screening and guidance checks).
 *
 * Why this shape: one network engine for the whole project. The trunk is an xg_denoiser (type
 * embedding, message passing over all pairs with Fourier features and the metric), run on
 * unmasked types and clean coordinates at a fixed small time t, so it is invariant to atom
 * order, translation and rotation and aware of periodicity by construction. On top of it:
 *   pooled_b = mean_{i in b} u_i            (u = the trunk's final LayerNorm'd node states)
 *   y_b      = W2 SiLU(W1 pooled_b + b1) + b2   (H -> H -> 1)
 *   value_b  = mean + std * y_b             (the target is trained normalised)
 * Mean pooling makes the prediction intensive (per atom, per volume), as the targets are.
 *
 * Model file (HDF5), version 1 (part of the interface; documented in README.md):
 *   /          attributes: format = "xtalgen-propmodel", version = 1 (int), kind = "model" or
 *              "checkpoint", target (string, the dataset property), loss ("l1" or "mse"),
 *              time (double, the trunk's fixed t), target_mean, target_std (double, the scaler),
 *              val_mae, test_mae (double, target units, NaN when not measured),
 *              n_train, n_val, n_test, epochs (int64)
 *   /config    attributes: hidden, layers, n_freq, time_dim, head_hidden (int64); the training
 *              settings train_batch, train_warmup_steps, train_threads (int64), train_seed
 *              (uint64), train_lr, train_lr_min, train_weight_decay, train_clip_norm,
 *              train_ema_decay (double)
 *   /weights/<trunk tensor>   float32 (rows, cols): the denoiser tensors the regressor uses
 *              (every one except the unused coordinate, type and lattice heads "out.*_w/_b")
 *   /weights/head.w1 (H, H), head.b1 (1, H), head.w2 (1, H), head.b2 (1, 1)   float32
 *   checkpoints only: /ema/..., /best/..., /optimizer/m/..., /optimizer/v/... (same tensors);
 *              /train attributes step, epoch, step_in_epoch, horizon, best_epoch (int64),
 *              elapsed, best_val (double), data_hash (uint64); datasets rng_state (4,) uint64,
 *              perm (n,) int64, epoch_sums (3,) float64, history (epochs, 6) float64
 *              (epoch, step, lr, train_loss, val_mae, elapsed_s)
 *   /domain    (optional; issue 14) attributes n (int64, crystals it was computed from),
 *              density_min, density_max (g/cm^3), bond_ratio_min, bond_ratio_max (smallest
 *              d_ij / (r_i + r_j) of a crystal, crystal/xg_validity.h), natoms_min, natoms_max
 *              (int64); dataset elements (k,) int32: the atomic numbers seen in training.
 *              Written by training and by `xtalgen model domain`; a file without it has an
 *              unknown domain (every crystal "not assessed").
 * A model file holds the weights chosen by validation (the EMA weights of the best epoch).
 * Files are written to PATH.tmp and renamed onto PATH. Another format or version is refused
 * (XG_EVERSION for a version this build does not read).
 *
 * A model is not safe to use from two threads at once (it owns one activation arena); the
 * work inside one call runs in parallel (OpenMP over rows) and is deterministic. */
#ifndef XG_PROPMODEL_H
#define XG_PROPMODEL_H

#include <stddef.h>
#include <stdint.h>

#include "crystal/xg_dataset.h"
#include "crystal/xg_elements.h"
#include "crystal/xg_error.h"
#include "crystal/xg_structure.h"
#include "diffusion/xg_denoiser.h"
#include "diffusion/xg_trainer.h"

#define XG_PROPMODEL_VERSION 1
#define XG_PROPMODEL_TIME 0.001f     /* the trunk's fixed diffusion time */
#define XG_PROPMODEL_MAX_ATOMS 256   /* larger cells are refused: the pair arena grows as N^2 */

enum { XG_PROPLOSS_L1 = 0, XG_PROPLOSS_MSE = 1 };

typedef struct xg_propmodel xg_propmodel;

/* The training domain (issue 14): what the model has seen, so that a prediction for a crystal
 * unlike any training crystal (an element never seen, a squeezed cell, a huge cell) is flagged
 * rather than trusted. The ranges are the exact extremes of the labelled training crystals. */
typedef struct {
    int have;                                /* 0: unknown (a model file without /domain) */
    int64_t n;                               /* crystals it was computed from */
    unsigned char elements[XG_MAX_Z + 1];    /* 1 for every Z seen in training */
    double density_min, density_max;         /* g/cm^3 */
    double bond_ratio_min, bond_ratio_max;   /* min_bond_ratio per crystal */
    int natoms_min, natoms_max;
} xg_propmodel_domain;

/* What a model knows about itself (read-only view; the trainer fills it). */
typedef struct {
    char target[XG_PROP_NAME_LEN];
    int loss;                    /* XG_PROPLOSS_* */
    double mean, std;            /* scaler: value = mean + std * y */
    double val_mae, test_mae;    /* target units; NaN when not measured */
    int64_t n_train, n_val, n_test, epochs;
    xg_hparams hp;               /* the training settings used */
    xg_propmodel_domain domain;  /* training domain; domain.have = 0 when unknown */
} xg_propmodel_info;

/* A fresh model (parameters from seed 0; see init_params). trunk->cond_dim must be 0. */
xg_propmodel *xg_propmodel_alloc(const xg_denoiser_config *trunk, const char *target,
                                 xg_error *err);
void xg_propmodel_free(xg_propmodel *m);
void xg_propmodel_init_params(xg_propmodel *m, uint64_t seed);
const xg_propmodel_info *xg_propmodel_get_info(const xg_propmodel *m);
/* Sets the target scaler (std > 0). */
int xg_propmodel_set_scaler(xg_propmodel *m, double mean, double std, xg_error *err);

/* Parameters in two flat arrays: the trunk's (xg_denoiser_params of trunk) and the head's
 * (w1, b1, w2, b2 in that order), gradients beside them. */
xg_denoiser *xg_propmodel_trunk(xg_propmodel *m);
float *xg_propmodel_head_params(xg_propmodel *m, size_t *n);
float *xg_propmodel_head_grads(xg_propmodel *m, size_t *n);
void xg_propmodel_zero_grad(xg_propmodel *m);

/* Normalised outputs y (nstructs floats, caller-owned) of a packed batch of clean crystals:
 * tokens are classes Z - 1 (no mask token), b->t and b->cond are ignored (the trunk runs at
 * XG_PROPMODEL_TIME, unconditioned). */
int xg_propmodel_forward(xg_propmodel *m, const xg_batch *b, float *y, xg_error *err);
/* Adds the parameter gradients of sum_b dy[b] * y[b] through the last forward of batch b. */
int xg_propmodel_backward(xg_propmodel *m, const xg_batch *b, const float *dy, xg_error *err);

/* Predictions in target units for n crystals (values: n doubles, caller-owned). A crystal the
 * model cannot take (no atoms, Z > 100, more than XG_PROPMODEL_MAX_ATOMS atoms, a non-finite or
 * flat cell) fails the call with its index in the message. Results do not depend on n or on
 * how crystals are grouped. */
int xg_propmodel_predict(xg_propmodel *m, const xg_structure *const *s, int n, double *values,
                         xg_error *err);
int xg_propmodel_predict_structure(xg_propmodel *m, const xg_structure *s, double *value,
                                   xg_error *err);
/* Every crystal of a dataset; crystals the model cannot take get NaN and are counted in
 * *nskipped (may be NULL). */
int xg_propmodel_predict_dataset(xg_propmodel *m, const xg_dataset *ds, double *values,
                                 int64_t *nskipped, xg_error *err);

/* ---- training domain and physical range (issue 14) ---- */

/* The domain of the crystals of ds that have a finite value of property `target` (all crystals
 * when target is NULL), the first `limit` of them when limit > 0 (training's --max-structures).
 * XG_EINVAL when ds lacks the property or no crystal qualifies; a crystal whose geometry
 * cannot be analysed is skipped (counted in *nskipped, may be NULL). */
int xg_propmodel_domain_compute(const xg_dataset *ds, const char *target, int64_t limit,
                                xg_propmodel_domain *out, int64_t *nskipped, xg_error *err);
/* Replaces the model's domain (written by xg_propmodel_write). */
void xg_propmodel_set_domain(xg_propmodel *m, const xg_propmodel_domain *d);
/* Whether s lies in domain d: 1 inside, 0 outside (why, if given, names the first criterion it
 * fails, e.g. "element Pa not in training"), -1 when d is unknown or s cannot be analysed. */
int xg_propmodel_domain_check(const xg_propmodel_domain *d, const xg_structure *s, char *why,
                              size_t why_len);
/* The physical range of a target: band_gap, dft_mag_density and e_above_hull are >= 0
 * (lo = 0, hi = +inf); other targets are unbounded (-inf, +inf). */
void xg_propmodel_physical_range(const char *target, double *lo, double *hi);

/* Model files (see above). */
int xg_propmodel_write(const xg_propmodel *m, const char *path, xg_error *err);
int xg_propmodel_load(const char *path, xg_propmodel **out, xg_error *err);

/* ---- training ---- */

typedef struct {
    xg_denoiser_config trunk;  /* ignored on resume */
    const char *target;        /* dataset property to learn */
    int loss;                  /* XG_PROPLOSS_* (ignored on resume) */
    xg_hparams hp;             /* batch, epochs | hours, lr, ... (on resume the checkpoint's,
                                  except epochs (if > 0), hours, checkpoint_minutes, threads) */
    const char *out_path;      /* final model file */
    const char *ckpt_path;     /* checkpoint file */
    const char *log_path;      /* per-epoch CSV, rewritten each epoch; NULL = none */
    int resume;
    int64_t stop_at_step;      /* stop cleanly once this many steps are done; 0 = no */
} xg_propmodel_train_config;

/* hidden 128, 3 layers, 8 frequencies, time_dim 32; L1 loss; batch 64, lr 1e-3 to 1e-5,
 * warm-up 300 steps, clip 1, EMA 0.999, seed 1, 1 thread, checkpoints every 10 minutes. */
void xg_propmodel_train_config_default(xg_propmodel_train_config *c);

enum { XG_PROP_EV_START, XG_PROP_EV_STEP, XG_PROP_EV_EPOCH, XG_PROP_EV_DONE };

typedef struct {
    int event;
    int resumed;
    int64_t ntrain, nval, ntest;          /* labelled, usable crystals of each set */
    int64_t nolabel[3], unusable[3];      /* train/val/test: skipped for a missing (NaN) label,
                                             or a crystal the model cannot take */
    size_t nparams;
    int64_t epoch, epochs, step_in_epoch, steps_per_epoch, step;
    double lr, avg_loss;                  /* running mean of this epoch's training loss */
    double val_mae, best_val_mae;         /* EV_EPOCH: target units (EMA weights) */
    int64_t best_epoch;
    double crystals_per_s, elapsed, eta;  /* eta < 0 when unknown */
    const char *path;                     /* EV_DONE: the model written */
} xg_propmodel_progress;

/* Nonzero return: stop cleanly after this step (checkpoint, then the final model). */
typedef int (*xg_propmodel_progress_fn)(const xg_propmodel_progress *p, void *user);

typedef struct {
    int64_t steps, epochs;
    int stopped_early;
    double train_loss;                    /* last epoch's mean (normalised units) */
    double val_mae, test_mae;             /* of the model written; NaN without that set */
    double baseline_val_mae, baseline_test_mae; /* predicting the training mean for every crystal */
    int64_t ntrain, nval, ntest;
    int64_t nolabel[3], unusable[3];
    int64_t best_epoch;
} xg_propmodel_train_result;

/* Trains (or resumes) a model of cfg->target on `train`, choosing the weights by validation
 * MAE on `val` (NULL: the final EMA weights), and measures the test MAE on `test` (may be
 * NULL). Crystals whose label is NaN are skipped, never counted as zero. */
int xg_propmodel_train(const xg_propmodel_train_config *cfg, const xg_dataset *train,
                       const xg_dataset *val, const xg_dataset *test, xg_propmodel_progress_fn fn,
                       void *user, xg_propmodel_train_result *res, xg_error *err);

#endif
