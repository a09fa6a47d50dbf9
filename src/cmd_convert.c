/* cmd_convert.c: `xtalgen convert`: crystals from any input to CIF, POSCAR or extxyz, optionally
 * symmetrized with spglib, the way they leave for DFT codes and for pymatgen/ASE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "crystal/xg_cif.h"
#include "crystal/xg_extxyz.h"
#include "crystal/xg_input.h"
#include "crystal/xg_poscar.h"
#include "crystal/xg_provenance.h"
#include "crystal/xg_symmetry.h"
#include "src/cli.h"
#include "src/commands.h"
#include "src/screen_select.h"

#define CMD "convert"

static const char usage[] =
    "usage: xtalgen convert INPUT -o OUTPUT [--format cif|poscar|extxyz] [--symmetrize]\n"
    "                       [--cell as-is|primitive|conventional] [--symprec S]\n"
    "                       [--only FLAGS [--screen SCREEN.csv]] [--quiet]\n"
    "\n"
    "Writes the crystals of INPUT (CIF, POSCAR, extxyz, an xtalgen .h5 dataset, a CDVAE .csv or\n"
    "a folder) as CIF, POSCAR (VASP 5) or extended XYZ. The format comes from --format, else from\n"
    "OUTPUT: .cif, .vasp/.poscar or a file named POSCAR*/CONTCAR*, .extxyz/.xyz.\n"
    "One crystal: OUTPUT is a file. Several: OUTPUT is a folder with one file per crystal named\n"
    "by its id (<id>.cif, <id>.vasp, <id>.extxyz), or, for extxyz, a single .extxyz/.xyz file\n"
    "holding every frame. Files are written atomically (temp file, then rename). Every cell is\n"
    "written right-handed with a along x and b in the xy plane, POSCAR species grouped in the\n"
    "formula's order; a generate run's provenance (model, hash, seed, steps, index) goes into\n"
    "CIF comments and POSCAR titles.\n"
    "\n"
    "";

typedef struct {
    const char *output, *only, *screen;
    int format, cell, symmetrize, quiet;
    double symprec;
} convert_args;

/* --format's choices; "vasp" is another name of poscar. */
enum { CH_CIF, CH_POSCAR, CH_VASP, CH_EXTXYZ, CH_NONE };

static const xg_opt OPTS[] = {
    XG_OPT_OUTPUT(convert_args, output, "OUTPUT",
                  "a file (one crystal; several in one .extxyz/.xyz) or a folder"),
    XG_OPT_E("--format", NULL, convert_args, format, "cif|poscar|vasp|extxyz", NULL,
             "the file format (default: from OUTPUT's name; vasp = poscar)"),
    XG_OPT_E("--cell", NULL, convert_args, cell, "as-is|primitive|conventional", "as-is",
             "spglib's standardized cells"),
    XG_OPT_F("--symmetrize", NULL, convert_args, symmetrize,
             "every format gets spglib's symmetrized geometry: a CIF with the space\n"
             "group, its operations and the asymmetric unit (standard conventional\n"
             "setting); POSCAR/extxyz the idealized cell of --cell (as-is: the refined\n"
             "standard conventional cell)"),
    XG_OPT_D("--symprec", NULL, convert_args, symprec, "S", 1e-8, 10.0, "0.1",
             "spglib tolerance in Angstrom for --cell and --symmetrize"),
    XG_OPT_S("--only", NULL, convert_args, only, "FLAGS", NULL,
             "keep only crystals whose screen.csv row has every flag set, a comma\n"
             "list of: " XG_SELECT_FLAGS_HELP),
    XG_OPT_S("--screen", NULL, convert_args, screen, "FILE", NULL,
             "the screen.csv for --only (default: INPUT/screen/screen.csv, then\n"
             "INPUT/screen_out/screen.csv, then ./screen_out/screen.csv)"),
    XG_OPT_QUIET(convert_args, quiet),
    XG_OPT_TABLE_END};

typedef enum { FMT_NONE, FMT_CIF, FMT_POSCAR, FMT_EXTXYZ } out_format;

static const char *format_ext[] = {"", "cif", "vasp", "extxyz"};

static out_format format_from_name(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    const char *dot = strrchr(b, '.');
    const char *ext = (dot && dot != b) ? dot + 1 : "";
    if (!strcasecmp(ext, "cif"))
        return FMT_CIF;
    if (!strcasecmp(ext, "vasp") || !strcasecmp(ext, "poscar") || !strncmp(b, "POSCAR", 6) ||
        !strncmp(b, "CONTCAR", 7))
        return FMT_POSCAR;
    if (!strcasecmp(ext, "extxyz") || !strcasecmp(ext, "xyz"))
        return FMT_EXTXYZ;
    return FMT_NONE;
}

/* How every structure is written. */
typedef struct {
    out_format fmt;
    int symmetrize;
    int cell;
    double symprec;
    int have_prov;
    xg_provenance prov;
} write_opts;

/* Writes one structure in the format to an open stream, in the cell and geometry asked for,
 * with the run's provenance when the input has one. */
static int write_one(FILE *f, const xg_structure *s, const write_opts *o, xg_error *err)
{
    char block[4096] = "", line[2048] = "";
    if (o->have_prov) {
        xg_provenance p = o->prov;
        p.index = xg_provenance_index_of_id(s->id);
        xg_provenance_format(&p, 0, block, sizeof block);
        xg_provenance_format(&p, 1, line, sizeof line);
    }
    if (o->fmt == FMT_CIF && o->symmetrize)
        return xg_symmetry_write_cif_annotated(f, s, o->symprec, block, err);
    xg_structure *w = NULL;
    int rc = xg_symmetry_dft_cell(s, (xg_cell_choice)o->cell, o->symmetrize, o->symprec, &w, err);
    if (rc)
        return rc;
    if (o->fmt == FMT_CIF)
        rc = xg_cif_write_annotated(f, w, block, err);
    else if (o->fmt == FMT_POSCAR)
        rc = xg_poscar_write_titled(f, w, line, err);
    else
        rc = xg_extxyz_write(f, w, err);
    xg_structure_free(w);
    return rc;
}

/* A disordered CIF (partial occupancies, mixed sites): only CIF carries occupancies, so it is
 * written back as one P1 CIF with them; everything else says why it cannot. */
static int convert_disordered(const char *input, const char *output, out_format fmt,
                              int symmetrize, xg_error *err)
{
    if (fmt != FMT_CIF || symmetrize) {
        xg_cli_errorf(CMD, "%s\n  (a disordered crystal can only be written as a P1 CIF: POSCAR and "
                      "extxyz have no occupancies, and --symmetrize needs an ordered crystal)",
                      err->msg);
        return XG_EXIT_FAIL;
    }
    xg_structure **list = NULL;
    int n = 0;
    if (xg_cif_read_file_flags(input, XG_CIF_DISORDER, &list, &n, err)) {
        xg_cli_errorf(CMD, "%s", err->msg);
        return XG_EXIT_FAIL;
    }
    struct stat st;
    if (stat(output, &st) == 0 && S_ISDIR(st.st_mode)) {
        xg_cli_errorf(CMD, "%s: for a disordered CIF give an output file name, not a folder",
                      output);
        xg_cif_structures_free(list, n);
        return XG_EXIT_USAGE;
    }
    xg_atomic_file af;
    int rc = xg_atomic_open(&af, output, err);
    for (int i = 0; rc == XG_OK && i < n; i++)
        rc = xg_cif_write(af.f, list[i], err);
    if (rc == XG_OK)
        rc = xg_atomic_commit(&af, err);
    else
        xg_atomic_abort(&af);
    xg_cif_structures_free(list, n);
    if (rc) {
        xg_cli_errorf(CMD, "%s", err->msg);
        return XG_EXIT_FAIL;
    }
    return XG_EXIT_OK;
}

/* A file name from an id: path separators and shell-hostile characters become '_'. */
static void safe_name(const char *id, char *out, size_t n)
{
    size_t k = 0;
    for (const char *p = id; *p && k + 1 < n; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.' || c == '+' || c == '=';
        out[k++] = ok ? c : '_';
    }
    if (k == 0 || out[0] == '.')
        k = (size_t)snprintf(out, n, "structure");
    out[k] = '\0';
}

/* qsort has no context argument; the names being sorted are passed through this pointer,
 * which is set right before the one qsort call (the command is single-threaded here). */
static char (*sort_names)[XG_ID_LEN];

static int cmp_order(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    int c = strcmp(sort_names[x], sort_names[y]);
    return c ? c : (x < y ? -1 : x > y);
}

static int run(int argc, char **argv)
{
    convert_args A;
    memset(&A, 0, sizeof A);
    A.format = CH_NONE;
    xg_opts_args args;
    if (xg_opts_parse(CMD, OPTS, argc, argv, &A, &args, 1))
        return XG_EXIT_USAGE;
    const char *input = args.npos ? args.pos[0] : NULL, *output = A.output;
    const char *only = A.only, *screen = A.screen;
    int symmetrize = A.symmetrize, quiet = A.quiet, cell = A.cell;
    double symprec = A.symprec;
    if (!input || !output) {
        xg_cli_errorf(CMD, "needs INPUT and -o OUTPUT (see xtalgen help convert)");
        return XG_EXIT_USAGE;
    }
    out_format fmt = A.format == CH_CIF                          ? FMT_CIF
                     : A.format == CH_POSCAR || A.format == CH_VASP ? FMT_POSCAR
                     : A.format == CH_EXTXYZ                     ? FMT_EXTXYZ
                                                                 : FMT_NONE;
    out_format by_name = format_from_name(output);
    if (fmt == FMT_NONE)
        fmt = by_name;

    xg_error err = {0};
    char scr[4200];
    if (only && (xg_select_check_flags(only, &err) ||
                 xg_select_find_screen(input, screen, scr, sizeof scr, &err))) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_USAGE;
    }
    xg_dataset *ds = NULL;
    if (xg_input_read(input, &ds, &err)) {
        xg_input_format ifmt;
        if (err.code == XG_EUNSUPPORTED && xg_input_detect(input, &ifmt, NULL) == XG_OK &&
            ifmt == XG_INPUT_CIF)
            return convert_disordered(input, output, fmt, symmetrize, &err);
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_FAIL;
    }
    if (only) {
        /* the selection becomes the dataset: everything below sees only the kept crystals */
        unsigned char *keep = xg_select_by_flags(ds, scr, only, &err);
        xg_dataset *sel = keep ? xg_dataset_alloc() : NULL;
        int rc = keep && sel ? XG_OK : XG_ENOMEM;
        for (int64_t i = 0; rc == XG_OK && i < ds->n; i++) {
            if (!keep[i])
                continue;
            xg_structure *s = xg_dataset_get(ds, i, &err);
            rc = s ? xg_dataset_append(sel, s, NULL, &err) : err.code;
            xg_structure_free(s);
        }
        for (int k = 0; rc == XG_OK && k < ds->nattrs; k++)
            rc = xg_dataset_set_attr(sel, ds->attr_names[k], ds->attr_values[k], &err);
        free(keep);
        xg_dataset_free(ds);
        ds = sel;
        if (rc || !sel) {
            xg_cli_errorf(CMD, "%s", err.msg[0] ? err.msg : "out of memory");
            xg_dataset_free(sel);
            return XG_EXIT_FAIL;
        }
        if (ds->n == 0) {
            xg_cli_errorf(CMD, "no crystal of %s has every flag of --only %s in %s", input, only,
                          scr);
            xg_dataset_free(ds);
            return XG_EXIT_FAIL;
        }
    }
    write_opts wo;
    memset(&wo, 0, sizeof wo);
    wo.symmetrize = symmetrize;
    wo.cell = cell;
    wo.symprec = symprec;
    wo.have_prov = xg_provenance_from_dataset(ds, &wo.prov);
    struct stat st;
    int out_is_dir = stat(output, &st) == 0 && S_ISDIR(st.st_mode);
    /* One file holds everything when there is one crystal, or many frames of an extxyz file. */
    int single_file = !out_is_dir && (ds->n == 1 || (fmt == FMT_EXTXYZ && by_name == FMT_EXTXYZ));
    if (fmt == FMT_NONE) {
        xg_cli_errorf(CMD,
                      "cannot tell the output format from '%s': use a .cif, .vasp or .extxyz "
                      "name, or --format",
                      output);
        xg_dataset_free(ds);
        return XG_EXIT_USAGE;
    }
    wo.fmt = fmt;
    int status = XG_EXIT_OK;
    if (single_file) {
        xg_atomic_file af;
        int rc = xg_atomic_open(&af, output, &err);
        for (int64_t i = 0; rc == XG_OK && i < ds->n; i++) {
            xg_structure *s = xg_dataset_get(ds, i, &err);
            rc = s ? write_one(af.f, s, &wo, &err) : err.code;
            xg_structure_free(s);
        }
        if (rc == XG_OK)
            rc = xg_atomic_commit(&af, &err);
        else
            xg_atomic_abort(&af);
        if (rc) {
            xg_cli_errorf(CMD, "%s", err.msg);
            status = XG_EXIT_FAIL;
        }
    } else {
        if (xg_mkdir_p(output, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            xg_dataset_free(ds);
            return XG_EXIT_FAIL;
        }
        /* File names: two structures with the same id must not overwrite each other, so the
         * second and later get _2, _3, ... (found by sorting the names once). */
        char(*names)[XG_ID_LEN] = malloc((size_t)ds->n * sizeof *names);
        int64_t *order = malloc((size_t)ds->n * sizeof *order);
        int *dup = calloc((size_t)ds->n, sizeof *dup);
        if (!names || !order || !dup) {
            free(names);
            free(order);
            free(dup);
            xg_dataset_free(ds);
            xg_cli_errorf(CMD, "out of memory");
            return XG_EXIT_FAIL;
        }
        for (int64_t i = 0; i < ds->n; i++) {
            safe_name(ds->ids[i], names[i], sizeof names[i]);
            order[i] = i;
        }
        sort_names = names;
        qsort(order, (size_t)ds->n, sizeof *order, cmp_order);
        for (int64_t k = 1; k < ds->n; k++)
            if (!strcmp(names[order[k]], names[order[k - 1]]))
                dup[order[k]] = dup[order[k - 1]] + 1;
        xg_progress bar;
        xg_progress_start(&bar, "convert", (long)ds->n, quiet);
        long failed = 0, done = 0;
        int64_t i;
        /* one file per structure, so structures can be converted in parallel */
#pragma omp parallel for schedule(dynamic, 8)
        for (i = 0; i < ds->n; i++) {
            char path[4096 + XG_ID_LEN + 32];
            if (dup[i])
                snprintf(path, sizeof path, "%s/%s_%d.%s", output, names[i], dup[i] + 1,
                         format_ext[fmt]);
            else
                snprintf(path, sizeof path, "%s/%s.%s", output, names[i], format_ext[fmt]);
            xg_error e = {0};
            xg_atomic_file af;
            xg_structure *s = xg_dataset_get(ds, i, &e);
            int rc = s ? xg_atomic_open(&af, path, &e) : e.code;
            if (rc == XG_OK) {
                rc = write_one(af.f, s, &wo, &e);
                if (rc == XG_OK)
                    rc = xg_atomic_commit(&af, &e);
                else
                    xg_atomic_abort(&af);
            }
            xg_structure_free(s);
#pragma omp critical(convert_report)
            {
                if (rc) {
                    xg_cli_errorf(CMD, "%s: %s", ds->ids[i], e.msg);
                    failed++;
                }
                xg_progress_update(&bar, ++done);
            }
        }
        xg_progress_finish(&bar);
        free(names);
        free(order);
        free(dup);
        if (failed) {
            xg_cli_errorf(CMD, "%ld of %lld structures could not be written", failed,
                          (long long)ds->n);
            status = XG_EXIT_FAIL;
        }
    }
    xg_dataset_free(ds);
    return status;
}

const xg_command xg_command_convert = {"convert", run,
                                       "convert crystals between CIF, POSCAR, extxyz (optionally "
                                       "symmetrized)",
                                       usage};
const xg_command_options xg_options_convert = {OPTS, NULL, NULL};
