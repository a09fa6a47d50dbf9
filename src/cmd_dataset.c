/* cmd_dataset.c: `xtalgen dataset import|info`: turns the public crystal tables (CDVAE/MatterGen
 * CSVs, folders of CIFs) into xtalgen's versioned HDF5 dataset, and summarises such a file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_csv.h"
#include "crystal/xg_dataset.h"
#include "crystal/xg_elements.h"
#include "crystal/xg_lattice.h"
#include "crystal/xg_input.h"
#include "properties/xg_hhi.h"
#include "src/cli.h"
#include "src/commands.h"

#define CMD "dataset"
#define MAX_PROPS_FILES 32

static const char usage[] =
    "usage: xtalgen dataset import [--props FILE.csv]... [--derive hhi] [--compact] [--quiet]\n"
    "                              INPUT... -o OUT.h5\n"
    "       xtalgen dataset info FILE.h5\n"
    "\n"
    "";

typedef struct {
    const char *props[MAX_PROPS_FILES];
    int nprops, derive, quiet, compact;
    const char *output;
} import_args;

static const xg_opt IMPORT_OPTS[] = {
    XG_OPT_T("import  reads crystals from INPUT (a CDVAE/MatterGen CSV such as mp_20/train.csv, a folder\n"
             "        of CIF/POSCAR files, or any input `xtalgen symmetry` accepts) and writes them as an\n"
             "        xtalgen HDF5 dataset (layout version 1, see README). Every numeric CSV column\n"
             "        (formation_energy_per_atom, band_gap, e_above_hull, spacegroup.number, ...) becomes\n"
             "        a property; blank cells are missing (NaN), not zero. Several INPUTs are\n"
             "        concatenated in order.\n"),
    XG_OPT_L("--props", NULL, import_args, props, nprops, "FILE.csv", MAX_PROPS_FILES,
             "merge the numeric columns of a table keyed by material_id (may be repeated); "
             "structures absent from it keep NaN"),
    XG_OPT_E("--derive", NULL, import_args, derive, "none|hhi", "none",
             "hhi: add the property hhi_production: the weight-fraction average of the elements' "
             "production HHI (Gaultois et al. 2013, 0..10000), the supply-risk score the joint "
             "magnet model is conditioned on; NaN when an element has no HHI data (H, most noble "
             "gases, Tc, actinides...)"),
    XG_OPT_OUTPUT(import_args, output, "OUT.h5",
                  "the dataset to write (atomically: a temporary name, then rename)"),
    XG_OPT_QUIET(import_args, quiet),
    XG_OPT_F("--compact", NULL, import_args, compact,
             "ids and structures only (no properties), compressed, coordinates as float32: how "
             "the shipped novelty reference data/reference/mp20.h5 is built (see README)"),
    XG_OPT_TABLE_END};

typedef struct {
    int quiet;
} info_args;

static const xg_opt INFO_OPTS[] = {
    XG_OPT_T("\n"
             "info    prints the number of structures and atoms, how many lattices are right-handed, the\n"
             "        file's string attributes (a generate run's provenance), the atoms-per-structure\n"
             "        histogram, the 20 most common elements and, per property, how many structures have\n"
             "        a value.\n"),
    XG_OPT_QUIET(info_args, quiet),
    XG_OPT_TABLE_END};

typedef struct {
    xg_progress bar;
} import_progress;

static void on_progress(void *ctx, long long done, long long total)
{
    import_progress *p = ctx;
    if (total > 0 && p->bar.total != (long)(total / 1024))
        p->bar.total = (long)(total / 1024);
    xg_progress_update(&p->bar, (long)(done / 1024));
}

/* Creates the folder that will hold path, if it has one. */
static int make_parent(const char *path, xg_error *err)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return XG_OK;
    char dir[4096];
    size_t n = (size_t)(slash - path);
    if (n >= sizeof dir)
        return xg_error_set(err, XG_EINVAL, "%s: path too long", path);
    memcpy(dir, path, n);
    dir[n] = '\0';
    return xg_mkdir_p(dir, err);
}

/* The hhi_production column: supply risk of each crystal's composition (properties/xg_hhi.h).
 * Missing HHI data stays missing (NaN), so a conditioned model never learns it as a value. */
static int add_hhi(xg_dataset *ds, int quiet, xg_error *err)
{
    int col = xg_dataset_add_property(ds, "hhi_production", err);
    if (col < 0)
        return err ? err->code : XG_EINVAL;
    int64_t have = 0;
    for (int64_t i = 0; i < ds->n; i++) {
        xg_structure *s = xg_dataset_get(ds, i, err);
        if (!s)
            return err ? err->code : XG_ENOMEM;
        double prod = NAN, res = NAN;
        int missing = 0;
        int rc = xg_hhi_structure(s, &prod, &res, &missing, err);
        xg_structure_free(s);
        if (rc)
            return rc;
        ds->props[i * ds->nprops + col] = prod;
        have += !isnan(prod);
    }
    if (!quiet)
        fprintf(stderr, "xtalgen dataset: hhi_production for %lld of %lld structures\n",
                (long long)have, (long long)ds->n);
    return XG_OK;
}

/* Appends every structure of src to dst, with its properties (matched by name). */
static int append_all(xg_dataset *dst, const xg_dataset *src, xg_error *err)
{
    int map[256];
    if (src->nprops > 256)
        return xg_error_set(err, XG_EINVAL, "more than 256 properties");
    for (int k = 0; k < src->nprops; k++)
        if ((map[k] = xg_dataset_add_property(dst, src->prop_names[k], err)) < 0)
            return err->code ? err->code : XG_EINVAL;
    double *row = malloc((size_t)(dst->nprops ? dst->nprops : 1) * sizeof *row);
    if (!row)
        return xg_error_set(err, XG_ENOMEM, "out of memory");
    int rc = XG_OK;
    for (int64_t i = 0; i < src->n && !rc; i++) {
        for (int k = 0; k < dst->nprops; k++)
            row[k] = NAN;
        for (int k = 0; k < src->nprops; k++)
            row[map[k]] = src->props[i * src->nprops + k];
        xg_structure *st = xg_dataset_get(src, i, err);
        rc = st ? xg_dataset_append(dst, st, row, err) : (err->code ? err->code : XG_ENOMEM);
        xg_structure_free(st);
    }
    free(row);
    return rc;
}

static int run_import(int argc, char **argv)
{
    import_args A;
    xg_opts_args args;
    if (xg_opts_parse("dataset import", IMPORT_OPTS, argc, argv, &A, sizeof A, &args, MAX_PROPS_FILES))
        return XG_EXIT_USAGE;
    const char *const *props = A.props, *const *inputs = args.pos, *output = A.output;
    int nprops = A.nprops, quiet = A.quiet, compact = A.compact, ninputs = args.npos;
    int derive_hhi = A.derive == 1;
    if (!ninputs || !output) {
        xg_cli_errorf(CMD, "import needs INPUT and -o OUT.h5 (see xtalgen help dataset)");
        return XG_EXIT_USAGE;
    }
    if (xg_cli_check_output(CMD, "-o", output, inputs, ninputs) ||
        xg_cli_check_output(CMD, "-o", output, props, nprops))
        return XG_EXIT_USAGE;
    double t0 = xg_now();
    xg_error err = {0};
    import_progress pr;
    xg_progress_start(&pr.bar, "import (kB)", 0, quiet);
    xg_dataset *ds = NULL;
    for (int k = 0; k < ninputs; k++) {
        xg_dataset *one = NULL;
        int rc = xg_input_read_progress(inputs[k], on_progress, &pr, &one, &err);
        if (!rc && ds) {
            rc = append_all(ds, one, &err);
            if (rc)
                xg_error_prefix(&err, rc, "%s", inputs[k]);
            xg_dataset_free(one);
        } else if (!rc) {
            ds = one;
        }
        if (rc) {
            if (!quiet && pr.bar.tty)
                fputc('\n', stderr);
            xg_cli_errorf(CMD, "%s", err.msg);
            xg_dataset_free(ds);
            return XG_EXIT_FAIL;
        }
    }
    xg_progress_finish(&pr.bar);
    double t_read = xg_now() - t0;
    for (int k = 0; k < nprops; k++) {
        long matched = 0;
        if (xg_csv_merge_properties(ds, props[k], &matched, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            xg_dataset_free(ds);
            return XG_EXIT_FAIL;
        }
        if (!quiet)
            fprintf(stderr, "xtalgen dataset: %s: %ld rows matched %lld structures\n", props[k],
                    matched, (long long)ds->n);
    }
    if (derive_hhi && add_hhi(ds, quiet, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        xg_dataset_free(ds);
        return XG_EXIT_FAIL;
    }
    if (make_parent(output, &err) || xg_dataset_write_h5_compact(ds, output, compact, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        xg_dataset_free(ds);
        return XG_EXIT_FAIL;
    }
    if (!quiet) {
        fprintf(stderr,
                "xtalgen dataset: wrote %s: %lld structures, %lld atoms, %d properties "
                "(read %.1f s, total %.1f s)\n",
                output, (long long)ds->n, (long long)ds->m, compact ? 0 : ds->nprops, t_read,
                xg_now() - t0);
    }
    xg_dataset_free(ds);
    return XG_EXIT_OK;
}

typedef struct {
    int z;
    long atoms, structures;
} elem_count;

static int by_atoms(const void *a, const void *b)
{
    const elem_count *x = a, *y = b;
    if (x->atoms != y->atoms)
        return x->atoms < y->atoms ? 1 : -1;
    return x->z - y->z;
}

static int run_info(int argc, char **argv)
{
    info_args A;
    xg_opts_args args;
    if (xg_opts_parse("dataset info", INFO_OPTS, argc, argv, &A, sizeof A, &args, 1))
        return XG_EXIT_USAGE;
    const char *path = args.npos ? args.pos[0] : NULL;
    if (!path) {
        xg_cli_errorf(CMD, "info needs FILE.h5 (see xtalgen help dataset)");
        return XG_EXIT_USAGE;
    }
    xg_error err = {0};
    xg_dataset *ds = NULL;
    if (xg_dataset_read_h5(path, &ds, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_FAIL;
    }
    printf("file: %s\n", path);
    printf("structures: %lld\natoms: %lld\n", (long long)ds->n, (long long)ds->m);
    /* handedness: VASP refuses a cell with a negative triple product */
    long right = 0;
    for (int64_t i = 0; i < ds->n; i++)
        right += xg_lattice_volume_signed((const double(*)[3])(ds->lattices + 9 * i)) > 0;
    printf("right-handed lattices: %ld of %lld\n", right, (long long)ds->n);
    for (int k = 0; k < ds->nattrs; k++)
        printf("attribute %s: %s\n", ds->attr_names[k], ds->attr_values[k]);
    /* atoms per structure */
    int maxn = 0, minn = ds->n ? 1 << 30 : 0;
    for (int64_t i = 0; i < ds->n; i++) {
        int na = xg_dataset_natoms(ds, i);
        maxn = na > maxn ? na : maxn;
        minn = na < minn ? na : minn;
    }
    long *hist = calloc((size_t)maxn + 1, sizeof *hist);
    elem_count ec[XG_MAX_Z + 1];
    int *seen = calloc(XG_MAX_Z + 1, sizeof *seen);
    if (!hist || !seen) {
        free(hist);
        free(seen);
        xg_dataset_free(ds);
        xg_cli_errorf(CMD, "out of memory");
        return XG_EXIT_FAIL;
    }
    for (int z = 0; z <= XG_MAX_Z; z++)
        ec[z] = (elem_count){z, 0, 0};
    for (int64_t i = 0; i < ds->n; i++) {
        hist[xg_dataset_natoms(ds, i)]++;
        for (int64_t a = ds->offsets[i]; a < ds->offsets[i + 1]; a++) {
            int z = ds->types[a];
            ec[z].atoms++;
            if (seen[z] != (int)i + 1) { /* count each structure once per element */
                seen[z] = (int)i + 1;
                ec[z].structures++;
            }
        }
    }
    printf("atoms per structure: min %d, mean %.2f, max %d\n", minn,
           ds->n ? (double)ds->m / (double)ds->n : 0.0, maxn);
    long peak = 1;
    for (int k = 0; k <= maxn; k++)
        peak = hist[k] > peak ? hist[k] : peak;
    printf("histogram (atoms: structures)\n");
    for (int k = 0; k <= maxn; k++) {
        if (!hist[k])
            continue;
        int w = (int)(40.0 * (double)hist[k] / (double)peak + 0.5);
        printf("  %4d: %7ld ", k, hist[k]);
        for (int j = 0; j < w; j++)
            putchar('#');
        putchar('\n');
    }
    int distinct = 0;
    for (int z = 1; z <= XG_MAX_Z; z++)
        distinct += ec[z].atoms > 0;
    qsort(ec + 1, XG_MAX_Z, sizeof ec[0], by_atoms);
    printf("elements: %d distinct; top 20 by atoms (atoms, structures containing)\n", distinct);
    for (int k = 1; k <= 20 && k <= XG_MAX_Z && ec[k].atoms > 0; k++) {
        const xg_element *el = xg_element_get(ec[k].z);
        printf("  %-3s %8ld atoms %7ld structures\n", el ? el->symbol : "?", ec[k].atoms,
               ec[k].structures);
    }
    printf("properties: %d (values present / structures)\n", ds->nprops);
    for (int p = 0; p < ds->nprops; p++) {
        long have = 0;
        for (int64_t i = 0; i < ds->n; i++)
            have += !isnan(ds->props[i * ds->nprops + p]);
        printf("  %-44s %8ld / %lld (%.1f%%)\n", ds->prop_names[p], have, (long long)ds->n,
               ds->n ? 100.0 * (double)have / (double)ds->n : 0.0);
    }
    free(hist);
    free(seen);
    xg_dataset_free(ds);
    return XG_EXIT_OK;
}

static int run(int argc, char **argv)
{
    if (argc < 2) {
        xg_cli_errorf(CMD, "needs a subcommand: import or info\n%s", usage);
        return XG_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "import"))
        return run_import(argc - 1, argv + 1);
    if (!strcmp(argv[1], "info"))
        return run_info(argc - 1, argv + 1);
    xg_cli_errorf(CMD, "unknown subcommand '%s' (import or info)", argv[1]);
    return XG_EXIT_USAGE;
}

const xg_command xg_command_dataset = {"dataset", run,
                                       "import crystal tables into an HDF5 dataset; summarise one",
                                       usage};
static const xg_opt *const MORE[] = {INFO_OPTS, NULL};
const xg_command_options xg_options_dataset = {IMPORT_OPTS, NULL, MORE};
