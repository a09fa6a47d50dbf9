/* xg_trainer_h5.h: the part of a checkpoint's /train group every model writes alike: the
 * trainer's generator (rng_state (4,) uint64), the data order (perm (n,) int64), the running
 * sums of the epoch (epoch_sums (k,) float64, in the model's own layout) and the per-epoch
 * history (history (epochs, columns) float64, attribute "columns": the names, comma-separated).
 * The scalars of /train (step, epoch, horizon, ...) stay with each model's file code, whose
 * layouts are part of their formats (diffusion/xg_model.h, properties/xg_propmodel.h). */
#ifndef XG_TRAINER_H5_H
#define XG_TRAINER_H5_H

#include <hdf5.h>

#include "crystal/xg_error.h"
#include "diffusion/xg_trainer.h"

/* Writes the four datasets into group g; columns holds st->ncols names. */
int xg_train_state_write_h5(hid_t g, const xg_train_state *st, const double *sums, int nsums,
                            const char *const *columns, const char *ctx, xg_error *err);

/* Reads them into st, allocated for st->nperm crystals and st->ncols history columns (perm must
 * have exactly st->nperm entries and hold a permutation's values; XG_EPARSE otherwise). Without
 * a history dataset the history is empty, or XG_EPARSE when require_history. */
int xg_train_state_read_h5(hid_t g, xg_train_state *st, double *sums, int nsums,
                           int require_history, const char *ctx, xg_error *err);

#endif
