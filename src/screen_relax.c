/* screen_relax.c: see screen_relax.h. */
#include "src/screen_relax.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "properties/xg_hull.h"
#include "src/cli.h"
#include "src/hull_m3gnet.h"
#include "src/model_path.h"
#include "src/relax_util.h"

int xg_screen_relax_run(const xg_dataset *ds, const char *hull_path, int quiet,
                        xg_screen_relax_row *rows, xg_screen_relax_info *info, xg_error *err)
{
    memset(info, 0, sizeof *info);
    char hp[4096];
    if (!hull_path) {
        /* data/hull-m3gnet-mp20.h5 sits one folder above the shipped models */
        int rc = xg_default_model_path("../" XG_HULL_M3GNET_NAME, hp, sizeof hp, err);
        if (rc)
            return rc;
        hull_path = hp;
    }
    snprintf(info->hull_path, sizeof info->hull_path, "%s", hull_path);
    int rc = xg_default_model_path(XG_M3GNET_MODEL_NAME, info->model_path,
                                   sizeof info->model_path, err);
    if (rc)
        return rc;
    double refs[XG_MAX_Z + 1];
    xg_hull *h = NULL;
    xg_m3gnet *m = NULL;
    if ((rc = xg_hull_m3gnet_refs(hull_path, refs, err)) || (rc = xg_hull_read_h5(hull_path, &h, err)) ||
        (rc = xg_m3gnet_load(info->model_path, &m, err))) {
        xg_hull_free(h);
        return rc;
    }
    xg_relax_config cfg;
    xg_relax_default_config(&cfg);
    openblas_set_num_threads(1);
    double t0 = xg_now();
    xg_progress bar;
    xg_progress_start(&bar, "relax", (long)ds->n, quiet);
    long done = 0, failed = 0, conv = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : failed, conv)
    for (int64_t i = 0; i < ds->n; i++) {
        xg_screen_relax_row *r = &rows[i];
        r->e_relaxed = r->e_hull_mlip = r->rmsd = NAN;
        r->converged = -1;
        r->sg_relaxed = 0;
        xg_error e = {0};
        xg_structure *s = xg_dataset_get(ds, i, &e);
        xg_relax_row row;
        if (s) {
            xg_relax_one(m, s, &cfg, &row);
            if (!row.error[0]) {
                r->e_relaxed = row.energy / s->natoms;
                r->rmsd = row.rms_displacement;
                r->converged = row.converged;
                r->sg_relaxed = row.sg_after;
                double ef = xg_hull_m3gnet_eform(s, row.energy, refs);
                xg_hull_comp c;
                if (isfinite(ef) && !xg_hull_comp_from_types(s->types, s->natoms, &c, &e) &&
                    xg_hull_e_above(h, &c, ef, &r->e_hull_mlip, NULL, &e))
                    r->e_hull_mlip = NAN;
                conv += row.converged;
            } else {
                failed++;
            }
            xg_structure_free(s);
        } else {
            failed++;
        }
#pragma omp critical
        xg_progress_update(&bar, ++done);
    }
    xg_progress_finish(&bar);
    info->n_failed = failed;
    info->n_converged = conv;
    info->seconds = xg_now() - t0;
    xg_m3gnet_free(m);
    xg_hull_free(h);
    return XG_OK;
}
