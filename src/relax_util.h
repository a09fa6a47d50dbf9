/* relax_util.h: what `relax` and `screen --relax` share: loading the shipped M3GNet model,
 * relaxing one crystal with its symmetry before and after, and the relax.csv table. */
#ifndef XG_RELAX_UTIL_H
#define XG_RELAX_UTIL_H

#include "crystal/xg_dataset.h"
#include "crystal/xg_error.h"
#include "properties/xg_m3gnet.h"
#include "properties/xg_relax.h"

#define XG_M3GNET_MODEL_NAME "m3gnet-mp-2021.2.8.h5"

typedef struct {
    char formula[64];
    int natoms;
    double energy, energy_initial, max_force, rms_displacement, volume_change;
    int steps, converged;
    int sg_before, sg_after;   /* spglib at symprec 0.1; 0 when it failed */
    char error[256];
} xg_relax_row;

/* path NULL: the shipped data/models/m3gnet-mp-2021.2.8.h5. */
int xg_relax_load_model(const char *path, xg_m3gnet **m, xg_error *err);

/* Relaxes s in place and fills row (an error goes into row->error; s is then the best
 * structure seen). Thread-safe. */
void xg_relax_one(const xg_m3gnet *m, xg_structure *s, const xg_relax_config *cfg,
                  xg_relax_row *row);

/* Writes relax.csv (columns in `xtalgen help relax`) atomically. */
int xg_relax_write_csv(const char *path, const xg_dataset *in, const xg_relax_row *rows, long n,
                       xg_error *err);

#endif
