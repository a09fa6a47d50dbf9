/* cmd_convert.c: `xtalgen convert`: crystals from any input to CIF, POSCAR or extxyz, optionally
 * symmetrized with spglib, the way they leave for DFT codes and for pymatgen/ASE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crystal/xg_cif.h"
#include "crystal/xg_extxyz.h"
#include "crystal/xg_input.h"
#include "crystal/xg_poscar.h"
#include "crystal/xg_provenance.h"
#include "crystal/xg_symmetry.h"
#include "src/cli.h"
#include "src/commands.h"
#include "src/outdir.h"
#include "src/screen_select.h"

#define CMD "convert"

static const char usage[] =
    "usage: xtalgen convert INPUT -o OUTPUT [--format cif|poscar|extxyz] [--symmetrize]\n"
    "                       [--cell as-is|primitive|conventional] [--symprec S]\n"
    "                       [--only FLAGS [--screen SCREEN.csv]] [--overwrite] [--quiet]\n"
    "\n"
    "Writes the crystals of INPUT (CIF, POSCAR, extxyz, an xtalgen .h5 dataset, a CDVAE .csv or\n"
    "a folder) as CIF, POSCAR (VASP 5) or extended XYZ. The format comes from --format, else from\n"
    "OUTPUT: .cif, .vasp/.poscar or a file named POSCAR*/CONTCAR*, .extxyz/.xyz.\n"
    "One crystal: OUTPUT is a file. Several: OUTPUT is a folder with one file per crystal named\n"
    "by its id (<id>.cif, <id>.vasp, <id>.extxyz), or, for extxyz, a single .extxyz/.xyz file\n"
    "holding every frame. Files are written atomically (temp file, then rename). A folder is\n"
    "this command's alone while it writes; one holding an earlier run's files is refused unless\n"
    "--overwrite, and names are collision-free: an id taken already (twice the same id, unsafe\n"
    "characters) gets _2, _3, ..., reported; if any file cannot be written, none is kept.\n"
    "Every cell is written right-handed with a along x and b in the xy plane, POSCAR species\n"
    "grouped in the formula's order; a generate run's provenance (model, hash, seed, steps,\n"
    "index) goes into CIF comments and POSCAR titles.\n"
    "\n"
    "";

typedef struct {
    const char *output, *only, *screen;
    int format, cell, symmetrize, quiet, overwrite;
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
    XG_OPT_SELECT(convert_args, only, screen),
    XG_OPT_F("--overwrite", NULL, convert_args, overwrite,
             "replace what an earlier xtalgen run wrote in the OUTPUT folder (files it\n"
             "did not write make it refuse)"),
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

/* Several crystals into the folder `output`, one file each (issue 19): the folder is locked
 * and refused when it holds an earlier run's files (unless overwrite) or is the input; names
 * are collision-free; if any file fails, every file this call wrote is removed again. */
static int write_folder(const xg_dataset *ds, const char *input, const char *output,
                        out_format fmt, const write_opts *wo, int overwrite, int quiet)
{
    xg_error err = {0};
    const char *inputs[1] = {input};
    if (xg_cli_check_output(CMD, "-o", output, inputs, 1))
        return XG_EXIT_USAGE;
    xg_outdir od = {.lock_fd = -1, .manifest_fd = -1};
    char **names = NULL;
    unsigned char *written = calloc((size_t)(ds->n ? ds->n : 1), 1);
    int status = XG_EXIT_FAIL;
    if (!written) {
        xg_cli_errorf(CMD, "out of memory");
        return XG_EXIT_FAIL;
    }
    if (xg_outdir_open(&od, output, "convert", overwrite ? XG_OUTDIR_OVERWRITE : XG_OUTDIR_NEW,
                       &err) ||
        xg_outdir_unique_names(ds, NULL, format_ext[fmt], "convert", quiet, &names, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    /* Recorded before anything is written, so a killed run's files are known as ours. */
    for (int64_t i = 0; i < ds->n; i++) {
        char fname[XG_ID_LEN + 64];
        snprintf(fname, sizeof fname, "%s.%s", names[i], format_ext[fmt]);
        if (xg_outdir_record(&od, fname, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            goto done;
        }
    }
    xg_progress bar;
    xg_progress_start(&bar, "convert", (long)ds->n, quiet);
    long failed = 0, done = 0;
    int64_t i;
    /* one file per structure, so structures can be converted in parallel */
#pragma omp parallel for schedule(dynamic, 8)
    for (i = 0; i < ds->n; i++) {
        char fname[XG_ID_LEN + 64], path[4096 + XG_ID_LEN + 96];
        snprintf(fname, sizeof fname, "%s.%s", names[i], format_ext[fmt]);
        xg_error e = {0};
        xg_atomic_file af;
        xg_structure *s = xg_dataset_get(ds, i, &e);
        int rc = s ? xg_outdir_path(&od, fname, path, sizeof path, &e) : e.code;
        if (rc == XG_OK)
            rc = xg_atomic_open(&af, path, &e);
        if (rc == XG_OK) {
            rc = write_one(af.f, s, wo, &e);
            if (rc == XG_OK)
                rc = xg_atomic_commit(&af, &e);
            else
                xg_atomic_abort(&af);
            written[i] = rc == XG_OK;
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
    if (failed) {
        /* all or nothing: a half-converted folder would pass for a complete one */
        for (int64_t k = 0; k < ds->n; k++) {
            char fname[XG_ID_LEN + 64], path[4096 + XG_ID_LEN + 96];
            snprintf(fname, sizeof fname, "%s.%s", names[k], format_ext[fmt]);
            if (written[k] && xg_outdir_path(&od, fname, path, sizeof path, &err) == XG_OK)
                unlink(path);
        }
        xg_cli_errorf(CMD, "%ld of %lld structures could not be written; none was kept", failed,
                      (long long)ds->n);
        goto done;
    }
    status = XG_EXIT_OK;
done:
    xg_outdir_close(&od);
    xg_outdir_names_free(names, ds->n);
    free(written);
    return status;
}

static int run(int argc, char **argv)
{
    convert_args A;
    xg_opts_args args;
    if (xg_opts_parse(CMD, OPTS, argc, argv, &A, sizeof A, &args, 1))
        return XG_EXIT_USAGE;
    if (!xg_opts_given(OPTS, &args, "--format"))
        A.format = CH_NONE; /* from OUTPUT's name */
    const char *input = args.npos ? args.pos[0] : NULL, *output = A.output;
    const char *only = A.only, *screen = A.screen;
    int symmetrize = A.symmetrize, quiet = A.quiet, cell = A.cell, overwrite = A.overwrite;
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
        status = write_folder(ds, input, output, fmt, &wo, overwrite, quiet);
    }
    xg_dataset_free(ds);
    return status;
}

const xg_command xg_command_convert = {"convert", run,
                                       "convert crystals between CIF, POSCAR, extxyz (optionally "
                                       "symmetrized)",
                                       usage};
const xg_command_options xg_options_convert = {OPTS, NULL, NULL};
