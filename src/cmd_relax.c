/* cmd_relax.c: `xtalgen relax`: relax crystals with the M3GNet potential (FIRE on positions
 * and cell), one crystal per OpenMP thread; write the relaxed structures and a table. */
#include <cblas.h>
#include <ctype.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_cif.h"
#include "crystal/xg_dataset.h"
#include "crystal/xg_fileio.h"
#include "crystal/xg_input.h"
#include "crystal/xg_symmetry.h"
#include "properties/xg_m3gnet.h"
#include "properties/xg_relax.h"
#include "src/cli.h"
#include "src/commands.h"
#include "src/model_path.h"
#include "src/relax_util.h"

#define CMD "relax"

static const char usage[] =
    "usage: xtalgen relax INPUT... -o DIR [--fmax F] [--steps N] [--fixed-cell]\n"
    "                     [--model M3GNET.h5] [--precision P] [--threads N] [--quiet]\n"
    "\n"
    "Relaxes every crystal of the inputs with the M3GNet universal potential (Chen and Ong\n"
    "2022; data/models/m3gnet-mp-2021.2.8.h5): FIRE on atom positions and on the cell through\n"
    "a deformation gradient (as ASE's UnitCellFilter), until every force is below --fmax (and\n"
    "V |stress| / N, the cell's generalized force, too). INPUT is anything other commands read:\n"
    "CIF, POSCAR, extxyz, an xtalgen .h5 dataset, a CDVAE .csv, a folder or a `generate` run.\n"
    "\n"
    "";

static const char usage_after[] =
    "\n"
    "relax.csv columns: id, formula, natoms, energy (eV), energy_per_atom (eV/atom),\n"
    "energy_initial (eV), max_force (eV/A, final), steps, converged (1/0), rms_displacement\n"
    "(A, from the input, in the relaxed cell), volume_change (relative), spacegroup_before,\n"
    "spacegroup_after (spglib, symprec 0.1), error. A crystal that fails (an element M3GNet\n"
    "lacks, a collapsing cell) gets its error in the row; the others go on. Exit status 1 when\n"
    "any crystal failed.\n";

typedef struct {
    const char *out, *model;
    double fmax;
    long steps, threads;
    int fixed, cell, quiet, precision;
} relax_args;

static const xg_opt OPTS[] = {
    XG_OPT_OUTPUT(relax_args, out, "DIR",
                  "output folder: DIR/cif/ID.cif (relaxed), DIR/relaxed.h5 (an xtalgen dataset of "
                  "the relaxed crystals with energy_per_atom), DIR/relax.csv"),
    XG_OPT_D("--fmax", NULL, relax_args, fmax, "F", 1e-5, 100, "0.05", "force tolerance, eV/A"),
    XG_OPT_I("--steps", NULL, relax_args, steps, "N", 0, 1000000, "500",
             "at most N FIRE steps per crystal"),
    XG_OPT_F("--fixed-cell", NULL, relax_args, fixed, "relax positions only"),
    XG_OPT_F("--cell", NULL, relax_args, cell, "relax the cell too (the default; overrides --fixed-cell)"),
    XG_OPT_S("--model", NULL, relax_args, model, "FILE", NULL,
             "another M3GNet model file (`xtalgen model import-m3gnet`)"),
    XG_OPT_E("--precision", NULL, relax_args, precision, "float32|float64", "float32",
             "the network's arithmetic: float32 (twice as fast; energies within ~1e-6\n"
             "eV/atom of float64) or float64, the reference the gradient tests use"),
    XG_OPT_THREADS(relax_args, threads, 0, "0",
                   "crystals relaxed in parallel; 0 = all cores (results are reproducible for a "
                   "given thread count)"),
    XG_OPT_QUIET(relax_args, quiet),
    XG_OPT_TABLE_END};

/* A file name from an id: letters, digits, '-', '_', '.' kept, the rest '_'. */
static void safe_name(const char *id, char *out, size_t n)
{
    size_t k = 0;
    for (; *id && k + 1 < n; id++)
        out[k++] = (isalnum((unsigned char)*id) || *id == '-' || *id == '_' || *id == '.') ? *id : '_';
    out[k] = 0;
    if (!k)
        snprintf(out, n, "crystal");
}

static int run(int argc, char **argv)
{
    relax_args A;
    xg_opts_args args;
    if (xg_opts_parse(CMD, OPTS, argc, argv, &A, sizeof A, &args, -1))
        return XG_EXIT_USAGE;
    const char *out = A.out, *model = A.model;
    const char *const *inputs = args.pos;
    double fmax = A.fmax;
    long steps = A.steps, threads = A.threads;
    int fixed = A.fixed && !A.cell, quiet = A.quiet, ninputs = args.npos;
    if (!ninputs || !out) {
        xg_cli_errorf(CMD, "needs INPUT... and -o DIR (see xtalgen help relax)");
        return XG_EXIT_USAGE;
    }
    xg_error err = {0};
    xg_m3gnet *m = NULL;
    if (xg_relax_load_model(model, &m, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_FAIL;
    }
    xg_m3gnet_set_precision(m, (xg_m3gnet_precision)A.precision);
    /* all inputs into one dataset */
    xg_dataset *all = xg_dataset_alloc();
    int status = XG_EXIT_OK;
    for (int k = 0; all && k < ninputs; k++) {
        xg_dataset *ds = NULL;
        if (xg_input_read(inputs[k], &ds, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            status = XG_EXIT_FAIL;
            continue;
        }
        for (int64_t i = 0; i < ds->n; i++) {
            xg_structure *s = xg_dataset_get(ds, i, &err);
            if (!s || xg_dataset_append(all, s, NULL, &err)) {
                xg_cli_errorf(CMD, "%s", err.msg);
                status = XG_EXIT_FAIL;
            }
            xg_structure_free(s);
        }
        xg_dataset_free(ds);
    }
    char path[4200];
    if (!all || xg_mkdir_p(out, &err) ||
        (snprintf(path, sizeof path, "%s/cif", out), xg_mkdir_p(path, &err))) {
        xg_cli_errorf(CMD, "%s", all ? err.msg : "out of memory");
        xg_dataset_free(all);
        xg_m3gnet_free(m);
        return XG_EXIT_FAIL;
    }
    xg_relax_config cfg;
    xg_relax_default_config(&cfg);
    cfg.fmax = fmax;
    cfg.max_steps = (int)steps;
    cfg.fixed_cell = fixed;
    long n = (long)all->n;
    xg_relax_row *rows = calloc((size_t)(n ? n : 1), sizeof *rows);
    xg_structure **relaxed = calloc((size_t)(n ? n : 1), sizeof *relaxed);
    if (!rows || !relaxed) {
        xg_cli_errorf(CMD, "out of memory");
        status = XG_EXIT_FAIL;
        n = 0;
    }
    if (threads > 0)
        omp_set_num_threads((int)threads);
    /* one crystal per thread: BLAS inside each call stays on that thread */
    openblas_set_num_threads(1);
    xg_progress bar;
    xg_progress_start(&bar, "relax", n, quiet);
    long done = 0;
    double t0 = xg_now();
#pragma omp parallel for schedule(dynamic, 1)
    for (long i = 0; i < n; i++) {
        xg_error e = {0};
        xg_structure *s = xg_dataset_get(all, i, &e);
        if (!s) {
            snprintf(rows[i].error, sizeof rows[i].error, "%.250s", e.msg);
        } else {
            xg_relax_one(m, s, &cfg, &rows[i]);
            relaxed[i] = s;
        }
#pragma omp critical
        xg_progress_update(&bar, ++done);
    }
    xg_progress_finish(&bar);
    double secs = xg_now() - t0;
    /* outputs */
    xg_dataset *outds = xg_dataset_alloc();
    int ip = outds ? xg_dataset_add_property(outds, "energy_per_atom", &err) : XG_ENOMEM;
    long failed = 0, converged = 0;
    for (long i = 0; i < n; i++) {
        if (rows[i].error[0]) {
            failed++;
            xg_cli_errorf(CMD, "%s: %s", all->ids[i], rows[i].error);
        }
        converged += rows[i].converged;
        if (!relaxed[i] || rows[i].error[0])
            continue;
        char name[XG_ID_LEN], fpath[4400];
        safe_name(relaxed[i]->id, name, sizeof name);
        snprintf(fpath, sizeof fpath, "%s/cif/%s.cif", out, name);
        if (xg_file_write_atomic(fpath, xg_cif_write, relaxed[i], &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            status = XG_EXIT_FAIL;
        }
        double p = rows[i].energy / relaxed[i]->natoms;
        if (!ip && xg_dataset_append(outds, relaxed[i], &p, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            status = XG_EXIT_FAIL;
        }
    }
    (void)ip;
    snprintf(path, sizeof path, "%s/relaxed.h5", out);
    if (outds && outds->n > 0 && xg_dataset_write_h5(outds, path, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        status = XG_EXIT_FAIL;
    }
    snprintf(path, sizeof path, "%s/relax.csv", out);
    if (xg_relax_write_csv(path, all, rows, n, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        status = XG_EXIT_FAIL;
    }
    if (!quiet)
        fprintf(stderr, "relaxed %ld crystals in %.1f s (%.2f s per crystal per thread, %d "
                "threads): %ld converged, %ld failed; table %s\n", n, secs,
                n ? secs * omp_get_max_threads() / n : 0.0, omp_get_max_threads(), converged,
                failed, path);
    if (failed)
        status = XG_EXIT_FAIL;
    for (long i = 0; i < n; i++)
        xg_structure_free(relaxed[i]);
    free(relaxed);
    free(rows);
    xg_dataset_free(outds);
    xg_dataset_free(all);
    xg_m3gnet_free(m);
    return status;
}

const xg_command xg_command_relax = {"relax", run,
                                     "relax crystals with the M3GNet potential (FIRE, cell too)",
                                     usage};
const xg_command_options xg_options_relax = {OPTS, usage_after, NULL};
