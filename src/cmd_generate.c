/* cmd_generate.c: `xtalgen generate`: sample new crystals from a trained model and write them
 * as they are finished (CIF files, one extxyz, one HDF5 dataset, a summary CSV), so a killed
 * run keeps every crystal it completed. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "crystal/xg_cif.h"
#include "crystal/xg_dataset.h"
#include "crystal/xg_elements.h"
#include "crystal/xg_extxyz.h"
#include "crystal/xg_symmetry.h"
#include "diffusion/xg_model.h"
#include "diffusion/xg_sampler.h"
#include "src/cli.h"
#include "src/commands.h"
#include "src/model_path.h"

#define CMD "generate"
#define MAX_CONDITIONS 8

static const char usage[] =
    "usage: xtalgen generate [--model M] -n N -o DIR [options]\n"
    "\n"
    "Samples N new crystals from a trained diffusion model and writes, as each batch finishes:\n"
    "  DIR/cif/<id>.cif      one P1 CIF per crystal\n"
    "  DIR/generated.extxyz  every crystal, one frame each\n"
    "  DIR/generated.h5      every crystal as an xtalgen dataset (for screen, convert)\n"
    "  DIR/summary.csv       id,formula,natoms,spacegroup_number,spacegroup_symbol,volume,density\n"
    "\n"
    "options:\n"
    "  --model M              model file (default: the shipped data/models/xtalgen-mp20.h5)\n"
    "  -n, --num N            number of crystals (required)\n"
    "  -o, --output DIR       output folder (required; created if missing)\n"
    "  --batch B              crystals denoised together (default 64)\n"
    "  --steps S              reverse-diffusion steps (default 1000; fewer is faster)\n"
    "  --corrector K          Langevin corrector moves per step (default 1)\n"
    "  --seed X               random seed (default 1); same seed, batch and threads = same crystals\n"
    "  --threads T            OpenMP threads (default: all cores)\n"
    "  --num-atoms K          every crystal has K atoms (default: drawn from the training set)\n"
    "  --elements LIST        only these elements may appear (symbols and named sets)\n"
    "  --exclude-elements L   these never appear: symbols and sets rare-earths, noble-gases,\n"
    "                         radioactive, lanthanides, actinides, alkali, alkaline-earths,\n"
    "                         halogens, transition-metals\n"
    "  --condition NAME=VAL   steer toward a property the model was fine-tuned on, e.g.\n"
    "                         dft_mag_density=0.15 or chemsys=Li-Fe-P-O; repeatable; conditions\n"
    "                         of the model not given stay unspecified\n"
    "  --guidance G           classifier-free guidance strength gamma: u + gamma (c - u)\n"
    "                         (default 1 = plain conditional, 0 = unconditional)\n"
    "  --symprec S            tolerance of the space group in summary.csv (default 0.1)\n"
    "  --quiet                no progress bar\n";

typedef struct {
    const char *model, *outdir, *elements, *exclude;
    long n, batch, steps, corrector, seed, threads, natoms;
    double guidance, symprec;
    int quiet;
    int ncond;
    const char *cond_arg[MAX_CONDITIONS]; /* "NAME=VALUE", encoded with the model's spec */
} gen_args;

static int parse_args(int argc, char **argv, gen_args *a)
{
    memset(a, 0, sizeof *a);
    a->n = -1;
    a->batch = 64;
    a->steps = 1000;
    a->corrector = 1;
    a->seed = 1;
    a->guidance = 1.0;
    a->symprec = 0.1;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *v;
#define VAL() do { if (!(v = xg_cli_value(CMD, argc, argv, &i))) return -1; } while (0)
        if (!strcmp(arg, "-n") || xg_cli_is(arg, "--num")) {
            VAL();
            if (xg_cli_parse_int(CMD, "-n", v, 1, 100000000, &a->n)) return -1;
        } else if (!strcmp(arg, "-o") || xg_cli_is(arg, "--output")) {
            VAL();
            a->outdir = v;
        } else if (xg_cli_is(arg, "--model")) {
            VAL();
            a->model = v;
        } else if (xg_cli_is(arg, "--batch")) {
            VAL();
            if (xg_cli_parse_int(CMD, "--batch", v, 1, 100000, &a->batch)) return -1;
        } else if (xg_cli_is(arg, "--steps")) {
            VAL();
            if (xg_cli_parse_int(CMD, "--steps", v, 1, 100000, &a->steps)) return -1;
        } else if (xg_cli_is(arg, "--corrector")) {
            VAL();
            if (xg_cli_parse_int(CMD, "--corrector", v, 0, 100, &a->corrector)) return -1;
        } else if (xg_cli_is(arg, "--seed")) {
            VAL();
            if (xg_cli_parse_int(CMD, "--seed", v, 0, LONG_MAX, &a->seed)) return -1;
        } else if (xg_cli_is(arg, "--threads")) {
            VAL();
            if (xg_cli_parse_int(CMD, "--threads", v, 1, 4096, &a->threads)) return -1;
        } else if (xg_cli_is(arg, "--num-atoms")) {
            VAL();
            if (xg_cli_parse_int(CMD, "--num-atoms", v, 1, 1000, &a->natoms)) return -1;
        } else if (xg_cli_is(arg, "--elements")) {
            VAL();
            a->elements = v;
        } else if (xg_cli_is(arg, "--exclude-elements")) {
            VAL();
            a->exclude = v;
        } else if (xg_cli_is(arg, "--guidance")) {
            VAL();
            if (xg_cli_parse_double(CMD, "--guidance", v, -100, 100, &a->guidance)) return -1;
        } else if (xg_cli_is(arg, "--symprec")) {
            VAL();
            if (xg_cli_parse_double(CMD, "--symprec", v, 1e-6, 1, &a->symprec)) return -1;
        } else if (xg_cli_is(arg, "--condition")) {
            VAL();
            const char *eq = strchr(v, '=');
            if (!eq || eq == v) {
                xg_cli_errorf(CMD, "--condition expects NAME=VALUE, got '%s'", v);
                return -1;
            }
            if (a->ncond == MAX_CONDITIONS) {
                xg_cli_errorf(CMD, "at most %d conditions", MAX_CONDITIONS);
                return -1;
            }
            if (!eq[1]) {
                xg_cli_errorf(CMD, "--condition '%s' has no value", v);
                return -1;
            }
            a->cond_arg[a->ncond++] = v;
        } else if (!strcmp(arg, "--trajectories")) {
            xg_cli_errorf(CMD, "--trajectories is not available in this version");
            return -1;
        } else if (!strcmp(arg, "--quiet") || !strcmp(arg, "-q")) {
            a->quiet = 1;
        } else {
            xg_cli_errorf(CMD, "unknown option '%s' (see xtalgen help generate)", arg);
            return -1;
        }
#undef VAL
    }
    if (a->n < 0) {
        xg_cli_errorf(CMD, "-n N is required");
        return -1;
    }
    if (!a->outdir) {
        xg_cli_errorf(CMD, "-o DIR is required");
        return -1;
    }
    return 0;
}

/* allowed[z] for z = 1..XG_MAX_Z from --elements / --exclude-elements, restricted to what the
 * network can produce. */
static int build_allowed(const gen_args *a, unsigned char allowed[XG_MAX_Z + 1], xg_error *err)
{
    memset(allowed, 0, XG_MAX_Z + 1);
    if (a->elements) {
        int rc = xg_element_set_parse(a->elements, allowed, err);
        if (rc)
            return xg_error_prefix(err, "--elements");
    } else {
        for (int z = 1; z <= XG_MAX_Z; z++)
            allowed[z] = 1;
    }
    if (a->exclude) {
        unsigned char ex[XG_MAX_Z + 1];
        int rc = xg_element_set_parse(a->exclude, ex, err);
        if (rc)
            return xg_error_prefix(err, "--exclude-elements");
        for (int z = 1; z <= XG_MAX_Z; z++)
            if (ex[z])
                allowed[z] = 0;
    }
    int any = 0;
    for (int z = 1; z <= XG_MAX_Z; z++) {
        if (z > XG_NUM_TYPES)
            allowed[z] = 0;
        any |= allowed[z];
    }
    if (!any)
        return xg_error_set(err, XG_EINVAL,
                            "the element constraints leave no element to generate (the model "
                            "knows Z = 1..%d)", XG_NUM_TYPES);
    return XG_OK;
}

typedef struct {
    xg_progress *bar;
    long done_before, batch_n;
} step_ctx;

static void on_step(void *ctx, int step, int steps)
{
    step_ctx *c = ctx;
    /* Progress in crystals: the batch's crystals count as done in proportion to its steps. */
    long done = c->done_before + (long)((double)c->batch_n * step / steps);
    xg_progress_update(c->bar, done);
}

static int write_summary_header(FILE *f)
{
    return fprintf(f, "id,formula,natoms,spacegroup_number,spacegroup_symbol,volume,density\n") < 0;
}

static int run(int argc, char **argv)
{
    gen_args a;
    if (parse_args(argc, argv, &a))
        return XG_EXIT_USAGE;
    xg_error err = {0};
#ifdef _OPENMP
    if (a.threads > 0)
        omp_set_num_threads((int)a.threads);
#endif
    unsigned char allowed[XG_MAX_Z + 1];
    if (build_allowed(&a, allowed, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_USAGE;
    }
    char model_path[4096];
    if (a.model) {
        snprintf(model_path, sizeof model_path, "%s", a.model);
    } else if (xg_default_model_path("xtalgen-mp20.h5", model_path, sizeof model_path, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_FAIL;
    }
    xg_model *m = NULL;
    if (xg_model_load(model_path, XG_MODEL_LOAD_EMA, &m, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_FAIL;
    }
    int rc = XG_EXIT_FAIL;
    float *cond = NULL;
    FILE *xyz = NULL, *csv = NULL;
    xg_dataset *ds = NULL;
    xg_structure **batch = NULL;
    int *natoms = NULL;

    if (a.ncond > 0 && m->cfg.cond_dim == 0) {
        xg_cli_errorf(CMD, "%s is an unconditional model; --condition needs a model fine-tuned "
                           "with conditions (xtalgen train --finetune ... --condition NAME)",
                      model_path);
        rc = XG_EXIT_USAGE;
        goto done;
    }
    if (a.ncond == 0 && a.guidance != 1.0 && !a.quiet)
        fprintf(stderr, "xtalgen generate: note: --guidance has no effect without --condition\n");
    if (a.ncond > 0 && m->cond.n == 0) {
        xg_cli_errorf(CMD, "%s has cond_dim %d but no /condition group describing its conditions; "
                           "it cannot encode --condition",
                      model_path, m->cfg.cond_dim);
        goto done;
    }
    if (a.ncond > 0) {
        cond = calloc((size_t)m->cfg.cond_dim, sizeof *cond);
        if (!cond) {
            xg_cli_errorf(CMD, "out of memory");
            goto done;
        }
        if (xg_cond_encode_request(&m->cond, a.ncond, a.cond_arg, cond, &err)) {
            xg_cli_errorf(CMD, "%s: %s", model_path, err.msg);
            rc = XG_EXIT_USAGE;
            goto done;
        }
        if (!a.quiet) {
            fprintf(stderr, "xtalgen generate: conditioning on");
            for (int k = 0; k < a.ncond; k++)
                fprintf(stderr, " %s", a.cond_arg[k]);
            fprintf(stderr, " with guidance %g\n", a.guidance);
        }
    }
    if (m->stats.hist_len <= 1 && a.natoms == 0) {
        xg_cli_errorf(CMD, "%s has no number-of-atoms histogram; pass --num-atoms", model_path);
        goto done;
    }

    char path[4200];
    if (xg_mkdir_p(a.outdir, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    snprintf(path, sizeof path, "%s/cif", a.outdir);
    if (xg_mkdir_p(path, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    snprintf(path, sizeof path, "%s/generated.extxyz", a.outdir);
    xyz = fopen(path, "w");
    snprintf(path, sizeof path, "%s/summary.csv", a.outdir);
    csv = fopen(path, "w");
    if (!xyz || !csv) {
        xg_cli_errorf(CMD, "cannot create outputs in %s: %s", a.outdir, strerror(errno));
        goto done;
    }
    write_summary_header(csv);
    fflush(csv);
    ds = xg_dataset_alloc();
    batch = calloc((size_t)a.batch, sizeof *batch);
    natoms = calloc((size_t)a.batch, sizeof *natoms);
    if (!ds || !batch || !natoms) {
        xg_cli_errorf(CMD, "out of memory");
        goto done;
    }

    xg_sampler_opts so;
    xg_sampler_opts_default(&so);
    so.steps = (int)a.steps;
    so.corrector_steps = (int)a.corrector;
    so.guidance = a.guidance;
    so.allowed = allowed;
    so.cond = cond;
    so.cond_dim = m->cfg.cond_dim;

    xg_progress bar;
    xg_progress_start(&bar, "generate", a.n, a.quiet);
    /* Numbers of atoms come from their own stream, so changing --num-atoms on one run does
     * not reshuffle the other random choices. */
    xg_rng nrng;
    xg_rng_seed(&nrng, (uint64_t)a.seed, UINT64_C(1) << 62);
    snprintf(path, sizeof path, "%s/generated.h5", a.outdir);
    for (long done = 0; done < a.n;) {
        int nb = (int)((a.n - done) < a.batch ? (a.n - done) : a.batch);
        for (int k = 0; k < nb; k++)
            natoms[k] = a.natoms > 0 ? (int)a.natoms : xg_model_sample_natoms(&m->stats, &nrng);
        step_ctx sc = {&bar, done, nb};
        if (xg_sampler_run(&m->noise, xg_sampler_eval_denoiser, m->net, &so, nb, natoms,
                           (uint64_t)a.seed, (uint64_t)done, batch, on_step, &sc, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            goto done;
        }
        for (int k = 0; k < nb; k++) {
            xg_structure *s = batch[k];
            snprintf(s->id, sizeof s->id, "gen-%07ld", done + k);
            char formula[256] = "?", sym[32] = "";
            int sg = 0;
            xg_structure_reduced_formula(s, formula, sizeof formula);
            xg_error serr = {0};
            if (xg_symmetry_spacegroup(s, a.symprec, &sg, sym, &serr))
                sg = 0; /* an unphysical sample can defeat spglib; screen will flag it */
            char cif[4200];
            snprintf(cif, sizeof cif, "%s/cif/%s.cif", a.outdir, s->id);
            if (xg_cif_write_file(cif, s, &err) || xg_extxyz_write(xyz, s, &err) ||
                xg_dataset_append(ds, s, NULL, &err)) {
                xg_cli_errorf(CMD, "%s", err.msg);
                goto done;
            }
            fprintf(csv, "%s,%s,%d,%d,%s,%.4f,%.4f\n", s->id, formula, s->natoms, sg,
                    sg ? sym : "", xg_structure_volume(s), xg_structure_density(s));
            xg_structure_free(s);
            batch[k] = NULL;
        }
        fflush(xyz);
        fflush(csv);
        /* Rewritten whole after each batch, atomically: a kill leaves the previous version. */
        if (xg_dataset_write_h5(ds, path, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            goto done;
        }
        done += nb;
        xg_progress_update(&bar, done);
    }
    xg_progress_finish(&bar);
    if (fclose(xyz) != 0 || fclose(csv) != 0) {
        xyz = csv = NULL;
        xg_cli_errorf(CMD, "writing outputs in %s failed", a.outdir);
        goto done;
    }
    xyz = csv = NULL;
    if (!a.quiet)
        fprintf(stderr, "xtalgen generate: %ld crystals in %s\n", a.n, a.outdir);
    rc = XG_EXIT_OK;
done:
    if (xyz)
        fclose(xyz);
    if (csv)
        fclose(csv);
    if (batch) {
        for (long k = 0; k < a.batch; k++)
            xg_structure_free(batch[k]);
        free(batch);
    }
    free(natoms);
    free(cond);
    xg_dataset_free(ds);
    xg_model_free(m);
    return rc;
}

const xg_command xg_command_generate = {"generate", run, "sample new crystals from a trained model",
                                        usage};
