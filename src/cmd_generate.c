/* cmd_generate.c: `xtalgen generate`: sample new crystals from a trained model and write them
 * as they are finished (CIF files, one extxyz, one HDF5 dataset, a summary CSV), so a killed
 * run keeps every crystal it completed.
 *
 * Under `mpirun -n R` (a build with XTALGEN_MPI) the batches are dealt out round-robin: batch b
 * (crystals b*B .. b*B+B-1, formed exactly as one process forms them) goes to rank b mod R,
 * which writes it into DIR/.rank<r>/ in the same formats; at the end rank 0 merges the parts in
 * crystal order into the outputs one process writes and removes them. Crystal k draws from its
 * own stream (seed, k) and its number of atoms from one sequence every rank replays, so with the
 * same --seed, --batch and threads per rank the crystals (ids, CIFs, extxyz, summary.csv,
 * generated.h5 contents) are identical, bit for bit, to a single process's, for any R. */
#include <dirent.h>
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
#include "crystal/xg_provenance.h"
#include "crystal/xg_symmetry.h"
#include "diffusion/xg_model.h"
#include "diffusion/xg_sampler.h"
#include "src/cli.h"
#include "src/commands.h"
#include "src/model_path.h"
#include "src/run_record.h"
#include "src/xg_mpi.h"

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
    "  DIR/summary.json      the run's settings, provenance (xtalgen version, model file and its\n"
    "                        SHA-256, conditions, guidance, seed, steps) and \"elements\", the\n"
    "                        elements sampled from; every CIF and generated.h5 carry the same\n"
    "Every cell is written right-handed with a along x and b in the xy plane.\n"
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
    "  --quiet                no progress bar\n"
    "\n"
    "With MPI (-DXTALGEN_MPI=ON): mpirun -n R xtalgen generate ... deals the batches to the R\n"
    "ranks round-robin (set OMP_NUM_THREADS or --threads per rank); each writes DIR/.rank<r>/,\n"
    "rank 0 merges into the outputs above and removes the parts. DIR must be on a filesystem\n"
    "every rank sees. The crystals equal a single process's with the same --seed, --batch and\n"
    "threads per rank; use --batch at most N/R so that every rank gets work. A killed MPI run\n"
    "leaves its finished crystals in the DIR/.rank<r>/ parts.\n";

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
        unsigned char ex[XG_MAX_Z + 1]; /* written in full by the parser */
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

/* ---------------------------------------------------------------- merging MPI parts ---- */

/* Copies one line (with its newline) from in to out; -1 at end of file. */
static int copy_line(FILE *in, FILE *out, char **line, size_t *cap)
{
    ssize_t n = getline(line, cap, in);
    if (n < 0)
        return -1;
    return fwrite(*line, 1, (size_t)n, out) == (size_t)n ? 0 : -1;
}

/* Copies one extxyz frame (a count line, a comment line, count atom lines). */
static int copy_frame(FILE *in, FILE *out, char **line, size_t *cap)
{
    ssize_t n = getline(line, cap, in);
    if (n < 0)
        return -1;
    char *end = NULL;
    long natoms = strtol(*line, &end, 10);
    if (end == *line || natoms < 1 || fwrite(*line, 1, (size_t)n, out) != (size_t)n)
        return -1;
    for (long k = 0; k < natoms + 1; k++)
        if (copy_line(in, out, line, cap))
            return -1;
    return 0;
}

/* Removes a rank's part folder: its three files and its (now emptied) cif/ folder. Leftover
 * CIFs of an earlier killed run are removed too. */
static void remove_part(const char *part)
{
    char path[4400];
    const char *files[] = {"summary.csv", "generated.extxyz", "generated.h5"};
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s/%s", part, files[k]);
        remove(path);
    }
    snprintf(path, sizeof path, "%s/cif", part);
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        char f[4700];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(f, sizeof f, "%s/%s", path, e->d_name);
                remove(f);
            }
        closedir(d);
    }
    rmdir(path);
    rmdir(part);
}

static void part_dir(const char *outdir, int rank, int size, char *buf, size_t n)
{
    if (size > 1)
        snprintf(buf, n, "%s/.rank%d", outdir, rank);
    else
        snprintf(buf, n, "%s", outdir);
}

/* Rank 0: merges the parts of `size` ranks (batch b of `batch` crystals came from rank
 * b mod size) into DIR's outputs, in crystal order, and removes the parts. */
static int merge_parts(const char *outdir, long n, long batch, int size, xg_error *err)
{
    int rc = XG_EIO;
    char path[4400], part[4200];
    FILE **csv = calloc((size_t)size, sizeof *csv), **xyz = calloc((size_t)size, sizeof *xyz);
    xg_dataset **pds = calloc((size_t)size, sizeof *pds);
    int64_t *cur = calloc((size_t)size, sizeof *cur);
    FILE *ocsv = NULL, *oxyz = NULL;
    xg_dataset *ds = xg_dataset_alloc();
    char *line = NULL;
    size_t cap = 0;
    if (!csv || !xyz || !pds || !cur || !ds) {
        rc = xg_error_set(err, XG_ENOMEM, "merging the ranks' parts: out of memory");
        goto out;
    }
    for (int r = 0; r < size; r++) {
        part_dir(outdir, r, size, part, sizeof part);
        snprintf(path, sizeof path, "%s/summary.csv", part);
        csv[r] = fopen(path, "r");
        snprintf(path, sizeof path, "%s/generated.extxyz", part);
        xyz[r] = fopen(path, "r");
        if (!csv[r] || !xyz[r]) {
            rc = xg_error_set(err, XG_EIO, "%s: the part of rank %d is missing (%s); the output "
                              "folder must be on a filesystem every rank sees", part, r,
                              strerror(errno));
            goto out;
        }
        if (getline(&line, &cap, csv[r]) < 0) { /* its header */
            rc = xg_error_set(err, XG_EIO, "%s/summary.csv: empty", part);
            goto out;
        }
        snprintf(path, sizeof path, "%s/generated.h5", part);
        if (access(path, F_OK) == 0) { /* a rank without a batch wrote none */
            rc = xg_dataset_read_h5(path, &pds[r], err);
            if (rc)
                goto out;
        }
    }
    snprintf(path, sizeof path, "%s/summary.csv", outdir);
    ocsv = fopen(path, "w");
    snprintf(path, sizeof path, "%s/generated.extxyz", outdir);
    oxyz = fopen(path, "w");
    if (!ocsv || !oxyz) {
        rc = xg_error_set(err, XG_EIO, "cannot create outputs in %s: %s", outdir, strerror(errno));
        goto out;
    }
    write_summary_header(ocsv);
    for (long b0 = 0, bi = 0; b0 < n; b0 += batch, bi++) {
        int r = (int)(bi % size);
        long nb = n - b0 < batch ? n - b0 : batch;
        part_dir(outdir, r, size, part, sizeof part);
        for (long k = b0; k < b0 + nb; k++) {
            char id[XG_ID_LEN];
            snprintf(id, sizeof id, "gen-%07ld", k);
            if (copy_line(csv[r], ocsv, &line, &cap) || strncmp(line, id, strlen(id)) != 0 ||
                line[strlen(id)] != ',') {
                rc = xg_error_set(err, XG_EIO, "%s/summary.csv: expected the row of %s", part, id);
                goto out;
            }
            if (copy_frame(xyz[r], oxyz, &line, &cap)) {
                rc = xg_error_set(err, XG_EIO, "%s/generated.extxyz: frame of %s missing or "
                                  "malformed", part, id);
                goto out;
            }
            xg_structure *s = pds[r] && cur[r] < pds[r]->n ? xg_dataset_get(pds[r], cur[r], err)
                                                             : NULL;
            if (!s || strcmp(s->id, id) != 0) {
                xg_structure_free(s);
                rc = xg_error_set(err, XG_EIO, "%s/generated.h5: expected %s as structure %lld",
                                  part, id, (long long)cur[r]);
                goto out;
            }
            cur[r]++;
            rc = xg_dataset_append(ds, s, NULL, err);
            xg_structure_free(s);
            if (rc)
                goto out;
            char from[4600], to[4600];
            snprintf(from, sizeof from, "%s/cif/%s.cif", part, id);
            snprintf(to, sizeof to, "%s/cif/%s.cif", outdir, id);
            if (rename(from, to) != 0) {
                rc = xg_error_set(err, XG_EIO, "%s: cannot move to %s: %s", from, to,
                                  strerror(errno));
                goto out;
            }
        }
    }
    if (fclose(ocsv) != 0 || fclose(oxyz) != 0) {
        ocsv = oxyz = NULL;
        rc = xg_error_set(err, XG_EIO, "writing the merged outputs in %s failed", outdir);
        goto out;
    }
    ocsv = oxyz = NULL;
    for (int k = 0; pds[0] && k < pds[0]->nattrs; k++) /* the run's provenance */
        if ((rc = xg_dataset_set_attr(ds, pds[0]->attr_names[k], pds[0]->attr_values[k], err)))
            goto out;
    snprintf(path, sizeof path, "%s/generated.h5", outdir);
    rc = xg_dataset_write_h5(ds, path, err);
    if (rc)
        goto out;
    for (int r = 0; r < size; r++) {
        fclose(csv[r]);
        fclose(xyz[r]);
        csv[r] = xyz[r] = NULL;
        part_dir(outdir, r, size, part, sizeof part);
        remove_part(part);
    }
    rc = XG_OK;
out:
    for (int r = 0; r < size; r++) {
        if (csv && csv[r])
            fclose(csv[r]);
        if (xyz && xyz[r])
            fclose(xyz[r]);
        if (pds)
            xg_dataset_free(pds[r]);
    }
    if (ocsv)
        fclose(ocsv);
    if (oxyz)
        fclose(oxyz);
    free(line);
    free(csv);
    free(xyz);
    free(pds);
    free(cur);
    xg_dataset_free(ds);
    return rc;
}

/* ---------------------------------------------------------------- the command ---- */

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
    /* Joined after the command line was checked: usage errors exit alike on every rank. */
    xg_mpi mpi;
    if (xg_mpi_init(&mpi, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_FAIL;
    }
    if (mpi.rank != 0)
        a.quiet = 1; /* rank 0 speaks for the job */
    char model_path[4096];
    if (a.model) {
        snprintf(model_path, sizeof model_path, "%s", a.model);
    } else if (xg_default_model_path("xtalgen-mp20.h5", model_path, sizeof model_path, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return xg_mpi_finalize(&mpi, XG_EXIT_FAIL);
    }
    xg_model *m = NULL;
    if (xg_model_load(model_path, XG_MODEL_LOAD_EMA, &m, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return xg_mpi_finalize(&mpi, XG_EXIT_FAIL);
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

    /* Provenance: recorded in every CIF, in generated.h5 and in summary.json. */
    xg_provenance prov;
    char elements[1024];
    if (xg_run_provenance(model_path, a.ncond, a.cond_arg, a.guidance, a.seed, a.steps, &prov,
                          &err) ||
        xg_run_elements_list(allowed, elements, sizeof elements)) {
        xg_cli_errorf(CMD, "recording the run's provenance: %s", err.msg);
        goto done;
    }

    /* This rank's outputs: DIR itself for one process, DIR/.rank<r> for several. */
    char part[4200], path[4400];
    part_dir(a.outdir, mpi.rank, mpi.size, part, sizeof part);
    if (xg_mkdir_p(a.outdir, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    snprintf(path, sizeof path, "%s/cif", a.outdir);
    if (xg_mkdir_p(path, &err) || xg_mkdir_p(part, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    snprintf(path, sizeof path, "%s/cif", part);
    if (xg_mkdir_p(path, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    snprintf(path, sizeof path, "%s/generated.extxyz", part);
    xyz = fopen(path, "w");
    snprintf(path, sizeof path, "%s/summary.csv", part);
    csv = fopen(path, "w");
    if (!xyz || !csv) {
        xg_cli_errorf(CMD, "cannot create outputs in %s: %s", part, strerror(errno));
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
    if (xg_provenance_to_dataset(&prov, ds, &err) ||
        xg_dataset_set_attr(ds, "elements", elements, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    if (mpi.rank == 0) {
        xg_run_settings rs = {model_path, a.n, a.batch, a.steps, a.corrector, a.seed, a.threads,
                              a.natoms, a.guidance, a.symprec, a.ncond, a.cond_arg, a.elements,
                              a.exclude, allowed, mpi.size};
        snprintf(path, sizeof path, "%s/summary.json", a.outdir);
        if (xg_run_write_summary_json(path, &prov, &rs, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            goto done;
        }
    }

    xg_sampler_opts so;
    xg_sampler_opts_default(&so);
    so.steps = (int)a.steps;
    so.corrector_steps = (int)a.corrector;
    so.guidance = a.guidance;
    so.allowed = allowed;
    so.cond = cond;
    so.cond_dim = m->cfg.cond_dim;

    /* Batch b is rank (b mod R)'s: count this rank's crystals for its progress bar. */
    long nbatches = (a.n + a.batch - 1) / a.batch, mine = 0;
    for (long bi = mpi.rank; bi < nbatches; bi += mpi.size)
        mine += (bi + 1) * a.batch <= a.n ? a.batch : a.n - bi * a.batch;
    if (mpi.size > 1 && !a.quiet) {
        fprintf(stderr, "xtalgen generate: %d ranks share %ld batches of up to %ld crystals\n",
                mpi.size, nbatches, a.batch);
        if (nbatches < mpi.size)
            fprintf(stderr, "xtalgen generate: note: only %ld of the %d ranks get a batch; use "
                            "--batch %ld or less to keep every rank busy\n",
                    nbatches, mpi.size, (a.n + mpi.size - 1) / mpi.size);
    }
    xg_progress bar;
    xg_progress_start(&bar, "generate", mine, a.quiet);
    /* Numbers of atoms come from their own stream, so changing --num-atoms on one run does
     * not reshuffle the other random choices. Every rank replays the whole sequence. */
    xg_rng nrng;
    xg_rng_seed(&nrng, (uint64_t)a.seed, UINT64_C(1) << 62);
    snprintf(path, sizeof path, "%s/generated.h5", part);
    long done_mine = 0;
    for (long done = 0, bi = 0; done < a.n; bi++) {
        int nb = (int)((a.n - done) < a.batch ? (a.n - done) : a.batch);
        for (int k = 0; k < nb; k++)
            natoms[k] = a.natoms > 0 ? (int)a.natoms : xg_model_sample_natoms(&m->stats, &nrng);
        if (bi % mpi.size != mpi.rank) {
            done += nb;
            continue;
        }
        step_ctx sc = {&bar, done_mine, nb};
        if (xg_sampler_run(&m->noise, xg_sampler_eval_denoiser, m->net, &so, nb, natoms,
                           (uint64_t)a.seed, (uint64_t)done, batch, on_step, &sc, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            goto done;
        }
        for (int k = 0; k < nb; k++) {
            xg_structure *s = batch[k];
            snprintf(s->id, sizeof s->id, "gen-%07ld", done + k);
            /* Every output holds the DFT-ready cell: right-handed, a along x, b in xy, species
             * grouped (same crystal; the sampler's lattice is a symmetric matrix). */
            xg_error oerr = {0};
            if (xg_structure_make_standard(s, &oerr) && !a.quiet)
                xg_cli_errorf(CMD, "warning: %s kept as sampled: %s", s->id, oerr.msg);
            char formula[256] = "?", sym[32] = "";
            int sg = 0;
            xg_structure_reduced_formula(s, formula, sizeof formula);
            xg_error serr = {0};
            if (xg_symmetry_spacegroup(s, a.symprec, &sg, sym, &serr))
                sg = 0; /* an unphysical sample can defeat spglib; screen will flag it */
            char cif[4600], note[2048];
            snprintf(cif, sizeof cif, "%s/cif/%s.cif", part, s->id);
            prov.index = done + k;
            xg_provenance_format(&prov, 0, note, sizeof note);
            if (xg_cif_write_annotated_file(cif, s, note, &err) || xg_extxyz_write(xyz, s, &err) ||
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
        done_mine += nb;
        xg_progress_update(&bar, done_mine);
    }
    xg_progress_finish(&bar);
    if (fclose(xyz) != 0 || fclose(csv) != 0) {
        xyz = csv = NULL;
        xg_cli_errorf(CMD, "writing outputs in %s failed", part);
        goto done;
    }
    xyz = csv = NULL;
    if (mpi.size > 1) {
        /* Every part is complete once all ranks get here (a failed rank aborts the job). */
        if (xg_mpi_barrier(&mpi, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            goto done;
        }
        if (mpi.rank == 0 && merge_parts(a.outdir, a.n, a.batch, mpi.size, &err)) {
            xg_cli_errorf(CMD, "merging the ranks' outputs: %s", err.msg);
            goto done;
        }
    }
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
    return xg_mpi_finalize(&mpi, rc);
}

const xg_command xg_command_generate = {"generate", run, "sample new crystals from a trained model",
                                        usage};
