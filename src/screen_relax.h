/* screen_relax.h: `screen --relax` (issue 24): every candidate relaxed with the M3GNet
 * potential (properties/xg_relax.h) and judged by its relaxed energy against the M3GNet hull
 * of MP-20 (data/hull-m3gnet-mp20.h5, `xtalgen hull m3gnet`), as MatterGen judges its samples
 * with a relaxed MLIP energy. The property-model e_hull_pred stays as a second opinion.
 *
 * Kept out of cmd_screen.c so the screen's judge gains one call and a few columns. */
#ifndef XG_SCREEN_RELAX_H
#define XG_SCREEN_RELAX_H

#include "crystal/xg_dataset.h"
#include "crystal/xg_error.h"

typedef struct {
    double e_relaxed;   /* eV/atom, M3GNet, after relaxation; NaN when it failed */
    double e_hull_mlip; /* eV/atom, signed; NaN without a reference for every element */
    double rmsd;        /* A, rms displacement from the input (relaxed cell, mean removed) */
    int converged;      /* 1/0; -1 when the relaxation failed */
    int sg_relaxed;     /* space group after relaxation (symprec 0.1), 0 when unknown */
} xg_screen_relax_row;

typedef struct {
    char model_path[4096], hull_path[4096];
    long n_failed, n_converged;
    double seconds;
} xg_screen_relax_info;

/* Relaxes every crystal of ds (OpenMP, one crystal per thread; fmax 0.05, 500 steps) and fills
 * rows (ds->n, caller-owned). hull_path NULL: the shipped table. A crystal that fails gets NaN
 * and converged = -1; only a missing model or hull is an error. */
int xg_screen_relax_run(const xg_dataset *ds, const char *hull_path, int quiet,
                        xg_screen_relax_row *rows, xg_screen_relax_info *info, xg_error *err);

#endif
