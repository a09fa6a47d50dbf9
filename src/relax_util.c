/* relax_util.c: see relax_util.h. */
#include "src/relax_util.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "crystal/xg_symmetry.h"
#include "src/cli.h"
#include "src/model_path.h"
#include "crystal/xg_csv.h"

int xg_relax_load_model(const char *path, xg_m3gnet **m, xg_error *err)
{
    char buf[4096];
    if (!path) {
        int rc = xg_default_model_path(XG_M3GNET_MODEL_NAME, buf, sizeof buf, err);
        if (rc)
            return rc;
        path = buf;
    }
    return xg_m3gnet_load(path, m, err);
}

void xg_relax_one(const xg_m3gnet *m, xg_structure *s, const xg_relax_config *cfg,
                  xg_relax_row *row)
{
    xg_error e = {0};
    memset(row, 0, sizeof *row);
    row->natoms = s->natoms;
    row->energy = row->energy_initial = row->max_force = NAN;
    row->rms_displacement = row->volume_change = NAN;
    xg_structure_reduced_formula(s, row->formula, sizeof row->formula);
    if (xg_symmetry_spacegroup(s, 0.1, &row->sg_before, NULL, &e))
        row->sg_before = 0;
    xg_relax_result r;
    if (xg_relax_run(m, s, cfg, &r, &e)) {
        snprintf(row->error, sizeof row->error, "%.250s", e.msg);
        row->energy = r.e_final;
        row->steps = r.steps;
        return;
    }
    row->energy = r.e_final;
    row->energy_initial = r.e_initial;
    row->max_force = r.max_force;
    row->rms_displacement = r.rms_displacement;
    row->volume_change = r.volume_change;
    row->steps = r.steps;
    row->converged = r.converged;
    if (xg_symmetry_spacegroup(s, 0.1, &row->sg_after, NULL, &e))
        row->sg_after = 0;
}

int xg_relax_write_csv(const char *path, const xg_dataset *in, const xg_relax_row *rows, long n,
                       xg_error *err)
{
    xg_atomic_file a;
    int rc = xg_atomic_open(&a, path, err);
    if (rc)
        return rc;
    fprintf(a.f, "id,formula,natoms,energy,energy_per_atom,energy_initial,max_force,steps,"
                 "converged,rms_displacement,volume_change,spacegroup_before,spacegroup_after,"
                 "error\n");
    for (long i = 0; i < n; i++) {
        const xg_relax_row *r = &rows[i];
        xg_csv_write_cell(a.f, in->ids[i]);
        fputc(',', a.f);
        xg_csv_write_cell(a.f, r->formula);
        fprintf(a.f, ",%d,%.6f,%.6f,%.6f,%.4f,%d,%d,%.4f,%.4f,%d,%d,", r->natoms, r->energy,
                r->natoms ? r->energy / r->natoms : NAN, r->energy_initial, r->max_force,
                r->steps, r->converged, r->rms_displacement, r->volume_change, r->sg_before,
                r->sg_after);
        xg_csv_write_cell(a.f, r->error);
        fputc('\n', a.f);
    }
    return xg_atomic_commit(&a, err);
}
