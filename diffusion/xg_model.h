/* xg_model.h: model and checkpoint files (HDF5), and what they hold in memory.
 *
 * A model file is everything a sampler needs: the network's configuration and weights (raw
 * and EMA), the noise processes it was trained with, and the training set's statistics
 * (number-of-atoms histogram, average density, property scalers). A checkpoint is a model file
 * plus the trainer's state (Adam moments, position in the epoch, RNG state, data order, loss
 * history), enough to continue a run so that it matches an uninterrupted one bit for bit.
 *
 * HDF5 layout, version 1 (part of the interface; documented in README.md):
 *   /            attributes: format = "xtalgen-model" (string), version = 1 (int),
 *                kind = "model" or "checkpoint" (string)
 *   /config      attributes: hidden, layers, n_freq, time_dim, cond_dim (int);
 *                noise_sigma_min, noise_sigma_max, noise_avg_density, noise_lattice_c,
 *                noise_cos_s, noise_t_min, noise_w_coord, noise_w_lattice, noise_w_type (double);
 *                train_batch, train_epochs, train_warmup_steps, train_threads,
 *                train_max_structures (int64); train_seed (uint64); train_hours, train_lr,
 *                train_lr_min, train_weight_decay, train_clip_norm, train_ema_decay,
 *                train_beta1, train_beta2, train_adam_eps, train_checkpoint_minutes (double)
 *   /weights/<param name>   (rows, cols) float32, names and shapes from xg_denoiser_param_info
 *   /ema/<param name>       (rows, cols) float32, exponential moving average of the weights
 *   /stats       attributes: avg_density (double, atoms/A^3), nstructs (int64)
 *                natoms_hist (hist_len,) int64: training crystals with N = 0..hist_len-1 atoms
 *                scaler_names (k,) strings, scaler_mean (k,), scaler_std (k,) float64:
 *                per dataset property, over the crystals where it is known (absent when k = 0);
 *                scaler_count (k,) int64, scaler_min (k,), scaler_max (k,) float64: how many
 *                training crystals have the property and its range (NaN when none); optional,
 *                all three or none (files written before they existed lack them; `xtalgen
 *                model stats` adds them from the training set)
 *   /condition   optional (version 1 files without it are unconditional models); written only
 *                when the model has conditions (xg_condition.h), so an unconditional file is
 *                exactly what it was before conditioning existed:
 *                attributes count, dim (int64; dim == /config cond_dim), drop (double, the
 *                training drop-to-unconditional probability), base (string, the model file
 *                fine-tuned from, "" if none);
 *                datasets, one entry per condition in vector order: names (count,) fixed-length
 *                strings (XG_PROP_NAME_LEN bytes, NUL padded), kind (count,) int64 (1 scalar,
 *                2 chemsys), offset, dim, n_freq (count,) int64, mean, std, freq0,
 *                freq_ratio (count,) float64
 *   checkpoints only:
 *   /optimizer   attribute step (int64); m/<param name>, v/<param name> (rows, cols) float32
 *   /train       attributes epoch, step_in_epoch, horizon, threads (int64), elapsed (double),
 *                data_hash (uint64, FNV-1a of the prepared training set);
 *                rng_state (4,) uint64 (the trainer's xoshiro state at the next step),
 *                perm (n,) int64 (data order of the current epoch),
 *                epoch_sums (XG_SUMS,) float64 (the current epoch's running loss sums),
 *                history (epochs, XG_HIST_COLS) float64, one row per finished epoch, columns
 *                named by its attribute "columns"
 * Files are written to PATH.tmp and renamed onto PATH, so a killed run never leaves a broken
 * file. Another format string or version is refused with XG_EVERSION; missing or mis-shaped
 * datasets give XG_EPARSE naming the dataset. */
#ifndef XG_MODEL_H
#define XG_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "crystal/xg_dataset.h"
#include "crystal/xg_error.h"
#include "crystal/xg_rng.h"
#include "diffusion/xg_condition.h"
#include "diffusion/xg_denoiser.h"
#include "diffusion/xg_noise.h"
#include "diffusion/xg_trainer.h"

#define XG_MODEL_VERSION 1

/* Statistics of the training set that samplers need. */
typedef struct {
    int hist_len;             /* natoms_hist has counts for N = 0..hist_len-1 */
    int64_t *natoms_hist;
    double avg_density;       /* atoms per cubic Angstrom */
    int64_t nstructs;
    int nscalers;
    char (*scaler_names)[XG_PROP_NAME_LEN];
    double *scaler_mean, *scaler_std;
    /* Label counts and ranges per scaler; NULL when the file does not record them. */
    int64_t *scaler_count;
    double *scaler_min, *scaler_max;
} xg_model_stats;

/* Fills stats from a dataset (allocates; release with xg_model_stats_free). */
int xg_model_stats_from_dataset(xg_model_stats *st, const xg_dataset *ds, xg_error *err);
/* Fills the property scalers of st (names, mean, std, count, min, max; allocated here, any
 * previous ones freed) over the crystals rows[0..n) of ds, or over all of ds when rows is NULL.
 * Missing labels (NaN) are skipped, never counted as zero. The one implementation behind
 * xg_model_stats_from_dataset and the trainer's statistics. */
int xg_model_stats_set_scalers(xg_model_stats *st, const xg_dataset *ds, const int64_t *rows,
                               int64_t n, xg_error *err);
/* Sets the label counts and ranges of st's scalers to those of the same name in from (which
 * must have them, for every one of st's names): for files written before they were stored.
 * XG_EINVAL naming a scaler from lacks; st is unchanged then. */
int xg_model_stats_copy_labels(xg_model_stats *st, const xg_model_stats *from, xg_error *err);
/* Index of the scaler called name in st, or -1. */
int xg_model_stats_find(const xg_model_stats *st, const char *name);
void xg_model_stats_free(xg_model_stats *st);
/* Draws a number of atoms from the histogram (N >= 1). Returns 0 when the histogram is empty,
 * or not a histogram (a negative count, or counts summing past INT64_MAX). */
int xg_model_sample_natoms(const xg_model_stats *st, xg_rng *rng);

/* Columns of one history row (one per finished epoch). */
enum {
    XG_HIST_EPOCH, XG_HIST_STEP, XG_HIST_LR,
    XG_HIST_TRAIN, XG_HIST_TRAIN_COORD, XG_HIST_TRAIN_LATTICE, XG_HIST_TRAIN_TYPE,
    XG_HIST_VAL, XG_HIST_VAL_COORD, XG_HIST_VAL_LATTICE, XG_HIST_VAL_TYPE,
    XG_HIST_CRYSTALS_PER_S, XG_HIST_ELAPSED,
    XG_HIST_COLS
};
extern const char *const xg_hist_column_names[XG_HIST_COLS];

/* A model in memory. */
typedef struct {
    xg_denoiser_config cfg;
    xg_noise_params noise;
    xg_hparams hp;
    xg_model_stats stats;
    xg_denoiser *net;         /* ready to run: holds the EMA or the raw weights, as loaded */
    float *weights, *ema;     /* num_params each */
    xg_train_state *state;    /* checkpoints loaded with XG_MODEL_LOAD_STATE, else NULL */
    xg_cond_spec cond;        /* the conditions (cond.n == 0: none; also when a file has
                                 cond_dim > 0 but no /condition group, which samplers refuse) */
} xg_model;

/* What a model or checkpoint file holds. weights and ema hold xg_denoiser_num_params(net)
 * floats; net supplies the configuration and parameter names. */
typedef struct {
    const xg_denoiser *net;
    const float *weights, *ema;
    const xg_noise_params *noise;
    const xg_hparams *hp;         /* the training settings (xg_trainer.h) */
    const xg_model_stats *stats;
    const xg_cond_spec *cond;     /* NULL or n == 0: unconditional (no /condition group); else
                                     its dim must equal the network's cond_dim */
    const xg_train_state *state;  /* NULL: a model; else a checkpoint (history of XG_HIST_COLS) */
} xg_model_desc;

/* Writes the file described by d (to PATH.tmp, renamed onto PATH). */
int xg_model_write(const char *path, const xg_model_desc *d, xg_error *err);

#define XG_MODEL_LOAD_EMA 1   /* net gets the EMA weights (what samplers should use) */
#define XG_MODEL_LOAD_STATE 2 /* the file must be a checkpoint; its state is loaded too */

int xg_model_load(const char *path, int flags, xg_model **out, xg_error *err);
/* The same loader for a file's bytes held in memory (nothing touches the disk; the fuzz
 * harness uses it); name stands for the path in messages. */
int xg_model_load_image(const void *image, size_t len, const char *name, int flags,
                        xg_model **out, xg_error *err);
void xg_model_free(xg_model *m);

#endif
